/* gst-saliency: saliencyoverlay element
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
 * SECTION:element-saliencyoverlay
 * @title: saliencyoverlay
 *
 * Draws the #GstSaliencyMeta of each frame over the picture as a heat map.
 * The map is min-max normalised per frame and scaled to the frame
 * (bilinear); each pixel is blended with the colormap's colour with weight
 * `alpha` × map, so where the map is lowest the picture is left as it was.
 * `show-peak` adds a cross-hair at the map's maximum. A flat map (constant,
 * or constant up to fp32 rounding) has nothing to show: no heat and no
 * cross-hair, the frame passes unchanged. With `mode=map` the
 * picture is replaced by the colour-mapped map (with `colormap=gray` on RGB
 * or GRAY8-bound output, the 8-bit min-max normalised map, as
 * `saliency-predict --format png` writes it). Frames without a map pass
 * unchanged (and unmapped) in both modes.
 *
 * Blending happens in place on packed RGB and on I420/NV12 (limited range,
 * BT.601 or BT.709 from the caps' colorimetry), so no conversion is needed
 * between a decoder and this element. `alpha` is controllable.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 videotestsrc pattern=ball ! videoconvert ! saliency ! \
 *     saliencyoverlay colormap=turbo alpha=0.6 show-peak=true ! videoconvert ! autovideosink
 * ]|
 *
 * Since: 0.1
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/saliency/gstsaliencymeta.h>
#include <gst/video/video.h>

#include <exception>

#include "gstsaliencyoverlay.h"
#include "salmaps/heatmap.hpp"
#include "video_formats.hpp"

GST_DEBUG_CATEGORY_STATIC(gst_saliency_overlay_debug);
#define GST_CAT_DEFAULT gst_saliency_overlay_debug

enum { PROP_0, PROP_COLORMAP, PROP_ALPHA, PROP_SHOW_PEAK, PROP_MODE };

typedef enum {
  GST_SALIENCY_OVERLAY_MODE_BLEND,
  GST_SALIENCY_OVERLAY_MODE_MAP,
} GstSaliencyOverlayMode;

typedef enum {
  GST_SALIENCY_COLORMAP_JET,
  GST_SALIENCY_COLORMAP_TURBO,
  GST_SALIENCY_COLORMAP_INFERNO,
  GST_SALIENCY_COLORMAP_MAGMA,
  GST_SALIENCY_COLORMAP_VIRIDIS,
  GST_SALIENCY_COLORMAP_HOT,
  GST_SALIENCY_COLORMAP_GRAY,
} GstSaliencyColormap;

#define DEFAULT_COLORMAP GST_SALIENCY_COLORMAP_JET
#define DEFAULT_ALPHA 0.5
#define DEFAULT_SHOW_PEAK FALSE
#define DEFAULT_MODE GST_SALIENCY_OVERLAY_MODE_BLEND

#define GST_TYPE_SALIENCY_OVERLAY_MODE (gst_saliency_overlay_mode_get_type())
static GType gst_saliency_overlay_mode_get_type(void) {
  static gsize id = 0;
  static const GEnumValue values[] = {
      {GST_SALIENCY_OVERLAY_MODE_BLEND, "Blend the heat map over the picture", "blend"},
      {GST_SALIENCY_OVERLAY_MODE_MAP,
       "Replace the picture by the colour-mapped map (alpha ignored), to export maps", "map"},
      {0, NULL, NULL}};
  if (g_once_init_enter(&id)) {
    GType t = g_enum_register_static("GstSaliencyOverlayMode", values);
    g_once_init_leave(&id, t);
  }
  return (GType)id;
}

#define GST_TYPE_SALIENCY_COLORMAP (gst_saliency_colormap_get_type())
static GType gst_saliency_colormap_get_type(void) {
  static gsize id = 0;
  static const GEnumValue values[] = {
      {GST_SALIENCY_COLORMAP_JET, "Jet: blue to red (MATLAB)", "jet"},
      {GST_SALIENCY_COLORMAP_TURBO, "Turbo: improved rainbow (Google)", "turbo"},
      {GST_SALIENCY_COLORMAP_INFERNO, "Inferno: black to yellow, perceptually uniform", "inferno"},
      {GST_SALIENCY_COLORMAP_MAGMA, "Magma: black, purple, pale yellow; perceptually uniform",
       "magma"},
      {GST_SALIENCY_COLORMAP_VIRIDIS, "Viridis: blue to yellow, perceptually uniform", "viridis"},
      {GST_SALIENCY_COLORMAP_HOT, "Hot: black, red, yellow, white", "hot"},
      {GST_SALIENCY_COLORMAP_GRAY, "Gray: black to white", "gray"},
      {0, NULL, NULL}};
  if (g_once_init_enter(&id)) {
    GType t = g_enum_register_static("GstSaliencyColormap", values);
    g_once_init_leave(&id, t);
  }
  return (GType)id;
}

#define OVERLAY_FORMATS "{ RGB, BGR, RGBA, BGRA, RGBx, BGRx, xRGB, xBGR, ARGB, ABGR, I420, NV12 }"

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE(
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS(GST_VIDEO_CAPS_MAKE(OVERLAY_FORMATS)));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE(
    "src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS(GST_VIDEO_CAPS_MAKE(OVERLAY_FORMATS)));

namespace {

struct Settings {
  GstSaliencyColormap colormap = DEFAULT_COLORMAP;
  gdouble alpha = DEFAULT_ALPHA;
  bool show_peak = DEFAULT_SHOW_PEAK;
  GstSaliencyOverlayMode mode = DEFAULT_MODE;
};

model::Colormap to_colormap(GstSaliencyColormap c) {
  switch (c) {
    case GST_SALIENCY_COLORMAP_TURBO:
      return model::Colormap::Turbo;
    case GST_SALIENCY_COLORMAP_INFERNO:
      return model::Colormap::Inferno;
    case GST_SALIENCY_COLORMAP_MAGMA:
      return model::Colormap::Magma;
    case GST_SALIENCY_COLORMAP_VIRIDIS:
      return model::Colormap::Viridis;
    case GST_SALIENCY_COLORMAP_HOT:
      return model::Colormap::Hot;
    case GST_SALIENCY_COLORMAP_GRAY:
      return model::Colormap::Gray;
    case GST_SALIENCY_COLORMAP_JET:
      break;
  }
  return model::Colormap::Jet;
}

}  // namespace

/* C++ state; created in init, deleted in finalize (STYLE.md §a). */
struct GstSaliencyOverlayPrivate {
  Settings settings;  // guarded by GST_OBJECT_LOCK
  // Streaming thread:
  model::OverlayFormat format = model::OverlayFormat::RGB;
  model::YuvMatrix matrix = model::YuvMatrix::BT601;
};

struct _GstSaliencyOverlay {
  GstVideoFilter parent;
  GstSaliencyOverlayPrivate *priv;
};

#define gst_saliency_overlay_parent_class parent_class
G_DEFINE_TYPE(GstSaliencyOverlay, gst_saliency_overlay, GST_TYPE_VIDEO_FILTER);
GST_ELEMENT_REGISTER_DEFINE(saliencyoverlay, "saliencyoverlay", GST_RANK_NONE,
                            GST_TYPE_SALIENCY_OVERLAY);

static void gst_saliency_overlay_finalize(GObject *object);
static void gst_saliency_overlay_set_property(GObject *object, guint prop_id, const GValue *value,
                                              GParamSpec *pspec);
static void gst_saliency_overlay_get_property(GObject *object, guint prop_id, GValue *value,
                                              GParamSpec *pspec);
static void gst_saliency_overlay_before_transform(GstBaseTransform *trans, GstBuffer *buf);
static GstFlowReturn gst_saliency_overlay_transform_ip(GstBaseTransform *trans, GstBuffer *buf);
static gboolean gst_saliency_overlay_set_info(GstVideoFilter *filter, GstCaps *incaps,
                                              GstVideoInfo *in_info, GstCaps *outcaps,
                                              GstVideoInfo *out_info);
static GstFlowReturn gst_saliency_overlay_transform_frame_ip(GstVideoFilter *filter,
                                                             GstVideoFrame *frame);

static void gst_saliency_overlay_class_init(GstSaliencyOverlayClass *klass) {
  GObjectClass *gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS(klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS(klass);
  GstVideoFilterClass *filter_class = GST_VIDEO_FILTER_CLASS(klass);

  GST_DEBUG_CATEGORY_INIT(gst_saliency_overlay_debug, "saliencyoverlay", 0,
                          "saliencyoverlay element");

  gobject_class->finalize = gst_saliency_overlay_finalize;
  gobject_class->set_property = gst_saliency_overlay_set_property;
  gobject_class->get_property = gst_saliency_overlay_get_property;

  /**
   * GstSaliencyOverlay:colormap:
   *
   * Colours of the heat map, from the lowest to the highest saliency.
   *
   * Since: 0.1
   */
  g_object_class_install_property(
      gobject_class, PROP_COLORMAP,
      g_param_spec_enum(
          "colormap", "Colormap", "Colour map of the heat map (low to high)",
          GST_TYPE_SALIENCY_COLORMAP, DEFAULT_COLORMAP,
          (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING)));
  /**
   * GstSaliencyOverlay:alpha:
   *
   * Opacity of the heat map where the map is highest; elsewhere it fades
   * with the map, down to fully transparent at its minimum. Controllable.
   *
   * Since: 0.1
   */
  g_object_class_install_property(
      gobject_class, PROP_ALPHA,
      g_param_spec_double("alpha", "Alpha",
                          "Opacity of the heat map where the map is highest, 0 (invisible) to 1 "
                          "(opaque); fades with the map elsewhere",
                          0.0, 1.0, DEFAULT_ALPHA,
                          (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                        GST_PARAM_CONTROLLABLE | GST_PARAM_MUTABLE_PLAYING)));
  /**
   * GstSaliencyOverlay:show-peak:
   *
   * Draw a white cross-hair at the map's maximum.
   *
   * Since: 0.1
   */
  g_object_class_install_property(
      gobject_class, PROP_SHOW_PEAK,
      g_param_spec_boolean(
          "show-peak", "Show peak", "Draw a cross-hair at the most salient point",
          DEFAULT_SHOW_PEAK,
          (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING)));

  /**
   * GstSaliencyOverlay:mode:
   *
   * Blend the heat map over the picture, or replace the picture by it.
   *
   * Since: 0.1
   */
  g_object_class_install_property(
      gobject_class, PROP_MODE,
      g_param_spec_enum(
          "mode", "Mode", "blend: heat map over the picture; map: the colour-mapped map alone",
          GST_TYPE_SALIENCY_OVERLAY_MODE, DEFAULT_MODE,
          (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING)));

  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_add_static_pad_template(element_class, &src_template);
  gst_element_class_set_static_metadata(
      element_class, "Saliency heat-map overlay", "Filter/Effect/Video",
      "Draws the saliency map (GstSaliencyMeta) over the video as a heat map",
      "gst-saliency developers");

  trans_class->transform_ip = GST_DEBUG_FUNCPTR(gst_saliency_overlay_transform_ip);
  trans_class->before_transform = GST_DEBUG_FUNCPTR(gst_saliency_overlay_before_transform);
  filter_class->set_info = GST_DEBUG_FUNCPTR(gst_saliency_overlay_set_info);
  filter_class->transform_frame_ip = GST_DEBUG_FUNCPTR(gst_saliency_overlay_transform_frame_ip);

  gst_type_mark_as_plugin_api(GST_TYPE_SALIENCY_COLORMAP, (GstPluginAPIFlags)0);
  gst_type_mark_as_plugin_api(GST_TYPE_SALIENCY_OVERLAY_MODE, (GstPluginAPIFlags)0);
}

static void gst_saliency_overlay_init(GstSaliencyOverlay *self) {
  self->priv = new GstSaliencyOverlayPrivate();
}

static void gst_saliency_overlay_finalize(GObject *object) {
  GstSaliencyOverlay *self = GST_SALIENCY_OVERLAY(object);
  delete self->priv;
  self->priv = nullptr;
  G_OBJECT_CLASS(parent_class)->finalize(object);
}

static void gst_saliency_overlay_set_property(GObject *object, guint prop_id, const GValue *value,
                                              GParamSpec *pspec) {
  GstSaliencyOverlay *self = GST_SALIENCY_OVERLAY(object);
  GST_OBJECT_LOCK(self);
  switch (prop_id) {
    case PROP_COLORMAP:
      self->priv->settings.colormap = (GstSaliencyColormap)g_value_get_enum(value);
      break;
    case PROP_ALPHA:
      self->priv->settings.alpha = g_value_get_double(value);
      break;
    case PROP_SHOW_PEAK:
      self->priv->settings.show_peak = g_value_get_boolean(value);
      break;
    case PROP_MODE:
      self->priv->settings.mode = (GstSaliencyOverlayMode)g_value_get_enum(value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK(self);
}

static void gst_saliency_overlay_get_property(GObject *object, guint prop_id, GValue *value,
                                              GParamSpec *pspec) {
  GstSaliencyOverlay *self = GST_SALIENCY_OVERLAY(object);
  GST_OBJECT_LOCK(self);
  switch (prop_id) {
    case PROP_COLORMAP:
      g_value_set_enum(value, self->priv->settings.colormap);
      break;
    case PROP_ALPHA:
      g_value_set_double(value, self->priv->settings.alpha);
      break;
    case PROP_SHOW_PEAK:
      g_value_set_boolean(value, self->priv->settings.show_peak);
      break;
    case PROP_MODE:
      g_value_set_enum(value, self->priv->settings.mode);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK(self);
}

/* Controlled properties (alpha) follow the buffer's stream time (gstgamma.c). */
static void gst_saliency_overlay_before_transform(GstBaseTransform *trans, GstBuffer *buf) {
  GstClockTime timestamp = GST_BUFFER_TIMESTAMP(buf);
  GstClockTime stream_time =
      gst_segment_to_stream_time(&trans->segment, GST_FORMAT_TIME, timestamp);
  if (GST_CLOCK_TIME_IS_VALID(stream_time)) gst_object_sync_values(GST_OBJECT(trans), stream_time);
}

static gboolean gst_saliency_overlay_set_info(GstVideoFilter *filter, GstCaps *incaps,
                                              GstVideoInfo *in_info, GstCaps *outcaps,
                                              GstVideoInfo *out_info) {
  GstSaliencyOverlay *self = GST_SALIENCY_OVERLAY(filter);
  if (!gstsaliency::to_overlay_format(GST_VIDEO_INFO_FORMAT(in_info), &self->priv->format)) {
    GST_WARNING_OBJECT(self, "unsupported format in %" GST_PTR_FORMAT, incaps);
    return FALSE;
  }
  self->priv->matrix = in_info->colorimetry.matrix == GST_VIDEO_COLOR_MATRIX_BT709
                           ? model::YuvMatrix::BT709
                           : model::YuvMatrix::BT601;
  GST_DEBUG_OBJECT(self, "caps %" GST_PTR_FORMAT, incaps);
  return TRUE;
}

/* Frames without a map, or with nothing to draw, are not mapped at all. */
static GstFlowReturn gst_saliency_overlay_transform_ip(GstBaseTransform *trans, GstBuffer *buf) {
  GstSaliencyOverlay *self = GST_SALIENCY_OVERLAY(trans);
  if (!gst_buffer_get_saliency_meta(buf)) {
    GST_LOG_OBJECT(self, "no saliency meta on %" GST_TIME_FORMAT ": unchanged",
                   GST_TIME_ARGS(GST_BUFFER_PTS(buf)));
    return GST_FLOW_OK;
  }
  GST_OBJECT_LOCK(self);
  const Settings &s = self->priv->settings;
  const bool nothing_to_draw =
      s.mode == GST_SALIENCY_OVERLAY_MODE_BLEND && s.alpha <= 0.0 && !s.show_peak;
  GST_OBJECT_UNLOCK(self);
  if (nothing_to_draw) return GST_FLOW_OK;
  // GstVideoFilter's transform_ip maps the frame and calls transform_frame_ip.
  return GST_BASE_TRANSFORM_CLASS(parent_class)->transform_ip(trans, buf);
}

static GstFlowReturn gst_saliency_overlay_transform_frame_ip(GstVideoFilter *filter,
                                                             GstVideoFrame *frame) {
  GstSaliencyOverlay *self = GST_SALIENCY_OVERLAY(filter);
  GstSaliencyMeta *meta = gst_buffer_get_saliency_meta(frame->buffer);
  if (!meta) return GST_FLOW_OK;

  model::HeatmapStyle style;
  GST_OBJECT_LOCK(self);
  style.colormap = to_colormap(self->priv->settings.colormap);
  style.alpha = (float)self->priv->settings.alpha;
  style.mark_peak = self->priv->settings.show_peak;
  style.replace_picture = self->priv->settings.mode == GST_SALIENCY_OVERLAY_MODE_MAP;
  GST_OBJECT_UNLOCK(self);

  guint map_w = 0, map_h = 0;
  GBytes *bytes = gst_saliency_meta_get_map(meta, &map_w, &map_h);
  model::MapView map;
  map.values = (const float *)g_bytes_get_data(bytes, NULL);
  map.width = (int)map_w;
  map.height = (int)map_h;

  model::OverlayFrame target;
  target.width = GST_VIDEO_FRAME_WIDTH(frame);
  target.height = GST_VIDEO_FRAME_HEIGHT(frame);
  target.format = self->priv->format;
  target.matrix = self->priv->matrix;
  for (guint i = 0; i < GST_VIDEO_FRAME_N_PLANES(frame) && i < 3; i++) {
    target.planes[i] = (std::uint8_t *)GST_VIDEO_FRAME_PLANE_DATA(frame, i);
    target.strides[i] = (std::size_t)GST_VIDEO_FRAME_PLANE_STRIDE(frame, i);
  }

  GstFlowReturn ret = GST_FLOW_OK;
  try {
    model::blend_heatmap(target, map, style);
  } catch (const std::exception &e) {
    // A bad map (non-finite values) spoils this frame's overlay only.
    GST_ELEMENT_WARNING(self, STREAM, DECODE, ("Could not draw the saliency map."),
                        ("%s", e.what()));
  } catch (...) {
    GST_ELEMENT_WARNING(self, STREAM, DECODE, ("Could not draw the saliency map."),
                        ("unknown exception"));
  }
  g_bytes_unref(bytes);
  return ret;
}
