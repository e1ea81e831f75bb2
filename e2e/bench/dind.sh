#!/usr/bin/env bash
# DinD without node root against the DinD it replaced, on the real node, images
# loaded; medians of 5 alternating runs:
#   - ours: a Sandbox of the chart's default class (sidecar profile
#     userNamespace: nine capabilities, the Localhost seccomp profile, a
#     remapping daemon), the user's `docker build` through the sidecar's policy proxy;
#   - the baseline, "today's DinD" before issue 14: a class with profile
#     `capabilities` (every capability but SYS_RESOURCE, seccomp and AppArmor
#     unconfined, no remapping), `docker build` on dockerd's raw socket inside
#     the sidecar (no proxy), as the old sidecar's socket was served.
# Two figures: `kubectl apply` to Ready, and a multi-stage `docker build
# --no-cache` (two stages from the test image, 40 MiB written and hashed, the
# result copied into the final stage) in the sandbox's workspace.
#
# Ends with one line, appended to docs/benchmarks.md when DOCKYARD_BENCH_RECORD=1:
#   BENCH e2e mode=dind ready_ratio=<ours/baseline> build_ratio=<ours/baseline> ...
set -euo pipefail
E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO_DIR=$(dirname "$E2E_DIR")
source "$E2E_DIR/lib/log.sh"
source "$E2E_DIR/lib/chart-values.sh"
start_node_with_images >/dev/null
install_dockyard
NS=dind-bench
B=dockyard/busybox:1
RUNS=${DOCKYARD_BENCH_ROUNDS:-5}
kubectl create namespace "$NS" >/dev/null 2>&1 || true
cleanup() {
  kubectl -n "$NS" delete sandboxes --all --wait=false >/dev/null 2>&1 || true
  kubectl delete sandboxclass dind-baseline --wait=false >/dev/null 2>&1 || true
  kubectl delete namespace "$NS" --wait=false >/dev/null 2>&1 || true
}
trap cleanup EXIT
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

kubectl apply -f - >/dev/null <<YAML
apiVersion: dockyard.dev/v1alpha1
kind: SandboxClass
metadata: {name: dind-baseline}
spec:
  allowedDockerModes: [dind]
  dind:
    storageSize: 5Gi
    security: {profile: capabilities, capabilities: [ALL], dropCapabilities: [SYS_RESOURCE]}
YAML
sandbox() { # NAME CLASS
  cat <<YAML
apiVersion: dockyard.dev/v1alpha1
kind: Sandbox
metadata: {name: $1}
spec:
  className: $2
  image: dockyard-sandbox:latest
  imagePullPolicy: IfNotPresent
  user: {name: dev}
  docker: {mode: dind, dind: {storage: {size: 5Gi}}}
  workspace: {mountPath: /workspace, emptyDir: {sizeLimit: 1Gi}}
YAML
}
DOCKERFILE='FROM dockyard/busybox:1 AS data
RUN dd if=/dev/urandom of=/data bs=1M count=40 2>/dev/null && sha256sum /data > /data.sum
FROM dockyard/busybox:1 AS check
COPY --from=data /data /data.sum /
RUN sha256sum -c /data.sum && tar -czf /data.tgz /data
FROM dockyard/busybox:1
COPY --from=check /data.tgz /data.sum /'

# run NAME CLASS CONTAINER DOCKER...: apply → Ready (ms), then the build (ms)
# with the given Docker command in the given container.
run() {
  local name=$1 class=$2 container=$3 t0 ready build pod=sbx-$1; shift 3
  t0=$(now_ms)
  sandbox "$name" "$class" | kubectl -n "$NS" apply -f - >/dev/null
  kubectl -n "$NS" wait "sandbox/$name" --for=condition=Ready --timeout=180s >/dev/null ||
    die "sandbox $name (class $class) did not become Ready"
  ready=$(($(now_ms) - t0))
  /usr/bin/docker save "$B" | kubectl -n "$NS" exec -i "$pod" -c dind -- \
    docker -H unix:///run/dockyard-dind/docker.sock load >/dev/null
  kubectl -n "$NS" exec -i "$pod" -c workload -- sh -c 'mkdir -p /workspace/app && cat > /workspace/app/Dockerfile' <<<"$DOCKERFILE"
  t0=$(now_ms)
  kubectl -n "$NS" exec "$pod" -c "$container" -- "$@" build --no-cache -q -t bench/app /workspace/app >/dev/null ||
    die "docker build in $name failed"
  build=$(($(now_ms) - t0))
  kubectl -n "$NS" delete sandbox "$name" --wait=true --timeout=120s >/dev/null
  kubectl -n "$NS" wait "pod/$pod" --for=delete --timeout=120s >/dev/null 2>&1 || true
  echo "$ready $build"
}

ours_ready=() ours_build=() base_ready=() base_build=()
for round in $(seq "$RUNS"); do
  read -r r b < <(run ours default workload docker)
  ours_ready+=("$r") ours_build+=("$b")
  read -r r b < <(run baseline dind-baseline dind docker -H unix:///run/dockyard-dind/docker.sock)
  base_ready+=("$r") base_build+=("$b")
  info "round $round: ready ${ours_ready[-1]} vs ${base_ready[-1]} ms, build ${ours_build[-1]} vs ${base_build[-1]} ms"
done
med() { printf '%s\n' "$@" | median; }
or=$(med "${ours_ready[@]}") br=$(med "${base_ready[@]}") ob=$(med "${ours_build[@]}") bb=$(med "${base_build[@]}")
line=$(awk -v or="$or" -v br="$br" -v ob="$ob" -v bb="$bb" 'BEGIN {
  printf "BENCH e2e mode=dind ready_ratio=%.2f build_ratio=%.2f ready_s=%.2f baseline_ready_s=%.2f build_s=%.2f baseline_build_s=%.2f",
    or/br, ob/bb, or/1000, br/1000, ob/1000, bb/1000 }')
{
  echo
  echo "- $(date -u +%Y-%m-%d) — \`e2e/bench/dind.sh\` on the real node (images loaded): a DinD Sandbox of the default"
  echo "  class (userNamespace profile, Localhost seccomp, remapping daemon, build through the policy proxy) against"
  echo "  the DinD before issue 14 (profile capabilities: all but SYS_RESOURCE, unconfined, no remapping, build on"
  echo "  the raw socket); apply → Ready and a multi-stage \`docker build --no-cache\`; median of $RUNS alternating runs"
  echo "  (ready: ${ours_ready[*]} vs ${base_ready[*]} ms; build: ${ours_build[*]} vs ${base_build[*]} ms)."
  echo "  \`$line\`"
} | record_benchmark
echo "$line"
