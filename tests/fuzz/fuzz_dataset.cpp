// Fuzz target dataset: the dataset indexes (model::data::index_dataset,
// model/src/data/dataset.cpp) and clip reading (read_clip, ClipLoader,
// clip_loader.cpp). Those read folder trees, not bytes, so the input describes
// a small tree, which is written under a fresh temporary folder (in /dev/shm
// when it exists) and removed after the input:
//
//   input   := record*                      (at most kMaxRecords)
//   record  := kind:u8 path body
//   kind%4  == 0: a folder                  body: nothing
//           == 1: a file                    body: length:u16le, that many bytes
//           == 2: a file, copy of an earlier one   body: index:u8 (of the earlier file records, modulo)
//           == 3: a symbolic link           body: its target, a path
//   path    := length:u8 (mod 97), that many characters
//
// Path characters outside [A-Za-z0-9._-/] become letters, "." and ".."
// components become "_", so every entry stays inside the folder (a link's
// target is relative to the link's folder and has no "..").
//
// Each tree is indexed with every layout, split and option; the first tree
// that indexes has the first planned clips of each model read by read_clip and
// by a ClipLoader. Only ModelError (DataError is one) may leave; the indexes'
// and the samples' promises (dataset.hpp) are checked as invariants.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <set>
#include <stdexcept>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "fuzz_target.hpp"
#include "salmodel/dataset.hpp"
#include "salmodel/synthetic_dataset.hpp"

namespace {

// Frames are decoded by OpenCV, which accepts images of up to 2^30 pixels: a
// few bytes of PNG header may ask for gigabytes. That is OpenCV's limit (set
// by this variable, read once at its first decode), not the index's; keep it
// within the fuzzer's memory.
void limit_opencv_image_size() {
  static const bool done = ::setenv("OPENCV_IO_MAX_IMAGE_PIXELS", "4194304", 0) == 0;
  (void)done;
}

namespace fs = std::filesystem;
namespace data = model::data;
using fuzz::Bytes;

constexpr std::size_t kMaxRecords = 512;
constexpr std::size_t kMaxTreeBytes = std::size_t(4) << 20;  // copies could multiply the input
constexpr std::size_t kMaxPath = 96;
constexpr int kMaxDepth = 8;

// ------------------------------------------------------------ input -> tree

class Input {
 public:
  Input(const std::uint8_t *data, std::size_t size) : p_(data), end_(data + size) {}
  bool done() const { return p_ >= end_; }
  std::uint8_t byte() { return p_ < end_ ? *p_++ : 0; }
  std::size_t u16() {
    const std::size_t lo = byte();
    return lo | (std::size_t(byte()) << 8);
  }
  // Up to n bytes (fewer at the end of the input).
  std::string bytes(std::size_t n) {
    n = std::min<std::size_t>(n, static_cast<std::size_t>(end_ - p_));
    std::string s(reinterpret_cast<const char *>(p_), n);
    p_ += n;
    return s;
  }

 private:
  const std::uint8_t *p_, *end_;
};

// A safe relative path from raw characters (see the format above); empty when nothing is left.
std::string safe_path(const std::string &raw) {
  std::string mapped;
  for (unsigned char c : raw) {
    const bool ok = std::isalnum(c) || c == '.' || c == '_' || c == '-' || c == '/';
    mapped += ok ? static_cast<char>(c) : static_cast<char>('a' + c % 26);
  }
  std::string out;
  int depth = 0;
  std::size_t start = 0;
  while (start <= mapped.size() && depth < kMaxDepth) {
    std::size_t slash = mapped.find('/', start);
    if (slash == std::string::npos) slash = mapped.size();
    std::string part = mapped.substr(start, slash - start);
    start = slash + 1;
    if (part.empty()) continue;
    if (part == "." || part == "..") part = "_";
    out += (out.empty() ? "" : "/") + part;
    ++depth;
  }
  return out.substr(0, kMaxPath);
}

std::string read_path(Input &in) { return safe_path(in.bytes(in.byte() % 97)); }

// The temporary folder of one input, removed with its contents.
class TreeDir {
 public:
  TreeDir() {
    std::error_code ec;
    const std::string base = fs::is_directory("/dev/shm", ec) ? "/dev/shm" : fs::temp_directory_path().string();
    std::string tmpl = base + "/gst-saliency-fuzz-dataset-XXXXXX";
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed under " + base);
    path_ = tmpl;
  }
  ~TreeDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TreeDir(const TreeDir &) = delete;
  TreeDir &operator=(const TreeDir &) = delete;
  const std::string &path() const { return path_; }

 private:
  std::string path_;
};

// Writes the tree the input describes under `root`. Entries that cannot be
// made (a file where a folder should be, ...) are skipped: that is a tree too.
void build_tree(const std::uint8_t *data, std::size_t size, const fs::path &root) {
  Input in(data, size);
  std::vector<std::string> contents;
  std::size_t written = 0;
  for (std::size_t r = 0; r < kMaxRecords && !in.done(); ++r) {
    const int kind = in.byte() % 4;
    const std::string rel = read_path(in);
    std::string body, target;
    if (kind == 1) body = in.bytes(in.u16());
    if (kind == 2) {
      const std::size_t index = in.byte();
      if (!contents.empty()) body = contents[index % contents.size()];
    }
    if (kind == 3) target = read_path(in);
    if (rel.empty()) continue;
    const fs::path p = root / rel;
    std::error_code ec;
    fs::create_directories(p.parent_path(), ec);
    if (kind == 0) {
      fs::create_directories(p, ec);
    } else if (kind == 3) {
      if (!target.empty()) fs::create_symlink(target, p, ec);
    } else if (written + body.size() <= kMaxTreeBytes) {
      std::ofstream(p, std::ios::binary | std::ios::trunc).write(body.data(), std::streamsize(body.size()));
      written += body.size();
      if (kind == 1) contents.push_back(std::move(body));
    }
  }
}

// ------------------------------------------------------- tree -> records (seeds)

void put_path(Bytes &b, const std::string &path) {
  if (path.size() > 96) throw std::logic_error("seed path too long: " + path);
  b.push_back(static_cast<std::uint8_t>(path.size()));
  b.insert(b.end(), path.begin(), path.end());
}

struct RecordWriter {
  Bytes out;
  std::map<std::string, std::size_t> seen;  // file content -> index among file records
  void folder(const std::string &path) {
    out.push_back(0);
    put_path(out, path);
  }
  void file(const std::string &path, const std::string &content) {
    const auto it = seen.find(content);
    if (it != seen.end() && it->second < 256) {
      out.push_back(2);
      put_path(out, path);
      out.push_back(static_cast<std::uint8_t>(it->second));
      return;
    }
    if (content.size() > 0xffff) throw std::logic_error("seed file too large: " + path);
    out.push_back(1);
    put_path(out, path);
    out.push_back(static_cast<std::uint8_t>(content.size()));
    out.push_back(static_cast<std::uint8_t>(content.size() >> 8));
    out.insert(out.end(), content.begin(), content.end());
    const std::size_t index = seen.size();
    seen.emplace(content, index);
  }
  void link(const std::string &path, const std::string &target) {
    out.push_back(3);
    put_path(out, path);
    put_path(out, target);
  }
};

std::string file_bytes(const fs::path &p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Every file of the tree under `root` (sorted), renamed by `rename` (empty: left out).
void add_tree(RecordWriter &w, const fs::path &root, const std::function<std::string(std::string)> &rename) {
  std::vector<fs::path> files;
  for (const auto &e : fs::recursive_directory_iterator(root))
    if (e.is_regular_file()) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const fs::path &f : files) {
    const std::string to = rename(fs::relative(f, root).generic_string());
    if (!to.empty()) w.file(to, file_bytes(f));
  }
}

// A MAT-file v5 holding one double matrix `name` (column-major), for DIEM's fixMap_*.mat.
std::string mat_file(const std::string &name, const cv::Mat &m) {
  std::string b = "MATLAB 5.0 MAT-file, gst-saliency fuzz seed";
  b.resize(116, ' ');
  b.resize(124, '\0');
  b += std::string("\x00\x01IM", 4);
  auto u32 = [](std::string &s, std::uint32_t v) { s.append(reinterpret_cast<const char *>(&v), 4); };
  auto element = [&](std::string &s, std::uint32_t type, const std::string &payload) {
    u32(s, type);
    u32(s, static_cast<std::uint32_t>(payload.size()));
    s += payload;
    s.resize((s.size() + 7) / 8 * 8, '\0');
  };
  std::string flags, dims, values, body;
  u32(flags, 6);  // mxDOUBLE_CLASS
  u32(flags, 0);
  u32(dims, static_cast<std::uint32_t>(m.rows));
  u32(dims, static_cast<std::uint32_t>(m.cols));
  for (int x = 0; x < m.cols; ++x)
    for (int y = 0; y < m.rows; ++y) {
      const double v = m.at<std::uint8_t>(y, x) / 255.0;
      values.append(reinterpret_cast<const char *>(&v), 8);
    }
  element(body, 6 /*miUINT32*/, flags);
  element(body, 5 /*miINT32*/, dims);
  element(body, 1 /*miINT8*/, name);
  element(body, 9 /*miDOUBLE*/, values);
  element(b, 14 /*miMATRIX*/, body);
  return b;
}

std::string png(const cv::Mat &m) {
  std::vector<unsigned char> buf;
  cv::imencode(".png", m, buf);
  return std::string(buf.begin(), buf.end());
}

// "train/001/images/0001.png" -> its parts.
std::vector<std::string> parts(const std::string &rel) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t slash; (slash = rel.find('/', start)) != std::string::npos; start = slash + 1)
    out.push_back(rel.substr(start, slash - start));
  out.push_back(rel.substr(start));
  return out;
}

// ------------------------------------------------------------- the checks

void check(bool ok, const std::string &what) {
  if (!ok) throw std::logic_error(what);
}

void check_index(const std::vector<data::VideoRecord> &videos, const data::IndexOptions &o) {
  check(!videos.empty(), "index_dataset returned no videos without an error");
  for (const data::VideoRecord &v : videos) {
    check(!v.frames.empty(), v.name + ": a video without frames");
    check(v.maps.empty() || v.maps.size() == v.frames.size(), v.name + ": maps do not match frames");
    check(v.fixations.size() == v.maps.size(), v.name + ": fixations do not match maps");
    check(!o.require_labels || !v.maps.empty(), v.name + ": labels required but none");
    const std::size_t flows = o.require_flow && v.frames.size() > 1 ? v.frames.size() - 1 : 0;
    check(v.flows.size() == flows, v.name + ": " + std::to_string(v.flows.size()) + " flows for " +
                                       std::to_string(v.frames.size()) + " frames");
    for (const auto *list : {&v.frames, &v.maps, &v.fixations, &v.flows}) {
      // Files are matched one to one (by name): no file serves two frames.
      std::set<std::string> distinct;
      for (const std::string &f : *list) {
        std::error_code ec;
        check(fs::is_regular_file(f, ec), f + ": indexed but not a file");
        check(distinct.insert(f).second, v.name + ": " + f + " indexed for two frames");
      }
    }
  }
}

void check_sample(const data::Sample &s, const data::ClipSpec &spec) {
  check(s.frames.defined() && s.frames.dim() == 4 && s.frames.size(0) == spec.frames && s.frames.size(3) == 3,
        "sample frames of the wrong shape");
  check(int(s.frame_indices.size()) == spec.frames, "frame_indices of the wrong length");
  check(spec.flows == 0 ? !s.flows.defined() : (s.flows.dim() == 4 && s.flows.size(0) == spec.flows),
        "sample flows of the wrong shape");
  if (s.maps.defined()) {
    check(s.maps.dim() == 3 && s.maps.size(0) == std::int64_t(spec.label_frames.size()), "maps of the wrong shape");
    check(!s.fixations.defined() || s.fixations.sizes() == s.maps.sizes(), "fixations unlike maps");
  }
}

void read_clips(const std::vector<data::VideoRecord> &videos, data::Layout layout, data::Split split,
                bool have_flows) {
  for (model::ModelKind kind : {model::ModelKind::STSANet, model::ModelKind::STRANet}) {
    const data::ClipSpec spec = data::clip_spec(kind, layout);
    if (spec.flows > 0 && !have_flows) continue;
    std::vector<data::ClipRef> plan = data::plan_clips(videos, spec, split, 7, 0);
    for (const data::ClipRef &r : plan) {
      check(r.video >= 0 && r.video < int(videos.size()) && r.start >= 0, "a planned clip outside the index");
    }
    if (plan.empty()) continue;
    try {
      check_sample(data::read_clip(videos, spec, plan.front()), spec);
    } catch (const model::ModelError &) {
    }
    if (plan.size() > 2) plan.resize(2);
    data::ClipLoader loader(videos, spec, plan, {}, data::LoaderOptions{0, 1});
    for (std::size_t i = 0; i < plan.size() + 1; ++i) {
      try {
        const auto s = loader.next();
        if (!s) break;
        check_sample(*s, spec);
      } catch (const model::ModelError &) {
      }
    }
  }
}

}  // namespace

namespace fuzz {

const char *target_name() { return "dataset"; }

std::vector<Bytes> seeds() {
  limit_opencv_image_size();
  TempDir dir;
  data::SyntheticDatasetOptions o;
  o.train_videos = 2;
  o.val_videos = 1;
  o.frames = 3;
  o.width = 32;
  o.height = 32;
  o.flow = true;
  o.threads = 1;
  data::write_synthetic_dataset(dir / "synth", o);
  const fs::path synth = dir / "synth";
  std::vector<Bytes> out;

  auto keep = [](std::string rel) { return rel == "synthetic.txt" ? std::string() : rel; };
  {  // dhf1k, STRA-Net's arrangement, with flows (as written by the generator)
    RecordWriter w;
    add_tree(w, synth, keep);
    out.push_back(w.out);
  }
  {  // ucf / hollywood: training, testing; one video's flows named FlowNet-style, a link, an empty folder
    RecordWriter w;
    add_tree(w, synth, [](std::string rel) {
      auto p = parts(rel);
      if (p.size() < 4) return std::string();
      p[0] = p[0] == "train" ? "training" : "testing";
      if (p[2] == "flow" && p[1] == "002") p[3] = "flownet_" + p[3];
      std::string s;
      for (const auto &q : p) s += (s.empty() ? "" : "/") + q;
      return s;
    });
    w.link("training/003", "002");
    w.folder("testing/empty");
    out.push_back(w.out);
  }
  {  // dhf1k official distribution: frames/<vid>/images (+flow), annotation/<vid>/{maps,fixation}
    RecordWriter w;
    add_tree(w, synth, [](std::string rel) {
      auto p = parts(rel);
      if (p.size() < 4) return std::string();
      const bool labels = p[2] == "maps" || p[2] == "fixation";
      return (labels ? "annotation/" : "frames/") + p[1] + "/" + p[2] + "/" + p[3];
    });
    out.push_back(w.out);
  }
  {  // diem: frames in the video folder, ann/<video>/maps/eyeMap_N.jpg and fixMap_N.mat
    RecordWriter w;
    std::vector<fs::path> files;
    for (const auto &e : fs::recursive_directory_iterator(synth))
      if (e.is_regular_file()) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const fs::path &f : files) {
      const auto p = parts(fs::relative(f, synth).generic_string());
      if (p.size() < 4) continue;
      const std::string split = p[0] == "train" ? "training/" : "testing/";
      const std::string number = "0000" + f.stem().string().substr(f.stem().string().size() - 1);
      if (p[2] == "images") w.file(split + p[1] + "/img_" + number + ".jpg", file_bytes(f));
      if (p[2] == "flow") w.file(split + p[1] + "/flow/img_" + number + ".flo", file_bytes(f));
      if (p[2] == "maps") w.file("ann/" + p[1] + "/maps/eyeMap_" + number + ".jpg", file_bytes(f));
      if (p[2] == "fixation")
        w.file("ann/" + p[1] + "/fixMap_" + number + ".mat",
               mat_file("eyeMap", cv::imread(f.string(), cv::IMREAD_GRAYSCALE)));
    }
    out.push_back(w.out);
  }
  {  // hand-made shapes: frames of two sizes, a map that is not an image, an empty flow
    RecordWriter w;
    const cv::Mat a(32, 32, CV_8UC3, cv::Scalar(10, 20, 30)), b(16, 48, CV_8UC3, cv::Scalar(1, 2, 3));
    const cv::Mat m(32, 32, CV_8UC1, cv::Scalar(128));
    for (const char *v : {"train/a", "val/a"}) {
      w.file(std::string(v) + "/images/0001.png", png(a));
      w.file(std::string(v) + "/images/0002.png", png(b));
      w.file(std::string(v) + "/maps/0001.png", png(m));
      w.file(std::string(v) + "/maps/0002.png", "not an image");
      w.file(std::string(v) + "/fixation/0001.png", png(m));
      w.file(std::string(v) + "/fixation/0002.png", png(m));
      w.file(std::string(v) + "/flow/0001.flo", "");
    }
    out.push_back(w.out);
  }
  {  // regression: frames 0001.jpg and 0001.png got the same map, fixation and
     // flow while 0002's went unused (now a DataError naming the second frame)
    RecordWriter w;
    const cv::Mat a(32, 32, CV_8UC3, cv::Scalar(10, 20, 30)), m(32, 32, CV_8UC1, cv::Scalar(128));
    for (const char *f : {"0001.jpg", "0001.png", "0002.png"}) {
      w.file(std::string("train/a/images/") + f, png(a));
      w.file(std::string("val/b/images/") + f, png(a));  // unlabelled: reaches the flows
    }
    for (const char *f : {"0001.png", "0002.png", "0003.png"}) {
      w.file(std::string("train/a/maps/") + f, png(m));
      w.file(std::string("train/a/fixation/") + f, png(m));
    }
    for (const char *f : {"0001.flo", "0002.flo"}) w.file(std::string("val/b/flow/") + f, "PIEH");
    out.push_back(w.out);
  }
  // The seeds must index, or the fuzzer never gets past the folder names.
  for (std::size_t i = 0; i < 4; ++i) {
    TreeDir tree;
    build_tree(out[i].data(), out[i].size(), tree.path());
    const data::Layout layout = i == 0 ? data::Layout::DHF1K
                                : i == 1 ? data::Layout::UCF
                                : i == 2 ? data::Layout::DHF1K
                                         : data::Layout::DIEM;
    data::IndexOptions opt;
    opt.root = tree.path();
    opt.layout = layout;
    opt.require_flow = true;
    if (data::index_dataset(opt).size() < 2)
      throw std::logic_error("dataset seed " + std::to_string(i) + " does not index as training videos");
  }
  return out;
}

}  // namespace fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *bytes, std::size_t size) {
  limit_opencv_image_size();
  TreeDir tree;
  build_tree(bytes, size, tree.path());
  int reads = 0;
  for (data::Layout layout : {data::Layout::DHF1K, data::Layout::UCF, data::Layout::Hollywood, data::Layout::DIEM})
    for (data::Split split : {data::Split::Train, data::Split::Validation})
      for (int flags = 0; flags < 4; ++flags) {
        data::IndexOptions o;
        o.root = tree.path();
        o.layout = layout;
        o.split = split;
        o.require_flow = flags & 1;
        o.require_labels = flags & 2;
        std::vector<data::VideoRecord> videos;
        try {
          videos = data::index_dataset(o);
        } catch (const model::ModelError &) {
          continue;
        }
        check_index(videos, o);
        // Clips of the first two indexes that succeed (the first with flows
        // reads STRA-Net clips too): enough to reach every reader, cheap enough.
        if (reads < 2) {
          ++reads;
          read_clips(videos, layout, split, o.require_flow);
        }
      }
  return 0;
}
