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

# The whole suite must be in the build: a suite that is missing (a dependency
# found missing at configure time, a feature switched off by hand) fails the
# run instead of leaving a green line over fewer tests.
EXPECTED_SUITES=(flow model gst gst-soak gst-python-gi)
if [[ $# -eq 0 ]]; then
  mapfile -t have_tests < <(meson introspect --tests "$BUILD_DIR" |
    /usr/bin/python3 -c 'import json, sys; print("\n".join(t["name"] for t in json.load(sys.stdin)))')
  for suite in "${EXPECTED_SUITES[@]}"; do
    if ! printf '%s\n' "${have_tests[@]}" | grep -qx -- "$suite"; then
      echo "tests: the test '$suite' is missing from $BUILD_DIR (see meson-logs/meson-log.txt there: a dependency not found?)"
      echo "tests: 0 passed, 1 failed, 0 skipped"
      exit 1
    fi
  done
fi

meson test -C "$BUILD_DIR" --print-errorlogs --num-processes 1 "$@"
status=$?

# The numerics-sensitive suite again on a second code path, so that every run
# checks that no test depends on one CPU's kernels or one thread count: one
# thread instead of all cores and, on a CPU with AVX-512, LibTorch's and
# oneDNN's AVX2 kernels. The OPENBLAS_* settings of the environment are left as
# they are (some OpenBLAS builds compute wrong results on some CPUs without them).
ALT_LOG=testlog-second-config
rm -f "$BUILD_DIR/meson-logs/$ALT_LOG.junit.xml"
if [[ $# -eq 0 && "${GST_SALIENCY_SECOND_CONFIG:-1}" != 0 ]]; then
  alt_env=(OMP_NUM_THREADS=1)
  if grep -qw avx512f /proc/cpuinfo; then alt_env+=(ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2); fi
  echo "tests: the model suite again with ${alt_env[*]}"
  env "${alt_env[@]}" meson test -C "$BUILD_DIR" --print-errorlogs --num-processes 1 --no-rebuild \
    --logbase "$ALT_LOG" --timeout-multiplier 2 model || status=1
fi

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

# One closing line counted from the JUnit reports meson writes (every gtest
# case, not just suites). A full run also checks that the reports count every
# test the build defines (gtest cases listed by each binary with its filter,
# one case for each other test), so a run that silently ran fewer is red.
/usr/bin/python3 - "$BUILD_DIR" "$ALT_LOG" "$#" <<'PY' || status=1
import json, os, subprocess, sys, xml.etree.ElementTree as ET
build, alt_log, nargs = sys.argv[1], sys.argv[2], int(sys.argv[3])
logs = os.path.join(build, "meson-logs")
passed = failed = skipped = 0
counted = {}
for name in ("testlog", alt_log):
    path = os.path.join(logs, name + ".junit.xml")
    if not os.path.exists(path):
        continue
    try:
        root = ET.parse(path).getroot()
    except Exception as e:
        print(f"tests: unreadable report {path} ({e})"); failed += 1; continue
    n = 0
    for case in root.iter("testcase"):
        n += 1
        if case.find("failure") is not None or case.find("error") is not None: failed += 1
        elif case.find("skipped") is not None: skipped += 1
        else: passed += 1
    counted[name] = n
if "testlog" not in counted:
    print("tests: no report"); print("tests: 0 passed, 1 failed, 0 skipped"); sys.exit(1)

def defined_cases(tests):
    total = 0
    for t in tests:
        if t.get("protocol") != "gtest":
            total += 1
            continue
        env = dict(os.environ, **(t.get("env") or {}))
        out = subprocess.run(t["cmd"] + t.get("args", []) + ["--gtest_list_tests"], env=env,
                             capture_output=True, text=True, cwd=t.get("workdir") or build).stdout
        total += sum(1 for line in out.splitlines() if line.startswith("  "))
    return total

ok = True
if nargs == 0:
    tests = json.loads(subprocess.run(["meson", "introspect", "--tests", build],
                                      capture_output=True, text=True).stdout)
    want = {"testlog": defined_cases(tests)}
    if os.environ.get("GST_SALIENCY_SECOND_CONFIG", "1") != "0":
        want[alt_log] = defined_cases([t for t in tests if t["name"] == "model"])
    for name, n in want.items():
        if counted.get(name, 0) != n:
            print(f"tests: {name}: the report counts {counted.get(name, 0)} tests, the build defines {n}")
            ok = False
print(f"tests: {passed} passed, {failed if ok else failed + 1} failed, {skipped} skipped")
sys.exit(0 if ok else 1)
PY
exit $status
