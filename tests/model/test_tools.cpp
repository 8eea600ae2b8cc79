// End-to-end runs of the command-line tools, including bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "salmaps/reframe.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;

namespace {

struct Result {
  int code;
  std::string output;  // stdout + stderr
};

Result run(const std::string &cmd) {
  Result r{-1, {}};
  FILE *p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string tool(const std::string &name) { return testsupport::build_root() + "/model/tools/" + name; }
std::string flow_tool(const std::string &name) { return testsupport::build_root() + "/flow/tools/" + name; }

int count_lines(const std::string &s) { return int(std::count(s.begin(), s.end(), '\n')); }

// Nothing named like the output directory, and no staging leftovers, exists.
void expect_no_output(const std::string &dir) {
  EXPECT_FALSE(fs::exists(dir)) << dir;
  for (const auto &e : fs::directory_iterator(fs::path(dir).parent_path()))
    EXPECT_EQ(e.path().filename().string().find(".partial"), std::string::npos) << e.path();
}

}  // namespace

TEST(SaliencyPredict, BaselineOnTheSharedFramesWritesOneMapPerFrame) {
  REQUIRE_SHARED_DATA(shared);
  testsupport::TempDir tmp;
  const std::string out = tmp / "maps";
  const auto r = run(tool("saliency-predict") + " --model baseline --input " + shared +
                     "/data/video/tased-ex1 --output " + out + " --overlay " + (tmp / "overlay.avi"));
  ASSERT_EQ(r.code, 0) << r.output;
  int n = 0;
  for (const auto &e : fs::directory_iterator(out)) {
    (void)e;
    ++n;
  }
  EXPECT_EQ(n, 100);
  for (const char *name : {"0001.png", "0050.png", "0100.png"}) {
    cv::Mat m = cv::imread(out + "/" + name, cv::IMREAD_UNCHANGED);
    ASSERT_FALSE(m.empty()) << name;
    EXPECT_EQ(m.type(), CV_8UC1);
    EXPECT_EQ(m.cols, 384);
    EXPECT_EQ(m.rows, 224);
    double lo, hi;
    cv::minMaxLoc(m, &lo, &hi);
    EXPECT_EQ(lo, 0.0);  // min-max normalised
    EXPECT_EQ(hi, 255.0);
  }
  EXPECT_GT(fs::file_size(tmp / "overlay.avi"), 10000u);
}

TEST(SaliencyPredict, NpyOutputOnAGeneratedVideo) {
  testsupport::TempDir tmp;
  const std::string clip = tmp / "clip.avi";
  ASSERT_EQ(run(flow_tool("saliency-make-clip") + " --frames 12 --output " + clip).code, 0);
  const auto r = run(tool("saliency-predict") + " --model baseline --format npy --quiet --input " + clip +
                     " --output " + (tmp / "maps"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(r.output.empty()) << "--quiet prints nothing: " << r.output;
  for (int i = 1; i <= 12; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "/maps/%04d.npy", i);
    ASSERT_TRUE(fs::exists(tmp.path() + name)) << name;
    EXPECT_EQ(fs::file_size(tmp.path() + name), 128u + 384u * 224u * 4u);  // .npy header + float32 map
  }
}

TEST(SaliencyPredict, BadInputGivesOneLineAndNoOutput) {
  testsupport::TempDir tmp;
  const std::string out = tmp / "maps";
  std::ofstream(tmp / "broken.mp4") << "this is not a video";
  fs::create_directory(tmp / "empty");
  std::ofstream(tmp / "weights.pth") << "junk";
  const std::string clip = tmp / "clip.avi";
  ASSERT_EQ(run(flow_tool("saliency-make-clip") + " --frames 3 --output " + clip).code, 0);
  struct Case {
    std::string args, expect;
    int code;
  };
  const std::vector<Case> cases = {
      {"--model baseline --input " + (tmp / "missing.mp4"), "missing.mp4", 1},
      {"--model baseline --input " + (tmp / "broken.mp4"), "broken.mp4", 1},
      {"--model baseline --input " + (tmp / "empty"), "empty", 1},
      {"--model resnet --input " + (tmp / "empty"), "unknown model", 1},
      {"--model stsanet --input " + clip, "weights", 1},
      {"--model stsanet --weights " + (tmp / "weights.pth") + " --input " + clip, "weights.pth", 1},
      {"--model baseline --device cuda:7 --input " + clip, "cuda:7", 1},
      {"--model baseline --format jpg --input " + (tmp / "empty"), "--format", 2},
      {"--model baseline", "--input", 2},
  };
  for (const auto &c : cases) {
    const auto r = run(tool("saliency-predict") + " " + c.args + " --output " + out);
    EXPECT_EQ(r.code, c.code) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.expect), std::string::npos) << c.args << "\n" << r.output;
    if (c.code == 1) {
      EXPECT_EQ(count_lines(r.output), 1) << r.output;
    }
    expect_no_output(out);
  }
}

TEST(SaliencyPredict, HelpDescribesTheInterface) {
  const auto r = run(tool("saliency-predict") + " --help");
  EXPECT_EQ(r.code, 0);
  for (const char *flag : {"--model", "--weights", "--input", "--output", "--device", "--format", "--overlay",
                           "--flow", "--random-init", "--input-list", "--shard K/N"})
    EXPECT_NE(r.output.find(flag), std::string::npos) << flag;
}

TEST(SaliencyBench, ReportsTheDocumentedFigures) {
  const auto r = run(tool("saliency-bench") + " --model baseline --frames 20");
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char *key : {"parameters: ", "buffers: ", "seconds_per_frame: ", "peak_rss_mb: "})
    EXPECT_NE(r.output.find(key), std::string::npos) << key << "\n" << r.output;
}

// The quality studies moved out of saliency-bench: the new tool explains itself,
// wants exactly one of --input / --maps, refuses a clip too short for interval 8
// by name, and saliency-bench points the old flags to it.
TEST(SaliencyIntervalEval, HelpUsageErrorsAndTheOldFlags) {
  const auto help = run(tool("saliency-interval-eval") + " --help");
  EXPECT_EQ(help.code, 0);
  for (const char *text : {"--input", "--maps", "--model", "interval_N_MODE_cc", "blend_N_cc"})
    EXPECT_NE(help.output.find(text), std::string::npos) << text << "\n" << help.output;
  testsupport::TempDir tmp;
  const std::string clip = tmp / "short.avi";
  ASSERT_EQ(run(flow_tool("saliency-make-clip") + " --frames 6 --output " + clip).code, 0);
  for (const std::string &args : {std::string(), "--input " + clip + " --maps " + tmp.path()}) {
    const auto r = run(tool("saliency-interval-eval") + " " + args);
    EXPECT_EQ(r.code, 2) << args << "\n" << r.output;
    EXPECT_NE(r.output.find("--input PATH (a clip) or --maps PATH"), std::string::npos) << r.output;
  }
  const auto interval = run(tool("saliency-interval-eval") + " --input " + clip + " --interval 4");
  EXPECT_EQ(interval.code, 2) << interval.output;
  const auto short_clip = run(tool("saliency-interval-eval") + " --input " + clip);
  EXPECT_EQ(short_clip.code, 1) << short_clip.output;
  EXPECT_EQ(count_lines(short_clip.output), 1) << short_clip.output;
  EXPECT_NE(short_clip.output.find("short.avi: needs at least 9 frames"), std::string::npos) << short_clip.output;
  for (const std::string old : {"--interval-quality", "--interval-blend-maps"}) {
    const auto r = run(tool("saliency-bench") + " " + old + " " + clip);
    EXPECT_EQ(r.code, 2) << old << "\n" << r.output;
    EXPECT_NE(r.output.find("is now saliency-interval-eval"), std::string::npos) << r.output;
  }
}

// Interval quality pools every placement of the key frames: one CC per key
// offset (N of them for interval N), the pooled CC between their extremes.
TEST(SaliencyIntervalEval, IntervalQualityPoolsEveryKeyPlacement) {
  testsupport::TempDir tmp;
  const std::string clip = tmp / "clip.avi";
  ASSERT_EQ(run(flow_tool("saliency-make-clip") + " --frames 30 --output " + clip).code, 0);
  const auto r = run(tool("saliency-interval-eval") + " --input " + clip + " --threads 1");
  ASSERT_EQ(r.code, 0) << r.output;
  auto values = [&](const std::string &key) {
    std::vector<double> out;
    const auto at = r.output.find(key + ": ");
    if (at == std::string::npos) return out;
    std::istringstream line(r.output.substr(at + key.size() + 2, r.output.find('\n', at) - at - key.size() - 2));
    for (double v; line >> v;) out.push_back(v);
    return out;
  };
  for (const char *mode : {"forward", "bidirectional"})
    for (int n : {2, 4, 8}) {
      const std::string name = "interval_" + std::to_string(n) + "_" + mode;
      const auto pooled = values(name + "_cc");
      const auto by_offset = values(name + "_cc_by_key_offset");
      ASSERT_EQ(pooled.size(), 1u) << name << "\n" << r.output;
      ASSERT_EQ(by_offset.size(), size_t(n)) << name << "\n" << r.output;
      for (double c : by_offset) {
        EXPECT_GT(c, -1.0) << name;
        EXPECT_LE(c, 1.0) << name;
      }
      EXPECT_GE(pooled[0], *std::min_element(by_offset.begin(), by_offset.end()) - 1e-3) << name;
      EXPECT_LE(pooled[0], *std::max_element(by_offset.begin(), by_offset.end()) + 1e-3) << name;
      EXPECT_EQ(values(name + "_cc_by_distance").size(), size_t(n - 1)) << name;
    }
}

// Blending key maps: on a moving square the blend of the key maps either
// side beats keeping the last key map, and a map of another size is refused
// by name.
TEST(SaliencyIntervalEval, BlendMapsBlendsKeyMapsAndRefusesMixedSizes) {
  testsupport::TempDir tmp;
  // Maps 0..8: a bright square 12 wide moving right 6 per map.
  for (int i = 0; i < 9; ++i) {
    cv::Mat m(40, 80, CV_8U, cv::Scalar(0));
    cv::rectangle(m, cv::Rect(5 + 6 * i, 10, 12, 12), cv::Scalar(255), cv::FILLED);
    cv::imwrite(tmp / ("m" + std::to_string(i) + ".png"), m);
  }
  auto r = run(tool("saliency-interval-eval") + " --maps " + tmp.path());
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char *key : {"maps: 9", "maps_lag_1_cc: 0.", "blend_2_cc: ", "hold_2_cc: ", "blend_8_cc_by_key_offset: "})
    EXPECT_NE(r.output.find(key), std::string::npos) << key << "\n" << r.output;
  auto value = [&](const std::string &key) {
    const auto at = r.output.find(key + ": ");
    return at == std::string::npos ? -2.0 : std::stod(r.output.substr(at + key.size() + 2));
  };
  // The blend of maps k and k+2 covers map k+1's square with half of each,
  // the held map k covers half of it and misses the other half.
  EXPECT_GT(value("blend_2_cc"), value("hold_2_cc"));
  EXPECT_LT(value("blend_2_cc"), 1.0);
  EXPECT_GT(value("maps_lag_1_cc"), value("maps_lag_2_cc"));
  cv::imwrite(tmp / "m9.png", cv::Mat(41, 80, CV_8U, cv::Scalar(7)));
  r = run(tool("saliency-interval-eval") + " --maps " + tmp.path());
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("m9.png: frame size 80x41 differs"), std::string::npos) << r.output;
}

// The GPU bench on a CPU build: help, and GPU-only flags refused with the reason.
TEST(StsanetNetBench, HelpAndGpuOnlyFlagsOnTheCpu) {
  const auto help = run(tool("stsanet-net-bench") + " --help");
  EXPECT_EQ(help.code, 0);
  for (const char *flag : {"--device", "--precision", "--cuda-graphs", "--compare-cpu", "--batch"})
    EXPECT_NE(help.output.find(flag), std::string::npos) << flag;
  const auto half = run(tool("stsanet-net-bench") + " --precision half");
  EXPECT_EQ(half.code, 1);
  EXPECT_NE(half.output.find("--precision half needs --device cuda"), std::string::npos) << half.output;
  const auto bad = run(tool("stsanet-net-bench") + " --frames 0");
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.output.find("--frames 0"), std::string::npos) << bad.output;
}

TEST(SaliencyPredict, UsesPrecomputedFlowsAndNamesAMissingOne) {
  testsupport::TempDir tmp;
  const std::string clip = tmp / "clip.avi";
  ASSERT_EQ(run(flow_tool("saliency-make-clip") + " --frames 5 --output " + clip).code, 0);
  const auto fx = run(flow_tool("flow-extract") + " --input " + clip + " --output " + (tmp / "flows"));
  ASSERT_EQ(fx.code, 0) << fx.output;
  const std::string predict = tool("saliency-predict") + " --model baseline --quiet --input " + clip + " --flow " +
                              (tmp / "flows");
  auto r = run(predict + " --output " + (tmp / "maps"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(fs::exists(tmp / "maps/0005.png"));
  // Precomputed flows give the same maps as flow computed inside only if the
  // flows are the same; what matters here is that they are read: remove one.
  fs::remove(tmp / "flows/0003.flo");
  r = run(predict + " --output " + (tmp / "maps2"));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("0003.flo"), std::string::npos) << r.output;
  expect_no_output(tmp / "maps2");
}

namespace {

using testsupport::listing;

std::string slurp(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

// DESIGN.md: an output folder holds exactly one run's outputs (issue 16: a
// 24-frame run after a 96-frame one left 96 maps). A second run into a
// non-empty folder is refused before the model is loaded; --overwrite
// replaces the folder as a whole, and a failed --overwrite run keeps the old one.
TEST(SaliencyPredict, RefusesANonEmptyOutputAndOverwriteReplacesIt) {
  testsupport::TempDir tmp;
  const std::string six = tmp / "six.avi", three = tmp / "three.avi", out = tmp / "maps";
  ASSERT_EQ(run(flow_tool("saliency-make-clip") + " --frames 6 --output " + six).code, 0);
  ASSERT_EQ(run(flow_tool("saliency-make-clip") + " --frames 3 --output " + three).code, 0);
  const std::string predict = tool("saliency-predict") + " --model baseline --quiet --threads 1";
  auto r = run(predict + " --input " + six + " --output " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  const std::vector<std::string> first{"0001.png", "0002.png", "0003.png",
                                       "0004.png", "0005.png", "0006.png"};
  ASSERT_EQ(listing(out), first);
  const auto first_time = fs::last_write_time(out + "/0001.png");
  const std::string first_bytes = slurp(out + "/0001.png");
  const std::vector<std::string> files{"maps", "six.avi", "three.avi"};

  // Refused, one line naming the folder, nothing changed. Without --quiet the
  // model's description line is not printed either: the refusal comes first.
  r = run(tool("saliency-predict") + " --model baseline --input " + three + " --output " + out);
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.output, "saliency-predict: " + out +
                          ": not empty (6 entries); pass --overwrite to replace it\n");
  EXPECT_EQ(listing(out), first);
  EXPECT_EQ(fs::last_write_time(out + "/0001.png"), first_time);
  EXPECT_EQ(slurp(out + "/0001.png"), first_bytes);
  EXPECT_EQ(listing(tmp.path()), files);

  // --overwrite, but the run fails: the earlier maps stay, nothing is left beside them.
  r = run(predict + " --input " + (tmp / "missing.mp4") + " --output " + out + " --overwrite");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("missing.mp4"), std::string::npos) << r.output;
  EXPECT_EQ(listing(out), first);
  EXPECT_EQ(slurp(out + "/0001.png"), first_bytes);
  EXPECT_EQ(listing(tmp.path()), files);

  // --overwrite: exactly the three maps of this run, no stale 0004-0006.png.
  r = run(predict + " --input " + three + " --output " + out + " --overwrite");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(listing(out), (std::vector<std::string>{"0001.png", "0002.png", "0003.png"}));
  EXPECT_EQ(listing(tmp.path()), files);  // no .maps.partial- or .maps.old- folder

  // A file in the way is refused even with --overwrite.
  std::ofstream(tmp / "file") << "x";
  r = run(predict + " --input " + three + " --output " + (tmp / "file") + " --overwrite");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.output, "saliency-predict: " + (tmp / "file") + ": exists and is not a directory\n");
  EXPECT_EQ(slurp(tmp / "file"), "x");

  EXPECT_NE(run(tool("saliency-predict") + " --help").output.find("--overwrite"),
            std::string::npos);
}

// --input-list and --shard (issue 17): N processes with --shard K/N share one
// list and one output folder; each input's maps go to DIR/NAME, the same files
// and bytes as a --input run of that input, whatever came before it in the
// process (one predictor is reused across inputs of different sizes).
namespace {

// Three inputs of different sizes: two videos and a frame folder.
struct Corpus {
  std::string a, b, c;  // clips/a.avi, clips/b.avi, frames/c
};

Corpus make_corpus(const testsupport::TempDir &tmp) {
  fs::create_directories(tmp / "clips");
  fs::create_directories(tmp / "frames/c");
  Corpus k{tmp / "clips/a.avi", tmp / "clips/b.avi", tmp / "frames/c"};
  EXPECT_EQ(run(flow_tool("saliency-make-clip") + " --frames 5 --output " + k.a).code, 0);
  EXPECT_EQ(run(flow_tool("saliency-make-clip") + " --frames 4 --width 96 --height 64 --seed 3 --output " + k.b).code,
            0);
  for (int i = 1; i <= 3; ++i) {
    cv::Mat f(60, 80, CV_8UC3, cv::Scalar(40, 60, 80));
    cv::circle(f, cv::Point(20 + 12 * i, 30), 8, cv::Scalar(250, 250, 250), cv::FILLED);
    char name[32];
    std::snprintf(name, sizeof name, "/f%02d.png", i);
    EXPECT_TRUE(cv::imwrite(k.c + name, f));
  }
  return k;
}

// Every file of `got` has the bytes of the same file in `want`.
void expect_same_files(const std::string &got, const std::string &want) {
  ASSERT_TRUE(fs::is_directory(got)) << got;
  ASSERT_EQ(listing(got), listing(want)) << got;
  for (const auto &name : listing(want)) EXPECT_EQ(slurp(got + "/" + name), slurp(want + "/" + name)) << got << "/" << name;
}

}  // namespace

TEST(SaliencyPredict, InputListShardsCoverTheListOnceWithTheSingleInputMaps) {
  testsupport::TempDir tmp;
  const Corpus k = make_corpus(tmp);
  // Paths relative to the list's folder; comments, blank lines and a folder with a trailing slash.
  fs::create_directories(tmp / "lists");
  std::ofstream(tmp / "lists/corpus.txt") << "# three inputs\n../clips/a.avi\n\n  \n../clips/b.avi\r\n# c is a folder\n../frames/c/\n";
  const std::string predict = tool("saliency-predict") + " --model baseline --threads 1";
  const std::string out = tmp / "out";
  const auto r0 = run(predict + " --input-list " + (tmp / "lists/corpus.txt") + " --shard 0/2 --output " + out);
  ASSERT_EQ(r0.code, 0) << r0.output;
  // Shard 0 of 2: inputs 0 and 2, counted among the listed inputs only.
  EXPECT_EQ(listing(out), (std::vector<std::string>{"a", "c"})) << r0.output;
  EXPECT_NE(r0.output.find("[1/2] " + (tmp / "lists/../clips/a.avi") + " -> " + out + "/a\n"), std::string::npos)
      << r0.output;
  EXPECT_NE(r0.output.find("[2/2] " + (tmp / "lists/../frames/c/") + " -> " + out + "/c\n"), std::string::npos)
      << r0.output;
  const auto r1 = run(predict + " --quiet --input-list " + (tmp / "lists/corpus.txt") + " --shard 1/2 --output " + out);
  ASSERT_EQ(r1.code, 0) << r1.output;
  EXPECT_TRUE(r1.output.empty()) << r1.output;
  EXPECT_EQ(listing(out), (std::vector<std::string>{"a", "b", "c"}));  // each once, no staging left

  for (const auto &[name, input] : {std::pair<std::string, std::string>{"a", k.a}, {"b", k.b}, {"c", k.c}}) {
    const std::string single = tmp / ("single-" + name);
    const auto s = run(predict + " --quiet --input " + input + " --output " + single);
    ASSERT_EQ(s.code, 0) << s.output;
    expect_same_files(out + "/" + name, single);
  }
  EXPECT_EQ(listing(out + "/a").size(), 5u);
  EXPECT_EQ(listing(out + "/b").size(), 4u);
  EXPECT_EQ(listing(out + "/c"), (std::vector<std::string>{"f01.png", "f02.png", "f03.png"}));

  // Without --shard: every input, npy as with --input.
  const auto all = run(predict + " --quiet --format npy --input-list " + (tmp / "lists/corpus.txt") + " --output " +
                       (tmp / "npy"));
  ASSERT_EQ(all.code, 0) << all.output;
  EXPECT_EQ(listing(tmp / "npy"), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(listing(tmp / "npy/c"), (std::vector<std::string>{"f01.npy", "f02.npy", "f03.npy"}));

  // A shard with nothing to do (more shards than inputs) succeeds and writes nothing.
  const auto idle = run(predict + " --input-list " + (tmp / "lists/corpus.txt") + " --shard 5/8 --output " +
                        (tmp / "idle"));
  EXPECT_EQ(idle.code, 0) << idle.output;
  EXPECT_NE(idle.output.find("no inputs for this shard (shard 5/8): the list has 3"), std::string::npos)
      << idle.output;
  EXPECT_FALSE(fs::exists(tmp / "idle"));
}

TEST(SaliencyPredict, InputListAndShardUsageErrorsNameTheValue) {
  testsupport::TempDir tmp;
  const Corpus k = make_corpus(tmp);
  const std::string list = tmp / "list.txt", out = tmp / "out";
  std::ofstream(list) << k.a << "\n" << k.b << "\n" << k.c << "\n";
  const std::string predict = tool("saliency-predict") + " --model baseline --quiet --output " + out;
  struct Case {
    std::string args, message;
  };
  const std::vector<Case> cases = {
      {"--input " + k.a + " --shard 0/2", "saliency-predict: --shard needs --input-list\n"},
      {"--input " + k.a + " --input-list " + list, "saliency-predict: give --input or --input-list, not both\n"},
      {"--input-list " + list + " --overlay " + (tmp / "o.avi"),
       "saliency-predict: --overlay writes one video: it takes a single --input, not --input-list\n"},
      {"--input-list " + list + " --shard 2/2",
       "saliency-predict: --shard '2/2': K must be below N (shards count from 0: 0/2 to 1/2)\n"},
      {"--input-list " + list + " --shard 0/0", "saliency-predict: --shard '0/0': N must be at least 1\n"},
  };
  const std::string malformed = "': expected K/N, two whole numbers with 0 <= K < N (e.g. --shard 0/4)\n";
  std::vector<Case> all = cases;
  for (const std::string v : {"x/2", "1", "-1/2", "1/2/3", "1/", "/2", "1 /2", "0x1/2", "99999999999/2"})
    all.push_back({"--input-list " + list + " --shard '" + v + "'", "saliency-predict: --shard '" + v + malformed});
  for (const auto &c : all) {
    const auto r = run(predict + " " + c.args);
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.output;
    EXPECT_EQ(r.output, c.message + "Try 'saliency-predict --help'.\n") << c.args;
    EXPECT_FALSE(fs::exists(out)) << c.args;
  }

  // Two inputs with one stem (a video and a folder): refused naming both, before any work.
  fs::create_directories(tmp / "more/a");
  fs::copy(k.c + "/f01.png", tmp / "more/a/f01.png");
  std::ofstream(list) << "# corpus\nclips/a.avi\nframes/c\nmore/a\n";
  auto r = run(predict + " --input-list " + list);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_EQ(r.output, "saliency-predict: " + list +
                          ": 'clips/a.avi' (line 2) and 'more/a' (line 4) are both named 'a': their maps would both "
                          "go to " + out + "/a\nTry 'saliency-predict --help'.\n");
  EXPECT_FALSE(fs::exists(out));

  // The list itself: missing, or listing nothing.
  r = run(predict + " --input-list " + (tmp / "nolist.txt"));
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.output, "saliency-predict: " + (tmp / "nolist.txt") + ": no such file\n");
  std::ofstream(tmp / "empty.txt") << "# nothing yet\n\n";
  r = run(predict + " --input-list " + (tmp / "empty.txt"));
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.output, "saliency-predict: " + (tmp / "empty.txt") + ": lists no inputs\n");
  EXPECT_FALSE(fs::exists(out));
}

// A failing input is reported in one line naming it; the others are written
// and the exit status says that something failed.
TEST(SaliencyPredict, InputListGoesOnPastAFailingInput) {
  testsupport::TempDir tmp;
  const Corpus k = make_corpus(tmp);
  const std::string list = tmp / "list.txt", out = tmp / "out";
  std::ofstream(list) << "clips/a.avi\nclips/missing.mp4\nframes/c\n";
  const std::string predict = tool("saliency-predict") + " --model baseline --threads 1 --input-list " + list +
                              " --output " + out;
  auto r = run(predict + " --quiet");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_EQ(r.output, "saliency-predict: " + (tmp / "clips/missing.mp4") +
                          ": no such file or directory\nsaliency-predict: 1 of 3 inputs failed\n");
  EXPECT_EQ(listing(out), (std::vector<std::string>{"a", "c"}));  // no "missing", no staging folder
  EXPECT_EQ(listing(out + "/a").size(), 5u);
  EXPECT_EQ(listing(out + "/c").size(), 3u);

  // Again: the written inputs are refused (not empty) and named; with
  // --overwrite they are replaced and only the missing one fails.
  r = run(predict + " --quiet --shard 0/2");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("saliency-predict: " + (tmp / "clips/a.avi") + ": " + out +
                          "/a: not empty (5 entries); pass --overwrite to replace it\n"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("saliency-predict: 2 of 2 inputs (shard 0/2) failed\n"), std::string::npos) << r.output;
  const std::string before = slurp(out + "/c/f02.png");
  r = run(predict + " --overwrite");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("[2/3] " + (tmp / "clips/missing.mp4") + " -> " + out + "/missing\n"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("saliency-predict: 1 of 3 inputs failed\n"), std::string::npos) << r.output;
  EXPECT_EQ(listing(out), (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(slurp(out + "/c/f02.png"), before);
}

// --flow with --input-list: the flows of the input named NAME are in DIR/NAME/.
TEST(SaliencyPredict, InputListReadsEachInputsFlowsFromItsOwnFolder) {
  testsupport::TempDir tmp;
  const Corpus k = make_corpus(tmp);
  const auto fx = run(flow_tool("flow-extract") + " --input " + k.a + " --output " + (tmp / "flows/a"));
  ASSERT_EQ(fx.code, 0) << fx.output;
  std::ofstream(tmp / "list.txt") << "clips/a.avi\nclips/b.avi\n";
  const std::string predict = tool("saliency-predict") + " --model baseline --quiet --threads 1";
  const auto r = run(predict + " --input-list " + (tmp / "list.txt") + " --flow " + (tmp / "flows") + " --output " +
                     (tmp / "out"));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_EQ(r.output, "saliency-predict: " + (tmp / "clips/b.avi") + ": " + (tmp / "flows/b") +
                          ": not a directory\nsaliency-predict: 1 of 2 inputs failed\n");
  EXPECT_EQ(listing(tmp / "out"), std::vector<std::string>{"a"});
  const auto s = run(predict + " --input " + k.a + " --flow " + (tmp / "flows/a") + " --output " + (tmp / "single"));
  ASSERT_EQ(s.code, 0) << s.output;
  expect_same_files(tmp / "out/a", tmp / "single");
}

// ---------------------------------------------------------------- saliency-reframe
namespace {

struct TrackRow {
  int frame, x, y, width, height;
};

// The rows of a --track CSV; fails the test on a bad header or a malformed row.
std::vector<TrackRow> read_track(const std::string &path) {
  std::ifstream in(path);
  std::string line;
  std::vector<TrackRow> rows;
  if (!std::getline(in, line)) {
    ADD_FAILURE() << path << ": empty or missing";
    return rows;
  }
  EXPECT_EQ(line, "frame,x,y,width,height") << path;
  while (std::getline(in, line)) {
    TrackRow r{};
    char c1, c2, c3, c4;
    std::istringstream s(line);
    if (!(s >> r.frame >> c1 >> r.x >> c2 >> r.y >> c3 >> r.width >> c4 >> r.height) || c1 != ',' || c2 != ',' ||
        c3 != ',' || c4 != ',') {
      ADD_FAILURE() << path << ": malformed row '" << line << "'";
      break;
    }
    rows.push_back(r);
  }
  return rows;
}

// `n` 8-bit maps of w x h (PNG, m001.png ...): a Gaussian blob of sigma 12 px
// at height h/2 whose centre moves from x0 to x1 at a steady speed.
void write_blob_maps(const std::string &dir, int n, int w, int h, double x0, double x1) {
  fs::create_directories(dir);
  for (int i = 0; i < n; ++i) {
    const double cx = x0 + (x1 - x0) * i / std::max(1, n - 1);
    cv::Mat m(h, w, CV_8U);
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        const double d2 = (x - cx) * (x - cx) + (y - h / 2.0) * (y - h / 2.0);
        m.at<std::uint8_t>(y, x) = cv::saturate_cast<std::uint8_t>(255.0 * std::exp(-d2 / (2 * 12.0 * 12.0)));
      }
    char name[32];
    std::snprintf(name, sizeof name, "/m%03d.png", i + 1);
    ASSERT_TRUE(cv::imwrite(dir + name, m));
  }
}

// The value of "key: value" in a --report, or NaN when absent.
double report_value(const std::string &out, const std::string &key) {
  const std::string text = "\n" + out;
  const auto at = text.find("\n" + key + ": ");
  if (at == std::string::npos) return std::nan("");
  return std::stod(text.substr(at + key.size() + 3));
}

// Every window of the track has the fitted size, lies inside the frame, and
// moves at most `max_step` pixels a frame (the frames numbered 1..n).
void expect_valid_track(const std::vector<TrackRow> &rows, int n, int frame_w, int frame_h, const model::CropWindow &fitted,
                        double max_step) {
  ASSERT_EQ(int(rows.size()), n);
  for (int i = 0; i < n; ++i) {
    const TrackRow &r = rows[i];
    EXPECT_EQ(r.frame, i + 1);
    EXPECT_EQ(r.width, fitted.width) << "frame " << r.frame;
    EXPECT_EQ(r.height, fitted.height) << "frame " << r.frame;
    EXPECT_GE(r.x, 0) << "frame " << r.frame;
    EXPECT_GE(r.y, 0) << "frame " << r.frame;
    EXPECT_LE(r.x + r.width, frame_w) << "frame " << r.frame;
    EXPECT_LE(r.y + r.height, frame_h) << "frame " << r.frame;
    if (i > 0) {
      EXPECT_LE(std::abs(r.x - rows[i - 1].x), max_step) << "frame " << r.frame;
      EXPECT_LE(std::abs(r.y - rows[i - 1].y), max_step) << "frame " << r.frame;
    }
  }
}

}  // namespace

// Maps alone (no frames): a blob moving right on a 320x180 canvas, 3.5 px a
// frame, below the default top speed (0.015 x 320 = 4.8 px, so 4 px steps on
// even x): the window has the fitted 9:16 size, stays in the frame, moves
// right overall, never back by more than the rounding to even x, and never
// faster than the limit; offline and streaming (look-ahead 5) alike. At 0.01
// (3.2 px: 2 px steps) it trails the blob but still follows it.
TEST(SaliencyReframe, MapsOnlyTrackFollowsAMovingBlobWithinTheSpeedLimit) {
  testsupport::TempDir tmp;
  const int n = 60;
  write_blob_maps(tmp / "maps", n, 320, 180, 50, 50 + 3.5 * (n - 1));
  const model::CropWindow fitted = model::fitted_crop(320, 180, 9, 16);
  for (const std::string extra : {"", " --look-ahead 5", " --look-ahead 0 --max-speed 0.01"}) {
    SCOPED_TRACE(extra);
    const std::string track = tmp / "track.csv";
    const auto r = run(tool("saliency-reframe") + " --quiet --maps " + (tmp / "maps") + " --aspect 9:16 --track " + track +
                       extra);
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_TRUE(r.output.empty()) << r.output;
    const std::vector<TrackRow> rows = read_track(track);
    const double speed = extra.find("0.01") != std::string::npos ? 0.01 : 0.015;
    expect_valid_track(rows, n, 320, 180, fitted, speed * 320);
    if (rows.size() != size_t(n)) continue;
    EXPECT_GE(rows.back().x - rows.front().x, speed > 0.01 ? 120 : 100) << "the window should follow the blob right";
    for (int i = 1; i < n; ++i) EXPECT_GE(rows[i].x, rows[i - 1].x - 2) << "frame " << i + 1;
    EXPECT_EQ(listing(tmp.path()), (std::vector<std::string>{"maps", "track.csv"}));  // no temporary left
  }
}

// --report on the same blob: every measure printed; the planned path keeps
// more of the blob than the centred window (which the blob leaves) and no more
// than the best window of each frame; one shot; motion within the limit.
TEST(SaliencyReframe, ReportKeepsMoreThanTheCentreOnAMovingBlob) {
  testsupport::TempDir tmp;
  write_blob_maps(tmp / "maps", 60, 320, 180, 50, 50 + 3.5 * 59);
  const auto r = run(tool("saliency-reframe") + " --quiet --maps " + (tmp / "maps") + " --aspect 9:16 --report");
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char *key : {"frames", "shots", "retained_planned", "retained_centre", "retained_best", "top_speed_px",
                          "mean_speed_px", "top_acceleration_px", "planner_ms_per_frame"})
    EXPECT_FALSE(std::isnan(report_value(r.output, key))) << key << "\n" << r.output;
  EXPECT_EQ(count_lines(r.output), 9) << r.output;
  EXPECT_EQ(report_value(r.output, "frames"), 60);
  EXPECT_EQ(report_value(r.output, "shots"), 1);
  const double planned = report_value(r.output, "retained_planned"), centre = report_value(r.output, "retained_centre"),
               best = report_value(r.output, "retained_best");
  EXPECT_GE(planned, centre) << r.output;
  EXPECT_GT(planned, centre + 0.2) << "the blob spends most of the clip outside the centre\n" << r.output;
  EXPECT_LE(planned, best + 1e-4) << r.output;
  EXPECT_GT(planned, 0.5) << r.output;
  EXPECT_LE(report_value(r.output, "top_speed_px"), 0.015 * 320) << r.output;
  EXPECT_GT(report_value(r.output, "mean_speed_px"), 0.0) << r.output;
  EXPECT_GE(report_value(r.output, "planner_ms_per_frame"), 0.0) << r.output;
}

namespace {

// `n` frames w x h (f001.png ...): a textured grey background with a bright
// disc moving right; from frame `cut` on (1-based; 0: never) another scene (a
// dark-blue background, the disc at the left).
void write_disc_frames(const std::string &dir, int n, int w, int h, int cut = 0) {
  fs::create_directories(dir);
  cv::RNG rng(7);
  cv::Mat texture(h, w, CV_8UC3);
  rng.fill(texture, cv::RNG::UNIFORM, cv::Scalar(70, 70, 70), cv::Scalar(110, 110, 110));
  for (int i = 1; i <= n; ++i) {
    cv::Mat f;
    const bool second = cut > 0 && i >= cut;
    if (second)
      f = cv::Mat(h, w, CV_8UC3, cv::Scalar(120, 30, 10));
    else
      f = texture.clone();
    const int cx = second ? w / 6 : w / 5 + (3 * w / 5) * (i - 1) / std::max(1, n - 1);
    cv::circle(f, cv::Point(cx, h / 2), h / 6, cv::Scalar(250, 250, 250), cv::FILLED);
    char name[32];
    std::snprintf(name, sizeof name, "/f%03d.png", i);
    ASSERT_TRUE(cv::imwrite(dir + name, f));
  }
}

}  // namespace

// Frames through the baseline: the video has one frame per input frame at the
// fitted size, and each is the input frame cropped to the track's window (up to
// the encoder's loss); the track is valid.
TEST(SaliencyReframe, BaselineOnFramesWritesTheCroppedVideoAndTheTrack) {
  testsupport::TempDir tmp;
  const int n = 20, w = 192, h = 108;
  write_disc_frames(tmp / "frames", n, w, h);
  const std::string video = tmp / "out.mp4", track = tmp / "track.csv";
  const auto r = run(tool("saliency-reframe") + " --model baseline --threads 1 --input " + (tmp / "frames") +
                     " --aspect 9:16 --output " + video + " --track " + track);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("saliency-reframe: baseline on cpu, input "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("video: " + video), std::string::npos) << r.output;
  const model::CropWindow fitted = model::fitted_crop(w, h, 9, 16);
  const std::vector<TrackRow> rows = read_track(track);
  expect_valid_track(rows, n, w, h, fitted, 0.015 * w + 2);
  ASSERT_EQ(int(rows.size()), n);

  cv::VideoCapture cap(video);
  ASSERT_TRUE(cap.isOpened()) << video;
  EXPECT_NEAR(cap.get(cv::CAP_PROP_FPS), 25.0, 0.01);  // frame folders: 25 frames/s
  int got = 0;
  for (cv::Mat f; cap.read(f); ++got) {
    ASSERT_LT(got, n);
    ASSERT_EQ(f.cols, fitted.width);
    ASSERT_EQ(f.rows, fitted.height);
    char name[32];
    std::snprintf(name, sizeof name, "/f%03d.png", got + 1);
    const cv::Mat src = cv::imread((tmp / "frames") + name);
    const TrackRow &t = rows[got];
    cv::Mat diff;
    cv::absdiff(f, src(cv::Rect(t.x, t.y, t.width, t.height)), diff);
    EXPECT_LT(cv::mean(diff)[0], 12.0) << "frame " << got + 1 << " is not the input cropped to its track window";
    // ... and not what a window 20 px to the side would give (the crop is where the track says).
    if (t.x + t.width + 20 <= w) {
      cv::Mat other;
      cv::absdiff(f, src(cv::Rect(t.x + 20, t.y, t.width, t.height)), other);
      EXPECT_GT(cv::mean(other)[0], cv::mean(diff)[0]) << "frame " << got + 1;
    }
  }
  EXPECT_EQ(got, n);
}

// With frames and maps, the cuts come from the frames: a scene change at
// frame 11 gives two shots, and the window may jump there (faster than the
// speed limit allows within a shot); --preview writes the side-by-side video.
TEST(SaliencyReframe, ShotCutsComeFromTheFramesAndThePathJumpsThere) {
  testsupport::TempDir tmp;
  const int n = 20, w = 320, h = 180;
  write_disc_frames(tmp / "frames", n, w, h, 11);
  // Maps: the blob on the right for the first shot, on the left after the cut.
  write_blob_maps(tmp / "maps1", 10, w, h, 260, 270);
  write_blob_maps(tmp / "maps2", 10, w, h, 40, 45);
  fs::create_directories(tmp / "maps");
  for (int i = 1; i <= 10; ++i) {
    char a[32], b[32];
    std::snprintf(a, sizeof a, "/m%03d.png", i);
    std::snprintf(b, sizeof b, "/m%03d.png", i + 10);
    fs::copy(tmp / "maps1" + a, tmp / "maps" + a);
    fs::copy(tmp / "maps2" + a, tmp / "maps" + b);
  }
  const std::string track = tmp / "track.csv", preview = tmp / "preview.mp4";
  const auto r = run(tool("saliency-reframe") + " --quiet --input " + (tmp / "frames") + " --maps " + (tmp / "maps") +
                     " --aspect 9:16 --report --track " + track + " --preview " + preview + " --fps 10");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(report_value(r.output, "shots"), 2) << r.output;
  const std::vector<TrackRow> rows = read_track(track);
  ASSERT_EQ(rows.size(), size_t(n));
  EXPECT_GT(rows[9].x - rows[10].x, 100) << "the window should jump left at the cut";
  EXPECT_GT(rows[9].x + rows[9].width / 2, 200);
  EXPECT_LT(rows[10].x + rows[10].width / 2, 110);
  cv::VideoCapture cap(preview);
  ASSERT_TRUE(cap.isOpened()) << preview;
  EXPECT_NEAR(cap.get(cv::CAP_PROP_FPS), 10.0, 0.01);
  const model::CropWindow fitted = model::fitted_crop(w, h, 9, 16);
  cv::Mat f;
  ASSERT_TRUE(cap.read(f));
  // The frame, a 4-pixel gap and the crop at the frame's height, padded to even sizes.
  const int side = int(std::lround(double(fitted.width) * h / fitted.height));
  EXPECT_EQ(f.rows, h + h % 2);
  EXPECT_EQ(f.cols, (w + 4 + side) + (w + 4 + side) % 2);
  int frames = 1;
  while (cap.read(f)) ++frames;
  EXPECT_EQ(frames, n);
}

// Bad input: one line naming the file (exit 1) or a usage error (exit 2), and
// nothing at the --track / --output paths, nor a temporary file beside them.
TEST(SaliencyReframe, BadInputIsRefusedAndLeavesNothing) {
  testsupport::TempDir tmp;
  write_blob_maps(tmp / "maps", 6, 64, 36, 10, 50);
  write_disc_frames(tmp / "frames5", 5, 64, 36);
  fs::create_directories(tmp / "empty");
  fs::create_directories(tmp / "mixed");
  for (const char *m : {"m001.png", "m002.png"}) fs::copy(tmp / "maps/" + m, tmp / "mixed/" + m);
  cv::imwrite(tmp / "mixed/m003.png", cv::Mat(40, 64, CV_8U, cv::Scalar(9)));
  fs::create_directories(tmp / "broken");
  fs::copy(tmp / "maps/m001.png", tmp / "broken/m001.png");
  std::ofstream(tmp / "broken/m002.png") << "not a picture";
  fs::create_directories(tmp / "out");
  const std::string track = tmp / "out/t.csv", video = tmp / "out/v.mp4";
  const std::string outs = " --track " + track + " --output " + video;
  struct Case {
    std::string args, message;
    int code;
  };
  const std::string R = tool("saliency-reframe") + " ";
  const std::vector<Case> cases = {
      {"--maps " + (tmp / "maps") + " --aspect 0:16 --track " + track,
       "saliency-reframe: --aspect '0:16': expected W:H, two whole numbers above 0 (e.g. --aspect 9:16)\n"
       "Try 'saliency-reframe --help'.\n",
       2},
      {"--maps " + (tmp / "maps") + " --aspect 9x16 --track " + track,
       "saliency-reframe: --aspect '9x16': expected W:H, two whole numbers above 0 (e.g. --aspect 9:16)\n"
       "Try 'saliency-reframe --help'.\n",
       2},
      {"--maps " + (tmp / "maps") + " --aspect 9:16" + outs,
       "saliency-reframe: --output crops the frames: give --input (the clip the maps belong to)\n"
       "Try 'saliency-reframe --help'.\n",
       2},
      {"--maps " + (tmp / "empty") + " --aspect 9:16 --track " + track,
       "saliency-reframe: " + (tmp / "empty") + ": no maps (.png or .npy files) in this directory\n", 1},
      {"--maps " + (tmp / "nomaps") + " --aspect 9:16 --track " + track,
       "saliency-reframe: " + (tmp / "nomaps") + ": no such directory\n", 1},
      {"--maps " + (tmp / "mixed") + " --aspect 9:16 --track " + track,
       "saliency-reframe: " + (tmp / "mixed/m003.png") + ": map size 64x40 differs from the first map's 64x36 (" +
           (tmp / "mixed/m001.png") + ")\n",
       1},
      {"--maps " + (tmp / "maps") + " --input " + (tmp / "frames5") + " --aspect 9:16" + outs,
       "saliency-reframe: " + (tmp / "maps") + ": 6 maps for 5 frames of " + (tmp / "frames5") +
           " (one map per frame, in name order)\n",
       1},
      {"--maps " + (tmp / "maps") + " --aspect 9:16 --track " + (tmp / "nodir/t.csv"),
       "saliency-reframe: " + (tmp / "nodir/t.csv") + ": folder " + (tmp / "nodir") + " does not exist\n", 1},
      // Fails after the track was written (OpenCV knows no container by .xyz): the track goes too.
      {"--input " + (tmp / "frames5") + " --aspect 9:16 --threads 1 --track " + track + " --output " +
           (tmp / "out/v.xyz"),
       "", 1},
  };
  for (const auto &c : cases) {
    const auto r = run(R + "--quiet " + c.args);
    EXPECT_EQ(r.code, c.code) << c.args << "\n" << r.output;
    if (!c.message.empty()) {
      EXPECT_EQ(r.output, c.message) << c.args;
    } else {
      EXPECT_EQ(count_lines(r.output), 1) << c.args << "\n" << r.output;
    }
    EXPECT_TRUE(listing(tmp / "out").empty()) << c.args << ": left " << listing(tmp / "out").front();
  }
  // An unreadable map: one line naming it.
  const auto r = run(R + "--quiet --maps " + (tmp / "broken") + " --aspect 9:16 --track " + track);
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_EQ(count_lines(r.output), 1) << r.output;
  EXPECT_EQ(r.output.rfind("saliency-reframe: " + (tmp / "broken/m002.png") + ": ", 0), 0u) << r.output;
  EXPECT_TRUE(listing(tmp / "out").empty());
}

TEST(SaliencyReframe, HelpDescribesTheInterface) {
  const auto r = run(tool("saliency-reframe") + " --help");
  EXPECT_EQ(r.code, 0);
  for (const char *flag : {"--input", "--maps", "--model", "--weights", "--aspect W:H", "--output", "--track",
                           "frame,x,y,width,height", "--preview", "--report", "retained_planned", "planner_ms_per_frame",
                           "--max-speed", "--max-acceleration", "--look-ahead", "--mode", "--zoom", "--fps", "--flow",
                           "--threads", "--device", "--random-init"})
    EXPECT_NE(r.output.find(flag), std::string::npos) << flag;
}

// Human fixation-density maps (UCF Sports Diving-Side_001, 55 maps of 720x404)
// from ../shared: a valid 9:16 track of 55 windows, and a report in which the
// planned path keeps at least what the centred window keeps.
TEST(SaliencyReframe, HumanMapsOfUcfDivingSide) {
  REQUIRE_SHARED_DATA(shared);
  testsupport::TempDir tmp;
  const std::string maps = shared + "/data/saliency/ucf-sports/test/Diving-Side_001/maps";
  const std::string track = tmp / "track.csv";
  const auto r = run(tool("saliency-reframe") + " --quiet --maps " + maps + " --aspect 9:16 --report --track " + track);
  ASSERT_EQ(r.code, 0) << r.output;
  const model::CropWindow fitted = model::fitted_crop(720, 404, 9, 16);
  expect_valid_track(read_track(track), 55, 720, 404, fitted, 0.015 * 720 + 2);
  EXPECT_EQ(report_value(r.output, "frames"), 55);
  const double planned = report_value(r.output, "retained_planned"), centre = report_value(r.output, "retained_centre");
  EXPECT_GE(planned, centre) << r.output;
  EXPECT_LE(planned, report_value(r.output, "retained_best") + 1e-4) << r.output;
}
