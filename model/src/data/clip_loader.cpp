// Reading clips (read_clip) and decoding them ahead on worker threads (ClipLoader).
#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <filesystem>
#include <map>
#include <mutex>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <thread>

#include "salflow/flo_io.hpp"
#include "salmodel/dataset.hpp"
#include "salmodel/mat_reader.hpp"

namespace model::data {

namespace {

std::string size_text(const cv::Mat &m) {
  return std::to_string(m.cols) + "x" + std::to_string(m.rows);
}

// Every image or flow of a clip must have the size of the first one.
void check_size(const cv::Mat &m, const std::string &path, const cv::Size &expected,
                const std::string &first, const char *what) {
  if (m.size() != expected)
    throw DataError(path + ": " + size_text(m) + ", but " + first + " is " +
                    std::to_string(expected.width) + "x" + std::to_string(expected.height) +
                    " (all " + what + " of a clip must have one size)");
}

cv::Mat read_image(const std::string &path, int flags) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw DataError(path + ": missing");  // before OpenCV warns
  cv::Mat m;
  try {
    m = cv::imread(path, flags);
  } catch (const cv::Exception &) {
  }
  if (m.empty()) throw DataError(path + ": cannot read image (unreadable or not an image)");
  return m;
}

// A fixation map as float: binary PNG/JPEG -> {0, 1}; MAT-file -> raw values
// of `eyeMap` (DIEM) or `I` (DHF1K/MIT tools).
cv::Mat read_fixation(const std::string &path) {
  const std::string ext = std::filesystem::path(path).extension().string();
  if (ext == ".mat" || ext == ".MAT") {
    try {
      for (const MatVariableInfo &v : list_mat_variables(path))
        if (v.name == "eyeMap") return read_mat_variable(path, "eyeMap");
      return read_mat_variable(path, "I");
    } catch (const DataError &) {
      throw;
    } catch (const ModelError &e) {
      throw DataError(e.what());
    }
  }
  const cv::Mat grey = read_image(path, cv::IMREAD_GRAYSCALE);
  cv::Mat binary;
  cv::compare(grey, 0, binary, cv::CMP_GT);  // 255 where > 0
  cv::Mat out;
  binary.convertTo(out, CV_32F, 1.0 / 255.0);
  return out;
}

// Copies a float matrix (CV_32F or CV_64F, one channel) into `dst` (rows*cols floats).
void copy_plane(const cv::Mat &m, float *dst) {
  cv::Mat f;
  if (m.type() == CV_32FC1)
    f = m;
  else
    m.convertTo(f, CV_32F);
  for (int y = 0; y < f.rows; ++y)
    std::memcpy(dst + std::size_t(y) * f.cols, f.ptr<float>(y), sizeof(float) * f.cols);
}

}  // namespace

Sample read_clip(const std::vector<VideoRecord> &videos, const ClipSpec &spec, const ClipRef &ref) {
  if (ref.video < 0 || ref.video >= int(videos.size()))
    throw DataError("clip: video index " + std::to_string(ref.video) + " outside the " +
                    std::to_string(videos.size()) + " indexed videos");
  const VideoRecord &video = videos[ref.video];
  const int n = int(video.frames.size());
  if (n == 0) throw DataError(video.name + ": no frames");
  if (spec.frames < 1 || spec.step < 1)
    throw DataError(video.name + ": clip spec needs frames >= 1 and step >= 1");

  Sample s;
  s.ref = ref;
  s.video = video.name;
  for (int i = 0; i < spec.frames; ++i)
    s.frame_indices.push_back(std::clamp(ref.start + i * spec.step, 0, n - 1));

  // Frames: RGB uint8, decoded straight into the tensor.
  const std::string &first = video.frames[s.frame_indices[0]];
  for (int i = 0; i < spec.frames; ++i) {
    const std::string &path = video.frames[s.frame_indices[i]];
    const cv::Mat bgr = read_image(path, cv::IMREAD_COLOR);
    if (i == 0) s.frames = torch::empty({spec.frames, bgr.rows, bgr.cols, 3}, torch::kUInt8);
    check_size(bgr, path, {int(s.frames.size(2)), int(s.frames.size(1))}, first, "frames");
    cv::Mat rgb(bgr.rows, bgr.cols, CV_8UC3, s.frames[i].data_ptr<std::uint8_t>());
    cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  }

  if (spec.flows > 0) {
    if (video.flows.empty())
      throw DataError(
          video.name + ": the clip needs " + std::to_string(spec.flows) +
          " forward flows but none were indexed (index with require_flow, flow/ folders)");
    const int available = int(video.flows.size());
    const std::string &first_flow = video.flows[std::clamp(ref.start, 0, available - 1)];
    for (int f = 0; f < spec.flows; ++f) {
      const std::string &path = video.flows[std::clamp(ref.start + f, 0, available - 1)];
      cv::Mat flow;
      try {
        flow = flow::read_flo(path);
      } catch (const std::exception &e) {
        throw DataError(e.what());
      }
      if (f == 0) s.flows = torch::empty({spec.flows, flow.rows, flow.cols, 2}, torch::kFloat32);
      check_size(flow, path, {int(s.flows.size(2)), int(s.flows.size(1))}, first_flow, "flows");
      float *dst = s.flows[f].data_ptr<float>();
      for (int y = 0; y < flow.rows; ++y)
        std::memcpy(dst + std::size_t(y) * flow.cols * 2, flow.ptr<float>(y),
                    sizeof(float) * 2 * flow.cols);
    }
  }

  if (!video.maps.empty() && !spec.label_frames.empty()) {
    const int labels = int(spec.label_frames.size());
    std::string first_label;
    for (int l = 0; l < labels; ++l) {
      const int clip_index = spec.label_frames[l];
      if (clip_index < 0 || clip_index >= spec.frames)
        throw DataError(video.name + ": label frame " + std::to_string(clip_index) +
                        " outside the " + std::to_string(spec.frames) + "-frame clip");
      const int frame = s.frame_indices[clip_index];
      const std::string &map_path = video.maps[frame];
      const cv::Mat grey = read_image(map_path, cv::IMREAD_GRAYSCALE);
      if (l == 0) {
        first_label = map_path;
        s.maps = torch::empty({labels, grey.rows, grey.cols}, torch::kFloat32);
        if (!video.fixations.empty())
          s.fixations = torch::empty({labels, grey.rows, grey.cols}, torch::kFloat32);
      }
      const cv::Size size(int(s.maps.size(2)), int(s.maps.size(1)));
      check_size(grey, map_path, size, first_label, "maps and fixations");
      cv::Mat map;
      grey.convertTo(map, CV_32F, 1.0 / 255.0);
      copy_plane(map, s.maps[l].data_ptr<float>());
      if (!video.fixations.empty()) {
        const std::string &fix_path = video.fixations[frame];
        const cv::Mat fix = read_fixation(fix_path);
        check_size(fix, fix_path, size, first_label, "maps and fixations");
        copy_plane(fix, s.fixations[l].data_ptr<float>());
      }
    }
  }
  return s;
}

// ------------------------------------------------------------------ ClipLoader

struct ClipLoader::Impl {
  struct Result {
    std::optional<Sample> sample;
    std::exception_ptr error;
  };

  std::vector<VideoRecord> videos;
  ClipSpec spec;
  std::vector<ClipRef> plan;
  SampleTransform transform;
  std::size_t prefetch = 1;

  std::mutex lock;
  std::condition_variable produced;  // a result was stored (consumer waits)
  std::condition_variable room;      // a result was taken or stop (workers wait)
  std::map<std::size_t, Result> ready;
  std::size_t next_start = 0;  // next plan entry a worker takes
  std::size_t next_out = 0;    // next plan entry next() returns
  bool stop = false;
  std::vector<std::thread> workers;

  Result produce(std::size_t i) {
    Result r;
    try {
      Sample s = read_clip(videos, spec, plan[i]);
      if (transform) transform(s);
      r.sample = std::move(s);
    } catch (...) {
      r.error = std::current_exception();
    }
    return r;
  }

  // Takes plan entries in order, at most `prefetch` ahead of the consumer.
  void work() {
    std::unique_lock<std::mutex> g(lock);
    for (;;) {
      room.wait(
          g, [&] { return stop || next_start >= plan.size() || next_start < next_out + prefetch; });
      if (stop || next_start >= plan.size()) return;
      const std::size_t i = next_start++;
      g.unlock();
      Result r = produce(i);
      g.lock();
      if (stop) return;
      ready.emplace(i, std::move(r));
      produced.notify_all();
    }
  }

  static Sample deliver(Result &&r) {
    if (r.error) {
      try {
        std::rethrow_exception(r.error);
      } catch (const DataError &) {
        throw;
      } catch (const std::exception &e) {
        throw DataError(e.what());
      } catch (...) {
        throw DataError("clip loader: unknown error while reading a clip");
      }
    }
    return std::move(*r.sample);
  }
};

ClipLoader::ClipLoader(std::vector<VideoRecord> videos, ClipSpec spec, std::vector<ClipRef> plan,
                       SampleTransform transform, LoaderOptions options)
    : impl_(std::make_unique<Impl>()) {
  impl_->videos = std::move(videos);
  impl_->spec = std::move(spec);
  impl_->plan = std::move(plan);
  impl_->transform = std::move(transform);
  impl_->prefetch = std::size_t(std::max(1, options.prefetch));
  const int threads = std::max(0, options.threads);
  try {
    for (int t = 0; t < threads; ++t) impl_->workers.emplace_back([this] { impl_->work(); });
  } catch (...) {  // no destructor runs for a half-built object: stop what started
    {
      std::lock_guard<std::mutex> g(impl_->lock);
      impl_->stop = true;
    }
    impl_->room.notify_all();
    for (std::thread &t : impl_->workers) t.join();
    throw;
  }
}

ClipLoader::~ClipLoader() {
  {
    std::lock_guard<std::mutex> g(impl_->lock);
    impl_->stop = true;
  }
  impl_->room.notify_all();
  for (std::thread &t : impl_->workers) t.join();
}

std::optional<Sample> ClipLoader::next() {
  Impl &m = *impl_;
  if (m.workers.empty()) {  // threads == 0: decode on the calling thread
    if (m.next_out >= m.plan.size()) return std::nullopt;
    return Impl::deliver(m.produce(m.next_out++));
  }
  Impl::Result r;
  {
    std::unique_lock<std::mutex> g(m.lock);
    if (m.next_out >= m.plan.size()) return std::nullopt;
    m.produced.wait(g, [&] { return m.ready.count(m.next_out) > 0; });
    auto it = m.ready.find(m.next_out);
    r = std::move(it->second);
    m.ready.erase(it);
    ++m.next_out;
  }
  m.room.notify_all();
  return Impl::deliver(std::move(r));
}

std::size_t ClipLoader::size() const { return impl_->plan.size(); }

}  // namespace model::data
