#!/usr/bin/env python3
"""Assertions on one sslscan --xml report, for tls-scan.sh. Prints PASS:/FAIL: lines.

usage: sslscan_check.py REPORT.xml LABEL [--tls13-only] [--ciphers=A:B] [--control]

Default expectations (our server): no SSLv2/SSLv3/TLS 1.0/TLS 1.1, TLS 1.2 and 1.3 on, every
accepted TLS 1.2 suite ECDHE + AEAD (GCM/ChaCha20-Poly1305) with >= 128 bits, no renegotiation,
no compression (when this sslscan can test it), not vulnerable to Heartbleed, certificate key
RSA >= 2048 bits or EC with >= 128 bits of security (P-256 or larger).
--tls13-only: TLS 1.2 off too.  --ciphers: the accepted TLS 1.2 suites are exactly these.
--control: the report is of a deliberately weak server, and must show TLS 1.0, a non-ECDHE
suite and renegotiation (so the scanner demonstrably detects what we assert is absent).
"""
import sys
import xml.etree.ElementTree as ET


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    path, label = sys.argv[1], sys.argv[2]
    opts = sys.argv[3:]
    tls13_only = "--tls13-only" in opts
    control = "--control" in opts
    exact = None
    for o in opts:
        if o.startswith("--ciphers="):
            exact = set(o.split("=", 1)[1].split(":"))
    failed = 0

    def check(ok, what):
        nonlocal failed
        print(("PASS: " if ok else "FAIL: ") + label + ": " + what)
        failed += 0 if ok else 1

    try:
        test = ET.parse(path).getroot().find("ssltest")
    except (ET.ParseError, OSError) as e:
        check(False, "sslscan report readable (%s)" % e)
        return 1
    if test is None:
        check(False, "sslscan report has an <ssltest> element")
        return 1

    protocols = {}
    for p in test.findall("protocol"):
        name = {"ssl": "SSLv", "tls": "TLSv"}[p.get("type")] + p.get("version")
        protocols[name] = p.get("enabled") == "1"
    ciphers = [(c.get("sslversion"), c.get("cipher"), int(c.get("bits", "0")))
               for c in test.findall("cipher")]
    tls12 = [c for c in ciphers if c[0] == "TLSv1.2"]
    tls13 = [c for c in ciphers if c[0] == "TLSv1.3"]
    reneg = test.find("renegotiation")
    compression = test.find("compression")

    if control:
        check(protocols.get("TLSv1.0", False), "scanner detects TLS 1.0 on the weak control server")
        check(any(not c[1].startswith("ECDHE") for c in ciphers if c[0] in ("TLSv1.0", "TLSv1.2")),
              "scanner detects a suite without forward secrecy on the control server: " +
              " ".join(sorted({c[1] for c in ciphers})))
        check(reneg is not None and reneg.get("supported") == "1",
              "scanner detects renegotiation on the control server")
        return 1 if failed else 0

    enabled = sorted(p for p, on in protocols.items() if on)
    check(bool(protocols), "protocols probed: " + ", ".join(sorted(protocols)))
    for old in ("SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1"):
        check(old in protocols and not protocols[old], old + " disabled")
    check(protocols.get("TLSv1.3", False), "TLSv1.3 enabled (enabled: %s)" % ", ".join(enabled))
    if tls13_only:
        check(not protocols.get("TLSv1.2", True) and not tls12, "TLSv1.2 disabled")
    else:
        check(protocols.get("TLSv1.2", False) and bool(tls12), "TLSv1.2 enabled")
        weak = [c[1] for c in tls12
                if not c[1].startswith("ECDHE-")
                or not ("GCM" in c[1] or "CHACHA20-POLY1305" in c[1]) or c[2] < 128]
        check(not weak, "TLS 1.2 suites all ECDHE + AEAD >= 128 bits: " +
              " ".join(c[1] for c in tls12) + (" (weak: %s)" % " ".join(weak) if weak else ""))
    check(tls13 and all(c[2] >= 128 for c in tls13),
          "TLS 1.3 suites: " + " ".join(c[1] for c in tls13))
    if exact is not None:
        got = {c[1] for c in tls12}
        check(got == exact, "TLS 1.2 suites exactly %s (got %s)" % (sorted(exact), sorted(got)))
    check(reneg is not None and reneg.get("supported") == "0",
          "renegotiation not supported (%s)" % (reneg.attrib if reneg is not None else "absent"))
    if compression is not None:  # absent when sslscan was built without zlib (Debian's)
        check(compression.get("supported") == "0", "TLS compression not supported")
    hb = [h for h in test.findall("heartbleed") if h.get("vulnerable") != "0"]
    check(not hb, "not vulnerable to Heartbleed")
    pk = test.find("certificates/certificate[@type='short']/pk")
    if pk is None:
        check(False, "certificate public key reported")
    else:
        # sslscan gives RSA modulus bits, but EC security bits (P-256 = 128).
        kind, bits, curve = pk.get("type", ""), int(pk.get("bits", "0")), pk.get("curve_name", "")
        ok = (kind == "RSA" and bits >= 2048) or (kind == "EC" and bits >= 128)
        check(ok, "certificate key %s %s %d bits" % (kind, curve, bits))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
