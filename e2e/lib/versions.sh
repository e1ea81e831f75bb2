# Pinned versions of everything the e2e cluster builds from source. Changing a
# version changes the cache key, so a stale binary is never reused.
KUBERNETES_VERSION=v1.36.3
# The published staging modules (k8s.io/api, k8s.io/client-go, ...) that match KUBERNETES_VERSION.
KUBERNETES_STAGING_VERSION=v0.36.3
ETCD_VERSION=v3.6.16
HELM_VERSION=v3.22.0
KWOK_VERSION=v0.8.0
CONTAINERD_VERSION=v2.2.9

# Everything built or downloaded lives here, outside the repository.
DOCKYARD_CACHE_DIR=${DOCKYARD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/dockyard}
