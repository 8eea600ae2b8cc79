// Weight-free baseline saliency:
//   static  = spectral residual saliency (Hou & Zhang, CVPR 2007) of the grey frame;
//   motion  = magnitude of the optical flow into the frame after subtracting the
//             global (median) motion, so camera pans do not light up everything
//             (a simple form of the motion-contrast cue of Mahadevan & Vasconcelos 2010);
//   fused   = ((1-w) * static + w * motion) * centre prior, blurred and min-max normalised,
// where w = motion_weight when the frame has motion above the noise level, 0 otherwise.
// All of it is tensor code on the model's device.
//
// Temporal smoothing (BaselineOptions::temporal_frames / temporal_decay): the static
// and motion terms are causal, exponentially weighted averages over the frame and the
// 6 before it (weights 0.8^k), not per-frame values. Why: human gaze maps are smooth
// in time, per-frame maps of this method are not. Measured with
// `saliency-interval-eval --input` (CC between a model's maps 1 / 2 / 4 / 8 frames
// apart) and, for people, on the eye-tracking maps of UCF Sports Diving-Side_001
// (../shared, the only ground truth here; it has no frames, so the baseline cannot be
// scored against it):
//   eye-tracking maps (UCF Diving-Side_001)      0.945 / 0.862 / 0.723 / 0.514
//   baseline per frame (tased-ex1)               0.599 / 0.541 / 0.469 / 0.406
//   baseline, 6 frames at 0.8 (tased-ex1)        0.930 / 0.857 / 0.714 / 0.491
// The default is the setting of a small sweep (2-8 frames, decay 0.6-0.85) closest to
// the eye-tracking maps at lags 1 and 2 without being smoother at any lag; it was not
// tuned on the interval-mode metric (the clips differ, and their frame rates may too:
// a rough match, not a fit). The smoothed maps keep CC 0.75 with the per-frame ones on
// tased-ex1 and pass the same motion tests; the average is not motion-compensated
// (a mover leaves a fading trail along its last 6 positions), and frame t's terms
// weigh 0.25 of the total, so the map trails fast changes by about 2 frames,
// comparable to the 100-200 ms by which gaze follows events. Cost: two weighted sums
// of 7 small maps per frame; the window holds 6 more prepared frames.
//
// Featureless frames (issue #16: black, white, any constant grey or colour, the
// end of every fade to black): the spectral residual is undefined for them.
// The spectrum of a constant frame has nothing but its DC term: all of it for a
// black frame, and every other coefficient is 0 or fp32 rounding noise. With
// the log amplitude at its floor everywhere, the residual is 0, exp(0) gives a
// flat unit spectrum, and angle(0) gives zero phase: its inverse FFT is a unit
// impulse at (0,0), which survived blur, centre prior and normalisation as a
// 1.0 in the map's corner with 0 everywhere else. (A grey frame's rounding
// noise instead gave noise with random phases: a noise map under the prior.)
// So a frame whose luma range at the spectral grid is flat (is_flat_range:
// rounding noise at most) has no static saliency: its static term is uniform
// (1 everywhere: no location stands out), and with no motion the map is the
// centre prior, blurred and normalised, the same for black, white and grey.
// During a fade the temporal average blends the last content maps into that
// uniform term, so the map relaxes to the centre prior over the window instead
// of jumping. Not fixed here: the flow between two frames of a fade is not
// motion-free (DIS reads part of the brightness change as motion: 0.3-3 px on
// the synthetic scene of test_baseline.cpp's fade, mostly along the top
// border), and the motion term, normalised to its own peak, can pull the maps
// of the fading frames towards it.
#include "salmodel/baseline.hpp"

#include <cmath>

#include <torch/torch.h>

#include "salmaps/map_view.hpp"  // kFlatRange*: the one flatness rule

namespace model {
namespace {

namespace F = torch::nn::functional;

torch::Tensor gaussian_kernel1d(double sigma, const torch::TensorOptions &opts) {
  const int radius = std::max(1, int(std::ceil(3.0 * sigma)));
  torch::Tensor x = torch::arange(-radius, radius + 1, opts);
  torch::Tensor k = torch::exp(-(x * x) / (2.0 * sigma * sigma));
  return k / k.sum();
}

// Separable Gaussian blur of (N, 1, H, W) with replicate borders.
torch::Tensor gaussian_blur(const torch::Tensor &x, double sigma) {
  if (sigma <= 0.0) return x;
  torch::Tensor k = gaussian_kernel1d(sigma, x.options());
  const int64_t r = (k.size(0) - 1) / 2;
  torch::Tensor y = F::pad(x, F::PadFuncOptions({r, r, 0, 0}).mode(torch::kReplicate));
  y = F::conv2d(y, k.view({1, 1, 1, -1}));
  y = F::pad(y, F::PadFuncOptions({0, 0, r, r}).mode(torch::kReplicate));
  return F::conv2d(y, k.view({1, 1, -1, 1}));
}

torch::Tensor resize(const torch::Tensor &x, int64_t h, int64_t w, bool antialias) {
  return F::interpolate(x, F::InterpolateFuncOptions()
                               .size(std::vector<int64_t>{h, w})
                               .mode(torch::kBilinear)
                               .align_corners(false)
                               .antialias(antialias));
}

// Per map (last two dims): whether its range is flat, is_flat_range in tensor
// form (no host synchronisation on a GPU).
torch::Tensor flat_range(const torch::Tensor &lo, const torch::Tensor &hi) {
  return (hi - lo) <= torch::max(lo.abs(), hi.abs()) * kFlatRangeRelative + kFlatRangeAbsolute;
}

// Min-max normalisation to [0,1] per map; a flat map becomes all zeros
// (map_view.hpp: min_max_scale), never 0/0 or stretched rounding noise.
torch::Tensor normalise01(const torch::Tensor &x) {
  const torch::Tensor lo = x.amin({-2, -1}, true), hi = x.amax({-2, -1}, true);
  const torch::Tensor flat = flat_range(lo, hi);
  const torch::Tensor range = torch::where(flat, torch::ones_like(hi), hi - lo);
  return ((x - lo) / range).masked_fill(flat, 0.0);
}

class BaselineModel final : public SaliencyModel {
 public:
  explicit BaselineModel(const BaselineOptions &o) : o_(o) {}

  std::string name() const override { return "baseline"; }

  WindowSpec window_spec() const override {
    WindowSpec s;
    s.frames_before = 1 + o_.temporal_frames;  // the flows into the target and the frames before it
    s.frames_after = 0;
    s.needs_flow = true;
    s.flow_width = o_.map_width;
    // Motion energy needs magnitudes, not sub-pixel accuracy: DIS's fastest
    // preset on the small grid costs well under a millisecond.
    s.flow_preset = flow::Preset::UltraFast;
    return s;
  }

  // Per frame: (1, h, w) static saliency at map resolution, computed once per frame.
  torch::Tensor prepare_frame(const torch::Tensor &rgb) const override {
    const Geometry g = geometry(rgb.size(0), rgb.size(1));
    torch::Tensor img = rgb.permute({2, 0, 1}).unsqueeze(0).to(torch::kFloat32).div_(255.0);
    // ITU-R BT.601 luma.
    torch::Tensor grey = (img.select(1, 0) * 0.299 + img.select(1, 1) * 0.587 + img.select(1, 2) * 0.114)
                             .unsqueeze(1);
    torch::Tensor small = resize(grey, g.sr_h, g.sr_w, /*antialias=*/true).squeeze(1);  // (1, h, w)
    // No luma variation beyond rounding: no static saliency (see the top).
    const torch::Tensor featureless =
        flat_range(small.amin({-2, -1}, true), small.amax({-2, -1}, true));
    // Spectral residual: log amplitude minus its 3x3 local mean, recombined with the phase.
    torch::Tensor spectrum = torch::fft::fft2(small);
    torch::Tensor log_amp = torch::log(spectrum.abs() + 1e-8);
    torch::Tensor phase = torch::angle(spectrum);
    torch::Tensor mean = F::avg_pool2d(F::pad(log_amp.unsqueeze(1), F::PadFuncOptions({1, 1, 1, 1}).mode(torch::kReplicate)),
                                       F::AvgPool2dFuncOptions(3).stride(1)).squeeze(1);
    torch::Tensor residual = log_amp - mean;
    torch::Tensor sal = torch::fft::ifft2(torch::polar(torch::exp(residual), phase)).abs().pow(2);
    sal = gaussian_blur(sal.unsqueeze(1), 0.04 * g.sr_w);  // Hou & Zhang smooth with sigma ~ 2.5 px at 64 px
    sal = resize(sal, g.map_h, g.map_w, false).squeeze(1);
    return normalise01(sal).masked_fill(featureless, 1.0);
  }

  // Per flow: (1, h, w) motion-contrast magnitude in fractions of the frame width.
  torch::Tensor prepare_flow(const torch::Tensor &flow, int frame_width, int frame_height) const override {
    const Geometry g = geometry(frame_height, frame_width);
    const int64_t gh = flow.size(0), gw = flow.size(1);
    torch::Tensor uv = flow.permute({2, 0, 1}).to(torch::kFloat32);  // (2, gh, gw), grid pixels
    // Remove the global motion (camera pan) with the per-component median.
    torch::Tensor median = std::get<0>(uv.reshape({2, -1}).median(1)).view({2, 1, 1});
    uv = uv - median;
    torch::Tensor mag = uv.pow(2).sum(0, true).sqrt() / double(gw);  // fraction of frame width
    if (gh != g.map_h || gw != g.map_w) mag = resize(mag.unsqueeze(0), g.map_h, g.map_w, true).squeeze(0);
    return mag;
  }

  torch::Tensor predict(const std::vector<Window> &windows) override {
    std::vector<torch::Tensor> out;
    out.reserve(windows.size());
    for (const Window &w : windows) {
      const torch::Tensor stat = temporal_mean(w.frames);   // target frame's static saliency
      const torch::Tensor motion = temporal_mean(w.flows);  // flow from the previous frame into it
      // Motion above the noise floor, compressed so one fast object does not
      // make every other mover invisible.
      torch::Tensor m = (motion - o_.motion_noise).clamp_min(0.0);
      const torch::Tensor peak = m.amax({-2, -1}, true);
      const torch::Tensor has_motion = (peak > 1e-6).to(m.dtype());
      m = torch::sqrt(m / peak.clamp_min(1e-6));
      const torch::Tensor wm = has_motion * o_.motion_weight;
      torch::Tensor fused = (1.0 - wm) * stat + wm * m;
      // The map grid is the prepared frames' (1, map_h, map_w).
      const int64_t map_h = stat.size(-2), map_w = stat.size(-1);
      fused = fused * centre_prior(map_h, map_w, fused.options());
      fused = gaussian_blur(fused.unsqueeze(0), o_.blur_sigma * map_w).squeeze(0);
      out.push_back(normalise01(fused).squeeze(0));
    }
    return torch::stack(out);
  }

  // The last 1 + temporal_frames entries of `terms` (the target frame's last),
  // the one k frames back weighted temporal_decay^k.
  // One stack and one weighted sum rather than a chain of small ops: per-op
  // overhead, not arithmetic, is what costs on these small maps.
  torch::Tensor temporal_mean(const std::vector<torch::Tensor> &terms) {
    const int n = std::min<int>(1 + o_.temporal_frames, int(terms.size()));
    if (n <= 1) return terms.back();
    if (!temporal_weights_.defined() || temporal_weights_.size(0) != n ||
        temporal_weights_.device() != terms.back().device()) {
      std::vector<float> w(n);  // oldest first, as the terms are
      double total = 0.0;
      for (int k = 0; k < n; ++k) total += w[n - 1 - k] = float(std::pow(o_.temporal_decay, k));
      for (float &v : w) v = float(v / total);
      temporal_weights_ = torch::tensor(w, terms.back().options()).view({n, 1, 1, 1});
    }
    const std::vector<torch::Tensor> tail(terms.end() - n, terms.end());
    return (torch::stack(tail) * temporal_weights_).sum(0);
  }

  void to(torch::Device device, torch::Dtype) override {
    device_ = device;
    prior_ = torch::Tensor();
  }
  torch::Device device() const override { return device_; }

 private:
  // Map and spectral grids of a frame size (a pure function: prepare_frame
  // and prepare_flow run for several streams at once).
  struct Geometry {
    int64_t map_h, map_w, sr_h, sr_w;
  };
  Geometry geometry(int64_t H, int64_t W) const {
    Geometry g;
    g.map_w = std::min<int64_t>(o_.map_width, W);
    g.map_h = std::max<int64_t>(1, std::llround(double(H) * g.map_w / W));
    g.sr_w = std::min<int64_t>(o_.spectral_width, W);
    g.sr_h = std::max<int64_t>(8, std::llround(double(H) * g.sr_w / W));
    return g;
  }

  // Cached per map grid (predict runs one call at a time; ModelInstance).
  const torch::Tensor &centre_prior(int64_t map_h, int64_t map_w, const torch::TensorOptions &opts) {
    if (!prior_.defined() || prior_.size(-2) != map_h || prior_.size(-1) != map_w ||
        prior_.device() != opts.device() || prior_.dtype() != opts.dtype()) {
      torch::Tensor y = (torch::arange(map_h, opts) + 0.5) / double(map_h) - 0.5;
      torch::Tensor x = (torch::arange(map_w, opts) + 0.5) / double(map_w) - 0.5;
      const double s2 = 2.0 * o_.centre_sigma * o_.centre_sigma;
      torch::Tensor g = torch::exp(-(y.pow(2).unsqueeze(1) + x.pow(2).unsqueeze(0)) / s2);
      prior_ = (o_.centre_floor + (1.0 - o_.centre_floor) * g).unsqueeze(0);
    }
    return prior_;
  }

  BaselineOptions o_;
  torch::Device device_{torch::kCPU};
  torch::Tensor prior_;
  torch::Tensor temporal_weights_;  // (n, 1, 1, 1), normalised, oldest first
};

}  // namespace

std::unique_ptr<SaliencyModel> create_baseline_model(const BaselineOptions &options) {
  if (options.map_width < 8 || options.spectral_width < 8) throw ModelError("baseline: map widths must be >= 8");
  if (options.temporal_frames < 0 || options.temporal_decay < 0.0 || options.temporal_decay > 1.0)
    throw ModelError("baseline: temporal_frames must be >= 0 and temporal_decay in [0, 1]");
  return std::make_unique<BaselineModel>(options);
}

}  // namespace model
