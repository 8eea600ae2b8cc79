#!/usr/bin/env bash
# Regenerates docs/images/tinyhd-vs-baseline.png: four frames of tased-ex1 with the
# heat-map overlay of saliency-predict (jet, alpha 0.5) of the baseline (top row) and
# of TinyHD with the published weights (bottom row).
#
#   docs/images/make-tinyhd-montage.sh [BUILD_DIR] [SHARED_DIR]
#
# BUILD_DIR defaults to build/, SHARED_DIR to ../shared (the weights are
# SHARED_DIR/data/weights/tinyhd/d123s_rc4_rc1T.pth). Needs a Python with OpenCV and numpy (PYTHON, default /usr/bin/python3:
# Debian's python3-opencv).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
BUILD="${1:-build}"
SHARED="${2:-${GST_SALIENCY_SHARED:-../shared}}"
CLIP="$SHARED/data/video/tased-ex1"
WEIGHTS="$SHARED/data/weights/tinyhd/d123s_rc4_rc1T.pth"
FRAMES="20 45 70 95"   # 1-based frame numbers (TinyHD's 16-frame window is full from frame 16)
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

"$BUILD/model/tools/saliency-predict" --model baseline --input "$CLIP" --output "$TMP/baseline" \
  --overlay "$TMP/baseline.avi" --threads 1 --quiet
"$BUILD/model/tools/saliency-predict" --model tinyhd --weights "$WEIGHTS" --input "$CLIP" \
  --output "$TMP/tinyhd" --overlay "$TMP/tinyhd.avi" --threads 1 --quiet

"${PYTHON:-/usr/bin/python3}" - "$TMP" docs/images/tinyhd-vs-baseline.png $FRAMES <<'PY'
import sys
import cv2
import numpy as np

tmp, out, frames = sys.argv[1], sys.argv[2], [int(f) for f in sys.argv[3:]]
W, H = 256, 149          # each tile: the 384x224 frame at two thirds
LABEL_W = 92

def tiles(video):
    cap = cv2.VideoCapture(video)
    got, i = {}, 0
    while True:
        ok, img = cap.read()
        if not ok:
            break
        i += 1
        if i in frames:
            got[i] = cv2.resize(img, (W, H), interpolation=cv2.INTER_AREA)
    missing = [f for f in frames if f not in got]
    if missing:
        sys.exit(f"{video}: frames {missing} not found ({i} frames)")
    return [got[f] for f in frames]

def label(text):
    tile = np.full((H, LABEL_W, 3), 255, np.uint8)
    for k, line in enumerate(text.split("\n")):
        cv2.putText(tile, line, (6, H // 2 - 6 + 18 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1,
                    cv2.LINE_AA)
    return tile

gap = np.full((H, 2, 3), 255, np.uint8)
rows = []
for name, text in (("baseline", "baseline\n(no weights)"), ("tinyhd", "TinyHD\n(published)")):
    row = [label(text)]
    for t in tiles(f"{tmp}/{name}.avi"):
        row += [t, gap]
    rows.append(np.hstack(row[:-1]))
head = np.full((18, rows[0].shape[1], 3), 255, np.uint8)
for k, f in enumerate(frames):
    cv2.putText(head, f"frame {f}", (LABEL_W + k * (W + 2) + 6, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42,
                (0, 0, 0), 1, cv2.LINE_AA)
img = np.vstack([head, rows[0], np.full((2, rows[0].shape[1], 3), 255, np.uint8), rows[1]])
# A 256-colour palette keeps the PNG small (about a third of the full-colour file).
from PIL import Image
Image.fromarray(img[:, :, ::-1]).quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
    out, optimize=True)
print(f"wrote {out} ({img.shape[1]}x{img.shape[0]})")
PY
