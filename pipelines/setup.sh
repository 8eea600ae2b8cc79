#!/usr/bin/env bash
# Installs the Debian 12 packages the project needs (only those missing) and
# builds everything into build/. Called by pipelines/demo.sh and tests/run.sh;
# safe to run again (it only does what is left to do).
#
#   pipelines/setup.sh            # runtime + build dependencies, then build
#   pipelines/setup.sh --tests    # also the packages the test suite uses
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${GST_SALIENCY_BUILD_DIR:-"$ROOT/build"}

PACKAGES=(
  # toolchain and build
  g++ meson ninja-build pkg-config
  # LibTorch (CPU) with a fast BLAS: without OpenBLAS Debian's LibTorch falls back to the reference BLAS (6x slower)
  libtorch-dev libopenblas0-pthread
  # tcmalloc for the command-line tools (STSANet: 16 % faster, 230-260 MiB less than glibc's malloc)
  libtcmalloc-minimal4
  # gloo headers for c10d::ProcessGroupGloo (saliency-train's data-parallel allreduce)
  libgloo-dev
  # OpenCV with contrib (DIS, TV-L1 optical flow)
  libopencv-dev libopencv-contrib-dev
  # GStreamer 1.22: development files, the check library, tools and the plugins our pipelines use
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev gstreamer1.0-tools
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly gstreamer1.0-libav
  # GObject introspection for the meta library (Python reads maps through it)
  gobject-introspection libgirepository1.0-dev gir1.2-gstreamer-1.0 python3-gi python3-gst-1.0 python3-numpy
  # checkpoints, metrics; HDF5 for STRA-Net's Keras weights
  zlib1g-dev libhdf5-dev
  # libx264 for saliencyx264enc and saliency-encode-eval (the GPL plugin "saliencyx264")
  libx264-dev
)
TEST_PACKAGES=(
  libgtest-dev
  # fixtures in the published formats are written by the tests with Debian's PyTorch and h5py
  python3-torch python3-h5py
  # libFuzzer for the parsers' fuzz targets (tests/fuzz): clang 14 and its runtime libraries
  clang libclang-rt-14-dev
)

want=("${PACKAGES[@]}")
if [[ "${1:-}" == "--tests" ]]; then want+=("${TEST_PACKAGES[@]}"); fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then missing+=("$p"); fi
done
if ((${#missing[@]})); then
  echo "setup: installing ${#missing[@]} Debian packages: ${missing[*]}" >&2
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    SUDO=sudo
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The features this script installed the packages for are required, not
# "auto": an optional dependency that is missing at configure time would
# otherwise leave its part out of the build silently (a build configured by the
# demo before GoogleTest was installed had no test suites at all). An existing
# build whose options differ (configured by hand, by the demo, or by an older
# version of this script) is reconfigured, which also looks for its
# dependencies again.
want_options=(-Dgst=enabled -Dintrospection=enabled)
if [[ "${1:-}" == "--tests" ]]; then want_options+=(-Dtests=enabled); fi

stale_options() {  # prints the wanted options the build does not have
  meson introspect --buildoptions "$BUILD_DIR" 2>/dev/null | /usr/bin/python3 -c '
import json, sys
have = {o["name"]: str(o["value"]) for o in json.load(sys.stdin)}
for opt in sys.argv[1:]:
    name, value = opt[2:].split("=", 1)
    if have.get(name) != value:
        print(opt)
' "${want_options[@]}"
}

if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
  if [[ -d "$BUILD_DIR/meson-private" ]]; then
    # A configure that failed before (a package was missing): start it afresh.
    meson setup --wipe "$BUILD_DIR" "$ROOT" --buildtype=release "${want_options[@]}" >&2
  else
    meson setup "$BUILD_DIR" "$ROOT" --buildtype=release "${want_options[@]}" >&2
  fi
else
  mapfile -t stale < <(stale_options)
  if ((${#stale[@]})); then
    echo "setup: reconfiguring $BUILD_DIR with ${stale[*]}" >&2
    meson setup --reconfigure "$BUILD_DIR" "$ROOT" "${stale[@]}" >&2
  fi
fi
# Two jobs: each LibTorch translation unit takes about 1.5 GB and the reference machine has 2 cores.
ninja -C "$BUILD_DIR" -j"${GST_SALIENCY_JOBS:-2}" >&2
echo "setup: build ready in $BUILD_DIR" >&2
