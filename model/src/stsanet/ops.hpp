// Tensor operations shared by the STSANet modules (private to this directory).
//
// The network is a stack of 3-D convolutions whose kernels are almost all
// factorised: (1,k,k) spatial, (k,1,1) temporal or 1x1x1. On the CPU LibTorch
// 1.13 runs such kernels several times faster as 2-D convolutions, whose
// kernels are better tuned than its 3-D ones (docs/performance.md, "Choices in
// the code"), so `conv3d` below re-expresses them as 2-D convolutions over views.
// The result is the same convolution, up to float summation order
// (Arithmetic::Rewritten); Arithmetic::Official calls conv3d as PyTorch does.
#pragma once

#include <torch/nn.h>

#include <variant>

#include "salmodel/stsanet.hpp"

namespace model::stsanet {

/// The explicit padding of a convolution. LibTorch 1.13 keeps option variants
/// in c10::variant, 2.x in std::variant: the unqualified get finds either
/// (std's by the using-declaration, c10's by argument-dependent lookup).
inline const torch::ExpandingArray<3> &conv_padding(const torch::nn::detail::ConvNdOptions<3> &o) {
  using std::get;
  return get<torch::ExpandingArray<3>>(o.padding());
}

/// Whether an Upsample's mode is trilinear (same c10/std variant split).
inline bool is_trilinear(const torch::nn::UpsampleOptions &o) {
  using std::get_if;
  return get_if<torch::enumtype::kTrilinear>(&o.mode()) != nullptr;
}

/// Whether `x` takes the channels-last inference layout: enabled
/// (a ChannelsLastScope) and no autograd recording (InferenceMode or
/// NoGradGuard). Training and autograd forwards always keep PyTorch's default
/// contiguous layout.
inline bool inference_layout(const torch::Tensor &x) {
  return !torch::GradMode::is_enabled() && inference_channels_last();
}

/// Whether `x` (5-D) is stored channels-last (N, T, H, W, C in memory) and not
/// also plain contiguous (tensors with C == 1 or T*H*W == 1 are both).
inline bool is_channels_last(const torch::Tensor &x) {
  return x.dim() == 5 && !x.is_contiguous() && x.is_contiguous(at::MemoryFormat::ChannelsLast3d);
}

/// A dense channels-last `x` with the canonical strides of that layout on every
/// dim, size-1 dims included: views (reshape, view, select) may give a size-1
/// dim any stride, and LibTorch's layout heuristics (suggest_memory_format,
/// used by oneDNN convolutions and cat) read them. Other tensors unchanged.
inline torch::Tensor canonical_layout(const torch::Tensor &x) {
  if (!is_channels_last(x)) return x;
  const int64_t c = x.size(1), t = x.size(2), h = x.size(3), w = x.size(4);
  return x.as_strided(x.sizes(), {t * h * w * c, 1, h * w * c, w * c, c});
}

/// The activation layout of the Rewritten arithmetic: channels-last in inference
/// (oneDNN convolves NHWC without reordering the input and output: 1.3-2x per
/// convolution on the official shapes), unchanged under autograd.
inline torch::Tensor fast_layout(const torch::Tensor &x) {
  return inference_layout(x) ? canonical_layout(x.contiguous(at::MemoryFormat::ChannelsLast3d)) : x;
}

/// 3-D convolution (groups 1, dilation 1) with `weight` (Co, Ci, kt, kh, kw);
/// factorised kernels run as 2-D convolutions over free views. In inference
/// the input is brought to (and the output is) channels-last. Differentiable.
torch::Tensor conv3d(const torch::Tensor &x, const torch::Tensor &weight, const torch::Tensor &bias,
                     torch::IntArrayRef stride, torch::IntArrayRef padding);
/// Same with a Conv3d module's weight, bias and options; Official runs the
/// module's own conv3d.
torch::Tensor conv3d(const torch::Tensor &x, const torch::nn::Conv3d &conv,
                     Arithmetic arithmetic = Arithmetic::Rewritten);

/// MaxPool3d with PyTorch semantics (implicit -inf padding, floor mode). Without
/// autograd it runs as separable strided maxima (max is exact, so the values
/// are identical; several times faster than LibTorch 1.13's CPU max_pool3d);
/// with autograd it calls max_pool3d so gradients go to the arg-max as in the
/// official training.
torch::Tensor max_pool3d(const torch::Tensor &x, const torch::nn::MaxPool3dOptions &options);

/// Upsample with the module's options; the official (1, 2, 2) trilinear
/// scaling runs as the equivalent bilinear scaling of every frame.
torch::Tensor upsample(const torch::Tensor &x, const torch::nn::UpsampleOptions &options);

/// LayerNorm over (C, T, H, W) with element-wise affine. A channels-last input
/// is normalised in its own memory order with the affine parameters re-laid
/// out once in `cache` (same statistics and affine map as LibTorch's layer_norm,
/// no transposing copies); other inputs go through the module.
/// On CUDA the statistics come from layer_norm_by_reduction instead.
torch::Tensor layer_norm(torch::nn::LayerNorm norm, const torch::Tensor &x, DerivedTensors &cache);

/// LayerNorm of x (B, ...) over all dims but the first, with element-wise
/// weight and bias shaped like x.sizes()[1:], statistics by whole-tensor
/// reductions accumulated in fp32; the result has x's dtype and layout.
/// LibTorch's layer_norm kernel gives each normalised row one thread block,
/// and STSA normalises a whole clip level (up to 4 M values) as one row: on
/// an H100 that kernel took 67 % of STSANet's time at batch 1 (measured,
/// model/tools/gpu/README.md). Differentiable; same maths as F::layer_norm.
torch::Tensor layer_norm_by_reduction(const torch::Tensor &x, const torch::Tensor &weight,
                                      const torch::Tensor &bias, double eps);

/// Runs a Sequential of Conv3d / ReLU / Sigmoid / MaxPool3d / LayerNorm /
/// AdaptiveAvgPool3d / Upsample layers, with Conv3d and MaxPool3d through the
/// functions above and activations in place on tensors the runner created.
torch::Tensor run_layers(const torch::nn::Sequential &layers, const torch::Tensor &x,
                         Arithmetic arithmetic = Arithmetic::Rewritten);
/// The same for the layers [first, last) of `layers` only.
torch::Tensor run_layers(const torch::nn::Sequential &layers, const torch::Tensor &x,
                         Arithmetic arithmetic, size_t first, size_t last);

/// Conv3d (no bias) -> BatchNorm3d -> ReLU as the S3D blocks run it: with
/// Arithmetic::Rewritten in eval mode the BatchNorm is folded into the convolution
/// (computed once into `folded` without autograd); with Official the very
/// conv3d and batch_norm calls of the official modules.
torch::Tensor conv_bn_relu(const torch::Tensor &x, const torch::nn::Conv3d &conv,
                           torch::nn::BatchNorm3d bn, Arithmetic arithmetic, DerivedTensors &folded);

/// Whether the current call records autograd history for `x`.
inline bool needs_grad(const torch::Tensor &x) {
  return torch::GradMode::is_enabled() && x.requires_grad();
}

}  // namespace model::stsanet
