#!/usr/bin/env bash
# Functions are called through assert/wait_until, after code that may exit:
# shellcheck disable=SC2317
# Heapster's metric set, exported, on a real cluster: one cluster, one server
# (--heapster-metrics --heapster-pod-resources --sink=influxdb:...), and beside it, on loopback with their own temp dirs
# and free ports, Debian's influxd (the sink's target) and Debian's prometheus (scraping
# /metrics/heapster). Asserts:
#   - /metrics/heapster with a ServiceAccount token bound to a ClusterRole granting get on that
#     nonResourceURL: 200, Prometheus text that `promtool check metrics` passes;
#   - with a token of a ServiceAccount without that rule: 403, and Prometheus's target for it is
#     down with a 403;
#   - Prometheus, scraping over TLS (the server's certificate verified with the cluster CA) with
#     the bearer token, holds for every pod of default/demo, at the pod's PodMetrics timestamp,
#     the values the Metrics API serves for that window (exporters_check.py prometheus);
#   - InfluxDB's SELECT returns the same for that window (exporters_check.py influxdb);
#   - kubectl top shows those values within its rounding (exporters_check.py top);
#   - --heapster-pod-resources: Prometheus and InfluxDB hold cpu/request, cpu/limit,
#     memory/request, memory/limit per container of default's pods equal to their specs (the
#     demo Deployment's requests, and default/sized's two containers with requests and limits),
#     and per node the sums of those requests, cpu/node_allocatable from the Node object and
#     node_reservation / node_utilization consistent with it (exporters_check.py resources; its
#     time is printed).
# Prints one PASS:/FAIL: line per assertion and "N passed, M failed"; exits non-zero on any
# failure.
#
# Usage: test/cluster/check-exporters.sh [--own-cluster]   (as check-api-versions.sh)
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
check_name=exporters
# shellcheck source-path=SCRIPTDIR source=check-lib.sh
. "$here/check-lib.sh"
influx_pid=""
prom_pid=""
stop_pid() {
  [ -n "$1" ] || return 0
  kill "$1" 2>/dev/null
  wait "$1" 2>/dev/null
}
check_cleanup() {
  "$c" stop "$name" >/dev/null 2>&1
  stop_pid "$prom_pid"
  stop_pid "$influx_pid"
}
[ -x "$server" ] ||
  fatal "server binary $server not found (cmake --build build --target cpp-metrics-server)"
for tool in influxd prometheus promtool; do
  command -v "$tool" >/dev/null ||
    fatal "$tool not found (scripts/install-deps.sh installs Debian's influxdb and prometheus)"
done
check_cluster_up "${1:-}"
k() { "$KUBECTL" "$@"; }
ca=$CLUSTER_STATE_DIR/pki/ca.crt

# InfluxDB 1.x, as test/exporter/check-influxdb.sh starts it.
influx_port=$("$c" free-port)
influx_rpc_port=$("$c" free-port)
mkdir -p "$check_work/influxdb"
cat >"$check_work/influxdb/influxdb.conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:$influx_rpc_port"
[meta]
  dir = "$check_work/influxdb/meta"
[data]
  dir = "$check_work/influxdb/data"
  wal-dir = "$check_work/influxdb/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:$influx_port"
  auth-enabled = false
  log-enabled = false
[ifql]
  enabled = false
[continuous_queries]
  enabled = false
CONF
influxd -config "$check_work/influxdb/influxdb.conf" >"$check_work/influxd.log" 2>&1 &
influx_pid=$!
influx=http://127.0.0.1:$influx_port
wait_until "$limit" curl -sf -o /dev/null "$influx/ping" ||
  fatal "influxd did not answer /ping (log: $check_work/influxd.log)"
pass "influxd $(influxd version | head -1) up on 127.0.0.1:$influx_port"

# Pods to scrape, then our server with the exposition and the sink.
"$c" workload 2 >"$check_work/workload.log" 2>&1 || fatal "workload default/demo did not start"
# Pods with limits as well as requests, in every unit form the checker parses, and a container
# without any (0 in Heapster's names).
k apply -f - >/dev/null <<YAML || fatal "Deployment default/sized"
apiVersion: apps/v1
kind: Deployment
metadata: {name: sized, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: sized}}
  template:
    metadata:
      labels: {app: sized}
      annotations: {kwok.x-k8s.io/usage-cpu: 100m, kwok.x-k8s.io/usage-memory: 32Mi}
    spec:
      containers:
      - name: main
        image: fake
        resources:
          requests: {cpu: 150m, memory: 96Mi}
          limits: {cpu: "1", memory: 200M}
      - name: side
        image: fake
        resources:
          requests: {cpu: 0.05, memory: 16Mi}
          limits: {cpu: 75m}
      - name: bare
        image: fake
YAML
sized_running() {
  [ "$(k get pods -l app=sized --field-selector=status.phase=Running -o name | wc -l)" -ge 2 ]
}
sized_started=$(date +%s.%N)
wait_until "$limit" sized_running || fatal "Deployment default/sized: 2 pods not Running"
sized_seconds=$(awk "BEGIN { printf \"%.1f\", $(date +%s.%N) - $sized_started }")
"$c" rbac "$name" >"$check_work/rbac.log" 2>&1 || fatal "rbac for $name failed"
port=$("$c" free-port)
start_kwok_backend "$name" "$port" --metric-resolution=5s --kubelet-request-timeout=3s \
  --heapster-metrics --heapster-pod-resources "--sink=influxdb:$influx?db=k8s" || fatal "our server did not turn ready"
"$c" register "$name" "$port" >"$check_work/register.log" 2>&1 ||
  fatal "APIService v1beta1.metrics.k8s.io -> our server did not turn Available"

# Two ServiceAccounts: one granted get on /metrics/heapster, one without any rule.
k apply -f - >/dev/null <<YAML || fatal "ServiceAccounts and RBAC for the readers"
apiVersion: v1
kind: ServiceAccount
metadata: {name: heapster-reader, namespace: default}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: no-heapster, namespace: default}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: heapster-metrics-reader}
rules:
- nonResourceURLs: [/metrics/heapster]
  verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: heapster-metrics-reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: heapster-metrics-reader}
subjects: [{kind: ServiceAccount, name: heapster-reader, namespace: default}]
YAML
k create token heapster-reader -n default --duration=1h >"$check_work/reader.token" ||
  fatal "kubectl create token heapster-reader"
k create token no-heapster -n default --duration=1h >"$check_work/denied.token" ||
  fatal "kubectl create token no-heapster"
url=https://127.0.0.1:$port/metrics/heapster
# fetch TOKEN_FILE OUT: the HTTP status of GET /metrics/heapster with that bearer token.
fetch() {
  curl -s --cacert "$ca" -o "$2" -w '%{http_code}' -H "Authorization: Bearer $(cat "$1")" "$url"
}
reader_can_read() {
  [ "$(fetch "$check_work/reader.token" "$check_work/heapster.txt")" = 200 ] &&
    grep -q '^heapster_cpu_usage_rate{.*type="pod"' "$check_work/heapster.txt"
}
if wait_until "$limit" reader_can_read; then
  pass "GET /metrics/heapster with heapster-reader's token: 200, $(grep -c '^heapster_' "$check_work/heapster.txt") samples"
else
  fail "GET /metrics/heapster with heapster-reader's token: $(head -c 300 "$check_work/heapster.txt")"
fi
assert "promtool check metrics passes the exposition" \
  sh -c "promtool check metrics <'$check_work/heapster.txt'"
denied=$(fetch "$check_work/denied.token" "$check_work/denied.txt")
if [ "$denied" = 403 ]; then pass "GET /metrics/heapster with no-heapster's token: 403"; else
  fail "GET /metrics/heapster with no-heapster's token: $denied $(head -c 300 "$check_work/denied.txt")"
fi

# Prometheus: both tokens, over TLS verified with the cluster CA.
prom_port=$("$c" free-port)
mkdir -p "$check_work/prometheus/data"
job() {
  cat <<YAML
  - job_name: $1
    scheme: https
    metrics_path: /metrics/heapster
    tls_config: {ca_file: "$ca", server_name: "127.0.0.1"}
    authorization: {type: Bearer, credentials_file: "$2"}
    static_configs: [{targets: ["127.0.0.1:$port"]}]
YAML
}
{
  printf 'global: {scrape_interval: 2s, scrape_timeout: 2s}\nscrape_configs:\n'
  job heapster "$check_work/reader.token"
  job heapster-denied "$check_work/denied.token"
} >"$check_work/prometheus/prometheus.yml"
prometheus --config.file="$check_work/prometheus/prometheus.yml" \
  --storage.tsdb.path="$check_work/prometheus/data" --web.listen-address="127.0.0.1:$prom_port" \
  >"$check_work/prometheus.log" 2>&1 &
prom_pid=$!
prom=http://127.0.0.1:$prom_port
wait_until "$limit" curl -sf -o /dev/null "$prom/-/ready" ||
  fatal "prometheus did not turn ready (log: $check_work/prometheus.log)"
pass "$(prometheus --version 2>&1 | head -1) up on 127.0.0.1:$prom_port"

# target_state JOB HEALTH [ERROR_SUBSTRING]: the job's one target has that health (and error).
target_state() {
  curl -sf "$prom/api/v1/targets" | python3 -c '
import json, sys
job, health, error = sys.argv[1], sys.argv[2], sys.argv[3]
t = [t for t in json.load(sys.stdin)["data"]["activeTargets"] if t["labels"]["job"] == job]
assert len(t) == 1 and t[0]["health"] == health and error in t[0]["lastError"], t
print(t[0]["lastError"] or health)' "$1" "$2" "${3:-}"
}
assert "Prometheus scrapes /metrics/heapster over TLS with heapster-reader's token" \
  wait_until "$limit" target_state heapster up
assert "Prometheus's target with no-heapster's token is down with a 403" \
  wait_until "$limit" target_state heapster-denied down 403
target_state heapster-denied down 403 >"$check_work/denied-target.txt" 2>&1 &&
  log "denied target: $(cat "$check_work/denied-target.txt")"

# compare WHAT MODE ARGS...: exporters_check.py MODE ARGS... until it passes (its last output is
# kept and printed).
compare() {
  local what=$1 out=$check_work/compare-$2.txt
  shift
  if wait_until "$limit" sh -c "'$here/exporters_check.py' \"\$@\" >'$out' 2>&1" sh "$@"; then
    pass "$what: $(tr '\n' ';' <"$out")"
  else
    sed 's/^/    /' "$out"
    fail "$what"
  fi
}
compare "Prometheus holds the Metrics API's values for each pod's window" \
  prometheus "$KUBECTL" "$prom" heapster default
compare "InfluxDB's SELECT returns the Metrics API's values for each pod's window" \
  influxdb "$KUBECTL" "$influx" k8s default
compare "kubectl top shows those values (within its rounding)" top "$KUBECTL" default
started=$(date +%s.%N)
compare "Prometheus and InfluxDB hold each container's requests and limits as in its spec, and per node the requests' sums, allocatable, node_reservation and node_utilization" \
  resources "$KUBECTL" "$prom" heapster "$influx" k8s default
log "the requests/limits check took $(awk "BEGIN { printf \"%.1f\", $(date +%s.%N) - $started }") s (the sized Deployment's start before it: $sized_seconds s)"

check_finish
