#!/usr/bin/env bash
# Runs a command with CPU burners beside it, the way a busy CI machine would: to show that no
# test's verdict depends on an idle machine (test/README.md, "Time bounds").
#
# Usage: scripts/under-load.sh CMD [ARG...]
#   BURNERS=N   how many busy loops (default: the number of CPUs)
# Example, the proof run of test/README.md (normal suite and ASan stage, three times):
#   scripts/under-load.sh bash -c 'for i in 1 2 3; do
#     ctest --test-dir build -j 2 -LE "long|real_node" --output-on-failure; scripts/sanitizers.sh asan; done'
# The burners run at the same priority as the command and stop when it ends (or on a signal).
set -euo pipefail
[ $# -gt 0 ] || {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
}
burners=${BURNERS:-$(nproc)}
pids=()
stop_burners() {
  [ ${#pids[@]} -eq 0 ] || kill "${pids[@]}" 2>/dev/null || true
  pids=()
}
trap stop_burners EXIT
trap 'stop_burners; exit 143' TERM INT
for _ in $(seq "$burners"); do
  bash -c 'while :; do :; done' &
  pids+=($!)
done
echo "under-load: $burners CPU burners beside: $*" >&2
start=$SECONDS
status=0
"$@" || status=$?
echo "under-load: exit $status after $((SECONDS - start)) s with $burners burners" >&2
exit $status
