//! The sandbox Pods scheduled to this node: each one is prepared as soon as
//! the API server shows it here, before its workload waits for Docker.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use dockyard_api::labels;
use dockyard_api::render::names;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use tracing::{debug, warn};

use crate::broker::policy::WorkspaceMapping;
use crate::node::Agent;
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
        name: pod_labels.get(labels::SANDBOX_NAME)?.clone(),
        uid: pod_labels.get(labels::SANDBOX_UID)?.clone(),
        mode,
        pod_uid: Some(pod_uid),
        workspace: None,
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

async fn prepare_pod(agent: &Agent, client: &Client, pod: &Pod) {
    let Some((mut record, mount_path, source)) = record_from_pod(pod, &agent.settings.kubelet_root) else { return };
    // A Pod on its way out, or whose sandbox was cleaned up already: nothing to prepare.
    let finished =
        pod.status.as_ref().and_then(|s| s.phase.as_deref()).is_some_and(|p| p == "Succeeded" || p == "Failed");
    if pod.metadata.deletion_timestamp.is_some() || finished || agent.was_cleaned_up(&record.uid) {
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
    }
    let uid = record.uid.clone();
    match agent.prepare(record) {
        Ok(socket) => debug!(sandbox = %uid, pod = %pod.name_any(), socket = ?socket, "prepared"),
        Err(e) => warn!(sandbox = %uid, pod = %pod.name_any(), error = %e, "cannot prepare the sandbox"),
    }
}

/// Watches the sandbox Pods on this node and prepares each; runs until the stream ends.
pub async fn watch(agent: Arc<Agent>, client: Client) {
    let pods: Api<Pod> = Api::all(client.clone());
    let config = watcher::Config::default()
        .fields(&format!("spec.nodeName={}", agent.settings.node_name))
        .labels(&format!("{} in (dind,hostSocket)", labels::DOCKER_MODE));
    let mut stream = watcher(pods, config).default_backoff().applied_objects().boxed();
    loop {
        match stream.try_next().await {
            Ok(Some(pod)) => prepare_pod(&agent, &client, &pod).await,
            Ok(None) => return,
            Err(e) => warn!(error = %e, "watching the node's sandbox Pods failed; retrying"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(volume: serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "sbx-a", "namespace": "ns", "uid": "pod-1", "labels": {
                "dockyard.dev/docker-mode": "hostSocket", "dockyard.dev/sandbox": "a", "dockyard.dev/sandbox-uid": "s-1"}},
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
}
