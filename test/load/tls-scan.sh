#!/usr/bin/env bash
# TLS configuration of the serving port, checked from outside with sslscan (Debian package, see
# scripts/install-deps.sh) and openssl s_client, in three configurations of the real binary:
#   default flags; --tls-min-version=VersionTLS13; --tls-cipher-suites restricted to one suite.
# Asserted: no SSLv2/SSLv3/TLS 1.0/TLS 1.1; TLS 1.2 offers only ECDHE (forward secrecy) with an
# AEAD (GCM or ChaCha20-Poly1305) of at least 128 bits; TLS 1.3 on; no renegotiation at all
# (neither secure nor insecure), and a client-initiated renegotiation attempt is refused; no
# compression; no Heartbleed; the certificate key is RSA >= 2048 or EC >= 256 bits.
# A positive control first proves the scanner sees what we assert is absent: an `openssl
# s_server` deliberately configured with TLS 1.0, a CBC suite without forward secrecy and client
# renegotiation must be reported as such, so the negative findings below cannot be vacuous.
#
# Usage: test/load/tls-scan.sh [path/to/cpp-metrics-server]   (default build/cmd/cpp-metrics-server)
# Loopback only; each server runs for a few seconds. Prints PASS:/FAIL: lines and "N passed, M failed".
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
server_bin=${1:-$root/build/cmd/cpp-metrics-server}
check_name=tls-scan
# shellcheck source=../cluster/check-lib.sh
. "$root/test/cluster/check-lib.sh"
work=$check_work
scan_pids=()
check_cleanup() {
  local p
  for p in "${scan_pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${scan_pids[@]}"; do wait "$p" 2>/dev/null; done
  return 0
}

command -v sslscan >/dev/null || fatal "sslscan not installed (scripts/install-deps.sh installs it)"
command -v openssl >/dev/null || fatal "openssl not installed"
[ -x "$server_bin" ] || fatal "no server binary at $server_bin"
echo "[tls-scan] sslscan $(sslscan --version 2>&1 | grep -o "[0-9][0-9.]*" | head -1), $(openssl version)"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_tls PORT PID: until a TLS handshake succeeds (bounded: 30 s) or the process is gone.
wait_tls() {
  local port=$1 pid=$2 i
  for i in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || return 1
    if openssl s_client -connect "127.0.0.1:$port" -brief </dev/null >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  return 1
}

# sslscan_xml PORT OUT: runs sslscan against 127.0.0.1:PORT, XML to OUT.
sslscan_xml() {
  timeout 120 sslscan --no-colour --show-certificate --xml="$2" "127.0.0.1:$1" >"$2.txt" 2>&1
}

# check_scan XML EXPECT...: Python assertions on sslscan's XML; prints PASS:/FAIL: lines itself.
# EXPECT words: tls13-only, ciphers=A:B (exactly this TLS 1.2 set, OpenSSL names).
check_scan() {
  local xml=$1 label=$2
  shift 2
  local out
  out=$(python3 "$here/sslscan_check.py" "$xml" "$label" "$@")
  echo "$out"
  check_passed=$((check_passed + $(grep -c '^PASS: ' <<<"$out")))
  check_failed=$((check_failed + $(grep -c '^FAIL: ' <<<"$out")))
}

# --- Positive control: a deliberately weak openssl s_server must be flagged. ---
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
  -keyout "$work/weak.key" -out "$work/weak.crt" >/dev/null 2>&1 || fatal "openssl req failed"
weak_port=$(free_port)
openssl s_server -accept "127.0.0.1:$weak_port" -cert "$work/weak.crt" -key "$work/weak.key" \
  -cipher 'AES128-SHA:ECDHE-RSA-AES128-GCM-SHA256:@SECLEVEL=0' -legacy_renegotiation \
  -tls1 -naccept 1000 -quiet </dev/null >"$work/weak.log" 2>&1 &
weak_pid=$!
scan_pids+=("$weak_pid")
wait_tls_weak() {
  local i
  for i in $(seq 1 100); do
    if openssl s_client -connect "127.0.0.1:$weak_port" -tls1 -cipher 'ALL:@SECLEVEL=0' \
      </dev/null >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  return 1
}
if wait_tls_weak; then
  sslscan_xml "$weak_port" "$work/weak.xml"
  check_scan "$work/weak.xml" control --control
else
  fail "control: openssl s_server with TLS 1.0 did not come up ($(tail -n 3 "$work/weak.log"))"
fi
kill "$weak_pid" 2>/dev/null

# --- Our server in three configurations. ---
cat >"$work/kubeconfig" <<'EOF'
apiVersion: v1
kind: Config
clusters:
- name: none
  cluster:
    server: https://127.0.0.1:9
    insecure-skip-tls-verify: true
users:
- name: none
  user:
    token: unused
contexts:
- name: none
  context:
    cluster: none
    user: none
current-context: none
EOF

# start_server NAME EXTRA_FLAGS...: sets `port` and `pid`. The kubeconfig points at a closed port:
# TLS serving does not depend on the cluster, and the server serves after one resolution (5 s).
start_server() {
  local name=$1
  shift
  port=$(free_port)
  "$server_bin" --secure-port="$port" --bind-address=127.0.0.1 --cert-dir="$work/certs-$name" \
    --kubeconfig="$work/kubeconfig" --authentication-skip-lookup --metric-resolution=5s \
    --kubelet-request-timeout=2s "$@" >"$work/server-$name.log" 2>&1 &
  pid=$!
  scan_pids+=("$pid")
}

# s_client_refused PORT ARGS...: a handshake with these client settings must fail.
s_client_refused() {
  local port=$1
  shift
  ! openssl s_client -connect "127.0.0.1:$port" "$@" </dev/null >/dev/null 2>&1
}
s_client_ok() {
  local port=$1
  shift
  openssl s_client -connect "127.0.0.1:$port" "$@" </dev/null >/dev/null 2>&1
}
# A client-initiated renegotiation on TLS 1.2 ("R" on s_client's stdin) must end the connection
# rather than succeed: s_client prints RENEGOTIATING and the server then aborts the handshake.
renegotiation_refused() {
  local port=$1 out
  out=$( (echo R; sleep 1) | timeout 10 openssl s_client -connect "127.0.0.1:$port" -tls1_2 2>&1)
  grep -q RENEGOTIATING <<<"$out" || { echo "renegotiation not attempted: $out" | tail -n 5; return 1; }
  local after
  after=$(sed -n '/RENEGOTIATING/,$p' <<<"$out")
  if grep -qi 'no renegotiation\|alert' <<<"$after"; then
    grep -io 'no renegotiation\|alert [a-z ]*' <<<"$after" | head -n 1
    return 0
  fi
  echo "renegotiation was not refused:"
  tail -n 5 <<<"$out"
  return 1
}

declare -A ports
start_server default
ports[default]=$port
default_pid=$pid
start_server tls13 --tls-min-version=VersionTLS13
ports[tls13]=$port
tls13_pid=$pid
# The self-signed serving key is ECDSA P-256: only the ECDSA suite of the list can be used.
start_server ciphers --tls-cipher-suites=TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
ports[ciphers]=$port
ciphers_pid=$pid

for name in default tls13 ciphers; do
  pvar=${name}_pid
  if ! wait_tls "${ports[$name]}" "${!pvar}"; then
    tail -n 10 "$work/server-$name.log" | sed 's/^/    /'
    fatal "$name: server did not serve TLS within 30 s"
  fi
done

sslscan_xml "${ports[default]}" "$work/default.xml"
check_scan "$work/default.xml" default
assert "default: TLS 1.0 handshake refused (openssl s_client -tls1)" \
  s_client_refused "${ports[default]}" -tls1 -cipher 'ALL:@SECLEVEL=0'
assert "default: TLS 1.1 handshake refused (openssl s_client -tls1_1)" \
  s_client_refused "${ports[default]}" -tls1_1 -cipher 'ALL:@SECLEVEL=0'
assert "default: TLS 1.2 with RSA key exchange only (no forward secrecy) refused" \
  s_client_refused "${ports[default]}" -tls1_2 -cipher 'AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-SHA'
assert "default: TLS 1.2 with CBC ECDHE suites only refused" \
  s_client_refused "${ports[default]}" -tls1_2 -cipher 'ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA:ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:ECDHE-ECDSA-AES128-SHA256'
assert "default: TLS 1.2 ECDHE-ECDSA-AES128-GCM-SHA256 accepted" \
  s_client_ok "${ports[default]}" -tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256
assert "default: a ClientHello offering DEFLATE gets null compression" \
  python3 "$here/tls_compression_probe.py" "${ports[default]}"
assert "default: TLS 1.3 accepted" s_client_ok "${ports[default]}" -tls1_3
assert "default: client-initiated renegotiation refused" renegotiation_refused "${ports[default]}"

sslscan_xml "${ports[tls13]}" "$work/tls13.xml"
check_scan "$work/tls13.xml" tls13 --tls13-only
assert "tls13: TLS 1.2 handshake refused" s_client_refused "${ports[tls13]}" -tls1_2
assert "tls13: TLS 1.3 accepted" s_client_ok "${ports[tls13]}" -tls1_3

sslscan_xml "${ports[ciphers]}" "$work/ciphers.xml"
check_scan "$work/ciphers.xml" ciphers --ciphers=ECDHE-ECDSA-AES256-GCM-SHA384
assert "ciphers: TLS 1.2 ECDHE-ECDSA-AES128-GCM-SHA256 (default, not in the list) refused" \
  s_client_refused "${ports[ciphers]}" -tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256
assert "ciphers: TLS 1.2 ECDHE-ECDSA-CHACHA20-POLY1305 (default, not in the list) refused" \
  s_client_refused "${ports[ciphers]}" -tls1_2 -cipher ECDHE-ECDSA-CHACHA20-POLY1305
assert "ciphers: TLS 1.2 ECDHE-ECDSA-AES256-GCM-SHA384 accepted" \
  s_client_ok "${ports[ciphers]}" -tls1_2 -cipher ECDHE-ECDSA-AES256-GCM-SHA384

for name in default tls13 ciphers; do
  pvar=${name}_pid
  if kill -0 "${!pvar}" 2>/dev/null; then
    pass "$name: server still running after the scans"
  else
    fail "$name: server died during the scans"
    tail -n 10 "$work/server-$name.log" | sed 's/^/    /'
  fi
done
check_finish
