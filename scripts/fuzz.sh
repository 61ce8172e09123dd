#!/usr/bin/env bash
# fuzz.sh — builds every libFuzzer target (fuzz/*_fuzz.c, with clang, ASan
# and UBSan, into build-fuzz/) and runs each for FUZZ_TIME seconds on a copy
# of its seed corpus, after replaying its regression inputs. Prints per
# target: executions, exec/s, final coverage, corpus size, crashes. Exits
# non-zero when a target crashes (the input is kept in build-fuzz/run/NAME/,
# to be fixed and then copied into fuzz/regressions/NAME/).
# Usage: scripts/fuzz.sh [--replay] [NAME...]
#   --replay   only run the regression inputs and seeds once (no fuzzing)
# Environment: FUZZ_TIME (seconds per target, default 60), FUZZ_JOBS
# (targets run at once, default 2), FUZZ_OUT (build dir, default build-fuzz).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1
time=${FUZZ_TIME:-60}
jobs=${FUZZ_JOBS:-2}
out=${FUZZ_OUT:-build-fuzz}
replay=0
if [ "${1:-}" = --replay ]; then replay=1; shift; fi

command -v clang >/dev/null || { echo "fuzz: clang is missing (scripts/install-deps.sh fuzz)"; exit 1; }
echo "fuzz: building into $out/"
make -s -f fuzz/build.mk OUT="$out" -j2 || { echo "fuzz: build failed"; exit 1; }

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for f in fuzz/*_fuzz.c; do n=${f#fuzz/}; names+=("${n%_fuzz.c}"); done
fi

# Sanitizers abort on the first report; a fuzz run also checks each input
# for leaks. A smaller quarantine keeps two runs' memory modest.
export ASAN_OPTIONS=detect_leaks=1:quarantine_size_mb=64:allocator_may_return_null=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# Replays the regression inputs and the seeds of one target; 0 when none
# crashes.
replay_one() {
  local n=$1 bin="$out/$1_fuzz" files=()
  for d in fuzz/regressions/$n fuzz/corpus/$n; do
    [ -d "$d" ] && while IFS= read -r -d '' f; do files+=("$f"); done \
      < <(find "$d" -type f -print0 | sort -z)
  done
  [ ${#files[@]} -eq 0 ] && return 0
  (cd "$out/run/$n/scratch" && "$root/$bin" "${files[@]/#/$root/}") \
    >"$out/run/$n/replay.log" 2>&1
}

# Fuzzes one target for $time seconds; writes its figures to
# $out/run/NAME/result.
fuzz_one() {
  local n=$1 bin="$out/$1_fuzz" dir="$out/run/$1"
  local args=(-max_total_time="$time" -timeout=10 -rss_limit_mb=2048
              -print_final_stats=1 -artifact_prefix="$root/$dir/")
  [ -f "fuzz/$n.dict" ] && args+=(-dict="$root/fuzz/$n.dict")
  [ -f "fuzz/$n.options" ] && read -r -a extra < "fuzz/$n.options" && args+=("${extra[@]}")
  rm -rf "$dir/corpus" && mkdir -p "$dir/corpus"
  [ -d "fuzz/corpus/$n" ] && cp -r "fuzz/corpus/$n/." "$dir/corpus/"
  local rc=0
  # The corpus copy first (new inputs go there), the regressions read too.
  local dirs=("$root/$dir/corpus")
  [ -d "fuzz/regressions/$n" ] && dirs+=("$root/fuzz/regressions/$n")
  (cd "$dir/scratch" && nice "$root/$bin" "${args[@]}" "${dirs[@]}") \
    >"$dir/fuzz.log" 2>&1 || rc=$?
  local last execs eps
  last=$(grep -E '^#[0-9]+' "$dir/fuzz.log" | tail -1)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/fuzz.log")
  eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/fuzz.log")
  local cov ft corp
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9A-Za-z]*\).*/\1/p' <<<"$last")
  local crashes
  crashes=$(find "$dir" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' \
            -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
  printf '%-10s execs %-10s exec/s %-7s cov %-5s ft %-6s corpus %-12s crashes %s\n' \
    "$n" "${execs:-?}" "${eps:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$crashes" \
    > "$dir/result"
  [ "$rc" -eq 0 ] && [ "$crashes" -eq 0 ]
}

failed=()
for n in "${names[@]}"; do
  [ -x "$out/${n}_fuzz" ] || { echo "fuzz: no target $n"; exit 1; }
  mkdir -p "$out/run/$n/scratch"
  rm -f "$out/run/$n"/crash-* "$out/run/$n"/leak-* "$out/run/$n"/timeout-* \
        "$out/run/$n"/oom-* "$out/run/$n/result"
  if ! replay_one "$n"; then
    echo "fuzz: $n: a regression input or seed crashes (see $out/run/$n/replay.log)"
    tail -20 "$out/run/$n/replay.log"
    failed+=("$n")
  fi
done
[ ${#failed[@]} -eq 0 ] && echo "fuzz: regression inputs and seeds replayed: ${names[*]}"
if [ $replay -eq 1 ]; then
  [ ${#failed[@]} -eq 0 ]
  exit
fi

echo "fuzz: ${time}s per target, $jobs at a time"
running=0
for n in "${names[@]}"; do
  if [ $running -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
  fuzz_one "$n" &
  running=$((running + 1))
done
wait
for n in "${names[@]}"; do
  dir="$out/run/$n"
  cat "$dir/result" 2>/dev/null || echo "$n: no result"
  if ! grep -q ' crashes 0$' "$dir/result" 2>/dev/null ||
     grep -q 'ERROR: libFuzzer\|runtime error\|invariant broken' "$dir/fuzz.log"; then
    failed+=("$n")
    echo "  $n FAILED — log $dir/fuzz.log:"
    grep -m3 -E 'invariant broken|runtime error|ERROR:' "$dir/fuzz.log" | sed 's/^/    /'
    ls "$dir" | grep -E '^(crash|leak|timeout|oom)-' | sed "s|^|    input: $dir/|"
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}"
  exit 1
fi
echo "fuzz: ${#names[@]} targets, no crash"
