/* gstreamer-saliency-1.0: per-frame saliency, optical-flow and crop-window metadata.
 *
 * This library is free software; you can redistribute it and/or modify it
 * under the terms of the GNU Lesser General Public License as published by the
 * Free Software Foundation; either version 2.1 of the License, or (at your
 * option) any later version.
 */
#ifndef __GST_SALIENCY_META_H__
#define __GST_SALIENCY_META_H__

#include <gst/gst.h>
#include <gst/video/video.h>

G_BEGIN_DECLS

/**
 * GST_SALIENCY_API:
 *
 * Export (when building the library) or import marker for the public symbols
 * of gstreamer-saliency-1.0. The library is built with hidden visibility, so
 * only what carries this marker is part of the ABI.
 *
 * Since: 0.1
 */
#ifndef GST_SALIENCY_API
# ifdef BUILDING_GST_SALIENCY
#  define GST_SALIENCY_API GST_API_EXPORT
# else
#  define GST_SALIENCY_API GST_API_IMPORT
# endif
#endif

/* ------------------------------------------------------------ saliency map */

/**
 * GST_SALIENCY_META_API_TYPE:
 *
 * The #GType of the #GstSaliencyMeta API, for gst_buffer_get_meta() and
 * allocation queries. It carries the tags "video", "size" and "orientation".
 *
 * Since: 0.1
 */
#define GST_SALIENCY_META_API_TYPE (gst_saliency_meta_api_get_type ())

/**
 * GST_SALIENCY_META_INFO:
 *
 * The #GstMetaInfo of the #GstSaliencyMeta implementation.
 *
 * Since: 0.1
 */
#define GST_SALIENCY_META_INFO (gst_saliency_meta_get_info ())

/**
 * GstSaliencyMeta:
 * @meta: parent #GstMeta
 * @width: map width in cells (the model's output resolution, not the frame's)
 * @height: map height in cells
 * @map: immutable float32 values in [0,1], row-major, @width * @height of them
 *
 * The saliency map of one video frame: where people are predicted to look.
 * The map covers the whole frame whatever its own resolution; consumers scale
 * it (cell (x, y) covers frame pixels [x * W / @width, (x + 1) * W / @width)
 * horizontally, likewise vertically, for a frame of width W).
 *
 * The fields are read-only: the map is shared between buffer copies (they hold
 * references to the same #GBytes), so writing through it would change every
 * copy. Attach a new meta instead.
 *
 * Transforms: a full buffer copy keeps the meta (sharing the map); a scaled
 * frame (videoscale, videoconvertscale) keeps the map unchanged, since it is
 * relative to the frame; a partial copy, a flip, a rotation or a crop drop it,
 * because the map would no longer line up with the frame. videoscale with
 * add-borders=true and a changed display aspect ratio letterboxes the frame,
 * which the meta cannot see: scale before the saliency element in that case.
 *
 * Since: 0.1
 */
typedef struct _GstSaliencyMeta {
  GstMeta meta;
  guint width;
  guint height;
  GBytes *map;
} GstSaliencyMeta;

/**
 * gst_saliency_meta_api_get_type:
 *
 * Returns: the #GType of the #GstSaliencyMeta API, registered on first use.
 *
 * Since: 0.1
 */
GST_SALIENCY_API GType gst_saliency_meta_api_get_type (void);

/**
 * gst_saliency_meta_get_info: (skip)
 *
 * Returns: the #GstMetaInfo of the #GstSaliencyMeta implementation,
 * registered on first use.
 *
 * Since: 0.1
 */
GST_SALIENCY_API const GstMetaInfo *gst_saliency_meta_get_info (void);

/**
 * gst_buffer_add_saliency_meta: (skip)
 * @buffer: a writable #GstBuffer
 * @width: map width in cells, > 0
 * @height: map height in cells, > 0
 * @values: (array) (element-type gfloat): @width * @height float32 values
 *   in [0,1], row-major
 *
 * Attaches a saliency map to @buffer, copying @values (the caller keeps
 * ownership of them). Bindings use gst_buffer_add_saliency_meta_from_bytes(),
 * since introspection cannot express the length of @values.
 *
 * Returns: (transfer none) (nullable): the meta, owned by @buffer, or %NULL
 * on invalid arguments.
 *
 * Since: 0.1
 */
GST_SALIENCY_API
GstSaliencyMeta *gst_buffer_add_saliency_meta (GstBuffer * buffer, guint width, guint height,
    const gfloat * values);

/**
 * gst_buffer_add_saliency_meta_from_bytes:
 * @buffer: a writable #GstBuffer
 * @width: map width in cells, > 0
 * @height: map height in cells, > 0
 * @values: exactly @width * @height * 4 bytes: native-endian float32 values
 *   in [0,1], row-major. The bytes must not change afterwards (#GBytes is
 *   immutable by contract).
 *
 * Attaches a saliency map to @buffer, taking a new reference to @values
 * rather than copying them.
 *
 * Returns: (transfer none) (nullable): the meta, owned by @buffer, or %NULL
 * on invalid arguments (a critical warning says which).
 *
 * Since: 0.1
 */
GST_SALIENCY_API
GstSaliencyMeta *gst_buffer_add_saliency_meta_from_bytes (GstBuffer * buffer, guint width,
    guint height, GBytes * values);

/**
 * gst_buffer_get_saliency_meta:
 * @buffer: a #GstBuffer
 *
 * Finds the saliency map attached to @buffer. Safe to call from any thread
 * that holds a reference to @buffer.
 *
 * Returns: (transfer none) (nullable): the meta, valid as long as @buffer
 * holds it, or %NULL if @buffer has none.
 *
 * Since: 0.1
 */
GST_SALIENCY_API
GstSaliencyMeta *gst_buffer_get_saliency_meta (GstBuffer * buffer);

/**
 * gst_saliency_meta_get_map:
 * @meta: a #GstSaliencyMeta
 * @width: (out) (optional): map width in cells
 * @height: (out) (optional): map height in cells
 *
 * Gives the map without copying it. From Python:
 * |[<!-- language="Python" -->
 * data, w, h = meta.get_map()
 * sal = numpy.frombuffer(data.get_data(), numpy.float32).reshape(h, w)
 * ]|
 *
 * Returns: (transfer full): a new reference to the immutable map:
 * @width * @height native-endian float32 values in [0,1], row-major. It stays
 * valid after the buffer is gone; release it with g_bytes_unref().
 *
 * Since: 0.1
 */
GST_SALIENCY_API
GBytes *gst_saliency_meta_get_map (GstSaliencyMeta * meta, guint * width, guint * height);

/* ------------------------------------------------------------ optical flow */

/**
 * GST_OPTICAL_FLOW_META_API_TYPE:
 *
 * The #GType of the #GstOpticalFlowMeta API. It carries the tags "video",
 * "size" and "orientation".
 *
 * Since: 0.1
 */
#define GST_OPTICAL_FLOW_META_API_TYPE (gst_optical_flow_meta_api_get_type ())

/**
 * GST_OPTICAL_FLOW_META_INFO:
 *
 * The #GstMetaInfo of the #GstOpticalFlowMeta implementation.
 *
 * Since: 0.1
 */
#define GST_OPTICAL_FLOW_META_INFO (gst_optical_flow_meta_get_info ())

/**
 * GstOpticalFlowMeta:
 * @meta: parent #GstMeta
 * @width: flow grid width in cells
 * @height: flow grid height in cells
 * @flow: immutable interleaved float32 (u, v) pairs, row-major, 2 * @width * @height values
 *
 * Dense forward optical flow from the previous frame to the frame this meta is
 * attached to: previous(x) ~ current(x + flow(x)). Vectors are in pixels of the
 * frame the meta is attached to, whatever the grid resolution.
 *
 * The fields are read-only (the vectors are shared between buffer copies).
 *
 * Transforms: a full buffer copy keeps the meta (sharing the vectors). A
 * scaled frame keeps the grid but gets new vectors, u * out_width / in_width
 * and v * out_height / in_height, so that they stay in pixels of the frame
 * they travel with. Partial copies, flips, rotations and crops drop it.
 *
 * Since: 0.1
 */
typedef struct _GstOpticalFlowMeta {
  GstMeta meta;
  guint width;
  guint height;
  GBytes *flow;
} GstOpticalFlowMeta;

/**
 * gst_optical_flow_meta_api_get_type:
 *
 * Returns: the #GType of the #GstOpticalFlowMeta API, registered on first use.
 *
 * Since: 0.1
 */
GST_SALIENCY_API GType gst_optical_flow_meta_api_get_type (void);

/**
 * gst_optical_flow_meta_get_info: (skip)
 *
 * Returns: the #GstMetaInfo of the #GstOpticalFlowMeta implementation,
 * registered on first use.
 *
 * Since: 0.1
 */
GST_SALIENCY_API const GstMetaInfo *gst_optical_flow_meta_get_info (void);

/**
 * gst_buffer_add_optical_flow_meta: (skip)
 * @buffer: a writable #GstBuffer
 * @width: grid width in cells, > 0
 * @height: grid height in cells, > 0
 * @values: (array) (element-type gfloat): 2 * @width * @height float32
 *   values, interleaved (u, v) in pixels of @buffer's frame, row-major
 *
 * Attaches a flow field to @buffer, copying @values. Bindings use
 * gst_buffer_add_optical_flow_meta_from_bytes().
 *
 * Returns: (transfer none) (nullable): the meta, owned by @buffer, or %NULL
 * on invalid arguments.
 *
 * Since: 0.1
 */
GST_SALIENCY_API
GstOpticalFlowMeta *gst_buffer_add_optical_flow_meta (GstBuffer * buffer, guint width,
    guint height, const gfloat * values);

/**
 * gst_buffer_add_optical_flow_meta_from_bytes:
 * @buffer: a writable #GstBuffer
 * @width: grid width in cells, > 0
 * @height: grid height in cells, > 0
 * @values: exactly @width * @height * 8 bytes: interleaved native-endian
 *   float32 (u, v) pairs, row-major; must not change afterwards
 *
 * Attaches a flow field to @buffer, taking a new reference to @values.
 *
 * Returns: (transfer none) (nullable): the meta, owned by @buffer, or %NULL
 * on invalid arguments (a critical warning says which).
 *
 * Since: 0.1
 */
GST_SALIENCY_API
GstOpticalFlowMeta *gst_buffer_add_optical_flow_meta_from_bytes (GstBuffer * buffer, guint width,
    guint height, GBytes * values);

/**
 * gst_buffer_get_optical_flow_meta:
 * @buffer: a #GstBuffer
 *
 * Finds the optical flow attached to @buffer.
 *
 * Returns: (transfer none) (nullable): the meta, valid as long as @buffer
 * holds it, or %NULL if @buffer has none.
 *
 * Since: 0.1
 */
GST_SALIENCY_API
GstOpticalFlowMeta *gst_buffer_get_optical_flow_meta (GstBuffer * buffer);

/**
 * gst_optical_flow_meta_get_flow:
 * @meta: a #GstOpticalFlowMeta
 * @width: (out) (optional): grid width in cells
 * @height: (out) (optional): grid height in cells
 *
 * Gives the flow field without copying it. From Python:
 * |[<!-- language="Python" -->
 * data, w, h = meta.get_flow()
 * uv = numpy.frombuffer(data.get_data(), numpy.float32).reshape(h, w, 2)
 * ]|
 *
 * Returns: (transfer full): a new reference to the immutable vectors:
 * 2 * @width * @height native-endian float32 values, interleaved (u, v),
 * row-major, in pixels of the frame the meta is attached to.
 *
 * Since: 0.1
 */
GST_SALIENCY_API
GBytes *gst_optical_flow_meta_get_flow (GstOpticalFlowMeta * meta, guint * width, guint * height);

/* ------------------------------------------------------------ crop window */

/**
 * GST_SALIENCY_CROP_META_API_TYPE:
 *
 * The #GType of the #GstSaliencyCropMeta API. It carries no tags: it
 * describes the source frame, not the pixels of the buffer it travels with,
 * so generic elements (videoconvert, videoscale) keep it.
 *
 * Since: 0.1
 */
#define GST_SALIENCY_CROP_META_API_TYPE (gst_saliency_crop_meta_api_get_type ())

/**
 * GST_SALIENCY_CROP_META_INFO:
 *
 * The #GstMetaInfo of the #GstSaliencyCropMeta implementation.
 *
 * Since: 0.1
 */
#define GST_SALIENCY_CROP_META_INFO (gst_saliency_crop_meta_get_info ())

/**
 * GstSaliencyCropMeta:
 * @meta: parent #GstMeta
 * @x: left edge of the window, in pixels of the source frame
 * @y: top edge of the window, in pixels of the source frame
 * @width: window width in source pixels
 * @height: window height in source pixels
 * @source_width: width of the source frame the window was taken from
 * @source_height: height of the source frame
 *
 * The window of the source frame that this buffer shows: the `saliencycrop`
 * element attaches it to every frame it outputs. The rectangle is in pixels
 * of the element's input (@source_width x @source_height), whatever this
 * buffer's own size, so an application can apply the same window to another
 * rendition of the source, for example a higher-resolution branch of the
 * pipeline: scale @x and @width by its width / @source_width, @y and @height
 * likewise.
 *
 * Transforms: a full buffer copy and a scaled frame keep it unchanged (it
 * describes the source, not these pixels); a partial copy drops it.
 *
 * Since: 0.1
 */
typedef struct _GstSaliencyCropMeta {
  GstMeta meta;
  guint x;
  guint y;
  guint width;
  guint height;
  guint source_width;
  guint source_height;
} GstSaliencyCropMeta;

/**
 * gst_saliency_crop_meta_api_get_type:
 *
 * Returns: the #GType of the #GstSaliencyCropMeta API, registered on first
 * use.
 *
 * Since: 0.1
 */
GST_SALIENCY_API GType gst_saliency_crop_meta_api_get_type (void);

/**
 * gst_saliency_crop_meta_get_info: (skip)
 *
 * Returns: the #GstMetaInfo of the #GstSaliencyCropMeta implementation,
 * registered on first use.
 *
 * Since: 0.1
 */
GST_SALIENCY_API const GstMetaInfo *gst_saliency_crop_meta_get_info (void);

/**
 * gst_buffer_add_saliency_crop_meta:
 * @buffer: a writable #GstBuffer
 * @x: left edge of the window in source pixels
 * @y: top edge of the window in source pixels
 * @width: window width, > 0
 * @height: window height, > 0
 * @source_width: source frame width, at least @x + @width
 * @source_height: source frame height, at least @y + @height
 *
 * Attaches a crop window to @buffer.
 *
 * Returns: (transfer none) (nullable): the meta, owned by @buffer, or %NULL
 * on invalid arguments (an empty window or one outside the source frame; a
 * critical warning says which).
 *
 * Since: 0.1
 */
GST_SALIENCY_API
GstSaliencyCropMeta *gst_buffer_add_saliency_crop_meta (GstBuffer * buffer, guint x, guint y,
    guint width, guint height, guint source_width, guint source_height);

/**
 * gst_buffer_get_saliency_crop_meta:
 * @buffer: a #GstBuffer
 *
 * Finds the crop window attached to @buffer.
 *
 * Returns: (transfer none) (nullable): the meta, valid as long as @buffer
 * holds it, or %NULL if @buffer has none.
 *
 * Since: 0.1
 */
GST_SALIENCY_API
GstSaliencyCropMeta *gst_buffer_get_saliency_crop_meta (GstBuffer * buffer);

G_END_DECLS

#endif /* __GST_SALIENCY_META_H__ */
