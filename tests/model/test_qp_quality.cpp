// Unit tests for the torch-free encoding helpers: saliency map -> per-macroblock
// QP offsets (salmaps/qp_map.hpp) and PSNR / EWPSNR / BD-rate
// (salmaps/video_quality.hpp). References are closed forms worked out by hand.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "salmaps/qp_map.hpp"
#include "salmaps/video_quality.hpp"

namespace {

using model::MapView;
using model::PlaneView;
using model::QpMapping;
using model::QpOffsetOptions;
using model::RatePoint;

TEST(QpMap, MacroblockGridRoundsUpOddSizes) {
  EXPECT_EQ(model::macroblock_grid(33, 17).columns, 3);
  EXPECT_EQ(model::macroblock_grid(33, 17).rows, 2);
  EXPECT_EQ(model::macroblock_grid(32, 16).count(), 2);
  EXPECT_EQ(model::macroblock_grid(1920, 1080).count(), 120 * 68);
  EXPECT_THROW(model::macroblock_grid(0, 16), std::invalid_argument);
}

TEST(QpMap, PartialMacroblocksAverageOnlyVisiblePixels) {
  // 33x17 frame, map at frame resolution: 1 on the last column (x = 32) and
  // the last row (y = 16), 0 elsewhere. The partial macroblocks of column 2
  // (1 pixel wide) and row 1 (1 pixel tall) see only those pixels.
  const int w = 33, h = 17;
  std::vector<float> v(w * h, 0.f);
  for (int y = 0; y < h; ++y) v[y * w + 32] = 1.f;
  for (int x = 0; x < w; ++x) v[16 * w + x] = 1.f;
  const auto s = model::macroblock_saliency(MapView{v.data(), w, h}, w, h);
  ASSERT_EQ(s.size(), 6u);
  EXPECT_FLOAT_EQ(s[0], 0.f);  // MB (0,0): interior
  EXPECT_FLOAT_EQ(s[2], 1.f);  // MB (2,0): the x = 32 column only
  EXPECT_FLOAT_EQ(s[3], 1.f);  // MB (0,1): the y = 16 row only
  EXPECT_FLOAT_EQ(s[5], 1.f);  // MB (2,1): the corner pixel
}

TEST(QpMap, LowResolutionMapIsAreaAveraged) {
  // A 2x1 map [0, 1] over a 48x16 frame: the left 24 pixels are 0, the right 24
  // are 1. MB 0 -> 0, MB 1 (pixels 16..31: 8 of 0, 8 of 1) -> 0.5, MB 2 -> 1.
  const float v[2] = {0.f, 1.f};
  const auto s = model::macroblock_saliency(MapView{v, 2, 1}, 48, 16);
  ASSERT_EQ(s.size(), 3u);
  EXPECT_NEAR(s[0], 0.0, 1e-6);
  EXPECT_NEAR(s[1], 0.5, 1e-6);
  EXPECT_NEAR(s[2], 1.0, 1e-6);
}

TEST(QpMap, StrengthZeroGivesZeroOffsets) {
  std::vector<float> v(9 * 7);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = float(i % 5) / 4.f;
  for (QpMapping mapping : {QpMapping::LogRatio, QpMapping::Linear}) {
    const auto o =
        model::saliency_to_qp_offsets(MapView{v.data(), 9, 7}, 97, 65, {0.0, 8.0, mapping});
    ASSERT_EQ(o.size(), 7u * 5u);
    for (float x : o) EXPECT_EQ(x, 0.f);
  }
}

TEST(QpMap, LinearMappingIsCentredOnTheMean) {
  // Horizontal ramp 0..1 over 4 macroblock columns: offsets strictly decrease
  // with saliency, sum to 0 (no clamping at strength 0.25, max 8), and match
  // the closed form -2 * strength * max * (s - mean).
  const int w = 64, h = 16;
  std::vector<float> v(w * h);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) v[y * w + x] = float(x) / float(w - 1);
  const auto s = model::macroblock_saliency(MapView{v.data(), w, h}, w, h);
  const auto o =
      model::saliency_to_qp_offsets(MapView{v.data(), w, h}, w, h, {0.25, 8.0, QpMapping::Linear});
  ASSERT_EQ(o.size(), 4u);
  for (int i = 1; i < 4; ++i) EXPECT_LT(o[i], o[i - 1]);
  EXPECT_NEAR(std::accumulate(o.begin(), o.end(), 0.0), 0.0, 1e-5);
  const double mean = std::accumulate(s.begin(), s.end(), 0.0) / 4;
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(o[i], -2 * 0.25 * 8 * (s[i] - mean), 1e-5);
}

TEST(QpMap, OffsetsAreBoundedByMaxOffset) {
  // Half the frame at 1, half at 0, strength 10: every offset hits the bound,
  // with either mapping (log-ratio: log2(1/0.5) = 1 -> -30, log2(0) -> +inf).
  const float v[2] = {1.f, 0.f};
  for (QpMapping mapping : {QpMapping::LogRatio, QpMapping::Linear}) {
    const auto o = model::saliency_to_qp_offsets(MapView{v, 2, 1}, 64, 32, {10.0, 3.5, mapping});
    ASSERT_EQ(o.size(), 8u);
    for (int r = 0; r < 2; ++r) {
      EXPECT_FLOAT_EQ(o[r * 4 + 0], -3.5f);
      EXPECT_FLOAT_EQ(o[r * 4 + 1], -3.5f);
      EXPECT_FLOAT_EQ(o[r * 4 + 2], 3.5f);
      EXPECT_FLOAT_EQ(o[r * 4 + 3], 3.5f);
    }
  }
}

TEST(QpMap, LogRatioMappingMatchesTheClosedForm) {
  // Four macroblock columns with saliency 0.1, 0.2, 0.4, 0.8 (mean 0.375):
  // offset_i = -3 * strength * log2(s_i / 0.375); doubling the saliency
  // lowers the QP by exactly 3 * strength.
  const float v[4] = {0.1f, 0.2f, 0.4f, 0.8f};
  const auto o =
      model::saliency_to_qp_offsets(MapView{v, 4, 1}, 64, 16, {0.5, 8.0, QpMapping::LogRatio});
  ASSERT_EQ(o.size(), 4u);
  for (int i = 0; i < 4; ++i)
    EXPECT_NEAR(o[i], -1.5 * std::log2(v[i] / 0.375), 1e-5) << "macroblock " << i;
  for (int i = 1; i < 4; ++i) EXPECT_NEAR(o[i - 1] - o[i], 1.5, 1e-5);
}

TEST(QpMap, LogRatioIsMonotonicBoundedAndScaleFree) {
  // A 2-D pattern with a wide range of saliency over an odd-sized frame
  // (100x70: 7x5 macroblocks, partial ones at the right and bottom).
  const int mw = 23, mh = 17, fw = 100, fh = 70;
  std::vector<float> v(mw * mh);
  for (int y = 0; y < mh; ++y)
    for (int x = 0; x < mw; ++x)
      v[y * mw + x] = std::pow(float(x + 1) / mw, 3.f) * (0.2f + float(y) / mh);
  const QpOffsetOptions opt{1.5, 6.0, QpMapping::LogRatio};
  const auto s = model::macroblock_saliency(MapView{v.data(), mw, mh}, fw, fh);
  const auto o = model::saliency_to_qp_offsets(MapView{v.data(), mw, mh}, fw, fh, opt);
  ASSERT_EQ(o.size(), 35u);
  bool low = false, high = false;
  for (std::size_t i = 0; i < o.size(); ++i) {
    EXPECT_LE(std::fabs(o[i]), 6.0f);
    low |= o[i] == -6.0f;
    high |= o[i] == 6.0f;
    for (std::size_t j = 0; j < o.size(); ++j)
      if (s[i] < s[j]) {
        EXPECT_GE(o[i], o[j]) << "more salient must not get a higher QP";
      }
  }
  EXPECT_TRUE(low && high) << "the pattern should reach both bounds";
  // Only ratios to the mean count: scaling the map changes nothing.
  std::vector<float> scaled(v);
  for (float &x : scaled) x *= 7.f;
  const auto o2 = model::saliency_to_qp_offsets(MapView{scaled.data(), mw, mh}, fw, fh, opt);
  for (std::size_t i = 0; i < o.size(); ++i) EXPECT_NEAR(o2[i], o[i], 1e-4);
}

TEST(QpMap, FlatOrEmptyMapsGiveZeroOffsets) {
  // No information, no offsets: a uniform map and an all-zero map. Negative
  // values count as 0.
  const std::vector<float> flat(12, 0.3f), zero(12, 0.f), negative(12, -1.f);
  for (const auto *v : {&flat, &zero, &negative})
    for (QpMapping mapping : {QpMapping::LogRatio, QpMapping::Linear}) {
      const auto o =
          model::saliency_to_qp_offsets(MapView{v->data(), 4, 3}, 50, 30, {2.0, 8.0, mapping});
      ASSERT_EQ(o.size(), 8u);
      for (float x : o) EXPECT_NEAR(x, 0.f, 1e-6);
    }
}

TEST(QpMap, RejectsBadInput) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float one = 1.f;
  EXPECT_THROW(model::saliency_to_qp_offsets(MapView{nullptr, 0, 0}, 16, 16, {}),
               std::invalid_argument);
  EXPECT_THROW(model::saliency_to_qp_offsets(MapView{&nan, 1, 1}, 16, 16, {}),
               std::invalid_argument);
  EXPECT_THROW(model::saliency_to_qp_offsets(MapView{&one, 1, 1}, 16, 16, {-1.0, 8.0}),
               std::invalid_argument);
  EXPECT_THROW(model::saliency_to_qp_offsets(MapView{&one, 1, 1}, 16, 16, {1.0, 0.0}),
               std::invalid_argument);
  EXPECT_THROW(model::saliency_to_qp_offsets(MapView{&one, 1, 1}, -4, 16, {}),
               std::invalid_argument);
}

struct Plane {
  int width, height;
  std::size_t stride;
  std::vector<std::uint8_t> data;
  Plane(int w, int h, int pad) : width(w), height(h), stride(w + pad), data(stride * h, 0) {}
  std::uint8_t &at(int x, int y) { return data[y * stride + x]; }
  PlaneView view() const { return {data.data(), width, height, stride}; }
};

TEST(VideoQuality, IdenticalPlanesHaveInfinitePsnr) {
  Plane a(7, 5, 3);
  for (int y = 0; y < 5; ++y)
    for (int x = 0; x < 7; ++x) a.at(x, y) = std::uint8_t(x * 30 + y);
  EXPECT_EQ(model::mean_squared_error(a.view(), a.view()), 0.0);
  EXPECT_TRUE(std::isinf(model::psnr_from_mse(0.0)));
}

TEST(VideoQuality, PsnrMatchesClosedFormAndIgnoresPadding) {
  Plane a(8, 4, 5), b(8, 4, 2);
  // Half the pixels differ by 4, the rest by 0: MSE = 8.
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 8; ++x) {
      a.at(x, y) = 100;
      b.at(x, y) = x < 4 ? 104 : 100;
    }
  std::fill(a.data.begin(), a.data.end(), a.data[0]);  // padding too, must not matter
  EXPECT_DOUBLE_EQ(model::mean_squared_error(a.view(), b.view()), 8.0);
  EXPECT_NEAR(model::psnr_from_mse(8.0), 10 * std::log10(255.0 * 255.0 / 8.0), 1e-12);
}

TEST(VideoQuality, EwpsnrWithUniformMapEqualsPsnrAndFollowsWeights) {
  Plane a(8, 4, 0), b(8, 4, 0);
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 8; ++x) b.at(x, y) = x < 4 ? 6 : 2;  // errors 36 (left), 4 (right)
  const std::vector<float> uniform(32, 0.37f);
  EXPECT_DOUBLE_EQ(model::weighted_squared_error(a.view(), b.view(), uniform),
                   model::mean_squared_error(a.view(), b.view()));
  // All weight on the right half: only its error (4) counts.
  std::vector<float> right(32, 0.f);
  for (int y = 0; y < 4; ++y)
    for (int x = 4; x < 8; ++x) right[y * 8 + x] = 2.f;
  EXPECT_DOUBLE_EQ(model::weighted_squared_error(a.view(), b.view(), right), 4.0);
  EXPECT_THROW(model::weighted_squared_error(a.view(), b.view(), std::vector<float>(32, 0.f)),
               std::invalid_argument);
  EXPECT_THROW(model::weighted_squared_error(a.view(), b.view(), std::vector<float>(31, 1.f)),
               std::invalid_argument);
}

std::vector<RatePoint> curve(double rate_scale) {
  // A plausible rate-quality curve: quality = 10 log10(rate) + 10.
  std::vector<RatePoint> c;
  for (double r : {500.0, 1000.0, 2000.0, 4000.0})
    c.push_back({r * rate_scale, 10 * std::log10(r) + 10});
  return c;
}

TEST(VideoQuality, BdRateOfIdenticalCurvesIsZero) {
  EXPECT_NEAR(model::bjontegaard_delta_rate(curve(1.0), curve(1.0)), 0.0, 1e-9);
}

TEST(VideoQuality, BdRateOfTenPercentLowerRateIsMinusTen) {
  EXPECT_NEAR(model::bjontegaard_delta_rate(curve(1.0), curve(0.9)), -10.0, 1e-6);
  EXPECT_NEAR(model::bjontegaard_delta_rate(curve(0.9), curve(1.0)), 100.0 / 0.9 - 100.0, 1e-6);
}

TEST(VideoQuality, BdQualityOfAOneDbBetterCurveIsOneDb) {
  auto better = curve(1.0);
  for (auto &p : better) p.quality += 1.0;
  EXPECT_NEAR(model::bjontegaard_delta_quality(curve(1.0), better), 1.0, 1e-9);
  EXPECT_NEAR(model::bjontegaard_delta_quality(curve(1.0), curve(1.0)), 0.0, 1e-9);
  // 10% less rate at equal quality = 10 log10(1/0.9) dB better on this 10 dB/decade curve.
  EXPECT_NEAR(model::bjontegaard_delta_quality(curve(1.0), curve(0.9)), -10 * std::log10(0.9),
              1e-6);
}

TEST(VideoQuality, BdRateRejectsTooFewPointsOrDisjointRanges) {
  auto three = curve(1.0);
  three.pop_back();
  EXPECT_THROW(model::bjontegaard_delta_rate(three, curve(1.0)), std::invalid_argument);
  auto high = curve(1.0);
  for (auto &p : high) p.quality += 100;
  EXPECT_THROW(model::bjontegaard_delta_rate(curve(1.0), high), std::invalid_argument);
}

}  // namespace

TEST(QpMap, ConstantMapsGiveExactlyZeroOffsetsAtAnySize) {
  // Uniform quality for a featureless frame, exactly (x264 adds the offsets to
  // every macroblock's QP): constant maps whose macroblock averages differ by
  // rounding (odd frame sizes, partial macroblocks) and a map of rounding noise
  // whose macroblocks average to values one ulp apart (that gave |offsets| ~1e-7).
  std::vector<float> noise(32 * 32, 0.3f);
  for (int y = 16; y < 32; ++y)
    for (int x = 16; x < 32; ++x) noise[y * 32 + x] = std::nextafter(0.3f, 1.f);
  const std::vector<float> constant(7 * 5, 0.3f), ones(7 * 5, 1.f);
  struct Case {
    const std::vector<float> *map;
    int mw, mh, fw, fh;
  } cases[] = {{&noise, 32, 32, 32, 32},
               {&constant, 7, 5, 301, 173},
               {&ones, 7, 5, 250, 99},
               {&constant, 7, 5, 1920, 1080}};
  for (const Case &c : cases)
    for (QpMapping mapping : {QpMapping::LogRatio, QpMapping::Linear}) {
      const auto o = model::saliency_to_qp_offsets(MapView{c.map->data(), c.mw, c.mh}, c.fw, c.fh,
                                                   {1.0, 8.0, mapping});
      ASSERT_EQ(o.size(), std::size_t(model::macroblock_grid(c.fw, c.fh).count()));
      for (float x : o) ASSERT_EQ(x, 0.f) << c.fw << "x" << c.fh;
    }
}
