#!/usr/bin/env bash
# The project's main job: installs dependencies, builds, and runs the server.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
exec "${BUILD_DIR:-build}"/cmd/cpp-metrics-server --help
