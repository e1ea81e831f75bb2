//! One reconciliation of a Sandbox, as a pipeline: look up its class and
//! namespace → admit (pure) → render (pure) → apply → write status.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dockyard_api::labels::{self, CLEANUP_FINALIZER, FIELD_MANAGER, POD_SPEC_HASH, SANDBOX_SPEC_HASH};
use dockyard_api::policy::{self, ClassChoice};
use dockyard_api::v1alpha1::{ClassNetwork, DockerMode, NetworkStatus, NonConformingPods, WarmStart};
use dockyard_api::{Sandbox, SandboxStatus};
use dockyard_api::{network, render};
use dockyard_proto::agent::v1::SandboxRef;
use k8s_openapi::api::core::v1::{Node, PersistentVolumeClaim, Pod};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::finalizer::{self, Event as Finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Resource, ResourceExt};
use serde_json::json;
use tracing::{info, warn};

use crate::agent;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::pod_refusal::{self, PodRefusal};
use crate::pool;
use crate::status::{self, Drift, Observation};

/// Looks again at least this often, whatever happens.
const RESYNC: Duration = Duration::from_secs(300);

/// When the caches are behind our own writes, look again this soon if the
/// writes' watch events do not bring the Sandbox back first.
const CACHE_CATCH_UP: Duration = Duration::from_secs(5);

pub async fn reconcile(sandbox: Arc<Sandbox>, ctx: Arc<Context>) -> Result<Action> {
    let namespace = sandbox.namespace().unwrap_or_default();
    let pod_version =
        |name: &str| ctx.pods.get(&ObjectRef::new(name).within(&namespace)).and_then(|p| p.resource_version());
    if ctx.own_writes.caches_are_behind(sandbox.as_ref(), pod_version) {
        // Our last writes are newer than this view; their watch events
        // trigger the next reconciliation, on the current objects.
        return Ok(Action::requeue(CACHE_CATCH_UP));
    }
    let started = Instant::now();
    let key = sandbox_key(&sandbox);
    let api: Api<Sandbox> = Api::namespaced(ctx.client.clone(), &namespace);
    // Only host-socket sandboxes leave objects on a node's daemon, so only they
    // carry the cleanup finalizer (one that has it keeps it until deletion).
    let needs_finalizer = sandbox.spec.docker.mode == DockerMode::HostSocket
        || sandbox.finalizers().iter().any(|f| f == CLEANUP_FINALIZER);
    let result = if !needs_finalizer {
        if sandbox.metadata.deletion_timestamp.is_some() {
            ctx.metrics.set_phase(key.clone(), None);
            Ok(Action::await_change())
        } else {
            apply(&sandbox, &ctx).await
        }
    } else {
        finalizer::finalizer(&api, CLEANUP_FINALIZER, sandbox, |event| async {
            match event {
                Finalizer::Apply(sandbox) => apply(&sandbox, &ctx).await,
                Finalizer::Cleanup(sandbox) => cleanup(&sandbox, &ctx).await,
            }
        })
        .await
        .map_err(|e| Error::Finalizer(Box::new(e)))
    };
    ctx.metrics.reconciled(started.elapsed());
    if result.is_ok() {
        ctx.failures.lock().expect("failures lock").remove(&key);
    }
    result
}

/// The event a sandbox gets once, when it becomes Ready (the scale bench's
/// floor publishes the same).
pub fn ready_event() -> Event {
    Event {
        type_: EventType::Normal,
        reason: "Ready".into(),
        note: Some("the sandbox is ready".into()),
        action: "Reconcile".into(),
        secondary: None,
    }
}

/// `namespace/name`: the key of a Sandbox in the controller's own maps.
fn sandbox_key(sandbox: &Sandbox) -> String {
    format!("{}/{}", sandbox.namespace().unwrap_or_default(), sandbox.name_any())
}

/// Requeues a failed Sandbox with exponential backoff (1 s doubling to 5 min);
/// one bad object never blocks the others.
pub fn error_policy(sandbox: Arc<Sandbox>, error: &Error, ctx: Arc<Context>) -> Action {
    let key = sandbox_key(&sandbox);
    let failures = {
        let mut map = ctx.failures.lock().expect("failures lock");
        let n = map.entry(key.clone()).or_insert(0);
        *n = n.saturating_add(1);
        *n
    };
    ctx.metrics.failed(error.metric_label());
    let delay = Duration::from_secs(1 << failures.min(9).saturating_sub(1)).min(RESYNC);
    warn!(sandbox = %key, error = %error, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

async fn apply(sandbox: &Sandbox, ctx: &Context) -> Result<Action> {
    let namespace = sandbox.namespace().unwrap_or_default();
    if ctx.namespace_terminating(&namespace) {
        // Everything in it is on its way out: a Pod made now (or a warm one
        // claimed in place of one the namespace's deletion took) would be
        // refused, and so would its events.
        ctx.metrics.set_phase(sandbox_key(sandbox), None);
        return Ok(Action::await_change());
    }
    let name = sandbox.name_any();
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
    let pod_name = labels::pod_name(&name);
    // Only a Pod this Sandbox controls is its Pod: one of the same name that
    // someone else made (or an earlier Sandbox of that name left) is never
    // adopted, changed or deleted. A pooled sandbox's Pod is the warm Pod it
    // claimed, named by the pool.
    let classes = ctx.classes.state();
    let choice = policy::choose_class(sandbox, &classes);
    let existing =
        ctx.pods.get(&ObjectRef::new(&pod_name).within(&namespace)).filter(|pod| owned_by(pod.as_ref(), sandbox));
    let existing = match existing {
        Some(pod) => Some(pod),
        None if pool::pool_for(sandbox, choice.as_ref().ok().and_then(ClassChoice::spec)).is_some()
            || sandbox.status.as_ref().is_some_and(|s| s.warm_start.is_some()) =>
        {
            pool::claimed_pod(ctx, sandbox)
        }
        None => None,
    };
    let now = Timestamp::now();
    let key = sandbox_key(sandbox);

    // Look up (from watched caches) → admit.
    let namespace_labels: BTreeMap<String, String> =
        ctx.namespaces.get(&ObjectRef::new(&namespace)).and_then(|ns| ns.metadata.labels.clone()).unwrap_or_default();
    let admission = choice.clone().and_then(|choice| policy::admit(sandbox, choice, &namespace_labels).map(|_| choice));
    // Only a class that exists and says so stops the Pods it no longer admits.
    let keeps_running =
        !matches!(choice, Ok(ClassChoice::Class(c)) if c.spec.non_conforming_pods == NonConformingPods::Stop);
    let expired = sandbox.spec.shutdown_time.as_ref().is_some_and(|t| t.0 <= now);
    // The Pod a refusal would keep or stop: alive, and meant to run.
    let running = existing.as_deref().filter(|p| alive(p) && !sandbox.spec.suspended && !expired);
    let class = match admission {
        Ok(choice) => choice,
        // A class deleted or tightened, or the user's change refused, under a
        // running Pod: it runs on, and says so; no new Pod starts. Only the
        // user (suspend, delete), an administrator or the class's
        // `nonConformingPods: Stop` stops it.
        Err(refusal)
            if let Some(pod) = running
                && keeps_running =>
        {
            if !shows_false(sandbox, "Admitted", refusal.reason.as_str(), None) {
                let message = format!("{}; its running Pod is kept, no new one starts", refusal.message);
                publish(ctx, sandbox, EventType::Warning, refusal.reason.as_str(), &message).await;
            }
            let drift = Drift { update_pending: false, refusal: Some(&refusal), unbound: None };
            let next =
                write_status(ctx, sandbox, &Observation::Running(Some(pod), drift), now, Learned::default()).await?;
            return Ok(Action::requeue(next.unwrap_or(RESYNC).min(RESYNC)));
        }
        Err(refusal) => {
            if running.is_some() {
                let message = format!(
                    "{}; its running Pod is stopped (class {}: nonConformingPods: Stop)",
                    refusal.message,
                    choice.as_ref().map(ClassChoice::name).unwrap_or_default()
                );
                // Its own reason: an event of the refusal's reason may exist
                // already (from the time the Pod was kept), and the recorder
                // would count this one into it, note and all.
                publish(ctx, sandbox, EventType::Warning, "PodStopped", &message).await;
            } else if !shows_false(sandbox, "Admitted", refusal.reason.as_str(), None) {
                publish(ctx, sandbox, EventType::Warning, refusal.reason.as_str(), &refusal.message).await;
            }
            delete_pod(&pods, existing.as_deref()).await?;
            write_status(ctx, sandbox, &Observation::Refused(&refusal), now, Learned::default()).await?;
            // Nothing changes until the Sandbox or a class does.
            return Ok(Action::await_change());
        }
    };

    // Lifecycle: suspended or expired sandboxes have no Pod.
    if sandbox.spec.suspended || expired {
        delete_pod(&pods, existing.as_deref()).await?;
        // What a brokered sandbox started on its nodes' daemons stops too (a
        // DinD sandbox's goes with its Pod); until it has, the status keeps the nodes.
        let pod_node = existing.as_ref().and_then(|p| p.spec.as_ref()?.node_name.clone());
        clean_nodes(ctx, sandbox, nodes_to_clean(sandbox, pod_node)).await?;
        let observation = if sandbox.spec.suspended { Observation::Suspended } else { Observation::Expired };
        let workspace = sandbox.spec.workspace_without_pod();
        let (reason, message) = if sandbox.spec.suspended {
            ("Suspended", format!("Pod removed; {workspace}"))
        } else {
            ("Expired", format!("spec.shutdownTime has passed: Pod removed; {workspace}"))
        };
        if !shows_false(sandbox, "Ready", reason, None) {
            publish(ctx, sandbox, EventType::Normal, reason, &message).await;
        }
        write_status(ctx, sandbox, &observation, now, Learned::default()).await?;
        return Ok(Action::await_change());
    }

    // The network before any Pod: the class's NetworkPolicy selects the Pod
    // from its first packet.
    let (class_name, class_spec) = match class {
        ClassChoice::Class(c) => (Some(c.name_any()), Some(&c.spec)),
        ClassChoice::BuiltIn => (None, None),
    };
    let class_network = class_spec.map(|c| c.network.clone()).unwrap_or_default();
    let network = match ensure_network_policy(ctx, &namespace, class_name.as_deref(), &class_network).await? {
        Ok(network) => network,
        Err(refusal) => return pod_refused(ctx, sandbox, &key, &refusal, now).await,
    };
    let network_label = network::class_label(class_name.as_deref());

    // The workspace claim.
    let workspace = sandbox.spec.workspace_or_default();
    if let Some(claim) = render::render_workspace_claim(sandbox)? {
        let claims: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), &namespace);
        claims.patch(&claim.name_any(), &apply_params(), &Patch::Apply(&claim)).await?;
    } else if let Some(existing_claim) = &workspace.persistent_volume_claim {
        let claims: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), &namespace);
        if claims.get_opt(&existing_claim.claim_name).await?.is_none() {
            write_status(ctx, sandbox, &Observation::ClaimMissing(&existing_claim.claim_name), now, Learned::default())
                .await?;
            return Ok(Action::requeue(Duration::from_secs(30)));
        }
    }

    // Render → apply. A claimed warm Pod is compared with the Pod rendered
    // for its pool's identity (its hostname, which a running Pod keeps); any
    // other with the Sandbox's own, which is also what a create makes (only
    // without an existing Pod).
    let mut desired = match existing.as_deref().and_then(warm_identity) {
        Some(identity) => {
            dockyard_api::pool::render_pod_as(&sandbox.spec, &namespace, identity, class_spec, &ctx.settings.render)?
        }
        None => render::render_pod(sandbox, class_spec, &ctx.settings.render)?,
    };
    desired.labels_mut().insert(labels::NETWORK_CLASS.into(), network_label.clone());
    let asked = desired.annotations().get(SANDBOX_SPEC_HASH);
    let created: Option<Pod>;
    let mut warm_start = None;
    let observed = match existing.as_deref() {
        Some(pod) if pod.metadata.deletion_timestamp.is_some() => None,
        Some(pod) if pod.annotations().get(SANDBOX_SPEC_HASH).is_some_and(|made_from| Some(made_from) != asked) => {
            // The user changed the Sandbox, and Pods are immutable: a new Pod.
            // (Dockyard's own changes never come here: see UpToDate below.)
            info!(sandbox = %name, "the Sandbox changed since its Pod was made; replacing the Pod");
            delete_pod(&pods, Some(pod)).await?;
            None
        }
        Some(pod) if pod_failed(pod) => {
            // Recreated, but not at once: a Pod that keeps failing is tried
            // again ever later, and the Sandbox says why meanwhile.
            // A Pod that ran a good while before it failed starts the backoff
            // afresh; one that fails soon after it started (Ready or not: a
            // workload without Docker is Ready at once) waits ever longer.
            if status::pod_age(pod, now).is_some_and(|ran| ran >= POD_FAILURE_FORGOTTEN_AFTER) {
                ctx.pod_failures.reset(&key);
            }
            let delay = ctx.pod_failures.failed(&key);
            let failure = status::pod_failure(pod, now);
            let reason = if failure.reason.is_empty() { String::new() } else { format!(" ({})", failure.reason) };
            let message =
                format!("Pod {pod_name} failed{reason}: {}; a new one in {}s", failure.message, delay.as_secs());
            publish(ctx, sandbox, EventType::Warning, "PodFailed", &message).await;
            delete_pod(&pods, Some(pod)).await?;
            write_status(ctx, sandbox, &Observation::PodFailed(&failure, &message), now, Learned::default()).await?;
            return Ok(Action::requeue(delay));
        }
        Some(pod) => {
            if !pod.annotations().contains_key(SANDBOX_SPEC_HASH) {
                adopt(&pods, pod, asked).await?;
            }
            if pod.labels().get(labels::NETWORK_CLASS) != Some(&network_label) {
                // A Pod of an earlier Dockyard, or whose class changed (a new
                // default class): labels change in place, nothing restarts.
                relabel_network(&pods, pod, &network_label).await?;
            }
            Some(pod)
        }
        None => {
            if let Some(wait) = ctx.pod_refusals.remaining(&key).or_else(|| ctx.pod_failures.remaining(&key)) {
                // Backing off: the status already says why.
                return Ok(Action::requeue(wait));
            }
            // A warm Pod of the pool it names (or its class's default pool),
            // if one fits.
            if let Some(pool_choice) = pool::pool_for(sandbox, class_spec) {
                match pool::claim(ctx, sandbox, pool_choice.name(), class_spec, &network_label).await? {
                    pool::Claim::Claimed(pod, claim) => {
                        ctx.pod_refusals.reset(&key);
                        // Claimed only when it is what the Sandbox gets now.
                        let hash = pod.annotations().get(POD_SPEC_HASH).cloned();
                        return finish(ctx, sandbox, Some(&pod), hash, now, network, Some(claim)).await;
                    }
                    pool::Claim::Missed(mut miss) => {
                        match pool_choice {
                            pool::PoolChoice::Named(_) => {
                                publish(ctx, sandbox, EventType::Normal, "WarmStartMissed", &miss.message).await;
                            }
                            // Routine (most namespaces have no such pool, most
                            // Sandboxes ask for something else): the status
                            // alone says it.
                            pool::PoolChoice::ClassDefault(_) => {
                                let class = class_name.as_deref().unwrap_or_default();
                                miss.message = format!("class {class}'s defaultPool: {}", miss.message);
                            }
                        }
                        warm_start = Some(miss);
                    }
                }
            }
            // A persistent DinD store is the Sandbox's, made before its first
            // Pod and kept between Pods.
            if let Some(claim) = render::render_dind_claim(sandbox, class_spec)? {
                let claims: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), &namespace);
                if let Some(refusal) = ensure_claim(&claims, &claim, sandbox).await? {
                    return pod_refused(ctx, sandbox, &key, &refusal, now).await;
                }
            }
            // A create, never an apply: an apply over a Pod the cache has not
            // seen would change a running Pod's images (they are mutable) and
            // restart its containers. The API server's answer is the Pod as it
            // now exists: the status can describe it right away, and the watch
            // event it causes finds nothing left to write.
            let params = PostParams { field_manager: Some(FIELD_MANAGER.into()), ..PostParams::default() };
            match pods.create(&params, &desired).await {
                Ok(pod) => created = Some(pod),
                Err(kube::Error::Api(answer)) if answer.reason == "AlreadyExists" => {
                    return pod_name_taken(ctx, sandbox, &pods, &pod_name, &key, now).await;
                }
                Err(kube::Error::Api(answer)) if let Some(refusal) = pod_refusal::classify(&answer) => {
                    return pod_refused(ctx, sandbox, &key, &refusal, now).await;
                }
                Err(error) => return Err(error.into()),
            }
            ctx.pod_refusals.reset(&key);
            ctx.own_writes.created_pod(sandbox, &pod_name);
            created.as_ref()
        }
    };

    let desired_hash = desired.annotations().get(POD_SPEC_HASH).cloned();
    finish(ctx, sandbox, observed, desired_hash, now, network, warm_start).await
}

/// Writes the status of a sandbox whose Pod is `observed` and says when to
/// look again. What the running Pod lacks of what the controller renders now
/// (`desired_hash`; for a warm Pod, rendered as its pool's identity) applies
/// to the next Pod, never by replacing this one.
#[allow(clippy::too_many_arguments)]
async fn finish(
    ctx: &Context,
    sandbox: &Sandbox,
    observed: Option<&Pod>,
    desired_hash: Option<String>,
    now: Timestamp,
    network: NetworkStatus,
    warm_start: Option<WarmStart>,
) -> Result<Action> {
    let update_pending = observed.is_some_and(|pod| pod.annotations().get(POD_SPEC_HASH) != desired_hash.as_ref());
    let unbound = match observed {
        Some(pod) if needs_bind(sandbox, pod) => bind(ctx, sandbox, pod).await.err(),
        _ => None,
    };
    let drift = Drift { update_pending, refusal: None, unbound: unbound.as_deref() };
    // A claim whose outcome the status does not show yet (the controller
    // stopped between the claim and the status write): the Pod tells.
    let shown_claimed = sandbox.status.as_ref().and_then(|s| s.warm_start.as_ref()).is_some_and(|w| w.claimed);
    let warm_start = warm_start.or_else(|| {
        let pod = observed.filter(|pod| warm_identity(pod).is_some() && !shown_claimed)?;
        Some(pool::claimed_from(pod.labels().get(labels::POOL)?, &pod.name_any()))
    });
    let learned = Learned { network: Some(network), warm_start };
    let next = write_status(ctx, sandbox, &Observation::Running(observed, drift), now, learned).await?;
    let until_expiry = sandbox
        .spec
        .shutdown_time
        .as_ref()
        .and_then(|t| Duration::try_from(t.0.duration_since(now)).ok())
        .map(|d| d + Duration::from_secs(1));
    let requeue = [next, until_expiry, Some(RESYNC)].into_iter().flatten().min().unwrap_or(RESYNC);
    Ok(Action::requeue(requeue))
}

/// Whether `pod`, a warm Pod `sandbox` claimed, is a brokered host-socket one
/// whose socket the status does not show bound to the Sandbox yet: until it
/// is, the socket answers only ping, version and info.
fn needs_bind(sandbox: &Sandbox, pod: &Pod) -> bool {
    let spec = &sandbox.spec;
    let brokered = spec.docker.mode == DockerMode::HostSocket
        && spec.host_socket_access() == dockyard_api::v1alpha1::HostSocketAccess::Brokered;
    let status = sandbox.status.as_ref();
    let shown_bound = status.is_some_and(|s| {
        s.pod_name.as_deref() == pod.metadata.name.as_deref()
            && s.conditions
                .iter()
                .any(|c| c.type_ == dockyard_api::v1alpha1::condition::DOCKER_READY && c.status == "True")
    });
    brokered && warm_identity(pod).is_some() && !shown_bound
}

/// Asks the node agent to make the claimed warm `pod`'s socket the
/// sandbox's; why not, in words for the Sandbox's conditions.
async fn bind(ctx: &Context, sandbox: &Sandbox, pod: &Pod) -> std::result::Result<(), String> {
    let node = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).unwrap_or_default();
    let target = SandboxRef {
        namespace: sandbox.namespace().unwrap_or_default(),
        name: sandbox.name_any(),
        uid: sandbox.uid().unwrap_or_default(),
    };
    let pod_ref = (pod.metadata.name.as_deref().unwrap_or_default(), pod.metadata.uid.as_deref().unwrap_or_default());
    agent::bind_pod(&ctx.client, &ctx.settings.agent, node, target, pod_ref).await.map_err(|e| {
        warn!(sandbox = %sandbox.name_any(), pod = %pod_ref.0, error = %e, "cannot bind the claimed warm Pod's socket");
        format!("the claimed warm Pod {}'s Docker socket is not yet this Sandbox's: {e}", pod_ref.0)
    })
}

/// A Pod of the sandbox's Pod's name exists that is not in the cache as its
/// own: ours, just made (the watch is behind: look again soon), one going away
/// (an earlier Sandbox's), or someone else's (refused like any other Pod the
/// API server will not create; never taken over).
async fn pod_name_taken(
    ctx: &Context,
    sandbox: &Sandbox,
    pods: &Api<Pod>,
    pod_name: &str,
    key: &str,
    now: Timestamp,
) -> Result<Action> {
    match pods.get_opt(pod_name).await? {
        Some(pod) if pod.metadata.deletion_timestamp.is_none() && !owned_by(&pod, sandbox) => {
            let message = format!("a Pod named {pod_name} exists that this Sandbox does not own; delete or rename it");
            let refusal = PodRefusal { reason: "PodNameTaken", message };
            pod_refused(ctx, sandbox, key, &refusal, now).await
        }
        _ => Ok(Action::requeue(CACHE_CATCH_UP)),
    }
}

fn owned_by<K: ResourceExt>(object: &K, sandbox: &Sandbox) -> bool {
    labels::controlling_sandbox(object.owner_references()).is_some_and(|o| Some(&o.uid) == sandbox.uid().as_ref())
}

/// Creates `claim` unless the Sandbox's own exists. A claim of that name that
/// is not the Sandbox's (a user's, or one of an earlier Sandbox of the same
/// name still going) is never taken over; the API server's refusal (a quota)
/// is the Sandbox's to see, like its Pod's.
async fn ensure_claim(
    claims: &Api<PersistentVolumeClaim>,
    claim: &PersistentVolumeClaim,
    sandbox: &Sandbox,
) -> Result<Option<PodRefusal>> {
    let name = claim.name_any();
    let taken = || PodRefusal {
        reason: "ClaimNameTaken",
        message: format!(
            "a PersistentVolumeClaim named {name} (the Docker store, docker.dind.storage.persistent) exists that this \
             Sandbox does not own, or it is being deleted; delete or rename it"
        ),
    };
    // Looked up first: a create of an existing claim would be counted by a
    // full ResourceQuota (admission runs before the name clash) and refused.
    match claims.get_opt(&name).await? {
        Some(existing) if owned_by(&existing, sandbox) && existing.metadata.deletion_timestamp.is_none() => {
            return Ok(None);
        }
        Some(_) => return Ok(Some(taken())),
        None => {}
    }
    let params = PostParams { field_manager: Some(FIELD_MANAGER.into()), ..PostParams::default() };
    match claims.create(&params, claim).await {
        Ok(_) => Ok(None),
        Err(kube::Error::Api(answer)) if answer.reason == "AlreadyExists" => Ok(Some(taken())),
        Err(kube::Error::Api(answer)) if let Some(refusal) = pod_refusal::classify(&answer) => Ok(Some(refusal)),
        Err(error) => Err(error.into()),
    }
}

/// The API server refused the sandbox's Pod: the Sandbox says so with the
/// API server's words, one event per distinct refusal, and the create is
/// retried with backoff (the cause may go: a quota raised, a namespace label
/// changed, a webhook fixed; a namespace change also looks again at once).
async fn pod_refused(
    ctx: &Context,
    sandbox: &Sandbox,
    key: &str,
    refusal: &PodRefusal,
    now: Timestamp,
) -> Result<Action> {
    let delay = ctx.pod_refusals.failed(key);
    if !shows_false(sandbox, "Ready", refusal.reason, Some(&refusal.message)) {
        publish(ctx, sandbox, EventType::Warning, refusal.reason, &refusal.message).await;
    }
    info!(sandbox = %key, reason = refusal.reason, retry_in = ?delay, "the API server refused the Pod");
    write_status(ctx, sandbox, &Observation::PodRefused(refusal), now, Learned::default()).await?;
    Ok(Action::requeue(delay))
}

async fn cleanup(sandbox: &Sandbox, ctx: &Context) -> Result<Action> {
    let key = sandbox_key(sandbox);
    ctx.metrics.set_phase(key, None);
    let pod_name = labels::pod_name(&sandbox.name_any());
    let cached_pod = ctx.pods.get(&ObjectRef::new(&pod_name).within(&sandbox.namespace().unwrap_or_default()));
    let cached_node = cached_pod.as_ref().and_then(|p| p.spec.as_ref()?.node_name.clone());
    clean_nodes(ctx, sandbox, nodes_to_clean(sandbox, cached_node)).await?;
    Ok(Action::await_change())
}

/// Asks the agent of each of `nodes` to remove what `sandbox` left on its
/// daemon; fine when each did or the node no longer exists, else an error
/// naming the nodes left (retried with backoff).
async fn clean_nodes(ctx: &Context, sandbox: &Sandbox, nodes: Vec<String>) -> Result<()> {
    let target = SandboxRef {
        namespace: sandbox.namespace().unwrap_or_default(),
        name: sandbox.name_any(),
        uid: sandbox.uid().unwrap_or_default(),
    };
    let nodes_api: Api<Node> = Api::all(ctx.client.clone());
    let mut pending = Vec::new();
    for node in nodes {
        match agent::cleanup_sandbox(&ctx.client, &ctx.settings.agent, &node, target.clone()).await {
            Ok(()) => {
                let note = format!("removed its Docker objects on {node}");
                publish(ctx, sandbox, EventType::Normal, "NodeCleanedUp", &note).await;
            }
            // A node that no longer exists has nothing left to clean.
            Err(_) if matches!(nodes_api.get_opt(&node).await, Ok(None)) => {
                let note = format!("node {node} no longer exists: nothing of the sandbox is left there");
                publish(ctx, sandbox, EventType::Normal, "NodeGone", &note).await;
            }
            Err(error) => pending.push(format!("{node}: {error}")),
        }
    }
    if pending.is_empty() {
        return Ok(());
    }
    let message = format!(
        "{}; its Docker objects stay until each node's agent has removed them (retrying with backoff)",
        pending.join("; ")
    );
    publish(ctx, sandbox, EventType::Warning, "CleanupPending", &message).await;
    Err(Error::CleanupPending(message))
}

/// Every node whose agent must clean up after `sandbox`: those its status
/// recorded, the one it names now, and the one its cached Pod is bound to
/// (a Pod may run before the status says so).
pub fn nodes_to_clean(sandbox: &Sandbox, cached_pod_node: Option<String>) -> Vec<String> {
    if sandbox.spec.docker.mode != DockerMode::HostSocket {
        return Vec::new();
    }
    let status = sandbox.status.as_ref();
    let mut nodes: Vec<String> = status.map(|s| s.nodes.clone()).unwrap_or_default();
    for node in status.and_then(|s| s.node_name.clone()).into_iter().chain(cached_pod_node) {
        if !nodes.contains(&node) {
            nodes.push(node);
        }
    }
    nodes
}

fn apply_params() -> PatchParams {
    PatchParams::apply(FIELD_MANAGER).force()
}

/// How long a Pod that ran this long before it failed counts as a fresh start
/// for the failure backoff (its cap: a workload that fails every few minutes
/// is retried every few minutes, not every 10 s).
const POD_FAILURE_FORGOTTEN_AFTER: Duration = Duration::from_secs(300);

/// A Pod made by a Dockyard before the Pod carried its Sandbox's spec hash
/// (an upgrade): it is taken as made from the Sandbox as it is now, and marked
/// so, instead of being replaced.
async fn adopt(pods: &Api<Pod>, pod: &Pod, asked: Option<&String>) -> Result<()> {
    let Some(asked) = asked else { return Ok(()) };
    info!(pod = %pod.name_any(), "a Pod of an earlier Dockyard: adopted as made from its Sandbox as it is now");
    let patch = json!({"metadata": {"annotations": {SANDBOX_SPEC_HASH: asked}}});
    pods.patch(&pod.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
    Ok(())
}

/// How long our own policy write counts as current while the watch has not
/// shown it yet.
const POLICY_CATCH_UP: Duration = Duration::from_secs(30);

/// Applies the NetworkPolicy of `class`'s sandboxes in `namespace` unless the
/// cache (or our own write of moments ago) shows it as rendered now. The
/// API server's refusal is the Sandbox's to see.
pub(crate) async fn ensure_network_policy(
    ctx: &Context,
    namespace: &str,
    class: Option<&str>,
    class_network: &ClassNetwork,
) -> Result<std::result::Result<NetworkStatus, PodRefusal>> {
    let desired = network::render_policy(namespace, class, class_network, &ctx.settings.network);
    let name = desired.name_any();
    let status = network::status(class, class_network);
    let key = format!("{namespace}/{name}");
    let cached = ctx.network_policies.get(&ObjectRef::new(&name).within(namespace));
    let spec = desired.spec.clone().unwrap_or_default();
    {
        let mut applied = ctx.applied_policies.lock().expect("applied policies lock");
        if cached.is_some_and(|p| p.spec == desired.spec) {
            applied.remove(&key);
            return Ok(Ok(status));
        }
        if applied.get(&key).is_some_and(|(written, at)| *written == spec && at.elapsed() < POLICY_CATCH_UP) {
            return Ok(Ok(status));
        }
        // Taken before the write: the class's other sandboxes reconciled
        // meanwhile do not write it too.
        applied.insert(key.clone(), (spec, Instant::now()));
    }
    let api: Api<NetworkPolicy> = Api::namespaced(ctx.client.clone(), namespace);
    let written = api.patch(&name, &apply_params(), &Patch::Apply(&desired)).await;
    if written.is_err() {
        ctx.applied_policies.lock().expect("applied policies lock").remove(&key);
    }
    match written {
        Ok(_) => {
            info!(%namespace, policy = %name, "applied the class's NetworkPolicy");
            Ok(Ok(status))
        }
        Err(kube::Error::Api(answer)) if pod_refusal::classify(&answer).is_some() => Ok(Err(PodRefusal {
            reason: "NetworkPolicyRefused",
            message: format!("the API server refused the sandbox's NetworkPolicy {name}: {}", answer.message),
        })),
        Err(error) => Err(error.into()),
    }
}

/// Sets a running Pod's network class label (a merge patch of one label).
async fn relabel_network(pods: &Api<Pod>, pod: &Pod, label: &str) -> Result<()> {
    info!(pod = %pod.name_any(), network = label, "labelling a running Pod with its network class");
    let patch = json!({"metadata": {"labels": {labels::NETWORK_CLASS: label}}});
    pods.patch(&pod.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
    Ok(())
}

/// Neither on its way out nor failed.
fn alive(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none() && !pod_failed(pod)
}

fn pod_failed(pod: &Pod) -> bool {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Failed")
}

async fn delete_pod(pods: &Api<Pod>, pod: Option<&Pod>) -> Result<()> {
    let Some(pod) = pod else { return Ok(()) };
    if pod.metadata.deletion_timestamp.is_some() {
        return Ok(());
    }
    // Delete exactly the Pod we saw, never a newer one of the same name.
    let params = DeleteParams {
        preconditions: Some(Preconditions { uid: pod.uid(), resource_version: None }),
        ..DeleteParams::default()
    };
    match pods.delete(&pod.name_any(), &params).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.is_not_found() || e.code == 409 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Whether condition `type_` already says False with `reason` (and, when
/// given, `message`): an event goes out only when it does not.
fn shows_false(sandbox: &Sandbox, type_: &str, reason: &str, message: Option<&str>) -> bool {
    let conditions = sandbox.status.as_ref().map(|s| s.conditions.as_slice()).unwrap_or_default();
    conditions.iter().any(|c| {
        c.type_ == type_ && c.status == "False" && c.reason == reason && message.is_none_or(|m| c.message == m)
    })
}

/// What a reconciliation learned of a sandbox beyond its Pod: its network
/// and how its Pod was got from a pool; each, when `None`, stays as the
/// status last said.
#[derive(Default)]
struct Learned {
    network: Option<NetworkStatus>,
    warm_start: Option<WarmStart>,
}

/// A warm Pod's identity (its pool's name, its hostname), which its
/// Sandbox's Pod is rendered as; `None` for a Pod made for its Sandbox.
fn warm_identity(pod: &Pod) -> Option<&str> {
    pod.labels().get(labels::POOL)?;
    pod.spec.as_ref()?.hostname.as_deref()
}

/// Writes the status `observation` gives, when it changed, with what was
/// `learned`.
async fn write_status(
    ctx: &Context,
    sandbox: &Sandbox,
    observation: &Observation<'_>,
    now: Timestamp,
    learned: Learned,
) -> Result<Option<Duration>> {
    let (mut status, recheck) = status::sandbox_status(sandbox, observation, now);
    if let Some(network) = learned.network {
        status.network = Some(network);
    }
    // A missed warm start is learned once, at the cold start: never held back.
    let learned_once = learned.warm_start.is_some();
    if let Some(warm_start) = learned.warm_start {
        status.warm_start = Some(warm_start);
    }
    let key = sandbox_key(sandbox);
    ctx.metrics.set_phase(key, status.phase);
    // A new sandbox's first progress waits a moment: its Pod is usually Ready
    // by then, and one write says so (the watch of its Pod comes back here).
    let pod_made = match observation {
        Observation::Running(Some(pod), _) => pod.metadata.creation_timestamp.as_ref(),
        _ => None,
    };
    if let Some(made) = pod_made.filter(|_| !learned_once) {
        let age = Duration::try_from(now.duration_since(made.0)).unwrap_or_default();
        if let Some(wait) =
            status::hold_first_progress(sandbox.status.as_ref(), &status, age, ctx.settings.first_progress_after)
        {
            return Ok(Some(recheck.map_or(wait, |r| r.min(wait))));
        }
    }
    if status::status_changed(sandbox.status.as_ref(), &status) {
        let api: Api<Sandbox> = Api::namespaced(ctx.client.clone(), &sandbox.namespace().unwrap_or_default());
        status::apply_status(&api, &sandbox.name_any(), &status).await?;
        ctx.own_writes.wrote_status(sandbox);
        // After the status: a user waiting for Ready does not wait for the event.
        if became_ready(sandbox.status.as_ref(), &status) {
            // Once per Pod: kept by no recorder's cache (thousands of sandboxes
            // would keep thousands of events in memory for nothing).
            let recorder = Recorder::new(ctx.client.clone(), ctx.reporter.clone());
            if let Err(error) = recorder.publish(&ready_event(), &sandbox.object_ref(&())).await {
                warn!(%error, reason = "Ready", "cannot publish event");
            }
        }
    }
    Ok(recheck)
}

fn became_ready(old: Option<&SandboxStatus>, new: &SandboxStatus) -> bool {
    let ready = |s: &SandboxStatus| s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True");
    ready(new) && !old.is_some_and(ready)
}

async fn publish(ctx: &Context, sandbox: &Sandbox, type_: EventType, reason: &str, note: &str) {
    publish_about(ctx, &sandbox.object_ref(&()), type_, reason, note).await;
}

/// Publishes one event about `object` (a note longer than the API allows is cut).
pub(crate) async fn publish_about(
    ctx: &Context,
    object: &k8s_openapi::api::core::v1::ObjectReference,
    type_: EventType,
    reason: &str,
    note: &str,
) {
    let event = Event {
        type_,
        reason: reason.into(),
        note: Some(note.chars().take(1000).collect()),
        action: "Reconcile".into(),
        secondary: None,
    };
    if let Err(error) = ctx.recorder.publish(&event, object).await {
        warn!(%error, reason, "cannot publish event");
    }
}
