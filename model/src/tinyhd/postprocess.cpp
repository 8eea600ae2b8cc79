// The official TinyHD PNG post-processing (generate.py post_process_png),
// step by step in the official arithmetic, because published benchmark
// figures are computed on such PNGs (spec A.5).
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "salmodel/tinyhd.hpp"

namespace model {

std::vector<std::uint8_t> tinyhd_png_postprocess(const float *map, int map_width, int map_height, int width,
                                                 int height) {
  const size_t n = static_cast<size_t>(map_width) * map_height;
  const auto [lo_it, hi_it] = std::minmax_element(map, map + n);
  const float lo = *lo_it, hi = *hi_it;
  // numpy: (m - min) / ((max - min) * 1.0) on a float32 array is float32
  // arithmetic throughout (the float64 scalar is cast to the array's type),
  // then * 255 in float32 and astype(uint8), which truncates.
  const float range = hi - lo;
  cv::Mat u8(map_height, map_width, CV_8U);
  for (size_t i = 0; i < n; ++i) {
    if (!(range > 0.0f)) {
      u8.data[i] = 0;  // flat map: the official code divides by zero here
      continue;
    }
    const volatile float normalised = (map[i] - lo) / range;  // no fused or reordered arithmetic
    const float scaled = normalised * 255.0f;
    u8.data[i] = static_cast<std::uint8_t>(std::min(std::max(scaled, 0.0f), 255.0f));
  }
  cv::Mat resized, blurred;
  cv::resize(u8, resized, cv::Size(width, height), 0, 0, cv::INTER_CUBIC);
  // Sigma 0 with a 5x5 kernel: OpenCV's fixed binomial kernel, reflect-101 borders.
  cv::GaussianBlur(resized, blurred, cv::Size(5, 5), 0);
  return std::vector<std::uint8_t>(blurred.datastart, blurred.dataend);
}

}  // namespace model
