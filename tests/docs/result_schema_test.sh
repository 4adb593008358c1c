#!/usr/bin/env bash
# docs/result.schema.json against `iolab run --format json`: a closed-loop run, an open-loop run
# and a run whose every request fails (the upstream answers after the request timeout) validate;
# a run refused before it starts (nothing listens on the target) writes no JSON and exits non-zero.
# Usage: result_schema_test.sh IOLAB_BINARY SOURCE_DIR WORK_DIR
set -euo pipefail
iolab=$1 src=$2 work=$3
ulimit -f 10240
rm -rf "$work" && mkdir -p "$work"
fail() { echo "FAIL: $*" >&2; exit 1; }
short=(-c 4 -t 1 -d 1s --warmup 0s --workers 1 --format json)

timeout -s KILL 30 "$iolab" run --variant threads:2 --upstream-delay 5ms "${short[@]}" >"$work/closed.json" 2>"$work/closed.err" ||
  fail "closed loop: $(tail -c 1000 "$work/closed.err")"
timeout -s KILL 30 "$iolab" run --variant async --upstream-delay 5ms --rate 200 "${short[@]}" >"$work/open.json" 2>"$work/open.err" ||
  fail "open loop: $(tail -c 1000 "$work/open.err")"
timeout -s KILL 30 "$iolab" run --variant fiber --upstream-delay 300ms --timeout 50ms "${short[@]}" >"$work/failed.json" 2>"$work/failed.err" ||
  fail "failed requests: $(tail -c 1000 "$work/failed.err")"
if timeout -s KILL 30 "$iolab" run --target http://127.0.0.1:1/ "${short[@]}" >"$work/refused.json" 2>"$work/refused.err"; then
  fail "a run on a closed port exited 0"
fi
[ ! -s "$work/refused.json" ] || fail "a refused run wrote to stdout: $(head -c 300 "$work/refused.json")"
grep -q "cannot connect" "$work/refused.err" || fail "a refused run said: $(cat "$work/refused.err")"

/usr/bin/python3 - "$src/docs/result.schema.json" "$work" <<'PY'
import json, sys
import jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema)
failed = False
def check(name, condition, what):
    global failed
    if not condition:
        print(f"FAIL: {name}: {what}", file=sys.stderr)
        failed = True
for name in ("closed", "open", "failed"):
    rows = json.load(open(f"{sys.argv[2]}/{name}.json"))
    for e in validator.iter_errors(rows):
        check(name, False, f"{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}")
    if failed:
        continue
    row = rows[0]
    if name == "closed":
        check(name, row["spec"]["rate"] == 0 and row["requests"] > 0, "not a closed loop with answers")
    if name == "open":
        check(name, row["rate"]["requested"] == 200 and row["requests"] > 0, "not an open loop with answers")
    if name == "failed":
        check(name, row["requests"] == 0 and row["errors"]["timeout"] > 0, "requests did not all time out")
    print(f"{name}: valid, {row['requests']} requests, {row['errors']['total']} errors")
sys.exit(1 if failed else 0)
PY
