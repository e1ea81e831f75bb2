#!/usr/bin/env bash
# dockyard-entrypoint in real containers on a real Docker engine (the node's
# dockerd, started here with `e2e/cluster up --profile docker` unless it runs):
# the pod layout (a DinD container + a workload container sharing the socket),
# both privilege paths (started as the user; started as root with sudo), the
# timeout message, signals, zombies, bad input, and single-container mode.
set -euo pipefail
E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO_DIR=$(dirname "$E2E_DIR")
source "$E2E_DIR/lib/log.sh"
source "$E2E_DIR/lib/checks.sh"

STATE_DIR=${DOCKYARD_STATE_DIR:-/var/tmp/dockyard-cluster}
[[ -S $STATE_DIR/docker/docker.sock ]] || "$E2E_DIR/cluster" up --profile docker
eval "$("$E2E_DIR/cluster" env)"
DOCKER=/usr/bin/docker
"$E2E_DIR/images" build dockyard-entrypoint dockyard-dind dockyard-sandbox

WORK=$(mktemp -d /var/tmp/dockyard-entrypoint-test.XXXX)
SOCK_DIR=$WORK/sock MARK_DIR=$WORK/mark IMAGES_DIR=$WORK/images
mkdir -p "$SOCK_DIR" "$MARK_DIR" "$IMAGES_DIR"
chmod 777 "$MARK_DIR"
BIN=$REPO_DIR/target/image-bin/dockyard-entrypoint
cleanup() {
  "$DOCKER" rm -f dy-dind dy-signal >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
"$DOCKER" save dockyard/busybox:1 -o "$IMAGES_DIR/busybox.tar"
chmod 644 "$IMAGES_DIR/busybox.tar"

# What a cluster that cannot grant `privileged` gives the DinD container (see MACHINES.md).
DIND_SECURITY=(--cap-add=ALL --cap-drop=SYS_RESOURCE --security-opt seccomp=unconfined
  --security-opt apparmor=unconfined --security-opt systempaths=unconfined)
# What the rendered Pod gives a workload with sudo.
SUDO_CAPS=(--cap-drop=ALL --cap-add=AUDIT_WRITE --cap-add=CHOWN --cap-add=DAC_OVERRIDE --cap-add=FOWNER
  --cap-add=FSETID --cap-add=SETGID --cap-add=SETUID)
ENTRYPOINT=(--entrypoint /dockyard/bin/dockyard-entrypoint -v "$BIN:/dockyard/bin/dockyard-entrypoint:ro")
DOCKER_HOST_FLAG=--docker-host=unix:///var/run/dockyard/docker.sock

step "the pod layout: dockerd in a DinD container, the workload in another"
"$DOCKER" run -d --name dy-dind "${DIND_SECURITY[@]}" -v "$SOCK_DIR:/var/run/dockyard" dockyard-dind:latest \
  --socket=/var/run/dockyard/docker.sock --group=2375 >/dev/null
if ! "$DOCKER" run --rm "${ENTRYPOINT[@]}" --user 1000:1000 --group-add 2375 -v "$SOCK_DIR:/var/run/dockyard" \
  dockyard/busybox:1 ping "$DOCKER_HOST_FLAG" --timeout 2s 2>/dev/null; then
  for _ in $(seq 60); do "$DOCKER" -H "unix://$SOCK_DIR/docker.sock" version >/dev/null 2>&1 && break; sleep 0.5; done
fi
"$DOCKER" -H "unix://$SOCK_DIR/docker.sock" load -q -i "$IMAGES_DIR/busybox.tar" >/dev/null ||
  { "$DOCKER" logs dy-dind 2>&1 | tail -20; die "the DinD container's dockerd did not come up"; }
expect "the DinD socket belongs to the group given with --group" "$(stat -c %g "$SOCK_DIR/docker.sock")" 2375

# Started as the user (no sudo): what a Pod without sudo does, no root at any point.
out=$("$DOCKER" run --rm "${ENTRYPOINT[@]}" --user 1000:1000 --group-add 2375 --cap-drop=ALL \
  --security-opt no-new-privileges -v "$SOCK_DIR:/var/run/dockyard" dockyard-sandbox:latest \
  run --user=dev --uid=1000 --gid=1000 "$DOCKER_HOST_FLAG" -- \
  sh -c 'echo "uid=$(id -u) groups=$(id -G) home=$HOME user=$USER"; docker run --rm dockyard/busybox:1 echo inner-run-ok' 2>&1)
expect "started as the user: runs as uid 1000 with the socket's group, docker run works" "$out" \
  "uid=1000" " 2375" "home=/home/dev" "user=dev" "inner-run-ok"

# Started as root with sudo: writes the drop-in, drops for good, sudo only for apt-get.
out=$("$DOCKER" run --rm "${ENTRYPOINT[@]}" --user 0:0 "${SUDO_CAPS[@]}" -v "$SOCK_DIR:/var/run/dockyard" \
  dockyard-sandbox:latest run --user=dev --uid=1000 --gid=1000 --sudo=/usr/bin/apt-get "$DOCKER_HOST_FLAG" -- \
  bash -c 'echo "uid=$(id -u) euid=$(id -u) groups=$(id -G)"
    sudo -n apt-get --version | head -1
    sudo -n id >/dev/null 2>&1 && echo SUDO-ID-ALLOWED || echo sudo-id-refused
    sudo -n sh -c true >/dev/null 2>&1 && echo SUDO-SH-ALLOWED || echo sudo-sh-refused
    grep -q "^CapEff:\s*0*$" /proc/self/status && echo no-effective-caps
    docker run --rm dockyard/busybox:1 echo inner-run-ok' 2>&1)
expect "started as root with sudo: drops to 1000, sudo apt-get works, sudo id and sudo sh are refused" "$out" \
  "uid=1000" " 2375" "apt " "sudo-id-refused" "sudo-sh-refused" "no-effective-caps" "inner-run-ok"
grep -q ALLOWED <<<"$out" && fail "sudo allowed more than apt-get: $out"

# A user with the socket's group missing gets the classic error, named.
out=$("$DOCKER" run --rm "${ENTRYPOINT[@]}" --user 1000:1000 -v "$SOCK_DIR:/var/run/dockyard" dockyard/busybox:1 \
  run --user=dev --uid=1000 --gid=1000 "$DOCKER_HOST_FLAG" --docker-timeout=2s -- true 2>&1) && rc=0 || rc=$?
expect "without the socket's group: refused with permission denied and the groups named" "$out rc=$rc" \
  "permission denied" "socket group 2375" "rc=1"

step "waiting, signals, zombies"
start=$SECONDS
out=$("$DOCKER" run --rm "${ENTRYPOINT[@]}" --user 1000:1000 dockyard/busybox:1 \
  run --user=dev --uid=1000 --gid=1000 --docker-host=unix:///var/run/none/docker.sock --docker-timeout=2s \
  -- touch /tmp/ran 2>&1) && rc=0 || rc=$?
took=$((SECONDS - start))
expect "a missing socket times out after 2 s naming the socket and what it saw" "$out rc=$rc" \
  "/var/run/none/docker.sock did not answer within 2s" "no socket at /var/run/none/docker.sock" "rc=1"
((took <= 6)) && pass "the timeout came within the timeout ($took s including container start)" ||
  fail "timeout took $took s"

"$DOCKER" run -d --name dy-signal "${ENTRYPOINT[@]}" --user 1000:1000 dockyard/busybox:1 \
  run --user=dev --uid=1000 --gid=1000 -- \
  sh -c 'trap "echo got-sigterm; exit 7" TERM; echo ready; while true; do sleep 0.1; done' >/dev/null
for _ in $(seq 50); do "$DOCKER" logs dy-signal 2>&1 | grep -q ready && break; sleep 0.1; done
"$DOCKER" stop -t 10 dy-signal >/dev/null
code=$("$DOCKER" inspect -f '{{.State.ExitCode}}' dy-signal)
expect "SIGTERM reaches the child and PID 1 exits with the child's status" "$("$DOCKER" logs dy-signal 2>&1) exit=$code" \
  "got-sigterm" "exit=7"
"$DOCKER" rm -f dy-signal >/dev/null

out=$("$DOCKER" run --rm "${ENTRYPOINT[@]}" --user 1000:1000 dockyard/busybox:1 \
  run --user=dev --uid=1000 --gid=1000 -- sh -c '
    for i in 1 2 3 4 5; do (sleep 0.2 &); done      # orphans: re-parented to PID 1
    sleep 1.5
    echo "zombies=$(cat /proc/[0-9]*/stat 2>/dev/null | awk "\$3 == \"Z\"" | wc -l)"' 2>&1)
expect "orphaned children are reaped (no zombies)" "$out" "zombies=0"

step "bad input is refused before anything runs"
bad() { # bad NAME NEEDLE ARGS...
  local name=$1 needle=$2; shift 2
  local out rc
  out=$("$DOCKER" run --rm "${ENTRYPOINT[@]}" --user 0:0 -v "$MARK_DIR:/mark" dockyard/busybox:1 "$@" 2>&1) && rc=0 || rc=$?
  if [[ -e $MARK_DIR/ran ]]; then fail "$name: the command ran"; rm -f "$MARK_DIR/ran"; return 0; fi
  expect "$name" "$out rc=$rc" "$needle" "rc=1"
}
bad "uid 0" "--uid 0 is not allowed" run --user=dev --uid=0 --gid=1000 -- touch /mark/ran
bad "a relative sudo command" "must be an absolute path" run --user=dev --uid=1000 --gid=1000 --sudo=apt-get -- touch /mark/ran
bad "a user name with shell metacharacters" "is not a valid user name" run '--user=dev;id' --uid=1000 --gid=1000 -- touch /mark/ran
bad "a missing command" '"/no/such/program" not found' run --user=dev --uid=1000 --gid=1000 -- /no/such/program
bad "sudo without sudo in the image" "the image has no sudo" run --user=dev --uid=1000 --gid=1000 --sudo=/bin/true -- touch /mark/ran

step "single-container mode: dockerd, the user's docker run, a clean stop"
# /var/lib/docker on a volume, as in a Pod: overlayfs cannot stack on the container's own overlay.
out=$("$DOCKER" run --rm "${DIND_SECURITY[@]}" -v /var/lib/docker -v "$IMAGES_DIR:/images:ro" \
  -v "$BIN:/usr/local/bin/dockyard-entrypoint:ro" \
  dockyard-sandbox:latest -- sh -c 'echo "uid=$(id -u)"; docker load -q -i /images/busybox.tar >/dev/null
    docker run --rm dockyard/busybox:1 echo single-run-ok; exit 3' 2>&1) && rc=0 || rc=$?
expect "single-container mode runs docker as uid 1000 and stops dockerd when the command exits" "$out rc=$rc" \
  "dockerd answered after" "uid=1000" "single-run-ok" "stopping dockerd" "rc=3"

summary entrypoint
