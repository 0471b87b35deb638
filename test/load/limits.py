#!/usr/bin/env python3
"""Slow-client and connection-flood tests against the real server binary, each while an
HPA-shaped client (metrics_load --mode=hpa, open loop, keep-alive) measures latency.

Phases (each reports the HPA client's errors and p99 during it, server RSS and open files):
  baseline      HPA client alone.
  slowloris     N TLS connections send a request line, then one header byte per second; the
                server must close each at the read timeout (--request-timeout).
  idle-tls      N TLS connections complete the handshake and send nothing: closed at the read
                timeout too.
  slow-readers  N authenticated connections request the all-pods list and never read: the
                server must close them at the write timeout, and its memory growth stays within
                the response budget (256 MiB; beyond it readers get 429).
  big-bodies    N unauthenticated connections send headers announcing a 1 MiB body and most of
                it, then stall: memory per connection stays small (no body is accepted, so the
                server answers 413 after the headers and closes instead of buffering it).
  conn-flood    max_connections + X plain TCP connections (no handshake): the server holds at
                most max_connections (the rest are closed at once), each costing little memory
                (no TLS state before the first byte), and closes the held ones at the handshake
                timeout (10 s); afterwards new connections work again.
  tls-flood     P `openssl s_time -new` processes doing full handshakes back to back.
  fd-exhaustion (separate server, open-files limit 1200): a flood of plain TCP connections
                runs the process out of descriptors; accept must back off instead of spinning
                (server CPU and "accept:" log lines over the phase are reported).
  soft-nofile   (separate server, soft open-files limit 1024, hard 20000): the server raises
                its soft limit, so it holds more than 1024 connections.

Prints PASS:/FAIL: lines and "N passed, M failed"; exit status 0 only if all passed.
  --quick: 100 nodes, small N, --request-timeout=5s (CTest, ~2 min)
  default: 1000 nodes x 30 pods x 2 containers, server defaults (60 s timeouts)
Loopback only; every loop is bounded by the phase durations.
"""
import argparse
import os
import re
import resource
import selectors
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

MAX_CONNECTIONS = 10000  # apiserver/server.h ServerOptions::max_connections
HANDSHAKE_TIMEOUT = 10.0  # ServerOptions::handshake_timeout
RESPONSE_BUDGET = 256 * 1024 * 1024  # ServerOptions::max_response_bytes_pending


class Results(harness.Results):
    def __init__(self):
        super().__init__()
        self.rows = []


def anon_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def tls_connect(port, ctx, timeout=10.0, rcvbuf=None):
    raw = socket.socket()
    if rcvbuf:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    raw.settimeout(timeout)
    raw.connect(("127.0.0.1", port))
    s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    return s


def open_many_tcp(port, n, timeout):
    """n plain TCP connections to the server (fewer if some are refused): [(socket, opened at)]."""
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.settimeout(timeout)
        try:
            s.connect(("127.0.0.1", port))
        except OSError:
            s.close()
            continue
        socks.append((s, time.monotonic()))
    return socks


def open_many_tls(port, ctx, n, rcvbuf=None, deadline_s=120.0):
    socks, errors = [], 0
    end = time.monotonic() + deadline_s
    for _ in range(n):
        if time.monotonic() > end:
            break
        try:
            socks.append((tls_connect(port, ctx, rcvbuf=rcvbuf), time.monotonic()))
        except OSError:
            errors += 1
    return socks, errors


def watch_closes(socks, hold_s, trickle_every=None):
    """Non-blocking watch of (sock, t_open) pairs for hold_s seconds; optionally sends one byte
    to each open socket every trickle_every seconds. Returns lifetimes (s) of the sockets the
    server closed, and the number still open at the end."""
    sel = selectors.DefaultSelector()
    open_at = {}
    for s, t in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        open_at[s] = t
    lifetimes = []
    end = time.monotonic() + hold_s
    next_trickle = time.monotonic()

    def closed(s):
        lifetimes.append(time.monotonic() - open_at.pop(s))
        sel.unregister(s)
        s.close()

    while open_at and time.monotonic() < end:
        now = time.monotonic()
        if trickle_every is not None and now >= next_trickle:
            next_trickle = now + trickle_every
            for s in list(open_at):
                try:
                    s.send(b"X")
                except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
                    pass
                except OSError:
                    closed(s)
        for key, _ in sel.select(timeout=0.1):
            s = key.fileobj
            if s not in open_at:
                continue
            try:
                while True:
                    data = s.recv(65536)
                    if not data:
                        closed(s)
                        break
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                pass
            except OSError:
                closed(s)
    left = len(open_at)
    for s in list(open_at):
        sel.unregister(s)
        s.close()
    sel.close()
    return lifetimes, left


def pct(values, q):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))]


class Limits:
    def __init__(self, args, stack, res):
        self.a = args
        self.stack = stack
        self.res = res
        self.timeout = args.request_timeout
        self.hpa_rate = args.hpa_rate
        self.p99_bound_ms = args.p99_bound_ms

    # Runs `abuse()` while an HPA client runs for `seconds`; checks the HPA client.
    def phase(self, name, seconds, abuse, probe_connections=2):
        pid = self.stack.server.pid
        rss0, fds0, cpu0 = harness.rss_kib(pid), harness.open_fds(pid), harness.cpu_seconds(pid)
        sampler = harness.Sampler(pid)
        sampler.start()
        hpa = self.probe(seconds, probe_connections)
        time.sleep(1.0)  # its keep-alive connections exist before the abuse starts
        t0 = time.monotonic()
        info = abuse() or {}
        r = hpa.result(timeout=seconds + 120)
        sampler.stop()
        alive = self.stack.server.poll() is None
        rss1 = harness.rss_kib(pid) if alive else 0
        fds1 = harness.open_fds(pid) if alive else 0
        cpu = (harness.cpu_seconds(pid) - cpu0) if alive else 0
        print("[%s] %.0fs; hpa: %s" % (name, time.monotonic() - t0, harness.summary(r)))
        print("[%s] server RSS %d -> max %d -> %d KiB, open files %d -> max %d -> %d, CPU %.1fs"
              % (name, rss0, sampler.rss_max, rss1, fds0, sampler.fds_max, fds1, cpu))
        self.res.check(alive, "%s: server alive" % name)
        self.res.check(r["errors"] == 0 and r["ok"] > 0,
                       "%s: HPA client %d ok, %d errors %s" % (name, r["ok"], r["errors"],
                                                               r["error_samples"][:3]))
        self.res.check(r["p99_ms"] <= self.p99_bound_ms,
                       "%s: HPA p99 %.1f ms <= %g ms (p50 %.1f, max %.1f)" %
                       (name, r["p99_ms"], self.p99_bound_ms, r["p50_ms"], r["max_ms"]))
        row = {"phase": name, "hpa": r, "rss0": rss0, "rss_max": sampler.rss_max, "rss1": rss1,
               "fds0": fds0, "fds_max": sampler.fds_max, "fds1": fds1, "cpu": cpu}
        row.update(info)
        self.res.rows.append(row)
        return row

    def probe(self, seconds, connections):
        if self.stack.fleet_dir is None:
            return harness.LivezProbe(self.stack, self.hpa_rate, seconds)
        return self.stack.metrics_load("hpa", "json", self.hpa_rate, seconds,
                                       connections=connections)

    def baseline(self):
        self.phase("baseline", self.a.baseline_s, lambda: time.sleep(self.a.baseline_s - 0.5))

    def slowloris(self):
        n = self.a.slow_n
        hold = self.timeout + 10

        def abuse():
            socks, errs = open_many_tls(self.stack.port, anon_context(), n)
            for s, _ in socks:
                s.sendall(b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            lifetimes, left = watch_closes(socks, hold, trickle_every=1.0)
            self.res.check(errs == 0 and len(socks) == n,
                           "slowloris: %d/%d connections opened" % (len(socks), n))
            self.res.check(left == 0 and len(lifetimes) == n and
                           max(lifetimes) <= self.timeout + 3 and
                           min(lifetimes) >= self.timeout - 1,
                           "slowloris: server closed %d/%d at the read timeout %gs "
                           "(lifetime min %.1f p50 %.1f max %.1f s), %d left open" %
                           (len(lifetimes), n, self.timeout, pct(lifetimes, 0) if lifetimes else -1,
                            pct(lifetimes, .5), max(lifetimes) if lifetimes else -1, left))
            return {"n": n, "life_p50": pct(lifetimes, .5),
                    "life_max": max(lifetimes) if lifetimes else None}

        self.phase("slowloris", hold + 15, abuse)

    def idle_tls(self):
        n = self.a.slow_n
        hold = self.timeout + 10

        def abuse():
            socks, errs = open_many_tls(self.stack.port, anon_context(), n)
            lifetimes, left = watch_closes(socks, hold)
            self.res.check(left == 0 and len(lifetimes) == n and
                           max(lifetimes) <= self.timeout + 3,
                           "idle-tls: server closed %d/%d idle TLS connections at the read "
                           "timeout %gs (lifetime p50 %.1f max %.1f s), %d left open" %
                           (len(lifetimes), n, self.timeout, pct(lifetimes, .5),
                            max(lifetimes) if lifetimes else -1, left))
            return {"n": n, "life_p50": pct(lifetimes, .5)}

        self.phase("idle-tls", hold + 15, abuse)

    def slow_readers(self):
        n = self.a.readers_n
        hold = self.timeout + 10
        pid = self.stack.server.pid
        status, body = self.stack.get("/apis/metrics.k8s.io/v1beta1/pods", timeout=30)
        size = len(body)
        budget_kib = RESPONSE_BUDGET // 1024

        def abuse():
            fds0 = harness.open_fds(pid)
            socks, errs = open_many_tls(self.stack.port, self.stack.client_context(), n,
                                        rcvbuf=4096)
            for s, _ in socks:
                s.sendall(b"GET /apis/metrics.k8s.io/v1beta1/pods HTTP/1.1\r\n"
                          b"Host: 127.0.0.1\r\nAccept: application/json\r\n\r\n")
            time.sleep(3)
            held = harness.open_fds(pid) - fds0
            # Never read: wait past the write timeout, then see how many the server still holds.
            deadline = time.monotonic() + hold
            while time.monotonic() < deadline and harness.open_fds(pid) - fds0 > 0:
                time.sleep(0.5)
            still = harness.open_fds(pid) - fds0
            # What each got first (the status line is in its receive buffer): 200 or 429.
            codes = {}
            for s, _ in socks:
                try:
                    s.settimeout(1)
                    line = s.recv(64).split(b"\r\n", 1)[0].decode(errors="replace")
                    code = line.split(" ")[1] if line.startswith("HTTP/1.1 ") else "none"
                except (OSError, IndexError):
                    code = "none"
                codes[code] = codes.get(code, 0) + 1
                s.close()
            print("[slow-readers] %d stalled readers of a %d-byte list: first answers %s" %
                  (len(socks), size, codes))
            self.res.check(errs == 0 and held >= n * 0.9,
                           "slow-readers: %d connections requested a %d-byte list and are not "
                           "reading (server holds %d)" % (len(socks), size, held))
            if size > 4 * 2**20:
                # A 429 is small and completely written: that connection stays as an idle
                # keep-alive (90 s idle timeout); a 200 cannot be, and must be cut.
                idle = codes.get("429", 0)
                # (+2: the server's own kubelet and stand-in connections may come and go)
                self.res.check(still <= idle + 2, "slow-readers: server cut the stalled 200s at the "
                               "write timeout %gs + 10 s (%d still open, %d of them idle after "
                               "a 429)" % (self.timeout, still, idle))
            else:  # loopback socket buffers took the whole body: written, now idle keep-alive
                print("[slow-readers] a %d-byte body fits in the socket buffers: %d connections "
                      "finished and wait as idle keep-alive (90 s idle timeout)" % (size, still))
            return {"n": n, "list_bytes": size, "codes": codes}

        row = self.phase("slow-readers", hold + 10, abuse)
        growth = row["rss_max"] - row["rss0"]
        print("[slow-readers] RSS growth %.1f MiB for %d stalled readers (list body %.1f MiB, "
              "%.1f MiB if every reader held one)" % (growth / 1024, n, size / 2**20,
                                                      n * size / 2**20))
        self.res.check(growth <= budget_kib + 64 * 1024,
                       "slow-readers: RSS growth %.0f MiB <= the %d MiB response budget + 64 MiB"
                       % (growth / 1024, budget_kib // 1024))
        if n * size > RESPONSE_BUDGET * 1.5:
            self.res.check(row["codes"].get("429", 0) > 0,
                           "slow-readers: beyond the budget readers got 429 (%s)" % row["codes"])

    def big_bodies(self):
        n = self.a.bodies_n
        limit = 1024 * 1024  # announced; the server refuses any body with 413
        announce = limit - 1
        send = announce - 4096

        def abuse():
            socks, errs = open_many_tls(self.stack.port, anon_context(), n)
            chunk = b"a" * 65536
            sent_ok = 0
            for s, _ in socks:
                try:
                    s.sendall(b"POST /apis/metrics.k8s.io/v1beta1/pods HTTP/1.1\r\nHost: x\r\n"
                              b"Content-Length: %d\r\n\r\n" % announce)
                    left = send
                    while left > 0:
                        s.sendall(chunk[:min(left, len(chunk))])
                        left -= min(left, len(chunk))
                    sent_ok += 1
                except OSError:
                    pass
            time.sleep(2)
            rss_held = harness.rss_kib(self.stack.server.pid)
            lifetimes, left_open = watch_closes(socks, self.timeout + 10)
            return {"n": n, "sent_ok": sent_ok, "rss_held": rss_held, "left_open": left_open}

        row = self.phase("big-bodies", self.timeout + 20, abuse)
        per = (row["rss_max"] - row["rss0"]) * 1024 / max(1, n)
        print("[big-bodies] %d/%d connections sent %d body bytes and stalled; RSS growth "
              "%.0f KiB per connection" % (row["sent_ok"], n, send, per / 1024))
        self.res.check(row["left_open"] == 0, "big-bodies: all closed at the read timeout")
        self.res.check(per <= 128 * 1024,
                       "big-bodies: unauthenticated stalled request bodies cost %.0f KiB of "
                       "server memory per connection (<= 128 KiB)" % (per / 1024))

    def conn_flood(self):
        extra = self.a.flood_extra
        pid = self.stack.server.pid
        fds_base = harness.open_fds(pid)
        want = MAX_CONNECTIONS + extra

        def abuse():
            t0 = time.monotonic()
            socks = open_many_tcp(self.stack.port, want, 5)
            opened = time.monotonic() - t0
            # Until the server has taken everything from its backlog (bounded: 6 s, well inside
            # the handshake timeout that starts at accept).
            settle_end = time.monotonic() + 6
            while time.monotonic() < settle_end and \
                    harness.open_fds(pid) - fds_base < min(len(socks), MAX_CONNECTIONS) - 10:
                time.sleep(0.2)
            time.sleep(1.0)
            held_fds = harness.open_fds(pid) - fds_base
            # Which ones has the server already closed? (the excess beyond max_connections)
            sel = selectors.DefaultSelector()
            for s, _ in socks:
                s.setblocking(False)
                sel.register(s, selectors.EVENT_READ)
            rejected = sum(1 for _ in sel.select(timeout=0.5))
            sel.close()
            for s, _ in socks:
                s.setblocking(True)
            # A new client during the flood: refused while the server is full.
            try:
                st, _ = self.stack.get("/livez", timeout=3)
                during = "HTTP %d" % st
            except (OSError, Exception) as e:  # noqa: BLE001 - any failure is the answer
                during = type(e).__name__
            lifetimes, left = watch_closes([(s, t) for s, t in socks],
                                           HANDSHAKE_TIMEOUT + 5)
            after_fds = harness.open_fds(pid) - fds_base
            try:
                st, _ = self.stack.get("/livez", timeout=5)
                after = st
            except OSError as e:
                after = str(e)
            print("[conn-flood] %d TCP connections opened in %.1fs; server holds %d extra "
                  "descriptors, closed %d at once; a new client during the flood: %s" %
                  (len(socks), opened, held_fds, rejected, during))
            self.res.check(len(socks) >= want * 0.98, "conn-flood: %d/%d connects" %
                           (len(socks), want))
            self.res.check(held_fds <= MAX_CONNECTIONS + 10,
                           "conn-flood: server holds %d connections <= max_connections %d + "
                           "its own" % (held_fds, MAX_CONNECTIONS))
            self.res.check(rejected >= len(socks) - MAX_CONNECTIONS - 10,
                           "conn-flood: %d connections beyond the limit closed at once (>= %d)"
                           % (rejected, len(socks) - MAX_CONNECTIONS - 10))
            self.res.check(left == 0 and after_fds <= 5,
                           "conn-flood: all closed by the handshake timeout %gs (%d left open, "
                           "%d server descriptors above baseline)" %
                           (HANDSHAKE_TIMEOUT, left, after_fds))
            self.res.check(after == 200, "conn-flood: new connections served again after it "
                           "(/livez %s)" % after)
            return {"n": len(socks), "held": held_fds, "rejected": rejected, "during": during}

        # One probe connection, surely open before the flood: while the server is full, a new
        # connection is refused by design, and would count as a probe error.
        row = self.phase("conn-flood", HANDSHAKE_TIMEOUT + 25, abuse, probe_connections=1)
        per = (row["rss_max"] - row["rss0"]) / max(1, row["held"])
        print("[conn-flood] RSS growth %.1f KiB per held connection" % per)
        self.res.check(per <= 16, "conn-flood: a connection that has sent nothing costs %.1f KiB "
                       "of server memory (<= 16 KiB: no TLS state before the first byte)" % per)

    def tls_flood(self):
        procs_n, secs = self.a.tls_procs, self.a.tls_seconds

        def abuse():
            procs = [subprocess.Popen(
                ["openssl", "s_time", "-connect", "127.0.0.1:%d" % self.stack.port, "-new",
                 "-time", str(secs)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                for _ in range(procs_n)]
            total = 0
            for p in procs:
                out, _ = p.communicate(timeout=secs + 60)
                m = re.search(rb"(\d+) connections in (\d+) real seconds", out)
                total += int(m.group(1)) if m else 0
            rate = total / secs
            print("[tls-flood] %d s_time processes: %d full handshakes in %ds = %.0f/s" %
                  (procs_n, total, secs, rate))
            self.res.check(total > 0, "tls-flood: %d handshakes completed (%.0f/s)" % (total, rate))
            return {"handshakes": total, "rate": rate}

        self.phase("tls-flood", secs + 3, abuse)


def fd_exhaustion(args, res, make_stack):
    """Server with a 1200 open-files limit flooded with 1500 TCP connections."""
    limit = 1200
    with make_stack(rlimit=(limit, limit)) as stack:
        pid = stack.server.pid
        log0 = open(stack.server_log, errors="replace").read().count("accept:")
        # One kept-alive connection, established before the flood: a client connection opened
        # once the server is at its limit could not be accepted (that case is the last check).
        # The client connects lazily, so the flood waits until its connection is up.
        hpa = (harness.LivezProbe(stack, args.hpa_rate, 12) if stack.fleet_dir is None else
               stack.metrics_load("hpa", "json", args.hpa_rate, 12, connections=1))
        client_pid = os.getpid() if stack.fleet_dir is None else hpa.proc.pid
        deadline = time.monotonic() + 10
        while (harness.established_to(client_pid, stack.port) < 1 and
               time.monotonic() < deadline):
            time.sleep(0.05)
        time.sleep(0.2)
        socks = [s for s, _ in open_many_tcp(stack.port, 1500, 1)]
        time.sleep(0.5)
        cpu0 = harness.cpu_seconds(pid)
        t0 = time.monotonic()
        time.sleep(5)
        cpu = harness.cpu_seconds(pid) - cpu0
        span = time.monotonic() - t0
        warnings = open(stack.server_log, errors="replace").read().count("accept:") - log0
        fds = harness.open_fds(pid)
        r = hpa.result(timeout=120)
        for s in socks:
            s.close()
        time.sleep(1)
        # New connections are accepted again once descriptors are free; /livez must then answer
        # 200. A non-200 answer (a liveness check failing: its body names it) is retried for
        # up to 20 s and reported with that body.
        st, seen = None, []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                st, body = stack.get("/livez?verbose", timeout=3)
                if st == 200:
                    break
                seen.append("%s %s" % (st, body.decode(errors="replace").strip()[-300:]))
            except OSError as e:
                seen.append("error %s" % e)
            time.sleep(0.5)
        if seen:
            print("[fd-exhaustion] /livez before 200: %d answers; first: %s; last: %s" %
                  (len(seen), seen[0], seen[-1]))
        print("[fd-exhaustion] limit %d, %d connects, server at %d descriptors; over %.1fs "
              "at the limit: server CPU %.2fs, %d 'accept:' log lines; hpa: %s" %
              (limit, len(socks), fds, span, cpu, warnings, harness.summary(r)))
        res.check(stack.server.poll() is None, "fd-exhaustion: server alive")
        res.check(fds >= limit - 5, "fd-exhaustion: server reached its descriptor limit (%d)" % fds)
        res.check(cpu <= 0.1 * span,
                  "fd-exhaustion: server CPU %.2fs over %.1fs at the descriptor limit (accept "
                  "backs off instead of spinning)" % (cpu, span))
        res.check(warnings <= 20, "fd-exhaustion: %d 'accept:' log lines in %.1fs (rate-limited)"
                  % (warnings, span))
        res.check(r["errors"] == 0, "fd-exhaustion: HPA client on existing connections: %d ok, "
                  "%d errors, p99 %.1f ms" % (r["ok"], r["errors"], r["p99_ms"]))
        res.check(st == 200, "fd-exhaustion: new connections served again afterwards (%s)" % st)
        res.rows.append({"phase": "fd-exhaustion", "cpu": cpu, "span": span, "warnings": warnings,
                         "hpa": r})


def soft_nofile(args, res, make_stack):
    """Server started with soft limit 1024 (hard 20000) must hold 1500 connections."""
    with make_stack(rlimit=(1024, resource.getrlimit(resource.RLIMIT_NOFILE)[1])) as stack:
        pid = stack.server.pid
        with open("/proc/%d/limits" % pid) as f:
            soft = [l for l in f if l.startswith("Max open files")][0].split()[3]
        socks = [s for s, _ in open_many_tcp(stack.port, 1500, 2)]
        time.sleep(1)
        sel = selectors.DefaultSelector()
        for s in socks:
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
        closed = len(sel.select(timeout=0.5))
        sel.close()
        fds = harness.open_fds(pid)
        for s in socks:
            s.close()
        print("[soft-nofile] started with soft limit 1024: running with %s; %d connections, "
              "%d closed by the server at once, server at %d descriptors" %
              (soft, len(socks), closed, fds))
        res.check(soft != "1024", "soft-nofile: server raised its soft open-files limit to %s"
                  % soft)
        res.check(closed == 0 and fds > 1500,
                  "soft-nofile: server holds all %d connections (%d descriptors)" %
                  (len(socks), fds))


def main():
    harness.install_sigterm_cleanup()
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", default="build/cmd/cpp-metrics-server")
    ap.add_argument("--fleet-dir", default="build/test/bench/fleet")
    ap.add_argument("--no-fleet", action="store_true",
                    help="server only (kubeconfig to a closed port), GET /livez as the probe "
                         "client instead of HPA queries; no slow-readers phase")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="", help="comma-separated phase names")
    a = ap.parse_args()
    q = a.quick
    a.nodes = 100 if q else 1000
    a.pods = 30
    a.request_timeout = 5.0 if q else 60.0
    a.hpa_rate = 50 if q else 100
    a.p99_bound_ms = 250 if q else 250
    a.baseline_s = 5 if q else 20
    a.slow_n = 300 if q else 2000
    a.readers_n = 20 if q else 200
    # Per-connection memory is RSS growth / n, and the growth also holds what the server
    # allocated meanwhile for other reasons (a window rebuilt during the phase), divided by n:
    # 20 connections measured 126 KiB each against the 128 KiB bound, 100 measure 91-92 KiB
    # (mostly TLS state); buffering the bodies, the bug this catches, costs ~1 MiB each.
    a.bodies_n = 100 if q else 200
    a.flood_extra = 300 if q else 1000
    a.tls_procs = 2 if q else 4
    a.tls_seconds = 5 if q else 30
    only = set(filter(None, a.only.split(",")))
    server_flags = ["--request-timeout=%gs" % a.request_timeout] if q else []
    res = Results()

    fleet_dir = None if a.no_fleet else a.fleet_dir
    if a.no_fleet:
        only = only or {"baseline", "slowloris", "idle-tls", "big-bodies", "conn-flood",
                        "tls-flood", "fd-exhaustion", "soft-nofile"}

    def make_stack(rlimit=None):
        return harness.Stack(a.server, fleet_dir, a.nodes, a.pods, server_flags=server_flags,
                             resolution="5s" if a.no_fleet else "15s",
                             server_rlimit_nofile=rlimit)

    phases = ["baseline", "slowloris", "idle-tls", "slow-readers", "big-bodies", "conn-flood",
              "tls-flood"]
    t0 = time.monotonic()
    try:
        if not only or only & set(phases):
            with make_stack() as stack:
                lim = Limits(a, stack, res)
                for p in phases:
                    if only and p not in only:
                        continue
                    getattr(lim, p.replace("-", "_"))()
                    if not stack.check_alive(res):
                        break
        if not only or "fd-exhaustion" in only:
            fd_exhaustion(a, res, make_stack)
        if not only or "soft-nofile" in only:
            soft_nofile(a, res, make_stack)
    except Exception as e:  # noqa: BLE001 - reported as a failure with its reason
        res.check(False, "limits run: %s: %s" % (type(e).__name__, e))
    return res.finish("limits", t0)


if __name__ == "__main__":
    sys.exit(main())
