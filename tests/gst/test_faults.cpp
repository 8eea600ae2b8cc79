// Fault tests of the plugin in whole pipelines (issue 9): bad weights, unknown
// model, unavailable device, caps changes, flushing seeks, EOS before a window
// fills, state cycles, property changes while PLAYING, and a 10,000-frame soak;
// saliency's inference thread (issue 17): back-pressure from a non-live source,
// frames skipping the model for a live one, seeks and stops without queues.
// Each must end in a clean error message or in correct output: never a crash,
// a hang (every wait has a deadline) or a GLib critical/warning.
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/saliency/gstsaliencymeta.h>
#include <gst/video/video.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gst_test_support.hpp"
#include "test_support.hpp"

namespace {

using gsttest::BufferPtr;
using gsttest::BusPtr;
using gsttest::ElementPtr;
using gsttest::LogCounter;

constexpr GstClockTime kDeadline = 120 * GST_SECOND;  // a hang, not a slow machine

class FaultTest : public gsttest::PluginTest {};

ElementPtr parse(const std::string &launch) {
  GError *error = nullptr;
  GstElement *p = gst_parse_launch_full(launch.c_str(), nullptr, GST_PARSE_FLAG_FATAL_ERRORS, &error);
  EXPECT_EQ(error, nullptr) << launch << ": " << (error ? error->message : "");
  if (error) g_error_free(error);
  return ElementPtr(p ? GST_ELEMENT(gst_object_ref_sink(p)) : nullptr);
}

GstElement *by_name(GstElement *pipeline, const char *name) {
  GstElement *e = gst_bin_get_by_name(GST_BIN(pipeline), name);
  EXPECT_NE(e, nullptr) << name;
  if (e) gst_object_unref(e);  // the bin keeps it alive
  return e;
}

// How a pipeline run ended.
struct Outcome {
  bool eos = false;
  bool timed_out = false;
  std::string error;   // message of the first ERROR, empty when none
  std::string debug;   // its debug string
  std::string source;  // name of the element that posted it
  GQuark domain = 0;
  int code = 0;
};

// Waits for EOS or ERROR (or the deadline) on the pipeline's bus.
Outcome wait_for_end(GstElement *pipeline, GstClockTime deadline = kDeadline) {
  Outcome o;
  BusPtr bus(gst_element_get_bus(pipeline));
  GstMessage *m = gst_bus_timed_pop_filtered(
      bus.get(), deadline, (GstMessageType)(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  if (!m) {
    o.timed_out = true;
    return o;
  }
  if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_EOS) {
    o.eos = true;
  } else {
    GError *err = nullptr;
    gchar *debug = nullptr;
    gst_message_parse_error(m, &err, &debug);
    o.error = err->message;
    o.domain = err->domain;
    o.code = err->code;
    o.debug = debug ? debug : "";
    o.source = GST_MESSAGE_SRC_NAME(m) ? GST_MESSAGE_SRC_NAME(m) : "";
    g_error_free(err);
    g_free(debug);
  }
  gst_message_unref(m);
  return o;
}

// Runs a pipeline to its end and back to NULL.
Outcome run(const std::string &launch) {
  ElementPtr p = parse(launch);
  if (!p) return Outcome{};
  gst_element_set_state(p.get(), GST_STATE_PLAYING);
  Outcome o = wait_for_end(p.get());
  EXPECT_EQ(gst_element_set_state(p.get(), GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  return o;
}

// Pulls samples until EOS; `on_sample` sees each. False on a timeout.
template <typename F>
bool pull_until_eos(GstElement *sink, F on_sample, GstClockTime deadline = kDeadline) {
  while (true) {
    GstSample *s = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), deadline);
    if (!s) return gst_app_sink_is_eos(GST_APP_SINK(sink));
    on_sample(s);
    gst_sample_unref(s);
  }
}

bool has_valid_map(GstBuffer *buf) {
  GstSaliencyMeta *meta = gst_buffer_get_saliency_meta(buf);
  if (!meta) return false;
  guint w = 0, h = 0;
  GBytes *bytes = gst_saliency_meta_get_map(meta, &w, &h);
  gsize size = 0;
  const float *v = (const float *)g_bytes_get_data(bytes, &size);
  bool ok = w > 0 && h > 0 && size == (gsize)w * h * sizeof(float);
  for (gsize i = 0; ok && i < size / sizeof(float); i++) ok = v[i] >= 0.f && v[i] <= 1.f;
  g_bytes_unref(bytes);
  return ok;
}

BufferPtr rgb_frame(int w, int h, int index) {
  GstVideoInfo info;
  gst_video_info_set_format(&info, GST_VIDEO_FORMAT_RGB, w, h);
  GstBuffer *buf = gst_buffer_new_allocate(nullptr, info.size, nullptr);
  GstMapInfo map;
  gst_buffer_map(buf, &map, GST_MAP_WRITE);
  for (gsize i = 0; i < map.size; i++) map.data[i] = (guint8)((i * 7 + index * 13) & 0xff);
  gst_buffer_unmap(buf, &map);
  GST_BUFFER_PTS(buf) = index * (GST_SECOND / 25);
  GST_BUFFER_DURATION(buf) = GST_SECOND / 25;
  return BufferPtr(buf);
}

std::string rgb_caps(int w, int h) {
  return "video/x-raw,format=RGB,width=" + std::to_string(w) + ",height=" + std::to_string(h) +
         ",framerate=25/1";
}

// Resident set size of this process, in bytes (/proc/self/statm).
long resident_bytes() {
  long pages_total = 0, pages_resident = 0;
  std::FILE *f = std::fopen("/proc/self/statm", "r");
  if (!f) return -1;
  if (std::fscanf(f, "%ld %ld", &pages_total, &pages_resident) != 2) pages_resident = -1;
  std::fclose(f);
  return pages_resident * sysconf(_SC_PAGESIZE);
}

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

const char *kSource =
    "videotestsrc num-buffers=6 pattern=ball ! video/x-raw,format=RGB,width=64,height=48,framerate=25/1";

}  // namespace

// ------------------------------------------------------------------ weights, model, device

TEST_F(FaultTest, BadWeightsFilesEndInAnErrorNamingTheFile) {
  testsupport::TempDir tmp;
  struct Case {
    const char *model;
    std::string path;
    std::string content;  // written unless empty and `create` is false
    bool create;
  };
  const std::vector<Case> cases = {
      {"stsanet", tmp / "missing.pth", "", false},
      {"stranet", tmp / "missing.h5", "", false},
      // A zip signature followed by garbage: a truncated download. (Each
      // existing file costs building the network first, hence few cases here;
      // tests/bad_input_cases.sh tries many more through saliency-predict.)
      {"stsanet", tmp / "truncated.pth", std::string("PK\x03\x04\x14\x00\x00\x00", 8) + "garbage", true},
      {"stranet", tmp / "not-hdf5.h5", "\x89HDF\r\n\x1a\n but nothing after the signature", true},
  };
  for (const Case &c : cases) {
    SCOPED_TRACE(std::string(c.model) + " " + c.path);
    if (c.create) std::ofstream(c.path, std::ios::binary) << c.content;
    const Outcome o = run(std::string(kSource) + " ! saliency name=s model=" + c.model +
                          " weights=\"" + c.path + "\" ! fakesink");
    EXPECT_FALSE(o.timed_out);
    EXPECT_FALSE(o.eos) << "a bad weights file must not run";
    EXPECT_EQ(o.source, "s");
    EXPECT_EQ(o.domain, GST_RESOURCE_ERROR) << o.error;
    EXPECT_NE(o.error.find(c.path), std::string::npos) << "message must name the file: " << o.error;
    EXPECT_FALSE(o.debug.empty());
  }
  // A directory given as weights.
  const Outcome o = run(std::string(kSource) + " ! saliency model=stsanet weights=\"" + tmp.path() +
                        "\" ! fakesink");
  EXPECT_FALSE(o.eos);
  EXPECT_NE(o.error.find(tmp.path()), std::string::npos) << o.error;
}

TEST_F(FaultTest, UnknownModelNameIsRefusedAndTheDefaultStays) {
  ElementPtr el(GST_ELEMENT(gst_object_ref_sink(gst_element_factory_make("saliency", nullptr))));
  gst_util_set_object_arg(G_OBJECT(el.get()), "model", "nonexistent");
  gint model = -1;
  g_object_get(el.get(), "model", &model, nullptr);
  GEnumClass *klass = (GEnumClass *)g_type_class_ref(
      G_PARAM_SPEC_VALUE_TYPE(g_object_class_find_property(G_OBJECT_GET_CLASS(el.get()), "model")));
  GEnumValue *v = g_enum_get_value(klass, model);
  ASSERT_NE(v, nullptr);
  EXPECT_STREQ(v->value_nick, "baseline");
  g_type_class_unref(klass);
  // The same on a launch line is a parse error, before anything runs.
  GError *error = nullptr;
  GstElement *p = gst_parse_launch_full("videotestsrc ! saliency model=stsanet2 ! fakesink", nullptr,
                                        GST_PARSE_FLAG_FATAL_ERRORS, &error);
  ASSERT_NE(error, nullptr);
  EXPECT_NE(std::string(error->message).find("stsanet2"), std::string::npos) << error->message;
  g_error_free(error);
  if (p) gst_object_unref(p);
}

TEST_F(FaultTest, UnavailableDeviceEndsInAClearError) {
  const Outcome o = run(std::string(kSource) + " ! saliency name=s device=cuda ! fakesink");
  if (o.eos) GTEST_SKIP() << "this machine has CUDA: device=cuda ran";
  EXPECT_FALSE(o.timed_out);
  EXPECT_EQ(o.source, "s");
  EXPECT_EQ(o.domain, GST_RESOURCE_ERROR);
  EXPECT_NE(o.debug.find("cuda"), std::string::npos) << o.debug;
}

// ------------------------------------------------------------------ stream changes

TEST_F(FaultTest, ResolutionChangeMidStreamGivesCorrectOutputAfterIt) {
  ElementPtr p = parse(
      "appsrc name=src format=time ! opticalflow ! saliency batch=2 ! saliencyoverlay ! "
      "saliencyroi ! appsink name=sink sync=false");
  ASSERT_TRUE(p);
  GstElement *src = by_name(p.get(), "src");
  GstElement *sink = by_name(p.get(), "sink");
  ASSERT_EQ(gst_element_set_state(p.get(), GST_STATE_PLAYING), GST_STATE_CHANGE_ASYNC);
  const int sizes[3][2] = {{96, 64}, {64, 48}, {96, 64}};
  int index = 0;
  for (const auto &s : sizes) {
    GstCaps *caps = gst_caps_from_string(rgb_caps(s[0], s[1]).c_str());
    gst_app_src_set_caps(GST_APP_SRC(src), caps);
    gst_caps_unref(caps);
    for (int i = 0; i < 5; i++, index++)
      ASSERT_EQ(gst_app_src_push_buffer(GST_APP_SRC(src), rgb_frame(s[0], s[1], index).release()),
                GST_FLOW_OK);
  }
  gst_app_src_end_of_stream(GST_APP_SRC(src));
  std::vector<std::pair<int, int>> out_sizes;
  int with_maps = 0;
  EXPECT_TRUE(pull_until_eos(sink, [&](GstSample *s) {
    GstVideoInfo info;
    ASSERT_TRUE(gst_video_info_from_caps(&info, gst_sample_get_caps(s)));
    GstBuffer *b = gst_sample_get_buffer(s);
    EXPECT_EQ(gst_buffer_get_size(b), info.size) << "buffer does not match its caps";
    out_sizes.emplace_back(info.width, info.height);
    with_maps += has_valid_map(b);
  }));
  BusPtr bus(gst_element_get_bus(p.get()));
  GstMessage *err = gst_bus_pop_filtered(bus.get(), GST_MESSAGE_ERROR);
  EXPECT_EQ(err, nullptr) << "unexpected error";
  if (err) gst_message_unref(err);
  gst_element_set_state(p.get(), GST_STATE_NULL);
  ASSERT_EQ(out_sizes.size(), 15u);
  for (int k = 0; k < 15; k++) {
    EXPECT_EQ(out_sizes[k].first, sizes[k / 5][0]) << "frame " << k;
    EXPECT_EQ(out_sizes[k].second, sizes[k / 5][1]) << "frame " << k;
  }
  EXPECT_EQ(with_maps, 15);
}

TEST_F(FaultTest, FlushingSeekRestartsTheStreamCleanly) {
  ElementPtr p = parse(
      "videotestsrc pattern=ball num-buffers=80 ! video/x-raw,format=RGB,width=64,height=48,"
      "framerate=25/1 ! opticalflow ! queue ! saliency batch=4 ! queue ! saliencyoverlay ! "
      "appsink name=sink sync=false max-buffers=4");
  ASSERT_TRUE(p);
  GstElement *sink = by_name(p.get(), "sink");
  gst_element_set_state(p.get(), GST_STATE_PLAYING);
  int before = 0, after_missing_map = 0;
  bool seeked = false;
  std::vector<GstClockTime> after;  // timestamps after the seek
  const bool done = pull_until_eos(sink, [&](GstSample *s) {
    GstBuffer *b = gst_sample_get_buffer(s);
    if (!seeked) {
      if (++before == 20) {
        // From the streaming side of appsink: a flushing seek back to the start.
        seeked = gst_element_seek_simple(p.get(), GST_FORMAT_TIME,
                                         (GstSeekFlags)(GST_SEEK_FLAG_FLUSH | GST_SEEK_FLAG_ACCURATE), 0);
        EXPECT_TRUE(seeked);
      }
      return;
    }
    after.push_back(GST_BUFFER_PTS(b));
    if (!has_valid_map(b)) after_missing_map++;
  });
  EXPECT_TRUE(done) << "no EOS after the seek (hang?)";
  Outcome o = wait_for_end(p.get(), 5 * GST_SECOND);
  EXPECT_TRUE(o.error.empty()) << o.error << " " << o.debug;
  gst_element_set_state(p.get(), GST_STATE_NULL);
  // Nothing from before the flush leaks out after it: the stream restarts at 0
  // and goes on frame by frame (videotestsrc's num-buffers keeps counting, so
  // fewer than 80 frames follow: 80 - 20 - the frames in flight at the seek,
  // about 31 with saliency's queue of 4).
  ASSERT_GE(after.size(), 10u) << "frames after the seek";
  for (size_t k = 0; k < after.size(); k++)
    EXPECT_EQ(after[k], k * (GST_SECOND / 25)) << "frame " << k << " after the seek";
  EXPECT_EQ(after_missing_map, 0);
}

TEST_F(FaultTest, EosBeforeTheFirstWindowFillsStillGivesEveryFrameItsMap) {
  // Baseline with batch 8 (7 frames of look-ahead), then STRA-Net (5 frames of
  // look-ahead, random weights; one frame, each costs a full inference): fewer
  // frames than the window, then EOS.
  const std::pair<const char *, int> cases[] = {{"saliency model=baseline batch=8", 3},
                                                {"saliency model=stranet random-init=true", 1}};
  for (const auto &[element, frames] : cases) {
    SCOPED_TRACE(element);
    ElementPtr p = parse(std::string("appsrc name=src format=time ! ") + element +
                         " ! appsink name=sink sync=false");
    ASSERT_TRUE(p);
    GstElement *src = by_name(p.get(), "src");
    GstElement *sink = by_name(p.get(), "sink");
    GstCaps *caps = gst_caps_from_string(rgb_caps(64, 48).c_str());
    gst_app_src_set_caps(GST_APP_SRC(src), caps);
    gst_caps_unref(caps);
    gst_element_set_state(p.get(), GST_STATE_PLAYING);
    for (int i = 0; i < frames; i++)
      ASSERT_EQ(gst_app_src_push_buffer(GST_APP_SRC(src), rgb_frame(64, 48, i).release()), GST_FLOW_OK);
    gst_app_src_end_of_stream(GST_APP_SRC(src));
    std::vector<GstClockTime> pts;
    int maps = 0;
    EXPECT_TRUE(pull_until_eos(sink, [&](GstSample *s) {
      pts.push_back(GST_BUFFER_PTS(gst_sample_get_buffer(s)));
      maps += has_valid_map(gst_sample_get_buffer(s));
    }));
    gst_element_set_state(p.get(), GST_STATE_NULL);
    ASSERT_EQ(pts.size(), (size_t)frames);
    for (int k = 0; k < frames; k++) EXPECT_EQ(pts[k], k * (GST_SECOND / 25));
    EXPECT_EQ(maps, frames);
  }
}

// ------------------------------------------------------------------ states and properties

TEST_F(FaultTest, TwentyNullPlayingNullCyclesOfAFullPipeline) {
  ElementPtr p = parse(
      "videotestsrc pattern=ball num-buffers=5 ! video/x-raw,format=RGB,width=64,height=48,"
      "framerate=25/1 ! opticalflow ! queue ! saliency batch=2 ! queue ! saliencyoverlay ! "
      "saliencyroi ! fakesink sync=false");
  ASSERT_TRUE(p);
  for (int cycle = 0; cycle < 20; cycle++) {
    SCOPED_TRACE("cycle " + std::to_string(cycle));
    EXPECT_NE(gst_element_set_state(p.get(), GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
    if (cycle % 2 == 0) {  // to the end of the stream
      const Outcome o = wait_for_end(p.get());
      EXPECT_TRUE(o.eos) << o.error << " " << o.debug;
    } else {  // stopped while frames are in flight
      g_usleep(5000);
    }
    EXPECT_EQ(gst_element_set_state(p.get(), GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  }
  EXPECT_EQ(GST_OBJECT_REFCOUNT_VALUE(p.get()), 1) << "a cycle leaked a reference to the pipeline";
}

TEST_F(FaultTest, PropertyChangesWhilePlayingKeepEveryFrame) {
  const int frames = 150;
  ElementPtr p = parse(
      "videotestsrc pattern=ball num-buffers=" + std::to_string(frames) +
      " ! video/x-raw,format=RGB,width=64,height=48,framerate=25/1 ! opticalflow name=flow ! "
      "saliency name=sal ! saliencyoverlay name=ov ! saliencyroi name=roi ! appsink name=sink sync=false");
  ASSERT_TRUE(p);
  GstElement *sink = by_name(p.get(), "sink");
  GObject *flow = G_OBJECT(by_name(p.get(), "flow")), *sal = G_OBJECT(by_name(p.get(), "sal"));
  GObject *ov = G_OBJECT(by_name(p.get(), "ov")), *roi = G_OBJECT(by_name(p.get(), "roi"));
  gst_element_set_state(p.get(), GST_STATE_PLAYING);
  std::atomic<bool> stop{false};
  std::atomic<int> changes{0};
  std::thread changer([&] {
    const char *colormaps[] = {"jet", "turbo", "gray", "viridis"};
    for (int i = 0; !stop; i++, changes++) {
      g_object_set(ov, "alpha", (i % 11) / 10.0, "show-peak", i % 2 == 0, nullptr);
      gst_util_set_object_arg(ov, "colormap", colormaps[i % 4]);
      gst_util_set_object_arg(ov, "mode", i % 3 == 0 ? "map" : "blend");
      g_object_set(roi, "max-regions", 1 + i % 5, "threshold", 0.3 + 0.1 * (i % 5), nullptr);
      gst_util_set_object_arg(flow, "algorithm", i % 2 ? "farneback" : "dis");
      g_object_set(flow, "downscale", 1 + i % 2, nullptr);
      g_object_set(sal, "interval", 1 + i % 4, nullptr);  // read at start only
      g_usleep(2000);
    }
  });
  int n = 0, with_maps = 0;
  const bool done = pull_until_eos(sink, [&](GstSample *s) {
    n++;
    with_maps += has_valid_map(gst_sample_get_buffer(s));
  });
  stop = true;
  changer.join();
  const Outcome o = wait_for_end(p.get(), 5 * GST_SECOND);
  gst_element_set_state(p.get(), GST_STATE_NULL);
  EXPECT_TRUE(done);
  EXPECT_TRUE(o.error.empty()) << o.error << " " << o.debug;
  EXPECT_EQ(n, frames);
  EXPECT_EQ(with_maps, frames);
  EXPECT_GT(changes.load(), 5);
}

// ------------------------------------------------------------------ the inference thread

namespace {

// Frames that may wait for the element's worker thread (QUEUE_FRAMES in gstsaliency.cpp).
constexpr int kQueueFrames = 4;

// One run of a pipeline through the `saliency` element named "s", seen from its pads: when
// each buffer entered and left (pad probes, monotonic clock), whether each carried a map and
// whether that map is the very bytes of the frame before it (a frame that skipped the model),
// and the saliency-overload messages.
struct Transit {
  std::mutex lock;
  std::vector<GstClockTime> in_pts, out_pts;
  std::map<GstClockTime, gint64> entered_us;  // by PTS
  std::vector<gint64> enter_us, left_us;       // per output buffer: when it entered and left
  std::vector<bool> skipped;                   // per output buffer: it left with the map before it
  int with_map = 0, shared_map = 0;
  GBytes *previous_map = nullptr;  // kept alive so that no later map can reuse its address
  std::vector<std::pair<bool, guint64>> overload;  // (engaged, skipped)
  Outcome outcome;
  ~Transit() {
    if (previous_map) g_bytes_unref(previous_map);
  }

  // Once the model is warm: the frames that entered after the first kQueueFrames + 2 frames
  // that went through the model had left (the first model calls are slower, and what queued
  // up behind them is gone by then).
  struct Steady {
    int frames = 0;           // frames that entered after the warm-up
    double max_delay = 0;     // the longest time one of them spent in the element, s
    double model_gap = 0;     // s between two frames that went through the model leaving, on average
    double longest_gap = 0;   // and at most (a model call, the skipped frames pushed meanwhile,
                              // and what the machine's scheduler adds)
  };
  Steady steady() const {
    Steady st;
    std::vector<gint64> model;
    for (size_t k = 0; k < left_us.size(); k++)
      if (!skipped[k]) model.push_back(left_us[k]);
    if (model.size() < kQueueFrames + 4) return st;
    const gint64 warm = model[kQueueFrames + 1];
    gint64 longest_delay = 0, longest_gap = 0;
    for (size_t k = 0; k < left_us.size(); k++)
      if (enter_us[k] > warm) {
        st.frames++;
        longest_delay = std::max(longest_delay, left_us[k] - enter_us[k]);
      }
    for (size_t k = kQueueFrames + 2; k < model.size(); k++)
      longest_gap = std::max(longest_gap, model[k] - model[k - 1]);
    st.max_delay = longest_delay / 1e6;
    st.longest_gap = longest_gap / 1e6;
    st.model_gap = (model.back() - warm) / 1e6 / double(model.size() - kQueueFrames - 2);
    return st;
  }
};

GstPadProbeReturn on_enter(GstPad *, GstPadProbeInfo *info, gpointer data) {
  auto *t = static_cast<Transit *>(data);
  GstBuffer *b = GST_PAD_PROBE_INFO_BUFFER(info);
  const gint64 now = g_get_monotonic_time();
  std::lock_guard<std::mutex> guard(t->lock);
  t->in_pts.push_back(GST_BUFFER_PTS(b));
  t->entered_us[GST_BUFFER_PTS(b)] = now;
  return GST_PAD_PROBE_OK;
}

GstPadProbeReturn on_leave(GstPad *, GstPadProbeInfo *info, gpointer data) {
  auto *t = static_cast<Transit *>(data);
  GstBuffer *b = GST_PAD_PROBE_INFO_BUFFER(info);
  const gint64 now = g_get_monotonic_time();
  std::lock_guard<std::mutex> guard(t->lock);
  auto in = t->entered_us.find(GST_BUFFER_PTS(b));
  t->enter_us.push_back(in != t->entered_us.end() ? in->second : now);
  t->left_us.push_back(now);
  t->out_pts.push_back(GST_BUFFER_PTS(b));
  t->skipped.push_back(false);
  if (GstSaliencyMeta *meta = gst_buffer_get_saliency_meta(b)) {
    t->with_map++;
    GBytes *map = gst_saliency_meta_get_map(meta, nullptr, nullptr);
    if (t->previous_map && g_bytes_get_data(map, nullptr) == g_bytes_get_data(t->previous_map, nullptr)) {
      t->shared_map++;
      t->skipped.back() = true;
    }
    if (t->previous_map) g_bytes_unref(t->previous_map);
    t->previous_map = map;
  }
  return GST_PAD_PROBE_OK;
}

// Runs `launch` to its end, recording what went through "s".
void run_transit(const std::string &launch, Transit *t) {
  ElementPtr p = parse(launch);
  ASSERT_TRUE(p);
  GstElement *s = by_name(p.get(), "s");
  GstPad *sink = gst_element_get_static_pad(s, "sink"), *src = gst_element_get_static_pad(s, "src");
  gst_pad_add_probe(sink, GST_PAD_PROBE_TYPE_BUFFER, on_enter, t, nullptr);
  gst_pad_add_probe(src, GST_PAD_PROBE_TYPE_BUFFER, on_leave, t, nullptr);
  gst_object_unref(sink);
  gst_object_unref(src);
  BusPtr bus(gst_element_get_bus(p.get()));
  gst_element_set_state(p.get(), GST_STATE_PLAYING);
  while (true) {
    GstMessage *m = gst_bus_timed_pop_filtered(
        bus.get(), kDeadline, (GstMessageType)(GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_ELEMENT));
    if (!m) {
      t->outcome.timed_out = true;
      break;
    }
    bool end = true;
    if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ELEMENT) {
      end = false;
      const GstStructure *st = gst_message_get_structure(m);
      gboolean engaged = FALSE;
      guint64 skipped = 0;
      if (gst_structure_has_name(st, "saliency-overload") &&
          gst_structure_get(st, "engaged", G_TYPE_BOOLEAN, &engaged, "skipped", G_TYPE_UINT64, &skipped,
                            nullptr))
        t->overload.emplace_back(engaged, skipped);
    } else if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_EOS) {
      t->outcome.eos = true;
    } else {
      GError *err = nullptr;
      gst_message_parse_error(m, &err, nullptr);
      t->outcome.error = err->message;
      g_error_free(err);
    }
    gst_message_unref(m);
    if (end) break;
  }
  EXPECT_EQ(gst_element_set_state(p.get(), GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
}

// A source faster than the model: 320x240 at 1000 frames/s into the baseline on one thread.
std::string fast_source(bool live, int frames) {
  return std::string("videotestsrc pattern=ball is-live=") + (live ? "true" : "false") +
         " num-buffers=" + std::to_string(frames) +
         " ! video/x-raw,format=RGB,width=320,height=240,framerate=1000/1";
}
const char *kSlowSaliency = " ! saliency name=s model=baseline threads=1 ! fakesink sync=false";

}  // namespace

// Back-pressure: a non-live source faster than the model waits at the element's sink pad.
// No frame skips the model, the element says nothing about overload, and no frame spends
// longer in the element than the queue in front of it takes to drain.
TEST_F(FaultTest, NonLiveSourceFasterThanTheModelWaitsAndNoFrameSkipsIt) {
  const int frames = 80;
  Transit t;
  run_transit(fast_source(false, frames) + kSlowSaliency, &t);
  ASSERT_TRUE(t.outcome.eos) << t.outcome.error << (t.outcome.timed_out ? " (timed out)" : "");
  EXPECT_EQ(t.out_pts, t.in_pts) << "every frame leaves once, in order";
  EXPECT_EQ((int)t.out_pts.size(), frames);
  EXPECT_EQ(t.with_map, frames);
  EXPECT_EQ(t.shared_map, 0) << "a frame skipped the model";
  EXPECT_TRUE(t.overload.empty());
  // A frame waits at most for the frames queued before it, the one in progress and its own
  // model call (the chain blocks while the queue is full, and the pad probe that notes its
  // arrival runs before the chain).
  const Transit::Steady st = t.steady();
  std::printf("non-live: %.2f ms per frame (at most %.2f), at most %.1f ms in the element\n",
              1e3 * st.model_gap, 1e3 * st.longest_gap, 1e3 * st.max_delay);
  ASSERT_GT(st.frames, frames / 2);
  EXPECT_LT(st.max_delay, (kQueueFrames + 2) * st.longest_gap + 0.05);
}

// A live source faster than the model (issue 17): frames that find the queue full skip the
// model and leave in their place with the map of the frame before them, so a frame waits at
// most for the frames queued before it, the one in progress and its own: once the model is
// warm, the time a frame spends in the element stays under (queue + 2) x the longest model
// call (measured in the same run, where the model shares the CPU with a source producing
// 1000 frames/s). Without skipping, a frame at the end would wait for the model's backlog,
// (frames x time per frame - frames / rate), which is checked to be well above the bound.
// The element posts saliency-overload when it starts skipping and again at EOS.
TEST_F(FaultTest, LiveSourceFasterThanTheModelSkipsFramesAndKeepsTheDelayBounded) {
  // Whether the model is slower than the source here at all: the same source, non-live.
  Transit calibration;
  run_transit(fast_source(false, 60) + kSlowSaliency, &calibration);
  ASSERT_TRUE(calibration.outcome.eos) << calibration.outcome.error;
  if (calibration.steady().model_gap < 1.5e-3)
    GTEST_SKIP() << "the model keeps up with 1000 frames/s here ("
                 << 1e3 * calibration.steady().model_gap << " ms per frame): nothing to overload";

  const int frames = 600;
  Transit t;
  run_transit(fast_source(true, frames) + kSlowSaliency, &t);
  ASSERT_TRUE(t.outcome.eos) << t.outcome.error << (t.outcome.timed_out ? " (timed out)" : "");
  EXPECT_EQ(t.out_pts, t.in_pts) << "every frame leaves once, in order";
  ASSERT_EQ((int)t.out_pts.size(), frames);
  EXPECT_EQ(t.with_map, frames) << "frames that skip the model leave with a map too";
  EXPECT_GT(t.shared_map, 0) << "no frame skipped the model";

  const Transit::Steady st = t.steady();
  const double bound = (kQueueFrames + 2) * st.longest_gap + 0.05;
  const double backlog = frames * st.model_gap - frames / 1000.0;
  std::printf("live: %d of %d frames skipped the model (%.2f ms per model frame, at most %.2f; "
              "%.2f non-live); after the warm-up at most %.1f ms in the element (%d frames); "
              "bound %.0f ms, backlog without skipping %.0f ms\n",
              t.shared_map, frames, 1e3 * st.model_gap, 1e3 * st.longest_gap,
              1e3 * calibration.steady().model_gap, 1e3 * st.max_delay, st.frames, 1e3 * bound,
              1e3 * backlog);
  ASSERT_GT(st.frames, frames / 5) << "too few frames after the warm-up to tell";
  EXPECT_GT(backlog, 2 * bound) << "the run is too short to tell a bounded delay from a backlog";
  EXPECT_LT(st.max_delay, bound);

  ASSERT_GE(t.overload.size(), 2u);
  for (size_t k = 0; k < t.overload.size(); k++)
    EXPECT_EQ(t.overload[k].first, k % 2 == 0) << "engaged and disengaged alternate";
  EXPECT_GE(t.overload.front().second, 1u);
  EXPECT_FALSE(t.overload.back().first) << "EOS ends the overload";
  EXPECT_EQ(t.overload.back().second, (guint64)t.shared_map);
}

// No queue around saliency: a flushing seek while the worker is blocked pushing into a full
// appsink and the source is blocked on the element's full queue, then stopping pipelines
// while frames are in flight, end cleanly (no deadlock: every wait has a deadline).
TEST_F(FaultTest, SeeksAndStateChangesWithoutQueuesAroundSaliency) {
  {
    ElementPtr p = parse(
        "videotestsrc pattern=ball num-buffers=60 ! video/x-raw,format=RGB,width=64,height=48,"
        "framerate=25/1 ! saliency batch=4 ! appsink name=sink sync=false max-buffers=2");
    ASSERT_TRUE(p);
    GstElement *sink = by_name(p.get(), "sink");
    gst_element_set_state(p.get(), GST_STATE_PLAYING);
    int before = 0;
    bool seeked = false;
    std::vector<GstClockTime> after;
    const bool done = pull_until_eos(sink, [&](GstSample *s) {
      if (!seeked) {
        if (++before == 10) {
          g_usleep(50000);  // let the queue and appsink fill up
          seeked = gst_element_seek_simple(p.get(), GST_FORMAT_TIME,
                                           (GstSeekFlags)(GST_SEEK_FLAG_FLUSH | GST_SEEK_FLAG_ACCURATE), 0);
          EXPECT_TRUE(seeked);
        }
        return;
      }
      after.push_back(GST_BUFFER_PTS(gst_sample_get_buffer(s)));
      EXPECT_TRUE(has_valid_map(gst_sample_get_buffer(s)));
    });
    EXPECT_TRUE(done) << "no EOS after the seek (hang?)";
    gst_element_set_state(p.get(), GST_STATE_NULL);
    ASSERT_GE(after.size(), 10u);
    for (size_t k = 0; k < after.size(); k++) EXPECT_EQ(after[k], k * (GST_SECOND / 25)) << k;
  }
  ElementPtr p = parse(
      "videotestsrc pattern=ball ! video/x-raw,format=RGB,width=64,height=48,framerate=25/1 ! "
      "saliency batch=4 ! fakesink sync=true");
  ASSERT_TRUE(p);
  for (int cycle = 0; cycle < 10; cycle++) {
    SCOPED_TRACE("cycle " + std::to_string(cycle));
    EXPECT_NE(gst_element_set_state(p.get(), GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
    g_usleep(cycle % 2 ? 1000 : 30000);
    EXPECT_EQ(gst_element_set_state(p.get(), cycle % 3 ? GST_STATE_NULL : GST_STATE_READY),
              GST_STATE_CHANGE_SUCCESS);
  }
  EXPECT_EQ(gst_element_set_state(p.get(), GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
}

// ------------------------------------------------------------------ soak

// 10,000 frames through opticalflow ! saliency (baseline) ! saliencyoverlay:
// resident memory after the warm-up (frame 1,000) and at the end differ by
// less than 5%. Under AddressSanitizer (quarantined frees) only a short run
// without the memory check.
TEST_F(FaultTest, SoakTenThousandFramesKeepsResidentMemoryFlat) {
  const int frames = kSanitized ? 500 : 10000, warmup = kSanitized ? 100 : 1000;
  ElementPtr p = parse("videotestsrc pattern=ball num-buffers=" + std::to_string(frames) +
                       " ! video/x-raw,format=RGB,width=160,height=96,framerate=25/1 ! opticalflow ! "
                       "saliency ! saliencyoverlay ! fakesink name=sink sync=false signal-handoffs=true");
  ASSERT_TRUE(p);
  struct Probe {
    int n = 0, warmup = 0, maps = 0;
    long rss_warm = 0, rss_end = 0;
  } probe;
  probe.warmup = warmup;
  g_signal_connect(by_name(p.get(), "sink"), "handoff",
                   G_CALLBACK(+[](GstElement *, GstBuffer *b, GstPad *, gpointer data) {
                     auto *pr = static_cast<Probe *>(data);
                     pr->n++;
                     pr->maps += gst_buffer_get_saliency_meta(b) != nullptr;
                     if (pr->n == pr->warmup) pr->rss_warm = resident_bytes();
                     pr->rss_end = resident_bytes();
                   }),
                   &probe);
  gst_element_set_state(p.get(), GST_STATE_PLAYING);
  const Outcome o = wait_for_end(p.get(), 600 * GST_SECOND);
  gst_element_set_state(p.get(), GST_STATE_NULL);
  ASSERT_TRUE(o.eos) << o.error << " " << o.debug << (o.timed_out ? " (timed out)" : "");
  EXPECT_EQ(probe.n, frames);
  EXPECT_EQ(probe.maps, frames);
  const double growth = double(probe.rss_end - probe.rss_warm) / double(probe.rss_warm);
  std::printf("soak: %d frames, RSS %.1f MB after %d frames, %.1f MB at the end (%+.2f%%)\n", frames,
              probe.rss_warm / 1e6, warmup, probe.rss_end / 1e6, 100 * growth);
  if (!kSanitized) {
    EXPECT_LT(growth, 0.05) << "resident memory grew by more than 5% after the warm-up";
  }
}
