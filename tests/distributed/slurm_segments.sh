#!/usr/bin/env bash
# Segments on a real engine: a single-node Slurm (munged, slurmctld and slurmd in the foreground,
# from a generated config, oversubscribed) runs the shipped deploy/slurm/iolab-segments.sbatch,
# whose `srun` starts 3 tasks of `iolab run --segments auto` against a loopback stub, each from
# its own source address (127.0.0.2-4), all starting at one --start-at instant, and whose last
# step merges the three (`iolab merge`). Checks: the merged count is within
# 1 % of one process at the same total rate, every segment's start skew is under 50 ms, and the
# merged table prints. Fails naming why if Slurm cannot start; skips nothing.
# Usage: slurm_segments.sh IOLAB_BINARY SOURCE_DIR WORK_DIR
set -euo pipefail
iolab=$1 src=$2 work=$3
ulimit -f 102400
rm -rf "$work" && mkdir -p "$work"
work=$(cd "$work" && pwd)
fail() { echo "FAIL: $*" >&2; exit 1; }

RATE=400        # requests/s in all, open loop
SECONDS_RUN=8   # measured; 1 % of RATE * SECONDS_RUN is 32 requests
CONNECTIONS=30

for tool in munged slurmctld slurmd srun sbatch sinfo; do
  command -v "$tool" >/dev/null || fail "$tool is not installed (Debian's slurm-wlm and munge)"
done

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
}
trap cleanup EXIT

# munge: its own key, socket and files.
mkdir -p "$work/munge" && chmod 700 "$work/munge"
head -c 1024 /dev/urandom >"$work/munge/munge.key" && chmod 400 "$work/munge/munge.key"
munged --key-file="$work/munge/munge.key" --socket="$work/munge/munge.sock" \
  --pid-file="$work/munge/munged.pid" --log-file="$work/munge/munged.log" \
  --seed-file="$work/munge/munged.seed" --force --foreground >"$work/munge/munged.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -S "$work/munge/munge.sock" ] && break; sleep 0.1; done
[ -S "$work/munge/munge.sock" ] || fail "munged did not start: $(tail -c 1000 "$work/munge/munged.log" 2>/dev/null)"

free_port() {
  local p
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 12000))
    ss -Htln "sport = :$p" | grep -q . || { echo "$p"; return; }
  done
  fail "no free port"
}
host=$(hostname -s)
mkdir -p "$work/slurm/state" "$work/slurm/spool"
cat >"$work/slurm/slurm.conf" <<CONF
ClusterName=iolab
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$work/munge/munge.sock
CredType=cred/munge
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
StateSaveLocation=$work/slurm/state
SlurmdSpoolDir=$work/slurm/spool
SlurmctldPidFile=$work/slurm/slurmctld.pid
SlurmdPidFile=$work/slurm/slurmd.pid
SlurmctldLogFile=$work/slurm/slurmctld.log
SlurmdLogFile=$work/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
NodeName=$host CPUs=2 State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:8
CONF
export SLURM_CONF=$work/slurm/slurm.conf
slurmctld -D -f "$SLURM_CONF" >"$work/slurm/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" >"$work/slurm/slurmd.out" 2>&1 &
pids+=($!)
state=""
for _ in $(seq 600); do
  state=$(sinfo -h -o %t 2>/dev/null | head -1 || true)
  [ "$state" = idle ] && break
  sleep 0.1
done
[ "$state" = idle ] || fail "Slurm's node is '${state:-unknown}', not idle, after 60 s: $(tail -c 1500 "$work/slurm/slurmctld.log" "$work/slurm/slurmd.log" 2>/dev/null)"

# The target: iolab's stub on loopback, answering at once.
: >"$work/stub.out"
timeout -s KILL 300 "$iolab" stub --listen 127.0.0.1:0 --delay 0s >"$work/stub.out" 2>"$work/stub.err" &
pids+=($!)
port=""
for _ in $(seq 600); do
  port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/stub.out")
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || fail "the stub did not start: $(cat "$work/stub.err")"
url=http://127.0.0.1:$port/
run=(run --target "$url" -c "$CONNECTIONS" -t 1 -d "${SECONDS_RUN}s" --warmup 0s --rate "$RATE"
  --format json)

# One process at the whole rate.
timeout -s KILL 120 "$iolab" "${run[@]}" >"$work/one.json" 2>"$work/one.err" ||
  fail "the single-process run failed: $(tail -c 1000 "$work/one.err")"

# Three segments under Slurm, by the shipped batch script: from 127.0.0.2-4, started together.
export TARGET=$url IOLAB=$iolab OUT=$work/out START_DELAY=10 SOURCES="127.0.0.2 127.0.0.3 127.0.0.4"
export RUN_ARGS="-c $CONNECTIONS -t 1 -d ${SECONDS_RUN}s --warmup 0s --rate $RATE"
timeout -s KILL 180 sbatch --wait --ntasks=3 --overcommit --output="$work/sbatch.out" \
  --export=ALL "$src/deploy/slurm/iolab-segments.sbatch" >"$work/sbatch.id" 2>&1 ||
  fail "the batch job failed: $(tail -c 1500 "$work/sbatch.id" "$work/sbatch.out" "$work"/out/*.err 2>/dev/null)"
for i in 0 1 2; do
  cp "$work/out/segment-$i.json" "$work/seg$i.json"
  grep -q "segment .* (from SLURM_PROCID)" "$work/out/segment-$i.err" ||
    fail "task $i did not take its segment from Slurm: $(head -c 500 "$work/out/segment-$i.err")"
done
cat "$work/out/merged.rst"
grep -q "^http://127.0.0.1:$port/ " "$work/out/merged.rst" || fail "the merged table has no row"
cp "$work/out/merged.json" "$work/merged.json"

/usr/bin/python3 - "$work" "$RATE" "$CONNECTIONS" <<'PY'
import json, sys
work, rate, connections = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
one = json.load(open(f"{work}/one.json"))[0]
merged = json.load(open(f"{work}/merged.json"))[0]
segs = [json.load(open(f"{work}/seg{i}.json"))[0] for i in range(3)]
def check(ok, what):
    if not ok:
        sys.exit("FAIL: " + what)
check(merged["spec"]["connections"] == connections, f"merged connections {merged['spec']['connections']}")
check(merged["spec"]["rate"] == rate, f"merged rate {merged['spec']['rate']}")
check(sum(s["spec"]["connections"] for s in segs) == connections, "segment connections do not add up")
check(len({s["spec"]["source"] for s in segs}) == 3, "the segments did not use three sources")
check(merged["requests"] == sum(s["requests"] for s in segs), "merged requests are not the sum")
check(merged["latency"]["count"] == sum(s["latency"]["count"] for s in segs), "histogram counts")
diff = abs(merged["requests"] - one["requests"]) / one["requests"]
print(f"one process: {one['requests']} requests; 3 segments merged: {merged['requests']} "
      f"({diff:.2%} apart)")
check(diff <= 0.01, f"merged {merged['requests']} vs one process {one['requests']}: {diff:.2%} apart")
for s in segs:
    skew_ms = s["start_skew_ns"] / 1e6
    print(f"segment {s['spec']['segment']['segment']} from {s['spec']['source']}: "
          f"{s['requests']} requests, start skew {skew_ms:.3f} ms")
    check(0 <= skew_ms < 50, f"segment {s['spec']['segment']['segment']} start skew {skew_ms} ms")
PY
echo "PASS"
