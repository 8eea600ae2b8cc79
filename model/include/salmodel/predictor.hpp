// model::Predictor: the one streaming engine. Frames go in in display order,
// saliency maps come out for earlier frames once their temporal window is
// complete. The `saliency` element and `saliency-predict` both drive it, so a
// pipeline and the CLI give identical maps for identical frames.
//
// This header is deliberately free of LibTorch: gst/ and the tools include it
// without paying for torch's headers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "salflow/flow_options.hpp"
#include "salmaps/pixel_format.hpp"

namespace model {

/// Thrown for bad options, unreadable or mismatching weights, unavailable
/// devices. what() is a single line naming the file or option at fault.
class ModelError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};


/// A borrowed, read-only frame (GStreamer rows may be padded: strides are in bytes).
struct FrameView {
  const std::uint8_t *data = nullptr;  ///< the pixels; for I420 and NV12 the Y plane
  int width = 0;
  int height = 0;
  std::size_t stride = 0;
  PixelFormat format = PixelFormat::RGB;
  /// I420: the U and V planes; NV12: the interleaved UV plane in chroma[0].
  const std::uint8_t *chroma[2] = {nullptr, nullptr};
  std::size_t chroma_stride[2] = {0, 0};
  /// How YUV frames convert to the RGB the models take (salmaps/yuv.hpp).
  YuvMatrix matrix = YuvMatrix::BT601;
  YuvRange range = YuvRange::Limited;
};

/// A borrowed dense flow field: interleaved float32 (u, v), `stride` in bytes.
/// Vectors are in pixels of the frame the flow belongs to (frame_width x
/// frame_height), whatever the grid size: a flow computed on a half-size grid
/// carries vectors already scaled to full-frame pixels.
struct FlowView {
  const float *data = nullptr;
  int width = 0;
  int height = 0;
  std::size_t stride = 0;
  int frame_width = 0;
  int frame_height = 0;
};

/// One output map: float32 row-major values in [0,1] at the model's output
/// resolution (width x height), for input frame `frame_index` (0-based, counted
/// since the last reset()).
struct SaliencyMap {
  std::int64_t frame_index = 0;
  int width = 0;
  int height = 0;
  std::vector<float> values;
};

/// Model names accepted everywhere (CLI --model, element `model`).
enum class ModelKind { Baseline, STSANet, STRANet, TinyHD };
ModelKind parse_model_kind(const std::string &name);  // throws ModelError
const char *to_string(ModelKind kind);

/// How the frames between two interval key frames get their maps (interval > 1).
enum class IntervalMode {
  /// The previous frame's map warped forward along the flow into the frame.
  /// No latency beyond the model's.
  Forward,
  /// Frame k+j between key frames k and k+N gets ((N-j)/N) * (map k warped
  /// forward to it) + (j/N) * (map k+N warped backward to it), rescaled to the
  /// interpolated value range of the two key maps. Holds N-1 more frames
  /// (latency) and, at the end of a stream, infers the last frame as well.
  Bidirectional,
};
IntervalMode parse_interval_mode(const std::string &name);  // "forward", "bidirectional"; throws ModelError
const char *to_string(IntervalMode mode);

/// Where the model runs. Parsed from "cpu", "cuda", "cuda:N" or "auto" (the
/// first CUDA device when one is usable, else the CPU) only at the edges: CLI
/// flags and element properties.
struct Device {
  enum class Kind { CPU, CUDA, Auto };
  Kind kind = Kind::CPU;
  int index = 0;  ///< CUDA device number (Kind::CUDA)

  static Device cpu() { return {}; }
  static Device cuda(int index = 0) { return {Kind::CUDA, index}; }
  static Device automatic() { return {Kind::Auto, 0}; }
  bool operator==(const Device &o) const { return kind == o.kind && index == o.index; }
  bool operator!=(const Device &o) const { return !(*this == o); }
};
Device parse_device(const std::string &name);  // throws ModelError naming the value
std::string to_string(const Device &device);   // "cpu", "cuda:N", "auto"

/// The arithmetic a model runs in. The 16-bit modes are CUDA only.
enum class Precision {
  FP32,          ///< "fp32": fp32 weights and arithmetic (CPU and CUDA)
  AutocastFP16,  ///< "autocast-fp16" (alias "fp16"): fp32 weights, CUDA autocast runs matrix work in fp16
  AutocastBF16,  ///< "autocast-bf16" (alias "bf16"): the same in bf16
  FP16Weights,   ///< "fp16-weights" (alias "half"): weights and activations in fp16 (STSANet)
};
/// Accepts the names above and their aliases; throws ModelError naming the value.
Precision parse_precision(const std::string &name);
const char *to_string(Precision precision);  // the canonical name

/// STSANet's choices of arithmetic layout, per loaded model (nothing is
/// process-wide: two models in one process may choose differently).
struct STSANetTuning {
  /// Keep the activations of inference channels-last (N, T, H, W, C in
  /// memory). Off: the whole network measured slower with it on the CPU
  /// (docs/performance.md, "Choices in the code"); saliency-bench
  /// --channels-last compares. CUDA graphs use it regardless.
  bool channels_last = false;
  /// Reuse the stem rows of earlier windows of a stream (StemCache). Off
  /// recomputes base1 for every window, as the official code does.
  bool stem_reuse = true;
  bool operator==(const STSANetTuning &o) const {
    return channels_last == o.channels_last && stem_reuse == o.stem_reuse;
  }
};

struct PredictorOptions {
  ModelKind model = ModelKind::Baseline;
  /// Checkpoint path. Deep models refuse to run without it unless random_init.
  std::string weights;
  /// Deep models only: allow random weights (tests, benchmarks).
  bool random_init = false;
  Device device = Device::cpu();
  /// Precision::FP32 everywhere; the 16-bit modes need a CUDA device.
  Precision precision = Precision::FP32;
  /// CUDA only: replay the model's forward pass from a CUDA graph (STSANet;
  /// precision fp32 or fp16-weights). Needs a LibTorch with CUDA.
  bool cuda_graphs = false;
  /// Windows per forward pass. Alone (no model_instance_id), the windows are
  /// this stream's next key frames: >1 raises throughput for offline jobs and
  /// adds (batch - 1) x interval frames of latency. With a shared instance,
  /// each stream hands over every window as soon as it is ready and the
  /// instance runs up to `batch` windows of all its streams in one pass: no
  /// latency beyond batch_timeout_ms.
  int batch = 1;
  /// Predictors (and `saliency` elements) that give the same non-empty id in
  /// one process share one loaded model (DL Streamer's model-instance-id):
  /// the weights are loaded once, each Predictor keeps its own stream state,
  /// and the last one to go frees the model. The model settings (model,
  /// weights, random_init, seed, device, precision, cuda_graphs, stsanet,
  /// batch, batch_timeout_ms) must then be equal: a Predictor that differs
  /// gets a ModelError naming both owners.
  std::string model_instance_id;
  /// Who asks for the model (an element's name), for those messages.
  std::string owner;
  /// Shared instance: how long (ms) a ready window waits for windows of other
  /// streams to fill a batch. 0: a pass starts at once with what is ready
  /// (windows that arrive during a pass still go together into the next one).
  int batch_timeout_ms = 0;
  /// STSANet's arithmetic layout choices (per model instance).
  STSANetTuning stsanet;
  /// Run the model on every `interval`-th frame (frames 0, N, 2N, ...); the
  /// frames in between get key maps carried along the optical flow (pushed, or
  /// computed on a small grid) as `interval_mode` says. Saves compute.
  int interval = 1;
  /// Forward keeps the model's look-ahead; Bidirectional adds interval - 1
  /// frames to it and is closer to the every-frame maps (baseline on tased-ex1,
  /// CC at interval 2/4/8: 0.96/0.94/0.86 against forward's 0.94/0.88/0.79).
  IntervalMode interval_mode = IntervalMode::Bidirectional;
  /// Flow computed by the predictor when the model needs flow and none is pushed.
  flow::Algorithm flow_algorithm = flow::Algorithm::DIS;
  /// Empty: the model's choice (the baseline uses ultrafast on its small grid).
  std::optional<flow::Preset> flow_preset;
  /// CPU threads for the model's arithmetic, applied in the thread that calls
  /// push() and finish() (OpenMP's count is per thread): 0 = one per core
  /// (model::default_thread_count(): OMP_NUM_THREADS when set, else the CPUs
  /// this process may use), or fewer where the model runs faster so
  /// (WindowSpec::preferred_threads: TinyHD 1).
  int threads = 0;
  /// Seed for random_init weights (deterministic tests).
  std::uint64_t seed = 0;
  /// Optional sink for informational messages (element: GST_DEBUG, tools: stderr).
  std::function<void(const std::string &)> log;
};

class SaliencyModel;  // saliency_model.hpp (LibTorch side)
class ModelInstance;  // model_instance.hpp (LibTorch side)

/// Streaming saliency predictor: one stream's session (its window of frames,
/// flow history, interval state and the model's StreamState) on a loaded
/// model that it owns or shares (model_instance_id). Not thread-safe: one per
/// stream; Predictors sharing a model may run in different threads.
class Predictor {
 public:
  /// Builds the model, loads weights and moves it to the device. Throws ModelError.
  explicit Predictor(const PredictorOptions &options);
  /// Drives an already built model (custom models, tests); options.model,
  /// weights, random_init and seed are ignored.
  Predictor(std::unique_ptr<SaliencyModel> model, const PredictorOptions &options);
  /// A new stream on a loaded model (another Predictor's model_instance());
  /// the options' model settings are ignored, batch and interval apply.
  Predictor(std::shared_ptr<ModelInstance> instance, const PredictorOptions &options);
  ~Predictor();
  Predictor(const Predictor &) = delete;
  Predictor &operator=(const Predictor &) = delete;

  /// Frames of look-ahead: a frame's map is available once this many later
  /// frames were pushed (STSANet 16, STRA-Net 5, baseline 0), plus
  /// (batch - 1) * interval, plus interval - 1 in bidirectional interval mode.
  int lookahead_frames() const;
  /// Whether the model consumes optical flow.
  bool needs_flow() const;
  /// Human-readable model description ("baseline", "stsanet (random init)", ...).
  std::string description() const;
  /// Device actually used ("cpu", "cuda:0").
  std::string device() const;
  /// Trainable parameter elements and floating-point buffer elements of the model.
  std::int64_t parameter_count() const;
  std::int64_t buffer_count() const;
  /// The loaded model this Predictor runs on (shared with the Predictors of
  /// the same model_instance_id).
  const std::shared_ptr<ModelInstance> &model_instance() const;

  /// Pushes the next frame. `flow_from_previous` (optional) is the forward flow
  /// from the previous pushed frame to this one; when absent and the model
  /// needs flow, the predictor computes it. Returns the maps that became ready,
  /// in frame order (possibly none).
  std::vector<SaliencyMap> push(const FrameView &frame, const FlowView *flow_from_previous = nullptr);
  /// End of stream: completes the windows of all pending frames by repeating
  /// the last frame, and returns their maps. The predictor is reset afterwards.
  std::vector<SaliencyMap> finish();
  /// Discontinuity: drops pending frames and recurrent state without output.
  void reset();
  /// Frames pushed since the last reset whose maps were not returned yet.
  int pending() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Bilinear resize of a map to width x height (half-pixel centres, as cv::resize
/// INTER_LINEAR); used to bring maps to the frame size.
std::vector<float> resize_map(const SaliencyMap &map, int width, int height);

}  // namespace model
