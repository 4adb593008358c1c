#!/usr/bin/env bash
# The folders' layering: each folder includes only itself and the folders below it. Fails
# naming every include that points up (or sideways). Usage: check_layering.sh SOURCE_DIR
set -euo pipefail
cd "$1"

# folder: the folders it may include besides itself (docs/architecture.md has the table).
declare -A allowed=(
  [core]=""
  [variants]="core"
  [loadgen]="core"
  [workers]="core variants"
  [store]="core"
  [lab]="core variants loadgen workers store"
  [daemon]="core variants loadgen workers store lab"
  [cli]="core variants loadgen workers store lab daemon"
)

bad=0
checked=0
for folder in "${!allowed[@]}"; do
  [ -d "$folder" ] || { echo "missing folder $folder"; bad=1; continue; }
  while IFS= read -r file; do
    while IFS= read -r line; do
      dep=${line#*\"}
      dep=${dep%%/*}
      checked=$((checked + 1))
      [ "$dep" = "$folder" ] && continue
      case " ${allowed[$folder]} " in
        *" $dep "*) ;;
        *) echo "$file: includes \"$dep/...\", above or beside $folder"; bad=1 ;;
      esac
    done < <(grep -E '^\s*#\s*include\s+"[a-z_]+/' "$file" || true)
  done < <(find "$folder" -name '*.h' -o -name '*.cc')
done
# A folder not in the table is a folder no one has placed.
for dir in */; do
  dir=${dir%/}
  if compgen -G "$dir/*.cc" >/dev/null && [ -z "${allowed[$dir]+x}" ]; then
    case "$dir" in tests | build* | bench | scripts) ;; *) echo "folder $dir is not in the layering table"; bad=1 ;; esac
  fi
done
[ "$checked" -gt 100 ] || { echo "only $checked includes found: is this the source tree?"; exit 1; }
[ "$bad" -eq 0 ] && echo "layering: $checked includes, none points up"
exit "$bad"
