// Middlebury .flo I/O, end-point error and the colour-wheel visualisation.
//
// File format (Baker et al., "A Database and Evaluation Methodology for Optical
// Flow", IJCV 2011, and the Middlebury flow-code/flowIO.cpp reference):
//   bytes 0-3   float32 202021.25 (the ASCII bytes "PIEH" on little-endian hosts)
//   bytes 4-7   int32 width
//   bytes 8-11  int32 height
//   then height*width interleaved float32 (u, v), row-major.
// Everything is little-endian, which is what every published dataset uses.
#include "salflow/flo_io.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

namespace flow {
namespace {

constexpr char kMagic[4] = {'P', 'I', 'E', 'H'};  // float32 202021.25, little-endian
constexpr std::int64_t kHeaderBytes = 12;
// Dimension bounds: far above any real frame (8K is 7680x4320 = 33 Mpx) but
// low enough that a corrupt header cannot make us allocate gigabytes.
constexpr std::int64_t kMaxSide = 100000;
constexpr std::int64_t kMaxPixels = std::int64_t{1} << 26;  // 67 Mpx, 512 MiB of flow
// Middlebury marks unknown flow with values >= 1e9 (flowIO.cpp UNKNOWN_FLOW_THRESH).
constexpr float kUnknownFlow = 1e9f;

[[noreturn]] void fail(const std::string &path, const std::string &problem) {
  throw FlowFileError(path + ": " + problem);
}

bool host_is_little_endian() {
  const std::uint16_t one = 1;
  unsigned char first;
  std::memcpy(&first, &one, 1);
  return first == 1;
}

// Swaps every 4-byte word in place (only on big-endian hosts).
void swap_words(void *data, std::size_t n_words) {
  auto *bytes = static_cast<unsigned char *>(data);
  for (std::size_t i = 0; i < n_words; ++i, bytes += 4) {
    std::swap(bytes[0], bytes[3]);
    std::swap(bytes[1], bytes[2]);
  }
}

std::int32_t read_le_int32(const unsigned char *p) {
  return static_cast<std::int32_t>(std::uint32_t{p[0]} | (std::uint32_t{p[1]} << 8) |
                                   (std::uint32_t{p[2]} << 16) | (std::uint32_t{p[3]} << 24));
}

void write_le_int32(unsigned char *p, std::int32_t value) {
  const auto v = static_cast<std::uint32_t>(value);
  for (int i = 0; i < 4; ++i) p[i] = static_cast<unsigned char>((v >> (8 * i)) & 0xff);
}

bool is_unknown(float u, float v) {
  return !std::isfinite(u) || !std::isfinite(v) || std::fabs(u) >= kUnknownFlow ||
         std::fabs(v) >= kUnknownFlow;
}

// Middlebury colour wheel (flow-code/colorcode.cpp makecolorwheel): hues
// between the six primaries, with these numbers of steps chosen for perceptual
// similarity. Entries are RGB in [0, 255].
struct ColorWheel {
  std::vector<cv::Vec3f> rgb;
  ColorWheel() {
    const int RY = 15, YG = 6, GC = 4, CB = 11, BM = 13, MR = 6;
    for (int i = 0; i < RY; ++i) rgb.emplace_back(255.f, std::floor(255.f * i / RY), 0.f);
    for (int i = 0; i < YG; ++i) rgb.emplace_back(255.f - std::floor(255.f * i / YG), 255.f, 0.f);
    for (int i = 0; i < GC; ++i) rgb.emplace_back(0.f, 255.f, std::floor(255.f * i / GC));
    for (int i = 0; i < CB; ++i) rgb.emplace_back(0.f, 255.f - std::floor(255.f * i / CB), 255.f);
    for (int i = 0; i < BM; ++i) rgb.emplace_back(std::floor(255.f * i / BM), 0.f, 255.f);
    for (int i = 0; i < MR; ++i) rgb.emplace_back(255.f, 0.f, 255.f - std::floor(255.f * i / MR));
  }
};

// colorcode.cpp computeColor: direction picks the hue, magnitude (already
// normalised so 1 = full saturation) the saturation; beyond 1 the colour is
// darkened to mark out-of-range vectors.
cv::Vec3b wheel_color(const ColorWheel &wheel, float fx, float fy) {
  const int ncols = static_cast<int>(wheel.rgb.size());
  const float rad = std::sqrt(fx * fx + fy * fy);
  const float a = std::atan2(-fy, -fx) / static_cast<float>(CV_PI);
  const float fk = (a + 1.f) / 2.f * static_cast<float>(ncols - 1);
  int k0 = static_cast<int>(fk);
  k0 = std::min(std::max(k0, 0), ncols - 1);
  const int k1 = (k0 + 1) % ncols;
  const float f = fk - static_cast<float>(k0);
  cv::Vec3b bgr;
  for (int c = 0; c < 3; ++c) {
    const float col0 = wheel.rgb[k0][c] / 255.f;
    const float col1 = wheel.rgb[k1][c] / 255.f;
    float col = (1.f - f) * col0 + f * col1;
    if (rad <= 1.f)
      col = 1.f - rad * (1.f - col);  // towards white at the centre
    else
      col *= 0.75f;  // out of range
    bgr[2 - c] = cv::saturate_cast<uchar>(std::floor(255.f * col));
  }
  return bgr;
}

}  // namespace

cv::Mat read_flo(const std::string &path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) fail(path, "no such file");
  if (std::filesystem::is_directory(path, ec)) fail(path, "is a directory, not a .flo file");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, std::string("cannot open: ") + std::strerror(errno));

  in.seekg(0, std::ios::end);
  const std::streamoff file_bytes = in.tellg();
  in.seekg(0, std::ios::beg);
  if (file_bytes < 0) fail(path, "cannot determine the file size");

  unsigned char header[kHeaderBytes];
  if (file_bytes < kHeaderBytes || !in.read(reinterpret_cast<char *>(header), kHeaderBytes))
    fail(path, "truncated: " + std::to_string(file_bytes) + " bytes, shorter than the 12-byte header");
  if (std::memcmp(header, kMagic, 4) != 0)
    fail(path, "not a Middlebury .flo file (bad magic number, expected 202021.25 \"PIEH\")");

  const std::int64_t width = read_le_int32(header + 4);
  const std::int64_t height = read_le_int32(header + 8);
  if (width <= 0 || height <= 0 || width > kMaxSide || height > kMaxSide ||
      width * height > kMaxPixels)
    fail(path, "invalid dimensions " + std::to_string(width) + "x" + std::to_string(height) +
                   " (each side must be in 1.." + std::to_string(kMaxSide) + ", at most " +
                   std::to_string(kMaxPixels) + " pixels)");

  const std::int64_t expected = kHeaderBytes + 8 * width * height;
  if (file_bytes < expected)
    fail(path, "truncated: " + std::to_string(file_bytes) + " bytes, expected " +
                   std::to_string(expected) + " for " + std::to_string(width) + "x" +
                   std::to_string(height));
  if (file_bytes > expected)
    fail(path, "trailing data: " + std::to_string(file_bytes) + " bytes, expected " +
                   std::to_string(expected) + " for " + std::to_string(width) + "x" +
                   std::to_string(height));

  cv::Mat flow(static_cast<int>(height), static_cast<int>(width), CV_32FC2);
  const std::streamsize payload = static_cast<std::streamsize>(8 * width * height);
  if (!in.read(reinterpret_cast<char *>(flow.data), payload) || in.gcount() != payload)
    fail(path, "read error in the flow data");
  if (!host_is_little_endian()) swap_words(flow.data, static_cast<std::size_t>(2 * width * height));
  return flow;
}

void write_flo(const std::string &path, const cv::Mat &flow) {
  if (flow.empty() || flow.type() != CV_32FC2)
    fail(path, "cannot write: flow must be a non-empty CV_32FC2 matrix (got type " +
                   std::to_string(flow.type()) + ", " + std::to_string(flow.cols) + "x" +
                   std::to_string(flow.rows) + ")");
  if (flow.cols > kMaxSide || flow.rows > kMaxSide ||
      std::int64_t{flow.cols} * flow.rows > kMaxPixels)
    fail(path, "cannot write: flow too large for a .flo file");

  // Temporary file in the destination directory, so rename() is atomic and a
  // crash never leaves a partial file under the final name. open() with 0666
  // lets the umask apply (mkstemp would make it 0600, and changing the umask
  // to read it races with other threads).
  std::string tmp;
  int fd = -1;
  std::random_device random;
  for (int attempt = 0; fd < 0 && attempt < 16; ++attempt) {
    char suffix[32];
    std::snprintf(suffix, sizeof suffix, ".tmp-%d-%08x", static_cast<int>(getpid()),
                  static_cast<unsigned>(random()));
    tmp = path + suffix;
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) fail(path, std::string("cannot create a temporary file: ") + std::strerror(errno));
  std::FILE *out = fdopen(fd, "wb");
  if (!out) {
    const int err = errno;
    ::close(fd);
    std::remove(tmp.c_str());
    fail(path, std::string("cannot open a temporary file: ") + std::strerror(err));
  }

  unsigned char header[kHeaderBytes];
  std::memcpy(header, kMagic, 4);
  write_le_int32(header + 4, flow.cols);
  write_le_int32(header + 8, flow.rows);
  int err = 0;  // first errno seen (disk full, I/O error)
  if (std::fwrite(header, 1, kHeaderBytes, out) != kHeaderBytes) err = errno ? errno : EIO;
  std::vector<float> row(static_cast<std::size_t>(flow.cols) * 2);
  for (int y = 0; !err && y < flow.rows; ++y) {
    std::memcpy(row.data(), flow.ptr<float>(y), row.size() * sizeof(float));
    if (!host_is_little_endian()) swap_words(row.data(), row.size());
    if (std::fwrite(row.data(), sizeof(float), row.size(), out) != row.size())
      err = errno ? errno : EIO;
  }
  if (std::fflush(out) != 0 && !err) err = errno ? errno : EIO;
  if (std::fclose(out) != 0 && !err) err = errno ? errno : EIO;
  if (err) {
    std::remove(tmp.c_str());
    fail(path, std::string("write failed: ") + std::strerror(err));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    fail(path, std::string("cannot rename the temporary file into place: ") + std::strerror(err));
  }
}

double endpoint_error(const cv::Mat &pred, const cv::Mat &gt, const cv::Mat &valid) {
  if (pred.type() != CV_32FC2 || gt.type() != CV_32FC2)
    throw std::invalid_argument("endpoint_error: flows must be CV_32FC2");
  if (pred.size() != gt.size())
    throw std::invalid_argument("endpoint_error: size mismatch, prediction " +
                                std::to_string(pred.cols) + "x" + std::to_string(pred.rows) +
                                " vs ground truth " + std::to_string(gt.cols) + "x" +
                                std::to_string(gt.rows));
  if (!valid.empty() && (valid.type() != CV_8UC1 || valid.size() != gt.size()))
    throw std::invalid_argument("endpoint_error: valid mask must be CV_8UC1 of the flow size");

  double sum = 0.0;
  std::int64_t count = 0;
  for (int y = 0; y < gt.rows; ++y) {
    const auto *p = pred.ptr<cv::Vec2f>(y);
    const auto *g = gt.ptr<cv::Vec2f>(y);
    const uchar *m = valid.empty() ? nullptr : valid.ptr<uchar>(y);
    for (int x = 0; x < gt.cols; ++x) {
      if ((m && !m[x]) || is_unknown(g[x][0], g[x][1])) continue;
      const double du = static_cast<double>(p[x][0]) - g[x][0];
      const double dv = static_cast<double>(p[x][1]) - g[x][1];
      sum += std::sqrt(du * du + dv * dv);
      ++count;
    }
  }
  if (count == 0)
    throw std::invalid_argument("endpoint_error: no pixel with known ground truth to compare");
  return sum / static_cast<double>(count);
}

cv::Mat visualize_flow(const cv::Mat &flow, float max_magnitude) {
  if (flow.type() != CV_32FC2) throw std::invalid_argument("visualize_flow: flow must be CV_32FC2");
  float max_rad = max_magnitude;
  if (!(max_rad > 0.f)) {
    max_rad = 0.f;
    for (int y = 0; y < flow.rows; ++y) {
      const auto *f = flow.ptr<cv::Vec2f>(y);
      for (int x = 0; x < flow.cols; ++x)
        if (!is_unknown(f[x][0], f[x][1]))
          max_rad = std::max(max_rad, std::sqrt(f[x][0] * f[x][0] + f[x][1] * f[x][1]));
    }
  }
  // An all-zero field is white; avoid dividing by zero.
  const float scale = max_rad > std::numeric_limits<float>::epsilon() ? 1.f / max_rad : 1.f;

  static const ColorWheel wheel;
  cv::Mat bgr(flow.size(), CV_8UC3);
  for (int y = 0; y < flow.rows; ++y) {
    const auto *f = flow.ptr<cv::Vec2f>(y);
    auto *out = bgr.ptr<cv::Vec3b>(y);
    for (int x = 0; x < flow.cols; ++x)
      out[x] = is_unknown(f[x][0], f[x][1]) ? cv::Vec3b(0, 0, 0)
                                            : wheel_color(wheel, f[x][0] * scale, f[x][1] * scale);
  }
  return bgr;
}

}  // namespace flow
