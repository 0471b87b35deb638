#!/usr/bin/env bash
# Functions are called through wait_until/assert, after code that may exit:
# shellcheck disable=SC2317
# Real-cluster end-to-end suite: a local control plane (cluster.sh: etcd, kube-apiserver with the
# aggregation layer, controller-manager with short HPA periods, scheduler, kwok nodes whose pods
# report the CPU/memory of their usage annotations), our server run as a user would run it, and
# the reference metrics-server beside it on another port. Prints one PASS:/FAIL: line per
# assertion and ends with "N passed, M failed"; exits non-zero on any failure. Always tears the
# cluster down and checks that no process or port is left behind.
#
# Usage: test/cluster/e2e.sh SERVER_BINARY KUBE_PROBE
#   KUBE_PROBE is build/test/kube/kube_probe: the kube library (caches, TokenReview,
#   SubjectAccessReview) checked against the same cluster.
#
# Our server runs:
#   - as system:serviceaccount:kube-system:cpp-metrics-server with exactly manifests/rbac.yaml;
#   - with a serving certificate signed by the cluster CA with SAN
#     cpp-metrics-server.kube-system.svc, registered by manifests/apiservice.yaml with caBundle
#     (instead of insecureSkipTLSVerify) and an ExternalName Service pointing at localhost.
#
# Environment:
#   E2E_NODES        kwok nodes (default 2)
#   E2E_MANY_PODS    pods created to make the all-pods list a streamed one (default 1000)
#   E2E_RESOLUTION   --metric-resolution of both servers, seconds (default 15)
#   E2E_TIMEOUT      bound of each wait, seconds (default 180)
#   E2E_KEEP=1       leave the cluster up at the end (prints how to tear it down)
#   E2E_KEEP_LOGS=1  keep the component logs and kubectl outputs (always kept on failure)
#   K8S_VERSION etc. as build-binaries.sh (e.g. K8S_VERSION=1.35)
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
c=$here/cluster.sh
check=$here/e2e_check.py
server=${1:-}
probe=${2:-}
nodes=${E2E_NODES:-2}
resolution=${E2E_RESOLUTION:-15}
limit=${E2E_TIMEOUT:-180}
name=cpp-metrics-server
ref=metrics-server-ref

many=${E2E_MANY_PODS:-1000}
export CLUSTER_NODES=$nodes CLUSTER_TIMEOUT=$limit
# Room on each node for its share of the many pods besides the others.
export CLUSTER_NODE_PODS=${CLUSTER_NODE_PODS:-$(((many + nodes - 1) / nodes + 110))}
export HPA_SYNC_PERIOD=${HPA_SYNC_PERIOD:-5s}
export CHECK_KEEP=${E2E_KEEP:-0} CHECK_KEEP_LOGS=${E2E_KEEP_LOGS:-0}

check_name=e2e
# shellcheck source-path=SCRIPTDIR source=check-lib.sh
. "$here/check-lib.sh"
work=$check_work
now_ms() { date +%s%3N; }
secs_since() { python3 -c "import sys; print('%.1f' % ((int(sys.argv[2]) - int(sys.argv[1])) / 1000))" "$1" "$(now_ms)"; }
free_port() { "$c" free-port; }

# --- binaries and cluster ----------------------------------------------------------------------

[ -n "$server" ] || fatal "usage: $0 SERVER_BINARY"
[ -x "$server" ] || fatal "server binary $server is not an executable file"
server=$(readlink -f "$server")
[ -n "$probe" ] || fatal "usage: $0 SERVER_BINARY KUBE_PROBE"
[ -x "$probe" ] || fatal "kube_probe binary $probe is not an executable file"

log "building/checking binaries (test/cluster/build-binaries.sh; cached after the first build)"
if ! "$here/build-binaries.sh" >"$work/build-binaries.log" 2>&1; then
  tail -n 30 "$work/build-binaries.log"
  fatal "binaries: test/cluster/build-binaries.sh failed (log above; needs Go and the Go module proxy on the first build)"
fi
versions=$(sed -n 's/^\(KUBE_APISERVER\|KWOK\|METRICS_SERVER\|ETCD\)=.*\/\([^/]*\)\/[^/]*$/\2/p' "$work/build-binaries.log" | tr '\n' ' ')
log "binaries: $versions"

check_cluster_up --own-cluster
k() { "$KUBECTL" "$@"; }
pki=$CLUSTER_STATE_DIR/pki

# Workloads: default/demo (1 container, 250m/64Mi) and e2e-multi/multi (2 containers, 100m/32Mi
# each), spread over the nodes so that every node has pods.
"$c" workload $((nodes * 2)) >>"$work/up.log" 2>&1 || fatal "workload default/demo did not start"
k create namespace e2e-multi >/dev/null
k apply -f - >/dev/null <<EOF || fatal "could not create e2e-multi/multi"
apiVersion: apps/v1
kind: Deployment
metadata: {name: multi, namespace: e2e-multi}
spec:
  replicas: 2
  selector: {matchLabels: {app: multi}}
  template:
    metadata:
      labels: {app: multi}
      annotations: {kwok.x-k8s.io/usage-cpu: 100m, kwok.x-k8s.io/usage-memory: 32Mi}
    spec:
      containers:
      - {name: app, image: fake}
      - {name: sidecar, image: fake}
EOF
multi_running() { [ "$(k get pods -n e2e-multi --field-selector=status.phase=Running -o name | wc -l)" -ge 2 ]; }
wait_until "$limit" multi_running || fatal "e2e-multi/multi pods not Running within ${limit}s"
k label node kwok-node-0 e2e/selected=yes >/dev/null
expect=$work/expect.json
if ! { k get pods -A -o json >"$work/pods.json" && python3 "$check" expect "$work/pods.json" >"$expect"; }; then
  fatal "could not compute the expected usage"
fi

# --- our server, as a user runs it ---------------------------------------------------------------

k apply -f "$repo/manifests/rbac.yaml" >/dev/null || fatal "kubectl apply manifests/rbac.yaml failed"
port=$(free_port)
# The Service of manifests/service.yaml selects pods; here the server is a local process, so the
# Service is an ExternalName to localhost. The APIService is manifests/apiservice.yaml with
# caBundle instead of insecureSkipTLSVerify. Applied first, as `kubectl apply -f manifests/` would
# before the server's pod runs: the clock starts when the server process does.
{
  cat <<EOF
apiVersion: v1
kind: Service
metadata: {name: $name, namespace: kube-system}
spec: {type: ExternalName, externalName: localhost}
---
EOF
  sed -e "s|^  insecureSkipTLSVerify: true|  caBundle: $(base64 -w0 "$pki/ca.crt")|" \
    -e "s|^    port: 443|    port: $port|" "$repo/manifests/apiservice.yaml"
} >"$work/registration.yaml"
k apply -f "$work/registration.yaml" >/dev/null || fatal "could not apply the APIService"
t_start=$(now_ms)
(
  "$c" backend "$name" "$port" -- "$server" '--secure-port={port}' --bind-address=127.0.0.1 \
    '--tls-cert-file={cert}' '--tls-private-key-file={key}' '--kubeconfig={kubeconfig}' \
    --kubelet-insecure-tls --kubelet-use-node-status-port \
    --kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname \
    --metric-resolution="${resolution}s" >"$work/backend.log" 2>&1
  echo "$? $(now_ms)" >"$work/backend.done"
) &
backend_waiter=$!
available() {
  [ "$(k get apiservice v1beta1.metrics.k8s.io -o jsonpath='{.status.conditions[?(@.type=="Available")].status}')" = True ]
}
if wait_until "$limit" available; then
  t_avail=$(secs_since "$t_start")
else
  t_avail=never
fi
wait "$backend_waiter"
read -r backend_rc t_ready_ms <"$work/backend.done"
if [ "$backend_rc" != 0 ]; then
  cat "$work/backend.log"
  tail -n 20 "$CLUSTER_STATE_DIR/logs/$name.log"
  fatal "our server did not turn ready (log above)"
fi
t_ready=$(python3 -c "import sys; print('%.1f' % ((int(sys.argv[2]) - int(sys.argv[1])) / 1000))" "$t_start" "$t_ready_ms")
if [ "$t_avail" = never ]; then
  k get apiservice v1beta1.metrics.k8s.io -o jsonpath='{range .status.conditions[*]}{.type}={.status} {.reason}: {.message}{"\n"}{end}'
  fatal "APIService not Available within ${limit}s"
elif python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) <= float(sys.argv[2]) else 1)" "$t_avail" "$resolution"; then
  # The aggregator marks the APIService Available once our server answers discovery, which it
  # does from its start (before it has data); measured 5.5 s beside two CPU burners and the rest
  # of the suite (test/README.md, "Time bounds"). /readyz needs two samples of the kubelets,
  # which kwok moves on its own clock, so that time is reported, not bounded.
  pass "APIService Available=True ${t_avail}s after the server started (/readyz ${t_ready}s), within one resolution (${resolution}s); caBundle, SAN $name.kube-system.svc"
else
  fail "APIService Available=True only ${t_avail}s after the server started (/readyz ${t_ready}s), more than one resolution (${resolution}s)"
fi

# First kubectl top data (all pods listed, values settled within 10 %).
top_pods_ok() {
  k top pods -A --no-headers >"$work/top-pods.txt" 2>&1 && python3 "$check" top-pods "$expect" "$work/top-pods.txt"
}
first_top() { k top pods -A --no-headers 2>/dev/null | grep -q .; }
wait_until "$limit" first_top && t_first_top=$(secs_since "$t_start") || t_first_top=never
wait_until "$limit" top_pods_ok && t_settled=$(secs_since "$t_start") || t_settled=never
log "server start -> ready ${t_ready}s, Available ${t_avail}s, first kubectl top data ${t_first_top}s, all values within 10% ${t_settled}s"

# --- kubectl top -----------------------------------------------------------------------------------

k top nodes --no-headers >"$work/top-nodes.txt" 2>&1
assert "kubectl top nodes lists every kwok node, CPU and memory within 10% of the pods' annotations" \
  python3 "$check" top-nodes "$expect" "$work/top-nodes.txt" "$(k get nodes -o jsonpath='{.items[*].metadata.name}' | tr ' ' ,)"
k top pods -A --no-headers >"$work/top-pods.txt" 2>&1
assert "kubectl top pods -A lists every pod, CPU and memory within 10% of the annotations" \
  python3 "$check" top-pods "$expect" "$work/top-pods.txt"
k top pods -A -l app=demo --no-headers >"$work/top-pods-l.txt" 2>&1
assert "kubectl top pods -A -l app=demo lists exactly the demo pods" \
  python3 "$check" top-pods "$expect" "$work/top-pods-l.txt" app=demo
k top pods -n e2e-multi -l 'app in (multi)' --no-headers 2>&1 | sed 's/^/e2e-multi /' >"$work/top-pods-set.txt"
assert "kubectl top pods -n e2e-multi -l 'app in (multi)' (set-based selector)" \
  python3 "$check" top-pods "$expect" "$work/top-pods-set.txt" ns=e2e-multi
k top nodes -l e2e/selected=yes --no-headers >"$work/top-nodes-l.txt" 2>&1
assert "kubectl top nodes -l e2e/selected=yes lists exactly kwok-node-0" \
  python3 "$check" top-nodes "$expect" "$work/top-nodes-l.txt" kwok-node-0
k top pods -n e2e-multi --containers --no-headers >"$work/top-containers.txt" 2>&1
assert "kubectl top pods --containers lists each container with its own usage" \
  python3 "$check" top-containers "$expect" "$work/top-containers.txt" e2e-multi

# --- kubectl get, Table, protobuf vs JSON -----------------------------------------------------------

k get pods.metrics.k8s.io -A >"$work/get-pods.txt" 2>&1
assert "kubectl get pods.metrics.k8s.io -A prints the Table columns" \
  python3 "$check" table "$work/get-pods.txt" "$expect" NAMESPACE NAME CPU MEMORY WINDOW
k get nodes.metrics.k8s.io >"$work/get-nodes.txt" 2>&1
if [ "$(head -n1 "$work/get-nodes.txt" | xargs)" = "NAME CPU MEMORY WINDOW" ] &&
  [ "$(grep -c '^kwok-node-' "$work/get-nodes.txt")" -eq "$nodes" ]; then
  pass "kubectl get nodes.metrics.k8s.io prints NAME CPU MEMORY WINDOW for $nodes nodes"
else
  fail "kubectl get nodes.metrics.k8s.io: $(head -c 400 "$work/get-nodes.txt" | tr '\n' '|')"
fi

api=https://127.0.0.1:$CLUSTER_APISERVER_PORT
admin_curl() { curl -sS --max-time 20 --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" "$@"; }
proto_vs_json() { # PATH
  local i out rc
  for ((i = 0; i < 5; i++)); do
    admin_curl -H 'Accept: application/json' "$api$1" -o "$work/list.json" || return 1
    admin_curl -H 'Accept: application/vnd.kubernetes.protobuf' "$api$1" -o "$work/list.pb" || return 1
    out=$(python3 "$check" proto-json "$work/list.json" "$work/list.pb")
    rc=$?
    [ "$rc" = 2 ] || {
      echo "$out"
      return "$rc"
    }
    sleep 1
  done
  echo "JSON and protobuf answers came from different scrapes 5 times in a row"
  return 1
}
assert "protobuf and JSON answers agree (pods, through the aggregator)" \
  proto_vs_json /apis/metrics.k8s.io/v1beta1/pods
assert "protobuf and JSON answers agree (nodes, through the aggregator)" \
  proto_vs_json /apis/metrics.k8s.io/v1beta1/nodes

# --- authorization through the aggregator ----------------------------------------------------------

user_cert() { # USER
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$1" -keyout "$work/$1.key" -out "$work/$1.csr" 2>/dev/null &&
    openssl x509 -req -in "$work/$1.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
      -days 1 -out "$work/$1.crt" 2>/dev/null
}
status_as() { # USER PATH -> HTTP status; body in $work/USER.body
  curl -sS --max-time 20 -o "$work/$1.body" -w '%{http_code}' --cacert "$pki/ca.crt" \
    --cert "$work/$1.crt" --key "$work/$1.key" "$api$2"
}
if ! { user_cert e2e-nobody && user_cert e2e-reader && user_cert e2e-viewer; }; then
  fatal "could not sign user certificates"
fi
k create clusterrolebinding e2e-reader --clusterrole=system:cpp-metrics-server-aggregated-reader --user=e2e-reader >/dev/null
k create rolebinding e2e-viewer -n default --clusterrole=view --user=e2e-viewer >/dev/null
authz() {
  local s1 s2 s3 s4 s5 s6 n
  s1=$(status_as e2e-nobody /apis/metrics.k8s.io/v1beta1/namespaces/default/pods)
  s2=$(status_as e2e-nobody /apis/metrics.k8s.io/v1beta1/nodes)
  s3=$(status_as e2e-reader /apis/metrics.k8s.io/v1beta1/pods)
  n=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["items"]))' "$work/e2e-reader.body" 2>/dev/null || echo 0)
  s4=$(status_as e2e-reader /apis/metrics.k8s.io/v1beta1/nodes)
  s5=$(status_as e2e-viewer /apis/metrics.k8s.io/v1beta1/namespaces/default/pods)
  s6=$(status_as e2e-viewer /apis/metrics.k8s.io/v1beta1/namespaces/e2e-multi/pods)
  echo "no RBAC: pods $s1 nodes $s2; aggregated-reader: all pods $s3 ($n items) nodes $s4; view in default: default $s5, e2e-multi $s6"
  [ "$s1 $s2 $s3 $s4 $s5 $s6" = "403 403 200 200 200 403" ] && [ "$n" -gt 0 ]
}
# The view role picks up the aggregated reader asynchronously (clusterrole aggregation).
wait_until 30 authz
assert "a user without RBAC gets 403 through the aggregator, the aggregated-reader role gets data" authz

# --- the kube library against the same cluster (kube_probe) ---------------------------------------

# kube_probe runs with our server's credentials (system:serviceaccount:kube-system:$name, whose
# only RBAC is manifests/rbac.yaml). Caches: the node and Running-pod caches equal what kubectl
# lists (names and labels), and the authentication ConfigMap is read. The workloads are settled
# here (nothing is created or deleted until the HPA section).
probe_kubeconfig=$CLUSTER_STATE_DIR/$name.kubeconfig
probe_caches() {
  k get nodes -o json >"$work/kubectl-nodes.json" &&
    k get pods -A --field-selector=status.phase=Running -o json >"$work/kubectl-pods.json" &&
    "$probe" --kubeconfig="$probe_kubeconfig" --sync-timeout=30s >"$work/probe-caches.txt" 2>&1 &&
    python3 "$check" caches "$work/probe-caches.txt" "$work/kubectl-nodes.json" "$work/kubectl-pods.json"
}
assert "kube library (as $name): node and Running-pod caches mirror kubectl get nodes / get pods -A (names, labels); authentication ConfigMap read" \
  probe_caches
# TokenReview with a real ServiceAccount token, then with a forged one.
probe_token() { # TOKEN USER GROUPS
  "$probe" --kubeconfig="$probe_kubeconfig" --token="$1" >"$work/probe-token.txt" 2>&1
  python3 "$check" token "$work/probe-token.txt" "$2" "$3"
}
if k create serviceaccount e2e-probe -n default >/dev/null && sa_token=$(k create token e2e-probe -n default --duration=10m); then
  assert "kube library: TokenReview of a real ServiceAccount token returns its user and groups" \
    probe_token "$sa_token" system:serviceaccount:default:e2e-probe \
    system:serviceaccounts,system:serviceaccounts:default,system:authenticated
  # Same header and claims, signature of another token's length but wrong bytes.
  bad_token=${sa_token%.*}.$(printf '%s' "${sa_token##*.}" | tr 'A-Za-z' 'B-ZAb-za')
  assert "kube library: TokenReview rejects a token with a forged signature" \
    probe_token "$bad_token" "<rejected>" ""
else
  fail "kube library: could not create ServiceAccount default/e2e-probe or its token"
fi
# SubjectAccessReview (list pods.metrics.k8s.io in default): the aggregated reader is allowed,
# a user with no RBAC is denied.
probe_sar() { # USER WANT
  local out
  out=$("$probe" --kubeconfig="$probe_kubeconfig" --sar-user="$1" 2>&1)
  echo "$1: $(grep -E '^(sar_allowed|sar_reason|sar_error):' <<<"$out" | tr '\n' ' ')"
  grep -qx "sar_allowed: $2" <<<"$out"
}
assert "kube library: SubjectAccessReview allows e2e-reader (aggregated-reader role) to list pods.metrics.k8s.io" \
  probe_sar e2e-reader true
assert "kube library: SubjectAccessReview denies e2e-nobody (no RBAC)" probe_sar e2e-nobody false

# --- metrics-server side by side -------------------------------------------------------------------

ref_port=$(free_port)
if "$c" metrics-server "$ref" "$ref_port" >"$work/ref.log" 2>&1; then
  ref_pods_ok() {
    "$c" query "$ref" /apis/metrics.k8s.io/v1beta1/pods >"$work/ref-pods.json" &&
      "$c" query "$name" /apis/metrics.k8s.io/v1beta1/pods >"$work/our-pods.json" &&
      python3 "$check" compare "$work/our-pods.json" "$work/ref-pods.json" pods
  }
  wait_until "$limit" ref_pods_ok
  assert "metrics-server serves the same pods with values within 10%" ref_pods_ok
  ref_nodes_ok() {
    "$c" query "$ref" /apis/metrics.k8s.io/v1beta1/nodes >"$work/ref-nodes.json" &&
      "$c" query "$name" /apis/metrics.k8s.io/v1beta1/nodes >"$work/our-nodes.json" &&
      python3 "$check" compare "$work/our-nodes.json" "$work/ref-nodes.json" nodes
  }
  assert "metrics-server serves the same nodes with values within 10%" ref_nodes_ok
  "$c" stop "$ref" >>"$work/ref.log" 2>&1
else
  tail -n 20 "$work/ref.log"
  fail "metrics-server did not turn ready on port $ref_port (log above)"
fi

# --- HPA, reading only our server ----------------------------------------------------------------

# One pod requesting 500m and using 100m (20 % of the request; target 50 %). At 800m (160 %) the
# HPA wants ceil(160/50) = 4 replicas (max 4); at 50m on every pod (10 %) it wants 1.
k create namespace e2e-hpa >/dev/null
k apply -f - >/dev/null <<EOF || fatal "could not create the HPA workload"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: e2e-hpa}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web}
      annotations: {kwok.x-k8s.io/usage-cpu: 100m, kwok.x-k8s.io/usage-memory: 64Mi}
    spec:
      containers:
      - name: app
        image: fake
        resources: {requests: {cpu: 500m, memory: 128Mi}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web, namespace: e2e-hpa}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 1
  maxReplicas: 4
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
  behavior:
    scaleUp: {stabilizationWindowSeconds: 0, policies: [{type: Percent, value: 300, periodSeconds: 5}]}
    scaleDown: {stabilizationWindowSeconds: 15, policies: [{type: Percent, value: 100, periodSeconds: 5}]}
EOF
hpa_reads() { # the HPA has computed a utilization from metrics.k8s.io
  [ -n "$(k get hpa web -n e2e-hpa -o jsonpath='{.status.currentMetrics[0].resource.current.averageUtilization}')" ]
}
replicas() { k get deployment web -n e2e-hpa -o jsonpath='{.spec.replicas}'; }
hpa_state() {
  k get hpa web -n e2e-hpa -o jsonpath='utilization={.status.currentMetrics[0].resource.current.averageUtilization}% replicas={.status.currentReplicas}->{.status.desiredReplicas} {range .status.conditions[*]}{.type}={.status}({.reason}) {end}'
}
if wait_until "$limit" hpa_reads; then
  log "HPA reads our server: $(hpa_state)"
  t_hpa=$(date +%s)
  k annotate pod -n e2e-hpa -l app=web kwok.x-k8s.io/usage-cpu=800m --overwrite >/dev/null
  up4() { [ "$(replicas)" -ge 4 ]; }
  if wait_until "$limit" up4; then
    pass "HPA scales web 1 -> $(replicas) $(($(date +%s) - t_hpa))s after the usage annotation rose to 800m (160% of request): $(hpa_state)"
  else
    fail "HPA did not scale up within ${limit}s: replicas $(replicas); $(hpa_state)"
  fi
  t_hpa=$(date +%s)
  # Every pod (old and new) falls to 50m; new pods may still be starting, so annotate until the
  # HPA is back at 1.
  down1() {
    k annotate pod -n e2e-hpa -l app=web kwok.x-k8s.io/usage-cpu=50m --overwrite >/dev/null
    [ "$(replicas)" -eq 1 ]
  }
  if wait_until "$limit" down1; then
    pass "HPA scales web back to 1 $(($(date +%s) - t_hpa))s after the usage annotation fell to 50m (stabilization 15s): $(hpa_state)"
  else
    fail "HPA did not scale down within ${limit}s: replicas $(replicas); $(hpa_state)"
  fi
  apiservice_svc=$(k get apiservice v1beta1.metrics.k8s.io -o jsonpath='{.spec.service.name}:{.spec.service.port}')
  if [ "$apiservice_svc" = "$name:$port" ]; then
    pass "the HPA read only our server (metrics.k8s.io -> $apiservice_svc; metrics-server was never registered)"
  else
    fail "metrics.k8s.io pointed at $apiservice_svc during the HPA test"
  fi
else
  fail "HPA never computed a CPU utilization within ${limit}s: $(hpa_state)"
  fail "HPA scale-down not tested: no utilization"
fi

# --- a list large enough to be streamed, through the aggregator ----------------------------------

# A JSON or protobuf list of 1,000 objects or more is written as it is encoded, after a sizing pass
# that gives its Content-Length (kStreamedListItems, apiserver/metrics_api.h). 1,000 more pods,
# created directly on the kwok nodes (nodeName set, as the scheduler would bind them; the nodes
# have room for them: CLUSTER_NODE_PODS), make the all-pods list one; kubectl top, the protobuf
# and JSON answers and the Content-Length are checked on it as on the small lists above.
create_pods() { # NAMESPACE COUNT NODE...
  python3 - "$api" "$pki" "$@" <<'PY'
import concurrent.futures, http.client, json, ssl, sys, threading
api, pki, ns, count, nodes = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5:]
host, port = api.split("//")[1].rsplit(":", 1)
ctx = ssl.create_default_context(cafile=pki + "/ca.crt")
ctx.load_cert_chain(pki + "/admin.crt", pki + "/admin.key")
local = threading.local()
def create(i):
    if not hasattr(local, "conn"):
        local.conn = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=30)
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "many-%04d" % i, "namespace": ns, "labels": {"app": "many"},
                        "annotations": {"kwok.x-k8s.io/usage-cpu": "%dm" % (100 + i % 400),
                                        "kwok.x-k8s.io/usage-memory": "%dMi" % (16 + i % 48)}},
           "spec": {"nodeName": nodes[i % len(nodes)], "containers": [{"name": "app", "image": "fake"}]}}
    local.conn.request("POST", "/api/v1/namespaces/%s/pods" % ns, json.dumps(pod),
                       {"Content-Type": "application/json"})
    r = local.conn.getresponse()
    body = r.read()
    if r.status != 201:
        raise RuntimeError("pod %d: HTTP %d %s" % (i, r.status, body[:200]))
with concurrent.futures.ThreadPoolExecutor(4) as pool:
    list(pool.map(create, range(count)))
print("created %d pods in %s" % (count, ns))
PY
}
many_running() {
  [ "$(k get pods -n e2e-many --field-selector=status.phase=Running -o name | wc -l)" -ge "$many" ]
}
t_many=$(now_ms)
# shellcheck disable=SC2046 # the node names are words
if k create namespace e2e-many >/dev/null &&
  create_pods e2e-many "$many" $(k get nodes -o jsonpath='{.items[*].metadata.name}') >"$work/many.log" 2>&1 &&
  wait_until "$limit" many_running; then
  log "$many pods in e2e-many Running $(secs_since "$t_many")s after their creation began"
  k get pods -A -o json >"$work/pods-many.json" &&
    python3 "$check" expect "$work/pods-many.json" >"$work/expect-many.json" ||
    fail "could not compute the expected usage with e2e-many"
  top_many_ok() {
    k top pods -A --no-headers >"$work/top-pods-many.txt" 2>&1 &&
      python3 "$check" top-pods "$work/expect-many.json" "$work/top-pods-many.txt"
  }
  wait_until "$limit" top_many_ok
  assert "kubectl top pods -A lists every pod ($(wc -l <"$work/top-pods-many.txt") rows: a streamed list), CPU and memory within 10% of the annotations" \
    top_many_ok
  assert "protobuf and JSON answers agree (a streamed list of every pod, through the aggregator)" \
    proto_vs_json /apis/metrics.k8s.io/v1beta1/pods
  # Directly from our server: a streamed list carries its exact length, not chunked encoding.
  content_length() {
    local n
    admin_curl -D "$work/many.headers" -o "$work/many-direct.json" \
      "https://127.0.0.1:$port/apis/metrics.k8s.io/v1beta1/pods" || return 1
    n=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["items"]))' "$work/many-direct.json") || return 1
    echo "items $n; $(grep -i -E '^(content-length|transfer-encoding):' "$work/many.headers" | tr -d '\r' | tr '\n' ' ')body $(stat -c %s "$work/many-direct.json") bytes"
    [ "$n" -ge "$many" ] && grep -qix "content-length: $(stat -c %s "$work/many-direct.json")"$'\r' "$work/many.headers" &&
      ! grep -qi '^transfer-encoding:' "$work/many.headers"
  }
  assert "our server answers the streamed list with a Content-Length equal to the body it sends" content_length
else
  tail -n 5 "$work/many.log"
  fail "$many pods in e2e-many not Running within ${limit}s ($(k get pods -n e2e-many --field-selector=status.phase=Running -o name | wc -l) are)"
fi

# Our server is still healthy after all of the above and logged no errors about the cluster.
if "$c" query "$name" /readyz | grep -q ok; then
  pass "our server still ready at the end (log: $(wc -l <"$CLUSTER_STATE_DIR/logs/$name.log") lines)"
else
  fail "our server not ready at the end: $(tail -n 5 "$CLUSTER_STATE_DIR/logs/$name.log" | tr '\n' '|')"
fi

check_finish
