// Saliency-driven reframing: the camera-path planner, shot cuts, map
// cropping and the path measures (reframe.hpp; docs/reframing.md explains
// the design and its measurements).
#include "salmaps/reframe.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>

#include <opencv2/imgproc.hpp>

namespace model {

namespace {

void check_map(const MapView &map, const char *who) {
  if (map.values == nullptr || map.width <= 0 || map.height <= 0)
    throw std::invalid_argument(std::string(who) + ": empty saliency map");
}

// ---- Map integrals -----------------------------------------------------------

/// The map as a density over the unit square (cells of 1/width x 1/height),
/// held as its integral image. The integral of a piecewise-constant density
/// over [0,u] x [0,v] is bilinear inside each cell, so bilinear interpolation
/// of the integral image at fractional cell coordinates is exact: the mass of
/// any rectangle, cells partly inside counting in proportion, in O(1).
class MapIntegral {
public:
  MapIntegral(const MapView &map, const char *who) : w_(map.width), h_(map.height) {
    check_map(map, who);
    sum_.assign(static_cast<std::size_t>(w_ + 1) * (h_ + 1), 0.0);
    for (int r = 0; r < h_; ++r) {
      double row = 0.0;
      const float *src = map.values + static_cast<std::size_t>(r) * w_;
      for (int c = 0; c < w_; ++c) {
        const float v = src[c];
        if (!std::isfinite(v))
          throw std::invalid_argument(std::string(who) + ": saliency map has a non-finite value");
        row += v > 0.f ? v : 0.0;
        at(r + 1, c + 1) = at(r, c + 1) + row;
      }
    }
    total_ = at(h_, w_);
  }
  double total() const { return total_; }
  /// Mass of [u0,u1] x [v0,v1] in unit coordinates (clamped to the square).
  double mass(double u0, double v0, double u1, double v1) const {
    return integral(u1, v1) - integral(u0, v1) - integral(u1, v0) + integral(u0, v0);
  }
  /// Fraction of the mass in the rectangle; the area when there is no mass.
  double fraction(double u0, double v0, double u1, double v1) const {
    if (!(total_ > 0.0)) return std::max(0.0, u1 - u0) * std::max(0.0, v1 - v0);
    return std::clamp(mass(u0, v0, u1, v1) / total_, 0.0, 1.0);
  }

private:
  double &at(int r, int c) { return sum_[static_cast<std::size_t>(r) * (w_ + 1) + c]; }
  double at(int r, int c) const { return sum_[static_cast<std::size_t>(r) * (w_ + 1) + c]; }
  double integral(double u, double v) const {
    const double x = std::clamp(u, 0.0, 1.0) * w_, y = std::clamp(v, 0.0, 1.0) * h_;
    const int c = std::min(static_cast<int>(x), w_ - 1), r = std::min(static_cast<int>(y), h_ - 1);
    const double fx = x - c, fy = y - r;
    return (1 - fy) * ((1 - fx) * at(r, c) + fx * at(r, c + 1)) +
           fy * ((1 - fx) * at(r + 1, c) + fx * at(r + 1, c + 1));
  }
  int w_, h_;
  std::vector<double> sum_;
  double total_ = 0.0;
};

/// Cumulative mass along one axis, normalised to end at 1 (uniform when the
/// map has no mass): the planner's view of a frame on the axis it pans.
class AxisProfile {
public:
  AxisProfile() = default;
  /// cell_mass: the map's mass per column (or row), all >= 0.
  explicit AxisProfile(const std::vector<double> &cell_mass) {
    const std::size_t n = cell_mass.size();
    prefix_.assign(n + 1, 0.0);
    for (std::size_t i = 0; i < n; ++i) prefix_[i + 1] = prefix_[i] + cell_mass[i];
    const double total = prefix_[n];
    for (std::size_t i = 0; i <= n; ++i)
      prefix_[i] = total > 0.0 ? prefix_[i] / total : static_cast<double>(i) / n;
  }
  /// Fraction of the mass in [a, b] (unit coordinates).
  double between(double a, double b) const { return at(b) - at(a); }

private:
  double at(double u) const {
    const int n = static_cast<int>(prefix_.size()) - 1;
    const double x = std::clamp(u, 0.0, 1.0) * n;
    const int i = std::min(static_cast<int>(x), n - 1);
    return prefix_[i] + (x - i) * (prefix_[i + 1] - prefix_[i]);
  }
  std::vector<double> prefix_;
};

// ---- The path optimiser --------------------------------------------------------

constexpr float kImpossible = -1e30f;

/// A state of the discrete camera: grid position and the velocity (grid
/// units per frame) with which it arrived there.
struct PathState {
  int position = 0;
  int velocity = 0;
};

/// Limits and L1 costs of one axis's path, in grid units.
struct PathLimits {
  int positions = 1;         ///< grid positions 0 .. positions - 1
  int max_speed = 0;         ///< |velocity| <= max_speed
  int max_acceleration = 0;  ///< |velocity change| <= max_acceleration
  float speed_cost = 0.f;    ///< per unit of |velocity| per frame
  float acceleration_cost = 0.f;
};

/// Discrete L1-optimal camera path (the dynamic-programming form of Grundmann
/// et al. 2011): over the frames of a horizon, maximise
///   sum_t gain_t(p_t) - speed_cost |v_t| - acceleration_cost |v_t - v_{t-1}|
/// with p_t = p_{t-1} + v_t and both limits hard. Exact for the grid: a
/// Viterbi pass over (position, velocity) states, then a backtrack. At a
/// shot cut the path may start anywhere, at rest.
class PathOptimizer {
public:
  explicit PathOptimizer(const PathLimits &limits) : lim_(limits) {}

  /// gains[k]: frame k's gain per position (kImpossible where the window
  /// does not fit); cuts[k]: frame k starts a shot. start: the state of the
  /// frame before gains[0], or null (a free start). tail: null, or a value per
  /// position added after the last frame (what the future beyond the horizon
  /// is worth from there). Returns one state per frame.
  std::vector<PathState> plan(const std::vector<const float *> &gains, const std::vector<bool> &cuts,
                              const PathState *start, const float *tail = nullptr) {
    const int frames = static_cast<int>(gains.size());
    const int P = lim_.positions, V = lim_.max_speed, A = lim_.max_acceleration;
    const int rows = 2 * V + 1;
    const std::size_t states = static_cast<std::size_t>(rows) * P;
    prev_.assign(states, kImpossible);
    cur_.assign(states, kImpossible);
    back_.assign(states * frames, 0);
    cut_source_.assign(frames, -1);

    // Distance the camera travels while braking from speed |v| at the top
    // deceleration: a state closer than that to the end of the range would
    // have to leave it, so it is not allowed (otherwise a short horizon
    // could commit to one and find no way on).
    std::vector<int> braking(rows, 0);
    for (int v = 0; v <= V; ++v) {
      int d = 0;
      for (int u = v - A; u > 0; u -= A) d += u;
      braking[V + v] = d;
      braking[V - v] = -d;
    }
    free_step_.assign(frames, false);

    none_.assign(P, kImpossible);
    int first_prev = 0, last_prev = P - 1;
    for (int k = 0; k < frames; ++k) {
      const float *g = gains[k];
      // Where the window fits in this frame (a contiguous range of centres).
      int first = 0, last = P - 1;
      while (first < P && !(g[first] > kImpossible)) ++first;
      while (last >= 0 && !(g[last] > kImpossible)) --last;
      if (first > last) throw std::invalid_argument("reframe planner: the window fits nowhere in the frame");
      const bool free_start = k == 0 ? (start == nullptr || cuts[0]) : cuts[k];
      if (!free_start) {
        std::fill(cur_.begin(), cur_.end(), kImpossible);
        if (k == 0) prev_[static_cast<std::size_t>(start->velocity + V) * P + start->position] = 0.f;
        std::int8_t *back = &back_[states * k];
        for (int v = -V; v <= V; ++v) {
          float *out = &cur_[static_cast<std::size_t>(v + V) * P];
          std::int8_t *bout = &back[static_cast<std::size_t>(v + V) * P];
          // Positions reachable with velocity v (source p - v inside the
          // grid) where the window fits.
          const int lo = std::max(first, v + first_prev), hi = std::min(last + 1, last_prev + 1 + v);
          if (lo >= hi) continue;
          const float move = lim_.speed_cost * std::abs(v);
          if (A == 1) {
            // The default limits, in one pass per row: stay, brake, speed up.
            const float *keep = row_or_none(v, V, P), *from_above = row_or_none(v + 1, V, P),
                        *from_below = row_or_none(v - 1, V, P);
            const float c0 = move, c1 = move + lim_.acceleration_cost;
            for (int p = lo; p < hi; ++p) {
              float best = keep[p - v] - c0;
              std::int8_t acc = 0;
              const float down = from_above[p - v] - c1, up = from_below[p - v] - c1;
              if (down > best) best = down, acc = -1;
              if (up > best) best = up, acc = 1;
              out[p] = best;
              bout[p] = acc;
            }
          } else {
            // Accelerations in order 0, -1, +1, -2, ...: ties keep the calmer one.
            for (int m = 0; m <= 2 * A; ++m) {
              const int a = (m & 1) ? -(m + 1) / 2 : m / 2;
              const int u = v - a;  // previous velocity
              if (u < -V || u > V) continue;
              const float *src = &prev_[static_cast<std::size_t>(u + V) * P] - v;
              const float cost = move + lim_.acceleration_cost * std::abs(a);
              for (int p = lo; p < hi; ++p) {
                const float s = src[p] - cost;
                if (s > out[p]) {
                  out[p] = s;
                  bout[p] = static_cast<std::int8_t>(a);
                }
              }
            }
          }
          const int stop = braking[v + V];
          for (int p = lo; p < hi; ++p) {
            const int rest = p + stop;
            const bool viable = g[p] > kImpossible && rest >= 0 && rest < P && g[rest] > kImpossible;
            out[p] = viable ? out[p] + g[p] : kImpossible;
          }
        }
      }
      // A free start, or the safety net when no state is reachable (a range
      // that shrank faster than the camera can follow): anywhere, at rest,
      // after the best state of the frame before.
      if (free_start || !(*std::max_element(cur_.begin(), cur_.end()) > kImpossible * 0.5f)) {
        std::fill(cur_.begin(), cur_.end(), kImpossible);
        free_step_[k] = true;
        float base = 0.f;
        if (k > 0) {
          const auto best = std::max_element(prev_.begin(), prev_.end());
          base = *best;
          cut_source_[k] = static_cast<int>(best - prev_.begin());
        }
        float *row0 = &cur_[static_cast<std::size_t>(V) * P];
        for (int p = 0; p < P; ++p) row0[p] = g[p] > kImpossible ? g[p] + base : kImpossible;
      }
      // Keep scores near 0 (only differences matter) so float keeps its
      // precision over thousands of frames.
      const float top = *std::max_element(cur_.begin(), cur_.end());
      if (!(top > kImpossible * 0.5f))
        throw std::invalid_argument("reframe planner: the window fits nowhere in the frame");
      for (float &s : cur_) s = s > kImpossible * 0.5f ? s - top : kImpossible;
      std::swap(prev_, cur_);
      first_prev = first;
      last_prev = last;
    }

    if (tail != nullptr)
      for (int v = -V; v <= V; ++v) {
        float *row = &prev_[static_cast<std::size_t>(v + V) * P];
        for (int p = 0; p < P; ++p)
          if (row[p] > kImpossible * 0.5f) row[p] += tail[p];
      }

    // Backtrack from the best final state (ties: the calmest).
    std::vector<PathState> path(frames);
    std::size_t best = 0;
    for (std::size_t i = 0; i < states; ++i)
      if (prev_[i] > prev_[best] || (prev_[i] == prev_[best] && calmer(i, best))) best = i;
    int v = static_cast<int>(best / P) - V, p = static_cast<int>(best % P);
    for (int k = frames - 1; k >= 0; --k) {
      path[k] = {p, v};
      if (k == 0) break;
      if (free_step_[k]) {
        const int s = cut_source_[k];
        v = s / P - V;
        p = s % P;
      } else {
        const int a = back_[states * k + static_cast<std::size_t>(v + V) * P + p];
        p -= v;
        v -= a;
      }
    }
    return path;
  }

private:
  /// Row of velocity u in prev_, shifted so that [p - v] reads the source
  /// position; a row of kImpossible when u is out of range.
  const float *row_or_none(int u, int V, int P) const {
    if (u < -V || u > V) return none_.data();  // read at p - v, inside [0, P)
    return &prev_[static_cast<std::size_t>(u + V) * P];
  }
  bool calmer(std::size_t i, std::size_t j) const {
    const int V = lim_.max_speed, P = lim_.positions;
    return std::abs(static_cast<int>(i / P) - V) < std::abs(static_cast<int>(j / P) - V);
  }
  PathLimits lim_;
  std::vector<float> prev_, cur_, none_;
  std::vector<std::int8_t> back_;
  std::vector<int> cut_source_;
  std::vector<bool> free_step_;
};

// ---- Axes ------------------------------------------------------------------------

/// Motion costs per camera mode, in fractions of the frame's saliency:
/// moving at top speed for one frame, and changing speed by the top
/// acceleration. Auto's are what it takes for a move to pay: holding still
/// loses less than about 1 % of the saliency per frame before the camera
/// pans (docs/reframing.md shows the trade-off measured on real clips).
struct MotionCosts {
  double at_top_speed;
  double at_top_acceleration;
};
MotionCosts motion_costs(CameraMode mode) {
  switch (mode) {
    case CameraMode::Track: return {1e-4, 1e-4};
    case CameraMode::Stationary: return {0.0, 0.0};
    case CameraMode::Auto: break;
  }
  return {0.01, 0.01};
}

/// One axis the window may move on: its grid of window-centre positions
/// (unit coordinates c_j = j / (positions - 1)) and its path limits.
struct AxisPlan {
  bool active = false;     ///< the window can move on this axis at some scale
  double fitted_length = 1.0;  ///< the fitted window's length, unit coordinates
  PathLimits limits;
  double step = 1.0;       ///< grid spacing, unit coordinates
  int max_step_px = 0;     ///< top move of the window's edge a frame, even pixels

  double centre(int j) const { return j * step; }
};

AxisPlan make_axis(double fitted_length, double zoom, int extent_px, const ReframeOptions &o) {
  AxisPlan axis;
  axis.fitted_length = fitted_length;
  axis.active = fitted_length * zoom < 1.0 - 1e-9;
  if (!axis.active) return axis;
  // About 8 grid steps per frame at top speed, so slow pans are not
  // quantised into stop-and-go; at most one step per pixel (finer cannot
  // show), and at most 4096 positions (time and memory per frame).
  int n = std::clamp(static_cast<int>(std::ceil(8.0 / o.max_speed)), 16,
                     std::max(16, std::min(4096, extent_px)));
  n += n & 1;  // even: the frame's centre is a grid position
  axis.step = 1.0 / n;
  axis.limits.positions = n + 1;
  const MotionCosts costs = motion_costs(o.mode);
  if (o.mode == CameraMode::Stationary) return axis;  // no motion within a shot
  // Never faster than asked: windows land on even pixels, so the top step
  // is the limit rounded down to even pixels (2 px at least: the smallest
  // move there is), and the path is planned at that speed rounded down to
  // the grid. Rounding a position to even pixels could still add up to
  // 2 px to a step; the conversion clamps each step to max_step_px.
  axis.max_step_px = std::max(2, 2 * static_cast<int>(std::floor(o.max_speed * extent_px / 2 + 1e-9)));
  axis.limits.max_speed = std::clamp(
      static_cast<int>(std::floor(static_cast<double>(axis.max_step_px) / extent_px * n + 1e-9)), 1, 64);
  const double accel = o.max_acceleration > 0.0 ? o.max_acceleration : o.max_speed / 8.0;
  const int V = axis.limits.max_speed;
  axis.limits.max_acceleration =
      std::clamp(static_cast<int>(std::floor(accel * n + 1e-9)), 1, 2 * V);
  axis.limits.speed_cost = static_cast<float>(costs.at_top_speed / V);
  axis.limits.acceleration_cost =
      static_cast<float>(costs.at_top_acceleration / axis.limits.max_acceleration);
  return axis;
}

/// gains[j]: saliency fraction kept by a window of length `length` centred at
/// grid position j. With a fixed window size (no zoom) a centre where the
/// window does not fit (beyond half a step) is kImpossible, which keeps the
/// grid's motion the window's. When zooming, a centre past the edge keeps
/// the window at the edge instead: the range of centres changes with the
/// scale, and a camera still outside it must not make the path infeasible;
/// clamping never makes the window faster than its centre.
void axis_gains(const AxisPlan &axis, const AxisProfile &profile, double length, bool clamp_edges,
                float *gains) {
  const double half = length / 2, slack = axis.step / 2;
  for (int j = 0; j < axis.limits.positions; ++j) {
    const double c = axis.centre(j);
    if (!clamp_edges && (c < half - slack || c > 1.0 - half + slack)) {
      gains[j] = kImpossible;
      continue;
    }
    const double start = std::clamp(c - half, 0.0, 1.0 - length);
    gains[j] = static_cast<float>(profile.between(start, start + length));
  }
}

/// What the future beyond a streaming horizon is worth from each position,
/// assuming the last frame's saliency stays for `frames` more frames: from p
/// the camera may travel to any q at top speed, losing the best gain and the
/// motion cost for each frame of travel, then keeps gains[q]:
///   tail(p) = max_q frames * gains[q] - (|p - q| / max_speed) * (best + cost).
/// Without it a short look-ahead sees no gain in setting off towards saliency
/// that is further away than the camera can travel within the horizon, and
/// stays on an empty window for good. One forward and one backward pass (a
/// max-plus distance transform with a linear cost).
void horizon_tail(const AxisPlan &axis, const float *gains, double frames, double motion_cost,
                  std::vector<float> &tail) {
  const int P = axis.limits.positions;
  tail.assign(P, kImpossible);
  float best = 0.f;
  for (int p = 0; p < P; ++p) best = std::max(best, gains[p]);
  const float per_step =
      static_cast<float>((best + motion_cost) / std::max(1, axis.limits.max_speed));
  for (int p = 0; p < P; ++p)
    if (gains[p] > kImpossible) tail[p] = static_cast<float>(frames) * gains[p];
  for (int p = 1; p < P; ++p)
    if (tail[p - 1] > kImpossible) tail[p] = std::max(tail[p], tail[p - 1] - per_step);
  for (int p = P - 2; p >= 0; --p)
    if (tail[p + 1] > kImpossible) tail[p] = std::max(tail[p], tail[p + 1] - per_step);
}

/// Zoom levels: scale s_k = zoom + (1 - zoom) k / (kZoomLevels - 1).
constexpr int kZoomLevels = 65;

int even_round(double v) { return 2 * static_cast<int>(std::lround(v / 2.0)); }

}  // namespace

// ---- Public helpers ------------------------------------------------------------

CropWindow fitted_crop(int frame_width, int frame_height, int aspect_width, int aspect_height) {
  if (frame_width < 2 || frame_height < 2)
    throw std::invalid_argument("reframe: frame of " + std::to_string(frame_width) + "x" +
                                std::to_string(frame_height) + " pixels is too small (2x2 at least)");
  if (aspect_width <= 0 || aspect_height <= 0)
    throw std::invalid_argument("reframe: aspect " + std::to_string(aspect_width) + ":" +
                                std::to_string(aspect_height) + " is not positive");
  const int even_w = frame_width & ~1, even_h = frame_height & ~1;
  CropWindow w;
  // Wider frame than the target: full height, narrower width; else full width.
  if (static_cast<long long>(frame_width) * aspect_height >=
      static_cast<long long>(frame_height) * aspect_width) {
    w.height = even_h;
    w.width = std::clamp(even_round(static_cast<double>(even_h) * aspect_width / aspect_height), 2,
                         even_w);
  } else {
    w.width = even_w;
    w.height = std::clamp(even_round(static_cast<double>(even_w) * aspect_height / aspect_width), 2,
                          even_h);
  }
  w.x = ((frame_width - w.width) / 2) & ~1;
  w.y = ((frame_height - w.height) / 2) & ~1;
  return w;
}

CameraMode parse_camera_mode(const std::string &name) {
  if (name == "auto") return CameraMode::Auto;
  if (name == "stationary") return CameraMode::Stationary;
  if (name == "track") return CameraMode::Track;
  throw std::invalid_argument("unknown camera mode '" + name + "' (auto, stationary, track)");
}

const char *to_string(CameraMode mode) {
  switch (mode) {
    case CameraMode::Auto: return "auto";
    case CameraMode::Stationary: return "stationary";
    case CameraMode::Track: return "track";
  }
  return "auto";
}

void validate(const ReframeOptions &o) {
  fitted_crop(o.frame_width, o.frame_height, o.aspect_width, o.aspect_height);
  if (!(o.max_speed >= kMinReframeSpeed && o.max_speed <= 1.0))
    throw std::invalid_argument("reframe: max speed " + std::to_string(o.max_speed) +
                                " is not in [0.001, 1] (a fraction of the frame per frame)");
  if (!(o.max_acceleration >= 0.0 && o.max_acceleration <= 1.0))
    throw std::invalid_argument("reframe: max acceleration " + std::to_string(o.max_acceleration) +
                                " is not in [0, 1]");
  if (!(o.zoom > 0.0 && o.zoom <= 1.0))
    throw std::invalid_argument("reframe: zoom " + std::to_string(o.zoom) + " is not in (0, 1]");
}

// ---- The planner -------------------------------------------------------------------

struct ReframePlanner::Impl {
  /// What the planner keeps of a frame.
  struct Frame {
    AxisProfile x, y;
    bool cut = false;
    double desired_scale = 1.0;   ///< smallest scale keeping most of the saliency
    std::vector<float> gains_x;  ///< at the fitted size (zoom 1 only)
    std::vector<float> gains_y;
  };

  ReframeOptions options;
  CropWindow fitted;
  AxisPlan ax, ay;
  PathLimits zoom_limits;
  bool zooming = false;
  std::deque<Frame> pending;
  // The last decided frame's states (the start of the next plan).
  bool have_last = false;
  PathState last_x, last_y, last_zoom;
  bool have_window = false;  ///< last_window holds the last decided window
  CropWindow last_window;

  explicit Impl(const ReframeOptions &o) : options(o) {
    validate(o);
    fitted = fitted_crop(o.frame_width, o.frame_height, o.aspect_width, o.aspect_height);
    zooming = o.zoom < 1.0;
    ax = make_axis(static_cast<double>(fitted.width) / o.frame_width, o.zoom, o.frame_width, o);
    ay = make_axis(static_cast<double>(fitted.height) / o.frame_height, o.zoom, o.frame_height, o);
    // The scale changes by at most 1/64 of its range per frame, and only when
    // the gain in saliency pays for it.
    zoom_limits.positions = kZoomLevels;
    zoom_limits.max_speed = o.mode == CameraMode::Stationary ? 0 : 1;
    zoom_limits.max_acceleration = 1;
    zoom_limits.speed_cost = 0.002f;
  }

  double scale_of(int level) const {
    return options.zoom + (1.0 - options.zoom) * level / (kZoomLevels - 1);
  }

  Frame make_frame(const MapView &map, bool cut) const {
    check_map(map, "reframe planner");
    Frame f;
    f.cut = cut;
    // Column and row sums in float, 8 lanes at a time (this is most of a
    // frame's cost). A float sum of n terms in [0, 1] is within n * 2^-24 of
    // exact, relative: 3e-5 for 512 rows, far below what moves a window.
    // NaN and infinity reach the raw sum of the row (-inf stays negative
    // after the clamp, so the raw values are summed too).
    std::vector<float> cols(map.width, 0.f);
    std::vector<double> rows(map.height, 0.0);
    for (int r = 0; r < map.height; ++r) {
      const float *src = map.values + static_cast<std::size_t>(r) * map.width;
      float lane[8] = {}, raw[8] = {};
      int c = 0;
      for (; c + 8 <= map.width; c += 8)
        for (int l = 0; l < 8; ++l) {
          const float v = src[c + l];
          const float m = v > 0.f ? v : 0.f;
          raw[l] += v;
          lane[l] += m;
          cols[c + l] += m;
        }
      double row = 0.0, check = 0.0;
      for (; c < map.width; ++c) {
        const float v = src[c];
        const float m = v > 0.f ? v : 0.f;
        check += v;
        row += m;
        cols[c] += m;
      }
      for (int l = 0; l < 8; ++l) row += lane[l], check += raw[l];
      if (!std::isfinite(check))
        throw std::invalid_argument("reframe planner: saliency map has a non-finite value");
      rows[r] = row;
    }
    f.x = AxisProfile(std::vector<double>(cols.begin(), cols.end()));
    f.y = AxisProfile(rows);
    if (zooming) {
      f.desired_scale = desired_scale(f);
    } else {
      if (ax.active) {
        f.gains_x.resize(ax.limits.positions);
        axis_gains(ax, f.x, ax.fitted_length, false, f.gains_x.data());
      }
      if (ay.active) {
        f.gains_y.resize(ay.limits.positions);
        axis_gains(ay, f.y, ay.fitted_length, false, f.gains_y.data());
      }
    }
    return f;
  }

  /// Best kept fraction of a window of `length` on one axis's profile.
  static double best_on_axis(const AxisProfile &p, double length) {
    if (length >= 1.0) return 1.0;
    double best = 0.0;
    const int steps = 256;
    for (int i = 0; i <= steps; ++i) {
      const double s = (1.0 - length) * i / steps;
      best = std::max(best, p.between(s, s + length));
    }
    return best;
  }

  /// The smallest scale whose best window keeps 90 % of what the fitted
  /// window's best keeps (marginals on both axes).
  double desired_scale(const Frame &f) const {
    auto kept = [&](double s) {
      return best_on_axis(f.x, s * ax.fitted_length) * best_on_axis(f.y, s * ay.fitted_length);
    };
    const double full = kept(1.0);
    for (int k = 0; k < kZoomLevels; k += 4) {
      const double s = scale_of(k);
      if (kept(s) >= 0.9 * full) return s;
    }
    return 1.0;
  }

  /// Decides the first `commit` pending frames from a plan over the first
  /// `horizon` of them.
  std::vector<CropWindow> decide(std::size_t horizon, std::size_t commit, bool more_to_come) {
    std::vector<bool> cuts(horizon);
    for (std::size_t k = 0; k < horizon; ++k) cuts[k] = pending[k].cut || (k == 0 && !have_last);

    // 1. The scale path (zoom only).
    std::vector<double> scale(horizon, 1.0);
    std::vector<PathState> zoom_path;
    if (zooming) {
      std::vector<std::vector<float>> g(horizon, std::vector<float>(kZoomLevels));
      std::vector<const float *> gp(horizon);
      for (std::size_t k = 0; k < horizon; ++k) {
        const double d = pending[k].desired_scale;
        for (int l = 0; l < kZoomLevels; ++l) {
          const double s = scale_of(l);
          // Smaller than needed cuts saliency off: worse than too large.
          g[k][l] = static_cast<float>(-(s < d ? 3.0 : 1.0) * std::fabs(s - d));
        }
        gp[k] = g[k].data();
      }
      PathOptimizer opt(zoom_limits);
      zoom_path = opt.plan(gp, cuts, have_last ? &last_zoom : nullptr);
      for (std::size_t k = 0; k < horizon; ++k) scale[k] = scale_of(zoom_path[k].position);
    }

    // 2. The centre path on each axis that can move.
    auto plan_axis = [&](const AxisPlan &axis, bool is_x, const PathState &last) {
      std::vector<PathState> path;
      if (!axis.active) return path;
      std::vector<std::vector<float>> owned;
      std::vector<const float *> gp(horizon);
      if (zooming) owned.resize(horizon, std::vector<float>(axis.limits.positions));
      for (std::size_t k = 0; k < horizon; ++k) {
        if (zooming) {
          axis_gains(axis, is_x ? pending[k].x : pending[k].y,
                     std::min(1.0, axis.fitted_length * scale[k]), true, owned[k].data());
          gp[k] = owned[k].data();
        } else {
          gp[k] = is_x ? pending[k].gains_x.data() : pending[k].gains_y.data();
        }
      }
      // Frames follow the horizon: value what lies beyond it, over the time
      // the camera takes to cross the frame (and at least a second).
      std::vector<float> tail;
      if (more_to_come && options.mode != CameraMode::Stationary) {
        const double crossing = (1.0 - axis.fitted_length * options.zoom) / options.max_speed;
        horizon_tail(axis, gp[horizon - 1], std::max(30.0, 2.0 * crossing),
                     motion_costs(options.mode).at_top_speed, tail);
      }
      PathOptimizer opt(axis.limits);
      return opt.plan(gp, cuts, have_last ? &last : nullptr, tail.empty() ? nullptr : tail.data());
    };
    const std::vector<PathState> px = plan_axis(ax, true, last_x);
    const std::vector<PathState> py = plan_axis(ay, false, last_y);

    std::vector<CropWindow> out;
    out.reserve(commit);
    for (std::size_t k = 0; k < commit; ++k) {
      const double s = scale[k];
      CropWindow w;
      w.width = std::clamp(even_round(fitted.width * s), 2, fitted.width);
      w.height = std::clamp(even_round(fitted.height * s), 2, fitted.height);
      const double cx = ax.active ? ax.centre(px[k].position) : 0.5;
      const double cy = ay.active ? ay.centre(py[k].position) : 0.5;
      const int max_x = (options.frame_width - w.width) & ~1;
      const int max_y = (options.frame_height - w.height) & ~1;
      w.x = std::clamp(even_round(cx * options.frame_width - w.width / 2.0), 0, max_x);
      w.y = std::clamp(even_round(cy * options.frame_height - w.height / 2.0), 0, max_y);
      // Within a shot and at the same size, no step above the limit in
      // even pixels (between the previous window and this one, both inside
      // the frame, so the clamped one is too).
      const bool cut = pending[k].cut || !have_window;
      if (!cut && w.width == last_window.width && w.height == last_window.height) {
        if (ax.active && ax.max_step_px > 0)
          w.x = std::clamp(w.x, last_window.x - ax.max_step_px, last_window.x + ax.max_step_px);
        if (ay.active && ay.max_step_px > 0)
          w.y = std::clamp(w.y, last_window.y - ay.max_step_px, last_window.y + ay.max_step_px);
      }
      last_window = w;
      have_window = true;
      out.push_back(w);
    }
    if (commit > 0) {
      if (ax.active) last_x = px[commit - 1];
      if (ay.active) last_y = py[commit - 1];
      if (zooming) last_zoom = zoom_path[commit - 1];
      have_last = true;
      pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(commit));
    }
    return out;
  }
};

ReframePlanner::ReframePlanner(const ReframeOptions &options)
    : impl_(std::make_unique<Impl>(options)) {}
ReframePlanner::~ReframePlanner() = default;

std::vector<CropWindow> ReframePlanner::push(const MapView &map, bool shot_cut) {
  Impl &d = *impl_;
  d.pending.push_back(d.make_frame(map, shot_cut));  // may throw: nothing changed then
  if (d.options.look_ahead >= 0) {
    if (d.pending.size() > static_cast<std::size_t>(d.options.look_ahead))
      return d.decide(d.pending.size(), 1, true);
    return {};
  }
  if (d.pending.size() >= static_cast<std::size_t>(kOfflineHorizon))
    return d.decide(d.pending.size(), kOfflineHorizon / 2, true);
  return {};
}

std::vector<CropWindow> ReframePlanner::finish() {
  Impl &d = *impl_;
  if (d.pending.empty()) return {};
  return d.decide(d.pending.size(), d.pending.size(), false);
}

void ReframePlanner::reset() {
  impl_->pending.clear();
  impl_->have_last = false;
  impl_->have_window = false;
}

std::size_t ReframePlanner::pending() const { return impl_->pending.size(); }
CropWindow ReframePlanner::fitted() const { return impl_->fitted; }
const ReframeOptions &ReframePlanner::options() const { return impl_->options; }

std::vector<CropWindow> plan_reframe(const std::vector<MapView> &maps,
                                     const std::vector<bool> &shot_cuts, ReframeOptions options) {
  if (!shot_cuts.empty() && shot_cuts.size() != maps.size())
    throw std::invalid_argument("plan_reframe: " + std::to_string(shot_cuts.size()) +
                                " shot-cut flags for " + std::to_string(maps.size()) + " maps");
  options.look_ahead = -1;
  ReframePlanner planner(options);
  std::vector<CropWindow> path;
  path.reserve(maps.size());
  for (std::size_t i = 0; i < maps.size(); ++i) {
    const auto got = planner.push(maps[i], !shot_cuts.empty() && shot_cuts[i]);
    path.insert(path.end(), got.begin(), got.end());
  }
  const auto rest = planner.finish();
  path.insert(path.end(), rest.begin(), rest.end());
  return path;
}

// ---- Shot cuts ---------------------------------------------------------------------

namespace {
constexpr int kHistogramBins = 64;
constexpr int kCutMapWidth = 32, kCutMapHeight = 18;
}  // namespace

ShotCutDetector::ShotCutDetector(const ShotCutOptions &options) : options_(options) {}

void ShotCutDetector::reset() { previous_.clear(); }

bool ShotCutDetector::push_frame(const GreyView &frame) {
  if (frame.data == nullptr || frame.width <= 0 || frame.height <= 0)
    throw std::invalid_argument("shot-cut detector: empty frame");
  if (frame.stride < static_cast<std::size_t>(frame.width))
    throw std::invalid_argument("shot-cut detector: stride " + std::to_string(frame.stride) +
                                " is shorter than a row of " + std::to_string(frame.width));
  // About 16k samples on a regular grid: a histogram's shape, not its noise.
  const int step = std::max(1, static_cast<int>(std::sqrt(
                                   static_cast<double>(frame.width) * frame.height / 16384.0)));
  std::vector<double> hist(kHistogramBins, 0.0);
  double count = 0.0;
  for (int r = step / 2; r < frame.height; r += step) {
    const std::uint8_t *row = frame.data + static_cast<std::size_t>(r) * frame.stride;
    for (int c = step / 2; c < frame.width; c += step) {
      hist[row[c] * kHistogramBins / 256] += 1.0;
      count += 1.0;
    }
  }
  for (double &h : hist) h /= count;
  bool cut = false;
  if (previous_.size() == hist.size()) {
    double l1 = 0.0;
    for (int i = 0; i < kHistogramBins; ++i) l1 += std::fabs(hist[i] - previous_[i]);
    cut = l1 > options_.histogram_threshold;
  }
  previous_ = std::move(hist);
  return cut;
}

bool ShotCutDetector::push_map(const MapView &map) {
  check_map(map, "shot-cut detector");
  const cv::Mat src(map.height, map.width, CV_32F, const_cast<float *>(map.values));
  cv::Mat small;
  cv::resize(src, small, cv::Size(kCutMapWidth, kCutMapHeight), 0, 0, cv::INTER_AREA);
  std::vector<double> cells(small.begin<float>(), small.end<float>());
  for (double c : cells)
    if (!std::isfinite(c)) throw std::invalid_argument("shot-cut detector: non-finite map value");
  bool cut = false;
  if (previous_.size() == cells.size()) {
    const double n = static_cast<double>(cells.size());
    const double ma = std::accumulate(cells.begin(), cells.end(), 0.0) / n;
    const double mb = std::accumulate(previous_.begin(), previous_.end(), 0.0) / n;
    double sab = 0.0, saa = 0.0, sbb = 0.0;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      const double a = cells[i] - ma, b = previous_[i] - mb;
      sab += a * b;
      saa += a * a;
      sbb += b * b;
    }
    // A flat map on either side carries no evidence of a cut.
    if (saa > 0.0 && sbb > 0.0) cut = sab / std::sqrt(saa * sbb) < options_.map_correlation_threshold;
  }
  previous_ = std::move(cells);
  return cut;
}

// ---- Cropping the map and measures ---------------------------------------------------

namespace {
void check_window(const CropWindow &w, int frame_width, int frame_height, const char *who) {
  if (frame_width <= 0 || frame_height <= 0)
    throw std::invalid_argument(std::string(who) + ": frame size is not positive");
  if (w.width <= 0 || w.height <= 0 || w.x < 0 || w.y < 0 || w.x + w.width > frame_width ||
      w.y + w.height > frame_height)
    throw std::invalid_argument(std::string(who) + ": window " + std::to_string(w.width) + "x" +
                                std::to_string(w.height) + "+" + std::to_string(w.x) + "+" +
                                std::to_string(w.y) + " is not inside the " +
                                std::to_string(frame_width) + "x" + std::to_string(frame_height) +
                                " frame");
}
}  // namespace

CroppedMap crop_map(const MapView &map, int frame_width, int frame_height,
                    const CropWindow &window) {
  check_map(map, "crop_map");
  check_window(window, frame_width, frame_height, "crop_map");
  CroppedMap out;
  out.width = std::max(1, static_cast<int>(std::lround(
                              static_cast<double>(map.width) * window.width / frame_width)));
  out.height = std::max(1, static_cast<int>(std::lround(
                               static_cast<double>(map.height) * window.height / frame_height)));
  out.values.resize(static_cast<std::size_t>(out.width) * out.height);
  const double sx = static_cast<double>(map.width) / frame_width;
  const double sy = static_cast<double>(map.height) / frame_height;
  for (int r = 0; r < out.height; ++r) {
    // Centre of the output cell in frame pixels, then in map cell coordinates.
    const double fy = window.y + (r + 0.5) * window.height / out.height;
    const double my = std::clamp(fy * sy - 0.5, 0.0, map.height - 1.0);
    const int y0 = static_cast<int>(my), y1 = std::min(y0 + 1, map.height - 1);
    const double wy = my - y0;
    for (int c = 0; c < out.width; ++c) {
      const double fx = window.x + (c + 0.5) * window.width / out.width;
      const double mx = std::clamp(fx * sx - 0.5, 0.0, map.width - 1.0);
      const int x0 = static_cast<int>(mx), x1 = std::min(x0 + 1, map.width - 1);
      const double wx = mx - x0;
      auto v = [&](int y, int x) {
        return static_cast<double>(map.values[static_cast<std::size_t>(y) * map.width + x]);
      };
      out.values[static_cast<std::size_t>(r) * out.width + c] = static_cast<float>(
          (1 - wy) * ((1 - wx) * v(y0, x0) + wx * v(y0, x1)) +
          wy * ((1 - wx) * v(y1, x0) + wx * v(y1, x1)));
    }
  }
  return out;
}

double retained_saliency(const MapView &map, int frame_width, int frame_height,
                         const CropWindow &window) {
  if (frame_width <= 0 || frame_height <= 0)
    throw std::invalid_argument("retained_saliency: frame size is not positive");
  const MapIntegral integral(map, "retained_saliency");
  const double u0 = static_cast<double>(window.x) / frame_width;
  const double v0 = static_cast<double>(window.y) / frame_height;
  return integral.fraction(u0, v0, u0 + static_cast<double>(window.width) / frame_width,
                           v0 + static_cast<double>(window.height) / frame_height);
}

CropWindow best_window(const MapView &map, int frame_width, int frame_height, int width,
                       int height) {
  if (frame_width <= 0 || frame_height <= 0 || width <= 0 || height <= 0 ||
      width > frame_width || height > frame_height)
    throw std::invalid_argument("best_window: the window does not fit the frame");
  const MapIntegral integral(map, "best_window");
  const int max_x = (frame_width - width) & ~1, max_y = (frame_height - height) & ~1;
  const double cx = (frame_width - width) / 2.0, cy = (frame_height - height) / 2.0;
  CropWindow best{0, 0, width, height};
  double best_kept = -1.0, best_off = 0.0;
  for (int y = 0; y <= max_y; y += 2) {
    for (int x = 0; x <= max_x; x += 2) {
      const double kept = integral.fraction(
          static_cast<double>(x) / frame_width, static_cast<double>(y) / frame_height,
          static_cast<double>(x + width) / frame_width, static_cast<double>(y + height) / frame_height);
      const double off = std::hypot(x - cx, y - cy);
      if (kept > best_kept || (kept == best_kept && off < best_off)) {
        best_kept = kept;
        best_off = off;
        best.x = x;
        best.y = y;
      }
    }
  }
  return best;
}

PathMotion path_motion(const std::vector<CropWindow> &path, const std::vector<bool> &shot_cuts) {
  if (!shot_cuts.empty() && shot_cuts.size() != path.size())
    throw std::invalid_argument("path_motion: " + std::to_string(shot_cuts.size()) +
                                " shot-cut flags for " + std::to_string(path.size()) + " windows");
  PathMotion m;
  double speed_sum = 0.0;
  int moves = 0;
  bool have_velocity = false;
  double last_vx = 0.0, last_vy = 0.0;
  for (std::size_t i = 1; i < path.size(); ++i) {
    if (!shot_cuts.empty() && shot_cuts[i]) {
      have_velocity = false;
      continue;
    }
    const double vx = (path[i].x + path[i].width / 2.0) - (path[i - 1].x + path[i - 1].width / 2.0);
    const double vy =
        (path[i].y + path[i].height / 2.0) - (path[i - 1].y + path[i - 1].height / 2.0);
    const double speed = std::hypot(vx, vy);
    m.top_speed = std::max(m.top_speed, speed);
    speed_sum += speed;
    ++moves;
    if (have_velocity)
      m.top_acceleration = std::max(m.top_acceleration, std::hypot(vx - last_vx, vy - last_vy));
    last_vx = vx;
    last_vy = vy;
    have_velocity = true;
  }
  m.mean_speed = moves > 0 ? speed_sum / moves : 0.0;
  return m;
}

}  // namespace model
