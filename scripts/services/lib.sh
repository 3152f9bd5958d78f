# shellcheck shell=bash
# Shared helpers for scripts/services/*.sh. Sourced, never run.
#
# Nothing here installs anything system-wide: Debian packages are fetched with `apt-get download` and
# unpacked with `dpkg -x` into a per-user cache, and daemons run from there on 127.0.0.1 only.

ZDE_SERVICES_CACHE="${ZDE_SERVICES_CACHE:-${HOME:-/tmp}/.cache/zendesk-stream-etl}"
ZDE_SERVICES_RUN="${ZDE_SERVICES_RUN:-/tmp/zde-services}"

svc_log() { printf '[%s] %s\n' "${SVC_NAME:-services}" "$*" >&2; }
svc_die() { printf '[%s] ERROR: %s\n' "${SVC_NAME:-services}" "$*" >&2; exit 1; }

# svc_now_ms: milliseconds since the epoch (bash 5 EPOCHREALTIME, no fork).
svc_now_ms() { local t="${EPOCHREALTIME//[!0-9]/}"; echo "${t:0:-3}"; }

svc_require_cmd() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || svc_die "'$c' is required but not on PATH"
  done
}

# svc_apt_lists_ready PKG...: true when apt knows a candidate version for every package.
svc_apt_lists_ready() {
  local p cand
  for p in "$@"; do
    cand="$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/{print $2}')" || cand=""
    [[ -n "$cand" && "$cand" != "(none)" ]] || return 1
  done
}

# svc_apt_update: `apt-get update`, as root or through password-less sudo.
svc_apt_update() {
  if [[ "$(id -u)" -eq 0 ]]; then
    apt-get update -qq >&2
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo -n apt-get update -qq >&2
  else
    svc_log "this user cannot run 'apt-get update'; run it once as root"
    return 1
  fi
}

# svc_ensure_apt_lists PKG...: runs `apt-get update` once when the package lists are missing.
svc_ensure_apt_lists() {
  svc_apt_lists_ready "$@" && return 0
  svc_log "apt package lists do not know $*; running apt-get update"
  svc_apt_update || svc_die "apt-get update failed; the package lists are needed to fetch $*"
  svc_apt_lists_ready "$@" || svc_die "apt still has no candidate for one of: $* (check /etc/apt/sources.list)"
}

# svc_fetch_debs DEST SIMULATE PKG...: downloads PKG... with `apt-get download` and unpacks each into DEST
# with `dpkg -x`. When SIMULATE is 1 the set is PKG... plus every package that
# `apt-get install -s --no-install-recommends PKG...` would install; when 0 it is exactly PKG....
# Idempotent: DEST/.complete marks a finished unpack and makes a second call a no-op. Concurrent calls
# are serialised with flock, and the unpack goes to a temporary folder that is renamed at the end, so a
# killed fetch never leaves a half-filled DEST behind.
svc_fetch_debs() {
  local dest="$1" simulate="$2"; shift 2
  local pkgs=("$@")
  if [[ -f "$dest/.complete" ]]; then
    svc_log "cache present: $dest"
    return 0
  fi
  svc_require_cmd apt-get apt-cache dpkg flock
  mkdir -p "$(dirname "$dest")"
  local lock="$dest.lock"
  exec {lockfd}>"$lock"
  flock "$lockfd"
  if [[ -f "$dest/.complete" ]]; then
    svc_log "cache present: $dest (filled by a concurrent fetch)"
    exec {lockfd}>&-
    return 0
  fi
  svc_ensure_apt_lists "${pkgs[@]}"

  local set=("${pkgs[@]}")
  if [[ "$simulate" == "1" ]]; then
    local sim
    sim="$(apt-get install -s --no-install-recommends "${pkgs[@]}" 2>&1)" \
      || { printf '%s\n' "$sim" | tail -20 >&2; svc_die "apt-get install -s failed for ${pkgs[*]}"; }
    mapfile -t set < <({ printf '%s\n' "${pkgs[@]}"; printf '%s\n' "$sim" | awk '/^Inst/{print $2}'; } | sort -u)
  fi

  local tmp="$dest.tmp.$$"
  rm -rf "$tmp" && mkdir -p "$tmp/debs" "$tmp/root"
  svc_log "downloading ${#set[@]} packages into $tmp/debs"
  local aptopts=(-q)
  # As root apt drops to the _apt user, who cannot write into a root-owned folder: say root is fine.
  if [[ "$(id -u)" -eq 0 ]]; then aptopts+=(-o APT::Sandbox::User=root); fi
  if ! (cd "$tmp/debs" && apt-get "${aptopts[@]}" download "${set[@]}" >&2); then
    # Stale package lists name versions the mirror no longer has (404): refresh them and retry once.
    svc_log "apt-get download failed; refreshing the package lists and retrying once"
    rm -f "$tmp"/debs/*.deb
    if ! { svc_apt_update && (cd "$tmp/debs" && apt-get "${aptopts[@]}" download "${set[@]}" >&2); }; then
      rm -rf "$tmp"
      svc_die "apt-get download failed (is Debian's package mirror reachable?)"
    fi
  fi
  local deb n=0
  : >"$tmp/root/.packages"
  for deb in "$tmp"/debs/*.deb; do
    dpkg -x "$deb" "$tmp/root" || { rm -rf "$tmp"; svc_die "dpkg -x failed for $deb"; }
    basename "$deb" >>"$tmp/root/.packages"
    n=$((n + 1))
  done
  local bytes
  bytes="$(du -cb "$tmp"/debs/*.deb | awk 'END{print $1}')"
  rm -rf "$tmp/debs"
  rm -rf "$dest"
  mv "$tmp/root" "$dest"
  rmdir "$tmp"
  date -u +%Y-%m-%dT%H:%M:%SZ >"$dest/.complete"
  svc_log "unpacked $n packages ($((bytes / 1024 / 1024)) MB of .deb) into $dest"
  exec {lockfd}>&-
}

# svc_pid_running PID: true while PID is a live process. A zombie does not count: a daemon's parent is
# init, which may reap it only later (in this sandbox, 1-2 s later).
svc_pid_running() {
  local stat
  kill -0 "$1" 2>/dev/null || return 1
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 0
  stat="${stat##*) }"
  [[ "${stat%% *}" != Z ]]
}

# svc_pid_alive PIDFILE [EXPECT]: true when PIDFILE names a live process (whose command line contains
# EXPECT, when given: a pid reused by an unrelated process does not count).
svc_pid_alive() {
  local f="$1" expect="${2:-}" pid
  [[ -s "$f" ]] || return 1
  pid="$(tr -dc '0-9' <"$f")"
  [[ -n "$pid" ]] && svc_pid_running "$pid" || return 1
  [[ -z "$expect" ]] && return 0
  local cmdline
  cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 0
  [[ "$cmdline" == *"$expect"* ]]
}

# svc_stop_pidfile PIDFILE LABEL [TIMEOUT_S] [EXPECT]: SIGTERM the process named in PIDFILE, wait for it to
# exit, SIGKILL it after TIMEOUT_S (default 20). Never kills by name. With EXPECT, a pid whose command
# line does not contain EXPECT (a stale pid file whose pid was reused) is left alone.
svc_stop_pidfile() {
  local f="$1" label="$2" timeout="${3:-20}" expect="${4:-}" pid i
  [[ -s "$f" ]] || return 0
  pid="$(tr -dc '0-9' <"$f")"
  [[ -n "$pid" ]] || return 0
  if ! svc_pid_running "$pid"; then
    rm -f "$f"
    return 0
  fi
  local cmdline=""
  if [[ -n "$expect" ]]; then cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || cmdline=""; fi
  if [[ -n "$expect" && -n "$cmdline" && "$cmdline" != *"$expect"* ]]; then
    svc_log "pid $pid from $f is not $expect (stale pid file); not killing it"
    rm -f "$f"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < timeout * 10; i++)); do
    svc_pid_running "$pid" || { rm -f "$f"; svc_log "stopped $label (pid $pid)"; return 0; }
    sleep 0.1
  done
  svc_log "$label (pid $pid) did not exit within ${timeout}s of SIGTERM; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    svc_pid_running "$pid" || { rm -f "$f"; return 0; }
    sleep 0.1
  done
  svc_die "$label (pid $pid) survived SIGKILL"
}

# svc_port_free PORT: true when nothing listens on 127.0.0.1:PORT.
svc_port_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# svc_tail_logs FILE...: the last lines of each existing log, for failure messages.
svc_tail_logs() {
  local f
  for f in "$@"; do
    [[ -f "$f" ]] || continue
    printf -- '----- last 30 lines of %s -----\n' "$f" >&2
    tail -n 30 "$f" >&2
  done
}

svc_check_port() {
  if ! [[ "$1" =~ ^[0-9]+$ ]] || (( $1 < 1 || $1 > 65535 )); then svc_die "invalid port '$1' in $2"; fi
}

# svc_http_status PORT: the HTTP status code that http://127.0.0.1:PORT/ answers, or nothing.
# Plain bash (/dev/tcp), so no curl is needed.
svc_http_status() {
  (
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf 'GET / HTTP/1.0\r\nHost: 127.0.0.1:%s\r\n\r\n' "$1" >&3
    IFS=' ' read -r -t 5 _ code _ <&3 || exit 1
    printf '%s\n' "$code"
  ) 2>/dev/null || true
}

# svc_lock NAME: an exclusive lock (held until the script exits) so that two start/stop calls for the
# same service and run folder never interleave. Daemons must not inherit the lock: start them with
# `{SVC_LOCK_FD}>&-`, or they would hold it for as long as they run.
svc_lock() {
  mkdir -p "$ZDE_SERVICES_RUN"
  exec {SVC_LOCK_FD}>"$ZDE_SERVICES_RUN/.$1.lock"
  if ! flock -w 300 "$SVC_LOCK_FD"; then svc_die "another '$1' start/stop holds $ZDE_SERVICES_RUN/.$1.lock"; fi
}
