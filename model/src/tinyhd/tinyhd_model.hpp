// TinyHD behind the SaliencyModel interface (private to libsalmodel, the
// trainer and the tests; users go through create_model / the Predictor).
#pragma once

#include <memory>

#include "salmodel/saliency_model.hpp"
#include "salmodel/tinyhd.hpp"
#include "tinyhd_net.hpp"

namespace model {

namespace tinyhd {
/// The official frame preparation (spec A.3): uint8 (H, W, 3) RGB -> float
/// /255 -> ImageNet mean/std -> bilinear, no antialias, to (3, 192, 256).
torch::Tensor prepare_frame(const torch::Tensor &rgb);
}  // namespace tinyhd

/// 16-frame windows, target last; frames prepared as the official loader
/// does (spec A.3), then through their share of the stem. Inference runs
/// FusedTinyHD, a snapshot of the weights (weights_changed() renews it).
class TinyHDModel : public SaliencyModel {
 public:
  explicit TinyHDModel(const tinyhd::TinyHDArch &arch);

  std::string name() const override { return "tinyhd"; }
  WindowSpec window_spec() const override;
  /// rgb: uint8 (H, W, 3) -> tinyhd::prepare_frame -> the frame's stem
  /// features (FusedTinyHD::frame_features), (3 * C, 96, 128).
  torch::Tensor prepare_frame(const torch::Tensor &rgb) const override;
  /// Windows of 16 prepared frames -> (B, 192, 256) maps of their last frames.
  torch::Tensor predict(const std::vector<Window> &windows) override;
  std::vector<std::int64_t> batch_key(const Window &window) const override;
  void to(torch::Device device, torch::Dtype dtype) override;
  torch::Device device() const override { return device_; }
  std::int64_t parameter_count() const override;
  std::int64_t buffer_count() const override;
  std::vector<torch::Tensor> parameter_tensors() const override { return net_->parameters(); }

  tinyhd::TinyHDNet &network() { return net_; }
  const TinyHDVariant &variant() const { return net_->arch().variant; }
  /// Seeded PyTorch-default initialisation (training from scratch, tests).
  void reset_parameters(std::uint64_t seed);
  /// Call after changing the weights: the fused snapshot is rebuilt.
  void weights_changed();
  /// Throws ModelError naming `source` when the layers do not fit together.
  void check_shapes(const std::string &source);

 private:
  tinyhd::TinyHDNet net_;
  std::unique_ptr<tinyhd::FusedTinyHD> fused_;
  torch::Device device_ = torch::kCPU;
};

}  // namespace model
