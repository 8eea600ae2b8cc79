// Helpers shared by the GStreamer test files (one test executable, several files).
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include <gst/gst.h>
#include <gtest/gtest.h>

namespace gsttest {

struct BufferUnref {
  void operator()(GstBuffer *b) const { gst_buffer_unref(b); }
};
using BufferPtr = std::unique_ptr<GstBuffer, BufferUnref>;

struct ObjectUnref {
  void operator()(gpointer o) const { gst_object_unref(o); }
};
using ElementPtr = std::unique_ptr<GstElement, ObjectUnref>;
using BusPtr = std::unique_ptr<GstBus, ObjectUnref>;

/// Counts GLib criticals and warnings (any domain, any thread) while installed,
/// so a test can fail on them as gst_check_init does; messages are still shown.
class LogCounter {
 public:
  LogCounter() { previous_ = g_log_set_default_handler(&LogCounter::handle, this); }
  ~LogCounter() { g_log_set_default_handler(previous_, nullptr); }
  LogCounter(const LogCounter &) = delete;
  LogCounter &operator=(const LogCounter &) = delete;
  int criticals() const { return criticals_; }
  int warnings() const { return warnings_; }

 private:
  static void handle(const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer self) {
    auto *counter = static_cast<LogCounter *>(self);
    if (level & G_LOG_LEVEL_CRITICAL) counter->criticals_++;
    if (level & G_LOG_LEVEL_WARNING) counter->warnings_++;
    g_log_default_handler(domain, level, message, nullptr);
  }
  GLogFunc previous_ = nullptr;
  std::atomic<int> criticals_{0};
  std::atomic<int> warnings_{0};
};

/// Base fixture of the element tests: initialises GStreamer, requires the
/// plugin under test, and fails a test that logged GLib criticals, or more
/// GLib warnings than it declared in expected_warnings_.
class PluginTest : public ::testing::Test {
 protected:
  explicit PluginTest(std::string plugin = "saliency", std::string build_subdir = "gst/elements")
      : plugin_(std::move(plugin)), build_subdir_(std::move(build_subdir)) {}
  void SetUp() override {
    gst_init(nullptr, nullptr);
    ASSERT_NE(gst_registry_find_plugin(gst_registry_get(), plugin_.c_str()), nullptr)
        << "plugin '" << plugin_ << "' not found: set GST_PLUGIN_PATH_1_0 to <builddir>/"
        << build_subdir_;
    log_ = std::make_unique<LogCounter>();
  }
  void TearDown() override {
    EXPECT_EQ(log_->criticals(), 0) << "GLib criticals logged during the test";
    EXPECT_EQ(log_->warnings(), expected_warnings_) << "GLib warnings logged during the test";
    log_.reset();
  }
  std::unique_ptr<LogCounter> log_;
  int expected_warnings_ = 0;

 private:
  std::string plugin_, build_subdir_;
};

}  // namespace gsttest
