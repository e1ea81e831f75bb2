//! Who is asking: the sandbox a socket belongs to, and its class's rules.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The sandbox a proxied socket belongs to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Scope {
    /// The Sandbox's UID: the value of the label on everything it creates.
    pub uid: String,
    /// Where its workspace is, inside the sandbox and on the node.
    #[serde(default)]
    pub workspace: Option<WorkspaceMapping>,
    /// The sandbox Pod's cgroup, as the daemon's cgroup driver names it
    /// (`/kubepods/burstable/pod<uid>` with cgroupfs,
    /// `kubepods-burstable-pod<uid_>.slice` with systemd): every container
    /// the sandbox starts is created under it, so the Pod's limits bound them.
    /// `None`: unknown, and containers are refused (never started unbounded).
    #[serde(default)]
    pub cgroup_parent: Option<String>,
    /// The Docker network its containers join where they ask for the
    /// daemon's default bridge (`default`, `bridge` or none named): a bridge
    /// of the sandbox's own, made on first use, so no other sandbox's
    /// containers share its network (Docker isolates bridges from each
    /// other). `None`: the daemon's default (in front of a sandbox's own
    /// daemon, DinD, whose default bridge is the sandbox's).
    #[serde(default)]
    pub own_network: Option<String>,
    /// What its class allows beyond the defaults.
    #[serde(default)]
    pub rules: Rules,
    /// A warm pool's Pod no Sandbox has claimed yet: only `/_ping`,
    /// `/version` and `/info` answer (its startup probe, a client's first
    /// calls), so nothing is ever made under a stand-in identity.
    #[serde(default)]
    pub unclaimed: bool,
}

/// The name of the network a brokered sandbox's containers join instead of
/// the node daemon's default bridge ([`Scope::own_network`]).
pub fn own_network_name(uid: &str) -> String {
    format!("dockyard-{uid}")
}

/// The workspace volume as the sandbox sees it and where it lies on the node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkspaceMapping {
    pub sandbox_path: PathBuf,
    pub node_path: PathBuf,
}

/// The node-facing knobs a class decides (`SandboxClass.spec.broker`);
/// the defaults refuse them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rules {
    /// PIDs limit of every container: one asking for none, or for more, gets this.
    pub pids_limit: i64,
    /// Log drivers besides `json-file` and `local` (which are always allowed).
    #[serde(default)]
    pub log_drivers: Vec<String>,
    /// The node address published ports bind to; `None`: publishing is refused.
    #[serde(default)]
    pub publish_host_ip: Option<String>,
    /// Ports may be published on any address the client names: the daemon's
    /// network namespace is the sandbox Pod's own (DinD), not the node's.
    #[serde(default)]
    pub publish_anywhere: bool,
    /// Whether builds and imports may make the daemon fetch a URL (`remote=`, `fromSrc=`).
    #[serde(default)]
    pub allow_remote_fetch: bool,
    /// Image references every sandbox of the class may use without owning them.
    #[serde(default)]
    pub shared_images: Vec<String>,
    /// Privileged containers, added capabilities, any security option, devices
    /// and the daemon's own namespaces (`host`) are allowed: only in front of
    /// a sandbox's own daemon whose Pod a runtime class isolates (Sysbox, Kata,
    /// gVisor), where they reach that isolation, not the node
    /// (`SandboxClass.spec.dind.privilegedContainers`). Never for the broker.
    #[serde(default)]
    pub privileged_containers: bool,
    /// Where the containers may connect beyond their own sandbox (brokered
    /// sandboxes: the node agent's rules on the node say it).
    #[serde(default)]
    pub egress: ContainerEgress,
}

/// Where a brokered sandbox's containers may connect, from its class's
/// `network`: the default, the strictest, is nowhere beyond the sandbox's own
/// Pod and containers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerEgress {
    /// Public addresses: everything but private, shared, loopback,
    /// link-local, multicast and reserved ranges.
    #[serde(default)]
    pub internet: bool,
    /// Further destinations.
    #[serde(default)]
    pub to: Vec<EgressDestination>,
}

/// A CIDR (and ports) containers may connect to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EgressDestination {
    pub cidr: String,
    /// Empty: every port.
    #[serde(default)]
    pub ports: Vec<EgressPort>,
}

/// A port or port range of an [`EgressDestination`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EgressPort {
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
    pub port: u16,
    #[serde(default)]
    pub end_port: Option<u16>,
}

impl Rules {
    /// The rules in front of a sandbox's own daemon (DinD): its network is the
    /// Pod's, so publishing ports and fetching URLs reach only what the Pod's
    /// own network (and its NetworkPolicy) reaches.
    pub fn own_daemon() -> Self {
        Self { publish_anywhere: true, allow_remote_fetch: true, ..Self::default() }
    }
}

/// PIDs limit of a brokered container when the class gives none.
pub const DEFAULT_PIDS_LIMIT: i64 = 1024;

impl Default for Rules {
    fn default() -> Self {
        Self {
            pids_limit: DEFAULT_PIDS_LIMIT,
            log_drivers: Vec::new(),
            publish_host_ip: None,
            publish_anywhere: false,
            allow_remote_fetch: false,
            shared_images: Vec::new(),
            privileged_containers: false,
            egress: ContainerEgress::default(),
        }
    }
}
