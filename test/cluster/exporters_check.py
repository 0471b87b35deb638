#!/usr/bin/env python3
"""Compares what the exporters hold with what the Metrics API serves, for check-exporters.sh.

  exporters_check.py prometheus KUBECTL PROMETHEUS_URL JOB NAMESPACE
  exporters_check.py influxdb KUBECTL INFLUXDB_URL DB NAMESPACE
  exporters_check.py top KUBECTL NAMESPACE

prometheus / influxdb: reads the PodMetrics of NAMESPACE through the aggregator (what kubectl top
reads), then, for the window of each pod's timestamp, Heapster's pod values (cpu/usage_rate: the
sum of the containers' millicores, each truncated; memory/working_set: the sum of the bytes)
from Prometheus's query API (the sample whose timestamp() is the pod's) or from InfluxDB's SELECT
(the point at the pod's timestamp). Exit 0 when every pod is there with the same values; else 1
with what differs (the caller retries: the exporter may not hold that window yet).
top: `kubectl top pod` against the PodMetrics read right after it: the same values within the
rounding kubectl applies (cpu: the containers' sum rounded up to a millicore; memory: whole Mi,
rounded down).
Prints one line per pod.
"""
import datetime
import json
import math
import subprocess
import sys
import urllib.parse
import urllib.request

NANOS = {"n": 1, "u": 1_000, "m": 1_000_000, "": 1_000_000_000}
BYTES = {"": 1, "k": 1000, "M": 1000**2, "G": 1000**3, "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3}


def split_quantity(q):
    i = len(q)
    while i > 0 and not q[i - 1].isdigit():
        i -= 1
    return q[:i], q[i:]


def cpu_nanocores(q):
    number, suffix = split_quantity(q)
    return int(number) * NANOS[suffix]


def memory_bytes(q):
    number, suffix = split_quantity(q)
    return int(number) * BYTES[suffix]


def pod_metrics(kubectl, namespace):
    raw = subprocess.run(
        [kubectl, "get", "--raw", f"/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods"],
        check=True, capture_output=True, text=True).stdout
    pods = {}
    for item in json.loads(raw)["items"]:
        ts = datetime.datetime.fromisoformat(item["timestamp"].replace("Z", "+00:00"))
        containers = item["containers"]
        pods[item["metadata"]["name"]] = {
            "seconds": ts.timestamp(),
            "containers": len(containers),
            # Heapster's pod: the sum of the containers' truncated millicores.
            "cpu": sum(cpu_nanocores(c["usage"]["cpu"]) // 1_000_000 for c in containers),
            "cpu_nanocores": sum(cpu_nanocores(c["usage"]["cpu"]) for c in containers),
            "memory": sum(memory_bytes(c["usage"]["memory"]) for c in containers),
        }
    if not pods:
        raise SystemExit(f"no PodMetrics in namespace {namespace}")
    return pods


def get_json(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


def prometheus(kubectl, base, job, namespace):
    pods = pod_metrics(kubectl, namespace)
    got = {}
    for metric in ("heapster_cpu_usage_rate", "heapster_memory_working_set"):
        selector = f'{metric}{{job="{job}",type="pod",namespace_name="{namespace}"}}'
        for expr, key in ((selector, metric), (f"timestamp({selector})", metric + "@")):
            url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
            for r in get_json(url)["data"]["result"]:
                value = float(r["value"][1])
                got.setdefault(r["metric"]["pod_name"], {})[key] = (
                    int(value) if key == metric and value.is_integer() else value)
    ok = True
    for name, want in sorted(pods.items()):
        have = got.get(name, {})
        values = (have.get("heapster_cpu_usage_rate"), have.get("heapster_memory_working_set"))
        stamps = (have.get("heapster_cpu_usage_rate@"), have.get("heapster_memory_working_set@"))
        same_window = all(s is not None and abs(s - want["seconds"]) < 1 for s in stamps)
        same = values == (want["cpu"], want["memory"])
        ok = ok and same_window and same
        print(f"{name}: PodMetrics at {want['seconds']:.0f}: {want['cpu']}m {want['memory']} B; "
              f"Prometheus {values[0]}m {values[1]} B at {stamps[0]}"
              f"{'' if same_window else ' (another window)'}{'' if same else ' (differs)'}")
    return ok


def influxdb(kubectl, base, db, namespace):
    pods = pod_metrics(kubectl, namespace)
    ok = True
    for name, want in sorted(pods.items()):
        start = int(want["seconds"] * 1000)
        values = []
        for measurement in ("cpu/usage_rate", "memory/working_set"):
            q = (f'SELECT value FROM "{measurement}" WHERE "type"=\'pod\' AND '
                 f"namespace_name='{namespace}' AND pod_name='{name}' AND "
                 f"time >= {start}ms AND time < {start + 1000}ms")
            url = f"{base}/query?" + urllib.parse.urlencode({"db": db, "epoch": "ms", "q": q})
            result = get_json(url)["results"][0]
            rows = result["series"][0]["values"] if "series" in result else []
            values.append(rows[-1][1] if rows else None)
        same = tuple(values) == (want["cpu"], want["memory"])
        ok = ok and same
        print(f"{name}: PodMetrics at {want['seconds']:.0f}: {want['cpu']}m {want['memory']} B; "
              f"InfluxDB {values[0]}m {values[1]} B{'' if same else ' (differs or missing)'}")
    return ok


def top(kubectl, namespace):
    lines = subprocess.run([kubectl, "top", "pod", "-n", namespace, "--no-headers"], check=True,
                           capture_output=True, text=True).stdout.splitlines()
    pods = pod_metrics(kubectl, namespace)
    ok = bool(lines)
    for line in lines:
        name, cpu, memory = line.split()[:3]
        want = pods.get(name)
        if want is None:
            print(f"{name}: in kubectl top, not in PodMetrics")
            ok = False
            continue
        top_cpu = cpu_nanocores(cpu) // 1_000_000
        top_mi = memory_bytes(memory) // 1024**2
        same = (top_cpu == math.ceil(want["cpu_nanocores"] / 1_000_000)
                and abs(top_cpu - want["cpu"]) <= want["containers"]
                and top_mi == want["memory"] // 1024**2)
        ok = ok and same
        print(f"{name}: kubectl top {cpu} {memory}; Heapster's pod {want['cpu']}m "
              f"{want['memory']} B{'' if same else ' (differs)'}")
    return ok


def main(argv):
    mode = argv[1]
    if mode == "prometheus":
        return prometheus(*argv[2:6])
    if mode == "influxdb":
        return influxdb(*argv[2:6])
    if mode == "top":
        return top(*argv[2:4])
    raise SystemExit(__doc__)


if __name__ == "__main__":
    sys.exit(0 if main(sys.argv) else 1)
