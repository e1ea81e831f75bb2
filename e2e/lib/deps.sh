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
BUILD_PACKAGES=(protobuf-compiler libprotobuf-dev jq)
# Packages for the e2e cluster's node and the local images.
CLUSTER_PACKAGES=(docker.io runc iptables ipset nftables containernetworking-plugins conntrack openssl iproute2 busybox-static debootstrap)

# Release builds, for the images and the benchmarks alike: static (glibc,
# crt-static; the images are FROM scratch) for an explicit target, which keeps
# the flag away from build scripts and proc macros. One target and one set of
# flags, so the benchmarks reuse the images' dependency build instead of
# compiling every dependency a second time.
# usage: static_cargo build --release -p ...   |   static_cargo bench "${BENCH_PACKAGES[@]}" --bench NAME
STATIC_TARGET=x86_64-unknown-linux-gnu
static_cargo() {
  local subcommand=$1
  shift
  RUSTFLAGS="-C target-feature=+crt-static" cargo "$subcommand" --locked --target "$STATIC_TARGET" "$@"
}
# Both benchmark packages in every `cargo bench`: one feature resolution, one build.
BENCH_PACKAGES=(-p dockyard-controller -p dockyard-agent)
