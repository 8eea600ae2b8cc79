// Saliency-driven reframing (16:9 to 9:16 or any aspect): from per-frame
// saliency maps to one crop window per frame along a smooth camera path
// (the `saliencycrop` element and `saliency-reframe`).
//
// The camera path is a discrete L1-optimal path (Grundmann et al., CVPR 2011,
// in dynamic-programming form): within a shot it maximises the saliency kept
// inside the window minus L1 costs on velocity and acceleration, under hard
// limits on both, over a look-ahead of frames. L1 costs make the optimum
// piecewise: the window holds still while the salient region stays inside
// it, and pans at a steady speed otherwise (AutoFlip's stationary / panning
// cameras, chosen per stretch rather than per shot). At a shot cut the path
// restarts anywhere. The causal variant (look-ahead 0) serves live cameras.
//
// Torch-free and GStreamer-free: only the standard library in this header.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "salmaps/map_view.hpp"

namespace model {

/// A crop window in frame pixels.
struct CropWindow {
  int x = 0;
  int y = 0;
  int width = 0;
  int height = 0;
};

inline bool operator==(const CropWindow &a, const CropWindow &b) {
  return a.x == b.x && a.y == b.y && a.width == b.width && a.height == b.height;
}
inline bool operator!=(const CropWindow &a, const CropWindow &b) { return !(a == b); }

/// The largest window of aspect aspect_width:aspect_height inside a
/// frame_width x frame_height frame, centred, with even width and height
/// (4:2:0 video and encoders need them) and even x, y. Throws
/// std::invalid_argument for a non-positive size or aspect, or a frame under
/// 2x2 pixels.
CropWindow fitted_crop(int frame_width, int frame_height, int aspect_width, int aspect_height);

/// How the virtual camera may move within a shot.
enum class CameraMode {
  /// Holds still while the salient region stays inside the window, pans
  /// otherwise (L1 costs on speed and acceleration).
  Auto,
  /// One window per shot: the best fixed position over the shot (offline) or
  /// over the look-ahead at the shot's first frame (streaming).
  Stationary,
  /// Follows the saliency as closely as the speed and acceleration limits
  /// allow (near-zero motion costs).
  Track,
};
/// "auto", "stationary", "track"; parse throws std::invalid_argument otherwise.
CameraMode parse_camera_mode(const std::string &name);
const char *to_string(CameraMode mode);

/// Slowest top speed (0.1 % of the frame a frame): the planner's grid has at
/// most 4096 positions, and a slower limit would round to no motion at all.
constexpr double kMinReframeSpeed = 0.001;

struct ReframeOptions {
  /// The input frame, in pixels (> 0).
  int frame_width = 0;
  int frame_height = 0;
  /// Target aspect, width:height (> 0). 9:16 turns landscape into portrait.
  int aspect_width = 9;
  int aspect_height = 16;
  /// Top speed of the window, as a fraction per frame of the frame's extent
  /// along the axis it moves on (width for horizontal pans), in
  /// [kMinReframeSpeed, 1]. 0.015: 29 px a frame at 1920, a pan across a
  /// 16:9 frame to its other side in about 1.5 s at 30 frames/s.
  double max_speed = 0.015;
  /// Top change of speed per frame, same unit; 0 = max_speed / 8 (full speed
  /// is reached in 8 frames). Values above max_speed leave only the speed limit.
  double max_acceleration = 0.0;
  /// Frames after the current one the planner sees before it decides the
  /// current one's window (the element's latency). 0 = causal (live); < 0 =
  /// offline: the whole sequence, decided at finish() (sequences longer than
  /// kOfflineHorizon frames are decided in stretches that each see at least
  /// kOfflineHorizon / 2 frames ahead, which bounds memory).
  int look_ahead = 15;
  CameraMode mode = CameraMode::Auto;
  /// Smallest window as a fraction of the aspect-fitted one, in (0, 1]; 1 =
  /// never zoom. Below 1 the window shrinks, smoothly, around saliency that
  /// fits in a smaller window, and then moves on both axes.
  double zoom = 1.0;
};

/// Checks options: throws std::invalid_argument naming the first bad field.
void validate(const ReframeOptions &options);

/// Offline planning horizon, in frames (see ReframeOptions::look_ahead).
constexpr int kOfflineHorizon = 2048;

/// Streaming planner: push each frame's map (any resolution; it covers the
/// whole frame) in display order, receive the windows of earlier frames once
/// their look-ahead is complete, finish() at the end. Every pushed frame gets
/// exactly one window, in order. Keeps only per-frame profiles, not maps.
class ReframePlanner {
public:
  explicit ReframePlanner(const ReframeOptions &options);
  ~ReframePlanner();
  ReframePlanner(const ReframePlanner &) = delete;
  ReframePlanner &operator=(const ReframePlanner &) = delete;

  /// Adds the next frame's map. shot_cut: the frame starts a new shot (the
  /// path may jump there; see ShotCutDetector). Returns the windows decided by
  /// this push, the oldest frames first: at most one when look_ahead >= 0;
  /// offline (look_ahead < 0), none until kOfflineHorizon frames wait, then a
  /// stretch of them. Throws std::invalid_argument for an empty map or
  /// non-finite values, and leaves the planner unchanged.
  std::vector<CropWindow> push(const MapView &map, bool shot_cut);
  /// Windows of all frames still waiting for their look-ahead.
  std::vector<CropWindow> finish();
  /// Forgets every frame (a flush): the next push starts a new path.
  void reset();

  /// Frames pushed whose window has not been returned yet.
  std::size_t pending() const;
  /// The aspect-fitted window (the largest; the window when zoom is 1).
  CropWindow fitted() const;
  const ReframeOptions &options() const;

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Plans a whole sequence at once (look_ahead < 0 semantics whatever
/// options.look_ahead says). shot_cuts may be empty (no cuts) or hold one flag
/// per map.
std::vector<CropWindow> plan_reframe(const std::vector<MapView> &maps,
                                     const std::vector<bool> &shot_cuts, ReframeOptions options);

/// A borrowed 8-bit grey image (the Y plane of I420/NV12 is one).
struct GreyView {
  const std::uint8_t *data = nullptr;
  int width = 0;
  int height = 0;
  std::size_t stride = 0;
};

struct ShotCutOptions {
  /// A frame starts a new shot when the L1 distance between its normalised
  /// 64-bin luma histogram and the previous frame's (in [0, 2]) exceeds this.
  double histogram_threshold = 0.6;
  /// Maps only (no frames): a cut when the correlation coefficient between the
  /// map and the previous frame's (both at 32x18 cells) falls below this.
  double map_correlation_threshold = 0.2;
};

/// Hard-cut detection from frames (luma histograms, robust to motion) or,
/// when only maps exist, from the maps (a model's map decorrelates at a cut).
/// Feed one kind per stream. The first frame is never a cut.
class ShotCutDetector {
public:
  explicit ShotCutDetector(const ShotCutOptions &options = {});
  /// Throws std::invalid_argument for an empty view or a short stride.
  bool push_frame(const GreyView &frame);
  /// Throws std::invalid_argument for an empty map.
  bool push_map(const MapView &map);
  void reset();

private:
  ShotCutOptions options_;
  std::vector<double> previous_;  ///< the previous frame's histogram or map cells; empty at first
};

/// The part of a map under a crop window, at the map's own density: a
/// width x height grid (each at least 1) sampling the map bilinearly at the
/// centres of the window's cells, so the element can crop the saliency meta
/// along with the frame. Throws std::invalid_argument for an empty map, a
/// non-positive frame size or a window outside the frame.
struct CroppedMap {
  std::vector<float> values;
  int width = 0;
  int height = 0;
};
CroppedMap crop_map(const MapView &map, int frame_width, int frame_height,
                    const CropWindow &window);

// ---- Measures (saliency-reframe --report, tests) -----------------------------

/// Fraction of the map's mass inside the window, in [0, 1]: the map is taken
/// as covering the frame, cells partly inside count in proportion. Negative
/// values count as 0. A map with no mass keeps the window's area fraction
/// (every place is as good as another). Throws std::invalid_argument for an
/// empty map or a non-positive frame size.
double retained_saliency(const MapView &map, int frame_width, int frame_height,
                         const CropWindow &window);

/// The window of the given size (even x, y) that keeps the most saliency in
/// this one frame, ignoring every other frame; ties go to the most central.
CropWindow best_window(const MapView &map, int frame_width, int frame_height, int width,
                       int height);

/// How a path moves, in frame pixels per frame, measured within shots (a cut
/// is not a move): speed = |change of the window centre| (Euclidean), the
/// acceleration = |change of that velocity|.
struct PathMotion {
  double top_speed = 0.0;
  double mean_speed = 0.0;
  double top_acceleration = 0.0;
};
/// shot_cuts: empty, or one flag per window (true: the window's frame starts a
/// shot).
PathMotion path_motion(const std::vector<CropWindow> &path, const std::vector<bool> &shot_cuts);

}  // namespace model
