#!/usr/bin/env bash
# Builds, once, the binaries the local control plane needs, from Go modules, and caches them
# outside the repository, one directory per name and version:
#
#   $CMS_BIN_CACHE/<name>-<version>/<name>      the binary
#   $CMS_BIN_CACHE/<name>-<version>/BUILD-INFO  stamp: what was built, with what, how long it took
#
# Binaries: kube-apiserver, kube-controller-manager, kube-scheduler, kubectl (k8s.io/kubernetes
# through a wrapper module), kubectl of the previous minor too (KUBECTL_PREVIOUS: the client that
# knows only metrics.k8s.io/v1beta1), kwok, metrics-server (reference implementation), etcd, helm
# (for the chart in charts/), and the test tool pod-metrics-informer (test/cluster/informer); with WITH_KUBELET=1 also the kubelet of the same release (for the
# real-node test); with WITH_OTELCOL=1 also otelcol-test (test/exporter/otelcol: an
# OpenTelemetry Collector with the OTLP receiver and the file exporter, for the OTLP sink's test).
# A binary whose stamp exists is reused; delete its directory to rebuild it.
#
# Usage:
#   test/cluster/build-binaries.sh              build what is missing, print where everything is
#   test/cluster/build-binaries.sh --print-env  only print the KEY=path lines (fails if missing)
#   test/cluster/build-binaries.sh --versions   only print the resolved versions
#
# Environment:
#   CMS_BIN_CACHE           cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/cpp-metrics-server/bin)
#   K8S_VERSION             1.37.2, v1.37.2, or a minor such as 1.32 (newest patch of it);
#                           default: v1.37.2, a pinned release this suite was verified against,
#                           so a new upstream release cannot change what a fresh machine builds
#   KUBECTL_PREVIOUS_VERSION
#                           default v1.36.3: only kubectl, of the minor before, pinned alike; its
#                           `top` asks for metrics.k8s.io/v1beta1 only (1.37's asks for v1 when it
#                           is discovered); `none` skips it
#   KWOK_VERSION            default v0.8.0
#   METRICS_SERVER_VERSION  default v0.8.0 (the approved reference release; v0.9.0 is not)
#   HELM_VERSION            default v4.3.2 (helm.sh/helm/v4, an approved release)
#   ETCD_SOURCE             go (default: build the etcd server k8s.io/kubernetes pins) or apt
#                           (Debian's etcd-server package, fetched with apt-get download and
#                           unpacked into the cache, not installed)
#   ETCD_VERSION            with ETCD_SOURCE=go: override the etcd version (v3.X.Y)
#   BUILD_NICE              niceness of the builds (default 10)
#   WITH_KUBELET            1: also build the kubelet (cgo on, as upstream builds it) and print
#                           KUBELET=path
#   WITH_OTELCOL            1: also build otelcol-test (collector v0.161.0, pinned in its
#                           go.mod/go.sum) and print OTELCOL=path
#
# Go >= 1.26 is needed for kwok v0.8.0 (pick an older version otherwise).
set -euo pipefail

cache=${CMS_BIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cpp-metrics-server/bin}
kwok_version=${KWOK_VERSION:-v0.8.0}
ms_version=${METRICS_SERVER_VERSION:-v0.8.0}
helm_version=${HELM_VERSION:-v4.3.2}
kubectl_prev_version=${KUBECTL_PREVIOUS_VERSION:-v1.36.3}
kubectl_prev_version=v${kubectl_prev_version#v}
[ "$kubectl_prev_version" != vnone ] || kubectl_prev_version=none
etcd_source=${ETCD_SOURCE:-go}
nice_level=${BUILD_NICE:-10}
mode=build
case "${1:-}" in
  "") ;;
  --print-env) mode="env" ;;
  --versions) mode=versions ;;
  -h | --help)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
  *)
    echo "usage: $0 [--print-env|--versions]" >&2
    exit 2
    ;;
esac

log() {
  if [ "$mode" = build ]; then echo "[build-binaries] $*" >&2; fi
}
die() {
  echo "[build-binaries] FAILED: $*" >&2
  exit 1
}

# Go's own installer puts it in /usr/local/go; a non-login shell may not have that in PATH.
if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then
  export PATH="/usr/local/go/bin:$PATH"
fi
command -v go >/dev/null || die "go not found in PATH or /usr/local/go/bin (need Go >= 1.26)"
export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS="${GOFLAGS:-} -mod=mod"

# --- versions -------------------------------------------------------------------------------

# Resolves K8S_VERSION to a full vX.Y.Z. Prints nothing and fails if the proxy cannot answer.
resolve_k8s_version() {
  local want=${K8S_VERSION:-v1.37.2}
  want=${want#v}
  if [[ $want =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
    echo "v$want"
  elif [[ $want =~ ^[0-9]+\.[0-9]+$ ]]; then
    go list -m -versions k8s.io/kubernetes | tr ' ' '\n' | grep -E "^v${want//./\\.}\.[0-9]+$" |
      sort -V | tail -n1
  elif [ -z "$want" ]; then
    go list -m -json k8s.io/kubernetes@latest | sed -n 's/^[[:space:]]*"Version": "\(.*\)",*$/\1/p'
  else
    die "K8S_VERSION=$K8S_VERSION: expected 1.X.Y, v1.X.Y or 1.X"
  fi
}

k8s_version=$(resolve_k8s_version 2>/dev/null || true)
if [ -z "$k8s_version" ]; then
  # Offline: fall back to the newest cached build matching the request.
  k8s_version=$(find "$cache" -maxdepth 1 -type d -name "kube-apiserver-v${K8S_VERSION:-}*" \
    -printf '%f\n' 2>/dev/null | sed 's/^kube-apiserver-//' | sort -V | tail -n1)
  [ -n "$k8s_version" ] ||
    die "step 'resolve k8s.io/kubernetes version': the Go module proxy did not answer" \
      "($(go env GOPROXY)) and nothing is cached in $cache"
  log "module proxy unreachable; using cached Kubernetes $k8s_version"
fi
k8s_minor=${k8s_version#v1.}
k8s_minor=${k8s_minor%%.*}

work=$cache/.work
logs=$cache/.logs
mkdir -p "$work" "$logs"

# Prints the path of k8s.io/kubernetes's go.mod at $k8s_version (downloads it if needed).
k8s_gomod() {
  go mod download -json "k8s.io/kubernetes@$k8s_version" |
    sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p'
}

etcd_version() {
  if [ -n "${ETCD_VERSION:-}" ]; then
    echo "$ETCD_VERSION"
    return
  fi
  # The etcd version Kubernetes itself pins for its client.
  local gomod
  gomod=$(k8s_gomod) || return 1
  sed -n 's#^[[:space:]]*go.etcd.io/etcd/client/v3 \(v[0-9.]*\).*#\1#p' "$gomod" | head -n1
}

if [ "$etcd_source" = apt ]; then
  etcd_ver=debian
  etcd_dir=$cache/etcd-debian
else
  etcd_ver=$(etcd_version 2>/dev/null || true)
  if [ -z "$etcd_ver" ]; then
    etcd_ver=$(find "$cache" -maxdepth 1 -type d -name 'etcd-v*' -printf '%f\n' 2>/dev/null |
      sed 's/^etcd-//' | sort -V | tail -n1)
    [ -n "$etcd_ver" ] || die "step 'resolve etcd version': could not read k8s.io/kubernetes go.mod"
  fi
  etcd_dir=$cache/etcd-$etcd_ver
fi

if [ "$mode" = versions ]; then
  printf 'K8S_VERSION=%s\nKUBECTL_PREVIOUS_VERSION=%s\nKWOK_VERSION=%s\nMETRICS_SERVER_VERSION=%s\nETCD_VERSION=%s\nHELM_VERSION=%s\n' \
    "$k8s_version" "$kubectl_prev_version" "$kwok_version" "$ms_version" "$etcd_ver" "$helm_version"
  exit 0
fi

# --- helpers --------------------------------------------------------------------------------

# stamp DIR NAME VERSION SECONDS SOURCE: records a successful build.
stamp() {
  local dir=$1 name=$2 version=$3 secs=$4 source=$5 size
  size=$(stat -L -c %s "$dir/$name")
  cat >"$dir/BUILD-INFO" <<EOF
name=$name
version=$version
source=$source
go=$(go env GOVERSION)
built=$(date -u +%Y-%m-%dT%H:%M:%SZ)
build_seconds=$secs
size_bytes=$size
EOF
  log "$name $version: built in ${secs}s, $((size / 1024 / 1024)) MiB -> $dir/$name"
}

have() { [ -x "$1/$2" ] && [ -f "$1/BUILD-INFO" ]; }

# run_logged STEP LOGFILE CMD...: runs CMD niced with output to LOGFILE; dies naming STEP.
run_logged() {
  local step=$1 logfile=$2
  shift 2
  if ! nice -n "$nice_level" "$@" >>"$logfile" 2>&1; then
    tail -n 20 "$logfile" >&2
    die "step '$step' (full log: $logfile)"
  fi
}

# --- Kubernetes: wrapper module -------------------------------------------------------------

k8s_bins=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
if [ "${WITH_KUBELET:-0}" = 1 ]; then k8s_bins+=(kubelet); fi

# build_k8s VERSION BINARY...: the named commands of k8s.io/kubernetes at VERSION (v1.X.Y), each
# into $cache/<name>-VERSION unless cached there.
build_k8s() {
  local k8s_version=$1 k8s_minor
  shift
  local k8s_bins=("$@") missing=() b
  k8s_minor=${k8s_version#v1.}
  k8s_minor=${k8s_minor%%.*}
  for b in "${k8s_bins[@]}"; do
    have "$cache/$b-$k8s_version" "$b" || missing+=("$b")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    log "Kubernetes $k8s_version: cached"
    return
  fi
  local wrap=$work/k8s-$k8s_version logfile=$logs/k8s-$k8s_version.log gomod m mods=()
  log "Kubernetes $k8s_version: preparing wrapper module in $wrap (log: $logfile)"
  mkdir -p "$wrap"
  : >"$logfile"
  gomod=$(k8s_gomod 2>>"$logfile") || gomod=""
  [ -n "$gomod" ] ||
    die "step 'download k8s.io/kubernetes@$k8s_version go.mod' from $(go env GOPROXY) (log: $logfile)"
  (
    cd "$wrap"
    rm -f go.mod go.sum
    go mod init local/k8swrap >>"$logfile" 2>&1
    # Every staging module, published as v0.X.Y, read from the tag's own go.mod.
    mapfile -t mods < <(sed -n 's#^[[:space:]]*\(k8s.io/[A-Za-z0-9._-]*\) => \./staging/.*#\1#p' "$gomod")
    [ ${#mods[@]} -gt 0 ] || die "step 'read staging replaces': none found in $gomod"
    echo "[build-binaries] ${#mods[@]} staging modules replaced by v0.${k8s_version#v1.}" >&2
    for m in "${mods[@]}"; do
      go mod edit -replace="$m=$m@v0.${k8s_version#v1.}"
    done
    # Mirror upstream's godebug defaults (e.g. "godebug default=go1.23").
    sed -n 's/^godebug[[:space:]]\{1,\}\([^ (]*\)$/\1/p' "$gomod" | while read -r d; do
      go mod edit -godebug="$d"
    done
    local pkgs=()
    for b in "${k8s_bins[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b@$k8s_version"); done
    log "go get ${pkgs[*]} (module downloads)"
    if ! nice -n "$nice_level" go get "${pkgs[@]}" >>"$logfile" 2>&1; then
      local gone
      gone=$(grep -o 'k8s.io/[A-Za-z0-9._-]*/@v/v[0-9.]*\.zip: 403' "$logfile" |
        sed 's#/@v/#@#; s/\.zip: 403//' | sort -u | tr '\n' ' ')
      [ -z "$gone" ] || echo "[build-binaries] the module proxy does not serve: $gone" \
        "(pick another K8S_VERSION whose staging modules it serves)" >&2
      tail -n 5 "$logfile" >&2
      die "step 'go get k8s.io/kubernetes@$k8s_version (module proxy)' (full log: $logfile)"
    fi
  ) || exit 1
  local ld="-s -w" p
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $p.gitVersion=$k8s_version -X $p.gitMajor=1 -X $p.gitMinor=$k8s_minor"
    ld="$ld -X $p.gitTreeState=clean -X $p.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  done
  for b in "${missing[@]}"; do
    local dir=$cache/$b-$k8s_version start
    mkdir -p "$dir"
    log "building $b $k8s_version (niced; log: $logfile)"
    start=$(date +%s)
    # Upstream links every server binary statically except the kubelet, which it builds with cgo
    # (hack/lib/golang.sh: KUBE_STATIC_BINARIES).
    local cgo=0
    [ "$b" != kubelet ] || cgo=1
    (cd "$wrap" && CGO_ENABLED=$cgo run_logged "go build $b $k8s_version" "$logfile" \
      go build -trimpath -ldflags "$ld" -o "$dir/$b.tmp" "k8s.io/kubernetes/cmd/$b") || exit 1
    mv "$dir/$b.tmp" "$dir/$b"
    stamp "$dir" "$b" "$k8s_version" $(($(date +%s) - start)) "k8s.io/kubernetes/cmd/$b (wrapper module)"
  done
}

# --- go install-able modules ----------------------------------------------------------------

# build_go_install NAME VERSION PACKAGE [LDFLAGS]
build_go_install() {
  local name=$1 version=$2 pkg=$3 ld="-s -w ${4:-}" dir start logfile
  dir=$cache/$name-$version
  logfile=$logs/$name-$version.log
  if have "$dir" "$name"; then
    log "$name $version: cached"
    return
  fi
  mkdir -p "$dir/.gobin"
  : >"$logfile"
  log "building $name $version from $pkg (niced; log: $logfile)"
  start=$(date +%s)
  GOBIN=$dir/.gobin run_logged "go install $pkg@$version" "$logfile" \
    go install -trimpath -ldflags "$ld" "$pkg@$version"
  mv "$dir/.gobin/$name" "$dir/$name"
  rmdir "$dir/.gobin"
  stamp "$dir" "$name" "$version" $(($(date +%s) - start)) "$pkg@$version"
}

# --- test tools -----------------------------------------------------------------------------

# pod-metrics-informer (test/cluster/informer): a client-go informer on PodMetrics, with the
# control plane's client-go and k8s.io/metrics (v0.37.2, pinned in its go.mod/go.sum). Cached
# under the hash of its sources, so an edit rebuilds it.
informer_src=$(cd "$(dirname "$0")" && pwd)/informer
informer_version=$(cat "$informer_src/go.mod" "$informer_src/go.sum" "$informer_src/main.go" |
  sha256sum | cut -c1-12)
build_informer() {
  local dir=$cache/pod-metrics-informer-$informer_version logfile start
  logfile=$logs/pod-metrics-informer-$informer_version.log
  if have "$dir" pod-metrics-informer; then
    log "pod-metrics-informer $informer_version: cached"
    return
  fi
  mkdir -p "$dir"
  : >"$logfile"
  log "building pod-metrics-informer $informer_version (niced; log: $logfile)"
  start=$(date +%s)
  (cd "$informer_src" && run_logged "go build pod-metrics-informer" "$logfile" \
    go build -trimpath -ldflags "-s -w" -o "$dir/pod-metrics-informer.tmp" .) || exit 1
  mv "$dir/pod-metrics-informer.tmp" "$dir/pod-metrics-informer"
  stamp "$dir" pod-metrics-informer "$informer_version" $(($(date +%s) - start)) \
    "test/cluster/informer (k8s.io/client-go, k8s.io/metrics as in its go.mod)"
}

# otelcol-test (test/exporter/otelcol): the collector core and the contrib file exporter at one
# release, v0.161.0 (core v1.67.0 modules), pinned in its go.mod/go.sum; cached, like the
# informer, under the hash of its sources.
otelcol_src=$(cd "$(dirname "$0")/../exporter" && pwd)/otelcol
otelcol_version=v0.161.0-$(cat "$otelcol_src/go.mod" "$otelcol_src/go.sum" "$otelcol_src/main.go" |
  sha256sum | cut -c1-12)
build_otelcol() {
  local dir=$cache/otelcol-test-$otelcol_version logfile start
  logfile=$logs/otelcol-test-$otelcol_version.log
  if have "$dir" otelcol-test; then
    log "otelcol-test $otelcol_version: cached"
    return
  fi
  mkdir -p "$dir"
  : >"$logfile"
  log "building otelcol-test $otelcol_version (niced; log: $logfile)"
  start=$(date +%s)
  (cd "$otelcol_src" && run_logged "go build otelcol-test" "$logfile" \
    go build -trimpath -ldflags "-s -w" -o "$dir/otelcol-test.tmp" .) || exit 1
  mv "$dir/otelcol-test.tmp" "$dir/otelcol-test"
  stamp "$dir" otelcol-test "$otelcol_version" $(($(date +%s) - start)) \
    "test/exporter/otelcol (go.opentelemetry.io/collector v0.161.0, contrib fileexporter v0.161.0)"
}

# --- etcd -----------------------------------------------------------------------------------

build_etcd() {
  if have "$etcd_dir" etcd; then
    log "etcd $etcd_ver: cached"
    return
  fi
  local logfile=$logs/etcd-$etcd_ver.log start
  : >"$logfile"
  start=$(date +%s)
  mkdir -p "$etcd_dir"
  if [ "$etcd_source" = apt ]; then
    # Unpacked, not installed: installing etcd-server would also start a system etcd daemon.
    local deb
    log "downloading Debian etcd-server with apt-get and unpacking it (log: $logfile)"
    (
      cd "$etcd_dir"
      rm -rf root ./*.deb
      run_logged "apt-get download etcd-server" "$logfile" apt-get download etcd-server
      deb=$(ls ./etcd-server_*.deb)
      run_logged "dpkg -x $deb" "$logfile" dpkg -x "$deb" root
      ln -sf root/usr/bin/etcd etcd
      rm -f ./*.deb
      deb=${deb#./etcd-server_}
      echo "${deb%_*.deb}" >version
    ) || exit 1
    stamp "$etcd_dir" etcd "debian-$(cat "$etcd_dir/version")" $(($(date +%s) - start)) "Debian etcd-server (apt-get download + dpkg -x)"
    return
  fi
  # server/go.mod carries replace directives (../api, ...), so "go install" refuses it; a wrapper
  # module that requires the server at one version builds it, its replaces being ignored.
  local wrap=$work/etcd-$etcd_ver
  log "building etcd $etcd_ver through a wrapper module in $wrap (niced; log: $logfile)"
  mkdir -p "$wrap"
  (
    cd "$wrap"
    rm -f go.mod go.sum
    go mod init local/etcdwrap >>"$logfile" 2>&1
    run_logged "go get go.etcd.io/etcd/server/v3@$etcd_ver (module proxy)" "$logfile" \
      go get "go.etcd.io/etcd/server/v3@$etcd_ver"
    run_logged "go build etcd $etcd_ver" "$logfile" \
      go build -trimpath -ldflags "-s -w" -o "$etcd_dir/etcd.tmp" go.etcd.io/etcd/server/v3
  ) || exit 1
  mv "$etcd_dir/etcd.tmp" "$etcd_dir/etcd"
  stamp "$etcd_dir" etcd "$etcd_ver" $(($(date +%s) - start)) "go.etcd.io/etcd/server/v3@$etcd_ver (wrapper module)"
}

# kwok reads its Stages, Metric and ResourceUsage objects from --config files. Copy the ones
# kwokctl uses (fast node/pod stages, heartbeat, the metrics-resource Metric and the
# usage-from-annotation ClusterResourceUsage) from the kwok module at the same version.
kwok_configs() {
  local dir=$cache/kwok-$kwok_version/config src f
  [ -f "$dir/.complete" ] && return
  src=$(go mod download -json "sigs.k8s.io/kwok@$kwok_version" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p') || src=""
  [ -n "$src" ] || die "step 'download sigs.k8s.io/kwok@$kwok_version source for its stage configs'"
  mkdir -p "$dir"
  for f in stage/node/fast/node-initialize.yaml stage/node/heartbeat/node-heartbeat.yaml \
    stage/pod/fast/pod-ready.yaml stage/pod/fast/pod-complete.yaml stage/pod/fast/pod-delete.yaml \
    metrics/resource/metrics-resource.yaml metrics/usage/usage-from-annotation.yaml; do
    [ -f "$src/kustomize/$f" ] || die "step 'kwok stage configs': $f missing in $src/kustomize"
    cp "$src/kustomize/$f" "$dir/"
  done
  chmod u+w "$dir"/*.yaml
  touch "$dir/.complete"
  log "kwok $kwok_version stage/metric configs -> $dir"
}

print_env() {
  local b key
  for b in "${k8s_bins[@]}"; do
    key=$(echo "$b" | tr 'a-z-' 'A-Z_')
    echo "$key=$cache/$b-$k8s_version/$b"
  done
  echo "KWOK=$cache/kwok-$kwok_version/kwok"
  echo "KWOK_CONFIG_DIR=$cache/kwok-$kwok_version/config"
  echo "METRICS_SERVER=$cache/metrics-server-$ms_version/metrics-server"
  echo "ETCD=$etcd_dir/etcd"
  echo "HELM=$cache/helm-$helm_version/helm"
  [ "$kubectl_prev_version" = none ] || echo "KUBECTL_PREVIOUS=$cache/kubectl-$kubectl_prev_version/kubectl"
  echo "POD_METRICS_INFORMER=$cache/pod-metrics-informer-$informer_version/pod-metrics-informer"
  if [ "${WITH_OTELCOL:-0}" = 1 ]; then
    echo "OTELCOL=$cache/otelcol-test-$otelcol_version/otelcol-test"
  fi
}

if [ "$mode" = env ]; then
  absent=0
  while IFS='=' read -r key path; do
    if ! [ -e "$path" ]; then
      echo "[build-binaries] missing $key: $path (run $0)" >&2
      absent=1
    fi
    echo "$key=$path"
  done < <(print_env)
  exit "$absent"
fi

go_ver=$(go env GOVERSION)
log "Go $go_ver, proxy $(go env GOPROXY), cache $cache"
log "versions: kubernetes $k8s_version (kubectl also $kubectl_prev_version), kwok $kwok_version, metrics-server $ms_version, etcd $etcd_ver, helm $helm_version"
total_start=$(date +%s)
build_etcd
build_go_install kwok "$kwok_version" sigs.k8s.io/kwok/cmd/kwok
kwok_configs
build_go_install metrics-server "$ms_version" sigs.k8s.io/metrics-server/cmd/metrics-server \
  "-X sigs.k8s.io/metrics-server/pkg/version.gitVersion=$ms_version"
# The version stamp as helm's Makefile sets it for a tagged release (metadata cleared).
build_go_install helm "$helm_version" helm.sh/helm/v4/cmd/helm \
  "-X helm.sh/helm/v4/internal/version.version=$helm_version -X helm.sh/helm/v4/internal/version.metadata= -X helm.sh/helm/v4/internal/version.gitTreeState=clean"
build_k8s "$k8s_version" "${k8s_bins[@]}"
# Only kubectl of the previous minor: a few minutes, where a second control plane would cost the
# whole Kubernetes build again.
[ "$kubectl_prev_version" = none ] || build_k8s "$kubectl_prev_version" kubectl
build_informer
if [ "${WITH_OTELCOL:-0}" = 1 ]; then build_otelcol; fi
log "all binaries ready ($(($(date +%s) - total_start))s this run)"
print_env
