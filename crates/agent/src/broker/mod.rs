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
use std::os::fd::AsRawFd;
use std::os::unix::fs::{PermissionsExt, chown};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bollard::Docker;
use dockyard_docker_proxy::Proxy;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use tokio::net::UnixListener;
use tokio::task::JoinHandle;
use tracing::info;

use crate::firewall::Firewall;
use images::ImageLedger;
use lookups::NodeLookups;
use policy::Scope;

/// Socket paths from this length on are bound through their directory's
/// descriptor (a socket address holds 107 bytes and a NUL).
const SHORT_SOCKET_PATH: usize = 100;

/// The file type bits of `st_mode` (libc's values, the same on every Linux).
mod libc_mode {
    pub const S_IFMT: u32 = 0o170000;
    pub const S_IFSOCK: u32 = 0o140000;
}

/// Name of the socket inside a sandbox's broker directory.
pub const SOCKET_NAME: &str = "docker.sock";

/// The sandboxes' broker sockets on this node.
pub struct Brokers {
    daemon_socket: PathBuf,
    docker: Docker,
    socket_root: PathBuf,
    socket_gid: u32,
    ledger: Arc<ImageLedger>,
    /// The node's rules for brokered containers, written again whenever a
    /// sandbox's network appears.
    firewall: Option<Arc<Firewall>>,
    running: Mutex<HashMap<String, Served>>,
    /// Sockets published into CSI volumes: the target directory, whose it
    /// is and the task serving it.
    published: Mutex<HashMap<PathBuf, (Holder, JoinHandle<()>)>>,
}

/// Whose a socket published into a Pod's CSI volume is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Holder {
    /// A sandbox's: its broker's proxy, by the Sandbox's UID.
    Sandbox(String),
    /// An unclaimed warm pool Pod's (by its Pod UID): a proxy of its own
    /// whose scope answers only ping, version and info
    /// ([`Scope::unclaimed`]), until a claim publishes a sandbox's in its place.
    Warm(String),
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
        Self {
            daemon_socket,
            docker,
            socket_root,
            socket_gid,
            ledger: Arc::new(ledger),
            firewall: None,
            running: Mutex::default(),
            published: Mutex::default(),
        }
    }

    /// Brokers that write the node's rules (`firewall`) again before a client
    /// learns of a new network of its sandbox.
    pub fn with_firewall(mut self, firewall: Option<Arc<Firewall>>) -> Self {
        self.firewall = firewall;
        self
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
        let listener = self.listen_in(&self.socket_dir(&scope.uid))?;
        let uid = scope.uid.clone();
        let lookups =
            NodeLookups { docker: self.docker.clone(), ledger: self.ledger.clone(), firewall: self.firewall.clone() };
        let proxy = Arc::new(Proxy::new(scope, self.daemon_socket.clone(), lookups));
        info!(sandbox = %uid, socket = %path.display(), "serving the broker socket");
        let handle = tokio::spawn(dockyard_docker_proxy::serve(listener, proxy.clone()));
        running.insert(uid, (proxy, handle));
        Ok(path)
    }

    /// A new socket `SOCKET_NAME` in `dir` (created), replacing a stale one,
    /// for the root user and the sandboxes' group. A directory whose path is
    /// longer than a socket address holds (107 bytes; the kubelet's CSI target
    /// paths often are) is reached through its descriptor.
    fn listen_in(&self, dir: &Path) -> std::io::Result<UnixListener> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(SOCKET_NAME);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let opened = std::fs::File::open(dir)?;
        let short = PathBuf::from(format!("/proc/self/fd/{}/{SOCKET_NAME}", opened.as_raw_fd()));
        let listener = UnixListener::bind(if path.as_os_str().len() < SHORT_SOCKET_PATH { &path } else { &short })?;
        drop(opened);
        // Owner and mode are set on the socket just bound, never through a path
        // someone could have swapped for a symlink meanwhile (a sandbox whose
        // user can sudo to root can write in its socket volume): the file is
        // opened without following links, checked to be a socket of root's,
        // and changed through its descriptor.
        let socket = nix::fcntl::open(&path, OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(std::io::Error::from)?;
        let stat = nix::sys::stat::fstat(&socket).map_err(std::io::Error::from)?;
        if stat.st_mode & libc_mode::S_IFMT != libc_mode::S_IFSOCK || stat.st_uid != 0 {
            return Err(std::io::Error::other(format!("{} is no longer the socket just bound", path.display())));
        }
        let by_descriptor = PathBuf::from(format!("/proc/self/fd/{}", socket.as_raw_fd()));
        chown(&by_descriptor, Some(0), Some(self.socket_gid))?;
        std::fs::set_permissions(&by_descriptor, std::fs::Permissions::from_mode(0o660))?;
        Ok(listener)
    }

    /// Serves sandbox `uid`'s broker (already served by `ensure`, with its
    /// scope) also at `SOCKET_NAME` in `target_dir`: a CSI volume's target the
    /// kubelet gives its Pod. Idempotent; the socket path.
    pub fn publish(&self, uid: &str, target_dir: &Path) -> std::io::Result<PathBuf> {
        let path = target_dir.join(SOCKET_NAME);
        // Held throughout: a `remove` of the sandbox waits, so nothing is
        // published for a sandbox no longer served.
        let running = self.running.lock().expect("broker registry poisoned");
        let proxy = match running.get(uid) {
            Some((proxy, handle)) if !handle.is_finished() => proxy.clone(),
            _ => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("no broker serves sandbox {uid}"),
                ));
            }
        };
        let mut published = self.published.lock().expect("broker registry poisoned");
        match published.get(target_dir) {
            Some((Holder::Sandbox(owner), _)) if owner != uid => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    format!("{} serves sandbox {owner}, not {uid}", target_dir.display()),
                ));
            }
            Some((Holder::Sandbox(_), handle)) if !handle.is_finished() && path.symlink_metadata().is_ok() => {
                return Ok(path);
            }
            // A warm Pod claimed: the sandbox's socket replaces its own (its
            // connections end; the next ones reach the sandbox's broker).
            _ => {}
        }
        if let Some((_, handle)) = published.remove(target_dir) {
            handle.abort();
        }
        let listener = self.listen_in(target_dir)?;
        let handle = tokio::spawn(dockyard_docker_proxy::serve(listener, proxy));
        published.insert(target_dir.to_path_buf(), (Holder::Sandbox(uid.to_string()), handle));
        drop(running);
        Ok(path)
    }

    /// Serves the socket of a warm pool Pod (`pod_uid`) no Sandbox has claimed
    /// yet at `SOCKET_NAME` in `target_dir`: it answers only ping, version and
    /// info, so the Pod starts (its readiness probe pings) and nothing is ever
    /// made under a stand-in identity. Never replaces a sandbox's socket.
    /// Idempotent; the socket path.
    pub fn publish_warm(&self, pod_uid: &str, target_dir: &Path) -> std::io::Result<PathBuf> {
        let path = target_dir.join(SOCKET_NAME);
        let mut published = self.published.lock().expect("broker registry poisoned");
        match published.get(target_dir) {
            Some((Holder::Sandbox(owner), _)) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    format!("{} serves sandbox {owner}: the Pod was claimed", target_dir.display()),
                ));
            }
            Some((Holder::Warm(_), handle)) if !handle.is_finished() && path.symlink_metadata().is_ok() => {
                return Ok(path);
            }
            _ => {}
        }
        if let Some((_, handle)) = published.remove(target_dir) {
            handle.abort();
        }
        let scope = Scope { uid: format!("warm-{pod_uid}"), unclaimed: true, ..Scope::default() };
        let lookups =
            NodeLookups { docker: self.docker.clone(), ledger: self.ledger.clone(), firewall: self.firewall.clone() };
        let proxy = Arc::new(Proxy::new(scope, self.daemon_socket.clone(), lookups));
        let listener = self.listen_in(target_dir)?;
        let handle = tokio::spawn(dockyard_docker_proxy::serve(listener, proxy));
        published.insert(target_dir.to_path_buf(), (Holder::Warm(pod_uid.to_string()), handle));
        Ok(path)
    }

    /// Whose socket a live task serves in `target_dir`, if any.
    pub fn holder(&self, target_dir: &Path) -> Option<Holder> {
        let published = self.published.lock().expect("broker registry poisoned");
        published.get(target_dir).filter(|(_, handle)| !handle.is_finished()).map(|(holder, _)| holder.clone())
    }

    /// Stops serving the socket published in `target_dir` and removes it
    /// (the kubelet removes the directory). Idempotent.
    pub fn unpublish(&self, target_dir: &Path) -> std::io::Result<()> {
        if let Some((_, handle)) = self.published.lock().expect("broker registry poisoned").remove(target_dir) {
            handle.abort();
        }
        match std::fs::remove_file(target_dir.join(SOCKET_NAME)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Stops serving a sandbox (its published sockets too) and removes its
    /// socket directory. Idempotent.
    pub fn remove(&self, uid: &str) -> std::io::Result<()> {
        if let Some((_, handle)) = self.running.lock().expect("broker registry poisoned").remove(uid) {
            handle.abort();
        }
        let targets: Vec<PathBuf> = {
            let published = self.published.lock().expect("broker registry poisoned");
            let holder = Holder::Sandbox(uid.to_string());
            published.iter().filter(|(_, (owner, _))| *owner == holder).map(|(dir, _)| dir.clone()).collect()
        };
        // Every published socket goes, even when one cannot be removed.
        let failed: Vec<std::io::Error> = targets.iter().filter_map(|dir| self.unpublish(dir).err()).collect();
        if let Some(first) = failed.into_iter().next() {
            return Err(first);
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
