#!/usr/bin/env bash
# tools/test.sh - the project's test command (see README): installs missing Debian packages
# (tools/deps.sh), then for two build trees configures, builds and runs every Criterion test
# executable through CTest:
#   build/       warnings as errors (-DCLNAS_WERROR=ON)
#   build-asan/  the same plus AddressSanitizer + UndefinedBehaviorSanitizer, leak checking on
# then, in the plain tree only, the kernel tests again on Mesa's rusticl (RUSTICL_ENABLE=llvmpipe,
# a second OpenCL implementation with a GPU's limits: 32 KiB local memory, 1024 work-items, no
# fp64; test_xdevice compares its scores with PoCL's), then the offline compile check of every
# kernel for amdgcn, nvptx64 and spir64 (tools/cl_offline_check.sh, counted as one case), and
# finally prints one line `tests: N passed, M failed` counting Criterion test cases over both
# trees (a test executable that fails without a failing case, e.g. a leak or a crash outside a
# test, counts as one failed case). Exit status 0 only when nothing failed.
#
#   CLNAS_SKIP_ASAN=1   only the first tree
#   CLNAS_SKIP_RUSTICL=1   no rusticl run (e.g. where mesa-opencl-icd cannot be installed)
#   CLNAS_SKIP_OFFLINE=1   no offline compile check (e.g. without clang-15)
#   CLNAS_SKIP_FUZZ=1   no fuzzing (otherwise tools/fuzz.sh runs each libFuzzer target ~20 s after
#                       the plain tree; a finding counts as one failed case)
#   BUILD_DIR, ASAN_BUILD_DIR   the two trees (default build, build-asan)
#   CLNAS_TEST_DEVICE   device the tests open (index or name part; default device otherwise)
#   JOBS                parallel build jobs (default: nproc)
#
# Sanitizers and Criterion: Criterion runs each test in a forked worker process. ASan/UBSan
# errors abort the worker, which Criterion reports as a crash. LeakSanitizer, however, runs when
# the worker exits *after* it has reported its result, and Criterion ignores that exit status,
# so a leak alone would pass silently; with ASAN_OPTIONS=abort_on_error=1 the leak check aborts
# the worker instead, Criterion reports "crashed during its setup or teardown" and exits
# non-zero, and CTest fails the executable. (--jobs 1, which CMake passes to every test, keeps
# the workers sequential; --no-early-exit is not needed: the leak check runs either way.)
# tools/lsan.supp suppresses leaks inside the OpenCL stack only (PoCL, LLVM, ICD loader, CLBlast).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
t_start=$(date +%s)

tools/deps.sh

total_pass=0
total_fail=0
summary=()

# Counts Criterion cases in BUILD/Testing/Temporary/LastTest.log; prints "passed failed".
count_cases() {
  awk '
    /^[0-9]+\/[0-9]+ Testing: / { name = $3; p = 0; f = 0; syn = 0; ok = 0; next }
    /^\[====\] Synthesis:/ {
      syn = 1
      for (i = 1; i <= NF; i++) {
        if ($i == "Passing:") p += $(i + 1)
        if ($i == "Failing:") f += $(i + 1)    # Crashing is a subset of Failing
      }
      next
    }
    /^Test Passed\./ { ok = 1; next }
    /^"[^"]+" end time:/ {
      if (!ok && f == 0) f = 1          # the executable failed without a failing case
      P[name] = p; F[name] = f; name = ""   # a repeated test (until-pass) counts its last attempt
    }
    END { for (k in P) { tp += P[k]; tf += F[k] } print tp + 0, tf + 0 }' "$1/Testing/Temporary/LastTest.log"
}

# run_tree LABEL BUILD_DIR [cmake args...] -- [env for ctest...]
run_tree() {
  local label=$1 dir=$2
  shift 2
  local cmake_args=() ctest_env=() ctest_args=()
  if [ "$label" = asan ]; then
    # LeakSanitizer's tracer now and then crashes (SIGSEGV in its stop-the-world) while PoCL's
    # worker threads wind down at exit; a genuine leak or sanitizer error fails both attempts.
    ctest_args=(--repeat until-pass:2)
  fi
  while [ $# -gt 0 ] && [ "$1" != -- ]; do cmake_args+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  ctest_env=("$@")
  local t0 t1 t2 rc=0
  t0=$(date +%s)
  echo "==== [$label] configure + build ($dir)"
  cmake -S "$root" -B "$dir" -DCLNAS_WERROR=ON "${cmake_args[@]}"
  cmake --build "$dir" -j"$jobs"
  t1=$(date +%s)
  echo "==== [$label] ctest ($dir)"
  rm -f "$dir/Testing/Temporary/LastTest.log"
  env "${ctest_env[@]}" ctest --test-dir "$dir" --output-on-failure "${ctest_args[@]}" || rc=$?
  t2=$(date +%s)
  local p=0 f=0
  if [ -f "$dir/Testing/Temporary/LastTest.log" ]; then
    read -r p f < <(count_cases "$dir")
  fi
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi   # ctest itself failed
  total_pass=$((total_pass + p))
  total_fail=$((total_fail + f))
  summary+=("[$label] cases passed=$p failed=$f (ctest exit $rc; build $((t1 - t0)) s, tests $((t2 - t1)) s)")
}

# The kernel tests on rusticl's llvmpipe device, in an already built tree.
rusticl_tests='^(test_ops_[a-z0-9_]+|test_runtime|test_net|test_ntk|test_lr|test_xdevice)$'
run_rusticl() {
  local dir=$1 t0 rc=0 p=0 f=0
  t0=$(date +%s)
  echo "==== [rusticl] kernel tests on Mesa rusticl / llvmpipe ($dir)"
  if ! RUSTICL_ENABLE=llvmpipe "$dir/clnas" devices 2>/dev/null | grep llvmpipe >/dev/null; then
    echo "rusticl: no llvmpipe device (install mesa-opencl-icd, or set CLNAS_SKIP_RUSTICL=1)" >&2
    summary+=("[rusticl] no llvmpipe device: counted as 1 failed case")
    total_fail=$((total_fail + 1))
    return
  fi
  rm -f "$dir/Testing/Temporary/LastTest.log"
  # the GPU-shaped kernel variants there (CLNAS_KERNEL_VARIANT): PoCL runs the CPU-shaped ones
  RUSTICL_ENABLE=llvmpipe CLNAS_TEST_DEVICE=llvmpipe CLNAS_KERNEL_VARIANT=gpu \
    ctest --test-dir "$dir" --output-on-failure -R "$rusticl_tests" || rc=$?
  [ -f "$dir/Testing/Temporary/LastTest.log" ] && read -r p f < <(count_cases "$dir")
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  total_pass=$((total_pass + p))
  total_fail=$((total_fail + f))
  summary+=("[rusticl] cases passed=$p failed=$f (ctest exit $rc; $(($(date +%s) - t0)) s)")
}

run_offline() {
  local t0 rc=0
  t0=$(date +%s)
  echo "==== [offline] OpenCL C compile check for amdgcn, nvptx64, spir64"
  tools/cl_offline_check.sh "${BUILD_DIR:-$root/build}/clnas" "${BUILD_DIR:-$root/build}/cl_programs.log" || rc=$?
  if [ "$rc" -eq 0 ]; then total_pass=$((total_pass + 1)); else total_fail=$((total_fail + 1)); fi
  summary+=("[offline] exit $rc ($(($(date +%s) - t0)) s)")
}

# every OpenCL program the plain tree's tests and the rusticl run build, for the offline check
export CLNAS_CL_LOG="${BUILD_DIR:-$root/build}/cl_programs.log"
rm -f "$CLNAS_CL_LOG"
run_tree plain "${BUILD_DIR:-$root/build}"
[ "${CLNAS_SKIP_RUSTICL:-0}" = 1 ] || run_rusticl "${BUILD_DIR:-$root/build}"
unset CLNAS_CL_LOG
[ "${CLNAS_SKIP_OFFLINE:-0}" = 1 ] || run_offline
if [ "${CLNAS_SKIP_FUZZ:-0}" != 1 ]; then
  echo "==== [fuzz] tools/fuzz.sh (each target ${FUZZ_SECONDS:-20} s on its corpus)"
  t0=$(date +%s)
  if tools/fuzz.sh; then total_pass=$((total_pass + 1)); f=0; else total_fail=$((total_fail + 1)); f=1; fi
  summary+=("[fuzz] findings: $f (fuzz targets $(($(date +%s) - t0)) s)")
fi
if [ "${CLNAS_SKIP_ASAN:-0}" != 1 ]; then
  run_tree asan "${ASAN_BUILD_DIR:-$root/build-asan}" -DCLNAS_SANITIZE=address,undefined -- \
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1 \
    LSAN_OPTIONS="suppressions=$root/tools/lsan.supp:print_suppressions=0" \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:abort_on_error=1
fi

echo "==== summary ($(($(date +%s) - t_start)) s in all)"
for s in "${summary[@]}"; do echo "$s"; done
echo "tests: $total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
