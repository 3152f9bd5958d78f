#!/usr/bin/env bash
# libfaketime for clock-skew tests: Debian's package unpacked into a cache, nothing installed system-wide.
# A process run with LD_PRELOAD=<lib> FAKETIME=+200s DONT_FAKE_MONOTONIC=1 sees a wall clock 200 s
# ahead (its timers, on the monotonic clock, run as usual): another host whose clock is off.
#
#   scripts/services/faketime.sh fetch   download + unpack the package into the cache (idempotent)
#   scripts/services/faketime.sh lib     print the path of the preload library (fetching first if needed)
#
# Environment: ZDE_SERVICES_CACHE (default ~/.cache/zendesk-stream-etl); the package goes to <cache>/faketime
set -euo pipefail

SVC_NAME=faketime
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROOT="$ZDE_SERVICES_CACHE/faketime"
LIB="$ROOT/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"

cmd_fetch() { svc_fetch_debs "$ROOT" 0 libfaketime; }

case "${1:-}" in
  fetch) cmd_fetch ;;
  lib)
    cmd_fetch >/dev/null 2>&1 || cmd_fetch
    [[ -f "$LIB" ]] || svc_die "no $LIB after the fetch"
    echo "$LIB"
    ;;
  *) echo "usage: $0 fetch|lib" >&2; exit 2 ;;
esac
