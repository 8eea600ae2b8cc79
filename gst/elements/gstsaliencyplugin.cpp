/* gst-saliency: the "saliency" plugin
 *
 * This library is free software; you can redistribute it and/or modify it
 * under the terms of the GNU Lesser General Public License as published by the
 * Free Software Foundation; either version 2.1 of the License, or (at your
 * option) any later version.
 *
 * This library is distributed in the hope that it will be useful, but WITHOUT
 * ANY WARRANTY; without even the implied warranty of MERCHANTABILITY or FITNESS
 * FOR A PARTICULAR PURPOSE. See the GNU Lesser General Public License for more
 * details.
 */
/**
 * plugin-saliency:
 *
 * Video saliency: where people look. `opticalflow` attaches dense optical
 * flow, `saliency` predicts a saliency map per frame (STSANet, STRA-Net or a
 * weight-free baseline), `saliencyoverlay` draws it as a heat map and
 * `saliencyroi` turns it into regions of interest for ROI-aware encoders and
 * `saliencycrop` reframes the video to another aspect ratio along a path that
 * follows the map. Maps, flow and crop windows travel as GstSaliencyMeta,
 * GstOpticalFlowMeta and GstSaliencyCropMeta (library gstreamer-saliency-1.0).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/gst.h>

#include "gstopticalflow.h"
#include "gstsaliency.h"
#include "gstsaliencycrop.h"
#include "gstsaliencyoverlay.h"
#include "gstsaliencyroi.h"

static gboolean plugin_init(GstPlugin *plugin) {
  gboolean ret = FALSE;

  ret |= GST_ELEMENT_REGISTER(opticalflow, plugin);
  ret |= GST_ELEMENT_REGISTER(saliency, plugin);
  ret |= GST_ELEMENT_REGISTER(saliencyoverlay, plugin);
  ret |= GST_ELEMENT_REGISTER(saliencyroi, plugin);
  ret |= GST_ELEMENT_REGISTER(saliencycrop, plugin);

  return ret;
}

GST_PLUGIN_DEFINE(GST_VERSION_MAJOR, GST_VERSION_MINOR, saliency,
                  "Video saliency prediction: optical flow, saliency maps, heat-map overlay, ROI "
                  "encoding and reframing",
                  plugin_init, VERSION, GST_LICENSE, GST_PACKAGE_NAME, GST_PACKAGE_ORIGIN)
