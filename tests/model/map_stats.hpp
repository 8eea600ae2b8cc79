// Map statistics shared by the model tests.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

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

// The maps of `frames` constant grey frames (every byte `level`) pushed
// through `predictor`, finish() included.
inline std::vector<model::SaliencyMap> maps_of_constant_frames(model::Predictor &predictor, int w, int h,
                                                               int level, int frames) {
  std::vector<std::uint8_t> pixels(std::size_t(w) * h * 3, std::uint8_t(level));
  std::vector<model::SaliencyMap> maps;
  for (int i = 0; i < frames; ++i)
    for (auto &m : predictor.push({pixels.data(), w, h, std::size_t(w) * 3, model::PixelFormat::RGB}))
      maps.push_back(std::move(m));
  for (auto &m : predictor.finish()) maps.push_back(std::move(m));
  return maps;
}

// A deep model's map of a constant frame is not flat (padding, letterboxes and
// learned priors shape it): its PNG stretches that real range, and "no spike"
// means the hot part (>= half the PNG range) is a real area, not one cell, and
// the PNG not near-black.
inline void expect_real_structure_in_png(const model::SaliencyMap &m, int w, int h) {
  const PngStats stats = png_stats(m, w, h);
  EXPECT_TRUE(stats.finite_in_unit_range);
  EXPECT_FALSE(stats.flat);
  EXPECT_GT(stats.hot_fraction, 0.01);
  EXPECT_GT(stats.png_mean, 0.1);
}

}  // namespace testsupport
