#!/usr/bin/env bash
# Where no registry can be reached (this sandbox reaches npm and Debian's mirror only), make a stand-in
# for the node:20 base image from this machine's own Node 20: the node binary, the libraries it links,
# /etc/passwd with root and node (uid 1000), /tmp. `podman import` makes it an image; nothing runs.
#
#   bash scripts/container-offline-base.sh [TAG]    default TAG: localhost/zendesk-etl-offline-base:node20
#
# It only lets the Containerfile be built and inspected here. Ship images built FROM the real
# docker.io/library/node:20-bookworm-slim.
set -euo pipefail

TAG="${1:-localhost/zendesk-etl-offline-base:node20}"
NODE="$(readlink -f "$(command -v node)")"
[[ "$("$NODE" -p 'process.versions.node.split(".")[0]')" == 20 ]] || { echo "container-offline-base: $NODE is not Node 20" >&2; exit 1; }
command -v podman >/dev/null || { echo "container-offline-base: podman is not installed (apt-get install podman)" >&2; exit 1; }

ROOTFS="$(mktemp -d)"
trap 'rm -rf "$ROOTFS"' EXIT
mkdir -p "$ROOTFS/usr/local/bin" "$ROOTFS/etc" "$ROOTFS/tmp" "$ROOTFS/app"
chmod 1777 "$ROOTFS/tmp"
cp "$NODE" "$ROOTFS/usr/local/bin/node"
# The libraries node links, at the paths the loader looks for them.
ldd "$NODE" | awk '/=>/ {print $3} /^\t\/lib/ {print $1}' | while read -r lib; do
  [[ -f "$lib" ]] || continue
  mkdir -p "$ROOTFS$(dirname "$lib")"
  cp -L "$lib" "$ROOTFS$lib"
done
printf 'root:x:0:0:root:/root:/bin/false\nnode:x:1000:1000::/home/node:/bin/false\n' >"$ROOTFS/etc/passwd"
printf 'root:x:0:\nnode:x:1000:\n' >"$ROOTFS/etc/group"
tar -C "$ROOTFS" -cf "$ROOTFS.tar" .
podman import --quiet --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' --change 'LABEL org.opencontainers.image.description=offline-stand-in-for-node-20' "$ROOTFS.tar" "$TAG" >/dev/null
rm -f "$ROOTFS.tar"
echo "$TAG"
