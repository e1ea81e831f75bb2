#!/usr/bin/env bash
# Warm pools on the real node: a SandboxPool of DinD sandboxes fills (dockerd
# answering in each warm Pod), a Sandbox that names it is Ready from a warm
# Pod and uses Docker there as its user, the pool refills, a Sandbox that asks
# for something else starts cold and says why, the pool's Pods cannot be
# relabelled or forged, deleting the Sandbox removes its Pod and deleting the
# pool removes only its warm Pods.
set -euo pipefail
E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO_DIR=$(dirname "$E2E_DIR")
source "$E2E_DIR/lib/log.sh"
source "$E2E_DIR/lib/checks.sh"
source "$E2E_DIR/lib/chart-values.sh"

start_node_with_images
install_dockyard
NS=e2e-pools
kubectl create namespace "$NS" >/dev/null 2>&1 || true
dump() {
  kubectl -n "$NS" get sandboxpools,sandboxes,pods -o wide >&2 || true
  kubectl -n "$NS" describe sandboxpool dind >&2 || true
  kubectl -n dockyard-system logs deploy/dockyard-controller --tail=40 >&2 || true
}

# The DinD example's spec, as a pool's template and as Sandboxes naming the pool.
SPEC='  image: dockyard-sandbox:latest
  imagePullPolicy: IfNotPresent
  user: {name: dev}
  docker: {mode: dind, dind: {readinessTimeoutSeconds: 30}}
  workspace: {mountPath: /workspace, emptyDir: {sizeLimit: 1Gi}}'
pooled() { # NAME [EXTRA SPEC LINE]
  printf 'apiVersion: dockyard.dev/v1alpha1\nkind: Sandbox\nmetadata: {name: %s}\nspec:\n  poolName: dind\n%s\n%s\n' \
    "$1" "$SPEC" "${2:-}" | kubectl -n "$NS" apply -f - >/dev/null
}

step "a pool of two DinD sandboxes fills"
out=$(kubectl explain sandboxpool.spec.template.docker.mode 2>&1 || true)
expect "kubectl explain describes the pool's template" "$out" "dind"
printf 'apiVersion: dockyard.dev/v1alpha1\nkind: SandboxPool\nmetadata: {name: dind}\nspec:\n  size: 2\n  template:\n%s\n' \
  "$(sed 's/^/  /' <<<"$SPEC")" | kubectl -n "$NS" apply -f - >/dev/null
if kubectl -n "$NS" wait sandboxpool/dind --for=condition=Ready --timeout=240s >/dev/null; then
  pass "the pool is Ready: two warm Pods, dockerd answering in each"
else
  dump; fail "the pool did not fill"
fi
out=$(kubectl -n "$NS" get sandboxpool dind 2>&1 || true)
expect "kubectl get shows size, ready, starting, claimed" "$out" "SIZE" "READY" "CLAIMED" "Full"
warm=$(kubectl -n "$NS" get pods -l dockyard.dev/pool=dind -o jsonpath='{.items[0].metadata.name}')
out=$(kubectl -n "$NS" exec "$warm" -c workload -- docker version --format '{{.Server.Version}}' 2>&1 || true)
expect "a warm Pod's dockerd answers before any Sandbox claims it" "$out" "26."

step "the pool's Pods are the controller's alone"
out=$(kubectl -n "$NS" label pod "$warm" dockyard.dev/network-class=other --overwrite 2>&1 || true)
expect "a warm Pod cannot be relabelled out of its network policy" "$out" "only Dockyard's controller"
out=$(kubectl -n "$NS" label pod "$warm" dockyard.dev/pool=elsewhere --overwrite 2>&1 || true)
expect "a warm Pod cannot be moved to another pool" "$out" "only Dockyard's controller"
pool_uid=$(kubectl -n "$NS" get sandboxpool dind -o jsonpath='{.metadata.uid}')
out=$(kubectl -n "$NS" apply -f - 2>&1 <<YAML || true
apiVersion: v1
kind: Pod
metadata:
  name: pool-dind-forged
  labels: {dockyard.dev/pool: dind, app.kubernetes.io/managed-by: dockyard-controller}
  ownerReferences: [{apiVersion: dockyard.dev/v1alpha1, kind: SandboxPool, name: dind, uid: $pool_uid, controller: true}]
spec: {containers: [{name: workload, image: dockyard/busybox:1, command: [sleep, "600"]}]}
YAML
)
expect "a Pod that claims the pool as owner (to be handed to the next Sandbox) is refused" "$out" "may make a Pod or claim owned by a Sandbox or SandboxPool"

step "a Sandbox naming the pool takes a warm Pod"
applied=$(date +%s%N)
pooled alice
if kubectl -n "$NS" wait sandbox/alice --for=condition=Ready --timeout=60s >/dev/null; then
  pass "alice Ready from the pool in $(( ($(date +%s%N) - applied) / 1000000 )) ms"
else
  dump; fail "alice did not become Ready"
fi
out=$(kubectl -n "$NS" get sandbox alice -o jsonpath='{.status.warmStart.claimed} {.status.warmStart.reason} {.status.podName}')
expect "status.warmStart says it was claimed" "$out" "true Claimed pool-dind-"
pod=$(kubectl -n "$NS" get sandbox alice -o jsonpath='{.status.podName}')
out=$(kubectl -n "$NS" get pod "$pod" -o jsonpath='{.metadata.ownerReferences[*].kind}/{.metadata.ownerReferences[*].name} {.metadata.labels.dockyard\.dev/sandbox}')
expect "the warm Pod is now the Sandbox's alone" "$out" "Sandbox/alice alice"
x() { kubectl -n "$NS" exec -i "$pod" -c workload -- "$@"; }
out=$(x id 2>&1 || true)
expect "the workload runs as dev with the socket's group" "$out" "uid=1000(dev)" "2375"
/usr/bin/docker save dockyard/busybox:1 | x docker load >/dev/null 2>&1
out=$(x docker run --rm dockyard/busybox:1 echo ran-in-the-warm-pod 2>&1 || true)
expect "docker run as the user in the claimed Pod" "$out" "ran-in-the-warm-pod"
out=$(kubectl -n "$NS" get sandbox alice -o jsonpath='{.status.conditions[?(@.type=="UpToDate")].status}')
expect "the claimed Pod is what the Sandbox gets now (no update pending)" "$out" "True"
if kubectl -n "$NS" wait sandboxpool/dind --for=jsonpath='{.status.ready}'=2 --timeout=180s >/dev/null; then
  pass "the pool refilled to two warm Pods"
else
  dump; fail "the pool did not refill"
fi
out=$(kubectl -n "$NS" get sandboxpool dind -o jsonpath='{.status.claimed}')
expect "the pool counts the claimed Pod" "$out" "1"

step "a Sandbox asking for something else starts cold, and says why"
pooled bob "  sudo: {commands: [/usr/bin/apt-get]}"
if kubectl -n "$NS" wait sandbox/bob --for=condition=Ready --timeout=180s >/dev/null; then
  pass "bob Ready (cold)"
else
  dump; fail "bob did not become Ready"
fi
out=$(kubectl -n "$NS" get sandbox bob -o jsonpath='{.status.warmStart.claimed} {.status.warmStart.reason}: {.status.warmStart.message} {.status.podName}')
expect "status.warmStart names what differs from the template" "$out" "false TemplateMismatch" "spec.{sudo}" "sbx-bob"
out=$(kubectl -n "$NS" get events --field-selector involvedObject.name=bob -o jsonpath='{.items[*].reason}')
expect "an event says the warm start missed" "$out" "WarmStartMissed"

step "deleting"
kubectl -n "$NS" delete sandbox alice --wait=true --timeout=120s >/dev/null
if kubectl -n "$NS" wait "pod/$pod" --for=delete --timeout=120s >/dev/null 2>&1; then
  pass "deleting the Sandbox removed its (once warm) Pod"
else
  fail "the claimed Pod outlived its Sandbox"
fi
kubectl -n "$NS" delete sandboxpool dind --wait=true >/dev/null
if kubectl -n "$NS" wait pods -l 'dockyard.dev/pool=dind,app.kubernetes.io/component=warm' --for=delete --timeout=120s >/dev/null 2>&1; then
  pass "deleting the pool removed its warm Pods"
else
  dump; fail "warm Pods outlived their pool"
fi
out=$(kubectl -n "$NS" get sandbox bob -o jsonpath='{.status.phase}')
expect "a Sandbox of the namespace is untouched by the pool's deletion" "$out" "Ready"
kubectl delete namespace "$NS" --wait=false >/dev/null

summary pools
