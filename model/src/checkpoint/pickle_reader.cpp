// The pickle subset torch.save writes (see pickle_reader.hpp and
// model/README-checkpoints.md). Opcode semantics follow CPython's
// Lib/pickletools.py; tensor rebuilding follows torch/_utils.py
// (_rebuild_tensor_v2) and torch/serialization.py (persistent_load) of
// PyTorch 1.13.
#include "pickle_reader.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

namespace model::pickle {

namespace {

// Opcodes (pickletools.py). Protocol 0/1 text opcodes other than the
// container builders are not used by torch.save and are rejected.
enum Op : std::uint8_t {
  MARK = '(',
  STOP = '.',
  POP = '0',
  POP_MARK = '1',
  DUP = '2',
  BININT = 'J',
  BININT1 = 'K',
  BININT2 = 'M',
  NONE = 'N',
  BINPERSID = 'Q',
  REDUCE = 'R',
  BINSTRING = 'T',
  SHORT_BINSTRING = 'U',
  BINUNICODE = 'X',
  APPEND = 'a',
  BUILD = 'b',
  GLOBAL = 'c',
  DICT = 'd',
  EMPTY_DICT = '}',
  APPENDS = 'e',
  BINGET = 'h',
  LONG_BINGET = 'j',
  LIST = 'l',
  EMPTY_LIST = ']',
  BINPUT = 'q',
  LONG_BINPUT = 'r',
  SETITEM = 's',
  TUPLE = 't',
  EMPTY_TUPLE = ')',
  SETITEMS = 'u',
  BINFLOAT = 'G',
  BINBYTES = 'B',
  SHORT_BINBYTES = 'C',
  PROTO = 0x80,
  NEWOBJ = 0x81,
  TUPLE1 = 0x85,
  TUPLE2 = 0x86,
  TUPLE3 = 0x87,
  NEWTRUE = 0x88,
  NEWFALSE = 0x89,
  LONG1 = 0x8a,
  LONG4 = 0x8b,
  SHORT_BINUNICODE = 0x8c,
  BINUNICODE8 = 0x8d,
  BINBYTES8 = 0x8e,
  EMPTY_SET = 0x8f,
  ADDITEMS = 0x90,
  FROZENSET = 0x91,
  NEWOBJ_EX = 0x92,
  STACK_GLOBAL = 0x93,
  MEMOIZE = 0x94,
  FRAME = 0x95,
};

// torch.save's dimension count is unbounded in principle; no real tensor
// comes near this, and it keeps the extent arithmetic small.
constexpr std::size_t kMaxDims = 64;

// The storage classes torch.save names in its persistent ids
// (torch/storage.py _dtype_to_storage_type_map, PyTorch 1.13).
bool storage_dtype(const std::string &global, torch::ScalarType &dtype) {
  static const std::unordered_map<std::string, torch::ScalarType> map = {
      {"torch.FloatStorage", torch::kFloat32},
      {"torch.DoubleStorage", torch::kFloat64},
      {"torch.HalfStorage", torch::kFloat16},
      {"torch.BFloat16Storage", torch::kBFloat16},
      {"torch.LongStorage", torch::kInt64},
      {"torch.IntStorage", torch::kInt32},
      {"torch.ShortStorage", torch::kInt16},
      {"torch.CharStorage", torch::kInt8},
      {"torch.ByteStorage", torch::kUInt8},
      {"torch.BoolStorage", torch::kBool},
      {"torch.ComplexFloatStorage", torch::kComplexFloat},
      {"torch.ComplexDoubleStorage", torch::kComplexDouble},
      // An UntypedStorage's numel is its byte count (serialization.py).
      {"torch.UntypedStorage", torch::kUInt8},
  };
  auto it = map.find(global);
  if (it == map.end()) return false;
  dtype = it->second;
  return true;
}

std::string hex_byte(std::uint8_t b) {
  static const char digits[] = "0123456789abcdef";
  return std::string("0x") + digits[b >> 4] + digits[b & 15];
}

}  // namespace

const char *kind_name(Kind kind) {
  switch (kind) {
    case Kind::None:
      return "None";
    case Kind::Bool:
      return "bool";
    case Kind::Int:
      return "int";
    case Kind::BigInt:
      return "int";
    case Kind::Float:
      return "float";
    case Kind::String:
      return "str";
    case Kind::Bytes:
      return "bytes";
    case Kind::Tuple:
      return "tuple";
    case Kind::List:
      return "list";
    case Kind::Dict:
      return "dict";
    case Kind::Set:
      return "set";
    case Kind::Global:
      return "global";
    case Kind::Object:
      return "object";
    case Kind::Storage:
      return "storage";
    case Kind::Tensor:
      return "tensor";
  }
  return "value";
}

Unpickler::Unpickler(const std::uint8_t *data, std::size_t size, const StorageLoader &load_storage)
    : data_(data), size_(data ? size : 0), load_storage_(load_storage) {}

// ---------------------------------------------------------------- input

void Unpickler::fail(const std::string &why) const {
  throw ModelError("malformed pickle at offset " + std::to_string(op_offset_) + ": " + why);
}

std::uint8_t Unpickler::read_u8() {
  if (pos_ >= size_) throw ModelError("truncated pickle at offset " + std::to_string(pos_));
  return data_[pos_++];
}

std::uint64_t Unpickler::read_le(std::size_t n) {
  if (size_ - pos_ < n) throw ModelError("truncated pickle at offset " + std::to_string(pos_));
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; i++) v |= std::uint64_t(data_[pos_ + i]) << (8 * i);
  pos_ += n;
  return v;
}

const std::uint8_t *Unpickler::read_bytes(std::uint64_t n) {
  if (n > size_ - pos_) throw ModelError("truncated pickle at offset " + std::to_string(pos_));
  const std::uint8_t *p = data_ + pos_;
  pos_ += static_cast<std::size_t>(n);
  return p;
}

std::string Unpickler::read_line() {
  const void *nl = pos_ < size_ ? std::memchr(data_ + pos_, '\n', size_ - pos_) : nullptr;
  if (!nl) throw ModelError("truncated pickle at offset " + std::to_string(pos_));
  std::size_t end = static_cast<const std::uint8_t *>(nl) - data_;
  std::string line(reinterpret_cast<const char *>(data_ + pos_), end - pos_);
  pos_ = end + 1;
  return line;
}

// ---------------------------------------------------------------- stack

NodeId Unpickler::make(Kind kind) {
  // One node per opcode at most, so the arena is bounded by the input size.
  nodes_.emplace_back();
  nodes_.back().kind = kind;
  return static_cast<NodeId>(nodes_.size() - 1);
}

NodeId Unpickler::make_int(std::int64_t v) {
  NodeId id = make(Kind::Int);
  nodes_[id].int_value = v;
  return id;
}

NodeId Unpickler::make_text(Kind kind, std::string text) {
  NodeId id = make(kind);
  nodes_[id].text = std::move(text);
  return id;
}

NodeId Unpickler::pop() {
  std::size_t base = marks_.empty() ? 0 : marks_.back();
  if (stack_.size() <= base) fail("stack underflow");
  NodeId id = stack_.back();
  stack_.pop_back();
  return id;
}

NodeId Unpickler::top() const {
  std::size_t base = marks_.empty() ? 0 : marks_.back();
  if (stack_.size() <= base) fail("stack underflow");
  return stack_.back();
}

std::vector<NodeId> Unpickler::pop_mark() {
  if (marks_.empty()) fail("no MARK on the stack");
  std::size_t base = marks_.back();
  marks_.pop_back();
  std::vector<NodeId> items(stack_.begin() + static_cast<std::ptrdiff_t>(base), stack_.end());
  stack_.resize(base);
  return items;
}

void Unpickler::memo_put(std::uint64_t index) { memo_[index] = top(); }

void Unpickler::memo_get(std::uint64_t index) {
  auto it = memo_.find(index);
  if (it == memo_.end()) fail("memo index " + std::to_string(index) + " was never stored");
  push(it->second);
}

// ---------------------------------------------------------------- helpers

std::int64_t Unpickler::expect_int(NodeId id, const char *what) const {
  const Node &n = nodes_[id];
  if (n.kind != Kind::Int && n.kind != Kind::Bool)
    fail(std::string(what) + " is a " + kind_name(n.kind) + ", not an int");
  return n.int_value;
}

std::vector<std::int64_t> Unpickler::expect_int_tuple(NodeId id, const char *what) const {
  const Node &n = nodes_[id];
  if (n.kind != Kind::Tuple && n.kind != Kind::List)
    fail(std::string(what) + " is a " + kind_name(n.kind) + ", not a tuple");
  if (n.items.size() > kMaxDims) fail(std::string(what) + " has more than 64 dimensions");
  std::vector<std::int64_t> v;
  for (NodeId item : n.items) v.push_back(expect_int(item, what));
  return v;
}

const std::string &Unpickler::expect_text(NodeId id, const char *what) const {
  const Node &n = nodes_[id];
  if (n.kind != Kind::String && n.kind != Kind::Bytes)
    fail(std::string(what) + " is a " + kind_name(n.kind) + ", not a string");
  return n.text;
}

// ---------------------------------------------------------------- opcodes

void Unpickler::op_long(std::size_t n) {
  // Little-endian two's complement of n bytes (pickletools: decode_long).
  const std::uint8_t *p = read_bytes(n);
  if (n > 8) {
    push(make(Kind::BigInt));
    return;
  }
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; i++) v |= std::uint64_t(p[i]) << (8 * i);
  if (n > 0 && n < 8 && (p[n - 1] & 0x80)) v |= ~std::uint64_t(0) << (8 * n);  // sign-extend
  std::int64_t s;
  std::memcpy(&s, &v, sizeof s);
  push(make_int(s));
}

void Unpickler::op_persistent_id() {
  // torch.save's persistent id (serialization.py persistent_id):
  // ('storage', <storage class>, key, location, numel).
  NodeId pid = pop();
  const Node &t = nodes_[pid];
  if (t.kind != Kind::Tuple || t.items.size() != 5)
    fail("persistent id is not a ('storage', type, key, location, numel) tuple");
  std::vector<NodeId> f = t.items;
  if (expect_text(f[0], "persistent id tag") != "storage")
    fail("unknown persistent id '" + nodes_[f[0]].text + "'");
  if (nodes_[f[1]].kind != Kind::Global) fail("storage type is not a global name");
  torch::ScalarType dtype;
  std::string type_name = nodes_[f[1]].text;
  if (!storage_dtype(type_name, dtype)) fail("unsupported storage type " + type_name);
  std::string key = expect_text(f[2], "storage key");
  expect_text(f[3], "storage location");  // "cpu", "cuda:0": always loaded on the CPU
  std::int64_t numel = expect_int(f[4], "storage size");
  if (numel < 0) fail("negative storage size");

  auto cached = storages_.find(key);
  if (cached != storages_.end()) {
    const torch::Tensor &s = nodes_[cached->second].tensor;
    if (s.scalar_type() != dtype || s.numel() != numel)
      fail("storage '" + key + "' is referenced with two different types or sizes");
    push(cached->second);
    return;
  }
  torch::Tensor storage = load_storage_(key, dtype, numel);
  if (!storage.defined() || storage.scalar_type() != dtype || storage.dim() != 1 ||
      storage.numel() != numel || !storage.is_contiguous() || storage.storage_offset() != 0)
    fail("storage '" + key + "' could not be loaded with the expected type and size");
  NodeId id = make(Kind::Storage);
  nodes_[id].tensor = std::move(storage);
  storages_.emplace(std::move(key), id);
  push(id);
}

NodeId Unpickler::rebuild_tensor(const std::vector<NodeId> &args) {
  // torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride,
  //                                 requires_grad, backward_hooks[, metadata])
  // (and the older _rebuild_tensor with the first four). Python does
  // tensor.set_(storage, offset, size, stride); we check the same bounds.
  if (args.size() < 4 || args.size() > 7) fail("tensor rebuild takes 4 to 7 arguments");
  if (nodes_[args[0]].kind != Kind::Storage) fail("tensor rebuild without a storage");
  const torch::Tensor storage = nodes_[args[0]].tensor;  // a copy: make() below may move nodes_
  std::int64_t offset = expect_int(args[1], "storage offset");
  std::vector<std::int64_t> sizes = expect_int_tuple(args[2], "tensor size");
  std::vector<std::int64_t> strides = expect_int_tuple(args[3], "tensor stride");
  if (sizes.size() != strides.size()) fail("tensor size and stride differ in length");
  if (offset < 0) fail("negative storage offset");
  bool empty = false;
  for (std::size_t d = 0; d < sizes.size(); d++) {
    if (sizes[d] < 0 || strides[d] < 0) fail("negative tensor size or stride");
    if (sizes[d] == 0) empty = true;
  }
  const std::int64_t storage_numel = storage.numel();
  // Largest element index touched, in 128 bits and stopping once past the
  // storage, so that it cannot overflow: each term is below 2^126.
  __int128 last = offset;
  for (std::size_t d = 0; !empty && d < sizes.size() && last < storage_numel; d++)
    last += static_cast<__int128>(sizes[d] - 1) * strides[d];
  if (empty ? offset > storage_numel : last >= storage_numel)
    fail("tensor of size " + c10::str(c10::IntArrayRef(sizes)) + " at offset " +
         std::to_string(offset) + " lies outside its storage of " + std::to_string(storage_numel) +
         " elements");
  // Inside the storage, the element count must still fit in int64 (LibTorch's
  // numel): with zero strides a small storage can back a view of any size.
  std::int64_t numel = 1;
  for (std::size_t d = 0; !empty && d < sizes.size(); d++)
    if (__builtin_mul_overflow(numel, sizes[d], &numel))
      fail("tensor of size " + c10::str(c10::IntArrayRef(sizes)) + " has too many elements");
  NodeId id = make(Kind::Tensor);
  nodes_[id].tensor = storage.as_strided(sizes, strides, offset);
  return id;
}

void Unpickler::op_reduce() {
  NodeId args_id = pop();
  NodeId callable = pop();
  if (nodes_[args_id].kind != Kind::Tuple) fail("REDUCE arguments are not a tuple");
  std::vector<NodeId> args = nodes_[args_id].items;
  // Copies, not references: make() may reallocate nodes_.
  const std::string name =
      nodes_[callable].kind == Kind::Global ? nodes_[callable].text : std::string();

  if (name == "collections.OrderedDict") {
    // OrderedDict.__reduce__ gives (cls, ()) and then the items via SETITEMS.
    if (!args.empty()) fail("OrderedDict built from arguments is not supported");
    push(make(Kind::Dict));
  } else if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") {
    push(rebuild_tensor(args));
  } else if (name == "torch._utils._rebuild_parameter" ||
             name == "torch._utils._rebuild_parameter_with_state") {
    // (data, requires_grad, backward_hooks[, state]): a state dict wants the data.
    if (args.empty() || nodes_[args[0]].kind != Kind::Tensor)
      fail("parameter rebuild without a tensor");
    push(args[0]);
  } else {
    // Not executed, only named: fine unless the state dict itself needs it.
    push(make_text(Kind::Object, name.empty() ? std::string("object") : name));
  }
}

void Unpickler::op_setitems(const std::vector<NodeId> &pairs) {
  if (pairs.size() % 2) fail("SETITEMS with an odd number of items");
  NodeId dict = top();
  if (nodes_[dict].kind != Kind::Dict) {
    // A reduced object's dict items (unknown class): accept and drop.
    if (nodes_[dict].kind == Kind::Object) return;
    fail("SETITEM on a " + std::string(kind_name(nodes_[dict].kind)));
  }
  // Duplicate keys are resolved when the state dict is extracted.
  auto &items = nodes_[dict].items;
  items.insert(items.end(), pairs.begin(), pairs.end());
}

void Unpickler::op_appends(const std::vector<NodeId> &values) {
  NodeId list = top();
  Kind k = nodes_[list].kind;
  if (k == Kind::Object) return;  // a reduced object's list items: dropped
  if (k != Kind::List && k != Kind::Set) fail("APPEND on a " + std::string(kind_name(k)));
  auto &items = nodes_[list].items;
  items.insert(items.end(), values.begin(), values.end());
}

NodeId Unpickler::parse() {
  if (!nodes_.empty()) throw ModelError("pickle already parsed");
  while (true) {
    op_offset_ = pos_;
    const std::uint8_t op = read_u8();
    switch (op) {
      case PROTO: {
        std::uint8_t proto = read_u8();
        if (proto > 5) fail("pickle protocol " + std::to_string(proto) + " is newer than 5");
        break;
      }
      case FRAME:
        read_le(8);
        break;  // framing is only a read-ahead hint
      case STOP: {
        NodeId root = pop();
        return root;
      }
      case MARK:
        marks_.push_back(stack_.size());
        break;
      case POP:
        pop();
        break;
      case POP_MARK:
        pop_mark();
        break;
      case DUP:
        push(top());
        break;

      case NONE:
        push(make(Kind::None));
        break;
      case NEWTRUE:
      case NEWFALSE: {
        NodeId id = make(Kind::Bool);
        nodes_[id].int_value = op == NEWTRUE;
        push(id);
        break;
      }
      case BININT:
        push(make_int(static_cast<std::int32_t>(read_le(4))));
        break;
      case BININT1:
        push(make_int(read_le(1)));
        break;
      case BININT2:
        push(make_int(read_le(2)));
        break;
      case LONG1:
        op_long(read_le(1));
        break;
      case LONG4:
        op_long(read_le(4));
        break;
      case BINFLOAT: {
        std::uint64_t bits = 0;  // big-endian IEEE 754 double
        const std::uint8_t *p = read_bytes(8);
        for (int i = 0; i < 8; i++) bits = (bits << 8) | p[i];
        NodeId id = make(Kind::Float);
        std::memcpy(&nodes_[id].float_value, &bits, sizeof bits);
        push(id);
        break;
      }

      case SHORT_BINUNICODE:
      case BINUNICODE:
      case BINUNICODE8:
      case SHORT_BINSTRING:
      case BINSTRING:
      case SHORT_BINBYTES:
      case BINBYTES:
      case BINBYTES8: {
        std::size_t width =
            (op == SHORT_BINUNICODE || op == SHORT_BINSTRING || op == SHORT_BINBYTES) ? 1
            : (op == BINUNICODE8 || op == BINBYTES8)                                  ? 8
                                                                                      : 4;
        std::uint64_t n = read_le(width);
        const std::uint8_t *p = read_bytes(n);
        Kind kind = (op == SHORT_BINBYTES || op == BINBYTES || op == BINBYTES8) ? Kind::Bytes
                                                                                : Kind::String;
        push(make_text(
            kind, std::string(reinterpret_cast<const char *>(p), static_cast<std::size_t>(n))));
        break;
      }

      case EMPTY_TUPLE:
        push(make(Kind::Tuple));
        break;
      case TUPLE1:
      case TUPLE2:
      case TUPLE3: {
        std::size_t n = op - TUPLE1 + 1;
        std::vector<NodeId> items(n);
        for (std::size_t i = n; i-- > 0;) items[i] = pop();
        NodeId id = make(Kind::Tuple);
        nodes_[id].items = std::move(items);
        push(id);
        break;
      }
      case TUPLE:
      case LIST:
      case FROZENSET: {
        std::vector<NodeId> items = pop_mark();
        NodeId id = make(op == TUPLE ? Kind::Tuple : op == LIST ? Kind::List : Kind::Set);
        nodes_[id].items = std::move(items);
        push(id);
        break;
      }
      case DICT: {
        std::vector<NodeId> items = pop_mark();
        if (items.size() % 2) fail("DICT with an odd number of items");
        NodeId id = make(Kind::Dict);
        nodes_[id].items = std::move(items);
        push(id);
        break;
      }
      case EMPTY_LIST:
        push(make(Kind::List));
        break;
      case EMPTY_DICT:
        push(make(Kind::Dict));
        break;
      case EMPTY_SET:
        push(make(Kind::Set));
        break;

      case APPEND: {
        NodeId v = pop();
        op_appends({v});
        break;
      }
      case APPENDS:
      case ADDITEMS:
        op_appends(pop_mark());
        break;
      case SETITEM: {
        NodeId v = pop();
        NodeId k = pop();
        op_setitems({k, v});
        break;
      }
      case SETITEMS:
        op_setitems(pop_mark());
        break;

      case GLOBAL: {
        std::string module = read_line();
        std::string name = read_line();
        push(make_text(Kind::Global, module + "." + name));
        break;
      }
      case STACK_GLOBAL: {
        NodeId name = pop();
        NodeId module = pop();
        push(make_text(Kind::Global, expect_text(module, "global module") + "." +
                                         expect_text(name, "global name")));
        break;
      }
      case REDUCE:
        op_reduce();
        break;
      case NEWOBJ: {  // cls.__new__(cls, *args): recorded, not executed
        pop();
        NodeId cls = pop();
        push(make_text(Kind::Object,
                       nodes_[cls].kind == Kind::Global ? nodes_[cls].text : "object"));
        break;
      }
      case NEWOBJ_EX: {
        pop();
        pop();
        NodeId cls = pop();
        push(make_text(Kind::Object,
                       nodes_[cls].kind == Kind::Global ? nodes_[cls].text : "object"));
        break;
      }
      case BUILD:
        // obj.__setstate__(state): an OrderedDict's _metadata, an object's
        // attributes. Neither changes a state dict's tensors.
        pop();
        top();
        break;
      case BINPERSID:
        op_persistent_id();
        break;

      case BINPUT:
        memo_put(read_le(1));
        break;
      case LONG_BINPUT:
        memo_put(read_le(4));
        break;
      case MEMOIZE:
        memo_put(memo_.size());
        break;
      case BINGET:
        memo_get(read_le(1));
        break;
      case LONG_BINGET:
        memo_get(read_le(4));
        break;

      default:
        throw ModelError("unsupported pickle opcode " + hex_byte(op) + " at offset " +
                         std::to_string(op_offset_));
    }
  }
}

// ---------------------------------------------------------------- state dict

namespace {

std::string describe(const Node &n) {
  if (n.kind == Kind::Object) return "a " + n.text + " object";
  std::string k = kind_name(n.kind);
  return (k[0] == 'i' ? "an " : "a ") + k;
}

// A dict's entries with Python's semantics for repeated keys (the last value
// wins, the first position stays). False when a key is not a string.
bool dict_entries(const Unpickler &u, const Node &dict,
                  std::vector<std::pair<std::string, NodeId>> &out, std::string &bad_key_kind) {
  std::unordered_map<std::string, std::size_t> index;
  for (std::size_t i = 0; i + 1 < dict.items.size(); i += 2) {
    const Node &key = u.node(dict.items[i]);
    if (key.kind != Kind::String) {
      bad_key_kind = describe(key);
      return false;
    }
    auto [it, inserted] = index.emplace(key.text, out.size());
    if (inserted)
      out.emplace_back(key.text, dict.items[i + 1]);
    else
      out[it->second].second = dict.items[i + 1];
  }
  return true;
}

// Index of the first entry that is not a tensor, or entries.size().
std::size_t first_non_tensor(const Unpickler &u,
                             const std::vector<std::pair<std::string, NodeId>> &entries) {
  std::size_t i = 0;
  while (i < entries.size() && u.node(entries[i].second).kind == Kind::Tensor) i++;
  return i;
}

StateDict to_state_dict(const Unpickler &u,
                        const std::vector<std::pair<std::string, NodeId>> &entries) {
  StateDict sd;
  sd.reserve(entries.size());
  for (const auto &e : entries) sd.emplace_back(e.first, u.node(e.second).tensor);
  return sd;
}

}  // namespace

StateDict extract_state_dict(const Unpickler &u, NodeId root) {
  const Node &top = u.node(root);
  if (top.kind != Kind::Dict)
    throw ModelError("holds " + describe(top) +
                     ", not a state dict (save one with torch.save(model.state_dict(), f))");
  std::vector<std::pair<std::string, NodeId>> entries;
  std::string bad;
  if (!dict_entries(u, top, entries, bad)) throw ModelError("not a state dict: a key is " + bad);
  const std::size_t odd = first_non_tensor(u, entries);
  if (odd == entries.size()) return to_state_dict(u, entries);

  // A training checkpoint: {"epoch": .., "state_dict": {..}, "optimizer": ..};
  // TinyHD's published files: {"student_model": {..}}.
  for (const char *name : {"state_dict", "model_state_dict", "model", "student_model"}) {
    for (const auto &e : entries) {
      if (e.first != name || u.node(e.second).kind != Kind::Dict) continue;
      std::vector<std::pair<std::string, NodeId>> inner;
      if (!dict_entries(u, u.node(e.second), inner, bad))
        throw ModelError(std::string("not a state dict: a key of '") + name + "' is " + bad);
      const std::size_t inner_odd = first_non_tensor(u, inner);
      if (inner_odd != inner.size())
        throw ModelError(std::string("not a state dict: '") + name + "' entry '" +
                         inner[inner_odd].first + "' holds " +
                         describe(u.node(inner[inner_odd].second)) + ", not a tensor");
      return to_state_dict(u, inner);
    }
  }
  throw ModelError(
      "not a state dict: '" + entries[odd].first + "' holds " +
      describe(u.node(entries[odd].second)) +
      ", not a tensor, and there is no 'state_dict', 'model_state_dict', 'model' or 'student_model' entry");
}

}  // namespace model::pickle

namespace model {

StateDict parse_state_dict_pickle(const std::uint8_t *data, std::size_t size,
                                  const StorageLoader &load_storage) {
  pickle::Unpickler unpickler(data, size, load_storage);
  pickle::NodeId root = unpickler.parse();
  return pickle::extract_state_dict(unpickler, root);
}

}  // namespace model
