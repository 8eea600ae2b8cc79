// STSANet behind the SaliencyModel interface: official pre-processing
// (model-spec A.8), windows (A.9) and weights (A.7).
#include <map>

#include "salmodel/checkpoint.hpp"
#include "salmodel/module_utils.hpp"
#include "salmodel/resample.hpp"
#include "salmodel/stsanet.hpp"

namespace model {

STSANetModel::STSANetModel(const STSANetOptions &options) : net_(options) { net_->eval(); }

std::vector<std::int64_t> STSANetModel::batch_key(const Window &window) const {
  return window.frames.empty() ? std::vector<std::int64_t>{} : window.frames.front().sizes().vec();
}

WindowSpec STSANetModel::window_spec() const {
  // Target at clip index window/2 - 1 (15 of 32): the official label is file
  // start+16 of the clip's files start+1 .. start+32 (model-spec A.9).
  WindowSpec spec;
  spec.frames_before = static_cast<int>(net_->geometry().window / 2 - 1);
  spec.frames_after = static_cast<int>(net_->geometry().window / 2);
  return spec;
}

torch::Tensor STSANetModel::prepare_frame(const torch::Tensor &rgb) const {
  if (rgb.scalar_type() != torch::kUInt8 || rgb.dim() != 3 || rgb.size(2) != 3)
    throw ModelError("stsanet: frames must be uint8 (H, W, 3) RGB tensors");
  const auto &g = net_->geometry();
  // PIL convert('RGB') -> Resize((224, 384)) (Pillow bilinear) -> ToTensor ->
  // Normalize(ImageNet mean/std), in that order and arithmetic (A.8).
  auto x =
      resize_bilinear_pil(rgb, g.height, g.width).permute({2, 0, 1}).to(torch::kFloat32).div_(255);
  const auto options = x.options();
  const auto mean = torch::tensor({0.485f, 0.456f, 0.406f}, options).view({3, 1, 1});
  const auto std = torch::tensor({0.229f, 0.224f, 0.225f}, options).view({3, 1, 1});
  return x.sub_(mean).div_(std).to(dtype_);
}

torch::Tensor STSANetModel::predict(const std::vector<Window> &windows) {
  const auto &g = net_->geometry();
  if (windows.empty()) throw ModelError("stsanet: predict() needs at least one window");
  c10::InferenceMode inference;
  std::vector<torch::Tensor> clips;
  for (const auto &window : windows) {
    if (static_cast<int64_t>(window.frames.size()) != g.window)
      throw ModelError("stsanet: a window must hold " + std::to_string(g.window) + " frames, got " +
                       std::to_string(window.frames.size()));
    for (const auto &frame : window.frames)
      if (frame.dim() != 3 || frame.size(0) != 3 || frame.size(1) != g.height ||
          frame.size(2) != g.width)
        throw ModelError("stsanet: prepared frames must be (3, " + std::to_string(g.height) + ", " +
                         std::to_string(g.width) + ")");
  }
  const stsanet::ChannelsLastScope channels_last(tuning_.channels_last);
  // One window of a stream at a time (the streaming case): base1 reuses the
  // rows the stream's previous windows computed (its StemCache).
  auto *cache = windows.size() == 1 ? dynamic_cast<StreamCache *>(windows[0].state) : nullptr;
  if (cache && tuning_.stem_reuse && !net_->is_training() && !cuda_graphs_) {
    bool prepared = true;
    for (const auto &frame : windows[0].frames)
      prepared &= frame.device() == device_ && frame.scalar_type() == dtype_;
    if (prepared)
      return net_->forward_frames(windows[0].frames, cache->stem).to(torch::kFloat32);
  }
  // A batch recomputes base1 (the cache serves one window at a time); the
  // streams' cached rows go, so that no stream holds frames it will not reuse.
  for (const auto &window : windows)
    if (auto *c = dynamic_cast<StreamCache *>(window.state)) c->stem.clear();
  clips.reserve(windows.size());
  for (const auto &window : windows) clips.push_back(torch::stack(window.frames, 1));  // (3, T, H, W)
  // One window is its own batch (a view): no second 33 MB copy at batch 1.
  auto batch =
      (clips.size() == 1 ? clips[0].unsqueeze(0) : torch::stack(clips, 0)).to(device_, dtype_);
  clips.clear();
  if (cuda_graphs_ && device_.is_cuda() && !net_->is_training()) {
    const stsanet::ChannelsLastScope graph_layout(true);
    auto &net = *net_;
    // A copy: the graph's output buffer is overwritten by the next replay.
    auto &graph = graphs_[batch.size(0)];
    if (!graph) graph = std::make_unique<CudaGraphedCall>();
    return (*graph)(batch, [&net](const torch::Tensor &x) { return net.forward(x); })
        .to(torch::kFloat32, /*non_blocking=*/false, /*copy=*/true);
  }
  return net_->forward(batch).to(torch::kFloat32);
}

void STSANetModel::set_cuda_graphs(bool enabled) {
  if (!enabled) {
    graphs_.clear();
    cuda_graphs_ = false;
    return;
  }
  if (!cuda_graphs_available())
    throw ModelError("stsanet: CUDA graphs are not available in this build (it needs a CUDA LibTorch)");
  cuda_graphs_ = true;
  // cuDNN autotuning (at::globalContext().setBenchmarkCuDNN) is left to the
  // application: the setting is process-wide, and in fp32 its trial workspaces
  // multiply the GPU's peak allocation for a small gain (docs/performance.md).
}

void STSANetModel::to(torch::Device device, torch::Dtype dtype) {
  move_module(*net_, device, dtype);  // keeps the int64 num_batches_tracked counters
  device_ = device;
  dtype_ = dtype;
}

std::int64_t STSANetModel::parameter_count() const { return count_parameters(*net_); }

std::int64_t STSANetModel::buffer_count() const { return count_float_buffers(*net_); }

namespace {

// Weights of a checkpoint: saliency-train's last.pth also holds optimiser and
// loop state under these prefixes (model/README-training.md).
StateDict network_weights(StateDict state) {
  StateDict weights;
  for (auto &[key, tensor] : state)
    if (key.rfind("optimizer.", 0) != 0 && key.rfind("trainer.", 0) != 0)
      weights.emplace_back(key, tensor);
  return weights;
}

// The options a checkpoint was trained with, read from its shapes (small
// configurations of saliency-train): input size from ln_3_0 (C, 4, H/32, W/32),
// window from branch0_pre's temporal kernel (window / 8), width divisor as the
// smallest one whose widths match. The official shapes give the defaults;
// anything unrecognised also does, and the strict load reports it.
STSANetOptions options_from_shapes(const StateDict &state) {
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const auto &[key, tensor] : state)
    shapes[key.rfind("module.", 0) == 0 ? key.substr(7) : key] = tensor.sizes().vec();
  const auto dim = [&](const std::string &key, size_t rank, size_t i) -> int64_t {
    const auto it = shapes.find(key);
    return it != shapes.end() && it->second.size() == rank ? it->second[i] : -1;
  };
  STSANetOptions options;
  const int64_t h = dim("ln_3_0.weight", 4, 2), w = dim("ln_3_0.weight", 4, 3);
  const int64_t c = dim("branch0_pre.0.weight", 5, 2);
  if (h < 1 || w < 1 || c < 1) return options;
  options.height(32 * h).width(32 * w).window(8 * c);
  for (int64_t d = 1; d <= 512; d++) {
    try {
      const stsanet::Geometry g(STSANetOptions(options).width_divisor(d));
      bool match = dim("base1.0.conv_s.weight", 5, 0) == g.stem0 &&
                   dim("readout_2.4.weight", 5, 1) == g.readout1;
      for (size_t i = 0; i < 4 && match; i++)
        match = dim("ln_" + std::to_string(i) + "_0.weight", 4, 0) == g.level_channels[i] &&
                dim("ln_" + std::to_string(i) + "_1.weight", 4, 0) == g.mid_channels[i];
      if (match) return options.width_divisor(d);
    } catch (const ModelError &) {
      return STSANetOptions();
    }
  }
  return STSANetOptions();
}

}  // namespace

void STSANetModel::load_weights(const std::string &path) {
  // Strict: every key and shape of the official state dict, `module.`
  // stripped, num_batches_tracked optional (model-spec A.7, Part D item 1).
  load_state_dict(*net_, network_weights(read_checkpoint(path)), path);
  net_->eval();
}

std::unique_ptr<SaliencyModel> create_stsanet_model(const ModelConfig &config) {
  if (config.weights.empty() && !config.random_init)
    throw ModelError(
        "stsanet needs weights: pass --weights STSANet_DHF1K.pth (the official checkpoint, linked "
        "from github.com/WZq975/STSANet) or --random-init for tests");
  if (config.weights.empty()) {
    auto model = std::make_unique<STSANetModel>();
    model->network()->reset_parameters(config.seed);
    model->set_tuning(config.stsanet);
    return model;
  }
  // The architecture follows the checkpoint (official, or a small trained one).
  auto state = network_weights(read_checkpoint(config.weights));
  auto model = std::make_unique<STSANetModel>(options_from_shapes(state));
  load_state_dict(*model->network(), state, config.weights);
  model->network()->eval();
  model->set_tuning(config.stsanet);
  return model;
}

}  // namespace model
