//! The controller's side of the node agent: find the agent on a node and ask
//! it to clean up after a sandbox, or to bind a claimed warm Pod's socket.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use dockyard_proto::agent::v1::node_agent_client::NodeAgentClient;
use dockyard_proto::agent::v1::{BindPodRequest, CleanupSandboxRequest, SandboxRef};
use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::{Api, Client};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

/// Where the node agents run.
#[derive(Clone, Debug)]
pub struct AgentSettings {
    pub namespace: String,
    pub label_selector: String,
    pub port: u16,
    pub timeout: Duration,
    /// The ServiceAccount token the agent checks with TokenReview (re-read on
    /// each call: the kubelet rotates it). The chart projects one whose
    /// audience is the agents' own, so it is good for nothing else.
    pub token_file: PathBuf,
    /// How to check the agents' TLS certificate. Without it the token goes
    /// to an agent on a loopback address only.
    pub tls: Option<AgentTls>,
}

/// The agents' serving certificate: issued by the CA in `ca_file` (re-read on
/// each call) for `server_name` (all agents share it; the address is a Pod IP).
#[derive(Clone, Debug)]
pub struct AgentTls {
    pub ca_file: PathBuf,
    pub server_name: String,
}

/// Why a node could not be cleaned up (yet).
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("no running node agent on node {0} (label {1})")]
    NoAgent(String, String),
    #[error("cannot list node agents: {0}")]
    List(#[from] kube::Error),
    #[error("cannot reach the node agent at {0}: {1}")]
    Connect(String, String),
    #[error("the node agent refused: {0}")]
    Call(String),
    #[error("cannot read the token for the node agent from {0}: {1}")]
    Token(String, String),
    #[error("cannot read the node agents' CA certificate from {0}: {1}")]
    Ca(String, String),
    #[error(
        "refusing to send the node agent at {0} a token in plaintext: give the agents' CA (--agent-ca-file); \
         plaintext is allowed to a loopback address only"
    )]
    Plaintext(String),
}

/// Asks the agent on `node` to remove everything `sandbox` created there.
pub async fn cleanup_sandbox(
    client: &Client,
    settings: &AgentSettings,
    node: &str,
    sandbox: SandboxRef,
) -> Result<(), AgentError> {
    let (mut agent, bearer) = agent_on(client, settings, node).await?;
    let mut request = tonic::Request::new(CleanupSandboxRequest { sandbox: Some(sandbox) });
    request.metadata_mut().insert("authorization", bearer);
    match agent.cleanup_sandbox(request).await {
        Ok(_) => Ok(()),
        // The agent has nothing for this sandbox: nothing to clean.
        Err(status) if status.code() == tonic::Code::NotFound => Ok(()),
        Err(status) => Err(AgentError::Call(status.to_string())),
    }
}

/// Asks the agent on `node` to make the socket of warm Pod `pod` (name,
/// UID), which `sandbox` claimed, the sandbox's (a brokered host-socket
/// pool's Pod answers only ping, version and info until then).
pub async fn bind_pod(
    client: &Client,
    settings: &AgentSettings,
    node: &str,
    sandbox: SandboxRef,
    pod: (&str, &str),
) -> Result<(), AgentError> {
    let (mut agent, bearer) = agent_on(client, settings, node).await?;
    let (pod_name, pod_uid) = (pod.0.to_string(), pod.1.to_string());
    let mut request = tonic::Request::new(BindPodRequest { sandbox: Some(sandbox), pod_name, pod_uid });
    request.metadata_mut().insert("authorization", bearer);
    agent.bind_pod(request).await.map(|_| ()).map_err(|status| AgentError::Call(status.message().to_string()))
}

/// A client of the agent on `node` and the bearer token its calls carry.
async fn agent_on(
    client: &Client,
    settings: &AgentSettings,
    node: &str,
) -> Result<(NodeAgentClient<Channel>, MetadataValue<Ascii>), AgentError> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), &settings.namespace);
    let params = ListParams::default().labels(&settings.label_selector).fields(&format!("spec.nodeName={node}"));
    let agent_ip = pods
        .list(&params)
        .await?
        .items
        .into_iter()
        .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
        .find_map(|p| p.status?.pod_ip)
        .ok_or_else(|| AgentError::NoAgent(node.into(), settings.label_selector.clone()))?;
    let channel = connect(settings, &agent_ip).await?;
    let token = std::fs::read_to_string(&settings.token_file)
        .map_err(|e| AgentError::Token(settings.token_file.display().to_string(), e.to_string()))?;
    let bearer = format!("Bearer {}", token.trim())
        .parse()
        .map_err(|_| AgentError::Token(settings.token_file.display().to_string(), "not a valid token".into()))?;
    Ok((NodeAgentClient::new(channel), bearer))
}

/// A channel to the agent at `ip`: TLS checked against the agents' CA, or
/// plaintext to a loopback address (tests and development only).
async fn connect(settings: &AgentSettings, ip: &str) -> Result<Channel, AgentError> {
    let ip: IpAddr = ip.parse().map_err(|_| AgentError::Connect(ip.into(), "not an IP address".into()))?;
    let address = SocketAddr::new(ip, settings.port);
    let connect_error = |e: tonic::transport::Error| AgentError::Connect(address.to_string(), e.to_string());
    let endpoint = match &settings.tls {
        Some(tls) => {
            let ca = std::fs::read(&tls.ca_file)
                .map_err(|e| AgentError::Ca(tls.ca_file.display().to_string(), e.to_string()))?;
            let config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca)).domain_name(&tls.server_name);
            Endpoint::from_shared(format!("https://{address}")).map_err(connect_error)?.tls_config(config)
        }
        None if ip.is_loopback() => Endpoint::from_shared(format!("http://{address}")),
        None => return Err(AgentError::Plaintext(address.to_string())),
    };
    endpoint
        .map_err(connect_error)?
        .connect_timeout(settings.timeout)
        .timeout(settings.timeout)
        .connect()
        .await
        .map_err(connect_error)
}
