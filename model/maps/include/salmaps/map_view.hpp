// A saliency map as every map consumer sees it (heat map, ROIs, QP offsets,
// PNG output): a borrowed float32 grid, and the one rule for min-max
// normalising it, flat maps included.
//
// Torch-free and GStreamer-free: only the standard library.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>

namespace model {

/// A borrowed saliency map: row-major float32, `width` x `height` values,
/// covering the whole frame whatever its own resolution.
struct MapView {
  const float *values = nullptr;
  int width = 0;
  int height = 0;
};

/// Min-max normalisation, the one rule every map consumer uses (heat map,
/// ROIs, QP offsets, saliency-predict's PNGs, the baseline, the predictor's
/// interval blend): v -> (v - min) / (max - min), except that a *flat* map --
/// constant, or whose range is only fp32 rounding noise -- normalises to all
/// zeros: nothing in it stands out. Stretching a rounding-noise range to [0,1]
/// would turn a few ulps into a full-contrast pattern (a black frame's
/// "peak" in the corner, issue #16).
///
/// Why the bound: a map that is constant in exact arithmetic (a constant map
/// resized bilinearly, blurred with a normalised kernel, blended a*c + b*c)
/// comes out of k fp32 roundings as c(1 + d) with |d| <= k * eps / 2 (each
/// operation rounds to within half an ulp, eps = 2^-23), so its range is at
/// most k * eps * |c|. The chains here have a few dozen roundings per value
/// (separable blurs of up to 21 taps an axis, bilinear resizes, a blend), so 64 * eps * the
/// largest magnitude covers them with margin; it is still 7.6e-6 of the
/// value, 500 times below one 8-bit level (1/255), so no map with a visible
/// difference is called flat. The absolute floor (FLT_MIN, the smallest
/// normal float) makes the all-zero map flat and covers subnormal values,
/// whose rounding is absolute rather than relative.
constexpr double kFlatRangeRelative = 64.0 * std::numeric_limits<float>::epsilon();
constexpr double kFlatRangeAbsolute = std::numeric_limits<float>::min();

/// True when a map whose smallest value is lo and largest hi is flat (see
/// above). NaN bounds count as flat: there is no range to normalise by.
inline bool is_flat_range(double lo, double hi) {
  return !(hi - lo >
           kFlatRangeRelative * std::max(std::fabs(lo), std::fabs(hi)) + kFlatRangeAbsolute);
}

/// Min-max normalisation as v * scale + offset (the form cv::Mat::convertTo
/// takes): scale = 1 / (hi - lo), offset = -lo / (hi - lo); for a flat range
/// scale = offset = 0, i.e. an all-zero map, and `flat` is set.
struct MinMaxScale {
  double scale = 0.0;
  double offset = 0.0;
  bool flat = true;
};
inline MinMaxScale min_max_scale(double lo, double hi) {
  if (is_flat_range(lo, hi)) return {};
  return {1.0 / (hi - lo), -lo / (hi - lo), false};
}

}  // namespace model
