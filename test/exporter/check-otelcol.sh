#!/usr/bin/env bash
# A real OpenTelemetry Collector receives the OTLP sink's windows: starts otelcol-test (built and
# cached by test/cluster/build-binaries.sh with WITH_OTELCOL=1) on loopback with an OTLP/HTTP
# receiver on a free port and a file exporter, pushes two known windows with sink_probe, and
# checks what the file exporter wrote (metric names and units, resource and data point
# attributes, values, timestamps). Then the outage: sink_probe --outage against the collector
# not yet started; the sink must log "down" once, keep its bound, and deliver its queued windows
# once the collector is started. Prints PASS:/FAIL: lines and "N passed, M failed".
#   check-otelcol.sh PATH/TO/sink_probe
# Environment: OTELCOL=path (default: what build-binaries.sh --print-env names).
set -uo pipefail
probe=${1:?usage: check-otelcol.sh PATH/TO/sink_probe}
here=$(cd "$(dirname "$0")" && pwd)
passed=0
failed=0
pass() { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }

otelcol=${OTELCOL:-$(WITH_OTELCOL=1 "$here/../cluster/build-binaries.sh" --print-env 2>/dev/null |
  sed -n 's/^OTELCOL=//p')}
if ! [ -x "$otelcol" ]; then
  echo "FAIL: otelcol-test not built (run WITH_OTELCOL=1 test/cluster/build-binaries.sh): '$otelcol'"
  exit 1
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/cms-otelcol.XXXXXX")
pid=""
stop_collector() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    pid=""
  fi
}
cleanup() {
  stop_collector
  if [ "$failed" -eq 0 ]; then rm -rf "$work"; else echo "logs kept in $work"; fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_collector NAME PORT: the collector with its own config and output file $work/NAME.json.
start_collector() {
  local name=$1 port=$2
  cat >"$work/$name.yaml" <<CONF
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:$port
exporters:
  file:
    path: $work/$name.json
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
  "$otelcol" --config="$work/$name.yaml" >"$work/$name.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 120); do
    # Any HTTP answer means the receiver is listening (GET on /v1/metrics is 405).
    if curl -s -o /dev/null "http://127.0.0.1:$port/v1/metrics"; then return 0; fi
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.25
  done
  return 1
}

# --- the values --------------------------------------------------------------------------------
port=$(free_port)
if start_collector values "$port"; then
  pass "$("$otelcol" --version) up, OTLP/HTTP on 127.0.0.1:$port"
else
  fail "collector did not start (log: $work/values.log): $(tail -3 "$work/values.log")"
  exit 1
fi
if "$probe" "otlp:http://127.0.0.1:$port" >"$work/probe.log" 2>&1; then
  pass "sink posted two windows"
else
  fail "sink: $(tail -3 "$work/probe.log")"
fi
# The file exporter flushes every 100ms; stopping the collector flushes what is left.
sleep 0.5
stop_collector

# expect WHAT PYTHON-EXPR-OF-points WANT: `points` is the list of (metric, unit, attributes
# dict, value, time_ns) the file holds; resource the set of resource attribute tuples.
dump=$work/points.txt
python3 - "$work/values.json" >"$dump" 2>"$work/parse.log" <<'PY'
import json, sys
points, resources = [], set()
for line in open(sys.argv[1]):
    if not line.strip():
        continue
    for rm in json.loads(line)["resourceMetrics"]:
        res = tuple(sorted((a["key"], a["value"].get("stringValue")) for a in rm["resource"]["attributes"]))
        resources.add(res)
        for sm in rm["scopeMetrics"]:
            for m in sm["metrics"]:
                for dp in m["gauge"]["dataPoints"]:
                    attrs = {a["key"]: a["value"]["stringValue"] for a in dp.get("attributes", [])}
                    value = dp["asInt"] if "asInt" in dp else dp.get("asDouble")
                    points.append((m["name"], m.get("unit", ""), attrs, value, dp["timeUnixNano"], sm["scope"]["name"]))
print(json.dumps({"points": points, "resources": sorted(resources)}))
PY
if ! [ -s "$dump" ]; then
  fail "the file exporter's output could not be read: $(tail -3 "$work/parse.log")"
  echo "$passed passed, $failed failed"
  exit 1
fi
t0=1700000000000000000
t1=1700000015000000000
# expect DESCRIPTION METRIC UNIT ATTRS_JSON WANT_JSON: the [time, value] pairs of the points of
# METRIC whose attributes are exactly ATTRS, each with unit UNIT.
expect() {
  local what=$1 metric=$2 unit=$3 attrs=$4 want=$5 got
  got=$(python3 - "$dump" "$metric" "$unit" "$attrs" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
metric, unit, attrs = sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
rows = sorted([int(p[4]), p[3]] for p in doc["points"] if p[0] == metric and p[2] == attrs and p[1] == unit)
print(json.dumps(rows))
PY
)
  if [ "$got" = "$want" ]; then pass "$what: $got"; else fail "$what: got $got, want $want"; fi
}
expect "cpu/usage_rate of pod default/probe-pod" cpu/usage_rate '{millicore}' \
  '{"namespace_name":"default","pod_name":"probe-pod","type":"pod"}' "[[$t0, \"260\"], [$t1, \"260\"]]"
expect "cpu/usage_rate of container app" cpu/usage_rate '{millicore}' \
  '{"container_name":"app","namespace_name":"default","pod_name":"probe-pod","type":"pod_container"}' \
  "[[$t0, \"250\"], [$t1, \"250\"]]"
expect "memory/working_set of container sidecar" memory/working_set By \
  '{"container_name":"sidecar","namespace_name":"default","pod_name":"probe-pod","type":"pod_container"}' \
  "[[$t0, \"20971520\"], [$t1, \"20971520\"]]"
expect "memory/working_set of node probe-node" memory/working_set By \
  '{"nodename":"probe-node","type":"node"}' "[[$t0, \"2147483648\"], [$t1, \"2147483648\"]]"
expect "cpu/usage_rate of node probe-node" cpu/usage_rate '{millicore}' \
  '{"nodename":"probe-node","type":"node"}' "[[$t0, \"1500\"], [$t1, \"1500\"]]"
expect "memory/working_set of namespace default" memory/working_set By \
  '{"namespace_name":"default","type":"ns"}' "[[$t0, \"125829120\"], [$t1, \"125829120\"]]"
expect "cpu/usage_rate of the cluster" cpu/usage_rate '{millicore}' '{"type":"cluster"}' \
  "[[$t0, \"260\"], [$t1, \"260\"]]"
resources=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(json.dumps(d["resources"]), sorted({p[5] for p in d["points"]}))' "$dump")
if [ "$resources" = '[[["service.name", "cpp-metrics-server"]]] ['"'"'cpp-metrics-server/heapster'"'"']' ]; then
  pass "resource service.name=cpp-metrics-server, scope cpp-metrics-server/heapster"
else
  fail "resource and scope: $resources"
fi

# --- the outage --------------------------------------------------------------------------------
port=$(free_port)
"$probe" "otlp:http://127.0.0.1:$port" --outage >"$work/outage.out" 2>"$work/outage.err" &
probe_pid=$!
for _ in $(seq 1 200); do
  grep -q '^DOWN' "$work/outage.out" && break
  kill -0 "$probe_pid" 2>/dev/null || break
  sleep 0.1
done
if grep -q '^DOWN' "$work/outage.out"; then
  pass "collector down: $(grep '^DOWN' "$work/outage.out") (bound 4 of 20 windows)"
  # A few more retries while it stays down: still one "down" line.
  sleep 2
  start_collector outage "$port" || fail "collector did not start (log: $work/outage.log)"
fi
if wait "$probe_pid"; then
  pass "after the collector came back: $(grep '^UP' "$work/outage.out")"
else
  fail "outage probe: $(grep -E '^(DOWN|UP|never)' "$work/outage.out") $(tail -3 "$work/outage.err")"
fi
downs=$(grep -c ': down: ' "$work/outage.out")
recovered=$(grep -c ': recovered after ' "$work/outage.out")
if [ "$downs" = 1 ] && [ "$recovered" = 1 ]; then
  pass "logged once when down and once when recovered"
else
  fail "log lines: $downs down, $recovered recovered, want 1 and 1 ($work/outage.out)"
fi
sleep 0.5
stop_collector
got=$(python3 -c '
import json, sys
ts = set()
for line in open(sys.argv[1]):
    for rm in json.loads(line)["resourceMetrics"]:
        for sm in rm["scopeMetrics"]:
            for m in sm["metrics"]:
                for dp in m["gauge"]["dataPoints"]:
                    ts.add(int(dp["timeUnixNano"]))
print(len(ts), (max(ts) - 1700000000000000000) // 15000000000 + 1 if ts else 0)' "$work/outage.json" 2>/dev/null)
if [ "$got" = "4 20" ]; then
  pass "the collector holds the 4 newest windows (17..20) after the outage"
else
  fail "after the outage the collector holds (windows, newest): '$got', want '4 20'"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
