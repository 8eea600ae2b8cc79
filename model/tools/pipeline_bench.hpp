// saliency-bench --pipeline: the `saliency` element's cost over the bare
// model::Predictor on the same frames. The measurement itself needs GStreamer,
// so its source lives with the elements (gst/tools/pipeline_bench.cpp) and is
// compiled into saliency-bench only when the gst/ layer is built
// (SALIENCY_BENCH_PIPELINE). This header is free of GStreamer and LibTorch.
#pragma once

#include <opencv2/core.hpp>
#include <string>
#include <vector>

namespace tools {

/// The element's settings (the same meaning as PredictorOptions).
struct PipelineBenchOptions {
  std::string model = "baseline";
  std::string weights;
  std::string device = "cpu";
  bool random_init = false;
  int batch = 1;
  int interval = 1;
};

/// Seconds to run `frames` (8-bit BGR, all the same size) through
/// appsrc ! saliency ! fakesink sync=false, from the first push to EOS (the
/// element's model is built before the clock starts, as a Predictor is).
/// Throws std::runtime_error with a one-line reason (plugin not found,
/// pipeline error).
double run_saliency_pipeline(const PipelineBenchOptions &options,
                             const std::vector<cv::Mat> &frames);

}  // namespace tools
