#![allow(dead_code)] // each benchmark uses some of it
//! What the controller's benchmarks share: kwok nodes, namespaces, a quiet
//! API server, its request counts, a process's peak memory, medians.

use std::collections::BTreeMap;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Node};
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client};
use serde_json::json;

pub const KWOK_NODES: usize = 4;

pub async fn ensure_kwok_nodes(client: &Client) {
    let nodes: Api<Node> = Api::all(client.clone());
    for i in 0..KWOK_NODES {
        let node: Node = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": format!("kwok-bench-{i}"), "labels": {"type": "kwok"},
                         "annotations": {"kwok.x-k8s.io/node": "fake"}},
            "spec": {"taints": [{"key": "kwok.x-k8s.io/node", "value": "fake", "effect": "NoSchedule"}]},
            "status": {"allocatable": {"cpu": "1000", "memory": "4Ti", "pods": "3000"},
                       "capacity": {"cpu": "1000", "memory": "4Ti", "pods": "3000"}},
        }))
        .unwrap();
        match nodes.create(&PostParams::default(), &node).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => panic!("cannot create kwok node: {e}"),
        }
    }
}

pub async fn namespace(client: &Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace =
        serde_json::from_value(json!({"metadata": {"name": name, "labels": {"dockyard.dev/test": "bench"}}})).unwrap();
    api.create(&PostParams::default(), &ns).await.expect("namespace");
}

/// Deletes a namespace and waits until it is gone.
pub async fn drop_namespace(client: &Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let _ = api.delete(name, &DeleteParams::background()).await;
    let deadline = Instant::now() + Duration::from_secs(300);
    while api.get_opt(name).await.ok().flatten().is_some() {
        assert!(Instant::now() < deadline, "namespace {name} was not deleted within 5 minutes");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Requests the API server has served so far by verb, group, resource,
/// subresource and code (its `apiserver_request_total`), keyed
/// `VERB group/resource[/subresource] CODE` (the core group is empty).
pub async fn requests_served(client: &Client) -> BTreeMap<String, f64> {
    let text = apiserver_metrics(client).await;
    let mut served = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with("apiserver_request_total{")) {
        let Some((labels, value)) = line.rsplit_once(' ') else { continue };
        let label = |name: &str| {
            let start = labels.find(&format!("{name}=\"")).map(|i| i + name.len() + 2)?;
            labels[start..].split('"').next()
        };
        let (verb, group, resource, code) = (label("verb"), label("group"), label("resource"), label("code"));
        let subresource = label("subresource").filter(|s| !s.is_empty()).map(|s| format!("/{s}"));
        let key = format!(
            "{} {}/{}{} {}",
            verb.unwrap_or_default(),
            group.unwrap_or_default(),
            resource.unwrap_or_default(),
            subresource.unwrap_or_default(),
            code.unwrap_or_default()
        );
        *served.entry(key).or_default() += value.parse::<f64>().unwrap_or_default();
    }
    served
}

/// The writes among `served` (`served_between`'s keys) a controller could
/// have made: creates, updates, patches, applies and deletes, except leases
/// (the control plane's heartbeats, which depend only on how long the clock
/// ran) and the kubelet's and scheduler's own subresources (a Pod's status
/// and binding, which kwok sometimes retries).
pub fn writes(served: &[(String, f64)]) -> f64 {
    let write = |key: &str| {
        let verb = key.split(' ').next().unwrap_or_default();
        matches!(verb, "POST" | "PUT" | "PATCH" | "APPLY" | "DELETE" | "DELETECOLLECTION")
            && ![" coordination.k8s.io/leases ", " /pods/status ", " /pods/binding "].iter().any(|r| key.contains(r))
    };
    served.iter().filter(|(k, _)| write(k)).map(|(_, v)| v).sum()
}

pub fn total(served: &BTreeMap<String, f64>) -> f64 {
    served.values().sum()
}

/// The requests in `after` that were not in `before`, most first.
pub fn served_between(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>) -> Vec<(String, f64)> {
    let mut delta: Vec<(String, f64)> = after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or_default()))
        .filter(|(_, v)| *v > 0.0)
        .collect();
    delta.sort_by(|a, b| b.1.total_cmp(&a.1));
    delta
}

/// Waits until the API server is quiet (fewer than 40 requests in each of two
/// consecutive seconds; the control plane's own idle traffic is about 25), so
/// the scheduler and kwok finishing off the previous phase's Pods do not
/// weigh on the next one. Gives up after 3 minutes.
pub async fn quiesce(client: &Client) {
    let deadline = Instant::now() + Duration::from_secs(180);
    let (mut last, mut quiet) = (total(&requests_served(client).await), 0);
    while quiet < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = total(&requests_served(client).await);
        quiet = if now - last < 40.0 { quiet + 1 } else { 0 };
        last = now;
    }
    if quiet < 2 {
        eprintln!("warning: the API server did not go quiet within 3 minutes");
    }
}

/// Peak resident memory of a process, in MiB.
pub fn peak_rss_mib(child: &Child) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let m = v.len() / 2;
    if v.len().is_multiple_of(2) { (v[m - 1] + v[m]) / 2.0 } else { v[m] }
}

/// Starts the `dockyard-controller` binary with its HTTP port on `addr`.
pub fn start_controller(addr: &str, concurrency: usize) -> Child {
    // `DOCKYARD_BENCH_CONTROLLER_LOG` (a `--log` filter, e.g.
    // `warn,dockyard_controller=info`) shows what the controller did when.
    let log = std::env::var("DOCKYARD_BENCH_CONTROLLER_LOG").unwrap_or_else(|_| "warn".into());
    Command::new(env!("CARGO_BIN_EXE_dockyard-controller"))
        .args(["--metrics-addr", addr, "--concurrency", &concurrency.to_string(), "--log", &log])
        .env("KUBECONFIG", dockyard_testing::kubeconfig())
        .spawn()
        .expect("start dockyard-controller")
}

/// Waits until the controller's HTTP port (/metrics, /readyz) accepts connections.
pub async fn controller_ready(child: &mut Child, addr: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "the controller did not start");
        assert!(child.try_wait().unwrap().is_none(), "the controller exited at start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Appends `entry` (its first line after "- <date> — ", the rest indented
/// by the caller) to docs/benchmarks.md when `DOCKYARD_BENCH_RECORD=1`.
pub fn record_benchmark(entry: &str) {
    if std::env::var("DOCKYARD_BENCH_RECORD").as_deref() != Ok("1") {
        return;
    }
    use std::io::Write;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/benchmarks.md");
    let mut file = std::fs::OpenOptions::new().append(true).open(path).expect("open docs/benchmarks.md");
    let date = k8s_openapi::jiff::Timestamp::now().strftime("%Y-%m-%d");
    writeln!(file, "\n- {date} — {entry}").expect("append to docs/benchmarks.md");
}

/// The API server's `/metrics`, as text.
async fn apiserver_metrics(client: &Client) -> String {
    let request = http::Request::get("/metrics").body(Vec::new()).unwrap();
    client.request_text(request).await.expect("API server /metrics")
}

/// CPU seconds the API server has used so far (its `process_cpu_seconds_total`).
pub async fn apiserver_cpu_seconds(client: &Client) -> f64 {
    apiserver_metrics(client)
        .await
        .lines()
        .find_map(|l| l.strip_prefix("process_cpu_seconds_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("process_cpu_seconds_total in the API server's /metrics")
}

/// CPU seconds (user and system) process `pid` has used so far.
pub fn process_cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command (which may hold spaces), from field 3 on.
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks: f64 = [11, 12].iter().filter_map(|&i| fields.get(i)?.parse::<f64>().ok()).sum();
    ticks / 100.0
}
