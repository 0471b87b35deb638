#!/usr/bin/env python3
"""slowhttptest (Debian package, see scripts/install-deps.sh) against the real server binary over
TLS on loopback, with no credentials (issue 14): slowloris, slow body, range and slow read, each
bounded in time.

The server runs with the simulated fleet (10 nodes, so the API has data) and
--request-timeout=10s, so that its read timeout (which covers a request's head as a whole) shows
within a run; the default is 60 s. While each case runs, as in attacks.py:
  probe   a new TLS connection every 250 ms sending GET /livez; each must answer 200 within 1 s.
  authn   a client with a client-CA certificate asking for the node metrics every 500 ms; each
          must answer 200, during the attack and after it.
and a sampler reads the server's RSS and open descriptors every 50 ms.

Every case asserts:
  - slowhttptest's own verdict: its probe (a new connection with a complete request every 2 s,
    -p 2) got an answer in time at every second of the run ("Service Available" in its CSV report,
    -g), and its exit status is the one expected of the case (below);
  - peak RSS growth below the bound stated in RELIABILITY.md: for connections the server holds
    (slowloris, slow read) --held-bound-kib (200 KiB) per connection, as attacks.py's held-heads
    (read buffer <= 32 KiB, TLS about 76 KiB); for connections refused or answered at their head
    (slow body, range) --rss-bound-mib (32 MiB), as attacks.py's floods;
  - the /livez probe answered within 1 s throughout, and the authenticated client served
    throughout and after.

Cases (--connections, 1000 by default, opened at 200 a second):
  slow-body   -B: POST /livez announcing an 8 KiB body, sent a few bytes every 5 s (R-U-Dead-Yet).
              No endpoint takes a body: 413 right after the head, connection closed, so
              slowhttptest ends with "No open connections left" within seconds.
  range       -R: HEAD /livez with "Range: bytes=0-,5-0,5-1,...,5-1999" (Apache killer). Ranges
              are not supported: the answer is the whole resource; no 206, no multipart. The same
              header on a GET of the pod metrics list is checked to answer 200 with the full body.
  slowloris   -H: GET /livez and then one header line every 5 s, never ending the head. The read
              timeout (10 s here) closes each connection however slowly bytes arrive: every
              connection closed by the server ("No open connections left") before the 25 s limit.
  slow-read   -X: GET of the pod metrics list, pipelined 10 times per connection (-k 10), read 32
              bytes a second through a receive window of 1-512 bytes, for 20 s. The connections
              stay open (slowhttptest exits at its time limit); the process holds only its TLS
              state per connection, the kernel's send buffer the unread answers.

Prints PASS:/FAIL: lines and "N passed, M failed"; exit status 0 only if all passed.
  --only a,b: run only these cases.  --connections N.
Loopback only; every case is bounded by slowhttptest's -l and a timeout around it.
"""
import argparse
import csv
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import attacks  # noqa: E402
import harness  # noqa: E402

PODS = "/apis/metrics.k8s.io/v1beta1/pods"
# slowhttptest's range header for -a 5 -b 2000 (its range-generator): 0- and then 5-0 .. 5-1999.
RANGE = "bytes=0-," + ",".join("5-%d" % i for i in range(2000))

# name -> (slowhttptest options, path, exit statuses accepted, server holds the connections)
CASES = {
    "slow-body": (["-B", "-i", "5", "-s", "8192", "-l", "20"], "/livez",
                  {"No open connections left"}, False),
    "range": (["-R", "-a", "5", "-b", "2000", "-l", "20"], "/livez",
              {"No open connections left"}, False),
    "slowloris": (["-H", "-i", "5", "-l", "25"], "/livez", {"No open connections left"}, True),
    "slow-read": (["-X", "-k", "10", "-n", "1", "-w", "1", "-y", "512", "-z", "32", "-l", "20"],
                  PODS, {"Hit test time limit", "No open connections left"}, True),
}


def read_report(prefix):
    """slowhttptest's CSV report (-g -o prefix): [(second, closed, pending, connected,
    service available)]; "service available" is 0 at the seconds its probe got no answer in
    time, the number of connections otherwise."""
    rows = []
    try:
        with open(prefix + ".csv") as f:
            for r in csv.reader(f):
                if r and r[0].isdigit():
                    rows.append(tuple(int(x) for x in r[:5]))
    except (OSError, ValueError):
        pass
    return rows


def exit_status(output):
    m = re.search(r"Exit status:(?:\x1b\[[0-9;]*m)*\s*([^\x1b\n]+)", output)
    return m.group(1).strip() if m else None


def case_check(name, stack):
    """The case's answer checked with one request of our own: (ok, what was seen)."""
    if name == "slow-body":
        head = (b"POST /livez HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 8192\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\n\r\nfoo=bar")
        status, closed = attacks.one_shot(stack.port, head)
        return status == 413 and closed, "POST with an 8 KiB body: %s, %s" % (
            status, "closed" if closed else "left open")
    if name == "range":
        req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nRange: %s\r\nConnection: close\r\n\r\n" %
               (PODS, RANGE)).encode()
        s = attacks.tls_connect(stack.port)
        data = b""
        try:
            s.sendall(req)
            s.settimeout(5)
            while True:
                got = s.recv(65536)
                if not got:
                    break
                data += got
        except OSError:
            pass
        finally:
            s.close()
        status = attacks.status_of(data)
        head, _, body = data.partition(b"\r\n\r\n")
        multipart = b"multipart/byteranges" in head.lower()
        return (status == 200 and not multipart and body.startswith(b"{")), (
            "GET of the pod list with the %d-byte Range header: %s, %d-byte body%s" % (
                len(RANGE), status, len(body), ", multipart" if multipart else ""))
    return True, ""


def run_case(name, a, stack, res):
    opts, path, exits, held = CASES[name]
    pid = stack.server.pid
    rss0 = harness.rss_kib(pid)
    fds0 = harness.open_fds(pid)
    sampler = harness.Sampler(pid, every=0.05)
    sampler.start()
    watchers = attacks.Watchers(stack, authn=True)
    time.sleep(0.5)
    prefix = os.path.join(stack.work, "slowhttptest-" + name)
    argv = (["slowhttptest"] + opts +
            ["-c", str(a.connections), "-r", "200", "-p", "2", "-g", "-o", prefix,
             "-u", "https://127.0.0.1:%d%s" % (stack.port, path)])
    t0 = time.monotonic()
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60,
                           start_new_session=True)
        output, rc = p.stdout.decode(errors="replace"), p.returncode
    except subprocess.TimeoutExpired as e:
        output, rc = (e.stdout or b"").decode(errors="replace"), "timeout"
    span = time.monotonic() - t0
    with open(prefix + ".out", "w") as f:
        f.write(output)
    ok_check, check_seen = case_check(name, stack)
    time.sleep(0.5)
    watchers.stop()
    peak = sampler.stop()
    alive = stack.server.poll() is None
    after_ok = False
    if alive:
        try:
            after_ok = stack.get("/apis/metrics.k8s.io/v1beta1/nodes", timeout=5)[0] == 200
        except OSError:
            after_ok = False
    fds_after = harness.open_fds(pid) if alive else 0
    rows = read_report(prefix)
    unavailable = [r[0] for r in rows if r[4] == 0]
    status = exit_status(output)
    connected_max = max((r[3] for r in rows), default=0)
    held_max = max(0, sampler.fds_max - fds0)
    growth_kib = peak - rss0
    lat = sorted(watchers.probe_lat)
    p_max = lat[-1] * 1000 if lat else float("nan")
    print("[%s] slowhttptest %s: exit status %r after %.1fs (rc %s); up to %d connected; "
          "server held up to %d more descriptors; its probe unanswered at %d of %d "
          "seconds; RSS %.1f -> peak %.1f MiB (+%.1f MiB, %.0f KiB per connection); probe %d ok, "
          "%d failed, max %.0f ms; authenticated %d ok, %d failed%s" % (
              name, " ".join(opts), status, span, rc, connected_max, held_max,
              len(unavailable), len(rows), rss0 / 1024.0, peak / 1024.0, growth_kib / 1024.0,
              growth_kib / max(1, a.connections), len(lat), watchers.probe_fail, p_max,
              watchers.authn_ok, watchers.authn_fail,
              "; " + check_seen if check_seen else ""), flush=True)
    res.check(alive, "%s: server alive" % name)
    res.check(connected_max > 0 and status in exits,
              "%s: slowhttptest connected (%d) and ended with %r (expected %s)" %
              (name, connected_max, status, " or ".join(sorted(exits))))
    res.check(len(rows) > 0 and not unavailable,
              "%s: slowhttptest's verdict: service available at every second (%d seconds; "
              "unavailable at %s)" % (name, len(rows), unavailable or "none"))
    if held:
        bound_kib = a.connections * a.held_bound_kib
    else:
        bound_kib = a.rss_bound_mib * 1024
    res.check(growth_kib < bound_kib, "%s: RSS growth %.1f MiB < %.0f MiB" %
              (name, growth_kib / 1024.0, bound_kib / 1024.0))
    res.check(watchers.probe_fail == 0 and len(lat) > 0,
              "%s: /livez probe answered within 1 s throughout (%d ok, %d failed %s, max %.0f ms)"
              % (name, len(lat), watchers.probe_fail, watchers.probe_errors, p_max))
    res.check(watchers.authn_fail == 0 and watchers.authn_ok > 0 and after_ok,
              "%s: authenticated client served throughout (%d ok, %d failed %s) and after (%s)" %
              (name, watchers.authn_ok, watchers.authn_fail, watchers.authn_errors,
               "200" if after_ok else "failed"))
    if name == "slowloris":
        # "No open connections left" (checked above): the server closed every one of them, at
        # its read timeout rather than at once or at a per-byte deadline.
        res.check(a.read_timeout <= span < 25, "slowloris: every connection closed by the "
                  "server's %d s read timeout before the run's 25 s limit (last after %.1fs; "
                  "server descriptors %d -> %d)" % (a.read_timeout, span, fds0, fds_after))
    if check_seen:
        res.check(ok_check, "%s: %s" % (name, check_seen))


def main():
    harness.install_sigterm_cleanup()
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", default="build/cmd/cpp-metrics-server")
    ap.add_argument("--fleet-dir", default="build/test/bench/fleet")
    ap.add_argument("--only", default="", help="comma-separated case names")
    ap.add_argument("--connections", type=int, default=1000)
    ap.add_argument("--rss-bound-mib", type=int, default=32)
    ap.add_argument("--held-bound-kib", type=int, default=200)
    a = ap.parse_args()
    a.read_timeout = 10
    only = [c for c in a.only.split(",") if c]
    for c in only:
        if c not in CASES:
            ap.error("unknown case %s (cases: %s)" % (c, ", ".join(CASES)))
    res = harness.Results()
    t0 = time.monotonic()
    try:
        if shutil.which("slowhttptest") is None:
            raise RuntimeError("slowhttptest not installed (scripts/install-deps.sh installs it)")
        version = subprocess.run(["slowhttptest", "-h"], stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT).stdout.decode(errors="replace")
        m = re.search(r"version ([0-9.]+)", version)
        print("[slowhttp] slowhttptest %s, %d connections per case" %
              (m.group(1) if m else "?", a.connections), flush=True)
        with harness.Stack(a.server, a.fleet_dir, nodes=10, pods=10,
                           server_flags=["--request-timeout=%ds" % a.read_timeout]) as stack:
            for name in CASES:
                if only and name not in only:
                    continue
                run_case(name, a, stack, res)
                if not stack.check_alive(res):
                    break
    except Exception as e:  # noqa: BLE001 - reported as a failure with its reason
        res.check(False, "slowhttp run: %s: %s" % (type(e).__name__, e))
    return res.finish("slowhttp", t0)


if __name__ == "__main__":
    sys.exit(main())
