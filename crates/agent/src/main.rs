//! The `dockyard-agent` process: flags, logging, the gRPC server (with the
//! standard health service), the Pod watch, the orphan sweep, and the
//! cleanups a previous run left unfinished.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use dockyard_agent::auth::Authenticator;
use dockyard_agent::cgroup::CgroupDriver;
use dockyard_agent::grpc::NodeAgentService;
use dockyard_agent::node::{Agent, FirewallSettings, Settings};
use dockyard_agent::{csi, node_label, pods, sweep};
use dockyard_process::{LogFormat, init_logging, stop_signal};
use dockyard_proto::agent::v1::node_agent_server::NodeAgentServer;
use tonic::transport::{Identity, Server, ServerTlsConfig};
use tracing::{error, info, warn};

/// How often the node's rules for brokered containers are checked against
/// the sandboxes' networks.
const FIREWALL_RESYNC: Duration = Duration::from_secs(10);

/// Serves readiness, cleanup and the Docker socket broker on its node.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// The node this agent runs on (the DaemonSet sets it from spec.nodeName).
    #[arg(long, env = "NODE_NAME")]
    node_name: String,
    /// Address of the gRPC server. Callers send a bearer token, so it serves
    /// TLS (`--tls-cert-file`, `--tls-key-file`); plaintext only on loopback.
    #[arg(long, env = "DOCKYARD_AGENT_LISTEN", default_value = "0.0.0.0:9443")]
    listen: SocketAddr,
    /// PEM certificate (chain) of the gRPC server.
    #[arg(long, env = "DOCKYARD_AGENT_TLS_CERT", requires = "tls_key_file")]
    tls_cert_file: Option<PathBuf>,
    /// PEM private key of the gRPC server.
    #[arg(long, env = "DOCKYARD_AGENT_TLS_KEY", requires = "tls_cert_file")]
    tls_key_file: Option<PathBuf>,
    /// Address of a plaintext server with the gRPC health service only (the
    /// kubelet's gRPC probes speak no TLS; no call there carries a token).
    #[arg(long, env = "DOCKYARD_AGENT_HEALTH_LISTEN")]
    health_listen: Option<SocketAddr>,
    /// The node's Docker daemon socket.
    #[arg(long, env = "DOCKYARD_DOCKER_SOCKET", default_value = "/var/run/docker.sock")]
    docker_socket: PathBuf,
    /// Node directory holding one broker socket directory per sandbox (the controller's `--broker-socket-root`).
    #[arg(long, env = "DOCKYARD_BROKER_SOCKET_ROOT", default_value = "/var/run/dockyard/sandboxes")]
    socket_root: PathBuf,
    /// Group of the broker sockets (the controller's `--docker-group-id`).
    #[arg(long, env = "DOCKYARD_DOCKER_GROUP_ID", default_value_t = 2375)]
    socket_gid: u32,
    /// Where the agent keeps its records on the node (not visible to sandboxes).
    #[arg(long, env = "DOCKYARD_AGENT_STATE_DIR", default_value = "/var/lib/dockyard-agent")]
    state_dir: PathBuf,
    /// The kubelet's root directory on the node.
    #[arg(long, env = "DOCKYARD_KUBELET_ROOT_DIR", default_value = "/var/lib/kubelet")]
    kubelet_root_dir: PathBuf,
    /// Serve the CSI driver `broker.dockyard.dev` (the brokered sandboxes'
    /// socket volumes) and register it with the kubelet under `--kubelet-root-dir`.
    #[arg(long, env = "DOCKYARD_CSI_DRIVER", default_value_t = true, action = clap::ArgAction::Set)]
    csi_driver: bool,
    /// The kubelet's cgroupRoot (a cgroupfs path): sandbox Pods' cgroups lie
    /// under `<root>/kubepods`, and brokered containers go in their Pod's.
    #[arg(long, env = "DOCKYARD_KUBELET_CGROUP_ROOT", default_value = "/")]
    kubelet_cgroup_root: String,
    /// The kubelet's cgroupDriver. The node's dockerd must use the same one
    /// (`docker info`); otherwise brokered sandboxes cannot create containers.
    #[arg(long, env = "DOCKYARD_KUBELET_CGROUP_DRIVER", value_enum, default_value = "cgroupfs")]
    kubelet_cgroup_driver: CgroupDriver,
    /// The node's /sys/fs/cgroup as mounted in the agent (read-only), if it is:
    /// a Pod's cgroup is used only once it exists there.
    #[arg(long, env = "DOCKYARD_HOST_CGROUP_MOUNT")]
    host_cgroup_mount: Option<PathBuf>,
    /// User names allowed to call the gRPC API (comma-separated), e.g. the controller's ServiceAccount.
    #[arg(long, env = "DOCKYARD_AGENT_ALLOWED_USERS", value_delimiter = ',', required = true)]
    allowed_users: Vec<String>,
    /// Audiences callers' tokens must carry (comma-separated; empty: the API server's own).
    #[arg(long, env = "DOCKYARD_AGENT_TOKEN_AUDIENCES", value_delimiter = ',')]
    token_audiences: Vec<String>,
    /// Seconds between orphan sweeps.
    #[arg(long, env = "DOCKYARD_SWEEP_INTERVAL_SECONDS", default_value_t = 300)]
    sweep_interval_seconds: u64,
    /// Seconds a sandbox's objects stay after its Sandbox is gone before the sweep removes them.
    #[arg(long, env = "DOCKYARD_ORPHAN_GRACE_SECONDS", default_value_t = 600)]
    orphan_grace_seconds: u64,
    /// Seconds a container gets between SIGTERM and SIGKILL when its sandbox is cleaned up.
    #[arg(long, env = "DOCKYARD_STOP_GRACE_SECONDS", default_value_t = 5, value_parser = clap::value_parser!(i32).range(0..=300))]
    stop_grace_seconds: i32,
    /// Bytes of unused BuildKit cache the node's daemon keeps after a cleanup
    /// (its layer cache is shared by every sandbox and cannot be attributed);
    /// unset: left to the daemon's builder GC.
    #[arg(long, env = "DOCKYARD_BUILD_CACHE_BUDGET_BYTES")]
    build_cache_budget_bytes: Option<u64>,
    /// Writes the node's rules for brokered containers (nftables table
    /// `inet dockyard`): the agent must run in the node's network namespace
    /// with CAP_NET_ADMIN.
    #[arg(long, env = "DOCKYARD_NODE_FIREWALL", default_value_t = false)]
    node_firewall: bool,
    /// The `nft` program the node's rules are written with.
    #[arg(long, env = "DOCKYARD_NFT", default_value = "/usr/sbin/nft")]
    nft: PathBuf,
    /// The node daemon's default bridge: nothing starts a connection into it
    /// but a published port.
    #[arg(long, env = "DOCKYARD_DOCKER_DEFAULT_BRIDGE", default_value = "docker0")]
    docker_default_bridge: String,
    #[arg(long, env = "DOCKYARD_LOG_FORMAT", value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Log filter (tracing's EnvFilter syntax).
    #[arg(long, env = "DOCKYARD_LOG", default_value = "info")]
    log: String,
}

/// Reports NodeAgent as serving while the node's Docker daemon answers.
/// Finishes a cleanup a previous run started, retrying until the daemon answers.
async fn finish_cleanup(agent: Arc<Agent>, record: dockyard_agent::state::SandboxRecord) {
    let mut delay = Duration::from_secs(1);
    loop {
        match agent.cleanup(&record.uid, Some(record.clone())).await {
            Ok(_) => return info!(sandbox = %record.uid, "finished the cleanup a previous run started"),
            Err(e) => warn!(sandbox = %record.uid, error = %e, retry_in = ?delay, "cannot finish the cleanup yet"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(60));
    }
}

/// The gRPC server's TLS settings: required unless it listens on loopback
/// only, since every call carries a bearer token.
fn server_tls(args: &Args) -> Result<Option<ServerTlsConfig>, String> {
    let (Some(cert), Some(key)) = (&args.tls_cert_file, &args.tls_key_file) else {
        if args.listen.ip().is_loopback() {
            return Ok(None);
        }
        return Err(format!(
            "refusing to serve the gRPC API in plaintext on {}: callers send a token; give \
             --tls-cert-file and --tls-key-file (plaintext is allowed on a loopback address only)",
            args.listen
        ));
    };
    let read = |path: &PathBuf, what: &str| {
        std::fs::read(path).map_err(|e| format!("cannot read the gRPC server's TLS {what} {}: {e}", path.display()))
    };
    let identity = Identity::from_pem(read(cert, "certificate")?, read(key, "key")?);
    Ok(Some(ServerTlsConfig::new().identity(identity)))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    init_logging(&args.log, args.log_format);
    let tls = server_tls(&args)?;
    // Before anything else: a DinD sandbox Pod on this node cannot start without it.
    let profile = dockyard_agent::seccomp::install(&args.kubelet_root_dir.join("seccomp"))
        .map_err(|e| format!("cannot install the DinD seccomp profile under the kubelet's seccomp directory: {e}"))?;
    info!(path = %profile.display(), "DinD seccomp profile installed");
    let client = kube::Client::try_default().await?;
    let agent = Arc::new(Agent::new(Settings {
        node_name: args.node_name.clone(),
        docker_socket: args.docker_socket.clone(),
        socket_root: args.socket_root.clone(),
        socket_gid: args.socket_gid,
        state_dir: args.state_dir.clone(),
        kubelet_root: args.kubelet_root_dir.clone(),
        stop_grace_seconds: args.stop_grace_seconds,
        build_cache_budget_bytes: args.build_cache_budget_bytes,
        kubelet_cgroup_root: args.kubelet_cgroup_root.clone(),
        kubelet_cgroup_driver: args.kubelet_cgroup_driver,
        host_cgroup_mount: args.host_cgroup_mount.clone(),
        firewall: args
            .node_firewall
            .then(|| FirewallSettings { nft: args.nft.clone(), default_bridge: args.docker_default_bridge.clone() }),
    })?);

    for record in agent.restore()? {
        tokio::spawn(finish_cleanup(agent.clone(), record));
    }
    if let Some(firewall) = agent.firewall.clone() {
        // At the start (the sandboxes restored), then every few seconds: a
        // network made behind the broker's back, or a failed write, is fenced soon.
        tokio::spawn(async move {
            let mut every = tokio::time::interval(FIREWALL_RESYNC);
            loop {
                every.tick().await;
                firewall.sync_logged("the periodic check").await;
            }
        });
    }
    tokio::spawn(pods::watch(agent.clone(), client.clone()));
    tokio::spawn(sweep::run(
        agent.clone(),
        client.clone(),
        Duration::from_secs(args.sweep_interval_seconds.max(1)),
        Duration::from_secs(args.orphan_grace_seconds),
    ));

    // Ready as soon as it serves, with or without a Docker daemon on the
    // node: DinD sandboxes need the agent, not the daemon. The daemon's
    // presence is the node's label, for host-socket sandboxes' scheduling.
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter.set_serving::<NodeAgentServer<NodeAgentService>>().await;
    tokio::spawn(node_label::maintain(agent.clone(), client.clone()));
    if args.csi_driver {
        let sockets = csi::PluginSockets::under(&args.kubelet_root_dir);
        let (agent, client) = (agent.clone(), client.clone());
        tokio::spawn(async move {
            if let Err(e) = csi::serve(agent, client, sockets, Box::pin(stop_signal())).await {
                // Loud rather than degraded: without the driver, brokered
                // sandboxes on this node get no socket. The kubelet restarts
                // the agent (running sandboxes are not touched by that).
                error!(error = %e, "cannot serve the CSI driver: brokered sandboxes on this node would get no socket; exiting");
                std::process::exit(1);
            }
        });
    }
    let auth = Arc::new(Authenticator::new(client.clone(), args.allowed_users.clone(), args.token_audiences.clone()));
    let service = NodeAgentService { agent: agent.clone(), auth, client };
    if let Some(address) = args.health_listen {
        let health = health.clone();
        tokio::spawn(async move {
            let served = Server::builder().add_service(health).serve_with_shutdown(address, stop_signal()).await;
            if let Err(e) = served {
                error!(%address, error = %e, "cannot serve the health service");
            }
        });
    }
    info!(listen = %args.listen, tls = tls.is_some(), node = %args.node_name, "dockyard-agent serving");
    let mut server = Server::builder();
    if let Some(tls) = tls {
        server = server.tls_config(tls)?;
    }
    server
        .add_service(health)
        .add_service(NodeAgentServer::new(service))
        .serve_with_shutdown(args.listen, stop_signal())
        .await?;
    info!("SIGTERM: stopped");
    Ok(())
}
