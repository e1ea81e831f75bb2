#!/usr/bin/env bash
# Proof that the e2e cluster is real: bring it up with a node, run a Pod from a
# locally built image to completion on that node, install the CRDs, see a valid
# Sandbox accepted and invalid ones refused with messages naming the field,
# then tear everything down and check nothing is left behind.
#
# Leaves the cluster running when KEEP_CLUSTER=1 (for the tests that follow).
set -euo pipefail
E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO_DIR=$(dirname "$E2E_DIR")
source "$E2E_DIR/lib/log.sh"
STATE_DIR=${DOCKYARD_STATE_DIR:-/var/tmp/dockyard-cluster}
source "$E2E_DIR/lib/checks.sh"

"$E2E_DIR/cluster" up --profile node
eval "$("$E2E_DIR/cluster" env)"
NS=cluster-proof-$RANDOM
kubectl create namespace "$NS" >/dev/null

step "a Pod from a locally built image runs to completion on the real node"
"$E2E_DIR/images" busybox
"$E2E_DIR/images" load dockyard/busybox:1 2>/dev/null
kubectl -n "$NS" run proof --image=dockyard/busybox:1 --image-pull-policy=Never --restart=Never \
  -- sh -c 'echo "ran on $(hostname) as $(id -u)"' >/dev/null
if kubectl -n "$NS" wait --for=jsonpath='{.status.phase}'=Succeeded pod/proof --timeout=90s >/dev/null; then
  node=$(kubectl -n "$NS" get pod proof -o jsonpath='{.spec.nodeName}')
  logs=$(kubectl -n "$NS" logs proof)
  [[ $node == dockyard-node && $logs == "ran on proof as 0" ]] && pass "pod ran on $node: $logs" ||
    fail "pod ran on '$node' and printed '$logs'"
else
  kubectl -n "$NS" describe pod proof >&2 || true
  # A tainted node (memory or disk pressure) leaves Pods Pending: say which.
  kubectl get node dockyard-node -o custom-columns='CONDITIONS:.status.conditions[?(@.status=="True")].type,TAINTS:.spec.taints[*].key' >&2 || true
  df -h / "$STATE_DIR" >&2 || true
  fail "the pod did not complete"
fi

step "the NetworkPolicy engine (kube-router, firewall only) enforces on the real node"
pod() { # NAME LABEL COMMAND: a busybox Pod with label LABEL running COMMAND
  kubectl -n "$NS" run "$1" --image=dockyard/busybox:1 --image-pull-policy=Never --restart=Never --labels="$2" \
    -- sh -c "$3" >/dev/null
}
pod web app=web 'mkdir -p /www && echo reached > /www/x && exec httpd -f -p 8080 -h /www'
pod friend role=friend 'exec sleep 3600'
pod stranger role=stranger 'exec sleep 3600'
pod fenced role=fenced 'exec sleep 3600'
kubectl -n "$NS" wait --for=condition=Ready pod/web pod/friend pod/stranger pod/fenced --timeout=90s >/dev/null
web_ip=$(kubectl -n "$NS" get pod web -o jsonpath='{.status.podIP}')
node_ip=$(kubectl get node dockyard-node -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}')
# busybox's nc (its static wget crashes here): an HTTP request by hand; a connection only.
reach() {
  kubectl -n "$NS" exec "$1" -- sh -c "printf 'GET /x HTTP/1.0\r\n\r\n' | nc -w 3 $web_ip 8080 || echo refused" 2>&1 || true
}
kubelet_port() { kubectl -n "$NS" exec fenced -- sh -c "nc -w 3 $node_ip 10250 </dev/null && echo open || echo closed" 2>&1 || true; }
expect "without a policy, any Pod reaches the server" "$(reach stranger)" "reached"
expect "... and the node's kubelet" "$(kubelet_port)" "open"
kubectl -n "$NS" apply -f - >/dev/null <<YAML
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-from-friend}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress: [{from: [{podSelector: {matchLabels: {role: friend}}}], ports: [{port: 8080}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: fenced-from-node}
spec:
  podSelector: {matchLabels: {role: fenced}}
  policyTypes: [Egress]
  egress: [{to: [{ipBlock: {cidr: 0.0.0.0/0, except: [$node_ip/32]}}]}]
YAML
settles "a default-deny ingress policy: another Pod is refused" "refused" reach stranger
expect_not "... and got nothing" "$(reach stranger)" "reached"
expect "... the allowed Pod still reaches the server" "$(reach friend)" "reached"
settles "an egress policy excluding the node's address: the kubelet is unreachable from the Pod" "closed" kubelet_port

step "the CRDs install and the API server enforces their schema"
kubectl apply -f "$REPO_DIR/crds/" >/dev/null
kubectl wait --for condition=Established crd/sandboxes.dockyard.dev crd/sandboxclasses.dockyard.dev --timeout=60s >/dev/null
if kubectl -n "$NS" apply -f "$REPO_DIR/examples/sandbox-dind.yaml" >/dev/null; then
  mode=$(kubectl -n "$NS" get sandbox dind-demo -o jsonpath='{.spec.docker.mode} {.spec.user.uid}')
  [[ $mode == "dind 1000" ]] && pass "a valid Sandbox is accepted, with defaults applied ($mode)" ||
    fail "defaults not applied: '$mode'"
  header=$(kubectl -n "$NS" get sandboxes)
  expect "kubectl get sandboxes shows Ready, Reason and Age" "$header" "READY" "REASON" "PHASE" "AGE"
else
  fail "the example Sandbox was refused"
fi

# refused NAME FIELD YAML: applying YAML must fail with a message naming FIELD.
refused() {
  local name=$1 field=$2 out
  if out=$(kubectl -n "$NS" apply -f - 2>&1 <<<"$3"); then
    fail "$name: accepted but should have been refused"
  elif grep -qF "$field" <<<"$out"; then
    pass "$name: refused naming $field"
  else
    fail "$name: refused without naming $field: $out"
  fi
}
sandbox() { printf 'apiVersion: dockyard.dev/v1alpha1\nkind: Sandbox\nmetadata: {name: %s}\nspec: %s\n' "$1" "$2"; }
refused "uid 0" spec.user.uid "$(sandbox root '{image: x, user: {uid: 0}}')"
refused "unknown docker mode" spec.docker.mode "$(sandbox podman '{image: x, docker: {mode: podman}}')"
refused "hostSocket settings with mode dind" spec.docker.hostSocket \
  "$(sandbox mixed '{image: x, docker: {mode: dind, hostSocket: {access: raw}}}')"
refused "relative sudo command" spec.sudo.commands "$(sandbox sudo '{image: x, sudo: {commands: [apt-get]}}')"
refused "missing image" spec.image "$(sandbox noimage '{command: [sh]}')"
refused "class with capabilities profile and no capabilities" spec.dind.security.capabilities \
  "$(printf 'apiVersion: dockyard.dev/v1alpha1\nkind: SandboxClass\nmetadata: {name: proof-bad}\nspec: {dind: {security: {profile: capabilities}}}\n')"
refused "class allowing privileged DinD containers without a runtime class" spec.dind.privilegedContainers \
  "$(printf 'apiVersion: dockyard.dev/v1alpha1\nkind: SandboxClass\nmetadata: {name: proof-bad}\nspec: {dind: {privilegedContainers: {reason: "trust us, really"}}}\n')"
refused "privileged DinD containers without a reason" spec.dind.privilegedContainers.reason \
  "$(printf 'apiVersion: dockyard.dev/v1alpha1\nkind: SandboxClass\nmetadata: {name: proof-bad}\nspec: {runtimeClassName: kata, dind: {privilegedContainers: {}}}\n')"

kubectl delete namespace "$NS" --wait=false >/dev/null
if [[ ${KEEP_CLUSTER:-0} != 1 ]]; then
  step "teardown leaves no process, mount or interface behind"
  pids=$(cat "$STATE_DIR"/pids/*.pid 2>/dev/null || true)
  "$E2E_DIR/cluster" down
  alive=$(for p in $pids; do kill -0 "$p" 2>/dev/null && echo "$p"; done || true)
  [[ -z $alive ]] && pass "every started process is gone" || fail "processes still alive: $alive"
  mounts=$(findmnt -rn -o TARGET | grep -cF "$STATE_DIR" || true)
  [[ $mounts == 0 ]] && pass "no mounts left under $STATE_DIR" || fail "$mounts mounts left under $STATE_DIR"
  [[ ! -e $STATE_DIR ]] && pass "state removed" || fail "$STATE_DIR still exists"
  ip link show dockyard0 >/dev/null 2>&1 && fail "interface dockyard0 left" || pass "no interfaces left"
fi

summary cluster-proof
