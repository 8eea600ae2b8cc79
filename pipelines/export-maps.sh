#!/usr/bin/env bash
# Export the saliency map of every frame as an 8-bit PNG (min-max normalised,
# at the frame size), named 0001.png, 0002.png, ... like saliency-predict does.
#
#   pipelines/export-maps.sh [INPUT] [OUTPUT_DIR]
#
# INPUT defaults to the project's generated demo clip; OUTPUT_DIR to
# out/<input name>-maps. The directory appears only when every frame is written.
# Settings (environment): MODEL, WEIGHTS, DEVICE as for overlay.sh.
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

INPUT="$(input_or_demo_clip "${1:-}")"
name="$(basename "${INPUT%.*}")"
OUTPUT="${2:-$OUT_DIR/$name-maps}"
[ -e "$OUTPUT" ] && die "output exists, not overwriting: $OUTPUT"
PART="$OUTPUT.part"
rm -rf "$PART"
mkdir -p "$PART"
trap 'rm -rf "$PART"' EXIT

# saliencyoverlay mode=map colormap=gray replaces each RGB frame by its map;
# GRAY8 keeps one channel.
run_pipeline "$(decode_chain "$INPUT") ! video/x-raw,format=RGB ! $(saliency_element) ! \
  saliencyoverlay mode=map colormap=gray ! videoconvert ! video/x-raw,format=GRAY8 ! \
  pngenc ! multifilesink index=1 location=\"$PART/%04d.png\""
mv "$PART" "$OUTPUT"
trap - EXIT
echo "$SCRIPT_NAME: wrote $(find "$OUTPUT" -name '*.png' | wc -l) maps to $OUTPUT"
