// model::Predictor: windowing, flow, device transfer and batching around a SaliencyModel.
#include "salmodel/predictor.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include <opencv2/imgproc.hpp>
#include <torch/cuda.h>
#include <torch/torch.h>

#include "salflow/grid_flow.hpp"
#include "salmodel/cpu_runtime.hpp"
#include "salmaps/map_view.hpp"  // is_flat_range
#include "salmaps/yuv.hpp"
#include "salmodel/model_instance.hpp"
#include "salmodel/saliency_model.hpp"

namespace model {

namespace {

// Converts any of the 8-bit layouts to a contiguous RGB cv::Mat (a copy: the
// caller's buffer may be unmapped as soon as push() returns).
cv::Mat to_rgb(const FrameView &f) {
  if (!f.data || f.width <= 0 || f.height <= 0) throw ModelError("empty frame pushed to the predictor");
  if (is_yuv420(f.format)) {
    Yuv420View yuv;
    yuv.y = f.data;
    yuv.y_stride = f.stride;
    yuv.u = f.chroma[0];
    yuv.u_stride = f.chroma_stride[0];
    yuv.v = f.chroma[1];
    yuv.v_stride = f.chroma_stride[1];
    yuv.width = f.width;
    yuv.height = f.height;
    yuv.interleaved = f.format == PixelFormat::NV12;
    yuv.matrix = f.matrix;
    yuv.range = f.range;
    try {
      return yuv420_to_rgb(yuv);
    } catch (const std::invalid_argument &e) {
      throw ModelError(std::string("frame pushed to the predictor: ") + e.what());
    }
  }
  int channels = 3;
  switch (f.format) {
    case PixelFormat::RGB: case PixelFormat::BGR: channels = 3; break;
    case PixelFormat::GRAY8: channels = 1; break;
    default: channels = 4; break;
  }
  if (f.stride < std::size_t(f.width) * channels) throw ModelError("frame stride smaller than its row");
  const cv::Mat in(f.height, f.width, CV_8UC(channels), const_cast<std::uint8_t *>(f.data), f.stride);
  cv::Mat rgb;
  switch (f.format) {
    case PixelFormat::RGB: rgb = in.clone(); break;
    case PixelFormat::BGR: cv::cvtColor(in, rgb, cv::COLOR_BGR2RGB); break;
    case PixelFormat::RGBA: case PixelFormat::RGBx: cv::cvtColor(in, rgb, cv::COLOR_RGBA2RGB); break;
    case PixelFormat::BGRA: case PixelFormat::BGRx: cv::cvtColor(in, rgb, cv::COLOR_BGRA2RGB); break;
    case PixelFormat::GRAY8: cv::cvtColor(in, rgb, cv::COLOR_GRAY2RGB); break;
    case PixelFormat::xRGB: case PixelFormat::ARGB: {  // bytes A R G B
      rgb.create(f.height, f.width, CV_8UC3);
      const int from_to[] = {1, 0, 2, 1, 3, 2};
      cv::mixChannels(&in, 1, &rgb, 1, from_to, 3);
      break;
    }
    case PixelFormat::xBGR: case PixelFormat::ABGR: {  // bytes A B G R
      rgb.create(f.height, f.width, CV_8UC3);
      const int from_to[] = {3, 0, 2, 1, 1, 2};
      cv::mixChannels(&in, 1, &rgb, 1, from_to, 3);
      break;
    }
    case PixelFormat::I420: case PixelFormat::NV12: break;  // converted above
  }
  return rgb;
}

}  // namespace

struct Predictor::Impl {
  PredictorOptions options;
  std::shared_ptr<ModelInstance> instance;  // the weights, perhaps shared with other streams
  const SaliencyModel *net = nullptr;        // instance->model(): prepare_frame/flow only
  WindowSpec spec;
  torch::Device device{torch::kCPU};
  std::unique_ptr<flow::GridFlow> grid_flow;  // made on the first frame that wants flow
  int threads = 1;  // resolved PredictorOptions::threads
  // This stream's windows per forward pass: its own next key frames when the
  // model is its own; 1 on a shared instance, which batches across streams.
  int stream_batch = 1;

  // Stream state, all indices since the last reset.
  std::unique_ptr<StreamState> model_state;  // the model's per-stream state (stem rows, ConvGRU)
  std::int64_t pushed = 0;
  std::int64_t next_out = 0;   // next frame whose map is returned
  std::int64_t next_key = 0;   // next key frame (interval) not yet inferred
  std::map<std::int64_t, torch::Tensor> frames;    // prepared frames
  std::map<std::int64_t, torch::Tensor> flows;     // prepared flow i -> i+1, keyed by i
  std::map<std::int64_t, torch::Tensor> key_maps;  // inferred maps (cpu float, h x w)
  std::map<std::int64_t, cv::Mat> raw_flows;       // interval > 1: flow i -> i+1 in grid pixels
  torch::Tensor last_map;                          // the map returned for frame next_out - 1
  torch::Tensor zero_flow;
  int frame_w = 0, frame_h = 0;

  bool is_key(std::int64_t t) const { return t % options.interval == 0; }
  bool bidirectional() const {
    return options.interval > 1 && options.interval_mode == IntervalMode::Bidirectional;
  }
  // Flow grid: the model's choice when it consumes flow; otherwise (flow only
  // for warping maps between interval frames) a small grid, which is plenty
  // for maps of a few hundred cells and keeps the flow cheap beside the model.
  int grid_width() const {
    const int w = spec.needs_flow ? spec.flow_width : kWarpGridWidth;
    return w > 0 ? std::min(w, frame_w) : frame_w;
  }
  int grid_height() const {
    return grid_width() == frame_w ? frame_h
                                   : std::max(1, int(std::lround(double(frame_h) * grid_width() / frame_w)));
  }
  bool wants_flow() const { return spec.needs_flow || options.interval > 1; }
  static constexpr int kWarpGridWidth = 192;

  void clear() {
    pushed = next_out = next_key = 0;
    frames.clear();
    flows.clear();
    key_maps.clear();
    raw_flows.clear();
    last_map = torch::Tensor();
    zero_flow = torch::Tensor();
    frame_w = frame_h = 0;
    model_state = net->new_stream_state();
    if (grid_flow) grid_flow->reset();
  }

  // Host data -> the model's device. On CUDA the data is staged in pinned
  // (page-locked) memory and copied asynchronously: the copy overlaps the
  // work queued before it and the host does not wait for the GPU. LibTorch's
  // caching host allocator keeps a pinned block alive until the copies that
  // read it have completed, so the staging tensor can go right away. On the
  // CPU it is one plain copy (the caller's buffer may go once push() returns).
  torch::Tensor to_device(const torch::Tensor &host) const {
    if (!device.is_cuda()) return host.to(device, /*non_blocking=*/false, /*copy=*/true);
    auto pinned = torch::empty(host.sizes(), host.options().pinned_memory(true));
    pinned.copy_(host);
    return pinned.to(device, /*non_blocking=*/true);
  }

  torch::Tensor flow_tensor(const cv::Mat &flow_grid_px) {
    torch::Tensor t = torch::from_blob(flow_grid_px.data, {flow_grid_px.rows, flow_grid_px.cols, 2},
                                       {std::int64_t(flow_grid_px.step1()), 2, 1}, torch::kFloat32);
    return net->prepare_flow(to_device(t), frame_w, frame_h);
  }

  const torch::Tensor &zero() {
    if (!zero_flow.defined()) {
      cv::Mat z = cv::Mat::zeros(grid_height(), grid_width(), CV_32FC2);
      zero_flow = flow_tensor(z);
    }
    return zero_flow;
  }

  void add_flow(const cv::Mat &rgb, const FlowView *external) {
    if (!wants_flow()) return;
    const cv::Size grid(grid_width(), grid_height());
    if (!grid_flow) {
      const std::optional<flow::Preset> preset = options.flow_preset ? options.flow_preset : spec.flow_preset;
      grid_flow = std::make_unique<flow::GridFlow>(options.flow_algorithm, preset);
    }
    if (pushed == 0) {
      grid_flow->remember(rgb, grid);
    } else {
      cv::Mat f;
      if (external) {
        if (!external->data || external->width <= 0 || external->height <= 0 ||
            external->stride < std::size_t(external->width) * 2 * sizeof(float))
          throw ModelError("invalid flow pushed to the predictor");
        const cv::Mat in(external->height, external->width, CV_32FC2, const_cast<float *>(external->data),
                         external->stride);
        // Vectors arrive in frame pixels; models and warping want pixels of the flow grid.
        const double fw = external->frame_width > 0 ? external->frame_width : frame_w;
        const double fh = external->frame_height > 0 ? external->frame_height : frame_h;
        f = in.clone();
        flow::scale_vectors(f, external->width / fw, external->height / fh);
        grid_flow->remember(rgb, grid);
      } else {
        f = grid_flow->next(rgb, grid);
      }
      if (spec.needs_flow) flows[pushed - 1] = flow_tensor(f);
      if (options.interval > 1) raw_flows[pushed - 1] = f;
    }
  }

  // Carries a map along the flow f of frame t -> t+1, bilinear, borders replicated.
  // Forward (map of t -> map of t+1): the map at y in t+1 is the map of t at
  // y - f(y), the usual approximation (f belongs to the pixels of t, not t+1).
  // Backward (map of t+1 -> map of t): the map at y in t is the map of t+1 at
  // y + f(y), which is exact: f(y) says where pixel y of t went. So the
  // bidirectional mode needs no extra flow and no flow inversion.
  torch::Tensor warp(const torch::Tensor &map, const cv::Mat &flow_grid_px, bool backward = false) const {
    const int mh = int(map.size(0)), mw = int(map.size(1));
    cv::Mat f;
    cv::resize(flow_grid_px, f, cv::Size(mw, mh), 0, 0, cv::INTER_LINEAR);
    const float sx = float(mw) / flow_grid_px.cols, sy = float(mh) / flow_grid_px.rows;
    cv::Mat map_x(mh, mw, CV_32F), map_y(mh, mw, CV_32F);
    for (int y = 0; y < mh; ++y) {
      const cv::Vec2f *fr = f.ptr<cv::Vec2f>(y);
      float *mx = map_x.ptr<float>(y), *my = map_y.ptr<float>(y);
      for (int x = 0; x < mw; ++x) {
        mx[x] = backward ? float(x) + fr[x][0] * sx : float(x) - fr[x][0] * sx;
        my[x] = backward ? float(y) + fr[x][1] * sy : float(y) - fr[x][1] * sy;
      }
    }
    torch::Tensor src = map.contiguous();
    const cv::Mat in(mh, mw, CV_32F, src.data_ptr<float>());
    torch::Tensor out = torch::empty({mh, mw}, torch::kFloat32);
    cv::Mat dst(mh, mw, CV_32F, out.data_ptr<float>());
    cv::remap(in, dst, map_x, map_y, cv::INTER_LINEAR, cv::BORDER_REPLICATE);
    return out;
  }

  // The window of target frame t; `last` is the last frame index that exists
  // (pushed - 1); frames past it repeat it (spec A.9, B.10.2).
  Window window_for(std::int64_t t) {
    Window w;
    w.state = model_state.get();
    w.frame_width = frame_w;
    w.frame_height = frame_h;
    const int len = spec.frames_before + spec.frames_after + 1;
    const std::int64_t last = pushed - 1;
    std::vector<std::int64_t> idx(len);
    for (int k = 0; k < len; ++k) idx[k] = std::clamp<std::int64_t>(t - spec.frames_before + k, 0, last);
    for (int k = 0; k < len; ++k) w.frames.push_back(frames.at(idx[k]));
    if (spec.needs_flow) {
      for (int k = 0; k + 1 < len; ++k) {
        if (idx[k + 1] == idx[k] + 1) {
          w.flows.push_back(flows.at(idx[k]));
        } else if (t - spec.frames_before + k < 0) {
          w.flows.push_back(zero());  // before the first frame: no motion is known
        } else {
          // past the last frame: the last flow carries on, as STRA-Net's official
          // code appends the last .flo again (model-spec B.10.2)
          w.flows.push_back(last >= 1 ? flows.at(last - 1) : zero());
        }
      }
    }
    return w;
  }

  void infer(const std::vector<std::int64_t> &targets) {
    std::vector<Window> windows;
    windows.reserve(targets.size());
    for (auto t : targets) windows.push_back(window_for(t));
    // Blocks until the instance has run these windows (perhaps with other
    // streams' windows in the same pass); maps come back on the CPU in [0,1].
    const torch::Tensor maps = instance->predict(std::move(windows));
    for (std::size_t i = 0; i < targets.size(); ++i) key_maps[targets[i]] = maps[i];
  }

  SaliencyMap make_map(std::int64_t t, const torch::Tensor &m) {
    SaliencyMap out;
    out.frame_index = t;
    out.height = int(m.size(0));
    out.width = int(m.size(1));
    const float *p = m.data_ptr<float>();
    out.values.assign(p, p + m.numel());
    return out;
  }

  // Makes sure frame `frame` has its inferred map: a key frame is batched
  // with the key frames after it whose windows are complete (frames before
  // `ready_end`); any other frame (the last frame closing a bidirectional
  // segment at the end of a stream) is inferred alone. False: waiting for a
  // full batch, which at the end of the stream is not waited for.
  bool ensure_inferred(std::int64_t frame, std::int64_t ready_end, bool end_of_stream) {
    if (key_maps.count(frame)) return true;
    std::vector<std::int64_t> targets;
    if (!is_key(frame)) targets.push_back(frame);
    for (std::int64_t t = frame; is_key(frame) && t < ready_end && int(targets.size()) < stream_batch; ++t)
      if (is_key(t)) targets.push_back(t);
    if (int(targets.size()) < stream_batch && !end_of_stream) return false;
    if (spec.recurrent)  // state carries frame to frame: one window at a time, in order
      for (auto t : targets) infer({t});
    else
      infer(targets);
    return true;
  }

  // Min and max of a map, as doubles.
  static std::pair<double, double> value_range(const torch::Tensor &m) {
    return {m.min().item<double>(), m.max().item<double>()};
  }

  // Bidirectional interval mode: the maps of frames k+1 .. e-1 between the
  // key maps of k (last_map) and e (inferred). Each is the distance-weighted
  // blend of the forward-carried map of k and the backward-carried map of e.
  // Blending two maps whose peaks differ lowers the peak, so the blend is
  // rescaled to the interpolated min/max of the two key maps: the output keeps
  // the value range the model gives (min-max normalised for the baseline).
  std::vector<torch::Tensor> interpolate(std::int64_t k, std::int64_t e) const {
    const std::int64_t n = e - k;
    auto carry = [&](const torch::Tensor &m, std::int64_t flow_of, bool backward) {
      auto f = raw_flows.find(flow_of);
      return f != raw_flows.end() ? warp(m, f->second, backward) : m;
    };
    std::vector<torch::Tensor> fwd(n), bwd(n + 1);
    fwd[0] = last_map;
    for (std::int64_t j = 1; j < n; ++j) fwd[j] = carry(fwd[j - 1], k + j - 1, false);
    bwd[n] = key_maps.at(e);
    for (std::int64_t j = n - 1; j >= 1; --j) bwd[j] = carry(bwd[j + 1], k + j, true);
    const auto [lo_k, hi_k] = value_range(last_map);
    const auto [lo_e, hi_e] = value_range(bwd[n]);
    std::vector<torch::Tensor> out;
    for (std::int64_t j = 1; j < n; ++j) {
      const double b = double(j) / double(n), a = 1.0 - b;
      torch::Tensor m = fwd[j] * a + bwd[j] * b;
      const auto [lo, hi] = value_range(m);
      const double want_lo = a * lo_k + b * lo_e, want_hi = a * hi_k + b * hi_e;
      // A flat blend (is_flat_range: both key maps constant, e.g. on a fade to
      // black, or two maps that cancel) has no shape to stretch: rescaling its
      // rounding noise to the key maps' range would paint a full-contrast noise
      // pattern. It keeps its value, which a convex blend of maps within their
      // ranges already has inside [want_lo, want_hi] (the clamp only removes
      // rounding).
      if (!is_flat_range(lo, hi)) m = (m - lo) * ((want_hi - want_lo) / (hi - lo)) + want_lo;
      out.push_back(m.clamp(want_lo, want_hi).contiguous());
    }
    return out;
  }

  // Emits every frame whose map can be produced now. `final`: end of stream.
  std::vector<SaliencyMap> collect(bool final) {
    std::vector<SaliencyMap> out;
    const std::int64_t ready_end = final ? pushed : pushed - spec.frames_after;  // targets < ready_end are ready
    auto emit = [&](const torch::Tensor &m) {
      last_map = m;
      out.push_back(make_map(next_out, m));
      ++next_out;
    };
    while (next_out < ready_end) {
      const std::int64_t t = next_out;
      if (is_key(t) || key_maps.count(t)) {
        if (!ensure_inferred(t, ready_end, final)) break;  // wait for a full batch
        torch::Tensor m = key_maps.at(t);
        key_maps.erase(t);
        emit(m);
      } else if (!bidirectional()) {
        // Forward: carry the previous frame's map along the flow into t.
        auto f = raw_flows.find(t - 1);
        emit(f != raw_flows.end() ? warp(last_map, f->second) : last_map);
      } else {
        // Bidirectional: the whole segment up to the next key frame at once.
        const std::int64_t k = t - t % options.interval;
        std::int64_t e = k + options.interval;
        if (e >= ready_end) {
          if (!final) break;  // the next key frame's window is not complete yet
          e = pushed - 1;     // end of stream: the last frame closes the segment
        }
        if (!ensure_inferred(e, ready_end, final)) break;
        for (const torch::Tensor &m : interpolate(k, e)) emit(m);
      }
    }
    // Drop what no future window can reference.
    const std::int64_t keep_from = next_out - spec.frames_before - 1;
    frames.erase(frames.begin(), frames.lower_bound(std::max<std::int64_t>(0, keep_from)));
    flows.erase(flows.begin(), flows.lower_bound(std::max<std::int64_t>(0, keep_from - 1)));
    raw_flows.erase(raw_flows.begin(), raw_flows.lower_bound(next_out - 1));
    return out;
  }
};

namespace {

// Checks the options that belong to the stream, and applies its thread count
// and the allocator before a model is built in this thread.
int prepare_stream(const PredictorOptions &options) {
  if (options.batch < 1) throw ModelError("batch must be >= 1");
  if (options.threads < 0) throw ModelError("threads must be >= 0 (0 = one per core)");
  if (options.interval < 1) throw ModelError("interval must be >= 1");
  const int threads = resolve_thread_count(options.threads);
  use_threads_in_this_thread(threads);
  // Inference must not depend on the host's malloc (a plain gst-launch-1.0
  // has glibc's, which faults in the pages of large blocks afresh).
  install_cpu_allocator();
  return threads;
}

std::shared_ptr<ModelInstance> private_instance(std::unique_ptr<SaliencyModel> net, const PredictorOptions &options) {
  if (!options.model_instance_id.empty())
    throw ModelError("model-instance-id '" + options.model_instance_id +
                     "': a model built in code cannot be shared by id; pass one Predictor's "
                     "model_instance() to the others");
  auto instance = std::make_shared<ModelInstance>(std::move(net), ModelInstanceSettings::of(options));
  instance->owner = options.owner;
  return instance;
}

}  // namespace

Predictor::Predictor(const PredictorOptions &options)
    : Predictor((prepare_stream(options),
                 acquire_model_instance(options.model_instance_id, options.owner, ModelInstanceSettings::of(options))),
                options) {}

Predictor::Predictor(std::unique_ptr<SaliencyModel> net, const PredictorOptions &options)
    : Predictor((prepare_stream(options), private_instance(std::move(net), options)), options) {}

Predictor::Predictor(std::shared_ptr<ModelInstance> instance, const PredictorOptions &options)
    : impl_(std::make_unique<Impl>()) {
  Impl &s = *impl_;
  s.threads = prepare_stream(options);
  if (!instance) throw ModelError("Predictor: no model instance");
  s.options = options;
  s.instance = std::move(instance);
  s.net = &s.instance->model();
  s.device = s.instance->device();
  s.spec = s.instance->window_spec();
  if (options.threads == 0 && s.spec.preferred_threads > 0) {
    s.threads = std::min(s.threads, s.spec.preferred_threads);
    use_threads_in_this_thread(s.threads);
  }
  // A model of its own batches this stream's key frames; a shared one batches streams.
  const bool shared = !options.model_instance_id.empty() || s.instance.use_count() > 1;
  s.stream_batch = shared ? 1 : s.instance->settings().batch;
  s.model_state = s.net->new_stream_state();
  if (options.log)
    options.log(description() + " on " + device() + ", " + std::to_string(lookahead_frames()) +
                " frames of look-ahead" +
                (shared ? ", model instance shared" +
                              (options.model_instance_id.empty() ? std::string() : " as '" + options.model_instance_id + "'")
                        : std::string()));
}

Predictor::~Predictor() = default;

int Predictor::lookahead_frames() const {
  return impl_->spec.frames_after + (impl_->stream_batch - 1) * impl_->options.interval +
         (impl_->bidirectional() ? impl_->options.interval - 1 : 0);
}

bool Predictor::needs_flow() const { return impl_->spec.needs_flow; }

std::string Predictor::description() const {
  std::string d = impl_->net->name();
  const ModelInstanceSettings &m = impl_->instance->settings();
  if (impl_->net->name() != "baseline" && m.random_init && m.weights.empty())
    d += " (random init)";
  return d;
}

std::string Predictor::device() const { return impl_->device.str(); }

const std::shared_ptr<ModelInstance> &Predictor::model_instance() const { return impl_->instance; }

std::int64_t Predictor::parameter_count() const { return impl_->net->parameter_count(); }
std::int64_t Predictor::buffer_count() const { return impl_->net->buffer_count(); }

std::vector<SaliencyMap> Predictor::push(const FrameView &frame, const FlowView *flow_from_previous) {
  Impl &s = *impl_;
  if (s.pushed == 0) {
    s.frame_w = frame.width;
    s.frame_h = frame.height;
  } else if (frame.width != s.frame_w || frame.height != s.frame_h) {
    throw ModelError("frame size changed from " + std::to_string(s.frame_w) + "x" + std::to_string(s.frame_h) +
                     " to " + std::to_string(frame.width) + "x" + std::to_string(frame.height) +
                     " without a reset");
  }
  const cv::Mat rgb = to_rgb(frame);
  use_threads_in_this_thread(s.threads);
  c10::InferenceMode guard;
  torch::Tensor t = torch::from_blob(rgb.data, {rgb.rows, rgb.cols, 3}, torch::kUInt8);
  s.frames[s.pushed] = s.net->prepare_frame(s.to_device(t));
  s.add_flow(rgb, flow_from_previous);
  ++s.pushed;
  return s.collect(false);
}

std::vector<SaliencyMap> Predictor::finish() {
  std::vector<SaliencyMap> out;
  use_threads_in_this_thread(impl_->threads);
  if (impl_->pushed > 0) out = impl_->collect(true);
  impl_->clear();
  return out;
}

void Predictor::reset() { impl_->clear(); }

int Predictor::pending() const { return int(impl_->pushed - impl_->next_out); }

std::vector<float> resize_map(const SaliencyMap &map, int width, int height) {
  if (map.width <= 0 || map.height <= 0 || map.values.size() != std::size_t(map.width) * map.height)
    throw ModelError("resize_map: malformed map");
  if (width <= 0 || height <= 0) throw ModelError("resize_map: target size must be positive");
  const cv::Mat in(map.height, map.width, CV_32F, const_cast<float *>(map.values.data()));
  std::vector<float> out(std::size_t(width) * height);
  cv::Mat dst(height, width, CV_32F, out.data());
  cv::resize(in, dst, dst.size(), 0, 0, cv::INTER_LINEAR);
  return out;
}

}  // namespace model
