// The small interface every network implements (LibTorch side). The Predictor
// owns windowing, flow and device transfers; a model only says what window it
// needs and maps a batch of windows to saliency maps.
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
  /// Recurrent models (STRA-Net) see windows strictly in order and keep state
  /// between predict() calls until reset_state().
  bool recurrent = false;
};

/// One window: prepared frames (prepare_frame outputs) in temporal order and,
/// if needs_flow, frames.size() - 1 prepared flows between consecutive frames.
struct Window {
  std::vector<torch::Tensor> frames;
  std::vector<torch::Tensor> flows;
};

class SaliencyModel {
 public:
  virtual ~SaliencyModel() = default;
  virtual std::string name() const = 0;
  virtual WindowSpec window_spec() const = 0;

  /// @param rgb uint8 tensor (H, W, 3), RGB, on the model's device.
  /// @returns the model's per-frame input (layout is the model's business).
  virtual torch::Tensor prepare_frame(const torch::Tensor &rgb) = 0;
  /// @param flow float32 (h, w, 2) forward flow on the model's device, in
  ///        pixels of its own grid; frame_width/height: size of the frame.
  virtual torch::Tensor prepare_flow(const torch::Tensor &flow, int frame_width, int frame_height) {
    return flow;
  }
  /// Maps a batch of windows to (B, h, w) float maps in [0,1] for each window's
  /// target frame, already cropped to the frame's aspect (no letterbox bars).
  virtual torch::Tensor predict(const std::vector<Window> &windows) = 0;
  /// Forget recurrent state (no-op for stateless models).
  virtual void reset_state() {}

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
};

struct ModelConfig {
  ModelKind kind = ModelKind::Baseline;
  std::string weights;
  bool random_init = false;
  std::uint64_t seed = 0;
};

/// Builds a model, loading weights or refusing (ModelError) when a deep model
/// has neither weights nor random_init.
std::unique_ptr<SaliencyModel> create_model(const ModelConfig &config);

}  // namespace model
