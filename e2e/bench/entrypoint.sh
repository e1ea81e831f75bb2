#!/usr/bin/env bash
# Benchmark of dockyard-entrypoint on the node's real Docker engine.
#
#  exec_ms:  time from starting `dockyard-entrypoint run` (Docker already
#            answering) to the user's command running, inside a container as
#            uid 1000: two Docker pings, the user lookup, the spawn. Median of 30.
#  single_container_ratio: container start → Docker ready as the user, for the
#            single-container mode vs. the original shell entrypoint
#            (`dockerd &` then `until docker version; do sleep 1; done`), same
#            image and security settings, alternating, median of 5 each.
#
# Ends with: BENCH entrypoint exec_ms_median=<ms> single_container_ratio=<x>
# and appends that line, dated, to docs/benchmarks.md when DOCKYARD_BENCH_RECORD=1.
set -euo pipefail
E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO_DIR=$(dirname "$E2E_DIR")
source "$E2E_DIR/lib/log.sh"
STATE_DIR=${DOCKYARD_STATE_DIR:-/var/tmp/dockyard-cluster}
[[ -S $STATE_DIR/docker/docker.sock ]] || "$E2E_DIR/cluster" up --profile docker
eval "$("$E2E_DIR/cluster" env)"
DOCKER=/usr/bin/docker
"$E2E_DIR/images" build dockyard-sandbox >/dev/null
DIND_SECURITY=(--cap-add=ALL --cap-drop=SYS_RESOURCE --security-opt seccomp=unconfined
  --security-opt apparmor=unconfined --security-opt systempaths=unconfined)
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

step "exec_ms: entrypoint start → command start, Docker answering (30 runs)"
SOCK_DIR=$(dirname "$DOCKER_HOST"); SOCK_DIR=${SOCK_DIR#unix://}
GID=$(stat -c %g "${DOCKER_HOST#unix://}")
exec_samples=$("$DOCKER" run --rm --user 1000:1000 --group-add "$GID" -v "$SOCK_DIR:/var/run/dockyard" \
  --entrypoint bash dockyard-sandbox:latest -c '
  for i in $(seq 30); do
    t0=$(date +%s%N)
    t1=$(/usr/local/bin/dockyard-entrypoint run --user=dev --uid=1000 --gid=1000 \
      --docker-host=unix:///var/run/dockyard/docker.sock -- date +%s%N 2>/dev/null)
    echo $(( (t1 - t0) / 1000 ))
  done')
exec_ms=$(echo "$exec_samples" | median | awk '{printf "%.2f", $1 / 1000}')
info "median $exec_ms ms (min $(echo "$exec_samples" | sort -n | head -1) µs, max $(echo "$exec_samples" | sort -n | tail -1) µs)"

step "single-container start → Docker ready, dockyard vs. the shell entrypoint (5 runs each)"
# Both print READY as the user once `docker version` answers; the time is taken
# from `docker run` to READY on stdout (not to the container's end: shutting
# dockerd down cleanly is not part of starting).
SHELL_ENTRYPOINT='dockerd --host=unix:///var/run/docker.sock --group=2375 >/dev/null 2>&1 &
  for i in $(seq 30); do docker version >/dev/null 2>&1 && break; sleep 1; done
  su dev -c "docker version >/dev/null && echo READY"'
time_to_ready() { # time_to_ready ARGS... → milliseconds from `docker run` to READY on its stdout
  local name=dy-bench-$RANDOM t0 t1=0 line
  t0=$(date +%s%N)
  while IFS= read -r line; do
    [[ $line == *READY* ]] && { t1=$(date +%s%N); break; }
  done < <("$DOCKER" run --rm --name "$name" "${DIND_SECURITY[@]}" -v /var/lib/docker "$@" 2>/dev/null)
  "$DOCKER" rm -f "$name" >/dev/null 2>&1 || true
  ((t1 > 0)) || die "the container never printed READY: $*"
  echo $(( (t1 - t0) / 1000000 ))
}
ours=() theirs=()
for _ in 1 2 3 4 5; do
  ours+=("$(time_to_ready dockyard-sandbox:latest -- sh -c 'docker version >/dev/null && echo READY')")
  theirs+=("$(time_to_ready --entrypoint sh dockyard-sandbox:latest -c "usermod -aG \$(getent group 2375 | cut -d: -f1 || echo docker) dev 2>/dev/null; groupadd -g 2375 d2375 2>/dev/null; usermod -aG d2375 dev; $SHELL_ENTRYPOINT")")
done
ours_ms=$(printf '%s\n' "${ours[@]}" | median)
theirs_ms=$(printf '%s\n' "${theirs[@]}" | median)
ratio=$(awk -v a="$ours_ms" -v b="$theirs_ms" 'BEGIN {printf "%.2f", a / b}')
info "dockyard: ${ours[*]} ms (median $ours_ms); shell: ${theirs[*]} ms (median $theirs_ms)"

line="BENCH entrypoint exec_ms_median=$exec_ms single_container_ratio=$ratio"
{
  echo
  echo "- $(date -u +%Y-%m-%d) — \`e2e/bench/entrypoint.sh\`: exec_ms is the median of 30 runs of"
  echo "  \`dockyard-entrypoint run\` → \`date\` inside a container as uid 1000 with the node's dockerd answering;"
  echo "  the ratio is the median (5 runs each, alternating) of \`docker run\` → READY for single-container mode"
  echo "  ($ours_ms ms) over the shell entrypoint's \`dockerd &\` + 1 s polling loop ($theirs_ms ms)."
  echo "  \`$line\`"
} | record_benchmark
echo "$line"
