// What the training loop needs from one model (internal to model/src/train):
// the network, its clip sampling, the pre-processing of a clip (run on the
// loader's worker threads), the official loss and the predictions that the
// validation scores. One implementation per model: stsanet_task.cpp,
// stranet_task.cpp.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <opencv2/core/mat.hpp>
#include <string>
#include <vector>

#include "salmodel/checkpoint.hpp"
#include "salmodel/dataset.hpp"
#include "salmodel/trainer.hpp"

namespace model::train {

/// The outcome of one validation forward pass over a batch.
struct Evaluation {
  torch::Tensor loss;  ///< mean loss of the batch (0-dim)
  /// Per sample and label frame: the predicted map at the model's output
  /// resolution, cropped to the frame's aspect (CV_32F), for the metrics.
  std::vector<std::vector<cv::Mat>> maps;
};

class TrainTask {
 public:
  virtual ~TrainTask() = default;
  virtual torch::nn::Module &network() = 0;
  /// Clip sampling of this model on `layout` (model-spec A.10 / B.12).
  virtual data::ClipSpec clip_spec(data::Layout layout) const = 0;
  /// Model inputs and training-resolution targets into sample.prepared.
  /// Runs on loader threads: must not touch the network.
  virtual void prepare(data::Sample &sample) const = 0;
  /// Whether a batch is skipped (official: any all-zero fixation map).
  virtual bool skip(const std::vector<data::Sample> &batch) const;
  /// Mean training loss of a batch (forward in the network's current mode).
  virtual torch::Tensor loss(const std::vector<data::Sample> &batch, torch::Device device) = 0;
  /// Forward without gradients for validation.
  virtual Evaluation evaluate(const std::vector<data::Sample> &batch, torch::Device device) = 0;
  /// Initialises the backbone from an ImageNet / Kinetics checkpoint; returns tensors copied.
  virtual std::size_t load_backbone(const std::string &path) = 0;
  /// The weights written to best.pth (names as inference loads them).
  virtual StateDict weights() const;
  /// Loads full weights (fine-tuning start, best-checkpoint reload).
  virtual void load_weights(const StateDict &state, const std::string &source);
  virtual std::string describe() const = 0;
  virtual double default_lr() const = 0;
  virtual int default_epochs() const = 0;
  virtual int default_batch() const = 0;
};

/// The validation outcome of a model with one map per sample, trained with
/// the KL - CC loss (losses::stsanet_loss): pred and gt (B, h, w).
Evaluation evaluate_kl_cc(const torch::Tensor &pred, const torch::Tensor &gt);

/// The task of options.model (throws TrainError for the baseline).
std::unique_ptr<TrainTask> make_task(const TrainOptions &options);

/// STSANet's resize_fixation (model-spec A.10): every non-zero pixel (r, c)
/// of an (H, W) map goes to (round(r * h / H), round(c * w / W)), rounding
/// half to even, clamped to the last index. Input (..., H, W) float; output
/// (..., h, w) float in {0, 1}.
torch::Tensor resize_fixations_points(const torch::Tensor &fixations, int64_t height,
                                      int64_t width);

/// cv::resize(INTER_LINEAR) of every (H, W) plane of a float tensor (..., H, W).
torch::Tensor resize_maps_linear(const torch::Tensor &maps, int64_t height, int64_t width);

}  // namespace model::train
