#!/usr/bin/env bash
# check.sh — sessio builds inside another project: configures and builds
# tests/subproject (an outside project) once with add_subdirectory(sessio)
# and once with FetchContent, runs its programs, and checks that sessio
# stayed a guest: no -Werror on any compile line, and no shop, test,
# benchmark or example targets in the outside build. Uses a Release build
# without sanitizers; only the outside programs and what they need are built.
# Usage: tests/subproject/check.sh [WORK_DIR]   (default: a temporary dir)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
if [ $# -gt 0 ]; then work=$1; mkdir -p "$work"; else
  work=$(mktemp -d); trap 'rm -rf "$work"' EXIT; fi
fail=0 checks=0
ok() { checks=$((checks + 1)); echo "ok - $*"; }
not_ok() { checks=$((checks + 1)); fail=$((fail + 1)); echo "not ok - $*"; }

for via in subdirectory fetchcontent; do
  b="$work/$via"
  rm -rf "$b"
  if ! cmake -S "$here" -B "$b" -DCMAKE_BUILD_TYPE=Release -DSESSIO_VIA=$via \
        -DSESSIO_SRC="$root" -DFETCHCONTENT_SOURCE_DIR_SESSIO="$root" \
        -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >"$b.log" 2>&1; then
    not_ok "$via: configure: $(tail -20 "$b.log")"; continue
  fi
  ok "$via: configures"
  targets=$(cmake --build "$b" --target help 2>/dev/null)
  extra=$(printf '%s\n' "$targets" | grep -Eo '(sessio-shop|sessio-cli|test_[a-z_]+|conformance|sessio_micro|sessio_bench_all|sessio_demo|sessio-[a-z]+-example)\b' | sort -u | tr '\n' ' ')
  if [ -z "$extra" ]; then ok "$via: no shop, test, bench or example targets"; else
    not_ok "$via: sessio added targets to the outside build: $extra"; fi
  if grep -q -- '-Werror' "$b/compile_commands.json"; then
    not_ok "$via: a compile line has -Werror"
  else
    ok "$via: no -Werror on any compile line"
  fi
  progs=outside_app
  printf '%s\n' "$targets" | grep -q outside_mhd_app && progs="$progs outside_mhd_app"
  if nice -n 10 cmake --build "$b" -j2 --target $progs >>"$b.log" 2>&1; then
    ok "$via: builds $progs"
    for p in $progs; do
      if out=$("$b/$p" 2>&1); then ok "$via: $out"; else not_ok "$via: $p: $out"; fi
    done
  else
    not_ok "$via: build: $(grep -E 'error|Error' "$b.log" | head -10)"
  fi
done
echo "$((checks - fail)) passed, $fail failed"
[ "$fail" -eq 0 ]
