#!/usr/bin/env bash
# Installs the build into a temporary prefix, builds tests/embed against it with
# find_package(iolab), and runs it. Usage: embed_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
ulimit -f 102400
build=$1
source=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
timeout -s KILL 60 cmake --install "$build" --prefix "$work/prefix" >/dev/null
test -x "$work/prefix/bin/iolab"
test -f "$work/prefix/etc/iolab/iolab.yaml"
test -f "$work/prefix/etc/iolab/experiments/nightly.yaml"
test -f "$work/prefix/share/iolab/systemd/iolab.service"
grep -q "ExecStart=$work/prefix/bin/iolab daemon" "$work/prefix/share/iolab/systemd/iolab.service"
timeout -s KILL 120 cmake -S "$source/tests/embed" -B "$work/build" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$work/prefix" >"$work/configure.log" 2>&1 || { cat "$work/configure.log"; exit 1; }
timeout -s KILL 240 cmake --build "$work/build" -j2 >"$work/build.log" 2>&1 || { tail -50 "$work/build.log"; exit 1; }
timeout -s KILL 60 "$work/build/embed" "$work/prefix/bin/iolab" "$work/state"
