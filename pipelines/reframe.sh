#!/usr/bin/env bash
# Reframe a video to another aspect ratio (portrait 9:16 by default) along a
# smooth camera path that follows where people look, and encode it.
#
#   pipelines/reframe.sh [INPUT] [OUTPUT]
#
# Runs  decode ! [opticalflow !] saliency ! saliencycrop ! encode  on INPUT
# (default: the project's generated demo clip) and writes OUTPUT (default:
# out/<input name>-reframed.<mp4|webm|avi>; the container follows the encoder
# found, x264enc + mp4mux where installed). Every frame of the output is the
# window of the input frame that saliencycrop chose; its size is the largest
# of the aspect that fits in the input (a 640x360 input gives 202x360).
#
# Settings (environment):
#   ASPECT=9/16            output aspect ratio, W/H or W:H
#   CROP_MODE=auto         camera: auto, stationary (one window per shot), track
#   MAX_SPEED=0.015        top speed, fraction of the frame per frame
#   LOOK_AHEAD=15          frames seen before a frame's window is decided
#   ZOOM=1                 smallest window as a fraction of the fitted one (1 = no zoom)
#   MODEL, WEIGHTS, DEVICE as for demo.sh: the weight-free baseline by default;
#   MODEL=tinyhd WEIGHTS=d123s_rc4_rc1T.pth runs TinyHD (without opticalflow,
#   which it does not use).
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

ASPECT="${ASPECT:-9/16}"
ASPECT="${ASPECT/:/\/}"
[[ "$ASPECT" =~ ^[1-9][0-9]*/[1-9][0-9]*$ ]] || die "ASPECT must be W/H or W:H (e.g. 9/16), not: $ASPECT"
CROP_MODE="${CROP_MODE:-auto}"
MAX_SPEED="${MAX_SPEED:-0.015}"
LOOK_AHEAD="${LOOK_AHEAD:-15}"
ZOOM="${ZOOM:-1}"

INPUT="$(input_or_demo_clip "${1:-}")"
IFS='|' read -r ENCODER EXT <<<"$(encoder_chain)"
name="$(basename "${INPUT%.*}")"
OUTPUT="${2:-$OUT_DIR/$name-reframed.$EXT}"
mkdir -p "$(dirname "$OUTPUT")"
PART="$OUTPUT.part"
trap 'rm -f "$PART"' EXIT

# Optical flow for the models that use motion (the baseline, STRA-Net); TinyHD
# needs none (as in demo.sh). FLOW=dis|farneback|tvl1 picks the algorithm.
FLOW_CHAIN="opticalflow algorithm=${FLOW:-dis} downscale=${FLOW_DOWNSCALE:-2} ! queue ! "
[[ "$MODEL" == tinyhd ]] && FLOW_CHAIN=""

# saliency runs its model in a thread of its own; the queues give decoding and
# encoding theirs. saliencycrop holds LOOK_AHEAD frames (it asks upstream for them).
run_pipeline "$(decode_chain "$INPUT") ! queue ! $FLOW_CHAIN$(saliency_element) ! \
  saliencycrop aspect-ratio=$ASPECT mode=$CROP_MODE max-speed=$MAX_SPEED look-ahead=$LOOK_AHEAD zoom=$ZOOM ! \
  queue ! videoconvert ! $ENCODER ! filesink location=\"$PART\""
mv "$PART" "$OUTPUT"
echo "$SCRIPT_NAME: wrote $OUTPUT (aspect $ASPECT, model $MODEL)"
