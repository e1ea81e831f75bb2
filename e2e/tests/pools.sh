#!/usr/bin/env bash
# Warm pools on the real node: a SandboxPool of DinD sandboxes fills (dockerd
# answering in each warm Pod), a Sandbox that names it is Ready from a warm
# Pod and uses Docker there as its user, the pool refills, a Sandbox that asks
# for something else starts cold and says why, the pool's Pods cannot be
# relabelled or forged, deleting the Sandbox removes its Pod and deleting the
# pool removes only its warm Pods. A pool that preloads an image (from a
# registry on the node, reached as its class allows) hands out Pods that have
# it; one whose image cannot be pulled says so on the pool. A pool of brokered
# host-socket sandboxes: a warm Pod's socket only pings until a claim binds it
# to the claiming Sandbox.
set -euo pipefail
E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO_DIR=$(dirname "$E2E_DIR")
source "$E2E_DIR/lib/log.sh"
source "$E2E_DIR/lib/checks.sh"
source "$E2E_DIR/lib/chart-values.sh"
source "$E2E_DIR/lib/deps.sh"
ensure_packages docker-registry

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

step "a pool's warm Pods have the images it preloads"
# A registry on the node, serving an image pushed from the node's daemon
# (127.0.0.1 is insecure to it by default); sandboxes reach it at the node's
# address, which their class lets them and lets their daemon use without TLS.
node_ip=$(kubectl get node dockyard-node -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}')
REGISTRY_DIR=$(mktemp -d)
cat >"$REGISTRY_DIR/config.yml" <<YAML
version: 0.1
log: {level: warn, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $REGISTRY_DIR/data}}
http: {addr: "0.0.0.0:5055"}
YAML
docker-registry serve "$REGISTRY_DIR/config.yml" >"$REGISTRY_DIR/log" 2>&1 &
REGISTRY_PID=$!
trap 'kill "$REGISTRY_PID" 2>/dev/null || true; rm -rf "$REGISTRY_DIR"' EXIT
for _ in $(seq 50); do curl -fsS http://127.0.0.1:5055/v2/ >/dev/null 2>&1 && break; sleep 0.1; done
/usr/bin/docker tag dockyard/busybox:1 127.0.0.1:5055/dockyard/busybox:1
/usr/bin/docker push -q 127.0.0.1:5055/dockyard/busybox:1 >/dev/null
/usr/bin/docker rmi 127.0.0.1:5055/dockyard/busybox:1 >/dev/null
IMAGE=$node_ip:5055/dockyard/busybox:1
kubectl apply -f - >/dev/null <<YAML
apiVersion: dockyard.dev/v1alpha1
kind: SandboxClass
metadata: {name: e2e-preload}
spec:
  dind: {insecureRegistries: ["$node_ip:5055"]}
  network:
    egressTo:
      - {cidr: "$node_ip/32", ports: [{port: 5055}]}
YAML
PRELOAD_SPEC="  className: e2e-preload
  image: dockyard-sandbox:latest
  imagePullPolicy: IfNotPresent
  user: {name: dev}
  docker: {mode: dind, dind: {readinessTimeoutSeconds: 60, preloadImages: [\"$IMAGE\"]}}
  workspace: {mountPath: /workspace, emptyDir: {sizeLimit: 1Gi}}"
printf 'apiVersion: dockyard.dev/v1alpha1\nkind: SandboxPool\nmetadata: {name: preload}\nspec:\n  size: 1\n  template:\n%s\n' \
  "$(sed 's/^/  /' <<<"$PRELOAD_SPEC")" | kubectl -n "$NS" apply -f - >/dev/null
if kubectl -n "$NS" wait sandboxpool/preload --for=condition=Ready --timeout=240s >/dev/null; then
  pass "the preloading pool is Ready"
else
  dump; kubectl -n "$NS" describe sandboxpool preload >&2; fail "the preloading pool did not fill"
fi
printf 'apiVersion: dockyard.dev/v1alpha1\nkind: Sandbox\nmetadata: {name: carol}\nspec:\n  poolName: preload\n%s\n' \
  "$PRELOAD_SPEC" | kubectl -n "$NS" apply -f - >/dev/null
kubectl -n "$NS" wait sandbox/carol --for=condition=Ready --timeout=60s >/dev/null || { dump; fail "carol did not become Ready"; }
out=$(kubectl -n "$NS" get sandbox carol -o jsonpath='{.status.warmStart.reason}')
expect "carol took the preloading pool's warm Pod" "$out" "Claimed"
carol_pod=$(kubectl -n "$NS" get sandbox carol -o jsonpath='{.status.podName}')
out=$(kubectl -n "$NS" exec "$carol_pod" -c workload -- docker image ls --format '{{.Repository}}:{{.Tag}}' 2>&1 || true)
expect "the claimed Pod's daemon has the preloaded image" "$out" "$IMAGE"
out=$(kubectl -n "$NS" exec "$pod" -c workload -- docker image ls --format '{{.Repository}}:{{.Tag}}' 2>&1 || true)
expect_not "... which a Pod of a pool without it lacks" "$out" "$IMAGE"
out=$(kubectl -n "$NS" exec "$carol_pod" -c workload -- docker run --rm --pull never "$IMAGE" echo preloaded-image-ran 2>&1 || true)
expect "docker run of the preloaded image needs no pull" "$out" "preloaded-image-ran"
printf 'apiVersion: dockyard.dev/v1alpha1\nkind: SandboxPool\nmetadata: {name: missing}\nspec:\n  size: 1\n  template:\n%s\n' \
  "$(sed "s/^/  /; s|$IMAGE|$node_ip:5055/dockyard/missing:1|" <<<"$PRELOAD_SPEC")" | kubectl -n "$NS" apply -f - >/dev/null
missing_message() { kubectl -n "$NS" get sandboxpool missing -o jsonpath='{.status.conditions[?(@.type=="Ready")].message}'; }
SETTLE_SECONDS=180 settles "a pool whose image cannot be pulled says why" "cannot preload image $node_ip:5055/dockyard/missing:1" missing_message
out=$(kubectl -n "$NS" get events --field-selector involvedObject.name=missing -o jsonpath='{.items[*].message}')
expect "with one event" "$out" "cannot preload image"
kubectl -n "$NS" delete sandboxpool preload missing --wait=false >/dev/null
kubectl -n "$NS" delete sandbox carol --wait=false >/dev/null

step "a pool of brokered host-socket sandboxes: a warm Pod's socket only pings until a Sandbox claims it"
HOST_SPEC='  image: dockyard-sandbox:latest
  imagePullPolicy: IfNotPresent
  user: {name: dev}
  docker: {mode: hostSocket}'
printf 'apiVersion: dockyard.dev/v1alpha1\nkind: SandboxPool\nmetadata: {name: host}\nspec:\n  size: 1\n  template:\n%s\n' \
  "$(sed 's/^/  /' <<<"$HOST_SPEC")" | kubectl -n "$NS" apply -f - >/dev/null
if kubectl -n "$NS" wait sandboxpool/host --for=condition=Ready --timeout=180s >/dev/null; then
  pass "the host-socket pool is Ready: its warm Pod's readiness probe pinged the published socket"
else
  dump; kubectl -n "$NS" describe sandboxpool host >&2; fail "the host-socket pool did not fill"
fi
host_warm=$(kubectl -n "$NS" get pods -l dockyard.dev/pool=host -o jsonpath='{.items[0].metadata.name}')
hx() { kubectl -n "$NS" exec "$host_warm" -c workload -- "$@" 2>&1 || true; }
expect "the warm Pod's socket answers version" "$(hx docker version --format 'server {{.Server.Version}}')" "server "
node_containers=$(/usr/bin/docker ps -aq | wc -l)
out=$(hx docker run --rm dockyard/busybox:1 echo made-before-a-claim)
expect "... and refuses to run a container before a claim (nothing is made under a stand-in identity)" "$out" \
  "no Sandbox has claimed yet"
expect "... or to list the node's containers" "$(hx docker ps)" "no Sandbox has claimed yet"
expect "... and the node's daemon has no new container" "$(/usr/bin/docker ps -aq | wc -l)" "$node_containers"
printf 'apiVersion: dockyard.dev/v1alpha1\nkind: Sandbox\nmetadata: {name: dave}\nspec:\n  poolName: host\n%s\n' \
  "$HOST_SPEC" | kubectl -n "$NS" apply -f - >/dev/null
applied=$(date +%s%N)
if kubectl -n "$NS" wait sandbox/dave --for=condition=Ready --timeout=60s >/dev/null; then
  pass "dave Ready from the host-socket pool in $(( ($(date +%s%N) - applied) / 1000000 )) ms"
else
  dump; fail "dave did not become Ready: $(ready_reason "$NS" dave Ready)"
fi
out=$(kubectl -n "$NS" get sandbox dave -o jsonpath='{.status.warmStart.reason} {.status.podName} {.status.conditions[?(@.type=="DockerReady")].reason}')
expect "dave took the warm Pod, its socket bound to it" "$out" "Claimed $host_warm DockerAnswering"
dave_uid=$(kubectl -n "$NS" get sandbox dave -o jsonpath='{.metadata.uid}')
out=$(hx sh -c 'docker run -d --name e2e-pool-kept dockyard/busybox:1 sleep 600 >/dev/null && docker run --rm dockyard/busybox:1 echo ran-through-the-bound-socket')
expect "docker run through the same socket once claimed" "$out" "ran-through-the-bound-socket"
out=$(/usr/bin/docker ps --filter "label=dockyard.dev/sandbox=$dave_uid" --format '{{.Names}}')
expect "on the node, its container is labelled with the claiming Sandbox's UID" "$out" "e2e-pool-kept"
out=$(/usr/bin/docker inspect --format '{{.HostConfig.CgroupParent}}' e2e-pool-kept 2>&1 || true)
host_warm_uid=$(kubectl -n "$NS" get pod "$host_warm" -o jsonpath='{.metadata.uid}')
# cgroupfs spells the Pod's UID as is, systemd with underscores.
[[ $out == *"pod$host_warm_uid"* || $out == *"pod${host_warm_uid//-/_}"* ]] &&
  pass "... in the claimed Pod's cgroup (its limits bound it): $out" ||
  fail "the container's cgroup parent is '$out', not the claimed Pod's (pod $host_warm_uid)"
if kubectl -n "$NS" wait sandboxpool/host --for=jsonpath='{.status.ready}'=1 --timeout=120s >/dev/null; then
  pass "the host-socket pool refilled"
else
  dump; fail "the host-socket pool did not refill"
fi
# The kubelet publishes a volume once: a restarted agent serves both sockets
# again, each as the API server says (the claimed one by the Sandbox's status).
refill=$(kubectl -n "$NS" get pods -l 'dockyard.dev/pool=host,app.kubernetes.io/component=warm' -o jsonpath='{.items[0].metadata.name}')
kubectl -n dockyard-system delete pod -l app.kubernetes.io/name=dockyard-agent --wait=true >/dev/null
kubectl -n dockyard-system rollout status ds/dockyard-agent --timeout=120s >/dev/null
served_again() { kubectl -n "$NS" exec "$1" -c workload -- docker "${@:2}" 2>&1 || true; }
SETTLE_SECONDS=60 settles "after an agent restart, the claimed Pod's socket is its Sandbox's again" \
  "e2e-pool-kept" served_again "$host_warm" ps --format '{{.Names}}'
SETTLE_SECONDS=60 settles "... and the new warm Pod's answers version" "server " \
  served_again "$refill" version --format 'server {{.Server.Version}}'
expect "... and still refuses the rest" "$(served_again "$refill" ps)" "no Sandbox has claimed yet"
kubectl -n "$NS" delete sandbox dave --wait=true --timeout=120s >/dev/null
out=$(/usr/bin/docker ps -a --filter "label=dockyard.dev/sandbox=$dave_uid" --format '{{.Names}}')
expect "deleting dave removed its containers from the node" "[$out]" "[]"
kubectl -n "$NS" delete sandboxpool host --wait=false >/dev/null

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
kubectl delete sandboxclass e2e-preload --wait=false >/dev/null

summary pools
