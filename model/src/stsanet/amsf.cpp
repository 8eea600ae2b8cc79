// Attentional multi-scale fusion of STSANet (model-spec A.5; official
// STSA_model.py SA_k, CA_k, inc_k_* and the "inception" part of forward).
#include "ops.hpp"
#include "salmodel/stsanet.hpp"

namespace model::stsanet {

namespace nn = torch::nn;

namespace {

nn::Conv3d conv(int64_t in, int64_t out, torch::ExpandingArray<3> kernel = 1,
                torch::ExpandingArray<3> padding = 0) {
  return nn::Conv3d(nn::Conv3dOptions(in, out, kernel).padding(padding));
}

}  // namespace

AmsfStageImpl::AmsfStageImpl(const Geometry &g, int index) {
  TORCH_CHECK(index >= 0 && index < 3, "AMSF stage index must be 0..2, got ", index);
  const auto k = static_cast<size_t>(index);
  // Stage k fuses the upsampled coarser result (high) with branch 2-k (low).
  channels_ = g.mid_channels[2 - k];
  const int64_t both = 2 * channels_, hidden = g.ca_hidden[k], out = g.fusion_out[k];
  const int64_t steps = Geometry::kStsaSteps;
  const std::string n = std::to_string(index);

  SA = register_module("SA_" + n, nn::Sequential(conv(both, 1), nn::Sigmoid()));
  // GAP keeps T (AdaptiveAvgPool3d((4,1,1))), then Conv -> LayerNorm([C',4,1,1])
  // -> ReLU -> Conv -> Sigmoid, as the code and eq. (10) have it (A.13 item 3).
  CA = register_module(
      "CA_" + n,
      nn::Sequential(nn::AdaptiveAvgPool3d(nn::AdaptiveAvgPool3dOptions({steps, 1, 1})),
                     conv(both, hidden),
                     nn::LayerNorm(nn::LayerNormOptions({hidden, steps, 1, 1}).eps(1e-5)),
                     nn::ReLU(nn::ReLUOptions(true)), conv(hidden, both), nn::Sigmoid()));
  inc[0] = register_module("inc_" + n + "_0", nn::Sequential(conv(channels_, out)));
  inc[1] =
      register_module("inc_" + n + "_1", nn::Sequential(conv(channels_, out, {3, 1, 1}, {1, 0, 0}),
                                                        nn::ReLU(nn::ReLUOptions(true)),
                                                        conv(out, out, {1, 3, 3}, {0, 1, 1})));
  inc[2] =
      register_module("inc_" + n + "_2", nn::Sequential(conv(channels_, out, {3, 1, 1}, {1, 0, 0}),
                                                        nn::ReLU(nn::ReLUOptions(true)),
                                                        conv(out, out, {1, 5, 5}, {0, 2, 2})));
  inc[3] = register_module(
      "inc_" + n + "_3", nn::Sequential(nn::MaxPool3d(nn::MaxPool3dOptions(3).stride(1).padding(1)),
                                        conv(channels_, out)));
  // The official shared nn.Upsample(scale_factor=(1,2,2), mode='trilinear'),
  // align_corners False: time untouched, H and W doubled.
  upsample =
      register_module("upsample", nn::Upsample(nn::UpsampleOptions()
                                                   .scale_factor(std::vector<double>{1, 2, 2})
                                                   .mode(torch::kTrilinear)
                                                   .align_corners(false)));
}

torch::Tensor AmsfStageImpl::forward(const torch::Tensor &high_in, const torch::Tensor &low_in) {
  TORCH_CHECK(high_in.sizes() == low_in.sizes() && high_in.size(1) == channels_,
              "AMSF stage: high ", high_in.sizes(), " and low ", low_in.sizes(), " must both have ",
              channels_, " channels");
  // Inference: both inputs channels-last (branch 0's output arrives plain).
  const auto high = fast_layout(high_in), low = fast_layout(low_in);
  torch::Tensor fused;
  {
    auto both = torch::cat({high, low}, 1);
    const auto spatial = run_layers(SA, both);            // (B, 1, T, h, w)
    const auto weights = run_layers(CA, both * spatial);  // (B, 2C, T, 1, 1)
    const auto parts = weights.split(channels_, 1);
    // The weights scale the un-masked features (A.5 step 5).
    fused = high * parts[0] + low * parts[1];
  }
  auto sum = run_layers(inc[0], fused);
  for (size_t b = 1; b < inc.size(); b++) sum.add_(run_layers(inc[b], fused));
  fused = torch::Tensor();
  return stsanet::upsample(sum.relu_(), upsample->options);
}

}  // namespace model::stsanet
