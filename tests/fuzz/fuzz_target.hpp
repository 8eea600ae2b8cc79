// The contract between a fuzz target (fuzz_*.cpp) and the two programs that
// drive it (tests/fuzz/README.md):
//  - libFuzzer (clang, -Dfuzzing=enabled) calls LLVMFuzzerTestOneInput;
//  - replay_main.cpp (every build, a meson test) calls it on the target's seed
//    corpus and on deterministic mutations of it, and writes the corpus for
//    libFuzzer with --write-seeds.
// A target calls the parser and catches only the exception types the parser
// promises (ModelError, flow::FlowFileError); anything else escapes and is a
// finding, like a crash or a sanitizer report.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size);

namespace fuzz {

using Bytes = std::vector<std::uint8_t>;

/// The target's name ("pickle", "flo", ...), for messages and corpus folders.
const char *target_name();

/// Valid (and a few deliberately invalid) inputs written by the project's own
/// writers, rebuilt on every run so that no binary corpus is committed. Also
/// holds the minimised inputs of crashes found and fixed (regressions).
std::vector<Bytes> seeds();

/// The input as a file with a path, without touching the disk: a memfd, whose
/// /proc/self/fd path any open() accepts. For parsers that take a path.
class MemFile {
 public:
  MemFile(const std::uint8_t *data, std::size_t size);
  ~MemFile();
  MemFile(const MemFile &) = delete;
  MemFile &operator=(const MemFile &) = delete;
  const std::string &path() const { return path_; }

 private:
  int fd_ = -1;
  std::string path_;
};

/// The input as a real file (for libraries that resolve the path, such as
/// HDF5, which refuses /proc/self/fd paths): in /dev/shm when it exists.
/// Removed on destruction.
class TempFile {
 public:
  TempFile(const std::uint8_t *data, std::size_t size);
  ~TempFile();
  TempFile(const TempFile &) = delete;
  TempFile &operator=(const TempFile &) = delete;
  const std::string &path() const { return path_; }

 private:
  std::string path_;
};

/// The bytes of a file (seed generators write with the project's writers to a
/// temporary file and read it back).
Bytes read_file(const std::string &path);

/// A fresh temporary directory, removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir &) = delete;
  TempDir &operator=(const TempDir &) = delete;
  std::string operator/(const std::string &name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace fuzz
