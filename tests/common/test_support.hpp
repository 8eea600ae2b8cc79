// Helpers shared by the test suites.
#pragma once

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace testsupport {

/// ../shared beside the project (CI and developers have it; users' clones may not).
inline std::string shared_dir() {
  const char *env = std::getenv("GST_SALIENCY_SHARED");
  std::filesystem::path p = env ? env : "../shared";
  std::error_code ec;
  if (std::filesystem::is_directory(p / "data", ec)) return std::filesystem::canonical(p).string();
  return {};
}

/// A fresh temporary directory, removed when the object goes out of scope.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "gst-saliency-test-XXXXXX").string();
    char *made = mkdtemp(tmpl.data());
    if (made) path_ = made;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string &path() const { return path_; }
  std::string operator/(const std::string &name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// The names in `dir`, sorted (what a tool left in its output folder).
inline std::vector<std::string> listing(const std::string &dir) {
  std::vector<std::string> names;
  for (const auto &e : std::filesystem::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

/// What `f` throws, for tests of error messages: the message of an E, "<not
/// a NAME> message" for any other exception (so an assertion on the text
/// fails and shows it), "<no error>" when it throws nothing.
template <class E>
std::string error_message_of(const std::function<void()> &f, const char *name) {
  try {
    f();
  } catch (const E &e) {
    return e.what();
  } catch (const std::exception &e) {
    return std::string("<not a ") + name + "> " + e.what();
  }
  return "<no error>";
}

inline std::string build_root() {
  const char *env = std::getenv("GST_SALIENCY_BUILD_ROOT");
  return env ? env : ".";
}
inline std::string source_root() {
  const char *env = std::getenv("GST_SALIENCY_SOURCE_ROOT");
  return env ? env : "..";
}

}  // namespace testsupport

/// Skips the current test with a clear message when ../shared is absent.
#define REQUIRE_SHARED_DATA(var)                                                            \
  const std::string var = testsupport::shared_dir();                                        \
  if (var.empty())                                                                          \
    GTEST_SKIP() << "../shared (test data) is absent: set GST_SALIENCY_SHARED to its path " \
                    "to run this test"
