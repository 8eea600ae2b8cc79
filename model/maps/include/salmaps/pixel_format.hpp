// Packed 8-bit pixel layouts of the frames the libraries read and draw on.
// GStreamer elements map their video formats onto it; the Predictor's
// FrameView and the heat-map blend take it.
#pragma once

namespace model {

/// Packed 8-bit pixel layouts (GStreamer's names; x = padding byte).
enum class PixelFormat { RGB, BGR, RGBA, BGRA, RGBx, BGRx, xRGB, xBGR, ARGB, ABGR, GRAY8 };

}  // namespace model
