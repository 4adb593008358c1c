#!/usr/bin/env bash
# iolab's load engine against wrk, side by side on one nginx (loopback, worker_processes 1, a
# 612-byte page). Runs wrk and `iolab run --target` alternately with the same -t/-c/-d, PAIRS
# pairs per point, and prints per point the median req/s of each, the ratio iolab / wrk, and the
# CPU seconds (user + sys, from /usr/bin/time) each spent per 10k requests.
#
#   bench/loadgen_vs_wrk.sh                      # build/iolab, 3 pairs of 5 s at -t1 -c50, -t2 -c400
#   IOLAB=build-lg/iolab PAIRS=5 DURATION=10s bench/loadgen_vs_wrk.sh
#   POINTS="1:50 2:400 2:1000" bench/loadgen_vs_wrk.sh
set -euo pipefail
cd "$(dirname "$0")/.."

IOLAB=${IOLAB:-build/iolab}
WRK=${WRK:-wrk}
NGINX=${NGINX:-nginx}
PAIRS=${PAIRS:-3}
DURATION=${DURATION:-5s}
POINTS=${POINTS:-"1:50 2:400"}
# Any single command that runs longer than this is killed; the bench then fails.
STEP_TIMEOUT_S=${STEP_TIMEOUT_S:-120}

for tool in "$IOLAB" "$WRK" "$NGINX" /usr/bin/time jq; do
  command -v "$tool" >/dev/null || { echo "loadgen_vs_wrk: $tool not found" >&2; exit 2; }
done

work=$(mktemp -d /tmp/iolab-bench.XXXXXX)
nginx_pid=""
cleanup() {
  if [[ -n "$nginx_pid" ]]; then
    kill "$nginx_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$nginx_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$nginx_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM
# Every file this script or its children write is bounded (1 KiB blocks: 100 MiB).
ulimit -f 102400

free_port() {
  local port
  for _ in $(seq 200); do
    port=$((20000 + RANDOM % 12000))
    if ! ss -Htln "sport = :$port" | grep -q .; then echo "$port"; return; fi
  done
  echo "loadgen_vs_wrk: no free port found" >&2
  exit 1
}

port=$(free_port)
mkdir -p "$work/html"
# nginx's workers drop to an unprivileged user when started as root: they must read the page.
chmod 755 "$work" "$work/html"
# nginx's default page is 612 bytes; any 612 bytes will do.
head -c 612 /dev/zero | tr '\0' 'x' >"$work/html/index.html"
chmod 644 "$work/html/index.html"
cat >"$work/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  client_body_temp_path $work/tmp;
  proxy_temp_path $work/tmp;
  fastcgi_temp_path $work/tmp;
  uwsgi_temp_path $work/tmp;
  scgi_temp_path $work/tmp;
  server {
    listen 127.0.0.1:$port;
    root $work/html;
  }
}
EOF
mkdir -p "$work/tmp"
"$NGINX" -p "$work" -c "$work/nginx.conf" >"$work/nginx.out" 2>&1 &
nginx_pid=$!
url="http://127.0.0.1:$port/"
for _ in $(seq 100); do
  if curl -fs -o /dev/null "$url" 2>/dev/null; then break; fi
  kill -0 "$nginx_pid" 2>/dev/null || { cat "$work/nginx.out" "$work/error.log" >&2; exit 1; }
  sleep 0.05
done
size=$(curl -fs "$url" | wc -c)
echo "nginx $("$NGINX" -v 2>&1 | sed 's/.*\///') on $url (worker_processes 1, ${size}-byte page)"
echo "$PAIRS pairs of -d $DURATION per point, alternating wrk and iolab ($IOLAB)"
echo

# Runs one command under /usr/bin/time; prints "REQUESTS SECONDS_OF_WINDOW CPU_SECONDS".
run_wrk() {
  local t=$1 c=$2 out="$work/wrk.out"
  /usr/bin/time -f '%U %S' -o "$work/time" timeout -s KILL "$STEP_TIMEOUT_S" \
    "$WRK" -t"$t" -c"$c" -d"$DURATION" "$url" >"$out" 2>&1
  local requests rps
  requests=$(awk '/requests in/ {print $1}' "$out")
  rps=$(awk '/Requests\/sec/ {print $2}' "$out")
  echo "$requests $rps $(awk '{print $1 + $2}' "$work/time")"
}

run_iolab() {
  local t=$1 c=$2 out="$work/iolab.json"
  /usr/bin/time -f '%U %S' -o "$work/time" timeout -s KILL "$STEP_TIMEOUT_S" \
    "$IOLAB" run --target "$url" -t"$t" -c"$c" -d"$DURATION" --warmup 0s --format json \
    >"$out" 2>"$work/iolab.err"
  echo "$(jq -r '.[0].requests' "$out") $(jq -r '.[0].rps' "$out") \
$(awk '{print $1 + $2}' "$work/time")"
}

median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

printf '%-12s %12s %12s %7s %16s %16s %7s\n' point "wrk req/s" "iolab req/s" ratio \
  "wrk cpu-s/10k" "iolab cpu-s/10k" ratio
for point in $POINTS; do
  t=${point%%:*}
  c=${point##*:}
  : >"$work/wrk.rows"
  : >"$work/iolab.rows"
  for i in $(seq "$PAIRS"); do
    read -r wreq wrps wcpu < <(run_wrk "$t" "$c")
    read -r ireq irps icpu < <(run_iolab "$t" "$c")
    echo "$wrps $(awk -v c="$wcpu" -v n="$wreq" 'BEGIN {print c * 10000 / n}')" >>"$work/wrk.rows"
    echo "$irps $(awk -v c="$icpu" -v n="$ireq" 'BEGIN {print c * 10000 / n}')" >>"$work/iolab.rows"
    printf '  pair %d -t%s -c%s: wrk %.0f req/s %.2f cpu-s, iolab %.0f req/s %.2f cpu-s\n' \
      "$i" "$t" "$c" "$wrps" "$wcpu" "$irps" "$icpu"
  done
  wrps=$(cut -d' ' -f1 "$work/wrk.rows" | median)
  irps=$(cut -d' ' -f1 "$work/iolab.rows" | median)
  wcpu=$(cut -d' ' -f2 "$work/wrk.rows" | median)
  icpu=$(cut -d' ' -f2 "$work/iolab.rows" | median)
  printf '%-12s %12.0f %12.0f %7.3f %16.4f %16.4f %7.3f\n' "-t$t -c$c" "$wrps" "$irps" \
    "$(awk -v a="$irps" -v b="$wrps" 'BEGIN {print a / b}')" "$wcpu" "$icpu" \
    "$(awk -v a="$icpu" -v b="$wcpu" 'BEGIN {print a / b}')"
done
echo
echo "ratio columns: iolab / wrk (req/s: >= 1.0 is the target; cpu-s per 10k requests: <= 1.0)"
