// CRC-32 checks for the records of a torch.save zip archive (internal to
// libsalmodel). LibTorch's zip reader is built with
// MINIZ_DISABLE_ZIP_READER_CRC32_CHECKS, so a flipped bit inside a tensor
// would otherwise load silently; the central directory still holds every
// record's CRC-32, which we read and compare.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>

namespace model::zip {

/// CRC-32 as zip computes it (reflected, polynomial 0xEDB88320), continuing
/// from `crc` (0 to start). crc32("123456789") == 0xCBF43926.
std::uint32_t crc32(const void *data, std::size_t size, std::uint32_t crc = 0);

/// What the central directory says of one record.
struct RecordInfo {
  std::uint32_t crc = 0;
  /// Uncompressed size; UINT64_MAX when a zip64 entry lacks its extra field.
  std::uint64_t size = 0;
};

/// The CRC-32 and size of every entry in the central directory of the zip
/// file at `path`, keyed by the entry name without its top-level directory
/// ("archive/data/0" -> "data/0"), which is how PyTorchStreamReader names
/// records. Handles zip64. Throws ModelError (without the file name) when
/// the central directory cannot be found or runs past the end of the file.
/// `file_size` receives the file's size.
std::unordered_map<std::string, RecordInfo> read_record_crcs(const std::string &path,
                                                             std::uint64_t *file_size = nullptr);

}  // namespace model::zip
