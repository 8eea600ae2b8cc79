// Unit tests for the torch-free rendering helpers: colormaps and heat-map
// blending (salmaps/heatmap.hpp) and map -> regions of interest
// (salmaps/roi.hpp). References are closed-form values worked out by hand and
// the published colormap tables (matplotlib's _cm_listed.py, Google's Turbo).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <stdexcept>
#include <vector>

#include "salmaps/heatmap.hpp"
#include "salmaps/roi.hpp"

namespace {

using model::Colormap;
using model::HeatmapStyle;
using model::MapView;
using model::OverlayFormat;
using model::OverlayFrame;
using model::Rgb8;

void expect_rgb_near(Rgb8 got, int r, int g, int b, int tol, const char *what) {
  EXPECT_NEAR(got.r, r, tol) << what;
  EXPECT_NEAR(got.g, g, tol) << what;
  EXPECT_NEAR(got.b, b, tol) << what;
}

// A packed frame of `bytes` per pixel with `pad` bytes of padding per row
// (filled with a sentinel the blend must not touch).
struct PackedImage {
  int width, height, bytes, pad;
  std::vector<std::uint8_t> data;
  PackedImage(int w, int h, int bpp, int padding, std::uint8_t fill)
      : width(w), height(h), bytes(bpp), pad(padding), data(std::size_t(h) * stride(), fill) {
    for (int y = 0; pad > 0 && y < h; ++y)
      std::fill_n(data.begin() + y * stride() + w * bpp, pad, std::uint8_t(0xA5));
  }
  std::size_t stride() const { return std::size_t(width * bytes + pad); }
  std::uint8_t *px(int x, int y) { return data.data() + y * stride() + x * bytes; }
};

TEST(Colormap, NamesRoundTripAndUnknownNameThrows) {
  for (Colormap cm : {Colormap::Jet, Colormap::Turbo, Colormap::Inferno, Colormap::Magma,
                      Colormap::Viridis, Colormap::Hot, Colormap::Gray})
    EXPECT_EQ(model::parse_colormap(model::to_string(cm)), cm);
  EXPECT_EQ(model::parse_colormap("TURBO"), Colormap::Turbo);
  EXPECT_THROW(model::parse_colormap("rainbow"), std::invalid_argument);
}

TEST(Colormap, EndpointsMatchPublishedTables) {
  // matplotlib viridis/inferno/magma first and last entries, Turbo's
  // published table, MATLAB jet: dark blue to dark red.
  using model::colormap_lut;
  expect_rgb_near(colormap_lut(Colormap::Viridis)[0], 68, 1, 84, 3, "viridis[0]");
  expect_rgb_near(colormap_lut(Colormap::Viridis)[255], 253, 231, 37, 3, "viridis[255]");
  expect_rgb_near(colormap_lut(Colormap::Inferno)[0], 0, 0, 4, 3, "inferno[0]");
  expect_rgb_near(colormap_lut(Colormap::Inferno)[255], 252, 255, 164, 3, "inferno[255]");
  expect_rgb_near(colormap_lut(Colormap::Magma)[0], 0, 0, 4, 3, "magma[0]");
  expect_rgb_near(colormap_lut(Colormap::Magma)[255], 252, 253, 191, 3, "magma[255]");
  expect_rgb_near(colormap_lut(Colormap::Turbo)[0], 48, 18, 59, 3, "turbo[0]");
  expect_rgb_near(colormap_lut(Colormap::Turbo)[255], 122, 4, 3, 3, "turbo[255]");
  expect_rgb_near(colormap_lut(Colormap::Jet)[0], 0, 0, 128, 8, "jet[0]");
  expect_rgb_near(colormap_lut(Colormap::Jet)[255], 128, 0, 0, 8, "jet[255]");
  expect_rgb_near(colormap_lut(Colormap::Hot)[255], 255, 255, 255, 0, "hot[255]");
  for (int i = 0; i < 256; ++i)
    expect_rgb_near(colormap_lut(Colormap::Gray)[i], i, i, i, 0, "gray");
}

TEST(Heatmap, ChangesOnlyPixelsWhereTheMapIsHigh) {
  PackedImage img(8, 6, 3, 5, 100);
  std::vector<float> map(8 * 6, 0.f);
  map[2 * 8 + 5] = 1.f;  // one hot pixel at (5, 2); map at frame size, so no resampling
  HeatmapStyle style;
  style.colormap = Colormap::Jet;
  style.alpha = 0.5f;
  model::blend_heatmap(img.data.data(), 8, 6, img.stride(), model::PixelFormat::RGB,
                       MapView{map.data(), 8, 6}, style);
  const Rgb8 c = model::colormap_lut(Colormap::Jet)[255];
  // weight = 0.5 * 256 = 128: p' = (p * 128 + c * 128 + 128) >> 8
  auto mixed = [](int p, int col) { return (p * 128 + col * 128 + 128) >> 8; };
  EXPECT_EQ(img.px(5, 2)[0], mixed(100, c.r));
  EXPECT_EQ(img.px(5, 2)[1], mixed(100, c.g));
  EXPECT_EQ(img.px(5, 2)[2], mixed(100, c.b));
  for (int y = 0; y < 6; ++y) {
    for (int x = 0; x < 8; ++x) {
      if (x == 5 && y == 2) continue;
      for (int k = 0; k < 3; ++k) ASSERT_EQ(img.px(x, y)[k], 100) << x << "," << y;
    }
    for (int p = 0; p < 5; ++p)
      ASSERT_EQ(img.data[y * img.stride() + 24 + p], 0xA5) << "padding touched";
  }
}

TEST(Heatmap, PackedLayoutsWriteTheRightBytesAndKeepAlpha) {
  struct Case {
    model::PixelFormat f;
    int r, g, b;
  };
  const Case cases[] = {{model::PixelFormat::RGB, 0, 1, 2},  {model::PixelFormat::BGR, 2, 1, 0},
                        {model::PixelFormat::RGBA, 0, 1, 2}, {model::PixelFormat::BGRA, 2, 1, 0},
                        {model::PixelFormat::RGBx, 0, 1, 2}, {model::PixelFormat::BGRx, 2, 1, 0},
                        {model::PixelFormat::ARGB, 1, 2, 3}, {model::PixelFormat::ABGR, 3, 2, 1},
                        {model::PixelFormat::xRGB, 1, 2, 3}, {model::PixelFormat::xBGR, 3, 2, 1}};
  const Rgb8 c = model::colormap_lut(Colormap::Viridis)[255];
  for (const auto &t : cases) {
    const int bpp = (t.f == model::PixelFormat::RGB || t.f == model::PixelFormat::BGR) ? 3 : 4;
    PackedImage img(4, 2, bpp, 0, 0x77);
    std::vector<float> map(4 * 2, 0.f);
    map[1] = 1.f;  // pixel (1, 0)
    HeatmapStyle style;
    style.colormap = Colormap::Viridis;
    style.alpha = 1.f;
    model::blend_heatmap(img.data.data(), 4, 2, img.stride(), t.f, MapView{map.data(), 4, 2},
                         style);
    const std::uint8_t *p = img.px(1, 0);
    EXPECT_EQ(p[t.r], c.r);
    EXPECT_EQ(p[t.g], c.g);
    EXPECT_EQ(p[t.b], c.b);
    if (bpp == 4) {
      EXPECT_EQ(p[6 - t.r - t.g - t.b], 0x77) << "alpha/padding byte changed";
    }
    EXPECT_EQ(img.px(0, 0)[0], 0x77);
  }
}

TEST(Heatmap, BilinearUpsamplingIsMonotoneWithUntouchedLowEnd) {
  PackedImage img(8, 1, 3, 0, 0);
  const float map[2] = {0.f, 1.f};
  HeatmapStyle style;
  style.colormap = Colormap::Gray;
  style.alpha = 1.f;
  model::blend_heatmap(img.data.data(), 8, 1, img.stride(), model::PixelFormat::RGB,
                       MapView{map, 2, 1}, style);
  // Half-pixel centres: pixels 0,1 sample the first cell only (m = 0, unchanged),
  // pixels 6,7 the second only (m = 1: white with alpha 1); between, m rises.
  EXPECT_EQ(img.px(0, 0)[0], 0);
  EXPECT_EQ(img.px(1, 0)[0], 0);
  EXPECT_EQ(img.px(6, 0)[0], 255);
  EXPECT_EQ(img.px(7, 0)[0], 255);
  for (int x = 1; x < 8; ++x) EXPECT_GE(img.px(x, 0)[0], img.px(x - 1, 0)[0]);
  EXPECT_GT(img.px(4, 0)[0], 0);
  EXPECT_LT(img.px(3, 0)[0], 255);
}

struct Yuv420 {
  int w, h, cw, ch;
  std::vector<std::uint8_t> y, u, v, uv;
  Yuv420(int width, int height)
      : w(width),
        h(height),
        cw((width + 1) / 2),
        ch((height + 1) / 2),
        y(std::size_t(w) * h, 128),
        u(std::size_t(cw) * ch, 128),
        v(std::size_t(cw) * ch, 128),
        uv(std::size_t(2 * cw) * ch, 128) {}
  OverlayFrame i420() {
    OverlayFrame f;
    f.planes[0] = y.data(), f.planes[1] = u.data(), f.planes[2] = v.data();
    f.strides[0] = w, f.strides[1] = cw, f.strides[2] = cw;
    f.width = w, f.height = h, f.format = OverlayFormat::I420;
    return f;
  }
  OverlayFrame nv12() {
    OverlayFrame f;
    f.planes[0] = y.data(), f.planes[1] = uv.data();
    f.strides[0] = w, f.strides[1] = 2 * cw;
    f.width = w, f.height = h, f.format = OverlayFormat::NV12;
    return f;
  }
};

TEST(Heatmap, I420UsesLimitedRangeLumaAndLeavesLowAreasAlone) {
  Yuv420 img(8, 8);
  std::vector<float> map(8 * 8, 0.f);
  for (int y = 2; y < 4; ++y)
    for (int x = 4; x < 6; ++x) map[y * 8 + x] = 1.f;  // exactly chroma sample (2, 1)
  HeatmapStyle style;
  style.colormap = Colormap::Gray;  // white at the top: Y = 235, U = V = 128 in limited range
  style.alpha = 1.f;
  model::blend_heatmap(img.i420(), MapView{map.data(), 8, 8}, style);
  EXPECT_EQ(img.y[2 * 8 + 4], 235);
  EXPECT_EQ(img.y[3 * 8 + 5], 235);
  EXPECT_EQ(img.y[0], 128);
  EXPECT_EQ(img.u[1 * 4 + 2], 128);

  // A red-dominated colour (jet's top) moves V up and U down at that sample only.
  Yuv420 red(8, 8);
  style.colormap = Colormap::Jet;
  model::blend_heatmap(red.i420(), MapView{map.data(), 8, 8}, style);
  EXPECT_GT(red.v[1 * 4 + 2], 128 + 20);
  EXPECT_LT(red.u[1 * 4 + 2], 128);
  EXPECT_EQ(red.v[0], 128);
  EXPECT_EQ(red.u[3 * 4 + 0], 128);
}

TEST(Heatmap, Nv12MatchesI420SampleForSample) {
  std::vector<float> map(5 * 3);
  for (int i = 0; i < 15; ++i) map[i] = float(i % 7) / 6.f;
  HeatmapStyle style;
  style.colormap = Colormap::Turbo;
  style.alpha = 0.7f;
  Yuv420 a(11, 7), b(11, 7);  // odd sizes on purpose
  model::blend_heatmap(a.i420(), MapView{map.data(), 5, 3}, style);
  model::blend_heatmap(b.nv12(), MapView{map.data(), 5, 3}, style);
  EXPECT_EQ(a.y, b.y);
  for (int i = 0; i < a.cw * a.ch; ++i) {
    ASSERT_EQ(a.u[i], b.uv[2 * i]);
    ASSERT_EQ(a.v[i], b.uv[2 * i + 1]);
  }
}

TEST(Heatmap, ReplacePictureWritesTheNormalisedMapAsGrey) {
  PackedImage img(4, 1, 3, 0, 77);
  const float map[4] = {2.f, 3.f, 4.f, 6.f};  // min-max normalised: 0, 0.25, 0.5, 1
  HeatmapStyle style;
  style.colormap = Colormap::Gray;
  style.alpha = 0.1f;  // ignored
  style.replace_picture = true;
  model::blend_heatmap(img.data.data(), 4, 1, img.stride(), model::PixelFormat::RGB,
                       MapView{map, 4, 1}, style);
  const int expected[4] = {0, 64, 128, 255};  // round(255 * m)
  for (int x = 0; x < 4; ++x)
    for (int k = 0; k < 3; ++k) EXPECT_EQ(img.px(x, 0)[k], expected[x]) << x;
  // A flat map paints the lowest colour.
  const float flat[4] = {0.3f, 0.3f, 0.3f, 0.3f};
  model::blend_heatmap(img.data.data(), 4, 1, img.stride(), model::PixelFormat::RGB,
                       MapView{flat, 4, 1}, style);
  for (int x = 0; x < 4; ++x) EXPECT_EQ(img.px(x, 0)[0], 0);
}

TEST(Heatmap, FlatMapLeavesFrameUnchanged) {
  PackedImage img(6, 4, 4, 0, 50);
  std::vector<float> map(3 * 2, 0.4f);
  HeatmapStyle style;
  style.alpha = 1.f;
  const auto copy = img.data;
  model::blend_heatmap(img.data.data(), 6, 4, img.stride(), model::PixelFormat::BGRx,
                       MapView{map.data(), 3, 2}, style);
  EXPECT_EQ(img.data, copy);
}

TEST(Heatmap, BadInputThrowsAndLeavesFrameUntouched) {
  PackedImage img(4, 4, 3, 0, 9);
  const auto copy = img.data;
  std::vector<float> map(4, 0.f);
  map[1] = std::numeric_limits<float>::quiet_NaN();
  HeatmapStyle style;
  EXPECT_THROW(model::blend_heatmap(img.data.data(), 4, 4, img.stride(), model::PixelFormat::RGB,
                                    MapView{map.data(), 2, 2}, style),
               std::invalid_argument);
  EXPECT_EQ(img.data, copy);
  map[1] = 1.f;
  EXPECT_THROW(model::blend_heatmap(img.data.data(), 4, 4, img.stride(), model::PixelFormat::GRAY8,
                                    MapView{map.data(), 2, 2}, style),
               std::invalid_argument);
  EXPECT_THROW(model::blend_heatmap(img.data.data(), 4, 4, img.stride(), model::PixelFormat::RGB,
                                    MapView{nullptr, 2, 2}, style),
               std::invalid_argument);
  EXPECT_THROW(model::blend_heatmap(nullptr, 4, 4, 12, model::PixelFormat::RGB,
                                    MapView{map.data(), 2, 2}, style),
               std::invalid_argument);
  EXPECT_EQ(img.data, copy);
}

TEST(Heatmap, PeakIsTheCentreOfTheMaximumCellAndGetsMarked) {
  std::vector<float> map(4 * 4, 0.1f);
  map[1 * 4 + 3] = 0.9f;
  const model::Peak p = model::find_peak(MapView{map.data(), 4, 4}, 40, 40);
  EXPECT_EQ(p.x, 35);  // (3 + 0.5) * 40 / 4
  EXPECT_EQ(p.y, 15);  // (1 + 0.5) * 40 / 4
  EXPECT_FLOAT_EQ(p.value, 0.9f);

  PackedImage img(40, 40, 3, 0, 0);
  HeatmapStyle style;
  style.alpha = 0.f;  // marker only
  style.mark_peak = true;
  model::blend_heatmap(img.data.data(), 40, 40, img.stride(), model::PixelFormat::RGB,
                       MapView{map.data(), 4, 4}, style);
  EXPECT_EQ(img.px(35, 15)[0], 255);
  EXPECT_EQ(img.px(35, 12)[1], 255);  // vertical arm
  EXPECT_EQ(img.px(5, 30)[2], 0);     // far away: untouched
}

// ------------------------------------------------- heat map as an overlay image

// A map with a real range and no symmetry: the blend and the canvas see every
// weight from 0 to alpha.
std::vector<float> ramp_map(int w, int h) {
  std::vector<float> m(std::size_t(w) * h);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) m[y * w + x] = float(x * x + 3 * y) / float(w * w + 3 * h);
  return m;
}

// An RGB picture with every byte value somewhere, so that c - p takes both signs.
PackedImage picture(int w, int h) {
  PackedImage img(w, h, 3, 2, 0);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      std::uint8_t *p = img.px(x, y);
      p[0] = std::uint8_t((x * 37 + y * 11) & 0xff);
      p[1] = std::uint8_t((x * 5 + y * 53) & 0xff);
      p[2] = std::uint8_t(255 - ((x * 19 + y * 7) & 0xff));
    }
  return img;
}

OverlayFrame canvas_of(PackedImage &c, OverlayFormat f) {
  OverlayFrame o;
  o.planes[0] = c.data.data();
  o.strides[0] = c.stride();
  o.width = c.width;
  o.height = c.height;
  o.format = f;
  return o;
}

TEST(HeatmapOverlay, CompositingTheCanvasGivesTheBlendWithinOneLevel) {
  const int w = 40, h = 30;
  const std::vector<float> map = ramp_map(7, 5);
  HeatmapStyle style;
  style.colormap = Colormap::Turbo;
  style.alpha = 0.7f;
  style.mark_peak = true;

  PackedImage blended = picture(w, h);
  const PackedImage original = blended;
  model::blend_heatmap(blended.data.data(), w, h, blended.stride(), model::PixelFormat::RGB,
                       MapView{map.data(), 7, 5}, style);

  PackedImage canvas(w, h, 4, 8, 0x33);  // BGRA with padded rows
  ASSERT_TRUE(model::render_heatmap_overlay(canvas_of(canvas, OverlayFormat::BGRA),
                                            MapView{map.data(), 7, 5}, style));
  // Straight-alpha "over", computed exactly and rounded once. For a pixel
  // whose exact weight is t = alpha * m: the blend gives p + (w/256)(c - p)
  // with w = round(256 t), rounded, which is off the exact value by less than
  // 0.5 + 255 * 0.5/256 < 1; this composite uses a = round(255 t), off by at
  // most 0.5 + 255 * 0.5/255 = 1. So the two differ by less than 2 levels:
  // by at most 1.
  int changed = 0, max_diff = 0;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const std::uint8_t *c = canvas.px(x, y);
      const double a = c[3] / 255.0;
      const std::uint8_t rgb[3] = {c[2], c[1], c[0]};
      for (int k = 0; k < 3; ++k) {
        const int p = original.data[y * original.stride() + x * 3 + k];
        const int composite = int(std::lround(p + a * (rgb[k] - p)));
        const int got = blended.px(x, y)[k];
        max_diff = std::max(max_diff, std::abs(composite - got));
        changed += got != p;
      }
    }
  EXPECT_LE(max_diff, 1);
  EXPECT_GT(changed, w * h);  // the comparison covers real blending, not a no-op
  for (int y = 0; y < h; ++y)  // the padding stays
    EXPECT_EQ(canvas.data[y * canvas.stride() + w * 4], 0xA5);
}

TEST(HeatmapOverlay, ColourFromTheLutAlphaFromTheMapInEachLayout) {
  struct Case {
    OverlayFormat f;
    int r, g, b, a;
  };
  const Case cases[] = {{OverlayFormat::RGBA, 0, 1, 2, 3},
                        {OverlayFormat::BGRA, 2, 1, 0, 3},
                        {OverlayFormat::ARGB, 1, 2, 3, 0},
                        {OverlayFormat::ABGR, 3, 2, 1, 0}};
  const auto &lut = model::colormap_lut(Colormap::Inferno);
  for (const auto &t : cases) {
    PackedImage canvas(4, 2, 4, 0, 0x77);
    std::vector<float> map(4 * 2, 0.f);
    map[1] = 1.f;  // pixel (1, 0): the maximum
    map[2] = 0.25f;
    HeatmapStyle style;
    style.colormap = Colormap::Inferno;
    style.alpha = 0.6f;
    ASSERT_TRUE(model::render_heatmap_overlay(canvas_of(canvas, t.f), MapView{map.data(), 4, 2},
                                              style));
    const std::uint8_t *hot = canvas.px(1, 0);
    EXPECT_EQ(hot[t.r], lut[255].r);
    EXPECT_EQ(hot[t.g], lut[255].g);
    EXPECT_EQ(hot[t.b], lut[255].b);
    EXPECT_EQ(hot[t.a], std::lround(0.6 * 255));
    EXPECT_EQ(canvas.px(2, 0)[t.a], std::lround(0.25 * 0.6 * 255));
    EXPECT_EQ(canvas.px(2, 0)[t.r], lut[64].r);  // index round(0.25 * 255), as in the blend
    const std::uint8_t *cold = canvas.px(0, 1);
    EXPECT_EQ(cold[t.a], 0) << "lowest value: fully transparent";
    EXPECT_EQ(cold[t.r], lut[0].r);
  }
}

TEST(HeatmapOverlay, NothingToDrawGivesATransparentCanvas) {
  HeatmapStyle style;
  style.alpha = 0.8f;
  style.mark_peak = true;
  const std::vector<float> flat(3 * 2, 0.4f);
  PackedImage canvas(6, 4, 4, 0, 0x77);
  EXPECT_FALSE(model::render_heatmap_overlay(canvas_of(canvas, OverlayFormat::RGBA),
                                             MapView{flat.data(), 3, 2}, style));
  EXPECT_TRUE(std::all_of(canvas.data.begin(), canvas.data.end(), [](auto v) { return v == 0; }));

  const std::vector<float> map = ramp_map(3, 2);
  style.alpha = 0.f;
  style.mark_peak = false;
  std::fill(canvas.data.begin(), canvas.data.end(), 0x77);
  EXPECT_FALSE(model::render_heatmap_overlay(canvas_of(canvas, OverlayFormat::RGBA),
                                             MapView{map.data(), 3, 2}, style));
  EXPECT_TRUE(std::all_of(canvas.data.begin(), canvas.data.end(), [](auto v) { return v == 0; }));
}

TEST(HeatmapOverlay, PeakMarkerIsOpaqueAndWhereTheBlendPutsIt) {
  std::vector<float> map(4 * 4, 0.1f);
  map[1 * 4 + 3] = 0.9f;
  HeatmapStyle style;
  style.alpha = 0.f;  // marker only
  style.mark_peak = true;
  PackedImage canvas(40, 40, 4, 0, 0x77);
  ASSERT_TRUE(model::render_heatmap_overlay(canvas_of(canvas, OverlayFormat::RGBA),
                                            MapView{map.data(), 4, 4}, style));
  PackedImage frame(40, 40, 3, 0, 0);
  model::blend_heatmap(frame.data.data(), 40, 40, frame.stride(), model::PixelFormat::RGB,
                       MapView{map.data(), 4, 4}, style);
  int marked = 0;
  for (int y = 0; y < 40; ++y)
    for (int x = 0; x < 40; ++x) {
      const std::uint8_t *c = canvas.px(x, y);
      const std::uint8_t *f = frame.px(x, y);
      const bool blend_marked = f[0] || f[1] || f[2];  // the frame was black
      ASSERT_EQ(c[3] == 255, blend_marked) << x << "," << y;
      if (c[3] == 255) {
        ++marked;
        EXPECT_EQ(c[0], f[0]);
        EXPECT_EQ(c[1], f[1]);
        EXPECT_EQ(c[2], f[2]);
      } else {
        EXPECT_EQ(c[3], 0);
      }
    }
  EXPECT_GT(marked, 10);
  EXPECT_EQ(canvas.px(35, 15)[0], 255);  // the centre is white
}

TEST(HeatmapOverlay, ReplacePictureIsOpaqueEverywhere) {
  const std::vector<float> map = ramp_map(4, 3);
  HeatmapStyle style;
  style.replace_picture = true;
  style.alpha = 0.2f;  // ignored
  PackedImage canvas(8, 6, 4, 0, 0x77);
  ASSERT_TRUE(model::render_heatmap_overlay(canvas_of(canvas, OverlayFormat::ARGB),
                                            MapView{map.data(), 4, 3}, style));
  for (int y = 0; y < 6; ++y)
    for (int x = 0; x < 8; ++x) EXPECT_EQ(canvas.px(x, y)[0], 255);
}

TEST(HeatmapOverlay, RejectsCanvasesWithoutAlphaAndBadMapsLeavingTheCanvas) {
  PackedImage canvas(4, 4, 4, 0, 9);
  const auto copy = canvas.data;
  std::vector<float> map(4, 0.f);
  map[1] = 1.f;
  HeatmapStyle style;
  for (OverlayFormat f : {OverlayFormat::RGBx, OverlayFormat::xBGR, OverlayFormat::I420})
    EXPECT_THROW(model::render_heatmap_overlay(canvas_of(canvas, f), MapView{map.data(), 2, 2},
                                               style),
                 std::invalid_argument);
  map[1] = std::numeric_limits<float>::infinity();
  EXPECT_THROW(model::render_heatmap_overlay(canvas_of(canvas, OverlayFormat::BGRA),
                                             MapView{map.data(), 2, 2}, style),
               std::invalid_argument);
  EXPECT_EQ(canvas.data, copy);
}

// ---------------------------------------------------------------- ROI

std::vector<float> two_blobs() {
  // 16 x 9 map: blob A (peak 1.0) at cells x 2..3, y 2..3; blob B (peak 0.8)
  // at x 10..12, y 5..6; background 0.
  std::vector<float> m(16 * 9, 0.f);
  for (int y = 2; y <= 3; ++y)
    for (int x = 2; x <= 3; ++x) m[y * 16 + x] = 1.f;
  for (int y = 5; y <= 6; ++y)
    for (int x = 10; x <= 12; ++x) m[y * 16 + x] = 0.8f;
  return m;
}

TEST(SalientRegions, ConnectedComponentsScaledToFramePixelsBestFirst) {
  const auto m = two_blobs();
  model::RoiOptions o;
  o.align = 1;
  const auto r = model::find_salient_regions(MapView{m.data(), 16, 9}, 320, 180, o);
  ASSERT_EQ(r.size(), 2u);
  // 20 frame pixels per cell.
  EXPECT_EQ(r[0].x, 40);
  EXPECT_EQ(r[0].y, 40);
  EXPECT_EQ(r[0].width, 40);
  EXPECT_EQ(r[0].height, 40);
  EXPECT_FLOAT_EQ(r[0].score, 1.f);
  EXPECT_EQ(r[0].cells, 4);
  EXPECT_EQ(r[1].x, 200);
  EXPECT_EQ(r[1].y, 100);
  EXPECT_EQ(r[1].width, 60);
  EXPECT_EQ(r[1].height, 40);
  EXPECT_NEAR(r[1].score, 0.8f, 1e-6);

  o.max_regions = 1;
  EXPECT_EQ(model::find_salient_regions(MapView{m.data(), 16, 9}, 320, 180, o).size(), 1u);
  o.max_regions = 4;
  o.threshold = 0.9f;  // B (0.8) falls below
  EXPECT_EQ(model::find_salient_regions(MapView{m.data(), 16, 9}, 320, 180, o).size(), 1u);
}

TEST(SalientRegions, AlignmentGrowsToMacroblocksWithinTheFrame) {
  const auto m = two_blobs();
  model::RoiOptions o;
  o.align = 16;
  const auto r = model::find_salient_regions(MapView{m.data(), 16, 9}, 320, 180, o);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].x, 32);  // 40 down to 32
  EXPECT_EQ(r[0].y, 32);
  EXPECT_EQ(r[0].width, 48);  // 80 stays 80
  EXPECT_EQ(r[0].height, 48);
  EXPECT_EQ(r[1].x, 192);  // 200 -> 192, 260 -> 272
  EXPECT_EQ(r[1].width, 80);
  EXPECT_EQ(r[1].y, 96);  // 100 -> 96, 140 -> 144
  EXPECT_EQ(r[1].height, 48);

  // A region touching the bottom edge is clipped to the frame (180 is not a multiple of 16).
  std::vector<float> edge(16 * 9, 0.f);
  edge[8 * 16 + 15] = 1.f;
  const auto e = model::find_salient_regions(MapView{edge.data(), 16, 9}, 320, 180, o);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].y + e[0].height, 180);
  EXPECT_EQ(e[0].x + e[0].width, 320);
}

TEST(SalientRegions, DiagonalNeighboursAreOneRegion) {
  std::vector<float> m(4 * 4, 0.f);
  m[0 * 4 + 0] = 1.f;
  m[1 * 4 + 1] = 1.f;
  m[2 * 4 + 2] = 1.f;
  model::RoiOptions o;
  o.align = 1;
  const auto r = model::find_salient_regions(MapView{m.data(), 4, 4}, 4, 4, o);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].cells, 3);
  EXPECT_EQ(r[0].width, 3);
}

TEST(SalientRegions, FlatMapHasNoRegionsAndBadInputThrows) {
  std::vector<float> flat(8, 0.3f);
  model::RoiOptions o;
  EXPECT_TRUE(model::find_salient_regions(MapView{flat.data(), 4, 2}, 64, 32, o).empty());
  o.max_regions = 0;
  EXPECT_THROW(model::find_salient_regions(MapView{flat.data(), 4, 2}, 64, 32, o),
               std::invalid_argument);
  o.max_regions = 2;
  flat[3] = std::numeric_limits<float>::infinity();
  EXPECT_THROW(model::find_salient_regions(MapView{flat.data(), 4, 2}, 64, 32, o),
               std::invalid_argument);
  EXPECT_THROW(model::find_salient_regions(MapView{flat.data(), 4, 2}, 0, 32, o),
               std::invalid_argument);
}

TEST(SalientRegions, IouAndStabilisation) {
  model::SalientRegion a{0, 0, 10, 10, 1.f, 1}, b{5, 0, 10, 10, 1.f, 1},
      far{50, 50, 10, 10, 1.f, 1};
  EXPECT_NEAR(model::intersection_over_union(a, b), 50.0 / 150.0, 1e-6);  // hand computed
  EXPECT_FLOAT_EQ(model::intersection_over_union(a, far), 0.f);
  EXPECT_FLOAT_EQ(model::intersection_over_union(a, a), 1.f);

  model::SalientRegion a1{1, 0, 10, 10, 0.9f, 1};  // IoU(a, a1) = 90 / 110 ~ 0.82
  auto kept = model::stabilise_regions({a}, {a1}, 0.7f);
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept[0].x, 0);  // the previous set is kept
  auto moved = model::stabilise_regions({a}, {far}, 0.7f);
  EXPECT_EQ(moved[0].x, 50);
  auto more = model::stabilise_regions({a}, {a1, far}, 0.7f);
  EXPECT_EQ(more.size(), 2u);
}

}  // namespace

// ---------------------------------------------- flat maps (issue #16)

namespace {

// A map that is 0.7 everywhere but for a few cells a couple of ulps above: the
// range is rounding noise, as a constant map carried through fp32 arithmetic
// (resize, blur, blend) comes out.
std::vector<float> rounding_noise_map(int n) {
  std::vector<float> m(std::size_t(n), 0.7f);
  for (int i = 0; i < n; i += 5) m[i] = std::nextafter(std::nextafter(0.7f, 1.f), 1.f);
  return m;
}

}  // namespace

TEST(MinMax, FlatRangeIsRoundingNoiseRelativeToTheMagnitude) {
  using model::is_flat_range;
  const float eps = std::numeric_limits<float>::epsilon();
  EXPECT_TRUE(is_flat_range(0.0, 0.0));                     // all zeros
  EXPECT_TRUE(is_flat_range(0.3, 0.3));                     // constant
  EXPECT_TRUE(is_flat_range(-2.0, -2.0));                   // negative constant
  EXPECT_TRUE(is_flat_range(0.7, 0.7 * (1 + 8 * eps)));     // 8 ulps
  EXPECT_TRUE(is_flat_range(1e6, 1e6 * (1 + 32 * eps)));    // relative, not absolute
  EXPECT_TRUE(is_flat_range(0.0, 1e-40));                   // subnormal noise on zero
  EXPECT_TRUE(is_flat_range(std::nan(""), 1.0));            // no range to divide by
  EXPECT_FALSE(is_flat_range(0.7, 0.7 * (1 + 128 * eps)));  // past the bound
  EXPECT_FALSE(is_flat_range(0.5, 0.5 + 1.0 / 255 / 100));  // 1 % of an 8-bit level
  EXPECT_FALSE(is_flat_range(0.0, 1e-30));                  // tiny but all real
  EXPECT_FALSE(is_flat_range(-1.0, 1.0));

  const model::MinMaxScale flat = model::min_max_scale(0.25, 0.25);
  EXPECT_TRUE(flat.flat);
  EXPECT_EQ(flat.scale, 0.0);
  EXPECT_EQ(flat.offset, 0.0);
  const model::MinMaxScale s = model::min_max_scale(2.0, 6.0);
  EXPECT_FALSE(s.flat);
  EXPECT_EQ(s.scale, 0.25);  // powers of two: exact
  EXPECT_EQ(s.offset, -0.5);
}

TEST(Heatmap, RoundingNoiseMapDrawsNoHeatAndConstantMapNoPeakMarker) {
  HeatmapStyle style;
  style.alpha = 1.f;
  style.mark_peak = true;
  for (int noisy = 0; noisy < 2; ++noisy) {
    SCOPED_TRACE(noisy ? "rounding noise" : "constant");
    PackedImage img(40, 30, 3, 2, 90);
    const auto copy = img.data;
    const std::vector<float> map =
        noisy ? rounding_noise_map(8 * 6) : std::vector<float>(8 * 6, 0.f);
    model::blend_heatmap(img.data.data(), 40, 30, img.stride(), model::PixelFormat::RGB,
                         MapView{map.data(), 8, 6}, style);
    EXPECT_EQ(img.data, copy) << "no heat and no cross-hair (it was drawn in the corner)";
  }
  // replace_picture: the lowest colour everywhere, not stretched noise.
  style.replace_picture = true;
  style.colormap = Colormap::Gray;
  style.mark_peak = false;
  PackedImage img(8, 6, 3, 0, 90);
  const auto map = rounding_noise_map(8 * 6);
  model::blend_heatmap(img.data.data(), 8, 6, img.stride(), model::PixelFormat::RGB,
                       MapView{map.data(), 8, 6}, style);
  for (auto v : img.data) ASSERT_EQ(v, 0);
}

TEST(Heatmap, SmallButRealRangeIsStillDrawn) {
  // The flatness bound must not swallow real contrast: a map 0.7 everywhere and
  // 0.7001 in one cell (1e-4, about 900 ulps) gets its peak marked and drawn.
  std::vector<float> map(4 * 4, 0.7f);
  map[2 * 4 + 1] = 0.7001f;
  PackedImage img(40, 40, 3, 0, 0);
  HeatmapStyle style;
  style.alpha = 1.f;
  style.mark_peak = true;
  model::blend_heatmap(img.data.data(), 40, 40, img.stride(), model::PixelFormat::RGB,
                       MapView{map.data(), 4, 4}, style);
  EXPECT_EQ(img.px(15, 25)[0], 255) << "cross-hair at the centre of cell (1, 2)";
}

TEST(SalientRegions, RoundingNoiseMapHasNoRegions) {
  // Stretched to [0,1], the noise cells were regions of score 1 scattered over the frame.
  const auto map = rounding_noise_map(16 * 9);
  EXPECT_TRUE(model::find_salient_regions(MapView{map.data(), 16, 9}, 384, 216, {}).empty());
  const std::vector<float> zero(16 * 9, 0.f);
  EXPECT_TRUE(model::find_salient_regions(MapView{zero.data(), 16, 9}, 384, 216, {}).empty());
}
