#!/usr/bin/env bash
# The git-plumbing pipeline a team could write instead of git-catalogue, the
# baseline of issue 5 that bench/consolidate.sh times: `ls-tree` the fragments
# folder of main's tip, `cat-file --batch` every fragment into a script that
# builds manifest.json, the front page index.md and the pages under index/
# (bench/render-catalogue.py, the same content as the tool's), `hash-object
# -w` them, `mktree` the index/ folder, the catalogue folder and the root,
# `commit-tree`, and `update-ref` with the old tip as the expected value. No
# checkout. Run inside the repository (bare or not).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
branch=refs/heads/main
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

tip=$(git rev-parse --verify "$branch^{commit}")
fragments=$(git rev-parse --verify "$tip:catalogue/fragments")
git ls-tree "$fragments" >"$tmp/list"
# The same selection render-catalogue.py makes from the list: regular files
# named *.json, in ls-tree order.
awk -F'\t' '{ split($1, m, " ") } m[1] == "100644" && m[2] == "blob" && $2 ~ /\.json$/ { print m[3] }' "$tmp/list" |
  git cat-file --batch |
  "${PYTHON:-python3}" "$here/render-catalogue.py" batch "$tmp/list" "$fragments" "$tmp" "$(git config --get catalogue.issueUrl || true)"

# manifest.json, index.md and the pages under index/ (none without
# fragments), in one hash-object.
shopt -s nullglob
pages=("$tmp"/index/*.md)
ids=$(git hash-object -w -- "$tmp/manifest.json" "$tmp/index.md" "${pages[@]}")
mapfile -t ids <<<"$ids"
entries=$(printf '100644 blob %s\tmanifest.json\n100644 blob %s\tindex.md\n' "${ids[0]}" "${ids[1]}")
if [ ${#pages[@]} -gt 0 ]; then
  index_tree=$(
    for i in "${!pages[@]}"; do
      printf '100644 blob %s\t%s\n' "${ids[i + 2]}" "${pages[i]##*/}"
    done | git mktree
  )
  entries+=$(printf '\n040000 tree %s\tindex' "$index_tree")
fi
catalogue=$(
  {
    git ls-tree "$tip:catalogue" | awk -F'\t' '$2 != "manifest.json" && $2 != "index.md" && $2 != "index"'
    printf '%s\n' "$entries"
  } | git mktree
)
root=$(
  {
    git ls-tree "$tip" | awk -F'\t' '$2 != "catalogue"'
    printf '040000 tree %s\tcatalogue\n' "$catalogue"
  } | git mktree
)
if [ "$root" = "$(git rev-parse "$tip^{tree}")" ]; then
  echo "catalogue already current"
  exit 0
fi
commit=$(git commit-tree "$root" -p "$tip" -m "catalogue: consolidate (git plumbing)")
git update-ref -m "catalogue: consolidate" "$branch" "$commit" "$tip"
echo "$commit"
