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
