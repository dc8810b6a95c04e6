"""Materialise the ConfigMaps of an `sts-gen -o json` List as directories: DIR/<name>/<key>."""
import json
import os
import sys

manifest, out = sys.argv[1], sys.argv[2]
for item in json.load(open(manifest))["items"]:
    if item["kind"] == "ConfigMap":
        d = os.path.join(out, item["metadata"]["name"])
        os.makedirs(d, exist_ok=True)
        for key, text in item["data"].items():
            with open(os.path.join(d, key), "w") as f:
                f.write(text)
