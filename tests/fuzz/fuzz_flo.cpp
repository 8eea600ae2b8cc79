// Fuzz target: the Middlebury .flo reader (flow::read_flo). Only
// flow::FlowFileError may leave it, and what it returns must match the header.
#include <opencv2/core.hpp>

#include <cstring>
#include <stdexcept>

#include "fuzz_target.hpp"
#include "salflow/flo_io.hpp"

namespace fuzz {

const char *target_name() { return "flo"; }

std::vector<Bytes> seeds() {
  std::vector<Bytes> out;
  TempDir dir;
  const cv::Size sizes[] = {{1, 1}, {3, 2}, {16, 9}};
  for (const cv::Size &s : sizes) {
    cv::Mat flow(s, CV_32FC2);
    cv::randu(flow, cv::Scalar(-20, -20), cv::Scalar(20, 20));
    flow.at<cv::Vec2f>(0, 0) = cv::Vec2f(1e10f, 1e10f);  // Middlebury "unknown"
    const std::string path = dir / "seed.flo";
    flow::write_flo(path, flow);
    out.push_back(read_file(path));
  }
  return out;
}

}  // namespace fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  fuzz::MemFile file(data, size);
  try {
    const cv::Mat flow = flow::read_flo(file.path());
    std::int32_t w = 0, h = 0;
    if (size >= 12) {
      std::memcpy(&w, data + 4, 4);
      std::memcpy(&h, data + 8, 4);
    }
    if (flow.type() != CV_32FC2 || flow.cols != w || flow.rows != h ||
        size != 12 + 8 * static_cast<std::size_t>(w) * static_cast<std::size_t>(h))
      throw std::logic_error("read_flo accepted a file that does not match its header");
    (void)flow::visualize_flow(flow);
  } catch (const flow::FlowFileError &) {
  }
  return 0;
}
