// Training losses of STSANet and STRA-Net as differentiable LibTorch functions
// (model-spec C.2-C.4), reproducing the official code's formulas, epsilons and
// reductions, including the quirks the spec flags (the feature net's extra
// -SIM term in KL, SIM averaged while the other terms are summed, the sd3
// output standing in for sd5 in the whole model's NSS term).
//
// Shapes: every map is the last two dimensions (H, W) of a tensor; all leading
// dimensions enumerate frames, e.g. (B, H, W), (B, 1, H, W) for STSANet or
// (B, T, H, W) for STRA-Net (squeeze Keras' trailing channel first). pred and
// targets must have equal shapes. The functions use the input dtype and device
// and never call .item(), so they run on CPU and CUDA alike.
#pragma once

#include <torch/types.h>

namespace model::losses {

// ---------------------------------------------------------------- STSANet

/// STSANet metrics.py `kldiv` (model-spec C.2): each frame of P and G divided
/// by its sum (unguarded), sum G ln(eps + G / (P + eps)) with eps = 2.2204e-16,
/// averaged over frames. A 0-dim tensor.
torch::Tensor stsanet_kldiv(const torch::Tensor &pred, const torch::Tensor &gt);

/// STSANet metrics.py `cc`: z-scores with the unbiased std, then
/// sum(ab) / sqrt(sum(a^2) sum(b^2)), averaged over frames (NaN for a constant
/// map, as in the original).
torch::Tensor stsanet_cc(const torch::Tensor &pred, const torch::Tensor &gt);

/// The STSANet training loss (model-spec C.3, paper eqs. 12-14):
/// kldiv(P, G) - cc(P, G), with P the sigmoid output and G the label / 255,
/// both at 224x384.
torch::Tensor stsanet_loss(const torch::Tensor &pred, const torch::Tensor &gt);

// ---------------------------------------------------------------- STRA-Net

/// STRA-Net loss weights (model-spec B.12: KL 10, CC 2, NSS 1, SIM 1, the
/// paper's 1 / 0.2 / 0.1 / 0.1 scaled by 10).
struct StraNetLossWeights {
  double kl = 10.0, cc = 2.0, nss = 1.0, sim = 1.0;
};

/// The four loss terms of one output, each already reduced as Keras reduces it.
struct StraNetLossTerms {
  torch::Tensor kl, cc, nss, sim;
  /// weights.kl * kl + weights.cc * cc + weights.nss * nss + weights.sim * sim
  torch::Tensor weighted(const StraNetLossWeights &weights = {}) const;
};

/// Whole-model losses (`custom_loss_td.py`, model-spec C.4, epsilon 1e-7):
///  - every term first divides P by (its frame max + eps);
///  - frames whose target max is <= 0.1 are masked out (beta);
///  - kl  = sum_frames beta sum G ln(G / (P + eps) + eps) after sum-normalising
///          G and P by (sum + eps);
///  - cc  = -sum_frames beta num / (den + eps), on the sum-normalised maps,
///          num = sum xy - sum x sum y / N,
///          den = sqrt((sum x^2 + eps - (sum x)^2 / N)(sum y^2 + eps - (sum y)^2 / N));
///  - nss = -sum_frames beta sum(Q Pz) / (sum Q + eps), Pz standardised with the
///          population std (+ eps), beta from the fixation map Q;
///  - sim = -mean_frames beta sum min(P, G), after clipping both to
///          [eps, 1 - eps], P / (max + eps), both / (sum + eps).
/// `map` is the continuous target (kl, cc, sim), `fixations` the binary one (nss).
StraNetLossTerms stranet_model_terms(const torch::Tensor &pred, const torch::Tensor &map,
                                     const torch::Tensor &fixations);

/// Feature-net losses (`custom_loss.py`, stage 1 at 28x28, frames as batch):
/// P and targets (including Q) clipped to [eps, 1 - eps], P / max, no beta;
///  - kl  = sum G ln(G / P) - sum min(G, P) after sum-normalising (the extra
///          -SIM term is in the original);
///  - cc  = -sum_frames num / den (no eps on den), maps divided by (sum + eps);
///  - nss = -sum_frames sum(Q Pz) / sum Q, population std + eps;
///  - sim = -mean_frames sum min(P, G), both divided by (sum + eps).
StraNetLossTerms stranet_feature_terms(const torch::Tensor &pred, const torch::Tensor &map,
                                       const torch::Tensor &fixations);

/// The four outputs trained with losses: the final map and the side outputs of
/// res3, res4 and res5 (model-spec B.12), all at the target size.
struct StraNetOutputs {
  torch::Tensor final_map, sd3, sd4, sd5;
};

/// Stage-2 total: sum over the four outputs of the weighted terms of
/// stranet_model_terms(). With `replicate_sd5_nss_bug` (default, parity with
/// the official training) the NSS term of sd5 is computed on sd3, because the
/// official output list repeats `aux_out1` there (model-spec B.12, B.13.9).
torch::Tensor stranet_model_loss(const StraNetOutputs &outputs, const torch::Tensor &map,
                                 const torch::Tensor &fixations, bool replicate_sd5_nss_bug = true,
                                 const StraNetLossWeights &weights = {});

/// Stage-1 total: sum over the four outputs of the weighted terms of
/// stranet_feature_terms().
torch::Tensor stranet_feature_loss(const StraNetOutputs &outputs, const torch::Tensor &map,
                                   const torch::Tensor &fixations,
                                   const StraNetLossWeights &weights = {});

}  // namespace model::losses
