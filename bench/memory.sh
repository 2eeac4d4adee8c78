#!/usr/bin/env bash
# The memory benchmark of the "bounded memory" finding: the peak resident set
# (/usr/bin/time -v, "Maximum resident set size") of each input that used to
# cost memory in proportion to its size, against this run's own baseline,
# `git catalogue list` of a tiny repository. The goal: every row at most
# 64 MB above the baseline, and none "until allocation fails".
#
#   bash bench/memory.sh [path/to/git-catalogue]   (default: target/release)
#
# Needs about 2.5 GB free under ${TMPDIR:-/tmp} (a 1 GB --add file and the
# work trees); the 1 GiB blobs are a few MB each in git, compressed.
# shellcheck disable=SC2016 # backquotes are Markdown in the table
set -euo pipefail

bin=${1:-target/release/git-catalogue}
bin=$(realpath "$bin")
goal_kb=$((64 * 1024))
work=$(mktemp -d "${TMPDIR:-/tmp}/catalogue-memory.XXXXXX")
trap 'rm -rf "$work"' EXIT
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 HOME=$work
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.invalid
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.invalid

# A work tree with `main` holding one recorded and consolidated fragment.
fresh() {
  local dir=$work/$1
  git init -q -b main "$dir"
  git -C "$dir" commit -q --allow-empty -m init
  (cd "$dir" && "$bin" record --direct --issue 1 --artifact docs/a.md >/dev/null 2>&1 &&
    "$bin" consolidate >/dev/null 2>&1)
  echo "$dir"
}

# A bare clone of `fresh $1`, then a 1 GiB zero blob committed at $2 onto
# its main (plumbing: git streams the blob). Sets $bombed to that commit.
bombed=
bomb() {
  local dir=$work/$1.git path=$2 blob tree
  git clone -q --bare "$(fresh "$1")" "$dir"
  blob=$(git -C "$dir" hash-object -w --stdin < <(head -c 1G /dev/zero))
  rm -f "$work/bomb-index"
  GIT_INDEX_FILE=$work/bomb-index git -C "$dir" read-tree main
  GIT_INDEX_FILE=$work/bomb-index git -C "$dir" update-index --cacheinfo "100644,$blob,$path"
  tree=$(GIT_INDEX_FILE=$work/bomb-index git -C "$dir" write-tree)
  bombed=$(git -C "$dir" commit-tree "$tree" -p main -m "a 1 GiB $path")
  git -C "$dir" update-ref refs/heads/main "$bombed"
}

# Peak RSS (kB) and exit code of a command run in $1, stdin from $2.
peak() {
  local dir=$1 input=$2
  shift 2
  local report=$work/time.txt code=0
  (cd "$dir" && /usr/bin/time -v -o "$report" "$@" <"$input" >/dev/null 2>"$work/stderr.txt") || code=$?
  local kb
  kb=$(sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): //p' "$report")
  echo "$kb $code"
}

tiny=$(fresh tiny)
read -r base _ < <(peak "$tiny" /dev/null "$bin" list)
printf 'baseline (`git catalogue list`, tiny repository): %d kB\n\n' "$base"
printf '| input | command | exit | peak RSS (kB) | above baseline (kB) | goal |\n'
printf '| --- | --- | --- | --- | --- | --- |\n'
failed=0
row() {
  local input=$1 command=$2 kb=$3 code=$4 above verdict=ok
  above=$((kb - base))
  if ((above > goal_kb)) || ((code > 4)); then
    verdict=FAIL
    failed=1
  fi
  printf '| %s | `%s` | %s | %d | %d | %s |\n' "$input" "$command" "$code" "$kb" "$above" "$verdict"
}

repo=$(fresh fragment)
read -r kb code < <(peak "$repo" /dev/zero "$bin" record --direct --issue 2 --fragment -)
row '`--fragment - < /dev/zero`' 'record --direct --fragment -' "$kb" "$code"

head -c 300000000 /dev/zero | tr '\0' ' ' >"$work/big.json"
read -r kb code < <(peak "$repo" /dev/null "$bin" record --direct --issue 3 --fragment "$work/big.json")
row 'a 300 MB `--fragment` file' 'record --direct --fragment FILE' "$kb" "$code"
rm -f "$work/big.json"

for path in catalogue/manifest.json catalogue/index.md; do
  bomb "bomb-${path##*/}" "$path"
  repo=$work/bomb-${path##*/}.git
  for command in consolidate "verify --history" repair; do
    # shellcheck disable=SC2086 # the command's words
    read -r kb code < <(peak "$repo" /dev/null "$bin" $command)
    row "a 1 GiB zero blob as \`$path\`" "$command" "$kb" "$code"
    # Each command on the bomb as committed, not on the previous one's output.
    git -C "$repo" update-ref refs/heads/main "$bombed"
  done
done

repo=$(fresh add)
head -c 1000000000 /dev/zero >"$repo/big.bin"
read -r kb code < <(peak "$repo" /dev/null "$bin" record --direct --issue 4 --add big.bin=docs/big.bin)
row 'a 1 GB `--add` file' 'record --direct --add' "$kb" "$code"

echo
if ((failed)); then
  echo "FAIL: a row is more than $goal_kb kB above the baseline, or was killed"
  exit 1
fi
echo "ok: every row is within $goal_kb kB of the baseline"
