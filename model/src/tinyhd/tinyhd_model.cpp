// TinyHD behind the SaliencyModel interface: the published checkpoints, the
// official pre-processing (spec A.3) and 16-frame windows with the target last.
#include "tinyhd_model.hpp"

#include <cmath>

#include "salmodel/module_utils.hpp"

namespace model {

std::string TinyHDVariant::describe() const {
  return std::string(multi_output ? "multi-output" : "single-output") + ", channel reduction " +
         std::to_string(reduction);
}

namespace {

const char *kStem = "encoder.encoder.0.0.weight";
const char *kHead = "decoder.decoder.0.weight";

const torch::Tensor *lookup(const StateDict &state, const std::string &key) {
  for (const auto &[name, tensor] : state)
    if (name == key) return &tensor;
  return nullptr;
}

}  // namespace

TinyHDVariant infer_tinyhd_variant(const StateDict &state, const std::string &source) {
  const torch::Tensor *stem = lookup(state, kStem);
  const torch::Tensor *head = lookup(state, kHead);
  if (!stem || !head)
    throw ModelError(source + ": not a TinyHD checkpoint: no '" + (stem ? kHead : kStem) +
                     "' tensor (expected torch.save of {'student_model': state_dict} from feiyanhu/tinyHD)");
  TinyHDVariant v;
  // e0 is MobileNetV2's first convolution, 32 channels divided by the reduction.
  if (stem->dim() != 5 || stem->size(1) != 3 || 32 % stem->size(0) != 0 ||
      (32 / stem->size(0) != 1 && 32 / stem->size(0) != 2 && 32 / stem->size(0) != 4))
    throw ModelError(source + ": a TinyHD layout we do not know: '" + kStem + "' has shape " +
                     c10::str(stem->sizes()) + " (expected (32, 3, 3, 3, 3), (16, ...) or (8, ...))");
  v.reduction = static_cast<int>(32 / stem->size(0));
  // The head is a Conv2d on the single-output network, a Conv3d on the multi-output one.
  if (head->dim() == 4 && head->sizes() == torch::IntArrayRef({1, 6, 1, 1}))
    v.multi_output = false;
  else if (head->dim() == 5 && head->sizes() == torch::IntArrayRef({1, 6, 1, 1, 1}))
    v.multi_output = true;
  else
    throw ModelError(source + ": a TinyHD layout we do not know: '" + kHead + "' has shape " +
                     c10::str(head->sizes()) + " (expected (1, 6, 1, 1) or (1, 6, 1, 1, 1): decoders d1+d2+d3)");
  return v;
}

StateDict read_tinyhd_checkpoint(const std::string &path) {
  // read_checkpoint unwraps the 'student_model' level of the published files.
  return read_checkpoint(path);
}

TinyHDModel::TinyHDModel(const tinyhd::TinyHDArch &arch) : net_(arch) {
  net_->eval();
  weights_changed();
}

WindowSpec TinyHDModel::window_spec() const {
  // Target last: the slots before the first frame hold copies of it, which
  // is the official padding (spec A.2).
  WindowSpec spec;
  spec.frames_before = kTinyHDWindow - 1;
  spec.frames_after = 0;
  // Measured on the 2-CPU AMD EPYC: 105 ms per frame on one thread, 300 ms
  // on two (docs/tinyhd.md).
  spec.preferred_threads = 1;
  return spec;
}

torch::Tensor TinyHDModel::prepare_frame(const torch::Tensor &rgb) const {
  // The frame's share of the stem, computed once: every window holding the
  // frame reuses it (FusedTinyHD::frame_features).
  return fused_->frame_features(tinyhd::prepare_frame(rgb).unsqueeze(0)).squeeze(0);
}

torch::Tensor tinyhd::prepare_frame(const torch::Tensor &rgb) {
  if (rgb.scalar_type() != torch::kUInt8 || rgb.dim() != 3 || rgb.size(2) != 3)
    throw ModelError("tinyhd: frames must be uint8 (H, W, 3) RGB tensors");
  // /255, ImageNet mean/std, then bilinear resize without antialiasing to
  // 192x256 (aspect not kept), in that order as the official loader (spec A.3).
  const auto x = rgb.permute({2, 0, 1}).to(torch::kFloat32).div_(255);
  const auto options = x.options();
  const auto mean = torch::tensor({0.485f, 0.456f, 0.406f}, options).view({3, 1, 1});
  const auto std = torch::tensor({0.229f, 0.224f, 0.225f}, options).view({3, 1, 1});
  namespace F = torch::nn::functional;
  return F::interpolate(x.sub_(mean).div_(std).unsqueeze(0),
                        F::InterpolateFuncOptions()
                            .size(std::vector<int64_t>{kTinyHDHeight, kTinyHDWidth})
                            .mode(torch::kBilinear)
                            .align_corners(false))
      .squeeze(0);
}

std::vector<std::int64_t> TinyHDModel::batch_key(const Window &window) const {
  // Every prepared frame has the same shape and every map is 192x256: streams of
  // any frame size batch together.
  return window.frames.empty() ? std::vector<std::int64_t>{} : window.frames.front().sizes().vec();
}

torch::Tensor TinyHDModel::predict(const std::vector<Window> &windows) {
  if (windows.empty()) throw ModelError("tinyhd: predict() needs at least one window");
  std::vector<torch::Tensor> features;
  features.reserve(windows.size());
  for (const auto &window : windows) {
    if (static_cast<int>(window.frames.size()) != kTinyHDWindow)
      throw ModelError("tinyhd: a window must hold 16 frames, got " + std::to_string(window.frames.size()));
    features.push_back(torch::stack(window.frames, 0));  // (16, 3C, h, w)
  }
  const auto maps = fused_->forward_features(torch::stack(features, 0).to(device_));
  // (B, T, H, W): the map of the window's last frame (the multi-output
  // network gives one for every frame; its last is the causal one).
  return maps.select(1, maps.size(1) - 1).to(torch::kFloat32);
}

void TinyHDModel::to(torch::Device device, torch::Dtype dtype) {
  if (dtype != torch::kFloat32) throw ModelError("tinyhd: runs in fp32 only");
  move_module(*net_, device, dtype);
  device_ = device;
  weights_changed();
}

std::int64_t TinyHDModel::parameter_count() const { return count_parameters(*net_); }
std::int64_t TinyHDModel::buffer_count() const { return count_float_buffers(*net_); }

void TinyHDModel::weights_changed() { fused_ = std::make_unique<tinyhd::FusedTinyHD>(*net_); }

void TinyHDModel::reset_parameters(std::uint64_t seed) {
  tinyhd::reset_parameters(*net_, seed);
  weights_changed();
}

std::unique_ptr<SaliencyModel> create_tinyhd_model(const ModelConfig &config) {
  if (config.weights.empty() && !config.random_init)
    throw ModelError(
        "tinyhd needs weights: pass --weights d123s_rc4_rc1T.pth (published in the weights/ folder of "
        "github.com/feiyanhu/tinyHD) or --random-init for training from scratch and tests");
  if (config.weights.empty()) {
    auto model = std::make_unique<TinyHDModel>(tinyhd::TinyHDArch::published_single_rc4());
    model->reset_parameters(config.seed);
    return model;
  }
  const StateDict state = read_tinyhd_checkpoint(config.weights);
  const TinyHDVariant variant = infer_tinyhd_variant(state, config.weights);
  auto model = std::make_unique<TinyHDModel>(tinyhd::TinyHDArch::from_state_dict(state, variant, config.weights));
  load_state_dict(*model->network(), state, config.weights);
  model->network()->eval();
  model->check_shapes(config.weights);
  model->weights_changed();
  return model;
}

void TinyHDModel::check_shapes(const std::string &source) {
  // The aggregator's widths come from the file: one tiny forward pass proves
  // that they fit together (a 32x32 grid, 16 frames: a few milliseconds).
  try {
    c10::InferenceMode inference;
    net_->forward(torch::zeros({1, 3, kTinyHDWindow, 32, 32}));
  } catch (const c10::Error &e) {
    std::string what = e.what_without_backtrace();
    what = what.substr(0, what.find('\n'));
    throw ModelError(source + ": a TinyHD layout we do not know: its layers do not fit together (" + what +
                     ")");
  }
}

}  // namespace model
