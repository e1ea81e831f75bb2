#!/usr/bin/env bash
# DinD without node root, on the real node. A DinD sandbox of the default class
# (profile userNamespace) whose sidecar may use 512 MiB; as its user (uid 1000,
# in the socket's group) through its own daemon:
#  - escapes, judged by their effect on the node: the cgroup v1 release_agent
#    attack and the core_pattern attack (each with --cap-add SYS_ADMIN and
#    seccomp/AppArmor unconfined, as issue 14 found them) must leave no marker
#    file on the node; the node's core_pattern stays; --privileged is refused.
#    Each attack twice: as the user through the workload's socket, where the
#    sidecar's policy proxy refuses it with the reason; and straight on
#    dockerd's raw socket inside the sidecar (what a request the policy missed
#    would reach), where the user-namespace layer alone holds, and the
#    cgroup-namespace layer alone (a container in the sidecar's own user
#    namespace, --userns=host, sees no release_agent);
#  - containment: its containers' cgroups lie under the Pod's, a container
#    allocating 600 MiB is OOM-killed, a fork loop is stopped, the sandbox lives on;
#  - parity: the sandbox user is itself in containers, so a bind-mounted
#    workspace gets files the user owns; docker exec and docker logs.
# (sandboxes.sh runs docker build, docker run -v $PWD:/src and compose in the
# same kind of sandbox.)
#
# DIND_ESCAPES_POD=NS/POD runs the checks against a running DinD Pod instead
# (no helm install, no Sandbox, nothing deleted).
set -euo pipefail
E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO_DIR=$(dirname "$E2E_DIR")
source "$E2E_DIR/lib/log.sh"
source "$E2E_DIR/lib/checks.sh"
source "$E2E_DIR/lib/chart-values.sh"

SBX=escapes
if [[ -n ${DIND_ESCAPES_POD:-} ]]; then
  "$E2E_DIR/cluster" up --profile node
  eval "$("$E2E_DIR/cluster" env)"
  NS=${DIND_ESCAPES_POD%%/*} POD=${DIND_ESCAPES_POD#*/}
else
  start_node_with_images
  NS=e2e-dind-escapes POD=sbx-$SBX
fi
B=dockyard/busybox:1
MARK=dockyard-e2e-marker-$$-$RANDOM # the attacks' marker, in the node's /tmp
dump() {
  kubectl -n "$NS" get sandboxes,pods -o wide >&2 || true
  kubectl -n "$NS" describe pod "$POD" >&2 || true
  kubectl -n "$NS" logs "$POD" -c dind --tail=40 >&2 || true
}
x() { kubectl -n "$NS" exec -i "$POD" -c workload -- "$@"; }
# dockerd's raw socket, reachable only inside the sidecar: a policy miss.
rawdocker() { kubectl -n "$NS" exec -i "$POD" -c dind -- docker -H unix:///run/dockyard-dind/docker.sock "$@"; }
no_marker() { # NAME: the node has no file of this run's marker
  local found
  found=$(ls -d /tmp/"$MARK"* 2>/dev/null || true)
  [[ -z $found ]] && pass "$1: no marker on the node" || { fail "$1: THE NODE GOT $found"; rm -rf /tmp/"$MARK"*; }
}

if [[ -z ${DIND_ESCAPES_POD:-} ]]; then
  step "helm install; a DinD sandbox of the default class, its sidecar limited to 512 MiB"
  install_dockyard
  kubectl create namespace "$NS" >/dev/null 2>&1 || true
  cat <<YAML | kubectl -n "$NS" apply -f - >/dev/null
apiVersion: dockyard.dev/v1alpha1
kind: Sandbox
metadata: {name: $SBX}
spec:
  image: dockyard-sandbox:latest
  imagePullPolicy: IfNotPresent
  user: {name: dev}
  docker:
    mode: dind
    dind:
      storage: {size: 5Gi}
      resources: {requests: {memory: 512Mi}, limits: {memory: 512Mi}}
YAML
  if kubectl -n "$NS" wait "sandbox/$SBX" --for=condition=Ready --timeout=180s >/dev/null; then
    pass "$SBX Ready"
  else
    dump; fail "$SBX did not become Ready"
  fi
fi
POD_UID=$(kubectl -n "$NS" get pod "$POD" -o jsonpath='{.metadata.uid}')
/usr/bin/docker save "$B" | x docker load >/dev/null 2>&1 || true

step "the sidecar: not privileged, nine capabilities, a remapping daemon"
out=$(kubectl -n "$NS" get pod "$POD" -o jsonpath='{range .spec.initContainers[?(@.name=="dind")]}privileged={.securityContext.privileged} add={.securityContext.capabilities.add} drop={.securityContext.capabilities.drop}{end}')
expect "the DinD sidecar is not privileged and keeps exactly nine capabilities" "$out" "privileged=false" \
  '["CHOWN","DAC_OVERRIDE","FOWNER","SETGID","SETUID","SYS_CHROOT","SYS_ADMIN","NET_ADMIN","SYS_PTRACE"]' 'drop=["ALL"]'
out=$(kubectl -n "$NS" get pod "$POD" -o jsonpath='{range .spec.initContainers[?(@.name=="dind")]}{.securityContext.seccompProfile.type}:{.securityContext.seccompProfile.localhostProfile}{end}')
profile=${out#Localhost:}
[[ $out == Localhost:dockyard/dind-*.json && -f $DOCKYARD_E2E_STATE_DIR/kubelet/root/seccomp/$profile ]] &&
  pass "the sidecar's seccomp profile is the agent's Localhost profile, installed on the node ($profile)" ||
  fail "the sidecar's seccomp profile: '$out' (installed: $(ls "$DOCKYARD_E2E_STATE_DIR/kubelet/root/seccomp/dockyard" 2>&1))"
out=$(kubectl -n "$NS" exec "$POD" -c dind -- grep Seccomp: /proc/1/status 2>&1 || true)
expect "the sidecar's processes run under that seccomp filter" "$(echo $out)" "Seccomp: 2"
out=$(x docker info --format '{{json .SecurityOptions}}' 2>&1 || true)
expect "the daemon runs its containers in user namespaces" "$out" "name=userns"
out=$(x docker run --rm "$B" cat /proc/self/uid_map 2>&1 || true)
expect "inner root is uid 100000 on the node, the sandbox user (1000) is itself" "$(echo $out)" \
  "0 100000 1000" "1000 1000 1" "1001 101001 64535"

step "escapes through the daemon, judged on the node"
ATTACK=(--cap-add SYS_ADMIN --security-opt seccomp=unconfined --security-opt apparmor=unconfined)
# release_agent: mount the cgroup v1 memory hierarchy, make a cgroup whose path
# is the marker's, set release_agent=/usr/bin/touch, empty the cgroup: the
# kernel would run `touch /tmp/<marker>` as root in the node's namespaces.
release_agent_attack() { # VIA DOCKER_RUN_OPTIONS...  (VIA: x for the user's socket, rawdocker)
  local via=("$1"); [[ $1 == x ]] && via=(x docker); shift
  "${via[@]}" run --rm "$@" -e M="$MARK" "$B" sh -c '
    mkdir -p /cg; mount -t cgroup -o memory cgroup /cg 2>&1 || { echo "mount: FAILED"; exit 10; }
    echo "mount: ok; release_agent here: $(test -e /cg/release_agent && echo yes || echo no)"
    d=/cg/tmp/$M; mkdir -p $d && echo 1 > $d/notify_on_release || { echo "notify_on_release: FAILED"; exit 11; }
    echo /usr/bin/touch > /cg/release_agent 2>&1 || { echo "release_agent write: FAILED"; rmdir $d /cg/tmp 2>/dev/null; exit 12; }
    echo "release_agent: WRITTEN"; sh -c "echo \$\$ > $d/cgroup.procs"; sleep 2; rmdir $d /cg/tmp 2>/dev/null; exit 0' 2>&1 || true
}
out=$(release_agent_attack x "${ATTACK[@]}")
expect "release_agent attack as the user: the policy proxy refuses --cap-add with the reason" "$out" "CapAdd" "could escape to the node"
out=$(release_agent_attack x --userns=host --cap-drop ALL)
expect "... and --userns=host" "$out" "UsernsMode"
out=$(release_agent_attack rawdocker "${ATTACK[@]}")
expect "release_agent on the raw socket (a policy miss): cgroupfs cannot be mounted (user namespace)" "$out" "mount: FAILED"
expect_not "… and release_agent was not written" "$out" "WRITTEN"
sleep 2
no_marker "release_agent attack"
# In the sidecar's user namespace a container may have at most the sidecar's
# nine capabilities (Docker's default set does not even start there).
out=$(release_agent_attack rawdocker --userns=host --cap-drop ALL "${ATTACK[@]}")
expect "on the raw socket with --userns=host the hierarchy is the sidecar's own: no release_agent" "$out" "release_agent here: no"
expect_not "… and release_agent was not written" "$out" "WRITTEN"
sleep 2
no_marker "release_agent attack in the sidecar's user namespace"

core_before=$(cat /proc/sys/kernel/core_pattern)
out=$(x docker run --rm "${ATTACK[@]}" "$B" true 2>&1 || true)
expect "core_pattern attack as the user: refused by the policy proxy" "$out" "CapAdd"
out=$(rawdocker run --rm "${ATTACK[@]}" -e M="$MARK" "$B" sh -c '
  mount -o remount,rw /proc/sys 2>/dev/null || mount -o remount,bind,rw /proc/sys 2>/dev/null
  echo "|/usr/bin/touch /tmp/$M-core" > /proc/sys/kernel/core_pattern 2>&1 || { echo "core_pattern write: FAILED"; exit 13; }
  echo "core_pattern: WRITTEN"; ulimit -c unlimited; sh -c "kill -SEGV \$\$"; sleep 1' 2>&1 || true)
core_after=$(cat /proc/sys/kernel/core_pattern)
if [[ $core_after != "$core_before" ]]; then
  echo "$core_before" >/proc/sys/kernel/core_pattern # put the node's back first
  fail "core_pattern attack: THE NODE'S core_pattern BECAME '$core_after'"
else
  pass "core_pattern attack: the node's core_pattern is unchanged"
fi
expect "... on the raw socket the write failed inside" "$out" "core_pattern write: FAILED"
sleep 1
no_marker "core_pattern attack"
out=$(x docker run --rm --privileged "$B" true 2>&1 && echo STARTED || true)
expect "--privileged is refused by the policy proxy" "$out" "Privileged"
expect_not "... and nothing started" "$out" "STARTED"
out=$(rawdocker run --rm --privileged "$B" true 2>&1 && echo STARTED || true)
expect "... and by the daemon on the raw socket (user namespaces)" "$out" "privileged"
expect_not "... and nothing started there" "$out" "STARTED"
for opt in "--pid host" "--network host" "--device /dev/sda" "--security-opt systempaths=unconfined" "-v /var/lib/docker:/d" "-v /:/host"; do
  out=$(x docker run --rm $opt "$B" true 2>&1 && echo STARTED || true)
  expect "docker run $opt is refused by the policy proxy, naming why" "$out" "dockyard:"
  expect_not "... and nothing started" "$out" "STARTED"
done
out=$(rawdocker run --rm --cap-add MKNOD "$B" sh -c 'mknod /tmp/disk b 8 0 && echo MADE' 2>&1 || true)
expect_not "on the raw socket a block device cannot be made, even with --cap-add MKNOD" "$out" "MADE"
# BuildKit: a privileged build step (the release_agent attack in a RUN) and a
# host-network one, asked through the entitlements; the proxy decodes the
# solve and refuses both; on the raw socket dockerd's own builder config
# does not grant security.insecure either.
INSECURE_BUILD="FROM $B
RUN --security=insecure sh -c 'mkdir -p /cg && mount -t cgroup -o memory cgroup /cg && mkdir -p /cg/tmp/$MARK && echo 1 > /cg/tmp/$MARK/notify_on_release && echo /usr/bin/touch > /cg/release_agent && echo WRITTEN'"
out=$(x docker buildx build --allow security.insecure --progress=plain - <<<"$INSECURE_BUILD" 2>&1 || true)
expect "a privileged BuildKit step (security.insecure) is refused by the policy proxy, naming why" "$out" \
  "entitlement \`security.insecure\`"
expect_not "... and the step never ran" "$out" "WRITTEN"
out=$(rawdocker buildx build --allow security.insecure --progress=plain - <<<"$INSECURE_BUILD" 2>&1 || true)
expect "... and on the raw socket dockerd does not grant it" "$out" "not allowed"
expect_not "... and the step never ran there" "$out" "WRITTEN"
out=$(x docker buildx build --network host --progress=plain - <<<"FROM $B
RUN echo HOSTNET" 2>&1 || true)
expect "a host-network BuildKit step is refused by the policy proxy" "$out" "entitlement \`network.host\`"
expect_not "... and it never ran" "$out" "HOSTNET"
sleep 1
no_marker "privileged build step"
out=$(x sh -c 'ls -l /run/dockyard-dind/docker.sock; ls /var/run/dockyard/' 2>&1 || true)
expect "the workload cannot reach dockerd's raw socket; it sees only the proxy's" "$out" "No such file" "docker.sock"

step "containment: the daemon's containers are the Pod's"
id=$(x docker run -d "$B" sleep 300 2>/dev/null || true)
dirs=$(find /sys/fs/cgroup/memory/kubepods* -type d -name "${id:-none}" 2>/dev/null || true)
[[ -n $id && $dirs == *"pod$POD_UID"* ]] &&
  pass "an inner container's cgroup lies in the Pod's on the node" || fail "inner container '$id': cgroup '$dirs' not under pod$POD_UID"
out=$(x docker exec "$id" echo exec-ok 2>&1 || true)
expect "docker exec" "$out" "exec-ok"
x docker rm -f "$id" >/dev/null 2>&1 || true
# The entrypoint gives the containers' cgroup (/docker) the sidecar's limit
# less 128 MiB: the OOM killer then chooses among the containers only, never
# dockerd (whose oom_score_adj, the Pod's, is higher than theirs).
out=$(x sh -c 'docker run --rm '"$B"' sh -c "head -c 600m /dev/zero | tail >/dev/null"; echo "exit=$?"' 2>&1 || true)
expect "a container allocating 600 MiB in a 512 MiB sidecar is OOM-killed" "$out" "exit=137"
out=$(x docker version --format 'daemon-{{.Server.Version}}' 2>&1 || true)
expect "… and the daemon answers on" "$out" "daemon-"
# A fork loop of 6000 sleeping processes: stopped by the Pod's PIDs limit
# (kubelet podPidsLimit: "can't fork") or by the containers' memory limit
# (OOM-killed, exit 137), whichever comes first; never by the node.
out=$(x docker run --rm -i "$B" sh -s 2>&1 <<'SH' || true
sh -c 'for i in $(seq 6000); do sleep 60 & done' 2>&1 | tail -1
read n < /sys/fs/cgroup/pids/pids.current; echo "processes: $n"
SH
)
n=$(sed -nE 's/.*processes: ([0-9]+).*/\1/p' <<<"$out")
if [[ -n $n ]] && ((n < 6000)); then pass "a fork loop of 6000 is stopped by the containers' memory or the Pod's PIDs limit ($n left)"
elif grep -q "exit code 137" <<<"$out"; then pass "a fork loop of 6000 is stopped: OOM-killed in the containers' cgroup"
else fail "the fork loop was not stopped: $out"; fi
out=$(x echo still-here 2>&1 || true)
restarts=$(kubectl -n "$NS" get pod "$POD" -o jsonpath='{.status.initContainerStatuses[?(@.name=="dind")].restartCount}')
[[ $out == still-here && $restarts == 0 ]] && pass "the sandbox and its daemon live on (no restart)" ||
  { dump; fail "after the OOM and the fork loop: '$out', dind restarts '$restarts'"; }

step "parity: the user is itself in containers"
out=$(x sh -c 'cd /workspace && mkdir -p parity && cd parity &&
  docker run --rm --user 1000:1000 -v "$PWD:/src" '"$B"' sh -c "echo by-user > /src/by-user" &&
  docker run --rm -v "$PWD:/src" '"$B"' sh -c "echo by-root > /src/by-root" &&
  echo appended >> by-user && stat -c "%n %u" by-user by-root && rm -f by-root && echo removed-ok' 2>&1 || true)
expect "docker run -v \$PWD:/src writes the workspace: the user's file stays the user's, inner root's is 100000's, not the node's root" \
  "$out" "by-user 1000" "by-root 100000" "removed-ok"
out=$(x sh -c 'docker run -d --name e2e-logs '"$B"' sh -c "echo logged-line; sleep 30" >/dev/null; sleep 1; docker logs e2e-logs; docker rm -f e2e-logs >/dev/null' 2>&1 || true)
expect "docker logs" "$out" "logged-line"

step "the sidecar's log"
out=$(kubectl -n "$NS" logs "$POD" -c dind 2>&1 | grep 'dockyard-entrypoint' || true)
expect "the entrypoint logged its preparation" "$out" "cgroup namespace" "unmasked /proc/keys" "dockremap:1000:1" "--userns-remap=dockremap"

if [[ -z ${DIND_ESCAPES_POD:-} ]]; then
  step "cleanup"
  kubectl -n "$NS" delete sandbox "$SBX" --wait=true --timeout=120s >/dev/null && pass "$SBX deleted" || { dump; fail "$SBX not deleted"; }

  # A class may allow privileged inner containers only with a runtime class
  # that isolates its Pods. This node has no Sysbox or Kata: a RuntimeClass
  # on the node's runc stands in for one, to prove the plumbing (class →
  # sidecar → policy proxy) and the admission rule, not isolation.
  step "a class allowing privileged containers, with a runtime class"
  cat <<YAML | kubectl apply -f - >/dev/null
apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata: {name: dockyard-e2e-isolated}
handler: runc
---
apiVersion: dockyard.dev/v1alpha1
kind: SandboxClass
metadata: {name: e2e-isolated}
spec:
  runtimeClassName: dockyard-e2e-isolated
  dind:
    storageSize: 5Gi
    privilegedContainers: {reason: "e2e: stands in for a Kata runtime class"}
YAML
  sandbox_of() { # NAME [RUNTIME_CLASS]
    printf 'apiVersion: dockyard.dev/v1alpha1\nkind: Sandbox\nmetadata: {name: %s}\nspec: {className: e2e-isolated, image: dockyard-sandbox:latest, imagePullPolicy: IfNotPresent, user: {name: dev}%s}\n' \
      "$1" "${2:+, pod: {runtimeClassName: $2\}}"
  }
  sandbox_of isolated | kubectl -n "$NS" apply -f - >/dev/null
  sandbox_of elsewhere runc | kubectl -n "$NS" apply -f - >/dev/null
  kubectl -n "$NS" wait sandbox/elsewhere --for=condition=Admitted=False --timeout=60s >/dev/null 2>&1 || true
  out=$(kubectl -n "$NS" get sandbox elsewhere -o jsonpath='{range .status.conditions[?(@.type=="Admitted")]}{.reason}: {.message}{end}')
  expect "a Sandbox of that class asking for another runtime class is not admitted, the rule named" "$out" \
    "RuntimeClassNotAllowed" "spec.pod.runtimeClassName" "dockyard-e2e-isolated"
  if kubectl -n "$NS" wait sandbox/isolated --for=condition=Ready --timeout=180s >/dev/null; then
    POD=sbx-isolated
    out=$(kubectl -n "$NS" get pod "$POD" -o jsonpath='{.spec.runtimeClassName}')
    expect "its Pod runs in the class's runtime class" "$out" "dockyard-e2e-isolated"
    /usr/bin/docker save "$B" | x docker load >/dev/null 2>&1 || true
    out=$(x docker run --rm --cap-add SYS_ADMIN --security-opt seccomp=unconfined "$B" sh -c 'grep CapEff /proc/self/status' 2>&1 || true)
    expect "--cap-add and unconfined seccomp pass the sidecar's policy proxy" "$out" "CapEff"
    out=$(x docker run --rm -v /:/host "$B" true 2>&1 || true)
    expect "... binds outside the workspace still do not" "$out" "outside the workspace"
    out=$(kubectl -n "$NS" logs "$POD" -c dind 2>&1 | grep 'dockyard-entrypoint' || true)
    expect "the sidecar logs why the class allows it" "$out" "e2e: stands in for a Kata runtime class"
  else
    POD=sbx-isolated dump; fail "sandbox isolated did not become Ready"
  fi
  kubectl -n "$NS" delete sandbox isolated elsewhere --wait=true --timeout=120s >/dev/null || true
  kubectl delete sandboxclass e2e-isolated >/dev/null; kubectl delete runtimeclass dockyard-e2e-isolated >/dev/null
  kubectl delete namespace "$NS" --wait=false >/dev/null
  helm uninstall dockyard -n dockyard-system --wait >/dev/null
fi

summary dind-escapes
