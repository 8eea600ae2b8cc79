// TinyHD training task: 16-frame clips labelled at their last frame, frames
// prepared exactly as inference prepares them (tinyhd-spec A.3), the
// project's KL - CC loss (the official recipe distils from a teacher network
// we do not have; docs/tinyhd.md). Fine-tuning starts from --init (the
// published checkpoint or one of ours; the architecture follows the file),
// training from scratch from the published single-output reduction-4 shapes.
#include "../tinyhd/tinyhd_model.hpp"
#include "salmodel/losses.hpp"
#include "train_task.hpp"

namespace model::train {

namespace {

tinyhd::TinyHDArch arch_for(const TrainOptions &o) {
  if (o.init.empty()) return tinyhd::TinyHDArch::published_single_rc4();
  // A checkpoint of ours (best.pth / last.pth) holds more than weights; only
  // the tensors the shapes need are looked at.
  const StateDict state = read_checkpoint(o.init);
  return tinyhd::TinyHDArch::from_state_dict(state, infer_tinyhd_variant(state, o.init), o.init);
}

class TinyhdTask : public TrainTask {
 public:
  explicit TinyhdTask(const TrainOptions &o) : net_(arch_for(o)) {
    tinyhd::reset_parameters(*net_, o.seed);
  }

  torch::nn::Module &network() override { return *net_; }

  data::ClipSpec clip_spec(data::Layout layout) const override {
    return data::clip_spec(ModelKind::TinyHD, layout);
  }

  void prepare(data::Sample &s) const override {
    std::vector<torch::Tensor> frames;
    frames.reserve(static_cast<size_t>(s.frames.size(0)));
    for (int64_t t = 0; t < s.frames.size(0); t++) frames.push_back(tinyhd::prepare_frame(s.frames[t]));
    s.prepared.clear();
    s.prepared.push_back(torch::stack(frames, 1));  // (3, 16, 192, 256)
    if (s.maps.defined()) {
      s.prepared.push_back(resize_maps_linear(s.maps, kTinyHDHeight, kTinyHDWidth));
      s.prepared.push_back(resize_fixations_points(s.fixations, kTinyHDHeight, kTinyHDWidth));
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
    throw TrainError(path + ": tinyhd has no separate backbone checkpoint: start from --init "
                            "d123s_rc4_rc1T.pth (the published weights) or from scratch");
  }

  std::string describe() const override { return "tinyhd " + net_->arch().variant.describe(); }
  double default_lr() const override { return 1e-4; }
  int default_epochs() const override { return 20; }
  int default_batch() const override { return 4; }

 private:
  // Clips (B, 3, 16, 192, 256) -> the last frame's maps (B, 192, 256) and targets.
  std::pair<torch::Tensor, torch::Tensor> forward(const std::vector<data::Sample> &batch,
                                                  torch::Device device) {
    std::vector<torch::Tensor> clips, maps;
    for (const auto &s : batch) {
      clips.push_back(s.prepared.at(0));
      maps.push_back(s.prepared.at(1).select(0, 0));
    }
    auto out = net_->forward(torch::stack(clips).to(device));
    return {out.select(1, out.size(1) - 1), torch::stack(maps).to(device)};
  }

  tinyhd::TinyHDNet net_;
};

}  // namespace

std::unique_ptr<TrainTask> make_tinyhd_task(const TrainOptions &options) {
  return std::make_unique<TinyhdTask>(options);
}

}  // namespace model::train
