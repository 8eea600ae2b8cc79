// Heat-map rendering of saliency maps: colormap lookup tables and an in-place
// blend onto video frames given as pointer + stride (GStreamer pads rows, so
// nothing here assumes packed rows). Used by the `saliencyoverlay` element and
// by `saliency-predict --overlay`.
//
// Torch-free and GStreamer-free: only the standard library in this header,
// OpenCV in the implementation.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>

#include "salmaps/map_view.hpp"
#include "salmaps/pixel_format.hpp"

namespace model {

/// Colour maps, as OpenCV's cv::applyColorMap draws them. Jet is MATLAB's;
/// Turbo is Google's (Mikhailov 2019); Inferno, Magma and Viridis are
/// matplotlib's perceptually uniform maps; Hot is black -> red -> yellow ->
/// white; Gray is the identity ramp.
enum class Colormap { Jet, Turbo, Inferno, Magma, Viridis, Hot, Gray };

/// Parses "jet", "turbo", "inferno", "magma", "viridis", "hot", "gray"
/// (case-insensitive).
/// Throws std::invalid_argument naming the value.
Colormap parse_colormap(const std::string &name);
const char *to_string(Colormap cm);

/// An RGB colour, 8 bits per channel.
struct Rgb8 {
  std::uint8_t r = 0, g = 0, b = 0;
};

/// The 256-entry lookup table of a colormap: index 0 is the colour of the
/// lowest value, 255 of the highest. The tables are built once, on first use,
/// and are safe to read from several threads.
const std::array<Rgb8, 256> &colormap_lut(Colormap cm);

/// Frame layouts the blend writes to. The packed formats mirror PixelFormat;
/// I420 and NV12 are 8-bit 4:2:0 YUV (BT.601 or BT.709 matrix, limited range).
enum class OverlayFormat { RGB, BGR, RGBA, BGRA, RGBx, BGRx, xRGB, xBGR, ARGB, ABGR, I420, NV12 };

/// A writable frame: one plane for packed RGB formats, three for I420 (Y, U,
/// V), two for NV12 (Y, interleaved UV). Strides are in bytes. Borrowed: the
/// caller owns the memory and keeps it mapped during the call.
struct OverlayFrame {
  std::uint8_t *planes[3] = {nullptr, nullptr, nullptr};
  std::size_t strides[3] = {0, 0, 0};
  int width = 0;
  int height = 0;
  OverlayFormat format = OverlayFormat::RGB;
  YuvMatrix matrix = YuvMatrix::BT601;  ///< limited range; BT.2020 is drawn with BT.601's matrix
};

struct HeatmapStyle {
  Colormap colormap = Colormap::Jet;
  /// Opacity of the heat map in [0,1] where the map is highest. The map is
  /// min-max normalised per frame to m in [0,1]; each pixel is blended with
  /// weight alpha * m, so pixels where the map is lowest are left unchanged
  /// and the frame stays readable.
  float alpha = 0.5f;
  /// Draws a cross-hair at the map's maximum (white, with a dark outline).
  bool mark_peak = false;
  /// Paints the colour-mapped map over the whole frame, opaque, instead of
  /// blending (alpha is ignored): with Colormap::Gray a packed RGB frame then
  /// holds the map as an 8-bit min-max normalised image (map export).
  bool replace_picture = false;
};

/// Blends the map over the frame as a heat map, in place. The map is resized
/// to the frame with bilinear interpolation (half-pixel centres). A flat map
/// (is_flat_range: constant, all zeros, or a range of rounding noise) carries
/// no information: it leaves the pixels unchanged (replace_picture: paints the
/// colormap's lowest colour) and, having no peak, gets no peak marker (a
/// marker at its "first maximum" would sit in the top-left corner).
/// Odd-sized 4:2:0 frames are fine (chroma is (w+1)/2 x (h+1)/2).
/// Throws std::invalid_argument for null planes, non-positive sizes or a map
/// with non-finite values; the frame is untouched then.
void blend_heatmap(const OverlayFrame &frame, const MapView &map, const HeatmapStyle &style);

/// The heat map as an overlay image instead of a blend: every pixel of
/// `canvas` (RGBA, BGRA, ARGB or ABGR, 8 bits per channel) is written with the
/// colour blend_heatmap would mix into a frame of the canvas's size and, in its
/// alpha byte, the opacity it would mix it with (alpha * m, scaled to 0..255;
/// straight alpha, not premultiplied). The peak marker, with mark_peak, is
/// opaque. Compositing the canvas over a frame of the same size therefore
/// gives blend_heatmap's result up to 8-bit rounding (blend_heatmap weighs in
/// 1/256 steps, an 8-bit alpha in 1/255 steps); the `saliencyoverlay` element
/// hands it downstream as a GstVideoOverlayComposition.
/// replace_picture makes the canvas opaque (a flat map: its lowest colour).
/// Returns false when there is nothing to draw (a flat map without
/// replace_picture, or alpha <= 0 without mark_peak): the canvas is then
/// fully transparent.
/// Throws std::invalid_argument, canvas untouched, for a format without an
/// alpha byte and for what blend_heatmap rejects.
bool render_heatmap_overlay(const OverlayFrame &canvas, const MapView &map,
                            const HeatmapStyle &style);

/// The blend's name for a packed layout; throws std::invalid_argument for
/// GRAY8, which has no colour to draw a heat map with.
OverlayFormat overlay_format(PixelFormat f);

/// Convenience for packed frames described as in predictor.hpp (GRAY8 has no
/// colour and is rejected with std::invalid_argument).
void blend_heatmap(std::uint8_t *data, int width, int height, std::size_t stride,
                   PixelFormat format, const MapView &map, const HeatmapStyle &style);

/// Position of the map's maximum in frame pixels (the centre of the map cell),
/// for a frame of frame_width x frame_height. The first maximum in row-major
/// order wins, so a flat map's "peak" is its first cell: callers check
/// is_flat_range first (blend_heatmap draws no marker for a flat map).
struct Peak {
  int x = 0;
  int y = 0;
  float value = 0.f;
};
Peak find_peak(const MapView &map, int frame_width, int frame_height);

}  // namespace model
