// A 1x1x1 convolution for the CPU with its epilogue (bias, then ReLU6 or a
// residual) in the same pass. TinyHD's pointwise layers have few channels
// (2 to 260) over many positions (up to 4 x 192 x 256): Debian's LibTorch
// sends them to OpenBLAS through an im2col copy, at about 11 GMAC/s on one
// core; this kernel keeps a 4-channel x 64-position tile of accumulators in
// registers and reads each input value once per 4 output channels.
#pragma once

#include <torch/types.h>

namespace model::tinyhd {

/// y[n, o, s] = bias[o] + sum_i weight[o, i] * x[n, i, s] over the positions s
/// of each (N, C, ...) sample, then clamped to [0, 6] (relu6) or plus
/// residual[n, o, s] (residual defined; same shape as y).
/// @param x      (N, Cin, ...) float32 CPU, any trailing shape
/// @param weight (Cout, Cin) float32, contiguous
/// @param bias   (Cout) float32
torch::Tensor pointwise_conv(const torch::Tensor &x, const torch::Tensor &weight, const torch::Tensor &bias,
                             bool relu6, const torch::Tensor &residual = {});

}  // namespace model::tinyhd
