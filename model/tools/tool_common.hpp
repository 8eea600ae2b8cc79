// Small helpers shared by the command-line tools: argument parsing, staging
// directories (no half-written output that looks complete), progress and .npy.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace tools {

/// Minimal "--flag value" / "--switch" parser with usage errors (exit 2).
class Args {
 public:
  Args(int argc, char **argv, std::string program, std::string usage);
  /// Declares a flag taking a value / a switch; must be called before parse().
  void option(const std::string &flag, std::string *out);
  void option(const std::string &flag, int *out);
  void option(const std::string &flag, std::uint64_t *out);
  void option(const std::string &flag, double *out);
  void flag(const std::string &flag, bool *out);
  /// Parses argv; prints usage and exits 0 on --help, exits 2 on errors.
  void parse();
  /// Exits 2 with "program: --flag is required" when `value` is empty.
  void require(const std::string &flag, const std::string &value) const;
  [[noreturn]] void usage_error(const std::string &message) const;

 private:
  int argc_;
  char **argv_;
  std::string program_, usage_;
  std::map<std::string, std::function<bool(const std::string &)>> options_;
  std::map<std::string, bool *> flags_;
};

/// Prints "program: message" on stderr and exits with `code`.
[[noreturn]] void fail(const std::string &program, const std::string &message, int code = 1);

/// Output directory written atomically: files go to a hidden staging folder
/// next to `final_dir`; commit() moves them into place; the destructor removes
/// the staging folder if commit() never ran.
class StagedDir {
 public:
  explicit StagedDir(const std::string &final_dir);
  ~StagedDir();
  const std::string &path() const { return staging_; }
  std::string file(const std::string &name) const { return staging_ + "/" + name; }
  void commit();

 private:
  std::string final_, staging_;
  bool committed_ = false;
};

/// Writes a 2-D float32 array as NumPy .npy (version 1.0, little endian, C order).
void write_npy(const std::string &path, const float *values, int height, int width);

/// Rate-limited progress line on stderr ("label: 120/300 frames, 45.2 frames/s, ETA 4 s").
class Progress {
 public:
  Progress(std::string label, int total, bool quiet);
  void update(int done);
  void finish(int done);

 private:
  std::string label_;
  int total_;
  bool quiet_, tty_;
  std::chrono::steady_clock::time_point start_, last_;
};

/// Applies --threads (0 = one per core) to LibTorch and OpenCV.
void set_threads(int threads);

/// Peak resident set size of this process in MiB.
double peak_rss_mb();

}  // namespace tools
