#!/usr/bin/env bash
# The project's test command: installs dependencies, builds, and runs every test with CTest;
# then the fuzzers for a short bounded time (scripts/fuzz.sh) and the sanitizer runs
# (scripts/sanitizers.sh: ASan+UBSan over the whole suite, TSan over the concurrent tests).
# Every stage runs; the exit status is non-zero when any of them failed.
# TEST_SANITIZERS=0 skips the fuzz and sanitizer stages (a quick local run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
status=0
stage() {
  local start=$SECONDS
  "$@" || { echo "test.sh: FAILED: $*" >&2; status=1; }
  echo "test.sh: $* took $((SECONDS - start)) s"
}
stage ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j "${JOBS:-$(nproc)}" "$@"
if [ "${TEST_SANITIZERS:-1}" != 0 ]; then
  # One clang ASan+UBSan build serves the sanitized suite and the fuzzers.
  stage scripts/sanitizers.sh asan
  stage env FUZZ_BUILD_DIR=build-asan scripts/fuzz.sh
  stage scripts/sanitizers.sh tsan
fi
exit $status
