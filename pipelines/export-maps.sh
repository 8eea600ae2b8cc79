#!/usr/bin/env bash
# Export the saliency map of every frame as an 8-bit PNG (min-max normalised,
# at the frame size), named 0001.png, 0002.png, ... like saliency-predict does.
#
#   pipelines/export-maps.sh [INPUT] [OUTPUT_DIR]
#
# INPUT defaults to the project's generated demo clip; OUTPUT_DIR to
# out/<input name>-maps. The directory appears only when every frame is written
# and then holds exactly this run's maps: an earlier export there is replaced
# as a whole (a folder holding anything else than NNNN.png maps is refused, as
# this script did not write it). Settings (environment): MODEL, WEIGHTS, DEVICE
# as for overlay.sh.
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

INPUT="$(input_or_demo_clip "${1:-}")"
name="$(basename "${INPUT%.*}")"
OUTPUT="${2:-$OUT_DIR/$name-maps}"
OUTPUT="${OUTPUT%/}"
if [ -e "$OUTPUT" ] || [ -L "$OUTPUT" ]; then
  if [ ! -d "$OUTPUT" ] || [ -L "$OUTPUT" ]; then die "$OUTPUT: exists and is not a directory"; fi
  other=$(find "$OUTPUT" -mindepth 1 -maxdepth 1 \
    ! \( -type f -regextype posix-extended -regex '.*/[0-9]+\.png' \) -printf '%f\n' | head -1)
  [ -z "$other" ] ||
    die "$OUTPUT: holds $other, not only NNNN.png maps: not replacing it (remove it or choose another folder)"
fi
mkdir -p "$(dirname "$OUTPUT")"
# multifilesink writes into a fresh hidden folder beside OUTPUT (emptied first:
# a killed run with the same process id may have left one).
PART="$(dirname "$OUTPUT")/.$(basename "$OUTPUT").partial-$$"
rm -rf "$PART"
mkdir "$PART"
trap 'rm -rf "$PART"' EXIT

# saliencyoverlay mode=map colormap=gray replaces each RGB frame by its map;
# GRAY8 keeps one channel.
run_pipeline "$(decode_chain "$INPUT") ! video/x-raw,format=RGB ! $(saliency_element) ! \
  saliencyoverlay mode=map colormap=gray ! videoconvert ! video/x-raw,format=GRAY8 ! \
  pngenc ! multifilesink index=1 location=\"$PART/%04d.png\""
replace_dir "$PART" "$OUTPUT"
trap - EXIT
echo "$SCRIPT_NAME: wrote $(find "$OUTPUT" -name '*.png' | wc -l) maps to $OUTPUT"
