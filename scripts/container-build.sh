#!/usr/bin/env bash
# Build the image: prepare the context (scripts/container-context.sh), then podman build.
#
#   bash scripts/container-build.sh [TAG]                      FROM docker.io/library/node:20-bookworm-slim
#   ZDE_OFFLINE_BASE=1 bash scripts/container-build.sh [TAG]   FROM a stand-in made from this machine's node
#                                                              (scripts/container-offline-base.sh)
# Then: podman image inspect TAG, podman run --rm TAG --version (where containers can run).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION="$(node -p "require('$ROOT/package.json').version")"
TAG="${1:-localhost/zendesk-stream-etl:$VERSION}"
CONTEXT="${ZDE_CONTAINER_CONTEXT:-$ROOT/.tmp/container}"

bash "$ROOT/scripts/container-context.sh" "$CONTEXT"
args=()
if [[ "${ZDE_OFFLINE_BASE:-0}" == 1 ]]; then
  args+=(--build-arg "BASE=$(bash "$ROOT/scripts/container-offline-base.sh")")
fi
podman build --quiet -f "$ROOT/Containerfile" -t "$TAG" "${args[@]}" "$CONTEXT" >/dev/null
echo "$TAG"
