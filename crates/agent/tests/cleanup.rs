//! Inventory and cleanup of a sandbox's Docker objects against the node's real
//! dockerd (started by `e2e/cluster up --profile docker`, with the
//! `dockyard/busybox:1` image from `e2e/images busybox`).

use std::collections::HashMap;

use bollard::Docker;
use bollard::models::{ContainerCreateBody, NetworkCreateRequest, VolumeCreateRequest};
use bollard::query_parameters::CreateContainerOptionsBuilder;
use dockyard_agent::docker::connect;
use dockyard_agent::node::{Agent, Prepared, Settings};
use dockyard_agent::resources::{SANDBOX_LABEL, cleanup, list};
use dockyard_agent::state::SandboxRecord;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

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

/// The Pod watch looks up a Pod's cgroup and rules before it prepares: a
/// cleanup that runs meanwhile (the Sandbox deleted, its Pod deleted first and
/// recreated) must win, or the broker socket comes back for a sandbox that is
/// gone. A Pod created after the cleanup (a resumed sandbox) is prepared.
#[tokio::test]
#[ignore = "needs the node's dockerd (scripts/test starts it)"]
async fn a_pod_seen_before_a_cleanup_does_not_bring_its_sandbox_back() {
    let dir = std::env::temp_dir().join(format!("dockyard-prepare-race-{}", std::process::id()));
    let agent = Agent::new(Settings::under(&dir, "node-a", dockyard_testing::node_docker_socket())).unwrap();
    let uid = format!("prepare-race-{}", std::process::id());
    let record = SandboxRecord::unprepared("ns".into(), "dev".into(), uid.clone());
    let pod_created = Timestamp::now() - SignedDuration::from_secs(5);

    let Prepared::Ready(Some(socket)) = agent.prepare_for_pod(record.clone(), Some(pod_created)).unwrap() else {
        panic!("a host-socket sandbox gets a socket");
    };
    assert!(socket.exists());
    agent.cleanup(&uid, None).await.unwrap();
    assert!(!socket.exists(), "the cleanup removed the broker socket");

    // The watch's lookups for the old Pod finish after the cleanup.
    assert_eq!(agent.prepare_for_pod(record.clone(), Some(pod_created)).unwrap(), Prepared::CleanedUp);
    assert!(!socket.exists(), "no socket came back");
    assert!(agent.record(&uid).unwrap().is_none(), "no record came back");

    // That Pod's volume set up by the kubelet anyway (DirectoryOrCreate):
    // the directory goes when the Pod does.
    std::fs::create_dir_all(socket.parent().unwrap()).unwrap();
    assert!(agent.pod_gone(&uid).unwrap(), "the kubelet's directory is removed");
    assert!(!socket.parent().unwrap().exists());

    // A suspended sandbox resumed: its new Pod is prepared, even one made in
    // the cleanup's second (creationTimestamp has whole seconds).
    let resumed = Timestamp::from_second(Timestamp::now().as_second()).unwrap();
    assert_eq!(agent.prepare_for_pod(record, Some(resumed)).unwrap(), Prepared::Ready(Some(socket.clone())));
    assert!(socket.exists());
    assert!(!agent.pod_gone(&uid).unwrap(), "an older Pod going leaves a prepared sandbox alone");
    assert!(socket.exists());
    agent.cleanup(&uid, None).await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
