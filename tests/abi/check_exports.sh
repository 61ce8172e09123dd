#!/usr/bin/env bash
# check_exports.sh — a shared library of sessio exports its public API and
# nothing else: every symbol `nm -D --defined-only` lists must be a public
# name, sessio_ followed by a letter or digit (internal names are sessio__*
# and static or hidden). Each library must also export at least one name.
# Usage: tests/abi/check_exports.sh LIB.so...   (CTest: abi_exports)
set -uo pipefail
[ $# -gt 0 ] || { echo "usage: $0 LIB.so..." >&2; exit 2; }
fail=0
for lib in "$@"; do
  syms=$(nm -D --defined-only "$lib" | awk 'NF >= 3 { print $3 }') || {
    echo "not ok - nm failed on $lib"; fail=$((fail + 1)); continue; }
  bad=$(printf '%s\n' "$syms" | grep -v '^$' | grep -Ev '^sessio_[a-z0-9]' || true)
  n=$(printf '%s\n' "$syms" | grep -Ec '^sessio_[a-z0-9]' || true)
  name=$(basename "$lib")
  if [ -n "$bad" ]; then
    echo "not ok - $name exports $(printf '%s\n' "$bad" | wc -l) name(s) outside the API:"
    printf '  %s\n' $bad
    fail=$((fail + 1))
  elif [ "$n" -eq 0 ]; then
    echo "not ok - $name exports no sessio_ name"; fail=$((fail + 1))
  else
    echo "ok - $name exports $n sessio_ names and nothing else"
  fi
done
[ "$fail" -eq 0 ]
