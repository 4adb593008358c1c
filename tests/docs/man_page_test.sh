#!/usr/bin/env bash
# docs/iolab.1 against the binary: it renders without a groff warning, and every command (each
# add_subcommand in cli/, hidden ones too) has a section in which every flag of its --help appears.
# Usage: man_page_test.sh IOLAB_BINARY SOURCE_DIR
set -euo pipefail
iolab=$1 src=$2
page=$src/docs/iolab.1
fail=0
warnings=$(groff -man -Tutf8 -ww -z "$page" 2>&1) || true
[ -z "$warnings" ] || { echo "FAIL: groff warns: $warnings" >&2; fail=1; }
commands=$(grep -ho 'add_subcommand("[a-z]*"' "$src"/cli/*.cc | sed 's/.*("\(.*\)"/\1/' | sort -u)
[ "$(echo "$commands" | wc -w)" -ge 7 ] || { echo "FAIL: commands found: $commands" >&2; exit 1; }
for cmd in $commands; do
  # The command's section: from ".SS iolab CMD" to the next .SS or .SH, roff escapes undone.
  section=$(awk -v c="$cmd" '/^\.S[SH]/ { on = ($1 == ".SS" && $2 == "iolab" && $3 == c); next } on' "$page" |
    sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g')
  [ -n "$section" ] || { echo "FAIL: no section 'iolab $cmd' in docs/iolab.1" >&2; fail=1; continue; }
  flags=$(timeout 10 "$iolab" "$cmd" --help | grep -oE '(^|[ ,])--?[a-zA-Z][a-zA-Z-]*' | sed 's/^[ ,]//' |
    grep -vxE -- '-h|--help' | sort -u)
  for flag in $flags; do
    grep -qE -- "(^|[^a-zA-Z-])$flag([^a-zA-Z-]|$)" <<<"$section" ||
      { echo "FAIL: iolab $cmd $flag is not in its section of docs/iolab.1" >&2; fail=1; }
  done
  echo "iolab $cmd: $(echo $flags | wc -w) flags"
done
exit $fail
