#!/usr/bin/env bash
# Makes the serving certificate the aggregator can verify, with OpenSSL only:
#   ca.crt, ca.key    a CA (kept out of the cluster; reuse it to re-issue, or pass --new-ca)
#   tls.crt, tls.key  a serving certificate signed by it, SANs <service>, <service>.<namespace>,
#                     <service>.<namespace>.svc (the name the aggregator checks) and
#                     <service>.<namespace>.svc.<cluster-domain>
#   secret.yaml       Secret <secret> (tls.crt, tls.key, ca.crt) in <namespace>
#   apiservice.yaml   APIService v1beta1.metrics.k8s.io with caBundle = base64(ca.crt)
#   apiservice-v1.yaml APIService v1.metrics.k8s.io, the same with version v1
#
# Usage: certs/gen-certs.sh [--out DIR] [--namespace NS] [--service NAME] [--secret NAME]
#                           [--days N] [--cluster-domain D] [--new-ca]
#                           [--ca-cert FILE --ca-key FILE] [--extra-sans LIST]
# Every option also reads an environment variable: OUT_DIR, NAMESPACE, SERVICE, SECRET_NAME,
# DAYS, CLUSTER_DOMAIN, NEW_CA=1, CA_CERT, CA_KEY, EXTRA_SANS. Defaults: ./cpp-metrics-server-certs,
# kube-system, cpp-metrics-server, cpp-metrics-server-tls, 365, cluster.local.
# --ca-cert/--ca-key: sign with an existing CA (copied to <out>/ca.crt, ca.key) instead of
# making one. --extra-sans: more subjectAltName entries, OpenSSL syntax
# (e.g. DNS:localhost,IP:127.0.0.1).
#
# Rotation: run it again with the same --out. The CA is kept (so the APIService caBundle stays
# valid) and a new serving certificate is issued; `kubectl apply -f <out>/secret.yaml` updates
# the Secret, the kubelet swaps the mounted files and the server reloads them (checked every
# 10 s), no restart. With --new-ca, ca.crt in the Secret and the caBundle change too: apply
# apiservice*.yaml right after the Secret.
set -euo pipefail

out=${OUT_DIR:-cpp-metrics-server-certs}
ns=${NAMESPACE:-kube-system}
svc=${SERVICE:-cpp-metrics-server}
secret=${SECRET_NAME:-cpp-metrics-server-tls}
days=${DAYS:-365}
domain=${CLUSTER_DOMAIN:-cluster.local}
new_ca=${NEW_CA:-0}
ca_cert=${CA_CERT:-}
ca_key=${CA_KEY:-}
extra_sans=${EXTRA_SANS:-}

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
  exit "${1:-0}"
}
while [ $# -gt 0 ]; do
  case $1 in
    --out) out=$2; shift 2 ;;
    --namespace) ns=$2; shift 2 ;;
    --service) svc=$2; shift 2 ;;
    --secret) secret=$2; shift 2 ;;
    --days) days=$2; shift 2 ;;
    --cluster-domain) domain=$2; shift 2 ;;
    --new-ca) new_ca=1; shift ;;
    --ca-cert) ca_cert=$2; shift 2 ;;
    --ca-key) ca_key=$2; shift 2 ;;
    --extra-sans) extra_sans=$2; shift 2 ;;
    -h | --help) usage 0 ;;
    *) echo "gen-certs: unknown argument $1" >&2; usage 2 >&2 ;;
  esac
done

command -v openssl >/dev/null || { echo "gen-certs: openssl not found" >&2; exit 1; }
mkdir -p "$out"
umask 077
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ -n "$ca_cert" ] || [ -n "$ca_key" ]; then
  if [ ! -s "$ca_cert" ] || [ ! -s "$ca_key" ]; then
    echo "gen-certs: need both --ca-cert and --ca-key (readable files)" >&2
    exit 2
  fi
  cp "$ca_cert" "$tmp/ca.crt"
  cp "$ca_key" "$tmp/ca.key"
  mv "$tmp/ca.key" "$out/ca.key"
  mv "$tmp/ca.crt" "$out/ca.crt"
elif [ "$new_ca" = 1 ] || [ ! -s "$out/ca.crt" ] || [ ! -s "$out/ca.key" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 \
    -days $((days * 10)) -subj "/CN=${svc}-ca@$(date +%s)" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$tmp/ca.key" -out "$tmp/ca.crt" 2>/dev/null
  mv "$tmp/ca.key" "$out/ca.key"
  mv "$tmp/ca.crt" "$out/ca.crt"
  echo "gen-certs: new CA $out/ca.crt"
fi

cat >"$tmp/ext.cnf" <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:${svc},DNS:${svc}.${ns},DNS:${svc}.${ns}.svc,DNS:${svc}.${ns}.svc.${domain}${extra_sans:+,$extra_sans}
EOF
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 \
  -subj "/CN=${svc}.${ns}.svc" -keyout "$tmp/tls.key" -out "$tmp/tls.csr" 2>/dev/null
openssl x509 -req -in "$tmp/tls.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" -CAcreateserial \
  -CAserial "$tmp/ca.srl" -sha256 -days "$days" -extfile "$tmp/ext.cnf" \
  -out "$tmp/tls.crt" 2>/dev/null
openssl verify -CAfile "$out/ca.crt" "$tmp/tls.crt" >/dev/null
# The key first: a reader that sees the new certificate also finds its key.
mv "$tmp/tls.key" "$out/tls.key"
mv "$tmp/tls.crt" "$out/tls.crt"

b64() { base64 -w0 <"$1"; }
ca_b64=$(b64 "$out/ca.crt")
cat >"$out/secret.yaml" <<EOF
# Serving certificate of ${svc} (certs/gen-certs.sh). Not for version control.
apiVersion: v1
kind: Secret
metadata:
  name: ${secret}
  namespace: ${ns}
  labels: {app.kubernetes.io/name: cpp-metrics-server}
type: kubernetes.io/tls
data:
  tls.crt: $(b64 "$out/tls.crt")
  tls.key: $(b64 "$out/tls.key")
  ca.crt: ${ca_b64}
EOF
for version in v1beta1 v1; do
  file=$out/apiservice.yaml
  priority=100
  if [ "$version" = v1 ]; then
    file=$out/apiservice-v1.yaml
    priority=200
  fi
  cat >"$file" <<EOF
# metrics.k8s.io/${version} served by ${ns}/${svc}, verified against the CA in ca.crt.
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: ${version}.metrics.k8s.io
  labels: {app.kubernetes.io/name: cpp-metrics-server}
spec:
  group: metrics.k8s.io
  version: ${version}
  groupPriorityMinimum: 100
  versionPriority: ${priority}
  caBundle: ${ca_b64}
  service:
    name: ${svc}
    namespace: ${ns}
    port: 443
EOF
done
chmod 644 "$out/ca.crt" "$out/tls.crt" "$out/apiservice.yaml" "$out/apiservice-v1.yaml"
echo "gen-certs: $out/{tls.crt,tls.key,ca.crt,secret.yaml,apiservice.yaml,apiservice-v1.yaml}" \
  "for ${svc}.${ns}.svc, valid ${days} days"
