#include "salmodel/synthetic_dataset.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <thread>

#include "random.hpp"
#include "saltools/cli.hpp"
#include "salflow/flo_io.hpp"
#include "saltools/synthetic_clip.hpp"
#include "salmodel/predictor.hpp"  // ModelError

namespace fs = std::filesystem;

namespace model::data {

namespace {

using detail::Random;
using detail::seed_of;

// Purposes of derived seeds.
constexpr std::uint64_t kScene = 1, kFixations = 2;
// Observers per frame, spread of their fixations around an object (in object
// radii) and frames an appearing object holds attention.
constexpr int kObservers = 15;
constexpr double kFixationSpread = 0.35;
constexpr int kAppearAttention = 10;

// A random-field texture: noise on a grid of `cell` pixels, smoothly interpolated.
cv::Mat noise_field(Random &rng, cv::Size size, int cell, int channels) {
  cv::Mat grid(size.height / cell + 2, size.width / cell + 2, CV_32FC(channels));
  float *p = grid.ptr<float>();
  for (std::size_t i = 0; i < grid.total() * channels; ++i) p[i] = float(rng.uniform(-1.0, 1.0));
  cv::Mat out;
  cv::resize(grid, out, size, 0, 0, cv::INTER_CUBIC);
  return out;
}

cv::Vec3f random_colour(Random &rng) {
  cv::Mat hsv(1, 1, CV_8UC3,
              cv::Scalar(rng.integer(0, 179), rng.integer(140, 255), rng.integer(140, 255)));
  cv::Mat bgr;
  cv::cvtColor(hsv, bgr, cv::COLOR_HSV2BGR);
  const cv::Vec3b c = bgr.at<cv::Vec3b>(0, 0);
  return cv::Vec3f(c[0], c[1], c[2]);
}

}  // namespace

SyntheticVideo::SyntheticVideo(const SyntheticVideoOptions &options) : options_(options) {
  if (options.width < 32 || options.height < 32 || options.frames < 2)
    throw ModelError("synthetic video: width and height must be >= 32 and frames >= 2");
  const int w = options.width, h = options.height;
  Random rng(seed_of(options.seed, kScene));

  // Background: the demo clip's smooth colour field under a random-scale
  // texture, so that edges and blobs are everywhere, not only on objects.
  const cv::Mat smooth = tools::synthetic_background(w, h, rng.engine());
  const cv::Mat coarse = noise_field(rng, {w, h}, rng.integer(3, 10), 3);
  const cv::Mat fine = noise_field(rng, {w, h}, 1, 1);
  const float amplitude = float(rng.uniform(20.0, 45.0));
  background_.create(h, w, CV_8UC3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const cv::Vec3b s = smooth.at<cv::Vec3b>(y, x);
      const cv::Vec3f c = coarse.at<cv::Vec3f>(y, x);
      const float f = 8.f * fine.at<float>(y, x);
      cv::Vec3b &out = background_.at<cv::Vec3b>(y, x);
      for (int ch = 0; ch < 3; ++ch)
        out[ch] = cv::saturate_cast<uchar>(s[ch] + amplitude * c[ch] + f);
    }

  // Objects: every one drawn from the same distribution (size, shape, colour,
  // texture); only the role decides how it behaves over time.
  const double base = std::min(w, h);
  auto make = [&](Role role) {
    Object o;
    o.role = role;
    o.radius = std::max(4, int(std::lround(base * rng.uniform(0.08, 0.12))));
    const int r = o.radius, s = 2 * r + 1;
    o.mask = cv::Mat::zeros(s, s, CV_8UC1);
    switch (rng.integer(0, 3)) {
      case 0:
        cv::circle(o.mask, {r, r}, r, 255, cv::FILLED, cv::LINE_8);
        break;
      case 1:
        o.mask.setTo(255);
        break;
      case 2: {
        const std::vector<cv::Point> tri = {{r, 0}, {s - 1, s - 1}, {0, s - 1}};
        cv::fillConvexPoly(o.mask, tri, 255, cv::LINE_8);
        break;
      }
      default: {
        const std::vector<cv::Point> diamond = {{r, 0}, {s - 1, r}, {r, s - 1}, {0, r}};
        cv::fillConvexPoly(o.mask, diamond, 255, cv::LINE_8);
        break;
      }
    }
    const cv::Vec3f colour = random_colour(rng);
    const cv::Mat texture = noise_field(rng, {s, s}, 2, 1);
    o.patch.create(s, s, CV_8UC3);
    for (int y = 0; y < s; ++y)
      for (int x = 0; x < s; ++x) {
        const float t = 45.f * texture.at<float>(y, x);
        for (int ch = 0; ch < 3; ++ch)
          o.patch.at<cv::Vec3b>(y, x)[ch] = cv::saturate_cast<uchar>(colour[ch] + t);
      }
    o.start = cv::Point2f(float(rng.uniform(r, w - 1 - r)), float(rng.uniform(r, h - 1 - r)));
    if (role == Role::Mover) {
      const double speed = std::max(1.5, rng.uniform(0.015, 0.03) * w);  // pixels per frame
      const double angle = rng.uniform(0.0, 6.283185307179586);
      o.velocity = cv::Point2f(float(speed * std::cos(angle)), float(speed * std::sin(angle)));
    }
    return o;
  };
  const int distractors = rng.integer(3, 5);
  const bool appearing = rng.uniform() < 0.4;
  const int movers = rng.uniform() < 0.3 ? 2 : 1;
  // Drawing order: distractors, then the appearing object, then the movers on
  // top (a mover is never hidden, so the attended object is always visible).
  for (int k = 0; k < distractors; ++k) objects_.push_back(make(Role::Distractor));
  if (appearing) {
    objects_.push_back(make(Role::Appearing));
    objects_.back().appear =
        rng.integer(options.frames / 4, std::max(options.frames / 4, 3 * options.frames / 4));
  }
  for (int k = 0; k < movers; ++k) objects_.push_back(make(Role::Mover));
}

cv::Point SyntheticVideo::object_centre(int k, int index) const {
  const Object &o = objects_.at(k);
  const float r = float(o.radius);
  return {int(std::lround(
              tools::bounce_position(o.start.x, o.velocity.x, index, r, options_.width - 1 - r))),
          int(std::lround(
              tools::bounce_position(o.start.y, o.velocity.y, index, r, options_.height - 1 - r)))};
}

cv::Mat SyntheticVideo::frame(int index) const {
  cv::Mat f = background_.clone();
  for (int k = 0; k < object_count(); ++k) {
    if (!object_visible(k, index)) continue;
    const Object &o = objects_[k];
    const cv::Point c = object_centre(k, index);
    o.patch.copyTo(f(cv::Rect(c.x - o.radius, c.y - o.radius, o.patch.cols, o.patch.rows)), o.mask);
  }
  return f;
}

cv::Mat SyntheticVideo::flow(int index) const {
  if (index < 0 || index + 1 >= frame_count())
    throw ModelError("synthetic video: no flow after frame " + std::to_string(index));
  cv::Mat f(options_.height, options_.width, CV_32FC2, cv::Scalar(0, 0));
  for (int k = 0; k < object_count(); ++k) {
    if (!object_visible(k, index)) continue;
    const Object &o = objects_[k];
    const cv::Point c = object_centre(k, index), d = object_centre(k, index + 1) - c;
    f(cv::Rect(c.x - o.radius, c.y - o.radius, o.mask.cols, o.mask.rows))
        .setTo(cv::Scalar(d.x, d.y), o.mask);
  }
  return f;
}

std::vector<std::pair<int, double>> SyntheticVideo::attention(int index) const {
  std::vector<int> movers;
  int appearing = -1;
  for (int k = 0; k < object_count(); ++k) {
    if (objects_[k].role == Role::Mover) movers.push_back(k);
    if (objects_[k].role == Role::Appearing && object_visible(k, index) &&
        index - objects_[k].appear < kAppearAttention)
      appearing = k;
  }
  std::vector<std::pair<int, double>> out;
  const double mover_share = appearing >= 0 ? 0.4 : 1.0;
  if (appearing >= 0) out.emplace_back(appearing, 0.6);
  for (int k : movers) out.emplace_back(k, mover_share / double(movers.size()));
  return out;
}

std::vector<cv::Point> SyntheticVideo::fixations(int index) const {
  Random rng(seed_of(options_.seed, kFixations, std::uint64_t(index)));
  const auto targets = attention(index);
  std::vector<cv::Point> out;
  for (int i = 0; i < kObservers; ++i) {
    double pick = rng.uniform();
    int k = targets.back().first;
    for (const auto &[object, share] : targets) {
      if (pick < share) {
        k = object;
        break;
      }
      pick -= share;
    }
    const cv::Point c = object_centre(k, index);
    const double spread = kFixationSpread * objects_[k].radius;
    const double x = c.x + spread * rng.normal(), y = c.y + spread * rng.normal();
    out.emplace_back(std::clamp(int(std::lround(x)), 0, options_.width - 1),
                     std::clamp(int(std::lround(y)), 0, options_.height - 1));
  }
  return out;
}

cv::Mat SyntheticVideo::fixation_map(int index) const {
  cv::Mat m = cv::Mat::zeros(options_.height, options_.width, CV_8UC1);
  for (const cv::Point &p : fixations(index)) m.at<uchar>(p) = 255;
  return m;
}

double SyntheticVideo::map_sigma() const { return std::max(1.5, 0.035 * options_.width); }

cv::Mat SyntheticVideo::saliency_map(int index) const {
  cv::Mat density = cv::Mat::zeros(options_.height, options_.width, CV_32FC1);
  for (const cv::Point &p : fixations(index)) density.at<float>(p) += 1.f;
  cv::GaussianBlur(density, density, cv::Size(0, 0), map_sigma(), map_sigma(), cv::BORDER_CONSTANT);
  double peak = 0;
  cv::minMaxLoc(density, nullptr, &peak);
  cv::Mat out;
  density.convertTo(out, CV_8UC1, peak > 0 ? 255.0 / peak : 0.0);
  return out;
}

std::string synthetic_video_name(int index) {
  char name[16];
  std::snprintf(name, sizeof name, "%03d", index + 1);
  return name;
}

SyntheticVideoOptions synthetic_video_options(const SyntheticDatasetOptions &options, int index) {
  SyntheticVideoOptions v;
  v.width = options.width;
  v.height = options.height;
  v.frames = options.frames;
  v.seed = seed_of(options.seed, 0x766964656full /* "video" */, std::uint64_t(index));
  return v;
}

namespace {

void write_png(const std::string &path, const cv::Mat &image) {
  bool ok = false;
  try {
    ok = cv::imwrite(path, image, {cv::IMWRITE_PNG_COMPRESSION, 3});
  } catch (const cv::Exception &) {
    ok = false;
  }
  if (!ok) throw ModelError(path + ": cannot write PNG");
}

void write_video(const fs::path &folder, const SyntheticVideo &video, bool with_flow) {
  std::error_code ec;
  for (const char *sub : {"images", "maps", "fixation", "flow"}) {
    if (std::string(sub) == "flow" && !with_flow) continue;
    fs::create_directories(folder / sub, ec);
    if (ec) throw ModelError((folder / sub).string() + ": cannot create folder: " + ec.message());
  }
  for (int i = 0; i < video.frame_count(); ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "%04d", i + 1);
    write_png((folder / "images" / (std::string(name) + ".png")).string(), video.frame(i));
    write_png((folder / "maps" / (std::string(name) + ".png")).string(), video.saliency_map(i));
    write_png((folder / "fixation" / (std::string(name) + ".png")).string(), video.fixation_map(i));
    if (with_flow && i + 1 < video.frame_count()) {
      const std::string path = (folder / "flow" / (std::string(name) + ".flo")).string();
      try {
        flow::write_flo(path, video.flow(i));
      } catch (const std::exception &e) {
        throw ModelError(e.what());
      }
    }
  }
}

}  // namespace

void write_synthetic_dataset(const std::string &dir, const SyntheticDatasetOptions &options,
                             const std::function<void(int, int)> &progress) {
  if (options.train_videos < 0 || options.val_videos < 0 ||
      options.train_videos + options.val_videos < 1)
    throw ModelError(dir + ": the dataset needs at least one video");
  if (options.width < 32 || options.height < 32 || options.frames < 2)
    throw ModelError(dir + ": width and height must be >= 32 and frames >= 2");
  std::error_code ec;
  std::unique_ptr<tools::cli::StagedDir> staged;
  try {
    staged = std::make_unique<tools::cli::StagedDir>(dir, options.overwrite);
  } catch (const std::exception &e) {
    throw ModelError(e.what());
  }
  const int total = options.train_videos + options.val_videos;
  int threads = options.threads > 0 ? options.threads
                                    : int(std::max(1u, std::thread::hardware_concurrency()));
  threads = std::min(threads, total);

  std::mutex lock;
  std::condition_variable changed;
  int done = 0;
  std::exception_ptr error;
  std::atomic<int> next{0};
  auto work = [&] {
    for (int i = next++; i < total; i = next++) {
      try {
        {
          std::lock_guard<std::mutex> g(lock);
          if (error) return;
        }
        const fs::path folder = fs::path(staged->path()) /
                                (i < options.train_videos ? "train" : "val") /
                                synthetic_video_name(i);
        write_video(folder, SyntheticVideo(synthetic_video_options(options, i)), options.flow);
        std::lock_guard<std::mutex> g(lock);
        ++done;
      } catch (...) {
        std::lock_guard<std::mutex> g(lock);
        if (!error) error = std::current_exception();
      }
      changed.notify_all();
    }
  };
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) workers.emplace_back(work);
  {
    std::unique_lock<std::mutex> g(lock);
    int reported = 0;
    while (done < total && !error) {
      changed.wait(g, [&] { return done != reported || error; });
      reported = done;
      if (progress) {
        g.unlock();
        std::exception_ptr failed;
        try {
          progress(reported, total);
        } catch (...) {  // stop the workers and join them before rethrowing
          failed = std::current_exception();
        }
        g.lock();
        if (failed && !error) error = failed;
      }
    }
  }
  for (std::thread &t : workers) t.join();
  if (error) std::rethrow_exception(error);  // the staging folder is removed by ~StagedDir

  for (const char *split : {"train", "val"})
    fs::create_directories(fs::path(staged->path()) / split, ec);
  {
    std::ofstream info(staged->file("synthetic.txt"));
    info << "# saliency-make-dataset: synthetic saliency dataset (DHF1K/STRA-Net arrangement)\n"
         << "train_videos " << options.train_videos << "\nval_videos " << options.val_videos
         << "\nframes " << options.frames << "\nwidth " << options.width << "\nheight "
         << options.height << "\nseed " << options.seed << "\nflow " << (options.flow ? 1 : 0)
         << "\n";
    if (!info) throw ModelError(staged->file("synthetic.txt") + ": cannot write");
  }
  try {
    staged->commit();
  } catch (const std::exception &e) {
    throw ModelError(e.what());
  }
}

}  // namespace model::data
