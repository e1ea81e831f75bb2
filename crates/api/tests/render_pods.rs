//! Rendering a Sandbox into its Pod, for each docker mode: the fields that
//! matter asserted one by one, and whole Pods as snapshots.

use dockyard_api::render::{RenderSettings, names, paths, render_pod, render_workspace_claim};
use dockyard_api::{Sandbox, SandboxClass};
use k8s_openapi::api::core::v1::{Container, Pod};
use serde_json::json;

fn sandbox(spec: serde_json::Value) -> Sandbox {
    serde_json::from_value(json!({
        "apiVersion": "dockyard.dev/v1alpha1", "kind": "Sandbox",
        "metadata": {"name": "dev", "namespace": "team-a", "uid": "6f1c9e2a-0000-4000-8000-000000000001"},
        "spec": spec,
    }))
    .unwrap()
}

fn class(spec: serde_json::Value) -> SandboxClass {
    serde_json::from_value(json!({
        "apiVersion": "dockyard.dev/v1alpha1", "kind": "SandboxClass",
        "metadata": {"name": "c"}, "spec": spec,
    }))
    .unwrap()
}

fn render(sbx: &Sandbox, cls: Option<&SandboxClass>) -> Pod {
    render_pod(sbx, cls.map(|c| &c.spec), &RenderSettings::default()).expect("renders")
}

fn container<'a>(pod: &'a Pod, name: &str) -> &'a Container {
    let spec = pod.spec.as_ref().unwrap();
    spec.containers.iter().chain(spec.init_containers.iter().flatten()).find(|c| c.name == name).unwrap()
}

fn has_container(pod: &Pod, name: &str) -> bool {
    let spec = pod.spec.as_ref().unwrap();
    spec.containers.iter().chain(spec.init_containers.iter().flatten()).any(|c| c.name == name)
}

fn env<'a>(c: &'a Container, name: &str) -> Option<&'a str> {
    c.env.iter().flatten().find(|e| e.name == name).and_then(|e| e.value.as_deref())
}

fn mount_path<'a>(c: &'a Container, volume: &str) -> Option<&'a str> {
    c.volume_mounts.iter().flatten().find(|m| m.name == volume).map(|m| m.mount_path.as_str())
}

#[test]
fn dind_pod_has_a_native_sidecar_and_an_unprivileged_workload() {
    let pod = render(&sandbox(json!({"image": "dockyard-sandbox:latest", "command": ["sleep", "infinity"]})), None);
    let spec = pod.spec.as_ref().unwrap();
    assert_eq!(pod.metadata.name.as_deref(), Some("sbx-dev"));
    let owner = &pod.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!((owner.kind.as_str(), owner.name.as_str(), owner.controller), ("Sandbox", "dev", Some(true)));

    // The sidecar: an init container that keeps running, started before the workload.
    let init: Vec<&str> = spec.init_containers.iter().flatten().map(|c| c.name.as_str()).collect();
    assert_eq!(init, [names::INSTALL_ENTRYPOINT, names::PREPARE_USER, names::DIND]);
    let dind = container(&pod, names::DIND);
    assert_eq!(dind.restart_policy.as_deref(), Some("Always"));
    // The default profile, userNamespace: not privileged, nine capabilities,
    // the daemon's containers in a user namespace with the user mapped to itself.
    let dsc = dind.security_context.as_ref().unwrap();
    assert_eq!(dsc.privileged, Some(false));
    let caps = dsc.capabilities.as_ref().unwrap();
    assert_eq!(caps.drop.as_deref(), Some(&["ALL".to_string()][..]));
    assert_eq!(
        caps.add.as_deref().unwrap(),
        ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID", "SYS_CHROOT", "SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE"]
    );
    // Seccomp: the agent's Localhost profile, RuntimeDefault plus what runc needs.
    let seccomp = dsc.seccomp_profile.as_ref().unwrap();
    assert_eq!(seccomp.type_, "Localhost");
    assert_eq!(seccomp.localhost_profile.as_deref(), Some(dockyard_api::seccomp::dind_profile_path()));
    let dcmd = dind.command.as_ref().unwrap();
    for flag in ["--userns-remap-uid=1000", "--userns-remap-gid=1000", "--socket=/var/run/dockyard/docker.sock"] {
        assert!(dcmd.contains(&flag.to_string()), "{flag} in {dcmd:?}");
    }
    assert!(dcmd.contains(&format!("--raw-socket={}", paths::DIND_RAW_SOCKET)), "{dcmd:?}");
    assert!(!dcmd.iter().any(|a| a.starts_with("--allow-privileged-containers")), "refused by default: {dcmd:?}");
    let startup = dind.startup_probe.as_ref().unwrap();
    assert_eq!(startup.failure_threshold, Some(30), "readiness timeout defaults to 30 s");
    assert!(startup.exec.as_ref().unwrap().command.as_ref().unwrap().contains(&"ping".to_string()));
    assert!(dind.command.as_ref().unwrap().contains(&"--group=2375".to_string()));
    assert_eq!(mount_path(dind, names::VOLUME_DIND_DATA), Some(paths::DIND_DATA_DIR));

    // The workload: the user's uid/gid, nothing else.
    let workload = container(&pod, names::WORKLOAD);
    let sc = workload.security_context.as_ref().unwrap();
    assert_eq!((sc.run_as_user, sc.run_as_group, sc.run_as_non_root), (Some(1000), Some(1000), Some(true)));
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    assert_eq!(sc.capabilities.as_ref().unwrap().drop.as_deref(), Some(&["ALL".to_string()][..]));
    assert_eq!(sc.seccomp_profile.as_ref().unwrap().type_, "RuntimeDefault");
    assert_eq!(sc.privileged, Some(false));
    assert_eq!(env(workload, "DOCKER_HOST"), Some("unix:///var/run/dockyard/docker.sock"));
    assert!(workload.readiness_probe.is_some(), "the workload is ready only while Docker answers");
    assert_eq!(spec.security_context.as_ref().unwrap().supplemental_groups.as_deref(), Some(&[2375][..]));
    let cmd = workload.command.as_ref().unwrap();
    assert_eq!(&cmd[..2], [paths::ENTRYPOINT, "run"]);
    assert_eq!(&cmd[cmd.len() - 3..], ["--", "sleep", "infinity"]);

    // The workspace is at the same path in both, so bind mounts resolve in dockerd.
    assert_eq!(mount_path(workload, names::VOLUME_WORKSPACE), Some("/workspace"));
    assert_eq!(mount_path(dind, names::VOLUME_WORKSPACE), Some("/workspace"));
    assert_eq!(workload.working_dir.as_deref(), Some("/workspace"));
    assert_eq!(spec.automount_service_account_token, Some(false));
}

#[test]
fn dind_settings_come_from_the_sandbox_and_its_class() {
    let cls = class(json!({
        "dind": {
            "image": "registry.local/dind:27",
            "mtu": 1400,
            "addressPools": [{"base": "10.201.0.0/16", "size": 24}],
            "registryMirrors": ["https://mirror.example.com", "http://registry.internal:5000"],
            "insecureRegistries": ["registry.internal:5000"],
            "storageDriver": "vfs",
            "storageSize": "50Gi",
            "security": {"profile": "capabilities", "capabilities": ["ALL"], "dropCapabilities": ["SYS_RESOURCE"]},
            "privilegedContainers": {"reason": "Sysbox gives each Pod its own user namespace"},
        },
        "runtimeClassName": "sysbox-runc",
    }));
    let sbx = sandbox(json!({
        "image": "x",
        "docker": {"mode": "dind", "dind": {
            "readinessTimeoutSeconds": 90,
            "storage": {"size": "30Gi", "storageClassName": "fast"},
            "preloadImages": ["postgres:17", "registry.internal:5000/team/tools"],
        }},
        "workspace": {"mountPath": "/home/dev/src"},
    }));
    let pod = render(&sbx, Some(&cls));
    let dind = container(&pod, names::DIND);
    let preload: Vec<&str> =
        dind.command.iter().flatten().filter(|a| a.starts_with("--preload-image")).map(String::as_str).collect();
    assert_eq!(preload, ["--preload-image=postgres:17", "--preload-image=registry.internal:5000/team/tools"]);
    assert_eq!(dind.termination_message_policy.as_deref(), Some("FallbackToLogsOnError"));
    assert_eq!(dind.image.as_deref(), Some("registry.local/dind:27"));
    let cmd = dind.command.as_ref().unwrap();
    assert!(cmd.contains(&"--mtu=1400".to_string()), "{cmd:?}");
    assert!(cmd.contains(&"--default-address-pool=base=10.201.0.0/16,size=24".to_string()));
    let daemon: Vec<&str> = cmd
        .iter()
        .filter(|a| ["--registry-mirror", "--insecure-registry", "--storage-driver"].iter().any(|f| a.starts_with(f)))
        .map(String::as_str)
        .collect();
    assert_eq!(
        daemon,
        [
            "--registry-mirror=https://mirror.example.com",
            "--registry-mirror=http://registry.internal:5000",
            "--insecure-registry=registry.internal:5000",
            "--storage-driver=vfs"
        ]
    );
    assert!(!cmd.iter().any(|a| a.starts_with("--userns-remap")), "only the userNamespace profile remaps: {cmd:?}");
    assert!(
        cmd.contains(&"--allow-privileged-containers=Sysbox gives each Pod its own user namespace".to_string()),
        "the class's reason reaches the sidecar's proxy: {cmd:?}"
    );
    let sc = dind.security_context.as_ref().unwrap();
    assert_eq!(sc.privileged, Some(false));
    assert_eq!(sc.capabilities.as_ref().unwrap().add.as_deref(), Some(&["ALL".to_string()][..]));
    assert_eq!(sc.capabilities.as_ref().unwrap().drop.as_deref(), Some(&["SYS_RESOURCE".to_string()][..]));
    assert_eq!(sc.seccomp_profile.as_ref().unwrap().type_, "Unconfined");
    assert_eq!(sc.app_armor_profile.as_ref().unwrap().type_, "Unconfined");
    assert_eq!(dind.startup_probe.as_ref().unwrap().failure_threshold, Some(90));
    assert_eq!(mount_path(dind, names::VOLUME_WORKSPACE), Some("/home/dev/src"));

    let spec = pod.spec.as_ref().unwrap();
    assert_eq!(spec.runtime_class_name.as_deref(), Some("sysbox-runc"));
    let data = spec.volumes.iter().flatten().find(|v| v.name == names::VOLUME_DIND_DATA).unwrap();
    let claim = &data.ephemeral.as_ref().unwrap().volume_claim_template.as_ref().unwrap().spec;
    assert_eq!(claim.storage_class_name.as_deref(), Some("fast"));
    assert_eq!(claim.resources.as_ref().unwrap().requests.as_ref().unwrap()["storage"].0, "30Gi");

    // The privileged profile, for clusters that need it: no remap.
    let pod =
        render(&sandbox(json!({"image": "x"})), Some(&class(json!({"dind": {"security": {"profile": "privileged"}}}))));
    let dind = container(&pod, names::DIND);
    assert_eq!(dind.security_context.as_ref().unwrap().privileged, Some(true));
    assert!(!dind.command.as_ref().unwrap().iter().any(|a| a.starts_with("--userns-remap")));

    // Without a size of its own, the sandbox gets the class's, on a sized emptyDir.
    let pod = render(&sandbox(json!({"image": "x"})), Some(&cls));
    let spec = pod.spec.as_ref().unwrap();
    let data = spec.volumes.iter().flatten().find(|v| v.name == names::VOLUME_DIND_DATA).unwrap();
    assert_eq!(data.empty_dir.as_ref().unwrap().size_limit.as_ref().unwrap().0, "50Gi");
}

#[test]
fn sudo_never_starts_the_workload_as_root_and_keeps_only_what_sudo_needs() {
    let pod = render(&sandbox(json!({"image": "x", "sudo": {"commands": ["/usr/bin/apt-get", "/usr/bin/pip"]}})), None);
    let workload = container(&pod, names::WORKLOAD);
    let sc = workload.security_context.as_ref().unwrap();
    assert_eq!(
        (sc.run_as_user, sc.run_as_non_root, sc.allow_privilege_escalation),
        (Some(1000), Some(true), Some(true))
    );
    let caps = sc.capabilities.as_ref().unwrap();
    assert_eq!(caps.drop.as_deref(), Some(&["ALL".to_string()][..]));
    assert_eq!(caps.add.as_ref().unwrap().len(), 7);
    assert!(!caps.add.as_ref().unwrap().iter().any(|c| c == "SYS_ADMIN" || c == "ALL"));
    assert_eq!(mount_path(workload, names::VOLUME_USER_FILES), Some("/etc/passwd"));
    let sudoers = workload.volume_mounts.iter().flatten().find(|m| m.mount_path == "/etc/sudoers.d").unwrap();
    assert_eq!((sudoers.sub_path.as_deref(), sudoers.read_only), (Some("sudoers.d"), Some(true)));

    // The allowlist is written by the prepare-user init container, in the workload's image, as root.
    let prepare = container(&pod, names::PREPARE_USER);
    assert_eq!(prepare.image.as_deref(), Some("x"));
    let cmd = prepare.command.as_ref().unwrap();
    assert!(cmd.contains(&"--sudo=/usr/bin/apt-get".to_string()) && cmd.contains(&"--sudo=/usr/bin/pip".to_string()));
    assert!(cmd.contains(&"--socket-gid=2375".to_string()));
    let psc = prepare.security_context.as_ref().unwrap();
    assert_eq!((psc.run_as_user, psc.allow_privilege_escalation), (Some(0), Some(false)));
    assert!(!workload.command.as_ref().unwrap().iter().any(|a| a.starts_with("--sudo")));

    // Without sudo: no escalation, no capabilities, no sudoers mount.
    let plain = render(&sandbox(json!({"image": "x"})), None);
    let workload = container(&plain, names::WORKLOAD);
    let sc = workload.security_context.as_ref().unwrap();
    assert_eq!((sc.allow_privilege_escalation, sc.capabilities.as_ref().unwrap().add.as_ref()), (Some(false), None));
    assert!(!workload.volume_mounts.iter().flatten().any(|m| m.mount_path == "/etc/sudoers.d"));
    // ... and prepare-user is not root either (every container as Pod Security
    // `restricted` asks: non-root, no escalation, no capability, RuntimeDefault).
    // (The DinD sidecar is not: the DinD profiles are for their own levels.)
    let brokered = render(&sandbox(json!({"image": "x", "docker": {"mode": "hostSocket"}})), None);
    for c in brokered.spec.as_ref().unwrap().init_containers.iter().flatten() {
        let sc = c.security_context.as_ref().unwrap();
        assert_eq!((sc.run_as_non_root, sc.allow_privilege_escalation), (Some(true), Some(false)), "{}", c.name);
        assert_ne!(sc.run_as_user, Some(0), "{}", c.name);
    }
}

#[test]
fn brokered_host_socket_mounts_the_agents_csi_volume_and_no_host_path() {
    let pod = render(&sandbox(json!({"image": "x", "docker": {"mode": "hostSocket"}})), None);
    assert!(!has_container(&pod, names::DIND));
    let spec = pod.spec.as_ref().unwrap();
    let socket = spec.volumes.iter().flatten().find(|v| v.name == names::VOLUME_DOCKER_SOCKET).unwrap();
    let csi = socket.csi.as_ref().unwrap();
    assert_eq!(csi.driver, "broker.dockyard.dev");
    // No attribute: the agent takes the Pod's identity from the kubelet alone.
    assert_eq!(csi.volume_attributes, None);
    assert!(spec.volumes.iter().flatten().all(|v| v.host_path.is_none()), "no hostPath volume at all");
    assert_eq!(spec.security_context.as_ref().unwrap().supplemental_groups.as_deref(), Some(&[2375][..]));
    let workload = container(&pod, names::WORKLOAD);
    assert_eq!(mount_path(workload, names::VOLUME_DOCKER_SOCKET), Some(paths::DOCKER_SOCKET_DIR));
    assert_eq!(pod.metadata.labels.as_ref().unwrap()["dockyard.dev/docker-mode"], "hostSocket");
}

#[test]
fn raw_host_socket_mounts_the_node_socket() {
    let sbx = sandbox(json!({"image": "x", "docker": {"mode": "hostSocket", "hostSocket": {"access": "raw"}}}));
    let settings = RenderSettings { node_docker_group_id: Some(998), ..RenderSettings::default() };
    let pod = render_pod(&sbx, None, &settings).unwrap();
    let spec = pod.spec.as_ref().unwrap();
    let socket = spec.volumes.iter().flatten().find(|v| v.name == names::VOLUME_DOCKER_SOCKET).unwrap();
    let host_path = socket.host_path.as_ref().unwrap();
    assert_eq!((host_path.path.as_str(), host_path.type_.as_deref()), ("/var/run/docker.sock", Some("Socket")));
    assert_eq!(spec.security_context.as_ref().unwrap().supplemental_groups.as_deref(), Some(&[998][..]));
}

#[test]
fn none_mode_has_no_docker_at_all() {
    let pod = render(&sandbox(json!({"image": "x", "docker": {"mode": "none"}})), None);
    let spec = pod.spec.as_ref().unwrap();
    assert!(!has_container(&pod, names::DIND));
    assert!(!spec.volumes.iter().flatten().any(|v| v.name == names::VOLUME_DOCKER_SOCKET));
    let workload = container(&pod, names::WORKLOAD);
    assert_eq!(env(workload, "DOCKER_HOST"), None);
    assert!(workload.readiness_probe.is_none());
    assert!(!workload.command.as_ref().unwrap().iter().any(|a| a.starts_with("--docker-host")));
    assert_eq!(spec.security_context.as_ref().unwrap().supplemental_groups, None);
    assert_eq!(workload.security_context.as_ref().unwrap().run_as_non_root, Some(true));
}

#[test]
fn pod_settings_pass_through_and_dockyard_labels_win() {
    let sbx = sandbox(json!({
        "image": "x",
        "pod": {
            "nodeSelector": {"pool": "sandboxes"},
            "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "sandboxes", "effect": "NoSchedule"}],
            "runtimeClassName": "kata",
            "serviceAccountName": "agent",
            "imagePullSecrets": [{"name": "regcred"}],
            "labels": {"team": "ml"},
            "annotations": {"owner": "ada"},
        },
    }));
    let pod = render(&sbx, Some(&class(json!({"runtimeClassName": "sysbox-runc"}))));
    let spec = pod.spec.as_ref().unwrap();
    assert_eq!(spec.node_selector.as_ref().unwrap()["pool"], "sandboxes");
    assert_eq!(spec.tolerations.as_ref().unwrap().len(), 1);
    assert_eq!(spec.runtime_class_name.as_deref(), Some("kata"), "the sandbox's runtime class wins over the class's");
    assert_eq!(spec.service_account_name.as_deref(), Some("agent"));
    assert_eq!(spec.automount_service_account_token, Some(true));
    assert_eq!(spec.image_pull_secrets.as_ref().unwrap()[0].name, "regcred");
    let labels = pod.metadata.labels.as_ref().unwrap();
    assert_eq!(labels["team"], "ml");
    assert_eq!(labels["dockyard.dev/sandbox"], "dev");
    assert_eq!(labels["app.kubernetes.io/managed-by"], "dockyard-controller");
    let annotations = pod.metadata.annotations.as_ref().unwrap();
    assert_eq!(annotations["owner"], "ada");
    assert!(annotations.contains_key("dockyard.dev/pod-spec-hash"));
}

#[test]
fn resources_default_to_the_class() {
    let cls = class(json!({"defaultResources": {"limits": {"cpu": "2", "memory": "4Gi"}}}));
    let pod = render(&sandbox(json!({"image": "x"})), Some(&cls));
    let limits = container(&pod, names::WORKLOAD).resources.as_ref().unwrap().limits.as_ref().unwrap();
    assert_eq!(limits["memory"].0, "4Gi");
    let own = sandbox(json!({"image": "x", "resources": {"limits": {"cpu": "1"}}}));
    let pod = render(&own, Some(&cls));
    let limits = container(&pod, names::WORKLOAD).resources.as_ref().unwrap().limits.as_ref().unwrap();
    assert_eq!((limits["cpu"].0.as_str(), limits.contains_key("memory")), ("1", false));
}

#[test]
fn workspace_sources() {
    let existing = sandbox(json!({"image": "x", "workspace": {"persistentVolumeClaim": {"claimName": "home"}}}));
    let pod = render(&existing, None);
    let ws = pod.spec.as_ref().unwrap().volumes.iter().flatten().find(|v| v.name == names::VOLUME_WORKSPACE).unwrap();
    assert_eq!(ws.persistent_volume_claim.as_ref().unwrap().claim_name, "home");
    assert_eq!(render_workspace_claim(&existing).unwrap(), None);

    let templated = sandbox(
        json!({"image": "x", "workspace": {"volumeClaimTemplate": {"spec": {"resources": {"requests": {"storage": "5Gi"}}}}}}),
    );
    let pod = render(&templated, None);
    let ws = pod.spec.as_ref().unwrap().volumes.iter().flatten().find(|v| v.name == names::VOLUME_WORKSPACE).unwrap();
    assert_eq!(ws.persistent_volume_claim.as_ref().unwrap().claim_name, "dev-workspace");
    let claim = render_workspace_claim(&templated).unwrap().unwrap();
    assert_eq!(claim.metadata.name.as_deref(), Some("dev-workspace"));
    assert_eq!(claim.spec.as_ref().unwrap().access_modes.as_deref(), Some(&["ReadWriteOnce".to_string()][..]));
    assert_eq!(claim.metadata.owner_references.as_ref().unwrap()[0].name, "dev");
}

#[test]
fn rendering_is_deterministic_and_needs_server_metadata() {
    let sbx = sandbox(json!({"image": "x"}));
    assert_eq!(render(&sbx, None), render(&sbx, None));
    let hash = |p: &Pod| p.metadata.annotations.as_ref().unwrap()["dockyard.dev/pod-spec-hash"].clone();
    assert_ne!(hash(&render(&sbx, None)), hash(&render(&sandbox(json!({"image": "y"})), None)));
    let mut no_uid = sbx.clone();
    no_uid.metadata.uid = None;
    let err = render_pod(&no_uid, None, &RenderSettings::default()).unwrap_err();
    assert!(err.to_string().contains("metadata.uid"));
}

#[test]
fn snapshots_of_whole_pods() {
    let cases = [
        ("dind", json!({"image": "dockyard-sandbox:latest", "sudo": {"commands": ["/usr/bin/apt-get"]}})),
        ("host_socket_brokered", json!({"image": "dockyard-sandbox:latest", "docker": {"mode": "hostSocket"}})),
        ("none", json!({"image": "dockyard-sandbox:latest", "docker": {"mode": "none"}, "command": ["bash"]})),
    ];
    for (name, spec) in cases {
        insta::assert_yaml_snapshot!(name, render(&sandbox(spec), None));
    }
}

/// What decides whether a running Pod is replaced: the Sandbox's own spec,
/// never Dockyard's images or defaults, nor the lifecycle fields. The hashes
/// are pinned: a change to how a `SandboxSpec` serializes (a new field that
/// serializes when unset) would replace every running Pod at the upgrade
/// that brings it, and fails here first.
#[test]
fn only_the_users_change_to_the_sandbox_changes_its_spec_hash() {
    use dockyard_api::labels::{POD_SPEC_HASH, SANDBOX_SPEC_HASH};
    use dockyard_api::render::sandbox_spec_hash;
    use kube::ResourceExt;

    let dind = sandbox(json!({"image": "dev:1", "user": {"name": "dev"}}));
    let brokered = sandbox(json!({
        "image": "dev:1", "user": {"name": "dev"}, "env": [{"name": "A", "value": "1"}],
        "docker": {"mode": "hostSocket", "hostSocket": {"access": "brokered"}},
        "workspace": {"mountPath": "/src", "emptyDir": {"sizeLimit": "1Gi"}},
        "pod": {"nodeSelector": {"pool": "sandboxes"}, "annotations": {"team": "a"}},
    }));
    assert_eq!(sandbox_spec_hash(&dind.spec), "8ffa2c2b1c0ca749");
    assert_eq!(sandbox_spec_hash(&brokered.spec), "5e96389b9f06ec8f");

    let pod = render(&dind, None);
    assert_eq!(pod.annotations()[SANDBOX_SPEC_HASH], sandbox_spec_hash(&dind.spec));
    // New images (an upgrade) change the Pod's hash, not the Sandbox's.
    let upgraded = RenderSettings { dind_image: "dockyard-dind:2".into(), ..RenderSettings::default() };
    let new_pod = render_pod(&dind, None, &upgraded).unwrap();
    assert_ne!(new_pod.annotations()[POD_SPEC_HASH], pod.annotations()[POD_SPEC_HASH]);
    assert_eq!(new_pod.annotations()[SANDBOX_SPEC_HASH], pod.annotations()[SANDBOX_SPEC_HASH]);
    // Suspending or moving the shutdown time is not a change of the Pod.
    let mut later = dind.clone();
    later.spec.shutdown_time =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time("2027-01-01T00:00:00Z".parse().unwrap()));
    later.spec.suspended = true;
    assert_eq!(sandbox_spec_hash(&later.spec), sandbox_spec_hash(&dind.spec));
    // The user's change is.
    let mut changed = dind.clone();
    changed.spec.image = "dev:2".into();
    assert_ne!(sandbox_spec_hash(&changed.spec), sandbox_spec_hash(&dind.spec));
}

#[test]
fn host_socket_sandboxes_ask_for_a_node_whose_docker_daemon_answers() {
    use dockyard_api::labels::DOCKER_DAEMON;
    let selector = |spec: serde_json::Value| render(&sandbox(spec), None).spec.unwrap().node_selector;
    let brokered =
        selector(json!({"image": "x", "docker": {"mode": "hostSocket"}, "pod": {"nodeSelector": {"pool": "a"}}}));
    let brokered = brokered.expect("a node selector");
    assert_eq!((brokered[DOCKER_DAEMON].as_str(), brokered["pool"].as_str()), ("true", "a"));
    // DinD needs no daemon on the node: any node with the agent.
    assert_eq!(selector(json!({"image": "x"})), None);
    assert_eq!(selector(json!({"image": "x", "docker": {"mode": "none"}})), None);
}

#[test]
fn a_persistent_docker_store_is_a_claim_the_sandbox_owns() {
    use dockyard_api::render::render_dind_claim;
    let cls = class(json!({"dind": {"persistentStorage": true, "storageSize": "40Gi"}}));
    let sbx =
        sandbox(json!({"image": "x", "docker": {"mode": "dind", "dind": {"storage": {"storageClassName": "fast"}}}}));
    let claim = render_dind_claim(&sbx, Some(&cls.spec)).unwrap().expect("the class makes stores persistent");
    assert_eq!(claim.metadata.name.as_deref(), Some("dev-docker"));
    let owner = &claim.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!((owner.kind.as_str(), owner.controller), ("Sandbox", Some(true)));
    let spec = claim.spec.as_ref().unwrap();
    assert_eq!(spec.storage_class_name.as_deref(), Some("fast"));
    assert_eq!(spec.resources.as_ref().unwrap().requests.as_ref().unwrap()["storage"].0, "40Gi");
    let pod = render(&sbx, Some(&cls));
    let volume =
        pod.spec.as_ref().unwrap().volumes.as_ref().unwrap().iter().find(|v| v.name == names::VOLUME_DIND_DATA);
    let volume = volume.unwrap();
    assert_eq!(volume.persistent_volume_claim.as_ref().map(|c| c.claim_name.as_str()), Some("dev-docker"));
    assert!(volume.ephemeral.is_none() && volume.empty_dir.is_none());

    // The Sandbox overrides its class; other modes have no store.
    let own = sandbox(json!({"image": "x", "docker": {"mode": "dind", "dind": {"storage": {"persistent": false}}}}));
    assert!(render_dind_claim(&own, Some(&cls.spec)).unwrap().is_none());
    let volume =
        render(&own, Some(&cls)).spec.unwrap().volumes.unwrap().into_iter().find(|v| v.name == names::VOLUME_DIND_DATA);
    assert!(volume.unwrap().empty_dir.is_some());
    let none = sandbox(json!({"image": "x", "docker": {"mode": "none"}}));
    assert!(render_dind_claim(&none, Some(&cls.spec)).unwrap().is_none());
    let asked = sandbox(json!({"image": "x", "docker": {"dind": {"storage": {"persistent": true}}}}));
    let claim = render_dind_claim(&asked, None).unwrap().expect("asked for");
    assert_eq!(claim.spec.unwrap().storage_class_name, None, "the cluster's default class");
}
