#!/usr/bin/env bash
# End to end on the real node: build and load the images, `helm install` the
# chart, apply the DinD example, wait for Ready, and use Docker inside it as
# the unprivileged user (docker build, docker run with a workspace bind mount,
# a compose app with a network and a volume), check sudo, suspend/resume,
# a refused sandbox, deletion, and `helm uninstall`.
set -euo pipefail
E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO_DIR=$(dirname "$E2E_DIR")
source "$E2E_DIR/lib/log.sh"
source "$E2E_DIR/lib/checks.sh"

"$E2E_DIR/cluster" up --profile node
eval "$("$E2E_DIR/cluster" env)"
IMAGES=(dockyard-controller dockyard-entrypoint dockyard-dind dockyard-sandbox)
"$E2E_DIR/images" build "${IMAGES[@]}"
"$E2E_DIR/images" load dockyard/busybox:1 "${IMAGES[@]/%/:latest}" 2>/dev/null
NS=e2e-sandboxes
dump() {
  kubectl -n "$NS" get sandboxes,pods -o wide >&2 || true
  kubectl -n "$NS" describe sandbox "$1" >&2 || true
  kubectl -n "$NS" describe pod "sbx-$1" >&2 || true
  kubectl -n "$NS" logs "sbx-$1" -c dind --tail=30 >&2 || true
  kubectl -n dockyard-system logs deploy/dockyard-controller --tail=30 >&2 || true
}

step "helm install"
helm lint "$REPO_DIR/charts/dockyard" >/dev/null && pass "helm lint" || fail "helm lint"
# This VM cannot grant privileged (CAP_SYS_RESOURCE): the default class uses the
# explicit capability profile, as a cluster that forbids privileged would.
HELM_VALUES=(--set 'defaultClass.dind.security.profile=capabilities'
  --set 'defaultClass.dind.security.capabilities={ALL}'
  --set 'defaultClass.dind.security.dropCapabilities={SYS_RESOURCE}'
  --set 'defaultClass.dind.storageSize=5Gi')
helm template dockyard "$REPO_DIR/charts/dockyard" -n dockyard-system "${HELM_VALUES[@]}" >/dev/null &&
  pass "helm template" || fail "helm template"
helm upgrade --install dockyard "$REPO_DIR/charts/dockyard" -n dockyard-system --create-namespace \
  "${HELM_VALUES[@]}" --wait --timeout 120s >/dev/null
kubectl -n dockyard-system rollout status deploy/dockyard-controller --timeout=60s >/dev/null &&
  pass "the controller runs" || fail "the controller is not ready"

step "a DinD sandbox: apply, wait for Ready"
kubectl create namespace "$NS" >/dev/null 2>&1 || true
applied=$(date +%s%N)
kubectl -n "$NS" apply -f "$REPO_DIR/examples/sandbox-dind.yaml" >/dev/null
if kubectl -n "$NS" wait sandbox/dind-demo --for=condition=Ready --timeout=180s >/dev/null; then
  pass "dind-demo Ready in $(( ($(date +%s%N) - applied) / 1000000 )) ms"
else
  dump dind-demo; fail "dind-demo did not become Ready"
fi

x() { kubectl -n "$NS" exec -i sbx-dind-demo -c workload -- "$@"; }
out=$(x id 2>&1 || true)
expect "the workload runs as dev (uid 1000) with the socket's group" "$out" "uid=1000(dev)" "2375"
/usr/bin/docker save dockyard/busybox:1 | x docker load >/dev/null 2>&1
out=$(x sh -c 'cd /workspace && mkdir -p app && cd app && printf "FROM dockyard/busybox:1\nRUN echo built > /built\nCMD cat /built\n" > Dockerfile &&
  docker build -q -t local/app:1 . >/dev/null && docker run --rm local/app:1' 2>&1 || true)
expect "docker build and docker run as the user" "$out" "built"
out=$(x sh -c 'cd /workspace && echo from-workspace > note.txt && docker run --rm -v "$PWD:/src" dockyard/busybox:1 cat /src/note.txt' 2>&1 || true)
expect "docker run -v \$PWD:/src from the workspace" "$out" "from-workspace"
out=$(x sh -c 'cd /workspace/app && cat > docker-compose.yml <<YAML
version: "3"
services:
  server:
    image: dockyard/busybox:1
    command: sh -c "echo compose-ok > /data/msg && httpd -f -p 8080 -h /data"
    volumes: [data:/data]
    networks: [app]
  client:
    image: dockyard/busybox:1
    command: sh -c "sleep 1; wget -qO- http://server:8080/msg"
    depends_on: [server]
    networks: [app]
volumes: {data: {}}
networks: {app: {}}
YAML
docker compose up --abort-on-container-exit --exit-code-from client 2>&1; docker compose down -v >/dev/null 2>&1' 2>&1 || true)
expect "docker compose: an app with a network and a volume" "$out" "compose-ok"
out=$(x sh -c 'sudo -n apt-get --version | head -1; sudo -n id >/dev/null 2>&1 && echo SUDO-ID-ALLOWED || echo sudo-id-refused' 2>&1 || true)
expect "sudo allows apt-get and nothing else" "$out" "apt " "sudo-id-refused"

step "suspend removes the Pod; a refused sandbox says why"
kubectl -n "$NS" patch sandbox dind-demo --type merge -p '{"spec":{"suspended":true}}' >/dev/null
kubectl -n "$NS" wait sandbox/dind-demo --for=jsonpath='{.status.phase}'=Suspended --timeout=60s >/dev/null &&
  pass "suspended: phase Suspended" || fail "not suspended"
kubectl -n "$NS" wait pod/sbx-dind-demo --for=delete --timeout=60s >/dev/null && pass "suspended: no Pod" || fail "pod still there"
cat <<'YAML' | kubectl apply -f - >/dev/null
apiVersion: dockyard.dev/v1alpha1
kind: SandboxClass
metadata: {name: e2e-no-docker}
spec: {allowedDockerModes: [none]}
YAML
cat <<YAML | kubectl -n "$NS" apply -f - >/dev/null
apiVersion: dockyard.dev/v1alpha1
kind: Sandbox
metadata: {name: refused}
spec: {image: dockyard-sandbox:latest, className: e2e-no-docker}
YAML
kubectl -n "$NS" wait sandbox/refused --for=jsonpath='{.status.phase}'=Failed --timeout=60s >/dev/null || true
out=$(kubectl -n "$NS" get sandbox refused -o jsonpath='{.status.conditions[?(@.type=="Admitted")].reason}: {.status.conditions[?(@.type=="Admitted")].message}')
expect "a sandbox its class refuses shows the rule" "$out" "DockerModeNotAllowed" "allowedDockerModes: none"

step "deletion and uninstall"
kubectl -n "$NS" delete sandbox --all --wait=true --timeout=120s >/dev/null && pass "sandboxes deleted" || fail "sandboxes not deleted"
left=$(kubectl -n "$NS" get pods --no-headers 2>/dev/null | wc -l)
[[ $left == 0 ]] && pass "no sandbox Pod left" || fail "$left pods left"
kubectl delete sandboxclass e2e-no-docker >/dev/null
kubectl delete namespace "$NS" --wait=false >/dev/null
helm uninstall dockyard -n dockyard-system --wait >/dev/null
kubectl get crd sandboxes.dockyard.dev >/dev/null 2>&1 && fail "the CRDs outlived helm uninstall" || pass "helm uninstall removed the CRDs"

summary sandboxes
