#!/usr/bin/env bash
# Functions are called through assert/wait_until, after code that may exit:
# shellcheck disable=SC2317
# `cpp-metrics-server doctor` against a real kube-apiserver: healthy -> exit 0 and no cause; then
# each thing broken in turn, and the doctor must name that cause, and only it, with its fix
# (exit 1); restored (and healthy again) before the next:
#   - a wrong caBundle on the APIService                  -> ca_bundle_mismatch
#   - the server's ClusterRoleBinding deleted             -> rbac_missing
#   - the server stopped                                  -> server_down
#   - a node whose kubelet address refuses connections    -> kubelet_unreachable
#   - the server trusting another front-proxy CA          -> front_proxy_untrusted
# Not covered here: a kubelet certificate without an IP SAN (every kwok "kubelet" is one server
# whose certificate the cluster makes, scraped with --kubelet-insecure-tls); the unit tests of
# scraper/scrape_state.cc and doctor/checks.cc cover its decoding.
# Prints one PASS:/FAIL: line per assertion and "N passed, M failed"; exits non-zero on any
# failure.
#
# Usage: test/cluster/check-doctor.sh [--own-cluster]   (as check-api-versions.sh)
# Environment: CMS_SERVER (default build/cmd/cpp-metrics-server), CHECK_TIMEOUT (each wait,
# default 120 s), CLUSTER_STATE_DIR (cluster.sh).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
c=$here/cluster.sh
server=${CMS_SERVER:-$repo/build/cmd/cpp-metrics-server}
name=cpp-metrics-server
limit=${CHECK_TIMEOUT:-120}
export CLUSTER_NODES=2
# shellcheck disable=SC2034 # read by check-lib.sh
check_name=doctor
# shellcheck source-path=SCRIPTDIR source=check-lib.sh
. "$here/check-lib.sh"
check_cleanup() {
  "$c" stop "$name" >/dev/null 2>&1
  "$KUBECTL" delete node doctor-unreachable --ignore-not-found >/dev/null 2>&1
}
[ -x "$server" ] ||
  fatal "server binary $server not found (cmake --build build --target cpp-metrics-server)"
check_cluster_up "${1:-}"
k() { "$KUBECTL" "$@"; }

# Pods to scrape: the server is ready only once its window holds node and pod metrics.
"$c" workload 2 >"$check_work/workload.log" 2>&1 || fatal "workload default/demo did not start"
"$c" rbac "$name" >"$check_work/rbac.log" 2>&1 || fatal "rbac for $name failed"
port=$("$c" free-port)
# start_server [EXTRA FLAGS...]: our server on $port, ready.
start_server() {
  start_kwok_backend "$name" "$port" --metric-resolution=5s --kubelet-request-timeout=3s "$@"
}
start_server || fatal "our server did not turn ready"
"$c" register "$name" "$port" >"$check_work/register.log" 2>&1 ||
  fatal "APIService v1beta1.metrics.k8s.io -> our server did not turn Available"

# doctor: runs it (JSON) into $check_work/doctor.json and its exit status into doctor.rc.
doctor() {
  "$server" doctor --kubeconfig="$KUBECONFIG" -o json --timeout=5s >"$check_work/doctor.json" \
    2>"$check_work/doctor.err"
  echo $? >"$check_work/doctor.rc"
}
# causes: the causes of the last run, comma-separated.
causes() {
  python3 -c 'import json, sys; print(",".join(json.load(open(sys.argv[1]))["causes"]))' \
    "$check_work/doctor.json"
}
# doctor_says CAUSE ("" = healthy): the doctor exits as expected and names exactly CAUSE, with a
# fix and a README section for it.
doctor_says() {
  doctor
  local rc got
  rc=$(cat "$check_work/doctor.rc")
  got=$(causes) || return 1
  [ "$got" = "$1" ] || return 1
  if [ -z "$1" ]; then [ "$rc" = 0 ]; else
    [ "$rc" = 1 ] && python3 - "$check_work/doctor.json" "$1" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
fails = [c for c in report["checks"] if c["verdict"] == "fail"]
assert fails and all(c["cause"] == sys.argv[2] and c["fix"] and c["doc"] for c in fails), fails
PY
  fi
}
# expect CAUSE WHAT: waits until the doctor names CAUSE (or, for "", until healthy); PASS/FAIL
# with the text report's failing lines.
expect() {
  local cause=$1 what=$2 t0
  t0=$(date +%s)
  if wait_until "$limit" doctor_says "$cause"; then
    pass "$what: doctor names ${cause:-no cause} (exit $(cat "$check_work/doctor.rc"), $(($(date +%s) - t0))s)"
  else
    python3 -m json.tool "$check_work/doctor.json" | head -n 60 | sed 's/^/    /'
    fail "$what: doctor names [$(causes)], want [${cause}]"
  fi
}
# The text report too: healthy prints "healthy", and never a key or a token.
text_report() {
  "$server" doctor --kubeconfig="$KUBECONFIG" >"$check_work/doctor.txt" 2>&1
  grep -q '^healthy$' "$check_work/doctor.txt" && ! grep -q 'PRIVATE KEY\|Bearer' "$check_work/doctor.txt"
}

expect "" "healthy cluster"
assert "text report: healthy, no secret" text_report

# 1. A wrong caBundle.
good_bundle=$(k get apiservice v1beta1.metrics.k8s.io -o jsonpath='{.spec.caBundle}')
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=wrong-ca \
  -keyout "$check_work/wrong-ca.key" -out "$check_work/wrong-ca.crt" >/dev/null 2>&1
k patch apiservice v1beta1.metrics.k8s.io --type=merge \
  -p "{\"spec\":{\"caBundle\":\"$(base64 -w0 "$check_work/wrong-ca.crt")\"}}" >/dev/null
expect ca_bundle_mismatch "wrong caBundle"
k patch apiservice v1beta1.metrics.k8s.io --type=merge -p "{\"spec\":{\"caBundle\":\"$good_bundle\"}}" >/dev/null
expect "" "caBundle restored"

# 2. The server's RBAC binding deleted.
k delete clusterrolebinding "backend:$name" >/dev/null
expect rbac_missing "ClusterRoleBinding backend:$name deleted"
"$c" rbac "$name" >>"$check_work/rbac.log" 2>&1
expect "" "RBAC restored"

# 3. The server stopped.
"$c" stop "$name" >/dev/null 2>&1
expect server_down "server stopped"
start_server || fatal "our server did not restart"
expect "" "server restarted"

# 4. A node whose kubelet address refuses connections: kwok serves every kubelet on 127.0.0.1
# only, so 127.0.0.2 at its port refuses.
k apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Node
metadata:
  name: doctor-unreachable
  annotations: {kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0"}
  labels: {kubernetes.io/hostname: doctor-unreachable, type: kwok}
status:
  addresses: [{type: InternalIP, address: 127.0.0.2}]
  allocatable: {cpu: "4", memory: 16Gi, pods: "110"}
  capacity: {cpu: "4", memory: 16Gi, pods: "110"}
YAML
expect kubelet_unreachable "node with an unreachable kubelet"
grep -q 'doctor-unreachable' "$check_work/doctor.json" && pass "the report names the node" ||
  fail "the report names the node"
k delete node doctor-unreachable >/dev/null
expect "" "node removed"

# 5. The server trusts another front-proxy CA than the one that signed kube-apiserver's proxy
# client certificate.
"$c" stop "$name" >/dev/null 2>&1
start_server --requestheader-client-ca-file="$check_work/wrong-ca.crt" ||
  fatal "our server did not restart with another front-proxy CA"
expect front_proxy_untrusted "server trusting another front-proxy CA"
"$c" stop "$name" >/dev/null 2>&1
start_server || fatal "our server did not restart"
expect "" "front-proxy CA restored"

check_finish
