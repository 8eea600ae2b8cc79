#include "salflow/frame_source.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <glob.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

namespace fs = std::filesystem;

namespace flow {

namespace {

bool has_image_extension(const fs::path &p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  static const char *known[] = {".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp"};
  return std::any_of(std::begin(known), std::end(known), [&](const char *k) { return ext == k; });
}

bool is_glob(const std::string &s) { return s.find_first_of("*?[") != std::string::npos; }

}  // namespace

std::vector<std::string> list_images(const std::string &dir_or_glob) {
  std::vector<std::string> files;
  if (is_glob(dir_or_glob)) {
    glob_t g{};
    const int rc = ::glob(dir_or_glob.c_str(), 0, nullptr, &g);
    if (rc == 0)
      for (size_t i = 0; i < g.gl_pathc; ++i)
        if (fs::is_regular_file(g.gl_pathv[i]) && has_image_extension(g.gl_pathv[i]))
          files.emplace_back(g.gl_pathv[i]);
    globfree(&g);
    if (files.empty()) throw InputError(dir_or_glob + ": no image files match this pattern");
  } else {
    std::error_code ec;
    if (!fs::is_directory(dir_or_glob, ec)) throw InputError(dir_or_glob + ": not a directory");
    for (const auto &e : fs::directory_iterator(dir_or_glob, ec))
      if (e.is_regular_file() && has_image_extension(e.path())) files.push_back(e.path().string());
    if (ec) throw InputError(dir_or_glob + ": cannot list directory: " + ec.message());
    if (files.empty()) throw InputError(dir_or_glob + ": no image files (.png, .jpg, ...) in this directory");
  }
  // Name order, compared on the file name so "dir/0002.png" < "dir/0010.png"
  // as users number their frames with leading zeros.
  std::sort(files.begin(), files.end(), [](const std::string &a, const std::string &b) {
    return fs::path(a).filename().string() < fs::path(b).filename().string();
  });
  return files;
}

struct FrameSource::Impl {
  std::string path;
  bool video = false;
  cv::VideoCapture capture;
  std::vector<std::string> files;
  size_t next = 0;
  int decoded = 0;
  cv::Size size;
};

FrameSource::FrameSource(const std::string &path) : impl_(std::make_unique<Impl>()) {
  impl_->path = path;
  std::error_code ec;
  if (is_glob(path) || fs::is_directory(path, ec)) {
    impl_->files = list_images(path);
    return;
  }
  if (!fs::exists(path, ec)) throw InputError(path + ": no such file or directory");
  if (!fs::is_regular_file(path, ec)) throw InputError(path + ": not a regular file");
  if (has_image_extension(path)) {  // a single image is a one-frame sequence
    impl_->files = {path};
    return;
  }
  impl_->video = true;
  // FFmpeg only: OpenCV's other backends (its GStreamer one in particular)
  // print pages of warnings on files they cannot open.
  impl_->capture.open(path, cv::CAP_FFMPEG);
  if (!impl_->capture.isOpened()) throw InputError(path + ": cannot open as a video (unknown or unsupported format)");
}

FrameSource::~FrameSource() = default;

bool FrameSource::read(cv::Mat &bgr) {
  Impl &s = *impl_;
  cv::Mat frame;
  if (s.video) {
    if (!s.capture.read(frame) || frame.empty()) {
      if (s.decoded == 0) throw InputError(s.path + ": video contains no decodable frame");
      return false;
    }
    char name[32];
    std::snprintf(name, sizeof name, "%04d", s.decoded + 1);
    name_ = name;
  } else {
    if (s.next >= s.files.size()) return false;
    const std::string &file = s.files[s.next++];
    frame = cv::imread(file, cv::IMREAD_COLOR);
    if (frame.empty()) throw InputError(file + ": cannot decode image");
    name_ = fs::path(file).stem().string();
  }
  if (frame.channels() == 1) cv::cvtColor(frame, frame, cv::COLOR_GRAY2BGR);
  if (frame.channels() == 4) cv::cvtColor(frame, frame, cv::COLOR_BGRA2BGR);
  if (s.decoded == 0) {
    s.size = frame.size();
  } else if (frame.size() != s.size) {
    throw InputError((s.video ? s.path : s.files[s.next - 1]) + ": frame size " + std::to_string(frame.cols) +
                     "x" + std::to_string(frame.rows) + " differs from the first frame's " +
                     std::to_string(s.size.width) + "x" + std::to_string(s.size.height));
  }
  ++s.decoded;
  bgr = frame;
  return true;
}

int FrameSource::frame_count_hint() const {
  if (!impl_->video) return int(impl_->files.size());
  const double n = impl_->capture.get(cv::CAP_PROP_FRAME_COUNT);
  return n > 0 ? int(n) : -1;
}

double FrameSource::fps() const { return impl_->video ? impl_->capture.get(cv::CAP_PROP_FPS) : 0.0; }

bool FrameSource::is_video() const { return impl_->video; }

}  // namespace flow
