#!/usr/bin/env bash
# No file of the project refers to anything outside it: no relative path into the design notes'
# shared folder, no issue number (the word and a number). The fuzz corpora are data, not docs.
# Usage: no_outside_refs.sh SOURCE_DIR
set -euo pipefail
cd "$1"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  files=$(git ls-files -co --exclude-standard)
else
  files=$(find . -type f -not -path './build*' -not -path './.git/*' | sed 's|^\./||')
fi
hits=$(printf '%s\n' "$files" | grep -v '^tests/fuzz/corpus/' | while IFS= read -r f; do
  [ -f "$f" ] && printf '%s\0' "$f"
done | xargs -0 grep -nIE '\.\./shared|\b[Ii]ssues? #?[0-9]+' -- || true)
if [ -n "$hits" ]; then
  echo "FAIL: references outside the project:" >&2
  echo "$hits" >&2
  exit 1
fi
echo "ok: $(printf '%s\n' "$files" | wc -l) files, none refers outside the project"
