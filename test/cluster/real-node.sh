#!/usr/bin/env bash
# One real node beside the control plane of cluster.sh: the kubelet of the same Kubernetes release
# (build-binaries.sh with WITH_KUBELET=1), Debian's containerd 1.6 and runc, as processes of this
# state dir. Node name and InternalIP 127.0.0.1 (--hostname-override); the kubelet serves 10250
# on 127.0.0.1 only. No registry: the sandbox (pause) image is built from the kubelet release's
# own build/pause/linux/pause.c (static), a busybox image from Debian's busybox-static, and images
# are imported with `ctr images import`.
#
# Usage (after `cluster.sh up`, same CLUSTER_STATE_DIR):
#   test/cluster/real-node.sh up               host checks, images, containerd, kubelet; waits Ready
#   test/cluster/real-node.sh import ARCHIVE [--base-name NAME]
#                                              ctr images import into the node's containerd
#   test/cluster/real-node.sh down             pods, kubelet, containerd, shims, mounts, cgroups,
#                                              sysctls back as they were; cluster.sh down calls it
#   test/cluster/real-node.sh env              shell exports: NODE_CTR (ctr command), NODE_DIR
#
# Host changes, all undone by `down`:
#   - the kubelet sets six sysctls (vm.overcommit_memory, vm.panic_on_oom, kernel.panic,
#     kernel.panic_on_oops, kernel.keys.root_maxkeys/maxbytes); their values are saved first;
#   - cgroups kubepods/... in every v1 hierarchy (cgroupfs driver);
#   - mounts under the node's state dir (container rootfs, shm, projected volumes);
#   - containerd 1.6 shims put their sockets in /run/containerd/s whatever the configured state
#     dir; down removes those directories if they are empty and did not exist before.
# The CNI configuration (bridge cmsbr0, no gateway, no masquerade, no IP forwarding) only makes
# the runtime report NetworkReady; the pods this suite runs use the host network, so the plugin
# is never invoked and no bridge is created (down deletes it if one exists).
#
# Environment: CLUSTER_STATE_DIR (as cluster.sh), CMS_IMAGE_CACHE (as scripts/build-image.sh),
# CLUSTER_TIMEOUT, RUNC (default /usr/sbin/runc), CNI_BIN_DIR (default /usr/lib/cni).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
state=${CLUSTER_STATE_DIR:-${TMPDIR:-/tmp}/cpp-metrics-server-cluster}
timeout=${CLUSTER_TIMEOUT:-120}
node=$state/node
pki=$state/pki
run=$node/run
sock=$run/containerd.sock
img_cache=${CMS_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cpp-metrics-server/images}
runc_bin=${RUNC:-/usr/sbin/runc}
cni_bin=${CNI_BIN_DIR:-/usr/lib/cni}
node_name=127.0.0.1
pause_image=localhost/cpp-metrics-server-pause:3.10.2
busybox_image=localhost/cpp-metrics-server-busybox:1.35.0
sysctls=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
  kernel.keys.root_maxkeys kernel.keys.root_maxbytes)

log() { echo "[real-node] $*" >&2; }
die() {
  echo "[real-node] FAILED: $*" >&2
  exit 1
}

[ -f "$state/env" ] || die "no cluster in $state (run cluster.sh up first)"
# shellcheck source=/dev/null
. "$state/env"
kubectl_bin=$(sed -n 's/^KUBECTL=//p' "$state/binaries")
kubectl() { "$kubectl_bin" --kubeconfig="$state/admin.kubeconfig" "$@"; }
ctr_() { ctr --address "$sock" --namespace k8s.io "$@"; }

# start NAME CMD...: own session, log and pid in the node dir.
start() {
  local name=$1 pid
  shift
  setsid "$@" >"$node/$name.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$node/$name.pid"
  sleep 0.5
  kill -0 "$pid" 2>/dev/null || {
    tail -n 20 "$node/$name.log" >&2
    die "$name exited at once: $* (log: $node/$name.log)"
  }
  log "$name started (pid $pid, log $node/$name.log)"
}

# stop NAME [SECONDS]: TERM its process group, KILL after SECONDS (default 15).
stop() {
  local name=$1 limit=${2:-15} pid i
  [ -f "$node/$name.pid" ] || return 0
  pid=$(cat "$node/$name.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < limit * 4; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.25
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "$name (pid $pid) ignored TERM for ${limit}s; killing"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
      sleep 1
    fi
    log "$name stopped (pid $pid)"
  fi
  rm -f "$node/$name.pid"
}

wait_for() {
  local what=$1 limit=$2 t0
  shift 2
  t0=$(date +%s)
  until "$@" >/dev/null 2>&1; do
    if (($(date +%s) - t0 >= limit)); then
      log "timed out after ${limit}s waiting for $what"
      return 1
    fi
    sleep 1
  done
  log "$what: after $(($(date +%s) - t0))s"
}

# --- images ---------------------------------------------------------------------------------

# bah ARGS: buildah on its own storage in the image cache (as scripts/build-image.sh).
bah() { buildah --root "$img_cache/storage" --runroot "$node/buildah-run" --storage-driver vfs "$@"; }

# single_binary_image NAME BINARY ENTRYPOINT_JSON USER ARCHIVE: FROM scratch + one binary.
single_binary_image() {
  local name=$1 bin=$2 entry=$3 user=$4 archive=$5 c
  c=$(bah from scratch) || die "buildah from scratch ($name)"
  bah copy "$c" "$bin" "/$(basename "$bin")" >/dev/null &&
    bah config --entrypoint "$entry" --cmd '' --user "$user" --os linux \
      --arch "$(dpkg --print-architecture)" "$c" &&
    bah commit --quiet "$c" "$name" >/dev/null &&
    bah push --quiet "$name" "docker-archive:$archive.tmp:$name" >/dev/null ||
    {
      bah rm "$c" >/dev/null 2>&1 || true
      die "building image $name"
    }
  bah rm "$c" >/dev/null
  mv "$archive.tmp" "$archive"
}

build_images() {
  mkdir -p "$img_cache" "$node/buildah-run"
  local pause_tar=$img_cache/pause-3.10.2.tar busybox_tar=$img_cache/busybox-1.35.0.tar src
  if ! [ -s "$pause_tar" ]; then
    # The kubelet release's own pause.c, built as its Makefile does (static, -Os), FROM scratch,
    # USER 65535, ENTRYPOINT /pause.
    src=$(PATH=/usr/local/go/bin:$PATH go env GOMODCACHE)/k8s.io/kubernetes@$K8S_VERSION/build/pause/linux/pause.c
    [ -f "$src" ] || die "pause source $src missing (build-binaries.sh downloads the module)"
    mkdir -p "$node/pause"
    gcc -Os -Wall -Werror -static -DVERSION=v3.10.2-local -o "$node/pause/pause" "$src" ||
      die "gcc -static pause.c (needs libc6-dev)"
    strip "$node/pause/pause"
    single_binary_image "$pause_image" "$node/pause/pause" '["/pause"]' 65535:65535 "$pause_tar"
    log "pause image $pause_image -> $pause_tar"
  fi
  if ! [ -s "$busybox_tar" ]; then
    local v
    v=$(dpkg-query -W -f '${Version}' busybox-static 2>/dev/null || true)
    [ -n "$v" ] || die "busybox-static not installed (apt-get install busybox-static)"
    single_binary_image "$busybox_image" /bin/busybox '["/busybox"]' 65534:65534 "$busybox_tar"
    log "busybox image $busybox_image (Debian busybox-static $v) -> $busybox_tar"
  fi
  rm -rf "$node/buildah-run"
}

# --- configuration --------------------------------------------------------------------------

node_pki() {
  local ext
  ext=$(mktemp)
  # client: the node identity; serving: 10250 on 127.0.0.1, signed by the cluster CA, so a
  # scraper verifies it with the in-cluster CA.
  for pair in "kubelet-client|/O=system:nodes/CN=system:node:$node_name|clientAuth|" \
    "kubelet-serving|/CN=system:node:$node_name|serverAuth|IP:127.0.0.1,DNS:localhost"; do
    IFS='|' read -r name subj usage sans <<<"$pair"
    {
      echo "basicConstraints=critical,CA:FALSE"
      echo "keyUsage=critical,digitalSignature,keyEncipherment"
      echo "extendedKeyUsage=$usage"
      [ -z "$sans" ] || echo "subjectAltName=$sans"
    } >"$ext"
    openssl req -newkey rsa:2048 -nodes -subj "$subj" -keyout "$pki/$name.key" -out "$pki/$name.csr" 2>/dev/null
    openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
      -days 30 -extfile "$ext" -out "$pki/$name.crt" 2>/dev/null
    rm -f "$pki/$name.csr"
  done
  rm -f "$ext"
  cat >"$node/kubelet.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: {server: "https://127.0.0.1:$APISERVER_PORT", certificate-authority: $pki/ca.crt}
users:
- name: kubelet
  user: {client-certificate: $pki/kubelet-client.crt, client-key: $pki/kubelet-client.key}
contexts:
- name: local
  context: {cluster: local, user: kubelet}
current-context: local
EOF
}

write_configs() {
  mkdir -p "$node/cni/net.d" "$node/cni/networks" "$node/containerd" "$run" "$node/kubelet" "$node/pod-logs"
  # containerd 1.6 (config version 2), everything under the node dir; restrict_oom_score_adj:
  # this host refuses negative oom_score_adj (no CAP_SYS_RESOURCE) and the sandbox asks -998.
  # No base_runtime_spec: CRI then sets no rlimits, containers inherit the shim's.
  cat >"$node/containerd.toml" <<EOF
version = 2
root = "$node/containerd"
state = "$run/state"
oom_score = 0
[grpc]
  address = "$sock"
[debug]
  level = "info"
[plugins."io.containerd.internal.v1.opt"]
  path = "$node/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$pause_image"
  restrict_oom_score_adj = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_cdi = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$runc_bin"
        Root = "$run/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$cni_bin"
    conf_dir = "$node/cni/net.d"
EOF
  cat >"$node/cni/net.d/10-cms.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "cms",
  "plugins": [
    {"type": "bridge", "bridge": "cmsbr0", "isGateway": false, "ipMasq": false,
     "ipam": {"type": "host-local", "dataDir": "$node/cni/networks",
              "ranges": [[{"subnet": "10.244.77.0/24"}]]}}
  ]
}
EOF
  cat >"$node/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupsPerQOS: true
enforceNodeAllocatable: [pods]
containerRuntimeEndpoint: unix://$sock
address: 127.0.0.1
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
tlsCertFile: $pki/kubelet-serving.crt
tlsPrivateKeyFile: $pki/kubelet-serving.key
rotateCertificates: false
serverTLSBootstrap: false
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: Webhook}
failSwapOn: false
makeIPTablesUtilChains: false
maxOpenFiles: $(ulimit -Hn)
oomScoreAdj: 0
evictionHard: {memory.available: 100Mi, nodefs.available: 2%, imagefs.available: 2%}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 95
podLogsDir: $node/pod-logs
registerNode: true
syncFrequency: 10s
nodeStatusUpdateFrequency: 10s
EOF
}

# --- up / down ------------------------------------------------------------------------------

host_checks() {
  [ "$(id -u)" = 0 ] || die "needs root (containerd, runc, cgroups)"
  local b
  for b in containerd ctr "$runc_bin" buildah gcc openssl; do
    command -v "$b" >/dev/null || die "$b not found (apt-get install containerd runc buildah build-essential)"
  done
  [ -x "$cni_bin/bridge" ] && [ -x "$cni_bin/host-local" ] ||
    die "CNI plugins missing in $cni_bin (apt-get install containernetworking-plugins)"
  [ -x "${KUBELET:-}" ] || die "kubelet not built: WITH_KUBELET=1 $here/build-binaries.sh"
  local c
  for c in cpu cpuacct cpuset memory; do
    grep -qw "$c" /proc/self/cgroup || die "cgroup controller $c not mounted (the kubelet needs it)"
  done
  [ -c /dev/kmsg ] || die "/dev/kmsg missing (the kubelet's OOM watcher needs it)"
  if ss -Hltn 'sport = :10250' | grep -q .; then die "port 10250 is taken (another kubelet?)"; fi
}

cmd_up() {
  local t0 s
  t0=$(date +%s)
  [ -d "$node" ] && die "a node already exists in $node (run: $0 down)"
  mkdir -p "$node"
  KUBELET=$("$here/build-binaries.sh" --print-env 2>/dev/null | sed -n 's/^KUBELET=//p') || true
  [ -n "$KUBELET" ] || KUBELET=$(WITH_KUBELET=1 "$here/build-binaries.sh" --print-env | sed -n 's/^KUBELET=//p')
  host_checks
  K8S_VERSION=$("$KUBELET" --version | awk '{print $2}')
  KUBELET_HEALTHZ_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  : >"$node/sysctls"
  [ -e /run/containerd ] || touch "$node/made-run-containerd"
  for s in "${sysctls[@]}"; do echo "$s=$(sysctl -n "$s")" >>"$node/sysctls"; done
  build_images
  node_pki
  write_configs
  # The node's identity: the built-in system:node role (pods, node status, leases, service
  # account tokens of its pods) and TokenReview/SubjectAccessReview for its webhook authn/authz.
  kubectl apply -f - >/dev/null <<EOF
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "real-node:system:node"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:node"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:node:$node_name"}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "real-node:auth-delegator"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:auth-delegator"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:node:$node_name"}]
EOF
  start containerd containerd --config "$node/containerd.toml"
  wait_for "containerd socket" "$timeout" ctr --address "$sock" version || die "containerd did not answer"
  ctr_ images import "$img_cache/pause-3.10.2.tar" >/dev/null || die "ctr images import pause"
  ctr_ images import "$img_cache/busybox-1.35.0.tar" >/dev/null || die "ctr images import busybox"
  ctr_ images label "$pause_image" io.cri-containerd.pinned=pinned >/dev/null 2>&1 || true
  start kubelet "$KUBELET" --config="$node/kubelet.yaml" --kubeconfig="$node/kubelet.kubeconfig" \
    --hostname-override="$node_name" --root-dir="$node/kubelet" --v=2
  {
    echo "KUBELET=$KUBELET"
    echo "K8S_VERSION=$K8S_VERSION"
    echo "KUBELET_HEALTHZ_PORT=$KUBELET_HEALTHZ_PORT"
  } >"$node/env"
  if ! wait_for "node $node_name Ready" "$timeout" node_ready; then
    tail -n 30 "$node/kubelet.log" >&2
    die "node $node_name not Ready (logs: $node/kubelet.log, $node/containerd.log)"
  fi
  log "real node up in $(($(date +%s) - t0))s"
}

node_ready() {
  [ "$(kubectl get node "$node_name" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]
}

cmd_import() {
  local archive=$1
  shift
  [ -S "$sock" ] || die "no containerd running for $node"
  local out ref full
  out=$(ctr_ images import "$@" "$archive") || die "ctr images import $* $archive"
  echo "$out"
  # An OCI archive names its image as written (cpp-metrics-server:0.1.0); the kubelet asks CRI
  # for the normalized reference (docker.io/library/cpp-metrics-server:0.1.0): add that name.
  for ref in $(sed -n 's/^unpacking \([^ ]*\) (sha256:.*/\1/p' <<<"$out"); do
    case $ref in
      */*) ;;
      *)
        full=docker.io/library/$ref
        ctr_ images tag --force "$ref" "$full" >/dev/null || die "ctr images tag $ref $full"
        echo "tagged $full"
        ;;
    esac
  done
}

# Mounts at or below DIR, deepest first.
mounts_under() { awk -v d="$1" '$5 == d || index($5, d "/") == 1 {print $5}' /proc/self/mountinfo | sort -r; }

cmd_down() {
  [ -d "$node" ] || return 0
  local pid m c d i s
  if [ -f "$node/kubelet.pid" ] && [ -n "$kubectl_bin" ]; then
    # Pods first, through the kubelet, so that it stops their containers and sandboxes.
    kubectl delete pods -A --field-selector "spec.nodeName=$node_name" --wait=false >/dev/null 2>&1 || true
    for ((i = 0; i < 60; i++)); do
      [ -z "$(ctr_ tasks ls -q 2>/dev/null)" ] &&
        [ -z "$(kubectl get pods -A --field-selector "spec.nodeName=$node_name" -o name 2>/dev/null)" ] &&
        break
      sleep 0.5
    done
  fi
  stop kubelet
  # Whatever is left: kill the tasks, delete them and their containers.
  if [ -S "$sock" ]; then
    for c in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks kill -s KILL "$c" >/dev/null 2>&1 || true; done
    sleep 1
    for c in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks delete -f "$c" >/dev/null 2>&1 || true; done
    for c in $(ctr_ containers ls -q 2>/dev/null); do ctr_ containers delete "$c" >/dev/null 2>&1 || true; done
  fi
  stop containerd
  # Shims started for this containerd (its socket in their command line) outlive it.
  for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address $sock" || true); do
    kill -KILL "$pid" 2>/dev/null || true
  done
  for m in $(mounts_under "$node"); do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "could not unmount $m"; done
  # cgroups: the kubelet's kubepods tree in every v1 hierarchy, deepest first.
  for d in /sys/fs/cgroup/*/kubepods; do
    [ -d "$d" ] || continue
    find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    [ ! -d "$d" ] || log "cgroup $d left (processes still in it?)"
  done
  if [ -f "$node/made-run-containerd" ]; then
    rmdir /run/containerd/s /run/containerd/runc/k8s.io /run/containerd/runc /run/containerd 2>/dev/null || true
  fi
  if ip link show cmsbr0 >/dev/null 2>&1; then ip link delete cmsbr0 || log "could not delete bridge cmsbr0"; fi
  if [ -f "$node/sysctls" ]; then
    while IFS='=' read -r s v; do
      [ "$(sysctl -n "$s")" = "$v" ] || { sysctl -q -w "$s=$v" >/dev/null && log "restored $s=$v"; }
    done <"$node/sysctls"
  fi
  if [ -n "$kubectl_bin" ] && kubectl get --raw /readyz >/dev/null 2>&1; then
    kubectl delete node "$node_name" --ignore-not-found >/dev/null 2>&1 || true
    kubectl delete clusterrolebinding real-node:system:node real-node:auth-delegator --ignore-not-found >/dev/null 2>&1 || true
  fi
  [ -z "$(mounts_under "$node")" ] || die "mounts left under $node: $(mounts_under "$node" | tr '\n' ' ')"
  rm -rf "$node"
  log "real node down, host settings restored"
}

cmd_env() {
  [ -f "$node/env" ] || die "no real node in $node"
  sed 's/^/export NODE_/' "$node/env"
  echo "export NODE_DIR=$node"
  echo "export NODE_CTR='ctr --address $sock --namespace k8s.io'"
}

case ${1:-} in
  up) cmd_up ;;
  down) cmd_down ;;
  import)
    shift
    cmd_import "$@"
    ;;
  env) cmd_env ;;
  *)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 2
    ;;
esac
