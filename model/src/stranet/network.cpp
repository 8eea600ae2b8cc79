// STRA-Net network modules (model-spec B.2-B.7), following the official Keras
// code (ashleylqx/STRA-Net, Codes/) rather than the paper where they differ (B.13).
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "salmodel/stranet.hpp"

namespace model {
namespace stranet {

namespace F = torch::nn::functional;

Widths::Widths(int64_t d) : divisor(d) {
  if (d < 1) throw ModelError("stranet: width_divisor must be >= 1, got " + std::to_string(d));
}

// ------------------------------------------------------------------ ResNet-50

torch::Tensor Bottleneck::forward(const torch::Tensor &x) const {
  auto y = torch::relu(branch2a.forward(x));
  y = torch::relu(branch2b.forward(y));
  y = branch2c.forward(y);
  y += shortcut.conv ? shortcut.forward(x) : x;
  return torch::relu_(y);
}

ConvBn ResNetStreamImpl::make(const std::string &conv_name, const std::string &bn_name, int64_t in,
                              int64_t out, int64_t kernel, int64_t stride, int64_t dilation) {
  // Keras 'same' for odd kernels at stride 1 is symmetric padding d*(k-1)/2;
  // the only strided convs are the 1x1 ones and the 'valid' conv1 (B.2).
  const int64_t padding = (kernel == 7) ? 0 : dilation * (kernel - 1) / 2;
  ConvBn cb;
  cb.conv = register_module(conv_name, torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel)
                                                             .stride(stride)
                                                             .padding(padding)
                                                             .dilation(dilation)
                                                             .bias(true)));
  // Keras BatchNormalization: eps 1e-3, momentum 0.99 (= PyTorch 0.01) (B.2).
  cb.bn = register_module(bn_name,
                          torch::nn::BatchNorm2d(torch::nn::BatchNormOptions(out).eps(1e-3).momentum(0.01)));
  return cb;
}

Bottleneck ResNetStreamImpl::make_block(const std::string &p, int stage, char block, int64_t in,
                                        int64_t mid, int64_t out, int64_t stride, int64_t dilation,
                                        bool shortcut) {
  const std::string id = std::to_string(stage) + block;
  Bottleneck b;
  // The stride sits on the first 1x1 conv and on the shortcut (Caffe ResNet, B.2).
  b.branch2a = make(p + "res" + id + "_branch2a", p + "bn" + id + "_branch2a", in, mid, 1, stride, 1);
  b.branch2b = make(p + "res" + id + "_branch2b", p + "bn" + id + "_branch2b", mid, mid, 3, 1, dilation);
  b.branch2c = make(p + "res" + id + "_branch2c", p + "bn" + id + "_branch2c", mid, out, 1, 1, 1);
  if (shortcut) b.shortcut = make(p + "res" + id + "_branch1", p + "bn" + id + "_branch1", in, out, 1, stride, 1);
  return b;
}

ResNetStreamImpl::ResNetStreamImpl(const std::string &prefix, int64_t in_channels, const Widths &w) {
  const std::string p = prefix + "_";
  conv1 = make(p + "conv1", p + "bn_conv1", in_channels, w(64), 7, 2, 1);
  struct Stage {
    int index, blocks;
    int64_t mid, out, stride, dilation;
  };
  // res2 stride 1; res3 stride 2; res4/res5 atrous (dilation 2 and 4, B.2, B.13.2).
  const Stage stages[] = {{2, 3, 64, 256, 1, 1}, {3, 4, 128, 512, 2, 1},
                          {4, 6, 256, 1024, 1, 2}, {5, 3, 512, 2048, 1, 4}};
  std::vector<Bottleneck> *dst[] = {&res2, &res3, &res4, &res5};
  int64_t in = w(64);
  for (int s = 0; s < 4; ++s) {
    const Stage &st = stages[s];
    for (int b = 0; b < st.blocks; ++b) {
      const bool first = b == 0;
      dst[s]->push_back(make_block(p, st.index, char('a' + b), in, w(st.mid), w(st.out),
                                   first ? st.stride : 1, st.dilation, first));
      in = w(st.out);
    }
  }
}

torch::Tensor ResNetStreamImpl::stem_conv(const torch::Tensor &x) const {
  return torch::relu(conv1.forward(x));
}

torch::Tensor ResNetStreamImpl::stem_pool(const torch::Tensor &x) const {
  // TF 'same' max-pool 3x3/2 on 109x109: total padding 2, one per side (B.2).
  return F::max_pool2d(x, F::MaxPool2dFuncOptions(3).stride(2).padding(1));
}

static torch::Tensor run_blocks(const std::vector<Bottleneck> &blocks, torch::Tensor x) {
  for (const auto &b : blocks) x = b.forward(x);
  return x;
}

torch::Tensor ResNetStreamImpl::stage2(const torch::Tensor &x) const { return run_blocks(res2, x); }
torch::Tensor ResNetStreamImpl::stage3(const torch::Tensor &x) const {
  return run_blocks(res3, stage2(stem_pool(stem_conv(x))));
}
torch::Tensor ResNetStreamImpl::stage4(const torch::Tensor &x) const { return run_blocks(res4, x); }
torch::Tensor ResNetStreamImpl::stage5(const torch::Tensor &x) const { return run_blocks(res5, x); }

// ------------------------------------------------------------ local attention

LocalAttentionImpl::LocalAttentionImpl(int64_t channels, int64_t hidden) {
  conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, hidden, 3).padding(1)));
  bn = register_module("bn", torch::nn::BatchNorm2d(torch::nn::BatchNormOptions(hidden).eps(1e-3).momentum(0.01)));
  mask_conv = register_module("mask_conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(hidden, 1, 1)));
}

LocalAttentionImpl::Output LocalAttentionImpl::forward(const torch::Tensor &x) {
  // Conv -> ReLU -> BN -> 1x1 conv -> sigmoid -> softmax over all positions
  // (row-major flatten, as Keras' Flatten on 28x28x1): [parity] the sigmoid
  // before the softmax is in the code, not in the paper (B.4, B.13.1).
  auto a = torch::sigmoid(mask_conv(bn(torch::relu(conv(x)))));
  const auto sizes = a.sizes();
  auto m = torch::softmax(a.flatten(1), 1).view(sizes);
  return {x + x * m, m};
}

// ---------------------------------------------------------------------- GRU

torch::Tensor hard_sigmoid(const torch::Tensor &x) { return (x * 0.2 + 0.5).clamp_(0.0, 1.0); }

ConvGRUImpl::ConvGRUImpl(int64_t in_channels, int64_t filters, int64_t kernel_size)
    : filters_(filters), padding_(kernel_size / 2) {
  kernel = register_module("kernel", torch::nn::Conv2d(torch::nn::Conv2dOptions(in_channels, 3 * filters, kernel_size)
                                                           .padding(kernel_size / 2)
                                                           .bias(true)));
  recurrent_kernel =
      register_parameter("recurrent_kernel", torch::zeros({3 * filters, filters, kernel_size, kernel_size}));
}

torch::Tensor ConvGRUImpl::input_gates(const torch::Tensor &x) { return kernel(x); }

torch::Tensor ConvGRUImpl::step(const torch::Tensor &xg, const torch::Tensor &h) const {
  const int64_t f = filters_;
  // Recurrent convs have no bias; z and r share one conv over h (B.5).
  auto hzr = F::conv2d(h, recurrent_kernel.narrow(0, 0, 2 * f), F::Conv2dFuncOptions().padding(padding_));
  auto z = hard_sigmoid(xg.narrow(1, 0, f) + hzr.narrow(1, 0, f));
  auto r = hard_sigmoid(xg.narrow(1, f, f) + hzr.narrow(1, f, f));
  auto hh = torch::tanh(xg.narrow(1, 2 * f, f) +
                        F::conv2d(r * h, recurrent_kernel.narrow(0, 2 * f, f),
                                  F::Conv2dFuncOptions().padding(padding_)));
  return (1 - z) * h + z * hh;
}

// -------------------------------------------------------------------- prior

GaussianPriorImpl::GaussianPriorImpl(int64_t k) {
  W = register_parameter("W", torch::zeros({4 * k}));
}

torch::Tensor GaussianPriorImpl::forward(int64_t height, int64_t width) const {
  const int64_t k = W.size(0) / 4;
  const double eps = 1e-7;  // K.epsilon()
  // Clipping of the values used, not of the stored weight (B.6).
  auto mu_x = W.narrow(0, 0, k).clamp(0.25, 0.75).view({k, 1, 1});
  auto mu_y = W.narrow(0, k, k).clamp(0.35, 0.65).view({k, 1, 1});
  auto sigma_x = W.narrow(0, 2 * k, k).clamp(0.1, 0.9).view({k, 1, 1});
  auto sigma_y = W.narrow(0, 3 * k, k).clamp(0.2, 0.8).view({k, 1, 1});
  const double e = double(height) / width, e1 = (1 - e) / 2, e2 = e1 + e;
  auto opts = W.options();
  auto x = torch::linspace(0.0, 1.0, width, opts).view({1, 1, width});
  auto y = torch::linspace(e1, e2, height, opts).view({1, height, 1});
  auto g = torch::exp(-((x - mu_x).pow(2) / (2 * sigma_x.pow(2) + eps) +
                        (y - mu_y).pow(2) / (2 * sigma_y.pow(2) + eps))) /
           (2 * M_PI * sigma_x * sigma_y + eps);
  return g / std::get<0>(g.flatten(1).max(1)).view({k, 1, 1});
}

// --------------------------------------------------------------- upsampling

static torch::Tensor legacy_matrix(int64_t in, int64_t out, const torch::TensorOptions &opts) {
  // Row o interpolates input positions i0 = floor(o*in/out) and min(i0+1, in-1).
  auto m = torch::zeros({out, in}, torch::kFloat64);
  auto a = m.accessor<double, 2>();
  const double scale = double(in) / out;
  for (int64_t o = 0; o < out; ++o) {
    const double s = o * scale;
    const int64_t i0 = int64_t(std::floor(s)), i1 = std::min(i0 + 1, in - 1);
    const double w = s - i0;
    a[o][i0] += 1 - w;
    a[o][i1] += w;
  }
  return m.to(opts);
}

torch::Tensor resize_bilinear_tf_legacy(const torch::Tensor &x, int64_t out_h, int64_t out_w) {
  const int64_t h = x.size(-2), w = x.size(-1);
  auto rows = legacy_matrix(h, out_h, x.options());
  auto cols = legacy_matrix(w, out_w, x.options());
  return torch::matmul(torch::matmul(rows, x), cols.t());
}

}  // namespace stranet

// ------------------------------------------------------------------ network

using namespace stranet;

STRANetImpl::STRANetImpl(const STRANetOptions &options) : options_(options), widths_(options.width_divisor()) {
  const Widths &w = widths_;
  // Registration follows the per-frame sub-model: motion stream first (its
  // layers come first in the official h5, Appendix B), then appearance.
  motion = register_module("motion", ResNetStream("M", 2 * kFlowsPerFrame, w));
  appearance = register_module("appearance", ResNetStream("A", 3, w));
  auto conv = [](int64_t in, int64_t out, int64_t k) {
    return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, k).padding(k / 2));
  };
  attention3 = register_module("attention3", LocalAttention(w(512), w(256)));
  fusion4 = register_module("fusion4", conv(w(1024) + w(512), w(1024), 3));
  attention4 = register_module("attention4", LocalAttention(w(1024), w(512)));
  fusion5 = register_module("fusion5", conv(w(2048) + w(1024) + w(512), w(2048), 3));
  attention5 = register_module("attention5", LocalAttention(w(2048), w(1024)));
  side3 = register_module("side3", conv(w(512), 1, 1));
  side4 = register_module("side4", conv(w(1024), 1, 1));
  side5 = register_module("side5", conv(w(2048), 1, 1));
  ConvGRU2D = register_module("ConvGRU2D", ConvGRU(w(2048), w(256), 3));
  ConvGRU2D_BN = register_module(
      "ConvGRU2D_BN", torch::nn::BatchNorm2d(torch::nn::BatchNormOptions(w(256)).eps(1e-3).momentum(0.01)));
  learning_prior_1 = register_module("learning_prior_1", GaussianPrior(kGaussians));
  head_conv = register_module("head_conv", conv(w(256) + kGaussians, 1, 1));
  reset_parameters(0);
}

torch::Tensor STRANetImpl::features(const torch::Tensor &image, const torch::Tensor &flow, Trace *trace) {
  // Motion stream on its own (nothing flows from A to M, B.3).
  auto m3 = motion->stage3(flow);
  auto m4 = motion->stage4(m3);
  auto m5 = motion->stage5(m4);

  torch::Tensor a3;
  if (trace) {
    trace->a_conv1 = appearance->stem_conv(image);
    trace->a_pool = appearance->stem_pool(trace->a_conv1);
    trace->a2 = appearance->stage2(trace->a_pool);
    a3 = run_blocks(appearance->res3, trace->a2);
  } else {
    a3 = appearance->stage3(image);
  }
  // l = 3: plain residual gating by the motion features (B.3).
  auto att3 = attention3->forward(a3 + a3 * m3);
  // l = 4, 5: dense cross connections from all coarser motion stages, in the
  // order [M4, M3] and [M5, M4, M3]; A4 is computed from the enhanced x3.
  auto a4 = appearance->stage4(att3.features);
  auto c4 = torch::relu(fusion4(torch::cat({m4, m3}, 1)));
  auto att4 = attention4->forward(a4 + c4 * a4);
  auto a5 = appearance->stage5(att4.features);
  auto c5 = torch::relu(fusion5(torch::cat({m5, m4, m3}, 1)));
  auto att5 = attention5->forward(a5 + c5 * a5);
  if (trace) {
    trace->a3 = a3;
    trace->a4 = a4;
    trace->a5 = a5;
    trace->m3 = m3;
    trace->m4 = m4;
    trace->m5 = m5;
    trace->x3 = att3.features;
    trace->x4 = att4.features;
    trace->x5 = att5.features;
    trace->mask3 = att3.mask;
    trace->mask4 = att4.mask;
    trace->mask5 = att5.mask;
    // Side outputs (deep supervision only, B.4); not needed for the final map.
    trace->sd3 = torch::sigmoid(side3(att3.features));
    trace->sd4 = torch::sigmoid(side4(att4.features));
    trace->sd5 = torch::sigmoid(side5(att5.features));
  }
  return att5.features;
}

torch::Tensor STRANetImpl::head(const torch::Tensor &h) {
  const int64_t b = h.size(0);
  auto prior = learning_prior_1->forward(kFeatureSize, kFeatureSize).unsqueeze(0).expand({b, -1, -1, -1});
  // [GRU-BN (F), priors (16)] -> 1x1 conv, sigmoid -> legacy TF x8 (B.7).
  auto p = torch::sigmoid(head_conv(torch::cat({ConvGRU2D_BN(h), prior.to(h.dtype())}, 1)));
  return resize_bilinear_tf_legacy(p.squeeze(1), kInputSize, kInputSize);
}

torch::Tensor STRANetImpl::forward(const torch::Tensor &image, const torch::Tensor &flow, torch::Tensor &state) {
  auto x5 = features(image, flow);
  auto gates = ConvGRU2D->input_gates(x5);  // all steps' input convs at once (B.5)
  if (!state.defined())
    state = torch::zeros({1, ConvGRU2D->filters(), x5.size(2), x5.size(3)}, x5.options());
  std::vector<torch::Tensor> maps;
  for (int64_t t = 0; t < x5.size(0); ++t) {
    state = ConvGRU2D->step(gates.narrow(0, t, 1), state);
    maps.push_back(head(state));
  }
  return torch::cat(maps, 0);
}

void STRANetImpl::reset_parameters(std::uint64_t seed) {
  torch::NoGradGuard no_grad;
  auto gen = at::detail::createCPUGenerator(seed);
  auto glorot = [&](torch::Tensor &w) {
    // Keras glorot_uniform on an (out, in, kh, kw) kernel.
    const double rf = double(w.size(2) * w.size(3));
    const double limit = std::sqrt(6.0 / (rf * w.size(1) + rf * w.size(0)));
    w.uniform_(-limit, limit, gen);
  };
  for (auto &m : modules(/*include_self=*/false)) {
    if (auto *c = m->as<torch::nn::Conv2dImpl>()) {
      glorot(c->weight);
      if (c->bias.defined()) c->bias.zero_();
    } else if (auto *bn = m->as<torch::nn::BatchNorm2dImpl>()) {
      bn->weight.fill_(1);
      bn->bias.zero_();
      bn->running_mean.zero_();
      bn->running_var.fill_(1);
    }
  }
  glorot(ConvGRU2D->recurrent_kernel);
  // The attention mask convs start at ones (kernel_initializer='ones', B.4).
  for (auto *att : {attention3.get(), attention4.get(), attention5.get()}) att->mask_conv->weight.fill_(1);
  // gaussian_priors_init: means U(0.3, 0.7), sigmas U(0.05, 0.3) (B.6).
  auto &w = learning_prior_1->W;
  const int64_t k = w.size(0) / 4;
  w.narrow(0, 0, 2 * k).uniform_(0.3, 0.7, gen);
  w.narrow(0, 2 * k, 2 * k).uniform_(0.05, 0.3, gen);
}

}  // namespace model
