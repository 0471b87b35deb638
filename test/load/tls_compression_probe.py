#!/usr/bin/env python3
"""Sends a TLS 1.2 ClientHello offering DEFLATE and null compression to 127.0.0.1:PORT and
prints the compression method the server chose; exit 0 only if it chose null (0).

Scanners built without zlib (Debian's sslscan, openssl s_client) never offer compression, so
their "no compression" says nothing; this raw ClientHello does offer it.
usage: tls_compression_probe.py PORT
"""
import os
import socket
import struct
import sys


def ext(kind, body):
    return struct.pack("!HH", kind, len(body)) + body


def client_hello():
    suites = [0xC02B, 0xC02C, 0xC02F, 0xC030, 0xCCA9, 0xCCA8]
    groups = [0x001D, 0x0017, 0x0018]
    sigalgs = [0x0403, 0x0503, 0x0804, 0x0805, 0x0401, 0x0501]
    def u16_list(values):
        return struct.pack("!H", 2 * len(values)) + b"".join(struct.pack("!H", v) for v in values)

    exts = (ext(0x000A, u16_list(groups))  # supported_groups
            + ext(0x000B, b"\x01\x00")  # ec_point_formats: uncompressed
            + ext(0x000D, u16_list(sigalgs))  # signature_algorithms
            + ext(0xFF01, b"\x00"))  # renegotiation_info (initial)
    body = (b"\x03\x03" + os.urandom(32) + b"\x00"
            + u16_list(suites)
            + b"\x02\x01\x00"  # compression methods: DEFLATE, null
            + struct.pack("!H", len(exts)) + exts)
    hs = b"\x01" + struct.pack("!I", len(body))[1:] + body
    return b"\x16\x03\x01" + struct.pack("!H", len(hs)) + hs


def read_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise EOFError("connection closed after %d bytes" % len(data))
        data += chunk
    return data


def main():
    port = int(sys.argv[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(client_hello())
        rtype, _, length = struct.unpack("!BHH", read_exact(s, 5))
        record = read_exact(s, length)
    if rtype != 0x16 or record[0] != 0x02:
        print("no ServerHello (record type %d, first byte %d)" % (rtype, record[0]))
        return 1
    p = 4 + 2 + 32
    sid_len = record[p]
    p += 1 + sid_len
    suite = struct.unpack("!H", record[p:p + 2])[0]
    method = record[p + 2]
    print("ServerHello: suite 0x%04X, compression method %d (%s)" %
          (suite, method, "null" if method == 0 else "DEFLATE" if method == 1 else "?"))
    return 0 if method == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
