// salmaps/yuv.hpp: I420 and NV12 frames read as RGB (the saliency element's YUV input).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "salmaps/yuv.hpp"

namespace {

using model::YuvMatrix;
using model::YuvRange;

struct Yuv {
  double y, u, v;
};

// RGB -> YUV in exact arithmetic (ITU-R formulas), before any rounding.
Yuv to_yuv_exact(double r, double g, double b, YuvMatrix m, YuvRange range) {
  const double kr = m == YuvMatrix::BT709 ? 0.2126 : m == YuvMatrix::BT2020 ? 0.2627 : 0.299;
  const double kb = m == YuvMatrix::BT709 ? 0.0722 : m == YuvMatrix::BT2020 ? 0.0593 : 0.114;
  const double y = kr * r + (1 - kr - kb) * g + kb * b;  // 0..255
  const double cb = (b - y) / (2 * (1 - kb)), cr = (r - y) / (2 * (1 - kr));  // -127.5..127.5
  if (range == YuvRange::Full) return {y, 128 + cb, 128 + cr};
  return {16 + y * 219 / 255, 128 + cb * 224 / 255, 128 + cr * 224 / 255};
}

std::uint8_t level(double v) { return std::uint8_t(std::lround(std::clamp(v, 0.0, 255.0))); }

// One colour per 2x2 block (so 4:2:0 loses nothing), planes with padded rows.
struct Frame420 {
  int w, h;
  std::vector<std::uint8_t> y, u, v, uv;
  std::size_t y_stride, c_stride;
  std::vector<std::array<int, 3>> rgb;  // per pixel
  Frame420(int w_, int h_, YuvMatrix m, YuvRange range, std::uint32_t seed) : w(w_), h(h_) {
    const int cw = (w + 1) / 2, ch = (h + 1) / 2;
    y_stride = w + 7;
    c_stride = 2 * cw + 5;
    y.assign(y_stride * h, 0xEE);
    u.assign(c_stride * ch, 0xEE);
    v.assign(c_stride * ch, 0xEE);
    uv.assign(c_stride * ch, 0xEE);
    rgb.resize(std::size_t(w) * h);
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> d(0, 255);
    for (int by = 0; by < ch; ++by)
      for (int bx = 0; bx < cw; ++bx) {
        const int r = d(rng), g = d(rng), b = d(rng);
        const Yuv c = to_yuv_exact(r, g, b, m, range);
        u[by * c_stride + bx] = uv[by * c_stride + 2 * bx] = level(c.u);
        v[by * c_stride + bx] = uv[by * c_stride + 2 * bx + 1] = level(c.v);
        for (int yy = 2 * by; yy < std::min(h, 2 * by + 2); ++yy)
          for (int xx = 2 * bx; xx < std::min(w, 2 * bx + 2); ++xx) {
            y[yy * y_stride + xx] = level(c.y);
            rgb[std::size_t(yy) * w + xx] = {r, g, b};
          }
      }
  }
  model::Yuv420View view(bool nv12, YuvMatrix m, YuvRange range) const {
    model::Yuv420View f;
    f.y = y.data();
    f.y_stride = y_stride;
    f.u = nv12 ? uv.data() : u.data();
    f.v = nv12 ? nullptr : v.data();
    f.u_stride = f.v_stride = c_stride;
    f.width = w;
    f.height = h;
    f.interleaved = nv12;
    f.matrix = m;
    f.range = range;
    return f;
  }
};

}  // namespace

// Round trip through 8-bit YUV. Why at most 2 levels: each of Y, U, V is
// rounded to a level (error <= 0.5); the inverse multiplies those errors by
// 255/219 for Y and by at most 2(1 - Kb) * 255/224 = 2.14 for U (BT.2020,
// limited range; smaller for the other matrices, R's and G's terms and full
// range). With the final rounding the worst case is 0.58 + 1.07 + 0.5 = 2.15
// levels, so an integer result is within 2 of the original. Colours are random,
// all three matrices and ranges, odd and even sizes, I420 and NV12.
TEST(Yuv420, RoundTripsEveryMatrixAndRangeWithinTwoLevels) {
  for (YuvMatrix m : {YuvMatrix::BT601, YuvMatrix::BT709, YuvMatrix::BT2020})
    for (YuvRange range : {YuvRange::Limited, YuvRange::Full})
      for (auto [w, h] : {std::pair{16, 10}, std::pair{15, 9}, std::pair{1, 1}}) {
        const Frame420 f(w, h, m, range, std::uint32_t(w * 131 + int(m) * 7 + int(range)));
        for (bool nv12 : {false, true}) {
          SCOPED_TRACE(::testing::Message() << "matrix " << int(m) << " range " << int(range) << " " << w
                                            << "x" << h << (nv12 ? " NV12" : " I420"));
          const cv::Mat rgb = model::yuv420_to_rgb(f.view(nv12, m, range));
          ASSERT_EQ(rgb.type(), CV_8UC3);
          ASSERT_EQ(rgb.cols, w);
          ASSERT_EQ(rgb.rows, h);
          int worst = 0;
          for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x)
              for (int c = 0; c < 3; ++c)
                worst = std::max(worst, std::abs(int(rgb.at<cv::Vec3b>(y, x)[c]) - f.rgb[y * w + x][c]));
          EXPECT_LE(worst, 2);
        }
      }
}

// The matrix matters: the same bytes read with another matrix give other
// colours (the caps' colorimetry is not ignored), and limited-range black and
// white are 0 and 255.
TEST(Yuv420, MatrixAndRangeAreHonoured) {
  const Frame420 f(8, 8, YuvMatrix::BT709, YuvRange::Limited, 5);
  const cv::Mat as709 = model::yuv420_to_rgb(f.view(false, YuvMatrix::BT709, YuvRange::Limited));
  const cv::Mat as601 = model::yuv420_to_rgb(f.view(false, YuvMatrix::BT601, YuvRange::Limited));
  EXPECT_GT(cv::norm(as709, as601, cv::NORM_INF), 5.0);

  std::uint8_t y[4] = {16, 235, 16, 235}, u[1] = {128}, v[1] = {128};
  model::Yuv420View g;
  g.y = y;
  g.u = u;
  g.v = v;
  g.y_stride = 2;
  g.u_stride = g.v_stride = 1;
  g.width = g.height = 2;
  const cv::Mat limited = model::yuv420_to_rgb(g);
  EXPECT_EQ(limited.at<cv::Vec3b>(0, 0), cv::Vec3b(0, 0, 0));
  EXPECT_EQ(limited.at<cv::Vec3b>(0, 1), cv::Vec3b(255, 255, 255));
  g.range = YuvRange::Full;
  const cv::Mat full = model::yuv420_to_rgb(g);
  EXPECT_EQ(full.at<cv::Vec3b>(0, 0), cv::Vec3b(16, 16, 16));
  EXPECT_EQ(full.at<cv::Vec3b>(0, 1), cv::Vec3b(235, 235, 235));
}

TEST(Yuv420, RefusesFramesWithoutPlanesOrWithShortStrides) {
  std::uint8_t buf[64] = {};
  model::Yuv420View f;
  f.width = f.height = 4;
  EXPECT_THROW(model::yuv420_to_rgb(f), std::invalid_argument);
  f.y = f.u = f.v = buf;
  f.y_stride = 3;  // < width
  f.u_stride = f.v_stride = 2;
  EXPECT_THROW(model::yuv420_to_rgb(f), std::invalid_argument);
  f.y_stride = 4;
  f.interleaved = true;  // NV12 needs 2 bytes per chroma sample
  EXPECT_THROW(model::yuv420_to_rgb(f), std::invalid_argument);
  f.u_stride = 4;
  EXPECT_NO_THROW(model::yuv420_to_rgb(f));
}
