#!/usr/bin/env python3
"""Reads who asked for which metrics.k8s.io version, for check-api-versions.sh.

  api_versions_check.py audit AUDIT_LOG FROM_LINE UA_REGEX VERSION
      kube-apiserver's audit log (JSON lines, cluster.sh's policy: metrics.k8s.io at Metadata),
      from line FROM_LINE (1-based) on: every event whose userAgent matches UA_REGEX must have
      asked for /apis/metrics.k8s.io/VERSION/... and been answered 200, and there must be one.
      Prints one line: how many, which URIs, which users.
  api_versions_check.py served SERVER_LOG UA_REGEX VERSION
      our server's request log (-v=2: "request: GET <target> <status> ... user-agent="...""):
      it answered 200 to a request for /apis/metrics.k8s.io/VERSION/... from UA_REGEX.
Exits 1 with the reason otherwise.
"""

import json
import re
import sys


def fail(msg):
    print(msg)
    sys.exit(1)


def audit(path, from_line, ua_re, version):
    ua = re.compile(ua_re)
    events = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if n < from_line or not line.strip():
                continue
            e = json.loads(line)
            if e.get("stage") != "ResponseComplete" or not ua.search(e.get("userAgent", "")):
                continue
            events.append(e)
    if not events:
        fail(f"no metrics.k8s.io request from user agent /{ua_re}/ in the audit log"
             f" since line {from_line}")
    prefix = f"/apis/metrics.k8s.io/{version}/"
    wrong = [e for e in events if not e["requestURI"].startswith(prefix)
             or e.get("responseStatus", {}).get("code") != 200]
    for e in wrong:
        code = e.get("responseStatus", {}).get("code")
        print(f"  {e['requestURI']} -> {code} ({e.get('userAgent')})")
    if wrong:
        fail(f"{len(wrong)} of {len(events)} requests were not {prefix}... answered 200")
    uris = sorted({re.sub(r"\?.*", "", e["requestURI"]) for e in events})
    users = sorted({e["user"]["username"] for e in events})
    agent = events[0].get("userAgent", "")
    print(f"{len(events)} x {version}, all 200: {' '.join(uris)} as {','.join(users)} ({agent})")


def served(path, ua_re, version):
    ua = re.compile(ua_re)
    line_re = re.compile(r'request: (\S+) (\S+) (\d+) \S+ user="([^"]*)" user-agent="([^"]*)"')
    hits, other = [], 0
    prefix = f"/apis/metrics.k8s.io/{version}/"
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = line_re.search(line)
            if not m or not ua.search(m.group(5)) or not m.group(2).startswith("/apis/metrics.k8s.io/"):
                continue
            if m.group(2).startswith(prefix) and m.group(3) == "200":
                hits.append(m)
            else:
                other += 1
    if not hits:
        fail(f"our server's request log has no 200 for {prefix}... from /{ua_re}/")
    targets = sorted({re.sub(r"\?.*", "", m.group(2)) for m in hits})
    print(f"{len(hits)} x 200 for {' '.join(targets)} (user {hits[0].group(4)};"
          f" other metrics.k8s.io requests from it: {other})")


def main():
    if len(sys.argv) == 6 and sys.argv[1] == "audit":
        audit(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
    elif len(sys.argv) == 5 and sys.argv[1] == "served":
        served(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        fail(__doc__)


if __name__ == "__main__":
    main()
