#include "salmaps/yuv.hpp"

#include <array>
#include <stdexcept>

namespace model {

namespace {

// Kr and Kb of the ITU-R recommendations (Kg = 1 - Kr - Kb).
void luma_weights(YuvMatrix m, double *kr, double *kb) {
  switch (m) {
    case YuvMatrix::BT709: *kr = 0.2126; *kb = 0.0722; return;
    case YuvMatrix::BT2020: *kr = 0.2627; *kb = 0.0593; return;
    case YuvMatrix::BT601: break;
  }
  *kr = 0.299;
  *kb = 0.114;
}

// Per-level contributions, so that a pixel is four look-ups and three sums.
struct YuvTables {
  std::array<float, 256> y, r_v, g_u, g_v, b_u;
};

YuvTables make_tables(YuvMatrix m, YuvRange range) {
  double kr, kb;
  luma_weights(m, &kr, &kb);
  const double kg = 1.0 - kr - kb;
  const bool limited = range == YuvRange::Limited;
  const double y_offset = limited ? 16.0 : 0.0;
  const double y_scale = limited ? 255.0 / 219.0 : 1.0;
  const double c_scale = limited ? 255.0 / 224.0 : 1.0;
  YuvTables t;
  for (int i = 0; i < 256; ++i) {
    const double c = (i - 128.0) * c_scale;
    t.y[i] = float((i - y_offset) * y_scale);
    t.r_v[i] = float(2.0 * (1.0 - kr) * c);
    t.g_u[i] = float(-2.0 * kb * (1.0 - kb) / kg * c);
    t.g_v[i] = float(-2.0 * kr * (1.0 - kr) / kg * c);
    t.b_u[i] = float(2.0 * (1.0 - kb) * c);
  }
  return t;
}

}  // namespace

cv::Mat yuv420_to_rgb(const Yuv420View &f) {
  if (!f.y || !f.u || (!f.interleaved && !f.v) || f.width <= 0 || f.height <= 0)
    throw std::invalid_argument("YUV 4:2:0 frame without planes");
  const std::size_t cw = std::size_t(f.width + 1) / 2;
  if (f.y_stride < std::size_t(f.width) || f.u_stride < (f.interleaved ? 2 * cw : cw) ||
      (!f.interleaved && f.v_stride < cw))
    throw std::invalid_argument("YUV 4:2:0 frame with a stride shorter than its rows");
  static const YuvTables tables[3][2] = {
      {make_tables(YuvMatrix::BT601, YuvRange::Limited), make_tables(YuvMatrix::BT601, YuvRange::Full)},
      {make_tables(YuvMatrix::BT709, YuvRange::Limited), make_tables(YuvMatrix::BT709, YuvRange::Full)},
      {make_tables(YuvMatrix::BT2020, YuvRange::Limited), make_tables(YuvMatrix::BT2020, YuvRange::Full)}};
  const YuvTables &t = tables[int(f.matrix)][f.range == YuvRange::Full ? 1 : 0];

  cv::Mat rgb(f.height, f.width, CV_8UC3);
  for (int y = 0; y < f.height; ++y) {
    const std::uint8_t *yrow = f.y + std::size_t(y) * f.y_stride;
    const std::uint8_t *urow = f.u + std::size_t(y / 2) * f.u_stride;
    const std::uint8_t *vrow = f.interleaved ? urow + 1 : f.v + std::size_t(y / 2) * f.v_stride;
    const int step = f.interleaved ? 2 : 1;
    auto *out = rgb.ptr<cv::Vec3b>(y);
    for (int x = 0; x < f.width; ++x) {
      const int c = (x / 2) * step;
      const float l = t.y[yrow[x]];
      const std::uint8_t u = urow[c], v = vrow[c];
      out[x] = {cv::saturate_cast<std::uint8_t>(l + t.r_v[v]),
                cv::saturate_cast<std::uint8_t>(l + t.g_u[u] + t.g_v[v]),
                cv::saturate_cast<std::uint8_t>(l + t.b_u[u])};
    }
  }
  return rgb;
}

}  // namespace model
