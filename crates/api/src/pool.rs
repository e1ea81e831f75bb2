//! Warm pools, pure: what a SandboxPool's template may ask, the warm Pod it
//! renders, and whether a Sandbox may have one.
//!
//! A warm Pod is the Pod a Sandbox of the pool's template would get, rendered
//! for the pool's identity (the pool's name is its hostname and
//! `$DOCKYARD_SANDBOX`, which a running Pod cannot change), owned by the pool
//! and named `pool-<pool>-<5 characters>` by the API server. A claim makes it
//! the Sandbox's: its owner, labels and spec-hash annotation change in one
//! write; nothing in the running Pod does. Every warm Pod of a pool renders
//! alike, so one render per pool (or claim) tells whether a Pod is current.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use kube::{Resource, ResourceExt};

use crate::labels;
use crate::render::{self, RenderError, RenderSettings};
use crate::v1alpha1::{DockerMode, HostSocketAccess, Sandbox, SandboxClassSpec, SandboxPool, SandboxSpec};

/// The component label of a warm Pod (a claimed one is `sandbox`).
pub const WARM_COMPONENT: &str = "warm";

/// Why a pool's template cannot give warm Pods (beyond its class's rules).
pub fn template_problem(template: &SandboxSpec, class: Option<&SandboxClassSpec>) -> Option<String> {
    if template.docker.mode == DockerMode::HostSocket && template.host_socket_access() != HostSocketAccess::Brokered {
        return Some(
            "template.docker.hostSocket.access: only brokered host-socket sandboxes can be pooled (a warm Pod's \
             socket answers only ping, version and info until a Sandbox claims it; the raw socket cannot wait)"
                .into(),
        );
    }
    let workspace = template.workspace_or_default();
    if workspace.volume_claim_template.is_some() || workspace.persistent_volume_claim.is_some() {
        return Some(
            "template.workspace: a warm Pod's workspace must be an emptyDir (a claim is one Sandbox's, made or named \
             with it)"
                .into(),
        );
    }
    let persistent_store =
        template.docker.dind.as_ref().and_then(|d| d.storage.as_ref()).and_then(|s| s.persistent).unwrap_or_else(
            || template.docker.mode == DockerMode::Dind && class.is_some_and(|c| c.dind.persistent_storage),
        );
    if template.docker.mode == DockerMode::Dind && persistent_store {
        return Some(
            "template.docker.dind.storage.persistent: a warm Pod's Docker store must not be persistent (the claim \
             would be one Sandbox's, made with it)"
                .into(),
        );
    }
    None
}

/// The prefix of a pool's warm Pods' names (never `sbx-…`: that is a Sandbox's).
pub fn pod_name_prefix(pool: &str) -> String {
    format!("pool-{pool}-")
}

/// A Sandbox of `spec` as a Pod of hostname `identity` renders it: a warm
/// Pod's identity is its pool's name (its `spec.hostname`); `uid` only names
/// the owner until the real one replaces it.
fn as_identity(spec: &SandboxSpec, namespace: &str, identity: &str) -> Sandbox {
    let mut sandbox = Sandbox::new(identity, SandboxSpec { pool_name: None, ..spec.clone() });
    sandbox.metadata.namespace = Some(namespace.into());
    sandbox.metadata.uid = Some("pending".into());
    sandbox
}

/// The Pod a Sandbox of `spec` gets when its Pod is a warm Pod of hostname
/// `identity`: the same as [`render::render_pod`] but for the identity (what
/// tells whether a warm Pod is what the Sandbox would get now).
pub fn render_pod_as(
    spec: &SandboxSpec,
    namespace: &str,
    identity: &str,
    class: Option<&SandboxClassSpec>,
    settings: &RenderSettings,
) -> Result<Pod, RenderError> {
    render::render_pod(&as_identity(spec, namespace, identity), class, settings)
}

/// A warm Pod of `pool` (to create with the API server choosing its name),
/// owned by the pool and labelled as its: no Sandbox's name or UID until a
/// claim.
pub fn render_warm_pod(
    pool: &SandboxPool,
    class: Option<&SandboxClassSpec>,
    settings: &RenderSettings,
) -> Result<Pod, RenderError> {
    let namespace = pool.namespace().ok_or(RenderError::MissingMetadata("metadata.namespace"))?;
    let owner = pool.controller_owner_ref(&()).ok_or(RenderError::MissingMetadata("metadata.uid"))?;
    let mut pod = render_pod_as(&pool.spec.template, &namespace, &pool.name_any(), class, settings)?;
    pod.metadata.name = None;
    pod.metadata.generate_name = Some(pod_name_prefix(&pool.name_any()));
    pod.metadata.owner_references = Some(vec![owner]);
    let pod_labels = pod.labels_mut();
    pod_labels.remove(labels::SANDBOX_NAME);
    pod_labels.remove(labels::SANDBOX_UID);
    pod_labels.insert("app.kubernetes.io/instance".into(), pool.name_any());
    pod_labels.insert("app.kubernetes.io/component".into(), WARM_COMPONENT.into());
    pod_labels.insert(labels::POOL.into(), pool.name_any());
    Ok(pod)
}

/// The labels a claim gives a warm Pod: the Sandbox's, as on a Pod made for it.
pub fn claimed_labels(sandbox: &Sandbox) -> BTreeMap<String, String> {
    let name = sandbox.name_any();
    let mut claimed = labels::sandbox_labels(&name, "sandbox");
    claimed.insert(labels::SANDBOX_UID.into(), sandbox.uid().unwrap_or_default());
    claimed
}

/// Which of the Sandbox's fields differ from the pool's template (the ones a
/// claim ignores left out), by their names in the API: why a Sandbox that
/// names the pool starts cold.
pub fn template_differences(spec: &SandboxSpec, template: &SandboxSpec) -> Vec<String> {
    let comparable = |s: &SandboxSpec| {
        let spec = SandboxSpec { pool_name: None, suspended: false, shutdown_time: None, ..s.clone() };
        match serde_json::to_value(spec) {
            Ok(serde_json::Value::Object(fields)) => fields,
            _ => serde_json::Map::new(),
        }
    };
    let (asked, offered) = (comparable(spec), comparable(template));
    let mut names: Vec<String> = asked.keys().chain(offered.keys()).cloned().collect();
    names.sort();
    names.dedup();
    names.retain(|name| asked.get(name) != offered.get(name));
    names
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::render::sandbox_spec_hash;

    fn pool(template: serde_json::Value) -> SandboxPool {
        serde_json::from_value(json!({
            "apiVersion": "dockyard.dev/v1alpha1", "kind": "SandboxPool",
            "metadata": {"name": "py", "namespace": "team", "uid": "pool-uid"},
            "spec": {"size": 2, "template": template},
        }))
        .unwrap()
    }

    fn sandbox(spec: serde_json::Value) -> Sandbox {
        serde_json::from_value(json!({
            "apiVersion": "dockyard.dev/v1alpha1", "kind": "Sandbox",
            "metadata": {"name": "alice", "namespace": "team", "uid": "sbx-uid"},
            "spec": spec,
        }))
        .unwrap()
    }

    #[test]
    fn a_warm_pod_is_the_pools_until_claimed_and_renders_like_the_sandboxs_pod() {
        let template = json!({"image": "img", "docker": {"mode": "dind"}});
        let pool = pool(template.clone());
        let settings = RenderSettings::default();
        let warm = render_warm_pod(&pool, None, &settings).unwrap();
        assert_eq!(warm.metadata.generate_name.as_deref(), Some("pool-py-"));
        let owner = &warm.owner_references()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
            ("SandboxPool", "pool-uid", Some(true))
        );
        assert!(labels::controlling_sandbox(warm.owner_references()).is_none(), "no Sandbox owns a warm Pod");
        assert_eq!(warm.labels().get(labels::POOL).map(String::as_str), Some("py"));
        assert!(!warm.labels().contains_key(labels::SANDBOX_UID) && !warm.labels().contains_key(labels::SANDBOX_NAME));
        assert_eq!(warm.spec.as_ref().unwrap().hostname.as_deref(), Some("py"));

        // A Sandbox naming the pool with the same spec: same spec hash, and the
        // Pod it would get as the pool's identity is the warm Pod, to the hash.
        let mut asked = template.clone();
        asked["poolName"] = json!("py");
        let alice = sandbox(asked);
        assert_eq!(sandbox_spec_hash(&alice.spec), sandbox_spec_hash(&pool.spec.template));
        let as_pool = render_pod_as(&alice.spec, "team", "py", None, &settings).unwrap();
        assert_eq!(as_pool.annotations().get(labels::POD_SPEC_HASH), warm.annotations().get(labels::POD_SPEC_HASH));
        assert!(template_differences(&alice.spec, &pool.spec.template).is_empty());
        let claimed = claimed_labels(&alice);
        assert_eq!(claimed.get(labels::SANDBOX_UID).map(String::as_str), Some("sbx-uid"));
        assert_eq!(claimed.get(labels::SANDBOX_NAME).map(String::as_str), Some("alice"));
    }

    #[test]
    fn a_different_sandbox_names_what_differs() {
        let pool = pool(json!({"image": "img", "docker": {"mode": "dind"}}));
        let other = sandbox(json!({"image": "other", "poolName": "py", "suspended": true, "docker": {"mode": "none"}}));
        assert_eq!(template_differences(&other.spec, &pool.spec.template), ["docker", "image"]);
    }

    #[test]
    fn templates_that_cannot_be_warm_are_named() {
        let spec = |v: serde_json::Value| -> SandboxSpec { serde_json::from_value(v).unwrap() };
        assert!(template_problem(&spec(json!({"image": "i", "docker": {"mode": "dind"}})), None).is_none());
        assert!(template_problem(&spec(json!({"image": "i"})), None).is_none());
        assert!(template_problem(&spec(json!({"image": "i", "docker": {"mode": "hostSocket"}})), None).is_none());
        let raw = spec(json!({"image": "i", "docker": {"mode": "hostSocket", "hostSocket": {"access": "raw"}}}));
        let raw = template_problem(&raw, None).unwrap();
        assert!(raw.starts_with("template.docker.hostSocket.access"), "{raw}");
        let claim = spec(json!({"image": "i", "workspace": {"persistentVolumeClaim": {"claimName": "c"}}}));
        assert!(template_problem(&claim, None).unwrap().starts_with("template.workspace"));
        let store = spec(json!({"image": "i", "docker": {"mode": "dind", "dind": {"storage": {"persistent": true}}}}));
        assert!(template_problem(&store, None).unwrap().starts_with("template.docker.dind.storage.persistent"));
    }
}
