// See zip_crc.hpp. Record layouts: PKWARE APPNOTE.TXT 4.3.12 (central
// directory header), 4.3.14-4.3.16 (zip64 end of central directory record
// and locator, end of central directory record).
#include "zip_crc.hpp"

#include <algorithm>
#include <array>
#include <fstream>
#include <vector>

#include "salmodel/predictor.hpp"  // ModelError

namespace model::zip {

namespace {

using Tables = std::array<std::array<std::uint32_t, 256>, 8>;

// Slice-by-8 tables: a 643 MB STSANet checkpoint is checked in well under a
// second, instead of a few with the one-table loop.
const Tables &crc_tables() {
  static const Tables tables = [] {
    Tables t{};
    for (std::uint32_t i = 0; i < 256; i++) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[0][i] = c;
    }
    for (std::size_t s = 1; s < 8; s++)
      for (std::size_t i = 0; i < 256; i++) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xff];
    return t;
  }();
  return tables;
}

std::uint64_t le(const std::uint8_t *p, int n) {
  std::uint64_t v = 0;
  for (int i = 0; i < n; i++) v |= std::uint64_t(p[i]) << (8 * i);
  return v;
}

// Reads `size` bytes at `offset`, or throws: the directory lies past the end.
std::vector<std::uint8_t> read_at(std::ifstream &in, std::uint64_t file_size, std::uint64_t offset,
                                  std::uint64_t size) {
  if (offset > file_size || size > file_size - offset)
    throw ModelError("zip central directory points past the end of the file");
  std::vector<std::uint8_t> buf(static_cast<std::size_t>(size));
  in.seekg(static_cast<std::streamoff>(offset));
  in.read(reinterpret_cast<char *>(buf.data()), static_cast<std::streamsize>(size));
  if (!in) throw ModelError("cannot read the zip central directory");
  return buf;
}

}  // namespace

std::uint32_t crc32(const void *data, std::size_t size, std::uint32_t crc) {
  const Tables &t = crc_tables();
  const auto *p = static_cast<const std::uint8_t *>(data);
  crc = ~crc;
  for (; size >= 8; size -= 8, p += 8) {
    const std::uint32_t a = static_cast<std::uint32_t>(le(p, 4)) ^ crc;
    const std::uint32_t b = static_cast<std::uint32_t>(le(p + 4, 4));
    crc = t[7][a & 0xff] ^ t[6][(a >> 8) & 0xff] ^ t[5][(a >> 16) & 0xff] ^ t[4][a >> 24] ^
          t[3][b & 0xff] ^ t[2][(b >> 8) & 0xff] ^ t[1][(b >> 16) & 0xff] ^ t[0][b >> 24];
  }
  for (; size > 0; size--) crc = t[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
  return ~crc;
}

std::unordered_map<std::string, RecordInfo> read_record_crcs(const std::string &path,
                                                             std::uint64_t *file_size_out) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw ModelError("cannot open the file to read its zip central directory");
  const std::uint64_t file_size = static_cast<std::uint64_t>(in.tellg());
  if (file_size_out) *file_size_out = file_size;

  // End of central directory record: 22 bytes + a comment of up to 65535.
  const std::uint64_t tail_size = std::min<std::uint64_t>(file_size, 22 + 65535);
  const std::vector<std::uint8_t> tail = read_at(in, file_size, file_size - tail_size, tail_size);
  std::size_t eocd = tail.size();
  for (std::size_t i = tail.size() >= 22 ? tail.size() - 22 + 1 : 0; i-- > 0;)
    if (le(&tail[i], 4) == 0x06054b50) {
      eocd = i;
      break;
    }
  if (eocd == tail.size()) throw ModelError("no zip end of central directory record");
  std::uint64_t cd_size = le(&tail[eocd + 12], 4);
  std::uint64_t cd_offset = le(&tail[eocd + 16], 4);
  if (cd_size == 0xffffffffu || cd_offset == 0xffffffffu || le(&tail[eocd + 10], 2) == 0xffff) {
    // zip64: the locator sits just before the record and points at the
    // zip64 end of central directory record.
    if (eocd < 20 || le(&tail[eocd - 20], 4) != 0x07064b50)
      throw ModelError("zip64 locator missing");
    const std::uint64_t z64 = le(&tail[eocd - 20 + 8], 8);
    const std::vector<std::uint8_t> rec = read_at(in, file_size, z64, 56);
    if (le(rec.data(), 4) != 0x06064b50)
      throw ModelError("zip64 end of central directory record missing");
    cd_size = le(&rec[40], 8);
    cd_offset = le(&rec[48], 8);
  }
  const std::vector<std::uint8_t> cd = read_at(in, file_size, cd_offset, cd_size);

  std::unordered_map<std::string, RecordInfo> crcs;
  std::size_t p = 0;
  while (p + 46 <= cd.size() && le(&cd[p], 4) == 0x02014b50) {
    RecordInfo info;
    info.crc = static_cast<std::uint32_t>(le(&cd[p + 16], 4));
    info.size = le(&cd[p + 24], 4);
    const std::size_t name_len = le(&cd[p + 28], 2);
    const std::size_t extra_len = le(&cd[p + 30], 2);
    const std::size_t comment_len = le(&cd[p + 32], 2);
    if (name_len > cd.size() - p - 46)
      throw ModelError("zip central directory entry runs past its end");
    std::string name(reinterpret_cast<const char *>(&cd[p + 46]), name_len);
    if (info.size == 0xffffffffu) {
      // zip64 extended information (APPNOTE 4.5.3): the uncompressed size
      // comes first in the extra field with header id 0x0001.
      info.size = ~std::uint64_t(0);
      const std::size_t extra_end = std::min(cd.size(), p + 46 + name_len + extra_len);
      for (std::size_t e = p + 46 + name_len; e + 4 <= extra_end;) {
        const std::size_t id = le(&cd[e], 2), len = le(&cd[e + 2], 2);
        if (id == 1 && len >= 8 && e + 4 + 8 <= extra_end) {
          info.size = le(&cd[e + 4], 8);
          break;
        }
        e += 4 + len;
      }
    }
    const std::size_t slash = name.find('/');
    crcs[slash == std::string::npos ? name : name.substr(slash + 1)] = info;
    p += 46 + name_len + extra_len + comment_len;
  }
  return crcs;
}

}  // namespace model::zip
