#!/usr/bin/python3
"""docs/metrics.md against a scrape: every family of the scrape is in the doc's table with its
type and labels, and every family of the table is in the scrape, except those present "only
while" something holds, which must then be declared in daemon/metrics.cc.
Usage: metrics_doc_check.py SOURCE_DIR SCRAPE_FILE"""
import pathlib
import re
import sys

src, scrape = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]).read_text()
doc = (src / "docs/metrics.md").read_text()
failures = []

documented = {}
for name, kind, labels, present in re.findall(
        r"^\| `(iolab_\w+)` \| (\w+) \| ([^|]*) \|[^|]*\| ([^|]*) \|$", doc, re.M):
    documented[name] = (kind, frozenset(re.findall(r"`(\w+)`", labels)), present.strip())

types = dict(re.findall(r"^# TYPE (\w+) (\w+)$", scrape, re.M))
scraped = {name: set() for name in types}
for name, labels in re.findall(r"^(\w+)(?:\{([^}]*)\})? \S+$", scrape, re.M):
    family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in types else name
    if family not in scraped:
        failures.append(f"sample {name} has no # TYPE")
        continue
    scraped[family] |= set(re.findall(r'(\w+)="', labels or "")) - {"le"}

for name in sorted(scraped.keys() - documented.keys()):
    failures.append(f"{name} is scraped but not in docs/metrics.md")
for name, (kind, labels, present) in sorted(documented.items()):
    if name not in scraped:
        if present.startswith("only while") and f'"{name}"' in (src / "daemon/metrics.cc").read_text():
            continue
        failures.append(f"{name} is in docs/metrics.md but not in the scrape")
        continue
    if kind != types[name]:
        failures.append(f"{name}: docs/metrics.md says {kind}, the scrape {types[name]}")
    if labels != scraped[name]:
        failures.append(f"{name}: docs/metrics.md labels {sorted(labels)}, "
                        f"the scrape's {sorted(scraped[name])}")
if len(documented) < 10:
    failures.append(f"only {len(documented)} metrics read from docs/metrics.md's table")

for f in failures:
    print("FAIL:", f, file=sys.stderr)
print(f"metrics: {len(scraped)} families scraped, {len(documented)} documented")
sys.exit(1 if failures else 0)
