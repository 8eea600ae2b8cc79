// The weight-free baseline: valid maps, and motion draws attention.
#include <gtest/gtest.h>

#include <cmath>

#include <opencv2/imgproc.hpp>

#include "salflow/synthetic.hpp"
#include "salmodel/baseline.hpp"
#include "salmodel/metrics.hpp"
#include "salmodel/predictor.hpp"

namespace {

std::vector<model::SaliencyMap> predict_clip(const flow::SyntheticClip &clip, int frames,
                                             const model::BaselineOptions &bo = {}) {
  model::PredictorOptions o;  // baseline by default
  model::Predictor p(model::create_baseline_model(bo), o);
  std::vector<model::SaliencyMap> maps;
  for (int i = 0; i < frames; ++i) {
    cv::Mat f = clip.frame(i);
    for (auto &m : p.push({f.data, f.cols, f.rows, f.step, model::PixelFormat::BGR})) maps.push_back(std::move(m));
  }
  for (auto &m : p.finish()) maps.push_back(std::move(m));
  return maps;
}

}  // namespace

TEST(Baseline, MapsAreFiniteInUnitRangeAtTheDocumentedSize) {
  flow::SyntheticClipOptions co;
  co.frames = 6;
  flow::SyntheticClip clip(co);
  auto maps = predict_clip(clip, co.frames);
  ASSERT_EQ(maps.size(), 6u);
  for (const auto &m : maps) {
    EXPECT_EQ(m.width, 160);
    EXPECT_EQ(m.height, int(std::lround(224.0 * 160 / 384)));
    float lo = 1e9f, hi = -1e9f;
    for (float v : m.values) {
      ASSERT_TRUE(std::isfinite(v));
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    EXPECT_GE(lo, 0.f);
    EXPECT_LE(hi, 1.f);
    EXPECT_GT(hi - lo, 0.5f) << "a map should have contrast";
  }
}

TEST(Baseline, MovingObjectIsMoreSalientThanTheStaticBackground) {
  flow::SyntheticClipOptions co;
  co.frames = 24;
  co.objects = 1;
  flow::SyntheticClip clip(co);
  auto maps = predict_clip(clip, co.frames);
  ASSERT_EQ(maps.size(), size_t(co.frames));
  int wins = 0;
  for (int t = 2; t < co.frames; ++t) {
    const auto &m = maps[t];
    const double sx = double(m.width) / co.width, sy = double(m.height) / co.height;
    const cv::Point2f c = clip.object_centre(0, t);
    const double r = clip.object_radius(0);
    double in = 0, out = 0;
    int nin = 0, nout = 0;
    for (int y = 0; y < m.height; ++y)
      for (int x = 0; x < m.width; ++x) {
        const double px = (x + 0.5) / sx, py = (y + 0.5) / sy;
        const double d = std::hypot(px - c.x, py - c.y);
        const float v = m.values[y * m.width + x];
        if (d < r) { in += v; ++nin; }
        else if (d > 2.5 * r) { out += v; ++nout; }
      }
    ASSERT_GT(nin, 0);
    ASSERT_GT(nout, 0);
    if (in / nin > 2.0 * (out / nout)) ++wins;
  }
  EXPECT_GE(wins, (co.frames - 2) * 9 / 10) << "the moving object should stand out in nearly every frame";
}

TEST(Baseline, MotionDecidesBetweenTwoIdenticalObjects) {
  // Two identical discs; only the left one moves. The peak must be on the left.
  const int w = 192, h = 112;
  model::PredictorOptions o;
  model::Predictor p(o);
  std::vector<model::SaliencyMap> maps;
  for (int i = 0; i < 8; ++i) {
    cv::Mat f(h, w, CV_8UC3, cv::Scalar(100, 110, 120));
    cv::circle(f, cv::Point(50, 40 + 3 * i), 14, cv::Scalar(30, 30, 220), cv::FILLED);
    cv::circle(f, cv::Point(142, 56), 14, cv::Scalar(30, 30, 220), cv::FILLED);
    for (auto &m : p.push({f.data, f.cols, f.rows, f.step, model::PixelFormat::BGR})) maps.push_back(m);
  }
  ASSERT_EQ(maps.size(), 8u);
  const auto &m = maps.back();
  double left = 0, right = 0;
  for (int y = 0; y < m.height; ++y)
    for (int x = 0; x < m.width; ++x) (x < m.width / 2 ? left : right) += m.values[y * m.width + x];
  EXPECT_GT(left, 1.5 * right);
}

TEST(Baseline, TakesNoWeights) {
  model::PredictorOptions o;
  o.weights = "/tmp/some.pth";
  EXPECT_THROW(model::Predictor p(o), model::ModelError);
}

namespace {

double map_cc(const model::SaliencyMap &a, const model::SaliencyMap &b) {
  return model::metrics::cc(cv::Mat(a.height, a.width, CV_32F, const_cast<float *>(a.values.data())),
                            cv::Mat(b.height, b.width, CV_32F, const_cast<float *>(b.values.data())));
}

}  // namespace

TEST(Baseline, TemporalSmoothingIsAWeightedMeanThatChangesNothingOnAStillClip) {
  // Every frame the same: averaging identical terms must give the per-frame map.
  flow::SyntheticClipOptions co;
  co.frames = 1;
  flow::SyntheticClip clip(co);
  const cv::Mat still = clip.frame(0);
  model::BaselineOptions plain;
  plain.temporal_frames = 0;
  model::Predictor smoothed(model::create_baseline_model(), model::PredictorOptions{});
  model::Predictor single(model::create_baseline_model(plain), model::PredictorOptions{});
  for (int i = 0; i < 10; ++i) {
    auto a = smoothed.push({still.data, still.cols, still.rows, still.step, model::PixelFormat::BGR});
    auto b = single.push({still.data, still.cols, still.rows, still.step, model::PixelFormat::BGR});
    ASSERT_EQ(a.size(), 1u);
    ASSERT_EQ(b.size(), 1u);
    for (size_t k = 0; k < a[0].values.size(); ++k) ASSERT_NEAR(a[0].values[k], b[0].values[k], 1e-5) << i;
  }
}

TEST(Baseline, TemporalSmoothingMakesConsecutiveMapsMoreAlike) {
  flow::SyntheticClipOptions co;
  co.frames = 24;
  flow::SyntheticClip clip(co);
  model::BaselineOptions plain;
  plain.temporal_frames = 0;
  const auto smooth = predict_clip(clip, co.frames), rough = predict_clip(clip, co.frames, plain);
  double cc_smooth = 0, cc_rough = 0, cc_between = 0;
  for (int t = 1; t < co.frames; ++t) {
    cc_smooth += map_cc(smooth[t - 1], smooth[t]);
    cc_rough += map_cc(rough[t - 1], rough[t]);
    cc_between += map_cc(smooth[t], rough[t]);
  }
  EXPECT_GT(cc_smooth, cc_rough) << "smoothed maps must change less from frame to frame";
  EXPECT_GT(cc_between / (co.frames - 1), 0.5) << "and still resemble the per-frame maps";
}

TEST(Baseline, BadTemporalOptionsAreRefused) {
  model::BaselineOptions o;
  o.temporal_frames = -1;
  EXPECT_THROW(model::create_baseline_model(o), model::ModelError);
  o.temporal_frames = 3;
  o.temporal_decay = 1.5;
  EXPECT_THROW(model::create_baseline_model(o), model::ModelError);
}
