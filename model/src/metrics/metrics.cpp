// Benchmark metrics, following the MIT saliency code (cvzoya/saliency,
// code_forMetrics/*.m) line by line; model-spec C.1 summarises them. Where the
// MATLAB code leaves a case undefined (a constant map fed to min-max
// normalisation), these functions return NaN so that the frame is dropped, as
// the DHF1K protocol drops NaN frames.

#include "salmodel/metrics.hpp"

#include "map_input.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

namespace model::metrics {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The fixation map as a 0/1 mask (`logical(Q)`, `Q > 0` for binary maps).
std::vector<unsigned char> fixation_mask(const cv::Mat &fixations) {
  const cv::Mat f = to_double(fixations, "fixation map");
  std::vector<unsigned char> mask(f.total());
  const double *p = f.ptr<double>();
  for (std::size_t i = 0; i < mask.size(); i++) mask[i] = p[i] != 0.0 && !std::isnan(p[i]);
  return mask;
}

std::size_t count_set(const std::vector<unsigned char> &mask) {
  return static_cast<std::size_t>(std::count(mask.begin(), mask.end(), 1));
}

void check_same_size(const cv::Mat &a, const cv::Mat &b, const char *what) {
  if (a.size() != b.size())
    throw ModelError(std::string(what) + ": sizes differ (" + std::to_string(a.cols) + "x" +
                     std::to_string(a.rows) + " vs " + std::to_string(b.cols) + "x" +
                     std::to_string(b.rows) + ")");
}

// (x - min) / (max - min) in place; false (map left as is) when max == min,
// where MATLAB would produce a NaN map.
bool min_max_normalise(cv::Mat &m) {
  double lo, hi;
  cv::minMaxLoc(m, &lo, &hi);
  if (!(hi > lo)) return false;
  m = (m - lo) / (hi - lo);
  return true;
}

// MIT similarity.m / InfoGain.m normalisation: min-max, then divide by the sum.
// Returns false when the result would be NaN (a constant map). An all-zero map
// stays zero when `keep_zero` (similarity.m's `if any(map(:))` guard).
bool to_distribution(cv::Mat &m, bool keep_zero) {
  if (keep_zero && cv::countNonZero(m) == 0) return true;
  if (!min_max_normalise(m)) return false;
  m /= cv::sum(m)[0];
  return true;
}

// Uniform double in [0, 1) from 53 random bits (portable, unlike
// std::uniform_real_distribution whose algorithm is implementation-defined).
double uniform01(std::mt19937_64 &rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

// Uniform integer in [0, n) by rejection (portable, unbiased).
std::uint64_t uniform_below(std::mt19937_64 &rng, std::uint64_t n) {
  const std::uint64_t limit =
      std::numeric_limits<std::uint64_t>::max() - std::numeric_limits<std::uint64_t>::max() % n;
  std::uint64_t v;
  do v = rng();
  while (v >= limit);
  return v % n;
}

// MATLAB trapz(x, y).
double trapz(const std::vector<double> &x, const std::vector<double> &y) {
  double area = 0.0;
  for (std::size_t i = 1; i < x.size(); i++) area += (x[i] - x[i - 1]) * (y[i] + y[i - 1]) / 2.0;
  return area;
}

}  // namespace

double cc(const cv::Mat &pred, const cv::Mat &gt_map) {
  // MIT CC.m: z-score both (std with N-1), then corr2, which is Pearson's r;
  // the z-scoring cancels out, so r is computed directly.
  const cv::Mat g = to_double(gt_map, "ground-truth map");
  const cv::Mat p = prediction_at(pred, g.size());
  const double mp = cv::mean(p)[0], mg = cv::mean(g)[0];
  double spg = 0.0, spp = 0.0, sgg = 0.0;
  for (int y = 0; y < g.rows; y++) {
    const double *a = p.ptr<double>(y), *b = g.ptr<double>(y);
    for (int x = 0; x < g.cols; x++) {
      const double da = a[x] - mp, db = b[x] - mg;
      spg += da * db;
      spp += da * da;
      sgg += db * db;
    }
  }
  if (spp == 0.0 || sgg == 0.0) return kNaN;  // MATLAB: 0/0 from a zero std
  return spg / std::sqrt(spp * sgg);
}

double sim(const cv::Mat &pred, const cv::Mat &gt_map) {
  // MIT similarity.m: each map, if not all zero, is min-max normalised then
  // divided by its sum; score = sum(min(P, G)).
  cv::Mat g = to_double(gt_map, "ground-truth map");
  cv::Mat p = prediction_at(pred, g.size());
  if (!to_distribution(p, true) || !to_distribution(g, true)) return kNaN;
  return cv::sum(cv::min(p, g))[0];
}

double kl(const cv::Mat &pred, const cv::Mat &gt_map) {
  // MIT KLdiv.m: P, G divided by their sums (when non-zero);
  // score = sum(G .* log(eps + G ./ (P + eps))).
  cv::Mat g = to_double(gt_map, "ground-truth map");
  cv::Mat p = prediction_at(pred, g.size());
  // Bicubic resizing undershoots below 0 next to zero regions. MATLAB's usual
  // input is uint8, whose imresize saturates at 0; on a double map it would
  // take the log of a negative number (a complex KL). Clamp like the uint8 path.
  p = cv::max(p, 0.0);
  if (cv::countNonZero(p) > 0) p /= cv::sum(p)[0];
  if (cv::countNonZero(g) > 0) g /= cv::sum(g)[0];
  double score = 0.0;
  for (int y = 0; y < g.rows; y++) {
    const double *a = p.ptr<double>(y), *b = g.ptr<double>(y);
    for (int x = 0; x < g.cols; x++)
      score += b[x] * std::log(kMatlabEps + b[x] / (a[x] + kMatlabEps));
  }
  return score;
}

double nss(const cv::Mat &pred, const cv::Mat &fixations) {
  // MIT NSS.m: map = (map - mean) / std (N-1); mean of map at logical(Q).
  const std::vector<unsigned char> mask = fixation_mask(fixations);
  const cv::Mat p = prediction_at(pred, fixations.size());
  const std::size_t n = p.total();
  const double *v = p.ptr<double>();
  const double mean = cv::mean(p)[0];
  double ss = 0.0;
  for (std::size_t i = 0; i < n; i++) ss += (v[i] - mean) * (v[i] - mean);
  const double sd = n > 1 ? std::sqrt(ss / static_cast<double>(n - 1)) : 0.0;
  double sum = 0.0;
  std::size_t count = 0;
  for (std::size_t i = 0; i < n; i++)
    if (mask[i]) {
      sum += (v[i] - mean) / sd;
      count++;
    }
  if (count == 0 || !(sd > 0.0)) return kNaN;
  return sum / static_cast<double>(count);
}

double auc_judd(const cv::Mat &pred, const cv::Mat &fixations, std::uint64_t seed, bool jitter) {
  // MIT AUC_Judd.m.
  const std::vector<unsigned char> mask = fixation_mask(fixations);
  const std::size_t nf = count_set(mask);
  if (nf == 0) return kNaN;  // "no fixationMap"
  cv::Mat s = prediction_at(pred, fixations.size());
  if (jitter) {  // saliencyMap + rand(size(saliencyMap)) / 10000000
    std::mt19937_64 rng(seed);
    double *v = s.ptr<double>();
    for (std::size_t i = 0; i < s.total(); i++) v[i] += uniform01(rng) / 10000000.0;
  }
  if (!min_max_normalise(s)) return kNaN;
  const std::size_t np = s.total();
  const double *v = s.ptr<double>();
  std::vector<double> sth;
  sth.reserve(nf);
  for (std::size_t i = 0; i < np; i++)
    if (mask[i]) sth.push_back(v[i]);
  std::sort(sth.begin(), sth.end(), std::greater<double>());  // allthreshes, descending
  // aboveth(i) = sum(S >= allthreshes(i)). Each pixel counts for every
  // threshold <= its value, i.e. from the first such index in the descending
  // list on: bin the pixels by that index, then take running sums (the same
  // comparisons as MATLAB's, in O(Np log Nf)).
  std::vector<std::size_t> first_at(nf + 1, 0);
  for (std::size_t k = 0; k < np; k++)
    if (!std::isnan(v[k]))  // NaN >= t is false in MATLAB
      first_at[static_cast<std::size_t>(
          std::lower_bound(sth.begin(), sth.end(), v[k], std::greater<double>()) - sth.begin())]++;

  std::vector<double> tp(nf + 2, 0.0), fp(nf + 2, 0.0);
  tp.back() = 1.0;
  fp.back() = 1.0;
  std::size_t above = 0;
  for (std::size_t i = 1; i <= nf; i++) {
    above += first_at[i - 1];
    tp[i] = static_cast<double>(i) / static_cast<double>(nf);
    fp[i] = (static_cast<double>(above) - static_cast<double>(i)) / static_cast<double>(np - nf);
  }
  return trapz(fp, tp);
}

double auc_shuffled(const cv::Mat &pred, const cv::Mat &fixations, const cv::Mat &other_map,
                    std::uint64_t seed, int splits, double step) {
  // MIT AUC_shuffled.m (Nsplits = 100, stepSize = 0.1 by default).
  if (splits < 1) throw ModelError("auc_shuffled: splits must be >= 1");
  if (!(step > 0.0)) throw ModelError("auc_shuffled: step must be > 0");
  check_same_size(fixations, other_map, "auc_shuffled: fixation map and other map");
  const std::vector<unsigned char> mask = fixation_mask(fixations);
  const std::vector<unsigned char> other = fixation_mask(other_map);
  const std::size_t nf = count_set(mask);
  if (nf == 0) return kNaN;
  cv::Mat s = prediction_at(pred, fixations.size());
  if (!min_max_normalise(s)) return kNaN;
  const double *v = s.ptr<double>();

  std::vector<double> sth;
  std::vector<std::size_t> ind;  // find(Oth > 0)
  for (std::size_t i = 0; i < s.total(); i++) {
    if (mask[i]) sth.push_back(v[i]);
    if (other[i]) ind.push_back(i);
  }
  const std::size_t n_oth = std::min(nf, ind.size());  // Nfixations_oth
  if (n_oth == 0) return kNaN;
  const double max_sth = *std::max_element(sth.begin(), sth.end());

  std::mt19937_64 rng(seed);
  std::vector<double> curfix(n_oth);
  double auc_sum = 0.0;
  for (int split = 0; split < splits; split++) {
    // A uniformly random subset of n_oth other locations (partial Fisher-Yates;
    // equivalent in distribution to randind = ind(randperm(...)); randind(1:n)).
    for (std::size_t k = 0; k < n_oth; k++) {
      const std::size_t j = k + static_cast<std::size_t>(uniform_below(rng, ind.size() - k));
      std::swap(ind[k], ind[j]);
      curfix[k] = v[ind[k]];
    }
    const double top = std::max(max_sth, *std::max_element(curfix.begin(), curfix.end()));
    std::vector<double> thresholds = matlab_colon(0.0, step, top);
    std::reverse(thresholds.begin(), thresholds.end());  // fliplr
    std::vector<double> tp(thresholds.size() + 2, 0.0), fp(thresholds.size() + 2, 0.0);
    tp.back() = 1.0;
    fp.back() = 1.0;
    for (std::size_t i = 0; i < thresholds.size(); i++) {
      const double t = thresholds[i];
      const auto above = [t](double x) { return x >= t; };
      tp[i + 1] = static_cast<double>(std::count_if(sth.begin(), sth.end(), above)) /
                  static_cast<double>(nf);
      fp[i + 1] = static_cast<double>(std::count_if(curfix.begin(), curfix.end(), above)) /
                  static_cast<double>(n_oth);
    }
    auc_sum += trapz(fp, tp);
  }
  return auc_sum / splits;
}

double info_gain(const cv::Mat &pred, const cv::Mat &fixations, const cv::Mat &baseline) {
  // MIT InfoGain.m: both maps imresized to the fixation map, min-max then
  // sum-normalised; mean(log2(eps + P(locs)) - log2(eps + B(locs))).
  const std::vector<unsigned char> mask = fixation_mask(fixations);
  cv::Mat p = prediction_at(pred, fixations.size());
  cv::Mat b = prediction_at(baseline, fixations.size());
  if (!to_distribution(p, false) || !to_distribution(b, false)) return kNaN;
  const double *pv = p.ptr<double>(), *bv = b.ptr<double>();
  double sum = 0.0;
  std::size_t count = 0;
  for (std::size_t i = 0; i < mask.size(); i++)
    if (mask[i]) {
      sum += std::log2(kMatlabEps + pv[i]) - std::log2(kMatlabEps + bv[i]);
      count++;
    }
  return count ? sum / static_cast<double>(count) : kNaN;
}

cv::Mat centre_gaussian(cv::Size size, double sigma_x_frac, double sigma_y_frac) {
  if (size.width <= 0 || size.height <= 0 || !(sigma_x_frac > 0) || !(sigma_y_frac > 0))
    throw ModelError("centre_gaussian: invalid size or sigma");
  cv::Mat g(size, CV_64F);
  const double cx = (size.width - 1) / 2.0, cy = (size.height - 1) / 2.0;
  const double sx = sigma_x_frac * size.width, sy = sigma_y_frac * size.height;
  for (int y = 0; y < size.height; y++) {
    double *row = g.ptr<double>(y);
    const double dy = (y - cy) / sy;
    for (int x = 0; x < size.width; x++) {
      const double dx = (x - cx) / sx;
      row[x] = std::exp(-0.5 * (dx * dx + dy * dy));
    }
  }
  return g;
}

const char *to_string(Metric metric) {
  switch (metric) {
    case Metric::AucJudd:
      return "auc_j";
    case Metric::AucShuffled:
      return "sauc";
    case Metric::Nss:
      return "nss";
    case Metric::Cc:
      return "cc";
    case Metric::Sim:
      return "sim";
    case Metric::Kl:
      return "kl";
    case Metric::InfoGain:
      return "ig";
  }
  return "?";
}

Metric parse_metric(const std::string &name) {
  for (Metric m : {Metric::AucJudd, Metric::AucShuffled, Metric::Nss, Metric::Cc, Metric::Sim,
                   Metric::Kl, Metric::InfoGain})
    if (name == to_string(m)) return m;
  throw ModelError("unknown metric '" + name + "' (known: auc_j, sauc, nss, cc, sim, kl, ig)");
}

bool needs_fixations(Metric metric) {
  return metric == Metric::AucJudd || metric == Metric::AucShuffled || metric == Metric::Nss ||
         metric == Metric::InfoGain;
}

std::vector<double> evaluate_frame(const cv::Mat &pred, const FrameTruth &truth,
                                   const std::vector<Metric> &metrics,
                                   const FrameEvalInputs &inputs) {
  if (!truth.map.empty() && !truth.fixations.empty())
    check_same_size(truth.map, truth.fixations, "ground truth: continuous map and fixation map");
  const cv::Size size = truth.map.empty() ? truth.fixations.size() : truth.map.size();
  if (size.area() == 0) throw ModelError("evaluate_frame: no ground truth given");
  const cv::Mat p = prediction_at(pred, size);  // resized once for all metrics
  std::vector<double> out;
  out.reserve(metrics.size());
  for (Metric m : metrics) {
    if (needs_fixations(m) ? truth.fixations.empty() : truth.map.empty())
      throw ModelError(std::string("metric ") + to_string(m) + " needs the " +
                       (needs_fixations(m) ? "fixation map" : "continuous map"));
    switch (m) {
      case Metric::AucJudd:
        out.push_back(auc_judd(p, truth.fixations, inputs.seed));
        break;
      case Metric::AucShuffled:
        out.push_back(inputs.other_map.empty()
                          ? kNaN
                          : auc_shuffled(p, truth.fixations, inputs.other_map,
                                         derive_seed(inputs.seed, 1), inputs.sauc_splits));
        break;
      case Metric::Nss:
        out.push_back(nss(p, truth.fixations));
        break;
      case Metric::Cc:
        out.push_back(cc(p, truth.map));
        break;
      case Metric::Sim:
        out.push_back(sim(p, truth.map));
        break;
      case Metric::Kl:
        out.push_back(kl(p, truth.map));
        break;
      case Metric::InfoGain:
        out.push_back(info_gain(p, truth.fixations,
                                inputs.baseline.empty() ? centre_gaussian(size) : inputs.baseline));
        break;
    }
  }
  return out;
}

void NanMean::add(double value) {
  if (std::isnan(value)) {
    dropped_++;
    return;
  }
  sum_ += value;
  count_++;
}

double NanMean::mean() const { return count_ ? sum_ / static_cast<double>(count_) : kNaN; }

std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t index) {
  // SplitMix64 (Steele, Lea, Flood 2014) of seed + (index + 1) * golden gamma.
  std::uint64_t z = seed + (index + 1) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace model::metrics
