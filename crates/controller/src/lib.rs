//! `dockyard-controller`: reconciles Sandboxes into Pods.
//!
//! [`run`] wires kube's controller runtime: Sandboxes are the primary
//! resource; the Pods Dockyard manages, every SandboxClass and every
//! Namespace are watched into caches; a class change re-queues the Sandboxes
//! that use it. Each reconciliation is [`reconcile::reconcile`]. Beside it, a
//! second controller keeps each SandboxPool's warm Pods ([`pool::reconcile`]),
//! triggered by its Pods' changes through the first one's Pod watch.

pub mod agent;
pub mod backoff;
pub mod context;
pub mod default_class;
pub mod error;
pub mod leader;
pub mod metrics;
pub mod own_writes;
pub mod pod_refusal;
pub mod pool;
pub mod reconcile;
pub mod server;
pub mod status;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use dockyard_api::labels::{self, FIELD_MANAGER};
use dockyard_api::{Sandbox, SandboxClass, SandboxPool};
use futures::{FutureExt, Stream, StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateTerminated, ContainerStatus, Namespace, Pod, PodSpec, PodStatus,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{self, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::store::Writer;
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tracing::{debug, info};

use crate::backoff::Backoff;
use crate::context::{Context, Settings};

/// Label selector of the Pods (and claims) Dockyard manages.
pub const MANAGED_SELECTOR: &str = "app.kubernetes.io/managed-by=dockyard-controller";
/// Label selector of the NetworkPolicies Dockyard keeps for its classes.
pub const NETWORK_POLICY_SELECTOR: &str =
    "app.kubernetes.io/managed-by=dockyard-controller,app.kubernetes.io/component=network";

/// How long a pool's reconciliation waits for more of its Pods' changes.
const POOL_DEBOUNCE: Duration = Duration::from_millis(250);

/// Whether `sandbox` is governed by `class` (names it, or names none while `class` is a default).
fn uses_class(sandbox: &Sandbox, class: &SandboxClass) -> bool {
    match &sandbox.spec.class_name {
        Some(name) => *name == class.name_any(),
        None => class.spec.default,
    }
}

/// A watch of `api` feeding `writer`'s cache, each object slimmed first; yields
/// the objects that changed.
fn cached<K>(
    api: Api<K>,
    config: watcher::Config,
    writer: Writer<K>,
    slim: fn(&mut K),
) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    watcher(api, config).default_backoff().modify(slim).reflect(writer).touched_objects()
}

/// managedFields, and the copy of the whole object `kubectl apply` keeps in
/// an annotation, are large and never read.
fn drop_managed_fields<K: Resource>(object: &mut K) {
    object.managed_fields_mut().clear();
    if let Some(annotations) = object.meta_mut().annotations.as_mut() {
        annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

/// Drops what the controller never reads of a Pod: managedFields, the spec
/// except the node it is bound to and its hostname (a warm Pod's identity), and of the status all but the phase, IP,
/// start time, conditions, reason, message, each container's readiness and, while
/// it does not run, why (its waiting state or how it failed, and how it last ended)
/// (at 5,000 sandboxes whose Pods run, the rest is most of the cache).
fn slim_pod(pod: &mut Pod) {
    drop_managed_fields(pod);
    let (node_name, hostname) = match pod.spec.as_mut() {
        Some(spec) => (spec.node_name.take(), spec.hostname.take()),
        None => (None, None),
    };
    pod.spec = Some(PodSpec { node_name, hostname, ..Default::default() });
    if let Some(status) = pod.status.take() {
        let containers = |statuses: Option<Vec<ContainerStatus>>| {
            statuses.map(|list| {
                list.into_iter()
                    .map(|c| ContainerStatus {
                        name: c.name,
                        ready: c.ready,
                        started: c.started,
                        restart_count: c.restart_count,
                        // Why it does not run, or how it failed, and how it last
                        // ended (status.rs names them).
                        state: c.state.and_then(|s| match (s.waiting, s.terminated) {
                            (Some(waiting), _) => Some(ContainerState { waiting: Some(waiting), ..Default::default() }),
                            (None, Some(failed)) if failed.exit_code != 0 => {
                                Some(ContainerState { terminated: Some(failed), ..Default::default() })
                            }
                            _ => None,
                        }),
                        last_state: c.last_state.filter(|s| s.terminated.is_some()).map(|s| ContainerState {
                            terminated: s.terminated.map(|t| ContainerStateTerminated {
                                exit_code: t.exit_code,
                                reason: t.reason,
                                message: t.message.as_deref().and_then(status::last_words),
                                ..Default::default()
                            }),
                            ..Default::default()
                        }),
                        ..Default::default()
                    })
                    .collect()
            })
        };
        pod.status = Some(PodStatus {
            phase: status.phase,
            pod_ip: status.pod_ip,
            start_time: status.start_time,
            conditions: status.conditions,
            reason: status.reason,
            message: status.message,
            init_container_statuses: containers(status.init_container_statuses),
            container_statuses: containers(status.container_statuses),
            ..Default::default()
        });
    }
}

/// Objects per page of a watch's first list (kube's default is 500): a page
/// of Pods is held whole while it is decoded, and that, not the caches, set
/// the controller's peak memory when it started with thousands of sandboxes.
const LIST_PAGE: u32 = 50;

/// Runs the controller until `shutdown` resolves. `on_ready` is called once the
/// watches are running (for `/readyz`).
pub async fn run(
    client: Client,
    settings: Settings,
    instance: String,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
    on_ready: impl FnOnce(Arc<Context>) + Send,
) {
    let watch = watcher::Config::default().any_semantic().page_size(LIST_PAGE);
    // The caches keep only what reconciliation reads: no managedFields anywhere,
    // and of a Pod its metadata, node and status.
    let (sandboxes, sandboxes_writer) = reflector::store();
    let sandbox_events =
        cached(Api::<Sandbox>::all(client.clone()), watch.clone(), sandboxes_writer, drop_managed_fields);
    let (classes, classes_writer) = reflector::store();
    // A class changed: every pool looks again (its template's admission, its
    // Pods' rendering).
    let class_events =
        cached(Api::<SandboxClass>::all(client.clone()), watch.clone(), classes_writer, drop_managed_fields);
    let (pods, pods_writer) = reflector::store();
    // A pool's Pods (warm, or claimed from it) changed: the pool looks again,
    // after the cache has the change (refills once a claim shows).
    let (pool_triggers, pool_requests) = futures::channel::mpsc::unbounded::<ObjectRef<SandboxPool>>();
    let pod_triggers = pool_triggers.clone();
    let pod_events =
        cached(Api::<Pod>::all(client.clone()), watch.clone().labels(MANAGED_SELECTOR), pods_writer, slim_pod)
            .inspect_ok(move |pod| {
                if let (Some(pool), Some(namespace)) = (pod.labels().get(labels::POOL), pod.namespace()) {
                    let _ = pod_triggers.unbounded_send(ObjectRef::new(pool).within(&namespace));
                }
            });
    let (pools, pools_writer) = reflector::store();
    // Its first full list is told apart: the pool controller's runner waits
    // on this store's readiness, and a kube Store wakes only the last of
    // several waiters (a oneshot underneath), so `filled` must not wait on it too.
    let (pools_listed_tx, pools_listed) = futures::channel::oneshot::channel::<()>();
    let mut pools_listed_tx = Some(pools_listed_tx);
    let pool_events = watcher(Api::<SandboxPool>::all(client.clone()), watch.clone())
        .default_backoff()
        .modify(drop_managed_fields)
        .reflect(pools_writer)
        .inspect_ok(move |event| {
            if matches!(event, watcher::Event::InitDone) {
                let _ = pools_listed_tx.take().map(|tx| tx.send(()));
            }
        })
        .touched_objects();
    // Namespaces: only their labels matter (class namespace selectors).
    let (namespaces, namespaces_writer) = reflector::store();
    let namespace_api = Api::<PartialObjectMeta<Namespace>>::all(client.clone());
    let namespace_events = cached(namespace_api, watch.clone(), namespaces_writer, drop_managed_fields);
    // The classes' NetworkPolicies: read to write each only when it changes.
    let (network_policies, policies_writer) = reflector::store();
    let policy_api = Api::<NetworkPolicy>::all(client.clone());
    // Deletions too: a policy someone removed or changed is restored at once.
    let policy_events = watcher(policy_api, watch.clone().labels(NETWORK_POLICY_SELECTOR))
        .default_backoff()
        .modify(drop_managed_fields)
        .reflect(policies_writer)
        .try_filter_map(|event| {
            futures::future::ready(Ok(match event {
                watcher::Event::Apply(policy) | watcher::Event::Delete(policy) => Some(policy),
                _ => None,
            }))
        });

    let reporter = Reporter { controller: FIELD_MANAGER.into(), instance: Some(instance) };
    let ctx = Arc::new(Context {
        recorder: Recorder::new(client.clone(), reporter.clone()),
        reporter,
        client: client.clone(),
        metrics: metrics::Metrics::default(),
        classes,
        namespaces,
        pods,
        pools: pools.clone(),
        pool_starts: Default::default(),
        pool_claimed_at: Default::default(),
        claims: Default::default(),
        pool_status_written: Default::default(),
        network_policies,
        applied_policies: Default::default(),
        failures: Default::default(),
        pod_refusals: Backoff::new(Duration::from_secs(2), Duration::from_secs(60)),
        pod_failures: Backoff::new(Duration::from_secs(10), Duration::from_secs(300)),
        own_writes: Default::default(),
        settings: settings.clone(),
    });

    // No reconcile before the caches it reads hold their first full list:
    // before that, a running Pod would look missing (and be created over) and
    // an existing class deleted (and its Sandboxes unadmitted), at every
    // controller start. The Sandbox watch, which triggers reconciles, starts
    // after them. (Waiting inside reconcile instead would deadlock: with every
    // reconcile slot waiting, the controller stops polling the watches.)
    let caches_filled = Arc::new(AtomicBool::new(false));
    let filled = {
        let (pods, classes, namespaces) = (ctx.pods.clone(), ctx.classes.clone(), ctx.namespaces.clone());
        let (policies, pools) = (ctx.network_policies.clone(), ctx.pools.clone());
        let pools_listed = pools_listed;
        let (caches_filled, every_pool) = (caches_filled.clone(), pool_triggers.clone());
        async move {
            let _ = futures::join!(
                pods.wait_until_ready(),
                classes.wait_until_ready(),
                namespaces.wait_until_ready(),
                policies.wait_until_ready(),
                pools_listed
            );
            caches_filled.store(true, Ordering::Release);
            for pool in pools.state() {
                let _ = every_pool.unbounded_send(ObjectRef::from_obj(pool.as_ref()));
            }
            info!("caches filled: reconciling");
        }
    };
    let sandbox_events =
        futures::stream::once(filled).filter_map(|()| futures::future::ready(None)).chain(sandbox_events);
    let controller = Controller::for_stream(sandbox_events, sandboxes.clone())
        .with_config(controller::Config::default().concurrency(settings.concurrency));
    let in_class = sandboxes.clone();
    let in_namespace = sandboxes.clone();
    let pools_of_class = pools.clone();
    let controller = controller.owns_stream(pod_events).watches_stream(class_events, move |class: SandboxClass| {
        for pool in pools_of_class.state() {
            let _ = pool_triggers.unbounded_send(ObjectRef::from_obj(pool.as_ref()));
        }
        in_class
            .state()
            .into_iter()
            .filter(|s| uses_class(s, &class))
            .map(|s| ObjectRef::from_obj(s.as_ref()))
            .collect::<Vec<_>>()
    });
    // A namespace's labels decide class selectors and its Pod Security level:
    // a change looks again at its Sandboxes (one refused may now run).
    let controller = controller.watches_stream(namespace_events, move |namespace: PartialObjectMeta<Namespace>| {
        let name = namespace.name_any();
        sandboxes
            .state()
            .into_iter()
            .filter(|s| s.namespace().as_deref() == Some(name.as_str()))
            .map(|s| ObjectRef::from_obj(s.as_ref()))
            .collect::<Vec<_>>()
    });
    // A class's policy changed or went: one Sandbox that uses it writes it again
    // (one is enough; the others find it current).
    let controller = controller.watches_stream(policy_events, move |policy: NetworkPolicy| {
        let (namespace, name) = (policy.namespace(), policy.name_any());
        in_namespace
            .state()
            .into_iter()
            .find(|s| {
                s.namespace() == namespace
                    && s.status.as_ref().and_then(|st| st.network.as_ref()).is_some_and(|n| n.policy == name)
            })
            .map(|s| ObjectRef::from_obj(s.as_ref()))
    });
    // Pools: their own watch and reconciliation, triggered by their Pods'
    // and classes' changes through the Sandbox controller's watches. Their
    // watch runs from the start (the Sandboxes' claims read its cache); they
    // reconcile once every cache is filled (before, a pool's Pods would look
    // missing and be started twice): all of them then (sent by `filled`), and
    // each on its changes.
    let ready = move || caches_filled.load(Ordering::Acquire);
    let (events_ready, requests_ready) = (ready.clone(), ready);
    let pool_events = pool_events.try_filter(move |_| futures::future::ready(events_ready()));
    let pool_requests = pool_requests.filter(move |_| futures::future::ready(requests_ready()));
    let pool_controller = Controller::for_stream(pool_events, pools)
        .reconcile_on(pool_requests)
        // A pool's Pods change often while claims flow (each claim, each
        // refill's start): their reconciles coalesce, refills come in batches.
        .with_config(controller::Config::default().concurrency(4).debounce(POOL_DEBOUNCE));
    on_ready(ctx.clone());
    info!(concurrency = settings.concurrency, "controller running");
    let shutdown = shutdown.shared();
    let log = |result: std::result::Result<_, _>| {
        if let Err(error) = result {
            debug!(%error, "reconcile error");
        }
        futures::future::ready(())
    };
    let sandboxes = controller
        .graceful_shutdown_on(shutdown.clone())
        .run(reconcile::reconcile, reconcile::error_policy, ctx.clone())
        .for_each(log);
    let pools = pool_controller.graceful_shutdown_on(shutdown).run(pool::reconcile, pool::error_policy, ctx).for_each(
        |result| {
            if let Err(error) = result {
                debug!(%error, "pool reconcile error");
            }
            futures::future::ready(())
        },
    );
    futures::join!(sandboxes, pools);
    info!("controller stopped");
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_slimmed_pod_gives_the_same_sandbox_status() {
        use k8s_openapi::jiff::Timestamp;

        use crate::status::{Drift, Observation, sandbox_status};
        // A Pod as the API server and a kubelet (here kwok) report it.
        let container = |name: &str, ready: bool| {
            json!({"name": name, "ready": ready, "started": ready, "restartCount": 2, "image": "img:latest",
                   "imageID": "sha256:0123", "containerID": "containerd://abc",
                   "state": {"running": {"startedAt": "2026-11-24T00:00:01Z"}},
                   "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}},
                   "volumeMounts": [{"name": "ws", "mountPath": "/workspace"}]})
        };
        let pod = |ready: bool| -> Pod {
            serde_json::from_value(json!({
            "metadata": {"name": "sbx-s", "namespace": "n", "uid": "p",
                         "managedFields": [{"manager": "kwok", "operation": "Update"}]},
            "spec": {"nodeName": "node-1", "containers": [{"name": "workload", "image": "img"}]},
            "status": {"phase": "Running", "podIP": "10.0.0.9", "podIPs": [{"ip": "10.0.0.9"}], "hostIP": "10.1.0.1",
                       "qosClass": "BestEffort", "startTime": "2026-11-24T00:00:00Z",
                       "conditions": [{"type": "Ready", "status": "True"}, {"type": "PodScheduled", "status": "True"}],
                       "initContainerStatuses": [container("dind", ready)],
                       "containerStatuses": [container("workload", ready)]},
            }))
            .unwrap()
        };
        // Long after the start: a Docker that never answered gives its reason, with the restarts.
        let now: Timestamp = "2026-11-24T01:00:00Z".parse().unwrap();
        for (mode, ready) in
            [("dind", true), ("dind", false), ("hostSocket", true), ("hostSocket", false), ("none", true)]
        {
            let full = pod(ready);
            let mut slim = full.clone();
            slim_pod(&mut slim);
            assert!(slim.status.as_ref().unwrap().host_ip.is_none() && slim.managed_fields().is_empty());
            let sandbox: Sandbox = serde_json::from_value(json!({
                "metadata": {"name": "s", "namespace": "n", "uid": "u", "generation": 1},
                "spec": {"image": "x", "docker": {"mode": mode}},
            }))
            .unwrap();
            let (a, _) = sandbox_status(&sandbox, &Observation::Running(Some(&full), Drift::NONE), now);
            let (b, _) = sandbox_status(&sandbox, &Observation::Running(Some(&slim), Drift::NONE), now);
            assert_eq!(a, b, "{mode}, ready: {ready}");
            if !ready && mode == "dind" {
                assert!(format!("{a:?}").contains("restarted 2 times"), "{a:?}");
            }
        }
    }

    #[test]
    fn a_slim_failed_pod_still_says_how_its_workload_ended() {
        let full: Pod = serde_json::from_value(json!({
            "metadata": {"name": "sbx-s", "namespace": "n", "uid": "p"},
            "spec": {"nodeName": "node-1", "containers": [{"name": "workload", "image": "img"}]},
            "status": {"phase": "Failed", "containerStatuses": [
                {"name": "workload", "ready": false, "restartCount": 0, "image": "img", "imageID": "",
                 "state": {"terminated": {"exitCode": 3, "reason": "Error", "message": "about to fail\n",
                                          "startedAt": "2026-11-24T00:00:00Z", "finishedAt": "2026-11-24T00:00:01Z",
                                          "containerID": "containerd://abc"}}}]},
        }))
        .unwrap();
        let mut slim = full.clone();
        slim_pod(&mut slim);
        let now: k8s_openapi::jiff::Timestamp = "2026-11-24T01:00:00Z".parse().unwrap();
        let failure = crate::status::pod_failure(&slim, now);
        assert_eq!(failure, crate::status::pod_failure(&full, now));
        assert_eq!(
            (failure.reason.as_str(), failure.message.as_str()),
            ("Error", "container workload exited with code 3: about to fail")
        );
    }

    #[test]
    fn class_changes_map_to_the_sandboxes_that_use_them() {
        let sandbox = |class: Option<&str>| -> Sandbox {
            serde_json::from_value(
                json!({"metadata": {"name": "s", "namespace": "n"}, "spec": {"image": "x", "className": class}}),
            )
            .unwrap()
        };
        let class = |name: &str, default: bool| -> SandboxClass {
            serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"default": default}})).unwrap()
        };
        assert!(uses_class(&sandbox(Some("a")), &class("a", false)));
        assert!(!uses_class(&sandbox(Some("b")), &class("a", true)));
        assert!(uses_class(&sandbox(None), &class("a", true)));
        assert!(!uses_class(&sandbox(None), &class("a", false)));
    }
}
