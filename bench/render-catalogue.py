#!/usr/bin/env python3
"""The consolidation a team would script instead of using git-catalogue: read
every fragment, write manifest.json, the front page index.md and the pages
index/<first key>.md. The two baselines of bench/consolidate.sh run it:

    # git plumbing: fragments come as `git cat-file --batch` output on stdin,
    # in the order of LIST (`git ls-tree` output of the fragments folder)
    render-catalogue.py batch LIST SOURCE OUTDIR [ISSUE_URL]
    # checkout and script: fragments are files in a checked-out folder
    render-catalogue.py dir FRAGMENTS_DIR SOURCE OUTDIR [ISSUE_URL]

SOURCE is the fragments tree's id, recorded in the manifest; ISSUE_URL the
git config `catalogue.issueUrl`, if any (a template derived from a GitHub or
GitLab `origin` is not guessed here: the benchmark's repositories have no
origin). The output follows docs/format.md sections 2 and 3 and
git-catalogue's code (src/core/render/, src/core/index/) closely enough to be
byte-identical, conflicts included, which the benchmark checks: both
baselines then do the same job as the tool. Fragments are checked as far as
that job needs (a JSON object, an `artifacts` list of objects with a string
`path`). Numbers are re-printed by Python, where the tool keeps their text
verbatim: the same for integers, not always for floats (`1.50`, `1e5`),
which the generator does not write.
"""
import json
import os
import re
import sys

DIGITS = re.compile(r"[0-9]+|.", re.S)


def natural_key(key: str):
    """The natural order of docs/format.md as a sort key: a digit run compares by value,
    then by length, and against a character as if it were '0'; full ties fall
    back to bytes."""
    tokens = []
    for tok in DIGITS.findall(key):
        if tok[0].isdigit() and tok.isascii():
            value = tok.lstrip("0")
            tokens.append((ord("0"), len(value), value, len(tok)))
        else:
            tokens.append((ord(tok), 0, "", 0))
    return (tokens, key.encode())


def compact(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# The paged index (docs/format.md 3.1, 3.2; src/core/index/pages.rs).
PAGE_FRAGMENTS = 1000
BOUNDARY_MODULUS = 512
NEWEST = 50
KINDS_SHOWN = 20
CLAIMS_SHOWN = 50
CLAIM_BYTES = 40_000
PAGES_LISTED = 300
FRONT_CELL_CHARS = 100
PAGE_LIST = "_pages.md"
PAGE_HEAD = "| Issue | Artifact | Kind | Title |\n| --- | --- | --- | --- |\n"
CONFLICTS_HEAD = "| Issue | Fragment | Contested artifact | Kind | Title |\n| --- | --- | --- | --- | --- |\n"
MASK64 = 0xFFFFFFFFFFFFFFFF


def fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & MASK64
    return h


def paginate(keys):
    """The lengths of the pages: a page ends after a key whose FNV-1a hash
    is 0 modulo 512, or after its 1,000th fragment."""
    lengths = []
    open_ = 0
    for key in keys:
        open_ += 1
        if open_ == PAGE_FRAGMENTS or fnv1a64(key.encode()) % BOUNDARY_MODULUS == 0:
            lengths.append(open_)
            open_ = 0
    if open_:
        lengths.append(open_)
    return lengths


def plural(n: int, one: str, many: str) -> str:
    return one if n == 1 else many


INVISIBLE = set(
    [0x00AD, 0x061C, 0x06DD, 0x070F, 0x180E, 0xFEFF, 0xE0001]
    + list(range(0x0600, 0x0606))
    + list(range(0x200B, 0x2010))
    + list(range(0x2028, 0x202F))
    + list(range(0x2060, 0x2065))
    + list(range(0x2066, 0x2070))
    + list(range(0xFFF9, 0xFFFC))
    + list(range(0xE0020, 0xE0080))
)
PUNCT = set("!\"#$%'()*+,.:;=?@[\\]^_`{}~")
PUNCT_EARLIER = PUNCT | {"-"}
HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "|": "&#124;"}
MAIL_LOCAL = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.+-_")
MAIL_DOMAIN = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


def escape(text: str, earlier: bool = False) -> str:
    """docs/format.md 3.6; `earlier`: the single-table layout's escaping
    (`-` escaped too, no word joiner), which the conflicts rows keep."""
    if "@" in text and not earlier:
        return escape_mail(text)
    punct = PUNCT_EARLIER if earlier else PUNCT
    out = []
    for c in text:
        if c in HTML:
            out.append(HTML[c])
        elif c in punct:
            out.append("\\" + c)
        elif ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or ord(c) in INVISIBLE:
            out.append(" ")
        else:
            out.append(c)
    return "".join(out)


def escape_mail(text: str) -> str:
    """escape() of a text with an `@`: a word joiner after each `@` that
    GFM could take for an e-mail address's."""
    out = []
    previous = ""
    last = len(text) - 1
    for i, c in enumerate(text):
        if c in HTML:
            out.append(HTML[c])
        elif c == "@" and previous in MAIL_LOCAL and i < last and text[i + 1] in MAIL_DOMAIN:
            out.append("\\@&#8288;")
        elif c in PUNCT:
            out.append("\\" + c)
        elif ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or ord(c) in INVISIBLE:
            out.append(" ")
        else:
            out.append(c)
        previous = c
    return "".join(out)


def percent(text: str) -> str:
    keep = b"-._~/"
    return "".join(chr(b) if chr(b).isascii() and (chr(b).isalnum() or b in keep) else "%%%02X" % b for b in text.encode())


def display(value):
    """A Kind or Title as shown: a string itself, another value its JSON text."""
    if value is None:
        return None
    return value if isinstance(value, str) else compact(value)


def usable_template(template):
    """An http(s) URL holding {issue}, bytes outside the URL characters
    percent-encoded (src/core/index/links.rs); None otherwise."""
    if template is None:
        return None
    template = template.strip()
    if not template.lower().startswith(("https://", "http://")) or "{issue}" not in template:
        return None
    keep = b"-._~:/?#@!$&'*+,;=%{}"
    return "".join(chr(b) if chr(b).isascii() and (chr(b).isalnum() or b in keep) else "%%%02X" % b for b in template.encode())


def issue_cell(issue, template) -> str:
    if issue is None:
        return ""
    if isinstance(issue, str):
        text, shown = issue, escape(issue)
    else:
        text = compact(issue)
        shown = "#" + escape(text)
    if template and 0 < len(text) <= 20 and text.isascii() and text.isdigit():
        return f"[{shown}]({template.replace('{issue}', text)})"
    return shown


def cut(escaped: str) -> str:
    """An escaped front-page cell cut to 100 characters, never inside an escape."""
    if len(escaped) <= FRONT_CELL_CHARS:
        return escaped
    end = 0
    in_entity = after_backslash = False
    for taken, c in enumerate(escaped):
        if taken >= FRONT_CELL_CHARS and not in_entity and not after_backslash:
            break
        end = taken + 1
        if after_backslash:
            after_backslash = False
        elif c == "\\":
            after_backslash = True
        elif c == "&":
            in_entity = True
        elif c == ";" and in_entity:
            in_entity = False
    return escaped[:end] + "…"


def earlier_row(key, fields, art, prefix) -> str:
    """A conflicts row, as the single-table layout wrote its rows."""
    issue = fields.get("issue")
    if issue is None:
        issue_text = ""
    elif isinstance(issue, str):
        issue_text = escape(issue, True)
    else:
        issue_text = "#" + escape(compact(issue), True)
    path = art["path"]
    kind, title = display(art.get("kind")), display(art.get("title"))
    return (
        f"| {issue_text} | {escape(key, True)} | [{escape(path, True)}]({prefix}{percent(path)}) "
        f"| {'' if kind is None else escape(kind, True)} | {'' if title is None else escape(title, True)} |\n"
    )


def render(fragments, source: str, folder: str = "catalogue", template=None):
    """fragments: (key, fields, artifacts), sorted by natural key. Returns
    manifest.json, index.md and the pages [(file under index/, bytes)], in
    one pass over the fragments."""
    segments = [s for s in folder.split("/") if s not in ("", ".")]
    front_prefix = "../" * len(segments)
    page_prefix = "../" + front_prefix
    fragments_dir = "/".join(segments + ["fragments"]) + "/"
    template = usable_template(template)

    blocks = []  # the manifest's `fragments` entries
    lines = []  # its artifact lines
    claims = []  # (key, fields, artifact) per line
    first_claim = {}  # path -> line
    again = {}  # path -> every claim's line, when claimed more than once
    kinds = {}
    listed = []  # (key, issue cell, rows, artifacts)
    for key, fields, artifacts in fragments:
        pretty = json.dumps(fields, ensure_ascii=False, indent=2)
        blocks.append("    " + compact(key) + ": " + pretty.replace("\n", "\n    "))
        issue = fields.get("issue")
        cell = issue_cell(issue, template)
        shown = cell or escape(key)
        rows = []
        for art in sorted(artifacts, key=lambda a: a["path"].encode()):
            path = art["path"]
            n = len(lines)
            if path in first_claim:
                again.setdefault(path, [first_claim[path]]).append(n)
            else:
                first_claim[path] = n
            entry = {"fragment": key}
            if "issue" in fields:
                entry["issue"] = issue
            entry.update(art)
            lines.append(compact(entry))
            claims.append((key, fields, art))
            kind, title = display(art.get("kind")), display(art.get("title"))
            kind_text = "" if kind is None else escape(kind)
            kinds[kind_text] = kinds.get(kind_text, 0) + 1
            rows.append(
                f"| {shown} | [{escape(path)}]({page_prefix}{percent(path)}) "
                f"| {kind_text} | {'' if title is None else escape(title)} |\n"
            )
        listed.append((key, cell, "".join(rows), len(rows)))

    # manifest.json; contested claims move from `artifacts` to `conflicts`.
    contested_rows = []
    conflict_lines = []
    kept = lines
    if again:
        moved = set()
        for path in sorted(again, key=str.encode):
            held = again[path]
            moved.update(held)
            conflict_lines.append(
                "    " + '{"path":' + compact(path) + ',"fragments":['
                + ",".join(compact(claims[n][0]) for n in held) + '],"artifacts":['
                + ",".join(lines[n] for n in held) + "]}"
            )
            contested_rows += [earlier_row(*claims[n], front_prefix) for n in held]
        kept = [line for n, line in enumerate(lines) if n not in moved]
    out = ['{\n  "$schema": "urn:git-catalogue:schema:manifest:1",\n  "version": 1,\n  "source": ', compact(source), ',\n  "fragments": ']
    out.append("{\n" + ",\n".join(blocks) + "\n  }" if blocks else "{}")
    out.append(',\n  "artifacts": ')
    out.append("[\n" + ",\n".join("    " + line for line in kept) + "\n  ]" if kept else "[]")
    if conflict_lines:
        out.append(',\n  "conflicts": [\n' + ",\n".join(conflict_lines) + "\n  ]")
    out.append("\n}\n")
    manifest = "".join(out).encode()

    # The pages.
    lengths = paginate(key for key, _, _, _ in listed)
    pages = []
    page_keys = []
    page_of = []  # the first key of each fragment's page
    at = 0
    for n in lengths:
        on = listed[at : at + n]
        at += n
        first, last = on[0][0], on[-1][0]
        page_keys.append((first, last))
        page_of += [first] * n
        arts = sum(f[3] for f in on)
        title = escape(first) + (" – " + escape(last) if n > 1 else "")
        text = [
            f"# {title}\n\nOne page of the [catalogue](../index.md): {n} {plural(n, 'fragment', 'fragments')}, "
            f"{arts} {plural(arts, 'artifact', 'artifacts')}. Generated by git-catalogue from the fragments; do not edit it by hand.\n\n"
        ]
        if arts:
            text.append(PAGE_HEAD)
            text += [f[2] for f in on]
        else:
            text.append("_No artifacts on this page._\n")
        without = [f[0] for f in on if not f[3]]
        if without:
            text.append("\n## Fragments without artifacts\n\n")
            text += [f"- {escape(k)}\n" for k in without]
        pages.append((first + ".md", "".join(text).encode()))

    # The front page.
    n_frag, n_art, n_pages = len(listed), len(kept), len(lengths)
    out = [
        "# Catalogue\n\n",
        f"Generated by git-catalogue from {escape(fragments_dir)} (fragments tree {escape(source)}): "
        "do not edit this page or the pages under `index/` by hand, run `git catalogue consolidate` instead.\n\n",
        "This catalogue lists the artifacts that producer runs recorded, one fragment per run: "
        "this page sums them up, and the pages under `index/` list every artifact, a row each, "
        "by fragment key in natural order. The same entries are in `manifest.json` for programs.\n\n",
        f"Issue numbers link to `{template}`.\n\n" if template else
        "Issue numbers are not linked: set git config `catalogue.issueUrl` "
        "(or use a GitHub or GitLab `origin`) to link them.\n\n",
        f"{n_art} {plural(n_art, 'artifact', 'artifacts')} in {n_frag} {plural(n_frag, 'fragment', 'fragments')}, "
        f"on {n_pages} {plural(n_pages, 'page', 'pages')}.\n\n",
    ]
    if kinds:
        ranked = sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0]))
        out.append("## Kinds\n\n| Kind | Artifacts |\n| --- | --- |\n")
        out += [f"| {cut(k) if k else '_no kind_'} | {n} |\n" for k, n in ranked[:KINDS_SHOWN]]
        if len(ranked) > KINDS_SHOWN:
            out.append(f"| _{len(ranked) - KINDS_SHOWN} other kinds_ | {sum(n for _, n in ranked[KINDS_SHOWN:])} |\n")
        out.append("\n")
    if again:
        paths = len(again)
        out.append(
            f"## Conflicts\n\n{paths} {plural(paths, 'artifact path is', 'artifact paths are')} claimed by more than one fragment, "
            f"so {plural(paths, 'it is', 'they are')} listed here only, with every claim, "
            "and `git catalogue consolidate` fails until each is claimed once. "
            "To resolve one, change one of its fragments (the later in natural key order, or either): "
            "record it again without the path, or delete it.\n\n"
        )
        out.append(CONFLICTS_HEAD)
        shown = size = 0
        for row in contested_rows:
            if shown == CLAIMS_SHOWN or size + len(row.encode()) > CLAIM_BYTES:
                break
            out.append(row)
            shown += 1
            size += len(row.encode())
        rest = len(contested_rows) - shown
        if rest:
            out.append(f"\n{rest} more {plural(rest, 'claim', 'claims')}: `manifest.json` lists every one, under `conflicts`.\n")
        out.append("\n")
    if listed:
        out.append(
            "## Newest fragments\n\nThe last fragments in natural key order, last first.\n\n"
            "| Fragment | Issue | Artifacts | Page |\n| --- | --- | --- | --- |\n"
        )
        for i in range(n_frag - 1, max(n_frag - NEWEST, 0) - 1, -1):
            key, cell, _, arts = listed[i]
            page = page_of[i]
            shown_issue = cell if cell.startswith("[") else cut(cell)
            out.append(f"| {escape(key)} | {shown_issue} | {arts} | [{escape(page)}](index/{percent(page + '.md')}) |\n")
        out.append("\n")
        separate = n_pages > PAGES_LISTED
        items = []
        for (first, last), n in zip(page_keys, lengths):
            name = escape(first) + (" – " + escape(last) if first != last else "")
            where = "" if separate else "index/"
            items.append(f"- [{name}]({where}{percent(first + '.md')}): {n} {plural(n, 'fragment', 'fragments')}\n")
        out.append("## Pages\n\n")
        if separate:
            out.append(f"The {n_pages} pages are listed on [their own page](index/{PAGE_LIST}).\n")
            pages.append(
                (PAGE_LIST, ("# Pages of the catalogue\n\nGenerated by git-catalogue with the [catalogue](../index.md); "
                             "do not edit it by hand.\n\n" + "".join(items)).encode())
            )
        else:
            out += items
    else:
        out.append("_No fragments yet._\n")
    return manifest, "".join(out).encode(), pages


def parse(key: str, data: bytes):
    doc = json.loads(data)
    if not isinstance(doc, dict) or not isinstance(doc.get("artifacts"), list):
        sys.exit(f"fragment {key}: not an object with an `artifacts` list")
    arts = doc.pop("artifacts")
    for a in arts:
        if not isinstance(a, dict) or not isinstance(a.get("path"), str) or not a["path"]:
            sys.exit(f"fragment {key}: an artifact without a `path`")
    return (key, doc, arts)


def read_batch(list_file: str):
    """Fragments from `git cat-file --batch` output, named by LIST's order."""
    names = []
    with open(list_file, encoding="utf-8") as f:
        for line in f:
            meta, name = line.rstrip("\n").split("\t", 1)
            mode, kind, _ = meta.split(" ")
            if kind == "blob" and mode == "100644" and name.endswith(".json"):
                names.append(name[: -len(".json")])
    stream = sys.stdin.buffer
    out = []
    for key in names:
        header = stream.readline().split()
        if len(header) != 3 or header[1] != b"blob":
            sys.exit(f"fragment {key}: unexpected cat-file header {header!r}")
        size = int(header[2])
        data = stream.read(size)
        stream.read(1)  # the newline after each object
        out.append(parse(key, data))
    return out


def read_dir(folder: str):
    out = []
    for name in os.listdir(folder):
        if name.endswith(".json"):
            with open(os.path.join(folder, name), "rb") as f:
                out.append(parse(name[: -len(".json")], f.read()))
    return out


def main() -> None:
    mode, where, source, outdir = sys.argv[1:5]
    template = sys.argv[5] if len(sys.argv) > 5 else None
    fragments = read_batch(where) if mode == "batch" else read_dir(where)
    fragments.sort(key=lambda f: natural_key(f[0]))
    manifest, index, pages = render(fragments, source, "catalogue", template)
    with open(os.path.join(outdir, "manifest.json"), "wb") as f:
        f.write(manifest)
    with open(os.path.join(outdir, "index.md"), "wb") as f:
        f.write(index)
    if pages:
        os.makedirs(os.path.join(outdir, "index"), exist_ok=True)
    for name, data in pages:
        with open(os.path.join(outdir, "index", name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
