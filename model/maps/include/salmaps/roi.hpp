// Saliency map -> regions of interest, for ROI-aware encoders (the
// `saliencyroi` element turns them into GstVideoRegionOfInterestMeta with
// roi/vaapi and roi/msdk delta-qp parameters; ecosystem.md 4.1-4.2).
//
// Torch-free and GStreamer-free: only the standard library in this header,
// OpenCV in the implementation.
#pragma once

#include <vector>

#include "salmaps/map_view.hpp"

namespace model {

/// One salient region, in frame pixels.
struct SalientRegion {
  int x = 0;
  int y = 0;
  int width = 0;
  int height = 0;
  /// Peak of the min-max normalised map inside the region, in (threshold, 1].
  /// Regions are ranked by it: the most salient region has score 1.
  float score = 0.f;
  /// Map cells in the connected component (at map resolution).
  int cells = 0;
};

struct RoiOptions {
  /// At most this many regions, the highest-scoring first (>= 1).
  int max_regions = 4;
  /// A map cell belongs to a region when its min-max normalised value is at
  /// least this (in [0,1]).
  float threshold = 0.5f;
  /// Rectangles are grown outwards to multiples of this many frame pixels
  /// (16: H.264 macroblocks), then clipped to the frame. 1 = no alignment.
  int align = 16;
};

/// Thresholds the map, finds its 8-connected components and returns the
/// bounding rectangles of the best max_regions of them, scaled to a frame of
/// frame_width x frame_height. A flat map (is_flat_range in map_view.hpp:
/// constant, all zeros, or a range of fp32 rounding noise) has no salient region.
/// Throws std::invalid_argument for an empty map, non-finite values, a
/// non-positive frame size or max_regions < 1.
std::vector<SalientRegion> find_salient_regions(const MapView &map, int frame_width,
                                                int frame_height, const RoiOptions &options);

/// Intersection over union of two rectangles (0 when either is empty).
float intersection_over_union(const SalientRegion &a, const SalientRegion &b);

/// Temporal hysteresis for encoders that re-initialise when the ROI set
/// changes (msdkh264enc does, ecosystem.md 4.2): returns `previous` when it has
/// as many regions as `current` and each region of `current` overlaps a
/// distinct region of `previous` with IoU >= min_iou; otherwise `current`.
std::vector<SalientRegion> stabilise_regions(const std::vector<SalientRegion> &previous,
                                             const std::vector<SalientRegion> &current,
                                             float min_iou);

}  // namespace model
