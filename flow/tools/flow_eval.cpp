// flow-eval: mean end-point error of predicted flow against ground truth
// (DESIGN.md "Fixed interfaces"). Prints "epe: <value>" on stdout.
#include <cstdio>
#include <exception>
#include <filesystem>
#include <map>
#include <string>
#include <system_error>
#include <vector>

#include "saltools/cli.hpp"
#include "salflow/flo_io.hpp"

namespace fs = std::filesystem;

namespace {

constexpr const char *kProgram = "flow-eval";

constexpr const char *kUsage =
    "Usage: flow-eval --pred DIR|FILE --gt DIR|FILE [--quiet]\n"
    "\n"
    "Mean end-point error (EPE, in pixels) of predicted optical flow against ground\n"
    "truth, both Middlebury .flo files. Ground-truth values >= 1e9 (Middlebury's\n"
    "'unknown') are not counted.\n"
    "\n"
    "  --pred FILE --gt FILE   EPE of one pair of files\n"
    "  --pred DIR  --gt DIR    every *.flo in the ground-truth directory is matched by\n"
    "                          name with the prediction directory; prints one\n"
    "                          '<name>: <epe>' line per file on stderr and the mean of\n"
    "                          the per-file EPEs on stdout. Missing predictions are an\n"
    "                          error.\n"
    "  --quiet                 no per-file lines\n"
    "  -h, --help              show this help\n"
    "\n"
    "Output: 'epe: <value>' on stdout.\n"
    "Exit status: 0 on success, 1 on an input error, 2 on a usage error.\n";

double file_epe(const std::string &pred_path, const std::string &gt_path) {
  const cv::Mat pred = flow::read_flo(pred_path);
  const cv::Mat gt = flow::read_flo(gt_path);
  if (pred.size() != gt.size())
    throw std::runtime_error(pred_path + ": size " + std::to_string(pred.cols) + "x" +
                             std::to_string(pred.rows) + " differs from the ground truth " +
                             gt_path + " (" + std::to_string(gt.cols) + "x" +
                             std::to_string(gt.rows) + ")");
  try {
    return flow::endpoint_error(pred, gt);
  } catch (const std::invalid_argument &e) {  // e.g. every ground-truth value unknown
    throw std::runtime_error(gt_path + ": " + e.what());
  }
}

/// *.flo regular files of a directory, by file name (sorted).
std::map<std::string, std::string> list_flo(const std::string &dir) {
  std::map<std::string, std::string> files;
  std::error_code ec;
  for (const auto &e : fs::directory_iterator(dir, ec))
    if (e.path().extension() == ".flo" && e.is_regular_file())
      files[e.path().filename().string()] = e.path().string();
  if (ec) throw std::runtime_error(dir + ": cannot list directory: " + ec.message());
  return files;
}

}  // namespace

int main(int argc, char **argv) {
  std::string pred, gt;
  bool quiet = false;
  tools::cli::Args args(argc, argv, kProgram, kUsage);
  args.option("--pred", &pred);
  args.option("--gt", &gt);
  args.flag("--quiet", &quiet);
  args.parse();
  args.require("--pred", pred);
  args.require("--gt", gt);

  std::error_code ec;
  for (const std::string &p : {pred, gt})
    if (!fs::exists(p, ec)) tools::cli::fail(kProgram, p + ": no such file or directory");
  const bool pred_dir = fs::is_directory(pred, ec);
  const bool gt_dir = fs::is_directory(gt, ec);
  if (pred_dir != gt_dir)
    args.usage_error("--pred and --gt must both be files or both be directories");

  try {
    double epe = 0.0;
    if (!gt_dir) {
      epe = file_epe(pred, gt);
    } else {
      const auto gt_files = list_flo(gt);
      if (gt_files.empty()) throw std::runtime_error(gt + ": no .flo files in this directory");
      const auto pred_files = list_flo(pred);
      std::vector<std::string> missing;
      for (const auto &[name, path] : gt_files)
        if (!pred_files.count(name)) missing.push_back(name);
      if (!missing.empty())
        throw std::runtime_error(pred + ": no prediction for " + std::to_string(missing.size()) +
                                 " of " + std::to_string(gt_files.size()) +
                                 " ground-truth files (first: " + missing.front() + ")");
      double sum = 0.0;
      for (const auto &[name, gt_path] : gt_files) {
        const double e = file_epe(pred_files.at(name), gt_path);
        if (!quiet) std::fprintf(stderr, "%s: %.4f\n", name.c_str(), e);
        sum += e;
      }
      epe = sum / static_cast<double>(gt_files.size());
    }
    std::printf("epe: %.4f\n", epe);
  } catch (const std::exception &e) {  // FlowFileError and ours name the file
    tools::cli::fail(kProgram, e.what());
  }
  return 0;
}
