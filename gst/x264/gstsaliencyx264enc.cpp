/* gst-saliency: saliencyx264enc element
 *
 * This program is free software; you can redistribute it and/or modify it
 * under the terms of the GNU General Public License as published by the Free
 * Software Foundation; either version 2 of the License, or (at your option)
 * any later version (it links libx264, which is GPL).
 *
 * This program is distributed in the hope that it will be useful, but WITHOUT
 * ANY WARRANTY; without even the implied warranty of MERCHANTABILITY or FITNESS
 * FOR A PARTICULAR PURPOSE. See the GNU General Public License for more
 * details.
 */
/**
 * SECTION:element-saliencyx264enc
 * @title: saliencyx264enc
 *
 * An H.264 encoder (libx264) that spends the bits where people look. For
 * every frame carrying a #GstSaliencyMeta (from the `saliency` element) it
 * averages the map over each 16x16 macroblock and hands libx264 one QP
 * offset per macroblock (`x264_picture_t.prop.quant_offsets`, ecosystem.md
 * 4.3): salient macroblocks get a lower QP, the rest a higher one. The
 * offsets depend on each macroblock's saliency relative to the frame's mean
 * (`mapping`, by default -3 × strength × log2(s/mean)) and rate control keeps
 * the bitrate; `strength` scales them and `max-qp-offset` bounds them.
 *
 * `strength=0` or a frame without a meta is encoded exactly as plain libx264
 * with the same settings would encode it (the test suite checks the bytes).
 * libx264 applies offsets only with adaptive quantisation on; `tune=psnr`
 * turns it off, so with `strength` > 0 at start-up the element turns
 * variance AQ back on.
 *
 * Output is H.264 byte-stream, one access unit per buffer, SPS/PPS repeated
 * at every keyframe; or stream-format=avc with codec_data when downstream
 * accepts only that (mp4mux without h264parse). The latency is libx264's
 * maximum frame delay (look-ahead, B-frames, threads).
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 filesrc location=in.mp4 ! decodebin ! videoconvert ! saliency ! \
 *     videoconvert ! saliencyx264enc strength=1 bitrate=1000 ! h264parse ! mp4mux ! \
 *     filesink location=out.mp4
 * ]|
 *
 * Since: 0.1
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/pbutils/codec-utils.h>
#include <gst/saliency/gstsaliencymeta.h>
#include <gst/video/video.h>

#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

#include "gstsaliencyx264enc.h"

extern "C" {
#include <x264.h>
}

#include "salmaps/qp_map.hpp"
#include "salx264/params.hpp"

GST_DEBUG_CATEGORY_STATIC(gst_saliency_x264_enc_debug);
#define GST_CAT_DEFAULT gst_saliency_x264_enc_debug

enum {
  PROP_0,
  PROP_STRENGTH,
  PROP_MAX_QP_OFFSET,
  PROP_MAPPING,
  PROP_RC_MODE,
  PROP_BITRATE,
  PROP_CRF,
  PROP_VBV_BUF_CAPACITY,
  PROP_SPEED_PRESET,
  PROP_TUNE,
  PROP_KEY_INT_MAX,
  PROP_THREADS,
  PROP_OPTION_STRING,
};

/* Rate control (x264.h X264_RC_*). */
typedef enum {
  GST_SALIENCY_X264_RC_ABR,
  GST_SALIENCY_X264_RC_CBR,
  GST_SALIENCY_X264_RC_CRF,
} GstSaliencyX264RcMode;

/* How saliency becomes a QP offset (model::QpMapping). */
typedef enum {
  GST_SALIENCY_X264_MAPPING_LOG_RATIO,
  GST_SALIENCY_X264_MAPPING_LINEAR,
} GstSaliencyX264Mapping;

/* Indices into x264_preset_names, plus "none". */
typedef enum {
  GST_SALIENCY_X264_TUNE_NONE,
  GST_SALIENCY_X264_TUNE_FILM,
  GST_SALIENCY_X264_TUNE_ANIMATION,
  GST_SALIENCY_X264_TUNE_GRAIN,
  GST_SALIENCY_X264_TUNE_STILLIMAGE,
  GST_SALIENCY_X264_TUNE_PSNR,
  GST_SALIENCY_X264_TUNE_SSIM,
  GST_SALIENCY_X264_TUNE_FASTDECODE,
  GST_SALIENCY_X264_TUNE_ZEROLATENCY,
} GstSaliencyX264Tune;

#define DEFAULT_STRENGTH 1.0
#define DEFAULT_MAX_QP_OFFSET 8.0
#define DEFAULT_MAPPING GST_SALIENCY_X264_MAPPING_LOG_RATIO
#define DEFAULT_RC_MODE GST_SALIENCY_X264_RC_ABR
#define DEFAULT_BITRATE 2048
#define DEFAULT_CRF 23.0
#define DEFAULT_VBV_BUF_CAPACITY 600
#define DEFAULT_SPEED_PRESET 5 /* "medium" in x264_preset_names */
#define DEFAULT_TUNE GST_SALIENCY_X264_TUNE_NONE
#define DEFAULT_KEY_INT_MAX 0
#define DEFAULT_THREADS 0

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE(
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS("video/x-raw, format = (string) { I420, NV12 }, "
                    "width = (int) [ 16, 16384 ], height = (int) [ 16, 16384 ], "
                    "framerate = (fraction) [ 0/1, MAX ]"));

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE(
    "src", GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS("video/x-h264, stream-format = (string) { byte-stream, avc }, "
                    "alignment = (string) au, "
                    "width = (int) [ 16, 16384 ], height = (int) [ 16, 16384 ], "
                    "framerate = (fraction) [ 0/1, MAX ]"));

namespace {

/* Property values; start-up settings are read when the encoder opens. */
struct Settings {
  double strength = DEFAULT_STRENGTH;
  double max_qp_offset = DEFAULT_MAX_QP_OFFSET;
  GstSaliencyX264Mapping mapping = DEFAULT_MAPPING;
  GstSaliencyX264RcMode rc_mode = DEFAULT_RC_MODE;
  guint bitrate_kbps = DEFAULT_BITRATE;
  double crf = DEFAULT_CRF;
  guint vbv_buf_capacity_ms = DEFAULT_VBV_BUF_CAPACITY;
  gint speed_preset = DEFAULT_SPEED_PRESET;
  GstSaliencyX264Tune tune = DEFAULT_TUNE;
  guint key_int_max = DEFAULT_KEY_INT_MAX;
  guint threads = DEFAULT_THREADS;
  std::string option_string; /* "key=value:key=value", x264_param_parse names */
};

}  // namespace

struct GstSaliencyX264EncPrivate {
  Settings settings;         /* guarded by the object lock */
  x264_t *encoder = nullptr; /* streaming thread only */
  GstVideoCodecState *input_state = nullptr;
  GstClockTime frame_duration = GST_CLOCK_TIME_NONE;
  bool avc = false; /* stream-format=avc (length-prefixed, codec_data) instead of byte-stream */
};

struct _GstSaliencyX264Enc {
  GstVideoEncoder parent;
  GstSaliencyX264EncPrivate *priv;
};

#define gst_saliency_x264_enc_parent_class parent_class
G_DEFINE_TYPE(GstSaliencyX264Enc, gst_saliency_x264_enc, GST_TYPE_VIDEO_ENCODER);
GST_ELEMENT_REGISTER_DEFINE(saliencyx264enc, "saliencyx264enc", GST_RANK_NONE,
                            GST_TYPE_SALIENCY_X264_ENC);

static void gst_saliency_x264_enc_finalize(GObject *object);
static void gst_saliency_x264_enc_set_property(GObject *object, guint prop_id, const GValue *value,
                                               GParamSpec *pspec);
static void gst_saliency_x264_enc_get_property(GObject *object, guint prop_id, GValue *value,
                                               GParamSpec *pspec);
static gboolean gst_saliency_x264_enc_start(GstVideoEncoder *encoder);
static gboolean gst_saliency_x264_enc_stop(GstVideoEncoder *encoder);
static gboolean gst_saliency_x264_enc_set_format(GstVideoEncoder *encoder,
                                                 GstVideoCodecState *state);
static GstFlowReturn gst_saliency_x264_enc_handle_frame(GstVideoEncoder *encoder,
                                                        GstVideoCodecFrame *frame);
static GstFlowReturn gst_saliency_x264_enc_finish(GstVideoEncoder *encoder);
static gboolean gst_saliency_x264_enc_flush(GstVideoEncoder *encoder);
static gboolean gst_saliency_x264_enc_propose_allocation(GstVideoEncoder *encoder, GstQuery *query);

static GType gst_saliency_x264_rc_mode_get_type(void) {
  static gsize type = 0;
  static const GEnumValue values[] = {
      {GST_SALIENCY_X264_RC_ABR, "Average bitrate (bitrate), no VBV", "abr"},
      {GST_SALIENCY_X264_RC_CBR,
       "Constant bitrate: VBV of vbv-buf-capacity at bitrate, with filler", "cbr"},
      {GST_SALIENCY_X264_RC_CRF, "Constant quality (crf), bitrate ignored", "crf"},
      {0, nullptr, nullptr}};
  if (g_once_init_enter(&type)) {
    GType t = g_enum_register_static("GstSaliencyX264RcMode", values);
    g_once_init_leave(&type, t);
  }
  return (GType)type;
}

static GType gst_saliency_x264_mapping_get_type(void) {
  static gsize type = 0;
  static const GEnumValue values[] = {
      {GST_SALIENCY_X264_MAPPING_LOG_RATIO,
       "-3*strength*log2(s/mean): the rate-distortion optimum for saliency-weighted error",
       "log-ratio"},
      {GST_SALIENCY_X264_MAPPING_LINEAR, "-2*strength*max-qp-offset*(s-mean)", "linear"},
      {0, nullptr, nullptr}};
  if (g_once_init_enter(&type)) {
    GType t = g_enum_register_static("GstSaliencyX264Mapping", values);
    g_once_init_leave(&type, t);
  }
  return (GType)type;
}

/* x264_preset_names, in order ("ultrafast" = 0 ... "placebo" = 9). */
static GType gst_saliency_x264_speed_preset_get_type(void) {
  static gsize type = 0;
  static const GEnumValue values[] = {
      {0, "ultrafast", "ultrafast"}, {1, "superfast", "superfast"}, {2, "veryfast", "veryfast"},
      {3, "faster", "faster"},       {4, "fast", "fast"},           {5, "medium", "medium"},
      {6, "slow", "slow"},           {7, "slower", "slower"},       {8, "veryslow", "veryslow"},
      {9, "placebo", "placebo"},     {0, nullptr, nullptr}};
  if (g_once_init_enter(&type)) {
    GType t = g_enum_register_static("GstSaliencyX264SpeedPreset", values);
    g_once_init_leave(&type, t);
  }
  return (GType)type;
}

static GType gst_saliency_x264_tune_get_type(void) {
  static gsize type = 0;
  static const GEnumValue values[] = {
      {GST_SALIENCY_X264_TUNE_NONE, "No tuning", "none"},
      {GST_SALIENCY_X264_TUNE_FILM, "Film", "film"},
      {GST_SALIENCY_X264_TUNE_ANIMATION, "Animation", "animation"},
      {GST_SALIENCY_X264_TUNE_GRAIN, "Grain", "grain"},
      {GST_SALIENCY_X264_TUNE_STILLIMAGE, "Still image", "stillimage"},
      {GST_SALIENCY_X264_TUNE_PSNR, "PSNR (turns AQ off; re-enabled when strength > 0)", "psnr"},
      {GST_SALIENCY_X264_TUNE_SSIM, "SSIM", "ssim"},
      {GST_SALIENCY_X264_TUNE_FASTDECODE, "Fast decode", "fastdecode"},
      {GST_SALIENCY_X264_TUNE_ZEROLATENCY, "Zero latency: no look-ahead, no B-frames",
       "zerolatency"},
      {0, nullptr, nullptr}};
  if (g_once_init_enter(&type)) {
    GType t = g_enum_register_static("GstSaliencyX264Tune", values);
    g_once_init_leave(&type, t);
  }
  return (GType)type;
}

static void gst_saliency_x264_enc_class_init(GstSaliencyX264EncClass *klass) {
  GObjectClass *gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS(klass);
  GstVideoEncoderClass *venc_class = GST_VIDEO_ENCODER_CLASS(klass);

  GST_DEBUG_CATEGORY_INIT(gst_saliency_x264_enc_debug, "saliencyx264enc", 0,
                          "Saliency-aware H.264 encoder (libx264)");

  gobject_class->finalize = gst_saliency_x264_enc_finalize;
  gobject_class->set_property = gst_saliency_x264_enc_set_property;
  gobject_class->get_property = gst_saliency_x264_enc_get_property;

  const GParamFlags rw = (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  const GParamFlags ready = (GParamFlags)(rw | GST_PARAM_MUTABLE_READY);
  const GParamFlags live = (GParamFlags)(rw | GST_PARAM_CONTROLLABLE | GST_PARAM_MUTABLE_PLAYING);

  /**
   * GstSaliencyX264Enc:strength:
   *
   * How far saliency moves the QP, in [0, 10]. 0 encodes as plain libx264.
   * With mapping=log-ratio a macroblock twice as salient as the frame's mean
   * gets -3 × strength QP (half as salient: +3 × strength); with
   * mapping=linear one 0.5 above the mean gets -strength × max-qp-offset.
   * Offsets are clamped to ±max-qp-offset.
   *
   * Since: 0.1
   */
  g_object_class_install_property(
      gobject_class, PROP_STRENGTH,
      g_param_spec_double("strength", "Strength",
                          "How far saliency moves the per-macroblock QP, in [0, 10]; 0 encodes "
                          "as plain x264. log-ratio: a macroblock twice as salient as the "
                          "frame's mean gets -3*strength QP",
                          0.0, 10.0, DEFAULT_STRENGTH, live));
  /**
   * GstSaliencyX264Enc:max-qp-offset:
   *
   * Bound of the per-macroblock QP offsets, in QP units.
   *
   * Since: 0.1
   */
  g_object_class_install_property(
      gobject_class, PROP_MAX_QP_OFFSET,
      g_param_spec_double("max-qp-offset", "Maximum QP offset",
                          "Per-macroblock QP offsets are clamped to +-this, in QP units "
                          "[0.5, 30]",
                          0.5, 30.0, DEFAULT_MAX_QP_OFFSET, live));
  /**
   * GstSaliencyX264Enc:mapping:
   *
   * How a macroblock's mean saliency s, relative to the frame's mean m,
   * becomes a QP offset: log-ratio (-3 × strength × log2(s/m), the
   * rate-distortion optimum for saliency-weighted squared error) or linear
   * (-2 × strength × max-qp-offset × (s - m), the first mapping).
   *
   * Since: 0.1
   */
  g_object_class_install_property(
      gobject_class, PROP_MAPPING,
      g_param_spec_enum("mapping", "Mapping",
                        "Saliency to QP offset: log-ratio (-3*strength*log2(s/mean)) or linear",
                        gst_saliency_x264_mapping_get_type(), DEFAULT_MAPPING, live));
  /**
   * GstSaliencyX264Enc:rc-mode:
   *
   * Rate control: abr, cbr (VBV at bitrate) or crf (constant quality).
   *
   * Since: 0.1
   */
  g_object_class_install_property(
      gobject_class, PROP_RC_MODE,
      g_param_spec_enum("rc-mode", "Rate control", "Rate control mode: abr, cbr or crf",
                        gst_saliency_x264_rc_mode_get_type(), DEFAULT_RC_MODE, ready));
  /**
   * GstSaliencyX264Enc:bitrate:
   *
   * Target bitrate in kbit/s (abr, cbr).
   *
   * Since: 0.1
   */
  g_object_class_install_property(
      gobject_class, PROP_BITRATE,
      g_param_spec_uint("bitrate", "Bitrate",
                        "Target bitrate in kbit/s for rc-mode abr and cbr [1, 2048000]", 1, 2048000,
                        DEFAULT_BITRATE, ready));
  /**
   * GstSaliencyX264Enc:crf:
   *
   * Constant rate factor for rc-mode=crf (lower is better quality).
   *
   * Since: 0.1
   */
  g_object_class_install_property(
      gobject_class, PROP_CRF,
      g_param_spec_double("crf", "CRF",
                          "Constant quality for rc-mode=crf, in [0, 51] (lower: better)", 0.0, 51.0,
                          DEFAULT_CRF, ready));
  /**
   * GstSaliencyX264Enc:vbv-buf-capacity:
   *
   * VBV buffer size for rc-mode=cbr, in milliseconds of the bitrate.
   *
   * Since: 0.1
   */
  g_object_class_install_property(
      gobject_class, PROP_VBV_BUF_CAPACITY,
      g_param_spec_uint("vbv-buf-capacity", "VBV buffer capacity",
                        "VBV buffer size for rc-mode=cbr, in milliseconds [10, 10000]", 10, 10000,
                        DEFAULT_VBV_BUF_CAPACITY, ready));
  /**
   * GstSaliencyX264Enc:speed-preset:
   *
   * libx264 preset (speed against compression).
   *
   * Since: 0.1
   */
  g_object_class_install_property(
      gobject_class, PROP_SPEED_PRESET,
      g_param_spec_enum("speed-preset", "Speed preset",
                        "libx264 speed preset, ultrafast ... placebo",
                        gst_saliency_x264_speed_preset_get_type(), DEFAULT_SPEED_PRESET, ready));
  /**
   * GstSaliencyX264Enc:tune:
   *
   * libx264 tuning.
   *
   * Since: 0.1
   */
  g_object_class_install_property(
      gobject_class, PROP_TUNE,
      g_param_spec_enum("tune", "Tune", "libx264 tuning", gst_saliency_x264_tune_get_type(),
                        DEFAULT_TUNE, ready));
  /**
   * GstSaliencyX264Enc:key-int-max:
   *
   * Maximal distance between two keyframes, in frames (0: libx264's default, 250).
   *
   * Since: 0.1
   */
  g_object_class_install_property(
      gobject_class, PROP_KEY_INT_MAX,
      g_param_spec_uint("key-int-max", "Key-frame maximal interval",
                        "Maximal distance between two keyframes in frames (0 = x264 default, "
                        "250) [0, 100000]",
                        0, 100000, DEFAULT_KEY_INT_MAX, ready));
  /**
   * GstSaliencyX264Enc:threads:
   *
   * Encoder threads (0: automatic).
   *
   * Since: 0.1
   */
  g_object_class_install_property(
      gobject_class, PROP_THREADS,
      g_param_spec_uint("threads", "Threads", "Encoder threads (0 = automatic) [0, 64]", 0, 64,
                        DEFAULT_THREADS, ready));
  /**
   * GstSaliencyX264Enc:option-string:
   *
   * Further libx264 settings as `key=value` pairs separated by `:`, with
   * libx264's own option names (as x264enc's option-string), for example
   * `aq-mode=3:bframes=2`. Applied after the preset, the tune and the other
   * properties, and the same whatever the strength, so a plain encode
   * (strength 0) and a saliency encode differ only by the offsets. Options
   * that would change the input or output format (size, csp, fps, timebase,
   * annexb, repeat-headers) are ignored: the caps decide those. An unknown
   * option or a bad value fails the start of the stream with an element error.
   *
   * Since: 0.1
   */
  g_object_class_install_property(
      gobject_class, PROP_OPTION_STRING,
      g_param_spec_string("option-string", "Option string",
                          "Further libx264 settings, key=value pairs separated by ':' "
                          "(libx264 option names, e.g. aq-mode=3:bframes=2), applied after "
                          "the other properties",
                          "", ready));

  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_add_static_pad_template(element_class, &src_template);
  gst_element_class_set_static_metadata(
      element_class, "Saliency-aware x264 H.264 encoder", "Codec/Encoder/Video",
      "H.264 encoder (libx264) that lowers the QP where the saliency map is high",
      "gst-saliency project");

  venc_class->start = GST_DEBUG_FUNCPTR(gst_saliency_x264_enc_start);
  venc_class->stop = GST_DEBUG_FUNCPTR(gst_saliency_x264_enc_stop);
  venc_class->set_format = GST_DEBUG_FUNCPTR(gst_saliency_x264_enc_set_format);
  venc_class->handle_frame = GST_DEBUG_FUNCPTR(gst_saliency_x264_enc_handle_frame);
  venc_class->finish = GST_DEBUG_FUNCPTR(gst_saliency_x264_enc_finish);
  venc_class->flush = GST_DEBUG_FUNCPTR(gst_saliency_x264_enc_flush);
  venc_class->propose_allocation = GST_DEBUG_FUNCPTR(gst_saliency_x264_enc_propose_allocation);

  gst_type_mark_as_plugin_api(gst_saliency_x264_rc_mode_get_type(), (GstPluginAPIFlags)0);
  gst_type_mark_as_plugin_api(gst_saliency_x264_speed_preset_get_type(), (GstPluginAPIFlags)0);
  gst_type_mark_as_plugin_api(gst_saliency_x264_tune_get_type(), (GstPluginAPIFlags)0);
  gst_type_mark_as_plugin_api(gst_saliency_x264_mapping_get_type(), (GstPluginAPIFlags)0);
}

static void gst_saliency_x264_enc_init(GstSaliencyX264Enc *self) {
  self->priv = new GstSaliencyX264EncPrivate();
}

static void gst_saliency_x264_enc_finalize(GObject *object) {
  GstSaliencyX264Enc *self = GST_SALIENCY_X264_ENC(object);
  if (self->priv->encoder) x264_encoder_close(self->priv->encoder);
  if (self->priv->input_state) gst_video_codec_state_unref(self->priv->input_state);
  delete self->priv;
  G_OBJECT_CLASS(parent_class)->finalize(object);
}

static void gst_saliency_x264_enc_set_property(GObject *object, guint prop_id, const GValue *value,
                                               GParamSpec *pspec) {
  GstSaliencyX264Enc *self = GST_SALIENCY_X264_ENC(object);
  GST_OBJECT_LOCK(self);
  Settings &s = self->priv->settings;
  switch (prop_id) {
    case PROP_STRENGTH:
      s.strength = g_value_get_double(value);
      break;
    case PROP_MAX_QP_OFFSET:
      s.max_qp_offset = g_value_get_double(value);
      break;
    case PROP_MAPPING:
      s.mapping = (GstSaliencyX264Mapping)g_value_get_enum(value);
      break;
    case PROP_RC_MODE:
      s.rc_mode = (GstSaliencyX264RcMode)g_value_get_enum(value);
      break;
    case PROP_BITRATE:
      s.bitrate_kbps = g_value_get_uint(value);
      break;
    case PROP_CRF:
      s.crf = g_value_get_double(value);
      break;
    case PROP_VBV_BUF_CAPACITY:
      s.vbv_buf_capacity_ms = g_value_get_uint(value);
      break;
    case PROP_SPEED_PRESET:
      s.speed_preset = g_value_get_enum(value);
      break;
    case PROP_TUNE:
      s.tune = (GstSaliencyX264Tune)g_value_get_enum(value);
      break;
    case PROP_KEY_INT_MAX:
      s.key_int_max = g_value_get_uint(value);
      break;
    case PROP_THREADS:
      s.threads = g_value_get_uint(value);
      break;
    case PROP_OPTION_STRING: {
      const gchar *text = g_value_get_string(value);
      s.option_string = text ? text : "";
      break;
    }
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK(self);
}

static void gst_saliency_x264_enc_get_property(GObject *object, guint prop_id, GValue *value,
                                               GParamSpec *pspec) {
  GstSaliencyX264Enc *self = GST_SALIENCY_X264_ENC(object);
  GST_OBJECT_LOCK(self);
  const Settings &s = self->priv->settings;
  switch (prop_id) {
    case PROP_STRENGTH:
      g_value_set_double(value, s.strength);
      break;
    case PROP_MAX_QP_OFFSET:
      g_value_set_double(value, s.max_qp_offset);
      break;
    case PROP_MAPPING:
      g_value_set_enum(value, s.mapping);
      break;
    case PROP_RC_MODE:
      g_value_set_enum(value, s.rc_mode);
      break;
    case PROP_BITRATE:
      g_value_set_uint(value, s.bitrate_kbps);
      break;
    case PROP_CRF:
      g_value_set_double(value, s.crf);
      break;
    case PROP_VBV_BUF_CAPACITY:
      g_value_set_uint(value, s.vbv_buf_capacity_ms);
      break;
    case PROP_SPEED_PRESET:
      g_value_set_enum(value, s.speed_preset);
      break;
    case PROP_TUNE:
      g_value_set_enum(value, s.tune);
      break;
    case PROP_KEY_INT_MAX:
      g_value_set_uint(value, s.key_int_max);
      break;
    case PROP_THREADS:
      g_value_set_uint(value, s.threads);
      break;
    case PROP_OPTION_STRING:
      g_value_set_string(value, s.option_string.c_str());
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK(self);
}

static Settings gst_saliency_x264_enc_settings(GstSaliencyX264Enc *self) {
  GST_OBJECT_LOCK(self);
  Settings s = self->priv->settings;
  GST_OBJECT_UNLOCK(self);
  return s;
}

/* libx264's messages go to our debug category. */
static void gst_saliency_x264_enc_log(void *priv, int level, const char *format, va_list args) {
  GstSaliencyX264Enc *self = GST_SALIENCY_X264_ENC(priv);
  char line[512];
  vsnprintf(line, sizeof line, format, args);
  g_strchomp(line);
  if (level <= X264_LOG_WARNING)
    GST_WARNING_OBJECT(self, "libx264: %s", line);
  else
    GST_DEBUG_OBJECT(self, "libx264: %s", line);
}

static void gst_saliency_x264_enc_close(GstSaliencyX264Enc *self) {
  if (self->priv->encoder) {
    x264_encoder_close(self->priv->encoder);
    self->priv->encoder = nullptr;
  }
}

static gboolean gst_saliency_x264_enc_start(GstVideoEncoder *encoder) {
  /* B-frames make the first DTS earlier than the first PTS. As gstx264enc
   * does, let the base class shift timestamps (and the segment, so running
   * times are unchanged) so that no DTS is negative. */
  gst_video_encoder_set_min_pts(encoder, GST_SECOND * 60 * 60 * 1000);
  return TRUE;
}

static gboolean gst_saliency_x264_enc_stop(GstVideoEncoder *encoder) {
  GstSaliencyX264Enc *self = GST_SALIENCY_X264_ENC(encoder);
  gst_saliency_x264_enc_close(self);
  if (self->priv->input_state) {
    gst_video_codec_state_unref(self->priv->input_state);
    self->priv->input_state = nullptr;
  }
  return TRUE;
}

/* Builds x264_param_t from the settings and the input caps, with the builder
 * saliency-encode-eval uses too (libsalx264), so that both encode alike. */
static gboolean gst_saliency_x264_enc_fill_params(GstSaliencyX264Enc *self,
                                                  const GstVideoInfo *info, x264_param_t *p) {
  const Settings s = gst_saliency_x264_enc_settings(self);
  salx264::EncoderSettings es;
  es.preset = x264_preset_names[s.speed_preset];
  if (s.tune != GST_SALIENCY_X264_TUNE_NONE)
    es.tune = x264_tune_names[s.tune - GST_SALIENCY_X264_TUNE_FILM];
  switch (s.rc_mode) {
    case GST_SALIENCY_X264_RC_ABR:
      es.rc = salx264::RateControl::ABR;
      break;
    case GST_SALIENCY_X264_RC_CBR:
      es.rc = salx264::RateControl::CBR;
      break;
    case GST_SALIENCY_X264_RC_CRF:
      es.rc = salx264::RateControl::CRF;
      break;
  }
  es.bitrate_kbps = int(s.bitrate_kbps);
  es.crf = s.crf;
  es.vbv_buffer_ms = int(s.vbv_buf_capacity_ms);
  es.key_int_max = int(s.key_int_max);
  es.threads = int(s.threads);
  es.option_string = s.option_string;
  /* Offsets need AQ on (salx264::enable_aq_for_offsets). Asked for only when
   * they will be used, so that strength 0 stays plain x264. */
  es.qp_offsets = s.strength > 0;

  salx264::StreamFormat format;
  format.csp =
      GST_VIDEO_INFO_FORMAT(info) == GST_VIDEO_FORMAT_NV12 ? X264_CSP_NV12 : X264_CSP_I420;
  format.width = GST_VIDEO_INFO_WIDTH(info);
  format.height = GST_VIDEO_INFO_HEIGHT(info);
  int fps_n = GST_VIDEO_INFO_FPS_N(info), fps_d = GST_VIDEO_INFO_FPS_D(info);
  if (fps_n <= 0 || fps_d <= 0) {
    fps_n = 25; /* variable or unknown rate: rate control assumes 25 fps */
    fps_d = 1;
  }
  /* PTS are frame numbers (system_frame_number), so the timebase is 1/fps. */
  format.fps_num = fps_n;
  format.fps_den = fps_d;
  format.sar_width = GST_VIDEO_INFO_PAR_N(info);
  format.sar_height = GST_VIDEO_INFO_PAR_D(info);
  /* byte-stream: start codes, SPS/PPS at every keyframe; avc: 4-byte lengths,
   * SPS/PPS only in the caps' codec_data (as gstx264enc). */
  format.annexb = !self->priv->avc;
  format.repeat_headers = !self->priv->avc;
  format.log = gst_saliency_x264_enc_log;
  format.log_private = self;
  format.log_level = X264_LOG_DEBUG;

  try {
    if (salx264::build_params(*p, es, format))
      GST_INFO_OBJECT(self, "AQ on at strength 0: per-macroblock QP offsets need it");
  } catch (const salx264::OptionError &e) {
    GST_ELEMENT_ERROR(self, LIBRARY, SETTINGS, ("Invalid option-string."),
                      ("option-string: %s", e.what()));
    return FALSE;
  } catch (const std::invalid_argument &e) {
    GST_ELEMENT_ERROR(self, LIBRARY, SETTINGS, ("Invalid x264 preset or tune."), ("%s", e.what()));
    return FALSE;
  }
  GST_INFO_OBJECT(self,
                  "%dx%d @ %d/%d, preset %s, tune %s, rc %d, bitrate %u kbit/s, crf %.1f, "
                  "strength %.2f, max offset %.1f, mapping %d",
                  p->i_width, p->i_height, fps_n, fps_d, es.preset.c_str(),
                  es.tune.empty() ? "none" : es.tune.c_str(), int(s.rc_mode), s.bitrate_kbps,
                  s.crf, s.strength, s.max_qp_offset, int(s.mapping));
  return TRUE;
}

/* avcC (ISO/IEC 14496-15 5.2.4.1) from the length-prefixed SPS and PPS. */
static void gst_saliency_x264_enc_set_codec_data(GstCaps *caps, const x264_nal_t *nals,
                                                 int n_nals) {
  const x264_nal_t *sps = nullptr, *pps = nullptr;
  for (int i = 0; i < n_nals; ++i) {
    if (nals[i].i_type == NAL_SPS) sps = &nals[i];
    if (nals[i].i_type == NAL_PPS) pps = &nals[i];
  }
  if (!sps || !pps || sps->i_payload < 8 || pps->i_payload < 5) return;
  const guint8 *s = sps->p_payload + 4; /* skip the 4-byte length */
  const int sps_len = sps->i_payload - 4, pps_len = pps->i_payload - 4;
  std::vector<guint8> avcc = {1,
                              s[1],
                              s[2],
                              s[3],
                              0xff /* 4-byte lengths */,
                              0xe1 /* 1 SPS */,
                              guint8(sps_len >> 8),
                              guint8(sps_len & 0xff)};
  avcc.insert(avcc.end(), s, s + sps_len);
  avcc.push_back(1); /* 1 PPS */
  avcc.push_back(guint8(pps_len >> 8));
  avcc.push_back(guint8(pps_len & 0xff));
  avcc.insert(avcc.end(), pps->p_payload + 4, pps->p_payload + 4 + pps_len);
  GstBuffer *codec_data = gst_buffer_new_memdup(avcc.data(), avcc.size());
  gst_caps_set_simple(caps, "codec_data", GST_TYPE_BUFFER, codec_data, nullptr);
  gst_buffer_unref(codec_data);
}

static gboolean gst_saliency_x264_enc_open(GstSaliencyX264Enc *self) {
  GstSaliencyX264EncPrivate *priv = self->priv;
  GstVideoEncoder *venc = GST_VIDEO_ENCODER(self);
  gst_saliency_x264_enc_close(self);

  /* H.264 crops 4:2:0 pictures in 2-pixel units: odd sizes cannot be coded. */
  const GstVideoInfo *in = &priv->input_state->info;
  if (GST_VIDEO_INFO_WIDTH(in) % 2 || GST_VIDEO_INFO_HEIGHT(in) % 2) {
    GST_ELEMENT_ERROR(self, STREAM, FORMAT, ("Frame size not supported by H.264 4:2:0."),
                      ("width and height must be even, got %dx%d (crop or scale first)",
                       GST_VIDEO_INFO_WIDTH(in), GST_VIDEO_INFO_HEIGHT(in)));
    return FALSE;
  }
  /* Byte-stream unless downstream takes only avc (mp4mux without h264parse). */
  priv->avc = false;
  if (GstCaps *allowed = gst_pad_get_allowed_caps(GST_VIDEO_ENCODER_SRC_PAD(venc))) {
    GstCaps *bs = gst_caps_from_string("video/x-h264, stream-format = (string) byte-stream");
    GstCaps *avc = gst_caps_from_string("video/x-h264, stream-format = (string) avc");
    priv->avc = !gst_caps_can_intersect(allowed, bs) && gst_caps_can_intersect(allowed, avc);
    gst_caps_unref(bs);
    gst_caps_unref(avc);
    gst_caps_unref(allowed);
  }
  x264_param_t params;
  if (!gst_saliency_x264_enc_fill_params(self, &priv->input_state->info, &params)) return FALSE;
  priv->encoder = x264_encoder_open(&params);
  if (!priv->encoder) {
    GST_ELEMENT_ERROR(self, LIBRARY, INIT, ("Could not open the x264 encoder."),
                      ("x264_encoder_open failed for %dx%d (see the libx264 warnings)",
                       params.i_width, params.i_height));
    return FALSE;
  }

  /* Output caps, with profile and level read from the SPS by pbutils, as
   * upstream x264enc does. */
  GstCaps *caps = gst_caps_new_simple("video/x-h264", "stream-format", G_TYPE_STRING,
                                      priv->avc ? "avc" : "byte-stream", "alignment", G_TYPE_STRING,
                                      "au", nullptr);
  x264_nal_t *nals = nullptr;
  int n_nals = 0;
  if (x264_encoder_headers(priv->encoder, &nals, &n_nals) >= 0) {
    if (priv->avc) gst_saliency_x264_enc_set_codec_data(caps, nals, n_nals);
    for (int i = 0; i < n_nals; ++i) {
      if (nals[i].i_type != NAL_SPS) continue;
      /* A 3- or 4-byte start code (or 4-byte length), the NAL header, then
       * the SPS from profile_idc on, which pbutils reads. */
      const guint8 *sps = nals[i].p_payload;
      const int start = (!priv->avc && nals[i].i_payload > 4 && sps[2] == 1) ? 3 : 4;
      if (nals[i].i_payload >= start + 4 &&
          !gst_codec_utils_h264_caps_set_level_and_profile(caps, sps + start + 1,
                                                           guint(nals[i].i_payload - start - 1)))
        GST_WARNING_OBJECT(self, "could not read profile and level from the SPS");
      break;
    }
  }
  GstVideoCodecState *out = gst_video_encoder_set_output_state(venc, caps, priv->input_state);
  GST_DEBUG_OBJECT(self, "output caps %" GST_PTR_FORMAT, out->caps);
  gst_video_codec_state_unref(out);

  /* Latency: the frames libx264 may hold (look-ahead, B-frames, frame threads). */
  const GstVideoInfo *info = &priv->input_state->info;
  const int fps_n = GST_VIDEO_INFO_FPS_N(info) > 0 ? GST_VIDEO_INFO_FPS_N(info) : 25;
  const int fps_d = GST_VIDEO_INFO_FPS_N(info) > 0 ? GST_VIDEO_INFO_FPS_D(info) : 1;
  priv->frame_duration = gst_util_uint64_scale(GST_SECOND, fps_d, fps_n);
  const int delayed = x264_encoder_maximum_delayed_frames(priv->encoder);
  const GstClockTime latency = gst_util_uint64_scale(GST_SECOND, guint64(delayed) * fps_d, fps_n);
  GST_INFO_OBJECT(self, "latency %d frames (%" GST_TIME_FORMAT ")", delayed,
                  GST_TIME_ARGS(latency));
  gst_video_encoder_set_latency(venc, latency, latency);
  return TRUE;
}

/* Pushes one encoded access unit, if libx264 returned one. */
static GstFlowReturn gst_saliency_x264_enc_push_nals(GstSaliencyX264Enc *self, x264_nal_t *nals,
                                                     int frame_size, const x264_picture_t *pic_out,
                                                     gboolean send) {
  if (frame_size <= 0) return GST_FLOW_OK;
  GstVideoEncoder *venc = GST_VIDEO_ENCODER(self);
  GstVideoCodecFrame *frame = gst_video_encoder_get_frame(venc, int(pic_out->i_pts));
  if (!frame) {
    GST_ELEMENT_ERROR(self, STREAM, ENCODE, ("Encoder returned an unknown frame."),
                      ("no pending frame %" G_GINT64_FORMAT, (gint64)pic_out->i_pts));
    return GST_FLOW_ERROR;
  }
  if (!send) {
    gst_video_codec_frame_unref(frame);
    return GST_FLOW_OK;
  }
  /* libx264 reorders: its DTS trails the PTS by (i_pts - i_dts) frames. */
  if (GST_CLOCK_TIME_IS_VALID(frame->pts) && GST_CLOCK_TIME_IS_VALID(self->priv->frame_duration)) {
    const gint64 behind = pic_out->i_pts - pic_out->i_dts;
    const GstClockTime shift = behind > 0 ? GstClockTime(behind) * self->priv->frame_duration : 0;
    frame->dts = frame->pts > shift ? frame->pts - shift : 0;
  }
  /* libx264 lays the NAL units of one picture out contiguously. */
  frame->output_buffer = gst_buffer_new_memdup(nals[0].p_payload, gsize(frame_size));
  if (pic_out->b_keyframe)
    GST_VIDEO_CODEC_FRAME_SET_SYNC_POINT(frame);
  else
    GST_VIDEO_CODEC_FRAME_UNSET_SYNC_POINT(frame);
  GST_LOG_OBJECT(self, "frame %u: %d bytes, %s", frame->system_frame_number, frame_size,
                 pic_out->b_keyframe ? "keyframe" : "delta");
  return gst_video_encoder_finish_frame(venc, frame);
}

/* Drains the frames libx264 holds; pushes them when `send`. */
static GstFlowReturn gst_saliency_x264_enc_drain(GstSaliencyX264Enc *self, gboolean send) {
  x264_t *enc = self->priv->encoder;
  GstFlowReturn ret = GST_FLOW_OK;
  while (enc && x264_encoder_delayed_frames(enc) > 0) {
    x264_nal_t *nals = nullptr;
    int n_nals = 0;
    x264_picture_t pic_out;
    const int size = x264_encoder_encode(enc, &nals, &n_nals, nullptr, &pic_out);
    if (size < 0) {
      GST_ELEMENT_ERROR(self, STREAM, ENCODE, ("Encoding failed."),
                        ("x264_encoder_encode returned %d while draining", size));
      return GST_FLOW_ERROR;
    }
    ret = gst_saliency_x264_enc_push_nals(self, nals, size, &pic_out, send);
    if (ret != GST_FLOW_OK) break;
  }
  return ret;
}

static gboolean gst_saliency_x264_enc_set_format(GstVideoEncoder *encoder,
                                                 GstVideoCodecState *state) {
  GstSaliencyX264Enc *self = GST_SALIENCY_X264_ENC(encoder);
  /* New caps: the old stream's frames leave first, with the old settings. */
  if (self->priv->encoder) gst_saliency_x264_enc_drain(self, TRUE);
  if (self->priv->input_state) gst_video_codec_state_unref(self->priv->input_state);
  self->priv->input_state = gst_video_codec_state_ref(state);
  return gst_saliency_x264_enc_open(self);
}

/* Per-macroblock offsets for this frame, or empty when it is to be encoded plainly. */
static gboolean gst_saliency_x264_enc_offsets(GstSaliencyX264Enc *self, GstBuffer *buffer,
                                              const Settings &s, int width, int height,
                                              std::vector<float> &offsets) {
  offsets.clear();
  if (s.strength <= 0) return TRUE;
  GstSaliencyMeta *meta = gst_buffer_get_saliency_meta(buffer);
  if (!meta) {
    GST_LOG_OBJECT(self, "no saliency meta: plain encoding");
    return TRUE;
  }
  guint mw = 0, mh = 0;
  GBytes *bytes = gst_saliency_meta_get_map(meta, &mw, &mh);
  gsize size = 0;
  const float *values = static_cast<const float *>(g_bytes_get_data(bytes, &size));
  gboolean ok = TRUE;
  try {
    if (size < gsize(mw) * mh * sizeof(float))
      throw std::invalid_argument("saliency meta holds fewer values than its size");
    offsets = model::saliency_to_qp_offsets(
        model::MapView{values, int(mw), int(mh)}, width, height,
        {s.strength, s.max_qp_offset,
         s.mapping == GST_SALIENCY_X264_MAPPING_LINEAR ? model::QpMapping::Linear
                                                       : model::QpMapping::LogRatio});
  } catch (const std::exception &e) {
    GST_ELEMENT_ERROR(self, STREAM, FORMAT, ("Invalid saliency map."), ("%s", e.what()));
    ok = FALSE;
  }
  g_bytes_unref(bytes);
  return ok;
}

static GstFlowReturn gst_saliency_x264_enc_handle_frame(GstVideoEncoder *encoder,
                                                        GstVideoCodecFrame *frame) {
  GstSaliencyX264Enc *self = GST_SALIENCY_X264_ENC(encoder);
  GstSaliencyX264EncPrivate *priv = self->priv;
  if (!priv->encoder || !priv->input_state) {
    gst_video_codec_frame_unref(frame);
    GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, ("Encoder not configured."),
                      ("a frame arrived before caps"));
    return GST_FLOW_NOT_NEGOTIATED;
  }
  /* Controlled properties follow stream time, as in every GStreamer element
   * (a seek or an offset segment does not shift the control curve). From the
   * input buffer's own PTS: frame->pts carries the base class's min-pts
   * offset (set in open), which the input segment does not. */
  const GstClockTime stream_time = gst_segment_to_stream_time(
      &GST_VIDEO_ENCODER(self)->input_segment, GST_FORMAT_TIME, GST_BUFFER_PTS(frame->input_buffer));
  if (GST_CLOCK_TIME_IS_VALID(stream_time)) gst_object_sync_values(GST_OBJECT(self), stream_time);
  const Settings s = gst_saliency_x264_enc_settings(self);
  const GstVideoInfo *info = &priv->input_state->info;

  std::vector<float> offsets;
  if (!gst_saliency_x264_enc_offsets(self, frame->input_buffer, s, GST_VIDEO_INFO_WIDTH(info),
                                     GST_VIDEO_INFO_HEIGHT(info), offsets)) {
    gst_video_codec_frame_unref(frame);
    return GST_FLOW_ERROR;
  }

  GstVideoFrame vframe;
  if (!gst_video_frame_map(&vframe, const_cast<GstVideoInfo *>(info), frame->input_buffer,
                           GST_MAP_READ)) {
    gst_video_codec_frame_unref(frame);
    GST_ELEMENT_ERROR(self, STREAM, ENCODE, ("Could not map the input frame."), (nullptr));
    return GST_FLOW_ERROR;
  }
  x264_picture_t pic;
  x264_picture_init(&pic);
  pic.img.i_csp =
      GST_VIDEO_INFO_FORMAT(info) == GST_VIDEO_FORMAT_NV12 ? X264_CSP_NV12 : X264_CSP_I420;
  pic.img.i_plane = GST_VIDEO_FRAME_N_PLANES(&vframe);
  for (int i = 0; i < pic.img.i_plane; ++i) {
    pic.img.plane[i] = static_cast<uint8_t *>(GST_VIDEO_FRAME_PLANE_DATA(&vframe, i));
    pic.img.i_stride[i] = GST_VIDEO_FRAME_PLANE_STRIDE(&vframe, i);
  }
  /* The frame number is the PTS libx264 sees; pic_out.i_pts finds the frame again. */
  pic.i_pts = frame->system_frame_number;
  pic.i_type = GST_VIDEO_CODEC_FRAME_IS_FORCE_KEYFRAME(frame) ? X264_TYPE_IDR : X264_TYPE_AUTO;
  if (!offsets.empty()) {
    /* libx264 keeps the array until the frame is encoded, then frees it. */
    float *copy = static_cast<float *>(g_memdup2(offsets.data(), offsets.size() * sizeof(float)));
    pic.prop.quant_offsets = copy;
    pic.prop.quant_offsets_free = g_free;
  }
  gst_video_codec_frame_unref(frame); /* the base class keeps it in its pending list */

  x264_nal_t *nals = nullptr;
  int n_nals = 0;
  x264_picture_t pic_out;
  const int size = x264_encoder_encode(priv->encoder, &nals, &n_nals, &pic, &pic_out);
  gst_video_frame_unmap(&vframe);
  if (size < 0) {
    GST_ELEMENT_ERROR(self, STREAM, ENCODE, ("Encoding failed."),
                      ("x264_encoder_encode returned %d", size));
    return GST_FLOW_ERROR;
  }
  return gst_saliency_x264_enc_push_nals(self, nals, size, &pic_out, TRUE);
}

static GstFlowReturn gst_saliency_x264_enc_finish(GstVideoEncoder *encoder) {
  return gst_saliency_x264_enc_drain(GST_SALIENCY_X264_ENC(encoder), TRUE);
}

static gboolean gst_saliency_x264_enc_flush(GstVideoEncoder *encoder) {
  GstSaliencyX264Enc *self = GST_SALIENCY_X264_ENC(encoder);
  /* Drop what libx264 holds and start a fresh stream (a new IDR). */
  gst_saliency_x264_enc_close(self);
  if (self->priv->input_state) return gst_saliency_x264_enc_open(self);
  return TRUE;
}

static gboolean gst_saliency_x264_enc_propose_allocation(GstVideoEncoder *encoder,
                                                         GstQuery *query) {
  gst_query_add_allocation_meta(query, GST_VIDEO_META_API_TYPE, nullptr);
  return GST_VIDEO_ENCODER_CLASS(parent_class)->propose_allocation(encoder, query);
}
