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
build=${BUILD_DIR:-build}
stage ctest --test-dir "$build" --output-on-failure -j "${JOBS:-$(nproc)}" -LE 'long|load' "$@"
# The real-cluster checks print one PASS:/FAIL: line per assertion, which --output-on-failure
# shows only for a failed test: name every one here, from CTest's log of that run.
awk '/^[0-9]+\/[0-9]+ Test: /{t = $3} t ~ /^real_cluster_/ && /^(PASS|FAIL): /{print t ": " $0}' \
  "$build/Testing/Temporary/LastTest.log" 2>/dev/null || true
# The load and attack tests (label `load`: each runs alone against the real binary) print one
# line per case and figure; -V puts those lines in the log even when every case passes.
stage ctest --test-dir "$build" -V -L load "$@"
# Tests labelled `long` (the 10-minute kube-apiserver outage) mostly sleep: they run in the
# background while the sanitizer build compiles, so they cost no wall time of their own.
long_tests() { ctest --test-dir "$build" --output-on-failure -L long "$@"; }
if [ "${TEST_SANITIZERS:-1}" != 0 ]; then
  long_start=$SECONDS
  long_tests "$@" >"$build/long-tests.log" 2>&1 &
  long_pid=$!
  # One clang ASan+UBSan build serves the sanitized suite and the fuzzers.
  stage scripts/sanitizers.sh asan
  stage env FUZZ_BUILD_DIR=build-asan scripts/fuzz.sh
  stage scripts/sanitizers.sh tsan
  long_status=0
  wait "$long_pid" || long_status=$?
  cat "$build/long-tests.log"
  echo "test.sh: ctest -L long (in the background) took $((SECONDS - long_start)) s"
  if [ "$long_status" != 0 ]; then
    echo "test.sh: FAILED: ctest -L long" >&2
    status=1
  fi
else
  stage long_tests "$@"
fi
exit $status
