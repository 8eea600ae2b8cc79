// stsanet-net-bench: STSANet's network and model adapter alone (no Predictor,
// no flow, no OpenCV), on any LibTorch and device, so that a machine with a
// CUDA LibTorch but without the rest of the stack (GStreamer, OpenCV, HDF5)
// can measure the GPU path: model/tools/gpu/build.sh compiles it from the
// network sources only. Streams sliding 32-frame windows over prepared frames
// exactly as the Predictor does (the same frame tensors in every window, so
// the StemCache applies), brings each map back to the host (the Predictor's
// one synchronisation per forward), and prints one "name: value unit" line
// per figure, as saliency-bench does.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include <torch/cuda.h>
#include <torch/torch.h>

#include "salmodel/autocast_scope.hpp"
#include "salmodel/stsanet.hpp"

#ifdef SALMODEL_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <torch/csrc/autograd/profiler_kineto.h>

#include <map>
#endif

namespace {

const char *kUsage =
    "usage: stsanet-net-bench [--device D] [--precision P] [--frames N] [--warmup N] [--batch N]\n"
    "                         [--no-stem-reuse] [--cudnn-benchmark] [--cuda-graphs] [--compare-cpu K]\n"
    "                         [--profile-kernels] [--channels-last] [--seed S]\n"
    "\n"
    "Times STSANet (random weights, official 32x224x384 windows) one output frame per window,\n"
    "sliding over prepared frames as the Predictor does, each map copied back to the host.\n"
    "Prints seconds_per_frame (mean), median_ms, min_ms, frames_per_second and, on CUDA,\n"
    "gpu_peak_allocated_mb.\n"
    "\n"
    "  --device D        cpu (default) or cuda[:N]\n"
    "  --precision P     fp32 (default; TF32 off), tf32 (fp32 with TF32 convolutions and matrix\n"
    "                    products), fp16 / bf16 (autocast, fp32 weights), half / bhalf (weights and\n"
    "                    activations in fp16 / bf16)\n"
    "  --frames N        timed output frames (default 20)\n"
    "  --warmup N        output frames before timing (default 16: the StemCache fills)\n"
    "  --batch N         windows per forward pass (default 1; > 1 turns stem reuse off)\n"
    "  --no-stem-reuse   recompute base1 for every window (the official code's way)\n"
    "  --cudnn-benchmark let cuDNN time its algorithms for each shape first\n"
    "  --cuda-graphs     capture the whole forward pass once in a CUDA graph and replay it for\n"
    "                    every window (STSANetModel::set_cuda_graphs: no stem reuse, channels-last)\n"
    "  --channels-last   channels-last activations (cuDNN's tensor-core layout)\n"
    "  --profile-kernels print the GPU kernels of the timed frames by total time (CUDA builds)\n"
    "  --compare-cpu K   also run the first K windows on the CPU in fp32 and print the largest\n"
    "                    absolute difference and the CC between the device's maps and the CPU's\n"
    "  --seed S          weights and frames (default 1)\n";

struct Options {
  std::string device = "cpu", precision = "fp32";
  int frames = 20, warmup = 16, batch = 1, compare_cpu = 0;
  bool stem_reuse = true, cudnn_benchmark = false, cuda_graph = false, profile_kernels = false,
       channels_last = false;
  std::uint64_t seed = 1;
};

int parse_int(const std::string &flag, const char *text, int min) {
  char *end = nullptr;
  const long v = std::strtol(text, &end, 10);
  if (*text == '\0' || *end != '\0' || v < min || v > 1000000)
    throw std::invalid_argument(flag + " " + text + ": expected an integer >= " + std::to_string(min));
  return static_cast<int>(v);
}

Options parse(int argc, char **argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> const char * {
      if (i + 1 >= argc) throw std::invalid_argument(a + ": needs a value");
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (a == "--device") {
      o.device = value();
    } else if (a == "--precision") {
      o.precision = value();
    } else if (a == "--frames") {
      o.frames = parse_int(a, value(), 1);
    } else if (a == "--warmup") {
      o.warmup = parse_int(a, value(), 0);
    } else if (a == "--batch") {
      o.batch = parse_int(a, value(), 1);
    } else if (a == "--compare-cpu") {
      o.compare_cpu = parse_int(a, value(), 0);
    } else if (a == "--seed") {
      o.seed = static_cast<std::uint64_t>(parse_int(a, value(), 0));
    } else if (a == "--no-stem-reuse") {
      o.stem_reuse = false;
    } else if (a == "--cudnn-benchmark") {
      o.cudnn_benchmark = true;
    } else if (a == "--channels-last") {
      o.channels_last = true;
    } else if (a == "--profile-kernels") {
      o.profile_kernels = true;
    } else if (a == "--cuda-graphs") {
      o.cuda_graph = true;
    } else {
      throw std::invalid_argument(a + ": unknown option (see --help)");
    }
  }
  const std::vector<std::string> precisions = {"fp32", "tf32", "fp16", "bf16", "half", "bhalf"};
  if (std::find(precisions.begin(), precisions.end(), o.precision) == precisions.end())
    throw std::invalid_argument("--precision " + o.precision + ": expected fp32, tf32, fp16, bf16, half or bhalf");
  if (o.precision != "fp32" && o.device.rfind("cuda", 0) != 0)
    throw std::invalid_argument("--precision " + o.precision + " needs --device cuda");
  if (o.profile_kernels) {
#ifndef SALMODEL_WITH_CUDA
    throw std::invalid_argument("--profile-kernels: built without CUDA (model/tools/gpu/build.sh against a CUDA LibTorch)");
#endif
    if (o.device.rfind("cuda", 0) != 0) throw std::invalid_argument("--profile-kernels needs --device cuda");
  }
  if (o.cuda_graph) {
    if (o.device.rfind("cuda", 0) != 0) throw std::invalid_argument("--cuda-graphs needs --device cuda");
    if (o.precision == "fp16" || o.precision == "bf16")
      throw std::invalid_argument("--cuda-graphs: use --precision fp32, tf32, half or bhalf (autocast cannot be captured)");
  }
  return o;
}

// --profile-kernels: GPU activity (kernels, copies) recorded by Kineto over
// the timed frames, summed by name.
class KernelProfile {
 public:
  void start() {
#ifdef SALMODEL_WITH_CUDA
    namespace impl = torch::profiler::impl;
    const impl::ProfilerConfig config(impl::ProfilerState::KINETO);
    const std::set<impl::ActivityType> activities{impl::ActivityType::CPU, impl::ActivityType::CUDA};
    torch::autograd::profiler::prepareProfiler(config, activities);
    torch::autograd::profiler::enableProfiler(config, activities);
    active_ = true;
#endif
  }
  void report(int frames) {
#ifdef SALMODEL_WITH_CUDA
    if (!active_) return;
    const auto result = torch::autograd::profiler::disableProfiler();
    std::map<std::string, std::pair<double, long>> by_name;
    double total = 0;
    for (const auto &e : result->events()) {
      if (e.deviceType() != c10::DeviceType::CUDA) continue;
      auto &slot = by_name[e.name().substr(0, 110)];
      slot.first += e.durationNs() / 1e6;
      slot.second++;
      total += e.durationNs() / 1e6;
    }
    std::vector<std::pair<std::string, std::pair<double, long>>> rows(by_name.begin(), by_name.end());
    std::sort(rows.begin(), rows.end(), [](const auto &a, const auto &b) { return a.second.first > b.second.first; });
    std::printf("kernel_total: %.2f ms/frame\n", total / frames);
    for (size_t i = 0; i < rows.size() && i < 40; ++i)
      std::printf("kernel: %8.3f ms/frame %5.1f %% %6ld calls  %s\n", rows[i].second.first / frames,
                  100 * rows[i].second.first / total, rows[i].second.second, rows[i].first.c_str());
#else
    (void)frames;
#endif
  }

 private:
  bool active_ = false;
};

double pearson(const torch::Tensor &a, const torch::Tensor &b) {
  const auto x = a.flatten().to(torch::kFloat64), y = b.flatten().to(torch::kFloat64);
  const auto xc = x - x.mean(), yc = y - y.mean();
  return ((xc * yc).sum() / (xc.norm() * yc.norm())).item<double>();
}

void synchronize(const torch::Device &device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
}

int run(const Options &o) {
  const torch::Device device(o.device == "cuda" ? std::string("cuda:0") : o.device);
  if (device.is_cuda() && !torch::cuda::is_available())
    throw std::runtime_error("--device " + o.device + ": this LibTorch has no CUDA or no GPU was found");
  auto &context = at::globalContext();
  context.setBenchmarkCuDNN(o.cudnn_benchmark);
  context.setAllowTF32CuDNN(o.precision == "tf32");
  context.setAllowTF32CuBLAS(o.precision == "tf32");

  const torch::Dtype dtype = o.precision == "half"    ? torch::kHalf
                             : o.precision == "bhalf" ? torch::kBFloat16
                                                      : torch::kFloat32;
  const bool autocast = o.precision == "fp16" || o.precision == "bf16";
  const auto autocast_dtype = o.precision == "fp16" ? at::kHalf : at::kBFloat16;

  model::STSANetModel net;
  net.network()->reset_parameters(o.seed);
  model::STSANetTuning tuning;
  tuning.stem_reuse = o.stem_reuse;
  tuning.channels_last = o.channels_last;
  net.set_tuning(tuning);
  const auto stream = net.new_stream_state();  // one stream's stem cache
  net.to(device, dtype);
  if (o.cuda_graph) net.set_cuda_graphs(true);
  const auto &g = net.network()->geometry();
  const int window = static_cast<int>(g.window);
  const int outputs = o.warmup + o.frames;
  const int frame_count = window + outputs * o.batch;

  // Smooth random frames (a coarse random field upsampled), prepared on the
  // device as the Predictor prepares them.
  torch::manual_seed(o.seed);
  std::vector<torch::Tensor> frames;
  frames.reserve(frame_count);
  for (int i = 0; i < frame_count; ++i) {
    auto coarse = torch::rand({1, 3, 14, 24}) * 255;
    auto rgb = torch::nn::functional::interpolate(
                   coarse, torch::nn::functional::InterpolateFuncOptions()
                               .size(std::vector<int64_t>{g.height, g.width})
                               .mode(torch::kBilinear)
                               .align_corners(false))
                   .squeeze(0)
                   .permute({1, 2, 0})
                   .round()
                   .to(torch::kUInt8)
                   .contiguous();
    frames.push_back(net.prepare_frame(rgb.to(device)));
  }

  auto window_at = [&](int start) {
    model::Window w;
    w.frames.assign(frames.begin() + start, frames.begin() + start + window);
    w.state = stream.get();
    return w;
  };

#ifdef SALMODEL_WITH_CUDA
  if (device.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(device.index());
#endif
  KernelProfile profile;
  std::vector<double> ms;
  std::vector<torch::Tensor> kept;  // the first compare_cpu maps, for --compare-cpu
  for (int step = 0; step < outputs; ++step) {
    std::vector<model::Window> windows;
    for (int b = 0; b < o.batch; ++b) windows.push_back(window_at(step * o.batch + b));
    synchronize(device);
    if (o.profile_kernels && step == o.warmup) profile.start();
    const auto t0 = std::chrono::steady_clock::now();
    torch::Tensor maps;
    {
      c10::InferenceMode guard;
      model::CudaAutocastScope scope(autocast, autocast_dtype);
      maps = net.predict(windows);
    }
    maps = maps.clamp(0.0, 1.0).to(torch::kCPU);  // waits for the device
    const auto t1 = std::chrono::steady_clock::now();
    if (step >= o.warmup) ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count() / o.batch);
    for (int b = 0; b < o.batch && static_cast<int>(kept.size()) < o.compare_cpu; ++b) kept.push_back(maps[b]);
    std::fprintf(stderr, "\rstsanet-net-bench: output %d/%d", step + 1, outputs);
  }
  std::fputs("\n", stderr);
  profile.report(o.frames);

  std::vector<double> sorted = ms;
  std::sort(sorted.begin(), sorted.end());
  double sum = 0;
  for (double v : ms) sum += v;
  const double mean = sum / ms.size();
  std::printf("device: %s\n", device.str().c_str());
  std::printf("precision: %s\n", o.precision.c_str());
  std::printf("batch: %d\n", o.batch);
  std::printf("stem_reuse: %d\n", o.stem_reuse && o.batch == 1 && !o.cuda_graph ? 1 : 0);
  std::printf("cuda_graph: %d\n", o.cuda_graph ? 1 : 0);
  // Graph replay is channels-last (STSANetModel::set_cuda_graphs).
  std::printf("channels_last: %d\n", o.channels_last || o.cuda_graph ? 1 : 0);
  std::printf("seconds_per_frame: %.5f s\n", mean / 1000);
  std::printf("median_ms: %.3f ms\n", sorted[sorted.size() / 2]);
  std::printf("min_ms: %.3f ms\n", sorted.front());
  std::printf("frames_per_second: %.2f fps\n", 1000 / mean);
#ifdef SALMODEL_WITH_CUDA
  if (device.is_cuda()) {
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index());
    const auto aggregate = static_cast<std::size_t>(c10::CachingAllocator::StatType::AGGREGATE);
    std::printf("gpu_peak_allocated_mb: %.0f MB\n", stats.allocated_bytes[aggregate].peak / 1048576.0);
    std::printf("gpu_peak_reserved_mb: %.0f MB\n", stats.reserved_bytes[aggregate].peak / 1048576.0);
  }
#endif

  if (o.compare_cpu > 0) {
    // The same weights (reset_parameters draws them on the CPU generator) and
    // the device's prepared frames, in fp32 on the CPU.
    model::STSANetModel reference;
    reference.network()->reset_parameters(o.seed);
    std::vector<torch::Tensor> cpu_frames;
    for (int i = 0; i < window + o.compare_cpu - 1; ++i)
      cpu_frames.push_back(frames[i].to(torch::kCPU, torch::kFloat32));
    double worst = 0, cc_min = 1, cc_sum = 0;
    for (int k = 0; k < o.compare_cpu; ++k) {
      model::Window w;
      w.frames.assign(cpu_frames.begin() + k, cpu_frames.begin() + k + window);
      torch::Tensor expected;
      {
        c10::InferenceMode guard;
        expected = reference.predict({w})[0].clamp(0.0, 1.0);
      }
      worst = std::max(worst, (kept[k] - expected).abs().max().item<double>());
      const double cc = pearson(kept[k], expected);
      cc_min = std::min(cc_min, cc);
      cc_sum += cc;
      std::fprintf(stderr, "\rstsanet-net-bench: CPU reference %d/%d", k + 1, o.compare_cpu);
    }
    std::fputs("\n", stderr);
    std::printf("cpu_max_abs_diff: %.3g\n", worst);
    std::printf("cpu_cc_mean: %.6f\n", cc_sum / o.compare_cpu);
    std::printf("cpu_cc_min: %.6f\n", cc_min);
    std::printf("map_std: %.4g (first map, device)\n", kept[0].std().item<double>());
  }
  return 0;
}

}  // namespace

int main(int argc, char **argv) {
  try {
    return run(parse(argc, argv));
  } catch (const std::exception &e) {
    std::fprintf(stderr, "stsanet-net-bench: %s\n", e.what());
    return 1;
  }
}
