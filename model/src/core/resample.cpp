// Pillow's ImagingResample (libImaging/Resample.c) for the BILINEAR filter,
// as tensor operations. The coefficients are computed on the CPU exactly as
// Pillow computes them (double precision, then 22-bit fixed point); the passes
// run as integer gathers and multiply-adds on the image's device, so the
// output matches Pillow bit for bit.
#include "salmodel/resample.hpp"

#include <torch/torch.h>

#include <cmath>
#include <vector>

namespace model {

namespace {

// 32 bits minus 8 for the pixel minus 2 for the sign and rounding headroom.
constexpr int kPrecisionBits = 32 - 8 - 2;

// Pillow's bilinear (triangle) filter, support 1.
double triangle(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

// Per output pixel: the first input pixel and `taps` fixed-point weights
// (zero past the pixel's own window), as Pillow's precompute_coeffs followed by
// normalize_coeffs_8bpc.
struct AxisFilter {
  int64_t taps = 0;
  torch::Tensor index;   // int64 (out, taps): input pixel of each tap (0 where unused)
  torch::Tensor weight;  // int32 (out, taps)
};

AxisFilter axis_filter(int64_t in_size, int64_t out_size) {
  // Pillow works with a float box (0, in_size); the difference is exact.
  const double scale =
      static_cast<double>(static_cast<float>(in_size)) / static_cast<double>(out_size);
  const double filter_scale = scale < 1.0 ? 1.0 : scale;
  const double support = 1.0 * filter_scale;
  const int64_t taps = static_cast<int64_t>(std::ceil(support)) * 2 + 1;

  std::vector<int64_t> index(static_cast<size_t>(out_size * taps), 0);
  std::vector<int32_t> weight(static_cast<size_t>(out_size * taps), 0);
  std::vector<double> k(static_cast<size_t>(taps));
  for (int64_t xx = 0; xx < out_size; xx++) {
    const double center = (static_cast<double>(xx) + 0.5) * scale;
    const double ss = 1.0 / filter_scale;
    int64_t xmin = static_cast<int>(center - support + 0.5);  // C cast truncates, as Pillow
    if (xmin < 0) xmin = 0;
    int64_t xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double sum = 0.0;
    for (int64_t x = 0; x < xmax; x++) {
      const double w = triangle((static_cast<double>(x + xmin) - center + 0.5) * ss);
      k[static_cast<size_t>(x)] = w;
      sum += w;
    }
    for (int64_t x = 0; x < xmax; x++) {
      double w = k[static_cast<size_t>(x)];
      if (sum != 0.0) w /= sum;
      const double fixed = w * static_cast<double>(1 << kPrecisionBits);
      const auto at = static_cast<size_t>(xx * taps + x);
      weight[at] = static_cast<int32_t>(w < 0 ? -0.5 + fixed : 0.5 + fixed);
      index[at] = xmin + x;
    }
  }
  AxisFilter f;
  f.taps = taps;
  f.index = torch::tensor(index, torch::kInt64).view({out_size, taps});
  f.weight = torch::tensor(weight, torch::kInt32).view({out_size, taps});
  return f;
}

// One pass along `dim` of an int32 (H, W, C) image: the rounded, shifted and
// clipped fixed-point sum of Pillow's ResampleHorizontal/Vertical_8bpc.
torch::Tensor resample_axis(const torch::Tensor &image, int64_t dim, int64_t out_size) {
  const auto f = axis_filter(image.size(dim), out_size);
  const auto index = f.index.to(image.device());
  const auto weight = f.weight.to(image.device());
  std::vector<int64_t> shape(image.sizes().begin(), image.sizes().end());
  shape[static_cast<size_t>(dim)] = out_size;
  std::vector<int64_t> weight_shape(3, 1);
  weight_shape[static_cast<size_t>(dim)] = out_size;
  auto sum = torch::full(shape, 1 << (kPrecisionBits - 1), image.options());
  for (int64_t t = 0; t < f.taps; t++) {
    sum.add_(image.index_select(dim, index.select(1, t)) * weight.select(1, t).view(weight_shape));
  }
  return torch::bitwise_right_shift(sum, kPrecisionBits).clamp_(0, 255);
}

}  // namespace

torch::Tensor resize_bilinear_pil(const torch::Tensor &image, int64_t out_height,
                                  int64_t out_width) {
  TORCH_CHECK(image.scalar_type() == torch::kUInt8, "resize_bilinear_pil: expected uint8, got ",
              image.scalar_type());
  TORCH_CHECK((image.dim() == 2 || image.dim() == 3) && image.size(0) > 0 && image.size(1) > 0,
              "resize_bilinear_pil: expected an (H, W) or (H, W, C) image, got ", image.sizes());
  TORCH_CHECK(out_height > 0 && out_width > 0, "resize_bilinear_pil: bad output size ", out_width,
              "x", out_height);
  const bool grey = image.dim() == 2;
  auto x = (grey ? image.unsqueeze(2) : image).to(torch::kInt32);
  // Horizontal pass first, then vertical, each rounded to 8 bits (Pillow
  // ImagingResampleInner); a pass is skipped when its size does not change.
  if (out_width != x.size(1)) x = resample_axis(x, 1, out_width);
  if (out_height != x.size(0)) x = resample_axis(x, 0, out_height);
  x = x.to(torch::kUInt8).contiguous();
  return grey ? x.squeeze(2) : x;
}

}  // namespace model
