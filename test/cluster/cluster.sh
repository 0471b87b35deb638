#!/usr/bin/env bash
# A real Kubernetes control plane on this machine, as plain processes on 127.0.0.1:
# etcd, kube-apiserver (aggregation layer with its own front-proxy CA), kube-controller-manager
# (deployment, replicaset, HPA with short periods, garbage collector, namespace, serviceaccount,
# clusterrole aggregation), kube-scheduler
# and kwok simulating N nodes whose pods report the CPU/memory of their annotations
# kwok.x-k8s.io/usage-cpu and kwok.x-k8s.io/usage-memory on /metrics/nodes/<node>/metrics/resource.
# The same families plus the kubelet's swap families (node_swap_usage_bytes,
# container_swap_usage_bytes, as a kubelet on a node with swap prints them), valued from the
# annotation kwok.x-k8s.io/usage-swap of the node / pod (0 without), are served on
# /metrics/nodes/<node>/metrics/resource-swap: a test points a node's
# metrics.k8s.io/resource-metrics-path annotation there to give that node swap.
# Aggregated backends (our server, metrics-server) run beside it and are registered through an
# ExternalName Service (externalName: localhost) and the APIService v1beta1.metrics.k8s.io (and
# v1.metrics.k8s.io when asked). kube-apiserver writes an audit log of every metrics.k8s.io request
# (level Metadata: who, which URI, which answer) to $CLUSTER_STATE_DIR/logs/audit.log, one JSON
# event a line, so a test can tell which version each client asked for.
#
# Binaries come from test/cluster/build-binaries.sh (run it first; it caches them).
#
# Usage: test/cluster/cluster.sh COMMAND [ARGS]
#   up                         PKI, etcd, kube-apiserver, kwok + nodes, controller-manager, scheduler
#   down                       stop everything this state dir started, free the ports, delete state
#   status                     processes, readiness, nodes, APIServices
#   env                        shell exports (eval "$(cluster.sh env)"): KUBECONFIG, KUBECTL, ports
#   backend NAME PORT -- CMD [ARGS...]
#                              run any aggregated backend command as component NAME; in ARGS,
#                              {port} {cert} {key} {ca} {kubeconfig} {state} {name} are replaced
#                              with its port, serving cert/key (cluster CA, SANs localhost,
#                              127.0.0.1, NAME.kube-system.svc), the cluster CA, and a kubeconfig
#                              whose user is system:serviceaccount:kube-system:NAME (bound by
#                              `rbac`); waits until https://127.0.0.1:PORT/readyz answers
#   metrics-server NAME PORT   run the reference metrics-server as backend NAME on PORT (it turns
#                              ready only once some node has pods: kwok reports 0 memory for an
#                              empty node and metrics-server drops such nodes; run `workload` first)
#   rbac NAME                  RBAC for backend NAME: nodes/metrics get, nodes+pods get/list/watch,
#                              system:auth-delegator, extension-apiserver-authentication-reader
#   register NAME PORT [--insecure] [--versions=v1beta1,v1]
#                              Service kube-system/NAME (ExternalName localhost) and APIService
#                              v1beta1.metrics.k8s.io -> NAME:PORT with caBundle (default) or
#                              insecureSkipTLSVerify; waits for Available=True. --versions: one
#                              APIService per version (v1 at versionPriority 200 above v1beta1's
#                              100, as manifests/v1/apiservice.yaml)
#   stop NAME                  stop one backend (or any component) by name
#   workload [N]               Deployment default/demo, N replicas (default 2), annotated with
#                              usage-cpu 250m / usage-memory 64Mi; waits until Running
#   query NAME PATH            GET https://127.0.0.1:<NAME's port>PATH directly as the admin
#   free-port                  print a free port on 127.0.0.1 (below the ephemeral range)
#
# Environment:
#   CLUSTER_STATE_DIR   state (PKI, etcd data, logs, pids) default ${TMPDIR:-/tmp}/cpp-metrics-server-cluster
#   CLUSTER_NODES       number of kwok nodes (default 2; 0: no kwok, e.g. beside real-node.sh)
#   CLUSTER_NODE_PODS   pods each kwok node has room for (capacity and allocatable; default 110,
#                       a kubelet's default maxPods)
#   CLUSTER_SERVICE_ACCOUNTS
#                       1: pods get ServiceAccount tokens as on a real cluster (the ServiceAccount
#                       admission plugin on, the kube-root-ca.crt publisher running); needed by
#                       pods on a real kubelet (real-node.sh), off by default (kwok pods need none)
#   CLUSTER_TIMEOUT     seconds per readiness wait (default 120)
#   CLUSTER_COMPONENTS  `all` (default) or `apiserver`: etcd and kube-apiserver only, no kwok,
#                       controller-manager or scheduler, so objects written through the API stay
#                       exactly as written (the benchmark inventory of test/bench/fleet)
#   HPA_SYNC_PERIOD     controller-manager HPA sync period (default 5s)
#   BACKEND_READY_PATH  path a backend must answer 200 on before `backend` returns (default /readyz)
#   BACKEND_CA, BACKEND_SERVER_NAME
#                       CA file and host name `backend` verifies that answer's certificate for
#                       (default: the cluster CA, 127.0.0.1), for a backend serving a certificate
#                       of another CA and names, e.g. a Helm-made one for NAME.kube-system.svc
#   K8S_VERSION, KWOK_VERSION, METRICS_SERVER_VERSION, ETCD_SOURCE, CMS_BIN_CACHE: see build-binaries.sh
# Ports are picked free on 127.0.0.1 at `up` and recorded in $CLUSTER_STATE_DIR/env.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
state=${CLUSTER_STATE_DIR:-${TMPDIR:-/tmp}/cpp-metrics-server-cluster}
nodes=${CLUSTER_NODES:-2}
node_pods=${CLUSTER_NODE_PODS:-110}
timeout=${CLUSTER_TIMEOUT:-120}
pki=$state/pki
pids=$state/pids
logs=$state/logs

log() { echo "[cluster] $*" >&2; }
die() {
  echo "[cluster] ERROR: $*" >&2
  exit 1
}

# --- binaries -------------------------------------------------------------------------------

# A running cluster keeps the binaries it was started with (recorded in $state/binaries).
load_binaries() {
  local line
  if [ -f "$state/binaries" ]; then
    line=$(cat "$state/binaries")
  elif ! line=$("$here/build-binaries.sh" --print-env); then
    die "binaries missing: run $here/build-binaries.sh first"
  fi
  while IFS='=' read -r key path; do
    case $key in
      KUBE_APISERVER | KUBE_CONTROLLER_MANAGER | KUBE_SCHEDULER | KUBECTL | KWOK | KWOK_CONFIG_DIR | METRICS_SERVER | ETCD)
        printf -v "BIN_$key" '%s' "$path"
        ;;
    esac
  done <<<"$line"
}

kubectl() { "$BIN_KUBECTL" --kubeconfig="$state/admin.kubeconfig" "$@"; }

# --- helpers --------------------------------------------------------------------------------

# free_ports N: prints N distinct TCP ports that are free on 127.0.0.1 right now, chosen below
# the ephemeral range: a port the kernel hands out with bind(0) may be taken, before the
# component that is given it starts, as the source port of any outgoing connection
# (kube-apiserver to etcd, ...). All sockets are held until every port is chosen.
free_ports() {
  python3 -c '
import random, socket, sys
lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
want, socks = int(sys.argv[1]), []
for _ in range(1000 * want):
    if len(socks) == want:
        break
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", random.randint(10000, lo - 1)))
    except OSError:
        s.close()
        continue
    socks.append(s)
else:
    if len(socks) < want:
        raise SystemExit("no free port")
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()' "$1"
}

# wait_for DESCRIPTION TIMEOUT_SECONDS COMMAND...: polls COMMAND every 0.5 s. With WAIT_COMPONENT
# set, gives up at once if that component's process has exited.
wait_for() {
  local what=$1 limit=$2 start
  shift 2
  start=$(date +%s)
  until "$@" >/dev/null 2>&1; do
    if [ -n "${WAIT_COMPONENT:-}" ] && ! running "$WAIT_COMPONENT"; then
      tail -n 5 "$logs/$WAIT_COMPONENT.log" >&2
      log "$WAIT_COMPONENT exited while waiting for $what (log: $logs/$WAIT_COMPONENT.log)"
      return 1
    fi
    if (($(date +%s) - start >= limit)); then
      log "timed out after ${limit}s waiting for $what"
      return 1
    fi
    sleep 0.5
  done
  log "$what: ready after $(($(date +%s) - start))s"
}

# start NAME BINARY ARGS...: runs BINARY in its own session (so down can signal its whole process
# group), logs to $logs/NAME.log, records the pid in $pids/NAME.pid.
start() {
  local name=$1 bin=$2 pid
  shift 2
  [ -x "$bin" ] || die "$name: binary $bin not found"
  if running "$name"; then die "$name is already running (pid $(cat "$pids/$name.pid"))"; fi
  setsid "$bin" "$@" >"$logs/$name.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$pids/$name.pid"
  printf '%s\n' "$bin" "$@" >"$pids/$name.cmd"
  sleep 0.3
  if ! kill -0 "$pid" 2>/dev/null; then
    tail -n 20 "$logs/$name.log" >&2
    die "$name exited at once (log: $logs/$name.log)"
  fi
  log "$name started (pid $pid, log $logs/$name.log)"
}

# running NAME: true if NAME's recorded pid is alive and still runs the recorded binary.
running() {
  local f=$pids/$1.pid pid bin
  [ -f "$f" ] || return 1
  pid=$(cat "$f")
  bin=$(head -n1 "$pids/$1.cmd" 2>/dev/null) || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  [ "$(readlink -f "/proc/$pid/exe" 2>/dev/null)" = "$(readlink -f "$bin")" ]
}

# stop_component NAME: TERM its process group, KILL after 15 s.
stop_component() {
  local name=$1 pid i
  [ -f "$pids/$name.pid" ] || return 0
  pid=$(cat "$pids/$name.pid")
  if running "$name"; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 30; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "$name (pid $pid) ignored TERM for 15s; killing"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 40; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.25
      done
    fi
    log "$name stopped (pid $pid)"
  fi
  rm -f "$pids/$name.pid" "$pids/$name.cmd"
}

load_env() {
  [ -f "$state/env" ] || die "no cluster in $state (run: $0 up)"
  # shellcheck source=/dev/null
  . "$state/env"
}

# --- PKI ------------------------------------------------------------------------------------

# ca NAME: self-signed CA NAME.{crt,key}.
ca() {
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=$1" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign,digitalSignature \
    -keyout "$pki/$1.key" -out "$pki/$1.crt" 2>/dev/null
}

# sign NAME SUBJECT ISSUER USAGE [SANS]: leaf cert NAME.{crt,key}; USAGE serverAuth/clientAuth.
sign() {
  local name=$1 subj=$2 issuer=$3 usage=$4 sans=${5:-}
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$usage"
    [ -z "$sans" ] || echo "subjectAltName=$sans"
  } >"$pki/$name.ext"
  openssl req -newkey rsa:2048 -nodes -subj "$subj" -keyout "$pki/$name.key" -out "$pki/$name.csr" 2>/dev/null
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/$issuer.crt" -CAkey "$pki/$issuer.key" \
    -CAcreateserial -days 30 -extfile "$pki/$name.ext" -out "$pki/$name.crt" 2>/dev/null
  rm -f "$pki/$name.csr" "$pki/$name.ext"
}

make_pki() {
  mkdir -p "$pki"
  chmod 700 "$pki"
  ca ca                 # cluster CA: client certs, serving certs
  ca front-proxy-ca     # separate: only the aggregator's proxy client cert
  sign apiserver "/CN=kube-apiserver" ca serverAuth \
    "IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
  sign admin "/O=system:masters/CN=admin" ca clientAuth
  sign front-proxy-client "/CN=front-proxy-client" front-proxy-ca clientAuth
  sign kwok "/CN=kwok" ca serverAuth "IP:127.0.0.1,DNS:localhost"
  openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
  openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
  log "PKI in $pki (cluster CA, separate front-proxy CA)"
}

# kubeconfig FILE USER CERT KEY
kubeconfig() {
  local f=$1 user=$2 cert=$3 key=$4
  cat >"$f" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority: $pki/ca.crt
users:
- name: $user
  user:
    client-certificate: $cert
    client-key: $key
contexts:
- name: local
  context: {cluster: local, user: $user}
current-context: local
EOF
}

# --- components -----------------------------------------------------------------------------

start_etcd() {
  local extra=()
  mkdir -p "$state/etcd"
  # Test data need no durability; etcd 3.4 (Debian) lacks the flag.
  if "$BIN_ETCD" --help 2>&1 | grep -q -- --unsafe-no-fsync; then extra+=(--unsafe-no-fsync); fi
  start etcd "$BIN_ETCD" --name=node0 --data-dir="$state/etcd" "${extra[@]}" \
    --listen-client-urls="http://127.0.0.1:$ETCD_PORT" --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster="node0=http://127.0.0.1:$ETCD_PEER_PORT" --quota-backend-bytes=2147483648
  WAIT_COMPONENT=etcd wait_for "etcd /health" "$timeout" curl -sf "http://127.0.0.1:$ETCD_PORT/health"
}

start_apiserver() {
  local disabled=ServiceAccount,TaintNodesByCondition
  [ "${CLUSTER_SERVICE_ACCOUNTS:-0}" != 1 ] || disabled=TaintNodesByCondition
  # Audit only metrics.k8s.io resource requests, at Metadata (no bodies), once answered.
  cat >"$state/audit-policy.yaml" <<EOF
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived, ResponseStarted]
rules:
- level: Metadata
  resources: [{group: metrics.k8s.io}]
- level: None
EOF
  start kube-apiserver "$BIN_KUBE_APISERVER" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 --secure-port="$APISERVER_PORT" \
    --advertise-address=127.0.0.1 --endpoint-reconciler-type=none \
    --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
    --client-ca-file="$pki/ca.crt" \
    --service-account-issuer=https://kubernetes.default.svc \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --service-cluster-ip-range=10.0.0.0/24 --allow-privileged=true \
    --authorization-mode=RBAC --disable-admission-plugins="$disabled" \
    --requestheader-client-ca-file="$pki/front-proxy-ca.crt" \
    --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
    --requestheader-uid-headers=X-Remote-Uid \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --proxy-client-cert-file="$pki/front-proxy-client.crt" --proxy-client-key-file="$pki/front-proxy-client.key" \
    --audit-policy-file="$state/audit-policy.yaml" --audit-log-path="$logs/audit.log" \
    --audit-log-format=json --audit-log-mode=blocking
  WAIT_COMPONENT=kube-apiserver wait_for "kube-apiserver /readyz" "$timeout" kubectl get --raw /readyz
}

kwok_config() {
  local f
  : >"$state/kwok.yaml"
  for f in node-initialize node-heartbeat pod-ready pod-complete pod-delete metrics-resource usage-from-annotation; do
    [ -f "$BIN_KWOK_CONFIG_DIR/$f.yaml" ] || die "kwok config $BIN_KWOK_CONFIG_DIR/$f.yaml missing (rerun build-binaries.sh)"
    { echo "---"; cat "$BIN_KWOK_CONFIG_DIR/$f.yaml"; } >>"$state/kwok.yaml"
  done
  swap_metric >>"$state/kwok.yaml"
}

# The Metric metrics-resource-swap: kwok's metrics-resource on another path, plus the swap
# families (kubelet pkg/kubelet/metrics/collectors/resource_metrics.go: node_swap_usage_bytes,
# container_swap_usage_bytes with labels container, namespace, pod).
swap_metric() {
  local q='"kwok.x-k8s.io/usage-swap"'
  echo "---"
  sed -e 's|^  name: metrics-resource$|  name: metrics-resource-swap|' \
    -e 's|^  path: "/metrics/nodes/{nodeName}/metrics/resource"$|  path: "/metrics/nodes/{nodeName}/metrics/resource-swap"|' \
    "$BIN_KWOK_CONFIG_DIR/metrics-resource.yaml"
  cat <<EOF
  - name: node_swap_usage_bytes
    dimension: node
    help: |
      [ALPHA] Current swap usage of the node in bytes. Reported only on non-windows systems
    kind: gauge
    value: '$q in node.metadata.annotations ? Quantity(node.metadata.annotations[$q]) : Quantity("0")'
  - name: container_swap_usage_bytes
    dimension: container
    help: |
      [ALPHA] Current amount of the container swap usage in bytes. Reported only on non-windows systems
    kind: gauge
    labels:
    - name: container
      value: 'container.name'
    - name: namespace
      value: 'pod.metadata.namespace'
    - name: pod
      value: 'pod.metadata.name'
    value: '$q in pod.metadata.annotations ? Quantity(pod.metadata.annotations[$q]) : Quantity("0")'
EOF
}

create_nodes() {
  local i name
  for ((i = 0; i < nodes; i++)); do
    name=kwok-node-$i
    cat <<EOF
---
apiVersion: v1
kind: Node
metadata:
  name: $name
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
    metrics.k8s.io/resource-metrics-path: /metrics/nodes/$name/metrics/resource
  labels:
    kubernetes.io/arch: amd64
    kubernetes.io/hostname: $name
    kubernetes.io/os: linux
    kubernetes.io/role: agent
    node-role.kubernetes.io/agent: ""
    type: kwok
status:
  allocatable: {cpu: "32", memory: 256Gi, pods: "$node_pods"}
  capacity: {cpu: "32", memory: 256Gi, pods: "$node_pods"}
  nodeInfo: {architecture: amd64, operatingSystem: linux}
EOF
  done | kubectl apply -f - >/dev/null
}

nodes_ready() {
  local ready
  ready=$(kubectl get nodes -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c '^True$' || true)
  [ "$ready" -ge "$nodes" ]
}

start_kwok() {
  kwok_config
  # --node-ip/--node-name/--node-port fill every node's addresses (InternalIP 127.0.0.1,
  # Hostname localhost) and kubelet port: all "kubelets" are this one kwok server.
  start kwok "$BIN_KWOK" --kubeconfig="$state/admin.kubeconfig" --config="$state/kwok.yaml" \
    --manage-all-nodes=true \
    --tls-cert-file="$pki/kwok.crt" --tls-private-key-file="$pki/kwok.key" \
    --node-ip=127.0.0.1 --node-name=localhost --node-port="$KWOK_PORT" \
    --server-address="127.0.0.1:$KWOK_PORT"
  WAIT_COMPONENT=kwok wait_for "kwok /healthz" "$timeout" curl -sf "http://127.0.0.1:$KWOK_PORT/healthz"
  create_nodes
  wait_for "$nodes kwok nodes Ready" "$timeout" nodes_ready
}

start_controller_manager() {
  local controllers=deployment-controller,replicaset-controller,horizontal-pod-autoscaler-controller,garbage-collector-controller,namespace-controller,serviceaccount-controller,clusterrole-aggregation-controller
  [ "${CLUSTER_SERVICE_ACCOUNTS:-0}" != 1 ] || controllers+=,root-ca-certificate-publisher-controller
  start kube-controller-manager "$BIN_KUBE_CONTROLLER_MANAGER" \
    --kubeconfig="$state/admin.kubeconfig" \
    --authentication-kubeconfig="$state/admin.kubeconfig" --authorization-kubeconfig="$state/admin.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$KCM_PORT" --leader-elect=false \
    --root-ca-file="$pki/ca.crt" --service-account-private-key-file="$pki/sa.key" \
    --use-service-account-credentials=false \
    --controllers="$controllers" \
    --horizontal-pod-autoscaler-sync-period="${HPA_SYNC_PERIOD:-5s}" \
    --horizontal-pod-autoscaler-cpu-initialization-period=10s \
    --horizontal-pod-autoscaler-initial-readiness-delay=5s \
    --horizontal-pod-autoscaler-downscale-stabilization=15s
  WAIT_COMPONENT=kube-controller-manager wait_for "kube-controller-manager /healthz" "$timeout" \
    curl -sfk "https://127.0.0.1:$KCM_PORT/healthz"
}

start_scheduler() {
  start kube-scheduler "$BIN_KUBE_SCHEDULER" \
    --kubeconfig="$state/admin.kubeconfig" \
    --authentication-kubeconfig="$state/admin.kubeconfig" --authorization-kubeconfig="$state/admin.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$SCHEDULER_PORT" --leader-elect=false
  WAIT_COMPONENT=kube-scheduler wait_for "kube-scheduler /healthz" "$timeout" \
    curl -sfk "https://127.0.0.1:$SCHEDULER_PORT/healthz"
}

# On a failed `up`, stop what was started and keep only the logs, in $state.failed-logs.
up_failed() {
  local rc=$?
  [ "$rc" -ne 0 ] || return 0
  trap - EXIT
  rm -rf "$state.failed-logs"
  cp -r "$logs" "$state.failed-logs" 2>/dev/null || true
  log "up failed; stopping what was started (logs kept in $state.failed-logs)"
  cmd_down >/dev/null 2>&1 || true
  exit "$rc"
}

cmd_up() {
  local t0
  t0=$(date +%s)
  load_binaries
  if [ -e "$state" ]; then die "a cluster already exists in $state (run: $0 down)"; fi
  trap up_failed EXIT
  mkdir -p "$state" "$pids" "$logs"
  "$here/build-binaries.sh" --print-env >"$state/binaries"
  local p
  read -r -a p <<<"$(free_ports 6)"
  cat >"$state/env" <<EOF
ETCD_PORT=${p[0]}
ETCD_PEER_PORT=${p[1]}
APISERVER_PORT=${p[2]}
KWOK_PORT=${p[3]}
KCM_PORT=${p[4]}
SCHEDULER_PORT=${p[5]}
EOF
  load_env
  make_pki
  kubeconfig "$state/admin.kubeconfig" admin "$pki/admin.crt" "$pki/admin.key"
  start_etcd
  start_apiserver
  case ${CLUSTER_COMPONENTS:-all} in
    all)
      [ "$nodes" = 0 ] || start_kwok
      start_controller_manager
      start_scheduler
      ;;
    apiserver) ;;
    *) die "CLUSTER_COMPONENTS must be all or apiserver, not ${CLUSTER_COMPONENTS}" ;;
  esac
  echo "UP_SECONDS=$(($(date +%s) - t0))" >>"$state/env"
  trap - EXIT
  log "cluster up in $(($(date +%s) - t0))s; use: eval \"\$($0 env)\""
}

cmd_down() {
  local f name port pid i alive names=() pidlist=()
  [ -d "$pids" ] || {
    log "nothing to stop in $state"
    rm -rf "$state"
    return 0
  }
  # A real node (real-node.sh) goes first: its pods, kubelet, containerd and host settings.
  if [ -d "$state/node" ]; then
    "$here/real-node.sh" down || log "warning: real-node.sh down failed (see above)"
  fi
  # TERM every process group this state dir started (backends first, then the control plane in
  # reverse start order), then wait for all of them together; KILL what is left after 15 s.
  for f in "$pids"/*.pid; do
    [ -e "$f" ] || continue
    name=$(basename "$f" .pid)
    case $name in
      etcd | kube-apiserver | kwok | kube-controller-manager | kube-scheduler) ;;
      *) names+=("$name") ;;
    esac
  done
  names+=(kube-scheduler kube-controller-manager kwok kube-apiserver etcd)
  for name in "${names[@]}"; do
    running "$name" || continue
    pid=$(cat "$pids/$name.pid")
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    pidlist+=("$pid")
  done
  for ((i = 0; i < 60; i++)); do
    alive=0
    for pid in "${pidlist[@]}"; do
      if kill -0 "$pid" 2>/dev/null; then alive=1; fi
    done
    [ "$alive" = 1 ] || break
    sleep 0.25
  done
  for pid in "${pidlist[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      log "pid $pid ignored TERM for 15s; killing its process group"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
      # A killed process with a large heap takes a moment to go away on a loaded machine; wait
      # for it (bounded) so `down` returns with nothing left, as the teardown checks assert.
      for ((i = 0; i < 40; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.25
      done
    fi
  done
  log "stopped: ${names[*]}"
  if [ -f "$state/env" ]; then
    while read -r port; do
      if ss -Hltn "sport = :$port" | grep -q .; then log "warning: port $port still in use"; fi
    done < <(sed -n 's/^[A-Z_]*PORT=\([0-9]*\)$/\1/p' "$state/env")
  fi
  rm -rf "$state"
  log "cluster down, $state removed"
}

cmd_env() {
  load_binaries
  load_env
  echo "export KUBECONFIG=$state/admin.kubeconfig"
  echo "export KUBECTL=$BIN_KUBECTL"
  echo "export CLUSTER_STATE_DIR=$state"
  sed 's/^/export CLUSTER_/' "$state/env"
}

cmd_status() {
  local f name
  load_binaries
  load_env
  for f in "$pids"/*.pid; do
    [ -e "$f" ] || continue
    name=$(basename "$f" .pid)
    if running "$name"; then echo "$name: running (pid $(cat "$f"))"; else echo "$name: DEAD (log: $logs/$name.log)"; fi
  done
  echo "apiserver readyz: $(kubectl get --raw /readyz 2>&1 || true)"
  kubectl get nodes -o wide 2>&1 || true
  kubectl get apiservices -l '!kube-aggregator.kubernetes.io/automanaged' 2>&1 || true
}

# --- backends -------------------------------------------------------------------------------

backend_certs() {
  local name=$1
  [ -f "$pki/$name-serving.crt" ] ||
    sign "$name-serving" "/CN=$name" ca serverAuth \
      "DNS:localhost,DNS:$name.kube-system.svc,DNS:$name.kube-system.svc.cluster.local,IP:127.0.0.1"
  [ -f "$pki/$name-client.crt" ] || {
    sign "$name-client" "/CN=system:serviceaccount:kube-system:$name" ca clientAuth
    kubeconfig "$state/$name.kubeconfig" "$name" "$pki/$name-client.crt" "$pki/$name-client.key"
  }
}

cmd_rbac() {
  local name=$1
  load_binaries
  load_env
  kubectl apply -f - >/dev/null <<EOF
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "backend:$name"}
rules:
- apiGroups: [""]
  resources: [nodes/metrics]
  verbs: [get]
- apiGroups: [""]
  resources: [nodes, pods]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "backend:$name"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "backend:$name"}
subjects: [{kind: ServiceAccount, name: $name, namespace: kube-system}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "backend:$name:auth-delegator"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:auth-delegator"}
subjects: [{kind: ServiceAccount, name: $name, namespace: kube-system}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: "backend:$name:auth-reader", namespace: kube-system}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: extension-apiserver-authentication-reader}
subjects: [{kind: ServiceAccount, name: $name, namespace: kube-system}]
EOF
  log "RBAC applied for system:serviceaccount:kube-system:$name"
}

cmd_backend() {
  local name=$1 port=$2 bin args=() a
  shift 2
  [ "${1:-}" = -- ] && shift
  [ $# -gt 0 ] || die "usage: $0 backend NAME PORT -- CMD [ARGS...]"
  load_binaries
  load_env
  backend_certs "$name"
  bin=$(command -v "$1") || die "backend command $1 not found"
  bin=$(readlink -f "$bin")
  shift
  for a in "$@"; do
    a=${a//\{port\}/$port}
    a=${a//\{cert\}/$pki/$name-serving.crt}
    a=${a//\{key\}/$pki/$name-serving.key}
    a=${a//\{ca\}/$pki/ca.crt}
    a=${a//\{kubeconfig\}/$state/$name.kubeconfig}
    a=${a//\{state\}/$state}
    a=${a//\{name\}/$name}
    args+=("$a")
  done
  echo "${name^^}_PORT=$port" | tr '-' '_' >>"$state/env"
  start "$name" "$bin" "${args[@]}"
  # Ready = /readyz answers 200 to the admin over TLS verified against the cluster CA (or
  # BACKEND_CA, for BACKEND_SERVER_NAME).
  local ready=${BACKEND_READY_PATH:-/readyz} host=${BACKEND_SERVER_NAME:-127.0.0.1}
  WAIT_COMPONENT=$name wait_for "$name https://$host:$port$ready" "$timeout" \
    curl -s -o /dev/null --cacert "${BACKEND_CA:-$pki/ca.crt}" --cert "$pki/admin.crt" \
    --key "$pki/admin.key" --connect-to "$host:$port:127.0.0.1:$port" -f "https://$host:$port$ready"
}

cmd_metrics_server() {
  local name=${1:-metrics-server} port=${2:-}
  [ -n "$port" ] || port=$(free_ports 1)
  load_binaries
  cmd_rbac "$name"
  cmd_backend "$name" "$port" -- "$BIN_METRICS_SERVER" \
    '--secure-port={port}' --bind-address=127.0.0.1 \
    '--tls-cert-file={cert}' '--tls-private-key-file={key}' \
    '--kubeconfig={kubeconfig}' '--authentication-kubeconfig={kubeconfig}' \
    '--authorization-kubeconfig={kubeconfig}' \
    --kubelet-insecure-tls --kubelet-use-node-status-port \
    --kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname --metric-resolution=15s
}

# apiservice_available [VERSION]: APIService VERSION.metrics.k8s.io (default v1beta1) is Available.
apiservice_available() {
  [ "$(kubectl get apiservice "${1:-v1beta1}.metrics.k8s.io" \
    -o jsonpath='{.status.conditions[?(@.type=="Available")].status}')" = True ]
}

cmd_register() {
  local name=$1 port=$2 mode=cabundle tls t0 a v versions=(v1beta1) priority
  shift 2
  for a in "$@"; do
    case $a in
      --insecure) mode=--insecure ;;
      --versions=*) IFS=, read -r -a versions <<<"${a#--versions=}" ;;
      *) die "register: unknown argument $a (want --insecure, --versions=v1beta1,v1)" ;;
    esac
  done
  load_binaries
  load_env
  if [ "$mode" = --insecure ]; then
    tls="insecureSkipTLSVerify: true"
  else
    tls="caBundle: $(base64 -w0 "$pki/ca.crt")"
  fi
  t0=$(date +%s)
  {
    cat <<EOF
apiVersion: v1
kind: Service
metadata: {name: $name, namespace: kube-system}
spec: {type: ExternalName, externalName: localhost}
EOF
    for v in "${versions[@]}"; do
      case $v in
        v1beta1) priority=100 ;;
        v1) priority=200 ;;
        *) die "register: unknown metrics.k8s.io version $v" ;;
      esac
      cat <<EOF
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: $v.metrics.k8s.io}
spec:
  group: metrics.k8s.io
  version: $v
  groupPriorityMinimum: 100
  versionPriority: $priority
  $tls
  service: {name: $name, namespace: kube-system, port: $port}
EOF
    done
  } | kubectl apply -f - >/dev/null
  for v in "${versions[@]}"; do
    # A previous registration's Available=True may linger for a moment: require the new service.
    wait_for "APIService $v.metrics.k8s.io -> $name:$port ($mode) Available" "$timeout" \
      apiservice_available_for "$name" "$port" "$v" || {
      kubectl get apiservice "$v.metrics.k8s.io" \
        -o jsonpath='{range .status.conditions[*]}{.type}={.status} {.reason}: {.message}{"\n"}{end}' >&2
      return 1
    }
  done
  echo "APISERVICE_AVAILABLE_SECONDS=$(($(date +%s) - t0))" >>"$state/env"
}

# apiservice_available_for NAME PORT [VERSION]
apiservice_available_for() {
  local got v=${3:-v1beta1}
  got=$(kubectl get apiservice "$v.metrics.k8s.io" -o jsonpath='{.spec.service.name}:{.spec.service.port}')
  [ "$got" = "$1:$2" ] && apiservice_available "$v" && kubectl get --raw "/apis/metrics.k8s.io/$v" >/dev/null
}

cmd_workload() {
  local n=${1:-2}
  load_binaries
  load_env
  kubectl apply -f - >/dev/null <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: demo, namespace: default}
spec:
  replicas: $n
  selector: {matchLabels: {app: demo}}
  template:
    metadata:
      labels: {app: demo}
      annotations: {kwok.x-k8s.io/usage-cpu: 250m, kwok.x-k8s.io/usage-memory: 64Mi}
    spec:
      containers:
      - name: app
        image: fake
        resources: {requests: {cpu: 500m, memory: 128Mi}}
EOF
  wait_for "deployment demo: $n pods Running" "$timeout" demo_running "$n"
}

demo_running() {
  [ "$(kubectl get pods -l app=demo --field-selector=status.phase=Running -o name | wc -l)" -ge "$1" ]
}

cmd_query() {
  local name=$1 path=$2 var port
  load_env
  var=$(echo "${name^^}_PORT" | tr '-' '_')
  port=${!var:-}
  [ -n "$port" ] || die "no port recorded for backend $name"
  curl -sS --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" "https://127.0.0.1:$port$path"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) cmd_env ;;
  rbac) cmd_rbac "$@" ;;
  backend) cmd_backend "$@" ;;
  metrics-server) cmd_metrics_server "$@" ;;
  register) cmd_register "$@" ;;
  stop) stop_component "${1:?usage: $0 stop NAME}" ;;
  workload) cmd_workload "$@" ;;
  query) cmd_query "$@" ;;
  free-port) free_ports 1 ;;
  *)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    [ -z "$cmd" ] || [ "$cmd" = help ] || [ "$cmd" = -h ] || exit 2
    ;;
esac
