#!/usr/bin/env bash
# The consolidation benchmark of issue 5. For each catalogue size N it
# generates a bare repository of N fragments (bench/gen-catalogue.py through
# `git fast-import`), consolidates it once, and then times, in the same run,
# round after round with the methods' order rotated each round:
#
#   full                  `git catalogue consolidate` on a tip with fragments
#                         and no manifest, so no incremental path applies
#   incremental           the same on a consolidated tip plus a commit that
#                         modifies one fragment
#   plumbing              bench/plumbing-consolidate.sh: ls-tree, cat-file
#                         --batch, a script, hash-object, mktree, commit-tree,
#                         update-ref
#   checkout-script       bench/checkout-consolidate.sh: worktree checkout, a
#                         script over the files, git add, git commit
#   record                `git catalogue record --direct` of a new issue on the
#                         consolidated tip
#   io-floor full         examples/io_floor.rs: gix reading the N fragment
#                         blobs and writing one manifest-sized blob
#   io-floor incremental  gix reading the old manifest and writing manifest-
#                         and index-sized blobs
#   io-floor record       gix writing one fragment blob and the fragments tree
#                         with it added
#
# Before every run the branch is put back with `git update-ref` and the loose
# objects the previous run wrote are deleted (setup leaves everything packed),
# so every round does the same work and writes its objects anew. Every run is
# checked: consolidations must write, as new objects, the manifest, index and
# pages of a full rebuild (the tool's own, byte for byte), record must add its
# fragment. Before the rounds, one untimed run of each method under
# /usr/bin/time gives its peak memory and warms the caches; the two baselines
# are measured on their timed runs instead (for a pipeline, the peak of its
# largest process). Prints a table of medians,
# ratios and peaks, and the goals of issue 5 with pass or FAIL.
#
#   bash bench/consolidate.sh [N ...]               default: 1000 10000 100000
#   bash bench/consolidate.sh --compression [N ...] default: 100000
#
# --compression times full and incremental consolidation and their I/O floors
# at core.looseCompression unset (git's default: level 1), 0, 1, 6 and 9, and
# sums the bytes of the loose objects each run wrote; for the manifest blob it
# also shows the size `git hash-object -w` gives at the same level.
#
# Environment: ROUNDS (timed rounds per method, default 5), SLOW_ROUNDS
# (rounds of the two baselines, which take seconds each, default 3), KEEP=1
# (keep the work folder and print its path), TMPDIR (where the work folder
# goes), PYTHON (the interpreter of the scripts). The default run takes about
# four minutes on 2 cores, most of it in the baselines at 100,000.
# Uses the binaries built from this checkout: `cargo build --release` of
# git-catalogue and of the io_floor example.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
rounds=${ROUNDS:-5}
slow_rounds=${SLOW_ROUNDS:-3}
mode=table
if [ "${1:-}" = "--compression" ]; then
  mode=compression
  shift
fi
sizes=("$@")
if [ ${#sizes[@]} -eq 0 ]; then
  if [ "$mode" = table ]; then sizes=(1000 10000 100000); else sizes=(100000); fi
fi
for n in "${sizes[@]}" "$rounds" "$slow_rounds"; do
  if ! [[ $n =~ ^[1-9][0-9]*$ ]]; then
    echo "bench/consolidate.sh: \`$n\` is not a positive whole number" >&2
    echo "usage: bash bench/consolidate.sh [--compression] [N ...]   (env ROUNDS, SLOW_ROUNDS, KEEP)" >&2
    exit 2
  fi
done

# Hermetic git, one fixed identity and date for every process.
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 LC_ALL=C
export GIT_AUTHOR_NAME=Bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=Bench GIT_COMMITTER_EMAIL=bench@example.com
export GIT_AUTHOR_DATE='1700000000 +0000' GIT_COMMITTER_DATE='1700000000 +0000'
unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE
# The interpreter itself, not a version manager's shim: pyenv's `python3` is a
# script that costs 0.2 s per start, which would be billed to the baselines.
PYTHON=${PYTHON:-$(python3 -c 'import sys; print(sys.executable)')}
export PYTHON

(cd "$top" && cargo build --release --quiet --bin git-catalogue --example io_floor)
bin=$top/target/release/git-catalogue
floor=$top/target/release/examples/io_floor

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-consolidate.XXXXXX")
if [ "${KEEP:-0}" = 1 ]; then
  trap 'echo "work folder kept: $work" >&2' EXIT
else
  trap 'rm -rf "$work"' EXIT
fi

declare -A times peak summary
mismatch=()
cmd=()

fail() {
  echo "bench/consolidate.sh: $*" >&2
  exit 1
}

# --- one catalogue -----------------------------------------------------------

# setup N: build $work/nN.git and set the globals the runs use:
#   repo  the bare repository (also the current directory afterwards)
#   C     the N generated fragments, consolidated by the tool (start of record)
#   F     the generated fragments with issue-1 re-run and no manifest (start
#         of full, plumbing and checkout-script: no incremental path applies)
#   I     C plus a commit re-running issue-<N/2> (start of incremental)
#   want_full / want_incr  the manifest, index and pages ids the tool's full rebuild
#         gives for F / I; those objects are then deleted, so every timed
#         consolidation has to write its output (gix and git both skip
#         writing an object that exists, which would hide its cost)
#   manifest_bytes, index_bytes, artifacts, setup_s
setup() {
  local n=$1 t0 tree generated k i_full
  t0=${EPOCHREALTIME/./}
  repo=$work/n$n.git
  git init -q --bare -b main "$repo"
  cd "$repo"
  git config gc.auto 0 # no automatic gc in the middle of a timed run
  "$PYTHON" "$here/gen-catalogue.py" blobs "$n" | git fast-import --quiet
  tree=$("$PYTHON" "$here/gen-catalogue.py" tree "$n" | git mktree)
  "$PYTHON" "$here/gen-catalogue.py" commit "$n" "$tree" | git fast-import --quiet
  generated=$(git rev-parse --verify main)
  "$bin" consolidate >/dev/null 2>&1 || fail "N=$n: the first consolidation failed"
  C=$(git rev-parse --verify main)
  [ "$(git rev-parse "$C^")" = "$generated" ] || fail "N=$n: consolidation did not commit on top of the fragments"
  F=$(rerun refs/bench/fragments "$generated" 1)
  k=$(((n + 1) / 2))
  I=$(rerun refs/bench/incremental "$C" "$k")
  # The references: the tool's full rebuilds of F, and of a copy of I
  # without manifest and index. Both are left unreachable, and the repack
  # below drops them.
  git update-ref refs/heads/main "$F"
  "$bin" consolidate >/dev/null 2>&1 || fail "N=$n: the reference rebuild of F failed"
  want_full=$(outputs main)
  fast_commit refs/bench/incremental-full "I without manifest and index" "$I" \
    "D catalogue/manifest.json" "D catalogue/index.md" "D catalogue/index"
  i_full=$(git rev-parse --verify refs/bench/incremental-full)
  git update-ref refs/heads/main "$i_full"
  "$bin" consolidate >/dev/null 2>&1 || fail "N=$n: the reference rebuild of I failed"
  want_incr=$(outputs main)
  git update-ref -d refs/bench/incremental-full
  git update-ref refs/bench/consolidated "$C"
  git update-ref refs/heads/main "$C"
  # Everything reachable packed into one pack, as in a clone; the rest gone.
  git repack -adq
  git pack-refs --all
  drop_loose
  local id
  for id in $want_full $want_incr; do
    if git cat-file -e "$id" 2>/dev/null; then
      fail "N=$n: output object $id survived the repack; the runs would not write it"
    fi
  done
  manifest_bytes=$(git cat-file -s "$C:catalogue/manifest.json")
  index_bytes=$(git cat-file -s "$C:catalogue/index.md")
  artifacts=$(git cat-file -p "$C:catalogue/manifest.json" | grep -c '^    {"fragment"' || true)
  setup_s=$(seconds $((${EPOCHREALTIME/./} - t0)))
}

# rerun REF PARENT K: a commit on PARENT, at REF, in which issue-K has a new
# run id and new artifact titles, as a re-run of that issue would write: the
# fragment's entry and its artifact lines in the manifest change, and its
# rows in the index. Prints the commit.
rerun() {
  local ref=$1 parent=$2 k=$3 blob
  blob=$(git cat-file -p "$parent:catalogue/fragments/issue-$k.json" |
    sed -e 's/"id": \([0-9]*\)/"id": 1\1/' -e 's/"title": "\(.*\)"/"title": "\1, re-run"/' |
    git hash-object -w --stdin)
  fast_commit "$ref" "re-run of issue-$k" "$parent" "M 100644 $blob catalogue/fragments/issue-$k.json"
  git rev-parse --verify "$ref"
}

# fast_commit REF MESSAGE PARENT CHANGE...: one commit by git fast-import,
# each CHANGE a fast-import file command (`M mode id path`, `D path`).
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

# The ids of manifest.json, index.md and the index/ folder of pages in a
# commit, on one line.
outputs() {
  git rev-parse "$1:catalogue/manifest.json" "$1:catalogue/index.md" "$1:catalogue/index" | tr '\n' ' '
}

drop_loose() {
  local d
  for d in "$repo"/objects/[0-9a-f][0-9a-f]; do
    if [ -d "$d" ]; then rm -rf "$d"; fi
  done
}

seconds() { awk -v us="$1" 'BEGIN { printf "%.4f", us / 1e6 }'; }

# Where each method starts, what it runs, and what must hold afterwards.
methods=(full incremental plumbing checkout-script record "io-floor full" "io-floor incremental" "io-floor record")

start_of() {
  case $1 in
    incremental) echo "$I" ;;
    record | "io-floor record") echo "$C" ;;
    "io-floor incremental") echo "$I" ;;
    *) echo "$F" ;;
  esac
}

# command_of METHOD: sets cmd to the method's command line.
command_of() {
  case $1 in
    full | incremental) cmd=("$bin" consolidate) ;;
    plumbing) cmd=(bash "$here/plumbing-consolidate.sh") ;;
    checkout-script) cmd=(bash "$here/checkout-consolidate.sh" "$work/checkout") ;;
    record) cmd=("$bin" record --direct --issue "$((n + 1))" --artifact "docs/$((n + 1))/summary.md"
      --kind summary --title "Summary for #$((n + 1))") ;;
    "io-floor full") cmd=("$floor" full "$repo" "$F" "$manifest_bytes") ;;
    "io-floor incremental") cmd=("$floor" incremental "$repo" "$I" "$manifest_bytes" "$index_bytes") ;;
    "io-floor record") cmd=("$floor" record "$repo" "$C") ;;
    *) fail "no method $1" ;;
  esac
}

verify() {
  local method=$1 start=$2 tip got want
  tip=$(git rev-parse --verify main)
  case $method in
    io-floor*) return 0 ;;
    record)
      [ "$(git rev-parse "$tip^")" = "$start" ] || fail "N=$n: record did not commit on top of $start"
      git cat-file -e "$tip:catalogue/fragments/issue-$((n + 1)).json" || fail "N=$n: record wrote no fragment"
      return 0
      ;;
  esac
  [ "$(git rev-parse "$tip^")" = "$start" ] || fail "N=$n: $method did not commit on top of $start"
  got=$(outputs "$tip")
  # Written by this run, not found already there.
  [ -f "$repo/objects/${got:0:2}/${got:2:38}" ] || fail "N=$n: $method did not write manifest ${got:0:40} as a new object"
  want=$want_full
  if [ "$method" = incremental ]; then want=$want_incr; fi
  if [ "$got" != "$want" ]; then
    if [ "$method" = incremental ]; then
      mismatch+=("N=$n: MISMATCH: incremental wrote manifest/index/pages $got, a full rebuild writes $want")
    else
      mismatch+=("N=$n: $method wrote manifest/index/pages $got, the tool writes $want")
    fi
  fi
}

# reset METHOD: the branch back at the method's start, no loose objects, no
# checkout left over.
reset() {
  git update-ref refs/heads/main "$(start_of "$1")"
  if [ -e "$work/checkout" ]; then
    rm -rf "$work/checkout"
    git worktree prune
  fi
  drop_loose
  # Let the kernel finish writing back what the last run wrote (the checkout
  # job writes 100,000 files and deletes them) before the next run starts:
  # background writeback takes a core from whichever method runs next.
  sync
}

# The baselines, seconds per run at 100,000 fragments: fewer rounds, and
# their peak memory taken from the timed runs (the 1 ms /usr/bin/time adds is
# noise for them) rather than from a run of its own.
is_slow() { [ "$1" = plumbing ] || [ "$1" = checkout-script ]; }

# timed METHOD: one run, its wall time in microseconds appended to times[N/METHOD].
timed() {
  local method=$1 s e rss
  reset "$method"
  command_of "$method"
  if is_slow "$method"; then
    cmd=(/usr/bin/time -f %M -o "$work/rss" "${cmd[@]}")
  fi
  s=${EPOCHREALTIME/./}
  "${cmd[@]}" >/dev/null 2>"$work/stderr" || fail "N=$n: $method failed: $(tail -3 "$work/stderr")"
  e=${EPOCHREALTIME/./}
  verify "$method" "$(start_of "$method")"
  times["$n/$method"]+=" $((e - s))"
  if is_slow "$method"; then
    rss=$(tail -1 "$work/rss")
    if [ "$rss" -gt "${peak[$n/$method]:-0}" ]; then peak["$n/$method"]=$rss; fi
  fi
}

# measure_peak METHOD: one untimed run under /usr/bin/time, its maximum
# resident set in KiB (of the largest process, for a pipeline) in peak[N/METHOD].
measure_peak() {
  local method=$1
  reset "$method"
  command_of "$method"
  /usr/bin/time -f %M -o "$work/rss" "${cmd[@]}" >/dev/null 2>"$work/stderr" ||
    fail "N=$n: $method failed: $(tail -3 "$work/stderr")"
  verify "$method" "$(start_of "$method")"
  peak["$n/$method"]=$(tail -1 "$work/rss")
}

median() {
  # shellcheck disable=SC2086 # word splitting of the list is intended
  printf '%s\n' $1 | sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# --- the table ---------------------------------------------------------------

machine() {
  echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(free -g | awk '/^Mem:/ { print $2 " GiB RAM" }'); $(git --version); python $("$PYTHON" -c 'import platform; print(platform.python_version())')"
  echo "load average at start (other processes share the cores): $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "binary: $bin, built from $(git -C "$top" rev-parse --short HEAD)$(if [ -n "$(git -C "$top" status --porcelain -- src Cargo.toml Cargo.lock)" ]; then echo ' (with local changes)'; fi)"
}

run_table() {
  machine
  echo "rounds: $rounds per method ($slow_rounds for plumbing and checkout-script), order rotated each round; times are whole-process wall clock"
  local r i j method
  for n in "${sizes[@]}"; do
    setup "$n"
    echo "N=$n: $artifacts artifacts, manifest.json $manifest_bytes B, index.md $index_bytes B; set up in $setup_s s (generation, 3 consolidations, repack)" >&2
    for method in "${methods[@]}"; do
      if ! is_slow "$method"; then
        measure_peak "$method" # also warms the caches
      fi
    done
    for ((r = 0; r < rounds; r++)); do
      for ((i = 0; i < ${#methods[@]}; i++)); do
        j=$(((i + r) % ${#methods[@]}))
        if is_slow "${methods[$j]}" && [ "$r" -ge "$slow_rounds" ]; then continue; fi
        timed "${methods[$j]}"
      done
    done
    reset full
    summary["$n"]="$artifacts artifacts, manifest $manifest_bytes B, index $index_bytes B"
    cd "$work"
    if [ "${KEEP:-0}" != 1 ]; then rm -rf "$repo"; fi
  done
  print_table
}

print_table() {
  local n method m floor_m full_m ratio_floor
  echo
  printf '%-8s %-22s %10s %8s %9s %9s\n' N method "median s" "/ full" "/ floor" "peak MiB"
  for n in "${sizes[@]}"; do
    full_m=$(median "${times[$n/full]}")
    for method in "${methods[@]}"; do
      m=$(median "${times[$n/$method]}")
      ratio_floor=-
      case $method in
        full | incremental | record)
          floor_m=$(median "${times[$n/io-floor $method]}")
          ratio_floor=$(awk -v a="$m" -v b="$floor_m" 'BEGIN { printf "%.2fx", a / b }')
          ;;
      esac
      awk -v n="$n" -v meth="$method" -v m="$m" -v f="$full_m" -v rf="$ratio_floor" -v p="${peak[$n/$method]}" \
        'BEGIN { printf "%-8s %-22s %10.4f %7.2fx %9s %9.1f\n", n, meth, m / 1e6, m / f, rf, p / 1024 }'
    done
    echo "         ($n fragments: ${summary[$n]})"
  done
  echo
  echo "goals of issue 5 (stated at 100,000 fragments), from the medians above:"
  local judged=0
  for n in "${sizes[@]}"; do
    # Below 100,000 fixed costs (process start, the commit, the ref update)
    # weigh more than the goals allow for; they are not judged there.
    if [ "$n" -lt 100000 ]; then continue; fi
    judged=1
    goal "$n" "full vs plumbing" ">=" 6 "$(median "${times[$n/plumbing]}")" "$(median "${times[$n/full]}")"
    goal "$n" "full vs checkout-script" ">=" 20 "$(median "${times[$n/checkout-script]}")" "$(median "${times[$n/full]}")"
    goal "$n" "full / io-floor full" "<=" 2 "$(median "${times[$n/full]}")" "$(median "${times[$n/io-floor full]}")"
    goal "$n" "incremental / io-floor incr." "<=" 1.3 "$(median "${times[$n/incremental]}")" "$(median "${times[$n/io-floor incremental]}")"
    peak_goal "$n" full
    peak_goal "$n" incremental
  done
  if [ "$judged" = 0 ]; then echo "  (none judged: no size of 100,000 fragments or more was run)"; fi
  if [ ${#mismatch[@]} -gt 0 ]; then
    echo
    printf '%s\n' "${mismatch[@]}" | sort | uniq -c
  else
    echo
    echo "every consolidation wrote the manifest, index and pages of a full rebuild, byte for byte"
  fi
}

# goal N NAME OP LIMIT A B: A / B against LIMIT.
goal() {
  awk -v n="$1" -v name="$2" -v op="$3" -v lim="$4" -v a="$5" -v b="$6" 'BEGIN {
    r = a / b
    ok = (op == ">=") ? (r >= lim) : (r <= lim)
    printf "  N=%-7s %-30s %6.2fx  (goal %s %sx)  %s\n", n, name, r, op, lim, ok ? "pass" : "FAIL"
  }'
}

peak_goal() {
  awk -v n="$1" -v name="peak memory, $2" -v kib="${peak[$1/$2]}" 'BEGIN {
    mb = kib * 1024 / 1e6
    printf "  N=%-7s %-30s %6.1f MB (goal <= 150 MB)  %s\n", n, name, mb, mb <= 150 ? "pass" : "FAIL"
  }'
}

# --- core.looseCompression ---------------------------------------------------

# Bytes of the loose objects in the repository (a run's own, after reset).
loose_bytes() {
  find "$repo/objects" -path "$repo/objects/pack" -prune -o -path "$repo/objects/info" -prune -o -type f -printf '%s\n' |
    awk '{ s += $1 } END { print s + 0 }'
}

run_compression() {
  machine
  echo "rounds: $rounds per level and method, levels alternating; times are whole-process wall clock;"
  echo "written: bytes of the loose objects the run wrote (median); manifest object: its loose file as gix wrote it, and as git hash-object -w writes it"
  local level r method s e mid obj
  local levels=(unset 0 1 6 9)
  local cmethods=(full incremental "io-floor full" "io-floor incremental")
  declare -A ctimes cbytes gixsize gitsize
  for n in "${sizes[@]}"; do
    setup "$n"
    echo "N=$n: manifest.json $manifest_bytes B, index.md $index_bytes B" >&2
    for ((r = 0; r < rounds; r++)); do
      for level in "${levels[@]}"; do
        if [ "$level" = unset ]; then
          git config --unset core.looseCompression || true
        else
          git config core.looseCompression "$level"
        fi
        for method in "${cmethods[@]}"; do
          reset "$method"
          command_of "$method"
          s=${EPOCHREALTIME/./}
          "${cmd[@]}" >/dev/null 2>"$work/stderr" || fail "N=$n: $method failed: $(tail -3 "$work/stderr")"
          e=${EPOCHREALTIME/./}
          verify "$method" "$(start_of "$method")"
          ctimes["$n/$level/$method"]+=" $((e - s))"
          cbytes["$n/$level/$method"]+=" $(loose_bytes)"
          if [ "$method" = full ] && [ "$r" -eq 0 ]; then
            # The manifest's loose object as gix wrote it; then deleted and
            # written again by git at the same level.
            mid=$(git rev-parse main:catalogue/manifest.json)
            obj=$repo/objects/${mid:0:2}/${mid:2}
            gixsize["$n/$level"]=$(stat -c %s "$obj")
            git cat-file blob "$mid" >"$work/manifest.json"
            rm -f "$obj"
            [ "$(git hash-object -w "$work/manifest.json")" = "$mid" ] || fail "git hash-object gave another id"
            gitsize["$n/$level"]=$(stat -c %s "$obj")
          fi
        done
      done
    done
    git config --unset core.looseCompression || true
    cd "$work"
    if [ "${KEEP:-0}" != 1 ]; then rm -rf "$repo"; fi
  done
  echo
  printf '%-8s %-6s %-22s %10s %14s\n' N level method "median s" "written B"
  for n in "${sizes[@]}"; do
    for level in "${levels[@]}"; do
      for method in "${cmethods[@]}"; do
        awk -v n="$n" -v l="$level" -v meth="$method" -v t="$(median "${ctimes[$n/$level/$method]}")" \
          -v b="$(median "${cbytes[$n/$level/$method]}")" \
          'BEGIN { printf "%-8s %-6s %-22s %10.4f %14d\n", n, l, meth, t / 1e6, b }'
      done
      echo "         manifest object at level $level: gix ${gixsize[$n/$level]} B, git ${gitsize[$n/$level]} B"
    done
  done
  if [ ${#mismatch[@]} -gt 0 ]; then
    echo
    printf '%s\n' "${mismatch[@]}" | sort | uniq -c
  fi
}

case $mode in
  table) run_table ;;
  compression) run_compression ;;
esac
