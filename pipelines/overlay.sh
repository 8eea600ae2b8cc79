#!/usr/bin/env bash
# Overlay the saliency heat map on a video file and write a new video.
#
#   pipelines/overlay.sh [INPUT] [OUTPUT]
#
# INPUT defaults to the project's generated demo clip; OUTPUT to
# out/<input name>-saliency.<mp4|webm|avi> (the container follows the encoder
# found). Settings (environment): MODEL=baseline|stsanet|stranet|tinyhd, WEIGHTS=FILE,
# DEVICE=cpu|cuda|auto, COLORMAP=jet|turbo|inferno|magma|viridis|hot|gray,
# ALPHA=0.5, SHOW_PEAK=true|false, FLOW=dis|farneback|tvl1 (see _common.sh).
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

INPUT="$(input_or_demo_clip "${1:-}")"
IFS='|' read -r ENCODER EXT <<<"$(encoder_chain)"
name="$(basename "${INPUT%.*}")"
OUTPUT="${2:-$OUT_DIR/$name-saliency.$EXT}"
mkdir -p "$(dirname "$OUTPUT")"
PART="$OUTPUT.part"
trap 'rm -f "$PART"' EXIT

COLORMAP="${COLORMAP:-jet}"
ALPHA="${ALPHA:-0.5}"
SHOW_PEAK="${SHOW_PEAK:-true}"

# The queues give decoding, inference and encoding their own threads.
run_pipeline "$(decode_chain "$INPUT") ! queue ! $(flow_elements)$(saliency_element) ! queue ! \
  saliencyoverlay colormap=$COLORMAP alpha=$ALPHA show-peak=$SHOW_PEAK ! videoconvert ! \
  $ENCODER ! filesink location=\"$PART\""
mv "$PART" "$OUTPUT"
echo "$SCRIPT_NAME: wrote $OUTPUT"
