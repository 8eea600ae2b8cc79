// MATLAB-compatible resizing and index helpers for the benchmark metrics
// (model-spec C.1: "P is first resized to the ground-truth size with MATLAB
// imresize, which is bicubic with antialiasing").
//
// imresize_bicubic() follows the algorithm of MATLAB's imresize.m for the
// 'bicubic' method with 'Antialiasing' on (its default):
//   scale      = out_len / in_len, per dimension
//   kernel     cubic(x) = 1.5|x|^3 - 2.5|x|^2 + 1          for |x| <= 1
//                         -0.5|x|^3 + 2.5|x|^2 - 4|x| + 2   for 1 < |x| <= 2
//              width 4; when shrinking h(x) = scale * cubic(scale * x) and the
//              width becomes 4 / scale (antialiasing)
//   output x (1-based) samples the input at u = x / scale + 0.5 (1 - 1/scale);
//   taps left = floor(u - width/2) + (0 .. ceil(width) + 1), weights h(u - tap)
//   normalised to sum 1; taps outside [1, in_len] are mirrored through the
//   sequence [1..in_len, in_len..1] (symmetric padding)
//   dimensions are processed in increasing order of scale (rows first on ties).

#include <algorithm>
#include <cmath>
#include <vector>

#include "salmodel/metrics.hpp"

#include "map_input.hpp"

namespace model::metrics {
namespace {

double cubic(double x) {
  const double ax = std::fabs(x), ax2 = ax * ax, ax3 = ax2 * ax;
  if (ax <= 1.0) return 1.5 * ax3 - 2.5 * ax2 + 1.0;
  if (ax <= 2.0) return -0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0;
  return 0.0;
}

// Per output sample: `taps` input indices (0-based) and their weights.
struct Contributions {
  int taps = 0;
  std::vector<int> index;
  std::vector<double> weight;
};

Contributions contributions(int in_len, int out_len) {
  const double scale = static_cast<double>(out_len) / in_len;
  const bool antialias = scale < 1.0;
  const double width = antialias ? 4.0 / scale : 4.0;
  Contributions c;
  c.taps = static_cast<int>(std::ceil(width)) + 2;
  c.index.resize(static_cast<std::size_t>(out_len) * c.taps);
  c.weight.resize(c.index.size());
  const long period = 2L * in_len;
  for (int i = 0; i < out_len; i++) {
    const double u = (i + 1) / scale + 0.5 * (1.0 - 1.0 / scale);
    const long left = static_cast<long>(std::floor(u - width / 2.0));
    double sum = 0.0;
    for (int j = 0; j < c.taps; j++) {
      const long tap = left + j;  // 1-based MATLAB index
      const double x = u - static_cast<double>(tap);
      const double w = antialias ? scale * cubic(scale * x) : cubic(x);
      const long m = ((tap - 1) % period + period) % period;  // MATLAB mod(tap-1, 2n)
      c.index[std::size_t(i) * c.taps + j] = static_cast<int>(m < in_len ? m : period - 1 - m);
      c.weight[std::size_t(i) * c.taps + j] = w;
      sum += w;
    }
    for (int j = 0; j < c.taps; j++) c.weight[std::size_t(i) * c.taps + j] /= sum;
  }
  return c;
}

cv::Mat resize_rows(const cv::Mat &src, int out_rows) {
  const Contributions c = contributions(src.rows, out_rows);
  cv::Mat dst(out_rows, src.cols, CV_64F, cv::Scalar(0));
  for (int i = 0; i < out_rows; i++) {
    double *out = dst.ptr<double>(i);
    for (int j = 0; j < c.taps; j++) {
      const double w = c.weight[std::size_t(i) * c.taps + j];
      if (w == 0.0) continue;
      const double *in = src.ptr<double>(c.index[std::size_t(i) * c.taps + j]);
      for (int x = 0; x < src.cols; x++) out[x] += w * in[x];
    }
  }
  return dst;
}

cv::Mat resize_cols(const cv::Mat &src, int out_cols) {
  const Contributions c = contributions(src.cols, out_cols);
  cv::Mat dst(src.rows, out_cols, CV_64F);
  for (int y = 0; y < src.rows; y++) {
    const double *in = src.ptr<double>(y);
    double *out = dst.ptr<double>(y);
    for (int i = 0; i < out_cols; i++) {
      double acc = 0.0;
      for (int j = 0; j < c.taps; j++)
        acc += c.weight[std::size_t(i) * c.taps + j] * in[c.index[std::size_t(i) * c.taps + j]];
      out[i] = acc;
    }
  }
  return dst;
}

}  // namespace

cv::Mat to_double(const cv::Mat &m, const char *what) {
  if (m.empty()) throw ModelError(std::string(what) + " is empty");
  if (m.channels() != 1)
    throw ModelError(std::string(what) + " has " + std::to_string(m.channels()) +
                     " channels; a single-channel map is required");
  cv::Mat d;
  m.convertTo(d, CV_64F);
  return d;
}

cv::Mat imresize_bicubic(const cv::Mat &src, cv::Size size) {
  cv::Mat m = to_double(src, "map to resize");
  if (size.width <= 0 || size.height <= 0)
    throw ModelError("imresize: invalid output size " + std::to_string(size.width) + "x" +
                     std::to_string(size.height));
  const double scale_rows = static_cast<double>(size.height) / m.rows;
  const double scale_cols = static_cast<double>(size.width) / m.cols;
  // MATLAB: [~, order] = sort(scale), i.e. the most shrunk dimension first.
  if (scale_rows <= scale_cols) {
    if (size.height != m.rows) m = resize_rows(m, size.height);
    if (size.width != m.cols) m = resize_cols(m, size.width);
  } else {
    if (size.width != m.cols) m = resize_cols(m, size.width);
    if (size.height != m.rows) m = resize_rows(m, size.height);
  }
  return m;
}

cv::Mat prediction_at(const cv::Mat &map, cv::Size size) {
  if (!map.empty() && map.size() != size) return imresize_bicubic(map, size);
  return to_double(map, "prediction map");
}

std::vector<double> matlab_colon(double a, double d, double b) {
  // MATLAB's colon operator (as MathWorks documents it in colonop.m): the
  // count comes from round((b-a)/d) corrected by a tolerance of 2 eps, the
  // first half is a + k d, the second half c - k d from the end point c (b
  // itself when a + n d is within the tolerance), and an odd-length middle
  // element is (a + c) / 2.
  if (!(d > 0.0) || !std::isfinite(a) || !std::isfinite(b) || b < a) return {};
  const double tol = 2.0 * kMatlabEps * std::max(std::fabs(a), std::fabs(b));
  double n = std::round((b - a) / d);
  if (a + n * d - b > tol) n -= 1.0;
  if (n < 0.0) return {};
  if (n > 1e8) throw ModelError("matlab_colon: more than 1e8 elements requested");
  double c = a + n * d;
  if (c - b > -tol) c = b;
  const long count = static_cast<long>(n);
  std::vector<double> v(static_cast<std::size_t>(count) + 1);
  for (long k = 0; k <= count / 2; k++) {
    v[k] = a + k * d;
    v[count - k] = c - k * d;
  }
  if (count % 2 == 0) v[count / 2] = (a + c) / 2.0;
  return v;
}

cv::Mat rescale_fixations(const cv::Mat &fixations, cv::Size size) {
  const cv::Mat f = to_double(fixations, "fixation map");
  if (size.width <= 0 || size.height <= 0) throw ModelError("rescale_fixations: invalid size");
  cv::Mat out(size, CV_8U, cv::Scalar(0));
  const double sx = static_cast<double>(size.width) / f.cols;
  const double sy = static_cast<double>(size.height) / f.rows;
  for (int y = 0; y < f.rows; y++) {
    const double *row = f.ptr<double>(y);
    for (int x = 0; x < f.cols; x++) {
      if (row[x] == 0.0 || std::isnan(row[x])) continue;
      const int ox = std::min(size.width - 1, static_cast<int>(std::floor((x + 0.5) * sx)));
      const int oy = std::min(size.height - 1, static_cast<int>(std::floor((y + 0.5) * sy)));
      out.at<unsigned char>(oy, ox) = 1;
    }
  }
  return out;
}

}  // namespace model::metrics
