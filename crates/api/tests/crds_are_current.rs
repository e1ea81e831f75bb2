//! The CRDs committed under `crds/` must be exactly what the Rust types generate.

#[test]
fn committed_crds_match_the_types() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for dir in ["crds", "charts/dockyard/files/crds"] {
        for (file, crd) in dockyard_api::crd::all() {
            let generated = dockyard_api::crd::to_yaml(&crd).expect("CRD renders as YAML");
            let committed = std::fs::read_to_string(repo.join(dir).join(file)).unwrap_or_default();
            assert!(
                committed == generated,
                "{dir}/{file} is stale: run `cargo run -p dockyard-api --bin crdgen` and commit the result"
            );
        }
    }
}
