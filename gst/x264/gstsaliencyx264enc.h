/* gst-saliency: saliencyx264enc element
 *
 * This program is free software; you can redistribute it and/or modify it
 * under the terms of the GNU General Public License as published by the Free
 * Software Foundation; either version 2 of the License, or (at your option)
 * any later version (it links libx264, which is GPL).
 *
 * This program is distributed in the hope that it will be useful, but WITHOUT
 * ANY WARRANTY; without even the implied warranty of MERCHANTABILITY or FITNESS
 * FOR A PARTICULAR PURPOSE. See the GNU General Public License for more
 * details.
 */
#ifndef __GST_SALIENCY_X264_ENC_H__
#define __GST_SALIENCY_X264_ENC_H__

#include <gst/gst.h>
#include <gst/video/gstvideoencoder.h>

G_BEGIN_DECLS

#define GST_TYPE_SALIENCY_X264_ENC (gst_saliency_x264_enc_get_type())
G_DECLARE_FINAL_TYPE(GstSaliencyX264Enc, gst_saliency_x264_enc, GST, SALIENCY_X264_ENC,
                     GstVideoEncoder)

GST_ELEMENT_REGISTER_DECLARE(saliencyx264enc);

G_END_DECLS

#endif /* __GST_SALIENCY_X264_ENC_H__ */
