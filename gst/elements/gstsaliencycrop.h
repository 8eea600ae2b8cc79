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
#ifndef __GST_SALIENCY_CROP_H__
#define __GST_SALIENCY_CROP_H__

#include <gst/base/gstbasetransform.h>
#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_SALIENCY_CROP (gst_saliency_crop_get_type())
G_DECLARE_FINAL_TYPE(GstSaliencyCrop, gst_saliency_crop, GST, SALIENCY_CROP, GstBaseTransform)

GST_ELEMENT_REGISTER_DECLARE(saliencycrop);

G_END_DECLS

#endif /* __GST_SALIENCY_CROP_H__ */
