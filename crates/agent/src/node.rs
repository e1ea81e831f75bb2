//! The agent's work on its node, shared by the gRPC service, the Pod watch and
//! the orphan sweep: prepare a sandbox, check its Docker endpoint, list and
//! clean up what it created.

use std::collections::HashMap;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bollard::Docker;
use dockyard_api::render::names;
use dockyard_docker_policy::Scope;
use k8s_openapi::jiff::Timestamp;
use tracing::{info, warn};

use crate::broker::Brokers;
use crate::broker::images::ImageLedger;
use crate::cgroup::{self, CgroupDriver, QosClass};
use crate::docker;
use crate::firewall::Firewall;
use crate::resources::{self, SandboxResources};
use crate::state::{InvalidUid, Mode, SandboxRecord, StateDir, validate_uid};

/// How the agent is set up on its node (flags of `dockyard-agent`).
#[derive(Clone, Debug)]
pub struct Settings {
    pub node_name: String,
    /// The node's Docker daemon.
    pub docker_socket: PathBuf,
    /// One broker socket directory per sandbox UID under this node directory.
    pub socket_root: PathBuf,
    /// Group of the broker sockets (the group the sandbox's user gets).
    pub socket_gid: u32,
    pub state_dir: PathBuf,
    /// The kubelet's root directory (where Pod volumes are on the node).
    pub kubelet_root: PathBuf,
    /// Seconds a container gets between SIGTERM and SIGKILL in a cleanup.
    pub stop_grace_seconds: i32,
    /// The kubelet's `cgroupRoot` (a cgroupfs path, `/` by default): Pods'
    /// cgroups lie under `<root>/kubepods`.
    pub kubelet_cgroup_root: String,
    /// The kubelet's `cgroupDriver`; the node's dockerd must use the same one,
    /// or its containers could not be put in the Pods' cgroups.
    pub kubelet_cgroup_driver: CgroupDriver,
    /// The node's `/sys/fs/cgroup` as the agent sees it, when mounted: a Pod's
    /// cgroup is used only once it exists there (a wrong cgroup root would
    /// otherwise give containers a new, unlimited cgroup).
    pub host_cgroup_mount: Option<PathBuf>,
    /// The node daemon's unused BuildKit cache is pruned down to this many
    /// bytes after each cleanup: the layer cache is shared by content and
    /// cannot be attributed to a sandbox, so it is bounded per node instead.
    /// `None`: left to the daemon's builder GC.
    pub build_cache_budget_bytes: Option<u64>,
    /// The node's rules for brokered containers (`crate::firewall`): `nft`
    /// and the daemon's default bridge; `None`: not written (tests).
    pub firewall: Option<FirewallSettings>,
}

/// Where the agent writes the node's rules for brokered containers.
#[derive(Clone, Debug)]
pub struct FirewallSettings {
    /// The `nft` program.
    pub nft: PathBuf,
    /// The node daemon's default bridge (`docker0`).
    pub default_bridge: String,
}

impl Settings {
    /// An agent for `node_name` on the daemon at `docker_socket` whose files
    /// (sockets, state, a stand-in kubelet root) all lie under `dir`, the
    /// kubelet's cgroups unchecked: for tests against a real daemon.
    pub fn under(dir: &Path, node_name: &str, docker_socket: PathBuf) -> Self {
        Self {
            node_name: node_name.into(),
            docker_socket,
            socket_root: dir.join("sockets"),
            socket_gid: 0,
            state_dir: dir.join("state"),
            kubelet_root: dir.join("kubelet"),
            stop_grace_seconds: 1,
            kubelet_cgroup_root: "/".into(),
            kubelet_cgroup_driver: CgroupDriver::Cgroupfs,
            host_cgroup_mount: None,
            build_cache_budget_bytes: None,
            firewall: None,
        }
    }
}

/// Why the agent could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    InvalidUid(#[from] InvalidUid),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("sandbox {0} is unknown on node {1}: nothing was prepared for it and it has no Docker objects here")]
    UnknownSandbox(String, String),
    #[error("the node's Docker daemon failed: {0}")]
    Docker(#[from] bollard::errors::Error),
    #[error("the agent's files on the node: {0}")]
    Io(#[from] io::Error),
}

/// Why a host-socket sandbox's cgroup parent is not known (its broker then
/// refuses to create containers).
#[derive(Debug, thiserror::Error)]
pub enum CgroupUnknown {
    /// Nothing is wrong, it is too early: asked again at the Pod's next update.
    #[error("{0}")]
    NotYet(String),
    /// The node is set up so that containers cannot be put in Pods' cgroups.
    #[error("{0}")]
    Misconfigured(String),
    /// The node's dockerd did not answer; whatever was known stays.
    #[error("cannot ask the node's Docker daemon for its cgroup driver: {0}")]
    Docker(#[from] bollard::errors::Error),
}

/// What preparing a sandbox for one of its Pods did.
#[derive(Debug, PartialEq)]
pub enum Prepared {
    /// Ready; the socket path on the node, if the mode has one.
    Ready(Option<PathBuf>),
    /// Nothing: the sandbox was cleaned up after the Pod appeared.
    CleanedUp,
}

/// Whether `cleaned_up` says the sandbox was cleaned up after a Pod created at
/// `pod_created`. A creationTimestamp has whole seconds: a Pod of the cleanup's
/// own second is taken as newer (a resumed sandbox's Pod is often made within
/// a second of the suspend's cleanup; e2e showed one left without a broker).
/// An older Pod of that second comes back only as deleted, and is not prepared.
fn cleaned_after(cleaned_up: &HashMap<String, Timestamp>, uid: &str, pod_created: Option<Timestamp>) -> bool {
    match (cleaned_up.get(uid), pod_created) {
        (Some(cleaned), Some(created)) => created.as_second() < cleaned.as_second(),
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// How long the daemon's cgroup driver is remembered.
const DAEMON_DRIVER_TTL: Duration = Duration::from_secs(60);

/// The result of a readiness check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Readiness {
    pub ready: bool,
    pub server_version: String,
    pub latency: Duration,
    pub message: String,
}

/// What the node's Docker daemon and Dockyard's data look like.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    pub server_version: String,
    pub api_version: String,
    pub socket_gid: u32,
    pub storage_driver: String,
    pub dockyard_disk_usage_bytes: u64,
    /// Whether the node's Docker daemon answered, or why not.
    pub docker: Result<(), String>,
}

pub struct Agent {
    pub settings: Settings,
    pub docker: Docker,
    pub brokers: Brokers,
    pub state: StateDir,
    /// The node's rules for brokered containers, when the agent writes them.
    pub firewall: Option<Arc<Firewall>>,
    /// Sandboxes cleaned up by this process, and when: the Pod watch must not
    /// bring them back for a Pod that was there before (still being removed),
    /// but must prepare a Pod created after (a suspended sandbox resumed).
    cleaned_up: Mutex<HashMap<String, Timestamp>>,
    /// The daemon's cgroup driver (`docker info`) and when it was asked.
    daemon_driver: Mutex<Option<(Instant, String)>>,
}

impl Agent {
    pub fn new(settings: Settings) -> Result<Self, AgentError> {
        let docker = docker::connect_node(&settings.docker_socket)?;
        let state = StateDir::open(&settings.state_dir)?;
        std::fs::create_dir_all(&settings.socket_root)?;
        let firewall = settings
            .firewall
            .as_ref()
            .map(|f| Arc::new(Firewall::new(docker.clone(), f.nft.clone(), f.default_bridge.clone())));
        let brokers = Brokers::new(
            settings.docker_socket.clone(),
            docker.clone(),
            settings.socket_root.clone(),
            settings.socket_gid,
            ImageLedger::open(&settings.state_dir.join("images"))?,
        )
        .with_firewall(firewall.clone());
        Ok(Self {
            settings,
            docker,
            brokers,
            state,
            firewall,
            cleaned_up: Mutex::default(),
            daemon_driver: Mutex::default(),
        })
    }

    /// After a start: serves the recorded sandboxes' sockets again and returns
    /// the cleanups a previous run left unfinished (the caller finishes them).
    pub fn restore(&self) -> Result<Vec<SandboxRecord>, AgentError> {
        for record in self.state.sandboxes()? {
            self.fence(&record);
            if record.mode == Mode::HostSocket
                && let Err(e) = self.brokers.ensure(scope(&record))
            {
                warn!(sandbox = %record.uid, error = %e, "cannot serve the broker socket again");
            }
        }
        Ok(self.state.pending_cleanups()?)
    }

    /// Whether this process cleaned up the sandbox after a Pod created at
    /// `pod_created` appeared (that Pod may linger a while; a newer one is a
    /// resumed sandbox). Pods' creation times have whole seconds: a Pod of the
    /// same second as the cleanup counts as newer (see `cleaned_after`).
    pub fn was_cleaned_up(&self, uid: &str, pod_created: Option<Timestamp>) -> bool {
        let cleaned_up = self.cleaned_up.lock().expect("cleanup registry poisoned");
        cleaned_after(&cleaned_up, uid, pod_created)
    }

    /// Sets up what `record`'s sandbox needs here for its Pod created at
    /// `pod_created` (the Pod watch); returns its socket path on the node, or
    /// `None` without touching anything when the sandbox was cleaned up after
    /// that Pod appeared. Checked under the lock cleanups take: a cleanup that
    /// ran while the watch looked up the Pod's cgroup and rules wins, and
    /// nothing comes back for a sandbox that is gone.
    pub fn prepare_for_pod(
        &self,
        record: SandboxRecord,
        pod_created: Option<Timestamp>,
    ) -> Result<Prepared, AgentError> {
        let mut cleaned_up = self.cleaned_up.lock().expect("cleanup registry poisoned");
        if cleaned_after(&cleaned_up, &record.uid, pod_created) {
            return Ok(Prepared::CleanedUp);
        }
        cleaned_up.remove(&record.uid);
        self.prepare_locked(record).map(Prepared::Ready)
    }

    /// A sandbox Pod of `uid` is gone from the node. When the agent holds no
    /// record of the sandbox (it was cleaned up, or never prepared here), the
    /// broker socket directory the kubelet created for that Pod's volume
    /// (`DirectoryOrCreate`, after the cleanup removed it) goes too; returns
    /// whether it removed one. Under the cleanup registry's lock, so it never
    /// races a prepare.
    pub fn pod_gone(&self, uid: &str) -> Result<bool, AgentError> {
        validate_uid(uid)?;
        let _cleaned_up = self.cleaned_up.lock().expect("cleanup registry poisoned");
        if self.state.sandbox(uid)?.is_some() || !self.brokers.socket_dir(uid).exists() {
            return Ok(false);
        }
        self.brokers.remove(uid)?;
        Ok(true)
    }

    /// Sets up what `record`'s sandbox needs here, on the controller's
    /// explicit request; returns its socket path on the node.
    pub fn prepare(&self, record: SandboxRecord) -> Result<Option<PathBuf>, AgentError> {
        let mut cleaned_up = self.cleaned_up.lock().expect("cleanup registry poisoned");
        cleaned_up.remove(&record.uid);
        self.prepare_locked(record)
    }

    /// `prepare`'s work; the caller holds the cleanup registry's lock.
    fn prepare_locked(&self, record: SandboxRecord) -> Result<Option<PathBuf>, AgentError> {
        validate_uid(&record.uid)?;
        if let Some(workspace) = &record.workspace
            && !(workspace.sandbox_path.is_absolute() && workspace.node_path.is_absolute())
        {
            return Err(AgentError::InvalidArgument(format!(
                "workspace paths must be absolute (workspace_mount_path `{}`, workspace_host_path `{}`)",
                workspace.sandbox_path.display(),
                workspace.node_path.display()
            )));
        }
        if self.state.sandbox(&record.uid)?.as_ref() != Some(&record) {
            self.state.save_sandbox(&record)?;
        }
        if self.fence(&record)
            && let Some(firewall) = self.firewall.clone()
        {
            tokio::spawn(async move { firewall.sync_logged("a sandbox prepared").await });
        }
        match record.mode {
            Mode::HostSocket => Ok(Some(self.brokers.ensure(scope(&record))?)),
            Mode::Dind => Ok(record.pod_uid.as_deref().map(|pod| self.dind_socket(pod))),
        }
    }

    /// Gives the firewall what fences `record`'s containers (host-socket
    /// sandboxes); whether it changed.
    fn fence(&self, record: &SandboxRecord) -> bool {
        match &self.firewall {
            Some(firewall) if record.mode == Mode::HostSocket => {
                firewall.set(&record.uid, record.pod_ip, record.rules.egress.clone())
            }
            _ => false,
        }
    }

    /// The cgroup of the Pod `pod_uid` (QoS class `qos_class`, its
    /// `status.qosClass`) as the node's dockerd names it: the cgroup parent of
    /// the containers its sandbox starts.
    pub async fn pod_cgroup_parent(&self, pod_uid: &str, qos_class: Option<&str>) -> Result<String, CgroupUnknown> {
        let qos = qos_class.and_then(QosClass::parse).ok_or_else(|| {
            CgroupUnknown::NotYet(format!("the Pod's QoS class is not known yet (status.qosClass {qos_class:?})"))
        })?;
        let kubelet = self.settings.kubelet_cgroup_driver;
        let daemon = self.daemon_cgroup_driver().await?;
        if CgroupDriver::from_docker(&daemon) != Some(kubelet) {
            return Err(CgroupUnknown::Misconfigured(format!(
                "the node's dockerd uses the cgroup driver {daemon:?} and the kubelet {:?} (the agent's \
                 --kubelet-cgroup-driver): containers cannot be put in Pods' cgroups; run dockerd with \
                 --exec-opt native.cgroupdriver={} or correct --kubelet-cgroup-driver",
                kubelet.as_str(),
                kubelet.as_str()
            )));
        }
        let root = &self.settings.kubelet_cgroup_root;
        let parent = cgroup::pod_cgroup_parent(root, kubelet, qos, pod_uid);
        if let Some(mount) = &self.settings.host_cgroup_mount {
            let relative = cgroup::pod_cgroup_dir(root, kubelet, qos, pod_uid);
            match cgroup::pod_cgroup_exists(mount, &relative) {
                Some(true) => {}
                Some(false) => {
                    return Err(CgroupUnknown::NotYet(format!(
                        "the Pod's cgroup {parent} does not exist (yet) under {} (if the Pod runs, check the \
                         agent's --kubelet-cgroup-root {root:?})",
                        mount.display()
                    )));
                }
                None => warn!(mount = %mount.display(), "no cgroup hierarchy there: Pods' cgroups are not checked"),
            }
        }
        Ok(parent)
    }

    /// The node's dockerd's cgroup driver (`docker info`), asked at most once a minute.
    async fn daemon_cgroup_driver(&self) -> Result<String, bollard::errors::Error> {
        if let Some((asked, driver)) = self.daemon_driver.lock().expect("driver cache poisoned").as_ref()
            && asked.elapsed() < DAEMON_DRIVER_TTL
        {
            return Ok(driver.clone());
        }
        let driver = self.docker.info().await?.cgroup_driver.map(|d| d.to_string()).unwrap_or_default();
        *self.daemon_driver.lock().expect("driver cache poisoned") = Some((Instant::now(), driver.clone()));
        Ok(driver)
    }

    fn pod_volume(&self, pod_uid: &str, volume: &str) -> PathBuf {
        self.settings.kubelet_root.join("pods").join(pod_uid).join("volumes/kubernetes.io~empty-dir").join(volume)
    }

    fn dind_socket(&self, pod_uid: &str) -> PathBuf {
        self.pod_volume(pod_uid, names::VOLUME_DOCKER_SOCKET).join("docker.sock")
    }

    /// The record of a sandbox this node serves.
    pub fn record(&self, uid: &str) -> Result<Option<SandboxRecord>, AgentError> {
        validate_uid(uid)?;
        Ok(self.state.sandbox(uid)?)
    }

    /// Whether the sandbox's Docker endpoint answers a ping and a version call.
    pub async fn readiness(&self, uid: &str) -> Result<Readiness, AgentError> {
        let record = self.record(uid)?.ok_or_else(|| self.unknown(uid))?;
        let socket = match (record.mode, record.pod_uid.as_deref()) {
            (Mode::HostSocket, _) => self.brokers.socket_path(uid),
            (Mode::Dind, Some(pod)) => self.dind_socket(pod),
            (Mode::Dind, None) => {
                return Ok(Readiness {
                    ready: false,
                    server_version: String::new(),
                    latency: Duration::ZERO,
                    message: "the sandbox's Pod is not known on this node yet".into(),
                });
            }
        };
        let started = Instant::now();
        let answer = async {
            let client = docker::connect(&socket)?;
            client.ping().await?;
            client.version().await
        };
        Ok(match tokio::time::timeout(Duration::from_secs(5), answer).await {
            Ok(Ok(version)) => Readiness {
                ready: true,
                server_version: version.version.unwrap_or_default(),
                latency: started.elapsed(),
                message: String::new(),
            },
            Ok(Err(e)) => Readiness {
                ready: false,
                server_version: String::new(),
                latency: started.elapsed(),
                message: format!("Docker at {} did not answer: {e}", socket.display()),
            },
            Err(_) => Readiness {
                ready: false,
                server_version: String::new(),
                latency: started.elapsed(),
                message: format!("Docker at {} did not answer within 5 s", socket.display()),
            },
        })
    }

    /// What the node holds for a sandbox, and the bytes of its DinD storage.
    pub async fn resources(&self, uid: &str) -> Result<(SandboxResources, u64), AgentError> {
        let record = self.record(uid)?;
        let found = resources::list(&self.docker, uid).await?;
        if record.is_none() && found.is_empty() {
            return Err(self.unknown(uid));
        }
        let storage = record
            .and_then(|r| r.pod_uid)
            .map(|pod| disk_usage(&self.pod_volume(&pod, names::VOLUME_DIND_DATA)))
            .unwrap_or(0);
        Ok((found, storage))
    }

    /// Removes everything a sandbox created here: its broker socket first (so
    /// it creates nothing more), then its Docker objects, then the agent's
    /// record. Written down before it starts, so a restart finishes it.
    pub async fn cleanup(&self, uid: &str, fallback: Option<SandboxRecord>) -> Result<SandboxResources, AgentError> {
        let record = match self.record(uid)? {
            Some(record) => record,
            None => match self.state.pending_cleanup(uid)? {
                Some(record) => record,
                // Never prepared here (or the agent lost its state), yet it may
                // have labelled objects: those are cleaned up under `fallback`.
                None => match fallback {
                    Some(fallback) if !resources::list(&self.docker, uid).await?.is_empty() => fallback,
                    _ => return Err(self.unknown(uid)),
                },
            },
        };
        self.state.begin_cleanup(&record)?;
        self.cleaned_up.lock().expect("cleanup registry poisoned").insert(uid.to_string(), Timestamp::now());
        self.brokers.remove(uid)?;
        let mut removed = resources::cleanup(&self.docker, uid, self.settings.stop_grace_seconds).await?;
        // Its BuildKit cache mounts are in its own namespace (the broker set
        // it), so they go with it; the layer cache is shared by content and
        // left to the daemon's builder GC (docs/architecture.md).
        let filter = dockyard_docker_policy::buildkit::cache_mount_filter(uid);
        let pruned = dockyard_docker_proxy::prune_build_cache(&self.settings.docker_socket, filter).await;
        log_pruned(uid, "the sandbox's build cache mounts", pruned);
        if let Some(budget) = self.settings.build_cache_budget_bytes {
            let trimmed = dockyard_docker_proxy::trim_build_cache(&self.settings.docker_socket, budget).await;
            log_pruned(uid, &format!("the node's build cache to its budget of {budget} bytes"), trimmed);
        }
        let shared = &record.rules.shared_images;
        for id in self.brokers.ledger().cleanup(&self.docker, uid, shared).await? {
            if !removed.images.contains(&id) {
                removed.images.push(id);
            }
        }
        self.state.forget_sandbox(uid)?;
        self.state.finish_cleanup(uid)?;
        // Its networks are gone: the rules go with them.
        if let Some(firewall) = &self.firewall {
            firewall.forget(uid);
            firewall.sync_logged("a sandbox cleaned up").await;
        }
        info!(sandbox = %uid, namespace = %record.namespace, name = %record.name,
              containers = removed.containers.len(), networks = removed.networks.len(),
              volumes = removed.volumes.len(), images = removed.images.len(), "cleaned up");
        Ok(removed)
    }

    /// What the node offers; without a Docker daemon (a containerd-only node)
    /// the Docker fields are empty and `docker` says why.
    pub async fn node_info(&self) -> Result<NodeInfo, AgentError> {
        let docker = async {
            let version = self.docker.version().await?;
            let info = self.docker.info().await?;
            let socket_gid = std::fs::metadata(&self.settings.docker_socket)?.gid();
            Ok::<_, AgentError>((version, info, socket_gid))
        };
        let (docker, (version, info, socket_gid)) = match docker.await {
            Ok(found) => (Ok(()), found),
            Err(_) if !self.settings.docker_socket.exists() => {
                let why = format!("no Docker daemon socket at {}", self.settings.docker_socket.display());
                (Err(why), Default::default())
            }
            Err(e) => (Err(e.to_string()), Default::default()),
        };
        let mut usage = disk_usage(&self.settings.socket_root) + disk_usage(&self.settings.state_dir);
        for record in self.state.sandboxes()? {
            if let Some(pod) = record.pod_uid {
                usage += disk_usage(&self.pod_volume(&pod, names::VOLUME_DIND_DATA));
            }
        }
        Ok(NodeInfo {
            docker,
            server_version: version.version.unwrap_or_default(),
            api_version: version.api_version.unwrap_or_default(),
            socket_gid,
            storage_driver: info.driver.unwrap_or_default(),
            dockyard_disk_usage_bytes: usage,
        })
    }

    fn unknown(&self, uid: &str) -> AgentError {
        AgentError::UnknownSandbox(uid.to_string(), self.settings.node_name.clone())
    }
}

/// What the broker of a host-socket sandbox serves: its UID, workspace,
/// cgroup parent and its class's rules, all from the agent's record.
fn scope(record: &SandboxRecord) -> Scope {
    Scope {
        uid: record.uid.clone(),
        workspace: record.workspace.clone(),
        cgroup_parent: record.cgroup_parent.clone(),
        own_network: Some(dockyard_docker_policy::scope::own_network_name(&record.uid)),
        rules: record.rules.clone(),
        unclaimed: false,
    }
}

/// Logs what a BuildKit cache prune after `uid`'s cleanup removed, or why it
/// could not (the cleanup goes on either way: the daemon's builder GC remains).
fn log_pruned(uid: &str, what: &str, pruned: Result<Vec<dockyard_docker_policy::buildkit::UsageRecord>, String>) {
    match pruned {
        Ok(records) if !records.is_empty() => {
            let bytes: i64 = records.iter().map(|r| r.size).sum();
            info!(sandbox = %uid, records = records.len(), bytes, "pruned {what}");
        }
        Ok(_) => {}
        Err(e) => warn!(sandbox = %uid, error = %e, "cannot prune {what}"),
    }
}

/// Bytes of the files under `path` (0 when it does not exist); does not follow symlinks.
pub fn disk_usage(path: &Path) -> u64 {
    let Ok(metadata) = std::fs::symlink_metadata(path) else { return 0 };
    if !metadata.is_dir() {
        return metadata.blocks() * 512;
    }
    std::fs::read_dir(path)
        .map(|entries| entries.filter_map(Result::ok).map(|e| disk_usage(&e.path())).sum())
        .unwrap_or(0)
}
