/* gst-saliency: GStreamer video formats as the libraries name them.
 *
 * One table for every element of the plugin, so that `saliency` (which
 * reads frames) and `saliencyoverlay` (which draws on them) can never
 * disagree about what a format's bytes are.
 */
#pragma once

#include <gst/video/video.h>

#include "salmaps/heatmap.hpp"  // OverlayFormat
#include "salmaps/pixel_format.hpp"

namespace gstsaliency {

/// The 8-bit layout of `f` (RGB family, GRAY8, I420, NV12); false for any
/// other format.
bool to_pixel_format(GstVideoFormat f, model::PixelFormat *out);

/// The layout the heat-map blend writes to: the packed RGB family, I420 or
/// NV12; false for any other format (GRAY8 has no colour to blend).
bool to_overlay_format(GstVideoFormat f, model::OverlayFormat *out);

/// The YUV matrix of caps' colorimetry (BT.601 when it names another one or
/// none: GStreamer's default for SD).
model::YuvMatrix to_yuv_matrix(const GstVideoColorimetry &c);

}  // namespace gstsaliency
