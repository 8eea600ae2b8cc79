// Saliency benchmark metrics exactly as the MIT/DHF1K MATLAB code defines them
// (cvzoya/saliency `code_forMetrics`, used by the DHF1K benchmark; model-spec
// C.1). Plain functions on cv::Mat so that `saliency-eval` and the trainer's
// validation share one implementation.
//
// Conventions for every function below:
//  - Maps are single-channel CV_8U, CV_16U, CV_32F or CV_64F; values are taken
//    as they are (no /255: every metric is invariant to the map's scale, except
//    AUC-Judd's 1e-7 jitter, which the DHF1K protocol applies to predictions
//    read as double in 0-255). Everything is computed in double.
//  - `pred` of another size than the ground truth is first resized with
//    imresize_bicubic(), MATLAB's imresize; equal sizes are used as they are.
//  - `fixations`: any single-channel type, a pixel is fixated when non-zero
//    (MATLAB `logical(Q)` / `Q > 0`); fixation counts do not act as weights.
//  - Degenerate inputs give NaN where the MATLAB code gives NaN (no fixations,
//    constant maps), so that a caller can drop the frame as the protocol does.
//  - Invalid arguments (empty or multi-channel maps, ground truths of different
//    sizes) throw ModelError.
// All functions are thread-safe: they use no global state (random numbers come
// from the `seed` argument).
#pragma once

#include <cstdint>
#include <opencv2/core/mat.hpp>
#include <string>
#include <vector>

#include "salmodel/predictor.hpp"  // ModelError

namespace model::metrics {

/// MATLAB `eps` (2^-52), the epsilon of the MIT code (model-spec C.1).
inline constexpr double kMatlabEps = 2.220446049250313e-16;

/// MATLAB `imresize(src, [rows cols])` with its defaults: bicubic kernel
/// (Keys, a = -0.5), antialiasing when shrinking (the kernel is stretched by
/// 1/scale and scaled by `scale`, as MATLAB's `contributions()` does), and
/// symmetric (mirror, edge pixel repeated) boundary handling. Each dimension is
/// scaled by out/in separately, the most shrunk dimension first. Input any
/// single-channel type; output CV_64F, not clamped (bicubic may overshoot, as
/// MATLAB's does for double images).
cv::Mat imresize_bicubic(const cv::Mat &src, cv::Size size);

/// `map` as CV_64F, resized to `size` with imresize_bicubic() when it differs.
cv::Mat prediction_at(const cv::Mat &map, cv::Size size);

/// Pearson's linear correlation coefficient (MIT `CC.m`). NaN if either map is
/// constant.
double cc(const cv::Mat &pred, const cv::Mat &gt_map);

/// Histogram intersection of the min-max then sum-normalised maps (MIT
/// `similarity.m`; an all-zero map stays zero). NaN for a constant non-zero map.
double sim(const cv::Mat &pred, const cv::Mat &gt_map);

/// KL divergence of pred from gt after sum-normalising each (when non-zero):
/// sum G ln(eps + G / (P + eps)) (MIT `KLdiv.m`, natural log). Negative values
/// of the (resized) prediction, such as bicubic undershoot, count as 0, as
/// they do when MATLAB resizes a uint8 map (on a double map MATLAB's result
/// would be complex).
double kl(const cv::Mat &pred, const cv::Mat &gt_map);

/// Normalised scanpath saliency (MIT `NSS.m`): pred z-scored with the N-1
/// standard deviation, averaged over the fixated pixels. NaN without fixations
/// or for a constant pred.
double nss(const cv::Mat &pred, const cv::Mat &fixations);

/// AUC-Judd (MIT `AUC_Judd.m`): pred + U(0,1)*1e-7 jitter (when `jitter`),
/// min-max normalised; one ROC point per fixation, thresholds at the sorted
/// fixated values; trapezoidal area. The jitter is drawn from `seed`
/// (mt19937_64), so equal seeds give equal results. NaN without fixations.
double auc_judd(const cv::Mat &pred, const cv::Mat &fixations, std::uint64_t seed,
                bool jitter = true);

/// Shuffled AUC (MIT `AUC_shuffled.m`): pred min-max normalised; negatives are
/// `min(#fixations, #other)` locations drawn without replacement from the
/// non-zero pixels of `other_map` (same size as `fixations`), `splits` times;
/// thresholds `fliplr(0:step:max)` built like MATLAB's colon operator; the
/// splits' areas are averaged. NaN without fixations, without other locations
/// or for a constant pred.
double auc_shuffled(const cv::Mat &pred, const cv::Mat &fixations, const cv::Mat &other_map,
                    std::uint64_t seed, int splits = 100, double step = 0.1);

/// Information gain over a baseline map (MIT `InfoGain.m`): both maps resized
/// to the fixation map's size, min-max then sum-normalised;
/// mean over fixations of log2(eps + P) - log2(eps + B), in bits per fixation.
double info_gain(const cv::Mat &pred, const cv::Mat &fixations, const cv::Mat &baseline);

/// A centre-bias map: exp(-((x-cx)^2/(2 sx^2) + (y-cy)^2/(2 sy^2))) with the
/// centre at ((w-1)/2, (h-1)/2) and sx = sigma_x_frac * w, sy = sigma_y_frac * h.
/// CV_64F, peak 1. The default baseline of info_gain in `saliency-eval`.
cv::Mat centre_gaussian(cv::Size size, double sigma_x_frac = 0.25, double sigma_y_frac = 0.25);

/// The values of MATLAB's `a:d:b` for d > 0, built symmetrically from both ends
/// as MATLAB's colon operator does, so threshold grids match to the last bit.
std::vector<double> matlab_colon(double a, double d, double b);

/// Moves the non-zero pixels of a fixation map to a map of `size`: pixel
/// (x, y) goes to (floor((x + 0.5) * W / w), floor((y + 0.5) * H / h)), so
/// every fixation survives (nearest-neighbour sampling would drop fixations
/// when shrinking). Returns CV_8U 0/1. Used for sAUC "other" maps of another
/// size (model-spec C.1: coordinates rescaled to the map size).
cv::Mat rescale_fixations(const cv::Mat &fixations, cv::Size size);

/// Metric names as `saliency-eval --metrics` spells them.
enum class Metric { AucJudd, AucShuffled, Nss, Cc, Sim, Kl, InfoGain };
const char *to_string(Metric metric);          ///< "auc_j", "sauc", "nss", "cc", "sim", "kl", "ig"
Metric parse_metric(const std::string &name);  ///< throws ModelError for unknown names
/// Whether a metric reads the fixation map (else the continuous map).
bool needs_fixations(Metric metric);

/// Ground truth of one frame: the continuous map and/or the fixation map
/// (either may be empty when the requested metrics do not need it; when both
/// are given they must have the same size).
struct FrameTruth {
  cv::Mat map;
  cv::Mat fixations;
};

/// Everything a frame's scores depend on besides pred and truth.
struct FrameEvalInputs {
  /// sAUC negatives (same size as the fixations); empty makes sAUC NaN.
  cv::Mat other_map;
  /// Information-gain baseline (any size); empty makes IG use centre_gaussian().
  cv::Mat baseline;
  /// Seed of AUC-Judd's jitter and sAUC's sampling for this frame.
  std::uint64_t seed = 0;
  int sauc_splits = 100;
};

/// Scores one frame for each of `metrics` (same order). pred is resized once to
/// the ground-truth size. Throws ModelError if a metric's ground truth is missing.
std::vector<double> evaluate_frame(const cv::Mat &pred, const FrameTruth &truth,
                                   const std::vector<Metric> &metrics,
                                   const FrameEvalInputs &inputs = {});

/// Mean of the non-NaN values added (the DHF1K protocol drops NaN frames).
class NanMean {
 public:
  void add(double value);
  /// NaN when no finite value was added.
  double mean() const;
  std::size_t count() const { return count_; }      ///< values used
  std::size_t dropped() const { return dropped_; }  ///< NaN values skipped

 private:
  double sum_ = 0.0;
  std::size_t count_ = 0;
  std::size_t dropped_ = 0;
};

/// A well-mixed 64-bit seed for item `index` of a run seeded with `seed`
/// (SplitMix64), so per-frame randomness does not depend on processing order.
std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t index);

}  // namespace model::metrics
