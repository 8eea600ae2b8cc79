// A synthetic saliency dataset with a known answer (issue 6, "Proof that it
// learns"): textured backgrounds, static distractor objects, one or two
// objects that move and sometimes one that appears, with ground-truth
// fixations sampled around the moving / appearing objects and continuous maps
// made from them as the benchmarks make theirs (fixations blurred by a
// Gaussian, normalised to 0-255). Every object is drawn from the same
// appearance distribution, so a single frame does not tell which one is
// salient: a model has to use motion and change over time.
//
// Objects are textured patches pasted at whole-pixel positions, so the
// forward flow of the scene is known exactly (flow(i) maps frame i onto
// frame i + 1 wherever the point stays visible).
//
// Torch-free (OpenCV only); written to the DHF1K/STRA-Net arrangement that
// index_dataset() reads (dataset.hpp, DESIGN.md "Data layouts").
#pragma once

#include <cstdint>
#include <functional>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

namespace model::data {

struct SyntheticVideoOptions {
  int width = 192;
  int height = 112;
  int frames = 48;
  std::uint64_t seed = 1;
};

/// One synthetic video. Every accessor is a pure function of (options, index):
/// frames can be produced in any order, on any thread, with identical bytes.
class SyntheticVideo {
 public:
  enum class Role { Distractor, Mover, Appearing };

  /// Throws ModelError for sizes below 32x32 or fewer than 2 frames.
  explicit SyntheticVideo(const SyntheticVideoOptions &options);

  const SyntheticVideoOptions &options() const { return options_; }
  int frame_count() const { return options_.frames; }

  /// BGR CV_8UC3 frame `index` (0-based).
  cv::Mat frame(int index) const;
  /// CV_32FC2 forward flow from frame `index` to `index + 1` (u right, v down,
  /// pixels): the displacement of the topmost object at each pixel, 0 on the
  /// background (the camera is still). index < frame_count() - 1.
  cv::Mat flow(int index) const;
  /// The ground-truth fixations of frame `index` (pixel positions, inside the frame).
  std::vector<cv::Point> fixations(int index) const;
  /// CV_8UC1, 255 at every fixation, 0 elsewhere (the benchmarks' binary fixation map).
  cv::Mat fixation_map(int index) const;
  /// CV_8UC1 continuous map: the fixations blurred with a Gaussian of
  /// sigma = map_sigma() pixels, scaled so its maximum is 255.
  cv::Mat saliency_map(int index) const;
  double map_sigma() const;

  /// The scene, for tests and documentation.
  int object_count() const { return static_cast<int>(objects_.size()); }
  Role object_role(int k) const { return objects_.at(k).role; }
  /// Integer centre of object k in frame `index`.
  cv::Point object_centre(int k, int index) const;
  int object_radius(int k) const { return objects_.at(k).radius; }
  bool object_visible(int k, int index) const { return index >= objects_.at(k).appear; }

 private:
  struct Object {
    Role role = Role::Distractor;
    int radius = 0;
    cv::Mat patch;  ///< BGR texture, (2r+1) x (2r+1)
    cv::Mat mask;   ///< CV_8UC1 shape of the same size
    cv::Point2f start, velocity;
    int appear = 0;  ///< first frame in which it is visible
  };
  /// Objects looked at in frame `index` and the share of fixations each gets.
  std::vector<std::pair<int, double>> attention(int index) const;

  SyntheticVideoOptions options_;
  cv::Mat background_;
  std::vector<Object> objects_;  ///< in drawing order (later on top)
};

struct SyntheticDatasetOptions {
  int train_videos = 16;
  int val_videos = 4;
  int frames = 48;
  int width = 192;
  int height = 112;
  std::uint64_t seed = 1;
  /// Also write flow/NNNN.flo (frames - 1 exact forward flows per video).
  bool flow = false;
  /// Videos written in parallel (0: one per core). The output does not depend on it.
  int threads = 0;
  /// Replace a non-empty `dir` as a whole once the new dataset is complete
  /// (saliency-make-dataset --overwrite); not a property of the data, so not
  /// recorded in synthetic.txt.
  bool overwrite = false;
};

/// Name of the video at `index` (0-based over train then val videos): "001", "002", ...
std::string synthetic_video_name(int index);
/// Options of the video at `index`: its seed is derived from (options.seed, index) only.
SyntheticVideoOptions synthetic_video_options(const SyntheticDatasetOptions &options, int index);

/// Writes `dir`/{train,val}/<video>/images/NNNN.png, maps/NNNN.png,
/// fixation/NNNN.png and, with options.flow, flow/NNNN.flo (flow NNNN -> next,
/// flow-extract's naming), NNNN counting frames from 0001; plus `dir`/synthetic.txt
/// recording the options. Everything is written to a staging folder and moved
/// into place at the end, so a failed run leaves no complete-looking dataset.
/// Refuses a `dir` that exists and is not empty unless options.overwrite
/// (tools::cli::StagedDir: "DIR: not empty (N entries); pass --overwrite to
/// replace it"), before writing anything. `progress(done, total)` is
/// called after each video (from the calling thread). Throws ModelError.
void write_synthetic_dataset(const std::string &dir, const SyntheticDatasetOptions &options,
                             const std::function<void(int, int)> &progress = {});

}  // namespace model::data
