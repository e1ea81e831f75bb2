//! The sandbox Pods scheduled to this node: each one is prepared as soon as
//! the API server shows it here, before its workload waits for Docker, and
//! again whenever it changes (its QoS class and cgroup may come later) or a
//! SandboxClass changes (its rules may).
//!
//! A host-socket sandbox's broker rules come from the API server, never from
//! the Pod (its tenant may patch its labels and annotations): its Sandbox,
//! the SandboxClasses and its namespace's labels, decided by the same pure
//! policy as the controller's admission.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use dockyard_api::render::names;
use dockyard_api::v1alpha1::{Sandbox, SandboxClass};
use dockyard_api::{SandboxClassSpec, labels, policy};
use dockyard_docker_policy::{Rules, WorkspaceMapping};
use futures::{FutureExt, StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Namespace, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use tokio::sync::Notify;
use tracing::{debug, error, info, warn};

use crate::broker::SOCKET_NAME;
use crate::csi::{
    self,
    node::Grant,
    publish::{self, PodRef},
};
use crate::node::{Agent, CgroupUnknown, Prepared};
use crate::state::{Mode, SandboxRecord};

/// Where a sandbox Pod's workspace volume comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WorkspaceSource {
    /// An emptyDir: its node path follows from the Pod's UID.
    NodePath(PathBuf),
    /// A claim: its node path is the bound volume's, when it has one.
    Claim(String),
    Unknown,
}

/// The record of a sandbox Pod (labels the controller sets), its workspace's
/// mount path and source; `None` for Pods that are not Dockyard sandboxes with Docker.
pub fn record_from_pod(pod: &Pod, kubelet_root: &Path) -> Option<(SandboxRecord, String, WorkspaceSource)> {
    let pod_labels = pod.labels();
    let mode = match pod_labels.get(labels::DOCKER_MODE)?.as_str() {
        "dind" => Mode::Dind,
        "hostSocket" => Mode::HostSocket,
        _ => return None,
    };
    // Only a Sandbox's own Pod (its controller reference, which only the
    // controller may write, and its name): labels are anyone's to set, and a
    // look-alike Pod must not redirect a sandbox's cgroup or workspace.
    let sandbox_uid = pod_labels.get(labels::SANDBOX_UID)?;
    let sandbox_name = pod_labels.get(labels::SANDBOX_NAME)?;
    let owner = labels::controlling_sandbox(pod.owner_references())?;
    // Its name is the Sandbox's Pod's, or (a warm Pod it claimed) its pool's.
    let pooled = pod_labels
        .get(labels::POOL)
        .is_some_and(|pool| pod.name_any().starts_with(&dockyard_api::pool::pod_name_prefix(pool)));
    if &owner.uid != sandbox_uid
        || &owner.name != sandbox_name
        || !(pooled || pod.name_any() == labels::pod_name(sandbox_name))
    {
        return None;
    }
    let pod_uid = pod.metadata.uid.clone()?;
    let spec = pod.spec.as_ref()?;
    let mount_path = spec
        .containers
        .iter()
        .find(|c| c.name == names::WORKLOAD)
        .and_then(|c| c.volume_mounts.as_ref())
        .and_then(|mounts| mounts.iter().find(|m| m.name == names::VOLUME_WORKSPACE))
        .map(|m| m.mount_path.clone())?;
    let volume = spec.volumes.as_ref()?.iter().find(|v| v.name == names::VOLUME_WORKSPACE)?;
    let source = if volume.empty_dir.is_some() {
        WorkspaceSource::NodePath(
            kubelet_root.join("pods").join(&pod_uid).join("volumes/kubernetes.io~empty-dir").join(&volume.name),
        )
    } else if let Some(claim) = &volume.persistent_volume_claim {
        WorkspaceSource::Claim(claim.claim_name.clone())
    } else {
        WorkspaceSource::Unknown
    };
    let record = SandboxRecord {
        namespace: pod.namespace()?,
        name: sandbox_name.clone(),
        uid: sandbox_uid.clone(),
        mode,
        pod_uid: Some(pod_uid),
        workspace: None,
        cgroup_parent: None,
        rules: Rules::default(),
        pod_ip: pod.status.as_ref().and_then(|s| s.pod_ip.as_deref()).and_then(|ip| ip.parse().ok()),
    };
    Some((record, mount_path, source))
}

/// The node path of a claim's volume, for volume types that have one.
async fn claim_node_path(client: &Client, namespace: &str, claim: &str) -> Result<Option<PathBuf>, kube::Error> {
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), namespace);
    let Some(volume) = claims.get_opt(claim).await?.and_then(|c| c.spec?.volume_name) else { return Ok(None) };
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    let spec = volumes.get_opt(&volume).await?.and_then(|v| v.spec);
    Ok(spec.and_then(|s| s.host_path.map(|h| h.path).or(s.local.map(|l| l.path)).map(PathBuf::from)))
}

/// Why a sandbox's rules could not be looked up this time (the API server
/// did not answer, or the classes are not listed yet).
#[derive(Debug, thiserror::Error)]
enum RulesLookup {
    #[error("the SandboxClasses are not listed yet")]
    ClassesNotListed,
    #[error(transparent)]
    Api(#[from] kube::Error),
}

/// The broker rules of `record`'s sandbox, from the API server: those of the
/// class that admits its Sandbox, or the strictest (with a warning) when the
/// Sandbox is gone, is another one than the Pod's, or is not admitted.
async fn sandbox_rules(
    client: &Client,
    classes: &Store<SandboxClass>,
    record: &SandboxRecord,
) -> Result<Rules, RulesLookup> {
    if classes.wait_until_ready().now_or_never().is_none() {
        return Err(RulesLookup::ClassesNotListed);
    }
    let (namespace, name, uid) = (&record.namespace, &record.name, &record.uid);
    let sandboxes: Api<Sandbox> = Api::namespaced(client.clone(), namespace);
    let Some(sandbox) = sandboxes.get_opt(name).await? else {
        warn!(sandbox = %uid, %namespace, %name, "its Sandbox does not exist: the broker gets the strictest rules");
        return Ok(Rules::default());
    };
    if sandbox.metadata.uid.as_deref() != Some(uid.as_str()) {
        warn!(sandbox = %uid, %namespace, %name, found = ?sandbox.metadata.uid,
              "the Sandbox of that name has another UID than its Pod's label: the broker gets the strictest rules");
        return Ok(Rules::default());
    }
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let namespace_labels: BTreeMap<String, String> =
        namespaces.get_metadata_opt(namespace).await?.map(|n| n.labels().clone()).unwrap_or_default();
    let classes = classes.state();
    match policy::sandbox_broker_rules(&sandbox, &classes, &namespace_labels) {
        Ok(rules) => Ok(rules),
        Err(refusal) => {
            warn!(sandbox = %uid, %namespace, %name, %refusal, "its class does not admit it: the broker gets the strictest rules");
            Ok(Rules::default())
        }
    }
}

async fn prepare_pod(agent: &Agent, client: &Client, classes: &Store<SandboxClass>, pod: &Pod) {
    let Some((mut record, mount_path, source)) = record_from_pod(pod, &agent.settings.kubelet_root) else {
        return serve_warm_published(agent, client, pod).await;
    };
    // A Pod on its way out, or whose sandbox was cleaned up already: nothing to prepare.
    let finished =
        pod.status.as_ref().and_then(|s| s.phase.as_deref()).is_some_and(|p| p == "Succeeded" || p == "Failed");
    let pod_created = pod.metadata.creation_timestamp.as_ref().map(|t| t.0);
    if pod.metadata.deletion_timestamp.is_some() || finished || agent.was_cleaned_up(&record.uid, pod_created) {
        return;
    }
    let node_path = match source {
        WorkspaceSource::NodePath(path) => Some(path),
        WorkspaceSource::Claim(claim) => match claim_node_path(client, &record.namespace, &claim).await {
            Ok(path) => path,
            Err(e) => {
                warn!(sandbox = %record.uid, %claim, error = %e, "cannot find the workspace claim's volume");
                None
            }
        },
        WorkspaceSource::Unknown => None,
    };
    if record.mode == Mode::HostSocket {
        record.workspace =
            node_path.map(|node_path| WorkspaceMapping { sandbox_path: PathBuf::from(mount_path), node_path });
        // What was found for this same Pod stays when a lookup fails for a moment.
        let previous = agent.record(&record.uid).ok().flatten().filter(|r| r.pod_uid == record.pod_uid);
        let pod_uid = record.pod_uid.as_deref().unwrap_or_default();
        let qos_class = pod.status.as_ref().and_then(|s| s.qos_class.as_deref());
        record.cgroup_parent = match agent.pod_cgroup_parent(pod_uid, qos_class).await {
            Ok(parent) => Some(parent),
            Err(CgroupUnknown::NotYet(why)) => {
                debug!(sandbox = %record.uid, pod = %pod.name_any(), %why, "cgroup parent not known yet");
                None
            }
            Err(CgroupUnknown::Misconfigured(why)) => {
                error!(sandbox = %record.uid, pod = %pod.name_any(), %why,
                       "its broker refuses to create containers: they could not be put in the Pod's cgroup");
                None
            }
            Err(e) => {
                warn!(sandbox = %record.uid, pod = %pod.name_any(), error = %e, "keeping the cgroup parent found before");
                previous.as_ref().and_then(|p| p.cgroup_parent.clone())
            }
        };
        record.rules = match sandbox_rules(client, classes, &record).await {
            Ok(rules) => rules,
            Err(e) => {
                warn!(sandbox = %record.uid, error = %e, "cannot look up its class's rules; keeping those found before");
                previous.map(|p| p.rules).unwrap_or_default()
            }
        };
    }
    let uid = record.uid.clone();
    let pod_uid = record.pod_uid.clone().unwrap_or_default();
    let mode = record.mode;
    // Asked again: the sandbox may have been cleaned up during the lookups above.
    match agent.prepare_for_pod(record, pod_created) {
        Ok(Prepared::Ready(socket)) => {
            debug!(sandbox = %uid, pod = %pod.name_any(), socket = ?socket, "prepared");
            if mode == Mode::HostSocket {
                serve_published(agent, client, pod, &pod_uid).await;
            }
        }
        Ok(Prepared::CleanedUp) => debug!(sandbox = %uid, pod = %pod.name_any(), "cleaned up meanwhile: not prepared"),
        Err(e) => warn!(sandbox = %uid, pod = %pod.name_any(), error = %e, "cannot prepare the sandbox"),
    }
}

/// The kubelet publishes a volume once: after an agent restart, a socket the
/// agent published into the Pod's CSI volume is there without a server. It is
/// served again for the sandbox the API server says the Pod belongs to, checked
/// as `NodePublishVolume` checks (`csi::node::authorize`), never for the
/// sandbox its labels name (its tenant may change them).
async fn serve_published(agent: &Agent, client: &Client, pod: &Pod, pod_uid: &str) {
    let target = publish::target_path(&agent.settings.kubelet_root, pod_uid);
    // Served already (every Pod event comes here): no API round trips. A
    // claimed warm Pod's own socket is replaced by its Sandbox's when the
    // controller binds it (`BindPod`), which says the Pod is the Sandbox's.
    if agent.brokers.holder(&target).is_some() || target.join(SOCKET_NAME).symlink_metadata().is_err() {
        return;
    }
    let Some(namespace) = pod.namespace() else { return };
    let pod_ref = PodRef { namespace, name: pod.name_any(), uid: pod_uid.to_string() };
    let uid = match csi::node::authorize(client, &agent.settings.node_name, &pod_ref, false).await {
        Ok(Grant::Sandbox(uid)) => uid,
        Ok(Grant::Warm) => return,
        Err(status) => {
            return warn!(pod = %pod_ref.name, namespace = %pod_ref.namespace, reason = %status.message(),
                         "not serving the socket in its CSI volume again");
        }
    };
    match agent.brokers.publish(&uid, &target) {
        Ok(socket) => debug!(sandbox = %uid, socket = %socket.display(), "serving its published socket"),
        Err(e) => warn!(sandbox = %uid, error = %e, "cannot serve its published socket again"),
    }
}

/// After an agent restart, the socket published into an unclaimed warm
/// Pod's CSI volume is there without a server: served again, as
/// `NodePublishVolume` would serve it (checked against the API server).
async fn serve_warm_published(agent: &Agent, client: &Client, pod: &Pod) {
    let warm_host_socket = pod.labels().get(labels::POOL).is_some()
        && pod.labels().get(labels::DOCKER_MODE).is_some_and(|m| m == "hostSocket")
        && pod.metadata.deletion_timestamp.is_none();
    let (Some(pod_uid), Some(namespace)) = (pod.metadata.uid.clone(), pod.namespace()) else { return };
    let target = publish::target_path(&agent.settings.kubelet_root, &pod_uid);
    if !warm_host_socket
        || agent.brokers.holder(&target).is_some()
        || target.join(SOCKET_NAME).symlink_metadata().is_err()
    {
        return;
    }
    let pod_ref = PodRef { namespace, name: pod.name_any(), uid: pod_uid.clone() };
    match csi::node::authorize(client, &agent.settings.node_name, &pod_ref, false).await {
        Ok(Grant::Warm) => match agent.brokers.publish_warm(&pod_uid, &target) {
            Ok(_) => debug!(pod = %pod_ref.name, "serving the warm Pod's published socket again"),
            Err(e) => warn!(pod = %pod_ref.name, error = %e, "cannot serve the warm Pod's published socket again"),
        },
        // Claimed meanwhile: its Sandbox's record serves it.
        Ok(Grant::Sandbox(_)) => {}
        Err(status) => warn!(pod = %pod_ref.name, namespace = %pod_ref.namespace, reason = %status.message(),
                             "not serving the socket in its CSI volume again"),
    }
}

/// A sandbox Pod left the node: what the kubelet created for it outside the
/// agent's records goes (a Pod recreated and deleted around its sandbox's
/// cleanup leaves an empty broker socket directory).
fn pod_gone(agent: &Agent, pod: &Pod) {
    let Some(uid) = pod.labels().get(labels::SANDBOX_UID) else { return };
    if pod.labels().get(labels::DOCKER_MODE).is_none_or(|m| m != "hostSocket") {
        return;
    }
    match agent.pod_gone(uid) {
        Ok(true) => {
            info!(sandbox = %uid, pod = %pod.name_any(), "removed the broker socket directory its last Pod left")
        }
        Ok(false) => {}
        Err(e) => warn!(sandbox = %uid, pod = %pod.name_any(), error = %e, "cannot remove the broker socket directory"),
    }
}

/// What of the classes decides rules: a change re-prepares the node's sandboxes.
fn class_signature(classes: &Store<SandboxClass>) -> Vec<(String, Option<Time>, SandboxClassSpec)> {
    let mut signature: Vec<_> =
        classes.state().iter().map(|c| (c.name_any(), c.metadata.creation_timestamp.clone(), c.spec.clone())).collect();
    signature.sort_by(|a, b| a.0.cmp(&b.0));
    signature
}

/// Keeps `writer`'s store of SandboxClasses current; notifies `changed` when
/// a class's spec changes, one is added or removed, and when the first list
/// comes after some sandbox was prepared without it (`prepared_early`).
async fn watch_classes(
    client: Client,
    writer: reflector::store::Writer<SandboxClass>,
    classes: Store<SandboxClass>,
    changed: Arc<Notify>,
    prepared_early: Arc<AtomicBool>,
) {
    let api: Api<SandboxClass> = Api::all(client);
    let mut stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .modify(|c| c.managed_fields_mut().clear())
        .reflect(writer)
        .boxed();
    let mut last = None;
    while let Some(event) = stream.next().await {
        match event {
            Err(e) => warn!(error = %e, "watching SandboxClasses failed; retrying"),
            Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => {}
            Ok(_) => {
                let now = class_signature(&classes);
                let first_late = last.is_none() && prepared_early.load(Ordering::Relaxed);
                if first_late || last.as_ref().is_some_and(|last| *last != now) {
                    changed.notify_one();
                }
                last = Some(now);
            }
        }
    }
}

/// Watches the sandbox Pods on this node and prepares each; runs until the stream ends.
pub async fn watch(agent: Arc<Agent>, client: Client) {
    let (classes, classes_writer) = reflector::store();
    let class_changed = Arc::new(Notify::new());
    let prepared_early = Arc::new(AtomicBool::new(false));
    tokio::spawn(watch_classes(
        client.clone(),
        classes_writer,
        classes.clone(),
        class_changed.clone(),
        prepared_early.clone(),
    ));
    // Rules need the classes: wait for their first list, but not forever
    // (without them sandboxes are served with the strictest rules, then again
    // once the list comes).
    if tokio::time::timeout(Duration::from_secs(30), classes.wait_until_ready()).await.is_err() {
        warn!(
            "SandboxClasses not listed after 30 s: preparing sandboxes with the strictest broker rules until they are"
        );
        prepared_early.store(true, Ordering::Relaxed);
    }

    let api: Api<Pod> = Api::all(client.clone());
    let config = watcher::Config::default()
        .fields(&format!("spec.nodeName={}", agent.settings.node_name))
        .labels(&format!("{} in (dind,hostSocket)", labels::DOCKER_MODE));
    let (pods, pods_writer) = reflector::store();
    let mut stream =
        watcher(api, config).default_backoff().modify(|p| p.managed_fields_mut().clear()).reflect(pods_writer).boxed();
    loop {
        tokio::select! {
            next = stream.try_next() => match next {
                Ok(Some(watcher::Event::Apply(pod) | watcher::Event::InitApply(pod))) => {
                    prepare_pod(&agent, &client, &classes, &pod).await;
                }
                Ok(Some(watcher::Event::Delete(pod))) => pod_gone(&agent, &pod),
                Ok(Some(watcher::Event::Init | watcher::Event::InitDone)) => {}
                Ok(None) => return,
                Err(e) => warn!(error = %e, "watching the node's sandbox Pods failed; retrying"),
            },
            () = class_changed.notified() => {
                let host_socket: Vec<Arc<Pod>> = pods
                    .state()
                    .into_iter()
                    .filter(|p| p.labels().get(labels::DOCKER_MODE).is_some_and(|m| m == "hostSocket"))
                    .collect();
                info!(sandboxes = host_socket.len(), "the SandboxClasses changed: looking up the node's brokered sandboxes' rules again");
                for pod in host_socket {
                    prepare_pod(&agent, &client, &classes, &pod).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(volume: serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "sbx-a", "namespace": "ns", "uid": "pod-1", "labels": {
                "dockyard.dev/docker-mode": "hostSocket", "dockyard.dev/sandbox": "a", "dockyard.dev/sandbox-uid": "s-1"},
                "ownerReferences": [{"apiVersion": "dockyard.dev/v1alpha1", "kind": "Sandbox", "name": "a", "uid": "s-1", "controller": true}]},
            "spec": {
                "containers": [{"name": "workload", "volumeMounts": [{"name": "workspace", "mountPath": "/home/dev/src"}]}],
                "volumes": [volume]
            }
        }))
        .unwrap()
    }

    #[test]
    fn an_empty_dir_workspace_maps_to_the_kubelet_path() {
        let (record, mount, source) =
            record_from_pod(&pod(serde_json::json!({"name": "workspace", "emptyDir": {}})), Path::new("/k")).unwrap();
        assert_eq!((record.uid.as_str(), record.name.as_str(), record.mode), ("s-1", "a", Mode::HostSocket));
        assert_eq!(record.pod_uid.as_deref(), Some("pod-1"));
        // Never from the Pod: looked up afterwards.
        assert_eq!((record.cgroup_parent, record.rules), (None, Rules::default()));
        assert_eq!(mount, "/home/dev/src");
        assert_eq!(source, WorkspaceSource::NodePath("/k/pods/pod-1/volumes/kubernetes.io~empty-dir/workspace".into()));
    }

    #[test]
    fn a_claim_workspace_is_looked_up_and_other_pods_are_ignored() {
        let claim =
            pod(serde_json::json!({"name": "workspace", "persistentVolumeClaim": {"claimName": "a-workspace"}}));
        assert_eq!(record_from_pod(&claim, Path::new("/k")).unwrap().2, WorkspaceSource::Claim("a-workspace".into()));
        let mut other = claim.clone();
        other.metadata.labels.as_mut().unwrap().insert("dockyard.dev/docker-mode".into(), "none".into());
        assert!(record_from_pod(&other, Path::new("/k")).is_none());
    }

    #[test]
    fn a_pod_that_only_looks_like_a_sandboxs_is_ignored() {
        let own = pod(serde_json::json!({"name": "workspace", "emptyDir": {}}));
        assert!(record_from_pod(&own, Path::new("/k")).is_some());
        // Labels are anyone's to set: the controller reference decides.
        let set_owner = |pod: &Pod, owner: serde_json::Value| {
            let mut pod = pod.clone();
            pod.metadata.owner_references = Some(vec![serde_json::from_value(owner).unwrap()]);
            pod
        };
        let look_alikes = [
            set_owner(
                &own,
                serde_json::json!({"apiVersion": "x.invalid/v1", "kind": "Sandbox", "name": "a", "uid": "s-1", "controller": true}),
            ),
            set_owner(
                &own,
                serde_json::json!({"apiVersion": "dockyard.dev/v1alpha1", "kind": "Other", "name": "a", "uid": "s-1", "controller": true}),
            ),
            set_owner(
                &own,
                serde_json::json!({"apiVersion": "dockyard.dev/v1alpha1", "kind": "Sandbox", "name": "a", "uid": "s-2", "controller": true}),
            ),
            set_owner(
                &own,
                serde_json::json!({"apiVersion": "dockyard.dev/v1alpha1", "kind": "Sandbox", "name": "a", "uid": "s-1"}),
            ),
        ];
        for pod in look_alikes {
            assert!(record_from_pod(&pod, Path::new("/k")).is_none(), "{:?}", pod.metadata.owner_references);
        }
        let mut renamed = own.clone();
        renamed.metadata.name = Some("not-sbx-a".into());
        assert!(record_from_pod(&renamed, Path::new("/k")).is_none());
    }
}
