// saliency-appsink: read GstSaliencyMeta from an appsink in a C++ application.
//
// Runs a pipeline ending in `saliency ! appsink`, pulls every frame and prints, per frame, its
// timestamp, the size of the map the model produced, where the map peaks (in frame pixels) and
// its mean. The map is read through the meta library's C API (DESIGN.md "Metadata"):
// gst_buffer_get_saliency_meta() then gst_saliency_meta_get_map(), which hands out a reference
// to the map, not a copy.
//
// Build: part of the project (`ninja -C build examples/saliency-appsink`); against an installed
// library: g++ -std=c++17 saliency-appsink.cpp $(pkg-config --cflags --libs
// gstreamer-saliency-1.0 gstreamer-app-1.0). See examples/README.md for running it.
#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gst/saliency/gstsaliencymeta.h>
#include <gst/video/video.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

namespace {

const char kUsage[] =
    "Usage: saliency-appsink [--model NAME] [FILE]\n"
    "       saliency-appsink --pipeline 'DESCRIPTION ! appsink name=sink'\n"
    "\n"
    "Prints, for every frame: pts, saliency map size, peak location in frame pixels, mean.\n"
    "\n"
    "  (no FILE)        videotestsrc num-buffers=60 pattern=ball ! videoconvert\n"
    "                   ! saliency model=NAME ! appsink name=sink\n"
    "  FILE             filesrc location=FILE ! decodebin ! videoconvert\n"
    "                   ! saliency model=NAME ! appsink name=sink\n"
    "  --model NAME     model of the saliency element: baseline (default), stsanet, stranet,\n"
    "                   tinyhd (the deep models also need weights=...: use --pipeline)\n"
    "  --pipeline DESC  any gst-launch description with an appsink named \"sink\"\n"
    "\n"
    "Run from the build tree with GST_PLUGIN_PATH=<build>/gst/elements (see examples/README.md).\n";

template <typename T, void (*Unref)(T *)>
struct Unreffer {
  void operator()(T *p) const { Unref(p); }
};
void unref_object(GstElement *e) { gst_object_unref(e); }
void unref_bus(GstBus *b) { gst_object_unref(b); }
using ElementPtr = std::unique_ptr<GstElement, Unreffer<GstElement, unref_object>>;
using BusPtr = std::unique_ptr<GstBus, Unreffer<GstBus, unref_bus>>;
using SamplePtr = std::unique_ptr<GstSample, Unreffer<GstSample, gst_sample_unref>>;
using BytesPtr = std::unique_ptr<GBytes, Unreffer<GBytes, g_bytes_unref>>;

struct Options {
  std::string pipeline;  // gst-launch description
  std::string file;      // location of its element "src" (set as a property: no quoting issues)
};

// Parses the command line; returns false (after printing why) if it is not usable.
bool parse_args(int argc, char **argv, Options &opts, bool &help) {
  std::string model = "baseline", file, pipeline;
  help = false;
  for (int i = 1; i < argc; i++) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      help = true;
      return true;
    } else if ((arg == "--model" || arg == "--pipeline") && i + 1 < argc) {
      (arg == "--model" ? model : pipeline) = argv[++i];
    } else if (!arg.empty() && arg[0] == '-') {
      std::fprintf(stderr, "saliency-appsink: unknown or incomplete option '%s'\n", arg.c_str());
      return false;
    } else if (file.empty()) {
      file = arg;
    } else {
      std::fprintf(stderr, "saliency-appsink: more than one input file given ('%s')\n",
                   arg.c_str());
      return false;
    }
  }
  if (!pipeline.empty() && !file.empty()) {
    std::fprintf(stderr, "saliency-appsink: give a FILE or --pipeline, not both\n");
    return false;
  }
  if (!file.empty() && !g_file_test(file.c_str(), G_FILE_TEST_IS_REGULAR)) {
    std::fprintf(stderr, "saliency-appsink: %s: no such file\n", file.c_str());
    return false;
  }
  if (!pipeline.empty()) {
    opts.pipeline = pipeline;
  } else {
    const std::string tail = " ! videoconvert ! saliency model=" + model + " ! appsink name=sink";
    if (file.empty()) {
      opts.pipeline = "videotestsrc num-buffers=60 pattern=ball" + tail;
    } else {
      opts.pipeline = "filesrc name=src ! decodebin" + tail;
      opts.file = file;
    }
  }
  return true;
}

// Where the map peaks, in frame pixels, and its mean.
struct MapSummary {
  double peak_x = 0, peak_y = 0, peak_value = 0, mean = 0;
};

MapSummary summarise(const float *map, guint map_w, guint map_h, int frame_w, int frame_h) {
  MapSummary s;
  guint best = 0;
  double sum = 0;
  for (guint i = 0; i < map_w * map_h; i++) {
    sum += map[i];
    if (map[i] > map[best]) best = i;
  }
  // The map covers the whole frame: cell (x, y) is centred on ((x + 0.5) W / w, (y + 0.5) H / h).
  s.peak_x = (best % map_w + 0.5) * frame_w / map_w;
  s.peak_y = (best / map_w + 0.5) * frame_h / map_h;
  s.peak_value = map[best];
  s.mean = sum / (static_cast<double>(map_w) * map_h);
  return s;
}

void print_frame(guint64 index, GstSample *sample) {
  GstBuffer *buffer = gst_sample_get_buffer(sample);
  GstVideoInfo info;
  gst_video_info_init(&info);
  GstCaps *caps = gst_sample_get_caps(sample);
  if (!caps || !gst_video_info_from_caps(&info, caps)) {
    std::printf("frame %4" G_GUINT64_FORMAT ": not raw video\n", index);
    return;
  }
  char pts[32] = "none";
  if (GST_BUFFER_PTS_IS_VALID(buffer))
    g_snprintf(pts, sizeof pts, "%" GST_TIME_FORMAT, GST_TIME_ARGS(GST_BUFFER_PTS(buffer)));

  GstSaliencyMeta *meta = gst_buffer_get_saliency_meta(buffer);
  if (!meta) {
    std::printf("frame %4" G_GUINT64_FORMAT ": pts %s, no saliency meta\n", index, pts);
    return;
  }
  guint map_w = 0, map_h = 0;
  BytesPtr map(gst_saliency_meta_get_map(meta, &map_w, &map_h));  // a reference, not a copy
  const auto *values = static_cast<const float *>(g_bytes_get_data(map.get(), nullptr));
  MapSummary s = summarise(values, map_w, map_h, GST_VIDEO_INFO_WIDTH(&info),
                           GST_VIDEO_INFO_HEIGHT(&info));
  std::printf("frame %4" G_GUINT64_FORMAT ": pts %s, map %ux%u, peak %.3f at (%.1f, %.1f) px "
              "of %dx%d, mean %.4f\n",
              index, pts, map_w, map_h, s.peak_value, s.peak_x, s.peak_y,
              GST_VIDEO_INFO_WIDTH(&info), GST_VIDEO_INFO_HEIGHT(&info), s.mean);
}

// Returns the first ERROR on the bus as "element: message (debug)", or "" if none.
std::string pop_error(GstBus *bus) {
  GstMessage *msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
  if (!msg) return {};
  GError *err = nullptr;
  gchar *debug = nullptr;
  gst_message_parse_error(msg, &err, &debug);
  std::string text = std::string(GST_OBJECT_NAME(GST_MESSAGE_SRC(msg))) + ": " + err->message;
  if (debug) text += std::string(" (") + g_strdelimit(debug, "\r\n", ' ') + ")";  // one line
  g_clear_error(&err);
  g_free(debug);
  gst_message_unref(msg);
  return text;
}

}  // namespace

int main(int argc, char **argv) {
  gst_init(&argc, &argv);
  Options opts;
  bool help = false;
  if (!parse_args(argc, argv, opts, help)) {
    std::fprintf(stderr, "Run 'saliency-appsink --help' for usage.\n");
    return 2;
  }
  if (help) {
    std::fputs(kUsage, stdout);
    return 0;
  }

  GError *err = nullptr;
  ElementPtr pipeline(gst_parse_launch(opts.pipeline.c_str(), &err));
  if (!pipeline || err) {
    std::fprintf(stderr, "saliency-appsink: cannot build '%s': %s\n", opts.pipeline.c_str(),
                 err ? err->message : "unknown error");
    if (err && g_error_matches(err, GST_PARSE_ERROR, GST_PARSE_ERROR_NO_SUCH_ELEMENT))
      std::fprintf(stderr, "(is GST_PLUGIN_PATH set to the directory of the saliency plugin?)\n");
    g_clear_error(&err);
    return 1;
  }
  if (!opts.file.empty()) {
    ElementPtr src(gst_bin_get_by_name(GST_BIN(pipeline.get()), "src"));
    g_object_set(src.get(), "location", opts.file.c_str(), nullptr);
  }
  ElementPtr sink(GST_IS_BIN(pipeline.get()) ? gst_bin_get_by_name(GST_BIN(pipeline.get()), "sink")
                                            : nullptr);
  if (!sink || !GST_IS_APP_SINK(sink.get())) {
    std::fprintf(stderr, "saliency-appsink: the pipeline has no appsink named \"sink\"\n");
    return 1;
  }
  // Pull as fast as frames come: this is an analysis, not playback.
  g_object_set(sink.get(), "sync", FALSE, nullptr);
  BusPtr bus(gst_element_get_bus(pipeline.get()));

  if (gst_element_set_state(pipeline.get(), GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    std::string why = pop_error(bus.get());
    std::fprintf(stderr, "saliency-appsink: %s%sthe pipeline does not start: %s\n",
                 opts.file.c_str(), opts.file.empty() ? "" : ": ",
                 why.empty() ? "state change failed" : why.c_str());
    gst_element_set_state(pipeline.get(), GST_STATE_NULL);
    return 1;
  }

  // try_pull with a timeout so that an error (after which no EOS comes) ends the loop too.
  guint64 frames = 0;
  std::string error;
  GstAppSink *appsink = GST_APP_SINK(sink.get());
  while (error.empty() && !gst_app_sink_is_eos(appsink)) {
    SamplePtr sample(gst_app_sink_try_pull_sample(appsink, 100 * GST_MSECOND));
    if (sample)
      print_frame(frames++, sample.get());
    error = pop_error(bus.get());
  }
  gst_element_set_state(pipeline.get(), GST_STATE_NULL);
  if (!error.empty()) {
    std::fprintf(stderr, "saliency-appsink: %s%s%s\n", opts.file.c_str(),
                 opts.file.empty() ? "" : ": ", error.c_str());
    return 1;
  }
  std::printf("%" G_GUINT64_FORMAT " frames\n", frames);
  return 0;
}
