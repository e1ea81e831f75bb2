#!/usr/bin/env bash
# End to end on the real node: build and load the images, `helm install` the
# chart, apply the DinD example, wait for Ready, and use Docker inside it as
# the unprivileged user (docker build, docker run with a workspace bind mount,
# a compose app with a network and a volume), check sudo; the same in a
# brokered host-socket sandbox, which must not see another sandbox's
# containers nor start a privileged one, and whose deletion leaves nothing on
# the node; suspend/resume, a refused sandbox, deletion, and `helm uninstall`.
set -euo pipefail
E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO_DIR=$(dirname "$E2E_DIR")
source "$E2E_DIR/lib/log.sh"
source "$E2E_DIR/lib/checks.sh"
source "$E2E_DIR/lib/chart-values.sh"

start_node_with_images
NS=e2e-sandboxes
STATE_DIR=$DOCKYARD_E2E_STATE_DIR
dump() {
  kubectl -n "$NS" get sandboxes,pods -o wide >&2 || true
  kubectl -n "$NS" describe sandbox "$1" >&2 || true
  kubectl -n "$NS" describe pod "sbx-$1" >&2 || true
  kubectl -n "$NS" logs "sbx-$1" -c dind --tail=30 >&2 || true
  kubectl -n dockyard-system logs deploy/dockyard-controller --tail=30 >&2 || true
  kubectl -n dockyard-system logs ds/dockyard-agent --tail=30 >&2 || true
}

# docker_checks EXEC WHERE: as the workload's user, through EXEC (x or h below):
# docker build + docker run, a bind mount from the workspace, and a compose app
# with a network and a volume. The images' Docker CLI is 26 with buildx, so
# `docker build` is a BuildKit build: through the sidecar's proxy to its
# dockerd 26, and refused (named) by the broker in front of this node's 20.10,
# whose BuildKit cannot put build steps under the sandbox's cgroup; the
# classic builder works there.
docker_checks() {
  local exec=$1 where=$2 out
  $exec sh -c 'mkdir -p /workspace/app && cd /workspace/app && printf "FROM dockyard/busybox:1\nRUN echo built > /built\nCMD cat /built\n" > Dockerfile'
  if [[ $where == DinD ]]; then
    out=$($exec sh -c 'docker version --format "client {{.Client.Version}} server {{.Server.Version}}"; docker compose version; docker buildx version' 2>&1 || true)
    expect "$where: Docker 26 client and server, Compose v2, buildx" "$out" "client 26." "server 26." "Compose version 2." "buildx"
    out=$($exec sh -c 'cd /workspace/app && docker build -q -t local/app:1 . >/dev/null && docker run --rm local/app:1' 2>&1 || true)
    expect "$where: docker build (BuildKit) and docker run as the user" "$out" "built"
    # Multi-stage with a cache mount, built twice: the second build finds the first one's cache.
    out=$($exec sh -c 'cd /workspace/app && printf "FROM dockyard/busybox:1 AS build\nARG N\nRUN --mount=type=cache,target=/cache echo \$N >> /cache/runs && wc -l < /cache/runs > /runs\nFROM dockyard/busybox:1\nCOPY --from=build /runs /runs\nCMD cat /runs\n" > Dockerfile.cache &&
      for n in 1 2; do docker buildx build -q --build-arg N=$n -f Dockerfile.cache -t local/cached:$n . >/dev/null || exit 1; done; docker run --rm local/cached:2' 2>&1 || true)
    expect "$where: docker buildx build, multi-stage with RUN --mount=type=cache, the cache kept between builds" "$out" "2"
  else
    out=$($exec sh -c 'cd /workspace/app && docker build -q -t local/app:1 .' 2>&1 || true)
    expect "$where: a BuildKit build on the node's Docker 20.10 is refused, named" "$out" "API 1.41" "DOCKER_BUILDKIT=0"
    out=$($exec sh -c 'cd /workspace/app && DOCKER_BUILDKIT=0 docker build -q -t local/app:1 . >/dev/null 2>&1 && docker run --rm local/app:1' 2>&1 || true)
    expect "$where: docker build (classic builder) and docker run as the user" "$out" "built"
  fi
  out=$($exec sh -c 'cd /workspace && echo from-workspace > note.txt && docker run --rm -v "$PWD:/src" dockyard/busybox:1 cat /src/note.txt' 2>&1 || true)
  expect "$where: docker run -v \$PWD:/src from the workspace" "$out" "from-workspace"
  out=$($exec sh -c 'cd /workspace/app && cat > docker-compose.yml <<YAML
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
  expect "$where: docker compose, an app with a network and a volume" "$out" "compose-ok"
}

step "helm install"
helm lint "$REPO_DIR/charts/dockyard" >/dev/null && pass "helm lint" || fail "helm lint"
helm template dockyard "$REPO_DIR/charts/dockyard" -n dockyard-system "${HELM_VALUES[@]}" >/dev/null &&
  pass "helm template" || fail "helm template"
# charts/dockyard/README.md lists every value of values.yaml.
out=$(python3 - "$REPO_DIR/charts/dockyard" <<'PY'
import sys, yaml
chart = sys.argv[1]
readme = open(chart + "/README.md").read()
def leaves(d, p=""):
    for k, v in d.items():
        if isinstance(v, dict) and v and k not in ("resources", "securityContext", "requests", "limits"):
            yield from leaves(v, p + k + ".")
        else:
            yield p + k
print(" ".join(k for k in leaves(yaml.safe_load(open(chart + "/values.yaml"))) if "`%s`" % k not in readme))
PY
)
[[ -z $out ]] && pass "the chart's README lists every value" || fail "values missing from charts/dockyard/README.md: $out"
# values.schema.json: a wrong type or a misspelt value is refused, naming it.
out=$(helm template dockyard "$REPO_DIR/charts/dockyard" --set controller.replicas=two 2>&1 || true)
expect "helm refuses a value of the wrong type, naming it" "$out" "/controller/replicas" "want integer"
out=$(helm template dockyard "$REPO_DIR/charts/dockyard" --set agent.dockerSockett=/run/docker.sock 2>&1 || true)
expect "helm refuses a misspelt value, naming it" "$out" "'dockerSockett' not allowed"
install_dockyard
kubectl -n dockyard-system rollout status deploy/dockyard-controller --timeout=60s >/dev/null &&
  pass "the controller runs" || fail "the controller is not ready"
kubectl -n dockyard-system rollout status ds/dockyard-agent --timeout=60s >/dev/null &&
  pass "the node agent runs (gRPC health: serving)" || { dump none; fail "the node agent is not ready"; }

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
docker_checks x "DinD"
out=$(x sh -c 'sudo -n apt-get --version | head -1; sudo -n id >/dev/null 2>&1 && echo SUDO-ID-ALLOWED || echo sudo-id-refused' 2>&1 || true)
expect "sudo allows apt-get and nothing else" "$out" "apt " "sudo-id-refused"

step "a brokered host-socket sandbox: apply, wait for Ready"
applied=$(date +%s%N)
kubectl -n "$NS" apply -f "$REPO_DIR/examples/sandbox-host-socket.yaml" >/dev/null
if kubectl -n "$NS" wait sandbox/host-socket-demo --for=condition=Ready --timeout=180s >/dev/null; then
  pass "host-socket-demo Ready in $(( ($(date +%s%N) - applied) / 1000000 )) ms"
else
  dump host-socket-demo; fail "host-socket-demo did not become Ready"
fi
HS_UID=$(kubectl -n "$NS" get sandbox host-socket-demo -o jsonpath='{.metadata.uid}')
h() { kubectl -n "$NS" exec -i sbx-host-socket-demo -c workload -- "$@"; }
out=$(h id 2>&1 || true)
expect "the workload runs as dev (uid 1000) with the broker socket's group" "$out" "uid=1000(dev)" "2375"
docker_checks h "through the broker"
# Another sandbox's container on the node (as its broker would label it).
/usr/bin/docker rm -f e2e-other-sandbox >/dev/null 2>&1 || true
/usr/bin/docker run -d --name e2e-other-sandbox --label dockyard.dev/sandbox=another-sandbox dockyard/busybox:1 sleep 600 >/dev/null
out=$(h sh -c 'docker ps -a --format "{{.Names}}"; docker inspect e2e-other-sandbox >/dev/null 2>&1 && echo SEES-OTHER || echo other-invisible' 2>&1 || true)
expect "another sandbox's containers are invisible" "$out" "other-invisible"
expect_not "docker ps lists no other sandbox's container" "$out" "e2e-other-sandbox"
out=$(h docker run --rm --privileged dockyard/busybox:1 true 2>&1 || true)
expect "a privileged container is refused with the reason" "$out" "privileged containers would own the node"
out=$(h docker run --rm -v /etc:/host-etc dockyard/busybox:1 true 2>&1 || true)
expect "a host bind mount is refused with the reason" "$out" "outside the workspace"
/usr/bin/docker rm -f e2e-other-sandbox >/dev/null
"$E2E_DIR/cluster" restart-docker >/dev/null
out=""
for _ in $(seq 20); do
  out=$(h docker run --rm dockyard/busybox:1 echo after-the-daemon-restarted 2>&1) && break
  sleep 1
done
expect "the node's dockerd restarted: the broker reconnects" "$out" "after-the-daemon-restarted"
# Suspend stops what the sandbox started on the node; a resumed sandbox gets its broker again.
h docker run -d --name e2e-napping dockyard/busybox:1 sleep 600 >/dev/null 2>&1 || true
kubectl -n "$NS" patch sandbox host-socket-demo --type merge -p '{"spec":{"suspended":true}}' >/dev/null
kubectl -n "$NS" wait sandbox/host-socket-demo --for=jsonpath='{.status.phase}'=Suspended --timeout=90s >/dev/null || true
n=$(/usr/bin/docker ps -aq --filter "label=dockyard.dev/sandbox=$HS_UID" | wc -l)
[[ $n == 0 ]] && pass "suspending a brokered sandbox removes the containers it started on the node" ||
  fail "$n containers of the suspended sandbox left on the node"
kubectl -n "$NS" wait pod/sbx-host-socket-demo --for=delete --timeout=60s >/dev/null 2>&1 || true
kubectl -n "$NS" patch sandbox host-socket-demo --type merge -p '{"spec":{"suspended":false}}' >/dev/null
kubectl -n "$NS" wait sandbox/host-socket-demo --for=condition=Ready --timeout=120s >/dev/null || dump host-socket-demo
out=$(h docker run --rm dockyard/busybox:1 echo resumed-with-docker 2>&1 || true)
expect "resumed: the broker serves it again" "$out" "resumed-with-docker"
h docker volume create e2e-kept-until-deletion >/dev/null 2>&1 || true
h docker run -d --name e2e-left-running dockyard/busybox:1 sleep 600 >/dev/null 2>&1 || true
kubectl -n "$NS" delete sandbox host-socket-demo --wait=true --timeout=120s >/dev/null &&
  pass "host-socket-demo deleted (finalizer released after the agent's cleanup)" || { dump host-socket-demo; fail "host-socket-demo not deleted"; }
left=$( { /usr/bin/docker ps -aq --filter "label=dockyard.dev/sandbox=$HS_UID"
  /usr/bin/docker network ls -q --filter "label=dockyard.dev/sandbox=$HS_UID"
  /usr/bin/docker volume ls -q --filter "label=dockyard.dev/sandbox=$HS_UID"
  /usr/bin/docker images -q --filter "label=dockyard.dev/sandbox=$HS_UID"; } | wc -l)
[[ $left == 0 ]] && pass "nothing the host-socket sandbox created is left on the node" || fail "$left objects left on the node"
[[ ! -e /var/run/dockyard/sandboxes/$HS_UID ]] && pass "its broker socket directory is gone" || fail "broker socket directory left"

step "a persistent workspace survives suspend and resume"
# No provisioner on this cluster: a hostPath volume without a class, which the
# workspace claim (no class either) binds to.
PV_DIR=$STATE_DIR/e2e-workspace-pv
mkdir -p "$PV_DIR" && chmod 777 "$PV_DIR"
cat <<YAML | kubectl apply -f - >/dev/null
apiVersion: v1
kind: PersistentVolume
metadata: {name: e2e-workspace}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: ""
  hostPath: {path: $PV_DIR, type: Directory}
YAML
kubectl -n "$NS" apply -f "$REPO_DIR/examples/sandbox-persistent-workspace.yaml" >/dev/null
if kubectl -n "$NS" wait sandbox/persistent --for=condition=Ready --timeout=120s >/dev/null; then
  pass "persistent Ready with its claim bound"
else
  dump persistent; fail "persistent did not become Ready"
fi
p() { kubectl -n "$NS" exec -i sbx-persistent -c workload -- "$@"; }
p sh -c 'echo kept-across-suspend > /workspace/kept.txt' 2>/dev/null || true
kubectl -n "$NS" patch sandbox persistent --type merge -p '{"spec":{"suspended":true}}' >/dev/null
kubectl -n "$NS" wait pod/sbx-persistent --for=delete --timeout=60s >/dev/null && pass "suspended: its Pod is gone" || fail "pod still there"
kubectl -n "$NS" patch sandbox persistent --type merge -p '{"spec":{"suspended":false}}' >/dev/null
kubectl -n "$NS" wait sandbox/persistent --for=condition=Ready --timeout=120s >/dev/null || dump persistent
out=$(p cat /workspace/kept.txt 2>&1 || true)
expect "resumed: the workspace kept its files" "$out" "kept-across-suspend"

step "the class configures the DinD daemon; a persistent store survives suspend and resume"
# The store's claim (<name>-docker, made by the controller) binds to this volume.
STORE_PV_DIR=$STATE_DIR/e2e-dind-store-pv
rm -rf "$STORE_PV_DIR" && mkdir -p "$STORE_PV_DIR"
cat <<YAML | kubectl apply -f - >/dev/null
apiVersion: v1
kind: PersistentVolume
metadata: {name: e2e-dind-store}
spec:
  capacity: {storage: 2Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: ""
  claimRef: {namespace: $NS, name: daemon-docker}
  hostPath: {path: $STORE_PV_DIR, type: Directory}
---
apiVersion: dockyard.dev/v1alpha1
kind: SandboxClass
metadata: {name: e2e-dind-daemon}
spec:
  dind:
    mtu: 1400
    addressPools: [{base: 10.231.0.0/16, size: 24}]
    registryMirrors: [https://mirror.e2e.invalid]
    insecureRegistries: [registry.e2e.invalid:5000]
    storageDriver: vfs
    persistentStorage: true
    storageSize: 2Gi
---
apiVersion: dockyard.dev/v1alpha1
kind: Sandbox
metadata: {name: daemon, namespace: $NS}
spec: {image: dockyard-sandbox:latest, imagePullPolicy: IfNotPresent, user: {name: dev}, className: e2e-dind-daemon}
YAML
if kubectl -n "$NS" wait sandbox/daemon --for=condition=Ready --timeout=180s >/dev/null; then
  pass "a DinD sandbox of a class that configures its daemon is Ready"
else
  dump daemon; fail "daemon did not become Ready"
fi
d() { kubectl -n "$NS" exec -i sbx-daemon -c workload -- "$@"; }
out=$(d docker info 2>&1 || true)
expect "docker info shows the class's mirrors, insecure registries and storage driver" "$out" \
  "https://mirror.e2e.invalid/" "registry.e2e.invalid:5000" "Storage Driver: vfs"
out=$(d sh -c 'docker network create e2e-net >/dev/null && docker network inspect -f "{{range .IPAM.Config}}{{.Subnet}}{{end}}" e2e-net; docker network inspect -f "{{index .Options \"com.docker.network.driver.mtu\"}}" bridge' 2>&1 || true)
expect "... its networks come from the class's address pools, with its MTU" "$out" "10.231." "1400"
out=$(kubectl -n "$NS" get pvc daemon-docker -o jsonpath='{.status.phase} {.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}' 2>&1 || true)
expect "the store is a claim the Sandbox owns" "$out" "Bound Sandbox/daemon"
/usr/bin/docker save dockyard/busybox:1 | d docker load >/dev/null 2>&1
d docker tag dockyard/busybox:1 local/kept:1 >/dev/null 2>&1 || true
kubectl -n "$NS" patch sandbox daemon --type merge -p '{"spec":{"suspended":true}}' >/dev/null
kubectl -n "$NS" wait pod/sbx-daemon --for=delete --timeout=90s >/dev/null && pass "suspended: its Pod is gone" || fail "sbx-daemon still there"
kubectl -n "$NS" get pvc daemon-docker >/dev/null 2>&1 && pass "... and its store is kept" || fail "the store went with the Pod"
kubectl -n "$NS" patch sandbox daemon --type merge -p '{"spec":{"suspended":false}}' >/dev/null
kubectl -n "$NS" wait sandbox/daemon --for=condition=Ready --timeout=180s >/dev/null || dump daemon
out=$(d docker image inspect -f 'kept {{.Id}}' local/kept:1 2>&1 || true)
expect "resumed: the daemon still has the image made before the suspend" "$out" "kept sha256:"
kubectl -n "$NS" delete sandbox daemon --wait=true --timeout=120s >/dev/null
kubectl -n "$NS" wait pvc/daemon-docker --for=delete --timeout=60s >/dev/null 2>&1 &&
  pass "deleted with the Sandbox: its store goes too" || fail "the store outlived its Sandbox"
kubectl delete sandboxclass e2e-dind-daemon >/dev/null
kubectl delete pv e2e-dind-store --wait=false >/dev/null

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

step "Kubernetes' refusals and the kubelet's failures are on the Sandbox"
# A namespace enforcing Pod Security baseline: a DinD sidecar needs capabilities.
PSA_NS=$NS-baseline
kubectl create namespace "$PSA_NS" >/dev/null
kubectl label namespace "$PSA_NS" pod-security.kubernetes.io/enforce=baseline >/dev/null
cat <<YAML | kubectl -n "$PSA_NS" apply -f - >/dev/null
apiVersion: dockyard.dev/v1alpha1
kind: Sandbox
metadata: {name: psa}
spec: {image: dockyard-sandbox:latest, imagePullPolicy: IfNotPresent, user: {name: dev}, docker: {dind: {storage: {size: 1Gi}}}}
YAML
out=$(ready_reason "$PSA_NS" psa PodSecurity)
expect "Pod Security baseline refuses a DinD sandbox's Pod: the Sandbox says so in the API server's words" "$out" \
  "PodSecurity: " 'violates PodSecurity "baseline:latest"' "securityContext.capabilities.add"
out=$(condition_of "$PSA_NS" psa PodSecurity)
expect "... in a PodSecurity condition naming the level and the field" "$out" \
  "False Violation: " 'violates PodSecurity "baseline:latest"' "securityContext.capabilities.add"
expect_not "... and no Pod was made" "$(kubectl -n "$PSA_NS" get pods -o name)" "sbx-psa"
sleep 6
n=$(kubectl -n "$PSA_NS" get events --field-selector involvedObject.name=psa,reason=PodSecurity -o name | wc -l)
[[ $n == 1 ]] && pass "... with one event, not one per retry" || fail "PodSecurity events: $n"
out=$(kubectl -n "$PSA_NS" get sandboxes 2>&1 || true)
expect "kubectl get sandboxes shows the reason" "$out" "REASON" "PodSecurity"
# A brokered sandbox needs no hostPath: its socket comes through the agent's CSI
# driver, and baseline admits its Pod, sudo included (setuid, within baseline's
# capabilities).
cat <<YAML | kubectl -n "$PSA_NS" apply -f - >/dev/null
apiVersion: dockyard.dev/v1alpha1
kind: Sandbox
metadata: {name: psa-brokered}
spec: {image: dockyard-sandbox:latest, imagePullPolicy: IfNotPresent, user: {name: dev}, docker: {mode: hostSocket},
       sudo: {commands: [/usr/bin/apt-get]}}
YAML
if kubectl -n "$PSA_NS" wait sandbox/psa-brokered --for=condition=Ready --timeout=120s >/dev/null; then
  out=$(kubectl -n "$PSA_NS" exec sbx-psa-brokered -c workload -- docker run --rm dockyard/busybox:1 echo through-the-csi-volume 2>&1 || true)
  expect "Pod Security baseline admits a brokered sandbox: Docker through the socket the CSI driver published" "$out" "through-the-csi-volume"
  out=$(kubectl -n "$PSA_NS" exec sbx-psa-brokered -c workload -- sh -c 'sudo -n /usr/bin/apt-get --version | head -1; sudo -n id -u 2>&1 || echo no-other-sudo' 2>&1 || true)
  expect "... with sudo for the listed program only" "$out" "apt" "no-other-sudo"
  out=$(kubectl -n "$PSA_NS" get pod sbx-psa-brokered -o jsonpath='{.spec.volumes[*].hostPath}')
  [[ -z $out ]] && pass "... and its Pod has no hostPath volume" || fail "hostPath volumes: $out"
else
  NS=$PSA_NS dump psa-brokered; fail "a brokered sandbox under baseline did not become Ready: $(ready_reason "$PSA_NS" psa-brokered Ready)"
fi
# Pod Security restricted: a brokered sandbox without sudo runs (every container
# non-root, no escalation, no capability, RuntimeDefault; no hostPath), and so
# does one without Docker; with sudo (setuid, so allowPrivilegeEscalation) it is
# refused before any Pod is made, saying why.
PSR_NS=$NS-restricted
kubectl create namespace "$PSR_NS" >/dev/null
kubectl label namespace "$PSR_NS" pod-security.kubernetes.io/enforce=restricted >/dev/null
cat <<YAML | kubectl -n "$PSR_NS" apply -f - >/dev/null
apiVersion: dockyard.dev/v1alpha1
kind: Sandbox
metadata: {name: restricted}
spec: {image: dockyard-sandbox:latest, imagePullPolicy: IfNotPresent, user: {name: dev}, docker: {mode: hostSocket}}
---
apiVersion: dockyard.dev/v1alpha1
kind: Sandbox
metadata: {name: restricted-sudo}
spec: {image: dockyard-sandbox:latest, imagePullPolicy: IfNotPresent, user: {name: dev}, docker: {mode: hostSocket},
       sudo: {commands: [/usr/bin/apt-get]}}
---
apiVersion: dockyard.dev/v1alpha1
kind: Sandbox
metadata: {name: restricted-none}
spec: {image: dockyard-sandbox:latest, imagePullPolicy: IfNotPresent, user: {name: dev}, docker: {mode: none}}
YAML
if kubectl -n "$PSR_NS" wait sandbox/restricted --for=condition=Ready --timeout=120s >/dev/null; then
  out=$(kubectl -n "$PSR_NS" exec sbx-restricted -c workload -- sh -c 'id -un; docker run --rm dockyard/busybox:1 echo under-restricted' 2>&1 || true)
  expect "Pod Security restricted admits a brokered sandbox without sudo; Docker works in it" "$out" "dev" "under-restricted"
else
  NS=$PSR_NS dump restricted; fail "a brokered sandbox under restricted did not become Ready: $(ready_reason "$PSR_NS" restricted Ready)"
fi
kubectl -n "$PSR_NS" wait sandbox/restricted-none --for=condition=Ready --timeout=120s >/dev/null &&
  pass "... and one without Docker" || fail "restricted-none: $(ready_reason "$PSR_NS" restricted-none Ready)"
out=$(condition_of "$PSR_NS" restricted-sudo PodSecurity)
expect "... and refuses one with sudo before any Pod, saying why" "$out" "False SudoNeedsEscalation: " \
  'enforces Pod Security "restricted"' "allowPrivilegeEscalation" "remove spec.sudo.commands"
expect_not "... (no Pod was made)" "$(kubectl -n "$PSR_NS" get pods -o name)" "sbx-restricted-sudo"
n=$(kubectl -n "$PSR_NS" get events --field-selector involvedObject.name=restricted-sudo,reason=SudoNeedsEscalation -o name | wc -l)
[[ $n == 1 ]] && pass "... with one event" || fail "SudoNeedsEscalation events: $n"
# A class meant for other levels: refused before any Pod, naming both.
cat <<YAML | kubectl apply -f - >/dev/null
apiVersion: dockyard.dev/v1alpha1
kind: SandboxClass
metadata: {name: e2e-privileged-only}
spec: {podSecurityLevels: [privileged]}
YAML
cat <<YAML | kubectl -n "$PSR_NS" apply -f - >/dev/null
apiVersion: dockyard.dev/v1alpha1
kind: Sandbox
metadata: {name: wrong-level}
spec: {image: dockyard-sandbox:latest, className: e2e-privileged-only, docker: {mode: none}}
YAML
out=$(condition_of "$PSR_NS" wrong-level PodSecurity)
expect "a class meant for other levels is refused in a restricted namespace, naming both" "$out" \
  "False ClassNotMeantForLevel: " 'enforces Pod Security "restricted"' "privileged (spec.podSecurityLevels)"
kubectl delete sandboxclass e2e-privileged-only >/dev/null
kubectl -n "$PSR_NS" delete sandbox --all --wait=true --timeout=120s >/dev/null
kubectl delete namespace "$PSR_NS" --wait=false >/dev/null
out=$(kubectl get csinode dockyard-node -o jsonpath='{.spec.drivers[*].name}')
expect "the kubelet registered the agent's CSI driver (CSINode)" "$out" "broker.dockyard.dev"
# A Pod of the tenant's own that mounts the driver, or that claims a Sandbox as
# its owner (to be taken for the sandbox's Pod), is refused at create by the
# chart's ValidatingAdmissionPolicy: only the controller makes sandbox Pods. (The
# agent checks every publish on its own as well: crates/agent/tests/csi.rs.)
out=$(cat <<YAML | kubectl -n "$PSA_NS" apply -f - 2>&1 || true
apiVersion: v1
kind: Pod
metadata: {name: sbx-impostor}
spec:
  containers:
    - {name: c, image: dockyard/busybox:1, imagePullPolicy: Never, command: [sleep, "600"], volumeMounts: [{name: docker-socket, mountPath: /s}]}
  volumes: [{name: docker-socket, csi: {driver: broker.dockyard.dev}}]
YAML
)
expect "a Pod of the tenant's that mounts the broker's CSI volume is refused, saying why" "$out" \
  "dockyard-sandbox-pods" "may make a Pod that mounts a broker.dockyard.dev volume"
brokered_uid=$(kubectl -n "$PSA_NS" get sandbox psa-brokered -o jsonpath='{.metadata.uid}')
kubectl -n "$PSA_NS" delete pod sbx-psa-brokered --wait=true --timeout=60s >/dev/null
out=$(cat <<YAML | kubectl -n "$PSA_NS" create -f - 2>&1 || true
apiVersion: v1
kind: Pod
metadata:
  name: sbx-psa-brokered
  ownerReferences: [{apiVersion: dockyard.dev/v1alpha1, kind: Sandbox, name: psa-brokered, uid: "$brokered_uid", controller: true}]
spec:
  containers: [{name: c, image: dockyard/busybox:1, imagePullPolicy: Never, command: [sleep, "600"]}]
YAML
)
expect "a Pod of the tenant's that claims a Sandbox as owner (the sandbox's Pod just deleted) is refused" "$out" \
  "may make a Pod or claim owned by a Sandbox"
kubectl -n "$PSA_NS" wait sandbox/psa-brokered --for=condition=Ready --timeout=120s >/dev/null &&
  pass "... and the controller makes the sandbox's Pod again" || fail "psa-brokered: $(ready_reason "$PSA_NS" psa-brokered Ready)"
# (--profile=restricted: the default profile adds SYS_PTRACE, which Pod Security refuses first.)
out=$(kubectl -n "$PSA_NS" debug sbx-psa-brokered --profile=restricted --image=dockyard/busybox:1 --image-pull-policy=Never -- true 2>&1 || true)
expect "kubectl debug into a sandbox's Pod is refused, saying why" "$out" "ephemeral containers (kubectl debug) are not allowed"
out=$(cat <<YAML | kubectl -n "$PSA_NS" create -f - 2>&1 || true
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: psa-brokered-docker
  ownerReferences: [{apiVersion: dockyard.dev/v1alpha1, kind: Sandbox, name: psa-brokered, uid: "$brokered_uid", controller: true}]
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
YAML
)
expect "a claim of the tenant's that claims a Sandbox as owner is refused" "$out" "may make a Pod or claim owned by a Sandbox"
# A look-alike owner reference (another API group) passes the policy, and is
# not taken for the sandbox's: the Sandbox says its Pod's name is taken. (Made
# while the sandbox is suspended: otherwise the controller's new Pod comes first.)
kubectl -n "$PSA_NS" patch sandbox psa-brokered --type merge -p '{"spec":{"suspended":true}}' >/dev/null
kubectl -n "$PSA_NS" wait sandbox/psa-brokered --for=jsonpath='{.status.phase}'=Suspended --timeout=90s >/dev/null || true
kubectl -n "$PSA_NS" wait pod/sbx-psa-brokered --for=delete --timeout=90s >/dev/null 2>&1 || true
cat <<YAML | kubectl -n "$PSA_NS" create -f - >/dev/null
apiVersion: v1
kind: Pod
metadata:
  name: sbx-psa-brokered
  labels: {dockyard.dev/docker-mode: hostSocket, dockyard.dev/sandbox: psa-brokered, dockyard.dev/sandbox-uid: "$brokered_uid"}
  ownerReferences: [{apiVersion: dockyard.example/v1alpha1, kind: Sandbox, name: psa-brokered, uid: "$brokered_uid", controller: true}]
spec:
  containers: [{name: workload, image: dockyard/busybox:1, imagePullPolicy: Never, command: [sleep, "600"]}]
YAML
kubectl -n "$PSA_NS" patch sandbox psa-brokered --type merge -p '{"spec":{"suspended":false}}' >/dev/null
out=$(ready_reason "$PSA_NS" psa-brokered PodNameTaken)
expect "a Pod with a look-alike owner is not taken for the sandbox's" "$out" "PodNameTaken: " "does not own"
kubectl -n "$PSA_NS" delete pod sbx-psa-brokered --wait=true --timeout=60s >/dev/null
kubectl -n "$PSA_NS" wait sandbox/psa-brokered --for=condition=Ready --timeout=120s >/dev/null &&
  pass "... and once it is gone the sandbox runs again" || fail "psa-brokered: $(ready_reason "$PSA_NS" psa-brokered Ready)"
kubectl label namespace "$PSA_NS" pod-security.kubernetes.io/enforce- >/dev/null
kubectl -n "$PSA_NS" wait sandbox/psa --for=condition=Ready --timeout=120s >/dev/null &&
  pass "... and runs by itself once the namespace allows it" || fail "psa did not recover: $(ready_reason "$PSA_NS" psa Ready)"
kubectl -n "$PSA_NS" delete sandbox --all --wait=true --timeout=120s >/dev/null
kubectl delete namespace "$PSA_NS" --wait=false >/dev/null
# A typo in the image: the kubelet's reason, naming the container.
cat <<YAML | kubectl -n "$NS" apply -f - >/dev/null
apiVersion: dockyard.dev/v1alpha1
kind: Sandbox
metadata: {name: typo}
spec: {image: dockyard-sandbx:latest, imagePullPolicy: IfNotPresent, user: {name: dev}, docker: {mode: none}}
YAML
kubectl -n "$NS" wait sandbox/typo --for=jsonpath='{.status.conditions[?(@.type=="Ready")].reason}'=ErrImagePull --timeout=90s >/dev/null 2>&1 ||
  kubectl -n "$NS" wait sandbox/typo --for=jsonpath='{.status.conditions[?(@.type=="Ready")].reason}'=ImagePullBackOff --timeout=60s >/dev/null 2>&1 || true
out=$(kubectl -n "$NS" get sandbox typo -o jsonpath='{.status.conditions[?(@.type=="Ready")].reason}: {.status.conditions[?(@.type=="Ready")].message}')
expect "an image that cannot be pulled: the kubelet's reason on the Sandbox, the container named" "$out" \
  "ImagePull" "container " "dockyard-sandbx:latest"

step "deletion and uninstall"
kubectl -n "$NS" delete sandbox --all --wait=true --timeout=120s >/dev/null && pass "sandboxes deleted" || fail "sandboxes not deleted"
# Their Pods go with them through the garbage collector: give it a moment.
kubectl -n "$NS" wait pod --all --for=delete --timeout=60s >/dev/null 2>&1 || true
left=$(kubectl -n "$NS" get pods --no-headers 2>/dev/null | wc -l)
[[ $left == 0 ]] && pass "no sandbox Pod left" || fail "$left pods left"
kubectl delete sandboxclass e2e-no-docker >/dev/null
kubectl delete pv e2e-workspace --wait=false >/dev/null 2>&1 || true
rm -rf "$PV_DIR"
kubectl delete namespace "$NS" --wait=false >/dev/null
helm uninstall dockyard -n dockyard-system --wait >/dev/null
# The CRDs stay (deleting one deletes every Sandbox): removed here on purpose.
kubectl get crd sandboxes.dockyard.dev >/dev/null 2>&1 && pass "helm uninstall keeps the CRDs" || fail "helm uninstall removed the CRDs"
kubectl delete crd sandboxes.dockyard.dev sandboxclasses.dockyard.dev sandboxpools.dockyard.dev >/dev/null

summary sandboxes
