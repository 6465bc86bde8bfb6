#!/usr/bin/env bash
# tools/gpu_check.sh - one prepared check of clnas on a machine with a GPU (which may reach no
# package registry). Every step reports its failure and the script goes on to the summary.
#
#   1. GPU OpenCL driver (within seconds): /etc/OpenCL/vendors/*.icd (and $OCL_ICD_VENDORS) with
#      their contents, GPU OpenCL libraries (libnvidia-opencl, amdocl, Intel NEO igdrcl /
#      intel-opencl, Mesa clover/rusticl) via ldconfig and a few known folders, nvidia-smi -L,
#      clinfo -l. A libnvidia-opencl.so.1 without nvidia.icd (usual in containers) gets an ICD file
#      in a private vendors folder (OCL_ICD_VENDORS) next to the system's.
#   2. dependencies: tools/deps.sh; when that fails (no network, not root) the Debian .deb files
#      in $CLNAS_DEBS or shared/debs/ (or ../shared/debs/) are unpacked with `dpkg -x` into
#      $BUILD_DIR-deps (only packages not installed here), and CMAKE_PREFIX_PATH, PKG_CONFIG_PATH,
#      LD_LIBRARY_PATH, LIBRARY_PATH, CPATH and PATH point at it.
#   3. build (cmake, Release with debug info, into $BUILD_DIR, default build-gpu-check);
#   4. clnas devices; the device used from here on: --device D, else the first GPU, else the
#      default;
#   5. the test suite (ctest in the build tree; CLNAS_TEST_DEVICE = that device);
#   6. clnas selftest; 7. clnas bench --repeat 5 --json; 8. clnas search --batch 72 --repeat 3
#      (the full default search; skipped with --quick); 9. with --torch, tools/bench_torch.py;
#   each with its wall time; then a summary table.
#
#   tools/gpu_check.sh [--quick] [--device D] [--torch] [--timeout S]
#       --quick      bench --repeat 1, no search (a functional run of the script itself)
#       --timeout S  at most S seconds for every step (defaults: build 1800, tests 1800,
#                    search 3600, others 600)
#   tools/gpu_check.sh --fetch-debs DIR
#       on a Debian machine with apt and network: downloads (apt-get download, no root needed)
#       the .deb files clnas needs to build and test, with their dependencies except the
#       packages of priority required/important (present on every Debian system), into DIR,
#       plus DIR/MANIFEST. Extra packages: CLNAS_FETCH_EXTRA="pocl-opencl-icd clinfo ...".
#
# Environment: BUILD_DIR, JOBS (build jobs, default nproc), CLNAS_DEBS (folder of .deb files),
#   CLNAS_FORCE_DEBS=1 (use the .deb files even when tools/deps.sh succeeds), OUT or
#   CLNAS_CHECK_LOGS (where the step logs go; default /tmp/clnas-gpu-check).
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
root=$PWD

# ------------------------------------------------------------------------------- options
quick=0 device="" torch=0 cap=0 fetch=""
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1 ;;
    --device) device=${2:?--device needs a value}; shift ;;
    --torch) torch=1 ;;
    --timeout) cap=${2:?--timeout needs seconds}; shift ;;
    --fetch-debs) fetch=${2:?--fetch-debs needs a folder}; shift ;;
    -h|--help) sed -n '2,/^set -u/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu_check: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

deb_packages=(ocl-icd-libopencl1 ocl-icd-opencl-dev opencl-headers opencl-c-headers opencl-clhpp-headers
  libclblast1 libclblast-dev liblapacke liblapacke-dev libblas3 liblapack3 libpng16-16 libpng-dev
  libcairo2 libcairo2-dev libcriterion3 libcriterion-dev pkg-config cmake)

# packages never fetched nor unpacked into the side folder
deb_never='^(libc6|libc6-dev|libc-bin|libc-dev-bin|linux-libc-dev|libgcc-s1|libstdc\+\+6|gcc-[0-9]+-base|libcrypt1|libcrypt-dev|python3.*|libpython3.*|perl.*|libperl.*|debconf|cdebconf|dpkg|install-info|tzdata|usrmerge|lsb-base)$'

# os FIELD: a field of /etc/os-release
os() { sed -n "s/^$1=//p" /etc/os-release 2>/dev/null | tr -d '"' | grep . || echo '?'; }

# ------------------------------------------------------------------------------- --fetch-debs
if [ -n "$fetch" ]; then
  if ! command -v apt-get >/dev/null || ! command -v apt-cache >/dev/null; then
    echo "gpu_check: --fetch-debs needs Debian's apt" >&2; exit 1
  fi
  mkdir -p "$fetch" || exit 1
  # shellcheck disable=SC2206  # word splitting of the extra list is intended
  want=("${deb_packages[@]}" ${CLNAS_FETCH_EXTRA:-})
  # dependency closure, first alternative of every or-group / first provider of a virtual package
  declare -A seen=()
  closure=() queue=("${want[@]}")
  while [ ${#queue[@]} -gt 0 ]; do
    for p in "${queue[@]}"; do seen[$p]=1; done
    closure+=("${queue[@]}")
    mapfile -t deps < <(apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
      --no-enhances "${queue[@]}" 2>/dev/null | awk '
      /^ [ |](Pre)?Depends: / { d = $2; if (!ing) { if (d ~ /^</) want = 1; else print d } ing = ($0 ~ /^ \|/); next }
      /^ [ |][A-Za-z]+: / { ing = ($0 ~ /^ \|/); next }
      /^    / { if (want) { print $1; want = 0 } next }
      { ing = 0; want = 0 }' | sed 's/:any$//' | sort -u)
    queue=()
    for p in "${deps[@]}"; do [ -n "${seen[$p]:-}" ] || { seen[$p]=1; queue+=("$p"); }; done
  done
  # leave out what every Debian system has (Essential, priority required/important), the C library
  # and compiler runtime (never to be loaded from a side folder) and interpreters (not needed to build)
  mapfile -t base < <({ apt-cache show --no-all-versions "${closure[@]}" 2>/dev/null | awk '
    /^Package:/ { p = $2 } /^Essential: yes/ { print p } /^Priority: (required|important)/ { print p }'
    printf '%s\n' "${closure[@]}" | grep -E "$deb_never"; } | sort -u)
  mapfile -t get < <(comm -23 <(printf '%s\n' "${closure[@]}" | sort -u) <(printf '%s\n' "${base[@]}"))
  echo "gpu_check: ${#closure[@]} packages in the dependency closure, ${#base[@]} essential/required/important left out, downloading ${#get[@]} into $fetch"
  ( cd "$fetch" && apt-get download "${get[@]}" ) || { echo "gpu_check: apt-get download failed (try apt-get update first)" >&2; exit 1; }
  {
    echo "# .deb files for tools/gpu_check.sh; fetched $(date -u +%FT%TZ) on $(os PRETTY_NAME)"
    echo "codename $(os VERSION_CODENAME)"
    echo "arch $(dpkg --print-architecture 2>/dev/null)"
    printf 'package %s\n' "${get[@]}"
  } >"$fetch/MANIFEST"
  echo "gpu_check: $(find "$fetch" -maxdepth 1 -name '*.deb' | wc -l) .deb files, $(du -sh "$fetch" | cut -f1) in $fetch"
  exit 0
fi

# ------------------------------------------------------------------------------- helpers
build=${BUILD_DIR:-$root/build-gpu-check}
case $build in /*) ;; *) build=$root/$build ;; esac
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
logs=${CLNAS_CHECK_LOGS:-${OUT:-/tmp/clnas-gpu-check}}
mkdir -p "$logs" || logs=$(mktemp -d)
clnas=$build/clnas
t_all=$(date +%s.%N)

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
hdr() { printf '\n==== %s\n' "$*"; }
limit() { if [ "$cap" -gt 0 ] && [ "$cap" -lt "$1" ]; then echo "$cap"; else echo "$1"; fi; }

declare -A rc_of wall_of
# step NAME TIMEOUT CMD...: runs CMD with a time limit, output to the terminal and $logs/NAME.log
step() {
  local name=$1 t=$2 t0 rc
  shift 2
  hdr "$name: $*"
  t0=$(now)
  timeout -k 10 "$(limit "$t")" "$@" 2>&1 | tee "$logs/$name.log"
  rc=${PIPESTATUS[0]}
  rc_of[$name]=$rc
  wall_of[$name]=$(secs "$t0" "$(now)")
  if [ "$rc" -eq 0 ]; then echo "---- $name: ok, ${wall_of[$name]} s"
  elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then echo "---- $name: TIMED OUT after ${wall_of[$name]} s"
  else echo "---- $name: FAILED (exit $rc), ${wall_of[$name]} s"; fi
  return "$rc"
}
skip() { rc_of[$1]=skipped; wall_of[$1]=-; echo "---- $1: skipped ($2)"; }

# ------------------------------------------------------------------------------- 1. driver
hdr "1. GPU OpenCL driver"
gpu_pat='nvidia|amdocl|amdgpu|rocm|igdrcl|intel-opencl|libintelocl_gpu|MesaOpenCL|Rusticl|mali|adreno|powervr'
gpu_hits=()
vendor_dirs=(/etc/OpenCL/vendors)
[ -n "${OCL_ICD_VENDORS:-}" ] && [ -d "${OCL_ICD_VENDORS}" ] && vendor_dirs+=("$OCL_ICD_VENDORS")
icds=0
for d in "${vendor_dirs[@]}"; do
  for f in "$d"/*.icd; do
    [ -e "$f" ] || continue
    icds=$((icds + 1))
    c=$(head -c 300 "$f" | tr -d '\0')
    echo "ICD $f: $c"
    if printf '%s %s' "$f" "$c" | grep -Eiq "$gpu_pat"; then gpu_hits+=("icd:$f"); fi
  done
done
[ "$icds" -eq 0 ] && echo "no ICD files in ${vendor_dirs[*]}"
libs=$( { ldconfig -p 2>/dev/null | awk '{ print $NF }'
          for d in /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib /usr/local/lib /usr/local/nvidia/lib64 \
                   /usr/lib/wsl/lib /opt/rocm/lib /opt/rocm/opencl/lib /opt/intel/opencl; do
            [ -d "$d" ] && find "$d" -maxdepth 2 \( -name 'libnvidia-opencl.so*' -o -name 'libamdocl*.so*' \
              -o -name 'libigdrcl.so*' -o -name 'libintelocl*.so*' -o -name 'libMesaOpenCL.so*' \
              -o -name 'libRusticlOpenCL.so*' -o -name 'libOpenCL.so*' \) 2>/dev/null
          done; } | grep -E 'libnvidia-opencl|amdocl|igdrcl|intelocl|intel-opencl|MesaOpenCL|RusticlOpenCL|libOpenCL\.so' | sort -u)
if [ -n "$libs" ]; then echo "OpenCL libraries:"; printf '  %s\n' "${libs//$'\n'/$'\n'  }"; else echo "no OpenCL libraries found (not even the ICD loader libOpenCL.so)"; fi
while read -r l; do
  [ -n "$l" ] && printf '%s' "$l" | grep -Eq 'libnvidia-opencl|amdocl|igdrcl|intelocl|MesaOpenCL|RusticlOpenCL' && gpu_hits+=("lib:$l")
done <<<"$libs"
if command -v nvidia-smi >/dev/null 2>&1; then echo "nvidia-smi -L:"; timeout 15 nvidia-smi -L 2>&1 | sed 's/^/  /'; fi
# containers often mount libnvidia-opencl.so.1 without /etc/OpenCL/vendors/nvidia.icd
if printf '%s\n' "$libs" | grep -q libnvidia-opencl && ! grep -qs nvidia /etc/OpenCL/vendors/*.icd; then
  vd=$build-vendors
  mkdir -p "$vd" && cp -f /etc/OpenCL/vendors/*.icd "$vd"/ 2>/dev/null
  echo libnvidia-opencl.so.1 >"$vd/nvidia.icd"
  export OCL_ICD_VENDORS=$vd
  echo "libnvidia-opencl found but no nvidia.icd: wrote $vd/nvidia.icd, OCL_ICD_VENDORS=$vd"
fi
if command -v clinfo >/dev/null 2>&1; then echo "clinfo -l:"; timeout 30 clinfo -l 2>&1 | sed 's/^/  /'; else echo "clinfo: not installed"; fi
if [ ${#gpu_hits[@]} -gt 0 ]; then
  driver="yes: ${gpu_hits[*]}"; echo ">>> GPU OpenCL driver visible: ${gpu_hits[*]}"
else
  driver="no GPU OpenCL driver visible"
  echo ">>> no GPU OpenCL driver visible (the checks below run on whatever OpenCL device exists, e.g. PoCL on the CPU)"
fi
echo "(driver check: $(secs "$t_all" "$(now)") s)"

# ------------------------------------------------------------------------------- 2. dependencies
hdr "2. dependencies"
deps_src="system packages"
debs_dir=""
for d in "${CLNAS_DEBS:-}" "$root/shared/debs" "$root/../shared/debs"; do
  if [ -n "$d" ] && compgen -G "$d/*.deb" >/dev/null; then debs_dir=$d; break; fi
done
use_debs() {
  local prefix=$build-deps ma n=0 skipped=0 f p
  ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
  mkdir -p "$prefix"
  if [ -f "$debs_dir/MANIFEST" ]; then
    echo "debs: $(head -1 "$debs_dir/MANIFEST"); here: $(os PRETTY_NAME)"
  fi
  for f in "$debs_dir"/*.deb; do
    p=$(dpkg-deb -f "$f" Package 2>/dev/null || basename "$f" | cut -d_ -f1)
    if printf '%s' "$p" | grep -Eq "$deb_never"; then skipped=$((skipped + 1)); continue; fi
    if [ "${CLNAS_DEBS_ALL:-0}" != 1 ] && [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" = installed ]; then
      skipped=$((skipped + 1)); continue
    fi
    if command -v dpkg >/dev/null 2>&1; then dpkg -x "$f" "$prefix" || echo "debs: dpkg -x $f failed"
    else (cd "$prefix" && ar p "$f" "$(ar t "$f" | grep '^data.tar')" | tar -x -f - -a 2>/dev/null) || echo "debs: unpacking $f failed"; fi
    n=$((n + 1))
  done
  echo "debs: unpacked $n .deb files from $debs_dir into $prefix ($skipped already installed here)"
  # BLAS/LAPACK live in blas/ and lapack/ subfolders behind update-alternatives links that
  # dpkg -x does not create
  for f in "$prefix/usr/lib/$ma"/blas/lib*.so* "$prefix/usr/lib/$ma"/lapack/lib*.so*; do
    [ -e "$f" ] && [ ! -e "$prefix/usr/lib/$ma/$(basename "$f")" ] && ln -s "$f" "$prefix/usr/lib/$ma/$(basename "$f")"
  done
  # .pc files say prefix=/usr: point them into the unpacked tree
  find "$prefix" -name '*.pc' -path '*pkgconfig*' -exec sed -i -E "s#^([A-Za-z_]+)=/usr#\1=$prefix/usr#" {} +
  export CMAKE_PREFIX_PATH="$prefix/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
  export PKG_CONFIG_PATH="$prefix/usr/lib/$ma/pkgconfig:$prefix/usr/share/pkgconfig:$prefix/usr/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
  export LD_LIBRARY_PATH="$prefix/usr/lib/$ma:$prefix/lib/$ma:$prefix/usr/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export LIBRARY_PATH="$prefix/usr/lib/$ma:$prefix/lib/$ma${LIBRARY_PATH:+:$LIBRARY_PATH}"
  export CPATH="$prefix/usr/include:$prefix/usr/include/$ma${CPATH:+:$CPATH}"
  export PATH="$prefix/usr/bin:$PATH"
  if compgen -G "$prefix/etc/OpenCL/vendors/*.icd" >/dev/null; then   # e.g. pocl-opencl-icd from the debs
    vd=${OCL_ICD_VENDORS:-$build-vendors}
    mkdir -p "$vd" && cp -n /etc/OpenCL/vendors/*.icd "$prefix"/etc/OpenCL/vendors/*.icd "$vd"/ 2>/dev/null
    export OCL_ICD_VENDORS=$vd
  fi
  deps_src="debs from $debs_dir"
  echo "debs: CMAKE_PREFIX_PATH=$CMAKE_PREFIX_PATH"
  echo "debs: PKG_CONFIG_PATH=$PKG_CONFIG_PATH"
  echo "debs: LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
}
if [ "${CLNAS_FORCE_DEBS:-0}" != 1 ] && step deps 240 tools/deps.sh; then :
elif [ -n "$debs_dir" ]; then
  echo "deps: tools/deps.sh did not install (or CLNAS_FORCE_DEBS=1); using the .deb files in $debs_dir"
  use_debs
else
  deps_src="incomplete (tools/deps.sh failed, no .deb folder: set CLNAS_DEBS or carry shared/debs/)"
  echo "deps: $deps_src; trying to build with what is installed"
fi
for t in cc cmake pkg-config; do command -v "$t" >/dev/null 2>&1 || echo "deps: WARNING: $t not found"; done

# ------------------------------------------------------------------------------- 3. build
if step configure 600 cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo; then
  step build 1800 cmake --build "$build" -j"$jobs"
else
  skip build "configure failed"
fi
have_clnas=0; [ -x "$clnas" ] && [ "${rc_of[build]}" = 0 ] && have_clnas=1

# ------------------------------------------------------------------------------- 4. devices
dev_name="-" dev_args=()
if [ $have_clnas = 1 ]; then
  step devices 120 "$clnas" devices
  "$clnas" devices --json >"$logs/devices.json" 2>/dev/null
  if [ -z "$device" ]; then
    device=$(grep '"type": "GPU"' "$logs/devices.json" | head -1 | sed -n 's/.*"index": \([0-9]*\).*/\1/p')
    [ -n "$device" ] && echo "device: the first GPU, index $device" || echo "device: no GPU device; the default device"
  fi
  [ -n "$device" ] && dev_args=(--device "$device")
  if [ -n "$device" ]; then
    dev_name=$(grep "\"index\": $device," "$logs/devices.json" | sed -n 's/.*"name": "\([^"]*\)", "vendor": "[^"]*", "type": "\([^"]*\)".*/\1 (\2)/p')
    [ -n "$dev_name" ] || dev_name="--device $device"
  else
    dev_name=$(grep '"default": true' "$logs/devices.json" | head -1 | sed -n 's/.*"name": "\([^"]*\)", "vendor": "[^"]*", "type": "\([^"]*\)".*/\1 (\2)/p')
    [ -n "$dev_name" ] || dev_name="none found"
  fi
else
  skip devices "no clnas binary"
fi

# ------------------------------------------------------------------------------- 5. tests
tests="-"
if [ $have_clnas = 1 ]; then
  rm -f "$build/Testing/Temporary/LastTest.log"
  test_env=(); [ -n "$device" ] && test_env=(CLNAS_TEST_DEVICE="$device")
  step tests 1800 env -C "$build" "${test_env[@]}" ctest --output-on-failure
  line=$(grep -E 'tests passed, [0-9]+ tests? failed out of' "$logs/tests.log" | tail -1)
  cases=$(awk '/^\[====\] Synthesis:/ { for (i = 1; i <= NF; i++) { if ($i == "Passing:") p += $(i + 1); if ($i == "Failing:") f += $(i + 1) } }
               END { printf "%d passed, %d failed", p, f }' "$build/Testing/Temporary/LastTest.log" 2>/dev/null)
  failed=$(sed -n 's/^ *[0-9]* - \([A-Za-z0-9_]*\) (.*/\1/p' "$logs/tests.log" | tr '\n' ' ')
  tests="${line:-no ctest summary}; cases ${cases:-?}${failed:+; failed: $failed}"
else
  skip tests "no clnas binary"
fi

# ------------------------------------------------------------------------------- 6-8. clnas
reps=5; [ $quick = 1 ] && reps=1
k_super="-" k_single="-" r_time="-" s_time="-" s_arch="-"
if [ $have_clnas = 1 ]; then
  step selftest 600 "$clnas" selftest "${dev_args[@]}"
  if step bench 600 "$clnas" bench --repeat "$reps" --json "${dev_args[@]}"; then
    j=$(grep -m1 '^{' "$logs/bench.log")
    totals=$(printf '%s' "$j" | grep -o '"total_s": [0-9.]*' | awk '{ print $2 }')
    k_super=$(sed -n 1p <<<"$totals")s k_single=$(sed -n 2p <<<"$totals")s
    r_time=$(printf '%s' "$j" | sed -n 's/.*"lr": {"samples": 3000, "seconds": \([0-9.]*\).*/\1/p')s
    bdev=$(printf '%s' "$j" | sed -n 's/^{"device": "\([^"]*\)".*/\1/p')
    [ "$dev_name" = "-" ] || [ "$dev_name" = "none found" ] && [ -n "$bdev" ] && dev_name=$bdev
  fi
  if [ $quick = 1 ]; then
    skip search "--quick"
  elif step search 3600 "$clnas" search --batch 72 --repeat 3 "${dev_args[@]}"; then
    s_arch=$(sed -n 's/^seed [0-9]*: \(|.*|\)$/\1/p' "$logs/search.log" | tail -1)
    s_time=$(sed -n 's/^ *wall time \([0-9.]*\) s.*/\1/p' "$logs/search.log" | tail -1)s
    acc=$(sed -n 's/^ *NB201 test accuracy: //p' "$logs/search.log" | tail -1)
    [ -n "$acc" ] && s_arch="$s_arch ($acc)"
  fi
  if [ $torch = 1 ]; then
    if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
      step bench_torch 900 /usr/bin/python3 tools/bench_torch.py --repeat "$reps" --clnas "$clnas" "${dev_args[@]}"
    else skip bench_torch "/usr/bin/python3 cannot import torch"; fi
  fi
else
  for s in selftest bench search; do skip $s "no clnas binary"; done
fi

# ------------------------------------------------------------------------------- summary
st() { local r=${rc_of[$1]:-skipped}; case $r in 0) echo "ok ${wall_of[$1]} s" ;; skipped) echo skipped ;;
       124|137) echo "TIMED OUT ${wall_of[$1]} s" ;; *) echo "FAILED (exit $r) ${wall_of[$1]} s" ;; esac; }
hdr "summary ($(secs "$t_all" "$(now)") s in all; logs in $logs)"
printf '%-22s %s\n' \
  "GPU OpenCL driver" "$driver" \
  "dependencies" "$deps_src" \
  "build" "$(st configure) / $(st build) ($build)" \
  "device" "$dev_name" \
  "tests" "$(st tests): $tests" \
  "selftest" "$(st selftest)" \
  "bench" "$(st bench), medians of $reps" \
  "  kappa supernet" "$k_super" \
  "  kappa single path" "$k_single" \
  "  R (3000 patches)" "$r_time" \
  "search" "$(st search); wall $s_time" \
  "  found arch" "$s_arch"
[ $torch = 1 ] && printf '%-22s %s\n' "bench_torch" "$(st bench_torch)"
exit 0
