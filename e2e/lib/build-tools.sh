#!/usr/bin/env bash
# Builds the pinned cluster binaries from the Go module proxy into
# $DOCKYARD_CACHE_DIR/bin/<component>-<version>/, once. A finished build leaves a
# `.complete` stamp; a rerun with the stamp present does nothing.
#
# usage: e2e/lib/build-tools.sh [kubernetes|etcd|helm|kwok|containerd|kube_router|agent_sandbox|all]...
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=e2e/lib/versions.sh
source "$HERE/versions.sh"
source "$HERE/log.sh"

export GOFLAGS="${GOFLAGS:-} -trimpath"
export CGO_ENABLED=0
SRC_ROOT="$DOCKYARD_CACHE_DIR/src"
BIN_ROOT="$DOCKYARD_CACHE_DIR/bin"

bin_dir() { echo "$BIN_ROOT/$1-$2"; }

# already_built NAME VERSION: true when a previous run finished this build.
# The stamp records the binaries of that build; adding one to the list rebuilds.
already_built() { [[ -f "$(bin_dir "$1" "$2")/.complete" ]] && [[ "$(cat "$(bin_dir "$1" "$2")/.complete")" == "${3:-}" ]]; }

# helper_module DIR MODULE VERSION [EXTRA_GO_MOD_LINES]: a throwaway module that
# requires MODULE@VERSION, so that MODULE's own replace directives (which make
# `go install` refuse it) are ignored.
helper_module() {
  local dir=$1 module=$2 version=$3 extra=${4:-}
  mkdir -p "$dir"
  cat >"$dir/go.mod" <<GOMOD
module dockyard.local/build-$(basename "$dir")

go 1.26

require $module $version
$extra
GOMOD
  : >"$dir/go.sum"
}

finish() { # finish NAME VERSION TMPDIR
  local dest; dest=$(bin_dir "$1" "$2")
  (cd "$3" && ls) >"$3/.complete"
  rm -rf "$dest"
  mv "$3" "$dest"
  info "built $1 $2 into $dest"
}

build_kubernetes() {
  local v=$KUBERNETES_VERSION
  already_built kubernetes "$v" "$(printf '%s\n' kube-apiserver kube-controller-manager kube-proxy kube-scheduler kubectl kubelet)" && return 0
  step "building Kubernetes $v (control plane, kubelet, kube-proxy, kubectl; 20-40 min cold)"
  local dir="$SRC_ROOT/kubernetes-$v" gomod
  gomod=$(go mod download -json "k8s.io/kubernetes@$v" | jq -r .GoMod)
  # Every staging module that k8s.io/kubernetes requires at v0.0.0 is replaced
  # with its published release of the same minor.
  local replaces
  replaces=$(awk '$2 == "v0.0.0" && $1 ~ /^k8s.io\// {print "replace " $1 " => " $1 " '"$KUBERNETES_STAGING_VERSION"'"}' "$gomod")
  helper_module "$dir" k8s.io/kubernetes "$v" "$replaces"
  local minor=${v#v1.}; minor=${minor%%.*}
  local ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  local tmp; tmp=$(mktemp -d "$BIN_ROOT/.kubernetes.XXXX")
  (cd "$dir" && go mod download k8s.io/kubernetes && GOFLAGS="$GOFLAGS -mod=mod" go build -ldflags "$ldflags" -o "$tmp/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kubectl \
    k8s.io/kubernetes/cmd/kube-proxy)
  finish kubernetes "$v" "$tmp"
}

build_etcd() {
  local v=$ETCD_VERSION
  already_built etcd "$v" etcd && return 0
  step "building etcd $v"
  local dir="$SRC_ROOT/etcd-$v"
  helper_module "$dir" go.etcd.io/etcd/server/v3 "$v"
  local tmp; tmp=$(mktemp -d "$BIN_ROOT/.etcd.XXXX")
  (cd "$dir" && GOFLAGS="$GOFLAGS -mod=mod" go build -ldflags "-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3)
  finish etcd "$v" "$tmp"
}

build_helm() {
  local v=$HELM_VERSION
  already_built helm "$v" helm && return 0
  step "building helm $v"
  local tmp; tmp=$(mktemp -d "$BIN_ROOT/.helm.XXXX")
  # Helm v3 assumes Kubernetes 1.20 for `helm template` and `helm lint` unless
  # told otherwise at build time.
  local minor=${KUBERNETES_VERSION#v1.}; minor=${minor%%.*}
  local ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$v"
  for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
    ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$minor"
  done
  GOBIN="$tmp" go install -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$v"
  finish helm "$v" "$tmp"
}

build_kwok() {
  local v=$KWOK_VERSION
  already_built kwok "$v" kwok && return 0
  step "building kwok $v"
  local tmp; tmp=$(mktemp -d "$BIN_ROOT/.kwok.XXXX")
  GOBIN="$tmp" go install -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$v"
  finish kwok "$v" "$tmp"
}

build_containerd() {
  local v=$CONTAINERD_VERSION
  already_built containerd "$v" "$(printf '%s\n' containerd containerd-shim-runc-v2 ctr)" && return 0
  step "building containerd $v"
  local dir="$SRC_ROOT/containerd-$v"
  helper_module "$dir" github.com/containerd/containerd/v2 "$v"
  local tmp; tmp=$(mktemp -d "$BIN_ROOT/.containerd.XXXX")
  (cd "$dir" && GOFLAGS="$GOFLAGS -mod=mod" go build -tags "no_btrfs no_devmapper no_zfs" \
    -ldflags "-s -w -X github.com/containerd/containerd/v2/version.Version=$v" -o "$tmp/" \
    github.com/containerd/containerd/v2/cmd/containerd \
    github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 \
    github.com/containerd/containerd/v2/cmd/ctr)
  finish containerd "$v" "$tmp"
}

# kube-router, the NetworkPolicy engine, built with the dependencies of
# KUBE_ROUTER_RAISED (cached under KUBE_ROUTER_BUILD, which includes them).
build_kube_router() {
  local v=$KUBE_ROUTER_VERSION build=$KUBE_ROUTER_BUILD
  already_built kube-router "$build" kube-router && return 0
  step "building kube-router $v (dependencies raised: ${KUBE_ROUTER_RAISED[*]})"
  local dir="$SRC_ROOT/kube-router-$build" requires="" module
  for module in "${KUBE_ROUTER_RAISED[@]}"; do requires+="require ${module%@*} ${module#*@}"$'\n'; done
  helper_module "$dir" github.com/cloudnativelabs/kube-router/v2 "$v" "$requires"
  local tmp; tmp=$(mktemp -d "$BIN_ROOT/.kube-router.XXXX")
  (cd "$dir" && GOFLAGS="$GOFLAGS -mod=mod" go build -ldflags "-s -w" -o "$tmp/kube-router" \
    github.com/cloudnativelabs/kube-router/v2/cmd/kube-router)
  finish kube-router "$build" "$tmp"
}

# The peer controller the scale bench compares with (issue 21), and its Sandbox
# CRD with conversion None: its conversion webhook is off in the bench, and
# only v1beta1 (the stored version) is used. Not part of `all`: only the peer
# comparison needs it.
build_agent_sandbox() {
  local v=$AGENT_SANDBOX_VERSION
  already_built agent-sandbox "$v" "$(printf '%s\n' agent-sandbox-controller sandboxes.crd.yaml)" && return 0
  step "building agent-sandbox-controller $v (the scale bench's peer)"
  # A helper module: `go install …@v` asks the proxy for the version list,
  # which it refuses for this module.
  local src="$SRC_ROOT/agent-sandbox-$v" tmp dir
  helper_module "$src" sigs.k8s.io/agent-sandbox "$v"
  tmp=$(mktemp -d "$BIN_ROOT/.agent-sandbox.XXXX")
  (cd "$src" && GOFLAGS="$GOFLAGS -mod=mod" go build -ldflags "-s -w" -o "$tmp/agent-sandbox-controller" \
    sigs.k8s.io/agent-sandbox/cmd/agent-sandbox-controller)
  dir=$(cd "$src" && go list -m -json sigs.k8s.io/agent-sandbox | jq -r .Dir)
  # The conversion block is the file's tail.
  { sed '/^  conversion:/,$d' "$dir/k8s/crds/agents.x-k8s.io_sandboxes.yaml"
    printf '  conversion:\n    strategy: None\n'; } >"$tmp/sandboxes.crd.yaml"
  finish agent-sandbox "$v" "$tmp"
}

mkdir -p "$SRC_ROOT" "$BIN_ROOT"
targets=("$@")
[[ ${#targets[@]} -eq 0 || " ${targets[*]} " == *" all "* ]] && targets=(etcd helm kwok containerd kube_router kubernetes)
for t in "${targets[@]}"; do
  case $t in
    kubernetes|etcd|helm|kwok|containerd|kube_router|agent_sandbox) "build_$t" ;;
    *) die "unknown build target '$t' (allowed: kubernetes, etcd, helm, kwok, containerd, kube_router, agent_sandbox, all)" ;;
  esac
done
