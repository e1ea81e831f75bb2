//! BuildKit's control API (`POST /grpc`) and build sessions (`POST /session`),
//! as `docker buildx build` (and `docker build` with the buildx plugin) uses
//! them: gRPC over HTTP/2 on a connection the daemon upgraded.
//!
//! Each call's request message is decoded into the types below (field for
//! field from `api/services/control/control.proto` of github.com/moby/buildkit,
//! committed verbatim in `proto/third_party/buildkit/`, which a test compares
//! them with), checked, rewritten and encoded again: the daemon reads the
//! message that was checked. A field this module does not know is refused,
//! not skipped.
//!
//! What the rules keep from the node, and from other sandboxes on it:
//! - only the Dockerfile frontend, with the sandbox's labels, its build steps
//!   under the sandbox Pod's cgroup (`cgroup-parent`), its cache mounts in a
//!   namespace of its own (`BUILDKIT_CACHE_MOUNT_NS`), and no `# syntax=`
//!   forwarding to another frontend image (which would build its own steps,
//!   free of those attributes);
//! - no entitlements (`network.host`, `security.insecure`), no host network,
//!   no client-made LLB, no cache import or export, no source policy;
//! - build references and session IDs are the sandbox's own: every one is
//!   prefixed with the sandbox's UID, so a sandbox can neither watch another's
//!   build (`Status`) nor read another's build context (`Session`);
//! - images are exported only into the daemon's store (`moby`), under names
//!   that are free or already the sandbox's, and recorded as the sandbox's,
//!   or to the client (`local`, `tar`).

use std::collections::BTreeMap;

use crate::endpoint::Check;
use crate::filters::SANDBOX_LABEL;
use crate::refusal::Refusal;
use crate::scope::Scope;

/// The oldest Engine API whose BuildKit puts a build's steps under the
/// `cgroup-parent` it is given (Docker 23, BuildKit v0.10); older daemons run
/// them under their own cgroup, outside the sandbox's limits.
pub const MIN_API_VERSION: (u32, u32) = (1, 42);

/// The only frontend: the Dockerfile frontend built into the daemon.
pub const DOCKERFILE_FRONTEND: &str = "dockerfile.v0";

/// The gRPC methods of BuildKit's control API a sandbox may call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    Solve,
    Status,
    Info,
    ListWorkers,
    /// A call of the frontend gateway (`LLBBridge`) of a build the client
    /// drives itself (what buildx does): bound to that build by the
    /// `buildkit-controlapi-buildid` header, which [`scoped`] rewrites.
    Bridge(BridgeCall),
}

/// The `LLBBridge` methods a sandbox may call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BridgeCall {
    /// Runs a frontend: checked like a control solve's frontend.
    Solve,
    /// Reads the build's own results, resolves image configs (as `FROM`
    /// does), returns the build's result, reports warnings: passed on
    /// once they decode as protobuf; the build ID confines them to the
    /// sandbox's own build.
    Passed,
}

/// The header binding a gateway call to its build.
pub const BUILD_ID_HEADER: &str = "buildkit-controlapi-buildid";

impl Call {
    /// The method a gRPC path names, or the refusal.
    pub fn route(path: &str) -> Result<Call, Refusal> {
        match path {
            "/moby.buildkit.v1.Control/Solve" => Ok(Call::Solve),
            "/moby.buildkit.v1.Control/Status" => Ok(Call::Status),
            "/moby.buildkit.v1.Control/Info" => Ok(Call::Info),
            "/moby.buildkit.v1.Control/ListWorkers" => Ok(Call::ListWorkers),
            "/moby.buildkit.v1.frontend.LLBBridge/Solve" => Ok(Call::Bridge(BridgeCall::Solve)),
            "/moby.buildkit.v1.frontend.LLBBridge/ResolveImageConfig"
            | "/moby.buildkit.v1.frontend.LLBBridge/ResolveSourceMeta"
            | "/moby.buildkit.v1.frontend.LLBBridge/ReadFile"
            | "/moby.buildkit.v1.frontend.LLBBridge/ReadDir"
            | "/moby.buildkit.v1.frontend.LLBBridge/StatFile"
            | "/moby.buildkit.v1.frontend.LLBBridge/Evaluate"
            | "/moby.buildkit.v1.frontend.LLBBridge/Ping"
            | "/moby.buildkit.v1.frontend.LLBBridge/Return"
            | "/moby.buildkit.v1.frontend.LLBBridge/Inputs"
            | "/moby.buildkit.v1.frontend.LLBBridge/Warn" => Ok(Call::Bridge(BridgeCall::Passed)),
            "/moby.buildkit.v1.frontend.LLBBridge/NewContainer"
            | "/moby.buildkit.v1.frontend.LLBBridge/ReleaseContainer"
            | "/moby.buildkit.v1.frontend.LLBBridge/ExecProcess"
            | "/moby.buildkit.v1.frontend.LLBBridge/ReadFileContainer"
            | "/moby.buildkit.v1.frontend.LLBBridge/ReadDirContainer"
            | "/moby.buildkit.v1.frontend.LLBBridge/StatFileContainer" => Err(Refusal::forbidden(
                "interactive build containers (`docker buildx debug`) run outside the build's checked steps; not \
                 available to a sandbox",
            )),
            "/moby.buildkit.v1.Control/DiskUsage"
            | "/moby.buildkit.v1.Control/Prune"
            | "/moby.buildkit.v1.Control/ListenBuildHistory"
            | "/moby.buildkit.v1.Control/UpdateBuildHistory" => Err(Refusal::forbidden(format!(
                "BuildKit's {} covers every sandbox's builds and cache on the node; not available to a sandbox",
                path.rsplit('/').next().unwrap_or(path)
            ))),
            _ => Err(Refusal::forbidden(format!("the BuildKit method {path} is not available to a sandbox"))),
        }
    }
}

/// What a checked call sends on, and what it asks for.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Checked {
    /// The request message to send (encoded again from the checked fields).
    pub message: Vec<u8>,
    /// Lookups to make before it is sent: every name an export would point
    /// must be free or the sandbox's. What the export made is recorded from
    /// the daemon's answer (the image ID), never from these names: a name
    /// asked for may be dropped by the daemon or taken by someone else before
    /// a held-open build exports.
    pub checks: Vec<Check>,
}

/// Checks and rewrites one request message of `call`.
pub fn check(call: Call, message: &[u8], scope: &Scope) -> Result<Checked, Refusal> {
    match call {
        Call::Solve => check_solve(message, scope),
        Call::Status => {
            let mut request: StatusRequest = decode("StatusRequest", message, &[1])?;
            request.r#ref = scoped(scope, &request.r#ref);
            Ok(Checked { message: prost::Message::encode_to_vec(&request), ..Default::default() })
        }
        Call::Info => {
            let _: InfoRequest = decode("InfoRequest", message, &[])?;
            Ok(Checked { message: Vec::new(), ..Default::default() })
        }
        Call::ListWorkers => {
            let request: ListWorkersRequest = decode("ListWorkersRequest", message, &[1])?;
            Ok(Checked { message: prost::Message::encode_to_vec(&request), ..Default::default() })
        }
        Call::Bridge(BridgeCall::Solve) => check_bridge_solve(message, scope),
        Call::Bridge(BridgeCall::Passed) => {
            field_numbers(message).map_err(|e| Refusal::bad_request(format!("BuildKit message: {e}")))?;
            Ok(Checked { message: message.to_vec(), ..Default::default() })
        }
    }
}

fn check_bridge_solve(message: &[u8], scope: &Scope) -> Result<Checked, Refusal> {
    let mut solve: BridgeSolveRequest =
        decode("LLBBridge SolveRequest", message, &[1, 2, 3, 5, 6, 10, 11, 12, 13, 14, 15])?;
    let refuse = |what: &str| Err(Refusal::forbidden(format!("BuildKit {what}")));
    check_inputs(solve.definition.as_deref(), &solve.frontend, false, solve.frontend_inputs.is_empty())?;
    if !solve.cache_imports.is_empty() {
        return refuse(NO_CACHE_OPTIONS);
    }
    if !solve.source_policies.is_empty() {
        return refuse("source policies are not available to a sandbox");
    }
    if !solve.exporter_attr.is_empty() {
        return refuse("exporter attributes from a gateway solve are not available to a sandbox");
    }
    check_frontend_attrs(&mut solve.frontend_opt, scope)?;
    Ok(Checked { message: prost::Message::encode_to_vec(&solve), ..Default::default() })
}

const NO_CACHE_OPTIONS: &str = "cache import and export (`--cache-from`, `--cache-to`) are not available to a sandbox";

/// What a solve builds from: no client-made LLB, no inputs from other
/// builds, and only the Dockerfile frontend — or, for a control solve, none,
/// when the client drives the build through the gateway (each of whose
/// solves names the frontend and is checked).
fn check_inputs(
    definition: Option<&[u8]>,
    frontend: &str,
    control: bool,
    no_frontend_inputs: bool,
) -> Result<(), Refusal> {
    let refuse = |what: String| Err(Refusal::forbidden(format!("BuildKit {what}")));
    if definition.is_some_and(|d| !d.is_empty()) {
        return refuse(
            "builds from a client-made LLB definition are not available to a sandbox; build a Dockerfile".into(),
        );
    }
    if !no_frontend_inputs {
        return refuse(
            "frontend inputs (named build contexts from other builds) are not available to a sandbox".into(),
        );
    }
    if frontend == DOCKERFILE_FRONTEND || (control && frontend.is_empty()) {
        return Ok(());
    }
    refuse(format!(
        "frontend `{frontend}` is not available to a sandbox; only the Dockerfile frontend (`{DOCKERFILE_FRONTEND}`) is"
    ))
}

/// An ID (build reference, session) the sandbox chose, in its own namespace:
/// UIDs have one length, so two sandboxes never map to the same ID.
pub fn scoped(scope: &Scope, id: &str) -> String {
    format!("{}-{id}", scope.uid)
}

/// The image ID a solve's answer names (`containerimage.digest`), if any.
pub fn exported_image(response: &[u8]) -> Option<String> {
    let response: SolveResponse = prost::Message::decode(response).ok()?;
    response.exporter_response.get("containerimage.digest").cloned()
}

fn check_solve(message: &[u8], scope: &Scope) -> Result<Checked, Refusal> {
    let mut solve: SolveRequest = decode("SolveRequest", message, &(1..=17).collect::<Vec<_>>())?;
    let refuse = |what: &str| Err(Refusal::forbidden(format!("BuildKit {what}")));
    check_inputs(solve.definition.as_deref(), &solve.frontend, true, solve.frontend_inputs.is_empty())?;
    if let Some(entitlement) = solve.entitlements.first() {
        let why = match entitlement.as_str() {
            "network.host" => "would run build steps in the node's network namespace",
            "security.insecure" => "would run build steps privileged, as root on the node",
            "device" => "would give build steps the node's devices",
            _ => "is not one Dockyard knows",
        };
        return refuse(&format!("entitlement `{entitlement}` {why}; refused"));
    }
    if solve.cache.as_ref().is_some_and(|c| !c.is_empty()) {
        return refuse(NO_CACHE_OPTIONS);
    }
    if solve.source_policy.as_ref().is_some_and(|p| !p.is_empty()) || !solve.source_policy_session.is_empty() {
        return refuse("source policies are not available to a sandbox");
    }
    if solve.proxy_network {
        return refuse("`ProxyNetwork` is not available to a sandbox");
    }
    check_frontend_attrs(&mut solve.frontend_attrs, scope)?;

    let mut checked = Checked::default();
    let deprecated = (!solve.exporter_deprecated.is_empty()).then(|| Exporter {
        r#type: solve.exporter_deprecated.clone(),
        attrs: solve.exporter_attrs_deprecated.clone(),
    });
    for exporter in deprecated.iter().chain(&solve.exporters) {
        check_exporter(exporter, &mut checked)?;
    }
    solve.r#ref = scoped(scope, &solve.r#ref);
    if !solve.session.is_empty() {
        solve.session = scoped(scope, &solve.session);
    }
    checked.message = prost::Message::encode_to_vec(&solve);
    Ok(checked)
}

/// Frontend attributes the Dockerfile frontend reads that a sandbox may set
/// (frontend/dockerui/config.go); `build-arg:` and `label:` keys are checked
/// apart.
const FRONTEND_ATTRS: &[&str] = &[
    "filename",
    "target",
    "platform",
    "no-cache",
    "add-hosts",
    "hostname",
    "shm-size",
    "ulimit",
    "image-resolve-mode",
    "multi-platform",
    "force-network-mode",
    "contextsubdir",
];

/// Build arguments the frontend reads for itself that Dockyard sets or refuses.
const CACHE_NAMESPACE_ARG: &str = "build-arg:BUILDKIT_CACHE_MOUNT_NS";
const SYNTAX_ARG: &str = "build-arg:BUILDKIT_SYNTAX";

fn check_frontend_attrs(attrs: &mut BTreeMap<String, String>, scope: &Scope) -> Result<(), Refusal> {
    for (key, value) in attrs.iter() {
        let known = FRONTEND_ATTRS.contains(&key.as_str())
            || (key.starts_with("build-arg:") && key != CACHE_NAMESPACE_ARG && key != SYNTAX_ARG)
            || (key.starts_with("label:") && key != &format!("label:{SANDBOX_LABEL}"));
        if !known {
            let why = match key.as_str() {
                "cgroup-parent" => "is set by Dockyard: a build's steps run under the sandbox Pod's cgroup".to_string(),
                CACHE_NAMESPACE_ARG => "is set by Dockyard: a sandbox's cache mounts are its own".to_string(),
                SYNTAX_ARG | "cmdline" => {
                    "would hand the build to another frontend image, which Dockyard cannot check".to_string()
                }
                "cache-imports" | "cache-from" => "imports cache, which is not available to a sandbox".to_string(),
                // `contextkey=build-arg:C` with `C=http://…` would make the
                // node's daemon fetch a URL (frontend/dockerui/context.go).
                "context" | "contextkey" | "dockerfilekey" => {
                    "would name where the build context comes from, which can be a URL the node fetches".to_string()
                }
                _ if key.starts_with("label:") => "is set by Dockyard".to_string(),
                _ => "is not one Dockyard knows, so it is refused".to_string(),
            };
            return Err(Refusal::forbidden(format!("BuildKit frontend option `{key}` {why}")));
        }
        if key == "force-network-mode" && !matches!(value.as_str(), "" | "default" | "sandbox" | "none") {
            return Err(Refusal::forbidden(format!(
                "build network mode `{value}` would reach the node's or another container's network namespace; use \
                 the default"
            )));
        }
    }
    let Some(cgroup_parent) = &scope.cgroup_parent else {
        return Err(crate::body::no_cgroup_parent());
    };
    attrs.insert("cgroup-parent".into(), cgroup_parent.clone());
    attrs.insert(CACHE_NAMESPACE_ARG.into(), scope.uid.clone());
    attrs.insert(format!("label:{SANDBOX_LABEL}"), scope.uid.clone());
    // Present, `cmdline` tells the Dockerfile frontend it was already forwarded
    // to: it then builds the Dockerfile itself and ignores `# syntax=`.
    attrs.insert("cmdline".into(), DOCKERFILE_FRONTEND.into());
    Ok(())
}

fn check_exporter(exporter: &Exporter, checked: &mut Checked) -> Result<(), Refusal> {
    let allowed: &[&str] = match exporter.r#type.as_str() {
        // Into the daemon's image store.
        "moby" => &["name", "dangling-name-prefix", "unpack", "buildinfo", "buildinfo-attrs"],
        // To the client, through its session.
        "local" | "tar" => &["platform-split"],
        other => {
            return Err(Refusal::forbidden(format!(
                "BuildKit exporter `{other}` is not available to a sandbox; use the image store (`--load`), `local` \
                 or `tar`"
            )));
        }
    };
    if let Some(key) = exporter.attrs.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(Refusal::forbidden(format!(
            "BuildKit exporter option `{key}` of `{}` is not available to a sandbox (allowed: {})",
            exporter.r#type,
            allowed.join(", ")
        )));
    }
    if let Some(names) = exporter.attrs.get("name") {
        for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            checked.checks.push(Check::ReferenceFree(name.to_string()));
        }
    }
    Ok(())
}

/// Decodes a message after checking that it has no field outside `known`:
/// prost would skip them, and an unchecked field must not reach the daemon
/// by being dropped silently either.
fn decode<M: prost::Message + Default>(name: &str, message: &[u8], known: &[u32]) -> Result<M, Refusal> {
    let bad = |why: String| Refusal::bad_request(format!("BuildKit {name} could not be decoded: {why}"));
    for number in field_numbers(message).map_err(bad)? {
        if !known.contains(&number) {
            return Err(Refusal::forbidden(format!(
                "BuildKit {name} has field {number}, which Dockyard does not know; refused"
            )));
        }
    }
    M::decode(message).map_err(|e| bad(e.to_string()))
}

/// The field numbers of a protobuf message's top level, in order.
fn field_numbers(mut message: &[u8]) -> Result<Vec<u32>, String> {
    use prost::encoding::{WireType, decode_key, decode_varint};
    let mut numbers = Vec::new();
    while !message.is_empty() {
        let (number, wire_type) = decode_key(&mut message).map_err(|e| e.to_string())?;
        let skip = match wire_type {
            WireType::Varint => {
                decode_varint(&mut message).map_err(|e| e.to_string())?;
                0
            }
            WireType::SixtyFourBit => 8,
            WireType::ThirtyTwoBit => 4,
            WireType::LengthDelimited => {
                usize::try_from(decode_varint(&mut message).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?
            }
            WireType::StartGroup | WireType::EndGroup => return Err("groups are not used by BuildKit".into()),
        };
        if skip > message.len() {
            return Err(format!("field {number} runs past the end of the message"));
        }
        message = &message[skip..];
        numbers.push(number);
    }
    Ok(numbers)
}

// The messages, from control.proto. Nested messages Dockyard refuses
// outright (`Definition`, `CacheOptions`, `Policy`) are kept as their raw
// bytes: present or not is all the check needs.

#[derive(Clone, PartialEq, prost::Message)]
pub struct SolveRequest {
    #[prost(string, tag = "1")]
    pub r#ref: String,
    #[prost(bytes = "vec", optional, tag = "2")]
    pub definition: Option<Vec<u8>>,
    #[prost(string, tag = "3")]
    pub exporter_deprecated: String,
    #[prost(btree_map = "string, string", tag = "4")]
    pub exporter_attrs_deprecated: BTreeMap<String, String>,
    #[prost(string, tag = "5")]
    pub session: String,
    #[prost(string, tag = "6")]
    pub frontend: String,
    #[prost(btree_map = "string, string", tag = "7")]
    pub frontend_attrs: BTreeMap<String, String>,
    #[prost(bytes = "vec", optional, tag = "8")]
    pub cache: Option<Vec<u8>>,
    #[prost(string, repeated, tag = "9")]
    pub entitlements: Vec<String>,
    #[prost(btree_map = "string, bytes", tag = "10")]
    pub frontend_inputs: BTreeMap<String, Vec<u8>>,
    #[prost(bool, tag = "11")]
    pub internal: bool,
    #[prost(bytes = "vec", optional, tag = "12")]
    pub source_policy: Option<Vec<u8>>,
    #[prost(message, repeated, tag = "13")]
    pub exporters: Vec<Exporter>,
    #[prost(bool, tag = "14")]
    pub enable_session_exporter: bool,
    #[prost(string, tag = "15")]
    pub source_policy_session: String,
    #[prost(int64, tag = "16")]
    pub compatibility_version: i64,
    #[prost(bool, tag = "17")]
    pub proxy_network: bool,
}

/// `SolveRequest` of the gateway (frontend/gateway/pb/gateway.proto).
#[derive(Clone, PartialEq, prost::Message)]
pub struct BridgeSolveRequest {
    #[prost(bytes = "vec", optional, tag = "1")]
    pub definition: Option<Vec<u8>>,
    #[prost(string, tag = "2")]
    pub frontend: String,
    #[prost(btree_map = "string, string", tag = "3")]
    pub frontend_opt: BTreeMap<String, String>,
    #[prost(bool, tag = "5")]
    pub allow_result_return: bool,
    #[prost(bool, tag = "6")]
    pub allow_result_array_ref: bool,
    #[prost(bool, tag = "10")]
    pub r#final: bool,
    #[prost(bytes = "vec", tag = "11")]
    pub exporter_attr: Vec<u8>,
    #[prost(bytes = "vec", repeated, tag = "12")]
    pub cache_imports: Vec<Vec<u8>>,
    #[prost(btree_map = "string, bytes", tag = "13")]
    pub frontend_inputs: BTreeMap<String, Vec<u8>>,
    #[prost(bool, tag = "14")]
    pub evaluate: bool,
    #[prost(bytes = "vec", repeated, tag = "15")]
    pub source_policies: Vec<Vec<u8>>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Exporter {
    #[prost(string, tag = "1")]
    pub r#type: String,
    #[prost(btree_map = "string, string", tag = "2")]
    pub attrs: BTreeMap<String, String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SolveResponse {
    #[prost(btree_map = "string, string", tag = "1")]
    pub exporter_response: BTreeMap<String, String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct StatusRequest {
    #[prost(string, tag = "1")]
    pub r#ref: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct InfoRequest {}

/// What the node agent asks when it cleans up after a sandbox (never a
/// sandbox: `Prune` is refused to them).
#[derive(Clone, PartialEq, prost::Message)]
pub struct PruneRequest {
    #[prost(string, repeated, tag = "1")]
    pub filter: Vec<String>,
    #[prost(bool, tag = "2")]
    pub all: bool,
    /// `keepBytes` (BuildKit v0.13, Docker 26), `reservedSpace` since: the
    /// unused cache to keep, oldest pruned first.
    #[prost(int64, tag = "4")]
    pub keep_bytes: i64,
}

/// What the node agent asks to find a sandbox's cache records.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DiskUsageRequest {
    #[prost(string, repeated, tag = "1")]
    pub filter: Vec<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct DiskUsageResponse {
    #[prost(message, repeated, tag = "1")]
    pub record: Vec<UsageRecord>,
}

/// One cache record, as far as the agent reads it.
#[derive(Clone, PartialEq, prost::Message)]
pub struct UsageRecord {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(int64, tag = "4")]
    pub size: i64,
    #[prost(string, tag = "9")]
    pub description: String,
}

/// The filter (for `DiskUsage`) matching the cache mounts of a sandbox's builds, whose
/// IDs [`check`] put in the sandbox's namespace (`BUILDKIT_CACHE_MOUNT_NS`):
/// the Dockerfile frontend names them `<namespace>/<id>`, and BuildKit
/// describes a cache mount as `cached mount <path> from exec <cmd> with id
/// "<id>"` (cache/refs.go, solver/llbsolver/mounts).
pub fn cache_mount_filter(uid: &str) -> String {
    format!("type==exec.cachemount,description~=\"with id \\\"{uid}/\"")
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ListWorkersRequest {
    #[prost(string, repeated, tag = "1")]
    pub filter: Vec<String>,
}

/// The methods a client's build session may offer the daemon
/// (`X-Docker-Expose-Session-Grpc-Method`): its files, registry
/// credentials, secrets, SSH agent and upload, and the health check.
/// Anything else it offers is not passed on, so the daemon never calls it.
pub const SESSION_METHODS: &[&str] = &[
    "/grpc.health.v1.Health/Check",
    "/moby.filesync.v1.FileSync/DiffCopy",
    "/moby.filesync.v1.FileSync/TarStream",
    "/moby.filesync.v1.FileSend/DiffCopy",
    "/moby.filesync.v1.Auth/Credentials",
    "/moby.filesync.v1.Auth/FetchToken",
    "/moby.filesync.v1.Auth/GetTokenAuthority",
    "/moby.filesync.v1.Auth/VerifyTokenAuthority",
    "/moby.buildkit.secrets.v1.Secrets/GetSecret",
    "/moby.sshforward.v1.SSH/CheckAgent",
    "/moby.sshforward.v1.SSH/ForwardAgent",
    "/moby.upload.v1.Upload/Pull",
];

/// A build session as the daemon is told of it.
#[derive(Debug, PartialEq, Eq)]
pub struct Session {
    /// The session's ID in the sandbox's namespace.
    pub id: String,
    pub name: String,
    /// The key BuildKit reuses local context files by, in the sandbox's namespace.
    pub shared_key: String,
    /// The methods passed on: those offered that [`SESSION_METHODS`] lists.
    pub methods: Vec<String>,
}

/// Checks a session's headers (`X-Docker-Expose-Session-*`).
pub fn check_session<'a>(
    id: Option<&str>,
    name: Option<&str>,
    shared_key: Option<&str>,
    offered: impl Iterator<Item = &'a str>,
    scope: &Scope,
) -> Result<Session, Refusal> {
    let token = |what: &str, value: Option<&str>, required: bool| -> Result<String, Refusal> {
        let value = value.unwrap_or_default();
        let valid = value.len() <= 256 && value.bytes().all(|b| b.is_ascii_graphic());
        if !valid || (required && value.is_empty()) {
            return Err(Refusal::bad_request(format!(
                "build session header X-Docker-Expose-Session-{what} must be{} at most 256 printable characters",
                if required { " 1 to" } else { "" }
            )));
        }
        Ok(value.to_string())
    };
    let id = token("Uuid", id, true)?;
    Ok(Session {
        id: scoped(scope, &id),
        name: token("Name", name, false)?,
        // BuildKit keys its reuse of a local context's files by this key: a
        // sandbox naming another's key would sync into (and read back files
        // of) the other's context. In the sandbox's namespace, it cannot.
        shared_key: scoped(scope, &token("Sharedkey", shared_key, false)?),
        methods: offered.filter(|m| SESSION_METHODS.contains(m)).map(str::to_string).collect(),
    })
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    fn scope() -> Scope {
        Scope { uid: "u1".into(), cgroup_parent: Some("/kubepods/pod1".into()), ..Default::default() }
    }

    fn solve() -> SolveRequest {
        SolveRequest {
            r#ref: "r1".into(),
            session: "s1".into(),
            frontend: DOCKERFILE_FRONTEND.into(),
            frontend_attrs: [("filename".to_string(), "Dockerfile".to_string())].into(),
            exporters: vec![Exporter { r#type: "moby".into(), attrs: [("name".into(), "app:1".into())].into() }],
            ..Default::default()
        }
    }

    fn check_solve(request: &SolveRequest) -> Result<(SolveRequest, Checked), Refusal> {
        let checked = check(Call::Solve, &request.encode_to_vec(), &scope())?;
        Ok((SolveRequest::decode(checked.message.as_slice()).unwrap(), checked))
    }

    #[test]
    fn a_dockerfile_build_is_contained_labelled_and_namespaced() {
        let (sent, checked) = check_solve(&solve()).unwrap();
        assert_eq!(sent.r#ref, "u1-r1");
        assert_eq!(sent.session, "u1-s1");
        let attrs = &sent.frontend_attrs;
        assert_eq!(attrs["cgroup-parent"], "/kubepods/pod1");
        assert_eq!(attrs[CACHE_NAMESPACE_ARG], "u1");
        assert_eq!(attrs["label:dockyard.dev/sandbox"], "u1");
        assert_eq!(attrs["cmdline"], DOCKERFILE_FRONTEND);
        assert_eq!(attrs["filename"], "Dockerfile");
        assert_eq!(checked.checks, [Check::ReferenceFree("app:1".into())]);
        let status = check(Call::Status, &StatusRequest { r#ref: "r1".into() }.encode_to_vec(), &scope()).unwrap();
        assert_eq!(StatusRequest::decode(status.message.as_slice()).unwrap().r#ref, "u1-r1");
    }

    #[test]
    fn what_reaches_the_node_or_other_sandboxes_is_refused() {
        type Change = Box<dyn Fn(&mut SolveRequest)>;
        let cases: Vec<(Change, &str)> = vec![
            (Box::new(|s| s.entitlements = vec!["network.host".into()]), "network.host"),
            (Box::new(|s| s.entitlements = vec!["security.insecure".into()]), "privileged"),
            (Box::new(|s| s.definition = Some(vec![10, 0])), "LLB"),
            (Box::new(|s| s.frontend = "gateway.v0".into()), "gateway.v0"),
            (Box::new(|s| s.cache = Some(vec![34, 0])), "cache"),
            (Box::new(|s| s.source_policy = Some(vec![8, 1])), "source polic"),
            (Box::new(|s| s.proxy_network = true), "ProxyNetwork"),
            (Box::new(|s| _ = s.frontend_inputs.insert("ctx".into(), vec![])), "frontend inputs"),
            (Box::new(|s| _ = s.frontend_attrs.insert("force-network-mode".into(), "host".into())), "`host`"),
            (Box::new(|s| _ = s.frontend_attrs.insert("cgroup-parent".into(), "/".into())), "cgroup"),
            (Box::new(|s| _ = s.frontend_attrs.insert(CACHE_NAMESPACE_ARG.into(), "u2".into())), "cache mounts"),
            (Box::new(|s| _ = s.frontend_attrs.insert(SYNTAX_ARG.into(), "x/y".into())), "frontend image"),
            (Box::new(|s| _ = s.frontend_attrs.insert("cmdline".into(), "x".into())), "frontend image"),
            (Box::new(|s| _ = s.frontend_attrs.insert("context:base".into(), "x".into())), "not one Dockyard knows"),
            (Box::new(|s| _ = s.frontend_attrs.insert("contextkey".into(), "build-arg:C".into())), "URL"),
            (Box::new(|s| _ = s.frontend_attrs.insert("label:dockyard.dev/sandbox".into(), "u2".into())), "set by"),
            (Box::new(|s| s.exporters[0].r#type = "image".into()), "exporter `image`"),
            (Box::new(|s| _ = s.exporters[0].attrs.insert("push".into(), "true".into())), "`push`"),
        ];
        for (change, reason) in cases {
            let mut request = solve();
            change(&mut request);
            let refusal = check_solve(&request).expect_err(reason);
            assert!(refusal.message.contains(reason), "{reason}: {}", refusal.message);
        }
        let unbounded = Scope { cgroup_parent: None, ..scope() };
        assert!(check(Call::Solve, &solve().encode_to_vec(), &unbounded).is_err());
    }

    #[test]
    fn unknown_fields_and_methods_are_refused() {
        let mut message = solve().encode_to_vec();
        message.extend([0xc0, 0x01, 0x01]); // field 24, varint 1
        let refusal = check(Call::Solve, &message, &scope()).unwrap_err();
        assert!(refusal.message.contains("field 24"), "{}", refusal.message);
        assert!(check(Call::Solve, &[0xff, 0xff], &scope()).is_err());
        for path in ["/moby.buildkit.v1.Control/Prune", "/moby.buildkit.v1.Control/Session", "/x.Y/Z"] {
            assert!(Call::route(path).is_err(), "{path}");
        }
        let session = check_session(
            Some("abc"),
            Some("n"),
            Some("k"),
            ["/moby.filesync.v1.FileSync/DiffCopy", "/moby.llbbridge/Evil"].into_iter(),
            &scope(),
        )
        .unwrap();
        assert_eq!((session.id.as_str(), session.shared_key.as_str()), ("u1-abc", "u1-k"));
        assert_eq!(session.methods, ["/moby.filesync.v1.FileSync/DiffCopy"]);
        assert!(check_session(None, None, None, std::iter::empty(), &scope()).is_err());
    }

    /// The field numbers above are control.proto's.
    #[test]
    fn the_messages_match_buildkits_proto() {
        let proto = include_str!("../../../proto/third_party/buildkit/control.proto");
        let fields = |message: &str| -> Vec<(String, u32)> {
            let start = proto.find(&format!("message {message} {{")).expect(message);
            let body = &proto[start..start + proto[start..].find("\n}").unwrap()];
            body.lines()
                .filter_map(|line| {
                    let line = line.split("//").next().unwrap().trim().trim_end_matches(';');
                    let (left, number) = line.split_once('=')?;
                    Some((left.split_whitespace().last()?.to_string(), number.trim().parse().ok()?))
                })
                .collect()
        };
        let solve_fields = fields("SolveRequest");
        assert_eq!(solve_fields.len(), 17, "{solve_fields:?}");
        assert_eq!(solve_fields.iter().map(|(_, n)| *n).collect::<Vec<_>>(), (1..=17).collect::<Vec<_>>());
        for (name, number) in [("Definition", 2), ("Session", 5), ("FrontendAttrs", 7), ("Entitlements", 9)] {
            assert!(solve_fields.contains(&(name.to_string(), number)), "{name} = {number}");
        }
        assert_eq!(fields("StatusRequest"), [("Ref".to_string(), 1)]);
        assert_eq!(fields("Exporter"), [("Type".to_string(), 1), ("Attrs".to_string(), 2)]);
        assert_eq!(fields("SolveResponse"), [("ExporterResponse".to_string(), 1)]);
        assert_eq!(fields("ListWorkersRequest"), [("filter".to_string(), 1)]);

        let gateway = include_str!("../../../proto/third_party/buildkit/gateway.proto");
        let start = gateway.find("message SolveRequest {").unwrap();
        let body = &gateway[start..start + gateway[start..].find("\n}").unwrap()];
        let numbers: Vec<u32> = body
            .lines()
            .filter_map(|line| line.split("//").next()?.trim().trim_end_matches(';').split_once('='))
            .filter_map(|(_, number)| number.trim().parse().ok())
            .collect();
        assert_eq!(numbers, [1, 2, 3, 5, 6, 10, 11, 12, 13, 14, 15]);
    }
}
