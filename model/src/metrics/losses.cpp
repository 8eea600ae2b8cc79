// Training losses (see salmodel/losses.hpp). Each function flattens the maps
// to (frames, H*W) and reduces per frame, then across frames as the official
// code does (model-spec C.2-C.4).

#include "salmodel/losses.hpp"

#include <torch/torch.h>

#include "salmodel/predictor.hpp"  // ModelError

namespace model::losses {
namespace {

constexpr double kStsanetEps = 2.2204e-16;  // metrics.py (model-spec C.2)
constexpr double kKerasEps = 1e-7;          // K.epsilon() (model-spec C.4)

// (frames, H*W) view of a map tensor; checks shapes against `like`.
torch::Tensor frames(const torch::Tensor &t, const torch::Tensor &like, const char *what) {
  if (!t.defined()) throw ModelError(std::string("loss: ") + what + " is undefined");
  if (t.dim() < 2) throw ModelError(std::string("loss: ") + what + " needs at least (H, W)");
  if (t.sizes() != like.sizes())
    throw ModelError(std::string("loss: ") + what + " has shape " + c10::str(t.sizes()) +
                     ", prediction " + c10::str(like.sizes()));
  const int64_t pixels = t.size(-1) * t.size(-2);
  return t.reshape({-1, pixels});
}

// Per-frame reductions keep a trailing dimension of 1 for broadcasting.
torch::Tensor fsum(const torch::Tensor &x) { return x.sum(1, true); }
torch::Tensor fmax(const torch::Tensor &x) { return std::get<0>(x.max(1, true)); }
torch::Tensor fmean(const torch::Tensor &x) { return x.mean(1, true); }

// beta: frames whose target maximum exceeds 0.1 (custom_loss_td.py `y_bool`).
torch::Tensor usable_frames(const torch::Tensor &target) {
  return (fmax(target) > 0.1).to(target.scalar_type());
}

// Pearson-style correlation of custom_loss*.py on (frames, N); returns
// (frames, 1) num / (den + den_eps).
torch::Tensor keras_cc(const torch::Tensor &x, const torch::Tensor &y, double den_eps) {
  const double n = static_cast<double>(x.size(1));
  const torch::Tensor sum_x = fsum(x), sum_y = fsum(y);
  const torch::Tensor num = fsum(x * y) - sum_x * sum_y / n;
  const torch::Tensor den = torch::sqrt((fsum(x * x) + kKerasEps - sum_x * sum_x / n) *
                                        (fsum(y * y) + kKerasEps - sum_y * sum_y / n));
  return num / (den + den_eps);
}

// Standardisation with the population std (K.std) plus eps.
torch::Tensor keras_standardise(const torch::Tensor &p) {
  const torch::Tensor mean = fmean(p);
  const torch::Tensor std = torch::sqrt(fmean((p - mean) * (p - mean)));
  return (p - mean) / (std + kKerasEps);
}

}  // namespace

torch::Tensor stsanet_kldiv(const torch::Tensor &pred, const torch::Tensor &gt) {
  torch::Tensor p = frames(pred, pred, "prediction");
  torch::Tensor g = frames(gt, pred, "ground truth");
  p = p / fsum(p);
  g = g / fsum(g);
  return (g * torch::log(kStsanetEps + g / (p + kStsanetEps))).sum(1).mean();
}

torch::Tensor stsanet_cc(const torch::Tensor &pred, const torch::Tensor &gt) {
  torch::Tensor p = frames(pred, pred, "prediction");
  torch::Tensor g = frames(gt, pred, "ground truth");
  p = (p - fmean(p)) / p.std(1, /*unbiased=*/true, /*keepdim=*/true);
  g = (g - fmean(g)) / g.std(1, /*unbiased=*/true, /*keepdim=*/true);
  return ((p * g).sum(1) / torch::sqrt((p * p).sum(1) * (g * g).sum(1))).mean();
}

torch::Tensor stsanet_loss(const torch::Tensor &pred, const torch::Tensor &gt) {
  return stsanet_kldiv(pred, gt) - stsanet_cc(pred, gt);
}

torch::Tensor StraNetLossTerms::weighted(const StraNetLossWeights &w) const {
  return w.kl * kl + w.cc * cc + w.nss * nss + w.sim * sim;
}

StraNetLossTerms stranet_model_terms(const torch::Tensor &pred, const torch::Tensor &map,
                                     const torch::Tensor &fixations) {
  const torch::Tensor p0 = frames(pred, pred, "prediction");
  const torch::Tensor g0 = frames(map, pred, "saliency map");
  const torch::Tensor q = frames(fixations, pred, "fixation map");
  const torch::Tensor p_max = p0 / (fmax(p0) + kKerasEps);  // common first step
  StraNetLossTerms t;
  {  // kl_divergence
    const torch::Tensor beta = usable_frames(g0);
    const torch::Tensor g = g0 / (fsum(g0) + kKerasEps);
    const torch::Tensor p = p_max / (fsum(p_max) + kKerasEps);
    t.kl = (beta * g * torch::log(g / (p + kKerasEps) + kKerasEps)).sum();
  }
  {  // correlation_coefficient
    const torch::Tensor beta = usable_frames(g0);
    const torch::Tensor g = g0 / (fsum(g0) + kKerasEps);
    const torch::Tensor p = p_max / (fsum(p_max) + kKerasEps);
    t.cc = -(beta * keras_cc(g, p, kKerasEps)).sum();
  }
  {  // nss: beta from the fixation map, which is this term's y_true
    const torch::Tensor beta = usable_frames(q);
    const torch::Tensor pz = keras_standardise(p_max);
    t.nss = -(beta * fsum(q * pz) / (fsum(q) + kKerasEps)).sum();
  }
  {  // sim: clipped inputs, returned per frame and averaged by Keras
    const torch::Tensor pc = p0.clamp(kKerasEps, 1.0 - kKerasEps);
    const torch::Tensor gc = g0.clamp(kKerasEps, 1.0 - kKerasEps);
    const torch::Tensor beta = usable_frames(gc);
    torch::Tensor p = pc / (fmax(pc) + kKerasEps);
    const torch::Tensor g = gc / (fsum(gc) + kKerasEps);
    p = p / (fsum(p) + kKerasEps);
    t.sim = -(beta * fsum(torch::min(g, p))).mean();
  }
  return t;
}

StraNetLossTerms stranet_feature_terms(const torch::Tensor &pred, const torch::Tensor &map,
                                       const torch::Tensor &fixations) {
  const torch::Tensor pc = frames(pred, pred, "prediction").clamp(kKerasEps, 1.0 - kKerasEps);
  const torch::Tensor gc = frames(map, pred, "saliency map").clamp(kKerasEps, 1.0 - kKerasEps);
  const torch::Tensor qc =
      frames(fixations, pred, "fixation map").clamp(kKerasEps, 1.0 - kKerasEps);
  const torch::Tensor p_max = pc / fmax(pc);  // no eps in custom_loss.py
  StraNetLossTerms t;
  {  // kl_divergence, with the extra -SIM term of the original
    const torch::Tensor g = gc / fsum(gc);
    const torch::Tensor p = p_max / fsum(p_max);
    t.kl = (g * torch::log(g / p)).sum() - torch::min(g, p).sum();
  }
  {  // correlation_coefficient
    const torch::Tensor g = gc / (fsum(gc) + kKerasEps);
    const torch::Tensor p = p_max / (fsum(p_max) + kKerasEps);
    t.cc = -keras_cc(g, p, 0.0).sum();
  }
  {  // nss: the clipped fixation map weights every pixel by at least eps
    const torch::Tensor pz = keras_standardise(p_max);
    t.nss = -(fsum(qc * pz) / fsum(qc)).sum();
  }
  {  // sim
    const torch::Tensor g = gc / (fsum(gc) + kKerasEps);
    const torch::Tensor p = p_max / (fsum(p_max) + kKerasEps);
    t.sim = -fsum(torch::min(g, p)).mean();
  }
  return t;
}

torch::Tensor stranet_model_loss(const StraNetOutputs &o, const torch::Tensor &map,
                                 const torch::Tensor &fixations, bool replicate_sd5_nss_bug,
                                 const StraNetLossWeights &w) {
  torch::Tensor total;
  for (const torch::Tensor *out : {&o.final_map, &o.sd3, &o.sd4, &o.sd5}) {
    StraNetLossTerms t = stranet_model_terms(*out, map, fixations);
    if (out == &o.sd5 && replicate_sd5_nss_bug)
      t.nss = stranet_model_terms(o.sd3, map, fixations).nss;  // aux_out1 listed twice
    const torch::Tensor term = t.weighted(w);
    total = total.defined() ? total + term : term;
  }
  return total;
}

torch::Tensor stranet_feature_loss(const StraNetOutputs &o, const torch::Tensor &map,
                                   const torch::Tensor &fixations, const StraNetLossWeights &w) {
  torch::Tensor total;
  for (const torch::Tensor *out : {&o.final_map, &o.sd3, &o.sd4, &o.sd5}) {
    const torch::Tensor term = stranet_feature_terms(*out, map, fixations).weighted(w);
    total = total.defined() ? total + term : term;
  }
  return total;
}

}  // namespace model::losses
