#!/usr/bin/env bash
# Functions are called through assert/wait loops, after code that may exit:
# shellcheck disable=SC2317
# Checks certs/gen-certs.sh and certificate rotation against a real kube-apiserver's aggregator
# (test/cluster/cluster.sh), with the server running as kube-system/cpp-metrics-server under the
# RBAC of manifests/rbac.yaml:
#   1. the server serves a certificate from files laid out as the kubelet mounts a Secret
#      (tls.crt -> ..data/tls.crt, ..data -> a timestamped directory);
#   2. rotation to a certificate from a new CA made by gen-certs.sh: caBundle first carries both
#      CAs, then the mounted files are swapped atomically; the server serves the new certificate
#      without restarting (same pid), the APIService stays Available;
#   3. gen-certs.sh's own APIService (caBundle = its CA only) becomes Available and
#      /apis/metrics.k8s.io/v1beta1/nodes answers through the aggregator;
#   4. a wrong caBundle (another CA) is reported: Available=False, FailedDiscoveryCheck, x509;
#   5. the correct APIService is restored and Available again.
# Prints one PASS:/FAIL: line per assertion and "N passed, M failed"; exits non-zero on any
# failure (the steps depend on each other: the first failure ends the run).
#
# Usage: test/cluster/check-certs.sh [--own-cluster]
#   --own-cluster: a new cluster in a temp state dir, torn down (and checked) at the end; as CTest
#   runs it. Without: the running cluster (cluster.sh env) if there is one (its backend
#   cpp-metrics-server is then stopped and APIService v1beta1.metrics.k8s.io replaced), else one
#   brought up and torn down at the end.
# Environment: CMS_SERVER (default build/cmd/cpp-metrics-server), CLUSTER_STATE_DIR (cluster.sh).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
c=$here/cluster.sh
server=${CMS_SERVER:-$repo/build/cmd/cpp-metrics-server}
name=cpp-metrics-server
api=v1beta1.metrics.k8s.io
# shellcheck disable=SC2034 # read by check-lib.sh
check_name=certs
# shellcheck source-path=SCRIPTDIR source=check-lib.sh
. "$here/check-lib.sh"
check_cleanup() { "$c" stop "$name" >/dev/null 2>&1; }
[ -x "$server" ] || fatal "server binary $server not found (build it: cmake --build build --target cpp-metrics-server)"
check_cluster_up "${1:-}"
k() { "$KUBECTL" "$@"; }
pki=$CLUSTER_STATE_DIR/pki
tmp=$check_work/certs

# Secret-volume layout; swap_to DIR replaces the files the way the kubelet's atomic writer does.
mount=$tmp/mount
mkdir -p "$mount"
swap_to() {
  local gen
  gen=$mount/..$(date +%s%N)
  mkdir "$gen"
  cp "$1/tls.crt" "$1/tls.key" "$1/ca.crt" "$gen/"
  ln -sfn "$(basename "$gen")" "$mount/..data_tmp"
  mv -T "$mount/..data_tmp" "$mount/..data"
  for f in tls.crt tls.key ca.crt; do [ -L "$mount/$f" ] || ln -s "..data/$f" "$mount/$f"; done
}
served_fingerprint() {
  openssl s_client -connect "127.0.0.1:$port" -servername "$name.kube-system.svc" </dev/null 2>/dev/null |
    openssl x509 -noout -fingerprint -sha256 2>/dev/null
}
fingerprint() { openssl x509 -in "$1" -noout -fingerprint -sha256; }
condition() { # prints status reason message of Available
  k get apiservice "$api" \
    -o jsonpath='{range .status.conditions[?(@.type=="Available")]}{.status} {.reason} {.message}{end}'
}
# apply_apiservice FILE: gen-certs.sh's APIService, pointed at the backend's port (the local
# cluster reaches backends through an ExternalName Service, not port 443).
apply_apiservice() {
  sed "s/^    port: 443$/    port: $port/" "$1" | k apply -f - >/dev/null
}
wait_condition() { # WANT-STATUS PATTERN SECONDS WHAT
  local i got
  for ((i = 0; i < $3 * 2; i++)); do
    got=$(condition)
    if [[ "$got" == "$1"* ]] && grep -Eq "$2" <<<"$got"; then
      pass "$4: $api Available=$got"
      return 0
    fi
    sleep 0.5
  done
  fatal "$4: $api: want Available=$1 matching /$2/ within $3 s, have: $got"
}

echo "--- certificates"
# First certificate: signed by the cluster CA, because cluster.sh checks /readyz against it.
gen_all() {
  "$repo/certs/gen-certs.sh" --out "$tmp/first" --ca-cert "$pki/ca.crt" --ca-key "$pki/ca.key" \
    --extra-sans DNS:localhost,IP:127.0.0.1 &&
    "$repo/certs/gen-certs.sh" --out "$tmp/own" --extra-sans DNS:localhost,IP:127.0.0.1 &&
    "$repo/certs/gen-certs.sh" --out "$tmp/wrong" &&
    swap_to "$tmp/first"
}
mkdir -p "$tmp"
assert "gen-certs.sh: a certificate from the cluster CA, one from its own new CA, one from another CA" gen_all
[ "$check_failed" = 0 ] || check_finish

echo "--- server with the mounted files, RBAC of manifests/rbac.yaml"
# The server is ready once it holds node and pod metrics: it needs a running pod.
if [ -z "$(k get pods -A --field-selector=status.phase=Running -o name)" ]; then
  "$c" workload 1 >>"$check_work/up.log" 2>&1 || fatal "workload default/demo did not start"
fi
k apply -f "$repo/manifests/rbac.yaml" >/dev/null || fatal "kubectl apply manifests/rbac.yaml failed"
"$c" stop "$name" >/dev/null 2>&1 || true
port=$("$c" free-port)
"$c" backend "$name" "$port" -- "$server" \
  '--secure-port={port}' --bind-address=127.0.0.1 \
  --tls-cert-file="$mount/tls.crt" --tls-private-key-file="$mount/tls.key" \
  '--kubeconfig={kubeconfig}' '--kubelet-certificate-authority={ca}' --kubelet-use-node-status-port \
  --kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname --metric-resolution=15s \
  >"$check_work/backend.log" 2>&1 || {
  tail -n 20 "$check_work/backend.log" "$CLUSTER_STATE_DIR/logs/$name.log"
  fatal "our server did not turn ready with the mounted certificate (log above)"
}
pid=$(cat "$CLUSTER_STATE_DIR/pids/$name.pid")
[ "$(served_fingerprint)" = "$(fingerprint "$tmp/first/tls.crt")" ] || fatal "first certificate not served"
pass "serves the first certificate from the mounted files (pid $pid)"
# Service + APIService, caBundle = cluster CA
"$c" register "$name" "$port" >"$check_work/register.log" 2>&1 || fatal "register: $(tail -n 3 "$check_work/register.log" | tr '\n' ' ')"
wait_condition True . 60 "caBundle = cluster CA"

echo "--- rotation to a new CA without restart"
cat "$pki/ca.crt" "$tmp/own/ca.crt" >"$tmp/both.crt"
sed "s/^  caBundle: .*/  caBundle: $(base64 -w0 "$tmp/both.crt")/" "$tmp/own/apiservice.yaml" >"$tmp/both.yaml"
apply_apiservice "$tmp/both.yaml"
wait_condition True . 60 "caBundle = cluster CA + new CA"
swap_to "$tmp/own"
want=$(fingerprint "$tmp/own/tls.crt")
t0=$(date +%s)
for ((i = 0; i < 60; i++)); do
  [ "$(served_fingerprint)" = "$want" ] && break
  sleep 0.5
done
[ "$(served_fingerprint)" = "$want" ] || fatal "new certificate not served after 30 s"
if [ "$(cat "$CLUSTER_STATE_DIR/pids/$name.pid")" != "$pid" ] || ! kill -0 "$pid"; then
  fatal "server restarted"
fi
pass "new certificate served after $(($(date +%s) - t0)) s, same process $pid"
if k get --raw /apis/metrics.k8s.io/v1beta1/nodes >/dev/null; then
  pass "GET /apis/metrics.k8s.io/v1beta1/nodes through the aggregator after rotation"
else
  fatal "aggregated route broken after rotation"
fi

echo "--- gen-certs.sh APIService (caBundle = its CA only)"
apply_apiservice "$tmp/own/apiservice.yaml"
sleep 1
wait_condition True . 60 "gen-certs.sh APIService (caBundle = its CA only)"
k get --raw /apis/metrics.k8s.io/v1beta1/nodes >/dev/null || fatal "GET nodes through the aggregator"
pass "GET /apis/metrics.k8s.io/v1beta1/nodes through the aggregator with gen-certs.sh's caBundle"

echo "--- wrong caBundle"
apply_apiservice "$tmp/wrong/apiservice.yaml"
wait_condition False 'FailedDiscoveryCheck.*x509' 90 "wrong caBundle (another CA) reported"
if k get --raw /apis/metrics.k8s.io/v1beta1/nodes >/dev/null 2>&1; then
  fail "aggregator still routes with a wrong caBundle"
else
  pass "with the wrong caBundle, requests through the aggregator fail"
fi

echo "--- restored"
apply_apiservice "$tmp/own/apiservice.yaml"
wait_condition True . 90 "correct caBundle restored"
check_finish
