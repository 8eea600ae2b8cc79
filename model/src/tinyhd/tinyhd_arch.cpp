// TinyHD's shapes: the encoder from MobileNetV2's widths and the variant's
// temporal rules, the aggregator's widths from the checkpoint (spec B.1, B.5).
#include <algorithm>
#include <set>

#include "tinyhd_net.hpp"

namespace model::tinyhd {
namespace {

// MobileNetV2's inverted residuals e1 .. e17 at full width: input and output
// channels, expansion ratio and spatial stride.
struct MobileNetBlock {
  int64_t in, out, expansion;
  int stride;
};
constexpr MobileNetBlock kMobileNetV2[17] = {
    {32, 16, 1, 1},                                                        // e1
    {16, 24, 6, 2},   {24, 24, 6, 1},                                      // e2, e3
    {24, 32, 6, 2},   {32, 32, 6, 1},   {32, 32, 6, 1},                    // e4 .. e6
    {32, 64, 6, 2},   {64, 64, 6, 1},   {64, 64, 6, 1},   {64, 64, 6, 1},  // e7 .. e10
    {64, 96, 6, 1},   {96, 96, 6, 1},   {96, 96, 6, 1},                    // e11 .. e13
    {96, 160, 6, 2},  {160, 160, 6, 1}, {160, 160, 6, 1},                  // e14 .. e16
    {160, 320, 6, 1},                                                      // e17
};

// The encoder's depthwise temporal geometry. The official inflation keeps
// the spatial kernel, stride and padding in time, except: e2 and e14 keep
// time (stride 1); the multi-output network ends its time axis at e14
// (kernel 2, no padding: 2 steps -> 1) and runs e15 .. e17 per frame.
Temporal encoder_time(int block, int spatial_stride, bool multi_output) {
  if (multi_output && block == 14) return {2, 1, 0};
  if (multi_output && block >= 15) return {1, 1, 0};
  if (block == 2 || block == 14) return {3, 1, 1};
  return {3, spatial_stride, 1};
}

// Aggregator blocks whose depthwise convolution halves time (kernel 3,
// stride 2). Single output: every other block is per frame (kernel 1).
// Multi output: every other block is a stride-1 kernel-3 convolution.
const std::set<int> kSingleHalving = {0,  2,  3,  4,  6,  8,  12, 18, 20, 21, 22,
                                      23, 24, 25, 29, 30, 31, 32, 33, 34, 35};
const std::set<int> kMultiHalving = {0, 2, 3, 4, 6, 8};

Temporal aggregator_time(int block, bool multi_output) {
  if (multi_output) return {3, kMultiHalving.count(block) ? 2 : 1, 1};
  return kSingleHalving.count(block) ? Temporal{3, 2, 1} : Temporal{1, 1, 0};
}

// The published reduction-4 aggregator (spec B.5): input and output channels
// of a0 .. a36 (hidden = 2 * input, never residual).
constexpr std::pair<int64_t, int64_t> kAggregatorRc4[37] = {
    {7, 24},    {24, 48},  {12, 24},  {24, 1},   {6, 56},   {14, 56},  {14, 28},  {28, 1},
    {34, 56},   {14, 56},  {14, 56},  {14, 1},   {130, 136}, {34, 136}, {34, 136}, {34, 1},
    {130, 136}, {34, 24},  {6, 6},    {6, 28},   {7, 7},    {7, 7},    {7, 7},    {7, 1},
    {7, 6},     {6, 34},   {34, 130}, {6, 8},    {34, 32},  {130, 128}, {7, 2},   {6, 8},
    {34, 32},   {2, 2},    {8, 8},    {2, 2},    {2, 1},
};

std::vector<BlockSpec> encoder_specs(const TinyHDVariant &v) {
  std::vector<BlockSpec> blocks;
  for (int i = 0; i < 17; ++i) {
    const MobileNetBlock &m = kMobileNetV2[i];
    BlockSpec b;
    b.in = m.in / v.reduction;
    b.out = m.out / v.reduction;
    b.hidden = m.in * m.expansion / v.reduction;
    b.expand = m.expansion != 1;
    b.spatial_stride = m.stride;
    b.dw_time = encoder_time(i + 1, m.stride, v.multi_output);
    b.residual = m.stride == 1 && m.in == m.out;
    blocks.push_back(b);
  }
  return blocks;
}

BlockSpec aggregator_spec(int j, int64_t in, int64_t hidden, int64_t out, bool multi_output) {
  BlockSpec b;
  b.in = in;
  b.hidden = hidden;
  b.out = out;
  b.dw_time = aggregator_time(j, multi_output);
  return b;
}

const torch::Tensor &find(const StateDict &state, const std::string &key, const std::string &source) {
  for (const auto &[name, tensor] : state)
    if (name == key) return tensor;
  throw ModelError(source + ": not a TinyHD checkpoint: missing '" + key + "'");
}

}  // namespace

TinyHDArch TinyHDArch::from_state_dict(const StateDict &state, const TinyHDVariant &variant,
                                       const std::string &source) {
  TinyHDArch arch;
  arch.variant = variant;
  arch.stem_out = 32 / variant.reduction;
  arch.encoder = encoder_specs(variant);
  arch.last_in = 320 / variant.reduction;
  arch.last_out = 1280 / variant.reduction;
  for (int j = 0; j < 37; ++j) {
    const std::string prefix = "aggregator.aggregate_adapter." + std::to_string(j) + ".conv.";
    const auto &expand = find(state, prefix + "0.0.weight", source);
    const auto &project = find(state, prefix + "2.weight", source);
    if (expand.dim() != 5 || project.dim() != 5)
      throw ModelError(source + ": not a TinyHD checkpoint: '" + prefix +
                       "0.0.weight' and '2.weight' must be 5-D Conv3d weights");
    arch.aggregator.push_back(
        aggregator_spec(j, expand.size(1), expand.size(0), project.size(0), variant.multi_output));
  }
  return arch;
}

TinyHDArch TinyHDArch::published_single_rc4() {
  TinyHDArch arch;
  arch.variant = TinyHDVariant{false, 4};
  arch.stem_out = 8;
  arch.encoder = encoder_specs(arch.variant);
  arch.last_in = 80;
  arch.last_out = 320;
  for (int j = 0; j < 37; ++j) {
    const auto [in, out] = kAggregatorRc4[j];
    arch.aggregator.push_back(aggregator_spec(j, in, 2 * in, out, false));
  }
  return arch;
}

}  // namespace model::tinyhd
