#!/usr/bin/env bash
# Runs scripts/test.sh N times, each in a fresh clone of this repository's HEAD in a temporary
# folder, as a new user would; with --busy, both cores are kept busy by `stress-ng --cpu 2`
# (normal priority) for the whole of it. Prints each run's result (pass/fail, duration, the
# names of the tests that failed), then "passed K of N"; exits non-zero unless all passed.
# Cleans up its clones and stress-ng however it ends. A run's log is kept only when it failed.
#
#   scripts/test-repeat.sh 10
#   scripts/test-repeat.sh 3 --busy
#   scripts/test-repeat.sh 1 --busy -L unit      # further arguments go to scripts/test.sh
#   CMAKE_CXX_COMPILER_LAUNCHER=ccache scripts/test-repeat.sh 10   # cmake reads it at configure
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: $0 N [--busy] [test.sh arguments...]" >&2; exit 2; }
[ $# -ge 1 ] && [[ $1 =~ ^[1-9][0-9]*$ ]] || usage
runs=$1
shift
busy=0
if [ "${1:-}" = --busy ]; then
  busy=1
  shift
fi

repo=$(pwd)
head=$(git rev-parse HEAD)
[ -z "$(git status --porcelain --untracked-files=no)" ] ||
  echo "test-repeat: uncommitted changes are not tested: runs use HEAD ${head:0:12}" >&2

stress_pid=""
clone=""
cleanup() {
  if [ -n "$stress_pid" ]; then
    kill "$stress_pid" 2>/dev/null || true
    wait "$stress_pid" 2>/dev/null || true
  fi
  [ -z "$clone" ] || rm -rf "$clone"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$busy" = 1 ]; then
  command -v stress-ng >/dev/null || bash scripts/install-deps.sh
  stress-ng --cpu 2 --quiet &
  stress_pid=$!
  echo "test-repeat: stress-ng --cpu 2 (pid $stress_pid) keeps both cores busy"
fi

passed=0
for i in $(seq "$runs"); do
  clone=$(mktemp -d /tmp/iolab-test-repeat.XXXXXX)
  log="$clone.log"
  git clone -q --no-hardlinks "$repo" "$clone/iolab"
  git -C "$clone/iolab" checkout -q "$head"
  started=$(date +%s)
  rc=0
  (cd "$clone/iolab" && bash scripts/test.sh "$@") >"$log" 2>&1 || rc=$?
  took=$(($(date +%s) - started))
  duration="$((took / 60))m$(printf %02d $((took % 60)))s"
  if [ "$rc" = 0 ]; then
    passed=$((passed + 1))
    echo "run $i of $runs: pass in $duration"
    rm -f "$log"
  else
    # ctest's summary lists failed tests as "  123 - Name (Failed)"; fuzz-smoke names its own.
    failed=$(grep -E '^[[:space:]]+[0-9]+ - .* \((Failed|Timeout|SEGFAULT|Subprocess aborted|Exception|Not Run)\)' "$log" |
      sed -E 's/^[[:space:]]+[0-9]+ - ([^ ]+).*/\1/' | tr '\n' ' ' || true)
    [ -n "$failed" ] || failed="(no test named: build or fuzz-smoke failure, see the log)"
    echo "run $i of $runs: FAIL (exit $rc) in $duration: $failed"
    echo "  log: $log"
  fi
  rm -rf "$clone"
  clone=""
done

echo "passed $passed of $runs"
[ "$passed" = "$runs" ]
