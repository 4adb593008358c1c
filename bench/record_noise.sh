#!/usr/bin/env bash
# Records the verdicts' noise fixture on this machine: TRIALS identical short runs (default 50)
# of each of a few rows of the nightly suite, interleaved (closed loop on /remote for async and
# threads:32, closed loop on /plaintext, open loop at 2,000 req/s), servers on 127.0.0.1 only.
# Keeps only each run's summary numbers: row,trial,rps,p50_ms,p99_ms,requests.
#
#   bench/record_noise.sh > tests/data/verdicts_noise.csv     # ~15 min on 2 busy cores
#   TRIALS=10 DURATION=1s bench/record_noise.sh > /tmp/noise.csv
set -euo pipefail
cd "$(dirname "$0")/.."
IOLAB=${IOLAB:-build/iolab}
TRIALS=${TRIALS:-50}
DURATION=${DURATION:-2s}
source bench/lib.sh
require "$IOLAB" jq
cat >"$work/noise.yaml" <<YAML
name: noise
upstream: {delay: 5ms}
load: {connections: 32, threads: 1, duration: $DURATION, warmup: 300ms, timeout: 5s}
trials: $TRIALS
variants:
  - {kind: async, workers: 1, scenario: remote}
  - {kind: threads, threads: 32, workers: 1, scenario: remote}
  - {kind: async, workers: 1, scenario: plaintext, path: /plaintext}
  - {kind: threads, threads: 32, workers: 1, scenario: open-loop, rate: 2000}
YAML
timeout -s INT $((TRIALS * 4 * 30 + 60)) "$IOLAB" experiment "$work/noise.yaml" --format json \
  >"$work/noise.json" 2>"$work/noise.err" || die "the runs failed: $(tail -3 "$work/noise.err")"
to_csv() {
  jq -r '.[] | [(if .spec.rate > 0 then "open-loop " elif (.target | test("/plaintext$"))
                 then "plaintext " else "remote " end) + .variant,
                .trial, .rps, .latency_ms.p50, .latency_ms.p99, .requests] | @csv' "$1" |
    tr -d '"'
}
echo "row,trial,rps,p50_ms,p99_ms,requests"
to_csv "$work/noise.json"
