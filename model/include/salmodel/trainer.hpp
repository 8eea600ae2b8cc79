// Training of the saliency networks (model-spec A.10 for STSANet, B.12 for
// STRA-Net): the epoch loop behind `saliency-train`.
//
// Pieces, each with one job:
//  - LrSchedule: the learning-rate factor of an epoch (official STSANet decay,
//    constant, or step decay) and the epochs where the official recipe reloads
//    the best checkpoint;
//  - TrainOptions: everything a run depends on (what the tool's flags set);
//  - Trainer: builds the network of a model (model/src/train/train_task.hpp),
//    plans and loads clips (salmodel/dataset.hpp), runs Adam on the official
//    loss, validates with the benchmark metrics (salmodel/metrics.hpp), and
//    writes `<out>/best.pth` (weights only: torch.load / saliency-predict /
//    the saliency element read it), `<out>/last.pth` (weights plus optimiser
//    and loop state under "optimizer." / "trainer." keys, for --resume) and
//    `<out>/log.csv`.
// Data-parallel runs: every process builds a Trainer with its own rank; each
// takes its shard of every combined batch and the gradients are averaged
// through a c10d Store (model/src/train/grad_sync.hpp).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "salmodel/checkpoint.hpp"
#include "salmodel/dataset.hpp"
#include "salmodel/predictor.hpp"

namespace model::train {

/// A training problem (bad option, unusable data, failed rendezvous): one line.
class TrainError : public ModelError {
 public:
  using ModelError::ModelError;
};

/// Learning-rate factor per epoch (multiplies TrainOptions::lr).
///  - "official": STSANet's train.py, x0.1 at epoch 12 and every 9 epochs after
///    (18, 27, ...), the best checkpoint reloaded at each decay (model-spec A.10);
///  - "constant": 1 for every epoch;
///  - "step:<E>:<G>": x G every E epochs (epochs E, 2E, ...).
class LrSchedule {
 public:
  /// Throws TrainError for anything else, naming the text.
  static LrSchedule parse(const std::string &text);
  double factor(int epoch) const;
  /// Whether `epoch` starts with a decay (the factor drops from epoch - 1).
  bool decays_at(int epoch) const;
  /// Whether the best checkpoint is reloaded when the rate decays (official).
  bool reload_best_on_decay() const { return kind_ == Kind::Official; }
  const std::string &text() const { return text_; }

 private:
  enum class Kind { Official, Constant, Step };
  Kind kind_ = Kind::Official;
  int every_ = 0;
  double gamma_ = 1.0;
  std::string text_ = "official";
};

struct TrainOptions {
  ModelKind model = ModelKind::STSANet;
  std::string data;  ///< dataset root (salmodel/dataset.hpp layouts)
  data::Layout layout = data::Layout::DHF1K;
  /// Output folder, created. A fresh run (not `resume`) refuses one that is
  /// not empty unless `overwrite`: the folder then holds one run's files only.
  std::string out;
  /// Fresh run into a non-empty `out`: replace it with an empty folder once the
  /// options, data and initial weights have been checked, before training.
  bool overwrite = false;

  // Architecture (small configurations for quick runs; defaults are official).
  int width_divisor = 1;
  int height = 0, width = 0;  ///< STSANet input size (0: official 224x384)
  int window = 0;             ///< STSANet frames per clip (0: official 32)
  /// STRA-Net stage: "feature" (stage 1, 28x28 side outputs) or "whole" (stage 2).
  std::string stage = "whole";

  // Initialisation.
  std::string backbone;  ///< S3D .pth (STSANet) or torchvision ResNet-50 .pth (STRA-Net)
  std::string init;  ///< full weights to start from (fine-tuning; STRA-Net stage 2 from stage 1)

  // Optimisation.
  int epochs = 0;  ///< 0: the model's official count (STSANet 80, STRA-Net 100)
  double lr = 0;   ///< 0: official (STSANet 1e-4, STRA-Net 1e-5)
  int batch = 0;   ///< clips per step and process (0: official, STSANet 3, STRA-Net 1)
  std::string schedule = "official";
  /// Re-create Adam at every epoch, as STSANet's train.py does (moments reset).
  bool reset_optimizer_each_epoch = false;
  /// BatchNorm layers in eval mode (running statistics, frozen).
  bool freeze_bn = false;
  int val_every = 1;  ///< validate every N epochs (and after the last)
  /// Clips per epoch at most (0: the whole plan); for quick runs and tests.
  int max_train_clips = 0;
  int max_val_clips = 0;
  /// Validation metrics besides the loss: CC, KL, NSS, SIM always; AUC-Judd when set (slow).
  bool auc = false;
  std::uint64_t seed = 1;

  // Execution.
  std::string device = "cpu";      ///< "cpu", "cuda", "cuda:N"
  std::string precision = "fp32";  ///< "fp32", "fp16", "bf16" (autocast, CUDA only)
  int loader_threads = 2;
  bool resume = false;       ///< continue from <out>/last.pth
  int save_every_steps = 0;  ///< also write last.pth every N steps inside an epoch (0: per epoch)

  // Data parallelism (one process per rank).
  int world_size = 1;
  int rank = 0;
  std::string dist_init;  ///< "tcp://HOST:PORT" or "file:///PATH"
};

/// One line of log.csv.
struct EpochRecord {
  int epoch = 0;          ///< 1 for the first epoch
  std::int64_t step = 0;  ///< optimiser steps done at the end of the epoch
  double train_loss = 0;  ///< mean over the epoch's steps (NaN when all were skipped)
  double val_loss = 0;    ///< NaN when not validated this epoch
  double cc = 0, kl = 0, nss = 0, sim = 0, auc_j = 0;
  double lr = 0;
  double seconds = 0;  ///< wall time of the epoch, validation included
  int skipped_batches = 0;
};

/// Validation scores: loss at the training resolution, metrics against the
/// full-resolution ground truth (model-spec A.10 "Validation targets").
struct ValidationResult {
  double loss = 0, cc = 0, kl = 0, nss = 0, sim = 0, auc_j = 0;
  int clips = 0;
};

/// What the trainer reports while it runs (the tool draws a progress bar).
struct TrainProgress {
  enum class Phase { Train, Validate } phase = Phase::Train;
  int epoch = 0;
  int done = 0, total = 0;  ///< steps (train) or clips (validate) of this epoch
  double loss = 0;          ///< running mean of the epoch's training loss
};

class Trainer {
 public:
  /// Checks the options, indexes the data, builds the network (weights from
  /// --init / --backbone / seeded defaults) and, with resume, restores
  /// <out>/last.pth. Throws TrainError / ModelError / data::DataError.
  explicit Trainer(const TrainOptions &options);
  ~Trainer();
  Trainer(const Trainer &) = delete;
  Trainer &operator=(const Trainer &) = delete;

  using ProgressFn = std::function<void(const TrainProgress &)>;
  using EpochFn = std::function<void(const EpochRecord &)>;
  /// Trains the remaining epochs. Rank 0 writes best.pth, last.pth, log.csv
  /// and curves.png after every epoch. Returns the records of the epochs run
  /// by this call.
  std::vector<EpochRecord> run(const ProgressFn &progress = {}, const EpochFn &on_epoch = {});

  /// Validates the current weights on the validation split.
  ValidationResult validate(const ProgressFn &progress = {});

  /// The first epoch run() will train (after resume: the one after the last saved).
  int next_epoch() const;
  int epochs() const;
  std::int64_t parameter_count() const;
  /// The current weights, as best.pth stores them (CPU copies).
  StateDict weights() const;
  /// A one-line description of the configuration ("stsanet width/8 64x64 window 32, ...").
  std::string describe() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Writes `<dir>/curves.png`: training and validation loss, and validation CC,
/// against the epoch, from the records of log.csv (axes labelled, ticks).
void plot_curves(const std::vector<EpochRecord> &records, const std::string &path);

/// Reads the records back from a log.csv written by the trainer (for resume
/// and for plotting). Missing file: empty list.
std::vector<EpochRecord> read_log(const std::string &path);
void write_log(const std::vector<EpochRecord> &records, const std::string &path);

}  // namespace model::train
