// ModelInstance: a loaded model shared by streams, batching their windows;
// and the registry of instances by model-instance-id.
#include "salmodel/model_instance.hpp"

#include <map>
#include <sstream>

#include <torch/cuda.h>
#include <torch/torch.h>

#include "salmodel/autocast_scope.hpp"

namespace model {

torch::Device to_torch_device(const Device &device) {
  const bool cuda_ok = torch::cuda::is_available();
  switch (device.kind) {
    case Device::Kind::CPU:
      return torch::kCPU;
    case Device::Kind::Auto:
      return cuda_ok ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
    case Device::Kind::CUDA:
      break;
  }
  const std::string name = to_string(device);
  if (!cuda_ok)
    throw ModelError("device '" + name +
                     "' is not available: this LibTorch has no CUDA support or no CUDA device was found "
                     "(use device=cpu or auto)");
  if (device.index < 0 || device.index >= int(torch::cuda::device_count()))
    throw ModelError("device '" + name + "' is not available: only " +
                     std::to_string(torch::cuda::device_count()) + " CUDA device(s)");
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(device.index));
}

// ------------------------------------------------------------------ settings

ModelInstanceSettings ModelInstanceSettings::of(const PredictorOptions &o) {
  ModelInstanceSettings s;
  s.model = o.model;
  s.weights = o.weights;
  s.random_init = o.random_init;
  s.seed = o.seed;
  s.device = o.device;
  s.precision = o.precision;
  s.cuda_graphs = o.cuda_graphs;
  s.stsanet = o.stsanet;
  s.batch = o.batch;
  s.batch_timeout_ms = o.batch_timeout_ms;
  return s;
}

ModelConfig ModelInstanceSettings::model_config() const {
  ModelConfig config;
  config.kind = model;
  config.weights = weights;
  config.random_init = random_init;
  config.seed = seed;
  config.stsanet = stsanet;
  return config;
}

bool ModelInstanceSettings::operator==(const ModelInstanceSettings &o) const {
  return model == o.model && weights == o.weights && random_init == o.random_init && seed == o.seed &&
         device == o.device && precision == o.precision && cuda_graphs == o.cuda_graphs &&
         stsanet == o.stsanet && batch == o.batch && batch_timeout_ms == o.batch_timeout_ms;
}

std::string ModelInstanceSettings::describe() const {
  std::ostringstream d;
  d << to_string(model);
  if (!weights.empty()) d << " weights=" << weights;
  if (random_init && weights.empty()) d << " random-init seed=" << seed;
  d << " device=" << to_string(device) << " precision=" << to_string(precision);
  if (cuda_graphs) d << " cuda-graphs";
  if (model == ModelKind::STSANet)
    d << " channels-last=" << stsanet.channels_last << " stem-reuse=" << stsanet.stem_reuse;
  d << " batch=" << batch << " batch-timeout=" << batch_timeout_ms;
  return d.str();
}

// ------------------------------------------------------------------ instance

// One stream's call: its windows, and where the leader of the pass puts the result.
struct ModelInstance::Request {
  std::vector<Window> windows;
  std::vector<std::int64_t> key;
  std::chrono::steady_clock::time_point deadline;
  torch::Tensor maps;
  std::exception_ptr error;
  bool done = false;
};

ModelInstance::ModelInstance(const ModelInstanceSettings &settings) : ModelInstance(nullptr, settings) {}

ModelInstance::ModelInstance(std::unique_ptr<SaliencyModel> net, const ModelInstanceSettings &settings)
    : settings_(settings) {
  if (settings.batch < 1) throw ModelError("batch must be >= 1");
  if (settings.batch_timeout_ms < 0) throw ModelError("batch-timeout must be >= 0 ms");
  device_ = to_torch_device(settings.device);
  const std::string precision = to_string(settings.precision);
  if (settings.precision != Precision::FP32 && !device_.is_cuda())
    throw ModelError("precision " + precision + " needs a CUDA device (device=" + to_string(settings.device) + ")");
  autocast_ = settings.precision == Precision::AutocastFP16 || settings.precision == Precision::AutocastBF16;
  autocast_dtype_ = settings.precision == Precision::AutocastBF16 ? at::kBFloat16 : at::kHalf;
  if (settings.cuda_graphs) {
    if (!device_.is_cuda())
      throw ModelError("CUDA graphs need a CUDA device (device=" + to_string(settings.device) + ")");
    if (autocast_)
      throw ModelError("CUDA graphs need precision fp32 or fp16-weights, not " + precision +
                       " (autocast cannot be captured)");
  }
  if (net) {
    net_ = std::move(net);
  } else {
    net_ = create_model(settings.model_config());
  }
  const bool fp16_weights = settings.precision == Precision::FP16Weights;
  if (fp16_weights && !net_->supports_half())
    throw ModelError("precision fp16-weights is not supported by " + net_->name() + " (use autocast-fp16)");
  net_->to(device_, fp16_weights ? torch::kHalf : torch::kFloat32);
  if (settings.cuda_graphs) net_->set_cuda_graphs(true);
  spec_ = net_->window_spec();
}

ModelInstance::~ModelInstance() = default;

ModelInstance::Counters ModelInstance::counters() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return counters_;
}

// One forward pass on the windows of `batch` (all with one batch_key), in
// the calling thread (its OpenMP thread count and InferenceMode apply).
void ModelInstance::run(const std::vector<Request *> &batch) {
  std::vector<Window> windows;
  for (Request *r : batch)
    for (Window &w : r->windows) windows.push_back(std::move(w));
  try {
    torch::Tensor maps;
    {
      c10::InferenceMode guard;
      {
        CudaAutocastScope autocast(autocast_, autocast_dtype_);
        maps = net_->predict(windows);
      }
      // The one host synchronisation per forward pass: the maps leave the
      // device here (clamped there first, so only the final floats travel).
      maps = maps.to(torch::kFloat32).clamp(0.0, 1.0).to(torch::kCPU).contiguous();
    }
    if (maps.dim() != 3 || maps.size(0) != std::int64_t(windows.size()))
      throw ModelError(net_->name() + " returned maps of shape " + c10::str(maps.sizes()) + " for " +
                       std::to_string(windows.size()) + " windows");
    std::int64_t at = 0;
    for (Request *r : batch) {
      const auto n = std::int64_t(r->windows.size());
      r->maps = maps.narrow(0, at, n);
      at += n;
    }
  } catch (...) {
    for (Request *r : batch) r->error = std::current_exception();
  }
}

torch::Tensor ModelInstance::predict(std::vector<Window> windows) {
  if (windows.empty()) throw ModelError(net_->name() + ": predict() needs at least one window");
  Request request;
  request.key = net_->batch_key(windows.front());
  request.windows = std::move(windows);
  request.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(settings_.batch_timeout_ms);
  std::unique_lock<std::mutex> lock(mutex_);
  waiting_.push_back(&request);
  wake_.notify_all();
  while (!request.done) {
    if (!running_ && !waiting_.empty()) {
      // Windows waiting with the oldest request's key, up to a batch.
      const Request *front = waiting_.front();
      std::size_t ready = 0;
      for (const Request *r : waiting_)
        if (r->key == front->key) ready += r->windows.size();
      const bool full = ready >= std::size_t(settings_.batch);
      if (full || std::chrono::steady_clock::now() >= front->deadline) {
        std::vector<Request *> batch;
        std::size_t taken = 0;
        for (auto it = waiting_.begin(); it != waiting_.end();) {
          Request *r = *it;
          const bool fits = batch.empty() || taken + r->windows.size() <= std::size_t(settings_.batch);
          if (r->key == front->key && fits) {
            batch.push_back(r);
            taken += r->windows.size();
            it = waiting_.erase(it);
          } else {
            ++it;
          }
        }
        running_ = true;
        ++counters_.passes;
        counters_.windows += std::int64_t(taken);
        lock.unlock();
        run(batch);
        lock.lock();
        running_ = false;
        for (Request *r : batch) r->done = true;
        wake_.notify_all();
        continue;
      }
      const auto deadline = front->deadline;  // a copy: front may finish while this thread waits
      wake_.wait_until(lock, deadline);
    } else {
      wake_.wait(lock);
    }
  }
  if (request.error) std::rethrow_exception(request.error);
  return request.maps;
}

// ------------------------------------------------------------------ registry

namespace {

struct Registry {
  std::mutex mutex;
  std::map<std::string, std::weak_ptr<ModelInstance>> instances;
};

Registry &registry() {
  static Registry *r = new Registry;  // never destroyed: instances may outlive static destruction
  return *r;
}

}  // namespace

std::shared_ptr<ModelInstance> acquire_model_instance(const std::string &id, const std::string &owner,
                                                      const ModelInstanceSettings &settings) {
  if (id.empty()) {
    auto instance = std::make_shared<ModelInstance>(settings);
    instance->owner = owner;
    return instance;
  }
  Registry &r = registry();
  // Held while a model loads, so that two elements starting together load it once.
  std::lock_guard<std::mutex> lock(r.mutex);
  if (auto existing = r.instances[id].lock()) {
    if (!(existing->settings() == settings))
      throw ModelError("model-instance-id '" + id + "': " + (owner.empty() ? "this stream" : owner) +
                       " asks for " + settings.describe() + ", but " +
                       (existing->owner.empty() ? "another stream" : existing->owner) + " loaded it as " +
                       existing->settings().describe());
    return existing;
  }
  auto instance = std::make_shared<ModelInstance>(settings);
  instance->owner = owner;
  r.instances[id] = instance;
  return instance;
}

}  // namespace model
