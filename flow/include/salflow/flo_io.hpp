// Middlebury .flo reading/writing, end-point error and colour-wheel visualisation.
#pragma once

#include <stdexcept>
#include <string>

#include <opencv2/core.hpp>

namespace flow {

/// Thrown for unreadable, truncated or malformed files; what() is one line
/// naming the file and the problem.
class FlowFileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Reads a Middlebury .flo file ("PIEH", int32 width, int32 height, then
/// height*width interleaved float32 (u, v)). Validates the magic number, the
/// dimensions (positive, bounded) and the file size. Returns CV_32FC2.
cv::Mat read_flo(const std::string &path);

/// Writes CV_32FC2 flow as .flo, atomically (temporary file then rename).
void write_flo(const std::string &path, const cv::Mat &flow);

/// Mean end-point error sqrt((u-u')^2 + (v-v')^2) over pixels where `valid`
/// (CV_8UC1, non-zero = counted) is set, or over all pixels when it is empty.
/// Values with |u| or |v| >= 1e9 in `gt` (Middlebury's "unknown") are skipped.
/// Throws std::invalid_argument on a type or size mismatch, or when no pixel is counted.
double endpoint_error(const cv::Mat &pred, const cv::Mat &gt, const cv::Mat &valid = cv::Mat());

/// Standard Middlebury colour-wheel visualisation (Baker et al. 2011), BGR CV_8UC3.
/// @param max_magnitude flow magnitude mapped to full saturation; <= 0 uses the
/// maximum finite magnitude of the field. Unknown vectors are black. Throws
/// std::invalid_argument unless `flow` is CV_32FC2.
cv::Mat visualize_flow(const cv::Mat &flow, float max_magnitude = -1.f);

}  // namespace flow
