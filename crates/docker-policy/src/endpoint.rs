//! The allowlist, endpoint by endpoint: which method and path a sandbox may
//! call, with which query parameters, which body, and what must be looked up
//! before the request is passed on. Everything not listed in [`route`] is a
//! 403 naming the endpoint; every query parameter not listed for its endpoint
//! is a 400 naming the parameter.

use http::Method;

use crate::request::{ApiPath, Query, is_read};
use crate::scope::Scope;
use crate::{Kind, Refusal};

/// A request the allowlist knows, with the objects it addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Ping,
    Version,
    Info,
    Auth,
    Events,
    DistributionInspect,
    ContainerList,
    ContainerCreate,
    ContainerPrune,
    Container {
        id: String,
        op: ContainerOp,
    },
    Exec {
        id: String,
        op: ExecOp,
    },
    ImageList,
    ImageCreate,
    ImageLoad,
    ImageSave,
    ImageSearch,
    ImagePrune,
    Image {
        name: String,
        op: ImageOp,
    },
    Build,
    /// BuildKit's control API (`POST /grpc`): gRPC on the upgraded connection,
    /// each call checked by [`crate::buildkit`].
    BuildKit,
    /// A BuildKit build session (`POST /session`): the client serves its
    /// files to the daemon on the upgraded connection.
    BuildKitSession,
    Commit,
    NetworkList,
    NetworkCreate,
    NetworkPrune,
    Network {
        id: String,
        op: NetworkOp,
    },
    VolumeList,
    VolumeCreate,
    VolumePrune,
    Volume {
        name: String,
        op: VolumeOp,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContainerOp {
    Inspect,
    Top,
    Logs,
    Changes,
    Export,
    Stats,
    Resize,
    Start,
    Stop,
    Restart,
    Kill,
    Update,
    Rename,
    Pause,
    Unpause,
    Attach,
    AttachWebsocket,
    Wait,
    Remove,
    Archive,
    ExecCreate,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecOp {
    Inspect,
    Start,
    Resize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageOp {
    Inspect,
    History,
    Save,
    Push,
    Tag,
    Remove,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetworkOp {
    Inspect,
    Remove,
    Connect,
    Disconnect,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VolumeOp {
    Inspect,
    Remove,
}

/// Endpoints refused with a reason of their own.
const REFUSED_APIS: [(&str, &str); 8] = [
    ("swarm", "swarm mode manages the node's daemon"),
    ("nodes", "swarm mode manages the node's daemon"),
    ("services", "swarm mode manages the node's daemon"),
    ("tasks", "swarm mode manages the node's daemon"),
    ("secrets", "swarm mode manages the node's daemon"),
    ("configs", "swarm mode manages the node's daemon"),
    ("plugins", "plugins run with the daemon's privileges on the node"),
    ("system", "`docker system df` would show every sandbox's objects on the node"),
];

/// Classifies a request by method and decoded path; anything else is refused.
pub fn route(method: &Method, path: &ApiPath) -> Result<Endpoint, Refusal> {
    use Endpoint as E;
    let segments: Vec<&str> = path.segments.iter().map(String::as_str).collect();
    let read = is_read(method);
    let post = method == Method::POST;
    let delete = method == Method::DELETE;
    let endpoint = match segments.as_slice() {
        ["_ping"] if read => E::Ping,
        ["version"] if read => E::Version,
        ["info"] if read => E::Info,
        ["auth"] if post => E::Auth,
        ["events"] if read => E::Events,
        ["distribution", name @ .., "json"] if read && !name.is_empty() => E::DistributionInspect,

        ["containers", "json"] if read => E::ContainerList,
        ["containers", "create"] if post => E::ContainerCreate,
        ["containers", "prune"] if post => E::ContainerPrune,
        ["containers", id] if delete => container(id, ContainerOp::Remove),
        ["containers", id, "archive"] if read || method == Method::PUT => container(id, ContainerOp::Archive),
        ["containers", id, "attach", "ws"] if read => container(id, ContainerOp::AttachWebsocket),
        ["containers", id, action] => {
            let op = match (*action, read, post) {
                ("json", true, _) => ContainerOp::Inspect,
                ("top", true, _) => ContainerOp::Top,
                ("logs", true, _) => ContainerOp::Logs,
                ("changes", true, _) => ContainerOp::Changes,
                ("export", true, _) => ContainerOp::Export,
                ("stats", true, _) => ContainerOp::Stats,
                ("resize", _, true) => ContainerOp::Resize,
                ("start", _, true) => ContainerOp::Start,
                ("stop", _, true) => ContainerOp::Stop,
                ("restart", _, true) => ContainerOp::Restart,
                ("kill", _, true) => ContainerOp::Kill,
                ("update", _, true) => ContainerOp::Update,
                ("rename", _, true) => ContainerOp::Rename,
                ("pause", _, true) => ContainerOp::Pause,
                ("unpause", _, true) => ContainerOp::Unpause,
                ("attach", _, true) => ContainerOp::Attach,
                ("wait", _, true) => ContainerOp::Wait,
                ("exec", _, true) => ContainerOp::ExecCreate,
                _ => return Err(not_allowed(method, path)),
            };
            container(id, op)
        }
        ["exec", id, "json"] if read => E::Exec { id: id.to_string(), op: ExecOp::Inspect },
        ["exec", id, "start"] if post => E::Exec { id: id.to_string(), op: ExecOp::Start },
        ["exec", id, "resize"] if post => E::Exec { id: id.to_string(), op: ExecOp::Resize },

        ["images", "json"] if read => E::ImageList,
        ["images", "create"] if post => E::ImageCreate,
        ["images", "load"] if post => E::ImageLoad,
        ["images", "get"] if read => E::ImageSave,
        ["images", "search"] if read => E::ImageSearch,
        ["images", "prune"] if post => E::ImagePrune,
        ["images", name @ ..] if delete && !name.is_empty() => image(name, ImageOp::Remove),
        ["images", name @ .., action] if !name.is_empty() => {
            let op = match (*action, read, post) {
                ("json", true, _) => ImageOp::Inspect,
                ("history", true, _) => ImageOp::History,
                ("get", true, _) => ImageOp::Save,
                ("push", _, true) => ImageOp::Push,
                ("tag", _, true) => ImageOp::Tag,
                _ => return Err(not_allowed(method, path)),
            };
            image(name, op)
        }
        ["build"] if post => E::Build,
        ["grpc"] if post => E::BuildKit,
        ["session"] if post => E::BuildKitSession,
        ["commit"] if post => E::Commit,

        ["networks"] if read => E::NetworkList,
        ["networks", "create"] if post => E::NetworkCreate,
        ["networks", "prune"] if post => E::NetworkPrune,
        ["networks", id] if read => network(id, NetworkOp::Inspect),
        ["networks", id] if delete => network(id, NetworkOp::Remove),
        ["networks", id, "connect"] if post => network(id, NetworkOp::Connect),
        ["networks", id, "disconnect"] if post => network(id, NetworkOp::Disconnect),

        ["volumes"] if read => E::VolumeList,
        ["volumes", "create"] if post => E::VolumeCreate,
        ["volumes", "prune"] if post => E::VolumePrune,
        ["volumes", name] if read => E::Volume { name: name.to_string(), op: VolumeOp::Inspect },
        ["volumes", name] if delete => E::Volume { name: name.to_string(), op: VolumeOp::Remove },

        // `docker inspect NAME` asks for a plugin (and swarm objects) after
        // containers, images, networks and volumes: a miss, not a refusal.
        [kind @ ("plugins" | "nodes" | "services" | "tasks" | "secrets" | "configs"), name, "json"] if read => {
            return Err(Refusal {
                status: http::StatusCode::NOT_FOUND,
                message: format!("No such {}: {name}", kind.trim_end_matches('s')),
            });
        }
        [first, ..] => {
            return Err(match REFUSED_APIS.iter().find(|(api, _)| api == first) {
                Some((api, why)) => Refusal::forbidden(format!("the /{api} API is not available to a sandbox: {why}")),
                None => not_allowed(method, path),
            });
        }
        [] => return Err(not_allowed(method, path)),
    };
    Ok(endpoint)
}

fn container(id: &str, op: ContainerOp) -> Endpoint {
    Endpoint::Container { id: id.to_string(), op }
}

fn image(name: &[&str], op: ImageOp) -> Endpoint {
    Endpoint::Image { name: name.join("/"), op }
}

fn network(id: &str, op: NetworkOp) -> Endpoint {
    Endpoint::Network { id: id.to_string(), op }
}

fn not_allowed(method: &Method, path: &ApiPath) -> Refusal {
    Refusal::forbidden(format!("{method} {} is not an endpoint a sandbox may use", path.display()))
}

/// What a request's body must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body {
    /// None: nothing is forwarded, whatever the client sent.
    Empty,
    /// A JSON document of this kind: decoded, checked, re-serialised.
    Json(JsonBody),
    /// A byte stream passed through (a tar archive); sent as `application/x-tar`
    /// so that dockerd never reads it as a form.
    Tar,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonBody {
    ContainerCreate,
    ContainerUpdate,
    ExecCreate,
    ExecStart,
    NetworkCreate,
    NetworkConnect,
    NetworkDisconnect,
    VolumeCreate,
    Auth,
    Commit,
}

/// A lookup the proxy makes before forwarding; a failed one refuses the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Check {
    /// The sandbox must own the object; otherwise it looks missing (404).
    Owns(Kind, String),
    /// A container create or build joins this object: it must be the sandbox's (403).
    Joins(Kind, String),
    /// A named volume a container mounts: the sandbox's, or created for it.
    VolumeOwnedOrNew(String),
    /// An image the request reads: pulled, built or loaded by the sandbox, or shared by its class.
    ImageUsable(String),
    /// An image the request removes: pulled, built or loaded by the sandbox (shared ones are not its to remove).
    ImageOwned(String),
    /// A reference the request (re)points: unused, or already the sandbox's.
    ReferenceFree(String),
    /// A bind source on the node (after the workspace rewrite): links must stay in the workspace.
    BindLinks(std::path::PathBuf),
    /// The sandbox's own network ([`crate::scope::Scope::own_network`]) a
    /// container joins: made, labelled as the sandbox's, when it does not exist.
    OwnNetwork(String),
}

/// Refuses the names a plan would look up unless they are names dockerd
/// could mean: a lookup by a name with `/`, `.` or `..` segments would be a
/// different request to the daemon than the one it stands for.
pub fn check_names(checks: &[Check]) -> Result<(), Refusal> {
    let object = |name: &str| {
        !name.is_empty()
            && name.len() <= 256
            && !name.starts_with('.')
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    };
    let image = |name: &str| {
        !name.is_empty()
            && name.len() <= 512
            && name.split('/').all(|segment| !segment.is_empty() && segment != "." && segment != "..")
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b':' | b'/' | b'@'))
    };
    for check in checks {
        let (valid, kind, name) = match check {
            Check::Owns(kind, name) | Check::Joins(kind, name) => (object(name), kind.noun(), name),
            Check::OwnNetwork(name) => (object(name), "network", name),
            Check::VolumeOwnedOrNew(name) => (object(name), "volume", name),
            Check::ImageUsable(name) | Check::ImageOwned(name) | Check::ReferenceFree(name) => {
                (image(name), "image", name)
            }
            Check::BindLinks(_) => continue,
        };
        if !valid {
            return Err(Refusal::bad_request(format!("`{name}` is not a valid {kind} name or ID")));
        }
    }
    Ok(())
}

/// What the proxy does with the daemon's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum After {
    Nothing,
    /// `GET /images/json`: keep only the sandbox's images (and shared ones).
    FilterImageList,
    /// The image now known by this reference is the sandbox's (pull, tag, import, commit).
    RecordReference(String),
    /// The images a build tagged (`t=`), or its final image when untagged.
    RecordBuild(Vec<String>),
    /// The images `docker load` reports.
    RecordLoad,
    /// `POST /networks/create`: the sandbox has a new network, whose fence on
    /// the node must exist before the client learns of it.
    NetworkCreated,
}

/// A request the allowlist admits: where to send it, what body it takes,
/// what to look up first and what to do with the answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub endpoint: Endpoint,
    /// Canonical path and query.
    pub path_and_query: String,
    pub body: Body,
    pub checks: Vec<Check>,
    pub after: After,
    /// Whether the daemon may switch protocols (attach, exec start).
    pub upgrade: bool,
    /// Whether registry credentials (`X-Registry-Auth`) are forwarded.
    pub registry_auth: bool,
    /// Whether build registry credentials (`X-Registry-Config`) are forwarded.
    pub registry_config: bool,
}

/// Decides on a request line: the endpoint, its query and what it needs.
pub fn plan(method: &Method, raw_path: &str, raw_query: Option<&str>, scope: &Scope) -> Result<Plan, Refusal> {
    let path = ApiPath::parse(raw_path)?;
    let endpoint = route(method, &path)?;
    if scope.unclaimed && !matches!(endpoint, Endpoint::Ping | Endpoint::Version | Endpoint::Info) {
        return Err(Refusal::forbidden(format!(
            "{method} {}: this is a warm pool's Pod that no Sandbox has claimed yet; until one does, only /_ping, \
             /version and /info answer",
            path.display()
        )));
    }
    let mut query = Query::parse(raw_query)?;
    let name = format!("{method} {}", path.display());
    let mut plan = Plan {
        endpoint: endpoint.clone(),
        path_and_query: String::new(),
        body: Body::Empty,
        checks: Vec::new(),
        after: After::Nothing,
        upgrade: false,
        registry_auth: false,
        registry_config: false,
    };
    let allow = |query: &Query, single: &[&str], repeated: &[&str]| query.allow(&name, single, repeated);
    match &endpoint {
        Endpoint::Ping | Endpoint::Version | Endpoint::Info => allow(&query, &[], &[])?,
        Endpoint::Auth => {
            allow(&query, &[], &[])?;
            plan.body = Body::Json(JsonBody::Auth);
        }
        Endpoint::DistributionInspect => {
            allow(&query, &[], &[])?;
            plan.registry_auth = true;
        }
        Endpoint::Events => {
            allow(&query, &["since", "until", "filters"], &[])?;
            crate::filters::add_label(&mut query, &scope.uid)?;
        }
        Endpoint::ContainerList => {
            // `trunc_cmd`: docker-py (Compose v1) still sends it; dockerd ignores it.
            allow(&query, &["all", "limit", "size", "filters", "since", "before", "trunc_cmd"], &[])?;
            crate::filters::add_label(&mut query, &scope.uid)?;
        }
        Endpoint::ContainerPrune | Endpoint::NetworkPrune | Endpoint::VolumePrune | Endpoint::ImagePrune => {
            allow(&query, &["filters"], &[])?;
            crate::filters::add_label(&mut query, &scope.uid)?;
        }
        Endpoint::NetworkList | Endpoint::VolumeList => {
            allow(&query, &["filters"], &[])?;
            crate::filters::add_label(&mut query, &scope.uid)?;
        }
        Endpoint::ContainerCreate => {
            allow(&query, &["name", "platform"], &[])?;
            plan.body = Body::Json(JsonBody::ContainerCreate);
        }
        Endpoint::Container { id, op } => {
            plan.checks.push(Check::Owns(Kind::Container, id.clone()));
            let (single, body): (&[&str], Body) = match op {
                ContainerOp::Inspect => (&["size"], Body::Empty),
                ContainerOp::Top => (&["ps_args"], Body::Empty),
                ContainerOp::Logs => {
                    (&["follow", "stdout", "stderr", "since", "until", "timestamps", "tail", "details"], Body::Empty)
                }
                ContainerOp::Changes | ContainerOp::Export | ContainerOp::Pause | ContainerOp::Unpause => {
                    (&[], Body::Empty)
                }
                ContainerOp::Stats => (&["stream", "one-shot"], Body::Empty),
                ContainerOp::Resize => (&["h", "w"], Body::Empty),
                // `checkpoint` and `checkpoint-dir` restore from a node directory: not listed.
                ContainerOp::Start => (&["detachKeys"], Body::Empty),
                ContainerOp::Stop | ContainerOp::Restart => (&["t", "signal"], Body::Empty),
                ContainerOp::Kill => (&["signal"], Body::Empty),
                ContainerOp::Update => (&[], Body::Json(JsonBody::ContainerUpdate)),
                ContainerOp::Rename => (&["name"], Body::Empty),
                ContainerOp::Attach | ContainerOp::AttachWebsocket => {
                    plan.upgrade = true;
                    (&["detachKeys", "logs", "stream", "stdin", "stdout", "stderr"], Body::Empty)
                }
                ContainerOp::Wait => (&["condition"], Body::Empty),
                // `link=1` removes a link between two other containers; docker-py
                // sends `link=False` on every remove.
                ContainerOp::Remove => {
                    if query.bool("link") {
                        return Err(Refusal::forbidden("removing a link (`link=1`) is not available to a sandbox"));
                    }
                    (&["v", "force", "link"], Body::Empty)
                }
                ContainerOp::Archive => {
                    let body = if method == Method::PUT { Body::Tar } else { Body::Empty };
                    (&["path", "noOverwriteDirNonDir", "copyUIDGID"], body)
                }
                ContainerOp::ExecCreate => (&[], Body::Json(JsonBody::ExecCreate)),
            };
            allow(&query, single, &[])?;
            plan.body = body;
        }
        Endpoint::Exec { id, op } => {
            plan.checks.push(Check::Owns(Kind::Exec, id.clone()));
            match op {
                ExecOp::Inspect => allow(&query, &[], &[])?,
                ExecOp::Resize => allow(&query, &["h", "w"], &[])?,
                ExecOp::Start => {
                    allow(&query, &[], &[])?;
                    plan.body = Body::Json(JsonBody::ExecStart);
                    plan.upgrade = true;
                }
            }
        }
        Endpoint::ImageList => {
            // `only_ids` and `filter` (a reference): docker-py's older parameters.
            allow(&query, &["all", "filters", "digests", "shared-size", "manifests", "only_ids", "filter"], &[])?;
            plan.after = After::FilterImageList;
        }
        Endpoint::ImageSearch => allow(&query, &["term", "limit", "filters"], &[])?,
        Endpoint::ImageCreate => {
            allow(&query, &["fromImage", "fromSrc", "repo", "tag", "message", "platform"], &["changes"])?;
            plan.registry_auth = true;
            let tag = query.get("tag").unwrap_or_default();
            if let Some(image) = query.get("fromImage").filter(|i| !i.is_empty()) {
                if query.get("fromSrc").is_some_and(|s| !s.is_empty()) {
                    return Err(Refusal::bad_request("`fromImage` and `fromSrc` cannot both be given"));
                }
                // A pull points the reference at the registry's image: not
                // another sandbox's content, so the reference need not be free.
                plan.after = After::RecordReference(crate::reference::join(image, tag));
            } else {
                match query.get("fromSrc").unwrap_or_default() {
                    "-" => plan.body = Body::Tar,
                    "" => return Err(Refusal::bad_request("`POST /images/create` needs `fromImage` or `fromSrc`")),
                    _ if scope.rules.allow_remote_fetch => {}
                    url => {
                        return Err(Refusal::forbidden(format!(
                            "importing from `{url}` would make the node fetch a URL; its class does not allow that \
                             (spec.broker.allowRemoteFetch)"
                        )));
                    }
                }
                let repo = query.get("repo").unwrap_or_default();
                if !repo.is_empty() {
                    let reference = crate::reference::join(repo, tag);
                    plan.checks.push(Check::ReferenceFree(reference.clone()));
                    plan.after = After::RecordReference(reference);
                }
            }
        }
        Endpoint::ImageLoad => {
            allow(&query, &["quiet", "platform"], &[])?;
            plan.body = Body::Tar;
            plan.after = After::RecordLoad;
        }
        Endpoint::ImageSave => {
            allow(&query, &["platform"], &["names"])?;
            plan.checks.extend(query.all("names").map(|n| Check::ImageUsable(n.to_string())));
        }
        Endpoint::Image { name, op } => {
            plan.checks.push(match op {
                ImageOp::Remove => Check::ImageOwned(name.clone()),
                _ => Check::ImageUsable(name.clone()),
            });
            match op {
                ImageOp::Inspect | ImageOp::History => allow(&query, &["platform", "manifests"], &[])?,
                ImageOp::Save => allow(&query, &["platform"], &[])?,
                ImageOp::Push => {
                    allow(&query, &["tag", "platform"], &[])?;
                    plan.registry_auth = true;
                }
                ImageOp::Tag => {
                    allow(&query, &["repo", "tag"], &[])?;
                    let repo = query.get("repo").unwrap_or_default();
                    let reference = crate::reference::join(repo, query.get("tag").unwrap_or_default());
                    plan.checks.push(Check::ReferenceFree(reference.clone()));
                    plan.after = After::RecordReference(reference);
                }
                ImageOp::Remove => allow(&query, &["force", "noprune"], &[])?,
            }
        }
        Endpoint::Build => {
            crate::build::check_query(&mut query, scope, &mut plan)?;
            plan.body = Body::Tar;
            plan.registry_config = true;
        }
        Endpoint::BuildKit | Endpoint::BuildKitSession => {
            allow(&query, &[], &[])?;
            plan.upgrade = true;
        }
        Endpoint::Commit => {
            allow(&query, &["container", "repo", "tag", "comment", "author", "pause"], &["changes"])?;
            plan.checks.push(Check::Owns(Kind::Container, query.get("container").unwrap_or_default().to_string()));
            let repo = query.get("repo").unwrap_or_default();
            if !repo.is_empty() {
                let reference = crate::reference::join(repo, query.get("tag").unwrap_or_default());
                plan.checks.push(Check::ReferenceFree(reference.clone()));
                plan.after = After::RecordReference(reference);
            }
            plan.body = Body::Json(JsonBody::Commit);
        }
        Endpoint::NetworkCreate => {
            allow(&query, &[], &[])?;
            plan.body = Body::Json(JsonBody::NetworkCreate);
            plan.after = After::NetworkCreated;
        }
        Endpoint::Network { id, op } => {
            plan.checks.push(Check::Owns(Kind::Network, id.clone()));
            match op {
                NetworkOp::Inspect => allow(&query, &["verbose", "scope"], &[])?,
                NetworkOp::Remove => allow(&query, &[], &[])?,
                NetworkOp::Connect => {
                    allow(&query, &[], &[])?;
                    plan.body = Body::Json(JsonBody::NetworkConnect);
                }
                NetworkOp::Disconnect => {
                    allow(&query, &[], &[])?;
                    plan.body = Body::Json(JsonBody::NetworkDisconnect);
                }
            }
        }
        Endpoint::VolumeCreate => {
            allow(&query, &[], &[])?;
            plan.body = Body::Json(JsonBody::VolumeCreate);
        }
        Endpoint::Volume { name, op } => {
            plan.checks.push(Check::Owns(Kind::Volume, name.clone()));
            match op {
                VolumeOp::Inspect => allow(&query, &[], &[])?,
                VolumeOp::Remove => allow(&query, &["force"], &[])?,
            }
        }
    }
    let query = query.encode();
    plan.path_and_query = if query.is_empty() { path.canonical() } else { format!("{}?{query}", path.canonical()) };
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        Scope { uid: "u1".into(), ..Default::default() }
    }

    fn planned(method: Method, path: &str, query: Option<&str>) -> Result<Plan, Refusal> {
        plan(&method, path, query, &scope())
    }

    #[test]
    fn routes_are_an_allowlist() {
        assert_eq!(
            planned(Method::POST, "/v1.41/containers/abc/start", None).unwrap().checks,
            [Check::Owns(Kind::Container, "abc".into())]
        );
        let image = planned(Method::DELETE, "/v1.41/images/library%2Fbusybox:1", None).unwrap();
        assert_eq!(image.endpoint, Endpoint::Image { name: "library/busybox:1".into(), op: ImageOp::Remove });
        let tag = planned(Method::GET, "/images/reg:5000/team/app:1/json", None).unwrap();
        assert_eq!(tag.checks, [Check::ImageUsable("reg:5000/team/app:1".into())]);
        for (method, path, reason) in [
            (Method::GET, "/plugins", "plugins"),
            (Method::POST, "/swarm/init", "swarm"),
            (Method::GET, "/system/df", "system df"),
            (Method::GET, "/session", "GET /session"),
            (Method::GET, "/nonsense", "GET /nonsense"),
            (Method::PUT, "/containers/create", "PUT /containers/create"),
            (Method::POST, "/containers/abc/checkpoints", "POST /containers/abc/checkpoints"),
            (Method::GET, "/containers/abc/start", "GET /containers/abc/start"),
            (Method::POST, "/build/prune", "POST /build/prune"),
            (Method::PUT, "/volumes/v", "PUT /volumes/v"),
        ] {
            let refusal = planned(method, path, None).unwrap_err();
            assert_eq!(refusal.status, http::StatusCode::FORBIDDEN, "{path}");
            assert!(refusal.message.contains(reason), "{path}: {}", refusal.message);
        }
    }

    #[test]
    fn an_unclaimed_warm_pod_only_pings() {
        let warm = Scope { unclaimed: true, ..scope() };
        // The same sandbox once claimed, its Pod's cgroup known.
        let claimed = Scope { cgroup_parent: Some("/kubepods/burstable/pod1".into()), ..scope() };
        for (method, path) in [(Method::GET, "/_ping"), (Method::HEAD, "/_ping"), (Method::GET, "/v1.41/version")] {
            assert!(plan(&method, path, None, &warm).is_ok(), "{path}");
        }
        assert!(plan(&Method::GET, "/info", None, &warm).is_ok());
        for (method, path, query) in [
            (Method::POST, "/containers/create", None),
            (Method::GET, "/containers/json", None),
            (Method::POST, "/images/create", Some("fromImage=alpine&tag=3")),
            (Method::POST, "/build", None),
            (Method::GET, "/events", None),
            (Method::POST, "/networks/create", None),
            (Method::POST, "/volumes/create", None),
        ] {
            let refusal = plan(&method, path, query, &warm).unwrap_err();
            assert_eq!(refusal.status, http::StatusCode::FORBIDDEN, "{path}");
            assert!(refusal.message.contains("no Sandbox has claimed"), "{path}: {}", refusal.message);
            if let Err(refusal) = plan(&method, path, query, &claimed) {
                panic!("{path} once claimed: {}", refusal.message);
            }
        }
    }

    #[test]
    fn names_to_look_up_must_be_plain() {
        assert!(check_names(&[Check::Owns(Kind::Container, "web-1".into())]).is_ok());
        assert!(check_names(&[Check::ImageUsable("reg.local:5000/a/b:1@sha256:00".into())]).is_ok());
        for bad in [
            Check::Owns(Kind::Container, "../containers/x".into()),
            Check::Joins(Kind::Network, "a/b".into()),
            Check::Owns(Kind::Container, ".".into()),
            Check::VolumeOwnedOrNew("".into()),
            Check::ImageUsable("../../containers/x".into()),
            Check::ImageUsable("/abs".into()),
            Check::ReferenceFree("a//b".into()),
            Check::ImageOwned("a b".into()),
        ] {
            assert_eq!(
                check_names(std::slice::from_ref(&bad)).unwrap_err().status,
                http::StatusCode::BAD_REQUEST,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn queries_are_allowlisted_per_endpoint() {
        let refusal = planned(Method::POST, "/containers/abc/start", Some("checkpoint-dir=/etc")).unwrap_err();
        assert!(refusal.message.contains("`checkpoint-dir`"), "{}", refusal.message);
        let refusal = planned(Method::DELETE, "/containers/abc", Some("link=1")).unwrap_err();
        assert!(refusal.message.contains("`link=1`"), "{}", refusal.message);
        assert!(planned(Method::DELETE, "/containers/abc", Some("v=False&link=False&force=False")).is_ok());
        let list = planned(Method::GET, "/containers/json", Some("all=1")).unwrap();
        assert!(list.path_and_query.starts_with("/containers/json?all=1&filters="), "{}", list.path_and_query);
        let import = planned(Method::POST, "/images/create", Some("fromSrc=http://10.0.0.1/x.tar")).unwrap_err();
        assert!(import.message.contains("allowRemoteFetch"), "{}", import.message);
        let stdin = planned(Method::POST, "/images/create", Some("fromSrc=-&repo=mine&tag=1")).unwrap();
        assert_eq!((stdin.body, stdin.after), (Body::Tar, After::RecordReference("mine:1".into())));
    }
}
