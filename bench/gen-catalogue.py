#!/usr/bin/env python3
"""Generate a catalogue of N fragments `catalogue/fragments/issue-<n>.json` on
refs/heads/main, plus a few unrelated files: the catalogue a team reaches after
N producer runs, not yet consolidated. Used by bench/consolidate.sh, in three
steps:

    python3 gen-catalogue.py blobs N  | git fast-import --quiet
    tree=$(python3 gen-catalogue.py tree N | git mktree)
    python3 gen-catalogue.py commit N "$tree" | git fast-import --quiet

`--shape realistic` before the step (bench/layouts.sh passes it to `blobs`
and `tree`) writes the fragments issue 16 measured instead: the same issue
and artifacts, with a `run` object of four fields (id, commit sha, workflow,
start time) and each artifact also carrying a `sha256` (64 hex digits) and a
`bytes` count, 410-850 bytes, 590 on average.

`blobs` writes the fragment blobs as a fast-import stream; `tree` prints the
fragments folder in `git mktree` input format, with the blob ids computed
here; `commit` writes the commit that puts that tree at catalogue/fragments.
Not one fast-import commit with N `M` lines: fast-import finds each path in
its in-memory directory by linear search, so 100,000 files in one folder take
18 s that way, against about 4 s for the three steps.

Each fragment is what `git catalogue record` writes (serde_json's pretty
layout, 2-space indent, trailing newline): an issue number, a `run` object of
two fields and 1-3 artifacts (1.8 on average) with path, kind and title,
240-480 bytes, 340 on average. The content is a deterministic function of n,
so every run builds the same objects. Written with string templates rather
than json.dumps, which would be several times slower.
"""
import hashlib
import sys

OTHERS = {
    "README.md": b"# A project with a catalogue\n",
    "src/main.py": b"print('hello')\n",
    ".github/workflows/consolidate.yml": b"name: consolidate\non: push\n",
}

KINDS = (
    ("summary", "summary.md", "Summary for #{n}"),
    ("report", "report.html", "Test report for #{n}"),
    ("log", "build.log", "Build log of run {run}"),
)


def fragment(n: int) -> bytes:
    # A cheap deterministic scramble of n, so neighbouring fragments differ
    # the way real runs do (ids, hashes) without a random generator.
    h = (n * 2654435761) & 0xFFFFFFFF
    run = 7_000_000_000 + n * 37
    count = (1, 1, 2, 2, 3)[h % 5]
    sha = f"{h:08x}{(h * 31) & 0xFFFFFFFF:08x}{(h ^ 0x5BD1E995):08x}{(h * 7) & 0xFFFFFFFF:08x}{n:08x}"
    artifacts = []
    for i in range(count):
        # Distinct kinds, so a fragment never claims one path twice.
        kind, name, title = KINDS[(h + i) % 3]
        artifacts.append(
            "    {\n"
            f'      "path": "docs/{n}/{name}",\n'
            f'      "kind": "{kind}",\n'
            f'      "title": "{title.format(n=n, run=run)}"\n'
            "    }"
        )
    return (
        "{\n"
        f'  "issue": {n},\n'
        '  "run": {\n'
        f'    "id": {run},\n'
        f'    "sha": "{sha}"\n'
        "  },\n"
        '  "artifacts": [\n' + ",\n".join(artifacts) + "\n  ]\n}\n"
    ).encode()


def realistic(n: int) -> bytes:
    # The short fragment's scramble, with real digests: sha1/sha256 of n are
    # as incompressible as a real commit id and artifact digest.
    h = (n * 2654435761) & 0xFFFFFFFF
    run = 7_000_000_000 + n * 37
    count = (1, 1, 2, 2, 3)[h % 5]
    commit_sha = hashlib.sha1(b"commit %d" % n).hexdigest()
    day, second = 1 + n % 28, (n * 7919) % 86400
    started = f"2026-11-{day:02d}T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}Z"
    artifacts = []
    for i in range(count):
        kind, name, title = KINDS[(h + i) % 3]
        digest = hashlib.sha256(b"artifact %d %d" % (n, i)).hexdigest()
        size = 1000 + (h >> (i * 5)) % 5_000_000
        artifacts.append(
            "    {\n"
            f'      "path": "docs/{n}/{name}",\n'
            f'      "kind": "{kind}",\n'
            f'      "title": "{title.format(n=n, run=run)}",\n'
            f'      "sha256": "{digest}",\n'
            f'      "bytes": {size}\n'
            "    }"
        )
    return (
        "{\n"
        f'  "issue": {n},\n'
        '  "run": {\n'
        f'    "id": {run},\n'
        f'    "sha": "{commit_sha}",\n'
        f'    "workflow": "{("build", "test", "docs")[h % 3]}.yml",\n'
        f'    "started": "{started}"\n'
        "  },\n"
        '  "artifacts": [\n' + ",\n".join(artifacts) + "\n  ]\n}\n"
    ).encode()


def blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def commit(tree: str, n_fragments: int) -> bytes:
    msg = f"import {n_fragments} fragments\n".encode()
    parts = [
        b"commit refs/heads/main\n",
        b"committer Bench <bench@example.com> 1700000000 +0000\n",
        b"data %d\n%s" % (len(msg), msg),
        b"M 040000 %s catalogue/fragments\n" % tree.encode(),
    ]
    for path, data in OTHERS.items():
        parts.append(b"M 100644 inline %s\ndata %d\n%s\n" % (path.encode(), len(data), data))
    parts.append(b"\ndone\n")
    return b"".join(parts)


def main() -> None:
    args = sys.argv[1:]
    make = fragment
    if args[:2] == ["--shape", "realistic"]:
        make, args = realistic, args[2:]
    elif args[:2] == ["--shape", "short"]:
        args = args[2:]
    what, n_fragments = args[0], int(args[1])
    out = sys.stdout.buffer
    if what == "commit":
        out.write(commit(args[2], n_fragments))
        return
    batch = []
    for n in range(1, n_fragments + 1):
        data = make(n)
        if what == "blobs":
            batch.append(b"blob\ndata %d\n%s\n" % (len(data), data))
        else:
            batch.append(b"100644 blob %s\tissue-%d.json\n" % (blob_id(data).encode(), n))
        if len(batch) == 4096:
            out.write(b"".join(batch))
            batch.clear()
    out.write(b"".join(batch))
    if what == "blobs":
        out.write(b"done\n")


if __name__ == "__main__":
    main()
