#!/usr/bin/env python3
"""The other obvious alternative: one `git log -p --all` over the manifest,
collecting every path that appears on an added or removed line. Reads the
whole patch stream; run inside the repository."""
import re, subprocess, sys

path = sys.argv[1] if len(sys.argv) > 1 else "catalogue/manifest.json"
proc = subprocess.Popen(["git", "log", "-p", "--all", "--format=commit %H", "--", path],
                        stdout=subprocess.PIPE)
pat = re.compile(rb'^[+-]\s*\{"path": "([^"]+)"')
seen, versions = set(), 0
for line in proc.stdout:
    if line.startswith(b"commit "):
        versions += 1
    m = pat.match(line)
    if m:
        seen.add(m.group(1))
proc.wait()
print(f"{versions} versions, {len(seen)} paths")
