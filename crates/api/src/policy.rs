//! Admission policy: which SandboxClass applies to a Sandbox, whether that
//! class allows what the Sandbox asks for, and what it lets a brokered
//! host-socket sandbox do on the node's Docker daemon. Pure functions; the
//! controller looks up the classes and the namespace's labels and writes the
//! outcome as the `Admitted` condition, the node agent does the same lookups
//! for its broker's rules.

use std::borrow::Borrow;
use std::collections::BTreeMap;

use dockyard_docker_policy::Rules;
use dockyard_docker_policy::scope::{ContainerEgress, EgressDestination, EgressPort};
use k8s_openapi::api::core::v1::ResourceRequirements;
use kube::ResourceExt;

use crate::quantity;
use crate::v1alpha1::{
    ClassNetwork, DockerMode, Egress, HostSocketAccess, PodSecurityLevel, Sandbox, SandboxClass, SandboxClassSpec,
};
use crate::validation;

/// Why a Sandbox was not admitted. The variant's name is the `reason` of the
/// `Admitted=False` condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefusalReason {
    /// `spec.className` names a class that does not exist.
    ClassNotFound,
    /// The class's `namespaceSelector` does not match the Sandbox's namespace.
    NamespaceNotAllowed,
    /// The class's `allowedDockerModes` lacks the requested mode.
    DockerModeNotAllowed,
    /// Raw host socket requested, class lacks `allowRawHostSocket`.
    RawHostSocketNotAllowed,
    /// A request or limit exceeds the class's `maxResources`.
    ResourcesExceedMaximum,
    /// DinD storage exceeds the class's `dind.maxStorageSize`.
    StorageExceedsMaximum,
    /// `spec.pod.runtimeClassName` names a runtime class its class does not allow.
    RuntimeClassNotAllowed,
    /// The namespace enforces a Pod Security level the class is not meant
    /// for (`spec.podSecurityLevels`).
    ClassNotMeantForLevel,
    /// `spec.sudo.commands` in a namespace enforcing `restricted`: a setuid
    /// sudo needs `allowPrivilegeEscalation`.
    SudoNeedsEscalation,
    /// The Sandbox or its class fails a check the schema cannot express.
    InvalidSpec,
}

impl RefusalReason {
    /// Whether the namespace's Pod Security level refused it (the Sandbox's
    /// `PodSecurity` condition says so too).
    pub fn is_pod_security(self) -> bool {
        matches!(self, Self::ClassNotMeantForLevel | Self::SudoNeedsEscalation)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClassNotFound => "ClassNotFound",
            Self::NamespaceNotAllowed => "NamespaceNotAllowed",
            Self::DockerModeNotAllowed => "DockerModeNotAllowed",
            Self::RawHostSocketNotAllowed => "RawHostSocketNotAllowed",
            Self::ResourcesExceedMaximum => "ResourcesExceedMaximum",
            Self::StorageExceedsMaximum => "StorageExceedsMaximum",
            Self::RuntimeClassNotAllowed => "RuntimeClassNotAllowed",
            Self::ClassNotMeantForLevel => "ClassNotMeantForLevel",
            Self::SudoNeedsEscalation => "SudoNeedsEscalation",
            Self::InvalidSpec => "InvalidSpec",
        }
    }
}

/// A refused Sandbox: the rule that refused it, in words a user can act on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", reason.as_str())]
pub struct Refusal {
    pub reason: RefusalReason,
    pub message: String,
}

impl Refusal {
    fn new(reason: RefusalReason, message: impl Into<String>) -> Self {
        Self { reason, message: message.into() }
    }
}

/// The class that governs a Sandbox.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ClassChoice<'a> {
    /// The named class, or the default class.
    Class(&'a SandboxClass),
    /// No class named and none marked default: Dockyard's built-in policy
    /// (every mode allowed, no raw host socket, privileged DinD).
    BuiltIn,
}

impl ClassChoice<'_> {
    /// Name of the class for messages.
    pub fn name(&self) -> String {
        match self {
            Self::Class(c) => c.name_any(),
            Self::BuiltIn => "(built-in default)".into(),
        }
    }

    /// The class's spec; none for the built-in policy.
    pub fn spec(&self) -> Option<&SandboxClassSpec> {
        match self {
            Self::Class(c) => Some(&c.spec),
            Self::BuiltIn => None,
        }
    }
}

/// Picks the class of a Sandbox: the one it names, else the default class
/// (the oldest of those marked `default: true`, by creation time then name),
/// else the built-in policy.
pub fn choose_class<'a, C: Borrow<SandboxClass>>(
    sandbox: &Sandbox,
    classes: &'a [C],
) -> Result<ClassChoice<'a>, Refusal> {
    let classes = classes.iter().map(Borrow::borrow);
    if let Some(name) = &sandbox.spec.class_name {
        return classes.clone().find(|c| &c.name_any() == name).map(ClassChoice::Class).ok_or_else(|| {
            Refusal::new(RefusalReason::ClassNotFound, format!("SandboxClass {name:?} (spec.className) does not exist"))
        });
    }
    let default = classes
        .filter(|c| c.spec.default)
        .min_by(|a, b| (a.creation_timestamp(), a.name_any()).cmp(&(b.creation_timestamp(), b.name_any())));
    Ok(default.map(ClassChoice::Class).unwrap_or(ClassChoice::BuiltIn))
}

/// Decides whether `class` admits `sandbox` in a namespace with `namespace_labels`.
pub fn admit(
    sandbox: &Sandbox,
    class: ClassChoice<'_>,
    namespace_labels: &BTreeMap<String, String>,
) -> Result<(), Refusal> {
    let spec = &sandbox.spec;
    validation::validate_sandbox(spec).map_err(|e| Refusal::new(RefusalReason::InvalidSpec, e.to_string()))?;
    pod_security(sandbox, class, namespace_labels)?;
    let ClassChoice::Class(class) = class else {
        // The built-in class: the cluster's default runtime only.
        if let Some(asked) = spec.pod.as_ref().and_then(|p| p.runtime_class_name.as_ref()) {
            return Err(Refusal::new(
                RefusalReason::RuntimeClassNotAllowed,
                format!(
                    "spec.pod.runtimeClassName {asked:?}: without a SandboxClass, Sandboxes use the cluster's default \
                     runtime; a SandboxClass allows others (runtimeClassName, allowedRuntimeClassNames)"
                ),
            ));
        }
        return Ok(());
    };
    let class_name = class.name_any();
    let rules = &class.spec;
    validation::validate_class(rules).map_err(|e| {
        Refusal::new(RefusalReason::InvalidSpec, format!("SandboxClass {class_name:?} is invalid: {e}"))
    })?;

    if let Some(selector) = &rules.namespace_selector {
        let allowed = crate::selector::matches(selector, namespace_labels).map_err(|e| {
            Refusal::new(RefusalReason::InvalidSpec, format!("SandboxClass {class_name:?} spec.namespaceSelector.{e}"))
        })?;
        if !allowed {
            return Err(Refusal::new(
                RefusalReason::NamespaceNotAllowed,
                format!(
                    "SandboxClass {class_name:?} does not allow namespace {:?} (spec.namespaceSelector does not match its labels)",
                    sandbox.namespace().unwrap_or_default()
                ),
            ));
        }
    }

    let mode = spec.docker.mode;
    if !rules.allowed_docker_modes.contains(&mode) {
        let allowed: Vec<&str> = rules.allowed_docker_modes.iter().map(|m| m.as_str()).collect();
        return Err(Refusal::new(
            RefusalReason::DockerModeNotAllowed,
            format!(
                "SandboxClass {class_name:?} does not allow docker mode {mode} (spec.allowedDockerModes: {})",
                allowed.join(", ")
            ),
        ));
    }
    if mode == DockerMode::HostSocket
        && spec.host_socket_access() == HostSocketAccess::Raw
        && !rules.allow_raw_host_socket
    {
        return Err(Refusal::new(
            RefusalReason::RawHostSocketNotAllowed,
            format!(
                "SandboxClass {class_name:?} does not allow raw host sockets (spec.allowRawHostSocket is false); use docker.hostSocket.access: brokered"
            ),
        ));
    }

    // The class's runtime class wins: a Sandbox may name only one it allows.
    // Privileged inner containers are safe only in the class's own (the
    // schema refuses a list with them; this holds even without it).
    let others: &[String] =
        if rules.dind.privileged_containers.is_some() { &[] } else { &rules.allowed_runtime_class_names };
    if let Some(asked) = spec.pod.as_ref().and_then(|p| p.runtime_class_name.as_ref())
        && Some(asked) != rules.runtime_class_name.as_ref()
        && !others.contains(asked)
    {
        let allowed: Vec<&str> = rules.runtime_class_name.iter().chain(others).map(String::as_str).collect();
        let allowed = if allowed.is_empty() { "none".to_string() } else { allowed.join(", ") };
        return Err(Refusal::new(
            RefusalReason::RuntimeClassNotAllowed,
            format!(
                "spec.pod.runtimeClassName {asked:?} is not allowed by SandboxClass {class_name:?} \
                 (its runtimeClassName and spec.allowedRuntimeClassNames: {allowed}); omit it to get the class's"
            ),
        ));
    }

    // The whole Pod counts: the workload and, in DinD, the sidecar (whose
    // daemon's containers live in its cgroup). One-shot init containers run
    // before them with the workload's resources, so they add nothing.
    let workload = spec.resources.as_ref().or(rules.default_resources.as_ref());
    let sidecar = (mode == DockerMode::Dind)
        .then(|| spec.docker.dind.as_ref().and_then(|d| d.resources.as_ref()).or(rules.dind.resources.as_ref()))
        .flatten();
    for (resource, max) in &rules.max_resources {
        let max_millis = quantity::millis(&max.0).expect("validated above");
        for kind in ["requests", "limits"] {
            let asked = |r: Option<&ResourceRequirements>| {
                let list = if kind == "requests" { r?.requests.as_ref() } else { r?.limits.as_ref() };
                list?.get(resource).map(|q| q.0.clone())
            };
            let parts: Vec<(&str, String)> = [("workload", asked(workload)), ("dind sidecar", asked(sidecar))]
                .into_iter()
                .filter_map(|(who, q)| Some((who, q?)))
                .collect();
            let total: i128 = parts.iter().map(|(_, q)| quantity::millis(q).expect("validated above")).sum();
            if total > max_millis {
                let parts: Vec<String> = parts.iter().map(|(who, q)| format!("{who} {q}")).collect();
                return Err(Refusal::new(
                    RefusalReason::ResourcesExceedMaximum,
                    format!(
                        "the Pod's {kind}.{resource} ({}) exceed the maximum {} of SandboxClass {class_name:?} \
                         (spec.maxResources.{resource}); set spec.resources and spec.docker.dind.resources to fit",
                        parts.join(" + "),
                        max.0
                    ),
                ));
            }
        }
    }

    if mode == DockerMode::Dind
        && let Some(max) = &rules.dind.max_storage_size
    {
        let asked = spec.docker.dind.as_ref().and_then(|d| d.storage.as_ref()).and_then(|s| s.size.as_ref());
        let asked = asked.or(rules.dind.storage_size.as_ref());
        if let Some(asked) = asked
            && quantity::millis(&asked.0).expect("validated above") > quantity::millis(&max.0).expect("validated above")
        {
            return Err(Refusal::new(
                RefusalReason::StorageExceedsMaximum,
                format!(
                    "DinD storage {} exceeds the maximum {} of SandboxClass {class_name:?} (spec.dind.maxStorageSize)",
                    asked.0, max.0
                ),
            ));
        }
    }
    Ok(())
}

/// The checks Pod Security admission would make too late or in other words:
/// the class's declared levels, and sudo under `restricted` (a setuid sudo
/// needs `allowPrivilegeEscalation`). Everything else is the API server's
/// say when the Pod is created: nothing is made when it refuses.
fn pod_security(
    sandbox: &Sandbox,
    class: ClassChoice<'_>,
    namespace_labels: &BTreeMap<String, String>,
) -> Result<(), Refusal> {
    let namespace = sandbox.namespace().unwrap_or_default();
    let enforced = PodSecurityLevel::enforced(namespace_labels);
    if let ClassChoice::Class(class) = class
        && !class.spec.pod_security_levels.is_empty()
        && !enforced.is_some_and(|level| class.spec.pod_security_levels.contains(&level))
    {
        let meant_for: Vec<&str> = class.spec.pod_security_levels.iter().map(|l| l.as_str()).collect();
        let enforces = match enforced {
            Some(level) => format!("enforces Pod Security {:?}", level.as_str()),
            None => format!(
                "has {}={:?}, which is no Pod Security level",
                PodSecurityLevel::ENFORCE_LABEL,
                namespace_labels.get(PodSecurityLevel::ENFORCE_LABEL).map(String::as_str).unwrap_or_default()
            ),
        };
        return Err(Refusal::new(
            RefusalReason::ClassNotMeantForLevel,
            format!(
                "namespace {namespace:?} {enforces}; SandboxClass {:?} is meant for {} (spec.podSecurityLevels): use \
                 a class meant for this namespace's level",
                class.name_any(),
                meant_for.join(", ")
            ),
        ));
    }
    if enforced == Some(PodSecurityLevel::Restricted) && !sandbox.spec.sudo_commands().is_empty() {
        return Err(Refusal::new(
            RefusalReason::SudoNeedsEscalation,
            format!(
                "namespace {namespace:?} enforces Pod Security \"restricted\", which requires \
                 allowPrivilegeEscalation=false; spec.sudo.commands needs a setuid sudo, that is privilege \
                 escalation: remove spec.sudo.commands, or use a namespace enforcing \"baseline\" (sudo.commands is \
                 a convenience, not a security boundary)"
            ),
        ));
    }
    Ok(())
}

/// What a class lets its brokered host-socket sandboxes do on the node's
/// Docker daemon (`spec.broker`). The built-in policy: the defaults, which
/// refuse every node-facing knob.
pub fn broker_rules(class: ClassChoice<'_>) -> Rules {
    let ClassChoice::Class(class) = class else {
        return Rules { egress: container_egress(&ClassNetwork::default()), ..Rules::default() };
    };
    let broker = &class.spec.broker;
    Rules {
        egress: container_egress(&class.spec.network),
        pids_limit: broker.pids_limit,
        log_drivers: broker.log_drivers.clone(),
        publish_host_ip: broker.published_ports.as_ref().map(|p| p.host_ip.clone()),
        // Brokered containers publish on the node's addresses: only on hostIP.
        publish_anywhere: false,
        allow_remote_fetch: broker.allow_remote_fetch,
        shared_images: broker.shared_images.clone(),
        // The node's daemon: never.
        privileged_containers: false,
    }
}

/// Where a class's brokered containers may connect: what its sandboxes'
/// Pods may (`network.egress` and `egressTo`; cluster DNS needs no rule:
/// containers resolve through the daemon).
pub fn container_egress(network: &ClassNetwork) -> ContainerEgress {
    ContainerEgress {
        internet: network.egress == Egress::Internet,
        to: network
            .egress_to
            .iter()
            .map(|d| EgressDestination {
                cidr: d.cidr.clone(),
                ports: d
                    .ports
                    .iter()
                    .map(|p| EgressPort {
                        protocol: p.protocol.as_str().to_ascii_lowercase(),
                        port: u16::try_from(p.port).unwrap_or(0),
                        end_port: p.end_port.and_then(|e| u16::try_from(e).ok()),
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// The broker rules of `sandbox`: those of the class that governs it when
/// that class admits it, as the controller decides it; else why not (the
/// caller falls back to [`Rules::default`], the strictest).
pub fn sandbox_broker_rules<C: Borrow<SandboxClass>>(
    sandbox: &Sandbox,
    classes: &[C],
    namespace_labels: &BTreeMap<String, String>,
) -> Result<Rules, Refusal> {
    let class = choose_class(sandbox, classes)?;
    admit(sandbox, class, namespace_labels)?;
    Ok(broker_rules(class))
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use serde_json::json;

    use super::*;

    fn sandbox(spec: serde_json::Value) -> Sandbox {
        serde_json::from_value(json!({
            "apiVersion": "dockyard.dev/v1alpha1", "kind": "Sandbox",
            "metadata": {"name": "dev", "namespace": "team-a", "uid": "u-1"},
            "spec": spec,
        }))
        .unwrap()
    }

    fn class(name: &str, spec: serde_json::Value) -> SandboxClass {
        serde_json::from_value(json!({
            "apiVersion": "dockyard.dev/v1alpha1", "kind": "SandboxClass",
            "metadata": {"name": name}, "spec": spec,
        }))
        .unwrap()
    }

    fn refusal(sbx: &Sandbox, cls: &SandboxClass) -> Refusal {
        admit(sbx, ClassChoice::Class(cls), &BTreeMap::new()).unwrap_err()
    }

    #[test]
    fn named_class_is_used_and_a_missing_one_is_refused() {
        let classes = vec![class("a", json!({})), class("b", json!({"default": true}))];
        let sbx = sandbox(json!({"image": "x", "className": "a"}));
        assert_eq!(choose_class(&sbx, &classes).unwrap().name(), "a");
        let sbx = sandbox(json!({"image": "x", "className": "nope"}));
        let err = choose_class(&sbx, &classes).unwrap_err();
        assert_eq!(err.reason, RefusalReason::ClassNotFound);
        assert!(err.message.contains("\"nope\"") && err.message.contains("spec.className"));
    }

    #[test]
    fn default_class_is_the_oldest_marked_one_or_built_in() {
        let mut newer = class("newer", json!({"default": true}));
        newer.metadata.creation_timestamp = Some(Time("2026-02-01T00:00:00Z".parse().unwrap()));
        let mut older = class("older", json!({"default": true}));
        older.metadata.creation_timestamp = Some(Time("2026-01-01T00:00:00Z".parse().unwrap()));
        let classes = vec![newer, older, class("plain", json!({}))];
        let sbx = sandbox(json!({"image": "x"}));
        assert_eq!(choose_class(&sbx, &classes).unwrap().name(), "older");
        assert_eq!(choose_class(&sbx, &classes[2..]).unwrap(), ClassChoice::BuiltIn);
        assert_eq!(admit(&sbx, ClassChoice::BuiltIn, &BTreeMap::new()), Ok(()));
    }

    #[test]
    fn docker_mode_must_be_allowed() {
        let cls = class("no-docker", json!({"allowedDockerModes": ["none"]}));
        let r = refusal(&sandbox(json!({"image": "x"})), &cls);
        assert_eq!(r.reason, RefusalReason::DockerModeNotAllowed);
        assert!(r.message.contains("dind") && r.message.contains("allowedDockerModes: none"), "{}", r.message);
        let ok = sandbox(json!({"image": "x", "docker": {"mode": "none"}}));
        assert_eq!(admit(&ok, ClassChoice::Class(&cls), &BTreeMap::new()), Ok(()));
    }

    #[test]
    fn raw_host_socket_needs_the_class_to_allow_it() {
        let raw = sandbox(json!({"image": "x", "docker": {"mode": "hostSocket", "hostSocket": {"access": "raw"}}}));
        let r = refusal(&raw, &class("c", json!({})));
        assert_eq!(r.reason, RefusalReason::RawHostSocketNotAllowed);
        assert!(r.message.contains("allowRawHostSocket"));
        let allowing = class("c", json!({"allowRawHostSocket": true}));
        assert_eq!(admit(&raw, ClassChoice::Class(&allowing), &BTreeMap::new()), Ok(()));
        let brokered = sandbox(json!({"image": "x", "docker": {"mode": "hostSocket"}}));
        assert_eq!(admit(&brokered, ClassChoice::Class(&class("c", json!({}))), &BTreeMap::new()), Ok(()));
    }

    #[test]
    fn privileged_dind_containers_stay_in_the_class_runtime() {
        let kata = class(
            "kata",
            json!({"runtimeClassName": "kata", "dind": {"privilegedContainers": {"reason": "Pods run in Kata VMs"}}}),
        );
        let other = sandbox(json!({"image": "x", "pod": {"runtimeClassName": "runc"}}));
        let r = refusal(&other, &kata);
        assert_eq!(r.reason, RefusalReason::RuntimeClassNotAllowed);
        assert!(
            r.message.contains("spec.pod.runtimeClassName \"runc\"")
                && r.message.contains("allowedRuntimeClassNames: kata)"),
            "{}",
            r.message
        );
        for fine in [json!({"image": "x"}), json!({"image": "x", "pod": {"runtimeClassName": "kata"}})] {
            assert_eq!(admit(&sandbox(fine), ClassChoice::Class(&kata), &BTreeMap::new()), Ok(()));
        }
        // Even a list the schema would refuse does not open other runtimes to privileged containers.
        let mut listed = kata.clone();
        listed.spec.allowed_runtime_class_names = vec!["runc".into()];
        assert_eq!(refusal(&other, &listed).reason, RefusalReason::RuntimeClassNotAllowed);
        // Without the knob, the class's list.
        let open = class("c", json!({"allowedRuntimeClassNames": ["runc", "gvisor"]}));
        assert_eq!(admit(&other, ClassChoice::Class(&open), &BTreeMap::new()), Ok(()));
        let r = refusal(&sandbox(json!({"image": "x", "pod": {"runtimeClassName": "kata"}})), &open);
        assert!(r.message.contains("allowedRuntimeClassNames: runc, gvisor)"), "{}", r.message);
        // No class: the cluster's default runtime only.
        let r = admit(&other, ClassChoice::BuiltIn, &BTreeMap::new()).unwrap_err();
        assert_eq!(r.reason, RefusalReason::RuntimeClassNotAllowed);
        // The knob without a runtime class is an invalid class, named.
        let r = refusal(
            &sandbox(json!({"image": "x"})),
            &class("bad", json!({"dind": {"privilegedContainers": {"reason": "trust me please"}}})),
        );
        assert_eq!(r.reason, RefusalReason::InvalidSpec);
        assert!(
            r.message.contains("spec.dind.privilegedContainers") && r.message.contains("runtimeClassName"),
            "{}",
            r.message
        );
    }

    #[test]
    fn namespace_selector_restricts_namespaces() {
        let cls = class("team", json!({"namespaceSelector": {"matchLabels": {"dockyard.dev/tenant": "yes"}}}));
        let sbx = sandbox(json!({"image": "x"}));
        let err = admit(&sbx, ClassChoice::Class(&cls), &BTreeMap::new()).unwrap_err();
        assert_eq!(err.reason, RefusalReason::NamespaceNotAllowed);
        assert!(err.message.contains("\"team-a\""));
        let labels = BTreeMap::from([("dockyard.dev/tenant".to_string(), "yes".to_string())]);
        assert_eq!(admit(&sbx, ClassChoice::Class(&cls), &labels), Ok(()));
    }

    fn enforcing(level: &str) -> BTreeMap<String, String> {
        BTreeMap::from([(PodSecurityLevel::ENFORCE_LABEL.to_string(), level.to_string())])
    }

    #[test]
    fn a_class_declared_for_pod_security_levels_refuses_other_namespaces() {
        let cls = class("tenants", json!({"podSecurityLevels": ["baseline", "restricted"]}));
        let sbx = sandbox(json!({"image": "x", "docker": {"mode": "hostSocket"}}));
        for level in ["baseline", "restricted"] {
            assert_eq!(admit(&sbx, ClassChoice::Class(&cls), &enforcing(level)), Ok(()), "{level}");
        }
        // No label: the namespace enforces privileged.
        let err = admit(&sbx, ClassChoice::Class(&cls), &BTreeMap::new()).unwrap_err();
        assert_eq!(err.reason, RefusalReason::ClassNotMeantForLevel);
        assert!(err.reason.is_pod_security());
        assert!(
            err.message.contains(r#"namespace "team-a" enforces Pod Security "privileged""#)
                && err.message.contains("baseline, restricted (spec.podSecurityLevels)"),
            "{}",
            err.message
        );
        let err = admit(&sbx, ClassChoice::Class(&cls), &enforcing("strict")).unwrap_err();
        assert!(
            err.message.contains(r#"pod-security.kubernetes.io/enforce="strict", which is no Pod Security level"#),
            "{}",
            err.message
        );
        // Undeclared: any level (Pod Security admission decides).
        let open = class("open", json!({}));
        assert_eq!(admit(&sbx, ClassChoice::Class(&open), &enforcing("restricted")), Ok(()));
    }

    #[test]
    fn sudo_under_restricted_is_refused_before_any_pod_saying_why() {
        let sudo = sandbox(json!({"image": "x", "sudo": {"commands": ["/usr/bin/apt-get"]}}));
        let open = class("open", json!({}));
        for choice in [ClassChoice::BuiltIn, ClassChoice::Class(&open)] {
            let err = admit(&sudo, choice, &enforcing("restricted")).unwrap_err();
            assert_eq!(err.reason, RefusalReason::SudoNeedsEscalation);
            assert!(
                err.message.contains("allowPrivilegeEscalation=false")
                    && err.message.contains("remove spec.sudo.commands")
                    && err.message.contains("not a security boundary"),
                "{}",
                err.message
            );
            assert_eq!(admit(&sudo, choice, &enforcing("baseline")), Ok(()));
        }
        let without = sandbox(json!({"image": "x"}));
        assert_eq!(admit(&without, ClassChoice::BuiltIn, &enforcing("restricted")), Ok(()));
    }

    #[test]
    fn resources_above_the_maximum_are_refused_with_the_rule() {
        let cls = class("small", json!({"maxResources": {"cpu": "2", "memory": "4Gi"}}));
        let big = sandbox(json!({"image": "x", "resources": {"limits": {"cpu": "2500m"}}}));
        let r = refusal(&big, &cls);
        assert_eq!(r.reason, RefusalReason::ResourcesExceedMaximum);
        assert!(
            r.message.contains("limits.cpu (workload 2500m)") && r.message.contains("maxResources.cpu"),
            "{}",
            r.message
        );
        let fits = sandbox(json!({"image": "x", "resources": {"requests": {"memory": "4Gi"}, "limits": {"cpu": "2"}}}));
        assert_eq!(admit(&fits, ClassChoice::Class(&cls), &BTreeMap::new()), Ok(()));
        // The class's own default resources are checked too.
        let cls =
            class("bad-default", json!({"maxResources": {"cpu": "1"}, "defaultResources": {"requests": {"cpu": "2"}}}));
        assert_eq!(refusal(&sandbox(json!({"image": "x"})), &cls).reason, RefusalReason::ResourcesExceedMaximum);
        // The whole Pod counts: a DinD sidecar's share is added to the workload's.
        let cls = class(
            "pod",
            json!({"maxResources": {"memory": "4Gi"}, "dind": {"resources": {"limits": {"memory": "1Gi"}}}}),
        );
        let dind = sandbox(json!({"image": "x", "resources": {"limits": {"memory": "3584Mi"}}}));
        let r = refusal(&dind, &cls);
        assert!(r.message.contains("limits.memory (workload 3584Mi + dind sidecar 1Gi)"), "{}", r.message);
        let own_sidecar = sandbox(json!({"image": "x", "resources": {"limits": {"memory": "3584Mi"}},
            "docker": {"dind": {"resources": {"limits": {"memory": "512Mi"}}}}}));
        assert_eq!(admit(&own_sidecar, ClassChoice::Class(&cls), &BTreeMap::new()), Ok(()));
        let no_sidecar =
            sandbox(json!({"image": "x", "resources": {"limits": {"memory": "3584Mi"}}, "docker": {"mode": "none"}}));
        assert_eq!(admit(&no_sidecar, ClassChoice::Class(&cls), &BTreeMap::new()), Ok(()));
    }

    #[test]
    fn dind_storage_above_the_maximum_is_refused() {
        let cls = class("c", json!({"dind": {"maxStorageSize": "50Gi"}}));
        let big = sandbox(json!({"image": "x", "docker": {"dind": {"storage": {"size": "100Gi"}}}}));
        let r = refusal(&big, &cls);
        assert_eq!(r.reason, RefusalReason::StorageExceedsMaximum);
        assert!(r.message.contains("100Gi") && r.message.contains("50Gi"));
    }

    #[test]
    fn broker_rules_come_from_the_class_and_default_to_the_strictest() {
        // Without a class, or with one that says nothing, the strictest rules,
        // but the containers reach the internet as the class's Pods do.
        let internet = Rules { egress: ContainerEgress { internet: true, to: Vec::new() }, ..Rules::default() };
        assert_eq!(broker_rules(ClassChoice::BuiltIn), internet);
        assert_eq!(broker_rules(ClassChoice::Class(&class("plain", json!({})))), internet);
        assert!(!Rules::default().egress.internet && Rules::default().egress.to.is_empty());
        assert_eq!(Rules::default().pids_limit, crate::v1alpha1::DEFAULT_PIDS_LIMIT);
        let open = class(
            "open",
            json!({"broker": {
                "pidsLimit": 4096,
                "logDrivers": ["journald", "syslog"],
                "publishedPorts": {"hostIP": "127.0.0.1"},
                "allowRemoteFetch": true,
                "sharedImages": ["busybox:1.36"],
            },
            // What a class allows its own daemons never reaches the node's.
            "runtimeClassName": "kata", "dind": {"privilegedContainers": {"reason": "Pods run in Kata VMs"}},
            "network": {"egress": "None", "egressTo": [{"cidr": "10.20.0.0/16", "ports": [{"port": 443}, {"protocol": "UDP", "port": 53, "endPort": 54}]}]}}),
        );
        assert_eq!(
            broker_rules(ClassChoice::Class(&open)),
            Rules {
                pids_limit: 4096,
                log_drivers: vec!["journald".into(), "syslog".into()],
                publish_host_ip: Some("127.0.0.1".into()),
                publish_anywhere: false,
                allow_remote_fetch: true,
                shared_images: vec!["busybox:1.36".into()],
                privileged_containers: false,
                egress: ContainerEgress {
                    internet: false,
                    to: vec![EgressDestination {
                        cidr: "10.20.0.0/16".into(),
                        ports: vec![
                            EgressPort { protocol: "tcp".into(), port: 443, end_port: None },
                            EgressPort { protocol: "udp".into(), port: 53, end_port: Some(54) },
                        ],
                    }],
                },
            }
        );
        // Only some fields: the others keep their defaults.
        let some = class("some", json!({"broker": {"logDrivers": ["journald"]}}));
        let rules = broker_rules(ClassChoice::Class(&some));
        assert_eq!((rules.pids_limit, rules.log_drivers.as_slice()), (1024, ["journald".to_string()].as_slice()));
        assert_eq!(rules.publish_host_ip, None);
    }

    #[test]
    fn a_sandbox_gets_its_admitting_class_rules_or_a_refusal() {
        let hs = json!({"image": "x", "docker": {"mode": "hostSocket"}});
        let open = class("open", json!({"default": true, "broker": {"allowRemoteFetch": true}}));
        let team = class(
            "team",
            json!({"broker": {"pidsLimit": 64}, "namespaceSelector": {"matchLabels": {"tenant": "yes"}}}),
        );
        let classes = vec![open, team];
        let none = BTreeMap::new();
        // No class named: the default class.
        assert!(sandbox_broker_rules(&sandbox(hs.clone()), &classes, &none).unwrap().allow_remote_fetch);
        // No class at all: the built-in policy (its network: the internet).
        assert_eq!(
            sandbox_broker_rules(&sandbox(hs.clone()), &classes[1..], &none),
            Ok(broker_rules(ClassChoice::BuiltIn))
        );
        // A class that does not admit the namespace gives no rules.
        let mut named = hs.clone();
        named["className"] = json!("team");
        let refused = sandbox_broker_rules(&sandbox(named.clone()), &classes, &none).unwrap_err();
        assert_eq!(refused.reason, RefusalReason::NamespaceNotAllowed);
        let tenant = BTreeMap::from([("tenant".to_string(), "yes".to_string())]);
        assert_eq!(sandbox_broker_rules(&sandbox(named.clone()), &classes, &tenant).unwrap().pids_limit, 64);
        named["className"] = json!("gone");
        assert_eq!(
            sandbox_broker_rules(&sandbox(named), &classes, &tenant).unwrap_err().reason,
            RefusalReason::ClassNotFound
        );
        // A class that does not allow host-socket mode gives no rules either.
        let dind_only = class("dind-only", json!({"default": true, "allowedDockerModes": ["dind"]}));
        assert_eq!(
            sandbox_broker_rules(&sandbox(hs), &[dind_only], &none).unwrap_err().reason,
            RefusalReason::DockerModeNotAllowed
        );
    }

    #[test]
    fn invalid_specs_are_refused_not_panicked_on() {
        let cls = class("c", json!({"maxResources": {"cpu": "many"}}));
        let r = refusal(&sandbox(json!({"image": "x"})), &cls);
        assert_eq!(r.reason, RefusalReason::InvalidSpec);
        assert!(r.message.contains("spec.maxResources.cpu"));
        let bad = sandbox(json!({"image": "x", "args": ["a"]}));
        assert_eq!(refusal(&bad, &class("c", json!({}))).reason, RefusalReason::InvalidSpec);
    }
}
