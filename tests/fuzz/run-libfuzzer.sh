#!/usr/bin/env bash
# Runs the libFuzzer targets of build-fuzz (tests/fuzz/README.md) for SECONDS
# each, from the generated seeds plus the corpus kept from earlier runs.
#   tests/fuzz/run-libfuzzer.sh 20              # all targets, 20 s each
#   tests/fuzz/run-libfuzzer.sh 3600 pickle h5  # the long run of some
#   tests/fuzz/run-libfuzzer.sh 600 h5-inprocess   # libhdf5 in process (not in the default list)
# Builds what is missing first (needs build-fuzz configured with
# -Dfuzzing=enabled; see the README). Exits non-zero when a target found a crash.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD_DIR=${GST_SALIENCY_FUZZ_BUILD_DIR:-"$ROOT/build-fuzz"}
SECONDS_EACH=${1:?usage: run-libfuzzer.sh SECONDS [TARGET...]}
shift
TARGETS=("$@")
((${#TARGETS[@]})) || TARGETS=(pickle checkpoint flo mat h5 dataset)

ninja_targets=()
for t in "${TARGETS[@]}"; do ninja_targets+=("tests/fuzz/fuzz-$t" "tests/fuzz/fuzz-replay-$t"); done
ninja -C "$BUILD_DIR" -j"${GST_SALIENCY_JOBS:-2}" "${ninja_targets[@]}" >&2 || { echo "fuzz: build failed"; exit 1; }

export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
# Third-party leaks only (each explained in the file).
export LSAN_OPTIONS="suppressions=$ROOT/tests/sanitizers/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
status=0
for t in "${TARGETS[@]}"; do
  corpus="$BUILD_DIR/fuzz-corpus/$t" seeds="$BUILD_DIR/fuzz-seeds/$t" artifacts="$BUILD_DIR/fuzz-artifacts/$t"
  mkdir -p "$corpus" "$artifacts"
  rm -rf "$seeds"
  "$BUILD_DIR/tests/fuzz/fuzz-replay-$t" --write-seeds "$seeds" >/dev/null || { echo "fuzz $t: seed generation failed"; status=1; continue; }
  log="$artifacts/last-run.log"
  extra=()
  # Most damaged archives make LibTorch's zip reader and libhdf5 leak (suppressed, see
  # tests/sanitizers/lsan.supp), and each leak makes libFuzzer scan the whole
  # heap: 20 inputs/s instead of thousands. Our leaks are checked elsewhere.
  [[ $t == checkpoint || $t == h5* ]] && extra+=(-detect_leaks=0)
  # libhdf5 sizes its metadata cache from the file and checks malloc's result;
  # let a huge request fail as it would without ASan instead of aborting (and,
  # below libFuzzer's malloc limit, without it calling that an out-of-memory).
  opts=$ASAN_OPTIONS
  [[ $t == h5* ]] && opts="$ASAN_OPTIONS:allocator_may_return_null=1:max_allocation_size_mb=2000"
  ASAN_OPTIONS=$opts "$BUILD_DIR/tests/fuzz/fuzz-$t" "$corpus" "$seeds" -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 \
    -timeout=10 -print_final_stats=1 -artifact_prefix="$artifacts/" "${extra[@]}" >"$log" 2>&1
  rc=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
  if ((rc == 0)); then
    echo "fuzz $t: ${SECONDS_EACH}s, ${runs:-?} inputs, ${cov:-cov: ?}, no crash"
  else
    status=1
    echo "fuzz $t: FOUND A PROBLEM (exit $rc); log: $log"
    grep -E 'ERROR|SUMMARY|runtime error|==[0-9]+==' "$log" | head -5
    ls "$artifacts" | grep -v last-run.log | head -3
  fi
done
exit $status
