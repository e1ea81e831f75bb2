//! The Docker socket broker of host-socket mode: one unix socket per
//! sandbox, each served by the shared proxy (`dockyard-docker-proxy`, whose
//! decisions are the pure `dockyard-docker-policy` core) in front of the
//! node's daemon. What is the agent's: which sandboxes are served
//! ([`Brokers`]), the lookups against the shared daemon ([`lookups`]:
//! ownership by label, the image ledger of [`images`]) and what the answers
//! made ([`answers`]).

mod answers;
pub mod images;
pub mod lookups;

pub use dockyard_docker_policy as policy;

use std::collections::HashMap;
use std::os::unix::fs::{PermissionsExt, chown};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bollard::Docker;
use dockyard_docker_proxy::Proxy;
use tokio::net::UnixListener;
use tokio::task::JoinHandle;
use tracing::info;

use images::ImageLedger;
use lookups::NodeLookups;
use policy::Scope;

/// Name of the socket inside a sandbox's broker directory.
pub const SOCKET_NAME: &str = "docker.sock";

/// The sandboxes' broker sockets on this node.
pub struct Brokers {
    daemon_socket: PathBuf,
    docker: Docker,
    socket_root: PathBuf,
    socket_gid: u32,
    ledger: Arc<ImageLedger>,
    running: Mutex<HashMap<String, Served>>,
}

/// A sandbox's proxy and the task serving its socket.
type Served = (Arc<Proxy<NodeLookups>>, JoinHandle<()>);

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

    /// Serves the broker socket of `scope`: a new scope for a socket already
    /// served applies to its next request, the connections in flight stay;
    /// a vanished socket or a stopped server is served anew. Idempotent.
    pub fn ensure(&self, scope: Scope) -> std::io::Result<PathBuf> {
        let path = self.socket_path(&scope.uid);
        let mut running = self.running.lock().expect("broker registry poisoned");
        if let Some((proxy, handle)) = running.get(&scope.uid)
            && !handle.is_finished()
            && path.exists()
        {
            if proxy.scope() != scope {
                info!(sandbox = %scope.uid, "the broker's scope changed");
                proxy.set_scope(scope);
            }
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
        let uid = scope.uid.clone();
        let lookups = NodeLookups { docker: self.docker.clone(), ledger: self.ledger.clone() };
        let proxy = Arc::new(Proxy::new(scope, self.daemon_socket.clone(), lookups));
        info!(sandbox = %uid, socket = %path.display(), "serving the broker socket");
        let handle = tokio::spawn(dockyard_docker_proxy::serve(listener, proxy.clone()));
        running.insert(uid, (proxy, handle));
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
