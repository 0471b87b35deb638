#!/usr/bin/env bash
# End-to-end proof of the local route with the reference metrics-server as the aggregated backend:
#   1. cluster up (kwok nodes) and a Deployment whose pods are annotated with 250m CPU / 64Mi;
#   2. metrics-server behind kube-apiserver, APIService with insecureSkipTLSVerify;
#      `kubectl top nodes` and `kubectl top pods -A` must show the annotated values;
#   3. the same APIService switched to caBundle (serving cert with SAN <svc>.kube-system.svc);
#   4. a second metrics-server on another port, unregistered, queried directly (side by side);
#   5. under a wrong caBundle the aggregator refuses the backend; the right one restores it;
#   6. an HPA on the Deployment scales it up when the pods' usage annotation rises.
# Prints timings. Tears the cluster down on exit unless KEEP_CLUSTER=1.
# Needs the binaries of build-binaries.sh. Environment: as cluster.sh (CLUSTER_NODES, ...).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
c=$here/cluster.sh
replicas=${DEMO_REPLICAS:-3}
limit=${SMOKE_TIMEOUT:-120}

log() { echo "[smoke] $*" >&2; }
fail() {
  echo "[smoke] FAIL: $*" >&2
  exit 1
}
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

if [ "${KEEP_CLUSTER:-0}" != 1 ]; then trap '"$c" down' EXIT; fi

t0=$(date +%s)
"$c" up
t_up=$(($(date +%s) - t0))
eval "$("$c" env)"
k() { "$KUBECTL" "$@"; }

"$c" workload "$replicas"

# kubectl top pods for the demo pods prints "<pod> 250m 64Mi" once two scrapes have happened.
demo_top_ok() {
  local out
  out=$(k top pods -n default -l app=demo --no-headers 2>/dev/null) || return 1
  [ "$(echo "$out" | grep -cE '^demo-[^ ]+ +(24[89]|25[0-2])m +64Mi *$')" -eq "$replicas" ]
}
nodes_top_ok() {
  [ "$(k top nodes --no-headers 2>/dev/null | grep -c '^kwok-node-')" -eq "${CLUSTER_NODES:-2}" ]
}
# wait_until DESCRIPTION COMMAND...: bounded by $limit seconds.
wait_until() {
  local what=$1 start
  shift
  start=$(date +%s)
  until "$@"; do
    (($(date +%s) - start < limit)) || fail "timed out after ${limit}s: $what"
    sleep 1
  done
  log "$what after $(($(date +%s) - start))s"
  echo $(($(date +%s) - start))
}

port=$(free_port)
t1=$(date +%s)
"$c" metrics-server metrics-server "$port"
t_ms_ready=$(($(date +%s) - t1))
t2=$(date +%s)
"$c" register metrics-server "$port" --insecure
t_avail_insecure=$(($(date +%s) - t2))
t_top_insecure=$(wait_until "kubectl top (insecureSkipTLSVerify) shows the annotated usage" demo_top_ok)
wait_until "kubectl top nodes lists every kwok node" nodes_top_ok >/dev/null
echo "--- kubectl top nodes (insecureSkipTLSVerify)"
k top nodes
echo "--- kubectl top pods -A (insecureSkipTLSVerify)"
k top pods -A

t3=$(date +%s)
"$c" register metrics-server "$port"
t_avail_ca=$(($(date +%s) - t3))
ca=$(k get apiservice v1beta1.metrics.k8s.io -o jsonpath='{.spec.caBundle}')
[ -n "$ca" ] || fail "APIService has no caBundle after re-registration"
wait_until "kubectl top (caBundle) shows the annotated usage" demo_top_ok >/dev/null
echo "--- kubectl top pods -A (caBundle, SAN metrics-server.kube-system.svc)"
k top pods -A

ref_port=$(free_port)
"$c" metrics-server metrics-server-ref "$ref_port"
echo "--- reference metrics-server on :$ref_port, queried directly"
nodes_json=$("$c" query metrics-server-ref /apis/metrics.k8s.io/v1beta1/nodes)
ref_nodes=$(echo "$nodes_json" | python3 -c '
import json, sys
items = json.load(sys.stdin)["items"]
for i in items:
    print(i["metadata"]["name"], i["usage"]["cpu"], i["usage"]["memory"], i["window"], file=sys.stderr)
print(sum(1 for i in items if i["metadata"]["name"].startswith("kwok-node-")))')
[ "$ref_nodes" -eq "${CLUSTER_NODES:-2}" ] ||
  fail "reference metrics-server lists $ref_nodes nodes, want ${CLUSTER_NODES:-2}"

# The aggregator's proxy verifies the backend against caBundle: with the wrong CA, reads through
# kube-apiserver must fail. Its availability probe verifies too from Kubernetes 1.36 (the
# APIService turns Available=False); 1.35 probes without verification and stays Available.
proxy_refuses() { ! k get --raw /apis/metrics.k8s.io/v1beta1/nodes >/dev/null 2>&1; }
k patch apiservice v1beta1.metrics.k8s.io --type=merge \
  -p "{\"spec\":{\"caBundle\":\"$(base64 -w0 "$CLUSTER_STATE_DIR/pki/front-proxy-ca.crt")\"}}" >/dev/null
wait_until "proxy refuses the backend under a wrong caBundle" proxy_refuses >/dev/null
k get --raw /apis/metrics.k8s.io/v1beta1/nodes 2>&1 | head -n 2 || true
sleep 5
echo "APIService under the wrong caBundle (informational):"
k get apiservice v1beta1.metrics.k8s.io \
  -o jsonpath='{range .status.conditions[*]}{.type}={.status} {.reason}: {.message}{"\n"}{end}'
"$c" register metrics-server "$port"

# The HPA (kube-controller-manager, 5 s sync) reads the same API: 800m on a 500m request is 160 %
# of a 50 % target, so the Deployment must grow.
k autoscale deployment demo -n default --cpu=50% --min=1 --max=$((replicas * 2)) >/dev/null
k annotate pod -n default -l app=demo kwok.x-k8s.io/usage-cpu=800m --overwrite >/dev/null
scaled_up() { [ "$(k get deployment demo -n default -o jsonpath='{.spec.replicas}')" -gt "$replicas" ]; }
t_hpa=$(wait_until "HPA scales the Deployment up after the usage annotation changes" scaled_up)
k get hpa demo -n default

echo "--- timings"
printf 'cluster_up_seconds=%s\nmetrics_server_ready_seconds=%s\napiservice_available_insecure_seconds=%s\n' \
  "$t_up" "$t_ms_ready" "$t_avail_insecure"
printf 'top_shows_values_after_register_seconds=%s\napiservice_available_cabundle_seconds=%s\n' \
  "$t_top_insecure" "$t_avail_ca"
printf 'hpa_scale_up_after_annotation_seconds=%s\n' "$t_hpa"
log "PASS"
