//! The thin proxy in front of a Docker daemon, for one sandbox: an HTTP/1
//! server (hyper) on a unix socket whose every request is planned by the
//! pure policy core (`dockyard-docker-policy`: endpoint allowlist, query,
//! typed body decoded with dockerd's semantics, re-serialised), whose
//! lookups are made by the caller's [`Lookups`], and which is then re-built
//! and forwarded: the daemon reads the request that was checked, never the
//! client's bytes. Tar bodies (build contexts, `docker load`, archives)
//! stream through as `application/x-tar`; hijacked connections (attach,
//! exec) are spliced byte for byte after both sides switched protocols.
//!
//! Used twice: by the node agent's broker in front of the node's shared
//! daemon (lookups: ownership by label and the image ledger), and by the DinD
//! sidecar in front of the sandbox's own daemon (lookups: the workspace's
//! links only, every object being the sandbox's).
//!
//! Each client connection gets its own connection to the daemon, opened on its
//! first request: HTTP/1 handles one request at a time per connection, so the
//! pair mirrors what the client would have had on the raw socket.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use dockyard_docker_policy::buildkit::{self, Session};
use dockyard_docker_policy::{After, Body, Check, Endpoint, Plan, Refusal, Scope};
use http::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HOST, HeaderValue, UPGRADE, USER_AGENT};
use http::request::Parts;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, Limited};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::service::service_fn;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

pub use dockyard_docker_policy as policy;

mod grpc;
pub use grpc::{prune_build_cache, trim_build_cache};

/// Largest JSON body the proxy reads to check (create calls are a few KiB).
const MAX_JSON_BODY: usize = 4 << 20;
/// Most of a refused request's body the proxy reads before answering.
const MAX_DRAINED_BODY: usize = 256 << 20;

/// The body of an answer passed to the client.
pub type ProxyBody = BoxBody<Bytes, hyper::Error>;

/// The lookups a plan asks for, made against the daemon behind the proxy.
pub trait Lookups: Send + Sync + 'static {
    /// Makes every check; the first that fails refuses the request.
    fn run(&self, scope: &Scope, checks: &[Check]) -> impl Future<Output = Result<(), Refusal>> + Send;

    /// The answer the client gets, after what the plan says to do with a
    /// successful one (filter an image list, record what was made).
    fn answer(
        &self,
        scope: &Scope,
        after: &After,
        response: Response<Incoming>,
    ) -> impl Future<Output = Result<Response<ProxyBody>, Refusal>> + Send;

    /// Makes the image a BuildKit build exported (its ID, from the answer)
    /// the sandbox's; called before the client learns the build finished.
    fn record_export(&self, scope: &Scope, image: String) -> impl Future<Output = ()> + Send {
        let _ = (scope, image);
        async {}
    }
}

/// The lookups in front of a sandbox's own daemon (DinD): every object in
/// it is the sandbox's, so only bind sources are checked — their symbolic
/// links must stay inside the workspace, which the daemon sees at the same
/// path as the workload.
pub struct OwnDaemon;

impl Lookups for OwnDaemon {
    async fn run(&self, scope: &Scope, checks: &[Check]) -> Result<(), Refusal> {
        for check in checks {
            if let (Check::BindLinks(path), Some(workspace)) = (check, &scope.workspace) {
                check_bind_links(path, &workspace.node_path)?;
            }
        }
        Ok(())
    }

    async fn answer(&self, _: &Scope, _: &After, response: Response<Incoming>) -> Result<Response<ProxyBody>, Refusal> {
        Ok(response.map(BodyExt::boxed))
    }
}

/// The proxy of one sandbox.
pub struct Proxy<L> {
    /// Read at the start of each request: a new scope (the Pod's cgroup
    /// became known, the class changed) applies to the next request without
    /// dropping the connections in flight.
    scope: std::sync::RwLock<Scope>,
    pub daemon_socket: PathBuf,
    pub lookups: L,
}

impl<L> Proxy<L> {
    pub fn new(scope: Scope, daemon_socket: PathBuf, lookups: L) -> Self {
        Self { scope: std::sync::RwLock::new(scope), daemon_socket, lookups }
    }

    pub fn scope(&self) -> Scope {
        self.scope.read().expect("scope lock poisoned").clone()
    }

    pub fn set_scope(&self, scope: Scope) {
        *self.scope.write().expect("scope lock poisoned") = scope;
    }
}

/// Serves one sandbox's socket until aborted; connections end with it.
pub async fn serve<L: Lookups>(listener: UnixListener, proxy: Arc<Proxy<L>>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(proxy.clone().serve_connection(stream));
                }
                Err(e) => {
                    warn!(sandbox = %proxy.scope().uid, error = %e, "accepting a connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next() => {}
        }
    }
}

type Upstream = tokio::sync::Mutex<Option<SendRequest<ProxyBody>>>;

impl<L: Lookups> Proxy<L> {
    pub async fn serve_connection(self: Arc<Self>, stream: UnixStream) {
        let upstream = Arc::new(Upstream::default());
        let proxy = self.clone();
        let service = service_fn(move |request| {
            let proxy = proxy.clone();
            let upstream = upstream.clone();
            async move { Ok::<_, Infallible>(proxy.handle(request, &upstream).await) }
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        if let Err(e) = connection.await {
            debug!(sandbox = %self.scope().uid, error = %e, "connection ended with an error");
        }
    }
    async fn handle(self: &Arc<Self>, mut request: Request<Incoming>, upstream: &Upstream) -> Response<ProxyBody> {
        let client_upgrade = request.headers().contains_key(UPGRADE).then(|| hyper::upgrade::on(&mut request));
        let method = request.method().clone();
        let path = request.uri().path().to_string();
        let (parts, body) = request.into_parts();
        let mut body = Some(body);
        let scope = self.scope();
        let outcome = match self.prepare(&scope, parts, &mut body, client_upgrade.is_some()).await {
            Ok((request, plan, session)) => {
                self.forward(&scope, request, &plan, session, client_upgrade, upstream).await
            }
            Err(refusal) => {
                // Read what the client is still sending (a build context, an
                // archive), so it gets to read the refusal instead of a broken pipe.
                if let Some(body) = body {
                    let _ = Limited::new(body, MAX_DRAINED_BODY).collect().await;
                }
                Err(refusal)
            }
        };
        match outcome {
            Ok(response) => response,
            Err(refusal) => {
                let (uid, status) = (&scope.uid, refusal.status.as_u16());
                if refusal.status.is_server_error() {
                    warn!(sandbox = %uid, %method, %path, status, reason = %refusal.message, "failed");
                } else if refusal.status != StatusCode::NOT_FOUND {
                    info!(sandbox = %uid, %method, %path, status, reason = %refusal.message, "refused");
                }
                error_response(&refusal)
            }
        }
    }

    /// Applies the policy: the request to forward (a new one, built from what
    /// was checked) and its plan, or the refusal. Takes `body` when it uses
    /// it; a refused request leaves it to be drained.
    async fn prepare(
        &self,
        scope: &Scope,
        parts: Parts,
        body: &mut Option<Incoming>,
        wants_upgrade: bool,
    ) -> Result<(Request<ProxyBody>, Plan, Option<Session>), Refusal> {
        let mut plan = dockyard_docker_policy::plan(&parts.method, parts.uri.path(), parts.uri.query(), scope)?;
        let mut headers = forwarded_headers(&parts.headers, &plan)?;
        let buildkit = matches!(plan.endpoint, Endpoint::BuildKit | Endpoint::BuildKitSession);
        if buildkit && !wants_upgrade {
            return Err(Refusal::bad_request("BuildKit's API is served only on a connection upgraded to h2c"));
        }
        if plan.upgrade && wants_upgrade {
            headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
            headers.insert(UPGRADE, HeaderValue::from_static(if buildkit { "h2c" } else { "tcp" }));
        }
        let session = match plan.endpoint {
            Endpoint::BuildKitSession => Some(session_headers(&parts.headers, &mut headers, scope)?),
            _ => None,
        };
        // JSON bodies are read first (their checks come from them); a tar
        // body is taken only after the lookups passed, so a refused one is
        // still there to be drained.
        let json = match plan.body {
            Body::Json(kind) => {
                let bytes = read_body(body.take().expect("the body is used once")).await?;
                let checked = dockyard_docker_policy::body::check(kind, &bytes, scope)?;
                plan.checks.extend(checked.checks);
                Some(checked.body)
            }
            Body::Empty | Body::Tar => None,
        };
        dockyard_docker_policy::endpoint::check_names(&plan.checks)?;
        self.lookups.run(scope, &plan.checks).await?;
        let forwarded: ProxyBody = match (plan.body, json) {
            (Body::Json(_), Some(json)) => {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                headers.insert(CONTENT_LENGTH, json.len().into());
                Full::new(Bytes::from(json)).map_err(|never| match never {}).boxed()
            }
            (Body::Tar, _) => {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/x-tar"));
                if let Some(length) = parts.headers.get(CONTENT_LENGTH) {
                    headers.insert(CONTENT_LENGTH, length.clone());
                }
                body.take().expect("the body is used once").boxed()
            }
            _ => empty_body(),
        };
        let mut request = Request::builder()
            .method(parts.method.clone())
            .uri(plan.path_and_query.as_str())
            .body(forwarded)
            .map_err(|e| Refusal::bad_request(format!("the request cannot be forwarded: {e}")))?;
        *request.headers_mut() = headers;
        Ok((request, plan, session))
    }

    async fn forward(
        self: &Arc<Self>,
        scope: &Scope,
        request: Request<ProxyBody>,
        plan: &Plan,
        session: Option<Session>,
        client_upgrade: Option<OnUpgrade>,
        upstream: &Upstream,
    ) -> Result<Response<ProxyBody>, Refusal> {
        // Why this daemon's BuildKit may not build for a sandbox, if it may not.
        let mut uncontained = None;
        let pending = {
            let mut connection = upstream.lock().await;
            if connection.as_ref().is_none_or(SendRequest::is_closed) {
                *connection = Some(connect_daemon(&self.daemon_socket).await?);
            }
            let sender = connection.as_mut().expect("connected above");
            if plan.endpoint == Endpoint::BuildKit {
                uncontained = self.check_buildkit_contains(sender).await.err();
            }
            sender.ready().await.map_err(|e| unavailable(&self.daemon_socket, &e))?;
            sender.send_request(request)
        };
        let mut response = pending.await.map_err(|e| unavailable(&self.daemon_socket, &e))?;
        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            let Some(client) = client_upgrade.filter(|_| plan.upgrade) else {
                return Err(Refusal::bad_request("the daemon switched protocols on a request that did not ask to"));
            };
            let daemon = hyper::upgrade::on(&mut response);
            let uid = scope.uid.clone();
            let (proxy, scope, endpoint) = (self.clone(), scope.clone(), plan.endpoint.clone());
            tokio::spawn(async move {
                let (client, daemon) = match tokio::try_join!(client, daemon) {
                    Ok(both) => both,
                    Err(e) => return debug!(sandbox = %uid, error = %e, "upgrade failed"),
                };
                let ended = match (endpoint, session) {
                    (Endpoint::BuildKit, _) => {
                        grpc::relay_control(proxy, scope, uncontained, client, daemon).await.map_err(|e| e.to_string())
                    }
                    (Endpoint::BuildKitSession, Some(session)) => {
                        grpc::relay_session(uid.clone(), session.methods, client, daemon)
                            .await
                            .map_err(|e| e.to_string())
                    }
                    _ => {
                        let (mut client, mut daemon) = (TokioIo::new(client), TokioIo::new(daemon));
                        tokio::io::copy_bidirectional(&mut client, &mut daemon)
                            .await
                            .map(drop)
                            .map_err(|e| e.to_string())
                    }
                };
                if let Err(e) = ended {
                    debug!(sandbox = %uid, error = %e, "upgraded connection ended with an error");
                }
            });
            return Ok(response.map(BodyExt::boxed));
        }
        self.lookups.answer(scope, &plan.after, response).await
    }
}

impl<L> Proxy<L> {
    /// Refuses BuildKit builds on a daemon too old to put build steps under
    /// the `cgroup-parent` a build names (they would run outside the
    /// sandbox's limits), asking its API version on the connection about to
    /// be used. The connection itself is still upgraded: buildx chooses its
    /// driver by whether `/grpc` upgrades, and without it would try to start
    /// a privileged BuildKit container instead of showing this reason.
    async fn check_buildkit_contains(&self, sender: &mut SendRequest<ProxyBody>) -> Result<(), Refusal> {
        let ping = Request::get("/_ping").header(HOST, "docker").body(empty_body()).expect("a static request is valid");
        sender.ready().await.map_err(|e| unavailable(&self.daemon_socket, &e))?;
        let answer = sender.send_request(ping).await.map_err(|e| unavailable(&self.daemon_socket, &e))?;
        let version = answer.headers().get("api-version").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let _ = answer.into_body().collect().await;
        let parsed =
            version.split_once('.').and_then(|(major, minor)| Some((major.parse().ok()?, minor.parse().ok()?)));
        if parsed.is_some_and(|v: (u32, u32)| v >= buildkit::MIN_API_VERSION) {
            return Ok(());
        }
        let (major, minor) = buildkit::MIN_API_VERSION;
        Err(Refusal::forbidden(format!(
            "the Docker daemon behind this socket speaks API {version} (before Docker 23): its BuildKit runs build \
             steps outside the sandbox's cgroup, so BuildKit builds need API {major}.{minor} or newer; use the \
             classic builder (DOCKER_BUILDKIT=0 docker build)"
        )))
    }
}

/// The checked `X-Docker-Expose-Session-*` headers of a build session, added
/// to `headers`: its ID in the sandbox's namespace, and only the methods
/// Dockyard lets the daemon call.
fn session_headers(client: &HeaderMap, headers: &mut HeaderMap, scope: &Scope) -> Result<Session, Refusal> {
    let text = |name: &str| client.get(name).and_then(|v| v.to_str().ok());
    let offered = client.get_all("x-docker-expose-session-grpc-method").iter().filter_map(|v| v.to_str().ok());
    let session = buildkit::check_session(
        text("x-docker-expose-session-uuid"),
        text("x-docker-expose-session-name"),
        text("x-docker-expose-session-sharedkey"),
        offered,
        scope,
    )?;
    let value = |v: &str| HeaderValue::from_str(v).map_err(|e| Refusal::bad_request(format!("session header: {e}")));
    headers.insert("x-docker-expose-session-uuid", value(&session.id)?);
    headers.insert("x-docker-expose-session-name", value(&session.name)?);
    headers.insert("x-docker-expose-session-sharedkey", value(&session.shared_key)?);
    for method in &session.methods {
        headers.append("x-docker-expose-session-grpc-method", value(method)?);
    }
    Ok(session)
}

/// The headers the daemon gets: a fixed `Host`, the client's `User-Agent`,
/// and registry credentials where the endpoint takes them (decoded and
/// re-encoded). Everything else the client sent stays behind.
fn forwarded_headers(client: &HeaderMap, plan: &Plan) -> Result<HeaderMap, Refusal> {
    let mut headers = HeaderMap::new();
    headers.insert(HOST, HeaderValue::from_static("docker"));
    if let Some(agent) = client.get(USER_AGENT) {
        headers.insert(USER_AGENT, agent.clone());
    }
    let header = |name: &str, encode: fn(&[u8]) -> Result<String, Refusal>| -> Result<Option<HeaderValue>, Refusal> {
        match client.get(name).filter(|v| !v.is_empty()) {
            Some(value) => HeaderValue::from_str(&encode(value.as_bytes())?)
                .map(Some)
                .map_err(|e| Refusal::bad_request(format!("header {name}: {e}"))),
            None => Ok(None),
        }
    };
    if plan.registry_auth
        && let Some(value) = header("x-registry-auth", dockyard_docker_policy::registry::auth_header)?
    {
        headers.insert("x-registry-auth", value);
    }
    if plan.registry_config
        && let Some(value) = header("x-registry-config", dockyard_docker_policy::registry::config_header)?
    {
        headers.insert("x-registry-config", value);
    }
    Ok(headers)
}

fn empty_body() -> ProxyBody {
    Empty::new().map_err(|never| match never {}).boxed()
}

async fn connect_daemon(socket: &Path) -> Result<SendRequest<ProxyBody>, Refusal> {
    let stream = UnixStream::connect(socket).await.map_err(|e| unavailable(socket, &e))?;
    let (sender, connection) = hyper::client::conn::http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await
        .map_err(|e| unavailable(socket, &e))?;
    tokio::spawn(async move {
        if let Err(e) = connection.with_upgrades().await {
            debug!(error = %e, "daemon connection ended with an error");
        }
    });
    Ok(sender)
}

fn unavailable(socket: &Path, error: &dyn std::fmt::Display) -> Refusal {
    Refusal {
        status: StatusCode::BAD_GATEWAY,
        message: format!("dockyard: the node's Docker daemon at {} did not answer: {error}", socket.display()),
    }
}

async fn read_body(body: Incoming) -> Result<Bytes, Refusal> {
    Limited::new(body, MAX_JSON_BODY).collect().await.map(|b| b.to_bytes()).map_err(|e| {
        Refusal::bad_request(format!("the request body could not be read (at most {MAX_JSON_BODY} bytes): {e}"))
    })
}

/// An error the way the Docker daemon writes one (the CLI prints `message`).
fn error_response(refusal: &Refusal) -> Response<ProxyBody> {
    let body = Bytes::from(serde_json::json!({ "message": refusal.message }).to_string());
    Response::builder()
        .status(refusal.status)
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(body).map_err(|never| match never {}).boxed())
        .expect("a static response is valid")
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
