#!/usr/bin/env bash
# Builds the container image cpp-metrics-server:<version> from the Dockerfile, unchanged, and
# writes it as an OCI archive with its package list beside it.
#
#   - With a working Docker engine: docker build, then docker save.
#   - Otherwise with buildah (Debian package; installed here with apt-get when missing), as root:
#     buildah bud --isolation chroot --storage-driver vfs. The base images debian:bookworm and
#     debian:bookworm-slim cannot be pulled without a registry, so they are made from Debian
#     packages with mmdebstrap (minbase, as Debian's official images; -slim also leaves out
#     documentation, man pages and locales) and tagged under those names. They and buildah's
#     storage are cached outside the repository and reused when present.
#
# Usage: scripts/build-image.sh [TAG]          TAG defaults to the project version (CMakeLists.txt)
#
# Output (IMAGE_OUT, default build/image):
#   cpp-metrics-server_<tag>.oci.tar            OCI archive, reference cpp-metrics-server:<tag>
#   cpp-metrics-server_<tag>.packages           dpkg packages of the runtime image (name version)
#   cpp-metrics-server_<tag>.info               tag, image size, archive size, build seconds
#
# Environment:
#   IMAGE_OUT           output directory (default build/image under the repository)
#   CMS_IMAGE_CACHE     base images and buildah storage
#                       (default ${XDG_CACHE_HOME:-$HOME/.cache}/cpp-metrics-server/images)
#   DEBIAN_MIRROR       default http://deb.debian.org/debian (security: .../debian-security)
#   IMAGE_BUILDER       docker or buildah (default: docker if its engine answers, else buildah)
#   BUILD_NICE          niceness of the build (default 10)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

version=$(sed -n 's/^project(cpp-metrics-server VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
tag=${1:-$version}
[ -n "$tag" ] || { echo "build-image: no version in CMakeLists.txt and no TAG given" >&2; exit 2; }
image=cpp-metrics-server:$tag
out=${IMAGE_OUT:-$repo/build/image}
cache=${CMS_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cpp-metrics-server/images}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${DEBIAN_SECURITY_MIRROR:-${mirror%/debian}/debian-security}
nice_level=${BUILD_NICE:-10}
archive=$out/cpp-metrics-server_$tag.oci.tar
mkdir -p "$out"

log() { echo "[build-image] $*" >&2; }
die() {
  echo "[build-image] FAILED: $*" >&2
  exit 1
}

builder=${IMAGE_BUILDER:-}
if [ -z "$builder" ]; then
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then builder=docker; else builder=buildah; fi
fi
start=$(date +%s)

write_info() { # SIZE_BYTES
  local secs=$(($(date +%s) - start))
  cat >"$out/cpp-metrics-server_$tag.info" <<EOF
image=$image
builder=$builder
image_size_bytes=$1 (unpacked root file system)
archive_size_bytes=$(stat -c %s "$archive")
packages=$(wc -l <"$out/cpp-metrics-server_$tag.packages")
build_seconds=$secs
EOF
  log "$image: $(($1 / 1024 / 1024)) MiB, archive $archive, ${secs}s"
  cat "$out/cpp-metrics-server_$tag.info"
}

# --- Docker ----------------------------------------------------------------------------------
if [ "$builder" = docker ]; then
  log "docker build -t $image ."
  nice -n "$nice_level" docker build -t "$image" . || die "docker build -t $image ."
  docker save -o "$archive" "$image" || die "docker save $image"
  # Package list from the image's own dpkg database (the image has no shell to run).
  tmp=$(mktemp -d)
  cid=$(docker create "$image")
  docker cp "$cid:/var/lib/dpkg" "$tmp/dpkg" && docker rm "$cid" >/dev/null
  dpkg-query --admindir="$tmp/dpkg" -W -f '${Package} ${Version}\n' | sort \
    >"$out/cpp-metrics-server_$tag.packages"
  rm -rf "$tmp"
  write_info "$(docker image inspect -f '{{.Size}}' "$image")"
  exit 0
fi

# --- buildah ---------------------------------------------------------------------------------
[ "$(id -u)" = 0 ] || die "buildah with --isolation chroot and vfs storage needs root here"
need=()
command -v buildah >/dev/null || need+=(buildah)
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2 && apt-get install -y -q --no-install-recommends "${need[@]}" >&2 ||
    die "apt-get install ${need[*]}"
fi

mkdir -p "$cache"
runroot=$(mktemp -d "${TMPDIR:-/tmp}/cms-buildah-run.XXXXXX")
bah() { buildah --root "$cache/storage" --runroot "$runroot" --storage-driver vfs "$@"; }
containers=()
cleanup() {
  local c
  for c in "${containers[@]}"; do bah rm "$c" >/dev/null 2>&1 || true; done
  rm -rf "$runroot"
}
trap cleanup EXIT

# base_image NAME SLIM: makes debian:NAME from a cached mmdebstrap tarball unless buildah has it.
base_image() {
  local name=$1 slim=$2 rootfs=$cache/debian-$1.tar c opts=()
  if bah inspect --type image "docker.io/library/debian:$name" >/dev/null 2>&1; then
    log "debian:$name: present"
    return
  fi
  if ! [ -s "$rootfs" ]; then
    log "debian:$name: mmdebstrap --variant=minbase bookworm (log: $cache/debian-$name.log)"
    if [ "$slim" = 1 ]; then
      # What Debian's -slim images leave out (debuerreotype's slimify list).
      local p
      for p in '/usr/share/doc/*' '/usr/share/info/*' '/usr/share/linda/*' \
        '/usr/share/lintian/overrides/*' '/usr/share/locale/*' '/usr/share/man/*' \
        '/usr/share/groff/*'; do
        opts+=(--dpkgopt="path-exclude=$p")
      done
      opts+=(--dpkgopt="path-include=/usr/share/doc/*/copyright")
    fi
    # Merged /usr as Debian's images have it, without the usrmerge package (and its perl).
    nice -n "$nice_level" mmdebstrap --variant=minbase --format=tar "${opts[@]}" \
      --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
      --aptopt='Acquire::Retries "3"' bookworm "$rootfs.tmp" \
      "deb $mirror bookworm main" "deb $mirror bookworm-updates main" \
      "deb $security bookworm-security main" >"$cache/debian-$name.log" 2>&1 ||
      { tail -n 20 "$cache/debian-$name.log" >&2; die "mmdebstrap bookworm for debian:$name"; }
    mv "$rootfs.tmp" "$rootfs"
  fi
  c=$(bah from scratch) || die "buildah from scratch"
  containers+=("$c")
  bah add "$c" "$rootfs" / >/dev/null || die "buildah add $rootfs"
  bah config --cmd bash --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --os linux --arch "$(dpkg --print-architecture)" "$c" || die "buildah config debian:$name"
  bah commit --quiet "$c" "docker.io/library/debian:$name" >/dev/null ||
    die "buildah commit debian:$name"
  log "debian:$name: made from $rootfs"
}

base_image bookworm 0
base_image bookworm-slim 1

log "buildah bud --isolation chroot --storage-driver vfs -t $image (log: $out/build.log)"
if ! nice -n "$nice_level" buildah --root "$cache/storage" --runroot "$runroot" \
  bud --isolation chroot --storage-driver vfs --pull=false --layers \
  -t "$image" -f Dockerfile . >"$out/build.log" 2>&1; then
  tail -n 30 "$out/build.log" >&2
  die "buildah bud --isolation chroot --storage-driver vfs -t $image -f Dockerfile . (log: $out/build.log)"
fi

# With --layers every build leaves its steps' images behind (with vfs storage each one a full
# copy of its file system: ~1 GB per source change). Keep what this build made or reused (the
# layer cache of the next build) and the tagged images; remove the other untagged ones.
keep=$(grep -oE -- '^--> (Using cache )?[0-9a-f]{11,64}' "$out/build.log" | grep -oE '[0-9a-f]{11,64}$' || true)
pruned=0
while read -r id; do
  [ -n "$id" ] || continue
  grep -q "^${id:0:11}" <<<"$keep" && continue
  bah rmi --force "$id" >/dev/null 2>&1 && pruned=$((pruned + 1))
done < <(bah images --filter dangling=true --noheading --no-trunc --format '{{.ID}}' 2>/dev/null |
  sed 's/^sha256://')
[ "$pruned" = 0 ] || log "removed $pruned untagged images of earlier builds"

rm -f "$archive"
bah push --quiet "$image" "oci-archive:$archive:$image" >/dev/null || die "buildah push oci-archive"

# Package list, read from the image's own dpkg database (the image has no shell to run).
c=$(bah from --pull=false "$image") || die "buildah from $image"
containers+=("$c")
mnt=$(bah mount "$c") || die "buildah mount"
dpkg-query --admindir="$mnt/var/lib/dpkg" -W -f '${Package} ${Version}\n' | sort \
  >"$out/cpp-metrics-server_$tag.packages"
# Image size = its unpacked root file system.
size=$(du -sb "$mnt" | cut -f1)
bah umount "$c" >/dev/null
write_info "$size"
