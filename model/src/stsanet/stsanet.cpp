// STSANet network: geometry, module registration in the official order, and
// the forward pass (model-spec A.6).
#include "salmodel/stsanet.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "ops.hpp"
#include "salmodel/checkpoint.hpp"

namespace model {

namespace nn = torch::nn;

namespace stsanet {

namespace {

// Official Mixed widths (model-spec A.2 table): b0, b1 reduce, b1, b2 reduce, b2, b3.
constexpr int64_t kMixed[9][6] = {
    {64, 96, 128, 16, 32, 32},     {128, 128, 192, 32, 96, 64},   // Mixed_3b, 3c
    {192, 96, 208, 16, 48, 64},    {160, 112, 224, 24, 64, 64},   // Mixed_4b, 4c
    {128, 128, 256, 24, 64, 64},   {112, 144, 288, 32, 64, 64},   // Mixed_4d, 4e
    {256, 160, 320, 32, 128, 128},                                // Mixed_4f
    {256, 160, 320, 32, 128, 128}, {384, 192, 384, 48, 128, 128}  // Mixed_5b, 5c
};

// Output size of a window along one axis (PyTorch floor mode).
int64_t window_out(int64_t n, int64_t kernel, int64_t stride, int64_t pad) {
  return (n + 2 * pad - kernel) / stride + 1;
}

}  // namespace

Geometry::Geometry(const STSANetOptions &o)
    : height(o.height()), width(o.width()), window(o.window()) {
  if (o.width_divisor() < 1)
    throw ModelError("stsanet: width_divisor must be >= 1, got " +
                     std::to_string(o.width_divisor()));
  if (height < 32 || width < 32 || height % 32 != 0 || width % 32 != 0)
    throw ModelError("stsanet: input size must be multiples of 32 (at least 32), got " +
                     std::to_string(width) + "x" + std::to_string(height));
  const int64_t d = o.width_divisor();
  const auto scaled = [d](int64_t c) { return std::max<int64_t>(1, (c + d - 1) / d); };

  // Backbone widths (A.3): stem 64, 64, 192, then the Mixed blocks chained.
  stem0 = scaled(64);
  stem1 = scaled(64);
  int64_t in = scaled(192);
  level_channels[0] = in;
  for (size_t b = 0; b < mixed.size(); b++) {
    const auto *w = kMixed[b];
    mixed[b] = {in,           scaled(w[0]), scaled(w[1]), scaled(w[2]),
                scaled(w[3]), scaled(w[4]), scaled(w[5])};
    in = mixed[b].out();
  }
  level_channels[1] = mixed[1].out();
  level_channels[2] = mixed[6].out();
  level_channels[3] = mixed[8].out();

  // Sizes (A.3): conv_s/conv_t k7 s2 p3, then the pools of base1.1,
  // maxpooling2 (1,3,3)/(1,2,2), maxpooling3 3/2/1, maxpooling4 2/2.
  if (window < 1) throw ModelError("stsanet: window must be positive");
  const int64_t t1 = window_out(window, 7, 2, 3);
  const int64_t t3 = window_out(t1, 3, 2, 1);
  level_steps = {t1, t1, t3, window_out(t3, 2, 2, 0)};
  const auto spatial = [](int64_t n) {
    const int64_t n1 = window_out(window_out(n, 7, 2, 3), 3, 2, 1);
    const int64_t n2 = window_out(n1, 3, 2, 1);
    const int64_t n3 = window_out(n2, 3, 2, 1);
    return std::array<int64_t, 4>{n1, n2, n3, window_out(n3, 2, 2, 0)};
  };
  level_height = spatial(height);
  level_width = spatial(width);
  for (size_t i = 0; i < 4; i++) {
    if (level_steps[i] < kStsaSteps || level_steps[i] % kStsaSteps != 0)
      throw ModelError("stsanet: a window of " + std::to_string(window) +
                       " frames gives backbone level " + std::to_string(i + 1) + " " +
                       std::to_string(level_steps[i]) +
                       " time steps; the STSA modules need a multiple of 4 (window 32, 64, ...)");
    compression[i] = level_steps[i] / kStsaSteps;
  }

  // Heads (A.4.2, A.4.5, A.5): official widths, scaled.
  mid_channels = {scaled(192), scaled(240), scaled(416), scaled(512)};
  qk_channels = {{{scaled(96), scaled(96)},
                  {scaled(224), scaled(128)},
                  {scaled(416), scaled(208)},
                  {scaled(512), scaled(256)}}};
  ca_hidden = {scaled(208), scaled(120), scaled(96)};
  // Stage 0 and 1 outputs are fused with branches 1 and 0, so they have their
  // widths; stage 2 feeds the readout.
  fusion_out = {mid_channels[1], mid_channels[0], scaled(192)};
  readout0 = scaled(64);
  readout1 = scaled(32);
}

}  // namespace stsanet

STSANetImpl::STSANetImpl(const STSANetOptions &options) : options_(options), geometry_(options) {
  using namespace stsanet;
  const auto &g = geometry_;
  backbone = S3DBackbone(g);
  for (int i = 0; i < 4; i++) branches[static_cast<size_t>(i)] = StsaBranch(g, i);
  for (int k = 0; k < 3; k++) stages[static_cast<size_t>(k)] = AmsfStage(g, k);

  // Registration in the official order (model-spec A.6), which is the
  // state_dict order: base1..4, ln_*, branch*_pre/mid, branch3_beh_0, the 72
  // embeddings (i, j, a/b, q/k/v), SA_*, CA_*, inc_*, readout_*.
  register_module("base1", backbone->base1);
  register_module("maxpooling2", backbone->maxpooling2);
  register_module("base2", backbone->base2);
  register_module("maxpooling3", backbone->maxpooling3);
  register_module("base3", backbone->base3);
  register_module("maxpooling4", backbone->maxpooling4);
  register_module("base4", backbone->base4);
  for (int i = 0; i < 4; i++) {
    const auto &b = branches[static_cast<size_t>(i)];
    register_module("ln_" + std::to_string(i) + "_0", b->ln_0);
    register_module("ln_" + std::to_string(i) + "_1", b->ln_1);
  }
  for (int i = 0; i < 4; i++) {
    const auto &b = branches[static_cast<size_t>(i)];
    if (b->pre) register_module("branch" + std::to_string(i) + "_pre", b->pre);
    register_module("branch" + std::to_string(i) + "_mid", b->mid);
  }
  // Projection of branch 3 onto branch 2's width, upsampled (A.5 stage 0 step 1).
  branch3_beh_0 = register_module(
      "branch3_beh_0",
      nn::Sequential(nn::Conv3d(nn::Conv3dOptions(g.mid_channels[3], g.mid_channels[2], {1, 3, 3})
                                    .padding({0, 1, 1})),
                     nn::ReLU(nn::ReLUOptions(true)), stages[0]->upsample));
  for (int i = 0; i < 4; i++) {
    for (int j = 0; j < 3; j++) {
      for (int s = 0; s < 2; s++) {
        const auto &e = branches[static_cast<size_t>(i)]
                            ->embeddings[static_cast<size_t>(j)][static_cast<size_t>(s)];
        const std::string name =
            "branch" + std::to_string(i) + "_" + std::to_string(j) + "_" + (s == 0 ? "a" : "b");
        register_module(name + "_q", e.q);
        register_module(name + "_k", e.k);
        register_module(name + "_v", e.v);
      }
    }
  }
  for (int k = 0; k < 3; k++)
    register_module("SA_" + std::to_string(k), stages[static_cast<size_t>(k)]->SA);
  for (int k = 0; k < 3; k++)
    register_module("CA_" + std::to_string(k), stages[static_cast<size_t>(k)]->CA);
  for (int k = 0; k < 3; k++)
    for (int b = 0; b < 4; b++)
      register_module("inc_" + std::to_string(k) + "_" + std::to_string(b),
                      stages[static_cast<size_t>(k)]->inc[static_cast<size_t>(b)]);

  // Readout (A.5): (1,3,3) conv, ReLU, upsample to full size; then T 4 -> 2 -> 1.
  readout_1 = register_module(
      "readout_1",
      nn::Sequential(
          nn::Conv3d(nn::Conv3dOptions(g.fusion_out[2], g.readout0, {1, 3, 3}).padding({0, 1, 1})),
          nn::ReLU(nn::ReLUOptions(true)), stages[0]->upsample));
  readout_2 = register_module(
      "readout_2",
      nn::Sequential(
          nn::Conv3d(nn::Conv3dOptions(g.readout0, g.readout1, {2, 3, 3})
                         .stride({2, 1, 1})
                         .padding({0, 1, 1})),
          nn::ReLU(nn::ReLUOptions(true)),
          nn::Conv3d(
              nn::Conv3dOptions(g.readout1, g.readout1, {2, 1, 1}).stride({2, 1, 1}).bias(false)),
          nn::ReLU(nn::ReLUOptions(true)),
          nn::Conv3d(nn::Conv3dOptions(g.readout1, 1, {1, 3, 3}).padding({0, 1, 1})),
          nn::Sigmoid()));
}

torch::Tensor STSANetImpl::forward(const torch::Tensor &clips) {
  using namespace stsanet;
  const auto &g = geometry_;
  TORCH_CHECK(clips.dim() == 5 && clips.size(1) == 3 && clips.size(2) == g.window &&
                  clips.size(3) == g.height && clips.size(4) == g.width,
              "STSANet expects clips (B, 3, ", g.window, ", ", g.height, ", ", g.width, "), got ",
              clips.sizes());
  return head(backbone->forward(clips), clips.size(0));
}

torch::Tensor STSANetImpl::forward_frames(const std::vector<torch::Tensor> &frames,
                                          stsanet::StemCache &cache) {
  const auto &g = geometry_;
  TORCH_CHECK(static_cast<int64_t>(frames.size()) == g.window, "STSANet expects windows of ",
              g.window, " frames, got ", frames.size());
  for (const auto &f : frames)
    TORCH_CHECK(f.dim() == 3 && f.size(0) == 3 && f.size(1) == g.height && f.size(2) == g.width,
                "STSANet expects frames (3, ", g.height, ", ", g.width, "), got ", f.sizes());
  return head(backbone->forward_from_f1(cache.f1(*backbone, frames)), 1);
}

torch::Tensor STSANetImpl::head(std::array<torch::Tensor, 4> levels, int64_t batch) {
  using namespace stsanet;
  const auto &g = geometry_;
  // Each level is released as soon as its branch has consumed it.
  std::array<torch::Tensor, 4> outs;
  for (size_t i = 0; i < 4; i++) {
    outs[i] = branches[i]->forward(levels[i]);
    levels[i] = torch::Tensor();
  }
  auto y = run_layers(branch3_beh_0, outs[3]);
  outs[3] = torch::Tensor();
  for (size_t k = 0; k < 3; k++) {
    y = stages[k]->forward(y, outs[2 - k]);
    outs[2 - k] = torch::Tensor();
  }
  y = readout(y);
  return y.reshape({batch, g.height, g.width});
}

torch::Tensor STSANetImpl::readout(const torch::Tensor &y) {
  using namespace stsanet;
  // readout_2 opens with a temporal convolution whose kernel equals its stride:
  // output step t reads input steps kt*t .. kt*t+kt-1 and nothing else. Without
  // autograd the full-resolution part (readout_1's upsampling, that
  // convolution) then runs one output step at a time, so only one step's
  // frame-size activations are alive at once: the peak of the network's memory.
  const auto first = readout_2->ptr<nn::Conv3dImpl>(0);
  const int64_t kt = (*first->options.kernel_size())[0];
  const bool per_step = !needs_grad(y) && kt == (*first->options.stride())[0] &&
                        (*stsanet::conv_padding(first->options))[0] == 0 &&
                        y.size(2) > kt && y.size(2) % kt == 0 &&
                        std::dynamic_pointer_cast<nn::ReLUImpl>(readout_2->children().at(1));
  if (!per_step) return run_layers(readout_2, run_layers(readout_1, y));
  std::vector<torch::Tensor> steps;
  for (int64_t t = 0; t < y.size(2); t += kt)
    steps.push_back(run_layers(readout_2, run_layers(readout_1, y.narrow(2, t, kt)),
                               Arithmetic::Rewritten, 0, 2));  // the convolution and its ReLU
  return run_layers(readout_2, torch::cat(steps, 2), Arithmetic::Rewritten, 2, readout_2->size());
}

void STSANetImpl::reset_parameters(std::uint64_t seed) {
  torch::NoGradGuard no_grad;
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  for (const auto &module : modules(/*include_self=*/false)) {
    if (auto conv = std::dynamic_pointer_cast<nn::Conv3dImpl>(module)) {
      // PyTorch's Conv default: kaiming_uniform_(a = sqrt(5)) for the weight and
      // U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the bias: both bound 1/sqrt(fan_in).
      TORCH_CHECK(conv->weight.device().is_cpu(),
                  "reset_parameters: move the model to the CPU first");
      const double bound = 1.0 / std::sqrt(static_cast<double>(conv->weight[0].numel()));
      conv->weight.uniform_(-bound, bound, generator);
      if (conv->bias.defined()) conv->bias.uniform_(-bound, bound, generator);
    } else if (auto norm = std::dynamic_pointer_cast<nn::LayerNormImpl>(module)) {
      norm->reset_parameters();
    } else if (auto bn = std::dynamic_pointer_cast<nn::BatchNorm3dImpl>(module)) {
      bn->reset_parameters();  // weight 1, bias 0, running statistics 0 / 1
    }
  }
}

std::size_t load_s3d_backbone(STSANetImpl &net, const std::string &path) {
  // kylemin's S3D: base.N with N = 0-3 -> base1.N, 5-6 -> base2, 8-12 -> base3,
  // 14-15 -> base4; 4, 7, 13 are the weightless pools (model-spec A.3).
  const auto remap = [](const std::string &key) -> std::string {
    if (key.rfind("base1.", 0) == 0 || key.rfind("base2.", 0) == 0 || key.rfind("base3.", 0) == 0 ||
        key.rfind("base4.", 0) == 0)
      return key;
    if (key.rfind("base.", 0) != 0) return {};
    const auto dot = key.find('.', 5);
    if (dot == std::string::npos) return {};
    int n = -1;
    try {
      n = std::stoi(key.substr(5, dot - 5));
    } catch (const std::exception &) {
      return {};
    }
    static const int kLevel[16] = {1, 1, 1, 1, 0, 2, 2, 0, 3, 3, 3, 3, 3, 0, 4, 4};
    static const int kFirst[5] = {0, 0, 5, 8, 14};
    if (n < 0 || n > 15 || kLevel[n] == 0) return {};
    return "base" + std::to_string(kLevel[n]) + "." + std::to_string(n - kFirst[kLevel[n]]) +
           key.substr(dot);
  };
  StateDict backbone_state;
  for (const auto &[key, tensor] : read_checkpoint(path)) {
    std::string name = key.rfind("module.", 0) == 0 ? key.substr(7) : key;
    name = remap(name);
    if (!name.empty())
      backbone_state.emplace_back(name, tensor);  // e.g. the classifier fc.* is skipped
  }
  if (backbone_state.empty())
    throw ModelError(path +
                     ": no S3D backbone tensors (expected keys base.N.* or base1.* ... base4.*)");
  return load_state_dict(*net.backbone, backbone_state, path);
}

}  // namespace model
