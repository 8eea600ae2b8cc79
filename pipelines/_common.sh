# shellcheck shell=bash
# Shared by the pipeline scripts (sourced, not run). Finds the build tree, points
# GStreamer at the plugin built there, makes the project's demo clip when no
# input is given, and picks encoders that this machine has.
#
# Environment:
#   GST_SALIENCY_BUILD_DIR  build tree (default: <repo>/build)
#   OUT_DIR                 where results go (default: <repo>/out)
#   MODEL, WEIGHTS, DEVICE  saliency element settings (default: baseline, none, cpu)
#   FLOW                    dis|farneback|tvl1: compute the flow the models use with an
#                           `opticalflow` element (downscale FLOW_DOWNSCALE, default 2)
#                           instead of inside `saliency` (default: inside, on the model's grid)

set -euo pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${GST_SALIENCY_BUILD_DIR:-$REPO_DIR/build}"
OUT_DIR="${OUT_DIR:-$REPO_DIR/out}"
MODEL="${MODEL:-baseline}"
WEIGHTS="${WEIGHTS:-}"
DEVICE="${DEVICE:-cpu}"
SCRIPT_NAME="$(basename "$0")"

die() {
  echo "$SCRIPT_NAME: $*" >&2
  exit 1
}

# Checked here, not only where the element string is made: a die inside $(...)
# would end the subshell, not the script.
[ -z "$WEIGHTS" ] || [ -f "$WEIGHTS" ] || die "weights file not found: $WEIGHTS"

# The plugin and the meta library from the build tree.
export GST_PLUGIN_PATH="$BUILD_DIR/gst/elements${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
export LD_LIBRARY_PATH="$BUILD_DIR/gst/meta${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

command -v gst-launch-1.0 >/dev/null || die "gst-launch-1.0 not found (install gstreamer1.0-tools)"
[ -f "$BUILD_DIR/gst/elements/libgstsaliency.so" ] ||
  die "plugin not built: $BUILD_DIR/gst/elements/libgstsaliency.so is missing (meson setup build && ninja -C build), or set GST_SALIENCY_BUILD_DIR"
gst-inspect-1.0 saliency >/dev/null 2>&1 ||
  die "GStreamer cannot load $BUILD_DIR/gst/elements/libgstsaliency.so (run: GST_PLUGIN_PATH=$BUILD_DIR/gst/elements gst-inspect-1.0 saliency)"

have_element() { gst-inspect-1.0 "$1" >/dev/null 2>&1; }

# The saliency element with the MODEL/WEIGHTS/DEVICE settings.
saliency_element() {
  local e="saliency model=$MODEL device=$DEVICE"
  if [ -n "$WEIGHTS" ]; then
    [ -f "$WEIGHTS" ] || die "weights file not found: $WEIGHTS"
    e="$e weights=\"$WEIGHTS\""
  fi
  echo "$e"
}

# "opticalflow ... ! queue ! " when FLOW is set, else nothing.
flow_elements() {
  if [ -n "${FLOW:-}" ]; then
    echo "opticalflow algorithm=$FLOW downscale=${FLOW_DOWNSCALE:-2} ! queue ! "
  fi
}

# input_or_demo_clip [FILE]: prints FILE, or the project's generated clip (made once).
input_or_demo_clip() {
  if [ $# -ge 1 ] && [ -n "$1" ]; then
    [ -f "$1" ] || die "input file not found: $1"
    echo "$1"
    return
  fi
  local clip="$OUT_DIR/demo-clip.avi"
  if [ ! -f "$clip" ]; then
    local maker="$BUILD_DIR/flow/tools/saliency-make-clip"
    [ -x "$maker" ] || die "no input given and $maker is not built (ninja -C $BUILD_DIR)"
    mkdir -p "$OUT_DIR"
    "$maker" --output "$clip.part.avi" >&2 || die "could not generate the demo clip"
    mv "$clip.part.avi" "$clip"
  fi
  echo "$clip"
}

# A decodebin front end that yields raw video in system memory.
decode_chain() { echo "filesrc location=\"$1\" ! decodebin ! videoconvert"; }

# "PARSER ! " when this machine has PARSER (gst-plugins-bad), else nothing:
# encoders negotiate directly with the muxers below without one.
optional_parser() { if have_element "$1"; then echo "$1 ! "; fi; }

# Picks a video encoder + muxer this machine has. Prints "ENCODER CHAIN|EXTENSION".
encoder_chain() {
  if have_element x264enc && have_element mp4mux; then
    echo "x264enc speed-preset=veryfast ! $(optional_parser h264parse)mp4mux|mp4"
  elif have_element openh264enc && have_element mp4mux; then
    echo "openh264enc ! $(optional_parser h264parse)mp4mux|mp4"
  elif have_element avenc_mpeg4 && have_element mp4mux; then
    echo "avenc_mpeg4 bitrate=4000000 ! $(optional_parser mpeg4videoparse)mp4mux|mp4"
  elif have_element vp8enc && have_element webmmux; then
    echo "vp8enc deadline=1 ! webmmux|webm"
  elif have_element jpegenc && have_element avimux; then
    echo "jpegenc ! avimux|avi"
  else
    die "no video encoder found (install gstreamer1.0-plugins-ugly for x264enc, or gstreamer1.0-libav)"
  fi
}

# run_pipeline DESCRIPTION: gst-launch with EOS on Ctrl-C, failing on errors.
# Deep models run under tcmalloc when it is installed (pipelines/setup.sh
# installs it) and no LD_PRELOAD is set: a plugin cannot choose its process's
# allocator, and with glibc's malloc STSANet's peak RSS measured 1499 MB
# against 1187 MB at about the same speed (README, "Measured speed").
malloc_preload() {
  local lib=libtcmalloc_minimal.so.4
  if [ "$MODEL" != baseline ] && [ -z "${LD_PRELOAD:-}" ] && ldconfig -p 2>/dev/null | grep -q "$lib"; then
    echo "LD_PRELOAD=$lib"
  fi
}

run_pipeline() {
  local preload
  preload=$(malloc_preload)
  echo "$SCRIPT_NAME: ${preload:+$preload }gst-launch-1.0 -e $1" >&2
  # shellcheck disable=SC2086
  eval ${preload:+env $preload} gst-launch-1.0 -e $1
}

# replace_dir NEW FINAL: puts the complete folder NEW at FINAL. A folder already
# at FINAL is replaced as a whole, never merged into (DESIGN.md: an output folder
# holds exactly one run's outputs), the way the tools' --overwrite does it: FINAL
# is renamed to a hidden .NAME.old-XXXXXXXX, NEW to FINAL (on failure the old
# folder is put back), then the old one is removed.
replace_dir() {
  local new=$1 final=$2 old
  if [ -e "$final" ] || [ -L "$final" ]; then
    if [ ! -d "$final" ] || [ -L "$final" ]; then die "$final: exists and is not a directory"; fi
    old=$(mktemp -d "$(dirname "$final")/.$(basename "$final").old-XXXXXXXX") ||
      die "$(dirname "$final"): cannot create a directory here"
    # mv -T renames onto the empty folder mktemp made instead of moving into it.
    mv -T "$final" "$old" || { rmdir "$old"; die "$final: cannot move the earlier output aside"; }
    if ! mv -T "$new" "$final"; then
      mv -T "$old" "$final"
      die "$final: cannot move the results into place"
    fi
    rm -rf "$old" || die "$final: replaced, but the earlier output $old could not be removed"
  else
    mv -T "$new" "$final" || die "$final: cannot move the results into place"
  fi
}
