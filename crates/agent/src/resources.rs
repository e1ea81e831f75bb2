//! What a sandbox holds on the node's daemon, and removing it. Every object a
//! sandbox creates through the broker carries `dockyard.dev/sandbox=<uid>`.

use std::collections::HashMap;

use bollard::Docker;
use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListNetworksOptionsBuilder, ListVolumesOptionsBuilder, RemoveContainerOptionsBuilder,
    RemoveVolumeOptionsBuilder, StopContainerOptionsBuilder,
};
use futures::{StreamExt, TryStreamExt, stream};

use crate::docker::{is_not_found, is_not_modified};

/// The label on every Docker object a sandbox creates; its value is the Sandbox's UID.
pub const SANDBOX_LABEL: &str = "dockyard.dev/sandbox";

/// Containers stopped and removed at once during a cleanup.
const PARALLEL: usize = 16;

/// Docker objects of one sandbox, by id (containers) or name (networks, volumes).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SandboxResources {
    pub containers: Vec<String>,
    pub networks: Vec<String>,
    pub volumes: Vec<String>,
}

impl SandboxResources {
    pub fn is_empty(&self) -> bool {
        self.containers.is_empty() && self.networks.is_empty() && self.volumes.is_empty()
    }
}

fn label_filter(sandbox_uid: &str) -> HashMap<String, Vec<String>> {
    HashMap::from([("label".to_string(), vec![format!("{SANDBOX_LABEL}={sandbox_uid}")])])
}

/// Everything the node's daemon holds for `sandbox_uid`.
pub async fn list(docker: &Docker, sandbox_uid: &str) -> Result<SandboxResources, bollard::errors::Error> {
    let filters = label_filter(sandbox_uid);
    let containers = docker
        .list_containers(Some(ListContainersOptionsBuilder::default().all(true).filters(&filters).build()))
        .await?;
    let networks = docker.list_networks(Some(ListNetworksOptionsBuilder::default().filters(&filters).build())).await?;
    let volumes = docker.list_volumes(Some(ListVolumesOptionsBuilder::default().filters(&filters).build())).await?;
    let mut resources = SandboxResources {
        containers: containers.into_iter().filter_map(|c| c.id).collect(),
        networks: networks.into_iter().filter_map(|n| n.name).collect(),
        volumes: volumes.volumes.unwrap_or_default().into_iter().map(|v| v.name).collect(),
    };
    resources.containers.sort();
    resources.networks.sort();
    resources.volumes.sort();
    Ok(resources)
}

/// Stops and removes every container, then the networks and volumes, of
/// `sandbox_uid`. Idempotent: what is already gone is skipped. Returns what it removed.
pub async fn cleanup(docker: &Docker, sandbox_uid: &str) -> Result<SandboxResources, bollard::errors::Error> {
    let found = list(docker, sandbox_uid).await?;
    let ignore_gone = |result: Result<(), bollard::errors::Error>| match result {
        Err(e) if is_not_found(&e) || is_not_modified(&e) => Ok(()),
        other => other,
    };
    stream::iter(found.containers.clone())
        .map(|id| async move {
            // Stopped first, so its processes get SIGTERM and a short grace period.
            ignore_gone(docker.stop_container(&id, Some(StopContainerOptionsBuilder::default().t(5).build())).await)?;
            let remove = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
            ignore_gone(docker.remove_container(&id, Some(remove)).await)
        })
        .buffer_unordered(PARALLEL)
        .try_collect::<Vec<()>>()
        .await?;
    for network in &found.networks {
        ignore_gone(docker.remove_network(network).await)?;
    }
    for volume in &found.volumes {
        let remove = RemoveVolumeOptionsBuilder::default().force(true).build();
        ignore_gone(docker.remove_volume(volume, Some(remove)).await)?;
    }
    Ok(found)
}
