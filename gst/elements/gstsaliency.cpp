/* gst-saliency: saliency element
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
 * SECTION:element-saliency
 * @title: saliency
 *
 * Predicts where people look in each frame and attaches the saliency map as
 * #GstSaliencyMeta (float32 in [0,1], at the model's output resolution). The
 * video passes unchanged: every input buffer leaves exactly once, in order,
 * with its timestamps, duration and flags, except across a flush.
 *
 * Models: `stsanet` (TMM 2021) looks at 32 frames around the target frame, so
 * a frame leaves 16 frames after it arrived; the element holds those buffers
 * and adds 16 frame durations to the LATENCY answer. `stranet` (TIP 2019)
 * uses optical flow and holds 5 frames. `baseline` needs no weights and holds
 * none. At EOS, on a new segment, on a caps change and on a DISCONT buffer
 * the held frames are drained: their windows are completed by repeating the
 * last frame, so each still gets its map. A flush drops them.
 *
 * When the input carries #GstOpticalFlowMeta (from `opticalflow`), models that
 * use flow take it from there; otherwise they compute it themselves.
 *
 * Inference runs in the streaming thread. Put a `queue` in front of the
 * element so that decoding and capture run in their own thread, and one after
 * it for live sources and display.
 *
 * Input is packed 8-bit RGB in any byte order, GRAY8, or the 4:2:0 YUV that
 * decoders and encoders exchange (I420, NV12; BT.601, BT.709 or BT.2020
 * matrix and range from the caps' colorimetry), so a decoder, `saliency` and
 * `saliencyx264enc` chain without `videoconvert`. Metas do not survive elements that drop
 * video-size metas (videocrop, videoflip): put `saliency` after them.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 filesrc location=in.mp4 ! decodebin ! videoconvert ! opticalflow ! queue ! \
 *     saliency model=stsanet weights=stsanet.pth ! saliencyoverlay ! videoconvert ! autovideosink
 * ]|
 *
 * Since: 0.1
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/saliency/gstsaliencymeta.h>
#include <gst/video/video.h>

#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "gstsaliency.h"
#include "salmodel/predictor.hpp"
#include "video_formats.hpp"

GST_DEBUG_CATEGORY_STATIC(gst_saliency_debug);
#define GST_CAT_DEFAULT gst_saliency_debug

enum {
  PROP_0,
  PROP_MODEL,
  PROP_WEIGHTS,
  PROP_DEVICE,
  PROP_INTERVAL,
  PROP_BATCH,
  PROP_RANDOM_INIT,
  PROP_INTERVAL_MODE,
  PROP_PRECISION,
  PROP_CUDA_GRAPHS,
  PROP_THREADS,
  PROP_MODEL_INSTANCE_ID,
  PROP_BATCH_TIMEOUT
};

typedef enum {
  GST_SALIENCY_MODEL_STSANET,
  GST_SALIENCY_MODEL_STRANET,
  GST_SALIENCY_MODEL_BASELINE,
} GstSaliencyModel;

typedef enum {
  GST_SALIENCY_DEVICE_CPU,
  GST_SALIENCY_DEVICE_CUDA,
  GST_SALIENCY_DEVICE_AUTO,
} GstSaliencyDevice;

typedef enum {
  GST_SALIENCY_PRECISION_FP32,
  GST_SALIENCY_PRECISION_AUTOCAST_FP16,
  GST_SALIENCY_PRECISION_AUTOCAST_BF16,
  GST_SALIENCY_PRECISION_FP16_WEIGHTS,
} GstSaliencyPrecision;

typedef enum {
  GST_SALIENCY_INTERVAL_MODE_FORWARD,
  GST_SALIENCY_INTERVAL_MODE_BIDIRECTIONAL,
} GstSaliencyIntervalMode;

#define DEFAULT_MODEL GST_SALIENCY_MODEL_BASELINE
#define DEFAULT_WEIGHTS NULL
#define DEFAULT_DEVICE GST_SALIENCY_DEVICE_CPU
#define DEFAULT_INTERVAL 1
#define MAX_INTERVAL 1000
#define DEFAULT_INTERVAL_MODE GST_SALIENCY_INTERVAL_MODE_BIDIRECTIONAL
#define DEFAULT_BATCH 1
#define MAX_BATCH 64
#define DEFAULT_RANDOM_INIT FALSE
#define DEFAULT_PRECISION GST_SALIENCY_PRECISION_FP32
#define DEFAULT_CUDA_GRAPHS FALSE
#define DEFAULT_THREADS 0
#define MAX_THREADS 1024
#define DEFAULT_MODEL_INSTANCE_ID NULL
#define DEFAULT_BATCH_TIMEOUT 0
#define MAX_BATCH_TIMEOUT 10000
/* Frame duration when neither the caps nor the buffers give one
 * (gst-plugins-bad sys/va/gstvadeinterlace.c: 25 fps). */
#define FALLBACK_FRAME_DURATION (GST_SECOND / 25)

#define GST_TYPE_SALIENCY_PRECISION (gst_saliency_precision_get_type())
static GType gst_saliency_precision_get_type(void) {
  static gsize id = 0;
  /* The first entry of each value is its name; the later ones are the names
   * of earlier releases, still accepted so that existing pipelines keep working. */
  static const GEnumValue values[] = {
      {GST_SALIENCY_PRECISION_FP32, "32-bit floating point (CPU and CUDA)", "fp32"},
      {GST_SALIENCY_PRECISION_AUTOCAST_FP16, "CUDA autocast to fp16 (fp32 weights)", "autocast-fp16"},
      {GST_SALIENCY_PRECISION_AUTOCAST_BF16, "CUDA autocast to bf16 (fp32 weights)", "autocast-bf16"},
      {GST_SALIENCY_PRECISION_FP16_WEIGHTS,
       "CUDA, STSANet: fp16 weights and activations (the fastest on a GPU)", "fp16-weights"},
      {GST_SALIENCY_PRECISION_AUTOCAST_FP16, "Old name of autocast-fp16", "fp16"},
      {GST_SALIENCY_PRECISION_AUTOCAST_BF16, "Old name of autocast-bf16", "bf16"},
      {GST_SALIENCY_PRECISION_FP16_WEIGHTS, "Old name of fp16-weights", "half"},
      {0, NULL, NULL}};
  if (g_once_init_enter(&id)) {
    GType t = g_enum_register_static("GstSaliencyPrecision", values);
    g_once_init_leave(&id, t);
  }
  return (GType)id;
}

#define GST_TYPE_SALIENCY_MODEL (gst_saliency_model_get_type())
static GType gst_saliency_model_get_type(void) {
  static gsize id = 0;
  static const GEnumValue values[] = {
      {GST_SALIENCY_MODEL_STSANET,
       "STSANet (TMM 2021): 32-frame window, 16 frames of look-ahead; needs weights", "stsanet"},
      {GST_SALIENCY_MODEL_STRANET,
       "STRA-Net (TIP 2019): two-stream with optical flow, 5 frames of look-ahead; needs weights",
       "stranet"},
      {GST_SALIENCY_MODEL_BASELINE,
       "Baseline: weight-free static saliency, motion energy and a centre prior; no look-ahead",
       "baseline"},
      {0, NULL, NULL}};
  if (g_once_init_enter(&id)) {
    GType t = g_enum_register_static("GstSaliencyModel", values);
    g_once_init_leave(&id, t);
  }
  return (GType)id;
}

#define GST_TYPE_SALIENCY_DEVICE (gst_saliency_device_get_type())
static GType gst_saliency_device_get_type(void) {
  static gsize id = 0;
  static const GEnumValue values[] = {
      {GST_SALIENCY_DEVICE_CPU, "CPU", "cpu"},
      {GST_SALIENCY_DEVICE_CUDA,
       "CUDA GPU 0; starting fails when this build or machine has no CUDA", "cuda"},
      {GST_SALIENCY_DEVICE_AUTO, "CUDA when available, otherwise CPU", "auto"},
      {0, NULL, NULL}};
  if (g_once_init_enter(&id)) {
    GType t = g_enum_register_static("GstSaliencyDevice", values);
    g_once_init_leave(&id, t);
  }
  return (GType)id;
}

#define GST_TYPE_SALIENCY_INTERVAL_MODE (gst_saliency_interval_mode_get_type())
static GType gst_saliency_interval_mode_get_type(void) {
  static gsize id = 0;
  static const GEnumValue values[] = {
      {GST_SALIENCY_INTERVAL_MODE_FORWARD,
       "Previous map warped forward along the flow; no added latency", "forward"},
      {GST_SALIENCY_INTERVAL_MODE_BIDIRECTIONAL,
       "Distance-weighted blend of the previous and the next key map, each warped along the "
       "flow; adds interval - 1 frames of latency",
       "bidirectional"},
      {0, NULL, NULL}};
  if (g_once_init_enter(&id)) {
    GType t = g_enum_register_static("GstSaliencyIntervalMode", values);
    g_once_init_leave(&id, t);
  }
  return (GType)id;
}

#define SALIENCY_FORMATS "{ RGB, BGR, RGBA, BGRA, RGBx, BGRx, xRGB, xBGR, ARGB, ABGR, GRAY8, I420, NV12 }"

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE(
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS(GST_VIDEO_CAPS_MAKE(SALIENCY_FORMATS)));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE(
    "src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS(GST_VIDEO_CAPS_MAKE(SALIENCY_FORMATS)));

namespace {

struct Settings {
  GstSaliencyModel model = DEFAULT_MODEL;
  std::string weights;
  GstSaliencyDevice device = DEFAULT_DEVICE;
  guint interval = DEFAULT_INTERVAL;
  GstSaliencyIntervalMode interval_mode = DEFAULT_INTERVAL_MODE;
  guint batch = DEFAULT_BATCH;
  bool random_init = DEFAULT_RANDOM_INIT;
  GstSaliencyPrecision precision = DEFAULT_PRECISION;
  bool cuda_graphs = DEFAULT_CUDA_GRAPHS;
  guint threads = DEFAULT_THREADS;
  std::string model_instance_id;
  guint batch_timeout = DEFAULT_BATCH_TIMEOUT;
};

struct BufferUnref {
  void operator()(GstBuffer *b) const { gst_buffer_unref(b); }
};
using BufferPtr = std::unique_ptr<GstBuffer, BufferUnref>;

/* A buffer waiting for its map. `index` counts frames since the last
 * Predictor reset, as SaliencyMap::frame_index does. */
struct HeldFrame {
  BufferPtr buffer;
  std::int64_t index = 0;
  bool has_map = false;
};

model::ModelKind to_model(GstSaliencyModel m) {
  switch (m) {
    case GST_SALIENCY_MODEL_STSANET:
      return model::ModelKind::STSANet;
    case GST_SALIENCY_MODEL_STRANET:
      return model::ModelKind::STRANet;
    case GST_SALIENCY_MODEL_BASELINE:
      break;
  }
  return model::ModelKind::Baseline;
}

model::Device to_device(GstSaliencyDevice d) {
  switch (d) {
    case GST_SALIENCY_DEVICE_CUDA:
      return model::Device::cuda(0);
    case GST_SALIENCY_DEVICE_AUTO:
      return model::Device::automatic();
    case GST_SALIENCY_DEVICE_CPU:
      break;
  }
  return model::Device::cpu();
}

model::Precision to_precision(GstSaliencyPrecision p) {
  switch (p) {
    case GST_SALIENCY_PRECISION_AUTOCAST_FP16:
      return model::Precision::AutocastFP16;
    case GST_SALIENCY_PRECISION_AUTOCAST_BF16:
      return model::Precision::AutocastBF16;
    case GST_SALIENCY_PRECISION_FP16_WEIGHTS:
      return model::Precision::FP16Weights;
    case GST_SALIENCY_PRECISION_FP32:
      break;
  }
  return model::Precision::FP32;
}

}  // namespace

/* C++ state; created in init, deleted in finalize (STYLE.md §a). */
struct GstSaliencyPrivate {
  Settings settings;  // guarded by GST_OBJECT_LOCK

  std::mutex lock;  // guards the three fields below, which queries read
  int lookahead = 0;
  GstClockTime caps_frame_duration = GST_CLOCK_TIME_NONE;
  GstClockTime last_buffer_duration = GST_CLOCK_TIME_NONE;

  // Streaming thread (and start/stop, when no streaming happens):
  std::unique_ptr<model::Predictor> predictor;  // created in start(), freed in stop()
  std::deque<HeldFrame> held;                   // oldest first
  std::int64_t next_index = 0;                  // index the next pushed frame gets
  GstVideoInfo info;
  bool have_info = false;
  model::PixelFormat format = model::PixelFormat::RGB;
};

struct _GstSaliency {
  GstBaseTransform parent;
  GstSaliencyPrivate *priv;
};

#define gst_saliency_parent_class parent_class
G_DEFINE_TYPE(GstSaliency, gst_saliency, GST_TYPE_BASE_TRANSFORM);
GST_ELEMENT_REGISTER_DEFINE(saliency, "saliency", GST_RANK_NONE, GST_TYPE_SALIENCY);

static void gst_saliency_finalize(GObject *object);
static void gst_saliency_set_property(GObject *object, guint prop_id, const GValue *value,
                                      GParamSpec *pspec);
static void gst_saliency_get_property(GObject *object, guint prop_id, GValue *value,
                                      GParamSpec *pspec);
static gboolean gst_saliency_start(GstBaseTransform *trans);
static gboolean gst_saliency_stop(GstBaseTransform *trans);
static gboolean gst_saliency_set_caps(GstBaseTransform *trans, GstCaps *incaps, GstCaps *outcaps);
static gboolean gst_saliency_sink_event(GstBaseTransform *trans, GstEvent *event);
static gboolean gst_saliency_query(GstBaseTransform *trans, GstPadDirection direction,
                                   GstQuery *query);
static gboolean gst_saliency_propose_allocation(GstBaseTransform *trans, GstQuery *decide_query,
                                                GstQuery *query);
static GstFlowReturn gst_saliency_submit_input_buffer(GstBaseTransform *trans, gboolean is_discont,
                                                      GstBuffer *input);
static GstFlowReturn gst_saliency_generate_output(GstBaseTransform *trans, GstBuffer **outbuf);
static GstFlowReturn gst_saliency_drain(GstSaliency *self);
static void gst_saliency_reset(GstSaliency *self);

static void gst_saliency_class_init(GstSaliencyClass *klass) {
  GObjectClass *gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS(klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS(klass);

  GST_DEBUG_CATEGORY_INIT(gst_saliency_debug, "saliency", 0, "saliency element");

  gobject_class->finalize = gst_saliency_finalize;
  gobject_class->set_property = gst_saliency_set_property;
  gobject_class->get_property = gst_saliency_get_property;

  /**
   * GstSaliency:model:
   *
   * The saliency model. Read when the element starts (READY to PAUSED).
   *
   * Since: 0.1
   */
  g_object_class_install_property(
      gobject_class, PROP_MODEL,
      g_param_spec_enum(
          "model", "Model", "Saliency model; stsanet and stranet need weights (or random-init)",
          GST_TYPE_SALIENCY_MODEL, DEFAULT_MODEL,
          (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));
  /**
   * GstSaliency:weights:
   *
   * Checkpoint of a deep model: an STSANet .pth file as published, or an
   * STRA-Net checkpoint converted as the README describes. Read when the
   * element starts; a missing or unreadable file fails the state change.
   *
   * Since: 0.1
   */
  g_object_class_install_property(
      gobject_class, PROP_WEIGHTS,
      g_param_spec_string(
          "weights", "Weights",
          "Path of the model checkpoint (STSANet .pth, converted STRA-Net); "
          "ignored by the baseline",
          DEFAULT_WEIGHTS,
          (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));
  /**
   * GstSaliency:device:
   *
   * Where the model runs. `cuda` fails the state change when this build of
   * LibTorch or this machine has no CUDA; `auto` falls back to the CPU.
   *
   * Since: 0.1
   */
  g_object_class_install_property(
      gobject_class, PROP_DEVICE,
      g_param_spec_enum(
          "device", "Device", "Device the model runs on", GST_TYPE_SALIENCY_DEVICE, DEFAULT_DEVICE,
          (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));
  /**
   * GstSaliency:interval:
   *
   * Run the model on every N-th frame only; the frames in between get the
   * key maps carried along the optical flow as #GstSaliency:interval-mode
   * says. Saves compute. In the default bidirectional mode the look-ahead,
   * and so the latency, grow by interval - 1 frames; in forward mode they
   * stay the model's. Read when the element starts.
   *
   * Since: 0.1
   */
  g_object_class_install_property(
      gobject_class, PROP_INTERVAL,
      g_param_spec_uint(
          "interval", "Interval",
          "Infer on every N-th frame; the frames in between get the key maps warped "
          "along the optical flow (1 = every frame); see interval-mode for the latency",
          1, MAX_INTERVAL, DEFAULT_INTERVAL,
          (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));
  /**
   * GstSaliency:interval-mode:
   *
   * How frames between key frames get their maps when interval > 1:
   * `bidirectional` blends the previous key map warped forward and the next
   * one warped backward (closer to the every-frame maps; holds interval - 1
   * more frames, which the LATENCY answer includes); `forward` warps the
   * previous map only (no added latency, for live use). Read when the
   * element starts.
   *
   * Since: 0.1
   */
  g_object_class_install_property(
      gobject_class, PROP_INTERVAL_MODE,
      g_param_spec_enum(
          "interval-mode", "Interval mode",
          "How frames between key frames get their maps (interval > 1)",
          GST_TYPE_SALIENCY_INTERVAL_MODE, DEFAULT_INTERVAL_MODE,
          (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));
  /**
   * GstSaliency:batch:
   *
   * Windows per forward pass. Larger batches raise throughput (mostly on
   * GPUs). Without #GstSaliency:model-instance-id the windows are this
   * stream's next key frames, at the cost of (batch - 1) × interval more
   * frames of look-ahead, which the LATENCY answer includes. With an id, the
   * shared model runs up to `batch` windows of all its streams in one pass,
   * and a stream adds no look-ahead (see #GstSaliency:batch-timeout). Read
   * when the element starts.
   *
   * Since: 0.1
   */
  g_object_class_install_property(
      gobject_class, PROP_BATCH,
      g_param_spec_uint(
          "batch", "Batch",
          "Windows per forward pass; adds (batch - 1) x interval frames of latency", 1, MAX_BATCH,
          DEFAULT_BATCH,
          (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));
  /**
   * GstSaliency:random-init:
   *
   * Run a deep model with random weights when no weights are given. For
   * tests and benchmarks only: the maps mean nothing.
   *
   * Since: 0.1
   */
  g_object_class_install_property(
      gobject_class, PROP_RANDOM_INIT,
      g_param_spec_boolean(
          "random-init", "Random init",
          "Allow a deep model without weights, randomly initialised (tests and "
          "benchmarks only: its maps are meaningless)",
          DEFAULT_RANDOM_INIT,
          (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));

  /**
   * GstSaliency:precision:
   *
   * Arithmetic of the model on CUDA: `autocast-fp16` and `autocast-bf16`
   * keep fp32 weights and let CUDA autocast run the matrix work in 16 bits;
   * `fp16-weights` runs STSANet with fp16 weights and activations. The names
   * of earlier releases (`fp16`, `bf16`, `half`) are still accepted. A 16-bit
   * precision on the CPU, or `fp16-weights` with another model, fails the
   * state change. Read when the element starts.
   *
   * Since: 0.1
   */
  g_object_class_install_property(
      gobject_class, PROP_PRECISION,
      g_param_spec_enum(
          "precision", "Precision", "Arithmetic of the model (16-bit modes: CUDA only)",
          GST_TYPE_SALIENCY_PRECISION, DEFAULT_PRECISION,
          (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));
  /**
   * GstSaliency:cuda-graphs:
   *
   * Replay STSANet's forward pass from a CUDA graph captured on the first
   * window, which removes LibTorch's per-operator host work (measured in
   * docs/performance.md). Needs device=cuda, a CUDA build of LibTorch and
   * precision fp32 or fp16-weights; otherwise the state
   * change fails. Read when the element starts.
   *
   * Since: 0.1
   */
  g_object_class_install_property(
      gobject_class, PROP_CUDA_GRAPHS,
      g_param_spec_boolean(
          "cuda-graphs", "CUDA graphs",
          "Replay the model's forward pass from a CUDA graph (CUDA, STSANet, precision fp32 or fp16-weights)",
          DEFAULT_CUDA_GRAPHS,
          (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));

  /**
   * GstSaliency:threads:
   *
   * CPU threads for the model's arithmetic, set in the thread that runs
   * inference (OpenMP's thread count belongs to each thread, and a streaming
   * thread would otherwise run LibTorch's default, one thread on many
   * virtual machines). 0: one per core, that is `OMP_NUM_THREADS` when it is
   * set, else the CPUs this process may run on. Read when the element starts.
   *
   * Since: 0.1
   */
  g_object_class_install_property(
      gobject_class, PROP_THREADS,
      g_param_spec_uint(
          "threads", "Threads",
          "CPU threads for inference (0 = one per core: OMP_NUM_THREADS when set, else the CPUs "
          "this process may use)",
          0, MAX_THREADS, DEFAULT_THREADS,
          (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));

  /**
   * GstSaliency:model-instance-id:
   *
   * Elements with the same id in one process share one loaded model, as
   * DL Streamer's `model-instance-id` does: the weights are loaded once, and
   * the last element to stop frees them. Each element keeps its own stream
   * state (its window of frames, caches, recurrent state), so its maps are
   * those it would compute alone. Elements sharing an id must agree on
   * model, weights, random-init, device, precision, cuda-graphs, batch and
   * batch-timeout; one that differs fails to start with an error naming both
   * elements. Empty: a model of the element's own. Read when the element
   * starts.
   *
   * Since: 0.2
   */
  g_object_class_install_property(
      gobject_class, PROP_MODEL_INSTANCE_ID,
      g_param_spec_string(
          "model-instance-id", "Model instance id",
          "Elements with the same id share one loaded model (and batch their windows); empty: "
          "a model of its own",
          DEFAULT_MODEL_INSTANCE_ID,
          (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));
  /**
   * GstSaliency:batch-timeout:
   *
   * With #GstSaliency:model-instance-id and #GstSaliency:batch > 1: how long,
   * in milliseconds, a ready window waits for windows of the other streams
   * before its forward pass starts with fewer than `batch` windows. 0 starts
   * at once with what is ready; windows that become ready during a pass still
   * go together into the next one. Read when the element starts.
   *
   * Since: 0.2
   */
  g_object_class_install_property(
      gobject_class, PROP_BATCH_TIMEOUT,
      g_param_spec_uint(
          "batch-timeout", "Batch timeout",
          "Milliseconds a ready window waits for other streams' windows to fill a batch "
          "(shared model-instance-id)",
          0, MAX_BATCH_TIMEOUT, DEFAULT_BATCH_TIMEOUT,
          (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));

  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_add_static_pad_template(element_class, &src_template);
  gst_element_class_set_static_metadata(
      element_class, "Video saliency", "Filter/Analyzer/Video",
      "Predicts where people look in each frame and attaches the map (GstSaliencyMeta)",
      "gst-saliency developers");

  trans_class->start = GST_DEBUG_FUNCPTR(gst_saliency_start);
  trans_class->stop = GST_DEBUG_FUNCPTR(gst_saliency_stop);
  trans_class->set_caps = GST_DEBUG_FUNCPTR(gst_saliency_set_caps);
  trans_class->sink_event = GST_DEBUG_FUNCPTR(gst_saliency_sink_event);
  trans_class->query = GST_DEBUG_FUNCPTR(gst_saliency_query);
  trans_class->propose_allocation = GST_DEBUG_FUNCPTR(gst_saliency_propose_allocation);
  trans_class->submit_input_buffer = GST_DEBUG_FUNCPTR(gst_saliency_submit_input_buffer);
  trans_class->generate_output = GST_DEBUG_FUNCPTR(gst_saliency_generate_output);
  trans_class->passthrough_on_same_caps = TRUE;

  gst_type_mark_as_plugin_api(GST_TYPE_SALIENCY_MODEL, (GstPluginAPIFlags)0);
  gst_type_mark_as_plugin_api(GST_TYPE_SALIENCY_DEVICE, (GstPluginAPIFlags)0);
  gst_type_mark_as_plugin_api(GST_TYPE_SALIENCY_INTERVAL_MODE, (GstPluginAPIFlags)0);
  gst_type_mark_as_plugin_api(GST_TYPE_SALIENCY_PRECISION, (GstPluginAPIFlags)0);
}

static void gst_saliency_init(GstSaliency *self) {
  self->priv = new GstSaliencyPrivate();
  gst_video_info_init(&self->priv->info);
  // Caps are never changed and pixels never touched: buffers, allocation
  // queries and caps go through as in passthrough; only metas are added.
  gst_base_transform_set_passthrough(GST_BASE_TRANSFORM(self), TRUE);
  // A dropped frame would corrupt the temporal window (STYLE.md §c).
  gst_base_transform_set_qos_enabled(GST_BASE_TRANSFORM(self), FALSE);
}

static void gst_saliency_finalize(GObject *object) {
  GstSaliency *self = GST_SALIENCY(object);
  delete self->priv;
  self->priv = nullptr;
  G_OBJECT_CLASS(parent_class)->finalize(object);
}

static void gst_saliency_set_property(GObject *object, guint prop_id, const GValue *value,
                                      GParamSpec *pspec) {
  GstSaliency *self = GST_SALIENCY(object);
  Settings &s = self->priv->settings;
  GST_OBJECT_LOCK(self);
  switch (prop_id) {
    case PROP_MODEL:
      s.model = (GstSaliencyModel)g_value_get_enum(value);
      break;
    case PROP_WEIGHTS: {
      const gchar *w = g_value_get_string(value);
      s.weights = w ? w : "";
      break;
    }
    case PROP_DEVICE:
      s.device = (GstSaliencyDevice)g_value_get_enum(value);
      break;
    case PROP_INTERVAL:
      s.interval = g_value_get_uint(value);
      break;
    case PROP_INTERVAL_MODE:
      s.interval_mode = (GstSaliencyIntervalMode)g_value_get_enum(value);
      break;
    case PROP_BATCH:
      s.batch = g_value_get_uint(value);
      break;
    case PROP_RANDOM_INIT:
      s.random_init = g_value_get_boolean(value);
      break;
    case PROP_PRECISION:
      s.precision = (GstSaliencyPrecision)g_value_get_enum(value);
      break;
    case PROP_CUDA_GRAPHS:
      s.cuda_graphs = g_value_get_boolean(value);
      break;
    case PROP_THREADS:
      s.threads = g_value_get_uint(value);
      break;
    case PROP_MODEL_INSTANCE_ID: {
      const gchar *id = g_value_get_string(value);
      s.model_instance_id = id ? id : "";
      break;
    }
    case PROP_BATCH_TIMEOUT:
      s.batch_timeout = g_value_get_uint(value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK(self);
}

static void gst_saliency_get_property(GObject *object, guint prop_id, GValue *value,
                                      GParamSpec *pspec) {
  GstSaliency *self = GST_SALIENCY(object);
  const Settings &s = self->priv->settings;
  GST_OBJECT_LOCK(self);
  switch (prop_id) {
    case PROP_MODEL:
      g_value_set_enum(value, s.model);
      break;
    case PROP_WEIGHTS:
      g_value_set_string(value, s.weights.empty() ? NULL : s.weights.c_str());
      break;
    case PROP_DEVICE:
      g_value_set_enum(value, s.device);
      break;
    case PROP_INTERVAL:
      g_value_set_uint(value, s.interval);
      break;
    case PROP_INTERVAL_MODE:
      g_value_set_enum(value, s.interval_mode);
      break;
    case PROP_BATCH:
      g_value_set_uint(value, s.batch);
      break;
    case PROP_RANDOM_INIT:
      g_value_set_boolean(value, s.random_init);
      break;
    case PROP_PRECISION:
      g_value_set_enum(value, s.precision);
      break;
    case PROP_CUDA_GRAPHS:
      g_value_set_boolean(value, s.cuda_graphs);
      break;
    case PROP_THREADS:
      g_value_set_uint(value, s.threads);
      break;
    case PROP_MODEL_INSTANCE_ID:
      g_value_set_string(value, s.model_instance_id.empty() ? NULL : s.model_instance_id.c_str());
      break;
    case PROP_BATCH_TIMEOUT:
      g_value_set_uint(value, s.batch_timeout);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK(self);
}

/* Builds the model from the properties: weights and devices open here, never
 * in set_property (STYLE.md §a), so a bad setting fails the state change. */
static gboolean gst_saliency_start(GstBaseTransform *trans) {
  GstSaliency *self = GST_SALIENCY(trans);
  GstSaliencyPrivate *priv = self->priv;
  Settings s;
  GST_OBJECT_LOCK(self);
  s = priv->settings;
  GST_OBJECT_UNLOCK(self);

  const bool deep = s.model != GST_SALIENCY_MODEL_BASELINE;
  if (deep && !s.weights.empty() && !g_file_test(s.weights.c_str(), G_FILE_TEST_IS_REGULAR)) {
    GST_ELEMENT_ERROR(self, RESOURCE, NOT_FOUND,
                      ("Weights file \"%s\" not found.", s.weights.c_str()),
                      ("no regular file at \"%s\"", s.weights.c_str()));
    return FALSE;
  }

  model::PredictorOptions options;
  options.model = to_model(s.model);
  options.weights = s.weights;
  options.random_init = s.random_init;
  options.device = to_device(s.device);
  options.interval = (int)s.interval;
  options.interval_mode = s.interval_mode == GST_SALIENCY_INTERVAL_MODE_FORWARD
                              ? model::IntervalMode::Forward
                              : model::IntervalMode::Bidirectional;
  options.batch = (int)s.batch;
  options.precision = to_precision(s.precision);
  options.cuda_graphs = s.cuda_graphs;
  options.threads = (int)s.threads;
  options.model_instance_id = s.model_instance_id;
  options.batch_timeout_ms = (int)s.batch_timeout;
  {
    gchar *name = gst_object_get_name(GST_OBJECT(self));
    options.owner = name ? name : "";
    g_free(name);
  }
  options.log = [self](const std::string &message) {
    GST_DEBUG_OBJECT(self, "%s", message.c_str());
  };
  try {
    priv->predictor = std::make_unique<model::Predictor>(options);
  } catch (const std::exception &e) {
    // The message names the model and the weights file; the debug string
    // carries the library's reason (missing keys, unavailable device...).
    const std::string what =
        std::string("Could not create the ") + model::to_string(options.model) + " saliency model" +
        (s.weights.empty() || !deep ? "" : " from \"" + s.weights + "\"") + ".";
    // Elements that disagree on a shared model: the library's message names both.
    const bool shared_mismatch = std::string(e.what()).rfind("model-instance-id '", 0) == 0;
    if (shared_mismatch)
      GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS, ("%s", e.what()), ("%s", what.c_str()));
    else if (dynamic_cast<const model::ModelError *>(&e))
      GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS, ("%s", what.c_str()), ("%s", e.what()));
    else
      GST_ELEMENT_ERROR(self, LIBRARY, INIT, ("%s", what.c_str()), ("%s", e.what()));
    return FALSE;
  } catch (...) {
    GST_ELEMENT_ERROR(self, LIBRARY, INIT, ("Could not create the saliency model."),
                      ("unknown exception"));
    return FALSE;
  }
  const int lookahead = priv->predictor->lookahead_frames();
  GST_INFO_OBJECT(self, "model %s on %s, %d frames of look-ahead, interval %u, batch %u",
                  priv->predictor->description().c_str(), priv->predictor->device().c_str(),
                  lookahead, s.interval, s.batch);
  int previous;
  {
    std::lock_guard<std::mutex> guard(priv->lock);
    previous = priv->lookahead;
    priv->lookahead = lookahead;
    priv->last_buffer_duration = GST_CLOCK_TIME_NONE;
  }
  priv->held.clear();
  priv->next_index = 0;
  if (previous != lookahead)
    gst_element_post_message(GST_ELEMENT(self), gst_message_new_latency(GST_OBJECT(self)));
  return TRUE;
}

static gboolean gst_saliency_stop(GstBaseTransform *trans) {
  GstSaliency *self = GST_SALIENCY(trans);
  GstSaliencyPrivate *priv = self->priv;
  // Streaming has stopped: held frames are dropped, as by a flush.
  if (!priv->held.empty()) GST_DEBUG_OBJECT(self, "dropping %zu held frames", priv->held.size());
  priv->held.clear();
  priv->predictor.reset();
  priv->have_info = false;
  std::lock_guard<std::mutex> guard(priv->lock);
  priv->lookahead = 0;
  priv->caps_frame_duration = GST_CLOCK_TIME_NONE;
  return TRUE;
}

static gboolean gst_saliency_set_caps(GstBaseTransform *trans, GstCaps *incaps, GstCaps *outcaps) {
  GstSaliency *self = GST_SALIENCY(trans);
  GstSaliencyPrivate *priv = self->priv;
  GstVideoInfo info;
  if (!gst_video_info_from_caps(&info, incaps)) {
    GST_WARNING_OBJECT(self, "invalid caps %" GST_PTR_FORMAT, incaps);
    return FALSE;
  }
  model::PixelFormat format;
  if (!gstsaliency::to_pixel_format(GST_VIDEO_INFO_FORMAT(&info), &format)) {
    GST_WARNING_OBJECT(self, "unsupported format in %" GST_PTR_FORMAT, incaps);
    return FALSE;
  }
  GST_DEBUG_OBJECT(self, "caps %" GST_PTR_FORMAT, incaps);
  priv->info = info;
  priv->format = format;
  priv->have_info = true;

  GstClockTime duration = GST_CLOCK_TIME_NONE;
  if (GST_VIDEO_INFO_FPS_N(&info) > 0 && GST_VIDEO_INFO_FPS_D(&info) > 0)
    duration = gst_util_uint64_scale_int(GST_SECOND, GST_VIDEO_INFO_FPS_D(&info),
                                         GST_VIDEO_INFO_FPS_N(&info));
  bool latency_changed;
  {
    std::lock_guard<std::mutex> guard(priv->lock);
    latency_changed = priv->lookahead > 0 && duration != priv->caps_frame_duration;
    priv->caps_frame_duration = duration;
  }
  // Posted without holding our lock (d3d12deinterlace): the bin queries us back.
  if (latency_changed)
    gst_element_post_message(GST_ELEMENT(self), gst_message_new_latency(GST_OBJECT(self)));
  return TRUE;
}

/* Drops a map an earlier saliency element attached: ours replaces it. */
static gboolean remove_saliency_meta(GstBuffer *buffer, GstMeta **meta, gpointer user_data) {
  if ((*meta)->info->api == GST_SALIENCY_META_API_TYPE &&
      !GST_META_FLAG_IS_SET(*meta, GST_META_FLAG_LOCKED))
    *meta = NULL;
  return TRUE;
}

/* Attaches ready maps to their held buffers. */
static void gst_saliency_attach_maps(GstSaliency *self, std::vector<model::SaliencyMap> &maps) {
  GstSaliencyPrivate *priv = self->priv;
  for (auto &m : maps) {
    if (priv->held.empty()) break;
    const std::int64_t pos = m.frame_index - priv->held.front().index;
    if (pos < 0 || pos >= (std::int64_t)priv->held.size() ||
        m.values.size() != (std::size_t)m.width * m.height || m.width <= 0 || m.height <= 0) {
      GST_WARNING_OBJECT(self, "ignoring map for frame %" G_GINT64_FORMAT " (%dx%d)", m.frame_index,
                         m.width, m.height);
      continue;
    }
    HeldFrame &h = priv->held[(std::size_t)pos];
    if (h.has_map) continue;
    // A shared buffer gets a new header, not new memory (STYLE.md §c).
    GstBuffer *buf = gst_buffer_make_writable(h.buffer.release());
    h.buffer.reset(buf);
    gst_buffer_foreach_meta(buf, remove_saliency_meta, NULL);
    gst_buffer_add_saliency_meta(buf, (guint)m.width, (guint)m.height, m.values.data());
    h.has_map = true;
    GST_LOG_OBJECT(self, "map %dx%d for frame %" G_GINT64_FORMAT " (%" GST_TIME_FORMAT ")", m.width,
                   m.height, m.frame_index, GST_TIME_ARGS(GST_BUFFER_PTS(buf)));
  }
}

/* Completes the windows of all held frames and pushes them, in order, with
 * their maps. Called on EOS, SEGMENT, CAPS and before a DISCONT buffer, so the
 * held frames leave before the event or buffer that ends their stream.
 * Limitation: these pushes bypass the base class, so if a DISCONT buffer is
 * drained here before any buffer left through generate_output, the base
 * class still has its DISCONT pending and puts it on the next buffer it
 * outputs, which is then the first of a new segment or caps anyway. */
static GstFlowReturn gst_saliency_drain(GstSaliency *self) {
  GstSaliencyPrivate *priv = self->priv;
  if (!priv->predictor) return GST_FLOW_OK;
  GstFlowReturn ret = GST_FLOW_OK;
  if (priv->predictor->pending() > 0 || !priv->held.empty()) {
    GST_DEBUG_OBJECT(self, "draining %zu held frames", priv->held.size());
    try {
      std::vector<model::SaliencyMap> maps = priv->predictor->finish();
      gst_saliency_attach_maps(self, maps);
    } catch (const std::exception &e) {
      GST_ELEMENT_ERROR(self, LIBRARY, FAILED, ("Saliency inference failed."), ("%s", e.what()));
      ret = GST_FLOW_ERROR;
    } catch (...) {
      GST_ELEMENT_ERROR(self, LIBRARY, FAILED, ("Saliency inference failed."),
                        ("unknown exception"));
      ret = GST_FLOW_ERROR;
    }
  } else {
    // Nothing pending, but recurrent state (STRA-Net) must not cross the boundary.
    priv->predictor->reset();
  }
  while (!priv->held.empty()) {
    HeldFrame h = std::move(priv->held.front());
    priv->held.pop_front();
    if (ret != GST_FLOW_OK) continue;  // an error or a refused push: drop the rest
    if (!h.has_map)
      GST_WARNING_OBJECT(self, "frame %" G_GINT64_FORMAT " leaves without a map", h.index);
    ret = gst_pad_push(GST_BASE_TRANSFORM_SRC_PAD(self), h.buffer.release());
  }
  priv->next_index = 0;  // finish() resets the predictor: indices restart
  return ret;
}

/* Flush: held frames are dropped without output. */
static void gst_saliency_reset(GstSaliency *self) {
  GstSaliencyPrivate *priv = self->priv;
  if (!priv->held.empty()) GST_DEBUG_OBJECT(self, "dropping %zu held frames", priv->held.size());
  priv->held.clear();
  priv->next_index = 0;
  if (priv->predictor) priv->predictor->reset();
}

static gboolean gst_saliency_sink_event(GstBaseTransform *trans, GstEvent *event) {
  GstSaliency *self = GST_SALIENCY(trans);
  switch (GST_EVENT_TYPE(event)) {
    case GST_EVENT_EOS:
    case GST_EVENT_SEGMENT:
      // Held frames belong to the old segment: they leave before the event.
      gst_saliency_drain(self);
      break;
    case GST_EVENT_CAPS: {
      GstCaps *caps = NULL, *current;
      gst_event_parse_caps(event, &caps);
      current = gst_pad_get_current_caps(GST_BASE_TRANSFORM_SINK_PAD(trans));
      // Held frames leave with the caps they came with; the model restarts.
      if (current && !gst_caps_is_equal(current, caps)) gst_saliency_drain(self);
      if (current) gst_caps_unref(current);
      break;
    }
    case GST_EVENT_FLUSH_STOP:
      gst_saliency_reset(self);
      break;
    default:
      break;
  }
  return GST_BASE_TRANSFORM_CLASS(parent_class)->sink_event(trans, event);
}

static GstClockTime gst_saliency_frame_duration(GstSaliency *self) {
  GstSaliencyPrivate *priv = self->priv;
  std::lock_guard<std::mutex> guard(priv->lock);
  if (GST_CLOCK_TIME_IS_VALID(priv->caps_frame_duration)) return priv->caps_frame_duration;
  if (GST_CLOCK_TIME_IS_VALID(priv->last_buffer_duration)) return priv->last_buffer_duration;
  return FALLBACK_FRAME_DURATION;
}

static gboolean gst_saliency_query(GstBaseTransform *trans, GstPadDirection direction,
                                   GstQuery *query) {
  GstSaliency *self = GST_SALIENCY(trans);
  if (direction == GST_PAD_SRC && GST_QUERY_TYPE(query) == GST_QUERY_LATENCY) {
    if (!gst_pad_peer_query(GST_BASE_TRANSFORM_SINK_PAD(trans), query)) return FALSE;
    gboolean live;
    GstClockTime min, max;
    gst_query_parse_latency(query, &live, &min, &max);
    int lookahead;
    {
      std::lock_guard<std::mutex> guard(self->priv->lock);
      lookahead = self->priv->lookahead;
    }
    // A frame leaves `lookahead` frames after it arrived (STYLE.md §c).
    const GstClockTime ours = (GstClockTime)lookahead * gst_saliency_frame_duration(self);
    GST_DEBUG_OBJECT(self, "upstream latency min %" GST_TIME_FORMAT ", ours %" GST_TIME_FORMAT,
                     GST_TIME_ARGS(min), GST_TIME_ARGS(ours));
    min += ours;
    if (GST_CLOCK_TIME_IS_VALID(max)) max += ours;
    gst_query_set_latency(query, live, min, max);
    return TRUE;
  }
  return GST_BASE_TRANSFORM_CLASS(parent_class)->query(trans, direction, query);
}

/* Holding N frames from a bounded upstream pool could stall a decoder: ask
 * for N more buffers than downstream needs (gstvabasetransform.c). */
static gboolean gst_saliency_propose_allocation(GstBaseTransform *trans, GstQuery *decide_query,
                                                GstQuery *query) {
  GstSaliency *self = GST_SALIENCY(trans);
  // Passthrough: this forwards the query downstream.
  GST_BASE_TRANSFORM_CLASS(parent_class)->propose_allocation(trans, decide_query, query);
  guint extra;
  {
    std::lock_guard<std::mutex> guard(self->priv->lock);
    extra = (guint)self->priv->lookahead;
  }
  if (extra == 0) return TRUE;
  const guint n = gst_query_get_n_allocation_pools(query);
  if (n == 0) {
    GstCaps *caps = NULL;
    GstVideoInfo info;
    gst_query_parse_allocation(query, &caps, NULL);
    if (caps && gst_video_info_from_caps(&info, caps))
      gst_query_add_allocation_pool(query, NULL, (guint)info.size, extra + 1, 0);
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
  GST_DEBUG_OBJECT(self, "asked upstream for %u more buffers", extra);
  return TRUE;
}

static GstFlowReturn gst_saliency_submit_input_buffer(GstBaseTransform *trans, gboolean is_discont,
                                                      GstBuffer *input) {
  GstSaliency *self = GST_SALIENCY(trans);
  GstSaliencyPrivate *priv = self->priv;
  BufferPtr buffer(input);

  if (!gst_base_transform_reconfigure(trans) || !priv->have_info) {
    if (GST_PAD_IS_FLUSHING(GST_BASE_TRANSFORM_SRC_PAD(trans))) return GST_FLOW_FLUSHING;
    GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, (NULL), ("no usable caps before the buffer"));
    return GST_FLOW_NOT_NEGOTIATED;
  }
  if (!priv->predictor) {
    GST_ELEMENT_ERROR(self, CORE, STATE_CHANGE, (NULL), ("buffer before the element started"));
    return GST_FLOW_ERROR;
  }

  // The buffer's own flag, not `is_discont`: the base class keeps that set
  // until a buffer leaves, which with look-ahead is many buffers later.
  if (GST_BUFFER_IS_DISCONT(buffer.get()) && priv->next_index > 0) {
    GST_DEBUG_OBJECT(self, "DISCONT: draining and restarting the model");
    // Drained frames leave before this one, without the DISCONT flag that the
    // base class puts on the next buffer generate_output returns.
    const GstFlowReturn ret = gst_saliency_drain(self);
    if (ret != GST_FLOW_OK) return ret;
  }
  if (GST_BUFFER_DURATION_IS_VALID(buffer.get())) {
    std::lock_guard<std::mutex> guard(priv->lock);
    priv->last_buffer_duration = GST_BUFFER_DURATION(buffer.get());
  }

  GstVideoFrame frame;
  if (!gst_video_frame_map(&frame, &priv->info, buffer.get(), GST_MAP_READ)) {
    GST_ELEMENT_ERROR(self, STREAM, FAILED, ("Could not map the video frame."), (NULL));
    return GST_FLOW_ERROR;
  }
  model::FrameView view;
  view.data = (const std::uint8_t *)GST_VIDEO_FRAME_PLANE_DATA(&frame, 0);
  view.width = GST_VIDEO_FRAME_WIDTH(&frame);
  view.height = GST_VIDEO_FRAME_HEIGHT(&frame);
  view.stride = (std::size_t)GST_VIDEO_FRAME_PLANE_STRIDE(&frame, 0);
  view.format = priv->format;
  if (model::is_yuv420(view.format)) {  // the Predictor reads the planes as they are
    view.matrix = gstsaliency::to_yuv_matrix(frame.info.colorimetry);
    view.range = frame.info.colorimetry.range == GST_VIDEO_COLOR_RANGE_0_255 ? model::YuvRange::Full
                                                                             : model::YuvRange::Limited;
    for (int i = 0; i < 2 && i + 1 < (int)GST_VIDEO_FRAME_N_PLANES(&frame); ++i) {
      view.chroma[i] = (const std::uint8_t *)GST_VIDEO_FRAME_PLANE_DATA(&frame, i + 1);
      view.chroma_stride[i] = (std::size_t)GST_VIDEO_FRAME_PLANE_STRIDE(&frame, i + 1);
    }
  }

  // Upstream flow (from `opticalflow`), vectors in pixels of this frame.
  model::FlowView flow_view;
  GBytes *flow_bytes = NULL;
  GstOpticalFlowMeta *flow_meta = gst_buffer_get_optical_flow_meta(buffer.get());
  if (flow_meta) {
    guint fw = 0, fh = 0;
    flow_bytes = gst_optical_flow_meta_get_flow(flow_meta, &fw, &fh);
    flow_view.data = (const float *)g_bytes_get_data(flow_bytes, NULL);
    flow_view.width = (int)fw;
    flow_view.height = (int)fh;
    flow_view.stride = (std::size_t)fw * 2 * sizeof(float);
    flow_view.frame_width = view.width;
    flow_view.frame_height = view.height;
  }

  std::vector<model::SaliencyMap> maps;
  GstFlowReturn ret = GST_FLOW_OK;
  try {
    maps = priv->predictor->push(view, flow_bytes ? &flow_view : nullptr);
  } catch (const std::exception &e) {
    GST_ELEMENT_ERROR(self, LIBRARY, FAILED, ("Saliency inference failed."), ("%s", e.what()));
    ret = GST_FLOW_ERROR;
  } catch (...) {
    GST_ELEMENT_ERROR(self, LIBRARY, FAILED, ("Saliency inference failed."), ("unknown exception"));
    ret = GST_FLOW_ERROR;
  }
  gst_video_frame_unmap(&frame);
  if (flow_bytes) g_bytes_unref(flow_bytes);
  if (ret != GST_FLOW_OK) return ret;

  priv->held.push_back(HeldFrame{std::move(buffer), priv->next_index++, false});
  gst_saliency_attach_maps(self, maps);
  return GST_FLOW_OK;
}

/* Called by the base class after each submitted buffer until it returns NULL:
 * hands out the oldest held buffer once its map is attached. */
static GstFlowReturn gst_saliency_generate_output(GstBaseTransform *trans, GstBuffer **outbuf) {
  GstSaliencyPrivate *priv = GST_SALIENCY(trans)->priv;
  *outbuf = NULL;
  if (!priv->held.empty() && priv->held.front().has_map) {
    *outbuf = priv->held.front().buffer.release();
    priv->held.pop_front();
  }
  return GST_FLOW_OK;
}
