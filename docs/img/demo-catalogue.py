#!/usr/bin/env python3
"""Build a realistic catalogue to take the screenshots of docs/img/ from:

    python3 docs/img/demo-catalogue.py REPO [N] [--conflict]

makes REPO, a bare repository whose `main` holds N (default 2000) fragments
under catalogue/fragments/, not yet consolidated; then run
`git -C REPO catalogue consolidate` and docs/img/render.sh REPO.

The screenshots show what a reader of the forge sees, so the fragments look
like a team's: issue numbers with gaps, a few non-issue keys (nightly and
release runs), a `run` object, and 1-3 artifacts each with path, kind, title,
sha256 and bytes. A few fragments near both ends of the issue range (the top
of the oldest page and of the newest list) carry hostile strings: pipes,
backticks, raw HTML, a javascript: link, emphasis characters, a newline and
a bidirectional override. In the picture they must read as plain text, each
in its own cell of one row. `--conflict` adds a fragment that claims a path
another one claims, to show the conflicts section.

Deterministic: the same N gives the same objects (fixed dates and identity,
no random generator). Not part of the test suite.
"""
import hashlib
import json
import os
import subprocess
import sys

KINDS = (
    ("summary", "summary.md", "Summary for #{n}"),
    ("report", "report.html", "Test report for #{n}"),
    ("log", "build.log", "Build log of run {run}"),
    ("coverage", "coverage.json", "Coverage of {sha7}"),
    ("bundle", "site.tar.gz", "Preview site for #{n}"),
)

WORKFLOWS = ("agent-intake", "nightly", "agent-intake", "docs", "agent-intake")

# (title, kind, path suffix): each artifact field that a writer controls,
# made to break a Markdown table or add markup if it were not escaped.
HOSTILE = (
    ("Pipes | split | cells", "report", "pipes|in|path.md"),
    ("Uses `backticks` and ``double`` ones", "summary", "back`tick`.md"),
    ("<script>alert(1)</script> and <img src=x onerror=alert(2)>", "<b>html</b>", "<script>.html"),
    ("[click me](javascript:alert(1)) and ![img](x.png)", "link", "[x](javascript:y).md"),
    ("*emphasis* _under_ **strong** ~~strike~~ \\*escaped\\*", "summary", "a b/*star*_under_.md"),
    ("# not a heading\n- not a list\n> not a quote", "log", "# hash - dash > gt.log"),
    ("https://example.com/autolink www.example.com user@example.com #12", "report", "url.md"),
    ("right-to-left \u202eevil\u202c and zero\u200bwidth &amp; &lt;entity&gt;", "summary", "r\u00e9sum\u00e9 \u00fcn\u00efc\u00f6d\u00e9.pdf"),
)


def sha_hex(*parts) -> str:
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()


def artifact(n: int, i: int, run: int) -> dict:
    h = int(sha_hex("pick", n, i)[:8], 16)
    kind, name, title = KINDS[(n + i) % len(KINDS)]
    sha = sha_hex("commit", n)
    return {
        "path": f"docs/generated/{n}/{name}",
        "kind": kind,
        "title": title.format(n=n, run=run, sha7=sha[:7]),
        "sha256": sha_hex("blob", n, i),
        "bytes": 400 + h % 900_000,
    }


def fragment(n: int, hostile: int = -1) -> dict:
    h = int(sha_hex("frag", n)[:8], 16)
    run = 11_000_000_000 + n * 53 + h % 50
    count = (1, 1, 2, 2, 3)[h % 5]
    artifacts = [artifact(n, i, run) for i in range(count)]
    if hostile >= 0:
        title, kind, suffix = HOSTILE[hostile % len(HOSTILE)]
        artifacts[0].update(path=f"docs/generated/{n}/{suffix}", kind=kind, title=title)
    return {
        "issue": n,
        "run": {
            "id": run,
            "attempt": 1 + h % 3 // 2,
            "workflow": WORKFLOWS[h % len(WORKFLOWS)],
            "sha": sha_hex("commit", n)[:40],
        },
        "artifacts": artifacts,
    }


def fragments(count: int, conflict: bool):
    """(key, fragment) pairs: issue numbers with gaps (about one in eight
    issues has no run), a few keyed runs, hostile strings at both ends."""
    out = []
    n = 0
    while len(out) < count - 4:
        n += 1
        if int(sha_hex("gap", n)[:2], 16) < 32:
            continue
        out.append((f"issue-{n}", n))
    last = n
    low = [k for _, k in out[1:24:3]]
    high = [k for _, k in out[-24::3]]
    hostile = {k: j for j, k in enumerate(low)}
    hostile.update({k: j + 3 for j, k in enumerate(high)})
    result = [(key, fragment(k, hostile.get(k, -1))) for key, k in out]
    # Keys that are not issues: a writer uses `--key`, the issue is a string
    # or absent.
    result.append(("nightly-2026-11-30", {
        "run": {"id": 12_000_000_001, "workflow": "nightly"},
        "artifacts": [artifact(last + 1, 0, 12_000_000_001)],
    }))
    result.append(("release-v1.4.0", {
        "issue": "REL-14",
        "artifacts": [artifact(last + 2, i, 12_000_000_002) for i in range(3)],
    }))
    result.append(("nightly-2026-12-01", {
        "run": {"id": 12_000_000_003, "workflow": "nightly"},
        "artifacts": [artifact(last + 3, 1, 12_000_000_003)],
    }))
    empty = {"issue": last + 4, "run": {"id": 12_000_000_004}, "artifacts": []}
    result.append((f"issue-{last + 4}", empty))
    if conflict:
        claimed = result[-10][1]["artifacts"][0]["path"]
        result.append((f"issue-{last + 5}", {
            "issue": last + 5,
            "artifacts": [{"path": claimed, "kind": "report", "title": "Claims a path twice"}],
        }))
    return result


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if not args:
        sys.exit(__doc__)
    repo = args[0]
    count = int(args[1]) if len(args) > 1 else 2000
    conflict = "--conflict" in sys.argv[1:]
    env = dict(
        os.environ,
        GIT_CONFIG_GLOBAL="/dev/null",
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="Demo",
        GIT_AUTHOR_EMAIL="demo@example.com",
        GIT_AUTHOR_DATE="1764547200 +0000",
        GIT_COMMITTER_NAME="Demo",
        GIT_COMMITTER_EMAIL="demo@example.com",
        GIT_COMMITTER_DATE="1764547200 +0000",
    )
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", repo], check=True, env=env)
    for key, value in (("user.name", "Demo"), ("user.email", "demo@example.com")):
        subprocess.run(["git", "-C", repo, "config", key, value], check=True, env=env)
    stream = [b"commit refs/heads/main\n",
              b"committer Demo <demo@example.com> 1764547200 +0000\n"]
    msg = b"Fragments of the demo catalogue\n"
    stream.append(b"data %d\n%s" % (len(msg), msg))
    readme = b"# A project with a catalogue\n"
    stream.append(b"M 100644 inline README.md\ndata %d\n%s\n" % (len(readme), readme))
    for key, value in fragments(count, conflict):
        data = (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode()
        stream.append(b"M 100644 inline catalogue/fragments/%s.json\ndata %d\n%s\n"
                      % (key.encode(), len(data), data))
    stream.append(b"\ndone\n")
    subprocess.run(["git", "-C", repo, "fast-import", "--quiet", "--done"],
                   input=b"".join(stream), check=True, env=env)


if __name__ == "__main__":
    main()
