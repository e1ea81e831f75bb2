//! Writes Dockyard's CRDs to `crds/` (or the directory given as the first
//! argument). `--check` compares instead of writing and fails on any drift.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut check = false;
    let repo = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    // The CRDs go to crds/ and into the Helm chart, which templates them.
    let mut dirs = vec![repo.join("crds"), repo.join("charts/dockyard/files/crds")];
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--check" => check = true,
            "-h" | "--help" => {
                println!("usage: crdgen [--check] [DIR]   (DIR defaults to crds/ and charts/dockyard/files/crds/)");
                return ExitCode::SUCCESS;
            }
            other => dirs = vec![PathBuf::from(other)],
        }
    }
    let mut stale = Vec::new();
    for (file, crd) in dockyard_api::crd::all() {
        let yaml = match dockyard_api::crd::to_yaml(&crd) {
            Ok(yaml) => yaml,
            Err(err) => {
                eprintln!("error: cannot render {file}: {err}");
                return ExitCode::FAILURE;
            }
        };
        for dir in &dirs {
            let path = dir.join(file);
            if check {
                if std::fs::read_to_string(&path).ok().as_deref() != Some(yaml.as_str()) {
                    stale.push(path.display().to_string());
                }
            } else if let Err(err) = std::fs::write(&path, &yaml) {
                eprintln!("error: cannot write {}: {err}", path.display());
                return ExitCode::FAILURE;
            } else {
                println!("wrote {}", path.display());
            }
        }
    }
    if !stale.is_empty() {
        eprintln!("error: stale CRDs (run `cargo run -p dockyard-api --bin crdgen`): {}", stale.join(", "));
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
