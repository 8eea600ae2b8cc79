// STRA-Net training task (model-spec B.10, B.12, C.4): 5-frame samples taken
// every 2nd frame, each frame with its 5 forward flows, letterboxed to 224x224
// exactly as inference prepares them (STRANetModel::prepare_frame/flow), and
// the official two stages:
//  - "feature": the feature net alone; outputs pred = sigmoid(conv1x1(x5)) and
//    the side outputs sd3..sd5, all at 28x28, against 28x28 letterboxed
//    targets, loss stranet_feature_loss. The pred conv is not part of the
//    inference network: it is saved as `feature_head.*`, which a stage-2 run
//    started with --init ignores;
//  - "whole": GRU, prior and head on top, final map and x8-upsampled side
//    outputs at 224x224, loss stranet_model_loss (sd3 standing in for sd5's
//    NSS term, as the official output list does).
// The official generator's indexing bugs (zero flows for frames 1 and 3,
// misaligned fixations, model-spec B.12) are not reproduced: every frame gets
// its own flows and targets.
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "salmodel/checkpoint.hpp"
#include "salmodel/losses.hpp"
#include "salmodel/resample.hpp"
#include "salmodel/stranet.hpp"
#include "train_task.hpp"

namespace model::train {

namespace {

using stranet::kFeatureSize;
using stranet::kFlowsPerFrame;
using stranet::kInputSize;

// The letterbox of an (h, w) frame in an n x n square (model-spec B.10.1 with
// n in place of 224; the targets of stage 1 use n = 28, as preprocess_maps does).
STRANetModel::Letterbox letterbox_n(int64_t h, int64_t w, int64_t n) {
  if (double(h) / n > double(w) / n) {
    const int64_t cols = std::max<int64_t>(1, w * n / h);
    return {n, cols, 0, (n - cols) / 2};
  }
  const int64_t rows = std::max<int64_t>(1, h * n / w);
  return {rows, n, (n - rows) / 2, 0};
}

// Targets (L, H, W) -> (L, n, n) letterboxed (zero bars), resized into the
// box by `resize` (bilinear for continuous maps, point remapping for fixations).
torch::Tensor letterbox_targets(const torch::Tensor &targets, int64_t n,
                                torch::Tensor (*resize)(const torch::Tensor &, int64_t, int64_t)) {
  const auto box = letterbox_n(targets.size(1), targets.size(2), n);
  auto out = torch::zeros({targets.size(0), n, n});
  out.narrow(1, box.top, box.rows).narrow(2, box.left, box.cols).copy_(resize(targets, box.rows, box.cols));
  return out;
}

class StranetTask : public TrainTask {
 public:
  explicit StranetTask(const TrainOptions &o)
      : feature_stage_(o.stage == "feature"),
        net_(STRANetOptions().width_divisor(o.width_divisor)),
        // The pre-processing of inference, on a network too small to matter
        // (prepare_frame/prepare_flow do not use the weights).
        preprocessor_(STRANetOptions().width_divisor(4096)) {
    if (o.stage != "feature" && o.stage != "whole")
      throw TrainError("--stage " + o.stage + ": expected feature or whole");
    net_->reset_parameters(o.seed);
    holder_ = std::make_shared<torch::nn::Module>("STRANetTraining");
    holder_->register_module("net", net_);
    if (feature_stage_) {
      const auto channels = net_->side5->options.in_channels();
      feature_head_ = torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, 1, 1));
      torch::NoGradGuard no_grad;
      const double limit = std::sqrt(6.0 / double(channels + 1));  // Keras glorot_uniform
      auto gen = at::detail::createCPUGenerator(o.seed + 1);
      feature_head_->weight.uniform_(-limit, limit, gen);
      feature_head_->bias.zero_();
      holder_->register_module("feature_head", feature_head_);
    }
  }

  torch::nn::Module &network() override { return *holder_; }

  data::ClipSpec clip_spec(data::Layout layout) const override {
    return data::clip_spec(ModelKind::STRANet, layout);
  }

  void prepare(data::Sample &s) const override {
    const int64_t frames = s.frames.size(0);
    const int64_t height = s.frames.size(1), width = s.frames.size(2);
    std::vector<torch::Tensor> images, motions;
    const int step = spec_step(s);
    for (int64_t t = 0; t < frames; t++) {
      images.push_back(preprocessor_.prepare_frame(s.frames[t]));  // const: loader threads share it
      // Flows t*step .. t*step + 4 of the clip (flow i: clip start + i -> + i + 1).
      std::vector<torch::Tensor> flows;
      for (int64_t k = 0; k < kFlowsPerFrame; k++) {
        const int64_t i = std::min<int64_t>(t * step + k, s.flows.size(0) - 1);
        flows.push_back(preprocessor_.prepare_flow(s.flows[i], int(width), int(height)));
      }
      motions.push_back(STRANetModel::stack_flows(flows));
    }
    s.prepared.clear();
    s.prepared.push_back(torch::stack(images));   // (T, 3, 224, 224)
    s.prepared.push_back(torch::stack(motions));  // (T, 10, 224, 224)
    if (s.maps.defined()) {
      const int64_t n = feature_stage_ ? kFeatureSize : kInputSize;
      s.prepared.push_back(letterbox_targets(s.maps, n, resize_maps_linear));
      s.prepared.push_back(letterbox_targets(s.fixations, n, resize_fixations_points));
    }
  }

  torch::Tensor loss(const std::vector<data::Sample> &batch, torch::Device device) override {
    torch::Tensor total;
    for (const auto &s : batch) {
      losses::StraNetOutputs out;
      auto l = sample_loss(s, device, out);
      total = total.defined() ? total + l : l;
    }
    return total / double(batch.size());
  }

  Evaluation evaluate(const std::vector<data::Sample> &batch, torch::Device device) override {
    torch::NoGradGuard no_grad;
    Evaluation e;
    torch::Tensor total;
    for (const auto &s : batch) {
      losses::StraNetOutputs out;
      auto l = sample_loss(s, device, out);
      total = total.defined() ? total + l : l;
      // The letterbox region of every frame's final map.
      const int64_t n = out.final_map.size(-1);
      const auto box = letterbox_n(s.frames.size(1), s.frames.size(2), n);
      const auto maps = out.final_map.detach().to(torch::kCPU, torch::kFloat32);
      std::vector<cv::Mat> per_frame;
      for (int64_t t = 0; t < maps.size(0); t++) {
        auto crop = maps[t].narrow(0, box.top, box.rows).narrow(1, box.left, box.cols).contiguous();
        per_frame.push_back(
            cv::Mat(int(box.rows), int(box.cols), CV_32F, crop.data_ptr<float>()).clone());
      }
      e.maps.push_back(std::move(per_frame));
    }
    e.loss = total / double(batch.size());
    return e;
  }

  std::size_t load_backbone(const std::string &path) override {
    return init_from_torchvision_resnet50(*net_, path);
  }

  StateDict weights() const override {
    // Keys of the inference network (STRANetImpl), plus feature_head.* in stage 1.
    StateDict out;
    for (const auto &[name, tensor] : module_state_dict(*net_))
      out.emplace_back(name, tensor.detach().to(torch::kCPU).clone());
    if (feature_head_)
      for (const auto &[name, tensor] : module_state_dict(*feature_head_))
        out.emplace_back("feature_head." + name, tensor.detach().to(torch::kCPU).clone());
    return out;
  }

  void load_weights(const StateDict &state, const std::string &source) override {
    StateDict net_state, head_state;
    for (const auto &[k, v] : state)
      if (k.rfind("feature_head.", 0) == 0)
        head_state.emplace_back(k.substr(13), v);
      else
        net_state.emplace_back(k, v);
    load_state_dict(*net_, net_state, source);
    if (feature_head_ && !head_state.empty()) load_state_dict(*feature_head_, head_state, source);
  }

  std::string describe() const override {
    return std::string("stranet width/") + std::to_string(net_->options().width_divisor()) +
           " stage " + (feature_stage_ ? "feature" : "whole");
  }
  double default_lr() const override { return 1e-5; }
  int default_epochs() const override { return 100; }
  int default_batch() const override { return 1; }

 private:
  static int spec_step(const data::Sample &s) {
    // Flows cover the clip's span: (frames - 1) * step + 5 flows.
    const int64_t frames = s.frames.size(0);
    return frames > 1 ? int((s.flows.size(0) - kFlowsPerFrame) / (frames - 1)) : 1;
  }

  // The stage's loss of one sample; `out` receives the network outputs.
  torch::Tensor sample_loss(const data::Sample &s, torch::Device device, losses::StraNetOutputs &out) {
    out = outputs(s, device);
    const auto map = s.prepared.at(2).to(device), fix = s.prepared.at(3).to(device);
    return feature_stage_ ? losses::stranet_feature_loss(out, map, fix)
                          : losses::stranet_model_loss(out, map, fix);
  }

  losses::StraNetOutputs outputs(const data::Sample &s, torch::Device device) {
    const auto dtype = net_->parameters().front().scalar_type();
    const auto image = s.prepared.at(0).to(device, dtype),
               flow = s.prepared.at(1).to(device, dtype);
    stranet::Trace trace;
    auto x5 = net_->features(image, flow, &trace);
    losses::StraNetOutputs out;
    if (feature_stage_) {
      out.final_map = torch::sigmoid(feature_head_(x5)).squeeze(1).to(torch::kFloat32);
      out.sd3 = trace.sd3.squeeze(1).to(torch::kFloat32);
      out.sd4 = trace.sd4.squeeze(1).to(torch::kFloat32);
      out.sd5 = trace.sd5.squeeze(1).to(torch::kFloat32);
      return out;
    }
    // The GRU over the sample's frames from a zero state (non-stateful
    // training, B.12), as STRANetImpl::forward steps it.
    auto gates = net_->ConvGRU2D->input_gates(x5);
    auto state =
        torch::zeros({1, net_->ConvGRU2D->filters(), x5.size(2), x5.size(3)}, x5.options());
    std::vector<torch::Tensor> maps;
    for (int64_t t = 0; t < x5.size(0); ++t) {
      state = net_->ConvGRU2D->step(gates.narrow(0, t, 1), state);
      maps.push_back(net_->head(state));
    }
    const auto up = [](const torch::Tensor &sd) {
      return stranet::resize_bilinear_tf_legacy(sd.squeeze(1), kInputSize, kInputSize)
          .to(torch::kFloat32);
    };
    out.final_map = torch::cat(maps, 0).to(torch::kFloat32);
    out.sd3 = up(trace.sd3);
    out.sd4 = up(trace.sd4);
    out.sd5 = up(trace.sd5);
    return out;
  }

  bool feature_stage_;
  STRANet net_;
  torch::nn::Conv2d feature_head_{nullptr};
  std::shared_ptr<torch::nn::Module> holder_;
  STRANetModel preprocessor_;  // prepare_frame/prepare_flow only (const)
};

}  // namespace

std::unique_ptr<TrainTask> make_stranet_task(const TrainOptions &options) {
  return std::make_unique<StranetTask>(options);
}

}  // namespace model::train
