use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::DockerMode;

/// A SandboxClass is the platform team's policy for Sandboxes: which docker
/// modes are allowed, how the DinD sidecar is secured, which runtime, how much
/// CPU and memory, and which namespaces may use it. Cluster-scoped.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "dockyard.dev",
    version = "v1alpha1",
    kind = "SandboxClass",
    plural = "sandboxclasses",
    shortname = "sbxc",
    category = "dockyard",
    derive = "PartialEq",
    doc = "A SandboxClass: the platform team's policy for the Sandboxes that use it.",
    printcolumn = r#"{"name":"Default","type":"boolean","jsonPath":".spec.default"}"#,
    printcolumn = r#"{"name":"Modes","type":"string","jsonPath":".spec.allowedDockerModes"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "!has(self.dind) || !has(self.dind.privilegedContainers) || has(self.runtimeClassName)",
     "message": "dind.privilegedContainers needs runtimeClassName: a runtime that isolates the Pod from the node (Sysbox, Kata, gVisor)",
     "fieldPath": ".dind.privilegedContainers"},
    {"rule": "!has(self.dind) || !has(self.dind.privilegedContainers) || !has(self.allowedRuntimeClassNames) || size(self.allowedRuntimeClassNames) == 0",
     "message": "allowedRuntimeClassNames must be empty with dind.privilegedContainers: privileged containers are safe only in runtimeClassName",
     "fieldPath": ".allowedRuntimeClassNames"},
]))]
pub struct SandboxClassSpec {
    /// Marks this class as the one used by Sandboxes that name no class. When
    /// several classes are marked, the oldest one wins.
    #[serde(default)]
    pub default: bool,

    /// Docker modes Sandboxes of this class may use. Default: all of `dind`,
    /// `hostSocket`, `none`.
    #[serde(default = "all_docker_modes")]
    #[schemars(length(min = 1, max = 3))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub allowed_docker_modes: Vec<DockerMode>,

    /// Allows `docker.hostSocket.access: raw`, the node's Docker socket itself.
    /// A raw socket is root on the node: allow it only for trusted users.
    #[serde(default)]
    pub allow_raw_host_socket: bool,

    /// How DinD sidecars of this class run.
    #[serde(default)]
    pub dind: ClassDind,

    /// What brokered host-socket sandboxes of this class may ask of the node's
    /// Docker daemon beyond the defaults, which refuse every node-facing knob.
    #[serde(default)]
    pub broker: ClassBroker,

    /// RuntimeClass for the Pods of this class (e.g. `sysbox-runc`, `kata`,
    /// `gvisor`). A Sandbox may name another with `pod.runtimeClassName` only
    /// when `allowedRuntimeClassNames` lists it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub runtime_class_name: Option<String>,

    /// RuntimeClasses a Sandbox of this class may choose with
    /// `spec.pod.runtimeClassName` besides `runtimeClassName`. Empty (the
    /// default): only `runtimeClassName`, or the cluster's default runtime when
    /// that is unset. Not with `dind.privilegedContainers`, which is safe only
    /// in `runtimeClassName`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16), inner(length(min = 1, max = 253)))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub allowed_runtime_class_names: Vec<String>,

    /// Resources of the workload container when the Sandbox gives none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_resources: Option<ResourceRequirements>,

    /// Upper bounds of the workload's requests and limits, e.g. `{cpu: "4",
    /// memory: 8Gi}`. A Sandbox asking for more is not admitted.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub max_resources: BTreeMap<String, Quantity>,

    /// Namespaces whose Sandboxes may use this class, by namespace labels.
    /// Omitted: every namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,

    /// What happens to the running Pod of a Sandbox this class no longer
    /// admits (the class was tightened, or the Sandbox changed to something it
    /// refuses). `Keep` (the default): it runs on, `Admitted=False` says why,
    /// and no new Pod starts until it conforms; the user (suspend, delete) or
    /// an administrator stops it. `Stop`: the Pod is deleted at once, for
    /// revoking a permission from sandboxes that already use it. A deleted
    /// class has no say: its Sandboxes' Pods are kept.
    #[serde(default, skip_serializing_if = "NonConformingPods::is_keep")]
    pub non_conforming_pods: NonConformingPods,

    /// The Pod Security levels this class is meant for: a Sandbox in a
    /// namespace that enforces another level (label
    /// `pod-security.kubernetes.io/enforce`; none enforces `privileged`) is
    /// refused before any Pod is made, with a `PodSecurity` condition. Omitted:
    /// any level (the API server's Pod Security admission still decides).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 3))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub pod_security_levels: Vec<PodSecurityLevel>,

    /// What the sandboxes of this class may reach on the network, and what may
    /// reach them. The controller keeps a NetworkPolicy saying it in every
    /// namespace with a Sandbox of the class (`dockyard-class-<name>`), and each
    /// Sandbox's `status.network` names it. Default: egress to the cluster's
    /// DNS and the internet except private, link-local and loopback ranges
    /// (so not the node, the API server or other Pods); no ingress.
    #[serde(default)]
    pub network: ClassNetwork,

    /// A SandboxPool that Sandboxes of this class take a warm Pod from when
    /// they name no pool themselves: the pool of this name in the Sandbox's
    /// own namespace, if the Sandbox asks for exactly its `template` (name the
    /// class in both, or in neither). A miss (no such pool in the namespace,
    /// another spec, no ready Pod) starts the sandbox cold as without a pool;
    /// `status.warmStart` says why, without the event a Sandbox that names a
    /// pool gets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub default_pool: Option<String>,
}

/// A Pod Security Standards level.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum PodSecurityLevel {
    Privileged,
    Baseline,
    Restricted,
}

impl PodSecurityLevel {
    /// The namespace label Pod Security admission enforces.
    pub const ENFORCE_LABEL: &str = "pod-security.kubernetes.io/enforce";

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Privileged => "privileged",
            Self::Baseline => "baseline",
            Self::Restricted => "restricted",
        }
    }

    /// The level a namespace with `labels` enforces: `privileged` without the
    /// label (the API server's default unless its admission configuration
    /// says otherwise), `None` for a value Pod Security admission does not know.
    pub fn enforced(labels: &BTreeMap<String, String>) -> Option<Self> {
        match labels.get(Self::ENFORCE_LABEL).map(String::as_str) {
            None | Some("privileged") => Some(Self::Privileged),
            Some("baseline") => Some(Self::Baseline),
            Some("restricted") => Some(Self::Restricted),
            Some(_) => None,
        }
    }
}

/// See [`SandboxClassSpec::non_conforming_pods`].
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum NonConformingPods {
    #[default]
    Keep,
    Stop,
}

impl NonConformingPods {
    fn is_keep(&self) -> bool {
        *self == Self::Keep
    }
}

fn all_docker_modes() -> Vec<DockerMode> {
    vec![DockerMode::Dind, DockerMode::HostSocket, DockerMode::None]
}

impl Default for SandboxClassSpec {
    fn default() -> Self {
        Self {
            default: false,
            allowed_docker_modes: all_docker_modes(),
            allow_raw_host_socket: false,
            dind: ClassDind::default(),
            broker: ClassBroker::default(),
            runtime_class_name: None,
            allowed_runtime_class_names: Vec::new(),
            default_resources: None,
            max_resources: BTreeMap::new(),
            namespace_selector: None,
            non_conforming_pods: NonConformingPods::Keep,
            pod_security_levels: Vec::new(),
            network: ClassNetwork::default(),
            default_pool: None,
        }
    }
}

/// What a class's sandbox Pods may reach and what may reach them (a
/// NetworkPolicy; DinD's inner containers share their Pod's network, so it
/// covers them too).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClassNetwork {
    /// Where sandboxes may connect: `None` (nowhere), `ClusterDNS` (the
    /// cluster's DNS Pods on port 53 only), `Internet` (the default: the
    /// cluster's DNS and every address except private (RFC 1918, RFC 6598,
    /// IPv6 ULA), link-local (cloud metadata), loopback and the controller's
    /// `--egress-deny-cidr`s, which name the node and API server addresses
    /// where those are public).
    #[serde(default)]
    pub egress: Egress,

    /// Further destinations sandboxes may connect to, beside `egress`, e.g. a
    /// company registry `10.20.0.0/16` on port 443. A CIDR listed here is
    /// reachable even when it holds a node or the API server: list those only
    /// on purpose.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub egress_to: Vec<NetworkDestination>,

    /// Namespaces whose Pods may connect to this class's sandboxes, by name.
    /// Empty (the default): nothing may (sandboxes of the same namespace
    /// neither).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(min = 1, max = 63)))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub ingress_from_namespaces: Vec<String>,
}

/// See [`ClassNetwork::egress`].
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum Egress {
    None,
    #[serde(rename = "ClusterDNS")]
    ClusterDns,
    #[default]
    Internet,
}

/// Addresses (and ports) a sandbox may connect to.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkDestination {
    /// An IPv4 or IPv6 CIDR, e.g. `10.20.0.0/16` or `192.0.2.7/32`.
    #[schemars(length(min = 3, max = 49))]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "isCIDR(self)", "message": "cidr must be an IPv4 or IPv6 CIDR such as 10.20.0.0/16"},
    ]))]
    pub cidr: String,
    /// Ports on those addresses. Empty: every port.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub ports: Vec<NetworkPort>,
}

/// A port or port range.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "!has(self.endPort) || self.endPort >= self.port", "message": "endPort must not be below port", "fieldPath": ".endPort"},
]))]
pub struct NetworkPort {
    /// `TCP` (the default), `UDP` or `SCTP`.
    #[serde(default)]
    pub protocol: NetworkProtocol,
    /// The port, 1 to 65535.
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
    /// The last port of a range starting at `port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub end_port: Option<i32>,
}

/// Transport protocol of a [`NetworkPort`].
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum NetworkProtocol {
    #[default]
    #[serde(rename = "TCP")]
    Tcp,
    #[serde(rename = "UDP")]
    Udp,
    #[serde(rename = "SCTP")]
    Sctp,
}

impl NetworkProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "TCP",
            Self::Udp => "UDP",
            Self::Sctp => "SCTP",
        }
    }
}

/// How DinD sidecars of a class run.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "!has(self.registryMirrors) || self.registryMirrors.all(m, !m.startsWith('http://') || (has(self.insecureRegistries) && self.insecureRegistries.exists(r, m == 'http://' + r || m == 'http://' + r + '/')))", "message": "an http:// registry mirror must have its host (and port) listed in insecureRegistries"},
]))]
pub struct ClassDind {
    /// Image of the DinD sidecar (dockerd, containerd, runc, iptables).
    /// Omitted: the controller's `--dind-image`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub image: Option<String>,

    /// Security settings of the sidecar.
    #[serde(default)]
    pub security: DindSecurity,

    /// MTU of the inner daemon's networks (`dockerd --mtu`). Clusters with
    /// overlay networks need one smaller than the Pod network's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 576, max = 9216))]
    pub mtu: Option<i32>,

    /// Address pools of the inner daemon's networks
    /// (`dockerd --default-address-pool`). Pick ranges that do not overlap the
    /// cluster's Pod and Service networks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub address_pools: Vec<AddressPool>,

    /// Registry mirrors of the inner daemon (`dockerd --registry-mirror`),
    /// tried in order for Docker Hub pulls, e.g. `https://mirror.example.com`:
    /// a scheme and host (and port), no path. `https://`; `http://` only for
    /// a host listed in `insecureRegistries`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 8),
        inner(
            length(max = 262),
            regex(
                pattern = r"^https?://[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[0-9]{1,5})?/?$"
            )
        )
    )]
    pub registry_mirrors: Vec<String>,

    /// Registries the inner daemon talks to without TLS, or with a
    /// certificate it does not check (`dockerd --insecure-registry`): `host`,
    /// `host:port` or an IPv4 CIDR. Explicit, as anyone on the path can pose
    /// as such a registry and serve any image.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 16),
        inner(
            length(max = 253),
            regex(
                pattern = r"^([a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[0-9]{1,5})?|[0-9]{1,3}(\.[0-9]{1,3}){3}/[0-9]{1,2})$"
            )
        )
    )]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub insecure_registries: Vec<String>,

    /// Storage driver of the inner daemon: `overlay2` (the default, dockerd's
    /// choice) or `vfs` (no overlay mounts: slow and large, for nodes where
    /// overlay in a container fails).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_driver: Option<DindStorageDriver>,

    /// Size of `/var/lib/docker` when a Sandbox gives none. Default `20Gi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_size: Option<Quantity>,

    /// Sandboxes keep their daemon's data on a PersistentVolumeClaim they own
    /// unless they say otherwise (`docker.dind.storage.persistent`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub persistent_storage: bool,

    /// Upper bound of a Sandbox's `docker.dind.storage.size`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_storage_size: Option<Quantity>,

    /// Resources of the DinD sidecar when the Sandbox gives none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,

    /// Lets the sandbox's own daemon start privileged containers: `--privileged`,
    /// added capabilities, any security option, devices and the sidecar's
    /// namespaces pass its policy proxy (binds stay inside the workspace,
    /// containers stay under the Pod's cgroup). Only for a class whose
    /// `runtimeClassName` isolates the Pod from the node (Sysbox, Kata,
    /// gVisor): there they reach that isolation; under runc they reach the
    /// node. Omitted (the default): refused, with the option named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privileged_containers: Option<PrivilegedContainers>,
}

/// Storage drivers the DinD image's daemon supports.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum DindStorageDriver {
    Overlay2,
    Vfs,
}

impl DindStorageDriver {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Overlay2 => "overlay2",
            Self::Vfs => "vfs",
        }
    }
}

/// Why a class lets its DinD daemons start privileged containers.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrivilegedContainers {
    /// What isolates this class's Pods from the node, in words for the
    /// platform team and the sandbox's logs, e.g. `Pods run in Kata VMs
    /// (runtimeClassName kata): each has its own kernel`.
    #[schemars(length(min = 10, max = 512))]
    pub reason: String,
}

/// What the node agent's Docker socket broker lets brokered host-socket
/// sandboxes of a class do on the node's daemon. Every container such a
/// sandbox starts runs in its Pod's cgroup, whatever the class says.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClassBroker {
    /// PIDs limit of each container a sandbox starts (one asking for none or
    /// for more gets this). Default 1024.
    #[serde(default = "default_pids_limit")]
    #[schemars(range(min = 16, max = 1048576))]
    pub pids_limit: i64,

    /// Log drivers containers may use besides `json-file` and `local`, which
    /// are always allowed, e.g. `journald`. Drivers that send logs off the
    /// node reach whatever address the container names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16), inner(regex(pattern = r"^[a-z0-9][a-z0-9_.-]{0,63}$")))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub log_drivers: Vec<String>,

    /// Allows publishing container ports (`docker run -p`), bound to this
    /// node address only. Omitted: publishing ports is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_ports: Option<PublishedPorts>,

    /// Allows builds from a URL (`docker build https://…`) and image imports
    /// from a URL (`docker import https://…`): the node's daemon fetches them,
    /// from the node's network.
    #[serde(default)]
    pub allow_remote_fetch: bool,

    /// Images every sandbox of the class may use (run, inspect, build from)
    /// without having pulled or built them itself, e.g. `busybox:1.36` or
    /// `registry.example.com/base@sha256:…`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(min = 1, max = 1024)))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub shared_images: Vec<String>,
}

/// PIDs limit of each brokered container when a class gives none.
pub const DEFAULT_PIDS_LIMIT: i64 = dockyard_docker_policy::scope::DEFAULT_PIDS_LIMIT;

fn default_pids_limit() -> i64 {
    DEFAULT_PIDS_LIMIT
}

impl Default for ClassBroker {
    fn default() -> Self {
        Self {
            pids_limit: DEFAULT_PIDS_LIMIT,
            log_drivers: Vec::new(),
            published_ports: None,
            allow_remote_fetch: false,
            shared_images: Vec::new(),
        }
    }
}

/// Where brokered sandboxes' published ports bind on the node.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct PublishedPorts {
    /// The node address every published port binds to, whatever the client
    /// asks, e.g. `127.0.0.1`. An IPv4 or IPv6 address.
    #[serde(rename = "hostIP")]
    #[schemars(length(min = 2, max = 45))]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "isIP(self)", "message": "hostIP must be an IPv4 or IPv6 address such as 127.0.0.1"},
    ]))]
    pub host_ip: String,
}

/// Default size of a DinD sidecar's `/var/lib/docker`.
pub const DEFAULT_DIND_STORAGE_SIZE: &str = "20Gi";

/// Security settings of a DinD sidecar.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "self.profile == 'capabilities' ? (has(self.capabilities) && size(self.capabilities) > 0) : (!has(self.capabilities) || size(self.capabilities) == 0)",
     "message": "capabilities must be listed when profile is capabilities, and only then",
     "fieldPath": ".capabilities"},
]))]
pub struct DindSecurity {
    /// `userNamespace` (default): a sidecar that is not privileged, with the
    /// nine capabilities the daemon uses, whose daemon runs every container in
    /// a user namespace (`dockerd --userns-remap`): root in a container is an
    /// unprivileged id on the node, the sandbox user is itself. `privileged`: a
    /// privileged sidecar, containers with the node's root. `capabilities`:
    /// exactly the listed capabilities, with unconfined seccomp and AppArmor,
    /// containers with the node's root. Both of those are weaker; for clusters
    /// whose runtime cannot nest user namespaces, or with a runtimeClass that
    /// isolates the Pod itself (Sysbox, Kata). See docs/architecture.md.
    #[serde(default)]
    pub profile: DindSecurityProfile,
    /// Capabilities of the sidecar with profile `capabilities`, without the
    /// `CAP_` prefix, e.g. `SYS_ADMIN`, `NET_ADMIN`; or `ALL`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(regex(pattern = r"^(ALL|[A-Z][A-Z_]{1,31})$")))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub capabilities: Vec<String>,
    /// Capabilities removed from `capabilities` (useful with `ALL`), e.g.
    /// `SYS_RESOURCE` on hosts that cannot grant it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(regex(pattern = r"^[A-Z][A-Z_]{1,31}$")))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub drop_capabilities: Vec<String>,
}

/// Security profile of a DinD sidecar.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum DindSecurityProfile {
    /// Not privileged: all capabilities dropped but the nine the daemon uses
    /// (`DIND_USER_NAMESPACE_CAPABILITIES`), and the daemon's containers in a
    /// user namespace (`dockerd --userns-remap`), the sandbox user mapped to itself.
    #[default]
    UserNamespace,
    /// `securityContext.privileged: true`; containers run with the node's root.
    Privileged,
    /// An explicit capability set with unconfined seccomp and AppArmor;
    /// containers run with the node's root.
    Capabilities,
}

/// Capabilities of a DinD sidecar with the `userNamespace` profile, each one
/// used by the daemon (docs/architecture.md says what for).
pub const DIND_USER_NAMESPACE_CAPABILITIES: [&str; 9] =
    ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID", "SYS_CHROOT", "SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE"];

/// One address pool of the inner Docker daemon.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AddressPool {
    /// IPv4 range the daemon carves networks from, e.g. `10.201.0.0/16`.
    #[schemars(length(min = 9, max = 18))]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "isCIDR(self) && cidr(self).ip().family() == 4", "message": "base must be an IPv4 CIDR such as 10.201.0.0/16"},
    ]))]
    pub base: String,
    /// Prefix length of each network, 8 to 30, e.g. 24.
    #[schemars(range(min = 8, max = 30))]
    pub size: i32,
}
