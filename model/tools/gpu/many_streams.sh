#!/usr/bin/env bash
# The many-streams GPU run of issue 17, as one script for a lent GPU machine
# (PyTorch 2.x with CUDA, CMake and ninja; no GStreamer, no OpenCV, nothing to
# fetch): builds stsanet-net-bench (build.sh) and times STSANet at 1, 4 and 8
# streams, fp16 weights, CUDA graphs.
#
# N streams sharing one model instance with batch N hand the instance one
# window each per frame; the instance runs them as one forward pass of N
# windows (ModelInstance::predict), and a batch recomputes the stem on every
# window (no per-stream stem cache). That forward pass is what --batch N times
# here, with the maps copied back to the host, so ms per frame per stream is
# the bench's seconds_per_frame (per window). The host side of the instance
# (threads meeting at a condition variable) is not in this build: it needs
# the Predictor, which needs OpenCV.
#
#   model/tools/gpu/many_streams.sh [OUTDIR]       # default $OUT, else build-net-bench
#   BENCH=build/model/tools/stsanet-net-bench DEVICE=cpu FRAMES=1 WARMUP=0 STREAMS="1 2" \
#     model/tools/gpu/many_streams.sh /tmp/dry   # dry run of the runs on the CPU
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
OUTDIR=${1:-${OUT:-$ROOT/build-net-bench}}
DEVICE=${DEVICE:-cuda}
FRAMES=${FRAMES:-40}
WARMUP=${WARMUP:-5}
STREAMS=${STREAMS:-"1 4 8"}
mkdir -p "$OUTDIR"
report=$OUTDIR/many-streams.txt
: >"$report"

if [[ -z "${BENCH:-}" ]]; then
  echo "== build" | tee -a "$report"
  BENCH=$("$ROOT/model/tools/gpu/build.sh" "$OUTDIR/build" 2>>"$report" | tail -1) ||
    { echo "many_streams.sh: build failed (see $report)" >&2; exit 1; }
fi
[[ -x "$BENCH" ]] || { echo "many_streams.sh: $BENCH: no such program" >&2; exit 1; }
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader >>"$report"

extra=()
[[ "$DEVICE" == cuda* ]] && extra=(--precision half --cuda-graphs)
status=0
for n in $STREAMS; do
  echo "== $n stream(s): $BENCH --device $DEVICE ${extra[*]} --batch $n --frames $FRAMES --warmup $WARMUP" |
    tee -a "$report" >&2
  # Each configuration bounded, so that one hang leaves time for the others.
  timeout 240 "$BENCH" --device "$DEVICE" "${extra[@]}" --batch "$n" --frames "$FRAMES" --warmup "$WARMUP" \
    >>"$report" 2>&1 || { echo "(exit $?)" >>"$report"; status=1; }
done
grep -E "^(==|seconds_per_frame|median_ms|frames_per_second|gpu_peak)" "$report"
exit $status
