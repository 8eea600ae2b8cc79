// .flo reading/writing, end-point error and the colour wheel (flow/src/flo_io.cpp).
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <opencv2/video/tracking.hpp>

#include "salflow/flo_io.hpp"
#include "test_support.hpp"

namespace {

cv::Mat random_flow(int w, int h, std::uint64_t seed) {
  cv::Mat f(h, w, CV_32FC2);
  cv::RNG rng(seed);
  rng.fill(f, cv::RNG::UNIFORM, -50.0, 50.0);
  return f;
}

std::vector<char> read_bytes(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<char>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string &path, const std::vector<char> &bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::vector<char> header(const char magic[4], std::int32_t w, std::int32_t h) {
  std::vector<char> b(12);
  std::memcpy(b.data(), magic, 4);
  for (int i = 0; i < 4; ++i) {
    b[4 + i] = static_cast<char>((static_cast<std::uint32_t>(w) >> (8 * i)) & 0xff);
    b[8 + i] = static_cast<char>((static_cast<std::uint32_t>(h) >> (8 * i)) & 0xff);
  }
  return b;
}

// Asserts that reading `path` throws FlowFileError whose one-line message
// starts with the path and mentions `problem`.
void expect_read_error(const std::string &path, const std::string &problem) {
  try {
    flow::read_flo(path);
    ADD_FAILURE() << "read_flo(" << path << ") did not throw";
  } catch (const flow::FlowFileError &e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
    EXPECT_NE(msg.find(problem), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

bool bit_equal(const cv::Mat &a, const cv::Mat &b) {
  if (a.size() != b.size() || a.type() != b.type()) return false;
  for (int y = 0; y < a.rows; ++y)
    if (std::memcmp(a.ptr(y), b.ptr(y), a.cols * a.elemSize()) != 0) return false;
  return true;
}

}  // namespace

TEST(FloIo, RoundTripIsBitExact) {
  testsupport::TempDir tmp;
  cv::Mat flow_px = random_flow(37, 23, 1);
  flow_px.at<cv::Vec2f>(0, 0) = {1e9f, -1e9f};  // Middlebury "unknown"
  flow_px.at<cv::Vec2f>(1, 0) = {std::numeric_limits<float>::quiet_NaN(), -0.f};
  flow_px.at<cv::Vec2f>(2, 0) = {std::numeric_limits<float>::denorm_min(), 3.4e38f};
  flow::write_flo(tmp / "a.flo", flow_px);
  const cv::Mat back = flow::read_flo(tmp / "a.flo");
  EXPECT_TRUE(bit_equal(flow_px, back));
  EXPECT_EQ(std::filesystem::file_size(tmp / "a.flo"), 12u + 8u * 37u * 23u);
}

TEST(FloIo, WritesTheMiddleburyHeader) {
  testsupport::TempDir tmp;
  flow::write_flo(tmp / "h.flo", cv::Mat(2, 3, CV_32FC2, cv::Scalar(0.5, -0.25)));
  const std::vector<char> b = read_bytes(tmp / "h.flo");
  ASSERT_EQ(b.size(), 12u + 8u * 6u);
  EXPECT_EQ(std::string(b.data(), 4), "PIEH");
  float magic;
  std::memcpy(&magic, b.data(), 4);
  EXPECT_EQ(magic, 202021.25f);  // little-endian host
  EXPECT_EQ(b[4], 3);            // width
  EXPECT_EQ(b[8], 2);            // height
  float first[2];
  std::memcpy(first, b.data() + 12, 8);
  EXPECT_EQ(first[0], 0.5f);
  EXPECT_EQ(first[1], -0.25f);
}

// An independent reader: OpenCV's cv::readOpticalFlow reads our files and we read its.
TEST(FloIo, InteroperatesWithOpenCv) {
  testsupport::TempDir tmp;
  const cv::Mat flow_px = random_flow(16, 9, 2);
  flow::write_flo(tmp / "ours.flo", flow_px);
  EXPECT_TRUE(bit_equal(cv::readOpticalFlow(tmp / "ours.flo"), flow_px));
  ASSERT_TRUE(cv::writeOpticalFlow(tmp / "theirs.flo", flow_px));
  EXPECT_TRUE(bit_equal(flow::read_flo(tmp / "theirs.flo"), flow_px));
}

TEST(FloIo, WriteIsAtomicAndLeavesNoTemporaryFiles) {
  testsupport::TempDir tmp;
  flow::write_flo(tmp / "a.flo", random_flow(8, 8, 3));
  flow::write_flo(tmp / "a.flo", random_flow(4, 4, 4));  // replace
  EXPECT_EQ(flow::read_flo(tmp / "a.flo").size(), cv::Size(4, 4));
  int entries = 0;
  for (const auto &e : std::filesystem::directory_iterator(tmp.path())) {
    (void)e;
    ++entries;
  }
  EXPECT_EQ(entries, 1);
}

TEST(FloIo, WriteErrorsNameTheFile) {
  testsupport::TempDir tmp;
  const std::string missing_dir = tmp / "no/such/dir/a.flo";
  try {
    flow::write_flo(missing_dir, random_flow(4, 4, 5));
    ADD_FAILURE() << "no exception";
  } catch (const flow::FlowFileError &e) {
    EXPECT_EQ(std::string(e.what()).rfind(missing_dir + ": ", 0), 0u) << e.what();
  }
  EXPECT_THROW(flow::write_flo(tmp / "b.flo", cv::Mat(4, 4, CV_32FC1)), flow::FlowFileError);
  EXPECT_THROW(flow::write_flo(tmp / "c.flo", cv::Mat()), flow::FlowFileError);
  EXPECT_FALSE(std::filesystem::exists(tmp / "b.flo"));
}

TEST(FloIo, MissingFileAndDirectoryAreErrors) {
  testsupport::TempDir tmp;
  expect_read_error(tmp / "absent.flo", "no such file");
  expect_read_error(tmp.path(), "directory");
}

TEST(FloIo, BadMagicIsAnError) {
  testsupport::TempDir tmp;
  std::vector<char> b = header("PIEX", 2, 2);
  b.resize(12 + 8 * 4);
  write_bytes(tmp / "magic.flo", b);
  expect_read_error(tmp / "magic.flo", "magic");
  write_bytes(tmp / "png.flo", {'\x89', 'P', 'N', 'G', '\r', '\n', '\x1a', '\n', 0, 0, 0, 0, 0});
  expect_read_error(tmp / "png.flo", "magic");
}

TEST(FloIo, TruncatedFilesAreErrors) {
  testsupport::TempDir tmp;
  write_bytes(tmp / "empty.flo", {});
  expect_read_error(tmp / "empty.flo", "truncated");
  write_bytes(tmp / "short-header.flo", {'P', 'I', 'E', 'H', 3, 0});
  expect_read_error(tmp / "short-header.flo", "truncated");
  flow::write_flo(tmp / "whole.flo", random_flow(10, 7, 6));
  std::vector<char> b = read_bytes(tmp / "whole.flo");
  b.resize(b.size() - 1);
  write_bytes(tmp / "cut.flo", b);
  expect_read_error(tmp / "cut.flo", "truncated");
  b.resize(12);
  write_bytes(tmp / "header-only.flo", b);
  expect_read_error(tmp / "header-only.flo", "truncated");
}

TEST(FloIo, TrailingBytesAreAnError) {
  testsupport::TempDir tmp;
  flow::write_flo(tmp / "whole.flo", random_flow(5, 3, 7));
  std::vector<char> b = read_bytes(tmp / "whole.flo");
  b.push_back('x');
  write_bytes(tmp / "long.flo", b);
  expect_read_error(tmp / "long.flo", "trailing");
}

TEST(FloIo, ImplausibleDimensionsAreRejectedBeforeAllocating) {
  testsupport::TempDir tmp;
  const struct {
    std::int32_t w, h;
  } cases[] = {{0, 5}, {5, 0}, {-1, 5}, {5, -7}, {200000, 1}, {1, 200000},
               {100000, 100000},  // each side allowed, the product is not
               {std::numeric_limits<std::int32_t>::max(), std::numeric_limits<std::int32_t>::max()}};
  for (const auto &c : cases) {
    const std::string path = tmp / ("dims-" + std::to_string(c.w) + "x" + std::to_string(c.h));
    std::vector<char> b = header("PIEH", c.w, c.h);
    b.resize(b.size() + 64);  // some payload; far less than the header claims
    write_bytes(path, b);
    expect_read_error(path, "invalid dimensions");
  }
}

TEST(FloIo, ReadsTheSharedGroundTruth) {
  REQUIRE_SHARED_DATA(shared);
  const cv::Mat gt = flow::read_flo(shared + "/data/flow/sintel/clean/easy/gt/frame_0002.flo");
  EXPECT_EQ(gt.size(), cv::Size(1024, 436));
  EXPECT_TRUE(bit_equal(gt, cv::readOpticalFlow(shared + "/data/flow/sintel/clean/easy/gt/frame_0002.flo")));
  const cv::Mat chairs = flow::read_flo(shared + "/data/flow/flyingchairs/0000000-gt.flo");
  EXPECT_EQ(chairs.size(), cv::Size(512, 384));
}

// Zero flow scores the mean ground-truth magnitude: this checks the reader and
// the EPE against SOURCES.md's independently measured values.
TEST(EndpointError, ZeroFlowMatchesSourcesReference) {
  REQUIRE_SHARED_DATA(shared);
  const std::string d = shared + "/data/flow/";
  const struct {
    const char *file;
    double expected;
  } cases[] = {{"sintel/clean/easy/gt/frame_0002.flo", 2.98},
               {"sintel/clean/medium/gt/frame_0002.flo", 15.12},
               {"flyingchairs/0000000-gt.flo", 6.05},
               {"flyingchairs/0000001-gt.flo", 4.51},
               {"flyingchairs/0000002-gt.flo", 4.35}};
  for (const auto &c : cases) {
    const cv::Mat gt = flow::read_flo(d + c.file);
    const cv::Mat zero = cv::Mat::zeros(gt.size(), CV_32FC2);
    EXPECT_NEAR(flow::endpoint_error(zero, gt), c.expected, 0.01) << c.file;
  }
}

TEST(EndpointError, ConstantOffsetGivesItsLength) {
  const cv::Mat gt = random_flow(31, 17, 8);
  cv::Mat pred = gt + cv::Scalar(3.f, -4.f);
  EXPECT_NEAR(flow::endpoint_error(pred, gt), 5.0, 1e-5);
  EXPECT_DOUBLE_EQ(flow::endpoint_error(gt, gt), 0.0);
}

TEST(EndpointError, CountsOnlyValidAndKnownPixels) {
  cv::Mat gt(2, 2, CV_32FC2, cv::Scalar(0, 0));
  cv::Mat pred(2, 2, CV_32FC2, cv::Scalar(0, 0));
  pred.at<cv::Vec2f>(0, 0) = {1, 0};      // error 1
  pred.at<cv::Vec2f>(0, 1) = {0, 3};      // error 3, masked out below
  gt.at<cv::Vec2f>(1, 0) = {1e9f, 0};     // unknown: skipped
  pred.at<cv::Vec2f>(1, 0) = {100, 100};  // would be huge if counted
  pred.at<cv::Vec2f>(1, 1) = {0, 2};      // error 2
  EXPECT_NEAR(flow::endpoint_error(pred, gt), (1.0 + 3.0 + 2.0) / 3.0, 1e-9);
  cv::Mat valid(2, 2, CV_8UC1, cv::Scalar(255));
  valid.at<uchar>(0, 1) = 0;
  EXPECT_NEAR(flow::endpoint_error(pred, gt, valid), (1.0 + 2.0) / 2.0, 1e-9);
}

TEST(EndpointError, RejectsMismatchesAndEmptySelections) {
  const cv::Mat a = random_flow(4, 4, 9);
  EXPECT_THROW(flow::endpoint_error(a, random_flow(5, 4, 9)), std::invalid_argument);
  EXPECT_THROW(flow::endpoint_error(cv::Mat(4, 4, CV_32FC1), a), std::invalid_argument);
  EXPECT_THROW(flow::endpoint_error(a, a, cv::Mat(3, 3, CV_8UC1)), std::invalid_argument);
  EXPECT_THROW(flow::endpoint_error(a, a, cv::Mat::zeros(4, 4, CV_8UC1)), std::invalid_argument);
}

namespace {
cv::Vec3b colour_of(float u, float v, float max_magnitude = 1.f) {
  cv::Mat f(1, 1, CV_32FC2, cv::Scalar(u, v));
  cv::Mat bgr = flow::visualize_flow(f, max_magnitude);
  EXPECT_EQ(bgr.type(), CV_8UC3);
  return bgr.at<cv::Vec3b>(0, 0);
}
}  // namespace

// Hues of the Middlebury wheel (colorcode.cpp): +x red, -x cyan, +y (down)
// yellow-orange, -y blue-violet; saturation grows with magnitude.
TEST(VisualizeFlow, FollowsTheMiddleburyColourWheel) {
  const cv::Vec3b right = colour_of(1, 0);  // BGR
  EXPECT_EQ(right[2], 255);
  EXPECT_EQ(right[1], 0);
  EXPECT_LE(right[0], 43);  // the wheel's seam: MR's last entry (43) or RY's first (0)
  const cv::Vec3b left = colour_of(-1, 0);
  EXPECT_LT(left[2], 30);
  EXPECT_GT(left[1], 180);
  EXPECT_EQ(left[0], 255);
  const cv::Vec3b down = colour_of(0, 1);
  EXPECT_EQ(down[2], 255);
  EXPECT_GT(down[1], 180);
  EXPECT_LT(down[0], 30);
  const cv::Vec3b up = colour_of(0, -1);
  EXPECT_EQ(up[0], 255);
  EXPECT_LT(up[1], 30);
  EXPECT_LT(up[2], 128);
  EXPECT_EQ(colour_of(0, 0), cv::Vec3b(255, 255, 255));             // no motion: white
  const cv::Vec3b half = colour_of(0.5f, 0);                         // half way to white
  EXPECT_NEAR(half[1], 127, 1);
  const cv::Vec3b beyond = colour_of(2, 0);                          // out of range: darkened
  EXPECT_EQ(beyond[2], static_cast<uchar>(std::floor(255 * 0.75f)));
  EXPECT_EQ(colour_of(1e9f, 0), cv::Vec3b(0, 0, 0));                 // unknown: black
}

TEST(VisualizeFlow, NormalisesByTheLargestFiniteMagnitude) {
  cv::Mat f(1, 3, CV_32FC2, cv::Scalar(0, 0));
  f.at<cv::Vec2f>(0, 0) = {10, 0};
  f.at<cv::Vec2f>(0, 1) = {5, 0};
  f.at<cv::Vec2f>(0, 2) = {1e10f, 0};  // unknown: neither counted nor drawn
  const cv::Mat bgr = flow::visualize_flow(f);
  EXPECT_EQ(bgr.size(), f.size());
  EXPECT_EQ(bgr.at<cv::Vec3b>(0, 0), colour_of(1, 0));
  EXPECT_EQ(bgr.at<cv::Vec3b>(0, 1), colour_of(0.5f, 0));
  EXPECT_EQ(bgr.at<cv::Vec3b>(0, 2), cv::Vec3b(0, 0, 0));
  EXPECT_EQ(flow::visualize_flow(cv::Mat::zeros(3, 3, CV_32FC2)).at<cv::Vec3b>(1, 1),
            cv::Vec3b(255, 255, 255));
}
