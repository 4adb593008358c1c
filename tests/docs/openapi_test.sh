#!/usr/bin/env bash
# docs/api/openapi.yaml against the daemon: the routes in daemon/api_*.cc and the spec's are the
# same set; the spec is OpenAPI 3.1 whose schemas are JSON Schema 2020-12 and whose examples hold;
# then a real daemon (loopback, port 0, a bearer token) answers every route, each status it can
# give without a fault, and every answer validates against the spec.
# Usage: openapi_test.sh IOLAB_BINARY SOURCE_DIR WORK_DIR
set -euo pipefail
iolab=$1 src=$2 work=$3
check=(/usr/bin/python3 "$src/tests/docs/openapi_check.py")
ulimit -f 10240
rm -rf "$work" && mkdir -p "$work/state" "$work/answers"
fail() { echo "FAIL: $*" >&2; exit 1; }

"${check[@]}" routes "$src"
"${check[@]}" spec "$src"

pid=""
cleanup() {
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}
trap cleanup EXIT

token=docs-test-token
echo "$token" >"$work/token"
chmod 600 "$work/token"
cat >"$work/iolab.yaml" <<YAML
api: {listen: "127.0.0.1:0", token_file: $work/token}
state_dir: $work/state
upstream: {profile: {delay: 5ms}}
load: {max_connections: 100, max_duration: 1m}
YAML
# The redirections are made by the background child: create the files first, so that the
# loop below never reads a file that is not there yet.
: >"$work/daemon.out"
: >"$work/daemon.err"
timeout -s KILL 120 "$iolab" daemon --config "$work/iolab.yaml" >"$work/daemon.out" 2>"$work/daemon.err" &
pid=$!
port=""
for _ in $(seq 600); do
  port=$(sed -n '1s/^iolab daemon listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$work/daemon.out")
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || fail "the daemon did not start: $(head -c 2000 "$work/daemon.err")"
api=http://127.0.0.1:$port
auth=(-H "Authorization: Bearer $token")
json=(-H "Content-Type: application/json")

# rec NAME METHOD PATH [curl arguments…]: the answer in answers/NAME.answer, its first line
# "METHOD PATH STATUS CONTENT-TYPE", then the body. Prints the body.
n=0
rec() {
  local name=$1 method=$2 path=$3
  shift 3
  n=$((n + 1))
  local file
  file=$(printf '%s/answers/%02d-%s' "$work" "$n" "$name")
  local meta
  meta=$(curl -s -m 20 -o "$file.body" -w '%{http_code} %{content_type}' -X "$method" "$@" "$api$path") ||
    fail "$name: curl $method $path failed"
  { echo "$method $path $meta"; cat "$file.body"; } >"$file.answer"
  rm -f "$file.body"
  tail -n +2 "$file.answer"
}
status_of() { head -1 "$(ls "$work"/answers/*-"$1".answer | tail -1)" | cut -d' ' -f3; }
expect() { [ "$(status_of "$1")" = "$2" ] || fail "$1: status $(status_of "$1"), expected $2"; }
state() { curl -s -m 5 "${auth[@]}" "$api/api/v1/runs/$1" | jq -r .state; }
# wait_state ID STATE…: until the run is in one of the states, 30 s at most.
wait_state() {
  local id=$1
  shift
  for _ in $(seq 300); do
    local s
    s=$(state "$id")
    for want in "$@"; do [ "$s" = "$want" ] && return 0; done
    sleep 0.1
  done
  fail "run $id stayed $(state "$id"), expected $*"
}

rec healthz GET /healthz >/dev/null
rec readyz-no-token GET /readyz >/dev/null
expect readyz-no-token 401
rec readyz GET /readyz "${auth[@]}" >/dev/null
rec variants-none GET /api/v1/variants "${auth[@]}" >/dev/null
rec variant-none GET /api/v1/variant "${auth[@]}" >/dev/null
expect variant-none 404
rec variant-delete-none DELETE /api/v1/variant "${auth[@]}" >/dev/null
expect variant-delete-none 204
rec upstream GET /api/v1/upstream "${auth[@]}" >/dev/null
rec upstream-put PUT /api/v1/upstream "${auth[@]}" "${json[@]}" -d '{"delay":"5ms"}' >/dev/null
expect upstream-put 200
rec upstream-unknown-field PUT /api/v1/upstream "${auth[@]}" "${json[@]}" -d '{"pause":"1s"}' >/dev/null
rec upstream-over PUT /api/v1/upstream "${auth[@]}" "${json[@]}" -d '{"delay":"2h"}' >/dev/null
expect upstream-over 422
rec upstream-text PUT /api/v1/upstream "${auth[@]}" -H 'Content-Type: text/plain' -d x >/dev/null
expect upstream-text 415
rec variant-missing PUT /api/v1/variant "${auth[@]}" "${json[@]}" -d '{"kind":"threads"}' >/dev/null
expect variant-missing 400
rec variant-unknown-kind PUT /api/v1/variant "${auth[@]}" "${json[@]}" -d '{"kind":"gevent"}' >/dev/null
rec variant-not-applicable PUT /api/v1/variant "${auth[@]}" "${json[@]}" -d '{"kind":"async","threads":4}' >/dev/null
expect variant-not-applicable 422
rec run-no-variant POST /api/v1/runs "${auth[@]}" "${json[@]}" -d '{"duration":"1s"}' >/dev/null
expect run-no-variant 409
rec variant-put PUT /api/v1/variant "${auth[@]}" "${json[@]}" -d '{"kind":"threads","threads":4,"workers":1}' >/dev/null
expect variant-put 200
rec variant GET /api/v1/variant "${auth[@]}" >/dev/null
rec variants GET /api/v1/variants "${auth[@]}" >/dev/null
rec metrics GET /metrics "${auth[@]}" >/dev/null
rec run-over-limit POST /api/v1/runs "${auth[@]}" "${json[@]}" -d '{"connections":1000}' >/dev/null
expect run-over-limit 422
rec run-bad-json POST /api/v1/runs "${auth[@]}" "${json[@]}" -d '{"connections":' >/dev/null
expect run-bad-json 400
rec run-wrong-type POST /api/v1/runs "${auth[@]}" "${json[@]}" -d '{"connections":"4"}' >/dev/null
rec run-bad-duration POST /api/v1/runs "${auth[@]}" "${json[@]}" -d '{"duration":"soon"}' >/dev/null
rec run-target-refused POST /api/v1/runs "${auth[@]}" "${json[@]}" -d '{"target":"http://10.1.2.3/"}' >/dev/null
expect run-target-refused 422
rec run-too-large POST /api/v1/runs "${auth[@]}" "${json[@]}" --data-binary @<(head -c 1100000 /dev/zero | tr '\0' ' ') >/dev/null
expect run-too-large 413

# A run that is cancelled while it runs (202, then cancelled with a result), one cancelled while
# queued (200), a failed one, and the refusals a running run causes.
a=$(rec run-post POST /api/v1/runs "${auth[@]}" "${json[@]}" -d '{"connections":4,"threads":1,"duration":"20s"}' | jq .id)
expect run-post 201
b=$(rec run-post-queued POST /api/v1/runs "${auth[@]}" "${json[@]}" -d '{"connections":4,"threads":1,"duration":"1s","rate":100}' | jq .id)
wait_state "$a" running
for _ in $(seq 600); do
  [ "$(curl -s "${auth[@]}" "$api/api/v1/runs/$a" | jq .progress.requests)" -gt 0 ] && break
  sleep 0.1
done
rec run-running GET "/api/v1/runs/$a" "${auth[@]}" >/dev/null
rec runs-while-running GET /api/v1/runs "${auth[@]}" >/dev/null
rec readyz-in-use GET /readyz "${auth[@]}" >/dev/null
rec variant-in-use PUT /api/v1/variant "${auth[@]}" "${json[@]}" -d '{"kind":"async","workers":1}' >/dev/null
expect variant-in-use 409
rec variant-delete-in-use DELETE /api/v1/variant "${auth[@]}" >/dev/null
expect variant-delete-in-use 409
rec upstream-during-run PUT /api/v1/upstream "${auth[@]}" "${json[@]}" -d '{"delay":"6ms"}' >/dev/null
expect upstream-during-run 409
rec run-report-running GET "/api/v1/runs/$a/report" "${auth[@]}" >/dev/null
expect run-report-running 409
rec run-cancel-queued DELETE "/api/v1/runs/$b" "${auth[@]}" >/dev/null
expect run-cancel-queued 200
rec run-cancel-running DELETE "/api/v1/runs/$a" "${auth[@]}" >/dev/null
expect run-cancel-running 202
wait_state "$a" cancelled
rec run-cancelled GET "/api/v1/runs/$a" "${auth[@]}" >/dev/null
rec run-cancel-again DELETE "/api/v1/runs/$a" "${auth[@]}" >/dev/null
expect run-cancel-again 409
for format in rst csv json svg html; do
  rec "run-report-$format" GET "/api/v1/runs/$a/report?format=$format&wide=true" "${auth[@]}" >/dev/null
  expect "run-report-$format" 200
done
rec run-report-bad-format GET "/api/v1/runs/$a/report?format=pdf" "${auth[@]}" >/dev/null
expect run-report-bad-format 400
rec run-report-unknown GET "/api/v1/runs/$a/report?colour=1" "${auth[@]}" >/dev/null
rec run-report-none GET "/api/v1/runs/$b/report" "${auth[@]}" >/dev/null
expect run-report-none 409
c=$(rec run-post-target POST /api/v1/runs "${auth[@]}" "${json[@]}" -d '{"target":"http://127.0.0.1:1/","duration":"1s"}' | jq .id)
wait_state "$c" failed
rec run-failed GET "/api/v1/runs/$c" "${auth[@]}" >/dev/null
rec runs GET /api/v1/runs "${auth[@]}" >/dev/null
rec runs-filtered GET "/api/v1/runs?limit=2&variant=threads:4" "${auth[@]}" >/dev/null
rec runs-bad-limit GET "/api/v1/runs?limit=0" "${auth[@]}" >/dev/null
expect runs-bad-limit 400
rec runs-unknown-parameter GET "/api/v1/runs?sort=id" "${auth[@]}" >/dev/null
rec run-not-number GET /api/v1/runs/abc "${auth[@]}" >/dev/null
expect run-not-number 404
rec run-unknown DELETE /api/v1/runs/999 "${auth[@]}" >/dev/null
expect run-unknown 404

# An experiment (one row, 1 s), its reports and the history it leaves; the refusals of a body.
cat >"$work/experiment.yaml" <<YAML
name: docs-openapi
upstream: {delay: 5ms}
load: {connections: 4, threads: 1, duration: 1s}
variants:
  - {kind: async, workers: 1}
YAML
e=$(rec experiment-post POST /api/v1/experiments "${auth[@]}" -H 'Content-Type: application/yaml' --data-binary @"$work/experiment.yaml" | jq .id)
expect experiment-post 201
row=$(curl -s "${auth[@]}" "$api/api/v1/experiments/$e" | jq '.runs[0].id')
wait_state "$row" done
rec experiment GET "/api/v1/experiments/$e" "${auth[@]}" >/dev/null
rec experiment-report GET "/api/v1/experiments/$e/report" "${auth[@]}" >/dev/null
rec experiment-report-json GET "/api/v1/experiments/$e/report?format=json" "${auth[@]}" >/dev/null
rec experiment-report-bad GET "/api/v1/experiments/$e/report?wide=maybe" "${auth[@]}" >/dev/null
expect experiment-report-bad 400
rec experiment-unknown GET /api/v1/experiments/999 "${auth[@]}" >/dev/null
expect experiment-unknown 404
rec experiment-unknown-report GET /api/v1/experiments/0/report "${auth[@]}" >/dev/null
rec experiment-text POST /api/v1/experiments "${auth[@]}" -H 'Content-Type: text/plain' -d x >/dev/null
expect experiment-text 415
rec experiment-bad-yaml POST /api/v1/experiments "${auth[@]}" -H 'Content-Type: application/yaml' -d 'name: [' >/dev/null
expect experiment-bad-yaml 400
rec experiment-invalid POST /api/v1/experiments "${auth[@]}" "${json[@]}" -d '{"name":"x"}' >/dev/null
expect experiment-invalid 422
rec history GET /api/v1/history/docs-openapi "${auth[@]}" >/dev/null
rec history-unknown GET /api/v1/history/none-such "${auth[@]}" >/dev/null
rec regressions GET /api/v1/regressions "${auth[@]}" >/dev/null
rec compare GET "/api/v1/compare?base=$e&new=$e" "${auth[@]}" >/dev/null
expect compare 200
rec compare-text GET "/api/v1/compare?base=$e&new=run:$row&format=rst" "${auth[@]}" >/dev/null
rec compare-missing GET "/api/v1/compare?base=$e" "${auth[@]}" >/dev/null
expect compare-missing 400
rec compare-unknown GET "/api/v1/compare?base=$e&new=999" "${auth[@]}" >/dev/null
expect compare-unknown 404
rec unknown-path GET /api/v2/nothing "${auth[@]}" >/dev/null
expect unknown-path 404
rec variant-delete DELETE /api/v1/variant "${auth[@]}" >/dev/null
expect variant-delete 204

"${check[@]}" answers "$src" "$work/answers"
echo "ok: $(ls "$work"/answers | wc -l) answers"
