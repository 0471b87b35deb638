#!/usr/bin/env bash
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
# Uses the running cluster if there is one (it then stops its backend cpp-metrics-server and
# replaces APIService v1beta1.metrics.k8s.io), else brings one up and tears it down at the end.
# Environment: CMS_SERVER (default build/cmd/cpp-metrics-server), CLUSTER_STATE_DIR (cluster.sh).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
c=$here/cluster.sh
server=${CMS_SERVER:-$repo/build/cmd/cpp-metrics-server}
name=cpp-metrics-server
api=v1beta1.metrics.k8s.io

fail() {
  echo "[certs] FAIL: $*" >&2
  exit 1
}
[ -x "$server" ] || fail "server binary $server not found (build it: cmake --build build --target cpp-metrics-server)"

tmp=$(mktemp -d)
brought_up=0
cleanup() {
  "$c" stop "$name" >/dev/null 2>&1 || true
  if [ "$brought_up" = 1 ]; then "$c" down; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
if ! "$c" env >/dev/null 2>&1; then
  brought_up=1
  "$c" up
fi
eval "$("$c" env)"
k() { "$KUBECTL" "$@"; }
pki=$CLUSTER_STATE_DIR/pki

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
wait_condition() { # WANT-STATUS PATTERN SECONDS
  local i got
  for ((i = 0; i < $3 * 2; i++)); do
    got=$(condition)
    if [[ "$got" == "$1"* ]] && grep -Eq "$2" <<<"$got"; then
      echo "ok: $api $got"
      return 0
    fi
    sleep 0.5
  done
  fail "$api: want $1 matching /$2/ within $3 s, have: $got"
}

echo "--- certificates"
# First certificate: signed by the cluster CA, because cluster.sh checks /readyz against it.
"$repo/certs/gen-certs.sh" --out "$tmp/first" --ca-cert "$pki/ca.crt" --ca-key "$pki/ca.key" \
  --extra-sans DNS:localhost,IP:127.0.0.1 >/dev/null
"$repo/certs/gen-certs.sh" --out "$tmp/own" --extra-sans DNS:localhost,IP:127.0.0.1 >/dev/null
"$repo/certs/gen-certs.sh" --out "$tmp/wrong" >/dev/null
swap_to "$tmp/first"

echo "--- server with the mounted files, RBAC of manifests/rbac.yaml"
# The server is ready once it holds node and pod metrics: it needs a running pod.
if [ -z "$(k get pods -A --field-selector=status.phase=Running -o name)" ]; then "$c" workload 1; fi
k apply -f "$repo/manifests/rbac.yaml" >/dev/null
"$c" stop "$name" >/dev/null 2>&1 || true
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$c" backend "$name" "$port" -- "$server" \
  '--secure-port={port}' --bind-address=127.0.0.1 \
  --tls-cert-file="$mount/tls.crt" --tls-private-key-file="$mount/tls.key" \
  '--kubeconfig={kubeconfig}' '--kubelet-certificate-authority={ca}' --kubelet-use-node-status-port \
  --kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname --metric-resolution=15s
pid=$(cat "$CLUSTER_STATE_DIR/pids/$name.pid")
[ "$(served_fingerprint)" = "$(fingerprint "$tmp/first/tls.crt")" ] || fail "first certificate not served"
echo "ok: serves the first certificate (pid $pid)"
"$c" register "$name" "$port" >/dev/null # Service + APIService, caBundle = cluster CA
wait_condition True . 60

echo "--- rotation to a new CA without restart"
cat "$pki/ca.crt" "$tmp/own/ca.crt" >"$tmp/both.crt"
sed "s/^  caBundle: .*/  caBundle: $(base64 -w0 "$tmp/both.crt")/" "$tmp/own/apiservice.yaml" >"$tmp/both.yaml"
apply_apiservice "$tmp/both.yaml"
wait_condition True . 60
swap_to "$tmp/own"
want=$(fingerprint "$tmp/own/tls.crt")
t0=$(date +%s)
for ((i = 0; i < 60; i++)); do
  [ "$(served_fingerprint)" = "$want" ] && break
  sleep 0.5
done
[ "$(served_fingerprint)" = "$want" ] || fail "new certificate not served after 30 s"
if [ "$(cat "$CLUSTER_STATE_DIR/pids/$name.pid")" != "$pid" ] || ! kill -0 "$pid"; then
  fail "server restarted"
fi
echo "ok: new certificate served after $(($(date +%s) - t0)) s, same process $pid"
k get --raw /apis/metrics.k8s.io/v1beta1/nodes >/dev/null || fail "aggregated route broken after rotation"

echo "--- gen-certs.sh APIService (caBundle = its CA only)"
apply_apiservice "$tmp/own/apiservice.yaml"
sleep 1
wait_condition True . 60
k get --raw /apis/metrics.k8s.io/v1beta1/nodes >/dev/null || fail "GET nodes through the aggregator"
echo "ok: /apis/metrics.k8s.io/v1beta1/nodes through the aggregator"

echo "--- wrong caBundle"
apply_apiservice "$tmp/wrong/apiservice.yaml"
wait_condition False 'FailedDiscoveryCheck.*x509' 90
if k get --raw /apis/metrics.k8s.io/v1beta1/nodes >/dev/null 2>&1; then
  fail "aggregator still routes with a wrong caBundle"
fi
echo "ok: requests through the aggregator fail"

echo "--- restored"
apply_apiservice "$tmp/own/apiservice.yaml"
wait_condition True . 90
echo "[certs] PASS"
