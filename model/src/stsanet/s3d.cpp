// S3D backbone of STSANet (model-spec A.2, A.3; official STSA_model.py
// classes BasicConv3d, SepConv3d, Mixed_3b ... Mixed_5c).
#include "ops.hpp"
#include "salmodel/stsanet.hpp"

namespace model::stsanet {

namespace nn = torch::nn;

namespace {

// S3D's BatchNorm: eps 1e-3, momentum 1e-3 (model-spec A.2), not torch's defaults.
nn::BatchNorm3d s3d_batch_norm(int64_t channels) {
  return nn::BatchNorm3d(nn::BatchNorm3dOptions(channels).eps(1e-3).momentum(1e-3));
}

}  // namespace

// conv (no bias) -> BatchNorm -> ReLU. Rewritten eval mode folds the BatchNorm's
// affine map into the convolution: w' = w * g, b' = beta - mean * g with
// g = gamma / sqrt(var + eps), the same per-channel map batch_norm applies.
// Without autograd the folded pair is computed once (`folded`).
torch::Tensor conv_bn_relu(const torch::Tensor &x, const nn::Conv3d &conv, nn::BatchNorm3d bn,
                           Arithmetic arithmetic, DerivedTensors &folded) {
  if (bn->is_training()) return torch::relu(bn->forward(conv3d(x, conv, arithmetic)));
  if (arithmetic == Arithmetic::Official) {
    auto y = conv3d(x, conv, arithmetic);
    y = bn->forward(y);  // the convolution output is released here, not at the end
    return y.relu_();
  }
  const auto &o = conv->options;
  const auto wb =
      folded.get({conv->weight, bn->weight, bn->bias, bn->running_mean, bn->running_var}, [&] {
        const auto scale = bn->weight * torch::rsqrt(bn->running_var + bn->options.eps());
        return std::vector<torch::Tensor>{conv->weight * scale.view({-1, 1, 1, 1, 1}),
                                          bn->bias - bn->running_mean * scale};
      });
  const auto &padding = conv_padding(o);
  return conv3d(x, wb[0], wb[1], *o.stride(), *padding).relu_();
}

BasicConv3dImpl::BasicConv3dImpl(int64_t in, int64_t out, Arithmetic arithmetic)
    : arithmetic_(arithmetic) {
  conv = register_module("conv", nn::Conv3d(nn::Conv3dOptions(in, out, 1).bias(false)));
  bn = register_module("bn", s3d_batch_norm(out));
  relu = register_module("relu", nn::ReLU());
}

torch::Tensor BasicConv3dImpl::forward(const torch::Tensor &x) {
  return conv_bn_relu(x, conv, bn, arithmetic_, folded_);
}

SepConv3dImpl::SepConv3dImpl(const SepConv3dOptions &o) : arithmetic_(o.arithmetic()) {
  const int64_t k = o.kernel(), s = o.stride(), p = o.padding();
  conv_s = register_module("conv_s", nn::Conv3d(nn::Conv3dOptions(o.in(), o.out(), {1, k, k})
                                                    .stride({1, s, s})
                                                    .padding({0, p, p})
                                                    .bias(false)));
  bn_s = register_module("bn_s", s3d_batch_norm(o.out()));
  relu_s = register_module("relu_s", nn::ReLU());
  conv_t = register_module("conv_t", nn::Conv3d(nn::Conv3dOptions(o.out(), o.out(), {k, 1, 1})
                                                    .stride({s, 1, 1})
                                                    .padding({p, 0, 0})
                                                    .bias(false)));
  bn_t = register_module("bn_t", s3d_batch_norm(o.out()));
  relu_t = register_module("relu_t", nn::ReLU());
}

torch::Tensor SepConv3dImpl::forward(const torch::Tensor &x) {
  return conv_bn_relu(conv_bn_relu(x, conv_s, bn_s, arithmetic_, folded_s_), conv_t, bn_t,
                      arithmetic_, folded_t_);
}

MixedImpl::MixedImpl(const MixedWidths &w)
    : b0_(w.in, w.b0),
      b1_reduce_(w.in, w.b1_reduce),
      b2_reduce_(w.in, w.b2_reduce),
      b3_(w.in, w.b3),
      b1_(SepConv3dOptions(w.b1_reduce, w.b1, 3).padding(1)),
      b2_(SepConv3dOptions(w.b2_reduce, w.b2, 3).padding(1)) {
  branch0 = register_module("branch0", nn::Sequential(b0_));
  branch1 = register_module("branch1", nn::Sequential(b1_reduce_, b1_));
  branch2 = register_module("branch2", nn::Sequential(b2_reduce_, b2_));
  // The pool sits at index 0, so the conv's keys are branch3.1.* (model-spec A.2).
  branch3 = register_module(
      "branch3", nn::Sequential(nn::MaxPool3d(nn::MaxPool3dOptions(3).stride(1).padding(1)), b3_));
}

torch::Tensor MixedImpl::forward(const torch::Tensor &input) {
  // One layout conversion for the four branches (a no-op after the first block).
  const auto x = fast_layout(input);
  const auto &pool = branch3->ptr<nn::MaxPool3dImpl>(0)->options;
  return torch::cat({b0_(x), b1_(b1_reduce_(x)), b2_(b2_reduce_(x)), b3_(max_pool3d(x, pool))}, 1);
}

namespace {

// model-spec A.3: MaxPool3d k(1,3,3) s(1,2,2) p(0,1,1) (base1.1, maxpooling2).
nn::MaxPool3d spatial_pool() {
  return nn::MaxPool3d(nn::MaxPool3dOptions({1, 3, 3}).stride({1, 2, 2}).padding({0, 1, 1}));
}

nn::Sequential mixed_blocks(const Geometry &g, size_t first, size_t count) {
  nn::Sequential blocks;
  for (size_t i = first; i < first + count; i++) blocks->push_back(Mixed(g.mixed[i]));
  return blocks;
}

}  // namespace

S3DBackboneImpl::S3DBackboneImpl(const Geometry &g) {
  // F1 feeds branch 0's arg-max bottleneck: computed as PyTorch computes it.
  const auto reference = Arithmetic::Official;
  base1 = register_module(
      "base1",
      nn::Sequential(
          SepConv3d(SepConv3dOptions(3, g.stem0, 7).stride(2).padding(3).arithmetic(reference)),
          spatial_pool(), BasicConv3d(g.stem0, g.stem1, reference),
          SepConv3d(
              SepConv3dOptions(g.stem1, g.level_channels[0], 3).padding(1).arithmetic(reference))));
  maxpooling2 = register_module("maxpooling2", spatial_pool());
  base2 = register_module("base2", mixed_blocks(g, 0, 2));  // Mixed_3b, 3c
  maxpooling3 =
      register_module("maxpooling3", nn::MaxPool3d(nn::MaxPool3dOptions(3).stride(2).padding(1)));
  base3 = register_module("base3", mixed_blocks(g, 2, 5));  // Mixed_4b .. 4f
  maxpooling4 = register_module("maxpooling4", nn::MaxPool3d(nn::MaxPool3dOptions(2).stride(2)));
  base4 = register_module("base4", mixed_blocks(g, 7, 2));  // Mixed_5b, 5c
}

std::array<torch::Tensor, 4> S3DBackboneImpl::forward(const torch::Tensor &x) {
  TORCH_CHECK(x.dim() == 5 && x.size(1) == 3, "S3D expects (B, 3, T, H, W) clips, got ", x.sizes());
  auto y = base1->ptr<SepConv3dImpl>(0)->forward(x);
  y = max_pool3d(y, base1->ptr<nn::MaxPool3dImpl>(1)->options);
  y = base1->ptr<BasicConv3dImpl>(2)->forward(y);
  return forward_from_f1(base1->ptr<SepConv3dImpl>(3)->forward(y));
}

std::array<torch::Tensor, 4> S3DBackboneImpl::forward_from_f1(const torch::Tensor &f1) {
  auto y = max_pool3d(f1, maxpooling2->options);
  for (const auto &block : base2->children()) y = block->as<MixedImpl>()->forward(y);
  auto f2 = y;
  y = max_pool3d(f2, maxpooling3->options);
  for (const auto &block : base3->children()) y = block->as<MixedImpl>()->forward(y);
  auto f3 = y;
  y = max_pool3d(f3, maxpooling4->options);
  for (const auto &block : base4->children()) y = block->as<MixedImpl>()->forward(y);
  return {f1, f2, f3, y};
}

}  // namespace model::stsanet
