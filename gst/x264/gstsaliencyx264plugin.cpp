/* gst-saliency: the plugin "saliencyx264" (saliencyx264enc).
 *
 * This program is free software; you can redistribute it and/or modify it
 * under the terms of the GNU General Public License as published by the Free
 * Software Foundation; either version 2 of the License, or (at your option)
 * any later version. It is a separate plugin from "saliency" (LGPL) because it
 * links libx264, which is GPL (STYLE.md §b).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/gst.h>

#include "gstsaliencyx264enc.h"

static gboolean plugin_init(GstPlugin *plugin) {
  return GST_ELEMENT_REGISTER(saliencyx264enc, plugin);
}

GST_PLUGIN_DEFINE(GST_VERSION_MAJOR, GST_VERSION_MINOR, saliencyx264,
                  "Saliency-aware H.264 encoding with libx264 (per-macroblock QP offsets)",
                  plugin_init, VERSION, GST_LICENSE, GST_PACKAGE_NAME, GST_PACKAGE_ORIGIN)
