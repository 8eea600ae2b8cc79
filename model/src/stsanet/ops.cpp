#include "ops.hpp"

#include <c10/util/irange.h>

#include <numeric>

namespace model::stsanet {

namespace F = torch::nn::functional;

namespace {
// 0: off (no ChannelsLastScope on this thread, or one that says off); 1: on.
thread_local int channels_last_override = 0;
}  // namespace

bool inference_channels_last() { return channels_last_override == 1; }

ChannelsLastScope::ChannelsLastScope(bool enabled) : previous_(channels_last_override) {
  channels_last_override = enabled ? 1 : 0;
}
ChannelsLastScope::~ChannelsLastScope() { channels_last_override = previous_; }

std::vector<torch::Tensor> DerivedTensors::get(const std::vector<torch::Tensor> &sources,
                                               const Maker &make) {
  std::vector<Key> key;
  key.reserve(sources.size());
  for (const auto &t : sources) {
    if (!t.defined()) {
      key.push_back({nullptr, nullptr, 0});
      continue;
    }
    // Inference tensors have no version counter; autograd needs the graph.
    if (t.is_inference() || needs_grad(t)) {
      key_.clear();
      values_.clear();
      return make();
    }
    key.push_back({t.unsafeGetTensorImpl(), t.data_ptr(), t._version()});
  }
  if (values_.empty() || key != key_) {
    values_ = make();
    key_ = std::move(key);
  }
  return values_;
}

torch::Tensor conv3d(const torch::Tensor &x_in, const torch::Tensor &weight,
                     const torch::Tensor &bias, torch::IntArrayRef stride,
                     torch::IntArrayRef padding) {
  TORCH_CHECK(x_in.dim() == 5 && weight.dim() == 5, "conv3d expects 5-D input and weight, got ",
              x_in.sizes(), " and ", weight.sizes());
  // Inference: channels-last, where every view below is free and oneDNN
  // reads and writes NHWC directly.
  const bool channels_last = inference_layout(x_in);
  const auto x = channels_last ? fast_layout(x_in) : x_in;
  const int64_t batch = x.size(0), channels = x.size(1), steps = x.size(2);
  const int64_t height = x.size(3), width = x.size(4);
  const int64_t out_channels = weight.size(0);
  const int64_t kt = weight.size(2), kh = weight.size(3), kw = weight.size(4);

  // Temporal or pointwise kernel (kt,1,1): a 2-D convolution over the
  // (T, H*W) plane of a free view (channels-last stays channels-last).
  if (kh == 1 && kw == 1 && stride[1] == 1 && stride[2] == 1 && padding[1] == 0 &&
      padding[2] == 0) {
    // Channels-last: the view is built with explicit strides, because
    // reshape() may give a size-1 batch any stride and LibTorch's layout
    // heuristic (suggest_memory_format) reads it, then takes the slow plain path.
    const int64_t plane = height * width;
    auto frames = channels_last
                      ? x.as_strided({batch, channels, steps, plane},
                                     {steps * plane * channels, 1, plane * channels, channels})
                      : x.reshape({batch, channels, steps, plane});
    auto y = F::conv2d(
        frames, weight.view({out_channels, weight.size(1), kt, 1}),
        F::Conv2dFuncOptions().bias(bias).stride({stride[0], 1}).padding({padding[0], 0}));
    return canonical_layout(y.view({batch, out_channels, y.size(2), height, width}));
  }
  // Spatial kernel (1,kh,kw): a 2-D convolution with time folded into the
  // batch (a view when T == 1 or channels-last, one transposing copy each way
  // otherwise).
  if (kt == 1 && stride[0] == 1 && padding[0] == 0) {
    const auto options = F::Conv2dFuncOptions()
                             .bias(bias)
                             .stride({stride[1], stride[2]})
                             .padding({padding[1], padding[2]});
    const auto weight2d = weight.select(2, 0);
    if (steps == 1) {
      auto frames = channels_last
                        ? x.as_strided({batch, channels, height, width},
                                       {height * width * channels, 1, width * channels, channels})
                        : x.select(2, 0);
      auto y = F::conv2d(frames, weight2d, options);
      return canonical_layout(y.unsqueeze(2));
    }
    auto frames = x.transpose(1, 2).reshape({batch * steps, channels, height, width});
    auto y = F::conv2d(frames, weight2d, options);
    y = y.view({batch, steps, out_channels, y.size(2), y.size(3)}).transpose(1, 2);
    return channels_last ? canonical_layout(y) : y.contiguous();
  }
  return F::conv3d(x, weight, F::Conv3dFuncOptions().bias(bias).stride(stride).padding(padding));
}

torch::Tensor conv3d(const torch::Tensor &x, const torch::nn::Conv3d &conv, Arithmetic arithmetic) {
  const auto &o = conv->options;
  TORCH_CHECK(o.groups() == 1 && (*o.dilation())[0] == 1 && (*o.dilation())[1] == 1 &&
                  (*o.dilation())[2] == 1 && !o.transposed(),
              "stsanet conv3d: only plain convolutions are supported");
  const auto &padding = conv_padding(o);
  if (arithmetic == Arithmetic::Official)
    return F::conv3d(x, conv->weight,
                     F::Conv3dFuncOptions().bias(conv->bias).stride(*o.stride()).padding(*padding));
  return conv3d(x, conv->weight, conv->bias, *o.stride(), *padding);
}

namespace {

// Max over a window of `kernel` taps along `dim`, stride `stride`, implicit
// -inf padding `pad`, floor mode: out[i] = max x[i*stride - pad + t], t < kernel.
torch::Tensor max_along(const torch::Tensor &x, int64_t dim, int64_t kernel, int64_t stride,
                        int64_t pad) {
  if (kernel == 1 && stride == 1 && pad == 0) return x;
  const int64_t n = x.size(dim);
  const int64_t out_n = (n + 2 * pad - kernel) / stride + 1;
  TORCH_CHECK(out_n >= 1 && 2 * pad < kernel, "max pool window does not fit: size ", n, ", kernel ",
              kernel, ", stride ", stride, ", padding ", pad);
  // Tap t reads x[i*stride + t - pad] for the i where that index is valid.
  auto tap = [&](int64_t t, int64_t &first, int64_t &count) {
    const int64_t offset = t - pad;
    first = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
    if (n - 1 - offset < 0) {  // the tap lies beyond the end for every output
      count = 0;
      return x;
    }
    const int64_t last = std::min(out_n - 1, (n - 1 - offset) / stride);
    count = last - first + 1;
    if (count <= 0) return x;
    const int64_t start = first * stride + offset;
    return x.slice(dim, start, start + (count - 1) * stride + 1, stride);
  };
  int64_t first = 0, count = 0;
  // The tap t = pad is valid for every output (2 * pad < kernel). The result
  // keeps the input's layout (channels-last in inference).
  const auto layout =
      is_channels_last(x) ? at::MemoryFormat::ChannelsLast3d : at::MemoryFormat::Contiguous;
  auto out = tap(pad, first, count).clone(layout);
  for (const auto t : c10::irange(kernel)) {
    if (t == pad) continue;
    auto values = tap(t, first, count);
    if (count <= 0) continue;
    auto target = out.narrow(dim, first, count);
    at::maximum_out(target, target, values);
  }
  return out;
}

}  // namespace

torch::Tensor max_pool3d(const torch::Tensor &x, const torch::nn::MaxPool3dOptions &options) {
  TORCH_CHECK(!options.ceil_mode() && (*options.dilation())[0] == 1 &&
                  (*options.dilation())[1] == 1 && (*options.dilation())[2] == 1,
              "stsanet max_pool3d: floor mode without dilation only");
  if (needs_grad(x)) return F::max_pool3d(x, options);
  const auto &k = *options.kernel_size();
  const auto &s = *options.stride();
  const auto &p = *options.padding();
  auto y = max_along(x, 2, k[0], s[0], p[0]);
  y = max_along(y, 3, k[1], s[1], p[1]);
  y = max_along(y, 4, k[2], s[2], p[2]);
  return y.data_ptr() == x.data_ptr() ? y.clone() : y;
}

torch::Tensor upsample(const torch::Tensor &x, const torch::nn::UpsampleOptions &options) {
  // A trilinear (1, sh, sw) upsampling leaves time alone (weight 1 on the same
  // step, 0 on the next), so it is a bilinear one on the frames, half the
  // arithmetic of LibTorch's trilinear kernel.
  const auto &scale = options.scale_factor();
  const bool frames_only = is_trilinear(options) &&
                           !options.size() && scale && scale->size() == 3 && (*scale)[0] == 1.0 &&
                           x.dim() == 5;
  if (!frames_only) return torch::nn::Upsample(options)->forward(x);
  const int64_t batch = x.size(0), channels = x.size(1), steps = x.size(2);
  if (is_channels_last(x)) {
    // Frames (B*T, C, H, W) are a channels-last view: scale them in place of
    // a copy into (B, C*T, H, W).
    auto y =
        F::interpolate(x.transpose(1, 2).reshape({batch * steps, channels, x.size(3), x.size(4)}),
                       F::InterpolateFuncOptions()
                           .scale_factor(std::vector<double>{(*scale)[1], (*scale)[2]})
                           .mode(torch::kBilinear)
                           .align_corners(options.align_corners()));
    return canonical_layout(y.view({batch, steps, channels, y.size(2), y.size(3)}).transpose(1, 2));
  }
  auto y = F::interpolate(x.reshape({batch, channels * steps, x.size(3), x.size(4)}),
                          F::InterpolateFuncOptions()
                              .scale_factor(std::vector<double>{(*scale)[1], (*scale)[2]})
                              .mode(torch::kBilinear)
                              .align_corners(options.align_corners()));
  return y.view({batch, channels, steps, y.size(2), y.size(3)});
}

torch::Tensor layer_norm_by_reduction(const torch::Tensor &x, const torch::Tensor &weight,
                                      const torch::Tensor &bias, double eps) {
  std::vector<int64_t> dims(static_cast<size_t>(x.dim() - 1));
  std::iota(dims.begin(), dims.end(), 1);
  // 16-bit activations are normalised in fp32; fp32 and fp64 in their own precision.
  const auto xf = x.scalar_type() == torch::kDouble ? x : x.to(torch::kFloat32);
  const auto [var, mean] = torch::var_mean(xf, dims, /*unbiased=*/false, /*keepdim=*/true);
  return ((xf - mean) * (var + eps).rsqrt()).mul_(weight).add_(bias).to(x.scalar_type());
}

torch::Tensor layer_norm(torch::nn::LayerNorm norm, const torch::Tensor &x, DerivedTensors &cache) {
  const auto &shape = norm->options.normalized_shape();
  if (x.is_cuda() && norm->options.elementwise_affine() &&
      static_cast<int64_t>(shape.size()) == x.dim() - 1)
    return layer_norm_by_reduction(x, norm->weight, norm->bias, norm->options.eps());
  if (!is_channels_last(x) || shape.size() != 4 || !norm->options.elementwise_affine())
    return norm->forward(x);
  // (B, C, T, H, W) channels-last is (B, T, H, W, C) contiguous: normalise
  // that over its last four dims with the affine parameters permuted alike.
  const auto affine = cache.get({norm->weight, norm->bias}, [&] {
    return std::vector<torch::Tensor>{norm->weight.permute({1, 2, 3, 0}).contiguous(),
                                      norm->bias.permute({1, 2, 3, 0}).contiguous()};
  });
  const auto y =
      torch::layer_norm(x.permute({0, 2, 3, 4, 1}), {shape[1], shape[2], shape[3], shape[0]},
                        affine[0], affine[1], norm->options.eps());
  return y.permute({0, 4, 1, 2, 3});
}

torch::Tensor run_layers(const torch::nn::Sequential &layers, const torch::Tensor &x,
                         Arithmetic arithmetic) {
  return run_layers(layers, x, arithmetic, 0, layers->size());
}

torch::Tensor run_layers(const torch::nn::Sequential &layers, const torch::Tensor &x,
                         Arithmetic arithmetic, size_t first, size_t last) {
  torch::Tensor y = x;
  bool owned = false;  // y is a temporary of ours: activations may work in place
  const auto children = layers->children();
  for (size_t i = first; i < last && i < children.size(); ++i) {
    const auto &layer = children[i];
    if (auto conv = std::dynamic_pointer_cast<torch::nn::Conv3dImpl>(layer)) {
      y = conv3d(y, torch::nn::Conv3d(conv), arithmetic);
    } else if (std::dynamic_pointer_cast<torch::nn::ReLUImpl>(layer)) {
      y = owned ? y.relu_() : y.relu();
    } else if (std::dynamic_pointer_cast<torch::nn::SigmoidImpl>(layer)) {
      y = owned ? y.sigmoid_() : y.sigmoid();
    } else if (auto pool = std::dynamic_pointer_cast<torch::nn::MaxPool3dImpl>(layer)) {
      y = max_pool3d(y, pool->options);
    } else if (auto norm = std::dynamic_pointer_cast<torch::nn::LayerNormImpl>(layer)) {
      y = norm->forward(y);
    } else if (auto avg = std::dynamic_pointer_cast<torch::nn::AdaptiveAvgPool3dImpl>(layer)) {
      y = avg->forward(y);
    } else if (auto up = std::dynamic_pointer_cast<torch::nn::UpsampleImpl>(layer)) {
      y = upsample(y, up->options);
    } else {
      TORCH_CHECK(false, "stsanet run_layers: unsupported layer ", layer->name());
    }
    owned = true;
  }
  return y;
}

}  // namespace model::stsanet
