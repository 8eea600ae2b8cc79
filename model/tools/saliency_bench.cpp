// saliency-bench: steady-state speed and memory of a model (or of the flow
// estimator), one "name: value unit" line per figure.
#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <map>
#include <memory>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <ATen/Parallel.h>
#include <opencv2/imgproc.hpp>

#include "salflow/estimator.hpp"
#include "salflow/frame_source.hpp"
#include "saltools/synthetic_clip.hpp"
#include "salmodel/baseline.hpp"
#include "salmodel/metrics.hpp"
#include "salmodel/predictor.hpp"
#include "salmodel/stsanet.hpp"
#include "op_profile.hpp"
#include "pipeline_bench.hpp"
#include "tool_common.hpp"

static const char *kUsage =
    "usage: saliency-bench [--model M] [--frames N] [--weights FILE] [--random-init] [--device D]\n"
    "                      [--batch N] [--interval N] [--width W] [--height H] [--threads N]\n"
    "       saliency-bench --flow ALGORITHM [--preset P] [--frames N] [--width W] [--height H]\n"
    "       saliency-bench --pipeline [--model M] [--frames N] [--rounds N] [model options]\n"
    "       saliency-bench --interval-quality PATH [model options] | --interval-blend-maps PATH\n"
    "\n"
    "Measures steady-state inference on synthetic frames (decoding excluded) and prints\n"
    "one 'name: value unit' line per figure: parameters, buffers, seconds_per_frame,\n"
    "frames_per_second, cpu_seconds_per_frame (all threads; compare it across runs on a busy\n"
    "machine, with OMP_WAIT_POLICY=passive), peak_rss_mb. Frames are the model's default input size unless\n"
    "--width/--height are given (baseline and STSANet: 384x224, STRA-Net: 224x224).\n"
    "With --flow, measures the optical-flow estimator instead (flow_frames_per_second).\n"
    "With --interval-quality PATH, runs the model on every frame of PATH (video, folder or glob)\n"
    "and with interval 2, 4 and 8 in both interval modes (forward, bidirectional), and prints the\n"
    "mean CC and KL of the interval maps against the every-frame maps, the CC by distance to the key\n"
    "frame and the speed-up (interval_N_MODE_cc, _kl, _cc_by_distance, _speedup), pooled over the N\n"
    "placements of the key frames (the clip also run from its 2nd ... N-th frame on; the CC of each:\n"
    "_cc_by_key_offset), and the CC between\n"
    "every-frame maps 1, 2, 4 and 8 frames apart (full_lag_N_cc: how fast the maps themselves change).\n"
    "With --interval-blend-maps PATH (a folder or glob of maps, e.g. eye-tracking maps), blends\n"
    "key maps 2, 4 and 8 apart as the bidirectional interval mode does, without the flow, and prints\n"
    "the CC of the blends with the maps in between (blend_N_cc, by key offset; hold_N_cc: the last key\n"
    "map kept) and of the maps 1, 2, 4 and 8 apart (maps_lag_N_cc): how close interval mode can come\n"
    "on maps that change like these with nothing but the key maps.\n"
    "With --pipeline, measures what users get: the saliency element in a plain gst-launch-1.0\n"
    "(multifilesrc ! pngdec ! videoconvert ! saliency ! fakesink) and saliency-predict, each a\n"
    "process of its own started without LD_PRELOAD, MALLOC_* and OMP_*/MKL_* settings, on the same\n"
    "PNG frames, N and 2N of them (--frames N; default 8 for deep models, 150 for the baseline),\n"
    "--rounds times each, alternated; the per-frame cost is the difference of the best 2N and N\n"
    "runs over N, so start-up and model loading cancel. Prints element_seconds_per_frame,\n"
    "predict_seconds_per_frame, element_vs_predict_percent, each side's peak RSS and every run's\n"
    "wall time (element_runs_s, predict_runs_s: how much the load moved them).\n"
    "\n"
    "  --model M      baseline (default), stsanet, stranet\n"
    "  --frames N     timed output frames after warm-up (16 outputs for deep models, 10 for the\n"
    "                 baseline; default: 200 baseline, 3 deep models)\n"
    "  --random-init  deep models without weights (timing does not depend on the values)\n"
    "  --batch N      windows per forward pass (deep models; offline throughput)\n"
    "  --precision P  fp32 (default); CUDA: autocast-fp16, autocast-bf16, fp16-weights (STSANet)\n"
    "  --cuda-graphs  CUDA, STSANet, fp32 or half: replay the forward pass from a CUDA graph\n"
    "  --channels-last  STSANet inference with channels-last activations (A/B against the default)\n"
    "  --no-stem-reuse  STSANet: recompute base1 for every window, as the official code does (A/B\n"
    "                 against the default, which reuses the rows of the previous windows)\n"
    "  --profile      also record every LibTorch operator of the timed frames and print the most\n"
    "                 expensive ones by self time (profile_op: by name, profile_shape: by name and\n"
    "                 input shapes); recording adds some overhead to seconds_per_frame\n";

namespace {

const char *kProgram = "saliency-bench";
using Clock = std::chrono::steady_clock;

int bench_flow(const std::string &algorithm, const std::string &preset, int frames, int width, int height) {
  tools::SyntheticClipOptions co;
  co.width = width;
  co.height = height;
  co.frames = 16;
  tools::SyntheticClip clip(co);
  std::vector<cv::Mat> grey(co.frames);
  for (int i = 0; i < co.frames; ++i) cv::cvtColor(clip.frame(i), grey[i], cv::COLOR_BGR2GRAY);
  auto est = flow::create_estimator(flow::parse_algorithm(algorithm), flow::parse_preset(preset));
  cv::Mat f;
  for (int i = 0; i < 5; ++i) est->calc(grey[i % 15], grey[i % 15 + 1], f);  // warm-up
  const auto t0 = Clock::now();
  for (int i = 0; i < frames; ++i) est->calc(grey[i % 15], grey[i % 15 + 1], f);
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("flow_algorithm: %s\nflow_preset: %s\nresolution: %dx%d\nthreads: %d\n", algorithm.c_str(),
              preset.c_str(), width, height, cv::getNumThreads());
  std::printf("flow_seconds_per_frame: %.6f s\nflow_frames_per_second: %.1f fps\npeak_rss_mb: %.0f MB\n",
              s / frames, frames / s, tools::peak_rss_mb());
  return 0;
}

// CPU time of every thread of the process: on a machine shared with other
// work it follows the work done where wall time follows the load (with
// OMP_WAIT_POLICY=passive, so that idle OpenMP threads do not spin).
double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

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

int bench_interval_quality(const model::PredictorOptions &po, const std::string &path) {
  flow::FrameSource source(path);
  std::vector<cv::Mat> frames;
  cv::Mat f;
  while (source.read(f)) frames.push_back(f.clone());
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
int bench_interval_blend(const std::string &path) {
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

// Synthetic BGR frames (the same for every mode), made before any clock starts.
std::vector<cv::Mat> synthetic_frames(int width, int height, int count) {
  tools::SyntheticClipOptions co;
  co.width = width;
  co.height = height;
  co.frames = count;
  tools::SyntheticClip clip(co);
  std::vector<cv::Mat> frames(co.frames);
  for (int i = 0; i < co.frames; ++i) frames[i] = clip.frame(i);
  return frames;
}

// What users get (pipeline_bench.hpp): the element in a plain gst-launch-1.0
// against saliency-predict, each a process of its own on the same frames.
int bench_pipeline(const model::PredictorOptions &po, const std::string &model_name, int frames,
                   int width, int height, int rounds, const char *argv0) {
  tools::PipelineBenchOptions o;
  o.model = model_name;
  o.weights = po.weights;
  o.device = model::to_string(po.device);
  o.random_init = po.random_init;
  o.batch = po.batch;
  o.interval = po.interval;
  o.threads = po.threads;
  o.frames = frames;
  o.rounds = rounds;
  // saliency-predict beside this program (both are built and installed together).
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) self = argv0;
  o.predict = (self.parent_path() / "saliency-predict").string();
#ifdef SALIENCY_PLUGIN_DIR
  // Run from the build tree: its plugin (GST_PLUGIN_PATH, if set, comes after it).
  if (std::filesystem::exists(std::filesystem::path(SALIENCY_PLUGIN_DIR) / "libgstsaliency.so"))
    o.plugin_dir = SALIENCY_PLUGIN_DIR;
#endif
  o.progress = [](const std::string &what) { std::fprintf(stderr, "saliency-bench: %s\n", what.c_str()); };
  const auto r = tools::run_pipeline_bench(o, synthetic_frames(width, height, 2 * frames));
  std::printf("model: %s\nresolution: %dx%d\nframes: %d and %d\nrounds: %d\n", model_name.c_str(), width, height,
              frames, 2 * frames, rounds);
  std::printf("element_command: %s\npredict_command: %s\n", r.element.command.c_str(), r.predict.command.c_str());
  std::printf("element_seconds_per_frame: %.6f s\npredict_seconds_per_frame: %.6f s\n"
              "element_vs_predict_percent: %.1f %%\nelement_peak_rss_mb: %.0f MB\npredict_peak_rss_mb: %.0f MB\n",
              r.element.seconds_per_frame, r.predict.seconds_per_frame,
              100.0 * (r.element.seconds_per_frame - r.predict.seconds_per_frame) / r.predict.seconds_per_frame,
              r.element.peak_rss_mb, r.predict.peak_rss_mb);
  // Each run's wall time: the spread says how much the machine's load moved the best-of figures.
  auto runs = [](const std::vector<double> &v) {
    std::string s;
    for (double t : v) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%s%.2f", s.empty() ? "" : " ", t);
      s += buf;
    }
    return s;
  };
  std::printf("element_runs_s: %d frames: %s; %d frames: %s\npredict_runs_s: %d frames: %s; %d frames: %s\n", frames,
              runs(r.element.short_runs_s).c_str(), 2 * frames, runs(r.element.long_runs_s).c_str(), frames,
              runs(r.predict.short_runs_s).c_str(), 2 * frames, runs(r.predict.long_runs_s).c_str());
  return 0;
}

}  // namespace

int main(int argc, char **argv) {
  tools::ModelFlags mf;
  mf.model = "baseline";
  std::string flow_alg, preset = "fast", interval_quality, interval_blend;
  bool pipeline = false, channels_last = false, profile = false, no_stem_reuse = false;
  int frames = 0, width = 0, height = 0, rounds = 2;
  tools::Args args(argc, argv, kProgram, kUsage);
  mf.add_to(args);
  args.option("--frames", &frames);
  args.option("--width", &width);
  args.option("--height", &height);
  args.option("--flow", &flow_alg);
  args.option("--preset", &preset);
  args.option("--interval-quality", &interval_quality);
  args.option("--interval-blend-maps", &interval_blend);
  args.flag("--pipeline", &pipeline);
  args.flag("--channels-last", &channels_last);
  args.flag("--profile", &profile);
  args.flag("--no-stem-reuse", &no_stem_reuse);
  args.option("--rounds", &rounds);
  args.parse();
  tools::set_threads(mf.threads);
  model::stsanet::set_inference_channels_last(channels_last);
  model::stsanet::set_stem_reuse(!no_stem_reuse);
  try {
    if (!interval_blend.empty()) return bench_interval_blend(interval_blend);
    if (!flow_alg.empty())
      return bench_flow(flow_alg, preset, frames > 0 ? frames : 300, width > 0 ? width : 384,
                        height > 0 ? height : 224);

    const model::PredictorOptions po = mf.predictor_options();
    if (!interval_quality.empty()) return bench_interval_quality(po, interval_quality);
    const bool deep = po.model != model::ModelKind::Baseline;
    if (width <= 0 || height <= 0) {
      width = po.model == model::ModelKind::STRANet ? 224 : 384;
      height = 224;
    }
    if (pipeline) {
      if (rounds < 1) tools::fail(kProgram, "--rounds must be >= 1");
      return bench_pipeline(po, mf.model, frames > 0 ? frames : (deep ? 8 : 150), width, height, rounds, argv[0]);
    }
    if (frames <= 0) frames = deep ? 3 : 200;
    model::Predictor predictor(po);
    std::printf("model: %s\ndevice: %s\nresolution: %dx%d\nthreads: %d\n", predictor.description().c_str(),
                predictor.device().c_str(), width, height, at::get_num_threads());
    std::printf("parameters: %lld\nbuffers: %lld\n", (long long)predictor.parameter_count(),
                (long long)predictor.buffer_count());
    std::fflush(stdout);

    // Frames are made up front so decoding and drawing are not timed.
    const std::vector<cv::Mat> clip_frames = synthetic_frames(width, height, 64);
    const int clip_length = int(clip_frames.size());
    int pushed = 0;
    auto push = [&]() {
      const cv::Mat &f = clip_frames[pushed % clip_length];
      ++pushed;
      return predictor.push({f.data, f.cols, f.rows, f.step, model::PixelFormat::BGR}).size();
    };
    // Warm-up: fill the look-ahead, then a couple of outputs (allocator, caches).
    std::size_t out = 0;
    // Deep models: 16 outputs, so the timed windows hold no clamped copies of
    // the first frame (STSANet's window starts 15 frames back), which would
    // flatter STSANet's stem reuse.
    const int warm_outputs = deep ? 16 : 10;
    while (out < std::size_t(warm_outputs)) out += push();
    std::size_t timed = 0;
    std::unique_ptr<tools::OpProfile> op_profile;
    if (profile) op_profile = std::make_unique<tools::OpProfile>();
    const double cpu0 = process_cpu_seconds();
    const auto t0 = Clock::now();
    while (timed < std::size_t(frames)) timed += push();
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    const double cpu = process_cpu_seconds() - cpu0;
    if (op_profile) op_profile->report(stdout, int(timed));
    std::printf("frames: %zu\nseconds_per_frame: %.6f s\nframes_per_second: %.2f fps\n"
                "cpu_seconds_per_frame: %.6f s\npeak_rss_mb: %.0f MB\n",
                timed, s / double(timed), double(timed) / s, cpu / double(timed), tools::peak_rss_mb());
  } catch (const std::exception &e) {
    tools::fail(kProgram, e.what());
  }
  return 0;
}
