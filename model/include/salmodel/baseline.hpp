// The weight-free baseline: classical static + motion saliency with a centre
// prior, so that the project gives meaningful maps on a machine with no weights.
#pragma once

#include <memory>

#include "salmodel/saliency_model.hpp"

namespace model {

/// Parameters of the baseline (defaults are the documented method; see baseline.cpp).
struct BaselineOptions {
  /// Width of the output map and of the motion analysis grid (height follows the frame's aspect).
  int map_width = 160;
  /// Width at which spectral residual runs (Hou & Zhang 2007 use 64 pixels).
  int spectral_width = 64;
  /// Weight of motion against static saliency when the frame has motion (0..1).
  double motion_weight = 0.65;
  /// Centre prior: Gaussian sigma as a fraction of the frame's width/height,
  /// and the prior's floor (0 = only the centre counts, 1 = no prior).
  double centre_sigma = 0.3;
  double centre_floor = 0.4;
  /// Smoothing of the fused map, sigma as a fraction of the map width.
  double blur_sigma = 0.02;
  /// Motion below this magnitude (fraction of frame width per frame, after removing
  /// the global median motion) counts as noise.
  double motion_noise = 0.002;
  /// Temporal smoothing: the static and the motion term of frame t are averaged
  /// with those of the `temporal_frames` frames before it, frame t-k weighted by
  /// temporal_decay^k (temporal_frames = 0: every frame on its own, the method
  /// before issue 7). Why and how the default was chosen: baseline.cpp.
  int temporal_frames = 6;
  double temporal_decay = 0.8;
};

/// 1 + temporal_frames frames of context before the target (for the flows), no look-ahead.
std::unique_ptr<SaliencyModel> create_baseline_model(const BaselineOptions &options = {});

}  // namespace model
