#!/usr/bin/python3
"""docs/config.md against the code: the keys parsed in daemon/config.cc (from its require_map
calls) and the keys of the doc's table are the same set; a key is marked `live` in the table's
reload column exactly when Daemon::reload (daemon/daemon.cc) applies it.
Usage: config_doc_check.py SOURCE_DIR"""
import pathlib
import re
import sys

src = pathlib.Path(sys.argv[1])
code = (src / "daemon/config.cc").read_text()
reload_code = (src / "daemon/daemon.cc").read_text()
doc = (src / "docs/config.md").read_text()
failures = []

# r.require_map(node, "SECTION", {"key", …}): every key of every section, dotted.
sections = {}
for section, keys in re.findall(r'require_map\(\s*\w+,\s*"([^"]*)",\s*\{([^}]*)\}', code):
    sections[section] = re.findall(r'"([^"]+)"', keys)
if "" not in sections or len(sections) < 5:
    sys.exit(f"FAIL: found only the sections {sorted(sections)} in daemon/config.cc")
parsed = set()
for section, keys in sections.items():
    for key in keys:
        full = f"{section}.{key}" if section else key
        if full not in sections:  # a section itself is not a key
            parsed.add(full)

# The table: | `key` | default | meaning | reload |
documented = {}
for row in re.findall(r"^\| `([a-z_.]+)` \|(.*)$", doc, re.M):
    key, rest = row
    documented[key] = rest.rstrip(" |").split("|")[-1].strip()

for key in sorted(parsed - documented.keys()):
    failures.append(f"{key} is parsed in daemon/config.cc but not in docs/config.md")
for key in sorted(documented.keys() - parsed):
    failures.append(f"{key} is in docs/config.md but daemon/config.cc does not parse it")

# Daemon::reload: "KEY: applied" lines and reload_upstream's "upstream.profile: applied".
body = reload_code[reload_code.index("Daemon::reload("):]
live_prefixes = set(re.findall(r'"([a-z_.]+): applied', body))
for key, reload in documented.items():
    live = any(key == p or key.startswith(p + ".") for p in live_prefixes)
    says_live = reload.startswith("live")
    if live != says_live:
        failures.append(f"{key}: docs/config.md says '{reload}', Daemon::reload "
                        f"{'applies it live' if live else 'does not apply it'}")

for f in failures:
    print("FAIL:", f, file=sys.stderr)
print(f"config: {len(parsed)} keys parsed, {len(documented)} documented, "
      f"live on reload: {sorted(live_prefixes)}")
sys.exit(1 if failures else 0)
