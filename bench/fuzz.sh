#!/usr/bin/env bash
# Long fuzz runs. Builds the libFuzzer targets (build-fuzz/, through
# scripts/fuzz-smoke.sh --build-only) and runs each for FUZZ_SECONDS at nice 19, up to FUZZ_JOBS
# at a time, each on a scratch copy of its corpus (tests/fuzz/corpus/<target>). Crashes go to an
# artifacts folder that is printed and kept. Prints a table: target, seconds, runs (libFuzzer's
# exec count), corpus size after the run, crashes. Exits 1 when a target crashed.
#
#   bench/fuzz.sh                                   # every target, 600 s each, one at a time
#   FUZZ_SECONDS=60 FUZZ_JOBS=2 bench/fuzz.sh config experiment
#   bench/fuzz.sh --merge     # then merge what adds coverage into tests/fuzz/corpus
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

FUZZ_SECONDS=${FUZZ_SECONDS:-600}
FUZZ_JOBS=${FUZZ_JOBS:-1}
BUILD_DIR=${BUILD_DIR:-build-fuzz}
# The repository's corpus stays small: a warning past these, per target.
MAX_CORPUS_FILES=150
MAX_CORPUS_KB=200

merge=0
targets=()
for arg in "$@"; do
  case $arg in
    --merge) merge=1 ;;
    -*) die "unknown option $arg (use --merge)" ;;
    *) targets+=("$arg") ;;
  esac
done

require clang-14 nice
bash scripts/fuzz-smoke.sh --build-only
fuzz_dir="$BUILD_DIR/tests/fuzz"
if [ ${#targets[@]} -eq 0 ]; then
  for f in "$fuzz_dir"/*_fuzz; do targets+=("$(basename "$f" _fuzz)"); done
fi
for t in "${targets[@]}"; do [ -x "$fuzz_dir/${t}_fuzz" ] || die "no fuzz target '$t'"; done

artifacts=$(mktemp -d /tmp/iolab-fuzz-artifacts.XXXXXX)
echo "fuzz: ${#targets[@]} targets, ${FUZZ_SECONDS} s each, ${FUZZ_JOBS} at a time;" \
  "artifacts and logs in $artifacts" >&2

# run_one TARGET: fuzzes a scratch copy of the target's corpus; the log and any crash land in
# $artifacts/TARGET/.
run_one() {
  local t=$1 out="$artifacts/$1" args
  mkdir -p "$work/$t" "$out"
  cp -r "tests/fuzz/corpus/$t" "$work/$t/corpus" 2>/dev/null || mkdir -p "$work/$t/corpus"
  args=(-max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$out/")
  [ -f "tests/fuzz/$t.dict" ] && args+=(-dict="tests/fuzz/$t.dict")
  local start=$SECONDS
  nice -n 19 "$fuzz_dir/${t}_fuzz" "${args[@]}" "$work/$t/corpus" >"$out/log" 2>&1 || true
  echo $((SECONDS - start)) >"$out/seconds"
}

for t in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$FUZZ_JOBS" ]; do wait -n || true; done
  echo "fuzz: $t ..." >&2
  run_one "$t" &
  bg_pids+=($!)
done
wait

crashed=0
printf '%-16s %8s %12s %8s %8s\n' target seconds runs corpus crashes
for t in "${targets[@]}"; do
  out="$artifacts/$t"
  # libFuzzer's last word: "Done N runs in S second(s)"; after a crash, the last "#N" status line.
  runs=$(grep -o 'Done [0-9]* runs' "$out/log" | tail -1 | cut -d' ' -f2 || true)
  [ -n "$runs" ] || runs=$(grep -o '^#[0-9]*' "$out/log" | tail -1 | tr -d '#' || true)
  crashes=$(find "$out" -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' |
    wc -l)
  [ "$crashes" -eq 0 ] || crashed=1
  printf '%-16s %8s %12s %8s %8s\n' "$t" "$(cat "$out/seconds")" "${runs:-?}" \
    "$(ls "$work/$t/corpus" | wc -l)" "$crashes"
done

if [ "$merge" -eq 1 ]; then
  for t in "${targets[@]}"; do
    repo="tests/fuzz/corpus/$t"
    mkdir -p "$repo"
    # Seeds and regression inputs stay as they are; the rest is re-minimized: a greedy set cover
    # of the edges (hit counts ignored: they would keep hundreds of near-duplicates) over what
    # the inputs already in the first folder cover.
    merged="$work/$t/merged"
    mkdir -p "$merged"
    find "$repo" -maxdepth 1 -type f \( -name 'seed-*' -o -name 'regression-*' \) \
      -exec cp {} "$merged/" \;
    nice -n 19 "$fuzz_dir/${t}_fuzz" -set_cover_merge=1 -use_counters=0 -timeout=10 \
      -rss_limit_mb=2048 "$merged" "$repo" "$work/$t/corpus" >"$artifacts/$t/merge.log" 2>&1 ||
      die "merge of $t failed: $artifacts/$t/merge.log"
    find "$repo" -maxdepth 1 -type f ! -name 'seed-*' ! -name 'regression-*' -delete
    find "$merged" -maxdepth 1 -type f ! -name 'seed-*' ! -name 'regression-*' \
      -exec cp {} "$repo/" \;
    files=$(ls "$repo" | wc -l)
    kb=$(($(cat "$repo"/* | wc -c) / 1024))
    echo "merge: $repo now $files files, $kb KiB" >&2
    if [ "$files" -gt "$MAX_CORPUS_FILES" ] || [ "$kb" -gt "$MAX_CORPUS_KB" ]; then
      echo "merge: $repo is past $MAX_CORPUS_FILES files or $MAX_CORPUS_KB KiB" >&2
    fi
  done
fi
[ "$crashed" -eq 0 ] || { echo "fuzz: crashes found; see $artifacts" >&2; exit 1; }
