#!/usr/bin/env bash
# examples.sh — proves the examples build against the *installed* library
# and work: installs BUILD_DIR into a temporary prefix, builds examples/core
# and examples/mhd twice each, through pkg-config (the cc line of their
# README) and through find_package(sessio COMPONENTS mhd) (their
# CMakeLists.txt), then runs each build on a free loopback port and drives
# one request cycle with curl: the first visit sets a cookie, the counter
# increments, a login changes the session ID and keeps the count, a logout
# deletes the cookie, and the program exits cleanly on SIGTERM.
# Usage: tests/install/examples.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
pid=""
cleanup() { [ -z "$pid" ] || kill "$pid" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
san=""
grep -q "SESSIO_SANITIZE:BOOL=ON" "$build/CMakeCache.txt" && san="-fsanitize=address,undefined"
grep -q "SESSIO_WITH_MHD:BOOL=ON" "$build/CMakeCache.txt" || {
  echo "examples: SESSIO_WITH_MHD is off in $build, nothing to check"; exit 1; }

cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
export PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig"
fail=0 checks=0
ok() { checks=$((checks + 1)); echo "ok - $*"; }
not_ok() { checks=$((checks + 1)); fail=$((fail + 1)); echo "not ok - $*"; }
expect() { # expect WHAT GOT WANT-REGEX (one line: no newline in WANT-REGEX)
  if printf '%s' "$2" | grep -Eq -- "$3"; then ok "$1"; else
    not_ok "$1: got '$(printf '%s' "$2" | tr '\r\n' '  ')', want /$3/"; fi
}
body() { printf '%s\n' "$1" | tail -n 1; } # the last line of curl -si output
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# cycle NAME BINARY: runs BINARY on a free port and drives the routes.
cycle() {
  local name=$1 bin=$2 port jar="$tmp/jar" line out
  port=$(free_port)
  rm -f "$jar" "$tmp/fifo"
  mkfifo "$tmp/fifo"
  "$bin" "$port" memory: >"$tmp/fifo" 2>"$tmp/$name.err" &
  pid=$!
  exec 3<"$tmp/fifo"
  # The program prints its address once it listens (no timing guess).
  if ! read -r -t 20 line <&3 || [[ "$line" != "listening on http://127.0.0.1:$port/" ]]; then
    not_ok "$name starts ('${line:-}'; $(cat "$tmp/$name.err"))"
    kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
    pid="" ; exec 3<&-; return
  fi
  local url="http://127.0.0.1:$port"
  out=$(curl -si -c "$jar" "$url/")
  expect "$name first visit sets the cookie" "$out" $'Set-Cookie: sid=[A-Za-z0-9_-]{43};'
  expect "$name first visit counts 1" "$(body "$out")" '^visit 1$'
  expect "$name sends Vary: Cookie" "$out" 'Vary: Cookie'
  local sid1; sid1=$(awk '$6 == "sid" { print $7 }' "$jar")
  out=$(curl -si -b "$jar" -c "$jar" "$url/")
  expect "$name second visit counts 2" "$(body "$out")" '^visit 2$'
  expect "$name second visit sends no Set-Cookie" "$(printf '%s' "$out" | grep -c Set-Cookie || true)" '^0$'
  out=$(curl -si -X POST -b "$jar" -c "$jar" "$url/login?user=alice")
  expect "$name login works" "$out" 'signed in as alice'
  local sid2; sid2=$(awk '$6 == "sid" { print $7 }' "$jar")
  if [ -n "$sid1" ] && [ -n "$sid2" ] && [ "$sid1" != "$sid2" ]; then
    ok "$name login gives a new session ID"
  else
    not_ok "$name login gives a new session ID ('$sid1' -> '$sid2')"
  fi
  out=$(curl -s -b "$jar" -c "$jar" "$url/")
  expect "$name count survives the login" "$out" '^visit 3 by alice$'
  out=$(curl -s -b "sid=$sid1" "$url/")
  expect "$name the pre-login ID is dead" "$out" '^visit 1$'
  out=$(curl -si -X POST -b "$jar" -c "$jar" "$url/logout")
  expect "$name logout deletes the cookie" "$out" 'Set-Cookie: sid=;.*Max-Age=0'
  out=$(curl -s -b "sid=$sid2" "$url/")
  expect "$name the signed-in ID is dead after logout" "$out" '^visit 1$'
  out=$(curl -s -o /dev/null -w '%{http_code}' "$url/nope")
  expect "$name unknown route is 404" "$out" '^404$'
  kill -TERM "$pid"
  local rc=0
  wait "$pid" || rc=$?
  pid=""
  exec 3<&-
  if [ "$rc" -eq 0 ]; then ok "$name exits cleanly on SIGTERM"; else
    not_ok "$name exits cleanly on SIGTERM (status $rc: $(cat "$tmp/$name.err"))"; fi
}

for ex in core mhd; do
  module=sessio; [ "$ex" = mhd ] && module=sessio-mhd
  # pkg-config: the line of examples/$ex/README.md
  if cc -std=c11 -Wall -Wextra -Werror $san "$root/examples/$ex/main.c" \
        $(pkg-config --cflags --libs "$module") -Wl,-rpath,"$tmp/prefix/lib" \
        -o "$tmp/$ex-pc" 2>"$tmp/$ex-pc.log"; then
    ok "$ex builds with pkg-config $module"
    cycle "$ex(pkg-config)" "$tmp/$ex-pc"
  else
    not_ok "$ex builds with pkg-config $module: $(cat "$tmp/$ex-pc.log")"
  fi
  # CMake: examples/$ex/CMakeLists.txt, find_package(sessio [COMPONENTS mhd])
  if cmake -S "$root/examples/$ex" -B "$tmp/$ex-cm" -DCMAKE_PREFIX_PATH="$tmp/prefix" \
        -DCMAKE_C_FLAGS="$san" -DCMAKE_EXE_LINKER_FLAGS="$san" >"$tmp/$ex-cm.log" 2>&1 &&
     cmake --build "$tmp/$ex-cm" >>"$tmp/$ex-cm.log" 2>&1; then
    ok "$ex builds with find_package(sessio)"
    cycle "$ex(cmake)" "$(find "$tmp/$ex-cm" -maxdepth 1 -type f -name "sessio-$ex-example")"
  else
    not_ok "$ex builds with find_package(sessio): $(tail -20 "$tmp/$ex-cm.log")"
  fi
done
echo "$((checks - fail)) passed, $fail failed"
[ "$fail" -eq 0 ]
