/* gst-saliency: saliencyroi element
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
 * SECTION:element-saliencyroi
 * @title: saliencyroi
 *
 * Turns the #GstSaliencyMeta of each frame into up to `max-regions`
 * #GstVideoRegionOfInterestMeta of type "saliency", for the encoders that
 * read them: each carries a "roi/vaapi" and a "roi/msdk" parameter
 * structure with the `delta-qp` to apply inside the rectangle (negative:
 * better quality), as vaapih264enc (1.14+) and msdkh264enc (1.18+) expect,
 * and a "saliency" structure with the region's `score` in (0,1].
 *
 * Regions are the connected areas where the map, min-max normalised, is at
 * least `threshold`, best peak first, grown to 16-pixel macroblocks. A flat
 * map (constant, or constant up to fp32 rounding) has no region: nothing
 * stands out, so the frame gets no ROI and the encoder uniform quality.
 * msdkh264enc re-initialises whenever the ROI set changes, so the element
 * keeps the previous frame's rectangles while every new rectangle overlaps
 * one of them by at least `keep-iou` (intersection over union).
 *
 * The video passes unchanged and is never mapped, so any memory type works.
 * The ROI meta's scale transform drops its parameters: put `saliencyroi`
 * after any scaler, right before the encoder. Older "saliency" ROIs on the
 * buffer are replaced; other ROIs are left alone.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 filesrc location=in.mp4 ! decodebin ! videoconvert ! saliency ! \
 *     saliencyroi max-regions=2 delta-qp=-8 ! videoconvert ! vaapih264enc ! h264parse ! \
 *     mp4mux ! filesink location=out.mp4
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
#include <vector>

#include "gstsaliencyroi.h"
#include "salmaps/roi.hpp"

GST_DEBUG_CATEGORY_STATIC(gst_saliency_roi_debug);
#define GST_CAT_DEFAULT gst_saliency_roi_debug

enum { PROP_0, PROP_MAX_REGIONS, PROP_DELTA_QP, PROP_THRESHOLD, PROP_KEEP_IOU };

#define DEFAULT_MAX_REGIONS 4
/* msdk accepts up to 256 ROIs (ecosystem.md 4.2). */
#define MAX_MAX_REGIONS 256
/* vaapi's own default-roi-delta-qp (ecosystem.md 4.2). */
#define DEFAULT_DELTA_QP -10
#define DEFAULT_THRESHOLD 0.5
#define DEFAULT_KEEP_IOU 0.7
/* H.264 macroblock size: encoders apply ROIs per macroblock anyway. */
#define ROI_ALIGN 16
#define ROI_TYPE "saliency"

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE(
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS("video/x-raw(ANY)"));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE(
    "src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS("video/x-raw(ANY)"));

namespace {

struct Settings {
  guint max_regions = DEFAULT_MAX_REGIONS;
  gint delta_qp = DEFAULT_DELTA_QP;
  gdouble threshold = DEFAULT_THRESHOLD;
  gdouble keep_iou = DEFAULT_KEEP_IOU;
};

}  // namespace

/* C++ state; created in init, deleted in finalize (STYLE.md §a). */
struct GstSaliencyRoiPrivate {
  Settings settings;  // guarded by GST_OBJECT_LOCK
  // Streaming thread:
  gint width = 0, height = 0;
  std::vector<model::SalientRegion> previous;  // last frame's regions
};

struct _GstSaliencyRoi {
  GstBaseTransform parent;
  GstSaliencyRoiPrivate *priv;
};

#define gst_saliency_roi_parent_class parent_class
G_DEFINE_TYPE(GstSaliencyRoi, gst_saliency_roi, GST_TYPE_BASE_TRANSFORM);
GST_ELEMENT_REGISTER_DEFINE(saliencyroi, "saliencyroi", GST_RANK_NONE, GST_TYPE_SALIENCY_ROI);

static void gst_saliency_roi_finalize(GObject *object);
static void gst_saliency_roi_set_property(GObject *object, guint prop_id, const GValue *value,
                                          GParamSpec *pspec);
static void gst_saliency_roi_get_property(GObject *object, guint prop_id, GValue *value,
                                          GParamSpec *pspec);
static gboolean gst_saliency_roi_start(GstBaseTransform *trans);
static gboolean gst_saliency_roi_set_caps(GstBaseTransform *trans, GstCaps *incaps,
                                          GstCaps *outcaps);
static gboolean gst_saliency_roi_sink_event(GstBaseTransform *trans, GstEvent *event);
static GstFlowReturn gst_saliency_roi_transform_ip(GstBaseTransform *trans, GstBuffer *buf);

static void gst_saliency_roi_class_init(GstSaliencyRoiClass *klass) {
  GObjectClass *gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS(klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS(klass);

  GST_DEBUG_CATEGORY_INIT(gst_saliency_roi_debug, "saliencyroi", 0, "saliencyroi element");

  gobject_class->finalize = gst_saliency_roi_finalize;
  gobject_class->set_property = gst_saliency_roi_set_property;
  gobject_class->get_property = gst_saliency_roi_get_property;

  /**
   * GstSaliencyRoi:max-regions:
   *
   * At most this many regions per frame, the most salient first.
   *
   * Since: 0.1
   */
  g_object_class_install_property(
      gobject_class, PROP_MAX_REGIONS,
      g_param_spec_uint(
          "max-regions", "Max regions",
          "At most this many regions of interest per frame, most salient first "
          "(msdk accepts up to 256; VA drivers often fewer)",
          1, MAX_MAX_REGIONS, DEFAULT_MAX_REGIONS,
          (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING)));
  /**
   * GstSaliencyRoi:delta-qp:
   *
   * QP offset for the encoder inside each region, written into the roi/vaapi
   * and roi/msdk parameters. Negative values spend more bits there.
   * vaapih264enc clamps it to -10..10.
   *
   * Since: 0.1
   */
  g_object_class_install_property(
      gobject_class, PROP_DELTA_QP,
      g_param_spec_int(
          "delta-qp", "Delta QP",
          "QP offset inside salient regions, -51 to 51 (negative = higher "
          "quality; vaapi clamps to -10..10)",
          -51, 51, DEFAULT_DELTA_QP,
          (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING)));
  /**
   * GstSaliencyRoi:threshold:
   *
   * A map cell is salient when its min-max normalised value is at least this.
   *
   * Since: 0.1
   */
  g_object_class_install_property(
      gobject_class, PROP_THRESHOLD,
      g_param_spec_double(
          "threshold", "Threshold",
          "Salient where the min-max normalised map is at least this, 0 to 1", 0.0, 1.0,
          DEFAULT_THRESHOLD,
          (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING)));
  /**
   * GstSaliencyRoi:keep-iou:
   *
   * Keep the previous frame's rectangles while every new rectangle overlaps
   * one of them with at least this intersection over union, so that encoders
   * that re-initialise on ROI changes (msdk) are not restarted every frame.
   * 1 takes the new rectangles unless they are identical.
   *
   * Since: 0.1
   */
  g_object_class_install_property(
      gobject_class, PROP_KEEP_IOU,
      g_param_spec_double(
          "keep-iou", "Keep IoU",
          "Keep the previous rectangles while each new one overlaps one of them "
          "by at least this IoU, 0 to 1 (1 = follow every change)",
          0.0, 1.0, DEFAULT_KEEP_IOU,
          (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING)));

  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_add_static_pad_template(element_class, &src_template);
  gst_element_class_set_static_metadata(
      element_class, "Saliency regions of interest", "Filter/Analyzer/Video",
      "Turns the saliency map into GstVideoRegionOfInterestMeta with delta-qp for ROI-aware "
      "encoders (vaapi, msdk)",
      "gst-saliency developers");

  trans_class->start = GST_DEBUG_FUNCPTR(gst_saliency_roi_start);
  trans_class->set_caps = GST_DEBUG_FUNCPTR(gst_saliency_roi_set_caps);
  trans_class->sink_event = GST_DEBUG_FUNCPTR(gst_saliency_roi_sink_event);
  trans_class->transform_ip = GST_DEBUG_FUNCPTR(gst_saliency_roi_transform_ip);
}

static void gst_saliency_roi_init(GstSaliencyRoi *self) {
  self->priv = new GstSaliencyRoiPrivate();
  // Metas only: the buffer is made writable (a new header), its memory is
  // never mapped.
  gst_base_transform_set_in_place(GST_BASE_TRANSFORM(self), TRUE);
}

static void gst_saliency_roi_finalize(GObject *object) {
  GstSaliencyRoi *self = GST_SALIENCY_ROI(object);
  delete self->priv;
  self->priv = nullptr;
  G_OBJECT_CLASS(parent_class)->finalize(object);
}

static void gst_saliency_roi_set_property(GObject *object, guint prop_id, const GValue *value,
                                          GParamSpec *pspec) {
  GstSaliencyRoi *self = GST_SALIENCY_ROI(object);
  GST_OBJECT_LOCK(self);
  switch (prop_id) {
    case PROP_MAX_REGIONS:
      self->priv->settings.max_regions = g_value_get_uint(value);
      break;
    case PROP_DELTA_QP:
      self->priv->settings.delta_qp = g_value_get_int(value);
      break;
    case PROP_THRESHOLD:
      self->priv->settings.threshold = g_value_get_double(value);
      break;
    case PROP_KEEP_IOU:
      self->priv->settings.keep_iou = g_value_get_double(value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK(self);
}

static void gst_saliency_roi_get_property(GObject *object, guint prop_id, GValue *value,
                                          GParamSpec *pspec) {
  GstSaliencyRoi *self = GST_SALIENCY_ROI(object);
  GST_OBJECT_LOCK(self);
  switch (prop_id) {
    case PROP_MAX_REGIONS:
      g_value_set_uint(value, self->priv->settings.max_regions);
      break;
    case PROP_DELTA_QP:
      g_value_set_int(value, self->priv->settings.delta_qp);
      break;
    case PROP_THRESHOLD:
      g_value_set_double(value, self->priv->settings.threshold);
      break;
    case PROP_KEEP_IOU:
      g_value_set_double(value, self->priv->settings.keep_iou);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK(self);
}

static gboolean gst_saliency_roi_start(GstBaseTransform *trans) {
  GST_SALIENCY_ROI(trans)->priv->previous.clear();
  return TRUE;
}

static gboolean gst_saliency_roi_set_caps(GstBaseTransform *trans, GstCaps *incaps,
                                          GstCaps *outcaps) {
  GstSaliencyRoi *self = GST_SALIENCY_ROI(trans);
  GstVideoInfo info;
  if (!gst_video_info_from_caps(&info, incaps)) {
    GST_WARNING_OBJECT(self, "invalid caps %" GST_PTR_FORMAT, incaps);
    return FALSE;
  }
  GST_DEBUG_OBJECT(self, "caps %" GST_PTR_FORMAT, incaps);
  self->priv->width = GST_VIDEO_INFO_WIDTH(&info);
  self->priv->height = GST_VIDEO_INFO_HEIGHT(&info);
  self->priv->previous.clear();
  return TRUE;
}

static gboolean gst_saliency_roi_sink_event(GstBaseTransform *trans, GstEvent *event) {
  if (GST_EVENT_TYPE(event) == GST_EVENT_FLUSH_STOP)
    GST_SALIENCY_ROI(trans)->priv->previous.clear();
  return GST_BASE_TRANSFORM_CLASS(parent_class)->sink_event(trans, event);
}

static gboolean remove_saliency_roi(GstBuffer *buffer, GstMeta **meta, gpointer user_data) {
  if ((*meta)->info->api == GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE &&
      ((GstVideoRegionOfInterestMeta *)*meta)->roi_type == g_quark_from_static_string(ROI_TYPE) &&
      !GST_META_FLAG_IS_SET(*meta, GST_META_FLAG_LOCKED))
    *meta = NULL;  // removes it
  return TRUE;
}

static GstFlowReturn gst_saliency_roi_transform_ip(GstBaseTransform *trans, GstBuffer *buf) {
  GstSaliencyRoi *self = GST_SALIENCY_ROI(trans);
  GstSaliencyRoiPrivate *priv = self->priv;

  if (GST_BUFFER_IS_DISCONT(buf)) priv->previous.clear();
  GstSaliencyMeta *meta = gst_buffer_get_saliency_meta(buf);
  if (!meta) {
    GST_LOG_OBJECT(self, "no saliency meta on %" GST_TIME_FORMAT,
                   GST_TIME_ARGS(GST_BUFFER_PTS(buf)));
    return GST_FLOW_OK;
  }

  Settings s;
  GST_OBJECT_LOCK(self);
  s = priv->settings;
  GST_OBJECT_UNLOCK(self);

  guint map_w = 0, map_h = 0;
  GBytes *bytes = gst_saliency_meta_get_map(meta, &map_w, &map_h);
  model::MapView map;
  map.values = (const float *)g_bytes_get_data(bytes, NULL);
  map.width = (int)map_w;
  map.height = (int)map_h;
  model::RoiOptions options;
  options.max_regions = (int)s.max_regions;
  options.threshold = (float)s.threshold;
  options.align = ROI_ALIGN;
  std::vector<model::SalientRegion> regions;
  try {
    regions = model::find_salient_regions(map, priv->width, priv->height, options);
  } catch (const std::exception &e) {
    g_bytes_unref(bytes);
    GST_ELEMENT_WARNING(self, STREAM, DECODE, ("Could not find regions in the saliency map."),
                        ("%s", e.what()));
    return GST_FLOW_OK;
  }
  g_bytes_unref(bytes);
  regions = model::stabilise_regions(priv->previous, regions, (float)s.keep_iou);
  priv->previous = regions;

  gst_buffer_foreach_meta(buf, remove_saliency_roi, NULL);
  gint id = 0;
  for (const auto &r : regions) {
    GstVideoRegionOfInterestMeta *roi = gst_buffer_add_video_region_of_interest_meta(
        buf, ROI_TYPE, (guint)r.x, (guint)r.y, (guint)r.width, (guint)r.height);
    roi->id = id++;
    // Encoder parameters (ecosystem.md 4.2): vaapi reads roi/vaapi, msdk
    // ignores ROIs without roi/msdk.
    gst_video_region_of_interest_meta_add_param(
        roi, gst_structure_new("roi/vaapi", "delta-qp", G_TYPE_INT, s.delta_qp, NULL));
    gst_video_region_of_interest_meta_add_param(
        roi, gst_structure_new("roi/msdk", "delta-qp", G_TYPE_INT, s.delta_qp, NULL));
    gst_video_region_of_interest_meta_add_param(
        roi, gst_structure_new(ROI_TYPE, "score", G_TYPE_DOUBLE, (gdouble)r.score, NULL));
  }
  GST_LOG_OBJECT(self, "%d regions on %" GST_TIME_FORMAT, id, GST_TIME_ARGS(GST_BUFFER_PTS(buf)));
  return GST_FLOW_OK;
}
