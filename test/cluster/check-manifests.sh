#!/usr/bin/env bash
# Functions are called through assert, after code that may exit:
# shellcheck disable=SC2317
# Checks manifests/ against a real kube-apiserver (test/cluster/cluster.sh):
#   1. `kubectl apply --dry-run=server` accepts every file (manifests/ and manifests/v1/), the
#      kustomize base and every overlay in overlays/ (secure: with certificates from
#      certs/gen-certs.sh in a scratch copy);
#   2. every rendered Deployment's pod passes the `restricted` Pod Security Standard (server dry
#      run of its pod template in a namespace that enforces it);
#   3. once rbac.yaml is applied, the ServiceAccount may do exactly what the server needs
#      (SubjectAccessReviews), and the aggregated reader role reaches `view`.
# Prints one PASS:/FAIL: line per assertion and "N passed, M failed"; exits non-zero on any
# failure.
#
# Usage: test/cluster/check-manifests.sh [--own-cluster]
#   --own-cluster: a new cluster in a temp state dir, torn down (and checked) at the end; as CTest
#   runs it. Without: the running cluster (cluster.sh env, i.e. CLUSTER_STATE_DIR) if there is
#   one, else one brought up and torn down at the end.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
sa=system:serviceaccount:kube-system:cpp-metrics-server
# shellcheck disable=SC2034 # read by check-lib.sh
check_name=manifests
# shellcheck source-path=SCRIPTDIR source=check-lib.sh
. "$here/check-lib.sh"
check_cluster_up "${1:-}"
k() { "$KUBECTL" "$@"; }

scratch=$check_work/scratch
mkdir -p "$scratch"
cp -r "$repo/manifests" "$repo/overlays" "$scratch/"
rm -f "$scratch"/overlays/secure/*.crt "$scratch"/overlays/secure/*.key
"$repo/certs/gen-certs.sh" --out "$scratch/certs" >/dev/null || fatal "certs/gen-certs.sh failed"
cp "$scratch"/certs/{tls.crt,tls.key,ca.crt} "$scratch/overlays/secure/"
renders=(manifests)
for d in "$scratch"/overlays/*/; do renders+=("overlays/$(basename "$d")"); done

echo "--- server dry run"
assert "server dry run: manifests/ and manifests/v1/" \
  k apply --dry-run=server -f "$repo/manifests/" -f "$repo/manifests/v1/"
assert "server dry run: gen-certs.sh Secret and APIServices (v1beta1, v1)" \
  k apply --dry-run=server -f "$scratch/certs/secret.yaml" -f "$scratch/certs/apiservice.yaml" \
  -f "$scratch/certs/apiservice-v1.yaml"
dry_run_kustomize() { k kustomize "$scratch/$1" >"$scratch/rendered.yaml" && k apply --dry-run=server -f "$scratch/rendered.yaml"; }
for r in "${renders[@]}"; do
  assert "server dry run: kustomize $r" dry_run_kustomize "$r"
done

echo "--- restricted Pod Security Standard"
k create namespace cms-psa-check --dry-run=client -o yaml | k apply -f - >/dev/null
k label namespace cms-psa-check pod-security.kubernetes.io/enforce=restricted --overwrite >/dev/null ||
  fatal "could not create namespace cms-psa-check enforcing restricted"
psa_pod() {
  k kustomize "$scratch/$1" | python3 -c '
import json, sys, yaml
dep = [d for d in yaml.safe_load_all(sys.stdin) if d and d["kind"] == "Deployment"][0]
spec = dep["spec"]["template"]["spec"]
# The ServiceAccount and PriorityClass are not what is checked here.
spec = {k: v for k, v in spec.items() if k not in ("serviceAccountName", "priorityClassName")}
# overlays/host-network is meant to break exactly one rule (host namespaces, with the host ports
# that implies): everything else must still pass.
if sys.argv[1:] == ["host-network"]:
    spec.pop("hostNetwork", None)
    for c in spec["containers"]:
        for p in c.get("ports", []):
            p.pop("hostPort", None)
print(json.dumps({"apiVersion": "v1", "kind": "Pod",
                  "metadata": {"name": "psa-check", "namespace": "cms-psa-check"}, "spec": spec}))
' "$(basename "$1")" | k apply --dry-run=server -f -
}
for r in "${renders[@]}"; do
  assert "restricted Pod Security Standard admits the pod of $r" psa_pod "$r"
done
k delete namespace cms-psa-check --wait=false >/dev/null

echo "--- RBAC of $sa"
k apply -f "$repo/manifests/rbac.yaml" >/dev/null || fatal "kubectl apply manifests/rbac.yaml failed"
# The bindings that name the ServiceAccount or one of its groups are exactly those of rbac.yaml,
# with the same roles; the only others are Kubernetes' own defaults for every authenticated user
# or service account (label kubernetes.io/bootstrapping=rbac-defaults: discovery, basic-user,
# public-info-viewer, service-account-issuer-discovery).
bindings_are_rbac_yaml() {
  k get clusterrolebindings,rolebindings -A -o json >"$check_work/bindings.json" &&
    python3 - "$check_work/bindings.json" "$repo/manifests/rbac.yaml" <<'PY'
import json, sys, yaml
def binds_sa(b):
    for s in b.get("subjects") or []:
        if s.get("kind") == "ServiceAccount" and s.get("name") == "cpp-metrics-server" and \
                s.get("namespace", b["metadata"].get("namespace")) == "kube-system":
            return True
        if s.get("kind") == "Group" and s.get("name") in (
                "system:authenticated", "system:serviceaccounts", "system:serviceaccounts:kube-system"):
            return True
    return False
def key(b):
    return (b["kind"], b["metadata"].get("namespace", ""), b["metadata"]["name"],
            b["roleRef"]["kind"], b["roleRef"]["name"])
default = lambda b: (b["metadata"].get("labels") or {}).get("kubernetes.io/bootstrapping") == "rbac-defaults"
items = [b for b in json.load(open(sys.argv[1]))["items"] if binds_sa(b)]
live = sorted(key(b) for b in items if not default(b))
defaults = sorted(b["metadata"]["name"] for b in items if default(b))
want = sorted(key(d) for d in yaml.safe_load_all(open(sys.argv[2]))
              if d and d["kind"] in ("ClusterRoleBinding", "RoleBinding") and binds_sa(d))
print("cluster %s; rbac.yaml %s; rbac-defaults %s" % (
    [k[2] + "->" + k[4] for k in live], [k[2] + "->" + k[4] for k in want], defaults))
sys.exit(0 if live == want and want else 1)
PY
}
assert "the only bindings granting kube-system/cpp-metrics-server anything are those of manifests/rbac.yaml" \
  bindings_are_rbac_yaml
# sar USER NAMESPACE GROUP RESOURCE VERB [NAME] -> prints true/false
sar() {
  python3 -c '
import json, sys
user, ns, group, resource, verb, name = sys.argv[1:7]
ra = {"namespace": ns, "group": group, "resource": resource.split("/")[0], "verb": verb, "name": name}
if "/" in resource:
    ra["subresource"] = resource.split("/")[1]
print(json.dumps({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                  "spec": {"user": user, "resourceAttributes": ra}}))
' "$1" "$2" "$3" "$4" "$5" "${6:-}" | k create -f - -o jsonpath='{.status.allowed}'
}
expect() { # WANT USER NAMESPACE GROUP RESOURCE VERB [NAME]
  local want=$1 got
  shift
  got=$(sar "$@")
  if [ "${got:-false}" = "$want" ]; then
    pass "SubjectAccessReview $*: $want"
  else
    fail "SubjectAccessReview $*: ${got:-false}, want $want"
  fi
}
expect true "$sa" "" "" nodes/metrics get kwok-node-0
expect true "$sa" "" "" nodes list
expect true "$sa" "" "" nodes watch
expect true "$sa" default "" pods list
expect true "$sa" "" authentication.k8s.io tokenreviews create
expect true "$sa" "" authorization.k8s.io subjectaccessreviews create
expect true "$sa" kube-system "" configmaps get extension-apiserver-authentication
expect false "$sa" kube-system "" configmaps get other
expect false "$sa" kube-system "" secrets list
expect false "$sa" kube-system "" secrets get cpp-metrics-server-tls
expect false "$sa" "" "" nodes/proxy get kwok-node-0
expect false "$sa" "" "" nodes/stats get kwok-node-0
expect false "$sa" default "" pods delete
k create rolebinding cms-viewer --clusterrole=view --user=cms-viewer -n default \
  --dry-run=client -o yaml | k apply -f - >/dev/null
wait_aggregated() {
  local i
  for ((i = 0; i < 60; i++)); do
    [ "$(sar cms-viewer default metrics.k8s.io pods list)" = true ] && return 0
    sleep 0.5
  done
  return 1
}
wait_aggregated || fail "view does not include metrics.k8s.io after 30s"
expect true cms-viewer default metrics.k8s.io pods list
expect false cms-viewer kube-system metrics.k8s.io pods list
k delete rolebinding cms-viewer -n default >/dev/null
check_finish
