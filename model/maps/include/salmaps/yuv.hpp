// 8-bit 4:2:0 YUV frames (GStreamer's I420 and NV12) read as RGB, so that the
// `saliency` element takes what decoders and encoders exchange without a
// `videoconvert` in between.
#pragma once

#include <cstddef>
#include <cstdint>

#include <opencv2/core.hpp>

#include "salmaps/pixel_format.hpp"

namespace model {

/// A borrowed 4:2:0 frame. I420: U and V planes apart; NV12: one plane of
/// interleaved U, V pairs in `u` (`v` unused). Chroma planes hold
/// ceil(width / 2) x ceil(height / 2) samples. Strides are in bytes.
struct Yuv420View {
  const std::uint8_t *y = nullptr, *u = nullptr, *v = nullptr;
  std::size_t y_stride = 0, u_stride = 0, v_stride = 0;
  int width = 0;
  int height = 0;
  bool interleaved = false;  ///< NV12
  YuvMatrix matrix = YuvMatrix::BT601;
  YuvRange range = YuvRange::Limited;
};

/// RGB (CV_8UC3, R first) of a 4:2:0 frame. Each pixel takes the chroma sample
/// of its 2x2 block (no chroma interpolation: the models work at a fraction of
/// the frame's size, where the difference does not survive the resize).
/// ITU-R coefficients of `matrix`; limited range maps Y 16-235 and U, V
/// 16-240 to 0-255, full range takes all 256 levels. Results are rounded to
/// the nearest level and saturated. Throws std::invalid_argument on a frame
/// without planes or with a stride shorter than its row.
cv::Mat yuv420_to_rgb(const Yuv420View &frame);

}  // namespace model
