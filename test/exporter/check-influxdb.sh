#!/usr/bin/env bash
# A real InfluxDB 1.x receives the sink's points: starts Debian's influxd on loopback (free ports,
# a temp config and data dir), writes two known windows through the sink with sink_probe, in
# Heapster's default layout (db k8s) and with withfields=true (db k8sf), and checks what SELECT
# returns. Prints PASS:/FAIL: lines and "N passed, M failed"; exits non-zero on any failure.
#   check-influxdb.sh PATH/TO/sink_probe
set -uo pipefail
probe=${1:?usage: check-influxdb.sh PATH/TO/sink_probe}
passed=0
failed=0
pass() { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }

influxd=$(command -v influxd) || {
  echo "FAIL: influxd not found (scripts/install-deps.sh installs Debian's influxdb)"
  exit 1
}
work=$(mktemp -d "${TMPDIR:-/tmp}/cms-influx.XXXXXX")
pid=""
cleanup() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  fi
  if [ "$failed" -eq 0 ]; then rm -rf "$work"; else echo "logs kept in $work"; fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
http_port=$(free_port)
rpc_port=$(free_port)
cat >"$work/influxdb.conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:$rpc_port"
[meta]
  dir = "$work/meta"
[data]
  dir = "$work/data"
  wal-dir = "$work/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:$http_port"
  auth-enabled = false
  log-enabled = false
[ifql]
  enabled = false
[continuous_queries]
  enabled = false
CONF
"$influxd" -config "$work/influxdb.conf" >"$work/influxd.log" 2>&1 &
pid=$!
base="http://127.0.0.1:$http_port"
up=0
for _ in $(seq 1 120); do
  if curl -sf -o /dev/null "$base/ping"; then up=1; break; fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.25
done
if [ "$up" = 1 ]; then pass "influxd $("$influxd" version | head -1) up on 127.0.0.1:$http_port"; else
  fail "influxd did not answer /ping (log: $work/influxd.log)"
  exit 1
fi

if "$probe" "influxdb:$base?db=k8s" >"$work/probe-k8s.log" 2>&1; then
  pass "sink wrote two windows to db k8s (measurement per metric)"
else
  fail "sink to db k8s: $(tail -3 "$work/probe-k8s.log")"
fi
if "$probe" "influxdb:$base?db=k8sf&withfields=true" >"$work/probe-k8sf.log" 2>&1; then
  pass "sink wrote two windows to db k8sf (withfields)"
else
  fail "sink to db k8sf: $(tail -3 "$work/probe-k8sf.log")"
fi

# expect DB QUERY EXPECTED: EXPECTED is the JSON list of [time_ns, value] rows SELECT returns.
expect() {
  local db=$1 q=$2 want=$3 got
  got=$(curl -sfG "$base/query" --data-urlencode "db=$db" --data-urlencode "epoch=ns" \
    --data-urlencode "q=$q" | python3 -c '
import json, sys
r = json.load(sys.stdin)["results"][0]
print(json.dumps(r["series"][0]["values"] if "series" in r else r.get("error", [])))')
  if [ "$got" = "$want" ]; then pass "$db: $q -> $got"; else fail "$db: $q -> $got, want $want"; fi
}
t0=1700000000000000000
t1=1700000015000000000
expect k8s "SELECT value FROM \"cpu/usage_rate\" WHERE \"type\"='pod' AND pod_name='probe-pod' AND namespace_name='default'" \
  "[[$t0, 260], [$t1, 260]]"
expect k8s "SELECT value FROM \"cpu/usage_rate\" WHERE \"type\"='pod_container' AND container_name='app'" \
  "[[$t0, 250], [$t1, 250]]"
expect k8s "SELECT value FROM \"memory/working_set\" WHERE \"type\"='node' AND nodename='probe-node'" \
  "[[$t0, 2147483648], [$t1, 2147483648]]"
expect k8s "SELECT value FROM \"memory/working_set\" WHERE \"type\"='ns' AND namespace_name='default'" \
  "[[$t0, 125829120], [$t1, 125829120]]"
expect k8s "SELECT value FROM \"cpu/usage_rate\" WHERE \"type\"='cluster'" "[[$t0, 260], [$t1, 260]]"
expect k8sf "SELECT usage_rate FROM cpu WHERE \"type\"='pod' AND pod_name='probe-pod'" \
  "[[$t0, 260], [$t1, 260]]"
expect k8sf "SELECT working_set FROM memory WHERE \"type\"='pod_container' AND container_name='sidecar'" \
  "[[$t0, 20971520], [$t1, 20971520]]"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
