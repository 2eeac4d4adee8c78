"""The JSON Schemas in schemas/ agree with the tool.

Every fixture fragment the tool accepts (`record --fragment`) validates
against schemas/fragment.schema.json, and every one it refuses fails it,
unless a schema cannot express why (not JSON at all). The same for a table
of artifact paths. The manifests the tool writes validate against
schemas/manifest.schema.json.

Run by .ci/run with the installed `git catalogue` on PATH and the Python
`jsonschema` package: python3 tests/schemas/check_fixtures.py
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import jsonschema
from referencing import Registry, Resource

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures" / "fragments"


def load(name):
    return json.loads((ROOT / "schemas" / name).read_text())


FRAGMENT = load("fragment.schema.json")
MANIFEST = load("manifest.schema.json")
REGISTRY = Registry().with_resources(
    [(s["$id"], Resource.from_contents(s)) for s in (FRAGMENT, MANIFEST)]
)


def validator(schema):
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, registry=REGISTRY)


FRAGMENT_V = validator(FRAGMENT)
MANIFEST_V = validator(MANIFEST)

# Paths docs/format.md (1.4) names, refused and allowed.
PATHS = [
    "docs/a.md", "docs/CON", "nul.txt", "a:b|c<d", "trailing.", "sp ace", "\u00e9t\u00e9/x",
    ".gitmodules", ".github/workflows/x.yml", "a/.gitignore",
    "", "/abs", "a//b", "a/", "./a", "a/../b", "..", "a\\b", "tab\there", "nl\nx",
    "\u0085next-line", ".git/config", "x/.GIT/y", ".Git", "a/.git./b", "a/.git /b", "git~1/x",
]

ENV = dict(os.environ)
ENV.update({
    "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1", "LC_ALL": "C",
    "GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@example.com",
    "GIT_COMMITTER_NAME": "C", "GIT_COMMITTER_EMAIL": "c@example.com",
})
passed = 0
failed = 0


def result(ok, what):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print(f"FAIL: {what}")


def git(repo, *args):
    return subprocess.run(["git", "-C", repo, *args], env=ENV, check=True,
                          capture_output=True, text=True).stdout


def record(repo, key, file):
    """The tool's verdict: True accepted, False refused as bad input (exit 2)."""
    run = subprocess.run(["git", "-C", repo, "catalogue", "record", "--direct", "--key", key,
                          "--fragment", str(file)], env=ENV, capture_output=True, text=True)
    if run.returncode not in (0, 2):
        raise SystemExit(f"record {file}: exit {run.returncode}: {run.stderr}")
    return run.returncode == 0


def schema_verdict(text):
    """True valid, False invalid, None when no schema can judge it (not JSON)."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return FRAGMENT_V.is_valid(value)


def check_manifest(repo, what):
    manifest = json.loads(git(repo, "show", "main:catalogue/manifest.json"))
    errors = [e.message for e in MANIFEST_V.iter_errors(manifest)]
    result(not errors, f"{what}: manifest.json does not validate: {errors}")
    # The manifest names the schema it is written to, by its $id.
    result(manifest.get("$schema") == MANIFEST["$id"],
           f"{what}: manifest.json names {manifest.get('$schema')!r}, not {MANIFEST['$id']!r}")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        repo = os.path.join(tmp, "repo.git")
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", repo], env=ENV, check=True)
        empty = git(repo, "hash-object", "-t", "tree", "-w", "/dev/null").strip()
        start = git(repo, "commit-tree", empty, "-m", "start").strip()
        git(repo, "update-ref", "refs/heads/main", start)

        fixtures = sorted(FIXTURES.glob("*.json"))
        result(len(fixtures) >= 10, f"only {len(fixtures)} fixtures")
        for n, file in enumerate(fixtures):
            accepted = record(repo, f"fixture-{n}", file)
            verdict = schema_verdict(file.read_text(encoding="utf-8", errors="replace"))
            if accepted:
                result(verdict is True, f"{file.name}: accepted by the tool, refused by the schema")
            elif verdict is None:
                print(f"skip: {file.name}: refused, and not JSON, which no schema can judge")
            else:
                result(verdict is False, f"{file.name}: refused by the tool, valid by the schema")

        for n, path in enumerate(PATHS):
            frag = {"artifacts": [{"path": path}]}
            file = Path(tmp) / f"path-{n}.json"
            file.write_text(json.dumps(frag))
            accepted = record(repo, f"path-{n}", file)
            valid = FRAGMENT_V.is_valid(frag)
            result(accepted == valid,
                   f"path {path!r}: tool {'accepts' if accepted else 'refuses'}, "
                   f"schema {'accepts' if valid else 'refuses'}")

        consolidated = subprocess.run(["git", "-C", repo, "catalogue", "consolidate"],
                                      env=ENV, capture_output=True, text=True)
        result(consolidated.returncode == 0, f"consolidate: {consolidated.stderr}")
        check_manifest(repo, "all accepted fixtures")
        # A manifest the schema must refuse: the check can fail.
        result(not MANIFEST_V.is_valid({"version": 2, "source": "x", "fragments": {}, "artifacts": []}),
               "a version 2 manifest validated")

    print(f"schemas: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
