//! The CSI Node service: publishes a brokered sandbox's socket into the
//! inline volume of the sandbox's current Pod, and nothing else.
//!
//! `NodePublishVolume` names its Pod only through what the kubelet decides
//! (`publish::pod_of`); the API server then says whether that Pod may have the
//! socket: the same UID (not a stale or replayed request), on this node,
//! controlled by a Sandbox of that UID whose Pod name it has, that Sandbox a
//! brokered host-socket one, not suspended, and admitted by its class (the
//! controller's own `policy::sandbox_broker_rules`). Anything else is
//! PERMISSION_DENIED with the reason, which the kubelet shows on the Pod
//! (`FailedMount`). Publishing serves a second socket of the sandbox's broker
//! in the target directory (`Brokers::publish`): no mount, so the agent needs
//! no mount privileges.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use dockyard_api::v1alpha1::{DockerMode, HostSocketAccess, Sandbox, SandboxClass};
use dockyard_api::{labels, policy};
use dockyard_proto::csi::v1::node_server::Node;
use dockyard_proto::csi::v1::{
    NodeGetCapabilitiesRequest, NodeGetCapabilitiesResponse, NodeGetInfoRequest, NodeGetInfoResponse,
    NodePublishVolumeRequest, NodePublishVolumeResponse, NodeUnpublishVolumeRequest, NodeUnpublishVolumeResponse,
};
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::{Api, Client, ResourceExt};
use tonic::{Request, Response, Status};
use tracing::{info, warn};

use super::publish::{self, PodRef};
use crate::node::Agent;

/// How long `NodePublishVolume` waits for the Pod watch to serve the broker.
const BROKER_WAIT_STEP: std::time::Duration = std::time::Duration::from_millis(100);
const BROKER_WAIT_STEPS: usize = 50;

pub struct NodeService {
    agent: Arc<Agent>,
    client: Client,
}

impl NodeService {
    pub fn new(agent: Arc<Agent>, client: Client) -> Self {
        NodeService { agent, client }
    }

    fn kubelet_root(&self) -> &Path {
        &self.agent.settings.kubelet_root
    }
}

/// The UID of the Sandbox whose socket `pod` may have on node `node_name`,
/// from the API server alone (never from the Pod's labels, which its tenant
/// may change); the reason as PERMISSION_DENIED otherwise. Publishing asks it,
/// and so does serving a published socket again after a restart.
pub async fn authorize(client: &Client, node_name: &str, pod: &PodRef) -> Result<String, Status> {
    let api_error = |e: kube::Error| Status::unavailable(format!("cannot ask the API server: {e}"));
    let denied = |why: String| Status::permission_denied(format!("Pod {}/{}: {why}", pod.namespace, pod.name));
    let pods: Api<Pod> = Api::namespaced(client.clone(), &pod.namespace);
    let found = pods.get_opt(&pod.name).await.map_err(api_error)?.ok_or_else(|| denied("does not exist".into()))?;
    if found.metadata.uid.as_deref() != Some(pod.uid.as_str()) {
        return Err(denied(format!(
            "has UID {:?}, not {} (a Pod of that name that is gone)",
            found.metadata.uid, pod.uid
        )));
    }
    let node = found.spec.as_ref().and_then(|s| s.node_name.as_deref());
    if node != Some(node_name) {
        return Err(denied(format!("runs on node {node:?}, not this one")));
    }
    let owner = labels::controlling_sandbox(found.owner_references())
        .ok_or_else(|| denied("is not a sandbox's Pod (no Sandbox controls it)".into()))?;
    if pod.name != labels::pod_name(&owner.name) {
        return Err(denied(format!("is not named {}, its Sandbox's Pod name", labels::pod_name(&owner.name))));
    }
    let sandboxes: Api<Sandbox> = Api::namespaced(client.clone(), &pod.namespace);
    let sandbox = sandboxes
        .get_opt(&owner.name)
        .await
        .map_err(api_error)?
        .filter(|s| s.metadata.uid.as_deref() == Some(owner.uid.as_str()))
        .ok_or_else(|| denied(format!("its Sandbox {} (UID {}) does not exist", owner.name, owner.uid)))?;
    let spec = &sandbox.spec;
    if spec.docker.mode != DockerMode::HostSocket || spec.host_socket_access() != HostSocketAccess::Brokered {
        return Err(denied(format!("Sandbox {} is not a brokered host-socket sandbox", owner.name)));
    }
    if spec.suspended {
        return Err(denied(format!("Sandbox {} is suspended", owner.name)));
    }
    let classes: Api<SandboxClass> = Api::all(client.clone());
    let classes = classes.list(&Default::default()).await.map_err(api_error)?.items;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let namespace_labels: BTreeMap<String, String> = namespaces
        .get_metadata_opt(&pod.namespace)
        .await
        .map_err(api_error)?
        .map(|n| n.labels().clone())
        .unwrap_or_default();
    policy::sandbox_broker_rules(&sandbox, &classes, &namespace_labels)
        .map_err(|refusal| denied(format!("its class does not admit Sandbox {}: {refusal}", owner.name)))?;
    Ok(owner.uid.clone())
}

#[tonic::async_trait]
impl Node for NodeService {
    async fn node_publish_volume(
        &self,
        request: Request<NodePublishVolumeRequest>,
    ) -> Result<Response<NodePublishVolumeResponse>, Status> {
        let request = request.into_inner();
        let pod =
            publish::pod_of(self.kubelet_root(), &request.volume_id, &request.target_path, &request.volume_context)
                .map_err(|e| Status::permission_denied(e.to_string()))?;
        let sandbox_uid = match authorize(&self.client, &self.agent.settings.node_name, &pod).await {
            Ok(uid) => uid,
            Err(status) => {
                warn!(namespace = %pod.namespace, pod = %pod.name, reason = %status.message(), "refused to publish the broker socket");
                return Err(status);
            }
        };
        // The Pod watch serves the broker as soon as the Pod is scheduled, about
        // when the kubelet publishes its volumes: wait for it a moment rather
        // than send the kubelet into its retry backoff.
        let target = Path::new(&request.target_path);
        let mut published = self.agent.brokers.publish(&sandbox_uid, target);
        for _ in 0..BROKER_WAIT_STEPS {
            match &published {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    tokio::time::sleep(BROKER_WAIT_STEP).await;
                    published = self.agent.brokers.publish(&sandbox_uid, target);
                }
                _ => break,
            }
        }
        let socket = published.map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                Status::unavailable(format!("the sandbox's broker is not ready on this node yet: {e}"))
            }
            _ => Status::internal(format!("cannot publish the broker socket: {e}")),
        })?;
        info!(sandbox = %sandbox_uid, namespace = %pod.namespace, pod = %pod.name, socket = %socket.display(), "published the broker socket");
        Ok(Response::new(NodePublishVolumeResponse {}))
    }

    async fn node_unpublish_volume(
        &self,
        request: Request<NodeUnpublishVolumeRequest>,
    ) -> Result<Response<NodeUnpublishVolumeResponse>, Status> {
        let request = request.into_inner();
        if !publish::is_target(self.kubelet_root(), &request.target_path) {
            return Err(Status::invalid_argument(format!(
                "{} is not an inline CSI volume's target under the kubelet's Pod directories",
                request.target_path
            )));
        }
        self.agent.brokers.unpublish(Path::new(&request.target_path)).map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(NodeUnpublishVolumeResponse {}))
    }

    /// None: no staging, no stats, no expansion (those calls answer UNIMPLEMENTED).
    async fn node_get_capabilities(
        &self,
        _: Request<NodeGetCapabilitiesRequest>,
    ) -> Result<Response<NodeGetCapabilitiesResponse>, Status> {
        Ok(Response::new(NodeGetCapabilitiesResponse { capabilities: Vec::new() }))
    }

    /// The node's name is its CSI node id: the kubelet records it in the
    /// node's `CSINode` object.
    async fn node_get_info(&self, _: Request<NodeGetInfoRequest>) -> Result<Response<NodeGetInfoResponse>, Status> {
        Ok(Response::new(NodeGetInfoResponse {
            node_id: self.agent.settings.node_name.clone(),
            max_volumes_per_node: 0,
            accessible_topology: None,
        }))
    }
}
