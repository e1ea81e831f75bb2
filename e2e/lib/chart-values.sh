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
