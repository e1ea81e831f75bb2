//! The node agent against the node's real dockerd (`e2e/cluster up --profile
//! docker`; image `dockyard/busybox:1`), every figure a ratio against the raw
//! socket in the same run, medians of alternating rounds:
//!
//! - latency: `docker version` + `docker ps` through a broker socket vs the raw socket;
//! - throughput: `docker build` of a 1 GiB context through the broker vs raw;
//! - cleanup: the agent's cleanup of 100 running containers vs `docker rm -f` of the same set
//!   (three rounds; the others take five);
//! - idle RSS of the `dockyard-agent` binary (needs the control plane for its
//!   kubeconfig: `e2e/cluster up --profile control-plane`).
//!
//! Ends with `BENCH agent latency_ratio= throughput_ratio= cleanup_ratio= idle_rss_mib=`,
//! appended to docs/benchmarks.md when `DOCKYARD_BENCH_RECORD=1`.
//!
//! Run: `cargo bench -p dockyard-agent --bench broker`

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig};
use dockyard_agent::broker::Brokers;
use dockyard_agent::broker::images::ImageLedger;
use dockyard_agent::docker::connect;
use dockyard_agent::resources::{SANDBOX_LABEL, cleanup, list};
use futures::{StreamExt, stream};

const IMAGE: &str = "dockyard/busybox:1";
const LATENCY_RUNS: usize = 30;
const ROUNDS: usize = 5;
/// Each cleanup round starts 200 containers: fewer rounds.
const CLEANUP_ROUNDS: usize = 3;
const CONTAINERS: usize = 100;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn docker_cli(host: &str, args: &[&str]) -> Duration {
    let started = Instant::now();
    let out = Command::new("docker").args(args).env("DOCKER_HOST", host).output().expect("run the docker CLI");
    assert!(out.status.success(), "docker {args:?} on {host}: {}", String::from_utf8_lossy(&out.stderr));
    started.elapsed()
}

async fn running_containers(docker: &Docker, uid: &str) -> Vec<String> {
    let labels = HashMap::from([(SANDBOX_LABEL.to_string(), uid.to_string())]);
    stream::iter(0..CONTAINERS)
        .map(|_| {
            let labels = labels.clone();
            async move {
                // With an init process, as real services do: SIGTERM ends them.
                let body = ContainerCreateBody {
                    image: Some(IMAGE.into()),
                    cmd: Some(vec!["sleep".into(), "3600".into()]),
                    labels: Some(labels),
                    host_config: Some(HostConfig { init: Some(true), ..Default::default() }),
                    ..Default::default()
                };
                let id = docker.create_container(None, body).await.expect("create").id;
                docker.start_container(&id, None).await.expect("start");
                id
            }
        })
        .buffer_unordered(16)
        .collect()
        .await
}

fn idle_rss_mib(work: &Path) -> Option<f64> {
    let kubeconfig = dockyard_testing::state_dir().join("admin.kubeconfig");
    if !kubeconfig.exists() {
        eprintln!("no control plane ({}): idle RSS not measured", kubeconfig.display());
        return None;
    }
    // Cargo builds the package's binary with the bench's (release) profile, wherever the target directory is.
    let mut child = Command::new(env!("CARGO_BIN_EXE_dockyard-agent"))
        .args(["--node-name", "bench-node", "--listen", "127.0.0.1:19443", "--allowed-users", "nobody"])
        .arg(format!("--docker-socket={}", dockyard_testing::node_docker_socket().display()))
        .arg(format!("--socket-root={}", work.join("rss-sockets").display()))
        .arg(format!("--state-dir={}", work.join("rss-state").display()))
        .env("KUBECONFIG", kubeconfig)
        .env("DOCKYARD_LOG", "warn")
        .spawn()
        .ok()?;
    std::thread::sleep(Duration::from_secs(5));
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).ok()?;
    let _ = child.kill();
    let _ = child.wait();
    let kib: f64 = status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

#[tokio::main]
async fn main() {
    let node = dockyard_testing::node_docker_socket();
    assert!(node.exists(), "no dockerd at {} (start it with: e2e/cluster up --profile docker)", node.display());
    let docker = connect(&node).unwrap();
    let work = std::env::temp_dir().join(format!("dockyard-agent-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let ledger = ImageLedger::open(&work.join("images")).unwrap();
    let brokers = Brokers::new(node.clone(), docker.clone(), work.join("sockets"), 0, ledger);
    let uid = format!("bench-{}", std::process::id());
    let socket = brokers.ensure(dockyard_testing::broker_scope(&uid, None)).unwrap();
    let raw = format!("unix://{}", node.display());
    let brokered = format!("unix://{}", socket.display());

    // Latency: the CLI's round trips, alternating raw and brokered.
    let (mut raw_ms, mut broker_ms) = (Vec::new(), Vec::new());
    for _ in 0..LATENCY_RUNS {
        for (host, into) in [(&raw, &mut raw_ms), (&brokered, &mut broker_ms)] {
            let t = docker_cli(host, &["version"]) + docker_cli(host, &["ps"]);
            into.push(t.as_secs_f64() * 1000.0);
        }
    }
    let (raw_latency, broker_latency) = (median(raw_ms), median(broker_ms));
    let latency_ratio = broker_latency / raw_latency;
    println!(
        "latency: docker version + docker ps: raw {raw_latency:.1} ms, broker {broker_latency:.1} ms (median of {LATENCY_RUNS})"
    );

    // Throughput: a 1 GiB build context streamed to the daemon.
    let context = work.join("context");
    std::fs::create_dir_all(&context).unwrap();
    std::fs::write(context.join("Dockerfile"), format!("FROM {IMAGE}\nLABEL bench=context\n")).unwrap();
    let status = Command::new("dd")
        .args([
            "if=/dev/urandom",
            &format!("of={}", context.join("blob").display()),
            "bs=1M",
            "count=1024",
            "status=none",
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let (mut raw_s, mut broker_s) = (Vec::new(), Vec::new());
    let ctx = context.to_str().unwrap();
    for _ in 0..ROUNDS {
        // One tag each: the broker lets a sandbox name only its own images.
        for (host, tag, into) in [(&raw, "raw", &mut raw_s), (&brokered, "broker", &mut broker_s)] {
            let t = docker_cli(host, &["build", "-q", "-t", &format!("{uid}-ctx-{tag}"), ctx]);
            into.push(t.as_secs_f64());
        }
    }
    let (raw_build, broker_build) = (median(raw_s), median(broker_s));
    let throughput_ratio = raw_build / broker_build;
    println!("throughput: 1 GiB build context: raw {raw_build:.2} s, broker {broker_build:.2} s (median of {ROUNDS})");
    for tag in ["raw", "broker"] {
        let image = format!("{uid}-ctx-{tag}");
        Command::new("docker").args(["rmi", "-f", &image]).env("DOCKER_HOST", &raw).output().unwrap();
    }

    // Cleanup of 100 running containers: the agent's cleanup vs `docker rm -f`.
    let (mut agent_s, mut rm_s) = (Vec::new(), Vec::new());
    for round in 0..CLEANUP_ROUNDS {
        let ids = running_containers(&docker, &format!("{uid}-rm{round}")).await;
        let started = Instant::now();
        let out = Command::new("docker").arg("rm").arg("-f").args(&ids).env("DOCKER_HOST", &raw).output().unwrap();
        assert!(out.status.success());
        rm_s.push(started.elapsed().as_secs_f64());

        let target = format!("{uid}-agent{round}");
        running_containers(&docker, &target).await;
        let started = Instant::now();
        // As the agent does: a call the daemon did not answer in time (a busy
        // node) fails the cleanup, which is idempotent and tried again.
        loop {
            match cleanup(&docker, &target, 5).await {
                Ok(_) => break,
                Err(e @ bollard::errors::Error::RequestTimeoutError) => eprintln!("cleanup round {round}: {e}; again"),
                Err(e) => panic!("cleanup round {round}: {e}"),
            }
        }
        agent_s.push(started.elapsed().as_secs_f64());
        assert!(list(&docker, &target).await.unwrap().containers.is_empty(), "cleanup round {round} left containers");
    }
    let (rm_median, agent_median) = (median(rm_s), median(agent_s));
    let cleanup_ratio = agent_median / rm_median;
    println!(
        "cleanup of {CONTAINERS} running containers: docker rm -f {rm_median:.2} s, agent (stop, then remove) {agent_median:.2} s (median of {CLEANUP_ROUNDS})"
    );

    let rss = idle_rss_mib(&work);
    brokers.remove(&uid).unwrap();
    std::fs::remove_dir_all(&work).unwrap();
    let rss_text = rss.map(|r| format!("{r:.1}")).unwrap_or_else(|| "unmeasured".into());
    let line = format!(
        "BENCH agent latency_ratio={latency_ratio:.2} throughput_ratio={throughput_ratio:.2} cleanup_ratio={cleanup_ratio:.2} idle_rss_mib={rss_text}"
    );
    println!("{line}");
    if std::env::var("DOCKYARD_BENCH_RECORD").as_deref() == Ok("1") {
        use std::io::Write;
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/benchmarks.md");
        let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
        let date = k8s_openapi::jiff::Timestamp::now().strftime("%Y-%m-%d");
        writeln!(
            file,
            "\n- {date} — `cargo bench -p dockyard-agent --bench broker` against the node's dockerd: the Docker CLI"
        )
        .unwrap();
        writeln!(file, "  through a broker socket vs the raw socket, alternating: `docker version` + `docker ps` (median of {LATENCY_RUNS}: raw {raw_latency:.1} ms,").unwrap();
        writeln!(file, "  broker {broker_latency:.1} ms); `docker build` of a 1 GiB context (median of {ROUNDS}: raw {raw_build:.2} s, broker {broker_build:.2} s);").unwrap();
        writeln!(file, "  cleanup of {CONTAINERS} running containers by the agent (SIGTERM, then remove) vs `docker rm -f` (median of {ROUNDS}:").unwrap();
        writeln!(
            file,
            "  {agent_median:.2} s vs {rm_median:.2} s); idle RSS (VmRSS) of the release agent binary 5 s after start."
        )
        .unwrap();
        writeln!(file, "  `{line}`").unwrap();
    }
}
