//! Labels, annotations and names Dockyard puts on what it creates.

use std::collections::BTreeMap;

/// Name of the Sandbox a Pod or claim belongs to.
pub const SANDBOX_NAME: &str = "dockyard.dev/sandbox";
/// UID of the Sandbox a Pod belongs to; also the label the node agent puts on
/// every Docker object a brokered sandbox creates.
pub const SANDBOX_UID: &str = "dockyard.dev/sandbox-uid";
/// The network class of a sandbox Pod: which of the controller's
/// NetworkPolicies selects it ([`crate::network::class_label`]).
pub const NETWORK_CLASS: &str = "dockyard.dev/network-class";
/// The SandboxPool a Pod was started by (kept once claimed).
pub const POOL: &str = "dockyard.dev/pool";
/// Docker mode of a sandbox Pod.
pub const DOCKER_MODE: &str = "dockyard.dev/docker-mode";
/// Hash of the rendered Pod spec: when it differs from what the controller
/// renders now (Dockyard's images or defaults, the class changed), an update
/// is pending; it is never a reason to replace a running Pod by itself.
pub const POD_SPEC_HASH: &str = "dockyard.dev/pod-spec-hash";
/// Hash of the Sandbox's own spec the Pod was made from (its lifecycle fields
/// `suspended` and `shutdownTime` left out): only a change of it — the
/// user's change to the Sandbox — replaces a running Pod.
pub const SANDBOX_SPEC_HASH: &str = "dockyard.dev/sandbox-spec-hash";
/// Node label the node agent keeps: `"true"` while the node's Docker daemon
/// answers, `"false"` while it does not. Host-socket sandboxes are scheduled
/// only onto nodes where it is `"true"`; DinD sandboxes need no node daemon.
pub const DOCKER_DAEMON: &str = "dockyard.dev/docker-daemon";
/// Finalizer that holds a deleted Sandbox until its node is cleaned up.
pub const CLEANUP_FINALIZER: &str = "dockyard.dev/node-cleanup";
/// Field manager of the controller's server-side applies.
pub const FIELD_MANAGER: &str = "dockyard-controller";

/// Label prefixes reserved for Dockyard; users may not set them on Pods.
pub const RESERVED_LABEL_PREFIXES: [&str; 2] = ["dockyard.dev/", "app.kubernetes.io/"];

/// Name of the Pod of a Sandbox.
pub fn pod_name(sandbox_name: &str) -> String {
    format!("sbx-{sandbox_name}")
}

/// Name of the PersistentVolumeClaim created from a Sandbox's claim template.
pub fn workspace_claim_name(sandbox_name: &str) -> String {
    format!("{sandbox_name}-workspace")
}

/// The owner reference by which a Sandbox controls an object (its Pod, its
/// claims), if one does: `controller: true`, the Sandbox kind and API version
/// the controller writes — within what the chart's ValidatingAdmissionPolicy
/// lets only the controller write (any `dockyard.dev` Sandbox), so a
/// look-alike reference counts for nothing. The controller, the agent's Pod
/// watch and its CSI publish all ask this.
pub fn controlling_sandbox(
    owners: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference],
) -> Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference> {
    use kube::Resource;
    let (kind, api_version) = (crate::Sandbox::kind(&()), crate::Sandbox::api_version(&()));
    owners.iter().find(|o| o.controller == Some(true) && o.kind == kind && o.api_version == api_version)
}

/// Name of the PersistentVolumeClaim of a Sandbox's persistent DinD store.
pub fn dind_claim_name(sandbox_name: &str) -> String {
    format!("{sandbox_name}-docker")
}

/// The labels on every object Dockyard creates for a Sandbox.
pub fn sandbox_labels(sandbox_name: &str, component: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".to_string(), "dockyard-sandbox".to_string()),
        ("app.kubernetes.io/instance".to_string(), sandbox_name.to_string()),
        ("app.kubernetes.io/component".to_string(), component.to_string()),
        ("app.kubernetes.io/managed-by".to_string(), FIELD_MANAGER.to_string()),
        (SANDBOX_NAME.to_string(), sandbox_name.to_string()),
    ])
}

/// Whether a label key belongs to Dockyard.
pub fn is_reserved_label(key: &str) -> bool {
    RESERVED_LABEL_PREFIXES.iter().any(|p| key.starts_with(p))
}

/// The CSI driver the node agent registers with the kubelet.
pub const BROKER_CSI_DRIVER: &str = "broker.dockyard.dev";
