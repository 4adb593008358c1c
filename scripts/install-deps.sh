#!/usr/bin/env bash
# Installs the Debian 12 packages iolab builds, tests and benchmarks with.
# Idempotent: quiet and quick when everything is already present.
set -euo pipefail

packages=(
  build-essential cmake pkg-config clang-14 libclang-rt-14-dev
  libcpp-httplib-dev libboost-dev libboost-fiber-dev libboost-context-dev
  prometheus-cpp-dev libyaml-cpp-dev nlohmann-json3-dev libsqlite3-dev libcli11-dev
  libgtest-dev googletest
  wrk nginx libnginx-mod-http-echo curl procps time jq iproute2 chromium systemd prometheus
  stress-ng python3-jsonschema python3-yaml groff-base man-db python3-aiohttp gunicorn
  slurm-wlm munge
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
