#!/usr/bin/env bash
# A newcomer's install, end to end (npm run test:consumer; .ci/run runs it after npm test):
#
#  1. `npm pack` the package, as it would be published.
#  2. A fresh ESM project in a temporary folder installs the tarball, then `@duckdb/node-api` (the
#     command that `compact` and `--parquet-engine duckdb` tell users to run), then the tarball again:
#     both must stay installed, and `npm ls` must find no invalid or missing peer.
#  3. The bin works from the install: `npx zendesk-etl --help` and `--version`.
#  4. The documentation's TypeScript examples (every `ts example:*` block of README.md and docs/*.md,
#     the DuckDB reader included) are type-checked against the published .d.ts files (NodeNext,
#     strict, skipLibCheck false) and run with node, against the stand-in started from the install
#     (`zendesk-etl mock-server`), as a user's own code would import the package.
#  5. The CLI of the install writes a table with `--parquet-engine duckdb` and compacts it: DuckDB is
#     found from the package's own code.
#
# The stand-in is stopped by its pid and the temporary folder removed, whatever happens.
# Network: the npm registry (for @duckdb/node-api, typescript and @types/node), nothing else.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TICKETS=900
WORK="$(mktemp -d "${TMPDIR:-/tmp}/zde-consumer-XXXXXX")"
MOCK_PID=""

cleanup() {
  if [[ -n "$MOCK_PID" ]]; then
    kill "$MOCK_PID" 2>/dev/null || true
    wait "$MOCK_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
  echo "consumer-check: FAIL: $*" >&2
  exit 1
}

# The versions the project itself is built and tested with.
dev_version() { node -p "require('$ROOT/package.json').devDependencies['$1']"; }
TS_VERSION="$(dev_version typescript)"
NODE_TYPES_VERSION="$(dev_version @types/node)"
NPM_FLAGS=(--no-audit --no-fund --loglevel=error)

echo "--- npm pack"
(cd "$ROOT" && npm run --silent build && npm pack --ignore-scripts --silent --pack-destination "$WORK" >/dev/null)
TARBALL="$(echo "$WORK"/zendesk-stream-etl-*.tgz)"
[[ -f "$TARBALL" ]] || fail "npm pack left no tarball in $WORK"
echo "$(basename "$TARBALL"): $(tar -tzf "$TARBALL" | wc -l) files, $(du -k "$TARBALL" | cut -f1) KB"

CONSUMER="$WORK/consumer"
mkdir -p "$CONSUMER"
cd "$CONSUMER"
cat >package.json <<'EOF'
{ "name": "zde-consumer", "version": "1.0.0", "private": true, "type": "module" }
EOF

installed() { node -p "require('./node_modules/$1/package.json').version" 2>/dev/null || echo none; }
both_installed() {
  local pkg duck
  pkg="$(installed zendesk-stream-etl)"
  duck="$(installed @duckdb/node-api)"
  echo "  zendesk-stream-etl $pkg, @duckdb/node-api $duck"
  [[ "$pkg" != none ]] || fail "$1: zendesk-stream-etl is not installed"
  [[ "$duck" != none ]] || fail "$1: @duckdb/node-api is not installed"
  npm ls zendesk-stream-etl @duckdb/node-api >/dev/null || fail "$1: npm ls reports a missing or invalid dependency"
}

echo "--- npm install the tarball, then @duckdb/node-api, then the tarball again"
npm install "${NPM_FLAGS[@]}" "$TARBALL"
npm install "${NPM_FLAGS[@]}" @duckdb/node-api || fail "npm install @duckdb/node-api beside the package failed (the peer range?)"
both_installed "after npm install @duckdb/node-api"
npm install "${NPM_FLAGS[@]}" "$TARBALL"
both_installed "after installing the tarball into a project that has DuckDB"

for doc in README.md "$ROOT"/docs/*.md; do
  [[ -f "node_modules/zendesk-stream-etl/${doc#"$ROOT"/}" ]] || fail "the install lacks ${doc#"$ROOT"/}, which the README links to"
done

echo "--- the bin"
npx --no-install zendesk-etl --help >"$WORK/help.txt" || fail "npx zendesk-etl --help exited $?"
grep -q '^Usage:' "$WORK/help.txt" || fail "npx zendesk-etl --help printed no usage"
version="$(npx --no-install zendesk-etl --version)"
[[ "$version" == *"$(installed zendesk-stream-etl)"* ]] || fail "npx zendesk-etl --version printed '$version'"
echo "  npx zendesk-etl --help: ok; --version: $version"

echo "--- the documentation's examples, type-checked against the published types"
npm install "${NPM_FLAGS[@]}" --save-dev "typescript@$TS_VERSION" "@types/node@$NODE_TYPES_VERSION"
(cd "$ROOT" && node --import tsx test/support/doc-examples.ts "$CONSUMER/examples") >"$WORK/examples.txt"
cat >tsconfig.json <<'EOF'
{
  "compilerOptions": {
    "target": "ES2022", "module": "NodeNext", "moduleResolution": "NodeNext", "lib": ["ES2023"],
    "types": ["node"], "strict": true, "skipLibCheck": false, "rootDir": "examples", "outDir": "out"
  },
  "include": ["examples"]
}
EOF
npx --no-install tsc -p . || fail "the examples do not type-check in a consumer project"
echo "  $(wc -l <"$WORK/examples.txt") examples type-check: $(tr '\n' ' ' <"$WORK/examples.txt")"

echo "--- the stand-in, from the install"
exec 3< <(exec ./node_modules/.bin/zendesk-etl mock-server --tickets "$TICKETS")
MOCK_PID=$!
read -r -t 60 listening <&3 || fail "the stand-in did not start"
read -r -t 5 _ <&3 || true
read -r -t 5 creds <&3 || fail "the stand-in printed no credentials"
[[ "$listening" =~ listening\ on\ (http://[^ ]+) ]] || fail "unexpected first line from the stand-in: $listening"
MOCK_URL="${BASH_REMATCH[1]}"
[[ "$creds" =~ ZENDESK_EMAIL=([^ ]+)\ ZENDESK_API_TOKEN=([^ ]+) ]] || fail "unexpected credentials line: $creds"
export ZENDESK_BASE_URL="$MOCK_URL" ZENDESK_EMAIL="${BASH_REMATCH[1]}" ZENDESK_API_TOKEN="${BASH_REMATCH[2]}" RATE_LIMIT=0
echo "  pid $MOCK_PID at $MOCK_URL with $TICKETS tickets"

echo "--- the examples, run with node"
export LAKE_DIR="$WORK/lake"
mkdir -p "$LAKE_DIR"
while read -r example; do
  name="${example%.mts}"
  out="$(node "out/$name.mjs")" || fail "$example exited $?"
  case "$name" in
    *-export) expected="true $TICKETS" ;;
    *-custom-sink) expected="rows: $TICKETS" ;;
    *-duckdb) expected="tickets: $TICKETS" ;;
    *) expected="" ;;
  esac
  [[ -z "$expected" || "$out" == "$expected" ]] || fail "$example printed '$out', expected '$expected'"
  echo "  $example: $out"
done <"$WORK/examples.txt"

echo "--- the CLI with --parquet-engine duckdb, then compact"
DUCK_LAKE="$WORK/duck-lake"
npx --no-install zendesk-etl export tickets --base-url "$MOCK_URL" --rate-limit 0 --out "$DUCK_LAKE" --parquet-engine duckdb --per-page 100 --max-rows-per-file 200 --quiet ||
  fail "export --parquet-engine duckdb exited $?"
parquet_files() { find "$DUCK_LAKE/tickets" -name '*.parquet' -not -path '*/_staging/*' | wc -l; }
before="$(parquet_files)"
npx --no-install zendesk-etl compact "$DUCK_LAKE" --min-files 2 --quiet || fail "compact exited $?"
after="$(parquet_files)"
(( after < before )) || fail "compact left $after files of $before"
rows="$(node --input-type=module -e "
  import { DuckDBInstance } from '@duckdb/node-api';
  const c = await (await DuckDBInstance.create(':memory:')).connect();
  const r = await c.runAndReadAll(\"SELECT count(*) FROM read_parquet('$DUCK_LAKE/tickets/**/part-*.parquet', union_by_name=true)\");
  console.log(String(r.getRows()[0][0]));")"
[[ "$rows" == "$TICKETS" ]] || fail "the compacted table holds $rows rows, expected $TICKETS"
echo "  $before files written by DuckDB, compacted to $after; $rows rows read back"

kill "$MOCK_PID"
wait "$MOCK_PID" 2>/dev/null || true
MOCK_PID=""
echo "consumer-check: ok"
