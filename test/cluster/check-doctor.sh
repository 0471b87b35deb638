#!/usr/bin/env bash
# Functions are called through assert/wait_until, after code that may exit:
# shellcheck disable=SC2317
# `cpp-metrics-server doctor` against a real kube-apiserver: healthy -> exit 0 and no cause; then
# each thing broken in turn, and the doctor must name that cause, and only it, with its fix
# (exit 1); restored (and healthy again) before the next:
#   - a wrong caBundle on the APIService                  -> ca_bundle_mismatch
#   - the server's ClusterRoleBinding deleted             -> rbac_missing
#   - the server stopped                                  -> server_down
#   - a node whose kubelet address refuses connections    -> kubelet_unreachable
#   - the server trusting another front-proxy CA          -> front_proxy_untrusted
#   - the server verifying kubelet certificates (--kubelet-certificate-authority=the cluster CA,
#     which signed kwok's certificate for IP 127.0.0.1), and one node's kubelet endpoint serving
#     a certificate of that CA with a DNS SAN only                -> kubelet_no_ip_san
#     (that endpoint: a TLS proxy on 127.0.0.3 at kwok's port in front of kwok, so the node's
#     /metrics/resource is kwok's and the certificate is the only fault)
# Prints one PASS:/FAIL: line per assertion and "N passed, M failed"; exits non-zero on any
# failure.
#
# Usage: test/cluster/check-doctor.sh [--own-cluster]   (as check-api-versions.sh)
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
check_name=doctor
# shellcheck source-path=SCRIPTDIR source=check-lib.sh
. "$here/check-lib.sh"
proxy_pid=
check_cleanup() {
  "$c" stop "$name" >/dev/null 2>&1
  stop_proxy
  "$KUBECTL" delete node doctor-unreachable doctor-no-ip-san --ignore-not-found >/dev/null 2>&1
}
# stop_proxy: stops the kubelet proxy of case 6, if it runs.
stop_proxy() {
  [ -n "$proxy_pid" ] || return 0
  kill "$proxy_pid" 2>/dev/null
  wait "$proxy_pid" 2>/dev/null
  proxy_pid=
}
[ -x "$server" ] ||
  fatal "server binary $server not found (cmake --build build --target cpp-metrics-server)"
check_cluster_up "${1:-}"
k() { "$KUBECTL" "$@"; }

# Pods to scrape: the server is ready only once its window holds node and pod metrics.
"$c" workload 2 >"$check_work/workload.log" 2>&1 || fatal "workload default/demo did not start"
"$c" rbac "$name" >"$check_work/rbac.log" 2>&1 || fatal "rbac for $name failed"
port=$("$c" free-port)
# start_server [EXTRA FLAGS...]: our server on $port, ready.
start_server() {
  start_kwok_backend "$name" "$port" --metric-resolution=5s --kubelet-request-timeout=3s "$@"
}
start_server || fatal "our server did not turn ready"
"$c" register "$name" "$port" >"$check_work/register.log" 2>&1 ||
  fatal "APIService v1beta1.metrics.k8s.io -> our server did not turn Available"

# doctor: runs it (JSON) into $check_work/doctor.json and its exit status into doctor.rc.
doctor() {
  "$server" doctor --kubeconfig="$KUBECONFIG" -o json --timeout=5s >"$check_work/doctor.json" \
    2>"$check_work/doctor.err"
  echo $? >"$check_work/doctor.rc"
}
# causes: the causes of the last run, comma-separated.
causes() {
  python3 -c 'import json, sys; print(",".join(json.load(open(sys.argv[1]))["causes"]))' \
    "$check_work/doctor.json"
}
# doctor_says CAUSE ("" = healthy): the doctor exits as expected and names exactly CAUSE, with a
# fix and a README section for it.
doctor_says() {
  doctor
  local rc got
  rc=$(cat "$check_work/doctor.rc")
  got=$(causes) || return 1
  [ "$got" = "$1" ] || return 1
  if [ -z "$1" ]; then [ "$rc" = 0 ]; else
    [ "$rc" = 1 ] && python3 - "$check_work/doctor.json" "$1" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
fails = [c for c in report["checks"] if c["verdict"] == "fail"]
assert fails and all(c["cause"] == sys.argv[2] and c["fix"] and c["doc"] for c in fails), fails
PY
  fi
}
# expect CAUSE WHAT: waits until the doctor names CAUSE (or, for "", until healthy); PASS/FAIL
# with the text report's failing lines.
expect() {
  local cause=$1 what=$2 t0
  t0=$(date +%s)
  if wait_until "$limit" doctor_says "$cause"; then
    pass "$what: doctor names ${cause:-no cause} (exit $(cat "$check_work/doctor.rc"), $(($(date +%s) - t0))s)"
  else
    python3 -m json.tool "$check_work/doctor.json" | head -n 60 | sed 's/^/    /'
    fail "$what: doctor names [$(causes)], want [${cause}]"
  fi
}
# The text report too: healthy prints "healthy", and never a key or a token.
text_report() {
  "$server" doctor --kubeconfig="$KUBECONFIG" >"$check_work/doctor.txt" 2>&1
  grep -q '^healthy$' "$check_work/doctor.txt" && ! grep -q 'PRIVATE KEY\|Bearer' "$check_work/doctor.txt"
}

expect "" "healthy cluster"
assert "text report: healthy, no secret" text_report

# 1. A wrong caBundle.
good_bundle=$(k get apiservice v1beta1.metrics.k8s.io -o jsonpath='{.spec.caBundle}')
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=wrong-ca \
  -keyout "$check_work/wrong-ca.key" -out "$check_work/wrong-ca.crt" >/dev/null 2>&1
k patch apiservice v1beta1.metrics.k8s.io --type=merge \
  -p "{\"spec\":{\"caBundle\":\"$(base64 -w0 "$check_work/wrong-ca.crt")\"}}" >/dev/null
expect ca_bundle_mismatch "wrong caBundle"
k patch apiservice v1beta1.metrics.k8s.io --type=merge -p "{\"spec\":{\"caBundle\":\"$good_bundle\"}}" >/dev/null
expect "" "caBundle restored"

# 2. The server's RBAC binding deleted.
k delete clusterrolebinding "backend:$name" >/dev/null
expect rbac_missing "ClusterRoleBinding backend:$name deleted"
"$c" rbac "$name" >>"$check_work/rbac.log" 2>&1
expect "" "RBAC restored"

# 3. The server stopped.
"$c" stop "$name" >/dev/null 2>&1
expect server_down "server stopped"
start_server || fatal "our server did not restart"
expect "" "server restarted"

# 4. A node whose kubelet address refuses connections: kwok serves every kubelet on 127.0.0.1
# only, so 127.0.0.2 at its port refuses.
k apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Node
metadata:
  name: doctor-unreachable
  annotations: {kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0"}
  labels: {kubernetes.io/hostname: doctor-unreachable, type: kwok}
status:
  addresses: [{type: InternalIP, address: 127.0.0.2}]
  allocatable: {cpu: "4", memory: 16Gi, pods: "110"}
  capacity: {cpu: "4", memory: 16Gi, pods: "110"}
YAML
expect kubelet_unreachable "node with an unreachable kubelet"
grep -q 'doctor-unreachable' "$check_work/doctor.json" && pass "the report names the node" ||
  fail "the report names the node"
k delete node doctor-unreachable >/dev/null
expect "" "node removed"

# 5. The server trusts another front-proxy CA than the one that signed kube-apiserver's proxy
# client certificate.
"$c" stop "$name" >/dev/null 2>&1
start_server --requestheader-client-ca-file="$check_work/wrong-ca.crt" ||
  fatal "our server did not restart with another front-proxy CA"
expect front_proxy_untrusted "server trusting another front-proxy CA"
"$c" stop "$name" >/dev/null 2>&1
start_server || fatal "our server did not restart"
expect "" "front-proxy CA restored"

# 6. The server verifies kubelet certificates against the CA that signed them, as a real user
# runs it, and one node's kubelet serves a certificate of that CA without an IP SAN for the
# address the server dials (a DNS SAN only, as kubeadm's self-signed kubelet certificates):
# metrics-server's KNOWN_ISSUES "doesn't contain any IP SANs". The node's kubelet is a TLS proxy
# on 127.0.0.3 at kwok's port (kwok listens on 127.0.0.1 only and gives every node its port)
# forwarding to kwok, so what the node serves is kwok's /metrics/resource for it.
t6=$(date +%s)
pki=$CLUSTER_STATE_DIR/pki
# kubelet_cert NAME SAN: a serving certificate signed by the cluster CA.
kubelet_cert() {
  openssl req -newkey rsa:2048 -nodes -subj /CN=doctor-no-ip-san -keyout "$check_work/$1.key" \
    -out "$check_work/$1.csr" >/dev/null 2>&1 &&
    printf '%s\n' basicConstraints=critical,CA:FALSE extendedKeyUsage=serverAuth \
      "subjectAltName=$2" >"$check_work/$1.ext" &&
    openssl x509 -req -in "$check_work/$1.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
      -CAcreateserial -CAserial "$check_work/ca.srl" -days 1 -extfile "$check_work/$1.ext" \
      -out "$check_work/$1.crt" >/dev/null 2>&1
}
kubelet_cert kubelet-dns-only DNS:doctor-no-ip-san || fatal "kubelet certificate (DNS SAN only)"
kubelet_cert kubelet-ip IP:127.0.0.3,DNS:doctor-no-ip-san || fatal "kubelet certificate (IP SAN)"
cat >"$check_work/kubelet-proxy.py" <<'PY'
# kubelet-proxy.py CERT_NAME PORT: HTTPS on 127.0.0.3:PORT with CERT_NAME.{crt,key}, every GET
# forwarded to kwok on 127.0.0.1:PORT (its answer's status, content type and body).
import http.server, ssl, sys, urllib.error, urllib.request
cert, port = sys.argv[1], int(sys.argv[2])
upstream = ssl.create_default_context()
upstream.check_hostname, upstream.verify_mode = False, ssl.CERT_NONE
class Proxy(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        req = urllib.request.Request(f"https://127.0.0.1:{port}{self.path}",
                                     headers={"Accept": self.headers.get("Accept", "*/*")})
        try:
            r = urllib.request.urlopen(req, context=upstream, timeout=5)
        except urllib.error.HTTPError as e:
            r = e
        body = r.read()
        self.send_response(r.status)
        self.send_header("Content-Type", r.headers.get("Content-Type", "text/plain"))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.3", port), Proxy)
tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
tls.load_cert_chain(cert + ".crt", cert + ".key")
server.socket = tls.wrap_socket(server.socket, server_side=True)
server.serve_forever()
PY
# start_proxy CERT_NAME: the node's kubelet, serving CERT_NAME; returns once it answers.
start_proxy() {
  stop_proxy
  python3 "$check_work/kubelet-proxy.py" "$check_work/$1" "$CLUSTER_KWOK_PORT" \
    >>"$check_work/kubelet-proxy.log" 2>&1 &
  proxy_pid=$!
  wait_until 20 curl -sfk -o /dev/null \
    "https://127.0.0.3:$CLUSTER_KWOK_PORT/metrics/nodes/doctor-no-ip-san/metrics/resource"
}
"$c" stop "$name" >/dev/null 2>&1
kubelet_tls='--kubelet-certificate-authority={state}/pki/ca.crt'
start_server || fatal "our server did not restart verifying kubelet certificates"
expect "" "server verifying kubelet certificates against the cluster CA"
start_proxy kubelet-dns-only || fatal "the kubelet proxy on 127.0.0.3:$CLUSTER_KWOK_PORT did not answer"
k apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Node
metadata:
  name: doctor-no-ip-san
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
    metrics.k8s.io/resource-metrics-path: /metrics/nodes/doctor-no-ip-san/metrics/resource
  labels: {kubernetes.io/hostname: doctor-no-ip-san, type: kwok}
status:
  addresses: [{type: InternalIP, address: 127.0.0.3}]
  allocatable: {cpu: "4", memory: 16Gi, pods: "110"}
  capacity: {cpu: "4", memory: 16Gi, pods: "110"}
YAML
expect kubelet_no_ip_san "kubelet certificate without an IP SAN"
# The finding names the node and the address dialled, and its fix names serverTLSBootstrap.
no_ip_san_finding() {
  python3 - "$check_work/doctor.json" <<'PY'
import json, sys
fails = [c for c in json.load(open(sys.argv[1]))["checks"] if c["verdict"] == "fail"]
text = json.dumps(fails)
assert "doctor-no-ip-san" in text and "127.0.0.3" in text, fails
assert all("serverTLSBootstrap" in c["fix"] and "--kubelet-insecure-tls" in c["fix"] and
           "--kubelet-certificate-authority" not in c["fix"] for c in fails), fails
assert "kwok-node-" not in text, fails
print("; ".join(c.get("evidence", "") if isinstance(c.get("evidence"), str) else
                json.dumps(c.get("evidence"))[:200] for c in fails)[:400])
PY
}
assert "the finding names the node and address, the fix serverTLSBootstrap" no_ip_san_finding
# The kwok nodes, whose certificate has the IP SAN, keep being served meanwhile.
healthy_served() {
  local got
  got=$(k get --raw /apis/metrics.k8s.io/v1beta1/nodes) || return 1
  echo "$got" | python3 -c '
import json, sys
names = sorted(i["metadata"]["name"] for i in json.load(sys.stdin)["items"])
assert "kwok-node-0" in names and "kwok-node-1" in names and "doctor-no-ip-san" not in names, names
print("served:", ",".join(names))'
}
assert "the healthy nodes keep being served" healthy_served
# Restored: the same kubelet now serves a certificate with its IP.
start_proxy kubelet-ip || fatal "the kubelet proxy did not restart"
expect "" "kubelet certificate with the node's IP SAN"
# ... and that node's scrape succeeds through the certificate (the server's per-node state).
restored_scraped() {
  "$c" query "$name" /debug/nodes | python3 -c '
import json, sys
items = {i["name"]: i for i in json.load(sys.stdin)["items"]}
n = items["doctor-no-ip-san"]
assert n["success"] and n["address"].startswith("https://127.0.0.3:"), n
print(n["address"], "scraped, last success", n["lastSuccess"])'
}
wait_until 30 restored_scraped
assert "the restored node is scraped through its certificate" restored_scraped
k delete node doctor-no-ip-san >/dev/null
stop_proxy
log "kubelet certificate case took $(($(date +%s) - t6))s"

check_finish
