//! Scale benchmark of the controller against the real API server of the e2e
//! cluster (`e2e/cluster up --profile control-plane`) with kwok nodes.
//!
//! For N sandboxes (1,000, then 5,000), four phases, each in its own namespace
//! on a quiet API server, each timed by the same observer (a watch of Pods and
//! one of Sandboxes) until every Pod exists and every Sandbox has a status:
//! - **controller**: the `dockyard-controller` binary runs as its own process
//!   while the benchmark creates the N Sandboxes; the clock starts with the
//!   first creation. Its peak RSS is the process's VmHWM.
//! - **floor**: a plain client doing the same by hand: for each Sandbox it
//!   creates the Sandbox, applies its Pod (rendered the same way) and writes
//!   the status the controller writes first, with the controller's concurrency.
//! - **catch-up**: the N Sandboxes exist first; the clock runs from starting
//!   the controller (start, list, cache sync included) to the last Pod and
//!   status.
//! - **catch-up floor**: the N Sandboxes exist first; a plain client applies
//!   the N Pods and writes the N statuses.
//!
//! The literal floor ("create the same pods and patch the statuses")
//! is the catch-up floor; the controller phase also creates the Sandboxes,
//! which on a CPU-bound API server costs half as much again as the floor's
//! whole work, so its ratio is taken against a floor that creates them too.
//! Both pairs are reported.
//!
//! At 1,000 it runs three rounds (phases in the order above) and takes medians;
//! at 5,000 one round. Ends with
//! `BENCH controller sandboxes=1000 seconds=<s> floor_seconds=<s> ratio=<x> rss_mib=<m> ...`
//! (and a line for 5,000), appended to docs/benchmarks.md when
//! `DOCKYARD_BENCH_RECORD=1`.
//!
//! Run: `cargo bench -p dockyard-controller --bench scale`

use std::collections::HashSet;
use std::time::{Duration, Instant};

mod common;

use common::*;
use dockyard_api::Sandbox;
use dockyard_api::labels::FIELD_MANAGER;
use dockyard_api::render::{RenderSettings, render_pod};
use dockyard_controller::status::{Drift, Observation, sandbox_status};
use dockyard_testing::TestCluster;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::watcher::{self, Event, watcher};
use kube::{Api, Client, ResourceExt};
use serde_json::json;

const CONCURRENCY: usize = 32;
const METRICS_ADDR: &str = "127.0.0.1:18080";

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

/// Runs `jobs` CONCURRENCY at a time; a failed request fails the benchmark.
async fn run_all<F>(jobs: impl futures::Stream<Item = F>, what: &str)
where
    F: std::future::Future<Output = Result<(), kube::Error>>,
{
    jobs.buffer_unordered(CONCURRENCY).try_collect::<()>().await.unwrap_or_else(|e| panic!("{what}: {e}"));
}

async fn create_sandboxes(api: &Api<Sandbox>, n: usize) {
    let jobs = stream::iter(0..n).map(|i| {
        let api = api.clone();
        async move { api.create(&PostParams::default(), &sandbox(i)).await.map(|_| ()) }
    });
    run_all(jobs, "create Sandboxes").await;
}

/// A watch of one namespace's Pods and one of its Sandboxes, both listed
/// (established) before the clock starts.
struct Completion {
    pods: BoxStream<'static, Result<Event<Pod>, watcher::Error>>,
    sandboxes: BoxStream<'static, Result<Event<Sandbox>, watcher::Error>>,
}

impl Completion {
    async fn start(client: &Client, ns: &str) -> Self {
        async fn listed<K: Send + 'static>(
            mut events: BoxStream<'static, Result<Event<K>, watcher::Error>>,
        ) -> BoxStream<'static, Result<Event<K>, watcher::Error>> {
            while let Some(event) = events.next().await {
                if let Ok(Event::InitDone) = event {
                    return events;
                }
            }
            panic!("watch ended before its initial list");
        }
        let config = watcher::Config::default;
        let pods = watcher(Api::<Pod>::namespaced(client.clone(), ns), config()).boxed();
        let sandboxes = watcher(Api::<Sandbox>::namespaced(client.clone(), ns), config()).boxed();
        Completion { pods: listed(pods).await, sandboxes: listed(sandboxes).await }
    }

    /// Until `n` Pods exist and `n` Sandboxes have a status phase.
    async fn wait(mut self, n: usize) {
        let (mut with_pod, mut with_status) = (HashSet::new(), HashSet::new());
        while with_pod.len() < n || with_status.len() < n {
            tokio::select! {
                Some(event) = self.pods.next() => {
                    if let Ok(Event::Apply(pod)) = event { with_pod.insert(pod.name_any()); }
                }
                Some(event) = self.sandboxes.next() => {
                    if let Ok(Event::Apply(s)) = event
                        && s.status.as_ref().is_some_and(|st| st.phase.is_some())
                    {
                        with_status.insert(s.name_any());
                    }
                }
            }
        }
    }
}

/// The plain client's work for one existing Sandbox: apply its Pod, write the
/// status the controller writes first (the same fields, the same size).
async fn pod_and_status(sandbox: Sandbox, pods: Api<Pod>, sandboxes: Api<Sandbox>) -> Result<(), kube::Error> {
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let pod = render_pod(&sandbox, None, &RenderSettings::default()).expect("render");
    let pod = pods.patch(&pod.name_any(), &params, &Patch::Apply(&pod)).await?;
    let (status, _) = sandbox_status(&sandbox, &Observation::Running(Some(&pod), Drift::NONE), Timestamp::now());
    let status = json!({"apiVersion": "dockyard.dev/v1alpha1", "kind": "Sandbox", "status": status});
    sandboxes.patch_status(&sandbox.name_any(), &params, &Patch::Apply(&status)).await.map(|_| ())
}

/// Who turns Sandboxes into Pods and statuses.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Worker {
    Controller,
    PlainClient,
}

/// When the Sandboxes are created.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Sandboxes {
    /// Inside the clock, while the worker runs.
    CreatedInside,
    /// Before the clock (catch-up).
    Existing,
}

/// What one phase measured.
struct Measured {
    seconds: f64,
    /// Requests the API server served on the clock (everyone's).
    requests: f64,
    /// The controller's peak RSS in MiB.
    rss_mib: Option<f64>,
}

/// One phase in namespace `ns`.
async fn phase(client: &Client, ns: &str, n: usize, worker: Worker, when: Sandboxes) -> Measured {
    quiesce(client).await;
    namespace(client, ns).await;
    let sandboxes: Api<Sandbox> = Api::namespaced(client.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let existing = match when {
        Sandboxes::Existing => {
            create_sandboxes(&sandboxes, n).await;
            sandboxes.list(&Default::default()).await.expect("list Sandboxes").items
        }
        Sandboxes::CreatedInside => Vec::new(),
    };
    let completion = Completion::start(client, ns).await;
    let mut controller = None;
    if worker == Worker::Controller && when == Sandboxes::CreatedInside {
        let mut child = start_controller(METRICS_ADDR, CONCURRENCY);
        controller_ready(&mut child, METRICS_ADDR).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        controller = Some(child);
    }

    let requests_before = requests_served(client).await;
    let started = Instant::now();
    let work = async {
        match (worker, when) {
            (Worker::Controller, Sandboxes::CreatedInside) => create_sandboxes(&sandboxes, n).await,
            // The controller catches up on its own; its start is on the clock.
            (Worker::Controller, Sandboxes::Existing) => controller = Some(start_controller(METRICS_ADDR, CONCURRENCY)),
            (Worker::PlainClient, Sandboxes::CreatedInside) => {
                let jobs = stream::iter(0..n).map(|i| {
                    let (pods, sandboxes) = (pods.clone(), sandboxes.clone());
                    async move {
                        let created = sandboxes.create(&PostParams::default(), &sandbox(i)).await?;
                        pod_and_status(created, pods, sandboxes).await
                    }
                });
                run_all(jobs, "plain client").await;
            }
            (Worker::PlainClient, Sandboxes::Existing) => {
                let jobs = stream::iter(existing).map(|s| pod_and_status(s, pods.clone(), sandboxes.clone()));
                run_all(jobs, "plain client").await;
            }
        }
    };
    tokio::join!(work, completion.wait(n));
    let seconds = started.elapsed().as_secs_f64();
    let served = served_between(&requests_before, &requests_served(client).await);
    if std::env::var_os("DOCKYARD_BENCH_VERBOSE").is_some() {
        let top: Vec<String> = served.iter().take(12).map(|(k, v)| format!("{k}={v:.0}")).collect();
        eprintln!("{ns} {worker:?} {when:?}: {:.2}s, {}", seconds, top.join(", "));
    }
    let requests = served.iter().map(|(_, v)| v).sum();

    let rss_mib = controller.map(|mut child| {
        let rss = peak_rss_mib(&child);
        let _ = child.kill();
        let _ = child.wait();
        rss
    });
    drop_namespace(client, ns).await;
    Measured { seconds, requests, rss_mib }
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
    let phases = [
        ("controller", Worker::Controller, Sandboxes::CreatedInside),
        ("floor", Worker::PlainClient, Sandboxes::CreatedInside),
        ("catch-up", Worker::Controller, Sandboxes::Existing),
        ("catch-up floor", Worker::PlainClient, Sandboxes::Existing),
    ];
    for n in sizes {
        // DOCKYARD_BENCH_ROUNDS overrides the rounds (default 3 at 1,000 or fewer, else 1).
        let rounds = match std::env::var("DOCKYARD_BENCH_ROUNDS") {
            Ok(r) => r.parse().expect("DOCKYARD_BENCH_ROUNDS: a number"),
            Err(_) if n <= 1000 => 3,
            Err(_) => 1,
        };
        let mut seconds = vec![Vec::new(); phases.len()];
        let mut peak_rss: f64 = 0.0;
        for round in 0..rounds {
            let mut report = format!("n={n} round {round}:");
            for (i, (name, worker, when)) in phases.iter().enumerate() {
                let ns = format!("bench-{run_id}-{n}-{round}-{i}");
                let measured = phase(&client, &ns, n, *worker, *when).await;
                seconds[i].push(measured.seconds);
                peak_rss = peak_rss.max(measured.rss_mib.unwrap_or_default());
                report.push_str(&format!(" {name} {:.2}s ({:.0} requests),", measured.seconds, measured.requests));
            }
            eprintln!("{report} peak RSS {peak_rss:.1} MiB");
        }
        let [t, f, c, cf] = [0, 1, 2, 3].map(|i| median(seconds[i].clone()));
        let line = format!(
            "BENCH controller sandboxes={n} seconds={t:.2} floor_seconds={f:.2} ratio={:.2} rss_mib={peak_rss:.1} \
             catchup_seconds={c:.2} catchup_floor_seconds={cf:.2} catchup_ratio={:.2}",
            t / f,
            c / cf
        );
        println!("{line}");
        lines.push(line);
    }
    let mut entry = format!(
        "`cargo bench -p dockyard-controller --bench scale` against the control-plane profile with \
             {KWOK_NODES} kwok nodes,\n  each phase in its own namespace on a quiet API server, timed by the same Pod and \
             Sandbox watches until every Pod\n  exists and every Sandbox has a status: the controller binary (concurrency \
             {CONCURRENCY}) while N Sandboxes are created, vs. a\n  plain client creating each Sandbox, applying its Pod \
             and writing the controller's first status (same concurrency); catch-up:\n  the Sandboxes exist first, the \
             clock runs from starting the controller, vs. a plain client applying the Pods and writing\n  the statuses (the \
             issue's literal floor). Medians of 3 rounds at 1,000, one at 5,000; RSS is the controller's peak (VmHWM)."
    );
    for line in &lines {
        entry.push_str(&format!("\n  `{line}`"));
    }
    record_benchmark(&entry);
}
