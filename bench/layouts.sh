#!/usr/bin/env bash
# The pack-layout benchmark of issue 16, successor of bench/consolidate.sh
# for the readers' speed and memory. For each size N and fragment shape it
# builds one catalogue (bench/gen-catalogue.py through `git fast-import`),
# lays a copy of it out each of the ways git leaves a repository:
#
#   fastimport  the fragment blobs as `git fast-import` wrote them, in
#               generation order with its delta chains (the few objects
#               written later packed into one more pack: `git repack -d`)
#   repack      after `git repack -adf`
#   aggressive  after `git gc --aggressive`
#   loose       every object loose (`git unpack-objects`); only at
#               N <= LOOSE_MAX (default 20,000), said when skipped
#   packs500    500 packs: `git pack-objects` of 500 consecutive slices of
#               `git rev-list --objects --all`, as after many fetches
#               without gc (gc.auto=0 throughout)
#
# and times on each layout, in one run, round after round with the methods'
# order rotated each round, every run a whole process under /usr/bin/time
# (wall clock, and peak RSS from -f %M):
#
#   full         `git catalogue consolidate` on a tip with fragments and no
#                manifest (issue-1 re-run), so no incremental path applies
#   incremental  the same on a consolidated tip plus one commit that re-runs
#                one fragment (issue-<N/2>)
#   output-io    `git hash-object -w -- manifest.json index.md` of the very
#                bytes the incremental run writes: git writing the
#                incremental's output as two new loose blobs, the floor the
#                incremental goal is measured against
#   write-floor  `git hash-object -w --` of every output blob the full run
#                writes (manifest.json, index.md and each index/ page of the
#                tool's full rebuild): git hashing the full run's output and
#                writing, as new loose blobs, those the layout does not hold
#                (pages the re-run left alone are in the consolidated tip),
#                just as the full run does. With cat-file it makes the full run's floor
#                nobody here wrote: git reading the fragments, then git
#                writing what they render to (printed as "cat-file +
#                write-floor" beside the goals; not a goal of its own)
#   cat-file     `git cat-file --batch` of the fragment blobs of the full
#                run's tip (ids from `git ls-tree`, not timed), output to
#                /dev/null: the independent read floor
#   gix-floor    examples/io_floor.rs `full`: gix alone reading the same
#                blobs and writing one manifest-sized blob
#   plumbing     bench/plumbing-consolidate.sh (cat-file --batch + Python)
#   check, list, verify-history
#                `git catalogue check`, `list`, `verify --history` on the
#                consolidated tip; verify walks two commits, the consolidated
#                one and the import commit below it, which holds fragments
#                and no manifest: its three problems (manifest, index and pages not
#                current) are expected and checked, exit 1
#   checkout     bench/checkout-consolidate.sh (only at N <= LOOSE_MAX)
#
# Before every run the branch is put back with `git update-ref` and the loose
# objects that earlier runs wrote are deleted (those the layout itself holds
# are kept), so every run writes its output anew. Each method runs once
# untimed first (warm caches, checks). Every consolidation is checked: full
# and incremental must commit on their start and give the root tree of the
# tool's full rebuild (`git rev-parse TIP^{tree}`, so manifest.json and
# index.md byte for byte); a difference is a FAIL of the "incremental = full"
# goal. The plumbing pipeline's output is compared the same way and a
# difference noted. Then it prints Markdown tables (medians with min-max,
# peak RSS) and the goals of issue 16 with PASS or FAIL per layout.
#
#   bash bench/layouts.sh [--size N]... [N ...]     default: 100000
#       [--shapes short,realistic] [--layouts fastimport,repack,aggressive,loose,packs500]
#
# Environment: BIN (git-catalogue binary, default target/release/git-catalogue
# of this checkout), IO_FLOOR (default target/release/examples/io_floor),
# ROUNDS (timed rounds per method, default 5), SLOW_ROUNDS (rounds of
# plumbing and checkout, default 3), LOOSE_MAX (largest N for the loose
# layout and the checkout job, default 20000), KEEP=1 (keep the work folder),
# TMPDIR (where the work folder goes, default /tmp), PYTHON. Nothing is
# built: build with `cargo build --release --bin git-catalogue --example
# io_floor`, or point BIN and IO_FLOOR at another build.
#
# Run time on 2 shared cores (load 4-8): 2,000 fragments 5 min, 20,000 24 min
# (both shapes, all five layouts); the default 100,000 (four layouts, no
# checkout) an estimated 1-1.5 h, most of it in the fast-import layout and
# the plumbing baseline. ROUNDS=3 SLOW_ROUNDS=2 takes about 40 % off.
set -euo pipefail

script_start=${EPOCHREALTIME/./}
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
rounds=${ROUNDS:-5}
slow_rounds=${SLOW_ROUNDS:-3}
loose_max=${LOOSE_MAX:-20000}
bin=${BIN:-$top/target/release/git-catalogue}
floor=${IO_FLOOR:-$top/target/release/examples/io_floor}
shapes=(short realistic)
layouts=(fastimport repack aggressive loose packs500)
sizes=()

usage() {
  echo "usage: bash bench/layouts.sh [--size N]... [N ...] [--shapes short,realistic] [--layouts fastimport,repack,aggressive,loose,packs500]" >&2
  echo "       (env BIN, IO_FLOOR, ROUNDS, SLOW_ROUNDS, LOOSE_MAX, KEEP, TMPDIR, PYTHON)" >&2
  exit 2
}
while [ $# -gt 0 ]; do
  case $1 in
    --size) [ $# -ge 2 ] || usage; sizes+=("$2"); shift 2 ;;
    --size=*) sizes+=("${1#--size=}"); shift ;;
    --shapes) [ $# -ge 2 ] || usage; IFS=, read -r -a shapes <<<"$2"; shift 2 ;;
    --layouts) [ $# -ge 2 ] || usage; IFS=, read -r -a layouts <<<"$2"; shift 2 ;;
    -h | --help) usage ;;
    -*) usage ;;
    *) sizes+=("$1"); shift ;;
  esac
done
if [ ${#sizes[@]} -eq 0 ]; then sizes=(100000); fi
for n in "${sizes[@]}" "$rounds" "$slow_rounds" "$loose_max"; do
  if ! [[ $n =~ ^[1-9][0-9]*$ ]]; then
    echo "bench/layouts.sh: \`$n\` is not a positive whole number" >&2
    usage
  fi
done
for s in "${shapes[@]}"; do
  case $s in short | realistic) ;; *) echo "bench/layouts.sh: no shape $s" >&2 && usage ;; esac
done
for l in "${layouts[@]}"; do
  case $l in fastimport | repack | aggressive | loose | packs500) ;; *) echo "bench/layouts.sh: no layout $l" >&2 && usage ;; esac
done
for b in "$bin" "$floor"; do
  if [ ! -x "$b" ]; then
    echo "bench/layouts.sh: $b is not an executable; build it (cargo build --release --bin git-catalogue --example io_floor) or set BIN / IO_FLOOR" >&2
    exit 2
  fi
done
bin=$(realpath "$bin")
floor=$(realpath "$floor")
if [ ! -x /usr/bin/time ]; then
  echo "bench/layouts.sh: /usr/bin/time is missing (apt-get install -y time)" >&2
  exit 2
fi

# Hermetic git, one fixed identity and date for every process.
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 LC_ALL=C
export GIT_AUTHOR_NAME=Bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=Bench GIT_COMMITTER_EMAIL=bench@example.com
export GIT_AUTHOR_DATE='1700000000 +0000' GIT_COMMITTER_DATE='1700000000 +0000'
unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE
# The interpreter itself, not a version manager's shim (which costs 0.2 s
# per start, billed to the plumbing baseline).
PYTHON=${PYTHON:-$(python3 -c 'import sys; print(sys.executable)')}
export PYTHON

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-layouts.XXXXXX")
if [ "${KEEP:-0}" = 1 ]; then
  trap 'echo "work folder kept: $work" >&2' EXIT
else
  trap 'cd /; rm -rf "$work"' EXIT
fi

declare -A times peak note
notes=()
cmd=()
stdin=/dev/null

fail() {
  echo "bench/layouts.sh: $*" >&2
  exit 1
}
log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
seconds() { awk -v us="$1" 'BEGIN { printf "%.2f", us / 1e6 }'; }

# --- the catalogue, once per size and shape ----------------------------------

# build_base: $work/base.git in fast-import form, and the globals the runs use:
#   generated  the import commit: N fragments, no manifest or index
#   C  the generated fragments, consolidated by the tool
#   F  the generated fragments with issue-1 re-run and no manifest (start of
#      full, plumbing, checkout; the tip cat-file and gix-floor read)
#   I  C plus a commit re-running issue-<N/2> (start of incremental)
#   want_full / want_incr  the root trees of the tool's full rebuilds of F
#      and of I without manifest and index; their manifest and index are
#      unreachable afterwards, so no layout holds them and every timed run
#      has to write them
#   $work/out/manifest.json, index.md  the bytes the incremental run writes
#   $work/full-out/*  the blobs the full run writes (manifest, index, pages),
#      and want_full_out_ids their ids
#   $work/blobs  the fragment blob ids of F, for cat-file
#   manifest_bytes, index_bytes, artifacts
build_base() {
  local k i_full
  repo=$work/base.git
  rm -rf "$repo"
  git init -q --bare -b main "$repo"
  cd "$repo"
  git config gc.auto 0
  "$PYTHON" "$here/gen-catalogue.py" --shape "$shape" blobs "$n" | git fast-import --quiet
  local tree
  tree=$("$PYTHON" "$here/gen-catalogue.py" --shape "$shape" tree "$n" | git mktree)
  "$PYTHON" "$here/gen-catalogue.py" commit "$n" "$tree" | git fast-import --quiet
  generated=$(git rev-parse --verify main)
  "$bin" consolidate >/dev/null 2>&1 || fail "$tag: the first consolidation failed"
  C=$(git rev-parse --verify main)
  [ "$(git rev-parse "$C^")" = "$generated" ] || fail "$tag: consolidation did not commit on top of the fragments"
  F=$(rerun refs/bench/fragments "$generated" 1)
  k=$(((n + 1) / 2))
  I=$(rerun refs/bench/incremental "$C" "$k")
  git update-ref refs/heads/main "$F"
  "$bin" consolidate >/dev/null 2>&1 || fail "$tag: the reference rebuild of F failed"
  want_full=$(git rev-parse 'main^{tree}')
  rm -rf "$work/full-out"
  mkdir -p "$work/full-out"
  want_full_out_ids=$(git ls-tree -r main catalogue | awk -F'\t' '
    $2 == "catalogue/manifest.json" || $2 == "catalogue/index.md" || $2 ~ /^catalogue\/index\/.*\.md$/ {
      split($1, m, " "); print m[3] }' | sort -u | tr '\n' ' ')
  local id
  for id in $want_full_out_ids; do git cat-file blob "$id" >"$work/full-out/$id"; done
  [ -s "$work/full-out/$(git rev-parse main:catalogue/manifest.json)" ] || fail "$tag: the full rebuild's manifest is not among its outputs"
  fast_commit refs/bench/incremental-full "I without manifest and index" "$I" \
    "D catalogue/manifest.json" "D catalogue/index.md"
  i_full=$(git rev-parse --verify refs/bench/incremental-full)
  git update-ref refs/heads/main "$i_full"
  "$bin" consolidate >/dev/null 2>&1 || fail "$tag: the reference rebuild of I failed"
  want_incr=$(git rev-parse 'main^{tree}')
  mkdir -p "$work/out"
  git cat-file blob main:catalogue/manifest.json >"$work/out/manifest.json"
  git cat-file blob main:catalogue/index.md >"$work/out/index.md"
  want_out_ids=$(git rev-parse main:catalogue/manifest.json main:catalogue/index.md | tr '\n' ' ')
  git update-ref -d refs/bench/incremental-full
  git update-ref refs/bench/consolidated "$C"
  git update-ref refs/heads/main "$C"
  git ls-tree "$F:catalogue/fragments" |
    awk -F'\t' '{ split($1, m, " ") } m[1] == "100644" && m[2] == "blob" && $2 ~ /\.json$/ { print m[3] }' >"$work/blobs"
  manifest_bytes=$(git cat-file -s "$C:catalogue/manifest.json")
  index_bytes=$(git cat-file -s "$C:catalogue/index.md")
  artifacts=$(git cat-file -p "$C:catalogue/manifest.json" | grep -c '^    {"fragment"' || true)
}

# rerun REF PARENT K: a commit on PARENT, at REF, in which issue-K has a new
# run id and new artifact titles, as a re-run of that issue would write.
rerun() {
  local ref=$1 parent=$2 k=$3 blob
  blob=$(git cat-file -p "$parent:catalogue/fragments/issue-$k.json" |
    sed -e 's/"id": \([0-9]*\)/"id": 1\1/' -e 's/"title": "\([^"]*\)"/"title": "\1, re-run"/' |
    git hash-object -w --stdin)
  fast_commit "$ref" "re-run of issue-$k" "$parent" "M 100644 $blob catalogue/fragments/issue-$k.json"
  git rev-parse --verify "$ref"
}

# fast_commit REF MESSAGE PARENT CHANGE...: one commit by git fast-import.
fast_commit() {
  local ref=$1 msg=$2 parent=$3
  shift 3
  {
    printf 'commit %s\ncommitter Bench <bench@example.com> 1700000100 +0000\ndata %d\n%s\nfrom %s\n' \
      "$ref" "${#msg}" "$msg" "$parent"
    printf '%s\n' "$@"
    printf '\ndone\n'
  } | git fast-import --quiet
}

drop_loose() {
  local d
  for d in "$repo"/objects/[0-9a-f][0-9a-f]; do
    if [ -d "$d" ]; then rm -rf "$d"; fi
  done
}

loose_list() {
  find "$repo/objects" -mindepth 2 -maxdepth 2 -path "$repo/objects/[0-9a-f][0-9a-f]/*" -type f | sort
}

# lay_out LAYOUT: $work/LAYOUT.git, a copy of the base laid out that way.
# The loose objects it holds afterwards are listed in $work/baseline.
lay_out() {
  local layout=$1 old chunk
  repo=$work/$layout.git
  rm -rf "$repo"
  cp -a "$work/base.git" "$repo"
  cd "$repo"
  case $layout in
    fastimport)
      git repack -dq # the loose objects into one more pack; fast-import's packs as written
      ;;
    repack) git repack -adfq ;;
    aggressive) git gc --aggressive --prune=now --quiet ;;
    loose)
      git repack -adq
      drop_loose
      mkdir "$work/unpack"
      mv objects/pack/pack-*.pack "$work/unpack/"
      rm -f objects/pack/pack-*
      for old in "$work"/unpack/*.pack; do git unpack-objects -q <"$old"; done
      rm -rf "$work/unpack"
      ;;
    packs500)
      git repack -adq
      drop_loose
      mkdir "$work/slices" "$work/newpacks"
      git rev-list --objects --all | cut -d' ' -f1 >"$work/slices/all"
      split -n l/500 -d -a 3 "$work/slices/all" "$work/slices/s"
      for chunk in "$work"/slices/s*; do
        if [ -s "$chunk" ]; then git pack-objects -q "$work/newpacks/pack" <"$chunk" >/dev/null; fi
      done
      rm -f objects/pack/pack-*
      mv "$work"/newpacks/* objects/pack/
      rm -rf "$work/slices" "$work/newpacks"
      ;;
  esac
  if [ "$layout" != loose ]; then drop_loose; fi
  git rev-list --objects --all >/dev/null || fail "$tag: the $layout layout lost objects"
  local id
  for id in $want_out_ids; do
    if git cat-file -e "$id" 2>/dev/null; then fail "$tag: output object $id is in the $layout layout; runs would not write it"; fi
  done
  # The pages the fragment change leaves as they were are in every layout
  # (the consolidated tip holds them): the full run and write-floor only
  # hash those, and write the rest.
  new_full_out_ids=
  for id in $want_full_out_ids; do
    if ! git cat-file -e "$id" 2>/dev/null; then new_full_out_ids+="$id "; fi
  done
  [ -n "$new_full_out_ids" ] || fail "$tag: every output of the full run is in the $layout layout already"
  loose_list >"$work/baseline"
  packs=$(find objects/pack -name 'pack-*.pack' | wc -l)
  loose_count=$(wc -l <"$work/baseline")
}

# --- the runs ----------------------------------------------------------------

methods_all=(full incremental output-io write-floor cat-file gix-floor plumbing check list verify-history checkout)

start_of() {
  case $1 in
    incremental) echo "$I" ;;
    full | plumbing | checkout) echo "$F" ;;
    *) echo "$C" ;;
  esac
}

# command_of METHOD: sets cmd (and stdin) to the method's command line.
command_of() {
  stdin=/dev/null
  case $1 in
    full | incremental) cmd=("$bin" consolidate) ;;
    output-io) cmd=(git hash-object -w -- "$work/out/manifest.json" "$work/out/index.md") ;;
    write-floor) cmd=(git hash-object -w -- "$work"/full-out/*) ;;
    cat-file) cmd=(git cat-file --batch) stdin=$work/blobs ;;
    gix-floor) cmd=("$floor" full "$repo" "$F" "$manifest_bytes") ;;
    plumbing) cmd=(bash "$here/plumbing-consolidate.sh") ;;
    check) cmd=("$bin" check) ;;
    list) cmd=("$bin" list) ;;
    verify-history) cmd=("$bin" verify --history) ;;
    checkout) cmd=(bash "$here/checkout-consolidate.sh" "$work/checkout") ;;
    *) fail "no method $1" ;;
  esac
}

# reset METHOD: the branch at the method's start, only the layout's own loose
# objects, no checkout left over, writeback finished.
reset() {
  git update-ref refs/heads/main "$(start_of "$1")"
  if [ -e "$work/checkout" ]; then
    rm -rf "$work/checkout"
    git worktree prune
  fi
  if [ -s "$work/baseline" ]; then
    loose_list | comm -13 "$work/baseline" - | xargs -r rm -f
  else
    drop_loose
  fi
  sync
}

check_run() {
  local method=$1 start=$2 tip tree
  tip=$(git rev-parse --verify main)
  case $method in
    full | incremental | plumbing | checkout) ;;
    output-io | write-floor)
      local id ids=$want_out_ids
      if [ "$method" = write-floor ]; then ids=$new_full_out_ids; fi
      for id in $ids; do
        [ -f "$repo/objects/${id:0:2}/${id:2}" ] || fail "$tag: $method did not write $id"
      done
      return 0
      ;;
    *)
      [ "$tip" = "$start" ] || fail "$tag: $method moved the branch"
      return 0
      ;;
  esac
  [ "$(git rev-parse "$tip^")" = "$start" ] || fail "$tag: $method did not commit on top of $start"
  tree=$(git rev-parse "$tip^{tree}")
  local want=$want_full
  if [ "$method" = incremental ]; then want=$want_incr; fi
  if [ "$tree" != "$want" ]; then
    case $method in
      full | incremental) note["$key/identical"]="$method wrote tree $tree, the full rebuild $want" ;;
      *) notes+=("$tag $layout: $method wrote tree $tree, the tool's full rebuild $want") ;;
    esac
  fi
}

# run METHOD [timed]: one run under /usr/bin/time; the wall time (us) is
# appended to times[KEY/METHOD] when timed, the peak RSS (KiB) kept as a max.
run() {
  local method=$1 s e rss
  reset "$method"
  command_of "$method"
  s=${EPOCHREALTIME/./}
  local rc=0
  /usr/bin/time -f %M -o "$work/rss" "${cmd[@]}" <"$stdin" >/dev/null 2>"$work/stderr" || rc=$?
  e=${EPOCHREALTIME/./}
  if [ "$rc" -ne 0 ] && ! expected_failure "$method" "$rc"; then
    fail "$tag $layout: $method failed (exit $rc): $(grep -v '^Command exited' "$work/stderr" | tail -3)"
  fi
  check_run "$method" "$(start_of "$method")"
  if [ "${2:-}" = timed ]; then times["$key/$method"]+=" $((e - s))"; fi
  rss=$(tail -1 "$work/rss")
  if [ "$rss" -gt "${peak[$key/$method]:-0}" ]; then peak["$key/$method"]=$rss; fi
}

# verify --history checks the import commit too, which holds the fragments
# and no manifest or index (as the generator writes it): three problems
# (manifest.json, index.md and the index/ folder), all of that commit, are
# what it must report; anything else is a failure.
expected_failure() {
  [ "$1" = verify-history ] && [ "$2" = 1 ] &&
    [ "$(grep -c "^problem: $generated: " "$work/stderr")" = 3 ] &&
    [ "$(grep -c '^problem: ' "$work/stderr")" = 3 ]
}

is_slow() { [ "$1" = plumbing ] || [ "$1" = checkout ]; }

run_layout() {
  local layout=$1 r i j t0 methods=()
  key="$n/$shape/$layout"
  t0=${EPOCHREALTIME/./}
  lay_out "$layout"
  note["$key/setup"]="$packs packs, $loose_count loose objects, laid out in $(seconds $((${EPOCHREALTIME/./} - t0))) s"
  log "$tag $layout: ${note[$key/setup]}"
  for method in "${methods_all[@]}"; do
    if [ "$method" = checkout ] && [ "$n" -gt "$loose_max" ]; then continue; fi
    methods+=("$method")
  done
  t0=${EPOCHREALTIME/./}
  for method in "${methods[@]}"; do run "$method"; done
  for ((r = 0; r < rounds; r++)); do
    for ((i = 0; i < ${#methods[@]}; i++)); do
      j=$(((i + r) % ${#methods[@]}))
      if is_slow "${methods[$j]}" && [ "$r" -ge "$slow_rounds" ]; then continue; fi
      run "${methods[$j]}" timed
    done
  done
  log "$tag $layout: timed in $(seconds $((${EPOCHREALTIME/./} - t0))) s"
  reset full
  cd "$work"
  if [ "${KEEP:-0}" != 1 ]; then rm -rf "$repo"; fi
}

# --- the report --------------------------------------------------------------

# stats LIST: "median min max" in seconds.
stats() {
  # shellcheck disable=SC2086 # word splitting of the list is intended
  printf '%s\n' $1 | sort -n | awk '{ a[NR] = $1 } END {
    m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
    printf "%.6f %.6f %.6f\n", m / 1e6, a[1] / 1e6, a[NR] / 1e6 }'
}
median_of() {
  local v=${times[$1]:-}
  if [ -z "$v" ]; then echo ""; else stats "$v" | cut -d' ' -f1; fi
}
cell() {
  local v=${times[$1]:-}
  if [ -z "$v" ]; then echo "-"; return; fi
  stats "$v" | awk '{ f = ($1 < 1) ? "%.3f" : "%.2f"; printf f " (" f "–" f ")", $1, $2, $3 }'
}
mb() { if [ -z "${peak[$1]:-}" ]; then echo "-"; else awk -v k="${peak[$1]}" 'BEGIN { printf "%.0f", k * 1024 / 1e6 }'; fi; }

# ratio A B OP LIMIT: "1.23× PASS" (A / B against LIMIT), or "- (reason)".
ratio() {
  if [ -z "$1" ] || [ -z "$2" ]; then echo "-"; return; fi
  awk -v a="$1" -v b="$2" -v op="$3" -v lim="$4" 'BEGIN {
    r = a / b; ok = (op == ">=") ? (r >= lim) : (r <= lim)
    printf "%.2f× %s", r, ok ? "PASS" : "FAIL" }'
}

machine() {
  echo "- machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(free -g | awk '/^Mem:/ { print $2 " GiB RAM" }'); $(git --version); python $("$PYTHON" -c 'import platform; print(platform.python_version())')"
  echo "- load average at start (other processes share the cores): $load0"
  echo "- BIN: $bin ($($bin --version), sha256 $(sha256sum "$bin" | cut -c1-12)); IO_FLOOR: $floor (sha256 $(sha256sum "$floor" | cut -c1-12))"
  echo "- rounds: $rounds per method ($slow_rounds for plumbing and checkout), order rotated each round; whole-process wall clock, median (min–max) in seconds"
}

report() {
  local layout k head=() method
  local cols=(full incremental output-io write-floor cat-file gix-floor plumbing check list verify-history checkout)
  echo
  echo "## Results"
  echo
  machine
  for n in "${sizes[@]}"; do
    for shape in "${shapes[@]}"; do
      echo "- N=$n $shape: ${note[$n/$shape/summary]}"
      for layout in "${layouts[@]}"; do
        if [ -n "${note[$n/$shape/$layout/setup]:-}" ]; then echo "  - $layout: ${note[$n/$shape/$layout/setup]}"; fi
      done
    done
  done
  echo
  echo "### Time (s)"
  echo
  head=("N" shape layout "${cols[@]}")
  printf '| %s ' "${head[@]}"
  echo "|"
  printf '| --- %.0s' "${head[@]}"
  echo "|"
  for n in "${sizes[@]}"; do
    for shape in "${shapes[@]}"; do
      for layout in "${layouts[@]}"; do
        k="$n/$shape/$layout"
        if [ -n "${skipped[$k]:-}" ]; then
          echo "| $n | $shape | $layout | ${skipped[$k]} |$(printf ' |%.0s' "${cols[@]:1}")"
          continue
        fi
        printf '| %s | %s | %s ' "$n" "$shape" "$layout"
        for method in "${cols[@]}"; do printf '| %s ' "$(cell "$k/$method")"; done
        echo "|"
      done
    done
  done
  echo
  echo "### Peak RSS (MB, the largest of the method's runs; for a pipeline its largest process)"
  echo
  printf '| %s ' "${head[@]}"
  echo "|"
  printf '| --- %.0s' "${head[@]}"
  echo "|"
  for n in "${sizes[@]}"; do
    for shape in "${shapes[@]}"; do
      for layout in "${layouts[@]}"; do
        k="$n/$shape/$layout"
        if [ -n "${skipped[$k]:-}" ]; then continue; fi
        printf '| %s | %s | %s ' "$n" "$shape" "$layout"
        for method in "${cols[@]}"; do printf '| %s ' "$(mb "$k/$method")"; done
        echo "|"
      done
    done
  done
  echo
  echo "### Goals of issue 16 (stated for 100,000 realistic fragments; judged here at every size)"
  echo
  echo "| N | shape | layout | full ≤ 1.5× cat-file | plumbing ≥ 4× full | peak ≤ 150 MB (consolidate, check, list, verify --history) | incremental ≤ 1.3× output-io | incremental = full rebuild | check ≤ 1.5× full |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  pass=0 failed=0
  for n in "${sizes[@]}"; do
    for shape in "${shapes[@]}"; do
      for layout in "${layouts[@]}"; do
        k="$n/$shape/$layout"
        if [ -n "${skipped[$k]:-}" ]; then continue; fi
        local full incr g1 g2 g3 g4 g5 g6 worst=0 worst_m="" m
        full=$(median_of "$k/full")
        incr=$(median_of "$k/incremental")
        g1=$(ratio "$full" "$(median_of "$k/cat-file")" "<=" 1.5)
        g2=$(ratio "$(median_of "$k/plumbing")" "$full" ">=" 4)
        for m in full incremental check list verify-history; do
          if [ "${peak[$k/$m]:-0}" -gt "$worst" ]; then worst=${peak[$k/$m]}; worst_m=$m; fi
        done
        g3=$(awk -v k="$worst" -v m="$worst_m" 'BEGIN { v = k * 1024 / 1e6; printf "%.0f MB (%s) %s", v, m, v <= 150 ? "PASS" : "FAIL" }')
        g4=$(ratio "$incr" "$(median_of "$k/output-io")" "<=" 1.3)
        if [ -n "${note[$k/identical]:-}" ]; then g5="FAIL: ${note[$k/identical]}"; else g5="PASS (root trees equal)"; fi
        g6=$(ratio "$(median_of "$k/check")" "$full" "<=" 1.5)
        echo "| $n | $shape | $layout | $g1 | $g2 | $g3 | $g4 | $g5 | $g6 |"
        for g in "$g1" "$g2" "$g3" "$g4" "$g5" "$g6"; do
          case $g in *FAIL*) failed=$((failed + 1)) ;; *PASS*) pass=$((pass + 1)) ;; esac
        done
      done
    done
  done
  echo
  echo "goals: $pass PASS, $failed FAIL"
  echo
  echo "### The full run against git reading its input and writing its output (not a goal)"
  echo
  echo "| N | shape | layout | cat-file | write-floor | cat-file + write-floor | full | full / (cat-file + write-floor) |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
  for n in "${sizes[@]}"; do
    for shape in "${shapes[@]}"; do
      for layout in "${layouts[@]}"; do
        k="$n/$shape/$layout"
        if [ -n "${skipped[$k]:-}" ]; then continue; fi
        awk -v n="$n" -v s="$shape" -v l="$layout" -v c="$(median_of "$k/cat-file")" \
          -v w="$(median_of "$k/write-floor")" -v f="$(median_of "$k/full")" 'BEGIN {
            f3 = "%.3f"; f2 = "%.2f"
            printf "| %s | %s | %s | " (c < 1 ? f3 : f2) " | " (w < 1 ? f3 : f2) " | " (c + w < 1 ? f3 : f2) " | " (f < 1 ? f3 : f2) " | %.2f× |\n", n, s, l, c, w, c + w, f, f / (c + w) }'
      done
    done
  done
  if [ ${#notes[@]} -gt 0 ]; then
    echo
    echo "notes:"
    printf '%s\n' "${notes[@]}" | sort | uniq -c
  fi
  echo
  echo "whole run: $(seconds $((${EPOCHREALTIME/./} - script_start))) s"
}

# --- main --------------------------------------------------------------------

load0=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A skipped
for n in "${sizes[@]}"; do
  for shape in "${shapes[@]}"; do
    tag="N=$n $shape"
    t0=${EPOCHREALTIME/./}
    build_base
    note["$n/$shape/summary"]="$artifacts artifacts, manifest.json $manifest_bytes B, index.md $index_bytes B; catalogue generated in $(seconds $((${EPOCHREALTIME/./} - t0))) s"
    log "$tag: ${note[$n/$shape/summary]}"
    for layout in "${layouts[@]}"; do
      if [ "$layout" = loose ] && [ "$n" -gt "$loose_max" ]; then
        skipped["$n/$shape/$layout"]="skipped: the loose layout runs only at N <= $loose_max (LOOSE_MAX)"
        log "$tag loose: skipped (N > LOOSE_MAX=$loose_max)"
        continue
      fi
      run_layout "$layout"
    done
    cd "$work"
    rm -rf "$work/base.git"
  done
done
if [ "$(printf '%s\n' "${sizes[@]}" | sort -n | tail -1)" -gt "$loose_max" ]; then
  echo "checkout is timed only at N <= $loose_max (LOOSE_MAX)" >&2
fi
report
