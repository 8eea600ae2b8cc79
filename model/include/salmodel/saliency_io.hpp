// Reading saliency maps and ground truth in the published dataset layouts
// (DESIGN.md "Data layouts", model-spec C.1 and C.5):
//   <video>/maps/NNNN.png              continuous map, 8-bit grey 0-255
//   <video>/fixation/NNNN.png          binary fixation map (0/255)
//   <video>/fixation/maps/NNNN.mat     the same fixations, MATLAB variable `I`
// and predictions as written by saliency-predict (`.png` or float32 `.npy`).
// Every function throws ModelError("<file>: <problem>") on failure.
#pragma once

#include <opencv2/core/mat.hpp>
#include <string>

#include "salmodel/predictor.hpp"  // ModelError

namespace model {

/// A prediction map as CV_64F with its stored values, unscaled: `.npy`
/// (float32, float64, uint8 or uint16; shape (H, W), (H, W, 1) or (1, H, W);
/// C or Fortran order) or an image OpenCV reads (`.png`, `.jpg`, ...; 8- or
/// 16-bit). Of a colour image the first channel in MATLAB's order (red) is used,
/// as the DHF1K evaluation code does (model-spec C.1: "channel 1, as a double
/// in 0-255").
cv::Mat read_prediction_map(const std::string &path);

/// A 2-D `.npy` array as CV_64F (see read_prediction_map for what is accepted).
cv::Mat read_npy(const std::string &path);

/// A continuous ground-truth map scaled like MATLAB's `im2double`: 8-bit /255,
/// 16-bit /65535, floating-point as stored. CV_64F; first channel of colour
/// images.
cv::Mat read_saliency_map(const std::string &path);

/// A fixation map as CV_8U 0/1 (1 where the stored value is non-zero): from a
/// MAT-file variable `mat_variable` when `path` ends in `.mat`, else from an
/// image (first channel).
cv::Mat read_fixation_map(const std::string &path, const std::string &mat_variable = "I");

}  // namespace model
