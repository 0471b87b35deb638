#!/usr/bin/env bash
# Functions are called through assert/wait_until, after code that may exit:
# shellcheck disable=SC2317
# Checks charts/cpp-metrics-server with a real helm (build-binaries.sh builds it from
# helm.sh/helm/v4) against a real kube-apiserver (test/cluster/cluster.sh):
#   1. `helm lint --strict` with the default values and with every values file of the chart's
#      ci/ (the variants its README documents);
#   2. every variant rendered by `helm template --dry-run=server` (so `lookup` reads the cluster)
#      is admitted by `kubectl apply --dry-run=server` (cert-manager's and prometheus-operator's
#      kinds through the stand-in CRDs of testdata/helm-chart-crds.yaml), its pod by the
#      `restricted` Pod Security Standard (a namespace that enforces it: it refuses the
#      host-network pod as rendered), and holds what the variant promises (helm_check.py render);
#   3. `helm install` (tls.type=helm: the chart's own CA) → the server runs "as the pod": the
#      installed Deployment's arguments and Secret volume, as its ServiceAccount with the chart's
#      RBAC; the APIService turns Available, verified against the chart's CA, and `kubectl top
#      nodes` works;
#   4. `helm upgrade` with changed values rolls the Deployment (new generation and ReplicaSet,
#      the new arguments) and keeps the CA; the server restarted with the new arguments serves;
#   5. `helm uninstall` leaves no object of the release behind (each object of its manifest,
#      cluster-scoped ones too, and everything labelled with the release).
# The local cluster has no kube-proxy and no container runtime (kwok pods run nothing), so the
# image cannot run: the server binary runs as a local process, and a post-renderer (a helm
# plugin in the check's own HELM_PLUGINS) turns the chart's Service into an ExternalName to
# localhost, the way e2e.sh registers its server; everything else is the chart's, unchanged.
# Prints one PASS:/FAIL: line per assertion and "N passed, M failed"; exits non-zero on any
# failure.
#
# Usage: test/cluster/check-helm.sh [--own-cluster]
#   --own-cluster: a new cluster in a temp state dir, torn down (and checked) at the end; as CTest
#   runs it. Without: the running cluster (cluster.sh env, i.e. CLUSTER_STATE_DIR) if there is
#   one, else one brought up and torn down at the end.
# Environment: CMS_SERVER (default build/cmd/cpp-metrics-server), CLUSTER_STATE_DIR (cluster.sh).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
c=$here/cluster.sh
chart=$repo/charts/cpp-metrics-server
check=$here/helm_check.py
server=${CMS_SERVER:-$repo/build/cmd/cpp-metrics-server}
release=cpp-metrics-server
ns=kube-system
# shellcheck disable=SC2034 # read by check-lib.sh
check_name=helm
# shellcheck source-path=SCRIPTDIR source=check-lib.sh
. "$here/check-lib.sh"
check_cleanup() { "$c" stop "$release" >/dev/null 2>&1; }
[ -x "$server" ] || fatal "server binary $server not found (build it: cmake --build build --target cpp-metrics-server)"
helm_bin=$("$here/build-binaries.sh" --print-env 2>/dev/null | sed -n 's/^HELM=//p')
[ -x "$helm_bin" ] || fatal "helm not built (run test/cluster/build-binaries.sh): '$helm_bin'"
check_cluster_up "${1:-}"
k() { "$KUBECTL" "$@"; }
# A helm of its own: no repositories, cache or plugins of the user's.
export HELM_CACHE_HOME=$check_work/helm/cache HELM_CONFIG_HOME=$check_work/helm/config
export HELM_DATA_HOME=$check_work/helm/data HELM_PLUGINS=$check_work/helm/plugins
helm() { "$helm_bin" --kubeconfig "$KUBECONFIG" "$@"; }
log "$("$helm_bin" version --short), kube-apiserver $(k version -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])')"

echo "--- helm lint"
variants=(default)
for f in "$chart"/ci/*-values.yaml; do
  v=$(basename "$f" -values.yaml)
  variants+=("$v")
done
values_of() { [ "$1" = default ] || echo "--values=$chart/ci/$1-values.yaml"; }
for v in "${variants[@]}"; do
  # shellcheck disable=SC2046 # no value file for the default
  assert "helm lint --strict: $v" helm lint --strict "$chart" $(values_of "$v")
done
refuses_unknown_tls() {
  local out
  if out=$(helm template x "$chart" --set tls.type=self 2>&1); then
    echo "rendered"
    return 1
  fi
  grep -o 'tls.type "self".*' <<<"$out"
}
assert "helm template refuses an unknown tls.type" refuses_unknown_tls

echo "--- every variant: server dry run, restricted Pod Security Standard, what it promises"
k apply -f "$here/testdata/helm-chart-crds.yaml" >/dev/null &&
  k wait --for=condition=Established --timeout=60s -f "$here/testdata/helm-chart-crds.yaml" >/dev/null ||
  fatal "could not install the stand-in CRDs (cert-manager Certificate/Issuer, ServiceMonitor)"
# The Secret of the existingSecret variant, as cert-manager writes one (tls.crt, tls.key, ca.crt),
# from certs/gen-certs.sh: the chart must read its caBundle from it.
"$repo/certs/gen-certs.sh" --out "$check_work/certs" --service "$release" >/dev/null ||
  fatal "certs/gen-certs.sh failed"
k apply -f "$check_work/certs/secret.yaml" >/dev/null || fatal "could not create the Secret of certs/gen-certs.sh"
k create namespace cms-helm-psa --dry-run=client -o yaml | k apply -f - >/dev/null
k label namespace cms-helm-psa pod-security.kubernetes.io/enforce=restricted --overwrite >/dev/null ||
  fatal "could not create namespace cms-helm-psa enforcing restricted"
render() { # VARIANT OUT
  # shellcheck disable=SC2046
  helm template "$release" "$chart" --namespace "$ns" --dry-run=server $(values_of "$1") >"$2"
}
for v in "${variants[@]}"; do
  out=$check_work/render-$v.yaml
  if ! render "$v" "$out" 2>"$check_work/render-$v.err"; then
    cat "$check_work/render-$v.err"
    fail "helm template: $v"
    continue
  fi
  assert "server dry run: $v" k apply --dry-run=server -f "$out"
  assert "restricted Pod Security Standard admits the pod of $v" \
    bash -c 'python3 "$0" psa-pod "$1" cms-helm-psa | "$2" apply --dry-run=server -f -' "$check" "$out" "$KUBECTL"
  ca=""
  [ "$v" != tls-existing-secret ] || ca=$check_work/certs/ca.crt
  assert "$v renders what it promises" python3 "$check" render "$v" "$out" $ca
done
# The namespace does enforce: the host-network pod as rendered is refused for its host namespace.
psa_refuses_host_network() {
  local out
  if out=$(python3 "$check" psa-pod "$check_work/render-host-network.yaml" cms-helm-psa keep |
    k apply --dry-run=server -f - 2>&1); then
    echo "admitted: $out"
    return 1
  fi
  grep -o 'violates PodSecurity "restricted:[^"]*": host namespaces[^)]*)' <<<"$out"
}
assert "restricted Pod Security Standard refuses the host-network pod as rendered (host namespaces)" \
  psa_refuses_host_network
k delete namespace cms-helm-psa --wait=false >/dev/null
k delete -f "$check_work/certs/secret.yaml" >/dev/null

echo "--- helm install (tls.type=helm), the server as the pod"
# The post-renderer: every Service becomes an ExternalName to localhost (see the header).
mkdir -p "$HELM_PLUGINS/local-backend"
cat >"$HELM_PLUGINS/local-backend/plugin.yaml" <<'EOF'
apiVersion: v1
name: local-backend
version: 0.1.0
type: postrenderer/v1
runtime: subprocess
runtimeConfig:
  platformCommand:
    - command: "${HELM_PLUGIN_DIR}/render.py"
EOF
cat >"$HELM_PLUGINS/local-backend/render.py" <<'EOF'
#!/usr/bin/env python3
import sys, yaml
out = []
for d in yaml.safe_load_all(sys.stdin):
    if d and d["kind"] == "Service":
        d["spec"] = {"type": "ExternalName", "externalName": "localhost", "ports": d["spec"]["ports"]}
    if d:
        out.append(d)
yaml.safe_dump_all(out, sys.stdout, sort_keys=False)
EOF
chmod +x "$HELM_PLUGINS/local-backend/render.py"
"$c" workload 2 >>"$check_work/up.log" 2>&1 || fatal "workload default/demo did not start"
port=$("$c" free-port)
# The APIService names the Service's port; through an ExternalName that is the server's own.
install_values=(--values "$chart/ci/tls-helm-values.yaml" --set "service.port=$port")
assert "helm install $release (tls.type=helm, apiService.v1.create, args --kubelet-insecure-tls)" \
  helm install "$release" "$chart" --namespace "$ns" "${install_values[@]}" \
  --set "args={--kubelet-insecure-tls}" --set apiService.v1.create=true --post-renderer local-backend
helm get manifest "$release" --namespace "$ns" >"$check_work/manifest-1.yaml" ||
  fatal "helm get manifest failed after install"
assert "helm status: deployed, revision 1" \
  bash -c '"$0" --kubeconfig "$1" status "$2" -n "$3" -o json | python3 -c "import json,sys; r=json.load(sys.stdin); print(r[\"info\"][\"status\"], r[\"version\"]); sys.exit(0 if (r[\"info\"][\"status\"], r[\"version\"]) == (\"deployed\", 1) else 1)"' \
  "$helm_bin" "$KUBECONFIG" "$release" "$ns"

ca=$check_work/chart-ca.crt
k get secret "$release" -n "$ns" -o jsonpath='{.data.ca\.crt}' | base64 -d >"$ca"
# run_as_pod: the server with what the Deployment gives its container (helm_check.py as-pod).
run_as_pod() {
  local args=()
  rm -rf "$check_work/pod"
  mapfile -t args < <(python3 "$check" as-pod "$release" "$ns" "$check_work/pod")
  [ ${#args[@]} -gt 0 ] || {
    echo "could not read the Deployment's arguments and volumes"
    return 1
  }
  printf '%s\n' "${args[@]}" >"$check_work/pod-args.txt"
  "$c" stop "$release" >/dev/null 2>&1
  BACKEND_CA=$ca BACKEND_SERVER_NAME=$release.$ns.svc "$c" backend "$release" "$port" -- "$server" \
    "${args[@]}" >"$check_work/backend.log" 2>&1 || {
    tail -n 20 "$check_work/backend.log" "$CLUSTER_STATE_DIR/logs/$release.log"
    echo "the server did not turn ready with the Deployment's arguments (log above)"
    return 1
  }
  echo "the server runs with: $(tr '\n' ' ' <"$check_work/pod-args.txt")"
}
available() { # VERSION: Available, and a list of nodes answered through the aggregator now
  [ "$(k get apiservice "$1.metrics.k8s.io" -o jsonpath='{.status.conditions[?(@.type=="Available")].status}')" = True ] &&
    k get --raw "/apis/metrics.k8s.io/$1/nodes" >/dev/null
}
top_nodes() {
  local want got
  want=$(k get nodes -o name | sed 's|^node/||' | sort | tr '\n' ' ')
  got=$(k top nodes --no-headers 2>/dev/null | awk '{print $1}' | sort | tr '\n' ' ')
  echo "kubectl top nodes: $got"
  [ -n "$got" ] && [ "$got" = "$want" ]
}
serves_for_service_name() { # the served certificate verifies against the chart's CA for <svc>.<ns>.svc
  curl -sS -o /dev/null -w '%{http_code}\n' --cacert "$ca" \
    --connect-to "$release.$ns.svc:$port:127.0.0.1:$port" "https://$release.$ns.svc:$port/livez"
}
caBundle_is_chart_ca() {
  [ "$(k get apiservice v1beta1.metrics.k8s.io -o jsonpath='{.spec.caBundle}' | base64 -d)" = "$(cat "$ca")" ] &&
    [ -z "$(k get apiservice v1beta1.metrics.k8s.io -o jsonpath='{.spec.insecureSkipTLSVerify}')" ]
}
assert "the server runs as the pod: the Deployment's arguments, its Secret volume, its ServiceAccount" run_as_pod
assert "APIService v1beta1.metrics.k8s.io: caBundle = ca.crt of the chart's Secret, no insecureSkipTLSVerify" \
  caBundle_is_chart_ca
assert "the served certificate verifies against the chart's CA for $release.$ns.svc" serves_for_service_name
wait_until 120 available v1beta1
assert "APIService v1beta1.metrics.k8s.io Available (the aggregator verifies the chart's CA), nodes listed through it" \
  available v1beta1
wait_until 30 available v1
assert "APIService v1.metrics.k8s.io Available (apiService.v1.create), nodes listed through it" available v1
wait_until 120 top_nodes
assert "kubectl top nodes lists every node" top_nodes

echo "--- helm upgrade with changed values"
deploy_field() { k get deployment "$release" -n "$ns" -o jsonpath="$1"; }
gen1=$(deploy_field '{.metadata.generation}')
rs1=$(k get rs -n "$ns" -l "app.kubernetes.io/instance=$release" -o jsonpath='{.items[*].metadata.name}')
ca1=$(cat "$ca")
assert "helm upgrade: --metric-resolution=20s, a pod annotation, apiService.v1.create off" \
  helm upgrade "$release" "$chart" --namespace "$ns" "${install_values[@]}" \
  --set "args={--kubelet-insecure-tls,--metric-resolution=20s}" \
  --set-string "podAnnotations.example\.com/rolled=yes" --post-renderer local-backend
rolled() {
  local gen args rs new=()
  gen=$(deploy_field '{.metadata.generation}')
  args=$(deploy_field '{.spec.template.spec.containers[0].args}')
  rs=$(k get rs -n "$ns" -l "app.kubernetes.io/instance=$release" -o jsonpath='{.items[*].metadata.name}')
  for r in $rs; do [[ " $rs1 " == *" $r "* ]] || new+=("$r"); done
  echo "generation $gen1 -> $gen; ReplicaSets [$rs1] -> [$rs], new [${new[*]}]; args $args"
  [ -n "$rs1" ] && [ "$gen" = $((gen1 + 1)) ] && [ ${#new[@]} = 1 ] &&
    grep -q -- '--metric-resolution=20s' <<<"$args" &&
    [ "$(deploy_field '{.spec.template.metadata.annotations.example\.com/rolled}')" = yes ]
}
rollout() { k rollout status deployment "$release" -n "$ns" --timeout=90s; }
wait_until 60 rolled
assert "the Deployment rolled: generation +1, a new ReplicaSet, the new arguments and annotation" rolled
assert "the rollout completes (kwok runs the new pod)" rollout
v1_removed() { ! k get apiservice v1.metrics.k8s.io 2>&1; }
assert "helm upgrade removed APIService v1.metrics.k8s.io (apiService.v1.create off)" v1_removed
secret_ca() { k get secret "$release" -n "$ns" -o jsonpath='{.data.ca\.crt}' | base64 -d; }
kept_ca() { [ "$(secret_ca)" = "$ca1" ] && caBundle_is_chart_ca; }
assert "helm upgrade kept the chart's CA (lookup of its Secret) and the APIService's caBundle" kept_ca
new_args() { run_as_pod && grep -qx -- --metric-resolution=20s "$check_work/pod-args.txt"; }
assert "the server restarted as the new pod, with --metric-resolution=20s" new_args
wait_until 120 available v1beta1
assert "APIService v1beta1.metrics.k8s.io Available after the upgrade" available v1beta1
wait_until 120 top_nodes
assert "kubectl top nodes after the upgrade" top_nodes

echo "--- helm uninstall"
helm get manifest "$release" --namespace "$ns" >"$check_work/manifest-2.yaml" ||
  fatal "helm get manifest failed after upgrade"
python3 "$check" objects "$check_work/manifest-2.yaml" >"$check_work/objects.txt" ||
  fatal "could not list the release's objects"
"$c" stop "$release" >/dev/null 2>&1 # the pod goes with the Deployment
assert "helm uninstall --wait" helm uninstall "$release" --namespace "$ns" --wait --timeout 120s
gone() { # every object of the release's manifest is NotFound
  local res namespace name left=() n=0
  while read -r res namespace name; do
    n=$((n + 1))
    if [ "$namespace" = - ]; then
      k get "$res" "$name" >/dev/null 2>&1 && left+=("$res/$name")
    else
      k get "$res" "$name" -n "$namespace" >/dev/null 2>&1 && left+=("$res/$namespace/$name")
    fi
  done <"$check_work/objects.txt"
  echo "$n objects of the manifest ($(awk '{print $1}' "$check_work/objects.txt" | sort -u | tr '\n' ' ')), left: [${left[*]}]"
  [ "$n" -gt 0 ] && [ ${#left[@]} -eq 0 ]
}
assert "no object of the release's manifest is left, cluster-scoped ones included" gone
# Everything labelled with the release, in every kind the chart creates and what its Deployment
# creates in turn (ReplicaSets, pods), and the release records of helm itself.
labelled_kinds=deployments,replicasets,pods,services,serviceaccounts,secrets,poddisruptionbudgets,rolebindings,clusterroles,clusterrolebindings,apiservices,certificates,issuers,servicemonitors
nothing_labelled() {
  local left
  left=$(k get "$labelled_kinds" -A -l "app.kubernetes.io/instance=$release" -o name 2>&1)
  left+=$(k get secrets -n "$ns" -l "owner=helm,name=$release" -o name 2>&1)
  echo "left: [${left//$'\n'/ }]"
  [ -z "$left" ]
}
wait_until 60 nothing_labelled
assert "nothing labelled app.kubernetes.io/instance=$release in any kind (ReplicaSets and pods collected), no helm release Secret" \
  nothing_labelled
api_gone() { ! k get --raw /apis/metrics.k8s.io >/dev/null 2>&1 && ! k api-resources 2>&1 | grep -q metrics.k8s.io; }
assert "metrics.k8s.io is no longer served and discovery reports no error" api_gone
k delete -f "$here/testdata/helm-chart-crds.yaml" >/dev/null
check_finish
