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
//! starts (the cold baseline, in the same process and cluster). Medians over
//! `ROUNDS` rounds of the percentiles.
//!
//! Ends with `BENCH warmpool rate=50 p50_ms=<> p90_ms=<> p99_ms=<> cold_p50_ms=<> misses=<>`,
//! appended to docs/benchmarks.md when `DOCKYARD_BENCH_RECORD=1`.
//!
//! Run: `cargo bench -p dockyard-controller --bench warmpool`

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use dockyard_api::Sandbox;
use dockyard_api::v1alpha1::SandboxPool;
use dockyard_testing::TestCluster;
use futures::StreamExt;
use kube::api::{ListParams, PostParams};
use kube::runtime::watcher::{self, Event, watcher};
use kube::{Api, Client, ResourceExt};
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

/// Creates `n` Sandboxes named `<prefix><i>` at RATE per second (naming
/// `pool`, if any) and returns each one's latency from sending its create to
/// a watch showing it Ready, in milliseconds.
fn rate() -> u64 {
    std::env::var("DOCKYARD_BENCH_RATE").map(|r| r.parse().expect("DOCKYARD_BENCH_RATE: a number")).unwrap_or(RATE)
}

fn refill_delay() -> u64 {
    std::env::var("DOCKYARD_BENCH_REFILL_DELAY")
        .map(|r| r.parse().expect("DOCKYARD_BENCH_REFILL_DELAY: a number of seconds"))
        .unwrap_or(REFILL_DELAY)
}

async fn measure(client: &Client, ns: &str, prefix: &str, n: usize, pool: Option<&str>) -> Vec<f64> {
    let api: Api<Sandbox> = Api::namespaced(client.clone(), ns);
    let ready_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let mut events = watcher(api.clone(), watcher::Config::default()).boxed();
    while let Some(event) = events.next().await {
        if let Ok(Event::InitDone) = event {
            break;
        }
    }
    let watch = {
        let ready_at = ready_at.clone();
        tokio::spawn(async move {
            while let Some(event) = events.next().await {
                if let Ok(Event::Apply(sandbox)) = event
                    && is_ready(&sandbox)
                {
                    ready_at.lock().unwrap().entry(sandbox.name_any()).or_insert_with(Instant::now);
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
        let (api, name) = (api.clone(), format!("{prefix}{i}"));
        let sandbox: Sandbox = serde_json::from_value(json!({
            "apiVersion": "dockyard.dev/v1alpha1", "kind": "Sandbox", "metadata": {"name": name}, "spec": spec,
        }))
        .unwrap();
        creates.push(tokio::spawn(async move {
            let sent = Instant::now();
            api.create(&PostParams::default(), &sandbox).await.expect("create a Sandbox");
            (name, sent)
        }));
    }
    let mut sent = Vec::new();
    for create in creates {
        sent.push(create.await.unwrap());
    }
    let deadline = Instant::now() + Duration::from_secs(180);
    while ready_at.lock().unwrap().len() < n {
        assert!(Instant::now() < deadline, "{prefix}: not every Sandbox was Ready within 3 minutes");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    watch.abort();
    let ready_at = ready_at.lock().unwrap();
    sent.iter().map(|(name, at)| ready_at[name].duration_since(*at).as_secs_f64() * 1000.0).collect()
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

#[tokio::main]
async fn main() {
    let cluster = TestCluster::connect().await.expect("start the cluster: e2e/cluster up --profile control-plane");
    cluster.install_crds().await.unwrap();
    let client = cluster.client.clone();
    ensure_kwok_nodes(&client).await;
    let mut controller = start_controller(METRICS_ADDR, 32);
    controller_ready(&mut controller, METRICS_ADDR).await;
    let run_id = std::process::id();
    let (mut p50, mut p90, mut p99, mut cold_p50, mut missed) = (vec![], vec![], vec![], vec![], 0);
    for round in 0..ROUNDS {
        let ns = format!("warmpool-{run_id}-{round}");
        namespace(&client, &ns).await;
        fill_pool(&client, &ns, "warm", POOL_SIZE).await;
        quiesce(&client).await;
        let warm = measure(&client, &ns, "w", CLAIMS, Some("warm")).await;
        let round_misses = misses(&client, &ns, "w").await;
        quiesce(&client).await;
        let cold = measure(&client, &ns, "c", COLD, None).await;
        eprintln!(
            "round {round}: claims p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, {round_misses} misses; cold p50 {:.0} ms",
            percentile(warm.clone(), 50.0),
            percentile(warm.clone(), 90.0),
            percentile(warm.clone(), 99.0),
            percentile(cold.clone(), 50.0),
        );
        p50.push(percentile(warm.clone(), 50.0));
        p90.push(percentile(warm.clone(), 90.0));
        p99.push(percentile(warm, 99.0));
        cold_p50.push(percentile(cold, 50.0));
        missed += round_misses;
        drop_namespace(&client, &ns).await;
    }
    let rss = peak_rss_mib(&controller);
    let _ = controller.kill();
    let _ = controller.wait();
    let line = format!(
        "BENCH warmpool rate={} p50_ms={:.0} p90_ms={:.0} p99_ms={:.0} cold_p50_ms={:.0} misses={missed}",
        rate(),
        median(p50),
        median(p90),
        median(p99),
        median(cold_p50)
    );
    eprintln!("controller peak RSS {rss:.1} MiB");
    println!("{line}");
    record_benchmark(&format!(
        "`cargo bench -p dockyard-controller --bench warmpool` against the control-plane profile \
             with {KWOK_NODES} kwok nodes:\n  a SandboxPool of {POOL_SIZE} DinD sandboxes (refillDelaySeconds {}) \
             filled and Ready, then {CLAIMS} Sandboxes naming it created at {}/s\n  (each create on its own \
             schedule); latency from \
             sending a create to a Sandbox watch showing Ready=True; cold: {COLD}\n  Sandboxes naming no pool at the \
             same rate, kwok starting their Pods. Medians of {ROUNDS} rounds' percentiles; misses summed.\n  `{line}`",
        refill_delay(),
        rate()
    ));
}
