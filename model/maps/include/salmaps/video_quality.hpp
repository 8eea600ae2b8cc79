// Objective video quality for saliency-aware encoding: PSNR, eye-weighted PSNR
// (EWPSNR: the squared error weighted by a saliency map normalised to sum 1;
// Li, Qin & Itti, IVC 2011, ecosystem.md 4.4) and the Bjontegaard delta rate
// (VCEG-M33: cubic fit of log rate against quality, integrated over the common
// quality range).
//
// Torch-free, OpenCV-free and GStreamer-free: only the standard library.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace model {

/// A borrowed 8-bit plane (the Y plane of I420/NV12). `stride` in bytes.
struct PlaneView {
  const std::uint8_t *data = nullptr;
  int width = 0;
  int height = 0;
  std::size_t stride = 0;
};

/// Mean squared error of two planes of the same size.
/// Throws std::invalid_argument for empty or differently sized planes.
double mean_squared_error(const PlaneView &a, const PlaneView &b);

/// Squared error weighted by `weights` (width*height values, row-major, same
/// size as the planes, >= 0, not all 0), normalised to sum 1 inside.
/// A uniform map gives mean_squared_error. Throws std::invalid_argument for a
/// size mismatch, negative or non-finite weights or an all-zero map.
double weighted_squared_error(const PlaneView &a, const PlaneView &b,
                              const std::vector<float> &weights);

/// 10 log10(peak^2 / mse); +infinity for mse == 0 (identical planes).
double psnr_from_mse(double mse, double peak = 255.0);

/// One point of a rate-quality curve.
struct RatePoint {
  double rate = 0;     ///< any rate unit (> 0), the same for both curves
  double quality = 0;  ///< dB (PSNR, EWPSNR)
};

/// Bjontegaard delta rate of `test` against `anchor`, in percent: the average
/// rate difference at equal quality (negative = test needs fewer bits). Each
/// curve needs >= 4 points with distinct qualities and positive rates; log rate
/// is fitted by a cubic in quality (least squares) and the fits are integrated
/// over the overlap of the two quality ranges. Throws std::invalid_argument for
/// too few points, non-positive rates or non-overlapping quality ranges.
double bjontegaard_delta_rate(const std::vector<RatePoint> &anchor,
                              const std::vector<RatePoint> &test);

/// Bjontegaard delta quality of `test` against `anchor`, in dB (BD-PSNR): the
/// average quality difference at equal rate (positive = test is better). The
/// quality is fitted by a cubic in log rate, over the overlap of the two
/// log-rate ranges. Same preconditions as bjontegaard_delta_rate.
double bjontegaard_delta_quality(const std::vector<RatePoint> &anchor,
                                 const std::vector<RatePoint> &test);

}  // namespace model
