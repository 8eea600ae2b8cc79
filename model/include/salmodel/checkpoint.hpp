// Reading and writing PyTorch checkpoints in C++ (no Python at run time), and
// loading state dicts into torch::nn modules with strict checking.
#pragma once

#include <torch/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "salmodel/predictor.hpp"  // ModelError

namespace torch::nn {
class Module;
}

namespace model {

/// An ordered name -> tensor map, in file order (an OrderedDict's order).
using StateDict = std::vector<std::pair<std::string, torch::Tensor>>;

/// Reads a file written by torch.save (zip format, the default since 1.6)
/// holding a state dict: an OrderedDict or a plain dict of tensors, possibly
/// nested under a "state_dict"/"model" key of a training checkpoint.
/// Throws ModelError (one line, naming the file) for anything else:
/// a missing file, a legacy non-zip file, truncation, an unsupported pickle.
/// Tensors come back on the CPU, whatever device they were saved from, with
/// their saved dtype, sizes and strides; tensors that shared a storage in the
/// file share one here. model/README-checkpoints.md lists what is accepted.
StateDict read_checkpoint(const std::string &path);

/// Supplies the storage a checkpoint's pickle refers to by `key` (the zip
/// record data/<key>): a 1-D contiguous CPU tensor of `dtype` with exactly
/// `numel` elements. It throws ModelError when it cannot (missing record,
/// wrong size). `numel` comes from untrusted data: check it before allocating.
using StorageLoader = std::function<torch::Tensor(const std::string &key, torch::ScalarType dtype,
                                                  std::int64_t numel)>;

/// The pickle half of read_checkpoint, on a memory buffer (the data.pkl
/// record), so that it can be tested and fuzzed without a zip file.
/// Every size and offset is checked against `size`; bad input throws
/// ModelError (without a file name: the caller adds it), never crashes.
/// Nothing is executed: Python globals are only matched by name.
StateDict parse_state_dict_pickle(const std::uint8_t *data, std::size_t size,
                                  const StorageLoader &load_storage);

/// Writes a state dict in torch.save's zip format as an OrderedDict, readable
/// by torch.load and by read_checkpoint. Atomic: temporary file, then rename.
void write_checkpoint(const std::string &path, const StateDict &state);

struct LoadOptions {
  /// Strip these key prefixes when present ("module." from nn.DataParallel).
  /// Per key: a checkpoint key that is not a module key but becomes one once
  /// a prefix is removed is matched to that module key.
  std::vector<std::string> strip_prefixes = {"module."};
  /// Tolerate checkpoints without "num_batches_tracked" buffers.
  bool allow_missing_num_batches_tracked = true;
  /// Keys of the module that may be absent from the checkpoint / keys of the
  /// checkpoint that may be unexpected (for partial initialisation such as a
  /// backbone); empty for strict loading.
  bool allow_missing = false;
  bool allow_unexpected = false;
};

/// Copies `state` into the module's parameters and buffers (under NoGradGuard),
/// after checking every key and shape. On any mismatch nothing is copied and a
/// ModelError names the first few missing, unexpected or mis-shaped keys and
/// counts the rest. `source` (a file name) is used in messages.
/// Returns the number of tensors copied.
std::size_t load_state_dict(torch::nn::Module &module, const StateDict &state,
                            const std::string &source, const LoadOptions &options = {});

/// The module's parameters and buffers as a StateDict, in the order of
/// PyTorch's Module.state_dict(): for each module in pre-order, its own
/// parameters, then its own buffers. The tensors alias the module's.
StateDict module_state_dict(const torch::nn::Module &module);

}  // namespace model
