//! SandboxPools: warm Pods kept started ahead of demand, and the claim that
//! makes one a Sandbox's.
//!
//! The pool's reconciliation keeps `spec.size` warm Pods (owned by the pool)
//! that are what a Sandbox of its template would get now: failed or outdated
//! ones (the class or Dockyard changed) are replaced, extras removed. A
//! Sandbox that names the pool takes one in a single write of the Pod
//! (owner, labels, spec hash) made on the resourceVersion it saw: of two
//! Sandboxes racing for one Pod, the API server lets exactly one write win;
//! the loser tries the next Pod. The pool sees the Pod go (the Pod watch
//! triggers it) and starts another. A claimed Pod is never returned.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dockyard_api::labels::{self, FIELD_MANAGER, POD_SPEC_HASH, SANDBOX_SPEC_HASH};
use dockyard_api::policy::{self, ClassChoice};
use dockyard_api::pool as warm;
use dockyard_api::render::sandbox_spec_hash;
use dockyard_api::v1alpha1::{SandboxPool, SandboxPoolStatus, WarmStart};
use dockyard_api::{Sandbox, SandboxClassSpec, network};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Resource, ResourceExt};
use serde_json::json;
use tracing::{info, warn};

use crate::context::Context;
use crate::error::Result;
use crate::pod_refusal::{self, PodRefusal};
use crate::reconcile::{ensure_network_policy, publish_about};
use crate::status::{Conditions, container_problem, pod_condition};

/// Looks again at least this often.
const RESYNC: Duration = Duration::from_secs(300);

/// How long a Pod the pool created counts as starting before the cache shows
/// it, and how long a claimed Pod is not offered again before the cache shows
/// the claim.
const CACHE_CATCH_UP: Duration = Duration::from_secs(30);

/// Least time between two writes of a pool's counts alone.
const STATUS_INTERVAL: Duration = Duration::from_secs(1);

/// Warm Pods created at once.
const CREATE_CONCURRENCY: usize = 16;

/// `namespace/name` of a pool.
fn pool_key(pool: &SandboxPool) -> String {
    format!("{}/{}", pool.namespace().unwrap_or_default(), pool.name_any())
}

/// Whether `pod` is a warm Pod of `pool` (its controller, by UID: the chart's
/// admission policy lets only the controller make such a Pod).
fn warm_of(pod: &Pod, pool_uid: &str) -> bool {
    pod.owner_references().iter().any(|o| {
        o.controller == Some(true)
            && o.kind == SandboxPool::kind(&())
            && o.api_version == SandboxPool::api_version(&())
            && o.uid == pool_uid
    })
}

fn ready(pod: &Pod) -> bool {
    pod_condition(pod, "Ready") == Some(true)
}

fn alive(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none()
        && !matches!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Failed" | "Succeeded"))
}

/// The Sandbox a pool's template describes, in the pool's namespace: what its
/// class admits (or not) and what its Pods render from.
fn template_sandbox(pool: &SandboxPool) -> Sandbox {
    let mut sandbox = Sandbox::new(&pool.name_any(), pool.spec.template.clone());
    sandbox.metadata.namespace = pool.namespace();
    sandbox.metadata.uid = pool.uid();
    sandbox
}

/// The class a pool's template is admitted under now, or why not.
fn admit_template<'a>(
    ctx: &Context,
    pool: &SandboxPool,
    classes: &'a [Arc<dockyard_api::SandboxClass>],
) -> std::result::Result<ClassChoice<'a>, String> {
    let sandbox = template_sandbox(pool);
    let namespace = pool.namespace().unwrap_or_default();
    let namespace_labels: BTreeMap<String, String> =
        ctx.namespaces.get(&ObjectRef::new(&namespace)).and_then(|ns| ns.metadata.labels.clone()).unwrap_or_default();
    let choice = policy::choose_class(&sandbox, classes)
        .and_then(|choice| policy::admit(&sandbox, choice, &namespace_labels).map(|_| choice))
        .map_err(|refusal| format!("the template is refused: {}", refusal.message))?;
    if let Some(problem) = warm::template_problem(&pool.spec.template, choice.spec()) {
        return Err(problem);
    }
    Ok(choice)
}

/// The POD_SPEC_HASH a current warm Pod of `pool` carries.
fn current_hash(ctx: &Context, pool: &SandboxPool, class: Option<&SandboxClassSpec>) -> Result<String> {
    let namespace = pool.namespace().unwrap_or_default();
    let pod = warm::render_pod_as(&pool.spec.template, &namespace, &pool.name_any(), class, &ctx.settings.render)?;
    Ok(pod.annotations().get(POD_SPEC_HASH).cloned().unwrap_or_default())
}

pub async fn reconcile(pool: Arc<SandboxPool>, ctx: Arc<Context>) -> Result<Action> {
    forget_deleted_pools(&ctx);
    let namespace = pool.namespace().unwrap_or_default();
    if pool.metadata.deletion_timestamp.is_some() || ctx.namespace_terminating(&namespace) {
        // Its warm Pods go with it (their owner); claimed Pods are their
        // Sandboxes'. No refill in a namespace being deleted.
        return Ok(Action::await_change());
    }
    let name = pool.name_any();
    let key = pool_key(&pool);
    let pool_uid = pool.uid().unwrap_or_default();
    let now = Timestamp::now();
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
    let of_pool = ctx.pods.state_filter(|p| {
        p.metadata.namespace.as_deref() == Some(namespace.as_str()) && p.labels().get(labels::POOL) == Some(&name)
    });
    let claimed = of_pool.iter().filter(|p| labels::controlling_sandbox(p.owner_references()).is_some()).count();
    let warm_pods: Vec<&Arc<Pod>> = of_pool.iter().filter(|p| warm_of(p, &pool_uid)).collect();

    let classes = ctx.classes.state();
    let class = match admit_template(&ctx, &pool, &classes) {
        Ok(class) => class,
        Err(message) => {
            // Nothing starts; warm Pods of a template no longer admitted go
            // (a claim would refuse them anyway).
            for pod in warm_pods.iter().filter(|p| alive(p)) {
                delete_warm(&pods, pod).await?;
            }
            write_pool_status(
                &ctx,
                &pool,
                Counts { claimed, ..Counts::default() },
                Some(("TemplateRefused", &message)),
                now,
            )
            .await?;
            // A pool or class change looks again at once; a namespace's labels
            // (class selectors, Pod Security) at the next resync.
            return Ok(Action::requeue(RESYNC));
        }
    };
    let (class_name, class_spec) = match &class {
        ClassChoice::Class(c) => (Some(c.name_any()), Some(&c.spec)),
        ClassChoice::BuiltIn => (None, None),
    };
    let class_network = class_spec.map(|c| c.network.clone()).unwrap_or_default();
    if let Err(refusal) = ensure_network_policy(&ctx, &namespace, class_name.as_deref(), &class_network).await? {
        write_pool_status(
            &ctx,
            &pool,
            Counts { claimed, ..Counts::default() },
            Some((refusal.reason, &refusal.message)),
            now,
        )
        .await?;
        return Ok(Action::requeue(ctx.pod_refusals.failed(&format!("pool:{key}"))));
    }
    let network_label = network::class_label(class_name.as_deref());
    let hash = current_hash(&ctx, &pool, class_spec)?;

    // Failed, outdated or relabelled warm Pods go; the rest count.
    let mut current: Vec<&Arc<Pod>> = Vec::new();
    for pod in warm_pods {
        if !alive(pod) {
            if pod.metadata.deletion_timestamp.is_none() {
                delete_warm(&pods, pod).await?;
            }
        } else if pod.annotations().get(POD_SPEC_HASH) != Some(&hash)
            || pod.labels().get(labels::NETWORK_CLASS) != Some(&network_label)
        {
            info!(pool = %key, pod = %pod.name_any(), "a warm Pod is outdated (its class or Dockyard changed): replacing it");
            delete_warm(&pods, pod).await?;
        } else {
            current.push(pod);
        }
    }
    // Pods created moments ago that the cache does not show yet.
    let expected = {
        let mut starts = ctx.pool_starts.lock().expect("pool starts lock");
        let list = starts.entry(key.clone()).or_default();
        list.retain(|(pod, at)| at.elapsed() < CACHE_CATCH_UP && !current.iter().any(|p| &p.name_any() == pod));
        list.len()
    };
    let size = usize::try_from(pool.spec.size).unwrap_or_default();
    let ready_count = current.iter().filter(|p| ready(p)).count();
    let mut refusal: Option<PodRefusal> = None;
    let mut created = 0;
    let missing = size.saturating_sub(current.len() + expected);
    let refill = if missing > 0 {
        let since_claim = ctx.pool_claimed_at.lock().expect("pool claims lock").get(&key).map(Instant::elapsed);
        refill_wait(refill_delay(&pool), since_claim, ready_count, size)
    } else {
        None
    };
    let deferred = if refill.is_some() { missing } else { 0 };
    if refill.is_some() {
        info!(pool = %key, deferred, "claims are coming: the refill waits for them to pause");
    } else if missing > 0 {
        let mut desired = warm::render_warm_pod(&pool, class_spec, &ctx.settings.render)?;
        desired.labels_mut().insert(labels::NETWORK_CLASS.into(), network_label.clone());
        let params = PostParams { field_manager: Some(FIELD_MANAGER.into()), ..PostParams::default() };
        let mut results = futures::stream::iter(0..missing)
            .map(|_| pods.create(&params, &desired))
            .buffer_unordered(CREATE_CONCURRENCY);
        let mut failure = None;
        while let Some(result) = results.next().await {
            match result {
                Ok(pod) => {
                    created += 1;
                    let mut starts = ctx.pool_starts.lock().expect("pool starts lock");
                    starts.entry(key.clone()).or_default().push((pod.name_any(), Instant::now()));
                }
                Err(kube::Error::Api(answer)) if let Some(refused) = pod_refusal::classify(&answer) => {
                    refusal = Some(refused);
                }
                Err(error) => failure = Some(error),
            }
        }
        if let Some(error) = failure {
            return Err(error.into());
        }
        info!(pool = %key, created, "started warm Pods");
    } else if current.len() > size {
        // Extras go, those still starting first.
        current.sort_by_key(|p| ready(p));
        let extra = current.len() - size;
        for pod in current.drain(..extra) {
            delete_warm(&pods, pod).await?;
        }
    }

    let starting = current.len() - ready_count + expected + created;
    let refused = refusal.as_ref().map(|r| {
        let message = format!(
            "{} of {size} warm Pods exist; the API server refused the rest: {}",
            current.len() + expected + created,
            r.message
        );
        (r.reason.to_string(), message)
    });
    // A warm Pod that cannot start (an image the kubelet cannot pull, a
    // preload the daemon cannot pull, a crash loop) says why on the pool.
    let stuck = || {
        current.iter().find_map(|pod| {
            let (reason, message) = container_problem(pod)?;
            Some((reason, format!("warm Pod {}: {message}", pod.name_any())))
        })
    };
    let problem = refused.or_else(stuck);
    let problem_ref = problem.as_ref().map(|(reason, message)| (reason.as_str(), message.as_str()));
    let counts = Counts { ready: ready_count, starting, deferred, claimed };
    let written = write_pool_status(&ctx, &pool, counts, problem_ref, now).await?;
    Ok(match refusal {
        Some(_) => Action::requeue(ctx.pod_refusals.failed(&format!("pool:{key}"))),
        None => {
            ctx.pod_refusals.reset(&format!("pool:{key}"));
            let status = if written == Written::Deferred { STATUS_INTERVAL } else { RESYNC };
            Action::requeue(refill.map_or(status, |wait| wait.min(status)))
        }
    })
}

/// Drops what the controller keeps per pool (starts, last claim, last status
/// write) for pools no longer in the cache: no entry outlives its pool.
fn forget_deleted_pools(ctx: &Context) {
    let pools: HashSet<String> = ctx.pools.state().iter().map(|p| pool_key(p)).collect();
    ctx.pool_starts.lock().expect("pool starts lock").retain(|key, _| pools.contains(key));
    ctx.pool_claimed_at.lock().expect("pool claims lock").retain(|key, _| pools.contains(key));
    ctx.pool_status_written.lock().expect("pool status lock").retain(|key, _| pools.contains(key));
}

/// A pool's `spec.refillDelaySeconds`.
fn refill_delay(pool: &SandboxPool) -> Duration {
    Duration::from_secs(pool.spec.refill_delay_seconds.and_then(|s| u64::try_from(s).ok()).unwrap_or_default())
}

/// How much longer a pool that lacks warm Pods waits before it starts them,
/// if at all: `delay` after its last claim (`since_claim` ago; none seen by
/// this controller: no wait), unless only a quarter of its `size` or fewer
/// are `ready`.
fn refill_wait(delay: Duration, since_claim: Option<Duration>, ready: usize, size: usize) -> Option<Duration> {
    let since_claim = since_claim?;
    if ready * 4 <= size {
        return None;
    }
    delay.checked_sub(since_claim).filter(|wait| !wait.is_zero())
}

pub fn error_policy(pool: Arc<SandboxPool>, error: &crate::error::Error, _ctx: Arc<Context>) -> Action {
    warn!(pool = %pool_key(&pool), %error, "pool reconcile failed");
    Action::requeue(Duration::from_secs(5))
}

/// Deletes exactly the warm Pod seen: a claim since (a new resourceVersion)
/// makes the delete fail, and the Pod stays its Sandbox's.
async fn delete_warm(pods: &Api<Pod>, pod: &Pod) -> Result<()> {
    let params = DeleteParams {
        preconditions: Some(Preconditions { uid: pod.uid(), resource_version: pod.resource_version() }),
        ..DeleteParams::default()
    };
    match pods.delete(&pod.name_any(), &params).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.is_not_found() || e.code == 409 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Whether the pool's Ready condition already gives `reason`.
fn shows(pool: &SandboxPool, reason: &str) -> bool {
    let conditions = pool.status.as_ref().map(|s| s.conditions.as_slice()).unwrap_or_default();
    conditions.iter().any(|c| c.type_ == "Ready" && c.reason == reason)
}

/// A pool's warm Pods by state, and the Pods it serves.
#[derive(Clone, Copy, Default)]
struct Counts {
    ready: usize,
    starting: usize,
    /// Missing warm Pods whose start waits for claims to pause.
    deferred: usize,
    claimed: usize,
}

async fn write_pool_status(
    ctx: &Context,
    pool: &SandboxPool,
    counts: Counts,
    problem: Option<(&str, &str)>,
    now: Timestamp,
) -> Result<Written> {
    let Counts { ready: ready_count, starting, deferred, claimed } = counts;
    let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    let previous = pool.status.as_ref().map(|s| s.conditions.as_slice()).unwrap_or_default();
    let mut conditions = Conditions::new(previous, pool.metadata.generation, now);
    let size = pool.spec.size;
    match problem {
        Some((reason, message)) => {
            // One event per refusal: when the condition does not give it yet.
            if !shows(pool, reason) {
                publish(ctx, pool, EventType::Warning, reason, message).await;
            }
            conditions.set("Ready", Some(false), reason, message);
        }
        None if count(ready_count) >= size => {
            conditions.set("Ready", Some(true), "Full", format!("{ready_count} warm Pods ready to be claimed"))
        }
        None => {
            let mut message = format!("{ready_count} of {size} warm Pods ready, {starting} starting");
            if deferred > 0 {
                let delay = refill_delay(pool).as_secs();
                message.push_str(&format!(", {deferred} to start once claims pause for {delay} s"));
            }
            conditions.set("Ready", Some(false), "Starting", message)
        }
    }
    let status = SandboxPoolStatus {
        ready: count(ready_count),
        starting: count(starting),
        claimed: count(claimed),
        conditions: conditions.out,
        observed_generation: pool.metadata.generation,
    };
    if pool.status.as_ref() == Some(&status) {
        return Ok(Written::Current);
    }
    // While claims flow the counts change with every claim and refill: they
    // are written at most once a second unless the condition's reason changes
    // (the next reconcile, at most a second later, writes them).
    let reason_changed = pool.status.as_ref().is_none_or(|old| {
        let reason = |s: &SandboxPoolStatus| s.conditions.first().map(|c| c.reason.clone());
        reason(old) != reason(&status)
    });
    {
        let mut written = ctx.pool_status_written.lock().expect("pool status lock");
        let key = pool_key(pool);
        if !reason_changed && written.get(&key).is_some_and(|at| at.elapsed() < STATUS_INTERVAL) {
            return Ok(Written::Deferred);
        }
        written.insert(key, Instant::now());
    }
    let api: Api<SandboxPool> = Api::namespaced(ctx.client.clone(), &pool.namespace().unwrap_or_default());
    let patch = json!({"apiVersion": "dockyard.dev/v1alpha1", "kind": "SandboxPool", "status": status});
    api.patch_status(&pool.name_any(), &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch)).await?;
    Ok(Written::Current)
}

/// Whether a pool's status is as observed, or its write is deferred.
#[derive(PartialEq)]
enum Written {
    Current,
    Deferred,
}

async fn publish(ctx: &Context, pool: &SandboxPool, type_: EventType, reason: &str, note: &str) {
    publish_about(ctx, &pool.object_ref(&()), type_, reason, note).await;
}

/// Where a Sandbox takes a warm Pod from.
#[derive(Clone, Copy)]
pub enum PoolChoice<'a> {
    /// The pool its `spec.poolName` names.
    Named(&'a str),
    /// Its class's `defaultPool`: it named none.
    ClassDefault(&'a str),
}

impl<'a> PoolChoice<'a> {
    pub fn name(self) -> &'a str {
        match self {
            Self::Named(name) | Self::ClassDefault(name) => name,
        }
    }
}

/// The pool a Sandbox of `class` takes a warm Pod from, if any.
pub fn pool_for<'a>(sandbox: &'a Sandbox, class: Option<&'a SandboxClassSpec>) -> Option<PoolChoice<'a>> {
    match (&sandbox.spec.pool_name, class.and_then(|c| c.default_pool.as_deref())) {
        (Some(named), _) => Some(PoolChoice::Named(named)),
        (None, Some(default)) => Some(PoolChoice::ClassDefault(default)),
        (None, None) => None,
    }
}

/// What a Sandbox that takes a warm Pod got.
pub enum Claim {
    /// A warm Pod, now the Sandbox's (as the API server returned it).
    Claimed(Box<Pod>, WarmStart),
    /// None: the sandbox starts cold, and why.
    Missed(WarmStart),
}

/// Makes a ready warm Pod of `pool_name` (in the Sandbox's namespace) the
/// Sandbox's, if the Sandbox asks for exactly the pool's template and the
/// Pod is what the Sandbox would get now under `class`.
pub async fn claim(
    ctx: &Context,
    sandbox: &Sandbox,
    pool_name: &str,
    class: Option<&SandboxClassSpec>,
    network_label: &str,
) -> Result<Claim> {
    let namespace = sandbox.namespace().unwrap_or_default();
    let missed = |reason: &str, message: String| {
        Ok(Claim::Missed(WarmStart { pool: pool_name.into(), claimed: false, reason: reason.into(), message }))
    };
    let Some(pool) = ctx.pools.get(&ObjectRef::new(pool_name).within(&namespace)) else {
        return missed("PoolNotFound", format!("no SandboxPool {pool_name} in namespace {namespace}; started cold"));
    };
    if sandbox_spec_hash(&sandbox.spec) != sandbox_spec_hash(&pool.spec.template) {
        let fields = warm::template_differences(&sandbox.spec, &pool.spec.template).join(", ");
        return missed(
            "TemplateMismatch",
            format!("spec.{{{fields}}} differ from SandboxPool {pool_name}'s template; started cold"),
        );
    }
    let hash = {
        let as_pool = warm::render_pod_as(&sandbox.spec, &namespace, pool_name, class, &ctx.settings.render)?;
        as_pool.annotations().get(POD_SPEC_HASH).cloned()
    };
    let pool_uid = pool.uid().unwrap_or_default();
    let mut candidates = ctx.pods.state_filter(|p| {
        p.metadata.namespace.as_deref() == Some(namespace.as_str())
            && p.labels().get(labels::POOL).map(String::as_str) == Some(pool_name)
            && warm_of(p, &pool_uid)
            && alive(p)
    });
    let starting = candidates.iter().filter(|p| !ready(p)).count();
    candidates.retain(|p| ready(p) && p.annotations().get(POD_SPEC_HASH) == hash.as_ref());
    // The oldest first: the longest-warmed has settled.
    candidates.sort_by(|a, b| a.metadata.creation_timestamp.cmp(&b.metadata.creation_timestamp));
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
    for pod in candidates {
        let Some(uid) = pod.uid() else { continue };
        if !reserve(ctx, &uid) {
            continue;
        }
        let patch = claim_patch(sandbox, &pod, network_label);
        match pods.patch(&pod.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(claimed) => {
                ctx.own_writes.claimed_pod(sandbox, &pod.name_any(), pod.resource_version());
                ctx.pool_claimed_at.lock().expect("pool claims lock").insert(pool_key(&pool), Instant::now());
                info!(sandbox = %sandbox.name_any(), pod = %pod.name_any(), pool = pool_name, "claimed a warm Pod");
                return Ok(Claim::Claimed(Box::new(claimed), claimed_from(pool_name, &pod.name_any())));
            }
            // Claimed by someone else, changed or gone since the cache saw it.
            Err(kube::Error::Api(answer)) if answer.code == 409 || answer.code == 404 => continue,
            Err(error) => return Err(error.into()),
        }
    }
    missed("PoolEmpty", format!("SandboxPool {pool_name} had no ready warm Pod ({starting} starting); started cold"))
}

/// The merge patch that makes warm `pod` the Sandbox's: its owner, its
/// identity and network labels, the spec it serves. On the version seen: of
/// two claims of one Pod, one write wins.
pub fn claim_patch(sandbox: &Sandbox, pod: &Pod, network_label: &str) -> serde_json::Value {
    let mut claimed_labels = warm::claimed_labels(sandbox);
    claimed_labels.insert(labels::NETWORK_CLASS.into(), network_label.into());
    json!({"metadata": {
        "resourceVersion": pod.resource_version(),
        "ownerReferences": [sandbox.controller_owner_ref(&())],
        "labels": claimed_labels,
        "annotations": {SANDBOX_SPEC_HASH: sandbox_spec_hash(&sandbox.spec)},
    }})
}

/// The status of a sandbox whose Pod is warm Pod `pod` of `pool`.
pub fn claimed_from(pool: &str, pod: &str) -> WarmStart {
    let message = format!("took warm Pod {pod} of SandboxPool {pool}");
    WarmStart { pool: pool.into(), claimed: true, reason: "Claimed".into(), message }
}

/// Takes `pod_uid` for one claim: no other reconciliation of this controller
/// offers it until the cache shows what became of it.
fn reserve(ctx: &Context, pod_uid: &str) -> bool {
    let mut claims = ctx.claims.lock().expect("claims lock");
    claims.retain(|_, at| at.elapsed() < CACHE_CATCH_UP);
    if claims.contains_key(pod_uid) {
        return false;
    }
    claims.insert(pod_uid.to_owned(), Instant::now());
    true
}

/// The Pod a pooled Sandbox claimed, found by its owner (the claim may have
/// happened just before the controller stopped, before the status named it).
pub fn claimed_pod(ctx: &Context, sandbox: &Sandbox) -> Option<Arc<Pod>> {
    let namespace = sandbox.namespace().unwrap_or_default();
    let uid = sandbox.uid()?;
    let claimed = |p: &Pod| {
        p.metadata.namespace.as_deref() == Some(namespace.as_str())
            && p.labels().contains_key(labels::POOL)
            && labels::controlling_sandbox(p.owner_references()).is_some_and(|o| o.uid == uid)
    };
    // The Pod the status names, looked up by name; the whole cache only
    // when the status does not name it yet (or names another).
    let named = sandbox.status.as_ref().and_then(|s| s.pod_name.as_ref());
    named
        .and_then(|name| ctx.pods.get(&ObjectRef::new(name).within(&namespace)))
        .filter(|p| claimed(p))
        .or_else(|| ctx.pods.find(|p| claimed(p)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn a_pool_refills_at_once_without_a_delay_or_a_claim() {
        assert_eq!(refill_wait(Duration::ZERO, Some(Duration::ZERO), 9, 10), None);
        assert_eq!(refill_wait(5 * SECOND, None, 9, 10), None, "no claim seen (a failed Pod, a restart)");
    }

    #[test]
    fn a_pool_refills_once_claims_paused_for_its_delay() {
        assert_eq!(refill_wait(5 * SECOND, Some(2 * SECOND), 9, 10), Some(3 * SECOND));
        assert_eq!(refill_wait(5 * SECOND, Some(5 * SECOND), 9, 10), None);
        assert_eq!(refill_wait(5 * SECOND, Some(60 * SECOND), 9, 10), None);
    }

    #[test]
    fn a_pool_down_to_a_quarter_refills_at_once() {
        assert_eq!(refill_wait(5 * SECOND, Some(SECOND), 3, 10), Some(4 * SECOND));
        assert_eq!(refill_wait(5 * SECOND, Some(SECOND), 2, 10), None);
        assert_eq!(refill_wait(5 * SECOND, Some(SECOND), 0, 1), None);
    }
}
