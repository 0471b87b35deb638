#!/usr/bin/env python3
"""HTTP/1.1 parser-abuse and request-smuggling cases against the real server binary, over TLS on
loopback, with no credentials (issue 14). Python standard library only.

Each case runs for a bounded time while two clients measure the server:
  probe   a new TLS connection every 250 ms sending GET /livez (as the kubelet's liveness probe
          does); each must answer 200 within 1 s.
  authn   a client with a client-CA certificate asking for the node metrics every 500 ms over a
          kept-alive connection; each must answer 200 (not with --no-fleet: the server then has
          no client CA and no data).
and a sampler reads the server's RSS every 50 ms. Every case asserts: each attacking connection
was answered with the expected status or closed; the server's peak RSS grew by less than
--rss-bound-mib (32 MiB); the probe and the authenticated client were served throughout.

Cases (one line each in the output, naming it and its figures):
  chunk-extension      4 connections: GET /livez with Transfer-Encoding: chunked, then an endless
                       chunk-size line ("1;" and 'a' for ever), for --flood-seconds; reconnecting
                       whenever the server closes. The issue's reproducer.
  endless-trailers     the same with a last chunk and then trailer lines for ever.
  big-content-length   Content-Length: 1000000 and a body.
  obs-fold             a header continued on a folded line (obs-fold).
  endless-obs-fold     one header continued by folded lines for ever.
  duplicate-cl         two different Content-Length headers.
  cl-and-te            Content-Length and Transfer-Encoding: chunked together (smuggling).
  te-not-chunked       Transfer-Encoding: gzip, then a second request as its "body" (smuggling).
  bare-lf              lines ended by LF alone.
  nul-in-header        a NUL byte in a header value.
  long-method          a 40 KiB method.
  long-target          a 12 KiB target (below the header limit) and a 40 KiB one.
  long-version         a 40 KiB protocol version.
  endless-headers      header lines for ever.
  pipelining-flood     4 connections each write GET /livez requests back to back without
                       reading any response, for 1 s (--quick) or 3 s, then read for 2 s.
  held-heads           200 (--quick) or 1000 connections each send a request line and a field
                       just under the header limit without its end, and hold them: none is
                       answered or closed, and RSS grows by less than 200 KiB per connection
                       (read buffer 32 KiB, TLS about 76 KiB).
  idle-keepalive-fill  a server of its own with --max-connections=100 (--quick) or 1000, filled
                       with connections that got one answer and stay idle: a /livez probe on a
                       new connection every 250 ms must be served once they have been idle for
                       5 s (each new connection then closes the one idle the longest).

Prints PASS:/FAIL: lines and "N passed, M failed"; exit status 0 only if all passed.
  --quick: 5 s floods (CTest). Default: 20 s floods.
  --only a,b: run only these cases.
Loopback only; every loop is bounded by the case's duration.
"""
import argparse
import http.client
import os
import socket
import ssl
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

MIB = 1024 * 1024
HEAD = b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\n"


def anon_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def tls_connect(port, timeout=5.0):
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return anon_context().wrap_socket(raw, server_hostname="127.0.0.1")


def status_of(data):
    """The status code of the first response in `data`, or None."""
    if not data.startswith(b"HTTP/1."):
        return None
    try:
        return int(data.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return None


class Watchers:
    """The liveness probe (a new connection per probe) and an authenticated client, both
    running until stop()."""

    def __init__(self, stack, authn):
        self.stack = stack
        self.stop_flag = threading.Event()
        self.probe_lat, self.probe_fail, self.probe_errors = [], 0, []
        self.authn_ok, self.authn_fail, self.authn_errors = 0, 0, []
        self.threads = [threading.Thread(target=self._probe, daemon=True)]
        if authn:
            self.threads.append(threading.Thread(target=self._authn, daemon=True))
        for t in self.threads:
            t.start()

    def _probe(self):
        while not self.stop_flag.is_set():
            t0 = time.monotonic()
            c = http.client.HTTPSConnection("127.0.0.1", self.stack.port,
                                            context=anon_context(), timeout=1.0)
            try:
                c.request("GET", "/livez")
                r = c.getresponse()
                r.read()
                lat = time.monotonic() - t0
                if r.status != 200 or lat > 1.0:
                    raise RuntimeError("HTTP %d after %.3fs" % (r.status, lat))
                self.probe_lat.append(lat)
            except Exception as e:  # noqa: BLE001 - counted as a failed probe
                self.probe_fail += 1
                if len(self.probe_errors) < 3:
                    self.probe_errors.append(str(e))
            finally:
                c.close()
            self.stop_flag.wait(max(0.0, 0.25 - (time.monotonic() - t0)))

    def _authn(self):
        c = None
        while not self.stop_flag.is_set():
            t0 = time.monotonic()
            try:
                if c is None:
                    c = http.client.HTTPSConnection("127.0.0.1", self.stack.port,
                                                    context=self.stack.client_context(),
                                                    timeout=5.0)
                c.request("GET", "/apis/metrics.k8s.io/v1beta1/nodes",
                          headers={"Accept": "application/json"})
                r = c.getresponse()
                r.read()
                if r.status != 200:
                    raise RuntimeError("HTTP %d" % r.status)
                self.authn_ok += 1
            except Exception as e:  # noqa: BLE001 - counted as a failure
                self.authn_fail += 1
                if len(self.authn_errors) < 3:
                    self.authn_errors.append(str(e))
                if c is not None:
                    c.close()
                c = None
            self.stop_flag.wait(max(0.0, 0.5 - (time.monotonic() - t0)))
        if c is not None:
            c.close()

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(timeout=10)


def one_shot(port, payload, read_timeout=5.0):
    """Sends `payload` on a new TLS connection and reads until the server closes (or the
    timeout). Returns (status of the first response or None, closed by the server)."""
    s = tls_connect(port)
    data, closed = b"", False
    try:
        try:
            s.sendall(payload)
        except OSError:
            closed = True
        s.settimeout(read_timeout)
        end = time.monotonic() + read_timeout
        while time.monotonic() < end and not closed:
            try:
                got = s.recv(65536)
            except socket.timeout:
                break
            except OSError:
                closed = True
                break
            if not got:
                closed = True
                break
            data += got
            if len(data) > 1 * MIB:
                break
    finally:
        s.close()
    return status_of(data), closed


def flood(port, head, filler, seconds, connections, rss_cap_kib, pid):
    """`connections` threads, each sending `head` and then `filler` for ever on a TLS connection
    and reconnecting whenever the server closes it, until `seconds` pass (or the server's RSS
    exceeds rss_cap_kib, to keep an unfixed server from taking the machine down). Returns
    (bytes sent, connections made, {status or "closed": count})."""
    end = time.monotonic() + seconds
    lock = threading.Lock()
    totals = {"bytes": 0, "conns": 0, "outcomes": {}, "capped": False}
    piece = filler * max(1, (64 * 1024) // len(filler))

    def worker():
        while time.monotonic() < end and not totals["capped"]:
            try:
                s = tls_connect(port)
            except OSError:
                time.sleep(0.05)
                continue
            sent, data, outcome = 0, b"", None
            try:
                s.settimeout(1.0)
                s.sendall(head)
                sent += len(head)
                while time.monotonic() < end:
                    if pid is not None and harness.rss_kib(pid) > rss_cap_kib:
                        totals["capped"] = True
                        break
                    s.sendall(piece)
                    sent += len(piece)
            except (OSError, ssl.SSLError):
                pass
            # Whatever the server answered before closing.
            try:
                s.settimeout(0.5)
                while len(data) < 65536:
                    got = s.recv(65536)
                    if not got:
                        break
                    data += got
            except (OSError, ssl.SSLError):
                pass
            s.close()
            outcome = status_of(data) or "closed"
            with lock:
                totals["bytes"] += sent
                totals["conns"] += 1
                totals["outcomes"][outcome] = totals["outcomes"].get(outcome, 0) + 1

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 30)
    return totals


def held_heads(port, n, hold_s):
    """n connections each send the largest head the limits let through without completing it (a
    request line, then a field just under the header limit without its end) and hold it for
    hold_s. Returns (connections opened, still open at the end, answered early)."""
    line = b"GET /livez HTTP/1.1\r\n"
    field = b"X-Held: " + b"b" * (32 * 1024 - 64)
    socks, answered = [], 0
    for _ in range(n):
        try:
            s = tls_connect(port)
            s.sendall(line + field)
            socks.append(s)
        except OSError:
            pass
    time.sleep(hold_s)
    still_open = 0
    for s in socks:
        s.setblocking(False)
        try:
            got = s.recv(65536)
            answered += 1 if got else 0
        except (ssl.SSLWantReadError, BlockingIOError):
            still_open += 1
        except OSError:
            pass
        s.close()
    return len(socks), still_open, answered


def idle_keepalive_fill(a, res):
    """A server of its own with --max-connections=N; N TLS connections each get one answer and
    then stay idle, kept alive. A probe opening a new connection every 250 ms is refused while
    they are recent, and must be served once they have been idle for the server's evictable
    idle time (5 s): each new connection then closes the one idle the longest."""
    n, evictable_idle = a.fill_connections, 5.0
    with harness.Stack(a.server, None, nodes=1, pods=1, resolution="5s",
                       server_flags=["--max-connections=%d" % n]) as stack:
        socks = []
        for _ in range(n):
            try:
                s = tls_connect(stack.port)
                s.sendall(HEAD + b"\r\n")
                s.settimeout(5)
                if status_of(s.recv(65536)) == 200:
                    socks.append(s)
                else:
                    s.close()
            except OSError:
                pass
        filled = time.monotonic()
        outcomes = []  # (seconds since filled, served)
        while time.monotonic() - filled < evictable_idle + 3:
            t0 = time.monotonic()
            ok = False
            c = http.client.HTTPSConnection("127.0.0.1", stack.port, context=anon_context(),
                                            timeout=1.0)
            try:
                c.request("GET", "/livez")
                r = c.getresponse()
                r.read()
                ok = r.status == 200 and time.monotonic() - t0 <= 1.0
            except Exception:  # noqa: BLE001 - a refused probe
                ok = False
            finally:
                c.close()
            outcomes.append((t0 - filled, ok))
            time.sleep(max(0.0, 0.25 - (time.monotonic() - t0)))
        early = [ok for t, ok in outcomes if t < evictable_idle - 0.5]
        late = [ok for t, ok in outcomes if t > evictable_idle + 0.5]
        first_ok = next((t for t, ok in outcomes if ok), None)
        for s in socks:
            s.close()
        print("[idle-keepalive-fill] --max-connections=%d filled with %d idle kept-alive "
              "connections; probe refused %d of %d times while they were idle < 5 s, served %d "
              "of %d times after; first served %.1fs after the fill" % (
                  n, len(socks), early.count(False), len(early), late.count(True), len(late),
                  first_ok if first_ok is not None else float("nan")), flush=True)
        res.check(len(socks) == n, "idle-keepalive-fill: %d of %d connections kept alive" %
                  (len(socks), n))
        res.check(len(late) > 0 and all(late),
                  "idle-keepalive-fill: every probe served once the idle connections were idle "
                  "for 5 s (%d of %d)" % (late.count(True), len(late)))


def pipelining(port, seconds, connections):
    """Each connection writes GET /livez back to back without reading, for `seconds`, then reads
    what comes back for 2 s. Returns (requests written, responses read, statuses seen)."""
    end = time.monotonic() + seconds
    lock = threading.Lock()
    totals = {"written": 0, "read": 0, "statuses": set(), "conns": 0}
    req = HEAD + b"\r\n"
    batch = req * 256

    def worker():
        s = tls_connect(port)
        written = 0
        try:
            s.settimeout(1.0)
            while time.monotonic() < end:
                s.sendall(batch)
                written += 256
        except (OSError, ssl.SSLError):
            pass  # blocked (the server stopped reading while we do not read) or closed
        data = b""
        read_end = time.monotonic() + 2.0
        try:
            s.settimeout(1.0)
            while len(data) < 4 * MIB and time.monotonic() < read_end:
                got = s.recv(65536)
                if not got:
                    break
                data += got
        except (OSError, ssl.SSLError):
            pass
        s.close()
        with lock:
            totals["written"] += written
            totals["read"] += data.count(b"HTTP/1.1 ")
            totals["conns"] += 1
            st = status_of(data)
            totals["statuses"].add(st if st is not None else "closed")

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 30)
    return totals


# name -> (payload, accepted outcomes); one connection each.
ONE_SHOT = {
    "big-content-length": (HEAD + b"Content-Length: 1000000\r\n\r\n" + b"x" * 65536, {413}),
    # RFC 9112 5.2: reject with 400 or replace the fold by a space; Beast does the latter.
    "obs-fold": (HEAD + b"X-Folded: a\r\n b\r\nConnection: close\r\n\r\n", {200}),
    "duplicate-cl": (HEAD + b"Content-Length: 0\r\nContent-Length: 5\r\n\r\nxxxxx", {400}),
    "cl-and-te": (HEAD + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                  {400}),
    "te-not-chunked": (HEAD + b"Transfer-Encoding: gzip\r\n\r\n"
                       b"GET /apis/metrics.k8s.io/v1beta1/nodes HTTP/1.1\r\nHost: x\r\n\r\n",
                       {413}),
    "bare-lf": (b"GET /livez HTTP/1.1\nHost: 127.0.0.1\n\n", {400}),
    "nul-in-header": (HEAD + b"X-Nul: a\x00b\r\n\r\n", {400}),
    "long-method": (b"G" * 40960 + b" /livez HTTP/1.1\r\nHost: x\r\n\r\n", {414}),
    "long-target-12k": (b"GET /livez?" + b"a" * 12288 + b" HTTP/1.1\r\nHost: x\r\n\r\n", {414}),
    "long-target-40k": (b"GET /livez?" + b"a" * 40960 + b" HTTP/1.1\r\nHost: x\r\n\r\n", {414}),
    "long-version": (b"GET /livez HTTP/1." + b"1" * 40960 + b"\r\nHost: x\r\n\r\n", {400, 414}),
}
# name -> (head, filler, accepted outcomes); endless, on 4 connections.
FLOODS = {
    "chunk-extension": (HEAD + b"Transfer-Encoding: chunked\r\n\r\n1;", b"a", {413}),
    "endless-trailers": (HEAD + b"Transfer-Encoding: chunked\r\n\r\n0\r\n", b"X-Trailer: a\r\n",
                         {413}),
    "endless-obs-fold": (HEAD + b"X-Folded: a\r\n", b" folded\r\n", {431}),
    "endless-headers": (HEAD, b"X-Header: a\r\n", {431}),
}
CASES = (["chunk-extension", "endless-trailers"] + list(ONE_SHOT) +
         ["endless-obs-fold", "endless-headers", "pipelining-flood", "held-heads",
          "idle-keepalive-fill"])


def run_case(name, a, stack, res):
    pid = stack.server.pid
    rss0 = harness.rss_kib(pid)
    sampler = harness.Sampler(pid, every=0.05)
    sampler.start()
    authn = stack.certs is not None
    watchers = Watchers(stack, authn)
    time.sleep(0.5)
    t0 = time.monotonic()
    figures = ""
    ok_outcome = True
    if name in FLOODS:
        head, filler, accepted = FLOODS[name]
        seconds = a.flood_seconds if name == "chunk-extension" else a.short_seconds
        t = flood(stack.port, head, filler, seconds, a.connections, a.rss_cap_mib * 1024, pid)
        outcomes = t["outcomes"]
        # A connection cut by the server while we were still sending may never see its answer
        # (the close resets the connection and drops what was in flight): "closed" counts as
        # refused; any other status does not.
        ok_outcome = t["conns"] > 0 and all(o in accepted or o == "closed" for o in outcomes)
        figures = "%d connections, %.1f MiB sent in %.1fs, outcomes %s%s" % (
            t["conns"], t["bytes"] / MIB, time.monotonic() - t0,
            dict(sorted(outcomes.items(), key=str)),
            ", STOPPED at the RSS cap" if t["capped"] else "")
    elif name in ONE_SHOT:
        payload, accepted = ONE_SHOT[name]
        status, closed = one_shot(stack.port, payload)
        ok_outcome = status in accepted or (status is None and closed)
        figures = "sent %d bytes, answered %s, %s" % (
            len(payload), status, "closed" if closed else "left open")
        time.sleep(a.short_seconds)
    elif name == "held-heads":
        n = a.held_connections
        opened, still_open, answered = held_heads(stack.port, n, a.short_seconds + 2)
        peak_now = harness.rss_kib(pid)
        per_conn = (max(sampler.rss_max, peak_now) - rss0) / max(1, opened)
        ok_outcome = opened == n and still_open == n and per_conn < a.held_bound_kib
        figures = ("%d connections held 32 KiB heads: %d still open, %d answered; %.0f KiB per "
                   "connection (bound %d)" % (opened, still_open, answered, per_conn,
                                              a.held_bound_kib))
    elif name == "pipelining-flood":
        t = pipelining(stack.port, a.short_seconds, a.connections)
        ok_outcome = t["read"] > 0 and t["statuses"] <= {200, "closed"}
        figures = "%d connections, %d requests written, %d responses read, statuses %s" % (
            t["conns"], t["written"], t["read"], sorted(t["statuses"], key=str))
    span = time.monotonic() - t0
    time.sleep(0.5)
    watchers.stop()
    peak = sampler.stop()
    alive = stack.server.poll() is None
    rss1 = harness.rss_kib(pid) if alive else 0
    growth_mib = (peak - rss0) / 1024.0
    lat = sorted(watchers.probe_lat)
    p_max = lat[-1] * 1000 if lat else float("nan")
    print("[%s] %s; RSS %.1f -> peak %.1f -> %.1f MiB (+%.1f MiB); probe %d ok, %d failed, max "
          "%.0f ms; authenticated %d ok, %d failed; %.1fs" % (
              name, figures, rss0 / 1024.0, peak / 1024.0, rss1 / 1024.0, growth_mib, len(lat),
              watchers.probe_fail, p_max, watchers.authn_ok, watchers.authn_fail, span),
          flush=True)
    res.check(alive, "%s: server alive" % name)
    res.check(ok_outcome, "%s: answered with the expected status or closed (%s)" %
              (name, figures))
    bound_mib = a.rss_bound_mib
    if name == "held-heads":  # held on purpose: bounded per connection (checked above)
        bound_mib = a.held_connections * a.held_bound_kib / 1024.0
    res.check(growth_mib < bound_mib, "%s: RSS growth %.1f MiB < %d MiB" %
              (name, growth_mib, bound_mib))
    res.check(watchers.probe_fail == 0 and len(lat) > 0,
              "%s: /livez probe answered within 1 s throughout (%d ok, %d failed %s)" %
              (name, len(lat), watchers.probe_fail, watchers.probe_errors))
    if authn:
        res.check(watchers.authn_fail == 0 and watchers.authn_ok > 0,
                  "%s: authenticated client served (%d ok, %d failed %s)" %
                  (name, watchers.authn_ok, watchers.authn_fail, watchers.authn_errors))


def main():
    harness.install_sigterm_cleanup()
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", default="build/cmd/cpp-metrics-server")
    ap.add_argument("--fleet-dir", default="build/test/bench/fleet")
    ap.add_argument("--no-fleet", action="store_true",
                    help="server only (kubeconfig to a closed port): no authenticated client")
    ap.add_argument("--quick", action="store_true", help="5 s floods (CTest)")
    ap.add_argument("--only", default="", help="comma-separated case names")
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--rss-bound-mib", type=int, default=32)
    ap.add_argument("--held-bound-kib", type=int, default=200,
                    help="held-heads: RSS growth per held connection (read buffer 32 KiB, "
                         "TLS about 76 KiB)")
    ap.add_argument("--rss-cap-mib", type=int, default=3072,
                    help="attackers stop when the server's RSS passes this (an unfixed server)")
    a = ap.parse_args()
    a.flood_seconds = 5.0 if a.quick else 20.0
    a.short_seconds = 1.0 if a.quick else 3.0
    a.held_connections = 200 if a.quick else 1000
    a.fill_connections = 100 if a.quick else 1000
    only = [c for c in a.only.split(",") if c]
    for c in only:
        if c not in CASES:
            ap.error("unknown case %s (cases: %s)" % (c, ", ".join(CASES)))
    res = harness.Results()
    t0 = time.monotonic()
    try:
        cases = [c for c in CASES if c != "idle-keepalive-fill" and (not only or c in only)]
        if cases:
            with harness.Stack(a.server, None if a.no_fleet else a.fleet_dir, nodes=10, pods=10,
                               resolution="5s" if a.no_fleet else "15s",
                               server_flags=["--request-timeout=60s"]) as stack:
                for name in cases:
                    run_case(name, a, stack, res)
                    if not stack.check_alive(res):
                        break
        if not only or "idle-keepalive-fill" in only:
            idle_keepalive_fill(a, res)
    except Exception as e:  # noqa: BLE001 - reported as a failure with its reason
        res.check(False, "attacks run: %s: %s" % (type(e).__name__, e))
    return res.finish("attacks", t0)


if __name__ == "__main__":
    sys.exit(main())
