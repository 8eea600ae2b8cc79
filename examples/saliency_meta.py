#!/usr/bin/python3
"""Read GstSaliencyMeta from an appsink in Python, through GObject introspection.

Runs a pipeline ending in `saliency ! appsink`, pulls every frame and prints its timestamp, the
size of the map the model produced, where the map peaks (in frame pixels) and its mean. The map
comes from the GstSaliency-1.0 typelib, with no hand-written bindings (DESIGN.md "Metadata"):

    meta = GstSaliency.buffer_get_saliency_meta(buf)
    data, w, h = meta.get_map()
    sal = numpy.frombuffer(data.get_data(), numpy.float32).reshape(h, w)

Needs PyGObject, GStreamer's typelibs and numpy (Debian: python3-gi, python3-gst-1.0,
python3-numpy, gir1.2-gst-plugins-base-1.0). From the build tree:

    GST_PLUGIN_PATH=build/gst/elements GI_TYPELIB_PATH=build/gst/meta \\
    LD_LIBRARY_PATH=build/gst/meta /usr/bin/python3 examples/saliency_meta.py [FILE]

With `--pipeline "... ! saliency ! saliencycrop ! appsink name=sink"` it also prints each frame's
crop window (GstSaliencyCropMeta). See examples/README.md.
"""
import argparse
import os
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstVideo", "1.0")
try:
    gi.require_version("GstSaliency", "1.0")
except ValueError:
    sys.exit("saliency_meta.py: the GstSaliency-1.0 typelib was not found: set GI_TYPELIB_PATH to "
             "<build>/gst/meta (build tree) or install the project (see examples/README.md)")
from gi.repository import GLib, Gst, GstSaliency, GstVideo  # noqa: E402

import numpy as np  # noqa: E402

DEFAULT_SOURCE = "videotestsrc num-buffers=60 pattern=ball"


def format_time(ns):
    """A clock time as GStreamer prints it (GST_TIME_FORMAT): h:mm:ss.nnnnnnnnn."""
    if ns == Gst.CLOCK_TIME_NONE:
        return "none"
    s, ns = divmod(ns, Gst.SECOND)
    m, s = divmod(s, 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}.{ns:09d}"


def pipeline_description(args):
    """The gst-launch description for the command line (appsink named "sink")."""
    if args.pipeline:
        return args.pipeline
    source = "filesrc name=src ! decodebin" if args.file else DEFAULT_SOURCE
    return f"{source} ! videoconvert ! saliency model={args.model} ! appsink name=sink"


def read_map(buffer):
    """The buffer's saliency map as a (h, w) float32 array, or None if it has none."""
    meta = GstSaliency.buffer_get_saliency_meta(buffer)
    if meta is None:
        return None
    data, w, h = meta.get_map()  # a GLib.Bytes reference, not a copy
    return np.frombuffer(data.get_data(), np.float32).reshape(h, w)


def describe_sample(index, sample):
    """One line per frame: pts, map size, peak location in frame pixels, mean."""
    buffer = sample.get_buffer()
    caps = sample.get_caps()
    info = GstVideo.VideoInfo.new_from_caps(caps) if caps is not None else None
    if info is None:
        return f"frame {index:4d}: not raw video"
    frame_w, frame_h = info.width, info.height
    pts = format_time(buffer.pts)
    sal = read_map(buffer)
    if sal is None:
        return f"frame {index:4d}: pts {pts}, no saliency meta"
    h, w = sal.shape
    py, px = np.unravel_index(int(sal.argmax()), sal.shape)
    # The map covers the whole frame: cell (x, y) is centred on ((x + 0.5) W / w, (y + 0.5) H / h).
    x = (px + 0.5) * frame_w / w
    y = (py + 0.5) * frame_h / h
    line = (f"frame {index:4d}: pts {pts}, map {w}x{h}, peak {sal[py, px]:.3f} at "
            f"({x:.1f}, {y:.1f}) px of {frame_w}x{frame_h}, mean {sal.mean():.4f}")
    # After saliencycrop: the window of the source frame this frame shows, to cut the same
    # window from a higher-resolution rendition of the source.
    crop = GstSaliency.buffer_get_saliency_crop_meta(buffer)
    if crop is not None:
        line += (f", crop {crop.width}x{crop.height}+{crop.x}+{crop.y} of "
                 f"{crop.source_width}x{crop.source_height}")
    return line


def pop_error(bus):
    msg = bus.pop_filtered(Gst.MessageType.ERROR)
    if msg is None:
        return None
    err, debug = msg.parse_error()
    debug = " ".join(debug.split()) if debug else ""  # one line
    return f"{msg.src.get_name()}: {err.message}" + (f" ({debug})" if debug else "")


def run(pipeline, out=sys.stdout, name=None):
    """Plays `pipeline` (with an appsink named "sink") to the end; returns the exit status.
    Errors are printed on one line, prefixed with `name` (the input file) if given."""
    prefix = f"saliency_meta.py: {name}: " if name else "saliency_meta.py: "
    sink = pipeline.get_by_name("sink") if isinstance(pipeline, Gst.Bin) else None
    if sink is None or sink.get_factory().get_name() != "appsink":
        print('saliency_meta.py: the pipeline has no appsink named "sink"', file=sys.stderr)
        return 1
    sink.set_property("sync", False)  # an analysis, not playback
    bus = pipeline.get_bus()
    if pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
        print(f"{prefix}the pipeline does not start: {pop_error(bus) or 'state change failed'}",
              file=sys.stderr)
        pipeline.set_state(Gst.State.NULL)
        return 1
    frames, error = 0, None
    # try-pull with a timeout, so that an error (after which no EOS comes) ends the loop too.
    while error is None and not sink.get_property("eos"):
        sample = sink.emit("try-pull-sample", 100 * Gst.MSECOND)
        if sample is not None:
            print(describe_sample(frames, sample), file=out)
            frames += 1
        error = pop_error(bus)
    pipeline.set_state(Gst.State.NULL)
    if error:
        print(f"{prefix}{error}", file=sys.stderr)
        return 1
    print(f"{frames} frames", file=out)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Print, for every frame: pts, saliency map size, peak location in frame "
                    "pixels and mean, read from GstSaliencyMeta through GObject introspection.",
        epilog=f"Without FILE the source is '{DEFAULT_SOURCE}'. Run from the build tree with "
               "GST_PLUGIN_PATH, GI_TYPELIB_PATH and LD_LIBRARY_PATH set (examples/README.md).")
    parser.add_argument("file", nargs="?", help="a video file (filesrc ! decodebin)")
    parser.add_argument("--model", default="baseline",
                        help="model of the saliency element: baseline (default), stsanet, stranet, tinyhd "
                             "(the deep models also need weights=...: use --pipeline)")
    parser.add_argument("--pipeline", metavar="DESC",
                        help='any gst-launch description with an appsink named "sink"')
    args = parser.parse_args(argv)
    if args.file and args.pipeline:
        parser.error("give a FILE or --pipeline, not both")
    if args.file and not os.path.isfile(args.file):
        parser.error(f"{args.file}: no such file")

    Gst.init(None)
    description = pipeline_description(args)
    try:
        pipeline = Gst.parse_launch(description)
    except GLib.Error as e:
        hint = ("\n(is GST_PLUGIN_PATH set to the directory of the saliency plugin?)"
                if "no element" in e.message else "")
        print(f"saliency_meta.py: cannot build '{description}': {e.message}{hint}",
              file=sys.stderr)
        return 1
    if args.file:
        pipeline.get_by_name("src").set_property("location", args.file)
    return run(pipeline, name=args.file)


if __name__ == "__main__":
    sys.exit(main())
