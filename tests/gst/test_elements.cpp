// GstHarness tests of the plugin's elements: opticalflow, saliency, saliencyoverlay,
// saliencyroi, saliencycrop (STYLE.md §g). Frames are built in code (a moving square, a translating
// texture). The plugin is found through GST_PLUGIN_PATH_1_0 (tests/gst/meson.build).
// GLib criticals and warnings logged during a test fail it.
#include <gst/check/gstharness.h>
#include <sys/wait.h>
#include <gst/saliency/gstsaliencymeta.h>
#include <gst/video/video.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <string>
#include <vector>

#include "salmaps/heatmap.hpp"
#include "salmaps/yuv.hpp"
#include "test_support.hpp"

#include "gst_test_support.hpp"

namespace {

using gsttest::BufferPtr;
using gsttest::ElementPtr;
using gsttest::BusPtr;
using gsttest::LogCounter;

constexpr GstClockTime kFrame = GST_SECOND / 25;  // 25 fps

class ElementTest : public gsttest::PluginTest {};

// RAII around a GstHarness (gst_harness_teardown).
class Harness {
 public:
  explicit Harness(const std::string &launch) : h_(gst_harness_new_parse(launch.c_str())) {}
  static Harness element(const char *factory) { return Harness(gst_harness_new(factory)); }
  Harness(Harness &&o) noexcept : h_(o.h_) { o.h_ = nullptr; }
  ~Harness() {
    if (h_) gst_harness_teardown(h_);
  }
  GstHarness *get() const { return h_; }
  void set_caps(const std::string &caps) { gst_harness_set_src_caps_str(h_, caps.c_str()); }
  GstFlowReturn push(GstBuffer *buf) { return gst_harness_push(h_, buf); }
  void eos() { ASSERT_TRUE(gst_harness_push_event(h_, gst_event_new_eos())); }
  // Waits until the elements have handled everything pushed so far: a custom serialized
  // event goes in behind it and is pulled out (elements keep serialized events in their
  // place among the buffers). `saliency` handles buffers in its own thread, so what has come
  // out right after a push is a race without this. Nothing to wait for after EOS (EOS
  // returns once everything before it has left, and the marker is refused).
  void sync() {
    GstEvent *marker =
        gst_event_new_custom(GST_EVENT_CUSTOM_DOWNSTREAM, gst_structure_new_empty("gsttest-sync"));
    if (!gst_harness_push_event(h_, marker)) return;
    while (GstEvent *e = gst_harness_pull_event(h_)) {  // 60 s per event at most
      const bool found = gst_event_has_name(e, "gsttest-sync");
      gst_event_unref(e);
      if (found) return;
    }
    ADD_FAILURE() << "the sync event did not come out";
  }
  guint queued() {
    sync();
    return gst_harness_buffers_in_queue(h_);
  }
  std::vector<BufferPtr> pull_all() {
    sync();
    std::vector<BufferPtr> out;
    while (GstBuffer *b = gst_harness_try_pull(h_)) out.emplace_back(b);
    return out;
  }
  void flush() {
    ASSERT_TRUE(gst_harness_push_event(h_, gst_event_new_flush_start()));
    ASSERT_TRUE(gst_harness_push_event(h_, gst_event_new_flush_stop(TRUE)));
    GstSegment segment;
    gst_segment_init(&segment, GST_FORMAT_TIME);
    ASSERT_TRUE(gst_harness_push_event(h_, gst_event_new_segment(&segment)));
  }

 private:
  explicit Harness(GstHarness *h) : h_(h) {}
  GstHarness *h_;
};

using Rgb = std::array<std::uint8_t, 3>;
using Painter = std::function<Rgb(int x, int y)>;

// A frame of `format` painted by `paint`, with the strides GStreamer would use.
// YUV/GRAY formats get BT.601 luma and neutral chroma.
BufferPtr make_frame(GstVideoFormat format, int w, int h, const Painter &paint, GstClockTime pts,
                     GstClockTime duration = kFrame) {
  GstVideoInfo info;
  gst_video_info_set_format(&info, format, w, h);
  GstBuffer *buf = gst_buffer_new_allocate(nullptr, info.size, nullptr);
  GstVideoFrame frame;
  EXPECT_TRUE(gst_video_frame_map(&frame, &info, buf, GST_MAP_WRITE));
  const GstVideoFormatInfo *f = info.finfo;
  if (GST_VIDEO_FORMAT_INFO_IS_RGB(f)) {
    const int ps = GST_VIDEO_FRAME_COMP_PSTRIDE(&frame, 0);
    for (int y = 0; y < h; y++) {
      guint8 *row = (guint8 *)GST_VIDEO_FRAME_PLANE_DATA(&frame, 0) +
                    y * GST_VIDEO_FRAME_PLANE_STRIDE(&frame, 0);
      for (int x = 0; x < w; x++) {
        guint8 *p = row + x * ps;
        if (ps == 4) std::memset(p, 0xff, 4);  // alpha/padding
        const Rgb c = paint(x, y);
        p[GST_VIDEO_FRAME_COMP_OFFSET(&frame, GST_VIDEO_COMP_R)] = c[0];
        p[GST_VIDEO_FRAME_COMP_OFFSET(&frame, GST_VIDEO_COMP_G)] = c[1];
        p[GST_VIDEO_FRAME_COMP_OFFSET(&frame, GST_VIDEO_COMP_B)] = c[2];
      }
    }
  } else {
    for (guint p = 1; p < GST_VIDEO_FRAME_N_PLANES(&frame); p++)
      std::memset(GST_VIDEO_FRAME_PLANE_DATA(&frame, p), 128,
                  GST_VIDEO_FRAME_PLANE_STRIDE(&frame, p) *
                      GST_VIDEO_FRAME_COMP_HEIGHT(&frame, p == 1 ? 1 : 2));
    for (int y = 0; y < h; y++) {
      guint8 *row = (guint8 *)GST_VIDEO_FRAME_PLANE_DATA(&frame, 0) +
                    y * GST_VIDEO_FRAME_PLANE_STRIDE(&frame, 0);
      for (int x = 0; x < w; x++) {
        const Rgb c = paint(x, y);
        row[x] = (guint8)((77 * c[0] + 150 * c[1] + 29 * c[2] + 128) >> 8);
      }
    }
  }
  gst_video_frame_unmap(&frame);
  GST_BUFFER_PTS(buf) = pts;
  GST_BUFFER_DTS(buf) = pts;
  GST_BUFFER_DURATION(buf) = duration;
  return BufferPtr(buf);
}

// A red 8x8 square moving right by 2 px per frame over a dim gradient.
Painter moving_square(int w, int h, int i) {
  return [w, h, i](int x, int y) -> Rgb {
    const int sx = 4 + (2 * i) % std::max(1, w - 12), sy = h / 3;
    if (x >= sx && x < sx + 8 && y >= sy && y < sy + 8) return {230, 40, 40};
    return {(std::uint8_t)(40 + 40 * x / w), (std::uint8_t)(60 + 30 * y / h), 90};
  };
}

// A smooth texture translated by (dx, dy) px per frame: frame t shows texture(x - dx t, y - dy t).
Painter translating_texture(int t, int dx, int dy) {
  return [t, dx, dy](int x, int y) -> Rgb {
    const double u = x - dx * t, v = y - dy * t;
    const double g = 128 + 45 * std::sin(0.37 * u + 0.11 * v) + 35 * std::cos(0.29 * v - 0.13 * u) +
                     20 * std::sin(0.21 * u) * std::cos(0.23 * v);
    const auto c = (std::uint8_t)std::clamp(g, 0.0, 255.0);
    return {c, c, c};
  };
}

BufferPtr square_frame(int i, int w = 32, int h = 24, bool discont = false) {
  BufferPtr b = make_frame(GST_VIDEO_FORMAT_RGB, w, h, moving_square(w, h, i), i * kFrame);
  if (discont) GST_BUFFER_FLAG_SET(b.get(), GST_BUFFER_FLAG_DISCONT);
  return b;
}

std::string rgb_caps(int w = 32, int h = 24, const char *fps = "25/1") {
  return "video/x-raw,format=RGB,width=" + std::to_string(w) + ",height=" + std::to_string(h) +
         ",framerate=" + fps;
}

std::vector<float> map_values(GstBuffer *buf, guint *w = nullptr, guint *h = nullptr) {
  GstSaliencyMeta *meta = gst_buffer_get_saliency_meta(buf);
  if (!meta) return {};
  GBytes *bytes = gst_saliency_meta_get_map(meta, w, h);
  gsize size = 0;
  const float *p = (const float *)g_bytes_get_data(bytes, &size);
  std::vector<float> v(p, p + size / sizeof(float));
  g_bytes_unref(bytes);
  return v;
}

std::vector<float> flow_values(GstBuffer *buf, guint *w, guint *h) {
  GstOpticalFlowMeta *meta = gst_buffer_get_optical_flow_meta(buf);
  if (!meta) return {};
  GBytes *bytes = gst_optical_flow_meta_get_flow(meta, w, h);
  gsize size = 0;
  const float *p = (const float *)g_bytes_get_data(bytes, &size);
  std::vector<float> v(p, p + size / sizeof(float));
  g_bytes_unref(bytes);
  return v;
}

// Pushes frames 0..n-1 (the first DISCONT, as sources do) and checks each is accepted.
void push_squares(Harness &h, int first, int n, int w = 32, int hh = 24) {
  for (int i = first; i < first + n; i++)
    ASSERT_EQ(h.push(square_frame(i, w, hh, i == first).release()), GST_FLOW_OK) << "frame " << i;
}

void expect_frames_in_order(const std::vector<BufferPtr> &out, int first, int n) {
  ASSERT_EQ(out.size(), (size_t)n);
  for (int k = 0; k < n; k++) {
    GstBuffer *b = out[k].get();
    SCOPED_TRACE("output " + std::to_string(k));
    EXPECT_EQ(GST_BUFFER_PTS(b), (first + k) * kFrame);
    EXPECT_EQ(GST_BUFFER_DTS(b), (first + k) * kFrame);
    EXPECT_EQ(GST_BUFFER_DURATION(b), kFrame);
    EXPECT_EQ(GST_BUFFER_IS_DISCONT(b), k == 0) << "DISCONT must stay where it was";
  }
}

void expect_valid_maps(const std::vector<BufferPtr> &out) {
  for (size_t k = 0; k < out.size(); k++) {
    SCOPED_TRACE("output " + std::to_string(k));
    guint w = 0, h = 0;
    const std::vector<float> v = map_values(out[k].get(), &w, &h);
    ASSERT_FALSE(v.empty()) << "no GstSaliencyMeta";
    EXPECT_GT(w, 0u);
    EXPECT_GT(h, 0u);
    ASSERT_EQ(v.size(), (size_t)w * h);
    for (float x : v) {
      ASSERT_TRUE(std::isfinite(x));
      ASSERT_GE(x, 0.f);
      ASSERT_LE(x, 1.f);
    }
  }
}

// Sets the element to `state` with its own bus; returns the state change result and the
// first error posted, if any.
struct StateResult {
  GstStateChangeReturn ret;
  GError *error = nullptr;
  std::string debug;
  ~StateResult() {
    if (error) g_error_free(error);
  }
};
std::unique_ptr<StateResult> set_state_collect_error(GstElement *el, GstState state) {
  BusPtr bus(gst_bus_new());
  gst_element_set_bus(el, bus.get());
  auto r = std::make_unique<StateResult>();
  r->ret = gst_element_set_state(el, state);
  if (GstMessage *m = gst_bus_pop_filtered(bus.get(), GST_MESSAGE_ERROR)) {
    gchar *debug = nullptr;
    gst_message_parse_error(m, &r->error, &debug);
    r->debug = debug ? debug : "";
    g_free(debug);
    gst_message_unref(m);
  }
  gst_element_set_bus(el, nullptr);
  return r;
}

ElementPtr make_element(const char *factory) {
  GstElement *e = gst_element_factory_make(factory, nullptr);
  EXPECT_NE(e, nullptr) << factory;
  return ElementPtr(GST_ELEMENT(gst_object_ref_sink(e)));
}

}  // namespace

// ------------------------------------------------------------------ saliency

TEST_F(ElementTest, SaliencyEveryFrameLeavesOnceInOrderWithItsMap) {
  // The baseline has no look-ahead: each frame leaves as soon as it is pushed,
  // except in bidirectional interval mode, where frames 37 and 38 wait for
  // key frame 39 and frame 40 for key frame 42 (drained at EOS).
  const struct {
    const char *props;
    guint queued;
  } cases[] = {{"interval=1", 41}, {"interval=3 interval-mode=forward", 41}, {"interval=3", 40}};
  for (const auto &c : cases) {
    SCOPED_TRACE(c.props);
    Harness h(std::string("saliency model=baseline ") + c.props);
    h.set_caps(rgb_caps());
    push_squares(h, 0, 41);
    EXPECT_EQ(h.queued(), c.queued);
    h.eos();
    const auto out = h.pull_all();
    expect_frames_in_order(out, 0, 41);
    expect_valid_maps(out);  // frames between inferences carry a map too
  }
}

TEST_F(ElementTest, SaliencyHoldsLookaheadFramesAndDrainsThemAtEos) {
  // batch=4 adds 3 frames of look-ahead to the baseline: a cheap delay line.
  Harness h("saliency model=baseline batch=4");
  h.set_caps(rgb_caps());
  push_squares(h, 0, 10);
  EXPECT_EQ(h.queued(), 8u) << "frames wait for full batches of 4";
  h.eos();
  const auto out = h.pull_all();
  expect_frames_in_order(out, 0, 10);
  expect_valid_maps(out);
}

TEST_F(ElementTest, SaliencyDrainsHeldFramesBeforeADiscontBuffer) {
  Harness h("saliency model=baseline batch=4");
  h.set_caps(rgb_caps());
  push_squares(h, 0, 6);  // 4 out, 2 held
  EXPECT_EQ(h.queued(), 4u);
  // A DISCONT buffer: the two held frames leave first, without the flag.
  ASSERT_EQ(h.push(square_frame(6, 32, 24, true).release()), GST_FLOW_OK);
  EXPECT_EQ(h.queued(), 6u);
  h.eos();
  const auto out = h.pull_all();
  ASSERT_EQ(out.size(), 7u);
  for (int k = 0; k < 7; k++) {
    EXPECT_EQ(GST_BUFFER_PTS(out[k].get()), k * kFrame);
    EXPECT_EQ(GST_BUFFER_IS_DISCONT(out[k].get()), k == 0 || k == 6) << "output " << k;
  }
  expect_valid_maps(out);
}

TEST_F(ElementTest, SaliencyFlushDropsHeldFramesAndTheNextStreamWorks) {
  Harness h("saliency model=baseline batch=4");
  h.set_caps(rgb_caps());
  push_squares(h, 0, 6);  // 4 out, 2 held
  auto before = h.pull_all();
  ASSERT_EQ(before.size(), 4u);
  h.flush();
  push_squares(h, 100, 5);
  h.eos();
  const auto out = h.pull_all();
  // Frames 4 and 5 were dropped by the flush; the new stream is complete.
  expect_frames_in_order(out, 100, 5);
  expect_valid_maps(out);
}

TEST_F(ElementTest, SaliencyDrainsOnCapsChangeAndAcceptsTheNewSize) {
  Harness h("saliency model=baseline batch=4");
  h.set_caps(rgb_caps(32, 24));
  push_squares(h, 0, 6);
  EXPECT_EQ(h.queued(), 4u);
  h.set_caps(rgb_caps(48, 36));  // caps + segment: both drain
  EXPECT_EQ(h.queued(), 6u) << "held frames leave before the new caps";
  push_squares(h, 6, 3, 48, 36);
  h.eos();
  const auto out = h.pull_all();
  ASSERT_EQ(out.size(), 9u);
  expect_valid_maps(out);
  for (int k = 0; k < 9; k++) EXPECT_EQ(GST_BUFFER_PTS(out[k].get()), k * kFrame);
}

TEST_F(ElementTest, SaliencyLatencyIsLookaheadTimesFrameDuration) {
  {
    Harness h("saliency model=baseline");
    h.set_caps(rgb_caps());
    gst_harness_set_upstream_latency(h.get(), 10 * GST_MSECOND);
    EXPECT_EQ(gst_harness_query_latency(h.get()), 10 * GST_MSECOND) << "no look-ahead, no latency";
  }
  {
    Harness h("saliency model=baseline batch=4");
    h.set_caps(rgb_caps(32, 24, "50/1"));
    gst_harness_set_upstream_latency(h.get(), 10 * GST_MSECOND);
    EXPECT_EQ(gst_harness_query_latency(h.get()), 10 * GST_MSECOND + 3 * 20 * GST_MSECOND);
  }
  {
    // Variable framerate: the buffers' duration, then 25 fps before any buffer.
    Harness h("saliency model=baseline batch=3 interval=2 interval-mode=forward");
    h.set_caps(rgb_caps(32, 24, "0/1"));
    gst_harness_set_upstream_latency(h.get(), 0);
    EXPECT_EQ(gst_harness_query_latency(h.get()), 2 * 2 * kFrame) << "(batch-1) x interval frames";
    BufferPtr b =
        make_frame(GST_VIDEO_FORMAT_RGB, 32, 24, moving_square(32, 24, 0), 0, 30 * GST_MSECOND);
    ASSERT_EQ(h.push(b.release()), GST_FLOW_OK);
    EXPECT_EQ(gst_harness_query_latency(h.get()), 4 * 30 * GST_MSECOND);
  }
  {
    // Bidirectional interval mode (the default) holds interval - 1 more frames.
    Harness h("saliency model=baseline batch=3 interval=2");
    h.set_caps(rgb_caps(32, 24, "50/1"));
    gst_harness_set_upstream_latency(h.get(), 0);
    EXPECT_EQ(gst_harness_query_latency(h.get()), (2 * 2 + 1) * 20 * GST_MSECOND);
  }
}

TEST_F(ElementTest, SaliencyAsksUpstreamForBuffersItHolds) {
  // An ALLOCATION query from upstream: the element adds its look-ahead to the
  // minimum pool size so that a bounded decoder pool cannot run dry.
  for (guint batch : {1u, 4u}) {
    SCOPED_TRACE("batch " + std::to_string(batch));
    Harness h("saliency model=baseline batch=" + std::to_string(batch));
    h.set_caps(rgb_caps());
    GstCaps *caps = gst_caps_from_string(rgb_caps().c_str());
    GstQuery *q = gst_query_new_allocation(caps, TRUE);
    gst_caps_unref(caps);
    EXPECT_TRUE(gst_pad_peer_query(h.get()->srcpad, q));
    guint min_buffers = 0;
    for (guint i = 0; i < gst_query_get_n_allocation_pools(q); i++) {
      guint size, min, max;
      gst_query_parse_nth_allocation_pool(q, i, nullptr, &size, &min, &max);
      min_buffers = std::max(min_buffers, min);
      EXPECT_TRUE(max == 0 || max >= min);
    }
    if (batch == 1)
      EXPECT_EQ(min_buffers, 0u) << "nothing held, nothing asked";
    else
      EXPECT_GE(min_buffers, batch) << "3 held frames + 1 in flight";
    gst_query_unref(q);
  }
}

TEST_F(ElementTest, StsanetHoldsSixteenFramesAndReportsThemAsLatency) {
  // Random weights: only the windowing is tested, no window is complete, so no
  // inference runs.
  Harness h("saliency model=stsanet random-init=true");
  h.set_caps(rgb_caps());
  gst_harness_set_upstream_latency(h.get(), 0);
  EXPECT_EQ(gst_harness_query_latency(h.get()), 16 * kFrame);
  push_squares(h, 0, 3);
  EXPECT_EQ(h.queued(), 0u) << "STSANet needs 16 later frames before a map";
  h.flush();
  EXPECT_EQ(h.queued(), 0u) << "a flush drops held frames";
}

TEST_F(ElementTest, TinyhdWithThePublishedWeightsMapsEveryFrameWithoutLookahead) {
  const std::string shared = testsupport::shared_dir();
  const std::string weights = shared + "/data/weights/tinyhd/d123s_rc4_rc1T.pth";
  if (shared.empty() || !g_file_test(weights.c_str(), G_FILE_TEST_EXISTS))
    GTEST_SKIP() << "../shared/data/weights/tinyhd/d123s_rc4_rc1T.pth is absent (set GST_SALIENCY_SHARED "
                    "to the shared folder to run this test)";
  // TinyHD's window ends at its target frame (16 frames, the earlier ones
  // padded with copies of the first at the start): no look-ahead, so the
  // element adds no latency and every frame leaves as soon as its map is made.
  Harness h("saliency model=tinyhd weights=\"" + weights + "\"");
  const int w = 64, hh = 48, n = 20;
  h.set_caps(rgb_caps(w, hh));
  gst_harness_set_upstream_latency(h.get(), 10 * GST_MSECOND);
  EXPECT_EQ(gst_harness_query_latency(h.get()), 10 * GST_MSECOND) << "no look-ahead, no latency";
  push_squares(h, 0, n, w, hh);
  EXPECT_EQ(h.queued(), (guint)n) << "no frame waits for later ones";
  h.eos();
  const auto out = h.pull_all();
  expect_frames_in_order(out, 0, n);
  expect_valid_maps(out);
  for (size_t k = 0; k < out.size(); k++) {
    guint mw = 0, mh = 0;
    const std::vector<float> v = map_values(out[k].get(), &mw, &mh);
    EXPECT_EQ(mw, 256u) << "output " << k << ": TinyHD's maps are 256x192";
    EXPECT_EQ(mh, 192u) << "output " << k;
    // A real map, not a constant: the sigmoid output varies over the frame.
    if (!v.empty()) {
      EXPECT_GT(*std::max_element(v.begin(), v.end()) - *std::min_element(v.begin(), v.end()), 0.01f);
    }
  }
}

namespace {

// Whether two buffers carry the very same map bytes: a frame that skipped the model leaves
// with the map of the frame before it (the same immutable GBytes), a frame that went through
// the model with a map of its own.
bool same_map_bytes(GstBuffer *a, GstBuffer *b) {
  GstSaliencyMeta *ma = gst_buffer_get_saliency_meta(a), *mb = gst_buffer_get_saliency_meta(b);
  if (!ma || !mb) return false;
  GBytes *ba = gst_saliency_meta_get_map(ma, nullptr, nullptr);
  GBytes *bb = gst_saliency_meta_get_map(mb, nullptr, nullptr);
  const bool same = g_bytes_get_data(ba, nullptr) == g_bytes_get_data(bb, nullptr);
  g_bytes_unref(ba);
  g_bytes_unref(bb);
  return same;
}

// The saliency-overload messages on `bus`: (engaged, skipped) in order.
std::vector<std::pair<bool, guint64>> overload_messages(GstBus *bus) {
  std::vector<std::pair<bool, guint64>> out;
  while (GstMessage *m = gst_bus_pop_filtered(bus, GST_MESSAGE_ELEMENT)) {
    const GstStructure *s = gst_message_get_structure(m);
    gboolean engaged = FALSE;
    guint64 skipped = 0;
    if (gst_structure_has_name(s, "saliency-overload")) {
      EXPECT_TRUE(gst_structure_get(s, "engaged", G_TYPE_BOOLEAN, &engaged, "skipped", G_TYPE_UINT64,
                                    &skipped, nullptr));
      out.emplace_back(engaged, skipped);
    }
    gst_message_unref(m);
  }
  return out;
}

}  // namespace

// The element runs the model in its own thread behind a queue of 4 frames. Upstream is live
// when the LATENCY query says so (a pipeline asks before PLAYING; here the harness answers).
// A burst from a live upstream that finds the queue full skips the model: those frames leave
// in order with the map of the frame before them, and the element posts saliency-overload.
// The same burst from a non-live upstream waits, and every frame gets its own map. With
// batch=4 the frames that skip wait behind frames held for the look-ahead.
TEST_F(ElementTest, SaliencySkipsTheModelOnlyWhenALiveUpstreamOverloadsIt) {
  const int w = 320, hh = 240, n = 40;
  for (const char *props : {"", "batch=4"}) {
    for (bool live : {false, true}) {
      SCOPED_TRACE(std::string(props) + (live ? " live" : " not live"));
      Harness h(std::string("saliency model=baseline threads=1 ") + props);
      BusPtr bus(gst_bus_new());
      gst_element_set_bus(h.get()->element, bus.get());
      h.set_caps(rgb_caps(w, hh));
      gst_harness_set_live(h.get(), live);
      gst_harness_query_latency(h.get());
      std::vector<BufferPtr> frames;  // painted before the burst, so that it is one
      for (int i = 0; i < n; i++) frames.push_back(square_frame(i, w, hh, i == 0));
      for (auto &f : frames) ASSERT_EQ(h.push(f.release()), GST_FLOW_OK);
      h.eos();
      const auto out = h.pull_all();
      expect_frames_in_order(out, 0, n);
      expect_valid_maps(out);
      int shared = 0;
      for (int k = 1; k < (int)out.size(); k++) shared += same_map_bytes(out[k - 1].get(), out[k].get());
      const auto overload = overload_messages(bus.get());
      gst_element_set_bus(h.get()->element, nullptr);
      if (!live) {
        EXPECT_EQ(shared, 0) << "a non-live upstream waits: no frame skips the model";
        EXPECT_TRUE(overload.empty());
        continue;
      }
      EXPECT_GT(shared, 0) << "frames of a live burst skip the model";
      EXPECT_LE(shared, n - 4) << "at least the frames that filled the queue get their maps";
      ASSERT_GE(overload.size(), 2u);
      for (size_t k = 0; k < overload.size(); k++)
        EXPECT_EQ(overload[k].first, k % 2 == 0) << "engaged and disengaged alternate";
      EXPECT_GE(overload.front().second, 1u);
      EXPECT_FALSE(overload.back().first) << "EOS ends the overload";
      EXPECT_EQ(overload.back().second, (guint64)shared) << "skipped frames so far";
    }
  }
}

TEST_F(ElementTest, SaliencyUsesUpstreamOpticalFlowMeta) {
  // Identical frames: without flow meta the baseline sees no motion. With a meta
  // claiming motion in the top-left quarter, that quarter becomes more salient.
  const int w = 64, hgt = 48;
  auto run = [&](bool with_flow) {
    Harness h("saliency model=baseline");
    h.set_caps(rgb_caps(w, hgt));
    for (int i = 0; i < 6; i++) {
      BufferPtr b =
          make_frame(GST_VIDEO_FORMAT_RGB, w, hgt, translating_texture(0, 0, 0), i * kFrame);
      if (with_flow && i > 0) {
        std::vector<float> flow(16 * 12 * 2, 0.f);
        for (int y = 0; y < 6; y++)
          for (int x = 0; x < 8; x++) flow[2 * (y * 16 + x)] = 6.f;  // 6 px to the right
        gst_buffer_add_optical_flow_meta(b.get(), 16, 12, flow.data());
      }
      EXPECT_EQ(h.push(b.release()), GST_FLOW_OK);
    }
    h.eos();
    auto out = h.pull_all();
    EXPECT_EQ(out.size(), 6u);
    guint mw = 0, mh = 0;
    std::vector<float> m = map_values(out.back().get(), &mw, &mh);
    double quarter = 0, all = 0;
    for (guint y = 0; y < mh; y++)
      for (guint x = 0; x < mw; x++) {
        all += m[y * mw + x];
        if (x < mw / 2 && y < mh / 2) quarter += m[y * mw + x];
      }
    return quarter / all;  // share of the map's mass in the top-left quarter
  };
  const double without = run(false), with = run(true);
  EXPECT_GT(with, without + 0.05) << "share of saliency in the moving quarter: without flow "
                                  << without << ", with flow " << with;
}

TEST_F(ElementTest, SaliencyBadSettingsFailTheStateChangeCleanly) {
  testsupport::TempDir tmp;
  {
    ElementPtr el = make_element("saliency");
    gst_util_set_object_arg(G_OBJECT(el.get()), "model", "stsanet");
    auto r = set_state_collect_error(el.get(), GST_STATE_PAUSED);
    EXPECT_EQ(r->ret, GST_STATE_CHANGE_FAILURE) << "STSANet without weights must refuse to start";
    ASSERT_NE(r->error, nullptr);
    EXPECT_TRUE(g_error_matches(r->error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS));
    EXPECT_EQ(gst_element_set_state(el.get(), GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  }
  {
    const std::string missing = tmp / "no-such-weights.pth";
    ElementPtr el = make_element("saliency");
    gst_util_set_object_arg(G_OBJECT(el.get()), "model", "stsanet");
    g_object_set(el.get(), "weights", missing.c_str(), nullptr);
    auto r = set_state_collect_error(el.get(), GST_STATE_PAUSED);
    EXPECT_EQ(r->ret, GST_STATE_CHANGE_FAILURE);
    ASSERT_NE(r->error, nullptr);
    EXPECT_TRUE(g_error_matches(r->error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_FOUND));
    EXPECT_NE(std::string(r->error->message).find(missing), std::string::npos) << r->error->message;
    EXPECT_EQ(gst_element_set_state(el.get(), GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  }
  {
    const std::string corrupt = tmp / "corrupt.pth";
    std::ofstream(corrupt) << "this is not a torch.save zip archive";
    ElementPtr el = make_element("saliency");
    gst_util_set_object_arg(G_OBJECT(el.get()), "model", "stsanet");
    g_object_set(el.get(), "weights", corrupt.c_str(), nullptr);
    auto r = set_state_collect_error(el.get(), GST_STATE_PAUSED);
    EXPECT_EQ(r->ret, GST_STATE_CHANGE_FAILURE);
    ASSERT_NE(r->error, nullptr);
    EXPECT_TRUE(g_error_matches(r->error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS));
    EXPECT_NE(std::string(r->error->message).find(corrupt), std::string::npos) << r->error->message;
    EXPECT_FALSE(r->debug.empty()) << "the loader's reason belongs in the debug string";
    EXPECT_EQ(gst_element_set_state(el.get(), GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  }
  {
    // An unknown model name is refused when the pipeline is parsed.
    GError *error = nullptr;
    GstElement *p = gst_parse_launch_full("fakesrc ! saliency model=nonexistent ! fakesink",
                                          nullptr, GST_PARSE_FLAG_FATAL_ERRORS, &error);
    EXPECT_NE(error, nullptr);
    if (error) g_error_free(error);
    if (p) gst_object_unref(p);
  }
}

TEST_F(ElementTest, SaliencyCudaWithoutCudaFailsWithAReason) {
  ElementPtr el = make_element("saliency");
  gst_util_set_object_arg(G_OBJECT(el.get()), "device", "cuda");
  auto r = set_state_collect_error(el.get(), GST_STATE_PAUSED);
  if (r->ret != GST_STATE_CHANGE_FAILURE) {
    gst_element_set_state(el.get(), GST_STATE_NULL);
    GTEST_SKIP() << "this machine has CUDA: device=cuda started";
  }
  ASSERT_NE(r->error, nullptr);
  EXPECT_TRUE(g_error_matches(r->error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS));
  EXPECT_NE(r->debug.find("cuda"), std::string::npos) << r->debug;
  EXPECT_EQ(gst_element_set_state(el.get(), GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
}

// The GPU settings on the CPU: the state change fails, and the debug string
// says which setting needs what (16-bit precisions, CUDA graphs).
TEST_F(ElementTest, SaliencyGpuSettingsOnTheCpuFailWithTheReason) {
  const struct {
    const char *property, *value, *reason;
  } cases[] = {{"precision", "fp16-weights", "precision fp16-weights needs a CUDA device"},
               {"precision", "half", "precision fp16-weights needs a CUDA device"},  // the old name
               {"precision", "fp16", "precision autocast-fp16 needs a CUDA device"},
               {"cuda-graphs", "true", "CUDA graphs need a CUDA device"}};
  for (const auto &c : cases) {
    SCOPED_TRACE(std::string(c.property) + "=" + c.value);
    ElementPtr el = make_element("saliency");
    gst_util_set_object_arg(G_OBJECT(el.get()), c.property, c.value);
    auto r = set_state_collect_error(el.get(), GST_STATE_PAUSED);
    EXPECT_EQ(r->ret, GST_STATE_CHANGE_FAILURE);
    if (r->error) {
      EXPECT_TRUE(g_error_matches(r->error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS));
      EXPECT_NE(r->debug.find(c.reason), std::string::npos) << r->debug;
    } else {
      ADD_FAILURE() << "no error message";
    }
    EXPECT_EQ(gst_element_set_state(el.get(), GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  }
  // Unknown precision names are refused when the pipeline is parsed.
  GError *error = nullptr;
  GstElement *p = gst_parse_launch_full("fakesrc ! saliency precision=fp8 ! fakesink", nullptr,
                                        GST_PARSE_FLAG_FATAL_ERRORS, &error);
  EXPECT_NE(error, nullptr);
  if (error) g_error_free(error);
  if (p) gst_object_unref(p);
}

TEST_F(ElementTest, AllElementsSurviveStateCycles) {
  for (const char *factory :
       {"saliency", "opticalflow", "saliencyoverlay", "saliencyroi", "saliencycrop"}) {
    SCOPED_TRACE(factory);
    ElementPtr el = make_element(factory);
    for (int cycle = 0; cycle < 3; cycle++) {
      EXPECT_EQ(gst_element_set_state(el.get(), GST_STATE_READY), GST_STATE_CHANGE_SUCCESS);
      EXPECT_EQ(gst_element_set_state(el.get(), GST_STATE_PLAYING), GST_STATE_CHANGE_SUCCESS);
      EXPECT_EQ(gst_element_set_state(el.get(), GST_STATE_READY), GST_STATE_CHANGE_SUCCESS);
      EXPECT_EQ(gst_element_set_state(el.get(), GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
    }
  }
}

TEST_F(ElementTest, SaliencyAcceptCaps) {
  Harness h = Harness::element("saliency");
  GstPad *sink = gst_element_get_static_pad(h.get()->element, "sink");
  for (const char *fmt : {"RGB", "BGRx", "ARGB", "GRAY8", "I420", "NV12"}) {
    GstCaps *caps = gst_caps_from_string(
        (std::string("video/x-raw,format=") + fmt + ",width=32,height=24,framerate=25/1").c_str());
    EXPECT_TRUE(gst_pad_query_accept_caps(sink, caps)) << fmt;
    gst_caps_unref(caps);
  }
  for (const char *caps_str : {"video/x-raw,format=YUY2,width=32,height=24,framerate=25/1",
                               "audio/x-raw,format=S16LE,rate=48000,channels=1"}) {
    GstCaps *caps = gst_caps_from_string(caps_str);
    EXPECT_FALSE(gst_pad_query_accept_caps(sink, caps)) << caps_str;
    gst_caps_unref(caps);
  }
  gst_object_unref(sink);
}

// I420 and NV12 go in without videoconvert: the element reads the planes with
// the caps' matrix and range, so its maps are those of the RGB frames that
// salmaps' conversion makes of the same bytes (the same arithmetic after it:
// bit-identical), and a frame whose chroma says red is read as red.
TEST_F(ElementTest, SaliencyReadsI420AndNv12WithTheCapsColorimetry) {
  const int w = 48, hh = 32, n = 6;
  const struct {
    const char *format, *colorimetry;
    model::YuvMatrix matrix;
    model::YuvRange range;
  } cases[] = {{"I420", "bt601", model::YuvMatrix::BT601, model::YuvRange::Limited},
               {"NV12", "bt709", model::YuvMatrix::BT709, model::YuvRange::Limited},
               {"I420", "1:4:0:0", model::YuvMatrix::BT601, model::YuvRange::Full}};
  for (const auto &c : cases) {
    SCOPED_TRACE(std::string(c.format) + " " + c.colorimetry);
    const GstVideoFormat vf = gst_video_format_from_string(c.format);
    Harness yuv_h = Harness::element("saliency");
    Harness rgb_h = Harness::element("saliency");
    yuv_h.set_caps(std::string("video/x-raw,format=") + c.format + ",width=48,height=32,framerate=25/1,colorimetry=" +
                   c.colorimetry);
    rgb_h.set_caps(rgb_caps(w, hh));
    for (int t = 0; t < n; t++) {
      // Luma from the moving square; chroma that varies (a red-ish block that moves).
      BufferPtr b = make_frame(vf, w, hh, moving_square(w, hh, t), t * kFrame);
      GstVideoInfo info;
      gst_video_info_set_format(&info, vf, w, hh);
      GstVideoFrame frame;
      ASSERT_TRUE(gst_video_frame_map(&frame, &info, b.get(), GST_MAP_WRITE));
      const bool nv12 = vf == GST_VIDEO_FORMAT_NV12;
      for (int cy = 0; cy < hh / 2; cy++)
        for (int cx = 0; cx < w / 2; cx++) {
          const bool hot = cx >= 2 + t && cx < 8 + t && cy >= 4 && cy < 10;
          const guint8 u = hot ? 90 : (guint8)(110 + cx), v = hot ? 240 : (guint8)(120 + cy);
          guint8 *p1 = (guint8 *)GST_VIDEO_FRAME_PLANE_DATA(&frame, 1) + cy * GST_VIDEO_FRAME_PLANE_STRIDE(&frame, 1);
          if (nv12) {
            p1[2 * cx] = u;
            p1[2 * cx + 1] = v;
          } else {
            guint8 *p2 = (guint8 *)GST_VIDEO_FRAME_PLANE_DATA(&frame, 2) + cy * GST_VIDEO_FRAME_PLANE_STRIDE(&frame, 2);
            p1[cx] = u;
            p2[cx] = v;
          }
        }
      model::Yuv420View view;
      view.y = (const std::uint8_t *)GST_VIDEO_FRAME_PLANE_DATA(&frame, 0);
      view.y_stride = GST_VIDEO_FRAME_PLANE_STRIDE(&frame, 0);
      view.u = (const std::uint8_t *)GST_VIDEO_FRAME_PLANE_DATA(&frame, 1);
      view.u_stride = GST_VIDEO_FRAME_PLANE_STRIDE(&frame, 1);
      if (!nv12) {
        view.v = (const std::uint8_t *)GST_VIDEO_FRAME_PLANE_DATA(&frame, 2);
        view.v_stride = GST_VIDEO_FRAME_PLANE_STRIDE(&frame, 2);
      }
      view.width = w;
      view.height = hh;
      view.interleaved = nv12;
      view.matrix = c.matrix;
      view.range = c.range;
      const cv::Mat rgb = model::yuv420_to_rgb(view);
      gst_video_frame_unmap(&frame);
      const cv::Vec3b red = rgb.at<cv::Vec3b>(2 * 5, 2 * (4 + t));  // inside the hot chroma block
      EXPECT_GT(int(red[0]), int(red[1]) + 60) << "R " << int(red[0]) << " G " << int(red[1]);
      BufferPtr as_rgb = make_frame(GST_VIDEO_FORMAT_RGB, w, hh,
                                    [&](int x, int y) -> Rgb {
                                      const cv::Vec3b p = rgb.at<cv::Vec3b>(y, x);
                                      return {p[0], p[1], p[2]};
                                    },
                                    t * kFrame);
      ASSERT_EQ(yuv_h.push(b.release()), GST_FLOW_OK);
      ASSERT_EQ(rgb_h.push(as_rgb.release()), GST_FLOW_OK);
    }
    yuv_h.eos();
    rgb_h.eos();
    const auto from_yuv = yuv_h.pull_all(), from_rgb = rgb_h.pull_all();
    ASSERT_EQ(from_yuv.size(), std::size_t(n));
    ASSERT_EQ(from_rgb.size(), std::size_t(n));
    for (int t = 0; t < n; t++) {
      const auto a = map_values(from_yuv[t].get()), b = map_values(from_rgb[t].get());
      ASSERT_FALSE(a.empty());
      EXPECT_EQ(a, b) << "frame " << t;
    }
  }
}

TEST_F(ElementTest, PropertiesCanChangeWhileStreaming) {
  Harness h = Harness::element("saliency");
  h.set_caps(rgb_caps());
  GValue interval = G_VALUE_INIT, weights = G_VALUE_INIT;
  g_value_init(&interval, G_TYPE_UINT);
  g_value_set_uint(&interval, 3);
  g_value_init(&weights, G_TYPE_STRING);
  g_value_set_string(&weights, "/nonexistent/weights.pth");
  GstHarnessThread *t1 = gst_harness_stress_property_start_full(h.get(), "interval", &interval, 0);
  GstHarnessThread *t2 = gst_harness_stress_property_start_full(h.get(), "weights", &weights, 0);
  for (int i = 0; i < 30; i++) {
    ASSERT_EQ(h.push(square_frame(i, 32, 24, i == 0).release()), GST_FLOW_OK);
    guint v = 0;
    g_object_get(h.get()->element, "interval", &v, nullptr);
    EXPECT_TRUE(v == 1 || v == 3);
  }
  EXPECT_GT(gst_harness_stress_thread_stop(t1), 0u);
  EXPECT_GT(gst_harness_stress_thread_stop(t2), 0u);
  g_value_unset(&interval);
  g_value_unset(&weights);
  h.eos();
  const auto out = h.pull_all();
  expect_frames_in_order(out, 0, 30);
  expect_valid_maps(out);
}

// ------------------------------------------------------------------ opticalflow

TEST_F(ElementTest, OpticalFlowMeasuresATranslationAndPassesFramesUnchanged) {
  for (const char *fmt : {"GRAY8", "RGB", "I420"}) {
    for (int downscale : {1, 2}) {
      SCOPED_TRACE(std::string(fmt) + " downscale=" + std::to_string(downscale));
      Harness h("opticalflow downscale=" + std::to_string(downscale));
      const int w = 96, hh = 72;
      h.set_caps(std::string("video/x-raw,format=") + fmt + ",width=96,height=72,framerate=25/1");
      const GstVideoFormat vf = gst_video_format_from_string(fmt);
      std::vector<BufferPtr> sent;
      for (int t = 0; t < 4; t++) {
        BufferPtr b = make_frame(vf, w, hh, translating_texture(t, 2, 1), t * kFrame);
        sent.emplace_back(gst_buffer_copy_deep(b.get()));
        ASSERT_EQ(h.push(b.release()), GST_FLOW_OK);
      }
      auto out = h.pull_all();
      ASSERT_EQ(out.size(), 4u);
      guint fw = 0, fh = 0;
      EXPECT_TRUE(flow_values(out[0].get(), &fw, &fh).empty()) << "first frame: no previous frame";
      for (int t = 1; t < 4; t++) {
        const std::vector<float> f = flow_values(out[t].get(), &fw, &fh);
        ASSERT_FALSE(f.empty()) << "frame " << t;
        EXPECT_EQ(fw, (guint)(w / downscale));
        EXPECT_EQ(fh, (guint)(hh / downscale));
        // Mean over the interior (borders lack a match), in frame pixels.
        double su = 0, sv = 0;
        int n = 0;
        for (guint y = fh / 6; y < fh - fh / 6; y++)
          for (guint x = fw / 6; x < fw - fw / 6; x++) {
            su += f[2 * (y * fw + x)];
            sv += f[2 * (y * fw + x) + 1];
            n++;
          }
        EXPECT_NEAR(su / n, 2.0, 0.3) << "frame " << t;
        EXPECT_NEAR(sv / n, 1.0, 0.3) << "frame " << t;
      }
      for (int t = 0; t < 4; t++) {
        EXPECT_EQ(GST_BUFFER_PTS(out[t].get()), t * kFrame);
        GstMapInfo a, b;
        ASSERT_TRUE(gst_buffer_map(out[t].get(), &a, GST_MAP_READ));
        ASSERT_TRUE(gst_buffer_map(sent[t].get(), &b, GST_MAP_READ));
        EXPECT_EQ(a.size, b.size);
        EXPECT_EQ(std::memcmp(a.data, b.data, std::min(a.size, b.size)), 0) << "pixels changed";
        gst_buffer_unmap(out[t].get(), &a);
        gst_buffer_unmap(sent[t].get(), &b);
      }
    }
  }
}

TEST_F(ElementTest, OpticalFlowRestartsAfterDiscontAndFlush) {
  Harness h("opticalflow");
  h.set_caps("video/x-raw,format=GRAY8,width=64,height=48,framerate=25/1");
  auto frame = [](int t, bool discont) {
    BufferPtr b =
        make_frame(GST_VIDEO_FORMAT_GRAY8, 64, 48, translating_texture(t, 1, 0), t * kFrame);
    if (discont) GST_BUFFER_FLAG_SET(b.get(), GST_BUFFER_FLAG_DISCONT);
    return b;
  };
  ASSERT_EQ(h.push(frame(0, true).release()), GST_FLOW_OK);
  ASSERT_EQ(h.push(frame(1, false).release()), GST_FLOW_OK);
  ASSERT_EQ(h.push(frame(2, true).release()), GST_FLOW_OK);
  ASSERT_EQ(h.push(frame(3, false).release()), GST_FLOW_OK);
  h.flush();
  ASSERT_EQ(h.push(frame(4, false).release()), GST_FLOW_OK);
  ASSERT_EQ(h.push(frame(5, false).release()), GST_FLOW_OK);
  auto out = h.pull_all();
  ASSERT_EQ(out.size(), 6u);
  const bool expect_meta[] = {false, true, false, true, false, true};
  for (int k = 0; k < 6; k++)
    EXPECT_EQ(gst_buffer_get_optical_flow_meta(out[k].get()) != nullptr, expect_meta[k]) << k;
}

// ------------------------------------------------------------------ saliencyoverlay

namespace {

// A uniform grey frame with an 8x6 map that is 1 in cell (6, 1) and 0 elsewhere.
BufferPtr grey_frame_with_hot_cell(GstVideoFormat fmt, bool with_meta) {
  BufferPtr b = make_frame(
      fmt, 32, 24,
      [](int, int) -> Rgb {
        return {100, 100, 100};
      },
      0);
  if (with_meta) {
    std::vector<float> map(8 * 6, 0.f);
    map[1 * 8 + 6] = 1.f;
    gst_buffer_add_saliency_meta(b.get(), 8, 6, map.data());
  }
  return b;
}

// Bytes of the first plane at pixel (x, y).
std::vector<guint8> pixel(GstBuffer *buf, GstVideoFormat fmt, int x, int y) {
  GstVideoInfo info;
  gst_video_info_set_format(&info, fmt, 32, 24);
  GstVideoFrame frame;
  EXPECT_TRUE(gst_video_frame_map(&frame, &info, buf, GST_MAP_READ));
  const int ps = GST_VIDEO_FRAME_COMP_PSTRIDE(&frame, 0);
  const guint8 *p = (const guint8 *)GST_VIDEO_FRAME_PLANE_DATA(&frame, 0) +
                    y * GST_VIDEO_FRAME_PLANE_STRIDE(&frame, 0) + x * ps;
  std::vector<guint8> v(p, p + ps);
  gst_video_frame_unmap(&frame);
  return v;
}

bool same_bytes(GstBuffer *a, GstBuffer *b) {
  GstMapInfo ma, mb;
  if (!gst_buffer_map(a, &ma, GST_MAP_READ)) return false;
  if (!gst_buffer_map(b, &mb, GST_MAP_READ)) {
    gst_buffer_unmap(a, &ma);
    return false;
  }
  const bool same = ma.size == mb.size && std::memcmp(ma.data, mb.data, ma.size) == 0;
  gst_buffer_unmap(a, &ma);
  gst_buffer_unmap(b, &mb);
  return same;
}

}  // namespace

TEST_F(ElementTest, OverlayChangesPixelsOnlyWhereTheMapIsHigh) {
  for (const char *fmt : {"RGB", "BGRx", "I420", "NV12"}) {
    SCOPED_TRACE(fmt);
    const GstVideoFormat vf = gst_video_format_from_string(fmt);
    Harness h("saliencyoverlay alpha=0.8");
    h.set_caps(std::string("video/x-raw,format=") + fmt + ",width=32,height=24,framerate=25/1");
    BufferPtr plain = grey_frame_with_hot_cell(vf, false);
    BufferPtr reference(gst_buffer_copy_deep(plain.get()));
    ASSERT_EQ(h.push(grey_frame_with_hot_cell(vf, true).release()), GST_FLOW_OK);
    ASSERT_EQ(h.push(plain.release()), GST_FLOW_OK);
    auto out = h.pull_all();
    ASSERT_EQ(out.size(), 2u);
    // Cell (6, 1) of an 8x6 map covers pixels x 24..27, y 4..7 of the 32x24 frame.
    EXPECT_NE(pixel(out[0].get(), vf, 25, 5), pixel(reference.get(), vf, 25, 5)) << "hot cell";
    EXPECT_EQ(pixel(out[0].get(), vf, 3, 20), pixel(reference.get(), vf, 3, 20)) << "cold corner";
    EXPECT_TRUE(same_bytes(out[1].get(), reference.get())) << "frame without a map changed";
  }
}

TEST_F(ElementTest, OverlayWithZeroAlphaAndNoPeakLeavesFramesAlone) {
  Harness h("saliencyoverlay alpha=0");
  h.set_caps(rgb_caps());
  BufferPtr b = grey_frame_with_hot_cell(GST_VIDEO_FORMAT_RGB, true);
  BufferPtr reference(gst_buffer_copy_deep(b.get()));
  ASSERT_EQ(h.push(b.release()), GST_FLOW_OK);
  auto out = h.pull_all();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(same_bytes(out[0].get(), reference.get()));
}

TEST_F(ElementTest, OverlayMarksThePeak) {
  Harness h("saliencyoverlay alpha=0 show-peak=true");
  h.set_caps(rgb_caps());
  ASSERT_EQ(h.push(grey_frame_with_hot_cell(GST_VIDEO_FORMAT_RGB, true).release()), GST_FLOW_OK);
  auto out = h.pull_all();
  ASSERT_EQ(out.size(), 1u);
  // Centre of cell (6, 1): (6.5 * 4, 1.5 * 4) = (26, 6): white.
  EXPECT_EQ(pixel(out[0].get(), GST_VIDEO_FORMAT_RGB, 26, 6), (std::vector<guint8>{255, 255, 255}));
  EXPECT_EQ(pixel(out[0].get(), GST_VIDEO_FORMAT_RGB, 3, 20), (std::vector<guint8>{100, 100, 100}));
}

TEST_F(ElementTest, OverlayMapModeReplacesThePictureByTheGreyMap) {
  Harness h("saliencyoverlay mode=map colormap=gray");
  h.set_caps(rgb_caps());
  ASSERT_EQ(h.push(grey_frame_with_hot_cell(GST_VIDEO_FORMAT_RGB, true).release()), GST_FLOW_OK);
  auto out = h.pull_all();
  ASSERT_EQ(out.size(), 1u);
  // Pixel (26, 6) samples the hot cell with bilinear weight (0.875 * 0.875 ... ) > 0.5;
  // the far corner is the map's minimum: black, whatever the picture was.
  const auto hot = pixel(out[0].get(), GST_VIDEO_FORMAT_RGB, 26, 6);
  EXPECT_GT(hot[0], 128);
  EXPECT_EQ(hot[0], hot[1]);
  EXPECT_EQ(pixel(out[0].get(), GST_VIDEO_FORMAT_RGB, 3, 20), (std::vector<guint8>{0, 0, 0}));
}

TEST_F(ElementTest, OverlayDrawsNothingForAFlatMapEvenWithShowPeak) {
  // A black frame's map (issue #16) is flat: no heat, and no cross-hair (its
  // "first maximum" put one in the top-left corner). Constant and rounding-noise maps.
  for (int noisy = 0; noisy < 2; ++noisy) {
    SCOPED_TRACE(noisy ? "rounding noise" : "constant");
    Harness h("saliencyoverlay alpha=0.8 show-peak=true");
    h.set_caps(rgb_caps());
    BufferPtr b = grey_frame_with_hot_cell(GST_VIDEO_FORMAT_RGB, false);
    std::vector<float> map(8 * 6, 0.25f);
    if (noisy)
      for (size_t i = 0; i < map.size(); i += 3) map[i] = std::nextafter(0.25f, 1.f);
    gst_buffer_add_saliency_meta(b.get(), 8, 6, map.data());
    BufferPtr reference(gst_buffer_copy_deep(b.get()));
    ASSERT_EQ(h.push(b.release()), GST_FLOW_OK);
    auto out = h.pull_all();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_TRUE(same_bytes(out[0].get(), reference.get()));
  }
}

// ------------------------------------- saliencyoverlay: attach or blend (issue #19)

namespace {

// A picture with every byte value somewhere (so that colour - picture takes
// both signs) and an 8x6 map with a real range, not symmetric.
BufferPtr picture_with_map(GstVideoFormat fmt, std::vector<float> *map_out = nullptr) {
  BufferPtr b = make_frame(
      fmt, 32, 24,
      [](int x, int y) -> Rgb {
        return {guint8((x * 37 + y * 11) & 0xff), guint8((x * 5 + y * 53) & 0xff),
                guint8(255 - ((x * 19 + y * 7) & 0xff))};
      },
      0);
  std::vector<float> map(8 * 6);
  for (int y = 0; y < 6; y++)
    for (int x = 0; x < 8; x++) map[y * 8 + x] = float(x * x + 3 * y) / 79.f;
  gst_buffer_add_saliency_meta(b.get(), 8, 6, map.data());
  if (map_out) *map_out = map;
  return b;
}

struct Downstream {
  bool propose_meta = false;   // its ALLOCATION answer lists the composition meta
  const char *caps = nullptr;  // what it accepts; nullptr: anything
};

struct OverlayRun {
  BufferPtr out;
  bool caps_have_feature = false;  // the caps downstream got last
};

// Pushes a deep copy of `input` through `saliencyoverlay <props>` with `down`
// downstream, and returns the frame that comes out.
OverlayRun run_overlay(const std::string &props, GstBuffer *input, const char *format,
                       Downstream down) {
  Harness h("saliencyoverlay " + props);
  if (down.propose_meta)
    gst_harness_add_propose_allocation_meta(h.get(), GST_VIDEO_OVERLAY_COMPOSITION_META_API_TYPE,
                                            nullptr);
  if (down.caps) gst_harness_set_sink_caps_str(h.get(), down.caps);
  h.set_caps(std::string("video/x-raw,format=") + format + ",width=32,height=24,framerate=25/1");
  OverlayRun run;
  EXPECT_EQ(h.push(gst_buffer_copy_deep(input)), GST_FLOW_OK);
  auto out = h.pull_all();
  EXPECT_EQ(out.size(), 1u);
  if (out.empty()) return run;
  run.out = std::move(out[0]);
  GstCaps *caps = gst_pad_get_current_caps(h.get()->sinkpad);
  EXPECT_NE(caps, nullptr);
  if (caps) {
    GstCapsFeatures *f = gst_caps_get_features(caps, 0);
    run.caps_have_feature =
        f && gst_caps_features_contains(f, GST_CAPS_FEATURE_META_GST_VIDEO_OVERLAY_COMPOSITION);
    gst_caps_unref(caps);
  }
  return run;
}

// Largest difference between two frames' bytes (same size), or -1.
int max_byte_difference(GstBuffer *a, GstBuffer *b) {
  GstMapInfo ma, mb;
  if (!gst_buffer_map(a, &ma, GST_MAP_READ)) return -1;
  if (!gst_buffer_map(b, &mb, GST_MAP_READ)) {
    gst_buffer_unmap(a, &ma);
    return -1;
  }
  int d = ma.size == mb.size ? 0 : -1;
  for (gsize i = 0; d >= 0 && i < ma.size; i++) d = std::max(d, std::abs(ma.data[i] - mb.data[i]));
  gst_buffer_unmap(a, &ma);
  gst_buffer_unmap(b, &mb);
  return d;
}

// The library's in-place blend of `input`'s map into a deep copy of it: what
// the blend path must write, byte for byte.
BufferPtr library_blend(GstBuffer *input, GstVideoFormat fmt, const model::HeatmapStyle &style) {
  BufferPtr copy(gst_buffer_copy_deep(input));
  GstVideoInfo info;
  gst_video_info_set_format(&info, fmt, 32, 24);
  GstVideoFrame frame;
  EXPECT_TRUE(gst_video_frame_map(&frame, &info, copy.get(), GST_MAP_READWRITE));
  model::OverlayFrame target;
  target.width = 32;
  target.height = 24;
  model::OverlayFormat of = model::OverlayFormat::RGB;
  if (fmt == GST_VIDEO_FORMAT_BGRx) of = model::OverlayFormat::BGRx;
  if (fmt == GST_VIDEO_FORMAT_I420) of = model::OverlayFormat::I420;
  target.format = of;
  for (guint i = 0; i < GST_VIDEO_FRAME_N_PLANES(&frame); i++) {
    target.planes[i] = (std::uint8_t *)GST_VIDEO_FRAME_PLANE_DATA(&frame, i);
    target.strides[i] = (std::size_t)GST_VIDEO_FRAME_PLANE_STRIDE(&frame, i);
  }
  guint mw = 0, mh = 0;
  GBytes *bytes = gst_saliency_meta_get_map(gst_buffer_get_saliency_meta(input), &mw, &mh);
  model::blend_heatmap(target, {(const float *)g_bytes_get_data(bytes, nullptr), int(mw), int(mh)},
                       style);
  g_bytes_unref(bytes);
  gst_video_frame_unmap(&frame);
  return copy;
}

model::HeatmapStyle turbo_style(float alpha, bool peak) {
  model::HeatmapStyle s;
  s.colormap = model::Colormap::Turbo;
  s.alpha = alpha;
  s.mark_peak = peak;
  return s;
}

}  // namespace

TEST_F(ElementTest, OverlayAttachesACompositionWhenDownstreamRendersIt) {
  for (const char *fmt : {"RGB", "BGRx"}) {
    SCOPED_TRACE(fmt);
    const GstVideoFormat vf = gst_video_format_from_string(fmt);
    BufferPtr input = picture_with_map(vf);
    const std::string props = "colormap=turbo alpha=0.7 show-peak=true";
    OverlayRun attached = run_overlay(props, input.get(), fmt, {true, nullptr});
    OverlayRun blended = run_overlay(props, input.get(), fmt, {false, nullptr});
    ASSERT_TRUE(attached.out && blended.out);
    EXPECT_TRUE(attached.caps_have_feature);
    EXPECT_FALSE(blended.caps_have_feature);
    EXPECT_EQ(gst_buffer_get_video_overlay_composition_meta(blended.out.get()), nullptr);

    // The frame itself is untouched; the heat map is one rectangle over all of it.
    EXPECT_TRUE(same_bytes(attached.out.get(), input.get()));
    GstVideoOverlayCompositionMeta *meta =
        gst_buffer_get_video_overlay_composition_meta(attached.out.get());
    ASSERT_NE(meta, nullptr);
    ASSERT_EQ(gst_video_overlay_composition_n_rectangles(meta->overlay), 1u);
    gint x = -1, y = -1;
    guint w = 0, h = 0;
    gst_video_overlay_rectangle_get_render_rectangle(
        gst_video_overlay_composition_get_rectangle(meta->overlay, 0), &x, &y, &w, &h);
    EXPECT_EQ(x, 0);
    EXPECT_EQ(y, 0);
    EXPECT_EQ(w, 32u);
    EXPECT_EQ(h, 24u);

    // Composited the way a sink without GL would (gst_video_overlay_composition_blend),
    // it is the in-place blend up to 8-bit rounding. Exact weight t = alpha * m:
    // the element writes round(p + (w/256)(c - p)) with w = round(256 t), which is
    // within 0.5 + 255 * 0.5/256 < 1 of p + t (c - p); GStreamer's blend computes
    // (c a + p (255 - a)) / 255 with a = round(255 t), truncated: 0 to 1 below the
    // exact value for a, and a is within 255 * 0.5/255 = 0.5 of t's. So the two
    // differ by less than 1 + 1.5 levels: at most 2.
    BufferPtr composited(gst_buffer_copy_deep(input.get()));
    GstVideoInfo info;
    gst_video_info_set_format(&info, vf, 32, 24);
    GstVideoFrame frame;
    ASSERT_TRUE(gst_video_frame_map(&frame, &info, composited.get(), GST_MAP_READWRITE));
    EXPECT_TRUE(gst_video_overlay_composition_blend(meta->overlay, &frame));
    gst_video_frame_unmap(&frame);
    const int diff = max_byte_difference(composited.get(), blended.out.get());
    EXPECT_GE(diff, 0);
    EXPECT_LE(diff, 2);
    // ... and the heat map is really there (a no-op blend would also be "close").
    EXPECT_GT(max_byte_difference(blended.out.get(), input.get()), 40);
    EXPECT_EQ(pixel(composited.get(), vf, 30, 22), pixel(blended.out.get(), vf, 30, 22))
        << "the peak marker is opaque in both";
  }
}

TEST_F(ElementTest, OverlayBlendsInPlaceAsBeforeWithoutMetaSupport) {
  // Without the meta in downstream's ALLOCATION answer, or without the caps
  // feature in what downstream accepts, the frame is blended exactly as the
  // library blends it, and carries no composition.
  const char *plain_rgb = "video/x-raw,format=RGB,width=32,height=24,framerate=25/1";
  struct Case {
    const char *name;
    Downstream down;
  };
  const Case cases[] = {{"no meta in the allocation answer", {false, nullptr}},
                        {"caps without the feature", {true, plain_rgb}}};
  BufferPtr input = picture_with_map(GST_VIDEO_FORMAT_RGB);
  BufferPtr expected = library_blend(input.get(), GST_VIDEO_FORMAT_RGB, turbo_style(0.7f, true));
  EXPECT_GT(max_byte_difference(expected.get(), input.get()), 40);
  for (const Case &c : cases) {
    SCOPED_TRACE(c.name);
    OverlayRun run =
        run_overlay("colormap=turbo alpha=0.7 show-peak=true", input.get(), "RGB", c.down);
    ASSERT_TRUE(run.out);
    EXPECT_FALSE(run.caps_have_feature);
    EXPECT_EQ(gst_buffer_get_video_overlay_composition_meta(run.out.get()), nullptr);
    EXPECT_TRUE(same_bytes(run.out.get(), expected.get()));
  }
  // I420 too: the existing YUV blend, unchanged.
  BufferPtr yuv = picture_with_map(GST_VIDEO_FORMAT_I420);
  OverlayRun run = run_overlay("colormap=turbo alpha=0.7", yuv.get(), "I420", {false, nullptr});
  ASSERT_TRUE(run.out);
  EXPECT_TRUE(
      same_bytes(run.out.get(),
                 library_blend(yuv.get(), GST_VIDEO_FORMAT_I420, turbo_style(0.7f, false)).get()));
}

TEST_F(ElementTest, OverlayMapModeAndFlatMapsAttachNothing) {
  // mode=map exports maps: it writes the frame even where downstream could composite.
  BufferPtr input = picture_with_map(GST_VIDEO_FORMAT_RGB);
  OverlayRun map_mode = run_overlay("mode=map colormap=turbo", input.get(), "RGB", {true, nullptr});
  ASSERT_TRUE(map_mode.out);
  model::HeatmapStyle replace = turbo_style(0.5f, false);
  replace.replace_picture = true;
  EXPECT_TRUE(same_bytes(map_mode.out.get(),
                         library_blend(input.get(), GST_VIDEO_FORMAT_RGB, replace).get()));
  EXPECT_EQ(gst_buffer_get_video_overlay_composition_meta(map_mode.out.get()), nullptr);

  // A flat map has nothing to show: no rectangle, the frame as it was.
  BufferPtr flat = grey_frame_with_hot_cell(GST_VIDEO_FORMAT_RGB, false);
  std::vector<float> constant(8 * 6, 0.25f);
  gst_buffer_add_saliency_meta(flat.get(), 8, 6, constant.data());
  OverlayRun run = run_overlay("alpha=0.8 show-peak=true", flat.get(), "RGB", {true, nullptr});
  ASSERT_TRUE(run.out);
  EXPECT_TRUE(run.caps_have_feature);
  EXPECT_EQ(gst_buffer_get_video_overlay_composition_meta(run.out.get()), nullptr);
  EXPECT_TRUE(same_bytes(run.out.get(), flat.get()));
}

TEST_F(ElementTest, OverlaySwitchesToAttachingWhenDownstreamReconfigures) {
  Harness h("saliencyoverlay alpha=0.7");
  h.set_caps(rgb_caps());
  BufferPtr input = picture_with_map(GST_VIDEO_FORMAT_RGB);
  ASSERT_EQ(h.push(gst_buffer_copy_deep(input.get())), GST_FLOW_OK);
  // Downstream now renders the meta (a GL sink took over) and asks to renegotiate.
  gst_harness_add_propose_allocation_meta(h.get(), GST_VIDEO_OVERLAY_COMPOSITION_META_API_TYPE,
                                          nullptr);
  ASSERT_TRUE(gst_harness_push_upstream_event(h.get(), gst_event_new_reconfigure()));
  ASSERT_EQ(h.push(gst_buffer_copy_deep(input.get())), GST_FLOW_OK);
  auto out = h.pull_all();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_FALSE(same_bytes(out[0].get(), input.get()));
  EXPECT_EQ(gst_buffer_get_video_overlay_composition_meta(out[0].get()), nullptr);
  EXPECT_TRUE(same_bytes(out[1].get(), input.get()));
  EXPECT_NE(gst_buffer_get_video_overlay_composition_meta(out[1].get()), nullptr);
}

// ------------------------------------------------------------------ saliencyroi

namespace {

struct Roi {
  guint x, y, w, h;
  gint vaapi_qp, msdk_qp;
  double score;
};

std::vector<Roi> rois(GstBuffer *buf) {
  std::vector<Roi> out;
  gpointer state = nullptr;
  GstMeta *m;
  while ((m = gst_buffer_iterate_meta_filtered(buf, &state,
                                               GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE))) {
    auto *roi = (GstVideoRegionOfInterestMeta *)m;
    EXPECT_STREQ(g_quark_to_string(roi->roi_type), "saliency");
    Roi r{roi->x, roi->y, roi->w, roi->h, 999, 999, -1};
    if (GstStructure *s = gst_video_region_of_interest_meta_get_param(roi, "roi/vaapi"))
      gst_structure_get_int(s, "delta-qp", &r.vaapi_qp);
    if (GstStructure *s = gst_video_region_of_interest_meta_get_param(roi, "roi/msdk"))
      gst_structure_get_int(s, "delta-qp", &r.msdk_qp);
    if (GstStructure *s = gst_video_region_of_interest_meta_get_param(roi, "saliency"))
      gst_structure_get_double(s, "score", &r.score);
    out.push_back(r);
  }
  return out;
}

// 16x9 map on a 320x180 frame (20 px per cell) with three blobs of peaks 1.0, 0.8, 0.6.
BufferPtr frame_with_three_blobs(GstClockTime pts) {
  BufferPtr b = make_frame(
      GST_VIDEO_FORMAT_I420, 320, 180,
      [](int, int) -> Rgb {
        return {0, 0, 0};
      },
      pts);
  std::vector<float> map(16 * 9, 0.f);
  map[2 * 16 + 2] = 1.0f;   // cell (2, 2): pixels 40..60
  map[6 * 16 + 12] = 0.8f;  // cell (12, 6)
  map[1 * 16 + 13] = 0.6f;  // cell (13, 1)
  gst_buffer_add_saliency_meta(b.get(), 16, 9, map.data());
  return b;
}

}  // namespace

TEST_F(ElementTest, RoiAddsAtMostMaxRegionsWithEncoderParameters) {
  Harness h("saliencyroi max-regions=2 delta-qp=-7 threshold=0.5");
  h.set_caps("video/x-raw,format=I420,width=320,height=180,framerate=25/1");
  ASSERT_EQ(h.push(frame_with_three_blobs(0).release()), GST_FLOW_OK);
  BufferPtr plain = make_frame(
      GST_VIDEO_FORMAT_I420, 320, 180,
      [](int, int) -> Rgb {
        return {0, 0, 0};
      },
      kFrame);
  ASSERT_EQ(h.push(plain.release()), GST_FLOW_OK);
  auto out = h.pull_all();
  ASSERT_EQ(out.size(), 2u);
  const auto r = rois(out[0].get());
  ASSERT_EQ(r.size(), 2u) << "max-regions=2 of three blobs";
  // Best first: the 1.0 blob at pixels 40..60, grown to macroblocks 32..64.
  EXPECT_EQ(r[0].x, 32u);
  EXPECT_EQ(r[0].y, 32u);
  EXPECT_EQ(r[0].w, 32u);
  EXPECT_EQ(r[0].h, 32u);
  EXPECT_DOUBLE_EQ(r[0].score, 1.0);
  EXPECT_NEAR(r[1].score, 0.8, 1e-6);
  for (const auto &roi : r) {
    EXPECT_EQ(roi.vaapi_qp, -7);
    EXPECT_EQ(roi.msdk_qp, -7);
    EXPECT_LE(roi.x + roi.w, 320u);
    EXPECT_LE(roi.y + roi.h, 180u);
  }
  EXPECT_TRUE(rois(out[1].get()).empty()) << "no map, no ROI";
}

TEST_F(ElementTest, RoiReplacesItsOwnRegionsAndKeepsStableOnes) {
  Harness h("saliencyroi name=r ! saliencyroi max-regions=4 keep-iou=0.7");
  h.set_caps("video/x-raw,format=I420,width=320,height=180,framerate=25/1");
  ASSERT_EQ(h.push(frame_with_three_blobs(0).release()), GST_FLOW_OK);
  ASSERT_EQ(h.push(frame_with_three_blobs(kFrame).release()), GST_FLOW_OK);
  auto out = h.pull_all();
  ASSERT_EQ(out.size(), 2u);
  // The second element replaced the first one's 4-default regions (3 blobs) by its own 3.
  EXPECT_EQ(rois(out[0].get()).size(), 3u);
  EXPECT_EQ(rois(out[1].get()).size(), 3u);
}

TEST_F(ElementTest, RoiAddsNoRegionForAFlatMap) {
  // Constant, and constant up to rounding noise (normalised, the noise cells
  // were regions of score 1): nothing stands out, so no ROI, uniform quality.
  for (int noisy = 0; noisy < 2; ++noisy) {
    SCOPED_TRACE(noisy ? "rounding noise" : "constant");
    Harness h("saliencyroi");
    h.set_caps("video/x-raw,format=I420,width=320,height=180,framerate=25/1");
    BufferPtr b = make_frame(
        GST_VIDEO_FORMAT_I420, 320, 180,
        [](int, int) -> Rgb {
          return {0, 0, 0};
        },
        0);
    std::vector<float> map(16 * 9, 0.6f);
    if (noisy)
      for (size_t i = 0; i < map.size(); i += 7) map[i] = std::nextafter(0.6f, 1.f);
    gst_buffer_add_saliency_meta(b.get(), 16, 9, map.data());
    ASSERT_EQ(h.push(b.release()), GST_FLOW_OK);
    auto out = h.pull_all();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_TRUE(rois(out[0].get()).empty());
  }
}

// ------------------------------------------------------------------ saliencycrop

namespace {

struct Window {
  int x = 0, y = 0, w = 0, h = 0, source_w = 0, source_h = 0;
  int centre_x() const { return x + w / 2; }
};

// The GstSaliencyCropMeta of `buf`; fails the test when there is none.
Window crop_window(GstBuffer *buf) {
  Window win;
  const GstSaliencyCropMeta *m = gst_buffer_get_saliency_crop_meta(buf);
  EXPECT_NE(m, nullptr) << "no GstSaliencyCropMeta";
  if (!m) return win;
  win = {(int)m->x,
         (int)m->y,
         (int)m->width,
         (int)m->height,
         (int)m->source_width,
         (int)m->source_height};
  return win;
}

// Everything the element has pushed so far. saliencycrop works in the streaming thread, so that
// is all it will push before more input; it keeps serialized events behind the frames it holds,
// so Harness::sync() would wait for its marker.
std::vector<BufferPtr> pull_now(Harness &h) {
  std::vector<BufferPtr> out;
  while (GstBuffer *b = gst_harness_try_pull(h.get())) out.emplace_back(b);
  return out;
}

// Width and height of the caps the element negotiated downstream.
std::pair<int, int> output_size(Harness &h) {
  GstCaps *caps = gst_pad_get_current_caps(h.get()->sinkpad);
  GstVideoInfo info;
  const bool ok = caps && gst_video_info_from_caps(&info, caps);
  if (caps) gst_caps_unref(caps);
  EXPECT_TRUE(ok) << "no caps downstream";
  return ok ? std::make_pair(GST_VIDEO_INFO_WIDTH(&info), GST_VIDEO_INFO_HEIGHT(&info))
            : std::make_pair(0, 0);
}

std::string crop_caps(const char *format, int w, int h, const char *extra = "") {
  return std::string("video/x-raw,format=") + format + ",width=" + std::to_string(w) +
         ",height=" + std::to_string(h) + ",framerate=25/1" + extra;
}

// A map of mw x mh cells with a Gaussian blob (sigma 1.5 cells) centred on frame pixel (px, py)
// of a w x h frame.
std::vector<float> blob_map(int mw, int mh, int w, int h, double px, double py) {
  std::vector<float> map(mw * mh);
  const double cx = px * mw / w - 0.5, cy = py * mh / h - 0.5;
  for (int y = 0; y < mh; y++)
    for (int x = 0; x < mw; x++)
      map[y * mw + x] =
          (float)std::exp(-((x - cx) * (x - cx) + (y - cy) * (y - cy)) / (2 * 1.5 * 1.5));
  return map;
}

// Pixels that code their position (R = x, G = y, as long as both are below 256), so that a crop
// shows where it came from, and linear, so that bilinear scaling keeps the code.
Painter position_code() {
  return [](int x, int y) -> Rgb { return {(std::uint8_t)x, (std::uint8_t)y, 77}; };
}

// Frame i of `format` painted by `paint`, with the blob map of frame pixel (px, py) unless
// `with_map` is false.
BufferPtr crop_frame(GstVideoFormat format, int w, int h, const Painter &paint, int i, double px,
                     double py, bool with_map = true, int mw = 32, int mh = 18) {
  BufferPtr b = make_frame(format, w, h, paint, i * kFrame);
  if (format == GST_VIDEO_FORMAT_I420 || format == GST_VIDEO_FORMAT_NV12) {
    // make_frame leaves chroma neutral; code the position there too, so that a crop that moved
    // the chroma planes wrongly shows.
    GstVideoInfo info;
    gst_video_info_set_format(&info, format, w, h);
    GstVideoFrame f;
    EXPECT_TRUE(gst_video_frame_map(&f, &info, b.get(), GST_MAP_WRITE));
    for (guint p = 1; p < GST_VIDEO_FRAME_N_PLANES(&f); p++)
      for (int y = 0; y < GST_VIDEO_FRAME_COMP_HEIGHT(&f, 1); y++) {
        guint8 *row =
            (guint8 *)GST_VIDEO_FRAME_PLANE_DATA(&f, p) + y * GST_VIDEO_FRAME_PLANE_STRIDE(&f, p);
        const int bytes = GST_VIDEO_FRAME_COMP_WIDTH(&f, 1) * GST_VIDEO_FRAME_COMP_PSTRIDE(&f, 1);
        for (int x = 0; x < bytes; x++) row[x] = (guint8)(7 * x + 3 * y + 50 * p + i);
      }
    gst_video_frame_unmap(&f);
  }
  if (with_map) {
    const std::vector<float> map = blob_map(mw, mh, w, h, px, py);
    gst_buffer_add_saliency_meta(b.get(), mw, mh, map.data());
  }
  return b;
}

// Every plane of `out` equals the window of `in` (same format), byte for byte.
void expect_window_pixels(GstBuffer *in, GstBuffer *out, GstVideoFormat format, int in_w, int in_h,
                          const Window &win) {
  GstVideoInfo in_info, out_info;
  gst_video_info_set_format(&in_info, format, in_w, in_h);
  gst_video_info_set_format(&out_info, format, win.w, win.h);
  GstVideoFrame a, b;
  ASSERT_TRUE(gst_video_frame_map(&a, &in_info, in, GST_MAP_READ));
  ASSERT_TRUE(gst_video_frame_map(&b, &out_info, out, GST_MAP_READ));
  int mismatches = 0;
  for (guint p = 0; p < GST_VIDEO_FRAME_N_PLANES(&a); p++) {
    gint comps[GST_VIDEO_MAX_COMPONENTS];
    gst_video_format_info_component(a.info.finfo, p, comps);
    const int ws = GST_VIDEO_FORMAT_INFO_W_SUB(a.info.finfo, comps[0]);
    const int hs = GST_VIDEO_FORMAT_INFO_H_SUB(a.info.finfo, comps[0]);
    const int ps = GST_VIDEO_FRAME_COMP_PSTRIDE(&a, comps[0]);
    const int rows = GST_VIDEO_FRAME_COMP_HEIGHT(&b, comps[0]);
    const int bytes = GST_VIDEO_FRAME_COMP_WIDTH(&b, comps[0]) * ps;
    for (int y = 0; y < rows; y++) {
      const guint8 *src = (const guint8 *)GST_VIDEO_FRAME_PLANE_DATA(&a, p) +
                          ((win.y >> hs) + y) * GST_VIDEO_FRAME_PLANE_STRIDE(&a, p) +
                          (win.x >> ws) * ps;
      const guint8 *dst = (const guint8 *)GST_VIDEO_FRAME_PLANE_DATA(&b, p) +
                          y * GST_VIDEO_FRAME_PLANE_STRIDE(&b, p);
      if (std::memcmp(src, dst, bytes) != 0) mismatches++;
    }
  }
  gst_video_frame_unmap(&b);
  gst_video_frame_unmap(&a);
  EXPECT_EQ(mismatches, 0) << "rows that differ from the input's window";
}

constexpr int kCropW = 320, kCropH = 180;  // 16:9 in, 9:16 out: 102x180

}  // namespace

TEST_F(ElementTest, CropExistsWithTheDesignDefaults) {
  ElementPtr el = make_element("saliencycrop");
  ASSERT_NE(el, nullptr);
  GValue aspect = G_VALUE_INIT;
  g_value_init(&aspect, GST_TYPE_FRACTION);
  g_object_get_property(G_OBJECT(el.get()), "aspect-ratio", &aspect);
  EXPECT_EQ(gst_value_get_fraction_numerator(&aspect), 9);
  EXPECT_EQ(gst_value_get_fraction_denominator(&aspect), 16);
  g_value_unset(&aspect);
  gint look_ahead = -1, mode = -1;
  gdouble max_speed = 0, zoom = 0;
  g_object_get(el.get(), "look-ahead", &look_ahead, "mode", &mode, "max-speed", &max_speed, "zoom",
               &zoom, NULL);
  EXPECT_EQ(look_ahead, 15);
  EXPECT_DOUBLE_EQ(max_speed, 0.015);
  EXPECT_DOUBLE_EQ(zoom, 1.0);
  GParamSpec *spec = g_object_class_find_property(G_OBJECT_GET_CLASS(el.get()), "mode");
  ASSERT_NE(spec, nullptr);
  GEnumValue *value = g_enum_get_value(G_PARAM_SPEC_ENUM(spec)->enum_class, mode);
  ASSERT_NE(value, nullptr);
  EXPECT_STREQ(value->value_nick, "auto");
  for (const char *nick : {"stationary", "track"})
    EXPECT_NE(g_enum_get_value_by_nick(G_PARAM_SPEC_ENUM(spec)->enum_class, nick), nullptr) << nick;
}

TEST_F(ElementTest, CropOutputIsTheFittedWindowOfTheInput) {
  struct Case {
    const char *launch, *format;
    int in_w, in_h, out_w, out_h;
  } cases[] = {
      {"saliencycrop", "I420", 640, 360, 202, 360},  // 360 * 9 / 16 = 202.5 -> even 202
      {"saliencycrop", "RGB", 640, 360, 202, 360},
      {"saliencycrop", "NV12", 1920, 1080, 608, 1080},
      {"saliencycrop aspect-ratio=16/9", "BGRx", 360, 640, 360, 202},  // portrait in: full width
      {"saliencycrop aspect-ratio=1/1", "GRAY8", 320, 180, 180, 180},
  };
  for (const Case &c : cases) {
    SCOPED_TRACE(std::string(c.launch) + " " + c.format + " " + std::to_string(c.in_w) + "x" +
                 std::to_string(c.in_h));
    Harness h(std::string(c.launch) + " look-ahead=0");
    h.set_caps(crop_caps(c.format, c.in_w, c.in_h));
    GstVideoFormat fmt = gst_video_format_from_string(c.format);
    ASSERT_EQ(
        h.push(
            crop_frame(fmt, c.in_w, c.in_h, position_code(), 0, c.in_w / 2, c.in_h / 2).release()),
        GST_FLOW_OK);
    const auto out = pull_now(h);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(output_size(h), std::make_pair(c.out_w, c.out_h));
    GstVideoInfo info;
    gst_video_info_set_format(&info, fmt, c.out_w, c.out_h);
    EXPECT_GE(gst_buffer_get_size(out[0].get()), GST_VIDEO_INFO_SIZE(&info));
    const Window win = crop_window(out[0].get());
    EXPECT_EQ(win.w, c.out_w);
    EXPECT_EQ(win.h, c.out_h);
    EXPECT_EQ(win.source_w, c.in_w);
    EXPECT_EQ(win.source_h, c.in_h);
  }
}

TEST_F(ElementTest, CropAcceptsTheDesignFormatsOnly) {
  Harness h = Harness::element("saliencycrop");
  GstPad *sink = gst_element_get_static_pad(h.get()->element, "sink");
  for (const char *fmt : {"RGB", "BGR", "RGBA", "BGRA", "RGBx", "BGRx", "GRAY8", "I420", "NV12"}) {
    GstCaps *caps = gst_caps_from_string(crop_caps(fmt, 64, 36).c_str());
    EXPECT_TRUE(gst_pad_query_accept_caps(sink, caps)) << fmt;
    gst_caps_unref(caps);
  }
  for (const char *caps_str : {"video/x-raw,format=YUY2,width=64,height=36,framerate=25/1",
                               "audio/x-raw,format=S16LE,rate=48000,channels=1"}) {
    GstCaps *caps = gst_caps_from_string(caps_str);
    EXPECT_FALSE(gst_pad_query_accept_caps(sink, caps)) << caps_str;
    gst_caps_unref(caps);
  }
  gst_object_unref(sink);
}

// Every format's planes, chroma included, come out as the window of the input, byte for byte.
TEST_F(ElementTest, CropCopiesTheWindowOfEveryPlane) {
  for (const char *name : {"RGB", "BGR", "RGBA", "BGRA", "RGBx", "BGRx", "GRAY8", "I420", "NV12"}) {
    SCOPED_TRACE(name);
    const GstVideoFormat fmt = gst_video_format_from_string(name);
    Harness h("saliencycrop look-ahead=0 mode=track");
    h.set_caps(crop_caps(name, kCropW, kCropH));
    std::vector<BufferPtr> in;
    for (int i = 0; i < 12; i++) {
      // Colour that varies with the position in every channel (crop_frame codes YUV chroma).
      in.push_back(crop_frame(
          fmt, kCropW, kCropH,
          [](int x, int y) -> Rgb {
            return {(std::uint8_t)x, (std::uint8_t)(3 * y), (std::uint8_t)(x + y)};
          },
          i, 250, 90));
      ASSERT_EQ(h.push(gst_buffer_ref(in.back().get())), GST_FLOW_OK);
    }
    const auto out = pull_now(h);
    ASSERT_EQ(out.size(), in.size());
    bool moved = false;
    for (size_t k = 0; k < out.size(); k++) {
      SCOPED_TRACE("frame " + std::to_string(k));
      const Window win = crop_window(out[k].get());
      moved |= win.x != (((kCropW - 102) / 2) & ~1);  // fitted_crop centres at an even x
      expect_window_pixels(in[k].get(), out[k].get(), fmt, kCropW, kCropH, win);
    }
    EXPECT_TRUE(moved) << "the window never left the centre, so the test shows little";
  }
}

// A blob moving left to right: the window follows it within the speed limit, every frame leaves
// once in order with its timestamps, and carries its window and the map under it.
TEST_F(ElementTest, CropFollowsAMovingBlobWithinTheSpeedLimit) {
  const int n = 80;
  const double max_speed = 0.015;
  Harness h("saliencycrop");  // the defaults: 9/16, 15 frames of look-ahead, auto
  h.set_caps(crop_caps("RGB", kCropW, kCropH));
  std::vector<BufferPtr> in;
  std::vector<double> blob_x;
  for (int i = 0; i < n; i++) {
    blob_x.push_back(60 + 200.0 * i / (n - 1));  // 2.5 px per frame, under 4.8 px max speed
    in.push_back(
        crop_frame(GST_VIDEO_FORMAT_RGB, kCropW, kCropH, position_code(), i, blob_x[i], 90));
    if (i == 0) GST_BUFFER_FLAG_SET(in.back().get(), GST_BUFFER_FLAG_DISCONT);
    ASSERT_EQ(h.push(gst_buffer_ref(in.back().get())), GST_FLOW_OK);
  }
  EXPECT_EQ(gst_harness_buffers_in_queue(h.get()), (guint)(n - 15)) << "15 frames of look-ahead";
  h.eos();
  const auto out = pull_now(h);
  expect_frames_in_order(out, 0, n);
  ASSERT_EQ(out.size(), (size_t)n);
  EXPECT_EQ(output_size(h), std::make_pair(102, 180));

  int blob_inside = 0;
  std::vector<Window> path;
  for (int k = 0; k < n; k++) {
    SCOPED_TRACE("frame " + std::to_string(k));
    const Window win = crop_window(out[k].get());
    path.push_back(win);
    EXPECT_EQ(win.w, 102);
    EXPECT_EQ(win.h, 180);
    EXPECT_EQ(win.source_w, kCropW);
    EXPECT_EQ(win.source_h, kCropH);
    EXPECT_GE(win.x, 0);
    EXPECT_LE(win.x + win.w, kCropW);
    EXPECT_EQ(win.y, 0);
    if (k > 0) {
      EXPECT_LE(std::abs(win.x - path[k - 1].x), max_speed * kCropW) << "faster than max-speed";
    }
    const bool inside = blob_x[k] >= win.x && blob_x[k] < win.x + win.w;
    blob_inside += inside;

    // The map under the window, at the map's density (10 px per cell): 18 rows, about 10 columns.
    guint mw = 0, mh = 0;
    const std::vector<float> map = map_values(out[k].get(), &mw, &mh);
    ASSERT_FALSE(map.empty()) << "no cropped GstSaliencyMeta";
    EXPECT_EQ(mh, 18u);
    EXPECT_GE(mw, 9u);
    EXPECT_LE(mw, 12u);
    if (inside) {
      // Its peak is the blob's, where the blob is in the window.
      const int peak = (int)(std::max_element(map.begin(), map.end()) - map.begin());
      const double peak_x = win.x + (peak % mw + 0.5) * win.w / mw;
      EXPECT_NEAR(peak_x, blob_x[k], 12.0);
      EXPECT_GT(*std::max_element(map.begin(), map.end()), 0.7f);
    }
    // The pixels are the input's at the window: R codes x, G codes y.
    if (k % 20 == 5) {
      expect_window_pixels(in[k].get(), out[k].get(), GST_VIDEO_FORMAT_RGB, kCropW, kCropH, win);
    }
  }
  EXPECT_GE(blob_inside, n * 9 / 10) << "the blob left the window too often";
  EXPECT_GT(path.back().centre_x() - path.front().centre_x(), 120) << "the window did not follow";
}

TEST_F(ElementTest, CropHoldsLookAheadFramesUntilEosAndReportsThemAsLatency) {
  {
    Harness h("saliencycrop look-ahead=5");
    h.set_caps(crop_caps("I420", kCropW, kCropH));
    gst_harness_set_upstream_latency(h.get(), 10 * GST_MSECOND);
    EXPECT_EQ(gst_harness_query_latency(h.get()), 10 * GST_MSECOND + 5 * kFrame);
    for (int i = 0; i < 3; i++)
      ASSERT_EQ(
          h.push(crop_frame(GST_VIDEO_FORMAT_I420, kCropW, kCropH, position_code(), i, 160, 90)
                     .release()),
          GST_FLOW_OK);
    EXPECT_EQ(gst_harness_buffers_in_queue(h.get()), 0u) << "held for their look-ahead";
    h.eos();
    const auto out = pull_now(h);
    ASSERT_EQ(out.size(), 3u) << "EOS drains the held frames";
    for (int k = 0; k < 3; k++) {
      EXPECT_EQ(GST_BUFFER_PTS(out[k].get()), k * kFrame);
      EXPECT_EQ(GST_BUFFER_DURATION(out[k].get()), kFrame);
      crop_window(out[k].get());
    }
  }
  {
    // 50 fps caps: 20 ms a frame; look-ahead 0 adds nothing and holds nothing.
    Harness h("saliencycrop look-ahead=0");
    h.set_caps("video/x-raw,format=I420,width=320,height=180,framerate=50/1");
    gst_harness_set_upstream_latency(h.get(), 10 * GST_MSECOND);
    EXPECT_EQ(gst_harness_query_latency(h.get()), 10 * GST_MSECOND);
    ASSERT_EQ(h.push(crop_frame(GST_VIDEO_FORMAT_I420, kCropW, kCropH, position_code(), 0, 160, 90)
                         .release()),
              GST_FLOW_OK);
    EXPECT_EQ(gst_harness_buffers_in_queue(h.get()), 1u);
  }
  {
    Harness h("saliencycrop look-ahead=3");
    h.set_caps("video/x-raw,format=I420,width=320,height=180,framerate=50/1");
    gst_harness_set_upstream_latency(h.get(), 0);
    EXPECT_EQ(gst_harness_query_latency(h.get()), 3 * 20 * GST_MSECOND);
  }
}

TEST_F(ElementTest, CropAsksUpstreamForTheFramesItHolds) {
  Harness h("saliencycrop look-ahead=7");
  h.set_caps(crop_caps("I420", kCropW, kCropH));
  GstCaps *caps = gst_caps_from_string(crop_caps("I420", kCropW, kCropH).c_str());
  GstQuery *q = gst_query_new_allocation(caps, TRUE);
  gst_caps_unref(caps);
  EXPECT_TRUE(gst_pad_peer_query(h.get()->srcpad, q));
  guint min_buffers = 0;
  for (guint i = 0; i < gst_query_get_n_allocation_pools(q); i++) {
    guint size, min, max;
    gst_query_parse_nth_allocation_pool(q, i, nullptr, &size, &min, &max);
    min_buffers = std::max(min_buffers, min);
    EXPECT_TRUE(max == 0 || max >= min);
  }
  EXPECT_GE(min_buffers, 8u) << "7 held frames + the one being cropped";
  EXPECT_TRUE(gst_query_find_allocation_meta(q, GST_VIDEO_META_API_TYPE, nullptr));
  gst_query_unref(q);
}

TEST_F(ElementTest, CropFlushDropsHeldFramesAndTheNextStreamWorks) {
  Harness h("saliencycrop look-ahead=5");
  h.set_caps(crop_caps("NV12", kCropW, kCropH));
  for (int i = 0; i < 3; i++)
    ASSERT_EQ(h.push(crop_frame(GST_VIDEO_FORMAT_NV12, kCropW, kCropH, position_code(), i, 60, 90)
                         .release()),
              GST_FLOW_OK);
  EXPECT_EQ(gst_harness_buffers_in_queue(h.get()), 0u);
  h.flush();
  for (int i = 100; i < 108; i++) {
    BufferPtr b = crop_frame(GST_VIDEO_FORMAT_NV12, kCropW, kCropH, position_code(), i, 260, 90);
    if (i == 100) GST_BUFFER_FLAG_SET(b.get(), GST_BUFFER_FLAG_DISCONT);
    ASSERT_EQ(h.push(b.release()), GST_FLOW_OK);
  }
  EXPECT_EQ(gst_harness_buffers_in_queue(h.get()), 3u) << "8 pushed, 5 held";
  h.eos();
  const auto out = pull_now(h);
  // Frames 0-2 were dropped by the flush; the new stream is complete, its DISCONT in place.
  expect_frames_in_order(out, 100, 8);
  for (const auto &b : out) crop_window(b.get());
}

TEST_F(ElementTest, CropKeepsEventsInPlaceAndDrainsBeforeADiscont) {
  Harness h("saliencycrop look-ahead=4");
  h.set_caps(crop_caps("RGB", kCropW, kCropH));
  while (GstEvent *e = gst_harness_try_pull_event(h.get())) gst_event_unref(e);
  for (int i = 0; i < 2; i++)
    ASSERT_EQ(h.push(crop_frame(GST_VIDEO_FORMAT_RGB, kCropW, kCropH, position_code(), i, 160, 90)
                         .release()),
              GST_FLOW_OK);
  // A tag between frames 1 and 2 waits behind the two held frames.
  GstTagList *tags = gst_tag_list_new(GST_TAG_TITLE, "between 1 and 2", NULL);
  ASSERT_TRUE(gst_harness_push_event(h.get(), gst_event_new_tag(tags)));
  EXPECT_EQ(gst_harness_events_in_queue(h.get()), 0u) << "the tag overtook the held frames";
  // A DISCONT frame: the held frames leave first, then the tag.
  BufferPtr d = crop_frame(GST_VIDEO_FORMAT_RGB, kCropW, kCropH, position_code(), 2, 160, 90);
  GST_BUFFER_FLAG_SET(d.get(), GST_BUFFER_FLAG_DISCONT);
  ASSERT_EQ(h.push(d.release()), GST_FLOW_OK);
  EXPECT_EQ(gst_harness_buffers_in_queue(h.get()), 2u);
  EXPECT_EQ(gst_harness_events_in_queue(h.get()), 1u);
  h.eos();
  const auto out = pull_now(h);
  ASSERT_EQ(out.size(), 3u);
  for (int k = 0; k < 3; k++) {
    EXPECT_EQ(GST_BUFFER_PTS(out[k].get()), k * kFrame);
    EXPECT_EQ(GST_BUFFER_IS_DISCONT(out[k].get()), k == 2) << "flags stay with their frames";
  }
}

namespace {
gsize i420_size(int w, int h) {
  GstVideoInfo info;
  gst_video_info_set_format(&info, GST_VIDEO_FORMAT_I420, w, h);
  return GST_VIDEO_INFO_SIZE(&info);
}
}  // namespace

TEST_F(ElementTest, CropDrainsOnCapsChangeAndCropsTheNewSize) {
  Harness h("saliencycrop look-ahead=4");
  h.set_caps(crop_caps("I420", kCropW, kCropH));
  for (int i = 0; i < 3; i++)
    ASSERT_EQ(h.push(crop_frame(GST_VIDEO_FORMAT_I420, kCropW, kCropH, position_code(), i, 160, 90)
                         .release()),
              GST_FLOW_OK);
  EXPECT_EQ(gst_harness_buffers_in_queue(h.get()), 0u);
  // 640x360: the three held frames leave first, at the old size (caps, then segment, both drain).
  h.set_caps(crop_caps("I420", 640, 360));
  auto before = pull_now(h);
  ASSERT_EQ(before.size(), 3u);
  for (int k = 0; k < 3; k++) {
    EXPECT_EQ(GST_BUFFER_PTS(before[k].get()), k * kFrame);
    EXPECT_EQ(crop_window(before[k].get()).source_w, kCropW);
    EXPECT_EQ(gst_buffer_get_size(before[k].get()), i420_size(102, 180));
  }
  for (int i = 3; i < 8; i++)
    ASSERT_EQ(
        h.push(crop_frame(GST_VIDEO_FORMAT_I420, 640, 360, position_code(), i, 320, 180).release()),
        GST_FLOW_OK);
  h.eos();
  const auto after = pull_now(h);
  ASSERT_EQ(after.size(), 5u);
  EXPECT_EQ(output_size(h), std::make_pair(202, 360));
  for (int k = 0; k < 5; k++) {
    EXPECT_EQ(GST_BUFFER_PTS(after[k].get()), (3 + k) * kFrame);
    const Window win = crop_window(after[k].get());
    EXPECT_EQ(win.source_w, 640);
    EXPECT_EQ(win.w, 202);
    EXPECT_EQ(gst_buffer_get_size(after[k].get()), i420_size(202, 360));
  }
}

TEST_F(ElementTest, CropFramesWithoutAMapLeaveWithAStillWindow) {
  Harness h("saliencycrop look-ahead=3");
  h.set_caps(crop_caps("I420", kCropW, kCropH));
  for (int i = 0; i < 8; i++) {
    BufferPtr b = crop_frame(GST_VIDEO_FORMAT_I420, kCropW, kCropH, position_code(), i, 0, 0,
                             /*with_map=*/false);
    if (i == 0) GST_BUFFER_FLAG_SET(b.get(), GST_BUFFER_FLAG_DISCONT);
    ASSERT_EQ(h.push(b.release()), GST_FLOW_OK);
  }
  h.eos();
  const auto out = pull_now(h);
  expect_frames_in_order(out, 0, 8);
  ASSERT_EQ(out.size(), 8u);
  const Window first = crop_window(out[0].get());
  EXPECT_EQ(first.w, 102);
  for (const auto &b : out) {
    const Window win = crop_window(b.get());
    EXPECT_EQ(win.x, first.x) << "nothing stands out: the camera holds still";
    EXPECT_EQ(gst_buffer_get_saliency_meta(b.get()), nullptr) << "no map in, no map out";
  }
}

// Metas about the pixels' geometry do not survive the crop; those about the stream do.
TEST_F(ElementTest, CropDropsGeometryMetasAndKeepsTheOthers) {
  Harness h("saliencycrop look-ahead=0");
  h.set_caps(crop_caps("I420", kCropW, kCropH));
  BufferPtr b = crop_frame(GST_VIDEO_FORMAT_I420, kCropW, kCropH, position_code(), 0, 160, 90);
  const std::vector<float> flow(2 * 4 * 3, 1.0f);
  gst_buffer_add_optical_flow_meta(b.get(), 4, 3, flow.data());
  gst_buffer_add_video_region_of_interest_meta(b.get(), "saliency", 0, 0, 16, 16);
  gst_buffer_add_saliency_crop_meta(b.get(), 0, 0, 320, 180, 640, 360);  // an upstream crop
  // An untagged meta (about the stream, not the pixels).
  static const gchar *no_tags[] = {NULL};
  if (!gst_meta_get_info("GstSaliencyTestCustomMeta"))
    gst_meta_register_custom("GstSaliencyTestCustomMeta", no_tags, NULL, NULL, NULL);
  ASSERT_NE(gst_buffer_add_custom_meta(b.get(), "GstSaliencyTestCustomMeta"), nullptr);
  ASSERT_EQ(h.push(b.release()), GST_FLOW_OK);
  const auto out = pull_now(h);
  ASSERT_EQ(out.size(), 1u);
  GstBuffer *o = out[0].get();
  EXPECT_EQ(gst_buffer_get_optical_flow_meta(o), nullptr);
  EXPECT_EQ(gst_buffer_get_meta(o, GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE), nullptr);
  EXPECT_NE(gst_buffer_get_custom_meta(o, "GstSaliencyTestCustomMeta"), nullptr);
  // One crop window, ours, in this element's input pixels.
  guint n_windows = 0;
  gpointer state = nullptr;
  while (gst_buffer_iterate_meta_filtered(o, &state, GST_SALIENCY_CROP_META_API_TYPE)) n_windows++;
  EXPECT_EQ(n_windows, 1u);
  EXPECT_EQ(crop_window(o).source_w, kCropW);
  // One saliency map: the cropped one (about 10 columns of the 32).
  guint n_maps = 0;
  state = nullptr;
  while (gst_buffer_iterate_meta_filtered(o, &state, GST_SALIENCY_META_API_TYPE)) n_maps++;
  EXPECT_EQ(n_maps, 1u);
  guint mw = 0;
  map_values(o, &mw);
  EXPECT_LT(mw, 32u);
}

// mode=stationary holds one window per shot; a hard cut (dark frames, then bright ones) lets it
// jump to where the saliency is in the new shot.
TEST_F(ElementTest, CropStationaryModeHoldsStillWithinAShotAndJumpsAtACut) {
  const int n = 40, cut = 20;
  const Painter dark = [](int, int) -> Rgb { return {20, 20, 20}; };
  const Painter bright = [](int x, int y) -> Rgb {
    return {(std::uint8_t)(180 + x % 60), (std::uint8_t)(200 + y % 40), 220};
  };
  for (const char *mode : {"stationary", "auto"}) {
    SCOPED_TRACE(mode);
    Harness h(std::string("saliencycrop look-ahead=10 mode=") + mode);
    h.set_caps(crop_caps("I420", kCropW, kCropH));
    for (int i = 0; i < n; i++) {
      // Shot 1: the blob drifts over the left third; shot 2: it is far right.
      const double bx = i < cut ? 50 + 2.0 * i : 270;
      ASSERT_EQ(h.push(crop_frame(GST_VIDEO_FORMAT_I420, kCropW, kCropH, i < cut ? dark : bright, i,
                                  bx, 90)
                           .release()),
                GST_FLOW_OK);
    }
    h.eos();
    const auto out = pull_now(h);
    ASSERT_EQ(out.size(), (size_t)n);
    std::vector<Window> path;
    for (const auto &b : out) path.push_back(crop_window(b.get()));
    if (std::string(mode) == "stationary") {
      for (int k = 1; k < n; k++)
        if (k != cut) {
          EXPECT_EQ(path[k].x, path[k - 1].x) << "frame " << k << " moved within a shot";
        }
    }
    const int jump = std::abs(path[cut].x - path[cut - 1].x);
    EXPECT_GT(jump, 0.015 * kCropW + 2) << "the window did not jump at the cut";
    EXPECT_LE(path[cut].x, 270);
    EXPECT_GT(path[cut].x + path[cut].w, 270) << "the new shot's blob is outside the window";
    EXPECT_LE(path[0].x, 50);
    EXPECT_GT(path[0].x + path[0].w, 88) << "the first shot's blob is outside the window";
  }
}

// zoom=0.5 around a small blob: the window shrinks, the output keeps the fitted size and shows
// the window scaled up.
TEST_F(ElementTest, CropZoomShrinksTheWindowAndScalesItToTheOutputSize) {
  const int n = 40;
  Harness h("saliencycrop zoom=0.5 look-ahead=10");
  h.set_caps(crop_caps("RGB", kCropW, kCropH));
  std::vector<BufferPtr> in;
  for (int i = 0; i < n; i++) {
    // A 64x36 map with a tight blob (sigma 1.5 cells = 7.5 px) at (200, 60).
    in.push_back(crop_frame(GST_VIDEO_FORMAT_RGB, kCropW, kCropH, position_code(), i, 200, 60, true,
                            64, 36));
    ASSERT_EQ(h.push(gst_buffer_ref(in.back().get())), GST_FLOW_OK);
  }
  h.eos();
  const auto out = pull_now(h);
  ASSERT_EQ(out.size(), (size_t)n);
  EXPECT_EQ(output_size(h), std::make_pair(102, 180));
  int zoomed = 0;
  for (int k = 0; k < n; k++) {
    SCOPED_TRACE("frame " + std::to_string(k));
    const Window win = crop_window(out[k].get());
    EXPECT_LE(win.w, 102);
    EXPECT_GE(win.w, 50);  // zoom 0.5: half the fitted window at the smallest (even rounding)
    EXPECT_LE(win.x + win.w, kCropW);
    EXPECT_LE(win.y + win.h, kCropH);
    EXPECT_NEAR((double)win.w / win.h, 102.0 / 180, 0.03) << "the aspect is kept";
    if (win.w >= 102) continue;
    zoomed++;
    // Scaled up bilinearly from the window: the position code reads the source position.
    GstVideoInfo info;
    gst_video_info_set_format(&info, GST_VIDEO_FORMAT_RGB, 102, 180);
    GstVideoFrame f;
    ASSERT_TRUE(gst_video_frame_map(&f, &info, out[k].get(), GST_MAP_READ));
    for (const auto &[ox, oy] : {std::pair{10, 20}, std::pair{51, 90}, std::pair{90, 170}}) {
      const guint8 *p = (const guint8 *)GST_VIDEO_FRAME_PLANE_DATA(&f, 0) +
                        oy * GST_VIDEO_FRAME_PLANE_STRIDE(&f, 0) + 3 * ox;
      const double sx = win.x + (ox + 0.5) * win.w / 102.0 - 0.5;
      const double sy = win.y + (oy + 0.5) * win.h / 180.0 - 0.5;
      EXPECT_NEAR(p[0], std::clamp(sx, (double)win.x, win.x + win.w - 1.0), 1.5) << ox << "," << oy;
      EXPECT_NEAR(p[1], std::clamp(sy, (double)win.y, win.y + win.h - 1.0), 1.5) << ox << "," << oy;
    }
    gst_video_frame_unmap(&f);
    EXPECT_GE(200, win.x);
    EXPECT_LT(200, win.x + win.w) << "the blob is outside the zoomed window";
  }
  EXPECT_GT(zoomed, 0) << "the window never zoomed in";
}

// ------------------------------------------------------------------ whole chain

TEST_F(ElementTest, ChainOfAllElementsKeepsEveryFrameAndItsMetas) {
  Harness h("opticalflow ! saliency model=baseline ! saliencyroi ! saliencyoverlay show-peak=true");
  h.set_caps(rgb_caps(64, 48));
  push_squares(h, 0, 12, 64, 48);
  h.eos();
  const auto out = h.pull_all();
  expect_frames_in_order(out, 0, 12);
  expect_valid_maps(out);
  for (size_t k = 0; k < out.size(); k++) {
    EXPECT_EQ(gst_buffer_get_optical_flow_meta(out[k].get()) != nullptr, k > 0) << k;
    EXPECT_LE(rois(out[k].get()).size(), 4u);
  }
}

TEST_F(ElementTest, ASecondSaliencyElementReplacesTheMap) {
  Harness h("saliency model=baseline ! saliency model=baseline");
  h.set_caps(rgb_caps());
  push_squares(h, 0, 3);
  h.eos();
  const auto out = h.pull_all();
  ASSERT_EQ(out.size(), 3u);
  for (const auto &b : out) {
    guint n = 0;
    gpointer state = nullptr;
    while (gst_buffer_iterate_meta_filtered(b.get(), &state, GST_SALIENCY_META_API_TYPE)) n++;
    EXPECT_EQ(n, 1u);
  }
}

// ------------------------------------------------------------------ model-instance-id

std::vector<std::vector<float>> maps_of(const std::vector<BufferPtr> &out) {
  std::vector<std::vector<float>> maps;
  for (const auto &b : out) maps.push_back(map_values(b.get()));
  return maps;
}

TEST_F(ElementTest, SaliencyElementsSharingAModelInstanceKeepTheirOwnMaps) {
  // Interval 2 keeps flow and interval state per stream as well.
  // Each stream alone, on a model of its own.
  std::vector<std::vector<float>> a_alone, b_alone;
  {
    Harness a("saliency model=baseline interval=2"), b("saliency model=baseline interval=2");
    a.set_caps(rgb_caps());
    b.set_caps(rgb_caps(40, 24));
    push_squares(a, 0, 12);
    push_squares(b, 5, 12, 40, 24);
    a.eos();
    b.eos();
    a_alone = maps_of(a.pull_all());
    b_alone = maps_of(b.pull_all());
  }
  ASSERT_EQ(a_alone.size(), 12u);
  // The same streams through two elements sharing one model, frames interleaved
  // (other frame sizes too: what is per stream stays with the stream).
  auto a = std::make_unique<Harness>("saliency model=baseline interval=2 model-instance-id=cams name=cam0");
  Harness b("saliency model=baseline interval=2 model-instance-id=cams name=cam1");
  a->set_caps(rgb_caps());
  b.set_caps(rgb_caps(40, 24));
  for (int i = 0; i < 12; ++i) {  // as push_squares: only the first frame is DISCONT
    ASSERT_EQ(a->push(square_frame(i, 32, 24, i == 0).release()), GST_FLOW_OK);
    ASSERT_EQ(b.push(square_frame(5 + i, 40, 24, i == 0).release()), GST_FLOW_OK);
  }
  a->eos();
  EXPECT_EQ(maps_of(a->pull_all()), a_alone);
  // One element goes; the other carries on with the shared model.
  a.reset();
  // A third element on the instance is flushed mid-stream; after the flush
  // its stream starts over and gives the maps of that stream alone.
  Harness c("saliency model=baseline interval=2 model-instance-id=cams name=cam2");
  c.set_caps(rgb_caps(40, 24));
  push_squares(c, 50, 3, 40, 24);
  c.flush();
  c.pull_all();
  push_squares(c, 5, 12, 40, 24);
  c.eos();
  EXPECT_EQ(maps_of(c.pull_all()), b_alone);
  b.eos();
  EXPECT_EQ(maps_of(b.pull_all()), b_alone);
}

TEST_F(ElementTest, SaliencyElementsThatCannotShareAModelNameEachOther) {
  Harness first("saliency model=baseline model-instance-id=mixed name=first");
  first.set_caps(rgb_caps());
  ElementPtr second = make_element("saliency");
  gst_object_set_name(GST_OBJECT(second.get()), "second");
  g_object_set(second.get(), "model-instance-id", "mixed", "batch", 2u, nullptr);
  auto r = set_state_collect_error(second.get(), GST_STATE_PAUSED);
  EXPECT_EQ(r->ret, GST_STATE_CHANGE_FAILURE);
  ASSERT_NE(r->error, nullptr);
  EXPECT_TRUE(g_error_matches(r->error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS));
  const std::string message = r->error->message;
  EXPECT_NE(message.find("first"), std::string::npos) << message;
  EXPECT_NE(message.find("second"), std::string::npos) << message;
  EXPECT_NE(message.find("batch=2"), std::string::npos) << message;
  EXPECT_EQ(gst_element_set_state(second.get(), GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  // The first element is unaffected.
  push_squares(first, 0, 3);
  first.eos();
  EXPECT_EQ(first.pull_all().size(), 3u);
}

// ------------------------------------------------------------------ element == CLI

namespace {

// Reads a little-endian float32 C-order .npy (as saliency-predict --format npy writes).
bool read_npy(const std::string &path, std::vector<float> *values, int *rows, int *cols) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  char magic[6];
  in.read(magic, 6);
  if (std::memcmp(magic, "\x93NUMPY", 6) != 0) return false;
  unsigned char version[2];
  in.read((char *)version, 2);
  std::uint32_t header_len = 0;
  if (version[0] == 1) {
    unsigned char l[2];
    in.read((char *)l, 2);
    header_len = l[0] | (l[1] << 8);
  } else {
    unsigned char l[4];
    in.read((char *)l, 4);
    header_len = l[0] | (l[1] << 8) | (l[2] << 16) | ((std::uint32_t)l[3] << 24);
  }
  std::string header(header_len, '\0');
  in.read(header.data(), header_len);
  if (header.find("'<f4'") == std::string::npos ||
      header.find("'fortran_order': False") == std::string::npos)
    return false;
  const size_t s = header.find("'shape': (");
  if (s == std::string::npos ||
      std::sscanf(header.c_str() + s, "'shape': (%d, %d)", rows, cols) != 2)
    return false;
  values->resize((size_t)*rows * *cols);
  in.read((char *)values->data(), values->size() * sizeof(float));
  return bool(in);
}

}  // namespace

TEST_F(ElementTest, ElementMapsEqualSaliencyPredictMaps) {
  const std::string cli = testsupport::build_root() + "/model/tools/saliency-predict";
  ASSERT_TRUE(g_file_test(cli.c_str(), G_FILE_TEST_IS_EXECUTABLE)) << "not built: " << cli;
  testsupport::TempDir tmp;
  const std::string frames_dir = tmp / "frames", maps_dir = tmp / "maps";
  g_mkdir_with_parents(frames_dir.c_str(), 0755);
  const int w = 64, hh = 48, n = 12;

  Harness h("saliency model=baseline");
  h.set_caps(rgb_caps(w, hh));
  for (int i = 0; i < n; i++) {
    BufferPtr b = make_frame(GST_VIDEO_FORMAT_RGB, w, hh, moving_square(w, hh, i), i * kFrame);
    // The same pixels as a PNG for the CLI (OpenCV writes BGR).
    GstMapInfo m;
    ASSERT_TRUE(gst_buffer_map(b.get(), &m, GST_MAP_READ));
    cv::Mat rgb(hh, w, CV_8UC3, m.data, (size_t)w * 3), bgr;
    cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
    char name[32];
    std::snprintf(name, sizeof name, "/%04d.png", i + 1);
    ASSERT_TRUE(cv::imwrite(frames_dir + name, bgr));
    gst_buffer_unmap(b.get(), &m);
    ASSERT_EQ(h.push(b.release()), GST_FLOW_OK);
  }
  h.eos();
  const auto out = h.pull_all();
  ASSERT_EQ(out.size(), (size_t)n);

  const std::string cmd = "'" + cli + "' --model baseline --input '" + frames_dir + "' --output '" +
                          maps_dir + "' --format npy > '" + tmp / "cli.log" + "' 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;

  for (int i = 0; i < n; i++) {
    SCOPED_TRACE("frame " + std::to_string(i + 1));
    char name[32];
    std::snprintf(name, sizeof name, "/%04d.npy", i + 1);
    std::vector<float> cli_map;
    int rows = 0, cols = 0;
    ASSERT_TRUE(read_npy(maps_dir + name, &cli_map, &rows, &cols)) << maps_dir + name;
    ASSERT_EQ(rows, hh);
    ASSERT_EQ(cols, w);
    guint mw = 0, mh = 0;
    std::vector<float> element_map = map_values(out[i].get(), &mw, &mh);
    ASSERT_FALSE(element_map.empty());
    // The CLI resizes the model's map to the frame with bilinear interpolation
    // (half-pixel centres, model::resize_map); do the same here.
    cv::Mat small((int)mh, (int)mw, CV_32FC1, element_map.data()), full;
    cv::resize(small, full, cv::Size(w, hh), 0, 0, cv::INTER_LINEAR);
    double max_diff = 0;
    for (int y = 0; y < hh; y++)
      for (int x = 0; x < w; x++)
        max_diff = std::max(max_diff, (double)std::fabs(full.at<float>(y, x) - cli_map[y * w + x]));
    EXPECT_LT(max_diff, 1e-5);
  }
}

// `threads` (0 = one per core) reaches the Predictor; its effect on LibTorch
// is tested with the Predictor itself (tests/model/test_predictor.cpp).
TEST_F(ElementTest, SaliencyThreadsPropertyDefaultsToOnePerCoreAndRuns) {
  Harness h = Harness::element("saliency");
  guint threads = 99;
  g_object_get(h.get()->element, "threads", &threads, nullptr);
  EXPECT_EQ(threads, 0u);
  g_object_set(h.get()->element, "threads", 1u, nullptr);
  g_object_get(h.get()->element, "threads", &threads, nullptr);
  EXPECT_EQ(threads, 1u);
  h.set_caps(rgb_caps(64, 48));
  for (int i = 0; i < 3; i++)
    ASSERT_EQ(h.push(make_frame(GST_VIDEO_FORMAT_RGB, 64, 48, moving_square(64, 48, i), i * kFrame).release()),
              GST_FLOW_OK);
  h.eos();
  const auto out = h.pull_all();
  ASSERT_EQ(out.size(), 3u);
  for (const auto &b : out) EXPECT_NE(gst_buffer_get_saliency_meta(b.get()), nullptr);
}

namespace {

// Runs a command through the shell; its exit code and output (stdout + stderr).
std::pair<int, std::string> run_command(const std::string &cmd, const std::string &log) {
  const int rc = std::system((cmd + " > '" + log + "' 2>&1").c_str());
  std::ifstream in(log);
  std::string out((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, out};
}

double figure(const std::string &out, const std::string &name) {
  const auto at = out.find("\n" + name + ": ");
  if (at == std::string::npos) return std::nan("");
  return std::atof(out.c_str() + at + name.size() + 3);
}

}  // namespace

// saliency-bench --pipeline measures the element in a plain gst-launch-1.0
// and saliency-predict, each a process of its own started without the
// allocator or thread settings of the environment.
TEST_F(ElementTest, SaliencyBenchPipelineTimesGstLaunchAgainstSaliencyPredict) {
  const std::string bench = testsupport::build_root() + "/model/tools/saliency-bench";
  ASSERT_TRUE(g_file_test(bench.c_str(), G_FILE_TEST_IS_EXECUTABLE)) << "not built: " << bench;
  testsupport::TempDir tmp;
  // LD_PRELOAD and OMP_NUM_THREADS set here must not reach either side: a
  // preload that does not exist would make the loader complain in the
  // children's output, which the bench would then show on failure only; the
  // commands it prints must carry neither.
  const auto [rc, out] = run_command("env OMP_NUM_THREADS=1 '" + bench +
                                         "' --pipeline --model baseline --frames 3 --rounds 1 --width 64 --height 48",
                                     tmp / "bench.log");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("element_command: gst-launch-1.0 "), std::string::npos) << out;
  EXPECT_NE(out.find("predict_command: "), std::string::npos) << out;
  EXPECT_EQ(out.find("OMP_NUM_THREADS"), std::string::npos) << out;
  for (const char *name : {"element_seconds_per_frame", "predict_seconds_per_frame", "element_vs_predict_percent",
                           "element_peak_rss_mb", "predict_peak_rss_mb"})
    EXPECT_TRUE(std::isfinite(figure(out, name))) << name << " in\n" << out;
  EXPECT_GT(figure(out, "element_peak_rss_mb"), 1.0) << out;

  // A side that fails: one line naming the program and its last words.
  const auto [bad_rc, bad] = run_command("'" + bench + "' --pipeline --model stsanet --frames 1 --rounds 1",
                                         tmp / "bad.log");
  EXPECT_NE(bad_rc, 0);
  EXPECT_NE(bad.find("gst-launch-1.0 failed"), std::string::npos) << bad;
}
