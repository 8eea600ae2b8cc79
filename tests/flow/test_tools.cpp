// flow-extract and flow-eval as processes: outputs, exit codes and messages
// (DESIGN.md "Fixed interfaces": 0 ok, 1 error "<tool>: <path>: <problem>", 2 usage).
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "salflow/flo_io.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;

namespace {

struct ToolRun {
  int code = -1;
  std::string out, err;
};

std::string slurp(const std::string &path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string quote(const std::string &s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string tool(const std::string &name) {
  return testsupport::build_root() + "/flow/tools/" + name;
}

ToolRun run_tool(const std::string &tool_name, const std::vector<std::string> &args) {
  testsupport::TempDir logs;
  std::string cmd = quote(tool(tool_name));
  for (const auto &a : args) cmd += " " + quote(a);
  cmd += " >" + quote(logs / "out") + " 2>" + quote(logs / "err") + " </dev/null";
  const int status = std::system(cmd.c_str());
  ToolRun r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(logs / "out");
  r.err = slurp(logs / "err");
  return r;
}

int line_count(const std::string &s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

// Three 64x48 frames of a smooth texture moving 2 px right and 1 px down per frame.
void write_moving_frames(const std::string &dir, const std::vector<std::string> &names) {
  fs::create_directories(dir);
  cv::Mat noise(48 + 20, 64 + 20, CV_8UC3);
  cv::RNG rng(21);
  rng.fill(noise, cv::RNG::UNIFORM, 0, 256);
  cv::GaussianBlur(noise, noise, cv::Size(0, 0), 2.0);
  cv::normalize(noise, noise, 0, 255, cv::NORM_MINMAX);
  for (size_t i = 0; i < names.size(); ++i) {
    // The view moves left/up over the texture, so content moves right/down.
    const cv::Rect view(10 - 2 * static_cast<int>(i), 10 - static_cast<int>(i), 64, 48);
    ASSERT_TRUE(cv::imwrite(dir + "/" + names[i], noise(view)));
  }
}

std::vector<std::string> listing(const std::string &dir) {
  std::vector<std::string> names;
  for (const auto &e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

class FlowTools : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char *t : {"flow-extract", "flow-eval"})
      if (!fs::exists(tool(t)))
        GTEST_FAIL() << tool(t) << " is not built (set GST_SALIENCY_BUILD_ROOT to the build dir)";
  }
  testsupport::TempDir tmp_;
};

}  // namespace

TEST_F(FlowTools, ExtractWritesOneFloPerFrameButTheLastNamedAfterTheFirstFrame) {
  write_moving_frames(tmp_ / "frames", {"f010.png", "f011.png", "f012.png"});
  const ToolRun r = run_tool("flow-extract", {"--input", tmp_ / "frames", "--output", tmp_ / "flows",
                                     "--visualize"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(listing(tmp_ / "flows"), (std::vector<std::string>{"f010.flo", "f011.flo", "vis"}));
  EXPECT_EQ(listing(tmp_ / "flows/vis"), (std::vector<std::string>{"f010.png", "f011.png"}));
  for (const char *name : {"f010.flo", "f011.flo"}) {
    const cv::Mat f = flow::read_flo(tmp_ / ("flows/" + std::string(name)));
    ASSERT_EQ(f.size(), cv::Size(64, 48));
    const cv::Scalar mean = cv::mean(f(cv::Rect(12, 12, 40, 24)));
    EXPECT_NEAR(mean[0], 2.0, 0.3) << name;
    EXPECT_NEAR(mean[1], 1.0, 0.3) << name;
  }
  // Nothing else beside the output (no leftover staging folder).
  EXPECT_EQ(listing(tmp_.path()), (std::vector<std::string>{"flows", "frames"}));
}

TEST_F(FlowTools, ExtractAcceptsAGlobAndEveryAlgorithm) {
  write_moving_frames(tmp_ / "frames", {"a.png", "b.png"});
  for (const char *algorithm : {"dis", "farneback", "tvl1"}) {
    const std::string out = tmp_ / (std::string("out-") + algorithm);
    const ToolRun r = run_tool("flow-extract", {"--input", tmp_ / "frames/*.png", "--output", out,
                                       "--algorithm", algorithm, "--preset", "ultrafast",
                                       "--quiet"});
    ASSERT_EQ(r.code, 0) << algorithm << ": " << r.err;
    EXPECT_EQ(r.err, "");
    EXPECT_EQ(listing(out), std::vector<std::string>{"a.flo"});
  }
}

TEST_F(FlowTools, ExtractFromAVideoNamesFlowsFromOne) {
  REQUIRE_SHARED_DATA(shared);
  // 1 s of VP9: 0001.flo is the flow from frame 0001 to 0002.
  const ToolRun r = run_tool("flow-extract", {"--input", shared + "/data/video/bbb_480p_vp9_opus_1second.webm",
                                     "--output", tmp_ / "flows", "--preset", "ultrafast"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto names = listing(tmp_ / "flows");
  ASSERT_GE(names.size(), 2u);
  EXPECT_EQ(names.front(), "0001.flo");
  EXPECT_EQ(flow::read_flo(tmp_ / "flows/0001.flo").size(), cv::Size(854, 480));
}

TEST_F(FlowTools, ExtractUsageErrorsExitTwo) {
  EXPECT_EQ(run_tool("flow-extract", {}).code, 2);
  EXPECT_EQ(run_tool("flow-extract", {"--input", "x"}).code, 2);
  const ToolRun bad_algo = run_tool("flow-extract", {"--input", "x", "--output", "y", "--algorithm", "raft"});
  EXPECT_EQ(bad_algo.code, 2);
  EXPECT_NE(bad_algo.err.find("raft"), std::string::npos) << bad_algo.err;
  EXPECT_EQ(run_tool("flow-extract", {"--input", "x", "--output", "y", "--bogus"}).code, 2);
  const ToolRun help = run_tool("flow-extract", {"--help"});
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(help.out.find("--algorithm"), std::string::npos);
  EXPECT_NE(help.out.find("NNNN.flo"), std::string::npos);
}

TEST_F(FlowTools, ExtractInputErrorsNameThePathAndLeaveNoOutput) {
  const std::string missing = tmp_ / "missing.mp4";
  ToolRun r = run_tool("flow-extract", {"--input", missing, "--output", tmp_ / "out"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err.rfind("flow-extract: " + missing + ": ", 0), 0u) << r.err;
  EXPECT_EQ(line_count(r.err), 1) << r.err;

  write_moving_frames(tmp_ / "one", {"only.png"});  // a single frame has no pair
  r = run_tool("flow-extract", {"--input", tmp_ / "one", "--output", tmp_ / "out"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err.rfind("flow-extract: " + (tmp_ / "one") + ": ", 0), 0u) << r.err;

  write_moving_frames(tmp_ / "broken", {"0001.png", "0002.png", "0003.png"});
  { std::ofstream(tmp_ / "broken/0003.png", std::ios::trunc) << "not a png"; }
  r = run_tool("flow-extract", {"--input", tmp_ / "broken", "--output", tmp_ / "out"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("0003.png"), std::string::npos) << r.err;
  // Two good frames were processed before the failure: nothing may remain.
  EXPECT_EQ(listing(tmp_.path()), (std::vector<std::string>{"broken", "one"}));
}

// DESIGN.md: an output folder holds exactly one run's outputs. A second run
// into a non-empty folder is refused before any work; --overwrite replaces the
// folder as a whole, and a failed --overwrite run leaves the old one alone.
TEST_F(FlowTools, ExtractRefusesANonEmptyOutputAndOverwriteReplacesIt) {
  write_moving_frames(tmp_ / "four", {"f010.png", "f011.png", "f012.png", "f013.png"});
  write_moving_frames(tmp_ / "two", {"f010.png", "f011.png"});
  const std::string out = tmp_ / "flows";
  ToolRun r = run_tool("flow-extract",
                       {"--input", tmp_ / "four", "--output", out, "--visualize", "--quiet"});
  ASSERT_EQ(r.code, 0) << r.err;
  const std::vector<std::string> first{"f010.flo", "f011.flo", "f012.flo", "vis"};
  ASSERT_EQ(listing(out), first);
  const auto first_time = fs::last_write_time(out + "/f010.flo");
  const std::string first_bytes = slurp(out + "/f010.flo");

  r = run_tool("flow-extract", {"--input", tmp_ / "two", "--output", out});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err,
            "flow-extract: " + out + ": not empty (4 entries); pass --overwrite to replace it\n");
  EXPECT_EQ(listing(out), first);
  EXPECT_EQ(fs::last_write_time(out + "/f010.flo"), first_time);
  EXPECT_EQ(slurp(out + "/f010.flo"), first_bytes);

  // Refused before any input is read: a missing input is not even noticed.
  r = run_tool("flow-extract", {"--input", tmp_ / "missing.mp4", "--output", out});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("not empty"), std::string::npos) << r.err;

  // --overwrite with an input that fails part-way: the old folder stays whole.
  write_moving_frames(tmp_ / "broken", {"f010.png", "f011.png", "f012.png"});
  { std::ofstream(tmp_ / "broken/f012.png", std::ios::trunc) << "not a png"; }
  r = run_tool("flow-extract", {"--input", tmp_ / "broken", "--output", out, "--overwrite"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("f012.png"), std::string::npos) << r.err;
  EXPECT_EQ(listing(out), first);
  EXPECT_EQ(slurp(out + "/f010.flo"), first_bytes);
  EXPECT_EQ(listing(tmp_.path()), (std::vector<std::string>{"broken", "flows", "four", "two"}));

  // --overwrite: exactly the new run's one flow, no stale f011/f012.flo or vis/.
  r = run_tool("flow-extract",
               {"--input", tmp_ / "two", "--output", out, "--overwrite", "--quiet"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(listing(out), std::vector<std::string>{"f010.flo"});
  EXPECT_EQ(flow::read_flo(out + "/f010.flo").size(), cv::Size(64, 48));
  // No .partial- or .old- folder beside it.
  EXPECT_EQ(listing(tmp_.path()), (std::vector<std::string>{"broken", "flows", "four", "two"}));

  // An existing empty folder is written without --overwrite.
  fs::create_directory(tmp_ / "empty");
  r = run_tool("flow-extract", {"--input", tmp_ / "two", "--output", tmp_ / "empty", "--quiet"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(listing(tmp_ / "empty"), std::vector<std::string>{"f010.flo"});

  const ToolRun help = run_tool("flow-extract", {"--help"});
  EXPECT_NE(help.out.find("--overwrite"), std::string::npos) << help.out;
}

TEST_F(FlowTools, EvalPrintsTheMeanEndPointError) {
  const std::string gt_dir = tmp_ / "gt", pred_dir = tmp_ / "pred";
  fs::create_directories(gt_dir);
  fs::create_directories(pred_dir);
  const cv::Mat gt(6, 8, CV_32FC2, cv::Scalar(1.f, 2.f));
  flow::write_flo(gt_dir + "/a.flo", gt);
  flow::write_flo(gt_dir + "/b.flo", gt);
  flow::write_flo(pred_dir + "/a.flo", gt + cv::Scalar(3.f, 4.f));  // EPE 5
  flow::write_flo(pred_dir + "/b.flo", gt + cv::Scalar(0.f, 1.f));  // EPE 1
  flow::write_flo(pred_dir + "/extra.flo", gt);                     // no ground truth: ignored

  ToolRun r = run_tool("flow-eval", {"--pred", pred_dir + "/a.flo", "--gt", gt_dir + "/a.flo"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "epe: 5.0000\n");
  r = run_tool("flow-eval", {"--pred", pred_dir, "--gt", gt_dir});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "epe: 3.0000\n");
  EXPECT_NE(r.err.find("a.flo: 5.0000"), std::string::npos) << r.err;
}

TEST_F(FlowTools, EvalErrorsNameTheFile) {
  const std::string gt_dir = tmp_ / "gt", pred_dir = tmp_ / "pred";
  fs::create_directories(gt_dir);
  fs::create_directories(pred_dir);
  flow::write_flo(gt_dir + "/a.flo", cv::Mat(6, 8, CV_32FC2, cv::Scalar(0, 0)));
  flow::write_flo(gt_dir + "/b.flo", cv::Mat(6, 8, CV_32FC2, cv::Scalar(0, 0)));
  flow::write_flo(pred_dir + "/a.flo", cv::Mat(6, 8, CV_32FC2, cv::Scalar(0, 0)));

  ToolRun r = run_tool("flow-eval", {"--pred", pred_dir, "--gt", gt_dir});  // b.flo has no prediction
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("b.flo"), std::string::npos) << r.err;

  { std::ofstream(pred_dir + "/b.flo") << "garbage!garbage!"; }
  r = run_tool("flow-eval", {"--pred", pred_dir, "--gt", gt_dir, "--quiet"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err.rfind("flow-eval: " + pred_dir + "/b.flo: ", 0), 0u) << r.err;
  EXPECT_EQ(line_count(r.err), 1) << r.err;
  EXPECT_EQ(r.out, "");

  flow::write_flo(pred_dir + "/b.flo", cv::Mat(3, 8, CV_32FC2, cv::Scalar(0, 0)));
  r = run_tool("flow-eval", {"--pred", pred_dir + "/b.flo", "--gt", gt_dir + "/b.flo"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("differs"), std::string::npos) << r.err;

  r = run_tool("flow-eval", {"--pred", tmp_ / "nope.flo", "--gt", gt_dir + "/a.flo"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err.rfind("flow-eval: " + (tmp_ / "nope.flo") + ": ", 0), 0u) << r.err;

  EXPECT_EQ(run_tool("flow-eval", {"--pred", pred_dir, "--gt", gt_dir + "/a.flo"}).code, 2);
  EXPECT_EQ(run_tool("flow-eval", {"--pred", pred_dir}).code, 2);
}

// End to end on real data: flow-extract's default on a Sintel pair, scored
// by flow-eval, equals the library's EPE (and beats DIS MEDIUM's 0.34 px).
TEST_F(FlowTools, ExtractThenEvalOnSintel) {
  REQUIRE_SHARED_DATA(shared);
  const std::string easy = shared + "/data/flow/sintel/clean/easy";
  ToolRun r = run_tool("flow-extract", {"--input", easy + "/frame_*.png", "--output", tmp_ / "pred"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(listing(tmp_ / "pred"), std::vector<std::string>{"frame_0002.flo"});
  r = run_tool("flow-eval", {"--pred", tmp_ / "pred", "--gt", easy + "/gt"});
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_EQ(r.out.rfind("epe: ", 0), 0u) << r.out;
  const double epe = std::stod(r.out.substr(5));
  EXPECT_LE(epe, 0.34 + 0.01);
  EXPECT_NEAR(epe, flow::endpoint_error(flow::read_flo(tmp_ / "pred/frame_0002.flo"),
                                        flow::read_flo(easy + "/gt/frame_0002.flo")),
              1e-4);
}
