#!/usr/bin/env bash
# Configures and builds the project into ${BUILD_DIR:-build}. Extra arguments go to cmake.
# Example: SANITIZE=address,undefined BUILD_DIR=build-asan scripts/build.sh
# BUILD_TARGET="name..." builds only those targets (default: everything).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
args=(-G Ninja -S . -B "$build_dir" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}")
[ -n "${SANITIZE:-}" ] && args+=(-DSANITIZE="$SANITIZE")
cmake "${args[@]}" "$@" >/dev/null
cmake --build "$build_dir" -j "${JOBS:-$(nproc)}" ${BUILD_TARGET:+--target $BUILD_TARGET}  # split: one or more names
