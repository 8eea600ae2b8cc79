// STRA-Net (Lai et al., "Video Saliency Prediction using Spatiotemporal
// Residual Attentive Networks", TIP 2019) in LibTorch, computed as the
// official Keras code (ashleylqx/STRA-Net, Codes/*.py) computes it
// (model-spec Part B), so that the official UHD_dcross_res_matt_res.h5
// weights can be imported (model-spec B.9).
//
// Where the paper and the official code differ this follows the code
// (model-spec B.13): sigmoid before the spatial softmax of the local attention,
// dilation 2 (res4) and 4 (res5), hard-sigmoid ConvGRU gates with a BatchNorm
// after the GRU, per-component flow clipping, the R/B mean swap and legacy
// TensorFlow x8 bilinear upsampling. See model/README-stranet.md.
//
// Layout: PyTorch NCHW throughout. Every layer is registered under its Keras
// layer name (`A_res2a_branch2a`, `M_bn_conv1`, `ConvGRU2D`, ...) inside a few
// functional groupings; the auto-named Keras layers (`conv2d_N`,
// `batch_normalization_N`, `learning_prior_1`, the TimeDistributed head) get
// descriptive names here and are mapped by role, order and shape on import.
#pragma once

#include <torch/nn.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "salmodel/saliency_model.hpp"

namespace model {

/// How prepare_flow brings a flow field to the letterbox (model-spec B.10.2).
enum class FlowResize {
  /// [parity] the official np.resize (C-order truncation/cyclic repetition of
  /// each component plane, no interpolation), vectors in pixels of the
  /// original frame and not rescaled. With flows computed at frame resolution
  /// (the Predictor's grid, flow_width 0) this reproduces exactly the inputs
  /// the official test script feeds the released weights with.
  NumpyResize,
  /// Bilinear resize of the field into the letterbox, vectors rescaled to
  /// letterbox (224-grid) pixels: geometrically sensible, but not the
  /// distribution the released weights were trained on.
  Interpolate,
};

/// Options of the network and its pre-processing. Every option is read once,
/// at construction; changing it afterwards has no effect.
struct STRANetOptions {
  /// Divides every channel width of the official configuration (rounding up):
  /// 1 is the official model (168,130,839 weights incl. BatchNorm statistics);
  /// 8 or 16 give small networks for tests. The spatial sizes (224 input, 28x28
  /// features, 16 Gaussians) never change: the official model hard-codes them.
  TORCH_ARG(int64_t, width_divisor) = 1;
  /// How prepare_flow brings a flow field to the letterbox.
  TORCH_ARG(FlowResize, flow_resize) = FlowResize::NumpyResize;
};

namespace stranet {

/// Input side of the network (model-spec B.1): 224x224 frames, 28x28 features.
constexpr int64_t kInputSize = 224;
constexpr int64_t kFeatureSize = 28;
constexpr int64_t kGaussians = 16;      ///< nb_gaussian (B.6)
constexpr int64_t kFlowsPerFrame = 5;   ///< opt_num (B.10.2): flows t .. t+4

/// Channel widths of one configuration (official: width_divisor 1).
struct Widths {
  explicit Widths(int64_t divisor);  // throws ModelError for divisor < 1
  int64_t operator()(int64_t official) const { return (official + divisor - 1) / divisor; }
  int64_t divisor;
};

/// Conv2D + BatchNormalization pair of the ResNet streams, with Keras'
/// conventions (model-spec B.2): conv bias, BN eps 1e-3.
struct ConvBn {
  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
  torch::Tensor forward(const torch::Tensor &x) const { return bn.ptr()->forward(conv.ptr()->forward(x)); }
};

/// One ResNet-50 bottleneck (Keras conv_block / conv_block_atrous /
/// identity_block, model-spec B.2); `shortcut.conv` is null for identity blocks.
struct Bottleneck {
  ConvBn branch2a, branch2b, branch2c, shortcut;
  torch::Tensor forward(const torch::Tensor &x) const;
};

/// A Keras/Caffe-style ResNet-50 stream, appearance (`A_`, 3 input channels)
/// or motion (`M_`, 10 flow channels), output stride 8 (model-spec B.2).
/// Layers are registered under their Keras names (`A_conv1`, `A_bn2a_branch2a`, ...).
struct ResNetStreamImpl : torch::nn::Module {
  ResNetStreamImpl(const std::string &prefix, int64_t in_channels, const Widths &widths);
  /// conv1 (7x7/2 valid) -> BN -> ReLU -> max-pool 3x3/2 'same' -> res2 -> res3:
  /// (B, in, 224, 224) -> (B, 512, 28, 28).
  torch::Tensor stage3(const torch::Tensor &x) const;
  /// res4 (dilation 2): (B, 512, 28, 28) -> (B, 1024, 28, 28).
  torch::Tensor stage4(const torch::Tensor &x) const;
  /// res5 (dilation 4): (B, 1024, 28, 28) -> (B, 2048, 28, 28).
  torch::Tensor stage5(const torch::Tensor &x) const;
  /// conv1 -> BN -> ReLU (109x109 at 224 input); then the max-pool (55x55).
  torch::Tensor stem_conv(const torch::Tensor &x) const;
  torch::Tensor stem_pool(const torch::Tensor &x) const;
  /// res2 only (55x55x256), for shape traces.
  torch::Tensor stage2(const torch::Tensor &x) const;

  ConvBn conv1;
  std::vector<Bottleneck> res2, res3, res4, res5;

 private:
  ConvBn make(const std::string &conv_name, const std::string &bn_name, int64_t in, int64_t out,
              int64_t kernel, int64_t stride, int64_t dilation);
  Bottleneck make_block(const std::string &prefix, int stage, char block, int64_t in,
                        int64_t mid, int64_t out, int64_t stride, int64_t dilation, bool shortcut);
};
TORCH_MODULE(ResNetStream);

/// Local attention with residual form (model-spec B.4): a = sigmoid(conv1x1(
/// BN(ReLU(conv3x3(x))))); M = softmax of a over the 28x28 positions; the
/// output is x + x * M. `conv`, `bn`, `mask_conv` are Keras' conv2d_{1,4,7},
/// batch_normalization_{1,2,3} and conv2d_{2,5,8}.
struct LocalAttentionImpl : torch::nn::Module {
  LocalAttentionImpl(int64_t channels, int64_t hidden);
  struct Output {
    torch::Tensor features;  ///< x + x * M, (B, C, h, w)
    torch::Tensor mask;      ///< M, (B, 1, h, w), sums to 1 over h x w
  };
  Output forward(const torch::Tensor &x);
  torch::nn::Conv2d conv{nullptr}, mask_conv{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
};
TORCH_MODULE(LocalAttention);

/// Keras 2.2.4 hard_sigmoid: clip(0.2 x + 0.5, 0, 1) (model-spec B.5).
torch::Tensor hard_sigmoid(const torch::Tensor &x);

/// ConvGRU2D (model-spec B.5): `kernel` is the input convolution for the three
/// gates at once (in -> 3F, bias, gate blocks [z | r | h]); `recurrent_kernel`
/// (3F, F, 3, 3) has no bias. Padding 'same', stride 1.
struct ConvGRUImpl : torch::nn::Module {
  ConvGRUImpl(int64_t in_channels, int64_t filters, int64_t kernel_size = 3);
  /// The input convolution of one or several time steps: (N, in, h, w) -> (N, 3F, h, w).
  torch::Tensor input_gates(const torch::Tensor &x);
  /// One step from precomputed input gates (1 or B, 3F, h, w) and state h
  /// (same batch, F, h, w): z, r = hard_sigmoid(...), h~ = tanh(x_h + (r*h) * U_h),
  /// h' = (1 - z) h + z h~. Returns h'.
  torch::Tensor step(const torch::Tensor &x_gates, const torch::Tensor &h) const;
  int64_t filters() const { return filters_; }
  torch::nn::Conv2d kernel{nullptr};
  torch::Tensor recurrent_kernel;

 private:
  int64_t filters_, padding_;
};
TORCH_MODULE(ConvGRU);

/// LearningPrior (model-spec B.6): K Gaussians from one weight vector
/// W = [mu_x(K) | mu_y(K) | sigma_x(K) | sigma_y(K)], clipped on every call
/// (mu_x in [0.25, 0.75], mu_y in [0.35, 0.65], sigma_x in [0.1, 0.9],
/// sigma_y in [0.2, 0.8]), each map divided by its maximum.
struct GaussianPriorImpl : torch::nn::Module {
  explicit GaussianPriorImpl(int64_t gaussians = kGaussians);
  /// (K, height, width) maps, x along columns (linspace 0..1), y along rows.
  torch::Tensor forward(int64_t height, int64_t width) const;
  torch::Tensor W;
};
TORCH_MODULE(GaussianPrior);

/// TensorFlow 1.x resize_bilinear(align_corners=False) without half-pixel
/// centres (model-spec B.7): src = o * in / out, i0 = floor(src),
/// i1 = min(i0 + 1, in - 1). x: (..., h, w) -> (..., out_h, out_w).
torch::Tensor resize_bilinear_tf_legacy(const torch::Tensor &x, int64_t out_h, int64_t out_w);

/// Intermediate tensors of one forward pass, for tests and diagnostics.
struct Trace {
  torch::Tensor a_conv1, a_pool, a2, a3, a4, a5;  ///< appearance stream
  torch::Tensor m3, m4, m5;                        ///< motion stream
  torch::Tensor x3, x4, x5;                        ///< after local attention
  torch::Tensor sd3, sd4, sd5;                     ///< side outputs at 28x28 (sigmoid)
  torch::Tensor mask3, mask4, mask5;               ///< attention masks M3..M5
};

}  // namespace stranet

/// The whole network for one time step: appearance + motion streams, dense
/// residual cross connections, local attention, ConvGRU, post-GRU BN, Gaussian
/// prior, 1x1 sigmoid head and legacy TF x8 upsampling (model-spec B.2-B.7).
/// Call eval() before predicting (BatchNorm).
struct STRANetImpl : torch::nn::Module {
  explicit STRANetImpl(const STRANetOptions &options = {});

  /// Per-frame features x5 (B, 2048, 28, 28) from frames (B, 3, 224, 224) and
  /// stacked flows (B, 10, 224, 224). `trace`, if given, receives intermediates.
  torch::Tensor features(const torch::Tensor &image, const torch::Tensor &flow,
                         stranet::Trace *trace = nullptr);
  /// Steps the GRU through the B frames of `x5` in order (batch index = time),
  /// starting from `state` (1, F, 28, 28) or zeros when undefined; `state` is
  /// updated to the last step. Returns (B, 224, 224) maps in (0, 1).
  torch::Tensor forward(const torch::Tensor &image, const torch::Tensor &flow, torch::Tensor &state);
  /// Head on a GRU output h (B, F, 28, 28): BN, concat prior, 1x1 sigmoid, x8.
  torch::Tensor head(const torch::Tensor &h);

  /// Keras-like seeded initialisation from a generator of its own: glorot-
  /// uniform kernels (also the GRU recurrent kernel, which Keras initialises
  /// orthogonally), zero biases, identity BN, ones for the attention mask convs,
  /// the prior's uniform ranges of B.6. Parameters must be on the CPU.
  void reset_parameters(std::uint64_t seed);

  const STRANetOptions &options() const { return options_; }

  stranet::ResNetStream appearance{nullptr}, motion{nullptr};
  torch::nn::Conv2d fusion4{nullptr}, fusion5{nullptr};            ///< conv2d_3, conv2d_6
  stranet::LocalAttention attention3{nullptr}, attention4{nullptr}, attention5{nullptr};
  torch::nn::Conv2d side3{nullptr}, side4{nullptr}, side5{nullptr};  ///< conv2d_9..11
  stranet::ConvGRU ConvGRU2D{nullptr};
  torch::nn::BatchNorm2d ConvGRU2D_BN{nullptr};
  stranet::GaussianPrior learning_prior_1{nullptr};
  torch::nn::Conv2d head_conv{nullptr};                             ///< conv2d_12

 private:
  STRANetOptions options_;
  stranet::Widths widths_;
};
TORCH_MODULE(STRANet);

/// Imports Keras weights saved by `save_weights` (or `model.save`, under
/// `model_weights/`) into `net` (model-spec B.9): HWIO kernels to OIHW, BN
/// gamma/beta/moving_mean/moving_variance to weight/bias/running stats,
/// explicitly named layers by name, auto-named ones (conv2d_N,
/// batch_normalization_N, time_distributed_N, learning_prior_N) by role in
/// counter order, with every shape checked. Every tensor of the network must
/// be filled and every dataset of the file used; otherwise throws ModelError
/// naming the file and the offending names (nothing is loaded in that case).
/// @returns the number of datasets imported.
std::size_t import_keras_h5(STRANetImpl &net, const std::string &path);

/// Initialises both ResNet-50 streams from a torchvision ImageNet ResNet-50
/// checkpoint (torch.save state dict, e.g. resnet50-0676ba61.pth) for training:
/// conv and BN weights by the name mapping in torchvision_init.cpp, zero conv
/// biases, and the motion stream's 10-channel conv1 as the mean RGB kernel
/// repeated (cross-modality initialisation). The rest of the network keeps its
/// initialisation. Throws ModelError naming the file and any missing or
/// mis-shaped key (nothing is loaded then). @returns the tensors copied.
std::size_t init_from_torchvision_resnet50(STRANetImpl &net, const std::string &path);

/// One dataset of an HDF5 file: path inside the file, shape, values as float.
struct H5Dataset {
  std::string path;
  std::vector<int64_t> shape;
  std::vector<float> values;
};
/// Every floating-point dataset of an HDF5 file, in path order (HDF5 C API).
/// Throws ModelError naming the file when it cannot be read.
std::vector<H5Dataset> read_h5_datasets(const std::string &path);

// -------------------------------------------------- SaliencyModel adapter

/// STRA-Net behind the SaliencyModel interface (model-spec B.10, B.11).
/// Windows: the target frame and 5 frames of look-ahead, whose 5 flows
/// (t+k -> t+k+1, k = 0..4) form the motion input; flow on the frame's own
/// grid (flow_width 0). Recurrent: the ConvGRU state lives in the stream's
/// StreamState (GruState) and advances one step per predicted frame. The
/// official script runs 5-frame stateful chunks; stepping frame by frame with
/// the state carried gives the same outputs, because each GRU output depends
/// only on earlier steps (zero-padded tail steps of a short last chunk come
/// after every real frame).
class STRANetModel : public SaliencyModel {
 public:
  explicit STRANetModel(const STRANetOptions &options = {});

  std::string name() const override { return "stranet"; }
  WindowSpec window_spec() const override;
  /// rgb uint8 (H, W, 3) -> letterbox 224x224 with Pillow bilinear, mean
  /// subtraction with the official R/B swap, BGR order (B.10.1) -> (3, 224, 224).
  torch::Tensor prepare_frame(const torch::Tensor &rgb) const override;
  /// flow float (h, w, 2) in pixels of its grid -> (2, 224, 224) letterboxed
  /// (flow_resize), clipped per component (|v| < 0.1 -> 0, +-20).
  torch::Tensor prepare_flow(const torch::Tensor &flow, int frame_width, int frame_height) const override;
  /// Windows in frame order -> (B, h, w) maps of the letterbox region of the
  /// 224x224 output (h x w = the resized frame inside the letterbox of the
  /// windows' frame size). Consecutive windows of one stream go through the
  /// GRU as one sequence from the stream's state; a window without a state
  /// starts from zero and keeps nothing.
  torch::Tensor predict(const std::vector<Window> &windows) override;
  /// A stream's ConvGRU state (undefined until its first frame).
  struct GruState : StreamState {
    torch::Tensor state;
  };
  std::unique_ptr<StreamState> new_stream_state() const override { return std::make_unique<GruState>(); }
  void to(torch::Device device, torch::Dtype dtype) override;
  torch::Device device() const override { return device_; }
  std::int64_t parameter_count() const override;
  std::int64_t buffer_count() const override;
  std::vector<torch::Tensor> parameter_tensors() const override { return net_->parameters(); }

  /// Imports the official Keras h5 weights (import_keras_h5).
  void load_weights(const std::string &path);
  STRANet &network() { return net_; }

  /// The 10 motion channels of one frame from its 5 prepared flows (2, 224,
  /// 224) each, k = 0..4: [u0, v0, ..., u4, v4] reversed (B.10.2).
  static torch::Tensor stack_flows(const std::vector<torch::Tensor> &flows);

  /// The letterbox of a frame (model-spec B.10.1): resized size and offset.
  struct Letterbox {
    int64_t rows, cols, top, left;
  };
  static Letterbox letterbox(int64_t height, int64_t width);

 private:
  STRANet net_;
  torch::Device device_ = torch::kCPU;
  torch::Dtype dtype_ = torch::kFloat32;
  torch::MemoryFormat memory_format_ = torch::MemoryFormat::Contiguous;
};

/// Factory used by create_model for ModelKind::STRANet: imports config.weights
/// (Keras .h5), or draws seeded random weights when config.random_init, or
/// throws ModelError saying where the weights come from.
std::unique_ptr<SaliencyModel> create_stranet_model(const ModelConfig &config);

}  // namespace model
