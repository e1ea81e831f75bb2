#!/usr/bin/env bash
# Day two on the real node: what a platform engineer does to Dockyard must
# never touch a running sandbox.
#   - `helm upgrade` with new entrypoint and DinD images and changed values,
#     while a DinD and a brokered sandbox run: their Pods keep their UIDs, a
#     process started inside keeps running, they stay Ready throughout, they
#     say an update is pending; a Sandbox created afterwards gets the new images;
#     the default class is changed in place, never re-created;
#   - `helm uninstall` then `helm install`: the CRDs, the Sandboxes and their
#     running Pods stay, and are adopted;
#   - two controller replicas: the rollout completes, and killing the leader
#     fails over (the time it takes is printed, BENCH line);
#   - a node without a Docker daemon: the agent stays ready, DinD sandboxes run,
#     host-socket ones wait for a node whose daemon answers (its label).
set -euo pipefail
E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO_DIR=$(dirname "$E2E_DIR")
source "$E2E_DIR/lib/log.sh"
source "$E2E_DIR/lib/checks.sh"
source "$E2E_DIR/lib/chart-values.sh"

start_node_with_images
NS=e2e-day-two
DOCKER=/usr/bin/docker # the node's dockerd, raw (DOCKER_HOST from `cluster env`)
dump() {
  kubectl -n "$NS" get sandboxes,pods -o wide >&2 || true
  kubectl -n "$NS" describe sandbox "$1" >&2 || true
  kubectl -n dockyard-system get pods -o wide >&2 || true
  kubectl -n dockyard-system logs deploy/dockyard-controller --tail=30 >&2 || true
}
uid_of() { kubectl -n "$NS" get pod "sbx-$1" -o jsonpath='{.metadata.uid}' 2>/dev/null; }
ready_of() { kubectl -n "$NS" get sandbox "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null; }
condition_of() { # NAME TYPE: "status reason"
  kubectl -n "$NS" get sandbox "$1" -o jsonpath="{.status.conditions[?(@.type==\"$2\")].status} {.status.conditions[?(@.type==\"$2\")].reason}" 2>/dev/null
}
x() { local name=$1; shift; kubectl -n "$NS" exec -i "sbx-$name" -c workload -- "$@"; }
# watch_ready NAME...: until killed, records every moment a Sandbox is not Ready (or its Pod changes) in $1.log.
watch_ready() {
  local log=$1; shift
  local -A uids=()
  for name in "$@"; do uids[$name]=$(uid_of "$name"); done
  while :; do
    for name in "$@"; do
      [[ $(ready_of "$name") == True ]] || echo "$(date +%T) $name not Ready" >>"$log"
      [[ $(uid_of "$name") == "${uids[$name]}" ]] || echo "$(date +%T) $name has another Pod" >>"$log"
    done
    sleep 1
  done
}

step "helm install; a DinD and a brokered sandbox, each running a process"
install_dockyard
kubectl create namespace "$NS" >/dev/null
kubectl -n "$NS" apply -f "$REPO_DIR/examples/sandbox-dind.yaml" -f "$REPO_DIR/examples/sandbox-host-socket.yaml" >/dev/null
for name in dind-demo host-socket-demo; do
  kubectl -n "$NS" wait "sandbox/$name" --for=condition=Ready --timeout=180s >/dev/null || dump "$name"
  x "$name" sh -c 'echo kept > /workspace/day-two.txt; nohup sleep 86400 >/dev/null 2>&1 & echo $! > /workspace/day-two.pid'
done
"$DOCKER" save dockyard/busybox:1 | x dind-demo docker load >/dev/null
x dind-demo docker run -d --name day-two dockyard/busybox:1 sleep 86400 >/dev/null
x host-socket-demo docker run -d --name day-two dockyard/busybox:1 sleep 86400 >/dev/null
dind_uid=$(uid_of dind-demo) hs_uid=$(uid_of host-socket-demo)
class_uid=$(kubectl get sandboxclass default -o jsonpath='{.metadata.uid}')
[[ -n $dind_uid && -n $hs_uid && -n $class_uid ]] && pass "both Ready, each running a process and a container" ||
  fail "not both running (dind $dind_uid, host-socket $hs_uid, class $class_uid)"

step "helm upgrade: new entrypoint and DinD images, changed class values"
"$DOCKER" tag dockyard-entrypoint:latest dockyard-entrypoint:next
"$DOCKER" tag dockyard-dind:latest dockyard-dind:next
"$E2E_DIR/images" load dockyard-entrypoint:next dockyard-dind:next >/dev/null 2>&1
watch_log=$(mktemp)
watch_ready "$watch_log" dind-demo host-socket-demo &
watcher=$!
upgraded=(--set sandbox.entrypointImage=dockyard-entrypoint:next --set sandbox.dindImage=dockyard-dind:next
  --set defaultClass.broker.pidsLimit=2048)
install_dockyard "${upgraded[@]}"
kubectl -n dockyard-system rollout status deploy/dockyard-controller --timeout=120s >/dev/null
kubectl -n dockyard-system rollout status ds/dockyard-agent --timeout=120s >/dev/null
for name in dind-demo host-socket-demo; do
  kubectl -n "$NS" wait "sandbox/$name" --for=jsonpath='{.status.conditions[?(@.type=="UpToDate")].reason}'=UpdatePending \
    --timeout=60s >/dev/null || true
done
sleep 5
kill "$watcher" 2>/dev/null || true
wait "$watcher" 2>/dev/null || true
[[ $(uid_of dind-demo) == "$dind_uid" && $(uid_of host-socket-demo) == "$hs_uid" ]] &&
  pass "both Pods kept their UIDs" || fail "a Pod was replaced by the upgrade"
[[ ! -s $watch_log ]] && pass "both stayed Ready throughout the upgrade (checked every second)" ||
  fail "not Ready during the upgrade: $(sort -u "$watch_log" | head -5)"
for name in dind-demo host-socket-demo; do
  out=$(x "$name" sh -c 'kill -0 "$(cat /workspace/day-two.pid)" && cat /workspace/day-two.txt' 2>&1 || true)
  expect "$name: the process started before the upgrade runs, its workspace kept" "$out" "kept"
  out=$(condition_of "$name" UpToDate)
  expect "$name: says an update is pending" "$out" "False UpdatePending"
done
out=$(x dind-demo docker ps --filter name=day-two --format '{{.Status}}' 2>&1 || true)
expect "the DinD sandbox's container runs on" "$out" "Up"
out=$(x host-socket-demo docker ps --filter name=day-two --format '{{.Status}}' 2>&1 || true)
expect "the brokered sandbox's container runs on, its broker serves again" "$out" "Up"
[[ $(kubectl get sandboxclass default -o jsonpath='{.metadata.uid}') == "$class_uid" ]] &&
  pass "the default class was changed in place, not re-created" || fail "the default class was re-created"
out=$(kubectl get sandboxclass default -o jsonpath='{.spec.broker.pidsLimit}')
[[ $out == 2048 ]] && pass "... with the new values (broker.pidsLimit 2048)" || fail "default class pidsLimit: $out"
cat <<YAML | kubectl -n "$NS" apply -f - >/dev/null
apiVersion: dockyard.dev/v1alpha1
kind: Sandbox
metadata: {name: after-upgrade}
spec: {image: dockyard-sandbox:latest, imagePullPolicy: IfNotPresent, user: {name: dev}, docker: {dind: {storage: {size: 1Gi}}}}
YAML
kubectl -n "$NS" wait sandbox/after-upgrade --for=condition=Ready --timeout=180s >/dev/null || dump after-upgrade
out=$(kubectl -n "$NS" get pod sbx-after-upgrade -o jsonpath='{.spec.initContainers[*].image}')
expect "a Sandbox created after the upgrade gets the new images" "$out" "dockyard-entrypoint:next" "dockyard-dind:next"
out=$(condition_of after-upgrade UpToDate)
expect "... and is up to date" "$out" "True UpToDate"
kubectl -n "$NS" delete sandbox after-upgrade --wait=true --timeout=90s >/dev/null

step "helm uninstall, then helm install: the Sandboxes and their data stay, and are adopted"
helm uninstall dockyard -n dockyard-system --wait --timeout 120s >/dev/null &&
  pass "helm uninstall finishes (no finalizer holds it)" || fail "helm uninstall did not finish"
kubectl get crd sandboxes.dockyard.dev sandboxclasses.dockyard.dev >/dev/null 2>&1 &&
  pass "the CRDs are kept" || fail "the CRDs are gone"
n=$(kubectl -n "$NS" get sandboxes --no-headers 2>/dev/null | wc -l)
[[ $n == 2 ]] && pass "the Sandboxes are kept" || fail "$n Sandboxes left"
[[ $(uid_of dind-demo) == "$dind_uid" && $(uid_of host-socket-demo) == "$hs_uid" ]] &&
  pass "their Pods run on without Dockyard" || fail "a Pod went with the uninstall"
install_dockyard "${upgraded[@]}"
for name in dind-demo host-socket-demo; do
  kubectl -n "$NS" wait "sandbox/$name" --for=condition=Ready --timeout=120s >/dev/null || dump "$name"
  out=$(x "$name" sh -c 'kill -0 "$(cat /workspace/day-two.pid)" && cat /workspace/day-two.txt' 2>&1 || true)
  expect "$name: reinstalled, the same Pod, its process and workspace" "$out$(uid_of "$name")" "kept" \
    "$([[ $name == dind-demo ]] && echo "$dind_uid" || echo "$hs_uid")"
done
out=$(x host-socket-demo docker ps --filter name=day-two --format '{{.Status}}' 2>&1 || true)
expect "the brokered sandbox's container is still there, its broker back" "$out" "Up"

step "two controller replicas: the rollout completes, a leader kill fails over"
install_dockyard "${upgraded[@]}" --set controller.replicas=2 --set controller.leaderElection=true
kubectl -n dockyard-system rollout status deploy/dockyard-controller --timeout=120s >/dev/null &&
  pass "the two-replica rollout completes (a standby is ready)" || fail "the rollout did not complete"
holder() { kubectl -n dockyard-system get lease dockyard-controller -o jsonpath='{.spec.holderIdentity}' 2>/dev/null; }
for _ in $(seq 60); do [[ -n $(holder) ]] && break; sleep 1; done
leader=$(holder)
killed=$(date +%s%N)
kubectl -n dockyard-system delete pod "$leader" --grace-period=0 --force >/dev/null 2>&1
new=""
for _ in $(seq 120); do
  new=$(holder)
  [[ -n $new && $new != "$leader" ]] && break
  sleep 0.5
done
failover_ms=$(( ($(date +%s%N) - killed) / 1000000 ))
[[ -n $new && $new != "$leader" ]] && pass "leader $leader killed: $new leads after ${failover_ms} ms" ||
  fail "no other replica took the lease (holder: $new)"
kubectl -n "$NS" patch sandbox dind-demo --type merge -p '{"spec":{"suspended":true}}' >/dev/null
kubectl -n "$NS" wait sandbox/dind-demo --for=jsonpath='{.status.phase}'=Suspended --timeout=90s >/dev/null &&
  pass "the new leader reconciles (a suspend goes through)" || fail "nothing reconciles after the failover"
echo "BENCH controller failover_ms=$failover_ms lease_seconds=15"

step "a node without a Docker daemon: DinD sandboxes run, host-socket ones wait for one"
# The node the agent serves (not any Node object the integration tests left).
node=$(kubectl -n dockyard-system get pod -l app.kubernetes.io/name=dockyard-agent -o jsonpath='{.items[0].spec.nodeName}')
"$E2E_DIR/cluster" stop-docker >/dev/null
kubectl wait "node/$node" --for=jsonpath='{.metadata.labels.dockyard\.dev/docker-daemon}'=false --timeout=60s >/dev/null &&
  pass "the agent labels the node: dockyard.dev/docker-daemon=false" || fail "the node's label did not change"
sleep 6
kubectl -n dockyard-system wait pod -l app.kubernetes.io/name=dockyard-agent --for=condition=Ready --timeout=10s >/dev/null &&
  pass "the agent stays Ready without the node's daemon" || fail "the agent is not Ready without the node's daemon"
cat <<YAML | kubectl -n "$NS" apply -f - >/dev/null
apiVersion: dockyard.dev/v1alpha1
kind: Sandbox
metadata: {name: no-node-docker}
spec: {image: dockyard-sandbox:latest, imagePullPolicy: IfNotPresent, user: {name: dev}, docker: {dind: {storage: {size: 1Gi}}}}
---
apiVersion: dockyard.dev/v1alpha1
kind: Sandbox
metadata: {name: wants-node-docker}
spec: {image: dockyard-sandbox:latest, imagePullPolicy: IfNotPresent, user: {name: dev}, docker: {mode: hostSocket}}
YAML
kubectl -n "$NS" wait sandbox/no-node-docker --for=condition=Ready --timeout=180s >/dev/null &&
  pass "a DinD sandbox runs on a node without Docker" || { dump no-node-docker; fail "no-node-docker did not become Ready"; }
out=$(ready_reason "$NS" wants-node-docker Unschedulable)
expect "a host-socket sandbox waits for a node whose daemon answers, the scheduler says why" "$out" \
  "Unschedulable: " "node affinity/selector"
"$E2E_DIR/cluster" start-docker >/dev/null
kubectl -n "$NS" wait sandbox/wants-node-docker --for=condition=Ready --timeout=180s >/dev/null &&
  pass "... and runs once the node's daemon is back (label true)" || { dump wants-node-docker; fail "wants-node-docker did not run"; }
# The agent's own credentials (a token bound to its Pod, as its Pod has): only
# its node's dockyard.dev/docker-daemon label may change.
agent_pod=$(kubectl -n dockyard-system get pod -l app.kubernetes.io/name=dockyard-agent -o jsonpath='{.items[0].metadata.name}')
token=$(kubectl -n dockyard-system create token dockyard-agent --bound-object-kind Pod --bound-object-name "$agent_pod")
api=$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')
as_agent_patch() {
  curl -sk -X PATCH -H "Authorization: Bearer $token" -H "Content-Type: application/merge-patch+json" \
    "$api/api/v1/nodes/$node" -d "$1"
}
out=$(as_agent_patch '{"metadata":{"labels":{"e2e-relabelled":"yes"}}}')
expect "with the agent's token, another label of its node is refused" "$out" "is forbidden" "dockyard-agent-own-node-label"
out=$(as_agent_patch '{"spec":{"unschedulable":true}}')
expect "... and so is cordoning it" "$out" "dockyard-agent-own-node-label"
out=$(as_agent_patch '{"metadata":{"labels":{"dockyard.dev/docker-daemon":"true"}}}')
expect "... while its own label may change" "$out" '"dockyard.dev/docker-daemon": "true"'
kubectl get node "$node" -o jsonpath='{.spec.unschedulable}{.metadata.labels.e2e-relabelled}' | grep -q . &&
  fail "the node was changed" || pass "... and the node is unchanged"

step "cleanup"
kubectl -n "$NS" delete sandbox --all --wait=true --timeout=120s >/dev/null || true
kubectl delete namespace "$NS" --wait=false >/dev/null
helm uninstall dockyard -n dockyard-system --wait >/dev/null
kubectl delete crd sandboxes.dockyard.dev sandboxclasses.dockyard.dev sandboxpools.dockyard.dev >/dev/null
"$DOCKER" rmi dockyard-entrypoint:next dockyard-dind:next >/dev/null 2>&1 || true
rm -f "$watch_log"
summary day-two
