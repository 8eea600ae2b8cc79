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

namespace flow {

/// Flow algorithms. All three are OpenCV implementations; DIS is the default.
enum class Algorithm { DIS, Farneback, TVL1 };

/// Speed/accuracy trade-off. Each algorithm maps a preset to its own settings
/// (for DIS: OpenCV's ULTRAFAST / FAST / MEDIUM presets plus our tuned default).
enum class Preset { UltraFast, Fast, Medium, Accurate };

/// Parses "dis", "farneback", "tvl1" (case-insensitive). Throws std::invalid_argument.
Algorithm parse_algorithm(const std::string &name);
/// Parses "ultrafast", "fast", "medium", "accurate". Throws std::invalid_argument.
Preset parse_preset(const std::string &name);
const char *to_string(Algorithm a);
const char *to_string(Preset p);

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
