#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds, runs every test and
# ends with one summary line "tests: N passed, N failed, N skipped".
# Tests that need ../shared (real test data) skip with a message when it is absent.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${GST_SALIENCY_BUILD_DIR:-"$ROOT/build"}
"$ROOT/pipelines/setup.sh" --tests || { echo "tests: set-up or build failed"; exit 1; }

export GST_SALIENCY_SHARED=${GST_SALIENCY_SHARED:-"$ROOT/../shared"}
[[ -d "$GST_SALIENCY_SHARED/data" ]] || echo "tests: note: $GST_SALIENCY_SHARED is absent; tests that need it will skip"

meson test -C "$BUILD_DIR" --print-errorlogs --num-processes 1 "$@"
status=$?

# libFuzzer on the file parsers (tests/fuzz/README.md), GST_SALIENCY_FUZZ_SECONDS
# (default 20) per target, when clang and its fuzzer runtime are installed
# (pipelines/setup.sh --tests installs them). The replay tests above run in
# every build; this adds coverage-guided inputs under ASan/UBSan.
# GST_SALIENCY_FUZZ_SECONDS=0 skips it; so does naming tests on the command line.
FUZZ_SECONDS=${GST_SALIENCY_FUZZ_SECONDS:-20}
FUZZ_DIR=${GST_SALIENCY_FUZZ_BUILD_DIR:-"$ROOT/build-fuzz"}
if [[ $# -eq 0 && "$FUZZ_SECONDS" != 0 ]]; then
  probe=$(mktemp -d)
  if command -v clang++ >/dev/null &&
     printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char *, unsigned long) { return 0; }\n' |
       clang++ -fsanitize=fuzzer -x c++ - -o "$probe/probe" 2>/dev/null; then
    if [[ ! -f "$FUZZ_DIR/build.ninja" ]]; then
      CC=clang CXX=clang++ meson setup "$FUZZ_DIR" "$ROOT" -Dfuzzing=enabled -Dgst=disabled \
        -Dtests=disabled -Dbuildtype=debugoptimized >/dev/null || echo "tests: fuzz build: configure failed"
    fi
    # h5 reads in a child process, so a crash inside Debian's libhdf5 is an error, not a
    # finding (tests/fuzz/README.md "Limits"); h5-inprocess (libhdf5 in the fuzzing process)
    # is for hand runs only, as its random runs crash inside libhdf5 itself.
    GST_SALIENCY_FUZZ_BUILD_DIR="$FUZZ_DIR" "$ROOT/tests/fuzz/run-libfuzzer.sh" "$FUZZ_SECONDS" \
      pickle checkpoint flo mat h5 dataset || status=1
  else
    echo "tests: note: clang with libFuzzer not found (apt-get install clang libclang-rt-14-dev); fuzzing skipped"
  fi
  rm -rf "$probe"
fi

# One closing line counted from the JUnit report meson writes (every gtest case, not just suites).
/usr/bin/python3 - "$BUILD_DIR/meson-logs/testlog.junit.xml" <<'PY' || true
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except Exception as e:
    print(f"tests: no report ({e})"); sys.exit(0)
passed = failed = skipped = 0
for case in root.iter("testcase"):
    if case.find("failure") is not None or case.find("error") is not None: failed += 1
    elif case.find("skipped") is not None: skipped += 1
    else: passed += 1
print(f"tests: {passed} passed, {failed} failed, {skipped} skipped")
PY
exit $status
