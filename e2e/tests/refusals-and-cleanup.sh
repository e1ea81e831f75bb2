#!/usr/bin/env bash
# End to end on the real node: what a user sees on the Sandbox when Kubernetes
# refuses its Pod or the kubelet cannot run it, and that deleting a brokered
# sandbox never leaves its containers on the node, whichever way it goes.
#   - refusals by the API server: a ResourceQuota (QuotaExceeded), a real
#     validating admission webhook (AdmissionDenied, e2e/webhook), an invalid
#     Pod (refused already at apply, naming the field); each on the Sandbox in
#     the API server's words with one event, each lifting by itself;
#   - failures of the Pod: a crash loop, a container config error, an
#     unschedulable Pod, a Pod the kubelet evicts (recreated, the failure kept);
#   - deletion of brokered sandboxes with containers running on the node: the
#     namespace deleted, the Pod deleted first, the node agent down during the
#     cleanup and killed in the middle of one.
# (Pod Security's refusal and an image that cannot be pulled: e2e/tests/sandboxes.sh.)
set -euo pipefail
E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO_DIR=$(dirname "$E2E_DIR")
source "$E2E_DIR/lib/versions.sh"
source "$E2E_DIR/lib/log.sh"
source "$E2E_DIR/lib/checks.sh"
source "$E2E_DIR/lib/chart-values.sh"

start_node_with_images
NS=e2e-refusals
GONE_NS=e2e-deleted-namespace
DOCKER=/usr/bin/docker # the node's dockerd, raw (DOCKER_HOST from `cluster env`)
WEBHOOK_PID=""
cleanup() {
  [[ -z $WEBHOOK_PID ]] || kill "$WEBHOOK_PID" 2>/dev/null || true
  kubectl delete validatingwebhookconfiguration dockyard-e2e-deny --ignore-not-found >/dev/null 2>&1 || true
}
trap cleanup EXIT
dump() {
  kubectl -n "$1" get sandboxes,pods -o wide >&2 || true
  kubectl -n "$1" describe sandbox "$2" >&2 || true
  kubectl -n dockyard-system logs deploy/dockyard-controller --tail=30 >&2 || true
}
# sandbox NS NAME [SPEC LINES...]: applies a Sandbox of the test image without
# Docker (or with what the extra spec lines say).
sandbox() {
  local ns=$1 name=$2; shift 2
  {
    printf 'apiVersion: dockyard.dev/v1alpha1\nkind: Sandbox\nmetadata: {name: %s}\nspec:\n' "$name"
    printf '  image: dockyard-sandbox:latest\n  imagePullPolicy: IfNotPresent\n  user: {name: dev}\n'
    if (($# == 0)); then printf '  docker: {mode: none}\n'; else printf '  %s\n' "$@"; fi
  } | kubectl -n "$ns" apply -f - 2>&1
}
BROKERED='docker: {mode: hostSocket, hostSocket: {access: brokered}}'
# events NS NAME REASON: how many events of REASON the Sandbox has.
events() {
  kubectl -n "$1" get events --field-selector "involvedObject.kind=Sandbox,involvedObject.name=$2,reason=$3" -o name | wc -l
}
# refused_once NAME REASON CHECK NEEDLE...: the Sandbox NAME in $NS shows Ready=False
# with REASON and each NEEDLE of the API server's message, and has one event of it
# after several retries.
refused_once() {
  local name=$1 reason=$2 check=$3 out n; shift 3
  out=$(ready_reason "$NS" "$name" "$reason")
  expect "$check" "$out" "$reason: " "$@"
  sleep 6
  n=$(events "$NS" "$name" "$reason")
  [[ $n == 1 ]] && pass "... with one event, not one per retry" || fail "$reason events: $n"
}
# left_on_node UID: the Docker objects labelled with the sandbox's UID on the node's daemon, and its socket directory.
left_on_node() {
  "$DOCKER" ps -aq --filter "label=dockyard.dev/sandbox=$1" | sed 's/^/container /'
  "$DOCKER" network ls -q --filter "label=dockyard.dev/sandbox=$1" | sed 's/^/network /'
  "$DOCKER" volume ls -q --filter "label=dockyard.dev/sandbox=$1" | sed 's/^/volume /'
  [[ ! -e /var/run/dockyard/sandboxes/$1 ]] || echo "socket directory /var/run/dockyard/sandboxes/$1"
}
# nothing_left WHAT UID...: passes when the node holds nothing of those sandboxes.
nothing_left() {
  local what=$1 uid left=""; shift
  for uid in "$@"; do left+=$(left_on_node "$uid"); done
  [[ -z $left ]] && pass "... and nothing of $what is left on the node" || fail "left on the node by $what: $left"
}
# busy NS NAME: waits for the brokered sandbox to be Ready, starts a container
# and a network through its broker, and prints its UID.
busy() {
  kubectl -n "$1" wait "sandbox/$2" --for=condition=Ready --timeout=120s >/dev/null || dump "$1" "$2"
  kubectl -n "$1" exec "sbx-$2" -c workload -- sh -c \
    "docker network create $2-net >/dev/null && docker run -d --network $2-net dockyard/busybox:1 sleep 600 >/dev/null" >&2 || true
  kubectl -n "$1" get sandbox "$2" -o jsonpath='{.metadata.uid}'
}

step "helm install"
install_dockyard
kubectl create namespace "$NS" >/dev/null

step "refusals by the API server are on the Sandbox, once, and lift by themselves"
kubectl -n "$NS" create quota e2e-pods --hard=pods=1 >/dev/null
sandbox "$NS" first >/dev/null
kubectl -n "$NS" wait sandbox/first --for=condition=Ready --timeout=120s >/dev/null || dump "$NS" first
sandbox "$NS" second >/dev/null
refused_once second QuotaExceeded "a ResourceQuota refuses the second Pod: QuotaExceeded in the API server's words" \
  "exceeded quota: e2e-pods" "limited: pods=1"
kubectl -n "$NS" patch quota e2e-pods --type merge -p '{"spec":{"hard":{"pods":"2"}}}' >/dev/null
kubectl -n "$NS" wait sandbox/second --for=condition=Ready --timeout=120s >/dev/null &&
  pass "... and runs by itself once the quota is raised" || fail "second did not recover: $(ready_reason "$NS" second Ready)"
kubectl -n "$NS" delete sandbox first second --wait=true --timeout=60s >/dev/null
kubectl -n "$NS" delete quota e2e-pods >/dev/null

# A platform team's policy webhook, run on this host, refusing the Pods of one namespace.
webhook_bin=$DOCKYARD_CACHE_DIR/bin/e2e-webhook
if [[ ! -x $webhook_bin || $E2E_DIR/webhook/main.go -nt $webhook_bin ]]; then
  mkdir -p "$(dirname "$webhook_bin")"
  CGO_ENABLED=0 go build -trimpath -o "$webhook_bin" "$E2E_DIR/webhook/main.go"
fi
webhook_dir=$(mktemp -d)
"$webhook_bin" -ca-out "$webhook_dir/ca.crt" -message "sandboxes here need a cost-center label (e2e policy)" \
  >"$webhook_dir/log" 2>&1 &
WEBHOOK_PID=$!
for _ in $(seq 50); do grep -q "serving on" "$webhook_dir/log" && break; sleep 0.1; done
webhook_addr=$(sed -n 's/.*serving on //p' "$webhook_dir/log")
cat <<YAML | kubectl apply -f - >/dev/null
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: dockyard-e2e-deny}
webhooks:
  - name: deny.e2e.dockyard.dev
    clientConfig: {url: "https://$webhook_addr/validate", caBundle: "$(base64 -w0 <"$webhook_dir/ca.crt")"}
    rules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [pods]}]
    namespaceSelector: {matchLabels: {dockyard.dev/e2e-webhook: deny}}
    sideEffects: None
    admissionReviewVersions: [v1]
    failurePolicy: Fail
    timeoutSeconds: 5
YAML
kubectl label namespace "$NS" dockyard.dev/e2e-webhook=deny >/dev/null
sandbox "$NS" hooked >/dev/null
refused_once hooked AdmissionDenied "a validating admission webhook refuses the Pod: AdmissionDenied with the webhook's words" \
  'admission webhook "deny.e2e.dockyard.dev" denied the request' "need a cost-center label"
kubectl label namespace "$NS" dockyard.dev/e2e-webhook- >/dev/null
kubectl -n "$NS" wait sandbox/hooked --for=condition=Ready --timeout=120s >/dev/null &&
  pass "... and runs by itself once the webhook lets it" || fail "hooked did not recover: $(ready_reason "$NS" hooked Ready)"
grep -q "refusing $NS/" "$webhook_dir/log" && pass "... the webhook was asked (its log names the Pod)" ||
  fail "the webhook never saw a request: $(cat "$webhook_dir/log")"
kubectl -n "$NS" delete sandbox hooked --wait=false >/dev/null
cleanup
WEBHOOK_PID=""
rm -rf "$webhook_dir"

# What the Pod would refuse, the Sandbox refuses at apply (the differential dry-run test proves it field by field).
out=$(sandbox "$NS" bad-env 'docker: {mode: none}' 'env: [{name: "1 bad=name", value: x}]' || true)
expect "an environment variable name the Pod would refuse is refused at apply, naming the field" "$out" \
  "spec.env[0].name" "1 bad=name"
kubectl -n "$NS" get sandbox bad-env >/dev/null 2>&1 && fail "bad-env was stored" || pass "... and nothing is stored"

step "the kubelet's and the scheduler's reasons are on the Sandbox"
sandbox "$NS" crashing 'docker: {mode: none}' 'command: [sh, -c, "echo about to fail; exit 3"]' >/dev/null
# A sandbox's Pod does not restart its workload in place: the controller
# recreates the Pod, ever later, and the Sandbox says why meanwhile.
kubectl -n "$NS" wait sandbox/crashing --for=jsonpath='{.status.lastPodFailure.reason}'=Error --timeout=90s >/dev/null || true
first=$(kubectl -n "$NS" get sandbox crashing -o jsonpath='{.status.conditions[?(@.type=="Ready")].reason}: {.status.conditions[?(@.type=="Ready")].message}')
expect "a workload that fails: its exit code and last output on the Sandbox" "$first" \
  "PodFailed: " "container workload exited with code 3" "about to fail" "a new one in 10s"
for _ in $(seq 45); do
  out=$(kubectl -n "$NS" get sandbox crashing -o jsonpath='{.status.conditions[?(@.type=="Ready")].message}')
  [[ $out == *"a new one in 20s"* ]] && break
  sleep 2
done
expect "... and as it keeps failing, its Pod is recreated ever later" "$out" "exited with code 3" "a new one in 20s"
sandbox "$NS" misconfigured 'docker: {mode: none}' \
  'env: [{name: TOKEN, valueFrom: {secretKeyRef: {name: e2e-missing, key: token}}}]' >/dev/null
out=$(ready_reason "$NS" misconfigured CreateContainerConfigError)
expect "a container config error: the kubelet's reason and message" "$out" \
  "CreateContainerConfigError: " 'secret "e2e-missing" not found'
sandbox "$NS" nowhere 'docker: {mode: none}' 'pod: {nodeSelector: {dockyard.dev/e2e: nowhere}}' >/dev/null
out=$(ready_reason "$NS" nowhere Unschedulable)
expect "an unschedulable Pod: the scheduler's message" "$out" "Unschedulable: " "0/1 nodes are available"
# The crashing one says PodFailed through each backoff (40 s by now) and
# Starting for the moment its next Pod takes to fail: looked at until it shows.
for _ in $(seq 60); do
  out=$(kubectl -n "$NS" get sandboxes 2>&1 || true)
  [[ $out == *PodFailed* ]] && break
  sleep 1
done
expect "kubectl get sandboxes shows each reason" "$out" "PodFailed" "CreateContainerConfigError" "Unschedulable"
# A workspace that outgrows its limit: the kubelet evicts the Pod (phase Failed).
sandbox "$NS" evicted 'docker: {mode: none}' 'workspace: {emptyDir: {sizeLimit: 1Mi}}' \
  'command: [sh, -c, "head -c 8000000 /dev/zero > /workspace/fill; sleep 3600"]' >/dev/null
kubectl -n "$NS" wait sandbox/evicted --for=jsonpath='{.status.lastPodFailure.reason}'=Evicted --timeout=150s >/dev/null || true
out=$(kubectl -n "$NS" get sandbox evicted -o jsonpath='{.status.lastPodFailure.reason}: {.status.lastPodFailure.message}')
expect "a Pod the kubelet evicts: the failure stays in status.lastPodFailure" "$out" "Evicted: " "exceeds the limit"
n=$(events "$NS" evicted PodFailed)
((n >= 1)) && pass "... with a PodFailed event" || fail "no PodFailed event"
first_uid=$(kubectl -n "$NS" get events --field-selector involvedObject.kind=Pod,involvedObject.name=sbx-evicted,reason=Evicted \
  -o jsonpath='{.items[0].involvedObject.uid}' 2>/dev/null || true)
recreated=""
for _ in $(seq 60); do
  uid=$(kubectl -n "$NS" get pod sbx-evicted -o jsonpath='{.metadata.uid}' 2>/dev/null || true)
  [[ -n $uid && $uid != "$first_uid" ]] && { recreated=$uid; break; }
  sleep 2
done
[[ -n $recreated ]] && pass "... and its Pod is recreated (after a backoff)" || fail "the evicted Pod was not recreated"
kubectl -n "$NS" delete sandbox crashing misconfigured nowhere evicted --wait=true --timeout=90s >/dev/null

step "deleting brokered sandboxes leaves nothing on the node"
# The namespace deleted with two sandboxes in it, their containers running.
kubectl create namespace "$GONE_NS" >/dev/null
sandbox "$GONE_NS" one "$BROKERED" >/dev/null
sandbox "$GONE_NS" two "$BROKERED" >/dev/null
uids=("$(busy "$GONE_NS" one)" "$(busy "$GONE_NS" two)")
n=$( { left_on_node "${uids[0]}"; left_on_node "${uids[1]}"; } | wc -l)
((n == 6)) && pass "two brokered sandboxes run a container and a network each on the node" || fail "$n objects of theirs on the node"
kubectl delete namespace "$GONE_NS" --wait=true --timeout=180s >/dev/null &&
  pass "their namespace is deleted" || fail "namespace $GONE_NS still there"
nothing_left "either" "${uids[@]}"

# The Pod deleted first, the Sandbox right after.
sandbox "$NS" pod-first "$BROKERED" >/dev/null
uid=$(busy "$NS" pod-first)
kubectl -n "$NS" delete pod sbx-pod-first --wait=true --timeout=60s >/dev/null
kubectl -n "$NS" delete sandbox pod-first --wait=true --timeout=120s >/dev/null &&
  pass "a sandbox whose Pod went first is deleted" || fail "pod-first not deleted"
# The Pod recreated meanwhile goes with its Sandbox; the kubelet may have made
# its broker directory again, which the agent removes when that Pod is gone.
kubectl -n "$NS" wait pod/sbx-pod-first --for=delete --timeout=60s >/dev/null 2>&1 || true
sleep 2
nothing_left pod-first "$uid"

# The node agent down while the Sandbox is deleted: the finalizer waits for it.
sandbox "$NS" agent-down "$BROKERED" >/dev/null
uid=$(busy "$NS" agent-down)
kubectl -n dockyard-system patch ds dockyard-agent --type merge \
  -p '{"spec":{"template":{"spec":{"nodeSelector":{"dockyard.dev/e2e-agent":"off"}}}}}' >/dev/null
kubectl -n dockyard-system wait pod -l app.kubernetes.io/name=dockyard-agent --for=delete --timeout=90s >/dev/null 2>&1 || true
kubectl -n "$NS" delete sandbox agent-down --wait=false >/dev/null
sleep 10
kubectl -n "$NS" get sandbox agent-down >/dev/null 2>&1 &&
  pass "with the node agent down, the Sandbox waits for it (finalizer kept)" || fail "agent-down was released without the agent"
n=$(events "$NS" agent-down CleanupPending)
((n >= 1)) && pass "... and says why (CleanupPending)" || fail "no CleanupPending event"
kubectl -n dockyard-system patch ds dockyard-agent --type merge \
  -p '{"spec":{"template":{"spec":{"nodeSelector":{"dockyard.dev/e2e-agent":null}}}}}' >/dev/null
kubectl -n dockyard-system rollout status ds/dockyard-agent --timeout=90s >/dev/null || true
kubectl -n "$NS" wait sandbox/agent-down --for=delete --timeout=180s >/dev/null &&
  pass "the agent back: the Sandbox is released" || fail "agent-down still there"
nothing_left agent-down "$uid"

# The node agent killed in the middle of a cleanup.
sandbox "$NS" agent-killed "$BROKERED" >/dev/null
uid=$(busy "$NS" agent-killed)
kubectl -n "$NS" delete sandbox agent-killed --wait=false >/dev/null
kubectl -n dockyard-system delete pod -l app.kubernetes.io/name=dockyard-agent --grace-period=0 --force >/dev/null 2>&1 || true
kubectl -n "$NS" wait sandbox/agent-killed --for=delete --timeout=180s >/dev/null &&
  pass "the agent killed during its cleanup: the Sandbox is released once it is back" || fail "agent-killed still there"
nothing_left agent-killed "$uid"

kubectl delete namespace "$NS" --wait=false >/dev/null
summary refusals-and-cleanup
