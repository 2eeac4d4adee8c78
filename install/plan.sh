#!/usr/bin/env bash
# action.yml, step 1: decide what to install, from the pins in SHA256SUMS.
# In: VERSION, REPOSITORY, OS, ARCH (runner.os, runner.arch), GITHUB_ACTION_PATH.
# Out ($GITHUB_OUTPUT): how (release|source), root, bin, key, and for a
# release archive, sha256, url.
set -euo pipefail
here="$GITHUB_ACTION_PATH"
case "$OS/$ARCH" in
  Linux/X64) target=x86_64-unknown-linux-gnu ;;
  Linux/ARM64) target=aarch64-unknown-linux-gnu ;;
  macOS/ARM64) target=aarch64-apple-darwin ;;
  macOS/X64) target=x86_64-apple-darwin ;;
  *) target="" ;;
esac
sums="$here/install/SHA256SUMS"
line=""
if [ -n "$target" ]; then
  pattern="git-catalogue-${VERSION:-[0-9][^ ]*}-$target\\.tar\\.gz\$"
  line="$(grep -v '^#' "$sums" | grep -E "  $pattern" | sort -V -k2 | tail -n 1 || true)"
fi
if [ -n "$VERSION" ] && [ -z "$line" ]; then
  echo "::error::git-catalogue $VERSION for $OS/$ARCH is not pinned in this action's install/SHA256SUMS"
  exit 2
fi
cache="${RUNNER_TOOL_CACHE:-$HOME/.cache}/git-catalogue"
if [ -n "$line" ] && [ -n "$REPOSITORY" ]; then
  sha256="${line%%  *}"
  archive="${line##*  }"
  version="${archive#git-catalogue-}"
  version="${version%-"$target".tar.gz}"
  root="$cache/$version-$target"
  {
    echo "how=release"
    echo "sha256=$sha256"
    echo "archive=$archive"
    echo "url=$GITHUB_SERVER_URL/$REPOSITORY/releases/download/v$version/$archive"
    echo "key=git-catalogue-release-$sha256"
  } >>"$GITHUB_OUTPUT"
else
  # The action's own source, identified by the hash of what the build reads.
  tree="$(cd "$here" && find Cargo.toml Cargo.lock src -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum)"
  tree="${tree%% *}"
  root="$cache/source-$tree"
  {
    echo "how=source"
    echo "key=git-catalogue-source-$OS-$ARCH-$tree"
  } >>"$GITHUB_OUTPUT"
fi
{
  echo "root=$root"
  echo "bin=$root/bin"
} >>"$GITHUB_OUTPUT"
