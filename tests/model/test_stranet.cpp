// STRA-Net (model-spec Part B): shapes, the hand-checkable pieces (Gaussian
// prior, ConvGRU step, legacy TF upsampling, pre-processing), recurrent state
// and the Keras .h5 import (fixtures from tests/model/make_keras_h5.py).
#include <gtest/gtest.h>
#include <hdf5.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <torch/torch.h>

#include "../../model/src/stranet/h5_reader.hpp"  // the in-process walk and the child's fault hook

#include "salmodel/checkpoint.hpp"
#include "salmodel/predictor.hpp"
#include "salmodel/stranet.hpp"
#include "map_stats.hpp"
#include "test_support.hpp"

namespace {

using model::STRANet;
using model::STRANetModel;
using model::STRANetOptions;
namespace sn = model::stranet;

class StraNetTest : public ::testing::Test {
 protected:
  void SetUp() override { torch::manual_seed(7); }
};

using testsupport::PngStats;
using testsupport::png_stats;

STRANetOptions tiny(int64_t divisor = 16) { return STRANetOptions().width_divisor(divisor); }

TEST_F(StraNetTest, OfficialSizeHasKerasWeightCountAndStageShapes) {
  STRANet net;  // official widths
  net->eval();
  std::int64_t params = 0, buffers = 0;
  for (const auto &p : net->parameters()) params += p.numel();
  for (const auto &b : net->named_buffers())
    if (b.value().is_floating_point() && b.key().find("num_batches_tracked") == std::string::npos)
      buffers += b.value().numel();
  // The official Keras model: 168,130,839 weights incl. BN statistics (model-spec 0, B.9).
  EXPECT_EQ(params + buffers, 168130839);

  torch::NoGradGuard no_grad;
  sn::Trace t;
  auto x5 = net->features(torch::randn({1, 3, 224, 224}) * 50, torch::randn({1, 10, 224, 224}), &t);
  // model-spec B.8: conv1 'valid' 109, 'same' pool 55, output stride 8 -> 28.
  EXPECT_EQ(t.a_conv1.sizes(), torch::IntArrayRef({1, 64, 109, 109}));
  EXPECT_EQ(t.a_pool.sizes(), torch::IntArrayRef({1, 64, 55, 55}));
  EXPECT_EQ(t.a2.sizes(), torch::IntArrayRef({1, 256, 55, 55}));
  EXPECT_EQ(t.a3.sizes(), torch::IntArrayRef({1, 512, 28, 28}));
  EXPECT_EQ(t.m3.sizes(), torch::IntArrayRef({1, 512, 28, 28}));
  EXPECT_EQ(t.a4.sizes(), torch::IntArrayRef({1, 1024, 28, 28}));
  EXPECT_EQ(t.m4.sizes(), torch::IntArrayRef({1, 1024, 28, 28}));
  EXPECT_EQ(t.a5.sizes(), torch::IntArrayRef({1, 2048, 28, 28}));
  EXPECT_EQ(t.m5.sizes(), torch::IntArrayRef({1, 2048, 28, 28}));
  EXPECT_EQ(x5.sizes(), torch::IntArrayRef({1, 2048, 28, 28}));
  for (const auto &sd : {t.sd3, t.sd4, t.sd5}) EXPECT_EQ(sd.sizes(), torch::IntArrayRef({1, 1, 28, 28}));
  // Attention masks are spatial softmaxes of a sigmoid: they sum to 1 and stay
  // within a factor e of 1/784 (model-spec B.4).
  for (const auto &m : {t.mask3, t.mask4, t.mask5}) {
    EXPECT_NEAR(m.sum().item<double>(), 1.0, 1e-5);
    EXPECT_LE(m.max().item<double>() / m.min().item<double>(), std::exp(1.0) + 1e-4);
  }
  torch::Tensor state;
  auto map = net->forward(torch::randn({1, 3, 224, 224}), torch::randn({1, 10, 224, 224}), state);
  EXPECT_EQ(map.sizes(), torch::IntArrayRef({1, 224, 224}));
  EXPECT_EQ(state.sizes(), torch::IntArrayRef({1, 256, 28, 28}));
}

TEST_F(StraNetTest, GaussianPriorMatchesHandComputationWithClipping) {
  sn::GaussianPrior prior(3);
  {
    torch::NoGradGuard g;
    // mu_x, mu_y, sigma_x, sigma_y for 3 Gaussians; some outside the clip ranges.
    prior->W.copy_(torch::tensor({0.1f, 0.5f, 0.9f, 0.3f, 0.5f, 0.7f, 0.05f, 0.3f, 1.5f, 0.1f, 0.4f, 0.95f}));
  }
  const double mx[] = {0.25, 0.5, 0.75}, my[] = {0.35, 0.5, 0.65}, sx[] = {0.1, 0.3, 0.9},
               sy[] = {0.2, 0.4, 0.8};
  const int H = 28, W = 28;
  auto g = prior->forward(H, W);
  ASSERT_EQ(g.sizes(), torch::IntArrayRef({3, H, W}));
  auto acc = g.accessor<float, 3>();
  for (int k = 0; k < 3; ++k) {
    std::vector<double> v(H * W);
    double peak = 0;
    for (int i = 0; i < H; ++i)
      for (int j = 0; j < W; ++j) {
        const double x = double(j) / (W - 1), y = double(i) / (H - 1);
        const double e = std::exp(-((x - mx[k]) * (x - mx[k]) / (2 * sx[k] * sx[k] + 1e-7) +
                                    (y - my[k]) * (y - my[k]) / (2 * sy[k] * sy[k] + 1e-7))) /
                         (2 * M_PI * sx[k] * sy[k] + 1e-7);
        v[i * W + j] = e;
        peak = std::max(peak, e);
      }
    for (int i = 0; i < H; ++i)
      for (int j = 0; j < W; ++j) ASSERT_NEAR(acc[k][i][j], v[i * W + j] / peak, 1e-5) << k << " " << i << " " << j;
  }
  // The stored weights are not clipped.
  EXPECT_FLOAT_EQ(prior->W[0].item<float>(), 0.1f);
}

TEST_F(StraNetTest, HardSigmoidIsKerasPiecewiseLinear) {
  auto y = sn::hard_sigmoid(torch::tensor({-3.0f, -2.5f, 0.0f, 1.0f, 2.5f, 4.0f}));
  const float want[] = {0.0f, 0.0f, 0.5f, 0.7f, 1.0f, 1.0f};
  for (int i = 0; i < 6; ++i) EXPECT_FLOAT_EQ(y[i].item<float>(), want[i]);
}

TEST_F(StraNetTest, ConvGruStepMatchesHandComputation) {
  // 2 input channels, 1 filter, 1x1 spatial: with 'same' padding only the
  // centre tap of each 3x3 kernel touches data.
  sn::ConvGRU gru(2, 1, 3);
  torch::NoGradGuard ng;
  auto Wk = gru->kernel->weight;  // (3, 2, 3, 3): gates z, r, h
  Wk.copy_(torch::randn(Wk.sizes()));
  gru->kernel->bias.copy_(torch::tensor({0.1f, -0.2f, 0.3f}));
  gru->recurrent_kernel.copy_(torch::randn(gru->recurrent_kernel.sizes()));
  const float x[2] = {0.7f, -1.3f}, h = 0.4f;
  auto hs = [](double v) { return std::min(1.0, std::max(0.0, 0.2 * v + 0.5)); };
  auto w = [&](int gate, int c) { return double(Wk[gate][c][1][1].item<float>()); };
  auto u = [&](int gate) { return double(gru->recurrent_kernel[gate][0][1][1].item<float>()); };
  auto b = [&](int gate) { return double(gru->kernel->bias[gate].item<float>()); };
  const double z = hs(w(0, 0) * x[0] + w(0, 1) * x[1] + b(0) + u(0) * h);
  const double r = hs(w(1, 0) * x[0] + w(1, 1) * x[1] + b(1) + u(1) * h);
  const double hh = std::tanh(w(2, 0) * x[0] + w(2, 1) * x[1] + b(2) + u(2) * (r * h));
  const double want = (1 - z) * h + z * hh;
  auto xt = torch::tensor({x[0], x[1]}).view({1, 2, 1, 1});
  auto got = gru->step(gru->input_gates(xt), torch::full({1, 1, 1, 1}, h));
  EXPECT_NEAR(got.item<float>(), want, 1e-6);
}

TEST_F(StraNetTest, LegacyTfUpsamplingFollowsItsFormula) {
  auto x = torch::rand({2, 28, 28});
  auto y = sn::resize_bilinear_tf_legacy(x, 224, 224);
  ASSERT_EQ(y.sizes(), torch::IntArrayRef({2, 224, 224}));
  auto xa = x.accessor<float, 3>();
  auto ya = y.accessor<float, 3>();
  auto coord = [](int o) {
    const double s = o * 28.0 / 224.0;
    const int i0 = int(std::floor(s));
    return std::make_tuple(i0, std::min(i0 + 1, 27), s - i0);
  };
  for (int n = 0; n < 2; ++n)
    for (int oy = 0; oy < 224; oy += 3)
      for (int ox = 0; ox < 224; ox += 5) {
        auto [y0, y1, wy] = coord(oy);
        auto [x0, x1, wx] = coord(ox);
        const double top = (1 - wx) * xa[n][y0][x0] + wx * xa[n][y0][x1];
        const double bot = (1 - wx) * xa[n][y1][x0] + wx * xa[n][y1][x1];
        ASSERT_NEAR(ya[n][oy][ox], (1 - wy) * top + wy * bot, 1e-5);
      }
  // No half-pixel centres: output (0,0) is input (0,0); the last 8 rows repeat row 27.
  EXPECT_FLOAT_EQ(ya[0][0][0], xa[0][0][0]);
  for (int o = 216; o < 224; ++o) EXPECT_NEAR(ya[1][o][0], xa[1][27][0], 1e-6);
}

TEST_F(StraNetTest, FramePreprocessingLetterboxesWithSwappedMeansInBgr) {
  STRANetModel m(tiny());
  auto rgb = torch::empty({4, 8, 3}, torch::kUInt8);  // H 4, W 8 -> 224 x 112 rows at 56
  rgb.select(2, 0).fill_(200);
  rgb.select(2, 1).fill_(100);
  rgb.select(2, 2).fill_(50);
  auto x = m.prepare_frame(rgb);
  ASSERT_EQ(x.sizes(), torch::IntArrayRef({3, 224, 224}));
  const auto box = STRANetModel::letterbox(4, 8);
  EXPECT_EQ(box.rows, 112);
  EXPECT_EQ(box.top, 56);
  // [parity] B - 123.68, G - 116.779, R - 103.939 (model-spec B.10.1).
  EXPECT_NEAR(x[0][100][10].item<float>(), 50 - 123.68, 1e-4);
  EXPECT_NEAR(x[1][100][10].item<float>(), 100 - 116.779, 1e-4);
  EXPECT_NEAR(x[2][100][10].item<float>(), 200 - 103.939, 1e-4);
  EXPECT_NEAR(x[0][55][10].item<float>(), -123.68, 1e-4);   // bar above
  EXPECT_NEAR(x[2][168][10].item<float>(), -103.939, 1e-4);  // bar below
  EXPECT_NEAR(x[2][167][10].item<float>(), 200 - 103.939, 1e-4);
}

TEST_F(StraNetTest, FlowNumpyResizeClipsPerComponentInTheLetterbox) {
  STRANetModel m(tiny());
  // 2 x 4 flow at frame resolution (frame 4 wide, 2 high): letterbox 112 x 224 at row 56.
  const float u[8] = {0.05f, 0.5f, 25.f, -30.f, -0.09f, 3.f, -3.f, 19.f};
  auto flow = torch::zeros({2, 4, 2});
  for (int i = 0; i < 8; ++i) {
    flow[i / 4][i % 4][0] = u[i];
    flow[i / 4][i % 4][1] = -u[i];
  }
  auto p = m.prepare_flow(flow, 4, 2);
  ASSERT_EQ(p.sizes(), torch::IntArrayRef({2, 224, 224}));
  auto clip = [](float v) { return std::fabs(v) < 0.1f ? 0.f : std::min(20.f, std::max(-20.f, v)); };
  auto a = p.accessor<float, 3>();
  // np.resize: the flattened plane repeated cyclically in C order.
  for (int r = 0; r < 112; r += 7)
    for (int c = 0; c < 224; c += 3) {
      const int k = (r * 224 + c) % 8;
      ASSERT_FLOAT_EQ(a[0][56 + r][c], clip(u[k]));
      ASSERT_FLOAT_EQ(a[1][56 + r][c], clip(-u[k]));
    }
  EXPECT_EQ(p.narrow(1, 0, 56).abs().sum().item<float>(), 0.f);
  EXPECT_EQ(p.narrow(1, 168, 56).abs().sum().item<float>(), 0.f);
}

TEST_F(StraNetTest, FlowInterpolateModeRescalesVectorsToTheLetterbox) {
  STRANetModel m(tiny().flow_resize(model::FlowResize::Interpolate));
  auto flow = torch::zeros({2, 4, 2});
  flow.select(2, 0).fill_(0.1f);   // x 224/4 = 56 -> 5.6
  flow.select(2, 1).fill_(0.05f);  // y 112/2 = 56 -> 2.8
  auto p = m.prepare_flow(flow, 4, 2);
  EXPECT_NEAR(p[0][100][100].item<float>(), 5.6f, 1e-4);
  EXPECT_NEAR(p[1][100][100].item<float>(), 2.8f, 1e-4);
  EXPECT_EQ(p[0][20][100].item<float>(), 0.f);
}

TEST_F(StraNetTest, FlowStackIsReversedUvOfFiveFlows) {
  std::vector<torch::Tensor> flows;
  for (int k = 0; k < 5; ++k) {
    auto f = torch::empty({2, 224, 224});
    f[0].fill_(k + 1);     // u_k
    f[1].fill_(-(k + 1));  // v_k
    flows.push_back(f);
  }
  auto s = STRANetModel::stack_flows(flows);
  ASSERT_EQ(s.size(0), 10);
  // [v4, u4, v3, u3, ..., v0, u0] (model-spec B.10.2)
  for (int c = 0; c < 10; ++c) {
    const int k = 4 - c / 2;
    EXPECT_EQ(s[c][0][0].item<float>(), c % 2 == 0 ? -(k + 1) : (k + 1)) << c;
  }
  flows.pop_back();
  EXPECT_THROW(STRANetModel::stack_flows(flows), model::ModelError);
}

model::Window random_window(STRANetModel &m, int seed) {
  torch::manual_seed(seed);
  model::Window w;
  for (int k = 0; k < 6; ++k) w.frames.push_back(m.prepare_frame(torch::randint(0, 256, {24, 32, 3}).to(torch::kUInt8)));
  for (int k = 0; k < 5; ++k) w.flows.push_back(m.prepare_flow(torch::randn({24, 32, 2}) * 5, 32, 24));
  w.frame_width = 32;
  w.frame_height = 24;
  return w;
}

model::Window in_stream(model::Window w, model::StreamState *state) {
  w.state = state;
  return w;
}

const torch::Tensor &gru_state(const model::StreamState &s) {
  return dynamic_cast<const STRANetModel::GruState &>(s).state;
}

TEST_F(StraNetTest, RecurrentStateIsCarriedInTheStreamsState) {
  STRANetModel m(tiny());
  m.network()->reset_parameters(3);
  auto w0 = random_window(m, 1), w1 = random_window(m, 2);
  c10::InferenceMode guard;
  auto stream = m.new_stream_state();
  auto first = m.predict({in_stream(w0, stream.get())});
  // 32 x 24 frame: letterbox 224 x 168 rows at 28; the map is that region.
  ASSERT_EQ(first.sizes(), torch::IntArrayRef({1, 168, 224}));
  EXPECT_GE(first.min().item<float>(), 0.f);
  EXPECT_LE(first.max().item<float>(), 1.f);
  ASSERT_TRUE(gru_state(*stream).defined());
  auto again = m.predict({in_stream(w0, stream.get())});  // same input, carried state: a different map
  EXPECT_GT((again - first).abs().max().item<float>(), 1e-3);
  // Another stream starts from zero: the same map as the first stream's
  // first, bit for bit (the same operations on the same inputs).
  auto other = m.new_stream_state();
  auto fresh = m.predict({in_stream(w0, other.get())});
  EXPECT_TRUE(torch::equal(fresh, first));
  // A window without a state starts from zero and leaves no state behind.
  EXPECT_TRUE(torch::equal(m.predict({w0}), first));
  // One call with two windows = two calls in order (per-frame GRU steps). A
  // batch of 2 may take other convolution kernels than a batch of 1: float
  // rounding only (differences ~1e-5 on maps in (0,1)).
  auto second = m.predict({in_stream(w1, other.get())});
  EXPECT_GT((second - fresh).abs().max().item<float>(), 1e-3);
  auto third = m.new_stream_state();
  auto both = m.predict({in_stream(w0, third.get()), in_stream(w1, third.get())});
  EXPECT_LT((both[0] - first[0]).abs().max().item<float>(), 2e-4);
  EXPECT_LT((both[1] - second[0]).abs().max().item<float>(), 2e-4);
  // Windows of two streams in one call: each steps from its own state.
  auto a = m.new_stream_state(), b = m.new_stream_state();
  m.predict({in_stream(w0, a.get())});
  auto mixed = m.predict({in_stream(w1, a.get()), in_stream(w0, b.get())});
  EXPECT_LT((mixed[0] - second[0]).abs().max().item<float>(), 2e-4);
  EXPECT_LT((mixed[1] - first[0]).abs().max().item<float>(), 2e-4);
}

TEST_F(StraNetTest, PredictorEmitsEveryFrameCroppedToTheFrameAspect) {
  auto net = std::make_unique<STRANetModel>(tiny());
  net->network()->reset_parameters(5);
  model::PredictorOptions options;
  options.model = model::ModelKind::STRANet;
  model::Predictor predictor(std::move(net), options);
  EXPECT_EQ(predictor.lookahead_frames(), 5);
  std::vector<std::uint8_t> pixels(32 * 24 * 3);
  std::vector<model::SaliencyMap> maps;
  for (int i = 0; i < 8; ++i) {
    for (std::size_t p = 0; p < pixels.size(); ++p) pixels[p] = std::uint8_t((p * 7 + i * 13) % 251);
    model::FrameView f;
    f.data = pixels.data();
    f.width = 32;
    f.height = 24;
    f.stride = 32 * 3;
    f.format = model::PixelFormat::RGB;
    for (auto &m : predictor.push(f)) maps.push_back(std::move(m));
  }
  for (auto &m : predictor.finish()) maps.push_back(std::move(m));
  ASSERT_EQ(maps.size(), 8u);
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(maps[i].frame_index, i);
    EXPECT_EQ(maps[i].width, 224);
    EXPECT_EQ(maps[i].height, 168);
  }
}

TEST_F(StraNetTest, ConstantFramesGiveFiniteMapsAndPngsWithoutASpike) {
  // As for STSANet: black, white and grey clips through the Predictor (with
  // their computed, all-zero flows); finite maps in [0,1] and a PNG path that
  // neither divides by a zero range nor shows one hot cell.
  for (int level : {0, 255, 128}) {
    SCOPED_TRACE("level " + std::to_string(level));
    auto net = std::make_unique<STRANetModel>(tiny());
    net->network()->reset_parameters(5);
    model::Predictor predictor(std::move(net), model::PredictorOptions{});
    const int w = 32, h = 24;
    const auto maps = testsupport::maps_of_constant_frames(predictor, w, h, level, 3);
    ASSERT_EQ(maps.size(), 3u);
    // The raw map (in [0,1], B.1) is shaped by the letterbox, zero padding and the learned prior.
    for (const auto &m : maps) testsupport::expect_real_structure_in_png(m, w, h);
  }
}

TEST_F(StraNetTest, FactoryRefusesToRunWithoutWeightsOrRandomInit) {
  model::ModelConfig config;
  config.kind = model::ModelKind::STRANet;
  try {
    model::create_model(config);
    ADD_FAILURE() << "stranet built without weights";
  } catch (const model::ModelError &e) {
    EXPECT_NE(std::string(e.what()).find("--weights"), std::string::npos) << e.what();
  }
}

// ------------------------------------------------------------- h5 import

std::string quote(const std::string &s) { return "'" + s + "'"; }

// Runs make_keras_h5.py; 77 = h5py missing.
int make_h5(const std::string &out, const std::string &args) {
  const char *env = std::getenv("GST_SALIENCY_TORCH_PYTHON");
  const std::string py = env && *env ? env : "/usr/bin/python3";
  const std::string cmd = quote(py) + " " + quote(testsupport::source_root() + "/tests/model/make_keras_h5.py") +
                          " " + quote(out) + " " + args + " > " + quote(out + ".log") + " 2>&1";
  const int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

#define MAKE_H5_OR_SKIP(path, args)                                                     \
  do {                                                                                  \
    const int rc_ = make_h5(path, args);                                                \
    if (rc_ == 77 || rc_ == 127) GTEST_SKIP() << "python3-h5py is not available: " << rc_; \
    ASSERT_EQ(rc_, 0) << "make_keras_h5.py failed, see " << path << ".log";              \
  } while (0)

torch::Tensor dataset(const std::vector<model::H5Dataset> &ds, const std::string &path) {
  for (const auto &d : ds)
    if (d.path == path) return torch::tensor(d.values).view(d.shape);
  ADD_FAILURE() << "no dataset " << path;
  return torch::zeros({1});
}

void expect_same_datasets(const std::vector<model::H5Dataset> &a, const std::vector<model::H5Dataset> &b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].path, b[i].path);
    EXPECT_EQ(a[i].shape, b[i].shape) << a[i].path;
    ASSERT_EQ(a[i].values.size(), b[i].values.size()) << a[i].path;
    if (!a[i].values.empty()) {  // an empty vector's data() may be null: no memcmp of nothing
      EXPECT_EQ(std::memcmp(a[i].values.data(), b[i].values.data(), a[i].values.size() * sizeof(float)), 0)
          << a[i].path;
    }
  }
}

TEST_F(StraNetTest, KerasH5RoundTripMapsNamesLayoutsAndGates) {
  testsupport::TempDir dir;
  const std::string h5 = dir / "stranet.h5";
  MAKE_H5_OR_SKIP(h5, "--divisor 8 --seed 3");
  const auto ds = model::read_h5_datasets(h5);
  // The reader sees every dataset the writer wrote, with its values.
  std::ifstream manifest(h5 + ".tsv");
  std::string line;
  std::size_t lines = 0;
  while (std::getline(manifest, line)) {
    std::istringstream in(line);
    std::string path, shape;
    double sum;
    in >> path >> shape >> sum;
    ++lines;
    auto t = dataset(ds, path);
    EXPECT_NEAR(t.to(torch::kFloat64).sum().item<double>(), sum, 1e-3 + 1e-5 * std::fabs(sum)) << path;
  }
  EXPECT_EQ(lines, 680u);
  EXPECT_EQ(ds.size(), 680u);
  // The child process's stream carries them bit for bit, in the walk's order.
  expect_same_datasets(ds, model::h5::read_h5_datasets_in_process(h5));

  STRANet net(tiny(8));
  EXPECT_EQ(model::import_keras_h5(*net, h5), 680u);
  auto hwio = [](const torch::Tensor &oihw) { return oihw.permute({2, 3, 1, 0}); };
  EXPECT_TRUE(torch::equal(hwio(net->appearance->conv1.conv->weight), dataset(ds, "time_distributed_1/A_conv1/kernel:0")));
  EXPECT_TRUE(torch::equal(hwio(net->motion->res4[2].branch2b.conv->weight),
                           dataset(ds, "time_distributed_1/M_res4c_branch2b/kernel:0")));
  EXPECT_TRUE(torch::equal(net->appearance->res5[0].shortcut.bn->running_var,
                           dataset(ds, "time_distributed_1/A_bn5a_branch1/moving_variance:0")));
  EXPECT_TRUE(torch::equal(hwio(net->fusion5->weight), dataset(ds, "time_distributed_1/conv2d_6/kernel:0")));
  EXPECT_TRUE(torch::equal(hwio(net->attention4->mask_conv->weight), dataset(ds, "time_distributed_1/conv2d_5/kernel:0")));
  EXPECT_TRUE(torch::equal(hwio(net->side3->weight), dataset(ds, "time_distributed_1/conv2d_9/kernel:0")));
  EXPECT_TRUE(torch::equal(net->attention5->bn->weight, dataset(ds, "time_distributed_1/batch_normalization_3/gamma:0")));
  EXPECT_TRUE(torch::equal(hwio(net->head_conv->weight), dataset(ds, "time_distributed_3/kernel:0")));
  EXPECT_TRUE(torch::equal(net->ConvGRU2D_BN->running_mean, dataset(ds, "time_distributed_2/moving_mean:0")));
  EXPECT_TRUE(torch::equal(net->learning_prior_1->W, dataset(ds, "learning_prior_1/learning_prior_1_W:0")));
  // GRU: the r gate is the second block of 256/8 = 32 output channels (B.9).
  const int64_t f = 32;
  auto rk = dataset(ds, "ConvGRU2D/recurrent_kernel:0");
  EXPECT_TRUE(torch::equal(hwio(net->ConvGRU2D->recurrent_kernel.narrow(0, f, f)), rk.narrow(3, f, f)));
  auto k = dataset(ds, "ConvGRU2D/kernel:0");
  EXPECT_TRUE(torch::equal(hwio(net->ConvGRU2D->kernel->weight.narrow(0, 2 * f, f)), k.narrow(3, 2 * f, f)));
  EXPECT_TRUE(torch::equal(net->ConvGRU2D->kernel->bias, dataset(ds, "ConvGRU2D/bias:0")));

  // model.save layout (model_weights/ prefix) imports the same values.
  const std::string saved = dir / "saved.h5";
  MAKE_H5_OR_SKIP(saved, "--divisor 8 --seed 3 --model-save");
  STRANet net2(tiny(8));
  EXPECT_EQ(model::import_keras_h5(*net2, saved), 680u);
  EXPECT_TRUE(torch::equal(net2->fusion4->weight, net->fusion4->weight));
}

void expect_import_error(const std::string &h5, const std::string &needle) {
  STRANet net(tiny(8));
  const auto before = net->fusion4->weight.clone();
  try {
    model::import_keras_h5(*net, h5);
    ADD_FAILURE() << "import of " << h5 << " succeeded";
  } catch (const model::ModelError &e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(h5), std::string::npos) << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;
  }
  EXPECT_TRUE(torch::equal(before, net->fusion4->weight)) << "partial load";
}

TEST_F(StraNetTest, KerasH5ImportRejectsMissingExtraAndMisshapenWeightsByName) {
  testsupport::TempDir dir;
  const std::string drop = dir / "drop.h5", bad = dir / "bad.h5", extra = dir / "extra.h5";
  MAKE_H5_OR_SKIP(drop, "--divisor 8 --drop time_distributed_1/A_bn3b_branch2a/moving_mean:0");
  MAKE_H5_OR_SKIP(bad, "--divisor 8 --bad-shape time_distributed_1/conv2d_3/kernel:0");
  MAKE_H5_OR_SKIP(extra, "--divisor 8 --extra kernel");
  expect_import_error(drop, "appearance.A_bn3b_branch2a.running_mean");
  expect_import_error(bad, "time_distributed_1/conv2d_3/kernel:0");
  expect_import_error(extra, "dense_1");
  expect_import_error(dir / "absent.h5", "cannot open");
  std::ofstream(dir / "text.h5") << "not hdf5";
  expect_import_error(dir / "text.h5", "HDF5");
}

// A small HDF5 file written with the C API (no h5py needed): float datasets of
// several shapes and types, and optionally an integer one (refused by the walk).
void write_small_h5(const std::string &path, bool with_integer_dataset) {
  const hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(file, 0) << path;
  const hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  auto put = [&](const char *name, std::vector<hsize_t> dims, hid_t file_type, hid_t mem_type, const void *v) {
    const hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
    const hid_t ds = H5Dcreate2(file, name, file_type, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    ASSERT_GE(ds, 0) << name;
    if (v) H5Dwrite(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    H5Dclose(ds);
    H5Sclose(space);
  };
  std::vector<float> k(3 * 3 * 2 * 5);
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = std::ldexp(float(i) - 40.f, -int(i % 7)) + 1e-7f * float(i);
  const double b[5] = {-0.5, 1e-30, 3.25, -7e20, 0.1};
  put("model_weights/conv2d_1/conv2d_1/kernel:0", {3, 3, 2, 5}, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, k.data());
  put("model_weights/conv2d_1/conv2d_1/bias:0", {5}, H5T_IEEE_F64BE, H5T_NATIVE_DOUBLE, b);
  put("model_weights/empty/empty/kernel:0", {0, 4}, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, nullptr);
  if (with_integer_dataset) {
    const int v[3] = {1, 2, 3};
    put("zz_counter", {3}, H5T_STD_I32LE, H5T_NATIVE_INT, v);
  }
  H5Pclose(lcpl);
  H5Fclose(file);
}

std::size_t open_descriptors() {
  std::size_t n = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd"); it != std::filesystem::directory_iterator(); ++it)
    ++n;
  return n;
}

// No child of this process is left unreaped (the reader's, or any other).
void expect_no_zombie() {
  int status = 0;
  errno = 0;
  const pid_t r = ::waitpid(-1, &status, WNOHANG);
  EXPECT_TRUE(r == 0 || (r == -1 && errno == ECHILD)) << "waitpid returned " << r << ": a zombie child";
}

TEST(KerasH5Reader, ChildProcessReturnsWhatTheInProcessWalkReadsOrItsError) {
  testsupport::TempDir dir;
  const std::string good = dir / "good.h5", ints = dir / "ints.h5";
  write_small_h5(good, false);
  write_small_h5(ints, true);
  const std::size_t fds = open_descriptors();
  const auto child = model::read_h5_datasets(good);
  ASSERT_EQ(child.size(), 3u);
  EXPECT_EQ(child[0].shape, (std::vector<int64_t>{5}));     // path order: bias, kernel, empty
  EXPECT_EQ(child[1].shape, (std::vector<int64_t>{3, 3, 2, 5}));
  EXPECT_EQ(child[2].shape, (std::vector<int64_t>{0, 4}));
  EXPECT_EQ(child[0].values[3], -7e20f);
  expect_same_datasets(child, model::h5::read_h5_datasets_in_process(good));
  // The walk's own errors cross the pipe unchanged.
  for (const std::string &f : {ints, dir / "absent.h5"}) {
    std::string in_process, in_child;
    try {
      model::h5::read_h5_datasets_in_process(f);
    } catch (const model::ModelError &e) {
      in_process = e.what();
    }
    try {
      model::read_h5_datasets(f);
    } catch (const model::ModelError &e) {
      in_child = e.what();
    }
    EXPECT_NE(in_child.find(f), std::string::npos) << in_child;
    EXPECT_FALSE(in_child.empty());
    EXPECT_EQ(in_child, in_process);
  }
  EXPECT_EQ(open_descriptors(), fds) << "a pipe leaked";
  expect_no_zombie();
}

TEST(KerasH5Reader, ACrashOfTheChildIsAnErrorNamingTheFileWithNoZombieOrLeakedPipe) {
  testsupport::TempDir dir;
  const std::string good = dir / "good.h5";
  write_small_h5(good, false);
  using model::h5::ChildFault;
  const std::pair<ChildFault, std::string> cases[] = {
      {ChildFault::SegfaultAfterFirstDataset, "HDF5 library crashed reading it (signal 11"},
      {ChildFault::AbortAfterFirstDataset, "HDF5 library crashed reading it (signal 6"},
      {ChildFault::TruncateFirstDataset, "stopped before the end"},
      // A stream that makes no sense: the parent stops (kills) the child, still running.
      {ChildFault::GarbageThenHang, "sent a record of unknown type 88"},
      // A loop inside libhdf5: nothing more arrives; the child is stopped
      // after the idle timeout (2 s here, 60 s in use).
      {ChildFault::HangAfterFirstDataset, "made no progress reading it for 2 s"},
  };
  const std::size_t fds = open_descriptors();
  for (const auto &[fault, needle] : cases) {
    try {
      model::h5::read_h5_datasets_in_child(good, fault, /*idle_timeout_ms=*/2000);
      ADD_FAILURE() << "fault " << int(fault) << ": no error";
    } catch (const model::ModelError &e) {
      const std::string msg = e.what();
      EXPECT_EQ(msg.rfind(good + ": ", 0), 0u) << msg;
      EXPECT_NE(msg.find(needle), std::string::npos) << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
    expect_no_zombie();
  }
  EXPECT_EQ(open_descriptors(), fds) << "a pipe leaked";
  // And the same process reads the file afterwards.
  EXPECT_EQ(model::read_h5_datasets(good).size(), 3u);
}

}  // namespace

namespace {

// The torchvision ResNet-50 layout, stated independently of the loader:
// (torchvision prefix, Keras layer id) for every conv/BN pair of one stream.
std::vector<std::pair<std::string, std::string>> torchvision_pairs() {
  std::vector<std::pair<std::string, std::string>> pairs = {{"conv1|bn1", "conv1|bn_conv1"}};
  const int blocks[4] = {3, 4, 6, 3};
  for (int l = 0; l < 4; ++l)
    for (int i = 0; i < blocks[l]; ++i) {
      const std::string tv = "layer" + std::to_string(l + 1) + "." + std::to_string(i) + ".";
      const std::string id = std::to_string(l + 2) + char('a' + i);
      for (int c = 1; c <= 3; ++c)
        pairs.push_back({tv + "conv" + std::to_string(c) + "|" + tv + "bn" + std::to_string(c),
                         "res" + id + "_branch2" + char('a' + c - 1) + "|bn" + id + "_branch2" + char('a' + c - 1)});
      if (i == 0) pairs.push_back({tv + "downsample.0|" + tv + "downsample.1", "res" + id + "_branch1|bn" + id + "_branch1"});
    }
  return pairs;
}

}  // namespace

TEST_F(StraNetTest, TorchvisionResNet50InitialisesBothStreams) {
  STRANet net(tiny(16));
  std::map<std::string, torch::Tensor> ours;
  for (const auto &p : net->appearance->named_parameters()) ours[p.key()] = p.value();
  for (const auto &b : net->appearance->named_buffers()) ours[b.key()] = b.value();
  // A torchvision-layout checkpoint with the tiny widths (random values), plus its fc head.
  model::StateDict tv;
  for (const auto &[tvp, kp] : torchvision_pairs()) {
    const std::string tv_conv = tvp.substr(0, tvp.find('|')), tv_bn = tvp.substr(tvp.find('|') + 1);
    const std::string conv = "A_" + kp.substr(0, kp.find('|')), bn = "A_" + kp.substr(kp.find('|') + 1);
    tv.emplace_back(tv_conv + ".weight", torch::randn(ours.at(conv + ".weight").sizes()));
    for (const char *s : {"weight", "bias", "running_mean"})
      tv.emplace_back(tv_bn + "." + s, torch::randn(ours.at(bn + "." + s).sizes()));
    tv.emplace_back(tv_bn + ".running_var", torch::rand(ours.at(bn + ".running_var").sizes()) + 0.5);
  }
  tv.emplace_back("fc.weight", torch::randn({10, 128}));
  testsupport::TempDir tmp;
  const std::string path = tmp / "resnet50.pth";
  model::write_checkpoint(path, tv);
  std::map<std::string, torch::Tensor> want(tv.begin(), tv.end());

  EXPECT_GT(model::init_from_torchvision_resnet50(*net, path), 0u);
  torch::NoGradGuard guard;
  EXPECT_TRUE(torch::equal(net->appearance->named_parameters()["A_res3a_branch2b.weight"], want["layer2.0.conv2.weight"]));
  EXPECT_TRUE(torch::equal(net->motion->named_parameters()["M_res3a_branch2b.weight"], want["layer2.0.conv2.weight"]));
  EXPECT_TRUE(torch::equal(net->appearance->named_parameters()["A_res5a_branch1.weight"],
                           want["layer4.0.downsample.0.weight"]));
  EXPECT_TRUE(torch::equal(net->appearance->named_buffers()["A_bn4c_branch2a.running_var"], want["layer3.2.bn1.running_var"]));
  EXPECT_EQ(net->appearance->named_parameters()["A_res2a_branch2a.bias"].abs().max().item<float>(), 0.f);
  // Motion conv1: the mean RGB kernel on each of the 10 flow channels.
  const torch::Tensor m = net->motion->named_parameters()["M_conv1.weight"];
  ASSERT_EQ(m.size(1), 10);
  const torch::Tensor mean = want["conv1.weight"].mean(1, true);
  for (int c = 0; c < 10; ++c) EXPECT_TRUE(torch::allclose(m.narrow(1, c, 1), mean)) << c;
  EXPECT_TRUE(torch::equal(net->appearance->named_parameters()["A_conv1.weight"], want["conv1.weight"]));

  // A checkpoint missing a key is refused, naming it, and nothing changes.
  model::StateDict broken;
  for (auto &kv : tv)
    if (kv.first != "layer3.1.conv2.weight") broken.push_back(kv);
  model::write_checkpoint(tmp / "broken.pth", broken);
  const torch::Tensor before = net->appearance->named_parameters()["A_conv1.weight"].clone();
  try {
    model::init_from_torchvision_resnet50(*net, tmp / "broken.pth");
    FAIL() << "a checkpoint without layer3.1.conv2.weight must be refused";
  } catch (const model::ModelError &e) {
    EXPECT_NE(std::string(e.what()).find("layer3.1.conv2.weight"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("broken.pth"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(torch::equal(net->appearance->named_parameters()["A_conv1.weight"], before));
}
