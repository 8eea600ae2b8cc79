// Saliency map -> per-macroblock QP offsets, for encoders with a dense QP-offset
// input (libx264's x264_picture_t.prop.quant_offsets, one float per 16x16
// macroblock in raster order; ecosystem.md 4.3). Used by the `saliencyx264enc`
// element and the `saliency-encode-eval` tool.
//
// Torch-free, OpenCV-free and GStreamer-free: only the standard library.
#pragma once

#include <vector>

#include "salmaps/map_view.hpp"

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

/// How a macroblock's saliency s_i (relative to the frame's macroblock mean m)
/// becomes a QP offset, before clamping to +-max_offset.
enum class QpMapping {
  /// -3 * strength * log2(s_i / m). With strength 1 this is the rate-distortion
  /// optimum for saliency-weighted squared error under the high-rate model
  /// (distortion ~ qstep^2, rate ~ -log2 qstep): the weighted error is lowest
  /// for qstep_i ~ w_i^-1/2, and qstep doubles every 6 QP.
  LogRatio,
  /// -2 * strength * max_offset * (s_i - m): the first mapping, kept for
  /// comparison (too weak where saliency is low, where most of the bits are).
  Linear,
};

struct QpOffsetOptions {
  /// How strongly saliency moves the QP, >= 0. 0 gives all-zero offsets.
  /// LogRatio: a macroblock twice as salient as the frame's mean gets
  /// -3 * strength QP. Linear: one 0.5 above the mean gets -strength * max_offset.
  double strength = 1.0;
  /// Offsets are clamped to [-max_offset, +max_offset] QP, > 0.
  double max_offset = 8.0;
  QpMapping mapping = QpMapping::LogRatio;
};

/// Per-macroblock QP offsets (raster order, grid = macroblock_grid(frame_width,
/// frame_height)) from a saliency map covering the whole frame at any
/// resolution. Each macroblock takes the area average s_i of the map over the
/// part of it that lies inside the frame (partial macroblocks at odd sizes
/// average only their visible pixels); the offsets are options.mapping of s_i
/// relative to the mean m of all s_i, clamped to +-max_offset:
///   LogRatio: offset_i = clamp(-3 * strength * log2(s_i / m))
///   Linear:   offset_i = clamp(-2 * strength * max_offset * (s_i - m))
/// Salient macroblocks get negative offsets (finer quantisation); the offsets
/// never increase with s_i. Rate control (ABR/CBR) keeps the bitrate; with CRF
/// the log-ratio offsets' positive mean (Jensen) lowers it somewhat. A map
/// whose macroblock averages are flat (is_flat_range in map_view.hpp: constant,
/// 0 everywhere, or differing only by fp32 rounding) carries no information
/// and gives all-zero offsets, i.e. uniform quality; negative map values
/// count as 0.
/// Throws std::invalid_argument for an empty map, non-finite values, a non-positive frame size,
/// strength < 0 or max_offset <= 0.
std::vector<float> saliency_to_qp_offsets(const MapView &map, int frame_width, int frame_height,
                                          const QpOffsetOptions &options);

/// Area averages of the map over each macroblock's visible region (the s_i
/// above), raster order. Same preconditions as saliency_to_qp_offsets.
std::vector<float> macroblock_saliency(const MapView &map, int frame_width, int frame_height);

}  // namespace model
