//! The `dockyard-controller` process: flags, logging, the HTTP endpoints,
//! leader election, and the controller, all stopped by one SIGTERM.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use dockyard_api::network::NetworkSettings;
use dockyard_api::render::RenderSettings;
use dockyard_controller::agent::{AgentSettings, AgentTls};
use dockyard_controller::context::Settings;
use dockyard_controller::leader::LeaderElection;
use dockyard_controller::status::FIRST_PROGRESS_AFTER;
use dockyard_controller::{default_class, run, server};
use dockyard_process::{LogFormat, init_logging, stop_signal};
use tokio::sync::watch;
use tracing::{error, info, warn};

/// Reconciles Dockyard Sandboxes into Pods.
#[derive(Parser)]
#[command(name = "dockyard-controller", version)]
struct Args {
    /// Address of /metrics, /livez and /readyz.
    #[arg(long, env = "DOCKYARD_METRICS_ADDR", default_value = "0.0.0.0:8080")]
    metrics_addr: SocketAddr,
    /// Log format.
    #[arg(long, env = "DOCKYARD_LOG_FORMAT", value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Log filter (tracing's EnvFilter syntax).
    #[arg(long, env = "DOCKYARD_LOG", default_value = "info")]
    log: String,
    /// Sandboxes reconciled at once.
    #[arg(long, env = "DOCKYARD_CONCURRENCY", default_value_t = 32)]
    concurrency: u16,
    /// Seconds a new sandbox's first status waits while it only says that the
    /// sandbox is on its way (its Pod made, scheduled, starting): a Pod Ready
    /// by then gets one status write. Problems and refusals are never held.
    #[arg(long, env = "DOCKYARD_FIRST_PROGRESS_AFTER_SECONDS", default_value_t = FIRST_PROGRESS_AFTER.as_secs())]
    first_progress_after_seconds: u64,
    /// Image with the static dockyard-entrypoint, copied into every sandbox.
    #[arg(long, env = "DOCKYARD_ENTRYPOINT_IMAGE", default_value = "dockyard-entrypoint:latest")]
    entrypoint_image: String,
    /// DinD image used when a class names none.
    #[arg(long, env = "DOCKYARD_DIND_IMAGE", default_value = "dockyard-dind:latest")]
    dind_image: String,
    /// Pull policy of Dockyard's own images.
    #[arg(long, env = "DOCKYARD_IMAGE_PULL_POLICY", default_value = "IfNotPresent")]
    image_pull_policy: String,
    /// Group id of the Docker socket sandboxes see (dockerd --group, broker socket group).
    #[arg(long, env = "DOCKYARD_DOCKER_GROUP_ID", default_value_t = 2375)]
    docker_group_id: i64,
    /// The node's Docker socket (raw host-socket mode).
    #[arg(long, env = "DOCKYARD_NODE_DOCKER_SOCKET", default_value = "/var/run/docker.sock")]
    node_docker_socket: String,
    /// Group id of the node's Docker socket, for raw host-socket sandboxes.
    #[arg(long, env = "DOCKYARD_NODE_DOCKER_GROUP_ID")]
    node_docker_group_id: Option<i64>,
    /// Namespace of the node agents.
    #[arg(long, env = "DOCKYARD_AGENT_NAMESPACE", default_value = "dockyard-system")]
    agent_namespace: String,
    /// Label selector of the node agent Pods.
    #[arg(long, env = "DOCKYARD_AGENT_SELECTOR", default_value = "app.kubernetes.io/name=dockyard-agent")]
    agent_selector: String,
    /// gRPC port of the node agents.
    #[arg(long, env = "DOCKYARD_AGENT_PORT", default_value_t = 9443)]
    agent_port: u16,
    /// ServiceAccount token sent to the node agents (they check it with TokenReview).
    #[arg(
        long,
        env = "DOCKYARD_AGENT_TOKEN_FILE",
        default_value = "/var/run/secrets/kubernetes.io/serviceaccount/token"
    )]
    agent_token_file: std::path::PathBuf,
    /// CA certificate (PEM) the node agents' TLS certificate is checked
    /// against. Without it, tokens go to agents on loopback addresses only.
    #[arg(long, env = "DOCKYARD_AGENT_CA_FILE")]
    agent_ca_file: Option<std::path::PathBuf>,
    /// The name in the node agents' certificate (default:
    /// `dockyard-agent.<agent namespace>.svc`).
    #[arg(long, env = "DOCKYARD_AGENT_TLS_SERVER_NAME")]
    agent_tls_server_name: Option<String>,
    /// Elect a leader through a Lease (needed with more than one replica).
    #[arg(long, env = "DOCKYARD_LEADER_ELECTION", default_value_t = false)]
    leader_election: bool,
    /// Namespace of the leader Lease.
    #[arg(long, env = "POD_NAMESPACE", default_value = "dockyard-system")]
    lease_namespace: String,
    /// Name of the leader Lease.
    #[arg(long, env = "DOCKYARD_LEASE_NAME", default_value = "dockyard-controller")]
    lease_name: String,
    /// The default SandboxClass to apply at start (JSON; the chart renders it
    /// from its values).
    #[arg(long, env = "DOCKYARD_DEFAULT_CLASS_FILE")]
    default_class_file: Option<std::path::PathBuf>,
    /// Addresses sandboxes of classes with `network.egress: Internet` must not
    /// reach beside the private ranges: the nodes' and the API server's where
    /// those are public. Repeatable; IPv4 or IPv6 CIDRs.
    #[arg(long = "egress-deny-cidr", env = "DOCKYARD_EGRESS_DENY_CIDRS", value_delimiter = ',')]
    egress_deny_cidrs: Vec<String>,
    /// The address pools of the nodes' Docker daemons (where brokered
    /// sandboxes' containers live): every class's policy lets its sandboxes
    /// connect there; the node agent lets only a container's own sandbox in.
    /// Repeatable; IPv4 or IPv6 CIDRs.
    #[arg(long = "node-container-cidr", env = "DOCKYARD_NODE_CONTAINER_CIDRS", value_delimiter = ',')]
    node_container_cidrs: Vec<String>,
    /// This instance's identity (the Pod name).
    #[arg(long, env = "POD_NAME", default_value = "dockyard-controller")]
    identity: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    init_logging(&args.log, args.log_format);
    // A class file that cannot be used stops the start, naming the problem.
    let default_class = args.default_class_file.as_deref().map(default_class::read).transpose()?;
    let given = |cidrs: &[String]| cidrs.iter().filter(|c| !c.is_empty()).cloned().collect::<Vec<_>>();
    let network = NetworkSettings::new(given(&args.egress_deny_cidrs), given(&args.node_container_cidrs))?;
    let client = kube::Client::try_default().await?;
    let settings = Settings {
        render: RenderSettings {
            entrypoint_image: args.entrypoint_image.clone(),
            dind_image: args.dind_image.clone(),
            image_pull_policy: Some(args.image_pull_policy.clone()),
            docker_group_id: args.docker_group_id,
            node_docker_socket: args.node_docker_socket.clone(),
            node_docker_group_id: args.node_docker_group_id,
        },
        agent: AgentSettings {
            namespace: args.agent_namespace.clone(),
            label_selector: args.agent_selector.clone(),
            port: args.agent_port,
            timeout: Duration::from_secs(30),
            token_file: args.agent_token_file.clone(),
            tls: args.agent_ca_file.clone().map(|ca_file| AgentTls {
                ca_file,
                server_name: args
                    .agent_tls_server_name
                    .clone()
                    .unwrap_or_else(|| format!("dockyard-agent.{}.svc", args.agent_namespace)),
            }),
        },
        network,
        concurrency: args.concurrency,
        first_progress_after: Duration::from_secs(args.first_progress_after_seconds),
    };

    // One SIGTERM, fanned out to the HTTP server, the lease and the controller.
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        stop_signal().await;
        info!("SIGTERM: shutting down");
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };

    let ready = Arc::new(server::Readiness::default());
    let http = tokio::spawn(server::serve(args.metrics_addr, ready.clone(), stopped(stop_rx.clone())));
    // Ready once the API server answers, leader or standby.
    loop {
        match client.apiserver_version().await {
            Ok(_) => break,
            Err(e) => warn!(error = %e, "cannot reach the API server yet"),
        }
        if *stop_rx.borrow() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    ready.api_server_reached();
    // Every replica applies the same class: idempotent, no leadership needed.
    if let Some(class) = default_class {
        tokio::spawn(default_class::apply(client.clone(), class));
    }

    let mut lost_leadership = None;
    if args.leader_election {
        let election = LeaderElection::new(
            client.clone(),
            &args.lease_namespace,
            &args.lease_name,
            &args.identity,
            Duration::from_secs(15),
        );
        info!(lease = %args.lease_name, identity = %args.identity, "waiting to become the leader");
        loop {
            if *stop_rx.borrow() {
                return Ok(());
            }
            match election.try_acquire_or_renew().await {
                Ok(true) => break,
                Ok(false) => {}
                Err(e) => warn!(error = %e, "leader election"),
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        info!("leader: starting the controller");
        let (lost_tx, lost_rx) = watch::channel(false);
        lost_leadership = Some(lost_rx);
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let mut failures = 0;
            loop {
                tokio::select! {
                    _ = stop.changed() => return,
                    _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                }
                match election.try_acquire_or_renew().await {
                    Ok(true) => failures = 0,
                    Ok(false) => break,
                    Err(e) => {
                        failures += 1;
                        warn!(error = %e, "cannot renew the lease");
                        if failures >= 2 {
                            break;
                        }
                    }
                }
            }
            error!("lost the lease: stopping so another replica can lead");
            let _ = lost_tx.send(true);
        });
    }

    let stop = stopped(stop_rx.clone());
    let shutdown = async move {
        match lost_leadership {
            Some(lost) => tokio::select! { _ = stop => {}, _ = stopped(lost) => {} },
            None => stop.await,
        }
    };
    run(client, settings, args.identity.clone(), shutdown, move |ctx| {
        ready.controller_runs(ctx);
    })
    .await;
    http.abort();
    Ok(())
}
