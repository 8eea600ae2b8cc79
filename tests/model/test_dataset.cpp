// Tests of the dataset code (model/include/salmodel/dataset.hpp) and the
// synthetic dataset generator (synthetic_dataset.hpp): layouts indexed from
// folders the tests build, one-line errors naming the file, the clip-start
// rules of model-spec A.10 / B.12 worked out by hand from the table, the
// loader's ordering and shutdown, and the generator's ground truth checked
// against its own pixels (changes between frames, warping by the flows).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "salflow/flo_io.hpp"
#include "salmodel/dataset.hpp"
#include "salmodel/synthetic_dataset.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace model::data;
using model::ModelKind;

namespace {

fs::path P(const testsupport::TempDir &t) { return t.path(); }

std::string error_of(const std::function<void()> &f) {
  return testsupport::error_message_of<DataError>(f, "DataError");
}

// The generator is torch-free and throws model::ModelError (not DataError).
std::string model_error_of(const std::function<void()> &f) {
  return testsupport::error_message_of<model::ModelError>(f, "ModelError");
}

std::string read_bytes(const fs::path &p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Every regular file under `root`, by relative path, with its bytes.
std::map<std::string, std::string> tree(const fs::path &root) {
  std::map<std::string, std::string> out;
  for (const auto &e : fs::recursive_directory_iterator(root))
    if (e.is_regular_file()) out[fs::relative(e.path(), root).string()] = read_bytes(e.path());
  return out;
}

// A small image whose pixels encode `value` (so tests can tell frames apart).
void write_image(const fs::path &p, int value, cv::Size size = {24, 16}, int channels = 3) {
  fs::create_directories(p.parent_path());
  cv::Mat m(size, channels == 3 ? CV_8UC3 : CV_8UC1, cv::Scalar::all(value % 256));
  ASSERT_TRUE(cv::imwrite(p.string(), m)) << p;
}

// One video of the dhf1k/ucf/hollywood arrangement: images, maps, fixation with
// files named `stem(i)` + .png.
void write_video(const fs::path &dir, int frames, const std::function<std::string(int)> &stem,
                 bool flows = false) {
  for (int i = 0; i < frames; ++i) {
    write_image(dir / "images" / (stem(i) + ".png"), i);
    write_image(dir / "maps" / (stem(i) + ".png"), 10 * i, {24, 16}, 1);
    cv::Mat fix = cv::Mat::zeros(16, 24, CV_8UC1);
    fix.at<uchar>(i % 16, i % 24) = 255;
    fs::create_directories(dir / "fixation");
    ASSERT_TRUE(cv::imwrite((dir / "fixation" / (stem(i) + ".png")).string(), fix));
    if (flows && i + 1 < frames) {
      fs::create_directories(dir / "flow");
      flow::write_flo((dir / "flow" / (stem(i) + ".flo")).string(),
                      cv::Mat(16, 24, CV_32FC2, cv::Scalar(i, -i)));
    }
  }
}

std::string num(const char *format, int value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, value);
  return buf;
}

// A level-5 MAT-file with one uncompressed double matrix (MathWorks "MAT-File
// Format": 128-byte header, then a miMATRIX element of flags, dims, name, data).
void write_mat(const fs::path &p, const std::string &name, const cv::Mat &m64) {
  std::vector<unsigned char> out;
  auto put32 = [](std::vector<unsigned char> &o, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) o.push_back(static_cast<unsigned char>(v >> (8 * i)));
  };
  auto element = [&](std::vector<unsigned char> &o, std::uint32_t type,
                     const std::vector<unsigned char> &data) {
    put32(o, type);
    put32(o, static_cast<std::uint32_t>(data.size()));
    o.insert(o.end(), data.begin(), data.end());
    o.resize(o.size() + (8 - data.size() % 8) % 8, 0);
  };
  std::string text = "MATLAB 5.0 MAT-file, written by test_dataset";
  text.resize(116, ' ');
  out.assign(text.begin(), text.end());
  out.resize(124, 0);
  out.insert(out.end(), {0x00, 0x01, 'I', 'M'});
  std::vector<unsigned char> body, flags, dims, data;
  put32(flags, 6);  // mxDOUBLE_CLASS
  put32(flags, 0);
  element(body, 6, flags);
  put32(dims, static_cast<std::uint32_t>(m64.rows));
  put32(dims, static_cast<std::uint32_t>(m64.cols));
  element(body, 5, dims);
  element(body, 1, std::vector<unsigned char>(name.begin(), name.end()));
  for (int c = 0; c < m64.cols; ++c)  // column-major
    for (int r = 0; r < m64.rows; ++r) {
      const double v = m64.at<double>(r, c);
      unsigned char b[8];
      std::memcpy(b, &v, 8);
      data.insert(data.end(), b, b + 8);
    }
  element(body, 9, data);
  element(out, 14, body);
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary)
      .write(reinterpret_cast<const char *>(out.data()), std::streamsize(out.size()));
}

SyntheticDatasetOptions small_synthetic(std::uint64_t seed = 3) {
  SyntheticDatasetOptions o;
  o.train_videos = 3;
  o.val_videos = 1;
  o.frames = 20;
  o.width = 64;
  o.height = 48;
  o.seed = seed;
  o.flow = true;
  o.threads = 1;
  return o;
}

}  // namespace

// ================================================================ generator

TEST(DatasetSynthetic, SameSeedSameBytesDifferentSeedDifferentContent) {
  testsupport::TempDir tmp;
  SyntheticDatasetOptions o = small_synthetic();
  o.frames = 8;
  write_synthetic_dataset(P(tmp) / "a", o);
  o.threads = 3;  // the output must not depend on the thread count
  write_synthetic_dataset(P(tmp) / "b", o);
  o.seed = 4;
  write_synthetic_dataset(P(tmp) / "c", o);

  const auto a = tree(P(tmp) / "a"), b = tree(P(tmp) / "b"), c = tree(P(tmp) / "c");
  // 4 videos x 8 frames x (image, map, fixation) + 7 flows each + synthetic.txt
  EXPECT_EQ(a.size(), std::size_t(4 * 8 * 3 + 4 * 7 + 1));
  EXPECT_TRUE(a == b) << "same options and seed gave different files";
  ASSERT_EQ(a.size(), c.size());
  int differing_frames = 0;
  for (const auto &[path, bytes] : a)
    if (path.find("/images/") != std::string::npos && c.at(path) != bytes) ++differing_frames;
  EXPECT_EQ(differing_frames, 4 * 8) << "another seed should change every frame";
  EXPECT_TRUE(a.count("train/001/flow/0007.flo") && !a.count("train/001/flow/0008.flo"));
  EXPECT_TRUE(a.count("val/004/images/0008.png"));
}

TEST(DatasetSynthetic, RefusesBadOutputAndLeavesNothingWhenStopped) {
  testsupport::TempDir tmp;
  fs::create_directories(P(tmp) / "full");
  std::ofstream(P(tmp) / "full" / "keep.txt") << "x";
  const std::string msg =
      model_error_of([&] { write_synthetic_dataset(P(tmp) / "full", small_synthetic()); });
  EXPECT_EQ(msg,
            (P(tmp) / "full").string() + ": not empty (1 entry); pass --overwrite to replace it");
  EXPECT_EQ(tree(P(tmp) / "full").size(), 1u);
  SyntheticDatasetOptions bad = small_synthetic();
  bad.width = 8;
  EXPECT_NE(model_error_of([&] { write_synthetic_dataset(P(tmp) / "bad", bad); }).find("width"),
            std::string::npos);
  bad = small_synthetic();
  bad.train_videos = bad.val_videos = 0;
  EXPECT_NE(model_error_of([&] {
              write_synthetic_dataset(P(tmp) / "bad", bad);
            }).find("at least one video"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(P(tmp) / "bad"));

  // A run stopped part-way (here by its progress callback) leaves neither the
  // dataset nor its staging folder behind.
  SyntheticDatasetOptions o = small_synthetic();
  o.threads = 2;
  int calls = 0;
  const std::string stopped = model_error_of([&] {
    write_synthetic_dataset(P(tmp) / "stopped", o, [&](int done, int total) {
      EXPECT_LE(done, total);
      if (++calls == 1) throw model::ModelError("stopped by the test");
    });
  });
  EXPECT_EQ(stopped, "stopped by the test");
  EXPECT_FALSE(fs::exists(P(tmp) / "stopped"));
  for (const auto &e : fs::directory_iterator(tmp.path()))
    EXPECT_EQ(e.path().filename().string().find(".stopped"), std::string::npos)
        << "left: " << e.path();
}

// The map's peak sits on what changes over time (the moving or the newly
// appeared object), found here from the frames alone, not from the generator.
TEST(DatasetSynthetic, MapsPeakOnTheObjectsThatChange) {
  int checked = 0;
  for (std::uint64_t seed = 1; seed <= 6; ++seed) {
    SyntheticVideoOptions o;
    o.width = 96;
    o.height = 64;
    o.frames = 24;
    o.seed = seed;
    const SyntheticVideo video(o);
    for (int t = 2; t < o.frames - 1; t += 3) {
      const cv::Mat f = video.frame(t);
      cv::Mat changed = cv::Mat::zeros(f.size(), CV_8UC1);
      for (int other : {t + 1, std::max(0, t - 10)}) {
        cv::Mat d, any;
        cv::absdiff(f, video.frame(other), d);
        cv::cvtColor(d, any, cv::COLOR_BGR2GRAY);
        changed |= any > 0;
      }
      // Pixels within 5 pixels of a change (fixations spread around the object's centre).
      cv::dilate(changed, changed, cv::getStructuringElement(cv::MORPH_ELLIPSE, {11, 11}));
      const cv::Mat map = video.saliency_map(t);
      double peak;
      cv::Point at;
      cv::minMaxLoc(map, nullptr, &peak, nullptr, &at);
      EXPECT_EQ(peak, 255.0);
      EXPECT_GT(changed.at<uchar>(at), 0) << "seed " << seed << " frame " << t << ": map peak at "
                                          << at << " is not on a changing object";
      const double inside = cv::sum(map & changed)[0], total = cv::sum(map)[0];
      EXPECT_GT(inside / total, 0.8) << "seed " << seed << " frame " << t;
      // Fixations: binary, as many distinct points as the map was made from.
      const cv::Mat fix = video.fixation_map(t);
      EXPECT_EQ(cv::countNonZero(fix), cv::countNonZero(fix == 255));
      EXPECT_GE(cv::countNonZero(fix), 3);
      ++checked;
    }
  }
  EXPECT_GT(checked, 30);
}

// Frame t warped by flow t lands on frame t + 1 wherever something moves.
TEST(DatasetSynthetic, FlowsAreTheMotionOfTheScene) {
  int moving_pixels = 0;
  for (std::uint64_t seed = 1; seed <= 4; ++seed) {
    SyntheticVideoOptions o;
    o.width = 80;
    o.height = 56;
    o.frames = 16;
    o.seed = seed;
    const SyntheticVideo video(o);
    for (int t = 0; t + 1 < o.frames; ++t) {
      const cv::Mat a = video.frame(t), b = video.frame(t + 1), flow = video.flow(t);
      ASSERT_EQ(flow.type(), CV_32FC2);
      int moved = 0, warped_ok = 0, still_ok = 0;
      for (int y = 0; y < a.rows; ++y)
        for (int x = 0; x < a.cols; ++x) {
          const cv::Vec2f v = flow.at<cv::Vec2f>(y, x);
          if (v[0] == 0.f && v[1] == 0.f) continue;
          ++moved;
          const int tx = x + int(std::lround(v[0])), ty = y + int(std::lround(v[1]));
          ASSERT_TRUE(tx >= 0 && ty >= 0 && tx < a.cols && ty < a.rows) << "flow leaves the frame";
          warped_ok += a.at<cv::Vec3b>(y, x) == b.at<cv::Vec3b>(ty, tx);
          still_ok += a.at<cv::Vec3b>(y, x) == b.at<cv::Vec3b>(y, x);
        }
      if (moved == 0) continue;  // a mover that bounced back to the same spot
      moving_pixels += moved;
      EXPECT_GT(double(warped_ok) / moved, 0.95) << "seed " << seed << " flow " << t;
      EXPECT_LT(double(still_ok) / moved, 0.5) << "seed " << seed << " flow " << t;
    }
  }
  EXPECT_GT(moving_pixels, 1000);
}

// ================================================================ index_dataset

TEST(DatasetIndex, DHF1KArrangementFromTheGenerator) {
  testsupport::TempDir tmp;
  write_synthetic_dataset(P(tmp) / "d", small_synthetic());
  IndexOptions io;
  io.root = P(tmp) / "d";
  io.require_flow = true;
  const auto train = index_dataset(io);
  ASSERT_EQ(train.size(), 3u);
  EXPECT_EQ(train[0].name, "001");
  EXPECT_EQ(train[2].name, "003");
  for (const VideoRecord &v : train) {
    EXPECT_EQ(v.frames.size(), 20u);
    EXPECT_EQ(v.maps.size(), 20u);
    EXPECT_EQ(v.fixations.size(), 20u);
    ASSERT_EQ(v.flows.size(), 19u);
    EXPECT_EQ(fs::path(v.frames[4]).filename(), "0005.png");
    EXPECT_EQ(fs::path(v.maps[4]).parent_path().filename(), "maps");
    EXPECT_EQ(fs::path(v.flows[4]).filename(), "0005.flo");
  }
  io.split = Split::Validation;
  const auto val = index_dataset(io);
  ASSERT_EQ(val.size(), 1u);
  EXPECT_EQ(val[0].name, "004");

  // The written flows are the generator's flows; the maps its maps.
  SyntheticDatasetOptions so = small_synthetic();
  const SyntheticVideo video(synthetic_video_options(so, 1));
  EXPECT_EQ(cv::norm(flow::read_flo(train[1].flows[6]), video.flow(6), cv::NORM_INF), 0.0);
  EXPECT_EQ(cv::norm(cv::imread(train[1].maps[6], cv::IMREAD_GRAYSCALE), video.saliency_map(6),
                     cv::NORM_INF),
            0.0);
}

TEST(DatasetIndex, DHF1KOfficialDistributionSplitsBySortedIndex) {
  testsupport::TempDir tmp;
  const fs::path root = P(tmp) / "dhf1k";
  for (const char *vid : {"002", "001"}) {
    for (int i = 0; i < 3; ++i) {
      const std::string name = num("%04d", i + 1) + ".png";
      write_image(root / "frames" / vid / "images" / name, i);
      write_image(root / "annotation" / vid / "maps" / name, i, {24, 16}, 1);
      write_image(root / "annotation" / vid / "fixation" / name, 255, {24, 16}, 1);
    }
  }
  IndexOptions io;
  io.root = root;
  const auto train = index_dataset(io);
  ASSERT_EQ(train.size(), 2u);
  EXPECT_EQ(train[0].name, "001");
  EXPECT_NE(train[0].maps[2].find("annotation/001/maps/0003.png"), std::string::npos);
  io.split = Split::Validation;  // only sorted index 600..699 is validation
  const std::string msg = error_of([&] { index_dataset(io); });
  EXPECT_NE(msg.find((root / "frames").string() + ": 2 videos"), std::string::npos) << msg;
}

TEST(DatasetIndex, UCFAndHollywoodNamesAreMatchedAcrossFolders) {
  testsupport::TempDir tmp;
  write_video(P(tmp) / "ucf" / "training" / "Diving-Side_001", 5,
              [](int i) { return "Diving_Side_001_" + num("%03d", i + 1); });
  write_video(P(tmp) / "ucf" / "testing" / "Run-Side_002", 4,
              [](int i) { return "Run_Side_002_" + num("%03d", i + 1); });
  IndexOptions io;
  io.root = P(tmp) / "ucf";
  io.layout = Layout::UCF;
  auto v = index_dataset(io);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].name, "Diving-Side_001");
  ASSERT_EQ(v[0].frames.size(), 5u);
  EXPECT_EQ(fs::path(v[0].fixations[4]).filename(), "Diving_Side_001_005.png");
  io.split = Split::Validation;
  EXPECT_EQ(index_dataset(io).at(0).frames.size(), 4u);

  write_video(P(tmp) / "hw" / "training" / "actioncliptrain00001_2", 6,
              [](int i) { return "actioncliptrain00001_" + num("%05d", i + 1); });
  io.root = P(tmp) / "hw";
  io.layout = Layout::Hollywood;
  io.split = Split::Train;
  v = index_dataset(io);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(fs::path(v[0].maps[5]).filename(), "actioncliptrain00001_00006.png");
  io.split = Split::Validation;
  const std::string msg = error_of([&] { index_dataset(io); });
  EXPECT_NE(msg.find((P(tmp) / "hw" / "testing").string() + ": missing validation split folder"),
            std::string::npos)
      << msg;
}

TEST(DatasetIndex, DIEMReadsEyeMapsAndMatFixations) {
  testsupport::TempDir tmp;
  const fs::path root = P(tmp) / "diem";
  const int n = 34;
  for (int i = 1; i <= n; ++i) {
    write_image(root / "testing" / "bbc_life" / num("img_%05d.jpg", i), 4 * i);
    write_image(root / "ann" / "bbc_life" / "maps" / num("eyeMap_%05d.jpg", i), 7 * i, {24, 16}, 1);
    cv::Mat fix = cv::Mat::zeros(16, 24, CV_64F);
    fix.at<double>(i % 16, 3) = 2.0;  // DIEM fixations are read raw (STSANet: fixation / 1.0)
    write_mat(root / "ann" / "bbc_life" / num("fixMap_%05d.mat", i), "eyeMap", fix);
  }
  IndexOptions io;
  io.root = root;
  io.layout = Layout::DIEM;
  io.split = Split::Validation;
  const auto videos = index_dataset(io);
  ASSERT_EQ(videos.size(), 1u);
  ASSERT_EQ(videos[0].fixations.size(), std::size_t(n));
  EXPECT_EQ(fs::path(videos[0].fixations[9]).filename(), "fixMap_00010.mat");
  EXPECT_EQ(fs::path(videos[0].maps[9]).filename(), "eyeMap_00010.jpg");

  // STSANet on DIEM: the label is the clip's first frame (the official offset).
  const ClipSpec spec = clip_spec(ModelKind::STSANet, Layout::DIEM);
  const auto plan = plan_clips(videos, spec, Split::Validation, 0, 0);
  ASSERT_EQ(plan.size(), 1u);  // starts 0, 32, ... <= n - 32 = 2
  const Sample s = read_clip(videos, spec, {0, 1});
  ASSERT_EQ(s.fixations.sizes(), (std::vector<int64_t>{1, 16, 24}));
  EXPECT_EQ(s.fixations[0][(1 + 1) % 16][3].item<float>(), 2.0f);  // fixMap_00002 (frame index 1)
  EXPECT_EQ(s.fixations.sum().item<float>(), 2.0f);
  EXPECT_EQ(s.frames.size(0), 32);
  EXPECT_EQ(s.frame_indices.back(), 32);  // start 1 + 31 (0-based)
}

TEST(DatasetIndex, ErrorsNameTheFileOrFolder) {
  testsupport::TempDir tmp;
  IndexOptions io;
  io.root = P(tmp) / "nowhere";
  EXPECT_EQ(error_of([&] { index_dataset(io); }),
            (P(tmp) / "nowhere").string() + ": no such dataset folder");

  io.root = P(tmp) / "d";
  fs::create_directories(P(tmp) / "d" / "train");
  io.split = Split::Validation;
  EXPECT_NE(error_of([&] {
              index_dataset(io);
            }).find((P(tmp) / "d" / "val").string() + ": missing validation split folder"),
            std::string::npos);
  io.split = Split::Train;
  EXPECT_EQ(error_of([&] { index_dataset(io); }),
            (P(tmp) / "d" / "train").string() + ": no videos");

  const fs::path v = P(tmp) / "d" / "train" / "001";
  fs::create_directories(v / "images");
  EXPECT_EQ(error_of([&] { index_dataset(io); }),
            (v / "images").string() + ": no frames (.png/.jpg)");

  write_video(
      v, 4, [](int i) { return num("%04d", i + 1); }, true);
  EXPECT_EQ(index_dataset(io).at(0).frames.size(), 4u);

  fs::remove(v / "maps" / "0003.png");  // one map fewer than frames
  std::string msg = error_of([&] { index_dataset(io); });
  EXPECT_NE(msg.find((v / "maps").string() + ": 3 map files for 4 frames"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("0003.png"), std::string::npos) << msg;

  write_image(v / "maps" / "0003b.png", 1, {24, 16}, 1);  // same count, a name no frame has
  msg = error_of([&] { index_dataset(io); });
  EXPECT_EQ(msg, (v / "maps" / "0003.png").string() + ": missing (frame " +
                     (v / "images" / "0003.png").string() + " has no map file)");
  fs::rename(v / "maps" / "0003b.png", v / "maps" / "0003.png");

  fs::remove(v / "fixation" / "0004.png");
  msg = error_of([&] { index_dataset(io); });
  EXPECT_NE(msg.find((v / "fixation").string() + ": 3 fixation files for 4 frames"),
            std::string::npos)
      << msg;
  write_image(v / "fixation" / "0004.png", 255, {24, 16}, 1);

  io.require_flow = true;
  EXPECT_EQ(index_dataset(io).at(0).flows.size(), 3u);
  fs::remove(v / "flow" / "0002.flo");
  msg = error_of([&] { index_dataset(io); });
  EXPECT_EQ(msg.rfind((v / "flow" / "0002.flo").string() + ": missing", 0), 0u) << msg;
  fs::remove_all(v / "flow");
  msg = error_of([&] { index_dataset(io); });
  EXPECT_EQ(msg.rfind((v / "flow").string() + ": missing flow folder", 0), 0u) << msg;
  io.require_flow = false;

  // Unlabelled videos: an error by default, empty label lists on request.
  fs::remove_all(v / "maps");
  fs::remove_all(v / "fixation");
  EXPECT_EQ(error_of([&] { index_dataset(io); }), (v / "maps").string() + ": missing map folder");
  io.require_labels = false;
  const auto unlabelled = index_dataset(io);
  EXPECT_TRUE(unlabelled.at(0).maps.empty() && unlabelled.at(0).fixations.empty());

  EXPECT_EQ(error_of([] { parse_layout("dhf2k"); }),
            "unknown dataset layout 'dhf2k' (expected dhf1k, ucf, hollywood or diem)");
  for (Layout l : {Layout::DHF1K, Layout::UCF, Layout::Hollywood, Layout::DIEM})
    EXPECT_EQ(parse_layout(layout_name(l)), l);
}

TEST(DatasetIndex, FlowNetNamesAreTakenInSortedOrder) {
  testsupport::TempDir tmp;
  const fs::path v = P(tmp) / "d" / "train" / "001";
  write_video(v, 4, [](int i) { return num("%04d", i + 1); });
  fs::create_directories(v / "flow");
  for (int i = 0; i < 3; ++i)
    flow::write_flo((v / "flow" / num("%06d.flo", i)).string(),
                    cv::Mat(16, 24, CV_32FC2, cv::Scalar(i, 0)));
  IndexOptions io;
  io.root = P(tmp) / "d";
  io.require_flow = true;
  const auto videos = index_dataset(io);
  ASSERT_EQ(videos.at(0).flows.size(), 3u);
  EXPECT_EQ(fs::path(videos[0].flows[2]).filename(), "000002.flo");
}

// ================================================================ clip specs and plans

namespace {

std::vector<VideoRecord> fake_videos(const std::vector<int> &lengths) {
  std::vector<VideoRecord> out;
  for (std::size_t v = 0; v < lengths.size(); ++v) {
    VideoRecord r;
    r.name = num("%03d", int(v));
    r.frames.resize(std::size_t(lengths[v]));
    out.push_back(r);
  }
  return out;
}

std::vector<int> starts(const std::vector<ClipRef> &plan, int video) {
  std::vector<int> s;
  for (const ClipRef &c : plan)
    if (c.video == video) s.push_back(c.start);
  return s;
}

// Smallest and largest training start drawn for a single video over many epochs.
std::pair<int, int> training_range(const ClipSpec &spec, int length) {
  const auto videos = fake_videos({length});
  int lo = 1 << 30, hi = -1;
  for (int epoch = 0; epoch < 400; ++epoch)
    for (const ClipRef &c : plan_clips(videos, spec, Split::Train, 7, epoch)) {
      lo = std::min(lo, c.start);
      hi = std::max(hi, c.start);
    }
  return {lo, hi};
}

}  // namespace

TEST(DatasetPlan, STSANetStartRangesFollowTheOfficialTable) {
  // model-spec A.10, with n = 40 frames (n - 32 = 8):
  // DHF1K/UCF/DIEM train start in [0, 8), Hollywood in [0, 8].
  EXPECT_EQ(training_range(clip_spec(ModelKind::STSANet, Layout::DHF1K), 40), std::make_pair(0, 7));
  EXPECT_EQ(training_range(clip_spec(ModelKind::STSANet, Layout::UCF), 40), std::make_pair(0, 7));
  EXPECT_EQ(training_range(clip_spec(ModelKind::STSANet, Layout::DIEM), 40), std::make_pair(0, 7));
  EXPECT_EQ(training_range(clip_spec(ModelKind::STSANet, Layout::Hollywood), 40),
            std::make_pair(0, 8));

  // Validation: DHF1K 0, 32, ... <= n-32; UCF 0, 4, ... < n-32; Hollywood step 64; DIEM step 32.
  const auto videos = fake_videos({96, 40, 36, 160, 20});
  auto val = [&](Layout l) {
    return plan_clips(videos, clip_spec(ModelKind::STSANet, l), Split::Validation, 1, 1);
  };
  EXPECT_EQ(starts(val(Layout::DHF1K), 0), (std::vector<int>{0, 32, 64}));
  EXPECT_EQ(starts(val(Layout::UCF), 1), (std::vector<int>{0, 4}));
  EXPECT_EQ(starts(val(Layout::UCF), 2), (std::vector<int>{0}));
  EXPECT_EQ(starts(val(Layout::Hollywood), 3), (std::vector<int>{0, 64, 128}));
  EXPECT_EQ(starts(val(Layout::DIEM), 3), (std::vector<int>{0, 32, 64, 96, 128}));
  EXPECT_EQ(starts(val(Layout::DHF1K), 4), (std::vector<int>{0}));  // shorter than a clip: clamped

  EXPECT_EQ(clip_spec(ModelKind::STSANet, Layout::DHF1K).label_frames, (std::vector<int>{15}));
  EXPECT_EQ(clip_spec(ModelKind::STSANet, Layout::DIEM).label_frames, (std::vector<int>{0}));
  EXPECT_EQ(clip_spec(ModelKind::STSANet, Layout::DHF1K).span(), 32);
  EXPECT_NE(
      error_of([] { clip_spec(ModelKind::Baseline, Layout::DHF1K); }).find("no training recipe"),
      std::string::npos);
}

TEST(DatasetPlan, STRANetClipsAreFiveFramesStepTwoWithThirteenFlows) {
  const ClipSpec s = clip_spec(ModelKind::STRANet, Layout::DHF1K);
  EXPECT_EQ(s.frames, 5);
  EXPECT_EQ(s.step, 2);
  EXPECT_EQ(s.flows, 13);  // frame start+8 needs flows start+8 .. start+12
  EXPECT_EQ(s.span(), 14);
  EXPECT_EQ(s.label_frames, (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_EQ(training_range(s, 30), std::make_pair(0, 16));  // [0, n - 14]
  const auto videos = fake_videos({30, 10});
  EXPECT_EQ(plan_clips(videos, s, Split::Train, 1, 0).size(), 1u);  // the 10-frame video is skipped
  EXPECT_EQ(starts(plan_clips(videos, s, Split::Validation, 1, 0), 0), (std::vector<int>{8}));
}

TEST(DatasetPlan, TrainingPlansAreReproducibleShuffles) {
  const auto videos = fake_videos(std::vector<int>(30, 64));
  const ClipSpec spec = clip_spec(ModelKind::STSANet, Layout::DHF1K);
  const auto a = plan_clips(videos, spec, Split::Train, 42, 3);
  const auto b = plan_clips(videos, spec, Split::Train, 42, 3);
  const auto c = plan_clips(videos, spec, Split::Train, 42, 4);
  const auto d = plan_clips(videos, spec, Split::Train, 43, 3);
  auto same = [](const std::vector<ClipRef> &x, const std::vector<ClipRef> &y) {
    if (x.size() != y.size()) return false;
    for (std::size_t i = 0; i < x.size(); ++i)
      if (x[i].video != y[i].video || x[i].start != y[i].start) return false;
    return true;
  };
  EXPECT_TRUE(same(a, b));
  EXPECT_FALSE(same(a, c));
  EXPECT_FALSE(same(a, d));
  std::set<int> seen;
  bool in_order = true;
  for (std::size_t i = 0; i < a.size(); ++i) {
    seen.insert(a[i].video);
    in_order = in_order && a[i].video == int(i);
  }
  EXPECT_EQ(seen.size(), 30u) << "one clip per video per epoch";
  EXPECT_FALSE(in_order) << "videos should be shuffled";
}

// ================================================================ read_clip and ClipLoader

TEST(DatasetClip, ReadClipDecodesFramesFlowsAndLabels) {
  testsupport::TempDir tmp;
  const fs::path v = P(tmp) / "d" / "train" / "001";
  write_video(
      v, 16, [](int i) { return num("%04d", i + 1); }, true);
  IndexOptions io;
  io.root = P(tmp) / "d";
  io.require_flow = true;
  const auto videos = index_dataset(io);
  const ClipSpec spec = clip_spec(ModelKind::STRANet, Layout::DHF1K);
  const Sample s = read_clip(videos, spec, {0, 1});
  ASSERT_EQ(s.frames.sizes(), (std::vector<int64_t>{5, 16, 24, 3}));
  EXPECT_EQ(s.frames.scalar_type(), torch::kUInt8);
  EXPECT_EQ(s.frame_indices, (std::vector<int>{1, 3, 5, 7, 9}));
  EXPECT_EQ(s.frames[2][0][0][1].item<int>(), 5);  // write_image encodes the frame index
  ASSERT_EQ(s.flows.sizes(), (std::vector<int64_t>{13, 16, 24, 2}));
  EXPECT_EQ(s.flows[12][3][4][0].item<float>(), 13.f);  // flow start + 12 = 13 holds (13, -13)
  EXPECT_EQ(s.flows[12][3][4][1].item<float>(), -13.f);
  ASSERT_EQ(s.maps.sizes(), (std::vector<int64_t>{5, 16, 24}));
  EXPECT_NEAR(s.maps[4][0][0].item<float>(), 90.f / 255.f, 1e-6);  // frame 9: map value 10 * 9
  EXPECT_EQ(s.fixations[4].sum().item<float>(), 1.f);
  EXPECT_EQ(s.fixations[4][9][9].item<float>(), 1.f);

  // Past the end: the last frame and the last flow repeat.
  const Sample end = read_clip(videos, spec, {0, 10});
  EXPECT_EQ(end.frame_indices, (std::vector<int>{10, 12, 14, 15, 15}));
  EXPECT_EQ(end.flows[12][0][0][0].item<float>(), 14.f);

  // A frame of another size is named.
  write_image(v / "images" / "0006.png", 1, {20, 16});
  const std::string msg = error_of([&] { read_clip(videos, spec, {0, 1}); });
  EXPECT_EQ(msg.rfind((v / "images" / "0006.png").string() + ": 20x16, but " +
                          (v / "images" / "0002.png").string() + " is 24x16",
                      0),
            0u)
      << msg;
  std::ofstream(v / "images" / "0006.png", std::ios::trunc) << "not a PNG";
  EXPECT_EQ(
      error_of([&] {
        read_clip(videos, spec, {0, 1});
      }),
      (v / "images" / "0006.png").string() + ": cannot read image (unreadable or not an image)");
}

namespace {

// A synthetic dataset indexed once for the loader tests.
struct LoaderData {
  testsupport::TempDir tmp;
  std::vector<VideoRecord> videos;
  LoaderData() {
    SyntheticDatasetOptions o = small_synthetic(9);
    o.frames = 12;
    o.flow = false;
    o.train_videos = 5;
    write_synthetic_dataset(P(tmp) / "d", o);
    IndexOptions io;
    io.root = P(tmp) / "d";
    videos = index_dataset(io);
  }
};

ClipSpec short_spec() {
  ClipSpec s;
  s.frames = 4;
  s.step = 1;
  s.label_frames = {1, 3};
  s.validation_stride = 2;
  return s;
}

}  // namespace

TEST(DatasetLoader, ReturnsClipsInPlanOrderWithAnyThreadCount) {
  LoaderData data;
  const ClipSpec spec = short_spec();
  std::vector<ClipRef> plan = plan_clips(data.videos, spec, Split::Validation, 0, 0);
  const auto train = plan_clips(data.videos, spec, Split::Train, 5, 2);
  plan.insert(plan.end(), train.begin(), train.end());
  ASSERT_GT(plan.size(), 20u);

  for (int threads : {0, 1, 3}) {
    // A transform that takes longer for some clips, so workers finish out of order.
    auto transform = [](Sample &s) {
      if (s.ref.start % 3 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(3));
      s.prepared.push_back(s.frames.to(torch::kFloat32).mean());
    };
    LoaderOptions lo;
    lo.threads = threads;
    lo.prefetch = 3;
    ClipLoader loader(data.videos, spec, plan, transform, lo);
    EXPECT_EQ(loader.size(), plan.size());
    for (std::size_t i = 0; i < plan.size(); ++i) {
      std::optional<Sample> s = loader.next();
      ASSERT_TRUE(s.has_value()) << "threads " << threads << " clip " << i;
      EXPECT_EQ(s->ref.video, plan[i].video);
      EXPECT_EQ(s->ref.start, plan[i].start);
      ASSERT_EQ(s->prepared.size(), 1u);
      const Sample direct = read_clip(data.videos, spec, plan[i]);
      EXPECT_TRUE(torch::equal(s->frames, direct.frames)) << "threads " << threads << " clip " << i;
      EXPECT_TRUE(torch::equal(s->maps, direct.maps));
    }
    EXPECT_FALSE(loader.next().has_value());
    EXPECT_FALSE(loader.next().has_value());
  }
}

TEST(DatasetLoader, ReadErrorsComeOutOfNextInOrder) {
  LoaderData data;
  const ClipSpec spec = short_spec();
  const std::vector<ClipRef> plan = {{0, 0}, {1, 0}, {2, 0}};
  const std::string broken = data.videos[1].frames[2];
  fs::remove(broken);
  for (int threads : {0, 2}) {
    LoaderOptions lo;
    lo.threads = threads;
    ClipLoader loader(data.videos, spec, plan, {}, lo);
    EXPECT_EQ(loader.next()->ref.video, 0);
    const std::string msg = error_of([&] { loader.next(); });
    EXPECT_EQ(msg, broken + ": missing");
    EXPECT_EQ(loader.next()->ref.video, 2);  // the loader goes on after a failed clip
    EXPECT_FALSE(loader.next().has_value());
  }
  // A transform's exception is a DataError too.
  LoaderOptions lo;
  lo.threads = 1;
  ClipLoader loader(
      data.videos, spec, {{0, 0}}, [](Sample &) { throw std::runtime_error("prep: bad"); }, lo);
  EXPECT_EQ(error_of([&] { loader.next(); }), "prep: bad");
}

TEST(DatasetLoader, DestroyedWhilePrefetchingStopsCleanly) {
  LoaderData data;
  const ClipSpec spec = short_spec();
  std::vector<ClipRef> plan;
  for (int i = 0; i < 200; ++i) plan.push_back({i % int(data.videos.size()), i % 8});
  std::atomic<int> decoded{0};
  auto slow = [&](Sample &) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    ++decoded;
  };
  for (int taken : {0, 1, 5}) {
    decoded = 0;
    {
      LoaderOptions lo;
      lo.threads = 3;
      lo.prefetch = 4;
      ClipLoader loader(data.videos, spec, plan, slow, lo);
      for (int i = 0; i < taken; ++i) ASSERT_TRUE(loader.next().has_value());
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }  // must return (no hang) with the workers joined
    // Bounded prefetch: workers never ran far ahead of the consumer.
    EXPECT_LE(decoded.load(), taken + 4) << "taken " << taken;
  }
}

// ================================================================ saliency-make-dataset

namespace {

struct ToolRun {
  int code = -1;
  std::string output;  // stdout + stderr
};

ToolRun make_dataset(const std::string &args) {
  ToolRun r;
  const std::string cmd =
      testsupport::build_root() + "/model/tools/saliency-make-dataset " + args + " 2>&1";
  FILE *p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace

TEST(DatasetTool, MakeDatasetWritesTheLayoutAndFailsCleanly) {
  testsupport::TempDir tmp;
  const fs::path out = P(tmp) / "synth";
  ToolRun r = make_dataset(
      "--out " + out.string() +
      " --train-videos 2 --val-videos 1 --frames 5 --width 48 --height 32 --flow --quiet");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(fs::exists(out / "train" / "002" / "flow" / "0004.flo"));
  EXPECT_TRUE(fs::exists(out / "val" / "003" / "fixation" / "0005.png"));
  const cv::Mat frame = cv::imread((out / "val" / "003" / "images" / "0005.png").string());
  EXPECT_EQ(frame.size(), cv::Size(48, 32));

  r = make_dataset("--out " + out.string() + " --quiet");  // not empty now
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.output, "saliency-make-dataset: " + out.string() +
                          ": not empty (3 entries); pass --overwrite to replace it\n");
  EXPECT_TRUE(fs::exists(out / "train" / "002" / "flow" / "0004.flo"));

  // --overwrite replaces the dataset as a whole: one training video and no
  // flows now, so a merge would leave train/002 and the flow folders behind.
  r = make_dataset("--out " + out.string() +
                   " --train-videos 1 --val-videos 1 --frames 3 --width 48 --height 32 --overwrite "
                   "--quiet");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(tree(out).size(), 1u + 2u * 3u * 3u);  // synthetic.txt + 2 videos x 3 frames x 3 maps
  EXPECT_FALSE(fs::exists(out / "train" / "002"));
  EXPECT_FALSE(fs::exists(out / "val" / "003"));
  EXPECT_TRUE(fs::exists(out / "val" / "002" / "images" / "0003.png"));
  for (const auto &e : fs::directory_iterator(P(tmp)))
    EXPECT_EQ(e.path().filename().string().rfind(".synth", 0), std::string::npos)
        << "left: " << e.path();
  r = make_dataset("--out " + (P(tmp) / "x").string() + " --frames 1");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_FALSE(fs::exists(P(tmp) / "x"));
  r = make_dataset("--frames 4");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--out"), std::string::npos) << r.output;
}
