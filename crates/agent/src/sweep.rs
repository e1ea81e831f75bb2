//! The orphan sweep: Docker objects and agent records of sandboxes the API
//! server no longer has are removed after a grace period. The safety net for
//! cleanups the controller could not ask for.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dockyard_api::v1alpha1::Sandbox;
use kube::api::ListParams;
use kube::{Api, Client};
use tracing::{info, warn};

use crate::node::{Agent, AgentError};
use crate::resources;
use crate::state::SandboxRecord;

/// Remembers since when each sandbox UID has been seen without its Sandbox.
#[derive(Debug, Default)]
pub struct Orphans {
    first_seen: HashMap<String, Instant>,
}

impl Orphans {
    /// UIDs on the node whose Sandbox has been gone for at least `grace`.
    pub fn due(
        &mut self,
        on_node: &BTreeSet<String>,
        live: &BTreeSet<String>,
        now: Instant,
        grace: Duration,
    ) -> Vec<String> {
        self.first_seen.retain(|uid, _| on_node.contains(uid) && !live.contains(uid));
        on_node
            .difference(live)
            .filter(|uid| now.duration_since(*self.first_seen.entry((*uid).clone()).or_insert(now)) >= grace)
            .cloned()
            .collect()
    }
}

/// UIDs of every Sandbox in the cluster.
pub async fn live_sandboxes(client: &Client) -> Result<BTreeSet<String>, kube::Error> {
    let sandboxes: Api<Sandbox> = Api::all(client.clone());
    let list = sandboxes.list_metadata(&ListParams::default()).await?;
    Ok(list.items.into_iter().filter_map(|s| s.metadata.uid).collect())
}

/// Sandbox UIDs the node holds something for: labelled Docker objects and agent records.
pub async fn on_node(agent: &Agent) -> Result<BTreeSet<String>, AgentError> {
    let mut uids = resources::labelled_sandboxes(&agent.docker).await?;
    uids.extend(agent.state.sandboxes()?.into_iter().map(|r| r.uid));
    Ok(uids)
}

/// One pass: cleans up what is due; returns the UIDs it cleaned up.
pub async fn sweep_once(
    agent: &Agent,
    client: &Client,
    orphans: &mut Orphans,
    grace: Duration,
) -> Result<Vec<String>, AgentError> {
    let on_node = on_node(agent).await?;
    // Read after the node's inventory, so a Sandbox created in between counts as live.
    let live = match live_sandboxes(client).await {
        Ok(live) => live,
        Err(e) => {
            // Never treat "cannot ask" as "gone".
            warn!(error = %e, "cannot list Sandboxes; the sweep waits for the next round");
            return Ok(Vec::new());
        }
    };
    let mut cleaned = Vec::new();
    for uid in orphans.due(&on_node, &live, Instant::now(), grace) {
        info!(sandbox = %uid, "its Sandbox is gone: cleaning up the orphan");
        match agent.cleanup(&uid, Some(SandboxRecord::unprepared(String::new(), String::new(), uid.clone()))).await {
            Ok(_) | Err(AgentError::UnknownSandbox(..)) => cleaned.push(uid),
            Err(e) => warn!(sandbox = %uid, error = %e, "orphan cleanup failed; retried next round"),
        }
    }
    Ok(cleaned)
}

/// Sweeps every `interval` until the task is dropped.
pub async fn run(agent: Arc<Agent>, client: Client, interval: Duration, grace: Duration) {
    let mut orphans = Orphans::default();
    let mut ticks = tokio::time::interval(interval);
    loop {
        ticks.tick().await;
        if let Err(e) = sweep_once(&agent, &client, &mut orphans, grace).await {
            warn!(error = %e, "orphan sweep failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(uids: &[&str]) -> BTreeSet<String> {
        uids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn orphans_are_due_only_after_the_grace_period_and_live_ones_never() {
        let mut orphans = Orphans::default();
        let grace = Duration::from_secs(60);
        let t0 = Instant::now();
        let node = set(&["a", "b", "c"]);
        let live = set(&["a"]);
        assert!(orphans.due(&node, &live, t0, grace).is_empty());
        assert!(orphans.due(&node, &live, t0 + Duration::from_secs(30), grace).is_empty());
        assert_eq!(orphans.due(&node, &live, t0 + grace, grace), ["b", "c"]);
        // "c" came back (e.g. the API list was briefly stale): its clock restarts.
        assert_eq!(orphans.due(&node, &set(&["a", "c"]), t0 + grace, grace), ["b"]);
        assert!(orphans.due(&node, &live, t0 + grace, grace).contains(&"b".to_string()));
        assert!(!orphans.due(&node, &live, t0 + grace, grace).contains(&"c".to_string()));
        assert!(orphans.due(&node, &live, t0, Duration::ZERO).contains(&"b".to_string()));
    }
}
