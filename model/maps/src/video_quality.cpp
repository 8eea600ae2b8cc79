// PSNR, EWPSNR and the Bjontegaard delta rate (salmaps/video_quality.hpp).
#include "salmaps/video_quality.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace model {

namespace {

void check_planes(const PlaneView &a, const PlaneView &b) {
  if (!a.data || !b.data || a.width <= 0 || a.height <= 0)
    throw std::invalid_argument("quality: empty plane");
  if (a.width != b.width || a.height != b.height)
    throw std::invalid_argument("quality: plane sizes differ (" + std::to_string(a.width) + "x" +
                                std::to_string(a.height) + " vs " + std::to_string(b.width) + "x" +
                                std::to_string(b.height) + ")");
}

// Least-squares cubic p(x) = c0 + c1 x + c2 x^2 + c3 x^3 through (x, y), by
// the normal equations (4x4, partial pivoting). x is centred by the caller.
std::array<double, 4> fit_cubic(const std::vector<double> &x, const std::vector<double> &y) {
  double m[4][5] = {};
  for (std::size_t k = 0; k < x.size(); ++k) {
    double p[4] = {1, x[k], x[k] * x[k], x[k] * x[k] * x[k]};
    for (int i = 0; i < 4; ++i) {
      for (int j = 0; j < 4; ++j) m[i][j] += p[i] * p[j];
      m[i][4] += p[i] * y[k];
    }
  }
  for (int col = 0; col < 4; ++col) {
    int piv = col;
    for (int r = col + 1; r < 4; ++r)
      if (std::fabs(m[r][col]) > std::fabs(m[piv][col])) piv = r;
    if (std::fabs(m[piv][col]) < 1e-12)
      throw std::invalid_argument(
          "BD-rate: the curve's quality values are not distinct enough "
          "for a cubic fit");
    for (int j = 0; j < 5; ++j) std::swap(m[col][j], m[piv][j]);
    for (int r = 0; r < 4; ++r) {
      if (r == col) continue;
      const double f = m[r][col] / m[col][col];
      for (int j = col; j < 5; ++j) m[r][j] -= f * m[col][j];
    }
  }
  return {m[0][4] / m[0][0], m[1][4] / m[1][1], m[2][4] / m[2][2], m[3][4] / m[3][3]};
}

// Integral of the cubic over [lo, hi].
double integrate_cubic(const std::array<double, 4> &c, double lo, double hi) {
  auto prim = [&c](double x) {
    return c[0] * x + c[1] * x * x / 2 + c[2] * x * x * x / 3 + c[3] * x * x * x * x / 4;
  };
  return prim(hi) - prim(lo);
}

}  // namespace

double mean_squared_error(const PlaneView &a, const PlaneView &b) {
  check_planes(a, b);
  double sum = 0;
  for (int y = 0; y < a.height; ++y) {
    const std::uint8_t *pa = a.data + std::size_t(y) * a.stride;
    const std::uint8_t *pb = b.data + std::size_t(y) * b.stride;
    long long row = 0;
    for (int x = 0; x < a.width; ++x) {
      const int d = int(pa[x]) - int(pb[x]);
      row += d * d;
    }
    sum += double(row);
  }
  return sum / (double(a.width) * a.height);
}

double weighted_squared_error(const PlaneView &a, const PlaneView &b,
                              const std::vector<float> &weights) {
  check_planes(a, b);
  if (weights.size() != std::size_t(a.width) * a.height)
    throw std::invalid_argument("EWPSNR: the weight map has " + std::to_string(weights.size()) +
                                " values, the plane " + std::to_string(a.width) + "x" +
                                std::to_string(a.height));
  double sum = 0, total = 0;
  for (int y = 0; y < a.height; ++y) {
    const std::uint8_t *pa = a.data + std::size_t(y) * a.stride;
    const std::uint8_t *pb = b.data + std::size_t(y) * b.stride;
    const float *w = weights.data() + std::size_t(y) * a.width;
    for (int x = 0; x < a.width; ++x) {
      if (!(w[x] >= 0) || !std::isfinite(w[x]))
        throw std::invalid_argument("EWPSNR: negative or non-finite weight");
      const double d = double(pa[x]) - double(pb[x]);
      sum += w[x] * d * d;
      total += w[x];
    }
  }
  if (!(total > 0)) throw std::invalid_argument("EWPSNR: the weight map is all zero");
  return sum / total;  // weights normalised to sum 1
}

double psnr_from_mse(double mse, double peak) {
  if (mse <= 0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(peak * peak / mse);
}

namespace {

// The Bjontegaard integral (VCEG-M33): fits y(x) by a cubic for each curve,
// integrates both over the overlap of their x ranges and returns the mean
// difference test - anchor. `x`/`y` pick the axes from a RatePoint.
template <typename X, typename Y>
double bjontegaard_mean_difference(const std::vector<RatePoint> &anchor,
                                   const std::vector<RatePoint> &test, X x_of, Y y_of) {
  double lo = -std::numeric_limits<double>::infinity();
  double hi = std::numeric_limits<double>::infinity();
  double centre = 0;
  for (const auto *curve : {&anchor, &test}) {
    if (curve->size() < 4)
      throw std::invalid_argument("Bjontegaard: each curve needs at least 4 points, got " +
                                  std::to_string(curve->size()));
    double cmin = std::numeric_limits<double>::infinity(), cmax = -cmin;
    for (const RatePoint &p : *curve) {
      if (!(p.rate > 0) || !std::isfinite(p.quality))
        throw std::invalid_argument("Bjontegaard: rates must be > 0 and qualities finite");
      cmin = std::min(cmin, x_of(p));
      cmax = std::max(cmax, x_of(p));
    }
    lo = std::max(lo, cmin);
    hi = std::min(hi, cmax);
    centre += (cmin + cmax) / 4;
  }
  if (!(hi > lo))
    throw std::invalid_argument("Bjontegaard: the ranges of the two curves do not overlap");
  auto fit = [&](const std::vector<RatePoint> &curve) {
    std::vector<double> x, y;
    for (const RatePoint &p : curve) {
      x.push_back(x_of(p) - centre);  // centred for a well-conditioned fit
      y.push_back(y_of(p));
    }
    return fit_cubic(x, y);
  };
  const double ia = integrate_cubic(fit(anchor), lo - centre, hi - centre);
  const double it = integrate_cubic(fit(test), lo - centre, hi - centre);
  return (it - ia) / (hi - lo);
}

}  // namespace

double bjontegaard_delta_rate(const std::vector<RatePoint> &anchor,
                              const std::vector<RatePoint> &test) {
  const double mean_log_ratio = bjontegaard_mean_difference(
      anchor, test, [](const RatePoint &p) { return p.quality; },
      [](const RatePoint &p) { return std::log(p.rate); });
  return (std::exp(mean_log_ratio) - 1.0) * 100.0;
}

double bjontegaard_delta_quality(const std::vector<RatePoint> &anchor,
                                 const std::vector<RatePoint> &test) {
  return bjontegaard_mean_difference(
      anchor, test, [](const RatePoint &p) { return std::log(p.rate); },
      [](const RatePoint &p) { return p.quality; });
}

}  // namespace model
