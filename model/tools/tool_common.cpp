#include "tool_common.hpp"

#include <cstdio>
#include <cstdlib>
#include <stdlib.h>
#include <filesystem>
#include <fstream>
#include <random>
#include <sys/resource.h>
#include <thread>
#include <unistd.h>

#include <ATen/Parallel.h>
#include <opencv2/core.hpp>
#include <opencv2/core/utils/logger.hpp>

#include "salflow/flo_io.hpp"
#include "salflow/frame_source.hpp"
#include "salmodel/cpu_runtime.hpp"

namespace fs = std::filesystem;

namespace tools {

void write_npy(const std::string &path, const float *values, int height, int width) {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(height) + ", " +
                       std::to_string(width) + "), }";
  // Magic (6) + version (2) + length (2) + header + '\n' must be a multiple of 64.
  const std::size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header.push_back('\n');
  std::ofstream out(path, std::ios::binary);
  const char magic[] = "\x93NUMPY\x01\x00";
  out.write(magic, 8);
  const std::uint16_t len = std::uint16_t(header.size());
  const char len_bytes[2] = {char(len & 0xff), char(len >> 8)};
  out.write(len_bytes, 2);
  out.write(header.data(), std::streamsize(header.size()));
  out.write(reinterpret_cast<const char *>(values), std::streamsize(sizeof(float)) * height * width);
  if (!out) throw std::runtime_error(path + ": write failed");
}

Progress::Progress(std::string label, int total, bool quiet, std::string unit)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), quiet_(quiet), tty_(isatty(STDERR_FILENO)) {
  start_ = last_ = std::chrono::steady_clock::now();
}

void Progress::update(int done) {
  if (quiet_) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_ < std::chrono::seconds(tty_ ? 1 : 10)) return;
  last_ = now;
  const double s = std::chrono::duration<double>(now - start_).count();
  const double rate = done / std::max(s, 1e-9);
  if (total_ > 0) {
    const double eta = rate > 0 ? (total_ - done) / rate : 0.0;
    std::fprintf(stderr, "%s%s: %d/%d %s, %.1f %s/s, ETA %.0f s%s", tty_ ? "\r" : "", label_.c_str(), done,
                 total_, unit_.c_str(), rate, unit_.c_str(), std::max(0.0, eta), tty_ ? "   " : "\n");
  } else {
    std::fprintf(stderr, "%s%s: %d %s, %.1f %s/s%s", tty_ ? "\r" : "", label_.c_str(), done, unit_.c_str(),
                 rate, unit_.c_str(), tty_ ? "   " : "\n");
  }
  std::fflush(stderr);
}

void Progress::finish(int done) {
  if (quiet_) return;
  if (tty_) std::fputs("\r\033[K", stderr);
  (void)done;
}

void ModelFlags::add_to(Args &args) {
  args.option("--model", &model);
  args.option("--weights", &weights);
  args.flag("--random-init", &random_init);
  args.option("--device", &device);
  args.option("--precision", &precision);
  args.flag("--cuda-graphs", &cuda_graphs);
  args.option("--batch", &batch);
  args.option("--interval", &interval);
  args.option("--threads", &threads);
}

void ModelFlags::check(Args &args) const {
  if (batch < 1 || interval < 1) args.usage_error("--batch and --interval must be >= 1");
}

model::PredictorOptions ModelFlags::predictor_options() const {
  model::PredictorOptions po;
  po.model = model::parse_model_kind(model);
  po.weights = weights;
  po.random_init = random_init;
  po.device = model::parse_device(device);
  po.precision = model::parse_precision(precision);
  po.cuda_graphs = cuda_graphs;
  po.batch = batch;
  po.interval = interval;
  po.threads = threads;
  return po;
}

int run_predictor(model::Predictor &predictor, flow::FrameSource &source, const std::string &flow_dir,
                  const std::function<void(const cv::Mat &bgr, const std::string &name)> &on_frame,
                  const std::function<void(model::SaliencyMap &map)> &on_map, Progress *progress) {
  cv::Mat bgr, flow_buf;
  std::string prev_name;
  int frames = 0;
  const bool precomputed = !flow_dir.empty() && predictor.needs_flow();
  while (source.read(bgr)) {
    model::FrameView fv{bgr.data, bgr.cols, bgr.rows, bgr.step, model::PixelFormat::BGR};
    model::FlowView flow_view;
    const model::FlowView *flow_ptr = nullptr;
    if (precomputed && frames > 0) {
      const std::string flo = (fs::path(flow_dir) / (prev_name + ".flo")).string();
      if (!fs::exists(flo)) throw std::runtime_error(flo + ": missing flow file for frame " + prev_name);
      flow_buf = flow::read_flo(flo);
      flow_view = {reinterpret_cast<const float *>(flow_buf.data), flow_buf.cols, flow_buf.rows, flow_buf.step,
                   bgr.cols, bgr.rows};
      // .flo vectors are in pixels of the flow's own grid: express them in frame pixels.
      if (flow_buf.cols != bgr.cols || flow_buf.rows != bgr.rows) {
        std::vector<cv::Mat> uv;
        cv::split(flow_buf, uv);
        uv[0] *= double(bgr.cols) / flow_buf.cols;
        uv[1] *= double(bgr.rows) / flow_buf.rows;
        cv::merge(uv, flow_buf);
        flow_view.data = reinterpret_cast<const float *>(flow_buf.data);
        flow_view.stride = flow_buf.step;
      }
      flow_ptr = &flow_view;
    }
    on_frame(bgr, source.frame_name());
    for (model::SaliencyMap &m : predictor.push(fv, flow_ptr)) on_map(m);
    prev_name = source.frame_name();
    ++frames;
    if (progress) progress->update(frames);
  }
  for (model::SaliencyMap &m : predictor.finish()) on_map(m);
  return frames;
}

void set_threads(int threads) {
  // The Predictor's rule, so a tool and the element agree on "one per core".
  const int n = model::resolve_thread_count(threads);
  at::set_num_threads(n);
  cv::setNumThreads(n);
  // Our errors are one line; OpenCV's and FFmpeg's own messages while probing
  // a bad file would bury them. (FFmpeg's level is read when OpenCV first opens
  // a video; the user's own setting wins.)
  cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_ERROR);
  setenv("OPENCV_FFMPEG_LOGLEVEL", "-8", /*overwrite=*/0);
}

double peak_rss_mb() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;  // Linux reports KiB
}

}  // namespace tools
