#!/usr/bin/env bash
# Usage: docs/img/render.sh [-o OUTDIR] [-r REV] [-d DIR] [-p PAGE] [-H HEIGHT] REPO | FRONT.md [PAGE.md]
#
# Takes the screenshots of docs/img/: the catalogue's front page and one of
# its pages, rendered as GitHub shows a Markdown file, as index-front.png and
# index-page.png in OUTDIR (default: this folder).
#
#   REPO        a repository; the front page is DIR/index.md at REV (default
#               HEAD, read from git objects, so a bare repository does), the
#               page the first DIR/index/*.md in natural order (none in the
#               single-table layout: then only the front page is taken)
#   FRONT.md    or the two Markdown files themselves
#   -d DIR      the catalogue folder (default: catalogue)
#   -p PAGE     the page to take from REPO instead of the first, e.g.
#               catalogue/index/issue-1001.md
#   -H HEIGHT   the picture's height in pixels; default: the whole page,
#               cut at 3000 (MAX_HEIGHT), from a first measuring run
#
# The Markdown goes through cmark-gfm, the C renderer GitHub forked for its
# own, with the extensions github.com turns on (table, strikethrough,
# autolink, tagfilter, tasklist, footnotes) and in its safe mode: raw HTML and
# javascript: links are dropped, as GitHub's sanitiser would. The catalogue
# never writes either, so the script says so when cmark-gfm dropped one, and
# when a table row of the Markdown did not become one row of HTML. Styled by
# github-markdown-css (vendored beside, MIT) inside frame.html, GitHub's blob
# page; photographed by headless Chromium, which fetches nothing.
#
# Needs cmark-gfm and chromium (Debian: apt-get install -y cmark-gfm chromium)
# and git for REPO; optipng, when on PATH, makes the PNGs smaller. Exit 1
# when a check above found something (the PNGs are written all the same), 2
# when it could not run. Not part of the test suite, since it needs Chromium.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=$here
rev=HEAD
dir=catalogue
height=
pick=
max_height=${MAX_HEIGHT:-3000}
width=1280
chromium=${CHROMIUM:-chromium}

found=0
die() { printf 'render.sh: %s\n' "$*" >&2; exit 2; }
note() { printf 'render.sh: %s\n' "$*" >&2; }
warn() { note "$@"; found=1; }
usage() { sed -n '2p' "${BASH_SOURCE[0]}" | sed 's/^# //' >&2; exit 2; }

while getopts 'o:r:d:p:H:h' opt; do
  case $opt in
    o) out=$OPTARG ;;
    r) rev=$OPTARG ;;
    d) dir=${OPTARG%/} ;;
    p) pick=$OPTARG ;;
    H) height=$OPTARG ;;
    *) usage ;;
  esac
done
shift $((OPTIND - 1))
if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
[ -z "$height" ] || [[ $height =~ ^[1-9][0-9]*$ ]] || die "-H takes a number of pixels, not '$height'"

command -v cmark-gfm > /dev/null || die "cmark-gfm not found (apt-get install -y cmark-gfm)"
command -v "$chromium" > /dev/null || die "$chromium not found (apt-get install -y chromium, or set CHROMIUM)"
mkdir -p "$out"
out=$(cd "$out" && pwd)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The inputs, as (Markdown file, the path GitHub would show) pairs.
sources=()
names=()
if [ -d "$1" ] && [ $# -eq 1 ]; then
  repo=$1
  git -C "$repo" cat-file -e "$rev:$dir/index.md" 2> /dev/null \
    || die "$repo has no $dir/index.md at $rev"
  git -C "$repo" show "$rev:$dir/index.md" > "$work/front.md"
  sources+=("$work/front.md")
  names+=("$dir/index.md")
  # sort -V compares digit runs by value, as the catalogue's natural order does.
  first=$pick
  if [ -n "$pick" ]; then
    git -C "$repo" cat-file -e "$rev:$pick" 2> /dev/null || die "$repo has no $pick at $rev"
  else
    first=$(git -C "$repo" ls-tree --name-only "$rev" -- "$dir/index/" \
      | grep '\.md$' | LC_ALL=C sort -V | head -n 1 || true)
  fi
  if [ -n "$first" ]; then
    git -C "$repo" show "$rev:$first" > "$work/page.md"
    sources+=("$work/page.md")
    names+=("$first")
  else
    note "no pages under $dir/index/ at $rev (single-table layout): only the front page"
  fi
else
  for file in "$@"; do
    [ -f "$file" ] || die "no such file: $file"
    sources+=("$file")
    # Shown as GitHub would: the path inside its repository, when it is in one.
    prefix=$(git -C "$(dirname "$file")" rev-parse --show-prefix 2> /dev/null) \
      && names+=("$prefix$(basename "$file")") || names+=("$(basename "$file")")
  done
fi

html_escape() {
  sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' -e 's/"/\&quot;/g'
}

# GitHub's size line: "1.2 KB", "382 KB", "4.01 MB".
human_size() {
  awk -v b="$1" 'BEGIN {
    if (b < 1024) printf "%d Bytes", b
    else if (b < 1048576) printf (b < 10240 ? "%.1f KB" : "%d KB"), b / 1024
    else printf "%.2f MB", b / 1048576 }'
}

# "OWNER/REPO / catalogue / index / issue-1.md", directories as links.
crumbs() {
  local part rest=$1 html='<a href="#">REPO</a>'
  while [[ $rest == */* ]]; do
    part=${rest%%/*}
    rest=${rest#*/}
    html+=" / <a href=\"#\">$(printf '%s' "$part" | html_escape)</a>"
  done
  html+=" / $(printf '%s' "$rest" | html_escape)"
  printf '%s' "$html"
}

# Says what GitHub's renderer would do differently from what the catalogue
# means: dropped raw HTML or links, or a table row that did not stay one row.
check_render() {
  local md=$1 html=$2 name=$3 bytes=$4 dropped bad mail md_rows html_rows
  dropped=$(grep -o 'raw HTML omitted' "$html" | wc -l || true)
  [ "$dropped" -eq 0 ] || warn "$name: cmark-gfm dropped raw HTML in $dropped place(s)"
  bad=$(grep -o 'href=""' "$html" | wc -l || true)
  [ "$bad" -eq 0 ] || warn "$name: $bad link(s) with an unsafe target (dropped)"
  # GFM's extended autolinks: the e-mail one survives backslash escapes and
  # entities (cmark-gfm matches it on the text after both are decoded).
  mail=$(grep -o 'href="mailto:' "$html" | wc -l || true)
  [ "$mail" -eq 0 ] || warn "$name: $mail e-mail address(es) in text became mailto: links"
  # Markdown rows: lines starting with '|', less a head and a delimiter per table.
  md_rows=$(( $(grep -c '^|' "$md" || true) - 2 * $(grep -c '^| *:\?---' "$md" || true) ))
  html_rows=$(( $(grep -o '<tr>' "$html" | wc -l || true) - $(grep -o '<thead>' "$html" | wc -l || true) ))
  [ "$md_rows" -eq "$html_rows" ] \
    || warn "$name: $md_rows table rows in the Markdown, $html_rows in the HTML"
  # GitHub shows a larger Markdown file as plain text, or not at all.
  [ "$bytes" -lt 2000000 ] || warn "$name: $bytes bytes, over the 2 MB GitHub renders"
  note "$name: $bytes bytes, $html_rows table rows, $(grep -o '<table>' "$html" | wc -l || true) table(s)"
}

run_chromium() {
  local profile status
  profile=$(mktemp -d "$work/profile.XXXXXX")
  status=0
  timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --disable-quic \
    --no-first-run --disable-background-networking --disable-component-update \
    --disable-sync --disable-extensions --hide-scrollbars --force-device-scale-factor=1 \
    --user-data-dir="$profile" "$@" 2> "$work/chromium.log" || status=$?
  if [ "$status" -ne 0 ]; then
    cat "$work/chromium.log" >&2
    die "$chromium failed (exit $status)"
  fi
}

template=$(cat "$here/frame.html")
for marker in @CSS@ @BODY@; do
  t=${template#*"$marker"}
  if [ "$t" = "$template" ] || [[ $t == *"$marker"* ]]; then die "frame.html must hold $marker once"; fi
done
shots=(index-front.png index-page.png)
for i in "${!sources[@]}"; do
  md=${sources[$i]}
  name=${names[$i]}
  png=$out/${shots[$i]}
  body=$work/body-$i.html
  page=$work/page-$i.html
  cmark-gfm --validate-utf8 -e table -e strikethrough -e autolink -e tagfilter \
    -e tasklist -e footnotes "$md" > "$body"
  bytes=$(wc -c < "$md")
  check_render "$md" "$body" "$name" "$bytes"

  t=${template//@PATH@/"$(printf '%s' "$name" | html_escape)"}
  t=${t//@CRUMBS@/"$(crumbs "$name")"}
  t=${t//@LINES@/"$(wc -l < "$md" | tr -d ' ')"}
  t=${t//@SIZE@/"$(human_size "$bytes")"}
  {
    printf '%s' "${t%%@CSS@*}"
    cat "$here/github-markdown-css/github-markdown-light.css"
    t=${t#*@CSS@}
    printf '%s' "${t%%@BODY@*}"
    cat "$body"
    printf '%s' "${t#*@BODY@}"
  } > "$page"

  h=$height
  if [ -z "$h" ]; then
    # A first run measures the page: a script, in this copy only, writes the
    # document's height into the DOM that --dump-dom prints.
    sed 's|</body>|<script>document.body.dataset.h = document.documentElement.scrollHeight</script></body>|' \
      "$page" > "$work/measure.html"
    run_chromium --window-size="$width,800" --dump-dom "file://$work/measure.html" > "$work/dom.html"
    h=$(grep -o 'data-h="[0-9]*"' "$work/dom.html" | head -n 1 | tr -dc '0-9')
    [ -n "$h" ] || die "could not measure the height of $name"
    [ "$h" -le "$max_height" ] || { note "$name: $h px high, cut at $max_height"; h=$max_height; }
  fi
  run_chromium --window-size="$width,$h" --screenshot="$png" "file://$page"
  [ -s "$png" ] || die "no screenshot written for $name"
  # Smaller pictures to commit, when optipng is there; the same pixels.
  if command -v optipng > /dev/null; then optipng -quiet -o2 "$png"; fi
  note "$name -> $png (${width}x$h)"
done
exit "$found"
