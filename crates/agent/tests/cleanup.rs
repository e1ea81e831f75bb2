//! Inventory and cleanup of a sandbox's Docker objects against the node's real
//! dockerd (started by `e2e/cluster up --profile docker`, with the
//! `dockyard/busybox:1` image from `e2e/images busybox`).

use std::collections::HashMap;

use bollard::Docker;
use bollard::models::{ContainerCreateBody, NetworkCreateRequest, VolumeCreateRequest};
use bollard::query_parameters::CreateContainerOptionsBuilder;
use dockyard_agent::docker::connect;
use dockyard_agent::resources::{SANDBOX_LABEL, cleanup, list};

fn node_docker() -> Docker {
    let socket = dockyard_testing::node_docker_socket();
    assert!(socket.exists(), "no dockerd at {} (start it with: e2e/cluster up --profile docker)", socket.display());
    connect(&socket).expect("connect to the node's dockerd")
}

async fn container(docker: &Docker, name: &str, labels: HashMap<String, String>) -> String {
    let body = ContainerCreateBody {
        image: Some("dockyard/busybox:1".into()),
        cmd: Some(vec!["sleep".into(), "3600".into()]),
        labels: Some(labels),
        ..Default::default()
    };
    let options = CreateContainerOptionsBuilder::default().name(name).build();
    let created =
        docker.create_container(Some(options), body).await.expect("create container (is dockyard/busybox:1 there?)");
    docker.start_container(&created.id, None).await.unwrap();
    created.id
}

#[tokio::test]
#[ignore = "needs the node's dockerd (scripts/test starts it)"]
async fn cleanup_removes_exactly_what_the_sandbox_created_and_is_idempotent() {
    let docker = node_docker();
    let uid = format!("test-{}", std::process::id());
    let labels = HashMap::from([(SANDBOX_LABEL.to_string(), uid.clone())]);
    let other = HashMap::from([(SANDBOX_LABEL.to_string(), format!("{uid}-other"))]);

    let mut ours = vec![
        container(&docker, &format!("{uid}-a"), labels.clone()).await,
        container(&docker, &format!("{uid}-b"), labels.clone()).await,
    ];
    ours.sort();
    let theirs = container(&docker, &format!("{uid}-other"), other.clone()).await;
    let network =
        NetworkCreateRequest { name: format!("{uid}-net"), labels: Some(labels.clone()), ..Default::default() };
    docker.create_network(network).await.unwrap();
    let volume =
        VolumeCreateRequest { name: Some(format!("{uid}-vol")), labels: Some(labels.clone()), ..Default::default() };
    docker.create_volume(volume).await.unwrap();

    let found = list(&docker, &uid).await.unwrap();
    assert_eq!(found.containers, ours);
    assert_eq!(found.networks, [format!("{uid}-net")]);
    assert_eq!(found.volumes, [format!("{uid}-vol")]);

    let removed = cleanup(&docker, &uid, 1).await.unwrap();
    assert_eq!(removed, found, "cleanup reports what it removed");
    assert!(list(&docker, &uid).await.unwrap().is_empty(), "nothing labelled is left");
    assert!(docker.inspect_container(&theirs, None).await.is_ok(), "another sandbox's container survives");
    assert!(cleanup(&docker, &uid, 1).await.unwrap().is_empty(), "a second cleanup finds nothing and succeeds");

    cleanup(&docker, &format!("{uid}-other"), 1).await.unwrap();
}
