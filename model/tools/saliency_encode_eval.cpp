// saliency-encode-eval: what saliency-aware encoding buys. Encodes a clip with
// libx264 twice per target bitrate, plainly and with per-macroblock QP offsets
// from the saliency map (salmaps/qp_map.hpp, as the saliencyx264enc element does),
// and reports the achieved bitrate, luma PSNR and eye-weighted PSNR (EWPSNR,
// video_quality.hpp) of each, then the Bjontegaard deltas of the saliency
// encodes against the plain ones.
//
// The weights of EWPSNR are the model's maps of the ORIGINAL frames (no ground
// truth gaze is needed, and both encodes are scored with the same weights).
// Both encodes use the same x264 settings (preset, AQ, psy, MB-tree, and any
// --option-string), built by the element's own builder (salx264/params.hpp); only
// the offsets differ, so the deltas are what the saliency offsets buy. Rate points are ABR bitrates or, with --crfs, CRF values; the
// Bjontegaard deltas always compare achieved bitrates.
// The reconstruction comes from libx264 itself (b_full_recon), so no decoder
// is involved: it is bit-exact with what a decoder would output.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <limits>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "salflow/frame_source.hpp"
#include "salmodel/predictor.hpp"
#include "salmaps/qp_map.hpp"
#include "salmaps/video_quality.hpp"
#include "salx264/params.hpp"
#include "tool_common.hpp"

namespace {

constexpr const char *kProgram = "saliency-encode-eval";

const char *kUsage =
    "usage: saliency-encode-eval --input PATH [--model M] [--weights FILE] [--frames N]\n"
    "                            [--bitrates K1,K2,... | --crfs C1,C2,...] [--strength S]\n"
    "                            [--max-qp-offset Q]\n"
    "                            [--mapping log|linear]\n"
    "                            [--preset P] [--option-string K=V:K=V...]\n"
    "                            [--fps F] [--threads N] [--quiet]\n"
    "\n"
    "Encodes PATH (video file, frame directory or glob) with libx264 at each target bitrate\n"
    "(ABR, kbit/s) or CRF, once plainly and once with saliency QP offsets, and prints one\n"
    "table row per encode (achieved kbit/s, Y-PSNR, EWPSNR in dB, averaged over frames) and\n"
    "the Bjontegaard deltas of the saliency encodes (needs >= 4 rate points):\n"
    "  bd_rate_ewpsnr: X %   bd_ewpsnr: X dB   bd_rate_psnr: X %   bd_psnr: X dB\n"
    "Frames with an odd width or height lose their last column/row (H.264 4:2:0).\n"
    "\n"
    "  --model M          saliency model for the offsets and the EWPSNR weights (default "
    "baseline)\n"
    "  --bitrates LIST    target bitrates in kbit/s (default 150,300,600,1200)\n"
    "  --crfs LIST        constant rate factors instead of bitrates (x264 CRF mode, e.g.\n"
    "                     35,29,23,17); the Bjontegaard deltas use the achieved bitrates\n"
    "  --strength S       saliencyx264enc strength (default 1)\n"
    "  --max-qp-offset Q  saliencyx264enc max-qp-offset (default 8)\n"
    "  --mapping M        saliencyx264enc mapping: log or log-ratio (default), linear\n"
    "  --preset P         x264 speed preset (default medium)\n"
    "  --option-string S  further libx264 settings, key=value pairs separated by ':' (x264's\n"
    "                     option names, e.g. aq-mode=3:mbtree=0), applied to BOTH encodes\n"
    "                     after the preset, as saliencyx264enc's option-string. Settings\n"
    "                     that turn AQ off keep it off in the saliency encode too: AQ goes\n"
    "                     on at strength 0 so that libx264 applies the offsets alone.\n"
    "                     Options that would change the stream format (fps, annexb,\n"
    "                     repeat-headers) are ignored\n"
    "  --fps F            frame rate for rate control when the input has none (default 25)\n"
    "  --frames N         use the first N frames (default: all)\n";

struct Clip {
  int width = 0, height = 0;
  double fps = 25;
  std::vector<cv::Mat> i420;                // (h*3/2) x w, one per frame
  std::vector<std::vector<float>> weights;  // saliency map at frame size, per frame
  std::vector<std::vector<float>> maps;     // model-resolution maps
  std::vector<int> map_w, map_h;
};

struct EncodeResult {
  double kbps = 0;
  double psnr = 0;    // mean over frames of Y-PSNR (dB)
  double ewpsnr = 0;  // mean over frames of Y-EWPSNR (dB)
};

std::vector<int> parse_list(const std::string &text) {
  std::vector<int> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    char *end = nullptr;
    const long v = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v <= 0 || v > 1000000)
      throw std::invalid_argument("--bitrates: '" + item + "' is not a bitrate in kbit/s");
    out.push_back(int(v));
  }
  if (out.empty()) throw std::invalid_argument("--bitrates is empty");
  return out;
}

std::vector<double> parse_crfs(const std::string &text) {
  std::vector<double> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    char *end = nullptr;
    const double v = std::strtod(item.c_str(), &end);
    if (item.empty() || *end != '\0' || !(v >= 0) || v > 51)
      throw std::invalid_argument("--crfs: '" + item + "' is not a CRF in [0, 51]");
    out.push_back(v);
  }
  if (out.empty()) throw std::invalid_argument("--crfs is empty");
  return out;
}

// Caps PSNR of a perfect frame, so that an average stays finite.
double capped(double db) { return std::min(db, 100.0); }

Clip load_clip(const std::string &input, int max_frames, double fps_default,
               const model::PredictorOptions &po, bool quiet) {
  Clip clip;
  flow::FrameSource source(input);
  clip.fps = source.fps() > 0 ? source.fps() : fps_default;
  model::Predictor predictor(po);
  cv::Mat bgr;
  auto keep = [&clip](const std::vector<model::SaliencyMap> &maps) {
    for (const auto &m : maps) {
      clip.weights.push_back(model::resize_map(m, clip.width, clip.height));
      clip.maps.push_back(m.values);
      clip.map_w.push_back(m.width);
      clip.map_h.push_back(m.height);
    }
  };
  while ((max_frames <= 0 || int(clip.i420.size()) < max_frames) && source.read(bgr)) {
    if (clip.i420.empty()) {
      clip.width = bgr.cols & ~1;
      clip.height = bgr.rows & ~1;
      if (clip.width < 16 || clip.height < 16)
        throw std::runtime_error(input + ": frames of " + std::to_string(bgr.cols) + "x" +
                                 std::to_string(bgr.rows) + " are too small to encode");
    } else if (bgr.cols != (clip.width | (bgr.cols & 1)) ||
               bgr.rows != (clip.height | (bgr.rows & 1))) {
      throw std::runtime_error(input + ": frame " + source.frame_name() + " changes size");
    }
    // The evaluated picture is the even-sized crop; the model sees the same pixels.
    cv::Mat even = bgr(cv::Rect(0, 0, clip.width, clip.height)).clone();
    cv::Mat yuv;
    cv::cvtColor(even, yuv, cv::COLOR_BGR2YUV_I420);
    clip.i420.push_back(yuv);
    model::FrameView view{even.data, even.cols, even.rows, even.step, model::PixelFormat::BGR};
    keep(predictor.push(view));
  }
  keep(predictor.finish());
  if (clip.i420.empty()) throw std::runtime_error(input + ": no frames");
  if (clip.weights.size() != clip.i420.size())
    throw std::runtime_error("the predictor returned " + std::to_string(clip.weights.size()) +
                             " maps for " + std::to_string(clip.i420.size()) + " frames");
  if (!quiet)
    std::fprintf(stderr, "%s: %zu frames of %dx%d at %.3g fps, maps %dx%d (%s)\n", kProgram,
                 clip.i420.size(), clip.width, clip.height, clip.fps, clip.map_w[0], clip.map_h[0],
                 predictor.description().c_str());
  return clip;
}

std::string format_crf(double crf) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", crf);
  return buf;
}

// One rate point: a target bitrate (ABR) or, when crf >= 0, a constant rate factor.
struct RateTarget {
  int kbps = 0;
  double crf = -1;
};

EncodeResult encode(const Clip &clip, const RateTarget &target, const std::string &preset,
                    const std::string &option_string, double strength, double max_qp_offset,
                    model::QpMapping mapping, int threads) {
  // The element's builder (libsalx264), so that both encode alike for the same settings.
  salx264::EncoderSettings es;
  es.preset = preset;
  if (target.crf >= 0) {
    es.rc = salx264::RateControl::CRF;
    es.crf = target.crf;
  } else {
    es.rc = salx264::RateControl::ABR;
    es.bitrate_kbps = target.kbps;
  }
  es.threads = threads;
  es.option_string = option_string;
  es.qp_offsets = strength > 0;
  salx264::StreamFormat format;
  format.csp = X264_CSP_I420;
  format.width = clip.width;
  format.height = clip.height;
  format.fps_den = 1000;
  format.fps_num = int(std::lround(clip.fps * format.fps_den));
  format.full_recon = true;  // the reconstruction in pic_out is complete (deblocked)
  format.log_level = X264_LOG_ERROR;
  x264_param_t p;
  salx264::build_params(p, es, format);

  x264_t *enc = x264_encoder_open(&p);
  if (!enc) throw std::runtime_error("x264_encoder_open failed");
  const std::size_t n = clip.i420.size();
  std::vector<double> psnr(n, -1), ewpsnr(n, -1);
  std::int64_t bytes = 0;
  std::size_t next = 0;
  const int w = clip.width, h = clip.height;

  auto collect = [&](int size, const x264_picture_t &out) {
    if (size <= 0) return;
    bytes += size;
    const std::size_t i = std::size_t(out.i_pts);
    const model::PlaneView ref{clip.i420[i].data, w, h, std::size_t(w)};
    const model::PlaneView rec{out.img.plane[0], w, h, std::size_t(out.img.i_stride[0])};
    psnr[i] = capped(model::psnr_from_mse(model::mean_squared_error(ref, rec)));
    ewpsnr[i] =
        capped(model::psnr_from_mse(model::weighted_squared_error(ref, rec, clip.weights[i])));
  };

  x264_nal_t *nals = nullptr;
  int n_nals = 0;
  x264_picture_t out;
  for (; next < n; ++next) {
    x264_picture_t pic;
    x264_picture_init(&pic);
    pic.img.i_csp = X264_CSP_I420;
    pic.img.i_plane = 3;
    std::uint8_t *base = clip.i420[next].data;
    pic.img.plane[0] = base;
    pic.img.plane[1] = base + std::size_t(w) * h;
    pic.img.plane[2] = base + std::size_t(w) * h + std::size_t(w / 2) * (h / 2);
    pic.img.i_stride[0] = w;
    pic.img.i_stride[1] = pic.img.i_stride[2] = w / 2;
    pic.i_pts = std::int64_t(next);
    std::vector<float> offsets;
    if (strength > 0) {
      offsets = model::saliency_to_qp_offsets(
          model::MapView{clip.maps[next].data(), clip.map_w[next], clip.map_h[next]}, w, h,
          {strength, max_qp_offset, mapping});
      float *copy = static_cast<float *>(std::malloc(offsets.size() * sizeof(float)));
      std::memcpy(copy, offsets.data(), offsets.size() * sizeof(float));
      pic.prop.quant_offsets = copy;
      pic.prop.quant_offsets_free = std::free;
    }
    const int size = x264_encoder_encode(enc, &nals, &n_nals, &pic, &out);
    if (size < 0) {
      x264_encoder_close(enc);
      throw std::runtime_error("x264_encoder_encode failed");
    }
    collect(size, out);
  }
  while (x264_encoder_delayed_frames(enc) > 0) {
    const int size = x264_encoder_encode(enc, &nals, &n_nals, nullptr, &out);
    if (size < 0) {
      x264_encoder_close(enc);
      throw std::runtime_error("x264_encoder_encode failed while draining");
    }
    collect(size, out);
  }
  x264_encoder_close(enc);

  EncodeResult r;
  for (std::size_t i = 0; i < n; ++i) {
    if (psnr[i] < 0) throw std::runtime_error("frame " + std::to_string(i) + " was not encoded");
    r.psnr += psnr[i] / double(n);
    r.ewpsnr += ewpsnr[i] / double(n);
  }
  r.kbps = double(bytes) * 8.0 / 1000.0 / (double(n) / clip.fps);
  return r;
}

}  // namespace

int main(int argc, char **argv) {
  std::string input, model_name = "baseline", weights, bitrates, preset = "medium",
                     mapping_name = "log", option_string, crfs;
  int frames = 0, threads = 0;
  double strength = 1.0, max_qp_offset = 8.0, fps = 25.0;
  bool quiet = false;
  tools::Args args(argc, argv, kProgram, kUsage);
  args.option("--input", &input);
  args.option("--model", &model_name);
  args.option("--weights", &weights);
  args.option("--frames", &frames);
  args.option("--bitrates", &bitrates);
  args.option("--crfs", &crfs);
  args.option("--strength", &strength);
  args.option("--max-qp-offset", &max_qp_offset);
  args.option("--preset", &preset);
  args.option("--mapping", &mapping_name);
  args.option("--option-string", &option_string);
  args.option("--fps", &fps);
  args.option("--threads", &threads);
  args.flag("--quiet", &quiet);
  args.parse();
  args.require("--input", input);
  if (!(strength > 0) || strength > 10) args.usage_error("--strength must be in (0, 10]");
  if (!(max_qp_offset >= 0.5) || max_qp_offset > 30)
    args.usage_error("--max-qp-offset must be in [0.5, 30]");
  if (!(fps > 0)) args.usage_error("--fps must be > 0");
  if (mapping_name != "log" && mapping_name != "log-ratio" && mapping_name != "linear")
    args.usage_error("--mapping must be log (log-ratio) or linear");
  const model::QpMapping mapping =
      mapping_name == "linear" ? model::QpMapping::Linear : model::QpMapping::LogRatio;
  if (!bitrates.empty() && !crfs.empty()) args.usage_error("give --bitrates or --crfs, not both");
  if (bitrates.empty()) bitrates = "150,300,600,1200";
  if (frames < 0 || threads < 0) args.usage_error("--frames and --threads must be >= 0");
  bool known_preset = false;
  for (int i = 0; x264_preset_names[i]; ++i) known_preset |= preset == x264_preset_names[i];
  if (!known_preset) args.usage_error("--preset: unknown x264 preset '" + preset + "'");

  try {
    std::vector<RateTarget> rates;
    if (!crfs.empty()) {
      for (double c : parse_crfs(crfs)) rates.push_back({0, c});
    } else {
      for (int k : parse_list(bitrates)) rates.push_back({k, -1});
    }
    try {  // reject a bad --option-string before the slow part
      x264_param_t check;
      x264_param_default(&check);
      salx264::apply_options(check, option_string);
    } catch (const salx264::OptionError &e) {
      throw std::invalid_argument(std::string("--option-string: ") + e.what());
    }
    model::PredictorOptions po;
    po.threads = threads;
    po.model = model::parse_model_kind(model_name);
    po.weights = weights;
    const Clip clip = load_clip(input, frames, fps, po, quiet);

    std::printf(
        "| %s | plain kbit/s | plain PSNR | plain EWPSNR | saliency kbit/s | "
        "saliency PSNR | saliency EWPSNR | dPSNR | dEWPSNR |\n",
        crfs.empty() ? "target kbit/s" : "crf");
    std::printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    std::vector<model::RatePoint> plain_psnr, plain_ew, sal_psnr, sal_ew;
    for (const RateTarget &target : rates) {
      const EncodeResult a =
          encode(clip, target, preset, option_string, 0.0, max_qp_offset, mapping, threads);
      const EncodeResult b =
          encode(clip, target, preset, option_string, strength, max_qp_offset, mapping, threads);
      const std::string point =
          target.crf >= 0 ? format_crf(target.crf) : std::to_string(target.kbps);
      std::printf("| %s | %.1f | %.2f | %.2f | %.1f | %.2f | %.2f | %+.2f | %+.2f |\n",
                  point.c_str(), a.kbps, a.psnr, a.ewpsnr, b.kbps, b.psnr, b.ewpsnr,
                  b.psnr - a.psnr, b.ewpsnr - a.ewpsnr);
      std::fflush(stdout);
      plain_psnr.push_back({a.kbps, a.psnr});
      plain_ew.push_back({a.kbps, a.ewpsnr});
      sal_psnr.push_back({b.kbps, b.psnr});
      sal_ew.push_back({b.kbps, b.ewpsnr});
    }
    if (rates.size() >= 4) {
      std::printf("bd_rate_ewpsnr: %.2f %%\n", model::bjontegaard_delta_rate(plain_ew, sal_ew));
      std::printf("bd_ewpsnr: %.2f dB\n", model::bjontegaard_delta_quality(plain_ew, sal_ew));
      std::printf("bd_rate_psnr: %.2f %%\n", model::bjontegaard_delta_rate(plain_psnr, sal_psnr));
      std::printf("bd_psnr: %.2f dB\n", model::bjontegaard_delta_quality(plain_psnr, sal_psnr));
    } else if (!quiet) {
      std::fprintf(stderr, "%s: Bjontegaard deltas need >= 4 bitrates\n", kProgram);
    }
  } catch (const std::exception &e) {
    tools::fail(kProgram, e.what());
  }
  return 0;
}
