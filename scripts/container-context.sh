#!/usr/bin/env bash
# Prepare the build context of the Containerfile: dist/src compiled from this checkout, the package files,
# and the production dependencies only: exactly the packages `npm ls --omit=dev` finds in this checkout's
# node_modules (the versions the tests ran with), copied without devDependencies. Nothing is downloaded.
#
#   bash scripts/container-context.sh [DIR]        default DIR: .tmp/container
#   podman build -f Containerfile -t zendesk-stream-etl:0.2.0 DIR          (or docker build)
#
# In CI, `npm ci --omit=dev --ignore-scripts` in DIR gives the same tree from package-lock.json.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-$ROOT/.tmp/container}"
case "$OUT" in
  /*) ;;
  *) OUT="$PWD/$OUT" ;;
esac
case "$OUT" in
  "$ROOT" | "$ROOT/" | / | "$ROOT/node_modules"* | "$ROOT/dist"* | "$ROOT/src"*)
    echo "container-context: refusing to use $OUT as the context (give a folder of its own)" >&2
    exit 2
    ;;
esac

cd "$ROOT"
npx tsc -p tsconfig.build.json
rm -rf "$OUT"
mkdir -p "$OUT/dist" "$OUT/node_modules"
cp package.json package-lock.json LICENSE README.md "$OUT/"
cp -R dist/src "$OUT/dist/src"

# Every package of the production tree, parents before their nested node_modules; not one the lock
# file does not name (extraneous: left in node_modules by an earlier install).
count=0
while IFS= read -r dir; do
  [[ "$dir" == "$ROOT" ]] && continue
  rel="${dir#"$ROOT"/}"
  [[ "$rel" == node_modules/* ]] || { echo "container-context: unexpected package path $dir" >&2; exit 1; }
  [[ -e "$OUT/$rel" ]] && continue # inside a package copied already
  mkdir -p "$(dirname "$OUT/$rel")"
  cp -R "$dir" "$OUT/$rel"
  count=$((count + 1))
done < <(npm ls --omit=dev --all --parseable --long 2>/dev/null | awk -F: '$NF != "EXTRANEOUS" { print $1 }' | LC_ALL=C sort -u)

# A package the code imports but the tree lacks fails here, not in a pod.
(cd "$OUT" && node --input-type=module -e "for (const m of ['index.js', 'cli/main.js', 'cli/commands/export.js', 'cli/commands/fleet.js', 'cli/commands/check.js', 'cli/commands/maintenance.js', 'cli/commands/stand-in.js']) await import('./dist/src/' + m);")
echo "container-context: $OUT is ready: $count packages, $(du -sh "$OUT" | cut -f1); build with: podman build -f $ROOT/Containerfile $OUT"
