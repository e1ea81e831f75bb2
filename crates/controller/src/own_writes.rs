//! The controller's own writes that its caches have not seen yet.
//!
//! A reconciliation creates a Pod and writes the Sandbox's status; the watch
//! events of those writes reach the caches a moment later. A reconciliation
//! that runs in between (the Pod's creation triggers one right away) would see
//! the old status and no Pod, take the new status for a change and apply the
//! Pod again — at scale almost one extra write per Sandbox, and a
//! `lastTransitionTime` that moves for nothing.
//!
//! So each status write remembers the resourceVersion the Sandbox had before
//! it, and each Pod creation the Pod's name. While the cached Sandbox is still
//! at that version, or the Pod cache does not have that Pod, the caches are
//! behind the controller's own writes: nothing to do, the writes' own watch
//! events bring the Sandbox back. Only equality of resourceVersions is used
//! (they are opaque strings).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kube::ResourceExt;

/// After this long a cache still behind is trusted anyway (reconciling on an
/// old view is safe, only wasteful).
const PATIENCE: Duration = Duration::from_secs(30);

/// What one Sandbox's caches have yet to see.
struct Unseen {
    /// The Sandbox's resourceVersion before our last status write.
    version_before_status: Option<String>,
    /// The Pod we created (`None` version: not cached yet) or claimed (the
    /// resourceVersion it had before the claim), until the cache moves on.
    created_pod: Option<(String, Option<String>)>,
    since: Instant,
}

#[derive(Default)]
pub struct OwnWrites {
    /// By Sandbox UID.
    unseen: Mutex<HashMap<String, Unseen>>,
}

impl OwnWrites {
    /// Records that we just wrote the status of `sandbox` (as it was before the write).
    pub fn wrote_status(&self, sandbox: &impl ResourceExt) {
        let version = sandbox.resource_version();
        self.record(sandbox, |unseen| unseen.version_before_status = version);
    }

    /// Records that we just created Pod `pod_name` for `sandbox`.
    pub fn created_pod(&self, sandbox: &impl ResourceExt, pod_name: &str) {
        self.record(sandbox, |unseen| unseen.created_pod = Some((pod_name.to_owned(), None)));
    }

    /// Records that we just claimed warm Pod `pod_name` (at `version` before
    /// the claim) for `sandbox`.
    pub fn claimed_pod(&self, sandbox: &impl ResourceExt, pod_name: &str, version: Option<String>) {
        self.record(sandbox, |unseen| unseen.created_pod = Some((pod_name.to_owned(), version)));
    }

    fn record(&self, sandbox: &impl ResourceExt, set: impl FnOnce(&mut Unseen)) {
        let Some(uid) = sandbox.uid() else { return };
        let mut unseen = self.unseen.lock().expect("own writes lock");
        // Entries normally go on the next reconciliation; Sandboxes deleted
        // meanwhile never have one, so old entries are dropped here.
        if unseen.len() >= 1024 {
            unseen.retain(|_, u| u.since.elapsed() < PATIENCE);
        }
        let now = Instant::now();
        let entry =
            unseen.entry(uid).or_insert_with(|| Unseen { version_before_status: None, created_pod: None, since: now });
        entry.since = now;
        set(entry);
    }

    /// Whether the caches are behind our own writes for the cached `sandbox`:
    /// it predates our last status write, or `pod_version` (a cached Pod's
    /// resourceVersion) says the Pod we created is not cached yet, or the one
    /// we claimed is cached as it was before. A Sandbox being deleted is
    /// never behind: its cleanup depends on none of those writes, and a Pod we
    /// created may be gone before its cache ever held it (a namespace's
    /// deletion, a user's `kubectl delete pod`), which would hold the cleanup
    /// for all of `PATIENCE`.
    pub fn caches_are_behind(&self, sandbox: &impl ResourceExt, pod_version: impl Fn(&str) -> Option<String>) -> bool {
        let Some(uid) = sandbox.uid() else { return false };
        let mut unseen = self.unseen.lock().expect("own writes lock");
        if sandbox.meta().deletion_timestamp.is_some() {
            unseen.remove(&uid);
            return false;
        }
        let Some(entry) = unseen.get_mut(&uid) else { return false };
        if entry.version_before_status.is_some() && entry.version_before_status != sandbox.resource_version() {
            entry.version_before_status = None;
        }
        if let Some((pod, before)) = &entry.created_pod
            && let Some(cached) = pod_version(pod)
            && Some(&cached) != before.as_ref()
        {
            entry.created_pod = None;
        }
        let waiting = entry.version_before_status.is_some() || entry.created_pod.is_some();
        if waiting && entry.since.elapsed() < PATIENCE {
            return true;
        }
        unseen.remove(&uid);
        false
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::ObjectMeta;

    use super::*;

    fn object(uid: &str, version: &str) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                uid: Some(uid.into()),
                resource_version: Some(version.into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    const NO_POD: fn(&str) -> Option<String> = |_| None;

    #[test]
    fn the_version_before_our_status_write_is_behind_until_the_cache_moves_on() {
        let writes = OwnWrites::default();
        assert!(!writes.caches_are_behind(&object("a", "10"), NO_POD), "nothing written yet");
        writes.wrote_status(&object("a", "10"));
        assert!(writes.caches_are_behind(&object("a", "10"), NO_POD));
        assert!(writes.caches_are_behind(&object("a", "10"), NO_POD), "behind until another version is seen");
        assert!(!writes.caches_are_behind(&object("b", "10"), NO_POD), "another sandbox");
        assert!(!writes.caches_are_behind(&object("a", "11"), NO_POD), "the cache caught up");
        assert!(!writes.caches_are_behind(&object("a", "10"), NO_POD), "forgotten once caught up");
    }

    #[test]
    fn a_created_pod_is_awaited_until_the_pod_cache_has_it() {
        let writes = OwnWrites::default();
        writes.created_pod(&object("a", "10"), "sbx-a");
        writes.wrote_status(&object("a", "10"));
        assert!(writes.caches_are_behind(&object("a", "11"), NO_POD), "status seen, Pod not yet");
        assert!(!writes.caches_are_behind(&object("a", "11"), |name| (name == "sbx-a").then(|| "1".into())));
        assert!(!writes.caches_are_behind(&object("a", "11"), NO_POD), "forgotten once caught up");
    }

    #[test]
    fn a_claimed_pod_is_awaited_until_the_cache_shows_it_changed() {
        let writes = OwnWrites::default();
        writes.claimed_pod(&object("a", "10"), "pool-p-x", Some("5".into()));
        let cached = |version: &'static str| move |name: &str| (name == "pool-p-x").then(|| version.to_string());
        assert!(writes.caches_are_behind(&object("a", "10"), cached("5")), "the Pod as it was before the claim");
        assert!(!writes.caches_are_behind(&object("a", "10"), cached("6")), "the claim seen");
    }

    #[test]
    fn a_sandbox_being_deleted_never_waits_for_a_pod_that_may_be_gone() {
        let writes = OwnWrites::default();
        writes.created_pod(&object("a", "10"), "sbx-a");
        assert!(writes.caches_are_behind(&object("a", "10"), NO_POD), "the Pod not cached yet");
        let mut deleted = object("a", "11");
        deleted.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH));
        assert!(!writes.caches_are_behind(&deleted, NO_POD), "its cleanup goes on at once");
        assert!(!writes.caches_are_behind(&object("a", "10"), NO_POD), "forgotten");
    }

    #[test]
    fn objects_without_identity_are_never_behind() {
        let writes = OwnWrites::default();
        writes.wrote_status(&ConfigMap::default());
        assert!(!writes.caches_are_behind(&ConfigMap::default(), NO_POD));
    }
}
