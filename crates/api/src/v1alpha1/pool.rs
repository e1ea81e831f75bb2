use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::SandboxSpec;

/// Longest SandboxPool name: it is the hostname of the pool's Pods, a DNS
/// label (like a Sandbox's name).
pub const MAX_POOL_NAME_LENGTH: usize = 58;

/// Most warm Pods one pool keeps.
pub const MAX_POOL_SIZE: i32 = 1000;

/// A SandboxPool keeps Pods started ahead of demand, Docker already
/// answering, for Sandboxes that name it (`spec.poolName`) and ask for
/// exactly its template: such a Sandbox is Ready as soon as a warm Pod is
/// made its own. A warm Pod serves one Sandbox and never returns to the pool;
/// the pool starts another. Namespaced: claims stay in the pool's namespace.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "dockyard.dev",
    version = "v1alpha1",
    kind = "SandboxPool",
    plural = "sandboxpools",
    shortname = "sbxpool",
    category = "dockyard",
    derive = "PartialEq",
    doc = "A SandboxPool: warm sandbox Pods, Docker already answering, for Sandboxes that name it.",
    namespaced,
    status = "SandboxPoolStatus",
    printcolumn = r#"{"name":"Size","type":"integer","jsonPath":".spec.size"}"#,
    printcolumn = r#"{"name":"Ready","type":"integer","jsonPath":".status.ready"}"#,
    printcolumn = r#"{"name":"Starting","type":"integer","jsonPath":".status.starting"}"#,
    printcolumn = r#"{"name":"Claimed","type":"integer","jsonPath":".status.claimed"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Mode","type":"string","jsonPath":".spec.template.docker.mode"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    validation = kube::core::Rule::new("size(self.metadata.name) <= 58").message("metadata.name: a SandboxPool name must be at most 58 characters (it is its Pods' hostname; they are named pool-<name>-<5 characters>)"),
    validation = kube::core::Rule::new("!self.metadata.name.contains('.')").message("metadata.name: a SandboxPool name may not contain dots: it is its Pods' hostname, a DNS label (lowercase letters, digits and '-')")
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "!has(self.template.poolName)",
     "message": "template.poolName: a pool's template names no pool (Sandboxes name the pool)",
     "fieldPath": ".template.poolName"},
    {"rule": "!has(self.template.suspended) || !self.template.suspended",
     "message": "template.suspended: a warm Pod runs; suspend the Sandbox that claimed it instead",
     "fieldPath": ".template.suspended"},
    {"rule": "!has(self.template.shutdownTime)",
     "message": "template.shutdownTime: set it on the Sandbox; a warm Pod has no expiry",
     "fieldPath": ".template.shutdownTime"},
]))]
pub struct SandboxPoolSpec {
    /// How many warm Pods the pool keeps started (claimed Pods do not count).
    /// 0 keeps none; at most 1000.
    #[schemars(range(min = 0, max = 1000))]
    pub size: i32,

    /// The Sandbox each warm Pod is started for: a Sandbox claims one when
    /// its spec, apart from `poolName`, `suspended` and `shutdownTime`, equals
    /// this. Its class's rules apply when a Pod is started and again when it
    /// is claimed. Modes `dind` and `none`; the workspace an `emptyDir`.
    pub template: SandboxSpec,

    /// Seconds the pool waits after a claim before it starts Pods in place of
    /// claimed ones; each claim starts the wait again. A burst of claims then
    /// has the API server to itself (each refill is a Pod to create, schedule
    /// and start beside the claims) and the pool refills once the burst
    /// pauses. It refills at once, wait or not, when a quarter of `size` or
    /// fewer warm Pods are ready, so size the pool for the bursts it serves
    /// warm. 0 (the default) refills right after each claim; at most 300.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 300))]
    pub refill_delay_seconds: Option<i32>,
}

/// What the controller last saw of the pool.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SandboxPoolStatus {
    /// Warm Pods Ready to be claimed (Docker answering).
    #[serde(default)]
    pub ready: i32,
    /// Warm Pods still starting.
    #[serde(default)]
    pub starting: i32,
    /// Pods of this pool now serving a Sandbox.
    #[serde(default)]
    pub claimed: i32,
    /// `Ready`: `True` when `ready` equals `spec.size`; otherwise why not
    /// (`Starting`, `TemplateRefused`, `PodRefused` with the API server's
    /// words, e.g. a ResourceQuota's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}
