#!/usr/bin/env python3
"""Self-check of the fleet binaries at a tiny size (N=3 nodes, P=4 pods, C=2 containers).

Starts fleet_sim and kube_standin on free loopback ports and checks them against the model in
fleet_model.h: the stand-in lists N nodes (kubelet ports port-base+i) and N*P Running pods with
the model's names, pages and filters them, answers a watch-list; every simulated kubelet answers
/metrics/resource over TLS (verified with the generated CA) with its own pods (in protobuf when
asked as Prometheus asks) and 404 elsewhere;
metrics_load prints its JSON line and rejects bad flags with exit 2; fleet_sim reports its cost
on SIGTERM.

  fleet_selfcheck.py BIN_DIR
"""
import http.client
import json
import os
import random
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

N, P, C = 3, 4, 2
TOKEN = "fake-apiserver-token"


def free_port_base(count):
    """A base port with `count` free ports after it, below the ephemeral range."""
    for _ in range(50):
        base = random.randrange(22000, 32000 - count)
        ok = True
        for port in range(base, base + count):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free ports")


def pod_name(g):
    return "app-%d-7d9f8c6b5d-%d" % (g // 20, g)


def wait_for(path, proc, what, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if os.path.exists(path):
            return
        if proc.poll() is not None:
            raise AssertionError("%s exited early: %s" % (what, proc.stderr.read()))
        time.sleep(0.05)
    raise AssertionError("%s not ready after %d s" % (what, seconds))


def get(port, target, ca, headers=None):
    ctx = ssl.create_default_context(cafile=ca)
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
    conn.request("GET", target, headers=headers or {})
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, r.getheader("Content-Type"), body


def check(cond, message):
    if not cond:
        raise AssertionError(message)


def main():
    bin_dir = sys.argv[1]
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        base = free_port_base(N + 1)
        api_port = base + N
        sim = subprocess.Popen(
            [os.path.join(bin_dir, "fleet_sim"), "--nodes=%d" % N, "--pods=%d" % P,
             "--containers=%d" % C, "--port-base=%d" % base, "--cert-dir=" + tmp,
             "--ready-file=" + tmp + "/sim.ready", "--duration=60"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        standin = None
        try:
            wait_for(tmp + "/sim.ready", sim, "fleet_sim")
            os.mkdir(tmp + "/ks")
            standin = subprocess.Popen(
                [os.path.join(bin_dir, "kube_standin"), "--nodes=%d" % N, "--pods=%d" % P,
                 "--containers=%d" % C, "--port-base=%d" % base, "--port=%d" % api_port,
                 "--out-dir=" + tmp + "/ks", "--ready-file=" + tmp + "/ks.ready",
                 "--client-ca=" + tmp + "/client-ca.crt"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            wait_for(tmp + "/ks.ready", standin, "kube_standin")
            kubeconfig = open(tmp + "/ks/kubeconfig").read()
            check("server: https://127.0.0.1:%d" % api_port in kubeconfig, "kubeconfig server")
            check("certificate-authority-data: " in kubeconfig, "kubeconfig CA")
            auth = {"Authorization": "Bearer " + TOKEN}
            ks_ca = tmp + "/ks/ca.crt"

            # ---- the inventory ----
            status, _, body = get(api_port, "/api/v1/nodes", ks_ca, auth)
            check(status == 200, "nodes: status %d" % status)
            nodes = json.loads(body)
            check(nodes["kind"] == "NodeList", "nodes kind " + nodes["kind"])
            got = {n["metadata"]["name"]: n["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]
                   for n in nodes["items"]}
            check(got == {"node-%d" % i: base + i for i in range(N)}, "nodes: %s" % got)
            status, _, body = get(api_port, "/api/v1/pods?fieldSelector=status.phase%3DRunning",
                                  ks_ca, auth)
            pods = json.loads(body)["items"]
            want = {("ns-%d" % (g // 1000), pod_name(g)): "node-%d" % (g % N) for g in range(N * P)}
            got = {(p["metadata"]["namespace"], p["metadata"]["name"]): p["spec"]["nodeName"]
                   for p in pods}
            check(got == want, "pods: %s" % sorted(got))
            check(all([c["name"] for c in p["spec"]["containers"]] == ["app", "sidecar"]
                      for p in pods), "container names")
            check(all(p["metadata"]["labels"]["app"] == "app-%d" % (int(p["metadata"]["name"]
                      .rsplit("-", 1)[1]) // 20) for p in pods), "app labels")
            # paging, node filter, metadata-only
            status, _, body = get(api_port, "/api/v1/pods?limit=5", ks_ca, auth)
            page = json.loads(body)
            check(len(page["items"]) == 5 and page["metadata"].get("continue"), "paging")
            status, _, body = get(api_port, "/api/v1/pods?limit=5&continue=" +
                                  page["metadata"]["continue"], ks_ca, auth)
            check(len(json.loads(body)["items"]) == 5, "second page")
            status, _, body = get(api_port, "/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-1",
                                  ks_ca, auth)
            check(sorted(p["metadata"]["name"] for p in json.loads(body)["items"]) ==
                  sorted(pod_name(j * N + 1) for j in range(P)), "spec.nodeName filter")
            meta_accept = {"Accept": "application/json;as=PartialObjectMetadataList;"
                                     "g=meta.k8s.io;v=v1"}
            status, _, body = get(api_port, "/api/v1/pods", ks_ca, {**auth, **meta_accept})
            meta = json.loads(body)
            check(meta["kind"] == "PartialObjectMetadataList" and len(meta["items"]) == N * P and
                  "spec" not in meta["items"][0], "metadata-only list")
            status, _, _ = get(api_port, "/api/v1/pods?fieldSelector=spec.bogus%3Dx", ks_ca, auth)
            check(status == 400, "unsupported field selector: %d" % status)
            status, _, body = get(api_port, "/api/v1/namespaces/kube-system/configmaps/"
                                  "extension-apiserver-authentication", ks_ca, auth)
            cm = json.loads(body)["data"]
            check("BEGIN CERTIFICATE" in cm["client-ca-file"] and
                  "requestheader-client-ca-file" in cm, "authentication ConfigMap")
            status, _, _ = get(api_port, "/api/v1/nodes", ks_ca)
            check(status == 401, "no token: %d" % status)
            # a watch-list: N ADDED events, then the bookmark ending the initial events
            ctx = ssl.create_default_context(cafile=ks_ca)
            conn = http.client.HTTPSConnection("127.0.0.1", api_port, context=ctx, timeout=10)
            conn.request("GET", "/api/v1/nodes?watch=true&sendInitialEvents=true&"
                         "resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true", headers=auth)
            r = conn.getresponse()
            events = []
            while True:
                line = r.readline()
                check(line, "watch ended early")
                events.append(json.loads(line))
                if events[-1]["type"] == "BOOKMARK":
                    break
            conn.close()
            check([e["type"] for e in events] == ["ADDED"] * N + ["BOOKMARK"], "watch-list events")
            check(events[-1]["object"]["metadata"]["annotations"] ==
                  {"k8s.io/initial-events-end": "true"}, "initial-events-end bookmark")

            # ---- the kubelets ----
            for i in range(N):
                status, ctype, body = get(base + i, "/metrics/resource", tmp + "/ca.crt")
                text = body.decode()
                check(status == 200 and ctype.startswith("text/plain; version=0.0.4"),
                      "kubelet %d: %d %s" % (i, status, ctype))
                names = {line.split('pod="')[1].split('"')[0] for line in text.splitlines()
                         if line.startswith("pod_cpu_usage_seconds_total{")}
                check(names == {pod_name(j * N + i) for j in range(P)}, "kubelet %d pods %s" %
                      (i, names))
                check(sum(line.startswith("container_cpu_usage_seconds_total{")
                          for line in text.splitlines()) == P * C, "kubelet %d containers" % i)
                check("\nnode_cpu_usage_seconds_total " in text and
                      text.endswith("resource_scrape_error 0\n"), "kubelet %d node lines" % i)
            # Asked as Prometheus asks, a kubelet answers the delimited protobuf exposition: a
            # varint length, then a MetricFamily whose first field (1, a string) is its name.
            prom_accept = {"Accept": "application/vnd.google.protobuf;"
                                     "proto=io.prometheus.client.MetricFamily;encoding=delimited;"
                                     "q=0.7,text/plain;version=0.0.4;q=0.3,*/*;q=0.1"}
            status, ctype, body = get(base, "/metrics/resource", tmp + "/ca.crt", prom_accept)
            check(status == 200 and ctype.startswith("application/vnd.google.protobuf; "
                                                     "proto=io.prometheus.client.MetricFamily; "
                                                     "encoding=delimited"),
                  "kubelet protobuf: %d %s" % (status, ctype))
            first = body[1:] if body[0] < 0x80 else body[2:]
            check(first[:1] == b"\x0a" and b"container_cpu_usage_seconds_total" in body[:64],
                  "kubelet protobuf body starts %r" % body[:16])
            status, _, _ = get(base, "/metrics/cadvisor", tmp + "/ca.crt")
            check(status == 404, "other paths: %d" % status)

            # ---- the client ----
            load = os.path.join(bin_dir, "metrics_load")
            r = subprocess.run([load, "--mode=sideways"], capture_output=True, text=True,
                               timeout=30)
            check(r.returncode == 2, "bad flags: exit %d" % r.returncode)
            # Against a kubelet port the metrics API is 404: every request is an error.
            r = subprocess.run(
                [load, "--url=https://127.0.0.1:%d" % base, "--ca=" + tmp + "/ca.crt",
                 "--cert=" + tmp + "/client.crt", "--key=" + tmp + "/client.key", "--mode=hpa",
                 "--accept=json", "--rate=20", "--duration=1", "--connections=2",
                 "--nodes=%d" % N, "--pods=%d" % P],
                capture_output=True, text=True, timeout=60)
            check(r.returncode == 0, "metrics_load exit %d: %s" % (r.returncode, r.stderr))
            out = json.loads(r.stdout)
            for key in ["mode", "accept", "offered_rate", "sent", "ok", "errors", "error_samples",
                        "p50_ms", "p90_ms", "p99_ms", "max_ms", "achieved_rate", "items_min",
                        "items_max", "bytes_mean"]:
                check(key in out, "metrics_load output lacks " + key)
            check(out["sent"] == 20 and out["ok"] == 0 and out["errors"] == 20 and
                  "HTTP 404" in out["error_samples"][0], "metrics_load counts: %s" % r.stdout)
        except AssertionError as e:
            print("FAIL:", e)
            failures += 1
        finally:
            if standin is not None:
                standin.send_signal(signal.SIGTERM)
                standin.wait(timeout=30)
            sim.send_signal(signal.SIGTERM)
            out, err = sim.communicate(timeout=30)
        try:
            report = json.loads(out)["fleet_sim"]
            check(report["responses"] >= N, "fleet_sim responses: %s" % out)
            print("fleet_sim:", out.strip())
        except (AssertionError, ValueError, KeyError) as e:
            print("FAIL: fleet_sim report:", e, out, err)
            failures += 1
    print("fleet self-check:", "FAILED" if failures else "ok")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
