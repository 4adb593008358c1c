#!/usr/bin/env bash
# The Grafana dashboards are valid JSON, every panel queries the templated Prometheus
# datasource, and the `variant` and `scenario` template variables exist.
# Usage: check_dashboards.sh DASHBOARDS_DIR
set -euo pipefail
dir=$1
n=0
for f in "$dir"/grafana/*.json; do
  jq -e . "$f" >/dev/null || { echo "FAIL: $f is not JSON" >&2; exit 1; }
  for var in datasource variant scenario; do
    jq -e --arg v "$var" '[.templating.list[].name] | index($v) != null' "$f" >/dev/null ||
      { echo "FAIL: $f lacks the template variable $var" >&2; exit 1; }
  done
  bad=$(jq -r '.panels[] | select(.datasource.uid != "${datasource}" or
               ([.targets[] | select(.datasource.uid != "${datasource}" or (.expr // "") == "")] | length) > 0)
               | .title' "$f")
  [ -z "$bad" ] || { echo "FAIL: $f: panels without the templated datasource or a query: $bad" >&2; exit 1; }
  n=$((n + 1))
done
[ "$n" -ge 2 ] || { echo "FAIL: expected the overview and the drill-down dashboards" >&2; exit 1; }
for f in "$dir"/provisioning/datasources/*.yaml "$dir"/provisioning/dashboards/*.yaml; do
  grep -q '^apiVersion: 1' "$f" || { echo "FAIL: $f is not a provisioning file" >&2; exit 1; }
done
echo "dashboards: $n dashboards check"
