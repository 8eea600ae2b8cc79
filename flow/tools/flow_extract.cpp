// flow-extract: dense forward optical flow for every consecutive frame pair
// of a video, an image folder or a glob, written as Middlebury .flo files
// (DESIGN.md "Fixed interfaces"): NNNN.flo holds the flow from frame NNNN to
// the next frame, so the last frame has no file.
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <stdexcept>
#include <set>
#include <string>

#include <unistd.h>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "saltools/cli.hpp"
#include "salflow/estimator.hpp"
#include "salflow/flo_io.hpp"
#include "salflow/frame_source.hpp"

namespace {

constexpr const char *kProgram = "flow-extract";

constexpr const char *kUsage =
    "Usage: flow-extract --input PATH --output DIR [options]\n"
    "\n"
    "Computes dense forward optical flow between consecutive frames and writes one\n"
    "Middlebury .flo file per frame except the last: NNNN.flo holds the flow from\n"
    "frame NNNN to the next frame (u = right, v = down, in pixels of the frame).\n"
    "Frames are named after the image files (without extension), or 0001, 0002, ...\n"
    "for a video. DIR appears only when the whole run succeeded and then holds only\n"
    "this run's files.\n"
    "\n"
    "  --input PATH        a video file, a directory of frames (sorted by name) or a\n"
    "                      quoted glob such as 'frames/*.png'\n"
    "  --output DIR        output directory: created, or an existing empty one; a\n"
    "                      non-empty one is refused unless --overwrite\n"
    "  --overwrite         replace a non-empty DIR as a whole (its old files are removed\n"
    "                      once this run has succeeded; never merged)\n"
    "  --algorithm NAME    dis (default), farneback or tvl1 (slow)\n"
    "  --preset NAME       ultrafast, fast (default), medium or accurate\n"
    "  --visualize         also write DIR/vis/NNNN.png, the Middlebury colour-wheel image\n"
    "  --threads N         OpenCV worker threads (default: OpenCV's choice, one per core)\n"
    "  --quiet             no progress on stderr\n"
    "  -h, --help          show this help\n"
    "\n"
    "Exit status: 0 on success, 1 on an input or output error, 2 on a usage error.\n";

/// Progress on stderr: a self-updating line on a terminal, a line every 10 s otherwise.
class Progress {
 public:
  Progress(int total, bool quiet)
      : total_(total), quiet_(quiet), tty_(isatty(STDERR_FILENO) != 0),
        start_(std::chrono::steady_clock::now()), last_(start_) {}

  void update(int done) {
    if (quiet_) return;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::seconds(tty_ ? 1 : 10)) return;
    last_ = now;
    const double rate = done / std::max(seconds(), 1e-9);
    if (total_ > 0)
      std::fprintf(stderr, "%s%s: %d/%d flows, %.1f flows/s%s", tty_ ? "\r" : "", kProgram, done,
                   total_, rate, tty_ ? "   " : "\n");
    else
      std::fprintf(stderr, "%s%s: %d flows, %.1f flows/s%s", tty_ ? "\r" : "", kProgram, done, rate,
                   tty_ ? "   " : "\n");
    std::fflush(stderr);
  }
  void clear() {
    if (!quiet_ && tty_) std::fputs("\r\033[K", stderr);
  }
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  int total_;
  bool quiet_, tty_;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace

int main(int argc, char **argv) {
  std::string input, output, algorithm_name = "dis", preset_name = "fast";
  bool visualize = false, quiet = false, overwrite = false;
  int threads = -1;
  tools::cli::Args args(argc, argv, kProgram, kUsage);
  args.option("--input", &input);
  args.option("--output", &output);
  args.option("--algorithm", &algorithm_name);
  args.option("--preset", &preset_name);
  args.option("--threads", &threads);
  args.flag("--visualize", &visualize);
  args.flag("--quiet", &quiet);
  args.flag("--overwrite", &overwrite);
  args.parse();
  args.require("--input", input);
  args.require("--output", output);

  flow::Algorithm algorithm;
  flow::Preset preset;
  try {
    algorithm = flow::parse_algorithm(algorithm_name);
    preset = flow::parse_preset(preset_name);
  } catch (const std::invalid_argument &e) {
    args.usage_error(e.what());
  }
  if (threads == 0 || threads < -1) args.usage_error("--threads must be a positive number");
  if (threads > 0) cv::setNumThreads(threads);

  try {
    // First: a refused output folder stops the run before any input is read.
    tools::cli::StagedDir staged(output, overwrite);
    flow::FrameSource source(input);
    auto estimator = flow::create_estimator(algorithm, preset);
    if (visualize) {
      std::error_code ec;
      std::filesystem::create_directory(staged.file("vis"), ec);
      if (ec) throw std::runtime_error(staged.file("vis") + ": cannot create directory: " + ec.message());
    }

    const int total = source.frame_count_hint() > 0 ? source.frame_count_hint() - 1 : -1;
    Progress progress(total, quiet);
    cv::Mat prev, next, flow_px;
    std::string prev_name;
    std::set<std::string> names;
    int written = 0;
    if (source.read(prev)) prev_name = source.frame_name();
    while (source.read(next)) {
      // Two images with the same stem (a.png, a.jpg) would map to one .flo.
      if (!names.insert(prev_name).second)
        throw std::runtime_error(input + ": two frames share the name '" + prev_name +
                                 "'; rename them so each frame has a unique name");
      try {
        estimator->calc(prev, next, flow_px);
      } catch (const cv::Exception &e) {
        throw std::runtime_error(input + ": frame " + prev_name + ": optical flow failed: " + e.err);
      } catch (const std::invalid_argument &e) {
        throw std::runtime_error(input + ": frame " + prev_name + ": " + e.what());
      }
      flow::write_flo(staged.file(prev_name + ".flo"), flow_px);
      if (visualize && !cv::imwrite(staged.file("vis/" + prev_name + ".png"),
                                    flow::visualize_flow(flow_px)))
        throw std::runtime_error(staged.file("vis/" + prev_name + ".png") + ": cannot write image");
      ++written;
      progress.update(written);
      std::swap(prev, next);
      prev_name = source.frame_name();
    }
    progress.clear();
    if (written == 0)
      throw std::runtime_error(input + ": needs at least two frames to compute flow, found " +
                               (prev.empty() ? std::string("none") : std::string("one")));
    staged.commit();
    if (!quiet)
      std::fprintf(stderr, "%s: wrote %d flows (%s, %s) to %s in %.1f s (%.1f flows/s)\n", kProgram,
                   written, flow::to_string(algorithm), flow::to_string(preset),
                   staged.final_path().c_str(), progress.seconds(),
                   written / std::max(progress.seconds(), 1e-9));
  } catch (const cv::Exception &e) {  // e.g. a video backend failing mid-stream
    tools::cli::fail(kProgram, input + ": " + e.err);
  } catch (const std::exception &e) {
    // FrameSource, FlowFileError, StagedDir and the messages above name the file.
    tools::cli::fail(kProgram, e.what());
  }
  return 0;
}
