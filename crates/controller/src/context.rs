//! What every reconciliation shares.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use dockyard_api::network::NetworkSettings;
use dockyard_api::render::RenderSettings;
use dockyard_api::{SandboxClass, SandboxPool};
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicySpec};
use kube::Client;
use kube::core::PartialObjectMeta;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{ObjectRef, Store};

use crate::agent::AgentSettings;
use crate::backoff::Backoff;
use crate::metrics::Metrics;
use crate::own_writes::OwnWrites;

/// The controller's settings (its flags).
#[derive(Clone, Debug)]
pub struct Settings {
    pub render: RenderSettings,
    pub agent: AgentSettings,
    /// What every class's NetworkPolicy adds.
    pub network: NetworkSettings,
    /// Sandboxes reconciled at once.
    pub concurrency: u16,
    /// How long a new sandbox's first status waits while it only says that
    /// the sandbox is on its way (`status::hold_first_progress`).
    pub first_progress_after: Duration,
}

pub struct Context {
    pub client: Client,
    /// Events that may repeat (a refusal, a cleanup pending): its cache
    /// counts a repeat into the event before it.
    pub recorder: Recorder,
    /// Who publishes events, for those that happen once (`Ready`): they go
    /// through a recorder of their own, and nothing keeps them afterwards.
    pub reporter: Reporter,
    pub settings: Settings,
    pub metrics: Metrics,
    /// Every SandboxClass, kept current by a watch.
    pub classes: Store<SandboxClass>,
    /// Every Namespace's metadata (for class namespace selectors).
    pub namespaces: Store<PartialObjectMeta<Namespace>>,
    /// The Pods Dockyard manages.
    pub pods: Store<Pod>,
    /// Every SandboxPool.
    pub pools: Store<SandboxPool>,
    /// Warm Pods each pool (namespace/name) created that the Pod cache may
    /// not show yet: counted as starting, so a pool is never filled twice.
    pub pool_starts: Mutex<HashMap<String, Vec<(String, Instant)>>>,
    /// Warm Pods (by UID) a claim took or is taking: not offered again until
    /// the cache shows them claimed.
    pub claims: Mutex<HashMap<String, Instant>>,
    /// When each pool (namespace/name) last had a warm Pod claimed by this
    /// controller (its refill waits `spec.refillDelaySeconds` after a claim).
    pub pool_claimed_at: Mutex<HashMap<String, Instant>>,
    /// When each pool's status was last written (its counts are written at
    /// most once a second).
    pub pool_status_written: Mutex<HashMap<String, Instant>>,
    /// The NetworkPolicies of classes the controller keeps (one per class
    /// and namespace).
    pub network_policies: Store<NetworkPolicy>,
    /// The policies the controller applied (namespace/name → spec), until the
    /// watch shows them: sandboxes of one class starting together write their
    /// policy once.
    pub applied_policies: Mutex<HashMap<String, (NetworkPolicySpec, Instant)>>,
    /// Consecutive failures per Sandbox (namespace/name), for backoff.
    pub failures: Mutex<HashMap<String, u32>>,
    /// Pod creations the API server refused, per Sandbox: retried with backoff
    /// (2 s doubling to 1 min), reset once a Pod is created.
    pub pod_refusals: Backoff,
    /// Pods that failed, per Sandbox: recreated with backoff (10 s doubling to
    /// 5 min), reset once a Pod is Ready.
    pub pod_failures: Backoff,
    /// Our status writes and Pod creations the caches have not seen yet.
    pub own_writes: OwnWrites,
}

impl Context {
    /// Whether `namespace` is being deleted: nothing is started in it (the
    /// API server would refuse a new Pod or event there anyway).
    pub fn namespace_terminating(&self, namespace: &str) -> bool {
        self.namespaces.get(&ObjectRef::new(namespace)).is_some_and(|ns| ns.metadata.deletion_timestamp.is_some())
    }
}
