// TinyHD's modules (official key layout) and the module runner of the graph.
#include "tinyhd_net.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

namespace model::tinyhd {
namespace {

torch::Tensor clamp6(const torch::Tensor &x) { return torch::clamp(x, 0.0, 6.0); }  // ReLU6

ConvBN conv_bn(int64_t in, int64_t out, std::array<int64_t, 3> kernel, std::array<int64_t, 3> stride,
               std::array<int64_t, 3> pad, int64_t groups) {
  return ConvBN(std::make_shared<ConvBNImpl>(in, out, kernel, stride, pad, groups));
}

// BatchNorm3d as the official code builds it (eps 1e-5, momentum 0.1).
torch::nn::BatchNorm3d batch_norm(int64_t channels) {
  return torch::nn::BatchNorm3d(torch::nn::BatchNorm3dOptions(channels));
}

torch::nn::Conv3d pointwise(int64_t in, int64_t out) {
  return torch::nn::Conv3d(torch::nn::Conv3dOptions(in, out, 1).bias(false));
}

// The graph's blocks as modules.
class ModuleRunner : public BlockRunner {
 public:
  explicit ModuleRunner(TinyHDNetImpl &net) : net_(net) {}
  torch::Tensor encoder(int i, const torch::Tensor &x) override {
    if (i == 0) return clamp6(net_.stem->forward(x));
    if (i == 18) return clamp6(net_.last->forward(x));
    return net_.encoder_blocks[i - 1]->forward(x);
  }
  torch::Tensor aggregator(int j, const torch::Tensor &x) override {
    return net_.aggregator_blocks[j]->forward(x);
  }
  torch::Tensor head(const torch::Tensor &x) override {
    if (auto conv3d = std::dynamic_pointer_cast<torch::nn::Conv3dImpl>(net_.head_conv))
      return torch::sigmoid(conv3d->forward(x));
    auto conv2d = std::dynamic_pointer_cast<torch::nn::Conv2dImpl>(net_.head_conv);
    return torch::sigmoid(conv2d->forward(x.squeeze(2))).unsqueeze(2);
  }

 private:
  TinyHDNetImpl &net_;
};

}  // namespace

ConvBNImpl::ConvBNImpl(int64_t in, int64_t out, std::array<int64_t, 3> kernel,
                       std::array<int64_t, 3> stride, std::array<int64_t, 3> pad, int64_t groups) {
  conv = register_module("0", torch::nn::Conv3d(torch::nn::Conv3dOptions(in, out, kernel)
                                                    .stride(stride)
                                                    .padding(pad)
                                                    .groups(groups)
                                                    .bias(false)));
  bn = register_module("1", batch_norm(out));
}

torch::Tensor ConvBNImpl::forward(const torch::Tensor &x) { return bn->forward(conv->forward(x)); }

InvertedResidualImpl::InvertedResidualImpl(const BlockSpec &s) : spec(s) {
  const int64_t st = s.spatial_stride;
  depthwise = conv_bn(s.hidden, s.hidden, {s.dw_time.kernel, 3, 3}, {s.dw_time.stride, st, st},
                     {s.dw_time.pad, 1, 1}, s.hidden);
  project = pointwise(s.hidden, s.out);
  project_bn = batch_norm(s.out);
  conv = torch::nn::Sequential();
  if (s.expand) {
    expand = conv_bn(s.in, s.hidden, {1, 1, 1}, {1, 1, 1}, {0, 0, 0}, 1);
    conv->push_back(expand);
  }
  conv->push_back(depthwise);
  conv->push_back(project);
  conv->push_back(project_bn);
  register_module("conv", conv);
}

torch::Tensor InvertedResidualImpl::forward(const torch::Tensor &x) {
  auto y = spec.expand ? clamp6(expand->forward(x)) : x;
  y = project_bn->forward(project->forward(clamp6(depthwise->forward(y))));
  return spec.residual ? x + y : y;
}

TinyHDNetImpl::TinyHDNetImpl(const TinyHDArch &arch) : arch_(arch) {
  stem = conv_bn(3, arch.stem_out, {3, 3, 3}, {2, 2, 2}, {1, 1, 1}, 1);
  last = conv_bn(arch.last_in, arch.last_out, {1, 1, 1}, {1, 1, 1}, {0, 0, 0}, 1);
  encoder_seq = torch::nn::Sequential();
  encoder_seq->push_back(stem);
  for (const auto &spec : arch.encoder) {
    encoder_blocks.push_back(InvertedResidual(spec));
    encoder_seq->push_back(encoder_blocks.back());
  }
  encoder_seq->push_back(last);
  auto encoder_wrapper = std::make_shared<torch::nn::Module>();
  encoder_wrapper->register_module("encoder", encoder_seq);
  register_module("encoder", encoder_wrapper);

  aggregator_list = torch::nn::ModuleList();
  for (const auto &spec : arch.aggregator) {
    aggregator_blocks.push_back(InvertedResidual(spec));
    aggregator_list->push_back(aggregator_blocks.back());
  }
  auto aggregator_wrapper = std::make_shared<torch::nn::Module>();
  aggregator_wrapper->register_module("aggregate_adapter", aggregator_list);
  register_module("aggregator", aggregator_wrapper);

  // The head sees d1's four maps, d2's and d3's: 6 channels.
  if (arch.variant.multi_output)
    head_conv = std::make_shared<torch::nn::Conv3dImpl>(torch::nn::Conv3dOptions(6, 1, 1));
  else
    head_conv = std::make_shared<torch::nn::Conv2dImpl>(torch::nn::Conv2dOptions(6, 1, 1));
  auto decoder_wrapper = std::make_shared<torch::nn::Module>();
  auto head_holder = std::make_shared<torch::nn::Module>();
  head_holder->register_module("0", head_conv);
  decoder_wrapper->register_module("decoder", head_holder);
  register_module("decoder", decoder_wrapper);
}

torch::Tensor TinyHDNetImpl::forward(const torch::Tensor &clip) {
  ModuleRunner runner(*this);
  return run_graph(arch_.variant, runner, clip);
}

void reset_parameters(TinyHDNetImpl &net, std::uint64_t seed) {
  // PyTorch's default initialisation (uniform +-1/sqrt(fan_in) for the
  // convolutions, BatchNorm at identity), from a generator of our own so
  // that the seed alone decides the weights.
  torch::NoGradGuard no_grad;
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  for (auto &p : net.named_parameters()) {
    auto &t = p.value();
    const std::string &key = p.key();
    if (t.dim() >= 2) {
      const double fan_in = static_cast<double>(t.numel() / t.size(0));
      t.uniform_(-1.0 / std::sqrt(fan_in), 1.0 / std::sqrt(fan_in), generator);
    } else if (key.size() >= 6 && key.compare(key.size() - 6, 6, "weight") == 0) {
      t.fill_(1.0);
    } else if (key.rfind("decoder.", 0) == 0) {
      t.uniform_(-1.0 / std::sqrt(6.0), 1.0 / std::sqrt(6.0), generator);  // head bias, fan_in 6
    } else {
      t.zero_();
    }
  }
  for (auto &b : net.named_buffers()) {
    const std::string &key = b.key();
    if (key.find("running_var") != std::string::npos)
      b.value().fill_(1.0);
    else
      b.value().zero_();
  }
}

}  // namespace model::tinyhd
