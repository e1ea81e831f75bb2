//! Installs Dockyard's seccomp profiles where the kubelet reads `Localhost`
//! profiles (`<kubelet root>/seccomp`), before any sandbox Pod on the node
//! needs one. Files are named by their content (`dockyard_api::seccomp`), so
//! installing never changes a file a running Pod's container was started with;
//! older files stay, for Pods rendered by an older controller.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use dockyard_api::seccomp::{DIND_PROFILE, dind_profile_path};

/// Writes the DinD sidecar's profile under `seccomp_dir` unless it is there
/// already; returns its path. The write is atomic: a kubelet reading
/// concurrently sees no file or the whole file.
pub fn install(seccomp_dir: &Path) -> std::io::Result<PathBuf> {
    let path = seccomp_dir.join(dind_profile_path());
    if std::fs::read(&path).is_ok_and(|existing| existing == DIND_PROFILE.as_bytes()) {
        return Ok(path);
    }
    std::fs::create_dir_all(path.parent().expect("the profile path has a directory"))?;
    let partial = path.with_extension(format!("json.partial-{}", std::process::id()));
    let mut file = std::fs::File::create(&partial)?;
    file.write_all(DIND_PROFILE.as_bytes())?;
    file.set_permissions(std::fs::Permissions::from_mode(0o644))?;
    file.sync_all()?;
    std::fs::rename(&partial, &path)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installs_once_and_repairs_a_changed_file() {
        let dir = std::env::temp_dir().join(format!("dockyard-seccomp-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = install(&dir).unwrap();
        assert!(path.starts_with(dir.join("dockyard")));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), DIND_PROFILE);
        std::fs::write(&path, "{}").unwrap();
        assert_eq!(install(&dir).unwrap(), path);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), DIND_PROFILE, "a damaged profile is rewritten");
        let entries: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(entries.len(), 1, "no temporary file left behind");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
