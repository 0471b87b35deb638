#!/usr/bin/env python3
"""Renders manifests/ and every overlay with `kubectl kustomize` and checks what they install.

- manifests/Kustomization lists exactly the YAML files of manifests/ (what `kubectl apply -f
  manifests/` applies is what the overlays build on);
- every container keeps the security settings (non-root, read-only root filesystem, no privilege
  escalation, all capabilities dropped and none added, seccomp RuntimeDefault), probes on
  /livez and /readyz, resource requests, system-cluster-critical;
- the server's ClusterRole grants exactly nodes/metrics get and nodes, pods get/list/watch (plus
  nodes/stats get in the ephemeral-storage overlay); the
  reader role aggregates into view/edit/admin and only reads metrics.k8s.io;
- overlays: high-availability (replicas >= 2, PodDisruptionBudget, required anti-affinity),
  insecure-kubelet-tls (the flag, only there), ephemeral-storage (--kubelet-summary-api and
  nodes/stats get, only there), secure (Secret mounted, --tls-cert-file, the
  APIService with caBundle = the generated CA and no insecureSkipTLSVerify), host-network (the
  only overlay with hostNetwork, on port 4443 instead of the kubelet's 10250, no declared port,
  --permit-port-sharing and minReadySeconds for a one-node rolling upgrade, image tag = the
  project version that scripts/build-image.sh builds).

kubectl: $KUBECTL, else the one test/cluster/build-binaries.sh --print-env names. Fails (does
not skip) when neither is available.
"""
import base64
import os
import shutil
import subprocess
import sys
import tempfile

import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
NAME = "cpp-metrics-server"
failures = []


def check(cond, what):
    print(("ok:   " if cond else "FAIL: ") + what)
    if not cond:
        failures.append(what)


def find_kubectl():
    k = os.environ.get("KUBECTL")
    if k:
        return k
    script = os.path.join(REPO, "test", "cluster", "build-binaries.sh")
    out = subprocess.run([script, "--print-env"], capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        sys.exit("cannot get kubectl: build-binaries.sh --print-env failed:\n" + out.stderr)
    for line in out.stdout.splitlines():
        if line.startswith("KUBECTL="):
            return line.split("=", 1)[1]
    sys.exit("cannot get kubectl: build-binaries.sh --print-env printed no KUBECTL")


def render(kubectl, path):
    out = subprocess.run([kubectl, "kustomize", path], capture_output=True, text=True,
                         timeout=60)
    if out.returncode != 0:
        sys.exit(f"kubectl kustomize {path} failed:\n{out.stderr}")
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def one(objs, kind, name=None):
    found = [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    check(len(found) == 1, f"exactly one {kind} {name or ''}")
    return found[0] if found else {}


def check_pod_security(label, dep, host_network=False):
    spec = dep["spec"]["template"]["spec"]
    psc = spec.get("securityContext", {})
    check(spec.get("priorityClassName") == "system-cluster-critical", f"{label}: system-cluster-critical")
    check(spec.get("serviceAccountName") == NAME, f"{label}: serviceAccountName {NAME}")
    check(bool(spec.get("hostNetwork")) == host_network and not spec.get("hostPID")
          and not spec.get("hostIPC"),
          f"{label}: " + ("host network only" if host_network else "no host namespaces"))
    check(all("hostPath" not in v for v in spec.get("volumes", [])), f"{label}: no hostPath volumes")
    containers = spec.get("containers", []) + spec.get("initContainers", [])
    check(len(containers) >= 1, f"{label}: has containers")
    for c in containers:
        cl = f"{label}/{c['name']}"
        sc = c.get("securityContext", {})

        def eff(key):
            return sc.get(key, psc.get(key))

        check(eff("runAsNonRoot") is True, f"{cl}: runAsNonRoot")
        check(isinstance(eff("runAsUser"), int) and eff("runAsUser") != 0, f"{cl}: runAsUser non-zero")
        check(sc.get("readOnlyRootFilesystem") is True, f"{cl}: readOnlyRootFilesystem")
        check(sc.get("allowPrivilegeEscalation") is False, f"{cl}: allowPrivilegeEscalation false")
        check(sc.get("privileged") in (None, False), f"{cl}: not privileged")
        caps = sc.get("capabilities", {})
        check(caps.get("drop") == ["ALL"] and not caps.get("add"), f"{cl}: capabilities drop ALL, add none")
        check((eff("seccompProfile") or {}).get("type") == "RuntimeDefault", f"{cl}: seccomp RuntimeDefault")
        live = c.get("livenessProbe", {}).get("httpGet", {})
        ready = c.get("readinessProbe", {}).get("httpGet", {})
        check(live.get("path") == "/livez" and live.get("scheme") == "HTTPS", f"{cl}: liveness /livez over HTTPS")
        check(ready.get("path") == "/readyz" and ready.get("scheme") == "HTTPS", f"{cl}: readiness /readyz over HTTPS")
        req = c.get("resources", {}).get("requests", {})
        check("cpu" in req and "memory" in req, f"{cl}: cpu and memory requests")
        check("--kubelet-insecure-tls" not in c.get("args", []) or label == "insecure-kubelet-tls",
              f"{cl}: --kubelet-insecure-tls only in its overlay")
        check("--kubelet-summary-api" not in c.get("args", []) or label == "ephemeral-storage",
              f"{cl}: --kubelet-summary-api only in its overlay")


def check_base(label, objs, host_network=False, summary=False):
    dep = one(objs, "Deployment", NAME)
    check_pod_security(label, dep, host_network)
    role = one(objs, "ClusterRole", "system:" + NAME)
    rules = sorted((tuple(r.get("apiGroups", [])), tuple(sorted(r.get("resources", []))),
                    tuple(sorted(r.get("verbs", []))), tuple(r.get("resourceNames", [])),
                    tuple(r.get("nonResourceURLs", []))) for r in role.get("rules", []))
    want = sorted([(("",), ("nodes/metrics",), ("get",), (), ()),
                   (("",), ("nodes", "pods"), ("get", "list", "watch"), (), ())]
                  + ([(("",), ("nodes/stats",), ("get",), (), ())] if summary else []))
    extra = " and nodes/stats get" if summary else ""
    check(rules == want, f"{label}: server ClusterRole is exactly nodes/metrics get, nodes+pods get/list/watch{extra}")
    reader = one(objs, "ClusterRole", f"system:{NAME}-aggregated-reader")
    labels = reader.get("metadata", {}).get("labels", {})
    check(all(labels.get(f"rbac.authorization.k8s.io/aggregate-to-{r}") == "true"
              for r in ("view", "edit", "admin")), f"{label}: reader aggregates to view/edit/admin")
    check(all(r.get("apiGroups") == ["metrics.k8s.io"] and set(r.get("verbs", [])) <= {"get", "list", "watch"}
              for r in reader.get("rules", [])), f"{label}: reader only reads metrics.k8s.io")
    refs = {(o["kind"], o["roleRef"]["kind"], o["roleRef"]["name"]) for o in objs if "roleRef" in o}
    check(("ClusterRoleBinding", "ClusterRole", "system:auth-delegator") in refs, f"{label}: bound to system:auth-delegator")
    check(("RoleBinding", "Role", "extension-apiserver-authentication-reader") in refs,
          f"{label}: bound to extension-apiserver-authentication-reader")
    for o in objs:
        if "roleRef" in o:
            subj = o.get("subjects", [])
            check(subj == [{"kind": "ServiceAccount", "name": NAME, "namespace": "kube-system"}],
                  f"{label}: {o['metadata']['name']} binds only the ServiceAccount")
    svc = one(objs, "Service", NAME)
    ports = svc.get("spec", {}).get("ports", [])
    cports = {p["name"]: p["containerPort"] for c in dep["spec"]["template"]["spec"]["containers"]
              for p in c.get("ports", [])}
    args = dep["spec"]["template"]["spec"]["containers"][0].get("args", [])
    # host-network declares no container port (no host port for the scheduler): its Service
    # targets the --secure-port number.
    by_number = (not cports and isinstance(ports[0].get("targetPort") if ports else None, int)
                 and f"--secure-port={ports[0]['targetPort']}" in args)
    check(len(ports) == 1 and ports[0]["port"] == 443 and (ports[0]["targetPort"] in cports or by_number),
          f"{label}: Service 443 -> a container port (or, with none declared, the --secure-port number)")
    api = one(objs, "APIService", "v1beta1.metrics.k8s.io")
    check(api.get("spec", {}).get("service") == {"name": NAME, "namespace": "kube-system", "port": 443},
          f"{label}: APIService points at the Service")
    return dep, api


def main():
    kubectl = find_kubectl()
    mdir = os.path.join(REPO, "manifests")

    # What `kubectl apply -f manifests/` applies (top-level .yaml files) is the kustomize base.
    with open(os.path.join(mdir, "Kustomization")) as f:
        listed = set(yaml.safe_load(f)["resources"])
    files = {n for n in os.listdir(mdir) if n.endswith((".yaml", ".yml", ".json"))}
    check(listed == files, f"manifests/Kustomization lists exactly {sorted(files)}")
    plain = []
    for n in sorted(files):
        with open(os.path.join(mdir, n)) as f:
            plain += [d for d in yaml.safe_load_all(f) if d]
    base = render(kubectl, mdir)
    key = lambda o: (o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"])
    check(sorted(map(key, plain)) == sorted(map(key, base)), "kubectl kustomize manifests/ = the plain files")

    _, api = check_base("manifests", base)
    check(api["spec"].get("insecureSkipTLSVerify") is True, "manifests: APIService self-signed (insecureSkipTLSVerify)")
    with open(os.path.join(mdir, "v1", "apiservice.yaml")) as f:
        v1 = yaml.safe_load(f)
    check(v1["spec"]["version"] == "v1" and v1["spec"]["service"]["name"] == NAME, "manifests/v1: APIService v1")

    ha = render(kubectl, os.path.join(REPO, "overlays", "high-availability"))
    dep, _ = check_base("high-availability", ha)
    check(dep["spec"].get("replicas", 1) >= 2, "high-availability: replicas >= 2")
    pdb = one(ha, "PodDisruptionBudget", NAME)
    check(pdb.get("spec", {}).get("selector", {}).get("matchLabels") == dep["spec"]["selector"]["matchLabels"],
          "high-availability: PDB selects the Deployment's pods")
    anti = dep["spec"]["template"]["spec"].get("affinity", {}).get("podAntiAffinity", {})
    terms = anti.get("requiredDuringSchedulingIgnoredDuringExecution", [])
    check(any(t.get("topologyKey") == "kubernetes.io/hostname" for t in terms), "high-availability: one replica per node")

    dev = render(kubectl, os.path.join(REPO, "overlays", "insecure-kubelet-tls"))
    dep, _ = check_base("insecure-kubelet-tls", dev)
    check("--kubelet-insecure-tls" in dep["spec"]["template"]["spec"]["containers"][0]["args"],
          "insecure-kubelet-tls: --kubelet-insecure-tls set")

    eph = render(kubectl, os.path.join(REPO, "overlays", "ephemeral-storage"))
    dep, _ = check_base("ephemeral-storage", eph, summary=True)
    check("--kubelet-summary-api" in dep["spec"]["template"]["spec"]["containers"][0]["args"],
          "ephemeral-storage: --kubelet-summary-api set")

    hn = render(kubectl, os.path.join(REPO, "overlays", "host-network"))
    dep, _ = check_base("host-network", hn, host_network=True)
    pod = dep["spec"]["template"]["spec"]
    c = pod["containers"][0]
    check(pod.get("dnsPolicy") == "ClusterFirstWithHostNet", "host-network: dnsPolicy ClusterFirstWithHostNet")
    check("--secure-port=4443" in c["args"], "host-network: listens on 4443 (the kubelet holds 10250 on the host)")
    # A one-node rolling upgrade: no declared port (with hostNetwork it would be a host port the
    # old pod holds, and the new pod would stay Pending), the port shared, probes by number, and
    # the old pod kept until the new one listens (its readiness probe may reach the old pod).
    check(not c.get("ports") and "--permit-port-sharing" in c["args"]
          and c["livenessProbe"]["httpGet"].get("port") == 4443
          and c["readinessProbe"]["httpGet"].get("port") == 4443,
          "host-network: no declared (host) port, --permit-port-sharing, probes on 4443")
    check(dep["spec"].get("minReadySeconds", 0) >= 30
          and dep["spec"].get("strategy", {}).get("rollingUpdate", {}).get("maxUnavailable", 0) == 0,
          "host-network: minReadySeconds >= 30 (two resolutions), maxUnavailable 0")
    with open(os.path.join(REPO, "CMakeLists.txt")) as f:
        version = next(l.split("VERSION")[1].split()[0] for l in f if l.startswith("project("))
    check(c["image"] == f"{NAME}:{version}", f"host-network: image {NAME}:{version} (scripts/build-image.sh)")

    # The secure overlay needs certificate files: render a copy with fresh ones from certs/.
    with tempfile.TemporaryDirectory() as tmp:
        for d in ("manifests", "overlays"):
            shutil.copytree(os.path.join(REPO, d), os.path.join(tmp, d),
                            ignore=shutil.ignore_patterns("*.crt", "*.key"))
        out = os.path.join(tmp, "certs")
        subprocess.run([os.path.join(REPO, "certs", "gen-certs.sh"), "--out", out], check=True,
                       capture_output=True, timeout=60)
        run = lambda *a: subprocess.run(a, capture_output=True, text=True, timeout=60)
        crt, cacrt = os.path.join(out, "tls.crt"), os.path.join(out, "ca.crt")
        check(run("openssl", "verify", "-CAfile", cacrt, crt).returncode == 0,
              "gen-certs: serving certificate verifies against its CA")
        sans = run("openssl", "x509", "-in", crt, "-noout", "-ext", "subjectAltName").stdout
        for n in (NAME, f"{NAME}.kube-system", f"{NAME}.kube-system.svc", f"{NAME}.kube-system.svc.cluster.local"):
            check(f"DNS:{n}," in sans.strip() + ",", f"gen-certs: SAN {n}")
        check("serverAuth" not in sans and "TLS Web Server Authentication" in
              run("openssl", "x509", "-in", crt, "-noout", "-ext", "extendedKeyUsage").stdout,
              "gen-certs: serverAuth usage")
        before = open(crt).read(), open(cacrt).read()
        subprocess.run([os.path.join(REPO, "certs", "gen-certs.sh"), "--out", out], check=True,
                       capture_output=True, timeout=60)
        check(open(crt).read() != before[0] and open(cacrt).read() == before[1],
              "gen-certs again: new serving certificate, same CA (caBundle stays valid)")
        sdir = os.path.join(tmp, "overlays", "secure")
        for n in ("tls.crt", "tls.key", "ca.crt"):
            shutil.copy(os.path.join(out, n), sdir)
        with open(os.path.join(out, "ca.crt"), "rb") as f:
            ca = f.read()
        sec = render(kubectl, sdir)
    dep, api = check_base("secure", sec)
    spec = api.get("spec", {})
    check("insecureSkipTLSVerify" not in spec, "secure: no insecureSkipTLSVerify")
    check(base64.b64decode(spec.get("caBundle", "")) == ca, "secure: caBundle is the generated CA")
    secret = one(sec, "Secret", "cpp-metrics-server-tls")
    check(base64.b64decode(secret.get("data", {}).get("ca.crt", "")) == ca, "secure: Secret holds the CA")
    pod = dep["spec"]["template"]["spec"]
    c = pod["containers"][0]
    mounts = {m["name"]: m for m in c.get("volumeMounts", [])}
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    check(vols.get("tls", {}).get("secret", {}).get("secretName") == "cpp-metrics-server-tls",
          "secure: Secret volume")
    path = mounts.get("tls", {}).get("mountPath", "?")
    check(mounts.get("tls", {}).get("readOnly") is True, "secure: Secret mounted read-only")
    check(f"--tls-cert-file={path}/tls.crt" in c["args"] and f"--tls-private-key-file={path}/tls.key" in c["args"],
          "secure: serves the mounted certificate")
    check(not any(a.startswith("--cert-dir") for a in c["args"]), "secure: no self-signed --cert-dir")
    check(pod.get("securityContext", {}).get("fsGroup") == pod["securityContext"].get("runAsGroup"),
          "secure: fsGroup lets the non-root user read the key")

    if failures:
        print(f"{len(failures)} check(s) failed", file=sys.stderr)
        return 1
    print("all manifests and overlays render and keep their security settings")
    return 0


if __name__ == "__main__":
    sys.exit(main())
