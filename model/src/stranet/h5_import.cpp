// Import of the official Keras STRA-Net weights (model-spec B.9) with the
// HDF5 C API. The file is walked as a tree (every dataset, whatever the
// layer_names/weight_names attributes say), then mapped by layer name, or for
// Keras' auto-named layers by role in counter order, with every shape checked.
#include <hdf5.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <new>
#include <map>
#include <regex>
#include <set>

#include "salmodel/stranet.hpp"

namespace model {

namespace {

struct H5Handle {  // closes an HDF5 id with its own close function
  hid_t id;
  herr_t (*close)(hid_t);
  ~H5Handle() {
    if (id >= 0) close(id);
  }
};

struct Walk {
  std::vector<H5Dataset> *out;
  std::string error;
  // Floats still allowed in all datasets together: a bound on what a corrupt
  // or hostile file can make us allocate (its dataspaces may claim any size;
  // unallocated or compressed datasets cost no bytes in the file).
  std::uint64_t budget = 0;
  // Links still allowed, and the longest link path accepted: a Keras weight
  // file has a few thousand short names, while a corrupt file can chain its
  // groups into a tree so deep or wide that walking it never ends (found by
  // fuzzing: HDF5 rebuilt ever longer paths for minutes).
  std::uint64_t links_left = 1u << 16;
  static constexpr std::size_t kMaxPathLength = 1024;
};

herr_t visit_link_unchecked(hid_t group, const char *name, Walk *walk);

// HDF5 is C: no exception may cross it, so the callback reports them as errors.
herr_t visit_link(hid_t group, const char *name, const H5L_info_t *, void *data) {
  auto *walk = static_cast<Walk *>(data);
  try {
    return visit_link_unchecked(group, name, walk);
  } catch (const std::bad_alloc &) {
    walk->error = "out of memory reading the datasets";
  } catch (const std::exception &e) {
    walk->error = e.what();
  }
  return -1;
}

herr_t visit_link_unchecked(hid_t group, const char *name, Walk *walk) {
  if (walk->links_left == 0) {
    walk->error = "more than 65536 links (corrupt file?)";
    return -1;
  }
  --walk->links_left;
  if (std::strlen(name) > Walk::kMaxPathLength) {
    walk->error = "a link path longer than 1024 characters (corrupt file?)";
    return -1;
  }
  hid_t obj;
  H5E_BEGIN_TRY { obj = H5Oopen(group, name, H5P_DEFAULT); }
  H5E_END_TRY;
  if (obj < 0) return 0;  // dangling/external link: nothing to read
  H5Handle o{obj, H5Oclose};
  if (H5Iget_type(obj) != H5I_DATASET) return 0;
  H5Handle type{H5Dget_type(obj), H5Tclose};
  if (H5Tget_class(type.id) != H5T_FLOAT) {
    walk->error = std::string("dataset ") + name + " is not floating point";
    return -1;
  }
  H5Handle space{H5Dget_space(obj), H5Sclose};
  const int nd = H5Sget_simple_extent_ndims(space.id);
  if (nd < 0) {
    walk->error = std::string("cannot read the shape of ") + name;
    return -1;
  }
  std::vector<hsize_t> dims(static_cast<std::size_t>(nd), 0);
  H5Sget_simple_extent_dims(space.id, dims.data(), nullptr);
  H5Dataset d;
  d.path = name;
  std::uint64_t n = 1;
  for (auto v : dims) {
    d.shape.push_back(int64_t(v));
    if (v != 0 && n > walk->budget / v) n = walk->budget + 1;  // also guards the product
    else n *= v;
  }
  if (n > walk->budget) {
    walk->error = std::string("dataset ") + name +
                  " claims more values than a file of this size can hold (corrupt file?)";
    return -1;
  }
  walk->budget -= n;
  d.values.resize(static_cast<std::size_t>(n));
  if (n > 0 && H5Dread(obj, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, d.values.data()) < 0) {
    walk->error = std::string("cannot read dataset ") + name;
    return -1;
  }
  walk->out->push_back(std::move(d));
  return 0;
}

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

std::vector<H5Dataset> read_h5_datasets(const std::string &path) {
  htri_t is_h5;
  H5E_BEGIN_TRY { is_h5 = H5Fis_hdf5(path.c_str()); }
  H5E_END_TRY;
  if (is_h5 <= 0) throw ModelError(path + ": cannot open as an HDF5 file (missing, unreadable or not HDF5)");
  hid_t file;
  H5E_BEGIN_TRY { file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT); }
  H5E_END_TRY;
  if (file < 0) throw ModelError(path + ": cannot open as an HDF5 file");
  H5Handle f{file, H5Fclose};
  std::vector<H5Dataset> out;
  Walk walk{&out, {}};
  // Keras writes weights uncompressed; allow 64x the file size (plus 16 Mi
  // floats for tiny files) so that compressed copies still load.
  hsize_t file_bytes = 0;
  H5Fget_filesize(file, &file_bytes);
  walk.budget = 64 * std::uint64_t(file_bytes) / sizeof(float) + (std::uint64_t(1) << 24);
  herr_t rc;
  H5E_BEGIN_TRY { rc = H5Lvisit(file, H5_INDEX_NAME, H5_ITER_INC, visit_link, &walk); }
  H5E_END_TRY;
  if (rc < 0) throw ModelError(path + ": " + (walk.error.empty() ? "cannot walk the HDF5 file" : walk.error));
  return out;
}

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
