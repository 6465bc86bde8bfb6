#!/usr/bin/env bash
# tools/deps.sh - installs the Debian/Ubuntu packages clnas needs to build and test, but only
# those that are missing (checked with dpkg-query); runs `apt-get update` once, and only when
# something has to be installed. Shared by tools/test.sh, tools/run.sh and .ci/run.
#
#   CLNAS_SKIP_DEPS=1   do nothing (e.g. on a non-Debian system with the libraries in place)
set -euo pipefail

if [ "${CLNAS_SKIP_DEPS:-0}" = 1 ]; then exit 0; fi

packages=(
  build-essential cmake pkg-config
  ocl-icd-opencl-dev opencl-headers clinfo pocl-opencl-icd   # OpenCL loader, headers, CPU device
  mesa-opencl-icd                                            # rusticl: the second implementation in the tests
  clang-15                                                   # offline kernel compile check (tools/cl_offline_check.sh), libFuzzer (tools/fuzz.sh)
  libopenblas0-pthread                                       # clnas bench: the host's SGEMM rate (dlopen'd)
  libclblast-dev liblapacke-dev libpng-dev libcairo2-dev fonts-dejavu-core
  libjansson-dev                                             # JSON reading and writing
  libturbojpeg0-dev                                          # ImageNet JPEGs (src/data/jpeg.c)
  libcriterion-dev                                           # unit tests
  libopenmpi-dev openmpi-bin                                 # MPI across processes (optional: -DCLNAS_MPI)
  python3-torch                                              # reference values in tests
  python3-pil                                                # PIL's decode + resize, the JPEG tests' oracle
)

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "deps: dpkg-query not found (not a Debian-like system); install these yourself: ${packages[*]}" >&2
  echo "deps: set CLNAS_SKIP_DEPS=1 to skip this check" >&2
  exit 0
fi

missing=()
for p in "${packages[@]}"; do
  if [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)" != installed ]; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi

echo "deps: installing missing packages: ${missing[*]}" >&2
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo=(sudo); else
    echo "deps: not root and no sudo; run as root: apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
