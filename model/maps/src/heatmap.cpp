// Heat-map rendering (see salmaps/heatmap.hpp). Torch-free: OpenCV and std only.
#include "salmaps/heatmap.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <stdexcept>

namespace model {
namespace {

struct ColormapName {
  Colormap cm;
  const char *name;
};
constexpr ColormapName kColormapNames[] = {
    {Colormap::Jet, "jet"},     {Colormap::Turbo, "turbo"},     {Colormap::Inferno, "inferno"},
    {Colormap::Magma, "magma"}, {Colormap::Viridis, "viridis"}, {Colormap::Hot, "hot"},
    {Colormap::Gray, "gray"},
};

std::array<Rgb8, 256> build_lut(Colormap cm) {
  cv::Mat ramp(1, 256, CV_8UC1);
  for (int i = 0; i < 256; ++i) ramp.at<std::uint8_t>(0, i) = static_cast<std::uint8_t>(i);
  cv::Mat bgr;
  switch (cm) {
    case Colormap::Jet:
      cv::applyColorMap(ramp, bgr, cv::COLORMAP_JET);
      break;
    case Colormap::Turbo:
      cv::applyColorMap(ramp, bgr, cv::COLORMAP_TURBO);
      break;
    case Colormap::Inferno:
      cv::applyColorMap(ramp, bgr, cv::COLORMAP_INFERNO);
      break;
    case Colormap::Magma:
      cv::applyColorMap(ramp, bgr, cv::COLORMAP_MAGMA);
      break;
    case Colormap::Viridis:
      cv::applyColorMap(ramp, bgr, cv::COLORMAP_VIRIDIS);
      break;
    case Colormap::Hot:
      cv::applyColorMap(ramp, bgr, cv::COLORMAP_HOT);
      break;
    case Colormap::Gray:
      cv::cvtColor(ramp, bgr, cv::COLOR_GRAY2BGR);
      break;
  }
  std::array<Rgb8, 256> lut{};
  for (int i = 0; i < 256; ++i) {
    const cv::Vec3b c = bgr.at<cv::Vec3b>(0, i);
    lut[i] = Rgb8{c[2], c[1], c[0]};
  }
  return lut;
}

// Byte offsets of R, G, B and alpha (-1: none; an x byte is padding, not
// alpha) inside one pixel, and the pixel size.
struct PackedLayout {
  int r, g, b, bytes, a;
};

PackedLayout packed_layout(OverlayFormat f) {
  switch (f) {
    case OverlayFormat::RGB:
      return {0, 1, 2, 3, -1};
    case OverlayFormat::BGR:
      return {2, 1, 0, 3, -1};
    case OverlayFormat::RGBA:
      return {0, 1, 2, 4, 3};
    case OverlayFormat::RGBx:
      return {0, 1, 2, 4, -1};
    case OverlayFormat::BGRA:
      return {2, 1, 0, 4, 3};
    case OverlayFormat::BGRx:
      return {2, 1, 0, 4, -1};
    case OverlayFormat::ARGB:
      return {1, 2, 3, 4, 0};
    case OverlayFormat::xRGB:
      return {1, 2, 3, 4, -1};
    case OverlayFormat::ABGR:
      return {3, 2, 1, 4, 0};
    case OverlayFormat::xBGR:
      return {3, 2, 1, 4, -1};
    case OverlayFormat::I420:
    case OverlayFormat::NV12:
      break;
  }
  throw std::invalid_argument("heat map: not a packed RGB format");
}

bool is_yuv(OverlayFormat f) { return f == OverlayFormat::I420 || f == OverlayFormat::NV12; }

struct Yuv8 {
  std::uint8_t y, u, v;
};

// Limited-range RGB -> YCbCr (ITU-R BT.601 and BT.709 coefficients, 8 bits).
Yuv8 to_yuv(Rgb8 c, YuvMatrix m) {
  const float r = c.r / 255.f, g = c.g / 255.f, b = c.b / 255.f;
  float y, u, v;
  if (m == YuvMatrix::BT709) {
    y = 16.f + 46.559f * r + 156.629f * g + 15.812f * b;
    u = 128.f - 25.664f * r - 86.336f * g + 112.f * b;
    v = 128.f + 112.f * r - 101.730f * g - 10.270f * b;
  } else {
    y = 16.f + 65.481f * r + 128.553f * g + 24.966f * b;
    u = 128.f - 37.797f * r - 74.203f * g + 112.f * b;
    v = 128.f + 112.f * r - 93.786f * g - 18.214f * b;
  }
  return {cv::saturate_cast<std::uint8_t>(y), cv::saturate_cast<std::uint8_t>(u),
          cv::saturate_cast<std::uint8_t>(v)};
}

// p' = p + w (c - p) with w = weight / 256, rounded.
inline std::uint8_t mix(std::uint8_t p, std::uint8_t c, int weight) {
  return static_cast<std::uint8_t>((p * (256 - weight) + c * weight + 128) >> 8);
}

void check_frame(const OverlayFrame &frame) {
  if (frame.width <= 0 || frame.height <= 0)
    throw std::invalid_argument("heat map: frame size must be positive, got " +
                                std::to_string(frame.width) + "x" + std::to_string(frame.height));
  const int planes = frame.format == OverlayFormat::I420   ? 3
                     : frame.format == OverlayFormat::NV12 ? 2
                                                           : 1;
  for (int i = 0; i < planes; ++i)
    if (!frame.planes[i] || frame.strides[i] == 0)
      throw std::invalid_argument("heat map: frame plane " + std::to_string(i) + " is missing");
}

// The map min-max normalised to [0,1] at its own resolution; empty when the
// map is flat (is_flat_range: no heat to draw). Throws for non-finite values.
cv::Mat normalised_map(const MapView &map) {
  if (!map.values || map.width <= 0 || map.height <= 0)
    throw std::invalid_argument("heat map: empty saliency map");
  const cv::Mat m(map.height, map.width, CV_32FC1, const_cast<float *>(map.values));
  if (!cv::checkRange(m))
    throw std::invalid_argument("heat map: saliency map has non-finite values");
  double lo = 0.0, hi = 0.0;
  cv::minMaxLoc(m, &lo, &hi);
  const MinMaxScale s = min_max_scale(lo, hi);
  if (s.flat) return {};
  cv::Mat n;
  m.convertTo(n, CV_32FC1, s.scale, s.offset);
  return n;
}

// Weight (0..256) and LUT index for each pixel of a width x height grid.
struct PixelWeights {
  cv::Mat index;   // CV_8UC1
  cv::Mat weight;  // CV_16UC1, 0..256
};

// The normalised map on a width x height grid (bilinear, half-pixel centres).
cv::Mat resized(const cv::Mat &normalised, int width, int height) {
  if (normalised.cols == width && normalised.rows == height) return normalised;
  cv::Mat up;
  cv::resize(normalised, up, cv::Size(width, height), 0, 0, cv::INTER_LINEAR);
  return up;
}

// alpha < 0: opaque everywhere (replace_picture).
PixelWeights pixel_weights(const cv::Mat &normalised, int width, int height, float alpha) {
  const cv::Mat up = resized(normalised, width, height);
  PixelWeights w;
  up.convertTo(w.index, CV_8UC1, 255.0);  // rounds and saturates
  if (alpha < 0.f)
    w.weight = cv::Mat(height, width, CV_16UC1, cv::Scalar(256));
  else
    up.convertTo(w.weight, CV_16UC1, 256.0 * std::min(alpha, 1.f));
  return w;
}

void blend_packed(const OverlayFrame &f, const cv::Mat &normalised,
                  const std::array<Rgb8, 256> &lut, float alpha) {
  const PackedLayout l = packed_layout(f.format);
  const PixelWeights pw = pixel_weights(normalised, f.width, f.height, alpha);
  for (int y = 0; y < f.height; ++y) {
    std::uint8_t *row = f.planes[0] + y * f.strides[0];
    const std::uint8_t *idx = pw.index.ptr<std::uint8_t>(y);
    const std::uint16_t *wt = pw.weight.ptr<std::uint16_t>(y);
    for (int x = 0; x < f.width; ++x, row += l.bytes) {
      const int w = wt[x];
      if (w == 0) continue;
      const Rgb8 c = lut[idx[x]];
      row[l.r] = mix(row[l.r], c.r, w);
      row[l.g] = mix(row[l.g], c.g, w);
      row[l.b] = mix(row[l.b], c.b, w);
    }
  }
}

void blend_yuv420(const OverlayFrame &f, const cv::Mat &normalised,
                  const std::array<Rgb8, 256> &lut, float alpha) {
  std::array<Yuv8, 256> yuv;
  for (int i = 0; i < 256; ++i) yuv[i] = to_yuv(lut[i], f.matrix);

  const PixelWeights luma = pixel_weights(normalised, f.width, f.height, alpha);
  for (int y = 0; y < f.height; ++y) {
    std::uint8_t *row = f.planes[0] + y * f.strides[0];
    const std::uint8_t *idx = luma.index.ptr<std::uint8_t>(y);
    const std::uint16_t *wt = luma.weight.ptr<std::uint16_t>(y);
    for (int x = 0; x < f.width; ++x)
      if (wt[x]) row[x] = mix(row[x], yuv[idx[x]].y, wt[x]);
  }
  // Chroma samples sit at the centre of each 2x2 block (MPEG-1 siting): the
  // map resized to the chroma grid samples it there.
  const int cw = (f.width + 1) / 2, ch = (f.height + 1) / 2;
  const PixelWeights chroma = pixel_weights(normalised, cw, ch, alpha);
  for (int y = 0; y < ch; ++y) {
    const std::uint8_t *idx = chroma.index.ptr<std::uint8_t>(y);
    const std::uint16_t *wt = chroma.weight.ptr<std::uint16_t>(y);
    if (f.format == OverlayFormat::I420) {
      std::uint8_t *u = f.planes[1] + y * f.strides[1];
      std::uint8_t *v = f.planes[2] + y * f.strides[2];
      for (int x = 0; x < cw; ++x)
        if (wt[x]) {
          u[x] = mix(u[x], yuv[idx[x]].u, wt[x]);
          v[x] = mix(v[x], yuv[idx[x]].v, wt[x]);
        }
    } else {
      std::uint8_t *uv = f.planes[1] + y * f.strides[1];
      for (int x = 0; x < cw; ++x)
        if (wt[x]) {
          uv[2 * x] = mix(uv[2 * x], yuv[idx[x]].u, wt[x]);
          uv[2 * x + 1] = mix(uv[2 * x + 1], yuv[idx[x]].v, wt[x]);
        }
    }
  }
}

// Sets one pixel to an opaque colour (chroma of 4:2:0 frames: the sample the
// pixel belongs to).
void put_pixel(const OverlayFrame &f, int x, int y, Rgb8 c) {
  if (x < 0 || y < 0 || x >= f.width || y >= f.height) return;
  if (!is_yuv(f.format)) {
    const PackedLayout l = packed_layout(f.format);
    std::uint8_t *p = f.planes[0] + y * f.strides[0] + x * l.bytes;
    p[l.r] = c.r;
    p[l.g] = c.g;
    p[l.b] = c.b;
    return;
  }
  const Yuv8 v = to_yuv(c, f.matrix);
  f.planes[0][y * f.strides[0] + x] = v.y;
  if (f.format == OverlayFormat::I420) {
    f.planes[1][(y / 2) * f.strides[1] + x / 2] = v.u;
    f.planes[2][(y / 2) * f.strides[2] + x / 2] = v.v;
  } else {
    f.planes[1][(y / 2) * f.strides[1] + 2 * (x / 2)] = v.u;
    f.planes[1][(y / 2) * f.strides[1] + 2 * (x / 2) + 1] = v.v;
  }
}

// A cross-hair: white arms one pixel wide with a one-pixel dark outline, so it
// shows on any colormap and any picture. `put(x, y, colour)` paints one pixel
// (a frame's, or an overlay canvas's, which also makes it opaque); the same
// pixels either way, so the overlay's marker is the blended one.
template <class Put>
void draw_cross(int width, int height, int cx, int cy, Put put) {
  const int arm = std::max(3, std::min(width, height) / 20);
  const Rgb8 dark{16, 16, 16}, white{255, 255, 255};
  for (int d = -arm - 1; d <= arm + 1; ++d)
    for (int t = -1; t <= 1; ++t) {
      put(cx + d, cy + t, dark);
      put(cx + t, cy + d, dark);
    }
  for (int d = -arm; d <= arm; ++d) {
    put(cx + d, cy, white);
    put(cx, cy + d, white);
  }
}

void draw_cross(const OverlayFrame &f, int cx, int cy) {
  draw_cross(f.width, f.height, cx, cy, [&f](int x, int y, Rgb8 c) { put_pixel(f, x, y, c); });
}

// Colour and straight alpha of every canvas pixel. Both come from the map
// resized to the canvas exactly as pixel_weights resizes it for the blend, so
// the colour is the blend's colour and the alpha its weight in 1/255 steps
// (the blend's weight is in 1/256 steps).
void paint_canvas(const OverlayFrame &c, const PackedLayout &l, const cv::Mat &normalised,
                  const std::array<Rgb8, 256> &lut, float alpha) {
  const cv::Mat up = resized(normalised, c.width, c.height);
  cv::Mat index, opacity;
  up.convertTo(index, CV_8UC1, 255.0);  // rounds and saturates, as pixel_weights
  if (alpha < 0.f)
    opacity = cv::Mat(c.height, c.width, CV_8UC1, cv::Scalar(255));
  else
    up.convertTo(opacity, CV_8UC1, 255.0 * std::min(alpha, 1.f));
  for (int y = 0; y < c.height; ++y) {
    std::uint8_t *row = c.planes[0] + y * c.strides[0];
    const std::uint8_t *idx = index.ptr<std::uint8_t>(y);
    const std::uint8_t *op = opacity.ptr<std::uint8_t>(y);
    for (int x = 0; x < c.width; ++x, row += l.bytes) {
      const Rgb8 col = lut[idx[x]];
      row[l.r] = col.r;
      row[l.g] = col.g;
      row[l.b] = col.b;
      row[l.a] = op[x];
    }
  }
}

void clear_canvas(const OverlayFrame &c, const PackedLayout &l) {
  for (int y = 0; y < c.height; ++y)
    std::fill_n(c.planes[0] + y * c.strides[0], std::size_t(c.width) * l.bytes, std::uint8_t(0));
}

}  // namespace

OverlayFormat overlay_format(PixelFormat f) {
  switch (f) {
    case PixelFormat::RGB:
      return OverlayFormat::RGB;
    case PixelFormat::BGR:
      return OverlayFormat::BGR;
    case PixelFormat::RGBA:
      return OverlayFormat::RGBA;
    case PixelFormat::BGRA:
      return OverlayFormat::BGRA;
    case PixelFormat::RGBx:
      return OverlayFormat::RGBx;
    case PixelFormat::BGRx:
      return OverlayFormat::BGRx;
    case PixelFormat::xRGB:
      return OverlayFormat::xRGB;
    case PixelFormat::xBGR:
      return OverlayFormat::xBGR;
    case PixelFormat::ARGB:
      return OverlayFormat::ARGB;
    case PixelFormat::ABGR:
      return OverlayFormat::ABGR;
    case PixelFormat::I420:
      return OverlayFormat::I420;
    case PixelFormat::NV12:
      return OverlayFormat::NV12;
    case PixelFormat::GRAY8:
      break;
  }
  throw std::invalid_argument("heat map: GRAY8 frames have no colour to draw a heat map with");
}

Colormap parse_colormap(const std::string &name) {
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  for (const auto &n : kColormapNames)
    if (lower == n.name) return n.cm;
  throw std::invalid_argument("unknown colormap '" + name +
                              "' (expected jet, turbo, inferno, magma, viridis, hot or gray)");
}

const char *to_string(Colormap cm) {
  for (const auto &n : kColormapNames)
    if (n.cm == cm) return n.name;
  return "unknown";
}

const std::array<Rgb8, 256> &colormap_lut(Colormap cm) {
  // Function-local statics: built once, thread-safe initialisation (C++11).
  static const std::array<Rgb8, 256> jet = build_lut(Colormap::Jet);
  static const std::array<Rgb8, 256> turbo = build_lut(Colormap::Turbo);
  static const std::array<Rgb8, 256> inferno = build_lut(Colormap::Inferno);
  static const std::array<Rgb8, 256> magma = build_lut(Colormap::Magma);
  static const std::array<Rgb8, 256> viridis = build_lut(Colormap::Viridis);
  static const std::array<Rgb8, 256> hot = build_lut(Colormap::Hot);
  static const std::array<Rgb8, 256> gray = build_lut(Colormap::Gray);
  switch (cm) {
    case Colormap::Jet:
      return jet;
    case Colormap::Turbo:
      return turbo;
    case Colormap::Inferno:
      return inferno;
    case Colormap::Magma:
      return magma;
    case Colormap::Viridis:
      return viridis;
    case Colormap::Hot:
      return hot;
    case Colormap::Gray:
      return gray;
  }
  return jet;
}

Peak find_peak(const MapView &map, int frame_width, int frame_height) {
  if (!map.values || map.width <= 0 || map.height <= 0)
    throw std::invalid_argument("find_peak: empty saliency map");
  const std::size_t n = static_cast<std::size_t>(map.width) * map.height;
  const std::size_t best =
      static_cast<std::size_t>(std::max_element(map.values, map.values + n) - map.values);
  const int mx = static_cast<int>(best % map.width), my = static_cast<int>(best / map.width);
  Peak p;
  p.value = map.values[best];
  // Centre of the cell, in frame pixels.
  p.x = std::min(frame_width - 1, static_cast<int>((mx + 0.5) * frame_width / map.width));
  p.y = std::min(frame_height - 1, static_cast<int>((my + 0.5) * frame_height / map.height));
  return p;
}

void blend_heatmap(const OverlayFrame &frame, const MapView &map, const HeatmapStyle &style) {
  check_frame(frame);
  if (!is_yuv(frame.format)) packed_layout(frame.format);  // validates the format
  cv::Mat normalised = normalised_map(map);                // validates the map
  const bool flat = normalised.empty();
  const auto &lut = colormap_lut(style.colormap);
  if (style.replace_picture && flat)
    normalised = cv::Mat::zeros(map.height, map.width, CV_32FC1);  // flat: the lowest colour
  const float alpha = style.replace_picture ? -1.f : style.alpha;
  if (!normalised.empty() && (style.replace_picture || style.alpha > 0.f)) {
    if (is_yuv(frame.format))
      blend_yuv420(frame, normalised, lut, alpha);
    else
      blend_packed(frame, normalised, lut, alpha);
  }
  // A flat map has no peak: find_peak would return its first cell, and a
  // marker in the top-left corner on every black frame of a fade would only
  // mislead.
  if (style.mark_peak && !flat) {
    const Peak p = find_peak(map, frame.width, frame.height);
    draw_cross(frame, p.x, p.y);
  }
}

bool render_heatmap_overlay(const OverlayFrame &canvas, const MapView &map,
                            const HeatmapStyle &style) {
  check_frame(canvas);
  if (is_yuv(canvas.format) || packed_layout(canvas.format).a < 0)
    throw std::invalid_argument(
        "heat map overlay: the canvas needs an alpha byte (RGBA, BGRA, ARGB or ABGR)");
  const PackedLayout l = packed_layout(canvas.format);
  cv::Mat normalised = normalised_map(map);  // validates the map
  const bool flat = normalised.empty();
  const bool heat = style.replace_picture || (!flat && style.alpha > 0.f);
  const bool peak = style.mark_peak && !flat;  // as blend_heatmap: a flat map has no peak
  if (!heat) clear_canvas(canvas, l);
  if (heat) {
    if (flat) normalised = cv::Mat::zeros(map.height, map.width, CV_32FC1);  // the lowest colour
    paint_canvas(canvas, l, normalised, colormap_lut(style.colormap),
                 style.replace_picture ? -1.f : style.alpha);
  }
  if (peak) {
    const Peak p = find_peak(map, canvas.width, canvas.height);
    draw_cross(canvas.width, canvas.height, p.x, p.y, [&canvas, &l](int x, int y, Rgb8 c) {
      if (x < 0 || y < 0 || x >= canvas.width || y >= canvas.height) return;
      std::uint8_t *px = canvas.planes[0] + y * canvas.strides[0] + x * l.bytes;
      px[l.r] = c.r;
      px[l.g] = c.g;
      px[l.b] = c.b;
      px[l.a] = 255;
    });
  }
  return heat || peak;
}

void blend_heatmap(std::uint8_t *data, int width, int height, std::size_t stride,
                   PixelFormat format, const MapView &map, const HeatmapStyle &style) {
  OverlayFrame f;
  f.planes[0] = data;
  f.strides[0] = stride;
  f.width = width;
  f.height = height;
  f.format = overlay_format(format);
  blend_heatmap(f, map, style);
}

}  // namespace model
