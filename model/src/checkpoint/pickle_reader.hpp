// A reader for the subset of Python's pickle format that torch.save writes
// for state dicts (internal to libsalmodel).
//
// Why our own: LibTorch 1.13's torch::pickle_load returns None for an
// OrderedDict (model-spec A.7), and every published .pth state dict is one.
//
// Nothing is executed. GLOBAL names are only recorded; the few that matter
// (collections.OrderedDict, torch._utils._rebuild_tensor_v2, the storage
// types) are interpreted, any other global becomes an opaque object that is
// fine as long as the state dict does not need it (an argparse.Namespace next
// to "state_dict" in a training checkpoint). Objects live in an arena and are
// referred to by index, so self-referencing or deeply nested input costs
// neither recursion nor leaked cycles.
#pragma once

#include <torch/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "salmodel/checkpoint.hpp"

namespace model::pickle {

/// What a pickled value is, as far as state dicts care.
enum class Kind : std::uint8_t {
  None,
  Bool,
  Int,     // fits in int64
  BigInt,  // LONG1/LONG4 wider than 64 bits: value not kept
  Float,
  String,  // str (and Python 2 byte strings, which torch decodes as ASCII)
  Bytes,
  Tuple,
  List,
  Dict,  // dict and collections.OrderedDict
  Set,
  Global,   // a name from GLOBAL/STACK_GLOBAL: text = "module.name"
  Object,   // anything built by calling an uninterpreted global: text = its name
  Storage,  // a persistent-id storage: tensor = 1-D storage tensor
  Tensor,
};

/// Python's name for a kind, for error messages.
const char *kind_name(Kind kind);

using NodeId = std::uint32_t;

/// One pickled value. Containers hold NodeIds into the arena, so sharing
/// (memo) and mutation after memoisation behave as in Python.
struct Node {
  Kind kind = Kind::None;
  std::int64_t int_value = 0;  // Bool, Int
  double float_value = 0.0;    // Float
  std::string text;            // String, Bytes, Global, Object
  std::vector<NodeId> items;   // Tuple, List, Set; Dict: key, value, key, value...
  torch::Tensor tensor;        // Storage, Tensor
};

/// Parses one pickle from a memory buffer. Single use: construct, parse().
class Unpickler {
 public:
  Unpickler(const std::uint8_t *data, std::size_t size, const StorageLoader &load_storage);

  /// Runs to the STOP opcode and returns the root value. Throws ModelError
  /// ("unsupported pickle opcode 0x.. at offset N", "truncated pickle ...",
  /// "malformed pickle at offset N: ...") on anything else.
  NodeId parse();

  const Node &node(NodeId id) const { return nodes_[id]; }

 private:
  // Input, bounds-checked.
  std::uint8_t read_u8();
  std::uint64_t read_le(std::size_t n);
  const std::uint8_t *read_bytes(std::uint64_t n);
  std::string read_line();
  [[noreturn]] void fail(const std::string &why) const;

  // Stack, marks and memo.
  NodeId make(Kind kind);
  NodeId make_int(std::int64_t v);
  NodeId make_text(Kind kind, std::string text);
  void push(NodeId id) { stack_.push_back(id); }
  NodeId pop();
  NodeId top() const;
  std::vector<NodeId> pop_mark();
  void memo_put(std::uint64_t index);
  void memo_get(std::uint64_t index);

  // Opcodes with some logic.
  void op_long(std::size_t n);
  void op_reduce();
  void op_persistent_id();
  void op_setitems(const std::vector<NodeId> &pairs);
  void op_appends(const std::vector<NodeId> &values);
  NodeId rebuild_tensor(const std::vector<NodeId> &args);
  std::int64_t expect_int(NodeId id, const char *what) const;
  std::vector<std::int64_t> expect_int_tuple(NodeId id, const char *what) const;
  const std::string &expect_text(NodeId id, const char *what) const;

  const std::uint8_t *data_;
  std::size_t size_;
  std::size_t pos_ = 0;
  std::size_t op_offset_ = 0;  // offset of the opcode being executed, for messages
  const StorageLoader &load_storage_;

  std::vector<Node> nodes_;
  std::vector<NodeId> stack_;
  std::vector<std::size_t> marks_;  // stack_ sizes at each MARK
  std::unordered_map<std::uint64_t, NodeId> memo_;
  std::unordered_map<std::string, NodeId> storages_;  // by key: shared storages stay shared
};

/// Picks the state dict out of a parsed checkpoint (model-spec A.7): a dict
/// of tensors, or a dict with a "state_dict"/"model_state_dict"/"model" entry
/// holding one. Throws ModelError saying what the file holds instead.
StateDict extract_state_dict(const Unpickler &unpickler, NodeId root);

}  // namespace model::pickle
