# Debian packages the project needs on a fresh machine, installed once.
# usage: ensure_packages PKG...  (installs only the missing ones; apt-get update first)
ensure_packages() {
  local missing=()
  for pkg in "$@"; do
    [[ $(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null) == *"install ok installed"* ]] || missing+=("$pkg")
  done
  ((${#missing[@]} == 0)) && return 0
  step "installing Debian packages: ${missing[*]}"
  local sudo=; [[ $EUID -ne 0 ]] && sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Packages for building and testing the Rust workspace.
BUILD_PACKAGES=(protobuf-compiler jq)
# Packages for the e2e cluster's node and the local images.
CLUSTER_PACKAGES=(docker.io runc iptables containernetworking-plugins conntrack openssl iproute2 busybox-static debootstrap)
