// saliency-bench --pipeline, GStreamer side: appsrc ! saliency ! fakesink with
// the frames the bare Predictor gets (model/tools/pipeline_bench.hpp).
#include "pipeline_bench.hpp"

#include <gst/app/gstappsrc.h>
#include <gst/gst.h>
#include <gst/video/video.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <stdexcept>

namespace tools {

namespace {

struct Unref {
  void operator()(gpointer object) const { gst_object_unref(object); }
};
using ElementPtr = std::unique_ptr<GstElement, Unref>;
using BusPtr = std::unique_ptr<GstBus, Unref>;

// The element from the usual registry (GST_PLUGIN_PATH, installed plugins),
// or from this build tree's plugin when saliency-bench runs uninstalled.
void ensure_plugin() {
  if (GstElementFactory *f = gst_element_factory_find("saliency")) {
    gst_object_unref(f);
    return;
  }
#ifdef SALIENCY_PLUGIN_DIR
  gst_registry_scan_path(gst_registry_get(), SALIENCY_PLUGIN_DIR);
  if (GstElementFactory *f = gst_element_factory_find("saliency")) {
    gst_object_unref(f);
    return;
  }
#endif
  throw std::runtime_error(
      "GStreamer element 'saliency' not found (build the plugin and set GST_PLUGIN_PATH to "
      "<build>/gst/elements)");
}

std::string error_text(GstMessage *message) {
  GError *error = nullptr;
  gchar *debug = nullptr;
  gst_message_parse_error(message, &error, &debug);
  std::string text = error ? error->message : "unknown error";
  if (debug) text += std::string(" (") + debug + ")";
  g_clear_error(&error);
  g_free(debug);
  return text;
}

}  // namespace

double run_saliency_pipeline(const PipelineBenchOptions &options,
                             const std::vector<cv::Mat> &frames) {
  if (frames.empty()) throw std::runtime_error("pipeline benchmark: no frames");
  gst_init(nullptr, nullptr);
  ensure_plugin();
  const int width = frames[0].cols, height = frames[0].rows;

  std::string description =
      "appsrc name=src format=time ! saliency name=saliency model=" + options.model +
      " device=" + options.device + " batch=" + std::to_string(options.batch) +
      " interval=" + std::to_string(options.interval) +
      (options.random_init ? " random-init=true" : "") + " ! fakesink sync=false";
  GError *error = nullptr;
  ElementPtr pipeline(gst_parse_launch(description.c_str(), &error));
  if (error) {
    const std::string text = error->message;
    g_clear_error(&error);
    throw std::runtime_error("pipeline benchmark: " + text);
  }
  if (!options.weights.empty()) {
    ElementPtr saliency(gst_bin_get_by_name(GST_BIN(pipeline.get()), "saliency"));
    g_object_set(saliency.get(), "weights", options.weights.c_str(), nullptr);
  }
  ElementPtr src(gst_bin_get_by_name(GST_BIN(pipeline.get()), "src"));
  GstVideoInfo info;
  gst_video_info_set_format(&info, GST_VIDEO_FORMAT_BGR, width, height);
  GST_VIDEO_INFO_FPS_N(&info) = 30;
  GST_VIDEO_INFO_FPS_D(&info) = 1;
  GstCaps *caps = gst_video_info_to_caps(&info);
  // An unbounded queue: pushing never blocks, so a pipeline error cannot
  // leave this thread waiting (the buffers exist already anyway).
  g_object_set(src.get(), "caps", caps, "max-bytes", (guint64)0, nullptr);
  gst_caps_unref(caps);

  // Buffers are made before the clock starts: the source's cost is not the element's.
  std::vector<GstBuffer *> buffers;
  buffers.reserve(frames.size());
  const GstClockTime duration = gst_util_uint64_scale_int(GST_SECOND, 1, 30);
  for (std::size_t i = 0; i < frames.size(); ++i) {
    const cv::Mat &f = frames[i];
    GstBuffer *b = gst_buffer_new_allocate(nullptr, GST_VIDEO_INFO_SIZE(&info), nullptr);
    GstMapInfo map;
    gst_buffer_map(b, &map, GST_MAP_WRITE);
    const std::size_t stride = GST_VIDEO_INFO_PLANE_STRIDE(&info, 0);
    for (int y = 0; y < height; ++y)
      std::memcpy(map.data + y * stride, f.ptr(y), std::size_t(width) * 3);
    gst_buffer_unmap(b, &map);
    GST_BUFFER_PTS(b) = i * duration;
    GST_BUFFER_DURATION(b) = duration;
    buffers.push_back(b);
  }

  BusPtr bus(gst_element_get_bus(pipeline.get()));
  // READY -> PAUSED builds the model (the element's start()); a failure shows here.
  if (gst_element_set_state(pipeline.get(), GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    for (GstBuffer *b : buffers) gst_buffer_unref(b);
    std::string text = "could not start the pipeline";
    if (GstMessage *m = gst_bus_pop_filtered(bus.get(), GST_MESSAGE_ERROR)) {
      text = error_text(m);
      gst_message_unref(m);
    }
    gst_element_set_state(pipeline.get(), GST_STATE_NULL);
    throw std::runtime_error("pipeline benchmark: " + text);
  }

  const auto t0 = std::chrono::steady_clock::now();
  for (GstBuffer *b : buffers)
    gst_app_src_push_buffer(GST_APP_SRC(src.get()), b);  // takes ownership
  gst_app_src_end_of_stream(GST_APP_SRC(src.get()));
  GstMessage *m = gst_bus_timed_pop_filtered(bus.get(), GST_CLOCK_TIME_NONE,
                                             GstMessageType(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::string failure;
  if (m && GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR) failure = error_text(m);
  if (m) gst_message_unref(m);
  gst_element_set_state(pipeline.get(), GST_STATE_NULL);
  if (!failure.empty()) throw std::runtime_error("pipeline benchmark: " + failure);
  return seconds;
}

}  // namespace tools
