// Saliency datasets for training and validation (DESIGN.md "Data layouts",
// model-spec A.10, B.12, C.5): indexing the published folder layouts, choosing
// clips as each model's official training does, and decoding them on
// background threads in a deterministic order.
//
// Three small pieces, each with one job:
//  - index_dataset(): a folder -> per-video lists of frame/map/fixation/flow
//    files, checked for mismatches (one-line DataError naming the file);
//  - ClipSpec / plan_clips(): which clips an epoch visits, per model, layout
//    and split (random starts for training, fixed strides for validation),
//    reproducible from a seed;
//  - ClipLoader: reads the planned clips on worker threads, applies a caller
//    transform there (model pre-processing), and hands them out in plan order.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/types.h>

#include "salmodel/predictor.hpp"  // ModelError, ModelKind

namespace model::data {

/// A dataset problem: message "<file or folder>: <problem>", one line.
class DataError : public ModelError {
 public:
  using ModelError::ModelError;
};

enum class Layout { DHF1K, UCF, Hollywood, DIEM };
/// "dhf1k", "ucf", "hollywood", "diem" (throws DataError otherwise).
Layout parse_layout(const std::string &name);
std::string layout_name(Layout layout);

enum class Split { Train, Validation };

/// One video: per-frame files in frame order. maps/fixations hold one entry
/// per frame (same length as frames) when the split has labels; flows holds
/// frames.size() - 1 forward flows (flow i: frame i -> i+1, flow-extract's
/// convention) when requested, else it is empty.
struct VideoRecord {
  std::string name;
  std::vector<std::string> frames;
  std::vector<std::string> maps;
  std::vector<std::string> fixations;  ///< binary PNG, or .mat (DIEM: variable eyeMap)
  std::vector<std::string> flows;
};

struct IndexOptions {
  std::string root;
  Layout layout = Layout::DHF1K;
  Split split = Split::Train;
  /// Require a flow/ folder per video with frames - 1 `.flo` files (STRA-Net).
  /// Flows are matched to frames by name (flow-extract: `<frame stem>.flo` is
  /// the flow from that frame to the next); a folder whose names match no frame
  /// but holds at least frames - 1 `.flo` files is taken in sorted order
  /// (FlowNet 2.0 naming, STRA-Net's convention B.10.2).
  bool require_flow = false;
  /// Labels (maps and fixations) must exist for every video. When false, a video
  /// with neither a maps nor a fixation folder is indexed with empty lists
  /// (unlabelled test data); folders that exist are still checked.
  bool require_labels = true;
};

/// Lists the videos of one split, sorted by name, with every per-frame file
/// checked to exist and the counts to match. Accepted layouts (DESIGN.md,
/// model-spec A.10 table and B.12):
///  - dhf1k: `<root>/{train,val}/<video>/{images,maps,fixation[,flow]}` (the
///    STRA-Net arrangement; "val" may also be "test" or "validation"), or the
///    official distribution `<root>/frames/<vid>/images` +
///    `<root>/annotation/<vid>/{maps,fixation}` split by sorted index
///    (0..599 train, 600..699 validation, as STSANet's train.py does);
///  - ucf, hollywood: `<root>/{training,testing}/<video>/{images,maps,fixation[,flow]}`;
///  - diem: `<root>/{training,testing}/<video>/img_NNNNN.jpg` with
///    `<root>/ann/<video>/maps/eyeMap_NNNNN.jpg` and `<root>/ann/<video>/fixMap_NNNNN.mat`
///    (as STSANet's dataloader.py reads them), flows in `<video>/flow/`.
/// Split folders: "train"/"training" and "val"/"validation"/"test"/"testing" are
/// accepted for every layout. Maps and fixations are matched to frames by file
/// stem (DIEM: by frame number); a frame without one, or one without a frame,
/// is an error naming the file.
/// Throws DataError naming the folder or file that is missing or mismatched.
std::vector<VideoRecord> index_dataset(const IndexOptions &options);

/// How a model samples clips (model-spec A.10 for STSANet, B.12 for STRA-Net).
struct ClipSpec {
  int frames = 32;       ///< frames per clip
  int step = 1;          ///< frame stride inside a clip (STRA-Net f_gap 2)
  /// Indices (into the clip's frames) whose maps/fixations are targets:
  /// STSANet {15} (DIEM {0}, the official label offset, A.13); STRA-Net all.
  std::vector<int> label_frames = {15};
  /// Consecutive forward flows needed from the clip's first frame (0 = none).
  /// STRA-Net: every clip frame needs flows t .. t+4.
  int flows = 0;
  /// Validation stride between clip starts (0 = one clip per video, from the
  /// middle start (n - span) / 2).
  int validation_stride = 32;
  /// Validation starts run while start < n - span when true (STSANet UCF:
  /// `range(0, n - 32, 4)`), start <= n - span otherwise.
  bool exclusive_last_validation_start = false;
  /// Training start range is [0, n - span) when true (the official "last clip
  /// never drawn" of STSANet DHF1K/UCF/DIEM), [0, n - span] otherwise.
  bool exclusive_last_start = true;
  /// Frames a clip spans in the video: (frames - 1) * step + 1, plus flow tail.
  int span() const;
};

/// The official sampling of `model` on `layout` (model-spec A.10, B.12).
ClipSpec clip_spec(ModelKind model, Layout layout);

/// One clip to read: a video (index into the VideoRecord list) and its first frame.
struct ClipRef {
  int video = 0;
  int start = 0;
};

/// The clips of one epoch. Train: one random clip per video, videos shuffled
/// (STSANet: one clip per video per epoch; STRA-Net: one per step over a
/// shuffled list), drawn from `seed` and `epoch` only, so every process and
/// every rerun plans the same epoch. Validation: fixed starts (stride), no
/// randomness. Videos shorter than the span are skipped (training) or
/// clamped (validation, repeating the last frame).
std::vector<ClipRef> plan_clips(const std::vector<VideoRecord> &videos, const ClipSpec &spec,
                                Split split, std::uint64_t seed, int epoch);

/// A decoded clip, all on the CPU.
struct Sample {
  ClipRef ref;
  std::string video;
  /// Video frame index (0-based) of each clip frame, after clamping to the video.
  std::vector<int> frame_indices;
  /// (T, H, W, 3) uint8 RGB at the files' resolution.
  torch::Tensor frames;
  /// (F, h, w, 2) float32 forward flows in pixels (F = spec.flows), or undefined.
  torch::Tensor flows;
  /// (L, H, W) float32 maps / 255 and fixations in {0, 1} (DIEM .mat: raw
  /// values), L = spec.label_frames.size(); undefined for unlabelled data.
  torch::Tensor maps;
  torch::Tensor fixations;
  /// Free for the transform: model inputs and targets prepared off the main thread.
  std::vector<torch::Tensor> prepared;
};

/// Reads one clip synchronously (used by the loader's workers and by tests).
/// Frame i is video frame min(start + i * step, n - 1); flow f is flow
/// min(start + f, n - 2); label l is at clip frame spec.label_frames[l]. All
/// frames of a clip must have one size, all flows one size, all maps and
/// fixations one size (else DataError naming the file). Fixation `.mat` files
/// are read from the variable `eyeMap` (DIEM) or, failing that, `I`.
Sample read_clip(const std::vector<VideoRecord> &videos, const ClipSpec &spec, const ClipRef &ref);

/// Runs in a worker thread on each sample before it is handed out.
using SampleTransform = std::function<void(Sample &)>;

struct LoaderOptions {
  int threads = 2;   ///< decoding threads (0: decode on the calling thread)
  int prefetch = 4;  ///< samples decoded ahead of the consumer
};

/// Decodes a planned list of clips on background threads and returns them in
/// plan order (deterministic whatever the thread timing). A read error is
/// rethrown from next() as DataError (the failed clip counts as consumed; the
/// following next() continues with the clip after it). Destruction stops the
/// workers (a clip being decoded is finished and dropped). Workers do not change
/// LibTorch's or OpenCV's thread settings, which are process-wide.
class ClipLoader {
 public:
  ClipLoader(std::vector<VideoRecord> videos, ClipSpec spec, std::vector<ClipRef> plan,
             SampleTransform transform = {}, LoaderOptions options = {});
  ~ClipLoader();
  ClipLoader(const ClipLoader &) = delete;
  ClipLoader &operator=(const ClipLoader &) = delete;

  /// The next sample in plan order, or nullopt after the last.
  std::optional<Sample> next();
  std::size_t size() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace model::data
