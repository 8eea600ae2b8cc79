// saliency-bench --pipeline: what users get. The `saliency` element in a plain
// `gst-launch-1.0` and `saliency-predict` each run as a process of their own,
// started with the environment less LD_PRELOAD, MALLOC_* and the OpenMP/MKL
// thread settings, on the same PNG frames. Nothing of saliency-bench's own
// process (its tcmalloc, its thread count) helps either side.
//
// This header is free of GStreamer and LibTorch.
#pragma once

#include <functional>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

namespace tools {

struct PipelineBenchOptions {
  std::string model = "baseline";
  std::string weights;
  std::string device = "cpu";
  bool random_init = false;
  int batch = 1;
  int interval = 1;
  int threads = 0;        // passed on only when set (0: each side's default)
  int frames = 8;         // N: each side runs N and 2N frames
  int rounds = 2;         // best of this many runs of each
  int streams = 1;        // >1: N branches in one gst-launch-1.0 (the element side only)
  bool share_model = true;  // streams > 1: the branches share one model (model-instance-id)
  int batch_timeout_ms = 0;
  std::string predict;    // path of saliency-predict
  std::string plugin_dir; // prepended to GST_PLUGIN_PATH ("" = installed plugins only)
  std::function<void(const std::string &)> progress;
};

/// One side's figures: seconds per frame from the difference of the 2N- and
/// N-frame runs (start-up, model loading and the look-ahead drain cancel),
/// and the peak RSS of the 2N-frame run. With several streams: seconds per
/// frame of each stream (they run side by side).
struct SideFigures {
  double seconds_per_frame = 0;
  double peak_rss_mb = 0;
  std::string command;  // the 2N-frame command line, for the report
  // Every run's wall seconds, in the order run: the spread shows how far
  // the machine's load moved the best-of figures.
  std::vector<double> short_runs_s, long_runs_s;
};
struct PipelineBenchResult {
  SideFigures element, predict;
};

/// Writes `frames` (8-bit BGR; at least 2N of them) as PNGs into a temporary
/// folder and times both sides, alternating, `rounds` times each. Throws
/// std::runtime_error with a one-line reason (a side failed: its last line of
/// output; gst-launch-1.0 not found).
PipelineBenchResult run_pipeline_bench(const PipelineBenchOptions &options, const std::vector<cv::Mat> &frames);

}  // namespace tools
