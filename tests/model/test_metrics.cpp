// Tests of the benchmark metrics, the MAT-file and .npy readers, the training
// losses and the saliency-eval tool. Expected values come from hand
// computation (worked out in the comments), closed forms, an independent
// resampler (LibTorch's antialiased bicubic interpolation) and the reference
// values of ../shared/data/SOURCES.md.

#include <sys/wait.h>
#include <torch/torch.h>
#include <zlib.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <opencv2/imgcodecs.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "salmodel/losses.hpp"
#include "salmodel/mat_reader.hpp"
#include "salmodel/metrics.hpp"
#include "salmodel/saliency_io.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace model;
namespace mt = model::metrics;

namespace {

const char *kVideo = "saliency/ucf-sports/test/Diving-Side_001";

cv::Mat mat1d(std::initializer_list<double> v, int rows, int cols) {
  cv::Mat m(rows, cols, CV_64F);
  int i = 0;
  for (double x : v) m.at<double>(i / cols, i % cols) = x, i++;
  return m;
}

// ---------------------------------------------------------------- MAT-file builder
// Builds level-5 MAT-files by hand for the reader tests: one function per
// element kind, in the layout of the MathWorks "MAT-File Format" document.
class MatWriter {
 public:
  explicit MatWriter(bool big_endian = false) : big_(big_endian) {
    std::string text = "MATLAB 5.0 MAT-file, written by test_metrics";
    text.resize(116, ' ');
    bytes_.assign(text.begin(), text.end());
    bytes_.resize(124, 0);  // subsystem offset
    put16(bytes_, 0x0100);
    bytes_.push_back(big_ ? 'M' : 'I');
    bytes_.push_back(big_ ? 'I' : 'M');
  }
  // A matrix element; `data` holds the real part already encoded as `type`.
  std::vector<unsigned char> matrix(const std::string &name, unsigned cls, unsigned flags,
                                    std::vector<int> dims, unsigned type,
                                    const std::vector<unsigned char> &data) const {
    std::vector<unsigned char> body;
    std::vector<unsigned char> f;
    put32(f, cls | flags);
    put32(f, 0);
    element(body, 6, f);  // miUINT32 array flags
    std::vector<unsigned char> d;
    for (int x : dims) put32(d, static_cast<unsigned>(x));
    element(body, 5, d);                                                     // miINT32 dimensions
    element(body, 1, std::vector<unsigned char>(name.begin(), name.end()));  // miINT8 name
    element(body, type, data);
    std::vector<unsigned char> out;
    element(out, 14, body);
    return out;
  }
  // `values` in MATLAB column-major order, encoded as data type `type`.
  std::vector<unsigned char> encode(const std::vector<double> &values, unsigned type) const {
    std::vector<unsigned char> out;
    for (double v : values) {
      unsigned char b[8];
      std::size_t n = 0;
      switch (type) {
        case 1: {
          std::int8_t x = static_cast<std::int8_t>(v);
          std::memcpy(b, &x, n = 1);
          break;
        }
        case 2: {
          std::uint8_t x = static_cast<std::uint8_t>(v);
          std::memcpy(b, &x, n = 1);
          break;
        }
        case 3: {
          std::int16_t x = static_cast<std::int16_t>(v);
          std::memcpy(b, &x, n = 2);
          break;
        }
        case 4: {
          std::uint16_t x = static_cast<std::uint16_t>(v);
          std::memcpy(b, &x, n = 2);
          break;
        }
        case 5: {
          std::int32_t x = static_cast<std::int32_t>(v);
          std::memcpy(b, &x, n = 4);
          break;
        }
        case 7: {
          float x = static_cast<float>(v);
          std::memcpy(b, &x, n = 4);
          break;
        }
        case 9: {
          std::memcpy(b, &v, n = 8);
          break;
        }
        case 12: {
          std::int64_t x = static_cast<std::int64_t>(v);
          std::memcpy(b, &x, n = 8);
          break;
        }
        default:
          ADD_FAILURE() << "encode: type " << type;
      }
      if (big_) std::reverse(b, b + n);  // the host is little-endian (x86/arm64 builds)
      out.insert(out.end(), b, b + n);
    }
    return out;
  }
  void add(const std::vector<unsigned char> &element_bytes) {
    bytes_.insert(bytes_.end(), element_bytes.begin(), element_bytes.end());
  }
  void add_compressed(const std::vector<unsigned char> &element_bytes) {
    uLongf len = compressBound(element_bytes.size());
    std::vector<unsigned char> z(len);
    compress2(z.data(), &len, element_bytes.data(), element_bytes.size(), 6);
    z.resize(len);
    std::vector<unsigned char> tag;
    put32(tag, 15);
    put32(tag, static_cast<unsigned>(z.size()));
    bytes_.insert(bytes_.end(), tag.begin(), tag.end());
    bytes_.insert(bytes_.end(), z.begin(), z.end());  // not padded
  }
  const std::vector<unsigned char> &bytes() const { return bytes_; }

 private:
  void put16(std::vector<unsigned char> &o, unsigned v) const {
    if (big_)
      o.insert(o.end(), {static_cast<unsigned char>(v >> 8), static_cast<unsigned char>(v)});
    else
      o.insert(o.end(), {static_cast<unsigned char>(v), static_cast<unsigned char>(v >> 8)});
  }
  void put32(std::vector<unsigned char> &o, unsigned v) const {
    for (int i = 0; i < 4; i++)
      o.push_back(static_cast<unsigned char>(v >> (big_ ? 24 - 8 * i : 8 * i)));
  }
  void element(std::vector<unsigned char> &o, unsigned type,
               const std::vector<unsigned char> &data) const {
    if (data.size() <= 4 && type != 14) {  // small data element
      put32(o, (static_cast<unsigned>(data.size()) << 16) | type);
      std::vector<unsigned char> d = data;
      d.resize(4, 0);
      o.insert(o.end(), d.begin(), d.end());
      return;
    }
    put32(o, type);
    put32(o, static_cast<unsigned>(data.size()));
    o.insert(o.end(), data.begin(), data.end());
    o.resize(o.size() + (8 - data.size() % 8) % 8, 0);
  }
  bool big_;
  std::vector<unsigned char> bytes_;
};

// [1 2 3; 4 5 6] in MATLAB column-major order.
const std::vector<double> k2x3 = {1, 4, 2, 5, 3, 6};

void expect_2x3(const cv::Mat &m) {
  ASSERT_EQ(m.rows, 2);
  ASSERT_EQ(m.cols, 3);
  ASSERT_EQ(m.type(), CV_64F);
  EXPECT_EQ(m.at<double>(0, 0), 1);
  EXPECT_EQ(m.at<double>(0, 1), 2);
  EXPECT_EQ(m.at<double>(0, 2), 3);
  EXPECT_EQ(m.at<double>(1, 0), 4);
  EXPECT_EQ(m.at<double>(1, 2), 6);
}

std::string error_of(const std::function<void()> &f) {
  try {
    f();
  } catch (const ModelError &e) {
    return e.what();
  }
  return "<no ModelError>";
}

}  // namespace

// ================================================================ MAT reader

TEST(MatReader, ReadsUncompressedDoubleColumnMajor) {
  MatWriter w;
  w.add(w.matrix("A", 6, 0, {2, 3}, 9, w.encode(k2x3, 9)));
  expect_2x3(read_mat_variable_from_memory(w.bytes(), "A", "mem.mat"));
}

TEST(MatReader, ReadsEveryStorageTypeAndClass) {
  // MATLAB stores small integer-valued doubles in narrower types; logical is
  // class uint8 with flag 0x200.
  struct Case {
    unsigned cls, flags, type;
  };
  for (Case c : {Case{6, 0, 2}, Case{6, 0, 3}, Case{6, 0, 4}, Case{7, 0, 7}, Case{8, 0, 1},
                 Case{9, 0x200, 2}, Case{10, 0, 3}, Case{12, 0, 5}, Case{14, 0, 12}}) {
    MatWriter w;
    w.add(w.matrix("v", c.cls, c.flags, {2, 3}, c.type, w.encode(k2x3, c.type)));
    SCOPED_TRACE("class " + std::to_string(c.cls) + " type " + std::to_string(c.type));
    expect_2x3(read_mat_variable_from_memory(w.bytes(), "v", "mem.mat"));
  }
}

TEST(MatReader, ReadsNegativeAndFractionalValues) {
  MatWriter w;
  w.add(w.matrix("n", 10, 0, {1, 3}, 3, w.encode({-3, 0, 32767}, 3)));
  w.add(w.matrix("f", 7, 0, {1, 2}, 7, w.encode({0.5, -2.25}, 7)));
  const cv::Mat n = read_mat_variable_from_memory(w.bytes(), "n", "mem.mat");
  EXPECT_EQ(n.at<double>(0, 0), -3);
  EXPECT_EQ(n.at<double>(0, 2), 32767);
  const cv::Mat f = read_mat_variable_from_memory(w.bytes(), "f", "mem.mat");
  EXPECT_EQ(f.at<double>(0, 1), -2.25);
}

TEST(MatReader, ReadsCompressedAndBigEndianAndSkipsOtherVariables) {
  for (bool big : {false, true}) {
    MatWriter w(big);
    w.add_compressed(w.matrix("other", 6, 0, {1, 2}, 9, w.encode({7, 8}, 9)));
    w.add_compressed(w.matrix("I", 9, 0x200, {2, 3}, 2, w.encode(k2x3, 2)));
    w.add(w.matrix("last", 6, 0, {1, 1}, 9, w.encode({1}, 9)));
    SCOPED_TRACE(big ? "big-endian" : "little-endian");
    expect_2x3(read_mat_variable_from_memory(w.bytes(), "I", "mem.mat"));
    EXPECT_EQ(read_mat_variable_from_memory(w.bytes(), "last", "mem.mat").at<double>(0, 0), 1);
  }
}

TEST(MatReader, AcceptsTrailingSingletonDimensionsAndEmptyArrays) {
  MatWriter w;
  w.add(w.matrix("A", 6, 0, {2, 3, 1}, 9, w.encode(k2x3, 9)));
  w.add(w.matrix("E", 6, 0, {0, 0}, 9, {}));
  expect_2x3(read_mat_variable_from_memory(w.bytes(), "A", "mem.mat"));
  EXPECT_TRUE(read_mat_variable_from_memory(w.bytes(), "E", "mem.mat").empty());
}

TEST(MatReader, MissingVariableListsThePresentOnes) {
  MatWriter w;
  w.add(w.matrix("alpha", 6, 0, {1, 1}, 9, w.encode({1}, 9)));
  w.add_compressed(w.matrix("beta", 6, 0, {1, 1}, 9, w.encode({2}, 9)));
  const std::string msg = error_of([&] { read_mat_variable_from_memory(w.bytes(), "I", "x.mat"); });
  EXPECT_EQ(msg, "x.mat: variable 'I' not found (variables: alpha, beta)");
}

TEST(MatReader, RejectsUnsupportedForms) {
  const auto read = [](const std::vector<unsigned char> &b) {
    return error_of([&] { read_mat_variable_from_memory(b, "v", "bad.mat"); });
  };
  {
    MatWriter w;  // complex flag
    w.add(w.matrix("v", 6, 0x800, {1, 2}, 9, w.encode({1, 2}, 9)));
    EXPECT_NE(read(w.bytes()).find("bad.mat: variable 'v' is complex"), std::string::npos);
  }
  {
    MatWriter w;  // 3-D
    w.add(w.matrix("v", 6, 0, {1, 2, 2}, 9, w.encode({1, 2, 3, 4}, 9)));
    EXPECT_NE(read(w.bytes()).find("only 2-D"), std::string::npos);
  }
  {
    MatWriter w;  // a char array
    w.add(w.matrix("v", 4, 0, {1, 2}, 4, w.encode({65, 66}, 4)));
    EXPECT_NE(read(w.bytes()).find("is a char array"), std::string::npos);
  }
  {
    MatWriter w;  // data size disagrees with the dimensions
    w.add(w.matrix("v", 6, 0, {2, 3}, 9, w.encode({1, 2, 3, 4, 5}, 9)));
    EXPECT_NE(read(w.bytes()).find("real part holds 40 bytes, expected 48"), std::string::npos);
  }
  {
    MatWriter w;  // a data element claiming more bytes than the file holds
    std::vector<unsigned char> m = w.matrix("v", 6, 0, {1, 1}, 9, w.encode({1}, 9));
    m[4] = 0xff;  // byte count of the miMATRIX element (little-endian low byte)
    m[5] = 0xff;
    w.add(m);
    EXPECT_NE(read(w.bytes()).find("bad.mat: truncated or corrupt file"), std::string::npos);
  }
  std::vector<unsigned char> v73(128, ' ');
  const char *hdr = "MATLAB 7.3 MAT-file";
  std::memcpy(v73.data(), hdr, std::strlen(hdr));
  v73[124] = 0x00;
  v73[125] = 0x02;
  v73[126] = 'I';
  v73[127] = 'M';
  EXPECT_NE(read(v73).find("v7.3 (HDF5)"), std::string::npos);
  EXPECT_NE(read({'h', 'e', 'l', 'l', 'o'}).find("bad.mat: not a MATLAB level-5 MAT-file"),
            std::string::npos);
  EXPECT_EQ(error_of([] { read_mat_variable("/nonexistent/x.mat", "I"); }),
            "/nonexistent/x.mat: cannot open file");
}

TEST(MatReader, EveryTruncationAndRandomCorruptionFailsCleanly) {
  MatWriter w;
  w.add(w.matrix("a", 6, 0, {2, 3}, 9, w.encode(k2x3, 9)));
  w.add_compressed(w.matrix("I", 9, 0x200, {2, 3}, 2, w.encode(k2x3, 2)));
  const std::vector<unsigned char> good = w.bytes();
  // Every proper prefix: the reader must throw ModelError (never crash or
  // return garbage), except prefixes that still contain the whole variable.
  std::size_t threw = 0;
  for (std::size_t n = 0; n < good.size(); n++) {
    std::vector<unsigned char> cut(good.begin(), good.begin() + n);
    try {
      expect_2x3(read_mat_variable_from_memory(cut, "I", "cut.mat"));
      ADD_FAILURE() << "prefix of " << n << " bytes of " << good.size() << " read successfully";
    } catch (const ModelError &e) {
      EXPECT_EQ(std::string(e.what()).rfind("cut.mat: ", 0), 0u) << e.what();
      threw++;
    }
  }
  EXPECT_EQ(threw, good.size());
  // Random byte flips after the header: success or ModelError, nothing else.
  std::mt19937 rng(7);
  int errors = 0;
  for (int trial = 0; trial < 3000; trial++) {
    std::vector<unsigned char> bad = good;
    for (int k = 0; k < 3; k++)
      bad[128 + rng() % (bad.size() - 128)] = static_cast<unsigned char>(rng());
    try {
      read_mat_variable_from_memory(bad, "I", "fuzz.mat");
    } catch (const ModelError &) {
      errors++;
    }
  }
  EXPECT_GT(errors, 0);
}

TEST(MatReader, SharedFixationMatsEqualTheFixationPngs) {
  REQUIRE_SHARED_DATA(shared);
  const fs::path dir = fs::path(shared) / "data" / kVideo / "fixation";
  const auto vars = list_mat_variables((dir / "maps" / "0010.mat").string());
  ASSERT_EQ(vars.size(), 1u);
  EXPECT_EQ(vars[0].name, "I");
  EXPECT_EQ(vars[0].dims, (std::vector<int>{404, 720}));
  for (int i = 1; i <= 55; i++) {
    char name[16];
    std::snprintf(name, sizeof name, "%04d", i);
    const cv::Mat mat =
        read_mat_variable((dir / "maps" / (std::string(name) + ".mat")).string(), "I");
    const cv::Mat png =
        cv::imread((dir / (std::string(name) + ".png")).string(), cv::IMREAD_GRAYSCALE);
    ASSERT_EQ(mat.size(), png.size()) << name;
    cv::Mat mat_on, png_on;
    cv::compare(mat, 0, mat_on, cv::CMP_NE);
    cv::compare(png, 0, png_on, cv::CMP_NE);
    ASSERT_GT(cv::countNonZero(mat_on), 0) << name;
    EXPECT_EQ(cv::countNonZero(mat_on != png_on), 0) << name;
    double lo, hi;
    cv::minMaxLoc(mat, &lo, &hi);
    EXPECT_EQ(lo, 0);
    EXPECT_EQ(hi, 1);  // variable I holds 0/1
  }
}

// ================================================================ .npy and GT readers

namespace {
void write_npy(const std::string &path, const std::string &descr, bool fortran,
               const std::string &shape, const std::vector<unsigned char> &data) {
  std::string header = "{'descr': '" + descr +
                       "', 'fortran_order': " + (fortran ? "True" : "False") +
                       ", 'shape': " + shape + ", }";
  header.resize((header.size() + 11 + 63) / 64 * 64 - 11, ' ');
  header += '\n';
  std::ofstream out(path, std::ios::binary);
  out.write("\x93NUMPY\x01\x00", 8);
  const unsigned short len = static_cast<unsigned short>(header.size());
  out.put(static_cast<char>(len & 0xff));
  out.put(static_cast<char>(len >> 8));
  out << header;
  out.write(reinterpret_cast<const char *>(data.data()), static_cast<std::streamsize>(data.size()));
}
template <typename T>
std::vector<unsigned char> raw(const std::vector<T> &v) {
  std::vector<unsigned char> b(v.size() * sizeof(T));
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}
}  // namespace

TEST(SaliencyIo, ReadsNpyInCAndFortranOrder) {
  testsupport::TempDir tmp;
  write_npy(tmp / "c.npy", "<f4", false, "(2, 3)", raw(std::vector<float>{1, 2, 3, 4, 5, 6}));
  write_npy(tmp / "f.npy", "<f8", true, "(2, 3)", raw(std::vector<double>(k2x3)));
  write_npy(tmp / "c1.npy", "|u1", false, "(2, 3, 1)",
            raw(std::vector<unsigned char>{1, 2, 3, 4, 5, 6}));
  expect_2x3(read_npy(tmp / "c.npy"));
  expect_2x3(read_npy(tmp / "f.npy"));
  expect_2x3(read_prediction_map(tmp / "c1.npy"));
}

TEST(SaliencyIo, BadNpyAndImagesNameTheFile) {
  testsupport::TempDir tmp;
  write_npy(tmp / "short.npy", "<f4", false, "(2, 3)", raw(std::vector<float>{1, 2, 3}));
  write_npy(tmp / "cplx.npy", "<c8", false, "(1, 1)", raw(std::vector<float>{1, 2}));
  write_npy(tmp / "3d.npy", "<f4", false, "(2, 2, 2)", raw(std::vector<float>(8, 0)));
  EXPECT_EQ(error_of([&] {
              read_npy(tmp / "short.npy");
            }).rfind(tmp / "short.npy: data size mismatch", 0),
            0u);
  EXPECT_NE(error_of([&] { read_npy(tmp / "cplx.npy"); }).find("unsupported dtype"),
            std::string::npos);
  EXPECT_NE(error_of([&] { read_npy(tmp / "3d.npy"); }).find("expected a 2-D array"),
            std::string::npos);
  std::ofstream(tmp / "junk.png") << "not a png";
  EXPECT_EQ(error_of([&] { read_prediction_map(tmp / "junk.png"); }),
            tmp / "junk.png: cannot decode image (corrupt or unsupported format)");
  EXPECT_EQ(error_of([&] { read_fixation_map(tmp / "missing.png"); }),
            tmp / "missing.png: no such file");
}

TEST(SaliencyIo, GroundTruthMapsAreScaledLikeIm2double) {
  testsupport::TempDir tmp;
  cv::Mat img(2, 2, CV_8U);
  img.at<unsigned char>(0, 0) = 0;
  img.at<unsigned char>(0, 1) = 51;
  img.at<unsigned char>(1, 0) = 255;
  img.at<unsigned char>(1, 1) = 7;
  cv::imwrite(tmp / "m.png", img);
  const cv::Mat g = read_saliency_map(tmp / "m.png");
  EXPECT_DOUBLE_EQ(g.at<double>(0, 1), 0.2);
  EXPECT_DOUBLE_EQ(g.at<double>(1, 0), 1.0);
  const cv::Mat p = read_prediction_map(tmp / "m.png");  // unscaled, as the DHF1K code
  EXPECT_EQ(p.at<double>(0, 1), 51);
  const cv::Mat f = read_fixation_map(tmp / "m.png");
  EXPECT_EQ(f.type(), CV_8U);
  EXPECT_EQ(cv::countNonZero(f), 3);
  EXPECT_EQ(f.at<unsigned char>(1, 1), 1);
}

// ================================================================ resizing helpers

TEST(MatlabImresize, UpscalesARampLikeMatlabByHand) {
  // imresize([1 2 3 4], [1 8]): scale 2, u = x/2 + 0.25. For x = 1, u = 0.75,
  // taps -2..3 at distances 2.75 1.75 0.75 -0.25 -1.25 -2.25 with cubic weights
  // 0, -0.0234375, 0.2265625, 0.8671875, -0.0703125, 0; taps -1 and 0 mirror to
  // 2 and 1, so out(1) = -0.0234375*2 + 0.2265625*1 + 0.8671875*1 - 0.0703125*2
  // = 0.90625. By the same symmetry out(8) = 5 - 0.90625 = 4.09375.
  const cv::Mat out = mt::imresize_bicubic(mat1d({1, 2, 3, 4}, 1, 4), cv::Size(8, 1));
  ASSERT_EQ(out.size(), cv::Size(8, 1));
  EXPECT_NEAR(out.at<double>(0, 0), 0.90625, 1e-12);
  EXPECT_NEAR(out.at<double>(0, 7), 4.09375, 1e-12);
  // Interior samples of a ramp are exact (the Keys kernel reproduces lines):
  // x = 4: u = 2.25 -> 2.25.
  EXPECT_NEAR(out.at<double>(0, 3), 2.25, 1e-12);
}

TEST(MatlabImresize, PreservesConstantsAndSkipsEqualSizes) {
  const cv::Mat c(37, 53, CV_32F, cv::Scalar(3.5));
  for (cv::Size s : {cv::Size(11, 7), cv::Size(120, 90), cv::Size(53, 12)}) {
    const cv::Mat r = mt::imresize_bicubic(c, s);
    double lo, hi;
    cv::minMaxLoc(r, &lo, &hi);
    EXPECT_NEAR(lo, 3.5, 1e-12);
    EXPECT_NEAR(hi, 3.5, 1e-12);
  }
  cv::Mat rnd(5, 6, CV_64F);
  cv::randu(rnd, 0, 1);
  EXPECT_EQ(cv::norm(mt::prediction_at(rnd, rnd.size()), rnd, cv::NORM_INF), 0.0);
}

TEST(MatlabImresize, InteriorMatchesTorchAntialiasedBicubic) {
  // PyTorch's antialiased bicubic uses the same kernel (a = -0.5), the same
  // 1/scale stretching and the same sample positions as MATLAB; only the
  // borders differ (it truncates the kernel, MATLAB mirrors). So away from the
  // borders the two independent implementations must agree.
  torch::manual_seed(3);
  const int h = 40, w = 50;
  const torch::Tensor t = torch::rand({1, 1, h, w}, torch::kFloat64);
  const cv::Mat src(h, w, CV_64F, t.data_ptr<double>());
  for (cv::Size out : {cv::Size(23, 17), cv::Size(77, 91), cv::Size(31, 64)}) {
    const cv::Mat mine = mt::imresize_bicubic(src, out);
    const torch::Tensor ref =
        torch::nn::functional::interpolate(t, torch::nn::functional::InterpolateFuncOptions()
                                                  .size(std::vector<int64_t>{out.height, out.width})
                                                  .mode(torch::kBicubic)
                                                  .align_corners(false)
                                                  .antialias(true));
    const auto interior = [](int i, int in, int outn) {
      const double s = static_cast<double>(outn) / in;
      const double centre = (i + 0.5) / s - 0.5, half = s < 1 ? 2.0 / s : 2.0;
      return centre - half >= 0 && centre + half <= in - 1;
    };
    int compared = 0;
    for (int y = 0; y < out.height; y++)
      for (int x = 0; x < out.width; x++) {
        if (!interior(y, h, out.height) || !interior(x, w, out.width)) continue;
        EXPECT_NEAR(mine.at<double>(y, x), ref[0][0][y][x].item<double>(), 1e-9)
            << out << " at " << x << "," << y;
        compared++;
      }
    EXPECT_GT(compared, out.area() / 4) << out;
  }
}

TEST(MatlabColon, BuildsThresholdGridsSymmetricallyLikeMatlab) {
  // 0:0.1:1 has 11 elements: the first half a + k d, the second half 1 - k d,
  // the middle (a + b) / 2.
  const auto v = mt::matlab_colon(0, 0.1, 1);
  ASSERT_EQ(v.size(), 11u);
  EXPECT_EQ(v[0], 0.0);
  EXPECT_EQ(v[3], 3 * 0.1);  // 0.30000000000000004
  EXPECT_EQ(v[5], 0.5);
  EXPECT_EQ(v[7], 1.0 - 3 * 0.1);  // 0.7 built from the end
  EXPECT_EQ(v[10], 1.0);
  const auto w = mt::matlab_colon(0, 0.1, 0.95);  // stops at 0.9
  ASSERT_EQ(w.size(), 10u);
  EXPECT_EQ(w.back(), 9 * 0.1);
  EXPECT_EQ(mt::matlab_colon(0, 0.1, 0).size(), 1u);
  EXPECT_TRUE(mt::matlab_colon(0, 0.1, -1).empty());
}

TEST(RescaleFixations, KeepsEveryFixationWhenUpscalingAndIsIdentityAtSameSize) {
  cv::Mat f(36, 64, CV_8U, cv::Scalar(0));
  f.at<unsigned char>(0, 0) = 1;
  f.at<unsigned char>(35, 63) = 255;
  f.at<unsigned char>(10, 20) = 1;
  const cv::Mat up = mt::rescale_fixations(f, cv::Size(72, 40));
  EXPECT_EQ(cv::countNonZero(up), 3);
  EXPECT_EQ(up.at<unsigned char>(39, 71), 1);
  EXPECT_EQ(up.at<unsigned char>(11, 23), 1);  // floor(10.5 * 40/36) = 11, floor(20.5 * 72/64) = 23
  EXPECT_EQ(cv::countNonZero(mt::rescale_fixations(f, f.size()) != (f > 0) / 255), 0);
}

// ================================================================ metrics

TEST(Metrics, CcOfAMapWithItselfIsOneAndWithItsNegationMinusOne) {
  cv::Mat m(20, 30, CV_32F);
  cv::randu(m, 0, 1);
  EXPECT_NEAR(mt::cc(m, m), 1.0, 1e-12);
  EXPECT_NEAR(mt::cc(-m, m), -1.0, 1e-12);
  EXPECT_NEAR(mt::cc(m * 255 + 3, m), 1.0, 1e-12);  // scale invariant
  EXPECT_TRUE(std::isnan(mt::cc(cv::Mat(20, 30, CV_32F, cv::Scalar(1)), m)));
  // Hand case: x = 1 2 3 4, y = 1 3 2 4: r = 4 / 5 = 0.8.
  EXPECT_NEAR(mt::cc(mat1d({1, 2, 3, 4}, 2, 2), mat1d({1, 3, 2, 4}, 2, 2)), 0.8, 1e-12);
}

TEST(Metrics, KlAndSimByHand) {
  cv::Mat m(20, 30, CV_64F);
  cv::randu(m, 0.1, 1);
  EXPECT_NEAR(mt::kl(m, m), 0.0, 1e-12);
  EXPECT_NEAR(mt::sim(m, m), 1.0, 1e-12);
  // KL: P uniform over 4 pixels, G all on one: 1 * ln(eps + 1 / (1/4 + eps)) = ln 4.
  EXPECT_NEAR(mt::kl(mat1d({1, 1, 1, 1}, 2, 2), mat1d({1, 0, 0, 0}, 2, 2)), std::log(4.0), 1e-12);
  // SIM: P = 0 1 2 3 -> (min-max) 0 1/3 2/3 1 -> (sum) 0 1/6 1/3 1/2;
  // G = 3 2 1 0 -> 1/2 1/3 1/6 0; sum of minima 0 + 1/6 + 1/6 + 0 = 1/3.
  EXPECT_NEAR(mt::sim(mat1d({0, 1, 2, 3}, 2, 2), mat1d({3, 2, 1, 0}, 2, 2)), 1.0 / 3, 1e-12);
  // An all-zero prediction stays zero (similarity.m's any() guard): SIM 0.
  EXPECT_EQ(mt::sim(cv::Mat::zeros(2, 2, CV_64F), mat1d({3, 2, 1, 0}, 2, 2)), 0.0);
}

TEST(Metrics, NssByHandIgnoresFixationCounts) {
  // P = 1 2 3 4: mean 2.5, std (N-1) sqrt(5/3); the fixation on 4 scores
  // 1.5 / sqrt(5/3) = 1.161895...
  const cv::Mat p = mat1d({1, 2, 3, 4}, 2, 2);
  EXPECT_NEAR(mt::nss(p, mat1d({0, 0, 0, 1}, 2, 2)), 1.5 / std::sqrt(5.0 / 3.0), 1e-12);
  EXPECT_NEAR(mt::nss(p, mat1d({0, 0, 0, 5}, 2, 2)), 1.5 / std::sqrt(5.0 / 3.0), 1e-12);
  // Fixations on 1 and 4 average to 0.
  EXPECT_NEAR(mt::nss(p, mat1d({1, 0, 0, 1}, 2, 2)), 0.0, 1e-12);
  EXPECT_TRUE(std::isnan(mt::nss(p, cv::Mat::zeros(2, 2, CV_8U))));
}

TEST(Metrics, AucJuddByHandWithoutJitter) {
  // S = 0 .25 .5 .75 1 after min-max; fixations on 1 and .5 (Nf 2, Np 5).
  // thr 1: tp 1/2, fp (1-1)/3 = 0; thr .5: tp 1, fp (3-2)/3 = 1/3.
  // trapz over (0,0) (0,.5) (1/3,1) (1,1) = 0 + 1/3 * 3/4 + 2/3 * 1 = 11/12.
  const cv::Mat p = mat1d({0.1, 0.2, 0.3, 0.4, 0.5}, 1, 5);
  const cv::Mat f = mat1d({0, 0, 1, 0, 1}, 1, 5);
  EXPECT_NEAR(mt::auc_judd(p, f, 0, /*jitter=*/false), 11.0 / 12.0, 1e-12);
  EXPECT_TRUE(std::isnan(mt::auc_judd(p, cv::Mat::zeros(1, 5, CV_8U), 0)));
}

TEST(Metrics, AucJuddEqualsADirectTranscriptionOfTheMatlabLoopOnTiedValues) {
  // Quantised values (many ties) without jitter: the threshold sweep must
  // count S >= thresh exactly as AUC_Judd.m's loop does.
  std::mt19937 rng(4);
  cv::Mat p(30, 40, CV_64F), f(30, 40, CV_8U, cv::Scalar(0));
  for (int i = 0; i < p.rows * p.cols; i++) p.at<double>(i / 40, i % 40) = rng() % 8;
  for (int i = 0; i < 60; i++) f.at<unsigned char>(rng() % 30, rng() % 40) = 1;
  std::vector<double> s, sth;
  for (int i = 0; i < p.rows * p.cols; i++) {
    s.push_back(p.at<double>(i / 40, i % 40) / 7.0);  // min-max: min 0, max 7
    if (f.at<unsigned char>(i / 40, i % 40)) sth.push_back(s.back());
  }
  std::sort(sth.rbegin(), sth.rend());
  const double nf = static_cast<double>(sth.size()), np = static_cast<double>(s.size());
  std::vector<double> tp = {0}, fp = {0};
  for (std::size_t i = 1; i <= sth.size(); i++) {
    const double above = static_cast<double>(
        std::count_if(s.begin(), s.end(), [&](double x) { return x >= sth[i - 1]; }));
    tp.push_back(i / nf);
    fp.push_back((above - i) / (np - nf));
  }
  tp.push_back(1);
  fp.push_back(1);
  double area = 0;
  for (std::size_t i = 1; i < tp.size(); i++) area += (fp[i] - fp[i - 1]) * (tp[i] + tp[i - 1]) / 2;
  EXPECT_NEAR(mt::auc_judd(p, f, 0, /*jitter=*/false), area, 1e-12);
}

TEST(Metrics, AucJuddOfPerfectAndConstantMapsWithSeededJitter) {
  cv::Mat fix(100, 100, CV_8U, cv::Scalar(0));
  std::mt19937 rng(11);
  for (int i = 0; i < 200; i++) fix.at<unsigned char>(rng() % 100, rng() % 100) = 1;
  cv::Mat perfect;
  fix.convertTo(perfect, CV_64F);
  EXPECT_GT(mt::auc_judd(perfect, fix, 1), 0.999);
  const cv::Mat constant(100, 100, CV_64F, cv::Scalar(0.3));
  const double a = mt::auc_judd(constant, fix, 1), b = mt::auc_judd(constant, fix, 2);
  EXPECT_NEAR(a, 0.5, 0.08);  // the jitter alone orders the pixels: chance level
  EXPECT_NEAR(b, 0.5, 0.08);
  EXPECT_NE(a, b);                               // the seed drives the jitter
  EXPECT_EQ(a, mt::auc_judd(constant, fix, 1));  // and fixes it
  EXPECT_TRUE(std::isnan(mt::auc_judd(constant, fix, 1, /*jitter=*/false)));
}

TEST(Metrics, ShuffledAucByHandAndProperties) {
  // Pixels 1 (fix), .35 (fix), .55 (other), .05 (other), 0. Thresholds 1:-0.1:0:
  // tp is 1/2 until the .3 threshold, then 1; fp is 0 until .5, 1/2 until 0,
  // then 1. Area: 1/2 * 1/2 + 1/2 * 1 = 0.75.
  const cv::Mat p = mat1d({1.0, 0.35, 0.55, 0.05, 0.0}, 1, 5);
  const cv::Mat f = mat1d({1, 1, 0, 0, 0}, 1, 5);
  const cv::Mat o = mat1d({0, 0, 1, 1, 0}, 1, 5);
  EXPECT_NEAR(mt::auc_shuffled(p, f, o, 5), 0.75, 1e-12);
  // Negatives drawn from the fixations themselves: tp == fp, area 1/2 exactly.
  EXPECT_NEAR(mt::auc_shuffled(p, f, f, 5), 0.5, 1e-12);
  EXPECT_TRUE(std::isnan(mt::auc_shuffled(p, f, cv::Mat::zeros(1, 5, CV_8U), 5)));
  EXPECT_THROW(mt::auc_shuffled(p, f, cv::Mat::zeros(2, 5, CV_8U), 5), ModelError);

  // Perfect separation scores 1; subsampling is seeded.
  cv::Mat fix(60, 80, CV_8U, cv::Scalar(0)), other(60, 80, CV_8U, cv::Scalar(0));
  std::mt19937 rng(5);
  for (int i = 0; i < 40; i++) fix.at<unsigned char>(rng() % 30, rng() % 80) = 1;
  for (int i = 0; i < 400; i++) other.at<unsigned char>(30 + rng() % 30, rng() % 80) = 1;
  cv::Mat pred;
  fix.convertTo(pred, CV_64F);
  EXPECT_NEAR(mt::auc_shuffled(pred, fix, other, 9), 1.0, 1e-12);
  cv::Mat noisy(60, 80, CV_64F);
  cv::randu(noisy, 0, 1);
  const double s1 = mt::auc_shuffled(noisy, fix, other, 1),
               s1b = mt::auc_shuffled(noisy, fix, other, 1);
  const double s2 = mt::auc_shuffled(noisy, fix, other, 2);
  EXPECT_EQ(s1, s1b);
  EXPECT_NE(s1, s2);
  EXPECT_NEAR(s1, 0.5, 0.1);
}

TEST(Metrics, InfoGainByHand) {
  // P = 0 1 2 3 -> 0 1/6 1/3 1/2; B = 3 2 1 0 -> 1/2 1/3 1/6 0. Fixations on
  // pixels 3 and 4: log2(1/3 / (1/6)) = 1 and log2(eps + 1/2) - log2(eps) =
  // -1 + 52 = 51; mean 26.
  const cv::Mat p = mat1d({0, 1, 2, 3}, 2, 2), b = mat1d({3, 2, 1, 0}, 2, 2);
  EXPECT_NEAR(mt::info_gain(p, mat1d({0, 0, 1, 1}, 2, 2), b), 26.0, 1e-9);
  EXPECT_NEAR(mt::info_gain(p, mat1d({0, 0, 1, 1}, 2, 2), p), 0.0, 1e-12);
}

TEST(Metrics, EvaluateFrameMatchesTheSingleMetricsAfterOneResize) {
  cv::Mat pred(30, 40, CV_32F), gt(45, 60, CV_64F);
  cv::randu(pred, 0, 1);
  cv::randu(gt, 0, 1);
  cv::Mat fix(45, 60, CV_8U, cv::Scalar(0));
  for (int i = 0; i < 30; i++) fix.at<unsigned char>((i * 7) % 45, (i * 13) % 60) = 1;
  mt::FrameEvalInputs in;
  in.seed = 42;
  in.other_map = cv::Mat(45, 60, CV_8U, cv::Scalar(1));
  const std::vector<mt::Metric> all = {
      mt::Metric::Cc, mt::Metric::Nss,      mt::Metric::AucJudd,    mt::Metric::Sim,
      mt::Metric::Kl, mt::Metric::InfoGain, mt::Metric::AucShuffled};
  const auto v = mt::evaluate_frame(pred, {gt, fix}, all, in);
  ASSERT_EQ(v.size(), all.size());
  EXPECT_DOUBLE_EQ(v[0], mt::cc(pred, gt));
  EXPECT_DOUBLE_EQ(v[1], mt::nss(pred, fix));
  EXPECT_DOUBLE_EQ(v[2], mt::auc_judd(pred, fix, 42));
  EXPECT_DOUBLE_EQ(v[3], mt::sim(pred, gt));
  EXPECT_DOUBLE_EQ(v[4], mt::kl(pred, gt));
  EXPECT_DOUBLE_EQ(v[5], mt::info_gain(pred, fix, mt::centre_gaussian(gt.size())));
  EXPECT_DOUBLE_EQ(v[6], mt::auc_shuffled(pred, fix, in.other_map, mt::derive_seed(42, 1)));
  EXPECT_THROW(mt::evaluate_frame(pred, {cv::Mat(), fix}, {mt::Metric::Cc}), ModelError);
  EXPECT_THROW(mt::evaluate_frame(pred, {gt, fix(cv::Rect(0, 0, 10, 10))}, {mt::Metric::Cc}),
               ModelError);
}

TEST(Metrics, NamesRoundTripAndNanMeanDropsNan) {
  for (const char *n : {"auc_j", "sauc", "nss", "cc", "sim", "kl", "ig"})
    EXPECT_STREQ(mt::to_string(mt::parse_metric(n)), n);
  EXPECT_THROW(mt::parse_metric("auc"), ModelError);
  mt::NanMean m;
  EXPECT_TRUE(std::isnan(m.mean()));
  m.add(1);
  m.add(std::nan(""));
  m.add(2);
  EXPECT_DOUBLE_EQ(m.mean(), 1.5);
  EXPECT_EQ(m.count(), 2u);
  EXPECT_EQ(m.dropped(), 1u);
  EXPECT_NE(mt::derive_seed(0, 1), mt::derive_seed(0, 2));
}

TEST(Metrics, CentreGaussianOnUcfDivingFrame10MatchesReferenceValues) {
  // SOURCES.md: prediction = centre Gaussian (sigma 0.25 W, 0.25 H) against
  // maps/0010.png and fixation/maps/0010.mat: CC ~0.42, NSS ~1.88, SIM ~0.22,
  // KL ~1.85, AUC-Judd ~0.92 (independent implementations).
  REQUIRE_SHARED_DATA(shared);
  const fs::path dir = fs::path(shared) / "data" / kVideo;
  const cv::Mat gt = read_saliency_map((dir / "maps" / "0010.png").string());
  const cv::Mat fix = read_fixation_map((dir / "fixation" / "maps" / "0010.mat").string());
  ASSERT_EQ(gt.size(), cv::Size(720, 404));
  const cv::Mat pred = mt::centre_gaussian(gt.size());
  EXPECT_NEAR(mt::cc(pred, gt), 0.42, 0.005);
  EXPECT_NEAR(mt::nss(pred, fix), 1.88, 0.005);
  EXPECT_NEAR(mt::sim(pred, gt), 0.22, 0.005);
  EXPECT_NEAR(mt::kl(pred, gt), 1.85, 0.005);
  for (std::uint64_t seed : {0, 1, 2}) EXPECT_NEAR(mt::auc_judd(pred, fix, seed), 0.92, 0.005);
  // The same frame scored from the PNG fixations gives identical numbers.
  const cv::Mat fix_png = read_fixation_map((dir / "fixation" / "0010.png").string());
  EXPECT_EQ(mt::nss(pred, fix_png), mt::nss(pred, fix));
  // A half-size prediction goes through imresize first and scores about the same.
  const cv::Mat half = mt::centre_gaussian(cv::Size(360, 202));
  EXPECT_NEAR(mt::cc(half, gt), mt::cc(pred, gt), 0.002);
}

// ================================================================ losses

namespace {
torch::Tensor t2x2(std::initializer_list<double> v) {
  return torch::tensor(std::vector<double>(v), torch::kFloat64).reshape({1, 2, 2});
}
}  // namespace

TEST(StsanetLoss, KlAndCcByHand) {
  // kldiv: uniform P, G on one pixel: ln(eps + 1/(1/4 + eps)) = ln 4; a second,
  // identical frame adds 0, and the batch mean halves it.
  const torch::Tensor p = torch::cat({t2x2({1, 1, 1, 1}), t2x2({1, 2, 3, 4})});
  const torch::Tensor g = torch::cat({t2x2({1, 0, 0, 0}), t2x2({1, 2, 3, 4})});
  EXPECT_NEAR(losses::stsanet_kldiv(p, g).item<double>(), std::log(4.0) / 2, 1e-12);
  // cc: x = 1 2 3 4, y = 1 3 2 4 -> 0.8; with itself 1; mean 0.9.
  const torch::Tensor x = torch::cat({t2x2({1, 2, 3, 4}), t2x2({1, 2, 3, 4})});
  const torch::Tensor y = torch::cat({t2x2({1, 3, 2, 4}), t2x2({1, 2, 3, 4})});
  EXPECT_NEAR(losses::stsanet_cc(x, y).item<double>(), 0.9, 1e-12);
  EXPECT_NEAR(losses::stsanet_loss(x, x).item<double>(), -1.0, 1e-12);
  // (B, 1, H, W) works the same.
  EXPECT_NEAR(losses::stsanet_cc(x.unsqueeze(1), y.unsqueeze(1)).item<double>(), 0.9, 1e-12);
  EXPECT_THROW(losses::stsanet_loss(x, y.reshape({2, 4})), ModelError);
}

TEST(StsanetLoss, GradientMatchesFiniteDifferences) {
  torch::manual_seed(1);
  const torch::Tensor g = torch::rand({2, 3, 4}, torch::kFloat64);
  torch::Tensor p = torch::rand({2, 3, 4}, torch::kFloat64).requires_grad_(true);
  losses::stsanet_loss(torch::sigmoid(p), g).backward();
  const torch::Tensor grad = p.grad().clone();
  torch::NoGradGuard no_grad;
  for (int i : {0, 5, 13, 23}) {
    torch::Tensor a = p.detach().clone(), b = p.detach().clone();
    a.view(-1)[i] += 1e-6;
    b.view(-1)[i] -= 1e-6;
    const double fd =
        (losses::stsanet_loss(torch::sigmoid(a), g) - losses::stsanet_loss(torch::sigmoid(b), g))
            .item<double>() /
        2e-6;
    EXPECT_NEAR(grad.view(-1)[i].item<double>(), fd, 1e-6);
  }
}

TEST(StraNetLoss, WholeModelTermsByHand) {
  // (B=1, T=2, 2, 2). Frame 0: P uniform, G on one pixel: P/(max+eps) = 1/(1+1e-7),
  // normalised to ~1/4; KL = ln(1/(1/4 + eps) + eps) ~ ln 4. Frame 1 has a target
  // max of 0.05 <= 0.1: masked out of KL, CC and SIM.
  const torch::Tensor p = torch::stack({t2x2({1, 1, 1, 1}), t2x2({1, 2, 3, 4})}, 1);
  const torch::Tensor g = torch::stack({t2x2({1, 0, 0, 0}), t2x2({0.05, 0, 0, 0})}, 1);
  const torch::Tensor q = torch::stack({t2x2({0, 0, 0, 1}), t2x2({0, 0, 0, 0})}, 1);
  const auto t = losses::stranet_model_terms(p, g, q);
  EXPECT_NEAR(t.kl.item<double>(), std::log(4.0), 1e-5);
  // Frame 0's CC is 0/0-guarded: P constant -> num 0 -> 0.
  EXPECT_NEAR(t.cc.item<double>(), 0.0, 1e-6);
  // NSS: frame 0 has a constant P (z = 0); frame 1 has no fixation (beta 0): 0.
  EXPECT_NEAR(t.nss.item<double>(), 0.0, 1e-6);
  // SIM: frame 0 only, min(G, P) = 1/4 at the fixated pixel; the mean over
  // the 2 frames halves it: -(1/4)/2.
  EXPECT_NEAR(t.sim.item<double>(), -0.125, 1e-5);

  // NSS by hand: P = 0 1 2 3 -> /3 -> mean 1/2, population std sqrt(5/36);
  // the fixated pixel 1: (1 - 1/2) / sqrt(5/36) = 1.3416408; loss is minus it.
  const auto n =
      losses::stranet_model_terms(t2x2({0, 1, 2, 3}), t2x2({0, 1, 2, 3}), t2x2({0, 0, 0, 1}));
  EXPECT_NEAR(n.nss.item<double>(), -1.5 / std::sqrt(5.0 / 4.0), 1e-5);
  // CC of a map with itself: -1 per frame, summed over frames. The eps added to
  // the sums of squares (1e-7 against N var(x) ~ 5e-3 for these sum-normalised
  // 5x6 maps) lowers each |r| by ~5e-5.
  const torch::Tensor m = torch::rand({1, 3, 5, 6}, torch::kFloat64) + 0.2;
  EXPECT_NEAR(losses::stranet_model_terms(m, m, m).cc.item<double>(), -3.0, 5e-4);
  EXPECT_NEAR(losses::stranet_model_terms(m, m, m).sim.item<double>(), -1.0, 1e-4);
  EXPECT_NEAR(losses::stranet_model_terms(m, m, m).kl.item<double>(), 0.0, 1e-5);
}

TEST(StraNetLoss, FeatureNetTermsByHand) {
  // KL of identical maps is 0 minus the extra SIM term: -1 per frame.
  const torch::Tensor m = torch::rand({5, 4, 4}, torch::kFloat64) * 0.8 + 0.1;
  const auto same = losses::stranet_feature_terms(m, m, m);
  EXPECT_NEAR(same.kl.item<double>(), -5.0, 1e-5);
  EXPECT_NEAR(same.cc.item<double>(), -5.0, 1e-4);
  EXPECT_NEAR(same.sim.item<double>(), -1.0, 1e-5);
  // NSS: P = .1 .2 .3 .4 -> /max -> .25 .5 .75 1, population std sqrt(.078125);
  // Q clipped to [eps, 1-eps] weights the fixated pixel ~1: -(1-.625)/0.2795085.
  const auto n = losses::stranet_feature_terms(t2x2({0.1, 0.2, 0.3, 0.4}),
                                               t2x2({0.1, 0.2, 0.3, 0.4}), t2x2({0, 0, 0, 1}));
  EXPECT_NEAR(n.nss.item<double>(), -0.375 / std::sqrt(0.078125), 1e-5);
}

TEST(StraNetLoss, TotalsWeightTermsAndReplicateTheSd5NssBug) {
  torch::manual_seed(2);
  const torch::Tensor g = torch::rand({1, 2, 6, 6}, torch::kFloat64);
  const torch::Tensor q = (torch::rand({1, 2, 6, 6}, torch::kFloat64) > 0.8).to(torch::kFloat64);
  losses::StraNetOutputs o;
  o.final_map = torch::rand({1, 2, 6, 6}, torch::kFloat64);
  o.sd3 = torch::rand({1, 2, 6, 6}, torch::kFloat64);
  o.sd4 = torch::rand({1, 2, 6, 6}, torch::kFloat64);
  o.sd5 = torch::rand({1, 2, 6, 6}, torch::kFloat64);
  const auto terms = [&](const torch::Tensor &x) { return losses::stranet_model_terms(x, g, q); };
  double expected = 0;
  for (const torch::Tensor &x : {o.final_map, o.sd3, o.sd4, o.sd5}) {
    const auto t = terms(x);
    expected += 10 * t.kl.item<double>() + 2 * t.cc.item<double>() + t.nss.item<double>() +
                t.sim.item<double>();
  }
  const double fixed =
      losses::stranet_model_loss(o, g, q, /*replicate_sd5_nss_bug=*/false).item<double>();
  const double parity = losses::stranet_model_loss(o, g, q).item<double>();
  EXPECT_NEAR(fixed, expected, 1e-9);
  EXPECT_NEAR(parity - fixed, terms(o.sd3).nss.item<double>() - terms(o.sd5).nss.item<double>(),
              1e-9);
  EXPECT_NE(parity, fixed);
  // Feature-net total and gradients flow to every output.
  for (torch::Tensor *x : {&o.final_map, &o.sd3, &o.sd4, &o.sd5}) x->requires_grad_(true);
  losses::stranet_feature_loss(o, g, q).backward();
  for (torch::Tensor *x : {&o.final_map, &o.sd3, &o.sd4, &o.sd5}) {
    ASSERT_TRUE(x->grad().defined());
    EXPECT_TRUE(torch::isfinite(x->grad()).all().item<bool>());
    EXPECT_GT(x->grad().abs().sum().item<double>(), 0);
  }
}

// ================================================================ saliency-eval tool

namespace {
struct ToolRun {
  int status = -1;
  std::string out, err;
};

ToolRun run_eval(const std::string &args) {
  const std::string exe = testsupport::build_root() + "/model/tools/saliency-eval";
  testsupport::TempDir tmp;
  const std::string cmd = exe + " " + args + " > " + (tmp / "out") + " 2> " + (tmp / "err");
  ToolRun r;
  const int rc = std::system(cmd.c_str());
  r.status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  std::ifstream o(tmp / "out"), e(tmp / "err");
  std::stringstream so, se;
  so << o.rdbuf();
  se << e.rdbuf();
  r.out = so.str();
  r.err = se.str();
  return r;
}

double value_of(const std::string &out, const std::string &metric) {
  const std::string key = metric + ": ";
  const std::size_t at = out.find(key);
  if (at == std::string::npos || (at > 0 && out[at - 1] != '\n')) return std::nan("");
  return std::stod(out.substr(at + key.size()));
}

// Whether some line of `out` consists of exactly these whitespace-separated fields.
bool has_row(const std::string &out, const std::vector<std::string> &fields) {
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::vector<std::string> got;
    for (std::string w; words >> w;) got.push_back(w);
    if (got == fields) return true;
  }
  return false;
}

bool tool_exists() { return fs::exists(testsupport::build_root() + "/model/tools/saliency-eval"); }
}  // namespace

TEST(SaliencyEvalTool, GroundTruthMapsAsPredictionsScorePerfectCcAndSim) {
  REQUIRE_SHARED_DATA(shared);
  ASSERT_TRUE(tool_exists()) << "build model/tools/saliency-eval first";
  const std::string gt = shared + "/data/saliency/ucf-sports/test";
  testsupport::TempDir pred;
  fs::create_directories(pred / "Diving-Side_001");
  for (const char *f : {"0001", "0002", "0010", "0030"})
    fs::copy_file(gt + "/Diving-Side_001/maps/" + f + ".png",
                  pred / ("Diving-Side_001/" + std::string(f) + ".png"));
  const ToolRun r =
      run_eval("--pred " + pred.path() + " --gt " + gt +
               " --metrics cc,sim,kl,nss,auc_j,sauc,ig --per-video --threads 2 --csv " +
               (pred / "scores.csv"));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NEAR(value_of(r.out, "cc"), 1.0, 1e-6) << r.out;
  EXPECT_NEAR(value_of(r.out, "sim"), 1.0, 1e-6);
  EXPECT_NEAR(value_of(r.out, "kl"), 0.0, 1e-6);
  EXPECT_GT(value_of(r.out, "auc_j"), 0.95);
  EXPECT_GT(value_of(r.out, "sauc"), 0.7);
  EXPECT_GT(value_of(r.out, "nss"), 3.0);
  EXPECT_GT(value_of(r.out, "ig"), 1.0);  // far better than the centre prior
  EXPECT_TRUE(has_row(r.out, {"video", "frames", "cc", "sim", "kl", "nss", "auc_j", "sauc", "ig"}))
      << r.out;
  EXPECT_NE(r.out.find("\nDiving-Side_001 "), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("51 ground-truth frames of scored videos have no prediction"),
            std::string::npos)
      << r.err;
  std::ifstream csv(pred / "scores.csv");
  std::string header, row, all;
  std::getline(csv, header);
  std::getline(csv, row);
  std::getline(csv, all);
  EXPECT_EQ(header, "video,frames,cc,sim,kl,nss,auc_j,sauc,ig");
  EXPECT_EQ(row.rfind("Diving-Side_001,4,1.000000,1.000000,", 0), 0u) << row;
  EXPECT_EQ(all.rfind("ALL,4,", 0), 0u) << all;
}

TEST(SaliencyEvalTool, NpyPredictionScoresLikeTheLibraryAndSeedsAreDeterministic) {
  REQUIRE_SHARED_DATA(shared);
  ASSERT_TRUE(tool_exists());
  const std::string gt = shared + "/data/saliency/ucf-sports/test";
  testsupport::TempDir pred;
  fs::create_directories(pred / "Diving-Side_001");
  cv::Mat g;
  mt::centre_gaussian(cv::Size(720, 404)).convertTo(g, CV_32F);
  std::vector<float> v(g.begin<float>(), g.end<float>());
  write_npy(pred / "Diving-Side_001/0010.npy", "<f4", false, "(404, 720)", raw(v));
  const std::string args =
      "--pred " + pred.path() + " --gt " + gt + " --metrics auc_j,cc,nss,sauc --seed 7";
  const ToolRun a = run_eval(args), b = run_eval(args);
  ASSERT_EQ(a.status, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  const cv::Mat gmap = read_saliency_map(gt + "/Diving-Side_001/maps/0010.png");
  const cv::Mat fix = read_fixation_map(gt + "/Diving-Side_001/fixation/maps/0010.mat");
  EXPECT_NEAR(value_of(a.out, "cc"), mt::cc(g, gmap), 1e-6);
  EXPECT_NEAR(value_of(a.out, "nss"), mt::nss(g, fix), 1e-6);
  EXPECT_NEAR(value_of(a.out, "auc_j"), 0.92, 0.005);
  // With the DHF1K shuffle map as negatives instead of other frames: the same
  // as the library with that map moved to the GT size (another seed: 100 splits
  // average the sampling out to well below 0.01). The map covers 74% of the
  // frame, so unlike other frames' fixations it hardly penalises centre bias.
  const std::string shuffle = shared + "/data/shuffle/dhf1k_shuffledmap.png";
  const ToolRun s = run_eval(args + " --shuffle-map " + shuffle);
  ASSERT_EQ(s.status, 0) << s.err;
  const cv::Mat other = mt::rescale_fixations(read_fixation_map(shuffle), gmap.size());
  EXPECT_NEAR(value_of(s.out, "sauc"), mt::auc_shuffled(g, fix, other, 12345), 0.01);
  EXPECT_GT(value_of(s.out, "sauc"), value_of(a.out, "sauc") + 0.2);
}

TEST(SaliencyEvalTool, AveragesOverFramesNotVideosAndReportsEachVideo) {
  // Video a: 1 frame scored CC 1; video b: 3 frames scored 1, 1 and -1 (the
  // prediction is 255 - G). Per video 1 and 1/3; over frames (1+1+1-1)/4 = 0.5
  // (a mean of video means would give 2/3).
  ASSERT_TRUE(tool_exists());
  testsupport::TempDir tmp;
  cv::Mat g(24, 32, CV_8U);
  cv::randu(g, 0, 256);
  const auto frame = [&](const std::string &video, const std::string &name, bool inverted) {
    fs::create_directories(tmp / ("gt/" + video + "/maps"));
    fs::create_directories(tmp / ("pred/" + video));
    cv::imwrite(tmp / ("gt/" + video + "/maps/" + name + ".png"), g);
    cv::imwrite(tmp / ("pred/" + video + "/" + name + ".png"), inverted ? cv::Mat(255 - g) : g);
  };
  frame("a", "0001", false);
  frame("b", "0001", false);
  frame("b", "0002", true);
  frame("b", "0003", false);
  const ToolRun r = run_eval("--pred " + (tmp / "pred") + " --gt " + (tmp / "gt") +
                             " --metrics cc --per-video --csv " + (tmp / "s.csv"));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.rfind("cc: 0.500000\n", 0), 0u) << r.out;
  EXPECT_TRUE(has_row(r.out, {"video", "frames", "cc"})) << r.out;
  EXPECT_TRUE(has_row(r.out, {"a", "1", "1.000000"})) << r.out;
  EXPECT_TRUE(has_row(r.out, {"b", "3", "0.333333"})) << r.out;
  std::ifstream csv(tmp / "s.csv");
  std::stringstream all;
  all << csv.rdbuf();
  EXPECT_EQ(all.str(), "video,frames,cc\na,1,1.000000\nb,3,0.333333\nALL,4,0.500000\n");
  // Fixation metrics without fixation files: an error naming the missing file.
  const ToolRun n =
      run_eval("--pred " + (tmp / "pred") + " --gt " + (tmp / "gt") + " --metrics nss");
  EXPECT_EQ(n.status, 1);
  EXPECT_EQ(
      n.err.rfind("saliency-eval: " + (tmp / "gt/a/fixation/maps/0001.mat") + ": no such file", 0),
      0u)
      << n.err;
}

TEST(SaliencyEvalTool, MismatchedGroundTruthAndCorruptMatFilesAreReported) {
  ASSERT_TRUE(tool_exists());
  testsupport::TempDir tmp;
  fs::create_directories(tmp / "gt/v/maps");
  fs::create_directories(tmp / "gt/v/fixation/maps");
  fs::create_directories(tmp / "pred/v");
  cv::Mat g(24, 32, CV_8U, cv::Scalar(0));
  g.at<unsigned char>(5, 5) = 255;
  cv::imwrite(tmp / "gt/v/maps/0001.png", g);
  cv::imwrite(tmp / "pred/v/0001.png", g);
  cv::imwrite(tmp / "gt/v/fixation/0001.png", cv::Mat(g(cv::Rect(0, 0, 30, 24))));
  ToolRun r = run_eval("--pred " + (tmp / "pred") + " --gt " + (tmp / "gt") + " --metrics cc,nss");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "saliency-eval: " + (tmp / "gt/v/fixation/0001.png") +
                       ": fixation map is 30x24 but " + (tmp / "gt/v/maps/0001.png") +
                       " is 32x24\n");
  std::ofstream(tmp / "gt/v/fixation/maps/0001.mat") << "MATLAB 5.0 MAT-file, but cut short";
  r = run_eval("--pred " + (tmp / "pred") + " --gt " + (tmp / "gt") + " --metrics nss");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "saliency-eval: " + (tmp / "gt/v/fixation/maps/0001.mat") +
                       ": truncated MAT-file header\n");
}

TEST(SaliencyEvalTool, BadInputFailsWithOneLineNamingTheFile) {
  REQUIRE_SHARED_DATA(shared);
  ASSERT_TRUE(tool_exists());
  const std::string gt = shared + "/data/saliency/ucf-sports/test";
  testsupport::TempDir pred;
  fs::create_directories(pred / "Diving-Side_001");

  ToolRun r = run_eval("--pred " + pred.path() + " --gt " + gt);  // no predictions at all
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("no prediction matches a ground-truth frame"), std::string::npos) << r.err;

  std::ofstream(pred / "Diving-Side_001/0003.png") << "garbage";
  r = run_eval("--pred " + pred.path() + " --gt " + gt);
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "saliency-eval: " + (pred / "Diving-Side_001/0003.png") +
                       ": cannot decode image (corrupt or unsupported format)\n");
  EXPECT_EQ(r.out, "");  // no partial scores

  r = run_eval("--pred " + pred.path() + "/nope --gt " + gt);
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "saliency-eval: " + pred.path() + "/nope: prediction directory not found\n");

  r = run_eval("--pred " + pred.path() + " --gt " + gt + " --shuffle-map " + pred.path() +
               "/none.png");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find(pred.path() + "/none.png: no such file"), std::string::npos) << r.err;

  EXPECT_EQ(run_eval("--pred " + pred.path() + " --gt " + gt + " --metrics cc,auc").status, 2);
  EXPECT_EQ(run_eval("--pred " + pred.path() + " --gt " + gt + " --seed -1").status, 2);
  EXPECT_EQ(run_eval("--gt " + gt).status, 2);
  EXPECT_EQ(run_eval("--bogus").status, 2);
  r = run_eval("--help");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("--shuffle-map"), std::string::npos);
}
