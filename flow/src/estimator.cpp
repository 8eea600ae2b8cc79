// Flow estimators: (algorithm, preset) -> a configured cv::DenseOpticalFlow
// (STYLE.md §f). The OpenCV classes do the work; this file adds the grey
// conversion, input checks and the project's tuned presets.
#include "salflow/estimator.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <stdexcept>
#include <string>

#include <opencv2/imgproc.hpp>
#include <opencv2/optflow.hpp>
#include <opencv2/video/tracking.hpp>

namespace flow {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// DIS settings (Kroeger et al., "Fast Optical Flow using Dense Inverse
// Search", ECCV 2016; OpenCV modules/video/src/dis_flow.cpp).
struct DisSettings {
  int finest_scale;
  int patch_size;
  int patch_stride;
  int gradient_descent_iterations;
  int variational_iterations;
  float variational_alpha;  // smoothness weight
  float variational_delta;  // colour-constancy weight
  float variational_gamma;  // gradient-constancy weight
};

// Preset::Fast, the project default, against OpenCV's MEDIUM preset
// {1, 8, 3, 25, 5, 20, 5, 10}: a sparser patch grid (stride 4) with a few
// more descent steps, and more variational iterations with a stronger
// smoothness term and a weaker gradient term. Tuned by grid search on
// ../shared/data/flow (Sintel clean alley_1 and cave_2 frames 2->3,
// FlyingChairs 0-2): mean EPE 2.43 px against MEDIUM's 3.13 px, lower on
// every pair, for about 15% more CPU time (flow/README.md: table, commands).
// The variational iterations dominate the cost, hence 12 and not more
// (docs/performance.md). No temporal warm start: the
// shared data has no sequence with ground truth to show that it helps, so
// reset() has nothing to forget.
constexpr DisSettings kDisTuned{1, 8, 4, 20, 12, 40.f, 5.f, 5.f};
// Preset::Accurate: the same search at full resolution (finest scale 0):
// lower EPE on every shared pair, about 4x the cost.
constexpr DisSettings kDisAccurate{0, 8, 4, 20, 12, 40.f, 5.f, 5.f};

cv::Ptr<cv::DenseOpticalFlow> make_dis(Preset preset) {
  switch (preset) {
    case Preset::UltraFast:
      return cv::DISOpticalFlow::create(cv::DISOpticalFlow::PRESET_ULTRAFAST);
    case Preset::Medium:
      return cv::DISOpticalFlow::create(cv::DISOpticalFlow::PRESET_MEDIUM);
    case Preset::Fast:
    case Preset::Accurate:
      break;
  }
  const DisSettings &s = preset == Preset::Fast ? kDisTuned : kDisAccurate;
  cv::Ptr<cv::DISOpticalFlow> dis = cv::DISOpticalFlow::create(cv::DISOpticalFlow::PRESET_MEDIUM);
  dis->setFinestScale(s.finest_scale);
  dis->setPatchSize(s.patch_size);
  dis->setPatchStride(s.patch_stride);
  dis->setGradientDescentIterations(s.gradient_descent_iterations);
  dis->setVariationalRefinementIterations(s.variational_iterations);
  dis->setVariationalRefinementAlpha(s.variational_alpha);
  dis->setVariationalRefinementDelta(s.variational_delta);
  dis->setVariationalRefinementGamma(s.variational_gamma);
  dis->setUseMeanNormalization(true);    // robust to brightness changes between frames
  dis->setUseSpatialPropagation(true);   // needed for the sparse patch grid
  return dis;
}

// Farneback ("Two-Frame Motion Estimation Based on Polynomial Expansion",
// SCIA 2003): pyramid depth and window size trade speed for large motions.
cv::Ptr<cv::DenseOpticalFlow> make_farneback(Preset preset) {
  switch (preset) {
    //                                      levels scale fast  win iters polyN sigma flags
    case Preset::UltraFast:
      return cv::FarnebackOpticalFlow::create(3, 0.5, false, 11, 2, 5, 1.1, 0);
    case Preset::Fast:
      return cv::FarnebackOpticalFlow::create(4, 0.5, false, 15, 3, 5, 1.2, 0);
    case Preset::Medium:
      return cv::FarnebackOpticalFlow::create(5, 0.5, false, 21, 3, 5, 1.2, 0);
    case Preset::Accurate:
      return cv::FarnebackOpticalFlow::create(5, 0.5, false, 21, 5, 5, 1.2, 0);
  }
  throw std::invalid_argument("unknown Farneback preset");
}

// TV-L1 (Zach et al. 2007; Sanchez et al., IPOL 2013). OpenCV's defaults
// (5 scales of 0.8) stop at 0.41 of the resolution, too shallow for large
// motions (Sintel cave_2: 6.6 px EPE); every preset here reaches at least
// 1/16 of it (2.3 px or less on that pair, flow/README.md).
cv::Ptr<cv::DenseOpticalFlow> make_tvl1(Preset preset) {
  using cv::optflow::DualTVL1OpticalFlow;
  //                                        tau   lambda theta scales warps eps  inner outer step
  switch (preset) {
    case Preset::UltraFast:
      return DualTVL1OpticalFlow::create(0.25, 0.15, 0.3, 5, 2, 0.05, 10, 2, 0.5);
    case Preset::Fast:
      return DualTVL1OpticalFlow::create(0.25, 0.15, 0.3, 6, 3, 0.02, 15, 5, 0.5);
    case Preset::Medium:
      return DualTVL1OpticalFlow::create(0.25, 0.15, 0.3, 5, 5, 0.01, 30, 10, 0.5);
    case Preset::Accurate:
      return DualTVL1OpticalFlow::create(0.25, 0.15, 0.3, 10, 5, 0.01, 30, 10, 0.8);
  }
  throw std::invalid_argument("unknown TV-L1 preset");
}

/// One estimator for all three algorithms: they share cv::DenseOpticalFlow.
class OpenCvEstimator final : public Estimator {
 public:
  OpenCvEstimator(Algorithm algorithm, Preset preset, cv::Ptr<cv::DenseOpticalFlow> impl)
      : algorithm_(algorithm), preset_(preset), impl_(std::move(impl)) {}

  void calc(cv::InputArray prev, cv::InputArray next, cv::OutputArray flow) override {
    if (prev.empty() || next.empty())
      throw std::invalid_argument("optical flow: empty input frame");
    if (prev.size() != next.size())
      throw std::invalid_argument("optical flow: frame sizes differ (" +
                                  std::to_string(prev.size().width) + "x" +
                                  std::to_string(prev.size().height) + " vs " +
                                  std::to_string(next.size().width) + "x" +
                                  std::to_string(next.size().height) + ")");
    to_grey(prev, prev_grey_);
    to_grey(next, next_grey_);
    // A fresh output every call: DIS and Farneback with USE_INITIAL_FLOW read
    // a same-sized CV_32FC2 output as an initial guess, and a caller's
    // recycled buffer must not become one silently.
    cv::Mat result;
    const cv::Size size = prev_grey_.size();
    if (size.width < kMinSide || size.height < kMinSide) {
      // DIS needs sides of at least a patch plus margin and TV-L1's pyramid
      // fails on 1-pixel images: extend tiny frames by replicating their
      // border (zero motion there) and crop the flow back.
      const int right = std::max(0, kMinSide - size.width);
      const int bottom = std::max(0, kMinSide - size.height);
      cv::Mat prev_padded, next_padded;
      cv::copyMakeBorder(prev_grey_, prev_padded, 0, bottom, 0, right, cv::BORDER_REPLICATE);
      cv::copyMakeBorder(next_grey_, next_padded, 0, bottom, 0, right, cv::BORDER_REPLICATE);
      cv::Mat padded_flow;
      impl_->calc(prev_padded, next_padded, padded_flow);
      result = padded_flow(cv::Rect(cv::Point(0, 0), size)).clone();
    } else {
      impl_->calc(prev_grey_, next_grey_, result);
    }
    if (flow.kind() == cv::_InputArray::MAT)
      flow.assign(result);  // no copy
    else
      result.copyTo(flow);
  }

  Algorithm algorithm() const override { return algorithm_; }
  Preset preset() const override { return preset_; }

 private:
  static constexpr int kMinSide = 32;  // smallest side passed to OpenCV

  // All three OpenCV algorithms take 8-bit grey frames.
  static void to_grey(cv::InputArray in, cv::Mat &grey) {
    switch (in.type()) {
      case CV_8UC1:
        grey = in.getMat();
        break;
      case CV_8UC3:
        cv::cvtColor(in, grey, cv::COLOR_BGR2GRAY);
        break;
      case CV_8UC4:
        cv::cvtColor(in, grey, cv::COLOR_BGRA2GRAY);
        break;
      default:
        throw std::invalid_argument(
            "optical flow: frames must be 8-bit grey, BGR or BGRA (got OpenCV type " +
            std::to_string(in.type()) + ")");
    }
  }

  Algorithm algorithm_;
  Preset preset_;
  cv::Ptr<cv::DenseOpticalFlow> impl_;
  cv::Mat prev_grey_, next_grey_;  // reused across calls
};

}  // namespace

Algorithm parse_algorithm(const std::string &name) {
  const std::string n = lower(name);
  if (n == "dis") return Algorithm::DIS;
  if (n == "farneback") return Algorithm::Farneback;
  if (n == "tvl1") return Algorithm::TVL1;
  throw std::invalid_argument("unknown flow algorithm '" + name +
                              "' (expected dis, farneback or tvl1)");
}

Preset parse_preset(const std::string &name) {
  const std::string n = lower(name);
  if (n == "ultrafast") return Preset::UltraFast;
  if (n == "fast") return Preset::Fast;
  if (n == "medium") return Preset::Medium;
  if (n == "accurate") return Preset::Accurate;
  throw std::invalid_argument("unknown flow preset '" + name +
                              "' (expected ultrafast, fast, medium or accurate)");
}

const char *to_string(Algorithm a) {
  switch (a) {
    case Algorithm::DIS:
      return "dis";
    case Algorithm::Farneback:
      return "farneback";
    case Algorithm::TVL1:
      return "tvl1";
  }
  return "unknown";
}

const char *to_string(Preset p) {
  switch (p) {
    case Preset::UltraFast:
      return "ultrafast";
    case Preset::Fast:
      return "fast";
    case Preset::Medium:
      return "medium";
    case Preset::Accurate:
      return "accurate";
  }
  return "unknown";
}

std::unique_ptr<Estimator> create_estimator(Algorithm algorithm, Preset preset) {
  cv::Ptr<cv::DenseOpticalFlow> impl;
  switch (algorithm) {
    case Algorithm::DIS:
      impl = make_dis(preset);
      break;
    case Algorithm::Farneback:
      impl = make_farneback(preset);
      break;
    case Algorithm::TVL1:
      impl = make_tvl1(preset);
      break;
  }
  if (!impl) throw std::invalid_argument("unknown flow algorithm");
  return std::make_unique<OpenCvEstimator>(algorithm, preset, std::move(impl));
}

double measure_throughput_fps(Estimator &estimator, const cv::Mat &a, const cv::Mat &b,
                              int iterations) {
  if (iterations < 1) throw std::invalid_argument("measure_throughput_fps: iterations must be >= 1");
  cv::Mat flow_px;
  estimator.calc(a, b, flow_px);  // warm-up: buffers, thread pool
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < iterations; ++i) {
    if (i % 2 == 0)
      estimator.calc(a, b, flow_px);
    else
      estimator.calc(b, a, flow_px);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return iterations / std::max(seconds, 1e-12);
}

}  // namespace flow
