// Fuzz target: the MAT-file v5 reader (model::read_mat_variable_from_memory
// and model::list_mat_variables). Only ModelError may leave it.
#include <zlib.h>

#include <opencv2/core.hpp>

#include <cstring>
#include <stdexcept>

#include "fuzz_target.hpp"
#include "salmodel/mat_reader.hpp"

namespace {

using fuzz::Bytes;

// A minimal level-5 MAT-file writer (the published layout; see mat_reader.cpp).
struct MatWriter {
  bool big;
  void put32(Bytes &b, std::uint32_t v) const {
    for (int i = 0; i < 4; i++) b.push_back(static_cast<std::uint8_t>(v >> (big ? 24 - 8 * i : 8 * i)));
  }
  void element(Bytes &b, std::uint32_t type, const Bytes &data, bool small_ok = true) const {
    if (small_ok && data.size() <= 4) {  // small data element: count and type in one word
      put32(b, (static_cast<std::uint32_t>(data.size()) << 16) | type);
      Bytes d = data;
      d.resize(4, 0);
      b.insert(b.end(), d.begin(), d.end());
      return;
    }
    put32(b, type);
    put32(b, static_cast<std::uint32_t>(data.size()));
    b.insert(b.end(), data.begin(), data.end());
    b.resize((b.size() + 7) / 8 * 8, 0);
  }
  Bytes header() const {
    std::string text = "MATLAB 5.0 MAT-file, written by the gst-saliency fuzz seed generator";
    text.resize(116, ' ');
    Bytes b(text.begin(), text.end());
    b.resize(124, 0);
    if (big) { b.push_back(0x01); b.push_back(0x00); b.push_back('M'); b.push_back('I'); }
    else { b.push_back(0x00); b.push_back(0x01); b.push_back('I'); b.push_back('M'); }
    return b;
  }
  // A miMATRIX element: class `cls`, rows x cols, values stored as `type` (element bytes given).
  Bytes matrix(const std::string &name, std::uint8_t cls, bool logical, int rows, int cols,
               std::uint32_t type, const Bytes &values) const {
    Bytes body;
    Bytes flags;
    put32(flags, cls | (logical ? 0x200u : 0u));
    put32(flags, 0);
    element(body, 6 /*miUINT32*/, flags, false);
    Bytes dims;
    put32(dims, static_cast<std::uint32_t>(rows));
    put32(dims, static_cast<std::uint32_t>(cols));
    element(body, 5 /*miINT32*/, dims, false);
    element(body, 1 /*miINT8*/, Bytes(name.begin(), name.end()));
    element(body, type, values);
    Bytes m;
    element(m, 14 /*miMATRIX*/, body, false);
    return m;
  }
  Bytes compressed(const Bytes &element_bytes) const {
    uLongf n = compressBound(static_cast<uLong>(element_bytes.size()));
    Bytes z(n);
    compress2(z.data(), &n, element_bytes.data(), static_cast<uLong>(element_bytes.size()), 6);
    z.resize(n);
    Bytes b;
    put32(b, 15 /*miCOMPRESSED*/);
    put32(b, static_cast<std::uint32_t>(z.size()));
    b.insert(b.end(), z.begin(), z.end());
    return b;
  }
  Bytes doubles(const std::vector<double> &v) const {
    Bytes b;
    for (double d : v) {
      std::uint64_t u;
      std::memcpy(&u, &d, 8);
      for (int i = 0; i < 8; i++) b.push_back(static_cast<std::uint8_t>(u >> (big ? 56 - 8 * i : 8 * i)));
    }
    return b;
  }
};

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes b;
  for (const auto &p : parts) b.insert(b.end(), p.begin(), p.end());
  return b;
}

}  // namespace

namespace fuzz {

const char *target_name() { return "mat"; }

std::vector<Bytes> seeds() {
  std::vector<Bytes> out;
  for (bool big : {false, true}) {
    const MatWriter w{big};
    const Bytes d = w.matrix("I", 6 /*double*/, false, 2, 3, 9 /*miDOUBLE*/,
                             w.doubles({0, 1, 0.5, 0.25, 1e300, -3}));
    const Bytes u8 = w.matrix("I", 9 /*uint8*/, false, 3, 3, 2 /*miUINT8*/, Bytes{0, 1, 2, 3, 4, 5, 6, 7, 255});
    const Bytes logical = w.matrix("I", 9, true, 2, 2, 2, Bytes{1, 0, 0, 1});
    const Bytes other = w.matrix("eyeMap", 6, false, 1, 1, 9, w.doubles({42}));
    out.push_back(cat({w.header(), d}));
    out.push_back(cat({w.header(), other, u8}));
    out.push_back(cat({w.header(), w.compressed(logical)}));
    out.push_back(cat({w.header(), w.compressed(other), w.compressed(d)}));
  }
  return out;
}

}  // namespace fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  const fuzz::Bytes bytes(data, data + size);
  try {
    const cv::Mat m = model::read_mat_variable_from_memory(bytes, "I", "fuzz.mat");
    if (!m.empty() && m.type() != CV_64F) throw std::logic_error("not CV_64F");
  } catch (const model::ModelError &) {
  }
  fuzz::MemFile file(data, size);
  try {
    (void)model::list_mat_variables(file.path());
  } catch (const model::ModelError &) {
  }
  return 0;
}
