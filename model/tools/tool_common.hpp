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

#include "saltools/cli.hpp"
#include "salmodel/predictor.hpp"

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

/// Applies --threads (0 = one per core) to LibTorch and OpenCV.
void set_threads(int threads);

/// Peak resident set size of this process in MiB.
double peak_rss_mb();

}  // namespace tools
