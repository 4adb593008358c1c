#!/usr/bin/env bash
# The README's second command: installs what iolab needs, builds it and runs every test, then
# the fuzz smoke tests (scripts/fuzz-smoke.sh). Extra arguments go to the main ctest (for
# example -L unit).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j2
ctest --test-dir build --output-on-failure --timeout 300 "$@"
# The fuzz targets' smoke runs (clang-14, build-fuzz/): a few seconds each on their corpus.
bash scripts/fuzz-smoke.sh
