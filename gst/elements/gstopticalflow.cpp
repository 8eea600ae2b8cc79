/* gst-saliency: opticalflow element
 *
 * This library is free software; you can redistribute it and/or modify it
 * under the terms of the GNU Lesser General Public License as published by the
 * Free Software Foundation; either version 2.1 of the License, or (at your
 * option) any later version.
 *
 * This library is distributed in the hope that it will be useful, but WITHOUT
 * ANY WARRANTY; without even the implied warranty of MERCHANTABILITY or FITNESS
 * FOR A PARTICULAR PURPOSE. See the GNU Lesser General Public License for more
 * details.
 */
/**
 * SECTION:element-opticalflow
 * @title: opticalflow
 *
 * Computes dense optical flow from the previous frame to the current one and
 * attaches it to the buffer as #GstOpticalFlowMeta. The video itself passes
 * unchanged (the frame is mapped read-only, so shared memory is never copied).
 *
 * The flow is forward flow, previous(x) ~ current(x + flow(x)); its vectors
 * are in pixels of the frame the meta is attached to. With `downscale` N the
 * flow is computed on a grid N times smaller (N² times fewer pixels) and the
 * meta carries that grid, with vectors already scaled back to frame pixels.
 *
 * The first frame, and the first frame after a DISCONT buffer, a flush or a
 * caps change, have no previous frame and get no meta: consumers (the
 * `saliency` element) then compute what they need themselves. Changing
 * `algorithm`, `preset` or `downscale` while playing takes effect on the next
 * frame and likewise restarts the history.
 *
 * Packed RGB formats are converted to grey inside; for GRAY8 and the planar
 * YUV formats the Y plane is used directly, so no `videoconvert` is needed in
 * front of it. QoS is off: a skipped frame would make the next flow span two
 * frames.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 videotestsrc pattern=ball ! opticalflow algorithm=dis preset=fast ! \
 *     videoconvert ! saliency ! saliencyoverlay ! videoconvert ! autovideosink
 * ]|
 *
 * Since: 0.1
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/saliency/gstsaliencymeta.h>
#include <gst/video/video.h>

#include <algorithm>
#include <exception>
#include <memory>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <vector>

#include "gstopticalflow.h"
#include "salflow/grid_flow.hpp"

GST_DEBUG_CATEGORY_STATIC(gst_optical_flow_debug);
#define GST_CAT_DEFAULT gst_optical_flow_debug

enum { PROP_0, PROP_ALGORITHM, PROP_PRESET, PROP_DOWNSCALE };

typedef enum {
  GST_OPTICAL_FLOW_ALGORITHM_DIS,
  GST_OPTICAL_FLOW_ALGORITHM_FARNEBACK,
  GST_OPTICAL_FLOW_ALGORITHM_TVL1,
} GstOpticalFlowAlgorithm;

typedef enum {
  GST_OPTICAL_FLOW_PRESET_ULTRAFAST,
  GST_OPTICAL_FLOW_PRESET_FAST,
  GST_OPTICAL_FLOW_PRESET_MEDIUM,
  GST_OPTICAL_FLOW_PRESET_ACCURATE,
} GstOpticalFlowPreset;

#define DEFAULT_ALGORITHM GST_OPTICAL_FLOW_ALGORITHM_DIS
#define DEFAULT_PRESET GST_OPTICAL_FLOW_PRESET_FAST
#define DEFAULT_DOWNSCALE 1
#define MAX_DOWNSCALE 8

#define GST_TYPE_OPTICAL_FLOW_ALGORITHM (gst_optical_flow_algorithm_get_type())
static GType gst_optical_flow_algorithm_get_type(void) {
  static gsize id = 0;
  static const GEnumValue values[] = {
      {GST_OPTICAL_FLOW_ALGORITHM_DIS,
       "DIS: dense inverse search (Kroeger et al. 2016), fast; the project default", "dis"},
      {GST_OPTICAL_FLOW_ALGORITHM_FARNEBACK,
       "Farneback: polynomial expansion (Farneback 2003), medium speed", "farneback"},
      {GST_OPTICAL_FLOW_ALGORITHM_TVL1, "TV-L1: variational (Zach et al. 2007), accurate but slow",
       "tvl1"},
      {0, NULL, NULL}};
  if (g_once_init_enter(&id)) {
    GType t = g_enum_register_static("GstOpticalFlowAlgorithm", values);
    g_once_init_leave(&id, t);
  }
  return (GType)id;
}

#define GST_TYPE_OPTICAL_FLOW_PRESET (gst_optical_flow_preset_get_type())
static GType gst_optical_flow_preset_get_type(void) {
  static gsize id = 0;
  static const GEnumValue values[] = {
      {GST_OPTICAL_FLOW_PRESET_ULTRAFAST, "Ultrafast: fastest, least accurate", "ultrafast"},
      {GST_OPTICAL_FLOW_PRESET_FAST, "Fast: the default speed/accuracy trade-off", "fast"},
      {GST_OPTICAL_FLOW_PRESET_MEDIUM, "Medium: slower, more accurate", "medium"},
      {GST_OPTICAL_FLOW_PRESET_ACCURATE, "Accurate: slowest, most accurate (offline use)",
       "accurate"},
      {0, NULL, NULL}};
  if (g_once_init_enter(&id)) {
    GType t = g_enum_register_static("GstOpticalFlowPreset", values);
    g_once_init_leave(&id, t);
  }
  return (GType)id;
}

#define FLOW_FORMATS                                                                            \
  "{ GRAY8, I420, YV12, NV12, NV21, Y42B, Y444, RGB, BGR, RGBA, BGRA, RGBx, BGRx, xRGB, xBGR, " \
  "ARGB, ABGR }"

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE(
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS(GST_VIDEO_CAPS_MAKE(FLOW_FORMATS)));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE(
    "src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS(GST_VIDEO_CAPS_MAKE(FLOW_FORMATS)));

namespace {

struct Settings {
  GstOpticalFlowAlgorithm algorithm = DEFAULT_ALGORITHM;
  GstOpticalFlowPreset preset = DEFAULT_PRESET;
  guint downscale = DEFAULT_DOWNSCALE;
  bool operator==(const Settings &o) const {
    return algorithm == o.algorithm && preset == o.preset && downscale == o.downscale;
  }
};

flow::Algorithm to_flow(GstOpticalFlowAlgorithm a) {
  switch (a) {
    case GST_OPTICAL_FLOW_ALGORITHM_FARNEBACK:
      return flow::Algorithm::Farneback;
    case GST_OPTICAL_FLOW_ALGORITHM_TVL1:
      return flow::Algorithm::TVL1;
    case GST_OPTICAL_FLOW_ALGORITHM_DIS:
      break;
  }
  return flow::Algorithm::DIS;
}

flow::Preset to_flow(GstOpticalFlowPreset p) {
  switch (p) {
    case GST_OPTICAL_FLOW_PRESET_ULTRAFAST:
      return flow::Preset::UltraFast;
    case GST_OPTICAL_FLOW_PRESET_MEDIUM:
      return flow::Preset::Medium;
    case GST_OPTICAL_FLOW_PRESET_ACCURATE:
      return flow::Preset::Accurate;
    case GST_OPTICAL_FLOW_PRESET_FAST:
      break;
  }
  return flow::Preset::Fast;
}

}  // namespace

/* C++ state; created in init, deleted in finalize (STYLE.md §a). */
struct GstOpticalFlowPrivate {
  Settings settings;  // guarded by GST_OBJECT_LOCK
  // Streaming thread only:
  Settings active;                           // what `grid_flow` was made with
  std::unique_ptr<flow::GridFlow> grid_flow;  // the previous frame on the grid, the estimator
};

struct _GstOpticalFlow {
  GstVideoFilter parent;
  GstOpticalFlowPrivate *priv;
};

#define gst_optical_flow_parent_class parent_class
G_DEFINE_TYPE(GstOpticalFlow, gst_optical_flow, GST_TYPE_VIDEO_FILTER);
GST_ELEMENT_REGISTER_DEFINE(opticalflow, "opticalflow", GST_RANK_NONE, GST_TYPE_OPTICAL_FLOW);

static void gst_optical_flow_finalize(GObject *object);
static void gst_optical_flow_set_property(GObject *object, guint prop_id, const GValue *value,
                                          GParamSpec *pspec);
static void gst_optical_flow_get_property(GObject *object, guint prop_id, GValue *value,
                                          GParamSpec *pspec);
static gboolean gst_optical_flow_start(GstBaseTransform *trans);
static gboolean gst_optical_flow_stop(GstBaseTransform *trans);
static gboolean gst_optical_flow_sink_event(GstBaseTransform *trans, GstEvent *event);
static gboolean gst_optical_flow_set_info(GstVideoFilter *filter, GstCaps *incaps,
                                          GstVideoInfo *in_info, GstCaps *outcaps,
                                          GstVideoInfo *out_info);
static GstFlowReturn gst_optical_flow_transform_ip(GstBaseTransform *trans, GstBuffer *buf);
static void gst_optical_flow_reset(GstOpticalFlow *self);

static void gst_optical_flow_class_init(GstOpticalFlowClass *klass) {
  GObjectClass *gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS(klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS(klass);
  GstVideoFilterClass *filter_class = GST_VIDEO_FILTER_CLASS(klass);

  GST_DEBUG_CATEGORY_INIT(gst_optical_flow_debug, "opticalflow", 0, "opticalflow element");

  gobject_class->finalize = gst_optical_flow_finalize;
  gobject_class->set_property = gst_optical_flow_set_property;
  gobject_class->get_property = gst_optical_flow_get_property;

  /**
   * GstOpticalFlow:algorithm:
   *
   * The flow algorithm (OpenCV implementations).
   *
   * Since: 0.1
   */
  g_object_class_install_property(
      gobject_class, PROP_ALGORITHM,
      g_param_spec_enum(
          "algorithm", "Algorithm",
          "Dense optical flow algorithm; changing it while playing restarts the "
          "history (the next frame gets no flow)",
          GST_TYPE_OPTICAL_FLOW_ALGORITHM, DEFAULT_ALGORITHM,
          (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING)));
  /**
   * GstOpticalFlow:preset:
   *
   * Speed/accuracy preset of the chosen algorithm.
   *
   * Since: 0.1
   */
  g_object_class_install_property(
      gobject_class, PROP_PRESET,
      g_param_spec_enum(
          "preset", "Preset",
          "Speed/accuracy preset of the algorithm (each algorithm maps it to its "
          "own settings)",
          GST_TYPE_OPTICAL_FLOW_PRESET, DEFAULT_PRESET,
          (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING)));
  /**
   * GstOpticalFlow:downscale:
   *
   * Compute the flow on a grid this many times smaller than the frame in each
   * dimension (1 = full resolution). The meta then has that grid's size and
   * its vectors are scaled back to frame pixels.
   *
   * Since: 0.1
   */
  g_object_class_install_property(
      gobject_class, PROP_DOWNSCALE,
      g_param_spec_uint(
          "downscale", "Downscale",
          "Compute the flow on a grid this many times smaller per dimension "
          "(1 = full resolution, up to 8); vectors stay in frame pixels",
          1, MAX_DOWNSCALE, DEFAULT_DOWNSCALE,
          (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING)));

  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_add_static_pad_template(element_class, &src_template);
  gst_element_class_set_static_metadata(
      element_class, "Optical flow", "Filter/Analyzer/Video",
      "Attaches dense optical flow from the previous frame (GstOpticalFlowMeta)",
      "gst-saliency developers");

  trans_class->start = GST_DEBUG_FUNCPTR(gst_optical_flow_start);
  trans_class->stop = GST_DEBUG_FUNCPTR(gst_optical_flow_stop);
  trans_class->sink_event = GST_DEBUG_FUNCPTR(gst_optical_flow_sink_event);
  // Our own transform_ip instead of GstVideoFilter's transform_frame_ip: that one
  // maps the frame for writing, which copies shared memory; we only read pixels.
  trans_class->transform_ip = GST_DEBUG_FUNCPTR(gst_optical_flow_transform_ip);
  filter_class->set_info = GST_DEBUG_FUNCPTR(gst_optical_flow_set_info);

  gst_type_mark_as_plugin_api(GST_TYPE_OPTICAL_FLOW_ALGORITHM, (GstPluginAPIFlags)0);
  gst_type_mark_as_plugin_api(GST_TYPE_OPTICAL_FLOW_PRESET, (GstPluginAPIFlags)0);
}

static void gst_optical_flow_init(GstOpticalFlow *self) {
  self->priv = new GstOpticalFlowPrivate();
  // Every frame must be seen: a QoS drop would make the next flow span two frames.
  gst_base_transform_set_qos_enabled(GST_BASE_TRANSFORM(self), FALSE);
  gst_base_transform_set_in_place(GST_BASE_TRANSFORM(self), TRUE);
}

static void gst_optical_flow_finalize(GObject *object) {
  GstOpticalFlow *self = GST_OPTICAL_FLOW(object);
  delete self->priv;
  self->priv = nullptr;
  G_OBJECT_CLASS(parent_class)->finalize(object);
}

static void gst_optical_flow_set_property(GObject *object, guint prop_id, const GValue *value,
                                          GParamSpec *pspec) {
  GstOpticalFlow *self = GST_OPTICAL_FLOW(object);
  GST_OBJECT_LOCK(self);
  switch (prop_id) {
    case PROP_ALGORITHM:
      self->priv->settings.algorithm = (GstOpticalFlowAlgorithm)g_value_get_enum(value);
      break;
    case PROP_PRESET:
      self->priv->settings.preset = (GstOpticalFlowPreset)g_value_get_enum(value);
      break;
    case PROP_DOWNSCALE:
      self->priv->settings.downscale = g_value_get_uint(value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK(self);
}

static void gst_optical_flow_get_property(GObject *object, guint prop_id, GValue *value,
                                          GParamSpec *pspec) {
  GstOpticalFlow *self = GST_OPTICAL_FLOW(object);
  GST_OBJECT_LOCK(self);
  switch (prop_id) {
    case PROP_ALGORITHM:
      g_value_set_enum(value, self->priv->settings.algorithm);
      break;
    case PROP_PRESET:
      g_value_set_enum(value, self->priv->settings.preset);
      break;
    case PROP_DOWNSCALE:
      g_value_set_uint(value, self->priv->settings.downscale);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK(self);
}

static gboolean gst_optical_flow_start(GstBaseTransform *trans) {
  gst_optical_flow_reset(GST_OPTICAL_FLOW(trans));
  return TRUE;
}

static gboolean gst_optical_flow_stop(GstBaseTransform *trans) {
  GstOpticalFlow *self = GST_OPTICAL_FLOW(trans);
  gst_optical_flow_reset(self);
  self->priv->grid_flow.reset();
  return TRUE;
}

static gboolean gst_optical_flow_sink_event(GstBaseTransform *trans, GstEvent *event) {
  if (GST_EVENT_TYPE(event) == GST_EVENT_FLUSH_STOP)
    gst_optical_flow_reset(GST_OPTICAL_FLOW(trans));
  return GST_BASE_TRANSFORM_CLASS(parent_class)->sink_event(trans, event);
}

static gboolean gst_optical_flow_set_info(GstVideoFilter *filter, GstCaps *incaps,
                                          GstVideoInfo *in_info, GstCaps *outcaps,
                                          GstVideoInfo *out_info) {
  GST_DEBUG_OBJECT(filter, "caps %" GST_PTR_FORMAT, incaps);
  // A new size or format: the previous frame no longer compares.
  gst_optical_flow_reset(GST_OPTICAL_FLOW(filter));
  return TRUE;
}

/* Forgets the previous frame and warm starts: the next frame gets no flow. */
static void gst_optical_flow_reset(GstOpticalFlow *self) {
  if (self->priv->grid_flow) self->priv->grid_flow->reset();
}

/* The frame as 8-bit grey at full resolution: a view of the Y plane where
 * there is one, otherwise a BT.601 luma conversion of the packed RGB pixels. */
static cv::Mat frame_to_grey(const GstVideoFrame *frame) {
  const GstVideoInfo *info = &frame->info;
  const int w = GST_VIDEO_INFO_WIDTH(info), h = GST_VIDEO_INFO_HEIGHT(info);
  const GstVideoFormatInfo *finfo = info->finfo;
  if (GST_VIDEO_FORMAT_INFO_IS_YUV(finfo) || GST_VIDEO_FORMAT_INFO_IS_GRAY(finfo))
    return cv::Mat(h, w, CV_8UC1, GST_VIDEO_FRAME_PLANE_DATA(frame, 0),
                   GST_VIDEO_FRAME_PLANE_STRIDE(frame, 0));

  // Packed RGB: component offsets inside a pixel come from the format info.
  const int pstride = GST_VIDEO_FRAME_COMP_PSTRIDE(frame, 0);
  const int r_off = GST_VIDEO_FRAME_COMP_OFFSET(frame, GST_VIDEO_COMP_R);
  const int g_off = GST_VIDEO_FRAME_COMP_OFFSET(frame, GST_VIDEO_COMP_G);
  const int b_off = GST_VIDEO_FRAME_COMP_OFFSET(frame, GST_VIDEO_COMP_B);
  const guint8 *data = (const guint8 *)GST_VIDEO_FRAME_PLANE_DATA(frame, 0);
  const int stride = GST_VIDEO_FRAME_PLANE_STRIDE(frame, 0);
  cv::Mat grey(h, w, CV_8UC1);
  for (int y = 0; y < h; ++y) {
    const guint8 *p = data + (gsize)y * stride;
    guint8 *out = grey.ptr<guint8>(y);
    for (int x = 0; x < w; ++x, p += pstride)  // ITU-R BT.601 luma weights, 8-bit fixed point
      out[x] = (guint8)((77 * p[r_off] + 150 * p[g_off] + 29 * p[b_off] + 128) >> 8);
  }
  return grey;
}

static GstFlowReturn gst_optical_flow_transform_ip(GstBaseTransform *trans, GstBuffer *buf) {
  GstOpticalFlow *self = GST_OPTICAL_FLOW(trans);
  GstVideoFilter *filter = GST_VIDEO_FILTER(trans);
  GstOpticalFlowPrivate *priv = self->priv;

  if (G_UNLIKELY(!filter->negotiated)) {
    GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, (NULL), ("no caps before the first buffer"));
    return GST_FLOW_NOT_NEGOTIATED;
  }

  Settings settings;
  GST_OBJECT_LOCK(self);
  settings = priv->settings;
  GST_OBJECT_UNLOCK(self);

  if (GST_BUFFER_IS_DISCONT(buf)) {
    GST_DEBUG_OBJECT(self, "DISCONT buffer: restarting the flow history");
    gst_optical_flow_reset(self);
  }
  if (!priv->grid_flow || !(settings == priv->active)) {
    if (priv->grid_flow) GST_DEBUG_OBJECT(self, "settings changed: new estimator");
    priv->grid_flow = std::make_unique<flow::GridFlow>(to_flow(settings.algorithm), to_flow(settings.preset));
    priv->active = settings;
  }

  GstVideoFrame frame;
  if (!gst_video_frame_map(&frame, &filter->in_info, buf, GST_MAP_READ)) {
    GST_ELEMENT_ERROR(self, STREAM, FAILED, ("Could not map the video frame."), (NULL));
    return GST_FLOW_ERROR;
  }
  const int width = GST_VIDEO_FRAME_WIDTH(&frame), height = GST_VIDEO_FRAME_HEIGHT(&frame);
  const int d = (int)settings.downscale;
  const cv::Size grid(std::max(1, width / d), std::max(1, height / d));
  cv::Mat flow_grid;
  bool mapped = true;
  try {
    flow_grid = priv->grid_flow->next(frame_to_grey(&frame), grid);  // copies the pixels it keeps
    gst_video_frame_unmap(&frame);
    mapped = false;
    // Vectors from grid pixels to frame pixels (GstOpticalFlowMeta contract).
    if (!flow_grid.empty()) flow::scale_vectors(flow_grid, double(width) / grid.width, double(height) / grid.height);
    if (!flow_grid.isContinuous()) flow_grid = flow_grid.clone();
  } catch (const std::exception &e) {
    if (mapped) gst_video_frame_unmap(&frame);
    GST_ELEMENT_ERROR(self, LIBRARY, FAILED, ("Optical flow computation failed."),
                      ("%s", e.what()));
    return GST_FLOW_ERROR;
  }

  if (!flow_grid.empty()) {
    gst_buffer_add_optical_flow_meta(buf, grid.width, grid.height, flow_grid.ptr<float>());
    GST_LOG_OBJECT(self, "flow %dx%d attached to %" GST_TIME_FORMAT, grid.width, grid.height,
                   GST_TIME_ARGS(GST_BUFFER_PTS(buf)));
  } else {
    GST_LOG_OBJECT(self, "no previous frame: no flow for %" GST_TIME_FORMAT,
                   GST_TIME_ARGS(GST_BUFFER_PTS(buf)));
  }
  return GST_FLOW_OK;
}
