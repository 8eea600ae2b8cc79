// Map statistics shared by the model tests.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "salmaps/map_view.hpp"  // min_max_scale, as saliency-predict's PNGs
#include "salmodel/predictor.hpp"

namespace testsupport {

// A map as saliency-predict's PNG path sees it: resized to the frame and min-max
// normalised with model::min_max_scale to 8 bits.
struct PngStats {
  bool finite_in_unit_range = true, flat = false;
  double lo = 0, hi = 0, png_mean = 0, hot_fraction = 0;
  int peak_x = 0, peak_y = 0;
};
inline PngStats png_stats(const model::SaliencyMap &m, int w, int h) {
  PngStats s;
  for (float v : m.values) s.finite_in_unit_range &= std::isfinite(v) && v >= 0.f && v <= 1.f;
  const std::vector<float> full = model::resize_map(m, w, h);
  s.lo = *std::min_element(full.begin(), full.end());
  s.hi = *std::max_element(full.begin(), full.end());
  const model::MinMaxScale mm = model::min_max_scale(s.lo, s.hi);
  s.flat = mm.flat;
  int hot = 0, best = -1;
  for (int i = 0; i < w * h; ++i) {
    const double v = std::clamp(std::round(255.0 * (full[i] * mm.scale + mm.offset)), 0.0, 255.0);
    s.png_mean += v / 255.0 / (w * h);
    hot += v >= 128;
    if (best < 0 || full[i] > full[best]) best = i;
  }
  s.hot_fraction = double(hot) / (w * h);
  s.peak_x = best % w;
  s.peak_y = best / w;
  return s;
}

}  // namespace testsupport
