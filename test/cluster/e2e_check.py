#!/usr/bin/env python3
"""Checks for test/cluster/e2e.sh (Python 3 standard library only).

Every subcommand prints one line of details and exits 0 when the check holds, 1 when it does not.

  expect PODS_JSON                     `kubectl get pods -A -o json` -> expected usage (JSON) from the
                                       kwok.x-k8s.io/usage-* annotations: every container reports
                                       the pod's annotation, a pod the sum of its containers, a
                                       node the sum of its pods
  top-pods EXPECT FILE [SELECTOR]      `kubectl top pods -A --no-headers` lists exactly the expected
                                       pods (those matching SELECTOR: ns=N, label k=v) within 10 %
  top-nodes EXPECT FILE [NODE,...]     `kubectl top nodes --no-headers` lists exactly these nodes
                                       (default: every node with pods) within 10 %
  top-containers EXPECT FILE NS        `kubectl top pods -n NS --containers --no-headers`
  table FILE EXPECT HEADER...          `kubectl get pods.metrics.k8s.io -A` output: exact header,
                                       one row per expected pod with its namespace
  proto-json JSON PROTO                a metrics list answered as JSON and as protobuf: same items,
                                       timestamps, windows and usage (exit 2 if the two answers come
                                       from different scrapes, so the caller can retry)
  compare OURS REF KIND                two metrics lists (ours and metrics-server's, KIND pods or
                                       nodes): same objects, usage within 10 %
  caches PROBE NODES_JSON PODS_JSON    kube_probe output vs `kubectl get nodes -o json` and
                                       `kubectl get pods -A --field-selector=status.phase=Running
                                       -o json`: synced, same node and pod names, same labels;
                                       authentication ConfigMap with both CAs
  token PROBE USER GROUP,...           kube_probe TokenReview output: exactly this user and groups
"""
import json
import re
import sys

TOLERANCE = 0.10

_SUFFIX = {
    "n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
    "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40,
}


def quantity(s):
    """A Kubernetes quantity string as a float in base units (cores, bytes)."""
    m = re.fullmatch(r"([0-9.]+)(e[0-9]+)?([a-zA-Z]*)", s.strip())
    if not m or m.group(3) not in _SUFFIX:
        raise ValueError("not a quantity: %r" % s)
    v = float(m.group(1) + (m.group(2) or ""))
    return v * _SUFFIX[m.group(3)]


def close(got, want):
    if want == 0:
        return got == 0
    return abs(got - want) <= TOLERANCE * want


def fmt_cpu(v):
    return "%gm" % round(v * 1000, 1)


def fmt_mem(v):
    return "%gMi" % round(v / 2**20, 2)


def load(path):
    with open(path) as f:
        return json.load(f)


def done(ok, msg):
    print(msg)
    sys.exit(0 if ok else 1)


# --- expectations ------------------------------------------------------------------------------

def cmd_expect(pods_json):
    pods, nodes = {}, {}
    for p in load(pods_json)["items"]:
        if p.get("status", {}).get("phase") != "Running":
            continue
        ann = p["metadata"].get("annotations", {})
        cpu = quantity(ann.get("kwok.x-k8s.io/usage-cpu", "1m"))
        mem = quantity(ann.get("kwok.x-k8s.io/usage-memory", "1Mi"))
        names = [c["name"] for c in p["spec"]["containers"]]
        node = p["spec"].get("nodeName", "")
        key = p["metadata"]["namespace"] + "/" + p["metadata"]["name"]
        pods[key] = {
            "namespace": p["metadata"]["namespace"], "name": p["metadata"]["name"],
            "labels": p["metadata"].get("labels", {}), "node": node,
            "cpu": cpu * len(names), "memory": mem * len(names),
            "containers": {n: {"cpu": cpu, "memory": mem} for n in names},
        }
        n = nodes.setdefault(node, {"cpu": 0.0, "memory": 0.0, "pods": 0})
        n["cpu"] += cpu * len(names)
        n["memory"] += mem * len(names)
        n["pods"] += 1
    json.dump({"pods": pods, "nodes": nodes}, sys.stdout, indent=1, sort_keys=True)


def select(pods, selector):
    out = {}
    for k, p in pods.items():
        ok = True
        for term in filter(None, (selector or "").split(",")):
            key, _, val = term.partition("=")
            if key == "ns":
                ok &= p["namespace"] == val
            else:
                ok &= p["labels"].get(key) == val
        if ok:
            out[k] = p
    return out


def compare_rows(kind, want, got):
    """want: key -> {cpu, memory}; got: key -> (cpu, memory). Returns (ok, message)."""
    problems = []
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    if missing:
        problems.append("missing %s" % missing)
    if extra:
        problems.append("unexpected %s" % extra)
    worst = 0.0
    for k in sorted(set(want) & set(got)):
        for i, res in enumerate(("cpu", "memory")):
            w, g = want[k][res], got[k][i]
            if w:
                worst = max(worst, abs(g - w) / w)
            if not close(g, w):
                f = fmt_cpu if res == "cpu" else fmt_mem
                problems.append("%s %s %s=%s want %s" % (kind, k, res, f(g), f(w)))
    sample = ""
    if want and got:
        k = sorted(set(want) & set(got))[0] if set(want) & set(got) else None
        if k:
            sample = "; e.g. %s %s/%s (annotations %s/%s)" % (
                k, fmt_cpu(got[k][0]), fmt_mem(got[k][1]), fmt_cpu(want[k]["cpu"]),
                fmt_mem(want[k]["memory"]))
    if problems:
        return False, "; ".join(problems[:6])
    return True, "%d %s, max deviation %.2f%%%s" % (len(want), kind, worst * 100, sample)


def cmd_top_pods(expect, path, selector=""):
    want = select(load(expect)["pods"], selector)
    got = {}
    for line in open(path):
        f = line.split()
        if len(f) >= 4:
            got[f[0] + "/" + f[1]] = (quantity(f[2]), quantity(f[3]))
    done(*compare_rows("pods", want, got))


def cmd_top_nodes(expect, path, names=""):
    nodes = load(expect)["nodes"]
    wanted = names.split(",") if names else [n for n in nodes if n]
    want = {n: nodes.get(n, {"cpu": 0.0, "memory": 0.0}) for n in wanted}
    got = {}
    for line in open(path):
        f = line.split()
        if len(f) >= 4:
            if f[1] == "<unknown>":
                got[f[0]] = (float("nan"), float("nan"))
            else:
                got[f[0]] = (quantity(f[1]), quantity(f[3]))
    done(*compare_rows("nodes", want, got))


def cmd_top_containers(expect, path, ns):
    want = {}
    for p in select(load(expect)["pods"], "ns=" + ns).values():
        for c, u in p["containers"].items():
            want[p["name"] + "/" + c] = u
    got = {}
    for line in open(path):
        f = line.split()
        if len(f) >= 4:
            got[f[0] + "/" + f[1]] = (quantity(f[2]), quantity(f[3]))
    done(*compare_rows("containers", want, got))


def cmd_table(path, expect, *header):
    lines = [l for l in open(path).read().splitlines() if l.strip()]
    if not lines:
        done(False, "no output")
    got_header = lines[0].split()
    if got_header != list(header):
        done(False, "header %s, want %s" % (got_header, list(header)))
    want = set(load(expect)["pods"])
    rows = {}
    for l in lines[1:]:
        f = l.split()
        if len(f) != len(header):
            done(False, "row %r has %d cells, want %d" % (l, len(f), len(header)))
        rows[f[0] + "/" + f[1]] = f
    if set(rows) != want:
        done(False, "rows %s, want %s" % (sorted(rows), sorted(want)))
    k = sorted(rows)[0]
    done(True, "header %s, %d rows, e.g. %s" % (" ".join(header), len(rows), " ".join(rows[k])))


# --- protobuf ----------------------------------------------------------------------------------

def varint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return v, i


def fields(b):
    """Decodes one protobuf message into a list of (field number, value)."""
    out, i = [], 0
    while i < len(b):
        key, i = varint(b, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(b, i)
        elif wt == 2:
            n, i = varint(b, i)
            v, i = b[i:i + n], i + n
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wt)
        out.append((num, v))
    return out


def first(fs, num, default=None):
    for n, v in fs:
        if n == num:
            return v
    return default


def usage_map(fs, num):
    u = {}
    for n, v in fs:
        if n == num:
            e = fields(v)
            u[first(e, 1).decode()] = first(fields(first(e, 2, b"")), 1, b"").decode()
    return u


def decode_proto_list(data):
    """k8s protobuf envelope 'k8s\\0' + runtime.Unknown{typeMeta=1, raw=2} holding a
    NodeMetricsList or PodMetricsList; returns the items in the JSON shape used below."""
    if data[:4] != b"k8s\x00":
        raise ValueError("no k8s protobuf magic: %r" % data[:16])
    unknown = fields(data[4:])
    tm = fields(first(unknown, 1, b""))
    kind = first(tm, 2, b"").decode()
    lst = fields(first(unknown, 2, b""))
    items = []
    for n, v in lst:
        if n != 2:
            continue
        it = fields(v)
        meta = fields(first(it, 1, b""))
        ts = fields(first(it, 2, b""))
        win = fields(first(it, 3, b""))
        item = {
            "name": first(meta, 1, b"").decode(), "namespace": first(meta, 3, b"").decode(),
            "timestamp": first(ts, 1, 0), "window_ns": first(win, 1, 0),
        }
        if kind.startswith("Node"):
            item["usage"] = usage_map(it, 4)
        else:
            item["containers"] = {}
            for cn, cv in it:
                if cn == 4:
                    c = fields(cv)
                    item["containers"][first(c, 1).decode()] = usage_map(c, 2)
        items.append(item)
    return kind, items


def rfc3339_seconds(s):
    import calendar
    import time
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))


def duration_ns(s):
    total = 0.0
    for num, unit in re.findall(r"([0-9.]+)(ns|us|µs|ms|s|m|h)", s):
        total += float(num) * {"ns": 1, "us": 1e3, "µs": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9,
                               "h": 3600e9}[unit]
    return round(total)


def cmd_proto_json(json_path, proto_path):
    j = load(json_path)
    with open(proto_path, "rb") as f:
        kind, pitems = decode_proto_list(f.read())
    if kind != j.get("kind"):
        done(False, "protobuf kind %r, JSON kind %r" % (kind, j.get("kind")))
    jitems = {}
    for it in j["items"]:
        m = it["metadata"]
        e = {"timestamp": rfc3339_seconds(it["timestamp"]), "window_ns": duration_ns(it["window"])}
        if "usage" in it:
            e["usage"] = it["usage"]
        else:
            e["containers"] = {c["name"]: c["usage"] for c in it["containers"]}
        jitems[m.get("namespace", "") + "/" + m["name"]] = e
    pmap = {}
    for it in pitems:
        pmap[it["namespace"] + "/" + it["name"]] = {k: v for k, v in it.items()
                                                   if k not in ("name", "namespace")}
    if set(jitems) != set(pmap):
        done(False, "items differ: JSON only %s, protobuf only %s" % (
            sorted(set(jitems) - set(pmap)), sorted(set(pmap) - set(jitems))))
    if any(jitems[k]["timestamp"] != pmap[k]["timestamp"] for k in jitems):
        print("answers come from different scrapes")
        sys.exit(2)
    for k in sorted(jitems):
        if jitems[k] != pmap[k]:
            done(False, "%s: JSON %s, protobuf %s" % (k, jitems[k], pmap[k]))
    done(True, "%s: %d items identical (names, timestamps, windows, usage strings)" % (
        kind, len(jitems)))


def usage_of(item):
    if "usage" in item:
        u = item["usage"]
    else:
        u = {"cpu": "0", "memory": "0"}
        cpu = sum(quantity(c["usage"]["cpu"]) for c in item["containers"])
        mem = sum(quantity(c["usage"]["memory"]) for c in item["containers"])
        return cpu, mem
    return quantity(u["cpu"]), quantity(u["memory"])


def cmd_compare(ours_path, ref_path, kind):
    def index(path):
        out = {}
        for it in load(path)["items"]:
            m = it["metadata"]
            out[m.get("namespace", "") + "/" + m["name"]] = usage_of(it)
        return out
    ours, ref = index(ours_path), index(ref_path)
    want = {k: {"cpu": v[0], "memory": v[1]} for k, v in ref.items()}
    ok, msg = compare_rows(kind, want, ours)
    done(ok, msg.replace("(annotations", "(metrics-server"))


# --- kube_probe ---------------------------------------------------------------------------------

def probe_lines(path, key):
    """The values of `key: value` lines of a kube_probe output."""
    with open(path) as f:
        return [l.split(": ", 1)[1].rstrip("\n") for l in f if l.startswith(key + ": ")]


def probe_objects(path, key):
    """name -> labels of the `node:` or `pod:` lines (`NAME ... labels=k=v,...`)."""
    out = {}
    for v in probe_lines(path, key):
        name = v.split(" ", 1)[0]
        labels = re.search(r"labels=(\S*)", v).group(1)
        out[name] = dict(kv.split("=", 1) for kv in labels.split(",") if kv)
    return out


def cmd_caches(probe, nodes_json, pods_json):
    if probe_lines(probe, "synced") != ["true"]:
        done(False, "caches not synced: %s" % probe_lines(probe, "synced"))
    want_nodes = {it["metadata"]["name"]: it["metadata"].get("labels", {})
                  for it in load(nodes_json)["items"]}
    want_pods = {it["metadata"]["namespace"] + "/" + it["metadata"]["name"]:
                 it["metadata"].get("labels", {}) for it in load(pods_json)["items"]}
    got_nodes, got_pods = probe_objects(probe, "node"), probe_objects(probe, "pod")
    bad = []
    for kind, want, got in (("nodes", want_nodes, got_nodes), ("pods", want_pods, got_pods)):
        if sorted(want) != sorted(got):
            bad.append("%s: kubectl %s, cache %s" % (kind, sorted(want), sorted(got)))
            continue
        for name in want:
            if want[name] != got[name]:
                bad.append("%s labels: kubectl %s, cache %s" % (name, want[name], got[name]))
    for key in ("auth_configmap", "client_ca", "requestheader_ca"):
        if probe_lines(probe, key) != ["present"]:
            bad.append("%s: %s" % (key, probe_lines(probe, key)))
    if not want_nodes or not want_pods:
        bad.append("nothing to compare: %d nodes, %d running pods" % (len(want_nodes), len(want_pods)))
    done(not bad, "; ".join(bad) if bad else
         "%d nodes and %d Running pods, same names and labels as kubectl (e.g. %s %s)" %
         (len(want_nodes), len(want_pods), sorted(want_pods)[0], want_pods[sorted(want_pods)[0]]))


def cmd_token(probe, user, groups):
    got_user = probe_lines(probe, "token_user")
    got_groups = probe_lines(probe, "token_groups")
    ok = got_user == [user] and len(got_groups) == 1 and \
        sorted(g for g in got_groups[0].split(",") if g) == sorted(g for g in groups.split(",") if g)
    done(ok, "user %s groups %s (want %s %s)%s" % (
        got_user, got_groups, user, groups,
        "" if ok else "; " + " | ".join(probe_lines(probe, "token_review_error"))))


def main(argv):
    cmds = {
        "expect": cmd_expect, "top-pods": cmd_top_pods, "top-nodes": cmd_top_nodes,
        "top-containers": cmd_top_containers, "table": cmd_table, "proto-json": cmd_proto_json,
        "compare": cmd_compare, "caches": cmd_caches, "token": cmd_token,
    }
    if len(argv) < 2 or argv[1] not in cmds:
        print(__doc__)
        return 2
    try:
        cmds[argv[1]](*argv[2:])
    except (ValueError, KeyError, IndexError, OSError, json.JSONDecodeError) as e:
        print("%s: %s: %s" % (argv[1], type(e).__name__, e))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
