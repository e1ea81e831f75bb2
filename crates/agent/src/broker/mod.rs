//! The Docker socket broker of host-socket mode: one unix socket per sandbox,
//! proxying the Docker Engine API to the node's daemon over HTTP/1 (hyper),
//! with the checks and rewrites of [`policy`]. Bodies stream through
//! untouched (build contexts, image load/save, logs, events) except the small
//! JSON bodies of create calls, and hijacked connections (attach, exec,
//! `docker run -it`, BuildKit sessions) are spliced byte for byte.
//!
//! Each client connection gets its own connection to the daemon, opened on its
//! first request: HTTP/1 handles one request at a time per connection, so the
//! pair mirrors what the client would have had on the raw socket.

pub mod policy;

use std::collections::HashMap;
use std::convert::Infallible;
use std::os::unix::fs::{PermissionsExt, chown};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bollard::Docker;
use bollard::models::VolumeCreateRequest;
use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING, UPGRADE};
use http::request::Parts;
use http::{Request, Response, StatusCode, Uri};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::service::service_fn;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::{JoinHandle, JoinSet};
use tracing::{debug, info, warn};

use crate::docker::is_not_found;
use crate::resources::SANDBOX_LABEL;
use policy::{ContainerChecks, Kind, Refusal, Route, Scope};

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
    running: Mutex<HashMap<String, (Scope, JoinHandle<()>)>>,
}

impl Brokers {
    pub fn new(daemon_socket: PathBuf, docker: Docker, socket_root: PathBuf, socket_gid: u32) -> Self {
        Self { daemon_socket, docker, socket_root, socket_gid, running: Mutex::default() }
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
    /// For ownership lookups and implicit volume creation.
    pub docker: Docker,
    pub daemon_socket: PathBuf,
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

    async fn handle(&self, mut request: Request<Incoming>, upstream: &Upstream) -> Response<ProxyBody> {
        let client_upgrade = request.headers().contains_key(UPGRADE).then(|| hyper::upgrade::on(&mut request));
        let method = request.method().clone();
        let path = request.uri().path().to_string();
        let (parts, body) = request.into_parts();
        let mut body = Some(body);
        let outcome = match self.prepare(parts, &mut body).await {
            Ok(prepared) => self.forward(prepared, client_upgrade, upstream).await,
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

    /// Applies the policy: a request ready to pass on, or the refusal.
    /// Takes `body` when it uses it; a refused request leaves it to be drained.
    async fn prepare(&self, mut parts: Parts, body: &mut Option<Incoming>) -> Result<Request<ProxyBody>, Refusal> {
        let uid = &self.scope.uid;
        let passed = |parts: Parts, body: &mut Option<Incoming>| {
            Ok(Request::from_parts(parts, body.take().expect("the body is used once").boxed()))
        };
        let read_json = async |body: &mut Option<Incoming>, what: &str| {
            policy::parse_body(&read_body(body.take().expect("the body is used once")).await?, what)
        };
        match policy::route(&parts.method, parts.uri.path()) {
            Route::Pass => passed(parts, body),
            Route::Refused(refusal) => Err(refusal),
            Route::Filtered => {
                let query = policy::add_label_filter(parts.uri.query(), uid)?;
                set_query(&mut parts, &query)?;
                passed(parts, body)
            }
            Route::Build => {
                let query = policy::build_query(parts.uri.query(), uid)?;
                set_query(&mut parts, &query)?;
                passed(parts, body)
            }
            Route::CreateContainer => {
                let mut json = read_json(body, "a container create").await?;
                let checks = policy::check_container_create(&mut json, &self.scope)?;
                if let Some(workspace) = &self.scope.workspace {
                    for bind in &checks.binds {
                        policy::check_bind_links(bind, &workspace.node_path)?;
                    }
                }
                self.verify(checks).await?;
                Ok(with_json(parts, &json))
            }
            Route::CreateNetwork => {
                let mut json = read_json(body, "a network create").await?;
                policy::check_network_create(&mut json, uid)?;
                Ok(with_json(parts, &json))
            }
            Route::CreateVolume => {
                let mut json = read_json(body, "a volume create").await?;
                policy::check_volume_create(&mut json, uid)?;
                if let Some(name) = json.get("Name").and_then(|n| n.as_str()).filter(|n| !n.is_empty())
                    && let Some(false) = self.owns(Kind::Volume, name).await?
                {
                    return Err(Refusal::forbidden(format!("volume `{name}` exists and is not this sandbox's")));
                }
                Ok(with_json(parts, &json))
            }
            Route::Object { kind, id, action } => {
                self.require(kind, &id).await?;
                match (kind, action.as_str()) {
                    (Kind::Container, "exec") => {
                        let json = read_json(body, "an exec create").await?;
                        policy::check_exec_create(&json)?;
                        Ok(with_json(parts, &json))
                    }
                    (Kind::Network, "connect" | "disconnect") => {
                        let json = read_json(body, "a network connect").await?;
                        let container = json.get("Container").and_then(|c| c.as_str()).unwrap_or_default();
                        self.require(Kind::Container, container).await?;
                        Ok(with_json(parts, &json))
                    }
                    _ => passed(parts, body),
                }
            }
            Route::Exec { id } => {
                let container = match self.docker.inspect_exec(&id).await {
                    Ok(exec) => exec.container_id.unwrap_or_default(),
                    Err(e) if is_not_found(&e) => {
                        return Err(Refusal::not_found(Kind::Container, &format!("exec {id}")));
                    }
                    Err(e) => return Err(daemon_error(e)),
                };
                self.require(Kind::Container, &container).await.map_err(|_| Refusal {
                    status: StatusCode::NOT_FOUND,
                    message: format!("No such exec instance: {id}"),
                })?;
                passed(parts, body)
            }
            Route::Commit => {
                let container = policy::parse_query(parts.uri.query())
                    .into_iter()
                    .find(|(k, _)| k == "container")
                    .map(|(_, v)| v)
                    .unwrap_or_default();
                self.require(Kind::Container, &container).await?;
                passed(parts, body)
            }
        }
    }

    /// Whether the sandbox owns an object: `None` when it does not exist.
    async fn owns(&self, kind: Kind, id: &str) -> Result<Option<bool>, Refusal> {
        let labels = match kind {
            Kind::Container => self.docker.inspect_container(id, None).await.map(|c| c.config.and_then(|c| c.labels)),
            Kind::Network => self.docker.inspect_network(id, None).await.map(|n| n.labels),
            Kind::Volume => self.docker.inspect_volume(id).await.map(|v| Some(v.labels)),
            Kind::Image => self.docker.inspect_image(id).await.map(|i| i.config.and_then(|c| c.labels)),
        };
        match labels {
            Ok(labels) => Ok(Some(labels.unwrap_or_default().get(SANDBOX_LABEL) == Some(&self.scope.uid))),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(daemon_error(e)),
        }
    }

    /// Passes only when the sandbox owns the object; anything else looks
    /// missing (the sandbox learns nothing about others' objects). Images are
    /// shared, so removing one it did not build says why.
    async fn require(&self, kind: Kind, id: &str) -> Result<(), Refusal> {
        match self.owns(kind, id).await? {
            Some(true) => Ok(()),
            Some(false) if kind == Kind::Image => Err(Refusal::forbidden(format!(
                "image `{id}` is shared by the node's sandboxes; a sandbox may remove only images it built"
            ))),
            _ => Err(Refusal::not_found(kind, id)),
        }
    }

    /// The lookups a container create needs: joined containers and networks
    /// must be the sandbox's; named volumes must be, or are created with its label.
    async fn verify(&self, checks: ContainerChecks) -> Result<(), Refusal> {
        // Not a 404 here: the CLI answers a 404 from create by pulling the image.
        for container in &checks.containers {
            if self.owns(Kind::Container, container).await? != Some(true) {
                return Err(Refusal::forbidden(format!(
                    "container `{container}` is not one of this sandbox's containers; a container may join only \
                     the namespaces and volumes of its own sandbox's containers"
                )));
            }
        }
        for network in &checks.networks {
            if self.owns(Kind::Network, network).await? != Some(true) {
                return Err(Refusal::forbidden(format!("network `{network}` is not one of this sandbox's networks")));
            }
        }
        for volume in &checks.volumes {
            match self.owns(Kind::Volume, volume).await? {
                Some(true) => {}
                Some(false) => {
                    return Err(Refusal::forbidden(format!("volume `{volume}` exists and is not this sandbox's")));
                }
                None => {
                    let labels = HashMap::from([(SANDBOX_LABEL.to_string(), self.scope.uid.clone())]);
                    let request =
                        VolumeCreateRequest { name: Some(volume.clone()), labels: Some(labels), ..Default::default() };
                    self.docker.create_volume(request).await.map_err(daemon_error)?;
                }
            }
        }
        Ok(())
    }

    async fn forward(
        &self,
        request: Request<ProxyBody>,
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
        if response.status() == StatusCode::SWITCHING_PROTOCOLS
            && let Some(client) = client_upgrade
        {
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
        }
        Ok(response.map(BodyExt::boxed))
    }
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

fn daemon_error(error: bollard::errors::Error) -> Refusal {
    match error {
        bollard::errors::Error::DockerResponseServerError { status_code, message } => {
            Refusal { status: StatusCode::from_u16(status_code).unwrap_or(StatusCode::BAD_GATEWAY), message }
        }
        other => Refusal {
            status: StatusCode::BAD_GATEWAY,
            message: format!("dockyard: the node's Docker daemon did not answer: {other}"),
        },
    }
}

async fn read_body(body: Incoming) -> Result<Bytes, Refusal> {
    Limited::new(body, MAX_JSON_BODY).collect().await.map(|b| b.to_bytes()).map_err(|e| {
        Refusal::bad_request(format!("the request body could not be read (at most {MAX_JSON_BODY} bytes): {e}"))
    })
}

fn with_json(mut parts: Parts, json: &serde_json::Map<String, serde_json::Value>) -> Request<ProxyBody> {
    let bytes = Bytes::from(serde_json::to_vec(json).expect("a JSON map serializes"));
    parts.headers.remove(TRANSFER_ENCODING);
    parts.headers.insert(CONTENT_LENGTH, bytes.len().into());
    parts.headers.insert(CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    Request::from_parts(parts, Full::new(bytes).map_err(|never| match never {}).boxed())
}

fn set_query(parts: &mut Parts, query: &str) -> Result<(), Refusal> {
    parts.uri = format!("{}?{query}", parts.uri.path())
        .parse::<Uri>()
        .map_err(|e| Refusal::bad_request(format!("the request's query cannot be rewritten: {e}")))?;
    Ok(())
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
