// Import of the official Keras STRA-Net weights (model-spec B.9). The file's
// datasets come from read_h5_datasets (the HDF5 walk, run in a child process:
// h5_walk.cpp, h5_child_reader.cpp), then are mapped by layer name, or for
// Keras' auto-named layers by role in counter order, with every shape checked.
#include <algorithm>
#include <cstdint>
#include <map>
#include <regex>
#include <set>

#include "salmodel/stranet.hpp"

namespace model {

namespace {

// "time_distributed_1/A_conv1/kernel:0" -> layer "A_conv1", variable "kernel".
struct KerasName {
  std::string layer, var;
};
KerasName split_name(std::string path) {
  if (path.rfind("model_weights/", 0) == 0) path = path.substr(14);
  const auto colon = path.rfind(':');
  if (colon != std::string::npos && path.find('/', colon) == std::string::npos) path = path.substr(0, colon);
  KerasName k;
  const auto slash = path.rfind('/');
  k.var = slash == std::string::npos ? path : path.substr(slash + 1);
  if (slash != std::string::npos) {
    const std::string head = path.substr(0, slash);
    const auto s2 = head.rfind('/');
    k.layer = s2 == std::string::npos ? head : head.substr(s2 + 1);
  }
  return k;
}

// The counter Keras appends ("conv2d_12" -> 12); -1 without one. Saturates
// instead of throwing on absurdly long numbers (std::stoi would).
long long trailing_number(const std::string &s) {
  const auto p = s.find_last_not_of("0123456789");
  if (p + 1 >= s.size()) return -1;
  long long v = 0;
  for (std::size_t i = p + 1; i < s.size(); ++i) v = std::min(v * 10 + (s[i] - '0'), 1LL << 50);
  return v;
}

std::string join(const std::vector<std::string> &v, std::size_t max_items = 12) {
  std::string s;
  for (std::size_t i = 0; i < v.size() && i < max_items; ++i) s += (i ? ", " : "") + v[i];
  if (v.size() > max_items) s += ", ... (" + std::to_string(v.size()) + " in all)";
  return s;
}

}  // namespace

std::size_t import_keras_h5(STRANetImpl &net, const std::string &path) {
  const auto datasets = read_h5_datasets(path);
  if (datasets.empty()) throw ModelError(path + ": no weights in this HDF5 file");

  // Destination tensors by their module path (parameters and float buffers).
  std::map<std::string, torch::Tensor> dst;
  for (const auto &p : net.named_parameters()) dst[p.key()] = p.value();
  for (const auto &b : net.named_buffers()) {
    const std::string &key = b.key();
    const bool counter = key.size() >= 19 && key.compare(key.size() - 19, 19, "num_batches_tracked") == 0;
    if (b.value().is_floating_point() && !counter) dst[key] = b.value();
  }

  // Layers by Keras layer name: datasets grouped.
  std::map<std::string, std::vector<const H5Dataset *>> layers;
  for (const auto &d : datasets) layers[split_name(d.path).layer].push_back(&d);

  // Keras layer name -> module path prefix (without the trailing '.').
  std::map<std::string, std::string> module_of;
  for (const auto &m : net.named_modules("", /*include_self=*/false)) {
    const std::string key = m.key();
    const auto dot = key.rfind('.');
    const std::string leaf = dot == std::string::npos ? key : key.substr(dot + 1);
    if (leaf.rfind("A_", 0) == 0 || leaf.rfind("M_", 0) == 0) module_of[leaf] = key;
  }
  module_of["ConvGRU2D"] = "ConvGRU2D";
  module_of["ConvGRU2D_BN"] = "ConvGRU2D_BN";

  // Auto-named layers (B.9): conv2d_N and batch_normalization_N in counter
  // order take these roles; the TimeDistributed-wrapped post-GRU BN and head
  // conv may appear under time_distributed_N instead of their inner names.
  const std::vector<std::string> conv_roles = {
      "attention3.conv", "attention3.mask_conv", "fusion4", "attention4.conv", "attention4.mask_conv",
      "fusion5", "attention5.conv", "attention5.mask_conv", "side3", "side4", "side5", "head_conv"};
  std::vector<std::string> bn_roles = {"attention3.bn", "attention4.bn", "attention5.bn"};
  if (!layers.count("ConvGRU2D_BN")) bn_roles.push_back("ConvGRU2D_BN");

  std::vector<std::string> conv_layers, bn_layers, unknown_layers;
  auto has_var = [&](const std::string &layer, const std::string &var) {
    for (const auto *d : layers[layer])
      if (split_name(d->path).var == var) return true;
    return false;
  };
  static const std::regex conv_re("conv2d_[0-9]+"), bn_re("batch_normalization_[0-9]+"),
      td_re("time_distributed_[0-9]+");
  std::vector<std::string> td_conv, td_bn;
  for (const auto &[layer, ds] : layers) {
    if (module_of.count(layer)) continue;
    if (layer.rfind("learning_prior", 0) == 0) {
      module_of[layer] = "learning_prior_1";
    } else if (std::regex_match(layer, conv_re)) {
      conv_layers.push_back(layer);
    } else if (std::regex_match(layer, bn_re)) {
      bn_layers.push_back(layer);
    } else if (std::regex_match(layer, td_re) && has_var(layer, "kernel")) {
      td_conv.push_back(layer);
    } else if (std::regex_match(layer, td_re) && has_var(layer, "gamma")) {
      td_bn.push_back(layer);
    } else if (layer.empty() && ds.size() == 1 && split_name(ds[0]->path).var.rfind("learning_prior", 0) == 0) {
      module_of[layer] = "learning_prior_1";
    } else {
      unknown_layers.push_back(layer.empty() ? ds[0]->path : layer);
    }
  }
  auto by_counter = [](std::vector<std::string> &v) {
    std::sort(v.begin(), v.end(),
              [](const std::string &a, const std::string &b) { return trailing_number(a) < trailing_number(b); });
  };
  by_counter(conv_layers);
  by_counter(bn_layers);
  by_counter(td_conv);
  by_counter(td_bn);
  conv_layers.insert(conv_layers.end(), td_conv.begin(), td_conv.end());
  bn_layers.insert(bn_layers.end(), td_bn.begin(), td_bn.end());
  if (conv_layers.size() != conv_roles.size())
    throw ModelError(path + ": expected " + std::to_string(conv_roles.size()) +
                     " auto-named conv layers (conv2d_N / TimeDistributed head, model-spec B.9), found " +
                     std::to_string(conv_layers.size()) + (conv_layers.empty() ? "" : ": " + join(conv_layers)) +
                     " (not STRA-Net's Keras weights?)");
  if (bn_layers.size() != bn_roles.size())
    throw ModelError(path + ": expected " + std::to_string(bn_roles.size()) +
                     " auto-named BatchNormalization layers, found " + std::to_string(bn_layers.size()) +
                     (bn_layers.empty() ? "" : ": " + join(bn_layers)));
  for (std::size_t i = 0; i < conv_layers.size(); ++i) module_of[conv_layers[i]] = conv_roles[i];
  for (std::size_t i = 0; i < bn_layers.size(); ++i) module_of[bn_layers[i]] = bn_roles[i];

  // Every dataset -> destination tensor, converted; nothing is copied until
  // all of them check out.
  static const std::map<std::string, std::string> var_to_torch = {
      {"kernel", "weight"},          {"bias", "bias"},          {"gamma", "weight"},
      {"beta", "bias"},              {"moving_mean", "running_mean"},
      {"moving_variance", "running_var"}};
  std::vector<std::pair<torch::Tensor, torch::Tensor>> copies;
  std::vector<std::string> unmapped, bad_shapes;
  std::set<std::string> filled;
  for (const auto &l : unknown_layers) unmapped.push_back(l);
  for (const auto &d : datasets) {
    const auto k = split_name(d.path);
    auto mod = module_of.find(k.layer);
    if (mod == module_of.end()) continue;  // already listed as unknown
    std::string key;
    if (mod->second == "learning_prior_1") {
      key = "learning_prior_1.W";
    } else if (mod->second == "ConvGRU2D") {
      key = k.var == "recurrent_kernel" ? "ConvGRU2D.recurrent_kernel"
            : k.var == "kernel"         ? "ConvGRU2D.kernel.weight"
            : k.var == "bias"           ? "ConvGRU2D.kernel.bias"
                                        : "";
    } else if (var_to_torch.count(k.var)) {
      key = mod->second + "." + var_to_torch.at(k.var);
    }
    if (key.empty() || !dst.count(key)) {
      unmapped.push_back(d.path);
      continue;
    }
    auto src = torch::from_blob(const_cast<float *>(d.values.data()), d.shape, torch::kFloat32);
    // Conv kernels: Keras HWIO (kh, kw, in, out) -> OIHW; the ConvGRU kernels
    // keep their [z | r | h] gate blocks along O (B.9).
    if (src.dim() == 4) src = src.permute({3, 2, 0, 1});
    const auto &t = dst.at(key);
    if (src.sizes() != t.sizes()) {
      bad_shapes.push_back(d.path + " " + c10::str(d.shape) + " for " + key + " " + c10::str(t.sizes()));
      continue;
    }
    if (!filled.insert(key).second) {
      unmapped.push_back(d.path + " (second source for " + key + ")");
      continue;
    }
    copies.emplace_back(t, src);
  }
  std::vector<std::string> missing;
  for (const auto &[key, t] : dst)
    if (!filled.count(key)) missing.push_back(key);
  if (!bad_shapes.empty()) throw ModelError(path + ": shape mismatch: " + join(bad_shapes));
  if (!unmapped.empty()) throw ModelError(path + ": datasets not matched to any STRA-Net layer: " + join(unmapped));
  if (!missing.empty()) throw ModelError(path + ": no weights in the file for: " + join(missing));

  torch::NoGradGuard no_grad;
  for (auto &[t, src] : copies) t.copy_(src);
  return copies.size();
}

}  // namespace model
