use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    EnvVar, LocalObjectReference, PersistentVolumeClaimSpec, ResourceRequirements, Toleration,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

mod pod_rules;

pub use pod_rules::MAX_POD_ANNOTATIONS_SIZE;

/// Longest Sandbox name: the Pod is named `sbx-<name>` and its hostname must
/// stay a 63-character DNS label.
pub const MAX_SANDBOX_NAME_LENGTH: usize = 58;

/// A Sandbox is a workspace container for a person or an AI agent, optionally
/// with Docker inside it. The controller turns it into a Pod: the workload runs
/// as an unprivileged user, and Docker comes from a DinD sidecar, a brokered
/// node socket, or not at all.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "dockyard.dev",
    version = "v1alpha1",
    kind = "Sandbox",
    plural = "sandboxes",
    shortname = "sbx",
    category = "dockyard",
    derive = "PartialEq",
    doc = "A Sandbox: a workspace container for a person or an AI agent, optionally with Docker inside.",
    namespaced,
    status = "SandboxStatus",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Mode","type":"string","jsonPath":".spec.docker.mode"}"#,
    printcolumn = r#"{"name":"Node","type":"string","jsonPath":".status.nodeName"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    validation = kube::core::Rule::new("size(self.metadata.name) <= 58").message("metadata.name: a Sandbox name must be at most 58 characters (its Pod is named sbx-<name>)"),
    validation = kube::core::Rule::new("!self.metadata.name.contains('.')").message("metadata.name: a Sandbox name may not contain dots: it is its Pod's hostname, a DNS label (lowercase letters, digits and '-')")
)]
#[serde(rename_all = "camelCase")]
pub struct SandboxSpec {
    /// Container image of the workload, e.g. `dockyard-sandbox:latest`. Any image
    /// works: the Dockyard entrypoint is copied into the Pod, not required in
    /// the image.
    #[schemars(length(min = 1, max = 1024), transform = pod_rules::image)]
    pub image: String,

    /// When the kubelet pulls the image: `Always`, `IfNotPresent` or `Never`.
    /// Defaults to Kubernetes' own rule (Always for `:latest`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<ImagePullPolicy>,

    /// The program to run, replacing the image's entrypoint. Empty: the sandbox
    /// stays up idle (the Dockyard entrypoint waits as PID 1) so users can
    /// `kubectl exec` into it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), inner(regex(pattern = pod_rules::APPLY_SAFE_TEXT)))]
    pub command: Vec<String>,

    /// Arguments to `command`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1024), inner(regex(pattern = pod_rules::APPLY_SAFE_TEXT)))]
    pub args: Vec<String>,

    /// Environment variables of the workload, each name once. Names are what
    /// Kubernetes allows: printable ASCII characters other than `=`, such as
    /// `MY_VAR` or `my.setting`. `DOCKER_HOST` and names starting with
    /// `DOCKYARD_` are set by Dockyard and may not be given here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), transform = pod_rules::env)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub env: Vec<EnvVar>,

    /// Working directory of the workload. Defaults to the workspace mount path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 4096), transform = pod_rules::working_dir)]
    pub working_dir: Option<String>,

    /// CPU and memory of the workload container. Defaults to the class's
    /// `defaultResources`; may not exceed the class's `maxResources`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = pod_rules::resources)]
    pub resources: Option<ResourceRequirements>,

    /// The unprivileged identity the workload runs as.
    #[serde(default)]
    pub user: SandboxUser,

    /// Passwordless sudo for exactly the listed programs. Omitted or empty: no
    /// sudo at all. Note: sudo on a package manager can become root inside the
    /// container; the container itself (non-privileged, minimal capabilities)
    /// is the security boundary, not this list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sudo: Option<SudoSpec>,

    /// How the workload gets Docker.
    #[serde(default)]
    pub docker: DockerSpec,

    /// The sandbox's working files. Defaults to an emptyDir at `/workspace`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<WorkspaceSpec>,

    /// Name of the SandboxClass whose policy applies. Omitted: the class marked
    /// `default: true`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub class_name: Option<String>,

    /// `true` removes the Pod, and with it an `emptyDir` workspace (a claim
    /// workspace is kept); `false` brings the Pod back.
    #[serde(default)]
    pub suspended: bool,

    /// When the sandbox expires: its Pod is removed and the phase becomes
    /// `Expired`. A claim workspace is kept until the Sandbox is deleted; an
    /// `emptyDir` one goes with the Pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shutdown_time: Option<Time>,

    /// Pod-level settings passed through to the sandbox's Pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<PodSettings>,

    /// A SandboxPool in the Sandbox's namespace to take a warm Pod from
    /// (Docker already answering): the Sandbox is Ready as soon as the Pod is
    /// its own. The rest of this spec must equal the pool's `template`; when it
    /// does not, or the pool has no ready Pod, the sandbox starts cold and
    /// `status.warmStart` says why. Changing it never replaces a running Pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub pool_name: Option<String>,
}

/// When the kubelet pulls an image.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ImagePullPolicy {
    Always,
    IfNotPresent,
    Never,
}

impl ImagePullPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Always => "Always",
            Self::IfNotPresent => "IfNotPresent",
            Self::Never => "Never",
        }
    }
}

/// The unprivileged user the workload runs as. Root (uid 0) is never allowed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SandboxUser {
    /// Login name, created in the container when the image lacks it: lowercase
    /// letters, digits, `_` and `-`, starting with a letter or `_`, at most 32.
    #[serde(default = "default_user_name")]
    #[schemars(regex(pattern = r"^[a-z_][a-z0-9_-]{0,31}$"))]
    pub name: String,
    /// Numeric user id, 1 or more (0 is root and is refused).
    #[serde(default = "default_uid")]
    #[schemars(range(min = 1, max = 2147483647))]
    pub uid: i64,
    /// Numeric primary group id, 1 or more.
    #[serde(default = "default_gid")]
    #[schemars(range(min = 1, max = 2147483647))]
    pub gid: i64,
}

fn default_user_name() -> String {
    "sandbox".into()
}
fn default_uid() -> i64 {
    1000
}
fn default_gid() -> i64 {
    1000
}

impl Default for SandboxUser {
    fn default() -> Self {
        Self { name: default_user_name(), uid: default_uid(), gid: default_gid() }
    }
}

/// Which programs the user may run with sudo.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SudoSpec {
    /// Absolute paths of the programs allowed with passwordless sudo, e.g.
    /// `/usr/bin/apt-get`. Nothing else is allowed.
    #[serde(default)]
    #[schemars(length(max = 32), inner(length(min = 2, max = 256)))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.all(c, c.matches('^/[A-Za-z0-9._+/-]+$'))",
        "message": "every entry must be an absolute path to a program (letters, digits, '.', '_', '+', '-', '/'), e.g. /usr/bin/apt-get"
    }]))]
    pub commands: Vec<String>,
}

/// How the workload reaches a Docker daemon.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "self.mode == 'dind' || !has(self.dind)", "message": "dind settings may only be given with mode: dind", "fieldPath": ".dind"},
    {"rule": "self.mode == 'hostSocket' || !has(self.hostSocket)", "message": "hostSocket settings may only be given with mode: hostSocket", "fieldPath": ".hostSocket"},
]))]
pub struct DockerSpec {
    /// `dind` (default): a Docker daemon in a sidecar of the sandbox's own Pod.
    /// `hostSocket`: the node's Docker daemon, through a per-sandbox socket
    /// brokered by the node agent. `none`: no Docker.
    #[serde(default)]
    pub mode: DockerMode,
    /// Settings of the DinD sidecar (mode `dind` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dind: Option<DindSpec>,
    /// Settings of host-socket access (mode `hostSocket` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_socket: Option<HostSocketSpec>,
}

/// How the workload gets Docker.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum DockerMode {
    /// A Docker daemon in a sidecar of the sandbox's Pod.
    #[default]
    Dind,
    /// The node's Docker daemon through the node agent's broker (or raw, where the class allows).
    HostSocket,
    /// No Docker.
    None,
}

impl DockerMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dind => "dind",
            Self::HostSocket => "hostSocket",
            Self::None => "none",
        }
    }
}

impl std::fmt::Display for DockerMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Settings of the Docker-in-Docker sidecar.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DindSpec {
    /// The volume behind `/var/lib/docker` (images, containers, build cache).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<DindStorage>,
    /// How long to wait for the daemon to answer before the sandbox is marked
    /// `DockerReady=False`. 1 to 600 seconds, default 30.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 600))]
    pub readiness_timeout_seconds: Option<i32>,
    /// CPU and memory of the DinD sidecar. Defaults to the class's DinD resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = pod_rules::resources)]
    pub resources: Option<ResourceRequirements>,
    /// Images the sidecar's daemon pulls before the sandbox's workload starts
    /// (a SandboxPool's warm Pods have them when claimed), e.g. `postgres:17`
    /// or `registry.example.com/team/tools@sha256:…`; no tag means `latest`.
    /// The Pod becomes Ready only once every image is there, so
    /// `readinessTimeoutSeconds` must cover the pulls. A failed pull stops the
    /// sidecar with the daemon's message (shown in the Sandbox's or pool's
    /// status) and is retried when the sidecar restarts. Pulled from inside the
    /// sandbox's network: the class's `network.egressTo` and `dind`
    /// registry settings apply, and only public images (no credentials).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16), inner(length(min = 1, max = 255)))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": format!("self.all(i, i.matches('{IMAGE_REFERENCE}'))"),
        "message": "each must be an image reference such as busybox, postgres:17 or registry.example.com:5000/team/tools@sha256:<64 hex digits>",
    }]))]
    pub preload_images: Vec<String>,
}

/// What `dind.preloadImages` accepts: a Docker image reference by the grammar
/// of the daemon's own parser (github.com/distribution/reference): an optional
/// registry (with a dot or a port, or `localhost`), lower-case path
/// components, an optional tag, an optional sha256 digest. No backslash: the
/// same text is a CEL string and a Rust regex.
pub const IMAGE_REFERENCE: &str = concat!(
    r"^((localhost|[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?([.][a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)+)(:[0-9]+)?/",
    r"|[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?:[0-9]+/)?",
    r"[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*(/[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*)*",
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$",
);

/// Default readiness timeout of the DinD daemon, in seconds.
pub const DEFAULT_DOCKER_READINESS_TIMEOUT_SECONDS: i32 = 30;

/// The volume behind the DinD daemon's `/var/lib/docker`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DindStorage {
    /// Size of the volume, e.g. `20Gi`. Defaults to the class's
    /// `dind.storageSize`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = pod_rules::storage_size)]
    pub size: Option<Quantity>,
    /// Storage class of a generic ephemeral volume for the daemon's data. Omitted:
    /// a size-limited emptyDir on the node's disk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), transform = pod_rules::storage_class_name)]
    pub storage_class_name: Option<String>,
    /// Keep the daemon's data on a PersistentVolumeClaim `<name>-docker`
    /// owned by the Sandbox (of `storageClassName`, or the cluster's default
    /// class): images, volumes and build cache survive a new Pod (a restart,
    /// a suspend and resume, a change to the Sandbox) and go with the Sandbox.
    /// Omitted: the class's `dind.persistentStorage`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent: Option<bool>,
}

/// Settings of host-socket access.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HostSocketSpec {
    /// `brokered` (default): a per-sandbox socket from the node agent that shows
    /// the sandbox only its own objects and refuses escapes to the node. `raw`:
    /// the node's Docker socket itself, root on the node; only where the class
    /// sets `allowRawHostSocket`.
    #[serde(default)]
    pub access: HostSocketAccess,
}

/// How a host-socket sandbox reaches the node's daemon.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum HostSocketAccess {
    /// Through the node agent's broker.
    #[default]
    Brokered,
    /// The node's socket, unfiltered.
    Raw,
}

/// Default mount path of the workspace.
pub const DEFAULT_WORKSPACE_MOUNT_PATH: &str = "/workspace";

/// Where the sandbox's files live. At most one source may be given; none
/// means an emptyDir, which lives as long as the Pod.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "[has(self.emptyDir), has(self.persistentVolumeClaim), has(self.volumeClaimTemplate)].filter(x, x).size() <= 1",
     "message": "give at most one of emptyDir, persistentVolumeClaim, volumeClaimTemplate"},
]))]
pub struct WorkspaceSpec {
    /// Absolute path where the workspace is mounted, default `/workspace`. The
    /// DinD daemon sees it at the same path, so `docker run -v $PWD:/src`
    /// works from inside it. Not over what Dockyard mounts itself: `/dockyard`,
    /// `/var/run/dockyard`, `/var/lib/docker`, `/etc/passwd`, `/etc/group`,
    /// `/etc/sudoers.d`.
    #[serde(default = "default_workspace_mount_path")]
    #[schemars(length(min = 2, max = 4096))]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "self.startsWith('/') && self != '/'", "message": "mountPath must be an absolute path other than /"},
    ]))]
    #[schemars(transform = pod_rules::mount_path)]
    pub mount_path: String,
    /// A scratch volume that lives as long as the Pod (lost on suspend).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_dir: Option<EmptyDirWorkspace>,
    /// An existing PersistentVolumeClaim in the Sandbox's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_volume_claim: Option<ExistingClaim>,
    /// A PersistentVolumeClaim created for this Sandbox (named
    /// `<sandbox>-workspace`), kept across suspend and deleted with the Sandbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_claim_template: Option<ClaimTemplate>,
}

fn default_workspace_mount_path() -> String {
    DEFAULT_WORKSPACE_MOUNT_PATH.into()
}

/// A scratch workspace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EmptyDirWorkspace {
    /// Upper bound of the volume's size, e.g. `10Gi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = pod_rules::storage_size)]
    pub size_limit: Option<Quantity>,
}

/// An existing claim used as the workspace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExistingClaim {
    /// Name of the PersistentVolumeClaim, in the Sandbox's namespace.
    #[schemars(length(min = 1, max = 253), transform = pod_rules::claim_name)]
    pub claim_name: String,
}

/// A claim created for the Sandbox.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClaimTemplate {
    /// Spec of the PersistentVolumeClaim, e.g. access modes, storage class and
    /// `resources.requests.storage` (required: the claim's size). The volume
    /// is mounted as a filesystem.
    #[schemars(transform = pod_rules::claim_spec)]
    pub spec: PersistentVolumeClaimSpec,
}

/// Pod-level settings a platform team needs passed through.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodSettings {
    /// Node labels the Pod must match.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(transform = pod_rules::node_selector)]
    pub node_selector: BTreeMap<String, String>,
    /// Tolerations of the Pod.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(transform = pod_rules::tolerations)]
    pub tolerations: Vec<Toleration>,
    /// RuntimeClass of the Pod (e.g. Sysbox, Kata, gVisor): the class's
    /// `runtimeClassName` or one of its `allowedRuntimeClassNames`, else the
    /// Sandbox is not admitted (`RuntimeClassNotAllowed`). Omitted: the class's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), transform = pod_rules::runtime_class_name)]
    pub runtime_class_name: Option<String>,
    /// ServiceAccount of the Pod. Omitted: the namespace's `default` account,
    /// with no API token mounted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), transform = pod_rules::service_account_name)]
    pub service_account_name: Option<String>,
    /// Secrets for pulling the workload image.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(transform = pod_rules::image_pull_secrets)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub image_pull_secrets: Vec<LocalObjectReference>,
    /// Extra labels of the Pod. Labels under `dockyard.dev/` and
    /// `app.kubernetes.io/` are Dockyard's and are refused here.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(transform = pod_rules::pod_labels)]
    pub labels: BTreeMap<String, String>,
    /// Extra annotations of the Pod: keys and values together at most 262102
    /// bytes (the API server's 256 KiB, less Dockyard's own annotation).
    /// AppArmor and seccomp annotations are refused: Dockyard sets every
    /// container's security profile.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(transform = pod_rules::pod_annotations)]
    pub annotations: BTreeMap<String, String>,
}

/// What the controller last saw of the Sandbox.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SandboxStatus {
    /// Summary of where the Sandbox is in its lifecycle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<SandboxPhase>,
    /// `Admitted`, `PodScheduled`, `DockerReady` and `Ready`, in Kubernetes API
    /// conventions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Name of the sandbox's Pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_name: Option<String>,
    /// Node the Pod runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    /// IP address of the Pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "podIP")]
    pub pod_ip: Option<String>,
    /// The Docker endpoint the workload uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker: Option<DockerStatus>,
    /// Every node whose Docker daemon the sandbox's Pods have used (mode
    /// `hostSocket`), kept after the Pod is gone: deleting the Sandbox waits
    /// until each node's agent has removed what the sandbox left there (or the
    /// node is gone).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub nodes: Vec<String>,
    /// The last time a Pod of the sandbox failed, and why; kept after a new
    /// Pod starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_pod_failure: Option<PodFailure>,
    /// The network the sandbox's Pod gets from its class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkStatus>,
    /// Whether the sandbox's Pod came warm from the pool it names
    /// (`spec.poolName`), and if not, why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_start: Option<WarmStart>,
}

/// How a pooled Sandbox got its Pod.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WarmStart {
    /// The SandboxPool asked for.
    pub pool: String,
    /// Whether the Pod is a warm Pod of that pool.
    pub claimed: bool,
    /// `Claimed`, or why the sandbox started cold: `PoolNotFound`,
    /// `TemplateMismatch`, `PoolEmpty`, `PoolNotReady`.
    pub reason: String,
    /// In words.
    pub message: String,
}

/// The network of a sandbox, as its class's NetworkPolicy says it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkStatus {
    /// The NetworkPolicy (in the Sandbox's namespace) that selects its Pod.
    pub policy: String,
    /// What it allows, in words, e.g. `egress: cluster DNS, the internet
    /// except private, link-local and loopback addresses; ingress: none`.
    pub summary: String,
}

/// A failed Pod of a Sandbox.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodFailure {
    /// When the controller saw it failed.
    pub time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time,
    /// The kubelet's reason, e.g. `Evicted`; empty when it gave none.
    #[serde(default)]
    pub reason: String,
    /// The kubelet's message.
    #[serde(default)]
    pub message: String,
}

/// Lifecycle phase of a Sandbox.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum SandboxPhase {
    /// Accepted; the Pod is not running yet.
    Pending,
    /// The Pod runs; Docker or the workload is not ready yet.
    Starting,
    /// The workload runs and Docker (if any) answers.
    Ready,
    /// Suspended by the user: no Pod (a claim workspace is kept).
    Suspended,
    /// `shutdownTime` has passed: no Pod (a claim workspace is kept).
    Expired,
    /// The workload's command finished successfully.
    Completed,
    /// Refused by policy or unable to run; see the conditions.
    Failed,
    /// Being deleted; node cleanup in progress.
    Terminating,
}

impl SandboxPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Starting => "Starting",
            Self::Ready => "Ready",
            Self::Suspended => "Suspended",
            Self::Expired => "Expired",
            Self::Completed => "Completed",
            Self::Failed => "Failed",
            Self::Terminating => "Terminating",
        }
    }
}

/// The Docker endpoint of a running sandbox.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DockerStatus {
    /// The docker mode in effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<DockerMode>,
    /// `DOCKER_HOST` as the workload sees it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

/// Condition types of a Sandbox.
pub mod condition {
    /// The class admitted the Sandbox.
    pub const ADMITTED: &str = "Admitted";
    /// The Pod is bound to a node.
    pub const POD_SCHEDULED: &str = "PodScheduled";
    /// The sandbox's Docker endpoint answers.
    pub const DOCKER_READY: &str = "DockerReady";
    /// The workload runs and everything it needs is ready.
    pub const READY: &str = "Ready";
    /// The running Pod is what the Sandbox gets now (False, `UpdatePending`:
    /// Dockyard or the class changed since; the next Pod gets it).
    pub const UP_TO_DATE: &str = "UpToDate";
    /// Present (False) while the namespace's Pod Security level keeps the
    /// sandbox's Pod from being made: the class is not meant for the level,
    /// or Pod Security admission refused the Pod (its message, verbatim).
    pub const POD_SECURITY: &str = "PodSecurity";
}

impl SandboxSpec {
    /// The workspace settings in effect (an emptyDir at `/workspace` when none are given).
    pub fn workspace_or_default(&self) -> WorkspaceSpec {
        self.workspace
            .clone()
            .unwrap_or_else(|| WorkspaceSpec { mount_path: default_workspace_mount_path(), ..WorkspaceSpec::default() })
    }

    /// What happens to the workspace when the Pod goes (suspend, expiry), in words.
    pub fn workspace_without_pod(&self) -> &'static str {
        let workspace = self.workspace_or_default();
        if workspace.persistent_volume_claim.is_some() || workspace.volume_claim_template.is_some() {
            "its workspace claim is kept"
        } else {
            "its emptyDir workspace went with it"
        }
    }

    /// The sudo allowlist (empty: no sudo).
    pub fn sudo_commands(&self) -> &[String] {
        self.sudo.as_ref().map(|s| s.commands.as_slice()).unwrap_or_default()
    }

    /// The DinD readiness timeout in effect.
    pub fn docker_readiness_timeout_seconds(&self) -> i32 {
        self.docker
            .dind
            .as_ref()
            .and_then(|d| d.readiness_timeout_seconds)
            .unwrap_or(DEFAULT_DOCKER_READINESS_TIMEOUT_SECONDS)
    }

    /// Host-socket access in effect (meaningful in mode `hostSocket` only).
    pub fn host_socket_access(&self) -> HostSocketAccess {
        self.docker.host_socket.as_ref().map(|h| h.access).unwrap_or_default()
    }
}
