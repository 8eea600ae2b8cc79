// StemCache: base1 (F1) of sliding windows, reusing rows of earlier windows
// (salmodel/stsanet.hpp explains why that is exact).
#include <algorithm>

#include "ops.hpp"
#include "salmodel/stsanet.hpp"

namespace model::stsanet {

namespace nn = torch::nn;
namespace F = torch::nn::functional;

namespace {

// Marks a window position outside the window (the convolution's zero padding).
const void *const kPad = nullptr;

// Temporal kernel, stride and padding of a (k,1,1) convolution.
struct Temporal {
  int64_t kernel, stride, padding;
};

Temporal temporal_of(const nn::Conv3d &conv) {
  const auto &o = conv->options;
  const auto &p = conv_padding(o);
  return {(*o.kernel_size())[0], (*o.stride())[0], (*p)[0]};
}

bool is_spatial_only(const nn::Conv3d &conv) {
  const auto &o = conv->options;
  const auto &p = conv_padding(o);
  return (*o.kernel_size())[0] == 1 && (*o.stride())[0] == 1 && (*p)[0] == 0;
}

bool is_temporal_only(const nn::Conv3d &conv) {
  const auto &o = conv->options;
  const auto &p = conv_padding(o);
  return (*o.kernel_size())[1] == 1 && (*o.kernel_size())[2] == 1 && (*o.stride())[1] == 1 &&
         (*o.stride())[2] == 1 && (*p)[1] == 0 && (*p)[2] == 0;
}

// conv_bn_relu (Official arithmetic) of a temporal convolution over rows that
// already include the window's zero padding: the module's conv3d with temporal
// padding 0, then its batch_norm and ReLU, as SepConv3d runs them.
torch::Tensor temporal_bn_relu(const torch::Tensor &x, const nn::Conv3d &conv,
                               nn::BatchNorm3d bn) {
  const auto &o = conv->options;
  auto y = F::conv3d(x, conv->weight,
                     F::Conv3dFuncOptions().bias(conv->bias).stride(*o.stride()).padding(0));
  y = bn->forward(y);
  return y.relu_();
}

// Row `i` (dim 2) of `y` in a tensor of its own: a view would keep all of
// `y` alive as long as any of its rows stays cached.
torch::Tensor row(const torch::Tensor &y, int64_t i) {
  return y.size(2) == 1 ? y : y.narrow(2, i, 1).clone();
}

// Runs [first, last] of consecutive sorted indices, at most `longest` long:
// one call per run, short enough that the first window (everything missing)
// does not hold a whole window's intermediate tensors on top of the cache.
std::vector<std::pair<int64_t, int64_t>> runs(const std::vector<int64_t> &sorted,
                                              int64_t longest) {
  std::vector<std::pair<int64_t, int64_t>> out;
  for (const int64_t i : sorted) {
    if (!out.empty() && out.back().second + 1 == i && i - out.back().first < longest)
      out.back().second = i;
    else
      out.push_back({i, i});
  }
  return out;
}

constexpr int64_t kRowsPerCall = 4;

}  // namespace


void StemCache::clear() {
  mid_.clear();
  work_ = {};
}

torch::Tensor StemCache::f1(S3DBackboneImpl &backbone, const std::vector<torch::Tensor> &frames) {
  TORCH_CHECK(!frames.empty(), "StemCache: a window needs frames");
  auto &base1 = *backbone.base1;
  auto *sep1 = base1.ptr<SepConv3dImpl>(0).get();
  auto *pool = base1.ptr<nn::MaxPool3dImpl>(1).get();
  auto *basic = base1.ptr<BasicConv3dImpl>(2).get();
  auto *sep2 = base1.ptr<SepConv3dImpl>(3).get();
  const auto &pk = *pool->options.kernel_size();
  const auto &ps = *pool->options.stride();
  const auto &pp = *pool->options.padding();
  const bool layout_ok = is_spatial_only(sep1->conv_s) && is_temporal_only(sep1->conv_t) &&
                         pk[0] == 1 && ps[0] == 1 && pp[0] == 0;
  if (!layout_ok || sep1->is_training() || torch::GradMode::is_enabled()) {
    clear();
    auto clip = torch::stack(frames, 1).unsqueeze(0);
    auto y = sep1->forward(clip);
    y = max_pool3d(y, pool->options);
    return sep2->forward(basic->forward(y));
  }

  ++window_;
  work_ = {};
  const int64_t steps = static_cast<int64_t>(frames.size());
  const Temporal t1 = temporal_of(sep1->conv_t);
  const int64_t mid_count = (steps + 2 * t1.padding - t1.kernel) / t1.stride + 1;
  TORCH_CHECK(mid_count >= 1, "StemCache: window of ", steps, " frames is too short for base1");

  // Keys: a frame by its tensor; a row by the keys of the frames it reads.
  auto frame_key = [&](int64_t i) -> const void * {
    return i >= 0 && i < steps ? frames[i].unsafeGetTensorImpl() : kPad;
  };
  auto mid_key = [&](int64_t m) {
    Key key;
    for (int64_t j = 0; j < t1.kernel; ++j) key.push_back(frame_key(m * t1.stride - t1.padding + j));
    return key;
  };

  // Which rows of the first temporal convolution are missing.
  std::vector<Key> mid_keys(mid_count);
  std::vector<int64_t> missing_mids;
  for (int64_t m = 0; m < mid_count; ++m) {
    mid_keys[m] = mid_key(m);
    auto it = mid_.find(mid_keys[m]);
    if (it != mid_.end()) {
      it->second.last_window = window_;
      continue;
    }
    missing_mids.push_back(m);
  }

  // Stages 1 and 2, one run of missing rows at a time: conv_s -> bn_s -> relu
  // of the frames the run reads (a few frames per call; a frame repeated in
  // the window, as at clamped stream ends, once), then the run's rows of the
  // temporal convolution (with its BatchNorm and ReLU) and of the max pool.
  // A frame's conv_s output lives only until the window's last run that reads
  // it: sliding by one frame, a window misses only the rows at its two ends,
  // which read 13 frames, and holding those for the next window (70 MB at the
  // official size) would save conv_s on 11 of them. The first windows (every
  // row missing) so hold about one run's frames, not all 32 (176 MB). Together
  // with the F1 rows no longer cached (below) this costs 2-5 % of a window's
  // time and saves 250 MiB of peak RSS (README, "Measured speed").
  const auto mid_runs = runs(missing_mids, kRowsPerCall);
  auto reads = [&](const std::pair<int64_t, int64_t> &run) {  // frame positions in the window
    return std::make_pair(std::max<int64_t>(0, run.first * t1.stride - t1.padding),
                          std::min(steps - 1, run.second * t1.stride - t1.padding + t1.kernel - 1));
  };
  std::map<const void *, size_t> last_reader;  // frame key -> index of the last run reading it
  for (size_t r = 0; r < mid_runs.size(); ++r)
    for (auto [i, end] = reads(mid_runs[r]); i <= end; ++i) last_reader[frame_key(i)] = r;
  std::map<const void *, torch::Tensor> computed;  // frame key -> conv_s output
  DerivedTensors unused;  // Official arithmetic folds nothing
  for (size_t r = 0; r < mid_runs.size(); ++r) {
    const auto [first, last] = mid_runs[r];
    const auto [from, to] = reads(mid_runs[r]);
    std::vector<int64_t> new_frames;
    for (int64_t i = from; i <= to; ++i) {
      bool known = computed.count(frame_key(i)) > 0;
      for (const int64_t j : new_frames) known |= frame_key(j) == frame_key(i);
      if (!known) new_frames.push_back(i);
    }
    for (size_t begin = 0; begin < new_frames.size(); begin += kRowsPerCall) {
      const size_t end = std::min(new_frames.size(), begin + kRowsPerCall);
      std::vector<torch::Tensor> clip;
      for (size_t k = begin; k < end; ++k) clip.push_back(frames[new_frames[k]]);
      auto y = conv_bn_relu(torch::stack(clip, 1).unsqueeze(0), sep1->conv_s, sep1->bn_s,
                            Arithmetic::Official, unused);
      for (size_t k = begin; k < end; ++k)
        computed[frame_key(new_frames[k])] = row(y, int64_t(k - begin));
    }
    work_.frames += static_cast<int64_t>(new_frames.size());

    std::vector<torch::Tensor> inputs, pins;
    torch::Tensor zero;
    for (int64_t i = first * t1.stride - t1.padding; i <= last * t1.stride - t1.padding + t1.kernel - 1;
         ++i) {
      if (i >= 0 && i < steps) {
        inputs.push_back(computed.at(frame_key(i)));
        pins.push_back(frames[i]);
      } else {
        if (!zero.defined()) zero = torch::zeros_like(computed.begin()->second);
        inputs.push_back(zero);
      }
    }
    auto y = max_pool3d(temporal_bn_relu(torch::cat(inputs, 2), sep1->conv_t, sep1->bn_t),
                        pool->options);
    inputs.clear();
    for (int64_t m = first; m <= last; ++m)
      mid_[mid_keys[m]] = {row(y, m - first), pins, window_};
    work_.mid_rows += last - first + 1;
    for (auto it = computed.begin(); it != computed.end();)
      it = last_reader.at(it->first) == r ? computed.erase(it) : std::next(it);
  }

  // Stage 3: the rest of base1 (BasicConv3d, then sep2 with its temporal
  // convolution) on every row, in the very call base1 makes. LibTorch picks a
  // convolution kernel (oneDNN or its own) from the input's size, and a few
  // rows could get another kernel that rounds differently; the temporal
  // convolution above and conv_s get the same kernel for any number of rows
  // at the official size (tested). Caching F1 rows as well would save sep2's
  // temporal convolution on 10 of 16 rows, a small share of the window's time
  // (docs/performance.md, "Choices in the code"), for two windows of F1 held
  // (132 MB at the official size): memory matters more.
  std::vector<torch::Tensor> pooled;
  pooled.reserve(mid_count);
  for (int64_t m = 0; m < mid_count; ++m) pooled.push_back(mid_.at(mid_keys[m]).value);
  auto f1 = sep2->forward(basic->forward(torch::cat(pooled, 2)));
  pooled.clear();
  work_.f1_rows = f1.size(2);

  // Keep what the last two windows used: with a one-frame shift the stride-2
  // phase alternates, so this window's rows recur in the window after next.
  // Rows that read the window's padding recur only where the stream's ends
  // repeat frames: they go at once (a few rows recomputed there).
  auto reads_padding = [](const Key &key) {
    return std::any_of(key.begin(), key.end(), [](const void *k) { return k == kPad; });
  };
  for (auto it = mid_.begin(); it != mid_.end();)
    it = it->second.last_window + 1 < window_ || reads_padding(it->first) ? mid_.erase(it)
                                                                          : std::next(it);
  return f1;
}

}  // namespace model::stsanet
