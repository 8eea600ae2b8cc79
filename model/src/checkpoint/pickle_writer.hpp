// Writes the data.pkl record of a torch.save file for a state dict
// (internal to libsalmodel). The output is what PyTorch 1.13's torch.save
// writes for an OrderedDict of tensors at its default pickle protocol 2,
// minus the memo (torch.load does not need it) and the _metadata attribute.
#pragma once

#include <torch/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "salmodel/checkpoint.hpp"

namespace model::pickle {

/// The pickle of one state dict and the storages it refers to, which the
/// caller writes as records data/0, data/1, ... (their index is their key).
class StateDictPickler {
 public:
  /// Groups the tensors by storage (tensors sharing one stay sharing), moving
  /// non-CPU tensors to the CPU. Throws ModelError naming the key for an
  /// undefined tensor, a layout or dtype torch.save's storages cannot hold,
  /// or two tensors viewing one storage as different dtypes.
  explicit StateDictPickler(const StateDict &state);

  const std::string &pickle() const { return pickle_; }

  /// CPU tensors whose storages are written in order, as data/<index>.
  const std::vector<torch::Tensor> &storage_owners() const { return storage_owners_; }

 private:
  void emit_int(std::int64_t v);
  void emit_text(const std::string &s);
  void emit_global(const char *module, const char *name);
  void emit_int_tuple(c10::IntArrayRef values);
  void emit_tensor(const std::string &key, const torch::Tensor &t);

  std::string pickle_;
  std::vector<torch::Tensor> storage_owners_;
  std::unordered_map<const void *, std::size_t> storage_index_;  // StorageImpl -> index
};

}  // namespace model::pickle
