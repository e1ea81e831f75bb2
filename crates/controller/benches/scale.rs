//! Scale benchmark of the controller against the real API server of the e2e
//! cluster (`e2e/cluster up --profile control-plane`) with kwok nodes.
//!
//! For N sandboxes (1,000, then 5,000) it measures:
//! - **controller**: the `dockyard-controller` binary runs as its own process;
//!   the clock starts when the benchmark starts creating N Sandboxes and stops
//!   when every Pod exists and every Sandbox has a status. Its peak RSS is the
//!   process's VmHWM.
//! - **floor**: a plain client creating the same N Pods (rendered the same way)
//!   and writing N Sandbox statuses, with the controller's concurrency, on the
//!   same API server in the same run (the Sandboxes already exist).
//!
//! - **catch-up**: the same N Sandboxes created first, then the controller
//!   started; the clock runs from its start to the last Pod and status: the
//!   floor's work done by the controller (the measure above also
//!   counts creating the N Sandboxes, which the floor does not).
//!
//! At 1,000 it alternates floor and controller three times and takes medians;
//! at 5,000 it runs each once. Ends with
//! `BENCH controller sandboxes=1000 seconds=<s> floor_seconds=<s> ratio=<x> rss_mib=<m>`
//! (and a second line for 5,000), appended to docs/benchmarks.md when
//! `DOCKYARD_BENCH_RECORD=1`.
//!
//! Run: `cargo bench -p dockyard-controller --bench scale`

use std::collections::HashSet;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use dockyard_api::Sandbox;
use dockyard_api::labels::FIELD_MANAGER;
use dockyard_api::render::{RenderSettings, render_pod};
use dockyard_testing::TestCluster;
use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use serde_json::json;

const CONCURRENCY: usize = 32;
const KWOK_NODES: usize = 4;

fn sandbox(i: usize) -> Sandbox {
    serde_json::from_value(json!({
        "apiVersion": "dockyard.dev/v1alpha1", "kind": "Sandbox",
        "metadata": {"name": format!("s{i}")},
        "spec": {"image": "dockyard-sandbox:latest", "pod": {
            "nodeSelector": {"type": "kwok"},
            "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}],
        }},
    }))
    .unwrap()
}

async fn ensure_kwok_nodes(client: &Client) {
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

async fn namespace(client: &Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace =
        serde_json::from_value(json!({"metadata": {"name": name, "labels": {"dockyard.dev/test": "bench"}}})).unwrap();
    api.create(&PostParams::default(), &ns).await.expect("namespace");
}

/// Deletes a namespace and waits until it is gone, so the next phase starts on
/// a quiet API server.
async fn drop_namespace(client: &Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let _ = api.delete(name, &DeleteParams::background()).await;
    let deadline = Instant::now() + Duration::from_secs(300);
    while api.get_opt(name).await.ok().flatten().is_some() {
        assert!(Instant::now() < deadline, "namespace {name} was not deleted within 5 minutes");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn create_sandboxes(api: &Api<Sandbox>, n: usize) {
    stream::iter(0..n)
        .map(|i| {
            let api = api.clone();
            async move { api.create(&PostParams::default(), &sandbox(i)).await.map(|_| ()) }
        })
        .buffer_unordered(CONCURRENCY)
        .collect_ok()
        .await;
}

/// Creates N pods and writes N sandbox statuses the plain way; returns seconds.
async fn floor(client: &Client, ns: &str, n: usize) -> f64 {
    namespace(client, ns).await;
    let sandboxes: Api<Sandbox> = Api::namespaced(client.clone(), ns);
    create_sandboxes(&sandboxes, n).await;
    let stored: Vec<Sandbox> = sandboxes.list(&Default::default()).await.unwrap().items;
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let settings = RenderSettings::default();
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let started = Instant::now();
    stream::iter(stored)
        .map(|s| {
            let (pods, sandboxes, params, settings) =
                (pods.clone(), sandboxes.clone(), params.clone(), settings.clone());
            async move {
                let pod = render_pod(&s, None, &settings).unwrap();
                pods.patch(&pod.name_any(), &params, &Patch::Apply(&pod)).await?;
                let status = json!({"apiVersion": "dockyard.dev/v1alpha1", "kind": "Sandbox",
                    "status": {"phase": "Pending", "observedGeneration": s.metadata.generation}});
                sandboxes.patch_status(&s.name_any(), &params, &Patch::Apply(&status)).await.map(|_| ())
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect_ok()
        .await;
    let took = started.elapsed().as_secs_f64();
    drop_namespace(client, ns).await;
    took
}

/// Peak resident memory of a process, in MiB.
fn peak_rss_mib(child: &Child) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// How the controller meets its N sandboxes.
#[derive(Clone, Copy, PartialEq)]
enum Start {
    /// Running, while the benchmark creates them (the measure).
    Running,
    /// Started after they exist: the clock runs from its start (its initial
    /// list and sync included) to the last Pod and status — the same work as
    /// the floor, done by the controller.
    CatchUp,
}

/// N sandboxes through the controller; returns (seconds, peak RSS MiB).
async fn controller(client: &Client, ns: &str, n: usize, start: Start) -> (f64, f64) {
    namespace(client, ns).await;
    let sandboxes: Api<Sandbox> = Api::namespaced(client.clone(), ns);
    if start == Start::CatchUp {
        create_sandboxes(&sandboxes, n).await;
    }
    let spawned = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_dockyard-controller"))
        .args(["--metrics-addr", "127.0.0.1:18080", "--concurrency", &CONCURRENCY.to_string(), "--log", "warn"])
        .env(
            "KUBECONFIG",
            std::env::var_os("KUBECONFIG")
                .unwrap_or_else(|| dockyard_testing::state_dir().join("admin.kubeconfig").into()),
        )
        .spawn()
        .expect("start dockyard-controller");
    // Started and synced: /readyz answers.
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect("127.0.0.1:18080").is_err() {
        assert!(Instant::now() < deadline, "the controller did not start");
        assert!(child.try_wait().unwrap().is_none(), "the controller exited at start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if start == Start::Running {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let pods_seen = watcher(pods, watcher::Config::default()).applied_objects();
    let statuses_seen = watcher(sandboxes.clone(), watcher::Config::default()).applied_objects();
    let done = async {
        let mut pods_seen = std::pin::pin!(pods_seen);
        let mut statuses_seen = std::pin::pin!(statuses_seen);
        let (mut with_pod, mut with_status) = (HashSet::new(), HashSet::new());
        while with_pod.len() < n || with_status.len() < n {
            tokio::select! {
                Some(Ok(pod)) = pods_seen.next() => { with_pod.insert(pod.name_any()); }
                Some(Ok(s)) = statuses_seen.next() => {
                    if s.status.as_ref().is_some_and(|st| st.phase.is_some()) { with_status.insert(s.name_any()); }
                }
            }
        }
    };
    let took = match start {
        Start::Running => {
            let started = Instant::now();
            let (_, ()) = tokio::join!(create_sandboxes(&sandboxes, n), done);
            started.elapsed().as_secs_f64()
        }
        Start::CatchUp => {
            done.await;
            spawned.elapsed().as_secs_f64()
        }
    };
    let rss = peak_rss_mib(&child);
    let _ = child.kill();
    let _ = child.wait();
    drop_namespace(client, ns).await;
    (took, rss)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let m = v.len() / 2;
    if v.len().is_multiple_of(2) { (v[m - 1] + v[m]) / 2.0 } else { v[m] }
}

trait TryCollectOk {
    async fn collect_ok(self);
}

impl<S: futures::Stream<Item = Result<(), kube::Error>>> TryCollectOk for S {
    async fn collect_ok(self) {
        let mut s = std::pin::pin!(self);
        while let Some(r) = s.next().await {
            r.expect("API request");
        }
    }
}

#[tokio::main]
async fn main() {
    let cluster = TestCluster::connect().await.expect("start the cluster: e2e/cluster up --profile control-plane");
    cluster.install_crds().await.unwrap();
    let client = cluster.client.clone();
    ensure_kwok_nodes(&client).await;
    let run_id = std::process::id();
    let mut lines = Vec::new();
    // DOCKYARD_BENCH_SIZES picks the sizes, e.g. "1000" (default "1000,5000").
    let sizes = std::env::var("DOCKYARD_BENCH_SIZES").unwrap_or_else(|_| "1000,5000".into());
    let sizes: Vec<usize> =
        sizes.split(',').map(|s| s.trim().parse().expect("DOCKYARD_BENCH_SIZES: numbers")).collect();
    for n in sizes {
        let rounds = if n <= 1000 { 3 } else { 1 };
        let (mut floors, mut times, mut catch_ups, mut rss) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for round in 0..rounds {
            let f = floor(&client, &format!("bench-floor-{run_id}-{n}-{round}"), n).await;
            let (t, r) = controller(&client, &format!("bench-ctl-{run_id}-{n}-{round}"), n, Start::Running).await;
            let (c, r2) = controller(&client, &format!("bench-cu-{run_id}-{n}-{round}"), n, Start::CatchUp).await;
            eprintln!(
                "n={n} round {round}: floor {f:.2}s, controller {t:.2}s (catching up: {c:.2}s), peak RSS {:.1} MiB",
                r.max(r2)
            );
            floors.push(f);
            times.push(t);
            catch_ups.push(c);
            rss.extend([r, r2]);
        }
        let (f, t, c) = (median(floors), median(times), median(catch_ups));
        let peak = rss.iter().cloned().fold(0.0, f64::max);
        let line = format!(
            "BENCH controller sandboxes={n} seconds={t:.2} floor_seconds={f:.2} ratio={:.2} rss_mib={peak:.1} \
             catchup_seconds={c:.2} catchup_ratio={:.2}",
            t / f,
            c / f
        );
        println!("{line}");
        lines.push(line);
    }
    if std::env::var("DOCKYARD_BENCH_RECORD").as_deref() == Ok("1") {
        use std::io::Write;
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/benchmarks.md");
        let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
        let date = k8s_openapi::jiff::Timestamp::now().strftime("%Y-%m-%d");
        writeln!(file, "\n- {date} — `cargo bench -p dockyard-controller --bench scale` against the control-plane profile with {KWOK_NODES} kwok nodes:").unwrap();
        writeln!(file, "  the controller binary (concurrency {CONCURRENCY}) from the start of creating N Sandboxes until every Pod exists and every").unwrap();
        writeln!(file, "  Sandbox has a status, vs. a plain client creating the same Pods and writing N statuses (concurrency {CONCURRENCY});").unwrap();
        writeln!(file, "  catchup: the same N Sandboxes created first, the clock from starting the controller (start, list, sync included)").unwrap();
        writeln!(file, "  to the last Pod and status — the floor's work, done by the controller. Medians of 3 alternating rounds at 1,000,").unwrap();
        writeln!(file, "  one round at 5,000; RSS is the controller's peak (VmHWM) over both runs.").unwrap();
        for line in &lines {
            writeln!(file, "  `{line}`").unwrap();
        }
    }
}
