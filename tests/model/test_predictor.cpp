// Window arithmetic of model::Predictor, checked with a fake model whose
// output encodes exactly which frames and flows it saw.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <sched.h>

#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <ATen/Parallel.h>

#include "salmodel/cpu_runtime.hpp"
#include "salmodel/predictor.hpp"
#include "salmodel/saliency_model.hpp"
#include "salmodel/stsanet.hpp"

using model::FrameView;
using model::PixelFormat;
using model::Predictor;
using model::PredictorOptions;
using model::SaliencyMap;

namespace {

// Frames carry their 1-based id in the red channel; flows carry 1-based ids in
// u. The fake model returns a (2, window) map: row 0 = frame ids / 1000,
// row 1 = flow ids / 1000 (0 for a zero flow), so tests read back the window.
class FakeModel final : public model::SaliencyModel {
 public:
  FakeModel(int before, int after, bool flow, bool recurrent = false) {
    spec_.frames_before = before;
    spec_.frames_after = after;
    spec_.needs_flow = flow;
    spec_.recurrent = recurrent;
  }
  std::string name() const override { return "fake"; }
  model::WindowSpec window_spec() const override { return spec_; }
  torch::Tensor prepare_frame(const torch::Tensor &rgb) const override {
    last_rgb = rgb[0][0].to(torch::kInt64);
    return rgb[0][0][0].to(torch::kFloat32);
  }
  torch::Tensor prepare_flow(const torch::Tensor &flow, int, int) const override {
    return flow.select(2, 0).mean();
  }
  torch::Tensor predict(const std::vector<model::Window> &windows) override {
    ++calls;
    batch_sizes.push_back(int(windows.size()));
    const int len = spec_.frames_before + spec_.frames_after + 1;
    torch::Tensor out = torch::zeros({int64_t(windows.size()), 2, len});
    for (size_t b = 0; b < windows.size(); ++b) {
      EXPECT_EQ(int(windows[b].frames.size()), len);
      for (int k = 0; k < len; ++k) out[b][0][k] = windows[b].frames[k] / 1000.0;
      if (spec_.needs_flow) {
        EXPECT_EQ(int(windows[b].flows.size()), len - 1);
        for (int k = 0; k + 1 < len; ++k) out[b][1][k] = windows[b].flows[k] / 1000.0;
      }
    }
    return out;
  }
  void to(torch::Device, torch::Dtype) override {}
  torch::Device device() const override { return torch::kCPU; }

  int calls = 0;
  std::vector<int> batch_sizes;
  mutable torch::Tensor last_rgb;  // the last frame prepared (tests of pixel formats)

 private:
  model::WindowSpec spec_;
};

struct Stream {
  Stream(int before, int after, bool flow = false, int batch = 1, int interval = 1,
         model::IntervalMode mode = model::IntervalMode::Forward) {
    auto m = std::make_unique<FakeModel>(before, after, flow);
    fake = m.get();
    PredictorOptions o;
    o.batch = batch;
    o.interval = interval;
    o.interval_mode = mode;
    predictor = std::make_unique<Predictor>(std::move(m), o);
  }
  // Pushes frame `id` (1-based) with an external flow whose u equals flow_id.
  std::vector<SaliencyMap> push(int id, int flow_id = 0) {
    std::vector<uint8_t> px(8 * 6 * 3, 0);
    for (size_t i = 0; i < px.size(); i += 3) px[i] = uint8_t(id);
    FrameView f{px.data(), 8, 6, 8 * 3, PixelFormat::RGB};
    std::vector<float> flow(8 * 6 * 2, 0.f);
    for (size_t i = 0; i < flow.size(); i += 2) flow[i] = float(flow_id);
    model::FlowView fv{flow.data(), 8, 6, 8 * 2 * sizeof(float), 8, 6};
    return predictor->push(f, flow_id ? &fv : nullptr);
  }
  std::unique_ptr<Predictor> predictor;
  FakeModel *fake = nullptr;
};

std::vector<int> frame_ids(const SaliencyMap &m) {
  std::vector<int> ids;
  for (int k = 0; k < m.width; ++k) ids.push_back(int(std::lround(m.values[k] * 1000)));
  return ids;
}
std::vector<int> flow_ids(const SaliencyMap &m) {
  std::vector<int> ids;
  for (int k = 0; k + 1 < m.width; ++k) ids.push_back(int(std::lround(m.values[m.width + k] * 1000)));
  return ids;
}
std::vector<int> expected_window(int t, int before, int after, int n) {
  std::vector<int> ids;
  for (int k = 0; k <= before + after; ++k) ids.push_back(std::clamp(t - before + k, 0, n - 1) + 1);
  return ids;
}

std::vector<SaliencyMap> run(Stream &s, int n) {
  std::vector<SaliencyMap> all;
  for (int i = 0; i < n; ++i)
    for (auto &m : s.push(i + 1)) all.push_back(std::move(m));
  for (auto &m : s.predictor->finish()) all.push_back(std::move(m));
  return all;
}

}  // namespace

TEST(Predictor, StsanetWindowsClampAtBothEndsOfTheVideo) {
  Stream s(15, 16);
  const int n = 40;
  auto maps = run(s, n);
  ASSERT_EQ(maps.size(), size_t(n));
  for (int t = 0; t < n; ++t) {
    EXPECT_EQ(maps[t].frame_index, t);
    EXPECT_EQ(frame_ids(maps[t]), expected_window(t, 15, 16, n)) << "frame " << t;
  }
  // First window: frame 1 repeated 16 times (target at index 15), then 2..17.
  EXPECT_EQ(frame_ids(maps[0])[15], 1);
  EXPECT_EQ(frame_ids(maps[0])[16], 2);
  // Last window: target is the last frame, the 16 after it repeat it.
  EXPECT_EQ(frame_ids(maps[n - 1])[15], n);
  EXPECT_EQ(frame_ids(maps[n - 1])[31], n);
}

TEST(Predictor, MapsArriveOnlyOnceTheLookAheadIsFilled) {
  Stream s(15, 16);
  EXPECT_EQ(s.predictor->lookahead_frames(), 16);
  for (int i = 1; i <= 16; ++i) EXPECT_TRUE(s.push(i).empty()) << "frame " << i;
  auto ready = s.push(17);
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].frame_index, 0);
  EXPECT_EQ(s.predictor->pending(), 16);
}

TEST(Predictor, VideoShorterThanTheWindow) {
  Stream s(15, 16);
  auto maps = run(s, 5);
  ASSERT_EQ(maps.size(), 5u);
  for (int t = 0; t < 5; ++t) EXPECT_EQ(frame_ids(maps[t]), expected_window(t, 15, 16, 5));
}

TEST(Predictor, OneFrameVideo) {
  Stream s(15, 16);
  auto maps = run(s, 1);
  ASSERT_EQ(maps.size(), 1u);
  EXPECT_EQ(frame_ids(maps[0]), std::vector<int>(32, 1));
}

TEST(Predictor, FinishWithoutFramesGivesNothing) {
  Stream s(15, 16);
  EXPECT_TRUE(s.predictor->finish().empty());
  EXPECT_EQ(s.fake->calls, 0);
}

TEST(Predictor, ResetDropsPendingFramesAndRestartsIndices) {
  Stream s(2, 3);
  for (int i = 1; i <= 3; ++i) EXPECT_TRUE(s.push(i).empty());
  s.predictor->reset();
  EXPECT_EQ(s.predictor->pending(), 0);
  auto maps = run(s, 6);
  ASSERT_EQ(maps.size(), 6u);
  EXPECT_EQ(maps[0].frame_index, 0);
  EXPECT_EQ(frame_ids(maps[0]), expected_window(0, 2, 3, 6));  // nothing from before the reset
}

TEST(Predictor, FinishAlsoResets) {
  Stream s(1, 1);
  run(s, 4);
  auto maps = run(s, 3);
  ASSERT_EQ(maps.size(), 3u);
  EXPECT_EQ(maps[0].frame_index, 0);
  EXPECT_EQ(frame_ids(maps[2]), expected_window(2, 1, 1, 3));
}

TEST(Predictor, BatchingGivesTheSameMapsInFewerCalls) {
  Stream one(3, 2), four(3, 2, false, 4);
  auto a = run(one, 23), b = run(four, 23);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].frame_index, b[i].frame_index);
    EXPECT_EQ(a[i].values, b[i].values);
  }
  EXPECT_EQ(one.fake->calls, 23);
  EXPECT_EQ(four.fake->calls, 6);  // 5 full batches of 4, then 3 at the end
  for (size_t i = 0; i + 1 < four.fake->batch_sizes.size(); ++i) EXPECT_EQ(four.fake->batch_sizes[i], 4);
  EXPECT_EQ(four.predictor->lookahead_frames(), 2 + 3);
}

TEST(Predictor, IntervalInfersEveryNthFrameAndCarriesTheMap) {
  Stream s(1, 1, false, 1, 3);
  auto maps = run(s, 10);
  ASSERT_EQ(maps.size(), 10u);
  EXPECT_EQ(s.fake->calls, 4);  // frames 0, 3, 6, 9
  for (int t = 0; t < 10; ++t) {
    const int key = t - t % 3;
    EXPECT_EQ(frame_ids(maps[t]), expected_window(key, 1, 1, 10)) << "frame " << t;
    EXPECT_EQ(maps[t].frame_index, t);
  }
}

TEST(Predictor, FlowStackRepeatsTheLastFlowAtTheEnd) {
  // STRA-Net-like: frame t takes flows t..t+4 (flow i: frame i -> i+1).
  Stream s(0, 5, true);
  const int n = 9;
  std::vector<SaliencyMap> maps;
  for (int i = 0; i < n; ++i)
    for (auto &m : s.push(i + 1, i > 0 ? i : 0)) maps.push_back(m);  // flow pushed with frame i is flow i-1 -> i (id i)
  for (auto &m : s.predictor->finish()) maps.push_back(m);
  ASSERT_EQ(maps.size(), size_t(n));
  // Flow k (0-based, frame k -> k+1) was pushed with frame k+1, carrying id k+1.
  for (int t = 0; t < n; ++t) {
    std::vector<int> expected;
    for (int k = 0; k < 5; ++k) expected.push_back(std::min(t + k, n - 2) + 1);
    EXPECT_EQ(flow_ids(maps[t]), expected) << "frame " << t;
  }
}

TEST(Predictor, FlowBeforeTheFirstFrameIsZero) {
  Stream s(1, 0, true);
  auto first = s.push(1);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(frame_ids(first[0]), (std::vector<int>{1, 1}));
  EXPECT_EQ(flow_ids(first[0]), (std::vector<int>{0}));
  auto second = s.push(2, 7);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(flow_ids(second[0]), (std::vector<int>{7}));
}

TEST(Predictor, ComputesFlowWhenNoneIsPushed) {
  Stream s(1, 0, true);
  s.push(1);
  auto maps = s.push(2);  // uniform frames: the computed flow is zero
  ASSERT_EQ(maps.size(), 1u);
  EXPECT_EQ(flow_ids(maps[0]), (std::vector<int>{0}));
}

TEST(Predictor, FrameSizeChangeWithoutResetIsAnError) {
  Stream s(0, 0);
  s.push(1);
  std::vector<uint8_t> px(4 * 4 * 3, 0);
  EXPECT_THROW(s.predictor->push({px.data(), 4, 4, 12, PixelFormat::RGB}), model::ModelError);
}

TEST(Predictor, PixelFormatsReachTheModelAsRgb) {
  struct Case {
    PixelFormat format;
    std::vector<uint8_t> pixel;  // one pixel, bytes in memory order
  };
  const std::vector<Case> cases = {
      {PixelFormat::RGB, {10, 20, 30}},          {PixelFormat::BGR, {30, 20, 10}},
      {PixelFormat::RGBA, {10, 20, 30, 255}},    {PixelFormat::BGRA, {30, 20, 10, 255}},
      {PixelFormat::RGBx, {10, 20, 30, 0}},      {PixelFormat::BGRx, {30, 20, 10, 0}},
      {PixelFormat::ARGB, {255, 10, 20, 30}},    {PixelFormat::xRGB, {0, 10, 20, 30}},
      {PixelFormat::ABGR, {255, 30, 20, 10}},    {PixelFormat::xBGR, {0, 30, 20, 10}},
  };
  for (const auto &c : cases) {
    Stream s(0, 0);
    const size_t bpp = c.pixel.size();
    std::vector<uint8_t> px;
    for (int i = 0; i < 4 * 2; ++i) px.insert(px.end(), c.pixel.begin(), c.pixel.end());
    px.resize(px.size() + 2 * 5);  // padded rows: stride > width * bpp
    const size_t stride = 4 * bpp + 5;
    std::vector<uint8_t> padded(stride * 2, 0);
    for (int y = 0; y < 2; ++y)
      for (int x = 0; x < 4; ++x) std::copy(c.pixel.begin(), c.pixel.end(), padded.begin() + y * stride + x * bpp);
    s.predictor->push({padded.data(), 4, 2, stride, c.format});
    auto rgb = s.fake->last_rgb;
    EXPECT_EQ(rgb[0].item<int64_t>(), 10) << int(c.format);
    EXPECT_EQ(rgb[1].item<int64_t>(), 20) << int(c.format);
    EXPECT_EQ(rgb[2].item<int64_t>(), 30) << int(c.format);
  }
}

TEST(Predictor, BadOptionsAreRefused) {
  PredictorOptions o;
  o.batch = 0;
  EXPECT_THROW(Predictor p(o), model::ModelError);
  o = {};
  o.precision = model::Precision::AutocastFP16;  // CPU: refused, not silently ignored
  EXPECT_THROW(Predictor p(o), model::ModelError);
  o = {};
  o.device = model::Device::cuda(-1);
  EXPECT_THROW(Predictor p(o), model::ModelError);
  EXPECT_THROW(model::parse_model_kind("resnet"), model::ModelError);
}

// Options are typed; names are parsed only at the edges (CLI flags, element
// properties), and the names of earlier releases still parse to the same value.
TEST(Predictor, OptionNamesParseAtTheEdgesWithTheirOldAliases) {
  using model::Device;
  using model::Precision;
  EXPECT_EQ(model::parse_device("cpu"), Device::cpu());
  EXPECT_EQ(model::parse_device("cuda"), Device::cuda(0));
  EXPECT_EQ(model::parse_device("cuda:3"), Device::cuda(3));
  EXPECT_EQ(model::parse_device("auto"), Device::automatic());
  for (const char *bad : {"tpu", "cuda:", "cuda:x", "cuda:-1", "CPU", ""})
    EXPECT_THROW(model::parse_device(bad), model::ModelError) << bad;
  for (const Device &d : {Device::cpu(), Device::cuda(0), Device::cuda(7), Device::automatic()})
    EXPECT_EQ(model::parse_device(model::to_string(d)), d) << model::to_string(d);

  const struct {
    const char *name;
    Precision value;
  } names[] = {{"fp32", Precision::FP32},
               {"autocast-fp16", Precision::AutocastFP16}, {"fp16", Precision::AutocastFP16},
               {"autocast-bf16", Precision::AutocastBF16}, {"bf16", Precision::AutocastBF16},
               {"fp16-weights", Precision::FP16Weights}, {"half", Precision::FP16Weights}};
  for (const auto &n : names) {
    EXPECT_EQ(model::parse_precision(n.name), n.value) << n.name;
    EXPECT_EQ(model::parse_precision(model::to_string(n.value)), n.value) << n.name;
  }
  try {
    model::parse_precision("fp8");
    ADD_FAILURE() << "fp8 accepted";
  } catch (const model::ModelError &e) {
    EXPECT_NE(std::string(e.what()).find("'fp8'"), std::string::npos) << e.what();
  }
}

// The GPU-only settings say why they cannot run, on a CPU machine and on a
// build without CUDA, rather than running something else.
TEST(Predictor, GpuOnlySettingsAreRefusedWithTheReason) {
  auto message = [](const PredictorOptions &o) {
    try {
      Predictor p(o);
    } catch (const model::ModelError &e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  PredictorOptions o;
  o.precision = model::Precision::FP16Weights;
  EXPECT_NE(message(o).find("precision fp16-weights needs a CUDA device"), std::string::npos) << message(o);
  o = {};
  o.cuda_graphs = true;
  EXPECT_NE(message(o).find("CUDA graphs need a CUDA device"), std::string::npos) << message(o);

  // Below the Predictor: the model and the graph helper refuse too.
  model::STSANetModel stsanet(model::STSANetOptions().height(32).width(64).width_divisor(16));
  EXPECT_TRUE(stsanet.supports_half());
  if (!model::cuda_graphs_available()) {
    EXPECT_THROW(stsanet.set_cuda_graphs(true), model::ModelError);
  }
  EXPECT_NO_THROW(stsanet.set_cuda_graphs(false));
  model::CudaGraphedCall graphed;
  try {
    graphed(torch::zeros({2}), [](const torch::Tensor &x) { return x * 2; });
    ADD_FAILURE() << "a CPU tensor must be refused";
  } catch (const model::ModelError &e) {
    EXPECT_NE(std::string(e.what()).find("CUDA device"), std::string::npos) << e.what();
  }
  EXPECT_EQ(graphed.captures(), 0);
  auto baseline = model::create_model(model::ModelConfig{});
  EXPECT_FALSE(baseline->supports_half());
  EXPECT_THROW(baseline->set_cuda_graphs(true), model::ModelError);
}

TEST(Predictor, DeepModelsRefuseToRunWithoutWeights) {
  PredictorOptions o;
  o.model = model::ModelKind::STSANet;
  try {
    Predictor p(o);
    FAIL() << "stsanet without weights or random_init must be refused";
  } catch (const model::ModelError &e) {
    EXPECT_NE(std::string(e.what()).find("weights"), std::string::npos) << e.what();
  }
}

TEST(ResizeMap, BilinearToFrameSize) {
  SaliencyMap m;
  m.width = 2;
  m.height = 1;
  m.values = {0.f, 1.f};
  auto out = model::resize_map(m, 4, 2);
  ASSERT_EQ(out.size(), 8u);
  // Half-pixel centres: 0, 0.25, 0.75, 1 on each row.
  EXPECT_FLOAT_EQ(out[0], 0.f);
  EXPECT_FLOAT_EQ(out[1], 0.25f);
  EXPECT_FLOAT_EQ(out[2], 0.75f);
  EXPECT_FLOAT_EQ(out[3], 1.f);
  EXPECT_EQ(std::vector<float>(out.begin(), out.begin() + 4), std::vector<float>(out.begin() + 4, out.end()));
}

namespace {

// A stateless model whose map (same grid as the frame) has one bright cell.
class SpotModel final : public model::SaliencyModel {
 public:
  std::string name() const override { return "spot"; }
  model::WindowSpec window_spec() const override { return {}; }
  torch::Tensor prepare_frame(const torch::Tensor &rgb) const override { return rgb; }
  torch::Tensor predict(const std::vector<model::Window> &windows) override {
    torch::Tensor out = torch::zeros({int64_t(windows.size()), 8, 16});
    out.select(1, 4).select(1, 4).fill_(1.0);  // (x=4, y=4)
    return out;
  }
  void to(torch::Device, torch::Dtype) override {}
  torch::Device device() const override { return torch::kCPU; }
};

int peak_x(const SaliencyMap &m) {
  return int(std::max_element(m.values.begin(), m.values.end()) - m.values.begin()) % m.width;
}

}  // namespace

TEST(Predictor, IntervalWarpsTheMapAlongTheFlow) {
  PredictorOptions o;
  o.interval = 3;
  o.interval_mode = model::IntervalMode::Forward;
  Predictor p(std::make_unique<SpotModel>(), o);
  std::vector<uint8_t> px(16 * 8 * 3, 0);
  std::vector<float> flow(16 * 8 * 2, 0.f);
  for (size_t i = 0; i < flow.size(); i += 2) flow[i] = 2.f;  // everything moves 2 px right per frame
  model::FlowView fv{flow.data(), 16, 8, 16 * 2 * sizeof(float), 16, 8};
  std::vector<SaliencyMap> maps;
  for (int i = 0; i < 5; ++i)
    for (auto &m : p.push({px.data(), 16, 8, 16 * 3, PixelFormat::RGB}, i ? &fv : nullptr)) maps.push_back(m);
  ASSERT_EQ(maps.size(), 5u);
  EXPECT_EQ(peak_x(maps[0]), 4);  // inferred
  EXPECT_EQ(peak_x(maps[1]), 6);  // warped once
  EXPECT_EQ(peak_x(maps[2]), 8);  // warped twice
  EXPECT_EQ(peak_x(maps[3]), 4);  // inferred again
  EXPECT_EQ(peak_x(maps[4]), 6);
}

// ------------------------------------------------------- bidirectional interval mode

namespace {

// A 1x4 map [0, id/200, 0.5 + id/400, 1] for the frame whose red value is id:
// every map spans exactly [0, 1], so a blend of two keeps that range and the
// predictor's range restoration leaves it unchanged: blends can be checked exactly.
class RampModel final : public model::SaliencyModel {
 public:
  explicit RampModel(int after = 0) { spec_.frames_after = after; }
  std::string name() const override { return "ramp"; }
  model::WindowSpec window_spec() const override { return spec_; }
  torch::Tensor prepare_frame(const torch::Tensor &rgb) const override { return rgb[0][0][0].to(torch::kFloat32); }
  torch::Tensor predict(const std::vector<model::Window> &windows) override {
    ++calls;
    torch::Tensor out = torch::zeros({int64_t(windows.size()), 1, 4});
    for (size_t b = 0; b < windows.size(); ++b) {
      const float id = windows[b].frames[spec_.frames_before].item<float>();
      out[b][0][1] = id / 200.f;
      out[b][0][2] = 0.5f + id / 400.f;
      out[b][0][3] = 1.f;
    }
    return out;
  }
  void to(torch::Device, torch::Dtype) override {}
  torch::Device device() const override { return torch::kCPU; }
  int calls = 0;

 private:
  model::WindowSpec spec_;
};

// Pushes frames 1..n (red value = id) with zero flow, so warping changes nothing.
std::vector<SaliencyMap> run_ramp(Predictor &p, int n, std::vector<size_t> *ready_after_push = nullptr) {
  std::vector<SaliencyMap> maps;
  std::vector<float> zero(4 * 2 * 2, 0.f);
  const model::FlowView fv{zero.data(), 4, 2, 4 * 2 * sizeof(float), 4, 2};
  for (int id = 1; id <= n; ++id) {
    std::vector<uint8_t> px(4 * 2 * 3, uint8_t(id));
    for (auto &m : p.push({px.data(), 4, 2, 4 * 3, PixelFormat::RGB}, id > 1 ? &fv : nullptr))
      maps.push_back(std::move(m));
    if (ready_after_push) ready_after_push->push_back(maps.size());
  }
  for (auto &m : p.finish()) maps.push_back(std::move(m));
  return maps;
}

PredictorOptions bidirectional(int interval, int batch = 1) {
  PredictorOptions o;
  o.interval = interval;
  o.batch = batch;
  o.interval_mode = model::IntervalMode::Bidirectional;
  return o;
}

}  // namespace

TEST(Predictor, BidirectionalIsTheDefaultIntervalMode) {
  EXPECT_EQ(PredictorOptions().interval_mode, model::IntervalMode::Bidirectional);
  EXPECT_EQ(model::parse_interval_mode("forward"), model::IntervalMode::Forward);
  EXPECT_EQ(model::parse_interval_mode("bidirectional"), model::IntervalMode::Bidirectional);
  EXPECT_STREQ(model::to_string(model::IntervalMode::Forward), "forward");
  EXPECT_THROW(model::parse_interval_mode("both"), model::ModelError);
}

TEST(Predictor, BidirectionalBlendsTheKeyMapsByDistance) {
  auto m = std::make_unique<RampModel>();
  RampModel *ramp = m.get();
  Predictor p(std::move(m), bidirectional(4));
  const int n = 11;  // keys 0, 4, 8; the last frame (10) closes the last segment
  auto maps = run_ramp(p, n);
  ASSERT_EQ(maps.size(), size_t(n));
  EXPECT_EQ(ramp->calls, 4) << "frames 0, 4, 8 and, at the end, 10";
  for (int t = 0; t < n; ++t) {
    SCOPED_TRACE("frame " + std::to_string(t));
    const int k = t - t % 4, e = std::min(k + 4, n - 1);
    const double b = e > k ? double(t - k) / (e - k) : 0.0, a = 1.0 - b;
    const double id_k = k + 1, id_e = e + 1;
    EXPECT_EQ(maps[t].frame_index, t);
    ASSERT_EQ(maps[t].values.size(), 4u);
    EXPECT_NEAR(maps[t].values[0], 0.0, 1e-6);
    EXPECT_NEAR(maps[t].values[1], a * id_k / 200 + b * id_e / 200, 1e-6);
    EXPECT_NEAR(maps[t].values[2], a * (0.5 + id_k / 400) + b * (0.5 + id_e / 400), 1e-6);
    EXPECT_NEAR(maps[t].values[3], 1.0, 1e-6);
  }
}

TEST(Predictor, BidirectionalLookAheadIsReportedAndExact) {
  for (int after : {0, 2}) {
    for (int batch : {1, 2}) {
      SCOPED_TRACE("frames_after " + std::to_string(after) + ", batch " + std::to_string(batch));
      const int interval = 4, n = 40;
      Predictor p(std::make_unique<RampModel>(after), bidirectional(interval, batch));
      const int lookahead = p.lookahead_frames();
      EXPECT_EQ(lookahead, after + (batch - 1) * interval + interval - 1);
      std::vector<size_t> ready;  // maps out after each push
      auto maps = run_ramp(p, n, &ready);
      ASSERT_EQ(maps.size(), size_t(n));
      // Frame t's map leaves at most `lookahead` frames after frame t arrived,
      // and some frame waits exactly that long (the bound is what latency reports).
      int longest = 0;
      for (int t = 0; t < n; ++t) {
        int pushes = 1;
        while (pushes <= n && int(ready[pushes - 1]) <= t) ++pushes;
        if (pushes > n) continue;  // drained by finish()
        const int waited = pushes - (t + 1);
        EXPECT_LE(waited, lookahead) << "frame " << t;
        longest = std::max(longest, waited);
      }
      EXPECT_EQ(longest, lookahead);
    }
  }
}

TEST(Predictor, BidirectionalBatchingAndEveryLengthGiveEveryFrame) {
  for (int n = 1; n <= 10; ++n) {
    SCOPED_TRACE("frames " + std::to_string(n));
    Predictor one(std::make_unique<RampModel>(), bidirectional(3, 1));
    auto m3 = std::make_unique<RampModel>();
    RampModel *batched_model = m3.get();
    Predictor three(std::move(m3), bidirectional(3, 3));
    auto a = run_ramp(one, n), b = run_ramp(three, n);
    ASSERT_EQ(a.size(), size_t(n));
    ASSERT_EQ(b.size(), size_t(n));
    for (int t = 0; t < n; ++t) {
      EXPECT_EQ(a[t].frame_index, t);
      EXPECT_EQ(b[t].frame_index, t);
      for (int i = 0; i < 4; ++i) EXPECT_NEAR(a[t].values[i], b[t].values[i], 1e-6) << "frame " << t;
    }
    const int keys = (n - 1) / 3 + 1 + ((n - 1) % 3 ? 1 : 0);
    EXPECT_LE(batched_model->calls, keys);
  }
}

TEST(Predictor, BidirectionalResetDropsTheHeldSegment) {
  Predictor p(std::make_unique<RampModel>(), bidirectional(4));
  std::vector<uint8_t> px(4 * 2 * 3, 7);
  std::vector<float> zero(4 * 2 * 2, 0.f);
  const model::FlowView fv{zero.data(), 4, 2, 4 * 2 * sizeof(float), 4, 2};
  for (int i = 0; i < 3; ++i) p.push({px.data(), 4, 2, 4 * 3, PixelFormat::RGB}, i ? &fv : nullptr);
  EXPECT_EQ(p.pending(), 2) << "frames 1 and 2 wait for key frame 4";
  p.reset();
  EXPECT_EQ(p.pending(), 0);
  Predictor fresh(std::make_unique<RampModel>(), bidirectional(4));
  auto a = run_ramp(p, 9), b = run_ramp(fresh, 9);
  ASSERT_EQ(a.size(), b.size());
  for (size_t t = 0; t < a.size(); ++t) {
    EXPECT_EQ(a[t].frame_index, int64_t(t));
    EXPECT_EQ(a[t].values, b[t].values);
  }
}

TEST(Predictor, BidirectionalWarpsBothKeyMapsTowardsTheFrame) {
  // Everything moves 2 px right per frame; the spot model puts its peak at x=4
  // on every key frame (0, 3, 6). Frame 1: the key-0 map carried forward once
  // (peak at 6, weight 2/3) and the key-3 map carried backward twice (peak at
  // 0, weight 1/3); frame 2 the other way round (8 at 1/3, 2 at 2/3).
  Predictor p(std::make_unique<SpotModel>(), bidirectional(3));
  std::vector<uint8_t> px(16 * 8 * 3, 0);
  std::vector<float> flow(16 * 8 * 2, 0.f);
  for (size_t i = 0; i < flow.size(); i += 2) flow[i] = 2.f;
  model::FlowView fv{flow.data(), 16, 8, 16 * 2 * sizeof(float), 16, 8};
  std::vector<SaliencyMap> maps;
  for (int i = 0; i < 7; ++i)
    for (auto &m : p.push({px.data(), 16, 8, 16 * 3, PixelFormat::RGB}, i ? &fv : nullptr)) maps.push_back(m);
  ASSERT_EQ(maps.size(), 7u);
  auto at = [](const SaliencyMap &m, int x) { return m.values[4 * m.width + x]; };
  EXPECT_EQ(peak_x(maps[1]), 6);
  EXPECT_NEAR(at(maps[1], 0), 0.5, 1e-5) << "1/3 against 2/3, after rescaling the peak to 1";
  EXPECT_EQ(peak_x(maps[2]), 2);
  EXPECT_NEAR(at(maps[2], 8), 0.5, 1e-5);
  for (int t : {1, 2, 4, 5}) {
    EXPECT_NEAR(*std::max_element(maps[t].values.begin(), maps[t].values.end()), 1.0, 1e-5) << t;
    EXPECT_NEAR(*std::min_element(maps[t].values.begin(), maps[t].values.end()), 0.0, 1e-5) << t;
  }
  EXPECT_EQ(peak_x(maps[3]), 4);  // inferred
}

// ------------------------------------------------------------ CPU runtime

// OpenMP's thread count belongs to each thread: a thread that never set it
// (a GStreamer streaming thread) runs LibTorch's default. The Predictor sets
// its own count in the thread that calls push() and finish().
TEST(PredictorThreads, PushAppliesTheThreadCountInTheCallingThread) {
  std::vector<std::uint8_t> grey(32 * 24, 128);
  const FrameView frame{grey.data(), 32, 24, 32, PixelFormat::GRAY8};
  for (const int want : {1, 2, 3}) {
    int seen = 0;
    std::thread([&] {
      PredictorOptions o;
      o.threads = want;
      Predictor p(o);
      at::set_num_threads(want == 1 ? 2 : 1);  // something else ran here before
      p.push(frame);
      seen = at::get_num_threads();
    }).join();
    EXPECT_EQ(seen, want);
  }
  int seen = 0;
  std::thread([&] {
    Predictor p(PredictorOptions{});
    at::set_num_threads(7);
    p.push(frame);
    seen = at::get_num_threads();
  }).join();
  EXPECT_EQ(seen, model::default_thread_count());
  PredictorOptions bad;
  bad.threads = -1;
  EXPECT_THROW(Predictor{bad}, model::ModelError);
}

TEST(PredictorThreads, DefaultIsOmpNumThreadsElseTheCpusThisProcessMayUse) {
  const char *saved = std::getenv("OMP_NUM_THREADS");
  const std::string keep = saved ? saved : "";
  setenv("OMP_NUM_THREADS", "3", 1);
  EXPECT_EQ(model::default_thread_count(), 3);
  EXPECT_EQ(model::resolve_thread_count(5), 5);
  setenv("OMP_NUM_THREADS", "junk", 1);
  const int cpus = model::default_thread_count();
  unsetenv("OMP_NUM_THREADS");
  EXPECT_EQ(model::default_thread_count(), cpus);
  EXPECT_GE(cpus, 1);
  cpu_set_t set;
  ASSERT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
  EXPECT_EQ(cpus, CPU_COUNT(&set));
  if (saved) setenv("OMP_NUM_THREADS", keep.c_str(), 1);
}

namespace {

// Whether every element of `t` equals `value`: comparisons only, no sums, so
// the answer is exact whatever the kernels and the thread split (a float sum
// of millions of elements rounds differently on different CPUs).
bool holds_only(const torch::Tensor &t, float value) {
  return t.min().item<float>() == value && t.max().item<float>() == value;
}

}  // namespace

// LibTorch's CPU tensors of 4 MiB or more come from the block cache any
// Predictor installs where malloc is glibc's (cpu_runtime.hpp): a block freed by one frame serves
// the next frame's request of the same size class with the values written
// intact, smaller tensors stay with malloc, and the cache never holds more
// than its bound, dropping the least recently freed blocks first.
TEST(CpuAllocator, ReusesLargeBlocksWithinItsBound) {
  Predictor install(PredictorOptions{});
  if (!model::cpu_allocator_stats().installed)
    GTEST_SKIP() << "no block cache in this process: SALMODEL_CPU_CACHE_MB=0, or malloc is not glibc's";
  const std::size_t keep_limit = model::cpu_allocator_stats().cache_limit;
  model::set_cpu_allocator_cache_limit(0);  // earlier tests may have filled it
  EXPECT_EQ(model::cpu_allocator_stats().cached_bytes, 0u);
  model::set_cpu_allocator_cache_limit(std::size_t(256) << 20);
  const std::int64_t mib = (1 << 20) / 4;  // floats in a MiB
  const auto before = model::cpu_allocator_stats();
  {
    auto a = torch::full({40 * mib}, 1.5f);
    EXPECT_TRUE(holds_only(a, 1.5f));
  }
  EXPECT_EQ(model::cpu_allocator_stats().cached_bytes, std::size_t(40) << 20);
  {
    auto b = torch::full({38 * mib}, 2.0f);  // rounds up to the same 40 MiB class
    EXPECT_TRUE(holds_only(b, 2.0f));
    EXPECT_EQ(model::cpu_allocator_stats().cached_bytes, 0u);
  }
  const auto reused = model::cpu_allocator_stats();
  EXPECT_EQ(reused.hits, before.hits + 1);
  EXPECT_EQ(reused.misses, before.misses + 1);
  {
    auto small = torch::arange(1 << 18, torch::kFloat32);  // 1 MiB: malloc's
    EXPECT_EQ(small.slice(0, 2, 5).sum().item<float>(), 9.0f);
  }
  EXPECT_EQ(model::cpu_allocator_stats().hits, reused.hits);
  EXPECT_EQ(model::cpu_allocator_stats().misses, reused.misses);

  // 40 + 48 + 56 MiB freed in that order under a 100 MiB bound: the cache
  // keeps only the last freed, the 40 and 48 MiB blocks go back first.
  model::set_cpu_allocator_cache_limit(std::size_t(100) << 20);
  {
    auto x = torch::empty({40 * mib});
    auto y = torch::empty({48 * mib});
    auto z = torch::empty({56 * mib});
    x.reset();
    y.reset();
    z.reset();
  }
  EXPECT_EQ(model::cpu_allocator_stats().cached_bytes, std::size_t(56) << 20);
  // A smaller request takes the smallest free block that fits (best fit).
  const auto before_fit = model::cpu_allocator_stats();
  {
    auto v = torch::full({45 * mib}, 3.0f);
    EXPECT_TRUE(holds_only(v, 3.0f));
    EXPECT_EQ(model::cpu_allocator_stats().cached_bytes, 0u);
  }
  EXPECT_EQ(model::cpu_allocator_stats().hits, before_fit.hits + 1);
  EXPECT_EQ(model::cpu_allocator_stats().cached_bytes, std::size_t(56) << 20);
  // A miss gives cached blocks back before it maps a new one, so the cache
  // never raises the memory mapped above the most that was live at once.
  {
    auto w = torch::empty({64 * mib});
    EXPECT_EQ(model::cpu_allocator_stats().cached_bytes, 0u);
  }
  model::set_cpu_allocator_cache_limit(keep_limit);
}

namespace {

// Key maps that cancel in the blend: frame id 1 gives [0, 0.3], id 5 gives
// [0.9, 0]. Frame 1 of an interval of 4 is 0.75 * [0, 0.3] + 0.25 * [0.9, 0]
// = [0.225, 0.225]: flat in exact arithmetic, 1.5e-8 apart in fp32 (the two
// products round differently). Other ids: [0.5, 0.5] (flat, constant).
class CancellingModel final : public model::SaliencyModel {
 public:
  std::string name() const override { return "cancelling"; }
  model::WindowSpec window_spec() const override { return {}; }
  torch::Tensor prepare_frame(const torch::Tensor &rgb) const override {
    return rgb[0][0][0].to(torch::kFloat32);
  }
  torch::Tensor predict(const std::vector<model::Window> &windows) override {
    torch::Tensor out = torch::full({int64_t(windows.size()), 1, 2}, 0.5f);
    for (size_t b = 0; b < windows.size(); ++b) {
      const int id = int(windows[b].frames[0].item<float>());
      if (id == 1) out[b][0][0] = 0.f, out[b][0][1] = 0.3f;
      if (id == 5) out[b][0][0] = 0.9f, out[b][0][1] = 0.f;
    }
    return out;
  }
  void to(torch::Device, torch::Dtype) override {}
  torch::Device device() const override { return torch::kCPU; }
};

}  // namespace

TEST(Predictor, BidirectionalBlendThatIsFlatIsNotStretched) {
  // The blend is rescaled to the key maps' interpolated range, [0, 0.45] here;
  // stretching the flat blend's 1.5e-8 to it gave [0.45, 0] or [0, 0.45], a map
  // unrelated to either key map. Flat stays flat, at its own value.
  Predictor p(std::make_unique<CancellingModel>(), bidirectional(4));
  const auto maps = run_ramp(p, 9);  // keys 1, 5, 9 by id
  ASSERT_EQ(maps.size(), 9u);
  const auto &m = maps[1].values;
  ASSERT_EQ(m.size(), 2u);
  // 0.225 to within the blend's rounding (a few ulps of 0.225, ~1.5e-8 each).
  EXPECT_NEAR(m[0], 0.225, 1e-7);
  EXPECT_NEAR(m[1], 0.225, 1e-7);
  // Frames 5..7 blend [0.9, 0] with the constant [0.5, 0.5]: a real range, rescaled as before.
  for (int t = 5; t < 8; ++t)
    for (float v : maps[t].values) EXPECT_TRUE(std::isfinite(v) && v >= 0.f && v <= 1.f) << t;
}
