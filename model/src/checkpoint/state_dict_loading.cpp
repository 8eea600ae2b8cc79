// load_state_dict / module_state_dict: strict, all-or-nothing loading of a
// StateDict into a torch::nn::Module (model-spec A.7: strip "module.",
// tolerate a missing num_batches_tracked, name every mismatch).
#include <torch/nn/module.h>

#include <algorithm>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "salmodel/checkpoint.hpp"

namespace model {

namespace {

constexpr std::size_t kNamesShown = 5;  // names listed per kind of mismatch

void collect_state(const torch::nn::Module &module, const std::string &prefix, StateDict &out) {
  // Python's Module.state_dict order: own parameters, own buffers, children.
  for (const auto &p : module.named_parameters(/*recurse=*/false))
    if (p.value().defined()) out.emplace_back(prefix + p.key(), p.value());
  for (const auto &b : module.named_buffers(/*recurse=*/false))
    if (b.value().defined()) out.emplace_back(prefix + b.key(), b.value());
  for (const auto &child : module.named_children())
    collect_state(*child.value(), prefix + child.key() + ".", out);
}

bool is_num_batches_tracked(const std::string &key) {
  static const std::string leaf = "num_batches_tracked";
  return key == leaf ||
         (key.size() > leaf.size() &&
          key.compare(key.size() - leaf.size() - 1, std::string::npos, "." + leaf) == 0);
}

// "3 missing keys (a, b, c)", "7 unexpected keys (a, b, c, d, e and 2 more)".
std::string name_list(const std::vector<std::string> &names, const char *singular,
                      const char *plural) {
  std::ostringstream s;
  s << names.size() << ' ' << (names.size() == 1 ? singular : plural) << " (";
  for (std::size_t i = 0; i < names.size() && i < kNamesShown; i++)
    s << (i ? ", " : "") << names[i];
  if (names.size() > kNamesShown) s << " and " << names.size() - kNamesShown << " more";
  s << ')';
  return s.str();
}

}  // namespace

StateDict module_state_dict(const torch::nn::Module &module) {
  StateDict out;
  collect_state(module, "", out);
  return out;
}

std::size_t load_state_dict(torch::nn::Module &module, const StateDict &state,
                            const std::string &source, const LoadOptions &options) {
  const StateDict targets = module_state_dict(module);
  std::unordered_map<std::string, std::size_t> target_index;
  for (std::size_t i = 0; i < targets.size(); i++) target_index.emplace(targets[i].first, i);

  // Match every checkpoint key to a module key, stripping a prefix only where
  // that is what makes it match (a module may have a child named "module").
  std::vector<const torch::Tensor *> source_of(targets.size(), nullptr);
  std::vector<std::string> unexpected, mismatched, duplicated;
  for (const auto &[key, tensor] : state) {
    auto it = target_index.find(key);
    for (std::size_t p = 0; it == target_index.end() && p < options.strip_prefixes.size(); p++) {
      const std::string &prefix = options.strip_prefixes[p];
      if (!prefix.empty() && key.compare(0, prefix.size(), prefix) == 0)
        it = target_index.find(key.substr(prefix.size()));
    }
    if (it == target_index.end()) {
      unexpected.push_back(key);
      continue;
    }
    const std::size_t i = it->second;
    if (source_of[i]) {
      duplicated.push_back(targets[i].first);
      continue;
    }
    source_of[i] = &tensor;
    const torch::Tensor &target = targets[i].second;
    if (!tensor.defined())
      mismatched.push_back(targets[i].first + ": checkpoint holds an undefined tensor");
    else if (tensor.sizes() != target.sizes())
      mismatched.push_back(targets[i].first + ": checkpoint " + c10::str(tensor.sizes()) +
                           " vs model " + c10::str(target.sizes()));
  }
  std::vector<std::string> missing;
  for (std::size_t i = 0; i < targets.size(); i++) {
    if (source_of[i]) continue;
    if (options.allow_missing_num_batches_tracked && is_num_batches_tracked(targets[i].first))
      continue;
    missing.push_back(targets[i].first);
  }

  std::vector<std::string> problems;
  if (!missing.empty() && !options.allow_missing)
    problems.push_back(name_list(missing, "missing key", "missing keys"));
  if (!unexpected.empty() && !options.allow_unexpected)
    problems.push_back(name_list(unexpected, "unexpected key", "unexpected keys"));
  if (!mismatched.empty())
    problems.push_back(name_list(mismatched, "shape mismatch", "shape mismatches"));
  if (!duplicated.empty())
    problems.push_back(name_list(duplicated, "key given twice (with and without a prefix)",
                                 "keys given twice (with and without a prefix)"));
  if (!problems.empty()) {
    std::string message = source + ": ";
    for (std::size_t i = 0; i < problems.size(); i++) message += (i ? ", " : "") + problems[i];
    const bool none_matched =
        std::none_of(source_of.begin(), source_of.end(), [](auto *t) { return t != nullptr; });
    if (none_matched && !state.empty() && !targets.empty())
      message += " (no checkpoint key matches the model: wrong model or checkpoint?)";
    throw ModelError(message);
  }

  // Everything checked: copy, converting to each parameter's dtype and device.
  torch::NoGradGuard no_grad;
  std::size_t copied = 0;
  for (std::size_t i = 0; i < targets.size(); i++) {
    if (!source_of[i]) continue;
    torch::Tensor target = targets[i].second;
    target.copy_(*source_of[i]);
    copied++;
  }
  return copied;
}

}  // namespace model
