#!/usr/bin/python3
"""Checkpoint fixtures for tests/model/test_checkpoint.cpp, made with real PyTorch.

Run with Debian's python3-torch (/usr/bin/python3). Two modes:

  make_checkpoint.py write KEYS.tsv OUTDIR
      KEYS.tsv: one "key<TAB>dtype<TAB>shape" line per tensor of the C++ test
      module (shape comma-separated, empty for a scalar). Fills every key with
      random values and writes, with torch.save:
        ordered_module.pth  OrderedDict, "module." prefix (nn.DataParallel),
                            _metadata like Module.state_dict(), plus odd
                            layouts under module.extra.* (float16, bfloat16,
                            transposed, a view sharing that storage, scalars,
                            an empty tensor, a large 1-D tensor)
        protocol4.pth       the same dict with pickle_protocol=4
        plain.pth           a plain dict, no prefix, no num_batches_tracked
        training.pth        {"epoch", "state_dict": OrderedDict, "optimizer",
                            "args": argparse.Namespace, ...}
        legacy.pth          ordered_module's dict in the legacy non-zip format
        whole_module.pth    a pickled nn.Module (not a state dict)
        torchscript.pt      a torch.jit.save archive (not a state dict)
      and for each readable .pth a manifest NAME.tsv (see below) with the raw
      bytes of every tensor under OUTDIR/bin/.

  make_checkpoint.py check CHECKPOINT MANIFEST
      torch.load()s CHECKPOINT (written by the C++ writer) and compares it with
      MANIFEST: type OrderedDict, key order, dtype, shape, stride, storage
      offset, which tensors share a storage, and every byte. Prints "OK" and
      exits 0, or prints the first difference and exits 1.

Manifest: one line per tensor, tab-separated:
  key dtype shape stride storage_offset storage_group bin_path
shape/stride comma-separated; tensors with the same storage_group share one
storage; bin_path holds the tensor's bytes in row-major (contiguous) order,
native byte order, relative to the manifest's directory.
"""
import argparse
import collections
import os
import sys

import torch

DTYPES = {
    "float32": torch.float32, "float64": torch.float64, "float16": torch.float16,
    "bfloat16": torch.bfloat16, "int64": torch.int64, "int32": torch.int32,
    "int16": torch.int16, "int8": torch.int8, "uint8": torch.uint8, "bool": torch.bool,
    "complex64": torch.complex64,
}
NAMES = {v: k for k, v in DTYPES.items()}


def tensor_bytes(t):
    return t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def random_tensor(dtype, shape):
    if dtype.is_floating_point:
        return torch.randn(shape, dtype=torch.float32).to(dtype)
    if dtype == torch.bool:
        return torch.rand(shape) > 0.5
    info = torch.iinfo(dtype)
    return torch.randint(info.min, info.max, shape, dtype=torch.int64).to(dtype)


def parse_shape(text):
    return tuple(int(x) for x in text.split(",")) if text else ()


def join(values):
    return ",".join(str(v) for v in values)


def write_manifest(outdir, name, state):
    """NAME.tsv + bin/NAME/<i>.bin for every tensor of `state`."""
    os.makedirs(os.path.join(outdir, "bin", name), exist_ok=True)
    groups = {}
    with open(os.path.join(outdir, name + ".tsv"), "w") as manifest:
        for i, (key, t) in enumerate(state.items()):
            group = groups.setdefault(t.storage().data_ptr(), len(groups))
            rel = os.path.join("bin", name, "%d.bin" % i)
            with open(os.path.join(outdir, rel), "wb") as f:
                f.write(tensor_bytes(t))
            manifest.write("\t".join([key, NAMES[t.dtype], join(t.shape), join(t.stride()),
                                      str(t.storage_offset()), str(group), rel]) + "\n")


def model_tensors(keys_path):
    sd = collections.OrderedDict()
    with open(keys_path) as f:
        for line in f:
            key, dtype, shape = line.rstrip("\n").split("\t")
            sd[key] = random_tensor(DTYPES[dtype], parse_shape(shape))
    return sd


def extra_tensors():
    base = torch.randn(6, 7)
    return collections.OrderedDict([
        ("extra.half", torch.randn(3, 5).half()),
        ("extra.bfloat16", torch.randn(4).bfloat16()),
        ("extra.transposed", base.t()),          # non-contiguous
        ("extra.row_view", base[2]),             # shares base's storage, offset 14
        ("extra.scalar_long", torch.tensor(12345678901234, dtype=torch.int64)),
        ("extra.negative_int", torch.tensor([-70000, -1, 2**31 - 1], dtype=torch.int32)),
        ("extra.float64", torch.randn(2, 2, dtype=torch.float64)),
        ("extra.int8", random_tensor(torch.int8, (5,))),
        ("extra.int16", random_tensor(torch.int16, (3,))),
        ("extra.uint8", random_tensor(torch.uint8, (2, 3))),
        ("extra.bool", random_tensor(torch.bool, (4,))),
        ("extra.empty", torch.empty(0, 3)),
        ("extra.large", torch.randn(70000)),     # sizes past BININT2
    ])


def with_prefix(state, prefix):
    out = collections.OrderedDict((prefix + k, v) for k, v in state.items())
    out._metadata = collections.OrderedDict([("", {"version": 1})])  # as Module.state_dict() sets
    return out


def write(keys_path, outdir):
    torch.manual_seed(20240917)
    model = model_tensors(keys_path)
    full = collections.OrderedDict(model)
    full.update(extra_tensors())

    ordered = with_prefix(full, "module.")
    torch.save(ordered, os.path.join(outdir, "ordered_module.pth"))
    write_manifest(outdir, "ordered_module", ordered)
    torch.save(ordered, os.path.join(outdir, "protocol4.pth"), pickle_protocol=4)
    write_manifest(outdir, "protocol4", ordered)

    plain = {k: v for k, v in model.items() if not k.endswith("num_batches_tracked")}
    torch.save(plain, os.path.join(outdir, "plain.pth"))
    write_manifest(outdir, "plain", plain)

    inner = with_prefix(model, "")
    training = {
        "epoch": 7,
        "state_dict": inner,
        "optimizer": {"state": {}, "param_groups": [{"lr": 1e-4, "betas": (0.9, 0.999), "params": [0, 1]}]},
        "best_loss": 1.25,
        "args": argparse.Namespace(lr=1e-4, layout="dhf1k"),
    }
    torch.save(training, os.path.join(outdir, "training.pth"))
    write_manifest(outdir, "training", inner)

    torch.save(ordered, os.path.join(outdir, "legacy.pth"), _use_new_zipfile_serialization=False)
    torch.save(torch.nn.Linear(2, 2), os.path.join(outdir, "whole_module.pth"))
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), os.path.join(outdir, "torchscript.pt"))


def check(checkpoint, manifest_path):
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)  # the safe unpickler
    except TypeError:  # a torch without weights_only
        state = torch.load(checkpoint, map_location="cpu")
    if type(state) is not collections.OrderedDict:
        return "not an OrderedDict: %s" % type(state).__name__
    root = os.path.dirname(manifest_path)
    rows = [line.rstrip("\n").split("\t") for line in open(manifest_path)]
    if list(state.keys()) != [r[0] for r in rows]:
        return "keys differ: %s vs %s" % (list(state.keys()), [r[0] for r in rows])
    group_ptr = {}
    for key, dtype, shape, stride, offset, group, rel in rows:
        t = state[key]
        if t.dtype != DTYPES[dtype]:
            return "%s: dtype %s vs %s" % (key, t.dtype, dtype)
        if tuple(t.shape) != parse_shape(shape) or tuple(t.stride()) != parse_shape(stride):
            return "%s: shape/stride %s/%s vs %s/%s" % (key, tuple(t.shape), t.stride(), shape, stride)
        if t.storage_offset() != int(offset):
            return "%s: storage offset %d vs %s" % (key, t.storage_offset(), offset)
        ptr = t.storage().data_ptr()
        if group_ptr.setdefault(group, ptr) != ptr:
            return "%s: does not share the storage of group %s" % (key, group)
        with open(os.path.join(root, rel), "rb") as f:
            if tensor_bytes(t) != f.read():
                return "%s: values differ" % key
    if len(set(group_ptr.values())) != len(group_ptr):
        return "tensors of different storage groups share a storage"
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    w = sub.add_parser("write")
    w.add_argument("keys")
    w.add_argument("outdir")
    c = sub.add_parser("check")
    c.add_argument("checkpoint")
    c.add_argument("manifest")
    args = parser.parse_args()
    if args.mode == "write":
        write(args.keys, args.outdir)
        print("OK")
        return 0
    error = check(args.checkpoint, args.manifest)
    if error:
        print("MISMATCH: " + error)
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
