// read_checkpoint / write_checkpoint: torch.save's zip container around the
// pickle (pickle_reader.cpp, pickle_writer.cpp). The container is LibTorch's
// own (caffe2/serialize/inline_container.h), the one torch.save and
// torch.load use: records <archive>/data.pkl, <archive>/data/<key>,
// <archive>/version. Unlike torch.load we also check every record's CRC-32.
#include <caffe2/serialize/inline_container.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <new>

#include "pickle_reader.hpp"
#include "pickle_writer.hpp"
#include "salmodel/checkpoint.hpp"
#include "zip_crc.hpp"

namespace model {

namespace {

std::string first_line(const char *message) {
  std::string s(message ? message : "");
  std::size_t nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

// The start of a legacy (pre-1.6, or _use_new_zipfile_serialization=False)
// torch.save file: PROTO 2, then LONG1 of the magic number
// 0x1950a86a20f9469cfc6c (torch/serialization.py MAGIC_NUMBER).
constexpr unsigned char kLegacyMagic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc,
                                          0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8};

// Checks that `path` is a non-empty regular file that looks like a zip
// archive, with a precise message for what it is otherwise.
void check_checkpoint_file(const std::string &path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw ModelError(path + ": cannot open checkpoint: " + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) throw ModelError(path + ": is a directory, not a checkpoint file");
  if (st.st_size == 0) throw ModelError(path + ": empty file, not a checkpoint");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ModelError(path + ": cannot open checkpoint: " + std::strerror(errno));
  unsigned char head[sizeof kLegacyMagic] = {};
  in.read(reinterpret_cast<char *>(head), sizeof head);
  const std::size_t got = static_cast<std::size_t>(in.gcount());
  if (got >= 4 && std::memcmp(head, "PK\x03\x04", 4) == 0) return;
  if (got == sizeof head && std::memcmp(head, kLegacyMagic, sizeof head) == 0)
    throw ModelError(
        path +
        ": legacy (pre-zip) torch.save format, not supported; re-save it in Python with "
        "torch.save(torch.load(f, map_location='cpu'), out) using the default settings");
  if (got >= 1 && head[0] == 0x80)
    throw ModelError(path + ": a plain Python pickle, not a torch.save zip checkpoint");
  throw ModelError(path + ": not a PyTorch checkpoint (no zip signature)");
}

// LibTorch's zip reader plus the CRC-32 check it leaves out (zip_crc.hpp).
class VerifiedArchive {
 public:
  explicit VerifiedArchive(const std::string &path)
      : crcs_(checked_directory(path, &file_size_)),
        reader_(std::make_unique<caffe2::serialize::PyTorchStreamReader>(path)) {}

  bool has(const std::string &name) const { return reader_->hasRecord(name); }

  /// The central directory, refused when a record claims more bytes than the
  /// whole file: torch.save stores records uncompressed, and LibTorch's reader
  /// allocates (and for "version", copies) the claimed size as soon as it is
  /// constructed. A 431-byte file claiming a 4 GiB "version" record made it
  /// allocate 8 GiB (found by the 'checkpoint' fuzz target).
  static std::unordered_map<std::string, zip::RecordInfo> checked_directory(const std::string &path,
                                                                            std::uint64_t *file_size) {
    auto records = zip::read_record_crcs(path, file_size);
    for (const auto &[name, info] : records)
      if (info.size > *file_size)
        throw ModelError("record '" + name + "' claims " + std::to_string(info.size) +
                         " bytes, more than the whole file (" + std::to_string(*file_size) +
                         "): corrupt zip directory");
    return records;
  }

  /// The record's bytes, after checking them against the central directory.
  std::tuple<at::DataPtr, std::size_t> get(const std::string &name) const {
    auto it = crcs_.find(name);
    if (it == crcs_.end())
      throw ModelError("record '" + name + "' is not in the zip central directory");
    auto record = reader_->getRecord(name);
    if (zip::crc32(std::get<0>(record).get(), std::get<1>(record)) != it->second.crc)
      throw ModelError("record '" + name + "' is corrupt (CRC-32 mismatch)");
    return record;
  }

 private:
  std::uint64_t file_size_ = 0;
  std::unordered_map<std::string, zip::RecordInfo> crcs_;
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> reader_;
};

// Serves data/<key> records as storages, without copying: the record's
// buffer becomes the storage's memory.
class ZipStorageLoader {
 public:
  explicit ZipStorageLoader(const VerifiedArchive &archive) : archive_(archive) {}

  torch::Tensor operator()(const std::string &key, torch::ScalarType dtype,
                           std::int64_t numel) const {
    const std::string name = "data/" + key;
    if (!archive_.has(name)) throw ModelError("storage record '" + name + "' is missing");
    const std::size_t itemsize = c10::elementSize(dtype);
    if (static_cast<std::uint64_t>(numel) > std::numeric_limits<std::size_t>::max() / itemsize)
      throw ModelError("storage record '" + name + "' is too large");
    const std::size_t expected = static_cast<std::size_t>(numel) * itemsize;
    auto [data, size] = archive_.get(name);
    if (size != expected)
      throw ModelError("storage record '" + name + "' holds " + std::to_string(size) +
                       " bytes, the pickle expects " + std::to_string(expected));
    c10::Storage storage(c10::Storage::use_byte_size_t(), size, std::move(data), nullptr, false);
    return torch::empty({0}, torch::TensorOptions().dtype(dtype)).set_(storage, 0, {numel}, {1});
  }

 private:
  const VerifiedArchive &archive_;
};

// A temporary file beside the destination, renamed over it on commit() and
// removed otherwise, so that a failed write leaves nothing that looks complete.
class TempFile {
 public:
  explicit TempFile(const std::string &path) : path_(path) {
    std::string tmpl = path + ".tmp-XXXXXX";
    fd_ = ::mkstemp(tmpl.data());
    if (fd_ < 0) throw ModelError(path + ": cannot create file: " + std::strerror(errno));
    tmp_ = tmpl;
    ::fchmod(fd_, 0644);  // mkstemp makes it 0600; a checkpoint is an ordinary file
  }
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(tmp_.c_str());
  }
  TempFile(const TempFile &) = delete;
  TempFile &operator=(const TempFile &) = delete;

  /// PyTorchStreamWriter's sink. It always reports success: after an error
  /// it only records errno and drops the rest, and commit() throws. Failing
  /// inside the writer would make its destructor (which finishes the archive)
  /// throw again in LibTorch 1.13 (pytorch/pytorch#87997).
  std::size_t write(const void *data, std::size_t n) {
    const char *p = static_cast<const char *>(data);
    std::size_t left = errno_ == 0 ? n : 0;
    while (left > 0) {
      ssize_t w = ::write(fd_, p, left);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        errno_ = w < 0 ? errno : ENOSPC;
        break;
      }
      p += w;
      left -= static_cast<std::size_t>(w);
    }
    return n;
  }

  void commit() {
    if (errno_ != 0) fail(errno_);
    if (::fsync(fd_) != 0) fail(errno);
    int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) fail(errno);
    if (::rename(tmp_.c_str(), path_.c_str()) != 0) fail(errno);
    committed_ = true;
  }

 private:
  [[noreturn]] void fail(int err) {
    throw ModelError(path_ + ": cannot write checkpoint: " + std::strerror(err));
  }

  std::string path_;
  std::string tmp_;
  int fd_ = -1;
  int errno_ = 0;
  bool committed_ = false;
};

}  // namespace

StateDict read_checkpoint(const std::string &path) {
  check_checkpoint_file(path);
  std::unique_ptr<VerifiedArchive> archive;
  try {
    archive = std::make_unique<VerifiedArchive>(path);
  } catch (const c10::Error &e) {
    throw ModelError(path + ": not a readable torch.save zip archive (truncated or corrupt?): " +
                     first_line(e.what_without_backtrace()));
  } catch (const std::exception &e) {
    throw ModelError(path + ": not a readable torch.save zip archive (truncated or corrupt?): " +
                     first_line(e.what()));
  }
  try {
    // TorchScript archives have a data.pkl too (the scripted module object).
    if (archive->has("constants.pkl"))
      throw ModelError(
          "a TorchScript archive (torch.jit.save), not a state dict saved by torch.save");
    if (!archive->has("data.pkl"))
      throw ModelError("zip archive without a data.pkl record, not a torch.save checkpoint");
    if (archive->has("byteorder")) {  // written by PyTorch >= 2.1
      auto [data, size] = archive->get("byteorder");
      std::string order(static_cast<const char *>(data.get()), size);
      if (order != "little")
        throw ModelError("saved with byte order '" + order + "'; only 'little' is supported");
    }
    auto [pickle, size] = archive->get("data.pkl");
    ZipStorageLoader loader(*archive);
    return parse_state_dict_pickle(static_cast<const std::uint8_t *>(pickle.get()), size, loader);
  } catch (const ModelError &e) {
    throw ModelError(path + ": " + e.what());
  } catch (const c10::Error &e) {
    throw ModelError(path + ": " + first_line(e.what_without_backtrace()));
  } catch (const std::bad_alloc &) {
    throw ModelError(path + ": out of memory while reading the checkpoint (corrupt sizes?)");
  } catch (const std::exception &e) {
    throw ModelError(path + ": " + first_line(e.what()));
  }
}

void write_checkpoint(const std::string &path, const StateDict &state) {
  std::unique_ptr<pickle::StateDictPickler> pickler;
  try {
    pickler = std::make_unique<pickle::StateDictPickler>(state);
  } catch (const ModelError &e) {
    throw ModelError(path + ": cannot save: " + e.what());
  } catch (const c10::Error &e) {
    throw ModelError(path + ": cannot save: " + first_line(e.what_without_backtrace()));
  }
  TempFile file(path);
  try {
    // The writer_func form names the archive "archive" (torch.save names it
    // after the file; torch.load accepts any name).
    caffe2::serialize::PyTorchStreamWriter writer(
        [&file](const void *data, std::size_t n) { return file.write(data, n); });
    writer.writeRecord("data.pkl", pickler->pickle().data(), pickler->pickle().size());
    const auto &owners = pickler->storage_owners();
    for (std::size_t i = 0; i < owners.size(); i++) {
      const c10::Storage &s = owners[i].storage();
      writer.writeRecord("data/" + std::to_string(i), s.data(), s.nbytes());
    }
    writer.writeEndOfFile();  // also writes the "version" record
  } catch (const c10::Error &e) {
    throw ModelError(path + ": cannot write checkpoint: " + first_line(e.what_without_backtrace()));
  }
  file.commit();  // throws if any write failed
}

}  // namespace model
