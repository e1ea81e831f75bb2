//! JSON bodies: decoded into the typed [`model`](crate::model) with Go's
//! semantics, checked field by field, rewritten where Dockyard decides
//! (labels, bind sources, cgroup parent, PIDs limit, published addresses) and
//! re-serialised. Every `HostConfig` field appears in [`check_host_config`]:
//! allowed with its allowed values, or refused when set.

use std::path::{Component, Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::endpoint::{Check, JsonBody};
use crate::filters::SANDBOX_LABEL;
use crate::model::{
    AuthConfig, ContainerConfig, ContainerCreate, ContainerUpdate, EndpointSettings, ExecCreate, ExecStart, HostConfig,
    Mount, NetworkConnect, NetworkCreate, NetworkDisconnect, PortBinding, Resources, VolumeCreate,
};
use crate::scope::{Scope, WorkspaceMapping};
use crate::{Kind, Refusal, gojson};

/// Networks every container may use without owning them.
const SHARED_NETWORKS: [&str; 4] = ["", "default", "bridge", "none"];
/// The names of the daemon's default bridge network in a container create.
const DEFAULT_BRIDGE: [&str; 3] = ["", "default", "bridge"];
/// Log drivers that write only to the daemon's own files.
const LOCAL_LOG_DRIVERS: [&str; 3] = ["", "json-file", "local"];
/// Options of the local log drivers.
const LOCAL_LOG_OPTIONS: [&str; 9] =
    ["max-size", "max-file", "compress", "labels", "labels-regex", "env", "env-regex", "tag", "mode"];
/// Kubernetes' safe sysctls: namespaced, and harmless to the node.
pub const SAFE_SYSCTLS: [&str; 10] = [
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];
/// Bind propagation modes that cannot carry mounts back to the node.
const BIND_PROPAGATIONS: [&str; 5] = ["", "private", "rprivate", "slave", "rslave"];
/// Network driver options that only tune the sandbox's own bridge.
const NETWORK_OPTIONS: [&str; 4] = [
    "com.docker.network.driver.mtu",
    "com.docker.network.bridge.enable_icc",
    "com.docker.network.bridge.enable_ip_masquerade",
    "com.docker.network.container_iface_prefix",
];

/// The kernel's highest OOM score adjustment: killed first.
const MAX_OOM_SCORE_ADJ: i64 = 1000;

/// A checked body, re-serialised, and the lookups it needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checked {
    pub body: Vec<u8>,
    pub checks: Vec<Check>,
}

/// Decodes, checks and re-serialises a JSON body of `kind`.
pub fn check(kind: JsonBody, bytes: &[u8], scope: &Scope) -> Result<Checked, Refusal> {
    let mut checks = Vec::new();
    let body = match kind {
        JsonBody::ContainerCreate => {
            let mut create: ContainerCreate = decode(bytes, "a container create")?;
            check_container_create(&mut create, scope, &mut checks)?;
            encode(&create)
        }
        JsonBody::ContainerUpdate => {
            let mut update: ContainerUpdate = decode(bytes, "a container update")?;
            check_update(&mut update, scope)?;
            encode(&update)
        }
        JsonBody::ExecCreate => {
            let exec: ExecCreate = decode(bytes, "an exec create")?;
            if exec.privileged && !scope.rules.privileged_containers {
                return Err(refused("Privileged", "privileged exec (`docker exec --privileged`) is refused"));
            }
            encode(&exec)
        }
        JsonBody::ExecStart => encode(&decode::<ExecStart>(bytes, "an exec start")?),
        JsonBody::NetworkCreate => {
            let mut network: NetworkCreate = decode(bytes, "a network create")?;
            check_network_create(&mut network, &scope.uid)?;
            encode(&network)
        }
        JsonBody::NetworkConnect => {
            let connect: NetworkConnect = decode(bytes, "a network connect")?;
            checks.push(Check::Owns(Kind::Container, connect.container.clone()));
            if let Some(endpoint) = &connect.endpoint_config {
                check_endpoint(endpoint, &mut checks)?;
            }
            encode(&connect)
        }
        JsonBody::NetworkDisconnect => {
            let disconnect: NetworkDisconnect = decode(bytes, "a network disconnect")?;
            checks.push(Check::Owns(Kind::Container, disconnect.container.clone()));
            encode(&disconnect)
        }
        JsonBody::VolumeCreate => {
            let mut volume: VolumeCreate = decode(bytes, "a volume create")?;
            check_volume_create(&mut volume, &scope.uid)?;
            encode(&volume)
        }
        JsonBody::Auth => encode(&decode::<AuthConfig>(bytes, "a login")?),
        JsonBody::Commit => {
            let mut config: ContainerConfig = decode(bytes, "a commit")?;
            config.labels.get_or_insert_default().insert(SANDBOX_LABEL.into(), scope.uid.clone());
            encode(&config)
        }
    };
    Ok(Checked { body, checks })
}

fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, Refusal> {
    let bytes = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}".as_slice() } else { bytes };
    gojson::from_slice(bytes).map_err(|e| match e.path() {
        path if path.is_empty() => Refusal::bad_request(format!("the body of {what} is {}", e.message())),
        _ => Refusal::bad_request(format!("the body of {what}: {e}")),
    })
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("the models serialise")
}

fn refused(field: &str, why: &str) -> Refusal {
    Refusal::forbidden(format!("{field}: {why}"))
}

/// The refusal when the sandbox Pod's cgroup is unknown: nothing starts unbounded.
pub fn no_cgroup_parent() -> Refusal {
    Refusal {
        status: http::StatusCode::SERVICE_UNAVAILABLE,
        message: "dockyard: the sandbox Pod's cgroup on the node is not known yet, and containers never start outside \
                  it; try again in a moment"
            .into(),
    }
}

fn check_container_create(create: &mut ContainerCreate, scope: &Scope, checks: &mut Vec<Check>) -> Result<(), Refusal> {
    if !create.cpuset.is_empty() {
        return Err(refused("Cpuset", "the deprecated top-level `Cpuset` is refused; use `HostConfig.CpusetCpus`"));
    }
    if create.image.is_empty() {
        return Err(Refusal::bad_request("`Image` is required"));
    }
    checks.push(Check::ImageUsable(create.image.clone()));
    create.labels.get_or_insert_default().insert(SANDBOX_LABEL.into(), scope.uid.clone());
    let host = create.host_config.get_or_insert_default();
    if let Some(own) = &scope.own_network {
        // The daemon's default bridge is shared by every sandbox on the node:
        // the sandbox's own bridge stands in for it, made before it is joined.
        if DEFAULT_BRIDGE.contains(&host.network_mode.as_str()) {
            host.network_mode.clone_from(own);
            push(checks, Check::OwnNetwork(own.clone()));
        }
        if let Some(endpoints) = create.networking_config.as_mut().and_then(|n| n.endpoints_config.as_mut()) {
            for name in DEFAULT_BRIDGE {
                if let Some(endpoint) = endpoints.remove(name) {
                    push(checks, Check::OwnNetwork(own.clone()));
                    endpoints.entry(own.clone()).or_insert(endpoint);
                }
            }
        }
    }
    check_host_config(host, scope, checks)?;
    if let Some(endpoints) = create.networking_config.as_ref().and_then(|n| n.endpoints_config.as_ref()) {
        for (network, endpoint) in endpoints {
            join_network(network, checks)?;
            check_endpoint(endpoint, checks)?;
        }
    }
    Ok(())
}

fn join_network(network: &str, checks: &mut Vec<Check>) -> Result<(), Refusal> {
    match network {
        n if SHARED_NETWORKS.contains(&n) => Ok(()),
        "host" => Err(refused("NetworkMode", "`host` would share the node's network namespace")),
        n => {
            push(checks, Check::Joins(Kind::Network, n.to_string()));
            Ok(())
        }
    }
}

fn check_endpoint(endpoint: &EndpointSettings, checks: &mut Vec<Check>) -> Result<(), Refusal> {
    if endpoint.driver_opts.as_ref().is_some_and(|o| !o.is_empty()) {
        return Err(refused("EndpointSettings.DriverOpts", "endpoint driver options are not available to a sandbox"));
    }
    for link in endpoint.links.iter().flatten() {
        push(checks, Check::Joins(Kind::Container, link_target(link)));
    }
    Ok(())
}

fn push(checks: &mut Vec<Check>, check: Check) {
    if !checks.contains(&check) {
        checks.push(check);
    }
}

/// `name:alias` → `name`.
fn link_target(link: &str) -> String {
    link.split(':').next().unwrap_or_default().trim_start_matches('/').to_string()
}

/// A namespace mode: private, or a container of the sandbox's; never the node's.
fn namespace_mode(field: &str, mode: &str, allowed: &[&str], checks: &mut Vec<Check>) -> Result<(), Refusal> {
    if let Some(container) = mode.strip_prefix("container:") {
        push(checks, Check::Joins(Kind::Container, container.to_string()));
        return Ok(());
    }
    if allowed.contains(&mode) {
        return Ok(());
    }
    Err(refused(
        field,
        &format!("`{mode}` is not allowed (would share a namespace of the node); allowed: {}", allowed.join(", ")),
    ))
}

/// What would give a container the daemon's privileges: refused unless the
/// class allows privileged containers (`Rules::privileged_containers`).
fn check_privileges(host: &HostConfig) -> Result<(), Refusal> {
    if host.privileged {
        return Err(refused("Privileged", "privileged containers would own the node; `--privileged` is refused"));
    }
    if host.cap_add.as_ref().is_some_and(|c| !c.0.is_empty()) {
        return Err(refused("CapAdd", "added capabilities (`--cap-add`) could escape to the node"));
    }
    for option in host.security_opt.iter().flatten() {
        if !matches!(option.as_str(), "no-new-privileges" | "no-new-privileges:true" | "no-new-privileges=true") {
            return Err(refused(
                "SecurityOpt",
                &format!("`{option}` is refused (seccomp, AppArmor, labels and system paths stay confined)"),
            ));
        }
    }
    if host.masked_paths.is_some() {
        return Err(refused("MaskedPaths", "overriding the masked /proc paths is refused"));
    }
    if host.readonly_paths.is_some() {
        return Err(refused("ReadonlyPaths", "overriding the read-only /proc paths is refused"));
    }
    if host.devices.as_ref().is_some_and(|d| !d.is_empty()) {
        return Err(refused("Devices", "the node's devices (`--device`) are not available to a sandbox"));
    }
    if host.device_cgroup_rules.as_ref().is_some_and(|l| !l.is_empty()) {
        return Err(refused("DeviceCgroupRules", "device cgroup rules are not available to a sandbox"));
    }
    if host.device_requests.as_ref().is_some_and(|d| !d.is_empty()) {
        return Err(refused("DeviceRequests", "device requests (`--gpus`) are not available to a sandbox"));
    }
    Ok(())
}

fn check_host_config(host: &mut HostConfig, scope: &Scope, checks: &mut Vec<Check>) -> Result<(), Refusal> {
    // Escapes to the node, unless the class isolates the daemon's Pod itself.
    if !scope.rules.privileged_containers {
        check_privileges(host)?;
    }
    if !matches!(host.runtime.as_str(), "" | "runc") {
        return Err(refused("Runtime", &format!("runtime `{}` is not available; only runc", host.runtime)));
    }
    if !matches!(host.isolation.as_str(), "" | "default") {
        return Err(refused("Isolation", "only the default isolation is available"));
    }
    if host.annotations.as_ref().is_some_and(|a| !a.is_empty()) {
        return Err(refused("Annotations", "OCI annotations reach the node's runtime; they are refused"));
    }
    if host.storage_opt.as_ref().is_some_and(|o| !o.is_empty()) {
        return Err(refused("StorageOpt", "storage driver options are not available to a sandbox"));
    }
    if host.oom_score_adj < 0 {
        return Err(refused("OomScoreAdj", "a negative OOM score would make the node kill its own processes first"));
    }
    if let Some(key) = host.sysctls.iter().flatten().map(|(k, _)| k).find(|k| !SAFE_SYSCTLS.contains(&k.as_str())) {
        return Err(refused("Sysctls", &format!("`{key}` is not one of Kubernetes' safe sysctls")));
    }
    // Namespaces: the container's own, or one of the sandbox's containers.
    let network_mode = host.network_mode.clone();
    if network_mode.starts_with("container:") {
        namespace_mode("NetworkMode", &network_mode, &[], checks)?;
    } else if network_mode == "host" && scope.rules.privileged_containers {
        // The daemon's network namespace, the Pod's.
    } else {
        join_network(&network_mode, checks)?;
    }
    // The daemon's own namespaces (`host`): the node's, unless the class
    // isolates the daemon's Pod (then they are the Pod's).
    let host_too = |allowed: &'static [&'static str]| -> Vec<&'static str> {
        let mut allowed = allowed.to_vec();
        if scope.rules.privileged_containers {
            allowed.push("host");
        }
        allowed
    };
    namespace_mode("PidMode", &host.pid_mode, &host_too(&[""]), checks)?;
    namespace_mode("IpcMode", &host.ipc_mode, &host_too(&["", "none", "private", "shareable"]), checks)?;
    namespace_mode("UTSMode", &host.uts_mode, &host_too(&[""]), checks)?;
    namespace_mode("UsernsMode", &host.userns_mode, &host_too(&[""]), checks)?;
    namespace_mode("CgroupnsMode", &host.cgroupns_mode, &host_too(&["", "private"]), checks)?;
    namespace_mode("Cgroup", &host.cgroup, &[""], checks)?;
    for from in host.volumes_from.iter().flatten() {
        push(checks, Check::Joins(Kind::Container, from.split(':').next().unwrap_or_default().to_string()));
    }
    for link in host.links.iter().flatten() {
        push(checks, Check::Joins(Kind::Container, link_target(link)));
    }
    // Storage: binds only inside the workspace, named volumes of the sandbox.
    if !matches!(host.volume_driver.as_str(), "" | "local") {
        return Err(refused("VolumeDriver", "only the local volume driver is available"));
    }
    if let Some(binds) = &mut host.binds {
        for bind in binds {
            *bind = check_bind(bind, scope, checks)?;
        }
    }
    for mount in host.mounts.iter_mut().flatten() {
        check_mount(mount, scope, checks)?;
    }
    // What reaches the node's other services.
    if !LOCAL_LOG_DRIVERS.contains(&host.log_config.r#type.as_str()) {
        if !scope.rules.log_drivers.contains(&host.log_config.r#type) {
            return Err(refused(
                "LogConfig.Type",
                &format!(
                    "log driver `{}` writes outside the daemon's files; its class allows json-file and local{} \
                     (spec.broker.logDrivers)",
                    host.log_config.r#type,
                    scope.rules.log_drivers.iter().map(|d| format!(", {d}")).collect::<String>()
                ),
            ));
        }
    } else if let Some(option) =
        host.log_config.config.iter().flatten().map(|(k, _)| k).find(|k| !LOCAL_LOG_OPTIONS.contains(&k.as_str()))
    {
        return Err(refused("LogConfig.Config", &format!("log option `{option}` is not one of the local drivers'")));
    }
    check_ports(host, scope)?;
    // Containment: the Pod's cgroup and a PIDs limit, whatever was asked.
    check_resources(&host_resources(host), "HostConfig")?;
    if !host.cgroup_parent.is_empty() {
        return Err(refused(
            "CgroupParent",
            "`--cgroup-parent` is set by Dockyard: containers run under the sandbox Pod's cgroup",
        ));
    }
    host.cgroup_parent = scope.cgroup_parent.clone().ok_or_else(no_cgroup_parent)?;
    host.pids_limit = Some(bounded_pids(host.pids_limit, scope));
    // The first the kernel kills when the Pod runs out of memory: the kubelet
    // gives the sandbox's own processes 995 to 1000, a container would get 0
    // and outlive the workload (and dockerd, in DinD) that started it.
    host.oom_score_adj = MAX_OOM_SCORE_ADJ;
    Ok(())
}

/// The resource fields of a HostConfig that need checks, as a [`Resources`].
fn host_resources(host: &HostConfig) -> Resources {
    Resources {
        cpu_realtime_period: host.cpu_realtime_period,
        cpu_realtime_runtime: host.cpu_realtime_runtime,
        oom_kill_disable: host.oom_kill_disable,
        cpu_count: host.cpu_count,
        cpu_percent: host.cpu_percent,
        io_maximum_iops: host.io_maximum_iops,
        io_maximum_bandwidth: host.io_maximum_bandwidth,
        ..Default::default()
    }
}

/// Resource settings that reach beyond the container's own cgroup.
fn check_resources(resources: &Resources, at: &str) -> Result<(), Refusal> {
    if resources.cpu_realtime_period != 0 || resources.cpu_realtime_runtime != 0 {
        return Err(refused(&format!("{at}.CpuRealtime*"), "real-time scheduling is the node's to give"));
    }
    if resources.oom_kill_disable == Some(true) {
        return Err(refused(
            &format!("{at}.OomKillDisable"),
            "a container that cannot be OOM-killed would stall the sandbox's Pod at its memory limit",
        ));
    }
    if resources.cpu_count != 0
        || resources.cpu_percent != 0
        || resources.io_maximum_iops != 0
        || resources.io_maximum_bandwidth != 0
    {
        return Err(refused(&format!("{at}.CpuCount/CpuPercent/IOMaximum*"), "Windows-only settings are refused"));
    }
    Ok(())
}

/// A container's PIDs limit: what it asked if that is within the class's, else the class's.
fn bounded_pids(asked: Option<i64>, scope: &Scope) -> i64 {
    match asked {
        Some(n) if n > 0 && n <= scope.rules.pids_limit => n,
        _ => scope.rules.pids_limit,
    }
}

/// Published ports: refused unless the class names the node address they bind
/// to. Any key of `PortBindings` publishes (dockerd turns a `null` or empty
/// list into "every address, a random port").
fn check_ports(host: &mut HostConfig, scope: &Scope) -> Result<(), Refusal> {
    let publishes = host.port_bindings.as_ref().is_some_and(|p| !p.is_empty());
    if (!publishes && !host.publish_all_ports) || scope.rules.publish_anywhere {
        return Ok(());
    }
    let Some(host_ip) = &scope.rules.publish_host_ip else {
        return Err(refused(
            "PortBindings",
            "publishing ports on the node is not allowed by the sandbox's class (spec.broker.publishedPorts); \
             reach a container from the sandbox by its IP address instead (docker inspect -f \
             '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' NAME)",
        ));
    };
    if host.publish_all_ports {
        return Err(refused("PublishAllPorts", "`-P` binds every node address; publish ports one by one with `-p`"));
    }
    for bindings in host.port_bindings.iter_mut().flat_map(|p| p.values_mut()) {
        let bindings = bindings.get_or_insert_default();
        if bindings.is_empty() {
            bindings.push(PortBinding::default());
        }
        for binding in bindings {
            if !binding.host_ip.is_empty() && binding.host_ip != *host_ip {
                return Err(refused(
                    "PortBindings",
                    &format!(
                        "ports may be published on {host_ip} only (the class's spec.broker.publishedPorts.hostIP)"
                    ),
                ));
            }
            binding.host_ip = host_ip.clone();
        }
    }
    Ok(())
}

/// A `-v` bind: `source:target[:options]`, a workspace path rewritten to the
/// node's, or a named volume.
fn check_bind(bind: &str, scope: &Scope, checks: &mut Vec<Check>) -> Result<String, Refusal> {
    let parts: Vec<&str> = bind.split(':').collect();
    let (source, rest) = match parts.as_slice() {
        [source, target] => (*source, vec![*target]),
        [source, target, options] => {
            for option in options.split(',') {
                let allowed =
                    matches!(option, "ro" | "rw" | "z" | "Z" | "nocopy") || BIND_PROPAGATIONS.contains(&option);
                if !allowed {
                    return Err(refused("HostConfig.Binds", &format!("bind option `{option}` is refused in `{bind}`")));
                }
            }
            (*source, vec![*target, *options])
        }
        _ => return Err(Refusal::bad_request(format!("bind `{bind}` is not `source:target[:options]`"))),
    };
    if !source.starts_with('/') {
        push(checks, Check::VolumeOwnedOrNew(source.to_string()));
        return Ok(bind.to_string());
    }
    let node = workspace_path(source, scope)?;
    push(checks, Check::BindLinks(node.clone()));
    let mut out = vec![node.display().to_string()];
    out.extend(rest.into_iter().map(str::to_string));
    Ok(out.join(":"))
}

fn check_mount(mount: &mut Mount, scope: &Scope, checks: &mut Vec<Check>) -> Result<(), Refusal> {
    if mount.cluster_options.is_some() {
        return Err(refused("HostConfig.Mounts.ClusterOptions", "cluster volumes are not available"));
    }
    match mount.r#type.as_str() {
        "bind" => {
            if mount.volume_options.is_some() || mount.tmpfs_options.is_some() || mount.image_options.is_some() {
                return Err(refused("HostConfig.Mounts", "a bind mount takes only BindOptions"));
            }
            if let Some(options) = &mount.bind_options
                && !BIND_PROPAGATIONS.contains(&options.propagation.as_str())
            {
                return Err(refused(
                    "HostConfig.Mounts.BindOptions.Propagation",
                    &format!("`{}` could carry mounts back to the node", options.propagation),
                ));
            }
            let node = workspace_path(&mount.source, scope)?;
            push(checks, Check::BindLinks(node.clone()));
            mount.source = node.display().to_string();
        }
        "volume" => {
            if mount.bind_options.is_some() || mount.tmpfs_options.is_some() || mount.image_options.is_some() {
                return Err(refused("HostConfig.Mounts", "a volume mount takes only VolumeOptions"));
            }
            if let Some(driver) = mount.volume_options.as_ref().and_then(|o| o.driver_config.as_ref())
                && (!matches!(driver.name.as_str(), "" | "local")
                    || driver.options.as_ref().is_some_and(|o| !o.is_empty()))
            {
                return Err(refused(
                    "HostConfig.Mounts.VolumeOptions.DriverConfig",
                    "volume driver options could mount any path or device of the node; use plain named volumes",
                ));
            }
            if !mount.source.is_empty() {
                push(checks, Check::VolumeOwnedOrNew(mount.source.clone()));
            }
        }
        "tmpfs" => {
            if mount.bind_options.is_some() || mount.volume_options.is_some() || mount.image_options.is_some() {
                return Err(refused("HostConfig.Mounts", "a tmpfs mount takes only TmpfsOptions"));
            }
            if !mount.source.is_empty() {
                return Err(refused("HostConfig.Mounts.Source", "a tmpfs mount has no source"));
            }
        }
        "image" => {
            if mount.bind_options.is_some() || mount.volume_options.is_some() || mount.tmpfs_options.is_some() {
                return Err(refused("HostConfig.Mounts", "an image mount takes only ImageOptions"));
            }
            push(checks, Check::ImageUsable(mount.source.clone()));
        }
        other => {
            return Err(refused(
                "HostConfig.Mounts.Type",
                &format!(
                    "mount type `{other}` is not available; use bind (inside the workspace), volume, tmpfs or image"
                ),
            ));
        }
    }
    Ok(())
}

/// A path inside the sandbox's workspace → the same path on the node.
fn workspace_path(source: &str, scope: &Scope) -> Result<PathBuf, Refusal> {
    let Some(WorkspaceMapping { sandbox_path, node_path }) = &scope.workspace else {
        return Err(refused(
            "bind mounts",
            &format!(
                "this sandbox has no workspace the node can see, so `{source}` cannot be mounted; use a named volume"
            ),
        ));
    };
    let Some(normalized) = normalize(Path::new(source)) else {
        return Err(Refusal::bad_request(format!("bind source `{source}` must be an absolute path")));
    };
    match normalized.strip_prefix(sandbox_path) {
        Ok(rest) if rest.as_os_str().is_empty() => Ok(node_path.clone()),
        Ok(rest) => Ok(node_path.join(rest)),
        Err(_) => Err(refused(
            "bind mounts",
            &format!(
                "bind source `{source}` is outside the workspace {}: only paths inside it can be mounted",
                sandbox_path.display()
            ),
        )),
    }
}

/// `/a/./b/../c` → `/a/c`, lexically; `None` for relative paths.
fn normalize(path: &Path) -> Option<PathBuf> {
    if !path.is_absolute() {
        return None;
    }
    let mut out = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(part) => out.push(part),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    Some(out)
}

fn check_update(update: &mut ContainerUpdate, scope: &Scope) -> Result<(), Refusal> {
    let resources = Resources {
        cpu_realtime_period: update.cpu_realtime_period,
        cpu_realtime_runtime: update.cpu_realtime_runtime,
        oom_kill_disable: update.oom_kill_disable,
        cpu_count: update.cpu_count,
        cpu_percent: update.cpu_percent,
        io_maximum_iops: update.io_maximum_iops,
        io_maximum_bandwidth: update.io_maximum_bandwidth,
        ..Default::default()
    };
    check_resources(&resources, "update")?;
    if !update.cgroup_parent.is_empty() {
        return Err(refused("CgroupParent", "a container's cgroup parent cannot be changed"));
    }
    if update.devices.as_ref().is_some_and(|d| !d.is_empty())
        || update.device_cgroup_rules.as_ref().is_some_and(|d| !d.is_empty())
        || update.device_requests.as_ref().is_some_and(|d| !d.is_empty())
    {
        return Err(refused("Devices", "the node's devices are not available to a sandbox"));
    }
    if let Some(pids) = update.pids_limit
        && (pids <= 0 || pids > scope.rules.pids_limit)
    {
        return Err(refused(
            "PidsLimit",
            &format!("an update must not raise the PIDs limit above the class's {}", scope.rules.pids_limit),
        ));
    }
    Ok(())
}

fn check_network_create(network: &mut NetworkCreate, uid: &str) -> Result<(), Refusal> {
    if !matches!(network.driver.as_str(), "" | "bridge") {
        return Err(refused(
            "Driver",
            &format!("network driver `{}` would attach to the node's network; only bridge networks", network.driver),
        ));
    }
    if network.ingress || network.config_only || network.config_from.is_some() {
        return Err(refused("Ingress/ConfigOnly/ConfigFrom", "swarm and config-only networks are not available"));
    }
    if !matches!(network.scope.as_str(), "" | "local") {
        return Err(refused("Scope", "only local networks are available"));
    }
    if let Some(option) =
        network.options.iter().flatten().map(|(k, _)| k).find(|k| !NETWORK_OPTIONS.contains(&k.as_str()))
    {
        return Err(refused(
            "Options",
            &format!("network option `{option}` is refused (allowed: {})", NETWORK_OPTIONS.join(", ")),
        ));
    }
    if let Some(ipam) = &network.ipam {
        if !matches!(ipam.driver.as_str(), "" | "default") || ipam.options.as_ref().is_some_and(|o| !o.is_empty()) {
            return Err(refused("IPAM.Driver", "only the default address management is available"));
        }
        if ipam.config.as_ref().is_some_and(|c| !c.is_empty()) {
            return Err(refused(
                "IPAM.Config",
                "choosing subnets is refused: a subnet could cover the node's or the cluster's addresses; the daemon \
                 picks one from its pools",
            ));
        }
    }
    network.labels.get_or_insert_default().insert(SANDBOX_LABEL.into(), uid.to_string());
    Ok(())
}

fn check_volume_create(volume: &mut VolumeCreate, uid: &str) -> Result<(), Refusal> {
    if !matches!(volume.driver.as_str(), "" | "local") {
        return Err(refused(
            "Driver",
            &format!("volume driver `{}` is not available; use the local driver", volume.driver),
        ));
    }
    if volume.driver_opts.as_ref().is_some_and(|o| !o.is_empty()) {
        return Err(refused(
            "DriverOpts",
            "volume driver options (`--opt`) could mount any path or device of the node; use plain named volumes",
        ));
    }
    if volume.cluster_volume_spec.is_some() {
        return Err(refused("ClusterVolumeSpec", "cluster volumes are not available"));
    }
    volume.labels.get_or_insert_default().insert(SANDBOX_LABEL.into(), uid.to_string());
    Ok(())
}

#[cfg(test)]
mod tests {
    use http::StatusCode;
    use serde_json::{Value, json};

    use super::*;
    use crate::scope::Rules;

    const NODE: &str = "/var/lib/kubelet/pods/p/volumes/kubernetes.io~empty-dir/workspace";

    fn scope() -> Scope {
        Scope {
            uid: "u1".into(),
            workspace: Some(WorkspaceMapping { sandbox_path: "/workspace".into(), node_path: NODE.into() }),
            cgroup_parent: Some("/kubepods/burstable/podp".into()),
            own_network: None,
            rules: Rules::default(),
            unclaimed: false,
        }
    }

    #[test]
    fn the_default_bridge_is_the_sandboxs_own_network() {
        let brokered = Scope { own_network: Some("dockyard-u1".into()), ..scope() };
        for mode in ["", "default", "bridge"] {
            let body = json!({"Image": "b", "HostConfig": {"NetworkMode": mode},
                              "NetworkingConfig": {"EndpointsConfig": {mode: {"Aliases": ["db"]}}}});
            let (value, checks) = checked(JsonBody::ContainerCreate, &body.to_string(), &brokered).unwrap();
            assert_eq!(value["HostConfig"]["NetworkMode"], "dockyard-u1", "{mode:?}");
            assert_eq!(value["NetworkingConfig"]["EndpointsConfig"], json!({"dockyard-u1": {"Aliases": ["db"]}}));
            assert_eq!(checks.iter().filter(|c| **c == Check::OwnNetwork("dockyard-u1".into())).count(), 1);
            // Made before it is joined.
            let own = checks.iter().position(|c| *c == Check::OwnNetwork("dockyard-u1".into()));
            let joins = checks.iter().position(|c| *c == Check::Joins(Kind::Network, "dockyard-u1".into()));
            assert!(joins.is_none_or(|j| own.unwrap() < j), "{checks:?}");
        }
        // Another network of the sandbox, and no network at all, stay as asked.
        for mode in ["app_default", "none"] {
            let body = json!({"Image": "b", "HostConfig": {"NetworkMode": mode}});
            let (value, checks) = checked(JsonBody::ContainerCreate, &body.to_string(), &brokered).unwrap();
            assert_eq!(value["HostConfig"]["NetworkMode"], mode);
            assert!(!checks.iter().any(|c| matches!(c, Check::OwnNetwork(_))), "{checks:?}");
        }
        // In front of a sandbox's own daemon, its default bridge is its own already.
        let (value, _) = create(json!({"Image": "b", "HostConfig": {"NetworkMode": "default"}})).unwrap();
        assert_eq!(value["HostConfig"]["NetworkMode"], "default");
    }

    fn checked(kind: JsonBody, body: &str, scope: &Scope) -> Result<(Value, Vec<Check>), Refusal> {
        let checked = check(kind, body.as_bytes(), scope)?;
        Ok((serde_json::from_slice(&checked.body).unwrap(), checked.checks))
    }

    fn create(body: Value) -> Result<(Value, Vec<Check>), Refusal> {
        checked(JsonBody::ContainerCreate, &body.to_string(), &scope())
    }

    fn refused_create(body: &str) -> Refusal {
        checked(JsonBody::ContainerCreate, body, &scope()).expect_err(body)
    }

    #[test]
    fn privileged_containers_are_allowed_only_by_their_rule_and_stay_contained() {
        let body = json!({
            "Image": "b",
            "HostConfig": {
                "Privileged": true, "CapAdd": ["SYS_ADMIN"], "SecurityOpt": ["seccomp=unconfined"],
                "Devices": [{"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse", "CgroupPermissions": "rwm"}],
                "PidMode": "host", "NetworkMode": "host", "UsernsMode": "host", "CgroupnsMode": "host"
            }
        });
        assert!(create(body.clone()).unwrap_err().message.contains("Privileged"));
        let mut isolated = scope();
        isolated.rules.privileged_containers = true;
        let (checked_body, _) = checked(JsonBody::ContainerCreate, &body.to_string(), &isolated).unwrap();
        let host = &checked_body["HostConfig"];
        assert_eq!((host["Privileged"].as_bool(), host["NetworkMode"].as_str()), (Some(true), Some("host")));
        assert_eq!(host["CgroupParent"], "/kubepods/burstable/podp", "still under the Pod's cgroup");
        assert_eq!(host["PidsLimit"], 1024);
        // What the rule does not name stays refused: binds outside the workspace, the runtime.
        for (body, field) in [
            (json!({"Image": "b", "HostConfig": {"Privileged": true, "Binds": ["/:/host"]}}), "outside the workspace"),
            (json!({"Image": "b", "HostConfig": {"Runtime": "sysbox-runc"}}), "Runtime"),
            (json!({"Image": "b", "HostConfig": {"CgroupParent": "/"}}), "CgroupParent"),
        ] {
            let refusal = checked(JsonBody::ContainerCreate, &body.to_string(), &isolated).unwrap_err();
            assert!(refusal.message.contains(field), "{field}: {}", refusal.message);
        }
        assert!(check(JsonBody::ExecCreate, br#"{"Cmd":["sh"],"Privileged":true}"#, &isolated).is_ok());
        assert!(check(JsonBody::ExecCreate, br#"{"Cmd":["sh"],"Privileged":true}"#, &scope()).is_err());
    }

    #[test]
    fn a_container_is_labelled_contained_and_its_workspace_binds_rewritten() {
        let (body, checks) = create(json!({
            "Image": "busybox",
            "Labels": {"dockyard.dev/sandbox": "someone-else", "app": "x"},
            "HostConfig": {
                "Binds": ["/workspace/src:/src:ro", "/workspace/../workspace/a/./b:/b", "cache:/cache"],
                "Mounts": [{"Type": "bind", "Source": "/workspace", "Target": "/w"},
                           {"Type": "volume", "Source": "data", "Target": "/d"}, {"Type": "tmpfs", "Target": "/t"}],
                "NetworkMode": "app_default", "PidsLimit": 100000,
                "SecurityOpt": ["no-new-privileges"]
            },
            "NetworkingConfig": {"EndpointsConfig": {"app_default": {}, "bridge": {}}}
        }))
        .unwrap();
        assert_eq!(body["Labels"], json!({"dockyard.dev/sandbox": "u1", "app": "x"}));
        assert_eq!(
            body["HostConfig"]["Binds"],
            json!([format!("{NODE}/src:/src:ro"), format!("{NODE}/a/b:/b"), "cache:/cache"])
        );
        assert_eq!(body["HostConfig"]["Mounts"][0]["Source"], json!(NODE));
        assert_eq!(body["HostConfig"]["CgroupParent"], "/kubepods/burstable/podp");
        assert_eq!(body["HostConfig"]["PidsLimit"], 1024, "asked for more than the class allows");
        assert_eq!(body["HostConfig"]["OomScoreAdj"], 1000, "killed before the workload that started it");
        assert!(checks.contains(&Check::ImageUsable("busybox".into())));
        assert!(checks.contains(&Check::VolumeOwnedOrNew("cache".into())));
        assert!(checks.contains(&Check::VolumeOwnedOrNew("data".into())));
        assert!(checks.contains(&Check::Joins(Kind::Network, "app_default".into())));
        assert!(checks.contains(&Check::BindLinks(PathBuf::from(NODE).join("src"))));
        // A container without HostConfig is contained all the same.
        let (body, _) = create(json!({"Image": "busybox"})).unwrap();
        assert_eq!(
            (body["HostConfig"]["CgroupParent"].as_str(), body["HostConfig"]["PidsLimit"].as_i64()),
            (Some("/kubepods/burstable/podp"), Some(1024))
        );
        let (body, _) = create(json!({"Image": "busybox", "HostConfig": {"PidsLimit": 50}})).unwrap();
        assert_eq!(body["HostConfig"]["PidsLimit"], 50);
    }

    #[test]
    fn escapes_are_refused_however_they_are_spelt() {
        for (body, reason) in [
            (r#"{"Image":"b","HostConfig":{"Privileged":true}}"#, "Privileged"),
            (r#"{"Image":"b","hostconfig":{"privileged":true}}"#, "Privileged"),
            (r#"{"Image":"b","HOSTCONFIG":{"Privileged":false},"HostConfig":{"PRIVILEGED":true}}"#, "Privileged"),
            (r#"{"Image":"b","HostConfig":{"Privileged":false,"privileged":true}}"#, "Privileged"),
            (r#"{"Image":"b","HostConfig":{"Bindſ":["/:/host"]}}"#, "outside the workspace"),
            (r#"{"Image":"b","HostConfig":{"capadd":["SYS_ADMIN"]}}"#, "CapAdd"),
            (r#"{"Image":"b","HostConfig":{"CapAdd":"SYS_ADMIN"}}"#, "CapAdd"),
            (r#"{"Image":"b","HostConfig":{"PIDMODE":"host"}}"#, "PidMode"),
            (r#"{"Image":"b","HostConfig":{"NetworkMode":"host"}}"#, "NetworkMode"),
            (r#"{"Image":"b","HostConfig":{"IpcMode":"host"}}"#, "IpcMode"),
            (r#"{"Image":"b","HostConfig":{"UTSMode":"host"}}"#, "UTSMode"),
            (r#"{"Image":"b","HostConfig":{"UsernsMode":"host"}}"#, "UsernsMode"),
            (r#"{"Image":"b","HostConfig":{"CgroupnsMode":"host"}}"#, "CgroupnsMode"),
            (r#"{"Image":"b","HostConfig":{"mounts":[{"type":"bind","source":"/etc","target":"/e"}]}}"#, "outside"),
            (
                r#"{"Image":"b","HostConfig":{"Mounts":[{"Type":"volume","Source":"v","Target":"/v","VolumeOptions":{"DriverConfig":{"Name":"local","Options":{"type":"none","o":"bind","device":"/"}}}}]}}"#,
                "DriverConfig",
            ),
            (
                r#"{"Image":"b","HostConfig":{"Mounts":[{"Type":"bind","Source":"/workspace","Target":"/w","BindOptions":{"Propagation":"rshared"}}]}}"#,
                "Propagation",
            ),
            (r#"{"Image":"b","HostConfig":{"Binds":["/workspace:/w:rshared"]}}"#, "rshared"),
            (r#"{"Image":"b","HostConfig":{"Mounts":[{"Type":"npipe","Source":"x","Target":"/x"}]}}"#, "npipe"),
            (r#"{"Image":"b","HostConfig":{"SecurityOpt":["seccomp=unconfined"]}}"#, "SecurityOpt"),
            (r#"{"Image":"b","HostConfig":{"SecurityOpt":["apparmor=unconfined"]}}"#, "SecurityOpt"),
            (r#"{"Image":"b","HostConfig":{"SecurityOpt":["systempaths=unconfined"]}}"#, "SecurityOpt"),
            (r#"{"Image":"b","HostConfig":{"MaskedPaths":[]}}"#, "MaskedPaths"),
            (r#"{"Image":"b","HostConfig":{"ReadonlyPaths":[]}}"#, "ReadonlyPaths"),
            (
                r#"{"Image":"b","HostConfig":{"Devices":[{"PathOnHost":"/dev/sda","PathInContainer":"/dev/sda","CgroupPermissions":"rwm"}]}}"#,
                "Devices",
            ),
            (r#"{"Image":"b","HostConfig":{"DeviceCgroupRules":["a *:* rwm"]}}"#, "DeviceCgroupRules"),
            (r#"{"Image":"b","HostConfig":{"Runtime":"runsc-debug"}}"#, "Runtime"),
            (r#"{"Image":"b","HostConfig":{"CgroupParent":"/"}}"#, "CgroupParent"),
            (r#"{"Image":"b","HostConfig":{"cgroupparent":"/"}}"#, "CgroupParent"),
            (r#"{"Image":"b","HostConfig":{"Sysctls":{"kernel.core_pattern":"|/x"}}}"#, "Sysctls"),
            (r#"{"Image":"b","HostConfig":{"OomScoreAdj":-1000}}"#, "OomScoreAdj"),
            (r#"{"Image":"b","HostConfig":{"OomKillDisable":true}}"#, "OomKillDisable"),
            (r#"{"Image":"b","HostConfig":{"CpuRealtimeRuntime":1000}}"#, "Realtime"),
            (r#"{"Image":"b","HostConfig":{"Annotations":{"a":"b"}}}"#, "Annotations"),
            (r#"{"Image":"b","HostConfig":{"LogConfig":{"Type":"syslog"}}}"#, "syslog"),
            (
                r#"{"Image":"b","HostConfig":{"LogConfig":{"Type":"json-file","Config":{"syslog-address":"x"}}}}"#,
                "syslog-address",
            ),
            (
                r#"{"Image":"b","HostConfig":{"PortBindings":{"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"18080"}]}}}"#,
                "publishedPorts",
            ),
            (r#"{"Image":"b","HostConfig":{"PublishAllPorts":true}}"#, "publishedPorts"),
            (r#"{"Image":"b","HostConfig":{"PortBindings":{"80/tcp":null}}}"#, "publishedPorts"),
            (r#"{"Image":"b","HostConfig":{"PortBindings":{"80/tcp":[]}}}"#, "publishedPorts"),
            (r#"{"Image":"b","HostConfig":{"VolumeDriver":"nfs"}}"#, "VolumeDriver"),
            (r#"{"Image":"b","NetworkingConfig":{"EndpointsConfig":{"host":{}}}}"#, "host"),
            (
                r#"{"Image":"b","NetworkingConfig":{"EndpointsConfig":{"bridge":{"DriverOpts":{"a":"b"}}}}}"#,
                "DriverOpts",
            ),
        ] {
            let refusal = refused_create(body);
            assert_eq!(refusal.status, StatusCode::FORBIDDEN, "{body}: {refusal:?}");
            assert!(refusal.message.contains(reason), "{body}: expected `{reason}` in {}", refusal.message);
        }
    }

    #[test]
    fn what_the_model_does_not_know_is_a_bad_request_naming_it() {
        for (body, field) in [
            (r#"{"Image":"b","Privileged":true}"#, "`Privileged`"),
            (r#"{"Image":"b","Binds":["/:/host"]}"#, "`Binds`"),
            (r#"{"Image":"b","HostConfig":{"Frobnicate":1}}"#, "`HostConfig.Frobnicate`"),
            (r#"{"Image":"b","HostConfig":{"Prıvileged":true}}"#, "`HostConfig.Prıvileged`"),
            (r#"{"Image":"b","HostConfig":{"Memory":"1g"}}"#, "`HostConfig.Memory`"),
            (r#"{"Image":"b"} {"HostConfig":{"Privileged":true}}"#, "not one JSON value"),
            (
                r#"{"Image":"b","HostConfig":{"Mounts":[{"Type":"bind","Source":"/workspace","Target":"/w","Bogus":1}]}}"#,
                "`HostConfig.Mounts[0].Bogus`",
            ),
            (r#"{"Image":"b","Cpuset":"0"}"#, "Cpuset"),
        ] {
            let refusal = refused_create(body);
            assert!(refusal.message.contains(field), "{body}: expected {field} in {}", refusal.message);
        }
        assert_eq!(refused_create(r#"{"Image":"b","Privileged":true}"#).status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn without_a_workspace_or_cgroup_nothing_starts() {
        let bare = Scope { workspace: None, ..scope() };
        let refusal =
            checked(JsonBody::ContainerCreate, r#"{"Image":"b","HostConfig":{"Binds":["/workspace:/w"]}}"#, &bare)
                .unwrap_err();
        assert!(refusal.message.contains("named volume"), "{}", refusal.message);
        let unbounded = Scope { cgroup_parent: None, ..scope() };
        let refusal = checked(JsonBody::ContainerCreate, r#"{"Image":"b"}"#, &unbounded).unwrap_err();
        assert_eq!(refusal.status, StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn class_rules_open_what_they_name() {
        let rules = Rules {
            log_drivers: vec!["syslog".into()],
            publish_host_ip: Some("127.0.0.1".into()),
            pids_limit: 64,
            ..Rules::default()
        };
        let open = Scope { rules, ..scope() };
        let (body, _) = checked(
            JsonBody::ContainerCreate,
            r#"{"Image":"b","HostConfig":{"LogConfig":{"Type":"syslog"},"PortBindings":{"80/tcp":[{"HostPort":"18080"}]}}}"#,
            &open,
        )
        .unwrap();
        assert_eq!(body["HostConfig"]["PortBindings"]["80/tcp"][0]["HostIp"], "127.0.0.1");
        let any_address = r#"{"Image":"b","HostConfig":{"PortBindings":{"80/tcp":null,"81/tcp":[]}}}"#;
        let (body, _) = checked(JsonBody::ContainerCreate, any_address, &open).unwrap();
        assert_eq!(body["HostConfig"]["PortBindings"]["80/tcp"][0]["HostIp"], "127.0.0.1");
        assert_eq!(body["HostConfig"]["PortBindings"]["81/tcp"][0]["HostIp"], "127.0.0.1");
        assert_eq!(body["HostConfig"]["PidsLimit"], 64);
        let elsewhere =
            r#"{"Image":"b","HostConfig":{"PortBindings":{"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"1"}]}}}"#;
        assert!(checked(JsonBody::ContainerCreate, elsewhere, &open).unwrap_err().message.contains("127.0.0.1"));
    }

    #[test]
    fn joining_other_containers_is_left_to_the_ownership_check() {
        let (_, checks) = create(json!({"Image": "b", "HostConfig": {
            "NetworkMode": "container:web", "PidMode": "container:db", "VolumesFrom": ["data:ro"], "Links": ["/cache:c"]
        }}))
        .unwrap();
        for container in ["web", "db", "data", "cache"] {
            assert!(checks.contains(&Check::Joins(Kind::Container, container.into())), "{container}: {checks:?}");
        }
    }

    #[test]
    fn exec_update_network_and_volume_bodies() {
        let s = scope();
        for body in [r#"{"Privileged":true}"#, r#"{"privileged":true}"#, r#"{"PRIVILEGEd":false,"Privileged":true}"#] {
            assert!(
                check(JsonBody::ExecCreate, body.as_bytes(), &s).unwrap_err().message.contains("Privileged"),
                "{body}"
            );
        }
        for body in [r#"{"PidsLimit":-1}"#, r#"{"pidslimit":0}"#, r#"{"PidsLimit":5000}"#] {
            assert!(
                check(JsonBody::ContainerUpdate, body.as_bytes(), &s).unwrap_err().message.contains("PidsLimit"),
                "{body}"
            );
        }
        assert!(check(JsonBody::ContainerUpdate, br#"{"cgroupParent":"/"}"#, &s).is_err());
        assert!(check(JsonBody::ContainerUpdate, br#"{"Memory":1073741824,"PidsLimit":100}"#, &s).is_ok());
        for (body, reason) in [
            (r#"{"Name":"n","Driver":"macvlan"}"#, "macvlan"),
            (r#"{"Name":"n","driver":"ipvlan"}"#, "ipvlan"),
            (r#"{"Name":"n","Options":{"com.docker.network.bridge.name":"docker0"}}"#, "bridge.name"),
            (r#"{"Name":"n","IPAM":{"Config":[{"Subnet":"10.213.64.0/24"}]}}"#, "subnets"),
            (r#"{"Name":"n","ConfigFrom":{"Network":"x"}}"#, "config-only"),
        ] {
            let refusal = check(JsonBody::NetworkCreate, body.as_bytes(), &s).unwrap_err();
            assert!(refusal.message.contains(reason), "{body}: {}", refusal.message);
        }
        let (network, _) = checked(JsonBody::NetworkCreate, r#"{"Name":"n","Labels":{"a":"b"}}"#, &s).unwrap();
        assert_eq!(network["Labels"], json!({"a": "b", "dockyard.dev/sandbox": "u1"}));
        for body in [
            r#"{"Name":"v","DriverOpts":{"type":"none","o":"bind","device":"/etc"}}"#,
            r#"{"Name":"v","driveropts":{"device":"/"}}"#,
        ] {
            assert!(
                check(JsonBody::VolumeCreate, body.as_bytes(), &s).unwrap_err().message.contains("DriverOpts"),
                "{body}"
            );
        }
        let (_, checks) = checked(JsonBody::NetworkConnect, r#"{"container":"web"}"#, &s).unwrap();
        assert_eq!(checks, [Check::Owns(Kind::Container, "web".into())]);
        let (commit, _) = checked(JsonBody::Commit, "", &s).unwrap();
        assert_eq!(commit["Labels"]["dockyard.dev/sandbox"], "u1");
    }
}
