#!/usr/bin/env bash
# The README's second command: installs what iolab needs, builds it and runs every test.
# Extra arguments go to ctest (for example -L unit).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j2
ctest --test-dir build --output-on-failure --timeout 300 "$@"
