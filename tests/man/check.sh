#!/usr/bin/env bash
# check.sh — the reference manual's tests (man/, see man/README.md).
#   render MAN_DIR   every page (MAN_DIR/*.3, and the commands' pages in
#                    MAN_DIR/man1) renders with `man --warnings` (groff) and
#                    no warning at all
#   names ROOT       every function declared with SESSIO_API in
#                    include/sessio.h and include/sessio/*.h is documented
#                    (named in the NAME line of one page, and shown in its
#                    SYNOPSIS), and every name a page documents is declared
#                    in those headers (no page for a function that is gone);
#                    every error code is in sessio_strerror(3) and every
#                    store scheme in sessio_store_open(3)
#   install BUILD    `cmake --install BUILD --component man` into a temporary
#                    prefix, then `man -w NAME` finds every documented name
#                    there and a link page renders through its .so line
# Each mode prints one line per problem and a count; it fails on any.
set -euo pipefail
mode=${1:?usage: check.sh render MAN_DIR | names ROOT | install BUILD_DIR}
dir=${2:?missing directory}
export LC_ALL=C.UTF-8 MANWIDTH=80

# The names a page documents: its NAME line, before "\-", split at commas.
page_names() {
  perl -ne 'if ($n) { s/\s*\\-.*//s; print join("\n", split /\s*,\s*/), "\n"; exit }
            $n = 1 if /^\.SH NAME\s*$/' "$1"
}

fail=0
case $mode in
render)
  n=0
  for page in "$dir"/*.3 "$dir"/man1/*.1; do
    [ -e "$page" ] || continue
    n=$((n + 1))
    err=$(man --warnings -E UTF-8 -l "$page" 2>&1 >/dev/null) || {
      echo "not ok - $page: man failed: $err"; fail=$((fail + 1)); continue; }
    if [ -n "$err" ]; then
      echo "not ok - $(basename "$page"): $err"; fail=$((fail + 1))
    fi
  done
  [ "$n" -gt 0 ] || { echo "no pages in $dir"; exit 1; }
  echo "$n pages rendered, $fail with warnings"
  ;;
names)
  root=$dir
  headers=("$root/include/sessio.h" "$root/include/sessio/"*.h)
  # Declared functions: comments and preprocessor lines removed, then the
  # first "sessio_name(" after each SESSIO_API.
  declared=$(perl -0777 -ne '
      s{/\*.*?\*/}{ }gs; s{//[^\n]*}{}g; s{^[ \t]*#(?:[^\n]*\\\n)*[^\n]*}{}mg;
      print "$1\n" while /\bSESSIO_API\b[^;{]*?\b(sessio_\w+)\s*\(/g' \
      "${headers[@]}" | sort -u)
  # Every identifier of the headers' code (for pages named after a type).
  idents=$(perl -0777 -ne '
      s{/\*.*?\*/}{ }gs; s{//[^\n]*}{}g;
      print "$_\n" for /\b(sessio\w*)\b/g' "${headers[@]}" | sort -u)
  documented=""
  for page in "$root"/man/*.3; do
    base=$(basename "$page" .3)
    names=$(page_names "$page")
    [ -n "$names" ] || { echo "not ok - $base.3 has no NAME line"; fail=$((fail + 1)); continue; }
    grep -qx "$base" <<<"$names" ||
      { echo "not ok - $base.3 does not name $base in its NAME line"; fail=$((fail + 1)); }
    synopsis=$(perl -ne 's/\\f[BIRP]//g; print if /^\.SH SYNOPSIS/ .. /^\.SH DESCRIPTION/' "$page")
    for name in $names; do
      if ! grep -qx "$name" <<<"$declared"$'\n'"$idents"; then
        echo "not ok - $base.3 documents $name, which no public header declares"
        fail=$((fail + 1))
      elif grep -qx "$name" <<<"$declared" && ! grep -q "\\b$name\\b" <<<"$synopsis"; then
        echo "not ok - $base.3 names $name but its SYNOPSIS does not show it"
        fail=$((fail + 1))
      fi
      if grep -qx "$name" <<<"$documented"; then
        echo "not ok - $name is named by two pages (the second is $base.3)"
        fail=$((fail + 1))
      fi
      documented+="$name"$'\n'
    done
  done
  for f in $declared; do
    grep -qx "$f" <<<"$documented" || {
      echo "not ok - $f has no man page: add it to the NAME line and SYNOPSIS of a page in man/ (see man/README.md)"
      fail=$((fail + 1)); }
  done
  # Every error code of the table in sessio.h is in sessio_strerror(3), and
  # every store scheme of src/store/store.c in sessio_store_open(3).
  plain() { perl -pe 's/\\&//g; s/\\-/-/g; s/\\f[BIRP]//g' "$1"; }
  errtext=$(plain "$root/man/sessio_strerror.3")
  for e in $(perl -ne 'print "SESSIO_$1\n" if /^\s*XX\((\w+),\s*-\d+/' "$root/include/sessio.h"); do
    grep -q "\b$e\b" <<<"$errtext" || {
      echo "not ok - $e is not in man/sessio_strerror.3"; fail=$((fail + 1)); }
  done
  storetext=$(plain "$root/man/sessio_store_open.3")
  for s in $(perl -ne 'print "$1\n" if /^\s*\{"([a-z0-9-]+)",\s*\w+\}/' "$root/src/store/store.c"); do
    grep -q "$s:" <<<"$storetext" || {
      echo "not ok - the $s: store is not in man/sessio_store_open.3"; fail=$((fail + 1)); }
  done
  echo "$(wc -l <<<"$declared") public functions, $(grep -c . <<<"$documented") documented names, $fail problems"
  ;;
install)
  build=$(cd "$dir" && pwd)
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  cmake --install "$build" --prefix "$tmp" --component man >/dev/null
  man3=$tmp/share/man/man3
  export MANPATH=$tmp/share/man
  n=0
  for page in "$man3"/*.3; do
    grep -q '^\.so ' "$page" && continue
    group=$(basename "$page" .3)
    for name in $(page_names "$page"); do
      n=$((n + 1))
      # man -w follows a link page's .so line to the group page.
      # Section 3: "sessio" is also the admin command's page, sessio(1).
      where=$(man -w -s 3 "$name" 2>/dev/null || true)
      if [ "$where" != "$man3/$group.3" ] && [ "$where" != "$man3/$name.3" ]; then
        echo "not ok - man -w $name gave '${where}', not $man3/$group.3"; fail=$((fail + 1))
      elif [ "$name" != "$group" ] &&
           [ "$(cat "$man3/$name.3" 2>/dev/null)" != ".so man3/$group.3" ]; then
        echo "not ok - $man3/$name.3 is not a link to man3/$group.3"; fail=$((fail + 1))
      fi
    done
  done
  [ "$n" -gt 0 ] || { echo "not ok - nothing installed under $man3"; exit 1; }
  # The first page a newcomer opens, and one link followed to its group.
  for name in sessio sessio_begin sessio_free; do
    out=$(man --warnings 3 "$name" 2>&1 >/dev/null) || out="man 3 $name failed"
    [ -z "$out" ] || { echo "not ok - man $name: $out"; fail=$((fail + 1)); }
  done
  man sessio_free 2>/dev/null | grep -q 'sessio_begin' ||
    { echo "not ok - man sessio_free does not show the sessio_begin page"; fail=$((fail + 1)); }
  echo "$n names found by man -w under $MANPATH, $fail problems"
  ;;
*)
  echo "unknown mode $mode"; exit 2 ;;
esac
[ "$fail" -eq 0 ]
