// Flow between the consecutive frames of one stream, computed on a grid
// smaller than the frames: a map of a few hundred cells or a model's flow input
// needs no more, and the estimator's cost falls with the pixel count. The
// `opticalflow` element and the Predictor both use it.
#pragma once

#include <memory>
#include <optional>

#include <opencv2/core.hpp>

#include "salflow/estimator.hpp"

namespace flow {

class GridFlow {
 public:
  /// No preset: the estimator's default one.
  explicit GridFlow(Algorithm algorithm = Algorithm::DIS, std::optional<Preset> preset = std::nullopt);

  /// Takes the next frame of the stream: 8-bit grey (CV_8UC1) or RGB (CV_8UC3)
  /// of any size, brought to `grid` (INTER_AREA), then to grey (RGB: OpenCV's
  /// BT.601 weights). Returns the forward flow from the previous frame to this
  /// one, CV_32FC2 in grid pixels, or an empty Mat when there is no previous
  /// frame on the same grid (the first frame, after reset(), after a change of
  /// grid). The frame is copied: it may be a view of a buffer about to go.
  cv::Mat next(const cv::Mat &frame, cv::Size grid);
  /// The same without computing flow: the frame only becomes the previous one
  /// (when the flow of this pair comes from elsewhere).
  void remember(const cv::Mat &frame, cv::Size grid);
  /// Forgets the previous frame and the estimator's warm starts.
  void reset();

 private:
  cv::Mat on_grid(const cv::Mat &frame, cv::Size grid) const;

  Algorithm algorithm_;
  std::optional<Preset> preset_;
  std::unique_ptr<Estimator> estimator_;  // made on the first pair
  cv::Mat previous_;                      // grey, on the grid
};

/// Rescales the vectors of a CV_32FC2 flow field in place (u by sx, v by sy),
/// e.g. from the pixels of one grid to those of another.
void scale_vectors(cv::Mat &flow, double sx, double sy);

}  // namespace flow
