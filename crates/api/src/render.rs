//! Pure rendering of a Sandbox into the objects that run it: a Pod (for each
//! docker mode) and, for a claim template, its PersistentVolumeClaim.
//!
//! The same input always renders the same output, so the controller can
//! server-side apply the result on every reconcile, and tests can assert
//! whole objects.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    AppArmorProfile, CSIVolumeSource, Capabilities, Container, EmptyDirVolumeSource, EnvVar, EphemeralVolumeSource,
    ExecAction, HostPathVolumeSource, PersistentVolumeClaim, PersistentVolumeClaimSpec, PersistentVolumeClaimTemplate,
    PersistentVolumeClaimVolumeSource, Pod, PodSecurityContext, PodSpec, Probe, SeccompProfile, SecurityContext,
    Volume, VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::{Resource, ResourceExt};

use crate::labels;
use crate::v1alpha1::{
    DEFAULT_DIND_STORAGE_SIZE, DIND_USER_NAMESPACE_CAPABILITIES, DindSecurityProfile, DockerMode, HostSocketAccess,
    Sandbox, SandboxClassSpec, SandboxSpec, SandboxUser,
};

/// Fixed paths inside a sandbox Pod.
pub mod paths {
    /// Where the init container installs `dockyard-entrypoint`.
    pub const DOCKYARD_BIN_DIR: &str = "/dockyard/bin";
    /// The entrypoint binary as the workload and the DinD sidecar run it.
    pub const ENTRYPOINT: &str = "/dockyard/bin/dockyard-entrypoint";
    /// Directory holding the Docker socket the workload uses.
    pub const DOCKER_SOCKET_DIR: &str = "/var/run/dockyard";
    /// The Docker socket the workload uses.
    pub const DOCKER_SOCKET: &str = "/var/run/dockyard/docker.sock";
    /// The socket the DinD daemon listens on (`dockyard-entrypoint dind
    /// --raw-socket`), in the sidecar's own filesystem: the workload never
    /// sees it. The sidecar's policy proxy serves `DOCKER_SOCKET` in front of it.
    pub const DIND_RAW_SOCKET: &str = "/run/dockyard-dind/docker.sock";
    /// Data root of the DinD daemon.
    pub const DIND_DATA_DIR: &str = "/var/lib/docker";
    /// Where the prepare-user init container writes passwd, group and sudoers.d.
    pub const USER_FILES_DIR: &str = "/dockyard/user";
}

/// Names of the containers and volumes in a sandbox Pod.
pub mod names {
    pub const WORKLOAD: &str = "workload";
    pub const DIND: &str = "dind";
    pub const INSTALL_ENTRYPOINT: &str = "install-entrypoint";
    pub const PREPARE_USER: &str = "prepare-user";
    pub const VOLUME_USER_FILES: &str = "dockyard-user";
    pub const VOLUME_BIN: &str = "dockyard-bin";
    pub const VOLUME_DOCKER_SOCKET: &str = "docker-socket";
    pub const VOLUME_DIND_DATA: &str = "docker-data";
    pub const VOLUME_WORKSPACE: &str = "workspace";
}

/// Capabilities the workload keeps when it has a sudo allowlist: what sudo and
/// package managers need, nothing more.
pub const SUDO_CAPABILITIES: [&str; 7] =
    ["AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "SETGID", "SETUID"];

/// Controller-wide settings rendering depends on (flags of the controller).
#[derive(Clone, Debug, PartialEq)]
pub struct RenderSettings {
    /// Image holding the static `dockyard-entrypoint` binary at `/dockyard-entrypoint`.
    pub entrypoint_image: String,
    /// DinD image used when the class names none.
    pub dind_image: String,
    /// Pull policy of Dockyard's own images (entrypoint, DinD).
    pub image_pull_policy: Option<String>,
    /// Group id of the Docker socket the workload sees: dockerd's `--group` in
    /// dind mode, the broker socket's group in brokered host-socket mode.
    pub docker_group_id: i64,
    /// The node's Docker socket (raw host-socket mode).
    pub node_docker_socket: String,
    /// Group id of the node's Docker socket, given to raw host-socket workloads.
    pub node_docker_group_id: Option<i64>,
}

impl Default for RenderSettings {
    fn default() -> Self {
        Self {
            entrypoint_image: "dockyard-entrypoint:latest".into(),
            dind_image: "dockyard-dind:latest".into(),
            image_pull_policy: Some("IfNotPresent".into()),
            docker_group_id: 2375,
            node_docker_socket: "/var/run/docker.sock".into(),
            node_docker_group_id: None,
        }
    }
}

/// Why a Sandbox cannot be rendered.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RenderError {
    /// The Sandbox lacks metadata the API server always sets (name, namespace, uid).
    #[error("the Sandbox has no {0}; only objects read from the API server can be rendered")]
    MissingMetadata(&'static str),
}

/// Name, namespace and the controller owner reference of a Sandbox read from
/// the API server (which always sets them).
fn server_metadata(sandbox: &Sandbox) -> Result<(String, String, OwnerReference), RenderError> {
    let name = sandbox.metadata.name.clone().ok_or(RenderError::MissingMetadata("metadata.name"))?;
    let namespace = sandbox.namespace().ok_or(RenderError::MissingMetadata("metadata.namespace"))?;
    let owner = sandbox.controller_owner_ref(&()).ok_or(RenderError::MissingMetadata("metadata.uid"))?;
    Ok((name, namespace, owner))
}

/// `DOCKER_HOST` of a sandbox's workload, if it has Docker.
pub fn docker_endpoint(mode: DockerMode) -> Option<String> {
    (mode != DockerMode::None).then(|| format!("unix://{}", paths::DOCKER_SOCKET))
}

/// The Pod of a Sandbox admitted under `class` (`None`: the built-in policy).
pub fn render_pod(
    sandbox: &Sandbox,
    class: Option<&SandboxClassSpec>,
    settings: &RenderSettings,
) -> Result<Pod, RenderError> {
    let (name, namespace, owner) = server_metadata(sandbox)?;
    let uid = owner.uid.clone();
    let spec = &sandbox.spec;
    let mode = spec.docker.mode;
    let workspace = spec.workspace_or_default();
    let pod_settings = spec.pod.clone().unwrap_or_default();

    let mut volumes = vec![
        Volume {
            name: names::VOLUME_BIN.into(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Default::default()
        },
        Volume {
            name: names::VOLUME_USER_FILES.into(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Default::default()
        },
        workspace_volume(sandbox, &name),
    ];
    let socket_gid = match (mode, spec.host_socket_access()) {
        (DockerMode::None, _) => None,
        (DockerMode::HostSocket, HostSocketAccess::Raw) => settings.node_docker_group_id,
        _ => Some(settings.docker_group_id),
    };
    let mut init_containers = vec![
        install_entrypoint_container(settings),
        prepare_user_container(sandbox, socket_gid, &workspace.mount_path),
    ];
    let mut supplemental_groups = Vec::new();

    match mode {
        DockerMode::Dind => {
            volumes.push(Volume {
                name: names::VOLUME_DOCKER_SOCKET.into(),
                empty_dir: Some(EmptyDirVolumeSource { medium: Some("Memory".into()), ..Default::default() }),
                ..Default::default()
            });
            volumes.push(dind_data_volume(sandbox, &name, class));
            init_containers.push(dind_container(sandbox, class, settings, &workspace.mount_path));
            supplemental_groups.push(settings.docker_group_id);
        }
        DockerMode::HostSocket => match spec.host_socket_access() {
            HostSocketAccess::Brokered => {
                // A CSI inline volume (allowed under every Pod Security level,
                // unlike a hostPath): the node agent publishes the sandbox's
                // broker socket into it once it has checked that this Pod is the
                // Sandbox's current, admitted one.
                volumes.push(Volume {
                    name: names::VOLUME_DOCKER_SOCKET.into(),
                    csi: Some(CSIVolumeSource { driver: labels::BROKER_CSI_DRIVER.into(), ..Default::default() }),
                    ..Default::default()
                });
                supplemental_groups.push(settings.docker_group_id);
            }
            HostSocketAccess::Raw => {
                volumes.push(host_path_volume(
                    names::VOLUME_DOCKER_SOCKET,
                    settings.node_docker_socket.clone(),
                    "Socket",
                ));
                supplemental_groups.extend(settings.node_docker_group_id);
            }
        },
        DockerMode::None => {}
    }

    let workload = workload_container(sandbox, class, &workspace.mount_path);

    let mut pod_labels: BTreeMap<String, String> = pod_settings
        .labels
        .iter()
        .filter(|(k, _)| !labels::is_reserved_label(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    pod_labels.extend(labels::sandbox_labels(&name, "sandbox"));
    pod_labels.insert(labels::SANDBOX_UID.into(), uid.clone());
    pod_labels.insert(labels::DOCKER_MODE.into(), mode.as_str().into());

    // The kubelet gives the Pod's cgroup a memory limit only when every
    // container has one, init containers included. The one-shot init
    // containers take the workload's resources: an init container counts as
    // a maximum, not a sum, so the Pod's limit and QoS class stay the
    // workload's (and the sidecar's), and everything the sandbox starts on
    // the node is bounded by it.
    for init in
        init_containers.iter_mut().filter(|c| c.name == names::INSTALL_ENTRYPOINT || c.name == names::PREPARE_USER)
    {
        init.resources.clone_from(&workload.resources);
    }
    let service_account = pod_settings.service_account_name.clone();
    let pod_spec = PodSpec {
        hostname: Some(name.clone()),
        restart_policy: Some("Never".into()),
        enable_service_links: Some(false),
        // The workload gets no API token unless the Sandbox names an account on purpose.
        automount_service_account_token: Some(service_account.is_some()),
        service_account_name: service_account,
        termination_grace_period_seconds: Some(30),
        node_selector: node_selector(&pod_settings.node_selector, mode),
        tolerations: (!pod_settings.tolerations.is_empty()).then(|| pod_settings.tolerations.clone()),
        runtime_class_name: pod_settings
            .runtime_class_name
            .clone()
            .or_else(|| class.and_then(|c| c.runtime_class_name.clone())),
        image_pull_secrets: (!pod_settings.image_pull_secrets.is_empty())
            .then(|| pod_settings.image_pull_secrets.clone()),
        security_context: Some(PodSecurityContext {
            fs_group: Some(spec.user.gid),
            fs_group_change_policy: Some("OnRootMismatch".into()),
            supplemental_groups: (!supplemental_groups.is_empty()).then_some(supplemental_groups),
            ..Default::default()
        }),
        init_containers: Some(init_containers),
        containers: vec![workload],
        volumes: Some(volumes),
        ..Default::default()
    };

    let mut annotations = pod_settings.annotations.clone();
    annotations.insert(labels::POD_SPEC_HASH.into(), spec_hash(&pod_spec));
    annotations.insert(labels::SANDBOX_SPEC_HASH.into(), sandbox_spec_hash(spec));

    Ok(Pod {
        metadata: ObjectMeta {
            name: Some(labels::pod_name(&name)),
            namespace: Some(namespace),
            labels: Some(pod_labels),
            annotations: Some(annotations),
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        spec: Some(pod_spec),
        status: None,
    })
}

/// The PersistentVolumeClaim a Sandbox's `workspace.volumeClaimTemplate` asks
/// for, owned by the Sandbox so it outlives suspended Pods and goes with the
/// Sandbox.
pub fn render_workspace_claim(sandbox: &Sandbox) -> Result<Option<PersistentVolumeClaim>, RenderError> {
    let Some(template) = sandbox.spec.workspace.as_ref().and_then(|w| w.volume_claim_template.as_ref()) else {
        return Ok(None);
    };
    let (name, namespace, owner) = server_metadata(sandbox)?;
    let mut spec = template.spec.clone();
    if spec.access_modes.is_none() {
        spec.access_modes = Some(vec!["ReadWriteOnce".into()]);
    }
    Ok(Some(PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(labels::workspace_claim_name(&name)),
            namespace: Some(namespace),
            labels: Some(labels::sandbox_labels(&name, "workspace")),
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        spec: Some(spec),
        status: None,
    }))
}

/// The user (and group) of the init containers that need no privilege: not
/// root, not the sandbox user ("nonroot" of distroless images).
const NON_ROOT_HELPER_UID: i64 = 65532;

fn install_entrypoint_container(settings: &RenderSettings) -> Container {
    Container {
        name: names::INSTALL_ENTRYPOINT.into(),
        image: Some(settings.entrypoint_image.clone()),
        image_pull_policy: settings.image_pull_policy.clone(),
        command: Some(vec!["/dockyard-entrypoint".into(), "install".into(), paths::DOCKYARD_BIN_DIR.into()]),
        security_context: Some(restricted_security_context(NON_ROOT_HELPER_UID, NON_ROOT_HELPER_UID)),
        volume_mounts: Some(vec![mount(names::VOLUME_BIN, paths::DOCKYARD_BIN_DIR, false)]),
        ..Default::default()
    }
}

/// The entrypoint's flags naming the sandbox user.
fn user_flags(user: &SandboxUser) -> [String; 3] {
    [format!("--user={}", user.name), format!("--uid={}", user.uid), format!("--gid={}", user.gid)]
}

/// Runs in the workload's own image, once, before anything else of the
/// sandbox: writes passwd and group (with the user and the socket's group) and
/// the sudoers drop-in for the workload to mount. The workload itself then
/// never runs as root, and neither does `kubectl exec` into it. Root only with
/// sudo (sudo accepts only a root-owned drop-in); without, the image's
/// world-readable `/etc` is all it reads, and it runs as `NON_ROOT_HELPER_UID`
/// (which Pod Security `restricted` admits).
fn prepare_user_container(sandbox: &Sandbox, socket_gid: Option<i64>, workspace_mount_path: &str) -> Container {
    let spec = &sandbox.spec;
    let mut command = vec![paths::ENTRYPOINT.to_string(), "prepare-user".into()];
    command.extend(user_flags(&spec.user));
    command.push(format!("--home={workspace_mount_path}"));
    command.push(format!("--out={}", paths::USER_FILES_DIR));
    command.extend(spec.sudo_commands().iter().map(|c| format!("--sudo={c}")));
    command.extend(socket_gid.map(|g| format!("--socket-gid={g}")));
    Container {
        name: names::PREPARE_USER.into(),
        image: Some(spec.image.clone()),
        image_pull_policy: spec.image_pull_policy.map(|p| p.as_str().to_string()),
        command: Some(command),
        security_context: Some(match spec.sudo_commands().is_empty() {
            true => restricted_security_context(NON_ROOT_HELPER_UID, NON_ROOT_HELPER_UID),
            // Root, to write a root-owned sudoers drop-in; no capability beyond.
            false => SecurityContext { run_as_non_root: Some(false), ..restricted_security_context(0, 0) },
        }),
        volume_mounts: Some(vec![
            mount(names::VOLUME_BIN, paths::DOCKYARD_BIN_DIR, true),
            mount(names::VOLUME_USER_FILES, paths::USER_FILES_DIR, false),
        ]),
        ..Default::default()
    }
}

fn dind_container(
    sandbox: &Sandbox,
    class: Option<&SandboxClassSpec>,
    settings: &RenderSettings,
    workspace_mount_path: &str,
) -> Container {
    let class_dind = class.map(|c| c.dind.clone()).unwrap_or_default();
    let dind = sandbox.spec.docker.dind.clone().unwrap_or_default();
    let timeout = sandbox.spec.docker_readiness_timeout_seconds();

    let mut command = vec![
        paths::ENTRYPOINT.to_string(),
        "dind".into(),
        format!("--socket={}", paths::DOCKER_SOCKET),
        format!("--raw-socket={}", paths::DIND_RAW_SOCKET),
        format!("--workspace={workspace_mount_path}"),
        format!("--group={}", settings.docker_group_id),
        format!("--data-root={}", paths::DIND_DATA_DIR),
    ];
    if let Some(mtu) = class_dind.mtu {
        command.push(format!("--mtu={mtu}"));
    }
    for pool in &class_dind.address_pools {
        command.push(format!("--default-address-pool=base={},size={}", pool.base, pool.size));
    }
    for mirror in &class_dind.registry_mirrors {
        command.push(format!("--registry-mirror={mirror}"));
    }
    for registry in &class_dind.insecure_registries {
        command.push(format!("--insecure-registry={registry}"));
    }
    if let Some(driver) = class_dind.storage_driver {
        command.push(format!("--storage-driver={}", driver.as_str()));
    }
    for image in &dind.preload_images {
        command.push(format!("--preload-image={image}"));
    }

    if let Some(privileged) = &class_dind.privileged_containers {
        // Admission keeps the Pod in the class's runtime class (policy::admit).
        command.push(format!("--allow-privileged-containers={}", privileged.reason));
    }

    let profile = class_dind.security.profile;
    if profile == DindSecurityProfile::UserNamespace {
        let user = &sandbox.spec.user;
        command.push(format!("--userns-remap-uid={}", user.uid));
        command.push(format!("--userns-remap-gid={}", user.gid));
    }

    let security_context = match profile {
        // Root in the sidecar, but not privileged: what dockerd, containerd and
        // runc use, nothing more (docs/architecture.md names each capability's
        // use). Seccomp: RuntimeDefault plus the keyring calls and pivot_root,
        // a Localhost profile the node agent installs (crate::seccomp).
        // AppArmor's runtime default refuses mount: Unconfined where the node has AppArmor.
        DindSecurityProfile::UserNamespace => SecurityContext {
            privileged: Some(false),
            run_as_user: Some(0),
            run_as_group: Some(0),
            allow_privilege_escalation: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                add: Some(DIND_USER_NAMESPACE_CAPABILITIES.iter().map(|c| c.to_string()).collect()),
            }),
            seccomp_profile: Some(SeccompProfile {
                type_: "Localhost".into(),
                localhost_profile: Some(crate::seccomp::dind_profile_path().into()),
            }),
            app_armor_profile: Some(AppArmorProfile { type_: "Unconfined".into(), localhost_profile: None }),
            ..Default::default()
        },
        DindSecurityProfile::Privileged => SecurityContext {
            privileged: Some(true),
            run_as_user: Some(0),
            run_as_group: Some(0),
            ..Default::default()
        },
        DindSecurityProfile::Capabilities => SecurityContext {
            privileged: Some(false),
            run_as_user: Some(0),
            run_as_group: Some(0),
            allow_privilege_escalation: Some(true),
            capabilities: Some(Capabilities {
                add: Some(class_dind.security.capabilities.clone()),
                drop: (!class_dind.security.drop_capabilities.is_empty())
                    .then(|| class_dind.security.drop_capabilities.clone()),
            }),
            seccomp_profile: Some(SeccompProfile { type_: "Unconfined".into(), localhost_profile: None }),
            app_armor_profile: Some(AppArmorProfile { type_: "Unconfined".into(), localhost_profile: None }),
            ..Default::default()
        },
    };

    Container {
        name: names::DIND.into(),
        image: Some(class_dind.image.clone().unwrap_or_else(|| settings.dind_image.clone())),
        image_pull_policy: settings.image_pull_policy.clone(),
        command: Some(command),
        // A native sidecar: started before the workload, which starts only once
        // the startup probe sees the daemon answer.
        restart_policy: Some("Always".into()),
        startup_probe: Some(docker_ping_probe(1, timeout)),
        liveness_probe: Some(docker_ping_probe(10, 6)),
        // Why it stopped (a failed preload, dockerd's last words) reaches the
        // Pod's status, and from there the Sandbox's or pool's.
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        resources: dind.resources.clone().or(class_dind.resources.clone()),
        security_context: Some(security_context),
        volume_mounts: Some(vec![
            mount(names::VOLUME_BIN, paths::DOCKYARD_BIN_DIR, true),
            mount(names::VOLUME_DOCKER_SOCKET, paths::DOCKER_SOCKET_DIR, false),
            mount(names::VOLUME_DIND_DATA, paths::DIND_DATA_DIR, false),
            // Same path as in the workload, so `docker run -v $PWD:/src` resolves in dockerd.
            mount(names::VOLUME_WORKSPACE, workspace_mount_path, false),
        ]),
        ..Default::default()
    }
}

/// A probe that passes when the Docker daemon answers a ping on the sandbox's socket.
fn docker_ping_probe(period_seconds: i32, failure_threshold: i32) -> Probe {
    Probe {
        exec: Some(ExecAction {
            command: Some(vec![
                paths::ENTRYPOINT.into(),
                "ping".into(),
                format!("--docker-host=unix://{}", paths::DOCKER_SOCKET),
            ]),
        }),
        period_seconds: Some(period_seconds),
        failure_threshold: Some(failure_threshold),
        timeout_seconds: Some(2),
        ..Default::default()
    }
}

fn workload_container(sandbox: &Sandbox, class: Option<&SandboxClassSpec>, workspace_mount_path: &str) -> Container {
    let spec = &sandbox.spec;
    let mode = spec.docker.mode;
    let sudo = spec.sudo_commands();

    let mut command = vec![paths::ENTRYPOINT.to_string(), "run".into()];
    command.extend(user_flags(&spec.user));
    if let Some(endpoint) = docker_endpoint(mode) {
        command.push(format!("--docker-host={endpoint}"));
        command.push(format!("--docker-timeout={}s", spec.docker_readiness_timeout_seconds()));
    }
    command.push("--".into());
    command.extend(spec.command.iter().cloned());

    let mut env = spec.env.clone();
    env.push(EnvVar { name: "DOCKYARD_SANDBOX".into(), value: sandbox.metadata.name.clone(), ..Default::default() });
    if let Some(endpoint) = docker_endpoint(mode) {
        env.push(EnvVar { name: "DOCKER_HOST".into(), value: Some(endpoint), ..Default::default() });
    }

    // The kernel starts the workload as the user; no root at any point. With a
    // sudo allowlist, sudo (setuid) may escalate, within the few capabilities
    // left in the bounding set that sudo and package managers need.
    let mut security_context = restricted_security_context(spec.user.uid, spec.user.gid);
    if !sudo.is_empty() {
        security_context.allow_privilege_escalation = Some(true);
        security_context.capabilities = Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            add: Some(SUDO_CAPABILITIES.iter().map(|c| c.to_string()).collect()),
        });
    }

    let user_file = |file: &str, target: &str| VolumeMount {
        name: names::VOLUME_USER_FILES.into(),
        mount_path: target.into(),
        sub_path: Some(file.into()),
        read_only: Some(true),
        ..Default::default()
    };
    let mut mounts = vec![
        mount(names::VOLUME_BIN, paths::DOCKYARD_BIN_DIR, true),
        mount(names::VOLUME_WORKSPACE, workspace_mount_path, false),
        user_file("passwd", "/etc/passwd"),
        user_file("group", "/etc/group"),
    ];
    if !sudo.is_empty() {
        mounts.push(user_file("sudoers.d", "/etc/sudoers.d"));
    }
    if mode != DockerMode::None {
        mounts.push(mount(names::VOLUME_DOCKER_SOCKET, paths::DOCKER_SOCKET_DIR, false));
    }

    Container {
        name: names::WORKLOAD.into(),
        image: Some(spec.image.clone()),
        image_pull_policy: spec.image_pull_policy.map(|p| p.as_str().to_string()),
        command: Some(command),
        args: (!spec.args.is_empty()).then(|| spec.args.clone()),
        env: Some(env),
        working_dir: Some(spec.working_dir.clone().unwrap_or_else(|| workspace_mount_path.to_string())),
        resources: spec.resources.clone().or_else(|| class.and_then(|c| c.default_resources.clone())),
        security_context: Some(security_context),
        volume_mounts: Some(mounts),
        // Ready only while Docker answers on the socket the workload uses.
        readiness_probe: (mode != DockerMode::None).then(|| docker_ping_probe(5, 2)),
        // A workload that fails leaves the end of its output in its status,
        // and so in the Sandbox's lastPodFailure.
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        stdin: Some(true),
        tty: Some(true),
        ..Default::default()
    }
}

/// Non-root, no capabilities, no privilege escalation, RuntimeDefault seccomp.
fn restricted_security_context(uid: i64, gid: i64) -> SecurityContext {
    SecurityContext {
        run_as_user: Some(uid),
        run_as_group: Some(gid),
        run_as_non_root: Some(true),
        allow_privilege_escalation: Some(false),
        privileged: Some(false),
        capabilities: Some(Capabilities { drop: Some(vec!["ALL".into()]), add: None }),
        seccomp_profile: Some(SeccompProfile { type_: "RuntimeDefault".into(), localhost_profile: None }),
        ..Default::default()
    }
}

fn workspace_volume(sandbox: &Sandbox, sandbox_name: &str) -> Volume {
    let workspace = sandbox.spec.workspace_or_default();
    let mut volume = Volume { name: names::VOLUME_WORKSPACE.into(), ..Default::default() };
    if let Some(existing) = &workspace.persistent_volume_claim {
        volume.persistent_volume_claim =
            Some(PersistentVolumeClaimVolumeSource { claim_name: existing.claim_name.clone(), read_only: None });
    } else if workspace.volume_claim_template.is_some() {
        volume.persistent_volume_claim = Some(PersistentVolumeClaimVolumeSource {
            claim_name: labels::workspace_claim_name(sandbox_name),
            read_only: None,
        });
    } else {
        volume.empty_dir =
            Some(EmptyDirVolumeSource { size_limit: workspace.empty_dir.and_then(|e| e.size_limit), medium: None });
    }
    volume
}

/// The DinD store's settings in effect: the Sandbox's, else its class's.
struct DindStore {
    size: Quantity,
    storage_class_name: Option<String>,
    persistent: bool,
}

fn dind_store(sandbox: &Sandbox, class: Option<&SandboxClassSpec>) -> DindStore {
    let storage = sandbox.spec.docker.dind.as_ref().and_then(|d| d.storage.clone()).unwrap_or_default();
    DindStore {
        size: storage
            .size
            .or_else(|| class.and_then(|c| c.dind.storage_size.clone()))
            .unwrap_or_else(|| Quantity(DEFAULT_DIND_STORAGE_SIZE.into())),
        persistent: storage.persistent.unwrap_or_else(|| class.is_some_and(|c| c.dind.persistent_storage)),
        storage_class_name: storage.storage_class_name,
    }
}

fn dind_claim_spec(store: DindStore) -> PersistentVolumeClaimSpec {
    PersistentVolumeClaimSpec {
        access_modes: Some(vec!["ReadWriteOnce".into()]),
        storage_class_name: store.storage_class_name,
        resources: Some(VolumeResourceRequirements {
            requests: Some(BTreeMap::from([("storage".to_string(), store.size)])),
            limits: None,
        }),
        ..Default::default()
    }
}

/// The PersistentVolumeClaim of a DinD sandbox whose store is persistent
/// (`docker.dind.storage.persistent`, or its class's `dind.persistentStorage`),
/// owned by the Sandbox: it outlives the sandbox's Pods and goes with it.
pub fn render_dind_claim(
    sandbox: &Sandbox,
    class: Option<&SandboxClassSpec>,
) -> Result<Option<PersistentVolumeClaim>, RenderError> {
    let store = dind_store(sandbox, class);
    if sandbox.spec.docker.mode != DockerMode::Dind || !store.persistent {
        return Ok(None);
    }
    let (name, namespace, owner) = server_metadata(sandbox)?;
    Ok(Some(PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(labels::dind_claim_name(&name)),
            namespace: Some(namespace),
            labels: Some(labels::sandbox_labels(&name, "docker-store")),
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        spec: Some(dind_claim_spec(store)),
        status: None,
    }))
}

fn dind_data_volume(sandbox: &Sandbox, sandbox_name: &str, class: Option<&SandboxClassSpec>) -> Volume {
    let store = dind_store(sandbox, class);
    let mut volume = Volume { name: names::VOLUME_DIND_DATA.into(), ..Default::default() };
    if store.persistent {
        volume.persistent_volume_claim = Some(PersistentVolumeClaimVolumeSource {
            claim_name: labels::dind_claim_name(sandbox_name),
            read_only: None,
        });
    } else if store.storage_class_name.is_some() {
        volume.ephemeral = Some(EphemeralVolumeSource {
            volume_claim_template: Some(PersistentVolumeClaimTemplate { metadata: None, spec: dind_claim_spec(store) }),
        });
    } else {
        volume.empty_dir = Some(EmptyDirVolumeSource { size_limit: Some(store.size), medium: None });
    }
    volume
}

fn host_path_volume(name: &str, path: String, type_: &str) -> Volume {
    Volume {
        name: name.into(),
        host_path: Some(HostPathVolumeSource { path, type_: Some(type_.into()) }),
        ..Default::default()
    }
}

fn mount(volume: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: volume.into(),
        mount_path: path.into(),
        read_only: read_only.then_some(true),
        ..Default::default()
    }
}

/// A stable hash of a Pod spec (FNV-1a over its JSON), so the controller can
/// tell when the running Pod no longer matches what the Sandbox asks for.
/// The Sandbox's node selector; a host-socket sandbox's also asks for a node
/// whose Docker daemon answers (the label its agent keeps).
fn node_selector(asked: &BTreeMap<String, String>, mode: DockerMode) -> Option<BTreeMap<String, String>> {
    let mut selector = asked.clone();
    if mode == DockerMode::HostSocket {
        selector.insert(labels::DOCKER_DAEMON.into(), "true".into());
    }
    (!selector.is_empty()).then_some(selector)
}

fn spec_hash(spec: &PodSpec) -> String {
    fnv_hex(&serde_json::to_vec(spec).expect("a PodSpec always serializes"))
}

/// The hash of what the user asked of the Sandbox's Pod: its spec without the
/// lifecycle fields (suspending, resuming or moving `shutdownTime` never
/// replaces a Pod by itself) and the pool it names (a pool's warm Pod carries
/// its template's hash: a Sandbox matches the template when the hashes do). Stable across Dockyard versions for the same
/// spec — a field added to `SandboxSpec` must not serialize when unset, or an
/// upgrade would replace every running Pod (pinned by a test).
pub fn sandbox_spec_hash(spec: &SandboxSpec) -> String {
    let asked = SandboxSpec { suspended: false, shutdown_time: None, pool_name: None, ..spec.clone() };
    fnv_hex(&serde_json::to_vec(&asked).expect("a SandboxSpec always serializes"))
}

/// 64-bit FNV-1a, as 16 hex digits.
pub(crate) fn fnv_hex(bytes: &[u8]) -> String {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3));
    format!("{hash:016x}")
}
