//! The `dockyard-agent` binary against the real API server (TokenReview, the
//! Sandboxes the sweep asks for) and the node's real dockerd: calls without an
//! allowed ServiceAccount token are refused, unknown sandboxes are NotFound, a
//! cleanup interrupted by SIGKILL is finished after a restart, and the orphan
//! sweep removes what belongs to no Sandbox while keeping what does.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use bollard::Docker;
use bollard::models::ContainerCreateBody;
use dockyard_agent::docker::connect;
use dockyard_agent::resources::{SANDBOX_LABEL, list};
use dockyard_api::v1alpha1::Sandbox;
use dockyard_proto::agent::v1 as pb;
use dockyard_proto::agent::v1::node_agent_client::NodeAgentClient;
use dockyard_testing::{TestCluster, TestNamespace, free_port, node_docker_socket, state_dir};
use kube::api::PostParams;
use kube::{Api, ResourceExt};
use tonic::transport::Channel;

const IMAGE: &str = "dockyard/busybox:1";

/// A running agent process, killed when dropped.
struct AgentProcess {
    child: Child,
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_agent(dir: &Path, allowed: &str, port: u16, extra: &[&str]) -> AgentProcess {
    start_agent_on(&node_docker_socket(), dir, allowed, port, extra).await
}

/// An agent whose node's Docker daemon is at `docker_socket`.
async fn start_agent_on(docker_socket: &Path, dir: &Path, allowed: &str, port: u16, extra: &[&str]) -> AgentProcess {
    let child = Command::new(env!("CARGO_BIN_EXE_dockyard-agent"))
        .args(["--node-name", "test-node", "--listen", &format!("127.0.0.1:{port}")])
        .arg(format!("--docker-socket={}", docker_socket.display()))
        .arg(format!("--socket-root={}", dir.join("sockets").display()))
        .arg(format!("--state-dir={}", dir.join("state").display()))
        .arg(format!("--kubelet-root-dir={}", dir.join("kubelet").display()))
        .arg(format!("--allowed-users={allowed}"))
        .args(["--socket-gid", "0", "--stop-grace-seconds", "3"])
        .args(extra)
        .env("KUBECONFIG", state_dir().join("admin.kubeconfig"))
        .env("DOCKYARD_LOG", "info")
        .spawn()
        .expect("start dockyard-agent");
    let agent = AgentProcess { child };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return agent;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("dockyard-agent did not listen on port {port}");
}

async fn channel(port: u16) -> Channel {
    Channel::from_shared(format!("http://127.0.0.1:{port}")).unwrap().connect().await.unwrap()
}

fn with_token<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

async fn sandbox_uid(namespace: &TestNamespace, name: &str) -> String {
    let sandboxes: Api<Sandbox> = namespace.api();
    let sandbox: Sandbox = serde_json::from_value(serde_json::json!({
        "apiVersion": "dockyard.dev/v1alpha1", "kind": "Sandbox", "metadata": {"name": name},
        "spec": {"image": IMAGE, "docker": {"mode": "hostSocket"}}
    }))
    .unwrap();
    sandboxes.create(&PostParams::default(), &sandbox).await.unwrap().uid().unwrap()
}

async fn labelled_container(docker: &Docker, uid: &str, command: &[&str]) -> String {
    let body = ContainerCreateBody {
        image: Some(IMAGE.into()),
        cmd: Some(command.iter().map(|s| s.to_string()).collect()),
        labels: Some(HashMap::from([(SANDBOX_LABEL.to_string(), uid.to_string())])),
        ..Default::default()
    };
    let id = docker.create_container(None, body).await.expect("create a labelled container").id;
    docker.start_container(&id, None).await.unwrap();
    id
}

fn sandbox_ref(namespace: &str, uid: &str) -> Option<pb::SandboxRef> {
    Some(pb::SandboxRef { namespace: namespace.into(), name: "x".into(), uid: uid.into() })
}

async fn eventually<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn work_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dockyard-agent-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
#[ignore = "needs the e2e cluster and the node's dockerd (scripts/test starts them)"]
async fn calls_are_authenticated_and_a_killed_cleanup_finishes_after_restart() {
    let cluster = TestCluster::connect().await.unwrap();
    cluster.install_crds().await.unwrap();
    let namespace = cluster.namespace("agent").await.unwrap();
    let ns = namespace.name().to_string();
    let caller = namespace.service_account_token("controller").await.unwrap();
    let stranger = namespace.service_account_token("stranger").await.unwrap();
    let dir = work_dir("process");
    let port = free_port();
    let allowed = format!("system:serviceaccount:{ns}:controller");
    let agent = start_agent(&dir, &allowed, port, &["--sweep-interval-seconds", "3600"]).await;
    let mut client = NodeAgentClient::new(channel(port).await);

    // Authentication.
    let status = client.get_node_info(pb::GetNodeInfoRequest {}).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    let status = client.get_node_info(with_token(pb::GetNodeInfoRequest {}, "not-a-token")).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    let status = client.get_node_info(with_token(pb::GetNodeInfoRequest {}, &stranger)).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
    assert!(status.message().contains("stranger"), "{status:?}");
    let info = client.get_node_info(with_token(pb::GetNodeInfoRequest {}, &caller)).await.unwrap().into_inner();
    assert_eq!(info.node_name, "test-node");
    assert!(!info.docker_server_version.is_empty() && !info.storage_driver.is_empty(), "{info:?}");

    // Unknown sandboxes and bad input.
    let unknown = pb::CheckReadinessRequest { sandbox: sandbox_ref(&ns, "no-such-sandbox") };
    let status = client.check_readiness(with_token(unknown, &caller)).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound, "{status:?}");
    let status = client
        .cleanup_sandbox(with_token(
            pb::CleanupSandboxRequest { sandbox: sandbox_ref(&ns, "no-such-sandbox") },
            &caller,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound, "{status:?}");
    let status = client
        .list_sandbox_resources(with_token(
            pb::ListSandboxResourcesRequest { sandbox: sandbox_ref(&ns, "../etc") },
            &caller,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");

    // Prepare a host-socket sandbox: its broker answers, readiness says so.
    let uid = sandbox_uid(&namespace, "busy").await;
    let prepare = pb::PrepareSandboxRequest {
        sandbox: sandbox_ref(&ns, &uid),
        mode: pb::DockerMode::HostSocket as i32,
        ..Default::default()
    };
    let prepared = client.prepare_sandbox(with_token(prepare, &caller)).await.unwrap().into_inner();
    assert!(Path::new(&prepared.socket_path).exists(), "{prepared:?}");
    let readiness = client
        .check_readiness(with_token(pb::CheckReadinessRequest { sandbox: sandbox_ref(&ns, &uid) }, &caller))
        .await
        .unwrap()
        .into_inner();
    assert!(readiness.ready && readiness.latency_micros > 0, "{readiness:?}");

    // Prepared by a call alone, its Pod never seen by the agent: the Pod's
    // cgroup is unknown, so its broker starts no container (none outside a Pod).
    let broker = connect(Path::new(&prepared.socket_path)).unwrap();
    let body = ContainerCreateBody { image: Some(IMAGE.into()), ..Default::default() };
    let refused = broker.create_container(None, body).await.unwrap_err();
    assert!(refused.to_string().contains("cgroup"), "{refused}");
    // Containers that ignore SIGTERM, labelled as its broker labels them: each
    // one's stop takes the 3 s grace period.
    let node = connect(&node_docker_socket()).unwrap();
    for _ in 0..24 {
        labelled_container(&node, &uid, &["sleep", "300"]).await;
    }
    assert_eq!(list(&node, &uid).await.unwrap().containers.len(), 24);
    let listed = client
        .list_sandbox_resources(with_token(
            pb::ListSandboxResourcesRequest { sandbox: sandbox_ref(&ns, &uid) },
            &caller,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.containers.len(), 24);

    // Kill the agent in the middle of the cleanup; a new one finishes it.
    let mut cleaning = client.clone();
    let cleanup_request = with_token(pb::CleanupSandboxRequest { sandbox: sandbox_ref(&ns, &uid) }, &caller);
    let call = tokio::spawn(async move { cleaning.cleanup_sandbox(cleanup_request).await });
    eventually("the cleanup to start", Duration::from_secs(10), || async {
        dir.join(format!("state/cleanups/{uid}.json")).exists()
    })
    .await;
    drop(agent);
    assert!(call.await.unwrap().is_err(), "the killed agent did not answer");
    let left = list(&node, &uid).await.unwrap().containers.len();
    assert!(left > 0, "the cleanup was interrupted (containers left: {left})");
    let _restarted = start_agent(&dir, &allowed, port, &["--sweep-interval-seconds", "3600"]).await;
    eventually("the restarted agent to finish the cleanup", Duration::from_secs(60), || async {
        list(&node, &uid).await.unwrap().is_empty() && !dir.join(format!("state/cleanups/{uid}.json")).exists()
    })
    .await;
    assert!(!Path::new(&prepared.socket_path).exists(), "the broker socket is gone");

    namespace.delete().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
#[ignore = "needs the e2e cluster and the node's dockerd (scripts/test starts them)"]
async fn the_orphan_sweep_removes_only_what_no_sandbox_owns() {
    let cluster = TestCluster::connect().await.unwrap();
    cluster.install_crds().await.unwrap();
    let namespace = cluster.namespace("sweep").await.unwrap();
    let live = sandbox_uid(&namespace, "live").await;
    let orphan = format!("orphan-{}", std::process::id());
    let node = connect(&node_docker_socket()).unwrap();
    let kept = labelled_container(&node, &live, &["sleep", "300"]).await;
    labelled_container(&node, &orphan, &["sleep", "300"]).await;

    let dir = work_dir("sweep");
    let _agent = start_agent(
        &dir,
        "system:serviceaccount:nobody:nobody",
        free_port(),
        &["--sweep-interval-seconds", "1", "--orphan-grace-seconds", "2"],
    )
    .await;
    eventually("the sweep to remove the orphan", Duration::from_secs(60), || async {
        list(&node, &orphan).await.unwrap().is_empty()
    })
    .await;
    assert_eq!(
        list(&node, &live).await.unwrap().containers,
        std::slice::from_ref(&kept),
        "a live sandbox's container stays"
    );

    // The Sandbox goes: after the grace period its objects go too.
    let sandboxes: Api<Sandbox> = namespace.api();
    sandboxes.delete("live", &Default::default()).await.unwrap();
    eventually("the sweep to remove the deleted sandbox's container", Duration::from_secs(60), || async {
        list(&node, &live).await.unwrap().is_empty()
    })
    .await;
    namespace.delete().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A node without a Docker daemon (containerd only): the agent starts and
/// serves (DinD sandboxes need it, not the daemon), and its node info says
/// the daemon is missing instead of failing.
#[tokio::test]
#[ignore = "needs the e2e cluster (scripts/test starts it)"]
async fn without_a_docker_daemon_the_agent_serves_and_says_so() {
    let cluster = TestCluster::connect().await.unwrap();
    let namespace = cluster.namespace("agent-no-docker").await.unwrap();
    let ns = namespace.name().to_string();
    let caller = namespace.service_account_token("controller").await.unwrap();
    let dir = work_dir("no-docker");
    let port = free_port();
    let allowed = format!("system:serviceaccount:{ns}:controller");
    let missing = dir.join("no-daemon-here/docker.sock");
    let agent = start_agent_on(&missing, &dir, &allowed, port, &[]).await;
    let mut client = NodeAgentClient::new(channel(port).await);
    let info = client.get_node_info(with_token(pb::GetNodeInfoRequest {}, &caller)).await.unwrap().into_inner();
    assert!(!info.docker_available, "{info:?}");
    assert!(info.docker_server_version.is_empty(), "{info:?}");
    assert!(!info.docker_error.is_empty(), "says why: {info:?}");
    assert_eq!(info.docker_socket_path, missing.display().to_string());
    drop(agent);
    namespace.delete().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A CA and a serving certificate for `name` made with openssl, in `dir`.
fn make_certificates(dir: &Path, name: &str) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl").current_dir(dir).args(args).output().expect("run openssl");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    run(&[&["req", "-x509"], &ec[..], &["-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=test-ca", "-days", "1"]]
        .concat());
    run(&[&["req"], &ec[..], &["-keyout", "tls.key", "-out", "tls.csr", "-subj", &format!("/CN={name}")]].concat());
    std::fs::write(dir.join("san.ext"), format!("subjectAltName=DNS:{name}\n")).unwrap();
    run(&["x509", "-req", "-in", "tls.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "tls.crt"]
        .into_iter()
        .chain(["-days", "1", "-extfile", "san.ext"])
        .collect::<Vec<_>>());
}

async fn tls_channel(port: u16, ca: &Path, name: &str) -> Result<Channel, tonic::transport::Error> {
    use tonic::transport::{Certificate, ClientTlsConfig};
    let config =
        ClientTlsConfig::new().ca_certificate(Certificate::from_pem(std::fs::read(ca).unwrap())).domain_name(name);
    Channel::from_shared(format!("https://127.0.0.1:{port}")).unwrap().tls_config(config)?.connect().await
}

/// The controller's token reaches the agent only over TLS and is good for
/// the agent only: the agent refuses to serve plaintext off loopback, serves
/// the certificate it is given (a client trusting another CA, or speaking
/// plaintext, gets nothing), refuses a token of the caller's own account
/// that is bound to another audience, and keeps its health service, without
/// a token, on a plaintext port for the kubelet's probes.
#[tokio::test]
#[ignore = "needs the e2e cluster and the node's dockerd (scripts/test starts them)"]
async fn the_token_goes_over_tls_and_is_bound_to_the_agents_audience() {
    const NAME: &str = "dockyard-agent.test.svc";
    const AUDIENCE: &str = "dockyard-agent";
    let cluster = TestCluster::connect().await.unwrap();
    let namespace = cluster.namespace("agent-tls").await.unwrap();
    let ns = namespace.name().to_string();
    let api_token = namespace.service_account_token("controller").await.unwrap();
    let agent_token = namespace.audience_token("controller", AUDIENCE).await.unwrap();
    let dir = work_dir("tls");
    make_certificates(&dir, NAME);
    let other_ca = dir.join("other");
    std::fs::create_dir_all(&other_ca).unwrap();
    make_certificates(&other_ca, NAME);
    let allowed = format!("system:serviceaccount:{ns}:controller");

    // Plaintext off loopback: refused at start, naming what to give.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_dockyard-agent"))
        .args(["--node-name", "test-node", "--listen", &format!("0.0.0.0:{}", free_port())])
        .arg(format!("--allowed-users={allowed}"))
        .env("KUBECONFIG", state_dir().join("admin.kubeconfig"))
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("refusing to serve the gRPC API in plaintext") && stderr.contains("--tls-cert-file"),
        "{stderr}"
    );

    let (port, health_port) = (free_port(), free_port());
    let cert = format!("--tls-cert-file={}", dir.join("tls.crt").display());
    let key = format!("--tls-key-file={}", dir.join("tls.key").display());
    let health = format!("--health-listen=127.0.0.1:{health_port}");
    let audiences = format!("--token-audiences={AUDIENCE}");
    let agent = start_agent(&dir, &allowed, port, &[&cert, &key, &health, &audiences]).await;

    // Plaintext to the TLS port, or TLS trusting another CA: no call goes through.
    let plaintext = NodeAgentClient::new(channel(port).await)
        .get_node_info(with_token(pb::GetNodeInfoRequest {}, &agent_token))
        .await;
    assert!(plaintext.is_err(), "a plaintext call was answered: {plaintext:?}");
    let untrusted = tls_channel(port, &other_ca.join("ca.crt"), NAME).await;
    assert!(untrusted.is_err(), "a certificate from another CA was accepted");
    let wrong_name = tls_channel(port, &dir.join("ca.crt"), "dockyard-agent.elsewhere.svc").await;
    assert!(wrong_name.is_err(), "the certificate was accepted for another name");

    let mut client = NodeAgentClient::new(tls_channel(port, &dir.join("ca.crt"), NAME).await.unwrap());
    // The same account's token for the API server's audience is refused.
    let status = client.get_node_info(with_token(pb::GetNodeInfoRequest {}, &api_token)).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    let info = client.get_node_info(with_token(pb::GetNodeInfoRequest {}, &agent_token)).await.unwrap().into_inner();
    assert_eq!(info.node_name, "test-node");

    // The kubelet's probe: plaintext health, no token, nothing else there.
    let health_channel = channel(health_port).await;
    let mut probe = tonic_health::pb::health_client::HealthClient::new(health_channel.clone());
    let serving = probe
        .check(tonic_health::pb::HealthCheckRequest { service: "dockyard.agent.v1.NodeAgent".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(serving.status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32);
    let status = NodeAgentClient::new(health_channel)
        .get_node_info(with_token(pb::GetNodeInfoRequest {}, &agent_token))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unimplemented, "the health port serves the agent's API: {status:?}");

    drop(agent);
    namespace.delete().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
