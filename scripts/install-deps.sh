#!/usr/bin/env bash
# Installs everything the project builds and tests with, from Debian packages.
# Safe to run again: apt-get skips what is already installed.
#   --build-only   only what building the server needs (the Dockerfile's build stage)
set -euo pipefail

build_packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates curl openssl ccache
  libboost1.81-dev libssl-dev nlohmann-json3-dev libyaml-cpp-dev libspdlog-dev libfmt-dev
)
packages=(
  "${build_packages[@]}"
  libgtest-dev libgmock-dev
  clang clang-format libfuzzer-14-dev libclang-rt-14-dev
  python3-matplotlib
  sslscan  # test/load/tls-scan.sh
  slowhttptest testssl.sh  # test/load/slowhttp.py, test/load/testssl.py
  influxdb  # test/exporter/check-influxdb.sh (a real InfluxDB 1.x on loopback)
  prometheus  # promtool check metrics; test/cluster/check-exporters.sh (a real Prometheus on loopback)
  # test/cluster/check-real-node.sh: the image (scripts/build-image.sh) and a real node
  # (test/cluster/real-node.sh: containerd 1.6, runc, CNI plugins, busybox image)
  containerd runc containernetworking-plugins buildah mmdebstrap busybox-static
)

case "${1:-}" in
  "") ;;
  --build-only) packages=("${build_packages[@]}") ;;
  *) echo "install-deps: unknown argument $1 (usage: install-deps.sh [--build-only])" >&2; exit 2 ;;
esac

sudo_cmd=()
if [ "$(id -u)" != 0 ]; then sudo_cmd=(sudo); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -q
"${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
