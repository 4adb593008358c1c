#!/usr/bin/env bash
# "Measured, not assumed": resamples the noise recorded on this machine
# (tests/data/verdicts_noise.csv, 50 identical short runs of each of a few nightly rows) into
# synthetic nightly histories and compare pairs, and prints
#   - A/A false alarms per 100 metric-nights, change points against the old 10 % rule;
#   - the share of persistent 3σ steps and of 10 % throughput drops flagged within 3 nights;
#   - compare's A/A false positives over 200 pairs at n = 10 and its power for a 10 % shift.
# Deterministic (fixed seed): the unit test VerdictsHarnessTest guards the same figures.
#
#   bench/verdicts.sh                          # build/, the shipped fixture
#   HISTORIES=50 STEPS=50 bench/verdicts.sh    # more resamples
#   bench/verdicts.sh path/to/fixture.csv      # another fixture (scripts: bench/record_noise.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
ulimit -f 102400
cmake --build "$BUILD" --target iolab_verdicts_bench >"${TMPDIR:-/tmp}/iolab_verdicts_build.log" || { cat "${TMPDIR:-/tmp}/iolab_verdicts_build.log" >&2; exit 1; }
"$BUILD/tests/iolab_verdicts_bench" "${1:-tests/data/verdicts_noise.csv}"
