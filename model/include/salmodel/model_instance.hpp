// model::ModelInstance: one loaded model (weights on a device, at a precision)
// serving the sessions of any number of streams, and the process's registry of
// instances by model-instance-id (LibTorch side: the element and the tools
// reach it through PredictorOptions::model_instance_id).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <torch/types.h>

#include "salmodel/predictor.hpp"
#include "salmodel/saliency_model.hpp"

namespace model {

/// The settings a loaded model is made with; streams sharing an instance must
/// agree on all of them (== compares).
struct ModelInstanceSettings {
  ModelKind model = ModelKind::Baseline;
  std::string weights;
  bool random_init = false;
  std::uint64_t seed = 0;
  Device device = Device::cpu();
  Precision precision = Precision::FP32;
  bool cuda_graphs = false;
  STSANetTuning stsanet;
  int batch = 1;             ///< windows per forward pass, from all streams
  int batch_timeout_ms = 0;  ///< how long a ready window waits for others

  static ModelInstanceSettings of(const PredictorOptions &options);
  /// What create_model needs of them.
  ModelConfig model_config() const;
  bool operator==(const ModelInstanceSettings &o) const;
  /// "stsanet weights=a.pth device=cpu precision=fp32 batch=1 ..." (messages).
  std::string describe() const;
};

/// A loaded model and the batching of its streams' windows. Thread-safe:
/// streams call predict() from their own threads. Each call blocks until its
/// windows' maps are ready; the calling threads take turns running forward
/// passes, each pass on up to `batch` waiting windows with the same
/// SaliencyModel::batch_key (oldest first, so no stream starves).
class ModelInstance {
 public:
  /// Moves `net` to the settings' device and precision. Throws ModelError.
  ModelInstance(std::unique_ptr<SaliencyModel> net, const ModelInstanceSettings &settings);
  /// Builds the model the settings name (create_model) and loads its weights.
  explicit ModelInstance(const ModelInstanceSettings &settings);
  ~ModelInstance();
  ModelInstance(const ModelInstance &) = delete;
  ModelInstance &operator=(const ModelInstance &) = delete;

  const ModelInstanceSettings &settings() const { return settings_; }
  /// Who made it (PredictorOptions::owner), for messages.
  std::string owner;
  /// prepare_frame / prepare_flow may be called from any thread; predict only
  /// through ModelInstance::predict.
  const SaliencyModel &model() const { return *net_; }
  const WindowSpec &window_spec() const { return spec_; }
  torch::Device device() const { return device_; }

  /// Maps (B, h, w) float32 in [0,1], on the CPU, for the windows of one
  /// stream (in frame order), run with the windows of other streams that
  /// wait at the same time. Rethrows the forward pass's ModelError.
  torch::Tensor predict(std::vector<Window> windows);

  /// Forward passes run and windows they held, since construction (tests and
  /// benchmarks: how much batching happened).
  struct Counters {
    std::int64_t passes = 0, windows = 0;
  };
  Counters counters() const;

 private:
  struct Request;
  void run(const std::vector<Request *> &batch);

  ModelInstanceSettings settings_;
  std::unique_ptr<SaliencyModel> net_;
  WindowSpec spec_;
  torch::Device device_{torch::kCPU};
  bool autocast_ = false;
  at::ScalarType autocast_dtype_ = at::kFloat;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Request *> waiting_;  // oldest first
  bool running_ = false;           // a forward pass is under way
  Counters counters_;
};

/// The instance registered under `id`, made from `settings` when there is none
/// alive; for an empty id, a new private one. Instances live as long as a
/// Predictor holds them; the registry only remembers them (the last Predictor
/// to go frees the model). A live instance whose settings differ gives a
/// ModelError naming `owner` and the instance's first owner.
std::shared_ptr<ModelInstance> acquire_model_instance(const std::string &id, const std::string &owner,
                                                      const ModelInstanceSettings &settings);

/// The torch::Device a Device names, checked against this LibTorch and
/// machine (ModelError when it is not there).
torch::Device to_torch_device(const Device &device);

}  // namespace model
