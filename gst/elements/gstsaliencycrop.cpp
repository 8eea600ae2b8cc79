/* gst-saliency: saliencycrop element
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
 * SECTION:element-saliencycrop
 * @title: saliencycrop
 *
 * Reframes video to another aspect ratio (16:9 to 9:16 by default) along a
 * smooth virtual-camera path that follows the #GstSaliencyMeta of each frame:
 * every output frame is the window of its input frame that the path chose,
 * at the largest size of `aspect-ratio` that fits in the input (even width
 * and height). The path is a discrete L1-optimal camera path planned over
 * `look-ahead` frames (salmaps' ReframePlanner): it holds still while the
 * salient region stays inside the window and pans at up to `max-speed`
 * otherwise; `mode` makes it stationary per shot or a close tracker, and
 * `zoom` below 1 lets the window shrink around saliency that fits in a
 * smaller one (the output size stays the same: the window is scaled up). At
 * a hard cut, found from luma histograms of the frames, the window may jump.
 *
 * Each output frame carries a #GstSaliencyCropMeta with its window in input
 * pixels (to apply the same reframing to a higher-resolution rendition of the
 * source) and the part of its saliency map under the window as a new
 * #GstSaliencyMeta. Other metas that describe the pixels (tagged video size
 * or orientation: flow, regions of interest, video meta) do not survive the
 * crop; untagged ones are kept. A frame without a saliency map is cropped as
 * if nothing stood out (the camera holds still) and leaves without a map.
 *
 * The element holds `look-ahead` frames (0: none, for live sources) and adds
 * as many frame durations to the LATENCY answer. Every input buffer leaves
 * exactly once, in order, with its timestamps, duration and flags, except
 * across a flush; serialized events keep their place among the buffers. At
 * EOS, on a new segment, on a caps change, on a DISCONT buffer and on a DRAIN
 * query the held frames are decided with what has been seen and leave, and
 * the path starts afresh; a flush drops them.
 *
 * Input is 8-bit packed RGB (RGB, BGR, RGBA, BGRA, RGBx, BGRx), GRAY8, I420
 * or NV12, without conversion; the output has the input's format, framerate
 * and pixel aspect ratio. `aspect-ratio` is the display aspect, so with
 * non-square pixels the window's pixel size accounts for them.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 filesrc location=in.mp4 ! decodebin ! videoconvert ! saliency ! \
 *     saliencycrop aspect-ratio=9/16 ! videoconvert ! x264enc ! mp4mux ! filesink location=out.mp4
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
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <numeric>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <vector>

#include "gstsaliencycrop.h"
#include "salmaps/reframe.hpp"

GST_DEBUG_CATEGORY_STATIC(gst_saliency_crop_debug);
#define GST_CAT_DEFAULT gst_saliency_crop_debug

enum { PROP_0, PROP_ASPECT_RATIO, PROP_MAX_SPEED, PROP_LOOK_AHEAD, PROP_MODE, PROP_ZOOM };

typedef enum {
  GST_SALIENCY_CROP_MODE_AUTO,
  GST_SALIENCY_CROP_MODE_STATIONARY,
  GST_SALIENCY_CROP_MODE_TRACK,
} GstSaliencyCropMode;

#define DEFAULT_ASPECT_N 9
#define DEFAULT_ASPECT_D 16
/* ReframeOptions' defaults (salmaps/reframe.hpp). */
#define DEFAULT_MAX_SPEED 0.015
/* The planner's slowest top speed (its grid's resolution). */
#define MIN_MAX_SPEED model::kMinReframeSpeed
#define DEFAULT_LOOK_AHEAD 15
#define MAX_LOOK_AHEAD 300
#define DEFAULT_MODE GST_SALIENCY_CROP_MODE_AUTO
#define DEFAULT_ZOOM 1.0
#define MIN_ZOOM 0.01
/* Frame duration when neither the caps nor the buffers give one
 * (gst-plugins-bad sys/va/gstvadeinterlace.c: 25 fps). */
#define FALLBACK_FRAME_DURATION (GST_SECOND / 25)
/* Shot cuts are found from luma histograms of a grey thumbnail at most this
 * wide, sampled (nearest neighbour) from the frame: 64 bins need thousands of
 * samples (160x90 = 14400), not the two million of a 1080p frame. */
#define CUT_THUMBNAIL_WIDTH 160

#define CROP_FORMATS "{ RGB, BGR, RGBA, BGRA, RGBx, BGRx, GRAY8, I420, NV12 }"

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE(
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS(GST_VIDEO_CAPS_MAKE(CROP_FORMATS)));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE(
    "src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS(GST_VIDEO_CAPS_MAKE(CROP_FORMATS)));

#define GST_TYPE_SALIENCY_CROP_MODE (gst_saliency_crop_mode_get_type())
static GType gst_saliency_crop_mode_get_type(void) {
  static gsize id = 0;
  static const GEnumValue values[] = {
      {GST_SALIENCY_CROP_MODE_AUTO,
       "Holds still while the salient region stays inside the window, pans at a steady speed "
       "otherwise",
       "auto"},
      {GST_SALIENCY_CROP_MODE_STATIONARY,
       "One fixed window per shot, the best position over the look-ahead at the shot's first "
       "frame",
       "stationary"},
      {GST_SALIENCY_CROP_MODE_TRACK, "Follows the saliency as closely as max-speed allows",
       "track"},
      {0, NULL, NULL}};
  if (g_once_init_enter(&id)) {
    GType t = g_enum_register_static("GstSaliencyCropMode", values);
    g_once_init_leave(&id, t);
  }
  return (GType)id;
}

namespace {

struct Settings {
  gint aspect_n = DEFAULT_ASPECT_N;
  gint aspect_d = DEFAULT_ASPECT_D;
  gdouble max_speed = DEFAULT_MAX_SPEED;
  gint look_ahead = DEFAULT_LOOK_AHEAD;
  GstSaliencyCropMode mode = DEFAULT_MODE;
  gdouble zoom = DEFAULT_ZOOM;
};

struct BufferUnref {
  void operator()(GstBuffer *b) const { gst_buffer_unref(b); }
};
using BufferPtr = std::unique_ptr<GstBuffer, BufferUnref>;

struct EventUnref {
  void operator()(GstEvent *e) const { gst_event_unref(e); }
};
using EventPtr = std::unique_ptr<GstEvent, EventUnref>;

struct BytesUnref {
  void operator()(GBytes *b) const { g_bytes_unref(b); }
};
using BytesPtr = std::unique_ptr<GBytes, BytesUnref>;

/* One entry of the delay line, in stream order: a frame waiting for its
 * window, or a serialized event that arrived behind such frames. */
struct Held {
  BufferPtr buffer;  // null for an event
  BytesPtr map;      // the frame's saliency map; null when it had none
  int map_width = 0, map_height = 0;
  bool has_window = false;
  model::CropWindow window;
  EventPtr event;
};

model::CameraMode to_camera_mode(GstSaliencyCropMode m) {
  switch (m) {
    case GST_SALIENCY_CROP_MODE_STATIONARY:
      return model::CameraMode::Stationary;
    case GST_SALIENCY_CROP_MODE_TRACK:
      return model::CameraMode::Track;
    case GST_SALIENCY_CROP_MODE_AUTO:
      break;
  }
  return model::CameraMode::Auto;
}

/* The aspect, in pixels, of a window whose display aspect is aspect_n:aspect_d
 * on pixels of aspect par_n:par_d, reduced. */
void pixel_aspect(gint aspect_n, gint aspect_d, gint par_n, gint par_d, int *w, int *h) {
  if (par_n <= 0 || par_d <= 0) par_n = par_d = 1;
  gint64 a = (gint64)aspect_n * par_d, b = (gint64)aspect_d * par_n;
  const gint64 g = std::gcd(a, b);
  if (g > 0) a /= g, b /= g;
  // Both factors are below 2^31 and were reduced; a pathological PAR could
  // still leave large numbers: keep the ratio within int.
  while (a > G_MAXINT || b > G_MAXINT)
    a = std::max<gint64>(1, a / 2), b = std::max<gint64>(1, b / 2);
  *w = (int)a;
  *h = (int)b;
}

}  // namespace

/* C++ state; created in init, deleted in finalize (STYLE.md §a).
 *
 * Everything runs in the streaming thread (chain, serialized events and
 * queries); the element has no thread of its own. */
struct GstSaliencyCropPrivate {
  Settings settings;  // property values, guarded by GST_OBJECT_LOCK

  std::mutex lock;  // guards the fields below, which queries and caps negotiation read
  Settings active;  // the settings of the running element, copied in start()
  bool started = false;
  GstClockTime caps_frame_duration = GST_CLOCK_TIME_NONE;
  GstClockTime last_buffer_duration = GST_CLOCK_TIME_NONE;

  // Streaming thread (and start/stop):
  GstVideoInfo in_info;
  GstVideoInfo out_info;
  std::unique_ptr<model::ReframePlanner> planner;  // created in set_caps
  model::ShotCutDetector cuts;
  std::deque<Held> held;    // oldest first
  cv::Mat thumbnail, grey;  // shot-cut thumbnails, reused from frame to frame
  bool warned_no_map = false;
};

struct _GstSaliencyCrop {
  GstBaseTransform parent;
  GstSaliencyCropPrivate *priv;
};

#define gst_saliency_crop_parent_class parent_class
G_DEFINE_TYPE(GstSaliencyCrop, gst_saliency_crop, GST_TYPE_BASE_TRANSFORM);
GST_ELEMENT_REGISTER_DEFINE(saliencycrop, "saliencycrop", GST_RANK_NONE, GST_TYPE_SALIENCY_CROP);

static void gst_saliency_crop_finalize(GObject *object);
static void gst_saliency_crop_set_property(GObject *object, guint prop_id, const GValue *value,
                                           GParamSpec *pspec);
static void gst_saliency_crop_get_property(GObject *object, guint prop_id, GValue *value,
                                           GParamSpec *pspec);
static gboolean gst_saliency_crop_start(GstBaseTransform *trans);
static gboolean gst_saliency_crop_stop(GstBaseTransform *trans);
static GstCaps *gst_saliency_crop_transform_caps(GstBaseTransform *trans, GstPadDirection direction,
                                                 GstCaps *caps, GstCaps *filter);
static GstCaps *gst_saliency_crop_fixate_caps(GstBaseTransform *trans, GstPadDirection direction,
                                              GstCaps *caps, GstCaps *othercaps);
static gboolean gst_saliency_crop_set_caps(GstBaseTransform *trans, GstCaps *incaps,
                                           GstCaps *outcaps);
static gboolean gst_saliency_crop_get_unit_size(GstBaseTransform *trans, GstCaps *caps,
                                                gsize *size);
static gboolean gst_saliency_crop_transform_size(GstBaseTransform *trans, GstPadDirection direction,
                                                 GstCaps *caps, gsize size, GstCaps *othercaps,
                                                 gsize *othersize);
static gboolean gst_saliency_crop_propose_allocation(GstBaseTransform *trans,
                                                     GstQuery *decide_query, GstQuery *query);
static gboolean gst_saliency_crop_decide_allocation(GstBaseTransform *trans, GstQuery *query);
static gboolean gst_saliency_crop_transform_meta(GstBaseTransform *trans, GstBuffer *outbuf,
                                                 GstMeta *meta, GstBuffer *inbuf);
static gboolean gst_saliency_crop_sink_event(GstBaseTransform *trans, GstEvent *event);
static gboolean gst_saliency_crop_query(GstBaseTransform *trans, GstPadDirection direction,
                                        GstQuery *query);
static GstFlowReturn gst_saliency_crop_submit_input_buffer(GstBaseTransform *trans,
                                                           gboolean is_discont, GstBuffer *input);
static GstFlowReturn gst_saliency_crop_generate_output(GstBaseTransform *trans, GstBuffer **outbuf);
static GstFlowReturn gst_saliency_crop_transform(GstBaseTransform *trans, GstBuffer *inbuf,
                                                 GstBuffer *outbuf);
static GstFlowReturn gst_saliency_crop_drain(GstSaliencyCrop *self);
static void gst_saliency_crop_reset(GstSaliencyCrop *self);

static void gst_saliency_crop_class_init(GstSaliencyCropClass *klass) {
  GObjectClass *gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS(klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS(klass);

  GST_DEBUG_CATEGORY_INIT(gst_saliency_crop_debug, "saliencycrop", 0, "saliencycrop element");

  gobject_class->finalize = gst_saliency_crop_finalize;
  gobject_class->set_property = gst_saliency_crop_set_property;
  gobject_class->get_property = gst_saliency_crop_get_property;

  /**
   * GstSaliencyCrop:aspect-ratio:
   *
   * Display aspect ratio of the output, width/height: 9/16 turns landscape
   * video into portrait. The output is the largest window of this aspect
   * that fits in the input, with even width and height.
   *
   * Since: 0.1
   */
  g_object_class_install_property(
      gobject_class, PROP_ASPECT_RATIO,
      gst_param_spec_fraction(
          "aspect-ratio", "Aspect ratio",
          "Display aspect ratio of the output, width/height, 1/100 to 100/1 (9/16: portrait); "
          "the output is the largest window of it inside the input",
          1, 100, 100, 1, DEFAULT_ASPECT_N, DEFAULT_ASPECT_D,
          (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));
  /**
   * GstSaliencyCrop:max-speed:
   *
   * Top speed of the window, as a fraction of the frame's width (height for
   * vertical moves) per frame: 0.015 crosses a frame in about 67 frames.
   * Acceleration is limited too: full speed is reached in 8 frames.
   *
   * Since: 0.1
   */
  g_object_class_install_property(
      gobject_class, PROP_MAX_SPEED,
      g_param_spec_double(
          "max-speed", "Max speed",
          "Top speed of the window, in fractions of the frame's extent per frame, 0.001 to 1",
          MIN_MAX_SPEED, 1.0, DEFAULT_MAX_SPEED,
          (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));
  /**
   * GstSaliencyCrop:look-ahead:
   *
   * Frames the planner sees after a frame before it decides that frame's
   * window: the element holds as many frames and adds their duration to the
   * latency. 0 decides each frame on arrival (live sources).
   *
   * Since: 0.1
   */
  g_object_class_install_property(
      gobject_class, PROP_LOOK_AHEAD,
      g_param_spec_int(
          "look-ahead", "Look-ahead",
          "Frames seen after a frame before its window is decided, 0 to 300; the element holds "
          "them and reports them as latency (0 = decide on arrival, for live sources)",
          0, MAX_LOOK_AHEAD, DEFAULT_LOOK_AHEAD,
          (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));
  /**
   * GstSaliencyCrop:mode:
   *
   * How the virtual camera moves within a shot.
   *
   * Since: 0.1
   */
  g_object_class_install_property(
      gobject_class, PROP_MODE,
      g_param_spec_enum(
          "mode", "Mode",
          "How the virtual camera moves within a shot: auto (still while the saliency stays "
          "in the window, steady pans otherwise), stationary (one window per shot), track",
          GST_TYPE_SALIENCY_CROP_MODE, DEFAULT_MODE,
          (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));
  /**
   * GstSaliencyCrop:zoom:
   *
   * Smallest window, as a fraction of the aspect-fitted one (per side). 1
   * never zooms; below 1 the window shrinks smoothly around saliency that
   * fits in a smaller window and moves on both axes. The output size does
   * not change: a smaller window is scaled up to it (bilinear).
   *
   * Since: 0.1
   */
  g_object_class_install_property(
      gobject_class, PROP_ZOOM,
      g_param_spec_double(
          "zoom", "Zoom",
          "Smallest window as a fraction of the fitted one, 0.01 to 1 (1 = never zoom); "
          "smaller windows are scaled up to the output size",
          MIN_ZOOM, 1.0, DEFAULT_ZOOM,
          (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));

  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_add_static_pad_template(element_class, &src_template);
  gst_element_class_set_static_metadata(
      element_class, "Saliency reframing", "Filter/Effect/Video",
      "Crops video to another aspect ratio along a smooth camera path that follows the saliency "
      "map, and attaches each frame's crop window as GstSaliencyCropMeta",
      "gst-saliency developers");

  trans_class->start = GST_DEBUG_FUNCPTR(gst_saliency_crop_start);
  trans_class->stop = GST_DEBUG_FUNCPTR(gst_saliency_crop_stop);
  trans_class->transform_caps = GST_DEBUG_FUNCPTR(gst_saliency_crop_transform_caps);
  trans_class->fixate_caps = GST_DEBUG_FUNCPTR(gst_saliency_crop_fixate_caps);
  trans_class->set_caps = GST_DEBUG_FUNCPTR(gst_saliency_crop_set_caps);
  trans_class->get_unit_size = GST_DEBUG_FUNCPTR(gst_saliency_crop_get_unit_size);
  trans_class->transform_size = GST_DEBUG_FUNCPTR(gst_saliency_crop_transform_size);
  trans_class->propose_allocation = GST_DEBUG_FUNCPTR(gst_saliency_crop_propose_allocation);
  trans_class->decide_allocation = GST_DEBUG_FUNCPTR(gst_saliency_crop_decide_allocation);
  trans_class->transform_meta = GST_DEBUG_FUNCPTR(gst_saliency_crop_transform_meta);
  trans_class->sink_event = GST_DEBUG_FUNCPTR(gst_saliency_crop_sink_event);
  trans_class->query = GST_DEBUG_FUNCPTR(gst_saliency_crop_query);
  trans_class->submit_input_buffer = GST_DEBUG_FUNCPTR(gst_saliency_crop_submit_input_buffer);
  trans_class->generate_output = GST_DEBUG_FUNCPTR(gst_saliency_crop_generate_output);
  trans_class->transform = GST_DEBUG_FUNCPTR(gst_saliency_crop_transform);

  gst_type_mark_as_plugin_api(GST_TYPE_SALIENCY_CROP_MODE, (GstPluginAPIFlags)0);
}

static void gst_saliency_crop_init(GstSaliencyCrop *self) {
  self->priv = new GstSaliencyCropPrivate();
  gst_video_info_init(&self->priv->in_info);
  gst_video_info_init(&self->priv->out_info);
  // A crop of a GAP frame (neutral content) is neutral too: the flag stays,
  // as every flag does.
  gst_base_transform_set_gap_aware(GST_BASE_TRANSFORM(self), TRUE);
}

static void gst_saliency_crop_finalize(GObject *object) {
  GstSaliencyCrop *self = GST_SALIENCY_CROP(object);
  delete self->priv;
  self->priv = nullptr;
  G_OBJECT_CLASS(parent_class)->finalize(object);
}

static void gst_saliency_crop_set_property(GObject *object, guint prop_id, const GValue *value,
                                           GParamSpec *pspec) {
  GstSaliencyCrop *self = GST_SALIENCY_CROP(object);
  Settings &s = self->priv->settings;
  GST_OBJECT_LOCK(self);
  switch (prop_id) {
    case PROP_ASPECT_RATIO:
      s.aspect_n = gst_value_get_fraction_numerator(value);
      s.aspect_d = gst_value_get_fraction_denominator(value);
      break;
    case PROP_MAX_SPEED:
      s.max_speed = g_value_get_double(value);
      break;
    case PROP_LOOK_AHEAD:
      s.look_ahead = g_value_get_int(value);
      break;
    case PROP_MODE:
      s.mode = (GstSaliencyCropMode)g_value_get_enum(value);
      break;
    case PROP_ZOOM:
      s.zoom = g_value_get_double(value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK(self);
}

static void gst_saliency_crop_get_property(GObject *object, guint prop_id, GValue *value,
                                           GParamSpec *pspec) {
  GstSaliencyCrop *self = GST_SALIENCY_CROP(object);
  const Settings &s = self->priv->settings;
  GST_OBJECT_LOCK(self);
  switch (prop_id) {
    case PROP_ASPECT_RATIO:
      gst_value_set_fraction(value, s.aspect_n, s.aspect_d);
      break;
    case PROP_MAX_SPEED:
      g_value_set_double(value, s.max_speed);
      break;
    case PROP_LOOK_AHEAD:
      g_value_set_int(value, s.look_ahead);
      break;
    case PROP_MODE:
      g_value_set_enum(value, s.mode);
      break;
    case PROP_ZOOM:
      g_value_set_double(value, s.zoom);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK(self);
}

/* The settings negotiation and streaming use: those copied in start() while
 * the element runs (the properties are READY-mutable), the properties
 * otherwise (caps queries in READY). */
static Settings gst_saliency_crop_current_settings(GstSaliencyCrop *self) {
  GstSaliencyCropPrivate *priv = self->priv;
  {
    std::lock_guard<std::mutex> guard(priv->lock);
    if (priv->started) return priv->active;
  }
  GST_OBJECT_LOCK(self);
  Settings s = priv->settings;
  GST_OBJECT_UNLOCK(self);
  return s;
}

static gboolean gst_saliency_crop_start(GstBaseTransform *trans) {
  GstSaliencyCrop *self = GST_SALIENCY_CROP(trans);
  GstSaliencyCropPrivate *priv = self->priv;
  GST_OBJECT_LOCK(self);
  const Settings s = priv->settings;
  GST_OBJECT_UNLOCK(self);
  {
    std::lock_guard<std::mutex> guard(priv->lock);
    priv->active = s;
    priv->started = true;
    priv->caps_frame_duration = GST_CLOCK_TIME_NONE;
    priv->last_buffer_duration = GST_CLOCK_TIME_NONE;
  }
  GST_INFO_OBJECT(self, "aspect %d/%d, max-speed %g, look-ahead %d frames, mode %s, zoom %g",
                  s.aspect_n, s.aspect_d, s.max_speed, s.look_ahead,
                  model::to_string(to_camera_mode(s.mode)), s.zoom);
  priv->held.clear();
  priv->planner.reset();
  priv->cuts.reset();
  priv->warned_no_map = false;
  return TRUE;
}

static gboolean gst_saliency_crop_stop(GstBaseTransform *trans) {
  GstSaliencyCrop *self = GST_SALIENCY_CROP(trans);
  GstSaliencyCropPrivate *priv = self->priv;
  if (!priv->held.empty()) GST_DEBUG_OBJECT(self, "dropping %zu held items", priv->held.size());
  priv->held.clear();
  priv->planner.reset();
  priv->cuts.reset();
  priv->thumbnail.release();
  priv->grey.release();
  std::lock_guard<std::mutex> guard(priv->lock);
  priv->started = false;
  return TRUE;
}

/* ------------------------------------------------------------------ caps */

/* The output size for an input of width x height with pixel aspect
 * par_n:par_d; false when the input is too small to crop. */
static bool gst_saliency_crop_output_size(const Settings &s, gint width, gint height, gint par_n,
                                          gint par_d, model::CropWindow *out) {
  int aw, ah;
  pixel_aspect(s.aspect_n, s.aspect_d, par_n, par_d, &aw, &ah);
  try {
    *out = model::fitted_crop(width, height, aw, ah);
  } catch (const std::exception &e) {
    GST_DEBUG("%dx%d: %s", width, height, e.what());
    return false;
  }
  return true;
}

static GstCaps *gst_saliency_crop_transform_caps(GstBaseTransform *trans, GstPadDirection direction,
                                                 GstCaps *caps, GstCaps *filter) {
  GstSaliencyCrop *self = GST_SALIENCY_CROP(trans);
  const Settings s = gst_saliency_crop_current_settings(self);
  GstCaps *ret = gst_caps_new_empty();

  for (guint i = 0; i < gst_caps_get_size(caps); i++) {
    GstStructure *st = gst_structure_copy(gst_caps_get_structure(caps, i));
    GstCapsFeatures *features = gst_caps_features_copy(gst_caps_get_features(caps, i));
    gint width = 0, height = 0, par_n = 1, par_d = 1;
    const bool fixed_size =
        gst_structure_get_int(st, "width", &width) && gst_structure_get_int(st, "height", &height);
    const GValue *par = gst_structure_get_value(st, "pixel-aspect-ratio");
    const bool fixed_par = !par || GST_VALUE_HOLDS_FRACTION(par);
    if (par && GST_VALUE_HOLDS_FRACTION(par)) {
      par_n = gst_value_get_fraction_numerator(par);
      par_d = gst_value_get_fraction_denominator(par);
    }
    model::CropWindow fitted;
    if (direction == GST_PAD_SINK && fixed_size && fixed_par) {
      // The output size follows from the input's: the fitted window.
      if (!gst_saliency_crop_output_size(s, width, height, par_n, par_d, &fitted)) {
        gst_structure_free(st);
        gst_caps_features_free(features);
        continue;
      }
      gst_structure_set(st, "width", G_TYPE_INT, fitted.width, "height", G_TYPE_INT, fitted.height,
                        NULL);
    } else {
      // Any input size gives some output size (and the reverse).
      gst_structure_set(st, "width", GST_TYPE_INT_RANGE, 2, G_MAXINT, "height", GST_TYPE_INT_RANGE,
                        2, G_MAXINT, NULL);
    }
    gst_caps_append_structure_full(ret, st, features);
  }

  if (filter) {
    GstCaps *intersection = gst_caps_intersect_full(filter, ret, GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref(ret);
    ret = intersection;
  }
  GST_DEBUG_OBJECT(self, "%s %" GST_PTR_FORMAT " -> %" GST_PTR_FORMAT,
                   direction == GST_PAD_SINK ? "sink" : "src", caps, ret);
  return ret;
}

static GstCaps *gst_saliency_crop_fixate_caps(GstBaseTransform *trans, GstPadDirection direction,
                                              GstCaps *caps, GstCaps *othercaps) {
  GstSaliencyCrop *self = GST_SALIENCY_CROP(trans);
  othercaps = gst_caps_truncate(gst_caps_make_writable(othercaps));
  if (direction == GST_PAD_SINK) {
    // Downstream may have left a range: aim at the fitted size, which is the
    // only one set_caps accepts.
    GstVideoInfo in;
    model::CropWindow fitted;
    if (gst_video_info_from_caps(&in, caps) &&
        gst_saliency_crop_output_size(gst_saliency_crop_current_settings(self),
                                      GST_VIDEO_INFO_WIDTH(&in), GST_VIDEO_INFO_HEIGHT(&in),
                                      GST_VIDEO_INFO_PAR_N(&in), GST_VIDEO_INFO_PAR_D(&in),
                                      &fitted)) {
      GstStructure *st = gst_caps_get_structure(othercaps, 0);
      gst_structure_fixate_field_nearest_int(st, "width", fitted.width);
      gst_structure_fixate_field_nearest_int(st, "height", fitted.height);
    }
  }
  othercaps = gst_caps_fixate(othercaps);
  GST_DEBUG_OBJECT(self, "fixated to %" GST_PTR_FORMAT, othercaps);
  return othercaps;
}

static GstClockTime gst_saliency_crop_frame_duration(GstSaliencyCrop *self) {
  GstSaliencyCropPrivate *priv = self->priv;
  std::lock_guard<std::mutex> guard(priv->lock);
  if (GST_CLOCK_TIME_IS_VALID(priv->caps_frame_duration)) return priv->caps_frame_duration;
  if (GST_CLOCK_TIME_IS_VALID(priv->last_buffer_duration)) return priv->last_buffer_duration;
  return FALLBACK_FRAME_DURATION;
}

static gboolean gst_saliency_crop_set_caps(GstBaseTransform *trans, GstCaps *incaps,
                                           GstCaps *outcaps) {
  GstSaliencyCrop *self = GST_SALIENCY_CROP(trans);
  GstSaliencyCropPrivate *priv = self->priv;
  GstVideoInfo in, out;
  if (!gst_video_info_from_caps(&in, incaps) || !gst_video_info_from_caps(&out, outcaps)) {
    GST_WARNING_OBJECT(self, "invalid caps %" GST_PTR_FORMAT " -> %" GST_PTR_FORMAT, incaps,
                       outcaps);
    return FALSE;
  }
  const Settings s = gst_saliency_crop_current_settings(self);
  model::CropWindow fitted;
  if (!gst_saliency_crop_output_size(s, GST_VIDEO_INFO_WIDTH(&in), GST_VIDEO_INFO_HEIGHT(&in),
                                     GST_VIDEO_INFO_PAR_N(&in), GST_VIDEO_INFO_PAR_D(&in),
                                     &fitted) ||
      GST_VIDEO_INFO_FORMAT(&in) != GST_VIDEO_INFO_FORMAT(&out) ||
      GST_VIDEO_INFO_WIDTH(&out) != fitted.width || GST_VIDEO_INFO_HEIGHT(&out) != fitted.height) {
    GST_WARNING_OBJECT(self, "cannot crop %" GST_PTR_FORMAT " to %" GST_PTR_FORMAT, incaps,
                       outcaps);
    return FALSE;
  }

  // A renegotiation with the same input (downstream asked for it) keeps the
  // path and the held frames; otherwise the CAPS event drained them already.
  const bool same_input = priv->planner && gst_video_info_is_equal(&in, &priv->in_info);
  if (!same_input) {
    if (!priv->held.empty()) {
      GST_WARNING_OBJECT(self, "new input caps with %zu frames held: dropping them",
                         priv->held.size());
      priv->held.clear();
    }
    model::ReframeOptions options;
    options.frame_width = GST_VIDEO_INFO_WIDTH(&in);
    options.frame_height = GST_VIDEO_INFO_HEIGHT(&in);
    pixel_aspect(s.aspect_n, s.aspect_d, GST_VIDEO_INFO_PAR_N(&in), GST_VIDEO_INFO_PAR_D(&in),
                 &options.aspect_width, &options.aspect_height);
    options.max_speed = s.max_speed;
    options.look_ahead = s.look_ahead;
    options.mode = to_camera_mode(s.mode);
    options.zoom = s.zoom;
    try {
      auto planner = std::make_unique<model::ReframePlanner>(options);
      priv->planner = std::move(planner);
    } catch (const std::exception &e) {
      GST_ELEMENT_ERROR(self, LIBRARY, SETTINGS, ("Could not set up the reframing planner."),
                        ("%s", e.what()));
      return FALSE;
    }
    priv->cuts.reset();
  }
  priv->in_info = in;
  priv->out_info = out;
  GST_DEBUG_OBJECT(self, "%dx%d -> %dx%d (window %d,%d %dx%d when centred)",
                   GST_VIDEO_INFO_WIDTH(&in), GST_VIDEO_INFO_HEIGHT(&in), fitted.width,
                   fitted.height, fitted.x, fitted.y, fitted.width, fitted.height);

  GstClockTime duration = GST_CLOCK_TIME_NONE;
  if (GST_VIDEO_INFO_FPS_N(&in) > 0 && GST_VIDEO_INFO_FPS_D(&in) > 0)
    duration =
        gst_util_uint64_scale_int(GST_SECOND, GST_VIDEO_INFO_FPS_D(&in), GST_VIDEO_INFO_FPS_N(&in));
  bool latency_changed;
  {
    std::lock_guard<std::mutex> guard(priv->lock);
    latency_changed = s.look_ahead > 0 && duration != priv->caps_frame_duration;
    priv->caps_frame_duration = duration;
  }
  // Posted without holding our lock (d3d12deinterlace): the bin queries us back.
  if (latency_changed)
    gst_element_post_message(GST_ELEMENT(self), gst_message_new_latency(GST_OBJECT(self)));
  return TRUE;
}

static gboolean gst_saliency_crop_get_unit_size(GstBaseTransform *trans, GstCaps *caps,
                                                gsize *size) {
  GstVideoInfo info;
  if (!gst_video_info_from_caps(&info, caps)) return FALSE;
  *size = GST_VIDEO_INFO_SIZE(&info);
  return TRUE;
}

/* The output size depends on the caps only (gstvideofilter.c). */
static gboolean gst_saliency_crop_transform_size(GstBaseTransform *trans, GstPadDirection direction,
                                                 GstCaps *caps, gsize size, GstCaps *othercaps,
                                                 gsize *othersize) {
  return gst_saliency_crop_get_unit_size(trans, othercaps, othersize);
}

/* ------------------------------------------------------------------ allocation */

/* Holding look-ahead frames from a bounded upstream pool could stall a
 * decoder: ask for them, and the one being cropped, on top of what upstream
 * needs (gstvabasetransform.c). GstVideoMeta is welcome: frames are read
 * through gst_video_frame_map, strides and all. */
static gboolean gst_saliency_crop_propose_allocation(GstBaseTransform *trans,
                                                     GstQuery *decide_query, GstQuery *query) {
  GstSaliencyCrop *self = GST_SALIENCY_CROP(trans);
  if (!GST_BASE_TRANSFORM_CLASS(parent_class)->propose_allocation(trans, decide_query, query))
    return FALSE;
  const guint extra = (guint)gst_saliency_crop_current_settings(self).look_ahead + 1;
  const guint n = gst_query_get_n_allocation_pools(query);
  if (n == 0) {
    GstCaps *caps = NULL;
    GstVideoInfo info;
    gst_query_parse_allocation(query, &caps, NULL);
    if (caps && gst_video_info_from_caps(&info, caps))
      gst_query_add_allocation_pool(query, NULL, (guint)GST_VIDEO_INFO_SIZE(&info), extra, 0);
  }
  for (guint i = 0; i < n; i++) {
    GstBufferPool *pool = NULL;
    guint size, min, max;
    gst_query_parse_nth_allocation_pool(query, i, &pool, &size, &min, &max);
    min += extra;
    if (max != 0 && max < min) max = min;
    gst_query_set_nth_allocation_pool(query, i, pool, size, min, max);
    if (pool) gst_object_unref(pool);
  }
  if (!gst_query_find_allocation_meta(query, GST_VIDEO_META_API_TYPE, NULL))
    gst_query_add_allocation_meta(query, GST_VIDEO_META_API_TYPE, NULL);
  GST_DEBUG_OBJECT(self, "asked upstream for %u more buffers", extra);
  return TRUE;
}

/* Output buffers come from a video pool (gstvideofilter.c), with GstVideoMeta
 * when downstream reads it. */
static gboolean gst_saliency_crop_decide_allocation(GstBaseTransform *trans, GstQuery *query) {
  GstBufferPool *pool = NULL;
  GstCaps *outcaps = NULL;
  guint size = 0, min = 0, max = 0;
  gst_query_parse_allocation(query, &outcaps, NULL);
  GstVideoInfo info;
  if (!outcaps || !gst_video_info_from_caps(&info, outcaps)) return FALSE;
  const bool update = gst_query_get_n_allocation_pools(query) > 0;
  if (update) gst_query_parse_nth_allocation_pool(query, 0, &pool, &size, &min, &max);
  size = std::max<guint>(size, (guint)GST_VIDEO_INFO_SIZE(&info));
  if (!pool) pool = gst_video_buffer_pool_new();
  GstStructure *config = gst_buffer_pool_get_config(pool);
  gst_buffer_pool_config_set_params(config, outcaps, size, min, max);
  if (gst_query_find_allocation_meta(query, GST_VIDEO_META_API_TYPE, NULL))
    gst_buffer_pool_config_add_option(config, GST_BUFFER_POOL_OPTION_VIDEO_META);
  gst_buffer_pool_set_config(pool, config);  // the base class validates it again
  if (update)
    gst_query_set_nth_allocation_pool(query, 0, pool, size, min, max);
  else
    gst_query_add_allocation_pool(query, pool, size, min, max);
  gst_object_unref(pool);
  return GST_BASE_TRANSFORM_CLASS(parent_class)->decide_allocation(trans, query);
}

/* Metas copied from an input frame to its crop: those about the stream
 * (untagged, or tagged "video" only, as GstVideoFilter keeps) stay; those
 * about the pixels' geometry (flow, ROIs, GstVideoMeta, the uncropped map)
 * would be wrong and go. An upstream crop window is replaced by ours. */
static gboolean gst_saliency_crop_transform_meta(GstBaseTransform *trans, GstBuffer *outbuf,
                                                 GstMeta *meta, GstBuffer *inbuf) {
  const GType api = meta->info->api;
  if (api == GST_SALIENCY_CROP_META_API_TYPE) return FALSE;
  const gchar *const *tags = gst_meta_api_type_get_tags(api);
  if (!tags) return TRUE;
  return g_strv_length((gchar **)tags) == 1 &&
         gst_meta_api_type_has_tag(api, g_quark_from_static_string(GST_META_TAG_VIDEO_STR));
}

/* ------------------------------------------------------------------ streaming */

/* Copies the window of `in` into `out`, plane by plane, scaling it
 * (bilinear) when it is smaller than the output (zoom). The window has even
 * x, y, width and height for 4:2:0 input (salmaps' fitted_crop and planner). */
static void gst_saliency_crop_copy_window(const GstVideoFrame *in, GstVideoFrame *out,
                                          const model::CropWindow &w) {
  const GstVideoFormatInfo *finfo = in->info.finfo;
  for (guint p = 0; p < GST_VIDEO_FRAME_N_PLANES(in); p++) {
    gint comps[GST_VIDEO_MAX_COMPONENTS];
    gst_video_format_info_component(finfo, p, comps);
    const int c = comps[0];  // every component of a plane here has its subsampling and stride
    const int wsub = GST_VIDEO_FORMAT_INFO_W_SUB(finfo, c);
    const int hsub = GST_VIDEO_FORMAT_INFO_H_SUB(finfo, c);
    const int pstride = GST_VIDEO_FRAME_COMP_PSTRIDE(in, c);
    const int plane_w = GST_VIDEO_FRAME_COMP_WIDTH(in, c);
    const int plane_h = GST_VIDEO_FRAME_COMP_HEIGHT(in, c);
    const int x = std::min(w.x >> wsub, plane_w - 1);
    const int y = std::min(w.y >> hsub, plane_h - 1);
    const int cw = std::clamp((int)GST_VIDEO_SUB_SCALE(wsub, w.width), 1, plane_w - x);
    const int ch = std::clamp((int)GST_VIDEO_SUB_SCALE(hsub, w.height), 1, plane_h - y);
    const cv::Mat src(plane_h, plane_w, CV_8UC(pstride), GST_VIDEO_FRAME_PLANE_DATA(in, p),
                      (size_t)GST_VIDEO_FRAME_PLANE_STRIDE(in, p));
    cv::Mat dst(GST_VIDEO_FRAME_COMP_HEIGHT(out, c), GST_VIDEO_FRAME_COMP_WIDTH(out, c),
                CV_8UC(pstride), GST_VIDEO_FRAME_PLANE_DATA(out, p),
                (size_t)GST_VIDEO_FRAME_PLANE_STRIDE(out, p));
    const cv::Mat window = src(cv::Rect(x, y, cw, ch));
    // Both write into `dst`'s memory: its size and type already match.
    if (window.size() == dst.size())
      window.copyTo(dst);
    else
      cv::resize(window, dst, dst.size(), 0, 0, cv::INTER_LINEAR);
  }
}

/* Whether `frame` starts a new shot: salmaps' luma-histogram detector on a
 * grey thumbnail sampled from the frame (the Y plane of I420/NV12 and GRAY8
 * are grey already; packed RGB is sampled, then converted, small). */
static bool gst_saliency_crop_detect_cut(GstSaliencyCrop *self, const GstVideoFrame *frame) {
  GstSaliencyCropPrivate *priv = self->priv;
  const GstVideoFormat format = GST_VIDEO_FRAME_FORMAT(frame);
  const int w = GST_VIDEO_FRAME_WIDTH(frame), h = GST_VIDEO_FRAME_HEIGHT(frame);
  const int tw = std::min(w, CUT_THUMBNAIL_WIDTH);
  const int th = std::max(1, (int)((gint64)h * tw / w));
  const bool is_grey = GST_VIDEO_FORMAT_INFO_IS_GRAY(frame->info.finfo) ||
                       GST_VIDEO_FORMAT_INFO_IS_YUV(frame->info.finfo);
  const int pstride = GST_VIDEO_FRAME_COMP_PSTRIDE(frame, 0);
  const cv::Mat plane(h, w, is_grey ? CV_8UC1 : CV_8UC(pstride),
                      GST_VIDEO_FRAME_PLANE_DATA(frame, 0),
                      (size_t)GST_VIDEO_FRAME_PLANE_STRIDE(frame, 0));
  cv::Mat sample = plane;
  if (tw < w) {
    cv::resize(plane, priv->thumbnail, cv::Size(tw, th), 0, 0, cv::INTER_NEAREST);
    sample = priv->thumbnail;
  }
  if (!is_grey) {
    int code = cv::COLOR_RGB2GRAY;
    switch (format) {
      case GST_VIDEO_FORMAT_BGR:
        code = cv::COLOR_BGR2GRAY;
        break;
      case GST_VIDEO_FORMAT_RGBA:
      case GST_VIDEO_FORMAT_RGBx:
        code = cv::COLOR_RGBA2GRAY;
        break;
      case GST_VIDEO_FORMAT_BGRA:
      case GST_VIDEO_FORMAT_BGRx:
        code = cv::COLOR_BGRA2GRAY;
        break;
      default:
        break;
    }
    cv::cvtColor(sample, priv->grey, code);
    sample = priv->grey;
  }
  model::GreyView view;
  view.data = sample.data;
  view.width = sample.cols;
  view.height = sample.rows;
  view.stride = sample.step[0];
  return priv->cuts.push_frame(view);
}

/* Crops a held frame whose window is decided and pushes it downstream. */
static GstFlowReturn gst_saliency_crop_push_frame(GstSaliencyCrop *self, Held &frame) {
  GstSaliencyCropPrivate *priv = self->priv;
  GstBaseTransform *trans = GST_BASE_TRANSFORM(self);
  GstBuffer *in = frame.buffer.get();
  const model::CropWindow &w = frame.window;

  // From the negotiated pool, with the input's timestamps, flags and the
  // metas transform_meta keeps.
  GstBuffer *out = NULL;
  GstFlowReturn ret =
      GST_BASE_TRANSFORM_CLASS(parent_class)->prepare_output_buffer(trans, in, &out);
  if (ret != GST_FLOW_OK || !out) return ret != GST_FLOW_OK ? ret : GST_FLOW_ERROR;
  BufferPtr output(out);

  GstVideoFrame in_frame, out_frame;
  if (!gst_video_frame_map(&in_frame, &priv->in_info, in, GST_MAP_READ)) {
    GST_ELEMENT_ERROR(self, STREAM, FAILED, (NULL), ("could not map the input frame"));
    return GST_FLOW_ERROR;
  }
  if (!gst_video_frame_map(&out_frame, &priv->out_info, out, GST_MAP_WRITE)) {
    gst_video_frame_unmap(&in_frame);
    GST_ELEMENT_ERROR(self, STREAM, FAILED, (NULL), ("could not map the output frame"));
    return GST_FLOW_ERROR;
  }
  gst_saliency_crop_copy_window(&in_frame, &out_frame, w);
  gst_video_frame_unmap(&out_frame);
  gst_video_frame_unmap(&in_frame);

  const int in_w = GST_VIDEO_INFO_WIDTH(&priv->in_info);
  const int in_h = GST_VIDEO_INFO_HEIGHT(&priv->in_info);
  if (frame.map) {
    model::MapView view;
    view.values = (const float *)g_bytes_get_data(frame.map.get(), NULL);
    view.width = frame.map_width;
    view.height = frame.map_height;
    const model::CroppedMap cropped = model::crop_map(view, in_w, in_h, w);  // may throw
    gst_buffer_add_saliency_meta(out, (guint)cropped.width, (guint)cropped.height,
                                 cropped.values.data());
  }
  gst_buffer_add_saliency_crop_meta(out, (guint)w.x, (guint)w.y, (guint)w.width, (guint)w.height,
                                    (guint)in_w, (guint)in_h);
  GST_LOG_OBJECT(self, "%" GST_TIME_FORMAT ": window %d,%d %dx%d",
                 GST_TIME_ARGS(GST_BUFFER_PTS(out)), w.x, w.y, w.width, w.height);

  // The base class's chain does this for the buffers it pushes; its
  // POSITION answer reads it.
  if (GST_BUFFER_PTS_IS_VALID(out)) {
    GST_OBJECT_LOCK(self);
    if (trans->segment.format == GST_FORMAT_TIME)
      trans->segment.position =
          GST_BUFFER_PTS(out) + (GST_BUFFER_DURATION_IS_VALID(out) ? GST_BUFFER_DURATION(out) : 0);
    GST_OBJECT_UNLOCK(self);
  }
  frame.buffer.reset();  // the input goes back to its pool before downstream waits
  frame.map.reset();
  return gst_pad_push(GST_BASE_TRANSFORM_SRC_PAD(self), output.release());
}

/* Pushes what is ready, oldest first: frames whose window is decided, and
 * the events that came behind them. */
static GstFlowReturn gst_saliency_crop_push_ready(GstSaliencyCrop *self) {
  GstSaliencyCropPrivate *priv = self->priv;
  while (!priv->held.empty()) {
    Held &front = priv->held.front();
    if (front.event) {
      GstEvent *event = front.event.release();
      priv->held.pop_front();
      GST_BASE_TRANSFORM_CLASS(parent_class)->sink_event(GST_BASE_TRANSFORM(self), event);
      continue;
    }
    if (!front.has_window) break;
    Held frame = std::move(front);
    priv->held.pop_front();
    const GstFlowReturn ret = gst_saliency_crop_push_frame(self, frame);
    if (ret != GST_FLOW_OK) return ret;
  }
  return GST_FLOW_OK;
}

/* Gives decided windows to the oldest frames still waiting for one. */
static void gst_saliency_crop_assign(GstSaliencyCrop *self,
                                     const std::vector<model::CropWindow> &windows) {
  GstSaliencyCropPrivate *priv = self->priv;
  auto it = priv->held.begin();
  for (const model::CropWindow &w : windows) {
    while (it != priv->held.end() && (it->event || it->has_window)) ++it;
    if (it == priv->held.end()) {
      GST_WARNING_OBJECT(self, "the planner decided more windows than frames are held");
      return;
    }
    it->window = w;
    it->has_window = true;
  }
}

/* Decides the windows of all held frames with what has been seen, pushes
 * them and the events between them, and starts the path afresh. Runs where
 * EOS, SEGMENT, STREAM_START, a caps change, a DRAIN query or a DISCONT
 * buffer arrives, so that the held frames leave before what ends their
 * stream. After a failed push the rest is dropped. */
static GstFlowReturn gst_saliency_crop_drain(GstSaliencyCrop *self) {
  GstSaliencyCropPrivate *priv = self->priv;
  GstFlowReturn ret = GST_FLOW_OK;
  if (!priv->held.empty()) GST_DEBUG_OBJECT(self, "draining %zu held items", priv->held.size());
  try {
    if (priv->planner) gst_saliency_crop_assign(self, priv->planner->finish());
    ret = gst_saliency_crop_push_ready(self);
  } catch (const std::exception &e) {
    GST_ELEMENT_ERROR(self, LIBRARY, FAILED, ("Could not reframe the video."), ("%s", e.what()));
    ret = GST_FLOW_ERROR;
  }
  if (!priv->held.empty()) {
    GST_DEBUG_OBJECT(self, "dropping %zu held items after %s", priv->held.size(),
                     gst_flow_get_name(ret));
    priv->held.clear();
  }
  if (priv->planner) priv->planner->reset();
  priv->cuts.reset();
  return ret;
}

/* Flush: held frames and events are dropped without output. */
static void gst_saliency_crop_reset(GstSaliencyCrop *self) {
  GstSaliencyCropPrivate *priv = self->priv;
  if (!priv->held.empty()) GST_DEBUG_OBJECT(self, "dropping %zu held items", priv->held.size());
  priv->held.clear();
  if (priv->planner) priv->planner->reset();
  priv->cuts.reset();
}

/* The chain: plans the frame's window and pushes the frames (and events)
 * whose windows are decided. Outputs leave from here, never through the base
 * class's generate_output, so the buffers leave with their own flags. */
static GstFlowReturn gst_saliency_crop_submit_input_buffer(GstBaseTransform *trans,
                                                           gboolean is_discont, GstBuffer *input) {
  GstSaliencyCrop *self = GST_SALIENCY_CROP(trans);
  GstSaliencyCropPrivate *priv = self->priv;
  BufferPtr buffer(input);
  (void)is_discont;  // the base class's pending flag; the buffer's own is what counts

  if (!gst_base_transform_reconfigure(trans) || !priv->planner) {
    if (GST_PAD_IS_FLUSHING(GST_BASE_TRANSFORM_SRC_PAD(trans))) return GST_FLOW_FLUSHING;
    GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, (NULL), ("no usable caps before the buffer"));
    return GST_FLOW_NOT_NEGOTIATED;
  }
  GstBuffer *buf = buffer.get();
  if (GST_BUFFER_DURATION_IS_VALID(buf)) {
    std::lock_guard<std::mutex> guard(priv->lock);
    priv->last_buffer_duration = GST_BUFFER_DURATION(buf);
  }
  // Frames before a discontinuity leave first, and the path restarts there.
  if (GST_BUFFER_IS_DISCONT(buf)) {
    const GstFlowReturn ret = gst_saliency_crop_drain(self);
    if (ret != GST_FLOW_OK) return ret;
  }

  Held frame;
  static const float kNothingStandsOut = 1.0f;  // a flat 1x1 map: the camera holds still
  model::MapView map{&kNothingStandsOut, 1, 1};
  if (GstSaliencyMeta *meta = gst_buffer_get_saliency_meta(buf)) {
    guint mw = 0, mh = 0;
    frame.map.reset(gst_saliency_meta_get_map(meta, &mw, &mh));
    frame.map_width = (int)mw;
    frame.map_height = (int)mh;
    map.values = (const float *)g_bytes_get_data(frame.map.get(), NULL);
    map.width = (int)mw;
    map.height = (int)mh;
  } else if (!priv->warned_no_map) {
    GST_WARNING_OBJECT(self,
                       "%" GST_TIME_FORMAT
                       ": no GstSaliencyMeta (put saliencycrop after "
                       "saliency); frames without a map are cropped as if nothing stood out",
                       GST_TIME_ARGS(GST_BUFFER_PTS(buf)));
    priv->warned_no_map = true;
  }

  GstVideoFrame video;
  if (!gst_video_frame_map(&video, &priv->in_info, buf, GST_MAP_READ)) {
    GST_ELEMENT_ERROR(self, STREAM, FAILED, (NULL), ("could not map the input frame"));
    return GST_FLOW_ERROR;
  }
  std::vector<model::CropWindow> windows;
  bool mapped = true;
  try {
    const bool cut = gst_saliency_crop_detect_cut(self, &video);
    gst_video_frame_unmap(&video);
    mapped = false;
    if (cut)
      GST_DEBUG_OBJECT(self, "shot cut at %" GST_TIME_FORMAT, GST_TIME_ARGS(GST_BUFFER_PTS(buf)));
    windows = priv->planner->push(map, cut);
  } catch (const std::exception &e) {
    if (mapped) gst_video_frame_unmap(&video);
    GST_ELEMENT_ERROR(self, STREAM, FAILED, ("Could not plan the crop window."), ("%s", e.what()));
    return GST_FLOW_ERROR;
  }
  frame.buffer = std::move(buffer);
  priv->held.push_back(std::move(frame));
  gst_saliency_crop_assign(self, windows);
  try {
    return gst_saliency_crop_push_ready(self);
  } catch (const std::exception &e) {
    GST_ELEMENT_ERROR(self, LIBRARY, FAILED, ("Could not reframe the video."), ("%s", e.what()));
    return GST_FLOW_ERROR;
  }
}

static GstFlowReturn gst_saliency_crop_generate_output(GstBaseTransform *trans,
                                                       GstBuffer **outbuf) {
  *outbuf = NULL;
  return GST_FLOW_OK;
}

/* Never called (generate_output above replaces the code that would call it).
 * It exists because GstBaseTransform takes an element without `transform`
 * for an in-place or passthrough one and then negotiates no output pool. */
static GstFlowReturn gst_saliency_crop_transform(GstBaseTransform *trans, GstBuffer *inbuf,
                                                 GstBuffer *outbuf) {
  GST_ELEMENT_ERROR(trans, CORE, FAILED, (NULL), ("saliencycrop: unexpected transform call"));
  return GST_FLOW_ERROR;
}

/* ------------------------------------------------------------------ events, queries */

static gboolean gst_saliency_crop_sink_event(GstBaseTransform *trans, GstEvent *event) {
  GstSaliencyCrop *self = GST_SALIENCY_CROP(trans);
  GstSaliencyCropPrivate *priv = self->priv;
  switch (GST_EVENT_TYPE(event)) {
    case GST_EVENT_FLUSH_STOP:
      gst_saliency_crop_reset(self);
      break;
    case GST_EVENT_EOS:
    case GST_EVENT_SEGMENT:
    case GST_EVENT_STREAM_START:
      // Old frames leave before what ends their stream.
      gst_saliency_crop_drain(self);
      break;
    case GST_EVENT_CAPS: {
      GstCaps *caps = NULL;
      gst_event_parse_caps(event, &caps);
      GstCaps *current = gst_pad_get_current_caps(GST_BASE_TRANSFORM_SINK_PAD(trans));
      const bool changed = current && !gst_caps_is_equal(current, caps);
      if (current) gst_caps_unref(current);
      // Held frames leave with the old caps; set_caps then plans afresh.
      if (changed) gst_saliency_crop_drain(self);
      break;
    }
    default:
      // Serialized events keep their place behind the held frames.
      if (GST_EVENT_IS_SERIALIZED(event) && !priv->held.empty()) {
        GST_LOG_OBJECT(self, "holding %" GST_PTR_FORMAT " behind %zu items", event,
                       priv->held.size());
        Held item;
        item.event.reset(event);
        priv->held.push_back(std::move(item));
        return TRUE;
      }
      break;
  }
  return GST_BASE_TRANSFORM_CLASS(parent_class)->sink_event(trans, event);
}

static gboolean gst_saliency_crop_query(GstBaseTransform *trans, GstPadDirection direction,
                                        GstQuery *query) {
  GstSaliencyCrop *self = GST_SALIENCY_CROP(trans);
  if (direction == GST_PAD_SRC && GST_QUERY_TYPE(query) == GST_QUERY_LATENCY) {
    if (!gst_pad_peer_query(GST_BASE_TRANSFORM_SINK_PAD(trans), query)) return FALSE;
    gboolean live;
    GstClockTime min, max;
    gst_query_parse_latency(query, &live, &min, &max);
    // A frame leaves look-ahead frames after it arrived (STYLE.md §c).
    const int look_ahead = gst_saliency_crop_current_settings(self).look_ahead;
    const GstClockTime ours = (GstClockTime)look_ahead * gst_saliency_crop_frame_duration(self);
    GST_DEBUG_OBJECT(self, "upstream latency min %" GST_TIME_FORMAT ", ours %" GST_TIME_FORMAT,
                     GST_TIME_ARGS(min), GST_TIME_ARGS(ours));
    min += ours;
    if (GST_CLOCK_TIME_IS_VALID(max)) max += ours;
    gst_query_set_latency(query, live, min, max);
    return TRUE;
  }
  // Upstream wants its buffers back (a decoder reconfiguring): let them go.
  if (direction == GST_PAD_SINK && GST_QUERY_TYPE(query) == GST_QUERY_DRAIN)
    gst_saliency_crop_drain(self);
  return GST_BASE_TRANSFORM_CLASS(parent_class)->query(trans, direction, query);
}
