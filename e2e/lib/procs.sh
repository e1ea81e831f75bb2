# Starting and stopping the cluster's processes by pid file.
# Needs STATE_DIR. Every process gets $STATE_DIR/logs/NAME.log and
# $STATE_DIR/pids/NAME.pid; `stop_process NAME` stops exactly that pid.

# start_process NAME COMMAND...: runs COMMAND in its own session, in the background.
start_process() {
  local name=$1; shift
  mkdir -p "$STATE_DIR/logs" "$STATE_DIR/pids"
  if process_running "$name"; then
    info "$name already runs (pid $(cat "$STATE_DIR/pids/$name.pid"))"
    return 0
  fi
  setsid "$@" >>"$STATE_DIR/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$STATE_DIR/pids/$name.pid"
}

process_running() {
  local pidfile="$STATE_DIR/pids/$1.pid"
  [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

# stop_process NAME [TIMEOUT_S]: SIGTERM, then SIGKILL after TIMEOUT_S (default 10).
stop_process() {
  local name=$1 timeout=${2:-10} pidfile="$STATE_DIR/pids/$1.pid" pid
  [[ -f $pidfile ]] || return 0
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    local waited=0
    while kill -0 "$pid" 2>/dev/null && ((waited < timeout * 10)); do sleep 0.1; waited=$((waited + 1)); done
    if kill -0 "$pid" 2>/dev/null; then
      warn "$name (pid $pid) ignored SIGTERM for ${timeout}s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$pidfile"
}

# wait_for DESCRIPTION TIMEOUT_S COMMAND...: polls COMMAND every 0.2 s until it succeeds.
wait_for() {
  local what=$1 timeout=$2; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      warn "timed out after ${timeout}s waiting for $what"
      return 1
    fi
    sleep 0.2
  done
}

# show_log NAME: the tail of a process's log, for failures.
show_log() {
  local log="$STATE_DIR/logs/$1.log"
  [[ -f $log ]] && { echo "--- last lines of $log ---" >&2; tail -n 40 "$log" >&2; }
  return 0
}
