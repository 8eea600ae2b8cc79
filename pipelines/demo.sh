#!/usr/bin/env bash
# The main job: where do people look in this video?
#
#   pipelines/demo.sh [VIDEO]
#
# Installs what is missing and builds (first run only), then runs a real
# GStreamer pipeline  decode ! opticalflow ! saliency ! saliencyoverlay ! encode
# on VIDEO (default: a clip the project generates, moving objects on a textured
# background) and writes, under out/demo/:
#   <name>-saliency.mp4   the video with the saliency heat map over it
#   maps/NNNN.png         one saliency map per frame (8-bit, frame resolution);
#                         replaced as a whole on every run
#
# The model is STSANet when weights are given (WEIGHTS=STSANet_DHF1K.pth), the
# weight-free baseline otherwise; MODEL=tinyhd WEIGHTS=d123s_rc4_rc1T.pth runs
# TinyHD, the trained model that keeps up with live video on a CPU (it needs
# no optical flow, so the pipeline has no opticalflow element then).
# Environment: MODEL, WEIGHTS, DEVICE (cpu, cuda, auto), OUT_DIR, COLORMAP, ALPHA.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$ROOT/pipelines/setup.sh"

export OUT_DIR="${OUT_DIR:-$ROOT/out/demo}"
if [[ -n "${WEIGHTS:-}" ]]; then export MODEL="${MODEL:-stsanet}"; else export MODEL="${MODEL:-baseline}"; fi
source "$ROOT/pipelines/_common.sh"
SCRIPT_NAME=demo.sh

if [[ "$MODEL" == baseline ]]; then
  echo "demo.sh: model: the weight-free baseline (spectral residual + motion + centre prior)." >&2
  echo "demo.sh: for a trained model, run: MODEL=tinyhd WEIGHTS=/path/to/d123s_rc4_rc1T.pth pipelines/demo.sh [VIDEO]" >&2
  echo "demo.sh: (TinyHD's weights: github.com/feiyanhu/tinyHD, folder weights/; STSANet: WEIGHTS=STSANet_DHF1K.pth)" >&2
else
  echo "demo.sh: model: $MODEL${WEIGHTS:+ with weights $WEIGHTS} on $DEVICE" >&2
fi

INPUT="$(input_or_demo_clip "${1:-}")"
name="$(basename "${INPUT%.*}")"
IFS='|' read -r ENCODER EXT <<<"$(encoder_chain)"
VIDEO_OUT="$OUT_DIR/$name-saliency.$EXT"
PART="$VIDEO_OUT.part"
trap 'rm -f "$PART"' EXIT
mkdir -p "$OUT_DIR"

# Optical flow for the models that use motion (the baseline, STSANet ignores it, STRA-Net).
FLOW_CHAIN="opticalflow downscale=2 ! queue ! "
[[ "$MODEL" == tinyhd ]] && FLOW_CHAIN=""
run_pipeline "$(decode_chain "$INPUT") ! $FLOW_CHAIN$(saliency_element) ! queue ! \
  saliencyoverlay colormap=${COLORMAP:-jet} alpha=${ALPHA:-0.5} show-peak=true ! videoconvert ! \
  $ENCODER ! filesink location=\"$PART\""
mv "$PART" "$VIDEO_OUT"

# The same maps as files, from the CLI that drives the same Predictor as the element.
# The script owns maps/: --overwrite replaces an earlier run's maps as a whole, so
# the folder holds exactly this video's maps.
predict_args=(--model "$MODEL" --device "$DEVICE" --input "$INPUT" --output "$OUT_DIR/maps" --overwrite)
[[ -n "$WEIGHTS" ]] && predict_args+=(--weights "$WEIGHTS")
"$BUILD_DIR/model/tools/saliency-predict" "${predict_args[@]}"

echo
echo "Results ($MODEL):"
echo "  overlay video: $VIDEO_OUT"
echo "  saliency maps: $OUT_DIR/maps/ ($(find "$OUT_DIR/maps" -maxdepth 1 -name '*.png' | wc -l) PNG files)"
