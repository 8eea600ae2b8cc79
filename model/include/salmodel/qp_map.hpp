// Saliency map -> per-macroblock QP offsets, for encoders with a dense QP-offset
// input (libx264's x264_picture_t.prop.quant_offsets, one float per 16x16
// macroblock in raster order; ecosystem.md 4.3). Used by the `saliencyx264enc`
// element and the `saliency-encode-eval` tool.
//
// Torch-free, OpenCV-free and GStreamer-free: only the standard library.
#pragma once

#include <vector>

#include "salmodel/heatmap.hpp"  // MapView

namespace model {

/// Size of an H.264 macroblock (luma pixels).
constexpr int kMacroblockSize = 16;

/// The macroblock grid of a frame: ceil(width/16) x ceil(height/16), as x264.h
/// counts them for quant_offsets (progressive frames).
struct MacroblockGrid {
  int columns = 0;
  int rows = 0;
  int count() const { return columns * rows; }
};

/// Throws std::invalid_argument for a non-positive size.
MacroblockGrid macroblock_grid(int frame_width, int frame_height);

struct QpOffsetOptions {
  /// How strongly saliency moves the QP, >= 0. 0 gives all-zero offsets. A
  /// macroblock whose mean saliency is 0.5 above the frame's macroblock mean
  /// gets -strength * max_offset (before clamping): at strength 1 the full
  /// [0,1] range of the map spans +-max_offset around the mean.
  double strength = 1.0;
  /// Offsets are clamped to [-max_offset, +max_offset] QP, > 0.
  double max_offset = 8.0;
};

/// Per-macroblock QP offsets (raster order, grid = macroblock_grid(frame_width,
/// frame_height)) from a saliency map covering the whole frame at any
/// resolution. Each macroblock takes the area average of the map over the part
/// of it that lies inside the frame (partial macroblocks at odd sizes average
/// only their visible pixels). The averages s_i are centred on their mean, so
/// the mean offset is 0 before clamping and the encoder's overall rate is
/// roughly kept (rate control still has the final word):
///   offset_i = clamp(-2 * strength * max_offset * (s_i - mean(s)), +-max_offset).
/// Salient macroblocks get negative offsets (finer quantisation).
/// Throws std::invalid_argument for an empty map, non-finite values, a
/// non-positive frame size, strength < 0 or max_offset <= 0.
std::vector<float> saliency_to_qp_offsets(const MapView &map, int frame_width, int frame_height,
                                          const QpOffsetOptions &options);

/// Area averages of the map over each macroblock's visible region (the s_i
/// above), raster order. Same preconditions as saliency_to_qp_offsets.
std::vector<float> macroblock_saliency(const MapView &map, int frame_width, int frame_height);

}  // namespace model
