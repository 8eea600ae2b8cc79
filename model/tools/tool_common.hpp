// Small helpers shared by the model tools: progress, .npy output, threads and
// memory figures (argument parsing and staged output come from saltools/cli.hpp,
// the helpers every tool shares).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <opencv2/core/mat.hpp>

#include "saltools/cli.hpp"
#include "salmodel/predictor.hpp"

namespace flow {
class FrameSource;
}

namespace tools {

// Argument parsing, errors and staged output directories are shared with the
// flow tools (saltools/cli.hpp).
using cli::Args;
using cli::fail;
using cli::StagedDir;

/// Writes a 2-D float32 array as NumPy .npy (version 1.0, little endian, C order).
void write_npy(const std::string &path, const float *values, int height, int width);

/// Rate-limited progress line on stderr ("label: 120/300 frames, 45.2 frames/s, ETA 4 s").
/// `unit` names what is counted ("frames", "steps", "clips").
class Progress {
 public:
  Progress(std::string label, int total, bool quiet, std::string unit = "frames");
  void update(int done);
  /// Changes the label shown from the next update on (e.g. a running loss).
  void set_label(std::string label) { label_ = std::move(label); }
  void finish(int done);

 private:
  std::string label_, unit_;
  int total_;
  bool quiet_, tty_;
  std::chrono::steady_clock::time_point start_, last_;
};

/// The flags of every tool that runs a model through the Predictor, declared
/// once: --model, --weights, --random-init, --device, --precision,
/// --cuda-graphs, --batch, --interval, --threads. Strings are parsed into the
/// Predictor's options here, at the edge, and nowhere else in the tools.
struct ModelFlags {
  std::string model, weights, device = "cpu", precision = "fp32";
  bool random_init = false, cuda_graphs = false;
  int batch = 1, interval = 1, threads = 0;

  /// Registers the flags with `args` (before args.parse()).
  void add_to(Args &args);
  /// Exits with a usage error for a --batch or --interval below 1.
  void check(Args &args) const;
  /// Throws model::ModelError naming an unknown --model.
  model::PredictorOptions predictor_options() const;
};

/// Runs every frame of `source` through `predictor` as saliency-predict does,
/// then finish(). With `flow_dir` (--flow DIR) and a model that needs flow,
/// every frame after the first gets the forward flow DIR/<previous frame's
/// name>.flo, its vectors rescaled to frame pixels when the .flo is of
/// another size. on_frame(bgr, name) sees each frame before it is pushed;
/// on_map(map) gets every map in frame order (the i-th map is the i-th
/// frame's). `progress` (optional) is updated after each push. Returns the
/// number of frames; throws naming a missing or bad flow file, and passes on
/// what the callbacks and the predictor throw.
int run_predictor(model::Predictor &predictor, flow::FrameSource &source, const std::string &flow_dir,
                  const std::function<void(const cv::Mat &bgr, const std::string &name)> &on_frame,
                  const std::function<void(model::SaliencyMap &map)> &on_map, Progress *progress = nullptr);

/// Applies --threads (0 = one per core) to LibTorch and OpenCV.
void set_threads(int threads);

/// Peak resident set size of this process in MiB.
double peak_rss_mb();

}  // namespace tools
