//! Checks the CRD schema cannot express. The schema (types, enums, bounds and
//! CEL rules) refuses most bad input at the API server; what is left here needs
//! code: quantity syntax, reserved names, paths that collide with Dockyard's
//! own mounts.

use std::fmt;

use k8s_openapi::api::core::v1::ResourceRequirements;

use crate::labels;
use crate::quantity;
use crate::render::paths;
use crate::v1alpha1::{DockerMode, MAX_POD_ANNOTATIONS_SIZE, SandboxClassSpec, SandboxSpec};

/// One problem with one field, e.g. `spec.env[0].name: DOCKER_HOST is set by Dockyard`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// JSON path of the field, from the object root (`spec.user.name`).
    pub field: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Every problem found in one object.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ValidationErrors(pub Vec<FieldError>);

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&parts.join("; "))
    }
}

#[derive(Default)]
struct Collector(Vec<FieldError>);

impl Collector {
    fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError { field: field.into(), message: message.into() });
    }

    fn quantity(&mut self, field: impl Into<String>, value: &str) {
        if let Err(err) = quantity::millis(value) {
            self.push(field, err.to_string());
        }
    }

    fn resources(&mut self, field: &str, resources: Option<&ResourceRequirements>) {
        let Some(r) = resources else { return };
        for (kind, list) in [("requests", &r.requests), ("limits", &r.limits)] {
            for (name, q) in list.iter().flatten() {
                self.quantity(format!("{field}.{kind}.{name}"), &q.0);
            }
        }
    }

    fn finish(self) -> Result<(), ValidationErrors> {
        if self.0.is_empty() { Ok(()) } else { Err(ValidationErrors(self.0)) }
    }
}

/// Environment variables Dockyard sets itself.
const RESERVED_ENV: [&str; 1] = ["DOCKER_HOST"];

/// Files Dockyard mounts over the workload's own: its user, its groups, its
/// sudoers drop-in.
const USER_FILES: [&str; 3] = ["/etc/passwd", "/etc/group", "/etc/sudoers.d"];

/// Checks a Sandbox spec beyond its schema.
pub fn validate_sandbox(spec: &SandboxSpec) -> Result<(), ValidationErrors> {
    let mut c = Collector::default();

    if spec.command.is_empty() && !spec.args.is_empty() {
        c.push(
            "spec.args",
            "args need a command: Dockyard replaces the image's entrypoint, so give spec.command as well",
        );
    }
    for (i, env) in spec.env.iter().enumerate() {
        let reserved = RESERVED_ENV.contains(&env.name.as_str()) && spec.docker.mode != DockerMode::None;
        if reserved || env.name.starts_with("DOCKYARD_") {
            c.push(format!("spec.env[{i}].name"), format!("{} is set by Dockyard and may not be given", env.name));
        }
    }
    if let Some(dir) = &spec.working_dir
        && !dir.starts_with('/')
    {
        c.push("spec.workingDir", format!("{dir:?} must be an absolute path"));
    }
    if spec.user.name == "root" {
        c.push("spec.user.name", "root is not allowed: the workload always runs as an unprivileged user");
    }
    c.resources("spec.resources", spec.resources.as_ref());

    let workspace = spec.workspace_or_default();
    let mount = workspace.mount_path.trim_end_matches('/');
    let dockyard_mounts =
        [paths::DOCKYARD_BIN_DIR, paths::USER_FILES_DIR, paths::DOCKER_SOCKET_DIR, paths::DIND_DATA_DIR];
    for reserved in dockyard_mounts.into_iter().chain(USER_FILES) {
        if mount == reserved || mount.starts_with(&format!("{reserved}/")) || reserved.starts_with(&format!("{mount}/"))
        {
            c.push("spec.workspace.mountPath", format!("{mount} overlaps {reserved}, which Dockyard mounts itself"));
        }
    }
    if let Some(size) = workspace.empty_dir.as_ref().and_then(|e| e.size_limit.as_ref()) {
        c.quantity("spec.workspace.emptyDir.sizeLimit", &size.0);
    }

    if let Some(dind) = &spec.docker.dind {
        if let Some(size) = dind.storage.as_ref().and_then(|s| s.size.as_ref()) {
            c.quantity("spec.docker.dind.storage.size", &size.0);
        }
        c.resources("spec.docker.dind.resources", dind.resources.as_ref());
    }

    for key in spec.pod.iter().flat_map(|p| p.labels.keys()) {
        if labels::is_reserved_label(key) {
            c.push(
                format!("spec.pod.labels[{key}]"),
                format!("labels under {} belong to Dockyard", labels::RESERVED_LABEL_PREFIXES.join(" and ")),
            );
        }
    }
    // The API server limits the total size of a Pod's annotations, which the
    // schema cannot add up.
    let annotations: usize = spec.pod.iter().flat_map(|p| &p.annotations).map(|(k, v)| k.len() + v.len()).sum();
    if annotations > MAX_POD_ANNOTATIONS_SIZE {
        c.push(
            "spec.pod.annotations",
            format!(
                "keys and values take {annotations} bytes, more than the {MAX_POD_ANNOTATIONS_SIZE} a sandbox's Pod has room for (the API server allows 256 KiB of annotations, some of them Dockyard's)"
            ),
        );
    }
    c.finish()
}

/// Checks a SandboxClass spec beyond its schema.
pub fn validate_class(spec: &SandboxClassSpec) -> Result<(), ValidationErrors> {
    let mut c = Collector::default();
    c.resources("spec.defaultResources", spec.default_resources.as_ref());
    c.resources("spec.dind.resources", spec.dind.resources.as_ref());
    for (name, q) in &spec.max_resources {
        c.quantity(format!("spec.maxResources.{name}"), &q.0);
    }
    for (field, q) in [("storageSize", &spec.dind.storage_size), ("maxStorageSize", &spec.dind.max_storage_size)] {
        if let Some(q) = q {
            c.quantity(format!("spec.dind.{field}"), &q.0);
        }
    }
    if spec.dind.privileged_containers.is_some() && spec.runtime_class_name.is_none() {
        c.push(
            "spec.dind.privilegedContainers",
            "needs spec.runtimeClassName: a runtime that isolates the Pod from the node (Sysbox, Kata, gVisor)",
        );
    }
    if let Some(selector) = &spec.namespace_selector
        && let Err(err) = crate::selector::matches(selector, &Default::default())
    {
        c.push(format!("spec.namespaceSelector.matchExpressions[{}]", err.index), err.problem);
    }
    c.finish()
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::EnvVar;
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

    use super::*;
    use crate::v1alpha1::{DindSpec, DindStorage, PodSettings, WorkspaceSpec};

    fn spec() -> SandboxSpec {
        serde_json::from_value(serde_json::json!({"image": "dockyard-sandbox:latest"})).unwrap()
    }

    fn fields(result: Result<(), ValidationErrors>) -> Vec<String> {
        result.unwrap_err().0.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn a_minimal_sandbox_is_valid() {
        assert_eq!(validate_sandbox(&spec()), Ok(()));
    }

    #[test]
    fn docker_host_is_reserved_unless_docker_is_off() {
        let mut s = spec();
        s.env.push(EnvVar { name: "DOCKER_HOST".into(), value: Some("tcp://x".into()), ..Default::default() });
        assert_eq!(fields(validate_sandbox(&s)), ["spec.env[0].name"]);
        s.docker.mode = DockerMode::None;
        assert_eq!(validate_sandbox(&s), Ok(()));
        s.env.push(EnvVar { name: "DOCKYARD_X".into(), ..Default::default() });
        assert_eq!(fields(validate_sandbox(&s)), ["spec.env[1].name"]);
    }

    #[test]
    fn args_without_command_are_refused() {
        let mut s = spec();
        s.args = vec!["-c".into()];
        let err = validate_sandbox(&s).unwrap_err();
        assert_eq!(err.0[0].field, "spec.args");
        assert!(err.to_string().contains("spec.command"));
    }

    #[test]
    fn bad_quantities_name_their_field() {
        let mut s = spec();
        s.docker.dind = Some(DindSpec {
            storage: Some(DindStorage {
                size: Some(Quantity("lots".into())),
                storage_class_name: None,
                persistent: None,
            }),
            ..Default::default()
        });
        let err = validate_sandbox(&s).unwrap_err();
        assert_eq!(err.0[0].field, "spec.docker.dind.storage.size");
        assert!(err.0[0].message.contains("\"lots\""));
    }

    #[test]
    fn workspace_may_not_cover_dockyard_mounts() {
        // Dockyard's own volumes, and the user files it mounts over the image's
        // (the same mount path twice is a Pod the API server refuses).
        for path in [
            "/var/run",
            "/var/run/dockyard",
            "/dockyard/bin/x",
            "/var/lib/docker",
            "/etc/passwd",
            "/etc/group/",
            "/etc/sudoers.d",
        ] {
            let mut s = spec();
            s.workspace = Some(WorkspaceSpec { mount_path: path.into(), ..Default::default() });
            assert_eq!(fields(validate_sandbox(&s)), ["spec.workspace.mountPath"], "{path}");
        }
        let mut s = spec();
        s.workspace = Some(WorkspaceSpec { mount_path: "/home/dev/work".into(), ..Default::default() });
        assert_eq!(validate_sandbox(&s), Ok(()));
    }

    #[test]
    fn reserved_labels_root_and_relative_paths_are_refused() {
        let mut s = spec();
        s.pod = Some(PodSettings {
            labels: [("dockyard.dev/sandbox".to_string(), "x".to_string())].into(),
            ..Default::default()
        });
        s.user.name = "root".into();
        s.working_dir = Some("src".into());
        let mut got = fields(validate_sandbox(&s));
        got.sort();
        assert_eq!(got, ["spec.pod.labels[dockyard.dev/sandbox]", "spec.user.name", "spec.workingDir"]);
    }

    #[test]
    fn pod_annotations_leave_room_for_dockyards() {
        let mut s = spec();
        let key = "example.com/blob";
        let fill = |s: &mut SandboxSpec, len: usize| {
            s.pod =
                Some(PodSettings { annotations: [(key.to_string(), "b".repeat(len))].into(), ..Default::default() });
        };
        fill(&mut s, MAX_POD_ANNOTATIONS_SIZE - key.len());
        assert_eq!(validate_sandbox(&s), Ok(()));
        fill(&mut s, MAX_POD_ANNOTATIONS_SIZE - key.len() + 1);
        let err = validate_sandbox(&s).unwrap_err();
        assert_eq!(err.0[0].field, "spec.pod.annotations");
        assert!(err.0[0].message.contains(&MAX_POD_ANNOTATIONS_SIZE.to_string()), "{err}");
        // The limit is the API server's, less what Dockyard adds.
        let dockyard = labels::POD_SPEC_HASH.len() + 16 + labels::SANDBOX_SPEC_HASH.len() + 16;
        assert_eq!(MAX_POD_ANNOTATIONS_SIZE + dockyard, 256 * 1024);
    }

    #[test]
    fn class_quantities_are_checked() {
        let mut c = SandboxClassSpec::default();
        c.max_resources.insert("cpu".into(), Quantity("4 cores".into()));
        assert_eq!(fields(validate_class(&c)), ["spec.maxResources.cpu"]);
    }
}
