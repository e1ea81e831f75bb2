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

/// Pings the daemon every 10 s (2 s while it is down) and writes the label
/// when it changes; runs until the task is dropped.
pub async fn maintain(agent: Arc<Agent>, client: Client) {
    let nodes: Api<Node> = Api::all(client);
    let node = agent.settings.node_name.clone();
    let socket = agent.settings.docker_socket.display().to_string();
    let mut labelled = None;
    // Started without a daemon socket: its client can never reach one.
    let started_without_daemon = !agent.settings.docker_socket.exists();
    loop {
        if started_without_daemon && agent.settings.docker_socket.exists() {
            // Exits; the DaemonSet starts it again, connected. Sandboxes are
            // not touched by an agent restart.
            info!(%socket, "a Docker daemon appeared on the node: restarting to connect to it");
            std::process::exit(0);
        }
        let up = agent.docker.ping().await.is_ok();
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
