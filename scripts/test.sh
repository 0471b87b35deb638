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
stage ctest --test-dir "$build" --output-on-failure -j "${JOBS:-$(nproc)}" -LE 'long|load|real_node' "$@"
# The real-cluster checks print one PASS:/FAIL: line per assertion, which --output-on-failure
# shows only for a failed test: name every one here, from CTest's log of that run.
name_assertions() {
  awk -v re="$1" '/^[0-9]+\/[0-9]+ Test: /{t = $3} t ~ re && /^(PASS|FAIL): /{print t ": " $0}' \
    "$build/Testing/Temporary/LastTest.log" 2>/dev/null || true
}
name_assertions '^real_cluster_'
# The load and attack tests (label `load`: each runs alone against the real binary) print one
# line per case and figure; -V puts those lines in the log even when every case passes.
stage ctest --test-dir "$build" -V -L load "$@"
# The real node (label real_node: our image, built from the Dockerfile, as a pod on a real kubelet
# with containerd and runc on this host; test/cluster/README.md, "A real node"): once, never in
# the sanitizer stages, never beside another run of itself (it holds 127.0.0.1:10250 and host
# settings). A machine that cannot run it (not root, no writable cgroups) fails it with the
# reason. Most of its time is waiting (pods, scrapes, the HPA), so like the 10-minute outage
# (label `long`) it runs in the background while the sanitizer build compiles. The two run side
# by side, each in its own ctest (the outage mostly sleeps, on ports that bind(0) chose, and
# shares nothing with the real node); one after the other they outlasted the sanitizer and
# fuzzing stages. -V keeps the real node's PASS:/FAIL: lines in its log; they are named after
# the other stages.
real_node_test() { ctest --test-dir "$build" -V -L real_node "$@"; }
long_tests() { ctest --test-dir "$build" --output-on-failure -L long "$@"; }
background() { # exit status: 1 real node failed, 2 long failed, 3 both
  local rc=0 t=$SECONDS long_pid
  (
    long_rc=0
    long_tests "$@" >"$build/long-tests.log" 2>&1 || long_rc=1
    echo "test.sh: ctest -L long (in the background) took $((SECONDS - t)) s" >>"$build/long-tests.log"
    exit $long_rc
  ) &
  long_pid=$!
  real_node_test "$@" >"$build/real-node.log" 2>&1 || rc=1
  echo "test.sh: ctest -L real_node (in the background) took $((SECONDS - t)) s" >>"$build/real-node.log"
  wait "$long_pid" || rc=$((rc | 2))
  return $rc
}
report_real_node() {
  if grep -q '^[0-9]*: FAIL: \|tests failed out of' "$build/real-node.log"; then
    cat "$build/real-node.log"
  else
    sed -n 's/^[0-9]*: \(\(PASS\|FAIL\): \)/real_node: \1/p; /^[0-9]*: \[real-node\] took /p; /^test.sh: /p' \
      "$build/real-node.log" || true
  fi
}
if [ "${TEST_SANITIZERS:-1}" != 0 ]; then
  background "$@" &
  background_pid=$!
  # One clang ASan+UBSan build serves the sanitized suite and the fuzzers.
  stage scripts/sanitizers.sh asan
  stage env FUZZ_BUILD_DIR=build-asan scripts/fuzz.sh
  stage scripts/sanitizers.sh tsan
  background_status=0
  wait "$background_pid" || background_status=$?
  report_real_node
  cat "$build/long-tests.log"
  if [ $((background_status & 1)) != 0 ]; then
    echo "test.sh: FAILED: ctest -L real_node" >&2
    status=1
  fi
  if [ $((background_status & 2)) != 0 ]; then
    echo "test.sh: FAILED: ctest -L long" >&2
    status=1
  fi
else
  stage real_node_test "$@" >"$build/real-node.log" 2>&1 || true
  report_real_node
  stage long_tests "$@"
fi
exit $status
