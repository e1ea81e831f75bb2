#!/usr/bin/env bash
# Latency from `kubectl apply` to Ready on the real node, images already
# loaded, median of 5 runs, against the floor: a plain Pod with the same images
# and the same shape (the DinD sidecar as a native sidecar with the same startup
# probe, the workload), started with kubectl and waited for the same way.
#
# Ends with: BENCH e2e mode=dind apply_to_ready_s=<s> floor_s=<s> ratio=<x>
# (hostSocket needs the node agent's broker, issue #5), appended to docs/benchmarks.md.
set -euo pipefail
E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO_DIR=$(dirname "$E2E_DIR")
source "$E2E_DIR/lib/log.sh"
"$E2E_DIR/cluster" up --profile node >/dev/null
eval "$("$E2E_DIR/cluster" env)"
IMAGES=(dockyard-controller dockyard-entrypoint dockyard-dind dockyard-sandbox)
"$E2E_DIR/images" build "${IMAGES[@]}" >/dev/null
"$E2E_DIR/images" load dockyard/busybox:1 "${IMAGES[@]/%/:latest}" >/dev/null 2>&1
helm upgrade --install dockyard "$REPO_DIR/charts/dockyard" -n dockyard-system --create-namespace --wait --timeout 120s \
  --set 'defaultClass.dind.security.profile=capabilities' --set 'defaultClass.dind.security.capabilities={ALL}' \
  --set 'defaultClass.dind.security.dropCapabilities={SYS_RESOURCE}' --set 'defaultClass.dind.storageSize=5Gi' >/dev/null
NS=latency-bench
kubectl create namespace "$NS" >/dev/null 2>&1 || true
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# The floor: the Pod the controller renders, minus the controller (same images,
# init containers, probes), created directly.
kubectl get sandboxclass default -o yaml >"$NS.class.yaml"
(cd "$REPO_DIR" && cargo run -q -p dockyard-api --bin dockyard-render -- examples/sandbox-dind.yaml \
  --namespace "$NS" --class "$OLDPWD/$NS.class.yaml") 2>/dev/null |
  python3 -c 'import sys, yaml
docs = list(yaml.safe_load_all(sys.stdin)); pod = docs[0]
pod["metadata"].pop("ownerReferences", None); pod["metadata"]["name"] = "floor"
pod["metadata"]["labels"] = {"bench": "floor"}
print(yaml.safe_dump(pod))' >"$NS.floor.yaml" 2>/dev/null || die "cannot render the floor pod (needs python3-yaml)"

ours=() floor=()
for run in 1 2 3 4 5; do
  t0=$(now_ms)
  kubectl -n "$NS" apply -f "$REPO_DIR/examples/sandbox-dind.yaml" >/dev/null
  kubectl -n "$NS" wait sandbox/dind-demo --for=condition=Ready --timeout=180s >/dev/null
  ours+=("$(( $(now_ms) - t0 ))")
  kubectl -n "$NS" delete sandbox dind-demo --wait=true >/dev/null
  kubectl -n "$NS" wait pod/sbx-dind-demo --for=delete --timeout=60s >/dev/null 2>&1 || true

  t0=$(now_ms)
  kubectl -n "$NS" apply -f "$NS.floor.yaml" >/dev/null
  kubectl -n "$NS" wait pod/floor --for=condition=Ready --timeout=180s >/dev/null
  floor+=("$(( $(now_ms) - t0 ))")
  kubectl -n "$NS" delete pod floor --wait=true >/dev/null
  info "run $run: sandbox ${ours[-1]} ms, plain pod ${floor[-1]} ms"
done
rm -f "$NS.floor.yaml" "$NS.class.yaml"
kubectl delete namespace "$NS" --wait=false >/dev/null
o=$(printf '%s\n' "${ours[@]}" | median); f=$(printf '%s\n' "${floor[@]}" | median)
line=$(awk -v o="$o" -v f="$f" 'BEGIN {printf "BENCH e2e mode=dind apply_to_ready_s=%.2f floor_s=%.2f ratio=%.2f", o/1000, f/1000, o/f}')
{
  echo
  echo "- $(date -u +%Y-%m-%d) — \`e2e/bench/latency.sh\` on the real node (images loaded): \`kubectl apply\` of"
  echo "  examples/sandbox-dind.yaml → \`kubectl wait --for=condition=Ready\`, vs. the same rendered Pod applied directly"
  echo "  and waited for Ready; median of 5 alternating runs (sandbox: ${ours[*]} ms; plain pod: ${floor[*]} ms)."
  echo "  \`$line\`"
} >>"$REPO_DIR/docs/benchmarks.md"
echo "$line"
