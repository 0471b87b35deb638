#!/usr/bin/env bash
# Checks manifests/ against a real kube-apiserver (test/cluster/cluster.sh):
#   1. `kubectl apply --dry-run=server` accepts every file (manifests/ and manifests/v1/);
#   2. the Deployment's pod passes the `restricted` Pod Security Standard (server dry run of its
#      pod template in a namespace that enforces it);
#   3. once rbac.yaml is applied, the ServiceAccount may do exactly what the server needs
#      (SubjectAccessReviews), and the aggregated reader role reaches `view`.
# Uses the running cluster if there is one, else brings one up and tears it down at the end.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
c=$here/cluster.sh
sa=system:serviceaccount:kube-system:cpp-metrics-server

fail() {
  echo "[manifests] FAIL: $*" >&2
  exit 1
}

if ! "$c" env >/dev/null 2>&1; then
  trap '"$c" down' EXIT
  "$c" up
fi
eval "$("$c" env)"
k() { "$KUBECTL" "$@"; }

echo "--- server dry run"
k apply --dry-run=server -f "$repo/manifests/" -f "$repo/manifests/v1/"

echo "--- restricted Pod Security Standard"
k create namespace cms-psa-check --dry-run=client -o yaml | k apply -f - >/dev/null
k label namespace cms-psa-check pod-security.kubernetes.io/enforce=restricted --overwrite >/dev/null
k create --dry-run=client -f "$repo/manifests/deployment.yaml" -o json | python3 -c '
import json, sys
spec = json.load(sys.stdin)["spec"]["template"]["spec"]
# The ServiceAccount and PriorityClass are not what is checked here.
spec = {k: v for k, v in spec.items() if k not in ("serviceAccountName", "priorityClassName")}
print(json.dumps({"apiVersion": "v1", "kind": "Pod",
                  "metadata": {"name": "psa-check", "namespace": "cms-psa-check"}, "spec": spec}))
' | k apply --dry-run=server -f -
k delete namespace cms-psa-check --wait=false >/dev/null

echo "--- RBAC of $sa"
k apply -f "$repo/manifests/rbac.yaml" >/dev/null
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
  [ "${got:-false}" = "$want" ] || fail "SAR $* = ${got:-false}, want $want"
  echo "ok: $want  $*"
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
echo "[manifests] PASS"
