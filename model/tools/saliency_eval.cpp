// saliency-eval: scores saliency predictions against a dataset's ground truth
// with the metrics of the MIT/DHF1K benchmark code (DESIGN.md "Fixed
// interfaces", model-spec C.1).
//
//   saliency-eval --pred DIR --gt DIR [--metrics auc_j,sauc,nss,cc,sim,kl]
//                 [--shuffle-map FILE] [--baseline-map FILE] [--seed N]
//                 [--threads N] [--csv FILE] [--per-video]
//
// Ground truth in the published layout: <gt>/<video>/maps/<frame>.png and
// <gt>/<video>/fixation/maps/<frame>.mat (variable I), or
// <gt>/<video>/fixation/<frame>.png where the .mat is absent. Predictions:
// <pred>/<video>/<frame>.png or .npy. Every GT frame that has a prediction is
// scored; each metric is averaged over all frames with NaN frames dropped (the
// DHF1K protocol averages over frames, not videos).

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <opencv2/core.hpp>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "salmodel/metrics.hpp"
#include "salmodel/saliency_io.hpp"

namespace fs = std::filesystem;
using model::ModelError;
using model::metrics::Metric;

namespace {

constexpr const char *kProgram = "saliency-eval";
// sAUC negatives without --shuffle-map: fixations of 10 randomly sampled other
// frames of the split (model-spec C.1, as in the DHF1K evaluation code).
constexpr int kOtherFrames = 10;

const char *const kUsage =
    "Usage: saliency-eval --pred DIR --gt DIR [options]\n"
    "\n"
    "Scores saliency predictions with the metrics of the MIT/DHF1K benchmark code.\n"
    "\n"
    "  --pred DIR           predictions: DIR/<video>/<frame>.png (8/16-bit, first channel)\n"
    "                       or DIR/<video>/<frame>.npy (float32/float64)\n"
    "  --gt DIR             ground truth, one folder per video: <video>/maps/<frame>.png,\n"
    "                       <video>/fixation/maps/<frame>.mat (variable I) or\n"
    "                       <video>/fixation/<frame>.png; DIR may also be one video folder\n"
    "  --metrics LIST       comma-separated, from auc_j,sauc,nss,cc,sim,kl,ig\n"
    "                       (default: auc_j,sauc,nss,cc,sim,kl)\n"
    "  --shuffle-map FILE   sAUC negatives: non-zero pixels of this image, moved to each\n"
    "                       frame's size by point mapping (e.g. dhf1k_shuffledmap.png);\n"
    "                       default: fixations of 10 random other frames of the set\n"
    "  --baseline-map FILE  information-gain baseline (any size, resized like a\n"
    "                       prediction); default: centre Gaussian, sigma 0.25 W x 0.25 H\n"
    "  --seed N             seed of AUC-Judd's jitter and sAUC's sampling (default 0)\n"
    "  --threads N          frames scored in parallel (default: number of CPUs)\n"
    "  --per-video          also print a per-video table after the averages\n"
    "  --csv FILE           write per-video averages and the overall row (ALL) as CSV\n"
    "  -h, --help           show this help\n"
    "\n"
    "Prints one '<metric>: <value>' line per metric to stdout (mean over frames, NaN\n"
    "frames dropped); progress and notes go to stderr. Exit status: 0 success,\n"
    "1 bad input (the message names the file), 2 usage error.\n";

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Options {
  std::string pred, gt, shuffle_map, baseline_map, csv;
  std::vector<Metric> metrics = {Metric::AucJudd, Metric::AucShuffled, Metric::Nss,
                                 Metric::Cc,      Metric::Sim,         Metric::Kl};
  std::uint64_t seed = 0;
  unsigned threads = 0;
  bool per_video = false;
};

std::uint64_t parse_unsigned(const std::string &flag, const std::string &text) {
  std::size_t used = 0;
  unsigned long long v = 0;
  try {
    if (text.empty() || text[0] == '-') throw std::invalid_argument("negative");
    v = std::stoull(text, &used, 10);
  } catch (const std::exception &) {
    used = 0;
  }
  if (used == 0 || used != text.size())
    throw UsageError(flag + " expects a non-negative integer, got '" + text + "'");
  return v;
}

Options parse_options(int argc, char **argv) {
  Options o;
  bool have_metrics = false;
  for (int i = 1; i < argc; i++) {
    std::string arg = argv[i], value;
    const bool has_inline = arg.rfind("--", 0) == 0 && arg.find('=') != std::string::npos;
    if (has_inline) {
      value = arg.substr(arg.find('=') + 1);
      arg = arg.substr(0, arg.find('='));
    }
    const auto take = [&]() -> std::string {
      if (has_inline) return value;
      if (i + 1 >= argc) throw UsageError(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "-h" || arg == "--help") {
      std::cout << kUsage;
      std::exit(0);
    } else if (arg == "--pred") {
      o.pred = take();
    } else if (arg == "--gt") {
      o.gt = take();
    } else if (arg == "--metrics") {
      o.metrics.clear();
      have_metrics = true;
      std::stringstream list(take());
      std::string name;
      while (std::getline(list, name, ',')) {
        if (name.empty()) continue;
        Metric m;
        try {
          m = model::metrics::parse_metric(name);
        } catch (const ModelError &e) {
          throw UsageError(std::string("--metrics: ") + e.what());
        }
        if (std::find(o.metrics.begin(), o.metrics.end(), m) == o.metrics.end())
          o.metrics.push_back(m);
      }
    } else if (arg == "--shuffle-map") {
      o.shuffle_map = take();
    } else if (arg == "--baseline-map") {
      o.baseline_map = take();
    } else if (arg == "--seed") {
      o.seed = parse_unsigned(arg, take());
    } else if (arg == "--threads") {
      const std::uint64_t n = parse_unsigned(arg, take());
      if (n == 0 || n > 1024) throw UsageError("--threads expects 1..1024");
      o.threads = static_cast<unsigned>(n);
    } else if (arg == "--csv") {
      o.csv = take();
    } else if (arg == "--per-video") {
      if (has_inline) throw UsageError("--per-video takes no value");
      o.per_video = true;
    } else {
      throw UsageError("unknown argument '" + std::string(argv[i]) + "'");
    }
  }
  if (o.pred.empty()) throw UsageError("--pred is required");
  if (o.gt.empty()) throw UsageError("--gt is required");
  if (have_metrics && o.metrics.empty()) throw UsageError("--metrics lists no metric");
  if (o.threads == 0) o.threads = std::max(1u, std::thread::hardware_concurrency());
  return o;
}

// ------------------------------------------------------------ dataset walk

struct GtFrame {
  std::size_t video = 0;  // index into Dataset::videos
  std::string name;       // file stem, e.g. "0010"
  std::string map_path;   // empty when absent
  std::string fix_path;   // .mat when present, else .png, else empty
};

struct Dataset {
  std::vector<std::string> videos;
  std::vector<std::string> gt_dirs;    // per video
  std::vector<std::string> pred_dirs;  // per video
  std::vector<GtFrame> frames;         // all GT frames, video by video, sorted by name
};

std::vector<std::string> sorted_stems(const fs::path &dir, const std::string &ext) {
  std::vector<std::string> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  fs::directory_iterator it(dir, ec), end;
  if (ec) throw ModelError(dir.string() + ": cannot list directory (" + ec.message() + ")");
  for (; it != end; it.increment(ec)) {
    if (ec) throw ModelError(dir.string() + ": cannot list directory (" + ec.message() + ")");
    if (it->path().extension() == ext && it->is_regular_file(ec))
      out.push_back(it->path().stem().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool is_video_dir(const fs::path &dir) {
  std::error_code ec;
  return fs::is_directory(dir / "maps", ec) || fs::is_directory(dir / "fixation", ec);
}

Dataset scan_dataset(const Options &o) {
  std::error_code ec;
  if (!fs::is_directory(o.gt, ec)) throw ModelError(o.gt + ": ground-truth directory not found");
  if (!fs::is_directory(o.pred, ec)) throw ModelError(o.pred + ": prediction directory not found");
  Dataset d;
  std::vector<fs::path> video_dirs;
  const fs::path gt_root(o.gt);
  if (is_video_dir(gt_root)) {
    video_dirs.push_back(gt_root);
  } else {
    fs::directory_iterator it(gt_root, ec), end;
    if (ec) throw ModelError(o.gt + ": cannot list directory (" + ec.message() + ")");
    for (; it != end; it.increment(ec)) {
      if (ec) throw ModelError(o.gt + ": cannot list directory (" + ec.message() + ")");
      if (it->is_directory(ec) && is_video_dir(it->path())) video_dirs.push_back(it->path());
    }
    std::sort(video_dirs.begin(), video_dirs.end());
  }
  if (video_dirs.empty())
    throw ModelError(o.gt + ": no video folders with maps/ or fixation/ found");

  for (const fs::path &vdir : video_dirs) {
    const std::string video = vdir.filename().string().empty()
                                  ? vdir.parent_path().filename().string()
                                  : vdir.filename().string();
    const std::size_t index = d.videos.size();
    d.videos.push_back(video);
    d.gt_dirs.push_back(vdir.string());
    // Predictions in <pred>/<video>/; for a single-video --gt also <pred>/ itself.
    fs::path pdir = fs::path(o.pred) / video;
    if (video_dirs.size() == 1 && gt_root == vdir && !fs::is_directory(pdir, ec)) pdir = o.pred;
    d.pred_dirs.push_back(pdir.string());

    const auto maps = sorted_stems(vdir / "maps", ".png");
    const auto mats = sorted_stems(vdir / "fixation" / "maps", ".mat");
    const auto pngs = sorted_stems(vdir / "fixation", ".png");
    std::set<std::string> names(maps.begin(), maps.end());
    names.insert(mats.begin(), mats.end());
    names.insert(pngs.begin(), pngs.end());
    const std::set<std::string> has_map(maps.begin(), maps.end()),
        has_mat(mats.begin(), mats.end()), has_png(pngs.begin(), pngs.end());
    for (const std::string &name : names) {
      GtFrame f;
      f.video = index;
      f.name = name;
      if (has_map.count(name)) f.map_path = (vdir / "maps" / (name + ".png")).string();
      if (has_mat.count(name))
        f.fix_path = (vdir / "fixation" / "maps" / (name + ".mat")).string();
      else if (has_png.count(name))
        f.fix_path = (vdir / "fixation" / (name + ".png")).string();
      d.frames.push_back(std::move(f));
    }
  }
  return d;
}

std::string find_prediction(const std::string &dir, const std::string &name) {
  std::error_code ec;
  for (const char *ext : {".png", ".npy"}) {
    const fs::path p = fs::path(dir) / (name + ext);
    if (fs::is_regular_file(p, ec)) return p.string();
  }
  return {};
}

// ------------------------------------------------------------ fixation cache

// Fixations of a frame as points (a full-size mask per frame of a large set
// would not fit in memory; a few hundred points do).
struct FixationPoints {
  cv::Size size;
  std::vector<cv::Point> points;
};

class FixationCache {
 public:
  explicit FixationCache(const Dataset &d) : dataset_(d) {}

  std::shared_ptr<const FixationPoints> get(std::size_t frame) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = cache_.find(frame);
      if (it != cache_.end()) return it->second;
    }
    const GtFrame &f = dataset_.frames[frame];
    auto points = std::make_shared<FixationPoints>();
    const cv::Mat fix = model::read_fixation_map(f.fix_path);
    points->size = fix.size();
    cv::findNonZero(fix, points->points);
    std::lock_guard<std::mutex> lock(mutex_);
    return cache_.emplace(frame, std::move(points)).first->second;
  }

 private:
  const Dataset &dataset_;
  std::mutex mutex_;
  std::map<std::size_t, std::shared_ptr<const FixationPoints>> cache_;
};

// sAUC other map for frame `self`: union of the fixations of kOtherFrames
// distinct random other frames (with fixations), rescaled to `size`.
cv::Mat other_frames_map(FixationCache &cache, const std::vector<std::size_t> &candidates,
                         std::size_t self, cv::Size size, std::uint64_t seed) {
  std::vector<std::size_t> pool;
  pool.reserve(candidates.size());
  for (std::size_t c : candidates)
    if (c != self) pool.push_back(c);
  std::mt19937_64 rng(seed);
  const std::size_t take = std::min<std::size_t>(kOtherFrames, pool.size());
  cv::Mat other(size, CV_8U, cv::Scalar(0));
  for (std::size_t k = 0; k < take; k++) {
    // Modulo bias is below 1e-13 for any realistic number of frames.
    const std::size_t j = k + static_cast<std::size_t>(rng() % (pool.size() - k));
    std::swap(pool[k], pool[j]);
    const auto fp = cache.get(pool[k]);
    for (const cv::Point &p : fp->points) {
      // Point mapping as model::metrics::rescale_fixations does.
      const int x = std::min(
          size.width - 1, static_cast<int>(std::floor((p.x + 0.5) * size.width / fp->size.width)));
      const int y =
          std::min(size.height - 1,
                   static_cast<int>(std::floor((p.y + 0.5) * size.height / fp->size.height)));
      other.at<unsigned char>(y, x) = 1;
    }
  }
  return other;
}

// ------------------------------------------------------------ output

std::string format_value(double v) {
  if (std::isnan(v)) return "nan";
  if (std::fabs(v) < 5e-7) v = 0.0;  // print 0.000000, not -0.000000
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6f", v);
  return buf;
}

void write_csv(const std::string &path, const std::vector<Metric> &metrics,
               const std::vector<std::string> &rows_video,
               const std::vector<std::size_t> &rows_frames,
               const std::vector<std::vector<double>> &rows_values) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    if (!out) throw ModelError(path + ": cannot write CSV file");
    out << "video,frames";
    for (Metric m : metrics) out << ',' << model::metrics::to_string(m);
    out << '\n';
    for (std::size_t r = 0; r < rows_video.size(); r++) {
      out << rows_video[r] << ',' << rows_frames[r];
      for (double v : rows_values[r]) out << ',' << format_value(v);
      out << '\n';
    }
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      throw ModelError(path + ": cannot write CSV file");
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    std::remove(tmp.c_str());
    throw ModelError(path + ": cannot write CSV file (" + ec.message() + ")");
  }
}

// ------------------------------------------------------------ main work

int run(const Options &o) {
  const Dataset d = scan_dataset(o);
  bool need_map = false, need_fix = false;
  for (Metric m : o.metrics) (model::metrics::needs_fixations(m) ? need_fix : need_map) = true;
  const bool sauc =
      std::find(o.metrics.begin(), o.metrics.end(), Metric::AucShuffled) != o.metrics.end();
  const bool ig =
      std::find(o.metrics.begin(), o.metrics.end(), Metric::InfoGain) != o.metrics.end();

  // Frames to score: GT frames with a prediction.
  struct Item {
    std::size_t frame;
    std::string pred_path;
  };
  std::vector<Item> items;
  std::vector<std::size_t> with_fixations;  // sAUC candidates: all GT frames with fixations
  std::vector<bool> video_has_pred(d.videos.size(), false), frame_has_pred(d.frames.size(), false);
  for (std::size_t i = 0; i < d.frames.size(); i++) {
    const GtFrame &f = d.frames[i];
    if (!f.fix_path.empty()) with_fixations.push_back(i);
    const std::string p = find_prediction(d.pred_dirs[f.video], f.name);
    if (p.empty()) continue;
    video_has_pred[f.video] = frame_has_pred[i] = true;
    const fs::path gt_dir(d.gt_dirs[f.video]);
    if (need_map && f.map_path.empty())
      throw ModelError((gt_dir / "maps" / (f.name + ".png")).string() +
                       ": no such file (the continuous map needed by cc, sim and kl)");
    if (need_fix && f.fix_path.empty())
      throw ModelError((gt_dir / "fixation" / "maps" / (f.name + ".mat")).string() +
                       ": no such file, nor fixation/" + f.name +
                       ".png (the fixations needed by auc_j, sauc, nss and ig)");
    items.push_back({i, p});
  }
  std::size_t missing_in_scored_videos = 0;
  for (std::size_t i = 0; i < d.frames.size(); i++)
    if (video_has_pred[d.frames[i].video] && !frame_has_pred[i]) missing_in_scored_videos++;
  if (items.empty())
    throw ModelError(o.pred + ": no prediction matches a ground-truth frame (looked for " + o.pred +
                     "/<video>/<frame>.png or .npy, videos from " + o.gt + ")");
  const std::size_t videos_scored =
      static_cast<std::size_t>(std::count(video_has_pred.begin(), video_has_pred.end(), true));
  // Notes go to stderr after a successful run, so that a failure is one line.
  std::vector<std::string> notes;
  if (videos_scored < d.videos.size())
    notes.push_back(std::to_string(d.videos.size() - videos_scored) + " of " +
                    std::to_string(d.videos.size()) +
                    " ground-truth videos have no predictions and are skipped");
  if (missing_in_scored_videos > 0)
    notes.push_back(std::to_string(missing_in_scored_videos) +
                    " ground-truth frames of scored videos have no prediction and are skipped");

  cv::Mat shuffle_map, baseline;
  if (sauc && !o.shuffle_map.empty()) shuffle_map = model::read_fixation_map(o.shuffle_map);
  if (sauc && o.shuffle_map.empty() && with_fixations.size() < 2)
    notes.push_back("fewer than 2 frames with fixations; sauc is NaN");
  if (ig) {
    if (!o.baseline_map.empty())
      baseline = model::read_prediction_map(o.baseline_map);
    else
      notes.push_back("ig baseline is a centre Gaussian (sigma 0.25 W, 0.25 H)");
  }

  FixationCache cache(d);
  std::mutex shuffle_mutex;
  std::map<std::pair<int, int>, cv::Mat> shuffle_at_size;  // --shuffle-map moved to each GT size
  const auto shuffle_map_at = [&](cv::Size size) {
    std::lock_guard<std::mutex> lock(shuffle_mutex);
    cv::Mat &m = shuffle_at_size[{size.width, size.height}];
    if (m.empty()) m = model::metrics::rescale_fixations(shuffle_map, size);
    return m;
  };
  std::vector<std::vector<double>> scores(items.size());
  std::atomic<std::size_t> next{0}, done{0};
  std::atomic<bool> failed{false};
  std::mutex error_mutex;
  std::string first_error;

  const auto worker = [&]() {
    for (;;) {
      const std::size_t k = next.fetch_add(1);
      if (k >= items.size() || failed) return;
      const Item &item = items[k];
      const GtFrame &f = d.frames[item.frame];
      try {
        const cv::Mat pred = model::read_prediction_map(item.pred_path);
        model::metrics::FrameTruth truth;
        if (need_map) truth.map = model::read_saliency_map(f.map_path);
        if (need_fix) truth.fixations = model::read_fixation_map(f.fix_path);
        if (!truth.map.empty() && !truth.fixations.empty() &&
            truth.map.size() != truth.fixations.size())
          throw ModelError(f.fix_path + ": fixation map is " +
                           std::to_string(truth.fixations.cols) + "x" +
                           std::to_string(truth.fixations.rows) + " but " + f.map_path + " is " +
                           std::to_string(truth.map.cols) + "x" + std::to_string(truth.map.rows));
        const cv::Size size = truth.map.empty() ? truth.fixations.size() : truth.map.size();
        model::metrics::FrameEvalInputs in;
        in.seed = model::metrics::derive_seed(o.seed, item.frame);
        in.baseline = baseline;
        if (sauc) {
          in.other_map = !shuffle_map.empty()
                             ? shuffle_map_at(size)
                             : other_frames_map(cache, with_fixations, item.frame, size,
                                                model::metrics::derive_seed(in.seed, 2));
        }
        try {
          scores[k] = model::metrics::evaluate_frame(pred, truth, o.metrics, in);
        } catch (const ModelError &e) {
          throw ModelError(item.pred_path + ": " + e.what());
        }
      } catch (const std::exception &e) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!failed.exchange(true)) first_error = e.what();
        return;
      }
      done++;
    }
  };

  cv::setNumThreads(1);  // frames run in parallel; OpenCV's own threads would oversubscribe
  std::vector<std::thread> pool;
  const unsigned nthreads = std::min<unsigned>(o.threads, static_cast<unsigned>(items.size()));
  for (unsigned t = 0; t < nthreads; t++) pool.emplace_back(worker);
  const bool tty = isatty(STDERR_FILENO);
  auto last = std::chrono::steady_clock::now();
  bool printed = false;
  while (done < items.size() && !failed) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const auto now = std::chrono::steady_clock::now();
    if (now - last >= std::chrono::seconds(2)) {
      std::cerr << (tty ? "\r" : "") << kProgram << ": " << done << "/" << items.size() << " frames"
                << (tty ? "" : "\n") << std::flush;
      printed = true;
      last = now;
    }
  }
  for (auto &t : pool) t.join();
  if (printed && tty) std::cerr << "\n";
  if (failed) throw ModelError(first_error);

  // Averages over frames (overall) and per video, NaN frames dropped.
  const std::size_t nm = o.metrics.size();
  std::vector<model::metrics::NanMean> overall(nm);
  std::vector<std::vector<model::metrics::NanMean>> per_video(
      d.videos.size(), std::vector<model::metrics::NanMean>(nm));
  std::vector<std::size_t> frames_per_video(d.videos.size(), 0);
  for (std::size_t k = 0; k < items.size(); k++) {
    const std::size_t v = d.frames[items[k].frame].video;
    frames_per_video[v]++;
    for (std::size_t m = 0; m < nm; m++) {
      overall[m].add(scores[k][m]);
      per_video[v][m].add(scores[k][m]);
    }
  }

  for (std::size_t m = 0; m < nm; m++)
    std::cout << model::metrics::to_string(o.metrics[m]) << ": " << format_value(overall[m].mean())
              << "\n";
  for (const std::string &n : notes) std::cerr << kProgram << ": note: " << n << "\n";
  std::cerr << kProgram << ": scored " << items.size() << " frames of " << videos_scored
            << " videos";
  for (std::size_t m = 0; m < nm; m++)
    if (overall[m].dropped())
      std::cerr << "; " << model::metrics::to_string(o.metrics[m]) << ": " << overall[m].dropped()
                << " NaN frames dropped";
  std::cerr << "\n";

  std::vector<std::string> row_video;
  std::vector<std::size_t> row_frames;
  std::vector<std::vector<double>> row_values;
  for (std::size_t v = 0; v < d.videos.size(); v++) {
    if (!frames_per_video[v]) continue;
    row_video.push_back(d.videos[v]);
    row_frames.push_back(frames_per_video[v]);
    std::vector<double> vals;
    for (std::size_t m = 0; m < nm; m++) vals.push_back(per_video[v][m].mean());
    row_values.push_back(vals);
  }
  if (o.per_video) {
    std::size_t width = 5;
    for (const auto &v : row_video) width = std::max(width, v.size());
    std::cout << "\n" << std::string("video") << std::string(width - 5 + 2, ' ') << "frames";
    for (Metric m : o.metrics) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%10s", model::metrics::to_string(m));
      std::cout << buf;
    }
    std::cout << "\n";
    for (std::size_t r = 0; r < row_video.size(); r++) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%6zu", row_frames[r]);
      std::cout << row_video[r] << std::string(width - row_video[r].size() + 2, ' ') << buf;
      for (double v : row_values[r]) {
        std::snprintf(buf, sizeof buf, "%10s", format_value(v).c_str());
        std::cout << buf;
      }
      std::cout << "\n";
    }
  }
  if (!o.csv.empty()) {
    row_video.push_back("ALL");
    row_frames.push_back(items.size());
    std::vector<double> vals;
    for (std::size_t m = 0; m < nm; m++) vals.push_back(overall[m].mean());
    row_values.push_back(vals);
    write_csv(o.csv, o.metrics, row_video, row_frames, row_values);
  }
  std::cout.flush();
  return 0;
}

}  // namespace

int main(int argc, char **argv) {
  Options options;
  try {
    options = parse_options(argc, argv);
  } catch (const UsageError &e) {
    std::cerr << kProgram << ": " << e.what() << "\nTry '" << kProgram << " --help'.\n";
    return 2;
  }
  try {
    return run(options);
  } catch (const std::exception &e) {
    std::cerr << kProgram << ": " << e.what() << "\n";
    return 1;
  }
}
