#!/usr/bin/env bash
# The test suite under AddressSanitizer + UndefinedBehaviorSanitizer (issue 9).
# Configures build-asan (meson's built-in -Db_sanitize=address,undefined),
# builds it, and runs the meson tests named on the command line, or all.
# Too slow for every CI run (a second full build, and the deep-model tests run
# several times slower): run it before each release and after parser changes.
#
#   tests/run-sanitized.sh                 # every test
#   tests/run-sanitized.sh flow gst        # some meson tests (meson test NAMES)
#   tests/run-sanitized.sh model --test-args='--gtest_filter=Checkpoint*'
#
# Environment: GST_SALIENCY_ASAN_BUILD_DIR (default build-asan), GST_SALIENCY_JOBS (2).
# Third-party leaks (GLib/GStreamer type system, LibTorch/OpenCV one-time
# registrations) are suppressed in tests/sanitizers/*.supp, each line explained.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${GST_SALIENCY_ASAN_BUILD_DIR:-"$ROOT/build-asan"}
SUPP="$ROOT/tests/sanitizers"

if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
  # b_lundef=false: the plugin links -Wl,--no-undefined itself; meson refuses
  # b_lundef with sanitizers on some compilers.
  meson setup "$BUILD_DIR" "$ROOT" -Db_sanitize=address,undefined -Db_lundef=false >&2 ||
    { echo "tests: sanitizer configure failed"; exit 1; }
fi
ninja -C "$BUILD_DIR" -j"${GST_SALIENCY_JOBS:-2}" >&2 || { echo "tests: sanitizer build failed"; exit 1; }

export GST_SALIENCY_SHARED=${GST_SALIENCY_SHARED:-"$ROOT/../shared"}
# halt_on_error: the first report fails the test. allocator_may_return_null:
# libhdf5 sizes some allocations from the file and checks malloc's result (the
# fuzz-h5 replay feeds it corrupt files); our own code allocates with new,
# which still throws.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:halt_on_error=1:allocator_may_return_null=1:strict_init_order=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export LSAN_OPTIONS="suppressions=$SUPP/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export UBSAN_OPTIONS="suppressions=$SUPP/ubsan.supp:print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
# The plugin is instrumented: scan it in the (instrumented) test process, not
# in gst-plugin-scanner, which has no ASan runtime.
export GST_REGISTRY_FORK=no

# PyGObject loads the instrumented meta library into an uninstrumented Python:
# that test runs with the ASan runtime preloaded, without leak checking.
args=("$@")
want_python=1
if ((${#args[@]})); then
  want_python=0
  for a in "${args[@]}"; do [[ "$a" == gst-python-gi ]] && want_python=1; done
  filtered=()
  for a in "${args[@]}"; do [[ "$a" != gst-python-gi ]] && filtered+=("$a"); done
  args=("${filtered[@]}")
else
  # Test names from the build's introspection data: `meson test --list` may
  # first print a reconfigure's log on stdout, whose lines would become test
  # names (one matched the project's suite and ran everything in one group).
  mapfile -t args < <(meson introspect "$BUILD_DIR" --tests |
    /usr/bin/python3 -c 'import json, sys; print("\n".join(t["name"] for t in json.load(sys.stdin)))' |
    grep -vx 'gst-python-gi')
fi

# GLib is built without frame pointers, so ASan's fast unwinder stops at
# g_malloc and the GLib suppression (lsan.supp: its load-time quark table,
# allocated from _dl_init) cannot match: the GStreamer suites record allocation
# stacks with the slow, complete unwinder. The LibTorch-heavy suites keep the
# fast one (the slow one on every malloc would multiply their time).
glib_tests=()
other_tests=()
for a in "${args[@]}"; do
  if [[ "$a" == gst* ]]; then glib_tests+=("$a"); else other_tests+=("$a"); fi
done
status=0
if ((${#other_tests[@]})); then
  meson test -C "$BUILD_DIR" --print-errorlogs --num-processes 1 --timeout-multiplier 6 "${other_tests[@]}" || status=$?
fi
if ((${#glib_tests[@]})); then
  ASAN_OPTIONS="$ASAN_OPTIONS:fast_unwind_on_malloc=0" \
    meson test -C "$BUILD_DIR" --print-errorlogs --num-processes 1 --timeout-multiplier 6 "${glib_tests[@]}" || status=$?
fi
if ((want_python)) && meson introspect "$BUILD_DIR" --tests | grep -q '"gst-python-gi"'; then
  LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)" \
    ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0:fast_unwind_on_malloc=0" \
    meson test -C "$BUILD_DIR" --print-errorlogs --num-processes 1 --timeout-multiplier 6 gst-python-gi || status=$?
fi
echo "tests: sanitized run $([[ $status == 0 ]] && echo passed || echo FAILED) ($BUILD_DIR)"
exit $status
