// Saliency map -> regions of interest (see salmaps/roi.hpp). Torch-free.
#include "salmaps/roi.hpp"

#include <algorithm>
#include <cmath>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <stdexcept>
#include <string>

namespace model {
namespace {

// Grows [lo, hi) outwards to multiples of `align`, clipped to [0, limit).
void align_span(int &lo, int &hi, int align, int limit) {
  if (align > 1) {
    lo = (lo / align) * align;
    hi = ((hi + align - 1) / align) * align;
  }
  lo = std::clamp(lo, 0, limit);
  hi = std::clamp(hi, lo, limit);
}

}  // namespace

std::vector<SalientRegion> find_salient_regions(const MapView &map, int frame_width,
                                                int frame_height, const RoiOptions &options) {
  if (!map.values || map.width <= 0 || map.height <= 0)
    throw std::invalid_argument("salient regions: empty saliency map");
  if (frame_width <= 0 || frame_height <= 0)
    throw std::invalid_argument("salient regions: frame size must be positive, got " +
                                std::to_string(frame_width) + "x" + std::to_string(frame_height));
  if (options.max_regions < 1)
    throw std::invalid_argument("salient regions: max_regions must be >= 1, got " +
                                std::to_string(options.max_regions));
  const cv::Mat m(map.height, map.width, CV_32FC1, const_cast<float *>(map.values));
  if (!cv::checkRange(m))
    throw std::invalid_argument("salient regions: saliency map has non-finite values");

  double lo = 0.0, hi = 0.0;
  cv::minMaxLoc(m, &lo, &hi);
  // A flat map (is_flat_range) has no region that stands out. Normalising a
  // range of rounding noise would threshold noise: regions anywhere.
  const MinMaxScale s = min_max_scale(lo, hi);
  if (s.flat) return {};
  cv::Mat normalised;
  m.convertTo(normalised, CV_32FC1, s.scale, s.offset);
  const float threshold = std::clamp(options.threshold, 0.f, 1.f);
  cv::Mat mask = normalised >= threshold;  // CV_8UC1, 255 where salient

  cv::Mat labels, stats, centroids;
  const int n = cv::connectedComponentsWithStats(mask, labels, stats, centroids, 8, CV_32S);
  std::vector<SalientRegion> regions;
  std::vector<float> peaks(static_cast<std::size_t>(n), 0.f);
  for (int y = 0; y < labels.rows; ++y) {
    const int *l = labels.ptr<int>(y);
    const float *v = normalised.ptr<float>(y);
    for (int x = 0; x < labels.cols; ++x)
      if (l[x] > 0) peaks[l[x]] = std::max(peaks[l[x]], v[x]);
  }
  for (int i = 1; i < n; ++i) {  // label 0 is the background
    const int cx = stats.at<int>(i, cv::CC_STAT_LEFT), cy = stats.at<int>(i, cv::CC_STAT_TOP);
    const int cw = stats.at<int>(i, cv::CC_STAT_WIDTH), ch = stats.at<int>(i, cv::CC_STAT_HEIGHT);
    // Cell edges to frame pixels: a cell [c, c+1) covers [c*W/w, (c+1)*W/w).
    int x0 = static_cast<int>(std::floor(double(cx) * frame_width / map.width));
    int x1 = static_cast<int>(std::ceil(double(cx + cw) * frame_width / map.width));
    int y0 = static_cast<int>(std::floor(double(cy) * frame_height / map.height));
    int y1 = static_cast<int>(std::ceil(double(cy + ch) * frame_height / map.height));
    align_span(x0, x1, options.align, frame_width);
    align_span(y0, y1, options.align, frame_height);
    SalientRegion r;
    r.x = x0;
    r.y = y0;
    r.width = x1 - x0;
    r.height = y1 - y0;
    r.score = peaks[i];
    r.cells = stats.at<int>(i, cv::CC_STAT_AREA);
    regions.push_back(r);
  }
  // Highest peak first; among equal peaks the larger region.
  std::stable_sort(regions.begin(), regions.end(),
                   [](const SalientRegion &a, const SalientRegion &b) {
                     return a.score != b.score ? a.score > b.score : a.cells > b.cells;
                   });
  if (regions.size() > static_cast<std::size_t>(options.max_regions))
    regions.resize(options.max_regions);
  return regions;
}

float intersection_over_union(const SalientRegion &a, const SalientRegion &b) {
  const long ix = std::max(0, std::min(a.x + a.width, b.x + b.width) - std::max(a.x, b.x));
  const long iy = std::max(0, std::min(a.y + a.height, b.y + b.height) - std::max(a.y, b.y));
  const long inter = ix * iy;
  const long uni = long(a.width) * a.height + long(b.width) * b.height - inter;
  return uni > 0 ? float(double(inter) / double(uni)) : 0.f;
}

std::vector<SalientRegion> stabilise_regions(const std::vector<SalientRegion> &previous,
                                             const std::vector<SalientRegion> &current,
                                             float min_iou) {
  if (previous.size() != current.size() || current.empty()) return current;
  std::vector<bool> used(previous.size(), false);
  for (const auto &c : current) {
    bool matched = false;
    for (std::size_t j = 0; j < previous.size() && !matched; ++j)
      if (!used[j] && intersection_over_union(c, previous[j]) >= min_iou) {
        used[j] = true;
        matched = true;
      }
    if (!matched) return current;
  }
  return previous;
}

}  // namespace model
