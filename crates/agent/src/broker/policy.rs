//! What a brokered sandbox may ask of the node's Docker daemon. Pure functions:
//! a request's method and path become a [`Route`]; bodies and queries are
//! checked and rewritten here; the proxy performs the ownership lookups the
//! result asks for.

use std::path::{Component, Path, PathBuf};

use http::{Method, StatusCode};
use serde_json::{Map, Value};

use crate::resources::SANDBOX_LABEL;

/// Networks every container may use without owning them.
const SHARED_NETWORKS: [&str; 3] = ["default", "bridge", "none"];

/// The sandbox a broker socket belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    /// The Sandbox's UID: the value of the label on everything it creates.
    pub uid: String,
    /// Where its workspace is, inside the sandbox and on the node.
    pub workspace: Option<WorkspaceMapping>,
}

/// The workspace volume as the sandbox sees it and where it lies on the node.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WorkspaceMapping {
    pub sandbox_path: PathBuf,
    pub node_path: PathBuf,
}

/// A request the broker will not pass on, with the HTTP status and the reason
/// the Docker CLI shows the user.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    pub status: StatusCode,
    pub message: String,
}

impl Refusal {
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self { status: StatusCode::FORBIDDEN, message: format!("dockyard: {}", message.into()) }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, message: format!("dockyard: {}", message.into()) }
    }
    /// What Docker says for an object that does not exist: the sandbox cannot
    /// tell another sandbox's object from a missing one.
    pub fn not_found(kind: Kind, id: &str) -> Self {
        Self { status: StatusCode::NOT_FOUND, message: format!("No such {}: {id}", kind.noun()) }
    }
}

/// The kinds of Docker objects a sandbox owns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Container,
    Network,
    Volume,
    Image,
}

impl Kind {
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Container => "container",
            Kind::Network => "network",
            Kind::Volume => "volume",
            Kind::Image => "image",
        }
    }
}

/// What the broker does with a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// Passed on unchanged (ping, version, images, auth, BuildKit sessions).
    Pass,
    /// A list, prune or event stream: the sandbox's label filter is added to the query.
    Filtered,
    /// `POST /containers/create`: the body is checked and rewritten.
    CreateContainer,
    /// `POST /networks/create` or `/volumes/create`: checked, then labelled.
    CreateNetwork,
    CreateVolume,
    /// `POST /build`: labelled; host networking refused.
    Build,
    /// Anything addressing one object: passed on only when the sandbox owns it.
    Object {
        kind: Kind,
        id: String,
        action: String,
    },
    /// `/exec/{id}/...`: passed on only when the exec's container is the sandbox's.
    Exec {
        id: String,
    },
    /// `POST /commit?container=`: the container must be the sandbox's.
    Commit,
    /// Refused outright.
    Refused(Refusal),
}

/// `/v1.43/containers/json` → `/containers/json`.
pub fn strip_version(path: &str) -> &str {
    let Some(rest) = path.strip_prefix("/v") else { return path };
    match rest.find('/') {
        Some(i) if rest[..i].split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())) => &rest[i..],
        _ => path,
    }
}

/// Classifies a request by method and (version-stripped) path.
pub fn route(method: &Method, path: &str) -> Route {
    let path = strip_version(path);
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let get = method == Method::GET || method == Method::HEAD;
    let post = method == Method::POST;
    let object = |kind: Kind, segments: &[&str]| Route::Object {
        kind,
        id: percent_decode(segments[1]),
        action: segments[2..].join("/"),
    };
    match segments.as_slice() {
        ["_ping"] | ["version"] | ["info"] => Route::Pass,
        ["auth"] if post => Route::Pass,
        ["events"] if get => Route::Filtered,
        ["session"] if post => Route::Pass,
        ["distribution", ..] => Route::Pass,
        ["build"] if post => Route::Build,
        ["commit"] if post => Route::Commit,

        ["containers", "json"] if get => Route::Filtered,
        ["containers", "prune"] if post => Route::Filtered,
        ["containers", "create"] if post => Route::CreateContainer,
        ["containers", _, ..] => object(Kind::Container, &segments),
        ["exec", id, ..] => Route::Exec { id: percent_decode(id) },

        ["networks"] if get => Route::Filtered,
        ["networks", "prune"] if post => Route::Filtered,
        ["networks", "create"] if post => Route::CreateNetwork,
        ["networks", _, ..] => object(Kind::Network, &segments),

        ["volumes"] if get => Route::Filtered,
        ["volumes", "prune"] if post => Route::Filtered,
        ["volumes", "create"] if post => Route::CreateVolume,
        ["volumes", _, ..] => object(Kind::Volume, &segments),

        // Images are shared by the node's sandboxes: listing, pulling, loading,
        // saving, tagging and inspecting are open; removing is limited to the
        // sandbox's own builds; pruning to its own images.
        ["images", "prune"] if post => Route::Filtered,
        ["images", ..] if method == Method::DELETE => {
            Route::Object { kind: Kind::Image, id: percent_decode(&segments[1..].join("/")), action: String::new() }
        }
        ["images", ..] => Route::Pass,

        ["system", "df"] => Route::Refused(Refusal::forbidden(
            "`docker system df` would show every sandbox's objects on the node; it is not available through the broker",
        )),
        ["build", "prune"] => Route::Refused(Refusal::forbidden(
            "the build cache is shared by the node's sandboxes; pruning it is not available through the broker",
        )),
        // `docker inspect NAME` looks for a plugin (and swarm objects) after
        // containers, images, networks and volumes: a miss, not a refusal.
        [first, name, "json"] | [first, name]
            if get && ["nodes", "services", "tasks", "secrets", "configs", "plugins"].contains(first) =>
        {
            Route::Refused(Refusal {
                status: StatusCode::NOT_FOUND,
                message: format!("No such {}: {}", first.trim_end_matches('s'), percent_decode(name)),
            })
        }
        [first, ..]
            if ["swarm", "nodes", "services", "tasks", "secrets", "configs", "plugins", "grpc"].contains(first) =>
        {
            Route::Refused(Refusal::forbidden(format!("the /{first} API is not available to a sandbox")))
        }
        _ => Route::Refused(Refusal::forbidden(format!("{method} {path} is not available through the broker"))),
    }
}

fn percent_decode(segment: &str) -> String {
    form_urlencoded::parse(format!("x={segment}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| segment.to_string())
}

/// `label=dockyard.dev/sandbox=<uid>` added to a query's `filters`, so Docker
/// itself lists, prunes and streams events of the sandbox's objects only.
pub fn add_label_filter(query: Option<&str>, uid: &str) -> Result<String, Refusal> {
    let label = format!("{SANDBOX_LABEL}={uid}");
    let mut pairs: Vec<(String, String)> = parse_query(query);
    let mut filters = match pairs.iter().position(|(k, _)| k == "filters") {
        Some(i) => {
            let (_, raw) = pairs.remove(i);
            serde_json::from_str::<Map<String, Value>>(&raw)
                .map_err(|e| Refusal::bad_request(format!("query parameter `filters` is not a JSON object: {e}")))?
        }
        None => Map::new(),
    };
    match filters.get_mut("label") {
        // The legacy form {"label": {"k=v": true}}.
        Some(Value::Object(map)) => {
            map.insert(label, Value::Bool(true));
        }
        Some(Value::Array(list)) => list.push(Value::String(label)),
        Some(_) => return Err(Refusal::bad_request("query parameter `filters.label` must be a list of strings")),
        None => {
            filters.insert("label".into(), Value::Array(vec![Value::String(label)]));
        }
    }
    pairs.push(("filters".into(), Value::Object(filters).to_string()));
    Ok(encode_query(&pairs))
}

pub fn parse_query(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect()
}

pub fn encode_query(pairs: &[(String, String)]) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

/// The query of `POST /build` with the sandbox's label on the image it
/// builds; host networking for `RUN` is refused.
pub fn build_query(query: Option<&str>, uid: &str) -> Result<String, Refusal> {
    let mut pairs = parse_query(query);
    if let Some((_, mode)) = pairs.iter().find(|(k, _)| k == "networkmode")
        && (mode == "host" || mode.starts_with("container:"))
    {
        return Err(Refusal::forbidden(format!(
            "build network mode `{mode}` would reach the node's network namespace; use the default"
        )));
    }
    let mut labels = match pairs.iter().position(|(k, _)| k == "labels") {
        Some(i) => serde_json::from_str::<Map<String, Value>>(&pairs.remove(i).1)
            .map_err(|e| Refusal::bad_request(format!("query parameter `labels` is not a JSON object: {e}")))?,
        None => Map::new(),
    };
    labels.insert(SANDBOX_LABEL.into(), Value::String(uid.into()));
    pairs.push(("labels".into(), Value::Object(labels).to_string()));
    Ok(encode_query(&pairs))
}

/// Parses a JSON request body; the error is a 400 naming what was wrong.
pub fn parse_body(body: &[u8], what: &str) -> Result<Map<String, Value>, Refusal> {
    if body.is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Refusal::bad_request(format!("the body of {what} must be a JSON object"))),
        Err(e) => Err(Refusal::bad_request(format!("the body of {what} is not valid JSON: {e}"))),
    }
}

/// Sets the sandbox's label in an object's `Labels` (replacing any value the
/// sandbox gave it).
pub fn label_body(body: &mut Map<String, Value>, uid: &str) -> Result<(), Refusal> {
    let labels = body.entry("Labels").or_insert_with(|| Value::Object(Map::new()));
    if labels.is_null() {
        *labels = Value::Object(Map::new());
    }
    let Value::Object(labels) = labels else {
        return Err(Refusal::bad_request("`Labels` must be an object of strings"));
    };
    labels.insert(SANDBOX_LABEL.into(), Value::String(uid.into()));
    Ok(())
}

/// What a container create needs checked against the daemon before it is
/// passed on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerChecks {
    /// Named volumes: must be the sandbox's, or are created with its label.
    pub volumes: Vec<String>,
    /// Containers whose namespaces or volumes it joins: must be the sandbox's.
    pub containers: Vec<String>,
    /// User-defined networks it joins: must be the sandbox's.
    pub networks: Vec<String>,
    /// Bind sources after the rewrite, as node paths: symbolic links in them
    /// must not lead out of the workspace.
    pub binds: Vec<PathBuf>,
}

/// Checks a `POST /containers/create` body for everything that would reach the
/// node, rewrites bind mounts from the workspace to the node's path, and labels
/// it. Returns what must be looked up before the request is passed on.
pub fn check_container_create(body: &mut Map<String, Value>, scope: &Scope) -> Result<ContainerChecks, Refusal> {
    let mut checks = ContainerChecks::default();
    label_body(body, &scope.uid)?;
    if let Some(volumes_from_config) = body.get("Volumes")
        && !volumes_from_config.is_null()
        && !volumes_from_config.is_object()
    {
        return Err(Refusal::bad_request("`Volumes` must be an object"));
    }
    if let Some(host) = body.get_mut("HostConfig").filter(|h| !h.is_null()) {
        let Value::Object(host) = host else {
            return Err(Refusal::bad_request("`HostConfig` must be an object"));
        };
        check_host_config(host, scope, &mut checks)?;
    }
    if let Some(endpoints) =
        body.get("NetworkingConfig").and_then(|n| n.get("EndpointsConfig")).and_then(Value::as_object)
    {
        for network in endpoints.keys() {
            push_network(&mut checks, network);
        }
    }
    Ok(checks)
}

fn push_network(checks: &mut ContainerChecks, network: &str) {
    if !SHARED_NETWORKS.contains(&network) && !checks.networks.iter().any(|n| n == network) {
        checks.networks.push(network.to_string());
    }
}

fn is_set(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
        Some(Value::String(s)) => !s.is_empty(),
        Some(_) => true,
    }
}

fn str_field<'a>(host: &'a Map<String, Value>, field: &str) -> Result<&'a str, Refusal> {
    match host.get(field) {
        None | Some(Value::Null) => Ok(""),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(Refusal::bad_request(format!("`HostConfig.{field}` must be a string"))),
    }
}

fn check_host_config(
    host: &mut Map<String, Value>,
    scope: &Scope,
    checks: &mut ContainerChecks,
) -> Result<(), Refusal> {
    if is_set(host.get("Privileged")) {
        return Err(Refusal::forbidden("privileged containers would own the node; `--privileged` is refused"));
    }
    let refused_when_set = [
        ("CapAdd", "added capabilities (`--cap-add`) could escape to the node"),
        ("Devices", "the node's devices (`--device`) are not available to a sandbox"),
        ("DeviceRequests", "device requests (`--gpus`) are not available to a sandbox"),
        ("DeviceCgroupRules", "device cgroup rules (`--device-cgroup-rule`) are not available to a sandbox"),
        ("CgroupParent", "`--cgroup-parent` would leave the sandbox's resource limits"),
        ("MaskedPaths", "overriding masked /proc paths is refused"),
        ("ReadonlyPaths", "overriding read-only /proc paths is refused"),
    ];
    for (field, why) in refused_when_set {
        if is_set(host.get(field)) {
            return Err(Refusal::forbidden(format!("HostConfig.{field}: {why}")));
        }
    }
    if let Some(options) = host.get("SecurityOpt").and_then(Value::as_array) {
        for option in options {
            let option = option.as_str().unwrap_or_default();
            if !matches!(option, "no-new-privileges" | "no-new-privileges:true" | "no-new-privileges=true") {
                return Err(Refusal::forbidden(format!(
                    "HostConfig.SecurityOpt: `{option}` would weaken the container's confinement; only \
                     no-new-privileges is allowed"
                )));
            }
        }
    }
    let runtime = str_field(host, "Runtime")?;
    if !runtime.is_empty() && runtime != "runc" {
        return Err(Refusal::forbidden(format!("HostConfig.Runtime: runtime `{runtime}` is not allowed; use runc")));
    }
    for (field, flag) in [("UsernsMode", "--userns"), ("UTSMode", "--uts"), ("CgroupnsMode", "--cgroupns")] {
        if str_field(host, field)? == "host" {
            return Err(Refusal::forbidden(format!(
                "HostConfig.{field}: `{flag}=host` would share the node's namespace"
            )));
        }
    }
    for (field, flag) in [("NetworkMode", "--network"), ("PidMode", "--pid"), ("IpcMode", "--ipc")] {
        let mode = str_field(host, field)?;
        if mode == "host" {
            return Err(Refusal::forbidden(format!(
                "HostConfig.{field}: `{flag}=host` would share the node's namespace"
            )));
        }
        if let Some(container) = mode.strip_prefix("container:") {
            checks.containers.push(container.to_string());
        } else if field == "NetworkMode" && !mode.is_empty() {
            push_network(checks, mode);
        }
    }
    if let Some(from) = host.get("VolumesFrom").and_then(Value::as_array) {
        for entry in from {
            let entry = entry.as_str().ok_or_else(|| Refusal::bad_request("`VolumesFrom` must be strings"))?;
            checks.containers.push(entry.split(':').next().unwrap_or_default().to_string());
        }
    }
    if let Some(binds) = host.get_mut("Binds").filter(|b| !b.is_null()) {
        let Value::Array(binds) = binds else {
            return Err(Refusal::bad_request("`HostConfig.Binds` must be a list of strings"));
        };
        for bind in binds {
            let spec = bind.as_str().ok_or_else(|| Refusal::bad_request("`HostConfig.Binds` must be strings"))?;
            let (source, rest) = spec.split_once(':').ok_or_else(|| {
                Refusal::bad_request(format!("bind `{spec}` has no target (expected SOURCE:TARGET[:OPTIONS])"))
            })?;
            if source.starts_with('/') {
                let rewritten = node_path(source, scope)?;
                *bind = Value::String(format!("{}:{rest}", rewritten.display()));
                checks.binds.push(rewritten);
            } else {
                checks.volumes.push(source.to_string());
            }
        }
    }
    if let Some(mounts) = host.get_mut("Mounts").filter(|m| !m.is_null()) {
        let Value::Array(mounts) = mounts else {
            return Err(Refusal::bad_request("`HostConfig.Mounts` must be a list"));
        };
        for mount in mounts {
            let Value::Object(mount) = mount else {
                return Err(Refusal::bad_request("`HostConfig.Mounts` entries must be objects"));
            };
            check_mount(mount, scope, checks)?;
        }
    }
    Ok(())
}

fn check_mount(mount: &mut Map<String, Value>, scope: &Scope, checks: &mut ContainerChecks) -> Result<(), Refusal> {
    let kind = mount.get("Type").and_then(Value::as_str).unwrap_or("volume").to_string();
    let source = mount.get("Source").and_then(Value::as_str).unwrap_or_default().to_string();
    match kind.as_str() {
        "bind" => {
            let rewritten = node_path(&source, scope)?;
            mount.insert("Source".into(), Value::String(rewritten.display().to_string()));
            checks.binds.push(rewritten);
            Ok(())
        }
        "volume" => {
            if mount.get("VolumeOptions").and_then(|o| o.get("DriverConfig")).is_some_and(|d| is_set(Some(d))) {
                return Err(Refusal::forbidden(
                    "volume driver options could mount any path of the node; use plain named volumes",
                ));
            }
            if !source.is_empty() {
                checks.volumes.push(source);
            }
            Ok(())
        }
        "tmpfs" => Ok(()),
        other => Err(Refusal::forbidden(format!("mounts of type `{other}` are not available to a sandbox"))),
    }
}

/// The node path of a bind source the sandbox named: inside its workspace it is
/// rewritten to the workspace volume on the node; anything else is refused.
pub fn node_path(source: &str, scope: &Scope) -> Result<PathBuf, Refusal> {
    let normalized = normalize(Path::new(source))
        .ok_or_else(|| Refusal::bad_request(format!("bind source `{source}` is not an absolute path")))?;
    if normalized.file_name().is_some_and(|n| n.to_string_lossy().contains("docker.sock")) {
        return Err(Refusal::forbidden(format!(
            "bind source `{source}`: mounting a Docker socket into a container would hand it the node's daemon"
        )));
    }
    let Some(workspace) = &scope.workspace else {
        return Err(Refusal::forbidden(format!(
            "bind source `{source}` is a path of the node; this sandbox's workspace has no node path the broker can \
             map, so bind mounts are not available (use a named volume)"
        )));
    };
    match normalized.strip_prefix(&workspace.sandbox_path) {
        Ok(rest) if rest.as_os_str().is_empty() => Ok(workspace.node_path.clone()),
        Ok(rest) => Ok(workspace.node_path.join(rest)),
        Err(_) => Err(Refusal::forbidden(format!(
            "bind source `{source}` is outside the workspace {}: only paths inside it can be mounted",
            workspace.sandbox_path.display()
        ))),
    }
}

/// Whether a rewritten bind source stays inside the workspace on the node once
/// symbolic links are followed (a sandbox can create `ws/x -> /etc`, which
/// dockerd would follow). Missing parts are fine: Docker creates them as
/// directories under the last existing one, which was checked. Reads the file
/// system, so the workspace's node path must be visible to the agent.
pub fn check_bind_links(bind: &Path, workspace_node_path: &Path) -> Result<(), Refusal> {
    let root = std::fs::canonicalize(workspace_node_path).map_err(|e| {
        Refusal::forbidden(format!(
            "the workspace's node path {} cannot be checked ({e}), so bind mounts are refused",
            workspace_node_path.display()
        ))
    })?;
    let Ok(rest) = bind.strip_prefix(workspace_node_path) else {
        return Err(Refusal::forbidden(format!("bind source {} is outside the workspace", bind.display())));
    };
    let mut current = root.clone();
    for part in rest.components() {
        let next = current.join(part);
        match std::fs::symlink_metadata(&next) {
            Err(_) => return Ok(()),
            Ok(metadata) if metadata.file_type().is_symlink() => {
                let target = std::fs::canonicalize(&next).map_err(|_| {
                    Refusal::forbidden(format!(
                        "bind source {} goes through a symbolic link that leads nowhere; refused",
                        bind.display()
                    ))
                })?;
                if !target.starts_with(&root) {
                    return Err(Refusal::forbidden(format!(
                        "bind source {} leads out of the workspace through a symbolic link; refused",
                        bind.display()
                    )));
                }
                current = target;
            }
            Ok(_) => current = next,
        }
    }
    Ok(())
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

/// Checks a `POST /networks/create` body and labels it.
pub fn check_network_create(body: &mut Map<String, Value>, uid: &str) -> Result<(), Refusal> {
    let driver = body.get("Driver").and_then(Value::as_str).unwrap_or("bridge");
    if driver != "bridge" {
        return Err(Refusal::forbidden(format!(
            "network driver `{driver}` would attach to the node's network; only bridge networks are available"
        )));
    }
    if is_set(body.get("ConfigFrom")) || is_set(body.get("ConfigOnly")) {
        return Err(Refusal::forbidden("config-only networks are not available to a sandbox"));
    }
    if let Some(options) = body.get("Options").and_then(Value::as_object)
        && let Some(option) = options.keys().find(|k| k.starts_with("com.docker.network.bridge.name"))
    {
        return Err(Refusal::forbidden(format!("network option `{option}` would reuse a bridge of the node")));
    }
    label_body(body, uid)
}

/// Checks a `POST /volumes/create` body and labels it.
pub fn check_volume_create(body: &mut Map<String, Value>, uid: &str) -> Result<(), Refusal> {
    let driver = body.get("Driver").and_then(Value::as_str).unwrap_or("local");
    if driver != "local" {
        return Err(Refusal::forbidden(format!("volume driver `{driver}` is not available; use the local driver")));
    }
    if is_set(body.get("DriverOpts")) {
        return Err(Refusal::forbidden(
            "volume driver options (`--opt`) could mount any path or device of the node; use plain named volumes",
        ));
    }
    label_body(body, uid)
}

/// Checks a `POST /containers/{id}/exec` body: no privileged exec.
pub fn check_exec_create(body: &Map<String, Value>) -> Result<(), Refusal> {
    if is_set(body.get("Privileged")) {
        return Err(Refusal::forbidden("privileged exec (`docker exec --privileged`) is refused"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn scope() -> Scope {
        Scope {
            uid: "u1".into(),
            workspace: Some(WorkspaceMapping {
                sandbox_path: "/workspace".into(),
                node_path: "/var/lib/kubelet/pods/p/volumes/kubernetes.io~empty-dir/workspace".into(),
            }),
        }
    }

    fn create(body: Value) -> Result<(Map<String, Value>, ContainerChecks), Refusal> {
        let Value::Object(mut body) = body else { panic!() };
        let checks = check_container_create(&mut body, &scope())?;
        Ok((body, checks))
    }

    fn refused(body: Value) -> String {
        let refusal = create(body).expect_err("must be refused");
        assert_eq!(refusal.status, StatusCode::FORBIDDEN, "{refusal:?}");
        refusal.message
    }

    #[test]
    fn routes_strip_api_versions_and_classify() {
        assert_eq!(strip_version("/v1.41/containers/json"), "/containers/json");
        assert_eq!(strip_version("/version"), "/version");
        assert_eq!(route(&Method::GET, "/v1.41/containers/json"), Route::Filtered);
        assert_eq!(route(&Method::POST, "/v1.41/containers/create"), Route::CreateContainer);
        assert_eq!(
            route(&Method::POST, "/v1.41/containers/abc/attach"),
            Route::Object { kind: Kind::Container, id: "abc".into(), action: "attach".into() }
        );
        assert_eq!(route(&Method::POST, "/exec/e1/start"), Route::Exec { id: "e1".into() });
        assert_eq!(
            route(&Method::DELETE, "/v1.41/images/library%2Fbusybox:1"),
            Route::Object { kind: Kind::Image, id: "library/busybox:1".into(), action: String::new() }
        );
        assert_eq!(route(&Method::POST, "/images/load"), Route::Pass);
        assert!(matches!(route(&Method::GET, "/plugins"), Route::Refused(_)));
        assert!(matches!(route(&Method::POST, "/swarm/init"), Route::Refused(_)));
        assert!(matches!(route(&Method::GET, "/system/df"), Route::Refused(_)));
        assert!(matches!(route(&Method::GET, "/nonsense"), Route::Refused(_)));
    }

    #[test]
    fn label_filters_are_added_in_both_forms() {
        let query = add_label_filter(Some("all=1"), "u1").unwrap();
        let pairs = parse_query(Some(&query));
        assert!(pairs.contains(&("all".into(), "1".into())));
        let filters: Value = serde_json::from_str(&pairs.iter().find(|(k, _)| k == "filters").unwrap().1).unwrap();
        assert_eq!(filters, json!({"label": ["dockyard.dev/sandbox=u1"]}));

        let legacy = add_label_filter(Some(r#"filters={"label":{"a=b":true},"status":["running"]}"#), "u1").unwrap();
        let filters: Value =
            serde_json::from_str(&parse_query(Some(&legacy)).into_iter().find(|(k, _)| k == "filters").unwrap().1)
                .unwrap();
        assert_eq!(filters, json!({"label": {"a=b": true, "dockyard.dev/sandbox=u1": true}, "status": ["running"]}));
        let bad = add_label_filter(Some("filters=notjson"), "u1").unwrap_err();
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
        assert!(bad.message.contains("filters"), "{}", bad.message);
    }

    #[test]
    fn builds_are_labelled_and_host_network_refused() {
        let query = build_query(Some(r#"t=app&labels={"a":"b"}"#), "u1").unwrap();
        let labels: Value =
            serde_json::from_str(&parse_query(Some(&query)).into_iter().find(|(k, _)| k == "labels").unwrap().1)
                .unwrap();
        assert_eq!(labels, json!({"a": "b", "dockyard.dev/sandbox": "u1"}));
        assert!(build_query(Some("networkmode=host"), "u1").unwrap_err().message.contains("host"));
    }

    #[test]
    fn a_plain_container_is_labelled_and_workspace_binds_rewritten() {
        let (body, checks) = create(json!({
            "Image": "busybox",
            "Labels": {"dockyard.dev/sandbox": "someone-else", "app": "x"},
            "HostConfig": {
                "Binds": ["/workspace/src:/src:ro", "/workspace/../workspace/a/./b:/b", "cache:/cache"],
                "Mounts": [{"Type": "bind", "Source": "/workspace", "Target": "/w"}, {"Type": "volume", "Source": "data", "Target": "/d"}, {"Type": "tmpfs", "Target": "/t"}],
                "NetworkMode": "app_default",
                "SecurityOpt": ["no-new-privileges"]
            },
            "NetworkingConfig": {"EndpointsConfig": {"app_default": {}, "bridge": {}}}
        }))
        .unwrap();
        let node = "/var/lib/kubelet/pods/p/volumes/kubernetes.io~empty-dir/workspace";
        assert_eq!(body["Labels"], json!({"dockyard.dev/sandbox": "u1", "app": "x"}));
        assert_eq!(
            body["HostConfig"]["Binds"],
            json!([format!("{node}/src:/src:ro"), format!("{node}/a/b:/b"), "cache:/cache"])
        );
        assert_eq!(body["HostConfig"]["Mounts"][0]["Source"], json!(node));
        assert_eq!(checks.volumes, ["cache", "data"]);
        assert_eq!(checks.networks, ["app_default"]);
        assert!(checks.containers.is_empty());
    }

    #[test]
    fn escapes_to_the_node_are_refused_with_the_reason() {
        assert!(refused(json!({"HostConfig": {"Privileged": true}})).contains("privileged"));
        assert!(refused(json!({"HostConfig": {"CapAdd": ["SYS_ADMIN"]}})).contains("CapAdd"));
        assert!(refused(json!({"HostConfig": {"Binds": ["/:/host"]}})).contains("outside the workspace"));
        assert!(refused(json!({"HostConfig": {"Binds": ["/workspace/../etc:/etc"]}})).contains("outside"));
        assert!(
            refused(json!({"HostConfig": {"Binds": ["/var/run/docker.sock:/var/run/docker.sock"]}}))
                .contains("Docker socket")
        );
        assert!(
            refused(json!({"HostConfig": {"Mounts": [{"Type": "bind", "Source": "/etc", "Target": "/e"}]}}))
                .contains("outside")
        );
        for (field, value) in [
            ("NetworkMode", "host"),
            ("PidMode", "host"),
            ("IpcMode", "host"),
            ("UTSMode", "host"),
            ("UsernsMode", "host"),
        ] {
            let message = refused(json!({"HostConfig": {field: value}}));
            assert!(message.contains(field) && message.contains("node's namespace"), "{message}");
        }
        assert!(refused(json!({"HostConfig": {"Devices": [{"PathOnHost": "/dev/sda"}]}})).contains("Devices"));
        assert!(refused(json!({"HostConfig": {"SecurityOpt": ["seccomp=unconfined"]}})).contains("seccomp"));
        assert!(refused(json!({"HostConfig": {"SecurityOpt": ["apparmor=unconfined"]}})).contains("apparmor"));
        assert!(refused(json!({"HostConfig": {"Runtime": "runsc-debug"}})).contains("Runtime"));
        assert!(refused(json!({"HostConfig": {"CgroupParent": "/"}})).contains("cgroup"));
    }

    #[test]
    fn joining_other_containers_is_left_to_the_ownership_check() {
        let (_, checks) = create(json!({"HostConfig": {
            "NetworkMode": "container:web", "PidMode": "container:db", "VolumesFrom": ["data:ro"]
        }}))
        .unwrap();
        assert_eq!(checks.containers, ["web", "db", "data"]);
    }

    #[test]
    fn without_a_workspace_mapping_every_bind_is_refused() {
        let mut body = serde_json::from_value(json!({"HostConfig": {"Binds": ["/workspace:/w"]}})).unwrap();
        let scope = Scope { uid: "u1".into(), workspace: None };
        let refusal = check_container_create(&mut body, &scope).unwrap_err();
        assert!(refusal.message.contains("named volume"), "{}", refusal.message);
    }

    #[test]
    fn symbolic_links_must_stay_inside_the_workspace() {
        let root = std::env::temp_dir().join(format!("dockyard-links-{}", std::process::id()));
        let ws = root.join("ws");
        std::fs::create_dir_all(ws.join("data/deep")).unwrap();
        std::os::unix::fs::symlink("/etc", ws.join("out")).unwrap();
        std::os::unix::fs::symlink("../..", ws.join("data/up")).unwrap();
        std::os::unix::fs::symlink("data", ws.join("in")).unwrap();
        std::os::unix::fs::symlink("/nowhere-at-all", ws.join("dangling")).unwrap();
        assert!(check_bind_links(&ws.join("data/deep"), &ws).is_ok());
        assert!(check_bind_links(&ws.join("in/deep/not-yet"), &ws).is_ok(), "links inside, then missing parts");
        assert!(check_bind_links(&ws, &ws).is_ok());
        for bad in ["out", "out/cron.d", "data/up", "data/up/ws", "dangling/x"] {
            let refusal = check_bind_links(&ws.join(bad), &ws).expect_err(bad);
            assert!(refusal.message.contains("symbolic link"), "{bad}: {}", refusal.message);
        }
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn malformed_bodies_are_bad_requests() {
        assert_eq!(parse_body(b"{not json", "x").unwrap_err().status, StatusCode::BAD_REQUEST);
        assert_eq!(parse_body(b"[1]", "x").unwrap_err().status, StatusCode::BAD_REQUEST);
        assert_eq!(create(json!({"HostConfig": "x"})).unwrap_err().status, StatusCode::BAD_REQUEST);
        assert_eq!(create(json!({"HostConfig": {"Binds": "x"}})).unwrap_err().status, StatusCode::BAD_REQUEST);
        assert_eq!(create(json!({"HostConfig": {"Binds": ["nocolon"]}})).unwrap_err().status, StatusCode::BAD_REQUEST);
        assert_eq!(create(json!({"Labels": ["x"]})).unwrap_err().status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn networks_and_volumes_that_reach_the_node_are_refused() {
        let mut net = serde_json::from_value(json!({"Name": "n", "Driver": "macvlan"})).unwrap();
        assert!(check_network_create(&mut net, "u1").unwrap_err().message.contains("macvlan"));
        let mut net = serde_json::from_value(json!({"Name": "n"})).unwrap();
        check_network_create(&mut net, "u1").unwrap();
        assert_eq!(net["Labels"], json!({"dockyard.dev/sandbox": "u1"}));
        let mut vol =
            serde_json::from_value(json!({"Name": "v", "DriverOpts": {"type": "none", "o": "bind", "device": "/etc"}}))
                .unwrap();
        assert!(check_volume_create(&mut vol, "u1").unwrap_err().message.contains("--opt"));
        let privileged: Map<String, Value> = serde_json::from_value(json!({"Privileged": true})).unwrap();
        assert!(check_exec_create(&privileged).is_err());
    }
}
