// The small interface every network implements (LibTorch side). The Predictor
// owns windowing, flow and device transfers; a model only says what window it
// needs and maps a batch of windows to saliency maps.
//
// Weights and stream state are apart: a model object holds weights (and
// caches derived from them) only, so one loaded model serves many streams
// (ModelInstance, model_instance.hpp). What a model keeps between the windows
// of one stream (STSANet's stem rows, STRA-Net's ConvGRU state) lives in a
// StreamState that the stream's session owns and passes in with each window.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

#include "salmodel/predictor.hpp"

namespace model {

/// What a model needs from the Predictor.
struct WindowSpec {
  /// Frames before and after the target frame in one window. The window of
  /// frame t holds frames clamp(t - frames_before + k, 0, N-1), k = 0 .. frames_before + frames_after.
  int frames_before = 0;
  int frames_after = 0;
  /// Whether windows carry flows (flow k: window frame k -> window frame k+1).
  bool needs_flow = false;
  /// Grid the Predictor computes flow on when it computes flow itself: the
  /// frame scaled so that its width is flow_width (0 = the frame's own size).
  int flow_width = 0;
  /// Flow preset the model wants when the Predictor computes flow (empty: the
  /// flow library's default); PredictorOptions::flow_preset overrides it.
  std::optional<flow::Preset> flow_preset;
  /// Recurrent models (STRA-Net) see the windows of a stream strictly in
  /// order; their state carries from one window to the next in the stream's
  /// StreamState.
  bool recurrent = false;
  /// CPU threads the model runs fastest with when PredictorOptions::threads
  /// is 0 ("one per core"); 0: one per core. TinyHD says 1: its many small
  /// operations lose more to OpenMP's hand-offs than a second thread gains
  /// (docs/tinyhd.md).
  int preferred_threads = 0;
};

/// What a model keeps for one stream between its windows (recurrent state,
/// caches of per-frame work). Made by SaliencyModel::new_stream_state(); a
/// stream that starts over (reset, seek) makes a new one.
struct StreamState {
  virtual ~StreamState() = default;
};

/// One window: prepared frames (prepare_frame outputs) in temporal order and,
/// if needs_flow, frames.size() - 1 prepared flows between consecutive frames.
struct Window {
  std::vector<torch::Tensor> frames;
  std::vector<torch::Tensor> flows;
  /// The stream's state (nullptr: the window stands alone, with no state
  /// carried in or out and no per-stream cache).
  StreamState *state = nullptr;
  /// Size of the stream's frames (0: unknown; STRA-Net then assumes a square
  /// frame, no letterbox bars).
  int frame_width = 0;
  int frame_height = 0;
};

class SaliencyModel {
 public:
  virtual ~SaliencyModel() = default;
  virtual std::string name() const = 0;
  virtual WindowSpec window_spec() const = 0;

  /// A new, empty state for one stream (nullptr: the model keeps none).
  virtual std::unique_ptr<StreamState> new_stream_state() const { return nullptr; }

  /// Thread safety: prepare_frame and prepare_flow read nothing that changes,
  /// so several streams call them at once; predict is called by one thread at
  /// a time (ModelInstance serialises it) and may keep caches of its own.
  /// @param rgb uint8 tensor (H, W, 3), RGB, on the model's device.
  /// @returns the model's per-frame input (layout is the model's business).
  virtual torch::Tensor prepare_frame(const torch::Tensor &rgb) const = 0;
  /// @param flow float32 (h, w, 2) forward flow on the model's device, in
  ///        pixels of its own grid; frame_width/height: size of the frame.
  virtual torch::Tensor prepare_flow(const torch::Tensor &flow, int frame_width, int frame_height) const {
    return flow;
  }
  /// Maps a batch of windows to (B, h, w) float maps in [0,1] for each window's
  /// target frame, already cropped to the frame's aspect (no letterbox bars).
  /// Windows may come from different streams (their `state`s differ); those
  /// of one stream come in frame order. All windows of one call share
  /// batch_key().
  virtual torch::Tensor predict(const std::vector<Window> &windows) = 0;
  /// Windows with equal keys can share one predict() call (their maps have
  /// the same size). Default: the prepared frame's shape and the frame size.
  virtual std::vector<std::int64_t> batch_key(const Window &window) const {
    std::vector<std::int64_t> key = window.frames.empty() ? std::vector<std::int64_t>{}
                                                          : window.frames.front().sizes().vec();
    key.push_back(window.frame_width);
    key.push_back(window.frame_height);
    return key;
  }

  /// Moves parameters and buffers; called once before prediction. dtype is
  /// float32, or float16 where supports_half().
  virtual void to(torch::Device device, torch::Dtype dtype) = 0;
  /// Whether the model runs with fp16 weights and activations (precision
  /// "half"; measured for STSANet only, so only it says yes).
  virtual bool supports_half() const { return false; }
  /// Replays the forward pass from a CUDA graph (cuda_graph.hpp) on CUDA.
  /// Throws ModelError where the model cannot (recurrent state, or no
  /// implementation).
  virtual void set_cuda_graphs(bool enabled) {
    if (enabled) throw ModelError(name() + ": CUDA graphs are not supported for this model");
  }
  virtual torch::Device device() const = 0;
  /// Trainable parameter elements and floating-point buffer elements.
  virtual std::int64_t parameter_count() const { return 0; }
  virtual std::int64_t buffer_count() const { return 0; }
  /// The parameter tensors (empty for weight-free models): tests check that
  /// streams sharing a model read the same storage.
  virtual std::vector<torch::Tensor> parameter_tensors() const { return {}; }
};

struct ModelConfig {
  ModelKind kind = ModelKind::Baseline;
  std::string weights;
  bool random_init = false;
  std::uint64_t seed = 0;
  STSANetTuning stsanet;
};

/// Builds a model, loading weights or refusing (ModelError) when a deep model
/// has neither weights nor random_init.
std::unique_ptr<SaliencyModel> create_model(const ModelConfig &config);

}  // namespace model
