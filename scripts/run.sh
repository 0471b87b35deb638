#!/usr/bin/env bash
# The project's main job: installs dependencies, builds the server, and runs it the way a user
# would, behind a local Kubernetes control plane (test/cluster/cluster.sh: etcd, kube-apiserver
# with the aggregation layer, controller-manager, scheduler, kwok nodes whose pods report the
# CPU/memory of their annotations). Registers it as metrics.k8s.io (manifests/rbac.yaml, an
# ExternalName Service to localhost, manifests/apiservice.yaml with caBundle), starts a small
# workload, prints `kubectl top nodes` and `kubectl top pods -A`, then keeps everything running
# until Ctrl-C, which tears it all down.
#
# Environment:
#   RUN_DETACH=1        exit once it is shown, leaving the cluster up (prints the `down` command)
#   CLUSTER_STATE_DIR   where the cluster lives (default ${TMPDIR:-/tmp}/cpp-metrics-server-run)
#   CLUSTER_NODES       kwok nodes (default 2); RUN_PODS pods of the demo workload (default 4)
#   K8S_VERSION         Kubernetes minor or version for the control plane (build-binaries.sh)
# The first run builds kube-apiserver, kubectl, kwok, ... from Go modules (Go >= 1.26 and the Go
# module proxy needed; ~25 min on two cores); later runs reuse the cache and are up in ~30 s.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
c=$repo/test/cluster/cluster.sh
export CLUSTER_STATE_DIR=${CLUSTER_STATE_DIR:-${TMPDIR:-/tmp}/cpp-metrics-server-run}
name=cpp-metrics-server

scripts/install-deps.sh
BUILD_TARGET=cpp-metrics-server scripts/build.sh
server=$repo/${BUILD_DIR:-build}/cmd/cpp-metrics-server
test/cluster/build-binaries.sh >/dev/null

if [ -e "$CLUSTER_STATE_DIR" ]; then
  echo "run: a cluster already exists in $CLUSTER_STATE_DIR; tear it down first:" >&2
  echo "  CLUSTER_STATE_DIR=$CLUSTER_STATE_DIR $c down" >&2
  exit 1
fi

sleeper=
down() {
  trap - EXIT INT TERM
  [ -z "$sleeper" ] || kill "$sleeper" 2>/dev/null || true
  echo
  echo "run: tearing down the cluster in $CLUSTER_STATE_DIR"
  "$c" down
}
trap down EXIT
trap 'exit 130' INT TERM

"$c" up
eval "$("$c" env)"
k() { "$KUBECTL" "$@"; }
"$c" workload "${RUN_PODS:-4}"

free_port() { "$c" free-port; }
port=$(free_port)
k apply -f manifests/rbac.yaml >/dev/null
"$c" backend "$name" "$port" -- "$server" '--secure-port={port}' --bind-address=127.0.0.1 \
  '--tls-cert-file={cert}' '--tls-private-key-file={key}' '--kubeconfig={kubeconfig}' \
  --kubelet-insecure-tls --kubelet-use-node-status-port \
  --kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname --metric-resolution=15s
{
  printf 'apiVersion: v1\nkind: Service\nmetadata: {name: %s, namespace: kube-system}\n' "$name"
  printf 'spec: {type: ExternalName, externalName: localhost}\n---\n'
  sed -e "s|^  insecureSkipTLSVerify: true|  caBundle: $(base64 -w0 "$CLUSTER_STATE_DIR/pki/ca.crt")|" \
    -e "s|^    port: 443|    port: $port|" manifests/apiservice.yaml
} | k apply -f - >/dev/null

echo "run: waiting for the first metrics (two scrapes, up to ~30 s)"
for ((i = 0; i < 120; i++)); do
  if [ "$(k top pods -A --no-headers 2>/dev/null | wc -l)" -ge "${RUN_PODS:-4}" ]; then break; fi
  sleep 1
done
echo
echo "\$ kubectl top nodes"
k top nodes
echo
echo "\$ kubectl top pods -A"
k top pods -A

cat <<EOF

The cluster and cpp-metrics-server (port $port, log $CLUSTER_STATE_DIR/logs/$name.log) are running.
In another shell:
  export KUBECONFIG=$KUBECONFIG
  alias kubectl=$KUBECTL
  kubectl top pods -A --containers
  kubectl get --raw /apis/metrics.k8s.io/v1beta1/nodes
  kubectl annotate pod -l app=demo kwok.x-k8s.io/usage-cpu=800m --overwrite   # then top again
EOF
if [ "${RUN_DETACH:-0}" = 1 ]; then
  trap - EXIT INT TERM
  echo "Left running. Tear down with:"
  echo "  CLUSTER_STATE_DIR=$CLUSTER_STATE_DIR $c down"
  exit 0
fi
echo "Press Ctrl-C to stop and tear everything down."
while :; do
  sleep 3600 &
  sleeper=$!
  wait "$sleeper" || true
done
