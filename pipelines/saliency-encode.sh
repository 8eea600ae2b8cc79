#!/usr/bin/env bash
# Saliency-aware H.264 encoding: the saliency map of every frame lowers the QP of the
# macroblocks people look at and raises it elsewhere, at the same bitrate.
#
#   pipelines/saliency-encode.sh [INPUT] [OUTPUT]
#
# INPUT defaults to the project's generated demo clip; OUTPUT to
# out/<input name>-saliency-x264.mp4. Settings (environment): STRENGTH=1 (0 = plain x264),
# MAX_QP_OFFSET=8, MAPPING=log-ratio (or linear), BITRATE=1000 (kbit/s), SPEED_PRESET=medium,
# X264_OPTIONS (the element's option-string: further libx264 settings, e.g. aq-mode=3), plus MODEL, WEIGHTS, DEVICE and FLOW (see _common.sh). Needs the GPL plugin "saliencyx264"
# (built when libx264-dev is installed) in <build>/gst/x264.
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

[ -f "$BUILD_DIR/gst/x264/libgstsaliencyx264.so" ] ||
  die "plugin not built: $BUILD_DIR/gst/x264/libgstsaliencyx264.so is missing (install libx264-dev, then meson setup --reconfigure $BUILD_DIR && ninja -C $BUILD_DIR)"
export GST_PLUGIN_PATH="$BUILD_DIR/gst/x264:$GST_PLUGIN_PATH"
have_element saliencyx264enc ||
  die "GStreamer cannot load $BUILD_DIR/gst/x264/libgstsaliencyx264.so (run: GST_PLUGIN_PATH=$BUILD_DIR/gst/x264 gst-inspect-1.0 saliencyx264enc)"
have_element mp4mux || die "mp4mux not found (install gstreamer1.0-plugins-good)"

INPUT="$(input_or_demo_clip "${1:-}")"
name="$(basename "${INPUT%.*}")"
OUTPUT="${2:-$OUT_DIR/$name-saliency-x264.mp4}"
mkdir -p "$(dirname "$OUTPUT")"
PART="$OUTPUT.part"
trap 'rm -f "$PART"' EXIT

STRENGTH="${STRENGTH:-1}"
MAX_QP_OFFSET="${MAX_QP_OFFSET:-8}"
MAPPING="${MAPPING:-log-ratio}"
BITRATE="${BITRATE:-1000}"
SPEED_PRESET="${SPEED_PRESET:-medium}"
X264_OPTIONS="${X264_OPTIONS:-}"
options=""
[ -n "$X264_OPTIONS" ] && options=" option-string=\"$X264_OPTIONS\""

# videoconvert before the encoder keeps the saliency meta (it copies metas that carry only
# the video tag set) and gives I420; the queues give decoding, inference and encoding their
# own threads.
run_pipeline "$(decode_chain "$INPUT") ! queue ! $(flow_elements)$(saliency_element) ! queue ! \
  videoconvert ! video/x-raw,format=I420 ! \
  saliencyx264enc strength=$STRENGTH max-qp-offset=$MAX_QP_OFFSET mapping=$MAPPING \
  bitrate=$BITRATE$options \
  speed-preset=$SPEED_PRESET ! $(optional_parser h264parse)mp4mux ! filesink location=\"$PART\""
mv "$PART" "$OUTPUT"
echo "$SCRIPT_NAME: wrote $OUTPUT"
