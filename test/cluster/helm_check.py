#!/usr/bin/env python3
"""Checks and helpers for test/cluster/check-helm.sh (Python 3 and PyYAML).

Checks print one line of details and exit 0 when they hold, 1 when they do not.

  render VARIANT FILE [CA_FILE]   a `helm template` of charts/cpp-metrics-server with the values
                                  of VARIANT (default or a ci/*-values.yaml name) holds what that
                                  variant promises; CA_FILE: the CA the APIService must trust
  psa-pod FILE NAMESPACE [keep]   prints the Deployment's pod of FILE as a Pod in NAMESPACE, for a
                                  server dry run under the `restricted` Pod Security Standard
                                  (without serviceAccountName and priorityClassName, which are
                                  not what is checked; with hostNetwork and its host ports
                                  removed, the one rule the host-network variant is meant to
                                  break, unless `keep` is given)
  objects MANIFEST                prints `resource namespace name` of every object of a release
                                  manifest (`helm get manifest`), namespace `-` if cluster-scoped
  as-pod NAME NAMESPACE DIR       prints, one per line, the arguments the Deployment NAME's
                                  container runs with, its volumes materialised under DIR (Secret
                                  keys as files, emptyDir as a directory) and their mount paths
                                  rewritten to there; --secure-port becomes {port} and
                                  --kubeconfig={kubeconfig} stands for the in-cluster config
                                  (placeholders of `cluster.sh backend`). Reads the cluster with
                                  $KUBECTL.
"""
import base64
import json
import os
import subprocess
import sys
import tempfile

import yaml

NAME = "cpp-metrics-server"


def docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def one(objs, kind, name=None):
    found = [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    if len(found) != 1:
        raise AssertionError("want one %s %s, have %d" % (kind, name or "", len(found)))
    return found[0]


def container(objs):
    return one(objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]


def pem_cert_info(pem):
    """Subject alternative names and issuer of a PEM certificate, through openssl."""
    with tempfile.NamedTemporaryFile("w", suffix=".crt") as f:
        f.write(pem)
        f.flush()
        out = subprocess.run(["openssl", "x509", "-in", f.name, "-noout", "-ext", "subjectAltName",
                              "-issuer"], capture_output=True, text=True, check=True).stdout
    return out


def verifies(ca_pem, cert_pem):
    with tempfile.TemporaryDirectory() as d:
        ca, cert = os.path.join(d, "ca.crt"), os.path.join(d, "tls.crt")
        open(ca, "w").write(ca_pem)
        open(cert, "w").write(cert_pem)
        r = subprocess.run(["openssl", "verify", "-CAfile", ca, "-purpose", "sslserver", cert],
                           capture_output=True, text=True)
        return r.returncode == 0


def check_hardened(objs, host_network=False):
    dep = one(objs, "Deployment")
    pod = dep["spec"]["template"]["spec"]
    c = container(objs)
    sc, psc = c["securityContext"], pod["securityContext"]
    assert psc["runAsNonRoot"] and psc["runAsUser"] == 65534, psc
    assert psc["seccompProfile"]["type"] == "RuntimeDefault", psc
    assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True, sc
    assert sc["capabilities"] == {"drop": ["ALL"]}, sc
    assert c["livenessProbe"]["httpGet"]["path"] == "/livez", c
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz", c
    assert c["resources"]["requests"], c
    assert bool(pod.get("hostNetwork")) == host_network, pod
    port = c["ports"][0]["containerPort"]
    assert "--secure-port=%d" % port in c["args"], c["args"]


def api_services(objs):
    return {o["metadata"]["name"]: o["spec"] for o in objs if o["kind"] == "APIService"}


def check_server_rbac(objs, fullname, summary=False):
    role = one(objs, "ClusterRole", "system:" + fullname)
    rules = sorted((tuple(r["resources"]), tuple(r["verbs"])) for r in role["rules"])
    want = [(("nodes", "pods"), ("get", "list", "watch")), (("nodes/metrics",), ("get",))]
    if summary:  # ephemeralStorage.enabled: --kubelet-summary-api reads /stats/summary
        want.append((("nodes/stats",), ("get",)))
    assert rules == want, rules
    reader = one(objs, "ClusterRole", "system:%s-aggregated-reader" % NAME)
    assert [r["apiGroups"] for r in reader["rules"]] == [["metrics.k8s.io"]], reader
    binding = one(objs, "RoleBinding", fullname + "-auth-reader")
    assert binding["metadata"]["namespace"] == "kube-system", binding
    assert binding["roleRef"]["name"] == "extension-apiserver-authentication-reader", binding


def tls_args(c):
    assert "--tls-cert-file=/etc/cpp-metrics-server/tls/tls.crt" in c["args"], c["args"]
    assert "--tls-private-key-file=/etc/cpp-metrics-server/tls/tls.key" in c["args"], c["args"]
    assert "--cert-dir=/tmp" in c["args"], c["args"]  # defaultArgs; the files take precedence


def render(variant, path, ca_file=None):
    objs = docs(path)
    kinds = sorted({o["kind"] for o in objs})
    dep = one(objs, "Deployment")
    fullname = dep["metadata"]["name"]
    ns = dep["metadata"]["namespace"]
    svc = "%s.%s.svc" % (fullname, ns)
    pod = dep["spec"]["template"]["spec"]
    c = container(objs)
    apis = api_services(objs)
    volumes = {v["name"]: v for v in pod["volumes"]}
    detail = ""
    if variant != "host-network":
        check_hardened(objs)
    if variant not in ("external-rbac",):
        check_server_rbac(objs, fullname, summary=variant == "ephemeral-storage")
        assert set(apis) >= {"v1beta1.metrics.k8s.io"}, apis
    assert ("--kubelet-summary-api" in c["args"]) == (variant == "ephemeral-storage"), c["args"]
    if variant == "default":
        spec = apis["v1beta1.metrics.k8s.io"]
        assert set(apis) == {"v1beta1.metrics.k8s.io"}, apis
        assert spec["insecureSkipTLSVerify"] is True and "caBundle" not in spec, spec
        assert "--cert-dir=/tmp" in c["args"] and "tls" not in volumes, c["args"]
        assert pod["priorityClassName"] == "system-cluster-critical", pod
        assert dep["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0, dep["spec"]
        detail = "self-signed (--cert-dir), insecureSkipTLSVerify"
    elif variant == "high-availability":
        assert dep["spec"]["replicas"] == 2, dep["spec"]
        pdb = one(objs, "PodDisruptionBudget")["spec"]
        assert pdb["minAvailable"] == 1 and pdb["unhealthyPodEvictionPolicy"] == "AlwaysAllow", pdb
        assert pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"], pod
        assert pod["topologySpreadConstraints"][0]["topologyKey"] == "topology.kubernetes.io/zone", pod
        detail = "2 replicas, PodDisruptionBudget minAvailable 1, anti-affinity, topology spread"
    elif variant == "host-network":
        check_hardened(objs, host_network=True)
        assert pod["dnsPolicy"] == "ClusterFirstWithHostNet", pod
        assert c["ports"][0]["containerPort"] == 4443, c["ports"]
        detail = "hostNetwork on 4443"
    elif variant == "tls-helm":
        secret = one(objs, "Secret", fullname)
        data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
        spec = apis["v1beta1.metrics.k8s.io"]
        assert base64.b64decode(spec["caBundle"]).decode() == data["ca.crt"], "caBundle is not ca.crt"
        assert "insecureSkipTLSVerify" not in spec, spec
        assert verifies(data["ca.crt"], data["tls.crt"]), "tls.crt does not verify against ca.crt"
        info = pem_cert_info(data["tls.crt"])
        assert "DNS:" + svc in info, info
        tls_args(c)
        assert volumes["tls"]["secret"]["secretName"] == fullname, volumes
        detail = "Secret %s: tls.crt signed by ca.crt for %s; caBundle = ca.crt" % (fullname, svc)
    elif variant == "tls-existing-secret":
        spec = apis["v1beta1.metrics.k8s.io"]
        assert not [o for o in objs if o["kind"] == "Secret"], "the chart must not write the Secret"
        assert volumes["tls"]["secret"]["secretName"] == NAME + "-tls", volumes
        tls_args(c)
        if ca_file:
            want = open(ca_file).read()
            assert base64.b64decode(spec.get("caBundle", "")).decode() == want, \
                "caBundle is not the Secret's ca.crt"
            detail = "caBundle read from the Secret's ca.crt (lookup)"
        assert "insecureSkipTLSVerify" not in spec, spec
    elif variant == "tls-cert-manager":
        cert = one(objs, "Certificate")["spec"]
        assert svc in cert["dnsNames"] and cert["secretName"] == fullname, cert
        assert one(objs, "Issuer")["spec"] == {"selfSigned": {}}
        meta = one(objs, "APIService")["metadata"]
        assert meta["annotations"]["cert-manager.io/inject-ca-from"] == "%s/%s" % (ns, fullname), meta
        spec = apis["v1beta1.metrics.k8s.io"]
        assert "caBundle" not in spec and "insecureSkipTLSVerify" not in spec, spec
        tls_args(c)
        detail = "Certificate for %s, CA injected by annotation" % svc
    elif variant == "metrics-api-v1":
        assert set(apis) == {"v1beta1.metrics.k8s.io", "v1.metrics.k8s.io"}, apis
        assert apis["v1.metrics.k8s.io"]["versionPriority"] > apis["v1beta1.metrics.k8s.io"]["versionPriority"]
        assert "--metrics-api-versions=v1beta1,v1" in c["args"], c["args"]
        detail = "APIServices v1beta1 and v1, --metrics-api-versions=v1beta1,v1"
    elif variant == "service-monitor":
        sm = one(objs, "ServiceMonitor")["spec"]
        assert sm["endpoints"][0]["path"] == "/metrics" and sm["endpoints"][0]["interval"] == "30s", sm
        assert "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics" in c["args"], c["args"]
        detail = "ServiceMonitor on /metrics, /metrics allowed without authorization"
    elif variant == "scheduling":
        assert c["image"] == "registry.example.com/cpp-metrics-server:0.1.0", c["image"]
        assert c["imagePullPolicy"] == "Always" and pod["imagePullSecrets"], pod
        assert c["args"][-2:] == ["--kubelet-insecure-tls", "--metric-resolution=30s"], c["args"]
        assert pod["priorityClassName"] == "system-node-critical", pod
        assert pod["tolerations"][0]["key"] == "node-role.kubernetes.io/control-plane", pod
        assert c["resources"]["limits"] == {"memory": "256Mi"}, c["resources"]
        assert dep["spec"]["revisionHistoryLimit"] == 3, dep["spec"]
        assert all(o["metadata"]["labels"]["example.com/owner"] == "platform" for o in objs), "commonLabels"
        detail = "image, args, priority, node selector, tolerations, resources, labels"
    elif variant == "ephemeral-storage":
        detail = "--kubelet-summary-api, nodes/stats get"
    elif variant == "external-rbac":
        assert not [k for k in kinds if k in ("ServiceAccount", "ClusterRole", "ClusterRoleBinding",
                                              "RoleBinding", "APIService")], kinds
        assert pod["serviceAccountName"] == "metrics", pod
        detail = "no ServiceAccount, RBAC or APIService; runs as metrics"
    else:
        raise AssertionError("unknown variant " + variant)
    print("%s: %s" % (", ".join(kinds), detail) if detail else ", ".join(kinds))


def psa_pod(path, namespace, keep_host_network=""):
    spec = dict(one(docs(path), "Deployment")["spec"]["template"]["spec"])
    for k in ("serviceAccountName", "priorityClassName"):
        spec.pop(k, None)
    if not keep_host_network and spec.pop("hostNetwork", False):
        for c in spec["containers"]:
            for p in c.get("ports", []):
                p.pop("hostPort", None)
    print(json.dumps({"apiVersion": "v1", "kind": "Pod",
                      "metadata": {"name": "psa-check", "namespace": namespace}, "spec": spec}))


def objects(path):
    for o in docs(path):
        group = o["apiVersion"].split("/")[0] if "/" in o["apiVersion"] else ""
        resource = o["kind"].lower() + "s" + ("." + group if group else "")
        print(resource, o["metadata"].get("namespace", "-"), o["metadata"]["name"])


def kubectl_json(*args):
    out = subprocess.run([os.environ["KUBECTL"], *args, "-o", "json"], capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out)


def as_pod(name, namespace, workdir):
    dep = kubectl_json("get", "deployment", name, "-n", namespace)
    spec = dep["spec"]["template"]["spec"]
    c = spec["containers"][0]
    local = {}
    for v in spec.get("volumes", []):
        d = os.path.join(workdir, v["name"])
        os.makedirs(d, exist_ok=True)
        if "secret" in v:
            secret = kubectl_json("get", "secret", v["secret"]["secretName"], "-n", namespace)
            for key, value in secret.get("data", {}).items():
                with open(os.path.join(d, key), "wb") as f:
                    f.write(base64.b64decode(value))
        elif "emptyDir" not in v:
            raise SystemExit("volume %s: only secret and emptyDir are materialised" % v["name"])
        local[v["name"]] = d
    mounts = sorted(((m["mountPath"], local[m["name"]]) for m in c.get("volumeMounts", [])),
                    key=lambda m: -len(m[0]))
    for a in c.get("args", []):
        if a.startswith("--secure-port="):
            a = "--secure-port={port}"
        elif "=" in a:
            flag, value = a.split("=", 1)
            for path, d in mounts:
                if value == path or value.startswith(path + "/"):
                    value = d + value[len(path):]
                    break
            a = flag + "=" + value
        print(a)
    # What the pod gets from its environment: in-cluster credentials and the pod network.
    print("--kubeconfig={kubeconfig}")
    print("--bind-address=127.0.0.1")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    try:
        if cmd == "render":
            render(*args)
        elif cmd == "psa-pod":
            psa_pod(*args)
        elif cmd == "objects":
            objects(*args)
        elif cmd == "as-pod":
            as_pod(*args)
        else:
            sys.exit("unknown subcommand " + cmd)
    except (AssertionError, KeyError, IndexError) as e:
        print("%s: %s" % (type(e).__name__, e))
        sys.exit(1)


if __name__ == "__main__":
    main()
