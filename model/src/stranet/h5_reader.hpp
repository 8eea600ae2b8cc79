// The two halves of model::read_h5_datasets (stranet.hpp), private to
// libsalmodel (and used by its tests and fuzz targets):
//  - walk_h5_datasets(): the HDF5 walk itself, with libhdf5 parsing the file in
//    the calling process (h5_walk.cpp);
//  - read_h5_datasets_in_child(): the same walk run in a forked child, whose
//    results come back over a pipe (h5_child_reader.cpp). libhdf5 is not
//    hardened against hostile files (it crashes on some, tests/fuzz/README.md),
//    so read_h5_datasets() uses this one: a crash in libhdf5 becomes a
//    ModelError instead of taking down saliency-predict or a pipeline.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "salmodel/stranet.hpp"  // H5Dataset, ModelError

namespace model::h5 {

/// Receives each dataset as soon as the walk has read it. May throw: the walk
/// then stops and throws ModelError with the exception's message.
using DatasetSink = std::function<void(H5Dataset &&)>;

/// Every floating-point dataset of the HDF5 file at `path`, in link-visit
/// (path) order, handed to `sink` one at a time, so that a caller that passes
/// them on holds one dataset at a time. Bounds: 65,536 links, link paths of at
/// most kMaxPathLength characters, and all datasets together at most
/// value_budget(file size) floats. Throws ModelError naming the file.
/// libhdf5 runs in this process: use only on trusted files or in a child.
void walk_h5_datasets(const std::string &path, const DatasetSink &sink);

/// walk_h5_datasets() collected into a vector (the reader of old, in process).
std::vector<H5Dataset> read_h5_datasets_in_process(const std::string &path);

/// Longest link path the walk accepts (a Keras file's are < 100 characters).
constexpr std::size_t kMaxPathLength = 1024;
/// Most links the walk visits.
constexpr std::uint64_t kMaxLinks = std::uint64_t(1) << 16;
/// Floats all datasets of a file of `file_bytes` bytes may hold together.
/// Keras writes weights uncompressed; 64x the file size (plus 16 Mi floats for
/// tiny files) lets compressed copies load while bounding what a corrupt file's
/// dataspaces (which may claim any size) can make a reader allocate.
constexpr std::uint64_t value_budget(std::uint64_t file_bytes) {
  return 64 * file_bytes / sizeof(float) + (std::uint64_t(1) << 24);
}

/// Faults the child can be told to simulate, for the tests of the parent's
/// handling of a reader that dies (a file that crashes libhdf5 on demand is
/// not something a test can rely on).
enum class ChildFault {
  None,
  SegfaultAfterFirstDataset,  ///< raise(SIGSEGV) after sending one dataset
  AbortAfterFirstDataset,     ///< abort() after sending one dataset
  TruncateFirstDataset,       ///< send half of the first record, then _exit(0)
  GarbageThenHang,            ///< send a record of unknown type, then wait forever
  HangAfterFirstDataset,      ///< wait forever after sending one dataset (a libhdf5 loop)
};

/// How long the child may send nothing before it counts as stuck (a loop
/// inside libhdf5 on a corrupt file) and is stopped: far beyond any real walk,
/// which streams a dataset at a time.
constexpr int kReaderIdleTimeoutMs = 60 * 1000;

/// The walk in a forked child process; its datasets (or its error) come back
/// over a pipe and are parsed here with every size checked. A child that dies
/// (signal, non-zero exit, output cut short) is a ModelError naming the file;
/// the child is always reaped and the pipe closed, also when this throws.
/// The child may allocate at most 1 GiB plus twice the file's size beyond the
/// address space it inherits (libhdf5 sizes some buffers from the file).
/// A child that sends nothing for `idle_timeout_ms` is stopped: a ModelError
/// saying the HDF5 library made no progress.
std::vector<H5Dataset> read_h5_datasets_in_child(const std::string &path,
                                                 ChildFault fault = ChildFault::None,
                                                 int idle_timeout_ms = kReaderIdleTimeoutMs);

}  // namespace model::h5
