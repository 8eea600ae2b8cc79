#include "saltools/synthetic_clip.hpp"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>
#include <stdexcept>

#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

namespace tools {

cv::Mat synthetic_background(int width, int height, std::mt19937_64 &rng) {
  std::uniform_real_distribution<float> u(0.f, 1.f);
  const int w = width, h = height;
  // Background: smooth low-contrast texture (blurred noise plus a gentle
  // gradient), so that static saliency has something to reject.
  cv::Mat noise(h / 4 + 1, w / 4 + 1, CV_32FC3);
  for (int y = 0; y < noise.rows; ++y)
    for (int x = 0; x < noise.cols; ++x)
      noise.at<cv::Vec3f>(y, x) = cv::Vec3f(u(rng), u(rng), u(rng));
  cv::Mat big;
  cv::resize(noise, big, cv::Size(w, h), 0, 0, cv::INTER_CUBIC);
  cv::GaussianBlur(big, big, cv::Size(0, 0), 3.0);
  cv::Mat background(h, w, CV_8UC3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const cv::Vec3f n = big.at<cv::Vec3f>(y, x);
      const float g = 90.f + 40.f * float(y) / float(h);
      background.at<cv::Vec3b>(y, x) =
          cv::Vec3b(cv::saturate_cast<uchar>(g + 30.f * (n[0] - 0.5f)),
                    cv::saturate_cast<uchar>(g + 10.f + 30.f * (n[1] - 0.5f)),
                    cv::saturate_cast<uchar>(g - 10.f + 30.f * (n[2] - 0.5f)));
    }
  return background;
}

SyntheticClip::SyntheticClip(const SyntheticClipOptions &options) : options_(options) {
  if (options_.width < 16 || options_.height < 16 || options_.frames < 1 || options_.objects < 1)
    throw std::invalid_argument("synthetic clip: width/height must be >= 16, frames and objects >= 1");
  std::mt19937_64 rng(options_.seed);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  const int w = options_.width, h = options_.height;

  background_ = synthetic_background(w, h, rng);

  const float base = std::min(w, h);
  for (int k = 0; k < options_.objects; ++k) {
    Object o;
    o.radius = base * (0.10f - 0.02f * std::min(k, 3));
    o.start = cv::Point2f(w * (0.2f + 0.6f * u(rng)), h * (0.25f + 0.5f * u(rng)));
    const float speed = base * (0.025f / float(k + 1));  // pixels per frame
    const float angle = 6.2831853f * u(rng);
    o.velocity = cv::Point2f(speed * std::cos(angle), speed * std::sin(angle));
    static const cv::Scalar palette[] = {{40, 40, 230}, {230, 160, 40}, {60, 210, 60}, {200, 60, 200}};
    o.colour = palette[k % 4];
    o.shape = k % 3;
    objects_.push_back(o);
  }
}

// Objects bounce off the frame borders: position is a triangle wave of time.
float bounce_position(float start, float velocity, int index, float lo, float hi) {
  const float span = hi - lo;
  if (span <= 0.f) return lo;
  float p = std::fmod(start - lo + velocity * float(index), 2.f * span);
  if (p < 0.f) p += 2.f * span;
  return lo + (p <= span ? p : 2.f * span - p);
}

cv::Point2f SyntheticClip::object_centre(int k, int index) const {
  const Object &o = objects_.at(k);
  return {bounce_position(o.start.x, o.velocity.x, index, o.radius, options_.width - o.radius),
          bounce_position(o.start.y, o.velocity.y, index, o.radius, options_.height - o.radius)};
}

float SyntheticClip::object_radius(int k) const { return objects_.at(k).radius; }

cv::Mat SyntheticClip::frame(int index) const {
  cv::Mat f = background_.clone();
  for (int k = int(objects_.size()) - 1; k >= 0; --k) {
    const Object &o = objects_[k];
    const cv::Point2f c = object_centre(k, index);
    const cv::Point ci(cvRound(c.x), cvRound(c.y));
    const int r = cvRound(o.radius);
    if (o.shape == 0) {
      cv::circle(f, ci, r, o.colour, cv::FILLED, cv::LINE_AA);
    } else if (o.shape == 1) {
      cv::rectangle(f, ci - cv::Point(r, r), ci + cv::Point(r, r), o.colour, cv::FILLED, cv::LINE_AA);
    } else {
      std::vector<cv::Point> tri = {ci + cv::Point(0, -r), ci + cv::Point(r, r), ci + cv::Point(-r, r)};
      cv::fillConvexPoly(f, tri, o.colour, cv::LINE_AA);
    }
    // A bright stripe gives texture inside the object (flow needs gradients).
    cv::line(f, ci - cv::Point(r / 2, 0), ci + cv::Point(r / 2, 0), cv::Scalar(250, 250, 250), 2, cv::LINE_AA);
  }
  return f;
}

void write_synthetic_clip(const std::string &path, const SyntheticClipOptions &options, double fps) {
  SyntheticClip clip(options);
  const std::filesystem::path final_path(path);
  const std::filesystem::path tmp =
      final_path.parent_path() / (".tmp-" + final_path.filename().string() + ".avi");
  cv::VideoWriter writer(tmp.string(), cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), fps,
                         cv::Size(options.width, options.height));
  if (!writer.isOpened()) throw std::runtime_error(path + ": cannot open for writing (Motion-JPEG AVI)");
  for (int i = 0; i < clip.frame_count(); ++i) writer.write(clip.frame(i));
  writer.release();
  std::error_code ec;
  std::filesystem::rename(tmp, final_path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    throw std::runtime_error(path + ": cannot write: " + ec.message());
  }
}

}  // namespace tools
