#!/usr/bin/env bash
# The original consolidation job (check out, regenerate, commit, push), the other baseline of
# issue 5 that bench/consolidate.sh times: a full checkout of main, a script
# that reads the fragment files and writes manifest.json, index.md and the
# pages under index/ (bench/render-catalogue.py, the same content as the
# tool's), then
# `git add` and `git commit`, and the branch moved to that commit as the
# job's push would. The checkout is `git worktree add` of the local
# repository, so no network is timed: what a CI job pays on top (the clone's
# transfer) is left out in the baseline's favour.
#   checkout-consolidate.sh WORKTREE_DIR    (run inside the repository)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
wt=$1

git worktree add -q --detach "$wt" refs/heads/main
cd "$wt"
tip=$(git rev-parse --verify HEAD)
# The pages are written afresh: a page whose first key is gone must go too.
rm -rf catalogue/index
"${PYTHON:-python3}" "$here/render-catalogue.py" dir catalogue/fragments "$(git rev-parse --verify HEAD:catalogue/fragments)" catalogue "$(git config --get catalogue.issueUrl || true)"
git add -A -- catalogue
git commit -q -m "catalogue: consolidate (checkout and script)"
git update-ref -m "catalogue: consolidate" refs/heads/main HEAD "$tip"
