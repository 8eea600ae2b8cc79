// Small helpers shared by the model tools: progress, .npy output, threads and
// memory figures (argument parsing and staged output come from salflow/cli.hpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "salflow/cli.hpp"

namespace tools {

// Argument parsing, errors and staged output directories are shared with the
// flow tools (salflow/cli.hpp).
using flow::cli::Args;
using flow::cli::fail;
using flow::cli::StagedDir;

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

/// Applies --threads (0 = one per core) to LibTorch and OpenCV.
void set_threads(int threads);

/// Peak resident set size of this process in MiB.
double peak_rss_mb();

}  // namespace tools
