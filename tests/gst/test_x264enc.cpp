// GstHarness tests of saliencyx264enc (plugin "saliencyx264", gst/x264): every frame leaves
// once after EOS as an H.264 access unit with the input's timestamps; strength 0 (or no meta)
// is bit-identical to plain encoding; saliency changes the bitstream; flush, latency, caps
// errors, property ranges and option-string (applied alike to plain and saliency encodes; AQ
// stays off when the settings turn it off). Frames are built in code: a moving textured
// pattern at a size that is not a multiple of 16, so the last macroblock row and column are
// partial.
// GLib criticals and unexpected warnings fail a test.
#include <gst/controller/controller.h>
#include <gst/check/gstharness.h>
#include <gst/saliency/gstsaliencymeta.h>
#include <gst/video/video.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "gst_test_support.hpp"

namespace {

using gsttest::BufferPtr;
using gsttest::LogCounter;

constexpr GstClockTime kFrame = GST_SECOND / 25;  // 25 fps
constexpr int kWidth = 98, kHeight = 66;          // 7x5 macroblocks, the last ones partial

class X264EncTest : public gsttest::PluginTest {
 protected:
  X264EncTest() : PluginTest("saliencyx264", "gst/x264") {}
};

// RAII around a GstHarness.
class EncHarness {
 public:
  explicit EncHarness(const std::string &launch, const char *format = "I420", int w = kWidth,
                      int h = kHeight, const char *sink_caps = nullptr) {
    h_ = gst_harness_new_parse(launch.c_str());
    // Sink caps first: the encoder picks its stream format when the input caps arrive.
    if (sink_caps) gst_harness_set_sink_caps_str(h_, sink_caps);
    const std::string caps = std::string("video/x-raw,format=") + format +
                             ",width=" + std::to_string(w) + ",height=" + std::to_string(h) +
                             ",framerate=25/1";
    gst_harness_set_src_caps_str(h_, caps.c_str());
  }
  ~EncHarness() { gst_harness_teardown(h_); }
  GstHarness *get() { return h_; }
  GstElement *element() { return h_->element; }
  GstFlowReturn push(BufferPtr b) { return gst_harness_push(h_, b.release()); }
  void push_eos() { ASSERT_TRUE(gst_harness_push_event(h_, gst_event_new_eos())); }
  // Running time of an output timestamp, in the latest segment the encoder sent. The encoder
  // may shift timestamps and its segment together (room for DTS before the first PTS, as
  // x264enc does): running times are what must match the input.
  GstClockTime running_time(GstClockTime t) {
    while (GstEvent *ev = gst_harness_try_pull_event(h_)) {
      if (GST_EVENT_TYPE(ev) == GST_EVENT_SEGMENT) {
        gst_event_copy_segment(ev, &segment_);
        have_segment_ = true;
      }
      gst_event_unref(ev);
    }
    EXPECT_TRUE(have_segment_) << "no segment event from the encoder";
    return gst_segment_to_running_time(&segment_, GST_FORMAT_TIME, t);
  }
  std::vector<BufferPtr> pull_all() {
    std::vector<BufferPtr> out;
    while (GstBuffer *b = gst_harness_try_pull(h_)) out.emplace_back(b);
    return out;
  }

 private:
  GstHarness *h_ = nullptr;
  GstSegment segment_{};
  bool have_segment_ = false;
};

// Frame i of a textured pattern moving right by 2 pixels per frame; the saliency meta (when
// asked for) is a 12x8 map with a hot blob on the left third of the frame.
BufferPtr make_frame(int i, bool with_meta, GstVideoFormat format = GST_VIDEO_FORMAT_I420,
                     int w = kWidth, int h = kHeight) {
  GstVideoInfo info;
  gst_video_info_set_format(&info, format, w, h);
  GstBuffer *buf = gst_buffer_new_allocate(nullptr, GST_VIDEO_INFO_SIZE(&info), nullptr);
  GstVideoFrame frame;
  EXPECT_TRUE(gst_video_frame_map(&frame, &info, buf, GST_MAP_WRITE));
  auto *y = static_cast<guint8 *>(GST_VIDEO_FRAME_PLANE_DATA(&frame, 0));
  const int ys = GST_VIDEO_FRAME_PLANE_STRIDE(&frame, 0);
  for (int r = 0; r < h; ++r)
    for (int c = 0; c < w; ++c) {
      const int u = c - 2 * i;
      y[r * ys + c] = guint8(((u * 7) ^ (r * 13)) & 0xff) / 2 + 64 + ((u / 8 + r / 8) % 2) * 32;
    }
  for (int p = 1; p < int(GST_VIDEO_FRAME_N_PLANES(&frame)); ++p) {
    auto *d = static_cast<guint8 *>(GST_VIDEO_FRAME_PLANE_DATA(&frame, p));
    const int s = GST_VIDEO_FRAME_PLANE_STRIDE(&frame, p);
    for (int r = 0; r < GST_VIDEO_FRAME_COMP_HEIGHT(&frame, p); ++r)
      for (int c = 0; c < s; ++c) d[r * s + c] = guint8(128 + ((c + r + i) % 16) - 8);
  }
  gst_video_frame_unmap(&frame);
  GST_BUFFER_PTS(buf) = i * kFrame;
  GST_BUFFER_DURATION(buf) = kFrame;
  if (with_meta) {
    std::vector<float> map(12 * 8, 0.05f);
    for (int r = 2; r < 6; ++r)
      for (int c = 0; c < 4; ++c) map[r * 12 + c] = 1.f;
    gst_buffer_add_saliency_meta(buf, 12, 8, map.data());
  }
  return BufferPtr(buf);
}

std::vector<BufferPtr> encode(const std::string &launch, int n, bool with_meta) {
  EncHarness h(launch);
  for (int i = 0; i < n; ++i) EXPECT_EQ(h.push(make_frame(i, with_meta)), GST_FLOW_OK);
  h.push_eos();
  return h.pull_all();
}

std::vector<guint8> concat(const std::vector<BufferPtr> &bufs) {
  std::vector<guint8> all;
  for (const auto &b : bufs) {
    GstMapInfo m;
    gst_buffer_map(b.get(), &m, GST_MAP_READ);
    all.insert(all.end(), m.data, m.data + m.size);
    gst_buffer_unmap(b.get(), &m);
  }
  return all;
}

bool starts_with_start_code(GstBuffer *b) {
  GstMapInfo m;
  gst_buffer_map(b, &m, GST_MAP_READ);
  const bool ok = (m.size > 4 && m.data[0] == 0 && m.data[1] == 0 &&
                   (m.data[2] == 1 || (m.data[2] == 0 && m.data[3] == 1)));
  gst_buffer_unmap(b, &m);
  return ok;
}

TEST_F(X264EncTest, EveryFrameLeavesOnceAfterEosWithItsTimestampAndH264Caps) {
  const int n = 24;
  EncHarness h("saliencyx264enc strength=1 bitrate=300");  // medium: B-frames + look-ahead
  for (int i = 0; i < n; ++i) ASSERT_EQ(h.push(make_frame(i, true)), GST_FLOW_OK);
  h.push_eos();
  auto out = h.pull_all();
  ASSERT_EQ(out.size(), std::size_t(n));
  auto running = [&h](GstClockTime t) { return h.running_time(t); };
  std::set<GstClockTime> pts;
  GstClockTime last_dts = 0;
  for (std::size_t k = 0; k < out.size(); ++k) {
    GstBuffer *b = out[k].get();
    pts.insert(running(GST_BUFFER_PTS(b)));
    EXPECT_EQ(GST_BUFFER_DURATION(b), kFrame);
    ASSERT_TRUE(GST_BUFFER_DTS_IS_VALID(b));
    if (k > 0) {
      EXPECT_GE(GST_BUFFER_DTS(b), last_dts) << "DTS must not go back (decode order)";
    }
    EXPECT_LE(GST_BUFFER_DTS(b), GST_BUFFER_PTS(b));
    last_dts = GST_BUFFER_DTS(b);
    EXPECT_TRUE(starts_with_start_code(b)) << "buffer " << k << " is not byte-stream";
  }
  for (int i = 0; i < n; ++i) EXPECT_EQ(pts.count(i * kFrame), 1u) << "frame " << i;
  EXPECT_FALSE(GST_BUFFER_FLAG_IS_SET(out[0].get(), GST_BUFFER_FLAG_DELTA_UNIT));

  GstCaps *caps = gst_pad_get_current_caps(h.get()->sinkpad);
  ASSERT_NE(caps, nullptr);
  GstStructure *s = gst_caps_get_structure(caps, 0);
  EXPECT_STREQ(gst_structure_get_name(s), "video/x-h264");
  EXPECT_STREQ(gst_structure_get_string(s, "stream-format"), "byte-stream");
  EXPECT_STREQ(gst_structure_get_string(s, "alignment"), "au");
  EXPECT_STREQ(gst_structure_get_string(s, "profile"), "high");
  EXPECT_NE(gst_structure_get_string(s, "level"), nullptr);
  int w = 0, hh = 0;
  EXPECT_TRUE(gst_structure_get_int(s, "width", &w));
  EXPECT_TRUE(gst_structure_get_int(s, "height", &hh));
  EXPECT_EQ(w, kWidth);
  EXPECT_EQ(hh, kHeight);
  gst_caps_unref(caps);
}

TEST_F(X264EncTest, AvcOutputWhenDownstreamOnlyTakesAvc) {
  EncHarness h("saliencyx264enc speed-preset=ultrafast", "I420", kWidth, kHeight,
               "video/x-h264,stream-format=avc,alignment=au");
  for (int i = 0; i < 4; ++i) ASSERT_EQ(h.push(make_frame(i, true)), GST_FLOW_OK);
  h.push_eos();
  auto out = h.pull_all();
  ASSERT_EQ(out.size(), 4u);
  GstCaps *caps = gst_pad_get_current_caps(h.get()->sinkpad);
  ASSERT_NE(caps, nullptr);
  GstStructure *s = gst_caps_get_structure(caps, 0);
  EXPECT_STREQ(gst_structure_get_string(s, "stream-format"), "avc");
  const GValue *cd = gst_structure_get_value(s, "codec_data");
  ASSERT_NE(cd, nullptr);
  GstMapInfo m;
  GstBuffer *codec_data = gst_value_get_buffer(cd);
  gst_buffer_map(codec_data, &m, GST_MAP_READ);
  ASSERT_GT(m.size, 8u);
  EXPECT_EQ(m.data[0], 1);   // avcC version
  EXPECT_EQ(m.data[1], 66);  // profile_idc: ultrafast has no CABAC/8x8dct: baseline
  EXPECT_STREQ(gst_structure_get_string(s, "profile"), "constrained-baseline");
  EXPECT_EQ(m.data[5], 0xe1);  // one SPS
  gst_buffer_unmap(codec_data, &m);
  gst_caps_unref(caps);
  // Every buffer is a sequence of NAL units with 4-byte big-endian lengths filling it exactly.
  for (auto &b : out) {
    gst_buffer_map(b.get(), &m, GST_MAP_READ);
    gsize pos = 0;
    while (pos + 4 <= m.size) {
      const gsize len = (gsize(m.data[pos]) << 24) | (gsize(m.data[pos + 1]) << 16) |
                        (gsize(m.data[pos + 2]) << 8) | m.data[pos + 3];
      ASSERT_GT(len, 0u);
      pos += 4 + len;
    }
    EXPECT_EQ(pos, m.size);
    gst_buffer_unmap(b.get(), &m);
  }
}

TEST_F(X264EncTest, StrengthZeroIsBitIdenticalToPlainEncoding) {
  const std::string settings = " rc-mode=crf crf=30 speed-preset=fast threads=2 key-int-max=12";
  const auto plain = concat(encode("saliencyx264enc strength=0" + settings, 16, false));
  const auto zero = concat(encode("saliencyx264enc strength=0" + settings, 16, true));
  const auto zero_linear =
      concat(encode("saliencyx264enc strength=0 mapping=linear" + settings, 16, true));
  const auto no_meta = concat(encode("saliencyx264enc strength=2" + settings, 16, false));
  const auto salient = concat(encode("saliencyx264enc strength=2" + settings, 16, true));
  ASSERT_GT(plain.size(), 100u);
  EXPECT_EQ(zero, plain) << "strength 0 must ignore the meta";
  EXPECT_EQ(zero_linear, plain) << "strength 0 must ignore the meta with either mapping";
  EXPECT_EQ(no_meta, plain) << "frames without meta must be encoded plainly";
  EXPECT_NE(salient, plain) << "saliency offsets must change the bitstream";
}

// Mean squared luma error inside and outside the meta's hot block (map cells 0..3 x 2..5 of
// 12x8, i.e. frame pixels x < 32, 17 <= y < 49, away from the block's edges).
struct RegionError {
  double salient = 0, rest = 0;
};

RegionError decode_and_compare(const std::vector<BufferPtr> &coded, GstCaps *caps, int n) {
  RegionError e;
  GstHarness *dec = gst_harness_new("avdec_h264");
  gst_harness_set_src_caps(dec, gst_caps_ref(caps));
  for (const auto &b : coded)
    EXPECT_EQ(gst_harness_push(dec, gst_buffer_ref(b.get())), GST_FLOW_OK);
  EXPECT_TRUE(gst_harness_push_event(dec, gst_event_new_eos()));
  GstCaps *raw = nullptr;
  int frames = 0;
  long long ns = 0, nr = 0;
  while (GstBuffer *out = gst_harness_try_pull(dec)) {
    if (!raw) raw = gst_pad_get_current_caps(dec->sinkpad);
    GstVideoInfo info;
    EXPECT_TRUE(gst_video_info_from_caps(&info, raw));
    BufferPtr ref = make_frame(frames, false);
    GstVideoInfo ref_info;
    gst_video_info_set_format(&ref_info, GST_VIDEO_FORMAT_I420, kWidth, kHeight);
    GstVideoFrame a, b;
    EXPECT_TRUE(gst_video_frame_map(&a, &info, out, GST_MAP_READ));
    EXPECT_TRUE(gst_video_frame_map(&b, &ref_info, ref.get(), GST_MAP_READ));
    auto *pa = static_cast<guint8 *>(GST_VIDEO_FRAME_PLANE_DATA(&a, 0));
    auto *pb = static_cast<guint8 *>(GST_VIDEO_FRAME_PLANE_DATA(&b, 0));
    const int sa = GST_VIDEO_FRAME_PLANE_STRIDE(&a, 0), sb = GST_VIDEO_FRAME_PLANE_STRIDE(&b, 0);
    for (int y = 0; y < kHeight; ++y)
      for (int x = 0; x < kWidth; ++x) {
        const double d = double(pa[y * sa + x]) - double(pb[y * sb + x]);
        const bool hot = x < 32 && y >= 17 && y < 49;
        (hot ? e.salient : e.rest) += d * d;
        (hot ? ns : nr)++;
      }
    gst_video_frame_unmap(&a);
    gst_video_frame_unmap(&b);
    gst_buffer_unref(out);
    frames++;
  }
  EXPECT_EQ(frames, n);
  if (raw) gst_caps_unref(raw);
  gst_harness_teardown(dec);
  e.salient /= double(ns ? ns : 1);
  e.rest /= double(nr ? nr : 1);
  return e;
}

TEST_F(X264EncTest, SaliencyLowersTheErrorWhereTheMapIsHigh) {
  GstElementFactory *avdec = gst_element_factory_find("avdec_h264");
  if (!avdec) GTEST_SKIP() << "avdec_h264 (gstreamer1.0-libav) is not installed";
  gst_object_unref(avdec);
  const int n = 20;
  const std::string settings = " bitrate=60 speed-preset=fast threads=1";
  // Plain, then each mapping at strength 1.
  const char *variants[3] = {"strength=0", "strength=1 mapping=log-ratio",
                             "strength=1 mapping=linear"};
  RegionError err[3];
  for (int salient = 0; salient < 3; ++salient) {
    EncHarness h(std::string("saliencyx264enc ") + variants[salient] + settings);
    for (int i = 0; i < n; ++i) ASSERT_EQ(h.push(make_frame(i, true)), GST_FLOW_OK);
    h.push_eos();
    auto coded = h.pull_all();
    ASSERT_EQ(coded.size(), std::size_t(n));
    GstCaps *caps = gst_pad_get_current_caps(h.get()->sinkpad);
    err[salient] = decode_and_compare(coded, caps, n);
    gst_caps_unref(caps);
  }
  for (int k = 1; k < 3; ++k) {
    std::fprintf(stderr,
                 "luma MSE inside / outside the hot block: plain %.2f / %.2f, %s %.2f / %.2f\n",
                 err[0].salient, err[0].rest, variants[k], err[k].salient, err[k].rest);
    // The same bitrate, spent differently: better inside the hot block, worse outside.
    EXPECT_LT(err[k].salient, err[0].salient * 0.8)
        << variants[k] << ": plain " << err[0].salient << ", saliency " << err[k].salient;
    EXPECT_GT(err[k].rest, err[0].rest)
        << variants[k] << ": plain " << err[0].rest << ", saliency " << err[k].rest;
  }
}

TEST_F(X264EncTest, ZeroLatencyTuneOutputsEachFrameAtOnceAndReportsNoLatency) {
  EncHarness h("saliencyx264enc tune=zerolatency threads=1 bitrate=300");
  gst_harness_set_upstream_latency(h.get(), 0);
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(h.push(make_frame(i, true)), GST_FLOW_OK);
    auto out = h.pull_all();
    ASSERT_EQ(out.size(), 1u) << "frame " << i;
    EXPECT_EQ(h.running_time(GST_BUFFER_PTS(out[0].get())), i * kFrame);
  }
  EXPECT_EQ(gst_harness_query_latency(h.get()), 0u);
}

TEST_F(X264EncTest, LookaheadIsReportedAsLatency) {
  EncHarness h("saliencyx264enc speed-preset=medium threads=1 bitrate=300");
  gst_harness_set_upstream_latency(h.get(), 0);
  ASSERT_EQ(h.push(make_frame(0, true)), GST_FLOW_OK);
  // medium: 40 frames of rc-lookahead plus B-frames, so at least 40 frames of 40 ms.
  EXPECT_GE(gst_harness_query_latency(h.get()), 40 * kFrame);
  EXPECT_TRUE(h.pull_all().empty()) << "libx264 holds the first frames";
}

TEST_F(X264EncTest, FlushDropsHeldFramesAndTheNextStreamEncodesEveryFrame) {
  EncHarness h("saliencyx264enc threads=1 bitrate=300");
  for (int i = 0; i < 8; ++i) ASSERT_EQ(h.push(make_frame(i, true)), GST_FLOW_OK);
  h.pull_all();
  ASSERT_TRUE(gst_harness_push_event(h.get(), gst_event_new_flush_start()));
  ASSERT_TRUE(gst_harness_push_event(h.get(), gst_event_new_flush_stop(TRUE)));
  GstSegment segment;
  gst_segment_init(&segment, GST_FORMAT_TIME);
  ASSERT_TRUE(gst_harness_push_event(h.get(), gst_event_new_segment(&segment)));
  EXPECT_TRUE(h.pull_all().empty()) << "held frames must be dropped by the flush";
  for (int i = 0; i < 6; ++i) ASSERT_EQ(h.push(make_frame(100 + i, true)), GST_FLOW_OK);
  h.push_eos();
  auto out = h.pull_all();
  ASSERT_EQ(out.size(), 6u);
  EXPECT_FALSE(GST_BUFFER_FLAG_IS_SET(out[0].get(), GST_BUFFER_FLAG_DELTA_UNIT))
      << "the stream after a flush starts with a keyframe";
  std::set<GstClockTime> pts;
  for (auto &b : out) pts.insert(h.running_time(GST_BUFFER_PTS(b.get())));
  for (int i = 0; i < 6; ++i) EXPECT_EQ(pts.count((100 + i) * kFrame), 1u);
}

TEST_F(X264EncTest, Nv12IsEncodedToo) {
  EncHarness h("saliencyx264enc speed-preset=ultrafast", "NV12");
  for (int i = 0; i < 5; ++i)
    ASSERT_EQ(h.push(make_frame(i, true, GST_VIDEO_FORMAT_NV12)), GST_FLOW_OK);
  h.push_eos();
  EXPECT_EQ(h.pull_all().size(), 5u);
}

TEST_F(X264EncTest, OddFrameSizeFailsWithAnErrorMessage) {
  EncHarness h("saliencyx264enc", "I420", 97, 65);
  GstBus *bus = gst_bus_new();
  gst_element_set_bus(h.element(), bus);
  EXPECT_NE(h.push(make_frame(0, true, GST_VIDEO_FORMAT_I420, 97, 65)), GST_FLOW_OK);
  GstMessage *msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
  ASSERT_NE(msg, nullptr) << "an odd size must post an element error";
  GError *err = nullptr;
  gchar *debug = nullptr;
  gst_message_parse_error(msg, &err, &debug);
  EXPECT_NE(std::string(debug ? debug : "").find("even"), std::string::npos) << debug;
  g_clear_error(&err);
  g_free(debug);
  gst_message_unref(msg);
  gst_element_set_bus(h.element(), nullptr);
  gst_object_unref(bus);
}

TEST_F(X264EncTest, BadPropertyValuesAreRefused) {
  GstElement *enc = gst_element_factory_make("saliencyx264enc", nullptr);
  ASSERT_NE(enc, nullptr);
  // Out-of-range values: GObject refuses them (with a warning each) and keeps the old value.
  g_object_set(enc, "strength", 11.0, nullptr);
  g_object_set(enc, "strength", -0.5, nullptr);
  g_object_set(enc, "max-qp-offset", 0.0, nullptr);
  g_object_set(enc, "bitrate", 0u, nullptr);
  g_object_set(enc, "crf", 60.0, nullptr);
  g_object_set(enc, "threads", 1000u, nullptr);
  expected_warnings_ = 6;
  gdouble strength = 0, max_offset = 0, crf = 0;
  guint bitrate = 0, threads = 1;
  g_object_get(enc, "strength", &strength, "max-qp-offset", &max_offset, "bitrate", &bitrate, "crf",
               &crf, "threads", &threads, nullptr);
  EXPECT_DOUBLE_EQ(strength, 1.0);
  EXPECT_DOUBLE_EQ(max_offset, 8.0);
  EXPECT_EQ(bitrate, 2048u);
  EXPECT_DOUBLE_EQ(crf, 23.0);
  EXPECT_EQ(threads, 0u);
  gint mapping = -1;
  g_object_get(enc, "mapping", &mapping, nullptr);
  EXPECT_EQ(mapping, 0) << "the default mapping is log-ratio (the first value)";
  // Enum nicks that do not exist are refused by the parser.
  GError *err = nullptr;
  GstElement *bad = gst_parse_launch("saliencyx264enc speed-preset=warp", &err);
  EXPECT_NE(err, nullptr) << "an unknown speed preset must be refused";
  g_clear_error(&err);
  if (bad) gst_object_unref(bad);
  bad = gst_parse_launch("saliencyx264enc rc-mode=vbr", &err);
  EXPECT_NE(err, nullptr) << "an unknown rc-mode must be refused";
  g_clear_error(&err);
  if (bad) gst_object_unref(bad);
  bad = gst_parse_launch("saliencyx264enc mapping=quadratic", &err);
  EXPECT_NE(err, nullptr) << "an unknown mapping must be refused";
  g_clear_error(&err);
  if (bad) gst_object_unref(bad);
  gst_object_unref(enc);
}

// A map that is the same everywhere: saliency_to_qp_offsets gives all-zero offsets.
BufferPtr make_flat_meta_frame(int i) {
  BufferPtr b = make_frame(i, false);
  std::vector<float> map(12 * 8, 0.5f);
  gst_buffer_add_saliency_meta(b.get(), 12, 8, map.data());
  return b;
}

std::vector<guint8> encode_flat(const std::string &launch, int n) {
  EncHarness h(launch);
  for (int i = 0; i < n; ++i) EXPECT_EQ(h.push(make_flat_meta_frame(i)), GST_FLOW_OK);
  h.push_eos();
  return concat(h.pull_all());
}

TEST_F(X264EncTest, OptionStringReachesLibx264) {
  // keyint=1: every frame an IDR frame, so no output buffer may be a delta unit.
  // annexb=0 would break the byte-stream caps: the element ignores it.
  const auto coded =
      encode("saliencyx264enc option-string=keyint=1:bframes=0:annexb=0 bitrate=300", 6, true);
  ASSERT_EQ(coded.size(), 6u);
  for (const auto &b : coded) {
    EXPECT_FALSE(GST_BUFFER_FLAG_IS_SET(b.get(), GST_BUFFER_FLAG_DELTA_UNIT))
        << "option-string keyint=1 must make every frame a keyframe";
    EXPECT_TRUE(starts_with_start_code(b.get())) << "format options must not change the output";
  }
  // Without it the default GOP has delta frames.
  const auto plain = encode("saliencyx264enc bitrate=300", 6, true);
  int deltas = 0;
  for (const auto &b : plain) deltas += GST_BUFFER_FLAG_IS_SET(b.get(), GST_BUFFER_FLAG_DELTA_UNIT);
  EXPECT_GT(deltas, 0);
}

TEST_F(X264EncTest, OptionStringAppliesToPlainAndSaliencyEncodesAlike) {
  const std::string settings =
      " rc-mode=crf crf=30 speed-preset=fast threads=1 option-string=aq-mode=2:bframes=1";
  const auto plain = concat(encode("saliencyx264enc strength=0" + settings, 12, false));
  const auto no_meta = concat(encode("saliencyx264enc strength=1" + settings, 12, false));
  const auto salient = concat(encode("saliencyx264enc strength=1" + settings, 12, true));
  const auto other =
      concat(encode("saliencyx264enc strength=0 rc-mode=crf crf=30 "
                    "speed-preset=fast threads=1",
                    12, false));
  ASSERT_GT(plain.size(), 100u);
  EXPECT_NE(plain, other) << "option-string must change the encode";
  EXPECT_EQ(no_meta, plain) << "without metas the settings must be the plain encode's";
  EXPECT_NE(salient, plain) << "saliency offsets must still change the bitstream";
}

// The Annex B stream without its SEI NAL units (type 6): libx264 writes its settings into
// one, and those differ in the aq field even when every coded macroblock is the same.
std::vector<guint8> without_sei(const std::vector<guint8> &annexb) {
  std::vector<std::size_t> starts;  // first byte after each 00 00 01
  for (std::size_t i = 0; i + 3 <= annexb.size(); ++i)
    if (annexb[i] == 0 && annexb[i + 1] == 0 && annexb[i + 2] == 1) starts.push_back(i + 3);
  std::vector<guint8> out;
  for (std::size_t k = 0; k < starts.size(); ++k) {
    const std::size_t end = k + 1 < starts.size() ? starts[k + 1] - 3 : annexb.size();
    if ((annexb[starts[k]] & 0x1f) == 6) continue;
    out.insert(out.end(), annexb.begin() + starts[k], annexb.begin() + end);
  }
  return out;
}

TEST_F(X264EncTest, AqOffSettingsKeepAqOffExceptForTheOffsets) {
  // tune=psnr turns AQ off. Offsets need AQ on, so the element turns it on at strength 0:
  // with all-zero offsets (a flat map) the encode must be exactly the AQ-off plain one,
  // i.e. no variance AQ sneaks in, and a real map must still change it.
  for (const std::string aq_off : {" tune=psnr", " option-string=aq-mode=0"}) {
    const std::string settings = aq_off + " rc-mode=crf crf=30 speed-preset=fast threads=1";
    const auto plain = concat(encode("saliencyx264enc strength=0" + settings, 12, false));
    const auto flat = encode_flat("saliencyx264enc strength=1" + settings, 12);
    const auto salient = concat(encode("saliencyx264enc strength=1" + settings, 12, true));
    ASSERT_GT(plain.size(), 100u);
    EXPECT_NE(without_sei(plain).size(), plain.size()) << "the stream has a settings SEI";
    EXPECT_EQ(without_sei(flat), without_sei(plain))
        << aq_off << ": zero offsets must give the AQ-off encode";
    EXPECT_NE(salient, plain) << aq_off << ": offsets must be applied with AQ off";
  }
}

TEST_F(X264EncTest, BadOptionStringFailsWithAnErrorNamingIt) {
  for (const char *bad : {"option-string=no-such-option=3", "option-string=aq-mode=banana"}) {
    EncHarness h(std::string("saliencyx264enc ") + bad);
    GstBus *bus = gst_bus_new();
    gst_element_set_bus(h.element(), bus);
    EXPECT_NE(h.push(make_frame(0, true)), GST_FLOW_OK) << bad;
    GstMessage *msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
    ASSERT_NE(msg, nullptr) << bad << ": a bad option-string must post an element error";
    GError *err = nullptr;
    gchar *debug = nullptr;
    gst_message_parse_error(msg, &err, &debug);
    const std::string text = debug ? debug : "";
    EXPECT_NE(text.find(std::string(bad).substr(14)), std::string::npos) << text;
    g_clear_error(&err);
    g_free(debug);
    gst_message_unref(msg);
    gst_element_set_bus(h.element(), nullptr);
    gst_object_unref(bus);
  }
}

TEST_F(X264EncTest, StrengthCanChangeWhileStreaming) {
  // gst_harness_new (not _parse): the stress thread sets the property on h->element itself.
  GstHarness *h = gst_harness_new("saliencyx264enc");
  gst_util_set_object_arg(G_OBJECT(h->element), "speed-preset", "ultrafast");
  g_object_set(h->element, "threads", 1u, nullptr);
  gst_harness_set_src_caps_str(h, "video/x-raw,format=I420,width=98,height=66,framerate=25/1");
  GValue v = G_VALUE_INIT;
  g_value_init(&v, G_TYPE_DOUBLE);
  g_value_set_double(&v, 3.0);
  GstHarnessThread *t = gst_harness_stress_property_start_full(h, "strength", &v, 100);
  const int n = 30;
  for (int i = 0; i < n; ++i)
    EXPECT_EQ(gst_harness_push(h, make_frame(i, true).release()), GST_FLOW_OK);
  gst_harness_stress_thread_stop(t);
  g_value_unset(&v);
  EXPECT_TRUE(gst_harness_push_event(h, gst_event_new_eos()));
  int out = 0;
  while (GstBuffer *b = gst_harness_try_pull(h)) {
    gst_buffer_unref(b);
    out++;
  }
  EXPECT_EQ(out, n);
  gst_harness_teardown(h);
}

// Controlled properties follow stream time, as in every GStreamer element:
// in a segment that starts at 10 s with stream time 0, the frame at PTS
// 10.5 s is at 0.5 s on the control curve (strength 0 until 1 s, then 2).
// Synced on the raw PTS, both frames would read strength 2.
TEST_F(X264EncTest, ControlledPropertiesFollowStreamTime) {
  GstHarness *h = gst_harness_new("saliencyx264enc");
  gst_util_set_object_arg(G_OBJECT(h->element), "speed-preset", "ultrafast");
  g_object_set(h->element, "threads", 1u, nullptr);
  GstControlSource *curve = gst_interpolation_control_source_new();
  g_object_set(curve, "mode", GST_INTERPOLATION_MODE_NONE, nullptr);
  gst_timed_value_control_source_set(GST_TIMED_VALUE_CONTROL_SOURCE(curve), 0, 0.0);
  gst_timed_value_control_source_set(GST_TIMED_VALUE_CONTROL_SOURCE(curve), GST_SECOND, 2.0);
  ASSERT_TRUE(gst_object_add_control_binding(
      GST_OBJECT(h->element), gst_direct_control_binding_new_absolute(GST_OBJECT(h->element), "strength", curve)));
  gst_harness_set_src_caps_str(h, "video/x-raw,format=I420,width=98,height=66,framerate=25/1");
  GstSegment segment;
  gst_segment_init(&segment, GST_FORMAT_TIME);
  segment.start = 10 * GST_SECOND;
  segment.time = 0;
  ASSERT_TRUE(gst_harness_push_event(h, gst_event_new_segment(&segment)));
  auto strength_after_frame_at = [&](GstClockTime pts) {
    BufferPtr frame = make_frame(0, true);
    GST_BUFFER_PTS(frame.get()) = pts;
    EXPECT_EQ(gst_harness_push(h, frame.release()), GST_FLOW_OK);
    double strength = -1;
    g_object_get(h->element, "strength", &strength, nullptr);
    return strength;
  };
  EXPECT_EQ(strength_after_frame_at(10 * GST_SECOND + GST_SECOND / 2), 0.0);
  EXPECT_EQ(strength_after_frame_at(11 * GST_SECOND + GST_SECOND / 2), 2.0);
  gst_object_unref(curve);
  gst_harness_teardown(h);
}

TEST_F(X264EncTest, SurvivesStateCycles) {
  GstElement *enc = gst_element_factory_make("saliencyx264enc", nullptr);
  ASSERT_NE(enc, nullptr);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(gst_element_set_state(enc, GST_STATE_PAUSED), GST_STATE_CHANGE_SUCCESS);
    EXPECT_EQ(gst_element_set_state(enc, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  }
  gst_object_unref(enc);
}

}  // namespace
