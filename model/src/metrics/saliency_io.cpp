// Readers for predictions and ground truth (see salmodel/saliency_io.hpp).
// The .npy parser follows the NPY format description of NumPy
// (numpy/lib/format.py): magic "\x93NUMPY", version bytes, a little-endian
// header length (uint16 in version 1, uint32 in versions 2 and 3), then a
// Python dict literal with 'descr', 'fortran_order' and 'shape'. All lengths
// are checked against the file size.

#include "salmodel/saliency_io.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <vector>

#include "salmodel/mat_reader.hpp"

namespace model {
namespace {

[[noreturn]] void fail(const std::string &path, const std::string &problem) {
  throw ModelError(path + ": " + problem);
}

std::string lower_extension(const std::string &path) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext;
}

// First channel in MATLAB's (RGB) order of an image OpenCV read as B,G,R[,A].
cv::Mat first_channel(const cv::Mat &image) {
  if (image.channels() == 1) return image;
  cv::Mat out;
  cv::extractChannel(image, out, image.channels() >= 3 ? 2 : 0);
  return out;
}

cv::Mat read_image(const std::string &path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) fail(path, "no such file");
  cv::Mat image;
  try {
    image = cv::imread(path, cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception &e) {
    fail(path, std::string("cannot decode image (") + e.what() + ")");
  }
  if (image.empty()) fail(path, "cannot decode image (corrupt or unsupported format)");
  return first_channel(image);
}

// The value of `key` in a .npy header dict, as the raw text up to the next
// top-level comma or closing brace.
std::string header_value(const std::string &header, const std::string &key,
                         const std::string &path) {
  std::size_t k = header.find("'" + key + "'");
  if (k == std::string::npos) k = header.find("\"" + key + "\"");
  if (k == std::string::npos) fail(path, "invalid .npy header: no '" + key + "'");
  std::size_t colon = header.find(':', k + key.size() + 2);
  if (colon == std::string::npos) fail(path, "invalid .npy header near '" + key + "'");
  std::size_t i = colon + 1;
  while (i < header.size() && std::isspace(static_cast<unsigned char>(header[i]))) i++;
  std::size_t end = i;
  int depth = 0;
  for (; end < header.size(); end++) {
    const char c = header[end];
    if (c == '(') depth++;
    if (c == ')') depth--;
    if (depth == 0 && (c == ',' || c == '}')) break;
    if (depth < 0) fail(path, "invalid .npy header: unbalanced parentheses");
  }
  std::string value = header.substr(i, end - i);
  while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back()))) value.pop_back();
  return value;
}

std::vector<long long> parse_shape(const std::string &text, const std::string &path) {
  if (text.size() < 2 || text.front() != '(' || text.back() != ')')
    fail(path, "invalid .npy header: bad shape " + text);
  std::vector<long long> dims;
  std::string item;
  const auto flush = [&] {
    if (item.empty()) return;
    if (item.size() > 12) fail(path, "invalid .npy header: dimension too large in " + text);
    dims.push_back(std::stoll(item));
    item.clear();
  };
  for (std::size_t i = 1; i + 1 < text.size(); i++) {
    const char c = text[i];
    if (std::isdigit(static_cast<unsigned char>(c)))
      item += c;
    else if (c == ',')
      flush();
    else if (!std::isspace(static_cast<unsigned char>(c)))
      fail(path, "invalid .npy header: bad shape " + text);
  }
  flush();
  return dims;
}

}  // namespace

cv::Mat read_npy(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "no such file or cannot open it");
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)),
                                   std::istreambuf_iterator<char>());
  static const unsigned char magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (bytes.size() < 10 || std::memcmp(bytes.data(), magic, 6) != 0)
    fail(path, "not a .npy file (bad magic)");
  const unsigned major = bytes[6];
  std::size_t header_len, header_start;
  if (major == 1) {
    header_len = bytes[8] | (bytes[9] << 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) fail(path, "truncated .npy header");
    header_len = std::size_t(bytes[8]) | (std::size_t(bytes[9]) << 8) |
                 (std::size_t(bytes[10]) << 16) | (std::size_t(bytes[11]) << 24);
    header_start = 12;
  } else {
    fail(path, "unsupported .npy version " + std::to_string(major));
  }
  if (header_len > bytes.size() - header_start) fail(path, "truncated .npy header");
  const std::string header(bytes.begin() + header_start, bytes.begin() + header_start + header_len);
  const std::size_t data_start = header_start + header_len;

  std::string descr = header_value(header, "descr", path);
  if (descr.size() < 2 || (descr.front() != '\'' && descr.front() != '"'))
    fail(path, "invalid .npy header: bad descr " + descr);
  descr = descr.substr(1, descr.size() - 2);
  const std::string fortran = header_value(header, "fortran_order", path);
  if (fortran != "True" && fortran != "False")
    fail(path, "invalid .npy header: bad fortran_order " + fortran);
  std::vector<long long> dims = parse_shape(header_value(header, "shape", path), path);

  // Accept (H, W), (H, W, 1) and (1, H, W).
  if (dims.size() == 3 && dims[2] == 1)
    dims.pop_back();
  else if (dims.size() == 3 && dims[0] == 1)
    dims.erase(dims.begin());
  if (dims.size() != 2)
    fail(path, "expected a 2-D array (H, W), got " + std::to_string(dims.size()) + " dimensions");
  if (dims[0] <= 0 || dims[1] <= 0 || dims[0] > (1 << 20) || dims[1] > (1 << 20) ||
      dims[0] * dims[1] > (1LL << 31))
    fail(path,
         "unsupported array shape " + std::to_string(dims[0]) + "x" + std::to_string(dims[1]));

  if (descr.size() != 3) fail(path, "unsupported dtype '" + descr + "'");
  const char order = descr[0], kind = descr[1];
  const int item = descr[2] - '0';
  const bool little_host = [] {
    const std::uint16_t probe = 1;
    unsigned char b;
    std::memcpy(&b, &probe, 1);
    return b == 1;
  }();
  bool swap = false;
  if (order == '<')
    swap = !little_host;
  else if (order == '>')
    swap = little_host;
  else if (order != '|' && order != '=')
    fail(path, "unsupported dtype '" + descr + "'");
  if (!((kind == 'f' && (item == 4 || item == 8)) || (kind == 'u' && (item == 1 || item == 2))))
    fail(path, "unsupported dtype '" + descr + "' (float32, float64, uint8 or uint16 expected)");

  const std::size_t rows = static_cast<std::size_t>(dims[0]),
                    cols = static_cast<std::size_t>(dims[1]);
  const std::size_t need = rows * cols * static_cast<std::size_t>(item);
  if (bytes.size() - data_start != need)
    fail(path, "data size mismatch: " + std::to_string(bytes.size() - data_start) +
                   " bytes for a " + std::to_string(rows) + "x" + std::to_string(cols) + " '" +
                   descr + "' array needing " + std::to_string(need));

  cv::Mat out(static_cast<int>(rows), static_cast<int>(cols), CV_64F);
  const unsigned char *p = bytes.data() + data_start;
  const bool fortran_order = fortran == "True";
  unsigned char tmp[8];
  for (std::size_t i = 0; i < rows * cols; i++, p += item) {
    std::memcpy(tmp, p, static_cast<std::size_t>(item));
    if (swap) std::reverse(tmp, tmp + item);
    double v;
    if (kind == 'f' && item == 4) {
      float f;
      std::memcpy(&f, tmp, 4);
      v = f;
    } else if (kind == 'f') {
      std::memcpy(&v, tmp, 8);
    } else if (item == 1) {
      v = tmp[0];
    } else {
      std::uint16_t u;
      std::memcpy(&u, tmp, 2);
      v = u;
    }
    const std::size_t r = fortran_order ? i % rows : i / cols;
    const std::size_t c = fortran_order ? i / rows : i % cols;
    out.at<double>(static_cast<int>(r), static_cast<int>(c)) = v;
  }
  return out;
}

cv::Mat read_prediction_map(const std::string &path) {
  if (lower_extension(path) == ".npy") return read_npy(path);
  cv::Mat image = read_image(path);
  cv::Mat out;
  image.convertTo(out, CV_64F);
  return out;
}

cv::Mat read_saliency_map(const std::string &path) {
  if (lower_extension(path) == ".npy") return read_npy(path);
  cv::Mat image = read_image(path);
  const double scale = image.depth() == CV_8U    ? 1.0 / 255.0
                       : image.depth() == CV_16U ? 1.0 / 65535.0
                                                 : 1.0;
  cv::Mat out;
  image.convertTo(out, CV_64F, scale);
  return out;
}

cv::Mat read_fixation_map(const std::string &path, const std::string &mat_variable) {
  cv::Mat values;
  if (lower_extension(path) == ".mat") {
    values = read_mat_variable(path, mat_variable);
    if (values.empty()) fail(path, "variable '" + mat_variable + "' is empty");
  } else {
    read_image(path).convertTo(values, CV_64F);
  }
  cv::Mat out;
  cv::compare(values, 0.0, out, cv::CMP_NE);  // 255 where non-zero (NaN counts as non-zero)
  return out / 255;
}

}  // namespace model
