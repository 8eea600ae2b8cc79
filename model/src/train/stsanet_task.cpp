// STSANet training task (model-spec A.8, A.10, C.3): 32-frame clips resized
// with Pillow's bilinear filter and ImageNet-normalised, loss KL - CC at the
// label frame against the map resized with cv2.resize.
#include "salmodel/losses.hpp"
#include "salmodel/resample.hpp"
#include "salmodel/stsanet.hpp"
#include "train_task.hpp"

namespace model::train {

namespace {

class StsanetTask : public TrainTask {
 public:
  explicit StsanetTask(const TrainOptions &o)
      : net_(STSANetOptions()
                 .width_divisor(o.width_divisor)
                 .height(o.height > 0 ? o.height : 224)
                 .width(o.width > 0 ? o.width : 384)
                 .window(o.window > 0 ? o.window : 32)) {
    net_->reset_parameters(o.seed);
  }

  torch::nn::Module &network() override { return *net_; }

  data::ClipSpec clip_spec(data::Layout layout) const override {
    auto spec = data::clip_spec(ModelKind::STSANet, layout);
    const int window = static_cast<int>(net_->geometry().window);
    if (spec.frames != window) {
      // Same label rule as the official 32 frames: index window/2 - 1, or the
      // DIEM offset label at index 0 (model-spec A.13).
      for (auto &l : spec.label_frames)
        if (l != 0) l = window / 2 - 1;
      spec.frames = window;
    }
    return spec;
  }

  void prepare(data::Sample &s) const override {
    const auto &g = net_->geometry();
    const auto mean = torch::tensor({0.485f, 0.456f, 0.406f}).view({3, 1, 1});
    const auto std = torch::tensor({0.229f, 0.224f, 0.225f}).view({3, 1, 1});
    std::vector<torch::Tensor> frames;
    frames.reserve(static_cast<size_t>(s.frames.size(0)));
    for (int64_t t = 0; t < s.frames.size(0); t++) {
      // The A.8 chain, as STSANetModel::prepare_frame computes it.
      auto x = resize_bilinear_pil(s.frames[t], g.height, g.width)
                   .permute({2, 0, 1})
                   .to(torch::kFloat32)
                   .div_(255);
      frames.push_back(x.sub_(mean).div_(std));
    }
    s.prepared.clear();
    s.prepared.push_back(torch::stack(frames, 1));  // (3, T, h, w)
    if (s.maps.defined()) {
      s.prepared.push_back(resize_maps_linear(s.maps, g.height, g.width));
      s.prepared.push_back(resize_fixations_points(s.fixations, g.height, g.width));
    }
  }

  torch::Tensor loss(const std::vector<data::Sample> &batch, torch::Device device) override {
    auto [pred, gt] = forward(batch, device);
    return losses::stsanet_loss(pred, gt);
  }

  Evaluation evaluate(const std::vector<data::Sample> &batch, torch::Device device) override {
    torch::NoGradGuard no_grad;
    auto [pred, gt] = forward(batch, device);
    return evaluate_kl_cc(pred, gt);
  }

  std::size_t load_backbone(const std::string &path) override {
    return load_s3d_backbone(*net_, path);
  }

  std::string describe() const override {
    const auto &g = net_->geometry();
    return "stsanet width/" + std::to_string(net_->options().width_divisor()) + " " +
           std::to_string(g.height) + "x" + std::to_string(g.width) + " window " +
           std::to_string(g.window);
  }
  double default_lr() const override { return 1e-4; }
  int default_epochs() const override { return 80; }
  int default_batch() const override { return 3; }

 private:
  // Clips (B, 3, T, h, w) -> predictions (B, h, w) float32 and targets (B, h, w).
  std::pair<torch::Tensor, torch::Tensor> forward(const std::vector<data::Sample> &batch,
                                                  torch::Device device) {
    std::vector<torch::Tensor> clips, maps;
    for (const auto &s : batch) {
      clips.push_back(s.prepared.at(0));
      maps.push_back(s.prepared.at(1).select(0, 0));
    }
    const auto dtype = net_->parameters().front().scalar_type();
    auto pred = net_->forward(torch::stack(clips).to(device, dtype)).to(torch::kFloat32);
    return {pred, torch::stack(maps).to(device)};
  }

  STSANet net_;
};

}  // namespace

std::unique_ptr<TrainTask> make_stsanet_task(const TrainOptions &options) {
  return std::make_unique<StsanetTask>(options);
}

}  // namespace model::train
