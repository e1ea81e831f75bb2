//! The node's label `dockyard.dev/docker-daemon`, kept by its agent: `"true"`
//! while the node's Docker daemon answers, `"false"` while it does not. The
//! controller schedules host-socket sandboxes onto `"true"` nodes only; a node
//! without a daemon (containerd only, the common case) still runs DinD
//! sandboxes, and its agent stays ready for them.

use std::sync::Arc;
use std::time::Duration;

use dockyard_api::labels::DOCKER_DAEMON;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use serde_json::json;
use tracing::{info, warn};

use crate::node::Agent;

/// Field manager of the label.
const FIELD_MANAGER: &str = "dockyard-agent";

/// The label's value for a daemon that answers (`up`) or not.
pub fn value(up: bool) -> &'static str {
    if up { "true" } else { "false" }
}

/// How long the mounted socket may refuse connections before the agent
/// restarts to mount the node's socket again.
const STALE_SOCKET_AFTER: Duration = Duration::from_secs(6);

/// Whether `socket` is a socket nobody listens on (a daemon's old socket
/// after it restarted, or a stopped daemon's).
async fn refuses_connections(socket: &std::path::Path) -> bool {
    matches!(
        tokio::net::UnixStream::connect(socket).await,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused
    )
}

/// Pings the daemon every 10 s (2 s while it is down) and writes the label
/// when it changes; runs until the task is dropped.
pub async fn maintain(agent: Arc<Agent>, client: Client) {
    let nodes: Api<Node> = Api::all(client);
    let node = agent.settings.node_name.clone();
    let socket = agent.settings.docker_socket.display().to_string();
    let mut labelled = None;
    // Started without a daemon socket: its client can never reach one.
    let started_without_daemon = !agent.settings.docker_socket.exists();
    let mut refused_since: Option<std::time::Instant> = None;
    loop {
        if started_without_daemon && agent.settings.docker_socket.exists() {
            // Exits; the DaemonSet starts it again, connected. Sandboxes are
            // not touched by an agent restart.
            info!(%socket, "a Docker daemon appeared on the node: restarting to connect to it");
            std::process::exit(0);
        }
        let up = agent.docker.ping().await.is_ok();
        // The chart mounts the socket file, not its directory (all of
        // /var/run): a restarted daemon makes a new socket the mount does not
        // follow, and the old one refuses connections. Restart to mount it.
        refused_since = if !up && refuses_connections(&agent.settings.docker_socket).await {
            Some(refused_since.unwrap_or_else(std::time::Instant::now))
        } else {
            None
        };
        if refused_since.is_some_and(|since| since.elapsed() >= STALE_SOCKET_AFTER) {
            warn!(%socket, "the node's Docker socket refuses connections (dockerd restarted or stopped): restarting to mount it again");
            std::process::exit(1);
        }
        if labelled != Some(up) {
            let patch = json!({"metadata": {"labels": {DOCKER_DAEMON: value(up)}}});
            let params = PatchParams { field_manager: Some(FIELD_MANAGER.into()), ..PatchParams::default() };
            match nodes.patch(&node, &params, &Patch::Merge(&patch)).await {
                Ok(_) if up => {
                    info!(%socket, %node, "the node's Docker daemon answers: host-socket sandboxes may run here");
                    labelled = Some(up);
                }
                Ok(_) => {
                    warn!(%socket, %node, "the node's Docker daemon does not answer: DinD sandboxes only");
                    labelled = Some(up);
                }
                Err(e) => warn!(%node, error = %e, "cannot label the node; trying again"),
            }
        }
        tokio::time::sleep(Duration::from_secs(if up { 10 } else { 2 })).await;
    }
}
