// Shared parts of the training tasks: defaults of TrainTask, target resizing
// (model-spec A.10 "Training targets") and the task factory.
#include <cmath>
#include <opencv2/imgproc.hpp>

#include "salmodel/checkpoint.hpp"
#include "salmodel/losses.hpp"
#include "train_task.hpp"

namespace model::train {

std::unique_ptr<TrainTask> make_stsanet_task(const TrainOptions &options);
std::unique_ptr<TrainTask> make_stranet_task(const TrainOptions &options);
std::unique_ptr<TrainTask> make_tinyhd_task(const TrainOptions &options);

bool TrainTask::skip(const std::vector<data::Sample> &batch) const {
  // train.py skips the whole batch when one sample has no fixation at all.
  for (const auto &sample : batch)
    if (!sample.fixations.defined() || sample.fixations.numel() == 0)
      return true;
    else
      for (int64_t l = 0; l < sample.fixations.size(0); l++)
        if (!sample.fixations[l].ne(0).any().item<bool>()) return true;
  return false;
}

Evaluation evaluate_kl_cc(const torch::Tensor &pred, const torch::Tensor &gt) {
  Evaluation e;
  e.loss = losses::stsanet_loss(pred, gt);
  const auto cpu = pred.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  for (int64_t b = 0; b < cpu.size(0); b++) {
    cv::Mat map(int(cpu.size(1)), int(cpu.size(2)), CV_32F, cpu[b].data_ptr<float>());
    e.maps.push_back({map.clone()});
  }
  return e;
}

StateDict TrainTask::weights() const {
  StateDict out;
  for (const auto &[name, tensor] : module_state_dict(const_cast<TrainTask *>(this)->network()))
    out.emplace_back(name, tensor.detach().to(torch::kCPU).clone());
  return out;
}

void TrainTask::load_weights(const StateDict &state, const std::string &source) {
  load_state_dict(network(), state, source);
}

torch::Tensor resize_fixations_points(const torch::Tensor &fixations, int64_t height,
                                      int64_t width) {
  const auto planes = fixations.reshape({-1, fixations.size(-2), fixations.size(-1)});
  const int64_t in_h = planes.size(1), in_w = planes.size(2);
  auto out = torch::zeros({planes.size(0), height, width}, torch::kFloat32);
  auto acc = out.accessor<float, 3>();
  for (int64_t p = 0; p < planes.size(0); p++) {
    const auto nz = planes[p].nonzero();  // (n, 2) rows, cols
    const auto idx = nz.accessor<int64_t, 2>();
    for (int64_t i = 0; i < nz.size(0); i++) {
      // np.round: half to even, which std::nearbyint does in the default mode.
      auto r = static_cast<int64_t>(std::nearbyint(double(idx[i][0]) * height / in_h));
      auto c = static_cast<int64_t>(std::nearbyint(double(idx[i][1]) * width / in_w));
      acc[p][std::min(r, height - 1)][std::min(c, width - 1)] = 1.0f;
    }
  }
  auto sizes = fixations.sizes().vec();
  sizes[sizes.size() - 2] = height;
  sizes[sizes.size() - 1] = width;
  return out.reshape(sizes);
}

torch::Tensor resize_maps_linear(const torch::Tensor &maps, int64_t height, int64_t width) {
  const auto planes =
      maps.to(torch::kFloat32).contiguous().reshape({-1, maps.size(-2), maps.size(-1)});
  auto out = torch::empty({planes.size(0), height, width}, torch::kFloat32);
  for (int64_t p = 0; p < planes.size(0); p++) {
    const auto in = planes[p].contiguous();
    cv::Mat src(int(in.size(0)), int(in.size(1)), CV_32F, in.data_ptr<float>());
    cv::Mat dst(int(height), int(width), CV_32F, out[p].data_ptr<float>());
    cv::resize(src, dst, dst.size(), 0, 0, cv::INTER_LINEAR);  // the official cv2.resize
  }
  auto sizes = maps.sizes().vec();
  sizes[sizes.size() - 2] = height;
  sizes[sizes.size() - 1] = width;
  return out.reshape(sizes);
}

std::unique_ptr<TrainTask> make_task(const TrainOptions &options) {
  switch (options.model) {
    case ModelKind::STSANet:
      return make_stsanet_task(options);
    case ModelKind::STRANet:
      return make_stranet_task(options);
    case ModelKind::TinyHD:
      return make_tinyhd_task(options);
    case ModelKind::Baseline:
      break;
  }
  throw TrainError(
      "--model baseline: the baseline has no weights to train (use stsanet, stranet or tinyhd)");
}

}  // namespace model::train
