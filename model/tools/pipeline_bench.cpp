// saliency-bench --pipeline (pipeline_bench.hpp).
#include "pipeline_bench.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>

#include <opencv2/imgcodecs.hpp>

extern char **environ;

namespace tools {

namespace fs = std::filesystem;

namespace {

// Settings that would make one side faster than a user's plain run: another
// malloc, or a thread count chosen for it.
bool helps_a_side(const std::string &entry) {
  for (const char *prefix : {"LD_PRELOAD=", "MALLOC_", "OMP_", "GOMP_", "KMP_", "MKL_", "OPENBLAS_NUM_THREADS="})
    if (entry.rfind(prefix, 0) == 0) return true;
  return false;
}

std::vector<std::string> child_environment(const std::string &plugin_dir) {
  std::vector<std::string> env;
  std::string plugin_path = plugin_dir;
  for (char **e = environ; *e; ++e) {
    const std::string entry = *e;
    if (helps_a_side(entry)) continue;
    if (entry.rfind("GST_PLUGIN_PATH=", 0) == 0) {
      const std::string rest = entry.substr(std::strlen("GST_PLUGIN_PATH="));
      plugin_path = plugin_path.empty() ? rest : plugin_path + ":" + rest;
      continue;
    }
    env.push_back(entry);
  }
  if (!plugin_path.empty()) env.push_back("GST_PLUGIN_PATH=" + plugin_path);
  return env;
}

struct ProcessRun {
  double seconds = 0;
  double peak_rss_mb = 0;
};

std::string last_line(const fs::path &log) {
  std::ifstream in(log);
  std::string line, last;
  while (std::getline(in, line))
    if (!line.empty()) last = line;
  return last;
}

std::string join(const std::vector<std::string> &argv) {
  std::string s;
  for (const auto &a : argv) s += (s.empty() ? "" : " ") + (a.find(' ') == std::string::npos ? a : "'" + a + "'");
  return s;
}

// Runs argv with env, output to `log`; wall time and the child's peak RSS.
ProcessRun run_process(const std::vector<std::string> &argv, const std::vector<std::string> &env,
                       const fs::path &log) {
  std::vector<char *> args, envp;
  for (const auto &a : argv) args.push_back(const_cast<char *>(a.c_str()));
  args.push_back(nullptr);
  for (const auto &e : env) envp.push_back(const_cast<char *>(e.c_str()));
  envp.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  pid_t pid = 0;
  const auto t0 = std::chrono::steady_clock::now();
  const int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error(argv[0] + ": cannot run: " + std::strerror(rc));
  int status = 0;
  struct rusage ru {};
  if (wait4(pid, &status, 0, &ru) != pid) throw std::runtime_error(argv[0] + ": wait failed");
  ProcessRun r;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.peak_rss_mb = ru.ru_maxrss / 1024.0;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    const std::string why = WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                                                : "exit " + std::to_string(WEXITSTATUS(status));
    throw std::runtime_error(fs::path(argv[0]).filename().string() + " failed (" + why + "): " + last_line(log));
  }
  return r;
}

class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = fs::temp_directory_path() / ("saliency-bench-" + std::to_string(rd()));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path &path() const { return path_; }

 private:
  fs::path path_;
};

}  // namespace

PipelineBenchResult run_pipeline_bench(const PipelineBenchOptions &o, const std::vector<cv::Mat> &frames) {
  const int n = o.frames;
  if (n < 1 || int(frames.size()) < 2 * n) throw std::runtime_error("pipeline benchmark: needs 2N frames");
  TempDir tmp;
  // Two folders, N and 2N frames: saliency-predict reads whole folders.
  const fs::path short_dir = tmp.path() / "frames-n", long_dir = tmp.path() / "frames-2n";
  fs::create_directories(short_dir);
  fs::create_directories(long_dir);
  for (int i = 0; i < 2 * n; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "%04d.png", i + 1);
    if (!cv::imwrite((long_dir / name).string(), frames[i]))
      throw std::runtime_error((long_dir / name).string() + ": cannot write");
    if (i < n) fs::copy_file(long_dir / name, short_dir / name);
  }
  const auto env = child_environment(o.plugin_dir);

  // One branch per stream, all in one gst-launch-1.0 process.
  auto element_argv = [&](const fs::path &dir, int count) {
    std::vector<std::string> a = {"gst-launch-1.0", "-q"};
    for (int k = 0; k < std::max(1, o.streams); ++k) {
      a.insert(a.end(), {"multifilesrc", "location=" + (dir / "%04d.png").string(), "index=1",
                         "stop-index=" + std::to_string(count), "caps=image/png,framerate=(fraction)25/1", "!",
                         "pngdec", "!", "videoconvert", "!", "saliency", "model=" + o.model, "device=" + o.device,
                         "batch=" + std::to_string(o.batch), "interval=" + std::to_string(o.interval)});
      if (!o.weights.empty()) a.push_back("weights=\"" + o.weights + "\"");
      if (o.random_init) a.push_back("random-init=true");
      if (o.threads > 0) a.push_back("threads=" + std::to_string(o.threads));
      if (o.streams > 1 && o.share_model) {
        a.push_back("model-instance-id=saliency-bench");
        a.push_back("batch-timeout=" + std::to_string(o.batch_timeout_ms));
      }
      a.insert(a.end(), {"!", "fakesink"});
    }
    return a;
  };
  int output_count = 0;
  auto predict_argv = [&](const fs::path &dir) {
    std::vector<std::string> a = {o.predict, "--quiet", "--model", o.model, "--device", o.device, "--batch",
                                  std::to_string(o.batch), "--interval", std::to_string(o.interval), "--format", "npy",
                                  "--input", dir.string(), "--output",
                                  (tmp.path() / ("maps-" + std::to_string(output_count++))).string()};
    if (!o.weights.empty()) a.insert(a.end(), {"--weights", o.weights});
    if (o.random_init) a.push_back("--random-init");
    if (o.threads > 0) a.insert(a.end(), {"--threads", std::to_string(o.threads)});
    return a;
  };

  PipelineBenchResult result;
  double best[2][2] = {{1e300, 1e300}, {1e300, 1e300}};  // [side][short, long]
  const fs::path log = tmp.path() / "log.txt";
  for (int r = 0; r < o.rounds; ++r) {
    for (int side = 0; side < (o.streams > 1 ? 1 : 2); ++side) {  // several streams: the element only
      for (int len = 0; len < 2; ++len) {  // alternated, so a change of load hits both alike
        const fs::path &dir = len ? long_dir : short_dir;
        const auto argv = side == 0 ? element_argv(dir, len ? 2 * n : n) : predict_argv(dir);
        if (o.progress)
          o.progress("round " + std::to_string(r + 1) + "/" + std::to_string(o.rounds) + ": " +
                     (side == 0 ? "gst-launch-1.0" : "saliency-predict") + " on " + std::to_string(len ? 2 * n : n) +
                     " frames");
        const ProcessRun run = run_process(argv, env, log);
        best[side][len] = std::min(best[side][len], run.seconds);
        SideFigures &fig = side == 0 ? result.element : result.predict;
        (len ? fig.long_runs_s : fig.short_runs_s).push_back(run.seconds);
        if (len) {
          fig.peak_rss_mb = std::max(fig.peak_rss_mb, run.peak_rss_mb);
          fig.command = join(argv);
        }
      }
    }
  }
  result.element.seconds_per_frame = (best[0][1] - best[0][0]) / n;
  if (o.streams <= 1) result.predict.seconds_per_frame = (best[1][1] - best[1][0]) / n;
  return result;
}

}  // namespace tools
