//! The Docker socket broker of host-socket mode: one unix socket per sandbox,
//! a thin HTTP/1 proxy (hyper) to the node's daemon around the pure decision
//! core [`policy`] (the `dockyard-docker-policy` crate). Each request is
//! planned (endpoint allowlist, query, headers), its JSON body decoded with
//! dockerd's semantics, checked and re-serialised, the plan's lookups made
//! ([`lookups`]), and only then forwarded: the daemon reads the request that
//! was checked, never the client's bytes. Tar bodies (build contexts, `docker
//! load`, archives) stream through as `application/x-tar`; hijacked
//! connections (attach, exec) are spliced byte for byte after the upgrade.
//! Answers that make images are recorded as the sandbox's ([`answers`],
//! [`images`]).
//!
//! Each client connection gets its own connection to the daemon, opened on its
//! first request: HTTP/1 handles one request at a time per connection, so the
//! pair mirrors what the client would have had on the raw socket.

mod answers;
pub mod images;
pub mod lookups;

pub use dockyard_docker_policy as policy;

use std::collections::HashMap;
use std::convert::Infallible;
use std::os::unix::fs::{PermissionsExt, chown};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bollard::Docker;
use bytes::Bytes;
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
use tokio::task::{JoinHandle, JoinSet};
use tracing::{debug, info, warn};

use images::ImageLedger;
use lookups::Lookups;
use policy::{Body, Plan, Refusal, Scope};

/// Name of the socket inside a sandbox's broker directory.
pub const SOCKET_NAME: &str = "docker.sock";
/// Largest JSON body the broker reads to check (create calls are a few KiB).
const MAX_JSON_BODY: usize = 4 << 20;
/// Most of a refused request's body the broker reads before answering.
const MAX_DRAINED_BODY: usize = 256 << 20;

type ProxyBody = BoxBody<Bytes, hyper::Error>;

/// The sandboxes' broker sockets on this node.
pub struct Brokers {
    daemon_socket: PathBuf,
    docker: Docker,
    socket_root: PathBuf,
    socket_gid: u32,
    ledger: Arc<ImageLedger>,
    running: Mutex<HashMap<String, (Scope, JoinHandle<()>)>>,
}

impl Brokers {
    /// Brokers to the daemon at `daemon_socket`, serving sockets under
    /// `socket_root`, remembering the sandboxes' images in `ledger`.
    pub fn new(
        daemon_socket: PathBuf,
        docker: Docker,
        socket_root: PathBuf,
        socket_gid: u32,
        ledger: ImageLedger,
    ) -> Self {
        Self { daemon_socket, docker, socket_root, socket_gid, ledger: Arc::new(ledger), running: Mutex::default() }
    }

    /// The directory the Pod mounts (its node path is what the controller renders).
    pub fn socket_dir(&self, uid: &str) -> PathBuf {
        self.socket_root.join(uid)
    }

    pub fn socket_path(&self, uid: &str) -> PathBuf {
        self.socket_dir(uid).join(SOCKET_NAME)
    }

    pub fn socket_gid(&self) -> u32 {
        self.socket_gid
    }

    /// Which images each sandbox owns.
    pub fn ledger(&self) -> &ImageLedger {
        &self.ledger
    }

    /// Serves the broker socket of `scope` (again, if its scope changed or its
    /// socket vanished). Idempotent.
    pub fn ensure(&self, scope: Scope) -> std::io::Result<PathBuf> {
        let path = self.socket_path(&scope.uid);
        let mut running = self.running.lock().expect("broker registry poisoned");
        if let Some((current, handle)) = running.get(&scope.uid)
            && *current == scope
            && !handle.is_finished()
            && path.exists()
        {
            return Ok(path);
        }
        if let Some((_, handle)) = running.remove(&scope.uid) {
            handle.abort();
        }
        std::fs::create_dir_all(self.socket_dir(&scope.uid))?;
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let listener = UnixListener::bind(&path)?;
        chown(&path, Some(0), Some(self.socket_gid))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o660))?;
        let broker = Arc::new(Broker {
            scope: scope.clone(),
            docker: self.docker.clone(),
            daemon_socket: self.daemon_socket.clone(),
            ledger: self.ledger.clone(),
        });
        info!(sandbox = %scope.uid, socket = %path.display(), "serving the broker socket");
        running.insert(scope.uid.clone(), (scope, tokio::spawn(serve(listener, broker))));
        Ok(path)
    }

    /// Stops serving a sandbox and removes its socket directory. Idempotent.
    pub fn remove(&self, uid: &str) -> std::io::Result<()> {
        if let Some((_, handle)) = self.running.lock().expect("broker registry poisoned").remove(uid) {
            handle.abort();
        }
        match std::fs::remove_dir_all(self.socket_dir(uid)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// UIDs of the sandboxes served now.
    pub fn served(&self) -> Vec<String> {
        self.running.lock().expect("broker registry poisoned").keys().cloned().collect()
    }
}

/// Serves one sandbox's socket until aborted; connections end with it.
pub async fn serve(listener: UnixListener, broker: Arc<Broker>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(broker.clone().serve_connection(stream));
                }
                Err(e) => {
                    warn!(sandbox = %broker.scope.uid, error = %e, "accepting a broker connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next() => {}
        }
    }
}

/// The broker of one sandbox.
pub struct Broker {
    pub scope: Scope,
    /// For lookups and implicit volume creation.
    pub docker: Docker,
    pub daemon_socket: PathBuf,
    pub ledger: Arc<ImageLedger>,
}

type Upstream = tokio::sync::Mutex<Option<SendRequest<ProxyBody>>>;

impl Broker {
    pub async fn serve_connection(self: Arc<Self>, stream: UnixStream) {
        let upstream = Arc::new(Upstream::default());
        let broker = self.clone();
        let service = service_fn(move |request| {
            let broker = broker.clone();
            let upstream = upstream.clone();
            async move { Ok::<_, Infallible>(broker.handle(request, &upstream).await) }
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        if let Err(e) = connection.await {
            debug!(sandbox = %self.scope.uid, error = %e, "broker connection ended with an error");
        }
    }

    fn lookups(&self) -> Lookups<'_> {
        Lookups { scope: &self.scope, docker: &self.docker, ledger: &self.ledger }
    }

    async fn handle(&self, mut request: Request<Incoming>, upstream: &Upstream) -> Response<ProxyBody> {
        let client_upgrade = request.headers().contains_key(UPGRADE).then(|| hyper::upgrade::on(&mut request));
        let method = request.method().clone();
        let path = request.uri().path().to_string();
        let (parts, body) = request.into_parts();
        let mut body = Some(body);
        let outcome = match self.prepare(parts, &mut body, client_upgrade.is_some()).await {
            Ok((request, plan)) => self.forward(request, &plan, client_upgrade, upstream).await,
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
                let (uid, status) = (&self.scope.uid, refusal.status.as_u16());
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
        parts: Parts,
        body: &mut Option<Incoming>,
        wants_upgrade: bool,
    ) -> Result<(Request<ProxyBody>, Plan), Refusal> {
        let mut plan = policy::plan(&parts.method, parts.uri.path(), parts.uri.query(), &self.scope)?;
        let mut headers = forwarded_headers(&parts.headers, &plan)?;
        if plan.upgrade && wants_upgrade {
            headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
            headers.insert(UPGRADE, HeaderValue::from_static("tcp"));
        }
        let forwarded: ProxyBody = match plan.body {
            Body::Empty => Empty::new().map_err(|never| match never {}).boxed(),
            Body::Json(kind) => {
                let bytes = read_body(body.take().expect("the body is used once")).await?;
                let checked = policy::body::check(kind, &bytes, &self.scope)?;
                plan.checks.extend(checked.checks);
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                headers.insert(CONTENT_LENGTH, checked.body.len().into());
                Full::new(Bytes::from(checked.body)).map_err(|never| match never {}).boxed()
            }
            Body::Tar => {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/x-tar"));
                if let Some(length) = parts.headers.get(CONTENT_LENGTH) {
                    headers.insert(CONTENT_LENGTH, length.clone());
                }
                body.take().expect("the body is used once").boxed()
            }
        };
        self.lookups().run(&plan.checks).await?;
        let mut request = Request::builder()
            .method(parts.method.clone())
            .uri(plan.path_and_query.as_str())
            .body(forwarded)
            .map_err(|e| Refusal::bad_request(format!("the request cannot be forwarded: {e}")))?;
        *request.headers_mut() = headers;
        Ok((request, plan))
    }

    async fn forward(
        &self,
        request: Request<ProxyBody>,
        plan: &Plan,
        client_upgrade: Option<OnUpgrade>,
        upstream: &Upstream,
    ) -> Result<Response<ProxyBody>, Refusal> {
        let pending = {
            let mut connection = upstream.lock().await;
            if connection.as_ref().is_none_or(SendRequest::is_closed) {
                *connection = Some(connect_daemon(&self.daemon_socket).await?);
            }
            let sender = connection.as_mut().expect("connected above");
            sender.ready().await.map_err(|e| unavailable(&self.daemon_socket, &e))?;
            sender.send_request(request)
        };
        let mut response = pending.await.map_err(|e| unavailable(&self.daemon_socket, &e))?;
        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            let Some(client) = client_upgrade.filter(|_| plan.upgrade) else {
                return Err(Refusal::bad_request("the daemon switched protocols on a request that did not ask to"));
            };
            let daemon = hyper::upgrade::on(&mut response);
            let uid = self.scope.uid.clone();
            tokio::spawn(async move {
                match tokio::try_join!(client, daemon) {
                    Ok((client, daemon)) => {
                        let (mut client, mut daemon) = (TokioIo::new(client), TokioIo::new(daemon));
                        if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut daemon).await {
                            debug!(sandbox = %uid, error = %e, "hijacked connection ended with an error");
                        }
                    }
                    Err(e) => debug!(sandbox = %uid, error = %e, "upgrade failed"),
                }
            });
            return Ok(response.map(BodyExt::boxed));
        }
        answers::answer(&plan.after, response, self.lookups()).await
    }
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
        && let Some(value) = header("x-registry-auth", policy::registry::auth_header)?
    {
        headers.insert("x-registry-auth", value);
    }
    if plan.registry_config
        && let Some(value) = header("x-registry-config", policy::registry::config_header)?
    {
        headers.insert("x-registry-config", value);
    }
    Ok(headers)
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
