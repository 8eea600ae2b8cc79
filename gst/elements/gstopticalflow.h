/* gst-saliency
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
#ifndef __GST_OPTICAL_FLOW_H__
#define __GST_OPTICAL_FLOW_H__

#include <gst/gst.h>
#include <gst/video/gstvideofilter.h>

G_BEGIN_DECLS

#define GST_TYPE_OPTICAL_FLOW (gst_optical_flow_get_type())
G_DECLARE_FINAL_TYPE(GstOpticalFlow, gst_optical_flow, GST, OPTICAL_FLOW, GstVideoFilter)

GST_ELEMENT_REGISTER_DECLARE(opticalflow);

G_END_DECLS

#endif /* __GST_OPTICAL_FLOW_H__ */
