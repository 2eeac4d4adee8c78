#!/usr/bin/env bash
# action.yml, step 3: install into ROOT unless the cache restored it, check
# the archive's SHA-256 against the pin, and put ROOT/bin on PATH (and
# ROOT/share/man on MANPATH's derivation: man finds it beside ROOT/bin).
set -euo pipefail
if [ ! -x "$ROOT/bin/git-catalogue" ]; then
  rm -rf "$ROOT"
  mkdir -p "$ROOT"
  if [ "$HOW" = release ]; then
    tmp="$(mktemp -d)"
    curl --proto '=https' --tlsv1.2 -fsSL --retry 3 -o "$tmp/$ARCHIVE" "$URL"
    echo "$SHA256  $tmp/$ARCHIVE" | sha256sum -c --quiet 2>/dev/null ||
      echo "$SHA256  $tmp/$ARCHIVE" | shasum -a 256 -c --quiet
    tar -xzf "$tmp/$ARCHIVE" -C "$ROOT" --strip-components 1
    rm -rf "$tmp"
  else
    cargo install --locked --quiet --path "$GITHUB_ACTION_PATH" --root "$ROOT"
    mkdir -p "$ROOT/share/man/man1"
    "$ROOT/bin/git-catalogue" manual >"$ROOT/share/man/man1/git-catalogue.1"
  fi
fi
echo "$ROOT/bin" >>"$GITHUB_PATH"
"$ROOT/bin/git-catalogue" --version
