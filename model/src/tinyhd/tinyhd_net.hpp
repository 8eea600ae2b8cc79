// TinyHD's network as LibTorch modules (tinyhd-spec section B), named so that
// the published state dict loads key for key, and its fast inference form.
//
// Two ways to run the same graph (tinyhd_graph.cpp):
//  - TinyHDNet::forward: the modules (Conv3d, BatchNorm3d, ReLU6) as the
//    official code runs them; autograd, training, the reference in tests.
//  - FusedTinyHD: eval-mode BatchNorms folded into the convolutions,
//    pointwise convolutions as matrix products, and the depthwise 3-D
//    convolutions in our own CPU kernel (depthwise3d.hpp): LibTorch's
//    grouped Conv3d runs them at about 0.5 GMAC/s on a CPU core.
#pragma once

#include <torch/torch.h>

#include <array>
#include <string>
#include <vector>

#include "salmodel/tinyhd.hpp"

namespace model::tinyhd {

/// One 3-D convolution's temporal geometry (the spatial one is fixed by the
/// block kind: 3x3 pad 1 for depthwise, 1x1 for pointwise).
struct Temporal {
  int kernel = 1, stride = 1, pad = 0;
};

/// An inverted-residual block: [pw-expand CBR6] -> dw CBR6 -> pw-linear + BN,
/// plus the input when `residual`.
struct BlockSpec {
  int64_t in = 0, hidden = 0, out = 0;
  bool expand = true;  ///< false for encoder block e1 (expand ratio 1)
  Temporal dw_time;
  int spatial_stride = 1;
  bool residual = false;
};

/// The whole network's shape: what a checkpoint's tensors and the variant's
/// rules say (TinyHDArch::from_state_dict), or the published single-output
/// reduction-4 network (TinyHDArch::published_single_rc4) for training from
/// scratch.
struct TinyHDArch {
  TinyHDVariant variant;
  int64_t stem_out = 8;  ///< e0: Conv3d 3 -> stem_out, k3 s2 p1 in t, h, w
  std::vector<BlockSpec> encoder;  ///< e1 .. e17
  int64_t last_in = 80, last_out = 320;  ///< e18: pointwise CBR6
  std::vector<BlockSpec> aggregator;  ///< a0 .. a36

  static TinyHDArch from_state_dict(const StateDict &state, const TinyHDVariant &variant,
                                    const std::string &source);
  static TinyHDArch published_single_rc4();
};

// ------------------------------------------------------------------ modules

/// Conv3d (no bias) -> BatchNorm3d, registered as children "0" and "1" (the
/// torchvision ConvNormActivation key layout); ReLU6 applied by the caller.
struct ConvBNImpl : torch::nn::Module {
  ConvBNImpl(int64_t in, int64_t out, std::array<int64_t, 3> kernel, std::array<int64_t, 3> stride,
             std::array<int64_t, 3> pad, int64_t groups);
  torch::Tensor forward(const torch::Tensor &x);
  torch::nn::Conv3d conv{nullptr};
  torch::nn::BatchNorm3d bn{nullptr};
};
TORCH_MODULE(ConvBN);

/// Inverted residual, keys conv.{0,1,2,3} (with expand) or conv.{0,1,2} (e1).
struct InvertedResidualImpl : torch::nn::Module {
  explicit InvertedResidualImpl(const BlockSpec &spec);
  torch::Tensor forward(const torch::Tensor &x);
  BlockSpec spec;
  ConvBN expand{nullptr}, depthwise{nullptr};
  torch::nn::Conv3d project{nullptr};
  torch::nn::BatchNorm3d project_bn{nullptr};
  torch::nn::Sequential conv{nullptr};  ///< the key layout (holds the modules above)
};
TORCH_MODULE(InvertedResidual);

/// Runs one block of the graph: the modules, or their fused inference form.
class BlockRunner {
 public:
  virtual ~BlockRunner() = default;
  /// Encoder block i (0 .. 18) on x.
  virtual torch::Tensor encoder(int i, const torch::Tensor &x) = 0;
  /// Aggregator block j (0 .. 36) on x.
  virtual torch::Tensor aggregator(int j, const torch::Tensor &x) = 0;
  /// The fusion head on the six decoder maps (N, 6, T, H, W); returns the
  /// sigmoid output (N, 1, T, H, W).
  virtual torch::Tensor head(const torch::Tensor &x) = 0;
};

/// The graph between the blocks (spec B.2 - B.4), shared by both runners.
/// `input` is what blocks.encoder(0, .) takes: the clip (N, 3, 16, H, W), H
/// and W multiples of 32, or the runner's own per-frame stem features.
/// Returns (N, T, H, W): T = 1 (single output) or 16 (multi output, one map
/// per window frame).
torch::Tensor run_graph(const TinyHDVariant &variant, BlockRunner &blocks, const torch::Tensor &input);

struct TinyHDNetImpl : torch::nn::Module {
  explicit TinyHDNetImpl(const TinyHDArch &arch);
  /// (N, 3, 16, H, W) normalised clip -> (N, T, H, W) maps in (0, 1).
  torch::Tensor forward(const torch::Tensor &clip);
  const TinyHDArch &arch() const { return arch_; }

  // Key layout: encoder.encoder.{0..18}, aggregator.aggregate_adapter.{0..36},
  // decoder.decoder.0 (the head conv: Conv2d single, Conv3d multi).
  torch::nn::Sequential encoder_seq{nullptr};  ///< "encoder.encoder"
  torch::nn::ModuleList aggregator_list{nullptr};  ///< "aggregator.aggregate_adapter"
  std::shared_ptr<torch::nn::Module> head_conv;  ///< "decoder.decoder.0"
  ConvBN stem{nullptr}, last{nullptr};
  std::vector<InvertedResidual> encoder_blocks;  ///< e1 .. e17
  std::vector<InvertedResidual> aggregator_blocks;

 private:
  TinyHDArch arch_;
};
TORCH_MODULE(TinyHDNet);

/// PyTorch's default initialisation (uniform +-1/sqrt(fan_in) for every
/// convolution weight and the head's bias, BatchNorm at identity) drawn from
/// a generator seeded with `seed` alone (training from scratch, tests).
void reset_parameters(TinyHDNetImpl &net, std::uint64_t seed);

/// Eval-mode inference with folded BatchNorms and fast kernels. A snapshot
/// of the net's weights: rebuild it after the weights change.
class FusedTinyHD : public BlockRunner {
 public:
  explicit FusedTinyHD(TinyHDNetImpl &net);
  /// As TinyHDNet::forward, in eval arithmetic (inference mode inside).
  torch::Tensor forward(const torch::Tensor &clip);

  /// The stem's work that depends on one frame alone, done once per frame
  /// instead of once per window (consecutive windows share 15 of 16
  /// frames). e0 is a 3x3x3 convolution with stride 2 in time, so output
  /// step t' of a window sums three 2-D convolutions: the weights' time
  /// slice 0 on window frame 2t'-1, slice 1 on 2t', slice 2 on 2t'+1.
  /// frames (N, 3, H, W) prepared -> (N, 3 * C, H/2, W/2): the three slices'
  /// 2-D convolutions (no bias), slice-major.
  torch::Tensor frame_features(const torch::Tensor &frames) const;
  /// As forward(clip), from the 16 frames' features (N, 16, 3 * C, h, w).
  torch::Tensor forward_features(const torch::Tensor &features);

  torch::Tensor encoder(int i, const torch::Tensor &x) override;
  torch::Tensor aggregator(int j, const torch::Tensor &x) override;
  torch::Tensor head(const torch::Tensor &x) override;

 private:
  struct Conv {  // a convolution with its BatchNorm folded in
    torch::Tensor weight, bias;
    Temporal time;
    int spatial_stride = 1;
  };
  struct Block {
    bool expand = false, residual = false;
    Conv pw_expand, dw, pw_project;
  };
  torch::Tensor run(const Block &block, const torch::Tensor &x) const;

  TinyHDVariant variant_;
  bool input_is_features_ = false;  // what encoder(0, .) gets from run_graph
  Conv stem_, last_;
  torch::Tensor stem_slices_;  // (3 * C, 3, 3, 3): the stem's time slices as 2-D kernels
  std::vector<Block> encoder_, aggregator_;
  torch::Tensor head_weight_, head_bias_;
};

}  // namespace model::tinyhd
