#!/usr/bin/env bash
# Containment on the real node: the containers a brokered host-socket sandbox
# starts on the node's dockerd run in its Pod's cgroup, so the Pod's limits
# bound them. In a sandbox whose Pod may use 256 MiB, a container allocating
# 100 MiB runs and one allocating 600 MiB is OOM-killed while the sandbox lives
# on (its containers' oom_score_adj is 1000, so the OOM killer takes them
# before the sandbox's own processes); the node's dockerd shows each
# container's cgroup parent (the Pod's cgroup) and the PIDs limit of the
# sandbox's class, and a fork loop stops at that limit. The class decides the limit (a change reaches running
# sandboxes), the sandbox cannot pick another cgroup.
set -euo pipefail
E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO_DIR=$(dirname "$E2E_DIR")
source "$E2E_DIR/lib/log.sh"
source "$E2E_DIR/lib/checks.sh"
source "$E2E_DIR/lib/chart-values.sh"

start_node_with_images
NS=e2e-containment
SBX=contained
CLASS=e2e-contained
MIB=$((1024 * 1024))
DOCKER=/usr/bin/docker # the node's dockerd, raw (DOCKER_HOST from `cluster env`)
dump() {
  kubectl -n "$NS" get sandboxes,pods -o wide >&2 || true
  kubectl -n "$NS" describe sandbox "$SBX" >&2 || true
  kubectl -n "$NS" describe pod "sbx-$SBX" >&2 || true
  kubectl -n dockyard-system logs ds/dockyard-agent --tail=30 >&2 || true
}
h() { kubectl -n "$NS" exec -i "sbx-$SBX" -c workload -- "$@"; }

# A cgroup's file on the node: cgroup v2's unified hierarchy, or v1's hierarchy of CONTROLLER.
cgroup_file() { # CONTROLLER DIR V1_FILE V2_FILE
  if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then cat "/sys/fs/cgroup/$2/$4"; else cat "/sys/fs/cgroup/$1/$2/$3"; fi
}
cgroup_dir() { # CONTROLLER DIR
  if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then echo "/sys/fs/cgroup/$2"; else echo "/sys/fs/cgroup/$1/$2"; fi
}
# The Pod's cgroup as the kubelet (cgroupRoot /) makes it, spelt for dockerd's
# cgroup driver: POD_PARENT (HostConfig.CgroupParent) and POD_DIR (under a hierarchy).
pod_cgroup() { # POD_UID QOS_CLASS
  local parts=(kubepods) part slice="" dirs=()
  case $2 in Burstable) parts+=(burstable) ;; BestEffort) parts+=(besteffort) ;; esac
  parts+=("pod$1")
  if [[ $("$DOCKER" info --format '{{.CgroupDriver}}') == systemd ]]; then
    for part in "${parts[@]}"; do
      slice=${slice:+$slice-}${part//-/_}
      dirs+=("$slice.slice")
    done
    POD_PARENT=$slice.slice
    POD_DIR=$(IFS=/; echo "${dirs[*]}")
  else
    POD_DIR=$(IFS=/; echo "${parts[*]}")
    POD_PARENT=/$POD_DIR
  fi
}

step "helm install"
install_dockyard
kubectl -n dockyard-system rollout status ds/dockyard-agent --timeout=60s >/dev/null &&
  pass "the node agent runs" || { dump; fail "the node agent is not ready"; }

step "a brokered sandbox whose Pod may use 256 MiB, of a class with a PIDs limit of 512 and a shared busybox"
kubectl create namespace "$NS" >/dev/null 2>&1 || true
cat <<YAML | kubectl apply -f - >/dev/null
apiVersion: dockyard.dev/v1alpha1
kind: SandboxClass
metadata: {name: $CLASS}
spec:
  allowedDockerModes: [hostSocket]
  # The node's busybox (not the sandbox's to remove) for every sandbox of the class.
  broker: {pidsLimit: 512, sharedImages: [dockyard/busybox:1]}
YAML
cat <<YAML | kubectl -n "$NS" apply -f - >/dev/null
apiVersion: dockyard.dev/v1alpha1
kind: Sandbox
metadata: {name: $SBX}
spec:
  image: dockyard-sandbox:latest
  imagePullPolicy: IfNotPresent
  className: $CLASS
  user: {name: dev}
  resources: {requests: {memory: 128Mi}, limits: {memory: 256Mi}}
  docker: {mode: hostSocket, hostSocket: {access: brokered}}
YAML
if kubectl -n "$NS" wait "sandbox/$SBX" --for=condition=Ready --timeout=180s >/dev/null; then
  pass "$SBX Ready"
else
  dump; fail "$SBX did not become Ready"
fi
SBX_UID=$(kubectl -n "$NS" get sandbox "$SBX" -o jsonpath='{.metadata.uid}')
POD_UID=$(kubectl -n "$NS" get pod "sbx-$SBX" -o jsonpath='{.metadata.uid}')
QOS=$(kubectl -n "$NS" get pod "sbx-$SBX" -o jsonpath='{.status.qosClass}')
pod_cgroup "$POD_UID" "$QOS"
info "Pod $POD_UID ($QOS): cgroup parent $POD_PARENT"
limit=$(cgroup_file memory "$POD_DIR" memory.limit_in_bytes memory.max 2>&1 || true)
[[ $limit == $((256 * MIB)) ]] &&
  pass "the Pod's cgroup is limited to 256 MiB (every container of the Pod, init containers too, has a memory limit)" ||
  fail "the Pod's cgroup $POD_DIR has the memory limit '$limit', not 256 MiB: the kubelet sets one only when every container, init containers too, has a memory limit"

step "its containers run in the Pod's cgroup"
h docker run -d --name e2e-contained-sleeper dockyard/busybox:1 sleep 600 >/dev/null 2>&1 || true
out=$("$DOCKER" inspect --format '{{.HostConfig.CgroupParent}} {{.HostConfig.PidsLimit}}' e2e-contained-sleeper 2>&1 || true)
[[ $out == "$POD_PARENT 512" ]] &&
  pass "the node's dockerd: cgroup parent = the Pod's cgroup, PIDs limit = the class's 512" ||
  fail "the node's dockerd shows '$out' for the sandbox's container, not '$POD_PARENT 512'"
id=$("$DOCKER" inspect --format '{{.Id}}' e2e-contained-sleeper 2>/dev/null || true)
if [[ -n $id ]] && ls "$(cgroup_dir memory "$POD_DIR")" 2>/dev/null | grep -q "$id"; then
  pass "the container's cgroup lies in the Pod's on the node"
else
  fail "no cgroup of container '${id:-?}' under $(cgroup_dir memory "$POD_DIR")"
fi
# The kubelet gives the workload's processes an oom_score_adj near 1000
# (Burstable: 1000 - 1000 × request / node memory; BestEffort: 1000). A
# container with less would make the OOM killer take the sandbox's own
# processes (its PID 1 too: the Pod fails) before the container that ate the
# memory. Asking for less does not help.
"$DOCKER" rm -f e2e-contained-adj >/dev/null 2>&1 || true
h docker run -d --name e2e-contained-adj --oom-score-adj -1000 dockyard/busybox:1 sleep 600 >/dev/null 2>&1 || true
adj=$("$DOCKER" inspect --format '{{.HostConfig.OomScoreAdj}}' e2e-contained-sleeper 2>&1) || true
asked=$("$DOCKER" inspect --format '{{.HostConfig.OomScoreAdj}}' e2e-contained-adj 2>/dev/null) || asked=refused
out="$adj $asked"
[[ $out == "1000 1000" || $out == "1000 refused" ]] &&
  pass "the node's dockerd: oom_score_adj 1000, even when the sandbox asks for -1000 ($out)" ||
  fail "the sandbox's containers have oom_score_adj '$out', not 1000: an OOM in the Pod could kill the sandbox itself first"
out=$(h docker run --rm dockyard/busybox:1 dd if=/dev/zero of=/dev/null bs=100M count=1 2>&1 && echo allocated-100-mib || true)
expect "a container allocating 100 MiB runs" "$out" "allocated-100-mib"
# Three times: which process the OOM killer takes is decided anew each time.
for i in 1 2 3; do
  "$DOCKER" rm -f e2e-contained-hog >/dev/null 2>&1 || true
  out=$(h sh -c 'docker run --name e2e-contained-hog dockyard/busybox:1 dd if=/dev/zero of=/dev/null bs=600M count=1; echo "exit=$?"' 2>&1 || true)
  grep -qF "exit=137" <<<"$out" || break
done
expect "a container allocating 600 MiB is killed, three times, not the shell that started it" "$out" "exit=137"
out=$("$DOCKER" inspect --format 'OOMKilled={{.State.OOMKilled}}' e2e-contained-hog 2>&1 || true)
expect "the node's dockerd: it was OOM-killed" "$out" "OOMKilled=true"
"$DOCKER" rm -f e2e-contained-hog >/dev/null 2>&1 || true
out=$(h echo still-here 2>&1 || true)
status=$(kubectl -n "$NS" get pod "sbx-$SBX" -o jsonpath='{.metadata.uid} {.status.containerStatuses[0].restartCount}')
[[ $out == still-here && $status == "$POD_UID 0" ]] && pass "the sandbox itself lives on (same Pod, no restart)" ||
  { dump; fail "the sandbox did not survive its container's OOM ('$out'; Pod and restarts now '$status', were '$POD_UID 0')"; }
# The fork loop runs in a child shell, which stops at the first failed fork;
# the outer shell then reads its container's count with builtins only.
out=$(h docker run --rm dockyard/busybox:1 sh -c 'sh -c "for i in \$(seq 2000); do sleep 100 & done"
  read n < /sys/fs/cgroup/pids/pids.current || read n < /sys/fs/cgroup/pids.current
  read m < /sys/fs/cgroup/pids/pids.max || read m < /sys/fs/cgroup/pids.max
  echo "processes: $n, pids.max: $m"' 2>&1 || true)
n=$(sed -nE 's/.*processes: ([0-9]+),.*/\1/p' <<<"$out")
[[ -n $n ]] && ((n <= 512)) && grep -q "pids.max: 512" <<<"$out" && grep -q "can't fork" <<<"$out" &&
  pass "a fork loop of 2000 stops at the PIDs limit ($n processes)" || fail "the fork loop was not stopped at 512: $out"
"$DOCKER" rm -f e2e-contained-pids >/dev/null 2>&1 || true
h docker run -d --name e2e-contained-pids --pids-limit 100000 dockyard/busybox:1 sleep 600 >/dev/null 2>&1 || true
out=$("$DOCKER" inspect --format '{{.HostConfig.PidsLimit}}' e2e-contained-pids 2>&1 || true)
[[ $out == 512 ]] && pass "a container asking for 100000 PIDs gets the class's 512" || fail "--pids-limit 100000 gave '$out'"
out=$(h docker run --rm --cgroup-parent=/ dockyard/busybox:1 true 2>&1 && echo STARTED || true)
expect "a container asking for another cgroup parent is refused" "$out" "cgroup"
expect_not "… and not started" "$out" "STARTED"

step "the class decides: a change reaches the running sandbox"
kubectl patch sandboxclass "$CLASS" --type merge -p '{"spec":{"broker":{"pidsLimit":256}}}' >/dev/null
out=""
for _ in $(seq 30); do
  h docker rm -f e2e-contained-pids >/dev/null 2>&1 || true
  h docker run -d --name e2e-contained-pids dockyard/busybox:1 sleep 600 >/dev/null 2>&1 || true
  out=$("$DOCKER" inspect --format '{{.HostConfig.PidsLimit}}' e2e-contained-pids 2>&1 || true)
  [[ $out == 256 ]] && break
  sleep 1
done
[[ $out == 256 ]] && pass "pidsLimit 512 → 256 in the class: new containers get 256" ||
  { dump; fail "after the class changed, a new container got the PIDs limit '$out', not 256"; }

step "cleanup"
kubectl -n "$NS" delete sandbox "$SBX" --wait=true --timeout=120s >/dev/null &&
  pass "$SBX deleted" || { dump; fail "$SBX not deleted"; }
left=$("$DOCKER" ps -aq --filter "label=dockyard.dev/sandbox=$SBX_UID" | wc -l)
[[ $left == 0 ]] && pass "none of its containers is left on the node" || fail "$left containers left on the node"
kubectl delete sandboxclass "$CLASS" >/dev/null
kubectl delete namespace "$NS" --wait=false >/dev/null
helm uninstall dockyard -n dockyard-system --wait >/dev/null

summary containment
