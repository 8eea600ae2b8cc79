// The weight-free baseline: valid maps, and motion draws attention.
#include <gtest/gtest.h>

#include <cmath>

#include <opencv2/imgproc.hpp>

#include "saltools/synthetic_clip.hpp"
#include "salmodel/baseline.hpp"
#include "salmodel/metrics.hpp"
#include "salmodel/predictor.hpp"

namespace {

std::vector<model::SaliencyMap> predict_clip(const tools::SyntheticClip &clip, int frames,
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
  tools::SyntheticClipOptions co;
  co.frames = 6;
  tools::SyntheticClip clip(co);
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
  tools::SyntheticClipOptions co;
  co.frames = 24;
  co.objects = 1;
  tools::SyntheticClip clip(co);
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
  tools::SyntheticClipOptions co;
  co.frames = 1;
  tools::SyntheticClip clip(co);
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
  tools::SyntheticClipOptions co;
  co.frames = 24;
  tools::SyntheticClip clip(co);
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

// ------------------------------------------------ featureless frames (issue #16)

namespace {

constexpr int kW = 384, kH = 224;

// Maps of the frames, in order (every frame gets one: the baseline has no look-ahead).
std::vector<model::SaliencyMap> predict_frames(const std::vector<cv::Mat> &frames) {
  model::Predictor p(model::create_baseline_model(), model::PredictorOptions{});
  std::vector<model::SaliencyMap> maps;
  for (const cv::Mat &f : frames)
    for (auto &m : p.push({f.data, f.cols, f.rows, f.step, model::PixelFormat::BGR}))
      maps.push_back(std::move(m));
  for (auto &m : p.finish()) maps.push_back(std::move(m));
  return maps;
}

cv::Mat map_mat(const model::SaliencyMap &m) {
  return cv::Mat(m.height, m.width, CV_32F, const_cast<float *>(m.values.data()));
}

// The baseline's map for a frame with neither static saliency nor motion,
// computed independently of baseline.cpp from BaselineOptions' documented
// meaning: the centre prior floor + (1 - floor) * Gaussian(sigma * size) on
// the 160-wide map grid (cell centres), blurred with a Gaussian of
// blur_sigma * 160 (radius ceil(3 sigma), replicated borders), min-max normalised.
cv::Mat expected_centre_prior(int w, int h) {
  const model::BaselineOptions o;
  cv::Mat prior(h, w, CV_32F);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const double dy = (y + 0.5) / h - 0.5, dx = (x + 0.5) / w - 0.5;
      const double g = std::exp(-(dx * dx + dy * dy) / (2 * o.centre_sigma * o.centre_sigma));
      prior.at<float>(y, x) = float(o.centre_floor + (1 - o.centre_floor) * g);
    }
  const double sigma = o.blur_sigma * w;
  const int radius = std::max(1, int(std::ceil(3 * sigma)));
  cv::Mat blurred;
  cv::GaussianBlur(prior, blurred, cv::Size(2 * radius + 1, 2 * radius + 1), sigma, sigma,
                   cv::BORDER_REPLICATE);
  cv::normalize(blurred, blurred, 0, 1, cv::NORM_MINMAX);
  return blurred;
}

struct MapStats {
  cv::Point peak;
  double peak_value = 0, mean = 0;
  cv::Point2d centre_of_mass;
};

MapStats stats(const model::SaliencyMap &m) {
  const cv::Mat a = map_mat(m);
  MapStats s;
  double lo = 0;
  cv::minMaxLoc(a, &lo, &s.peak_value, nullptr, &s.peak);
  const cv::Moments mo = cv::moments(a);
  s.mean = cv::mean(a)[0];
  s.centre_of_mass =
      mo.m00 > 0 ? cv::Point2d(mo.m10 / mo.m00, mo.m01 / mo.m00) : cv::Point2d(-1, -1);
  return s;
}

void expect_valid(const model::SaliencyMap &m) {
  for (float v : m.values) {
    ASSERT_TRUE(std::isfinite(v));
    ASSERT_GE(v, 0.f);
    ASSERT_LE(v, 1.f);
  }
}

}  // namespace

TEST(Baseline, ConstantFramesOfAnyLevelOrColourGiveTheCentrePrior) {
  // Black was a single 1.0 at cell (0,0) (the inverse FFT of a flat unit
  // spectrum); grey was rounding noise under the prior. All must give the
  // prior, from the first frame on: static term uniform, no motion.
  const cv::Scalar levels[] = {
      {0, 0, 0}, {255, 255, 255}, {128, 128, 128}, {0, 0, 255}, {37, 200, 90}};
  const int w = 160, h = int(std::lround(double(kH) * w / kW));
  const cv::Mat expected = expected_centre_prior(w, h);
  for (const cv::Scalar &level : levels) {
    SCOPED_TRACE("BGR " + std::to_string(int(level[0])) + "," + std::to_string(int(level[1])) +
                 "," + std::to_string(int(level[2])));
    const std::vector<cv::Mat> frames(10, cv::Mat(kH, kW, CV_8UC3, level));
    const auto maps = predict_frames(frames);
    ASSERT_EQ(maps.size(), 10u);
    for (size_t t = 0; t < maps.size(); ++t) {
      SCOPED_TRACE("frame " + std::to_string(t));
      ASSERT_EQ(maps[t].width, w);
      ASSERT_EQ(maps[t].height, h);
      expect_valid(maps[t]);
      // fp32 tensor code against OpenCV's blur: rounding of ~1e-7 per value,
      // amplified at most by the normalisation's 1 / range (range ~0.5 of the
      // prior before normalising): 1e-5 is generous and far below any shape.
      double diff = 0;
      cv::minMaxLoc(cv::abs(map_mat(maps[t]) - expected), nullptr, &diff);
      EXPECT_LT(diff, 1e-5);
      const MapStats s = stats(maps[t]);
      EXPECT_NEAR(s.peak.x, (w - 1) / 2.0, 1.0);
      EXPECT_NEAR(s.peak.y, (h - 1) / 2.0, 1.0);
    }
  }
}

namespace {

// A still scene fading to black over 10 frames (the 10th black: frames 6..15),
// 8 more black frames (16..23), a fade back in over 10 frames (24..33) and 8
// full frames (34..41); 6 full frames before it all (0..5).
std::vector<cv::Mat> fade_to_black_and_back(const cv::Mat &scene) {
  std::vector<cv::Mat> frames;
  auto add = [&](double gain) {
    cv::Mat f;
    scene.convertTo(f, CV_8UC3, gain);  // rounds, as a decoder's 8 bits would
    frames.push_back(f);
  };
  for (int i = 0; i < 6; ++i) add(1.0);
  for (int k = 1; k <= 10; ++k) add(1.0 - k / 10.0);
  for (int i = 0; i < 8; ++i) add(0.0);
  for (int k = 1; k <= 10; ++k) add(k / 10.0);
  for (int i = 0; i < 8; ++i) add(1.0);
  return frames;
}

}  // namespace

TEST(Baseline, FadeToBlackAndBackRelaxesToTheCentrePriorAndComesBack) {
  tools::SyntheticClip clip;
  const auto frames = fade_to_black_and_back(clip.frame(0));
  const auto maps = predict_frames(frames);
  ASSERT_EQ(maps.size(), frames.size());
  const int w = maps[0].width, h = maps[0].height;
  const cv::Point2d centre(w / 2.0, h / 2.0);
  const MapStats scene = stats(maps[5]);  // the full scene, settled
  const double scene_offset = cv::norm(scene.centre_of_mass - centre);
  for (size_t t = 0; t < maps.size(); ++t) {
    SCOPED_TRACE("frame " + std::to_string(t));
    expect_valid(maps[t]);
    const MapStats s = stats(maps[t]);
    EXPECT_FLOAT_EQ(s.peak_value, 1.f) << "a map with a prior is never flat";
    // Never the old corner spike: the peak is not in a corner's 3x3 cells.
    const bool corner_x = s.peak.x < 3 || s.peak.x >= w - 3,
               corner_y = s.peak.y < 3 || s.peak.y >= h - 3;
    EXPECT_FALSE(corner_x && corner_y) << "peak at (" << s.peak.x << ", " << s.peak.y << ")";
    if (t >= 15 && t <= 23) {
      // Black frames: the map moves from the scene's map to the centre prior,
      // its centre of mass within the scene map's distance from the centre
      // (plus 2 % of the width for the blend of the two). The corner spike took
      // it 86 cells away.
      EXPECT_LE(cv::norm(s.centre_of_mass - centre), scene_offset + 0.02 * w);
    }
  }
  // Once the temporal window (7 frames, 7 flows) is all black: the centre prior.
  const cv::Mat expected = expected_centre_prior(w, h);
  for (int t : {22, 23}) {
    double diff = 0;
    cv::minMaxLoc(cv::abs(map_mat(maps[t]) - expected), nullptr, &diff);
    EXPECT_LT(diff, 1e-5) << "frame " << t;
  }
  // And back: with 7 full frames and 7 still flows in the window, the scene's
  // map again, computed from identical inputs (bit for bit up to summation order).
  for (size_t i = 0; i < maps[5].values.size(); ++i)
    ASSERT_NEAR(maps.back().values[i], maps[5].values[i], 1e-6) << i;
}
