// STSA branches of STSANet (model-spec A.4; official STSA_model.py `da`,
// `stsa` and the four "base" blocks of STSANet.forward).
#include "ops.hpp"
#include "salmodel/stsanet.hpp"

namespace model::stsanet {

namespace nn = torch::nn;

namespace {

// q/k embedding: 1x1x1 conv Ce -> Cqk, ReLU, (1,3,3) conv, ReLU (model-spec A.4.2).
nn::Sequential query_key_embedding(int64_t in, int64_t out) {
  return nn::Sequential(nn::Conv3d(nn::Conv3dOptions(in, out, 1)), nn::ReLU(nn::ReLUOptions(true)),
                        nn::Conv3d(nn::Conv3dOptions(out, out, {1, 3, 3}).padding({0, 1, 1})),
                        nn::ReLU(nn::ReLUOptions(true)));
}

// v embedding: "asymmetric" (1,3,1) then (1,1,3) convs keeping Ce channels.
nn::Sequential value_embedding(int64_t channels) {
  return nn::Sequential(
      nn::Conv3d(nn::Conv3dOptions(channels, channels, {1, 3, 1}).padding({0, 1, 0})),
      nn::ReLU(nn::ReLUOptions(true)),
      nn::Conv3d(nn::Conv3dOptions(channels, channels, {1, 1, 3}).padding({0, 0, 1})),
      nn::ReLU(nn::ReLUOptions(true)));
}

}  // namespace

std::tuple<torch::Tensor, torch::Tensor> bottleneck_pool(const torch::Tensor &x) {
  return torch::max_pool3d_with_indices(x, {1, 2, 2}, {1, 2, 2});
}

torch::Tensor bottleneck_unpool(const torch::Tensor &x, const torch::Tensor &indices,
                                const torch::Tensor &like) {
  return torch::max_unpool3d(x, indices, {like.size(2), like.size(3), like.size(4)}, {1, 2, 2},
                             {0, 0, 0});
}

torch::Tensor dot_product_attention(const torch::Tensor &q, const torch::Tensor &k,
                                    const torch::Tensor &v) {
  TORCH_CHECK(q.dim() == 5 && q.sizes() == k.sizes() && v.dim() == 5 && v.size(0) == q.size(0) &&
                  v.numel() / (v.size(0) * v.size(1)) == q.numel() / (q.size(0) * q.size(1)),
              "attention: q ", q.sizes(), ", k ", k.sizes(), ", v ", v.sizes(), " do not match");
  const int64_t batch = q.size(0), qk_channels = q.size(1), value_channels = v.size(1);
  // (B, C, N) with N = T*h*w flattened with w fastest (model-spec A.4.3).
  const auto queries = q.reshape({batch, qk_channels, -1});
  const auto keys = k.reshape({batch, qk_channels, -1});
  const auto values = v.reshape({batch, value_channels, -1});
  // A = softmax over keys of Q^T K (B, Nq, Nk); no 1/sqrt(d) scaling.
  const auto attention = torch::bmm(queries.transpose(1, 2), keys).softmax(-1);
  // out = (A V^T)^T (B, Cv, Nq), the official product and operand layout
  // (same bits); the transposed result is viewed, not copied.
  return torch::bmm(attention, values.transpose(1, 2))
      .transpose(1, 2)
      .view({batch, value_channels, q.size(2), q.size(3), q.size(4)});
}

StsaBranchImpl::StsaBranchImpl(const Geometry &g, int index)
    : index_(index), arithmetic_(index == 0 ? Arithmetic::Official : Arithmetic::Rewritten) {
  TORCH_CHECK(index >= 0 && index < 4, "STSA branch index must be 0..3, got ", index);
  const auto i = static_cast<size_t>(index);
  const int64_t channels = g.level_channels[i], mid_channels = g.mid_channels[i];
  const int64_t height = g.level_height[i], width = g.level_width[i];
  const int64_t steps = Geometry::kStsaSteps;
  const std::string prefix = "branch" + std::to_string(index);

  // Temporal compression to 4 steps (A.4.1); branch 3 already has 4 at window 32.
  if (g.compression[i] > 1) {
    const int64_t c = g.compression[i];
    pre = register_module(
        prefix + "_pre",
        nn::Sequential(
            nn::Conv3d(nn::Conv3dOptions(channels, channels, {c, 1, 1}).stride({c, 1, 1})),
            nn::ReLU(nn::ReLUOptions(true))));
  }
  // Branch 0 keeps its 192 channels, the others halve them (A.4.6, A.13).
  mid = register_module(
      prefix + "_mid",
      nn::Sequential(
          nn::Conv3d(nn::Conv3dOptions(channels, mid_channels, {1, 3, 3}).padding({0, 1, 1})),
          nn::ReLU(nn::ReLUOptions(true))));
  // LayerNorms over the whole C x 4 x h x w feature, element-wise affine (A.4.7).
  const std::string ln = "ln_" + std::to_string(index);
  ln_0 = register_module(
      ln + "_0", nn::LayerNorm(nn::LayerNormOptions({channels, steps, height, width}).eps(1e-5)));
  ln_1 = register_module(
      ln + "_1",
      nn::LayerNorm(nn::LayerNormOptions({mid_channels, steps, height, width}).eps(1e-5)));

  for (size_t j = 0; j < 3; j++) {
    // Groups 0 and 1: layer I on the C-channel input; group 2: layer II on mid.
    const int64_t in = j < 2 ? channels : mid_channels;
    const int64_t qk = g.qk_channels[i][j < 2 ? 0 : 1];
    for (size_t s = 0; s < 2; s++) {
      const std::string name = prefix + "_" + std::to_string(j) + "_" + (s == 0 ? "a" : "b");
      auto &e = embeddings[j][s];
      e.q = register_module(name + "_q", query_key_embedding(in, qk));
      e.k = register_module(name + "_k", query_key_embedding(in, qk));
      e.v = register_module(name + "_v", value_embedding(in));
    }
  }
}

torch::Tensor StsaBranchImpl::stsa_pair(const torch::Tensor &in_a, const torch::Tensor &in_b,
                                        int group) {
  // model-spec A.4.4: a's slot gets da(q_b, k_a, v_a), b's slot da(q_a, k_b, v_b).
  const auto &a = embeddings[static_cast<size_t>(group)][0];
  const auto &b = embeddings[static_cast<size_t>(group)][1];
  const auto q_b = run_layers(b.q, in_b, arithmetic_);
  auto out_a = dot_product_attention(q_b, run_layers(a.k, in_a, arithmetic_),
                                     run_layers(a.v, in_a, arithmetic_));
  const auto q_a = run_layers(a.q, in_a, arithmetic_);
  auto out_b = dot_product_attention(q_a, run_layers(b.k, in_b, arithmetic_),
                                     run_layers(b.v, in_b, arithmetic_));
  return torch::cat({out_a, out_b}, 2);
}

torch::Tensor StsaBranchImpl::layer_one(const torch::Tensor &x) {
  // Steps (0,1) with group 0 and (2,3) with group 1 (A.4.5 step 1).
  auto first = stsa_pair(x.narrow(2, 0, 1), x.narrow(2, 1, 1), 0);
  auto second = stsa_pair(x.narrow(2, 2, 1), x.narrow(2, 3, 1), 1);
  return torch::cat({first, second}, 2);
}

torch::Tensor StsaBranchImpl::layer_two(const torch::Tensor &x) {
  // Halves (0,1) and (2,3) with group 2 (A.4.5 step 3).
  return stsa_pair(x.narrow(2, 0, 2), x.narrow(2, 2, 2), 2);
}

torch::Tensor StsaBranchImpl::norm(int which, const torch::Tensor &x) {
  return layer_norm(which == 0 ? ln_0 : ln_1, x, ln_layout_[static_cast<size_t>(which)]);
}

torch::Tensor StsaBranchImpl::forward(const torch::Tensor &level) {
  // Branch 0 (Official) keeps PyTorch's layout and bits; the others compute
  // channels-last in inference.
  const auto input = arithmetic_ == Arithmetic::Rewritten ? fast_layout(level) : level;
  auto x = pre ? run_layers(pre, input, arithmetic_) : input;
  TORCH_CHECK(x.dim() == 5 && x.size(2) == Geometry::kStsaSteps, "STSA branch ", index_,
              ": expected 4 time steps after compression, got ", x.sizes());
  torch::Tensor y;
  if (bottleneck()) {
    // A.4.6: layer I on the 2x2-pooled feature, unpooled to the arg-max
    // positions; the LayerNorm sees the unpooled map, zeros included.
    auto [pooled, indices] = bottleneck_pool(x);
    y = norm(0, bottleneck_unpool(layer_one(pooled), indices, x)) + x;
  } else {
    y = norm(0, layer_one(x)).add_(x);
  }
  x = torch::Tensor();
  auto m = run_layers(mid, y, arithmetic_);
  y = torch::Tensor();
  if (bottleneck()) {
    auto [pooled, indices] = bottleneck_pool(m);
    return m + norm(1, bottleneck_unpool(layer_two(pooled), indices, m));
  }
  return norm(1, layer_two(m)).add_(m);
}

}  // namespace model::stsanet
