// How the metrics take a map argument (private to model/src/metrics).
#pragma once

#include <opencv2/core.hpp>

namespace model::metrics {

/// `m` as a continuous single-channel CV_64F copy; a ModelError naming `what`
/// ("fixation map is empty", "... has 3 channels") for anything else.
cv::Mat to_double(const cv::Mat &m, const char *what);

}  // namespace model::metrics
