//! Claim latency of a SandboxPool on the scale harness: the real API server
//! of the e2e cluster (`e2e/cluster up --profile control-plane`), kwok nodes
//! running the Pods, the `dockyard-controller` binary as its own process.
//!
//! A pool of `POOL_SIZE` DinD sandboxes, sized for the burst and refilling
//! once claims pause (`refillDelaySeconds`, as docs/architecture.md "Sizing a
//! pool" advises for bursts), is filled and Ready first. Then
//! `CLAIMS` Sandboxes naming it are created at `RATE` per second (each create
//! sent on its own schedule, not after the previous answer); a watch of the
//! namespace's Sandboxes, listed before the first create, notes when each
//! first shows `Ready=True`. A claim's latency runs from sending its create
//! to that watch event (the API's `creationTimestamp` has whole seconds
//! only). The same then for `COLD` Sandboxes naming no pool, whose Pods kwok
//! starts (the cold baseline, in the same process and cluster). Each round
//! also prints where the claims' time went (the create's answer, the claimed
//! Pod on a watch, Ready on a watch).
//!
//! The claim floor, in each round with the controller stopped (after the
//! controller's phase, before it in every other round): a minimal
//! client in this process that makes exactly a claim's writes (the Pod patch
//! on the version seen, the Ready status, the event) for the same Sandboxes
//! at the same rate, from Ready Pods as the pool renders them. On a slow or
//! busy API server both slow down together; `ratio` (claim p50 / floor p50)
//! is what the controller adds, whatever the machine. Medians over `ROUNDS`
//! rounds of the percentiles.
//!
//! Ends with `BENCH warmpool rate=50 p50_ms=<> p90_ms=<> p99_ms=<> cold_p50_ms=<> misses=<>
//! floor_p50_ms=<> floor_p99_ms=<> ratio=<>`, appended to docs/benchmarks.md when
//! `DOCKYARD_BENCH_RECORD=1`.
//!
//! Run: `cargo bench -p dockyard-controller --bench warmpool`

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use dockyard_api::pool as warm;
use dockyard_api::render::RenderSettings;
use dockyard_api::v1alpha1::{ClassNetwork, SandboxPool};
use dockyard_api::{Sandbox, labels, network};
use dockyard_controller::pool::{claim_patch, claimed_from};
use dockyard_controller::reconcile::ready_event;
use dockyard_controller::status::{Drift, Observation, apply_status, pod_condition, sandbox_status};
use dockyard_testing::TestCluster;
use futures::StreamExt;
use futures::stream::{BoxStream, FuturesUnordered};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::watcher::{self, Event, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;

/// Creates per second (`DOCKYARD_BENCH_RATE` overrides it, to see how
/// latency follows load).
const RATE: u64 = 50;
const CLAIMS: usize = 150;
/// Large enough that the burst of `CLAIMS` never takes it down to a quarter
/// (where the refill starts, delay or not).
const POOL_SIZE: usize = 210;
/// The pool's `refillDelaySeconds` (`DOCKYARD_BENCH_REFILL_DELAY` overrides
/// it; 0: refill right after each claim): a burst's claims do not compete
/// with its refills.
const REFILL_DELAY: u64 = 5;
const COLD: usize = 50;
const ROUNDS: usize = 3;
const METRICS_ADDR: &str = "127.0.0.1:18081";

/// The Sandbox spec of the pool's template and of the claims: DinD, on the kwok nodes.
fn template() -> serde_json::Value {
    json!({"image": "dockyard-sandbox:latest", "docker": {"mode": "dind"}, "pod": {
        "nodeSelector": {"type": "kwok"},
        "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}],
    }})
}

/// Creates pool `name` of `size` and waits until all its Pods are Ready.
async fn fill_pool(client: &Client, ns: &str, name: &str, size: usize) {
    let pools: Api<SandboxPool> = Api::namespaced(client.clone(), ns);
    let pool: SandboxPool = serde_json::from_value(json!({
        "apiVersion": "dockyard.dev/v1alpha1", "kind": "SandboxPool",
        "metadata": {"name": name},
        "spec": {"size": size, "refillDelaySeconds": refill_delay(), "template": template()},
    }))
    .unwrap();
    pools.create(&PostParams::default(), &pool).await.expect("create the pool");
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let ready = pools.get(name).await.ok().and_then(|p| p.status).map(|s| s.ready).unwrap_or_default();
        if usize::try_from(ready).unwrap_or_default() >= size {
            return;
        }
        assert!(Instant::now() < deadline, "pool {name} was not full within 5 minutes ({ready} of {size} ready)");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn is_ready(sandbox: &Sandbox) -> bool {
    let conditions = sandbox.status.as_ref().map(|s| s.conditions.as_slice()).unwrap_or_default();
    conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True")
}

/// Creates per second: RATE, or `DOCKYARD_BENCH_RATE`.
fn rate() -> u64 {
    std::env::var("DOCKYARD_BENCH_RATE").map(|r| r.parse().expect("DOCKYARD_BENCH_RATE: a number")).unwrap_or(RATE)
}

fn refill_delay() -> u64 {
    std::env::var("DOCKYARD_BENCH_REFILL_DELAY")
        .map(|r| r.parse().expect("DOCKYARD_BENCH_REFILL_DELAY: a number of seconds"))
        .unwrap_or(REFILL_DELAY)
}

/// When a measured Sandbox passed each stage, as watches saw them.
#[derive(Default)]
struct Seen {
    /// Its create answered.
    created: HashMap<String, Instant>,
    /// Its Pod (a warm one, claimed) carried its name, on a Pod watch.
    pod: HashMap<String, Instant>,
    /// Its status said Ready=True, on a Sandbox watch.
    ready: HashMap<String, Instant>,
}

/// Latencies of one run of `measure`, in milliseconds per Sandbox, each from
/// sending its create.
struct Latencies {
    created: Vec<f64>,
    /// Empty for cold starts (their Pods are made for them, not claimed).
    pod: Vec<f64>,
    ready: Vec<f64>,
}

/// Notes the first time `name` reaches a stage.
fn note(stage: &Mutex<Seen>, pick: fn(&mut Seen) -> &mut HashMap<String, Instant>, name: String) {
    pick(&mut stage.lock().unwrap()).entry(name).or_insert_with(Instant::now);
}

/// Waits until a watch has listed what exists.
async fn listed<K>(events: &mut BoxStream<'_, watcher::Result<Event<K>>>) {
    while let Some(event) = events.next().await {
        if let Ok(Event::InitDone) = event {
            return;
        }
    }
}

/// Creates `n` Sandboxes named `<prefix><i>` at RATE per second (naming
/// `pool`, if any) and returns when each passed its stages.
async fn measure(client: &Client, ns: &str, prefix: &str, n: usize, pool: Option<&str>) -> Latencies {
    let api: Api<Sandbox> = Api::namespaced(client.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let mut sandbox_events = watcher(api.clone(), watcher::Config::default()).boxed();
    let mut pod_events = watcher(pods, watcher::Config::default().labels(labels::SANDBOX_NAME)).boxed();
    listed(&mut sandbox_events).await;
    listed(&mut pod_events).await;
    let watch_sandboxes = {
        let seen = seen.clone();
        tokio::spawn(async move {
            while let Some(event) = sandbox_events.next().await {
                if let Ok(Event::Apply(sandbox)) = event
                    && is_ready(&sandbox)
                {
                    note(&seen, |s| &mut s.ready, sandbox.name_any());
                }
            }
        })
    };
    let watch_pods = {
        let seen = seen.clone();
        tokio::spawn(async move {
            while let Some(event) = pod_events.next().await {
                if let Ok(Event::Apply(pod)) = event
                    && let Some(name) = pod.labels().get(labels::SANDBOX_NAME)
                {
                    note(&seen, |s| &mut s.pod, name.clone());
                }
            }
        })
    };
    let mut spec = template();
    if let Some(pool) = pool {
        spec["poolName"] = json!(pool);
    }
    let start = Instant::now();
    let mut creates = Vec::new();
    for i in 0..n {
        let due = start + Duration::from_millis(i as u64 * 1000 / rate());
        tokio::time::sleep_until(due.into()).await;
        let (api, name, seen) = (api.clone(), format!("{prefix}{i}"), seen.clone());
        let sandbox: Sandbox = serde_json::from_value(json!({
            "apiVersion": "dockyard.dev/v1alpha1", "kind": "Sandbox", "metadata": {"name": name}, "spec": spec,
        }))
        .unwrap();
        creates.push(tokio::spawn(async move {
            let sent = Instant::now();
            api.create(&PostParams::default(), &sandbox).await.expect("create a Sandbox");
            note(&seen, |s| &mut s.created, name.clone());
            (name, sent)
        }));
    }
    let mut sent = Vec::new();
    for create in creates {
        sent.push(create.await.unwrap());
    }
    let deadline = Instant::now() + Duration::from_secs(180);
    while seen.lock().unwrap().ready.len() < n {
        assert!(Instant::now() < deadline, "{prefix}: not every Sandbox was Ready within 3 minutes");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    watch_sandboxes.abort();
    watch_pods.abort();
    let seen = seen.lock().unwrap();
    let since_sent = |stage: &HashMap<String, Instant>| -> Vec<f64> {
        sent.iter().filter_map(|(name, at)| Some(stage.get(name)?.duration_since(*at).as_secs_f64() * 1000.0)).collect()
    };
    let pod = if pool.is_some() { since_sent(&seen.pod) } else { Vec::new() };
    Latencies { created: since_sent(&seen.created), pod, ready: since_sent(&seen.ready) }
}

/// The claim floor's warm Pods: `n` Pods as the pool renders them (without
/// the owner, which would be a pool that does not exist: the garbage
/// collector would take them), created directly and Ready (kwok).
async fn floor_pods(client: &Client, ns: &str, n: usize) -> Vec<Pod> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let pool: SandboxPool = serde_json::from_value(json!({
        "apiVersion": "dockyard.dev/v1alpha1", "kind": "SandboxPool",
        "metadata": {"name": "warm", "namespace": ns, "uid": "floor"},
        "spec": {"size": n, "template": template()},
    }))
    .unwrap();
    let mut pod = warm::render_warm_pod(&pool, None, &RenderSettings::default()).expect("render a warm Pod");
    pod.metadata.owner_references = None;
    let params = PostParams::default();
    futures::stream::iter(0..n)
        .map(|_| pods.create(&params, &pod))
        .buffer_unordered(16)
        .for_each(|created| async move {
            created.expect("floor: create a warm Pod");
        })
        .await;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let listed = pods.list(&ListParams::default()).await.expect("list the floor's Pods").items;
        let ready: Vec<Pod> = listed.into_iter().filter(|p| pod_condition(p, "Ready") == Some(true)).collect();
        if ready.len() >= n {
            return ready;
        }
        assert!(Instant::now() < deadline, "the floor's Pods were not Ready within 5 minutes");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The claim floor: the writes a claim must make, and no more, by a client
/// watching the Sandboxes of `ns` (the controller stopped): each new one
/// takes the next of `warm`, made its own on the version seen (owner, labels,
/// spec hash: the controller's `claim_patch`), then its Ready status (the
/// controller's: phase, conditions, Pod, network, warm start), then its event.
/// Ends when `n` are claimed.
async fn claim_floor(client: Client, ns: String, n: usize, warm: Vec<Pod>) {
    let sandboxes_api: Api<Sandbox> = Api::namespaced(client.clone(), &ns);
    let pods_api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let mut events = watcher(sandboxes_api.clone(), watcher::Config::default().any_semantic()).boxed();
    let recorder = Recorder::new(client, Reporter { controller: "dockyard-bench-floor".into(), instance: None });
    let (mut warm, mut claimed) = (warm.into_iter(), HashSet::new());
    let mut jobs = FuturesUnordered::new();
    while claimed.len() < n || !jobs.is_empty() {
        tokio::select! {
            Some(event) = events.next(), if claimed.len() < n => {
                let Ok(Event::Apply(sandbox) | Event::InitApply(sandbox)) = event else { continue };
                if !claimed.insert(sandbox.name_any()) {
                    continue;
                }
                let pod = warm.next().expect("the floor has a warm Pod for each claim");
                let (pods, sandboxes, recorder) = (pods_api.clone(), sandboxes_api.clone(), recorder.clone());
                jobs.push(tokio::spawn(async move {
                    let patch = claim_patch(&sandbox, &pod, &network::class_label(None));
                    let pod = pods
                        .patch(&pod.name_any(), &PatchParams::default(), &Patch::Merge(&patch))
                        .await
                        .expect("floor: claim a Pod");
                    let observation = Observation::Running(Some(&pod), Drift::NONE);
                    let (mut status, _) = sandbox_status(&sandbox, &observation, Timestamp::now());
                    status.warm_start = Some(claimed_from("warm", &pod.name_any()));
                    status.network = Some(network::status(None, &ClassNetwork::default()));
                    apply_status(&sandboxes, &sandbox.name_any(), &status).await.expect("floor: status");
                    recorder.publish(&ready_event(), &sandbox.object_ref(&())).await.expect("floor: event");
                }));
            }
            Some(done) = jobs.next() => done.expect("floor: a claim"),
        }
    }
}

/// One round of the claim floor in namespace `ns` (the controller stopped):
/// its claims' latencies from sending each create to Ready on a watch.
async fn floor_round(client: &Client, ns: &str) -> Vec<f64> {
    namespace(client, ns).await;
    let warm = floor_pods(client, ns, CLAIMS).await;
    quiesce(client).await;
    let cpu = apiserver_cpu_seconds(client).await;
    let claimer = tokio::spawn(claim_floor(client.clone(), ns.to_string(), CLAIMS, warm));
    let latencies = measure(client, ns, "w", CLAIMS, Some("warm")).await;
    claimer.await.expect("the claim floor");
    let cpu = (apiserver_cpu_seconds(client).await - cpu) * 1000.0 / CLAIMS as f64;
    eprintln!("claim floor stages p50/p99 ms: {}; API server CPU per claim {cpu:.1} ms", stages(&latencies));
    drop_namespace(client, ns).await;
    latencies.ready
}

/// Where claims' time went: p50/p99 of the create's answer, of the claimed
/// Pod on a watch and of Ready on a watch, each from sending the create.
fn stages(latencies: &Latencies) -> String {
    let stage = |v: &Vec<f64>| format!("{:.0}/{:.0}", percentile(v.clone(), 50.0), percentile(v.clone(), 99.0));
    format!(
        "created {}, Pod claimed {}, Ready {}",
        stage(&latencies.created),
        stage(&latencies.pod),
        stage(&latencies.ready)
    )
}

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// Sandboxes of `prefix` in `ns` whose status says they started cold.
async fn misses(client: &Client, ns: &str, prefix: &str) -> usize {
    let api: Api<Sandbox> = Api::namespaced(client.clone(), ns);
    let list = api.list(&ListParams::default()).await.expect("list Sandboxes").items;
    list.iter()
        .filter(|s| s.name_any().starts_with(prefix))
        .filter(|s| !s.status.as_ref().and_then(|st| st.warm_start.as_ref()).is_some_and(|w| w.claimed))
        .count()
}

/// A round's figures with the controller: claims, cold starts, misses, and
/// the controller's peak RSS.
struct ControllerRound {
    warm: Vec<f64>,
    cold: Vec<f64>,
    misses: usize,
    rss: f64,
}

/// One round with the controller (started for it, stopped after) in
/// namespace `ns`: a pool filled, then the claims, then the cold starts.
async fn controller_round(client: &Client, ns: &str, round: usize) -> ControllerRound {
    let mut controller = start_controller(METRICS_ADDR, 32);
    controller_ready(&mut controller, METRICS_ADDR).await;
    namespace(client, ns).await;
    fill_pool(client, ns, "warm", POOL_SIZE).await;
    quiesce(client).await;
    let cpu = (apiserver_cpu_seconds(client).await, process_cpu_seconds(controller.id()));
    let claims = measure(client, ns, "w", CLAIMS, Some("warm")).await;
    let per_claim = |before: f64, after: f64| (after - before) * 1000.0 / CLAIMS as f64;
    eprintln!(
        "round {round}: CPU per claim: API server {:.1} ms, controller {:.1} ms",
        per_claim(cpu.0, apiserver_cpu_seconds(client).await),
        per_claim(cpu.1, process_cpu_seconds(controller.id())),
    );
    let misses = misses(client, ns, "w").await;
    quiesce(client).await;
    let cold = measure(client, ns, "c", COLD, None).await.ready;
    let warm = &claims.ready;
    eprintln!(
        "round {round}: claims p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, {misses} misses; cold p50 {:.0} ms",
        percentile(warm.clone(), 50.0),
        percentile(warm.clone(), 90.0),
        percentile(warm.clone(), 99.0),
        percentile(cold.clone(), 50.0),
    );
    eprintln!("round {round}: claim stages p50/p99 ms: {}", stages(&claims));
    drop_namespace(client, ns).await;
    let rss = peak_rss_mib(&controller);
    let _ = controller.kill();
    let _ = controller.wait();
    ControllerRound { warm: claims.ready, cold, misses, rss }
}

#[tokio::main]
async fn main() {
    let cluster = TestCluster::connect().await.expect("start the cluster: e2e/cluster up --profile control-plane");
    cluster.install_crds().await.unwrap();
    let client = cluster.client.clone();
    ensure_kwok_nodes(&client).await;
    let run_id = std::process::id();
    let (mut p50, mut p90, mut p99, mut cold_p50, mut missed) = (vec![], vec![], vec![], vec![], 0);
    let (mut floor_p50, mut floor_p99, mut rss) = (vec![], vec![], 0.0_f64);
    for round in 0..ROUNDS {
        // The floor runs with the controller stopped (it would take the
        // floor's Sandboxes too), first in every other round: each phase
        // follows the other as often.
        let floor_first = round % 2 == 1;
        let floor_ns = format!("warmpool-{run_id}-{round}-floor");
        let mut floor = if floor_first { floor_round(&client, &floor_ns).await } else { Vec::new() };
        let measured = controller_round(&client, &format!("warmpool-{run_id}-{round}"), round).await;
        if !floor_first {
            floor = floor_round(&client, &floor_ns).await;
        }
        eprintln!(
            "round {round}: claim floor p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms ({})",
            percentile(floor.clone(), 50.0),
            percentile(floor.clone(), 90.0),
            percentile(floor.clone(), 99.0),
            if floor_first { "before the controller's" } else { "after the controller's" },
        );
        floor_p50.push(percentile(floor.clone(), 50.0));
        floor_p99.push(percentile(floor, 99.0));
        let ControllerRound { warm, cold, misses, rss: round_rss } = measured;
        p50.push(percentile(warm.clone(), 50.0));
        p90.push(percentile(warm.clone(), 90.0));
        p99.push(percentile(warm, 99.0));
        cold_p50.push(percentile(cold, 50.0));
        missed += misses;
        rss = rss.max(round_rss);
    }
    let (p50, floor_p50) = (median(p50), median(floor_p50));
    let line = format!(
        "BENCH warmpool rate={} p50_ms={p50:.0} p90_ms={:.0} p99_ms={:.0} cold_p50_ms={:.0} misses={missed} \
         floor_p50_ms={floor_p50:.0} floor_p99_ms={:.0} ratio={:.2}",
        rate(),
        median(p90),
        median(p99),
        median(cold_p50),
        median(floor_p99),
        p50 / floor_p50,
    );
    eprintln!("controller peak RSS {rss:.1} MiB");
    println!("{line}");
    record_benchmark(&format!(
        "`cargo bench -p dockyard-controller --bench warmpool` against the control-plane profile \
             with {KWOK_NODES} kwok nodes:\n  a SandboxPool of {POOL_SIZE} DinD sandboxes (refillDelaySeconds {}) \
             filled and Ready, then {CLAIMS} Sandboxes naming it created at {}/s\n  (each create on its own \
             schedule); latency from \
             sending a create to a Sandbox watch showing Ready=True; cold: {COLD}\n  Sandboxes naming no pool at the \
             same rate, kwok starting their Pods; floor: the controller stopped, a minimal client\n  in the \
             bench making a claim's writes (the Pod patch, the Ready status, the event) for {CLAIMS} Sandboxes \
             at the same\n  rate, from {CLAIMS} Ready Pods as the pool renders them, before the controller's \
             phase in every other round;\n  ratio = p50 / floor p50. Medians of {ROUNDS} rounds' percentiles; \
             misses summed.\n  `{line}`",
        refill_delay(),
        rate()
    ));
}
