"""same-objects.py A B: do two YAML streams hold the same Kubernetes objects (in any order)?
Used to check that `kubectl kustomize` on an --out-dir yields exactly the objects of the stream."""
import sys

import yaml


def objects(path):
    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    return sorted(docs, key=lambda d: (d["kind"], d["metadata"]["name"]))


a, b = objects(sys.argv[1]), objects(sys.argv[2])
if a != b:
    names = lambda docs: [f"{d['kind']}/{d['metadata']['name']}" for d in docs]
    print(f"different objects:\n  {sys.argv[1]}: {names(a)}\n  {sys.argv[2]}: {names(b)}")
    for x, y in zip(a, b):
        if x != y:
            print(f"  first difference in {x['kind']}/{x['metadata']['name']}")
            break
    sys.exit(1)
print(f"same {len(a)} objects: {sys.argv[1]} = {sys.argv[2]}")
