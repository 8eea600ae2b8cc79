// saliency-predict: saliency maps for every frame of a video, a frame folder or a glob.
#include <cstdio>
#include <deque>
#include <filesystem>
#include <memory>
#include <string>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "salflow/flo_io.hpp"
#include "salflow/frame_source.hpp"
#include "salmaps/heatmap.hpp"
#include "salmodel/predictor.hpp"
#include "tool_common.hpp"

namespace fs = std::filesystem;

static const char *kUsage =
    "usage: saliency-predict --model {stsanet,stranet,baseline} [--weights FILE] --input PATH --output DIR\n"
    "                        [--device cpu|cuda|auto] [--format png|npy] [--overlay FILE] [--flow DIR]\n"
    "                        [--random-init] [--batch N] [--interval N] [--interval-mode M] [--threads N] [--colormap NAME]\n"
    "                        [--alpha A] [--precision P] [--cuda-graphs] [--overwrite] [--quiet]\n"
    "\n"
    "Predicts where people look in every frame and writes one map per input frame to DIR,\n"
    "named like the frames (0001.png ... for a video), at the frame resolution.\n"
    "\n"
    "  --model M        stsanet (TMM 2021, needs --weights STSANet_DHF1K.pth), stranet (TIP 2019),\n"
    "                   or baseline (weight-free: spectral residual + motion + centre prior)\n"
    "  --weights FILE   checkpoint of a deep model (see README: where weights come from)\n"
    "  --input PATH     a video file, a directory of frames (sorted by name) or a quoted glob\n"
    "  --output DIR     where the maps go, written atomically (complete, or not at all); a\n"
    "                   non-empty DIR is refused unless --overwrite\n"
    "  --overwrite      replace a non-empty DIR as a whole once this run succeeded (no merge)\n"
    "  --device D       cpu (default), cuda, cuda:N or auto\n"
    "  --precision P    fp32 (default); on CUDA also autocast-fp16 or autocast-bf16 (fp32 weights)\n"
    "                   and fp16-weights (STSANet in fp16, the fastest on a GPU); the old names\n"
    "                   fp16, bf16 and half are still accepted\n"
    "  --cuda-graphs    CUDA, STSANet, fp32 or fp16-weights: replay each forward pass from a CUDA graph\n"
    "  --format F       png: 8-bit, min-max normalised per frame (default; a flat map is all 0);\n"
    "                   npy: float32 model output resized to the frame (no normalisation)\n"
    "  --overlay FILE   also write a heat-map overlay video (.avi Motion-JPEG or .mp4)\n"
    "  --flow DIR       precomputed forward flows NNNN.flo (frame NNNN -> next), as flow-extract writes\n"
    "  --random-init    allow a deep model without weights (tests and benchmarks only)\n"
    "  --batch N        windows per forward pass (default 1); --interval N: infer every N-th frame\n"
    "  --interval-mode M  bidirectional (default: blend the key maps before and after along the\n"
    "                   flow) or forward (carry the last key map forward)\n"
    "  --threads N      CPU threads (default: one per core)\n"
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
  MapWriter(const tools::StagedDir &dir, std::string format, int width, int height)
      : dir_(dir), format_(std::move(format)), width_(width), height_(height) {}

  void write(const model::SaliencyMap &map, const std::string &name) {
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
  int width_, height_, written_ = 0;
};

}  // namespace

int main(int argc, char **argv) {
  tools::ModelFlags mf;
  std::string input, output, format = "png", overlay, flow_dir, colormap = "jet";
  bool quiet = false, overwrite = false;
  std::string interval_mode = "bidirectional";
  double alpha = 0.5;
  tools::Args args(argc, argv, kProgram, kUsage);
  mf.add_to(args);
  args.option("--input", &input);
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
  args.require("--input", input);
  args.require("--output", output);
  if (format != "png" && format != "npy") args.usage_error("--format must be png or npy");
  if (alpha < 0.0 || alpha > 1.0) args.usage_error("--alpha must be in [0,1]");
  mf.check(args);
  tools::set_threads(mf.threads);

  try {
    // First: a refused output folder stops the run before a model is loaded.
    tools::StagedDir staged(output, overwrite);
    model::PredictorOptions po = mf.predictor_options();
    po.interval_mode = model::parse_interval_mode(interval_mode);
    if (!mf.weights.empty() && !fs::is_regular_file(mf.weights))
      throw model::ModelError(mf.weights + (fs::is_directory(mf.weights) ? ": is a directory, not a weights file"
                                                                       : ": no such file"));
    model::HeatmapStyle style;
    style.colormap = model::parse_colormap(colormap);
    style.alpha = float(alpha);
    style.mark_peak = true;
    if (!flow_dir.empty() && !fs::is_directory(flow_dir)) throw std::runtime_error(flow_dir + ": not a directory");

    flow::FrameSource source(input);
    model::Predictor predictor(po);
    if (!quiet)
      std::fprintf(stderr, "%s: %s on %s, input %s\n", kProgram, predictor.description().c_str(),
                   predictor.device().c_str(), input.c_str());
    if (!flow_dir.empty() && !predictor.needs_flow() && !quiet)
      std::fprintf(stderr, "%s: note: %s does not use optical flow; --flow is ignored\n", kProgram,
                   mf.model.c_str());

    std::unique_ptr<MapWriter> writer;
    cv::VideoWriter video;
    std::string overlay_tmp;
    std::deque<PendingFrame> pending;
    tools::Progress progress(kProgram, source.frame_count_hint(), quiet);
    cv::Mat bgr;
    std::string prev_name;
    int frames = 0;
    cv::Mat flow_buf;

    auto emit = [&](const std::vector<model::SaliencyMap> &maps) {
      for (const auto &m : maps) {
        PendingFrame &p = pending.front();
        writer->write(m, p.name);
        if (video.isOpened()) {
          model::MapView mv{m.values.data(), m.width, m.height};
          model::blend_heatmap(p.bgr.data, p.bgr.cols, p.bgr.rows, p.bgr.step, model::PixelFormat::BGR, mv, style);
          video.write(p.bgr);
        }
        pending.pop_front();
      }
    };

    const auto started = std::chrono::steady_clock::now();
    while (source.read(bgr)) {
      if (frames == 0) {
        writer = std::make_unique<MapWriter>(staged, format, bgr.cols, bgr.rows);
        if (!overlay.empty()) {
          const fs::path op = fs::absolute(overlay);
          overlay_tmp = (op.parent_path() / ("." + op.filename().string() + ".partial" + op.extension().string())).string();
          const bool mp4 = op.extension() == ".mp4" || op.extension() == ".m4v";
          const double fps = source.fps() > 0 ? source.fps() : 25.0;
          video.open(overlay_tmp, mp4 ? cv::VideoWriter::fourcc('m', 'p', '4', 'v') : cv::VideoWriter::fourcc('M', 'J', 'P', 'G'),
                     fps, bgr.size());
          if (!video.isOpened()) throw std::runtime_error(overlay + ": cannot open the overlay video for writing");
        }
      }
      model::FrameView fv{bgr.data, bgr.cols, bgr.rows, bgr.step, model::PixelFormat::BGR};
      model::FlowView flow_view;
      const model::FlowView *flow_ptr = nullptr;
      if (!flow_dir.empty() && predictor.needs_flow() && frames > 0) {
        const std::string flo = (fs::path(flow_dir) / (prev_name + ".flo")).string();
        if (!fs::exists(flo)) throw std::runtime_error(flo + ": missing flow file for frame " + prev_name);
        flow_buf = flow::read_flo(flo);
        flow_view = {reinterpret_cast<const float *>(flow_buf.data), flow_buf.cols, flow_buf.rows, flow_buf.step,
                     bgr.cols, bgr.rows};
        // .flo vectors are in pixels of the flow's own grid: express them in frame pixels.
        if (flow_buf.cols != bgr.cols || flow_buf.rows != bgr.rows) {
          std::vector<cv::Mat> uv;
          cv::split(flow_buf, uv);
          uv[0] *= double(bgr.cols) / flow_buf.cols;
          uv[1] *= double(bgr.rows) / flow_buf.rows;
          cv::merge(uv, flow_buf);
          flow_view.data = reinterpret_cast<const float *>(flow_buf.data);
          flow_view.stride = flow_buf.step;
        }
        flow_ptr = &flow_view;
      }
      pending.push_back({source.frame_name(), video.isOpened() ? bgr.clone() : cv::Mat()});
      emit(predictor.push(fv, flow_ptr));
      prev_name = source.frame_name();
      ++frames;
      progress.update(frames);
    }
    emit(predictor.finish());
    progress.finish(frames);
    if (writer->written() != frames)
      throw std::runtime_error("internal error: " + std::to_string(writer->written()) + " maps for " +
                               std::to_string(frames) + " frames");
    if (video.isOpened()) {
      video.release();
      fs::rename(overlay_tmp, overlay);
    }
    staged.commit();
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (!quiet) {
      std::fprintf(stderr, "%s: wrote %d %s maps to %s (%.1f frames/s)\n", kProgram, frames, format.c_str(),
                   fs::absolute(output).lexically_normal().c_str(), frames / std::max(secs, 1e-9));
      if (!overlay.empty())
        std::fprintf(stderr, "%s: overlay video: %s\n", kProgram, fs::absolute(overlay).lexically_normal().c_str());
    }
  } catch (const std::exception &e) {
    if (!overlay.empty()) {
      std::error_code ec;
      const fs::path op = fs::absolute(overlay);
      fs::remove(op.parent_path() / ("." + op.filename().string() + ".partial" + op.extension().string()), ec);
    }
    tools::fail(kProgram, e.what());
  }
  return 0;
}
