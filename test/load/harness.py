"""Shared by load.py and limits.py: a simulated fleet (fleet_sim + kube_standin, see
test/bench/fleet), our server binary against it, metrics_load runs, and /proc readings.

Loopback only. Every process started here is a child of the driver and is stopped by
Stack.close() (also on exceptions), so a run leaves nothing behind.
"""
import http.client
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
_children = []  # every Popen started here, for the SIGTERM handler


def install_sigterm_cleanup():
    """On SIGTERM (a CTest timeout, a kill): stop every process started here, then exit 143."""
    def handler(*_):
        for p in _children:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    p.kill()
        os._exit(143)
    signal.signal(signal.SIGTERM, handler)
PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ports_free(base, count):
    """True when 127.0.0.1:base..base+count-1 can all be bound now."""
    for p in range(base, base + count):
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                return False
    return True


def pick_port_base(count, candidates=(23000, 25000, 27000, 29000, 21000)):
    for base in candidates:
        if base + count < 32768 and ports_free(base, count):
            return base
    raise RuntimeError("no free range of %d loopback ports below 32768" % count)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def hwm_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


class Sampler(threading.Thread):
    """Peak RSS (KiB) and open files of a process, sampled every `every` seconds from start()
    until stop(), which returns the peak RSS."""

    def __init__(self, pid, every=0.1):
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.stop_flag = threading.Event()
        self.rss_max = 0
        self.fds_max = 0

    def run(self):
        while not self.stop_flag.is_set():
            try:
                self.rss_max = max(self.rss_max, rss_kib(self.pid))
                self.fds_max = max(self.fds_max, open_fds(self.pid))
            except OSError:
                return
            self.stop_flag.wait(self.every)

    def stop(self):
        self.stop_flag.set()
        self.join()
        return self.rss_max


def established_to(pid, port):
    """How many TCP connections process `pid` holds in state ESTABLISHED to local port `port`
    (from /proc: its socket inodes, matched in /proc/net/tcp and tcp6)."""
    inodes = set()
    fd_dir = "/proc/%d/fd" % pid
    for fd in os.listdir(fd_dir):
        try:
            link = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[len("socket:["):-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            f = row.split()
            # sl local_address rem_address st ... inode (column 9); state 01 = ESTABLISHED
            if f[3] == "01" and int(f[2].rsplit(":", 1)[1], 16) == port and f[9] in inodes:
                count += 1
    return count


def wait_file(path, proc, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            return
        if proc.poll() is not None:
            raise RuntimeError("%s exited with %s before it was ready" % (what, proc.returncode))
        time.sleep(0.1)
    raise RuntimeError("%s not ready within %ds" % (what, timeout))


class Results:
    """PASS:/FAIL: lines, counted; finish() prints the run's summary and gives its exit status."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, ok, what):
        print(("PASS: " if ok else "FAIL: ") + what, flush=True)
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        return ok

    def finish(self, label, t0):
        """Prints `[label] Ns total` and the counts; 0 only if something passed and nothing failed."""
        print("[%s] %.0fs total" % (label, time.monotonic() - t0))
        print("%d passed, %d failed" % (self.passed, self.failed))
        return 0 if self.failed == 0 and self.passed > 0 else 1


class Stack:
    """fleet_sim + kube_standin + our server on loopback."""

    def __init__(self, server_bin, fleet_dir, nodes, pods, containers=2, resolution="15s",
                 server_flags=(), workdir=None, server_rlimit_nofile=None, log=print):
        self.server_bin = server_bin
        self.fleet_dir = fleet_dir
        self.nodes, self.pods, self.containers = nodes, pods, containers
        self.resolution = resolution
        self.server_flags = list(server_flags)
        self.server_rlimit_nofile = server_rlimit_nofile
        self.log = log
        self.tmp = None
        if workdir is None:
            self.tmp = tempfile.TemporaryDirectory(prefix="cms-load.")
            workdir = self.tmp.name
        self.work = workdir
        self.procs = []
        self.server = None
        self.server_log = os.path.join(self.work, "server.log")

    # --- lifecycle ---
    def _spawn(self, name, argv, preexec=None):
        out = open(os.path.join(self.work, name + ".log"), "wb")
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, preexec_fn=preexec,
                             start_new_session=True)
        _children.append(p)
        out.close()
        self.procs.append((name, p))
        return p

    def start(self):
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def _start(self):
        if self.fleet_dir is None:
            return self._start_without_fleet()
        t0 = time.monotonic()
        self.port_base = pick_port_base(self.nodes)
        self.certs = os.path.join(self.work, "fleet-certs")
        self.kube_dir = os.path.join(self.work, "kube")
        os.makedirs(self.kube_dir, exist_ok=True)
        os.makedirs(self.certs, exist_ok=True)
        size = ["--nodes=%d" % self.nodes, "--pods=%d" % self.pods,
                "--containers=%d" % self.containers, "--port-base=%d" % self.port_base]
        sim_ready = os.path.join(self.work, "fleet.ready")
        self.sim = self._spawn("fleet_sim", [os.path.join(self.fleet_dir, "fleet_sim")] + size + [
            "--cert-dir=" + self.certs, "--ready-file=" + sim_ready])
        self.kube_port = free_port()
        kube_ready = os.path.join(self.work, "kube.ready")
        self.kube = self._spawn("kube_standin", [os.path.join(self.fleet_dir, "kube_standin")] +
                                size + ["--port=%d" % self.kube_port, "--out-dir=" + self.kube_dir,
                                        "--ready-file=" + kube_ready])
        wait_file(sim_ready, self.sim, 120, "fleet_sim")
        wait_file(kube_ready, self.kube, 60, "kube_standin")
        self.log("[stack] fleet_sim %d nodes x %d pods x %d containers on ports %d.., "
                 "kube_standin :%d (%.1fs)" % (self.nodes, self.pods, self.containers,
                                               self.port_base, self.kube_port,
                                               time.monotonic() - t0))
        self.start_server()

    def _start_without_fleet(self):
        """Only our server, its kubeconfig pointing at a closed port: for connection-level tests
        that need no metrics (it serves /livez and answers every API request with an error)."""
        self.certs = None
        self.kube_dir = os.path.join(self.work, "kube")
        os.makedirs(self.kube_dir, exist_ok=True)
        with open(os.path.join(self.kube_dir, "kubeconfig"), "w") as f:
            f.write("apiVersion: v1\nkind: Config\nclusters:\n- name: none\n  cluster:\n"
                    "    server: https://127.0.0.1:9\n    insecure-skip-tls-verify: true\n"
                    "users:\n- name: none\n  user:\n    token: unused\ncontexts:\n"
                    "- name: none\n  context:\n    cluster: none\n    user: none\n"
                    "current-context: none\n")
        self.log("[stack] no fleet: server only, kubeconfig pointing at a closed port")
        self.start_server()

    def start_server(self, extra_flags=()):
        kubeconfig = os.path.join(self.kube_dir, "kubeconfig")
        self.port = free_port()
        argv = [self.server_bin, "--secure-port=%d" % self.port, "--bind-address=127.0.0.1",
                "--cert-dir=" + os.path.join(self.work, "serving"),
                "--kubeconfig=" + kubeconfig, "--authentication-kubeconfig=" + kubeconfig,
                "--authorization-kubeconfig=" + kubeconfig,
                "--metric-resolution=" + self.resolution] + self.server_flags + list(extra_flags)
        if self.certs is not None:
            argv += ["--client-ca-file=" + os.path.join(self.certs, "client-ca.crt"),
                     "--kubelet-certificate-authority=" + os.path.join(self.certs, "ca.crt"),
                     "--kubelet-use-node-status-port",
                     # the nodes' Hostname (node-<i>) does not resolve; InternalIP is 127.0.0.1
                     "--kubelet-preferred-address-types=InternalIP"]
        else:
            argv += ["--authentication-skip-lookup", "--kubelet-request-timeout=2s"]
        preexec = None
        if self.server_rlimit_nofile is not None:
            limits = self.server_rlimit_nofile

            def preexec():
                import resource
                resource.setrlimit(resource.RLIMIT_NOFILE, limits)
        t0 = time.monotonic()
        self.server = self._spawn("server", argv, preexec)
        self.url = "https://127.0.0.1:%d" % self.port
        self.wait_ready(timeout=120)
        self.log("[stack] server pid %d on :%d ready after %.1fs" %
                 (self.server.pid, self.port, time.monotonic() - t0))

    def close(self):
        for name, p in reversed(self.procs):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for name, p in reversed(self.procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self.procs = []
        if self.tmp is not None:
            self.tmp.cleanup()
            self.tmp = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    # --- client side ---
    def client_context(self):
        ctx = ssl.create_default_context(cafile=os.path.join(self.work, "serving", "apiserver.crt"))
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # the self-signed bundle; identity is not under test here
        if self.certs is not None:
            ctx.load_cert_chain(os.path.join(self.certs, "client.crt"),
                                os.path.join(self.certs, "client.key"))
        return ctx

    def get(self, path, timeout=10, accept="application/json"):
        c = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.client_context(),
                                        timeout=timeout)
        try:
            c.request("GET", path, headers={"Accept": accept})
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise RuntimeError("server exited with %s; log %s" %
                                   (self.server.returncode, self.tail_log()))
            try:
                status, body = self.get("/readyz" if self.certs else "/livez", timeout=2)
                if status == 200:
                    return
                last = "%d %s" % (status, body[:200])
            except (OSError, http.client.HTTPException) as e:
                last = str(e)
            time.sleep(0.2)
        raise RuntimeError("server not ready within %ds (last: %s)" % (timeout, last))

    def check_alive(self, res):
        """False, recorded in `res` as a failure with the log's tail, once the server has exited."""
        if self.server.poll() is None:
            return True
        return res.check(False, "server exited (%s): %s" % (self.server.returncode,
                                                           self.tail_log()))

    def tail_log(self, n=15):
        try:
            with open(self.server_log, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def self_metrics(self):
        """Selected samples of the server's /metrics: {name{labels}: value}."""
        status, body = self.get("/metrics", timeout=10, accept="text/plain")
        if status != 200:
            raise RuntimeError("/metrics: %d" % status)
        out = {}
        for line in body.decode().splitlines():
            if line.startswith("#") or not line:
                continue
            m = re.match(r"^(metrics_server_(?:scraper_\w+|kubelet_request_total|storage_points)"
                         r"(?:\{[^}]*\})?) (\S+)$", line)
            if m:
                out[m.group(1)] = float(m.group(2))
        return out

    def metrics_load(self, mode, accept, rate, duration, connections=None):
        argv = [os.path.join(self.fleet_dir, "metrics_load"), "--url=" + self.url,
                "--ca=" + os.path.join(self.work, "serving", "apiserver.crt"),
                "--cert=" + os.path.join(self.certs, "client.crt"),
                "--key=" + os.path.join(self.certs, "client.key"),
                "--mode=" + mode, "--accept=" + accept, "--rate=%d" % max(1, round(rate)),
                "--duration=%d" % max(1, round(duration)), "--nodes=%d" % self.nodes,
                "--pods=%d" % self.pods]
        if connections:
            argv.append("--connections=%d" % connections)
        return LoadRun(argv, "%s/%s" % (mode, accept))


class LivezProbe(threading.Thread):
    """Stand-in for metrics_load when there is no fleet: GET /livez at a fixed offered rate over
    one keep-alive connection, latency measured from the scheduled send time (open loop, so a
    stall shows). result() gives metrics_load's JSON fields."""

    def __init__(self, stack, rate, duration):
        super().__init__(daemon=True)
        self.stack, self.rate, self.duration = stack, rate, duration
        self.lat, self.errors, self.samples = [], 0, []
        self.label = "livez"
        self.start()

    def run(self):
        conn = None
        t0 = time.monotonic()
        n = int(self.rate * self.duration)
        for i in range(n):
            due = t0 + i / self.rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            try:
                if conn is None:
                    conn = http.client.HTTPSConnection(
                        "127.0.0.1", self.stack.port, context=self.stack.client_context(),
                        timeout=10)
                conn.request("GET", "/livez")
                r = conn.getresponse()
                r.read()
                if r.status != 200:
                    raise RuntimeError("HTTP %d" % r.status)
                self.lat.append((time.monotonic() - due) * 1000)
            except Exception as e:  # noqa: BLE001 - counted as an error
                self.errors += 1
                if len(self.samples) < 5:
                    self.samples.append(str(e))
                if conn is not None:
                    conn.close()
                conn = None
        self.wall = time.monotonic() - t0

    def result(self, timeout=None):
        self.join(timeout)
        v = sorted(self.lat)

        def q(x):
            return v[min(len(v) - 1, int(x * len(v)))] if v else float("nan")
        return {"mode": "livez", "accept": "text", "offered_rate": self.rate,
                "sent": len(v) + self.errors, "ok": len(v), "errors": self.errors,
                "error_samples": self.samples, "p50_ms": q(.5), "p90_ms": q(.9),
                "p99_ms": q(.99), "max_ms": v[-1] if v else float("nan"),
                "achieved_rate": len(v) / self.wall if self.wall else 0}


class LoadRun:
    """One metrics_load process; result() parses its JSON line."""

    def __init__(self, argv, label):
        self.label = label
        self.argv = argv
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     start_new_session=True)
        _children.append(self.proc)

    def result(self, timeout=None):
        out, err = self.proc.communicate(timeout=timeout)
        lines = [l for l in out.decode().splitlines() if l.startswith("{")]
        if self.proc.returncode != 0 or not lines:
            raise RuntimeError("metrics_load %s exited %s: %s" %
                               (self.label, self.proc.returncode, err.decode()[-500:]))
        return json.loads(lines[-1])


def summary(r):
    return ("%-14s sent %6d ok %6d errors %d  p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms  "
            "rate %.1f/%.1f req/s" % (r["mode"] + "/" + r["accept"], r["sent"], r["ok"],
                                      r["errors"], r["p50_ms"], r["p99_ms"], r["max_ms"],
                                      r["achieved_rate"], r["offered_rate"]))
