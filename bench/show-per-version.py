#!/usr/bin/env python3
"""The obvious alternative to `repair`'s history scan: list the commits that
touched the manifest, then one `git show` per version, parsed as JSON. Prints
how many versions and distinct paths it saw. Run inside the repository."""
import json, subprocess, sys

path = sys.argv[1] if len(sys.argv) > 1 else "catalogue/manifest.json"
commits = subprocess.run(["git", "log", "--all", "--format=%H", "--", path],
                         check=True, capture_output=True, text=True).stdout.split()
seen = set()
for c in commits:
    blob = subprocess.run(["git", "show", f"{c}:{path}"], capture_output=True).stdout
    try:
        data = json.loads(blob)
    except ValueError:
        continue
    items = data if isinstance(data, list) else data.get("artifacts", [])
    seen.update(i.get("path") for i in items if isinstance(i, dict))
print(f"{len(commits)} versions, {len(seen)} paths")
