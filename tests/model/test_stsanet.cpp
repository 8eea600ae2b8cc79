// STSANet (model/include/salmodel/stsanet.hpp): the official module tree and
// state-dict layout (model-spec A.7, stsanet-state-dict.tsv), the shapes of
// every part at the official input size, hand-checkable properties of the
// blocks, and whole-network behaviour on a tiny configuration.
//
// The official-size full forward (~421 GFLOP) is left to saliency-bench and
// the parity experiments; here each part runs once at its official shape.
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "../../model/src/stsanet/ops.hpp"  // conv3d / max_pool3d fast paths
#include "salmodel/checkpoint.hpp"
#include "salmodel/predictor.hpp"
#include "salmodel/stsanet.hpp"
#include "map_stats.hpp"
#include "test_support.hpp"

namespace {

using model::ModelError;
using model::STSANet;
using model::STSANetModel;
using model::STSANetOptions;
namespace stsanet = model::stsanet;
namespace F = torch::nn::functional;

// The smallest useful configuration: 32x64 frames, every width / 16.
STSANetOptions tiny_options() { return STSANetOptions().height(32).width(64).width_divisor(16); }

using testsupport::PngStats;
using testsupport::png_stats;

STSANet tiny_net(std::uint64_t seed) {
  STSANet net(tiny_options());
  net->reset_parameters(seed);
  net->eval();
  return net;
}

// Gives BatchNorm and LayerNorm parameters/statistics non-default values, so
// that folding, copying or a missing buffer shows in the outputs.
void randomise_norms(torch::nn::Module &module, std::uint64_t seed) {
  torch::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  for (auto &m : module.modules()) {
    if (auto bn = std::dynamic_pointer_cast<torch::nn::BatchNorm3dImpl>(m)) {
      bn->weight.uniform_(0.5, 1.5, gen);
      bn->bias.uniform_(-0.2, 0.2, gen);
      bn->running_mean.uniform_(-0.2, 0.2, gen);
      bn->running_var.uniform_(0.5, 1.5, gen);
    } else if (auto ln = std::dynamic_pointer_cast<torch::nn::LayerNormImpl>(m)) {
      ln->weight.uniform_(0.8, 1.2, gen);
      ln->bias.uniform_(-0.1, 0.1, gen);
    }
  }
}

// Turns the channels-last inference layout on for one test (its thread).
struct ChannelsLastInference {
  stsanet::ChannelsLastScope scope{true};
};

// state_dict order: per module (pre-order), its own parameters, then buffers.
std::vector<std::pair<std::string, torch::Tensor>> state_entries(const torch::nn::Module &net) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto &m : net.named_modules("", /*include_self=*/true)) {
    const std::string prefix = m.key().empty() ? "" : m.key() + ".";
    for (const auto &p : m.value()->named_parameters(/*recurse=*/false))
      out.emplace_back(prefix + p.key(), p.value());
    for (const auto &b : m.value()->named_buffers(/*recurse=*/false))
      out.emplace_back(prefix + b.key(), b.value());
  }
  return out;
}

std::string shape_string(const torch::Tensor &t) {
  std::ostringstream s;
  s << "[";
  for (int64_t d = 0; d < t.dim(); d++) s << (d ? ", " : "") << t.size(d);
  s << "]";
  return s.str();
}

// One official-size network for the whole suite (643 MB, built once).
class OfficialStsaNet : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    net_ = new STSANet();
    (*net_)->eval();
  }
  static void TearDownTestSuite() {
    delete net_;
    net_ = nullptr;
  }
  STSANet &net() { return *net_; }
  static STSANet *net_;
};
STSANet *OfficialStsaNet::net_ = nullptr;

// ------------------------------------------------------ official layout

TEST_F(OfficialStsaNet, StateDictKeysShapesAndOrderEqualTheSharedTsv) {
  REQUIRE_SHARED_DATA(shared);
  std::ifstream tsv(shared + "/docs/stsanet-state-dict.tsv");
  ASSERT_TRUE(tsv.good()) << "cannot read docs/stsanet-state-dict.tsv";
  std::string line;
  std::getline(tsv, line);  // header: key, shape, dtype
  std::vector<std::string> expected;
  while (std::getline(tsv, line))
    if (!line.empty()) expected.push_back(line);
  ASSERT_EQ(expected.size(), 849u);

  const auto entries = state_entries(*net());
  ASSERT_EQ(entries.size(), expected.size());
  for (size_t i = 0; i < entries.size(); i++) {
    const auto &t = entries[i].second;
    const std::string dtype = t.scalar_type() == torch::kLong ? "int64" : "float32";
    EXPECT_EQ(entries[i].first + "\t" + shape_string(t) + "\t" + dtype, expected[i])
        << "entry " << i;
  }
}

TEST_F(OfficialStsaNet, ParameterAndBufferCountsAreTheOfficialOnes) {
  int64_t parameters = 0, buffers = 0, float_buffers = 0;
  for (const auto &p : net()->parameters()) parameters += p.numel();
  for (const auto &b : net()->buffers()) {
    buffers += b.numel();
    if (b.is_floating_point()) float_buffers += b.numel();
  }
  EXPECT_EQ(parameters, 160840060);  // model-spec 0 "key facts"
  EXPECT_EQ(buffers, 21293);         // incl. 77 num_batches_tracked
  EXPECT_EQ(float_buffers, 21293 - 77);
  // Backbone alone (A.3): 7,910,048 parameters.
  int64_t backbone = 0;
  for (const auto &p : net()->backbone->parameters()) backbone += p.numel();
  EXPECT_EQ(backbone, 7910048);
}

TEST_F(OfficialStsaNet, GeometryIsTheOfficialOne) {
  const auto &g = net()->geometry();
  EXPECT_EQ(g.level_channels, (std::array<int64_t, 4>{192, 480, 832, 1024}));
  EXPECT_EQ(g.level_steps, (std::array<int64_t, 4>{16, 16, 8, 4}));
  EXPECT_EQ(g.level_height, (std::array<int64_t, 4>{56, 28, 14, 7}));
  EXPECT_EQ(g.level_width, (std::array<int64_t, 4>{96, 48, 24, 12}));
  EXPECT_EQ(g.compression, (std::array<int64_t, 4>{4, 4, 2, 1}));
  EXPECT_FALSE(net()->branches[3]->pre);  // no branch3_pre in the official model
}

// ------------------------------------------------ shapes at official size

TEST_F(OfficialStsaNet, BackboneGivesTheFourOfficialLevelShapes) {
  c10::InferenceMode guard;
  const auto levels = net()->backbone->forward(torch::randn({1, 3, 32, 224, 384}));
  EXPECT_EQ(levels[0].sizes(), (std::vector<int64_t>{1, 192, 16, 56, 96}));
  EXPECT_EQ(levels[1].sizes(), (std::vector<int64_t>{1, 480, 16, 28, 48}));
  EXPECT_EQ(levels[2].sizes(), (std::vector<int64_t>{1, 832, 8, 14, 24}));
  EXPECT_EQ(levels[3].sizes(), (std::vector<int64_t>{1, 1024, 4, 7, 12}));
  for (const auto &l : levels) EXPECT_GE(l.min().item<float>(), 0.f);  // ReLU outputs
}

TEST_F(OfficialStsaNet, StsaBranchesMapLevelsToTheirOfficialOutputs) {
  c10::InferenceMode guard;
  const std::vector<std::vector<int64_t>> in = {
      {1, 192, 16, 56, 96}, {1, 480, 16, 28, 48}, {1, 832, 8, 14, 24}, {1, 1024, 4, 7, 12}};
  const std::vector<std::vector<int64_t>> out = {
      {1, 192, 4, 56, 96}, {1, 240, 4, 28, 48}, {1, 416, 4, 14, 24}, {1, 512, 4, 7, 12}};
  for (size_t i = 0; i < 4; i++) {
    const auto y = net()->branches[i]->forward(torch::rand(in[i]));
    EXPECT_EQ(y.sizes(), out[i]) << "branch " << i;
    EXPECT_TRUE(torch::isfinite(y).all().item<bool>()) << "branch " << i;
  }
}

TEST_F(OfficialStsaNet, AmsfStagesAndReadoutHaveTheOfficialShapes) {
  c10::InferenceMode guard;
  auto y = stsanet::run_layers(net()->branch3_beh_0, torch::rand({1, 512, 4, 7, 12}));
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{1, 416, 4, 14, 24}));
  y = net()->stages[0]->forward(y, torch::rand({1, 416, 4, 14, 24}));
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{1, 240, 4, 28, 48}));
  y = net()->stages[1]->forward(y, torch::rand({1, 240, 4, 28, 48}));
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{1, 192, 4, 56, 96}));
  y = net()->stages[2]->forward(y, torch::rand({1, 192, 4, 56, 96}));
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{1, 192, 4, 112, 192}));
  y = stsanet::run_layers(net()->readout_1, y);
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{1, 64, 4, 224, 384}));
  y = stsanet::run_layers(net()->readout_2, y);
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{1, 1, 1, 224, 384}));
  EXPECT_GT(y.min().item<float>(), 0.f);
  EXPECT_LT(y.max().item<float>(), 1.f);
}

// ---------------------------------------------------------- block properties

TEST(StsaNetBlocks, AttentionRowsSumToOne) {
  // With v = 1 everywhere, V A^T is the row sums of A.
  torch::manual_seed(3);
  const auto q = torch::randn({2, 5, 1, 3, 4}), k = torch::randn({2, 5, 1, 3, 4});
  const auto ones = torch::ones({2, 1, 1, 3, 4});
  const auto sums = stsanet::dot_product_attention(q, k, ones);
  EXPECT_TRUE(torch::allclose(sums, ones, 1e-6, 1e-6));
}

TEST(StsaNetBlocks, AttentionIsAnUnscaledSoftmaxOverKeys) {
  // Two positions, d = 4 channels. Query 0 = (0.5, 0.5, 0.5, 0.5), query 1 = 0;
  // key 0 = (1, 1, 1, 1), key 1 = 0. Logits of query 0: (2, 0) unscaled (a
  // 1/sqrt(4) scaling would give (1, 0)); query 1: (0, 0).
  auto q = torch::zeros({1, 4, 1, 1, 2}), k = torch::zeros({1, 4, 1, 1, 2});
  q.select(4, 0).fill_(0.5);
  k.select(4, 0).fill_(1.0);
  const auto v = torch::tensor({10.f, 20.f}).view({1, 1, 1, 1, 2});
  const auto out = stsanet::dot_product_attention(q, k, v);
  const double e2 = std::exp(2.0);
  EXPECT_NEAR(out[0][0][0][0][0].item<double>(), (10.0 * e2 + 20.0) / (e2 + 1.0), 1e-5);
  EXPECT_NEAR(out[0][0][0][0][1].item<double>(), 15.0, 1e-5);
}

TEST(StsaNetBlocks, UnpoolPutsValuesBackAtTheArgMax) {
  // One 2x2 window per map: [[1, 3], [2, 0]] -> max 3 at (0, 1); an all-zero
  // window keeps the first (top-left) position, as PyTorch does.
  auto x = torch::tensor({1.f, 3.f, 2.f, 0.f, 0.f, 0.f, 0.f, 0.f}).view({1, 1, 2, 2, 2});
  auto [pooled, indices] = stsanet::bottleneck_pool(x);
  EXPECT_EQ(pooled.sizes(), (std::vector<int64_t>{1, 1, 2, 1, 1}));
  EXPECT_EQ(pooled.flatten()[0].item<float>(), 3.f);
  const auto back =
      stsanet::bottleneck_unpool(torch::tensor({7.f, 9.f}).view({1, 1, 2, 1, 1}), indices, x);
  const auto expected =
      torch::tensor({0.f, 7.f, 0.f, 0.f, 9.f, 0.f, 0.f, 0.f}).view({1, 1, 2, 2, 2});
  EXPECT_TRUE(torch::equal(back, expected)) << back;
}

TEST(StsaNetBlocks, SeparableMaxPoolEqualsMaxPool3dIncludingTies) {
  torch::manual_seed(4);
  // Quantised values make ties frequent; sizes include odd ones.
  const auto x = (torch::randn({2, 3, 9, 11, 14}) * 2).round().relu();
  const std::vector<torch::nn::MaxPool3dOptions> pools = {
      torch::nn::MaxPool3dOptions(3).stride(1).padding(1),  // Mixed, inception
      torch::nn::MaxPool3dOptions({1, 3, 3}).stride({1, 2, 2}).padding({0, 1, 1}),  // base1.1
      torch::nn::MaxPool3dOptions(3).stride(2).padding(1),                          // maxpooling3
      torch::nn::MaxPool3dOptions(2).stride(2)};                                    // maxpooling4
  c10::InferenceMode guard;
  for (const auto &p : pools) {
    const auto fast = stsanet::max_pool3d(x, p);
    const auto reference = F::max_pool3d(x, p);
    EXPECT_TRUE(torch::equal(fast, reference)) << "kernel " << p.kernel_size();
    EXPECT_TRUE(fast.is_contiguous());
  }
}

TEST(StsaNetBlocks, FactorisedConvolutionsEqualConv3d) {
  torch::manual_seed(5);
  struct Case {
    std::vector<int64_t> kernel, stride, padding;
    int64_t steps;
  };
  const std::vector<Case> cases = {
      {{1, 1, 1}, {1, 1, 1}, {0, 0, 0}, 3}, {{3, 1, 1}, {1, 1, 1}, {1, 0, 0}, 5},
      {{4, 1, 1}, {4, 1, 1}, {0, 0, 0}, 8}, {{7, 1, 1}, {2, 1, 1}, {3, 0, 0}, 9},
      {{1, 3, 3}, {1, 1, 1}, {0, 1, 1}, 1}, {{1, 3, 3}, {1, 1, 1}, {0, 1, 1}, 4},
      {{1, 7, 7}, {1, 2, 2}, {0, 3, 3}, 3}, {{1, 3, 1}, {1, 1, 1}, {0, 1, 0}, 2},
      {{2, 3, 3}, {2, 1, 1}, {0, 1, 1}, 4}};
  for (const auto &c : cases) {
    const auto x = torch::randn({2, 5, c.steps, 9, 12});
    const auto w = torch::randn({6, 5, c.kernel[0], c.kernel[1], c.kernel[2]});
    const auto b = torch::randn({6});
    const auto fast = stsanet::conv3d(x, w, b, c.stride, c.padding);
    const auto reference =
        F::conv3d(x, w, F::Conv3dFuncOptions().bias(b).stride(c.stride).padding(c.padding));
    ASSERT_EQ(fast.sizes(), reference.sizes());
    EXPECT_TRUE(torch::allclose(fast, reference, 1e-4, 1e-4)) << "kernel " << c.kernel;
  }
}

TEST(StsaNetBlocks, FoldedBatchNormEqualsConvBatchNormRelu) {
  torch::manual_seed(6);
  stsanet::BasicConv3d block(6, 4);
  randomise_norms(*block, 1);
  block->eval();
  const auto x = torch::randn({2, 6, 3, 5, 7});
  const auto &bn = block->bn;
  const auto reference = torch::relu(
      F::batch_norm(F::conv3d(x, block->conv->weight), bn->running_mean, bn->running_var,
                    F::BatchNormFuncOptions().weight(bn->weight).bias(bn->bias).eps(1e-3)));
  EXPECT_TRUE(torch::allclose(block->forward(x), reference, 1e-5, 1e-5));
  // Training mode uses batch statistics and updates the running ones.
  block->train();
  const auto before = bn->running_mean.clone();
  block->forward(x);
  EXPECT_FALSE(torch::equal(before, bn->running_mean));
}

TEST(StsaNetBlocks, DerivedTensorsAreRecomputedOnlyWhenASourceChanges) {
  stsanet::DerivedTensors cache;
  auto source = torch::ones({3});
  int made = 0;
  const auto make = [&] {
    ++made;
    return std::vector<torch::Tensor>{source * 2};
  };
  EXPECT_TRUE(torch::equal(cache.get({source}, make)[0], torch::full({3}, 2.f)));
  cache.get({source}, make);
  EXPECT_EQ(made, 1);
  source.add_(1);  // in place: a new version
  EXPECT_TRUE(torch::equal(cache.get({source}, make)[0], torch::full({3}, 4.f)));
  EXPECT_EQ(made, 2);
  source = torch::zeros({3});  // another tensor (a reload, a move)
  EXPECT_TRUE(torch::equal(cache.get({source}, make)[0], torch::zeros({3})));
  EXPECT_EQ(made, 3);
  const auto tracked = torch::ones({3}, torch::requires_grad());
  cache.get({tracked}, make);  // autograd: never cached
  cache.get({tracked}, make);
  EXPECT_EQ(made, 5);
}

TEST(StsaNetBlocks, FoldedInferenceWeightsFollowInPlaceParameterChanges) {
  ChannelsLastInference channels_last;
  // Inference keeps the folded conv+BatchNorm weights; an optimiser step or a
  // checkpoint load changes the parameters in place and must be seen.
  torch::manual_seed(16);
  stsanet::BasicConv3d block(6, 4);
  randomise_norms(*block, 3);
  block->eval();
  const auto x = torch::randn({1, 6, 4, 5, 7});
  const auto &bn = block->bn;
  const auto reference = [&] {
    torch::NoGradGuard no_grad;
    return torch::relu(
        F::batch_norm(F::conv3d(x, block->conv->weight), bn->running_mean, bn->running_var,
                      F::BatchNormFuncOptions().weight(bn->weight).bias(bn->bias).eps(1e-3)));
  };
  torch::Tensor before, after;
  {
    c10::InferenceMode guard;
    before = block->forward(x);
    EXPECT_TRUE(stsanet::is_channels_last(before));  // the inference layout was taken
  }
  EXPECT_TRUE(torch::allclose(before, reference(), 1e-5, 1e-6));
  {
    torch::NoGradGuard no_grad;
    bn->running_mean.add_(0.5);
    block->conv->weight.mul_(1.5);
  }
  {
    c10::InferenceMode guard;
    after = block->forward(x);
  }
  EXPECT_FALSE(torch::allclose(before, after));
  EXPECT_TRUE(torch::allclose(after, reference(), 1e-5, 1e-6));
}

TEST(StsaNetBlocks, ChannelsLastLayerNormEqualsTheModule) {
  ChannelsLastInference channels_last;
  torch::manual_seed(17);
  torch::nn::LayerNorm norm(torch::nn::LayerNormOptions({6, 4, 3, 5}).eps(1e-5));
  randomise_norms(*norm, 5);
  const auto x = torch::randn({2, 6, 4, 3, 5}) * 3 + 1;
  const auto expected = norm->forward(x);
  stsanet::DerivedTensors cache;
  c10::InferenceMode guard;
  const auto y = stsanet::layer_norm(norm, x.contiguous(at::MemoryFormat::ChannelsLast3d), cache);
  EXPECT_TRUE(stsanet::is_channels_last(y));
  EXPECT_TRUE(torch::allclose(y, expected, 1e-5, 1e-5));
}

// The CUDA path of the STSA norm (ops.cpp), checked on the CPU against the
// module: both layouts, autograd included.
TEST(StsaNetBlocks, LayerNormByReductionEqualsTheModule) {
  torch::manual_seed(19);
  torch::nn::LayerNorm norm(torch::nn::LayerNormOptions({6, 4, 3, 5}).eps(1e-5));
  randomise_norms(*norm, 7);
  const auto x = (torch::randn({2, 6, 4, 3, 5}) * 3 + 1).requires_grad_();
  const auto expected = norm->forward(x);
  const auto y = stsanet::layer_norm_by_reduction(x, norm->weight, norm->bias, 1e-5);
  EXPECT_TRUE(torch::allclose(y, expected, 1e-5, 1e-5));
  const auto up = torch::randn_like(expected);
  const auto grad_expected = torch::autograd::grad({expected}, {x}, {up})[0];
  const auto grad = torch::autograd::grad({y}, {x}, {up})[0];
  EXPECT_TRUE(torch::allclose(grad, grad_expected, 1e-4, 1e-5));
  c10::InferenceMode guard;
  const auto cl = stsanet::layer_norm_by_reduction(
      x.detach().contiguous(at::MemoryFormat::ChannelsLast3d), norm->weight, norm->bias, 1e-5);
  EXPECT_TRUE(stsanet::is_channels_last(cl));
  EXPECT_TRUE(torch::allclose(cl, expected.detach(), 1e-5, 1e-5));
  // Half precision in and out, statistics in fp32.
  const auto h = stsanet::layer_norm_by_reduction(x.detach().to(torch::kHalf), norm->weight.to(torch::kHalf),
                                                  norm->bias.to(torch::kHalf), 1e-5);
  EXPECT_EQ(h.scalar_type(), torch::kHalf);
  EXPECT_TRUE(torch::allclose(h.to(torch::kFloat32), expected.detach(), 2e-2, 2e-2));
}

TEST(StsaNetBlocks, ChannelsLastScopeHoldsOnItsThreadOnly) {
  ASSERT_FALSE(stsanet::inference_channels_last());
  {
    const stsanet::ChannelsLastScope on(true);
    EXPECT_TRUE(stsanet::inference_channels_last());
    bool other_thread = true;
    std::thread([&] { other_thread = stsanet::inference_channels_last(); }).join();
    EXPECT_FALSE(other_thread);
    {
      const stsanet::ChannelsLastScope off(false);
      EXPECT_FALSE(stsanet::inference_channels_last());
    }
    EXPECT_TRUE(stsanet::inference_channels_last());
  }
  EXPECT_FALSE(stsanet::inference_channels_last());
}

TEST(StsaNetBlocks, ReferenceArithmeticIsThePyTorchModulesBitForBit) {
  // Arithmetic::Official must run exactly Conv3d -> BatchNorm3d -> ReLU, so
  // that branch 0's arg-max positions are PyTorch's (model-spec A.4.6).
  torch::manual_seed(13);
  stsanet::SepConv3d sep(
      stsanet::SepConv3dOptions(5, 6, 3).padding(1).arithmetic(stsanet::Arithmetic::Official));
  randomise_norms(*sep, 3);
  sep->eval();
  const auto x = torch::randn({2, 5, 4, 9, 11});
  const auto s = torch::relu(sep->bn_s->forward(sep->conv_s->forward(x)));
  const auto expected = torch::relu(sep->bn_t->forward(sep->conv_t->forward(s)));
  c10::InferenceMode guard;
  EXPECT_TRUE(torch::equal(sep->forward(x), expected));
}

TEST(StsaNetBlocks, S3DBlocksUseS3DBatchNormSettings) {
  stsanet::SepConv3d sep(stsanet::SepConv3dOptions(3, 8, 3).padding(1));
  EXPECT_DOUBLE_EQ(sep->bn_s->options.eps(), 1e-3);
  EXPECT_DOUBLE_EQ(sep->bn_t->options.momentum().value(), 1e-3);
  EXPECT_FALSE(sep->conv_s->bias.defined());
  EXPECT_EQ(sep->conv_s->weight.sizes(), (std::vector<int64_t>{8, 3, 1, 3, 3}));
  EXPECT_EQ(sep->conv_t->weight.sizes(), (std::vector<int64_t>{8, 8, 3, 1, 1}));
  stsanet::Mixed mixed(stsanet::MixedWidths{192, 64, 96, 128, 16, 32, 32});  // Mixed_3b
  c10::InferenceMode guard;
  EXPECT_EQ(mixed->forward(torch::rand({1, 192, 2, 6, 8})).sizes(),
            (std::vector<int64_t>{1, 256, 2, 6, 8}));
}

// ------------------------------------------------------------- configuration

TEST(StsaNetOptions, RejectsSizesThatAreNotMultiplesOf32) {
  EXPECT_THROW(STSANet(STSANetOptions().height(200).width_divisor(16)), ModelError);
  EXPECT_THROW(STSANet(STSANetOptions().width(16).width_divisor(16)), ModelError);
}

TEST(StsaNetOptions, RejectsWindowsThatDoNotGiveFourStepsPerLevel) {
  EXPECT_THROW(STSANet(tiny_options().window(16)), ModelError);
  EXPECT_THROW(STSANet(tiny_options().window(40)), ModelError);
  EXPECT_THROW(STSANet(tiny_options().width_divisor(0)), ModelError);
}

TEST(StsaNetOptions, LongerWindowAddsATemporalCompressionToBranch3) {
  STSANet net(tiny_options().window(64));
  EXPECT_EQ(net->geometry().compression, (std::array<int64_t, 4>{8, 8, 4, 2}));
  bool found = false;
  for (const auto &p : net->named_parameters()) found = found || p.key() == "branch3_pre.0.weight";
  EXPECT_TRUE(found);
  net->eval();
  c10::InferenceMode guard;
  EXPECT_EQ(net->forward(torch::randn({1, 3, 64, 32, 64})).sizes(),
            (std::vector<int64_t>{1, 32, 64}));
}

TEST(StsaNetOptions, WidthDivisorScalesEveryLayerAndKeepsTheKeys) {
  STSANet tiny(tiny_options());
  // Same keys as the official network (STSA LayerNorms follow the input size).
  std::vector<std::string> keys;
  for (const auto &e : state_entries(*tiny)) keys.push_back(e.first);
  EXPECT_EQ(keys.size(), 849u);
  EXPECT_EQ(keys.front(), "base1.0.conv_s.weight");
  EXPECT_EQ(keys.back(), "readout_2.4.bias");
  // 192 / 16 channels, 4 steps, (32 / 4) x (64 / 4) at level 1.
  EXPECT_EQ(tiny->branches[0]->ln_0->weight.sizes(), (std::vector<int64_t>{12, 4, 8, 16}));
  EXPECT_EQ(tiny->branches[0]->mid->ptr<torch::nn::Conv3dImpl>(0)->weight.sizes(),
            (std::vector<int64_t>{12, 12, 1, 3, 3}));
}

// ------------------------------------------------------- tiny whole network

TEST(StsaNetTiny, ForwardGivesOneMapPerClipInZeroOne) {
  auto net = tiny_net(1);
  randomise_norms(*net, 2);
  c10::InferenceMode guard;
  const auto y = net->forward(torch::randn({2, 3, 32, 32, 64}));
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, 32, 64}));
  EXPECT_GT(y.min().item<float>(), 0.f);
  EXPECT_LT(y.max().item<float>(), 1.f);
}

TEST(StsaNetTiny, ClipsInABatchAreIndependent) {
  auto net = tiny_net(1);
  randomise_norms(*net, 2);
  torch::manual_seed(7);
  const auto clips = torch::randn({2, 3, 32, 32, 64});
  c10::InferenceMode guard;
  const auto both = net->forward(clips);
  EXPECT_TRUE(torch::allclose(both[1], net->forward(clips.narrow(0, 1, 1))[0], 1e-5, 1e-6));
  EXPECT_FALSE(torch::allclose(both[0], both[1]));
}

TEST(StsaNetTiny, InferencePathEqualsTheAutogradPath) {
  // InferenceMode takes the separable max pools; with autograd the network
  // uses max_pool3d. Both must give the same maps.
  auto net = tiny_net(3);
  randomise_norms(*net, 4);
  torch::manual_seed(8);
  const auto clips = torch::randn({1, 3, 32, 32, 64});
  const auto with_grad = net->forward(clips);
  ASSERT_TRUE(with_grad.requires_grad());
  torch::Tensor fast;
  {
    c10::InferenceMode guard;
    fast = net->forward(clips);
  }
  EXPECT_TRUE(torch::allclose(fast, with_grad.detach(), 1e-5, 1e-6));
}

TEST(StsaNetTiny, ChannelsLastInferenceEqualsThePlainForward) {
  ChannelsLastInference channels_last;
  // Inference runs channels-last with cached folded weights; the autograd
  // forward runs the plain layout. Width / 8 at 64x96 gives every level more
  // than one pixel, channel and step, so no layout is ambiguous.
  STSANet net(STSANetOptions().height(64).width(96).width_divisor(8));
  net->reset_parameters(21);
  randomise_norms(*net, 22);
  net->eval();
  torch::manual_seed(23);
  const auto clips = torch::randn({1, 3, 32, 64, 96});
  const auto plain_levels = net->backbone->forward(clips);
  const auto plain = net->forward(clips);
  ASSERT_TRUE(plain.requires_grad());
  c10::InferenceMode guard;
  const auto levels = net->backbone->forward(clips);
  for (size_t i = 1; i < 4; i++) {
    EXPECT_TRUE(stsanet::is_channels_last(levels[i])) << "level " << i + 1;
    const auto scale = plain_levels[i].abs().max().item<double>();
    EXPECT_LT((levels[i] - plain_levels[i].detach()).abs().max().item<double>(), 1e-5 * scale)
        << "level " << i + 1;
  }
  for (int run = 0; run < 2; run++)  // the second run reads the cached weights
    EXPECT_TRUE(torch::allclose(net->forward(clips), plain.detach(), 1e-5, 1e-6)) << "run " << run;
}

TEST(StsaNetTiny, TrainingReachesEveryParameter) {
  auto net = tiny_net(5);
  net->train();
  torch::manual_seed(9);
  const auto y = net->forward(torch::randn({2, 3, 32, 32, 64}));
  y.mean().backward();
  for (const auto &p : net->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_TRUE(torch::isfinite(p.value().grad()).all().item<bool>()) << p.key();
  }
}

TEST(StsaNetTiny, SeededInitialisationIsReproducibleAndPyTorchBounded) {
  auto a = tiny_net(11), b = tiny_net(11), c = tiny_net(12);
  const auto pa = a->parameters(), pb = b->parameters(), pc = c->parameters();
  bool all_equal = true, any_differs = false;
  for (size_t i = 0; i < pa.size(); i++) {
    all_equal = all_equal && torch::equal(pa[i], pb[i]);
    any_differs = any_differs || !torch::equal(pa[i], pc[i]);
  }
  EXPECT_TRUE(all_equal);
  EXPECT_TRUE(any_differs);
  // Conv weights and biases lie in +-1/sqrt(fan_in) (PyTorch's default init).
  for (const auto &m : a->modules()) {
    if (auto conv = std::dynamic_pointer_cast<torch::nn::Conv3dImpl>(m)) {
      const double bound = 1.0 / std::sqrt(static_cast<double>(conv->weight[0].numel()));
      EXPECT_LE(conv->weight.abs().max().item<double>(), bound);
    }
  }
}

// ---------------------------------------------------- SaliencyModel adapter

TEST(StsaNetModel, WindowIsFifteenFramesBeforeAndSixteenAfter) {
  STSANetModel model(tiny_options());
  const auto spec = model.window_spec();
  EXPECT_EQ(spec.frames_before, 15);
  EXPECT_EQ(spec.frames_after, 16);
  EXPECT_FALSE(spec.needs_flow);
  EXPECT_EQ(model.name(), "stsanet");
}

TEST(StsaNetModel, PrepareFrameResizesAndNormalisesLikeTheOfficialLoader) {
  STSANetModel model(tiny_options());
  // A constant colour stays constant through Pillow's resize, so each channel
  // must be (c / 255 - mean) / std in float arithmetic.
  auto rgb = torch::empty({48, 80, 3}, torch::kUInt8);
  rgb.select(2, 0).fill_(124);
  rgb.select(2, 1).fill_(116);
  rgb.select(2, 2).fill_(104);
  const auto x = model.prepare_frame(rgb);
  EXPECT_EQ(x.sizes(), (std::vector<int64_t>{3, 32, 64}));
  EXPECT_EQ(x.scalar_type(), torch::kFloat32);
  const float expected[3] = {(124.f / 255.f - 0.485f) / 0.229f, (116.f / 255.f - 0.456f) / 0.224f,
                             (104.f / 255.f - 0.406f) / 0.225f};
  for (int c = 0; c < 3; c++) {
    EXPECT_FLOAT_EQ(x[c].min().item<float>(), expected[c]);
    EXPECT_FLOAT_EQ(x[c].max().item<float>(), expected[c]);
  }
  EXPECT_THROW(model.prepare_frame(torch::zeros({48, 80, 3})), ModelError);  // float
  EXPECT_THROW(model.prepare_frame(torch::zeros({48, 80}, torch::kUInt8)), ModelError);
}

TEST(StsaNetModel, PredictStacksWindowsIntoOneMapEach) {
  STSANetModel model(tiny_options());
  model.network()->reset_parameters(21);
  torch::manual_seed(10);
  model::Window window;
  for (int i = 0; i < 32; i++)
    window.frames.push_back(
        model.prepare_frame(torch::randint(0, 256, {40, 72, 3}, torch::kUInt8)));
  const auto maps = model.predict({window, window});
  EXPECT_EQ(maps.sizes(), (std::vector<int64_t>{2, 32, 64}));
  EXPECT_TRUE(torch::equal(maps[0], maps[1]));
  EXPECT_GT(maps.min().item<float>(), 0.f);
  EXPECT_LT(maps.max().item<float>(), 1.f);

  model::Window short_window;
  short_window.frames.assign(window.frames.begin(), window.frames.begin() + 31);
  EXPECT_THROW(model.predict({short_window}), ModelError);
  EXPECT_THROW(model.predict({}), ModelError);
}

TEST(StsaNetModel, CountsParametersAndFloatingPointBuffers) {
  STSANetModel model(tiny_options());
  model.to(torch::kCPU, torch::kFloat32);  // must keep num_batches_tracked int64
  EXPECT_EQ(model.network()
                ->backbone->base4->named_buffers()["0.branch0.0.bn.num_batches_tracked"]
                .scalar_type(),
            torch::kLong);
  int64_t parameters = 0, float_buffers = 0;
  for (const auto &p : model.network()->parameters()) parameters += p.numel();
  for (const auto &b : model.network()->buffers())
    if (b.is_floating_point()) float_buffers += b.numel();
  EXPECT_EQ(model.parameter_count(), parameters);
  EXPECT_EQ(model.buffer_count(), float_buffers);
  EXPECT_GT(float_buffers, 0);
}

TEST(StsaNetModel, RefusesToRunWithoutWeightsOrRandomInit) {
  model::ModelConfig config;
  config.kind = model::ModelKind::STSANet;
  try {
    model::create_stsanet_model(config);
    FAIL() << "expected ModelError";
  } catch (const ModelError &e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("--weights"), std::string::npos) << message;
    EXPECT_NE(message.find("--random-init"), std::string::npos) << message;
  }
}

TEST(StsaNetModel, ConstantFramesGiveFiniteMapsAndPngsWithoutASpike) {
  // Black, white and grey clips (the end of a fade) through the Predictor:
  // the sigmoid keeps the raw map in (0,1); the PNG path min-max normalises it
  // as saliency-predict does (model::min_max_scale), which must neither divide
  // by a zero range nor turn the map into one hot cell.
  for (int level : {0, 255, 128}) {
    SCOPED_TRACE("level " + std::to_string(level));
    auto net = std::make_unique<STSANetModel>(tiny_options());
    net->network()->reset_parameters(21);
    model::Predictor p(std::move(net), model::PredictorOptions{});
    const int w = 72, h = 40;
    const auto maps = testsupport::maps_of_constant_frames(p, w, h, level, 3);
    ASSERT_EQ(maps.size(), 3u);
    // The raw map (a sigmoid) is shaped by the network's zero padding at the border.
    for (const auto &m : maps) testsupport::expect_real_structure_in_png(m, w, h);
  }
}

// --------------------------------------------------------------- checkpoints

TEST(StsaNetCheckpoint, WeightsRoundTripWithModulePrefix) {
  testsupport::TempDir dir;
  auto source = tiny_net(31);
  randomise_norms(*source, 32);
  model::StateDict state;
  for (const auto &[key, tensor] : model::module_state_dict(*source))
    state.emplace_back("module." + key, tensor);  // as saved from nn.DataParallel
  model::write_checkpoint(dir / "tiny.pth", state);

  STSANetModel loaded(tiny_options());
  loaded.load_weights(dir / "tiny.pth");
  torch::manual_seed(12);
  const auto clips = torch::randn({1, 3, 32, 64, 64}).narrow(3, 0, 32);
  c10::InferenceMode guard;
  EXPECT_TRUE(torch::equal(loaded.network()->forward(clips), source->forward(clips)));
}

TEST(StsaNetCheckpoint, LoadingRejectsAMissingKeyNamingIt) {
  testsupport::TempDir dir;
  auto source = tiny_net(33);
  model::StateDict state;
  for (const auto &[key, tensor] : model::module_state_dict(*source))
    if (key != "CA_1.2.weight") state.emplace_back(key, tensor);
  model::write_checkpoint(dir / "partial.pth", state);
  STSANetModel loaded(tiny_options());
  try {
    loaded.load_weights(dir / "partial.pth");
    FAIL() << "expected ModelError";
  } catch (const ModelError &e) {
    EXPECT_NE(std::string(e.what()).find("CA_1.2.weight"), std::string::npos) << e.what();
  }
}

TEST(StsaNetCheckpoint, KineticsS3DInitialisesOnlyTheBackbone) {
  testsupport::TempDir dir;
  auto source = tiny_net(41);
  randomise_norms(*source, 42);
  // kylemin's S3D layout: module.base.N.*, weightless pools at 4, 7, 13, and
  // a classifier fc.0 (model-spec A.3).
  const int first[5] = {0, 0, 5, 8, 14};
  model::StateDict state;
  for (const auto &[key, tensor] : model::module_state_dict(*source->backbone)) {
    const int level = key[4] - '0';
    const auto dot = key.find('.', 6);
    const int index = std::stoi(key.substr(6, dot - 6)) + first[level];
    state.emplace_back("module.base." + std::to_string(index) + key.substr(dot), tensor);
  }
  state.emplace_back("module.fc.0.weight", torch::randn({400, 64, 1, 1, 1}));
  state.emplace_back("module.fc.0.bias", torch::randn({400}));
  model::write_checkpoint(dir / "s3d.pt", state);

  auto target = tiny_net(43);
  const auto head_before = target->branches[2]->mid->ptr<torch::nn::Conv3dImpl>(0)->weight.clone();
  EXPECT_EQ(model::load_s3d_backbone(*target, dir / "s3d.pt"), state.size() - 2);
  const auto src = source->backbone->named_parameters();
  const auto dst = target->backbone->named_parameters();
  for (const auto &p : src) EXPECT_TRUE(torch::equal(p.value(), dst[p.key()])) << p.key();
  EXPECT_TRUE(
      torch::equal(source->backbone->base3->named_buffers()["2.branch1.1.bn_t.running_var"],
                   target->backbone->base3->named_buffers()["2.branch1.1.bn_t.running_var"]));
  EXPECT_TRUE(
      torch::equal(head_before, target->branches[2]->mid->ptr<torch::nn::Conv3dImpl>(0)->weight));

  model::write_checkpoint(dir / "other.pt", {{"fc.weight", torch::zeros({2, 2})}});
  EXPECT_THROW(model::load_s3d_backbone(*target, dir / "other.pt"), ModelError);
}

// ------------------------------------------------------------ stem reuse

// The windows a stream of `count` frames gives (clamped at both ends, as the
// Predictor builds them), each holding the very frame tensors it shares with
// its neighbours.
std::vector<std::vector<torch::Tensor>> sliding_windows(const std::vector<torch::Tensor> &frames,
                                                        int64_t window) {
  const int64_t before = window / 2 - 1, count = static_cast<int64_t>(frames.size());
  std::vector<std::vector<torch::Tensor>> out;
  for (int64_t t = 0; t < count; ++t) {
    std::vector<torch::Tensor> w;
    for (int64_t k = 0; k < window; ++k)
      w.push_back(frames[std::clamp<int64_t>(t - before + k, 0, count - 1)]);
    out.push_back(w);
  }
  return out;
}

// How far two fp32 evaluations of base1 may differ when they differ only in
// the order in which each output's sums are added: the stem cache convolves a
// few frames or rows at a time, the full window convolves all of them, and
// LibTorch's GEMM kernels split and vectorise a sum differently for different
// shapes, CPUs (AVX2, AVX-512) and thread counts. So the two are equal only
// when one kernel happens to be used the same way; what always holds is
// Higham's bound for a sum of n products computed in any order (Accuracy and
// Stability of Numerical Algorithms, 2nd ed., eq. 3.5):
//     |fl(sum) - sum| <= gamma_n * sum |a_i b_i|,  gamma_n = n u / (1 - n u),
// u = 2^-24, so two orders differ by at most 2 gamma_n sum |a_i b_i|. Layer by
// layer (conv -> BatchNorm -> ReLU, as conv_bn_relu computes it, folded or
// not): an input difference E reaches the output through |g| conv(E, |W|)
// (g the BatchNorm's per-channel scale), to which the sum's own reordering
// adds 2 gamma_{n+1} (|g| conv(|x| + E, |W|) + |b|) (b the folded bias), and
// 8u of the same covers the BatchNorm's few elementwise roundings in each
// evaluation. ReLU and max pooling never widen a difference. The bound is
// first-order (products of rounding errors are left out); the factor 2 in the
// assertion covers them and the fp32 evaluation of the bound itself.
torch::Tensor conv_bn_relu_bound(torch::Tensor &x, const torch::Tensor &err, const torch::nn::Conv3d &conv,
                                 const torch::nn::BatchNorm3d &bn) {
  constexpr double u = 1.0 / (1 << 24);
  const auto g = bn->weight / torch::sqrt(bn->running_var + bn->options.eps());
  const auto b = (bn->bias - bn->running_mean * g).abs().view({1, -1, 1, 1, 1});
  const double n = double(conv->weight[0].numel()) + 1;
  const double gamma = n * u / (1 - n * u);
  const auto &o = conv->options;
  const auto opts = F::Conv3dFuncOptions().stride(o.stride()).padding(o.padding());
  const auto gs = g.abs().view({1, -1, 1, 1, 1});
  const auto propagated = F::conv3d(err, conv->weight.abs(), opts) * gs;
  const auto magnitude = F::conv3d(x.abs() + err, conv->weight.abs(), opts) * gs + b;
  // The reference activation the next layer reads.
  x = torch::relu(F::conv3d(x, conv->weight, opts) * g.view({1, -1, 1, 1, 1}) +
                  (bn->bias - bn->running_mean * g).view({1, -1, 1, 1, 1}));
  return propagated + (2 * gamma + 8 * u) * magnitude;
}

// The bound above through base1 (SepConv3d, MaxPool3d, BasicConv3d, SepConv3d).
torch::Tensor base1_reorder_bound(const stsanet::S3DBackboneImpl &backbone, const torch::Tensor &clip) {
  auto *base1 = backbone.base1.get();
  torch::Tensor x = clip, err = torch::zeros_like(clip);
  auto sep = [&](const stsanet::SepConv3dImpl &m) {
    err = conv_bn_relu_bound(x, err, m.conv_s, m.bn_s);
    err = conv_bn_relu_bound(x, err, m.conv_t, m.bn_t);
  };
  sep(*base1->ptr<stsanet::SepConv3dImpl>(0));
  const auto &pool = base1->ptr<torch::nn::MaxPool3dImpl>(1)->options;
  x = stsanet::max_pool3d(x, pool);
  err = stsanet::max_pool3d(err, pool);  // |max a - max b| <= max |a - b|
  const auto &basic = *base1->ptr<stsanet::BasicConv3dImpl>(2);
  err = conv_bn_relu_bound(x, err, basic.conv, basic.bn);
  sep(*base1->ptr<stsanet::SepConv3dImpl>(3));
  return err;
}

// |reused - full| within twice the rounding bound, elementwise.
::testing::AssertionResult within_reorder_bound(const torch::Tensor &reused, const torch::Tensor &full,
                                                const torch::Tensor &bound) {
  const auto diff = (reused - full).abs();
  const auto excess = diff - 2 * bound;
  if (excess.max().item<float>() <= 0)
    return ::testing::AssertionSuccess() << "max difference " << diff.max().item<float>();
  return ::testing::AssertionFailure() << "max difference " << diff.max().item<float>() << " where the bound is "
                                       << (2 * bound).flatten()[excess.argmax()].item<float>();
}

TEST(StsaNetStemReuse, SlidingWindowsGiveBase1WithinRoundingWithLessWork) {
  auto net = tiny_net(11);
  randomise_norms(*net, 12);
  torch::manual_seed(13);
  c10::InferenceMode guard;
  std::vector<torch::Tensor> frames;
  for (int i = 0; i < 40; ++i) frames.push_back(torch::randn({3, 32, 64}));
  stsanet::StemCache cache;
  const auto windows = sliding_windows(frames, 32);
  float worst = 0;
  for (size_t t = 0; t < windows.size(); ++t) {
    const auto clip = torch::stack(windows[t], 1).unsqueeze(0);
    auto *base1 = net->backbone->base1.get();
    auto y = base1->ptr<stsanet::SepConv3dImpl>(0)->forward(clip);
    y = stsanet::max_pool3d(y, base1->ptr<torch::nn::MaxPool3dImpl>(1)->options);
    y = base1->ptr<stsanet::BasicConv3dImpl>(2)->forward(y);
    const auto full = base1->ptr<stsanet::SepConv3dImpl>(3)->forward(y);
    const auto reused = cache.f1(*net->backbone, windows[t]);
    ASSERT_EQ(reused.sizes(), full.sizes());
    const auto bound = base1_reorder_bound(*net->backbone, clip);
    ASSERT_TRUE(within_reorder_bound(reused, full, bound)) << "window " << t;
    worst = std::max(worst, (reused - full).abs().max().item<float>());
    if (t >= 20 && t < 24) {  // inside the stream: no clamped frames
      // Rows of the first temporal convolution (kernel 7, stride 2, padding
      // 3) that read the window's padding (0, 1, 15) or the two frames new
      // since the window before last (14) are new: 4 of 16. They read frames
      // 0-5 and 25-31, the 13 frames through the first convolution. The F1
      // rows are all computed, in one call.
      EXPECT_EQ(cache.last_work().frames, 13) << "window " << t;
      EXPECT_EQ(cache.last_work().mid_rows, 4) << "window " << t;
      EXPECT_EQ(cache.last_work().f1_rows, 16) << "window " << t;
    }
  }
  std::cout << "[          ] largest difference from the full base1: " << worst << "\n";
}

// The bound is not vacuous: a cache that hands back one wrong frame's rows is
// far outside it.
TEST(StsaNetStemReuse, TheRoundingBoundCatchesAWrongFrame) {
  auto net = tiny_net(11);
  randomise_norms(*net, 12);
  torch::manual_seed(13);
  c10::InferenceMode guard;
  std::vector<torch::Tensor> frames;
  for (int i = 0; i < 33; ++i) frames.push_back(torch::randn({3, 32, 64}));
  std::vector<torch::Tensor> window(frames.begin(), frames.begin() + 32), wrong = window;
  wrong[20] = frames[32];
  stsanet::StemCache cache;
  const auto clip = torch::stack(window, 1).unsqueeze(0);
  const auto bound = base1_reorder_bound(*net->backbone, clip);
  EXPECT_TRUE(within_reorder_bound(cache.f1(*net->backbone, window), net->backbone->forward(clip)[0], bound));
  stsanet::StemCache other;
  EXPECT_FALSE(within_reorder_bound(other.f1(*net->backbone, wrong), net->backbone->forward(clip)[0], bound));
}

// The cache's wiring through the model (which frames, which rows, windows out
// of order or repeated), checked in fp64: there the two computation orders
// agree to about 1e-15 relative, so a wrong frame or row (differences of
// order 1e-2 and more in the maps) cannot hide behind the tolerance. The
// model returns fp32 maps: each side is the fp32 rounding of fp64 values
// that agree to ~1e-15, so the two differ by at most one fp32 rounding step
// (2^-23 relative, plus a floor for values near 0).
TEST(StsaNetStemReuse, ModelPredictionsEqualTheFullForwardInFp64) {
  STSANetModel model(tiny_options());
  model.network()->reset_parameters(14);
  randomise_norms(*model.network(), 15);
  model.to(torch::kCPU, torch::kDouble);
  torch::manual_seed(16);
  std::vector<torch::Tensor> frames;
  {
    c10::InferenceMode guard;
    for (int i = 0; i < 36; ++i) frames.push_back(torch::randn({3, 32, 64}, torch::kDouble));
  }
  const auto windows = sliding_windows(frames, 32);
  auto expect_equal = [](const torch::Tensor &reused, const torch::Tensor &full, const std::string &what) {
    ASSERT_EQ(reused.sizes(), full.sizes()) << what;
    const auto diff = (reused - full).abs();
    const auto allowed = full.abs() * std::ldexp(1.0, -23) + 1e-30;
    EXPECT_TRUE((diff <= allowed).all().item<bool>()) << what << ": max difference " << diff.max().item<float>();
  };
  // Out of order and repeated windows too: the cache keys on frames, not time.
  auto stream = model.new_stream_state();
  auto &cache = dynamic_cast<STSANetModel::StreamCache &>(*stream).stem;
  for (const size_t t : {0, 1, 2, 3, 17, 18, 35, 34, 18, 5}) {
    model::Window w;
    w.frames = windows[t];
    w.state = stream.get();
    const auto reused = model.predict({w});
    torch::Tensor full;
    {
      c10::InferenceMode guard;
      full = model.network()->forward(torch::stack(windows[t], 1).unsqueeze(0)).to(torch::kFloat32);
    }
    expect_equal(reused, full, "window " + std::to_string(t));
  }
  // The stem reuse took part (a cache that was never used would make this test vacuous).
  EXPECT_GT(cache.last_work().frames, 0);
  model::STSANetTuning off;
  off.stem_reuse = false;
  model.set_tuning(off);
  model::Window w;
  w.frames = windows[9];
  w.state = model.new_stream_state().release();
  const std::unique_ptr<model::StreamState> owned(w.state);
  const auto plain = model.predict({w});
  model.set_tuning(model::STSANetTuning{});
  expect_equal(model.predict({w}), plain, "window 9, reuse off and on");
}

TEST_F(OfficialStsaNet, StemReuseIsWithinRoundingAtTheOfficialSize) {
  // At the official size LibTorch picks its kernels by the input's size (and
  // the CPU and thread count): the rows the cache computes on their own may be
  // summed in another order than the whole window's. The result must stay
  // within the reordering bound (base1_reorder_bound above).
  c10::InferenceMode guard;
  torch::manual_seed(17);
  std::vector<torch::Tensor> frames;
  for (int i = 0; i < 40; ++i) frames.push_back(torch::randn({3, 224, 384}));
  const auto windows = sliding_windows(frames, 32);
  stsanet::StemCache cache;
  for (size_t t = 16; t < 20; ++t) {
    const auto reused = cache.f1(*net()->backbone, windows[t]);
    if (t < 18) continue;  // the cache fills
    EXPECT_EQ(cache.last_work().mid_rows, 4);
    auto *base1 = net()->backbone->base1.get();
    const auto clip = torch::stack(windows[t], 1).unsqueeze(0);
    auto y = base1->ptr<stsanet::SepConv3dImpl>(0)->forward(clip);
    y = stsanet::max_pool3d(y, base1->ptr<torch::nn::MaxPool3dImpl>(1)->options);
    y = base1->ptr<stsanet::BasicConv3dImpl>(2)->forward(y);
    const auto full = base1->ptr<stsanet::SepConv3dImpl>(3)->forward(y);
    EXPECT_TRUE(within_reorder_bound(reused, full, base1_reorder_bound(*net()->backbone, clip))) << "window " << t;
  }
}

}  // namespace
