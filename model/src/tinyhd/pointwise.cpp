// The pointwise kernel: per sample, tiles of 4 output channels x 64
// positions; for each input channel one row segment is read and multiplied
// into the 4 accumulator rows (16 AVX-512 registers). Positions are split
// between threads.
#include "pointwise.hpp"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <torch/torch.h>

#include <algorithm>

#include "cpu_dispatch.hpp"

namespace model::tinyhd {
namespace {

constexpr int kTile = 64;  // positions per tile
constexpr int kRows = 4;   // output channels per tile

struct Job {
  const float *x;  // (Cin, S) of one sample
  const float *w;  // (Cout, Cin)
  const float *b;  // (Cout)
  const float *r;  // (Cout, S) residual of the sample, or nullptr
  float *y;        // (Cout, S)
  int64_t cin, cout, s;
  bool relu6;
};

// 16 floats in one AVX-512 register (two AVX2 ones); the unaligned type reads rows.
typedef float Vec __attribute__((vector_size(64)));
typedef float VecU __attribute__((vector_size(64), aligned(4), may_alias));

SALMODEL_ALWAYS_INLINE void store(float *y, Vec v, const Job &j, const float *r) {
  if (j.relu6) {
    const Vec zero = {}, six = zero + 6.0f;
    v = v < zero ? zero : v;
    v = v > six ? six : v;
  } else if (r) {
    v += *reinterpret_cast<const VecU *>(r);
  }
  *reinterpret_cast<VecU *>(y) = v;
}

// A full tile: ROWS output channels from `o`, kTile positions from s0, the
// accumulators in registers.
template <int ROWS>
SALMODEL_ALWAYS_INLINE void full_tile(const Job &j, int64_t o, int64_t s0) {
  constexpr int Q = kTile / 16;
  Vec acc[ROWS][Q];
#pragma GCC unroll 4
  for (int r = 0; r < ROWS; ++r)
#pragma GCC unroll 4
    for (int q = 0; q < Q; ++q) acc[r][q] = Vec{} + j.b[o + r];
  const float *w = j.w + o * j.cin;
  for (int64_t i = 0; i < j.cin; ++i) {
    const VecU *xr = reinterpret_cast<const VecU *>(j.x + i * j.s + s0);
    Vec xv[Q];
#pragma GCC unroll 4
    for (int q = 0; q < Q; ++q) xv[q] = xr[q];
#pragma GCC unroll 4
    for (int r = 0; r < ROWS; ++r) {
      const float wr = w[r * j.cin + i];
#pragma GCC unroll 4
      for (int q = 0; q < Q; ++q) acc[r][q] += wr * xv[q];
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < ROWS; ++r)
#pragma GCC unroll 4
    for (int q = 0; q < Q; ++q) {
      const int64_t at = (o + r) * j.s + s0 + 16 * q;
      store(j.y + at, acc[r][q], j, j.r ? j.r + at : nullptr);
    }
}

// ROWS output channels from `o`, positions [s0, s0 + len), len <= kTile.
template <int ROWS>
SALMODEL_ALWAYS_INLINE void tile(const Job &j, int64_t o, int64_t s0, int len) {
  if (len == kTile) return full_tile<ROWS>(j, o, s0);
  float acc[ROWS][kTile];
  for (int r = 0; r < ROWS; ++r)
    for (int k = 0; k < kTile; ++k) acc[r][k] = j.b[o + r];
  for (int64_t i = 0; i < j.cin; ++i) {
    const float *__restrict xr = j.x + i * j.s + s0;
    float w[ROWS];
    for (int r = 0; r < ROWS; ++r) w[r] = j.w[(o + r) * j.cin + i];
    if (len == kTile) {
      for (int k = 0; k < kTile; ++k)
        for (int r = 0; r < ROWS; ++r) acc[r][k] += w[r] * xr[k];
    } else {
      for (int k = 0; k < len; ++k)
        for (int r = 0; r < ROWS; ++r) acc[r][k] += w[r] * xr[k];
    }
  }
  for (int r = 0; r < ROWS; ++r) {
    float *__restrict yr = j.y + (o + r) * j.s + s0;
    if (j.relu6) {
      for (int k = 0; k < len; ++k) yr[k] = std::min(std::max(acc[r][k], 0.0f), 6.0f);
    } else if (j.r) {
      const float *rr = j.r + (o + r) * j.s + s0;
      for (int k = 0; k < len; ++k) yr[k] = acc[r][k] + rr[k];
    } else {
      for (int k = 0; k < len; ++k) yr[k] = acc[r][k];
    }
  }
}

// Positions [begin, end) of one sample, every output channel.
SALMODEL_ALWAYS_INLINE void run_body(const Job &j, int64_t begin, int64_t end) {
  for (int64_t s0 = begin; s0 < end; s0 += kTile) {
    const int len = static_cast<int>(std::min<int64_t>(kTile, end - s0));
    int64_t o = 0;
    for (; o + kRows <= j.cout; o += kRows) tile<kRows>(j, o, s0, len);
    switch (j.cout - o) {
      case 3: tile<3>(j, o, s0, len); break;
      case 2: tile<2>(j, o, s0, len); break;
      case 1: tile<1>(j, o, s0, len); break;
      default: break;
    }
  }
}

SALMODEL_TARGET_AVX512 void run_avx512(const Job &j, int64_t b, int64_t e) { run_body(j, b, e); }
SALMODEL_TARGET_AVX2 void run_avx2(const Job &j, int64_t b, int64_t e) { run_body(j, b, e); }
void run_generic(const Job &j, int64_t b, int64_t e) { run_body(j, b, e); }
using Kernel = void (*)(const Job &, int64_t, int64_t);
const Kernel run = pick_kernel<Kernel>(run_avx512, run_avx2, run_generic);

}  // namespace

torch::Tensor pointwise_conv(const torch::Tensor &x, const torch::Tensor &weight, const torch::Tensor &bias,
                             bool relu6, const torch::Tensor &residual) {
  RECORD_FUNCTION("tinyhd::pointwise_conv", std::vector<c10::IValue>({x}));
  TORCH_CHECK(x.device().is_cpu() && x.scalar_type() == torch::kFloat32 && x.dim() >= 2,
              "pointwise_conv: x must be a float32 CPU tensor (N, C, ...)");
  const auto in = x.contiguous();
  const auto w = weight.contiguous();
  const auto b = bias.contiguous();
  const int64_t n = in.size(0), cin = in.size(1), cout = w.size(0);
  TORCH_CHECK(w.dim() == 2 && w.size(1) == cin && b.numel() == cout,
              "pointwise_conv: weight must be (Cout, Cin) and bias (Cout)");
  const int64_t s = in.numel() / std::max<int64_t>(1, n * cin);
  std::vector<int64_t> shape = in.sizes().vec();
  shape[1] = cout;
  auto y = torch::empty(shape, in.options());
  torch::Tensor res;
  if (residual.defined()) {
    res = residual.contiguous();
    TORCH_CHECK(res.sizes() == y.sizes(), "pointwise_conv: the residual must have the output's shape");
  }
  for (int64_t i = 0; i < n; ++i) {
    const Job job{in.data_ptr<float>() + i * cin * s,
                  w.data_ptr<float>(),
                  b.data_ptr<float>(),
                  res.defined() ? res.data_ptr<float>() + i * cout * s : nullptr,
                  y.data_ptr<float>() + i * cout * s,
                  cin,
                  cout,
                  s,
                  relu6};
    // Grain: whole tiles, at least 4096 positions per task.
    at::parallel_for(0, (s + kTile - 1) / kTile, 64, [&](int64_t tb, int64_t te) {
      run(job, tb * kTile, std::min(te * kTile, s));
    });
  }
  return y;
}

}  // namespace model::tinyhd
