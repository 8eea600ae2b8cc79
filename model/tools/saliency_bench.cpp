// saliency-bench: steady-state speed and memory of a model (or of the flow
// estimator), one "name: value unit" line per figure. What interval mode costs in
// quality is saliency-interval-eval's.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <memory>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <ATen/Parallel.h>
#include <opencv2/imgproc.hpp>

#include "salflow/estimator.hpp"
#include "salmaps/reframe.hpp"
#include "saltools/synthetic_clip.hpp"
#include "salmodel/model_instance.hpp"
#include "salmodel/predictor.hpp"
#include "op_profile.hpp"
#include "pipeline_bench.hpp"
#include "tool_common.hpp"

static const char *kUsage =
    "usage: saliency-bench [--model M] [--frames N] [--weights FILE] [--random-init] [--device D]\n"
    "                      [--batch N] [--interval N] [--width W] [--height H] [--threads N]\n"
    "       saliency-bench --flow ALGORITHM [--preset P] [--frames N] [--width W] [--height H]\n"
    "       saliency-bench --pipeline [--model M] [--frames N] [--rounds N] [model options]\n"
    "       saliency-bench --reframe [--frames N] [--width W] [--height H]\n"
    "       saliency-bench --streams N [--separate-models] [--batch N --batch-timeout MS] [--pipeline]\n"
    "                      [model options]\n"
    "\n"
    "Measures steady-state inference on synthetic frames (decoding excluded) and prints\n"
    "one 'name: value unit' line per figure: parameters, buffers, seconds_per_frame,\n"
    "frames_per_second, cpu_seconds_per_frame (all threads; compare it across runs on a busy\n"
    "machine, with OMP_WAIT_POLICY=passive), peak_rss_mb. Frames are the model's default input size unless\n"
    "--width/--height are given (baseline and STSANet: 384x224, STRA-Net: 224x224).\n"
    "With --flow, measures the optical-flow estimator instead (flow_frames_per_second).\n"
    "With --reframe, measures the reframing planner (saliencycrop, saliency-reframe) on WxH maps\n"
    "(default 384x224) of moving blobs for 1920x1080 frames, 9:16: planner_ms_per_frame and\n"
    "planner_frames_per_second at look-ahead 0 (live), 15 (the element's default) and offline.\n"
    "With --pipeline, measures what users get: the saliency element in a plain gst-launch-1.0\n"
    "(multifilesrc ! pngdec ! videoconvert ! saliency ! fakesink) and saliency-predict, each a\n"
    "process of its own started without LD_PRELOAD, MALLOC_* and OMP_*/MKL_* settings, on the same\n"
    "PNG frames, N and 2N of them (--frames N; default 8 for deep models, 150 for the baseline),\n"
    "--rounds times each, alternated; the per-frame cost is the difference of the best 2N and N\n"
    "runs over N, so start-up and model loading cancel. Prints element_seconds_per_frame,\n"
    "predict_seconds_per_frame, element_vs_predict_percent, each side's peak RSS and every run's\n"
    "wall time (element_runs_s, predict_runs_s: how much the load moved them).\n"
    "With --streams N, N streams share one loaded model (model-instance-id; --separate-models: one\n"
    "model each, for comparison): in this process, N threads each push --frames frames through a\n"
    "Predictor of their own and it prints total_frames_per_second, each stream's latency from\n"
    "pushing a frame to receiving its map (latency_ms_mean, latency_ms_max; the model's look-ahead\n"
    "included), the forward passes and windows per pass (batching across streams with --batch N,\n"
    "--batch-timeout MS) and peak_rss_mb; with --pipeline, N branches in one gst-launch-1.0.\n"
    "\n"
    "  --model M      baseline (default), tinyhd, stsanet, stranet\n"
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
    "                 input shapes); recording adds some overhead to seconds_per_frame\n"
    "\n"
    "What interval mode costs in quality (CC against every-frame maps): saliency-interval-eval.\n";

namespace {

const char *kProgram = "saliency-bench";
using Clock = std::chrono::steady_clock;

// The reframing planner alone: maps are made up front, so only planning is timed.
int bench_reframe(int frames, int width, int height) {
  std::vector<cv::Mat> maps;
  for (int i = 0; i < 64; ++i) {
    cv::Mat m(height, width, CV_32F);
    const double t = i / 64.0 * 2 * M_PI;
    const double ax = width * (0.5 + 0.35 * std::sin(t)), bx = width * (0.5 - 0.3 * std::cos(t));
    for (int y = 0; y < height; ++y)
      for (int x = 0; x < width; ++x) {
        const double dy = y - height * 0.45;
        m.at<float>(y, x) = float(std::exp(-((x - ax) * (x - ax) + dy * dy) / (2 * 400.0)) +
                                  0.5 * std::exp(-((x - bx) * (x - bx) + dy * dy) / (2 * 900.0)));
      }
    maps.push_back(m);
  }
  std::printf("maps: %dx%d\nframe: 1920x1080\naspect: 9:16\nframes: %d\n", width, height, frames);
  for (int look_ahead : {0, 15, -1}) {
    model::ReframeOptions o;
    o.frame_width = 1920;
    o.frame_height = 1080;
    o.look_ahead = look_ahead;
    model::ReframePlanner planner(o);
    std::size_t windows = 0;
    const auto t0 = Clock::now();
    for (int i = 0; i < frames; ++i) {
      const cv::Mat &m = maps[i % maps.size()];
      windows += planner.push({reinterpret_cast<const float *>(m.data), m.cols, m.rows}, false).size();
    }
    windows += planner.finish().size();
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (windows != std::size_t(frames)) tools::fail(kProgram, "the planner lost frames (internal error)");
    const std::string name = look_ahead < 0 ? "offline" : "look_ahead_" + std::to_string(look_ahead);
    std::printf("planner_ms_per_frame_%s: %.4f ms\nplanner_frames_per_second_%s: %.0f fps\n",
                name.c_str(), 1e3 * s / frames, name.c_str(), frames / s);
  }
  return 0;
}

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

// N streams in this process, each a thread with a Predictor of its own on one
// shared model (or models of their own): throughput, per-stream latency and
// memory, the deployment case of many cameras on one machine.
int bench_streams(model::PredictorOptions po, int streams, bool share, int frames, int width, int height) {
  const bool deep = po.model != model::ModelKind::Baseline;
  if (share) po.model_instance_id = "saliency-bench";
  std::vector<std::unique_ptr<model::Predictor>> predictors;
  for (int k = 0; k < streams; ++k) {
    po.owner = "stream" + std::to_string(k);
    predictors.push_back(std::make_unique<model::Predictor>(po));
  }
  const model::Predictor &first = *predictors.front();
  std::printf("model: %s\ndevice: %s\nresolution: %dx%d\nstreams: %d\nshared_model: %s\nbatch: %d\n"
              "batch_timeout_ms: %d\n",
              first.description().c_str(), first.device().c_str(), width, height, streams, share ? "yes" : "no",
              po.batch, po.batch_timeout_ms);
  std::fflush(stdout);
  // Each stream its own clip (a different phase of the synthetic one), made up front.
  const std::vector<cv::Mat> clip_frames = synthetic_frames(width, height, 64);
  const int warm = deep ? 16 : 10;
  struct StreamFigures {
    std::vector<double> latency_ms;
    Clock::time_point from, to;  // the last warm-up map and the last timed map arrived
    std::size_t maps = 0;        // timed maps: those after `from`
    std::vector<Clock::time_point> arrivals;  // of every map
    std::string error;
  };
  std::vector<StreamFigures> figures(streams);
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int k = 0; k < streams; ++k) {
    threads.emplace_back([&, k] {
      model::Predictor &p = *predictors[k];
      StreamFigures &fig = figures[k];
      std::vector<Clock::time_point> pushed_at;
      std::size_t out = 0;
      try {
        for (int i = 0; out < std::size_t(warm + frames); ++i) {
          const cv::Mat &f = clip_frames[(i + 7 * k) % clip_frames.size()];
          pushed_at.push_back(Clock::now());
          for (const auto &m : p.push({f.data, f.cols, f.rows, f.step, model::PixelFormat::BGR})) {
            const auto now = Clock::now();
            fig.arrivals.push_back(now);
            // The clock starts when the last warm-up map arrives; the maps after it are timed.
            if (out + 1 == std::size_t(warm)) fig.from = now;
            if (out >= std::size_t(warm)) {
              fig.latency_ms.push_back(std::chrono::duration<double, std::milli>(now - pushed_at[m.frame_index]).count());
              fig.to = now;
              ++fig.maps;
            }
            ++out;
          }
        }
      } catch (const std::exception &e) {
        fig.error = e.what();
      }
    });
  }
  for (auto &t : threads) t.join();
  const double wall = std::chrono::duration<double>(Clock::now() - start).count();
  for (const auto &fig : figures)
    if (!fig.error.empty()) tools::fail(kProgram, fig.error);
  // Total: every map of any stream that arrived after the first stream's
  // warm-up ended and until the last stream's last map, over that span (the
  // streams start and stop timing at different moments: summing per-stream
  // rates would count the overlaps twice).
  double worst = 0, sum = 0, slowest_fps = 1e300;
  std::size_t count = 0, span_maps = 0;
  Clock::time_point span_from = figures.front().from, span_to = figures.front().to;
  for (const auto &fig : figures) {
    slowest_fps = std::min(slowest_fps, fig.maps / std::chrono::duration<double>(fig.to - fig.from).count());
    span_from = std::min(span_from, fig.from);
    span_to = std::max(span_to, fig.to);
    for (double l : fig.latency_ms) worst = std::max(worst, l), sum += l, ++count;
  }
  for (const auto &fig : figures)
    for (const auto &t : fig.arrivals) span_maps += t > span_from && t <= span_to;
  const double total_fps = span_maps / std::chrono::duration<double>(span_to - span_from).count();
  const auto c = first.model_instance()->counters();
  std::printf("frames_per_stream: %d\ntotal_frames_per_second: %.2f fps\nslowest_stream_frames_per_second: %.2f fps\n"
              "latency_ms_mean: %.1f ms\nlatency_ms_max: %.1f ms\n",
              frames, total_fps, slowest_fps, count ? sum / count : 0.0, worst);
  if (share)
    std::printf("forward_passes: %lld\nwindows_per_pass: %.2f\n", (long long)c.passes,
                c.passes ? double(c.windows) / double(c.passes) : 0.0);
  std::printf("wall_seconds: %.1f s\npeak_rss_mb: %.0f MB\n", wall, tools::peak_rss_mb());
  return 0;
}

// What users get (pipeline_bench.hpp): the element in a plain gst-launch-1.0
// against saliency-predict, each a process of its own on the same frames.
int bench_pipeline(const model::PredictorOptions &po, const std::string &model_name, int frames,
                   int width, int height, int rounds, int streams, bool share, const char *argv0) {
  tools::PipelineBenchOptions o;
  o.streams = streams;
  o.share_model = share;
  o.batch_timeout_ms = po.batch_timeout_ms;
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
  if (streams > 1) {
    // N branches in one gst-launch-1.0: each stream's seconds per frame, all of them together.
    std::printf("streams: %d\nshared_model: %s\nelement_command: %s\n"
                "element_seconds_per_frame_per_stream: %.6f s\nelement_total_frames_per_second: %.2f fps\n"
                "element_peak_rss_mb: %.0f MB\n",
                streams, share ? "yes" : "no", r.element.command.c_str(), r.element.seconds_per_frame,
                streams / r.element.seconds_per_frame, r.element.peak_rss_mb);
    return 0;
  }
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
  std::string flow_alg, preset = "fast", moved_quality, moved_blend;
  bool pipeline = false, channels_last = false, profile = false, no_stem_reuse = false;
  int frames = 0, width = 0, height = 0, rounds = 2, streams = 1, batch_timeout = 0;
  bool separate_models = false;
  tools::Args args(argc, argv, kProgram, kUsage);
  mf.add_to(args);
  args.option("--frames", &frames);
  args.option("--width", &width);
  args.option("--height", &height);
  args.option("--flow", &flow_alg);
  args.option("--preset", &preset);
  // The quality studies have a tool of their own; say where to, rather than "unknown argument".
  args.option("--interval-quality", &moved_quality);
  args.option("--interval-blend-maps", &moved_blend);
  args.flag("--pipeline", &pipeline);
  bool reframe = false;
  args.flag("--reframe", &reframe);
  args.flag("--channels-last", &channels_last);
  args.flag("--profile", &profile);
  args.flag("--no-stem-reuse", &no_stem_reuse);
  args.option("--rounds", &rounds);
  args.option("--streams", &streams);
  args.flag("--separate-models", &separate_models);
  args.option("--batch-timeout", &batch_timeout);
  args.parse();
  if (streams < 1) args.usage_error("--streams must be >= 1");
  if (batch_timeout < 0) args.usage_error("--batch-timeout must be >= 0 ms");
  if (!moved_quality.empty())
    args.usage_error("--interval-quality PATH is now saliency-interval-eval --input PATH");
  if (!moved_blend.empty()) args.usage_error("--interval-blend-maps PATH is now saliency-interval-eval --maps PATH");
  tools::set_threads(mf.threads);
  try {
    if (reframe)
      return bench_reframe(frames > 0 ? frames : 2000, width > 0 ? width : 384, height > 0 ? height : 224);
    if (!flow_alg.empty())
      return bench_flow(flow_alg, preset, frames > 0 ? frames : 300, width > 0 ? width : 384,
                        height > 0 ? height : 224);

    model::PredictorOptions po = mf.predictor_options();
    po.stsanet.channels_last = channels_last;
    po.stsanet.stem_reuse = !no_stem_reuse;
    po.batch_timeout_ms = batch_timeout;
    const bool deep = po.model != model::ModelKind::Baseline;
    if (width <= 0 || height <= 0) {
      width = po.model == model::ModelKind::STRANet ? 224 : 384;
      height = 224;
    }
    if (pipeline) {
      if (rounds < 1) tools::fail(kProgram, "--rounds must be >= 1");
      return bench_pipeline(po, mf.model, frames > 0 ? frames : (deep ? 8 : 150), width, height, rounds, streams,
                            !separate_models, argv[0]);
    }
    if (streams > 1 || separate_models) {
      if (frames <= 0) frames = deep ? 3 : 200;
      return bench_streams(po, std::max(1, streams), !separate_models, frames, width, height);
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
