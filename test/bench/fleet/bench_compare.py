#!/usr/bin/python3
"""Side-by-side benchmark: our server and metrics-server against the same simulated fleet.

For each fleet size it starts fleet_sim (the kubelets), an inventory (a real kube-apiserver with
etcd, or kube_standin beyond what the real one handles here), then each server in turn, alone on
the machine, and measures: CPU seconds per tick and per node, steady-state RSS and RSS per node,
time from start to ready, staleness of the served samples, latency of listing all pods (JSON and
protobuf) and of HPA-shaped queries at a fixed rate while scraping continues, and whether every
node and pod is served with the same values by both. It prints one table per size with the ratio
ours / metrics-server and writes OUT/results.json, OUT/tables.md, OUT/cpu.png, OUT/memory.png.

A failure of one server at one size (crash, killed, never ready, errors) is recorded in the table
instead of ending the run. --require-complete makes the exit status say whether every figure was
measured and both servers served every node and pod (the CTest smoke run).

Python 3 standard library; plots with matplotlib (Debian python3-matplotlib, Agg backend), hence
Debian's interpreter /usr/bin/python3, where that package installs.
"""

import argparse
import concurrent.futures
import datetime
import http.client
import json
import os
import random
import re
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
CLUSTER_SH = os.path.join(ROOT, "test", "cluster", "cluster.sh")
BUILD_BINARIES = os.path.join(ROOT, "test", "cluster", "build-binaries.sh")
SERVERS = ("ours", "metrics-server")
POD_HASH = "7d9f8c6b5d"


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --- the fleet model (test/bench/fleet/fleet_model.h), names only -----------------------------


def pod_name(g):
    return f"ns-{g // 1000}", f"app-{g // 20}-{POD_HASH}-{g}"


def container_names(c):
    return ["app", "sidecar"][:c] + [f"c{k}" for k in range(2, c)]


# --- processes ----------------------------------------------------------------------------------


class Proc:
    """A child in its own session (so its whole process group can be stopped), logging to a file."""

    def __init__(self, name, argv, log_path, env=None):
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.logf = open(log_path, "wb")
        self.t0 = time.monotonic()
        self.p = subprocess.Popen(argv, stdout=self.logf, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, start_new_session=True, env=env)
        self.pid = self.p.pid

    def alive(self):
        return self.p.poll() is None

    def stop(self, grace=20):
        if self.alive():
            try:
                os.killpg(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(grace)
            except subprocess.TimeoutExpired:
                log(f"{self.name} ignored SIGTERM for {grace}s; killing its process group")
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.p.wait(10)
        else:
            # Shards or helpers it started may outlive it.
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.logf.close()

    def exit_text(self):
        rc = self.p.poll()
        if rc is None:
            return "running"
        if rc < 0:
            sig = signal.Signals(-rc).name
            hint = " (out of memory?)" if rc == -signal.SIGKILL else ""
            return f"killed by {sig}{hint}"
        return f"exited with status {rc}"

    def tail(self, n=5):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 8192))
                lines = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return ""
        return " | ".join(l.strip() for l in lines[-n:] if l.strip())[-600:]


CLK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def proc_stat(pid):
    """(pgrp, cpu seconds, rss bytes) of one process from /proc/PID/stat, or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    rest = s[s.rfind(")") + 2:].split()
    return int(rest[2]), (int(rest[11]) + int(rest[12])) / CLK, int(rest[21]) * PAGE


def group_usage(pgids):
    """CPU seconds and RSS bytes summed over every live process in the given process groups."""
    pgids = set(pgids)
    cpu = rss = 0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        st = proc_stat(d)
        if st and st[0] in pgids:
            cpu += st[1]
            rss += st[2]
    return cpu, rss


def vm_status(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM"):
                    out[k] = int(v.split()[0]) * 1024
    except OSError:
        pass
    return out


def lazy_free(pid):
    """Bytes of the process's resident memory it marked MADV_FREE (smaps_rollup's LazyFree): the
    kernel reclaims them first under pressure, and a memory cgroup counts them as inactive file
    pages, outside the working set kubelet reports; None when unreadable."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k == "LazyFree":
                    return int(v.split()[0]) * 1024
    except OSError:
        pass
    return None


FLEET_PORTS = range(0)  # the current fleet's kubelet ports, which free_port avoids


def free_port():
    """A free TCP port on 127.0.0.1 below the ephemeral range and outside the fleet's ports."""
    for _ in range(1000):
        port = random.randint(10000, 32767)
        if port in FLEET_PORTS:
            continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            return s.getsockname()[1]
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError("no free port")


def free_port_block(n):
    """A base b (a multiple of 500, 20000 first, then from 10000) with 127.0.0.1:b..b+n-1 all
    free, below the ephemeral range, so runs by others on the same machine do not collide."""
    lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    for base in [20000, *range(10000, lo - n + 1, 500)]:
        socks = []
        try:
            for port in range(base, base + n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError(f"no block of {n} free ports between 10000 and {lo}")


def wait_file(path, proc, timeout, what):
    t0 = time.monotonic()
    while not os.path.exists(path):
        if not proc.alive():
            raise RuntimeError(f"{what} {proc.exit_text()} before it was ready: {proc.tail()}")
        if time.monotonic() - t0 > timeout:
            raise RuntimeError(f"{what} not ready after {timeout}s: {proc.tail()}")
        time.sleep(0.2)
    return time.monotonic() - t0


# --- HTTPS --------------------------------------------------------------------------------------


def tls_context(ca, cert=None, key=None):
    ctx = ssl.create_default_context(cafile=ca)
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx


def https(port, ctx, method, path, body=None, headers=None, timeout=120):
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def make_serving_pki(d):
    """One ECDSA serving certificate (IP SAN 127.0.0.1) for both servers, from its own CA."""
    os.makedirs(d, exist_ok=True)
    ca, crt = os.path.join(d, "ca.crt"), os.path.join(d, "serving.crt")
    if os.path.exists(crt):
        return ca, crt, os.path.join(d, "serving.key")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True)
    run("req", "-x509", *ec, "-days", "30", "-subj", "/CN=bench-serving-ca",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
        "-keyout", os.path.join(d, "ca.key"), "-out", ca)
    ext = os.path.join(d, "serving.ext")
    with open(ext, "w") as f:
        f.write("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("req", *ec, "-subj", "/CN=localhost", "-keyout", os.path.join(d, "serving.key"),
        "-out", os.path.join(d, "serving.csr"))
    run("x509", "-req", "-in", os.path.join(d, "serving.csr"), "-CA", ca, "-CAkey",
        os.path.join(d, "ca.key"), "-CAcreateserial", "-days", "30", "-extfile", ext, "-out", crt)
    return ca, crt, os.path.join(d, "serving.key")


# --- inventories --------------------------------------------------------------------------------


class StandinInventory:
    kind = "standin"

    def __init__(self, bin_path, n, p, c, port_base, d):
        os.makedirs(d, exist_ok=True)
        self.port = free_port()
        ready = os.path.join(d, "ready")
        if os.path.exists(ready):
            os.remove(ready)
        t0 = time.monotonic()
        self.proc = Proc("kube_standin", [
            bin_path, f"--nodes={n}", f"--pods={p}", f"--containers={c}",
            f"--port-base={port_base}", f"--port={self.port}", f"--out-dir={d}",
            f"--ready-file={ready}"], os.path.join(d, "kube_standin.log"))
        wait_file(ready, self.proc, 600, "kube_standin")
        self.setup_seconds = time.monotonic() - t0
        self.kubeconfig = os.path.join(d, "kubeconfig")
        self.label = "kube_standin (local stand-in for kube-apiserver)"
        self.pgids = [self.proc.pid]

    def stop(self):
        self.proc.stop()


class RealInventory:
    """etcd + kube-apiserver through test/cluster/cluster.sh (CLUSTER_COMPONENTS=apiserver), with
    the fleet's nodes and Running pods written through the API; nothing else runs to change them."""

    kind = "real"

    def __init__(self, n, p, c, port_base, d, threads=16):
        self.state = os.path.join(d, "cluster")
        self.env = dict(os.environ, CLUSTER_STATE_DIR=self.state, CLUSTER_COMPONENTS="apiserver")
        self.logf = os.path.join(d, "cluster.log")
        os.makedirs(d, exist_ok=True)
        if os.path.exists(self.state):
            self._cluster("down")
        t0 = time.monotonic()
        self._cluster("up")
        try:
            env = dict(l.strip().split("=", 1) for l in open(os.path.join(self.state, "env"))
                       if "=" in l)
            self.port = int(env["APISERVER_PORT"])
            pki = os.path.join(self.state, "pki")
            self.ctx = tls_context(os.path.join(pki, "ca.crt"), os.path.join(pki, "admin.crt"),
                                   os.path.join(pki, "admin.key"))
            self.kubeconfig = os.path.join(self.state, "admin.kubeconfig")
            self.pgids = [int(open(os.path.join(self.state, "pids", f"{x}.pid")).read())
                          for x in ("etcd", "kube-apiserver")]
            version = self._get("/version").get("gitVersion", "?")
            self.label = f"real kube-apiserver {version} + etcd"
            self.populate(n, p, c, port_base, threads)
        except BaseException:
            self.stop()
            raise
        self.setup_seconds = time.monotonic() - t0

    def _cluster(self, cmd):
        with open(self.logf, "ab") as f:
            r = subprocess.run([CLUSTER_SH, cmd], env=self.env, stdout=f, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, timeout=600)
        if r.returncode != 0:
            raise RuntimeError(f"cluster.sh {cmd} failed (log: {self.logf})")

    def _get(self, path):
        status, body = https(self.port, self.ctx, "GET", path)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status} {body[:200]!r}")
        return json.loads(body)

    def populate(self, n, p, c, port_base, threads):
        local = threading.local()
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

        def call(method, path, obj, ctype="application/json", ok_conflict=False):
            body = json.dumps(obj)
            for attempt in range(8):
                try:
                    if getattr(local, "conn", None) is None:
                        local.conn = http.client.HTTPSConnection("127.0.0.1", self.port,
                                                                 context=self.ctx, timeout=60)
                    local.conn.request(method, path, body=body, headers={"Content-Type": ctype})
                    r = local.conn.getresponse()
                    data = r.read()
                except (OSError, http.client.HTTPException):
                    local.conn = None
                    time.sleep(0.2 * (attempt + 1))
                    continue
                if r.status < 300 or (ok_conflict and r.status == 409):
                    return json.loads(data) if r.status < 300 else None
                if r.status in (429, 500, 503, 504):
                    time.sleep(0.2 * (attempt + 1))
                    continue
                raise RuntimeError(f"{method} {path}: {r.status} {data[:300]!r}")
            raise RuntimeError(f"{method} {path}: no success after 8 attempts")

        def node(i):
            name = f"node-{i}"
            res = {"cpu": "32", "memory": "128Gi", "pods": "110", "ephemeral-storage": "100Gi"}
            status = {
                "addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                              {"type": "Hostname", "address": name}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": port_base + i}},
                "capacity": res, "allocatable": res,
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                "message": "fleet_sim", "lastHeartbeatTime": now,
                                "lastTransitionTime": now}],
                "nodeInfo": {"architecture": "amd64", "operatingSystem": "linux",
                             "kubeletVersion": "v1.36.3", "containerRuntimeVersion": "fleet_sim",
                             "machineID": "", "systemUUID": "", "bootID": "",
                             "kernelVersion": "", "osImage": "", "kubeProxyVersion": ""},
            }
            obj = {"apiVersion": "v1", "kind": "Node",
                   "metadata": {"name": name, "labels": {
                       "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                       "kubernetes.io/arch": "amd64"}},
                   "status": status}
            got = call("POST", "/api/v1/nodes", obj, ok_conflict=True)
            port = ((got or {}).get("status", {}).get("daemonEndpoints", {})
                    .get("kubeletEndpoint", {}).get("Port"))
            if port != port_base + i:
                call("PATCH", f"/api/v1/nodes/{name}/status", {"status": status},
                     "application/merge-patch+json")

        def pod(g):
            ns, name = pod_name(g)
            i = g % n
            obj = {"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": name, "namespace": ns,
                                "labels": {"app": f"app-{g // 20}", "pod-template-hash": POD_HASH}},
                   "spec": {"nodeName": f"node-{i}", "terminationGracePeriodSeconds": 0,
                            "containers": [{"name": cn, "image": "registry.k8s.io/pause:3.10",
                                            "resources": {"requests": {"cpu": "10m",
                                                                       "memory": "32Mi"}}}
                                           for cn in container_names(c)]}}
            call("POST", f"/api/v1/namespaces/{ns}/pods", obj, ok_conflict=True)
            call("PATCH", f"/api/v1/namespaces/{ns}/pods/{name}/status",
                 {"status": {"phase": "Running", "startTime": now,
                             "conditions": [{"type": "Ready", "status": "True",
                                             "lastTransitionTime": now}]}},
                 "application/merge-patch+json")

        def run_all(fn, items, what):
            t0 = time.monotonic()
            with concurrent.futures.ThreadPoolExecutor(threads) as ex:
                for f in concurrent.futures.as_completed([ex.submit(fn, x) for x in items]):
                    f.result()
            log(f"real inventory: {len(items)} {what} in {time.monotonic() - t0:.1f}s")

        run_all(lambda k: call("POST", "/api/v1/namespaces",
                               {"apiVersion": "v1", "kind": "Namespace",
                                "metadata": {"name": f"ns-{k}"}}, ok_conflict=True),
                list(range((n * p - 1) // 1000 + 1)), "namespaces")
        run_all(node, list(range(n)), "nodes")
        run_all(pod, list(range(n * p)), "pods (created, then Running)")
        running, token = 0, ""
        for _ in range(n * p // 5000 + 2):
            page = self._get("/api/v1/pods?fieldSelector=status.phase%3DRunning&limit=5000"
                             + (f"&continue={token}" if token else ""))
            running += len(page["items"])
            token = page["metadata"].get("continue")
            if not token:
                break
        if running != n * p:
            raise RuntimeError(f"real inventory: {running} Running pods, want {n * p}")

    def stop(self):
        try:
            self._cluster("down")
        except Exception as e:  # keep going: the run must still stop what else it started
            log(f"cluster.sh down: {e}")


# --- measuring one server -----------------------------------------------------------------------


def parse_cpu(q):
    units = {"n": 1e-9, "u": 1e-6, "m": 1e-3}
    return float(q[:-1]) * units[q[-1]] if q[-1] in units else float(q)


def parse_mem(q):
    m = re.fullmatch(r"([0-9.]+)([KMGT]i?|k)?", q)
    mult = {None: 1, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 1024,
            "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4}
    return float(m.group(1)) * mult[m.group(2)]


def parse_time(ts):
    return datetime.datetime.strptime(ts.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S%z").timestamp()


class Server:
    def __init__(self, name, argv, settings, budget=None):
        self.name, self.argv, self.settings, self.budget = name, argv, settings, budget


def server_args(kind, a, n, port, kubeconfig, pki, fleet_certs, ms_bin):
    res = f"{a.resolution_s:g}s"
    common = [f"--secure-port={port}", "--bind-address=127.0.0.1",
              f"--tls-cert-file={pki[1]}", f"--tls-private-key-file={pki[2]}",
              f"--kubeconfig={kubeconfig}", f"--authentication-kubeconfig={kubeconfig}",
              f"--authorization-kubeconfig={kubeconfig}",
              f"--client-ca-file={os.path.join(fleet_certs, 'client-ca.crt')}",
              f"--kubelet-certificate-authority={os.path.join(fleet_certs, 'ca.crt')}",
              "--kubelet-use-node-status-port",
              "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
              f"--metric-resolution={res}"]
    # Both refuse a resolution not above the kubelet request timeout (default 10s).
    timeout = "" if a.resolution_s > 10 else f"--kubelet-request-timeout={a.resolution_s / 2:g}s"
    if timeout:
        common.append(timeout)
        res = f"{res} {timeout}"
    if kind == "ours":
        conc = 64 if n <= 1000 else 128
        argv = [a.ours_bin, *common,
                f"--kubelet-max-concurrency={conc}", *a.ours_flags.split()]
        return Server(kind, argv, f"--metric-resolution={res} --kubelet-max-concurrency={conc}"
                                  + (f" {a.ours_flags}" if a.ours_flags else ""))
    # metrics-server: the flags of its released components.yaml (resolution from the run), and
    # the resource requests its README's "Scaling" section gives, as the documented budget:
    # 100m CPU and 200MiB up to 100 nodes, plus 1m and 2MiB per node beyond.
    extra = max(0, n - 100)
    budget = {"cpu_cores": 0.1 + 0.001 * extra, "memory_bytes": (200 + 2 * extra) * 1024**2}
    note = f"--metric-resolution={res} --kubelet-use-node-status-port " \
           "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname"
    if n > 5000:
        note += " (beyond the 5,000 nodes its README says it supports)"
    return Server(kind, [ms_bin, *common], note, budget)


def metrics_load(a, port, pki, fleet_certs, mode, accept, rate, duration, n, p, conns=8):
    argv = [os.path.join(a.fleet_bin_dir, "metrics_load"),
            f"--url=https://127.0.0.1:{port}", f"--ca={pki[0]}",
            f"--cert={os.path.join(fleet_certs, 'client.crt')}",
            f"--key={os.path.join(fleet_certs, 'client.key')}", f"--mode={mode}",
            f"--accept={accept}", f"--rate={rate:g}", f"--duration={duration:g}",
            f"--connections={conns}", f"--nodes={n}", f"--pods={p}"]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 300)
    lines = [l for l in r.stdout.splitlines() if l.startswith("{")]
    if r.returncode != 0 or not lines:
        raise RuntimeError(f"metrics_load {mode} {accept}: status {r.returncode}: "
                           f"{(r.stderr or r.stdout)[-300:]}")
    return json.loads(lines[-1])


def quiesce(proc, steady_cores, limit=180):
    """Waits (at most LIMIT s) until the server's CPU over 2 s is near its scraping-only rate."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        c0 = proc_stat(proc.pid)
        time.sleep(2)
        c1 = proc_stat(proc.pid)
        if not c0 or not c1 or (c1[1] - c0[1]) / 2 <= 2 * steady_cores + 0.05:
            break
    return time.monotonic() - t0


def list_latency(a, port, ctx, pki, fleet_certs, acc, n, p):
    """All-pods list latency. One timed list first: if it answers within 0.5 s, metrics_load
    offers LIST_RATE for LIST_SECONDS (open loop); a slower server would only queue requests
    behind each other (metrics_load's lowest rate is 1/s), so it gets sequential requests
    instead (as many as fit in LIST_SECONDS, at least 3, at most 120 s), timed here the same way:
    from sending the request to the end of the body."""
    mime = {"json": "application/json", "protobuf": "application/vnd.kubernetes.protobuf"}[acc]
    path = "/apis/metrics.k8s.io/v1beta1/pods"

    def one():
        t = time.monotonic()
        try:
            status, body = https(port, ctx, "GET", path, headers={"Accept": mime}, timeout=120)
        except (OSError, http.client.HTTPException) as e:
            return time.monotonic() - t, f"{type(e).__name__}: {e}", 0
        return time.monotonic() - t, None if status == 200 else f"status {status}", len(body)

    probe = one()
    if probe[1] is None and probe[0] < 0.5:
        m = metrics_load(a, port, pki, fleet_certs, "list", acc, a.list_rate, a.list_seconds, n,
                         p, conns=2)
        m["method"] = f"metrics_load, {a.list_rate:g}/s open loop"
        return m
    samples, errors = [probe], []
    t0 = time.monotonic()
    while len(samples) < 3 or (time.monotonic() - t0 < a.list_seconds and len(samples) < 10):
        if time.monotonic() - t0 > 120:
            break
        samples.append(one())
    lat = sorted(x[0] * 1000 for x in samples if x[1] is None)
    errors = [x[1] for x in samples if x[1] is not None]
    q = lambda f: lat[min(len(lat) - 1, int(f * len(lat)))] if lat else None
    return {"mode": "list", "accept": acc, "sent": len(samples), "ok": len(lat),
            "errors": len(errors), "error_samples": errors[:3], "p50_ms": q(0.5),
            "p90_ms": q(0.9), "p99_ms": q(0.99), "max_ms": lat[-1] if lat else None,
            "bytes_mean": statistics.mean(x[2] for x in samples),
            "method": f"sequential ({probe[0]:.1f} s for one list)"}


def snapshot(port, ctx, path, decode=True):
    """(request wall time, decoded JSON list, or the raw body unless DECODE) of one GET."""
    t = time.time()
    status, body = https(port, ctx, "GET", path, headers={"Accept": "application/json"},
                         timeout=300)
    if status != 200:
        raise RuntimeError(f"GET {path}: {status} {body[:200]!r}")
    return t, json.loads(body) if decode else body


# An item's "timestamp" field in a metrics list (not "creationTimestamp": the quote before it).
TIMESTAMP_FIELD = re.compile(rb'"timestamp":"([^"]+)"')


def sample_ages(t, body, cache):
    """Ages at wall time T of every item's timestamp in a raw JSON list body, without decoding
    the list (150,000 pods are 64 MB of JSON); CACHE maps timestamp text to seconds."""
    ages = []
    for m in TIMESTAMP_FIELD.finditer(body):
        ts = m.group(1)
        if ts not in cache:
            cache[ts] = parse_time(ts.decode())
        ages.append(t - cache[ts])
    return ages


def pod_usage(items):
    out = {}
    for it in items:
        md = it["metadata"]
        cpu = sum(parse_cpu(c["usage"]["cpu"]) for c in it["containers"])
        mem = sum(parse_mem(c["usage"]["memory"]) for c in it["containers"])
        out[(md["namespace"], md["name"])] = (cpu, mem)
    return out


def measure_server(srv, a, n, p, port, pki, fleet_certs, d, other_pgids):
    """Runs one server to the end; returns its figures (with 'failure' set if it failed)."""
    r = {"server": srv.name, "settings": srv.settings, "budget": srv.budget, "failure": None,
         "argv": srv.argv}
    res_s = a.resolution_s
    ctx = tls_context(pki[0], os.path.join(fleet_certs, "client.crt"),
                      os.path.join(fleet_certs, "client.key"))
    proc = Proc(srv.name, srv.argv, os.path.join(d, f"{srv.name}.log"))
    pods_path = "/apis/metrics.k8s.io/v1beta1/pods"
    nodes_path = "/apis/metrics.k8s.io/v1beta1/nodes"

    def check_alive(stage):
        if not proc.alive():
            raise RuntimeError(f"{proc.exit_text()} during {stage}: {proc.tail()}")

    try:
        # Time to ready: /readyz answers 200 to the bench client.
        deadline = proc.t0 + a.ready_timeout
        last = ""
        while True:
            check_alive("start-up")
            try:
                status, body = https(port, ctx, "GET", "/readyz", timeout=5)
                if status == 200:
                    break
                last = f"{status} {body[-200:]!r}"
            except (OSError, http.client.HTTPException) as e:
                last = str(e)
            if time.monotonic() > deadline:
                raise RuntimeError(f"never ready within {a.ready_timeout}s (last /readyz: {last})")
            time.sleep(0.1)
        r["ready_s"] = time.monotonic() - proc.t0
        log(f"{srv.name}: ready after {r['ready_s']:.2f}s")

        # Coverage: wait (at most 3 resolutions) until every node and pod is served.
        t_cov = time.monotonic()
        while True:
            check_alive("coverage wait")
            _, nodes = snapshot(port, ctx, nodes_path)
            _, pods = snapshot(port, ctx, pods_path)
            r["nodes_served"], r["pods_served"] = len(nodes["items"]), len(pods["items"])
            if (r["nodes_served"] >= n and r["pods_served"] >= n * p) or \
                    time.monotonic() - t_cov > 3 * res_s:
                break
            time.sleep(min(1.0, res_s / 10))
        r["all_served_s"] = (time.monotonic() - proc.t0
                             if r["nodes_served"] >= n and r["pods_served"] >= n * p else None)

        # Settle, then CPU and RSS over K whole ticks with nothing but scraping going on.
        time.sleep(a.settle_ticks * res_s)
        check_alive("settling")
        c0, t0 = proc_stat(proc.pid)[1], time.monotonic()
        o0, _ = group_usage(other_pgids)
        rss, lazy = [], []
        while time.monotonic() - t0 < a.steady_ticks * res_s:
            check_alive("the steady-state window")
            rss.append(vm_status(proc.pid).get("VmRSS", 0))
            lazy.append(lazy_free(proc.pid))
            time.sleep(min(1.0, res_s / 10))
        c1, t1 = proc_stat(proc.pid)[1], time.monotonic()
        o1, _ = group_usage(other_pgids)
        ticks = (t1 - t0) / res_s
        r["cpu_s_per_tick"] = (c1 - c0) / ticks
        r["cpu_ms_per_node_tick"] = r["cpu_s_per_tick"] / n * 1000
        r["cores"] = r["cpu_s_per_tick"] / res_s
        r["rss_bytes"] = statistics.median(rss)
        r["rss_max_bytes"] = max(rss)
        r["rss_kib_per_node"] = r["rss_bytes"] / n / 1024
        if rss and None not in lazy:
            r["rss_less_lazy_free_bytes"] = statistics.median(x - y for x, y in zip(rss, lazy))
        r["context_cpu_s_per_tick"] = (o1 - o0) / ticks
        log(f"{srv.name}: {r['cpu_s_per_tick']:.4f} CPU s/tick, RSS {r['rss_bytes'] / 2**20:.1f} MiB")

        # Staleness and values: all-pods JSON lists spread over one tick (the age of what is
        # served depends on where in the tick a list comes, so one list is not a median), the
        # last one decoded for the values.
        shots = max(1, a.snapshots)
        ages, usage, times = [], {}, {}
        for k in range(shots):
            check_alive("staleness snapshots")
            t0 = time.monotonic()
            t, body = snapshot(port, ctx, pods_path, decode=False)
            shot = sample_ages(t, body, times)
            ages += shot
            if k + 1 == shots:
                usage = pod_usage(json.loads(body)["items"])
            del body
            r["pods_served"] = min(r["pods_served"], len(shot)) if k else len(shot)
            if k + 1 < shots:
                time.sleep(max(0.0, res_s / shots - (time.monotonic() - t0)))
        _, nodes = snapshot(port, ctx, nodes_path)
        r["nodes_served"] = len(nodes["items"])
        r["distinct_pods"] = len(usage)
        r["staleness_median_s"] = statistics.median(ages) if ages else None
        r["staleness_max_s"] = max(ages) if ages else None

        # All-pods list latency, then HPA-shaped queries while scraping continues; each phase
        # starts once the server is back to its scraping-only CPU, so no backlog carries over.
        for acc in ("json", "protobuf"):
            check_alive(f"list {acc}")
            r[f"quiesce_{acc}_s"] = quiesce(proc, r["cores"])
            r[f"list_{acc}"] = list_latency(a, port, ctx, pki, fleet_certs, acc, n, p)
        check_alive("hpa")
        r["quiesce_hpa_s"] = quiesce(proc, r["cores"])
        c0 = proc_stat(proc.pid)[1]
        r["hpa"] = metrics_load(a, port, pki, fleet_certs, "hpa", "protobuf", a.hpa_rate,
                                a.hpa_seconds, n, p)
        c1 = proc_stat(proc.pid)[1]
        r["hpa_cpu_s"] = c1 - c0
        # Serving cost: the CPU during the HPA run minus what scraping takes in that time.
        if r["hpa"].get("ok"):
            r["hpa_cpu_us_per_request"] = max(0.0, r["hpa_cpu_s"] - r["cpu_s_per_tick"] *
                                              a.hpa_seconds / res_s) / r["hpa"]["ok"] * 1e6
        check_alive("the end of the run")
        r["rss_peak_bytes"] = vm_status(proc.pid).get("VmHWM")
        return r, usage
    except Exception as e:
        r["failure"] = str(e)
        log(f"{srv.name}: FAILED: {e}")
        return r, {}
    finally:
        proc.stop()


def compare_values(ours, ms):
    both = set(ours) & set(ms)
    if not both:
        return None

    def rel(k, i):
        b = ms[k][i]
        return abs(ours[k][i] - b) / b if b else (0.0 if ours[k][i] == 0 else 1.0)

    cpu = sorted(rel(k, 0) for k in both)
    mem = sorted(rel(k, 1) for k in both)
    q = lambda v, f: v[min(len(v) - 1, int(f * len(v)))]
    return {"pods_compared": len(both), "cpu_rel_diff_median": q(cpu, 0.5),
            "cpu_rel_diff_p99": q(cpu, 0.99), "mem_rel_diff_median": q(mem, 0.5),
            "mem_rel_diff_p99": q(mem, 0.99),
            "within_10pct": sum(1 for k in both if rel(k, 0) <= 0.1 and rel(k, 1) <= 0.1)}


# --- one size -----------------------------------------------------------------------------------


def run_size(a, n, pki, fleet_certs, ms_bin):
    p, c = a.pods, a.containers
    d = os.path.join(a.out, f"n{n}")
    os.makedirs(d, exist_ok=True)
    inv_kind = a.inventory if a.inventory != "auto" else ("real" if n <= 1000 else "standin")
    size = {"nodes": n, "pods_per_node": p, "containers": c, "pods": n * p,
            "resolution_s": a.resolution_s, "inventory": inv_kind, "servers": {}}
    global FLEET_PORTS
    try:
        port_base = a.port_base or free_port_block(n)
    except RuntimeError as e:
        size["failure"] = str(e)
        log(size["failure"])
        return size
    size["port_base"] = port_base
    FLEET_PORTS = range(port_base, port_base + n)
    log(f"=== N={n} P={p} C={c}, inventory {inv_kind}, kubelets on 127.0.0.1:{port_base}+")
    ready = os.path.join(d, "fleet.ready")
    if os.path.exists(ready):
        os.remove(ready)
    fleet = Proc("fleet_sim", [os.path.join(a.fleet_bin_dir, "fleet_sim"),
                               f"--nodes={n}", f"--pods={p}", f"--containers={c}",
                               f"--port-base={port_base}", f"--cert-dir={fleet_certs}",
                               f"--ready-file={ready}",
                               *(["--go-framing"] if a.kubelet_framing == "go" else [])],
                 os.path.join(d, "fleet_sim.log"))
    inv = None
    try:
        size["fleet_ready_s"] = wait_file(ready, fleet, 900, "fleet_sim")
        _, size["fleet_rss_bytes_idle"] = group_usage([fleet.pid])
        try:
            if inv_kind == "real":
                inv = RealInventory(n, p, c, port_base, d)
            else:
                inv = StandinInventory(os.path.join(a.fleet_bin_dir, "kube_standin"), n, p, c,
                                       port_base, d)
        except Exception as e:
            size["failure"] = f"inventory ({inv_kind}) failed: {e}"
            log(size["failure"])
            return size
        size["inventory_label"] = inv.label
        size["inventory_setup_s"] = inv.setup_seconds
        usages = {}
        for name in a.servers:
            port = free_port()
            srv = server_args(name, a, n, port, inv.kubeconfig, pki, fleet_certs, ms_bin)
            cpu0, _ = group_usage([fleet.pid])
            icpu0, _ = group_usage(inv.pgids)
            t0 = time.monotonic()
            r, usages[name] = measure_server(srv, a, n, p, port, pki, fleet_certs, d,
                                             [fleet.pid])
            wall = time.monotonic() - t0
            cpu1, frss = group_usage([fleet.pid])
            icpu1, irss = group_usage(inv.pgids)
            r["fleet_cpu_cores"] = (cpu1 - cpu0) / wall
            r["fleet_rss_bytes"] = frss
            r["inventory_cpu_cores"] = (icpu1 - icpu0) / wall
            r["inventory_rss_bytes"] = irss
            size["servers"][name] = r
            if not fleet.alive():
                size["failure"] = f"fleet_sim {fleet.exit_text()}: {fleet.tail()}"
                return size
        if "ours" in usages and "metrics-server" in usages:
            size["values"] = compare_values(usages["ours"], usages["metrics-server"])
        return size
    finally:
        if inv:
            inv.stop()
        fleet.stop()
        cost = [l for l in open(fleet.log_path, errors="replace").read().splitlines()
                if "cpu" in l.lower()]
        size["fleet_exit_line"] = cost[-1].strip()[:300] if cost else None


# --- tables and plots ---------------------------------------------------------------------------


def fmt(v, spec):
    return "—" if v is None else format(v, spec)


def ratio(o, m):
    return None if o is None or m is None or m == 0 else o / m


def rows_for(size):
    S = size["servers"]
    n = size["nodes"]

    def get(name, *path):
        v = S.get(name)  # figures measured before a failure are shown too
        if not v:
            return None
        for k in path:
            v = v.get(k) if isinstance(v, dict) else None
            if v is None:
                return None
        return v

    rows = []

    def add(label, key_fn, spec, with_ratio=True):
        o, m = key_fn("ours"), key_fn("metrics-server")
        rows.append((label, fmt(o, spec), fmt(m, spec),
                     fmt(ratio(o, m), ".3f") if with_ratio else ""))

    add("CPU per tick (s)", lambda s: get(s, "cpu_s_per_tick"), ".4f")
    add("CPU per node per tick (ms)", lambda s: get(s, "cpu_ms_per_node_tick"), ".4f")
    add("cores used (CPU per tick / resolution)", lambda s: get(s, "cores"), ".4f")
    add("steady RSS (MiB, median over the window)",
        lambda s: get(s, "rss_bytes") / 2**20 if get(s, "rss_bytes") else None, ".1f")
    add("peak RSS over the window (MiB)",
        lambda s: get(s, "rss_max_bytes") / 2**20 if get(s, "rss_max_bytes") else None, ".1f")
    add("RSS per node (KiB)", lambda s: get(s, "rss_kib_per_node"), ".1f")
    add("steady RSS less lazily freed pages (MiB, median)",
        lambda s: get(s, "rss_less_lazy_free_bytes") / 2**20
        if get(s, "rss_less_lazy_free_bytes") is not None else None, ".1f")
    add("start to ready (s)", lambda s: get(s, "ready_s"), ".2f")
    add("start to every node and pod served (s)", lambda s: get(s, "all_served_s"), ".2f")
    add("staleness of served samples, median (s)", lambda s: get(s, "staleness_median_s"), ".1f")
    add("staleness of served samples, max (s)", lambda s: get(s, "staleness_max_s"), ".1f")
    for acc in ("json", "protobuf"):
        for q in ("p50", "p99"):
            add(f"list all pods, {acc}, {q} (ms)", lambda s, acc=acc, q=q:
                get(s, f"list_{acc}", f"{q}_ms"), ".1f")
    for q in ("p50", "p99"):
        add(f"HPA-shaped query, protobuf, {q} (ms)", lambda s, q=q: get(s, "hpa", f"{q}_ms"), ".2f")

    add("CPU per HPA-shaped query, scraping subtracted (µs)",
        lambda s: get(s, "hpa_cpu_us_per_request"), ".0f")

    def errors(s):
        h = get(s, "hpa")
        if not h:
            return None
        ls = [get(s, f"list_{a}") or {} for a in ("json", "protobuf")]
        return f"{h.get('errors', '?')}/{h.get('sent', '?')} hpa, " + ", ".join(
            f"{x.get('errors', '?')}/{x.get('sent', '?')} list" for x in ls)

    rows.append(("errors (failed/sent)", errors("ours") or "—", errors("metrics-server") or "—", ""))

    def served(s):
        nn, pp = get(s, "nodes_served"), get(s, "pods_served")
        if nn is None:
            return None
        return f"{nn}/{n} nodes, {pp}/{n * size['pods_per_node']} pods"

    rows.append(("served", served("ours") or "—", served("metrics-server") or "—", ""))
    rows.append(("fleet_sim / inventory CPU (cores) while it ran",
                 *(f"{fmt(get(s, 'fleet_cpu_cores'), '.3f')} / "
                   f"{fmt(get(s, 'inventory_cpu_cores'), '.3f')}" if s in S else "—"
                   for s in SERVERS), ""))
    return rows


def table_text(size, meta):
    n, p, c = size["nodes"], size["pods_per_node"], size["containers"]
    setup = size.get("inventory_setup_s")
    setup = "" if setup is None else f" (set up in {setup:.0f}s)"
    out = [f"### N = {n:,} nodes × {p} pods × {c} containers ({n * p:,} pods), "
           f"resolution {size['resolution_s']:g}s",
           "",
           f"Inventory: {size.get('inventory_label', size['inventory'])}{setup}. "
           f"fleet_sim ready in {fmt(size.get('fleet_ready_s'), '.1f')}s, "
           f"{fmt((size.get('fleet_rss_bytes_idle') or 0) / 2**20, '.0f')} MiB RSS idle."]
    if size.get("failure"):
        out += ["", f"**Size failed:** {size['failure']}"]
    out += ["", "| | ours | metrics-server | ours / metrics-server |", "|---|---|---|---|"]
    for row in rows_for(size):
        out.append("| " + " | ".join(row) + " |")
    out.append("")
    for name in SERVERS:
        s = size["servers"].get(name)
        if not s:
            continue
        line = f"- {name}: `{s['settings']}`"
        if s.get("budget"):
            b = s["budget"]
            line += (f"; documented requests for {n:,} nodes: {b['cpu_cores'] * 1000:.0f}m CPU, "
                     f"{b['memory_bytes'] / 2**20:.0f}Mi")
            if not s.get("failure") and s.get("cores") is not None:
                line += (f" (measured: {s['cores'] * 1000:.0f}m, "
                         f"{s['rss_bytes'] / 2**20:.0f}Mi)")
        methods = {(s.get(f"list_{x}") or {}).get("method") for x in ("json", "protobuf")}
        methods.discard(None)
        if methods:
            line += "; all-pods lists: " + ", ".join(sorted(methods))
        if s.get("failure"):
            line += f". **Failed:** {s['failure']}"
        out.append(line)
    v = size.get("values")
    if v:
        out.append(f"- Same values: {v['pods_compared']:,} pods served by both; relative "
                   f"difference ours vs metrics-server, CPU median {v['cpu_rel_diff_median']:.2%} "
                   f"(p99 {v['cpu_rel_diff_p99']:.2%}), memory median "
                   f"{v['mem_rel_diff_median']:.2%} (p99 {v['mem_rel_diff_p99']:.2%}); "
                   f"{v['within_10pct']:,} within 10 % on both.")
    o, m = size["servers"].get("ours") or {}, size["servers"].get("metrics-server") or {}
    checks = []
    if not o.get("failure") and not m.get("failure") and o.get("cpu_ms_per_node_tick") and \
            m.get("cpu_ms_per_node_tick"):
        rc = o["cpu_ms_per_node_tick"] / m["cpu_ms_per_node_tick"]
        rm = o["rss_kib_per_node"] / m["rss_kib_per_node"]
        checks.append(f"CPU per node per tick ≤ 1/20 of metrics-server: {rc:.3f} "
                      f"{'met' if rc <= 0.05 else 'NOT met'}")
        checks.append(f"memory per node ≤ 1/20: {rm:.3f} {'met' if rm <= 0.05 else 'NOT met'}")
    if not o.get("failure") and o.get("ready_s") is not None:
        checks.append(f"ready within one resolution: {o['ready_s']:.1f}s "
                      f"{'met' if o['ready_s'] <= size['resolution_s'] else 'NOT met'}")
    if n * p >= 150000 and o.get("list_json"):
        w = max(o["list_json"]["p50_ms"], o["list_protobuf"]["p50_ms"])
        checks.append(f"all-pods list ≤ 150 ms at {n * p:,} pods (p50, worse encoding): "
                      f"{w:.0f} ms {'met' if w <= 150 else 'NOT met'}")
    if n >= 10000 and not o.get("failure") and o.get("cores") is not None:
        ok = o["cores"] <= 1 and o["rss_bytes"] <= 2**30
        checks.append(f"{n:,} nodes within one core and 1 GiB: {o['cores']:.2f} cores, "
                      f"{o['rss_bytes'] / 2**30:.2f} GiB {'met' if ok else 'NOT met'}")
    if checks:
        out.append("- Targets: " + "; ".join(checks) + ".")
    if size.get("fleet_exit_line"):
        out.append(f"- fleet_sim on exit: `{size['fleet_exit_line']}`")
    return "\n".join(out) + "\n"


def marginal_text(results):
    """Per-node cost between consecutive sizes (slope), which the fixed baseline does not blur."""
    sizes = results["sizes"]
    if len(sizes) < 2:
        return ""
    out = ["### Marginal cost per node between sizes", "",
           "| nodes | CPU per node per tick (ms), ours | metrics-server | ratio "
           "| RSS per node (KiB), ours | metrics-server | ratio |", "|---|---|---|---|---|---|---|"]
    for lo, hi in zip(sizes, sizes[1:]):
        dn = hi["nodes"] - lo["nodes"]
        vals = {}
        for name in SERVERS:
            a, b = lo["servers"].get(name) or {}, hi["servers"].get(name) or {}
            if a.get("failure") or b.get("failure") or a.get("cpu_s_per_tick") is None or \
                    b.get("cpu_s_per_tick") is None or dn <= 0:
                vals[name] = (None, None)
                continue
            vals[name] = ((b["cpu_s_per_tick"] - a["cpu_s_per_tick"]) / dn * 1000,
                          (b["rss_bytes"] - a["rss_bytes"]) / dn / 1024)
        o, m = vals["ours"], vals["metrics-server"]
        out.append(f"| {lo['nodes']:,} → {hi['nodes']:,} | {fmt(o[0], '.4f')} | {fmt(m[0], '.4f')} "
                   f"| {fmt(ratio(o[0], m[0]), '.3f')} | {fmt(o[1], '.1f')} | {fmt(m[1], '.1f')} "
                   f"| {fmt(ratio(o[1], m[1]), '.3f')} |")
    return "\n".join(out) + "\n"


def plots(results, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = results["sizes"]
    style = {"ours": ("tab:blue", "o"), "metrics-server": ("tab:red", "s")}

    def series(name, key, scale=1.0):
        xs, ys = [], []
        for s in sizes:
            r = s["servers"].get(name)
            if r and not r.get("failure") and r.get(key) is not None:
                xs.append(s["nodes"])
                ys.append(r[key] * scale)
        return xs, ys

    res = results["meta"]["resolution_s"]
    for fname, panels in (
            ("cpu.png", [("cores", 1.0, "CPU (cores, steady state)", ("cpu_cores", 1.0)),
                         ("cpu_ms_per_node_tick", 1.0, "CPU per node per tick (ms)", None)]),
            ("memory.png", [("rss_bytes", 1 / 2**20, "RSS (MiB, steady state)",
                             ("memory_bytes", 1 / 2**20)),
                            ("rss_kib_per_node", 1.0, "RSS per node (KiB)", None)])):
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
        for ax, (key, scale, label, budget) in zip(axes, panels):
            for name in SERVERS:
                xs, ys = series(name, key, scale)
                if xs:
                    ax.plot(xs, ys, marker=style[name][1], color=style[name][0], label=name)
            if budget:
                bx = [s["nodes"] for s in sizes]
                by = [(max(0, x - 100) * (0.001 if budget[0] == "cpu_cores" else 2 * 2**20)
                       + (0.1 if budget[0] == "cpu_cores" else 200 * 2**20)) * budget[1]
                      for x in bx]
                ax.plot(bx, by, linestyle="--", color="tab:gray",
                        label="metrics-server documented requests")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("nodes (30 pods each)" if results["meta"]["pods"] == 30 else "nodes")
            ax.set_ylabel(label)
            ax.grid(True, which="both", alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=8)
        fig.suptitle(f"{'CPU' if fname == 'cpu.png' else 'Memory'} against node count, "
                     f"{results['meta']['pods']} pods × {results['meta']['containers']} containers "
                     f"per node, resolution {res:g}s")
        fig.tight_layout()
        fig.savefig(os.path.join(out, fname), dpi=110)
        plt.close(fig)


# --- main ---------------------------------------------------------------------------------------


def parse_duration(s):
    m = re.fullmatch(r"([0-9.]+)(ms|s|m)?", s)
    if not m:
        raise argparse.ArgumentTypeError(f"bad duration {s}")
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, None: 1}[m.group(2)]


def machine():
    model = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        mem = next(l for l in open("/proc/meminfo") if l.startswith("MemTotal")).split()[1]
    except (OSError, StopIteration):
        mem = "0"
    rev = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                         capture_output=True, text=True).stdout.strip()
    return {"cpu": model, "cpus": os.cpu_count(), "mem_gib": round(int(mem) / 2**20, 1),
            "kernel": os.uname().release, "revision": rev}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="100,1000,5000,10000")
    ap.add_argument("--pods", type=int, default=30)
    ap.add_argument("--containers", type=int, default=2)
    ap.add_argument("--resolution", type=parse_duration, default=15.0, dest="resolution_s")
    ap.add_argument("--servers", default="ours,metrics-server")
    ap.add_argument("--inventory", choices=("auto", "real", "standin"), default="auto")
    ap.add_argument("--steady-ticks", type=int, default=4)
    ap.add_argument("--settle-ticks", type=float, default=2,
                    help="ticks to wait after every node and pod is served before measuring")
    ap.add_argument("--snapshots", type=int, default=10,
                    help="all-pods lists for staleness, evenly spread over one tick (the median "
                         "of K lists is within resolution/K of the tick-wide median)")
    ap.add_argument("--hpa-rate", type=float, default=200)
    ap.add_argument("--hpa-seconds", type=float, default=None, help="default: 2 resolutions")
    ap.add_argument("--list-rate", type=float, default=1)
    ap.add_argument("--list-seconds", type=float, default=10)
    ap.add_argument("--ready-timeout", type=float, default=None,
                    help="seconds; default 120 + 10 per 1,000 nodes")
    ap.add_argument("--port-base", type=int, default=0,
                    help="first kubelet port; default: the first free block from 20000")
    ap.add_argument("--out", default="bench-out")
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--ours-bin", default=None, help="default: BUILD_DIR/cmd/cpp-metrics-server")
    ap.add_argument("--ours-flags", default="",
                    help="more flags for our server, space-separated, e.g. "
                         "--kubelet-request-protobuf=true (ask kubelets for the protobuf exposition)")
    ap.add_argument("--kubelet-framing", choices=("go", "content-length"), default="go",
                    help="how the simulated kubelets frame /metrics/resource: as a real "
                         "kubelet's Go HTTP server does (the default: chunked, 4 KiB records, one "
                         "write each: fleet_sim --go-framing), or one Content-Length body in 16 "
                         "KiB TLS records (the tables until 2026-12-07)")
    ap.add_argument("--fleet-bin-dir", default=None,
                    help="where fleet_sim, kube_standin, metrics_load are; "
                         "default: BUILD_DIR/test/bench/fleet")
    ap.add_argument("--metrics-server-bin", default=None,
                    help="default: from test/cluster/build-binaries.sh --print-env")
    ap.add_argument("--require-complete", action="store_true",
                    help="exit 1 unless every figure was measured and every node and pod served")
    a = ap.parse_args()
    # A TERM (CTest's timeout, kill) unwinds like Ctrl-C, so every process started is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    a.sizes = [int(x.replace("_", "")) for x in a.sizes.split(",")]
    a.servers = [s for s in a.servers.split(",") if s]
    for s in a.servers:
        if s not in SERVERS:
            ap.error(f"unknown server {s}")
    if a.hpa_seconds is None:
        a.hpa_seconds = 2 * a.resolution_s
    a.build_dir = os.path.abspath(a.build_dir)
    a.out = os.path.abspath(a.out)
    a.ours_bin = os.path.abspath(a.ours_bin or os.path.join(a.build_dir, "cmd",
                                                            "cpp-metrics-server"))
    a.fleet_bin_dir = os.path.abspath(a.fleet_bin_dir or os.path.join(a.build_dir, "test",
                                                                      "bench", "fleet"))
    standin = a.inventory == "standin" or (a.inventory == "auto" and max(a.sizes) > 1000)
    for b in (a.ours_bin, *(os.path.join(a.fleet_bin_dir, x) for x in
                            ("fleet_sim", "metrics_load", *(("kube_standin",) if standin else ())))):
        if not os.access(b, os.X_OK):
            sys.exit(f"{b} missing: build the tree first (scripts/build.sh)")
    os.makedirs(a.out, exist_ok=True)

    ms_bin = a.metrics_server_bin
    if "metrics-server" in a.servers and not ms_bin:
        r = subprocess.run([BUILD_BINARIES, "--print-env"], capture_output=True, text=True)
        env = dict(l.split("=", 1) for l in r.stdout.splitlines() if "=" in l)
        ms_bin = env.get("METRICS_SERVER")
        if r.returncode != 0 or not ms_bin:
            sys.exit("metrics-server binary missing: run test/cluster/build-binaries.sh")

    pki = make_serving_pki(os.path.join(a.out, "serving-pki"))
    fleet_certs = os.path.join(a.out, "fleet-certs")
    os.makedirs(fleet_certs, exist_ok=True)
    meta = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "pods": a.pods, "containers": a.containers, "resolution_s": a.resolution_s,
            "steady_ticks": a.steady_ticks, "hpa_rate": a.hpa_rate, "hpa_seconds": a.hpa_seconds,
            "list_rate": a.list_rate, "list_seconds": a.list_seconds,
            "kubelet_framing": a.kubelet_framing,
            "loadavg_start": os.getloadavg(), "argv": sys.argv[1:], **machine()}
    results = {"meta": meta, "sizes": []}
    t_start = time.monotonic()
    for n in a.sizes:
        if a.ready_timeout is None:
            a.ready_timeout = 120 + 10 * n / 1000
        size = run_size(a, n, pki, fleet_certs, ms_bin)
        results["sizes"].append(size)
        meta["loadavg_end"] = os.getloadavg()
        meta["wall_s"] = time.monotonic() - t_start
        with open(os.path.join(a.out, "results.json"), "w") as f:
            json.dump(results, f, indent=1, default=str)
        print(table_text(size, meta), flush=True)

    head = (f"Machine: {meta['cpu']}, {meta['cpus']} CPUs, {meta['mem_gib']} GiB, Linux "
            f"{meta['kernel']}; revision {meta['revision']}; {meta['date']}; load average "
            f"{meta['loadavg_start'][0]:.1f} at start, {meta['loadavg_end'][0]:.1f} at end; "
            f"CPU over {a.steady_ticks} ticks, HPA {a.hpa_rate:g}/s for {a.hpa_seconds:g}s "
            f"(8 connections), lists {a.list_rate:g}/s for {a.list_seconds:g}s; kubelet "
            f"framing {a.kubelet_framing}.\n\n")
    with open(os.path.join(a.out, "tables.md"), "w") as f:
        f.write(head + "\n".join(table_text(s, meta) for s in results["sizes"]))
        marg = marginal_text(results)
        if marg:
            f.write("\n" + marg)
            print(marg, flush=True)
    for f in ("cpu.png", "memory.png"):
        if os.path.exists(os.path.join(a.out, f)):
            os.remove(os.path.join(a.out, f))
    try:
        plots(results, a.out)
    except Exception as e:  # the tables stand without the plots
        log(f"plots failed: {e}")
        meta["plots_failure"] = str(e)
    log(f"done in {meta['wall_s']:.0f}s: {a.out}/tables.md, results.json, cpu.png, memory.png")

    if a.require_complete:
        problems = completeness(results, a)
        problems += [f"{f} not written" for f in ("cpu.png", "memory.png", "tables.md")
                     if not os.path.exists(os.path.join(a.out, f))]
        for pr in problems:
            print(f"FAIL: {pr}")
        if problems:
            sys.exit(1)
        print("PASS: every figure measured; both servers served every node and pod")


FIELDS = ("ready_s", "all_served_s", "cpu_s_per_tick", "cpu_ms_per_node_tick", "cores",
          "rss_bytes", "rss_kib_per_node", "staleness_median_s", "staleness_max_s")


def completeness(results, a):
    problems = []
    for s in results["sizes"]:
        n, np_ = s["nodes"], s["nodes"] * s["pods_per_node"]
        if s.get("failure"):
            problems.append(f"N={n}: {s['failure']}")
        for name in a.servers:
            r = s["servers"].get(name)
            if not r:
                problems.append(f"N={n} {name}: not run")
                continue
            if r.get("failure"):
                problems.append(f"N={n} {name}: {r['failure']}")
                continue
            for k in FIELDS:
                if r.get(k) is None:
                    problems.append(f"N={n} {name}: {k} missing")
            if r.get("nodes_served") != n or r.get("pods_served") != np_ or \
                    r.get("distinct_pods") != np_:
                problems.append(f"N={n} {name}: served {r.get('nodes_served')} nodes, "
                                f"{r.get('pods_served')} pods ({r.get('distinct_pods')} distinct); "
                                f"want {n} and {np_}")
            for k in ("list_json", "list_protobuf", "hpa"):
                m = r.get(k) or {}
                if not m.get("ok") or m.get("errors") or m.get("p99_ms") is None:
                    problems.append(f"N={n} {name}: {k}: ok={m.get('ok')} "
                                    f"errors={m.get('errors')} {m.get('error_samples', '')}")
            if r.get("staleness_max_s") is not None and \
                    r["staleness_max_s"] > 3 * s["resolution_s"] + 5:
                problems.append(f"N={n} {name}: samples {r['staleness_max_s']:.1f}s old")
        v = s.get("values")
        if len(a.servers) == 2:
            if not v or v["pods_compared"] != np_:
                problems.append(f"N={n}: values compared for "
                                f"{v and v['pods_compared']} pods, want {np_}")
            elif v["within_10pct"] != np_:
                problems.append(f"N={n}: only {v['within_10pct']} of {np_} pods agree within 10 %")
    return problems


if __name__ == "__main__":
    main()
