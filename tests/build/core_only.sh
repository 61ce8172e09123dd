#!/usr/bin/env bash
# core_only.sh — the library with every optional part off needs libsodium
# alone and passes its tests: configures a fresh build with
# -DSESSIO_WITH_SQLITE=OFF -DSESSIO_WITH_REDIS=OFF -DSESSIO_WITH_MHD=OFF
# -DSESSIO_BUILD_SHOP=OFF and every other SESSIO_WITH_* option off (Release,
# no sanitizers, to keep it short), checks that libsessio.so needs no
# library but libsodium (and libc), that no test of a part left out is
# registered, builds and runs CTest, that the sessio command says a store
# URL of a part left out is not built in; then installs it and checks sessio.pc
# and that find_package(sessio COMPONENTS mhd) says mhd was not built.
# Usage: tests/build/core_only.sh [WORK_DIR]   (default: a temporary dir)
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
if [ $# -gt 0 ]; then b=$1; else b=$(mktemp -d); trap 'rm -rf "$b"' EXIT; fi
rm -rf "$b" && mkdir -p "$b" && b=$(cd "$b" && pwd) # absolute: CMAKE_PREFIX_PATH below
fail=0 checks=0
ok() { checks=$((checks + 1)); echo "ok - $*"; }
not_ok() { checks=$((checks + 1)); fail=$((fail + 1)); echo "not ok - $*"; }

if ! cmake -S "$root" -B "$b" -DCMAKE_BUILD_TYPE=Release -DSESSIO_WITH_SQLITE=OFF \
      -DSESSIO_WITH_REDIS=OFF -DSESSIO_WITH_MHD=OFF -DSESSIO_BUILD_SHOP=OFF \
      -DSESSIO_BUILD_BENCH=OFF -DSESSIO_BUILD_EXAMPLES=OFF \
      >"$b/configure.log" 2>&1; then
  not_ok "configure: $(tail -20 "$b/configure.log")"
  echo "0 passed, 1 failed"; exit 1
fi
# Parts added since (postgres, fcgi, civetweb, ...) go off too: every
# SESSIO_WITH_* option the project declares.
parts=$(grep -Eo '^SESSIO_WITH_[A-Z0-9_]+:(BOOL|UNINITIALIZED)=' "$b/CMakeCache.txt" |
       sed 's/:.*//' | sort -u)
offs=() names=()
for p in $parts; do offs+=("-D$p=OFF"); names+=("$(echo "${p#SESSIO_WITH_}" | tr A-Z a-z)"); done
if ! cmake "$b" "${offs[@]}" >>"$b/configure.log" 2>&1 ||
   grep -Eq '^SESSIO_WITH_[A-Z0-9_]+:(BOOL|UNINITIALIZED)=ON' "$b/CMakeCache.txt"; then
  not_ok "configure with ${offs[*]}: $(tail -20 "$b/configure.log")"
  echo "0 passed, 1 failed"; exit 1
fi
ok "configures with every optional part off (${names[*]})"
if nice -n 10 cmake --build "$b" -j2 >"$b/build.log" 2>&1; then
  ok "builds"
else
  not_ok "build: $(grep -E 'error|Error' "$b/build.log" | head -10)"
  echo "$((checks - fail)) passed, $fail failed"; exit 1
fi
needed=$(objdump -p "$b/libsessio.so" | awk '$1 == "NEEDED" { print $2 }' |
         grep -Ev '^(libsodium|libc|libpthread|ld-linux.*)\.so' | tr '\n' ' ')
if [ -z "$needed" ]; then ok "libsessio.so needs libsodium and libc only"; else
  not_ok "libsessio.so needs $needed"; fi
re=$(IFS='|'; echo "${names[*]}")
listed=$(ctest --test-dir "$b" -N | grep -Eio "test #[0-9]+: .*($re).*" | tr '\n' ' ')
if [ -z "$listed" ]; then ok "no test of a part left out is registered"; else
  not_ok "registered without their backend: $listed"; fi
if ctest --test-dir "$b" -j2 --output-on-failure >"$b/ctest.log" 2>&1; then
  ok "ctest: $(grep -E 'tests passed' "$b/ctest.log")"
else
  not_ok "ctest: $(grep -E 'Failed|\*\*\*|tests passed' "$b/ctest.log" | head -20)"
fi
# The admin command names a backend that is not built in, and fails (1).
cli="$b/apps/cli/sessio"
if [ -x "$cli" ]; then
  out=$("$cli" --store "sqlite:$b/x.db" stats 2>&1); rc=$?
  if [ $rc -eq 1 ] && printf '%s' "$out" | grep -q 'sqlite backend is not built into this libsessio'; then
    ok "sessio: a store backend not built in is said (exit 1)"
  else
    not_ok "sessio --store sqlite:... on a core-only build: exit $rc: $out"
  fi
fi
# Installed: sessio.pc asks for libsodium alone, and a program asking for a
# component this build left out is told so by find_package.
if ! cmake --install "$b" --prefix "$b/prefix" >"$b/install.log" 2>&1; then
  not_ok "install: $(tail -10 "$b/install.log")"
  echo "$((checks - fail)) passed, $fail failed"; exit 1
fi
req=$(grep '^Requires.private:' "$b/prefix/lib/pkgconfig/sessio.pc" | sed 's/^[^:]*: *//')
if [ "$req" = libsodium ]; then ok "sessio.pc: Requires.private: libsodium"; else
  not_ok "sessio.pc: Requires.private: '$req'"; fi
mkdir -p "$b/outside"
printf 'cmake_minimum_required(VERSION 3.18)\nproject(o C)\nfind_package(sessio REQUIRED COMPONENTS mhd)\n' \
  >"$b/outside/CMakeLists.txt"
if out=$(cmake -S "$b/outside" -B "$b/outside/b" -DCMAKE_PREFIX_PATH="$b/prefix" 2>&1); then
  not_ok "find_package(sessio REQUIRED COMPONENTS mhd) succeeded without sessio-mhd"
elif printf '%s' "$out" | grep -q 'component mhd was not built into this sessio'; then
  ok "find_package(sessio COMPONENTS mhd) says mhd was not built"
else
  not_ok "find_package(sessio COMPONENTS mhd) failed without saying why: $(printf '%s' "$out" | tail -5)"
fi
echo "$((checks - fail)) passed, $fail failed"
[ "$fail" -eq 0 ]
