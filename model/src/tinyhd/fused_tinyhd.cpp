// TinyHD's inference form: every Conv3d + BatchNorm3d pair becomes one
// convolution with a bias (eval-mode BatchNorm is an affine map per channel),
// pointwise convolutions run as matrix products, and depthwise ones in our
// CPU kernel (on other devices: LibTorch's grouped Conv3d, the same maths).
//
// Folding changes only rounding: the reference scales the convolution's sum
// by gamma / sqrt(var + eps), we scale the weights before summing; both are
// within a few float32 ulps of the exact value per layer.
#include <ATen/Parallel.h>

#include <algorithm>

#include "depthwise3d.hpp"
#include "pointwise.hpp"
#include "tinyhd_net.hpp"

namespace model::tinyhd {
namespace {

using torch::Tensor;

// (weight * scale, beta - mean * scale), scale = gamma / sqrt(var + eps), in double.
std::pair<Tensor, Tensor> fold(const Tensor &weight, const torch::nn::BatchNorm3d &bn) {
  torch::NoGradGuard no_grad;
  const auto dtype = weight.scalar_type();
  const auto scale =
      bn->weight.to(torch::kFloat64) / torch::sqrt(bn->running_var.to(torch::kFloat64) + bn->options.eps());
  std::vector<int64_t> shape(weight.dim(), 1);
  shape[0] = -1;
  const auto w = (weight.to(torch::kFloat64) * scale.view(shape)).to(dtype);
  const auto b = (bn->bias.to(torch::kFloat64) - bn->running_mean.to(torch::kFloat64) * scale).to(dtype);
  return {w.contiguous(), b.contiguous()};
}

// A 1x1x1 convolution with the bias, then ReLU6 or the residual (the block's
// input): our CPU kernel (pointwise.hpp), else a 1x1 Conv2d over
// (Cin, T*H, W) (cuDNN on CUDA).
Tensor pointwise(const Tensor &x, const Tensor &weight, const Tensor &bias, bool relu6,
                 const Tensor *residual = nullptr) {
  if (x.device().is_cpu() && x.scalar_type() == torch::kFloat32)
    return pointwise_conv(x, weight, bias, relu6, residual ? *residual : Tensor());
  const auto in = x.contiguous();
  const int64_t n = in.size(0), c = in.size(1), cout = weight.size(0);
  const int64_t rows = in.numel() / (n * c * in.size(-1));
  auto y = torch::conv2d(in.view({n, c, rows, in.size(-1)}), weight.view({cout, c, 1, 1}), bias);
  std::vector<int64_t> shape = in.sizes().vec();
  shape[1] = cout;
  y = y.view(shape);
  if (relu6) return y.clamp_(0.0, 6.0);
  if (residual) return y.add_(*residual);
  return y;
}

Tensor depthwise(const Tensor &x, const Tensor &weight, const Tensor &bias, const Temporal &time,
                 int spatial_stride, bool relu6) {
  if (x.device().is_cpu() && x.scalar_type() == torch::kFloat32)
    return depthwise_conv3d(x, weight, bias, time.stride, time.pad, spatial_stride, relu6);
  const int64_t c = weight.size(0);
  auto y = torch::conv3d(x, weight.view({c, 1, weight.size(1), 3, 3}), bias,
                         {time.stride, spatial_stride, spatial_stride}, {time.pad, 1, 1}, {1, 1, 1}, c);
  return relu6 ? y.clamp_(0.0, 6.0) : y;
}

}  // namespace

FusedTinyHD::FusedTinyHD(TinyHDNetImpl &net) : variant_(net.arch().variant) {
  torch::NoGradGuard no_grad;
  auto pw = [](const torch::nn::Conv3d &conv, const torch::nn::BatchNorm3d &bn) {
    Conv c;
    std::tie(c.weight, c.bias) = fold(conv->weight, bn);
    c.weight = c.weight.view({c.weight.size(0), c.weight.size(1)}).contiguous();
    return c;
  };
  auto dw = [](const ConvBN &conv_bn, const BlockSpec &spec) {
    Conv c;
    std::tie(c.weight, c.bias) = fold(conv_bn->conv->weight, conv_bn->bn);
    // (C, 1, kt, 3, 3) -> (C, kt, 3, 3)
    c.weight = c.weight.view({c.weight.size(0), c.weight.size(2), 3, 3}).contiguous();
    c.time = spec.dw_time;
    c.spatial_stride = spec.spatial_stride;
    return c;
  };
  auto block = [&](const InvertedResidual &ir) {
    Block b;
    b.expand = ir->spec.expand;
    b.residual = ir->spec.residual;
    if (b.expand) b.pw_expand = pw(ir->expand->conv, ir->expand->bn);
    b.dw = dw(ir->depthwise, ir->spec);
    b.pw_project = pw(ir->project, ir->project_bn);
    return b;
  };
  std::tie(stem_.weight, stem_.bias) = fold(net.stem->conv->weight, net.stem->bn);
  // (C, 3, kt=3, 3, 3) -> (kt * C, 3, 3, 3), slice-major.
  stem_slices_ = stem_.weight.permute({2, 0, 1, 3, 4}).reshape({-1, 3, 3, 3}).contiguous();
  last_ = pw(net.last->conv, net.last->bn);
  for (const auto &ir : net.encoder_blocks) encoder_.push_back(block(ir));
  for (const auto &ir : net.aggregator_blocks) aggregator_.push_back(block(ir));
  for (const auto &p : net.head_conv->named_parameters(false)) {
    if (p.key() == "weight") head_weight_ = p.value().detach().reshape({1, 6}).contiguous();
    if (p.key() == "bias") head_bias_ = p.value().detach().clone();
  }
}

Tensor FusedTinyHD::run(const Block &b, const Tensor &x) const {
  Tensor y = b.expand ? pointwise(x, b.pw_expand.weight, b.pw_expand.bias, true) : x;
  y = depthwise(y, b.dw.weight, b.dw.bias, b.dw.time, b.dw.spatial_stride, true);
  if (!b.residual) return pointwise(y, b.pw_project.weight, b.pw_project.bias, false);
  const Tensor input = x.contiguous();
  return pointwise(y, b.pw_project.weight, b.pw_project.bias, false, &input);
}

Tensor FusedTinyHD::frame_features(const Tensor &frames) const {
  c10::InferenceMode inference;
  return torch::conv2d(frames, stem_slices_, {}, {2, 2}, {1, 1});
}

Tensor FusedTinyHD::encoder(int i, const Tensor &x) {
  if (i == 0 && input_is_features_) {
    // Window step t' = slice 0 of frame 2t'-1 (absent for t' = 0: the
    // temporal zero padding) + slice 1 of frame 2t' + slice 2 of frame 2t'+1.
    const int64_t c = stem_.weight.size(0);
    const auto slice = [&](int64_t k, int64_t first) {
      return x.slice(1, first, x.size(1), 2).slice(2, k * c, (k + 1) * c);
    };
    auto y = slice(1, 0) + slice(2, 1);  // (N, 8, C, h, w)
    y.slice(1, 1, y.size(1)).add_(slice(0, 1).slice(1, 0, y.size(1) - 1));
    y.add_(stem_.bias.view({1, 1, c, 1, 1})).clamp_(0.0, 6.0);
    return y.permute({0, 2, 1, 3, 4}).contiguous();
  }
  if (i == 0) return torch::conv3d(x, stem_.weight, stem_.bias, {2, 2, 2}, {1, 1, 1}).clamp_(0.0, 6.0);
  if (i == 18) return pointwise(x, last_.weight, last_.bias, true);
  return run(encoder_[i - 1], x);
}

Tensor FusedTinyHD::aggregator(int j, const Tensor &x) { return run(aggregator_[j], x); }

Tensor FusedTinyHD::head(const Tensor &x) { return pointwise(x, head_weight_, head_bias_, false).sigmoid_(); }

Tensor FusedTinyHD::forward(const Tensor &clip) {
  c10::InferenceMode inference;
  TORCH_CHECK(clip.dim() == 5 && clip.size(1) == 3 && clip.size(2) == kTinyHDWindow,
              "tinyhd: the clip must be (N, 3, 16, H, W)");
  input_is_features_ = false;
  return run_graph(variant_, *this, clip);
}

Tensor FusedTinyHD::forward_features(const Tensor &features) {
  c10::InferenceMode inference;
  TORCH_CHECK(features.dim() == 5 && features.size(1) == kTinyHDWindow &&
                  features.size(2) == stem_slices_.size(0),
              "tinyhd: the stem features must be (N, 16, 3 * C, h, w)");
  input_is_features_ = true;
  return run_graph(variant_, *this, features);
}

}  // namespace model::tinyhd
