# Shared by the bench/ scripts: temp dir and cleanup, free ports, nginx on loopback, iolab
# servers in the background, /proc readings, medians. Source it; it sets `work` and a trap.

work=$(mktemp -d /tmp/iolab-bench.XXXXXX)
bg_pids=()
cleanup() {
  local pid
  for pid in "${bg_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${bg_pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM
# Every file the bench or its children write is bounded (1 KiB blocks: 100 MiB).
ulimit -f 102400

die() { echo "$(basename "$0"): $*" >&2; exit 1; }

require() {
  local tool
  for tool in "$@"; do command -v "$tool" >/dev/null || die "$tool not found"; done
}

free_port() {
  local port
  for _ in $(seq 200); do
    port=$((20000 + RANDOM % 12000))
    if ! ss -Htln "sport = :$port" | grep -q .; then echo "$port"; return; fi
  done
  die "no free port found"
}

# start_nginx PORT: nginx with one worker, no access log and a 612-byte page on 127.0.0.1:PORT.
start_nginx() {
  local port=$1 dir="$work/nginx"
  mkdir -p "$dir/html" "$dir/tmp"
  # nginx's workers drop to an unprivileged user when started as root: they must read the page.
  chmod 755 "$work" "$dir" "$dir/html"
  head -c 612 /dev/zero | tr '\0' 'x' >"$dir/html/index.html"
  chmod 644 "$dir/html/index.html"
  cat >"$dir/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  client_body_temp_path $dir/tmp;
  proxy_temp_path $dir/tmp;
  fastcgi_temp_path $dir/tmp;
  uwsgi_temp_path $dir/tmp;
  scgi_temp_path $dir/tmp;
  server {
    listen 127.0.0.1:$port;
    root $dir/html;
  }
}
CONF
  nginx -p "$dir" -c "$dir/nginx.conf" >"$dir/nginx.out" 2>&1 &
  bg_pids+=($!)
  wait_http "http://127.0.0.1:$port/" || die "nginx did not start: $(cat "$dir/error.log")"
}

# wait_http URL: polls until URL answers, 10 s at most.
wait_http() {
  for _ in $(seq 200); do
    curl -fs -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

# start_iolab NAME ARGS...: runs `iolab ARGS` in the background and waits for its first line
# ("... on 127.0.0.1:PORT ..."). Sets $last_port and $last_pid (so: no $(...) around it).
start_iolab() {
  local name=$1
  shift
  "$IOLAB" "$@" >"$work/$name.out" 2>"$work/$name.err" &
  last_pid=$!
  bg_pids+=("$last_pid")
  for _ in $(seq 200); do
    if grep -q "127.0.0.1:" "$work/$name.out" 2>/dev/null; then
      last_port=$(grep -o "127.0.0.1:[0-9]*" "$work/$name.out" | head -1 | cut -d: -f2)
      return
    fi
    kill -0 "$last_pid" 2>/dev/null || die "iolab $* failed: $(cat "$work/$name.err")"
    sleep 0.05
  done
  die "iolab $* did not start"
}

# stop_pid PID: SIGTERM and wait (5 s), then SIGKILL.
stop_pid() {
  kill "$1" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
}

# rss_kb PID...: resident memory summed over the processes, in KiB.
rss_kb() {
  local total=0 pid kb
  for pid in "$@"; do
    kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    total=$((total + ${kb:-0}))
  done
  echo "$total"
}

median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
