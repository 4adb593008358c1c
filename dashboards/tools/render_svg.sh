#!/usr/bin/env bash
# Renders two panels of the overview dashboard (req/s and server p99 by variant) from a live
# Prometheus to an SVG, for docs/metrics.md: what Grafana shows, without Grafana.
# Usage: render_svg.sh PROMETHEUS_URL SECONDS OUT.svg
set -euo pipefail
prom=$1 seconds=$2 out=$3
end=$(date +%s)
start=$((end - seconds))
range() {
  curl -fs --max-time 10 --data-urlencode "query=$1" --data-urlencode "start=$start" \
    --data-urlencode "end=$end" --data-urlencode "step=1" "$prom/api/v1/query_range"
}
rps=$(range 'sum by (variant) (rate(iolab_server_requests_total[5s]))')
p99=$(range 'histogram_quantile(0.99, sum by (variant, le) (rate(iolab_server_request_duration_seconds_bucket[5s]))) * 1000')
jq -rn --argjson rps "$rps" --argjson p99 "$p99" --argjson start "$start" --argjson span "$seconds" '
  def colors: ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd"];
  def clean: [.[] | {variant: .metric.variant,
                     points: [.values[] | select(.[1] != "NaN") | [.[0], (.[1] | tonumber)]]}
              | select(.points | length > 0)];
  def panel($series; $title; $unit; $x0):
    ($series | map(.points[][1]) | max // 1) as $ymax
    | ($ymax * 1.1) as $top
    | "<g transform=\"translate(\($x0),30)\">"
      + "<rect width=\"420\" height=\"240\" fill=\"#fafafa\" stroke=\"#ccc\"/>"
      + "<text x=\"10\" y=\"-10\" font-size=\"14\">\($title)</text>"
      + "<text x=\"5\" y=\"12\" font-size=\"10\" fill=\"#666\">\($top | floor) \($unit)</text>"
      + "<text x=\"5\" y=\"236\" font-size=\"10\" fill=\"#666\">0</text>"
      + ([$series | to_entries[] | .key as $i | .value as $s
          | "<polyline fill=\"none\" stroke-width=\"2\" stroke=\"\(colors[$i % 5])\" points=\""
            + ([$s.points[] | "\(((.[0] - $start) / $span * 420) | floor),\((240 - .[1] / $top * 240) | floor)"]
               | join(" "))
            + "\"/><text x=\"\(10 + $i * 120)\" y=\"260\" font-size=\"12\" fill=\"\(colors[$i % 5])\">\($s.variant)</text>"]
         | join(""))
      + "</g>";
  ($rps.data.result | clean) as $r | ($p99.data.result | clean) as $p
  | "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"900\" height=\"310\" font-family=\"sans-serif\">"
    + panel($r; "Requests per second by variant"; "req/s"; 10)
    + panel($p; "Server p99 by variant (ms)"; "ms"; 460)
    + "<text x=\"10\" y=\"305\" font-size=\"11\" fill=\"#666\">last \($span) s, from Prometheus scraping iolab /metrics every second</text>"
    + "</svg>"' >"$out"
