#!/usr/bin/env bash
# `systemd-analyze verify` on every unit in systemd/, with the installed binary path replaced by
# the build's binary (verify checks that ExecStart exists). Any message fails the test: verify
# exits 0 on unknown keys and only warns.
# Usage: verify_units.sh IOLAB_BINARY SOURCE_DIR
set -euo pipefail
ulimit -f 10240
binary=$1
source_dir=$2
command -v systemd-analyze >/dev/null || { echo "systemd-analyze is missing (apt-get install systemd)"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
units=()
for unit in "$source_dir"/systemd/*.service "$source_dir"/systemd/*.timer; do
  sed "s#/usr/local/bin/iolab#$binary#g" "$unit" >"$work/$(basename "$unit")"
  units+=("$work/$(basename "$unit")")
done
# What the units promise (docs/operations.md), beyond what verify checks.
require() {
  grep -qx -- "$2" "$work/$1" || { echo "FAIL: $1 lacks '$2'"; exit 1; }
}
for unit in iolab.service iolab-nightly.service iolab-nightly.timer; do
  require "$unit" "Documentation=man:iolab(1)"
done
require iolab.service "Type=notify"
require iolab.service "Restart=on-failure"
require iolab.service "DynamicUser=yes"
require iolab.service "StateDirectory=iolab"
require iolab.service "ProtectSystem=strict"
require iolab.service "NoNewPrivileges=yes"
require iolab.service "PrivateTmp=yes"
require iolab.service "LimitNOFILE=65536"
require iolab.service 'ExecReload=/bin/kill -HUP $MAINPID'
require iolab-nightly.service "Type=oneshot"
require iolab-nightly.timer "Persistent=true"
grep -q "^OnCalendar=" "$work/iolab-nightly.timer" || { echo "FAIL: no OnCalendar="; exit 1; }
grep -q "^RandomizedDelaySec=" "$work/iolab-nightly.timer" || { echo "FAIL: no RandomizedDelaySec="; exit 1; }
grep -q "experiment /etc/iolab/experiments/nightly.yaml --daemon " "$work/iolab-nightly.service" ||
  { echo "FAIL: the nightly service does not run the nightly suite"; exit 1; }

# verify runs `man` on each Documentation=man: page: the page as `cmake --install` places it.
mkdir -p "$work/man/man1"
cp "$source_dir/docs/iolab.1" "$work/man/man1/"
cd "$work"
set +e
output=$(MANPATH="$work/man" SYSTEMD_LOG_LEVEL=notice timeout -s KILL 60 systemd-analyze verify "${units[@]}" 2>&1)
rc=$?
set -e
[ -n "$output" ] && echo "$output"
if [ $rc -ne 0 ] || [ -n "$output" ]; then
  echo "FAIL: systemd-analyze verify (exit $rc) on ${#units[@]} units"
  exit 1
fi
echo "OK: systemd-analyze verify on ${#units[@]} units: ${units[*]##*/}"
