#!/usr/bin/env python3
"""testssl.sh (Debian package `testssl.sh`, command `testssl`, see scripts/install-deps.sh)
against the real server binary on loopback (issue 14): protocols (-p), cipher categories (-s),
forward secrecy (-f), server defaults and certificate (-S), server preferences (-P),
renegotiation (-R) and every known vulnerability it tests (-U: Heartbleed, CCS, Ticketbleed,
ROBOT, CRIME, BREACH, POODLE, TLS_FALLBACK_SCSV, SWEET32, FREAK, DROWN, LOGJAM, BEAST, LUCKY13,
RC4).

Offline and bounded: --nodns none (no DNS look-ups, no CAA record), no --phone-out (so no CRL or
OCSP fetches), --connect-timeout and --openssl-timeout 10 s, the whole scan killed after 240 s.
The server runs with default TLS flags and its own self-signed serving certificate (--cert-dir,
a throw-away CA made at start), its kubeconfig pointing at a closed port: TLS serving does not
depend on the cluster.

Asserted, from testssl's flat JSON (--jsonfile):
  - every finding named in REQUIRED is present (a scan that skipped a section fails), and the
    protocol findings say what tls-scan.sh asserts: SSLv2, SSLv3, TLS 1.0, TLS 1.1 not offered,
    TLS 1.2 and 1.3 offered;
  - no finding of severity MEDIUM, HIGH or CRITICAL, except those EXPECTED_FROM_THROWAWAY_CA,
    each named with its reason (it is about the test's certificate, not the server);
  - no WARN (testssl could not run a check) or FATAL, except SCANNER_SIDE_WARNINGS, each named.
A positive control runs first: `openssl s_server` restricted to TLS 1.0 with a CBC suite without
forward secrecy must get findings above LOW from the same parser, so a clean result for our
server cannot come from a scan that sees nothing.

Prints PASS:/FAIL: lines and "N passed, M failed"; exit status 0 only if all passed.
"""
import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

TESTSSL_OPTIONS = ["--quiet", "--color", "0", "--warnings", "off", "--nodns", "none",
                   "--connect-timeout", "10", "--openssl-timeout", "10"]
SCAN = ["-p", "-s", "-f", "-S", "-P", "-R", "-U"]
# Severities testssl gives findings, lowest first; WARN and FATAL are problems of the scan.
SEVERITY = {"DEBUG": 0, "INFO": 0, "OK": 0, "LOW": 1, "MEDIUM": 2, "HIGH": 3, "CRITICAL": 4}

EXPECTED_FROM_THROWAWAY_CA = {
    "cert_chain_of_trust": "the serving certificate is signed by the throw-away CA the server "
                           "makes in --cert-dir, which no trust store holds (the aggregator "
                           "trusts it through the APIService caBundle)",
    "cert_revocation": "the throw-away certificate has no CRL or OCSP URI (nothing could answer "
                       "them offline; a cluster CA usually publishes neither)",
}
SCANNER_SIDE_WARNINGS = {
    "engine_problem": "the local openssl has no GOST engine (a limit of the scanner's client)",
    "sessionresumption_ticket": "testssl 3.0.8 with OpenSSL 3: its first s_client (-sess_out, "
                                "stdin closed) can end before the server's TLS 1.3 "
                                "NewSessionTicket arrives, so no session is saved and the second "
                                "fails with \"Can't open session file\" ('connect problem'); "
                                "resumption works with openssl s_client, and is INFO either way",
    "sessionresumption_ID": "the same probe, by session ID",
}
REQUIRED = ["SSLv2", "SSLv3", "TLS1", "TLS1_1", "TLS1_2", "TLS1_3", "cipherlist_NULL",
            "cipherlist_aNULL", "cipherlist_EXPORT", "cipherlist_LOW", "cipherlist_3DES_IDEA",
            "cipherlist_AVERAGE", "cipherlist_STRONG", "PFS", "cipher_order", "cert_keySize",
            "cert_chain_of_trust", "heartbleed", "CCS", "ticketbleed", "ROBOT", "secure_renego",
            "secure_client_renego", "CRIME_TLS", "BREACH", "POODLE_SSL", "fallback_SCSV",
            "SWEET32", "FREAK", "DROWN", "LOGJAM", "BEAST", "LUCKY13", "RC4"]
PROTOCOLS = {"SSLv2": "not offered", "SSLv3": "not offered", "TLS1": "not offered",
             "TLS1_1": "not offered", "TLS1_2": "offered", "TLS1_3": "offered"}


def testssl(port, options, workdir, label):
    """Runs testssl against 127.0.0.1:port; returns (findings, exit code, seconds, output)."""
    json_path = os.path.join(workdir, label + ".json")
    argv = ["testssl"] + TESTSSL_OPTIONS + ["--jsonfile", json_path] + options + [
        "127.0.0.1:%d" % port]
    t0 = time.monotonic()
    try:
        p = subprocess.run(argv, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, timeout=240, start_new_session=True)
        rc, out = p.returncode, p.stdout.decode(errors="replace")
    except subprocess.TimeoutExpired as e:
        rc, out = "timeout", (e.stdout or b"").decode(errors="replace")
    seconds = time.monotonic() - t0
    with open(os.path.join(workdir, label + ".txt"), "w") as f:
        f.write(out)
    try:
        with open(json_path) as f:
            findings = json.load(f)
    except (OSError, ValueError):
        findings = []
    return findings, rc, seconds, out


def above_low(f):
    return SEVERITY.get(f["severity"], 0) > SEVERITY["LOW"]


def control(res, workdir):
    """openssl s_server with TLS 1.0 only and a non-forward-secret CBC suite: testssl must report
    findings above LOW."""
    key, crt = os.path.join(workdir, "weak.key"), os.path.join(workdir, "weak.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", crt],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    port = harness.free_port()
    log = open(os.path.join(workdir, "weak.log"), "wb")
    server = subprocess.Popen(
        ["openssl", "s_server", "-accept", "127.0.0.1:%d" % port, "-cert", crt, "-key", key,
         "-cipher", "AES128-SHA:@SECLEVEL=0", "-tls1", "-naccept", "10000", "-quiet"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    harness._children.append(server)
    log.close()
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("control: openssl s_server did not listen")
                time.sleep(0.1)
        findings, rc, seconds, _ = testssl(port, ["-p", "-s"], workdir, "control")
        flagged = sorted("%s %s" % (f["id"], f["severity"]) for f in findings if above_low(f))
        tls1 = next((f["finding"] for f in findings if f["id"] == "TLS1"), "absent")
        print("[testssl] control (openssl s_server, TLS 1.0, AES128-SHA): %d findings in %.1fs, "
              "rc %s; above LOW: %s" % (len(findings), seconds, rc, ", ".join(flagged)),
              flush=True)
        res.check(tls1.startswith("offered") and bool(flagged),
                  "control: testssl reports TLS 1.0 (%s) and findings above LOW (%s) on a weak "
                  "server" % (tls1, ", ".join(flagged) or "none"))
    finally:
        server.terminate()
        server.wait(timeout=10)


def scan_server(res, a, workdir):
    with harness.Stack(a.server, None, nodes=1, pods=1, resolution="5s") as stack:
        findings, rc, seconds, out = testssl(stack.port, SCAN, workdir, "server")
        alive = stack.server.poll() is None
    by_id = {}
    for f in findings:
        by_id.setdefault(f["id"], f)
    counts = {}
    for f in findings:
        counts[f["severity"]] = counts.get(f["severity"], 0) + 1
    print("[testssl] server: %d findings in %.1fs (rc %s): %s" % (
        len(findings), seconds, rc, ", ".join("%s %d" % kv for kv in sorted(counts.items()))),
        flush=True)
    # testssl's own errors are exit codes 242-255; below that, rc sums what its checks returned.
    if not res.check(isinstance(rc, int) and rc < 242 and findings,
                     "testssl ran to the end (rc %s, %d findings)%s" % (
                         rc, len(findings), "" if findings else ": " + out[-500:])):
        return
    res.check(alive, "server still running after the scan")
    for fid in REQUIRED:
        f = by_id.get(fid)
        if f is None:
            res.check(False, "%s: present in the scan" % fid)
        elif fid in PROTOCOLS:
            res.check(f["finding"].startswith(PROTOCOLS[fid]),
                      "%s: %s (%s)" % (fid, f["finding"], f["severity"]))
        elif fid in EXPECTED_FROM_THROWAWAY_CA:
            continue
        else:
            res.check(not above_low(f), "%s: %s (%s)" % (fid, f["finding"], f["severity"]))
    for f in findings:
        fid, sev = f["id"], f["severity"]
        if fid in EXPECTED_FROM_THROWAWAY_CA and above_low(f):
            res.check(True, "%s: %s (%s) -- expected, from the test's throw-away CA: %s" % (
                fid, f["finding"], sev, EXPECTED_FROM_THROWAWAY_CA[fid]))
        elif sev == "WARN" and fid in SCANNER_SIDE_WARNINGS:
            res.check(True, "%s: %s (WARN) -- expected, scanner side: %s" % (
                fid, f["finding"], SCANNER_SIDE_WARNINGS[fid]))
        elif sev in ("WARN", "FATAL"):
            res.check(False, "%s: the scan could not run this check: %s (%s)" % (
                fid, f["finding"], sev))
        elif above_low(f) and fid not in REQUIRED:
            res.check(False, "%s: %s (%s)" % (fid, f["finding"], sev))
    worst = [f for f in findings if above_low(f) and f["id"] not in EXPECTED_FROM_THROWAWAY_CA]
    res.check(not worst, "no finding above LOW besides the throw-away CA's (%d findings; %s)" % (
        len(findings), ", ".join("%s %s" % (f["id"], f["severity"]) for f in worst) or "none"))


def main():
    harness.install_sigterm_cleanup()
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", default="build/cmd/cpp-metrics-server")
    ap.add_argument("--no-control", action="store_true", help="skip the positive control")
    a = ap.parse_args()
    res = harness.Results()
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="cms-testssl.") as workdir:
        try:
            if shutil.which("testssl") is None:
                raise RuntimeError("testssl not installed (scripts/install-deps.sh installs the "
                                   "Debian package testssl.sh)")
            banner = subprocess.run(["testssl", "--version"], stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT).stdout.decode(errors="replace")
            banner = re.sub(r"\x1b\[[0-9;]*m", "", banner)
            m = re.search(r"testssl(?:\.sh)?\s+([0-9][0-9.a-z+-]*)", banner)
            print("[testssl] testssl.sh %s, %s" % (
                m.group(1) if m else "?",
                subprocess.run(["openssl", "version"], stdout=subprocess.PIPE)
                .stdout.decode().strip()), flush=True)
            if not a.no_control:
                control(res, workdir)
            scan_server(res, a, workdir)
        except Exception as e:  # noqa: BLE001 - reported as a failure with its reason
            res.check(False, "testssl run: %s: %s" % (type(e).__name__, e))
    return res.finish("testssl", t0)


if __name__ == "__main__":
    sys.exit(main())
