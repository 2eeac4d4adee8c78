#!/usr/bin/env bash
# Blobless CI mode: the bytes a CI job downloads to consolidate and
# push, in a `--depth 1 --filter=blob:none` clone, against a plain
# `--depth 1` clone. The remote (served by `git daemon` on 127.0.0.1) holds N
# fragments (default 10,000), a consolidated manifest, one fragment recorded
# after it, and OTHER_MB (default 60) of unrelated, incompressible files.
#   bash bench/blobless.sh [N] [OTHER_MB]
# Bytes are the sizes of the packs each clone received (what the transfer
# carried, less protocol framing), read with `git count-objects -v`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
n=${1:-10000}
other_mb=${2:-60}
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 LC_ALL=C
export GIT_AUTHOR_NAME=Bench GIT_AUTHOR_EMAIL=bench@example.com GIT_COMMITTER_NAME=Bench GIT_COMMITTER_EMAIL=bench@example.com
PYTHON=${PYTHON:-$(python3 -c 'import sys; print(sys.executable)')}
(cd "$here/.." && cargo build --release --quiet)
bin="$here/../target/release/git-catalogue"
work=$(mktemp -d)
daemon=
cleanup() {
  [ -n "$daemon" ] && kill "$daemon" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

origin="$work/origin.git"
git init -q --bare -b main "$origin"
(
  cd "$origin"
  "$PYTHON" "$here/gen-catalogue.py" blobs "$n" | git fast-import --quiet
  tree=$("$PYTHON" "$here/gen-catalogue.py" tree "$n" | git mktree)
  "$PYTHON" "$here/gen-catalogue.py" commit "$n" "$tree" | git fast-import --quiet
  # Unrelated large files: build outputs, datasets, vendored binaries.
  idx="$work/index"
  GIT_INDEX_FILE=$idx git read-tree main
  for i in $(seq 1 "$other_mb"); do
    head -c 1048576 /dev/urandom >"$work/blob"
    id=$(git hash-object -w "$work/blob")
    GIT_INDEX_FILE=$idx git update-index --add --cacheinfo "100644,$id,assets/data-$i.bin"
  done
  tree=$(GIT_INDEX_FILE=$idx git write-tree)
  commit=$(git commit-tree "$tree" -p main -m "assets")
  git update-ref refs/heads/main "$commit"
  "$bin" consolidate >/dev/null 2>&1
  # Another run records a fragment after the consolidation.
  "$bin" record --direct --issue $((n + 1)) --artifact "docs/$((n + 1))/summary.md" >/dev/null 2>&1
  git repack -adq
  git config uploadpack.allowFilter true
  git config uploadpack.allowAnySHA1InWant true
)
port=$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
git daemon --reuseaddr --export-all --enable=receive-pack --listen=127.0.0.1 \
  --port="$port" --base-path="$work" "$work" 2>"$work/daemon.log" &
daemon=$!
for _ in $(seq 1 50); do
  git ls-remote "git://127.0.0.1:$port/origin.git" >/dev/null 2>&1 && break
  sleep 0.1
done
url="git://127.0.0.1:$port/origin.git"
packed() { git -C "$1" count-objects -v | awk '/^size-pack:/ {print $2 * 1024}'; }

git clone -q --bare --depth 1 "$url" "$work/depth1.git"
full=$(packed "$work/depth1.git")

git clone -q --bare --depth 1 --filter=blob:none "$url" "$work/blobless.git"
clone=$(packed "$work/blobless.git")
out=$(cd "$work/blobless.git" && "$bin" --json consolidate --push origin)
after=$(packed "$work/blobless.git")
mode=$(echo "$out" | "$PYTHON" -c 'import json,sys; d=json.load(sys.stdin); print(d["mode"], d["artifacts"], "artifacts, pushed", d["pushed"])')
# What the blobless clone fetched on demand: blobs it now has, that a
# blobless clone lacks.
fetched=$(cd "$work/blobless.git" && git count-objects -v | awk '/^in-pack:/ {print $2}')

(cd "$origin" && "$bin" check >/dev/null 2>&1) && verdict="origin: check ok" || verdict="origin: check FAILED"
printf 'remote: %d fragments, %d MB of other files; consolidate: %s; %s\n' "$n" "$other_mb" "$mode" "$verdict"
printf '%-52s %12s %8s\n' "clone" "bytes" "share"
printf '%-52s %12d %7.1f%%\n' "git clone --bare --depth 1" "$full" 100
printf '%-52s %12d %7.1f%%\n' "--depth 1 --filter=blob:none: the clone" "$clone" "$(echo "100 * $clone / $full" | bc -l)"
printf '%-52s %12d %7.1f%%\n' "  + consolidate --push origin (blobs fetched)" "$((after - clone))" "$(echo "100 * ($after - $clone) / $full" | bc -l)"
printf '%-52s %12d %7.1f%%\n' "blobless total" "$after" "$(echo "100 * $after / $full" | bc -l)"
echo "objects in the blobless clone's packs afterwards: $fetched"
