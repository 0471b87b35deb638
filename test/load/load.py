#!/usr/bin/env python3
"""Sustained load on the real server while it scrapes a simulated fleet, from separate client
processes on loopback (issue 8).

Starts fleet_sim (N nodes x P pods x C containers) and kube_standin, then our server with
--client-ca-file, --kubelet-certificate-authority and the stand-in's kubeconfig; waits until it
is ready and has published a window; records RSS and CPU; runs concurrently, for --duration
seconds, metrics_load processes: all-pods lists as JSON and as protobuf at --list-rate each, and
HPA-shaped queries (one app's pods by label) at --hpa-rate; meanwhile polls the server's
/metrics to see every scrape tick. Prints per mode errors, p50/p99/max and achieved rate, RSS
before/after, server CPU, and the scrape ticks (interval, duration, failed scrapes).

Fails (exit 1) when any request failed, the server died, a scrape failed, or a scrape tick was
late (a poll finds no tick started within resolution + 1 s of the previous one), or a tick
took longer than the resolution.

  full (documented in RELIABILITY.md):  test/load/load.py            # 1000 x 30 x 2, 300 s
  quick (CTest, label load):            test/load/load.py --quick    # 100 x 30 x 2, 20 s
"""
import argparse
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


def parse_duration(s):
    return float(s[:-1]) * {"s": 1, "m": 60}[s[-1]] if s[-1] in "sm" else float(s)


class TickMonitor(threading.Thread):
    """Polls /metrics every `every` seconds; keeps every distinct scrape tick seen, and the
    overdue ticks it has proof of.

    A tick is late only if a poll *sent* more than `late_after` seconds after the last tick's
    start still reports that start as the last one (the server's gauge is read after the request
    arrives, and the server and this script share the machine's wall clock). The gap between two
    ticks the monitor happened to see is no proof: a poll delayed by a busy machine misses a tick
    and the gap doubles while the server kept its cadence."""

    def __init__(self, stack, every, late_after):
        super().__init__(daemon=True)
        self.stack, self.every, self.late_after = stack, every, late_after
        self.stop_flag = threading.Event()
        self.ticks = {}  # start timestamp -> duration of the last complete tick seen with it
        self.overdue = []  # seconds since the last tick's start, at polls that prove a late tick
        self.failures = []
        self.errors = 0
        self.samples = 0

    def poll(self):
        sent = time.time()
        try:
            m = self.stack.self_metrics()
        except Exception:  # noqa: BLE001 - counted; the load clients judge the API itself
            self.errors += 1
            return
        self.samples += 1
        start = m.get("metrics_server_scraper_last_tick_timestamp_seconds")
        if start:
            self.ticks[start] = m.get("metrics_server_scraper_tick_duration_seconds", 0.0)
            if sent - start > self.late_after:
                self.overdue.append(round(sent - start, 2))
        self.failures.append(m.get('metrics_server_kubelet_request_total{success="false"}', 0.0))

    def run(self):
        while not self.stop_flag.wait(self.every):
            self.poll()

    def stop(self):
        self.stop_flag.set()
        self.join()
        self.poll()


def main():
    harness.install_sigterm_cleanup()
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", default="build/cmd/cpp-metrics-server")
    ap.add_argument("--fleet-dir", default="build/test/bench/fleet")
    ap.add_argument("--quick", action="store_true", help="100 nodes, 20 s, 5 s resolution")
    ap.add_argument("--nodes", type=int)
    ap.add_argument("--pods", type=int, default=30)
    ap.add_argument("--containers", type=int, default=2)
    ap.add_argument("--duration", type=float)
    ap.add_argument("--resolution")
    ap.add_argument("--hpa-rate", type=float)
    ap.add_argument("--list-rate", type=float)
    ap.add_argument("--hpa-connections", type=int, default=4)
    ap.add_argument("--json-out", help="also write the summary as JSON here")
    a = ap.parse_args()
    q = a.quick
    a.nodes = a.nodes or (100 if q else 1000)
    a.duration = a.duration or (20 if q else 300)
    a.resolution = a.resolution or ("5s" if q else "15s")
    a.hpa_rate = a.hpa_rate or (50 if q else 200)
    a.list_rate = a.list_rate or 2
    resolution_s = parse_duration(a.resolution)
    flags = []
    if resolution_s < 11:
        flags.append("--kubelet-request-timeout=%gs" % max(1, resolution_s - 1))

    failures = []
    t_start = time.monotonic()
    stack = harness.Stack(a.server, a.fleet_dir, a.nodes, a.pods, a.containers,
                          resolution=a.resolution, server_flags=flags)
    try:
        stack.start()
        pid = stack.server.pid
        # Ready means one window is published; let a second tick pass so the caches, the window
        # and the pre-encoded responses are at steady-state size before "before" is read.
        time.sleep(resolution_s + 1)
        status, body = stack.get("/apis/metrics.k8s.io/v1beta1/pods", timeout=60)
        items = len(json.loads(body)["items"]) if status == 200 else 0
        expected_pods = a.nodes * a.pods
        print("[load] all-pods list before the run: HTTP %d, %d items (fleet has %d pods)" %
              (status, items, expected_pods))
        if status != 200 or items != expected_pods:
            failures.append("window incomplete before the run: %d/%d pods" %
                            (items, expected_pods))
        rss0, cpu0, hwm0 = harness.rss_kib(pid), harness.cpu_seconds(pid), harness.hwm_kib(pid)
        # Polled at a fifth of the resolution; a tick is late when it has not started 1 s after
        # it was due (one resolution after the previous one).
        monitor = TickMonitor(stack, resolution_s / 5, resolution_s + 1.0)
        monitor.poll()
        monitor.start()
        t0 = time.monotonic()
        runs = [stack.metrics_load("list", "json", a.list_rate, a.duration, connections=2),
                stack.metrics_load("list", "protobuf", a.list_rate, a.duration, connections=2),
                stack.metrics_load("hpa", "json", a.hpa_rate, a.duration,
                                   connections=a.hpa_connections)]
        results = [r.result(timeout=a.duration + 300) for r in runs]
        wall = time.monotonic() - t0
        monitor.stop()
        alive = stack.server.poll() is None
        rss1 = harness.rss_kib(pid) if alive else 0
        hwm1 = harness.hwm_kib(pid) if alive else 0
        cpu = (harness.cpu_seconds(pid) - cpu0) if alive else 0.0

        print("[load] fleet %d nodes x %d pods x %d containers, resolution %s, %.0f s of load "
              "(%s, %d cores)" % (a.nodes, a.pods, a.containers, a.resolution, wall,
                                  os.uname().machine, os.cpu_count()))
        for r in results:
            print("[load]   " + harness.summary(r) +
                  ("  items %s..%s" % (r.get("items_min"), r.get("items_max"))
                   if r["mode"] == "list" and r["accept"] == "json" else "") +
                  "  bytes %.0f" % r.get("bytes_mean", 0))
            if r["errors"] != 0 or r["ok"] == 0:
                failures.append("%s/%s: %d errors (%s), %d ok" % (
                    r["mode"], r["accept"], r["errors"], r["error_samples"][:3], r["ok"]))
            if r["mode"] == "list" and r["accept"] == "json" and r.get("items_min") is not None \
                    and r["items_min"] != expected_pods:
                failures.append("list/json: a list had %s items, expected %d" %
                                (r["items_min"], expected_pods))
        print("[load]   server RSS %.1f MiB before, %.1f MiB after (peak %.1f -> %.1f MiB); "
              "CPU %.1f s over %.0f s = %.0f%% of one core" %
              (rss0 / 1024, rss1 / 1024, hwm0 / 1024, hwm1 / 1024, cpu, wall, 100 * cpu / wall))
        starts = sorted(monitor.ticks)
        intervals = [b - a_ for a_, b in zip(starts, starts[1:])]
        durations = [monitor.ticks[s] for s in starts]
        failed_scrapes = (monitor.failures[-1] - monitor.failures[0]) if monitor.failures else -1
        late = monitor.overdue
        slow = [d for d in durations if d >= resolution_s]
        print("[load]   scrape ticks seen: %d; interval min %.2f max %.2f s; tick duration max "
              "%.2f s; failed kubelet scrapes during the run: %g; /metrics polls %d ok, %d failed"
              % (len(starts), min(intervals) if intervals else 0, max(intervals) if intervals
                 else 0, max(durations) if durations else 0, failed_scrapes, monitor.samples,
                 monitor.errors))
        expected_ticks = int(wall // resolution_s) - 1
        if not alive:
            failures.append("server died: %s" % stack.tail_log())
        if len(starts) < max(1, expected_ticks):
            failures.append("only %d scrape ticks seen in %.0f s" % (len(starts), wall))
        if late:
            failures.append("late scrape ticks: polls found the last tick started %s s earlier "
                            "(due every %g s)" % (late, resolution_s))
        if slow:
            failures.append("scrape ticks longer than the resolution: %s" % slow)
        if failed_scrapes != 0:
            failures.append("%g failed kubelet scrapes" % failed_scrapes)
        if monitor.errors:
            failures.append("%d /metrics polls failed" % monitor.errors)
        summary = {"nodes": a.nodes, "pods": a.pods, "containers": a.containers,
                   "resolution": a.resolution, "seconds": wall, "results": results,
                   "rss_kib_before": rss0, "rss_kib_after": rss1, "hwm_kib_after": hwm1,
                   "cpu_seconds": cpu, "ticks": len(starts),
                   "tick_interval_max": max(intervals) if intervals else None,
                   "tick_duration_max": max(durations) if durations else None,
                   "failed_scrapes": failed_scrapes, "failures": failures}
        if a.json_out:
            with open(a.json_out, "w") as f:
                json.dump(summary, f, indent=1)
    except Exception as e:  # noqa: BLE001 - reported as the failure
        failures.append("%s: %s" % (type(e).__name__, e))
        if stack.server is not None:
            print(stack.tail_log())
    finally:
        stack.close()
    for f in failures:
        print("FAIL: " + f)
    print("[load] %s in %.0f s" % ("FAILED" if failures else "PASSED",
                                    time.monotonic() - t_start))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
