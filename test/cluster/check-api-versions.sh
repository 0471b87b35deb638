#!/usr/bin/env bash
# Functions are called through assert/wait_until, after code that may exit:
# shellcheck disable=SC2317
# Which metrics.k8s.io version each real consumer asks for, and that we serve it. Our server runs
# with --metrics-api-versions=v1beta1,v1 and both APIServices registered (v1 at the higher
# versionPriority, as manifests/v1/apiservice.yaml and the chart's apiService.v1.create); then,
# read from kube-apiserver's audit log (cluster.sh: metrics.k8s.io at level Metadata) and from our
# server's own request log (-v=2):
#   - kubectl of the control plane's release (1.37) `top nodes` / `top pods` asks for v1:
#     k8s.io/kubectl pkg/cmd/top/top.go (v0.37.2) lists supportedMetricsAPIVersions
#     {"v1", "v1beta1"} and takes the first of the group's discovered versions (highest
#     versionPriority first) that it knows; top_node.go / top_pod.go then use MetricsV1();
#   - the HPA controller of kube-controller-manager 1.37 asks for v1beta1:
#     k8s.io/kubernetes pkg/controller/podautoscaler/metrics/client.go (v1.37.2) imports
#     k8s.io/metrics/pkg/client/clientset/versioned/typed/metrics/v1beta1, and
#     cmd/kube-controller-manager/app/autoscaling.go builds it with the user agent suffix
#     /horizontal-pod-autoscaler;
#   - kubectl of the previous minor (1.36, KUBECTL_PREVIOUS of build-binaries.sh) asks for v1beta1:
#     its top.go lists only {"v1beta1"}. It runs against the same 1.37 cluster: a client-side
#     choice, so no second control plane is needed.
# Each request must be answered 200 by kube-apiserver (audit) and by us (our request log).
# Then swap: kwok-node-1 is pointed at kwok's resource-swap path (cluster.sh: the same families
# plus node_swap_usage_bytes / container_swap_usage_bytes from the kwok.x-k8s.io/usage-swap
# annotations) and given status.nodeInfo.swap.capacity; `kubectl top nodes --show-swap` and
# `kubectl top pods --containers --show-swap` (k8s.io/kubectl pkg/metricsutil v0.37.2: usage
# "swap", printed as Value/2^20 "Mi"; a node without nodeInfo.swap prints <unknown>) must show
# our values, and objects on kwok-node-0 (no swap families) have no swap in usage at all.
# Then `kubectl get {nodes,pods}.metrics.k8s.io --watch` through the aggregator must show
# MODIFIED events from at least two windows (-o json), kubectl's default --watch output (the
# Table form) a row per pod from the list and from two later windows or more, and a client-go informer on PodMetrics
# (test/cluster/informer) must stay in sync with List across windows and a restart of our server.
# Last, our server restarted with --kubelet-summary-api: kwok answers 404 to /stats/summary, and
# every node's resource metrics are still served, each node's summary failure logged.
# Prints one PASS:/FAIL: line per assertion and "N passed, M failed"; exits non-zero on any
# failure.
#
# Usage: test/cluster/check-api-versions.sh [--own-cluster]
#   --own-cluster: a new cluster in a temp state dir, torn down (and checked) at the end; as CTest
#   runs it. Without: the running cluster (cluster.sh env) if there is one, else one brought up
#   and torn down at the end.
# Environment: CMS_SERVER (default build/cmd/cpp-metrics-server), CHECK_TIMEOUT (each wait,
# default 120 s), CLUSTER_STATE_DIR (cluster.sh).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
c=$here/cluster.sh
check=$here/api_versions_check.py
server=${CMS_SERVER:-$repo/build/cmd/cpp-metrics-server}
name=cpp-metrics-server
limit=${CHECK_TIMEOUT:-120}
export CLUSTER_NODES=2 HPA_SYNC_PERIOD=${HPA_SYNC_PERIOD:-5s}
# shellcheck disable=SC2034 # read by check-lib.sh
check_name=api-versions
# shellcheck source-path=SCRIPTDIR source=check-lib.sh
. "$here/check-lib.sh"
check_cleanup() {
  "$c" stop "$name" >/dev/null 2>&1
  # Leave a running cluster as it was found.
  [ -n "${KUBECTL:-}" ] || return 0
  "$KUBECTL" delete pod -n default swap-demo swap-none --ignore-not-found --wait=false >/dev/null 2>&1
  "$KUBECTL" annotate node kwok-node-1 metrics.k8s.io/resource-metrics-path=/metrics/nodes/kwok-node-1/metrics/resource \
    kwok.x-k8s.io/usage-swap- --overwrite >/dev/null 2>&1
  "$KUBECTL" patch node kwok-node-1 --subresource=status --type=json \
    -p '[{"op":"remove","path":"/status/nodeInfo/swap"}]' >/dev/null 2>&1
  return 0
}
[ -x "$server" ] ||
  fatal "server binary $server not found (cmake --build build --target cpp-metrics-server)"
kubectl_prev=$("$here/build-binaries.sh" --print-env 2>/dev/null | sed -n 's/^KUBECTL_PREVIOUS=//p')
[ -x "$kubectl_prev" ] ||
  fatal "previous minor's kubectl not built (run test/cluster/build-binaries.sh): '$kubectl_prev'"
check_cluster_up "${1:-}"
k() { "$KUBECTL" "$@"; }
k_prev() { "$kubectl_prev" --kubeconfig="$KUBECONFIG" "$@"; }
audit_log=$CLUSTER_STATE_DIR/logs/audit.log
server_log=$CLUSTER_STATE_DIR/logs/$name.log
# version_of serverVersion|clientVersion KUBECTL: that gitVersion from `KUBECTL version -o json`.
version_of() {
  "$2" version -o json 2>/dev/null |
    python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]]["gitVersion"])' "$1"
}
server_version=$(version_of serverVersion k)
client_version=$(version_of clientVersion k)
prev_version=$(version_of clientVersion k_prev)
log "kube-apiserver $server_version, kubectl $client_version, previous kubectl $prev_version"
minor() { sed 's/^v1\.\([0-9]*\)\..*/\1/' <<<"$1"; }
[ "$(minor "$prev_version")" -lt "$(minor "$client_version")" ] ||
  fatal "the previous kubectl ($prev_version) must be of an older minor than $client_version"
# User agents: "kubectl/v1.37.2 (linux/amd64) kubernetes/...", and kube-controller-manager's
# clients with "/<controller>" appended (k8s.io/client-go rest.AddUserAgent).
ua_kubectl="^kubectl/${client_version//./\\.} "
ua_prev="^kubectl/${prev_version//./\\.} "
ua_hpa="^kube-controller-manager/${server_version//./\\.} .*/horizontal-pod-autoscaler\$"

"$c" workload 2 >"$check_work/workload.log" 2>&1 || fatal "workload default/demo did not start"
"$c" rbac "$name" >"$check_work/rbac.log" 2>&1 || fatal "rbac for $name failed"
port=$("$c" free-port)
# start_server [FLAG...]: our server as backend $name on $port, with these flags added.
start_server() {
  start_kwok_backend "$name" "$port" --metric-resolution=15s --metrics-api-versions=v1beta1,v1 -v=2 "$@"
}
if ! start_server; then
  tail -n 20 "$check_work/backend.log"
  fatal "our server did not turn ready"
fi
assert "APIServices v1beta1.metrics.k8s.io and v1.metrics.k8s.io -> our server, both Available" \
  "$c" register "$name" "$port" --versions=v1beta1,v1
discovered() {
  k get --raw /apis/metrics.k8s.io | python3 -c '
import json, sys
g = json.load(sys.stdin)
versions = [v["version"] for v in g["versions"]]
print("versions", versions, "preferred", g["preferredVersion"]["version"])
sys.exit(0 if versions == ["v1", "v1beta1"] and g["preferredVersion"]["version"] == "v1" else 1)'
}
assert "discovery of metrics.k8s.io lists v1 first (preferred), then v1beta1" discovered

# mark: the audit log's next line number, so each client's requests are told from earlier ones.
mark() { echo $(($(wc -l <"$audit_log" 2>/dev/null || echo 0) + 1)); }
# top_shows BIN... : `top nodes` and `top pods` both answer with a row for every node / demo pod.
top_shows() {
  local out
  out=$("$@" top nodes --no-headers) || return 1
  echo "$out"
  [ "$(grep -c '^kwok-node-' <<<"$out")" -eq 2 ] || return 1
  out=$("$@" top pods -n default --no-headers) || return 1
  echo "$out"
  [ "$(grep -c '^demo-' <<<"$out")" -eq 2 ]
}
# Right after registration a fresh pod may have no sample yet: retry, then assert on one run.
wait_until "$limit" top_shows k

# top_asks_for VERSION UA API BIN: kubectl VERSION (BIN, user agent UA) runs top, and both the
# audit log and our request log show it asked for metrics.k8s.io/API and got 200.
top_asks_for() {
  local version=$1 ua=$2 api=$3 bin=$4 from
  from=$(mark)
  assert "kubectl $version top nodes and top pods show both nodes and both pods" top_shows "$bin"
  assert "audit: kubectl $version top requested metrics.k8s.io/$api, answered 200" \
    python3 "$check" audit "$audit_log" "$from" "$ua" "$api"
  assert "served by us: /apis/metrics.k8s.io/$api/ to kubectl $version, 200" \
    python3 "$check" served "$server_log" "$ua" "$api"
}

echo "--- kubectl $client_version (the control plane's release): top asks for v1"
top_asks_for "$client_version" "$ua_kubectl" v1 k

echo "--- kubectl $prev_version (previous minor, knows only v1beta1): top asks for v1beta1"
top_asks_for "$prev_version" "$ua_prev" v1beta1 k_prev

echo "--- HPA controller of kube-controller-manager $server_version: asks for v1beta1"
from=$(mark)
k apply -f - >/dev/null <<EOF || fatal "could not create the HPA default/demo"
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: demo, namespace: default}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: demo}
  minReplicas: 2
  maxReplicas: 2
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
EOF
scaling_active() {
  local jp='{.status.conditions[?(@.type=="ScalingActive")].status}'
  [ "$(k get hpa demo -o jsonpath="$jp")" = True ]
}
hpa_read_metrics() {
  python3 "$check" audit "$audit_log" "$from" "$ua_hpa" v1beta1 && scaling_active
}
wait_until "$limit" hpa_read_metrics
hpa_state() {
  local jp='{range .status.conditions[*]}{.type}={.status} {end}'
  jp+='current={.status.currentMetrics[0].resource.current.averageUtilization}%{"\n"}'
  k get hpa demo -o jsonpath="$jp"
  scaling_active
}
assert "HPA default/demo computed its CPU metric (ScalingActive=True)" hpa_state
assert "audit: the HPA controller requested metrics.k8s.io/v1beta1, answered 200" \
  python3 "$check" audit "$audit_log" "$from" "$ua_hpa" v1beta1
assert "served by us: /apis/metrics.k8s.io/v1beta1/ to the HPA controller, 200" \
  python3 "$check" served "$server_log" "$ua_hpa" v1beta1

echo "--- swap: kubectl $client_version top --show-swap"
# kwok-node-1: 96Mi of swap on the node, 48Mi in each container of swap-demo, of 1Gi capacity.
# kwok-node-0: no swap families; swap-none carries the annotation but its kubelet reports none.
k annotate node kwok-node-1 --overwrite kwok.x-k8s.io/usage-swap=96Mi \
  metrics.k8s.io/resource-metrics-path=/metrics/nodes/kwok-node-1/metrics/resource-swap >/dev/null ||
  fatal "could not annotate kwok-node-1"
k patch node kwok-node-1 --subresource=status --type=merge \
  -p '{"status":{"nodeInfo":{"swap":{"capacity":1073741824}}}}' >/dev/null ||
  fatal "could not set kwok-node-1 status.nodeInfo.swap.capacity"
for pod in swap-demo:kwok-node-1 swap-none:kwok-node-0; do
  k apply -f - >/dev/null <<EOF || fatal "could not create pod default/${pod%%:*}"
apiVersion: v1
kind: Pod
metadata:
  name: ${pod%%:*}
  namespace: default
  annotations: {kwok.x-k8s.io/usage-cpu: 100m, kwok.x-k8s.io/usage-memory: 32Mi, kwok.x-k8s.io/usage-swap: 48Mi}
spec:
  nodeName: ${pod#*:}
  containers:
  - {name: a, image: fake}
  - {name: b, image: fake}
EOF
done
# top_swap_nodes: kwok-node-1 shows SWAP(bytes) 96Mi, SWAP(%) 9 (96Mi of 1Gi, truncated);
# kwok-node-0 (no nodeInfo.swap) shows <unknown> in both swap columns.
top_swap_nodes() {
  local out
  out=$(k top nodes --show-swap) || return 1
  echo "$out"
  awk '$1 == "kwok-node-1" && $6 == "96Mi" && $7 == "9%" {f = 1} END {exit !f}' <<<"$out" &&
    awk '$1 == "kwok-node-0" && $6 == "<unknown>" && $7 == "<unknown>" {f = 1} END {exit !f}' <<<"$out"
}
# top_swap_pods: both containers of swap-demo show 48Mi in SWAP(bytes), and the pod total 96Mi.
top_swap_pods() {
  local out
  out=$(k top pods -n default --containers --show-swap --no-headers) || return 1
  echo "$out"
  [ "$(awk '$1 == "swap-demo" && ($2 == "a" || $2 == "b") && $5 == "48Mi"' <<<"$out" | wc -l)" -eq 2 ] ||
    return 1
  out=$(k top pod -n default swap-demo --show-swap --no-headers) || return 1
  echo "$out"
  awk '$1 == "swap-demo" && $4 == "96Mi" {f = 1} END {exit !f}' <<<"$out"
}
# raw_usage RESOURCE VERSION PATH WANT: usage of the object at /apis/metrics.k8s.io/VERSION/PATH
# (every container's, for a pod) has RESOURCE WANT, or no RESOURCE key when WANT is "none".
raw_usage() {
  k get --raw "/apis/metrics.k8s.io/$2/$3" | python3 -c '
import json, sys
o = json.load(sys.stdin)
usages = [c["usage"] for c in o["containers"]] if "containers" in o else [o["usage"]]
got = [u.get(sys.argv[1], "none") for u in usages]
print(sys.argv[2], sys.argv[1] + ":", got)
sys.exit(0 if usages and all(g == sys.argv[3] for g in got) else 1)' "$1" "$3" "$4"
}
raw_swap() { raw_usage swap "$@"; }
swap_served() {
  raw_swap v1 nodes/kwok-node-1 96Mi && raw_swap v1 namespaces/default/pods/swap-demo 48Mi &&
    raw_swap v1 namespaces/default/pods/swap-none none
}
# The server picks up the new path with the node watch; a rate needs two scrapes.
wait_until "$limit" swap_served
assert "kubectl top nodes --show-swap: kwok-node-1 96Mi 9%, kwok-node-0 <unknown>" top_swap_nodes
assert "kubectl top pods --containers --show-swap: swap-demo a and b 48Mi, the pod 96Mi" \
  top_swap_pods
for v in v1 v1beta1; do
  assert "$v: usage of kwok-node-1 has swap 96Mi" raw_swap $v nodes/kwok-node-1 96Mi
  assert "$v: usage of kwok-node-0 (no swap families) has no swap" raw_swap $v nodes/kwok-node-0 none
  assert "$v: usage of swap-demo's containers has swap 48Mi" \
    raw_swap $v namespaces/default/pods/swap-demo 48Mi
  assert "$v: usage of swap-none's containers (on kwok-node-0) has no swap" \
    raw_swap $v namespaces/default/pods/swap-none none
done

echo "--- kubectl $client_version get --watch through the aggregator, and a client-go informer on PodMetrics"
# The informer (checked below) starts first and runs for 115 s; our server is restarted 45 s in.
# Meanwhile both kubectl watches run at once for 43 s (at least two 15 s windows after their
# list, before the restart), each event written as JSON.
informer=$("$here/build-binaries.sh" --print-env 2>/dev/null | sed -n 's/^POD_METRICS_INFORMER=//p')
informer_pid=
if [ -x "$informer" ]; then
  # 115 s: windows before the restart, the restart (about 20 s until the new process has served
  # a window), windows after; a store check every 10 s.
  "$informer" --kubeconfig="$KUBECONFIG" --duration=115s --check-every=10s --min-windows=4 \
    --expect-restart >"$check_work/informer.log" 2>&1 &
  informer_pid=$!
fi
informer_started=$(date +%s)
watch_pids=()
for resource in nodes pods; do
  timeout 43 "$KUBECTL" get "$resource.metrics.k8s.io" -A --watch --output-watch-events -o json \
    >"$check_work/watch-$resource.json" 2>"$check_work/watch-$resource.err" &
  watch_pids+=($!)
done
# And kubectl's default output (it asks for the Table form): a header, then a row per event.
timeout 43 "$KUBECTL" get pods.metrics.k8s.io -A --watch \
  >"$check_work/watch-pods-table.txt" 2>"$check_work/watch-pods-table.err" &
watch_pids+=($!)
wait "${watch_pids[@]}"
# watch_events FILE: MODIFIED events came with at least two resourceVersions (two windows after
# the list); prints the event types, the objects and those resourceVersions.
watch_events() {
  python3 - "$1" <<'PY'
import json, sys
text, decoder, at, events = open(sys.argv[1]).read(), json.JSONDecoder(), 0, []
while True:
    while at < len(text) and text[at].isspace():
        at += 1
    if at >= len(text):
        break
    event, at = decoder.raw_decode(text, at)
    events.append(event)
modified = [e for e in events if e.get("type") == "MODIFIED"]
versions = sorted({int(e["object"]["metadata"]["resourceVersion"]) for e in modified})
names = sorted({e["object"]["metadata"]["name"] for e in events})
print(len(events), "events:", sorted({e.get("type") for e in events}), "objects", names,
      "MODIFIED at resourceVersions", versions)
sys.exit(0 if len(versions) >= 2 else 1)
PY
}
assert "kubectl get nodes.metrics.k8s.io --watch: MODIFIED events from two windows or more" \
  watch_events "$check_work/watch-nodes.json"
assert "kubectl get pods.metrics.k8s.io -A --watch: MODIFIED events from two windows or more" \
  watch_events "$check_work/watch-pods.json"
# table_watch_rows FILE: kubectl's default --watch output has the metrics-server columns and, for
# some pod, a row from the list and rows from at least two later windows (MODIFIED events).
table_watch_rows() {
  python3 - "$1" <<'PY'
import collections, sys
lines = [l.split() for l in open(sys.argv[1]).read().splitlines() if l.strip()]
header = lines[0] if lines else []
rows = [l for l in lines[1:] if len(l) == len(header) and l != header]
per_pod = collections.Counter((r[0], r[1]) for r in rows)
most = per_pod.most_common(1)
print("header", header, len(rows), "rows for", len(per_pod), "pods; most rows for one pod:", most)
print("\n".join(" ".join(r) for r in rows[:3]))
ok = header == ["NAMESPACE", "NAME", "CPU", "MEMORY", "WINDOW"] and most and most[0][1] >= 3
sys.exit(0 if ok else 1)
PY
}
assert "kubectl get pods.metrics.k8s.io -A --watch (Table): rows from the list and two windows or more" \
  table_watch_rows "$check_work/watch-pods-table.txt"

echo "--- the client-go informer on PodMetrics stays in sync across windows and a server restart"
if [ -n "$informer_pid" ]; then
  sleep $((45 - ($(date +%s) - informer_started))) 2>/dev/null || true
  restarted() { "$c" stop "$name" >/dev/null 2>&1 && start_server; }
  assert "our server restarted while the informer watches" restarted
  wait "$informer_pid"
  echo "informer exited with status $?" >>"$check_work/informer.log"
  informer_passed() {
    grep '^informer:' "$check_work/informer.log"
    grep -q 'pass=true' "$check_work/informer.log"
  }
  assert "informer: in sync with List at the end, updates from 4+ windows, relisted after the restart" \
    informer_passed
else
  assert "pod-metrics-informer built (test/cluster/build-binaries.sh)" false
fi

echo "--- --kubelet-summary-api against kwok, which serves no /stats/summary"
# The per-node summary error path on a real cluster: every kubelet answers 404 to the summary;
# each node's resource metrics must still be served, without ephemeral-storage, and our log must
# name each node and the cause. (Values from a summary are covered by the scraper's integration
# test against local TLS kubelets: kwok has no summary endpoint to stand in for.)
"$c" stop "$name" >/dev/null 2>&1
if ! start_server --kubelet-summary-api; then
  tail -n 20 "$check_work/backend.log"
  fatal "our server with --kubelet-summary-api did not turn ready"
fi
wait_until "$limit" top_shows k
assert "with --kubelet-summary-api: kubectl top nodes and top pods still show both nodes and both pods" \
  top_shows k
assert "with --kubelet-summary-api: no ephemeral-storage in kwok-node-0's usage" \
  raw_usage ephemeral-storage v1 nodes/kwok-node-0 none
assert "with --kubelet-summary-api: no ephemeral-storage in swap-demo's containers' usage" \
  raw_usage ephemeral-storage v1 namespaces/default/pods/swap-demo none
summary_errors_logged() {
  local n
  for n in kwok-node-0 kwok-node-1; do
    grep -m1 "Failed to read the summary of node $n .*/stats/summary: request failed, status: \"404 Not Found\"" \
      "$server_log" || return 1
  done
}
assert "our log: each node's /stats/summary failure, by name, with the 404" summary_errors_logged
summary_failures_reported() {
  local m
  m=$("$c" query "$name" /metrics) || return 1
  grep '^metrics_server_kubelet_summary' <<<"$m"
  grep -q '^metrics_server_kubelet_summary_last_failed{node="kwok-node-0"} 1$' <<<"$m" &&
    grep -q '^metrics_server_kubelet_summary_last_failed{node="kwok-node-1"} 1$' <<<"$m" &&
    grep -q '^metrics_server_kubelet_summary_request_total{success="false"} [1-9]' <<<"$m" &&
    "$c" query "$name" /debug/nodes | python3 -c '
import json, sys
items = json.load(sys.stdin)["items"]
causes = {i["name"]: i.get("summaryCause") for i in items}
print("summaryCause per node:", causes)
sys.exit(0 if causes and all(c == "not_found" for c in causes.values()) else 1)'
}
assert "self-metrics and /debug/nodes: each node's summary failed, cause not_found (404)" \
  summary_failures_reported

check_finish
