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

use dockyard_api::v1alpha1::{DockerMode, HostSocketAccess, Sandbox, SandboxClass, SandboxPool};
use dockyard_api::{labels, policy};
use dockyard_proto::csi::v1::node_server::Node;
use dockyard_proto::csi::v1::{
    NodeGetCapabilitiesRequest, NodeGetCapabilitiesResponse, NodeGetInfoRequest, NodeGetInfoResponse,
    NodePublishVolumeRequest, NodePublishVolumeResponse, NodeUnpublishVolumeRequest, NodeUnpublishVolumeResponse,
};
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::{Api, Client, Resource, ResourceExt};
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

/// Whose socket a Pod may have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Grant {
    /// The socket of the Sandbox of this UID.
    Sandbox(String),
    /// A warm pool Pod's own, which answers only ping, version and info
    /// until a claim makes the Pod a Sandbox's.
    Warm,
}

/// Whose socket `pod` may have on node `node_name`, from the API server alone
/// (never from the Pod's labels, which its tenant may change); the reason as
/// PERMISSION_DENIED otherwise. Publishing asks it, so does serving a
/// published socket again after a restart, and so does binding a claimed
/// warm Pod to its Sandbox (`claimed`: the controller says the Pod is the
/// Sandbox's, which its name alone does not).
pub async fn authorize(client: &Client, node_name: &str, pod: &PodRef, claimed: bool) -> Result<Grant, Status> {
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
    if let Some(pool) = controlling_pool(found.owner_references()) {
        return authorize_warm(client, pod, pool).await.map_err(|e| match e {
            Refused::Api(e) => api_error(e),
            Refused::Denied(why) => denied(why),
        });
    }
    let owner = labels::controlling_sandbox(found.owner_references())
        .ok_or_else(|| denied("is not a sandbox's Pod (no Sandbox or SandboxPool controls it)".into()))?;
    let sandboxes: Api<Sandbox> = Api::namespaced(client.clone(), &pod.namespace);
    let sandbox = sandboxes
        .get_opt(&owner.name)
        .await
        .map_err(api_error)?
        .filter(|s| s.metadata.uid.as_deref() == Some(owner.uid.as_str()))
        .ok_or_else(|| denied(format!("its Sandbox {} (UID {}) does not exist", owner.name, owner.uid)))?;
    // Its Sandbox's Pod: by name, or a warm Pod it claimed (which the
    // controller says, or the Sandbox's status, the controller's, names).
    let named_in_status = sandbox.status.as_ref().and_then(|s| s.pod_name.as_deref()) == Some(pod.name.as_str());
    let warm_claimed = pod.name.starts_with(POOL_POD_PREFIX) && (claimed || named_in_status);
    if pod.name != labels::pod_name(&owner.name) && !warm_claimed {
        return Err(denied(format!(
            "is not named {}, its Sandbox's Pod name, nor a warm Pod it claimed",
            labels::pod_name(&owner.name)
        )));
    }
    let spec = &sandbox.spec;
    if spec.docker.mode != DockerMode::HostSocket || spec.host_socket_access() != HostSocketAccess::Brokered {
        return Err(denied(format!("Sandbox {} is not a brokered host-socket sandbox", owner.name)));
    }
    if spec.suspended {
        return Err(denied(format!("Sandbox {} is suspended", owner.name)));
    }
    admitted(client, &sandbox).await.map_err(|e| match e {
        Refused::Api(e) => api_error(e),
        Refused::Denied(why) => denied(format!("its class does not admit Sandbox {}: {why}", owner.name)),
    })?;
    Ok(Grant::Sandbox(owner.uid.clone()))
}

/// Every warm Pod's name starts so (`pool-<pool>-`), never a Sandbox's (`sbx-<name>`).
const POOL_POD_PREFIX: &str = "pool-";

/// Why a lookup refused.
enum Refused {
    Api(kube::Error),
    Denied(String),
}

impl From<kube::Error> for Refused {
    fn from(e: kube::Error) -> Self {
        Refused::Api(e)
    }
}

fn controlling_pool(owners: &[OwnerReference]) -> Option<&OwnerReference> {
    let (kind, api_version) = (SandboxPool::kind(&()), SandboxPool::api_version(&()));
    owners.iter().find(|o| o.controller == Some(true) && o.kind == kind && o.api_version == api_version)
}

/// A warm Pod of `pool` may have a socket of its own (ping, version and info
/// only): the pool exists with that UID, the Pod has its name prefix, and its
/// template is a brokered host-socket sandbox its class admits.
async fn authorize_warm(client: &Client, pod: &PodRef, owner: &OwnerReference) -> Result<Grant, Refused> {
    let pools: Api<SandboxPool> = Api::namespaced(client.clone(), &pod.namespace);
    let pool = pools
        .get_opt(&owner.name)
        .await?
        .filter(|p| p.metadata.uid.as_deref() == Some(owner.uid.as_str()))
        .ok_or_else(|| Refused::Denied(format!("its SandboxPool {} (UID {}) does not exist", owner.name, owner.uid)))?;
    if !pod.name.starts_with(&dockyard_api::pool::pod_name_prefix(&owner.name)) {
        return Err(Refused::Denied(format!("is not named as SandboxPool {}'s warm Pods are", owner.name)));
    }
    let template = &pool.spec.template;
    if template.docker.mode != DockerMode::HostSocket || template.host_socket_access() != HostSocketAccess::Brokered {
        return Err(Refused::Denied(format!(
            "SandboxPool {}'s template is not a brokered host-socket one",
            owner.name
        )));
    }
    // Admitted as a Sandbox of the template, named as the pool, would be.
    let mut sandbox = Sandbox::new(&owner.name, template.clone());
    sandbox.metadata.namespace = Some(pod.namespace.clone());
    admitted(client, &sandbox)
        .await
        .map_err(|e| match e {
            Refused::Denied(why) => {
                Refused::Denied(format!("its class does not admit SandboxPool {}'s template: {why}", owner.name))
            }
            api => api,
        })
        .map(|()| Grant::Warm)
}

/// Whether `sandbox`'s class admits it, as the controller decides it.
async fn admitted(client: &Client, sandbox: &Sandbox) -> Result<(), Refused> {
    let namespace = sandbox.metadata.namespace.clone().unwrap_or_default();
    let classes: Api<SandboxClass> = Api::all(client.clone());
    let classes = classes.list(&Default::default()).await?.items;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let namespace_labels: BTreeMap<String, String> =
        namespaces.get_metadata_opt(&namespace).await?.map(|n| n.labels().clone()).unwrap_or_default();
    policy::sandbox_broker_rules(sandbox, &classes, &namespace_labels)
        .map(|_| ())
        .map_err(|refusal| Refused::Denied(refusal.to_string()))
}

/// Publishes sandbox `uid`'s broker socket in `target`. The Pod watch serves
/// the broker as soon as the Pod is scheduled (or claimed), about when this
/// is asked: wait for it a moment rather than send the caller (the kubelet,
/// into its retry backoff) away.
pub async fn publish_sandbox(agent: &Agent, uid: &str, target: &Path) -> Result<std::path::PathBuf, Status> {
    let mut published = agent.brokers.publish(uid, target);
    for _ in 0..BROKER_WAIT_STEPS {
        match &published {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tokio::time::sleep(BROKER_WAIT_STEP).await;
                published = agent.brokers.publish(uid, target);
            }
            _ => break,
        }
    }
    published.map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            Status::unavailable(format!("the sandbox's broker is not ready on this node yet: {e}"))
        }
        _ => Status::internal(format!("cannot publish the broker socket: {e}")),
    })
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
        let grant = match authorize(&self.client, &self.agent.settings.node_name, &pod, false).await {
            Ok(grant) => grant,
            Err(status) => {
                warn!(namespace = %pod.namespace, pod = %pod.name, reason = %status.message(), "refused to publish the broker socket");
                return Err(status);
            }
        };
        let target = Path::new(&request.target_path);
        let socket = match grant {
            Grant::Sandbox(sandbox_uid) => publish_sandbox(&self.agent, &sandbox_uid, target).await?,
            Grant::Warm => self
                .agent
                .brokers
                .publish_warm(&pod.uid, target)
                .map_err(|e| Status::internal(format!("cannot publish the warm Pod's socket: {e}")))?,
        };
        info!(namespace = %pod.namespace, pod = %pod.name, socket = %socket.display(), "published the broker socket");
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
