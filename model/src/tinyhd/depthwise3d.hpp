// A depthwise 3-D convolution for the CPU: LibTorch 1.13 runs grouped Conv3d
// with one channel per group at about 0.5 GMAC/s on a core (measured on the
// 2-core AMD EPYC: 117 ms for 48 channels of 4x96x128, kernel 3x3x3); this
// kernel keeps every output row in L1 and lets the compiler vectorise along
// the row.
#pragma once

#include <torch/types.h>

namespace model::tinyhd {

/// Depthwise 3-D convolution with a 3x3 spatial kernel and spatial padding 1.
/// @param x      (N, C, T, H, W) float32, contiguous, on the CPU
/// @param weight (C, kt, 3, 3) float32, contiguous
/// @param bias   (C) float32
/// @param time_stride, time_pad  temporal stride and zero padding
/// @param spatial_stride  1 or 2 (both spatial axes)
/// @param relu6  clamp the result to [0, 6]
/// @returns (N, C, To, Ho, Wo), To = (T + 2 pad - kt) / stride + 1,
///          Ho = (H - 1) / spatial_stride + 1, likewise Wo.
torch::Tensor depthwise_conv3d(const torch::Tensor &x, const torch::Tensor &weight,
                               const torch::Tensor &bias, int time_stride, int time_pad,
                               int spatial_stride, bool relu6);

/// The kernel build this process runs ("avx512", "avx2" or "generic";
/// cpu_dispatch.hpp), for tests and benchmarks to say which one they measured.
const char *kernel_build_name();

}  // namespace model::tinyhd
