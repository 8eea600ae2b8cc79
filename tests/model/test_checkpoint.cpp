// Checkpoint I/O (model/include/salmodel/checkpoint.hpp): torch.save's zip +
// pickle format read and written without Python, strict state-dict loading.
// Interop is checked against real PyTorch through tests/model/make_checkpoint.py
// run by Debian's /usr/bin/python3 (skipped, with a message, without torch).
#include <caffe2/serialize/inline_container.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "salmodel/checkpoint.hpp"
#include "test_support.hpp"

namespace {

using model::ModelError;
using model::StateDict;

// ---------------------------------------------------------------- helpers

// A small network registered under STSANet-style checkpoint names
// (model-spec A.7): base1.0.conv_s / bn_s, a parameter-free base1.1, base1.2.
struct SepConvImpl : torch::nn::Module {
  SepConvImpl() {
    conv_s = register_module(
        "conv_s", torch::nn::Conv3d(torch::nn::Conv3dOptions(3, 4, {1, 3, 3}).bias(false)));
    bn_s =
        register_module("bn_s", torch::nn::BatchNorm3d(torch::nn::BatchNorm3dOptions(4).eps(1e-3)));
  }
  torch::Tensor forward(const torch::Tensor &x) { return bn_s(conv_s(x)); }
  torch::nn::Conv3d conv_s{nullptr};
  torch::nn::BatchNorm3d bn_s{nullptr};
};
TORCH_MODULE(SepConv);

struct TinyNetImpl : torch::nn::Module {
  TinyNetImpl() {
    base1 = register_module(
        "base1", torch::nn::Sequential(SepConv(), torch::nn::MaxPool3d(2),
                                       torch::nn::Conv3d(torch::nn::Conv3dOptions(4, 2, 1))));
    readout = register_module("readout", torch::nn::Linear(2, 3));
    // Non-trivial buffers, so that a copy (or a missing one) shows.
    torch::NoGradGuard no_grad;
    for (auto &b : named_buffers()) {
      if (b.value().is_floating_point())
        b.value().uniform_(0.5, 1.5);
      else
        b.value().fill_(42);
    }
  }
  torch::nn::Sequential base1{nullptr};
  torch::nn::Linear readout{nullptr};
};
TORCH_MODULE(TinyNet);

const std::vector<std::string> kTinyNetKeys = {
    "base1.0.conv_s.weight",    "base1.0.bn_s.weight",
    "base1.0.bn_s.bias",        "base1.0.bn_s.running_mean",
    "base1.0.bn_s.running_var", "base1.0.bn_s.num_batches_tracked",
    "base1.2.weight",           "base1.2.bias",
    "readout.weight",           "readout.bias"};

std::string dtype_name(torch::ScalarType t) {
  static const std::map<torch::ScalarType, std::string> names = {
      {torch::kFloat32, "float32"},       {torch::kFloat64, "float64"},
      {torch::kFloat16, "float16"},       {torch::kBFloat16, "bfloat16"},
      {torch::kInt64, "int64"},           {torch::kInt32, "int32"},
      {torch::kInt16, "int16"},           {torch::kInt8, "int8"},
      {torch::kUInt8, "uint8"},           {torch::kBool, "bool"},
      {torch::kComplexFloat, "complex64"}};
  auto it = names.find(t);
  return it == names.end() ? "?" : it->second;
}

std::string join(c10::IntArrayRef v) {
  std::string s;
  for (std::size_t i = 0; i < v.size(); i++) s += (i ? "," : "") + std::to_string(v[i]);
  return s;
}

std::string tensor_bytes(const torch::Tensor &t) {
  torch::Tensor c = t.contiguous();
  return std::string(static_cast<const char *>(c.data_ptr()), c.numel() * c.element_size());
}

std::string read_file(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_file(const std::string &path, const std::string &bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string shell_quote(const std::string &s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Exit status of a shell command; its output goes to `log`.
int run(const std::string &command, const std::string &log) {
  int status = std::system((command + " > " + shell_quote(log) + " 2>&1").c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Debian's interpreter, which has python3-torch (the python3 on PATH may be a
// pyenv one without torch). GST_SALIENCY_TORCH_PYTHON overrides it.
std::string python() {
  const char *env = std::getenv("GST_SALIENCY_TORCH_PYTHON");
  return shell_quote(env && *env ? env : "/usr/bin/python3");
}

std::string script_path() { return testsupport::source_root() + "/tests/model/make_checkpoint.py"; }

bool python_has_torch() {
  static const bool ok =
      std::system((python() + " -c 'import torch' >/dev/null 2>&1").c_str()) == 0;
  return ok;
}

// Tensors sharing a storage in `a` share one in `b`, and only those.
void expect_same_sharing(const StateDict &a, const StateDict &b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); i++)
    for (std::size_t j = i + 1; j < a.size(); j++) {
      const bool shared_a = a[i].second.storage().unsafeGetStorageImpl() ==
                            a[j].second.storage().unsafeGetStorageImpl();
      const bool shared_b = b[i].second.storage().unsafeGetStorageImpl() ==
                            b[j].second.storage().unsafeGetStorageImpl();
      EXPECT_EQ(shared_a, shared_b) << a[i].first << " / " << a[j].first;
    }
}

// Same keys in the same order, dtypes, sizes, strides, offsets and bytes.
void expect_bit_exact(const StateDict &expected, const StateDict &actual) {
  ASSERT_EQ(expected.size(), actual.size());
  for (std::size_t i = 0; i < expected.size(); i++) {
    const auto &[key, e] = expected[i];
    const auto &a = actual[i].second;
    ASSERT_EQ(key, actual[i].first);
    EXPECT_EQ(e.scalar_type(), a.scalar_type()) << key;
    EXPECT_EQ(e.sizes(), a.sizes()) << key;
    EXPECT_EQ(e.strides(), a.strides()) << key;
    EXPECT_EQ(e.storage_offset(), a.storage_offset()) << key;
    EXPECT_TRUE(a.device().is_cpu()) << key;
    EXPECT_TRUE(tensor_bytes(e) == tensor_bytes(a)) << key << ": values differ";
  }
  expect_same_sharing(expected, actual);
}

// The manifest format of make_checkpoint.py (see its docstring).
struct ManifestRow {
  std::string key, dtype, shape, stride;
  std::int64_t offset = 0;
  int group = 0;
  std::string bin;
};

std::vector<ManifestRow> read_manifest(const std::string &path) {
  std::vector<ManifestRow> rows;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    std::string field;
    while (std::getline(ss, field, '\t')) f.push_back(field);
    while (f.size() < 7) f.emplace_back();  // getline drops a trailing empty field
    rows.push_back({f[0], f[1], f[2], f[3], std::stoll(f[4]), std::stoi(f[5]), f[6]});
  }
  return rows;
}

// Compares a StateDict read by C++ with the manifest PyTorch wrote.
void expect_matches_manifest(const StateDict &sd, const std::string &manifest) {
  const std::string root = std::filesystem::path(manifest).parent_path().string();
  const auto rows = read_manifest(manifest);
  ASSERT_FALSE(rows.empty()) << manifest;
  ASSERT_EQ(sd.size(), rows.size());
  std::map<int, const c10::StorageImpl *> group_storage;
  for (std::size_t i = 0; i < rows.size(); i++) {
    const auto &r = rows[i];
    const torch::Tensor &t = sd[i].second;
    ASSERT_EQ(sd[i].first, r.key);
    EXPECT_EQ(dtype_name(t.scalar_type()), r.dtype) << r.key;
    EXPECT_EQ(join(t.sizes()), r.shape) << r.key;
    EXPECT_EQ(join(t.strides()), r.stride) << r.key;
    EXPECT_EQ(t.storage_offset(), r.offset) << r.key;
    auto [it, inserted] = group_storage.emplace(r.group, t.storage().unsafeGetStorageImpl());
    EXPECT_EQ(it->second, t.storage().unsafeGetStorageImpl())
        << r.key << " should share storage group " << r.group;
    EXPECT_TRUE(tensor_bytes(t) == read_file(root + "/" + r.bin))
        << r.key << ": values differ from PyTorch's";
  }
  std::set<const c10::StorageImpl *> distinct;
  for (auto &g : group_storage) distinct.insert(g.second);
  EXPECT_EQ(distinct.size(), group_storage.size()) << "separate storages were merged";
}

// Writes `sd` in the manifest format, for make_checkpoint.py check.
void write_manifest(const StateDict &sd, const std::string &dir, const std::string &name) {
  std::filesystem::create_directories(dir + "/bin/" + name);
  std::ofstream out(dir + "/" + name + ".tsv");
  std::map<const c10::StorageImpl *, int> groups;
  for (std::size_t i = 0; i < sd.size(); i++) {
    const auto &[key, t] = sd[i];
    int group = groups.emplace(t.storage().unsafeGetStorageImpl(), static_cast<int>(groups.size()))
                    .first->second;
    const std::string rel = "bin/" + name + "/" + std::to_string(i) + ".bin";
    write_file(dir + "/" + rel, tensor_bytes(t));
    out << key << '\t' << dtype_name(t.scalar_type()) << '\t' << join(t.sizes()) << '\t'
        << join(t.strides()) << '\t' << t.storage_offset() << '\t' << group << '\t' << rel << '\n';
  }
}

// Every dtype the writer supports and the layouts that need care.
StateDict assorted_state() {
  torch::manual_seed(7);
  torch::Tensor base = torch::randn({6, 5});
  torch::Tensor big = torch::randn({70000});
  return {
      {"conv.weight", torch::randn({4, 3, 3, 3})},
      {"float64", torch::randn({5}, torch::kFloat64)},
      {"float16", torch::randn({2, 3}).to(torch::kFloat16)},
      {"bfloat16", torch::randn({3}).to(torch::kBFloat16)},
      {"scalar_long", torch::tensor(int64_t(-1234567890123), torch::kInt64)},
      {"int32", torch::randint(-100000, 100000, {4}, torch::kInt32)},
      {"int16", torch::randint(-30000, 30000, {2, 2}, torch::kInt16)},
      {"int8", torch::randint(-128, 127, {3}, torch::kInt8)},
      {"uint8", torch::randint(0, 255, {3}, torch::kUInt8)},
      {"bool", torch::rand({5}) > 0.5},
      {"complex64", torch::randn({2}, torch::kComplexFloat)},
      {"empty", torch::empty({0, 4})},
      {"transposed", base.t()},                        // non-contiguous
      {"row", base[1]},                                // shares base's storage at offset 5
      {"narrow", base.narrow(1, 1, 2)},                // shares it again, strided
      {"expanded", torch::randn({3}).expand({4, 3})},  // stride 0
      {"big", big},
      {"big_tail", big.slice(0, 69990)},  // storage offset past BININT2
  };
}

StateDict tiny_state(int seed) {
  torch::manual_seed(seed);
  TinyNet net;
  StateDict sd;
  for (auto &[k, v] : model::module_state_dict(*net)) sd.emplace_back(k, v.clone());
  return sd;
}

// Reads data.pkl and serves storages from a file written by torch.save or
// write_checkpoint, for the pickle-level tests.
struct ArchiveParts {
  std::string pickle;
  std::map<std::string, std::string> records;
};

ArchiveParts archive_parts(const std::string &path) {
  caffe2::serialize::PyTorchStreamReader reader(path);
  ArchiveParts parts;
  auto [pkl, size] = reader.getRecord("data.pkl");
  parts.pickle.assign(static_cast<const char *>(pkl.get()), size);
  for (const std::string &name : reader.getAllRecords()) {
    if (name.rfind("data/", 0) != 0) continue;
    auto [data, n] = reader.getRecord(name);
    parts.records[name.substr(5)] = std::string(static_cast<const char *>(data.get()), n);
  }
  return parts;
}

// A loader that serves `records`, as the zip loader does but from memory;
// sizes are checked before anything is allocated (as a fuzz target must).
model::StorageLoader memory_loader(const std::map<std::string, std::string> &records) {
  return [&records](const std::string &key, torch::ScalarType dtype, std::int64_t numel) {
    auto it = records.find(key);
    if (it == records.end()) throw ModelError("no storage " + key);
    const std::size_t itemsize = c10::elementSize(dtype);
    if (numel < 0 || static_cast<std::uint64_t>(numel) != it->second.size() / itemsize ||
        it->second.size() % itemsize)
      throw ModelError("storage " + key + " has the wrong size");
    torch::Tensor t = torch::empty({numel}, torch::TensorOptions().dtype(dtype));
    if (!it->second.empty()) std::memcpy(t.data_ptr(), it->second.data(), it->second.size());
    return t;
  };
}

StateDict parse(const std::string &pickle, const model::StorageLoader &loader) {
  return model::parse_state_dict_pickle(reinterpret_cast<const std::uint8_t *>(pickle.data()),
                                        pickle.size(), loader);
}

// A hand assembler for pickles that torch.save never writes but a corrupt or
// hostile file may hold (pickletools.py opcode names).
struct PickleBytes {
  std::string b = "\x80\x02";  // PROTO 2
  PickleBytes &op(char c) {
    b += c;
    return *this;
  }
  PickleBytes &text(const std::string &s) {
    b += 'X';
    for (int i = 0; i < 4; i++) b += static_cast<char>((s.size() >> (8 * i)) & 0xff);
    b += s;
    return *this;
  }
  PickleBytes &int1(int v) {
    b += 'K';
    b += static_cast<char>(v);
    return *this;
  }
  PickleBytes &int_any(std::int64_t v) {  // BININT1, or LONG1 with 8 bytes
    if (v >= 0 && v <= 255) return int1(static_cast<int>(v));
    b += "\x8a\x08";
    for (int i = 0; i < 8; i++)
      b += static_cast<char>((static_cast<std::uint64_t>(v) >> (8 * i)) & 0xff);
    return *this;
  }
  PickleBytes &global(const std::string &module, const std::string &name) {
    b += 'c' + module + '\n' + name + '\n';
    return *this;
  }
  // _rebuild_tensor_v2((storage, 'FloatStorage', key, 'cpu', numel), offset, size, stride, False,
  // OrderedDict())
  PickleBytes &tensor(const std::string &key, int numel, int offset, std::vector<std::int64_t> size,
                      std::vector<std::int64_t> stride) {
    global("torch._utils", "_rebuild_tensor_v2").op('(');
    op('(')
        .text("storage")
        .global("torch", "FloatStorage")
        .text(key)
        .text("cpu")
        .int1(numel)
        .op('t')
        .op('Q');
    int1(offset).op('(');
    for (std::int64_t s : size) int_any(s);
    op('t').op('(');
    for (std::int64_t s : stride) int_any(s);
    op('t').op('\x89').global("collections", "OrderedDict").op(')').op('R').op('t').op('R');
    return *this;
  }
  std::string stop() { return b + '.'; }
};

std::string model_error_of(const std::function<void()> &f) {
  return testsupport::error_message_of<ModelError>(f, "ModelError");
}

// ---------------------------------------------------------------- C++ only

class Checkpoint : public ::testing::Test {
 protected:
  testsupport::TempDir dir_;
};

TEST_F(Checkpoint, WriteThenReadIsBitExactWithStridesAndSharing) {
  const StateDict state = assorted_state();
  const std::string path = dir_ / "assorted.pth";
  model::write_checkpoint(path, state);
  const StateDict back = model::read_checkpoint(path);
  expect_bit_exact(state, back);
  // The shared base is stored once: 30 + 3 + 70000 floats beside the rest.
  caffe2::serialize::PyTorchStreamReader reader(path);
  std::size_t storages = 0;
  for (const auto &name : reader.getAllRecords()) storages += name.rfind("data/", 0) == 0;
  EXPECT_EQ(storages, state.size() - 3);  // row, narrow, big_tail share
}

TEST_F(Checkpoint, HugeStrideZeroSizesRoundTrip) {
  // Sizes past 2^32 take pickle's LONG1; stride 0 keeps the storage 1 element.
  const std::int64_t n = std::int64_t(1) << 33;
  StateDict state = {{"wide", torch::full({1}, 3.5f).expand({n})}};
  const std::string path = dir_ / "wide.pth";
  model::write_checkpoint(path, state);
  StateDict back = model::read_checkpoint(path);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].second.sizes(), c10::IntArrayRef({n}));
  EXPECT_EQ(back[0].second.strides(), c10::IntArrayRef({0}));
  EXPECT_EQ(back[0].second.storage().nbytes(), 4u);
  EXPECT_EQ(back[0].second[n - 1].item<float>(), 3.5f);
}

TEST_F(Checkpoint, WriteReplacesAtomicallyAndLeavesNoTemporaryFile) {
  const std::string path = dir_ / "w.pth";
  model::write_checkpoint(path, tiny_state(1));
  model::write_checkpoint(path, tiny_state(2));
  expect_bit_exact(tiny_state(2), model::read_checkpoint(path));
  std::vector<std::string> names;
  for (const auto &e : std::filesystem::directory_iterator(dir_.path()))
    names.push_back(e.path().filename());
  EXPECT_EQ(names, std::vector<std::string>{"w.pth"});
}

TEST_F(Checkpoint, WriteErrorsNameTheFileAndLeaveNothing) {
  const std::string missing_dir = dir_ / "no/such/dir/x.pth";
  std::string msg = model_error_of([&] { model::write_checkpoint(missing_dir, tiny_state(1)); });
  EXPECT_NE(msg.find(missing_dir + ": cannot create file"), std::string::npos) << msg;

  const std::string path = dir_ / "bad.pth";
  StateDict bad = tiny_state(1);
  bad.emplace_back("hole", torch::Tensor());
  msg = model_error_of([&] { model::write_checkpoint(path, bad); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("'hole' is an undefined tensor"), std::string::npos) << msg;

  StateDict twice = {{"a", torch::zeros({1})}, {"a", torch::ones({1})}};
  msg = model_error_of([&] { model::write_checkpoint(path, twice); });
  EXPECT_NE(msg.find("duplicate key 'a'"), std::string::npos) << msg;

  torch::Tensor base = torch::zeros({4});
  StateDict punned = {{"f", base}, {"i", torch::from_blob(base.data_ptr(), {4}, torch::kInt32)}};
  // from_blob makes a second storage over the same memory: allowed, written twice.
  EXPECT_NO_THROW(model::write_checkpoint(path, punned));
  EXPECT_TRUE(std::filesystem::remove(path));
  EXPECT_TRUE(std::filesystem::is_empty(dir_.path()));
}

TEST_F(Checkpoint, MissingEmptyDirectoryAndGarbageFilesGetOneLineErrors) {
  const std::string missing = dir_ / "missing.pth";
  const std::string empty = dir_ / "empty.pth";
  const std::string garbage = dir_ / "garbage.pth";
  const std::string pickle = dir_ / "pickle.pkl";
  const std::string fake_zip = dir_ / "fake.zip";
  write_file(empty, "");
  write_file(garbage, "this is not a checkpoint at all, just text\n");
  write_file(pickle, "\x80\x02}q\x00.");
  write_file(fake_zip, std::string("PK\x03\x04", 4) + std::string(200, '\x11'));
  const std::vector<std::pair<std::string, std::string>> cases = {
      {missing, "cannot open checkpoint"}, {empty, "empty file"},
      {dir_.path(), "is a directory"},     {garbage, "not a PyTorch checkpoint"},
      {pickle, "plain Python pickle"},     {fake_zip, "not a readable torch.save zip archive"},
  };
  for (const auto &[path, what] : cases) {
    const std::string msg = model_error_of([&] { model::read_checkpoint(path); });
    EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
    EXPECT_NE(msg.find(what), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

TEST_F(Checkpoint, TruncatedFilesGetOneLineErrors) {
  const std::string good = dir_ / "good.pth";
  model::write_checkpoint(good, assorted_state());
  const std::string bytes = read_file(good);
  ASSERT_GT(bytes.size(), 280000u);
  const std::string cut = dir_ / "cut.pth";
  for (std::size_t keep :
       {std::size_t(1), std::size_t(4), std::size_t(30), std::size_t(100), std::size_t(1000),
        bytes.size() / 3, bytes.size() / 2, bytes.size() - 1000, bytes.size() - 100,
        bytes.size() - 22, bytes.size() - 1}) {
    write_file(cut, bytes.substr(0, keep));
    const std::string msg = model_error_of([&] { model::read_checkpoint(cut); });
    EXPECT_EQ(msg.rfind(cut + ": ", 0), 0u) << "kept " << keep << ": " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

TEST_F(Checkpoint, CorruptStorageBytesAreDetected) {
  const std::string path = dir_ / "c.pth";
  model::write_checkpoint(path, tiny_state(3));
  std::size_t offset;
  {
    caffe2::serialize::PyTorchStreamReader reader(path);
    offset = reader.getRecordOffset("data/0");
  }
  // LibTorch's reader skips CRC checks; ours must not (a flipped weight bit
  // would load silently).
  std::string bytes = read_file(path);
  bytes[offset + 5] = static_cast<char>(bytes[offset + 5] ^ 0x40);
  write_file(path, bytes);
  const std::string msg = model_error_of([&] { model::read_checkpoint(path); });
  EXPECT_EQ(msg, path + ": record 'data/0' is corrupt (CRC-32 mismatch)");
}

TEST_F(Checkpoint, PickleTruncatedAtEveryOffsetThrowsModelError) {
  const std::string path = dir_ / "p.pth";
  model::write_checkpoint(path, assorted_state());
  const ArchiveParts parts = archive_parts(path);
  const auto loader = memory_loader(parts.records);
  ASSERT_EQ(parse(parts.pickle, loader).size(), assorted_state().size());
  for (std::size_t n = 0; n < parts.pickle.size(); n++) {
    const std::string msg = model_error_of([&] { parse(parts.pickle.substr(0, n), loader); });
    ASSERT_NE(msg.find("pickle"), std::string::npos) << "prefix of " << n << " bytes: " << msg;
  }
}

TEST_F(Checkpoint, PickleMutationsThrowOnlyModelError) {
  // A seeded mini-fuzzer: whatever the bytes, the parser returns a state dict
  // or throws ModelError; no other exception, no crash (run under ASan in CI
  // for the memory side). Storages are capped as a fuzz target caps them.
  const std::string path = dir_ / "m.pth";
  model::write_checkpoint(path, assorted_state());
  const ArchiveParts parts = archive_parts(path);
  model::StorageLoader loader = [](const std::string &, torch::ScalarType dtype,
                                   std::int64_t numel) {
    if (numel > (1 << 20)) throw ModelError("storage too large for this test");
    return torch::zeros({numel}, torch::TensorOptions().dtype(dtype));
  };
  static const char kLikelyOps[] = "()tRuqhjsKMJ\x8a\x85\x86\x87Q.}]b";
  std::mt19937 rng(12345);
  int parsed = 0, rejected = 0;
  for (int iter = 0; iter < 3000; iter++) {
    std::string p = parts.pickle;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; e++) {
      const std::size_t at = rng() % p.size();
      switch (rng() % 4) {
        case 0:
          p[at] = static_cast<char>(rng());
          break;  // replace a byte
        case 1:
          p.insert(p.begin() + at, static_cast<char>(rng()));
          break;  // insert one
        case 2:
          p.erase(at, 1 + rng() % 8);
          break;  // delete a few
        default:
          p[at] = kLikelyOps[rng() % (sizeof kLikelyOps - 1)];
          break;  // a likely opcode
      }
      if (p.empty()) p = ".";
    }
    try {
      parse(p, loader);
      parsed++;
    } catch (const ModelError &) {
      rejected++;
    } catch (const std::exception &e) {
      ADD_FAILURE() << "iteration " << iter << ": " << e.what();
    }
  }
  EXPECT_GT(rejected, 1000);
  std::cout << "[          ] mutations: " << parsed << " parsed, " << rejected << " rejected\n";
}

TEST_F(Checkpoint, HandMadePicklesAreReadOrRejectedPrecisely) {
  const std::map<std::string, std::string> records = {{"0", std::string(16, '\0')}};
  const auto loader = memory_loader(records);

  // A plain dict, and a training checkpoint with extra entries around it.
  StateDict sd = parse(
      PickleBytes().op('}').op('(').text("w").tensor("0", 4, 1, {3}, {1}).op('u').stop(), loader);
  ASSERT_EQ(sd.size(), 1u);
  EXPECT_EQ(sd[0].first, "w");
  EXPECT_EQ(sd[0].second.sizes(), c10::IntArrayRef({3}));
  EXPECT_EQ(sd[0].second.storage_offset(), 1);
  sd = parse(PickleBytes()
                 .op('}')
                 .op('(')
                 .text("epoch")
                 .int1(3)
                 .text("args")
                 .global("argparse", "Namespace")
                 .op(')')
                 .op('\x81')
                 .op('}')
                 .op('b')
                 .text("model_state_dict")
                 .op('}')
                 .op('(')
                 .text("w")
                 .tensor("0", 4, 0, {2, 2}, {1, 2})
                 .op('u')
                 .op('u')
                 .stop(),
             loader);
  ASSERT_EQ(sd.size(), 1u);
  EXPECT_EQ(sd[0].second.strides(), c10::IntArrayRef({1, 2}));

  // A key repeated: the last value wins, at the first position (Python's dict).
  sd = parse(PickleBytes()
                 .op('}')
                 .op('(')
                 .text("a")
                 .tensor("0", 4, 0, {1}, {1})
                 .text("b")
                 .tensor("0", 4, 1, {1}, {1})
                 .text("a")
                 .tensor("0", 4, 3, {1}, {1})
                 .op('u')
                 .stop(),
             loader);
  ASSERT_EQ(sd.size(), 2u);
  EXPECT_EQ(sd[0].first, "a");
  EXPECT_EQ(sd[0].second.storage_offset(), 3);

  const std::vector<std::pair<std::string, std::string>> bad = {
      {"\x80\x02I1\n.", "unsupported pickle opcode 0x49 at offset 2"},
      {PickleBytes().op(']').stop(), "holds a list, not a state dict"},
      {PickleBytes().global("torch.nn.modules.linear", "Linear").op(')').op('\x81').stop(),
       "holds a torch.nn.modules.linear.Linear object"},
      {PickleBytes().op('}').text("epoch").int1(1).op('s').stop(),
       "'epoch' holds an int, not a tensor"},
      {PickleBytes().op('}').text("state_dict").op('}').text("x").op('N').op('s').op('s').stop(),
       "'state_dict' entry 'x' holds a None"},
      {PickleBytes().op('}').int1(1).tensor("0", 4, 0, {1}, {1}).op('s').stop(), "a key is an int"},
      {PickleBytes().op('h').op('\x05').stop(), "memo index 5 was never stored"},
      {PickleBytes().op('s').stop(), "stack underflow"},
      {PickleBytes().op('t').stop(), "no MARK"},
      {PickleBytes().op('}').text("w").tensor("0", 4, 0, {5}, {1}).op('s').stop(),
       "lies outside its storage"},
      {PickleBytes().op('}').text("w").tensor("0", 4, 3, {2, 2}, {0, 1}).op('s').stop(),
       "lies outside its storage"},
      {PickleBytes().op('}').text("w").tensor("1", 4, 0, {1}, {1}).op('s').stop(), "no storage 1"},
      {PickleBytes().op('}').text("w").tensor("0", 5, 0, {1}, {1}).op('s').stop(), "wrong size"},
      {PickleBytes()
           .op('}')
           .text("w")
           .tensor("0", 4, 0, {1}, {1})
           .text("v")
           .tensor("0", 2, 0, {1}, {1})
           .op('s')
           .op('s')
           .stop(),
       "two different types or sizes"},
      {std::string("\x80\x02}X\xff\xff\xff\x7f", 8), "truncated pickle"},
      {"\x80\x06}.", "pickle protocol 6"},
      // 64 dimensions of size and stride 2^63-1: the extent must not overflow.
      {PickleBytes()
           .op('}')
           .text("w")
           .tensor("0", 4, 0, std::vector<std::int64_t>(64, INT64_MAX),
                   std::vector<std::int64_t>(64, INT64_MAX))
           .op('s')
           .stop(),
       "lies outside its storage of 4 elements"},
      {"", "truncated pickle at offset 0"},
  };
  for (const auto &[pickle, what] : bad) {
    const std::string msg = model_error_of([&] { parse(pickle, loader); });
    EXPECT_NE(msg.find(what), std::string::npos) << "expected '" << what << "', got: " << msg;
  }
}

TEST_F(Checkpoint, ModuleStateDictFollowsPytorchOrder) {
  TinyNet net;
  std::vector<std::string> keys;
  for (const auto &kv : model::module_state_dict(*net)) keys.push_back(kv.first);
  EXPECT_EQ(keys, kTinyNetKeys);
}

TEST_F(Checkpoint, StrictLoadStripsModulePrefixAndToleratesMissingNumBatchesTracked) {
  StateDict source;
  for (auto &[k, v] : tiny_state(11))
    if (k.find("num_batches_tracked") == std::string::npos) source.emplace_back("module." + k, v);
  torch::manual_seed(12);
  TinyNet net;
  const std::int64_t tracked_before =
      net->base1[0]->as<SepConv>()->bn_s->num_batches_tracked.item<std::int64_t>();
  EXPECT_EQ(model::load_state_dict(*net, source, "tiny.pth"), kTinyNetKeys.size() - 1);
  const StateDict after = model::module_state_dict(*net);
  for (std::size_t i = 0, j = 0; i < after.size(); i++) {
    if (after[i].first.find("num_batches_tracked") != std::string::npos) continue;
    EXPECT_TRUE(torch::equal(after[i].second, source[j++].second)) << after[i].first;
  }
  EXPECT_EQ(net->base1[0]->as<SepConv>()->bn_s->num_batches_tracked.item<std::int64_t>(),
            tracked_before);

  model::LoadOptions strict_bn;
  strict_bn.allow_missing_num_batches_tracked = false;
  const std::string msg =
      model_error_of([&] { model::load_state_dict(*net, source, "tiny.pth", strict_bn); });
  EXPECT_EQ(msg, "tiny.pth: 1 missing key (base1.0.bn_s.num_batches_tracked)");
}

TEST_F(Checkpoint, MismatchesAreNamedAndNothingIsCopied) {
  StateDict source = tiny_state(21);
  // Drop 6 keys, add 1, reshape 1.
  StateDict edited;
  for (std::size_t i = 0; i < source.size(); i++) {
    if (i >= 1 && i <= 5) continue;  // bn_s.* (5 keys)
    if (source[i].first == "base1.2.bias") continue;
    if (source[i].first == "readout.weight")
      edited.emplace_back("module.readout.weight", source[i].second.t());
    else
      edited.emplace_back("module." + source[i].first, source[i].second);
  }
  edited.emplace_back("module.extra.weight", torch::zeros({2}));
  torch::manual_seed(22);
  TinyNet net;
  StateDict before;
  for (auto &[k, v] : model::module_state_dict(*net)) before.emplace_back(k, v.clone());

  const std::string msg =
      model_error_of([&] { model::load_state_dict(*net, edited, "stsanet.pth"); });
  EXPECT_EQ(msg,
            "stsanet.pth: 5 missing keys (base1.0.bn_s.weight, base1.0.bn_s.bias, "
            "base1.0.bn_s.running_mean, "
            "base1.0.bn_s.running_var, base1.2.bias), 1 unexpected key (module.extra.weight), "
            "1 shape mismatch (readout.weight: checkpoint [2, 3] vs model [3, 2])");
  expect_bit_exact(before, model::module_state_dict(*net));  // untouched

  // More than five of a kind: the first five, then a count.
  StateDict unrelated;
  for (int i = 0; i < 8; i++)
    unrelated.emplace_back("other." + std::to_string(i), torch::zeros({1}));
  const std::string many =
      model_error_of([&] { model::load_state_dict(*net, unrelated, "x.pth"); });
  EXPECT_NE(
      many.find("9 missing keys (base1.0.conv_s.weight, base1.0.bn_s.weight, base1.0.bn_s.bias, "
                "base1.0.bn_s.running_mean, base1.0.bn_s.running_var and 4 more)"),
      std::string::npos)
      << many;
  EXPECT_NE(many.find("8 unexpected keys (other.0, other.1, other.2, other.3, other.4 and 3 more)"),
            std::string::npos)
      << many;
  EXPECT_NE(many.find("no checkpoint key matches the model"), std::string::npos) << many;
  expect_bit_exact(before, model::module_state_dict(*net));
}

TEST_F(Checkpoint, LoadConvertsDtypeAndKeepsChildrenNamedModule) {
  torch::nn::Module holder;
  auto lin = holder.register_module("module", torch::nn::Linear(2, 2));
  StateDict source = {{"module.weight", torch::randn({2, 2}, torch::kFloat64)},
                      {"module.bias", torch::randn({2}, torch::kFloat64)}};
  EXPECT_EQ(model::load_state_dict(holder, source, "m.pth"), 2u);  // matched as is, not stripped
  EXPECT_EQ(lin->weight.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(lin->weight, source[0].second.to(torch::kFloat32)));
  EXPECT_TRUE(torch::equal(lin->bias, source[1].second.to(torch::kFloat32)));

  StateDict both = {{"weight", torch::zeros({2, 2})}, {"module.weight", torch::zeros({2, 2})}};
  torch::nn::Linear plain(2, 2);
  model::LoadOptions lenient;
  lenient.allow_missing = true;
  const std::string msg =
      model_error_of([&] { model::load_state_dict(*plain, both, "d.pth", lenient); });
  EXPECT_EQ(msg, "d.pth: 1 key given twice (with and without a prefix) (weight)");
}

// ---------------------------------------------------------------- against PyTorch

class TorchSaveInterop : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!python_has_torch()) return;
    dir_ = new testsupport::TempDir();
    TinyNet net;
    {
      std::ofstream keys(*dir_ / "keys.tsv");
      for (const auto &[k, v] : model::module_state_dict(*net))
        keys << k << '\t' << dtype_name(v.scalar_type()) << '\t' << join(v.sizes()) << '\n';
    }
    const int rc = run(python() + " " + shell_quote(script_path()) + " write " +
                           shell_quote(*dir_ / "keys.tsv") + " " + shell_quote(dir_->path()),
                       *dir_ / "write.log");
    if (rc != 0)
      setup_error_ = "make_checkpoint.py write failed (" + std::to_string(rc) +
                     "): " + read_file(*dir_ / "write.log");
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (!python_has_torch())
      GTEST_SKIP() << python()
                   << " cannot import torch: install Debian's python3-torch, or set "
                      "GST_SALIENCY_TORCH_PYTHON to a Python with torch, to run the interop tests";
    ASSERT_TRUE(setup_error_.empty()) << setup_error_;
  }
  static std::string fixture(const std::string &name) { return *dir_ / name; }

  static testsupport::TempDir *dir_;
  static std::string setup_error_;
};
testsupport::TempDir *TorchSaveInterop::dir_ = nullptr;
std::string TorchSaveInterop::setup_error_;

TEST_F(TorchSaveInterop, ReadsOrderedDictWithModulePrefixBitExact) {
  expect_matches_manifest(model::read_checkpoint(fixture("ordered_module.pth")),
                          fixture("ordered_module.tsv"));
}

TEST_F(TorchSaveInterop, ReadsPickleProtocol4BitExact) {
  expect_matches_manifest(model::read_checkpoint(fixture("protocol4.pth")),
                          fixture("protocol4.tsv"));
}

TEST_F(TorchSaveInterop, ReadsPlainDictBitExact) {
  expect_matches_manifest(model::read_checkpoint(fixture("plain.pth")), fixture("plain.tsv"));
}

TEST_F(TorchSaveInterop, ReadsStateDictOfTrainingCheckpoint) {
  expect_matches_manifest(model::read_checkpoint(fixture("training.pth")), fixture("training.tsv"));
}

TEST_F(TorchSaveInterop, PythonStateDictLoadsIntoModuleStrictly) {
  StateDict sd;
  for (auto &kv : model::read_checkpoint(fixture("ordered_module.pth")))
    if (kv.first.rfind("module.extra.", 0) != 0) sd.push_back(kv);
  TinyNet net;
  ASSERT_EQ(model::load_state_dict(*net, sd, "ordered_module.pth"), kTinyNetKeys.size());
  const auto rows = read_manifest(fixture("ordered_module.tsv"));
  const StateDict loaded = model::module_state_dict(*net);
  for (std::size_t i = 0; i < loaded.size(); i++) {
    ASSERT_EQ("module." + loaded[i].first, rows[i].key);
    EXPECT_TRUE(tensor_bytes(loaded[i].second) == read_file(fixture(rows[i].bin)))
        << loaded[i].first;
  }
}

TEST_F(TorchSaveInterop, NonStateDictFilesGetOneLineErrors) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"legacy.pth",
       "legacy (pre-zip) torch.save format, not supported; re-save it in Python with torch.save("},
      {"whole_module.pth", "holds a torch.nn.modules.linear.Linear object, not a state dict"},
      {"torchscript.pt", "a TorchScript archive (torch.jit.save)"},
  };
  for (const auto &[name, what] : cases) {
    const std::string path = fixture(name);
    const std::string msg = model_error_of([&] { model::read_checkpoint(path); });
    EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
    EXPECT_NE(msg.find(what), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

TEST_F(TorchSaveInterop, CppWrittenCheckpointLoadsInTorchLoad) {
  const StateDict state = assorted_state();
  model::write_checkpoint(fixture("cpp.pth"), state);
  write_manifest(state, dir_->path(), "cpp");
  const std::string check = python() + " " + shell_quote(script_path()) + " check " +
                            shell_quote(fixture("cpp.pth")) + " ";
  EXPECT_EQ(run(check + shell_quote(fixture("cpp.tsv")), fixture("check.log")), 0)
      << read_file(fixture("check.log"));
  EXPECT_EQ(read_file(fixture("check.log")), "OK\n");

  // The check can fail: one flipped value in the expectation is caught.
  const auto rows = read_manifest(fixture("cpp.tsv"));
  std::string first = read_file(fixture(rows[0].bin));
  first[0] = static_cast<char>(first[0] ^ 1);
  write_file(fixture(rows[0].bin), first);
  EXPECT_EQ(run(check + shell_quote(fixture("cpp.tsv")), fixture("check.log")), 1);
  EXPECT_NE(read_file(fixture("check.log")).find("conv.weight: values differ"), std::string::npos)
      << read_file(fixture("check.log"));
}

}  // namespace
