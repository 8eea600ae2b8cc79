#include "tool_common.hpp"

#include <cstdio>
#include <cstdlib>
#include <stdlib.h>
#include <filesystem>
#include <fstream>
#include <random>
#include <sys/resource.h>
#include <thread>
#include <unistd.h>

#include <ATen/Parallel.h>
#include <opencv2/core.hpp>
#include <opencv2/core/utils/logger.hpp>

namespace fs = std::filesystem;

namespace tools {

Args::Args(int argc, char **argv, std::string program, std::string usage)
    : argc_(argc), argv_(argv), program_(std::move(program)), usage_(std::move(usage)) {}

void Args::option(const std::string &flag, std::string *out) {
  options_[flag] = [out](const std::string &v) { *out = v; return true; };
}
void Args::option(const std::string &flag, int *out) {
  options_[flag] = [out](const std::string &v) {
    char *end = nullptr;
    const long x = std::strtol(v.c_str(), &end, 10);
    if (v.empty() || *end) return false;
    *out = int(x);
    return true;
  };
}
void Args::option(const std::string &flag, std::uint64_t *out) {
  options_[flag] = [out](const std::string &v) {
    char *end = nullptr;
    const unsigned long long x = std::strtoull(v.c_str(), &end, 10);
    if (v.empty() || *end || v[0] == '-') return false;
    *out = x;
    return true;
  };
}
void Args::option(const std::string &flag, double *out) {
  options_[flag] = [out](const std::string &v) {
    char *end = nullptr;
    const double x = std::strtod(v.c_str(), &end);
    if (v.empty() || *end) return false;
    *out = x;
    return true;
  };
}
void Args::flag(const std::string &flag, bool *out) { flags_[flag] = out; }

void Args::usage_error(const std::string &message) const {
  std::fprintf(stderr, "%s: %s\nTry '%s --help'.\n", program_.c_str(), message.c_str(), program_.c_str());
  std::exit(2);
}

void Args::parse() {
  for (int i = 1; i < argc_; ++i) {
    std::string a = argv_[i];
    if (a == "--help" || a == "-h") {
      std::fputs(usage_.c_str(), stdout);
      std::exit(0);
    }
    std::string value;
    bool has_inline = false;
    if (const auto eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
      has_inline = true;
    }
    if (auto f = flags_.find(a); f != flags_.end()) {
      if (has_inline) usage_error(a + " takes no value");
      *f->second = true;
      continue;
    }
    auto o = options_.find(a);
    if (o == options_.end()) usage_error("unknown argument '" + a + "'");
    if (!has_inline) {
      if (i + 1 >= argc_) usage_error(a + " needs a value");
      value = argv_[++i];
    }
    if (!o->second(value)) usage_error("invalid value '" + value + "' for " + a);
  }
}

void Args::require(const std::string &flag, const std::string &value) const {
  if (value.empty()) usage_error(flag + " is required");
}

void fail(const std::string &program, const std::string &message, int code) {
  std::fprintf(stderr, "%s: %s\n", program.c_str(), message.c_str());
  std::exit(code);
}

StagedDir::StagedDir(const std::string &final_dir) : final_(final_dir) {
  fs::path f = fs::absolute(final_dir).lexically_normal();
  if (f.filename().empty()) f = f.parent_path();
  final_ = f.string();
  std::error_code ec;
  fs::create_directories(f.parent_path(), ec);
  if (fs::exists(f, ec) && !fs::is_directory(f, ec))
    throw std::runtime_error(final_ + ": exists and is not a directory");
  std::random_device rd;
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "%08x", rd());
  staging_ = (f.parent_path() / ("." + f.filename().string() + ".partial-" + suffix)).string();
  if (!fs::create_directory(staging_, ec))
    throw std::runtime_error(f.parent_path().string() + ": cannot create a directory here: " + ec.message());
}

StagedDir::~StagedDir() {
  if (!committed_) {
    std::error_code ec;
    fs::remove_all(staging_, ec);
  }
}

void StagedDir::commit() {
  std::error_code ec;
  if (!fs::exists(final_, ec)) {
    fs::rename(staging_, final_, ec);
    if (ec) throw std::runtime_error(final_ + ": cannot move results into place: " + ec.message());
  } else {
    // The directory exists (a previous run, or made by the user): replace files by name.
    for (const auto &e : fs::directory_iterator(staging_)) {
      const fs::path dst = fs::path(final_) / e.path().filename();
      if (fs::is_directory(dst, ec)) fs::remove_all(dst, ec);
      fs::rename(e.path(), dst, ec);
      if (ec) throw std::runtime_error(dst.string() + ": cannot write: " + ec.message());
    }
    fs::remove_all(staging_, ec);
  }
  committed_ = true;
}

void write_npy(const std::string &path, const float *values, int height, int width) {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(height) + ", " +
                       std::to_string(width) + "), }";
  // Magic (6) + version (2) + length (2) + header + '\n' must be a multiple of 64.
  const std::size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header.push_back('\n');
  std::ofstream out(path, std::ios::binary);
  const char magic[] = "\x93NUMPY\x01\x00";
  out.write(magic, 8);
  const std::uint16_t len = std::uint16_t(header.size());
  const char len_bytes[2] = {char(len & 0xff), char(len >> 8)};
  out.write(len_bytes, 2);
  out.write(header.data(), std::streamsize(header.size()));
  out.write(reinterpret_cast<const char *>(values), std::streamsize(sizeof(float)) * height * width);
  if (!out) throw std::runtime_error(path + ": write failed");
}

Progress::Progress(std::string label, int total, bool quiet)
    : label_(std::move(label)), total_(total), quiet_(quiet), tty_(isatty(STDERR_FILENO)) {
  start_ = last_ = std::chrono::steady_clock::now();
}

void Progress::update(int done) {
  if (quiet_) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_ < std::chrono::seconds(tty_ ? 1 : 10)) return;
  last_ = now;
  const double s = std::chrono::duration<double>(now - start_).count();
  const double rate = done / std::max(s, 1e-9);
  if (total_ > 0) {
    const double eta = rate > 0 ? (total_ - done) / rate : 0.0;
    std::fprintf(stderr, "%s%s: %d/%d frames, %.1f frames/s, ETA %.0f s%s", tty_ ? "\r" : "", label_.c_str(), done,
                 total_, rate, std::max(0.0, eta), tty_ ? "   " : "\n");
  } else {
    std::fprintf(stderr, "%s%s: %d frames, %.1f frames/s%s", tty_ ? "\r" : "", label_.c_str(), done, rate,
                 tty_ ? "   " : "\n");
  }
  std::fflush(stderr);
}

void Progress::finish(int done) {
  if (quiet_) return;
  if (tty_) std::fputs("\r\033[K", stderr);
  (void)done;
}

void set_threads(int threads) {
  const int n = threads > 0 ? threads : int(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(n);
  cv::setNumThreads(n);
  // Our errors are one line; OpenCV's and FFmpeg's own messages while probing
  // a bad file would bury them. (FFmpeg's level is read when OpenCV first opens
  // a video; the user's own setting wins.)
  cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_ERROR);
  setenv("OPENCV_FFMPEG_LOGLEVEL", "-8", /*overwrite=*/0);
}

double peak_rss_mb() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;  // Linux reports KiB
}

}  // namespace tools
