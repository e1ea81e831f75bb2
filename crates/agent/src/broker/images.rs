//! Which images each sandbox pulled, built, loaded, imported, committed or
//! tagged: the node daemon's images are shared by every sandbox on the node,
//! so ownership is the agent's to remember. One small JSON file per sandbox
//! in the agent's state directory, so an agent restart forgets nothing.

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bollard::Docker;
use bollard::query_parameters::RemoveImageOptionsBuilder;
use dockyard_docker_policy::reference;

use crate::docker::{is_conflict, is_not_found};

/// The image IDs each sandbox owns.
pub struct ImageLedger {
    dir: PathBuf,
    owned: Mutex<HashMap<String, BTreeSet<String>>>,
}

impl ImageLedger {
    /// Opens (and loads) the ledger kept in `dir`.
    pub fn open(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut owned = HashMap::new();
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            let Some(uid) =
                path.file_stem().and_then(|s| s.to_str()).filter(|_| path.extension().is_some_and(|e| e == "json"))
            else {
                continue;
            };
            match serde_json::from_slice::<BTreeSet<String>>(&std::fs::read(&path)?) {
                Ok(ids) => {
                    owned.insert(uid.to_string(), ids);
                }
                Err(e) => tracing::warn!(path = %path.display(), error = %e, "ignoring an unreadable image ledger"),
            }
        }
        Ok(Self { dir: dir.to_path_buf(), owned: Mutex::new(owned) })
    }

    pub fn owns(&self, uid: &str, id: &str) -> bool {
        self.owned.lock().expect("ledger poisoned").get(uid).is_some_and(|ids| ids.contains(id))
    }

    /// The sandboxes other than `uid` that own `id`.
    pub fn other_owners(&self, uid: &str, id: &str) -> Vec<String> {
        let owned = self.owned.lock().expect("ledger poisoned");
        owned.iter().filter(|(owner, ids)| *owner != uid && ids.contains(id)).map(|(owner, _)| owner.clone()).collect()
    }

    pub fn images(&self, uid: &str) -> BTreeSet<String> {
        self.owned.lock().expect("ledger poisoned").get(uid).cloned().unwrap_or_default()
    }

    /// Records that `uid` owns `id`, on disk before it counts.
    pub fn record(&self, uid: &str, id: &str) -> io::Result<()> {
        let mut owned = self.owned.lock().expect("ledger poisoned");
        let ids = owned.entry(uid.to_string()).or_default();
        if ids.insert(id.to_string()) {
            let path = self.dir.join(format!("{uid}.json"));
            let temporary = path.with_extension("json.tmp");
            std::fs::write(&temporary, serde_json::to_vec(ids)?)?;
            std::fs::rename(&temporary, &path)?;
        }
        Ok(())
    }

    /// Removes the images only `uid` owns (not shared by its class, not owned
    /// by another sandbox, not used by any container), then forgets it.
    /// Returns the IDs removed.
    pub async fn cleanup(&self, docker: &Docker, uid: &str, shared: &[String]) -> io::Result<Vec<String>> {
        let shared: Vec<String> = shared.iter().map(|r| reference::normalize(r)).collect();
        let mut removed = Vec::new();
        for id in self.images(uid) {
            if !self.other_owners(uid, &id).is_empty() {
                continue;
            }
            let tags = match docker.inspect_image(&id).await {
                Ok(image) => image.repo_tags.unwrap_or_default(),
                Err(e) if is_not_found(&e) => continue,
                Err(e) => return Err(io::Error::other(e)),
            };
            if tags.iter().any(|t| shared.contains(&reference::normalize(t))) {
                continue;
            }
            // Never forced: an image a container still uses stays.
            let options = || Some(RemoveImageOptionsBuilder::default().force(false).noprune(false).build());
            let mut gone = false;
            for name in tags.iter().chain(std::iter::once(&id)) {
                match docker.remove_image(name, options(), None).await {
                    Ok(_) => gone = true,
                    Err(e) if is_not_found(&e) || is_conflict(&e) => {}
                    Err(e) => return Err(io::Error::other(e)),
                }
            }
            if gone {
                removed.push(id);
            }
        }
        self.forget(uid)?;
        Ok(removed)
    }

    /// Forgets a sandbox (after its cleanup).
    pub fn forget(&self, uid: &str) -> io::Result<()> {
        self.owned.lock().expect("ledger poisoned").remove(uid);
        match std::fs::remove_file(self.dir.join(format!("{uid}.json"))) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ownership_survives_a_reopen_and_is_per_sandbox() {
        let dir = std::env::temp_dir().join(format!("dockyard-ledger-{}", std::process::id()));
        let ledger = ImageLedger::open(&dir).unwrap();
        ledger.record("a", "sha256:1").unwrap();
        ledger.record("b", "sha256:1").unwrap();
        ledger.record("b", "sha256:2").unwrap();
        let reopened = ImageLedger::open(&dir).unwrap();
        assert!(reopened.owns("a", "sha256:1") && !reopened.owns("a", "sha256:2"));
        assert_eq!(reopened.other_owners("a", "sha256:1"), ["b"]);
        reopened.forget("b").unwrap();
        assert!(ImageLedger::open(&dir).unwrap().other_owners("a", "sha256:1").is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
