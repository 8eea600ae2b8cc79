#!/usr/bin/env bash
# Feeds every bad input listed in docs/bad-input.md to the command-line tools
# and the GStreamer elements, and prints the table: what was wrong, the exit
# status and the exact message the user sees (temporary paths shown as <tmp>).
#   tests/bad_input_cases.sh [BUILD_DIR]      # default: build/
# Each row also checks the project's rule: exit status 1 or 2 (never a crash:
# >= 128 is a signal), one line naming the file; a row that breaks it is marked
# "RULE BROKEN" and the script exits 1.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
B=$(cd "${1:-${GST_SALIENCY_BUILD_DIR:-$ROOT/build}}" && pwd)
T=$(mktemp -d /tmp/gst-saliency-bad-XXXXXX)
trap 'rm -rf "$T"' EXIT
export GST_PLUGIN_PATH_1_0="$B/gst/elements:$B/gst/x264" GST_REGISTRY_1_0="$T/registry.bin" LD_LIBRARY_PATH="$B/gst/meta${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
PY=/usr/bin/python3
broken=0

# row TOOL "what is wrong" "file named in the message or -" CMD...
row() {
  local tool=$1 what=$2 named=$3
  shift 3
  local out rc
  out=$(cd "$T" && timeout 300 "$@" 2>&1 >/dev/null)
  rc=$?
  # The last non-empty line without progress noise is what the user reads.
  local msg
  # gst-launch: the ERROR line and the element's reason (its debug string),
  # without the "Additional debug info" header and the source location.
  msg=$(printf '%s\n' "$out" | grep -v '^\s*$' |
    grep -v -E '^(Setting pipeline|Pipeline is|Redistribute latency|Execution ended|Freeing pipeline|New clock|Additional debug info:|\.\./gst/)' |
    tr -d '\r' | head -3 | sed "s#$T#<tmp>#g" | paste -sd '|' -)
  local ok=1
  # Tools: 1 bad input, 2 usage. gst-launch-1.0 itself exits 255 (-1) on an
  # ERROR message and 1 on a parse error. 128 + N is death by signal N: a crash.
  if [[ "$tool" == gst-launch* ]]; then ((rc == 1 || rc == 255)) || ok=0; else ((rc == 1 || rc == 2)) || ok=0; fi
  [[ "$named" == - || "$out" == *"$named"* ]] || ok=0
  local mark=""
  ((ok)) || { mark=" **RULE BROKEN**"; broken=1; }
  msg=${msg//|/ ⏎ }
  printf '| %s | %s | %s | `%s`%s |\n' "$tool" "$what" "$rc" "${msg//\`/\'}" "$mark"
}

P="$B/model/tools/saliency-predict" E="$B/model/tools/saliency-eval" EE="$B/model/tools/saliency-encode-eval"
IE="$B/model/tools/saliency-interval-eval" RF="$B/model/tools/saliency-reframe" MD="$B/model/tools/saliency-make-dataset" TR="$B/model/tools/saliency-train"
FE="$B/flow/tools/flow-eval" FX="$B/flow/tools/flow-extract" CLIP="$B/flow/tools/saliency-make-clip"
GL=$(command -v gst-launch-1.0)

# ---------------------------------------------------------------- fixtures
mkdir -p "$T/frames" "$T/empty" "$T/badframes" "$T/out"
"$CLIP" --output "$T/clip.avi" --frames 6 >/dev/null 2>&1 || "$CLIP" --output "$T/clip.avi" >/dev/null 2>&1
printf 'not a picture' >"$T/badframes/0001.png"
: >"$T/empty.pth"
printf 'this is not a checkpoint\n' >"$T/text.pth"
printf '\x80\x02}q\x00.' >"$T/pickle.pth"
printf 'PK\x03\x04\x14\x00\x00\x00garbage' >"$T/fakezip.pth"
printf 'not a video' >"$T/video.mp4"
if $PY -c 'import torch' 2>/dev/null; then
  $PY - "$T" <<'PY'
import sys, torch, collections
d = sys.argv[1]
torch.save(collections.OrderedDict(w=torch.zeros(3, 4), b=torch.ones(4)), d + "/wrong-keys.pth")
data = open(d + "/wrong-keys.pth", "rb").read()
open(d + "/truncated.pth", "wb").write(data[: len(data) // 2])
flipped = bytearray(data); i = data.find(b"\x00\x00\x80\x3f"); flipped[i + 3] ^= 0x40   # a 1.0 of 'b' changes
open(d + "/bitflip.pth", "wb").write(bytes(flipped))
torch.save({"epoch": 3, "optimizer": {}}, d + "/training-no-state.pth")
torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), d + "/scripted.pt")
torch.save(collections.OrderedDict(w=torch.zeros(3)), d + "/legacy.pth", _use_new_zipfile_serialization=False)
PY
fi
if $PY -c 'import h5py' 2>/dev/null; then
  $PY - "$T" <<'PY'
import sys, h5py, numpy as np
d = sys.argv[1]
with h5py.File(d + "/wrong.h5", "w") as f:
    f["model_weights/dense_1/dense_1/kernel:0"] = np.zeros((3, 4), np.float32)
data = open(d + "/wrong.h5", "rb").read()
open(d + "/truncated.h5", "wb").write(data[: len(data) // 2])
with h5py.File(d + "/ints.h5", "w") as f:
    f["model_weights/conv2d_1/conv2d_1/kernel:0"] = np.zeros((3, 3), np.int32)
PY
fi
printf '\x89HDF\r\n\x1a\n and nothing else' >"$T/sig-only.h5"
# .flo files: a good 4x3 one, then damaged copies
$PY - "$T" <<'PY'
import struct, sys
d = sys.argv[1]
good = b"PIEH" + struct.pack("<ii", 4, 3) + b"\0" * (4 * 3 * 8)
open(d + "/good.flo", "wb").write(good)
open(d + "/badmagic.flo", "wb").write(b"XXXX" + good[4:])
open(d + "/short.flo", "wb").write(good[:40])
open(d + "/header.flo", "wb").write(good[:7])
open(d + "/huge.flo", "wb").write(b"PIEH" + struct.pack("<ii", 100000, 100000))
open(d + "/negative.flo", "wb").write(b"PIEH" + struct.pack("<ii", -4, 3) + good[12:])
open(d + "/trailing.flo", "wb").write(good + b"\0" * 8)
open(d + "/other-size.flo", "wb").write(b"PIEH" + struct.pack("<ii", 2, 3) + b"\0" * 48)
# MAT files for saliency-eval: header only, v7.3, wrong variable, truncated
hdr = b"MATLAB 5.0 MAT-file".ljust(116, b" ") + b"\0" * 8 + b"\x00\x01IM"
def matrix(name, rows, cols):
    def el(t, data):
        p = struct.pack("<II", t, len(data)) + data
        return p + b"\0" * (-len(p) % 8)
    body = el(6, struct.pack("<II", 6, 0)) + el(5, struct.pack("<ii", rows, cols)) + el(1, name.encode()) + el(9, struct.pack("<%dd" % (rows * cols), *([1.0] * (rows * cols))))
    return struct.pack("<II", 14, len(body)) + body
import os
for v in ["v", "v73", "wrongvar", "trunc", "text"]:
    os.makedirs(f"{d}/gt-{v}/vid/maps", exist_ok=True)
    os.makedirs(f"{d}/gt-{v}/vid/fixation/maps", exist_ok=True)
    os.makedirs(f"{d}/pred-{v}/vid", exist_ok=True)
m = {"v": hdr + matrix("I", 2, 2), "v73": b"MATLAB 7.3 MAT-file".ljust(116, b" ") + b"\0" * 8 + b"\x00\x02IM",
     "wrongvar": hdr + matrix("eyeMap", 2, 2), "trunc": (hdr + matrix("I", 2, 2))[:150], "text": b"hello"}
for v, data in m.items():
    open(f"{d}/gt-{v}/vid/fixation/maps/0001.mat", "wb").write(data)
PY
for v in v v73 wrongvar trunc text; do
  # 2x2 PNG maps (OpenCV through saliency-make-clip is not needed: python writes a PGM-free PNG via zlib)
  $PY - "$T/gt-$v/vid/maps/0001.png" "$T/pred-$v/vid/0001.png" <<'PY'
import sys, zlib, struct
def png(path, w=2, h=2):
    raw = b"".join(b"\0" + bytes([10 * (x + y) for x in range(w)]) for y in range(h))
    def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    open(path, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
for p in sys.argv[1:]: png(p)
PY
done
mkdir -p "$T/pred-size/vid" && cp -r "$T/gt-v" "$T/gt-size"
$PY -c "
import zlib, struct
w=h=3
raw=b''.join(b'\0'+bytes(w) for _ in range(h))
c=lambda t,d: struct.pack('>I',len(d))+t+d+struct.pack('>I',zlib.crc32(t+d))
open('$T/pred-size/vid/0001.png','wb').write(b'\x89PNG\r\n\x1a\n'+c(b'IHDR',struct.pack('>IIBBBBB',w,h,8,0,0,0,0))+c(b'IDAT',zlib.compress(raw))+c(b'IEND',b''))"
touch "$T/out-is-a-file"
printf '# corpus\nclip.avi\nmissing.mp4\n' >"$T/list-missing.txt"
printf 'clip.avi\nother/clip\n' >"$T/list-same-name.txt"
printf '# nothing listed yet\n\n' >"$T/list-empty.txt"

# ---------------------------------------------------------------- table
echo '| tool | bad input | exit | what the user sees |'
echo '|---|---|---|---|'
row saliency-predict "weights file missing" missing.pth "$P" --model stsanet --weights "$T/missing.pth" --input "$T/clip.avi" --output "$T/out/a"
row saliency-predict "weights file empty" empty.pth "$P" --model stsanet --weights "$T/empty.pth" --input "$T/clip.avi" --output "$T/out/a"
row saliency-predict "weights: a text file" text.pth "$P" --model stsanet --weights "$T/text.pth" --input "$T/clip.avi" --output "$T/out/a"
row saliency-predict "weights: a plain pickle, not torch.save's zip" pickle.pth "$P" --model stsanet --weights "$T/pickle.pth" --input "$T/clip.avi" --output "$T/out/a"
row saliency-predict "weights: zip signature, then garbage" fakezip.pth "$P" --model stsanet --weights "$T/fakezip.pth" --input "$T/clip.avi" --output "$T/out/a"
row saliency-predict "weights: a directory" "$T" "$P" --model stsanet --weights "$T" --input "$T/clip.avi" --output "$T/out/a"
if [[ -f "$T/wrong-keys.pth" ]]; then
  row saliency-predict "weights: valid checkpoint of another model" wrong-keys.pth "$P" --model stsanet --weights "$T/wrong-keys.pth" --input "$T/clip.avi" --output "$T/out/a"
  row saliency-predict "weights: truncated download (first half)" truncated.pth "$P" --model stsanet --weights "$T/truncated.pth" --input "$T/clip.avi" --output "$T/out/a"
  row saliency-predict "weights: one bit flipped inside a tensor" bitflip.pth "$P" --model stsanet --weights "$T/bitflip.pth" --input "$T/clip.avi" --output "$T/out/a"
  row saliency-predict "weights: training checkpoint without a state dict" training-no-state.pth "$P" --model stsanet --weights "$T/training-no-state.pth" --input "$T/clip.avi" --output "$T/out/a"
  row saliency-predict "weights: TorchScript archive" scripted.pt "$P" --model stsanet --weights "$T/scripted.pt" --input "$T/clip.avi" --output "$T/out/a"
  row saliency-predict "weights: legacy (pre-1.6) torch.save" legacy.pth "$P" --model stsanet --weights "$T/legacy.pth" --input "$T/clip.avi" --output "$T/out/a"
fi
row saliency-predict "STRA-Net weights: not HDF5" text.pth "$P" --model stranet --weights "$T/text.pth" --input "$T/clip.avi" --output "$T/out/a"
row saliency-predict "STRA-Net weights: HDF5 signature only" sig-only.h5 "$P" --model stranet --weights "$T/sig-only.h5" --input "$T/clip.avi" --output "$T/out/a"
if [[ -f "$T/wrong.h5" ]]; then
  row saliency-predict "STRA-Net weights: HDF5 of another model" wrong.h5 "$P" --model stranet --weights "$T/wrong.h5" --input "$T/clip.avi" --output "$T/out/a"
  row saliency-predict "STRA-Net weights: truncated HDF5" truncated.h5 "$P" --model stranet --weights "$T/truncated.h5" --input "$T/clip.avi" --output "$T/out/a"
  row saliency-predict "STRA-Net weights: integer dataset" ints.h5 "$P" --model stranet --weights "$T/ints.h5" --input "$T/clip.avi" --output "$T/out/a"
fi
row saliency-predict "deep model, no weights, no --random-init" - "$P" --model stsanet --input "$T/clip.avi" --output "$T/out/a"
row saliency-predict "unknown model" - "$P" --model nosuchmodel --input "$T/clip.avi" --output "$T/out/a"
row saliency-predict "device cuda on a CPU-only build" - "$P" --model baseline --device cuda --input "$T/clip.avi" --output "$T/out/a"
row saliency-predict "input missing" missing.mp4 "$P" --model baseline --input "$T/missing.mp4" --output "$T/out/a"
row saliency-predict "input: text file named .mp4" video.mp4 "$P" --model baseline --input "$T/video.mp4" --output "$T/out/a"
row saliency-predict "input: empty directory" empty "$P" --model baseline --input "$T/empty" --output "$T/out/a"
row saliency-predict "input: directory with a corrupt PNG" 0001.png "$P" --model baseline --input "$T/badframes" --output "$T/out/a"
row saliency-predict "output is an existing file" out-is-a-file "$P" --model baseline --input "$T/clip.avi" --output "$T/out-is-a-file"
row saliency-predict "--flow folder missing" noflow "$P" --model baseline --input "$T/clip.avi" --flow "$T/noflow" --output "$T/out/a"
row saliency-predict "--batch 0" - "$P" --model baseline --batch 0 --input "$T/clip.avi" --output "$T/out/a"
row saliency-predict "--interval-mode sideways" - "$P" --model baseline --interval 4 --interval-mode sideways --input "$T/clip.avi" --output "$T/out/a"
row saliency-predict "--precision half on the CPU" - "$P" --model stsanet --random-init --precision half --input "$T/clip.avi" --output "$T/out/a"
row saliency-predict "--cuda-graphs on the CPU" - "$P" --model stsanet --random-init --cuda-graphs --input "$T/clip.avi" --output "$T/out/a"
"$P" --model baseline --quiet --input "$T/clip.avi" --output "$T/sixmaps" >/dev/null 2>&1
row saliency-predict "output folder not empty (an earlier run), no --overwrite" sixmaps "$P" --model baseline --input "$T/clip.avi" --output "$T/sixmaps"
row saliency-predict "--input-list: a listed input missing (the others are written)" missing.mp4 "$P" --model baseline --quiet --input-list "$T/list-missing.txt" --output "$T/out/l"
row saliency-predict "--input-list: two inputs with one name" list-same-name.txt "$P" --model baseline --input-list "$T/list-same-name.txt" --output "$T/out/l"
row saliency-predict "--input-list: file missing" nolist.txt "$P" --model baseline --input-list "$T/nolist.txt" --output "$T/out/l"
row saliency-predict "--input-list: lists no inputs" list-empty.txt "$P" --model baseline --input-list "$T/list-empty.txt" --output "$T/out/l"
row saliency-predict "--shard 2/2 (K must be below N)" 2/2 "$P" --model baseline --input-list "$T/list-missing.txt" --shard 2/2 --output "$T/out/l"
row saliency-predict "--shard x/2 (not a number)" x/2 "$P" --model baseline --input-list "$T/list-missing.txt" --shard x/2 --output "$T/out/l"
row saliency-predict "--shard without --input-list" - "$P" --model baseline --input "$T/clip.avi" --shard 0/2 --output "$T/out/a"
row saliency-interval-eval "--maps: 6 maps (9 needed)" sixmaps "$IE" --maps "$T/sixmaps"
row saliency-interval-eval "--maps: folder missing" nomaps "$IE" --maps "$T/nomaps"
row saliency-interval-eval "--input: a clip of 6 frames (9 needed)" clip.avi "$IE" --input "$T/clip.avi"
# saliency-reframe: maps folders made from the six maps above
mkdir -p "$T/fivemaps" "$T/mixedmaps"
cp "$T"/sixmaps/000[1-5].png "$T/fivemaps/"
cp "$T/sixmaps/0001.png" "$T/mixedmaps/0001.png" && cp "$T/gt-v/vid/maps/0001.png" "$T/mixedmaps/0002.png"
row saliency-reframe "--aspect 0:16" - "$RF" --maps "$T/sixmaps" --aspect 0:16 --track "$T/out/t.csv"
row saliency-reframe "--aspect 9x16 (not W:H)" - "$RF" --maps "$T/sixmaps" --aspect 9x16 --track "$T/out/t.csv"
row saliency-reframe "--maps: empty directory" empty "$RF" --maps "$T/empty" --aspect 9:16 --track "$T/out/t.csv"
row saliency-reframe "--maps: folder missing" nomaps "$RF" --maps "$T/nomaps" --aspect 9:16 --track "$T/out/t.csv"
row saliency-reframe "--maps: a corrupt PNG" 0001.png "$RF" --maps "$T/badframes" --aspect 9:16 --track "$T/out/t.csv"
row saliency-reframe "--maps: maps of two sizes" 0002.png "$RF" --maps "$T/mixedmaps" --aspect 9:16 --track "$T/out/t.csv"
row saliency-reframe "--maps: 5 maps for a clip of 6 frames" fivemaps "$RF" --input "$T/clip.avi" --maps "$T/fivemaps" --aspect 9:16 --track "$T/out/t.csv"
row saliency-reframe "--track in a folder that does not exist" nodir "$RF" --maps "$T/sixmaps" --aspect 9:16 --track "$T/nodir/t.csv"
row saliency-reframe "--output without --input (maps only)" - "$RF" --maps "$T/sixmaps" --aspect 9:16 --output "$T/out/v.mp4"
row saliency-reframe "input missing" missing.mp4 "$RF" --input "$T/missing.mp4" --aspect 9:16 --output "$T/out/v.mp4"
if [[ -x "$EE" ]]; then
  row saliency-encode-eval "--option-string with an unknown libx264 option" - "$EE" --input "$T/clip.avi" --option-string nonsense=1
  row saliency-encode-eval "--bitrates and --crfs together" - "$EE" --input "$T/clip.avi" --bitrates 100,200,300,400 --crfs 20,25,30,35
fi
row flow-eval "bad magic number" badmagic.flo "$FE" --pred "$T/good.flo" --gt "$T/badmagic.flo"
row flow-eval "truncated data" short.flo "$FE" --pred "$T/good.flo" --gt "$T/short.flo"
row flow-eval "truncated header" header.flo "$FE" --pred "$T/good.flo" --gt "$T/header.flo"
row flow-eval "header claims 100000x100000" huge.flo "$FE" --pred "$T/good.flo" --gt "$T/huge.flo"
row flow-eval "negative width" negative.flo "$FE" --pred "$T/good.flo" --gt "$T/negative.flo"
row flow-eval "trailing bytes" trailing.flo "$FE" --pred "$T/good.flo" --gt "$T/trailing.flo"
row flow-eval "prediction and ground truth differ in size" other-size.flo "$FE" --pred "$T/other-size.flo" --gt "$T/good.flo"
row flow-eval "file missing" missing.flo "$FE" --pred "$T/good.flo" --gt "$T/missing.flo"
row flow-extract "input missing" missing.mp4 "$FX" --input "$T/missing.mp4" --output "$T/out/f"
row flow-extract "input: text file named .mp4" video.mp4 "$FX" --input "$T/video.mp4" --output "$T/out/f"
row flow-extract "output folder not empty, no --overwrite" sixmaps "$FX" --input "$T/clip.avi" --output "$T/sixmaps"
row saliency-make-dataset "--out folder not empty, no --overwrite" sixmaps "$MD" --out "$T/sixmaps" --quiet
row saliency-train "new run, --out folder not empty, no --overwrite" sixmaps "$TR" --model stsanet --data "$T/empty" --out "$T/sixmaps"
row saliency-train "--resume with --overwrite" - "$TR" --model stsanet --data "$T/empty" --out "$T/sixmaps" --resume --overwrite
row saliency-eval "fixation .mat is v7.3 (HDF5)" 0001.mat "$E" --pred "$T/pred-v73" --gt "$T/gt-v73" --metrics nss
row saliency-eval "fixation .mat lacks variable I" 0001.mat "$E" --pred "$T/pred-wrongvar" --gt "$T/gt-wrongvar" --metrics nss
row saliency-eval "fixation .mat truncated" 0001.mat "$E" --pred "$T/pred-trunc" --gt "$T/gt-trunc" --metrics nss
row saliency-eval "fixation .mat is text" 0001.mat "$E" --pred "$T/pred-text" --gt "$T/gt-text" --metrics nss
row saliency-eval "prediction folder missing" nopred "$E" --pred "$T/nopred" --gt "$T/gt-v" --metrics nss
row saliency-eval "unknown metric" - "$E" --pred "$T/pred-v" --gt "$T/gt-v" --metrics nss,foo
SRC="videotestsrc num-buffers=3 ! video/x-raw,format=RGB,width=64,height=48"
row "gst-launch saliency" "weights missing" missing.pth "$GL" -q $SRC ! saliency model=stsanet weights="$T/missing.pth" ! fakesink
row "gst-launch saliency" "weights: a text file" text.pth "$GL" -q $SRC ! saliency model=stsanet weights="$T/text.pth" ! fakesink
[[ -f "$T/truncated.pth" ]] && row "gst-launch saliency" "weights: truncated download" truncated.pth "$GL" -q $SRC ! saliency model=stsanet weights="$T/truncated.pth" ! fakesink
row "gst-launch saliency" "STRA-Net weights not HDF5" text.pth "$GL" -q $SRC ! saliency model=stranet weights="$T/text.pth" ! fakesink
row "gst-launch saliency" "deep model without weights" - "$GL" -q $SRC ! saliency model=stsanet ! fakesink
row "gst-launch saliency" "unknown model" - "$GL" -q $SRC ! saliency model=nosuchmodel ! fakesink
row "gst-launch saliency" "device=cuda on a CPU-only build" - "$GL" -q $SRC ! saliency device=cuda ! fakesink
row "gst-launch saliency" "YUV 4:2:2 input (needs videoconvert)" - "$GL" -q videotestsrc num-buffers=3 ! video/x-raw,format=YUY2 ! saliency ! fakesink
if gst-inspect-1.0 saliencyx264enc >/dev/null 2>&1; then
  row "gst-launch saliencyx264enc" "option-string with an unknown libx264 option" - "$GL" -q videotestsrc num-buffers=3 ! video/x-raw,format=I420,width=64,height=48 ! saliencyx264enc option-string=nonsense=1 ! fakesink
fi
row "gst-launch saliency" "interval-mode=sideways" - "$GL" -q $SRC ! saliency interval=4 interval-mode=sideways ! fakesink
row "gst-launch saliency" "precision=half on the CPU" - "$GL" -q $SRC ! saliency model=stsanet random-init=true precision=half ! fakesink
row "gst-launch saliency" "cuda-graphs=true on the CPU" - "$GL" -q $SRC ! saliency cuda-graphs=true ! fakesink
row "gst-launch saliency" "two elements, one model-instance-id, different batch" cam1 "$GL" -q $SRC ! saliency name=cam0 model-instance-id=cams ! fakesink $SRC ! saliency name=cam1 model-instance-id=cams batch=2 ! fakesink
exit $broken
