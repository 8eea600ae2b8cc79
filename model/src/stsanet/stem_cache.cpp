// StemCache: base1 (F1) of sliding windows, reusing rows of earlier windows
// (salmodel/stsanet.hpp explains why that is exact).
#include <algorithm>
#include <atomic>

#include "ops.hpp"
#include "salmodel/stsanet.hpp"

namespace model::stsanet {

namespace nn = torch::nn;
namespace F = torch::nn::functional;

namespace {

std::atomic<bool> stem_reuse_enabled{true};

// Marks a window position outside the window (the convolution's zero padding).
const void *const kPad = nullptr;
// Marks a whole padded row of the last temporal convolution's input.
const char kPadRowTag = 0;
const void *const kPadRow = &kPadRowTag;

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

// conv_bn_relu (Reference arithmetic) of a temporal convolution over rows that
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

void set_stem_reuse(bool enabled) { stem_reuse_enabled = enabled; }
bool stem_reuse() { return stem_reuse_enabled; }

void StemCache::clear() {
  frames_.clear();
  mid_.clear();
  rows_.clear();
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
  const auto &bk = *basic->conv->options.kernel_size();
  const bool layout_ok = is_spatial_only(sep1->conv_s) && is_temporal_only(sep1->conv_t) &&
                         pk[0] == 1 && ps[0] == 1 && pp[0] == 0 && bk[0] == 1 &&
                         (*basic->conv->options.stride())[0] == 1 &&
                         is_spatial_only(sep2->conv_s) && is_temporal_only(sep2->conv_t) &&
                         temporal_of(sep2->conv_t).stride == 1;
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
  const Temporal t1 = temporal_of(sep1->conv_t), t2 = temporal_of(sep2->conv_t);
  const int64_t mid_count = (steps + 2 * t1.padding - t1.kernel) / t1.stride + 1;
  const int64_t row_count = mid_count + 2 * t2.padding - t2.kernel + 1;
  TORCH_CHECK(mid_count >= 1 && row_count >= 1, "StemCache: window of ", steps,
              " frames is too short for base1");

  // Keys: a frame by its tensor; a row by the keys of the inputs it reads.
  auto frame_key = [&](int64_t i) -> const void * {
    return i >= 0 && i < steps ? frames[i].unsafeGetTensorImpl() : kPad;
  };
  auto mid_key = [&](int64_t m) {
    Key key;
    for (int64_t j = 0; j < t1.kernel; ++j) key.push_back(frame_key(m * t1.stride - t1.padding + j));
    return key;
  };
  auto row_key = [&](int64_t r) {
    Key key;
    for (int64_t j = 0; j < t2.kernel; ++j) {
      const int64_t m = r - t2.padding + j;
      if (m >= 0 && m < mid_count) {
        const auto k = mid_key(m);
        key.insert(key.end(), k.begin(), k.end());
      } else {
        key.insert(key.end(), t1.kernel, kPadRow);
      }
    }
    return key;
  };

  // Which F1 rows, and which inputs of them, are missing.
  std::vector<Key> row_keys(row_count), mid_keys(mid_count);
  std::vector<int64_t> missing_rows, missing_mids;
  for (int64_t m = 0; m < mid_count; ++m) mid_keys[m] = mid_key(m);
  for (int64_t r = 0; r < row_count; ++r) {
    row_keys[r] = row_key(r);
    auto it = rows_.find(row_keys[r]);
    if (it != rows_.end()) {
      it->second.last_window = window_;
      continue;
    }
    missing_rows.push_back(r);
  }
  // The spatial layers between the two temporal convolutions (max pool,
  // BasicConv3d, conv_s) run on all rows at once, the very call base1 makes:
  // LibTorch picks a convolution kernel (oneDNN or its own) from the input's
  // size, and a few rows could get another kernel that rounds differently.
  // The temporal convolutions and the first spatial one get the same kernel
  // for any number of rows at the official size (tested), so only they skip
  // rows.
  std::vector<bool> frame_needed(steps, false);
  for (int64_t m = 0; m < mid_count; ++m) {
    auto it = mid_.find(mid_keys[m]);
    if (it != mid_.end()) {
      it->second.last_window = window_;
      continue;
    }
    if (missing_rows.empty()) continue;
    missing_mids.push_back(m);
    for (int64_t j = 0; j < t1.kernel; ++j) {
      const int64_t i = m * t1.stride - t1.padding + j;
      if (i >= 0 && i < steps) frame_needed[i] = true;
    }
  }

  // Stage 1: conv_s -> bn_s -> relu of each new frame, all in one call (a
  // frame repeated in the window, as at clamped stream ends, once).
  // Only the frames this window reads are kept: a frame in the middle of the
  // window is next read when it reaches the window's start, some 20 windows
  // on; recomputing it then (one frame per window) costs less than holding
  // 20 more frames of 64 x H/2 x W/2 floats.
  std::vector<int64_t> new_frames;
  for (int64_t i = 0; i < steps; ++i) {
    if (!frame_needed[i]) continue;
    auto it = frames_.find(Key{frame_key(i)});
    if (it != frames_.end()) {
      it->second.last_window = window_;
      continue;
    }
    bool repeated = false;
    for (const int64_t j : new_frames) repeated |= frame_key(j) == frame_key(i);
    if (!repeated) new_frames.push_back(i);
  }
  DerivedTensors unused;  // Reference arithmetic folds nothing
  for (size_t begin = 0; begin < new_frames.size(); begin += kRowsPerCall) {
    const size_t end = std::min(new_frames.size(), begin + kRowsPerCall);
    std::vector<torch::Tensor> clip;
    for (size_t k = begin; k < end; ++k) clip.push_back(frames[new_frames[k]]);
    auto y = conv_bn_relu(torch::stack(clip, 1).unsqueeze(0), sep1->conv_s, sep1->bn_s,
                          Arithmetic::Reference, unused);
    for (size_t k = begin; k < end; ++k)
      frames_[Key{frame_key(new_frames[k])}] = {row(y, int64_t(k - begin)), frames[new_frames[k]],
                                                window_};
  }
  work_.frames = static_cast<int64_t>(new_frames.size());

  // Stage 2: the missing rows of the first temporal convolution (with its
  // BatchNorm and ReLU), one run at a time.
  for (const auto &[first, last] : runs(missing_mids, kRowsPerCall)) {
    std::vector<torch::Tensor> inputs;
    torch::Tensor zero;
    for (int64_t i = first * t1.stride - t1.padding; i <= last * t1.stride - t1.padding + t1.kernel - 1;
         ++i) {
      if (i >= 0 && i < steps) {
        inputs.push_back(frames_.at(Key{frame_key(i)}).value);
      } else {
        if (!zero.defined()) zero = torch::zeros_like(frames_.begin()->second.value);
        inputs.push_back(zero);
      }
    }
    auto y = temporal_bn_relu(torch::cat(inputs, 2), sep1->conv_t, sep1->bn_t);
    for (int64_t m = first; m <= last; ++m)
      mid_[mid_keys[m]] = {row(y, m - first), torch::Tensor(), window_};
    work_.mid_rows += last - first + 1;
  }

  // Stage 3: the spatial layers on every row, then the missing F1 rows of
  // the last temporal convolution.
  if (!missing_rows.empty()) {
    std::vector<torch::Tensor> temporal;
    for (int64_t m = 0; m < mid_count; ++m) temporal.push_back(mid_.at(mid_keys[m]).value);
    auto mids = max_pool3d(torch::cat(temporal, 2), pool->options);
    temporal.clear();
    mids = basic->forward(mids);
    mids = conv_bn_relu(mids, sep2->conv_s, sep2->bn_s, Arithmetic::Reference, unused);
    for (const auto &[first, last] : runs(missing_rows, kRowsPerCall)) {
      std::vector<torch::Tensor> inputs;
      torch::Tensor zero;
      for (int64_t m = first - t2.padding; m <= last - t2.padding + t2.kernel - 1; ++m) {
        if (m >= 0 && m < mid_count) {
          inputs.push_back(mids.narrow(2, m, 1));
        } else {
          if (!zero.defined()) zero = torch::zeros_like(mids.narrow(2, 0, 1));
          inputs.push_back(zero);
        }
      }
      auto y = temporal_bn_relu(torch::cat(inputs, 2), sep2->conv_t, sep2->bn_t);
      for (int64_t r = first; r <= last; ++r)
        rows_[row_keys[r]] = {row(y, r - first), torch::Tensor(), window_};
      work_.f1_rows += last - first + 1;
    }
  }

  std::vector<torch::Tensor> rows;
  rows.reserve(row_count);
  for (int64_t r = 0; r < row_count; ++r) rows.push_back(rows_.at(row_keys[r]).value);
  auto f1 = torch::cat(rows, 2);

  // Keep what the last two windows used: with a one-frame shift the stride-2
  // phase alternates, so this window's rows recur in the window after next.
  // Rows that read the window's padding recur only where the stream's ends
  // repeat frames: they go at once (a few rows recomputed there, ~70 MB less
  // held at the official size).
  auto reads_padding = [](const Key &key) {
    return std::any_of(key.begin(), key.end(),
                       [](const void *k) { return k == kPad || k == kPadRow; });
  };
  for (auto *cache : {&frames_, &mid_, &rows_})
    for (auto it = cache->begin(); it != cache->end();)
      it = it->second.last_window + 1 < window_ || reads_padding(it->first) ? cache->erase(it)
                                                                            : std::next(it);
  return f1;
}

}  // namespace model::stsanet
