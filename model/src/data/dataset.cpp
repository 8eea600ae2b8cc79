// Dataset indexing, clip specs and clip plans (dataset.hpp). Reading clips and
// the background loader are in clip_loader.cpp.
#include "salmodel/dataset.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <functional>
#include <map>
#include <set>

#include "random.hpp"

namespace fs = std::filesystem;

namespace model::data {

Layout parse_layout(const std::string &name) {
  if (name == "dhf1k") return Layout::DHF1K;
  if (name == "ucf") return Layout::UCF;
  if (name == "hollywood") return Layout::Hollywood;
  if (name == "diem") return Layout::DIEM;
  throw DataError("unknown dataset layout '" + name + "' (expected dhf1k, ucf, hollywood or diem)");
}

std::string layout_name(Layout layout) {
  switch (layout) {
    case Layout::DHF1K:
      return "dhf1k";
    case Layout::UCF:
      return "ucf";
    case Layout::Hollywood:
      return "hollywood";
    case Layout::DIEM:
      return "diem";
  }
  return "unknown";
}

namespace {

std::string lower(std::string s) {
  for (char &c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool is_image(const fs::path &p) {
  const std::string e = lower(p.extension().string());
  return e == ".png" || e == ".jpg" || e == ".jpeg";
}
bool is_flo(const fs::path &p) { return lower(p.extension().string()) == ".flo"; }
bool is_mat(const fs::path &p) { return lower(p.extension().string()) == ".mat"; }

bool is_dir(const fs::path &p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

// Regular files of `dir` accepted by `keep`, sorted by name (hidden files skipped).
std::vector<fs::path> list_files(const fs::path &dir,
                                 const std::function<bool(const fs::path &)> &keep) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path &p = it->path();
    std::error_code fec;
    if (p.filename().string().rfind('.', 0) == 0 || !fs::is_regular_file(p, fec) || !keep(p))
      continue;
    out.push_back(p);
  }
  if (ec) throw DataError(dir.string() + ": cannot list: " + ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

// Sub-folders of `dir`, sorted by name (hidden ones, e.g. staging folders, skipped).
std::vector<std::string> list_dirs(const fs::path &dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind('.', 0) != 0 && is_dir(it->path())) out.push_back(name);
  }
  if (ec) throw DataError(dir.string() + ": cannot list: " + ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> strings(const std::vector<fs::path> &paths) {
  std::vector<std::string> out;
  out.reserve(paths.size());
  for (const fs::path &p : paths) out.push_back(p.string());
  return out;
}

// Trailing digits of a file stem ("img_00012" -> "00012"), empty when none.
std::string trailing_number(const std::string &stem) {
  std::size_t i = stem.size();
  while (i > 0 && std::isdigit(static_cast<unsigned char>(stem[i - 1]))) --i;
  return stem.substr(i);
}

// The split folder under `root`: the first existing alias.
fs::path split_folder(const fs::path &root, Layout layout, Split split) {
  const bool dhf1k = layout == Layout::DHF1K;
  const std::vector<std::string> names =
      split == Split::Train
          ? (dhf1k ? std::vector<std::string>{"train", "training"}
                   : std::vector<std::string>{"training", "train"})
          : (dhf1k ? std::vector<std::string>{"val", "validation", "test", "testing"}
                   : std::vector<std::string>{"testing", "test", "val", "validation"});
  for (const std::string &n : names)
    if (is_dir(root / n)) return root / n;
  std::string alternatives;
  for (const std::string &n : names) alternatives += (alternatives.empty() ? "" : ", ") + n;
  throw DataError((root / names.front()).string() + ": missing " +
                  (split == Split::Train ? "training" : "validation") +
                  " split folder (looked for " + alternatives + " under the " +
                  layout_name(layout) + " layout's root)");
}

// Frames of a video folder (images sorted by name); DataError when there are none.
std::vector<fs::path> frames_in(const fs::path &folder) {
  if (!is_dir(folder)) throw DataError(folder.string() + ": missing frames folder");
  std::vector<fs::path> frames = list_files(folder, is_image);
  if (frames.empty()) throw DataError(folder.string() + ": no frames (.png/.jpg)");
  return frames;
}

// Per-frame label files of `folder` matched to `frames` by stem:
// label_stem(frame stem) names the label file expected for that frame.
std::vector<std::string> match_labels(
    const fs::path &folder, const std::vector<fs::path> &frames,
    const std::function<std::string(const std::string &)> &label_stem,
    const std::function<bool(const fs::path &)> &keep, const char *what) {
  if (!is_dir(folder)) throw DataError(folder.string() + ": missing " + what + " folder");
  const std::vector<fs::path> files = list_files(folder, keep);
  std::map<std::string, fs::path> by_stem;
  for (const fs::path &f : files) by_stem.emplace(f.stem().string(), f);
  const std::string ext = files.empty() ? ".png" : files.front().extension().string();

  std::vector<std::string> out;
  std::map<std::string, std::string> used;  // label stem -> the frame it was matched to
  std::string first_missing, first_frame_without;
  for (const fs::path &frame : frames) {
    const std::string stem = label_stem(frame.stem().string());
    const auto it = by_stem.find(stem);
    if (it == by_stem.end()) {
      if (first_missing.empty()) {
        first_missing = (folder / (stem + ext)).string() + ": missing (frame " + frame.string() +
                        " has no " + what + " file)";
        first_frame_without = frame.string();
      }
      continue;
    }
    // Two frames of one name ("0001.jpg" and "0001.png"; DIEM: one number)
    // would share this label while another label went unused (found with the
    // dataset fuzz target's one-file-per-frame check).
    const auto [at, fresh] = used.emplace(stem, frame.string());
    if (!fresh)
      throw DataError(frame.string() + ": matches the same " + what + " file (" + it->second.string() +
                      ") as " + at->second + "; frames need distinct names");
    out.push_back(it->second.string());
  }
  if (files.size() != frames.size() || !first_missing.empty()) {
    std::string unmatched;
    for (const fs::path &f : files)
      if (!used.count(f.stem().string())) {
        unmatched = f.string();
        break;
      }
    if (files.size() != frames.size())
      throw DataError(
          folder.string() + ": " + std::to_string(files.size()) + " " + what + " files for " +
          std::to_string(frames.size()) + " frames in " + frames.front().parent_path().string() +
          (!first_missing.empty() ? " (first frame without one: " + first_frame_without + ")"
           : unmatched.empty()    ? ""
                                  : " (first file without a frame: " + unmatched + ")"));
    throw DataError(first_missing);
  }
  return out;
}

// frames - 1 forward flows of a video (see IndexOptions::require_flow).
std::vector<std::string> match_flows(const fs::path &folder, const std::vector<fs::path> &frames) {
  const std::string hint =
      " (make them with flow-extract --input <frames> --output " + folder.string() + ")";
  if (!is_dir(folder)) throw DataError(folder.string() + ": missing flow folder" + hint);
  const std::size_t needed = frames.size() - 1;
  const std::vector<fs::path> files = list_files(folder, is_flo);
  std::set<std::string> names;
  for (const fs::path &f : files) names.insert(f.filename().string());
  std::vector<std::string> out;
  std::size_t matched = 0;
  std::string first_missing;
  std::map<std::string, std::string> stems;  // frame stem -> frame (each names one flow)
  for (std::size_t i = 0; i < needed; ++i) {
    const fs::path p = folder / (frames[i].stem().string() + ".flo");
    if (names.count(p.filename().string())) {
      // Two frames of one name would share this flow (as labels above).
      const auto [at, fresh] = stems.emplace(frames[i].stem().string(), frames[i].string());
      if (!fresh)
        throw DataError(frames[i].string() + ": same name as " + at->second + ", so both would use " +
                        p.string() + " (flows are named after their first frame)");
      ++matched;
      out.push_back(p.string());
    } else if (first_missing.empty()) {
      first_missing =
          p.string() + ": missing (flow from frame " + frames[i].string() + " to the next)" + hint;
    }
  }
  if (matched == needed) return out;
  if (matched == 0 && files.size() >= needed) {
    // No name matches a frame: FlowNet 2.0 style names, taken in sorted order (B.10.2).
    return strings(
        std::vector<fs::path>(files.begin(), files.begin() + static_cast<std::ptrdiff_t>(needed)));
  }
  throw DataError(first_missing);
}

// One video from its frames folder and its label and flow folders.
VideoRecord make_record(
    const std::string &name, const fs::path &frame_dir, const fs::path &maps_dir,
    const fs::path &fixation_dir, const fs::path &flow_dir, const IndexOptions &options,
    const std::function<std::string(const std::string &)> &map_stem =
        [](const std::string &s) { return s; },
    const std::function<std::string(const std::string &)> &fixation_stem =
        [](const std::string &s) { return s; },
    const std::function<bool(const fs::path &)> &fixation_kind = is_image) {
  VideoRecord v;
  v.name = name;
  const std::vector<fs::path> frames = frames_in(frame_dir);
  v.frames = strings(frames);
  const bool labelled = options.require_labels || is_dir(maps_dir) || is_dir(fixation_dir);
  if (labelled) {
    v.maps = match_labels(maps_dir, frames, map_stem, is_image, "map");
    v.fixations = match_labels(fixation_dir, frames, fixation_stem, fixation_kind, "fixation");
  }
  if (options.require_flow && frames.size() > 1) v.flows = match_flows(flow_dir, frames);
  return v;
}

}  // namespace

std::vector<VideoRecord> index_dataset(const IndexOptions &options) {
  const fs::path root(options.root);
  if (options.root.empty()) throw DataError("dataset root: empty path");
  if (!is_dir(root)) throw DataError(options.root + ": no such dataset folder");

  std::vector<VideoRecord> videos;
  if (options.layout == Layout::DHF1K && is_dir(root / "frames") && is_dir(root / "annotation")) {
    // The official distribution, split by sorted index as STSANet's train.py does.
    const std::vector<std::string> all = list_dirs(root / "frames");
    const std::size_t lo = options.split == Split::Train ? 0 : 600;
    const std::size_t hi =
        std::min(all.size(), options.split == Split::Train ? std::size_t(600) : std::size_t(700));
    if (lo >= hi)
      throw DataError((root / "frames").string() + ": " + std::to_string(all.size()) +
                      " videos, but the official DHF1K split takes validation videos from sorted "
                      "index 600 to 699");
    for (std::size_t i = lo; i < hi; ++i) {
      const fs::path frames = root / "frames" / all[i], ann = root / "annotation" / all[i];
      videos.push_back(make_record(all[i], frames / "images", ann / "maps", ann / "fixation",
                                   frames / "flow", options));
    }
    return videos;
  }

  const fs::path split = split_folder(root, options.layout, options.split);
  for (const std::string &name : list_dirs(split)) {
    const fs::path dir = split / name;
    if (options.layout == Layout::DIEM) {
      // Frames directly in the video folder; labels under ann/<video>, numbered like the frames.
      const fs::path ann = root / "ann" / name;
      auto numbered = [](const char *prefix) {
        return [prefix](const std::string &stem) { return prefix + trailing_number(stem); };
      };
      videos.push_back(make_record(name, dir, ann / "maps", ann, dir / "flow", options,
                                   numbered("eyeMap_"), numbered("fixMap_"), is_mat));
    } else {
      videos.push_back(
          make_record(name, dir / "images", dir / "maps", dir / "fixation", dir / "flow", options));
    }
  }
  if (videos.empty()) throw DataError(split.string() + ": no videos");
  return videos;
}

// ------------------------------------------------------------------ clip specs

int ClipSpec::span() const {
  const int frame_span = (frames - 1) * step + 1;
  return flows > 0 ? std::max(frame_span, flows + 1) : frame_span;
}

ClipSpec clip_spec(ModelKind model, Layout layout) {
  ClipSpec s;
  switch (model) {
    case ModelKind::STSANet:
      // A.10: 32 frames, the label at clip index 15; per-dataset start ranges.
      s.frames = 32;
      s.step = 1;
      s.label_frames = {15};
      s.flows = 0;
      switch (layout) {
        case Layout::DHF1K:  // train [0, n-32), validation 0, 32, ... <= n-32
          s.validation_stride = 32;
          s.exclusive_last_start = true;
          s.exclusive_last_validation_start = false;
          break;
        case Layout::UCF:  // train [0, n-32), validation 0, 4, ... < n-32
          s.validation_stride = 4;
          s.exclusive_last_start = true;
          s.exclusive_last_validation_start = true;
          break;
        case Layout::Hollywood:  // train [0, n-32], validation 0, 64, ... <= n-32
          s.validation_stride = 64;
          s.exclusive_last_start = false;
          s.exclusive_last_validation_start = false;
          break;
        case Layout::DIEM:  // train [0, n-32), validation 0, 32, ... <= n-32; label = first frame
                            // (A.13)
          s.validation_stride = 32;
          s.exclusive_last_start = true;
          s.exclusive_last_validation_start = false;
          s.label_frames = {0};
          break;
      }
      return s;
    case ModelKind::STRANet:
      // B.12: 5 frames every 2nd frame, every frame labelled, each frame with its
      // 5 forward flows t .. t+4, so flows start .. start+12 (13) and a span of
      // 14 frames. The official generator draws start in [0, N-10] and pads the
      // flow list with its last flow; here the clip must hold its flows, so
      // starts are [0, n-14]. Validation (one random clip per video in the
      // official code) is one clip per video from the middle, reproducibly.
      s.frames = 5;
      s.step = 2;
      s.label_frames = {0, 1, 2, 3, 4};
      s.flows = 13;
      s.validation_stride = 0;
      s.exclusive_last_start = false;
      s.exclusive_last_validation_start = false;
      return s;
    case ModelKind::TinyHD:
      // 16 frames labelled at the last (the causal window of inference);
      // train [0, n-16], validation 0, 16, ... <= n-16 on every layout.
      s.frames = 16;
      s.step = 1;
      s.label_frames = {15};
      s.flows = 0;
      s.validation_stride = 16;
      s.exclusive_last_start = false;
      s.exclusive_last_validation_start = false;
      return s;
    case ModelKind::Baseline:
      break;
  }
  throw DataError(std::string(to_string(model)) +
                  ": this model has no training recipe (use stsanet, stranet or tinyhd)");
}

std::vector<ClipRef> plan_clips(const std::vector<VideoRecord> &videos, const ClipSpec &spec,
                                Split split, std::uint64_t seed, int epoch) {
  const int span = spec.span();
  std::vector<ClipRef> plan;
  if (split == Split::Validation) {
    for (int v = 0; v < int(videos.size()); ++v) {
      const int last = int(videos[v].frames.size()) - span;  // the last start that fits
      if (last < 0) {
        plan.push_back({v, 0});  // short video: one clip, the last frame repeated
        continue;
      }
      if (spec.validation_stride <= 0) {
        plan.push_back({v, last / 2});
        continue;
      }
      const std::size_t before = plan.size();
      for (int s = 0; spec.exclusive_last_validation_start ? s < last : s <= last;
           s += spec.validation_stride)
        plan.push_back({v, s});
      if (plan.size() == before) plan.push_back({v, 0});  // n == span with an exclusive range
    }
    return plan;
  }

  // Training: the videos in a shuffled order (Fisher-Yates on our own
  // generator), one random start each; videos with no valid start are skipped.
  detail::Random rng(
      detail::seed_of(seed, 0x706c616eull /* "plan" */, std::uint64_t(std::int64_t(epoch))));
  std::vector<int> order(videos.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = int(i);
  for (int i = int(order.size()) - 1; i > 0; --i) std::swap(order[i], order[rng.integer(0, i)]);
  for (int v : order) {
    const int count = int(videos[v].frames.size()) - span + (spec.exclusive_last_start ? 0 : 1);
    if (count <= 0) continue;
    plan.push_back({v, rng.integer(0, count - 1)});
  }
  return plan;
}

}  // namespace model::data
