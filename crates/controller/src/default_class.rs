//! The chart's default SandboxClass, applied by the controller at start
//! instead of by a Helm hook: an upgrade changes it in place (server-side
//! apply), never deletes and re-creates it, so no Sandbox is ever without its
//! class, even for a moment; `helm uninstall` leaves it with the CRDs.

use std::path::Path;
use std::time::Duration;

use dockyard_api::SandboxClass;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client, ResourceExt};
use tracing::{info, warn};

/// The field manager of the chart's values in the class: fields an
/// administrator sets with `kubectl` under another manager stay theirs
/// unless the values set them too.
pub const FIELD_MANAGER: &str = "dockyard-default-class";

/// Why the class file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ClassFileError {
    #[error("cannot read the default class file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("the default class file {path} is not a SandboxClass: {source}")]
    Parse { path: String, source: serde_json::Error },
}

/// Reads the class the chart rendered (JSON, a whole SandboxClass).
pub fn read(path: &Path) -> Result<SandboxClass, ClassFileError> {
    let shown = path.display().to_string();
    let text = std::fs::read(path).map_err(|source| ClassFileError::Read { path: shown.clone(), source })?;
    serde_json::from_slice(&text).map_err(|source| ClassFileError::Parse { path: shown, source })
}

/// Applies `class` until the API server takes it (its CRD may be moments
/// old at a first install), waiting longer after each refusal.
pub async fn apply(client: Client, class: SandboxClass) {
    let api: Api<SandboxClass> = Api::all(client);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let name = class.name_any();
    let mut delay = Duration::from_secs(1);
    loop {
        match api.patch(&name, &params, &Patch::Apply(&class)).await {
            Ok(_) => {
                info!(class = %name, "applied the default SandboxClass");
                return;
            }
            Err(e) => warn!(class = %name, error = %e, retry_in = ?delay, "cannot apply the default SandboxClass"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(30));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_class_file_is_read_or_refused_naming_the_problem() {
        let dir = std::env::temp_dir().join(format!("dockyard-default-class-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.json");
        std::fs::write(
            &good,
            r#"{"apiVersion": "dockyard.dev/v1alpha1", "kind": "SandboxClass", "metadata": {"name": "default"},
                "spec": {"default": true, "allowedDockerModes": ["dind", "none"]}}"#,
        )
        .unwrap();
        let class = read(&good).unwrap();
        assert_eq!(class.name_any(), "default");
        assert!(class.spec.default);
        let bad = dir.join("bad.json");
        std::fs::write(
            &bad,
            r#"{"apiVersion": "dockyard.dev/v1alpha1", "kind": "SandboxClass",
            "metadata": {"name": "default"}, "spec": {"allowedDockerModes": ["podman"]}}"#,
        )
        .unwrap();
        let error = read(&bad).unwrap_err().to_string();
        assert!(error.contains("bad.json") && error.contains("podman"), "{error}");
        assert!(read(&dir.join("missing.json")).unwrap_err().to_string().contains("cannot read"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
