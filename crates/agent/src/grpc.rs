//! The `dockyard.agent.v1.NodeAgent` gRPC service: authenticates each call,
//! translates between the wire types and [`crate::node`], and maps errors to
//! status codes.

use std::path::PathBuf;
use std::sync::Arc;

use dockyard_docker_policy::{Rules, WorkspaceMapping};
use dockyard_proto::agent::v1 as pb;
use dockyard_proto::agent::v1::node_agent_server::NodeAgent;
use tonic::{Request, Response, Status};
use tracing::info;

use crate::auth::Authenticator;
use crate::csi::{
    self,
    node::Grant,
    publish::{self, PodRef},
};
use crate::node::{Agent, AgentError};
use crate::resources::SandboxResources;
use crate::state::{Mode, SandboxRecord};

pub struct NodeAgentService {
    pub agent: Arc<Agent>,
    pub auth: Arc<Authenticator>,
    /// Asks the API server whose a Pod is (`BindPod`).
    pub client: kube::Client,
}

impl From<AgentError> for Status {
    fn from(error: AgentError) -> Self {
        let message = error.to_string();
        match error {
            AgentError::InvalidUid(_) | AgentError::InvalidArgument(_) => Status::invalid_argument(message),
            AgentError::UnknownSandbox(..) => Status::not_found(message),
            AgentError::Docker(_) => Status::unavailable(message),
            AgentError::Io(_) => Status::internal(message),
        }
    }
}

fn sandbox_ref(sandbox: Option<pb::SandboxRef>) -> Result<pb::SandboxRef, Status> {
    let sandbox = sandbox.ok_or_else(|| Status::invalid_argument("`sandbox` is required"))?;
    if sandbox.uid.is_empty() {
        return Err(Status::invalid_argument("`sandbox.uid` is required"));
    }
    Ok(sandbox)
}

fn to_proto(resources: SandboxResources, storage_bytes: u64) -> pb::SandboxResources {
    pb::SandboxResources {
        containers: resources.containers,
        networks: resources.networks,
        volumes: resources.volumes,
        images: resources.images,
        build_cache_bytes: 0,
        storage_bytes,
    }
}

#[tonic::async_trait]
impl NodeAgent for NodeAgentService {
    async fn get_node_info(&self, request: Request<pb::GetNodeInfoRequest>) -> Result<Response<pb::NodeInfo>, Status> {
        self.auth.authorize(&request).await?;
        let info = self.agent.node_info().await?;
        Ok(Response::new(pb::NodeInfo {
            node_name: self.agent.settings.node_name.clone(),
            docker_server_version: info.server_version,
            docker_api_version: info.api_version,
            docker_socket_path: self.agent.settings.docker_socket.display().to_string(),
            docker_socket_gid: info.socket_gid,
            storage_driver: info.storage_driver,
            dockyard_disk_usage_bytes: info.dockyard_disk_usage_bytes,
            docker_available: info.docker.is_ok(),
            docker_error: info.docker.err().unwrap_or_default(),
        }))
    }

    async fn prepare_sandbox(
        &self,
        request: Request<pb::PrepareSandboxRequest>,
    ) -> Result<Response<pb::PrepareSandboxResponse>, Status> {
        let caller = self.auth.authorize(&request).await?;
        let request = request.into_inner();
        let mode = match pb::DockerMode::try_from(request.mode) {
            Ok(pb::DockerMode::Dind) => Mode::Dind,
            Ok(pb::DockerMode::HostSocket) => Mode::HostSocket,
            _ => return Err(Status::invalid_argument("`mode` must be DOCKER_MODE_DIND or DOCKER_MODE_HOST_SOCKET")),
        };
        let sandbox = sandbox_ref(request.sandbox)?;
        let workspace = match (request.workspace_host_path.is_empty(), request.workspace_mount_path.is_empty()) {
            (true, true) => None,
            (false, false) => Some(WorkspaceMapping {
                sandbox_path: PathBuf::from(request.workspace_mount_path),
                node_path: PathBuf::from(request.workspace_host_path),
            }),
            _ => {
                return Err(Status::invalid_argument(
                    "`workspace_host_path` and `workspace_mount_path` must be given together",
                ));
            }
        };
        let mut record = SandboxRecord {
            namespace: sandbox.namespace,
            name: sandbox.name,
            uid: sandbox.uid,
            mode,
            pod_uid: (!request.pod_uid.is_empty()).then_some(request.pod_uid),
            workspace,
            cgroup_parent: None,
            rules: Rules::default(),
            pod_ip: None,
        };
        // The Pod's cgroup and the class's rules are the Pod watch's to find
        // (from the API server, not from the caller): kept for the same Pod.
        if let Some(known) = self.agent.record(&record.uid)?
            && record.pod_uid.as_ref().is_none_or(|pod| known.pod_uid.as_ref() == Some(pod))
        {
            record.pod_uid = known.pod_uid;
            record.cgroup_parent = known.cgroup_parent;
            record.rules = known.rules;
            record.pod_ip = known.pod_ip;
        }
        info!(%caller, sandbox = %record.uid, "prepare");
        let socket = self.agent.prepare(record)?;
        Ok(Response::new(pb::PrepareSandboxResponse {
            socket_path: socket.map(|p| p.display().to_string()).unwrap_or_default(),
            socket_gid: self.agent.brokers.socket_gid(),
        }))
    }

    async fn bind_pod(&self, request: Request<pb::BindPodRequest>) -> Result<Response<pb::BindPodResponse>, Status> {
        let caller = self.auth.authorize(&request).await?;
        let request = request.into_inner();
        let sandbox = sandbox_ref(request.sandbox)?;
        if request.pod_name.is_empty() || request.pod_uid.is_empty() {
            return Err(Status::invalid_argument("`pod_name` and `pod_uid` are required"));
        }
        let pod = PodRef { namespace: sandbox.namespace.clone(), name: request.pod_name, uid: request.pod_uid };
        match csi::node::authorize(&self.client, &self.agent.settings.node_name, &pod, true).await? {
            Grant::Sandbox(uid) if uid == sandbox.uid => {}
            Grant::Sandbox(uid) => {
                return Err(Status::permission_denied(format!(
                    "Pod {}/{} is Sandbox {uid}'s, not {}'s",
                    pod.namespace, pod.name, sandbox.uid
                )));
            }
            Grant::Warm => {
                return Err(Status::failed_precondition(format!(
                    "Pod {}/{} is still its pool's: claim it first",
                    pod.namespace, pod.name
                )));
            }
        }
        let target = publish::target_path(&self.agent.settings.kubelet_root, &pod.uid);
        let socket = csi::node::publish_sandbox(&self.agent, &sandbox.uid, &target).await?;
        info!(%caller, sandbox = %sandbox.uid, pod = %pod.name, "bound the claimed warm Pod's socket to its Sandbox");
        Ok(Response::new(pb::BindPodResponse { socket_path: socket.display().to_string() }))
    }

    async fn check_readiness(
        &self,
        request: Request<pb::CheckReadinessRequest>,
    ) -> Result<Response<pb::CheckReadinessResponse>, Status> {
        self.auth.authorize(&request).await?;
        let sandbox = sandbox_ref(request.into_inner().sandbox)?;
        let readiness = self.agent.readiness(&sandbox.uid).await?;
        Ok(Response::new(pb::CheckReadinessResponse {
            ready: readiness.ready,
            docker_server_version: readiness.server_version,
            latency_micros: readiness.latency.as_micros().try_into().unwrap_or(u64::MAX),
            message: readiness.message,
        }))
    }

    async fn cleanup_sandbox(
        &self,
        request: Request<pb::CleanupSandboxRequest>,
    ) -> Result<Response<pb::CleanupSandboxResponse>, Status> {
        let caller = self.auth.authorize(&request).await?;
        let sandbox = sandbox_ref(request.into_inner().sandbox)?;
        info!(%caller, sandbox = %sandbox.uid, "cleanup");
        let fallback = SandboxRecord::unprepared(sandbox.namespace, sandbox.name, sandbox.uid.clone());
        let agent = self.agent.clone();
        // Runs to completion even when the caller stops waiting.
        let removed = tokio::spawn(async move { agent.cleanup(&sandbox.uid, Some(fallback)).await })
            .await
            .map_err(|e| Status::internal(format!("the cleanup task failed: {e}")))??;
        Ok(Response::new(pb::CleanupSandboxResponse { removed: Some(to_proto(removed, 0)) }))
    }

    async fn list_sandbox_resources(
        &self,
        request: Request<pb::ListSandboxResourcesRequest>,
    ) -> Result<Response<pb::SandboxResources>, Status> {
        self.auth.authorize(&request).await?;
        let sandbox = sandbox_ref(request.into_inner().sandbox)?;
        let (resources, storage) = self.agent.resources(&sandbox.uid).await?;
        Ok(Response::new(to_proto(resources, storage)))
    }
}
