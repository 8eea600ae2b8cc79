#!/usr/bin/env bash
# Regenerates docs/images/reframe-example.png: tased-ex1 reframed to 9:16 with the baseline's
# maps. Four frames of saliency-reframe --preview in a 2x2 grid: in each, the source frame with
# the moving window drawn on it (outside dimmed) and the 9:16 crop beside it.
#
#   docs/images/make-reframe-montage.sh [BUILD_DIR] [SHARED_DIR]
#
# BUILD_DIR defaults to build/, SHARED_DIR to ../shared. Needs a Python with OpenCV and Pillow
# (PYTHON, default /usr/bin/python3: Debian's python3-opencv and python3-pil).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
BUILD="${1:-build}"
SHARED="${2:-${GST_SALIENCY_SHARED:-../shared}}"
CLIP="$SHARED/data/video/tased-ex1"
FRAMES="1 21 41 91"   # 1-based: the window at rest, then left, right and back (see the track)
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

"$BUILD/model/tools/saliency-reframe" --input "$CLIP" --model baseline --aspect 9:16 \
  --preview "$TMP/preview.mp4" --track "$TMP/track.csv" --threads 1 --quiet

"${PYTHON:-/usr/bin/python3}" - "$TMP" docs/images/reframe-example.png $FRAMES <<'PY'
import csv
import sys
import cv2
import numpy as np
from PIL import Image

tmp, out, frames = sys.argv[1], sys.argv[2], [int(f) for f in sys.argv[3:]]
track = {int(r["frame"]): r for r in csv.DictReader(open(f"{tmp}/track.csv"))}
cap = cv2.VideoCapture(f"{tmp}/preview.mp4")
got, i = {}, 0
while True:
    ok, img = cap.read()
    if not ok:
        break
    i += 1
    if i in frames:
        got[i] = img
missing = [f for f in frames if f not in got]
if missing:
    sys.exit(f"{tmp}/preview.mp4: frames {missing} not found ({i} frames)")

def tile(f):
    img = got[f]
    head = np.full((18, img.shape[1], 3), 255, np.uint8)
    cv2.putText(head, f"frame {f}: window x = {track[f]['x']}", (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42,
                (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([head, img])

tiles = [tile(f) for f in frames]
vgap = np.full((tiles[0].shape[0], 6, 3), 255, np.uint8)
rows = [np.hstack([tiles[k], vgap, tiles[k + 1]]) for k in range(0, len(tiles), 2)]
hgap = np.full((4, rows[0].shape[1], 3), 255, np.uint8)
img = np.vstack([rows[0], hgap, rows[1]])
# A 256-colour palette keeps the PNG small.
Image.fromarray(img[:, :, ::-1]).quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
    out, optimize=True)
print(f"wrote {out} ({img.shape[1]}x{img.shape[0]})")
PY
