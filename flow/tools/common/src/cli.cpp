#include "saltools/cli.hpp"

#include <cstdio>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <system_error>

namespace fs = std::filesystem;

namespace tools::cli {

Args::Args(int argc, char **argv, std::string program, std::string usage)
    : argc_(argc), argv_(argv), program_(std::move(program)), usage_(std::move(usage)) {}

void Args::option(const std::string &flag, std::string *out) {
  options_[flag] = [out](const std::string &v) {
    *out = v;
    return !v.empty();
  };
}

void Args::option(const std::string &flag, int *out) {
  options_[flag] = [out](const std::string &v) {
    char *end = nullptr;
    const long x = std::strtol(v.c_str(), &end, 10);
    if (v.empty() || *end || x < -1000000000L || x > 1000000000L) return false;
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

void Args::usage_error(const std::string &message) const {
  std::fprintf(stderr, "%s: %s\nTry '%s --help'.\n", program_.c_str(), message.c_str(), program_.c_str());
  std::exit(2);
}

void fail(const std::string &program, const std::string &message, int code) {
  std::fprintf(stderr, "%s: %s\n", program.c_str(), message.c_str());
  std::exit(code);
}

namespace {

// "/a/b/.NAME<tag>1f2e3d4c": a hidden sibling of `final_dir` with a random suffix.
std::string hidden_sibling(const fs::path &final_dir, const char *tag) {
  std::random_device rd;
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "%08x", static_cast<unsigned>(rd()));
  return (final_dir.parent_path() / ("." + final_dir.filename().string() + tag + suffix)).string();
}

fs::path normalised(const std::string &dir) {
  fs::path f = fs::absolute(dir).lexically_normal();
  if (f.filename().empty()) f = f.parent_path();  // "maps/" -> "maps"
  return f;
}

}  // namespace

void check_output_dir(const std::string &dir, bool overwrite) {
  const fs::path f = normalised(dir);
  std::error_code ec;
  const fs::file_status st = fs::status(f, ec);
  if (!fs::exists(st)) return;
  if (!fs::is_directory(st)) throw std::runtime_error(dir + ": exists and is not a directory");
  if (overwrite) return;
  std::size_t entries = 0;
  for (fs::directory_iterator it(f, ec), end; !ec && it != end; it.increment(ec)) ++entries;
  if (ec) throw std::runtime_error(dir + ": cannot read the directory: " + ec.message());
  if (entries > 0)
    throw std::runtime_error(dir + ": not empty (" + std::to_string(entries) +
                             (entries == 1 ? " entry" : " entries") +
                             "); pass --overwrite to replace it");
}

StagedDir::StagedDir(const std::string &final_dir, bool overwrite) : overwrite_(overwrite) {
  check_output_dir(final_dir, overwrite);
  const fs::path f = normalised(final_dir);
  final_ = f.string();
  std::error_code ec;
  fs::create_directories(f.parent_path(), ec);
  if (ec) throw std::runtime_error(f.parent_path().string() + ": cannot create directory: " + ec.message());
  staging_ = hidden_sibling(f, ".partial-");
  if (!fs::create_directory(staging_, ec))
    throw std::runtime_error(f.parent_path().string() + ": cannot create a directory here: " +
                             (ec ? ec.message() : std::string("already exists")));
}

StagedDir::~StagedDir() {
  if (!committed_) {
    std::error_code ec;
    fs::remove_all(staging_, ec);
  }
}

void StagedDir::commit() {
  std::error_code ec;
  const bool replace = overwrite_ && fs::exists(fs::symlink_status(final_, ec));
  if (!replace) {
    // POSIX rename() puts a directory over a missing or empty one and refuses a
    // non-empty one, so a folder filled since the constructor's check is never
    // merged into.
    fs::rename(staging_, final_, ec);
    if (ec) throw std::runtime_error(final_ + ": cannot move results into place: " + ec.message());
    committed_ = true;
    return;
  }
  // Two renames: NAME is missing only between them, and a failure of the
  // second puts the earlier output back, so NAME always holds one whole run.
  const std::string old = hidden_sibling(final_, ".old-");
  fs::rename(final_, old, ec);
  if (ec)
    throw std::runtime_error(final_ + ": cannot move the earlier output aside: " + ec.message());
  fs::rename(staging_, final_, ec);
  if (ec) {
    std::error_code restore;
    fs::rename(old, final_, restore);
    throw std::runtime_error(final_ + ": cannot move results into place: " + ec.message() +
                             (restore ? "; the earlier output is left in " + old : ""));
  }
  committed_ = true;
  fs::remove_all(old, ec);
  if (ec)
    throw std::runtime_error(final_ + ": replaced, but the earlier output " + old +
                             " could not be removed: " + ec.message());
}

}  // namespace tools::cli
