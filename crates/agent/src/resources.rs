//! What a sandbox holds on the node's daemon, and removing it. Every object a
//! sandbox creates through the broker carries `dockyard.dev/sandbox=<uid>`.

use std::collections::{BTreeSet, HashMap};

use bollard::Docker;
use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListImagesOptionsBuilder, ListNetworksOptionsBuilder, ListVolumesOptionsBuilder,
    RemoveContainerOptionsBuilder, RemoveImageOptionsBuilder, RemoveVolumeOptionsBuilder, StopContainerOptionsBuilder,
};
use futures::{StreamExt, TryStreamExt, stream};

use crate::docker::{is_conflict, is_not_found, is_not_modified};

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
    /// Images it built (they carry the label through the broker's build rewrite).
    pub images: Vec<String>,
}

impl SandboxResources {
    pub fn is_empty(&self) -> bool {
        self.containers.is_empty() && self.networks.is_empty() && self.volumes.is_empty() && self.images.is_empty()
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
    let images =
        docker.list_images(Some(ListImagesOptionsBuilder::default().all(false).filters(&filters).build())).await?;
    let mut resources = SandboxResources {
        containers: containers.into_iter().filter_map(|c| c.id).collect(),
        networks: networks.into_iter().filter_map(|n| n.name).collect(),
        volumes: volumes.volumes.unwrap_or_default().into_iter().map(|v| v.name).collect(),
        images: images.into_iter().map(|i| i.id).collect(),
    };
    resources.containers.sort();
    resources.networks.sort();
    resources.volumes.sort();
    resources.images.sort();
    Ok(resources)
}

/// Every sandbox UID that has labelled objects on the node's daemon.
pub async fn labelled_sandboxes(docker: &Docker) -> Result<BTreeSet<String>, bollard::errors::Error> {
    let filters = HashMap::from([("label".to_string(), vec![SANDBOX_LABEL.to_string()])]);
    let mut uids = BTreeSet::new();
    let mut add = |labels: Option<HashMap<String, String>>| {
        uids.extend(labels.and_then(|mut l| l.remove(SANDBOX_LABEL)));
    };
    for c in docker
        .list_containers(Some(ListContainersOptionsBuilder::default().all(true).filters(&filters).build()))
        .await?
    {
        add(c.labels);
    }
    for n in docker.list_networks(Some(ListNetworksOptionsBuilder::default().filters(&filters).build())).await? {
        add(n.labels);
    }
    for v in docker
        .list_volumes(Some(ListVolumesOptionsBuilder::default().filters(&filters).build()))
        .await?
        .volumes
        .unwrap_or_default()
    {
        add(Some(v.labels));
    }
    for i in docker.list_images(Some(ListImagesOptionsBuilder::default().filters(&filters).build())).await? {
        add(Some(i.labels));
    }
    Ok(uids)
}

/// Stops and removes every container, then the networks, volumes and built
/// images, of `sandbox_uid`; a container's processes get SIGTERM and
/// `stop_grace_seconds` before they are killed. Idempotent: what is already
/// gone is skipped. Returns what it removed.
pub async fn cleanup(
    docker: &Docker,
    sandbox_uid: &str,
    stop_grace_seconds: i32,
) -> Result<SandboxResources, bollard::errors::Error> {
    let found = list(docker, sandbox_uid).await?;
    let ignore_gone = |result: Result<(), bollard::errors::Error>| match result {
        Err(e) if is_not_found(&e) || is_not_modified(&e) => Ok(()),
        other => other,
    };
    stream::iter(found.containers.clone())
        .map(|id| async move {
            // Stopped first, so its processes get SIGTERM and a short grace period.
            ignore_gone(
                docker
                    .stop_container(&id, Some(StopContainerOptionsBuilder::default().t(stop_grace_seconds).build()))
                    .await,
            )?;
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
    for image in &found.images {
        // Untagged parents (the classic builder's intermediate layers) go with it.
        let remove = RemoveImageOptionsBuilder::default().force(true).noprune(false).build();
        match docker.remove_image(image, Some(remove), None).await {
            Err(e) if is_not_found(&e) || is_conflict(&e) => {}
            other => {
                other?;
            }
        }
    }
    Ok(found)
}
