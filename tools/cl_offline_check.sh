#!/usr/bin/env bash
# tools/cl_offline_check.sh - compiles every OpenCL kernel file of cl/ offline with clang for
# real GPU targets, with each distinct set of -D options clnas actually builds it with, and
# fails on any error. This catches what PoCL forgives: address-space mistakes, implicit
# conversions, fp64 without its pragma, builtins a GPU stack lacks.
#
#   tools/cl_offline_check.sh [CLNAS_BINARY [PROGRAM_LOG...]]
#
# The option sets: with CLNAS_CL_LOG set, the runtime logs "file<TAB>defines" for every program it
# loads. PROGRAM_LOGs are such logs from earlier runs (tools/test.sh collects one while the kernel
# tests run, which exercise every kernel); CLNAS_BINARY (default build/clnas) adds a `selftest` and
# two small scores in both kernel variants. The sets are de-duplicated. A file that never showed up
# is compiled once with no defines, unless it needs defines (#error): then it is listed as not
# exercised and not counted. Without the binary and logs, only the files needing no defines are checked.
# Targets (OpenCL C 1.2, -O2, no fast-math):
#   amdgcn-amd-amdhsa gfx90a, gfx1030, gfx1100 (AMD: CDNA2, RDNA2, RDNA3)
#   nvptx64-nvidia-cuda sm_61, sm_80 (NVIDIA: Pascal, Ampere)
#   spir64 (Intel's stack consumes SPIR)
#
#   CLANG          the compiler (default clang-15, else clang)
#   CL_CHECK_JOBS  parallel compiles (default: nproc)
# Exit 0 only when every compile succeeded. Prints "offline: N passed, M failed".
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
bin=${1:-$root/build/clnas}
shift || true
logs=("$@")
clang=${CLANG:-}
if [ -z "$clang" ]; then
  if command -v clang-15 >/dev/null 2>&1; then clang=clang-15; else clang=clang; fi
fi
if ! command -v "$clang" >/dev/null 2>&1; then
  echo "offline: $clang not found (apt-get install clang-15, or set CLANG)" >&2
  exit 1
fi
jobs=${CL_CHECK_JOBS:-$(nproc 2>/dev/null || echo 2)}
work=$(mktemp -d "${TMPDIR:-/tmp}/clnas-offline-XXXXXX")
trap 'rm -rf "$work"' EXIT

# 1. the option sets clnas uses
log=$work/programs.tsv
: >"$log"
for l in "${logs[@]}"; do
  if [ -f "$l" ]; then cat "$l" >>"$log"; else echo "offline: warning: program log $l not found" >&2; fi
done
if [ -x "$bin" ]; then
  arch='|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|'
  export CLNAS_CL_LOG=$log CLNAS_CACHE_DIR=$work/cache
  for variant in cpu gpu; do # both kernel variants (CLNAS_KERNEL_VARIANT), whatever the device is
    export CLNAS_KERNEL_VARIANT=$variant
    "$bin" selftest >/dev/null 2>&1 || echo "offline: warning: $bin selftest ($variant) failed" >&2
    "$bin" score --arch supernet --batch 8 --repeat 1 --lr-batch 100 --lr-batches 1 >/dev/null 2>&1 ||
      echo "offline: warning: $bin score (supernet, $variant) failed" >&2
    "$bin" score --arch "$arch" --batch 8 --repeat 1 --lr-batch 100 --lr-batches 1 >/dev/null 2>&1 ||
      echo "offline: warning: $bin score (single path, $variant) failed" >&2
  done
  unset CLNAS_CL_LOG CLNAS_KERNEL_VARIANT
else
  echo "offline: $bin not found: checking only the kernel files that need no -D options" >&2
fi
for f in cl/*.cl; do
  b=$(basename "$f")
  # (no `grep -q` at the end of a pipe: under pipefail its early exit can kill the writer with
  # SIGPIPE and turn a match into a miss)
  if ! awk -F'\t' -v b="$b" '$1 == b { found = 1 } END { exit !found }' "$log"; then
    if grep -B4 '#error' "$f" | grep -E '#ifndef|#if !defined' >/dev/null; then
      echo "offline: $b was not exercised (no logged option set) and needs defines: not checked" >&2
      continue
    fi
    printf '%s\t\n' "$b" >>"$log"
  fi
done
# the fp64 conversion is built only on request: make sure it is in the set
grep -q '^convert.cl' "$log" || printf 'convert.cl\t\n' >>"$log"
sort -u "$log" -o "$log"

# 2. one source per file, as the runtime builds it: cl/common.clh, a newline, the file
for f in cl/*.cl; do
  b=$(basename "$f")
  { cat cl/common.clh; echo; cat "$f"; } >"$work/$b"
done

targets=(
  "amdgcn-gfx90a|-target amdgcn-amd-amdhsa -mcpu=gfx90a -nogpulib -c"
  "amdgcn-gfx1030|-target amdgcn-amd-amdhsa -mcpu=gfx1030 -nogpulib -c"
  "amdgcn-gfx1100|-target amdgcn-amd-amdhsa -mcpu=gfx1100 -nogpulib -c"
  "nvptx64-sm_61|-target nvptx64-nvidia-cuda -march=sm_61 -S"
  "nvptx64-sm_80|-target nvptx64-nvidia-cuda -march=sm_80 -S"
  "spir64|-target spir64 -emit-llvm -c"
)

# 3. every (file, defines) x target, in parallel; each job writes OK or the errors to a file
# (job lines are ';'-separated: a tab IFS would merge an empty defines field away)
jobfile=$work/jobs
: >"$jobfile"
i=0
while IFS=$'\t' read -r file defs; do
  for t in "${targets[@]}"; do
    i=$((i + 1))
    printf '%s;%s;%s;%s\n' "$i" "$file" "$defs" "$t" >>"$jobfile"
  done
done <"$log"

compile_one() {
  local id=$1 file defs t name flags out
  IFS=';' read -r _ file defs t < <(sed -n "${id}p" "$WORK/jobs")
  name=${t%%|*}
  flags=${t#*|}
  # shellcheck disable=SC2086  # defs and flags are word lists
  if out=$("$CLANG_BIN" -x cl -cl-std=CL1.2 -Xclang -finclude-default-header -O2 -Werror=implicit-function-declaration \
        $flags $defs "$WORK/$file" -o "$WORK/out.$id" 2>&1); then
    echo "ok" >"$WORK/res.$id"
  else
    { echo "FAIL $file [$defs] on $name:"; echo "$out" | grep -E 'error' | head -5; } >"$WORK/res.$id"
  fi
  rm -f "$WORK/out.$id"
}
export -f compile_one
export CLANG_BIN=$clang WORK=$work
t0=$(date +%s)
seq 1 "$i" | xargs -P "$jobs" -I{} bash -c 'compile_one {}'

pass=0
fail=0
for r in "$work"/res.*; do
  if [ "$(cat "$r")" = ok ]; then pass=$((pass + 1)); else fail=$((fail + 1)); cat "$r"; fi
done
missing=$((i - pass - fail))
fail=$((fail + missing))
nsets=$(wc -l <"$log")
echo "offline: $nsets program option sets x ${#targets[@]} targets with $clang in $(($(date +%s) - t0)) s"
echo "offline: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
