#!/usr/bin/env bash
# check_format.sh — fails when a tracked C file is not formatted with the
# root .clang-format (clang-format 14), naming the files to run
# `clang-format -i` on. Fuzz inputs are data, not code, and are skipped.
# Usage: tests/style/check_format.sh [SOURCE_DIR]
set -uo pipefail
root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$root" || exit 1
command -v clang-format >/dev/null || { echo "not ok - clang-format is missing (scripts/install-deps.sh test)"; exit 1; }
bad=()
while IFS= read -r f; do
  clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done < <(git ls-files '*.c' '*.h' 2>/dev/null | grep -v '^fuzz/corpus/\|^fuzz/regressions/' ||
         find src include apps tests bench fuzz examples -name '*.[ch]')
if [ ${#bad[@]} -gt 0 ]; then
  echo "not ok - not formatted with .clang-format: ${bad[*]}"
  echo "fix: clang-format -i ${bad[*]}"
  exit 1
fi
echo "ok - every C file is formatted with .clang-format"
