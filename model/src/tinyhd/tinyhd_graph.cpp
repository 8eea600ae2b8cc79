// The part of TinyHD between its blocks (spec B.2 - B.4): feature assembly,
// the three decoders' wiring, the fusion head. Both runners share it, so the
// fast inference path cannot drift from the reference one.
#include "tinyhd_net.hpp"

namespace model::tinyhd {
namespace {

namespace F = torch::nn::functional;
using torch::Tensor;

// PixelShuffle(2) applied to every time step: (N, C, T, H, W) -> (N, C/4, T, 2H, 2W),
// out[n, c, t, 2h + i, 2w + j] = in[n, 4c + 2i + j, t, h, w]. One strided copy
// into a contiguous tensor (the official permute / PixelShuffle / permute
// moves the same values through three).
Tensor shuffle_up(const Tensor &x) {
  const auto n = x.size(0), c = x.size(1), t = x.size(2), h = x.size(3), w = x.size(4);
  return x.reshape({n, c / 4, 2, 2, t, h, w})
      .permute({0, 1, 4, 5, 2, 6, 3})
      .reshape({n, c / 4, t, 2 * h, 2 * w});
}

// Trilinear, align_corners, by (1, 2, 2): space doubled, time kept. With
// time kept, every output step samples exactly one input step (weight 1,
// the other 0), so this is the bilinear upsampling of each (H, W) plane,
// which LibTorch computes with half the taps.
Tensor space_up(const Tensor &x) {
  const auto n = x.size(0), c = x.size(1), t = x.size(2), h = x.size(3), w = x.size(4);
  return F::interpolate(x.reshape({n, c * t, h, w}), F::InterpolateFuncOptions()
                                                        .scale_factor(std::vector<double>{2.0, 2.0})
                                                        .mode(torch::kBilinear)
                                                        .align_corners(true))
      .view({n, c, t, 2 * h, 2 * w});
}

// Trilinear, align_corners, by (2, 1, 1): time doubled (multi-output decoders).
Tensor time_up(const Tensor &x) {
  return F::interpolate(x, F::InterpolateFuncOptions()
                               .scale_factor(std::vector<double>{2.0, 1.0, 1.0})
                               .mode(torch::kTrilinear)
                               .align_corners(true));
}

Tensor cat(std::initializer_list<Tensor> parts) { return torch::cat(std::vector<Tensor>(parts), 1); }

}  // namespace

Tensor run_graph(const TinyHDVariant &variant, BlockRunner &b, const Tensor &input) {
  const bool multi = variant.multi_output;
  const int rc = variant.reduction;

  // Encoder: f[i] is block i's output; e0's is only the next block's input.
  std::array<Tensor, 19> f;
  Tensor x = input;
  for (int i = 0; i < 19; ++i) f[i] = x = b.encoder(i, x);

  // Four feature levels, each brought to twice its resolution.
  const Tensor x0 = cat({f[1], shuffle_up(cat({f[2], f[3]}))});
  const Tensor x1 = shuffle_up(cat({f[4], f[5], f[6]}));
  const Tensor x2 = shuffle_up(cat({f[7], f[8], f[9], f[10], f[11], f[12], f[13]}));
  const Tensor x3 = shuffle_up(cat({f[14], f[15], f[16], f[17], f[18]}));
  auto a = [&](int j, const Tensor &t) { return b.aggregator(j, t); };
  // Up by two in space, then (multi output) in time.
  auto up2 = [&](const Tensor &t) { return multi ? time_up(shuffle_up(t)) : shuffle_up(t); };

  // d1: four per-level branches to full resolution, one map each (always
  // single-frame, also in the multi-output network).
  const Tensor d1_a = a(3, a(2, shuffle_up(a(1, a(0, x0)))));
  const Tensor d1_b = a(7, a(6, shuffle_up(a(5, shuffle_up(a(4, x1))))));
  const Tensor d1_c = a(11, shuffle_up(a(10, shuffle_up(a(9, shuffle_up(a(8, x2)))))));
  const Tensor d1_d =
      a(15, shuffle_up(a(14, shuffle_up(a(13, shuffle_up(a(12, rc == 4 ? space_up(x3) : shuffle_up(x3))))))));
  const Tensor d1 = torch::sigmoid(cat({d1_a, d1_b, d1_c, d1_d}));

  // d2: top-down path with lateral additions.
  Tensor s = up2(a(16, x3)) + x2;
  s = up2(a(17, s)) + a(18, x1);
  s = up2(a(19, s)) + a(21, a(20, x0));
  s = rc == 1 ? shuffle_up(a(22, s)) : space_up(a(22, s));
  if (multi) s = time_up(s);
  const Tensor d2 = torch::sigmoid(a(23, s));

  // d3: a lattice merging neighbouring levels, three times.
  auto level_up = [&](const Tensor &t) {
    const Tensor u = rc == 1 ? shuffle_up(t) : space_up(t);
    return multi ? time_up(u) : u;
  };
  const Tensor u0 = level_up(x0);
  const Tensor u1 = level_up(x1) + a(24, x0);
  const Tensor u2 = level_up(x2) + a(25, x1);
  const Tensor u3 = level_up(x3) + a(26, x2);
  const Tensor v0 = up2(a(27, u1)) + a(30, u0);
  const Tensor v1 = up2(a(28, u2)) + a(31, u1);
  const Tensor v2 = up2(a(29, u3)) + a(32, u2);
  const Tensor w0 = up2(v1) + a(33, v0);
  const Tensor w1 = up2(v2) + a(34, v1);
  const Tensor z = up2(w1) + a(35, w0);
  const Tensor d3 = torch::sigmoid(a(36, z));

  // Fusion: the six maps through a 1x1 convolution. The multi-output head
  // repeats d1's single frame along time to meet d2's and d3's 16.
  Tensor maps;
  if (multi) {
    const Tensor d1_t = d1.expand({d1.size(0), d1.size(1), d2.size(2), d1.size(3), d1.size(4)});
    maps = cat({d1_t, d2, d3});
  } else {
    maps = cat({d1, d2, d3});
  }
  return b.head(maps).squeeze(1);
}

}  // namespace model::tinyhd
