#!/usr/bin/env bash
# Functions are called through assert/wait_until, after code that may exit:
# shellcheck disable=SC2317
# Our server on a real cluster with --sink=otlp: a real OpenTelemetry Collector (otelcol-test of
# build-binaries.sh WITH_OTELCOL=1: OTLP/HTTP receiver, file exporter) receives every window, and
# for each node and each pod of the workload the window the Metrics API serves (same timestamp)
# is in the collector's file with the same values: cpu/usage_rate = Σ containers' millicores,
# memory/working_set = Σ bytes, under Heapster's names and labels.
# Prints one PASS:/FAIL: line per assertion and "N passed, M failed"; exits non-zero on any
# failure.
#
# Usage: test/cluster/check-otlp.sh [--own-cluster]   (as check-api-versions.sh)
# Environment: CMS_SERVER (default build/cmd/cpp-metrics-server), OTELCOL (default: what
# build-binaries.sh --print-env names with WITH_OTELCOL=1), CHECK_TIMEOUT (each wait, default
# 120 s), CLUSTER_STATE_DIR (cluster.sh).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
c=$here/cluster.sh
server=${CMS_SERVER:-$repo/build/cmd/cpp-metrics-server}
name=cpp-metrics-server
limit=${CHECK_TIMEOUT:-120}
export CLUSTER_NODES=2
# shellcheck disable=SC2034 # read by check-lib.sh
check_name=otlp
# shellcheck source-path=SCRIPTDIR source=check-lib.sh
. "$here/check-lib.sh"
collector_pid=""
check_cleanup() {
  "$c" stop "$name" >/dev/null 2>&1
  if [ -n "$collector_pid" ]; then
    kill "$collector_pid" 2>/dev/null
    wait "$collector_pid" 2>/dev/null
  fi
}
[ -x "$server" ] ||
  fatal "server binary $server not found (cmake --build build --target cpp-metrics-server)"
otelcol=${OTELCOL:-$(WITH_OTELCOL=1 "$here/build-binaries.sh" --print-env 2>/dev/null |
  sed -n 's/^OTELCOL=//p')}
[ -x "$otelcol" ] || fatal "otelcol-test not built (WITH_OTELCOL=1 $here/build-binaries.sh): '$otelcol'"
check_cluster_up "${1:-}"

"$c" workload 2 >"$check_work/workload.log" 2>&1 || fatal "workload default/demo did not start"
"$c" rbac "$name" >"$check_work/rbac.log" 2>&1 || fatal "rbac for $name failed"

otlp_port=$("$c" free-port)
out=$check_work/otlp.json
cat >"$check_work/otelcol.yaml" <<CONF
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:$otlp_port
exporters:
  file:
    path: $out
    flush_interval: 100ms
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [file]
CONF
"$otelcol" --config="$check_work/otelcol.yaml" >"$check_work/otelcol.log" 2>&1 &
collector_pid=$!
wait_until 30 curl -s -o /dev/null "http://127.0.0.1:$otlp_port/v1/metrics" ||
  fatal "collector did not listen on 127.0.0.1:$otlp_port ($(tail -3 "$check_work/otelcol.log"))"
pass "$("$otelcol" --version) on 127.0.0.1:$otlp_port"

port=$("$c" free-port)
start_kwok_backend "$name" "$port" --metric-resolution=5s --kubelet-request-timeout=3s \
  "--sink=otlp:http://127.0.0.1:$otlp_port" || fatal "our server did not turn ready"
"$c" register "$name" "$port" >"$check_work/register.log" 2>&1 ||
  fatal "APIService v1beta1.metrics.k8s.io -> our server did not turn Available"
pass "our server with --sink=otlp:http://127.0.0.1:$otlp_port registered"

# served_in_collector: the nodes and the default namespace's pods as the Metrics API serves them
# now, each found in the collector's file at the same timestamp (to the second) with the same
# values. Prints what it compared.
served_in_collector() {
  "$KUBECTL" get --raw /apis/metrics.k8s.io/v1beta1/nodes >"$check_work/nodes.json" || return 1
  "$KUBECTL" get --raw /apis/metrics.k8s.io/v1beta1/namespaces/default/pods \
    >"$check_work/pods.json" || return 1
  python3 - "$check_work/nodes.json" "$check_work/pods.json" "$out" <<'PY'
import json, sys
from datetime import datetime

SUFFIX = {"n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1, "k": 1e3, "M": 1e6, "G": 1e9,
          "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
def quantity(s):
    for suf in sorted(SUFFIX, key=len, reverse=True):
        if suf and s.endswith(suf):
            return int(s[: -len(suf)]) * SUFFIX[suf]
    return float(s)
def nanocores(s):
    return round(quantity(s) * 1e9)
def seconds(ts):
    return int(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp())

# (metric, sorted attributes) -> {second: value}
got = {}
for line in open(sys.argv[3]):
    if not line.strip():
        continue
    for rm in json.loads(line)["resourceMetrics"]:
        for sm in rm["scopeMetrics"]:
            for m in sm["metrics"]:
                for dp in m["gauge"]["dataPoints"]:
                    attrs = tuple(sorted((a["key"], a["value"]["stringValue"]) for a in dp["attributes"]))
                    got.setdefault((m["name"], attrs), {})[int(dp["timeUnixNano"]) // 10**9] = int(dp["asInt"])

want = []
for n in json.load(open(sys.argv[1]))["items"]:
    attrs = (("nodename", n["metadata"]["name"]), ("type", "node"))
    t = seconds(n["timestamp"])
    want.append(("node " + n["metadata"]["name"], "cpu/usage_rate", attrs, t, nanocores(n["usage"]["cpu"]) // 10**6))
    want.append(("node " + n["metadata"]["name"], "memory/working_set", attrs, t, int(quantity(n["usage"]["memory"]))))
pods = json.load(open(sys.argv[2]))["items"]
for p in pods:
    attrs = (("namespace_name", "default"), ("pod_name", p["metadata"]["name"]), ("type", "pod"))
    t = seconds(p["timestamp"])
    cpu = sum(nanocores(c["usage"]["cpu"]) // 10**6 for c in p["containers"])
    mem = sum(int(quantity(c["usage"]["memory"])) for c in p["containers"])
    want.append(("pod " + p["metadata"]["name"], "cpu/usage_rate", attrs, t, cpu))
    want.append(("pod " + p["metadata"]["name"], "memory/working_set", attrs, t, mem))
if len(pods) < 2:
    print("fewer than 2 pods served:", len(pods))
    sys.exit(1)
bad = []
for what, metric, attrs, t, value in want:
    series = got.get((metric, attrs), {})
    if series.get(t) != value:
        bad.append(f"{what} {metric} at {t}: served {value}, collector {series.get(t)} (times {sorted(series)[-3:]})")
if bad:
    print("\n".join(bad))
    sys.exit(1)
print(f"{len(want)} values ({len(want) // 2 - len(pods)} nodes, {len(pods)} pods) match the served window")
PY
}
# The window the API serves may be exported a moment later: retry until it is there.
attempt() { served_in_collector >"$check_work/compare.log" 2>&1; }
if wait_until "$limit" attempt; then
  pass "collector holds the served window: $(cat "$check_work/compare.log")"
else
  fail "collector vs Metrics API: $(tail -5 "$check_work/compare.log")"
fi
written=$("$c" query "$name" /metrics 2>/dev/null |
  sed -n 's/^metrics_server_sink_written_windows_total{sink="otlp:[^"]*"} \([0-9]*\)$/\1/p')
if [ "${written:-0}" -ge 1 ]; then
  pass "metrics_server_sink_written_windows_total{sink=\"otlp:..\"} $written"
else
  fail "metrics_server_sink_written_windows_total for the otlp sink: '${written:-}'"
fi
check_finish
