#!/usr/bin/env bash
# The README's first command: installs what iolab needs, builds it (Release) and runs the 2017
# article's experiment, printing its table. Extra arguments go to `iolab experiment`
# (for example --wide, or --format csv).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j2 --target iolab >&2  # stdout is the table alone
./build/iolab experiment config/experiments/seed-2017.yaml "$@"
