#!/usr/bin/env bash
# Builds stsanet-net-bench from STSANet's network sources alone against any
# LibTorch, for a GPU machine that has a CUDA LibTorch (an unpacked official
# LibTorch, or the one inside a PyTorch wheel) but not the rest of the stack
# (GStreamer, OpenCV, HDF5). The full project builds against such a LibTorch
# with `meson setup -Dtorch_root=...`; this is the short way to GPU figures.
#
#   model/tools/gpu/build.sh [OUTDIR]      # LibTorch from $LIBTORCH, else python3's torch
#   LIBTORCH=/opt/libtorch model/tools/gpu/build.sh
#   LIBTORCH=system model/tools/gpu/build.sh   # Debian's libtorch-dev (CPU), a build check
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
OUT=${1:-"$ROOT/build-net-bench"}
CXX=${CXX:-g++}
mkdir -p "$OUT/obj"

abi=1
if [[ "${LIBTORCH:-}" == system ]]; then
  incs=(-isystem /usr/include/torch/csrc/api/include)
  libdir=""
else
  if [[ -z "${LIBTORCH:-}" ]]; then
    LIBTORCH=$(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))') ||
      { echo "build.sh: no LIBTORCH given and python3 has no torch" >&2; exit 1; }
    abi=$(python3 -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))')
  fi
  [[ -d "$LIBTORCH/include" && -d "$LIBTORCH/lib" ]] ||
    { echo "build.sh: $LIBTORCH: not a LibTorch (no include/ and lib/)" >&2; exit 1; }
  incs=(-isystem "$LIBTORCH/include" -isystem "$LIBTORCH/include/torch/csrc/api/include")
  libdir=$LIBTORCH/lib
fi

libs=(torch_cpu torch c10)
cuda_flags=()
if [[ -n "$libdir" && -e "$libdir/libtorch_cuda.so" ]]; then
  libs+=(torch_cuda c10_cuda)
  cuda_flags=(-DSALMODEL_WITH_CUDA)
  # CUDA headers (cuda_runtime_api.h) for c10/cuda: the toolkit's, or the wheel's nvidia/ tree.
  for d in /usr/local/cuda/include "$libdir"/../../nvidia/cu*/include "$libdir"/../../nvidia/cuda_runtime/include; do
    [[ -e "$d/cuda_runtime_api.h" ]] && { cuda_flags+=(-isystem "$d"); break; }
  done
  # The CUDA runtime LibTorch itself loads (the wheel's, else the toolkit's):
  # the bench calls it directly (streams, graphs).
  for f in "$libdir"/../../nvidia/cu*/lib/libcudart.so* "$libdir"/../../nvidia/cuda_runtime/lib/libcudart.so* \
    /usr/local/cuda/lib64/libcudart.so; do
    [[ -e "$f" ]] && { cudart=$(readlink -f "$f"); break; }
  done
fi

sources=("$ROOT"/model/src/stsanet/*.cpp "$ROOT"/model/src/checkpoint/*.cpp
  "$ROOT"/model/src/core/{module_utils,resample,model_names,cuda_graph}.cpp
  "$ROOT"/model/tools/gpu/stsanet_net_bench.cpp)
flags=(-std=c++17 -O2 -fPIC -D_GLIBCXX_USE_CXX11_ABI="$abi" -I"$ROOT/model/include" -I"$ROOT/model/maps/include" "${incs[@]}" "${cuda_flags[@]}")
printf '%s\n' "${sources[@]}" |
  xargs -P "$(nproc)" -I{} sh -c 'o="$0/obj/$(basename "{}" .cpp).o"; '"$CXX"' "$@" -c "{}" -o "$o"' "$OUT" "${flags[@]}"

link=(-Wl,--no-as-needed)
for l in "${libs[@]}"; do link+=("-l$l"); done
link+=(-Wl,--as-needed -lpthread)
[[ -n "$libdir" ]] && link=(-L"$libdir" -Wl,-rpath,"$libdir" "${link[@]}")
[[ -n "${cudart:-}" ]] && link+=("$cudart" -Wl,-rpath,"$(dirname "$cudart")")
"$CXX" -o "$OUT/stsanet-net-bench" "$OUT"/obj/*.o "${link[@]}"
echo "$OUT/stsanet-net-bench"
