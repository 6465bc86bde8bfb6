#!/usr/bin/env bash
# tools/run.sh - the project's main job (see README): installs missing Debian packages
# (tools/deps.sh), builds clnas into build/ (optimised: the default RelWithDebInfo, -O2 -g),
# lists the OpenCL devices, runs the self-test on the default device, then the main job:
# TE-NAS's search on NAS-Bench-201 with the defaults (bundled CIFAR-10 subset, seed 0; about
# 20 minutes on a 2-core CPU through PoCL). With --quick it scores one architecture instead
# (the best CIFAR-10 cell of the benchmark), which takes seconds.
#
#   CLNAS_DEVICE   the device to use (index from `clnas devices` or part of its name)
#   JOBS           parallel build jobs (default: nproc)
#   BUILD_DIR      the build tree (default build)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}

tools/deps.sh
build=${BUILD_DIR:-build}
cmake -S . -B "$build"
cmake --build "$build" -j"$jobs" --target clnas_cli

echo "==== clnas devices"
"$build/clnas" devices
echo "==== clnas selftest"
"$build/clnas" selftest
if [ "${1:-}" = --quick ]; then
  echo "==== clnas score (TE-NAS kappa and R, batch 72, 3 repeats, bundled CIFAR-10 subset)"
  "$build/clnas" score --arch '|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|'
else
  echo "==== clnas search (TE-NAS on NAS-Bench-201, bundled CIFAR-10 subset, seed 0; results in runs/)"
  "$build/clnas" search --out runs
fi
