//! What the agent must remember across restarts, as small JSON files in its
//! state directory on the node (never in a directory a sandbox can see):
//! the sandboxes it serves, and the cleanups it has started but not finished.

use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use dockyard_docker_policy::{Rules, WorkspaceMapping};

/// Docker mode of a sandbox, as the agent serves it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Mode {
    Dind,
    HostSocket,
}

/// A sandbox this node serves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SandboxRecord {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub mode: Mode,
    /// The sandbox's current Pod, when known (finds its DinD socket and storage).
    #[serde(default)]
    pub pod_uid: Option<String>,
    /// Host-socket mode: the workspace inside the sandbox and on the node.
    #[serde(default)]
    pub workspace: Option<WorkspaceMapping>,
    /// Host-socket mode: the Pod's cgroup as the node's dockerd names it, the
    /// parent of every container the sandbox starts. `None` while unknown:
    /// the broker then refuses to create containers.
    #[serde(default)]
    pub cgroup_parent: Option<String>,
    /// Host-socket mode: what the sandbox's class lets it do on the node's
    /// daemon (the strictest when unknown).
    #[serde(default)]
    pub rules: Rules,
    /// Host-socket mode: its current Pod's address, which alone reaches its
    /// containers through the node's rules (`crate::firewall`).
    #[serde(default)]
    pub pod_ip: Option<IpAddr>,
}

impl SandboxRecord {
    /// A sandbox the agent never prepared (or whose record it lost): enough
    /// to clean up its labelled Docker objects under its UID.
    pub fn unprepared(namespace: String, name: String, uid: String) -> Self {
        Self {
            namespace,
            name,
            uid,
            mode: Mode::HostSocket,
            pod_uid: None,
            workspace: None,
            cgroup_parent: None,
            rules: Rules::default(),
            pod_ip: None,
        }
    }
}

/// Why a sandbox UID cannot be used as a file name.
#[derive(Debug, thiserror::Error)]
#[error("sandbox uid `{0}` is not a Kubernetes UID (lower-case letters, digits and '-', 1 to 63 characters)")]
pub struct InvalidUid(pub String);

/// Sandbox UIDs name files and directories: only what Kubernetes generates is accepted.
pub fn validate_uid(uid: &str) -> Result<(), InvalidUid> {
    let valid =
        (1..=63).contains(&uid.len()) && uid.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if valid { Ok(()) } else { Err(InvalidUid(uid.to_string())) }
}

/// The agent's state directory.
#[derive(Clone, Debug)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    pub fn open(root: &Path) -> io::Result<Self> {
        for dir in ["sandboxes", "cleanups"] {
            std::fs::create_dir_all(root.join(dir))?;
        }
        Ok(Self { root: root.to_path_buf() })
    }

    fn file(&self, dir: &str, uid: &str) -> PathBuf {
        self.root.join(dir).join(format!("{uid}.json"))
    }

    fn write(&self, dir: &str, record: &SandboxRecord) -> io::Result<()> {
        let path = self.file(dir, &record.uid);
        let temporary = path.with_extension("json.tmp");
        std::fs::write(&temporary, serde_json::to_vec_pretty(record)?)?;
        std::fs::rename(&temporary, &path)
    }

    fn read_all(&self, dir: &str) -> io::Result<Vec<SandboxRecord>> {
        let mut records = Vec::new();
        for entry in std::fs::read_dir(self.root.join(dir))? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "json") {
                match std::fs::read(&path).map(|bytes| serde_json::from_slice::<SandboxRecord>(&bytes)) {
                    Ok(Ok(record)) => records.push(record),
                    Ok(Err(e)) => tracing::warn!(path = %path.display(), error = %e, "ignoring an unreadable record"),
                    Err(e) => return Err(e),
                }
            }
        }
        records.sort_by(|a, b| a.uid.cmp(&b.uid));
        Ok(records)
    }

    fn read_one(&self, dir: &str, uid: &str) -> io::Result<Option<SandboxRecord>> {
        match std::fs::read(self.file(dir, uid)) {
            Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn remove(&self, dir: &str, uid: &str) -> io::Result<()> {
        match std::fs::remove_file(self.file(dir, uid)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    pub fn save_sandbox(&self, record: &SandboxRecord) -> io::Result<()> {
        self.write("sandboxes", record)
    }
    pub fn sandbox(&self, uid: &str) -> io::Result<Option<SandboxRecord>> {
        self.read_one("sandboxes", uid)
    }
    pub fn sandboxes(&self) -> io::Result<Vec<SandboxRecord>> {
        self.read_all("sandboxes")
    }
    pub fn forget_sandbox(&self, uid: &str) -> io::Result<()> {
        self.remove("sandboxes", uid)
    }

    /// Written before a cleanup starts; removed when it has finished.
    pub fn begin_cleanup(&self, record: &SandboxRecord) -> io::Result<()> {
        self.write("cleanups", record)
    }
    pub fn pending_cleanups(&self) -> io::Result<Vec<SandboxRecord>> {
        self.read_all("cleanups")
    }
    pub fn pending_cleanup(&self, uid: &str) -> io::Result<Option<SandboxRecord>> {
        self.read_one("cleanups", uid)
    }
    pub fn finish_cleanup(&self, uid: &str) -> io::Result<()> {
        self.remove("cleanups", uid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_kubernetes_uids_name_files() {
        assert!(validate_uid("6f1c2b9e-8d0a-4c55-9f7e-0b1f5a3c2d10").is_ok());
        for bad in ["", "../etc", "a/b", "UPPER", &"a".repeat(64)] {
            assert!(validate_uid(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn records_and_pending_cleanups_survive_a_reopen() {
        let dir = std::env::temp_dir().join(format!("dockyard-state-test-{}", std::process::id()));
        let state = StateDir::open(&dir).unwrap();
        let record = SandboxRecord {
            namespace: "ns".into(),
            name: "a".into(),
            uid: "u1".into(),
            mode: Mode::HostSocket,
            pod_uid: None,
            workspace: Some(WorkspaceMapping { sandbox_path: "/workspace".into(), node_path: "/n".into() }),
            cgroup_parent: Some("/kubepods/burstable/podp".into()),
            rules: Rules { pids_limit: 64, log_drivers: vec!["journald".into()], ..Rules::default() },
            pod_ip: Some("10.213.64.9".parse().unwrap()),
        };
        state.save_sandbox(&record).unwrap();
        state.begin_cleanup(&record).unwrap();
        let reopened = StateDir::open(&dir).unwrap();
        assert_eq!(reopened.sandboxes().unwrap(), std::slice::from_ref(&record));
        assert_eq!(reopened.sandbox("u1").unwrap(), Some(record.clone()));
        assert_eq!(reopened.pending_cleanup("u1").unwrap(), Some(record.clone()));
        assert_eq!(reopened.pending_cleanups().unwrap(), [record]);
        reopened.finish_cleanup("u1").unwrap();
        reopened.forget_sandbox("u1").unwrap();
        reopened.forget_sandbox("u1").unwrap();
        assert!(reopened.pending_cleanups().unwrap().is_empty());
        assert_eq!(reopened.sandbox("u1").unwrap(), None);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_record_written_before_cgroups_and_rules_loads_with_the_strictest() {
        // As an agent without cgroup parents and class rules wrote it.
        let old = r#"{"namespace": "ns", "name": "a", "uid": "u1", "mode": "hostSocket", "podUid": "p1",
                      "workspace": {"sandbox_path": "/workspace", "node_path": "/n"}}"#;
        let record: SandboxRecord = serde_json::from_str(old).unwrap();
        assert_eq!(record.pod_uid.as_deref(), Some("p1"));
        assert_eq!(record.cgroup_parent, None);
        assert_eq!(record.rules, Rules::default());
        let oldest: SandboxRecord =
            serde_json::from_str(r#"{"namespace": "ns", "name": "a", "uid": "u1", "mode": "dind"}"#).unwrap();
        assert_eq!(
            oldest,
            SandboxRecord { mode: Mode::Dind, ..SandboxRecord::unprepared("ns".into(), "a".into(), "u1".into()) }
        );
        // And a new record round-trips.
        let new = SandboxRecord { cgroup_parent: Some("/kubepods/podp1".into()), ..record };
        assert_eq!(serde_json::from_slice::<SandboxRecord>(&serde_json::to_vec(&new).unwrap()).unwrap(), new);
    }
}
