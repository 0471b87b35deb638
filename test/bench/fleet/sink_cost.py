#!/usr/bin/python3
"""What each sink costs our server, per node per window, against the simulated fleet.

Uses bench_compare.py's machinery (fleet_sim for the kubelets, kube_standin for the inventory,
the same server flags, the same CPU and RSS measurement) and runs our server once per
configuration, each alone with the fleet, in rounds (every configuration once per round), and
prints one table: CPU ms per node per window and RSS, each round's figure and their median.

Configurations (--configs, comma-separated; a "+summary" suffix adds --kubelet-summary-api, and
the fleet then serves /stats/summary too):
  none       no sink
  influxdb   --sink=influxdb:http://127.0.0.1:PORT?db=k8s to a real influxd started here
             (Debian's influxdb package) on loopback
  otlp       --sink=otlp:http://127.0.0.1:PORT to the real OpenTelemetry Collector
             (WITH_OTELCOL=1 test/cluster/build-binaries.sh), its file exporter to /dev/null
  heapster   --heapster-metrics, with a Prometheus-like scraper reading /metrics/heapster every
             --heapster-interval seconds (15 s) over TLS with the bench client certificate
  dead       --sink=otlp to a loopback port nobody listens on (connection refused)
  slow       --sink=otlp to a local server that accepts connections and never answers

The receivers' own CPU is reported beside ours (influxd, the collector, the scraper's is not).

  nice test/bench/fleet/sink_cost.py --nodes 1000 --pods 30 --containers 2 --rounds 2 \\
      --configs none,influxdb,otlp,heapster,none+summary,influxdb+summary,otlp+summary,heapster+summary \\
      --out sink-out --build-dir build
"""

import argparse
import datetime
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_compare as bc  # noqa: E402


class Influxd:
    def __init__(self, d):
        exe = shutil.which("influxd")
        if not exe:
            raise RuntimeError("influxd not found (scripts/install-deps.sh installs influxdb)")
        os.makedirs(d, exist_ok=True)
        self.port, rpc = bc.free_port(), bc.free_port()
        conf = os.path.join(d, "influxdb.conf")
        with open(conf, "w") as f:
            f.write(f"""reporting-disabled = true
bind-address = "127.0.0.1:{rpc}"
[meta]
  dir = "{d}/meta"
[data]
  dir = "{d}/data"
  wal-dir = "{d}/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:{self.port}"
  auth-enabled = false
  log-enabled = false
[continuous_queries]
  enabled = false
""")
        self.proc = bc.Proc("influxd", [exe, "-config", conf], os.path.join(d, "influxd.log"))
        wait_port(self.port, self.proc, "influxd")
        self.flag = f"--sink=influxdb:http://127.0.0.1:{self.port}?db=k8s"

    def stop(self):
        self.proc.stop()


class Otelcol:
    def __init__(self, d):
        r = subprocess.run(["env", "WITH_OTELCOL=1", bc.BUILD_BINARIES, "--print-env"],
                           capture_output=True, text=True)
        exe = dict(l.split("=", 1) for l in r.stdout.splitlines() if "=" in l).get("OTELCOL")
        if not exe or not os.access(exe, os.X_OK):
            raise RuntimeError("otelcol-test not built (WITH_OTELCOL=1 "
                               "test/cluster/build-binaries.sh)")
        os.makedirs(d, exist_ok=True)
        self.port = bc.free_port()
        conf = os.path.join(d, "otelcol.yaml")
        with open(conf, "w") as f:
            f.write(f"""receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{self.port}
        max_request_body_size: 1073741824
exporters:
  file:
    path: /dev/null
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [file]
""")
        self.proc = bc.Proc("otelcol", [exe, f"--config={conf}"], os.path.join(d, "otelcol.log"))
        wait_port(self.port, self.proc, "otelcol")
        self.flag = f"--sink=otlp:http://127.0.0.1:{self.port}"

    def stop(self):
        self.proc.stop()


class SilentServer:
    """Accepts connections and reads what it is sent, and never answers (a hung sink)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns, self.bytes = [], 0
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()
        self.flag = f"--sink=otlp:http://127.0.0.1:{self.port}"

    def _accept(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self._drain, args=(c,), daemon=True).start()

    def _drain(self, c):
        while True:
            try:
                b = c.recv(1 << 16)
            except OSError:
                return
            if not b:
                return
            self.bytes += len(b)

    def stop(self):
        self.stopped = True
        self.sock.close()
        for c in self.conns:
            c.close()


class DeadPort:
    """A loopback port with no listener: every connection is refused."""

    def __init__(self):
        self.port = bc.free_port()
        self.flag = f"--sink=otlp:http://127.0.0.1:{self.port}"

    def stop(self):
        pass


class Scraper:
    """GET /metrics/heapster every INTERVAL seconds, as a Prometheus scrape job would."""

    def __init__(self, port, ctx, interval):
        self.port, self.ctx, self.interval = port, ctx, interval
        self.ok = self.errors = 0
        self.bytes = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopped.is_set():
            t = time.monotonic()
            try:
                status, body = bc.https(self.port, self.ctx, "GET", "/metrics/heapster",
                                        timeout=60)
                if status == 200:
                    self.ok += 1
                    self.bytes = len(body)
                else:
                    self.errors += 1
            except Exception:  # noqa: BLE001 - counted; the server may be starting
                self.errors += 1
            self.stopped.wait(max(0.0, self.interval - (time.monotonic() - t)))

    def stop(self):
        self.stopped.set()
        self.thread.join(70)


def wait_port(port, proc, what, timeout=60):
    t0 = time.monotonic()
    while True:
        if not proc.alive():
            raise RuntimeError(f"{what} {proc.exit_text()}: {proc.tail()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            pass
        if time.monotonic() - t0 > timeout:
            raise RuntimeError(f"{what} not listening after {timeout}s: {proc.tail()}")
        time.sleep(0.25)


def measure(a, config, inv, pki, fleet_certs, d):
    """One run of our server with CONFIG; returns its figures."""
    sink, _, extra = config.partition("+")
    port = bc.free_port()
    srv = bc.server_args("ours", a, a.nodes, port, inv.kubeconfig, pki, fleet_certs, None)
    argv = list(srv.argv)
    if extra == "summary":
        argv.append("--kubelet-summary-api")
    receiver = None
    if sink == "influxdb":
        receiver = Influxd(os.path.join(d, "influxd"))
    elif sink == "otlp":
        receiver = Otelcol(os.path.join(d, "otelcol"))
    elif sink == "dead":
        receiver = DeadPort()
    elif sink == "slow":
        receiver = SilentServer()
    if receiver:
        argv.append(receiver.flag)
    if sink == "heapster":
        argv.append("--heapster-metrics")
    ctx = bc.tls_context(pki[0], os.path.join(fleet_certs, "client.crt"),
                         os.path.join(fleet_certs, "client.key"))
    r = {"config": config, "argv": argv[1:], "failure": None,
         "loadavg_start": os.getloadavg()[0]}
    proc = bc.Proc("ours", argv, os.path.join(d, "ours.log"))
    scraper = None
    res_s = a.resolution_s
    try:
        deadline = proc.t0 + 180
        while True:
            if not proc.alive():
                raise RuntimeError(f"{proc.exit_text()}: {proc.tail()}")
            try:
                if bc.https(port, ctx, "GET", "/readyz", timeout=5)[0] == 200:
                    break
            except Exception:  # noqa: BLE001 - not up yet
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("never ready")
            time.sleep(0.2)
        r["ready_s"] = time.monotonic() - proc.t0
        if sink == "heapster":
            scraper = Scraper(port, ctx, a.heapster_interval)
        time.sleep(a.settle_ticks * res_s)
        rp = getattr(receiver, "proc", None)
        c0, t0 = bc.proc_stat(proc.pid)[1], time.monotonic()
        rc0 = bc.proc_stat(rp.pid)[1] if rp else None
        rss = []
        while time.monotonic() - t0 < a.steady_ticks * res_s:
            if not proc.alive():
                raise RuntimeError(f"{proc.exit_text()}: {proc.tail()}")
            rss.append(bc.vm_status(proc.pid).get("VmRSS", 0))
            time.sleep(1.0)
        c1, t1 = bc.proc_stat(proc.pid)[1], time.monotonic()
        ticks = (t1 - t0) / res_s
        r["cpu_ms_per_node_tick"] = (c1 - c0) / ticks / a.nodes * 1000
        r["rss_mib"] = statistics.median(rss) / 2**20
        r["rss_max_mib"] = max(rss) / 2**20
        r["rss_peak_mib"] = bc.vm_status(proc.pid).get("VmHWM", 0) / 2**20
        if rp:
            r["receiver_cpu_ms_per_node_tick"] = \
                (bc.proc_stat(rp.pid)[1] - rc0) / ticks / a.nodes * 1000
        if scraper:
            r["scrapes_ok"], r["scrape_errors"] = scraper.ok, scraper.errors
            r["exposition_mib"] = scraper.bytes / 2**20
        # The server's own view: its sinks' counters and its scrape durations.
        try:
            status, body = bc.https(port, ctx, "GET", "/metrics", timeout=30)
            if status == 200:
                r["self_metrics"] = [l for l in body.decode().splitlines()
                                     if l.startswith(("metrics_server_sink_",
                                                      "metrics_server_scraper_"))]
        except Exception:  # noqa: BLE001 - figures stand without it
            pass
    except Exception as e:  # noqa: BLE001 - recorded in the table
        r["failure"] = str(e)
        bc.log(f"{config}: FAILED: {e}")
    finally:
        if scraper:
            scraper.stop()
        proc.stop()
        if receiver:
            receiver.stop()
    r["loadavg_end"] = os.getloadavg()[0]
    return r


def table(results, a):
    configs = list(dict.fromkeys(r["config"] for r in results))
    base = {}
    lines = ["| configuration | CPU ms per node per window (each run) | median | vs none | "
             "RSS MiB (each run) | RSS KiB per node | receiver CPU ms per node per window | "
             "load average |",
             "|---|---|---|---|---|---|---|---|"]
    for cfg in configs:
        runs = [r for r in results if r["config"] == cfg and not r["failure"]]
        fails = [r["failure"] for r in results if r["config"] == cfg and r["failure"]]
        if not runs:
            lines.append(f"| {cfg} | failed: {'; '.join(fails)[:200]} | | | | | | |")
            continue
        cpu = [r["cpu_ms_per_node_tick"] for r in runs]
        rss = [r["rss_mib"] for r in runs]
        med_cpu, med_rss = statistics.median(cpu), statistics.median(rss)
        summary = cfg.endswith("+summary")
        if cfg.split("+")[0] == "none":
            base[summary] = (med_cpu, med_rss)
        b = base.get(summary)
        delta = f"{med_cpu - b[0]:+.3f} ms, {med_rss - b[1]:+.1f} MiB" if b else "—"
        rcv = [r["receiver_cpu_ms_per_node_tick"] for r in runs
               if "receiver_cpu_ms_per_node_tick" in r]
        load = [f"{r['loadavg_start']:.1f}–{r['loadavg_end']:.1f}" for r in runs]
        lines.append(
            f"| {cfg} | {' / '.join(f'{x:.3f}' for x in cpu)} | {med_cpu:.3f} | {delta} | "
            f"{' / '.join(f'{x:.0f}' for x in rss)} | {med_rss * 1024 / a.nodes:.0f} | "
            f"{statistics.median(rcv):.3f} | {', '.join(load)} |" if rcv else
            f"| {cfg} | {' / '.join(f'{x:.3f}' for x in cpu)} | {med_cpu:.3f} | {delta} | "
            f"{' / '.join(f'{x:.0f}' for x in rss)} | {med_rss * 1024 / a.nodes:.0f} | — | "
            f"{', '.join(load)} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, default=1000)
    ap.add_argument("--pods", type=int, default=30)
    ap.add_argument("--containers", type=int, default=2)
    ap.add_argument("--resolution", type=bc.parse_duration, default=15.0, dest="resolution_s")
    ap.add_argument("--settle-ticks", type=float, default=2)
    ap.add_argument("--steady-ticks", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--heapster-interval", type=float, default=15.0)
    ap.add_argument("--configs", default="none,influxdb,otlp,heapster,none+summary,"
                    "influxdb+summary,otlp+summary,heapster+summary")
    ap.add_argument("--out", default="sink-out")
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--ours-flags", default="",
                    help="Extra flags for our server in every configuration (as bench_compare.py's)")
    a = ap.parse_args()
    signal_exit = lambda *_: sys.exit(143)  # noqa: E731 - unwinds, stopping every process
    bc.signal.signal(bc.signal.SIGTERM, signal_exit)
    a.configs = [c for c in a.configs.split(",") if c]
    for c in a.configs:
        s, _, e = c.partition("+")
        if s not in ("none", "influxdb", "otlp", "heapster", "dead", "slow") or \
                e not in ("", "summary"):
            ap.error(f"unknown configuration {c}")
    a.build_dir = os.path.abspath(a.build_dir)
    a.out = os.path.abspath(a.out)
    a.ours_bin = os.path.join(a.build_dir, "cmd", "cpp-metrics-server")
    a.fleet_bin_dir = os.path.join(a.build_dir, "test", "bench", "fleet")
    os.makedirs(a.out, exist_ok=True)
    pki = bc.make_serving_pki(os.path.join(a.out, "serving-pki"))
    fleet_certs = os.path.join(a.out, "fleet-certs")
    os.makedirs(fleet_certs, exist_ok=True)
    n, p, c = a.nodes, a.pods, a.containers
    port_base = bc.free_port_block(n)
    bc.FLEET_PORTS = range(port_base, port_base + n)
    summary = any(x.endswith("+summary") for x in a.configs)
    ready = os.path.join(a.out, "fleet.ready")
    if os.path.exists(ready):
        os.remove(ready)
    fleet = bc.Proc("fleet_sim", [os.path.join(a.fleet_bin_dir, "fleet_sim"), f"--nodes={n}",
                                  f"--pods={p}", f"--containers={c}",
                                  f"--port-base={port_base}", f"--cert-dir={fleet_certs}",
                                  f"--ready-file={ready}", *(["--summary"] if summary else [])],
                    os.path.join(a.out, "fleet_sim.log"))
    inv = None
    results = []
    meta = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "nodes": n, "pods": p, "containers": c, "resolution_s": a.resolution_s,
            "steady_ticks": a.steady_ticks, "settle_ticks": a.settle_ticks, **bc.machine()}
    try:
        bc.wait_file(ready, fleet, 900, "fleet_sim")
        inv = bc.StandinInventory(os.path.join(a.fleet_bin_dir, "kube_standin"), n, p, c,
                                  port_base, os.path.join(a.out, "standin"))
        for k in range(a.rounds):
            for cfg in a.configs:
                d = os.path.join(a.out, f"round{k + 1}", cfg)
                os.makedirs(d, exist_ok=True)
                bc.log(f"round {k + 1}: {cfg}")
                r = measure(a, cfg, inv, pki, fleet_certs, d)
                r["round"] = k + 1
                results.append(r)
                if not r["failure"]:
                    bc.log(f"{cfg}: {r['cpu_ms_per_node_tick']:.3f} ms per node per window, "
                           f"RSS {r['rss_mib']:.0f} MiB (max {r['rss_max_mib']:.0f})")
                with open(os.path.join(a.out, "results.json"), "w") as f:
                    json.dump({"meta": meta, "runs": results}, f, indent=1)
    finally:
        if inv:
            inv.stop()
        fleet.stop()
    head = (f"Machine: {meta['cpu']}, {meta['cpus']} CPUs, {meta['mem_gib']} GiB, Linux "
            f"{meta['kernel']}; revision {meta['revision']}; {meta['date']}; {n} nodes x {p} pods x "
            f"{c} containers, resolution {a.resolution_s:g}s, CPU and RSS over "
            f"{a.steady_ticks} windows after {a.settle_ticks:g}; {a.rounds} rounds.\n\n")
    text = head + table(results, a) + "\n"
    with open(os.path.join(a.out, "table.md"), "w") as f:
        f.write(text)
    print(text, flush=True)


if __name__ == "__main__":
    main()
