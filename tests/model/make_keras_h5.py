#!/usr/bin/python3
"""Keras-layout STRA-Net weight fixtures for tests/model/test_stranet.cpp.

Run with Debian's python3-h5py (/usr/bin/python3). Writes an HDF5 file laid
out as Keras 2.2.4 `Model.save_weights` writes the official whole model
(model-spec B.9, Appendix B): root attribute `layer_names`; one group per
layer with a `weight_names` attribute; datasets nested by the '/' of the
TensorFlow variable names. The per-frame feature sub-model's weights sit in
`time_distributed_1` under their inner names (`A_conv1/kernel:0`,
`conv2d_3/bias:0`, ...), the post-GRU BN and the head conv inside their
TimeDistributed wrappers (`time_distributed_2/gamma:0`,
`time_distributed_3/kernel:0`), the prior as
`learning_prior_1/learning_prior_1_W:0`. Values are random (seeded); kernels
are HWIO. Channel widths are the official ones divided by --divisor, rounded up.

  make_keras_h5.py OUT.h5 [--divisor D] [--seed S] [--model-save]
                   [--drop NAME] [--bad-shape NAME] [--extra NAME]

Also writes OUT.h5.tsv: one "path<TAB>shape<TAB>sum" line per dataset.
--model-save nests everything under model_weights/ (Keras `model.save`).
--drop/--bad-shape take a dataset path (e.g. time_distributed_1/A_conv1/bias:0)
to leave out or to write with one extra output channel; --extra adds a dataset
of a layer STRA-Net does not have.
"""
import argparse
import sys

import numpy as np

try:
    import h5py
except ImportError:
    print("h5py is not installed (Debian: python3-h5py)", file=sys.stderr)
    sys.exit(77)


def conv(name, kh, kw, cin, cout):
    return [(name + "/kernel:0", (kh, kw, cin, cout)), (name + "/bias:0", (cout,))]


def bn(name, c):
    return [(name + "/" + v + ":0", (c,)) for v in ("gamma", "beta", "moving_mean", "moving_variance")]


def stream(prefix, cin, w):
    out = conv(prefix + "_conv1", 7, 7, cin, w(64)) + bn(prefix + "_bn_conv1", w(64))
    c = w(64)
    for stage, blocks, mid, cout in ((2, 3, 64, 256), (3, 4, 128, 512), (4, 6, 256, 1024), (5, 3, 512, 2048)):
        for b in range(blocks):
            bid = "%d%s" % (stage, "abcdef"[b])
            for br, (i, o, k) in (("2a", (c, w(mid), 1)), ("2b", (w(mid), w(mid), 3)), ("2c", (w(mid), w(cout), 1))):
                out += conv("%s_res%s_branch%s" % (prefix, bid, br), k, k, i, o)
                out += bn("%s_bn%s_branch%s" % (prefix, bid, br), o)
            if b == 0:
                out += conv("%s_res%s_branch1" % (prefix, bid), 1, 1, c, w(cout))
                out += bn("%s_bn%s_branch1" % (prefix, bid), w(cout))
            c = w(cout)
    return out


def layout(d):
    def w(c):
        return (c + d - 1) // d
    feature = stream("M", 10, w) + stream("A", 3, w)
    # auto-named layers in creation order (model-spec B.9)
    feature += conv("conv2d_1", 3, 3, w(512), w(256)) + bn("batch_normalization_1", w(256))
    feature += conv("conv2d_2", 1, 1, w(256), 1)
    feature += conv("conv2d_3", 3, 3, w(1024) + w(512), w(1024))
    feature += conv("conv2d_4", 3, 3, w(1024), w(512)) + bn("batch_normalization_2", w(512))
    feature += conv("conv2d_5", 1, 1, w(512), 1)
    feature += conv("conv2d_6", 3, 3, w(2048) + w(1024) + w(512), w(2048))
    feature += conv("conv2d_7", 3, 3, w(2048), w(1024)) + bn("batch_normalization_3", w(1024))
    feature += conv("conv2d_8", 1, 1, w(1024), 1)
    feature += conv("conv2d_9", 1, 1, w(512), 1) + conv("conv2d_10", 1, 1, w(1024), 1)
    feature += conv("conv2d_11", 1, 1, w(2048), 1)
    # Keras order inside a model: trainable weights, then moving statistics
    trainable = [x for x in feature if "moving_" not in x[0]]
    moving = [x for x in feature if "moving_" in x[0]]
    f = w(256)
    gru = [("ConvGRU2D/kernel:0", (3, 3, w(2048), 3 * f)), ("ConvGRU2D/recurrent_kernel:0", (3, 3, f, 3 * f)),
           ("ConvGRU2D/bias:0", (3 * f,))]
    gru_bn = [("time_distributed_2/" + v + ":0", (f,)) for v in ("gamma", "beta", "moving_mean", "moving_variance")]
    return [
        ("input_1", []),
        ("time_distributed_1", trainable + moving),
        ("ConvGRU2D", gru),
        ("time_distributed_2", gru_bn),
        ("input_2", []),
        ("learning_prior_1", [("learning_prior_1/learning_prior_1_W:0", (64,))]),
        ("concatenate_1", []),
        ("time_distributed_3", [("time_distributed_3/kernel:0", (1, 1, f + 16, 1)),
                                ("time_distributed_3/bias:0", (1,))]),
        ("time_distributed_4", []),
    ]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--divisor", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model-save", action="store_true")
    ap.add_argument("--drop", default="")
    ap.add_argument("--bad-shape", default="")
    ap.add_argument("--extra", default="")
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    layers = layout(a.divisor)
    if a.extra:
        layers.append(("dense_1", [("dense_1/" + a.extra + ":0", (4,))]))
    manifest = []
    with h5py.File(a.out, "w") as f:
        root = f.create_group("model_weights") if a.model_save else f
        root.attrs["layer_names"] = [name.encode("utf8") for name, _ in layers]
        for lname, weights in layers:
            g = root.create_group(lname)
            kept = []
            for wname, shape in weights:
                path = (lname + "/" + wname) if not wname.startswith(lname + "/") else wname
                if path == a.drop:
                    continue
                if path == a.bad_shape:
                    shape = shape[:-1] + (shape[-1] + 1,)
                if "moving_variance" in wname:
                    v = rng.uniform(0.5, 1.5, size=shape)
                else:
                    v = rng.standard_normal(size=shape) * 0.05
                v = v.astype(np.float32)
                # variable names of wrapped models keep the inner layer name
                g.create_dataset(wname if lname == "time_distributed_1" or not wname.startswith(lname + "/")
                                 else wname[len(lname) + 1:], data=v)
                kept.append(wname.encode("utf8"))
                full = ("model_weights/" if a.model_save else "") + lname + "/" + (
                    wname if lname == "time_distributed_1" or not wname.startswith(lname + "/")
                    else wname[len(lname) + 1:])
                manifest.append((full, shape, float(v.astype(np.float64).sum())))
            g.attrs["weight_names"] = kept
    with open(a.out + ".tsv", "w") as m:
        for path, shape, s in manifest:
            m.write("%s\t%s\t%.9g\n" % (path, ",".join(str(x) for x in shape), s))


if __name__ == "__main__":
    main()
