#!/usr/bin/env bash
# tools/fuzz.sh - builds the libFuzzer targets of tests/fuzz/ (clang-15, -fsanitize=fuzzer with
# AddressSanitizer and UndefinedBehaviorSanitizer) in build-fuzz/ and runs each on its seed corpus
# tests/fuzz/NAME/ for FUZZ_SECONDS seconds (default 20). New inputs go to a scratch folder (the
# corpus in the tree is only read); a crash, a sanitizer report or a leak is a finding: its input
# is kept as build-fuzz/crash-NAME-* and the script exits 1. One line per target says how many
# inputs were run. tools/test.sh calls it once (the plain tree only).
#
#   FUZZ_SECONDS=N      time per target (e.g. 600 for a long run)
#   FUZZ_TARGETS="a b"  only these targets (default: all of tests/fuzz/fuzz_*.c)
#   FUZZ_BUILD_DIR      build folder (default build-fuzz)
#   FUZZ_CC             the compiler (default clang-15; tools/deps.sh installs it)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
secs=${FUZZ_SECONDS:-20}
dir=${FUZZ_BUILD_DIR:-build-fuzz}
cc=${FUZZ_CC:-clang-15}
if [ -n "${FUZZ_TARGETS:-}" ]; then
  read -r -a targets <<<"$FUZZ_TARGETS"
else
  targets=()
  for f in tests/fuzz/fuzz_*.c; do t=${f##*/fuzz_}; targets+=("${t%.c}"); done
fi
if ! command -v "$cc" >/dev/null 2>&1; then
  echo "fuzz: $cc not found (tools/deps.sh installs clang-15; FUZZ_CC names another clang with libFuzzer)" >&2
  exit 1
fi
cmake -S . -B "$dir" -DCMAKE_C_COMPILER="$cc" -DCLNAS_FUZZ=ON -DCLNAS_BUILD_TESTS=OFF \
  -DCLNAS_SANITIZE=address,undefined -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$dir" -j"${JOBS:-$(nproc 2>/dev/null || echo 2)}" --target "${targets[@]/#/fuzz_}"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS="suppressions=$PWD/tools/lsan.supp:print_suppressions=0"
fail=0
for t in "${targets[@]}"; do
  work=$(mktemp -d)
  log="$dir/fuzz_$t.log"
  if "$dir/fuzz_$t" -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="$dir/crash-$t-" \
       "$work" "tests/fuzz/$t" >"$log" 2>&1; then
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    echo "fuzz $t: ${execs:-?} inputs in ${secs} s, no finding"
  else
    echo "fuzz $t: FINDING (log $log, input $dir/crash-$t-*)"
    tail -n 40 "$log"
    fail=1
  fi
  rm -rf "$work"
done
exit "$fail"
