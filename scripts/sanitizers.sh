#!/usr/bin/env bash
# Sanitizer runs of the test suite:
#   1. AddressSanitizer + UndefinedBehaviorSanitizer (LeakSanitizer included): the whole tree
#      built with clang into ${ASAN_BUILD_DIR:-build-asan} and its whole CTest suite, the
#      real-cluster tests included (they run the instrumented server binary). The build is
#      configured exactly as scripts/fuzz.sh configures its own (fuzzers included), so
#      `FUZZ_BUILD_DIR=build-asan scripts/fuzz.sh` afterwards builds only the fuzzers.
#   2. ThreadSanitizer (clang): the test binaries labelled `concurrent` (cms_test(... LABEL
#      concurrent)) built into ${TSAN_BUILD_DIR:-build-tsan} and run with `ctest -L concurrent`.
# Any report fails the test that produced it (halt_on_error / abort), and so this script.
#
# Usage: scripts/sanitizers.sh [asan|tsan]...   (default: both)
# Extra arguments for the ASan ctest run (default: -LE long|load|bench|real_node and the tests named below, i.e. without the tests
# that measure time and memory with bounds set for the uninstrumented binary: the quick load
# tests, the benchmark smoke run, and the 10-minute outage, whose code the 20 s outage covers;
# nor the real node, whose image is built from the Dockerfile, not from this build tree):
#   ASAN_CTEST_ARGS="-E real_cluster" scripts/sanitizers.sh asan
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-$(nproc)}
runs=("$@")
[ ${#runs[@]} -eq 0 ] && runs=(asan tsan)

status=0
for run in "${runs[@]}"; do
  case "$run" in
    asan)
      echo "== sanitizers: ASan+UBSan build and whole suite"
      CC=clang CXX=clang++ SANITIZE=address,undefined BUILD_DIR=${ASAN_BUILD_DIR:-build-asan} \
        scripts/build.sh -DBUILD_FUZZERS=ON
      # read(ASAN_CTEST_ARGS) keeps an empty value empty.
      # ServerTest.AcceptBacksOffWhenOutOfFileDescriptors exhausts the process's descriptors; UBSan's
      # vptr check then cannot open the pipe it probes memory with and reports a valid object as
      # invalid, so that test runs in the normal and TSan suites only.
      # The real-cluster checks of manifests, certificates, the chart, the doctor and the
      # exporters run the server only as a backend to prove YAML, PKI, diagnoses and what
      # Prometheus and InfluxDB receive: e2e and api_versions carry the server's request paths
      # (lists, watches, swap, summary errors) under ASan, the unit and integration tests cover
      # the exposition and the sink, and the normal suite runs them all, so they run once,
      # keeping .ci/run within its time budget.
      # The OTLP sink's check runs once too: real_otelcol runs the sink's code under ASan.
      read -r -a extra <<<"${ASAN_CTEST_ARGS--LE long|load|bench|real_node -E AcceptBacksOffWhenOutOfFileDescriptors|real_cluster_(manifests|certs|helm|doctor|exporters|otlp)}"
      ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        ctest --test-dir "${ASAN_BUILD_DIR:-build-asan}" --output-on-failure -j "$jobs" \
        "${extra[@]}" || status=1
      ;;
    tsan)
      echo "== sanitizers: ThreadSanitizer build (clang) and the concurrent tests"
      CC=clang CXX=clang++ SANITIZE=thread BUILD_DIR=${TSAN_BUILD_DIR:-build-tsan} \
        BUILD_TARGET=concurrent_tests scripts/build.sh
      # test/tsan.supp: reports inside uninstrumented third-party code only, each justified.
      TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/test/tsan.supp" \
        ctest --test-dir "${TSAN_BUILD_DIR:-build-tsan}" --output-on-failure -j "$jobs" \
        -L concurrent || status=1
      ;;
    *)
      echo "sanitizers: unknown run $run (asan|tsan)" >&2
      exit 2
      ;;
  esac
done
exit $status
