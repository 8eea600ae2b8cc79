#!/usr/bin/python3
"""GstSaliency through GObject introspection (DESIGN.md "Metadata", STYLE.md §d).

Reads and writes GstSaliencyMeta / GstOpticalFlowMeta / GstSaliencyCropMeta from Python with PyGObject and the
GstSaliency-1.0 typelib only: no hand-written bindings. Run by `meson test gst-python-gi`, which
sets GI_TYPELIB_PATH and LD_LIBRARY_PATH to the build tree; by hand:

    GI_TYPELIB_PATH=build/gst/meta LD_LIBRARY_PATH=build/gst/meta \
        /usr/bin/python3 tests/gst/test_meta_gi.py
"""
import sys
import unittest

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstSaliency", "1.0")
from gi.repository import GLib, Gst, GstSaliency  # noqa: E402

import numpy as np  # noqa: E402

Gst.init(None)


def make_buffer(n_bytes=64):
    return Gst.Buffer.new_allocate(None, n_bytes, None)


class SaliencyMetaFromPython(unittest.TestCase):
    def test_typelib_exposes_the_design_api(self):
        for name in ("buffer_get_saliency_meta", "buffer_add_saliency_meta_from_bytes",
                     "buffer_get_optical_flow_meta", "buffer_add_optical_flow_meta_from_bytes"):
            self.assertTrue(callable(getattr(GstSaliency, name, None)), name)
        self.assertTrue(hasattr(GstSaliency.SaliencyMeta, "get_map"))
        self.assertTrue(hasattr(GstSaliency.OpticalFlowMeta, "get_flow"))
        # Raw-pointer variants are (skip)ped: GI cannot express the length of `values`.
        self.assertFalse(hasattr(GstSaliency, "buffer_add_saliency_meta"))
        self.assertEqual(GstSaliency.saliency_meta_api_get_type().name, "GstSaliencyMetaAPI")

    def test_map_written_from_bytes_reads_back_with_numpy(self):
        h, w = 6, 8
        sal = np.linspace(0.0, 1.0, h * w, dtype=np.float32).reshape(h, w)
        buf = make_buffer()
        meta = GstSaliency.buffer_add_saliency_meta_from_bytes(buf, w, h, GLib.Bytes(sal.tobytes()))
        self.assertIsNotNone(meta)
        self.assertEqual((meta.width, meta.height), (w, h))

        got = GstSaliency.buffer_get_saliency_meta(buf)
        self.assertIsNotNone(got)
        data, gw, gh = got.get_map()
        self.assertEqual((gw, gh), (w, h))
        back = np.frombuffer(data.get_data(), np.float32).reshape(gh, gw)
        np.testing.assert_array_equal(back, sal)
        self.assertEqual(np.unravel_index(int(back.argmax()), back.shape), (h - 1, w - 1))

    def test_buffer_without_meta_gives_none(self):
        buf = make_buffer()
        self.assertIsNone(GstSaliency.buffer_get_saliency_meta(buf))
        self.assertIsNone(GstSaliency.buffer_get_optical_flow_meta(buf))

    def test_buffer_copy_keeps_the_map(self):
        sal = np.arange(12, dtype=np.float32) / 11.0
        buf = make_buffer()
        GstSaliency.buffer_add_saliency_meta_from_bytes(buf, 4, 3, GLib.Bytes(sal.tobytes()))
        copy = buf.copy()
        data, w, h = GstSaliency.buffer_get_saliency_meta(copy).get_map()
        np.testing.assert_array_equal(np.frombuffer(data.get_data(), np.float32).reshape(h, w),
                                      sal.reshape(3, 4))

    def test_flow_reads_back_as_h_w_2(self):
        h, w = 3, 5
        uv = np.stack([np.full((h, w), 1.25, np.float32),
                       np.arange(h * w, dtype=np.float32).reshape(h, w)], axis=-1)
        buf = make_buffer()
        meta = GstSaliency.buffer_add_optical_flow_meta_from_bytes(buf, w, h, GLib.Bytes(uv.tobytes()))
        self.assertIsNotNone(meta)
        data, gw, gh = GstSaliency.buffer_get_optical_flow_meta(buf).get_flow()
        back = np.frombuffer(data.get_data(), np.float32).reshape(gh, gw, 2)
        np.testing.assert_array_equal(back, uv)

    def test_crop_window_reads_back_and_survives_a_copy(self):
        self.assertTrue(callable(getattr(GstSaliency, "buffer_add_saliency_crop_meta", None)))
        self.assertTrue(callable(getattr(GstSaliency, "buffer_get_saliency_crop_meta", None)))
        buf = make_buffer()
        self.assertIsNone(GstSaliency.buffer_get_saliency_crop_meta(buf))
        meta = GstSaliency.buffer_add_saliency_crop_meta(buf, 220, 0, 202, 360, 640, 360)
        self.assertIsNotNone(meta)
        for got in (GstSaliency.buffer_get_saliency_crop_meta(buf),
                    GstSaliency.buffer_get_saliency_crop_meta(buf.copy())):
            self.assertIsNotNone(got)
            self.assertEqual((got.x, got.y, got.width, got.height, got.source_width,
                              got.source_height), (220, 0, 202, 360, 640, 360))
        # A partial copy is no longer the frame: the window is dropped.
        part = buf.copy_region(Gst.BufferCopyFlags.META | Gst.BufferCopyFlags.MEMORY, 16, 32)
        self.assertIsNone(GstSaliency.buffer_get_saliency_crop_meta(part))

    def test_wrong_payload_size_is_refused(self):
        buf = make_buffer()
        # 4x4 needs 64 bytes; 60 is refused (with a GLib critical, which PyGObject prints).
        meta = GstSaliency.buffer_add_saliency_meta_from_bytes(buf, 4, 4, GLib.Bytes(bytes(60)))
        self.assertIsNone(meta)
        self.assertIsNone(GstSaliency.buffer_get_saliency_meta(buf))


if __name__ == "__main__":
    sys.exit(0 if unittest.main(exit=False, verbosity=2).result.wasSuccessful() else 1)
