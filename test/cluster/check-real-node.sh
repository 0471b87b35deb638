#!/usr/bin/env bash
# Functions are called through wait_until/assert:
# shellcheck disable=SC2317
# Our image as a pod on a real kubelet. Builds (cached) the kubelet of the control plane's release
# and the image from the unchanged Dockerfile (scripts/build-image.sh), brings up a control plane
# without kwok (cluster.sh, CLUSTER_NODES=0, ServiceAccount tokens on) and one real node
# (real-node.sh: kubelet + containerd + runc, node 127.0.0.1), imports the image and installs
# overlays/host-network with kubectl apply -k. Then asserts:
#   - the container runs as 65534:65534, read-only root file system, no capabilities (runtime
#     spec from containerd and the live process's /proc status);
#   - its readiness and liveness probes pass (Ready, no restart);
#   - the APIService turns Available; kubectl top nodes / pods work;
#   - the kubelet's /metrics/resource has the families the scraper reads, is sent chunked as the
#     benchmarks' simulated kubelets send it, and the server logs no parse warning;
#   - a workload burning CPU under a 200m limit: kubectl top pods --containers within 5 % of the
#     container cgroup's own cpuacct.usage delta, and its memory within 5 % of the cgroup's
#     working set (usage - total_inactive_file).
# Then the behaviour on a real node:
#   - that workload's container killed (SIGKILL from the host): the kubelet restarts it, the
#     served CPU stays within [0, 1.2 x the limit], the pod is served again within two
#     resolutions of the restart;
#   - an HPA on real CPU consumption scales a Deployment 1 -> 2 and, the load stopped, 2 -> 1;
#   - our own container killed: restarted, the node served again through the APIService within
#     one resolution plus start-up of the restart;
#   - a rolling upgrade to a second tag of the same image (kubectl set image) with the overlay's
#     strategy (maxSurge 1, maxUnavailable 0) on the one host-network node completes, and
#     kubectl top pods -A polled every second throughout never fails (the overlay declares no
#     host port and shares 4443 with --permit-port-sharing);
#   - ephemeral storage: with --kubelet-summary-api (overlays/ephemeral-storage's two changes)
#     the node's and every container's ephemeral-storage match the kubelet's /stats/summary;
#     swap: the kubelet's node_swap_usage_bytes is served as usage.swap.
# Prints PASS:/FAIL: lines and "N passed, M failed"; a piece that cannot be built or run is a
# FAIL with the reason, never a skip. Needs root, Debian's containerd, runc, buildah, mmdebstrap,
# containernetworking-plugins, busybox-static, Go and the Go module proxy on the first build.
#
# The cluster here has no kube-proxy and no pod network, so the test installs the overlay through
# a local kustomization that changes only what that requires (printed at run time):
#   - KUBERNETES_SERVICE_HOST/PORT -> the loopback kube-apiserver (the in-cluster config would
#     use the `kubernetes` Service's ClusterIP, which nothing routes here);
#   - the Service becomes ExternalName localhost and the APIService port the server's 4443 (the
#     aggregator reaches an ExternalName at https://<name>:<APIService port>; Endpoints may not
#     hold loopback addresses).
#
# Environment: REAL_NODE_TIMEOUT (each wait, default 180), CHECK_KEEP / CHECK_KEEP_LOGS,
# REAL_NODE_LOCK (the lock a second run waits on, default /run/lock/cpp-metrics-server-real-node.lock).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
limit=${REAL_NODE_TIMEOUT:-180}
name=cpp-metrics-server
export CLUSTER_NODES=0 CLUSTER_SERVICE_ACCOUNTS=1 CLUSTER_TIMEOUT=$limit WITH_KUBELET=1

check_name=real-node
# shellcheck source-path=SCRIPTDIR source=check-lib.sh
. "$here/check-lib.sh"
work=$check_work
check_cleanup() {
  if [ -n "${CLUSTER_STATE_DIR:-}" ] && [ -d "$CLUSTER_STATE_DIR/node" ] &&
    { [ "$check_failed" != 0 ] || [ "${CHECK_KEEP_LOGS:-0}" = 1 ]; }; then
    mkdir -p "$work/node-logs"
    cp "$CLUSTER_STATE_DIR"/node/*.log "$work/node-logs/" 2>/dev/null || true
    cp -r "$CLUSTER_STATE_DIR/node/pod-logs" "$work/node-logs/" 2>/dev/null || true
  fi
}
timed() { # timed LABEL CMD...: runs CMD, logs its duration
  local label=$1 t0=$SECONDS rc
  shift
  "$@"
  rc=$?
  log "$label: $((SECONDS - t0))s"
  return $rc
}

# --- build ------------------------------------------------------------------------------------

[ "$(id -u)" = 0 ] || fatal "needs root: containerd, runc, cgroups (run as root)"
# One real node per host (127.0.0.1:10250, containerd's /run/containerd, host sysctls): a second
# run waits for the first instead of failing on the port.
lock=${REAL_NODE_LOCK:-/run/lock/cpp-metrics-server-real-node.lock}
exec {lock_fd}>"$lock" || fatal "cannot open the lock file $lock"
if ! flock -n "$lock_fd"; then
  log "another real-node run holds $lock; waiting (at most 60 min)"
  timed lock-wait flock -w 3600 "$lock_fd" || fatal "another real-node run held $lock for 60 min"
fi
log "binaries with the kubelet (test/cluster/build-binaries.sh, WITH_KUBELET=1; cached)"
if ! timed build-binaries "$here/build-binaries.sh" >"$work/build-binaries.log" 2>&1; then
  tail -n 30 "$work/build-binaries.log"
  fatal "binaries: WITH_KUBELET=1 test/cluster/build-binaries.sh failed (log above)"
fi
pass "kubelet built: $(sed -n 's/^KUBELET=//p' "$work/build-binaries.log" | xargs -r dirname | xargs -r basename)"
version=$(sed -n 's/^project(cpp-metrics-server VERSION \([0-9.]*\).*/\1/p' "$repo/CMakeLists.txt")
log "image cpp-metrics-server:$version (scripts/build-image.sh; base images and layers cached)"
if ! timed build-image "$repo/scripts/build-image.sh" >"$work/build-image.log" 2>&1; then
  tail -n 30 "$work/build-image.log"
  fatal "image: scripts/build-image.sh failed (log above)"
fi
archive=$repo/build/image/cpp-metrics-server_$version.oci.tar
pass "image built: $(tr '\n' ' ' <"$repo/build/image/cpp-metrics-server_$version.info")"

# --- cluster and node -------------------------------------------------------------------------

check_cluster_up --own-cluster
k() { "$KUBECTL" "$@"; }
if ! timed real-node "$here/real-node.sh" up >"$work/node-up.log" 2>&1; then
  tail -n 40 "$work/node-up.log"
  fatal "real node: test/cluster/real-node.sh up failed (log above)"
fi
pass "node 127.0.0.1 Ready: kubelet $(k get node 127.0.0.1 -o jsonpath='{.status.nodeInfo.kubeletVersion}'), runtime $(k get node 127.0.0.1 -o jsonpath='{.status.nodeInfo.containerRuntimeVersion}')"
eval "$("$here/real-node.sh" env)"
ctr_() { $NODE_CTR "$@"; }
if ! "$here/real-node.sh" import "$archive" >"$work/import.log" 2>&1; then
  cat "$work/import.log"
  fatal "ctr images import $archive failed"
fi
assert "image imported into the node's containerd as $name:$version" \
  sh -c "$NODE_CTR images ls -q | grep -x 'docker.io/library/$name:$version'"

# --- install as a user does -------------------------------------------------------------------

mkdir -p "$work/install"
# kustomize takes only relative paths to a base.
overlay=$(realpath --relative-to="$work/install" "$repo/overlays/host-network")
cat >"$work/install/kustomization.yaml" <<EOF
# overlays/host-network, adapted to a cluster without kube-proxy or pod network (see the header
# of check-real-node.sh).
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- $overlay
patches:
- target: {kind: Deployment, name: $name}
  patch: |-
    - op: add
      path: /spec/template/spec/containers/0/env
      value:
      - {name: KUBERNETES_SERVICE_HOST, value: "127.0.0.1"}
      - {name: KUBERNETES_SERVICE_PORT, value: "$CLUSTER_APISERVER_PORT"}
- target: {kind: Service, name: $name}
  patch: |-
    - op: remove
      path: /spec/selector
    - op: add
      path: /spec/type
      value: ExternalName
    - op: add
      path: /spec/externalName
      value: localhost
- target: {kind: APIService, name: v1beta1.metrics.k8s.io}
  patch: |-
    - op: replace
      path: /spec/service/port
      value: 4443
EOF
k kustomize "$repo/overlays/host-network" >"$work/overlay.yaml" 2>&1 || fatal "kubectl kustomize overlays/host-network failed"
k kustomize "$work/install" >"$work/install.yaml" 2>&1 || fatal "kubectl kustomize of the local adaptation failed: $(cat "$work/install.yaml")"
diff -u "$work/overlay.yaml" "$work/install.yaml" | sed 's/^/    /' | grep '^    [-+] ' || true
t_apply=$SECONDS
assert "kubectl apply -k overlays/host-network (through the adaptation above)" k apply -k "$work/install"
pod_ready() {
  [ "$(k -n kube-system get pods -l app.kubernetes.io/name=$name \
    -o jsonpath='{.items[0].status.conditions[?(@.type=="Ready")].status}')" = True ]
}
if wait_until "$limit" pod_ready; then
  pass "pod on node $(k -n kube-system get pods -l app.kubernetes.io/name=$name -o jsonpath='{.items[0].spec.nodeName}') Ready (readiness probe /readyz passed) $((SECONDS - t_apply))s after apply"
else
  k -n kube-system describe pods -l app.kubernetes.io/name=$name | tail -n 25
  tail -n 20 "$NODE_DIR/kubelet.log"
  fatal "our pod not Ready within ${limit}s"
fi
pod=$(k -n kube-system get pods -l app.kubernetes.io/name=$name -o jsonpath='{.items[0].metadata.name}')
cid=$(k -n kube-system get pod "$pod" -o jsonpath='{.status.containerStatuses[0].containerID}')
cid=${cid#containerd://}

# --- the running container --------------------------------------------------------------------

ctr_ containers info "$cid" >"$work/container.json" 2>&1 || fail "ctr containers info $cid"
pid=$(ctr_ tasks ls 2>/dev/null | awk -v c="$cid" '$1 == c {print $2}')
container_is_locked_down() {
  python3 - "$work/container.json" "$pid" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))["Spec"]
proc, pid = spec["process"], sys.argv[2]
caps = proc.get("capabilities", {})
problems = []
if (proc["user"]["uid"], proc["user"]["gid"]) != (65534, 65534):
    problems.append(f"runtime spec user {proc['user']}")
if not spec["root"].get("readonly"):
    problems.append("runtime spec root not readonly")
if any(caps.get(k) for k in ("bounding", "effective", "permitted", "inheritable", "ambient")):
    problems.append(f"runtime spec capabilities {caps}")
if not proc.get("noNewPrivileges"):
    problems.append("noNewPrivileges not set")
status = dict(l.split(":", 1) for l in open(f"/proc/{pid}/status").read().splitlines() if ":" in l)
uids, gids = status["Uid"].split(), status["Gid"].split()
if set(uids) != {"65534"} or set(gids) != {"65534"}:
    problems.append(f"process Uid {uids} Gid {gids}")
for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
    if int(status[k].strip(), 16) != 0:
        problems.append(f"process {k} {status[k].strip()}")
root_ro = any(l.split()[4] == "/" and "ro" in l.split()[5].split(",")
              for l in open(f"/proc/{pid}/mountinfo"))
if not root_ro:
    problems.append("/ is not mounted read-only in the container")
print("; ".join(problems) if problems else
      f"uid/gid 65534, / read-only, no capabilities, no_new_privs (pid {pid})")
sys.exit(1 if problems else 0)
PY
}
if [ -n "$pid" ]; then
  assert "container runs as 65534:65534 with a read-only root and no capabilities" container_is_locked_down
else
  fail "no running task for container $cid"
fi
k -n kube-system get pod "$pod" -o json >"$work/pod.json"
restarts=$(k -n kube-system get pod "$pod" -o jsonpath='{.status.containerStatuses[0].restartCount}')

# --- aggregation and kubectl top --------------------------------------------------------------

available() {
  [ "$(k get apiservice v1beta1.metrics.k8s.io -o jsonpath='{.status.conditions[?(@.type=="Available")].status}')" = True ]
}
if wait_until "$limit" available; then
  pass "APIService v1beta1.metrics.k8s.io Available $((SECONDS - t_apply))s after apply"
else
  k get apiservice v1beta1.metrics.k8s.io -o jsonpath='{range .status.conditions[*]}{.type}={.status} {.reason}: {.message}{"\n"}{end}'
  fail "APIService not Available within ${limit}s"
fi
top_nodes() { k top nodes --no-headers | tee "$work/top-nodes.txt" | grep -q '^127\.0\.0\.1 '; }
top_pods() { k top pods -A --no-headers | tee "$work/top-pods.txt" | grep -q "^kube-system *$pod "; }
if wait_until "$limit" top_nodes; then pass "kubectl top nodes: $(cat "$work/top-nodes.txt")"; else fail "kubectl top nodes: $(cat "$work/top-nodes.txt")"; fi
if wait_until "$limit" top_pods; then pass "kubectl top pods -A: $(grep "$pod" "$work/top-pods.txt")"; else fail "kubectl top pods -A: $(cat "$work/top-pods.txt")"; fi

# --- the real kubelet's /metrics/resource -----------------------------------------------------

pki=$CLUSTER_STATE_DIR/pki
curl -sS --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
  https://127.0.0.1:10250/metrics/resource >"$work/metrics-resource.txt" 2>&1
families() {
  python3 - "$work/metrics-resource.txt" <<'PY'
import re, sys
fams, labels = {}, {}
for line in open(sys.argv[1]):
    if line.startswith("#") or not line.strip():
        continue
    m = re.match(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)(\s+(\d+))?$', line.strip())
    if not m:
        print("unparsable line:", line.strip()); sys.exit(1)
    fams.setdefault(m.group(1), 0)
    fams[m.group(1)] += 1
    for kv in re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', m.group(3) or ""):
        labels.setdefault(m.group(1), set()).add(kv)
need = ["node_cpu_usage_seconds_total", "node_memory_working_set_bytes",
        "container_cpu_usage_seconds_total", "container_memory_working_set_bytes"]
missing = [f for f in need if f not in fams]
print(", ".join(f"{f}{{{','.join(sorted(labels.get(f, [])))}}}x{n}" for f, n in sorted(fams.items())))
sys.exit(1 if missing else 0)
PY
}
assert "kubelet /metrics/resource: families" families
# The benchmarks' simulated kubelets (fleet_sim --go-framing, bench_compare.py's default) send
# this answer chunked once it is longer than Go's 2 KiB buffer, as a kubelet's Go server does
# (promhttp streams it without a Content-Length): checked here against the real one, over
# HTTP/1.1 with the Accept header our scraper sends.
kubelet_framing() {
  curl -sS --http1.1 --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
    -H 'Accept: text/plain;version=0.0.4;q=1,*/*;q=0.1' -D "$work/metrics-resource.headers" \
    -o "$work/metrics-resource-framed.txt" https://127.0.0.1:10250/metrics/resource || return 1
  python3 - "$work/metrics-resource.headers" "$work/metrics-resource-framed.txt" <<'PY'
import sys
heads = [l.strip().lower() for l in open(sys.argv[1]) if ":" in l]
size = len(open(sys.argv[2], "rb").read())
chunked = "transfer-encoding: chunked" in heads
length = any(h.startswith("content-length:") for h in heads)
print(f"{size} bytes, " + ("chunked" if chunked else "Content-Length" if length else "neither"))
sys.exit(0 if chunked != length and chunked == (size > 2048) else 1)
PY
}
assert "kubelet /metrics/resource framing: chunked past 2 KiB, as the simulated kubelets send it" kubelet_framing
server_log=$(ls "$NODE_DIR"/pod-logs/kube-system_"$pod"_*/$name/*.log 2>/dev/null | head -n1)
no_parse_warning() {
  [ -n "$server_log" ] || { echo "no container log under $NODE_DIR/pod-logs"; return 1; }
  ! grep -iE '"(warn|warning|error)"|\b(W|E)[0-9]{4} |\[(warn|warning|error)\]' "$server_log"
}
assert "our server logged no warning or error while scraping the real kubelet" no_parse_warning

# --- a workload with known CPU and memory -----------------------------------------------------

k apply -f - >/dev/null <<EOF || fail "could not create the burn pod"
apiVersion: v1
kind: Pod
metadata: {name: burn, namespace: default}
spec:
  hostNetwork: true
  automountServiceAccountToken: false
  terminationGracePeriodSeconds: 1
  securityContext: {runAsUser: 65534, runAsGroup: 65534}
  containers:
  - name: burn
    image: localhost/cpp-metrics-server-busybox:1.35.0
    imagePullPolicy: Never
    # 64 MiB in a memory-backed emptyDir (shmem, charged to the container's cgroup and counted in
    # its working set), then a busy loop held to 200m by the CPU limit.
    command: [/busybox, sh, -c, "/busybox head -c 67108864 /dev/zero > /data/blob && while :; do :; done"]
    resources:
      requests: {cpu: 200m, memory: 128Mi}
      limits: {cpu: 200m, memory: 128Mi}
    volumeMounts: [{name: data, mountPath: /data}]
  volumes: [{name: data, emptyDir: {medium: Memory, sizeLimit: 100Mi}}]
EOF
burn_running() { [ "$(k get pod burn -o jsonpath='{.status.phase}')" = Running ]; }
if wait_until "$limit" burn_running; then
  burn_uid=$(k get pod burn -o jsonpath='{.metadata.uid}')
  burn_cid=$(k get pod burn -o jsonpath='{.status.containerStatuses[0].containerID}')
  burn_cid=${burn_cid#containerd://}
  cg=$(find /sys/fs/cgroup/cpuacct/kubepods -maxdepth 3 -type d -name "$burn_cid" | head -n1)
  mcg=$(find /sys/fs/cgroup/memory/kubepods -maxdepth 3 -type d -name "$burn_cid" | head -n1)
  [ -n "$cg" ] && [ -n "$mcg" ] || fail "cgroups of container $burn_cid (pod $burn_uid) not found"
  # Two resolutions for the rate to settle, then compare over a window: the cgroup's delta and
  # kubectl top (the server's rate between its last two scrapes).
  sleep 35
  compare() {
    local u0 u1 t0 t1 top ws
    u0=$(cat "$cg/cpuacct.usage")
    t0=$(date +%s%N)
    sleep 30
    u1=$(cat "$cg/cpuacct.usage")
    t1=$(date +%s%N)
    top=$(k top pods burn --containers --no-headers)
    ws=$(awk '$1 == "total_inactive_file" {print $2}' "$mcg/memory.stat")
    ws=$(($(cat "$mcg/memory.usage_in_bytes") - ws))
    python3 - "$u0" "$u1" "$t0" "$t1" "$ws" "$top" <<'PY'
import sys
u0, u1, t0, t1, ws = map(int, sys.argv[1:6])
f = sys.argv[6].split()  # pod container cpu memory
cg_cpu = (u1 - u0) / (t1 - t0) * 1000  # millicores
top_cpu = float(f[2].rstrip("m"))
unit = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
top_mem = float(f[3][:-2]) * unit[f[3][-2:]]
d_cpu = abs(top_cpu - cg_cpu) / cg_cpu
d_mem = abs(top_mem - ws) / ws
print(f"cpu: kubectl top {top_cpu:.0f}m, cgroup {cg_cpu:.1f}m ({d_cpu:.1%}); "
      f"memory: kubectl top {top_mem/2**20:.1f}Mi, cgroup working set {ws/2**20:.1f}Mi ({d_mem:.1%})")
sys.exit(0 if d_cpu <= 0.05 and d_mem <= 0.05 else 1)
PY
  }
  assert "burn (200m limit, 64Mi held): kubectl top --containers within 5% of the cgroup" compare
else
  k describe pod burn | tail -n 15
  fail "burn pod not Running within ${limit}s"
fi

# --- behaviour on a real node: a workload container killed ------------------------------------

# The metrics API and the kubelet's API read directly (admin client certificate), every second.
resolution=$(sed -n 's/.*--metric-resolution=\([0-9]*\)s.*/\1/p' "$work/install.yaml" | head -n1)
resolution=${resolution:-15}
cat >"$work/rn.py" <<'PY'
"""Shared by the polls below: GET against the kube-apiserver with the admin certificate."""
import calendar, json, os, ssl, time, urllib.error, urllib.request
PKI = os.environ["PKI"]
BASE = "https://127.0.0.1:%s" % os.environ["CLUSTER_APISERVER_PORT"]
CTX = ssl.create_default_context(cafile=PKI + "/ca.crt")
CTX.load_cert_chain(PKI + "/admin.crt", PKI + "/admin.key")
KUBELET = "https://127.0.0.1:10250"
def get(path, timeout=5, base=BASE):
    """(HTTP status or 0, parsed JSON body, or the error's text when not 200)."""
    try:
        with urllib.request.urlopen(base + path, context=CTX, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except Exception as e:  # connection refused, timeout: counted as a failed poll
        return 0, str(e)
SUFFIX = {"n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
          "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
def quantity(s):
    for n in (2, 1):
        if len(s) > n and s[-n:] in SUFFIX:
            return float(s[:-n]) * SUFFIX[s[-n:]]
    return float(s)
def rfc3339(s):
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))
PY
export PKI=$pki CLUSTER_APISERVER_PORT
rn_py() { PYTHONPATH=$work python3 - "$@"; }

# SIGKILL to the container's init process from the host (its pid from containerd's task list);
# the kubelet restarts it. Polled every second: the served CPU of `burn` must stay within
# [0, 1.2 x its 200m limit] (a counter reset read as a rate would show as negative or huge), and
# the pod must be served again within two resolutions of the new container's start.
burn_pid=$(ctr_ tasks ls 2>/dev/null | awk -v c="$burn_cid" '$1 == c {print $2}')
kill_workload() {
  [ -n "$burn_pid" ] || { echo "no task for container $burn_cid"; return 1; }
  rn_py "$burn_pid" "$resolution" <<'PY'
import os, signal, sys, time
from rn import get, quantity, rfc3339
pid, res = int(sys.argv[1]), int(sys.argv[2])
samples, t_kill, t_started, end = [], None, None, time.time() + 5
while time.time() < end:
    t = time.time()
    st, pm = get("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/burn")
    cpu = None
    if st == 200 and pm.get("containers"):
        cpu = quantity(pm["containers"][0]["usage"]["cpu"]) * 1000  # millicores
    samples.append((t, cpu))
    if t_kill is None and len(samples) >= 3:
        os.kill(pid, signal.SIGKILL)
        t_kill = time.time()
        end = t_kill + 120
    if t_kill and t_started is None:
        st, pod = get("/api/v1/namespaces/default/pods/burn")
        cs = (pod if st == 200 else {}).get("status", {}).get("containerStatuses", [{}])[0]
        if cs.get("restartCount", 0) >= 1 and "running" in cs.get("state", {}):
            t_started = rfc3339(cs["state"]["running"]["startedAt"])
            end = max(t_started, time.time()) + 2 * res + 10
    time.sleep(max(0, 1 - (time.time() - t)))
if t_kill is None or t_started is None:
    print(f"container not restarted within 120 s of the kill ({len(samples)} polls)"); sys.exit(1)
served = [c for _, c in samples if c is not None]
after = [(t, c) for t, c in samples if t >= t_kill]
missing = [t for t, c in after if c is None]
# Served again: the first poll after the restart from which every later poll served the pod.
t_again = None
for i, (t, c) in enumerate(samples):
    if t >= t_started - 1 and all(c2 is not None for _, c2 in samples[i:]):
        t_again = t; break
print(f"{len(samples)} polls, {len(missing)} without the pod after the kill "
      f"({min(missing) - t_kill:.0f}..{max(missing) - t_kill:.0f} s after it)" if missing else
      f"{len(samples)} polls, the pod served at every poll after the kill", end="; ")
print(f"restarted {max(0.0, t_started - t_kill):.0f} s after the kill, served again "
      f"{(t_again - t_started) if t_again else float('nan'):.0f} s after the restart "
      f"(limit {2 * res} s); served CPU min {min(served):.0f}m max {max(served):.0f}m (limit 200m)")
ok = served and min(served) >= 0 and max(served) <= 240 and t_again is not None \
    and t_again - t_started <= 2 * res
sys.exit(0 if ok else 1)
PY
}
assert "burn killed (SIGKILL from the host), restarted by the kubelet: CPU never negative nor above 1.2x the limit, served again within two resolutions" kill_workload
k delete pod burn --wait=false >/dev/null 2>&1

# The server has been up for minutes by now: its liveness probe kept passing.
restarts=$(k -n kube-system get pod "$pod" -o jsonpath='{.status.containerStatuses[0].restartCount}')
assert "liveness probe /livez kept passing: no restart in $((SECONDS - t_apply))s" test "$restarts" = 0

# --- an HPA on real CPU consumption -----------------------------------------------------------

# A Deployment whose containers burn CPU (up to their 200m limit, request 100m) while a file
# exists in a host directory, an HPA at 50 % average CPU utilization (1..2 replicas). The
# controller-manager of cluster.sh syncs HPAs every 5 s with a 15 s downscale stabilization.
ctl=$(mktemp -d "${TMPDIR:-/tmp}/cms-hpa.XXXXXX")
chmod 755 "$ctl"
touch "$ctl/on"
k apply -f - >/dev/null <<EOF || fail "could not create the hpa-burn Deployment and its HPA"
apiVersion: apps/v1
kind: Deployment
metadata: {name: hpa-burn, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: hpa-burn}}
  template:
    metadata: {labels: {app: hpa-burn}}
    spec:
      hostNetwork: true
      automountServiceAccountToken: false
      terminationGracePeriodSeconds: 1
      containers:
      - name: burn
        image: localhost/cpp-metrics-server-busybox:1.35.0
        imagePullPolicy: Never
        command: [/busybox, sh, -c, "while :; do while [ -e /ctl/on ]; do :; done; /busybox sleep 1; done"]
        resources:
          requests: {cpu: 100m, memory: 16Mi}
          limits: {cpu: 200m, memory: 32Mi}
        volumeMounts: [{name: ctl, mountPath: /ctl, readOnly: true}]
      volumes: [{name: ctl, hostPath: {path: $ctl, type: Directory}}]
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: hpa-burn, namespace: default}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: hpa-burn}
  minReplicas: 1
  maxReplicas: 2
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
EOF
t_hpa=$SECONDS
hpa_replicas() { # hpa_replicas N: the Deployment has N replicas, all ready
  [ "$(k get deployment hpa-burn -o jsonpath='{.spec.replicas}/{.status.readyReplicas}')" = "$1/$1" ]
}
hpa_state() { k get hpa hpa-burn -o jsonpath='{.status.currentMetrics[0].resource.current.averageUtilization}% of request, desired {.status.desiredReplicas}'; }
if wait_until 240 hpa_replicas 2; then
  pass "HPA scaled hpa-burn 1 -> 2 on real CPU $((SECONDS - t_hpa))s after it started burning ($(hpa_state))"
  rm -f "$ctl/on"
  t_hpa=$SECONDS
  if wait_until 240 hpa_replicas 1; then
    pass "HPA scaled hpa-burn 2 -> 1 $((SECONDS - t_hpa))s after the load stopped ($(hpa_state))"
  else
    fail "HPA did not scale hpa-burn back to 1 within 240s of the load stopping: $(hpa_state)"
  fi
else
  k describe hpa hpa-burn | tail -n 12
  fail "HPA did not scale hpa-burn to 2 within 240s: $(hpa_state)"
fi
k delete hpa hpa-burn --wait=false >/dev/null 2>&1
k delete deployment hpa-burn --wait=false >/dev/null 2>&1
rm -rf "$ctl"

# --- our own container killed -----------------------------------------------------------------

# SIGKILL to our server's process; the kubelet restarts the container. Measured from the kill:
# the restart, and the first poll (every 0.5 s) at which the metrics API serves the node again
# through the aggregator (which proxies only to an Available APIService). The server needs one
# resolution after its start for a rate (two scrapes): the node, and then `kubectl top pods -A`
# (the aggregator's discovery, the pods list), must be served within one resolution plus 10 s
# of the new container's start (start-up, the aggregator's discovery). The roll below then
# starts from a server that serves the user's path.
kill_server() {
  local p
  p=$(ctr_ tasks ls 2>/dev/null | awk -v c="$cid" '$1 == c {print $2}')
  [ -n "$p" ] || { echo "no task for container $cid"; return 1; }
  rn_py "$p" "$resolution" "$pod" <<'PY'
import collections, os, signal, subprocess, sys, time
from rn import get, rfc3339
pid, res, pod = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def node_served():
    st, nm = get("/apis/metrics.k8s.io/v1beta1/nodes/127.0.0.1", timeout=2)
    return st == 200 and "cpu" in nm.get("usage", {})
def available():
    st, a = get("/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.metrics.k8s.io")
    c = [c for c in (a if st == 200 else {}).get("status", {}).get("conditions", []) if c["type"] == "Available"]
    return c[0]["status"] if c else "?"
assert node_served(), "node not served before the kill"
os.kill(pid, signal.SIGKILL)
t_kill = time.time()
t_started = t_served = None
fails, seen_available = 0, set()
while time.time() < t_kill + 180 and t_served is None:
    t = time.time()
    seen_available.add(available())
    if t_started is None:
        st, p = get(f"/api/v1/namespaces/kube-system/pods/{pod}")
        cs = (p if st == 200 else {}).get("status", {}).get("containerStatuses", [{}])[0]
        if cs.get("restartCount", 0) >= 1 and "running" in cs.get("state", {}):
            t_started = rfc3339(cs["state"]["running"]["startedAt"])
    if node_served():
        if t_started is not None:
            t_served = time.time()
    else:
        fails += 1
    time.sleep(max(0, 0.5 - (time.time() - t)))
if t_started is None or t_served is None:
    print(f"restarted: {t_started is not None}, served again: {t_served is not None} within 180 s"); sys.exit(1)
# The user's path too: kubectl top pods -A (its discovery through the aggregator, then the pods
# list) must work again within the same bound, what it says meanwhile reported.
t_top, top_said = None, collections.Counter()
while time.time() < t_kill + 180 and t_top is None:
    t = time.time()
    # Bounded, so that a kubectl stuck on a request cannot outlast the 180 s of the loop.
    r = subprocess.run([os.environ["KUBECTL"], "top", "pods", "-A", "--no-headers", "--request-timeout=10s"],
                       capture_output=True, text=True)
    if r.returncode == 0:
        t_top = time.time()
    else:
        top_said[(r.stderr.strip().splitlines() or ["(nothing on stderr)"])[0][:160]] += 1
        time.sleep(max(0, 0.5 - (time.time() - t)))
said = "; ".join(f"{n} x {e}" for e, n in top_said.items())
print(f"restarted {max(0.0, t_started - t_kill):.0f} s after the kill, node served again {t_served - t_kill:.1f} s "
      f"after the kill = {t_served - t_started:.0f} s after the restart (limit {res} + 10 s); "
      f"{fails} failed polls; kubectl top pods -A " +
      (f"worked {t_top - t_started:.1f} s after the restart" if t_top else "never worked within 180 s of the kill") +
      (f" (before: {said})" if said else "") +
      f"; APIService Available seen as {sorted(seen_available)}, now {available()}")
sys.exit(0 if t_served - t_started <= res + 10 and t_top and t_top - t_started <= res + 10 and available() == "True" else 1)
PY
}
assert "our container killed: the kubelet restarts it and the APIService is Available, serves the node and kubectl top pods -A again within one resolution plus start-up" kill_server

# --- a rolling upgrade to a new image tag -----------------------------------------------------

# The same image under a second tag; `kubectl set image`, with `kubectl top pods -A` polled
# every second throughout. The Deployment's strategy (maxUnavailable 0, maxSurge 25 % = 1)
# starts the new pod beside the old one on the only node. overlays/host-network declares no
# container port, so the scheduler sees no host port in use; both pods bind the host's port
# 4443 (SO_REUSEPORT, --permit-port-sharing); the new one listens once it has metrics, the
# Deployment keeps the old one for minReadySeconds after the new one is Ready, and the old one,
# on SIGTERM, closes its listener first and finishes its requests: no poll may fail.
top_poll() { # top_poll FILE: a line "epoch rc [first line of stderr]" per `kubectl top pods -A`, every second
  while :; do
    local rc=0 err
    err=$(k top pods -A --no-headers 2>&1 >/dev/null) || rc=$?
    echo "$(date +%s.%N) $rc ${err%%$'\n'*}" >>"$1"
    sleep 0.7
  done
}
polls() { # polls FILE FROM: count, failures, the failing span after epoch FROM and what kubectl said
  python3 - "$@" <<'PY'
import collections, sys
rows = [l.rstrip("\n").split(" ", 2) + [""] for l in open(sys.argv[1])]
rows = [(float(r[0]), int(r[1]), r[2]) for r in rows if float(r[0]) >= float(sys.argv[2])]
bad = [t for t, rc, _ in rows if rc]
span = f", failing from {min(bad) - float(sys.argv[2]):.0f} s to {max(bad) - float(sys.argv[2]):.0f} s ({max(bad) - min(bad) + 1:.0f} s)" if bad else ""
said = collections.Counter(e or "(nothing on stderr)" for _, rc, e in rows if rc)
said = "; kubectl said: " + "; ".join(f"{n} x {e[:160]}" for e, n in said.items()) if said else ""
print(f"{len(rows)} polls, {len(bad)} failed{span}{said}")
PY
}
ctr_ images tag "docker.io/library/$name:$version" "docker.io/library/$name:$version-roll" >/dev/null ||
  fail "ctr images tag $name:$version $name:$version-roll"
: >"$work/top-poll.txt"
top_poll "$work/top-poll.txt" &
poll_pid=$!
t_roll=$(date +%s.%N)
k -n kube-system set image deployment/$name "$name=$name:$version-roll" >/dev/null ||
  fail "kubectl set image deployment/$name $name=$name:$version-roll"
rolled() {
  k -n kube-system rollout status deployment/$name --timeout=1s >/dev/null 2>&1 &&
    [ "$(k -n kube-system get pods -l app.kubernetes.io/name=$name -o jsonpath='{range .items[*]}{.spec.containers[0].image}{"\n"}{end}')" = "$name:$version-roll" ] &&
    k top pods -A --no-headers | grep -q "^kube-system *$name-"
}
if wait_until "$limit" rolled; then
  roll_s=$(python3 -c "import time; print(round(time.time() - $t_roll))")
  sleep 5
  kill "$poll_pid" 2>/dev/null
  wait "$poll_pid" 2>/dev/null
  roll=$(polls "$work/top-poll.txt" "$t_roll")
  failed=$(echo "$roll" | sed -n 's/^[0-9]* polls, \([0-9]*\) failed.*/\1/p')
  assert "roll with the overlay's strategy (maxSurge 1, maxUnavailable 0, minReadySeconds 30) on one host-network node done in ${roll_s}s; kubectl top pods -A never failed: $roll" \
    test "${failed:-1}" -eq 0
else
  kill "$poll_pid" 2>/dev/null
  k -n kube-system get pods -o wide | tail -n 4
  fail "roll to $name:$version-roll not done within ${limit}s: $(polls "$work/top-poll.txt" "$t_roll"); pods: $(k -n kube-system get pods -l app.kubernetes.io/name=$name -o jsonpath='{range .items[*]}{.spec.containers[0].image} {.status.phase} {.status.conditions[?(@.type=="PodScheduled")].message}; {end}' 2>&1 | head -c 300)"
fi
pod=$(k -n kube-system get pods -l app.kubernetes.io/name=$name --field-selector=status.phase=Running -o jsonpath='{.items[0].metadata.name}')

# --- ephemeral storage and swap from the real kubelet -----------------------------------------

# The two changes of overlays/ephemeral-storage, made to the running install (the strategy above
# rolls it): --kubelet-summary-api and nodes/stats get. Then each served ephemeral-storage value
# is compared with the kubelet's own /stats/summary read before and after it (node: fs.usedBytes;
# container: rootfs.usedBytes + logs.usedBytes), with the admin credentials straight from the
# kubelet: the kube-apiserver's node proxy (nodes/127.0.0.1/proxy) refuses a loopback node
# address with 400 "address not allowed" (its proxy's guard against reaching the apiserver's own
# host), so it cannot serve this node; its answer is printed.
k patch clusterrole system:$name --type json \
  -p '[{"op":"add","path":"/rules/-","value":{"apiGroups":[""],"resources":["nodes/stats"],"verbs":["get"]}}]' >/dev/null ||
  fail "add nodes/stats get to ClusterRole system:$name"
k -n kube-system patch deployment $name --type json \
  -p '[{"op":"add","path":"/spec/template/spec/containers/0/args/-","value":"--kubelet-summary-api"}]' >/dev/null ||
  fail "add --kubelet-summary-api to the Deployment"
node_storage() { k get --raw /apis/metrics.k8s.io/v1beta1/nodes/127.0.0.1 | grep -q '"ephemeral-storage"'; }
if wait_until "$limit" node_storage; then
  ephemeral() {
    rn_py <<'PY'
import sys
from rn import get, quantity
from rn import KUBELET
stp, proxied = get("/api/v1/nodes/127.0.0.1/proxy/stats/summary")
st0, s0 = get("/stats/summary", base=KUBELET)
st1, nm = get("/apis/metrics.k8s.io/v1beta1/nodes/127.0.0.1")
st2, pl = get("/apis/metrics.k8s.io/v1beta1/pods")
st3, s1 = get("/stats/summary", base=KUBELET)
if (st0, st1, st2, st3) != (200,) * 4:
    print(f"HTTP {st0} {st1} {st2} {st3} (kubelet summary, node, pods, kubelet summary)"); sys.exit(1)
def within(v, a, b, tol):  # v within [min - tol, max + tol]
    lo, hi = min(a, b), max(a, b)
    return lo - tol <= v <= hi + tol
out, bad = [], []
n = quantity(nm["usage"]["ephemeral-storage"])
a, b = s0["node"]["fs"]["usedBytes"], s1["node"]["fs"]["usedBytes"]
(out if within(n, a, b, 0.02 * max(a, b)) else bad).append(
    f"node {n / 2**30:.2f}Gi (summary fs.usedBytes {a / 2**30:.2f}..{b / 2**30:.2f}Gi)")
def cont(s, ns, pod, c):
    for p in s["pods"]:
        if p["podRef"]["namespace"] == ns and p["podRef"]["name"] == pod:
            for x in p.get("containers", []):
                if x["name"] == c:
                    return x.get("rootfs", {}).get("usedBytes", 0) + x.get("logs", {}).get("usedBytes", 0)
    return None
nc = 0
for pm in pl["items"]:
    for c in pm["containers"]:
        md = pm["metadata"]
        v = c["usage"].get("ephemeral-storage")
        a, b = cont(s0, md["namespace"], md["name"], c["name"]), cont(s1, md["namespace"], md["name"], c["name"])
        what = f"{md['namespace']}/{md['name']}/{c['name']}"
        if v is None:
            bad.append(f"{what}: no ephemeral-storage"); continue
        if a is None or b is None:
            continue  # gone from the summary meanwhile
        v, nc = quantity(v), nc + 1
        (out if within(v, a, b, max(0.05 * max(a, b), 65536)) else bad).append(
            f"{what} {v / 1024:.0f}Ki (summary rootfs+logs {a / 1024:.0f}..{b / 1024:.0f}Ki)")
proxy = proxied if stp != 200 else "served"
if isinstance(proxy, str) and proxy.startswith("{"):
    import json
    proxy = json.loads(proxy).get("message", proxy)
print("; ".join(bad + out) + f" [node proxy: HTTP {stp} {str(proxy)[:100]}]")
sys.exit(0 if nc and not bad else 1)
PY
  }
  assert "ephemeral-storage served for the node and every container, matching the real kubelet's /stats/summary (node 2 %, containers 5 % or 64Ki)" ephemeral
else
  fail "no ephemeral-storage in NodeMetrics within ${limit}s of --kubelet-summary-api: $(k get --raw /apis/metrics.k8s.io/v1beta1/nodes/127.0.0.1 2>&1 | head -c 300)"
fi
swap() {
  curl -sS --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
    https://127.0.0.1:10250/metrics/resource >"$work/metrics-resource-2.txt" || return 1
  rn_py "$work/metrics-resource-2.txt" <<'PY'
import sys
from rn import get, quantity
fams = {}
for l in open(sys.argv[1]):
    if l.strip() and not l.startswith("#"):
        f = l.split("{")[0].split()[0]
        fams.setdefault(f, []).append(l.split()[1] if "{" not in l else l.rsplit("}", 1)[1].split()[0])
kubelet = fams.get("node_swap_usage_bytes", [None])[0]
st, nm = get("/apis/metrics.k8s.io/v1beta1/nodes/127.0.0.1")
served = (nm if st == 200 else {}).get("usage", {}).get("swap")
total = [l.split()[1] + " kB" for l in open("/proc/meminfo") if l.startswith("SwapTotal")][0]
print(f"kubelet node_swap_usage_bytes {kubelet or 'absent'}, container_swap_usage_bytes "
      f"x{len(fams.get('container_swap_usage_bytes', []))}, pod_swap_usage_bytes "
      f"x{len(fams.get('pod_swap_usage_bytes', []))}; served NodeMetrics usage.swap "
      f"{served if served is not None else 'absent'}; host SwapTotal {total}")
sys.exit(0 if kubelet is not None and served is not None and
         float(kubelet) == quantity(served) else 1)
PY
}
assert "swap: the real kubelet's node_swap_usage_bytes is served as NodeMetrics usage.swap" swap

# --- teardown of the node: nothing of it left on the host -------------------------------------

node_pids=$(cat "$NODE_DIR/kubelet.pid" "$NODE_DIR/containerd.pid" 2>/dev/null | tr '\n' ' ')
cp "$NODE_DIR/sysctls" "$work/sysctls.before"
made_run=0
[ ! -f "$NODE_DIR/made-run-containerd" ] || made_run=1
node_dir=$NODE_DIR
check_teardown
node_left() {
  local p s v left=""
  for p in $node_pids; do ! kill -0 "$p" 2>/dev/null || left+=" pid $p"; done
  [ -z "$(ls -d /sys/fs/cgroup/*/kubepods 2>/dev/null)" ] || left+=" kubepods cgroups"
  ! grep -q " $node_dir" /proc/self/mountinfo || left+=" mounts under $node_dir"
  ! ss -Hltn 'sport = :10250' | grep -q . || left+=" port 10250"
  [ "$made_run" = 0 ] || [ ! -e /run/containerd ] || left+=" /run/containerd"
  while IFS='=' read -r s v; do
    [ "$(sysctl -n "$s")" = "$v" ] || left+=" $s=$(sysctl -n "$s") (was $v)"
  done <"$work/sysctls.before"
  if [ -n "$left" ]; then echo "left:$left"; return 1; fi
  echo "kubelet, containerd (pids $node_pids) gone; no kubepods cgroup, mount or listener; $(wc -l <"$work/sysctls.before") sysctls as before"
}
assert "node teardown: host as before" node_left

check_finish
