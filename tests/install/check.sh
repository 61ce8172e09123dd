#!/usr/bin/env bash
# check.sh — proves that `cmake --install` gives a usable library: installs
# BUILD_DIR into a temporary prefix, then builds and runs a small program
# against it twice, through pkg-config (sessio.pc) and through the CMake
# package (find_package(sessio)); the same for sessio-fcgi and
# sessio-civetweb when they are built. Usage: tests/install/check.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
san=""
grep -q "SESSIO_SANITIZE:BOOL=ON" "$build/CMakeCache.txt" && san="-fsanitize=address,undefined"

cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
cat > "$tmp/app.c" <<'C'
#include <sessio.h>
#include <stdio.h>
int main(void) {
  char id[SESSIO_ID_LEN + 1];
  if (sessio_id_generate(id) != SESSIO_OK || !sessio_id_valid(id, SESSIO_ID_LEN))
    return 1;
  printf("installed sessio %s works\n", SESSIO_VERSION_STRING);
  return 0;
}
C
fail=0 # count of failed checks
export PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig"
if cc $san "$tmp/app.c" $(pkg-config --cflags --libs sessio) \
     -Wl,-rpath,"$tmp/prefix/lib" -o "$tmp/app-pc" && "$tmp/app-pc"; then
  echo "ok - pkg-config sessio"
else
  echo "not ok - pkg-config sessio"; fail=$((fail + 1))
fi
mkdir -p "$tmp/cm"
cat > "$tmp/cm/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.18)
project(app C)
find_package(sessio REQUIRED)
add_executable(app $tmp/app.c)
target_compile_options(app PRIVATE $san)
target_link_options(app PRIVATE $san)
target_link_libraries(app sessio::sessio_static)
CM
if cmake -S "$tmp/cm" -B "$tmp/cm/b" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null &&
   cmake --build "$tmp/cm/b" >/dev/null && "$tmp/cm/b/app"; then
  echo "ok - find_package(sessio)"
else
  echo "not ok - find_package(sessio)"; fail=$((fail + 1))
fi
checks=2
# The FastCGI and CivetWeb integrations, when built: their header, library
# and .pc file, and their CMake component, from the installed tree.
for part in fcgi civetweb; do
  upper=$(echo "$part" | tr a-z A-Z)
  grep -q "SESSIO_WITH_$upper:BOOL=ON" "$build/CMakeCache.txt" || continue
  if [ "$part" = fcgi ]; then call="sessio_fcgi_is_tls(NULL, 0)"; else
    call="(sessio_civetweb_is_tls != NULL ? 0 : 1)"; fi
  cat > "$tmp/$part.c" <<C
#include <sessio/$part.h>
#include <stdio.h>
int main(void) {
  if ($call != 0) return 1;
  printf("installed sessio-$part works\\n");
  return 0;
}
C
  checks=$((checks + 2))
  if cc $san "$tmp/$part.c" $(pkg-config --cflags --libs "sessio-$part") \
       -Wl,-rpath,"$tmp/prefix/lib" -o "$tmp/$part-pc" && "$tmp/$part-pc"; then
    echo "ok - pkg-config sessio-$part"
  else
    echo "not ok - pkg-config sessio-$part"; fail=$((fail + 1))
  fi
  mkdir -p "$tmp/cm-$part"
  cat > "$tmp/cm-$part/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.18)
project(app C)
find_package(sessio REQUIRED COMPONENTS $part)
add_executable(app $tmp/$part.c)
target_compile_options(app PRIVATE $san)
target_link_options(app PRIVATE $san)
target_link_libraries(app sessio::$part)
CM
  if cmake -S "$tmp/cm-$part" -B "$tmp/cm-$part/b" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null &&
     cmake --build "$tmp/cm-$part/b" >/dev/null &&
     LD_LIBRARY_PATH="$tmp/prefix/lib" "$tmp/cm-$part/b/app"; then
    echo "ok - find_package(sessio COMPONENTS $part)"
  else
    echo "not ok - find_package(sessio COMPONENTS $part)"; fail=$((fail + 1))
  fi
done
echo "$((checks - fail)) passed, $fail failed"
[ "$fail" -eq 0 ]
