// libsalflow: dense optical flow estimators (OpenCV).
//
// Direction and units, once for the whole project: flow(x) is the forward
// displacement of pixel x from `prev` to `next`, so prev(x) ~ next(x + flow(x)).
// CV_32FC2, (u, v) = (horizontal, vertical), in pixels of the input size. The
// same convention holds in .flo files, flow-extract and GstOpticalFlowMeta.
#pragma once

#include <memory>
#include <string>

#include <opencv2/core.hpp>

#include "salflow/flow_options.hpp"

namespace flow {

/// A dense forward-flow estimator in the cv::DenseOpticalFlow style.
/// Instances are not thread-safe: use one per stream.
class Estimator {
 public:
  virtual ~Estimator() = default;
  /// @param prev, next same size, CV_8UC1 or CV_8UC3 (BGR; converted to grey inside).
  /// @param flow overwritten with CV_32FC2 forward flow, prev -> next, in pixels.
  virtual void calc(cv::InputArray prev, cv::InputArray next, cv::OutputArray flow) = 0;
  /// Forget warm starts (temporal initialisation); call on discontinuities.
  virtual void reset() {}
  virtual Algorithm algorithm() const = 0;
  virtual Preset preset() const = 0;
};

/// Creates a configured estimator. The default (DIS, Preset::Fast) is the
/// project's default flow: see flow/README.md for its accuracy and speed.
std::unique_ptr<Estimator> create_estimator(Algorithm algorithm = Algorithm::DIS,
                                            Preset preset = Preset::Fast);

/// Steady-state throughput of `estimator` in flow fields per second: one
/// untimed warm-up call, then `iterations` timed calls alternating (a, b) and
/// (b, a). Uses OpenCV's current thread setting (cv::setNumThreads is the
/// caller's decision). @param iterations >= 1.
double measure_throughput_fps(Estimator &estimator, const cv::Mat &a, const cv::Mat &b,
                              int iterations);

}  // namespace flow
