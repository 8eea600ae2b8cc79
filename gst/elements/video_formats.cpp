/* gst-saliency: GStreamer video formats as the libraries name them
 * (video_formats.hpp). */
#include "video_formats.hpp"

#include <utility>

namespace gstsaliency {

namespace {

// GStreamer's names and the libraries' are the same bytes in the same order
// (for I420 and NV12: the same planes).
constexpr std::pair<GstVideoFormat, model::PixelFormat> kPacked[] = {
    {GST_VIDEO_FORMAT_RGB, model::PixelFormat::RGB},     {GST_VIDEO_FORMAT_BGR, model::PixelFormat::BGR},
    {GST_VIDEO_FORMAT_RGBA, model::PixelFormat::RGBA},   {GST_VIDEO_FORMAT_BGRA, model::PixelFormat::BGRA},
    {GST_VIDEO_FORMAT_RGBx, model::PixelFormat::RGBx},   {GST_VIDEO_FORMAT_BGRx, model::PixelFormat::BGRx},
    {GST_VIDEO_FORMAT_xRGB, model::PixelFormat::xRGB},   {GST_VIDEO_FORMAT_xBGR, model::PixelFormat::xBGR},
    {GST_VIDEO_FORMAT_ARGB, model::PixelFormat::ARGB},   {GST_VIDEO_FORMAT_ABGR, model::PixelFormat::ABGR},
    {GST_VIDEO_FORMAT_GRAY8, model::PixelFormat::GRAY8},
    {GST_VIDEO_FORMAT_I420, model::PixelFormat::I420},   {GST_VIDEO_FORMAT_NV12, model::PixelFormat::NV12},
};

}  // namespace

bool to_pixel_format(GstVideoFormat f, model::PixelFormat *out) {
  for (const auto &[gst, ours] : kPacked) {
    if (gst != f) continue;
    *out = ours;
    return true;
  }
  return false;
}

bool to_overlay_format(GstVideoFormat f, model::OverlayFormat *out) {
  model::PixelFormat ours;
  if (!to_pixel_format(f, &ours) || ours == model::PixelFormat::GRAY8) return false;
  *out = model::overlay_format(ours);
  return true;
}

model::YuvMatrix to_yuv_matrix(const GstVideoColorimetry &c) {
  switch (c.matrix) {
    case GST_VIDEO_COLOR_MATRIX_BT709:
      return model::YuvMatrix::BT709;
    case GST_VIDEO_COLOR_MATRIX_BT2020:
      return model::YuvMatrix::BT2020;
    default:  // BT.601, and what GStreamer assumes for SD when unknown
      return model::YuvMatrix::BT601;
  }
}

}  // namespace gstsaliency
