#!/usr/bin/env bash
# tools/run.sh - the project's main job (see README): installs missing Debian packages
# (tools/deps.sh), builds clnas into build/ (optimised: the default RelWithDebInfo, -O2 -g),
# lists the OpenCL devices and runs the self-test on the default device.
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
