# Pinned versions of everything the e2e cluster builds from source. Changing a
# version changes the cache key, so a stale binary is never reused.
KUBERNETES_VERSION=v1.36.3
# The published staging modules (k8s.io/api, k8s.io/client-go, ...) that match KUBERNETES_VERSION.
KUBERNETES_STAGING_VERSION=v0.36.3
ETCD_VERSION=v3.6.16
HELM_VERSION=v3.22.0
KWOK_VERSION=v0.8.0
CONTAINERD_VERSION=v2.2.9
# The NetworkPolicy engine (firewall-only mode; see docs/architecture.md), and the
# dependencies it is built with raised past their published advisories (its own
# go.mod pins x/net v0.21, grpc v1.62, docker v25.0.3, x/crypto, protobuf, oauth2).
KUBE_ROUTER_VERSION=v2.1.0
KUBE_ROUTER_RAISED=(
  golang.org/x/net@v0.62.0
  golang.org/x/crypto@v0.59.0
  google.golang.org/grpc@v1.85.0
  google.golang.org/protobuf@v1.36.11
  golang.org/x/oauth2@v0.38.0
  github.com/docker/docker@v27.5.0+incompatible
)
# The version a kube-router build is cached under: a change of a raised dependency is a new build.
KUBE_ROUTER_BUILD=$KUBE_ROUTER_VERSION-$(printf '%s\n' "${KUBE_ROUTER_RAISED[@]}" | sha256sum | cut -c1-8)

# The peer controller of the scale bench (issue 21); the proxy serves this exact
# version only (no version list).
AGENT_SANDBOX_VERSION=v0.5.6

# Everything built or downloaded lives here, outside the repository.
DOCKYARD_CACHE_DIR=${DOCKYARD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/dockyard}
