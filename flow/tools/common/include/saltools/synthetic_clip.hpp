// A synthetic video generator: textured background, a few moving and
// appearing objects. It gives the project a clip of its own for the demo, the
// pipelines and tests (nothing to download), with the ground truth of where
// the motion is.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace tools {

struct SyntheticClipOptions {
  int width = 384;
  int height = 224;
  int frames = 96;
  std::uint64_t seed = 1;
  /// Number of moving objects (the first one moves fastest and is the most salient).
  int objects = 3;
};

/// Deterministic clip: frame(i) is a pure function of (options, i).
class SyntheticClip {
 public:
  explicit SyntheticClip(const SyntheticClipOptions &options = {});
  int frame_count() const { return options_.frames; }
  const SyntheticClipOptions &options() const { return options_; }
  /// BGR CV_8UC3 frame i (0-based).
  cv::Mat frame(int index) const;
  /// Centre (pixels) and radius of object k in frame i.
  cv::Point2f object_centre(int k, int index) const;
  float object_radius(int k) const;

 private:
  struct Object {
    cv::Point2f start, velocity;
    float radius;
    cv::Scalar colour;
    int shape;  // 0 disc, 1 square, 2 triangle
  };
  SyntheticClipOptions options_;
  cv::Mat background_;
  std::vector<Object> objects_;
};

/// The clip's smooth, low-contrast background (blurred noise over a vertical
/// gradient), BGR CV_8UC3, drawn from `rng`. SyntheticClip draws it first from
/// its seed; the synthetic saliency dataset (model/) reuses it under its own texture.
cv::Mat synthetic_background(int width, int height, std::mt19937_64 &rng);

/// Position on one axis of an object starting at `start` and moving `velocity`
/// pixels per frame that bounces off `lo` and `hi`: a triangle wave of `index`.
float bounce_position(float start, float velocity, int index, float lo, float hi);

/// Writes the clip as a Motion-JPEG AVI (decodable by OpenCV and by GStreamer's
/// avidemux/jpegdec without extra plugins), atomically. Throws std::runtime_error.
void write_synthetic_clip(const std::string &path, const SyntheticClipOptions &options, double fps = 25.0);

}  // namespace tools
