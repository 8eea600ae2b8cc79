// TinyHD (Hu et al., WACV 2023; repository feiyanhu/tinyHD): a 3-D
// MobileNetV2 encoder with three light decoders, trained on DHF1K, small and
// fast enough for live video on a CPU. ../shared/docs/tinyhd-spec.md is the
// layer-by-layer description this port follows; docs/tinyhd.md says what we
// do and where we differ from the official code.
//
// This header is LibTorch-light (torch/types.h only); the modules are in
// model/src/tinyhd/tinyhd_net.hpp.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

#include "salmodel/checkpoint.hpp"  // StateDict

namespace model {

class SaliencyModel;
struct ModelConfig;

/// Which of the published TinyHD networks a checkpoint holds. Read from the
/// tensors themselves, never from the file name.
struct TinyHDVariant {
  /// Multi-output ("d123m"): decoders d2 and d3 keep the time axis and the
  /// network gives one map for each of the 16 frames of its window. Single
  /// output ("d123s"): one map, for the window's last frame.
  bool multi_output = false;
  /// Channel reduction of the encoder (MobileNetV2 widths divided by 1, 2 or 4).
  int reduction = 4;

  /// "single-output, channel reduction 4".
  std::string describe() const;
  bool operator==(const TinyHDVariant &o) const {
    return multi_output == o.multi_output && reduction == o.reduction;
  }
};

/// The variant a TinyHD state dict holds (keys without the "student_model."
/// level). Throws ModelError naming `source` when the tensors are not a TinyHD
/// layout we know.
TinyHDVariant infer_tinyhd_variant(const StateDict &state, const std::string &source);

/// Reads a published TinyHD checkpoint (torch.save of {'student_model':
/// state_dict}; a bare state dict is accepted too). Throws ModelError (one
/// line, naming the file) for anything else.
StateDict read_tinyhd_checkpoint(const std::string &path);

/// Window of the TinyHD models: 16 frames, the target frame last (no
/// look-ahead). At the start of a stream the slots before frame 1 hold copies
/// of frame 1 (the official generate.py's padding).
constexpr int kTinyHDWindow = 16;
/// The network's input grid (the frame is resized to it, aspect not kept).
constexpr int kTinyHDHeight = 192;
constexpr int kTinyHDWidth = 256;

/// Builds TinyHD: from config.weights (its variant inferred), or, with
/// config.random_init, the single-output reduction-4 network with seeded
/// random weights (training from scratch, tests).
std::unique_ptr<SaliencyModel> create_tinyhd_model(const ModelConfig &config);

/// The official post-processing of a TinyHD map into an 8-bit PNG image
/// (generate.py post_process_png): min-max normalisation in float32, scaling
/// by 255 and truncation to uint8, OpenCV bicubic resize of the 8-bit image to
/// width x height, then OpenCV's 5x5 Gaussian blur with sigma 0 (the binomial
/// kernel [1 4 6 4 1]/16, reflect-101 borders). `map` is row-major
/// map_width x map_height. A flat map (max == min) gives all zeros (the
/// official code divides by zero there and writes garbage).
/// Returns width * height bytes, row-major.
std::vector<std::uint8_t> tinyhd_png_postprocess(const float *map, int map_width, int map_height,
                                                 int width, int height);

}  // namespace model
