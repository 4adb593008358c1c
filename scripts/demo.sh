#!/usr/bin/env bash
# The README's first command: installs what iolab needs, builds it (Release) and runs the 2017
# article's experiment, printing its table; beside it, in build/seed-2017/ (--out), the same
# report as seed-2017.html (the table and its charts), .rst, .csv and .json. Extra arguments go
# to `iolab experiment` (for example --wide, or --format csv).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j2 --target iolab >&2  # stdout is the table alone
./build/iolab experiment config/experiments/seed-2017.yaml --out build/seed-2017 "$@"
echo "demo: the report with its charts: $PWD/build/seed-2017/seed-2017.html (open it in a browser)" >&2
