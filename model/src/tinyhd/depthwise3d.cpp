// Depthwise 3-D convolution, one (sample, channel) plane per task: for each
// output row, one pass per temporal tap over the row, with the 3x3 spatial
// taps of three input rows (a zero row stands in for the padding rows).
// Compiled for AVX-512, AVX2 + FMA and plain x86-64 (cpu_dispatch.hpp).
#include "depthwise3d.hpp"

#include "cpu_dispatch.hpp"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <torch/torch.h>

#include <algorithm>
#include <vector>

namespace model::tinyhd {
namespace {

struct Plane {
  const float *x;  // (T, H, W)
  float *y;        // (To, Ho, Wo)
  const float *k;  // (kt, 3, 3)
  const float *zeros;  // W + 2 zeros
  float *scratch;      // 2 * Wo + 2 floats of the calling thread
  float bias;
  int t, h, w, to, ho, wo, kt, st, pt, ss;
  bool relu6;
};

SALMODEL_ALWAYS_INLINE void convolve_plane_body(const Plane &p) {
  for (int to = 0; to < p.to; ++to) {
    for (int ho = 0; ho < p.ho; ++ho) {
      float *__restrict acc = p.y + (static_cast<size_t>(to) * p.ho + ho) * p.wo;
      for (int w = 0; w < p.wo; ++w) acc[w] = p.bias;
      for (int dt = 0; dt < p.kt; ++dt) {
        const int ti = to * p.st - p.pt + dt;
        if (ti < 0 || ti >= p.t) continue;
        const float *rows[3];
        for (int dh = 0; dh < 3; ++dh) {
          const int hi = ho * p.ss - 1 + dh;
          rows[dh] = (hi < 0 || hi >= p.h) ? p.zeros : p.x + (static_cast<size_t>(ti) * p.h + hi) * p.w;
        }
        const float *k = p.k + dt * 9;
        const float *__restrict r0 = rows[0];
        const float *__restrict r1 = rows[1];
        const float *__restrict r2 = rows[2];
        if (p.ss == 1) {
          const int w = p.w;
          if (w == 1) {
            acc[0] += k[1] * r0[0] + k[4] * r1[0] + k[7] * r2[0];
            continue;
          }
          acc[0] += k[1] * r0[0] + k[2] * r0[1] + k[4] * r1[0] + k[5] * r1[1] + k[7] * r2[0] + k[8] * r2[1];
          for (int x = 1; x < w - 1; ++x)
            acc[x] += k[0] * r0[x - 1] + k[1] * r0[x] + k[2] * r0[x + 1] + k[3] * r1[x - 1] + k[4] * r1[x] +
                      k[5] * r1[x + 1] + k[6] * r2[x - 1] + k[7] * r2[x] + k[8] * r2[x + 1];
          acc[w - 1] += k[0] * r0[w - 2] + k[1] * r0[w - 1] + k[3] * r1[w - 2] + k[4] * r1[w - 1] +
                        k[6] * r2[w - 2] + k[7] * r2[w - 1];
        } else {
          // Stride 2: output x reads input columns 2x-1, 2x, 2x+1. Split each
          // row into its even and odd columns (odd[0] is column -1, the
          // padding) so that the loop below runs on unit strides.
          float *__restrict even = p.scratch;
          float *__restrict odd = p.scratch + p.wo + 1;
          for (int dh = 0; dh < 3; ++dh) {
            const float *r = rows[dh];
            odd[0] = 0.0f;
            for (int x = 0; x < p.wo; ++x) {
              even[x] = r[2 * x];
              odd[x + 1] = 2 * x + 1 < p.w ? r[2 * x + 1] : 0.0f;
            }
            const float k0 = k[3 * dh], k1 = k[3 * dh + 1], k2 = k[3 * dh + 2];
            for (int x = 0; x < p.wo; ++x) acc[x] += k0 * odd[x] + k1 * even[x] + k2 * odd[x + 1];
          }
        }
      }
      if (p.relu6)
        for (int w = 0; w < p.wo; ++w) acc[w] = std::min(std::max(acc[w], 0.0f), 6.0f);
    }
  }
}

SALMODEL_TARGET_AVX512 void convolve_plane_avx512(const Plane &p) { convolve_plane_body(p); }
SALMODEL_TARGET_AVX2 void convolve_plane_avx2(const Plane &p) { convolve_plane_body(p); }
void convolve_plane_generic(const Plane &p) { convolve_plane_body(p); }
using PlaneKernel = void (*)(const Plane &);
const PlaneKernel convolve_plane = pick_kernel<PlaneKernel>(convolve_plane_avx512, convolve_plane_avx2, convolve_plane_generic);

}  // namespace

const char *kernel_build_name() { return to_string(kernel_build()); }

torch::Tensor depthwise_conv3d(const torch::Tensor &x, const torch::Tensor &weight,
                               const torch::Tensor &bias, int time_stride, int time_pad,
                               int spatial_stride, bool relu6) {
  RECORD_FUNCTION("tinyhd::depthwise_conv3d", std::vector<c10::IValue>({x}));
  TORCH_CHECK(x.device().is_cpu() && x.scalar_type() == torch::kFloat32 && x.dim() == 5,
              "depthwise_conv3d: x must be a 5-D float32 CPU tensor");
  TORCH_CHECK(spatial_stride == 1 || spatial_stride == 2, "depthwise_conv3d: spatial stride 1 or 2");
  const auto src = x.contiguous();
  const auto k = weight.contiguous();
  const auto b = bias.contiguous();
  const int64_t n = src.size(0), c = src.size(1), t = src.size(2), h = src.size(3), w = src.size(4);
  const int kt = static_cast<int>(k.size(1));
  TORCH_CHECK(k.dim() == 4 && k.size(0) == c && k.size(2) == 3 && k.size(3) == 3 && b.numel() == c,
              "depthwise_conv3d: weight must be (C, kt, 3, 3) and bias (C)");
  const int64_t to = (t + 2 * time_pad - kt) / time_stride + 1;
  const int64_t ho = (h - 1) / spatial_stride + 1, wo = (w - 1) / spatial_stride + 1;
  TORCH_CHECK(to > 0, "depthwise_conv3d: the temporal kernel is longer than the padded input");
  auto y = torch::empty({n, c, to, ho, wo}, src.options());
  const std::vector<float> zeros(static_cast<size_t>(w) + 2, 0.0f);
  const float *xs = src.data_ptr<float>();
  float *ys = y.data_ptr<float>();
  const float *ks = k.data_ptr<float>();
  const float *bs = b.data_ptr<float>();
  at::parallel_for(0, n * c, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> scratch(spatial_stride == 2 ? static_cast<size_t>(2 * wo + 2) : 0);
    for (int64_t i = begin; i < end; ++i) {
      const int64_t ch = i % c;
      Plane p{xs + i * t * h * w,
              ys + i * to * ho * wo,
              ks + ch * kt * 9,
              zeros.data(),
              scratch.data(),
              bs[ch],
              static_cast<int>(t),
              static_cast<int>(h),
              static_cast<int>(w),
              static_cast<int>(to),
              static_cast<int>(ho),
              static_cast<int>(wo),
              kt,
              time_stride,
              time_pad,
              spatial_stride,
              relu6};
      convolve_plane(p);
    }
  });
  return y;
}

}  // namespace model::tinyhd
