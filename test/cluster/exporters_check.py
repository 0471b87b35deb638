#!/usr/bin/env python3
"""Compares what the exporters hold with what the Metrics API serves, for check-exporters.sh.

  exporters_check.py prometheus KUBECTL PROMETHEUS_URL JOB NAMESPACE
  exporters_check.py influxdb KUBECTL INFLUXDB_URL DB NAMESPACE
  exporters_check.py top KUBECTL NAMESPACE
  exporters_check.py resources KUBECTL PROMETHEUS_URL JOB INFLUXDB_URL DB NAMESPACE

prometheus / influxdb: reads the PodMetrics of NAMESPACE through the aggregator (what kubectl top
reads), then, for the window of each pod's timestamp, Heapster's pod values (cpu/usage_rate: the
sum of the containers' millicores, each truncated; memory/working_set: the sum of the bytes)
from Prometheus's query API (the sample whose timestamp() is the pod's) or from InfluxDB's SELECT
(the point at the pod's timestamp). Exit 0 when every pod is there with the same values; else 1
with what differs (the caller retries: the exporter may not hold that window yet).
top: `kubectl top pod` against the PodMetrics read right after it: the same values within the
rounding kubectl applies (cpu: the containers' sum rounded up to a millicore; memory: whole Mi,
rounded down).
resources (--heapster-pod-resources): Prometheus and InfluxDB each hold, for every container of
NAMESPACE's pods that the Metrics API serves, cpu/request, cpu/limit (millicores), memory/request
and memory/limit (bytes) equal to the pod's spec (0 when unset); and for every node, from the
same window: cpu/request and memory/request = the sums over the pods the Metrics API serves with
that spec.nodeName (all namespaces), cpu/node_allocatable = the Node's status.allocatable.cpu,
cpu/node_reservation and memory/node_reservation = those sums / allocatable, and
cpu/node_utilization = the node's cpu/usage_rate / allocatable (relative difference < 1e-9).
Prints one line per pod (or container, node).
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


def cpu_millicores(q):
    """A cpu resource.Quantity in millicores, rounded up (as the server parses it)."""
    number, suffix = split_quantity(q)
    nanos = {"n": 1e-6, "u": 1e-3, "m": 1, "": 1000}
    if suffix in nanos:
        return math.ceil(float(number) * nanos[suffix])
    raise ValueError(f"unexpected cpu quantity {q}")


def memory_quantity(q):
    number, suffix = split_quantity(q)
    return math.ceil(float(number) * BYTES[suffix])


RESOURCE_NAMES = (("cpu/request", "requests", "cpu", cpu_millicores),
                  ("cpu/limit", "limits", "cpu", cpu_millicores),
                  ("memory/request", "requests", "memory", memory_quantity),
                  ("memory/limit", "limits", "memory", memory_quantity))


def expected_resources(kubectl, namespace):
    """Per (pod, container) of NAMESPACE and per node: what the spec says, for the window's pods."""
    raw = subprocess.run(
        [kubectl, "get", "--raw", "/apis/metrics.k8s.io/v1beta1/pods"],
        check=True, capture_output=True, text=True).stdout
    in_window = {(i["metadata"]["namespace"], i["metadata"]["name"]):
                 {c["name"] for c in i["containers"]} for i in json.loads(raw)["items"]}
    pods = json.loads(subprocess.run([kubectl, "get", "pods", "-A", "-o", "json"], check=True,
                                     capture_output=True, text=True).stdout)["items"]
    containers, nodes = {}, {}
    for pod in pods:
        key = (pod["metadata"]["namespace"], pod["metadata"]["name"])
        if key not in in_window:
            continue
        node = nodes.setdefault(pod["spec"].get("nodeName", ""), {"cpu/request": 0,
                                                                  "memory/request": 0})
        for c in pod["spec"]["containers"]:
            res = c.get("resources", {})
            values = {name: parse(res.get(kind, {}).get(resource, "0"))
                      for name, kind, resource, parse in RESOURCE_NAMES}
            node["cpu/request"] += values["cpu/request"]
            node["memory/request"] += values["memory/request"]
            if key[0] == namespace and c["name"] in in_window[key]:
                containers[(key[1], c["name"])] = values
    allocatable = {}
    for n in json.loads(subprocess.run([kubectl, "get", "nodes", "-o", "json"], check=True,
                                       capture_output=True, text=True).stdout)["items"]:
        a = n["status"].get("allocatable", {})
        allocatable[n["metadata"]["name"]] = (cpu_millicores(a.get("cpu", "0")),
                                              memory_quantity(a.get("memory", "0")))
    if not containers:
        raise SystemExit(f"no pods of namespace {namespace} in the Metrics API")
    return containers, nodes, allocatable


class PrometheusStore:
    def __init__(self, base, job):
        self.base, self.job = base, job

    def query(self, metric, labels):
        """{labels tuple: (value, timestamp seconds)} of the newest samples."""
        name = "heapster_" + metric.replace("/", "_")
        selector = f'{name}{{job="{self.job}",{labels}}}'
        out = {}
        for expr, slot in ((selector, 0), (f"timestamp({selector})", 1)):
            url = f"{self.base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
            for r in get_json(url)["data"]["result"]:
                labels = tuple(sorted((k, v) for k, v in r["metric"].items() if k != "__name__"))
                out.setdefault(labels, [None, None])[slot] = float(r["value"][1])
        return out

    def containers(self, metric, namespace):
        got = self.query(metric, f'type="pod_container",namespace_name="{namespace}"')
        return {(dict(k)["pod_name"], dict(k)["container_name"]): v[0] for k, v in got.items()}

    def nodes(self, metric):
        got = self.query(metric, 'type="node"')
        return {dict(k)["nodename"]: (v[0], v[1]) for k, v in got.items()}


class InfluxStore:
    def __init__(self, base, db):
        self.base, self.db = base, db

    def select(self, q):
        url = f"{self.base}/query?" + urllib.parse.urlencode({"db": self.db, "epoch": "ms", "q": q})
        return get_json(url)["results"][0].get("series", [])

    def containers(self, metric, namespace):
        series = self.select(f'SELECT last(value) FROM "{metric}" WHERE "type"=\'pod_container\' '
                             f"AND namespace_name='{namespace}' GROUP BY pod_name, container_name")
        return {(s["tags"]["pod_name"], s["tags"]["container_name"]): s["values"][0][1]
                for s in series}

    def nodes(self, metric):
        series = self.select(f'SELECT last(value) FROM "{metric}" WHERE "type"=\'node\' '
                             "GROUP BY nodename")
        return {s["tags"]["nodename"]: (s["values"][0][1], s["values"][0][0] / 1000)
                for s in series}


def close(a, b):
    return a is not None and abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1e-12)


def check_store(label, store, containers, nodes, allocatable, namespace):
    ok = True
    got = {name: store.containers(name, namespace) for name, *_ in RESOURCE_NAMES}
    for (pod, container), want in sorted(containers.items()):
        have = {name: got[name].get((pod, container)) for name in want}
        same = all(have[n] is not None and have[n] == want[n] for n in want)
        ok = ok and same
        print(f"{label} {pod}/{container}: spec {want}; stored {have}"
              f"{'' if same else ' (differs or missing)'}")
    names = ("cpu/request", "memory/request", "cpu/node_allocatable", "cpu/node_reservation",
             "memory/node_reservation", "cpu/node_utilization", "cpu/usage_rate")
    got = {name: store.nodes(name) for name in names}
    for node, (cpu_alloc, memory_alloc) in sorted(allocatable.items()):
        want = nodes.get(node, {"cpu/request": 0, "memory/request": 0})
        have = {name: got[name].get(node, (None, None)) for name in names}
        stamps = {t for _, t in have.values()}
        usage = have["cpu/usage_rate"][0]
        checks = [
            have["cpu/request"][0] == want["cpu/request"],
            have["memory/request"][0] == want["memory/request"],
            close(have["cpu/node_allocatable"][0], cpu_alloc),
            close(have["cpu/node_reservation"][0], want["cpu/request"] / cpu_alloc),
            close(have["memory/node_reservation"][0], want["memory/request"] / memory_alloc),
            usage is not None and close(have["cpu/node_utilization"][0], usage / cpu_alloc),
            len(stamps) == 1,  # one window
        ]
        ok = ok and all(checks)
        print(f"{label} node {node}: allocatable {cpu_alloc}m {memory_alloc} B, requests "
              f"{want['cpu/request']}m {want['memory/request']} B; stored "
              f"{ {n: v for n, (v, _) in have.items()} }"
              f"{'' if all(checks) else ' (differs: ' + str(checks) + ')'}")
    return ok


def resources(kubectl, prom, job, influx, db, namespace):
    containers, nodes, allocatable = expected_resources(kubectl, namespace)
    ok = check_store("Prometheus", PrometheusStore(prom, job), containers, nodes, allocatable,
                     namespace)
    return check_store("InfluxDB", InfluxStore(influx, db), containers, nodes, allocatable,
                       namespace) and ok


def main(argv):
    mode = argv[1]
    if mode == "prometheus":
        return prometheus(*argv[2:6])
    if mode == "influxdb":
        return influxdb(*argv[2:6])
    if mode == "top":
        return top(*argv[2:4])
    if mode == "resources":
        return resources(*argv[2:8])
    raise SystemExit(__doc__)


if __name__ == "__main__":
    sys.exit(0 if main(sys.argv) else 1)
