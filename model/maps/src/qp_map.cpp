// Saliency map -> per-macroblock QP offsets (salmaps/qp_map.hpp).
#include "salmaps/qp_map.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace model {

namespace {

// One map cell's share of an interval of frame pixels.
struct CellWeight {
  int cell;
  double weight;
};

// Cells of a map axis of `cells` cells stretched over `frame` pixels that
// overlap the pixel interval [p0, p1), with their overlap lengths in map cells
// (box filter: the exact area average of a piecewise-constant map).
std::vector<CellWeight> overlapping_cells(int p0, int p1, int frame, int cells) {
  const double scale = double(cells) / double(frame);
  const double m0 = p0 * scale, m1 = p1 * scale;
  std::vector<CellWeight> out;
  for (int c = std::max(0, int(std::floor(m0))); c < cells && c < m1; ++c) {
    const double w = std::min(m1, double(c + 1)) - std::max(m0, double(c));
    if (w > 0) out.push_back({c, w});
  }
  return out;
}

void check_inputs(const MapView &map, int frame_width, int frame_height) {
  if (!map.values || map.width <= 0 || map.height <= 0)
    throw std::invalid_argument("saliency map is empty (" + std::to_string(map.width) + "x" +
                                std::to_string(map.height) + ")");
  if (frame_width <= 0 || frame_height <= 0)
    throw std::invalid_argument("frame size must be positive, got " + std::to_string(frame_width) +
                                "x" + std::to_string(frame_height));
  const std::size_t n = std::size_t(map.width) * map.height;
  for (std::size_t i = 0; i < n; ++i)
    if (!std::isfinite(map.values[i]))
      throw std::invalid_argument("saliency map has a non-finite value at index " +
                                  std::to_string(i));
}

}  // namespace

MacroblockGrid macroblock_grid(int frame_width, int frame_height) {
  if (frame_width <= 0 || frame_height <= 0)
    throw std::invalid_argument("frame size must be positive, got " + std::to_string(frame_width) +
                                "x" + std::to_string(frame_height));
  return {(frame_width + kMacroblockSize - 1) / kMacroblockSize,
          (frame_height + kMacroblockSize - 1) / kMacroblockSize};
}

std::vector<float> macroblock_saliency(const MapView &map, int frame_width, int frame_height) {
  check_inputs(map, frame_width, frame_height);
  const MacroblockGrid grid = macroblock_grid(frame_width, frame_height);
  // The separable box weights of each macroblock column and row.
  std::vector<std::vector<CellWeight>> xw(grid.columns), yw(grid.rows);
  for (int c = 0; c < grid.columns; ++c)
    xw[c] = overlapping_cells(c * kMacroblockSize, std::min(frame_width, (c + 1) * kMacroblockSize),
                              frame_width, map.width);
  for (int r = 0; r < grid.rows; ++r)
    yw[r] =
        overlapping_cells(r * kMacroblockSize, std::min(frame_height, (r + 1) * kMacroblockSize),
                          frame_height, map.height);
  std::vector<float> out(grid.count());
  for (int r = 0; r < grid.rows; ++r)
    for (int c = 0; c < grid.columns; ++c) {
      double sum = 0, area = 0;
      for (const CellWeight &y : yw[r]) {
        const float *row = map.values + std::size_t(y.cell) * map.width;
        for (const CellWeight &x : xw[c]) {
          sum += y.weight * x.weight * row[x.cell];
          area += y.weight * x.weight;
        }
      }
      out[std::size_t(r) * grid.columns + c] = float(area > 0 ? sum / area : 0.0);
    }
  return out;
}

std::vector<float> saliency_to_qp_offsets(const MapView &map, int frame_width, int frame_height,
                                          const QpOffsetOptions &options) {
  if (!(options.strength >= 0) || !std::isfinite(options.strength))
    throw std::invalid_argument("QP offset strength must be finite and >= 0, got " +
                                std::to_string(options.strength));
  if (!(options.max_offset > 0) || !std::isfinite(options.max_offset))
    throw std::invalid_argument("maximum QP offset must be finite and > 0, got " +
                                std::to_string(options.max_offset));
  std::vector<float> s = macroblock_saliency(map, frame_width, frame_height);
  if (options.strength == 0) return std::vector<float>(s.size(), 0.f);
  for (float &v : s) v = std::max(v, 0.f);
  // Macroblocks that are all equally salient (a constant map, an all-zero one,
  // or one whose macroblock averages differ only by rounding) get uniform
  // quality: all-zero offsets, exactly. Without this, log2(s_i / m) of a
  // constant map is rounding noise of ~1e-7 QP, not 0.
  const auto [lo, hi] = std::minmax_element(s.begin(), s.end());
  if (is_flat_range(*lo, *hi)) return std::vector<float>(s.size(), 0.f);
  double mean = 0;
  for (float v : s) mean += v;
  mean /= double(s.size());
  const double bound = options.max_offset;
  if (!(mean > 0)) return std::vector<float>(s.size(), 0.f);  // no information
  switch (options.mapping) {
    case QpMapping::LogRatio: {
      const double gain = 3.0 * options.strength;
      for (float &v : s)
        v = v > 0 ? float(std::clamp(-gain * std::log2(double(v) / mean), -bound, bound))
                  : float(bound);  // log2(0) = -inf: the coarsest allowed
      break;
    }
    case QpMapping::Linear: {
      const double gain = 2.0 * options.strength * options.max_offset;
      for (float &v : s) v = float(std::clamp(-gain * (v - mean), -bound, bound));
      break;
    }
  }
  return s;
}

}  // namespace model
