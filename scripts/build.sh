#!/usr/bin/env bash
# Configures and builds the project into ${BUILD_DIR:-build}. Extra arguments go to cmake.
# Example: SANITIZE=address,undefined BUILD_DIR=build-asan scripts/build.sh
# BUILD_TARGET="name..." builds only those targets (default: everything).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
args=(-G Ninja -S . -B "$build_dir" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}")
[ -n "${SANITIZE:-}" ] && args+=(-DSANITIZE="$SANITIZE")
# ccache (scripts/install-deps.sh) keeps object files across clones and build directories: paths
# under the checkout are hashed relative to it, so a fresh clone elsewhere (as CI makes) hits the
# cache. CCACHE=0 builds without it.
if [ "${CCACHE:-1}" != 0 ] && command -v ccache >/dev/null; then
  export CCACHE_BASEDIR=$PWD CCACHE_NOHASHDIR=1 CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-8G}
  args+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
cmake "${args[@]}" "$@" >/dev/null
cmake --build "$build_dir" -j "${JOBS:-$(nproc)}" ${BUILD_TARGET:+--target $BUILD_TARGET}  # split: one or more names
