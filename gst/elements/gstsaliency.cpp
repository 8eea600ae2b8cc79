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
 * uses optical flow and holds 5 frames. `tinyhd` (WACV 2023) looks at the
 * 16 frames ending at the target frame, so it holds none and suits live
 * sources; its published weights run at live rates on a CPU. `baseline`
 * needs no weights and holds none. At EOS, on a new segment, on a caps change and on a DISCONT buffer
 * the held frames are drained: their windows are completed by repeating the
 * last frame, so each still gets its map. A flush drops them.
 *
 * When the input carries #GstOpticalFlowMeta (from `opticalflow`), models that
 * use flow take it from there; otherwise they compute it themselves.
 *
 * Inference runs in the element's own thread (a task on its source pad), so a
 * pipeline needs no `queue` around it: the sink pad puts each buffer in a
 * queue and returns, and the task runs the model, attaches the maps and
 * pushes the buffers downstream in order. At most 4 frames wait for the
 * model: enough for the bursts of a decoder or of `opticalflow`, few buffers
 * held. Serialized events and queries keep their place among the buffers:
 * EOS returns once every frame before it has left, a caps change waits until
 * the frames of the old caps have left, and a flush drops the queue with the
 * held frames. The queue adds nothing to the minimum latency (it is empty
 * while the model keeps up) and, as `queue` does, what it can absorb (4 frame
 * durations) to the maximum.
 *
 * When the model is slower than its input, a non-live source waits: the sink
 * pad blocks while 4 frames wait, and every frame goes through the model. A
 * live source is never made to wait (upstream is live when the LATENCY query
 * the pipeline sends before PLAYING says so, or when a buffer carries
 * %GST_BUFFER_FLAG_LIVE): a frame that finds 4 frames waiting skips the model
 * and leaves in its place with the map of the frame before it, so a frame
 * spends at most about 6 model calls (the 4 queued, the one in progress, its
 * own) in the element, plus the look-ahead, instead of a growing backlog.
 * Skipped frames are not given to the model, so in overload its windows see
 * fewer frames and span more time (STSANet's 32 frames cover more than 32
 * frame durations), and STRA-Net computes its own flow after a skip (the
 * #GstOpticalFlowMeta is relative to the skipped frame). The look-ahead then
 * counts frames that went through the model, and the frames skipped between
 * them are held in order with them. The element posts an element message
 * `saliency-overload` when it starts skipping and again when its queue has
 * emptied (or at EOS, flush or stop), with the fields `skipped` (#guint64,
 * frames that skipped the model since the element started) and `engaged`
 * (#gboolean).
 *
 * Input is packed 8-bit RGB in any byte order, GRAY8, or the 4:2:0 YUV that
 * decoders and encoders exchange (I420, NV12; BT.601, BT.709 or BT.2020
 * matrix and range from the caps' colorimetry), so a decoder, `saliency` and
 * `saliencyx264enc` chain without `videoconvert`. Metas do not survive elements that drop
 * video-size metas (videocrop, videoflip): put `saliency` after them.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 filesrc location=in.mp4 ! decodebin ! videoconvert ! opticalflow ! \
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

#include <algorithm>
#include <condition_variable>
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
  GST_SALIENCY_MODEL_TINYHD,
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
/* Frames that may wait for the worker thread (not counting the one it is
 * running the model on, nor the frames the model holds for its look-ahead).
 * Enough for the bursts of a decoder reordering B-frames or of a flow
 * element, few enough that a live source in overload waits for at most
 * QUEUE_FRAMES + 1 inferences, and that the element holds few upstream
 * buffers. */
#define QUEUE_FRAMES 4

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
      {GST_SALIENCY_MODEL_TINYHD,
       "TinyHD (WACV 2023): 16-frame window ending at the frame, no look-ahead, fast enough for live "
       "video on a CPU; needs weights (d123s_rc4_rc1T.pth from github.com/feiyanhu/tinyHD)",
       "tinyhd"},
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

struct EventUnref {
  void operator()(GstEvent *e) const { gst_event_unref(e); }
};
using EventPtr = std::unique_ptr<GstEvent, EventUnref>;

struct BytesUnref {
  void operator()(GBytes *b) const { g_bytes_unref(b); }
};
using BytesPtr = std::unique_ptr<GBytes, BytesUnref>;

/* A buffer waiting for its map, in output order. `index` counts the frames
 * given to the Predictor since its last reset, as SaliencyMap::frame_index
 * does; a frame that skipped the model has none and leaves with the map of
 * the frame before it. */
struct HeldFrame {
  BufferPtr buffer;
  std::int64_t index = -1;
  bool has_map = false;
  bool skipped = false;
};

/* The negotiated input, as the frames queued under it must be read. */
struct InputFormat {
  GstVideoInfo info;
  model::PixelFormat format = model::PixelFormat::RGB;
};

/* Set by the worker when it has handled a queue item a streaming thread waits
 * for (EOS, a caps change, a serialized query). */
struct Ticket {
  bool done = false;
  bool result = false;
};

/* One entry of the worker's queue, in stream order. */
struct QueueItem {
  enum class Kind {
    Frame,    // a buffer; `skip`: it does not go to the model
    Event,    // a serialized event the worker forwards (after a drain when `drain`)
    Query,    // a serialized query the worker answers; `query` belongs to the waiter
    Barrier,  // nothing to forward: the waiter goes on once the worker got here
  };
  Kind kind = Kind::Frame;
  BufferPtr buffer;
  std::shared_ptr<const InputFormat> input;
  bool skip = false;
  EventPtr event;
  GstQuery *query = nullptr;
  bool drain = false;
  Ticket *ticket = nullptr;
};

model::ModelKind to_model(GstSaliencyModel m) {
  switch (m) {
    case GST_SALIENCY_MODEL_STSANET:
      return model::ModelKind::STSANet;
    case GST_SALIENCY_MODEL_STRANET:
      return model::ModelKind::STRANet;
    case GST_SALIENCY_MODEL_TINYHD:
      return model::ModelKind::TinyHD;
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

/* C++ state; created in init, deleted in finalize (STYLE.md §a).
 *
 * Threads: the streaming thread (sink pad: chain, serialized events and
 * queries) fills `queue`; the worker, a GstTask on the source pad
 * (gst_saliency_loop), empties it, drives the Predictor and pushes
 * downstream. They meet only under `qlock`. The worker alone touches the
 * Predictor and `held` while the task runs; FLUSH_STOP, start() and stop()
 * touch them only while the task is paused or stopped. */
struct GstSaliencyPrivate {
  Settings settings;  // guarded by GST_OBJECT_LOCK

  std::mutex lock;  // guards the three fields below, which queries read
  int lookahead = 0;
  GstClockTime caps_frame_duration = GST_CLOCK_TIME_NONE;
  GstClockTime last_buffer_duration = GST_CLOCK_TIME_NONE;

  // Streaming thread (set_caps, chain), and start/stop:
  std::unique_ptr<model::Predictor> predictor;  // created in start(), freed in stop()
  std::shared_ptr<const InputFormat> input;     // null until caps are set

  // The queue between the streaming thread and the worker, guarded by qlock.
  std::mutex qlock;
  std::condition_variable item_added;  // the worker waits for items
  std::condition_variable item_taken;  // the chain waits for room, waiters for tickets
  std::deque<QueueItem> queue;
  int queued_frames = 0;    // frames in `queue` that go to the model (at most QUEUE_FRAMES)
  bool src_active = false;  // the source pad is active: the worker may run
  bool flushing = true;     // flushing or stopped: nothing is queued, the worker pauses
  GstFlowReturn srcresult = GST_FLOW_FLUSHING;  // the last downstream flow return
  bool flow_reported = false;  // the chain returned srcresult upstream
  guint64 flush_seq = 0;       // FLUSH_STOPs so far
  bool error_posted = false;   // srcresult is our own GST_FLOW_ERROR, already posted
  bool upstream_live = false;  // from the last LATENCY answer we forwarded
  bool overloaded = false;     // a live frame skipped the model and the queue has not emptied since
  guint64 skipped = 0;         // frames that skipped the model since the element started

  // Worker (and FLUSH_STOP, start, stop while it is paused):
  std::deque<HeldFrame> held;    // output order, oldest first
  std::int64_t next_index = 0;   // index the next frame given to the Predictor gets
  BytesPtr last_map;             // map of the last frame that left, for skipped frames
  guint last_map_width = 0, last_map_height = 0;
  bool skipped_since_model = false;  // a frame skipped the model since the last model frame
  guint64 item_flush_seq = 0;  // flush_seq when the worker took its current item
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
static gboolean gst_saliency_src_activate_mode(GstPad *pad, GstObject *parent, GstPadMode mode,
                                               gboolean active);
static void gst_saliency_loop(gpointer user_data);
static GstFlowReturn gst_saliency_drain(GstSaliency *self);
static void gst_saliency_reset(GstSaliency *self);

/* BaseTransform's activation of the source pad, which ours wraps. */
static GstPadActivateModeFunction base_src_activate_mode = NULL;

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
          "model", "Model", "Saliency model; stsanet, stranet and tinyhd need weights (or random-init)",
          GST_TYPE_SALIENCY_MODEL, DEFAULT_MODEL,
          (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));
  /**
   * GstSaliency:weights:
   *
   * Checkpoint of a deep model: a TinyHD .pth file as published
   * (d123s_rc4_rc1T.pth from github.com/feiyanhu/tinyHD, folder weights/), an
   * STSANet .pth file as published, or an STRA-Net checkpoint converted as
   * the README describes. Read when the
   * element starts; a missing or unreadable file fails the state change.
   *
   * Since: 0.1
   */
  g_object_class_install_property(
      gobject_class, PROP_WEIGHTS,
      g_param_spec_string(
          "weights", "Weights",
          "Path of the model checkpoint (TinyHD .pth as published, STSANet .pth, converted "
          "STRA-Net); ignored by the baseline",
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
   * set, else the CPUs this process may run on; `tinyhd` then uses one thread,
   * which runs it fastest (docs/tinyhd.md). Read when the element starts.
   *
   * Since: 0.1
   */
  g_object_class_install_property(
      gobject_class, PROP_THREADS,
      g_param_spec_uint(
          "threads", "Threads",
          "CPU threads for inference (0 = one per core: OMP_NUM_THREADS when set, else the CPUs "
          "this process may use; tinyhd: 1)",
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
  // The worker task starts and stops with the source pad (as queue's does).
  GstPad *srcpad = GST_BASE_TRANSFORM_SRC_PAD(self);
  base_src_activate_mode = GST_PAD_ACTIVATEMODEFUNC(srcpad);
  gst_pad_set_activatemode_function(srcpad, GST_DEBUG_FUNCPTR(gst_saliency_src_activate_mode));
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

/* Posts the `saliency-overload` element message (SECTION above). */
static void gst_saliency_post_overload(GstSaliency *self, bool engaged, guint64 skipped) {
  GST_INFO_OBJECT(self, "%s, %" G_GUINT64_FORMAT " frames skipped so far",
                  engaged ? "overloaded: live frames skip the model" : "no longer overloaded",
                  skipped);
  GstStructure *s = gst_structure_new("saliency-overload", "skipped", G_TYPE_UINT64, skipped,
                                      "engaged", G_TYPE_BOOLEAN, (gboolean)engaged, NULL);
  gst_element_post_message(GST_ELEMENT(self), gst_message_new_element(GST_OBJECT(self), s));
}

/* Leaves the overloaded state; true when it was on (post the message after
 * releasing qlock). Called with qlock. */
static bool gst_saliency_disengage_locked(GstSaliencyPrivate *priv) {
  const bool was = priv->overloaded;
  priv->overloaded = false;
  return was;
}

/* Empties the queue: frames and events are dropped, except that sticky
 * events other than SEGMENT and EOS are stored on the source pad so that
 * they still go out (as gstqueue.c does); waiters are released. Called with
 * qlock. */
static void gst_saliency_clear_queue_locked(GstSaliency *self) {
  GstSaliencyPrivate *priv = self->priv;
  if (!priv->queue.empty()) GST_DEBUG_OBJECT(self, "dropping %zu queued items", priv->queue.size());
  for (QueueItem &item : priv->queue) {
    GstEvent *event = item.event.get();
    if (event && GST_EVENT_IS_STICKY(event) && GST_EVENT_TYPE(event) != GST_EVENT_SEGMENT &&
        GST_EVENT_TYPE(event) != GST_EVENT_EOS)
      gst_pad_store_sticky_event(GST_BASE_TRANSFORM_SRC_PAD(self), event);
    if (item.ticket) {
      item.ticket->done = true;
      item.ticket->result = false;
    }
  }
  priv->queue.clear();
  priv->queued_frames = 0;
  priv->item_taken.notify_all();
}

/* Stops the queue: the chain and the threads waiting for an item return,
 * and the worker pauses once the item it handles is done (a model call
 * cannot be interrupted). Not with qlock. */
static void gst_saliency_pause_worker(GstSaliency *self) {
  GstSaliencyPrivate *priv = self->priv;
  {
    std::lock_guard<std::mutex> guard(priv->qlock);
    priv->flushing = true;
    priv->srcresult = GST_FLOW_FLUSHING;
    priv->item_added.notify_all();
    priv->item_taken.notify_all();
  }
  gst_pad_pause_task(GST_BASE_TRANSFORM_SRC_PAD(self));
}

/* Lets the queue run again and starts the worker. Called with qlock. */
static gboolean gst_saliency_start_worker_locked(GstSaliency *self) {
  GstSaliencyPrivate *priv = self->priv;
  priv->flushing = false;
  priv->srcresult = GST_FLOW_OK;
  priv->flow_reported = false;
  priv->error_posted = false;
  return gst_pad_start_task(GST_BASE_TRANSFORM_SRC_PAD(self), gst_saliency_loop, self, NULL);
}

/* Worker: records a flow return other than OK from downstream (or our own
 * error), which the chain returns upstream from then on. Not when a flush
 * ended since the worker took its item (a seek sent from a downstream
 * streaming thread, that is from this thread): that flow return belongs to
 * the old stream. */
static void gst_saliency_set_srcresult(GstSaliency *self, GstFlowReturn ret, bool own_error) {
  GstSaliencyPrivate *priv = self->priv;
  std::lock_guard<std::mutex> guard(priv->qlock);
  if (priv->flushing || priv->srcresult != GST_FLOW_OK || priv->flush_seq != priv->item_flush_seq)
    return;  // the first one stays
  GST_DEBUG_OBJECT(self, "flow return %s", gst_flow_get_name(ret));
  priv->srcresult = ret;
  priv->flow_reported = false;
  priv->error_posted = own_error;
  priv->item_taken.notify_all();
}

/* The source pad's activation (BaseTransform's) plus the worker task, which
 * runs while the pad is active in push mode, as queue's does. */
static gboolean gst_saliency_src_activate_mode(GstPad *pad, GstObject *parent, GstPadMode mode,
                                               gboolean active) {
  GstSaliency *self = GST_SALIENCY(parent);
  GstSaliencyPrivate *priv = self->priv;
  if (mode != GST_PAD_MODE_PUSH) {
    // Buffers leave from the worker; pulling through the base class would bypass it.
    if (active) {
      GST_DEBUG_OBJECT(self, "refusing pull mode: the element pushes from its own thread");
      return FALSE;
    }
    return base_src_activate_mode(pad, parent, mode, active);
  }
  if (active) {
    if (!base_src_activate_mode(pad, parent, mode, active)) return FALSE;
    std::lock_guard<std::mutex> guard(priv->qlock);
    priv->src_active = true;
    priv->overloaded = false;
    priv->skipped = 0;
    return gst_saliency_start_worker_locked(self);
  }
  {
    std::lock_guard<std::mutex> guard(priv->qlock);
    priv->src_active = false;
    priv->flushing = true;
    priv->srcresult = GST_FLOW_FLUSHING;
    priv->item_added.notify_all();
    priv->item_taken.notify_all();
  }
  // Waits for the item the worker handles (downstream is deactivated first,
  // so a push returns); the sink pad, deactivated next, then stops.
  gst_pad_stop_task(pad);
  return base_src_activate_mode(pad, parent, mode, active);
}

/* Drops the queued items (the worker is paused) and ends an overload, posting
 * its end; a flush also starts a new flush sequence, stopping forgets whether
 * upstream was live. Frames held for the look-ahead are the caller's. */
static void gst_saliency_drop_queue(GstSaliency *self, bool stopping) {
  GstSaliencyPrivate *priv = self->priv;
  bool post;
  guint64 skipped;
  {
    std::lock_guard<std::mutex> guard(priv->qlock);
    gst_saliency_clear_queue_locked(self);
    post = gst_saliency_disengage_locked(priv);
    skipped = priv->skipped;
    if (stopping)
      priv->upstream_live = false;
    else
      priv->flush_seq++;
  }
  if (post) gst_saliency_post_overload(self, false, skipped);
}

static gboolean gst_saliency_stop(GstBaseTransform *trans) {
  GstSaliency *self = GST_SALIENCY(trans);
  GstSaliencyPrivate *priv = self->priv;
  // The worker stopped with the source pad: queued and held frames are
  // dropped, as by a flush.
  gst_saliency_drop_queue(self, /*stopping=*/true);
  if (!priv->held.empty()) GST_DEBUG_OBJECT(self, "dropping %zu held frames", priv->held.size());
  priv->held.clear();
  priv->last_map.reset();
  priv->predictor.reset();
  priv->input.reset();
  std::lock_guard<std::mutex> guard(priv->lock);
  priv->lookahead = 0;
  priv->caps_frame_duration = GST_CLOCK_TIME_NONE;
  return TRUE;
}

static gboolean gst_saliency_set_caps(GstBaseTransform *trans, GstCaps *incaps, GstCaps *outcaps) {
  GstSaliency *self = GST_SALIENCY(trans);
  GstSaliencyPrivate *priv = self->priv;
  auto input = std::make_shared<InputFormat>();
  if (!gst_video_info_from_caps(&input->info, incaps)) {
    GST_WARNING_OBJECT(self, "invalid caps %" GST_PTR_FORMAT, incaps);
    return FALSE;
  }
  if (!gstsaliency::to_pixel_format(GST_VIDEO_INFO_FORMAT(&input->info), &input->format)) {
    GST_WARNING_OBJECT(self, "unsupported format in %" GST_PTR_FORMAT, incaps);
    return FALSE;
  }
  GST_DEBUG_OBJECT(self, "caps %" GST_PTR_FORMAT, incaps);
  // Frames queued before keep the format they were queued with.
  priv->input = input;

  const GstVideoInfo &info = input->info;
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

/* Worker: attaches ready maps to their held buffers. */
static void gst_saliency_attach_maps(GstSaliency *self, std::vector<model::SaliencyMap> &maps) {
  GstSaliencyPrivate *priv = self->priv;
  for (auto &m : maps) {
    auto h = std::find_if(priv->held.begin(), priv->held.end(), [&](const HeldFrame &f) {
      return !f.skipped && f.index == m.frame_index;
    });
    if (h == priv->held.end() || m.values.size() != (std::size_t)m.width * m.height ||
        m.width <= 0 || m.height <= 0) {
      GST_WARNING_OBJECT(self, "ignoring map for frame %" G_GINT64_FORMAT " (%dx%d)", m.frame_index,
                         m.width, m.height);
      continue;
    }
    if (h->has_map) continue;
    // A shared buffer gets a new header, not new memory (STYLE.md §c).
    GstBuffer *buf = gst_buffer_make_writable(h->buffer.release());
    h->buffer.reset(buf);
    gst_buffer_foreach_meta(buf, remove_saliency_meta, NULL);
    gst_buffer_add_saliency_meta(buf, (guint)m.width, (guint)m.height, m.values.data());
    h->has_map = true;
    GST_LOG_OBJECT(self, "map %dx%d for frame %" G_GINT64_FORMAT " (%" GST_TIME_FORMAT ")", m.width,
                   m.height, m.frame_index, GST_TIME_ARGS(GST_BUFFER_PTS(buf)));
  }
}

/* Worker: a frame that skipped the model gets the map of the frame that
 * left before it (the same immutable bytes, not a reference to that buffer's
 * meta). */
static void gst_saliency_attach_last_map(GstSaliency *self, HeldFrame &frame) {
  GstSaliencyPrivate *priv = self->priv;
  if (!priv->last_map) {
    GST_DEBUG_OBJECT(self, "skipped frame %" GST_TIME_FORMAT " leaves without a map: none before it",
                     GST_TIME_ARGS(GST_BUFFER_PTS(frame.buffer.get())));
    return;
  }
  GstBuffer *buf = gst_buffer_make_writable(frame.buffer.release());
  frame.buffer.reset(buf);
  gst_buffer_foreach_meta(buf, remove_saliency_meta, NULL);
  gst_buffer_add_saliency_meta_from_bytes(buf, priv->last_map_width, priv->last_map_height,
                                          priv->last_map.get());
  frame.has_map = true;
}

/* Worker: pushes one buffer downstream and remembers its map for the frames
 * that skip the model. */
static GstFlowReturn gst_saliency_push(GstSaliency *self, BufferPtr buffer) {
  GstSaliencyPrivate *priv = self->priv;
  GstBaseTransform *trans = GST_BASE_TRANSFORM(self);
  GstBuffer *buf = buffer.get();
  if (GstSaliencyMeta *meta = gst_buffer_get_saliency_meta(buf)) {
    guint w = 0, h = 0;
    priv->last_map.reset(gst_saliency_meta_get_map(meta, &w, &h));
    priv->last_map_width = w;
    priv->last_map_height = h;
  }
  // The base class's chain did this for the buffers it pushed; its POSITION
  // answer reads it.
  if (GST_BUFFER_PTS_IS_VALID(buf)) {
    GST_OBJECT_LOCK(self);
    if (trans->segment.format == GST_FORMAT_TIME)
      trans->segment.position = GST_BUFFER_PTS(buf) +
                                (GST_BUFFER_DURATION_IS_VALID(buf) ? GST_BUFFER_DURATION(buf) : 0);
    GST_OBJECT_UNLOCK(self);
  }
  const GstFlowReturn ret = gst_pad_push(GST_BASE_TRANSFORM_SRC_PAD(self), buffer.release());
  if (ret != GST_FLOW_OK) gst_saliency_set_srcresult(self, ret, false);
  return ret;
}

/* Worker: pushes the held frames that are ready, oldest first: a frame once
 * its map is attached, a frame that skipped the model once the frames
 * before it have left. */
static GstFlowReturn gst_saliency_push_ready(GstSaliency *self) {
  GstSaliencyPrivate *priv = self->priv;
  while (!priv->held.empty()) {
    HeldFrame &front = priv->held.front();
    if (front.skipped)
      gst_saliency_attach_last_map(self, front);
    else if (!front.has_map)
      break;
    BufferPtr buffer = std::move(front.buffer);
    priv->held.pop_front();
    const GstFlowReturn ret = gst_saliency_push(self, std::move(buffer));
    if (ret != GST_FLOW_OK) return ret;
  }
  return GST_FLOW_OK;
}

/* Worker: completes the windows of all held frames and pushes them, in
 * order, with their maps. Runs where EOS, SEGMENT, a caps change or a
 * DISCONT buffer reaches the worker, so the held frames leave before the
 * event or buffer that ends their stream. After a refused push or an error
 * the held frames are dropped instead. */
static GstFlowReturn gst_saliency_drain(GstSaliency *self) {
  GstSaliencyPrivate *priv = self->priv;
  if (!priv->predictor) return GST_FLOW_OK;
  GstFlowReturn ret;
  {
    std::lock_guard<std::mutex> guard(priv->qlock);
    ret = priv->srcresult;
  }
  if (ret == GST_FLOW_OK && (priv->predictor->pending() > 0 || !priv->held.empty())) {
    GST_DEBUG_OBJECT(self, "draining %zu held frames", priv->held.size());
    try {
      std::vector<model::SaliencyMap> maps = priv->predictor->finish();
      gst_saliency_attach_maps(self, maps);
    } catch (const std::exception &e) {
      GST_ELEMENT_ERROR(self, LIBRARY, FAILED, ("Saliency inference failed."), ("%s", e.what()));
      gst_saliency_set_srcresult(self, GST_FLOW_ERROR, true);
      ret = GST_FLOW_ERROR;
    } catch (...) {
      GST_ELEMENT_ERROR(self, LIBRARY, FAILED, ("Saliency inference failed."),
                        ("unknown exception"));
      gst_saliency_set_srcresult(self, GST_FLOW_ERROR, true);
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
    if (h.skipped)
      gst_saliency_attach_last_map(self, h);
    else if (!h.has_map)
      GST_WARNING_OBJECT(self, "frame %" G_GINT64_FORMAT " leaves without a map", h.index);
    ret = gst_saliency_push(self, std::move(h.buffer));
  }
  priv->next_index = 0;  // finish() resets the predictor: indices restart
  priv->skipped_since_model = false;
  return ret;
}

/* Flush (the worker is paused): held frames are dropped without output. */
static void gst_saliency_reset(GstSaliency *self) {
  GstSaliencyPrivate *priv = self->priv;
  if (!priv->held.empty()) GST_DEBUG_OBJECT(self, "dropping %zu held frames", priv->held.size());
  priv->held.clear();
  priv->next_index = 0;
  priv->last_map.reset();
  priv->skipped_since_model = false;
  if (priv->predictor) priv->predictor->reset();
}

/* Worker: runs the model on a queued frame (or holds a frame that skips it)
 * and pushes what became ready. */
static void gst_saliency_process_frame(GstSaliency *self, QueueItem &item) {
  GstSaliencyPrivate *priv = self->priv;
  {
    std::lock_guard<std::mutex> guard(priv->qlock);
    if (priv->srcresult != GST_FLOW_OK) return;  // refused downstream or failed: dropped
  }
  BufferPtr buffer = std::move(item.buffer);

  // The buffer's own flag: a new stream starts here, the held frames leave
  // first (their windows completed), without the flag.
  if (GST_BUFFER_IS_DISCONT(buffer.get()) && (priv->next_index > 0 || !priv->held.empty())) {
    GST_DEBUG_OBJECT(self, "DISCONT: draining and restarting the model");
    if (gst_saliency_drain(self) != GST_FLOW_OK) return;
  }

  if (item.skip) {
    GST_LOG_OBJECT(self, "frame %" GST_TIME_FORMAT " skips the model",
                   GST_TIME_ARGS(GST_BUFFER_PTS(buffer.get())));
    priv->held.push_back(HeldFrame{std::move(buffer), -1, false, true});
    priv->skipped_since_model = true;
    gst_saliency_push_ready(self);
    return;
  }

  GstVideoFrame frame;
  GstVideoInfo info = item.input->info;
  if (!gst_video_frame_map(&frame, &info, buffer.get(), GST_MAP_READ)) {
    GST_ELEMENT_ERROR(self, STREAM, FAILED, ("Could not map the video frame."), (NULL));
    gst_saliency_set_srcresult(self, GST_FLOW_ERROR, true);
    return;
  }
  model::FrameView view;
  view.data = (const std::uint8_t *)GST_VIDEO_FRAME_PLANE_DATA(&frame, 0);
  view.width = GST_VIDEO_FRAME_WIDTH(&frame);
  view.height = GST_VIDEO_FRAME_HEIGHT(&frame);
  view.stride = (std::size_t)GST_VIDEO_FRAME_PLANE_STRIDE(&frame, 0);
  view.format = item.input->format;
  if (model::is_yuv420(view.format)) {  // the Predictor reads the planes as they are
    view.matrix = gstsaliency::to_yuv_matrix(frame.info.colorimetry);
    view.range = frame.info.colorimetry.range == GST_VIDEO_COLOR_RANGE_0_255 ? model::YuvRange::Full
                                                                             : model::YuvRange::Limited;
    for (int i = 0; i < 2 && i + 1 < (int)GST_VIDEO_FRAME_N_PLANES(&frame); ++i) {
      view.chroma[i] = (const std::uint8_t *)GST_VIDEO_FRAME_PLANE_DATA(&frame, i + 1);
      view.chroma_stride[i] = (std::size_t)GST_VIDEO_FRAME_PLANE_STRIDE(&frame, i + 1);
    }
  }

  // Upstream flow (from `opticalflow`), vectors in pixels of this frame. It
  // is relative to the previous frame, so not after a frame that skipped the
  // model: the Predictor then computes its own.
  model::FlowView flow_view;
  GBytes *flow_bytes = NULL;
  GstOpticalFlowMeta *flow_meta = gst_buffer_get_optical_flow_meta(buffer.get());
  if (flow_meta && priv->skipped_since_model) {
    GST_LOG_OBJECT(self, "not using the flow meta: the frame before skipped the model");
  } else if (flow_meta) {
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
  bool failed = false;
  try {
    maps = priv->predictor->push(view, flow_bytes ? &flow_view : nullptr);
  } catch (const std::exception &e) {
    GST_ELEMENT_ERROR(self, LIBRARY, FAILED, ("Saliency inference failed."), ("%s", e.what()));
    failed = true;
  } catch (...) {
    GST_ELEMENT_ERROR(self, LIBRARY, FAILED, ("Saliency inference failed."), ("unknown exception"));
    failed = true;
  }
  gst_video_frame_unmap(&frame);
  if (flow_bytes) g_bytes_unref(flow_bytes);
  if (failed) {
    gst_saliency_set_srcresult(self, GST_FLOW_ERROR, true);
    return;
  }

  priv->held.push_back(HeldFrame{std::move(buffer), priv->next_index++, false, false});
  priv->skipped_since_model = false;
  gst_saliency_attach_maps(self, maps);
  gst_saliency_push_ready(self);
}

/* The worker task (one call per queue item): frames go through the model and
 * leave in order, events and queries go downstream in their place. */
static void gst_saliency_loop(gpointer user_data) {
  GstSaliency *self = GST_SALIENCY(user_data);
  GstSaliencyPrivate *priv = self->priv;
  GstBaseTransform *trans = GST_BASE_TRANSFORM(self);
  QueueItem item;
  {
    std::unique_lock<std::mutex> lk(priv->qlock);
    priv->item_added.wait(lk, [&] { return priv->flushing || !priv->queue.empty(); });
    if (priv->flushing) {
      lk.unlock();
      GST_DEBUG_OBJECT(self, "pausing the worker");
      gst_pad_pause_task(GST_BASE_TRANSFORM_SRC_PAD(self));
      return;
    }
    item = std::move(priv->queue.front());
    priv->queue.pop_front();
    priv->item_flush_seq = priv->flush_seq;
    if (item.kind == QueueItem::Kind::Frame && !item.skip) {
      priv->queued_frames--;
      priv->item_taken.notify_all();  // room for the chain
    }
  }

  bool result = true;
  switch (item.kind) {
    case QueueItem::Kind::Frame:
      gst_saliency_process_frame(self, item);
      break;
    case QueueItem::Kind::Barrier:
      if (item.drain) gst_saliency_drain(self);
      break;
    case QueueItem::Kind::Event: {
      GstEvent *event = item.event.release();
      if (item.drain) gst_saliency_drain(self);
      if (GST_EVENT_TYPE(event) == GST_EVENT_EOS) {
        // A fatal flow return from downstream that upstream has not seen
        // yet (no buffer came after it): say so, as gstqueue.c does.
        GstFlowReturn ret;
        bool tell;
        {
          std::lock_guard<std::mutex> guard(priv->qlock);
          ret = priv->srcresult;
          tell = !priv->flow_reported && !priv->error_posted &&
                 (ret == GST_FLOW_NOT_LINKED || ret < GST_FLOW_EOS);
        }
        if (tell) GST_ELEMENT_FLOW_ERROR(self, ret);
      }
      result = GST_BASE_TRANSFORM_CLASS(parent_class)->sink_event(trans, event);
      break;
    }
    case QueueItem::Kind::Query:
      result = GST_BASE_TRANSFORM_CLASS(parent_class)->query(trans, GST_PAD_SINK, item.query);
      break;
  }

  if (item.ticket) {
    std::lock_guard<std::mutex> guard(priv->qlock);
    item.ticket->result = result;
    item.ticket->done = true;
    priv->item_taken.notify_all();
  }
}

/* Streaming thread: queues `item` and waits until the worker has handled
 * it. FALSE when the element flushes or stops first. */
static bool gst_saliency_queue_and_wait(GstSaliency *self, QueueItem item) {
  GstSaliencyPrivate *priv = self->priv;
  Ticket ticket;
  item.ticket = &ticket;
  std::unique_lock<std::mutex> lk(priv->qlock);
  if (priv->flushing) return false;
  priv->queue.push_back(std::move(item));
  priv->item_added.notify_one();
  priv->item_taken.wait(lk, [&] { return ticket.done || priv->flushing; });
  if (!ticket.done) {
    // Flushing: take the item back; if the worker has it, it finishes it
    // soon (downstream flushes too) and must not find the ticket gone.
    auto it = std::find_if(priv->queue.begin(), priv->queue.end(),
                           [&](const QueueItem &i) { return i.ticket == &ticket; });
    if (it != priv->queue.end()) {
      priv->queue.erase(it);
      return false;
    }
    priv->item_taken.wait(lk, [&] { return ticket.done; });
  }
  return ticket.result;
}

/* Streaming thread: serialized events other than CAPS keep their place among
 * the buffers; the worker forwards them. EOS and SEGMENT end a stream, so the
 * held frames are drained before them. EOS returns once it has gone
 * downstream, after every frame before it (STYLE.md §c). */
static gboolean gst_saliency_queue_event(GstSaliency *self, GstEvent *event) {
  GstSaliencyPrivate *priv = self->priv;
  const GstEventType type = GST_EVENT_TYPE(event);
  QueueItem item;
  item.kind = QueueItem::Kind::Event;
  item.event.reset(event);
  item.drain = type == GST_EVENT_EOS || type == GST_EVENT_SEGMENT;
  bool post = false;
  guint64 skipped = 0;
  {
    std::lock_guard<std::mutex> guard(priv->qlock);
    if (priv->flushing) return FALSE;
    // A new stream or segment after downstream said EOS: try again (gstqueue.c).
    if (priv->srcresult == GST_FLOW_EOS &&
        (type == GST_EVENT_STREAM_START || type == GST_EVENT_SEGMENT)) {
      priv->srcresult = GST_FLOW_OK;
      priv->flow_reported = false;
    }
    // After a flow error, only sticky events go on (to be stored downstream).
    if (priv->srcresult != GST_FLOW_OK && !GST_EVENT_IS_STICKY(event)) return FALSE;
    if (type == GST_EVENT_EOS) {
      post = gst_saliency_disengage_locked(priv);
      skipped = priv->skipped;
    } else {
      priv->queue.push_back(std::move(item));
      priv->item_added.notify_one();
    }
  }
  if (post) gst_saliency_post_overload(self, false, skipped);
  if (type != GST_EVENT_EOS) return TRUE;
  return gst_saliency_queue_and_wait(self, std::move(item));
}

static gboolean gst_saliency_sink_event(GstBaseTransform *trans, GstEvent *event) {
  GstSaliency *self = GST_SALIENCY(trans);
  GstSaliencyPrivate *priv = self->priv;
  switch (GST_EVENT_TYPE(event)) {
    case GST_EVENT_FLUSH_START: {
      // Downstream first: that returns a push the worker may be blocked in.
      const gboolean ret = GST_BASE_TRANSFORM_CLASS(parent_class)->sink_event(trans, event);
      gst_saliency_pause_worker(self);
      return ret;
    }
    case GST_EVENT_FLUSH_STOP: {
      gst_saliency_pause_worker(self);  // normally done at FLUSH_START already
      gst_saliency_drop_queue(self, /*stopping=*/false);
      gst_saliency_reset(self);
      const gboolean ret = GST_BASE_TRANSFORM_CLASS(parent_class)->sink_event(trans, event);
      std::lock_guard<std::mutex> guard(priv->qlock);
      // Not while the source pad is being deactivated (gstqueue.c).
      if (priv->src_active) gst_saliency_start_worker_locked(self);
      return ret;
    }
    case GST_EVENT_CAPS: {
      GstCaps *caps = NULL;
      gst_event_parse_caps(event, &caps);
      GstCaps *current = gst_pad_get_current_caps(GST_BASE_TRANSFORM_SINK_PAD(trans));
      const bool same = current && gst_caps_is_equal(current, caps);
      const bool changed = current && !same;
      if (current) gst_caps_unref(current);
      // The base class sets the caps and sends them downstream from this
      // thread, once the frames queued before them have left: when the caps
      // change, held frames leave with their maps and the old caps.
      if (!same) {
        QueueItem barrier;
        barrier.kind = QueueItem::Kind::Barrier;
        barrier.drain = changed;
        if (!gst_saliency_queue_and_wait(self, std::move(barrier))) {
          gst_event_unref(event);
          return FALSE;
        }
        // New caps may cure what downstream refused (the frames before them are gone).
        std::lock_guard<std::mutex> guard(priv->qlock);
        if (priv->srcresult == GST_FLOW_NOT_NEGOTIATED) priv->srcresult = GST_FLOW_OK;
      }
      return GST_BASE_TRANSFORM_CLASS(parent_class)->sink_event(trans, event);
    }
    default:
      break;
  }
  if (!GST_EVENT_IS_SERIALIZED(event))
    return GST_BASE_TRANSFORM_CLASS(parent_class)->sink_event(trans, event);
  return gst_saliency_queue_event(self, event);
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
  GstSaliencyPrivate *priv = self->priv;
  if (direction == GST_PAD_SRC && GST_QUERY_TYPE(query) == GST_QUERY_LATENCY) {
    if (!gst_pad_peer_query(GST_BASE_TRANSFORM_SINK_PAD(trans), query)) return FALSE;
    gboolean live;
    GstClockTime min, max;
    gst_query_parse_latency(query, &live, &min, &max);
    {
      // The pipeline asks before PLAYING, and a live source produces nothing
      // before PLAYING: this is how the chain knows whether to skip frames.
      std::lock_guard<std::mutex> guard(priv->qlock);
      priv->upstream_live = live;
    }
    int lookahead;
    {
      std::lock_guard<std::mutex> guard(priv->lock);
      lookahead = priv->lookahead;
    }
    // A frame leaves `lookahead` frames after it arrived (STYLE.md §c). The
    // queue adds no delay while the model keeps up, so nothing to the
    // minimum; like a queue (gstqueue.c), it adds what it can absorb to the
    // maximum.
    const GstClockTime frame = gst_saliency_frame_duration(self);
    const GstClockTime ours = (GstClockTime)lookahead * frame;
    GST_DEBUG_OBJECT(self,
                     "upstream latency min %" GST_TIME_FORMAT " (%s), ours %" GST_TIME_FORMAT
                     " + a queue of %d frames",
                     GST_TIME_ARGS(min), live ? "live" : "not live", GST_TIME_ARGS(ours),
                     QUEUE_FRAMES);
    min += ours;
    if (GST_CLOCK_TIME_IS_VALID(max)) max += ours + (GstClockTime)QUEUE_FRAMES * frame;
    gst_query_set_latency(query, live, min, max);
    return TRUE;
  }
  if (direction == GST_PAD_SINK && GST_QUERY_IS_SERIALIZED(query)) {
    // In order with the buffers, as gstqueue.c does: the worker answers it
    // once the frames before it have been handled.
    QueueItem item;
    item.kind = QueueItem::Kind::Query;
    item.query = query;
    return gst_saliency_queue_and_wait(self, std::move(item));
  }
  return GST_BASE_TRANSFORM_CLASS(parent_class)->query(trans, direction, query);
}

/* Holding N frames from a bounded upstream pool could stall a decoder: ask
 * for N more buffers than downstream needs (gstvabasetransform.c). N is the
 * look-ahead only: frames in the worker's queue go on to the model without
 * waiting for later input, so they never stop the pipeline, they only make
 * upstream wait when the pool is small. */
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

/* The chain: queues the buffer for the worker and returns the last
 * downstream flow return. A full queue makes a non-live upstream wait; a
 * frame from a live upstream skips the model instead (SECTION above). */
static GstFlowReturn gst_saliency_submit_input_buffer(GstBaseTransform *trans, gboolean is_discont,
                                                      GstBuffer *input) {
  GstSaliency *self = GST_SALIENCY(trans);
  GstSaliencyPrivate *priv = self->priv;
  BufferPtr buffer(input);

  if (!gst_base_transform_reconfigure(trans) || !priv->input) {
    if (GST_PAD_IS_FLUSHING(GST_BASE_TRANSFORM_SRC_PAD(trans))) return GST_FLOW_FLUSHING;
    GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, (NULL), ("no usable caps before the buffer"));
    return GST_FLOW_NOT_NEGOTIATED;
  }
  if (!priv->predictor) {
    GST_ELEMENT_ERROR(self, CORE, STATE_CHANGE, (NULL), ("buffer before the element started"));
    return GST_FLOW_ERROR;
  }
  if (GST_BUFFER_DURATION_IS_VALID(buffer.get())) {
    std::lock_guard<std::mutex> guard(priv->lock);
    priv->last_buffer_duration = GST_BUFFER_DURATION(buffer.get());
  }
  // `is_discont` is not used: the worker reads the buffer's own flag, in order.
  (void)is_discont;

  const bool flagged_live = GST_BUFFER_FLAG_IS_SET(buffer.get(), GST_BUFFER_FLAG_LIVE);
  bool post = false, engaged = false;
  guint64 skipped = 0;
  {
    std::unique_lock<std::mutex> lk(priv->qlock);
    const bool live = priv->upstream_live || flagged_live;
    if (!live) {
      // Back-pressure: wait for room, as a queue does.
      priv->item_taken.wait(lk, [&] {
        return priv->flushing || priv->srcresult != GST_FLOW_OK ||
               priv->queued_frames < QUEUE_FRAMES;
      });
    }
    if (priv->flushing) return GST_FLOW_FLUSHING;
    if (priv->srcresult != GST_FLOW_OK) {
      priv->flow_reported = true;
      return priv->srcresult;
    }
    QueueItem item;
    item.buffer = std::move(buffer);
    item.input = priv->input;
    item.skip = priv->queued_frames >= QUEUE_FRAMES;  // live only: the others waited
    if (item.skip) {
      priv->skipped++;
      if (!priv->overloaded) post = priv->overloaded = true;
    } else {
      // Overload ends when the worker has caught up with its queue.
      if (priv->queued_frames == 0 && priv->overloaded) {
        priv->overloaded = false;
        post = true;
      }
      priv->queued_frames++;
    }
    engaged = priv->overloaded;
    skipped = priv->skipped;
    priv->queue.push_back(std::move(item));
    priv->item_added.notify_one();
  }
  if (post) gst_saliency_post_overload(self, engaged, skipped);
  return GST_FLOW_OK;
}

/* Buffers leave from the worker (gst_saliency_push), never through the base
 * class's chain. */
static GstFlowReturn gst_saliency_generate_output(GstBaseTransform *trans, GstBuffer **outbuf) {
  *outbuf = NULL;
  return GST_FLOW_OK;
}
