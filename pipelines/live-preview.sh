#!/usr/bin/env bash
# Live preview: the heat map over the video, on screen.
#
#   pipelines/live-preview.sh [INPUT | /dev/videoN]
#
# INPUT defaults to the project's generated demo clip (played at its own
# speed); a /dev/video* device opens a camera. Settings (environment): MODEL,
# WEIGHTS, DEVICE, COLORMAP, ALPHA as for overlay.sh; SINK (default
# autovideosink; fakesink for a headless check); NUM_BUFFERS to stop early.
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

SINK="${SINK:-autovideosink}"
COLORMAP="${COLORMAP:-turbo}"
ALPHA="${ALPHA:-0.5}"
if [[ "${1:-}" == /dev/video* ]]; then
  have_element v4l2src || die "v4l2src not found (install gstreamer1.0-plugins-good)"
  SOURCE="v4l2src device=$1 ${NUM_BUFFERS:+num-buffers=$NUM_BUFFERS} ! videoconvert"
else
  INPUT="$(input_or_demo_clip "${1:-}")"
  SOURCE="$(decode_chain "$INPUT")"
  [ -n "${NUM_BUFFERS:-}" ] && SOURCE="$SOURCE ! identity eos-after=$NUM_BUFFERS"
fi

# Short queues decouple capture, inference and display threads; the
# sink synchronises on the clock so a file plays at its own speed.
run_pipeline "$SOURCE ! queue max-size-buffers=4 ! $(flow_elements)$(saliency_element) ! \
  queue max-size-buffers=4 ! \
  saliencyoverlay colormap=$COLORMAP alpha=$ALPHA show-peak=true ! videoconvert ! \
  $SINK"
