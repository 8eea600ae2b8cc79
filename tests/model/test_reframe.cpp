// The reframing planner (salmaps/reframe.hpp): geometry, measures, shot cuts,
// streaming behaviour, and issue #18's targets on human eye-tracking maps
// moved across a wider canvas and on real clips with the baseline's maps.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "salmaps/reframe.hpp"
#include "salmodel/baseline.hpp"
#include "salmodel/predictor.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace model;

namespace {

MapView view(const cv::Mat &m) {
  return {reinterpret_cast<const float *>(m.data), m.cols, m.rows};
}

/// A map with a Gaussian blob of sigma `s` cells at (cx, cy) cells.
cv::Mat blob_map(int w, int h, double cx, double cy, double s) {
  cv::Mat m(h, w, CV_32F);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      m.at<float>(y, x) = float(std::exp(-((x + 0.5 - cx) * (x + 0.5 - cx) +
                                           (y + 0.5 - cy) * (y + 0.5 - cy)) / (2 * s * s)));
  return m;
}

/// Retained saliency of a window by brute force: every map cell weighted by
/// the fraction of its area inside the window (independent of the integral
/// image in reframe.cpp).
double retained_brute_force(const cv::Mat &m, int fw, int fh, const CropWindow &w) {
  double inside = 0, total = 0;
  const double cw = double(fw) / m.cols, ch = double(fh) / m.rows;
  for (int r = 0; r < m.rows; ++r) {
    const double oy = std::max(0.0, std::min((r + 1) * ch, double(w.y + w.height)) -
                                        std::max(r * ch, double(w.y))) / ch;
    for (int c = 0; c < m.cols; ++c) {
      const double ox = std::max(0.0, std::min((c + 1) * cw, double(w.x + w.width)) -
                                          std::max(c * cw, double(w.x))) / cw;
      const double v = std::max(0.f, m.at<float>(r, c));
      inside += v * ox * oy;
      total += v;
    }
  }
  return inside / total;
}

double mean_retained(const std::vector<cv::Mat> &maps, int fw, int fh,
                     const std::vector<CropWindow> &path) {
  double sum = 0;
  for (std::size_t i = 0; i < maps.size(); ++i) sum += retained_saliency(view(maps[i]), fw, fh, path[i]);
  return sum / maps.size();
}

/// The best horizontal path of full-height windows of width `w` whose x moves
/// at most `max_step` px per frame (even x), by dynamic programming over the
/// frames: the reference the planner is held to (issue #18). Cuts restart.
double best_path_retained(const std::vector<cv::Mat> &maps, int fw, int fh, int w, int max_step,
                          const std::vector<bool> &cuts) {
  const int positions = (fw - w) / 2 + 1;  // x = 0, 2, ...
  const int reach = max_step / 2;
  std::vector<double> score(positions, 0.0), next(positions);
  for (std::size_t t = 0; t < maps.size(); ++t) {
    std::vector<double> gain(positions);
    for (int p = 0; p < positions; ++p)
      gain[p] = retained_saliency(view(maps[t]), fw, fh, {2 * p, 0, w, fh});
    const bool restart = t == 0 || (!cuts.empty() && cuts[t]);
    const double top = *std::max_element(score.begin(), score.end());
    for (int p = 0; p < positions; ++p) {
      double best = -1e300;
      if (restart) best = top;
      else
        for (int q = std::max(0, p - reach); q <= std::min(positions - 1, p + reach); ++q)
          best = std::max(best, score[q]);
      next[p] = best + gain[p];
    }
    std::swap(score, next);
  }
  return *std::max_element(score.begin(), score.end()) / maps.size();
}

std::vector<bool> cuts_of_maps(const std::vector<cv::Mat> &maps) {
  ShotCutDetector d;
  std::vector<bool> cuts;
  for (const cv::Mat &m : maps) cuts.push_back(d.push_map(view(m)));
  return cuts;
}

}  // namespace

// ------------------------------------------------------------------ geometry

TEST(Reframe, FittedCropIsTheLargestEvenWindowOfTheAspect) {
  const CropWindow a = fitted_crop(640, 360, 9, 16);
  EXPECT_EQ(a.height, 360);
  EXPECT_EQ(a.width, 202);  // 360 * 9 / 16 = 202.5, to the nearest even size
  EXPECT_EQ(a.x, 218);
  EXPECT_EQ(a.y, 0);
  const CropWindow b = fitted_crop(1920, 1080, 9, 16);
  EXPECT_EQ(b.width, 608);
  EXPECT_EQ(b.height, 1080);
  const CropWindow c = fitted_crop(360, 640, 16, 9);  // portrait to landscape: full width
  EXPECT_EQ(c.width, 360);
  EXPECT_EQ(c.height, 202);
  EXPECT_EQ(c.y, 218);
  const CropWindow d = fitted_crop(641, 361, 1, 1);  // odd frame: even sizes inside it
  EXPECT_EQ(d.width, 360);
  EXPECT_EQ(d.height, 360);
  EXPECT_THROW(fitted_crop(640, 360, 0, 16), std::invalid_argument);
  EXPECT_THROW(fitted_crop(1, 360, 9, 16), std::invalid_argument);
}

TEST(Reframe, OptionsAreValidated) {
  ReframeOptions o;
  o.frame_width = 640;
  o.frame_height = 360;
  EXPECT_NO_THROW(validate(o));
  o.max_speed = 0;
  EXPECT_THROW(validate(o), std::invalid_argument);
  o.max_speed = 0.01;
  o.zoom = 1.5;
  EXPECT_THROW(validate(o), std::invalid_argument);
  o.zoom = 1;
  o.max_acceleration = std::nan("");
  EXPECT_THROW(ReframePlanner p(o), std::invalid_argument);
  EXPECT_EQ(parse_camera_mode("track"), CameraMode::Track);
  EXPECT_STREQ(to_string(CameraMode::Stationary), "stationary");
  EXPECT_THROW(parse_camera_mode("pan"), std::invalid_argument);
}

// ------------------------------------------------------------------ measures

// The integral image is exact for a piecewise-constant map, so it agrees with
// the brute-force cell-overlap sum up to double rounding: both add at most
// 96 * 54 positive terms, each sum within n * eps relative of the exact one
// (n = 5184, eps = 2.2e-16: 1.2e-12); 1e-9 leaves room for the
// interpolation's few extra operations.
TEST(Reframe, RetainedSaliencyMatchesCellOverlapBruteForce) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  cv::Mat m(54, 96, CV_32F);
  for (int r = 0; r < m.rows; ++r)
    for (int c = 0; c < m.cols; ++c) m.at<float>(r, c) = u(rng) * u(rng);
  std::uniform_int_distribution<int> xs(0, 639), ws(1, 640);
  for (int i = 0; i < 200; ++i) {
    CropWindow w;
    w.width = ws(rng);
    w.height = 1 + xs(rng) % 360;
    w.x = xs(rng) % (640 - w.width + 1);
    w.y = xs(rng) % (360 - w.height + 1);
    EXPECT_NEAR(retained_saliency(view(m), 640, 360, w), retained_brute_force(m, 640, 360, w), 1e-9)
        << w.x << "," << w.y << " " << w.width << "x" << w.height;
  }
  EXPECT_DOUBLE_EQ(retained_saliency(view(m), 640, 360, {0, 0, 640, 360}), 1.0);
  // No mass: the window's area fraction.
  cv::Mat zero = cv::Mat::zeros(9, 16, CV_32F);
  EXPECT_NEAR(retained_saliency(view(zero), 640, 360, {0, 0, 320, 180}), 0.25, 1e-15);
  cv::Mat bad = m.clone();
  bad.at<float>(3, 3) = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(retained_saliency(view(bad), 640, 360, {0, 0, 10, 10}), std::invalid_argument);
}

TEST(Reframe, BestWindowFindsTheBlobAndTiesGoToTheCentre) {
  const cv::Mat m = blob_map(160, 90, 130.0, 45.0, 4.0);
  const CropWindow w = best_window(view(m), 640, 360, 202, 360);
  EXPECT_LE(w.x, 520 - 20);
  EXPECT_GE(w.x + w.width, 520 + 20);
  EXPECT_EQ(w.x % 2, 0);
  const cv::Mat flat(90, 160, CV_32F, cv::Scalar(1.f));
  const CropWindow c = best_window(view(flat), 640, 360, 202, 360);
  EXPECT_EQ(c.x, 218);  // every window keeps the same: the central one
}

TEST(Reframe, CropMapSamplesTheMapUnderTheWindow) {
  // A linear ramp: bilinear sampling reproduces it exactly (up to float
  // rounding of values below 200: 1e-4 is 8 ulps there).
  cv::Mat m(45, 80, CV_32F);
  for (int r = 0; r < m.rows; ++r)
    for (int c = 0; c < m.cols; ++c) m.at<float>(r, c) = float(2 * c + r);
  const CropWindow w{200, 40, 202, 280};
  const CroppedMap cm = crop_map(view(m), 640, 360, w);
  EXPECT_EQ(cm.width, 25);   // 80 * 202 / 640 = 25.25
  EXPECT_EQ(cm.height, 35);  // 45 * 280 / 360
  for (int r = 0; r < cm.height; ++r)
    for (int c = 0; c < cm.width; ++c) {
      const double fx = w.x + (c + 0.5) * w.width / cm.width, fy = w.y + (r + 0.5) * w.height / cm.height;
      const double mx = fx * 80 / 640 - 0.5, my = fy * 45 / 360 - 0.5;
      EXPECT_NEAR(cm.values[r * cm.width + c], 2 * mx + my, 1e-4);
    }
  EXPECT_THROW(crop_map(view(m), 640, 360, {500, 0, 202, 360}), std::invalid_argument);
}

TEST(Reframe, PathMotionIgnoresCuts) {
  const std::vector<CropWindow> path = {{0, 0, 10, 10}, {4, 0, 10, 10}, {10, 0, 10, 10},
                                        {300, 0, 10, 10}, {302, 0, 10, 10}};
  const PathMotion m = path_motion(path, {false, false, false, true, false});
  EXPECT_DOUBLE_EQ(m.top_speed, 6.0);
  EXPECT_DOUBLE_EQ(m.mean_speed, 4.0);  // (4 + 6 + 2) / 3
  EXPECT_DOUBLE_EQ(m.top_acceleration, 2.0);
  EXPECT_DOUBLE_EQ(path_motion(path, {}).top_speed, 290.0);
}

// ------------------------------------------------------------------ shot cuts

TEST(Reframe, ShotCutsFromLumaHistogramsAndFromMaps) {
  ShotCutDetector d;
  cv::Mat dark(90, 160, CV_8U, cv::Scalar(30)), bright(90, 160, CV_8U, cv::Scalar(200));
  cv::randn(dark, 40, 10);
  cv::Mat dark2;
  cv::add(dark, cv::Scalar(6), dark2);  // a small brightness change is no cut
  auto grey = [](const cv::Mat &m) { return GreyView{m.data, m.cols, m.rows, m.step}; };
  EXPECT_FALSE(d.push_frame(grey(dark)));
  EXPECT_FALSE(d.push_frame(grey(dark2)));
  EXPECT_TRUE(d.push_frame(grey(bright)));
  EXPECT_FALSE(d.push_frame(grey(bright)));
  EXPECT_THROW(d.push_frame({dark.data, 160, 90, 100}), std::invalid_argument);

  ShotCutDetector dm;
  const cv::Mat a = blob_map(64, 36, 10, 18, 3), b = blob_map(64, 36, 11, 18, 3),
                c = blob_map(64, 36, 50, 10, 3);
  EXPECT_FALSE(dm.push_map(view(a)));
  EXPECT_FALSE(dm.push_map(view(b)));
  EXPECT_TRUE(dm.push_map(view(c)));
  const cv::Mat flat(36, 64, CV_32F, cv::Scalar(0.5f));
  EXPECT_FALSE(dm.push_map(view(flat)));  // no structure, no evidence
}

// ------------------------------------------------------------------ streaming

TEST(Reframe, EveryFrameGetsOneWindowAfterItsLookAhead) {
  for (int look_ahead : {0, 1, 5}) {
    ReframeOptions o;
    o.frame_width = 320;
    o.frame_height = 180;
    o.look_ahead = look_ahead;
    ReframePlanner p(o);
    std::vector<CropWindow> got;
    for (int i = 0; i < 12; ++i) {
      const cv::Mat m = blob_map(64, 36, 10 + 3 * i, 18, 3);
      const auto w = p.push(view(m), false);
      EXPECT_EQ(w.size(), i >= look_ahead ? 1u : 0u) << "look-ahead " << look_ahead << " push " << i;
      got.insert(got.end(), w.begin(), w.end());
      EXPECT_EQ(p.pending(), std::size_t(std::min(i + 1, look_ahead)));
    }
    const auto rest = p.finish();
    EXPECT_EQ(rest.size(), std::size_t(look_ahead));
    got.insert(got.end(), rest.begin(), rest.end());
    ASSERT_EQ(got.size(), 12u);
    for (const CropWindow &w : got) {
      EXPECT_EQ(w.width, p.fitted().width);
      EXPECT_EQ(w.height, 180);
      EXPECT_GE(w.x, 0);
      EXPECT_LE(w.x + w.width, 320);
      EXPECT_EQ(w.x % 2, 0);
    }
    EXPECT_TRUE(p.finish().empty());
  }
}

TEST(Reframe, BadMapLeavesThePlannerUnchangedAndResetForgets) {
  ReframeOptions o;
  o.frame_width = 320;
  o.frame_height = 180;
  o.look_ahead = 3;
  ReframePlanner p(o);
  const cv::Mat m = blob_map(64, 36, 50, 18, 3);
  p.push(view(m), false);
  cv::Mat bad = m.clone();
  bad.at<float>(0, 0) = std::numeric_limits<float>::infinity();
  EXPECT_THROW(p.push(view(bad), false), std::invalid_argument);
  EXPECT_THROW(p.push({nullptr, 0, 0}, false), std::invalid_argument);
  EXPECT_EQ(p.pending(), 1u);
  p.reset();
  EXPECT_EQ(p.pending(), 0u);
  // After a reset the path starts afresh: straight onto the blob.
  o.look_ahead = 0;
  ReframePlanner q(o);
  q.push(view(blob_map(64, 36, 5, 18, 2)), false);
  q.reset();
  const auto w = q.push(view(m), false);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_GT(w[0].x + w[0].width, 250);
}

TEST(Reframe, SpeedAndAccelerationLimitsHoldAndTheCameraRestsWhenItCan) {
  // The blob sits still, jumps across the frame (no cut: the camera must pan,
  // 720 px, which takes about 40 frames at 19 px a frame), then sits again.
  std::vector<cv::Mat> maps;
  for (int i = 0; i < 160; ++i) maps.push_back(blob_map(96, 54, i < 80 ? 12 : 84, 27, 3));
  for (CameraMode mode : {CameraMode::Auto, CameraMode::Track}) {
    for (int look_ahead : {-1, 0, 10}) {
      ReframeOptions o;
      o.frame_width = 960;
      o.frame_height = 540;
      o.max_speed = 0.02;
      o.mode = mode;
      o.look_ahead = look_ahead;
      std::vector<CropWindow> path;
      if (look_ahead < 0) {
        std::vector<MapView> views;
        for (const auto &m : maps) views.push_back(view(m));
        path = plan_reframe(views, {}, o);
      } else {
        ReframePlanner p(o);
        for (const auto &m : maps) for (auto w : p.push(view(m), false)) path.push_back(w);
        for (auto w : p.finish()) path.push_back(w);
      }
      ASSERT_EQ(path.size(), maps.size());
      const PathMotion pm = path_motion(path, {});
      // Acceleration: x is on even pixels, which moves each of the three
      // positions it is measured from by up to 1 px (4 px in all).
      EXPECT_LE(pm.top_speed, 0.02 * 960) << to_string(mode) << " " << look_ahead;
      EXPECT_LE(pm.top_acceleration, 0.02 * 960 / 8 + 4) << to_string(mode) << " " << look_ahead;
      EXPECT_GT(pm.top_speed, 0.5 * 0.02 * 960);  // it does pan over
      // At rest on the blob before the jump (the offline path sets off up
      // to 40 frames early) and at the end; even a causal camera gets there.
      EXPECT_EQ(path[10].x, path[20].x) << to_string(mode) << " " << look_ahead;
      EXPECT_EQ(path[140].x, path[159].x) << to_string(mode) << " " << look_ahead;
      EXPECT_GE(retained_saliency(view(maps[10]), 960, 540, path[10]), 0.95);
      EXPECT_GE(retained_saliency(view(maps[159]), 960, 540, path[159]), 0.95);
    }
  }
}

TEST(Reframe, StationaryHoldsOneWindowPerShotAndJumpsAtTheCut) {
  std::vector<cv::Mat> maps;
  std::vector<bool> cuts;
  for (int i = 0; i < 60; ++i) {
    maps.push_back(blob_map(96, 54, i < 30 ? 15 + 0.2 * i : 80, 27, 3));
    cuts.push_back(i == 30);
  }
  for (int look_ahead : {-1, 0, 8}) {
    ReframeOptions o;
    o.frame_width = 960;
    o.frame_height = 540;
    o.mode = CameraMode::Stationary;
    o.look_ahead = look_ahead;
    ReframePlanner p(o);
    std::vector<CropWindow> path;
    for (std::size_t i = 0; i < maps.size(); ++i)
      for (auto w : p.push(view(maps[i]), cuts[i])) path.push_back(w);
    for (auto w : p.finish()) path.push_back(w);
    ASSERT_EQ(path.size(), 60u);
    for (int i = 1; i < 60; ++i)
      if (i != 30) {
        EXPECT_EQ(path[i].x, path[i - 1].x) << "frame " << i << " look-ahead " << look_ahead;
      }
    EXPECT_GT(path[30].x, path[29].x + 300);
    EXPECT_GE(retained_saliency(view(maps[45]), 960, 540, path[45]), 0.95);
  }
}

TEST(Reframe, ZoomShrinksTheWindowAroundCompactSaliencyAndStaysInside) {
  ReframeOptions o;
  o.frame_width = 960;
  o.frame_height = 540;
  o.zoom = 0.5;
  o.look_ahead = 10;
  ReframePlanner p(o);
  std::vector<CropWindow> path;
  std::vector<cv::Mat> maps;
  for (int i = 0; i < 150; ++i) {
    // A compact blob for 100 frames, then saliency spread over two far blobs.
    cv::Mat m = blob_map(96, 54, 30 + 0.1 * i, 20, 1.5);
    if (i >= 100) m += blob_map(96, 54, 30, 45, 3);
    maps.push_back(m);
    for (auto w : p.push(view(maps.back()), false)) path.push_back(w);
  }
  for (auto w : p.finish()) path.push_back(w);
  ASSERT_EQ(path.size(), 150u);
  const CropWindow fitted = p.fitted();
  for (const CropWindow &w : path) {
    EXPECT_GE(w.x, 0);
    EXPECT_GE(w.y, 0);
    EXPECT_LE(w.x + w.width, 960);
    EXPECT_LE(w.y + w.height, 540);
    EXPECT_EQ(w.width % 2, 0);
    EXPECT_EQ(w.height % 2, 0);
    EXPECT_GE(w.width, fitted.width / 2 - 2);
    // The aspect is kept up to the even rounding of both sides.
    EXPECT_NEAR(double(w.width) / w.height, double(fitted.width) / fitted.height, 0.02);
  }
  EXPECT_LT(path[90].width, fitted.width * 0.8);  // zoomed in on the compact blob
  EXPECT_GE(retained_saliency(view(maps[90]), 960, 540, path[90]), 0.9);
  EXPECT_GT(path[149].width, path[90].width);  // zoomed out for the spread
  // Scale changes smoothly: at most 1/64 of the zoom range per frame (+ rounding).
  for (int i = 1; i < 150; ++i)
    EXPECT_LE(std::abs(path[i].width - path[i - 1].width), fitted.width * 0.5 / 64 + 2) << i;
}

// Random frame sizes (odd and tiny ones too), aspects, limits, modes,
// look-aheads, zoom, maps (noise, zeros, negative values) and cuts: every
// frame gets one window, inside the frame, even, of the fitted size unless
// zooming, and within the speed limit between frames of a shot.
TEST(Reframe, RandomisedOptionsAndMapsKeepTheInvariants) {
  std::mt19937 rng(18);
  auto uni = [&](double a, double b) { return std::uniform_real_distribution<double>(a, b)(rng); };
  auto pick = [&](int a, int b) { return std::uniform_int_distribution<int>(a, b)(rng); };
  for (int trial = 0; trial < 60; ++trial) {
    ReframeOptions o;
    o.frame_width = pick(2, 2000);
    o.frame_height = pick(2, 1200);
    o.aspect_width = pick(1, 21);
    o.aspect_height = pick(1, 21);
    o.max_speed = trial % 5 == 0 ? kMinReframeSpeed : uni(0.002, 0.2);
    o.max_acceleration = trial % 3 == 0 ? 0.0 : uni(0.0, 0.3);
    o.look_ahead = pick(-1, 20);
    o.mode = static_cast<CameraMode>(pick(0, 2));
    o.zoom = trial % 4 == 0 ? uni(0.3, 1.0) : 1.0;
    const int mw = pick(1, 64), mh = pick(1, 48), frames = pick(1, 70);
    ReframePlanner p(o);
    std::vector<CropWindow> path;
    std::vector<bool> cuts;
    for (int i = 0; i < frames; ++i) {
      cv::Mat m(mh, mw, CV_32F);
      const int kind = pick(0, 3);
      if (kind == 0) m = 0.f;
      else if (kind == 1) cv::randu(m, -0.2, 1.0);
      else m = blob_map(mw, mh, uni(0, mw), uni(0, mh), uni(0.5, 10));
      cuts.push_back(pick(0, 15) == 0);
      for (auto w : p.push(view(m), cuts.back())) path.push_back(w);
    }
    for (auto w : p.finish()) path.push_back(w);
    const std::string what = "trial " + std::to_string(trial) + ": " + std::to_string(o.frame_width) +
                             "x" + std::to_string(o.frame_height) + " aspect " +
                             std::to_string(o.aspect_width) + ":" + std::to_string(o.aspect_height);
    ASSERT_EQ(path.size(), std::size_t(frames)) << what;
    const CropWindow fitted = p.fitted();
    for (int i = 0; i < frames; ++i) {
      const CropWindow &w = path[i];
      EXPECT_TRUE(w.x >= 0 && w.y >= 0 && w.x + w.width <= o.frame_width &&
                  w.y + w.height <= o.frame_height && w.width > 0 && w.height > 0)
          << what << " frame " << i;
      EXPECT_TRUE(w.x % 2 == 0 && w.y % 2 == 0 && w.width % 2 == 0 && w.height % 2 == 0) << what;
      if (o.zoom == 1.0) {
        EXPECT_TRUE(w.width == fitted.width && w.height == fitted.height) << what;
      }
      if (i > 0 && !cuts[i] && o.zoom == 1.0) {
        // Within the limit, or 2 px (the smallest move on even pixels) when
        // the limit is less.
        EXPECT_LE(std::abs(w.x - path[i - 1].x), std::max(2.0, o.max_speed * o.frame_width)) << what;
        EXPECT_LE(std::abs(w.y - path[i - 1].y), std::max(2.0, o.max_speed * o.frame_height)) << what;
      }
    }
  }
}

// ------------------------------------------------------------------ issue #18 targets

namespace {

/// Human eye-tracking maps of UCF Sports Diving-Side_001 (720x404) placed on
/// a canvas twice as wide, drifting right at 3 px a frame; at frame 30 a cut
/// to the same maps mirrored near the other edge, drifting left. Maps at half
/// resolution (the canvas frame is 1440x404 px, its maps 720x202 cells).
struct MovingHumanMaps {
  std::vector<cv::Mat> maps;
  int cut = 30;
  int frame_width = 1440, frame_height = 404;
};

MovingHumanMaps moving_human_maps(const std::string &shared) {
  MovingHumanMaps s;
  const fs::path dir = fs::path(shared) / "data/saliency/ucf-sports/test/Diving-Side_001/maps";
  std::vector<fs::path> files;
  for (const auto &e : fs::directory_iterator(dir)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (std::size_t i = 0; i < files.size(); ++i) {
    cv::Mat m = cv::imread(files[i].string(), cv::IMREAD_GRAYSCALE);
    if (m.empty()) throw std::runtime_error("cannot read " + files[i].string());
    cv::Mat f;
    m.convertTo(f, CV_32F, 1.0 / 255);
    cv::resize(f, f, cv::Size(360, 202), 0, 0, cv::INTER_AREA);
    cv::Mat canvas = cv::Mat::zeros(202, 720, CV_32F);
    const int t = int(i);
    int x;
    if (t < s.cut) {
      x = 20 + (3 * t) / 2;  // canvas cells are 2 px
    } else {
      cv::flip(f, f, 1);
      x = 720 - 360 - 20 - (3 * (t - s.cut)) / 2;
    }
    f.copyTo(canvas(cv::Rect(x, 0, 360, 202)));
    s.maps.push_back(canvas);
  }
  return s;
}

}  // namespace

TEST(ReframeTargets, HumanMapsOnAMovingCanvasKeepNineTenthsOfThePerFrameBest) {
  REQUIRE_SHARED_DATA(shared);
  const MovingHumanMaps s = moving_human_maps(shared);
  ASSERT_EQ(s.maps.size(), 55u);
  const int fw = s.frame_width, fh = s.frame_height;

  // The cut is found from the maps alone, at the cut and nowhere else.
  const std::vector<bool> cuts = cuts_of_maps(s.maps);
  for (std::size_t i = 0; i < cuts.size(); ++i) EXPECT_EQ(cuts[i], int(i) == s.cut) << "frame " << i;

  const CropWindow fitted = fitted_crop(fw, fh, 9, 16);
  std::vector<CropWindow> best;
  for (const auto &m : s.maps) best.push_back(best_window(view(m), fw, fh, fitted.width, fitted.height));
  const double kept_best = mean_retained(s.maps, fw, fh, best);

  for (int look_ahead : {-1, 15, 0}) {
    ReframeOptions o;
    o.frame_width = fw;
    o.frame_height = fh;
    o.look_ahead = look_ahead;
    ReframePlanner p(o);
    std::vector<CropWindow> path;
    for (std::size_t i = 0; i < s.maps.size(); ++i)
      for (auto w : p.push(view(s.maps[i]), cuts[i])) path.push_back(w);
    for (auto w : p.finish()) path.push_back(w);
    ASSERT_EQ(path.size(), s.maps.size());
    const double kept = mean_retained(s.maps, fw, fh, path);
    EXPECT_GE(kept, 0.9 * kept_best) << "look-ahead " << look_ahead << ": kept " << kept
                                     << ", per-frame best " << kept_best;
    // Holds the subject again within 10 frames of the cut: from then on the
    // window keeps at least 80 % of what the best window of that frame keeps.
    int held_from = -1;
    for (int t = s.cut; t < int(path.size()); ++t) {
      bool holds = true;
      for (int u = t; u < int(path.size()); ++u)
        holds = holds && retained_saliency(view(s.maps[u]), fw, fh, path[u]) >=
                             0.8 * retained_saliency(view(s.maps[u]), fw, fh, best[u]);
      if (holds) {
        held_from = t;
        break;
      }
    }
    EXPECT_GE(held_from, s.cut);
    EXPECT_LE(held_from, s.cut + 10) << "look-ahead " << look_ahead;
    RecordProperty("kept_look_ahead_" + std::to_string(look_ahead), std::to_string(kept));
    std::printf("[ reframe  ] human maps, look-ahead %d: kept %.3f, per-frame best %.3f (%.3f of it), "
                "held %d frames after the cut\n",
                look_ahead, kept, kept_best, kept / kept_best, held_from - s.cut);
  }
}

namespace {

/// The baseline's maps of a clip's frames (every frame gets one).
std::vector<cv::Mat> baseline_maps(const std::vector<cv::Mat> &frames) {
  Predictor p(create_baseline_model(), PredictorOptions{});
  std::vector<cv::Mat> maps;
  auto keep = [&](std::vector<SaliencyMap> got) {
    for (auto &m : got)
      maps.push_back(cv::Mat(m.height, m.width, CV_32F, m.values.data()).clone());
  };
  for (const cv::Mat &f : frames) keep(p.push({f.data, f.cols, f.rows, f.step, PixelFormat::BGR}));
  keep(p.finish());
  return maps;
}

std::vector<cv::Mat> clip_frames(const std::string &shared, const std::string &name) {
  std::vector<cv::Mat> frames;
  const fs::path p = fs::path(shared) / "data/video" / name;
  if (fs::is_directory(p)) {
    std::vector<fs::path> files;
    for (const auto &e : fs::directory_iterator(p)) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto &f : files) frames.push_back(cv::imread(f.string(), cv::IMREAD_COLOR));
  } else {
    cv::VideoCapture cap(p.string());
    cv::Mat f;
    while (cap.read(f)) frames.push_back(f.clone());
  }
  return frames;
}

}  // namespace

TEST(ReframeTargets, RealClipsWithBaselineMapsStaySlowBeatTheCentreAndNearTheBestPath) {
  REQUIRE_SHARED_DATA(shared);
  for (const char *clip : {"tased-ex1", "bbb_480p_vp9_opus_1second.webm"}) {
    const std::vector<cv::Mat> frames = clip_frames(shared, clip);
    ASSERT_GE(frames.size(), 20u) << clip;
    const int fw = frames[0].cols, fh = frames[0].rows;
    const std::vector<cv::Mat> maps = baseline_maps(frames);
    ASSERT_EQ(maps.size(), frames.size());
    ShotCutDetector detector;
    std::vector<bool> cuts;
    for (const cv::Mat &f : frames) {
      cv::Mat grey;
      cv::cvtColor(f, grey, cv::COLOR_BGR2GRAY);
      cuts.push_back(detector.push_frame({grey.data, grey.cols, grey.rows, grey.step}));
    }
    std::vector<MapView> views;
    for (const auto &m : maps) views.push_back(view(m));
    const CropWindow fitted = fitted_crop(fw, fh, 9, 16);
    const double centre = mean_retained(maps, fw, fh, std::vector<CropWindow>(maps.size(), fitted));
    // Offline (saliency-reframe's default), the element's default look-ahead, live.
    for (int look_ahead : {-1, 15, 0}) {
      ReframeOptions o;
      o.frame_width = fw;
      o.frame_height = fh;
      o.look_ahead = look_ahead;
      std::vector<CropWindow> path;
      ReframePlanner p(o);
      for (std::size_t i = 0; i < views.size(); ++i)
        for (auto w : p.push(views[i], cuts[i])) path.push_back(w);
      for (auto w : p.finish()) path.push_back(w);
      ASSERT_EQ(path.size(), maps.size());
      const PathMotion pm = path_motion(path, cuts);
      EXPECT_LE(pm.top_speed, 0.02 * fw) << clip << " look-ahead " << look_ahead;
      const double kept = mean_retained(maps, fw, fh, path);
      EXPECT_GT(kept, centre) << clip << " look-ahead " << look_ahead;
      // The best path moving no faster than ours did (the optimum of the same
      // speed limit, without our acceleration limit or motion costs).
      const int top_step = std::max(2, int(std::ceil(pm.top_speed / 2)) * 2);
      const double optimum = best_path_retained(maps, fw, fh, fitted.width, top_step, cuts);
      // Issue #18 asks for 0.03 with a look-ahead. A live camera (look-ahead
      // 0) cannot set off before saliency moves, so it trails the optimum,
      // which knows the future: 0.028 on bbb here; it gets 0.05.
      EXPECT_GE(kept, optimum - (look_ahead == 0 ? 0.05 : 0.03)) << clip << " look-ahead " << look_ahead;
      EXPECT_LE(kept, optimum + 1e-9) << clip;  // our path is one of the optimum's candidates
      std::printf("[ reframe  ] %s (%dx%d, %zu frames), look-ahead %d: kept %.3f, centre %.3f, best "
                  "path at %d px/frame %.3f; top speed %.1f px (%.2f %% of the width)\n",
                  clip, fw, fh, maps.size(), look_ahead, kept, centre, top_step, optimum,
                  pm.top_speed, 100 * pm.top_speed / fw);
    }
    // Without motion costs or an acceleration limit, the offline planner is
    // the speed-limited optimum itself, up to its grid: centres every
    // 1/534 of the width instead of every even pixel, rounded to even pixels.
    ReframeOptions o;
    o.frame_width = fw;
    o.frame_height = fh;
    o.mode = CameraMode::Track;
    o.max_acceleration = 1.0;
    const std::vector<CropWindow> path = plan_reframe(views, cuts, o);
    const PathMotion pm = path_motion(path, cuts);
    const int top_step = std::max(2, int(std::ceil(pm.top_speed / 2)) * 2);
    const double optimum = best_path_retained(maps, fw, fh, fitted.width, top_step, cuts);
    EXPECT_NEAR(mean_retained(maps, fw, fh, path), optimum, 0.005) << clip;
  }
}

// Luma-histogram cuts on real frames: none within tased-ex1's single shot
// (consecutive distances at most 0.09 against the 0.6 threshold), one
// exactly where tased-ex1 is spliced onto Big Buck Bunny (distance 1.55).
TEST(ReframeTargets, ShotCutsOnRealFrames) {
  REQUIRE_SHARED_DATA(shared);
  std::vector<cv::Mat> frames = clip_frames(shared, "tased-ex1");
  ASSERT_EQ(frames.size(), 100u);
  const std::size_t splice = frames.size();
  for (const cv::Mat &f : clip_frames(shared, "bbb_480p_vp9_opus_1second.webm")) {
    cv::Mat small;
    cv::resize(f, small, frames[0].size(), 0, 0, cv::INTER_AREA);
    frames.push_back(small);
    if (frames.size() == splice + 5) break;
  }
  ShotCutDetector d;
  for (std::size_t i = 0; i < frames.size(); ++i) {
    cv::Mat grey;
    cv::cvtColor(frames[i], grey, cv::COLOR_BGR2GRAY);
    EXPECT_EQ(d.push_frame({grey.data, grey.cols, grey.rows, grey.step}), i == splice) << "frame " << i;
  }
}
