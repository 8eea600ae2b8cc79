// Fuzz target: the pickle half of the checkpoint reader
// (model::parse_state_dict_pickle), on memory. Storages are served by a loader
// that refuses large sizes, as the zip loader refuses sizes its records do not
// have. Only ModelError may leave the parser.
#include <torch/torch.h>

#include <stdexcept>

#include "fuzz_target.hpp"
#include "state_dict_oracle.hpp"
#include "pickle_writer.hpp"
#include "salmodel/checkpoint.hpp"

namespace {

torch::Tensor fake_storage(const std::string &key, torch::ScalarType dtype, std::int64_t numel) {
  // As ZipStorageLoader: the record decides the size, here a 1 Mi-element cap.
  if (numel > (std::int64_t{1} << 20)) throw model::ModelError("storage '" + key + "' too large");
  return torch::zeros({numel}, torch::TensorOptions().dtype(dtype));
}

// Hand-written pickles for what StateDictPickler never writes but torch.save
// does (protocol 4 framing, memo, BUILD of _metadata, training checkpoints
// with other objects), so that the mutations start next to those paths.
struct P {
  std::string s;
  P &op(unsigned char c) { s += static_cast<char>(c); return *this; }
  P &u32(std::uint32_t v) { for (int i = 0; i < 4; i++) s += static_cast<char>(v >> (8 * i)); return *this; }
  P &u64(std::uint64_t v) { for (int i = 0; i < 8; i++) s += static_cast<char>(v >> (8 * i)); return *this; }
  P &text(const std::string &t) {  // SHORT_BINUNICODE or BINUNICODE
    if (t.size() < 256) { op(0x8c); s += static_cast<char>(t.size()); }
    else { op('X'); u32(static_cast<std::uint32_t>(t.size())); }
    s += t;
    return *this;
  }
  P &global(const std::string &m, const std::string &n) { op('c'); s += m + "\n" + n + "\n"; return *this; }
  P &stack_global(const std::string &m, const std::string &n) { text(m); text(n); return op(0x93); }
  P &k(std::uint8_t v) { op('K'); s += static_cast<char>(v); return *this; }
  P &put(std::uint8_t i) { op('q'); s += static_cast<char>(i); return *this; }
  P &get(std::uint8_t i) { op('h'); s += static_cast<char>(i); return *this; }
  // One tensor entry: key, _rebuild_tensor_v2((persid), offset, size, stride, False, OrderedDict()).
  P &tensor(const std::string &key, const std::string &storage_key, const char *type, int numel,
            std::initializer_list<int> size, std::initializer_list<int> stride, int offset = 0) {
    text(key);
    global("torch._utils", "_rebuild_tensor_v2");
    op('(');
    op('(').text("storage").global("torch", type).text(storage_key).text("cpu").k(static_cast<std::uint8_t>(numel)).op('t').op('Q');
    k(static_cast<std::uint8_t>(offset));
    op('('); for (int v : size) k(static_cast<std::uint8_t>(v)); op('t');
    op('('); for (int v : stride) k(static_cast<std::uint8_t>(v)); op('t');
    op(0x89).global("collections", "OrderedDict").op(')').op('R');
    return op('t').op('R');
  }
  fuzz::Bytes bytes() const { return fuzz::Bytes(s.begin(), s.end()); }
};

}  // namespace

namespace fuzz {

const char *target_name() { return "pickle"; }

std::vector<Bytes> seeds() {
  std::vector<Bytes> out;
  auto add = [&](const model::StateDict &sd) {
    const model::pickle::StateDictPickler pickler(sd);
    out.emplace_back(pickler.pickle().begin(), pickler.pickle().end());
  };
  torch::manual_seed(0);
  add({});
  add({{"w", torch::rand({3, 4})}, {"b", torch::zeros({4}, torch::kFloat64)}});
  {
    torch::Tensor base = torch::arange(24, torch::kInt64);
    add({{"base", base}, {"view", base.slice(0, 4, 16).view({3, 4}).t()}, {"scalar", torch::tensor(7)},
         {"empty", torch::empty({0, 5})}, {"half", torch::ones({2, 2}, torch::kFloat16)},
         {"flag", torch::ones({3}, torch::kBool)}, {"big", torch::zeros({300})}});
  }
  // Protocol 4, memo, _metadata BUILD, as torch.save writes an OrderedDict.
  {
    P p;
    p.op(0x80).op(4).op(0x95).u64(0);
    p.stack_global("collections", "OrderedDict").op(0x94).op(')').op('R').op(0x94);
    p.op('(');
    p.tensor("layer.weight", "0", "FloatStorage", 6, {2, 3}, {3, 1}).op(0x94);
    p.tensor("layer.bias", "1", "FloatStorage", 2, {2}, {1}).op(0x94);
    p.tensor("layer.alias", "0", "FloatStorage", 6, {3}, {1}, 3).op(0x94);
    p.op('u');
    p.text("_metadata").op('}').op(0x94).op('b');  // BUILD (state = {"_metadata": {}})
    p.op('.');
    out.push_back(p.bytes());
  }
  // A training checkpoint: {"epoch": 3, "args": Namespace(...), "state_dict": OrderedDict(...)}.
  {
    P p;
    p.op(0x80).op(2).op('}').put(0).op('(');
    p.text("epoch").k(3);
    p.text("lr").op('G').u64(0x3f1a36e2eb1c432dull);
    p.text("args").global("argparse", "Namespace").put(1).op(')').op(0x81).put(2);
    p.op('}').text("batch").k(4).op('s').op('b');
    p.text("tags").op(0x8f).op('(').text("a").k(1).op(0x90);
    p.text("big").op(0x8a).op(9).u64(~0ull).op(1);
    p.text("blob").op('C').op(3) .op('x').op('y').op('z');
    p.text("state_dict").global("collections", "OrderedDict").op(')').op('R').put(3).op('(');
    p.tensor("conv.weight", "7", "DoubleStorage", 4, {1, 1, 2, 2}, {4, 4, 2, 1});
    p.tensor("bn.num_batches_tracked", "8", "LongStorage", 1, {}, {});
    p.op('u').get(3).op('0');
    p.op('u').op('.');
    out.push_back(p.bytes());
  }
  // Regression: a 1-element storage viewed with zero strides as a tensor of
  // 2^31-1 x 2^31-1 x 2^31-1 elements; the element count overflowed int64.
  {
    P p;
    p.op(0x80).op(2).op('}').text("w").global("torch._utils", "_rebuild_tensor_v2").op('(');
    p.op('(').text("storage").global("torch", "FloatStorage").text("0").text("cpu").k(1).op('t').op('Q');
    p.k(0);
    p.op('(');
    for (int i = 0; i < 3; i++) p.op('J').u32(0x7fffffff);
    p.op('t').op('(').k(0).k(0).k(0).op('t');
    p.op(0x89).global("collections", "OrderedDict").op(')').op('R').op('t').op('R').op('s').op('.');
    out.push_back(p.bytes());
  }
  // Not state dicts: a list, a dict with a non-string key (rejected with a message).
  out.push_back(P().op(0x80).op(2).op(']').op('(').k(1).k(2).op('e').op('.').bytes());
  out.push_back(P().op(0x80).op(2).op('}').k(1).text("x").op('s').op('.').bytes());
  return out;
}

}  // namespace fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  try {
    model::StateDict sd = model::parse_state_dict_pickle(data, size, fake_storage);
    fuzz::check_tensors_inside_storage(sd);
  } catch (const model::ModelError &) {
  }
  return 0;
}
