// read_h5_datasets: the HDF5 walk (h5_walk.cpp) in a forked child process.
//
// Why a child: libhdf5 trusts the sizes in the file. Fuzzing found a local heap
// whose size makes it memcpy into a failed allocation (SEGV in H5Lvisit ->
// H5HL_protect), and HDF5 1.10 has many such CVEs; we cannot fix the library.
// In a child, such a crash kills only the child, and the parent reports it as
// a one-line ModelError naming the file.
//
// Why a pipe, read while the child writes: the official STRA-Net file holds
// ~670 MB of floats. The child streams each dataset as soon as it has read it
// and frees it, and the parent builds its vectors from the stream, so the
// weights exist about once (plus one dataset in the child). A memfd filled by
// the child and read after it exits would hold a second full copy in tmpfs
// until parsed, and a pipe not drained while the child writes would deadlock.
//
// Why this is safe after fork() in a multithreaded parent (LibTorch, OpenMP and
// GStreamer threads): the child runs only this thread; it calls libhdf5
// (otherwise never used by the library in the parent), glibc malloc (fork-safe)
// and write(), no LibTorch and no OpenMP, and leaves by _exit(), so no atexit
// handler or static destructor of the parent's libraries runs in it.
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fcntl.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>

#include "h5_reader.hpp"

namespace model::h5 {

namespace {

// The stream, in this binary's native byte order (both ends are this code):
//   dataset  'D', u32 path length, path, u32 rank, rank x u64 dims, prod(dims) floats
//   error    'E', u32 length, the walk's ModelError message (names the file)
//   end      'Z', u64 number of datasets sent
// Exactly one 'E' or 'Z' ends a stream; anything else is an incomplete one.
constexpr char kDatasetTag = 'D', kErrorTag = 'E', kEndTag = 'Z';
constexpr std::uint32_t kMaxRank = 32;  // H5S_MAX_RANK
constexpr std::uint32_t kMaxMessage = 4096;

// Child exit statuses other than 0 (stream complete, whatever it says).
constexpr int kExitCannotWrite = 3;   // the parent stopped reading
constexpr int kExitOutOfMemory = 4;   // outside the walk, which reports its own
constexpr int kExitUnexpected = 5;    // an exception type the walk does not throw

// ------------------------------------------------------------------ child

class StreamWriter {
 public:
  explicit StreamWriter(int fd) : fd_(fd) {}

  void dataset(const H5Dataset &d, bool truncate = false) {
    header_.clear();
    put(&kDatasetTag, 1);
    put_u32(static_cast<std::uint32_t>(d.path.size()));
    put(d.path.data(), d.path.size());
    put_u32(static_cast<std::uint32_t>(d.shape.size()));
    for (std::int64_t v : d.shape) {
      const auto u = static_cast<std::uint64_t>(v);
      put(&u, sizeof u);
    }
    if (truncate) {  // ChildFault::TruncateFirstDataset
      write_all(header_.data(), header_.size() / 2);
      return;
    }
    write_all(header_.data(), header_.size());
    write_all(d.values.data(), d.values.size() * sizeof(float));
  }

  void error(const std::string &message) {
    header_.clear();
    put(&kErrorTag, 1);
    const std::string m = message.substr(0, kMaxMessage);
    put_u32(static_cast<std::uint32_t>(m.size()));
    put(m.data(), m.size());
    write_all(header_.data(), header_.size());
  }

  void end(std::uint64_t datasets) {
    header_.clear();
    put(&kEndTag, 1);
    put(&datasets, sizeof datasets);
    write_all(header_.data(), header_.size());
  }

 private:
  void put(const void *p, std::size_t n) {
    header_.append(static_cast<const char *>(p), n);
  }
  void put_u32(std::uint32_t v) { put(&v, sizeof v); }
  void write_all(const void *p, std::size_t n) {
    const char *c = static_cast<const char *>(p);
    while (n > 0) {
      const ssize_t w = ::write(fd_, c, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) throw std::runtime_error("the parent stopped reading");
      c += w;
      n -= static_cast<std::size_t>(w);
    }
  }

  int fd_;
  std::string header_;
};

// Caps the child's address space at what it has now plus `extra` bytes.
// libhdf5 sizes some buffers from the file (the replay test's mutated files
// made it touch 4 GB); in the child, an allocation past the cap fails, which
// libhdf5 and the walk report as errors, instead of the machine paying for it.
void limit_address_space(std::uint64_t extra) {
  char text[64] = {};
  const int fd = ::open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  const ssize_t n = ::read(fd, text, sizeof text - 1);
  ::close(fd);
  if (n <= 0) return;
  const std::uint64_t pages = std::strtoull(text, nullptr, 10);  // total program size
  const std::uint64_t now = pages * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  struct rlimit limit {};
  if (::getrlimit(RLIMIT_AS, &limit) != 0) return;
  const rlim_t wanted = static_cast<rlim_t>(now + extra);
  if (limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur > wanted) {
    limit.rlim_cur = wanted;
    ::setrlimit(RLIMIT_AS, &limit);
  }
}

[[noreturn]] void run_child(int fd, const std::string &path, ChildFault fault, std::uint64_t file_bytes) {
  // A crash here must kill the child plainly, to be reported by the parent,
  // not run handlers the parent installed (crash reporters, a fuzz driver
  // saving "its" crashing input). A parent that stops reading makes write()
  // fail with EPIPE instead of killing us silently.
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) ::signal(sig, SIG_DFL);
  ::signal(SIGPIPE, SIG_IGN);
  // The child holds one dataset at a time plus libhdf5's caches: 1 GiB plus
  // twice the file is ample for any Keras weight file (Keras does not
  // compress; a compressed dataset that expands past this is refused with
  // "out of memory reading the datasets", an ordinary error).
  limit_address_space((std::uint64_t(1) << 30) + 2 * file_bytes);
  int status = 0;
  try {
    StreamWriter out(fd);
    std::uint64_t sent = 0;
    try {
      if (fault == ChildFault::GarbageThenHang) {
        const char junk = 'X';
        (void)!::write(fd, &junk, 1);
        for (;;) ::pause();  // until the parent kills it
      }
      walk_h5_datasets(path, [&](H5Dataset &&d) {
        out.dataset(d, fault == ChildFault::TruncateFirstDataset);
        if (fault == ChildFault::TruncateFirstDataset) ::_exit(0);
        ++sent;
        if (fault == ChildFault::SegfaultAfterFirstDataset) ::raise(SIGSEGV);
        if (fault == ChildFault::AbortAfterFirstDataset) std::abort();
        if (fault == ChildFault::HangAfterFirstDataset)
          for (;;) ::pause();  // until the parent gives up on it
      });
      out.end(sent);
    } catch (const ModelError &e) {
      // Also a write failure inside the sink: the walk reports it as its error.
      out.error(e.what());
    }
  } catch (const std::bad_alloc &) {
    status = kExitOutOfMemory;
  } catch (const std::runtime_error &) {
    status = kExitCannotWrite;
  } catch (...) {
    status = kExitUnexpected;
  }
  ::_exit(status);
}

// ----------------------------------------------------------------- parent

// The child and the read end of its pipe; whatever happens, the destructor
// leaves no zombie and no open descriptor (a child still running is killed:
// the parent is leaving with an exception and will not read any more).
// Two imports at once on two threads: each child may inherit the other's
// write end, which only delays that other's end of stream until this child
// exits (O_CLOEXEC keeps it out of programs the process execs).
class ReaderProcess {
 public:
  ReaderProcess(const std::string &path, ChildFault fault, std::uint64_t file_bytes) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0)
      throw ModelError(path + ": cannot start the HDF5 reader process: pipe: " + std::strerror(errno));
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(fds[0]);
      run_child(fds[1], path, fault, file_bytes);
    }
    const int fork_errno = errno;
    ::close(fds[1]);  // only the child writes: EOF when it exits
    fd_ = fds[0];
    if (pid_ < 0) {
      ::close(fd_);
      fd_ = -1;
      throw ModelError(path + ": cannot start the HDF5 reader process: fork: " + std::strerror(fork_errno));
    }
  }
  ~ReaderProcess() {
    if (pid_ > 0) ::kill(pid_, SIGKILL);
    if (pid_ > 0 || fd_ >= 0) wait();
  }
  ReaderProcess(const ReaderProcess &) = delete;
  ReaderProcess &operator=(const ReaderProcess &) = delete;

  int fd() const { return fd_; }
  void kill() {
    if (pid_ > 0) ::kill(pid_, SIGKILL);
  }
  /// Closes the pipe and reaps the child; its wait status.
  int wait() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    int status = 0;
    while (pid_ > 0 && ::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return status;
  }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
};

// Buffered reads from the pipe; false at end of stream before `n` bytes.
// A child that sends nothing for `idle_timeout_ms` (libhdf5 looping on a
// corrupt file) reads as the end of the stream, with stalled() set.
class StreamReader {
 public:
  StreamReader(int fd, int idle_timeout_ms) : fd_(fd), idle_timeout_ms_(idle_timeout_ms) {}
  bool stalled() const { return stalled_; }

  bool read(void *dst, std::size_t n) {
    char *out = static_cast<char *>(dst);
    while (n > 0) {
      if (pos_ == end_) {
        if (n >= sizeof buf_) return read_direct(out, n);  // large blocks: no copy
        if (!fill()) return false;
      }
      const std::size_t k = std::min(n, end_ - pos_);
      std::memcpy(out, buf_ + pos_, k);
      pos_ += k;
      out += k;
      n -= k;
    }
    return true;
  }
  template <class T>
  bool read_value(T &v) {
    return read(&v, sizeof v);
  }

 private:
  bool fill() {
    pos_ = end_ = 0;
    const ssize_t r = read_some(buf_, sizeof buf_);
    if (r <= 0) return false;
    end_ = static_cast<std::size_t>(r);
    return true;
  }
  bool read_direct(char *out, std::size_t n) {
    while (n > 0) {
      const ssize_t r = read_some(out, n);
      if (r <= 0) return false;
      out += r;
      n -= static_cast<std::size_t>(r);
    }
    return true;
  }
  ssize_t read_some(char *out, std::size_t n) {
    for (;;) {
      pollfd ready{fd_, POLLIN, 0};
      const int events = ::poll(&ready, 1, idle_timeout_ms_);
      if (events < 0 && errno == EINTR) continue;
      if (events == 0) {
        stalled_ = true;
        return 0;
      }
      const ssize_t r = ::read(fd_, out, n);
      if (r < 0 && errno == EINTR) continue;
      return r;  // an error reads as the end of the stream
    }
  }

  int fd_;
  int idle_timeout_ms_;
  bool stalled_ = false;
  char buf_[1 << 16];
  std::size_t pos_ = 0, end_ = 0;
};

// What the stream held: its datasets, and how it ended.
struct Stream {
  enum class End { Complete, Error, Incomplete, Malformed, Stalled } end = End::Incomplete;
  std::string detail;  // End::Error: the child's message; Malformed: what was wrong
  std::vector<H5Dataset> datasets;
};

// Reads one dataset record (after its tag). Every size is checked before it
// is used; values are allocated in steps as they arrive, so memory grows with
// the bytes received, not with what a damaged record claims.
Stream::End read_dataset(StreamReader &in, std::uint64_t &budget, Stream &s) {
  std::uint32_t path_len = 0, rank = 0;
  if (!in.read_value(path_len)) return Stream::End::Incomplete;
  if (path_len > kMaxPathLength) {
    s.detail = "a dataset path of " + std::to_string(path_len) + " characters";
    return Stream::End::Malformed;
  }
  H5Dataset d;
  d.path.resize(path_len);
  if (!in.read(d.path.data(), path_len) || !in.read_value(rank)) return Stream::End::Incomplete;
  if (rank > kMaxRank) {
    s.detail = "a dataset of rank " + std::to_string(rank);
    return Stream::End::Malformed;
  }
  std::uint64_t n = 1;
  for (std::uint32_t i = 0; i < rank; ++i) {
    std::uint64_t v = 0;
    if (!in.read_value(v)) return Stream::End::Incomplete;
    d.shape.push_back(static_cast<std::int64_t>(v));
    if (v != 0 && n > budget / v) n = budget + 1;  // the walk's rule, overflow-safe
    else n *= v;
  }
  if (n > budget) {
    s.detail = "dataset " + d.path + " with more values than the file can hold";
    return Stream::End::Malformed;
  }
  budget -= n;
  constexpr std::uint64_t kStep = std::uint64_t(1) << 18;  // floats (1 MiB)
  d.values.reserve(static_cast<std::size_t>(std::min(n, kStep)));
  while (d.values.size() < n) {
    if (d.values.size() == d.values.capacity())
      d.values.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(n, 2 * d.values.capacity())));
    const std::size_t at = d.values.size();
    const std::size_t k = std::min<std::size_t>(static_cast<std::size_t>(n) - at, d.values.capacity() - at);
    d.values.resize(at + k);
    if (!in.read(d.values.data() + at, k * sizeof(float))) return Stream::End::Incomplete;
  }
  s.datasets.push_back(std::move(d));
  return Stream::End::Complete;
}

Stream read_records(StreamReader &in, std::uint64_t budget);

Stream read_stream(int fd, std::uint64_t budget, int idle_timeout_ms) {
  StreamReader in(fd, idle_timeout_ms);
  Stream s = read_records(in, budget);
  if (in.stalled()) s.end = Stream::End::Stalled;
  return s;
}

Stream read_records(StreamReader &in, std::uint64_t budget) {
  Stream s;
  for (;;) {
    char tag = 0;
    if (!in.read_value(tag)) {
      s.end = Stream::End::Incomplete;
      return s;
    }
    if (tag == kDatasetTag) {
      if (s.datasets.size() >= kMaxLinks) {
        s.end = Stream::End::Malformed;
        s.detail = "more datasets than the walk allows";
        return s;
      }
      const Stream::End e = read_dataset(in, budget, s);
      if (e != Stream::End::Complete) {
        s.end = e;
        return s;
      }
    } else if (tag == kErrorTag) {
      std::uint32_t len = 0;
      if (!in.read_value(len)) return s;  // Incomplete
      if (len > kMaxMessage) {
        s.end = Stream::End::Malformed;
        s.detail = "an error message of " + std::to_string(len) + " bytes";
        return s;
      }
      s.detail.resize(len);
      if (!in.read(s.detail.data(), len)) {
        s.detail.clear();
        return s;  // Incomplete
      }
      s.end = Stream::End::Error;
      return s;
    } else if (tag == kEndTag) {
      std::uint64_t count = 0;
      if (!in.read_value(count)) return s;  // Incomplete
      if (count != s.datasets.size()) {
        s.end = Stream::End::Malformed;
        s.detail = "an end record for " + std::to_string(count) + " datasets after " +
                   std::to_string(s.datasets.size());
        return s;
      }
      s.end = Stream::End::Complete;
      return s;
    } else {
      s.end = Stream::End::Malformed;
      s.detail = "a record of unknown type " + std::to_string(static_cast<unsigned char>(tag));
      return s;
    }
  }
}

std::string describe_signal(int sig) {
  const char *name = sigabbrev_np(sig);
  return "signal " + std::to_string(sig) + (name ? std::string(", SIG") + name : std::string());
}

}  // namespace

std::vector<H5Dataset> read_h5_datasets_in_child(const std::string &path, ChildFault fault,
                                                 int idle_timeout_ms) {
  // The parent's own bound on what the stream may make it allocate: the walk's
  // budget for this file (the child applies the same one; a file that grows in
  // between only makes a stream refused, never a larger allocation).
  struct stat st {};
  const std::uint64_t file_bytes = ::stat(path.c_str(), &st) == 0 ? std::uint64_t(st.st_size) : 0;
  const std::uint64_t budget = value_budget(file_bytes);

  ReaderProcess child(path, fault, file_bytes);
  Stream s;
  try {
    s = read_stream(child.fd(), budget, idle_timeout_ms);
  } catch (const std::bad_alloc &) {
    throw ModelError(path + ": out of memory reading the HDF5 datasets");  // child killed and reaped
  }
  // A malformed stream's child may still be writing, a stalled one looping: stop it.
  if (s.end == Stream::End::Malformed || s.end == Stream::End::Stalled) child.kill();
  const int status = child.wait();
  if (s.end == Stream::End::Stalled)
    throw ModelError(path + ": corrupt HDF5 file: the HDF5 library made no progress reading it for " +
                     std::to_string(idle_timeout_ms / 1000) + " s (stopped)");

  if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL && s.end != Stream::End::Malformed)
    throw ModelError(path + ": cannot read the HDF5 file: its reader process was killed (" +
                     describe_signal(SIGKILL) + "; out of memory?)");
  if (WIFSIGNALED(status) && s.end != Stream::End::Malformed)
    throw ModelError(path + ": corrupt HDF5 file: the HDF5 library crashed reading it (" +
                     describe_signal(WTERMSIG(status)) + ")");
  if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
    const int code = WEXITSTATUS(status);
    throw ModelError(path + ": cannot read the HDF5 file: its reader process " +
                     (code == kExitOutOfMemory ? std::string("ran out of memory")
                                               : "failed (exit status " + std::to_string(code) + ")"));
  }
  switch (s.end) {
    case Stream::End::Complete:
      return std::move(s.datasets);
    case Stream::End::Error:
      throw ModelError(s.detail);  // the walk's own message, file name included
    case Stream::End::Malformed:
      throw ModelError(path + ": cannot read the HDF5 file: its reader process sent " + s.detail);
    case Stream::End::Incomplete:
    case Stream::End::Stalled:  // reported above
      break;
  }
  throw ModelError(path + ": cannot read the HDF5 file: its reader process stopped before the end");
}

}  // namespace model::h5

namespace model {

std::vector<H5Dataset> read_h5_datasets(const std::string &path) { return h5::read_h5_datasets_in_child(path); }

}  // namespace model
