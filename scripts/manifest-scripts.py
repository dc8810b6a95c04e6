"""Write each script carried by Kubernetes manifests to DIR/NNN.sh (shell) or DIR/NNN.js
(JavaScript, e.g. mongosh), its origin beside it in NNN.*.origin, and print the number of
documents read. Used by validate-manifests."""
import os
import sys

import yaml

out, paths = sys.argv[1], sys.argv[2:]
count = 0
documents = 0


def write(text, origin, language):
    global count
    count += 1
    path = os.path.join(out, f"{count:03}.{'js' if language == 'js' else 'sh'}")
    if language != "js" and not text.startswith("#!"):
        text = f"#!/bin/{language}\n{text}"
    with open(path, "w") as f:
        f.write(text)
    with open(path + ".origin", "w") as f:
        f.write(origin + "\n")


def pod_spec(doc):
    spec = doc.get("spec") or {}
    kind = doc.get("kind")
    if kind == "Pod":
        return spec
    if kind == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    return ((spec.get("template") or {}).get("spec")) or {}


for p in paths:
    with open(p) as f:
        for doc in yaml.safe_load_all(f):
            if not isinstance(doc, dict):
                continue
            documents += 1
            where = f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"
            if doc.get("kind") == "ConfigMap":
                for key, text in sorted((doc.get("data") or {}).items()):
                    if not isinstance(text, str):
                        continue
                    if key.endswith(".js"):
                        write(text, f"{where} key {key}", "js")
                    elif key.endswith(".sh") or text.startswith("#!"):
                        write(text, f"{where} key {key}", "bash")
            spec = pod_spec(doc)
            for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
                argv = [str(a) for a in (c.get("command") or []) + (c.get("args") or [])]
                shell = os.path.basename(argv[0]) if argv else ""
                if shell in ("sh", "bash") and "-c" in argv[1:-1]:
                    write(argv[argv.index("-c", 1) + 1], f"{where} container {c.get('name')}", shell)
print(documents)
