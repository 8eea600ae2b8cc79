// Reading frames from a video file, a directory of images or a glob, in display order.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace flow {

class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// One source of frames. `path` may be
///  - a directory: every .png/.jpg/.jpeg/.bmp/.ppm/.tif file in it, sorted by name;
///  - a glob pattern (contains * ? or [): matching image files, sorted by name;
///  - anything else: a video file decoded with OpenCV.
/// Errors (missing path, empty folder, undecodable video or image) throw
/// InputError with a one-line message naming the path.
class FrameSource {
 public:
  explicit FrameSource(const std::string &path);
  ~FrameSource();
  FrameSource(const FrameSource &) = delete;
  FrameSource &operator=(const FrameSource &) = delete;

  /// Next frame as BGR CV_8UC3; false at the end.
  bool read(cv::Mat &bgr);
  /// Name for the frame just read, without extension: the image file's stem
  /// for folders and globs, "0001", "0002", ... for videos.
  const std::string &frame_name() const { return name_; }
  /// Number of frames if known in advance (folders, globs; videos report
  /// OpenCV's estimate), else -1.
  int frame_count_hint() const;
  /// Frames per second for videos (0 when unknown or for image sequences).
  double fps() const;
  bool is_video() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string name_;
};

/// Sorted list of image files in a directory or matching a glob; throws InputError if none.
std::vector<std::string> list_images(const std::string &dir_or_glob);

}  // namespace flow
