//! The DinD sidecar's policy proxy: the workload's Docker socket is served
//! here, in front of the sidecar's own dockerd (whose raw socket lives where
//! the workload cannot reach it), with the same typed policy core as the
//! node agent's broker (`dockyard-docker-proxy` over `dockyard-docker-policy`):
//! privileged, added capabilities, unconfined profiles, devices, the
//! sidecar's namespaces, binds outside the workspace and cgroup parents are
//! refused with the option and the reason named.
//!
//! The lookups are [`OwnDaemon`]'s: every object in this daemon is the
//! sandbox's; bind sources must stay inside the workspace, which the sidecar
//! mounts at the same path as the workload.

use std::os::unix::fs::{PermissionsExt, chown};
use std::path::PathBuf;
use std::sync::Arc;

use dockyard_docker_policy::{Rules, Scope, WorkspaceMapping};
use dockyard_docker_proxy::{OwnDaemon, Proxy};

/// What the proxy serves, and where.
#[derive(Clone, Debug)]
pub struct ProxySettings {
    /// The workload's socket (served here).
    pub socket: PathBuf,
    /// dockerd's own socket.
    pub raw_socket: PathBuf,
    /// Group of the workload's socket.
    pub group: u32,
    /// The workspace's mount path (the same in the workload and the sidecar).
    pub workspace: Option<PathBuf>,
    /// Privileged containers pass (`Rules::privileged_containers`): the class's
    /// runtime class isolates the Pod.
    pub privileged_containers: bool,
}

/// The cgroup dockerd (cgroupfs driver) puts its containers in by default;
/// inside the sidecar's cgroup namespace, that is under the sidecar's cgroup.
const DAEMON_CGROUP_PARENT: &str = "/docker";

/// The scope of the sandbox's own daemon.
pub fn scope(settings: &ProxySettings) -> Scope {
    Scope {
        uid: "dind".into(),
        workspace: settings
            .workspace
            .clone()
            .map(|path| WorkspaceMapping { sandbox_path: path.clone(), node_path: path }),
        cgroup_parent: Some(DAEMON_CGROUP_PARENT.into()),
        // Its own daemon's default bridge is the sandbox's alone.
        own_network: None,
        rules: Rules { privileged_containers: settings.privileged_containers, ..Rules::own_daemon() },
        unclaimed: false,
    }
}

/// Binds the workload's socket (root, the given group, 0660) and serves it on
/// a thread of its own until the process ends.
pub fn spawn(settings: ProxySettings) -> std::io::Result<std::thread::JoinHandle<()>> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let listener = {
        let _entered = runtime.enter();
        match std::fs::remove_file(&settings.socket) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let listener = tokio::net::UnixListener::bind(&settings.socket)?;
        chown(&settings.socket, Some(0), Some(settings.group))?;
        std::fs::set_permissions(&settings.socket, std::fs::Permissions::from_mode(0o660))?;
        listener
    };
    let proxy = Arc::new(Proxy::new(scope(&settings), settings.raw_socket.clone(), OwnDaemon));
    std::thread::Builder::new()
        .name("docker-proxy".into())
        .spawn(move || runtime.block_on(dockyard_docker_proxy::serve(listener, proxy)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_own_daemon_scope_maps_the_workspace_to_itself() {
        let settings = ProxySettings {
            socket: "/var/run/dockyard/docker.sock".into(),
            raw_socket: "/run/dockyard-dind/docker.sock".into(),
            group: 2375,
            workspace: Some("/workspace".into()),
            privileged_containers: false,
        };
        let own = scope(&settings);
        let workspace = own.workspace.unwrap();
        assert_eq!(workspace.sandbox_path, workspace.node_path);
        assert!(own.rules.publish_anywhere && own.rules.allow_remote_fetch);
        assert!(!own.rules.privileged_containers, "only when the class says so");
        assert_eq!(own.cgroup_parent.as_deref(), Some("/docker"));
        let isolated = scope(&ProxySettings { privileged_containers: true, ..settings });
        assert!(isolated.rules.privileged_containers && isolated.rules.publish_anywhere);
    }
}
