// Initialising both STRA-Net streams from a torchvision ImageNet ResNet-50
// checkpoint (resnet50-*.pth), for training (issue: "Accept torchvision-layout
// ImageNet ResNet-50 .pth files to initialise both streams").
//
// Mapping (torchvision -> Keras/Caffe names, model-spec B.2):
//   conv1, bn1                      -> X_conv1, X_bn_conv1
//   layer{1,2,3,4}.{i}.conv{1,2,3}  -> X_res{2,3,4,5}{a,b,...}_branch2{a,b,c}
//   layer{1,2,3,4}.{i}.bn{1,2,3}    -> X_bn{2,3,4,5}{a,b,...}_branch2{a,b,c}
//   layer{l}.0.downsample.{0,1}     -> X_res{l+1}a_branch1, X_bn{l+1}a_branch1
// torchvision convolutions have no bias: the Keras-style biases start at zero.
// torchvision is ResNet v1.5 (stride on the 3x3 conv, BN eps 1e-5) while the
// streams are Caffe-style (stride on the 1x1 conv, eps 1e-3): weights have the
// same shapes and are a starting point for training, not an equivalent network.
// The motion stream's conv1 takes 10 flow channels: its kernel is the mean of
// the 3 RGB kernels repeated over the 10 channels, the cross-modality
// initialisation of temporal segment networks (Wang et al., ECCV 2016), since
// STRA-Net does not say how its M_ weights were derived (model-spec B.9).
#include <torch/torch.h>

#include "salmodel/checkpoint.hpp"
#include "salmodel/stranet.hpp"

namespace model {

namespace {

const char *kStageBlocks[4] = {"abc", "abcd", "abcdef", "abc"};

void add_conv_bn(StateDict &out, const std::map<std::string, torch::Tensor> &tv, const std::string &tv_conv,
                 const std::string &tv_bn, const std::string &stream, const std::string &conv,
                 const std::string &bn, const std::string &source) {
  auto get = [&](const std::string &k) -> const torch::Tensor & {
    auto it = tv.find(k);
    if (it == tv.end()) throw ModelError(source + ": not a torchvision ResNet-50 checkpoint (missing key " + k + ")");
    return it->second;
  };
  const torch::Tensor &w = get(tv_conv + ".weight");
  out.emplace_back(stream + "." + conv + ".weight", w);
  out.emplace_back(stream + "." + conv + ".bias", torch::zeros({w.size(0)}, w.options()));
  for (const char *p : {"weight", "bias", "running_mean", "running_var"})
    out.emplace_back(stream + "." + bn + "." + p, get(tv_bn + "." + p));
}

}  // namespace

std::size_t init_from_torchvision_resnet50(STRANetImpl &net, const std::string &path) {
  std::map<std::string, torch::Tensor> tv;
  for (auto &[k, v] : read_checkpoint(path)) tv[k.rfind("module.", 0) == 0 ? k.substr(7) : k] = v;
  StateDict state;
  for (const auto &[stream, prefix] : {std::pair<std::string, std::string>{"appearance", "A_"}, {"motion", "M_"}}) {
    const std::size_t first = state.size();
    add_conv_bn(state, tv, "conv1", "bn1", stream, prefix + "conv1", prefix + "bn_conv1", path);
    if (stream == "motion") {
      // 10 flow channels from 3 colour channels: mean kernel, repeated (see above).
      torch::Tensor &w = state[first].second;
      const int64_t in = net.motion->conv1.conv->weight.size(1);
      w = w.mean(1, /*keepdim=*/true).repeat({1, in, 1, 1});
    }
    for (int l = 0; l < 4; ++l) {
      const std::string blocks = kStageBlocks[l];
      for (std::size_t i = 0; i < blocks.size(); ++i) {
        const std::string tvb = "layer" + std::to_string(l + 1) + "." + std::to_string(i) + ".";
        const std::string id = std::to_string(l + 2) + blocks[i];
        for (int c = 0; c < 3; ++c) {
          const std::string branch = std::string("_branch2") + char('a' + c);
          add_conv_bn(state, tv, tvb + "conv" + std::to_string(c + 1), tvb + "bn" + std::to_string(c + 1), stream,
                      prefix + "res" + id + branch, prefix + "bn" + id + branch, path);
        }
        if (i == 0)
          add_conv_bn(state, tv, tvb + "downsample.0", tvb + "downsample.1", stream, prefix + "res" + id + "_branch1",
                      prefix + "bn" + id + "_branch1", path);
      }
    }
  }
  LoadOptions options;
  options.allow_missing = true;  // fusion, attention, GRU, prior and head keep their initialisation
  return load_state_dict(net, state, path, options);
}

}  // namespace model
