#!/usr/bin/env bash
# Saliency-guided H.264: spend more bits where people look. saliencyroi turns
# each map into GstVideoRegionOfInterestMeta with a delta-qp that vaapih264enc
# and msdkh264enc apply inside the regions.
#
#   pipelines/roi-encode.sh [INPUT] [OUTPUT]
#
# INPUT defaults to the project's generated demo clip; OUTPUT to
# out/<input name>-roi.mp4. Settings (environment): MODEL, WEIGHTS, DEVICE as
# for overlay.sh; MAX_REGIONS=4, DELTA_QP=-10, BITRATE=2000 (kbit/s);
# ENCODER=vaapih264enc|msdkh264enc to choose. Without an ROI-aware encoder
# the script stops (ALLOW_PLAIN=1 encodes anyway, with the regions ignored).
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

INPUT="$(input_or_demo_clip "${1:-}")"
name="$(basename "${INPUT%.*}")"
OUTPUT="${2:-$OUT_DIR/$name-roi.mp4}"
mkdir -p "$(dirname "$OUTPUT")"
PART="$OUTPUT.part"
trap 'rm -f "$PART"' EXIT
MAX_REGIONS="${MAX_REGIONS:-4}"
DELTA_QP="${DELTA_QP:--10}"
BITRATE="${BITRATE:-2000}"

# ROI needs a bitrate-controlled mode: both encoders ignore it under CQP
# (intel/vaapi-fits#430; ecosystem.md 4.2).
pick_encoder() {
  local want="${ENCODER:-}"
  if [ -z "$want" ] || [ "$want" = vaapih264enc ]; then
    if have_element vaapih264enc; then
      echo "vaapih264enc rate-control=vbr bitrate=$BITRATE"
      return
    fi
  fi
  if [ -z "$want" ] || [ "$want" = msdkh264enc ]; then
    if have_element msdkh264enc; then
      echo "msdkh264enc rate-control=vbr bitrate=$BITRATE"
      return
    fi
  fi
  [ -n "$want" ] && die "$want is not available on this machine"
  [ "${ALLOW_PLAIN:-0}" = 1 ] ||
    die "no ROI-aware encoder (vaapih264enc or msdkh264enc; gstreamer1.0-vaapi or the msdk plugin with an Intel GPU). ALLOW_PLAIN=1 encodes without ROIs."
  have_element x264enc || die "ALLOW_PLAIN=1 needs x264enc (gstreamer1.0-plugins-ugly)"
  echo "$SCRIPT_NAME: warning: no ROI-aware encoder; x264enc ignores the regions" >&2
  echo "x264enc bitrate=$BITRATE speed-preset=veryfast"
}
ENC="$(pick_encoder)"

# saliencyroi goes last before the encoder: a scaler would drop the ROI parameters.
run_pipeline "$(decode_chain "$INPUT") ! video/x-raw,format=RGB ! $(saliency_element) ! \
  saliencyroi max-regions=$MAX_REGIONS delta-qp=$DELTA_QP ! videoconvert ! video/x-raw,format=NV12 ! \
  $ENC ! $(optional_parser h264parse)mp4mux ! filesink location=\"$PART\""
mv "$PART" "$OUTPUT"
echo "$SCRIPT_NAME: wrote $OUTPUT (up to $MAX_REGIONS regions per frame at delta-qp $DELTA_QP)"
