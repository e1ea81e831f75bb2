//! Scale benchmark of the controller against the real API server of the e2e
//! cluster (`e2e/cluster up --profile control-plane`) with kwok nodes, side
//! by side with the peer controller `sigs.k8s.io/agent-sandbox` (issue 21).
//!
//! For N sandboxes (1,000, then 5,000), three phases, one controller at a
//! time, each in its own namespace on a quiet API server. In each, the bench
//! creates N sandboxes (32 at a time) while the worker runs, and the clock
//! runs from the first creation until a watch of the namespace's sandboxes
//! has seen every one `Ready=True`:
//! - **dockyard**: the `dockyard-controller` binary, as its own process; N
//!   Sandboxes of mode `none` (one container, image `dockyard-sandbox:latest`,
//!   no resources, on the kwok nodes). Its peak RSS is the process's VmHWM.
//! - **floor**: a minimal client in this process making exactly the writes a
//!   correct controller must make for a Sandbox to be Ready and visible, with
//!   the controller's watches (Sandboxes, and Pods by the controller's label,
//!   cluster-wide): for each Sandbox it sees, its Pod (rendered as the
//!   controller renders it); for each of those Pods the kubelet (kwok) reports
//!   Ready, one status write (the controller's whole Ready status) and the one
//!   event the docs promise (`Ready`). Three writes per sandbox, counted by it.
//! - **peer**: the `agent-sandbox-controller` binary v0.5.6 (built from its Go
//!   module by `e2e/lib/build-tools.sh agent_sandbox`, found in
//!   `$DOCKYARD_PEER_BIN_DIR`), webhook off, its Sandbox CRD with conversion
//!   None, as shipped otherwise; N of its Sandboxes with the same container,
//!   image and scheduling. Ready is its `Ready=True` condition.
//!
//! Requests per sandbox come from the API server's `apiserver_request_total`:
//! the writes (creates, patches, applies, updates, deletes; not leases) it
//! served on the clock, less what the other writers make for the same N
//! sandboxes (the bench's creates, the scheduler's bindings and events, kwok's
//! Pod statuses), which is the floor phase's writes less the floor's own.
//!
//! At 1,000 it runs three rounds (phases in the order above) and takes
//! medians (RSS: the peak); at 5,000 one round. Ends with
//! `BENCH controller sandboxes=1000 ready_seconds=… peer_ready_seconds=… peer_ratio=… floor_seconds=… ratio=…
//! rss_mib=… peer_rss_mib=… requests_per_sandbox=…` (and a line for 5,000),
//! appended to docs/benchmarks.md when `DOCKYARD_BENCH_RECORD=1`.
//!
//! Run: `scripts/bench` (builds the peer), or `cargo bench -p dockyard-controller --bench scale`.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

use common::*;
use dockyard_api::Sandbox;
use dockyard_api::render::{RenderSettings, render_pod};
use dockyard_controller::MANAGED_SELECTOR;
use dockyard_controller::reconcile::ready_event;
use dockyard_controller::status::{Drift, Observation, apply_status, pod_condition, sandbox_status};
use dockyard_testing::TestCluster;
use futures::stream::{BoxStream, FuturesUnordered};
use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::wait::{await_condition, conditions};
use kube::runtime::watcher::{self, Event, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

const CONCURRENCY: usize = 32;
const METRICS_ADDR: &str = "127.0.0.1:18080";
const PEER_VERSION: &str = "v0.5.6";

/// Where a kwok node takes a Pod: both sides' Pods ask for this.
fn kwok_scheduling() -> serde_json::Value {
    json!({
        "nodeSelector": {"type": "kwok"},
        "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}],
    })
}

fn sandbox(i: usize) -> DynamicObject {
    let pod = kwok_scheduling();
    serde_json::from_value(json!({
        "apiVersion": "dockyard.dev/v1alpha1", "kind": "Sandbox",
        "metadata": {"name": format!("s{i}")},
        "spec": {"image": "dockyard-sandbox:latest", "docker": {"mode": "none"}, "pod": pod},
    }))
    .unwrap()
}

fn peer_sandbox(i: usize) -> DynamicObject {
    let mut spec = kwok_scheduling();
    spec["containers"] = json!([{"name": "workload", "image": "dockyard-sandbox:latest"}]);
    serde_json::from_value(json!({
        "apiVersion": "agents.x-k8s.io/v1beta1", "kind": "Sandbox",
        "metadata": {"name": format!("s{i}")},
        "spec": {"podTemplate": {"spec": spec}},
    }))
    .unwrap()
}

fn dockyard_resource() -> ApiResource {
    ApiResource::erase::<Sandbox>(&())
}

fn peer_resource() -> ApiResource {
    ApiResource {
        group: "agents.x-k8s.io".into(),
        version: "v1beta1".into(),
        api_version: "agents.x-k8s.io/v1beta1".into(),
        kind: "Sandbox".into(),
        plural: "sandboxes".into(),
    }
}

/// Runs `jobs` CONCURRENCY at a time; a failed request fails the benchmark.
async fn run_all<F>(jobs: impl futures::Stream<Item = F>, what: &str)
where
    F: std::future::Future<Output = Result<(), kube::Error>>,
{
    jobs.buffer_unordered(CONCURRENCY).try_collect::<()>().await.unwrap_or_else(|e| panic!("{what}: {e}"));
}

async fn create_all(api: &Api<DynamicObject>, n: usize, make: fn(usize) -> DynamicObject) {
    let jobs = stream::iter(0..n).map(|i| {
        let api = api.clone();
        async move { api.create(&PostParams::default(), &make(i)).await.map(|_| ()) }
    });
    run_all(jobs, "create sandboxes").await;
}

/// Whether an object's status has the condition `Ready=True` (both kinds say so alike).
fn is_ready(object: &DynamicObject) -> bool {
    object.data["status"]["conditions"]
        .as_array()
        .is_some_and(|conditions| conditions.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

/// A watch of one namespace's sandboxes (either kind), listed (established)
/// before the clock starts.
struct ReadyWatch(BoxStream<'static, Result<Event<DynamicObject>, watcher::Error>>);

impl ReadyWatch {
    async fn start(client: &Client, ns: &str, resource: &ApiResource) -> Self {
        let api = Api::<DynamicObject>::namespaced_with(client.clone(), ns, resource);
        let mut events = watcher(api, watcher::Config::default()).boxed();
        while let Some(event) = events.next().await {
            if let Ok(Event::InitDone) = event {
                return ReadyWatch(events);
            }
        }
        panic!("watch ended before its initial list");
    }

    /// Until `n` sandboxes are Ready.
    async fn wait(mut self, n: usize) {
        let mut ready = HashSet::new();
        while ready.len() < n {
            match self.0.next().await {
                Some(Ok(Event::Apply(object))) if is_ready(&object) => {
                    ready.insert(object.name_any());
                }
                Some(_) => {}
                None => panic!("the watch of sandboxes ended"),
            }
        }
    }
}

/// The floor: the writes a correct controller must make, and no more, for
/// the Sandboxes of namespace `ns` until `n` have their Ready status. Returns
/// how many writes it made.
async fn floor(client: Client, ns: String, n: usize) -> usize {
    let watch = watcher::Config::default().any_semantic();
    let mut sandboxes = watcher(Api::<Sandbox>::all(client.clone()), watch.clone()).boxed();
    let mut pods = watcher(Api::<Pod>::all(client.clone()), watch.labels(MANAGED_SELECTOR)).boxed();
    let reporter = Reporter { controller: "dockyard-bench-floor".into(), instance: None };
    let recorder = Recorder::new(client.clone(), reporter);
    let pods_api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let sandboxes_api: Api<Sandbox> = Api::namespaced(client.clone(), &ns);
    let (mut known, mut with_pod, mut with_status) = (HashMap::new(), HashSet::new(), HashSet::new());
    let mut ready_pods: HashMap<String, Pod> = HashMap::new();
    let limit = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
    let mut jobs = FuturesUnordered::new();
    let mut writes = 0;
    while with_status.len() < n || !jobs.is_empty() {
        tokio::select! {
            Some(event) = sandboxes.next() => {
                let Ok(Event::Apply(sandbox) | Event::InitApply(sandbox)) = event else { continue };
                if sandbox.namespace().as_deref() != Some(ns.as_str()) {
                    continue;
                }
                let name = sandbox.name_any();
                known.insert(name.clone(), sandbox.clone());
                if with_pod.insert(name) {
                    let (pods, limit) = (pods_api.clone(), limit.clone());
                    jobs.push(tokio::spawn(async move {
                        let _turn = limit.acquire().await.expect("semaphore");
                        let pod = render_pod(&sandbox, None, &RenderSettings::default()).expect("render");
                        pods.create(&PostParams::default(), &pod).await.expect("floor: create Pod");
                        1
                    }));
                }
            }
            Some(event) = pods.next() => {
                let Ok(Event::Apply(pod) | Event::InitApply(pod)) = event else { continue };
                if pod.namespace().as_deref() == Some(ns.as_str()) && pod_condition(&pod, "Ready") == Some(true) {
                    ready_pods.insert(pod.name_any(), pod);
                }
            }
            Some(done) = jobs.next() => writes += done.expect("floor job"),
        }
        // A Ready Pod of a known Sandbox: its one status write, then its event.
        let ready: Vec<(Sandbox, Pod)> = ready_pods
            .iter()
            .filter_map(|(pod_name, pod)| {
                let name = pod_name.strip_prefix("sbx-")?;
                (!with_status.contains(name)).then(|| Some((known.get(name)?.clone(), pod.clone())))?
            })
            .collect();
        for (sandbox, pod) in ready {
            with_status.insert(sandbox.name_any());
            ready_pods.remove(&pod.name_any());
            let (sandboxes, recorder, limit) = (sandboxes_api.clone(), recorder.clone(), limit.clone());
            jobs.push(tokio::spawn(async move {
                let _turn = limit.acquire().await.expect("semaphore");
                let observation = Observation::Running(Some(&pod), Drift::NONE);
                let (status, _) = sandbox_status(&sandbox, &observation, Timestamp::now());
                apply_status(&sandboxes, &sandbox.name_any(), &status).await.expect("floor: status");
                recorder.publish(&ready_event(), &sandbox.object_ref(&())).await.expect("floor: event");
                2
            }));
        }
    }
    writes
}

/// The directory of the peer's binary and CRD (`e2e/lib/build-tools.sh agent_sandbox`).
fn peer_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("DOCKYARD_PEER_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("DOCKYARD_CACHE_DIR").map(PathBuf::from).unwrap_or_else(|| {
        let home = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache"));
        home.join("dockyard")
    });
    cache.join("bin").join(format!("agent-sandbox-{PEER_VERSION}"))
}

async fn install_peer_crd(client: &Client) {
    let path = peer_dir().join("sandboxes.crd.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("the peer's CRD {}: {e}; build the peer first: e2e/lib/build-tools.sh agent_sandbox", path.display())
    });
    let crd: CustomResourceDefinition = serde_yaml::from_str(&text).expect("the peer's CRD");
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let name = crd.name_any();
    crds.patch(&name, &PatchParams::apply("dockyard-bench").force(), &Patch::Apply(&crd)).await.expect("peer CRD");
    tokio::time::timeout(Duration::from_secs(60), await_condition(crds, &name, conditions::is_crd_established()))
        .await
        .expect("the peer's CRD established in time")
        .expect("the peer's CRD");
}

/// Starts the peer controller and waits until its workers run (its log says
/// "Starting workers", after its caches synced).
async fn start_peer() -> Child {
    let binary = peer_dir().join("agent-sandbox-controller");
    let mut child = Command::new(&binary)
        .args([
            "--leader-elect=false",
            "--enable-webhook=false",
            "--metrics-bind-address=127.0.0.1:18090",
            "--health-probe-bind-address=127.0.0.1:18091",
            &format!("--sandbox-concurrent-workers={CONCURRENCY}"),
        ])
        .env("KUBECONFIG", dockyard_testing::kubeconfig())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}; build it: e2e/lib/build-tools.sh agent_sandbox", binary.display()));
    let stderr = tokio::process::ChildStderr::from_std(child.stderr.take().expect("stderr")).expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let started = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.expect("the peer's log") {
            if line.contains("Starting workers") {
                return;
            }
        }
        panic!("the peer exited before its workers started");
    });
    started.await.expect("the peer's workers started within 60 s");
    // Its log is read to the end, so it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    child
}

/// Who turns sandboxes into Ready Pods.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Worker {
    Dockyard,
    Floor,
    Peer,
}

/// What one phase measured.
struct Measured {
    seconds: f64,
    /// Writes the API server served on the clock (everyone's, leases aside).
    writes: f64,
    /// The worker's own writes, where it counts them (the floor).
    own_writes: Option<usize>,
    /// The controller's peak RSS in MiB.
    rss_mib: Option<f64>,
}

/// One phase in namespace `ns`.
async fn phase(client: &Client, ns: &str, n: usize, worker: Worker) -> Measured {
    quiesce(client).await;
    namespace(client, ns).await;
    let resource = if worker == Worker::Peer { peer_resource() } else { dockyard_resource() };
    let make = if worker == Worker::Peer { peer_sandbox } else { sandbox };
    let api = Api::<DynamicObject>::namespaced_with(client.clone(), ns, &resource);
    let watch = ReadyWatch::start(client, ns, &resource).await;
    let mut process = match worker {
        Worker::Dockyard => {
            let mut child = start_controller(METRICS_ADDR, CONCURRENCY);
            controller_ready(&mut child, METRICS_ADDR).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            Some(child)
        }
        Worker::Peer => Some(start_peer().await),
        Worker::Floor => None,
    };
    let floor_task = (worker == Worker::Floor).then(|| tokio::spawn(floor(client.clone(), ns.to_string(), n)));
    if floor_task.is_some() {
        // Its watches listed, as the controllers' are before they count as started.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let requests_before = requests_served(client).await;
    let started = Instant::now();
    tokio::join!(create_all(&api, n, make), watch.wait(n));
    let seconds = started.elapsed().as_secs_f64();
    let own_writes = match floor_task {
        Some(task) => Some(task.await.expect("the floor")),
        None => None,
    };
    let served = served_between(&requests_before, &requests_served(client).await);
    if std::env::var_os("DOCKYARD_BENCH_VERBOSE").is_some() {
        let top: Vec<String> = served.iter().take(14).map(|(k, v)| format!("{k}={v:.0}")).collect();
        eprintln!("{ns} {worker:?}: {seconds:.2}s, {}", top.join(", "));
    }
    let rss_mib = process.as_mut().map(|child| {
        let rss = peak_rss_mib(child);
        let _ = child.kill();
        let _ = child.wait();
        rss
    });
    drop_namespace(client, ns).await;
    Measured { seconds, writes: writes(&served), own_writes, rss_mib }
}

#[tokio::main]
async fn main() {
    let cluster = TestCluster::connect().await.expect("start the cluster: e2e/cluster up --profile control-plane");
    cluster.install_crds().await.unwrap();
    let client = cluster.client.clone();
    install_peer_crd(&client).await;
    ensure_kwok_nodes(&client).await;
    let run_id = std::process::id();
    let (mut lines, mut rounds_run) = (Vec::new(), Vec::new());
    // DOCKYARD_BENCH_SIZES picks the sizes, e.g. "1000" (default "1000,5000").
    let sizes = std::env::var("DOCKYARD_BENCH_SIZES").unwrap_or_else(|_| "1000,5000".into());
    let sizes: Vec<usize> =
        sizes.split(',').map(|s| s.trim().parse().expect("DOCKYARD_BENCH_SIZES: numbers")).collect();
    let phases = [Worker::Dockyard, Worker::Floor, Worker::Peer];
    for n in sizes {
        // DOCKYARD_BENCH_ROUNDS overrides the rounds (default 3 at 1,000 or fewer, else 1).
        let rounds = match std::env::var("DOCKYARD_BENCH_ROUNDS") {
            Ok(r) => r.parse().expect("DOCKYARD_BENCH_ROUNDS: a number"),
            Err(_) if n <= 1000 => 3,
            Err(_) => 1,
        };
        rounds_run.push(format!("{rounds} at {n}"));
        let mut seconds: HashMap<&str, Vec<f64>> = HashMap::new();
        let (mut rss, mut peer_rss): (f64, f64) = (0.0, 0.0);
        let (mut per_sandbox, mut peer_per_sandbox) = (Vec::new(), Vec::new());
        for round in 0..rounds {
            let mut measured = HashMap::new();
            for (i, worker) in phases.iter().enumerate() {
                let ns = format!("bench-{run_id}-{n}-{round}-{i}");
                measured.insert(*worker, phase(&client, &ns, n, *worker).await);
            }
            let (dockyard, floor, peer) =
                (&measured[&Worker::Dockyard], &measured[&Worker::Floor], &measured[&Worker::Peer]);
            // What the scheduler, kwok and the bench wrote for N sandboxes.
            let others = floor.writes - floor.own_writes.unwrap_or_default() as f64;
            per_sandbox.push((dockyard.writes - others) / n as f64);
            peer_per_sandbox.push((peer.writes - others) / n as f64);
            rss = rss.max(dockyard.rss_mib.unwrap_or_default());
            peer_rss = peer_rss.max(peer.rss_mib.unwrap_or_default());
            for (name, m) in [("dockyard", dockyard), ("floor", floor), ("peer", peer)] {
                seconds.entry(name).or_default().push(m.seconds);
            }
            eprintln!(
                "n={n} round {round}: dockyard {:.2}s ({:.2} writes/sandbox, {:.1} MiB), floor {:.2}s ({} own writes), \
                 peer {:.2}s ({:.2} writes/sandbox, {:.1} MiB); others' writes {others:.0}",
                dockyard.seconds,
                per_sandbox[round],
                dockyard.rss_mib.unwrap_or_default(),
                floor.seconds,
                floor.own_writes.unwrap_or_default(),
                peer.seconds,
                peer_per_sandbox[round],
                peer.rss_mib.unwrap_or_default(),
            );
        }
        let [t, f, p] = ["dockyard", "floor", "peer"].map(|k| median(seconds[k].clone()));
        let line = format!(
            "BENCH controller sandboxes={n} ready_seconds={t:.2} peer_ready_seconds={p:.2} peer_ratio={:.2} \
             floor_seconds={f:.2} ratio={:.2} rss_mib={rss:.1} peer_rss_mib={peer_rss:.1} \
             requests_per_sandbox={:.2} peer_requests_per_sandbox={:.2}",
            t / p,
            t / f,
            median(per_sandbox),
            median(peer_per_sandbox),
        );
        println!("{line}");
        lines.push(line);
    }
    let mut entry = format!(
        "`cargo bench -p dockyard-controller --bench scale` (scripts/bench) against the control-plane profile with \
         {KWOK_NODES} kwok nodes,\n  one controller at a time, each phase in its own namespace on a quiet API server: \
         N sandboxes created {CONCURRENCY} at a time,\n  the clock from the first creation until a watch saw all N \
         Ready=True. Dockyard's controller binary (mode none: one\n  container), the floor (a minimal client with the \
         controller's watches: the Pod, one Ready status, one Ready event per\n  sandbox), the peer \
         agent-sandbox-controller {PEER_VERSION} (webhook off, conversion None, {CONCURRENCY} workers, otherwise as \
         shipped;\n  the same container, image and scheduling). Requests per sandbox: writes the API server counted \
         (leases aside) less\n  the other writers' (the floor phase's writes less the floor's own). Medians of the \
         rounds ({}); RSS is\n  each controller's peak (VmHWM).",
        rounds_run.join(", ")
    );
    for line in &lines {
        entry.push_str(&format!("\n  `{line}`"));
    }
    record_benchmark(&entry);
}
