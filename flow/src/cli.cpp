#include "salflow/cli.hpp"

#include <cstdio>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <system_error>

namespace fs = std::filesystem;

namespace flow::cli {

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

StagedDir::StagedDir(const std::string &final_dir) {
  fs::path f = fs::absolute(final_dir).lexically_normal();
  if (f.filename().empty()) f = f.parent_path();
  final_ = f.string();
  std::error_code ec;
  if (fs::exists(f, ec) && !fs::is_directory(f, ec))
    throw std::runtime_error(final_ + ": exists and is not a directory");
  fs::create_directories(f.parent_path(), ec);
  if (ec) throw std::runtime_error(f.parent_path().string() + ": cannot create directory: " + ec.message());
  std::random_device rd;
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "%08x", static_cast<unsigned>(rd()));
  staging_ = (f.parent_path() / ("." + f.filename().string() + ".partial-" + suffix)).string();
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

namespace {

void move_contents(const fs::path &from, const fs::path &to) {
  std::error_code ec;
  for (const auto &e : fs::directory_iterator(from)) {
    const fs::path dst = to / e.path().filename();
    if (e.is_directory() && fs::is_directory(dst, ec)) {
      move_contents(e.path(), dst);  // merge sub-folders (e.g. vis/)
      continue;
    }
    if (fs::is_directory(dst, ec)) fs::remove_all(dst, ec);
    fs::rename(e.path(), dst, ec);
    if (ec) throw std::runtime_error(dst.string() + ": cannot write: " + ec.message());
  }
}

}  // namespace

void StagedDir::commit() {
  std::error_code ec;
  if (!fs::exists(final_, ec)) {
    fs::rename(staging_, final_, ec);
    if (ec) throw std::runtime_error(final_ + ": cannot move results into place: " + ec.message());
  } else {
    move_contents(staging_, final_);
    fs::remove_all(staging_, ec);
  }
  committed_ = true;
}

}  // namespace flow::cli
