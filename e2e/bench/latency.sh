#!/usr/bin/env bash
# Latency from `kubectl apply` to Ready on the real node, images already
# loaded, median of 5 runs, against the floor: a plain Pod with the same images
# and the same shape (the DinD sidecar as a native sidecar with the same startup
# probe, the workload), started with kubectl and waited for the same way.
#
# For both Docker modes: DinD, and brokered host socket (the floor Pod keeps the
# sandbox labels, so the node agent serves it a broker socket as it would the
# sandbox's own Pod).
#
# And a DinD sandbox from a warm pool (SandboxPool): apply to Ready (on a watch
# connected before the apply), to `kubectl wait` returning, and to `docker run`
# done in it.
#
# Ends with one line per mode, appended to docs/benchmarks.md when DOCKYARD_BENCH_RECORD=1:
#   BENCH e2e mode=<dind|hostSocket> apply_to_ready_s=<s> floor_s=<s> ratio=<x>
#   BENCH e2e mode=dind-warm apply_to_ready_s=<s> apply_wait_s=<s> docker_run_s=<s> kubectl_floor_s=<s>
set -euo pipefail
E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO_DIR=$(dirname "$E2E_DIR")
source "$E2E_DIR/lib/log.sh"
source "$E2E_DIR/lib/chart-values.sh"
"$E2E_DIR/cluster" up --profile node >/dev/null
eval "$("$E2E_DIR/cluster" env)"
IMAGES=("${DOCKYARD_IMAGES[@]}")
"$E2E_DIR/images" build "${IMAGES[@]}" >/dev/null
"$E2E_DIR/images" load dockyard/busybox:1 "${IMAGES[@]/%/:latest}" >/dev/null 2>&1
install_dockyard
NS=latency-bench
kubectl create namespace "$NS" >/dev/null 2>&1 || true
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
now_ms() { local t=${EPOCHREALTIME/./}; echo $(( t / 1000 )); }

# The default class, for the floor's render; outside the repository.
CLASS_FILE=$(mktemp --suffix=.class.yaml)
kubectl get sandboxclass default -o yaml >"$CLASS_FILE"

# measure MODE EXAMPLE SANDBOX: 5 alternating runs of the sandbox and its floor.
measure() {
  local mode=$1 example=$2 name=$3
  # The floor: the Pod the controller renders, minus the controller (same images,
  # init containers, probes), created directly (brokered: without its broker).
  (cd "$REPO_DIR" && cargo run -q -p dockyard-api --bin dockyard-render -- "$example" \
    --namespace "$NS" --class "$CLASS_FILE") 2>/dev/null |
    FLOOR_MODE="$mode" python3 -c 'import os, sys, yaml
docs = list(yaml.safe_load_all(sys.stdin)); pod = docs[0]
pod["metadata"].pop("ownerReferences", None); pod["metadata"]["name"] = "floor"
pod["metadata"]["labels"] = {"bench": "floor"}
if os.environ["FLOOR_MODE"] == "hostSocket":
    # The agent serves a broker only for a Sandbox'"'"'s own Pod (its controller
    # reference, which only the controller may write): the floor has no broker,
    # so its socket volume is empty and no probe waits for Docker. It is the
    # Pod'"'"'s start alone, a lower floor than the DinD one.
    for v in pod["spec"]["volumes"]:
        if v["name"] == "docker-socket":
            v.pop("csi", None)
            v["emptyDir"] = {}
    for c in pod["spec"]["containers"] + pod["spec"].get("initContainers", []):
        c.pop("readinessProbe", None)
        c.pop("startupProbe", None)
        # The entrypoint would wait for a Docker that is not there.
        c["command"] = [a for a in c.get("command", []) if not a.startswith(("--docker-host", "--docker-timeout"))]
print(yaml.safe_dump(pod))' >"$NS.floor.yaml" 2>/dev/null || die "cannot render the floor pod (needs python3-yaml)"
  ours=() floor=()
  for run in 1 2 3 4 5; do
    t0=$(now_ms)
    kubectl -n "$NS" apply -f "$REPO_DIR/$example" >/dev/null
    kubectl -n "$NS" wait "sandbox/$name" --for=condition=Ready --timeout=180s >/dev/null
    ours+=("$(( $(now_ms) - t0 ))")
    kubectl -n "$NS" delete sandbox "$name" --wait=true >/dev/null
    kubectl -n "$NS" wait "pod/sbx-$name" --for=delete --timeout=60s >/dev/null 2>&1 || true

    t0=$(now_ms)
    kubectl -n "$NS" apply -f "$NS.floor.yaml" >/dev/null
    kubectl -n "$NS" wait pod/floor --for=condition=Ready --timeout=180s >/dev/null
    floor+=("$(( $(now_ms) - t0 ))")
    kubectl -n "$NS" delete pod floor --wait=true >/dev/null
    info "$mode run $run: sandbox ${ours[-1]} ms, plain pod ${floor[-1]} ms"
  done
  rm -f "$NS.floor.yaml"
  local o f line
  o=$(printf '%s\n' "${ours[@]}" | median); f=$(printf '%s\n' "${floor[@]}" | median)
  line=$(awk -v m="$mode" -v o="$o" -v f="$f" 'BEGIN {printf "BENCH e2e mode=%s apply_to_ready_s=%.2f floor_s=%.2f ratio=%.2f", m, o/1000, f/1000, o/f}')
  {
    echo
    echo "- $(date -u +%Y-%m-%d) — \`e2e/bench/latency.sh\` on the real node (images loaded): \`kubectl apply\` of"
    echo "  $example → \`kubectl wait --for=condition=Ready\`, vs. the same rendered Pod applied directly"
    echo "  and waited for Ready; median of 5 alternating runs (sandbox: ${ours[*]} ms; plain pod: ${floor[*]} ms)."
    echo "  \`$line\`"
  } | record_benchmark
  echo "$line"
}

# watch_ready NAME LOG: a watch of Sandbox NAME's Ready status, connected when
# this returns; each event a line "<ms> <status>" in LOG. Prints the watch's pid.
watch_ready() {
  local name=$1 log=$2 fifo requests
  fifo=$(mktemp -u) requests=$(mktemp)
  mkfifo "$fifo"
  # -v=6 logs the watch request once its answer begins: the watch is connected.
  kubectl -n "$NS" get sandboxes --watch --field-selector "metadata.name=$name" -v=6 \
    -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}{"\n"}' >"$fifo" 2>"$requests" &
  local pid=$!
  while read -r status; do echo "$(now_ms) $status"; done <"$fifo" >"$log" &
  local deadline=$(( $(now_ms) + 30000 ))
  until grep -q 'watch=true.*200 OK' "$requests"; do
    (( $(now_ms) < deadline )) && kill -0 "$pid" 2>/dev/null || { cat "$requests" >&2; die "cannot watch sandbox $name"; }
    sleep 0.02
  done
  rm -f "$fifo" "$requests"
  echo "$pid"
}

# measure_warm: a DinD sandbox from a warm pool. Before each run's clock the
# pool is full (its warm Pods' dockerd answering) and the busybox image is
# loaded into each warm Pod's daemon (what an image preload does; there is no
# registry here), and a watch of the Sandbox is connected. On the clock:
# `kubectl apply` of a Sandbox naming the pool → Ready on that watch
# (apply_to_ready_s) and `kubectl wait --for=condition=Ready` returning
# (apply_wait_s: a script's view, with a second kubectl's start), then
# `docker run` in it as its user (docker_run_s).
measure_warm() {
  local spec runs=() wait_runs=() docker_runs=() kubectl_runs=() pod t0 t1 watch_log watcher ready_at
  spec=$(sed -n '/^spec:/,$p' "$REPO_DIR/examples/sandbox-dind.yaml" | tail -n +2)
  printf 'apiVersion: dockyard.dev/v1alpha1\nkind: SandboxPool\nmetadata: {name: warm}\nspec:\n  size: 2\n  template:\n%s\n' \
    "$(sed 's/^/  /' <<<"$spec")" | kubectl -n "$NS" apply -f - >/dev/null
  printf 'apiVersion: dockyard.dev/v1alpha1\nkind: Sandbox\nmetadata: {name: warm-demo}\nspec:\n  poolName: warm\n%s\n' \
    "$spec" >"$NS.warm.yaml"
  watch_log=$(mktemp)
  for run in 1 2 3 4 5; do
    kubectl -n "$NS" wait sandboxpool/warm --for=condition=Ready --timeout=300s >/dev/null || die "the pool did not fill"
    for pod in $(kubectl -n "$NS" get pods -l 'dockyard.dev/pool=warm,app.kubernetes.io/component=warm' -o name); do
      /usr/bin/docker save dockyard/busybox:1 | kubectl -n "$NS" exec -i "$pod" -c workload -- docker load >/dev/null 2>&1
    done
    watcher=$(watch_ready warm-demo "$watch_log")
    t0=$(now_ms)
    kubectl -n "$NS" apply -f "$NS.warm.yaml" >/dev/null
    kubectl -n "$NS" wait sandbox/warm-demo --for=condition=Ready --timeout=180s >/dev/null
    t1=$(now_ms)
    pod=$(kubectl -n "$NS" get sandbox warm-demo -o jsonpath='{.status.podName}')
    kubectl -n "$NS" exec "$pod" -c workload -- docker run --rm dockyard/busybox:1 true >/dev/null ||
      die "docker run failed in the claimed Pod $pod"
    docker_runs+=("$(( $(now_ms) - t0 ))")
    # Not this shell's child (watch_ready ran in a subshell): killed, not waited for.
    kill "$watcher" 2>/dev/null || true
    ready_at=$(awk '$2 == "True" {print $1; exit}' "$watch_log")
    [[ -n $ready_at ]] || die "run $run: the watch did not see sandbox warm-demo Ready"
    runs+=("$(( ready_at - t0 ))") wait_runs+=("$(( t1 - t0 ))")
    [[ $(kubectl -n "$NS" get sandbox warm-demo -o jsonpath='{.status.warmStart.claimed}') == true ]] ||
      die "run $run was not served from the pool"
    kubectl -n "$NS" delete sandbox warm-demo --wait=true >/dev/null
    # What two kubectl processes cost alone: an apply and a wait for an object
    # that is there at once.
    t0=$(now_ms)
    kubectl -n "$NS" create configmap "kubectl-floor-$run" >/dev/null
    kubectl -n "$NS" wait "configmap/kubectl-floor-$run" --for=create --timeout=30s >/dev/null
    kubectl_runs+=("$(( $(now_ms) - t0 ))")
    info "dind-warm run $run: Ready ${runs[-1]} ms after apply (kubectl wait returned at ${wait_runs[-1]} ms), docker run answered at ${docker_runs[-1]} ms (two kubectl alone: ${kubectl_runs[-1]} ms)"
  done
  kubectl -n "$NS" delete sandboxpool warm --wait=true >/dev/null
  rm -f "$NS.warm.yaml" "$watch_log"
  local r w d k line
  r=$(printf '%s\n' "${runs[@]}" | median); w=$(printf '%s\n' "${wait_runs[@]}" | median)
  d=$(printf '%s\n' "${docker_runs[@]}" | median); k=$(printf '%s\n' "${kubectl_runs[@]}" | median)
  line=$(awk -v r="$r" -v w="$w" -v d="$d" -v k="$k" 'BEGIN {printf "BENCH e2e mode=dind-warm apply_to_ready_s=%.2f apply_wait_s=%.2f docker_run_s=%.2f kubectl_floor_s=%.2f", r/1000, w/1000, d/1000, k/1000}')
  {
    echo
    echo "- $(date -u +%Y-%m-%d) — \`e2e/bench/latency.sh\` on the real node: a SandboxPool of two DinD sandboxes"
    echo "  (examples/sandbox-dind.yaml's spec) full, busybox loaded into its warm Pods' daemons and a watch of the"
    echo "  Sandbox connected before the clock; \`kubectl apply\` of a Sandbox naming the pool → Ready on that watch"
    echo "  (apply_to_ready_s), \`kubectl wait --for=condition=Ready\` returned (apply_wait_s), then"
    echo "  \`kubectl exec … docker run --rm dockyard/busybox:1 true\` done (docker_run_s, from the apply); median of 5"
    echo "  runs (Ready: ${runs[*]} ms; wait: ${wait_runs[*]} ms; docker run: ${docker_runs[*]} ms). kubectl_floor_s:"
    echo "  \`kubectl create configmap\` + \`kubectl wait --for=create\` of it, what two kubectl processes cost alone (${kubectl_runs[*]} ms)."
    echo "  \`$line\`"
  } | record_benchmark
  echo "$line"
}

measure dind examples/sandbox-dind.yaml dind-demo
measure hostSocket examples/sandbox-host-socket.yaml host-socket-demo
measure_warm
rm -f "$CLASS_FILE"
kubectl delete namespace "$NS" --wait=false >/dev/null
