#!/usr/bin/env python3
"""deploy/kubernetes/*.yaml against what Kubernetes requires of them (no cluster runs here):
every document has apiVersion, kind and metadata.name; the segments Job is an Indexed Job whose
completions equal its parallelism and the --segments count of its command, whose pods never
restart in place (restartPolicy Never or OnFailure), write to the volume the merge Job reads, and
take their index from JOB_COMPLETION_INDEX; every container has a name, an image and a command;
every volume's claim is declared. Usage: kubernetes_manifests.py SOURCE_DIR"""
import glob
import re
import sys

import yaml

src = sys.argv[1]
errors = []
docs = {}
for path in sorted(glob.glob(f"{src}/deploy/kubernetes/*.yaml")):
    for doc in yaml.safe_load_all(open(path)):
        if doc is None:
            continue
        name = f"{path.split('/')[-1]}: {doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        for key in ("apiVersion", "kind", "metadata"):
            if key not in doc:
                errors.append(f"{name}: no {key}")
        if not doc.get("metadata", {}).get("name"):
            errors.append(f"{name}: no metadata.name")
        docs[(doc.get("kind"), doc.get("metadata", {}).get("name"))] = (name, doc)


def pod_spec(name, job):
    if job.get("apiVersion") != "batch/v1":
        errors.append(f"{name}: apiVersion must be batch/v1")
    spec = job.get("spec", {}).get("template", {}).get("spec", {})
    if spec.get("restartPolicy") not in ("Never", "OnFailure"):
        errors.append(f"{name}: a Job's pods need restartPolicy Never or OnFailure")
    containers = spec.get("containers") or []
    if not containers:
        errors.append(f"{name}: no containers")
    for c in containers:
        for key in ("name", "image"):
            if not c.get(key):
                errors.append(f"{name}: a container has no {key}")
        if not c.get("command") and not c.get("args"):
            errors.append(f"{name}: container {c.get('name')} has no command")
    claims = set()
    for v in spec.get("volumes") or []:
        claim = v.get("persistentVolumeClaim", {}).get("claimName")
        if claim:
            claims.add(claim)
            if ("PersistentVolumeClaim", claim) not in docs:
                errors.append(f"{name}: volume {v.get('name')} claims {claim}, not declared")
    return spec, claims


segments = docs.get(("Job", "iolab-segments"))
merge = docs.get(("Job", "iolab-merge"))
if not segments or not merge:
    errors.append("deploy/kubernetes needs the Jobs iolab-segments and iolab-merge")
else:
    name, job = segments
    spec = job["spec"]
    if spec.get("completionMode") != "Indexed":
        errors.append(f"{name}: completionMode must be Indexed (pods get JOB_COMPLETION_INDEX)")
    completions = spec.get("completions")
    if not isinstance(completions, int) or completions < 1:
        errors.append(f"{name}: an Indexed Job needs completions (a positive integer)")
    if spec.get("parallelism") != completions:
        errors.append(f"{name}: parallelism must equal completions, so every segment runs at once")
    pod, seg_claims = pod_spec(name, job)
    command = " ".join(" ".join(c.get("command", []) + c.get("args", [])) for c in pod["containers"])
    m = re.search(r"--segments (\d+)", command)
    if not m or int(m.group(1)) != completions:
        errors.append(f"{name}: the command's --segments must be completions ({completions})")
    for needed in ("JOB_COMPLETION_INDEX", "--start-at", "--format json", "iolab run"):
        if needed not in command:
            errors.append(f"{name}: the command lacks {needed}")
    mname, mjob = merge
    _, merge_claims = pod_spec(mname, mjob)
    if not seg_claims or seg_claims != merge_claims:
        errors.append("the merge Job must read the volume the segments write")
    mcommand = " ".join(" ".join(c.get("command", []) + c.get("args", []))
                        for c in mjob["spec"]["template"]["spec"]["containers"])
    if "iolab merge" not in mcommand:
        errors.append(f"{mname}: its command does not run iolab merge")

if errors:
    print("\n".join("FAIL: " + e for e in errors))
    sys.exit(1)
print(f"{len(docs)} Kubernetes documents checked")
