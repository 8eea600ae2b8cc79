// Flow estimators (flow/src/estimator.cpp): direction convention, presets,
// input handling and accuracy on the shared Sintel / FlyingChairs pairs.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "salflow/estimator.hpp"
#include "salflow/flo_io.hpp"
#include "salflow/grid_flow.hpp"
#include "test_support.hpp"

namespace {

// Smooth random texture (BGR): enough structure everywhere for every algorithm.
cv::Mat texture(int w, int h, std::uint64_t seed) {
  cv::Mat noise(h, w, CV_8UC3);
  cv::RNG rng(seed);
  rng.fill(noise, cv::RNG::UNIFORM, 0, 256);
  cv::Mat smooth;
  cv::GaussianBlur(noise, smooth, cv::Size(0, 0), 2.0);
  cv::normalize(smooth, smooth, 0, 255, cv::NORM_MINMAX);
  return smooth;
}

// next(x + d) = prev(x): content moves by d = (dx, dy), so the forward flow is d.
cv::Mat translate(const cv::Mat &img, float dx, float dy) {
  cv::Mat m = (cv::Mat_<double>(2, 3) << 1, 0, dx, 0, 1, dy);
  cv::Mat out;
  cv::warpAffine(img, out, m, img.size(), cv::INTER_LINEAR, cv::BORDER_REFLECT);
  return out;
}

// Median of u and v over the interior (away from borders that enter the view).
cv::Vec2f interior_median(const cv::Mat &flow_px, int margin) {
  std::vector<float> us, vs;
  for (int y = margin; y < flow_px.rows - margin; ++y)
    for (int x = margin; x < flow_px.cols - margin; ++x) {
      us.push_back(flow_px.at<cv::Vec2f>(y, x)[0]);
      vs.push_back(flow_px.at<cv::Vec2f>(y, x)[1]);
    }
  auto median = [](std::vector<float> &v) {
    std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
    return v[v.size() / 2];
  };
  return {median(us), median(vs)};
}

bool identical(const cv::Mat &a, const cv::Mat &b) {
  return a.size() == b.size() && a.type() == b.type() && cv::norm(a, b, cv::NORM_INF) == 0.0;
}

struct SharedPair {
  std::string name;
  std::string prev, next, gt;
  double dis_medium_reference;  // SOURCES.md: OpenCV 4.6 DIS MEDIUM, grey frames
};

std::vector<SharedPair> shared_pairs(const std::string &shared) {
  const std::string d = shared + "/data/flow/";
  const std::string s = d + "sintel/clean/";
  const std::string c = d + "flyingchairs/000000";
  return {
      {"sintel-easy", s + "easy/frame_0002.png", s + "easy/frame_0003.png",
       s + "easy/gt/frame_0002.flo", 0.34},
      {"sintel-medium", s + "medium/frame_0002.png", s + "medium/frame_0003.png",
       s + "medium/gt/frame_0002.flo", 1.65},
      {"chairs-0", c + "0-img0.ppm", c + "0-img1.ppm", c + "0-gt.flo", 8.62},
      {"chairs-1", c + "1-img0.ppm", c + "1-img1.ppm", c + "1-gt.flo", 1.60},
      {"chairs-2", c + "2-img0.ppm", c + "2-img1.ppm", c + "2-gt.flo", 3.50},
  };
}

// `imread_mode`: IMREAD_COLOR feeds BGR (converted inside, as in the tools and
// the element); IMREAD_GRAYSCALE reproduces SOURCES.md's "grey frames" setting
// (libpng's and OpenCV's grey conversions differ slightly).
double pair_epe(flow::Estimator &estimator, const SharedPair &p, int imread_mode) {
  const cv::Mat a = cv::imread(p.prev, imread_mode);
  const cv::Mat b = cv::imread(p.next, imread_mode);
  if (a.empty() || b.empty()) throw std::runtime_error(p.prev + ": cannot read test frames");
  cv::Mat flow_px;
  estimator.calc(a, b, flow_px);
  return flow::endpoint_error(flow_px, flow::read_flo(p.gt));
}

}  // namespace

TEST(Estimator, ParsesNamesCaseInsensitively) {
  EXPECT_EQ(flow::parse_algorithm("DIS"), flow::Algorithm::DIS);
  EXPECT_EQ(flow::parse_algorithm("farneback"), flow::Algorithm::Farneback);
  EXPECT_EQ(flow::parse_algorithm("TvL1"), flow::Algorithm::TVL1);
  EXPECT_EQ(flow::parse_preset("UltraFast"), flow::Preset::UltraFast);
  EXPECT_EQ(flow::parse_preset("accurate"), flow::Preset::Accurate);
  EXPECT_THROW(flow::parse_algorithm("raft"), std::invalid_argument);
  EXPECT_THROW(flow::parse_preset(""), std::invalid_argument);
  for (auto a : {flow::Algorithm::DIS, flow::Algorithm::Farneback, flow::Algorithm::TVL1})
    EXPECT_EQ(flow::parse_algorithm(flow::to_string(a)), a);
  for (auto p : {flow::Preset::UltraFast, flow::Preset::Fast, flow::Preset::Medium,
                 flow::Preset::Accurate})
    EXPECT_EQ(flow::parse_preset(flow::to_string(p)), p);
}

TEST(Estimator, DefaultIsDisFast) {
  auto e = flow::create_estimator();
  EXPECT_EQ(e->algorithm(), flow::Algorithm::DIS);
  EXPECT_EQ(e->preset(), flow::Preset::Fast);
}

// The project's convention (estimator.hpp): prev(x) ~ next(x + flow(x)).
TEST(Estimator, EveryAlgorithmAndPresetRecoversATranslation) {
  const cv::Mat prev = texture(96, 72, 11);
  const cv::Mat next = translate(prev, 2.5f, -1.5f);
  for (auto a : {flow::Algorithm::DIS, flow::Algorithm::Farneback, flow::Algorithm::TVL1})
    for (auto p : {flow::Preset::UltraFast, flow::Preset::Fast, flow::Preset::Medium,
                   flow::Preset::Accurate}) {
      SCOPED_TRACE(std::string(flow::to_string(a)) + "/" + flow::to_string(p));
      auto e = flow::create_estimator(a, p);
      EXPECT_EQ(e->algorithm(), a);
      EXPECT_EQ(e->preset(), p);
      cv::Mat flow_px;
      e->calc(prev, next, flow_px);
      ASSERT_EQ(flow_px.type(), CV_32FC2);
      ASSERT_EQ(flow_px.size(), prev.size());
      const cv::Vec2f m = interior_median(flow_px, 12);
      EXPECT_NEAR(m[0], 2.5f, 0.3f);
      EXPECT_NEAR(m[1], -1.5f, 0.3f);
    }
}

TEST(Estimator, ConvertsBgrToGreyInside) {
  const cv::Mat prev = texture(80, 64, 12);
  const cv::Mat next = translate(prev, -1.f, 2.f);
  cv::Mat prev_grey, next_grey, prev_bgra, next_bgra;
  cv::cvtColor(prev, prev_grey, cv::COLOR_BGR2GRAY);
  cv::cvtColor(next, next_grey, cv::COLOR_BGR2GRAY);
  cv::cvtColor(prev, prev_bgra, cv::COLOR_BGR2BGRA);
  cv::cvtColor(next, next_bgra, cv::COLOR_BGR2BGRA);
  auto e = flow::create_estimator();
  cv::Mat from_bgr, from_grey, from_bgra;
  e->calc(prev, next, from_bgr);
  e->calc(prev_grey, next_grey, from_grey);
  e->calc(prev_bgra, next_bgra, from_bgra);
  EXPECT_TRUE(identical(from_bgr, from_grey));
  EXPECT_TRUE(identical(from_bgr, from_bgra));
}

// DIS reads a same-sized CV_32FC2 output as an initial guess: a recycled
// output buffer must not change the result.
TEST(Estimator, ResultDoesNotDependOnTheOutputBuffer) {
  const cv::Mat prev = texture(96, 64, 13);
  const cv::Mat next = translate(prev, 3.f, 1.f);
  auto e = flow::create_estimator();
  cv::Mat fresh;
  e->calc(prev, next, fresh);
  cv::Mat recycled(prev.size(), CV_32FC2, cv::Scalar(40.f, -40.f));
  e->calc(prev, next, recycled);
  EXPECT_TRUE(identical(fresh, recycled));
  e->reset();
  cv::Mat again;
  e->calc(prev, next, again);
  EXPECT_TRUE(identical(fresh, again));
}

TEST(Estimator, HandlesFramesSmallerThanItsPatches) {
  for (cv::Size s : {cv::Size(1, 1), cv::Size(4, 4), cv::Size(7, 5), cv::Size(3, 200)})
    for (auto a : {flow::Algorithm::DIS, flow::Algorithm::Farneback, flow::Algorithm::TVL1}) {
      SCOPED_TRACE(std::string(flow::to_string(a)) + " " + std::to_string(s.width) + "x" +
                   std::to_string(s.height));
      auto e = flow::create_estimator(a, flow::Preset::UltraFast);
      const cv::Mat frame = texture(s.width, s.height, 14);
      cv::Mat flow_px;
      ASSERT_NO_THROW(e->calc(frame, frame, flow_px));
      EXPECT_EQ(flow_px.size(), s);
      EXPECT_LT(cv::norm(flow_px, cv::NORM_INF), 0.5);  // identical frames: no motion
    }
}

TEST(Estimator, RejectsBadInputs) {
  auto e = flow::create_estimator();
  cv::Mat flow_px;
  EXPECT_THROW(e->calc(texture(32, 32, 1), texture(33, 32, 1), flow_px), std::invalid_argument);
  EXPECT_THROW(e->calc(cv::Mat(), cv::Mat(), flow_px), std::invalid_argument);
  EXPECT_THROW(e->calc(cv::Mat(32, 32, CV_32FC1), cv::Mat(32, 32, CV_32FC1), flow_px),
               std::invalid_argument);
  EXPECT_THROW(flow::measure_throughput_fps(*e, texture(32, 32, 1), texture(32, 32, 2), 0),
               std::invalid_argument);
}

TEST(Estimator, MeasuresThroughput) {
  auto e = flow::create_estimator();
  const double fps = flow::measure_throughput_fps(*e, texture(64, 48, 1), texture(64, 48, 2), 3);
  EXPECT_TRUE(std::isfinite(fps));
  EXPECT_GT(fps, 0.0);
}

// The default must be at least as accurate as OpenCV's DIS MEDIUM on every
// shared pair (flow/README.md "Accuracy"), from BGR and from grey frames. The
// 0.01 px tolerance allows for other OpenCV builds and SIMD paths (results do
// not change with the thread count); the measured margins are 0.02-3 px.
// GridFlow: the one "frame to grey on a grid, flow between consecutive frames"
// of the opticalflow element and the Predictor.
TEST(GridFlow, FlowOnAHalfGridIsHalfTheMotionAndScalesBackToFramePixels) {
  const cv::Mat a = texture(160, 120, 3), b = translate(a, 4.f, -2.f);
  flow::GridFlow gf;
  const cv::Size grid(80, 60);
  EXPECT_TRUE(gf.next(a, grid).empty());  // no previous frame
  cv::Mat f = gf.next(b, grid);
  ASSERT_EQ(f.size(), grid);
  ASSERT_EQ(f.type(), CV_32FC2);
  const cv::Vec2f half = interior_median(f, 10);
  EXPECT_NEAR(half[0], 2.0, 0.25);
  EXPECT_NEAR(half[1], -1.0, 0.25);
  cv::Mat scaled = f.clone();
  flow::scale_vectors(scaled, 2.0, 2.0);
  for (int y = 0; y < f.rows; ++y)
    for (int x = 0; x < f.cols; ++x) {  // a product by 2 is exact in float
      ASSERT_EQ(scaled.at<cv::Vec2f>(y, x)[0], 2.f * f.at<cv::Vec2f>(y, x)[0]);
      ASSERT_EQ(scaled.at<cv::Vec2f>(y, x)[1], 2.f * f.at<cv::Vec2f>(y, x)[1]);
    }
}

// RGB frames are resized first and converted after (the Predictor's order), so
// feeding the grey frames prepared that way gives the very same flow.
TEST(GridFlow, RgbFramesGiveTheFlowOfTheirGreyOnTheGrid) {
  cv::Mat a = texture(96, 64, 5), b = translate(a, 3.f, 1.f);
  cv::cvtColor(a, a, cv::COLOR_BGR2RGB);
  cv::cvtColor(b, b, cv::COLOR_BGR2RGB);
  const cv::Size grid(48, 32);
  auto grey_on_grid = [&](const cv::Mat &rgb) {
    cv::Mat small, grey;
    cv::resize(rgb, small, grid, 0, 0, cv::INTER_AREA);
    cv::cvtColor(small, grey, cv::COLOR_RGB2GRAY);
    return grey;
  };
  flow::GridFlow from_rgb, from_grey;
  from_rgb.next(a, grid);
  from_grey.next(grey_on_grid(a), grid);
  EXPECT_TRUE(identical(from_rgb.next(b, grid), from_grey.next(grey_on_grid(b), grid)));
}

TEST(GridFlow, RememberResetAndGridChangesDecideWhetherAFrameGetsFlow) {
  const cv::Mat a = texture(64, 48, 7), b = translate(a, 2.f, 0.f);
  cv::Mat grey_a, grey_b;
  cv::cvtColor(a, grey_a, cv::COLOR_BGR2GRAY);
  cv::cvtColor(b, grey_b, cv::COLOR_BGR2GRAY);
  const cv::Size full = grey_a.size(), half(32, 24);
  flow::GridFlow gf;
  gf.remember(grey_a, full);
  EXPECT_FALSE(gf.next(grey_b, full).empty());  // a remembered frame is a previous frame
  EXPECT_TRUE(gf.next(grey_a, half).empty());   // another grid: nothing to compare with
  EXPECT_FALSE(gf.next(grey_b, half).empty());
  gf.reset();
  EXPECT_TRUE(gf.next(grey_a, half).empty());
  // The frame is copied: overwriting the caller's pixels changes nothing.
  flow::GridFlow copied, reference;
  cv::Mat buffer = grey_a.clone();
  copied.next(buffer, full);
  reference.next(grey_a, full);
  buffer.setTo(0);
  EXPECT_TRUE(identical(copied.next(grey_b, full), reference.next(grey_b, full)));
  EXPECT_THROW(gf.next(cv::Mat(4, 4, CV_32FC1), full), std::invalid_argument);
  EXPECT_THROW(gf.next(grey_a, cv::Size(0, 3)), std::invalid_argument);
}

TEST(EstimatorAccuracy, DefaultIsAtLeastAsAccurateAsDisMediumOnEachSharedPair) {
  REQUIRE_SHARED_DATA(shared);
  auto ours = flow::create_estimator();
  auto medium = flow::create_estimator(flow::Algorithm::DIS, flow::Preset::Medium);
  for (int mode : {cv::IMREAD_GRAYSCALE, cv::IMREAD_COLOR}) {
    const char *mode_name = mode == cv::IMREAD_COLOR ? "bgr" : "grey";
    double ours_sum = 0.0, medium_sum = 0.0;
    for (const SharedPair &p : shared_pairs(shared)) {
      SCOPED_TRACE(p.name + " " + mode_name);
      const double e_ours = pair_epe(*ours, p, mode);
      const double e_medium = pair_epe(*medium, p, mode);
      // Our Medium preset is OpenCV's: on grey frames it reproduces SOURCES.md.
      if (mode == cv::IMREAD_GRAYSCALE) {
        EXPECT_NEAR(e_medium, p.dis_medium_reference, 0.01);
      }
      EXPECT_LE(e_ours, p.dis_medium_reference + 0.01);
      EXPECT_LE(e_ours, e_medium + 0.01);
      std::printf("  %-14s %-4s default %.3f px, DIS medium %.3f px (SOURCES.md %.2f)\n",
                  p.name.c_str(), mode_name, e_ours, e_medium, p.dis_medium_reference);
      ours_sum += e_ours;
      medium_sum += e_medium;
    }
    EXPECT_LT(ours_sum, 0.85 * medium_sum) << mode_name;  // and clearly better overall
  }
}

TEST(EstimatorAccuracy, EveryAlgorithmBeatsZeroFlowOnSintelMedium) {
  REQUIRE_SHARED_DATA(shared);
  const SharedPair p = shared_pairs(shared)[1];  // 15.12 px for zero flow
  for (auto a : {flow::Algorithm::DIS, flow::Algorithm::Farneback, flow::Algorithm::TVL1}) {
    auto e = flow::create_estimator(a, flow::Preset::UltraFast);
    EXPECT_LT(pair_epe(*e, p, cv::IMREAD_COLOR), 5.0) << flow::to_string(a);
  }
}
