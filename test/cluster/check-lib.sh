# Shared by check-manifests.sh and check-certs.sh (sourced, not run): PASS:/FAIL: lines, the
# closing "N passed, M failed" line, and the cluster the check runs against.
#
# check_cluster_up PREFIX [--own-cluster]
#   --own-cluster (how CTest runs the checks): a new cluster in its own state dir under a temp dir,
#   on free ports, torn down at exit, and the teardown asserted (no process, port or state left).
#   Without it: the running cluster of CLUSTER_STATE_DIR (cluster.sh env) if there is one, else a
#   new one there, brought down at exit.
# Callers set `check_name` and may define check_cleanup (run before the cluster goes down).
# CHECK_KEEP=1 leaves the cluster up at the end (prints how to tear it down); CHECK_KEEP_LOGS=1
# keeps the logs and outputs on success too (they are always kept on failure).
# shellcheck shell=bash disable=SC2154 # here and check_name come from the caller

check_passed=0
check_failed=0
check_brought_up=0
check_own=0
check_torn_down=0
check_started=$(date +%s)
check_work=$(mktemp -d "${TMPDIR:-/tmp}/cms-check.XXXXXX")

log() { echo "[$check_name] $*"; }

# wait_until SECONDS COMMAND...: polls every 0.5 s; false if COMMAND never succeeded in time.
wait_until() {
  local lim=$1 start
  shift
  start=$(date +%s)
  until "$@" >/dev/null 2>&1; do
    (($(date +%s) - start < lim)) || return 1
    sleep 0.5
  done
}

pass() {
  echo "PASS: $*"
  check_passed=$((check_passed + 1))
}
fail() {
  echo "FAIL: $*"
  check_failed=$((check_failed + 1))
}
# assert WHAT COMMAND...: PASS/FAIL line; the command's output goes to the log and, on failure,
# its last lines are printed (a one-line output is appended to the PASS line as details).
check_assert_n=0
assert() {
  local what=$1 out
  shift
  check_assert_n=$((check_assert_n + 1))
  out=$check_work/assert-$check_assert_n.log
  if "$@" >"$out" 2>&1; then
    if [ "$(wc -l <"$out")" -le 1 ] && [ -s "$out" ]; then pass "$what: $(cat "$out")"; else pass "$what"; fi
  else
    tail -n 15 "$out" | sed 's/^/    /'
    fail "$what"
  fi
}

check_teardown() {
  [ "$check_torn_down" = 0 ] || return 0
  check_torn_down=1
  local state=${CLUSTER_STATE_DIR:-} pids=() ports=() f p left=() busy=()
  if declare -F check_cleanup >/dev/null; then check_cleanup || true; fi
  if [ "${CHECK_KEEP:-0}" = 1 ] && [ "$check_brought_up" = 1 ] && [ -d "$state" ]; then
    log "cluster kept: export CLUSTER_STATE_DIR=$state; $here/cluster.sh down"
    return 0
  fi
  if [ "$check_brought_up" = 1 ] && [ -d "$state" ]; then
    for f in "$state"/pids/*.pid; do [ -e "$f" ] && pids+=("$(cat "$f")"); done
    [ -f "$state/env" ] && mapfile -t ports < <(sed -n 's/^[A-Z_]*PORT=\([0-9]*\)$/\1/p' "$state/env")
    if { [ "$check_failed" != 0 ] || [ "${CHECK_KEEP_LOGS:-0}" = 1 ]; } && [ -d "$state/logs" ]; then
      cp -r "$state/logs" "$check_work/logs"
    fi
    "$here/cluster.sh" down >"$check_work/down.log" 2>&1 || true
  fi
  if [ "$check_own" = 1 ]; then
    sleep 0.5
    for p in "${pids[@]}"; do
      if kill -0 "$p" 2>/dev/null; then left+=("$p"); fi
    done
    for p in "${ports[@]}"; do
      if ss -Hltn "sport = :$p" | grep -q .; then busy+=("$p"); fi
    done
    if [ ${#pids[@]} -gt 0 ] && [ ${#left[@]} -eq 0 ] && [ ${#busy[@]} -eq 0 ] && [ ! -e "$state" ]; then
      pass "teardown: ${#pids[@]} processes stopped, ${#ports[@]} ports free, state removed"
    else
      fail "teardown: ${#pids[@]} processes recorded, left [${left[*]}], ports in use [${busy[*]}], state dir exists: $([ -e "$state" ] && echo yes || echo no)"
    fi
  fi
}

check_finish() {
  check_teardown
  if [ "$check_failed" = 0 ] && [ "${CHECK_KEEP_LOGS:-0}" != 1 ]; then
    rm -rf "$check_work"
    log "took $(($(date +%s) - check_started))s"
  else
    log "took $(($(date +%s) - check_started))s; logs and outputs kept in $check_work"
  fi
  echo "$check_passed passed, $check_failed failed"
  [ "$check_failed" = 0 ] && [ "$check_passed" -gt 0 ]
  exit $?
}
# A step that everything after it depends on failed.
fatal() {
  fail "$*"
  check_finish
}
trap 'fail "interrupted"; check_finish' INT TERM
trap 'check_teardown' EXIT

# start_kwok_backend NAME PORT FLAG...: our server ($server) as the cluster's backend NAME on
# PORT, scraping the kwok kubelets (one server, so --kubelet-insecure-tls unless the caller sets
# kubelet_tls, e.g. to --kubelet-certificate-authority={state}/pki/ca.crt: kwok's certificate is
# signed by the cluster CA for IP 127.0.0.1; the node status port; InternalIP first), with FLAG...
# added; its output appended to $check_work/backend.log. Returns when it is ready, non-zero if it
# never is.
start_kwok_backend() {
  local name=$1 port=$2
  shift 2
  "$here/cluster.sh" backend "$name" "$port" -- "$server" '--secure-port={port}' \
    --bind-address=127.0.0.1 '--tls-cert-file={cert}' '--tls-private-key-file={key}' \
    '--kubeconfig={kubeconfig}' "${kubelet_tls:---kubelet-insecure-tls}" \
    --kubelet-use-node-status-port --kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname \
    "$@" >>"$check_work/backend.log" 2>&1
}

check_cluster_up() {
  if [ "${1:-}" = --own-cluster ]; then
    check_own=1
    export CLUSTER_STATE_DIR=$check_work/cluster
  fi
  if [ "$check_own" = 1 ] || ! "$here/cluster.sh" env >/dev/null 2>&1; then
    check_brought_up=1
    if ! "$here/cluster.sh" up >"$check_work/up.log" 2>&1; then
      tail -n 30 "$check_work/up.log"
      fatal "cluster up failed (log above)"
    fi
    log "cluster up in $(($(date +%s) - check_started))s in ${CLUSTER_STATE_DIR:-the default state dir}"
  fi
  eval "$("$here/cluster.sh" env)"
}
