#!/usr/bin/env bash
# A real Redis 7 for tests: Debian's redis-server unpacked into a cache, nothing installed system-wide.
# See ../shared/docs/infra.md (beside the repository) ("Redis, bottleneck clustering, BullMQ").
#
#   scripts/services/redis.sh fetch    download + unpack the Debian packages into the cache (idempotent)
#   scripts/services/redis.sh start    redis-server on 127.0.0.1, no persistence (idempotent)
#   scripts/services/redis.sh stop     stop it by its pid file, remove the run folder
#   scripts/services/redis.sh status   exit 0 when running and answering PING, 3 otherwise
#   scripts/services/redis.sh env      `export ZENDESK_ETL_REDIS_URL=...` for `eval "$(... env)"`
#
# Environment:
#   ZDE_SERVICES_CACHE   cache folder (default ~/.cache/zendesk-stream-etl); packages go to <cache>/redis
#   ZDE_SERVICES_RUN     run folder (default /tmp/zde-services); state goes to <run>/redis
#   ZDE_REDIS_PORT       port (default 6390)
#   ZDE_REDIS_START_TIMEOUT seconds to wait for PONG (default 30)
set -euo pipefail

SVC_NAME=redis
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROOT="$ZDE_SERVICES_CACHE/redis"
RUN="$ZDE_SERVICES_RUN/redis"
PORT="${ZDE_REDIS_PORT:-6390}"
START_TIMEOUT="${ZDE_REDIS_START_TIMEOUT:-30}"
PACKAGES=(redis-server redis-tools libjemalloc2 liblzf1)
PIDFILE="$RUN/redis.pid"

svc_check_port "$PORT" ZDE_REDIS_PORT
[[ "$START_TIMEOUT" =~ ^[0-9]+$ ]] || svc_die "ZDE_REDIS_START_TIMEOUT must be a number of seconds"

cmd_fetch() {
  # On a Debian 12 base the simulated install adds nothing to these four; on a thinner base it would.
  svc_fetch_debs "$ROOT" 1 "${PACKAGES[@]}"
}

redis_env() {
  [[ -f "$ROOT/.complete" ]] || svc_die "Redis is not fetched into $ROOT; run '$0 fetch' first"
  export LD_LIBRARY_PATH="$ROOT/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
}

ping() {
  [[ "$(timeout 5 "$ROOT/usr/bin/redis-cli" -h 127.0.0.1 -p "$PORT" ping 2>/dev/null)" == "PONG" ]]
}

cmd_start() {
  redis_env
  svc_require_cmd timeout
  svc_lock redis
  if svc_pid_alive "$PIDFILE" redis-server && ping; then
    svc_log "already running on 127.0.0.1:$PORT (pid $(tr -dc '0-9' <"$PIDFILE"))"
    return 0
  fi
  svc_stop_pidfile "$PIDFILE" redis-server 10 redis-server
  rm -rf "$RUN"
  svc_port_free "$PORT" || svc_die "127.0.0.1:$PORT is in use by another process (set ZDE_REDIS_PORT)"
  mkdir -p "$RUN"
  local t0
  t0="$(svc_now_ms)"
  "$ROOT/usr/bin/redis-server" --bind 127.0.0.1 --port "$PORT" --save '' --appendonly no \
    --daemonize yes --pidfile "$PIDFILE" --dir "$RUN" --logfile "$RUN/redis.log" \
    {SVC_LOCK_FD}>&- </dev/null >>"$RUN/redis.out" 2>&1 || {
      svc_tail_logs "$RUN/redis.out" "$RUN/redis.log"
      svc_die "redis-server failed to start"
    }
  until svc_pid_alive "$PIDFILE" redis-server && ping; do
    if (( $(svc_now_ms) - t0 > START_TIMEOUT * 1000 )); then
      svc_tail_logs "$RUN/redis.out" "$RUN/redis.log"
      svc_stop_pidfile "$PIDFILE" redis-server 10 redis-server || true
      svc_die "redis-server did not answer PING within ${START_TIMEOUT}s (logs kept in $RUN)"
    fi
    sleep 0.1
  done
  svc_log "redis://127.0.0.1:$PORT ready after $(( $(svc_now_ms) - t0 )) ms (pid $(tr -dc '0-9' <"$PIDFILE"))"
}

cmd_stop() {
  svc_lock redis
  if [[ ! -d "$RUN" ]]; then
    svc_log "not running (no $RUN)"
    return 0
  fi
  svc_stop_pidfile "$PIDFILE" redis-server 10 redis-server
  rm -rf "$RUN"
  svc_log "stopped; removed $RUN"
}

cmd_status() {
  if svc_pid_alive "$PIDFILE" redis-server; then
    redis_env
    if ping; then
      echo "redis-server running (pid $(tr -dc '0-9' <"$PIDFILE")), redis://127.0.0.1:$PORT answers PING"
      return 0
    fi
    echo "redis-server running (pid $(tr -dc '0-9' <"$PIDFILE")) but 127.0.0.1:$PORT does not answer PING"
    return 3
  fi
  echo "redis-server not running"
  return 3
}

cmd_env() {
  printf 'export ZENDESK_ETL_REDIS_URL=redis://127.0.0.1:%s\n' "$PORT"
}

case "${1:-}" in
  fetch) cmd_fetch ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) cmd_env ;;
  *) echo "usage: $0 fetch|start|stop|status|env" >&2; exit 2 ;;
esac
