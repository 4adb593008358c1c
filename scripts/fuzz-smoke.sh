#!/usr/bin/env bash
# The fuzz smoke tests: configures and builds the libFuzzer targets in build-fuzz/
# (clang-14, ASan + UBSan, only the fuzz targets), then runs `ctest -L fuzz`: each target fuzzes
# a copy of its corpus (tests/fuzz/corpus/<target>) for a few seconds. Prints one line per
# target; exits non-zero on any crash or build failure.
#
#   scripts/fuzz-smoke.sh                 # build and run
#   scripts/fuzz-smoke.sh --build-only    # build only (bench/fuzz.sh uses it)
#   BUILD_DIR=build-fuzz2 scripts/fuzz-smoke.sh
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${BUILD_DIR:-build-fuzz}
mkdir -p "$BUILD_DIR"
log="$BUILD_DIR/fuzz-smoke.log"

# Coverage and sanitizers for all the library code; the targets link libFuzzer's main.
flags='-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined'
if ! CC=clang-14 CXX=clang++-14 cmake -S . -B "$BUILD_DIR" -DIOLAB_FUZZ=ON -DBUILD_TESTING=OFF \
       -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS="$flags" >"$log" 2>&1 ||
   ! cmake --build "$BUILD_DIR" -j2 --target iolab_fuzz >>"$log" 2>&1; then
  tail -40 "$log" >&2
  echo "fuzz-smoke: the fuzz build failed (log: $log)" >&2
  exit 1
fi
[ "${1:-}" = --build-only ] && exit 0

rm -rf "$BUILD_DIR/tests/fuzz/smoke"
rc=0
ctest --test-dir "$BUILD_DIR" -L fuzz -j2 --output-on-failure --timeout 300 >>"$log" 2>&1 || rc=$?
for result in "$BUILD_DIR"/tests/fuzz/smoke/*/result; do
  [ -f "$result" ] && cat "$result"
done
if [ "$rc" -ne 0 ]; then
  grep -A30 "FAILED (log" "$log" >&2 || tail -40 "$log" >&2
  echo "fuzz-smoke: FAILED (log: $log)" >&2
fi
exit "$rc"
