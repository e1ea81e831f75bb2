# Helm values for installing charts/dockyard on this machine's e2e cluster
# (sourced by scripts/demo, e2e/tests/sandboxes.sh and e2e/bench/latency.sh).
# The default class keeps the chart's DinD profile, userNamespace (these VMs
# could not grant `privileged` anyway: no CAP_SYS_RESOURCE). The node's dockerd
# and kubelet keep their files under the cluster's state directory instead of
# /var/run/docker.sock and /var/lib/kubelet.
DOCKYARD_E2E_STATE_DIR=${DOCKYARD_STATE_DIR:-/var/tmp/dockyard-cluster}
HELM_VALUES=(
  --set 'defaultClass.dind.storageSize=5Gi'
  # The node's preloaded test image, as a platform team shares its base images.
  --set 'defaultClass.broker.sharedImages={dockyard/busybox:1}'
  --set "agent.dockerSocket=$DOCKYARD_E2E_STATE_DIR/docker/docker.sock"
  --set "agent.kubeletRootDir=$DOCKYARD_E2E_STATE_DIR/kubelet/root"
  # The node's dockerd: --bip 10.213.96.1/24, --default-address-pool 10.214.0.0/16 (e2e/cluster).
  --set 'sandbox.nodeContainerCIDRs={10.213.96.0/24,10.214.0.0/16}'
)
# The images the chart and the examples use.
DOCKYARD_IMAGES=(dockyard-controller dockyard-agent dockyard-entrypoint dockyard-dind dockyard-sandbox)

# The node profile of the e2e cluster with Dockyard's images built from this
# tree and loaded into the node's containerd (with the test image); sets
# KUBECONFIG, PATH and DOCKER_HOST from `e2e/cluster env`.
start_node_with_images() {
  local e2e_dir
  e2e_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  "$e2e_dir/cluster" up --profile node
  eval "$("$e2e_dir/cluster" env)"
  "$e2e_dir/images" build "${DOCKYARD_IMAGES[@]}"
  "$e2e_dir/images" load dockyard/busybox:1 "${DOCKYARD_IMAGES[@]/%/:latest}" 2>/dev/null
}

# install_dockyard [HELM ARGS...]: `helm upgrade --install` the chart with this
# machine's values and wait for the controller and the agent. When they do not
# come up, say why before failing: the node's conditions and taints (a node
# short of disk is tainted and the controller's Pod stays Pending), the Pods,
# their events and logs, and the disk.
install_dockyard() {
  local repo_dir
  repo_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  if helm upgrade --install dockyard "$repo_dir/charts/dockyard" -n dockyard-system --create-namespace \
    "${HELM_VALUES[@]}" "$@" --wait --timeout 300s >/dev/null; then
    # The controller applies the default class at start (chart values).
    kubectl wait --for=create sandboxclass/default --timeout=60s >/dev/null && return 0
  fi
  echo "helm install did not finish; what the cluster says:" >&2
  kubectl get nodes -o custom-columns='NODE:.metadata.name,CONDITIONS:.status.conditions[?(@.status=="True")].type,TAINTS:.spec.taints[*].key' >&2 || true
  kubectl -n dockyard-system get pods -o wide >&2 || true
  kubectl -n dockyard-system describe pods >&2 || true
  kubectl -n dockyard-system get events --sort-by=.lastTimestamp >&2 || true
  kubectl -n dockyard-system logs deploy/dockyard-controller --tail=50 >&2 || true
  kubectl -n dockyard-system logs ds/dockyard-agent --tail=50 >&2 || true
  df -h "$DOCKYARD_E2E_STATE_DIR" >&2 || true
  return 1
}
