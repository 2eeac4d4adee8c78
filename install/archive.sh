#!/usr/bin/env bash
# The release archive of one target, as .github/workflows/release.yml
# publishes it and action.yml installs it:
#   bash install/archive.sh WHEEL TARGET VERSION NATIVE_BIN OUT_DIR
# WHEEL is the wheel maturin built for TARGET; the archive carries the
# binary taken out of it (the same bytes pip installs), so nothing is built
# twice. NATIVE_BIN is a git-catalogue that runs on this machine; it writes
# the man page and the completions. Prints the archive's path.
set -euo pipefail
wheel="$1" target="$2" version="$3" native="$4" out="$5"
here="$(cd "$(dirname "$0")/.." && pwd)"
name="git-catalogue-$version-$target"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/$name/bin" "$stage/$name/share/man/man1" "$stage/$name/share/completions"
python3 - "$wheel" "$stage/$name/bin/git-catalogue" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    [member] = [n for n in z.namelist() if n.endswith(".data/scripts/git-catalogue")]
    with open(sys.argv[2], "wb") as f:
        f.write(z.read(member))
PY
chmod 755 "$stage/$name/bin/git-catalogue"
"$native" manual >"$stage/$name/share/man/man1/git-catalogue.1"
"$native" completions bash >"$stage/$name/share/completions/git-catalogue.bash"
"$native" completions zsh >"$stage/$name/share/completions/_git-catalogue"
"$native" completions fish >"$stage/$name/share/completions/git-catalogue.fish"
cp "$here/README.md" "$here/LICENSE-MIT" "$here/LICENSE-APACHE" "$stage/$name/"
mkdir -p "$out"
# Plain flags only: the macOS runners' tar is bsdtar.
tar -C "$stage" -czf "$out/$name.tar.gz" "$name"
echo "$out/$name.tar.gz"
