#!/usr/bin/env bash
# The concurrency models side by side on this machine, one table per point:
#   1. the seed point: 400 connections, 100 ms upstream, 2 workers: bound% of every variant;
#   2. /plaintext with one worker: async req/s over nginx's static page req/s, same wrk command;
#   3. 10,000 connections, 1 s upstream, 2 workers: async and fiber against the 10,000 req/s
#      bound, and their RSS per connection (stub, variant and load engine in separate processes);
#   4. memory per in-flight request of every variant: (RSS under load - idle RSS) / connections.
#
#   bench/variants.sh                    # build/iolab, 10 s per measurement, 3 wrk pairs
#   DURATION=20s PAIRS=5 bench/variants.sh
#   POINTS="2 3" bench/variants.sh      # only those points
set -euo pipefail
cd "$(dirname "$0")/.."

IOLAB=${IOLAB:-build/iolab}
DURATION=${DURATION:-10s}
PAIRS=${PAIRS:-3}
POINTS=${POINTS:-"1 2 3 4"}
source bench/lib.sh
require "$IOLAB" wrk nginx curl ss jq pgrep
dur_s=${DURATION%s}

point1() {
  echo "== 1. seed point: 400 connections, 100 ms upstream, 2 workers, $DURATION each =="
  cat >"$work/seed.yaml" <<YAML
name: bench-seed
upstream: {delay: 100ms}
load: {connections: 400, threads: 2, duration: $DURATION, warmup: 2s, timeout: 10s, path: /remote}
variants:
  - {kind: async, workers: 2}
  - {kind: fiber, workers: 2}
  - {kind: fiber-blocking, workers: 2}
  - {kind: threads, threads: [10, 50, 100, 200, 400], workers: 2}
  - {kind: threads, threads: 200, workers: 2, accept: reuseport}
YAML
  timeout -s KILL 600 "$IOLAB" experiment "$work/seed.yaml" --wide --out "$work/seed" \
    >/dev/null 2>"$work/seed.err" || die "seed experiment failed: $(tail -1 "$work/seed.err")"
  cat "$work/seed/bench-seed.rst"
  # Targets: async and fiber near the bound, fiber-blocking near zero, threads:N at 2N/400.
  awk -F, 'NR > 1 {
    v = $1; b = $12
    if (v == "async" || v == "fiber") { t = ">= 95"; ok = b >= 95 }
    else if (v == "fiber-blocking") { t = "<= 5"; ok = b <= 5 }
    else { split(v, p, ":"); e = 100 * (2 * p[2] / 400 < 1 ? 2 * p[2] / 400 : 1)
           t = sprintf("~%.0f", e); ok = b >= 0.9 * e && b <= 1.05 * e + 1 }
    printf "  %-15s bound%% %6.1f  target %-6s %s\n", v, b, t, ok ? "met" : "MISSED"
  }' "$work/seed/bench-seed.csv"
}

point2() {
  echo "== 2. /plaintext, one worker: async against nginx's static page, wrk -t1 -c50 -d$DURATION =="
  nginx_port=$(free_port)
  start_nginx "$nginx_port"
  start_iolab plain serve async --workers 1
  async_port=$last_port
  async_pid=$last_pid
  wrk_rps() {
    timeout -s KILL 120 wrk -t1 -c50 -d"$DURATION" "$1" | awk '/Requests\/sec/ {print $2}'
  }
  : >"$work/plain.rows"
  for i in $(seq "$PAIRS"); do
    n=$(wrk_rps "http://127.0.0.1:$nginx_port/")
    a=$(wrk_rps "http://127.0.0.1:$async_port/plaintext")
    echo "$n $a" >>"$work/plain.rows"
    printf '  pair %d: nginx %.0f req/s, async %.0f req/s\n' "$i" "$n" "$a"
  done
  n=$(cut -d' ' -f1 "$work/plain.rows" | median)
  a=$(cut -d' ' -f2 "$work/plain.rows" | median)
  printf '%-10s %12s %12s %8s\n' point "nginx req/s" "async req/s" "ratio"
  printf '%-10s %12.0f %12.0f %8.3f   (target >= 0.9)\n' plaintext "$n" "$a" \
    "$(awk -v a="$a" -v n="$n" 'BEGIN {print a / n}')"
  stop_pid "$async_pid"
}

point3() {
  echo "== 3. 10,000 connections, 1 s upstream, 2 workers: bound 10,000 req/s =="
  start_iolab stub10k stub --delay 1s
  stub_port=$last_port
  printf '%-8s %10s %8s %8s %10s %10s %10s\n' variant "req/s" "bound%" errors "idle MiB" \
    "load MiB" "KiB/conn"
  for kind in async fiber; do
    start_iolab "serve-$kind" serve "$kind" --workers 2 --upstream "http://127.0.0.1:$stub_port/"
    port=$last_port
    serve_pid=$last_pid
    workers=$(pgrep -P "$serve_pid" | tr '\n' ' ')
    idle=$(rss_kb $workers)
    timeout -s KILL 300 "$IOLAB" run --target "http://127.0.0.1:$port/remote" -c 10000 -t 2 \
      -d "$DURATION" --warmup 4s --timeout 10s --format json >"$work/10k.json" 2>"$work/10k.err" &
    run_pid=$!
    sleep $((4 + dur_s / 2))
    loaded=$(rss_kb $workers)
    wait "$run_pid" || die "10k run failed: $(tail -1 "$work/10k.err")"
    rps=$(jq -r '.[0].rps' "$work/10k.json")
    errors=$(jq -r '.[0].errors.total' "$work/10k.json")
    printf '%-8s %10.0f %8.1f %8s %10.1f %10.1f %10.1f   (target bound%% >= 90)\n' "$kind" "$rps" \
      "$(awk -v r="$rps" 'BEGIN {print r / 100}')" "$errors" \
      "$(awk -v k="$idle" 'BEGIN {print k / 1024}')" \
      "$(awk -v k="$loaded" 'BEGIN {print k / 1024}')" \
      "$(awk -v l="$loaded" -v i="$idle" 'BEGIN {print (l - i) / 10000}')"
    stop_pid "$serve_pid"
  done
}

point4() {
  echo "== 4. memory per in-flight request: 400 connections, 100 ms upstream, 2 workers =="
  printf '%-15s %10s %10s %12s\n' variant "idle MiB" "load MiB" "KiB/request"
  for kind in async fiber fiber-blocking threads:400; do
    start_iolab "mem-${kind%%:*}" serve "$kind" --workers 2 --upstream-delay 100ms
    port=$last_port
    serve_pid=$last_pid
    workers=$(pgrep -P "$serve_pid" | tr '\n' ' ')
    idle=$(rss_kb $workers)
    timeout -s KILL 120 "$IOLAB" run --target "http://127.0.0.1:$port/remote" -c 400 -t 2 -d 4s \
      --warmup 1s --format json >/dev/null 2>"$work/mem.err" &
    run_pid=$!
    sleep 3
    loaded=$(rss_kb $workers)
    wait "$run_pid" || true
    printf '%-15s %10.1f %10.1f %12.1f\n' "$kind" "$(awk -v k="$idle" 'BEGIN {print k / 1024}')" \
      "$(awk -v k="$loaded" 'BEGIN {print k / 1024}')" \
      "$(awk -v l="$loaded" -v i="$idle" 'BEGIN {print (l - i) / 400}')"
    stop_pid "$serve_pid"
  done
}

for point in $POINTS; do
  "point$point"
  echo
done
