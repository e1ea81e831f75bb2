//! The CRDs committed under `crds/` must be exactly what the Rust types generate.

#[test]
fn committed_crds_match_the_types() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crds");
    for (file, crd) in dockyard_api::crd::all() {
        let generated = dockyard_api::crd::to_yaml(&crd).expect("CRD renders as YAML");
        let committed = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
        assert!(
            committed == generated,
            "crds/{file} is stale: run `cargo run -p dockyard-api --bin crdgen` and commit the result"
        );
    }
}
