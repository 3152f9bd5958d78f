#!/usr/bin/env bash
# A real S3 endpoint for tests: Ceph's RADOS Gateway (Debian's Ceph 16.2) on one node, nothing installed
# system-wide. See ../shared/docs/infra.md (beside the repository) ("S3: Ceph RADOS Gateway from Debian").
#
#   scripts/services/rgw.sh fetch    download + unpack the Debian packages into the cache (idempotent)
#   scripts/services/rgw.sh start    one mon + one memstore OSD + radosgw on 127.0.0.1 (idempotent)
#   scripts/services/rgw.sh stop     stop every daemon by its pid file, remove the run folder
#   scripts/services/rgw.sh status   exit 0 when running and the S3 endpoint answers, 3 otherwise
#   scripts/services/rgw.sh env      `export AWS_...` lines for `eval "$(scripts/services/rgw.sh env)"`
#
# Environment:
#   ZDE_SERVICES_CACHE   cache folder (default ~/.cache/zendesk-stream-etl); packages go to <cache>/ceph
#   ZDE_SERVICES_RUN     run folder (default /tmp/zde-services); state goes to <run>/rgw
#   ZDE_RGW_PORT         S3 port (default 7480)
#   ZDE_RGW_MON_PORT     monitor port (default 6789, messenger v1 only); the OSD binds in 6800-7300
#   ZDE_RGW_START_TIMEOUT seconds to wait for the whole start (default 120)
#   ZDE_RGW_ACCESS_KEY / ZDE_RGW_SECRET_KEY  test credentials (defaults below; not secrets)
#
# Data lives in memory (memstore): every start is a fresh, empty cluster.
set -euo pipefail

SVC_NAME=rgw
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROOT="$ZDE_SERVICES_CACHE/ceph"
RUN="$ZDE_SERVICES_RUN/rgw"
PORT="${ZDE_RGW_PORT:-7480}"
MON_PORT="${ZDE_RGW_MON_PORT:-6789}"
START_TIMEOUT="${ZDE_RGW_START_TIMEOUT:-120}"
ACCESS_KEY="${ZDE_RGW_ACCESS_KEY:-ZDETESTACCESSKEY}"
SECRET_KEY="${ZDE_RGW_SECRET_KEY:-zde-test-secret-key-not-a-secret}"
PACKAGES=(ceph-mon ceph-osd radosgw ceph-common)
RGW_NAME=client.rgw.zde
LIBDIR="$ROOT/usr/lib/x86_64-linux-gnu"
PYTHON=/usr/bin/python3

svc_check_port "$PORT" ZDE_RGW_PORT
svc_check_port "$MON_PORT" ZDE_RGW_MON_PORT
[[ "$START_TIMEOUT" =~ ^[0-9]+$ ]] || svc_die "ZDE_RGW_START_TIMEOUT must be a number of seconds"

cmd_fetch() {
  svc_fetch_debs "$ROOT" 1 "${PACKAGES[@]}"
}

require_fetched() {
  [[ -f "$ROOT/.complete" ]] || svc_die "Ceph is not fetched into $ROOT; run '$0 fetch' first"
  [[ -x "$PYTHON" ]] || svc_die "$PYTHON is required (the ceph CLI is Python; Debian's python3 package)"
}

ceph_env() {
  # Some libraries (libnl, libdevmapper-event...) ship in /lib, not /usr/lib: dpkg -x does not merge them.
  export LD_LIBRARY_PATH="$LIBDIR:$LIBDIR/ceph:$ROOT/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export PYTHONPATH="$ROOT/usr/lib/python3/dist-packages${PYTHONPATH:+:$PYTHONPATH}"
  export CEPH_CONF="$RUN/ceph.conf"
  # Ceph's Python bindings must not pick up a pyenv/venv interpreter's site-packages instead.
  unset PYTHONHOME
}

# ceph ARGS...: the ceph CLI against our mon, bounded in time.
ceph() {
  timeout 30 "$PYTHON" "$ROOT/usr/bin/ceph" -c "$RUN/ceph.conf" --connect-timeout 15 "$@"
}

# pidfiles: "<pid file> <program>" for each daemon, in stop order.
pidfiles() {
  printf '%s %s\n' "$RUN/$RGW_NAME.pid" radosgw "$RUN/osd.0.pid" ceph-osd "$RUN/mon.a.pid" ceph-mon
}

logfiles() {
  printf '%s\n' "$RUN/log/setup.log" "$RUN/log/mon.a.log" "$RUN/log/osd.0.log" "$RUN/log/$RGW_NAME.log" \
    "$RUN/log/mon.a.out" "$RUN/log/osd.0.out" "$RUN/log/$RGW_NAME.out"
}

endpoint_answers() {
  [[ "$(svc_http_status "$PORT")" =~ ^[1-5][0-9][0-9]$ ]]
}

all_running() {
  local f prog
  while read -r f prog; do svc_pid_alive "$f" "$prog" || return 1; done < <(pidfiles)
}

any_running() {
  local f prog
  while read -r f prog; do svc_pid_alive "$f" "$prog" && return 0; done < <(pidfiles)
  return 1
}

# stop_daemons: rgw, then OSD, then mon, each by its pid file.
stop_daemons() {
  local f prog
  while read -r f prog; do svc_stop_pidfile "$f" "$prog" 20 "$prog"; done < <(pidfiles)
}

DEADLINE=0
remaining() { echo $(((DEADLINE - $(svc_now_ms)) / 1000)); }

fail_start() {
  svc_log "start failed: $*"
  local f
  mapfile -t f < <(logfiles)
  svc_tail_logs "${f[@]}"
  stop_daemons || true
  # radosgw writes its pid file just after it forks: a daemon launched a moment ago may only now have one.
  sleep 1
  stop_daemons || true
  svc_die "radosgw did not come up: $* (state and logs kept in $RUN)"
}

check_deadline() {
  (( $(svc_now_ms) < DEADLINE )) || fail_start "timed out after ${START_TIMEOUT}s while $1"
}

# wait_pidfile FILE LABEL: a daemonising Ceph process writes its pid file shortly after it forks.
wait_pidfile() {
  while ! svc_pid_alive "$1"; do
    check_deadline "waiting for $2 to write $1"
    sleep 0.2
  done
}

write_conf() {
  local fsid="$1"
  cat >"$RUN/ceph.conf" <<EOF
[global]
fsid = $fsid
mon host = v1:127.0.0.1:$MON_PORT
mon initial members = a
public addr = 127.0.0.1
ms bind msgr2 = false
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
auth supported = none
run dir = $RUN
admin socket = $RUN/\$name.asok
pid file = $RUN/\$name.pid
log file = $RUN/log/\$name.log
log to stderr = false
err to stderr = false
mon cluster log file = $RUN/log/cluster.log
plugin dir = $LIBDIR/ceph
erasure code dir = $LIBDIR/ceph/erasure-code
osd class dir = $LIBDIR/rados-classes
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail warn = 1
mon data avail crit = 0
mon max pg per osd = 1000
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
osd crush update on start = false
osd class update on start = false
# The monitor batches each change for paxos_propose_interval (1 s); RGW's first start makes ~10 changes
# (pools, application tags) one after another. A single-node test cluster can propose at once.
paxos propose interval = 0.05
paxos min wait = 0.01

[mon]
mon data = $RUN/mon/\$name

[osd]
osd data = $RUN/osd/\$name
osd objectstore = memstore
memstore device bytes = 2147483648
osd max object name len = 1024
osd max object namespace len = 256

[$RGW_NAME]
rgw frontends = beast endpoint=127.0.0.1:$PORT
rgw data = $RUN/rgw
rgw thread pool size = 64
# Free deleted objects at once (default: after 2 h), or repeated runs fill the in-memory store.
rgw gc obj min wait = 0
rgw gc processor period = 10
rgw dns name = 127.0.0.1
EOF
}

# setup_log MSG: a timestamped line in the setup log.
setup_log() { printf '%s +%sms %s\n' "$(date -u +%H:%M:%S)" "$(( $(svc_now_ms) - T0 ))" "$*" >>"$RUN/log/setup.log"; }

# ceph_try ARGS...: the ceph CLI, retried. The CLI sometimes sends its first command before it has the
# monitor's map, and the monitor rejects it ("handle_command on fsid 00000000-... != <fsid>", EPERM);
# infra.md's "wrong fsid" flakiness. Every command used here is idempotent, so retrying is safe.
ceph_try() {
  local i out
  for i in 1 2 3 4 5 6 7 8; do
    setup_log "ceph $* (attempt $i)"
    if out="$(ceph "$@" 2>>"$RUN/log/setup.log")"; then
      printf '%s\n' "$out" | tee -a "$RUN/log/setup.log"
      return 0
    fi
    check_deadline "running 'ceph $*'"
    sleep 0.5
  done
  return 1
}

start_osd() {
  "$ROOT/usr/bin/ceph-osd" -c "$RUN/ceph.conf" -i 0 {SVC_LOCK_FD}>&- </dev/null >>"$RUN/log/osd.0.out" 2>&1 \
    || fail_start "ceph-osd exited with $?"
  wait_pidfile "$RUN/osd.0.pid" ceph-osd
}

osd_up() {
  local out
  out="$(ceph osd stat 2>>"$RUN/log/setup.log")" || return 1
  printf '%s\n' "$out" >>"$RUN/log/setup.log"
  [[ "$out" == *" 1 up"* ]]
}

# wait_osd_up: up to 30 s for `osd stat` to show `1 up` (fails early when the OSD process died).
wait_osd_up() {
  local t
  t="$(svc_now_ms)"
  until osd_up; do
    check_deadline "waiting for osd.0 to be up"
    svc_pid_alive "$RUN/osd.0.pid" ceph-osd || return 1
    (( $(svc_now_ms) - t < 30000 )) || return 1
    sleep 0.3
  done
}

start_rgw() {
  "$ROOT/usr/bin/radosgw" -c "$RUN/ceph.conf" -n "$RGW_NAME" {SVC_LOCK_FD}>&- </dev/null \
    >>"$RUN/log/$RGW_NAME.out" 2>&1 || fail_start "radosgw exited with $?"
  wait_pidfile "$RUN/$RGW_NAME.pid" radosgw
}

# wait_endpoint: up to 60 s for http://127.0.0.1:PORT/ to answer (fails early when radosgw died).
wait_endpoint() {
  local t
  t="$(svc_now_ms)"
  until endpoint_answers; do
    check_deadline "waiting for http://127.0.0.1:$PORT/ to answer"
    svc_pid_alive "$RUN/$RGW_NAME.pid" radosgw || return 1
    (( $(svc_now_ms) - t < 60000 )) || return 1
    sleep 0.3
  done
}

radosgw_admin() {
  local left
  left="$(remaining)"
  (( left > 5 )) || left=5
  timeout "$left" "$ROOT/usr/bin/radosgw-admin" -c "$RUN/ceph.conf" "$@"
}

create_user() {
  local i info
  for i in 1 2 3 4 5; do
    setup_log "radosgw-admin user create (attempt $i)"
    radosgw_admin user create --uid=zde-test --display-name="zendesk-stream-etl tests" \
      --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >>"$RUN/log/setup.log" 2>&1 && return 0
    # An attempt that failed after it wrote the user leaves it there: that is success too.
    info="$(radosgw_admin user info --uid=zde-test 2>>"$RUN/log/setup.log")" || info=""
    [[ "$info" == *"\"access_key\": \"$ACCESS_KEY\""* ]] && return 0
    check_deadline "creating the test user"
    sleep 0.5
  done
  return 1
}

T0=0

cmd_start() {
  require_fetched
  svc_require_cmd timeout
  svc_lock rgw
  ceph_env
  if all_running && endpoint_answers; then
    svc_log "already running on http://127.0.0.1:$PORT (state in $RUN)"
    return 0
  fi
  if any_running; then
    svc_log "found a partly running cluster in $RUN; stopping it first"
    stop_daemons
  fi
  rm -rf "$RUN"
  svc_port_free "$PORT" || svc_die "127.0.0.1:$PORT is in use by another process (set ZDE_RGW_PORT)"
  svc_port_free "$MON_PORT" || svc_die "127.0.0.1:$MON_PORT is in use by another process (set ZDE_RGW_MON_PORT)"

  T0="$(svc_now_ms)"
  DEADLINE=$((T0 + START_TIMEOUT * 1000))
  mkdir -p "$RUN/mon/mon.a" "$RUN/osd/osd.0" "$RUN/rgw" "$RUN/log"
  local fsid osd_uuid
  fsid="$(cat /proc/sys/kernel/random/uuid)"
  osd_uuid="$(cat /proc/sys/kernel/random/uuid)"
  write_conf "$fsid"

  # Monitor.
  setup_log "monitor: mkfs + start"
  "$ROOT/usr/bin/monmaptool" --create --clobber --fsid "$fsid" --addv a "[v1:127.0.0.1:$MON_PORT]" \
    "$RUN/monmap" >>"$RUN/log/setup.log" 2>&1 || fail_start "monmaptool failed"
  "$ROOT/usr/bin/ceph-mon" -c "$RUN/ceph.conf" --mkfs -i a --monmap "$RUN/monmap" \
    >>"$RUN/log/setup.log" 2>&1 || fail_start "ceph-mon --mkfs failed"
  "$ROOT/usr/bin/ceph-mon" -c "$RUN/ceph.conf" -i a {SVC_LOCK_FD}>&- </dev/null >>"$RUN/log/mon.a.out" 2>&1 \
    || fail_start "ceph-mon exited with $?"
  wait_pidfile "$RUN/mon.a.pid" ceph-mon
  until ceph mon stat >>"$RUN/log/setup.log" 2>&1; do
    check_deadline "waiting for the monitor to answer"
    svc_pid_alive "$RUN/mon.a.pid" ceph-mon || fail_start "ceph-mon exited"
    sleep 0.3
  done
  svc_log "mon up after $(( ($(svc_now_ms) - T0) / 1000 ))s"

  # OSD (memstore), placed in the crush map by hand (osd crush update on start = false).
  local id
  id="$(ceph_try osd new "$osd_uuid")" || fail_start "ceph osd new failed"
  [[ "$id" == "0" ]] || fail_start "expected OSD id 0, got '$id'"
  "$ROOT/usr/bin/ceph-osd" -c "$RUN/ceph.conf" -i 0 --mkfs --osd-uuid "$osd_uuid" \
    >>"$RUN/log/setup.log" 2>&1 || fail_start "ceph-osd --mkfs failed"
  ceph_try osd crush add-bucket zde host >/dev/null || fail_start "ceph osd crush add-bucket failed"
  ceph_try osd crush move zde root=default >/dev/null || fail_start "ceph osd crush move failed"
  ceph_try osd crush add osd.0 1.0 host=zde >/dev/null || fail_start "ceph osd crush add failed"

  local attempt up=0
  for attempt in 1 2 3; do
    setup_log "osd.0: start (attempt $attempt)"
    start_osd
    if wait_osd_up; then up=1; break; fi
    svc_log "osd.0 not up after attempt $attempt; restarting it"
    svc_stop_pidfile "$RUN/osd.0.pid" ceph-osd 20 ceph-osd
  done
  (( up )) || fail_start "osd.0 never came up"
  svc_log "osd up after $(( ($(svc_now_ms) - T0) / 1000 ))s"

  # RADOS Gateway.
  up=0
  for attempt in 1 2 3; do
    setup_log "radosgw: start (attempt $attempt)"
    start_rgw
    if wait_endpoint; then up=1; break; fi
    svc_log "radosgw not answering after attempt $attempt; restarting it"
    svc_stop_pidfile "$RUN/$RGW_NAME.pid" radosgw 20 radosgw
  done
  (( up )) || fail_start "radosgw never answered on http://127.0.0.1:$PORT/"
  create_user || fail_start "radosgw-admin user create failed"
  printf '%s\n' "$PORT" >"$RUN/port"
  setup_log "ready"
  svc_log "S3 endpoint http://127.0.0.1:$PORT ready after $(( ($(svc_now_ms) - T0) / 1000 ))s (access key $ACCESS_KEY)"
}

cmd_stop() {
  svc_lock rgw
  if [[ ! -d "$RUN" ]]; then
    svc_log "not running (no $RUN)"
    return 0
  fi
  stop_daemons
  rm -rf "$RUN"
  svc_log "stopped; removed $RUN"
}

cmd_status() {
  local f prog name state rc=0
  while read -r f prog; do
    name="$(basename "$f" .pid)"
    if svc_pid_alive "$f" "$prog"; then state="running (pid $(tr -dc '0-9' <"$f"))"; else state="not running"; rc=3; fi
    printf '%-16s %s\n' "$name" "$state"
  done < <(pidfiles)
  if endpoint_answers; then
    printf '%-16s %s\n' s3 "http://127.0.0.1:$PORT answers"
  else
    printf '%-16s %s\n' s3 "http://127.0.0.1:$PORT does not answer"
    rc=3
  fi
  return "$rc"
}

cmd_env() {
  printf 'export AWS_ENDPOINT_URL_S3=http://127.0.0.1:%s AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s AWS_REGION=us-east-1\n' \
    "$PORT" "$ACCESS_KEY" "$SECRET_KEY"
}

case "${1:-}" in
  fetch) cmd_fetch ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) cmd_env ;;
  *) echo "usage: $0 fetch|start|stop|status|env" >&2; exit 2 ;;
esac
