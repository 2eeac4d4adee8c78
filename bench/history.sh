#!/usr/bin/env bash
# Benchmark of the history scan: a generated linear history of
# 10,000 commits with 2,000 manifest versions. In one run it times, alternating
# and repeated, `git catalogue repair --dry-run` against the obvious
# alternatives: one `git show` per version parsed by a script, and one
# `git log -p` parsed by a script. Prints medians and ratios.
#   bash bench/history.sh [COMMITS] [STEP] [ROUNDS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
commits=${1:-10000}
step=${2:-5}
rounds=${3:-5}
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 LC_ALL=C
(cd "$here/.." && cargo build --release --quiet)
bin="$here/../target/release/git-catalogue"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git init -q --bare -b main "$work/repo.git"
python3 "$here/gen-history.py" "$commits" "$step" | git -C "$work/repo.git" fast-import --quiet
git -C "$work/repo.git" repack -adq
echo "history: $commits commits, $(git -C "$work/repo.git" log --format=%H main -- catalogue/manifest.json | wc -l) manifest versions"
cd "$work/repo.git"
now() { date +%s.%N; }
time_it() { local s e; s=$(now); "$@" >/dev/null 2>&1; e=$(now); echo "$e - $s" | bc; }
declare -a ours show logp
for ((r = 0; r < rounds; r++)); do
  ours+=("$(time_it "$bin" repair --dry-run --json)")
  show+=("$(time_it python3 "$here/show-per-version.py")")
  logp+=("$(time_it python3 "$here/log-patch.py")")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mo=$(median "${ours[@]}"); ms=$(median "${show[@]}"); ml=$(median "${logp[@]}")
printf '%-44s %10s %8s\n' "method" "median s" "ratio"
printf '%-44s %10.3f %8s\n' "git catalogue repair --dry-run" "$mo" "1.0x"
printf '%-44s %10.3f %7.1fx\n' "git show per version + JSON parse (python)" "$ms" "$(echo "$ms / $mo" | bc -l)"
printf '%-44s %10.3f %7.1fx\n' "git log -p --all + parse (python)" "$ml" "$(echo "$ml / $mo" | bc -l)"
"$bin" repair --dry-run --json 2>/dev/null | python3 -c 'import json,sys; d=json.load(sys.stdin); print("repair saw", d["versions"], "versions,", len(d["entries"]), "paths,", len(d["recovered"]), "to recover")'
peak=$(/usr/bin/time -v "$bin" repair --dry-run --json 2>&1 >/dev/null | awk -F': ' '/Maximum resident/ {print $2}')
echo "repair --dry-run peak memory: $((peak / 1024)) MiB"
