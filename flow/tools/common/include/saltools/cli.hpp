// Command-line helpers shared by every tool of the project (flow/ and model/):
// argument parsing with the project's exit codes (DESIGN.md "Errors": 0 ok,
// 1 failure, 2 usage) and a staged output directory, so that a failed run never
// leaves output that looks complete. Standard C++ only.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>

namespace tools::cli {

/// Minimal "--flag value" / "--flag=value" / "--switch" parser.
class Args {
 public:
  Args(int argc, char **argv, std::string program, std::string usage);
  /// Declares a flag taking a value (an empty string value is refused) / a switch.
  void option(const std::string &flag, std::string *out);
  void option(const std::string &flag, int *out);
  void option(const std::string &flag, std::uint64_t *out);
  void option(const std::string &flag, double *out);
  void flag(const std::string &flag, bool *out);
  /// Prints the usage and exits 0 on --help; exits 2 on malformed arguments.
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

/// Prints "program: message" (the message names the file) and exits with `code`.
[[noreturn]] void fail(const std::string &program, const std::string &message, int code = 1);

/// Checks that `dir` may receive a tool's output (DESIGN.md: a tool's output
/// folder holds exactly that run's outputs, never mixed with an earlier run's):
/// missing or an empty directory is fine; a non-empty directory is refused
/// unless `overwrite` ("DIR: not empty (N entries); pass --overwrite to replace
/// it"); anything else ("DIR: exists and is not a directory") always. Changes
/// nothing. Throws std::runtime_error naming `dir` as given.
void check_output_dir(const std::string &dir, bool overwrite);

/// An output directory written atomically: files go to a hidden staging folder
/// beside the final one, created by the constructor after check_output_dir()
/// (so a refused run writes nothing). commit() renames the staging folder into
/// place: over a missing or empty folder with one rename(); with `overwrite`
/// over an existing one by renaming that aside to a hidden ".NAME.old-XXXXXXXX",
/// renaming the staging folder to NAME (on failure the old folder is put back)
/// and then removing the old one. It never merges into an existing folder. The
/// destructor removes the staging folder if commit() never ran. Throws
/// std::runtime_error naming the folder.
class StagedDir {
 public:
  StagedDir(const std::string &final_dir, bool overwrite);
  ~StagedDir();
  StagedDir(const StagedDir &) = delete;
  StagedDir &operator=(const StagedDir &) = delete;

  const std::string &path() const { return staging_; }
  const std::string &final_path() const { return final_; }
  std::string file(const std::string &name) const { return staging_ + "/" + name; }
  void commit();

 private:
  std::string final_, staging_;
  bool overwrite_;
  bool committed_ = false;
};

}  // namespace tools::cli
