// One model, many streams: Predictors sharing a ModelInstance keep their own
// stream state (maps as alone), read one copy of the weights, batch windows
// across streams, and the registry by model-instance-id.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "salmodel/checkpoint.hpp"
#include "salmodel/model_instance.hpp"
#include "salmodel/predictor.hpp"
#include "salmodel/stranet.hpp"
#include "salmodel/stsanet.hpp"
#include "test_support.hpp"

namespace {

using model::ModelError;
using model::ModelInstance;
using model::ModelInstanceSettings;
using model::PixelFormat;
using model::Predictor;
using model::PredictorOptions;
using model::SaliencyMap;

// A small STSANet checkpoint (the architecture follows its shapes when
// loaded): the official layers at 1/16 of the widths on 32x64 inputs.
std::string tiny_stsanet_checkpoint(const std::filesystem::path &dir, std::uint64_t seed) {
  model::STSANet net(model::STSANetOptions().height(32).width(64).width_divisor(16));
  net->reset_parameters(seed);
  const std::string path = (dir / ("stsanet-" + std::to_string(seed) + ".pth")).string();
  model::write_checkpoint(path, model::module_state_dict(*net));
  return path;
}

// Frame i of stream `stream`: a smooth pattern that moves, different per stream.
std::vector<std::uint8_t> frame_pixels(int stream, int i, int w, int h) {
  std::vector<std::uint8_t> px(std::size_t(w) * h * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c)
        px[(std::size_t(y) * w + x) * 3 + c] =
            std::uint8_t((x * (3 + stream) + y * (5 + c) + i * 7 + stream * 40) % 256);
  return px;
}

constexpr int kW = 48, kH = 32;

std::vector<SaliencyMap> push_frame(Predictor &p, int stream, int i) {
  const auto px = frame_pixels(stream, i, kW, kH);
  return p.push({px.data(), kW, kH, std::size_t(kW) * 3, PixelFormat::RGB});
}

// All maps of `frames` frames of stream `stream` through `p`.
std::vector<SaliencyMap> run_stream(Predictor &p, int stream, int frames) {
  std::vector<SaliencyMap> maps;
  for (int i = 0; i < frames; ++i)
    for (auto &m : push_frame(p, stream, i)) maps.push_back(std::move(m));
  for (auto &m : p.finish()) maps.push_back(std::move(m));
  return maps;
}

void expect_same_maps(const std::vector<SaliencyMap> &a, const std::vector<SaliencyMap> &b, double tolerance,
                      const std::string &what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  double largest = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].frame_index, b[i].frame_index) << what;
    ASSERT_EQ(a[i].values.size(), b[i].values.size()) << what;
    double worst = 0;
    for (std::size_t k = 0; k < a[i].values.size(); ++k)
      worst = std::max(worst, double(std::abs(a[i].values[k] - b[i].values[k])));
    if (tolerance == 0)
      EXPECT_EQ(a[i].values, b[i].values) << what << ", frame " << i << ": max difference " << worst;
    else
      EXPECT_LE(worst, tolerance) << what << ", frame " << i;
    largest = std::max(largest, worst);
  }
  if (tolerance > 0) std::printf("[          ] %s: largest difference %g\n", what.c_str(), largest);
}

class ModelInstanceTest : public ::testing::Test {
 protected:
  testsupport::TempDir dir;
  PredictorOptions stsanet_options(const std::string &id, std::uint64_t seed = 1) {
    PredictorOptions o;
    o.model = model::ModelKind::STSANet;
    o.weights = tiny_stsanet_checkpoint(dir.path(), seed);
    o.model_instance_id = id;
    o.threads = 1;
    return o;
  }
};

TEST_F(ModelInstanceTest, StreamsSharingAnIdReadOneCopyOfTheWeightsAndGetTheirOwnMaps) {
  // Alone: each stream on a model of its own.
  PredictorOptions alone = stsanet_options("");
  Predictor a_alone(alone), b_alone(alone);
  const auto a_expected = run_stream(a_alone, 0, 20);
  const auto b_expected = run_stream(b_alone, 1, 20);
  ASSERT_EQ(a_expected.size(), 20u);
  EXPECT_NE(a_alone.model_instance(), b_alone.model_instance());

  // Shared: one model, the two streams' frames interleaved.
  PredictorOptions shared = stsanet_options("cameras");
  shared.owner = "a";
  Predictor a(shared);
  shared.owner = "b";
  Predictor b(shared);
  ASSERT_EQ(a.model_instance(), b.model_instance());
  const auto pa = a.model_instance()->model().parameter_tensors();
  const auto pb = b.model_instance()->model().parameter_tensors();
  ASSERT_FALSE(pa.empty());
  ASSERT_EQ(pa.size(), pb.size());
  for (std::size_t i = 0; i < pa.size(); ++i) ASSERT_EQ(pa[i].data_ptr(), pb[i].data_ptr()) << "parameter " << i;
  // ... while two models of their own hold two copies.
  EXPECT_NE(a_alone.model_instance()->model().parameter_tensors()[0].data_ptr(),
            b_alone.model_instance()->model().parameter_tensors()[0].data_ptr());

  std::vector<SaliencyMap> a_maps, b_maps;
  for (int i = 0; i < 20; ++i) {
    for (auto &m : push_frame(a, 0, i)) a_maps.push_back(std::move(m));
    for (auto &m : push_frame(b, 1, i)) b_maps.push_back(std::move(m));
  }
  for (auto &m : a.finish()) a_maps.push_back(std::move(m));
  for (auto &m : b.finish()) b_maps.push_back(std::move(m));
  // Batch 1: every window runs alone through its stream's own stem cache, the
  // very operations of the stream alone, so the maps are bit-identical.
  expect_same_maps(a_maps, a_expected, 0, "stream a shared");
  expect_same_maps(b_maps, b_expected, 0, "stream b shared");
}

TEST_F(ModelInstanceTest, RecurrentStateStaysWithItsStream) {
  // STRA-Net's ConvGRU state is per stream: two streams on one instance give
  // each the maps of the stream alone (same operations: bit-identical).
  auto make = [] {
    auto net = std::make_unique<model::STRANetModel>(model::STRANetOptions().width_divisor(16));
    net->network()->reset_parameters(3);
    return net;
  };
  PredictorOptions o;
  o.threads = 1;
  Predictor a_alone(make(), o), b_alone(make(), o);
  const auto a_expected = run_stream(a_alone, 0, 9);
  const auto b_expected = run_stream(b_alone, 1, 9);
  Predictor a(make(), o);
  Predictor b(a.model_instance(), o);
  EXPECT_EQ(a.model_instance(), b.model_instance());
  std::vector<SaliencyMap> a_maps, b_maps;
  for (int i = 0; i < 9; ++i) {
    for (auto &m : push_frame(a, 0, i)) a_maps.push_back(std::move(m));
    for (auto &m : push_frame(b, 1, i)) b_maps.push_back(std::move(m));
  }
  for (auto &m : a.finish()) a_maps.push_back(std::move(m));
  for (auto &m : b.finish()) b_maps.push_back(std::move(m));
  expect_same_maps(a_maps, a_expected, 0, "stranet stream a");
  expect_same_maps(b_maps, b_expected, 0, "stranet stream b");
}

TEST_F(ModelInstanceTest, WindowsOfStreamsInDifferentThreadsAreBatchedWithTheSameMaps) {
  PredictorOptions alone = stsanet_options("");
  Predictor a_alone(alone), b_alone(alone);
  const auto a_expected = run_stream(a_alone, 0, 12);
  const auto b_expected = run_stream(b_alone, 1, 12);

  // Batch 2 with a long timeout: a ready window waits for the other stream's.
  PredictorOptions shared = stsanet_options("batched");
  shared.batch = 2;
  shared.batch_timeout_ms = 5000;
  Predictor a(shared), b(shared);
  EXPECT_EQ(a.lookahead_frames(), 16);  // a shared instance adds no look-ahead of its own
  std::vector<SaliencyMap> a_maps, b_maps;
  std::thread ta([&] { a_maps = run_stream(a, 0, 12); });
  std::thread tb([&] { b_maps = run_stream(b, 1, 12); });
  ta.join();
  tb.join();
  const auto counters = a.model_instance()->counters();
  EXPECT_EQ(counters.windows, 24);
  EXPECT_LT(counters.passes, counters.windows) << "no two windows shared a forward pass";
  // A batch of 2 recomputes base1 on the whole clip (no stem cache) and may
  // take other convolution kernels than a batch of 1: the same sums in
  // another order. Each map value is a sigmoid output in (0,1) after a few
  // dozen layers of fp32 sums; reordering moves a sum by a few ulps of its
  // largest partial sum, and the tiny net's activations stay O(1), so the maps
  // agree to about 1e-7 (printed); 1e-5 is the bound for sharing.
  expect_same_maps(a_maps, a_expected, 1e-5, "stream a batched");
  expect_same_maps(b_maps, b_expected, 1e-5, "stream b batched");
}

TEST_F(ModelInstanceTest, SettingsThatCannotBeSharedNameBothOwners) {
  PredictorOptions first;
  first.model_instance_id = "mixed";
  first.owner = "saliency0";
  Predictor baseline(first);
  PredictorOptions second = stsanet_options("mixed");
  second.owner = "saliency1";
  try {
    Predictor other(second);
    FAIL() << "a different model under one id was accepted";
  } catch (const ModelError &e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("saliency0"), std::string::npos) << what;
    EXPECT_NE(what.find("saliency1"), std::string::npos) << what;
    EXPECT_NE(what.find("'mixed'"), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
  // The same settings under the id are fine, and so is batch 2 under another id.
  Predictor same(first);
  EXPECT_EQ(same.model_instance(), baseline.model_instance());
}

TEST_F(ModelInstanceTest, AnInstanceOutlivesAStreamThatStopsAndGoesWithTheLast) {
  const PredictorOptions o = stsanet_options("lifetime");
  auto a = std::make_unique<Predictor>(o);
  auto b = std::make_unique<Predictor>(o);
  const std::weak_ptr<ModelInstance> instance = b->model_instance();
  for (int i = 0; i < 5; ++i) push_frame(*a, 0, i);
  a.reset();  // one stream stops mid-window
  EXPECT_FALSE(instance.expired());
  Predictor b_alone(stsanet_options(""));
  expect_same_maps(run_stream(*b, 1, 18), run_stream(b_alone, 1, 18), 0, "the stream that stayed");
  { Predictor passing(o); }  // a third stream comes and goes
  EXPECT_FALSE(instance.expired());
  b.reset();  // the last stream goes: so does the model
  EXPECT_TRUE(instance.expired());
  // The id is free again: other settings under it now load.
  Predictor other(stsanet_options("lifetime", 2));
  EXPECT_NE(other.model_instance().get(), nullptr);
}

TEST_F(ModelInstanceTest, AStreamsErrorLeavesTheSharedInstanceWorking) {
  PredictorOptions o = stsanet_options("errors");
  Predictor a(o), b(o);
  push_frame(a, 0, 0);
  // A frame of another size without a reset is refused, for that stream only.
  std::vector<std::uint8_t> other(16 * 8 * 3, 9);
  EXPECT_THROW(a.push({other.data(), 16, 8, 16 * 3, PixelFormat::RGB}), ModelError);
  PredictorOptions alone = stsanet_options("");
  Predictor b_alone(alone);
  expect_same_maps(run_stream(b, 1, 17), run_stream(b_alone, 1, 17), 0, "the other stream");
  a.reset();  // a flush: the stream starts over on the same instance
  Predictor a_alone(alone);
  expect_same_maps(run_stream(a, 0, 17), run_stream(a_alone, 0, 17), 0, "the stream after its reset");
}

TEST(ModelInstance, AModelBuiltInCodeIsSharedByInstanceNotById) {
  PredictorOptions o;
  o.model_instance_id = "code";
  EXPECT_THROW(Predictor(model::create_model(model::ModelConfig{}), o), ModelError);
}

}  // namespace
