#!/usr/bin/env python3
"""Write a git fast-import stream: a linear history of COMMITS commits on main,
every STEP-th of which rewrites catalogue/manifest.json in the old racing
design's legacy array format (one entry added each time; every 10th version
rewrites from a stale base and drops the previous entry). Other commits touch
an unrelated file. Used by bench/history.sh."""
import sys

commits = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
step = int(sys.argv[2]) if len(sys.argv) > 2 else 5
out = sys.stdout.buffer
entries = []
t = 1_700_000_000
mark = 0
for n in range(1, commits + 1):
    t += 60
    mark += 1
    files = []
    if n % step == 0:
        version = n // step
        if version % 10 == 0 and entries:
            entries.pop()  # a stale-base rewrite drops the previous entry
        entries.append({"path": f"docs/{version}/summary.md", "issue": version, "kind": "summary"})
        body = "[\n" + ",\n".join(
            '  {"path": "%s", "issue": %d, "kind": "summary"}' % (e["path"], e["issue"]) for e in entries
        ) + "\n]\n"
        files.append(("catalogue/manifest.json", body.encode()))
    else:
        files.append(("src/counter.txt", f"{n}\n".encode()))
    msg = f"commit {n}\n".encode()
    out.write(b"commit refs/heads/main\n")
    out.write(b"mark :%d\n" % mark)
    out.write(b"committer Bench <bench@example.com> %d +0000\n" % t)
    out.write(b"data %d\n%s" % (len(msg), msg))
    if mark > 1:
        out.write(b"from :%d\n" % (mark - 1))
    for path, data in files:
        out.write(b"M 100644 inline %s\n" % path.encode())
        out.write(b"data %d\n%s\n" % (len(data), data))
out.write(b"done\n")
