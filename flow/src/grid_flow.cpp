#include "salflow/grid_flow.hpp"

#include <opencv2/imgproc.hpp>

namespace flow {

GridFlow::GridFlow(Algorithm algorithm, std::optional<Preset> preset)
    : algorithm_(algorithm), preset_(preset) {}

cv::Mat GridFlow::on_grid(const cv::Mat &frame, cv::Size grid) const {
  if (frame.empty() || frame.depth() != CV_8U || (frame.channels() != 1 && frame.channels() != 3))
    throw std::invalid_argument("GridFlow: frames must be 8-bit grey or RGB");
  if (grid.width < 1 || grid.height < 1) throw std::invalid_argument("GridFlow: empty grid");
  // Resize first, convert after: the order the Predictor has always used for
  // RGB frames (and the only one for grey frames), so maps stay as they were.
  cv::Mat small;
  if (frame.size() != grid) cv::resize(frame, small, grid, 0, 0, cv::INTER_AREA);
  else small = frame;
  if (small.channels() == 1) return small.data == frame.data ? small.clone() : small;
  cv::Mat grey;
  cv::cvtColor(small, grey, cv::COLOR_RGB2GRAY);
  return grey;
}

cv::Mat GridFlow::next(const cv::Mat &frame, cv::Size grid) {
  cv::Mat current = on_grid(frame, grid);
  cv::Mat result;
  if (!previous_.empty() && previous_.size() == current.size()) {
    if (!estimator_) estimator_ = preset_ ? create_estimator(algorithm_, *preset_) : create_estimator(algorithm_);
    estimator_->calc(previous_, current, result);
  }
  previous_ = std::move(current);
  return result;
}

void GridFlow::remember(const cv::Mat &frame, cv::Size grid) { previous_ = on_grid(frame, grid); }

void GridFlow::reset() {
  previous_.release();
  if (estimator_) estimator_->reset();
}

void scale_vectors(cv::Mat &flow, double sx, double sy) {
  CV_Assert(flow.type() == CV_32FC2);
  if (sx == 1.0 && sy == 1.0) return;
  const float fx = float(sx), fy = float(sy);
  for (int y = 0; y < flow.rows; ++y) {
    auto *p = flow.ptr<cv::Vec2f>(y);
    for (int x = 0; x < flow.cols; ++x) {
      p[x][0] *= fx;
      p[x][1] *= fy;
    }
  }
}

}  // namespace flow
