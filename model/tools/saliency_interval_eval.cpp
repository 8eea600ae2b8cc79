// saliency-interval-eval: how much quality interval mode (PredictorOptions::interval,
// the `interval` property) costs, one "name: value" line per figure. Two studies:
//   --input PATH  runs a model on every frame and at intervals 2, 4 and 8 in both
//                 interval modes, and scores the interval maps against the
//                 every-frame maps (docs/performance.md);
//   --maps PATH   blends key maps of a map sequence (eye-tracking maps, say) as the
//                 bidirectional mode does, without the flow: how close interval
//                 mode can come on maps that change like these.
// Speed and memory alone are saliency-bench's.
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "salflow/frame_source.hpp"
#include "salmodel/baseline.hpp"
#include "salmodel/metrics.hpp"
#include "salmodel/predictor.hpp"
#include "tool_common.hpp"

static const char *kUsage =
    "usage: saliency-interval-eval --input PATH [--model M] [--weights FILE] [--random-init]\n"
    "                              [--device D] [--precision P] [--batch N] [--threads N]\n"
    "       saliency-interval-eval --maps PATH\n"
    "\n"
    "What interval mode (--interval N of saliency-predict, the element's 'interval') costs in\n"
    "quality; one 'name: value' line per figure. Speed and memory are saliency-bench's.\n"
    "\n"
    "  --input PATH   a clip (video file, frame folder or glob): runs the model on every frame,\n"
    "                 then with interval 2, 4 and 8 in both interval modes (forward,\n"
    "                 bidirectional), and prints, against the every-frame maps:\n"
    "                   interval_N_MODE_cc, _kl       mean CC and KL of the inferred maps\n"
    "                   interval_N_MODE_cc_by_distance  CC by frames since the key frame (1..N-1)\n"
    "                   interval_N_MODE_cc_by_key_offset  CC of each placement of the key frames:\n"
    "                                  the clip is also run from its 2nd ... N-th frame on, and\n"
    "                                  _cc and _kl pool all N placements\n"
    "                   interval_N_MODE_speedup       every-frame time over interval time\n"
    "                   full_lag_N_cc  CC of every-frame maps 1, 2, 4 and 8 frames apart (how\n"
    "                                  fast the maps themselves change)\n"
    "                 and, for the baseline, baseline_vs_untemporal_cc and untemporal_lag_1_cc\n"
    "                 (the same baseline without temporal smoothing).\n"
    "  --maps PATH    a folder or glob of saliency maps (e.g. eye-tracking maps; at least 9, all\n"
    "                 of one size): blends key maps 2, 4 and 8 apart as the bidirectional mode\n"
    "                 does, without the flow, and prints the CC of the blends with the maps in\n"
    "                 between (blend_N_cc, by key offset: blend_N_cc_by_key_offset), of the last\n"
    "                 key map kept (hold_N_cc: forward mode without the flow) and of the maps\n"
    "                 1, 2, 4 and 8 apart (maps_lag_N_cc). No model is run.\n"
    "\n"
    "Model options (with --input): --model baseline (default), tinyhd, stsanet, stranet;\n"
    "--weights FILE, --random-init (deep models without weights), --device cpu|cuda,\n"
    "--precision P, --cuda-graphs, --batch N, --threads N (0: one per core), as saliency-predict.\n"
    "\n"
    "examples:\n"
    "  saliency-interval-eval --input ../shared/data/video/tased-ex1 --threads 1\n"
    "  saliency-interval-eval --maps ../shared/data/saliency/ucf-sports/test/Diving-Side_001/maps\n";

namespace {

const char *kProgram = "saliency-interval-eval";
using Clock = std::chrono::steady_clock;
using MapList = std::vector<model::SaliencyMap>;

// Every map of a clip with the given interval and mode; returns the seconds spent in the
// predictor. `baseline`: the baseline built with these options instead of po.model.
double run_clip(const model::PredictorOptions &base, int interval, model::IntervalMode mode,
                const std::vector<cv::Mat> &frames, MapList &maps,
                const model::BaselineOptions *baseline = nullptr) {
  model::PredictorOptions po = base;
  po.interval = interval;
  po.interval_mode = mode;
  auto predictor = baseline ? std::make_unique<model::Predictor>(model::create_baseline_model(*baseline), po)
                            : std::make_unique<model::Predictor>(po);
  maps.clear();
  const auto t0 = Clock::now();
  for (const cv::Mat &f : frames)
    for (auto &m : predictor->push({f.data, f.cols, f.rows, f.step, model::PixelFormat::BGR})) maps.push_back(m);
  for (auto &m : predictor->finish()) maps.push_back(m);
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double map_cc(const model::SaliencyMap &a, const model::SaliencyMap &b) {
  return model::metrics::cc(cv::Mat(a.height, a.width, CV_32F, const_cast<float *>(a.values.data())),
                            cv::Mat(b.height, b.width, CV_32F, const_cast<float *>(b.values.data())));
}

// Mean CC between every-frame maps `lag` frames apart: how fast the model's own maps
// change, and so the most any carrying of key maps has to bridge.
double lag_cc(const MapList &maps, int lag) {
  double sum = 0;
  int count = 0;
  for (std::size_t i = 0; i + lag < maps.size(); ++i, ++count) sum += map_cc(maps[i], maps[i + lag]);
  return count ? sum / count : 0.0;
}

int interval_quality(const model::PredictorOptions &po, const std::string &path) {
  flow::FrameSource source(path);
  std::vector<cv::Mat> frames;
  cv::Mat f;
  while (source.read(f)) frames.push_back(f.clone());
  if (frames.size() < 9)
    tools::fail(kProgram, path + ": needs at least 9 frames (interval 8), found " + std::to_string(frames.size()));
  MapList full, sparse;
  const double full_s = run_clip(po, 1, po.interval_mode, frames, full);
  std::printf("frames: %zu\ninterval_1_seconds_per_frame: %.6f s\n", frames.size(), full_s / frames.size());
  for (int lag : {1, 2, 4, 8}) std::printf("full_lag_%d_cc: %.4f\n", lag, lag_cc(full, lag));
  if (po.model == model::ModelKind::Baseline) {
    // Sanity: the default baseline against the same baseline without temporal smoothing.
    model::BaselineOptions plain;
    plain.temporal_frames = 0;
    MapList untemporal;
    run_clip(po, 1, po.interval_mode, frames, untemporal, &plain);
    double cc = 0;
    for (std::size_t i = 0; i < full.size(); ++i) cc += map_cc(full[i], untemporal[i]);
    std::printf("baseline_vs_untemporal_cc: %.4f\nuntemporal_lag_1_cc: %.4f\n", cc / full.size(),
                lag_cc(untemporal, 1));
  }
  // Where the key frames fall is arbitrary, and on one short clip the CC of
  // one placement can differ from another's by a few hundredths (how much
  // the maps change differs from frame to frame). So every placement counts:
  // with interval N the clip is also run from its 2nd ... N-th frame on
  // (key frames shifted by 1 ... N-1), each against every-frame maps of the
  // same shortened clip, and the figures pool all of them.
  std::map<int, MapList> full_from;  // every-frame maps of the clip from frame p on
  full_from[0] = full;
  for (int p = 1; p < 8 && p < int(frames.size()); ++p) {
    const std::vector<cv::Mat> tail(frames.begin() + p, frames.end());
    run_clip(po, 1, po.interval_mode, tail, full_from[p]);
  }
  for (model::IntervalMode mode : {model::IntervalMode::Forward, model::IntervalMode::Bidirectional}) {
    const char *name = model::to_string(mode);
    for (int n : {2, 4, 8}) {
      double cc = 0, kl = 0;
      int count = 0;
      std::vector<double> by_distance(n, 0.0), by_phase;  // CC by frames since the key frame, by placement
      std::vector<int> at_distance(n, 0);
      for (int p = 0; p < n && full_from.count(p); ++p) {
        const MapList &reference = full_from[p];
        const std::vector<cv::Mat> tail(frames.begin() + p, frames.end());
        run_clip(po, n, mode, tail, sparse);
        double phase_cc = 0;
        int phase_count = 0;
        const std::size_t last = reference.size() - 1;
        for (std::size_t i = 0; i < reference.size(); ++i) {
          // Inferred frames are identical by construction (bidirectional also infers the last one).
          if (i % n == 0 || (mode == model::IntervalMode::Bidirectional && i == last)) continue;
          const double c = map_cc(sparse[i], reference[i]);
          phase_cc += c;
          ++phase_count;
          kl += model::metrics::kl(cv::Mat(sparse[i].height, sparse[i].width, CV_32F, sparse[i].values.data()),
                                   cv::Mat(reference[i].height, reference[i].width, CV_32F,
                                           const_cast<float *>(reference[i].values.data())));
          by_distance[i % n] += c;
          ++at_distance[i % n];
        }
        cc += phase_cc;
        count += phase_count;
        by_phase.push_back(phase_count ? phase_cc / phase_count : 0.0);
      }
      // Speed-up: the unshifted run against the every-frame run of the whole clip.
      MapList unshifted;
      const double s = run_clip(po, n, mode, frames, unshifted);
      std::printf("interval_%d_%s_cc: %.4f\ninterval_%d_%s_kl: %.4f\ninterval_%d_%s_speedup: %.2f x\n", n, name,
                  cc / count, n, name, kl / count, n, name, full_s / s);
      std::printf("interval_%d_%s_cc_by_distance:", n, name);
      for (int j = 1; j < n; ++j) std::printf(" %.3f", at_distance[j] ? by_distance[j] / at_distance[j] : 0.0);
      std::printf("\ninterval_%d_%s_cc_by_key_offset:", n, name);
      for (double c : by_phase) std::printf(" %.3f", c);
      std::printf("\n");
    }
  }
  std::printf("peak_rss_mb: %.0f MB\n", tools::peak_rss_mb());
  return 0;
}

// The bidirectional interval mode without the flow, on a sequence of maps
// (eye-tracking maps, say): each map between key maps N frames apart is the
// distance-weighted blend of the two, as interval mode blends the carried key
// maps. How close interval mode can come to maps that change as fast as these
// with nothing but the key maps, whatever the model; `hold` keeps the last key
// map (forward mode without the flow).
int interval_blend(const std::string &path) {
  flow::FrameSource source(path);
  std::vector<cv::Mat> maps;
  for (cv::Mat f; source.read(f);) {
    cv::Mat grey;
    cv::cvtColor(f, grey, cv::COLOR_BGR2GRAY);
    grey.convertTo(grey, CV_32F);
    // (FrameSource refuses a map whose size differs from the first, naming it.)
    maps.push_back(grey);
  }
  if (maps.size() < 9) tools::fail(kProgram, path + ": needs at least 9 maps, found " + std::to_string(maps.size()));
  std::printf("maps: %zu\n", maps.size());
  for (int lag : {1, 2, 4, 8}) {
    double cc = 0;
    for (std::size_t i = 0; i + lag < maps.size(); ++i) cc += model::metrics::cc(maps[i], maps[i + lag]);
    std::printf("maps_lag_%d_cc: %.4f\n", lag, cc / double(maps.size() - lag));
  }
  for (int n : {2, 4, 8}) {
    double blend = 0, hold = 0;
    int count = 0;
    std::vector<double> by_offset;
    for (int p = 0; p < n; ++p) {
      double offset_cc = 0;
      int offset_count = 0;
      for (std::size_t k = p; k + n < maps.size(); k += n)
        for (int j = 1; j < n; ++j) {
          const double b = double(j) / n;
          cv::Mat m;
          cv::addWeighted(maps[k], 1.0 - b, maps[k + n], b, 0.0, m);
          const double c = model::metrics::cc(m, maps[k + j]);
          offset_cc += c;
          ++offset_count;
          hold += model::metrics::cc(maps[k], maps[k + j]);
        }
      blend += offset_cc;
      count += offset_count;
      if (offset_count) by_offset.push_back(offset_cc / offset_count);
    }
    std::printf("blend_%d_cc: %.4f\nhold_%d_cc: %.4f\nblend_%d_cc_by_key_offset:", n, blend / count, n,
                hold / count, n);
    for (double c : by_offset) std::printf(" %.3f", c);
    std::printf("\n");
  }
  return 0;
}

}  // namespace

int main(int argc, char **argv) {
  tools::ModelFlags mf;
  mf.model = "baseline";
  std::string input, maps;
  tools::Args args(argc, argv, kProgram, kUsage);
  mf.add_to(args);
  args.option("--input", &input);
  args.option("--maps", &maps);
  args.parse();
  if (input.empty() == maps.empty()) args.usage_error("give --input PATH (a clip) or --maps PATH (maps), one of them");
  mf.check(args);
  // The study sets the interval itself: a user's --interval would be silently ignored.
  if (mf.interval != 1) args.usage_error("--interval: the study runs intervals 2, 4 and 8 itself");
  tools::set_threads(mf.threads);
  try {
    if (!maps.empty()) return interval_blend(maps);
    return interval_quality(mf.predictor_options(), input);
  } catch (const std::exception &e) {
    tools::fail(kProgram, e.what());
  }
}
