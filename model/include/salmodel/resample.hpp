// Pillow-compatible image resampling as tensor operations (any device).
//
// The official STSANet loader resizes frames with torchvision's
// Resize((224, 384)) on PIL images, i.e. Pillow's Image.resize(BILINEAR)
// (ImagingResample in Pillow's libImaging/Resample.c): a triangle filter whose
// support grows with the downscaling factor (so it antialiases), coefficients
// normalised per output pixel and quantised to 22-bit fixed point, a
// horizontal pass then a vertical pass, each rounded and clipped to 8 bits.
// cv::resize is not antialiased and gives visibly different inputs
// (model-spec A.8); this reproduces Pillow's integer arithmetic exactly.
#pragma once

#include <torch/types.h>

#include <cstdint>

namespace model {

/// Resizes an 8-bit image as Pillow's `Image.resize((out_width, out_height),
/// Image.BILINEAR)` does, bit for bit.
/// @param image uint8 tensor (H, W) or (H, W, C), any device and strides.
/// @returns a contiguous uint8 tensor (out_height, out_width[, C]) on the same device.
/// Throws c10::Error for a non-uint8 or wrongly shaped tensor or a size < 1.
torch::Tensor resize_bilinear_pil(const torch::Tensor &image, int64_t out_height,
                                  int64_t out_width);

}  // namespace model
