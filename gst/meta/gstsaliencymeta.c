/* gstreamer-saliency-1.0: per-frame saliency, optical-flow and crop-window metadata.
 *
 * This library is free software; you can redistribute it and/or modify it
 * under the terms of the GNU Lesser General Public License as published by the
 * Free Software Foundation; either version 2.1 of the License, or (at your
 * option) any later version.
 */

/**
 * SECTION:gstsaliencymeta
 * @title: GstSaliencyMeta, GstOpticalFlowMeta, GstSaliencyCropMeta
 * @short_description: per-frame saliency maps, optical flow and crop windows on video buffers
 *
 * The `saliency` element attaches a #GstSaliencyMeta to every frame and the
 * `opticalflow` element a #GstOpticalFlowMeta. Both carry a float32 grid at
 * their own resolution (the model's, the flow estimator's), stored as an
 * immutable #GBytes so that buffer copies and readers share it without
 * copying (STYLE.md §d).
 *
 * Both are tagged "video", "size" and "orientation", which decides what
 * generic elements do with them:
 *
 * - gst_buffer_copy() and the like keep them (a reference to the same map);
 *   a partial copy (gst_buffer_copy_region() of part of the memory) drops
 *   them, since the grid would no longer cover the buffer.
 * - videoscale / videoconvertscale / videoconvert call the scale transform:
 *   the saliency map, relative to the frame, is kept as is; flow vectors,
 *   which are in pixels, are rescaled to the new frame size.
 * - videoflip, videocrop and other #GstVideoFilter elements with no specific
 *   support drop them (gst_video_filter_transform_meta()), which is right:
 *   the grid would be flipped or cut relative to the frame.
 *
 * The `saliencycrop` element attaches a #GstSaliencyCropMeta to every frame
 * it outputs: the window of its input frame that the frame shows. It has no
 * tags, since it describes the source frame rather than the buffer's pixels:
 * copies, videoconvert and videoscale keep it as it is (an application applies
 * the window to another rendition of the source), and only a partial copy
 * drops it.
 *
 * With GStreamer >= 1.24 the metas also serialise (for example for
 * unixfdsink or validateflow): for the grids width, height and the values,
 * for the crop window its six fields, little-endian, format version 0.
 */

#include "gstsaliencymeta.h"

#include <string.h>

GST_DEBUG_CATEGORY_STATIC (gst_saliency_meta_debug);
#define GST_CAT_DEFAULT gst_saliency_meta_debug

/* Both metas share this layout (checked below), so one set of helpers serves
 * both, parametrised by the number of float32 components per cell. */
typedef struct
{
  GstMeta meta;
  guint width;
  guint height;
  GBytes *data;
} GridMeta;

G_STATIC_ASSERT (G_STRUCT_OFFSET (GstSaliencyMeta, width) == G_STRUCT_OFFSET (GridMeta, width));
G_STATIC_ASSERT (G_STRUCT_OFFSET (GstSaliencyMeta, height) == G_STRUCT_OFFSET (GridMeta, height));
G_STATIC_ASSERT (G_STRUCT_OFFSET (GstSaliencyMeta, map) == G_STRUCT_OFFSET (GridMeta, data));
G_STATIC_ASSERT (sizeof (GstSaliencyMeta) == sizeof (GridMeta));
G_STATIC_ASSERT (G_STRUCT_OFFSET (GstOpticalFlowMeta, width) ==
    G_STRUCT_OFFSET (GridMeta, width));
G_STATIC_ASSERT (G_STRUCT_OFFSET (GstOpticalFlowMeta, height) ==
    G_STRUCT_OFFSET (GridMeta, height));
G_STATIC_ASSERT (G_STRUCT_OFFSET (GstOpticalFlowMeta, flow) == G_STRUCT_OFFSET (GridMeta, data));
G_STATIC_ASSERT (sizeof (GstOpticalFlowMeta) == sizeof (GridMeta));

#define SALIENCY_COMPONENTS 1   /* s */
#define FLOW_COMPONENTS 2       /* u, v */

/* Bytes of a width x height grid with @components float32 per cell, or 0 if
 * the size overflows gsize (so a valid grid never has 0 bytes). */
static gsize
grid_n_bytes (guint width, guint height, guint components)
{
  gsize n;

  if (!g_size_checked_mul (&n, width, height) ||
      !g_size_checked_mul (&n, n, (gsize) components * sizeof (gfloat)))
    return 0;
  return n;
}

static void
ensure_debug_category (void)
{
  static gsize once = 0;

  if (g_once_init_enter (&once)) {
    GST_DEBUG_CATEGORY_INIT (gst_saliency_meta_debug, "saliencymeta", 0,
        "GstSaliencyMeta, GstOpticalFlowMeta and GstSaliencyCropMeta");
    g_once_init_leave (&once, 1);
  }
}

static gboolean
grid_meta_init (GstMeta * meta, gpointer params, GstBuffer * buffer)
{
  GridMeta *m = (GridMeta *) meta;

  m->width = 0;
  m->height = 0;
  m->data = NULL;
  return TRUE;
}

static void
grid_meta_free (GstMeta * meta, GstBuffer * buffer)
{
  GridMeta *m = (GridMeta *) meta;

  g_clear_pointer (&m->data, g_bytes_unref);
}

/* Adds a meta of @info to @buffer. Takes ownership of @data, whose size the
 * caller has checked; on failure @data is released. */
static GridMeta *
grid_meta_attach (GstBuffer * buffer, const GstMetaInfo * info, guint width, guint height,
    GBytes * data)
{
  GridMeta *m = (GridMeta *) gst_buffer_add_meta (buffer, info, NULL);

  if (m == NULL) {
    g_bytes_unref (data);
    return NULL;
  }
  m->width = width;
  m->height = height;
  m->data = data;
  return m;
}

/* A copy of @data with every (u, v) multiplied by (@sx, @sy). */
static GBytes *
flow_rescale (GBytes * data, gdouble sx, gdouble sy)
{
  gsize n_bytes = 0;
  const gfloat *src = g_bytes_get_data (data, &n_bytes);
  gsize n_cells = n_bytes / (FLOW_COMPONENTS * sizeof (gfloat));
  gfloat *dst = g_malloc (n_bytes);
  gsize i;

  for (i = 0; i < n_cells; i++) {
    dst[2 * i] = (gfloat) (src[2 * i] * sx);
    dst[2 * i + 1] = (gfloat) (src[2 * i + 1] * sy);
  }
  return g_bytes_new_take (dst, n_bytes);
}

/* The copy transform, common to both metas: a full copy shares the grid; a
 * partial copy drops it, deliberately, so TRUE (a FALSE return makes
 * gst_buffer_copy_into() log an error). */
static gboolean
grid_meta_transform_copy (GstBuffer * dest, GridMeta * src, GstMetaTransformCopy * copy)
{
  if (copy->region) {
    GST_LOG ("partial copy: dropping %s", g_type_name (src->meta.info->api));
    return TRUE;
  }
  return grid_meta_attach (dest, src->meta.info, src->width, src->height,
      g_bytes_ref (src->data)) != NULL;
}

static gboolean
gst_saliency_meta_transform (GstBuffer * dest, GstMeta * meta, GstBuffer * buffer, GQuark type,
    gpointer data)
{
  GridMeta *src = (GridMeta *) meta;

  if (GST_META_TRANSFORM_IS_COPY (type))
    return grid_meta_transform_copy (dest, src, (GstMetaTransformCopy *) data);

  /* The map covers the whole frame at its own resolution, so scaling the frame
   * leaves it valid as it is (DESIGN.md "Metadata": consumers scale it). */
  if (GST_VIDEO_META_TRANSFORM_IS_SCALE (type))
    return grid_meta_attach (dest, src->meta.info, src->width, src->height,
        g_bytes_ref (src->data)) != NULL;

  /* Anything else (matrix, future transforms): drop rather than lie. */
  GST_LOG ("transform %s: dropping GstSaliencyMeta", g_quark_to_string (type));
  return FALSE;
}

static gboolean
gst_optical_flow_meta_transform (GstBuffer * dest, GstMeta * meta, GstBuffer * buffer,
    GQuark type, gpointer data)
{
  GridMeta *src = (GridMeta *) meta;

  if (GST_META_TRANSFORM_IS_COPY (type))
    return grid_meta_transform_copy (dest, src, (GstMetaTransformCopy *) data);

  if (GST_VIDEO_META_TRANSFORM_IS_SCALE (type)) {
    GstVideoMetaTransform *trans = (GstVideoMetaTransform *) data;
    gint in_w = GST_VIDEO_INFO_WIDTH (trans->in_info);
    gint in_h = GST_VIDEO_INFO_HEIGHT (trans->in_info);
    gint out_w = GST_VIDEO_INFO_WIDTH (trans->out_info);
    gint out_h = GST_VIDEO_INFO_HEIGHT (trans->out_info);
    GBytes *vectors;

    if (in_w <= 0 || in_h <= 0 || out_w <= 0 || out_h <= 0) {
      GST_WARNING ("scale %dx%d -> %dx%d: dropping GstOpticalFlowMeta", in_w, in_h, out_w, out_h);
      return FALSE;
    }
    /* The grid stays (it is relative to the frame); the vectors are pixels of
     * the frame they are attached to, so they scale with it per axis. */
    if (in_w == out_w && in_h == out_h)
      vectors = g_bytes_ref (src->data);
    else
      vectors = flow_rescale (src->data, (gdouble) out_w / in_w, (gdouble) out_h / in_h);
    GST_LOG ("scale %dx%d -> %dx%d: flow %ux%u kept", in_w, in_h, out_w, out_h, src->width,
        src->height);
    return grid_meta_attach (dest, src->meta.info, src->width, src->height, vectors) != NULL;
  }

  GST_LOG ("transform %s: dropping GstOpticalFlowMeta", g_quark_to_string (type));
  return FALSE;
}

#if GST_CHECK_VERSION(1,24,0)
/* Serialisation (GStreamer >= 1.24, GstMetaInfo.serialize_func).
 *
 * Payload, format version 0 (reported through @version, the byte GStreamer
 * stores beside the payload; bump it for incompatible changes):
 *   guint32 LE width, guint32 LE height,
 *   width * height * components float32 LE values, row-major.
 * Values are written little-endian whatever the host, so a payload read on
 * another machine gives the same map. */
#define GRID_META_SERIAL_VERSION 0
#define GRID_META_SERIAL_HEADER 8

static gboolean
grid_meta_serialize (const GstMeta * meta, GstByteArrayInterface * data, guint8 * version,
    guint components)
{
  const GridMeta *m = (const GridMeta *) meta;
  gsize n_bytes = 0;
  const gfloat *values = g_bytes_get_data (m->data, &n_bytes);
  gsize n_values = n_bytes / sizeof (gfloat);
  guint8 *out;
  gsize i;

  if (n_bytes != grid_n_bytes (m->width, m->height, components) || n_bytes == 0)
    return FALSE;
  out = gst_byte_array_interface_append (data, GRID_META_SERIAL_HEADER + n_bytes);
  if (out == NULL)
    return FALSE;
  GST_WRITE_UINT32_LE (out, m->width);
  GST_WRITE_UINT32_LE (out + 4, m->height);
  out += GRID_META_SERIAL_HEADER;
  for (i = 0; i < n_values; i++)
    GST_WRITE_FLOAT_LE (out + 4 * i, values[i]);
  *version = GRID_META_SERIAL_VERSION;
  return TRUE;
}

static GstMeta *
grid_meta_deserialize (const GstMetaInfo * info, GstBuffer * buffer, const guint8 * data,
    gsize size, guint8 version, guint components)
{
  guint width, height;
  gsize n_bytes, i;
  gfloat *values;

  if (version != GRID_META_SERIAL_VERSION) {
    GST_WARNING ("%s: unknown serialisation version %u", g_type_name (info->api), version);
    return NULL;
  }
  if (size < GRID_META_SERIAL_HEADER) {
    GST_WARNING ("%s: truncated payload (%" G_GSIZE_FORMAT " bytes)", g_type_name (info->api),
        size);
    return NULL;
  }
  width = GST_READ_UINT32_LE (data);
  height = GST_READ_UINT32_LE (data + 4);
  n_bytes = grid_n_bytes (width, height, components);
  if (width == 0 || height == 0 || n_bytes == 0 || size - GRID_META_SERIAL_HEADER != n_bytes) {
    GST_WARNING ("%s: %ux%u grid does not match a %" G_GSIZE_FORMAT "-byte payload",
        g_type_name (info->api), width, height, size);
    return NULL;
  }
  values = g_malloc (n_bytes);
  data += GRID_META_SERIAL_HEADER;
  for (i = 0; i < n_bytes / sizeof (gfloat); i++)
    values[i] = GST_READ_FLOAT_LE (data + 4 * i);
  return (GstMeta *) grid_meta_attach (buffer, info, width, height,
      g_bytes_new_take (values, n_bytes));
}

static gboolean
gst_saliency_meta_serialize (const GstMeta * meta, GstByteArrayInterface * data,
    guint8 * version)
{
  return grid_meta_serialize (meta, data, version, SALIENCY_COMPONENTS);
}

static GstMeta *
gst_saliency_meta_deserialize (const GstMetaInfo * info, GstBuffer * buffer,
    const guint8 * data, gsize size, guint8 version)
{
  return grid_meta_deserialize (info, buffer, data, size, version, SALIENCY_COMPONENTS);
}

static gboolean
gst_optical_flow_meta_serialize (const GstMeta * meta, GstByteArrayInterface * data,
    guint8 * version)
{
  return grid_meta_serialize (meta, data, version, FLOW_COMPONENTS);
}

static GstMeta *
gst_optical_flow_meta_deserialize (const GstMetaInfo * info, GstBuffer * buffer,
    const guint8 * data, gsize size, guint8 version)
{
  return grid_meta_deserialize (info, buffer, data, size, version, FLOW_COMPONENTS);
}
#endif /* GST_CHECK_VERSION(1,24,0) */

/* Registers the implementation of @api; with 1.24 also its serialisation.
 * GRID_META_REGISTER drops the serialisers on 1.22, where the GstMetaInfo
 * fields do not exist. */
#if GST_CHECK_VERSION(1,24,0)
static const GstMetaInfo *
grid_meta_register (GType api, const gchar * impl, GstMetaTransformFunction transform,
    GstMetaSerializeFunction serialize, GstMetaDeserializeFunction deserialize)
{
  GstMetaInfo *info = gst_meta_info_new (api, impl, sizeof (GridMeta));

  info->init_func = grid_meta_init;
  info->free_func = grid_meta_free;
  info->transform_func = transform;
  info->serialize_func = serialize;
  info->deserialize_func = deserialize;
  return gst_meta_info_register (info);
}
# define GRID_META_REGISTER(api, impl, transform, serialize, deserialize) \
    grid_meta_register (api, impl, transform, serialize, deserialize)
#else
static const GstMetaInfo *
grid_meta_register (GType api, const gchar * impl, GstMetaTransformFunction transform)
{
  return gst_meta_register (api, impl, sizeof (GridMeta), grid_meta_init, grid_meta_free,
      transform);
}
# define GRID_META_REGISTER(api, impl, transform, serialize, deserialize) \
    grid_meta_register (api, impl, transform)
#endif

/* "video", "size", "orientation": videoconvertscale then calls the scale
 * transform, and flips/crops drop the meta (STYLE.md §d). */
static const gchar *grid_meta_tags[] = {
  GST_META_TAG_VIDEO_STR, GST_META_TAG_VIDEO_SIZE_STR, GST_META_TAG_VIDEO_ORIENTATION_STR, NULL
};

/* ------------------------------------------------------------ saliency map */

GType
gst_saliency_meta_api_get_type (void)
{
  static GType type = 0;

  if (g_once_init_enter (&type)) {
    GType t = gst_meta_api_type_register ("GstSaliencyMetaAPI", grid_meta_tags);
    g_once_init_leave (&type, t);
  }
  return type;
}

const GstMetaInfo *
gst_saliency_meta_get_info (void)
{
  static const GstMetaInfo *info = NULL;

  if (g_once_init_enter ((GstMetaInfo **) & info)) {
    const GstMetaInfo *registered;

    ensure_debug_category ();
    registered = GRID_META_REGISTER (GST_SALIENCY_META_API_TYPE, "GstSaliencyMeta",
        gst_saliency_meta_transform, gst_saliency_meta_serialize, gst_saliency_meta_deserialize);
    g_once_init_leave ((GstMetaInfo **) & info, (GstMetaInfo *) registered);
  }
  return info;
}

GstSaliencyMeta *
gst_buffer_add_saliency_meta (GstBuffer * buffer, guint width, guint height,
    const gfloat * values)
{
  gsize n_bytes;

  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);
  g_return_val_if_fail (gst_buffer_is_writable (buffer), NULL);
  g_return_val_if_fail (width > 0 && height > 0, NULL);
  g_return_val_if_fail (values != NULL, NULL);
  n_bytes = grid_n_bytes (width, height, SALIENCY_COMPONENTS);
  g_return_val_if_fail (n_bytes > 0, NULL);

  return (GstSaliencyMeta *) grid_meta_attach (buffer, GST_SALIENCY_META_INFO, width, height,
      g_bytes_new (values, n_bytes));
}

GstSaliencyMeta *
gst_buffer_add_saliency_meta_from_bytes (GstBuffer * buffer, guint width, guint height,
    GBytes * values)
{
  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);
  g_return_val_if_fail (gst_buffer_is_writable (buffer), NULL);
  g_return_val_if_fail (width > 0 && height > 0, NULL);
  g_return_val_if_fail (values != NULL, NULL);
  g_return_val_if_fail (g_bytes_get_size (values) == grid_n_bytes (width, height,
          SALIENCY_COMPONENTS), NULL);

  return (GstSaliencyMeta *) grid_meta_attach (buffer, GST_SALIENCY_META_INFO, width, height,
      g_bytes_ref (values));
}

GstSaliencyMeta *
gst_buffer_get_saliency_meta (GstBuffer * buffer)
{
  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);

  return (GstSaliencyMeta *) gst_buffer_get_meta (buffer, GST_SALIENCY_META_API_TYPE);
}

GBytes *
gst_saliency_meta_get_map (GstSaliencyMeta * meta, guint * width, guint * height)
{
  g_return_val_if_fail (meta != NULL, NULL);
  g_return_val_if_fail (meta->map != NULL, NULL);

  if (width)
    *width = meta->width;
  if (height)
    *height = meta->height;
  return g_bytes_ref (meta->map);
}

/* ------------------------------------------------------------ optical flow */

GType
gst_optical_flow_meta_api_get_type (void)
{
  static GType type = 0;

  if (g_once_init_enter (&type)) {
    GType t = gst_meta_api_type_register ("GstOpticalFlowMetaAPI", grid_meta_tags);
    g_once_init_leave (&type, t);
  }
  return type;
}

const GstMetaInfo *
gst_optical_flow_meta_get_info (void)
{
  static const GstMetaInfo *info = NULL;

  if (g_once_init_enter ((GstMetaInfo **) & info)) {
    const GstMetaInfo *registered;

    ensure_debug_category ();
    registered = GRID_META_REGISTER (GST_OPTICAL_FLOW_META_API_TYPE, "GstOpticalFlowMeta",
        gst_optical_flow_meta_transform, gst_optical_flow_meta_serialize,
        gst_optical_flow_meta_deserialize);
    g_once_init_leave ((GstMetaInfo **) & info, (GstMetaInfo *) registered);
  }
  return info;
}

GstOpticalFlowMeta *
gst_buffer_add_optical_flow_meta (GstBuffer * buffer, guint width, guint height,
    const gfloat * values)
{
  gsize n_bytes;

  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);
  g_return_val_if_fail (gst_buffer_is_writable (buffer), NULL);
  g_return_val_if_fail (width > 0 && height > 0, NULL);
  g_return_val_if_fail (values != NULL, NULL);
  n_bytes = grid_n_bytes (width, height, FLOW_COMPONENTS);
  g_return_val_if_fail (n_bytes > 0, NULL);

  return (GstOpticalFlowMeta *) grid_meta_attach (buffer, GST_OPTICAL_FLOW_META_INFO, width,
      height, g_bytes_new (values, n_bytes));
}

GstOpticalFlowMeta *
gst_buffer_add_optical_flow_meta_from_bytes (GstBuffer * buffer, guint width, guint height,
    GBytes * values)
{
  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);
  g_return_val_if_fail (gst_buffer_is_writable (buffer), NULL);
  g_return_val_if_fail (width > 0 && height > 0, NULL);
  g_return_val_if_fail (values != NULL, NULL);
  g_return_val_if_fail (g_bytes_get_size (values) == grid_n_bytes (width, height,
          FLOW_COMPONENTS), NULL);

  return (GstOpticalFlowMeta *) grid_meta_attach (buffer, GST_OPTICAL_FLOW_META_INFO, width,
      height, g_bytes_ref (values));
}

GstOpticalFlowMeta *
gst_buffer_get_optical_flow_meta (GstBuffer * buffer)
{
  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);

  return (GstOpticalFlowMeta *) gst_buffer_get_meta (buffer, GST_OPTICAL_FLOW_META_API_TYPE);
}

GBytes *
gst_optical_flow_meta_get_flow (GstOpticalFlowMeta * meta, guint * width, guint * height)
{
  g_return_val_if_fail (meta != NULL, NULL);
  g_return_val_if_fail (meta->flow != NULL, NULL);

  if (width)
    *width = meta->width;
  if (height)
    *height = meta->height;
  return g_bytes_ref (meta->flow);
}

/* ------------------------------------------------------------ crop window */

static gboolean
gst_saliency_crop_meta_init (GstMeta * meta, gpointer params, GstBuffer * buffer)
{
  GstSaliencyCropMeta *m = (GstSaliencyCropMeta *) meta;

  m->x = m->y = m->width = m->height = 0;
  m->source_width = m->source_height = 0;
  return TRUE;
}

static GstSaliencyCropMeta *
gst_saliency_crop_meta_attach (GstBuffer * buffer, const GstSaliencyCropMeta * from)
{
  GstSaliencyCropMeta *m =
      (GstSaliencyCropMeta *) gst_buffer_add_meta (buffer, GST_SALIENCY_CROP_META_INFO, NULL);

  if (m == NULL)
    return NULL;
  m->x = from->x;
  m->y = from->y;
  m->width = from->width;
  m->height = from->height;
  m->source_width = from->source_width;
  m->source_height = from->source_height;
  return m;
}

static gboolean
gst_saliency_crop_meta_transform (GstBuffer * dest, GstMeta * meta, GstBuffer * buffer,
    GQuark type, gpointer data)
{
  GstSaliencyCropMeta *src = (GstSaliencyCropMeta *) meta;

  if (GST_META_TRANSFORM_IS_COPY (type)) {
    /* Part of the memory is no longer a frame: drop it, as the grids do. */
    if (((GstMetaTransformCopy *) data)->region) {
      GST_LOG ("partial copy: dropping GstSaliencyCropMeta");
      return TRUE;
    }
    return gst_saliency_crop_meta_attach (dest, src) != NULL;
  }

  /* The window is in pixels of the source frame, not of this buffer, so a
   * scaled frame shows the same window. */
  if (GST_VIDEO_META_TRANSFORM_IS_SCALE (type))
    return gst_saliency_crop_meta_attach (dest, src) != NULL;

  GST_LOG ("transform %s: dropping GstSaliencyCropMeta", g_quark_to_string (type));
  return FALSE;
}

#if GST_CHECK_VERSION(1,24,0)
/* Payload, format version 0: x, y, width, height, source_width,
 * source_height, each a guint32 LE. */
#define CROP_META_SERIAL_SIZE 24

static gboolean
gst_saliency_crop_meta_serialize (const GstMeta * meta, GstByteArrayInterface * data,
    guint8 * version)
{
  const GstSaliencyCropMeta *m = (const GstSaliencyCropMeta *) meta;
  guint8 *out = gst_byte_array_interface_append (data, CROP_META_SERIAL_SIZE);

  if (out == NULL)
    return FALSE;
  GST_WRITE_UINT32_LE (out, m->x);
  GST_WRITE_UINT32_LE (out + 4, m->y);
  GST_WRITE_UINT32_LE (out + 8, m->width);
  GST_WRITE_UINT32_LE (out + 12, m->height);
  GST_WRITE_UINT32_LE (out + 16, m->source_width);
  GST_WRITE_UINT32_LE (out + 20, m->source_height);
  *version = 0;
  return TRUE;
}

static GstMeta *
gst_saliency_crop_meta_deserialize (const GstMetaInfo * info, GstBuffer * buffer,
    const guint8 * data, gsize size, guint8 version)
{
  GstSaliencyCropMeta m;

  if (version != 0 || size != CROP_META_SERIAL_SIZE) {
    GST_WARNING ("GstSaliencyCropMeta: version %u, %" G_GSIZE_FORMAT " bytes: not a crop window",
        version, size);
    return NULL;
  }
  m.x = GST_READ_UINT32_LE (data);
  m.y = GST_READ_UINT32_LE (data + 4);
  m.width = GST_READ_UINT32_LE (data + 8);
  m.height = GST_READ_UINT32_LE (data + 12);
  m.source_width = GST_READ_UINT32_LE (data + 16);
  m.source_height = GST_READ_UINT32_LE (data + 20);
  return (GstMeta *) gst_saliency_crop_meta_attach (buffer, &m);
}
#endif /* GST_CHECK_VERSION(1,24,0) */

GType
gst_saliency_crop_meta_api_get_type (void)
{
  static GType type = 0;
  /* No tags: the window describes the source frame, so elements that change
   * this buffer's pixels (convert, scale) keep it (STYLE.md §d). */
  static const gchar *tags[] = { NULL };

  if (g_once_init_enter (&type)) {
    GType t = gst_meta_api_type_register ("GstSaliencyCropMetaAPI", tags);
    g_once_init_leave (&type, t);
  }
  return type;
}

const GstMetaInfo *
gst_saliency_crop_meta_get_info (void)
{
  static const GstMetaInfo *info = NULL;

  if (g_once_init_enter ((GstMetaInfo **) & info)) {
    const GstMetaInfo *registered;

    ensure_debug_category ();
#if GST_CHECK_VERSION(1,24,0)
    {
      GstMetaInfo *i = gst_meta_info_new (GST_SALIENCY_CROP_META_API_TYPE,
          "GstSaliencyCropMeta", sizeof (GstSaliencyCropMeta));

      i->init_func = gst_saliency_crop_meta_init;
      i->free_func = NULL;
      i->transform_func = gst_saliency_crop_meta_transform;
      i->serialize_func = gst_saliency_crop_meta_serialize;
      i->deserialize_func = gst_saliency_crop_meta_deserialize;
      registered = gst_meta_info_register (i);
    }
#else
    registered = gst_meta_register (GST_SALIENCY_CROP_META_API_TYPE, "GstSaliencyCropMeta",
        sizeof (GstSaliencyCropMeta), gst_saliency_crop_meta_init, NULL,
        gst_saliency_crop_meta_transform);
#endif
    g_once_init_leave ((GstMetaInfo **) & info, (GstMetaInfo *) registered);
  }
  return info;
}

GstSaliencyCropMeta *
gst_buffer_add_saliency_crop_meta (GstBuffer * buffer, guint x, guint y, guint width,
    guint height, guint source_width, guint source_height)
{
  GstSaliencyCropMeta m;

  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);
  g_return_val_if_fail (gst_buffer_is_writable (buffer), NULL);
  g_return_val_if_fail (width > 0 && height > 0, NULL);
  /* Written so that nothing overflows: x + width <= source_width. */
  g_return_val_if_fail (x < source_width && width <= source_width - x, NULL);
  g_return_val_if_fail (y < source_height && height <= source_height - y, NULL);

  m.x = x;
  m.y = y;
  m.width = width;
  m.height = height;
  m.source_width = source_width;
  m.source_height = source_height;
  return gst_saliency_crop_meta_attach (buffer, &m);
}

GstSaliencyCropMeta *
gst_buffer_get_saliency_crop_meta (GstBuffer * buffer)
{
  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);

  return (GstSaliencyCropMeta *) gst_buffer_get_meta (buffer, GST_SALIENCY_CROP_META_API_TYPE);
}
