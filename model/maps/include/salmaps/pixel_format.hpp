// 8-bit pixel layouts of the frames the libraries read and draw on.
// GStreamer elements map their video formats onto it; the Predictor's
// FrameView and the heat-map blend take it.
#pragma once

namespace model {

/// 8-bit pixel layouts (GStreamer's names; x = padding byte): packed RGB
/// orders, grey, and 4:2:0 YUV (I420: three planes; NV12: Y and interleaved UV).
enum class PixelFormat { RGB, BGR, RGBA, BGRA, RGBx, BGRx, xRGB, xBGR, ARGB, ABGR, GRAY8, I420, NV12 };

inline bool is_yuv420(PixelFormat f) { return f == PixelFormat::I420 || f == PixelFormat::NV12; }

/// The matrix between RGB and YUV (ITU-R BT.601, BT.709, BT.2020 luma weights).
enum class YuvMatrix { BT601, BT709, BT2020 };
/// Limited ("video", Y 16-235, U and V 16-240) or full (0-255) range.
enum class YuvRange { Limited, Full };

}  // namespace model
