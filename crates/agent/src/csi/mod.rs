//! The agent as a CSI node plugin (driver `broker.dockyard.dev`): the
//! Identity and Node services on the CSI endpoint, and the kubelet's plugin
//! registration on a socket in the kubelet's `plugins_registry`, through which
//! the kubelet finds the endpoint (the role node-driver-registrar plays for
//! other drivers; the agent serves it itself).
//!
//! Both sockets are Unix sockets the kubelet (root) dials; their directories
//! are the kubelet's and only root's.

pub mod authority;
mod identity;
pub mod node;
pub mod publish;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use dockyard_api::labels::BROKER_CSI_DRIVER;
use dockyard_proto::csi::v1::identity_server::IdentityServer;
use dockyard_proto::csi::v1::node_server::NodeServer;
use dockyard_proto::pluginregistration::registration_server::{Registration, RegistrationServer};
use dockyard_proto::pluginregistration::{InfoRequest, PluginInfo, RegistrationStatus, RegistrationStatusResponse};
use futures::StreamExt;
use futures::future::BoxFuture;
use tokio::net::UnixListener;
use tokio_stream::wrappers::{ReceiverStream, UnixListenerStream};
use tonic::{Request, Response, Status};
use tracing::{error, info, warn};

use crate::node::Agent;

pub use identity::IdentityService;
pub use node::NodeService;

/// The CSI versions the Node and Identity services speak, as the kubelet asks.
const SUPPORTED_VERSIONS: [&str; 1] = ["1.0.0"];

/// Where the kubelet looks for the driver: the registration socket in its
/// `plugins_registry` (watched by the kubelet's plugin manager) and the CSI
/// endpoint in the driver's own directory under `plugins`.
#[derive(Clone, Debug)]
pub struct PluginSockets {
    pub registration: PathBuf,
    pub endpoint: PathBuf,
}

impl PluginSockets {
    /// The usual places under the kubelet's root directory.
    pub fn under(kubelet_root: &Path) -> Self {
        PluginSockets {
            registration: kubelet_root.join("plugins_registry").join(format!("{BROKER_CSI_DRIVER}-reg.sock")),
            endpoint: kubelet_root.join("plugins").join(BROKER_CSI_DRIVER).join("csi.sock"),
        }
    }
}

/// The kubelet's plugin registration: names the driver and its endpoint.
pub struct RegistrationService {
    endpoint: PathBuf,
}

#[tonic::async_trait]
impl Registration for RegistrationService {
    async fn get_info(&self, _: Request<InfoRequest>) -> Result<Response<PluginInfo>, Status> {
        Ok(Response::new(PluginInfo {
            r#type: "CSIPlugin".into(),
            name: BROKER_CSI_DRIVER.into(),
            endpoint: self.endpoint.display().to_string(),
            supported_versions: SUPPORTED_VERSIONS.iter().map(|v| v.to_string()).collect(),
        }))
    }

    async fn notify_registration_status(
        &self,
        request: Request<RegistrationStatus>,
    ) -> Result<Response<RegistrationStatusResponse>, Status> {
        let status = request.into_inner();
        if status.plugin_registered {
            info!(driver = BROKER_CSI_DRIVER, "the kubelet registered the CSI driver");
        } else {
            error!(driver = BROKER_CSI_DRIVER, error = %status.error, "the kubelet refused to register the CSI driver");
        }
        Ok(Response::new(RegistrationStatusResponse {}))
    }
}

/// A Unix socket at `path`, replacing one a previous run left; only root may
/// connect (the kubelet is root).
fn listen(path: &Path) -> io::Result<UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Serves the CSI endpoint and the registration socket until `shutdown`;
/// removes the registration socket then, so the kubelet deregisters the driver.
pub async fn serve(
    agent: Arc<Agent>,
    client: kube::Client,
    sockets: PluginSockets,
    shutdown: BoxFuture<'static, ()>,
) -> io::Result<()> {
    let endpoint = UnixListenerStream::new(listen(&sockets.endpoint)?);
    let registration = listen(&sockets.registration)?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let wait = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|s| *s).await;
    };

    let csi = tonic::transport::Server::builder()
        .add_service(IdentityServer::new(IdentityService))
        .add_service(NodeServer::new(NodeService::new(agent, client)))
        .serve_with_incoming_shutdown(endpoint, wait(stopped.clone()));

    // The registration server sees each kubelet connection through the front.
    let (connections, incoming) = tokio::sync::mpsc::channel::<tokio::io::DuplexStream>(8);
    let registrar = tonic::transport::Server::builder()
        .add_service(RegistrationServer::new(RegistrationService { endpoint: sockets.endpoint.clone() }))
        .serve_with_incoming_shutdown(ReceiverStream::new(incoming).map(Ok::<_, io::Error>), wait(stopped.clone()));
    let accept = async move {
        loop {
            let (kubelet, _) = match registration.accept().await {
                Ok(connection) => connection,
                Err(e) => {
                    // E.g. out of descriptors: not a busy loop meanwhile.
                    warn!(error = %e, "plugin registration: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let (server_side, front_side) = tokio::io::duplex(64 * 1024);
            if connections.send(server_side).await.is_err() {
                return;
            }
            tokio::spawn(async move {
                if let Err(e) = authority::front(kubelet, front_side).await {
                    warn!(error = %e, "plugin registration: connection ended");
                }
            });
        }
    };
    info!(endpoint = %sockets.endpoint.display(), registration = %sockets.registration.display(), "serving the CSI driver");
    let stopper = async move {
        shutdown.await;
        let _ = std::fs::remove_file(&sockets.registration);
        let _ = stop.send(true);
    };
    let (csi, registrar, _, _) = tokio::join!(
        csi,
        registrar,
        async {
            tokio::select! { _ = accept => {}, _ = wait(stopped) => {} }
        },
        stopper
    );
    csi.map_err(io::Error::other)?;
    registrar.map_err(io::Error::other)
}
