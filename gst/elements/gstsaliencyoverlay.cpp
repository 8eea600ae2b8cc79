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
 * Two ways to draw, chosen when the caps are negotiated (as textoverlay and
 * segmentationoverlay do):
 *
 * - **attach**: when downstream accepts caps with the
 *   `meta:GstVideoOverlayComposition` feature *and* lists
 *   #GstVideoOverlayCompositionMeta in its ALLOCATION answer (GL sinks and
 *   other compositors), the frame's bytes are left alone and the buffer gets a
 *   #GstVideoOverlayCompositionMeta with one rectangle the size of the frame:
 *   the colour-mapped map with per-pixel (straight) alpha `alpha` × map, and
 *   the cross-hair opaque with `show-peak`. Downstream composites it, so
 *   blending it (gst_video_overlay_composition_blend()) gives the in-place
 *   picture up to 8-bit rounding. Frames with nothing to draw get no meta.
 * - **blend** (otherwise): the heat map is blended in place on packed RGB and
 *   on I420/NV12 (limited range, BT.601 or BT.709 from the caps'
 *   colorimetry), so no conversion is needed between a decoder and this
 *   element.
 *
 * `mode=map` always writes the frame (it exports maps, whatever downstream
 * can composite). The choice is made again when downstream asks for
 * renegotiation (RECONFIGURE). `alpha` is controllable.
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

/* The source pad also offers the formats with the overlay-composition
 * feature: downstream then composites the heat map itself. Both spellings of
 * system memory with the feature, since caps features compare as sets:
 * glupload, for one, asks for "memory:SystemMemory, meta:...". The sink pad
 * takes frames it can blend into, as before. */
#define OVERLAY_COMPOSITION_CAPS(features) \
  GST_VIDEO_CAPS_MAKE_WITH_FEATURES(features, OVERLAY_FORMATS)
static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE(
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS(GST_VIDEO_CAPS_MAKE(OVERLAY_FORMATS)));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE(
    "src", GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS(GST_VIDEO_CAPS_MAKE(OVERLAY_FORMATS) ";" OVERLAY_COMPOSITION_CAPS(
        GST_CAPS_FEATURE_MEMORY_SYSTEM_MEMORY
        ", " GST_CAPS_FEATURE_META_GST_VIDEO_OVERLAY_COMPOSITION) ";" OVERLAY_COMPOSITION_CAPS(GST_CAPS_FEATURE_META_GST_VIDEO_OVERLAY_COMPOSITION)));

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
  // Streaming thread (caps events and negotiation are serialised with buffers):
  model::OverlayFormat format = model::OverlayFormat::RGB;
  model::YuvMatrix matrix = model::YuvMatrix::BT601;
  // The output caps carry the overlay-composition feature: attach, don't blend.
  bool attach = false;
  // Downstream accepted the feature in caps but not the meta in its ALLOCATION
  // answer: fixate_caps picks caps without the feature for this negotiation.
  bool avoid_feature = false;
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
static GstCaps *gst_saliency_overlay_transform_caps(GstBaseTransform *trans,
                                                    GstPadDirection direction, GstCaps *caps,
                                                    GstCaps *filter);
static GstCaps *gst_saliency_overlay_fixate_caps(GstBaseTransform *trans, GstPadDirection direction,
                                                 GstCaps *caps, GstCaps *othercaps);
static gboolean gst_saliency_overlay_sink_event(GstBaseTransform *trans, GstEvent *event);
static GstFlowReturn gst_saliency_overlay_submit_input_buffer(GstBaseTransform *trans,
                                                              gboolean is_discont,
                                                              GstBuffer *input);

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
      "Draws the saliency map (GstSaliencyMeta) over the video as a heat map: attached as a "
      "GstVideoOverlayComposition when downstream supports that meta (GL sinks, compositors), "
      "blended into the frame otherwise and with mode=map",
      "gst-saliency developers");

  trans_class->transform_caps = GST_DEBUG_FUNCPTR(gst_saliency_overlay_transform_caps);
  trans_class->fixate_caps = GST_DEBUG_FUNCPTR(gst_saliency_overlay_fixate_caps);
  trans_class->sink_event = GST_DEBUG_FUNCPTR(gst_saliency_overlay_sink_event);
  trans_class->submit_input_buffer = GST_DEBUG_FUNCPTR(gst_saliency_overlay_submit_input_buffer);
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

/* ---- caps: the overlay-composition feature on the source pad ---- */

static bool has_composition_feature(const GstCaps *caps, guint i) {
  GstCapsFeatures *f = gst_caps_get_features(caps, i);
  return f && !gst_caps_features_is_any(f) &&
         gst_caps_features_contains(f, GST_CAPS_FEATURE_META_GST_VIDEO_OVERLAY_COMPOSITION);
}

/* `caps` with the feature added to each structure; system memory in both
 * spellings ("memory:SystemMemory, meta:..." and "meta:..." alone). */
static GstCaps *with_composition_feature(GstCaps *caps) {
  GstCaps *out = gst_caps_new_empty();
  for (guint i = 0; i < gst_caps_get_size(caps); i++) {
    const GstStructure *s = gst_caps_get_structure(caps, i);
    GstCapsFeatures *f = gst_caps_get_features(caps, i);
    if (gst_caps_features_is_any(f) || has_composition_feature(caps, i)) {
      gst_caps_append_structure_full(out, gst_structure_copy(s), gst_caps_features_copy(f));
      continue;
    }
    GstCapsFeatures *added = gst_caps_features_copy(f);
    gst_caps_features_add(added, GST_CAPS_FEATURE_META_GST_VIDEO_OVERLAY_COMPOSITION);
    gst_caps_append_structure_full(out, gst_structure_copy(s), added);
    if (gst_caps_features_is_equal(f, GST_CAPS_FEATURES_MEMORY_SYSTEM_MEMORY))
      gst_caps_append_structure_full(
          out, gst_structure_copy(s),
          gst_caps_features_new(GST_CAPS_FEATURE_META_GST_VIDEO_OVERLAY_COMPOSITION, NULL));
  }
  return out;
}

/* `caps` without the feature (what is left of "meta:..." alone is system memory). */
static GstCaps *without_composition_feature(GstCaps *caps) {
  GstCaps *out = gst_caps_copy(caps);
  for (guint i = 0; i < gst_caps_get_size(out); i++) {
    if (!has_composition_feature(out, i)) continue;
    GstCapsFeatures *f = gst_caps_features_copy(gst_caps_get_features(out, i));
    gst_caps_features_remove(f, GST_CAPS_FEATURE_META_GST_VIDEO_OVERLAY_COMPOSITION);
    gst_caps_set_features(out, i, f);
  }
  return out;
}

/* Downstream: the input caps as they are, or with the feature. Upstream: the
 * output caps without it (the sink pad takes plain frames only). */
static GstCaps *gst_saliency_overlay_transform_caps(GstBaseTransform *trans,
                                                    GstPadDirection direction, GstCaps *caps,
                                                    GstCaps *filter) {
  GstCaps *result;
  if (direction == GST_PAD_SINK) {
    result = gst_caps_copy(caps);
    result = gst_caps_merge(result, with_composition_feature(caps));
  } else {
    result = without_composition_feature(caps);
  }
  if (filter) {
    GstCaps *tmp = gst_caps_intersect_full(filter, result, GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref(result);
    result = tmp;
  }
  GST_LOG_OBJECT(trans, "%s %" GST_PTR_FORMAT " -> %" GST_PTR_FORMAT,
                 direction == GST_PAD_SINK ? "downstream" : "upstream", caps, result);
  return result;
}

/* Towards downstream, caps with the feature win unless this negotiation
 * found that downstream's allocation lacks the meta; then plain caps win,
 * where downstream takes them (a peer that only takes the feature gets it). */
static GstCaps *gst_saliency_overlay_fixate_caps(GstBaseTransform *trans, GstPadDirection direction,
                                                 GstCaps *caps, GstCaps *othercaps) {
  GstSaliencyOverlay *self = GST_SALIENCY_OVERLAY(trans);
  if (direction == GST_PAD_SINK) {
    const bool want_feature = !self->priv->avoid_feature;
    for (guint i = 0; i < gst_caps_get_size(othercaps); i++) {
      if (has_composition_feature(othercaps, i) != want_feature) continue;
      GstCaps *preferred = gst_caps_copy_nth(othercaps, i);
      gst_caps_unref(othercaps);
      othercaps = preferred;
      break;
    }
  }
  return gst_caps_fixate(othercaps);
}

/* Whether downstream renders GstVideoOverlayCompositionMeta on buffers with
 * `caps` (its ALLOCATION answer). The caps were pushed before: an element
 * downstream (a BaseTransform) answers the query only once it has caps. */
static bool downstream_takes_composition_meta(GstSaliencyOverlay *self, GstCaps *caps) {
  GstPad *srcpad = GST_BASE_TRANSFORM_SRC_PAD(self);
  GstQuery *query = gst_query_new_allocation(caps, FALSE);
  if (!gst_pad_peer_query(srcpad, query))
    GST_DEBUG_OBJECT(self, "ALLOCATION query failed: taken as no overlay-composition meta");
  const bool has =
      gst_query_find_allocation_meta(query, GST_VIDEO_OVERLAY_COMPOSITION_META_API_TYPE, nullptr);
  gst_query_unref(query);
  return has;
}

/* Negotiates the output for input `caps` through GstBaseTransform (which
 * fixates, configures and pushes the caps), then checks the ALLOCATION answer
 * for the meta, and negotiates again without the feature when it is missing:
 * textoverlay's rule (prefer the meta when downstream renders it, blend
 * otherwise). Takes `event` (a CAPS event for `caps`). */
static gboolean gst_saliency_overlay_negotiate(GstSaliencyOverlay *self, GstEvent *event,
                                               GstCaps *caps) {
  GstBaseTransform *trans = GST_BASE_TRANSFORM(self);
  GstBaseTransformClass *base = GST_BASE_TRANSFORM_CLASS(parent_class);
  self->priv->avoid_feature = false;
  gst_caps_ref(caps);  // `event` owns them, and goes
  gboolean ok = base->sink_event(trans, event);
  if (ok && self->priv->attach) {
    GstCaps *outcaps = gst_pad_get_current_caps(GST_BASE_TRANSFORM_SRC_PAD(trans));
    const bool meta = outcaps && downstream_takes_composition_meta(self, outcaps);
    if (outcaps) gst_caps_unref(outcaps);
    if (!meta) {
      GST_DEBUG_OBJECT(self, "downstream takes the feature but not the meta: renegotiating");
      self->priv->avoid_feature = true;
      ok = base->sink_event(trans, gst_event_new_caps(caps));
    }
  }
  gst_caps_unref(caps);
  if (ok)
    GST_INFO_OBJECT(self, "heat map %s",
                    self->priv->attach ? "attached as a GstVideoOverlayCompositionMeta"
                                       : "blended into the frame");
  return ok;
}

static gboolean gst_saliency_overlay_sink_event(GstBaseTransform *trans, GstEvent *event) {
  if (GST_EVENT_TYPE(event) == GST_EVENT_CAPS) {
    GstCaps *caps = nullptr;
    gst_event_parse_caps(event, &caps);
    return gst_saliency_overlay_negotiate(GST_SALIENCY_OVERLAY(trans), event, caps);
  }
  return GST_BASE_TRANSFORM_CLASS(parent_class)->sink_event(trans, event);
}

/* A RECONFIGURE from downstream (a new sink, a window, a caps change) can
 * change whether it renders the meta, so it runs the whole negotiation again;
 * GstBaseTransform alone would re-fixate without the ALLOCATION check. */
static GstFlowReturn gst_saliency_overlay_submit_input_buffer(GstBaseTransform *trans,
                                                              gboolean is_discont,
                                                              GstBuffer *input) {
  GstPad *srcpad = GST_BASE_TRANSFORM_SRC_PAD(trans);
  if (gst_pad_check_reconfigure(srcpad)) {
    GstCaps *caps = gst_pad_get_current_caps(GST_BASE_TRANSFORM_SINK_PAD(trans));
    if (caps) {
      const gboolean ok = gst_saliency_overlay_negotiate(GST_SALIENCY_OVERLAY(trans),
                                                         gst_event_new_caps(caps), caps);
      gst_caps_unref(caps);
      if (!ok) {
        gst_pad_mark_reconfigure(srcpad);  // try again with the next buffer
        gst_buffer_unref(input);
        return GST_PAD_IS_FLUSHING(srcpad) ? GST_FLOW_FLUSHING : GST_FLOW_NOT_NEGOTIATED;
      }
    }
  }
  return GST_BASE_TRANSFORM_CLASS(parent_class)->submit_input_buffer(trans, is_discont, input);
}

static gboolean gst_saliency_overlay_set_info(GstVideoFilter *filter, GstCaps *incaps,
                                              GstVideoInfo *in_info, GstCaps *outcaps,
                                              GstVideoInfo *out_info) {
  GstSaliencyOverlay *self = GST_SALIENCY_OVERLAY(filter);
  if (!gstsaliency::to_overlay_format(GST_VIDEO_INFO_FORMAT(in_info), &self->priv->format)) {
    GST_WARNING_OBJECT(self, "unsupported format in %" GST_PTR_FORMAT, incaps);
    return FALSE;
  }
  self->priv->matrix = gstsaliency::to_yuv_matrix(in_info->colorimetry);
  // Whatever path set the output caps (ours, or GstBaseTransform's own), caps
  // with the feature promise downstream the meta.
  self->priv->attach = has_composition_feature(outcaps, 0);
  GST_DEBUG_OBJECT(self, "caps %" GST_PTR_FORMAT " -> %" GST_PTR_FORMAT, incaps, outcaps);
  return TRUE;
}

static model::HeatmapStyle current_style(GstSaliencyOverlay *self) {
  model::HeatmapStyle style;
  GST_OBJECT_LOCK(self);
  style.colormap = to_colormap(self->priv->settings.colormap);
  style.alpha = (float)self->priv->settings.alpha;
  style.mark_peak = self->priv->settings.show_peak;
  style.replace_picture = self->priv->settings.mode == GST_SALIENCY_OVERLAY_MODE_MAP;
  GST_OBJECT_UNLOCK(self);
  return style;
}

static model::MapView map_view(GBytes *bytes, guint width, guint height) {
  model::MapView map;
  map.values = (const float *)g_bytes_get_data(bytes, NULL);
  map.width = (int)width;
  map.height = (int)height;
  return map;
}

/* Runs `draw`; a bad map (non-finite values) throws, and spoils this frame's
 * overlay only: a warning, and the frame goes on as it was. */
template <class Draw>
static void draw_or_warn(GstSaliencyOverlay *self, Draw draw) {
  try {
    draw();
  } catch (const std::exception &e) {
    GST_ELEMENT_WARNING(self, STREAM, DECODE, ("Could not draw the saliency map."),
                        ("%s", e.what()));
  } catch (...) {
    GST_ELEMENT_WARNING(self, STREAM, DECODE, ("Could not draw the saliency map."),
                        ("unknown exception"));
  }
}

/* The attach path: the heat map as an ARGB rectangle over the whole frame, in
 * the buffer's GstVideoOverlayCompositionMeta (added to one already there). */
static GstFlowReturn gst_saliency_overlay_attach(GstSaliencyOverlay *self, GstBuffer *buf,
                                                 GstSaliencyMeta *meta,
                                                 const model::HeatmapStyle &style) {
  const GstVideoInfo *info = &GST_VIDEO_FILTER(self)->in_info;
  const guint width = GST_VIDEO_INFO_WIDTH(info), height = GST_VIDEO_INFO_HEIGHT(info);
  GstVideoInfo canvas_info;
  if (!gst_video_info_set_format(&canvas_info, GST_VIDEO_OVERLAY_COMPOSITION_FORMAT_RGB, width,
                                 height)) {
    GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, ("Could not attach the saliency heat map."),
                      ("no %ux%u overlay canvas", width, height));
    return GST_FLOW_ERROR;
  }
  GstBuffer *canvas = gst_buffer_new_allocate(nullptr, GST_VIDEO_INFO_SIZE(&canvas_info), nullptr);
  gst_buffer_add_video_meta_full(
      canvas, GST_VIDEO_FRAME_FLAG_NONE, GST_VIDEO_INFO_FORMAT(&canvas_info), width, height,
      GST_VIDEO_INFO_N_PLANES(&canvas_info), canvas_info.offset, canvas_info.stride);
  GstMapInfo map_info;
  if (!gst_buffer_map(canvas, &map_info, GST_MAP_WRITE)) {
    gst_buffer_unref(canvas);
    GST_ELEMENT_ERROR(self, RESOURCE, WRITE, ("Could not attach the saliency heat map."),
                      ("could not map a %ux%u overlay canvas", width, height));
    return GST_FLOW_ERROR;
  }
  model::OverlayFrame target;
  target.planes[0] = map_info.data;
  target.strides[0] = (std::size_t)GST_VIDEO_INFO_PLANE_STRIDE(&canvas_info, 0);
  target.width = (int)width;
  target.height = (int)height;
  gstsaliency::to_overlay_format(GST_VIDEO_OVERLAY_COMPOSITION_FORMAT_RGB, &target.format);

  guint map_w = 0, map_h = 0;
  GBytes *bytes = gst_saliency_meta_get_map(meta, &map_w, &map_h);
  bool drawn = false;
  draw_or_warn(self, [&] {
    drawn = model::render_heatmap_overlay(target, map_view(bytes, map_w, map_h), style);
  });
  g_bytes_unref(bytes);
  gst_buffer_unmap(canvas, &map_info);
  if (!drawn) {  // a flat map, or nothing visible: no meta, as the blend leaves the frame
    gst_buffer_unref(canvas);
    return GST_FLOW_OK;
  }

  GstVideoOverlayRectangle *rect = gst_video_overlay_rectangle_new_raw(
      canvas, 0, 0, width, height, GST_VIDEO_OVERLAY_FORMAT_FLAG_NONE);
  gst_buffer_unref(canvas);
  GstVideoOverlayCompositionMeta *existing = gst_buffer_get_video_overlay_composition_meta(buf);
  GstVideoOverlayComposition *comp;
  if (existing) {
    comp = gst_video_overlay_composition_copy(existing->overlay);
    gst_video_overlay_composition_add_rectangle(comp, rect);
    gst_buffer_remove_video_overlay_composition_meta(buf, existing);
  } else {
    comp = gst_video_overlay_composition_new(rect);
  }
  gst_video_overlay_rectangle_unref(rect);
  gst_buffer_add_video_overlay_composition_meta(buf, comp);
  gst_video_overlay_composition_unref(comp);
  GST_LOG_OBJECT(self, "attached a %ux%u heat map to %" GST_TIME_FORMAT, width, height,
                 GST_TIME_ARGS(GST_BUFFER_PTS(buf)));
  return GST_FLOW_OK;
}

/* Frames without a map, or with nothing to draw, are not mapped at all; with
 * the attach path, frames are never mapped. */
static GstFlowReturn gst_saliency_overlay_transform_ip(GstBaseTransform *trans, GstBuffer *buf) {
  GstSaliencyOverlay *self = GST_SALIENCY_OVERLAY(trans);
  GstSaliencyMeta *meta = gst_buffer_get_saliency_meta(buf);
  if (!meta) {
    GST_LOG_OBJECT(self, "no saliency meta on %" GST_TIME_FORMAT ": unchanged",
                   GST_TIME_ARGS(GST_BUFFER_PTS(buf)));
    return GST_FLOW_OK;
  }
  const model::HeatmapStyle style = current_style(self);
  const bool nothing_to_draw = !style.replace_picture && style.alpha <= 0.f && !style.mark_peak;
  if (nothing_to_draw) return GST_FLOW_OK;
  if (self->priv->attach && !style.replace_picture)
    return gst_saliency_overlay_attach(self, buf, meta, style);
  // GstVideoFilter's transform_ip maps the frame and calls transform_frame_ip.
  return GST_BASE_TRANSFORM_CLASS(parent_class)->transform_ip(trans, buf);
}

static GstFlowReturn gst_saliency_overlay_transform_frame_ip(GstVideoFilter *filter,
                                                             GstVideoFrame *frame) {
  GstSaliencyOverlay *self = GST_SALIENCY_OVERLAY(filter);
  GstSaliencyMeta *meta = gst_buffer_get_saliency_meta(frame->buffer);
  if (!meta) return GST_FLOW_OK;
  const model::HeatmapStyle style = current_style(self);

  guint map_w = 0, map_h = 0;
  GBytes *bytes = gst_saliency_meta_get_map(meta, &map_w, &map_h);

  model::OverlayFrame target;
  target.width = GST_VIDEO_FRAME_WIDTH(frame);
  target.height = GST_VIDEO_FRAME_HEIGHT(frame);
  target.format = self->priv->format;
  target.matrix = self->priv->matrix;
  for (guint i = 0; i < GST_VIDEO_FRAME_N_PLANES(frame) && i < 3; i++) {
    target.planes[i] = (std::uint8_t *)GST_VIDEO_FRAME_PLANE_DATA(frame, i);
    target.strides[i] = (std::size_t)GST_VIDEO_FRAME_PLANE_STRIDE(frame, i);
  }

  draw_or_warn(self, [&] { model::blend_heatmap(target, map_view(bytes, map_w, map_h), style); });
  g_bytes_unref(bytes);
  return GST_FLOW_OK;
}
