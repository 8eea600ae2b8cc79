// saliency-reframe: reframes a video to another aspect (16:9 to 9:16, say) along
// a smooth camera path that keeps what people look at in the window
// (salmaps/reframe.hpp; the offline counterpart of the saliencycrop element).
// The maps come from a model run here, as saliency-predict runs it, or from a
// folder of maps (saliency-predict's output, or human fixation-density maps).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "salflow/frame_source.hpp"
#include "salmaps/reframe.hpp"
#include "salmodel/predictor.hpp"
#include "salmodel/saliency_io.hpp"
#include "tool_common.hpp"

namespace fs = std::filesystem;

static const char *kUsage =
    "usage: saliency-reframe --input PATH --aspect W:H [--model M] [--weights FILE] [--output FILE.mp4]\n"
    "                        [--track FILE.csv] [--preview FILE.mp4] [--report] [options]\n"
    "       saliency-reframe --input PATH --maps DIR --aspect W:H [--output FILE.mp4] [--track FILE.csv] ...\n"
    "       saliency-reframe --maps DIR --aspect W:H [--track FILE.csv] [--report] [options]\n"
    "\n"
    "Reframes a video to another aspect: one crop window per frame, along a smooth camera path\n"
    "that keeps the salient part of the picture in the window (held still while the subject\n"
    "stays inside it, panning at a bounded speed otherwise, free to jump at a shot cut).\n"
    "\n"
    "Input (at least one of --input and --maps):\n"
    "  --input PATH     a video file, a directory of frames (sorted by name) or a quoted glob.\n"
    "                   Without --maps, a model predicts each frame's map first\n"
    "  --maps DIR       one saliency map per frame, sorted by name: 8-bit images (.png, ...) or\n"
    "                   float32 .npy, as saliency-predict writes them, or human fixation-density\n"
    "                   maps; all of one size, any size (a map covers its whole frame). No model\n"
    "                   runs. With --input, maps and frames must be equal in number; without\n"
    "                   --input the maps' size stands for the frame size\n"
    "\n"
    "Outputs (at least one):\n"
    "  --track FILE     the window of every frame as CSV: a header line 'frame,x,y,width,height',\n"
    "                   then one row per frame (frames numbered from 1 in input order; the window\n"
    "                   in input pixels)\n"
    "  --output FILE    the reframed video (.mp4: H.264, or MPEG-4 part 2 where OpenCV's FFmpeg has\n"
    "                   no H.264 encoder; .avi: Motion-JPEG): every frame cropped to its window,\n"
    "                   scaled to the aspect-fitted size when --zoom shrank the window. Needs --input\n"
    "  --preview FILE   a side-by-side video for checking the path: the frame with the window drawn\n"
    "                   on it (outside dimmed), and the cropped result beside it at the same height.\n"
    "                   Needs --input\n"
    "  --report         prints one 'name: value' line per measure on stdout: frames, shots,\n"
    "                   retained_planned, retained_centre, retained_best (mean fraction of each\n"
    "                   frame's saliency inside the planned window, the centred aspect-fitted\n"
    "                   window, and the best window of the planned window's size for that frame\n"
    "                   alone), top_speed_px, mean_speed_px, top_acceleration_px (the window\n"
    "                   centre's motion in input pixels per frame, within shots) and\n"
    "                   planner_ms_per_frame (time in the planner only)\n"
    "  Files are written under a temporary name in their folder and renamed when the run succeeded:\n"
    "  a failed run leaves nothing under these names.\n"
    "\n"
    "Path:\n"
    "  --aspect W:H     the target aspect (required): 9:16 (portrait), 1:1, 4:5, ... (W/H also works)\n"
    "  --max-speed F    top speed of the window, a fraction of the frame's width (height, for\n"
    "                   vertical moves) per frame, in [0.001, 1] (default 0.015)\n"
    "  --max-acceleration F  top change of speed per frame, same unit, in [0, 1]; 0 (default) =\n"
    "                   max-speed / 8\n"
    "  --look-ahead N   -1 (default): the whole clip is planned at once (offline). N >= 0: frames\n"
    "                   are planned as they come with N frames of look-ahead, as the saliencycrop\n"
    "                   element does (0 = causal, a live camera)\n"
    "  --mode M         auto (default: hold still while the salient region stays in the window,\n"
    "                   pan otherwise), stationary (one window per shot) or track (follow the\n"
    "                   saliency as closely as the limits allow)\n"
    "  --zoom F         smallest window as a fraction of the aspect-fitted one, in (0, 1]; 1\n"
    "                   (default) never zooms\n"
    "  --fps F          frame rate of --output and --preview (default: the input video's, 25 for\n"
    "                   frame folders and globs)\n"
    "\n"
    "Model (without --maps; as saliency-predict):\n"
    "  --model M        baseline (default; no weights), tinyhd, stsanet, stranet\n"
    "  --weights FILE   checkpoint of a deep model; --random-init: a deep model without weights\n"
    "                   (tests only)\n"
    "  --device D       cpu (default), cuda, cuda:N or auto; --precision P, --cuda-graphs, --batch N\n"
    "  --threads N      CPU threads (default: one per core)\n"
    "  --flow DIR       precomputed forward flows NNNN.flo (frame NNNN -> next), as flow-extract\n"
    "                   writes them, for models that use flow (stranet)\n"
    "  --quiet          no progress or summary on stderr\n"
    "\n"
    "Memory: the planner keeps a small profile per frame, not the maps; --report keeps each map\n"
    "until its window is decided (offline, up to 2048 frames: the baseline's 160-wide maps are about\n"
    "60 KB each). Frames are not kept: --output and --preview read the input a second time.\n"
    "\n"
    "examples:\n"
    "  saliency-reframe --input clip.mp4 --aspect 9:16 --output portrait.mp4 --track track.csv\n"
    "  saliency-reframe --input clip.mp4 --model tinyhd --weights d123s_rc4_rc1T.pth --aspect 1:1 \\\n"
    "                   --preview preview.mp4 --report\n"
    "  saliency-reframe --maps maps/ --aspect 9:16 --track track.csv --report\n";

namespace {

const char *kProgram = "saliency-reframe";
using Clock = std::chrono::steady_clock;

// "W:H" (or "W/H"): two whole numbers above 0.
bool parse_aspect(const std::string &text, int &w, int &h) {
  const auto sep = text.find_first_of(":/");
  if (sep == std::string::npos) return false;
  auto number = [](const std::string &s, int &out) {
    if (s.empty() || s.size() > 6 || s.find_first_not_of("0123456789") != std::string::npos) return false;
    out = std::stoi(s);
    return out > 0;
  };
  return number(text.substr(0, sep), w) && number(text.substr(sep + 1), h);
}

// A file written under a hidden temporary name in its own folder
// (".NAME.partial.EXT": the extension kept, OpenCV picks the container by it)
// and renamed into place by commit(); removed if commit() never ran. The
// constructor checks the folder, so a run that cannot write stops before any work.
class StagedFile {
 public:
  explicit StagedFile(std::string final_path) : final_(std::move(final_path)) {
    const fs::path p = fs::absolute(final_);
    std::error_code ec;
    if (p.filename().empty() || fs::is_directory(p, ec)) throw std::runtime_error(final_ + ": is a directory, not a file");
    const fs::path dir = p.parent_path();
    if (!fs::is_directory(dir, ec))
      throw std::runtime_error(final_ + ": folder " + dir.string() + " does not exist");
    partial_ = (dir / ("." + p.filename().string() + ".partial" + p.extension().string())).string();
  }
  ~StagedFile() {
    if (!committed_) {
      std::error_code ec;
      fs::remove(partial_, ec);
    }
  }
  StagedFile(const StagedFile &) = delete;
  StagedFile &operator=(const StagedFile &) = delete;

  const std::string &path() const { return partial_; }
  const std::string &final_path() const { return final_; }
  void commit() {
    std::error_code ec;
    fs::rename(partial_, final_, ec);
    if (ec) throw std::runtime_error(final_ + ": cannot rename the finished file into place: " + ec.message());
    committed_ = true;
  }

 private:
  std::string final_, partial_;
  bool committed_ = false;
};

// ---------------------------------------------------------------- maps from files

bool is_map_file(const fs::path &p, bool &npy) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  npy = ext == ".npy";
  return npy || ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp" || ext == ".pgm" ||
         ext == ".tif" || ext == ".tiff";
}

// The map files of DIR, sorted by name; throws naming DIR.
std::vector<std::string> list_maps(const std::string &dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) throw std::runtime_error(dir + ": no such directory");
  if (!fs::is_directory(dir, ec)) throw std::runtime_error(dir + ": not a directory (--maps takes a folder of maps)");
  std::vector<std::string> files;
  bool any_npy = false, any_image = false;
  for (const auto &e : fs::directory_iterator(dir, ec)) {
    bool npy = false;
    if (!e.is_regular_file(ec) || !is_map_file(e.path(), npy)) continue;
    (npy ? any_npy : any_image) = true;
    files.push_back(e.path().string());
  }
  if (ec) throw std::runtime_error(dir + ": cannot list the folder: " + ec.message());
  if (files.empty()) throw std::runtime_error(dir + ": no maps (.png or .npy files) in this directory");
  if (any_npy && any_image)
    throw std::runtime_error(dir + ": holds both .npy maps and image maps; keep one kind (they would interleave by name)");
  std::sort(files.begin(), files.end());
  return files;
}

// Reads the maps of `files` one at a time, checking that all have the first one's size.
class MapReader {
 public:
  explicit MapReader(std::vector<std::string> files) : files_(std::move(files)) {}
  std::size_t size() const { return files_.size(); }
  /// Map i as float32; throws naming the file (unreadable, another size, non-finite values).
  model::SaliencyMap read(std::size_t i) {
    const std::string &path = files_[i];
    const cv::Mat m = model::read_prediction_map(path);  // CV_64F; throws "<file>: <problem>"
    if (first_w_ == 0) {
      first_w_ = m.cols;
      first_h_ = m.rows;
    } else if (m.cols != first_w_ || m.rows != first_h_) {
      throw std::runtime_error(path + ": map size " + std::to_string(m.cols) + "x" + std::to_string(m.rows) +
                               " differs from the first map's " + std::to_string(first_w_) + "x" +
                               std::to_string(first_h_) + " (" + files_[0] + ")");
    }
    if (!cv::checkRange(m)) throw std::runtime_error(path + ": the map holds non-finite values (NaN or infinity)");
    model::SaliencyMap s;
    s.frame_index = std::int64_t(i);
    s.width = m.cols;
    s.height = m.rows;
    s.values.resize(std::size_t(m.cols) * m.rows);
    cv::Mat f(m.rows, m.cols, CV_32F, s.values.data());
    m.convertTo(f, CV_32F);
    return s;
  }

 private:
  std::vector<std::string> files_;
  int first_w_ = 0, first_h_ = 0;
};

model::MapView view(const model::SaliencyMap &m) { return {m.values.data(), m.width, m.height}; }

// The camera path, built as the maps arrive: each map goes to a ReframePlanner
// at once (offline, look-ahead < 0, the planner decides the path at the end,
// in stretches of model::kOfflineHorizon frames on long clips: plan_reframe's
// semantics, without holding every map). With `measure`, each map is kept
// only until its window is decided, for the --report measures.
class PathBuilder {
 public:
  PathBuilder(const model::ReframeOptions &options, bool measure)
      : planner_(options), fitted_(planner_.fitted()), measure_(measure) {}

  void push(model::SaliencyMap &&map, bool cut) {
    const auto t0 = Clock::now();
    std::vector<model::CropWindow> got = planner_.push(view(map), cut);
    planner_ms_ += std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    cuts_.push_back(cut);
    if (measure_) waiting_.push_back(std::move(map));
    take(got);
  }
  void finish() {
    const auto t0 = Clock::now();
    std::vector<model::CropWindow> got = planner_.finish();
    planner_ms_ += std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    take(got);
    if (path_.size() != cuts_.size())
      throw std::runtime_error("internal error: the planner gave " + std::to_string(path_.size()) +
                               " windows for " + std::to_string(cuts_.size()) + " frames");
  }

  const std::vector<model::CropWindow> &path() const { return path_; }
  const std::vector<bool> &cuts() const { return cuts_; }
  const model::CropWindow &fitted() const { return fitted_; }
  double planner_ms() const { return planner_ms_; }
  int shots() const { return int(std::count(cuts_.begin(), cuts_.end(), true)) + (cuts_.empty() || cuts_[0] ? 0 : 1); }
  /// Sums over frames of the fraction of the map inside the planned window,
  /// the centred fitted window, and the best window of the planned one's size.
  double retained_planned = 0, retained_centre = 0, retained_best = 0;

 private:
  void take(const std::vector<model::CropWindow> &windows) {
    const model::ReframeOptions &o = planner_.options();
    for (const model::CropWindow &w : windows) {
      if (w.x < 0 || w.y < 0 || w.width < 2 || w.height < 2 || w.x + w.width > o.frame_width ||
          w.y + w.height > o.frame_height)
        throw std::runtime_error("internal error: the planner gave a window outside the frame");
      path_.push_back(w);
      if (!measure_) continue;
      const model::MapView m = view(waiting_.front());
      retained_planned += model::retained_saliency(m, o.frame_width, o.frame_height, w);
      retained_centre += model::retained_saliency(m, o.frame_width, o.frame_height, fitted_);
      retained_best += model::retained_saliency(
          m, o.frame_width, o.frame_height, model::best_window(m, o.frame_width, o.frame_height, w.width, w.height));
      waiting_.pop_front();
    }
  }

  model::ReframePlanner planner_;
  model::CropWindow fitted_;
  bool measure_;
  std::deque<model::SaliencyMap> waiting_;
  std::vector<model::CropWindow> path_;
  std::vector<bool> cuts_;
  double planner_ms_ = 0;
};

// ---------------------------------------------------------------- videos out

// Opens `video` on `path` (the partial name of `final_path`): .avi Motion-JPEG;
// otherwise H.264 ('avc1', OpenCV's FFmpeg with libx264), falling back to
// MPEG-4 part 2 ('mp4v'). Returns the codec's name; throws naming final_path.
std::string open_video(cv::VideoWriter &video, const std::string &path, const std::string &final_path, double fps,
                       cv::Size size) {
  std::string ext = fs::path(final_path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  struct Codec {
    int fourcc;
    const char *name;
  };
  const std::vector<Codec> codecs =
      ext == ".avi" ? std::vector<Codec>{{cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), "Motion-JPEG"}}
                    : std::vector<Codec>{{cv::VideoWriter::fourcc('a', 'v', 'c', '1'), "H.264"},
                                         {cv::VideoWriter::fourcc('m', 'p', '4', 'v'), "MPEG-4 part 2"}};
  for (const Codec &c : codecs) {
    if (video.open(path, cv::CAP_FFMPEG, c.fourcc, fps, size)) return c.name;
    std::error_code ec;
    fs::remove(path, ec);
  }
  throw std::runtime_error(final_path + ": cannot open the video for writing (no " +
                           (ext == ".avi" ? std::string("Motion-JPEG") : std::string("H.264 or MPEG-4")) +
                           " encoder in OpenCV's FFmpeg, or a container it does not know by this extension)");
}

// The source frame with the window drawn on it (the outside dimmed), and the
// crop beside it at the frame's height; padded to even sizes (4:2:0 encoders).
void draw_preview(const cv::Mat &frame, const model::CropWindow &w, const cv::Mat &crop, cv::Mat &out) {
  const int gap = 4;
  const int right = std::max(2, int(std::lround(double(crop.cols) * frame.rows / crop.rows)));
  const int width = frame.cols + gap + right, height = frame.rows;
  out.create(height + height % 2, width + width % 2, CV_8UC3);
  out.setTo(cv::Scalar(255, 255, 255));  // a white gap between the two
  cv::Mat left = out(cv::Rect(0, 0, frame.cols, frame.rows));
  frame.convertTo(left, -1, 0.35);  // dimmed outside the window
  const cv::Rect r(w.x, w.y, w.width, w.height);
  frame(r).copyTo(left(r));
  cv::rectangle(left, r, cv::Scalar(0, 255, 255), std::max(1, frame.rows / 180), cv::LINE_AA);
  cv::Mat side = out(cv::Rect(frame.cols + gap, 0, right, frame.rows));
  cv::resize(crop, side, side.size(), 0, 0, cv::INTER_AREA);
}

}  // namespace

int main(int argc, char **argv) {
  tools::ModelFlags mf;
  std::string input, maps_dir, aspect, output, track, preview, flow_dir, mode = "auto";
  double max_speed = 0.015, max_acceleration = 0.0, zoom = 1.0, fps = 0.0;
  int look_ahead = -1;
  bool report = false, quiet = false;
  tools::Args args(argc, argv, kProgram, kUsage);
  mf.add_to(args);
  args.option("--input", &input);
  args.option("--maps", &maps_dir);
  args.option("--aspect", &aspect);
  args.option("--output", &output);
  args.option("--track", &track);
  args.option("--preview", &preview);
  args.option("--flow", &flow_dir);
  args.option("--max-speed", &max_speed);
  args.option("--max-acceleration", &max_acceleration);
  args.option("--look-ahead", &look_ahead);
  args.option("--mode", &mode);
  args.option("--zoom", &zoom);
  args.option("--fps", &fps);
  args.flag("--report", &report);
  args.flag("--quiet", &quiet);
  args.parse();

  // ---- flags: every usage error before any file is touched
  if (input.empty() && maps_dir.empty()) args.usage_error("give --input PATH (a clip), --maps DIR (its maps), or both");
  args.require("--aspect", aspect);
  int aspect_w = 0, aspect_h = 0;
  if (!parse_aspect(aspect, aspect_w, aspect_h))
    args.usage_error("--aspect '" + aspect + "': expected W:H, two whole numbers above 0 (e.g. --aspect 9:16)");
  if (track.empty() && output.empty() && preview.empty() && !report)
    args.usage_error("nothing to write: give --track, --output, --preview or --report");
  if (input.empty() && (!output.empty() || !preview.empty()))
    args.usage_error(std::string(!output.empty() ? "--output" : "--preview") +
                     " crops the frames: give --input (the clip the maps belong to)");
  if (!maps_dir.empty() && (!mf.model.empty() || !mf.weights.empty() || mf.random_init || !flow_dir.empty()))
    args.usage_error("--maps gives the maps, so no model runs: --model, --weights, --random-init and --flow do not go with it");
  if (!(max_speed >= model::kMinReframeSpeed && max_speed <= 1.0))
    args.usage_error("--max-speed must be in [0.001, 1] (a fraction of the frame per frame)");
  if (!(max_acceleration >= 0.0 && max_acceleration <= 1.0))
    args.usage_error("--max-acceleration must be in [0, 1] (0: max-speed / 8)");
  if (!(zoom > 0.0 && zoom <= 1.0)) args.usage_error("--zoom must be in (0, 1]");
  if (look_ahead < -1) args.usage_error("--look-ahead must be -1 (the whole clip) or a frame count >= 0");
  if (!(fps >= 0.0 && std::isfinite(fps))) args.usage_error("--fps must be above 0");
  model::CameraMode camera_mode = model::CameraMode::Auto;
  try {
    camera_mode = model::parse_camera_mode(mode);
  } catch (const std::exception &) {
    args.usage_error("--mode '" + mode + "': expected auto, stationary or track");
  }
  {
    std::vector<std::string> outs;
    for (const std::string *o : {&output, &track, &preview})
      if (!o->empty()) {
        const std::string a = fs::absolute(*o).lexically_normal().string();
        if (std::find(outs.begin(), outs.end(), a) != outs.end())
          args.usage_error(*o + ": given for two outputs (--output, --track, --preview)");
        outs.push_back(a);
      }
  }
  if (mf.model.empty()) mf.model = "baseline";
  mf.check(args);
  tools::set_threads(mf.threads);

  std::unique_ptr<StagedFile> track_file, output_file, preview_file;
  try {
    // The output folders first: a run that cannot write its files stops before any work.
    if (!track.empty()) track_file = std::make_unique<StagedFile>(track);
    if (!output.empty()) output_file = std::make_unique<StagedFile>(output);
    if (!preview.empty()) preview_file = std::make_unique<StagedFile>(preview);

    // ---- pass 1: the maps and the shot cuts into the planner, frame by frame
    model::ReframeOptions ro;
    ro.aspect_width = aspect_w;
    ro.aspect_height = aspect_h;
    ro.max_speed = max_speed;
    ro.max_acceleration = max_acceleration;
    ro.look_ahead = look_ahead;
    ro.mode = camera_mode;
    ro.zoom = zoom;
    std::unique_ptr<PathBuilder> builder;
    // The planner is made when the frame size is known: the first frame's, or
    // the first map's without frames (the maps stand for the frames).
    auto start_path = [&](int width, int height, const std::string &what) {
      ro.frame_width = width;
      ro.frame_height = height;
      try {
        model::validate(ro);
        builder = std::make_unique<PathBuilder>(ro, report);
      } catch (const std::invalid_argument &e) {
        throw std::runtime_error(what + ": cannot reframe a " + std::to_string(width) + "x" + std::to_string(height) +
                                 " frame to " + aspect + ": " + e.what());
      }
    };
    std::unique_ptr<MapReader> map_reader;
    if (!maps_dir.empty()) map_reader = std::make_unique<MapReader>(list_maps(maps_dir));
    auto count_mismatch = [&](int frames) {
      return std::runtime_error(maps_dir + ": " + std::to_string(map_reader->size()) + " maps for " +
                                std::to_string(frames) + " frames of " + input + " (one map per frame, in name order)");
    };
    model::ShotCutDetector detector;
    int frames = 0;
    double source_fps = 0.0;
    const auto started = Clock::now();
    if (!input.empty()) {
      flow::FrameSource source(input);
      source_fps = source.fps();
      if (map_reader && !source.is_video() && source.frame_count_hint() >= 0 &&
          source.frame_count_hint() != int(map_reader->size()))
        throw count_mismatch(source.frame_count_hint());
      std::vector<bool> cuts;  // the model's maps come after their frames
      cv::Mat grey;
      auto on_frame = [&](const cv::Mat &bgr, const std::string &) {
        if (frames == 0) start_path(bgr.cols, bgr.rows, input);
        cv::cvtColor(bgr, grey, cv::COLOR_BGR2GRAY);
        cuts.push_back(detector.push_frame({grey.data, grey.cols, grey.rows, grey.step}));
        ++frames;
      };
      if (!map_reader) {
        if (!flow_dir.empty() && !fs::is_directory(flow_dir)) throw std::runtime_error(flow_dir + ": not a directory");
        model::Predictor predictor(mf.predictor_options());
        if (!quiet) {
          std::fprintf(stderr, "%s: %s on %s, input %s\n", kProgram, predictor.description().c_str(),
                       predictor.device().c_str(), input.c_str());
          if (!flow_dir.empty() && !predictor.needs_flow())
            std::fprintf(stderr, "%s: note: %s does not use optical flow; --flow is ignored\n", kProgram,
                         mf.model.c_str());
        }
        tools::Progress progress(kProgram, source.frame_count_hint(), quiet);
        std::size_t mapped = 0;
        tools::run_predictor(predictor, source, flow_dir, on_frame, [&](model::SaliencyMap &m) {
          builder->push(std::move(m), cuts.at(mapped));
          ++mapped;
        }, &progress);
        progress.finish(frames);
        if (int(mapped) != frames)
          throw std::runtime_error("internal error: " + std::to_string(mapped) + " maps for " +
                                   std::to_string(frames) + " frames");
      } else {
        tools::Progress progress(kProgram, source.frame_count_hint(), quiet);
        for (cv::Mat bgr; source.read(bgr);) {
          on_frame(bgr, source.frame_name());
          // Past the last map, the frames are only counted (for the message).
          if (std::size_t(frames) <= map_reader->size())
            builder->push(map_reader->read(frames - 1), cuts.back());
          progress.update(frames);
        }
        progress.finish(frames);
        if (frames != int(map_reader->size())) throw count_mismatch(frames);
      }
    } else {
      tools::Progress progress(kProgram, int(map_reader->size()), quiet, "maps");
      for (std::size_t i = 0; i < map_reader->size(); ++i) {
        model::SaliencyMap m = map_reader->read(i);
        if (i == 0) start_path(m.width, m.height, maps_dir);
        const bool cut = detector.push_map(view(m));
        builder->push(std::move(m), cut);
        ++frames;
        progress.update(frames);
      }
      progress.finish(frames);
    }
    if (frames == 0 || !builder) throw std::runtime_error(input + ": no frames");
    builder->finish();
    const std::vector<model::CropWindow> &path = builder->path();
    const model::CropWindow fitted = builder->fitted();
    const int frame_w = ro.frame_width, frame_h = ro.frame_height;
    const int shots = builder->shots();

    // ---- the track
    if (track_file) {
      std::ofstream csv(track_file->path());
      if (!csv) throw std::runtime_error(track + ": cannot write " + track_file->path());
      csv << "frame,x,y,width,height\n";
      for (std::size_t i = 0; i < path.size(); ++i)
        csv << (i + 1) << ',' << path[i].x << ',' << path[i].y << ',' << path[i].width << ',' << path[i].height << '\n';
      csv.close();
      if (!csv) throw std::runtime_error(track + ": write failed");
    }

    // ---- pass 2: the videos
    std::string codec_out, codec_preview;
    const double out_fps = fps > 0 ? fps : (source_fps > 0 ? source_fps : 25.0);
    if (output_file || preview_file) {
      flow::FrameSource source(input);
      cv::VideoWriter out_video, preview_video;
      tools::Progress progress(std::string(kProgram) + ": writing video", frames, quiet);
      cv::Mat crop, sheet;
      int i = 0;
      for (cv::Mat bgr; source.read(bgr); ++i) {
        if (i >= frames || bgr.cols != frame_w || bgr.rows != frame_h)
          throw std::runtime_error(input + ": read differently the second time (frame " + std::to_string(i + 1) +
                                   "): the input changed during the run?");
        const model::CropWindow &w = path[i];
        const cv::Mat window = bgr(cv::Rect(w.x, w.y, w.width, w.height));
        if (w.width == fitted.width && w.height == fitted.height)
          crop = window;
        else
          cv::resize(window, crop, cv::Size(fitted.width, fitted.height), 0, 0, cv::INTER_LINEAR);
        if (output_file) {
          if (i == 0) codec_out = open_video(out_video, output_file->path(), output, out_fps, crop.size());
          out_video.write(crop);
        }
        if (preview_file) {
          draw_preview(bgr, w, crop, sheet);
          if (i == 0) codec_preview = open_video(preview_video, preview_file->path(), preview, out_fps, sheet.size());
          preview_video.write(sheet);
        }
        progress.update(i + 1);
      }
      progress.finish(i);
      if (i != frames)
        throw std::runtime_error(input + ": " + std::to_string(i) + " frames the second time, " +
                                 std::to_string(frames) + " the first: the input changed during the run?");
      out_video.release();
      preview_video.release();
    }

    // ---- the report
    if (report) {
      const double n = double(path.size());
      const model::PathMotion motion = model::path_motion(path, builder->cuts());
      std::printf("frames: %d\nshots: %d\n", frames, shots);
      std::printf("retained_planned: %.4f\nretained_centre: %.4f\nretained_best: %.4f\n",
                  builder->retained_planned / n, builder->retained_centre / n, builder->retained_best / n);
      std::printf("top_speed_px: %.2f\nmean_speed_px: %.3f\ntop_acceleration_px: %.2f\n", motion.top_speed,
                  motion.mean_speed, motion.top_acceleration);
      std::printf("planner_ms_per_frame: %.4f\n", builder->planner_ms() / n);
      std::fflush(stdout);
    }

    // ---- everything written: into place
    if (track_file) track_file->commit();
    if (output_file) output_file->commit();
    if (preview_file) preview_file->commit();
    if (!quiet) {
      std::fprintf(stderr, "%s: %d frames of %dx%d, %d shot%s, window %dx%d (%d:%d), planned in %.1f ms (%.1f s in all)\n",
                   kProgram, frames, frame_w, frame_h, shots, shots == 1 ? "" : "s", fitted.width, fitted.height,
                   aspect_w, aspect_h, builder->planner_ms(), std::chrono::duration<double>(Clock::now() - started).count());
      if (track_file) std::fprintf(stderr, "%s: track: %s\n", kProgram, fs::absolute(track).lexically_normal().c_str());
      if (output_file)
        std::fprintf(stderr, "%s: video: %s (%s, %dx%d, %g frames/s)\n", kProgram,
                     fs::absolute(output).lexically_normal().c_str(), codec_out.c_str(), fitted.width, fitted.height,
                     out_fps);
      if (preview_file)
        std::fprintf(stderr, "%s: preview: %s (%s)\n", kProgram, fs::absolute(preview).lexically_normal().c_str(),
                     codec_preview.c_str());
    }
  } catch (const std::exception &e) {
    // The StagedFiles' destructors remove what was written under temporary names.
    track_file.reset();
    output_file.reset();
    preview_file.reset();
    tools::fail(kProgram, e.what());
  }
  return 0;
}
