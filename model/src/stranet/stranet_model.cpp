// STRA-Net behind the SaliencyModel interface: official pre-processing
// (model-spec B.10), stateful per-frame inference (B.11), weights (B.9).
#include <fstream>

#include "salmodel/checkpoint.hpp"
#include "salmodel/module_utils.hpp"
#include "salmodel/resample.hpp"
#include "salmodel/stranet.hpp"

namespace model {

using namespace stranet;

STRANetModel::STRANetModel(const STRANetOptions &options) : net_(options) { net_->eval(); }

WindowSpec STRANetModel::window_spec() const {
  // Frame t uses flows t .. t+4 (B.10.2), i.e. frames t .. t+5; flows on the
  // frame's own grid, as FlowNet 2.0 .flo files are (flow_width 0).
  WindowSpec spec;
  spec.frames_before = 0;
  spec.frames_after = int(kFlowsPerFrame);
  spec.needs_flow = true;
  spec.flow_width = 0;
  spec.recurrent = true;
  return spec;
}

STRANetModel::Letterbox STRANetModel::letterbox(int64_t height, int64_t width) {
  // utilities.padding (B.10.1): fit the longer side, integer division, centred.
  const int64_t n = kInputSize;
  if (height <= 0 || width <= 0) throw ModelError("stranet: empty frame");
  if (double(height) / n > double(width) / n) {
    const int64_t cols = std::max<int64_t>(1, width * n / height);
    return {n, cols, 0, (n - cols) / 2};
  }
  const int64_t rows = std::max<int64_t>(1, height * n / width);
  return {rows, n, (n - rows) / 2, 0};
}

torch::Tensor STRANetModel::prepare_frame(const torch::Tensor &rgb) const {
  if (rgb.scalar_type() != torch::kUInt8 || rgb.dim() != 3 || rgb.size(2) != 3)
    throw ModelError("stranet: frames must be uint8 (H, W, 3) RGB tensors");
  const Letterbox box = letterbox(rgb.size(0), rgb.size(1));
  auto resized = resize_bilinear_pil(rgb, box.rows, box.cols).to(torch::kFloat32);
  auto canvas = torch::zeros({kInputSize, kInputSize, 3}, resized.options());
  canvas.narrow(0, box.top, box.rows).narrow(1, box.left, box.cols).copy_(resized);
  // [parity] The official code subtracts the Caffe BGR means from the RGB
  // array and only then reverses to BGR, so B - 123.68, G - 116.779,
  // R - 103.939 (B.10.1); padded pixels become -mean. No scaling.
  canvas -= torch::tensor({103.939f, 116.779f, 123.68f}, canvas.options());
  return canvas.flip({2}).permute({2, 0, 1}).contiguous().to(dtype_);
}

torch::Tensor STRANetModel::prepare_flow(const torch::Tensor &flow, int frame_width, int frame_height) const {
  if (flow.dim() != 3 || flow.size(2) != 2 || !flow.is_floating_point())
    throw ModelError("stranet: flows must be float (h, w, 2) tensors");
  const int64_t h = flow.size(0), w = flow.size(1);
  if (h < 1 || w < 1) throw ModelError("stranet: empty flow");
  const auto box = letterbox(frame_height > 0 ? frame_height : h, frame_width > 0 ? frame_width : w);
  auto uv = flow.to(torch::kFloat32).permute({2, 0, 1});  // (2, h, w): u, v
  torch::Tensor placed;
  if (net_->options().flow_resize() == FlowResize::NumpyResize) {
    // [parity] np.resize of each component (B.10.2): the plane flattened in C
    // order, truncated or cyclically repeated to rows x cols; vectors stay in
    // pixels of the original frame (FlowNet 2.0 .flo at frame resolution).
    const double fw = frame_width > 0 ? frame_width : w, fh = frame_height > 0 ? frame_height : h;
    auto scale = torch::tensor({float(fw / w), float(fh / h)}, uv.options()).view({2, 1, 1});
    auto flat = (uv * scale).reshape({2, h * w});
    auto idx = torch::arange(box.rows * box.cols, flat.options().dtype(torch::kLong)).remainder_(h * w);
    placed = flat.index_select(1, idx).view({2, box.rows, box.cols});
  } else {
    // Geometric resize into the letterbox, vectors in letterbox pixels.
    placed = torch::nn::functional::interpolate(
                 uv.unsqueeze(0), torch::nn::functional::InterpolateFuncOptions()
                                      .size(std::vector<int64_t>{box.rows, box.cols})
                                      .mode(torch::kBilinear)
                                      .align_corners(false))
                 .squeeze(0);
    placed = placed * torch::tensor({float(double(box.cols) / w), float(double(box.rows) / h)}, uv.options())
                          .view({2, 1, 1});
  }
  auto canvas = torch::zeros({2, kInputSize, kInputSize}, uv.options());
  canvas.narrow(1, box.top, box.rows).narrow(2, box.left, box.cols).copy_(placed);
  // Per-component clipping after padding (B.10.2, B.13.5).
  canvas.masked_fill_(canvas.abs() < 0.1, 0.0);
  return canvas.clamp_(-20.0, 20.0).to(dtype_);
}

torch::Tensor STRANetModel::stack_flows(const std::vector<torch::Tensor> &flows) {
  if (int64_t(flows.size()) != kFlowsPerFrame)
    throw ModelError("stranet: a frame needs " + std::to_string(kFlowsPerFrame) + " flows, got " +
                     std::to_string(flows.size()));
  // [u_t, v_t, ..., u_t+4, v_t+4], then the 10 channels reversed (B.10.2).
  return torch::cat(flows, 0).flip({0});
}

torch::Tensor STRANetModel::predict(const std::vector<Window> &windows) {
  if (windows.empty()) throw ModelError("stranet: predict() needs at least one window");
  c10::InferenceMode inference;
  std::vector<torch::Tensor> images, flows;
  for (const auto &window : windows) {
    if (window.frames.empty()) throw ModelError("stranet: a window must hold its target frame");
    const auto &f = window.frames[0];
    if (f.dim() != 3 || f.size(0) != 3 || f.size(1) != kInputSize || f.size(2) != kInputSize)
      throw ModelError("stranet: prepared frames must be (3, 224, 224)");
    for (const auto &fl : window.flows)
      if (fl.dim() != 3 || fl.size(0) != 2 || fl.size(1) != kInputSize || fl.size(2) != kInputSize)
        throw ModelError("stranet: prepared flows must be (2, 224, 224)");
    images.push_back(f);
    flows.push_back(stack_flows(window.flows));
  }
  // Consecutive windows of one stream form one sequence: the GRU steps
  // through them in order from the stream's state and leaves it there for the
  // stream's next call (B.5, B.11). Windows of other streams start their own;
  // windows without a state form one sequence from zero and keep nothing.
  std::vector<torch::Tensor> maps;
  for (std::size_t first = 0; first < windows.size();) {
    std::size_t end = first + 1;
    while (end < windows.size() && windows[end].state == windows[first].state) ++end;
    auto *gru = dynamic_cast<GruState *>(windows[first].state);
    torch::Tensor state = gru ? gru->state : torch::Tensor();
    auto out = net_->forward(
        torch::stack(std::vector<torch::Tensor>(images.begin() + first, images.begin() + end))
            .to(device_, dtype_)
            .contiguous(memory_format_),
        torch::stack(std::vector<torch::Tensor>(flows.begin() + first, flows.begin() + end))
            .to(device_, dtype_)
            .contiguous(memory_format_),
        state);
    if (gru) gru->state = state;
    // Back to the frame's aspect: the letterbox region of the 224x224 map.
    const auto &w = windows[first];
    const Letterbox box = w.frame_width > 0 && w.frame_height > 0 ? letterbox(w.frame_height, w.frame_width)
                                                                  : Letterbox{kInputSize, kInputSize, 0, 0};
    maps.push_back(out.narrow(1, box.top, box.rows).narrow(2, box.left, box.cols).to(torch::kFloat32));
    first = end;
  }
  return maps.size() == 1 ? maps[0] : torch::cat(maps, 0);
}

void STRANetModel::to(torch::Device device, torch::Dtype dtype) {
  move_module(*net_, device, dtype);  // keeps the int64 num_batches_tracked counters
  if (device.is_cpu()) {
    // Channels-last kernels (and inputs, in predict): oneDNN's native layout,
    // which keeps the many 1x1 convs at 28x28 off the reorder path (1x1
    // 2048->512 at 28x28: 14 -> 21 GMAC/s measured on the 2-core machine).
    torch::NoGradGuard no_grad;
    for (auto &p : net_->parameters())
      if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
    memory_format_ = torch::MemoryFormat::ChannelsLast;
  } else {
    memory_format_ = torch::MemoryFormat::Contiguous;
  }
  device_ = device;
  dtype_ = dtype;
}

std::int64_t STRANetModel::parameter_count() const { return count_parameters(*net_); }

std::int64_t STRANetModel::buffer_count() const { return count_float_buffers(*net_); }

void STRANetModel::load_weights(const std::string &path) {
  import_keras_h5(*net_, path);
  net_->eval();
}

namespace {

// torch.save files are zip archives ("PK\x03\x04"); Keras weights are HDF5.
bool is_torch_checkpoint(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  return in && magic[0] == 'P' && magic[1] == 'K' && magic[2] == 3 && magic[3] == 4;
}

}  // namespace

std::unique_ptr<SaliencyModel> create_stranet_model(const ModelConfig &config) {
  if (config.weights.empty() && !config.random_init)
    throw ModelError(
        "stranet needs weights: pass --weights UHD_dcross_res_matt_res.h5 (the official Keras weights, "
        "linked from github.com/ashleylqx/STRA-Net) or --random-init for tests");
  if (config.weights.empty()) {
    auto model = std::make_unique<STRANetModel>();
    model->network()->reset_parameters(config.seed);
    return model;
  }
  if (!is_torch_checkpoint(config.weights)) {
    auto model = std::make_unique<STRANetModel>();
    model->load_weights(config.weights);  // the official Keras .h5
    return model;
  }
  // A state dict of this module tree (saliency-train's best.pth / last.pth):
  // the width divisor is the one whose shapes load strictly.
  StateDict state;
  for (auto &[key, tensor] : read_checkpoint(config.weights))
    if (key.rfind("optimizer.", 0) != 0 && key.rfind("trainer.", 0) != 0 &&
        key.rfind("feature_head.", 0) != 0)
      state.emplace_back(key, tensor);
  std::int64_t stem = -1;
  for (const auto &[key, tensor] : state)
    if (key == "appearance.A_conv1.weight" && tensor.dim() == 4) stem = tensor.size(0);
  std::string first_error;
  for (std::int64_t d = 1; d <= 64; d++) {
    if (stem >= 0 && stranet::Widths(d)(64) != stem) continue;
    auto model = std::make_unique<STRANetModel>(STRANetOptions().width_divisor(d));
    try {
      load_state_dict(*model->network(), state, config.weights);
    } catch (const ModelError &e) {
      if (first_error.empty()) first_error = e.what();
      continue;
    }
    model->network()->eval();
    return model;
  }
  throw ModelError(first_error.empty() ? config.weights + ": not a STRA-Net state dict" : first_error);
}

}  // namespace model
