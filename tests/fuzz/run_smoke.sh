#!/usr/bin/env bash
# One fuzz smoke test (ctest fuzz.<target>): fuzzes a scratch copy of the target's corpus for a
# few seconds and fails on any crash, leak, timeout or sanitizer report.
# Usage: run_smoke.sh FUZZER SOURCE_DIR WORK_DIR SECONDS
set -euo pipefail
fuzzer=$1 src=$2 work=$3 seconds=$4
name=$(basename "$fuzzer" _fuzz)

rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
if [ -d "$src/corpus/$name" ]; then cp -r "$src/corpus/$name/." "$work/corpus/"; fi
args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
      -artifact_prefix="$work/artifacts/")
[ -f "$src/$name.dict" ] && args+=(-dict="$src/$name.dict")

if "$fuzzer" "${args[@]}" "$work/corpus" >"$work/log" 2>&1; then
  runs=$(grep -o 'Done [0-9]* runs' "$work/log" | tail -1 | cut -d' ' -f2)
  files=$(ls "$work/corpus" | wc -l)
  echo "fuzz.$name: ok, ${runs:-?} runs in ${seconds} s, corpus $files files" | tee "$work/result"
  exit 0
fi
echo "fuzz.$name: FAILED (log: $work/log, artifacts: $work/artifacts)" | tee "$work/result"
grep -m1 -A30 -E '^==[0-9]+==ERROR|runtime error|deadly signal|terminate' "$work/log" ||
  tail -30 "$work/log"
exit 1
