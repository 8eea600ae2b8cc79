// MAT-file level 5 reader (see salmodel/mat_reader.hpp). Layout, from the
// published "MAT-File Format" description (MathWorks, level 5):
//
//   header   128 bytes: 116 bytes text, 8 bytes subsystem offset, uint16
//            version (0x0100), 2 bytes endian indicator ("IM" little, "MI" big)
//   elements tag (uint32 type, uint32 byte count) + data padded to 8 bytes; or,
//            when the upper 16 bits of the first word are non-zero, the "small
//            data element" form: 16-bit count, 16-bit type and <= 4 data bytes
//            in one 8-byte word
//   miCOMPRESSED (15): a zlib stream holding one element, not padded
//   miMATRIX (14): sub-elements array flags (miUINT32 x2: class in bits 0-7,
//            flags complex 0x800 / global 0x400 / logical 0x200 in the first
//            word), dimensions (miINT32), name (miINT8), real part, [imag part]
//
// Every read goes through Reader, whose accessors check bounds, so corrupt
// input ends in ModelError, never in an out-of-range access.

#include "salmodel/mat_reader.hpp"

#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>

namespace model {
namespace {

// Data types (MAT-file format, table "MAT-File Data Types").
enum MiType : std::uint32_t {
  kMiInt8 = 1,
  kMiUint8 = 2,
  kMiInt16 = 3,
  kMiUint16 = 4,
  kMiInt32 = 5,
  kMiUint32 = 6,
  kMiSingle = 7,
  kMiDouble = 9,
  kMiInt64 = 12,
  kMiUint64 = 13,
  kMiMatrix = 14,
  kMiCompressed = 15,
  kMiUtf8 = 16,
};

// Array classes (table "MATLAB Array Types and Classes").
enum MxClass : std::uint8_t {
  kMxCell = 1,
  kMxStruct = 2,
  kMxObject = 3,
  kMxChar = 4,
  kMxSparse = 5,
  kMxDouble = 6,
  kMxSingle = 7,
  kMxInt8 = 8,
  kMxUint8 = 9,
  kMxInt16 = 10,
  kMxUint16 = 11,
  kMxInt32 = 12,
  kMxUint32 = 13,
  kMxInt64 = 14,
  kMxUint64 = 15,
};

constexpr std::uint32_t kFlagComplex = 0x0800;
constexpr std::uint32_t kFlagLogical = 0x0200;
constexpr std::size_t kHeaderBytes = 128;
// Decompressed variables larger than this are refused (a fixation map is a few
// hundred KiB; this only bounds what a corrupt or hostile file can allocate).
constexpr std::uint64_t kMaxInflatedBytes = std::uint64_t{1} << 30;

[[noreturn]] void fail(const std::string &source, const std::string &problem) {
  throw ModelError(source + ": " + problem);
}

const char *class_name(std::uint8_t cls, bool logical) {
  if (logical) return "logical";
  switch (cls) {
    case kMxCell:
      return "cell";
    case kMxStruct:
      return "struct";
    case kMxObject:
      return "object";
    case kMxChar:
      return "char";
    case kMxSparse:
      return "sparse";
    case kMxDouble:
      return "double";
    case kMxSingle:
      return "single";
    case kMxInt8:
      return "int8";
    case kMxUint8:
      return "uint8";
    case kMxInt16:
      return "int16";
    case kMxUint16:
      return "uint16";
    case kMxInt32:
      return "int32";
    case kMxUint32:
      return "uint32";
    case kMxInt64:
      return "int64";
    case kMxUint64:
      return "uint64";
    default:
      return "unknown";
  }
}

bool is_numeric_class(std::uint8_t cls) { return cls >= kMxDouble && cls <= kMxUint64; }

// Size in bytes of one value of a numeric data type, 0 for other types.
std::size_t numeric_type_size(std::uint32_t type) {
  switch (type) {
    case kMiInt8:
    case kMiUint8:
      return 1;
    case kMiInt16:
    case kMiUint16:
      return 2;
    case kMiInt32:
    case kMiUint32:
    case kMiSingle:
      return 4;
    case kMiDouble:
    case kMiInt64:
    case kMiUint64:
      return 8;
    default:
      return 0;
  }
}

bool host_is_little_endian() {
  const std::uint16_t probe = 1;
  unsigned char first;
  std::memcpy(&first, &probe, 1);
  return first == 1;
}

// A bounds-checked view of a byte buffer in the file's byte order.
class Reader {
 public:
  Reader(const unsigned char *data, std::uint64_t size, bool big_endian, const std::string &source)
      : data_(data), size_(size), big_endian_(big_endian), source_(source) {}

  std::uint64_t size() const { return size_; }
  const unsigned char *data() const { return data_; }
  bool big_endian() const { return big_endian_; }
  const std::string &source() const { return source_; }

  void require(std::uint64_t offset, std::uint64_t count, const char *what) const {
    if (offset > size_ || count > size_ - offset) {
      std::ostringstream s;
      s << "truncated or corrupt file: " << what << " at byte " << offset << " needs " << count
        << " bytes, " << (offset > size_ ? 0 : size_ - offset) << " available";
      fail(source_, s.str());
    }
  }
  std::uint32_t u32(std::uint64_t offset) const {
    require(offset, 4, "32-bit field");
    const unsigned char *p = data_ + offset;
    return big_endian_ ? (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) |
                             (std::uint32_t{p[2]} << 8) | p[3]
                       : (std::uint32_t{p[3]} << 24) | (std::uint32_t{p[2]} << 16) |
                             (std::uint32_t{p[1]} << 8) | p[0];
  }
  std::int32_t i32(std::uint64_t offset) const {
    const std::uint32_t u = u32(offset);
    std::int32_t v;
    std::memcpy(&v, &u, 4);
    return v;
  }

 private:
  const unsigned char *data_;
  std::uint64_t size_;
  bool big_endian_;
  const std::string &source_;
};

// One data element: its type, where its data lies and where the next begins.
struct Element {
  std::uint32_t type = 0;
  std::uint64_t offset = 0;  // of the tag
  std::uint64_t data = 0;    // of the first data byte
  std::uint64_t bytes = 0;   // data byte count (without padding)
  std::uint64_t next = 0;    // of the next element's tag
};

// Reads the element tag at `offset`; the element must end by `end`.
Element read_element(const Reader &r, std::uint64_t offset, std::uint64_t end, const char *what) {
  if (offset > end || end - offset < 8) {
    std::ostringstream s;
    s << "truncated or corrupt file: " << what << " tag at byte " << offset << " runs past "
      << (end == r.size() ? "the end of the data" : "its enclosing element");
    fail(r.source(), s.str());
  }
  Element e;
  e.offset = offset;
  const std::uint32_t first = r.u32(offset);
  if ((first >> 16) != 0) {
    // Small data element: count and type share the first word, data the second.
    e.type = first & 0xffff;
    e.bytes = first >> 16;
    e.data = offset + 4;
    e.next = offset + 8;
    if (e.bytes > 4) {
      std::ostringstream s;
      s << "corrupt " << what << " at byte " << offset << ": small element of " << e.bytes
        << " bytes (at most 4 allowed)";
      fail(r.source(), s.str());
    }
    return e;
  }
  e.type = first;
  e.bytes = r.u32(offset + 4);
  e.data = offset + 8;
  if (e.bytes > end - e.data) {
    std::ostringstream s;
    s << "truncated or corrupt file: " << what << " at byte " << offset << " declares " << e.bytes
      << " bytes, only " << (end - e.data) << " remain";
    fail(r.source(), s.str());
  }
  // Compressed elements are not padded; the others are padded to 8 bytes.
  // Tolerate a missing final pad at the very end of the enclosing region.
  const std::uint64_t padded = e.type == kMiCompressed ? e.bytes : (e.bytes + 7) / 8 * 8;
  e.next = std::min(e.data + padded, end);
  return e;
}

// The header sub-elements of a miMATRIX, parsed without touching its data.
struct MatrixHeader {
  std::uint8_t cls = 0;
  bool complex = false;
  bool logical = false;
  std::vector<std::int64_t> dims;
  std::string name;
  std::uint64_t after_name = 0;  // offset of the first data sub-element
  std::uint64_t end = 0;         // end of the matrix element's data
};

MatrixHeader read_matrix_header(const Reader &r, const Element &m) {
  MatrixHeader h;
  h.end = m.data + m.bytes;
  const Element flags = read_element(r, m.data, h.end, "array flags");
  if (flags.type != kMiUint32 || flags.bytes != 8)
    fail(r.source(), "corrupt array flags at byte " + std::to_string(flags.offset));
  const std::uint32_t word = r.u32(flags.data);
  h.cls = static_cast<std::uint8_t>(word & 0xff);
  h.complex = (word & kFlagComplex) != 0;
  h.logical = (word & kFlagLogical) != 0;

  const Element dims = read_element(r, flags.next, h.end, "dimensions");
  if (dims.type != kMiInt32 || dims.bytes % 4 != 0 || dims.bytes < 8)
    fail(r.source(), "corrupt dimensions at byte " + std::to_string(dims.offset));
  for (std::uint64_t i = 0; i < dims.bytes / 4; i++) {
    const std::int32_t d = r.i32(dims.data + 4 * i);
    if (d < 0) fail(r.source(), "negative dimension at byte " + std::to_string(dims.data + 4 * i));
    h.dims.push_back(d);
  }

  const Element name = read_element(r, dims.next, h.end, "array name");
  if (name.type != kMiInt8 && name.type != kMiUint8 && name.type != kMiUtf8)
    fail(r.source(), "corrupt array name at byte " + std::to_string(name.offset));
  h.name.assign(reinterpret_cast<const char *>(r.data() + name.data), name.bytes);
  h.after_name = name.next;
  return h;
}

// Converts `count` values of numeric data type `type` starting at `data` to
// double, in file order.
void convert_to_double(const Reader &r, std::uint32_t type, std::uint64_t data, std::uint64_t count,
                       double *out) {
  const std::size_t size = numeric_type_size(type);
  r.require(data, count * size, "array data");
  const bool swap = r.big_endian() == host_is_little_endian();
  const unsigned char *p = r.data() + data;
  unsigned char tmp[8];
  for (std::uint64_t i = 0; i < count; i++, p += size) {
    std::memcpy(tmp, p, size);
    if (swap) std::reverse(tmp, tmp + size);
    switch (type) {
      case kMiInt8: {
        std::int8_t v;
        std::memcpy(&v, tmp, 1);
        out[i] = v;
        break;
      }
      case kMiUint8:
        out[i] = tmp[0];
        break;
      case kMiInt16: {
        std::int16_t v;
        std::memcpy(&v, tmp, 2);
        out[i] = v;
        break;
      }
      case kMiUint16: {
        std::uint16_t v;
        std::memcpy(&v, tmp, 2);
        out[i] = v;
        break;
      }
      case kMiInt32: {
        std::int32_t v;
        std::memcpy(&v, tmp, 4);
        out[i] = v;
        break;
      }
      case kMiUint32: {
        std::uint32_t v;
        std::memcpy(&v, tmp, 4);
        out[i] = v;
        break;
      }
      case kMiSingle: {
        float v;
        std::memcpy(&v, tmp, 4);
        out[i] = v;
        break;
      }
      case kMiDouble: {
        double v;
        std::memcpy(&v, tmp, 8);
        out[i] = v;
        break;
      }
      case kMiInt64: {
        std::int64_t v;
        std::memcpy(&v, tmp, 8);
        out[i] = static_cast<double>(v);
        break;
      }
      case kMiUint64: {
        std::uint64_t v;
        std::memcpy(&v, tmp, 8);
        out[i] = static_cast<double>(v);
        break;
      }
      default:
        break;  // excluded by the caller
    }
  }
}

// Converts a parsed numeric miMATRIX to a row-major CV_64F matrix.
cv::Mat read_matrix_data(const Reader &r, const MatrixHeader &h) {
  const std::string var = "variable '" + h.name + "'";
  if (!is_numeric_class(h.cls))
    fail(r.source(), var + " is a " + class_name(h.cls, false) +
                         " array; only numeric and logical matrices are supported");
  if (h.complex) fail(r.source(), var + " is complex; only real matrices are supported");
  for (std::size_t i = 2; i < h.dims.size(); i++)
    if (h.dims[i] != 1)
      fail(r.source(), var + " has " + std::to_string(h.dims.size()) +
                           " dimensions; only 2-D matrices are supported");
  const std::int64_t rows = h.dims[0], cols = h.dims[1];
  // Each dimension fits in int32 (read as such); bound the product for cv::Mat.
  if (rows > 0 && cols > std::numeric_limits<int>::max() / rows)
    fail(r.source(),
         var + " is too large (" + std::to_string(rows) + "x" + std::to_string(cols) + ")");
  const std::uint64_t count = static_cast<std::uint64_t>(rows * cols);

  const Element real = read_element(r, h.after_name, h.end, "real part");
  const std::size_t size = numeric_type_size(real.type);
  if (size == 0)
    fail(r.source(), var + ": unsupported data type " + std::to_string(real.type) +
                         " for the real part at byte " + std::to_string(real.offset));
  if (real.bytes != count * size) {
    std::ostringstream s;
    s << var << ": real part holds " << real.bytes << " bytes, expected " << count * size << " for "
      << rows << "x" << cols << " values of " << size << " bytes";
    fail(r.source(), s.str());
  }
  if (count == 0) return cv::Mat(static_cast<int>(rows), static_cast<int>(cols), CV_64F);

  std::vector<double> column_major(count);
  convert_to_double(r, real.type, real.data, count, column_major.data());
  cv::Mat out(static_cast<int>(rows), static_cast<int>(cols), CV_64F);
  for (int c = 0; c < cols; c++)
    for (int y = 0; y < rows; y++) out.at<double>(y, c) = column_major[std::size_t(c) * rows + y];
  return out;
}

// Inflates a miCOMPRESSED element's zlib stream.
std::vector<unsigned char> inflate_element(const Reader &r, const Element &e) {
  z_stream zs;
  std::memset(&zs, 0, sizeof zs);
  if (inflateInit(&zs) != Z_OK) fail(r.source(), "zlib initialisation failed");
  std::vector<unsigned char> out;
  std::uint64_t consumed = 0;
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    if (zs.avail_in == 0) {
      const std::uint64_t left = e.bytes - consumed;
      const std::uint64_t chunk = std::min<std::uint64_t>(left, 1u << 30);
      zs.next_in = const_cast<Bytef *>(r.data() + e.data + consumed);
      zs.avail_in = static_cast<uInt>(chunk);
      consumed += chunk;
    }
    const std::size_t before = out.size();
    const std::size_t grow = std::max<std::size_t>(before, 64 * 1024);
    if (before + grow > kMaxInflatedBytes) {
      inflateEnd(&zs);
      fail(r.source(), "compressed variable at byte " + std::to_string(e.offset) +
                           " inflates to more than 1 GiB");
    }
    out.resize(before + grow);
    zs.next_out = out.data() + before;
    zs.avail_out = static_cast<uInt>(grow);
    rc = inflate(&zs, Z_NO_FLUSH);
    out.resize(before + grow - zs.avail_out);
    if (rc == Z_STREAM_END) break;
    if (rc == Z_BUF_ERROR && zs.avail_in == 0 && consumed == e.bytes) rc = Z_DATA_ERROR;
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      const std::string msg = zs.msg ? zs.msg : (rc == Z_DATA_ERROR ? "truncated stream" : "error");
      inflateEnd(&zs);
      fail(r.source(), "corrupt compressed variable at byte " + std::to_string(e.offset) +
                           " (zlib: " + msg + ")");
    }
  }
  inflateEnd(&zs);
  return out;
}

// Parses the file header; returns whether the file is big-endian.
bool read_header(const std::vector<unsigned char> &bytes, const std::string &source) {
  const auto starts_with = [&](const char *text) {
    const std::size_t n = std::strlen(text);
    return bytes.size() >= n && std::memcmp(bytes.data(), text, n) == 0;
  };
  if (bytes.size() < kHeaderBytes) {
    if (starts_with("MATLAB")) fail(source, "truncated MAT-file header");
    fail(source, "not a MATLAB level-5 MAT-file (too short for the 128-byte header)");
  }
  const unsigned char e0 = bytes[126], e1 = bytes[127];
  bool big_endian;
  if (e0 == 'I' && e1 == 'M')
    big_endian = false;
  else if (e0 == 'M' && e1 == 'I')
    big_endian = true;
  else if (starts_with("MATLAB"))
    fail(source, "unrecognised MAT-file header (no endian indicator)");
  else
    fail(source, "not a MATLAB level-5 MAT-file (v4 and other formats are not supported)");
  const std::uint16_t version =
      big_endian ? (bytes[124] << 8) | bytes[125] : (bytes[125] << 8) | bytes[124];
  if (version == 0x0200 || starts_with("MATLAB 7.3"))
    fail(source, "MAT v7.3 (HDF5) files are not supported; save with -v7 or -v6");
  if (version != 0x0100)
    fail(
        source, "unsupported MAT-file version 0x" + [&] {
          std::ostringstream s;
          s << std::hex << version;
          return s.str();
        }());
  return big_endian;
}

// Walks the top-level elements; `visit(reader, matrix element)` is called for
// each variable (after decompression) until it returns true.
template <typename Visit>
void for_each_variable(const std::vector<unsigned char> &bytes, const std::string &source,
                       Visit visit) {
  const bool big_endian = read_header(bytes, source);
  const Reader file(bytes.data(), bytes.size(), big_endian, source);
  std::uint64_t offset = kHeaderBytes;
  while (offset < file.size()) {
    const Element e = read_element(file, offset, file.size(), "variable");
    offset = e.next;
    if (e.type == kMiCompressed) {
      const std::vector<unsigned char> inflated = inflate_element(file, e);
      const Reader inner(inflated.data(), inflated.size(), big_endian, source);
      const Element m = read_element(inner, 0, inner.size(), "compressed variable");
      if (m.type != kMiMatrix)
        fail(source, "compressed element at byte " + std::to_string(e.offset) +
                         " does not hold a matrix (type " + std::to_string(m.type) + ")");
      if (m.bytes > 0 && visit(inner, m)) return;
    } else if (e.type == kMiMatrix) {
      if (e.bytes > 0 && visit(file, e)) return;
    }
    // Other top-level element types carry no variable: skip them.
  }
}

std::vector<unsigned char> read_file_bytes(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "cannot open file");
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < 0) fail(path, "cannot read file");
  if (static_cast<std::uint64_t>(size) > (std::uint64_t{1} << 32))
    fail(path, "file larger than 4 GiB");
  in.seekg(0, std::ios::beg);
  std::vector<unsigned char> bytes(static_cast<std::size_t>(size));
  if (size > 0 && !in.read(reinterpret_cast<char *>(bytes.data()), size))
    fail(path, "cannot read file");
  return bytes;
}

}  // namespace

cv::Mat read_mat_variable_from_memory(const std::vector<unsigned char> &bytes,
                                      const std::string &name, const std::string &source) {
  std::optional<cv::Mat> found;
  std::vector<std::string> seen;
  for_each_variable(bytes, source, [&](const Reader &r, const Element &m) {
    const MatrixHeader h = read_matrix_header(r, m);
    if (h.name != name) {
      seen.push_back(h.name);
      return false;
    }
    found = read_matrix_data(r, h);
    return true;
  });
  if (!found) {
    std::string list;
    for (const auto &s : seen) list += (list.empty() ? "" : ", ") + s;
    fail(source, "variable '" + name + "' not found" +
                     (list.empty() ? std::string(" (the file holds no variables)")
                                   : " (variables: " + list + ")"));
  }
  return *found;
}

cv::Mat read_mat_variable(const std::string &path, const std::string &name) {
  return read_mat_variable_from_memory(read_file_bytes(path), name, path);
}

std::vector<MatVariableInfo> list_mat_variables(const std::string &path) {
  const std::vector<unsigned char> bytes = read_file_bytes(path);
  std::vector<MatVariableInfo> out;
  for_each_variable(bytes, path, [&](const Reader &r, const Element &m) {
    const MatrixHeader h = read_matrix_header(r, m);
    MatVariableInfo info;
    info.name = h.name;
    info.class_name = class_name(h.cls, h.logical);
    for (std::int64_t d : h.dims) info.dims.push_back(static_cast<int>(d));
    out.push_back(std::move(info));
    return false;
  });
  return out;
}

}  // namespace model
