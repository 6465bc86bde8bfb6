#!/usr/bin/env bash
# tools/run.sh - the project's main job (see README): installs missing Debian packages
# (tools/deps.sh), builds clnas into build/ (optimised: the default RelWithDebInfo, -O2 -g),
# lists the OpenCL devices, runs the self-test on the default device, and scores one
# NAS-Bench-201 architecture (the best CIFAR-10 cell of the benchmark) with TE-NAS's settings
# on the bundled CIFAR-10 subset.
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
echo "==== clnas score (TE-NAS kappa and R, batch 72, 3 repeats, bundled CIFAR-10 subset)"
"$build/clnas" score --arch '|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|'
