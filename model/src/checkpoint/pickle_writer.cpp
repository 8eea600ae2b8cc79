// torch.save's data.pkl for an OrderedDict state dict; see pickle_writer.hpp.
// Layout mirrors PyTorch 1.13 (torch/serialization.py _save, persistent_id;
// torch/_tensor.py __reduce_ex__ -> torch._utils._rebuild_tensor_v2).
#include "pickle_writer.hpp"

#include <unordered_set>

namespace model::pickle {

namespace {

// The storage class torch.save names for each dtype
// (torch/storage.py _dtype_to_storage_type_map, PyTorch 1.13).
const char *storage_type_name(torch::ScalarType dtype) {
  switch (dtype) {
    case torch::kFloat32:
      return "FloatStorage";
    case torch::kFloat64:
      return "DoubleStorage";
    case torch::kFloat16:
      return "HalfStorage";
    case torch::kBFloat16:
      return "BFloat16Storage";
    case torch::kInt64:
      return "LongStorage";
    case torch::kInt32:
      return "IntStorage";
    case torch::kInt16:
      return "ShortStorage";
    case torch::kInt8:
      return "CharStorage";
    case torch::kUInt8:
      return "ByteStorage";
    case torch::kBool:
      return "BoolStorage";
    case torch::kComplexFloat:
      return "ComplexFloatStorage";
    case torch::kComplexDouble:
      return "ComplexDoubleStorage";
    default:
      return nullptr;
  }
}

}  // namespace

void StateDictPickler::emit_int(std::int64_t v) {
  // The shortest of pickle's binary int opcodes, as Python's Pickler picks.
  if (v >= 0 && v <= 0xff) {
    pickle_ += 'K';
    pickle_ += static_cast<char>(v);
  } else if (v >= 0 && v <= 0xffff) {
    pickle_ += 'M';
    pickle_ += static_cast<char>(v & 0xff);
    pickle_ += static_cast<char>(v >> 8);
  } else if (v >= INT32_MIN && v <= INT32_MAX) {
    pickle_ += 'J';
    const std::uint32_t u = static_cast<std::uint32_t>(v);
    for (int i = 0; i < 4; i++) pickle_ += static_cast<char>((u >> (8 * i)) & 0xff);
  } else {
    pickle_ += '\x8a';  // LONG1, 8 bytes of little-endian two's complement
    pickle_ += '\x08';
    const std::uint64_t u = static_cast<std::uint64_t>(v);
    for (int i = 0; i < 8; i++) pickle_ += static_cast<char>((u >> (8 * i)) & 0xff);
  }
}

void StateDictPickler::emit_text(const std::string &s) {
  pickle_ += 'X';  // BINUNICODE: u32 length + UTF-8
  const std::uint32_t n = static_cast<std::uint32_t>(s.size());
  for (int i = 0; i < 4; i++) pickle_ += static_cast<char>((n >> (8 * i)) & 0xff);
  pickle_ += s;
}

void StateDictPickler::emit_global(const char *module, const char *name) {
  pickle_ += 'c';
  pickle_ += module;
  pickle_ += '\n';
  pickle_ += name;
  pickle_ += '\n';
}

void StateDictPickler::emit_int_tuple(c10::IntArrayRef values) {
  if (values.empty()) {
    pickle_ += ')';
    return;
  }
  pickle_ += '(';
  for (std::int64_t v : values) emit_int(v);
  pickle_ += 't';
}

void StateDictPickler::emit_tensor(const std::string &key, const torch::Tensor &tensor) {
  if (!tensor.defined()) throw ModelError("'" + key + "' is an undefined tensor");
  if (tensor.layout() != torch::kStrided || tensor.is_quantized())
    throw ModelError("'" + key +
                     "' is not a dense tensor; torch.save's storages hold dense tensors only");
  const char *type_name = storage_type_name(tensor.scalar_type());
  if (!type_name)
    throw ModelError("'" + key + "' has dtype " + std::string(c10::toString(tensor.scalar_type())) +
                     ", which this writer does not support");
  torch::Tensor t = tensor.is_cpu() ? tensor : tensor.cpu();
  if (t.is_conj() || t.is_neg()) t = t.resolve_conj().resolve_neg();

  const void *impl = t.storage().unsafeGetStorageImpl();
  auto [it, inserted] = storage_index_.emplace(impl, storage_owners_.size());
  if (inserted) {
    storage_owners_.push_back(t);
  } else if (storage_owners_[it->second].scalar_type() != t.scalar_type()) {
    // torch.save refuses this too ("view the same data as different types").
    throw ModelError("'" + key +
                     "' views a storage shared with another tensor as a different dtype");
  }
  const std::size_t itemsize = t.element_size();
  const std::size_t nbytes = t.storage().nbytes();
  if (nbytes % itemsize)
    throw ModelError("'" + key + "' has a storage that is not a whole number of elements");

  emit_text(key);
  emit_global("torch._utils", "_rebuild_tensor_v2");
  pickle_ += '(';
  {  // persistent id: ('storage', torch.<Type>Storage, key, location, numel)
    pickle_ += '(';
    emit_text("storage");
    emit_global("torch", type_name);
    emit_text(std::to_string(it->second));
    emit_text("cpu");
    emit_int(static_cast<std::int64_t>(nbytes / itemsize));
    pickle_ += 't';
    pickle_ += 'Q';  // BINPERSID
  }
  emit_int(t.storage_offset());
  emit_int_tuple(t.sizes());
  emit_int_tuple(t.strides());
  pickle_ += '\x89';                          // requires_grad = False
  emit_global("collections", "OrderedDict");  // backward_hooks = OrderedDict()
  pickle_ += ')';
  pickle_ += 'R';
  pickle_ += 't';
  pickle_ += 'R';
}

StateDictPickler::StateDictPickler(const StateDict &state) {
  pickle_ += "\x80\x02";  // PROTO 2: torch.save's DEFAULT_PROTOCOL
  emit_global("collections", "OrderedDict");
  pickle_ += ')';
  pickle_ += 'R';
  std::unordered_set<std::string> keys;
  // SETITEMS in batches of 1000, as Python's Pickler does (_BATCHSIZE).
  for (std::size_t i = 0; i < state.size(); i++) {
    if (!keys.insert(state[i].first).second)
      throw ModelError("duplicate key '" + state[i].first + "'");
    if (i % 1000 == 0) pickle_ += '(';
    emit_tensor(state[i].first, state[i].second);
    if (i % 1000 == 999 || i + 1 == state.size()) pickle_ += 'u';
  }
  pickle_ += '.';
}

}  // namespace model::pickle
