#!/usr/bin/env bash
# Soak: the daemon through back-to-back runs and variant switches for a set time; its
# RSS, open descriptors and threads at the start and the end must not grow beyond noise.
#
#   bench/soak.sh [SECONDS]        default 600 (10 min); IOLAB=path/to/iolab to pick the binary
#
# One cycle: switch the variant (async, fiber, fiber-blocking, threads:50 in turn, 2 workers),
# queue a 2 s run of 200 connections on it against a 10 ms stub, wait for it to end, read its
# report and scrape /metrics. The baseline is taken after the first full round of the four
# variants (allocator and SQLite caches warm); the end is after the last cycle. Prints both and
# the growth, and exits 1 when RSS grew more than 10 % + 4 MiB, or descriptors or threads grew
# at all, or a run did not end `done`.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

SECONDS_WANTED=${1:-600}
IOLAB=${IOLAB:-build/iolab}
[[ -x $IOLAB ]] || die "$IOLAB not built (cmake --build build)"
require curl jq

mkdir -p "$work/state"
cat >"$work/iolab.yaml" <<CONF
api: {listen: 127.0.0.1:0}
state_dir: $work/state
variant: {default: async}
upstream: {profile: {delay: 10ms}}
load: {max_connections: 1000, max_duration: 1m}
CONF
start_iolab daemon daemon --config "$work/iolab.yaml"
daemon_pid=$last_pid
B=http://127.0.0.1:$last_port

# sample: "rss_kib fds threads anon_kib" of the daemon process (anon: its heap, stacks and
# anonymous mappings; the rest of RSS is mapped files: the binary, libraries, SQLite's -shm).
sample() {
  echo "$(rss_kb "$daemon_pid") $(ls "/proc/$daemon_pid/fd" | wc -l)" \
       "$(awk '/^Threads:/ {print $2}' "/proc/$daemon_pid/status")" \
       "$(awk '/^Anonymous:/ {print $2}' "/proc/$daemon_pid/smaps_rollup")"
}

variants=('{"kind":"async","workers":2}' '{"kind":"fiber","workers":2}'
          '{"kind":"fiber-blocking","workers":2}' '{"kind":"threads","threads":50,"workers":2}')
cycles=0 runs_done=0 runs_bad=0 answers=0 baseline=
started=$(date +%s)
echo "soak: ${SECONDS_WANTED} s against the daemon at $B (pid $daemon_pid)"
# Whole rounds only: the end is sampled with the same variant active as the baseline, since the
# workers' kept-alive upstream connections end in this process (the stub's side).
while (( $(date +%s) - started < SECONDS_WANTED || cycles % ${#variants[@]} != 0 )); do
  v=${variants[$((cycles % ${#variants[@]}))]}
  code=$(curl -s -o "$work/variant.json" -w '%{http_code}' -X PUT "$B/api/v1/variant" \
         -H 'Content-Type: application/json' -d "$v")
  [[ $code == 200 ]] || die "PUT /api/v1/variant $v: $code $(cat "$work/variant.json")"
  id=$(curl -s -X POST "$B/api/v1/runs" -H 'Content-Type: application/json' \
       -d '{"connections":200,"threads":2,"duration":"2s","warmup":"0s"}' | jq -r .id)
  [[ $id =~ ^[0-9]+$ ]] || die "POST /api/v1/runs gave no id"
  state=
  for _ in $(seq 300); do
    state=$(curl -s "$B/api/v1/runs/$id" | jq -r .state)
    [[ $state == done || $state == failed || $state == cancelled || $state == interrupted ]] && break
    sleep 0.1
  done
  if [[ $state == done ]]; then
    runs_done=$((runs_done + 1))
    answers=$((answers + $(curl -s "$B/api/v1/runs/$id" | jq -r '.result.measured.requests // 0')))
  else
    runs_bad=$((runs_bad + 1))
    echo "run $id ended '$state': $(curl -s "$B/api/v1/runs/$id" | jq -c '.error')"
  fi
  curl -s -o /dev/null "$B/api/v1/runs/$id/report?format=rst&wide=true"
  curl -s -o /dev/null "$B/metrics"
  cycles=$((cycles + 1))
  if (( cycles == ${#variants[@]} )); then
    baseline=$(sample)
    echo "baseline after $cycles cycles: rss $(cut -d' ' -f1 <<<"$baseline") KiB," \
         "fds $(cut -d' ' -f2 <<<"$baseline"), threads $(cut -d' ' -f3 <<<"$baseline")"
  fi
  if (( cycles % 20 == 0 )); then
    echo "$(( $(date +%s) - started )) s: $cycles cycles, $runs_done runs done, sample $(sample)"
  fi
done
[[ -n $baseline ]] || die "too short: the baseline needs ${#variants[@]} cycles"
end=$(sample)
read -r rss0 fds0 thr0 anon0 <<<"$baseline"
read -r rss1 fds1 thr1 anon1 <<<"$end"
elapsed=$(( $(date +%s) - started ))

printf '\n%-10s %12s %12s %12s %12s\n' "" "rss KiB" "of it anon" "open fds" "threads"
printf '%-10s %12s %12s %12s %12s\n' start "$rss0" "$anon0" "$fds0" "$thr0" \
  end "$rss1" "$anon1" "$fds1" "$thr1"
printf '%-10s %+12d %+12d %+12d %+12d\n' growth $((rss1 - rss0)) $((anon1 - anon0)) \
  $((fds1 - fds0)) $((thr1 - thr0))
echo "$elapsed s, $cycles cycles (variant switch + run), $runs_done runs done, $runs_bad not," \
     "$answers answers measured"

status=0
(( rss1 <= rss0 * 110 / 100 + 4096 )) || { echo "FAIL: RSS grew beyond 10 % + 4 MiB"; status=1; }
(( fds1 <= fds0 )) || { echo "FAIL: open descriptors grew"; status=1; }
(( thr1 <= thr0 )) || { echo "FAIL: threads grew"; status=1; }
(( runs_bad == 0 )) || { echo "FAIL: $runs_bad run(s) did not end done"; status=1; }
(( status == 0 )) && echo "PASS: no growth beyond noise"
stop_pid "$daemon_pid"
exit $status
