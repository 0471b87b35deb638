#!/usr/bin/env bash
# Builds the libFuzzer targets (test/fuzz/) with clang, AddressSanitizer and UBSan into
# ${FUZZ_BUILD_DIR:-build-fuzz} and runs each for FUZZ_SECONDS (default 25) from its seed corpus.
# New inputs go to a scratch corpus; the seeds in the tree are never modified. Fails when any
# fuzzer finds a crash, leak, timeout (> 5 s per input) or out-of-memory (> 2 GiB); the input is
# kept under ${FUZZ_BUILD_DIR}/findings/<fuzzer>/ (add it to the fuzzer's corpus once fixed).
# Prints per fuzzer: executions, executions per second, coverage (edges) and features.
# Each fuzzer runs on one core, so FUZZ_JOBS of them (default: the number of cores) run at once.
#
# Usage: scripts/fuzz.sh [fuzzer...]      (default: every fuzzer below)
# Longer runs: FUZZ_SECONDS=300 scripts/fuzz.sh http_request
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${FUZZ_BUILD_DIR:-build-fuzz}
seconds=${FUZZ_SECONDS:-25}
jobs=${FUZZ_JOBS:-$(nproc)}

# name and -max_len (bytes): large enough for the biggest seeds of each corpus.
declare -A max_len=(
  [kubelet_text]=16384 [api_request]=2048 [http_request]=8192 [pem]=12288
  [label_selector]=1024 [watch_event]=32768 [kube_list]=32768 [kubeconfig]=8192
  [kubelet_summary]=65536 [kubelet_protobuf]=16384
)
fuzzers=("$@")
[ ${#fuzzers[@]} -eq 0 ] && fuzzers=(kubelet_text api_request http_request pem label_selector
                                     watch_event kube_list kubeconfig kubelet_summary
                                     kubelet_protobuf)

targets=()
for f in "${fuzzers[@]}"; do
  [ -n "${max_len[$f]:-}" ] || { echo "fuzz: unknown fuzzer $f" >&2; exit 2; }
  targets+=("${f}_fuzzer")
done
# Configured as scripts/sanitizers.sh configures its ASan build, so either can reuse the other's.
CC=clang CXX=clang++ SANITIZE=address,undefined BUILD_DIR="$build_dir" \
  BUILD_TARGET="${targets[*]}" scripts/build.sh -DBUILD_FUZZERS=ON

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# run_fuzzer NAME: one fuzzer for $seconds; its output in findings/NAME.log, its exit status in
# $scratch/NAME.rc.
run_fuzzer() {
  local f=$1 rc=0 dict=()
  mkdir -p "$scratch/$f" "$build_dir/findings/$f"
  # a fuzzer's dictionary of format tokens, when it has one
  [ -f "test/fuzz/$f.dict" ] && dict=(-dict="test/fuzz/$f.dict")
  "$build_dir/test/fuzz/${f}_fuzzer" "$scratch/$f" "test/fuzz/corpus/$f" "${dict[@]}" \
    -max_total_time="$seconds" -max_len="${max_len[$f]}" -timeout=5 -rss_limit_mb=2048 \
    -artifact_prefix="$build_dir/findings/$f/" -print_final_stats=1 \
    >"$build_dir/findings/$f.log" 2>&1 || rc=$?
  echo "$rc" >"$scratch/$f.rc"
}
running=0
for f in "${fuzzers[@]}"; do
  if [ "$running" -ge "$jobs" ]; then
    wait -n
    running=$((running - 1))
  fi
  run_fuzzer "$f" &
  running=$((running + 1))
done
wait
failed=()
printf '%-16s %10s %8s %7s %7s  %s\n' fuzzer execs exec/s cov ft result
for f in "${fuzzers[@]}"; do
  log="$build_dir/findings/$f.log"
  rc=$(cat "$scratch/$f.rc" 2>/dev/null || echo "no exit status")
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  result=ok
  if [ "$rc" != 0 ]; then
    result="FAILED (exit $rc; log $log; input in $build_dir/findings/$f/)"
    failed+=("$f")
  fi
  printf '%-16s %10s %8s %7s %7s  %s\n' "$f" "${execs:-?}" "${speed:-?}" "${cov:-?}" "${ft:-?}" \
    "$result"
done
if [ ${#failed[@]} -ne 0 ]; then
  for f in "${failed[@]}"; do
    echo "--- $f:"
    grep -E -A 30 'ERROR: |runtime error|SUMMARY|Test unit written' "$build_dir/findings/$f.log" |
      head -n 60
  done
  echo "fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: ${#fuzzers[@]} fuzzers, ${seconds} s each, $jobs at a time, no findings"
