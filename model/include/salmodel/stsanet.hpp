// STSANet (Wang et al., "Spatio-Temporal Self-Attention Network for Video
// Saliency Prediction", TMM 2021) in LibTorch, built exactly as the official
// WZq975/STSANet STSA_model.py builds it (model-spec Part A), so that the
// published STSANet_DHF1K.pth loads with strict key and shape checking.
//
// Where the paper and the official code differ, this follows the code
// (model-spec A.13): branch 0's mid conv keeps 192 channels, branch 1 uses
// 224/128 query-key widths, the STSA "Norm" is a LayerNorm over C x T x H x W.
//
// Module tree. The official model registers every layer directly on the
// network (flat keys such as `branch0_0_a_q.0.weight`, `ln_1_0.weight`,
// `CA_2.2.weight`). To keep that tree and still give each part of the
// computation a class of its own, the parts below (S3DBackbone, StsaBranch,
// AmsfStage) are functional groupings: each registers its layers under their
// official names, and STSANetImpl registers the very same layer objects again
// on itself, in the official registration order (model-spec A.6), without
// registering the groupings. named_parameters() of the network therefore equals
// the official state_dict key list (stsanet-state-dict.tsv), and a grouping can
// be built and tested on its own.
#pragma once

#include <torch/nn.h>

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "salmodel/cuda_graph.hpp"
#include "salmodel/saliency_model.hpp"

namespace model {

// ------------------------------------------------------------------ options

/// Architecture hyper-parameters. The defaults are the official configuration
/// (160,840,060 parameters); every option is read once, at construction, and
/// changing it afterwards has no effect on a built network.
struct STSANetOptions {
  /// Input frame height and width in pixels. Multiples of 32: the decoder
  /// doubles the 1/32-scale features back up level by level (model-spec A.5),
  /// and the STSA LayerNorms are as large as the features (A.4.7).
  TORCH_ARG(int64_t, height) = 224;
  TORCH_ARG(int64_t, width) = 384;
  /// Frames per window (the official 32). The temporal compression convs
  /// (A.4.1) bring every backbone level to 4 time steps, so the window must
  /// give each level a multiple of 4 steps: 32 (16/16/8/4), 64, 128 ...
  /// A window longer than 32 adds a `branch3_pre` compression that the
  /// official model (and checkpoint) does not have.
  TORCH_ARG(int64_t, window) = 32;
  /// Divides every channel width of the official configuration (rounding up,
  /// at least 1): 1 is the official model; 8 or 16 give small networks for
  /// tests and quick training. Checkpoints only fit the width they were
  /// trained with.
  TORCH_ARG(int64_t, width_divisor) = 1;
};

namespace stsanet {

/// Channel widths of one Mixed (Inception) block (model-spec A.2 table).
struct MixedWidths {
  int64_t in = 0, b0 = 0, b1_reduce = 0, b1 = 0, b2_reduce = 0, b2 = 0, b3 = 0;
  int64_t out() const { return b0 + b1 + b2 + b3; }
};

/// Every channel width and feature size of a network, derived from
/// STSANetOptions (official values: model-spec A.2-A.5).
struct Geometry {
  explicit Geometry(const STSANetOptions &options);  // throws ModelError on bad options

  int64_t height, width, window;
  /// Backbone: stem widths (base1.0, base1.2 outputs) and the nine Mixed blocks
  /// Mixed_3b, 3c, 4b, 4c, 4d, 4e, 4f, 5b, 5c.
  int64_t stem0, stem1;
  std::array<MixedWidths, 9> mixed;
  /// Per STSA branch i (backbone level i+1): channels C_i, time steps T_i,
  /// feature height/width, temporal compression factor T_i / 4 (1: none).
  std::array<int64_t, 4> level_channels, level_steps, level_height, level_width, compression;
  /// branch{i}_mid output channels (official 192, 240, 416, 512).
  std::array<int64_t, 4> mid_channels;
  /// Query/key widths of STSA layer I and layer II (official 96/96, 224/128,
  /// 416/208, 512/256).
  std::array<std::array<int64_t, 2>, 4> qk_channels;
  /// AMSF stage k: CA hidden width (official 208, 120, 96) and inception output
  /// (official 240, 192, 192). Stage k fuses mid_channels[2-k] features.
  std::array<int64_t, 3> ca_hidden, fusion_out;
  /// Readout widths (official 64, 32).
  int64_t readout0, readout1;
  /// Time steps every STSA module works on (pairs (0,1),(2,3) in layer I).
  static constexpr int64_t kStsaSteps = 4;
};

/// How a layer computes its convolutions (and the BatchNorms after them).
enum class Arithmetic {
  /// Factorised 3-D kernels as 2-D convolutions, eval-mode BatchNorm folded
  /// into the convolution: the same maps up to float rounding (~1e-7).
  /// Without autograd (inference) the folded weights are computed once
  /// (DerivedTensors) and, inside a ChannelsLastScope(true), the
  /// activations are kept channels-last.
  Rewritten,
  /// The very operations of the official PyTorch modules (conv3d, then
  /// batch_norm), hence PyTorch's bits on the same build and thread count.
  /// Used for the features that reach branch 0's max-pool / max-unpool
  /// bottleneck (model-spec A.4.6), where a rounding difference at a near-tie
  /// moves a value to another pixel of its 2x2 window.
  Official,
};

/// Whether inference (no autograd) in this thread keeps the Rewritten layers'
/// activations channels-last (N, T, H, W, C in memory), the layout oneDNN
/// convolves without reordering: off unless a ChannelsLastScope says so.
/// Nothing process-wide: STSANetModel opens a scope with its own setting
/// (STSANetTuning::channels_last) around each forward pass.
bool inference_channels_last();

/// Channels-last (or not) for the forward passes this thread runs while alive.
class ChannelsLastScope {
 public:
  explicit ChannelsLastScope(bool enabled);
  ~ChannelsLastScope();
  ChannelsLastScope(const ChannelsLastScope &) = delete;
  ChannelsLastScope &operator=(const ChannelsLastScope &) = delete;

 private:
  int previous_;
};

/// Tensors derived from a module's parameters for inference only (BatchNorm
/// folded into a convolution, a LayerNorm weight in the inference layout),
/// computed once instead of every forward. Not registered, so not part of the
/// state dict. Recomputed as soon as a source parameter changes: moved or
/// reloaded (another storage) or modified in place (optimiser step, copy_;
/// seen through the tensors' version counters). Never cached when a source is
/// an inference tensor (no version counter) or needs autograd.
class DerivedTensors {
 public:
  using Maker = std::function<std::vector<torch::Tensor>()>;
  /// make()'s result, from the cache when `sources` are unchanged since it ran.
  std::vector<torch::Tensor> get(const std::vector<torch::Tensor> &sources, const Maker &make);

 private:
  struct Key {
    const void *impl, *data;
    int64_t version;
    bool operator==(const Key &o) const {
      return impl == o.impl && data == o.data && version == o.version;
    }
  };
  std::vector<Key> key_;
  std::vector<torch::Tensor> values_;
};

// ------------------------------------------------------- S3D building blocks

/// Conv3d 1x1x1 (no bias) -> BatchNorm3d(eps 1e-3, momentum 1e-3) -> ReLU
/// (model-spec A.2 BasicConv3d). With Arithmetic::Rewritten, eval mode folds the
/// BatchNorm into the convolution (one pass less).
struct BasicConv3dImpl : torch::nn::Module {
  BasicConv3dImpl(int64_t in, int64_t out, Arithmetic arithmetic = Arithmetic::Rewritten);
  torch::Tensor forward(const torch::Tensor &x);
  torch::nn::Conv3d conv{nullptr};
  torch::nn::BatchNorm3d bn{nullptr};
  torch::nn::ReLU relu{nullptr};

 private:
  Arithmetic arithmetic_;
  DerivedTensors folded_;  // inference: BatchNorm folded into conv (Rewritten only)
};
TORCH_MODULE(BasicConv3d);

/// Options of a separable S3D conv: (1,k,k) spatial then (k,1,1) temporal.
struct SepConv3dOptions {
  SepConv3dOptions(int64_t in, int64_t out, int64_t kernel) : in_(in), out_(out), kernel_(kernel) {}
  TORCH_ARG(int64_t, in);
  TORCH_ARG(int64_t, out);
  TORCH_ARG(int64_t, kernel);
  TORCH_ARG(int64_t, stride) = 1;
  TORCH_ARG(int64_t, padding) = 0;
  /// Read at construction (model::stsanet::Arithmetic).
  TORCH_ARG(Arithmetic, arithmetic) = Arithmetic::Rewritten;
};

/// conv_s (1,k,k) -> bn_s -> relu_s -> conv_t (k,1,1) -> bn_t -> relu_t, no
/// conv biases, S3D's BatchNorm eps/momentum (model-spec A.2 SepConv3d).
struct SepConv3dImpl : torch::nn::Module {
  explicit SepConv3dImpl(const SepConv3dOptions &options);
  torch::Tensor forward(const torch::Tensor &x);
  torch::nn::Conv3d conv_s{nullptr}, conv_t{nullptr};
  torch::nn::BatchNorm3d bn_s{nullptr}, bn_t{nullptr};
  torch::nn::ReLU relu_s{nullptr}, relu_t{nullptr};

 private:
  Arithmetic arithmetic_;
  DerivedTensors folded_s_, folded_t_;  // inference: BatchNorms folded (Rewritten only)
};
TORCH_MODULE(SepConv3d);

/// Inception block of S3D: four Sequentials branch0..branch3 concatenated on
/// channels; branch3 = [MaxPool3d(3, 1, 1), BasicConv3d], hence the key
/// `branch3.1.*` (model-spec A.2).
struct MixedImpl : torch::nn::Module {
  explicit MixedImpl(const MixedWidths &widths);
  torch::Tensor forward(const torch::Tensor &x);
  torch::nn::Sequential branch0{nullptr}, branch1{nullptr}, branch2{nullptr}, branch3{nullptr};

 private:
  BasicConv3d b0_{nullptr}, b1_reduce_{nullptr}, b2_reduce_{nullptr}, b3_{nullptr};
  SepConv3d b1_{nullptr}, b2_{nullptr};
};
TORCH_MODULE(Mixed);

/// The S3D backbone as STSANet uses it (model-spec A.3): returns the four
/// level features F1..F4 (official 192x16x56x96, 480x16x28x48, 832x8x14x24,
/// 1024x4x7x12 per sample). base1 (F1, which feeds branch 0's bottleneck)
/// uses Arithmetic::Official, the Mixed blocks Arithmetic::Rewritten.
struct S3DBackboneImpl : torch::nn::Module {
  explicit S3DBackboneImpl(const Geometry &geometry);
  std::array<torch::Tensor, 4> forward(const torch::Tensor &x);
  /// F2..F4 from F1 (base1's output); forward(x) is forward_from_f1(base1(x)).
  std::array<torch::Tensor, 4> forward_from_f1(const torch::Tensor &f1);
  torch::nn::Sequential base1{nullptr}, base2{nullptr}, base3{nullptr}, base4{nullptr};
  torch::nn::MaxPool3d maxpooling2{nullptr}, maxpooling3{nullptr}, maxpooling4{nullptr};
};
TORCH_MODULE(S3DBackbone);

/// F1 of consecutive sliding windows without recomputing what the previous
/// windows already computed. base1 opens with conv_s (spatial), a temporal
/// convolution (kernel 7 stride 2) and a spatial max pool, so each row of the
/// pooled output depends on a known run of input frames: a row whose frames
/// (the same prepared tensors, compared by identity) sit at the same
/// positions relative to the convolution's zero padding has the same value.
/// The cache keeps the pooled rows of the temporal convolution of the last
/// two windows (a one-frame shift changes the stride-2 phase, so a row recurs
/// two windows later) and computes only the missing ones (conv_s of the frames
/// they read, then those rows), with the window's padding as explicit zero
/// rows; the rest of base1 (BasicConv3d and the second
/// separable convolution) runs on all rows in one call (see stem_cache.cpp
/// why). Every operation is one base1 runs; on the CPU the result is
/// bit-identical to base1 (tested at the official size), so branch 0's arg-max
/// sees the same values. On CUDA (not run here) cuDNN may pick another
/// algorithm for fewer rows, so expect agreement within rounding. Sliding by
/// one frame, a window computes conv_s on 13 of 32 frames and 4 of 16 pooled rows.
/// Inference only (batch 1, eval mode, no autograd); holds references to the
/// frames it keys on (so their identity stays unique).
class StemCache {
 public:
  /// F1 (1, C, T', h, w) of the window `frames` ((3, H, W) prepared tensors,
  /// on the network's device and dtype). Falls back to base1 on the stacked
  /// clip when base1's layout is not the one described above.
  torch::Tensor f1(S3DBackboneImpl &backbone, const std::vector<torch::Tensor> &frames);
  /// Drops every cached tensor.
  void clear();
  /// Frames, pooled rows and F1 rows computed by the last f1() call (tests, benchmarks).
  struct Work {
    int64_t frames = 0, mid_rows = 0, f1_rows = 0;
  };
  Work last_work() const { return work_; }

 private:
  using Key = std::vector<const void *>;
  struct Entry {
    torch::Tensor value;
    std::vector<torch::Tensor> pins;  // the frames keyed on: their addresses stay unique
    int64_t last_window = 0;
  };
  std::map<Key, Entry> mid_;
  int64_t window_ = 0;
  Work work_;
};


// --------------------------------------------------------------- STSA branch

/// The q, k and v embeddings of one side (a or b) of one STSA group
/// (model-spec A.4.2): Sequentials with convs at indices 0 and 2, ReLUs at 1, 3.
struct StsaEmbeddings {
  torch::nn::Sequential q{nullptr}, k{nullptr}, v{nullptr};
};

/// Spatio-temporal self-attention branch i (model-spec A.4.5, A.4.6):
/// temporal compression to 4 steps, STSA layer I, LayerNorm residual, mid
/// conv, STSA layer II, LayerNorm residual. Branch 0 wraps both STSA layers in
/// a 2x2 max-pool / max-unpool spatial bottleneck; that branch computes with
/// Arithmetic::Official so that its arg-max positions are PyTorch's.
/// Layers (official names): branch{i}_pre (absent for branch 3 at window 32),
/// branch{i}_mid, ln_{i}_0, ln_{i}_1, branch{i}_{j}_{a,b}_{q,k,v} (j = 0, 1:
/// layer I pairs (0,1) and (2,3); j = 2: layer II).
struct StsaBranchImpl : torch::nn::Module {
  StsaBranchImpl(const Geometry &geometry, int index);
  /// level: backbone feature F_{i+1} (B, C_i, T_i, h, w) -> (B, mid_i, 4, h, w).
  torch::Tensor forward(const torch::Tensor &level);

  int index() const { return index_; }
  bool bottleneck() const { return index_ == 0; }
  torch::nn::Sequential pre{nullptr}, mid{nullptr};
  torch::nn::LayerNorm ln_0{nullptr}, ln_1{nullptr};
  /// embeddings[j][s]: group j in 0..2, side s in {0 = a, 1 = b}.
  std::array<std::array<StsaEmbeddings, 2>, 3> embeddings;

 private:
  /// STSA layer I on 4 steps (or layer II on two halves): model-spec A.4.4/A.4.5.
  torch::Tensor layer_one(const torch::Tensor &x);
  torch::Tensor layer_two(const torch::Tensor &x);
  /// stsa(in_a, in_b) with group j: returns (out_a, out_b) concatenated on T.
  torch::Tensor stsa_pair(const torch::Tensor &in_a, const torch::Tensor &in_b, int group);
  /// ln_0 / ln_1 of the STSA residuals, on either activation layout.
  torch::Tensor norm(int which, const torch::Tensor &x);

  int index_;
  Arithmetic arithmetic_;
  std::array<DerivedTensors, 2> ln_layout_;  // inference: LayerNorm affine in (T, h, w, C) order
};
TORCH_MODULE(StsaBranch);

/// Dot-product attention da(q, k, v) of model-spec A.4.3: softmax over keys of
/// q^T k (no 1/sqrt(d) scaling), applied to v. q, k: (B, Cqk, T, h, w);
/// v: (B, Cv, T, h, w) -> (B, Cv, T, h, w).
torch::Tensor dot_product_attention(const torch::Tensor &q, const torch::Tensor &k,
                                    const torch::Tensor &v);

/// The official `pool_2`: max_pool3d k(1,2,2) s(1,2,2) with indices (A.4.6).
/// PyTorch's kernels keep the first maximum in scan order, which decides where
/// an all-zero (post-ReLU) window puts its value back.
std::tuple<torch::Tensor, torch::Tensor> bottleneck_pool(const torch::Tensor &x);
/// The official `unpool_2`: each value of x back at its arg-max `indices`
/// inside the 2x2 window of a tensor shaped like `like`, zeros elsewhere.
torch::Tensor bottleneck_unpool(const torch::Tensor &x, const torch::Tensor &indices,
                                const torch::Tensor &like);

// ---------------------------------------------------------------- AMSF stage

/// Attentional multi-scale fusion stage k (model-spec A.5): spatial attention
/// SA_k, channel attention CA_k, weighted sum of the high (coarser) and low
/// (finer) features, inception inc_k_0..3, ReLU, 2x spatial upsampling.
struct AmsfStageImpl : torch::nn::Module {
  AmsfStageImpl(const Geometry &geometry, int index);
  /// high, low: (B, c, 4, h, w) each -> (B, fusion_out_k, 4, 2h, 2w).
  torch::Tensor forward(const torch::Tensor &high, const torch::Tensor &low);

  torch::nn::Sequential SA{nullptr}, CA{nullptr};
  std::array<torch::nn::Sequential, 4> inc{nullptr, nullptr, nullptr, nullptr};
  torch::nn::Upsample upsample{nullptr};

 private:
  int64_t channels_;
};
TORCH_MODULE(AmsfStage);

}  // namespace stsanet

// ------------------------------------------------------------------- network

/// The whole network: (B, 3, window, height, width) ImageNet-normalised RGB
/// clips -> (B, height, width) saliency of frame window/2 - 1 (clip index 15),
/// sigmoid output in (0, 1). Call eval() before predicting: the S3D backbone
/// has BatchNorm (the only train/eval difference).
struct STSANetImpl : torch::nn::Module {
  explicit STSANetImpl(const STSANetOptions &options = {});
  torch::Tensor forward(const torch::Tensor &clips);
  /// forward() of one window given as its frames ((3, height, width) each),
  /// with base1 through `cache` (StemCache): the same map, less work when
  /// consecutive windows share frames. Inference only.
  torch::Tensor forward_frames(const std::vector<torch::Tensor> &frames, stsanet::StemCache &cache);

  const STSANetOptions &options() const { return options_; }
  const stsanet::Geometry &geometry() const { return geometry_; }
  /// Re-draws every parameter as PyTorch's default initialisation does
  /// (kaiming-uniform convs, unit LayerNorm/BatchNorm), from a generator seeded
  /// with `seed` rather than the global one. Buffers are reset to their
  /// defaults. Parameters must be on the CPU.
  void reset_parameters(std::uint64_t seed);

  /// The functional groupings (their layers are registered on this module).
  stsanet::S3DBackbone backbone{nullptr};
  std::array<stsanet::StsaBranch, 4> branches{nullptr, nullptr, nullptr, nullptr};
  torch::nn::Sequential branch3_beh_0{nullptr};
  std::array<stsanet::AmsfStage, 3> stages{nullptr, nullptr, nullptr};
  torch::nn::Sequential readout_1{nullptr}, readout_2{nullptr};

 private:
  /// The STSA branches, AMSF stages and readout on the backbone's levels.
  torch::Tensor head(std::array<torch::Tensor, 4> levels, int64_t batch);
  /// readout_1 then readout_2, one output step at a time in inference.
  torch::Tensor readout(const torch::Tensor &y);
  STSANetOptions options_;
  stsanet::Geometry geometry_;
};
TORCH_MODULE(STSANet);

/// Initialises the backbone of `net` from an S3D checkpoint (model-spec A.3):
/// either kylemin's Kinetics-400 S3D (`module.base.N.*`, N = 0-3, 5-6, 8-12,
/// 14-15 -> base1.0-3, base2.0-1, base3.0-4, base4.0-1; the classifier `fc.*`
/// is ignored) or STSANet's S3D_backbone.pth (keys already base1..base4).
/// Every backbone tensor must be present with the right shape; the STSA and
/// AMSF layers are left untouched. Throws ModelError naming the file.
/// @returns the number of tensors copied.
std::size_t load_s3d_backbone(STSANetImpl &net, const std::string &path);

// -------------------------------------------------- SaliencyModel adapter

/// STSANet behind the SaliencyModel interface: 32-frame windows with the target
/// at clip index 15 (15 frames before, 16 after; model-spec A.9), frames
/// prepared as the official loader does (A.8).
class STSANetModel : public SaliencyModel {
 public:
  /// Builds the network in eval mode. Weights: see create_stsanet_model.
  explicit STSANetModel(const STSANetOptions &options = {});

  std::string name() const override { return "stsanet"; }
  WindowSpec window_spec() const override;
  /// rgb: uint8 (H, W, 3) -> Pillow-bilinear resize to height x width ->
  /// /255 -> ImageNet mean/std -> float (3, height, width) on rgb's device.
  torch::Tensor prepare_frame(const torch::Tensor &rgb) const override;
  /// windows of `window` prepared frames -> (B, height, width) in (0, 1).
  /// A single window with a stream state goes through that stream's
  /// StemCache (stem_reuse); batches recompute base1.
  torch::Tensor predict(const std::vector<Window> &windows) override;
  /// The stream's stem cache.
  struct StreamCache : StreamState {
    stsanet::StemCache stem;
  };
  std::unique_ptr<StreamState> new_stream_state() const override { return std::make_unique<StreamCache>(); }
  /// Every prepared frame has the same shape: windows of streams of any frame size batch together.
  std::vector<std::int64_t> batch_key(const Window &window) const override;
  /// Layout choices (STSANetTuning); set before predicting.
  void set_tuning(const STSANetTuning &tuning) { tuning_ = tuning; }
  const STSANetTuning &tuning() const { return tuning_; }
  void to(torch::Device device, torch::Dtype dtype) override;
  torch::Device device() const override { return device_; }
  std::int64_t parameter_count() const override;
  /// Floating-point buffer elements (BatchNorm running statistics; the int64
  /// num_batches_tracked counters are not counted).
  std::int64_t buffer_count() const override;
  std::vector<torch::Tensor> parameter_tensors() const override { return net_->parameters(); }

  /// Strict load of a full STSANet checkpoint (official STSANet_DHF1K.pth
  /// layout, with or without `module.`). Throws ModelError naming the file.
  void load_weights(const std::string &path);
  STSANet &network() { return net_; }
  bool supports_half() const override { return true; }
  /// On CUDA, windows go through one graph-captured forward pass (no stem
  /// reuse: the graph recomputes base1, which on a GPU costs less than the
  /// host work of eager execution), with channels-last activations, which
  /// spare cuDNN its layout conversions (in a graph only: eagerly they measured
  /// slower; docs/performance.md, GPU).
  void set_cuda_graphs(bool enabled) override;

 private:
  STSANet net_;
  STSANetTuning tuning_;
  // set_cuda_graphs(true): one graph per batch size, so that a shared
  // instance whose passes hold 1..batch windows does not capture anew each time.
  bool cuda_graphs_ = false;
  std::map<int64_t, std::unique_ptr<CudaGraphedCall>> graphs_;
  torch::Device device_ = torch::kCPU;
  torch::Dtype dtype_ = torch::kFloat32;
};

/// Factory used by create_model for ModelKind::STSANet: loads config.weights
/// strictly, or draws seeded random weights when config.random_init, or throws
/// ModelError saying where the weights come from.
std::unique_ptr<SaliencyModel> create_stsanet_model(const ModelConfig &config);

}  // namespace model
