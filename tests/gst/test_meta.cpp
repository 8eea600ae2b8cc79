// Tests of the meta library gstreamer-saliency-1.0: GstSaliencyMeta, GstOpticalFlowMeta and
// GstSaliencyCropMeta (DESIGN.md "Metadata", STYLE.md §d). Registration and tags, storage (copied
// values, shared GBytes), the copy and scale transforms called directly, and the same transforms
// driven by real elements (videoscale, videoconvert, videoflip) in a pipeline. Criticals and
// warnings logged during a test fail it, unless the test expects them (argument validation).
#include <gst/saliency/gstsaliencymeta.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "gst_test_support.hpp"

namespace {

using gsttest::LogCounter;
using gsttest::BufferPtr;

struct BytesUnref {
  void operator()(GBytes *b) const { g_bytes_unref(b); }
};
using BytesPtr = std::unique_ptr<GBytes, BytesUnref>;

// A buffer with `n_bytes` of (zeroed) memory, as a frame would have.
BufferPtr new_buffer(gsize n_bytes = 64) {
  GstBuffer *buf = gst_buffer_new_allocate(nullptr, n_bytes, nullptr);
  gst_buffer_memset(buf, 0, 0, n_bytes);
  return BufferPtr(buf);
}

// Distinct values in [0,1]: value i is i / (n - 1) (n >= 2).
std::vector<float> ramp(size_t n) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; i++) v[i] = static_cast<float>(i) / static_cast<float>(n - 1);
  return v;
}

// (u, v) = (i, -2 i) for cell i: distinct per cell and per component.
std::vector<float> flow_field(size_t n_cells) {
  std::vector<float> v(2 * n_cells);
  for (size_t i = 0; i < n_cells; i++) {
    v[2 * i] = static_cast<float>(i);
    v[2 * i + 1] = -2.0f * static_cast<float>(i);
  }
  return v;
}

std::vector<float> to_floats(GBytes *bytes) {
  gsize size = 0;
  const float *data = static_cast<const float *>(g_bytes_get_data(bytes, &size));
  return std::vector<float>(data, data + size / sizeof(float));
}

std::vector<float> saliency_values(GstSaliencyMeta *meta) {
  BytesPtr map(gst_saliency_meta_get_map(meta, nullptr, nullptr));
  return to_floats(map.get());
}

std::vector<float> flow_values(GstOpticalFlowMeta *meta) {
  BytesPtr flow(gst_optical_flow_meta_get_flow(meta, nullptr, nullptr));
  return to_floats(flow.get());
}

class SaliencyMetaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    gst_init(nullptr, nullptr);
    log_ = std::make_unique<LogCounter>();
  }
  void TearDown() override {
    EXPECT_EQ(log_->criticals(), expected_criticals_) << "GLib criticals logged during the test";
    EXPECT_EQ(log_->warnings(), 0) << "GLib warnings logged during the test";
    log_.reset();
  }
  std::unique_ptr<LogCounter> log_;
  int expected_criticals_ = 0;
};

// Runs info->transform_func for a scale from in_w x in_h to out_w x out_h (RGB frames), as
// videoconvertscale's transform_meta does.
gboolean scale_transform(GstBuffer *dest, GstMeta *meta, GstBuffer *src, int in_w, int in_h,
                         int out_w, int out_h) {
  GstVideoInfo in_info, out_info;
  gst_video_info_set_format(&in_info, GST_VIDEO_FORMAT_RGB, in_w, in_h);
  gst_video_info_set_format(&out_info, GST_VIDEO_FORMAT_RGB, out_w, out_h);
  GstVideoMetaTransform trans = {&in_info, &out_info};
  return meta->info->transform_func(dest, meta, src, gst_video_meta_transform_scale_get_quark(),
                                    &trans);
}

}  // namespace

TEST_F(SaliencyMetaTest, ApisCarryVideoSizeAndOrientationTagsOnly) {
  for (GType api : {GST_SALIENCY_META_API_TYPE, GST_OPTICAL_FLOW_META_API_TYPE}) {
    SCOPED_TRACE(g_type_name(api));
    EXPECT_TRUE(gst_meta_api_type_has_tag(api, g_quark_from_string(GST_META_TAG_VIDEO_STR)));
    EXPECT_TRUE(gst_meta_api_type_has_tag(api, g_quark_from_string(GST_META_TAG_VIDEO_SIZE_STR)));
    EXPECT_TRUE(
        gst_meta_api_type_has_tag(api, g_quark_from_string(GST_META_TAG_VIDEO_ORIENTATION_STR)));
    const gchar *const *tags = gst_meta_api_type_get_tags(api);
    ASSERT_NE(tags, nullptr);
    EXPECT_EQ(g_strv_length(const_cast<gchar **>(tags)), 3u);
  }
  EXPECT_STREQ(g_type_name(GST_SALIENCY_META_API_TYPE), "GstSaliencyMetaAPI");
  EXPECT_STREQ(g_type_name(GST_OPTICAL_FLOW_META_API_TYPE), "GstOpticalFlowMetaAPI");
  EXPECT_EQ(GST_SALIENCY_META_INFO->api, GST_SALIENCY_META_API_TYPE);
  EXPECT_EQ(GST_OPTICAL_FLOW_META_INFO->api, GST_OPTICAL_FLOW_META_API_TYPE);
}

TEST_F(SaliencyMetaTest, AddCopiesValuesAndGetMapReturnsThemWithSize) {
  BufferPtr buf = new_buffer();
  std::vector<float> values = ramp(4 * 3);
  const std::vector<float> expected = values;

  GstSaliencyMeta *meta = gst_buffer_add_saliency_meta(buf.get(), 4, 3, values.data());
  ASSERT_NE(meta, nullptr);
  values[0] = 99.0f;  // the meta holds its own copy

  EXPECT_EQ(gst_buffer_get_saliency_meta(buf.get()), meta);
  EXPECT_EQ(meta->width, 4u);
  EXPECT_EQ(meta->height, 3u);
  guint w = 0, h = 0;
  BytesPtr map(gst_saliency_meta_get_map(meta, &w, &h));
  ASSERT_NE(map, nullptr);
  EXPECT_EQ(w, 4u);
  EXPECT_EQ(h, 3u);
  EXPECT_EQ(g_bytes_get_size(map.get()), 4u * 3u * sizeof(float));
  EXPECT_EQ(to_floats(map.get()), expected);
  // The map outlives the buffer: get_map returned a reference of its own.
  buf.reset();
  EXPECT_EQ(to_floats(map.get()), expected);
}

TEST_F(SaliencyMetaTest, AddOpticalFlowCopiesInterleavedVectors) {
  BufferPtr buf = new_buffer();
  std::vector<float> values = flow_field(5 * 2);
  const std::vector<float> expected = values;

  GstOpticalFlowMeta *meta = gst_buffer_add_optical_flow_meta(buf.get(), 5, 2, values.data());
  ASSERT_NE(meta, nullptr);
  values[1] = 1234.0f;

  EXPECT_EQ(gst_buffer_get_optical_flow_meta(buf.get()), meta);
  EXPECT_EQ(gst_buffer_get_saliency_meta(buf.get()), nullptr);
  guint w = 0, h = 0;
  BytesPtr flow(gst_optical_flow_meta_get_flow(meta, &w, &h));
  EXPECT_EQ(w, 5u);
  EXPECT_EQ(h, 2u);
  EXPECT_EQ(g_bytes_get_size(flow.get()), 5u * 2u * 2u * sizeof(float));
  EXPECT_EQ(to_floats(flow.get()), expected);
}

TEST_F(SaliencyMetaTest, FromBytesSharesTheCallersBytesWithoutCopying) {
  BufferPtr buf = new_buffer();
  std::vector<float> values = ramp(6 * 2);
  BytesPtr bytes(g_bytes_new(values.data(), values.size() * sizeof(float)));

  GstSaliencyMeta *meta =
      gst_buffer_add_saliency_meta_from_bytes(buf.get(), 6, 2, bytes.get());
  ASSERT_NE(meta, nullptr);
  BytesPtr map(gst_saliency_meta_get_map(meta, nullptr, nullptr));
  EXPECT_EQ(g_bytes_get_data(map.get(), nullptr), g_bytes_get_data(bytes.get(), nullptr));

  // The meta keeps its own reference: dropping ours leaves the map intact.
  const void *data = g_bytes_get_data(bytes.get(), nullptr);
  bytes.reset();
  map.reset();
  EXPECT_EQ(saliency_values(meta), values);
  BytesPtr again(gst_saliency_meta_get_map(meta, nullptr, nullptr));
  EXPECT_EQ(g_bytes_get_data(again.get(), nullptr), data);
}

TEST_F(SaliencyMetaTest, GetReturnsNullOnBufferWithoutMeta) {
  BufferPtr buf = new_buffer();
  EXPECT_EQ(gst_buffer_get_saliency_meta(buf.get()), nullptr);
  EXPECT_EQ(gst_buffer_get_optical_flow_meta(buf.get()), nullptr);
}

TEST_F(SaliencyMetaTest, BufferCopiesShareMapAndFlow) {
  BufferPtr src = new_buffer();
  const std::vector<float> map_values = ramp(4 * 4);
  const std::vector<float> flow = flow_field(2 * 2);
  ASSERT_NE(gst_buffer_add_saliency_meta(src.get(), 4, 4, map_values.data()), nullptr);
  ASSERT_NE(gst_buffer_add_optical_flow_meta(src.get(), 2, 2, flow.data()), nullptr);
  GstSaliencyMeta *src_meta = gst_buffer_get_saliency_meta(src.get());
  GstOpticalFlowMeta *src_flow = gst_buffer_get_optical_flow_meta(src.get());

  BufferPtr copies[] = {BufferPtr(gst_buffer_copy(src.get())),
                        BufferPtr(gst_buffer_copy_deep(src.get())),
                        BufferPtr(gst_buffer_copy_region(src.get(), GST_BUFFER_COPY_ALL, 0, -1))};
  for (auto &copy : copies) {
    GstSaliencyMeta *meta = gst_buffer_get_saliency_meta(copy.get());
    GstOpticalFlowMeta *fmeta = gst_buffer_get_optical_flow_meta(copy.get());
    ASSERT_NE(meta, nullptr);
    ASSERT_NE(fmeta, nullptr);
    EXPECT_NE(meta, src_meta);
    EXPECT_EQ(meta->width, 4u);
    EXPECT_EQ(meta->height, 4u);
    EXPECT_EQ(fmeta->width, 2u);
    EXPECT_EQ(fmeta->height, 2u);
    // Immutable storage: the copy refers to the same bytes.
    EXPECT_EQ(g_bytes_get_data(meta->map, nullptr), g_bytes_get_data(src_meta->map, nullptr));
    EXPECT_EQ(g_bytes_get_data(fmeta->flow, nullptr), g_bytes_get_data(src_flow->flow, nullptr));
    EXPECT_EQ(saliency_values(meta), map_values);
    EXPECT_EQ(flow_values(fmeta), flow);
  }
  // Removing the source's metas leaves the copies' maps alive.
  src.reset();
  EXPECT_EQ(saliency_values(gst_buffer_get_saliency_meta(copies[0].get())), map_values);
}

TEST_F(SaliencyMetaTest, PartialRegionCopyDropsBothMetas) {
  BufferPtr src = new_buffer(64);
  const std::vector<float> map_values = ramp(2 * 2);
  const std::vector<float> flow = flow_field(2 * 2);
  ASSERT_NE(gst_buffer_add_saliency_meta(src.get(), 2, 2, map_values.data()), nullptr);
  ASSERT_NE(gst_buffer_add_optical_flow_meta(src.get(), 2, 2, flow.data()), nullptr);

  BufferPtr part(gst_buffer_copy_region(src.get(), GST_BUFFER_COPY_ALL, 16, 32));
  ASSERT_NE(part, nullptr);
  EXPECT_EQ(gst_buffer_get_size(part.get()), 32u);
  EXPECT_EQ(gst_buffer_get_saliency_meta(part.get()), nullptr);
  EXPECT_EQ(gst_buffer_get_optical_flow_meta(part.get()), nullptr);
}

TEST_F(SaliencyMetaTest, ScaleTransformKeepsSaliencyMapAsIs) {
  BufferPtr src = new_buffer();
  const std::vector<float> values = ramp(8 * 6);
  GstSaliencyMeta *meta = gst_buffer_add_saliency_meta(src.get(), 8, 6, values.data());
  ASSERT_NE(meta, nullptr);

  BufferPtr dest = new_buffer();
  ASSERT_TRUE(scale_transform(dest.get(), &meta->meta, src.get(), 64, 48, 200, 30));
  GstSaliencyMeta *scaled = gst_buffer_get_saliency_meta(dest.get());
  ASSERT_NE(scaled, nullptr);
  EXPECT_EQ(scaled->width, 8u);  // the map is relative to the frame: same grid, same values
  EXPECT_EQ(scaled->height, 6u);
  EXPECT_EQ(g_bytes_get_data(scaled->map, nullptr), g_bytes_get_data(meta->map, nullptr));
  EXPECT_EQ(saliency_values(scaled), values);
}

TEST_F(SaliencyMetaTest, ScaleTransformRescalesFlowVectorsPerAxis) {
  BufferPtr src = new_buffer();
  const std::vector<float> values = flow_field(4 * 3);
  GstOpticalFlowMeta *meta = gst_buffer_add_optical_flow_meta(src.get(), 4, 3, values.data());
  ASSERT_NE(meta, nullptr);

  // 64x48 -> 160x24: u in pixels grows by 2.5, v shrinks by 0.5.
  BufferPtr dest = new_buffer();
  ASSERT_TRUE(scale_transform(dest.get(), &meta->meta, src.get(), 64, 48, 160, 24));
  GstOpticalFlowMeta *scaled = gst_buffer_get_optical_flow_meta(dest.get());
  ASSERT_NE(scaled, nullptr);
  EXPECT_EQ(scaled->width, 4u);
  EXPECT_EQ(scaled->height, 3u);
  const std::vector<float> got = flow_values(scaled);
  ASSERT_EQ(got.size(), values.size());
  for (size_t i = 0; i < 4 * 3; i++) {
    EXPECT_FLOAT_EQ(got[2 * i], 2.5f * values[2 * i]) << "u of cell " << i;
    EXPECT_FLOAT_EQ(got[2 * i + 1], 0.5f * values[2 * i + 1]) << "v of cell " << i;
  }
  // The source's vectors are untouched (new storage for the scaled ones).
  EXPECT_EQ(flow_values(meta), values);
  EXPECT_NE(g_bytes_get_data(scaled->flow, nullptr), g_bytes_get_data(meta->flow, nullptr));
}

TEST_F(SaliencyMetaTest, ScaleTransformToTheSameSizeSharesFlow) {
  BufferPtr src = new_buffer();
  const std::vector<float> values = flow_field(2 * 2);
  GstOpticalFlowMeta *meta = gst_buffer_add_optical_flow_meta(src.get(), 2, 2, values.data());
  BufferPtr dest = new_buffer();
  ASSERT_TRUE(scale_transform(dest.get(), &meta->meta, src.get(), 32, 24, 32, 24));
  GstOpticalFlowMeta *same = gst_buffer_get_optical_flow_meta(dest.get());
  ASSERT_NE(same, nullptr);
  EXPECT_EQ(g_bytes_get_data(same->flow, nullptr), g_bytes_get_data(meta->flow, nullptr));
}

TEST_F(SaliencyMetaTest, UnknownTransformDropsBothMetas) {
  BufferPtr src = new_buffer();
  const std::vector<float> values = ramp(2 * 2);
  const std::vector<float> flow = flow_field(2 * 2);
  GstSaliencyMeta *meta = gst_buffer_add_saliency_meta(src.get(), 2, 2, values.data());
  GstOpticalFlowMeta *fmeta = gst_buffer_add_optical_flow_meta(src.get(), 2, 2, flow.data());
  ASSERT_NE(meta, nullptr);
  ASSERT_NE(fmeta, nullptr);

  const GQuark unknown = g_quark_from_static_string("gst-saliency-test-unknown-transform");
  BufferPtr dest = new_buffer();
  EXPECT_FALSE(meta->meta.info->transform_func(dest.get(), &meta->meta, src.get(), unknown,
                                               nullptr));
  EXPECT_FALSE(fmeta->meta.info->transform_func(dest.get(), &fmeta->meta, src.get(), unknown,
                                                nullptr));
  EXPECT_EQ(gst_buffer_get_saliency_meta(dest.get()), nullptr);
  EXPECT_EQ(gst_buffer_get_optical_flow_meta(dest.get()), nullptr);
}

TEST_F(SaliencyMetaTest, InvalidArgumentsAreRejectedWithACritical) {
  BufferPtr buf = new_buffer();
  const std::vector<float> values = ramp(4 * 4);
  BytesPtr short_bytes(g_bytes_new(values.data(), (4 * 4 - 1) * sizeof(float)));
  BytesPtr map_bytes(g_bytes_new(values.data(), 4 * 4 * sizeof(float)));

  EXPECT_EQ(gst_buffer_add_saliency_meta(buf.get(), 0, 4, values.data()), nullptr);
  EXPECT_EQ(gst_buffer_add_saliency_meta(buf.get(), 4, 0, values.data()), nullptr);
  EXPECT_EQ(gst_buffer_add_saliency_meta(buf.get(), 4, 4, nullptr), nullptr);
  EXPECT_EQ(gst_buffer_add_saliency_meta_from_bytes(buf.get(), 4, 4, short_bytes.get()), nullptr);
  EXPECT_EQ(gst_buffer_add_saliency_meta_from_bytes(buf.get(), 4, 4, nullptr), nullptr);
  // Flow needs two floats per cell: a saliency-sized payload is refused.
  EXPECT_EQ(gst_buffer_add_optical_flow_meta_from_bytes(buf.get(), 4, 4, map_bytes.get()),
            nullptr);
  EXPECT_EQ(gst_buffer_add_optical_flow_meta(buf.get(), 4, 4, nullptr), nullptr);
  // A shared (non-writable) buffer is refused.
  gst_buffer_ref(buf.get());
  EXPECT_EQ(gst_buffer_add_saliency_meta(buf.get(), 4, 4, values.data()), nullptr);
  gst_buffer_unref(buf.get());
  EXPECT_EQ(gst_saliency_meta_get_map(nullptr, nullptr, nullptr), nullptr);

  EXPECT_EQ(gst_buffer_get_saliency_meta(buf.get()), nullptr);
  EXPECT_EQ(gst_buffer_get_optical_flow_meta(buf.get()), nullptr);
  expected_criticals_ = 9;  // one per rejected call, checked in TearDown
}

// ------------------------------------------------------------------ crop window

namespace {

void expect_window(const GstSaliencyCropMeta *m, guint x, guint y, guint w, guint h, guint sw,
                   guint sh) {
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->x, x);
  EXPECT_EQ(m->y, y);
  EXPECT_EQ(m->width, w);
  EXPECT_EQ(m->height, h);
  EXPECT_EQ(m->source_width, sw);
  EXPECT_EQ(m->source_height, sh);
}

}  // namespace

TEST_F(SaliencyMetaTest, CropMetaApiHasNoTags) {
  // It describes the source frame, not the buffer's pixels: no tag, so converters and scalers
  // keep it.
  EXPECT_EQ(gst_meta_api_type_get_tags(GST_SALIENCY_CROP_META_API_TYPE), nullptr);
  EXPECT_STREQ(g_type_name(GST_SALIENCY_CROP_META_API_TYPE), "GstSaliencyCropMetaAPI");
  EXPECT_EQ(GST_SALIENCY_CROP_META_INFO->api, GST_SALIENCY_CROP_META_API_TYPE);
}

TEST_F(SaliencyMetaTest, AddCropMetaStoresTheWindowAndGetFindsIt) {
  BufferPtr buf = new_buffer();
  EXPECT_EQ(gst_buffer_get_saliency_crop_meta(buf.get()), nullptr);
  GstSaliencyCropMeta *meta =
      gst_buffer_add_saliency_crop_meta(buf.get(), 220, 0, 202, 360, 640, 360);
  ASSERT_NE(meta, nullptr);
  EXPECT_EQ(gst_buffer_get_saliency_crop_meta(buf.get()), meta);
  expect_window(meta, 220, 0, 202, 360, 640, 360);
  // The whole frame is a valid window too.
  BufferPtr whole = new_buffer();
  expect_window(gst_buffer_add_saliency_crop_meta(whole.get(), 0, 0, 640, 360, 640, 360), 0, 0, 640,
                360, 640, 360);
}

TEST_F(SaliencyMetaTest, CropMetaSurvivesCopiesAndScalingUnchanged) {
  BufferPtr src = new_buffer(64);
  ASSERT_NE(gst_buffer_add_saliency_crop_meta(src.get(), 100, 20, 202, 340, 640, 360), nullptr);

  BufferPtr copies[] = {BufferPtr(gst_buffer_copy(src.get())),
                        BufferPtr(gst_buffer_copy_deep(src.get())),
                        BufferPtr(gst_buffer_copy_region(src.get(), GST_BUFFER_COPY_ALL, 0, -1))};
  for (auto &copy : copies) {
    GstSaliencyCropMeta *meta = gst_buffer_get_saliency_crop_meta(copy.get());
    EXPECT_NE(meta, gst_buffer_get_saliency_crop_meta(src.get()));
    expect_window(meta, 100, 20, 202, 340, 640, 360);
  }

  // Scaling the frame (202x340 -> 101x170) leaves the window in source pixels as it was.
  GstSaliencyCropMeta *meta = gst_buffer_get_saliency_crop_meta(src.get());
  BufferPtr dest = new_buffer();
  ASSERT_TRUE(scale_transform(dest.get(), &meta->meta, src.get(), 202, 340, 101, 170));
  expect_window(gst_buffer_get_saliency_crop_meta(dest.get()), 100, 20, 202, 340, 640, 360);

  // A partial copy is no longer the frame: dropped, like the grids.
  BufferPtr part(gst_buffer_copy_region(src.get(), GST_BUFFER_COPY_ALL, 16, 32));
  EXPECT_EQ(gst_buffer_get_saliency_crop_meta(part.get()), nullptr);
  // So is an unknown transform.
  const GQuark unknown = g_quark_from_static_string("gst-saliency-test-unknown-transform");
  BufferPtr other = new_buffer();
  EXPECT_FALSE(
      meta->meta.info->transform_func(other.get(), &meta->meta, src.get(), unknown, nullptr));
  EXPECT_EQ(gst_buffer_get_saliency_crop_meta(other.get()), nullptr);
}

TEST_F(SaliencyMetaTest, CropWindowsOutsideTheSourceAreRejectedWithACritical) {
  BufferPtr buf = new_buffer();
  EXPECT_EQ(gst_buffer_add_saliency_crop_meta(buf.get(), 0, 0, 0, 360, 640, 360), nullptr);
  EXPECT_EQ(gst_buffer_add_saliency_crop_meta(buf.get(), 0, 0, 202, 0, 640, 360), nullptr);
  EXPECT_EQ(gst_buffer_add_saliency_crop_meta(buf.get(), 440, 0, 202, 360, 640, 360), nullptr);
  EXPECT_EQ(gst_buffer_add_saliency_crop_meta(buf.get(), 0, 2, 202, 360, 640, 360), nullptr);
  // x + width would overflow a guint: still refused.
  EXPECT_EQ(gst_buffer_add_saliency_crop_meta(buf.get(), 100, 0, G_MAXUINT, 360, 640, 360),
            nullptr);
  EXPECT_EQ(gst_buffer_get_saliency_crop_meta(buf.get()), nullptr);
  expected_criticals_ = 5;
}

#if GST_CHECK_VERSION(1, 24, 0)
namespace {
// Serialises `meta` with gst_meta_serialize_simple, then deserialises it onto a fresh buffer.
BufferPtr round_trip(GstMeta *meta) {
  GByteArray *data = g_byte_array_new();
  EXPECT_TRUE(gst_meta_serialize_simple(meta, data));
  BufferPtr dest = new_buffer();
  guint32 consumed = 0;
  EXPECT_NE(gst_meta_deserialize(dest.get(), data->data, data->len, &consumed), nullptr);
  EXPECT_EQ(consumed, data->len);
  // A truncated payload is refused, not read past its end.
  BufferPtr other = new_buffer();
  EXPECT_EQ(gst_meta_deserialize(other.get(), data->data, data->len - 4, &consumed), nullptr);
  g_byte_array_unref(data);
  return dest;
}
}  // namespace

TEST_F(SaliencyMetaTest, SerialisationRoundTripsBothMetas) {
  BufferPtr src = new_buffer();
  const std::vector<float> values = ramp(3 * 2);
  const std::vector<float> flow = flow_field(3 * 2);
  GstSaliencyMeta *meta = gst_buffer_add_saliency_meta(src.get(), 3, 2, values.data());
  GstOpticalFlowMeta *fmeta = gst_buffer_add_optical_flow_meta(src.get(), 3, 2, flow.data());
  ASSERT_NE(meta, nullptr);
  ASSERT_NE(fmeta, nullptr);

  BufferPtr map_back = round_trip(&meta->meta);
  GstSaliencyMeta *got = gst_buffer_get_saliency_meta(map_back.get());
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(got->width, 3u);
  EXPECT_EQ(got->height, 2u);
  EXPECT_EQ(saliency_values(got), values);

  BufferPtr flow_back = round_trip(&fmeta->meta);
  GstOpticalFlowMeta *fgot = gst_buffer_get_optical_flow_meta(flow_back.get());
  ASSERT_NE(fgot, nullptr);
  EXPECT_EQ(fgot->width, 3u);
  EXPECT_EQ(fgot->height, 2u);
  EXPECT_EQ(flow_values(fgot), flow);
}
#endif  // GST_CHECK_VERSION(1, 24, 0): serialisation does not exist on 1.22

// ------------------------------------------------------------------ pipelines

namespace {

// Metas the pad probe attaches: an 8x6 saliency ramp, a 4x3 flow of constant (1.5, -2) px and
// the crop window (8, 4, 36, 40) of a 128x96 source.
constexpr guint kMapW = 8, kMapH = 6, kFlowW = 4, kFlowH = 3;
constexpr float kFlowU = 1.5f, kFlowV = -2.0f;
constexpr guint kCrop[6] = {8, 4, 36, 40, 128, 96};

GstPadProbeReturn attach_metas(GstPad *, GstPadProbeInfo *info, gpointer counter) {
  GstBuffer *buf = gst_buffer_make_writable(GST_PAD_PROBE_INFO_BUFFER(info));
  GST_PAD_PROBE_INFO_DATA(info) = buf;
  const std::vector<float> map = ramp(kMapW * kMapH);
  std::vector<float> flow(2 * kFlowW * kFlowH);
  for (size_t i = 0; i < kFlowW * kFlowH; i++) {
    flow[2 * i] = kFlowU;
    flow[2 * i + 1] = kFlowV;
  }
  if (gst_buffer_add_saliency_meta(buf, kMapW, kMapH, map.data()) &&
      gst_buffer_add_optical_flow_meta(buf, kFlowW, kFlowH, flow.data()) &&
      gst_buffer_add_saliency_crop_meta(buf, kCrop[0], kCrop[1], kCrop[2], kCrop[3], kCrop[4],
                                        kCrop[5]))
    ++*static_cast<std::atomic<int> *>(counter);
  return GST_PAD_PROBE_OK;
}

struct PipelineRun {
  std::vector<BufferPtr> buffers;  // as they reached the appsink
  int tagged = 0;                  // buffers the probe attached metas to
  int width = 0, height = 0;       // frame size at the appsink
  std::string error;               // first bus error, if any
};

// Runs `description`, which must contain "identity name=tag" (metas are attached on its src pad)
// and end in "appsink name=sink", to EOS.
PipelineRun run_pipeline(const std::string &description) {
  PipelineRun run;
  GError *err = nullptr;
  GstElement *pipeline = gst_parse_launch(description.c_str(), &err);
  if (!pipeline) {
    run.error = err ? err->message : "parse failed";
    g_clear_error(&err);
    return run;
  }
  GstElement *tag = gst_bin_get_by_name(GST_BIN(pipeline), "tag");
  GstElement *sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
  std::atomic<int> tagged{0};
  GstPad *pad = gst_element_get_static_pad(tag, "src");
  gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, attach_metas, &tagged, nullptr);
  gst_object_unref(pad);

  gst_element_set_state(pipeline, GST_STATE_PLAYING);
  for (;;) {
    GstSample *sample = nullptr;
    g_signal_emit_by_name(sink, "try-pull-sample", 5 * GST_SECOND, &sample);
    if (!sample) break;  // EOS, error or timeout: the bus says which
    GstCaps *caps = gst_sample_get_caps(sample);
    GstVideoInfo info;
    if (caps && gst_video_info_from_caps(&info, caps)) {
      run.width = GST_VIDEO_INFO_WIDTH(&info);
      run.height = GST_VIDEO_INFO_HEIGHT(&info);
    }
    run.buffers.emplace_back(gst_buffer_ref(gst_sample_get_buffer(sample)));
    gst_sample_unref(sample);
  }
  GstBus *bus = gst_element_get_bus(pipeline);
  GstMessage *msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
  if (msg) {
    gst_message_parse_error(msg, &err, nullptr);
    run.error = err->message;
    g_clear_error(&err);
    gst_message_unref(msg);
  }
  gst_object_unref(bus);
  gst_element_set_state(pipeline, GST_STATE_NULL);
  run.tagged = tagged;
  gst_object_unref(tag);
  gst_object_unref(sink);
  gst_object_unref(pipeline);
  return run;
}

const std::string kSource =
    "videotestsrc num-buffers=4 ! video/x-raw,format=I420,width=64,height=48,framerate=25/1 ! "
    "identity name=tag ! ";

}  // namespace

// The probe's crop window, unchanged: it describes the source frame whatever happens to the pixels.
static void expect_probe_window(GstBuffer *buf) {
  expect_window(gst_buffer_get_saliency_crop_meta(buf), kCrop[0], kCrop[1], kCrop[2], kCrop[3],
                kCrop[4], kCrop[5]);
}

TEST_F(SaliencyMetaTest, VideoscaleKeepsMapAndRescalesFlowToTheNewFrame) {
  PipelineRun run = run_pipeline(kSource +
                                 "videoscale ! video/x-raw,width=128,height=24 ! "
                                 "appsink name=sink sync=false");
  ASSERT_EQ(run.error, "");
  EXPECT_EQ(run.tagged, 4);
  ASSERT_EQ(run.buffers.size(), 4u);
  EXPECT_EQ(run.width, 128);
  EXPECT_EQ(run.height, 24);
  const std::vector<float> expected_map = ramp(kMapW * kMapH);
  for (auto &buf : run.buffers) {
    GstSaliencyMeta *meta = gst_buffer_get_saliency_meta(buf.get());
    ASSERT_NE(meta, nullptr);
    EXPECT_EQ(meta->width, kMapW);
    EXPECT_EQ(meta->height, kMapH);
    EXPECT_EQ(saliency_values(meta), expected_map);
    GstOpticalFlowMeta *fmeta = gst_buffer_get_optical_flow_meta(buf.get());
    ASSERT_NE(fmeta, nullptr);
    EXPECT_EQ(fmeta->width, kFlowW);
    EXPECT_EQ(fmeta->height, kFlowH);
    const std::vector<float> flow = flow_values(fmeta);
    ASSERT_EQ(flow.size(), 2u * kFlowW * kFlowH);
    for (size_t i = 0; i < kFlowW * kFlowH; i++) {
      EXPECT_FLOAT_EQ(flow[2 * i], kFlowU * 128 / 64);  // pixels of the 128-wide frame
      EXPECT_FLOAT_EQ(flow[2 * i + 1], kFlowV * 24 / 48);
    }
    expect_probe_window(buf.get());
  }
}

TEST_F(SaliencyMetaTest, VideoconvertAtTheSameSizeKeepsBothMetasUnchanged) {
  PipelineRun run = run_pipeline(kSource +
                                 "videoconvert ! video/x-raw,format=RGB ! "
                                 "appsink name=sink sync=false");
  ASSERT_EQ(run.error, "");
  ASSERT_EQ(run.buffers.size(), 4u);
  for (auto &buf : run.buffers) {
    GstSaliencyMeta *meta = gst_buffer_get_saliency_meta(buf.get());
    GstOpticalFlowMeta *fmeta = gst_buffer_get_optical_flow_meta(buf.get());
    ASSERT_NE(meta, nullptr);
    ASSERT_NE(fmeta, nullptr);
    EXPECT_EQ(saliency_values(meta), ramp(kMapW * kMapH));
    const std::vector<float> flow = flow_values(fmeta);
    ASSERT_EQ(flow.size(), 2u * kFlowW * kFlowH);
    EXPECT_FLOAT_EQ(flow[0], kFlowU);
    EXPECT_FLOAT_EQ(flow[1], kFlowV);
    expect_probe_window(buf.get());
  }
}

TEST_F(SaliencyMetaTest, VideoflipDropsBothMetas) {
  // A flipped or rotated frame no longer lines up with the grid: videoflip (a GstVideoFilter with
  // no transform for it) drops metas tagged "orientation". (video-direction, not the deprecated
  // method property, which 1.22 ignores here.) The untagged crop window, which says where in the
  // source the frame came from, stays.
  struct Case {
    const char *direction;
    int width;
  };
  for (const Case &c : {Case{"90r", 48}, Case{"horiz", 64}}) {
    SCOPED_TRACE(c.direction);
    PipelineRun run = run_pipeline(kSource + "videoflip video-direction=" + c.direction +
                                   " ! appsink name=sink sync=false");
    ASSERT_EQ(run.error, "");
    EXPECT_EQ(run.tagged, 4);
    ASSERT_EQ(run.buffers.size(), 4u);
    EXPECT_EQ(run.width, c.width);
    for (auto &buf : run.buffers) {
      EXPECT_EQ(gst_buffer_get_saliency_meta(buf.get()), nullptr);
      EXPECT_EQ(gst_buffer_get_optical_flow_meta(buf.get()), nullptr);
      expect_probe_window(buf.get());
    }
  }
}
