// saliency-predict: saliency maps for every frame of a video, a frame folder or a glob,
// or of each input of a list (--input-list), a share of it per process (--shard K/N).
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "salflow/frame_source.hpp"
#include "salmaps/heatmap.hpp"
#include "salmodel/predictor.hpp"
#include "salmodel/tinyhd.hpp"
#include "tool_common.hpp"

namespace fs = std::filesystem;

static const char *kUsage =
    "usage: saliency-predict --model {tinyhd,stsanet,stranet,baseline} [--weights FILE] --input PATH --output DIR\n"
    "                        [--device cpu|cuda|auto] [--format png|npy] [--overlay FILE] [--flow DIR]\n"
    "                        [--random-init] [--batch N] [--interval N] [--interval-mode M] [--threads N] [--colormap NAME]\n"
    "                        [--alpha A] [--precision P] [--cuda-graphs] [--overwrite] [--quiet]\n"
    "       saliency-predict --model M [--weights FILE] --input-list FILE [--shard K/N] --output DIR\n"
    "                        [the options above except --overlay]\n"
    "\n"
    "Predicts where people look in every frame and writes one map per input frame to DIR,\n"
    "named like the frames (0001.png ... for a video), at the frame resolution.\n"
    "\n"
    "  --model M        tinyhd (WACV 2023, needs --weights d123s_rc4_rc1T.pth from the weights/ folder\n"
    "                   of github.com/feiyanhu/tinyHD; fast on a CPU), stsanet (TMM 2021, needs\n"
    "                   --weights STSANet_DHF1K.pth), stranet (TIP 2019), or baseline (weight-free:\n"
    "                   spectral residual + motion + centre prior)\n"
    "  --weights FILE   checkpoint of a deep model (see README: where weights come from)\n"
    "  --input PATH     a video file, a directory of frames (sorted by name) or a quoted glob\n"
    "  --output DIR     where the maps go, written atomically (complete, or not at all); a\n"
    "                   non-empty DIR is refused unless --overwrite\n"
    "  --overwrite      replace a non-empty DIR as a whole once this run succeeded (no merge)\n"
    "  --input-list FILE  many inputs, one model load: one video file or frame folder per line\n"
    "                   (blank lines and lines starting with # are skipped; relative paths are\n"
    "                   relative to FILE's folder). Each input's maps go to DIR/NAME/, NAME being\n"
    "                   its file stem or folder name (two inputs with one NAME are refused); each\n"
    "                   DIR/NAME is written atomically and refused when not empty unless --overwrite.\n"
    "                   A failing input is reported and skipped; the exit status is then 1\n"
    "  --shard K/N      with --input-list: only the inputs whose index i (0-based, among the listed\n"
    "                   inputs) has i % N == K, so that N processes (a Slurm job array, a Kubernetes\n"
    "                   Indexed Job) with K = 0..N-1 share one list and one DIR (docs/cluster.md)\n"
    "  --device D       cpu (default), cuda, cuda:N or auto\n"
    "  --precision P    fp32 (default); on CUDA also autocast-fp16 or autocast-bf16 (fp32 weights)\n"
    "                   and fp16-weights (STSANet in fp16, the fastest on a GPU); the old names\n"
    "                   fp16, bf16 and half are still accepted\n"
    "  --cuda-graphs    CUDA, STSANet, fp32 or fp16-weights: replay each forward pass from a CUDA graph\n"
    "  --format F       png: 8-bit, min-max normalised per frame (default; a flat map is all 0);\n"
    "                   for tinyhd exactly the official post-processing of its benchmark maps\n"
    "                   (min-max, 8-bit truncation, bicubic resize, 5x5 Gaussian; docs/tinyhd.md);\n"
    "                   npy: float32 model output resized to the frame (no normalisation)\n"
    "  --overlay FILE   also write a heat-map overlay video (.avi Motion-JPEG or .mp4); --input only\n"
    "  --flow DIR       precomputed forward flows NNNN.flo (frame NNNN -> next), as flow-extract writes;\n"
    "                   with --input-list, DIR/NAME/NNNN.flo for the input named NAME\n"
    "  --random-init    allow a deep model without weights (tests and benchmarks only)\n"
    "  --batch N        windows per forward pass (default 1); --interval N: infer every N-th frame\n"
    "  --interval-mode M  bidirectional (default: blend the key maps before and after along the\n"
    "                   flow) or forward (carry the last key map forward)\n"
    "  --threads N      CPU threads (default: one per core; tinyhd: 1, its fastest)\n"
    "  --colormap NAME  overlay colours: jet (default), turbo, inferno, magma, viridis, hot, gray\n"
    "  --alpha A        overlay opacity in [0,1] (default 0.5)\n";

namespace {

const char *kProgram = "saliency-predict";

struct PendingFrame {
  std::string name;
  cv::Mat bgr;  // kept only when an overlay is written
};

class MapWriter {
 public:
  MapWriter(const tools::StagedDir &dir, std::string format, bool tinyhd_png, int width, int height)
      : dir_(dir), format_(std::move(format)), tinyhd_png_(tinyhd_png), width_(width), height_(height) {}

  void write(const model::SaliencyMap &map, const std::string &name) {
    if (format_ == "png" && tinyhd_png_) {
      // TinyHD's benchmark maps: the official post-processing of the raw map.
      std::vector<std::uint8_t> png =
          model::tinyhd_png_postprocess(map.values.data(), map.width, map.height, width_, height_);
      const cv::Mat out(height_, width_, CV_8U, png.data());
      const std::string path = dir_.file(name + ".png");
      if (!cv::imwrite(path, out)) throw std::runtime_error(path + ": cannot write PNG");
      ++written_;
      return;
    }
    std::vector<float> full = model::resize_map(map, width_, height_);
    if (format_ == "npy") {
      tools::write_npy(dir_.file(name + ".npy"), full.data(), height_, width_);
    } else {
      cv::Mat m(height_, width_, CV_32F, full.data()), out;
      double lo, hi;
      cv::minMaxLoc(m, &lo, &hi);
      // A flat map (constant, or a range of rounding noise) is written all
      // black: stretching its few ulps to 0..255 would draw noise.
      const model::MinMaxScale s = model::min_max_scale(lo, hi);
      m.convertTo(out, CV_8U, 255.0 * s.scale, 255.0 * s.offset);
      const std::string path = dir_.file(name + ".png");
      if (!cv::imwrite(path, out)) throw std::runtime_error(path + ": cannot write PNG");
    }
    ++written_;
  }
  int written() const { return written_; }

 private:
  const tools::StagedDir &dir_;
  std::string format_;
  bool tinyhd_png_;
  int width_, height_, written_ = 0;
};

// What every input of a run shares.
struct ClipSettings {
  std::string format;
  bool tinyhd_png = false;  // --model tinyhd --format png: the official post-processing
  std::string overlay;  // one overlay video (single --input only), or empty
  model::HeatmapStyle style;
  bool quiet = false;
};

struct ClipResult {
  int frames = 0;
  double seconds = 0.0;
};

std::string overlay_partial(const std::string &overlay) {
  const fs::path op = fs::absolute(overlay);
  return (op.parent_path() / ("." + op.filename().string() + ".partial" + op.extension().string())).string();
}

// Every frame of `source` through `predictor` (fresh or reset), one map per
// frame into `staged`, then the overlay moved into place and `staged`
// committed. `flow_dir`: precomputed flows, or empty. Throws on any failure,
// leaving `staged` uncommitted and the predictor possibly holding frames (the
// caller resets it before its next input).
ClipResult predict_clip(model::Predictor &predictor, flow::FrameSource &source, tools::StagedDir &staged,
                        const std::string &flow_dir, const ClipSettings &cs) {
  std::unique_ptr<MapWriter> writer;
  cv::VideoWriter video;
  std::string overlay_tmp;
  std::deque<PendingFrame> pending;
  tools::Progress progress(kProgram, source.frame_count_hint(), cs.quiet);

  auto on_frame = [&](const cv::Mat &bgr, const std::string &name) {
    if (!writer) {
      writer = std::make_unique<MapWriter>(staged, cs.format, cs.tinyhd_png, bgr.cols, bgr.rows);
      if (!cs.overlay.empty()) {
        const fs::path op = fs::absolute(cs.overlay);
        overlay_tmp = overlay_partial(cs.overlay);
        const bool mp4 = op.extension() == ".mp4" || op.extension() == ".m4v";
        const double fps = source.fps() > 0 ? source.fps() : 25.0;
        video.open(overlay_tmp, mp4 ? cv::VideoWriter::fourcc('m', 'p', '4', 'v') : cv::VideoWriter::fourcc('M', 'J', 'P', 'G'),
                   fps, bgr.size());
        if (!video.isOpened()) throw std::runtime_error(cs.overlay + ": cannot open the overlay video for writing");
      }
    }
    pending.push_back({name, video.isOpened() ? bgr.clone() : cv::Mat()});
  };
  auto on_map = [&](const model::SaliencyMap &m) {
    PendingFrame &p = pending.front();
    writer->write(m, p.name);
    if (video.isOpened()) {
      model::MapView mv{m.values.data(), m.width, m.height};
      model::blend_heatmap(p.bgr.data, p.bgr.cols, p.bgr.rows, p.bgr.step, model::PixelFormat::BGR, mv, cs.style);
      video.write(p.bgr);
    }
    pending.pop_front();
  };

  const auto started = std::chrono::steady_clock::now();
  const int frames = tools::run_predictor(predictor, source, flow_dir, on_frame, on_map, &progress);
  progress.finish(frames);
  if (!writer) throw std::runtime_error("internal error: the input gave no frame");
  if (writer->written() != frames)
    throw std::runtime_error("internal error: " + std::to_string(writer->written()) + " maps for " +
                             std::to_string(frames) + " frames");
  if (video.isOpened()) {
    video.release();
    fs::rename(overlay_tmp, cs.overlay);
  }
  staged.commit();
  return {frames, std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count()};
}

// Checks shared by both modes before the model is loaded; throws naming the file.
void check_weights_and_flow(const std::string &weights, const std::string &flow_dir) {
  if (!weights.empty() && !fs::is_regular_file(weights))
    throw model::ModelError(weights + (fs::is_directory(weights) ? ": is a directory, not a weights file"
                                                                 : ": no such file"));
  if (!flow_dir.empty() && !fs::is_directory(flow_dir)) throw std::runtime_error(flow_dir + ": not a directory");
}

// ---------------------------------------------------------------- --input-list

struct ListedInput {
  std::string text;  // the line as written (trimmed)
  std::string path;  // resolved against the list's folder: what FrameSource opens
  std::string name;  // the output goes to DIR/name
  int line = 0;      // 1-based line number in the list
};

struct Shard {
  int k = 0, n = 1;
};

// "K/N": two whole numbers, 0 <= K < N; exits 2 naming the value otherwise.
Shard parse_shard(const std::string &value, const tools::Args &args) {
  auto number = [](const std::string &s, long &out) {
    if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos) return false;
    out = std::stol(s);
    return true;
  };
  const auto slash = value.find('/');
  long k = 0, n = 0;
  if (slash == std::string::npos || !number(value.substr(0, slash), k) || !number(value.substr(slash + 1), n))
    args.usage_error("--shard '" + value + "': expected K/N, two whole numbers with 0 <= K < N (e.g. --shard 0/4)");
  if (n < 1) args.usage_error("--shard '" + value + "': N must be at least 1");
  if (k >= n)
    args.usage_error("--shard '" + value + "': K must be below N (shards count from 0: 0/" + std::to_string(n) +
                     " to " + std::to_string(n - 1) + "/" + std::to_string(n) + ")");
  return {int(k), int(n)};
}

std::string trim(const std::string &s) {
  const auto a = s.find_first_not_of(" \t\r");
  if (a == std::string::npos) return {};
  return s.substr(a, s.find_last_not_of(" \t\r") + 1 - a);
}

// The name of an input's output folder: a file's stem ("clips/a.mp4" -> "a"),
// a folder's name ("frames/v1/" -> "v1").
std::string input_name(const std::string &path) {
  fs::path q = fs::path(path).lexically_normal();
  if (q.filename().empty()) q = q.parent_path();
  std::error_code ec;
  if (q.filename().empty() || q.filename() == "." || q.filename() == "..") {
    q = fs::weakly_canonical(fs::absolute(q), ec);
    if (ec) return {};
  }
  return fs::is_directory(q, ec) ? q.filename().string() : q.stem().string();
}

// Reads the list: exits 1 naming the file when it cannot be read or lists no
// input, 2 for a line that gives no usable name and for two inputs of one name
// (their maps would go to the same folder).
std::vector<ListedInput> read_input_list(const std::string &list, const std::string &output,
                                         const tools::Args &args) {
  std::error_code ec;
  if (fs::is_directory(list, ec)) tools::fail(kProgram, list + ": is a directory, not a list of inputs");
  if (!fs::exists(list, ec)) tools::fail(kProgram, list + ": no such file");
  std::ifstream in(list);
  if (!in) tools::fail(kProgram, list + ": cannot read the input list");
  const fs::path base = fs::path(list).parent_path();
  std::vector<ListedInput> inputs;
  std::map<std::string, std::size_t> by_name;
  std::string raw;
  for (int line = 1; std::getline(in, raw); ++line) {
    const std::string text = trim(raw);
    if (text.empty() || text[0] == '#') continue;
    ListedInput li{text, (base / text).string(), {}, line};
    const std::string where = list + ":" + std::to_string(line) + ": '" + text + "'";
    if (text.find_first_of("*?[") != std::string::npos)
      args.usage_error(where + " is a glob; list its folder (or the files) instead");
    li.name = input_name(li.path);
    if (li.name.empty()) args.usage_error(where + " gives no name for its output folder");
    const auto [it, fresh] = by_name.emplace(li.name, inputs.size());
    if (!fresh) {
      const ListedInput &first = inputs[it->second];
      args.usage_error(list + ": '" + first.text + "' (line " + std::to_string(first.line) + ") and '" + text +
                       "' (line " + std::to_string(line) + ") are both named '" + li.name +
                       "': their maps would both go to " + (fs::path(output) / li.name).string());
    }
    inputs.push_back(std::move(li));
  }
  if (in.bad()) tools::fail(kProgram, list + ": cannot read the input list");
  if (inputs.empty()) tools::fail(kProgram, list + ": lists no inputs");
  return inputs;
}

// Predicts this shard's inputs with one model: each into DIR/NAME, staged.
// A failing input is reported in one line naming it and skipped; returns the
// exit status (1 when any failed).
int run_list(const std::vector<ListedInput> &all, Shard shard, const std::string &output,
             const model::PredictorOptions &po, const std::string &flow_dir, bool overwrite,
             const ClipSettings &cs) {
  std::vector<const ListedInput *> mine;
  for (std::size_t i = 0; i < all.size(); ++i)
    if (int(i % std::size_t(shard.n)) == shard.k) mine.push_back(&all[i]);
  const std::string shard_text =
      shard.n > 1 ? " (shard " + std::to_string(shard.k) + "/" + std::to_string(shard.n) + ")" : "";
  if (mine.empty()) {
    if (!cs.quiet)
      std::fprintf(stderr, "%s: no inputs for this shard%s: the list has %zu\n", kProgram, shard_text.c_str(),
                   all.size());
    return 0;
  }
  std::unique_ptr<model::Predictor> predictor;
  try {
    predictor = std::make_unique<model::Predictor>(po);
  } catch (const std::exception &e) {
    tools::fail(kProgram, e.what());
  }
  if (!cs.quiet) {
    std::fprintf(stderr, "%s: %s on %s, %zu of %zu inputs%s\n", kProgram, predictor->description().c_str(),
                 predictor->device().c_str(), mine.size(), all.size(), shard_text.c_str());
    if (!flow_dir.empty() && !predictor->needs_flow())
      std::fprintf(stderr, "%s: note: %s does not use optical flow; --flow is ignored\n", kProgram,
                   predictor->description().c_str());
  }
  int failed = 0;
  for (std::size_t j = 0; j < mine.size(); ++j) {
    const ListedInput &in = *mine[j];
    const std::string out_dir = (fs::path(output) / in.name).string();
    if (!cs.quiet) std::fprintf(stderr, "[%zu/%zu] %s -> %s\n", j + 1, mine.size(), in.path.c_str(), out_dir.c_str());
    try {
      tools::StagedDir staged(out_dir, overwrite);
      std::string in_flow;
      if (!flow_dir.empty() && predictor->needs_flow()) {
        in_flow = (fs::path(flow_dir) / in.name).string();
        if (!fs::is_directory(in_flow)) throw std::runtime_error(in_flow + ": not a directory");
      }
      flow::FrameSource source(in.path);
      const ClipResult r = predict_clip(*predictor, source, staged, in_flow, cs);
      if (!cs.quiet)
        std::fprintf(stderr, "%s: wrote %d %s maps to %s (%.1f frames/s)\n", kProgram, r.frames, cs.format.c_str(),
                     fs::absolute(out_dir).lexically_normal().c_str(), r.frames / std::max(r.seconds, 1e-9));
    } catch (const std::exception &e) {
      predictor->reset();
      ++failed;
      std::string message = e.what();
      if (message.find(in.path) == std::string::npos) message = in.path + ": " + message;
      std::fprintf(stderr, "%s: %s\n", kProgram, message.c_str());
    }
  }
  if (failed > 0)
    tools::fail(kProgram, std::to_string(failed) + " of " + std::to_string(mine.size()) +
                              (mine.size() == 1 ? " input" : " inputs") + shard_text + " failed");
  return 0;
}

}  // namespace

int main(int argc, char **argv) {
  tools::ModelFlags mf;
  std::string input, output, format = "png", overlay, flow_dir, colormap = "jet";
  std::string input_list, shard_value;
  bool quiet = false, overwrite = false;
  std::string interval_mode = "bidirectional";
  double alpha = 0.5;
  tools::Args args(argc, argv, kProgram, kUsage);
  mf.add_to(args);
  args.option("--input", &input);
  args.option("--input-list", &input_list);
  args.option("--shard", &shard_value);
  args.option("--output", &output);
  args.option("--format", &format);
  args.option("--overlay", &overlay);
  args.option("--flow", &flow_dir);
  args.option("--interval-mode", &interval_mode);
  args.option("--colormap", &colormap);
  args.option("--alpha", &alpha);
  args.flag("--quiet", &quiet);
  args.flag("--overwrite", &overwrite);
  args.parse();
  args.require("--model", mf.model);
  if (!input_list.empty() && !input.empty()) args.usage_error("give --input or --input-list, not both");
  if (input_list.empty()) {
    if (!shard_value.empty()) args.usage_error("--shard needs --input-list");
    args.require("--input", input);
  }
  args.require("--output", output);
  if (format != "png" && format != "npy") args.usage_error("--format must be png or npy");
  if (alpha < 0.0 || alpha > 1.0) args.usage_error("--alpha must be in [0,1]");
  mf.check(args);
  Shard shard;
  if (!shard_value.empty()) shard = parse_shard(shard_value, args);
  if (!input_list.empty() && !overlay.empty())
    args.usage_error("--overlay writes one video: it takes a single --input, not --input-list");
  tools::set_threads(mf.threads);

  ClipSettings cs;
  cs.format = format;
  cs.tinyhd_png = mf.model == "tinyhd";
  cs.overlay = overlay;
  cs.quiet = quiet;

  if (!input_list.empty()) {
    const std::vector<ListedInput> inputs = read_input_list(input_list, output, args);
    model::PredictorOptions po;
    try {
      // DIR holds one folder per input (and is shared by the shards): only a
      // file in its way is refused here; each DIR/NAME is checked as it is written.
      std::error_code ec;
      if (fs::exists(output, ec) && !fs::is_directory(output, ec))
        throw std::runtime_error(output + ": exists and is not a directory");
      po = mf.predictor_options();
      po.interval_mode = model::parse_interval_mode(interval_mode);
      check_weights_and_flow(mf.weights, flow_dir);
      cs.style.colormap = model::parse_colormap(colormap);
    } catch (const std::exception &e) {
      tools::fail(kProgram, e.what());
    }
    return run_list(inputs, shard, output, po, flow_dir, overwrite, cs);
  }

  try {
    // First: a refused output folder stops the run before a model is loaded.
    tools::StagedDir staged(output, overwrite);
    model::PredictorOptions po = mf.predictor_options();
    po.interval_mode = model::parse_interval_mode(interval_mode);
    check_weights_and_flow(mf.weights, "");
    cs.style.colormap = model::parse_colormap(colormap);
    cs.style.alpha = float(alpha);
    cs.style.mark_peak = true;
    check_weights_and_flow("", flow_dir);

    flow::FrameSource source(input);
    model::Predictor predictor(po);
    if (!quiet)
      std::fprintf(stderr, "%s: %s on %s, input %s\n", kProgram, predictor.description().c_str(),
                   predictor.device().c_str(), input.c_str());
    if (!flow_dir.empty() && !predictor.needs_flow() && !quiet)
      std::fprintf(stderr, "%s: note: %s does not use optical flow; --flow is ignored\n", kProgram,
                   mf.model.c_str());

    const ClipResult r = predict_clip(predictor, source, staged, flow_dir, cs);
    if (!quiet) {
      std::fprintf(stderr, "%s: wrote %d %s maps to %s (%.1f frames/s)\n", kProgram, r.frames, format.c_str(),
                   fs::absolute(output).lexically_normal().c_str(), r.frames / std::max(r.seconds, 1e-9));
      if (!overlay.empty())
        std::fprintf(stderr, "%s: overlay video: %s\n", kProgram, fs::absolute(overlay).lexically_normal().c_str());
    }
  } catch (const std::exception &e) {
    if (!overlay.empty()) {
      std::error_code ec;
      fs::remove(overlay_partial(overlay), ec);
    }
    tools::fail(kProgram, e.what());
  }
  return 0;
}
