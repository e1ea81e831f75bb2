//! Generates the gRPC code from `proto/` with protoc (Debian's
//! `protobuf-compiler`, and `libprotobuf-dev` for the well-known types the CSI
//! spec imports; `.ci/run` and the e2e scripts install both).

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Read when it runs, not when it is compiled: cargo reuses a compiled build
    // script for another checkout of the workspace sharing the target directory.
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let third_party = root.join("third_party");
    let files = [
        root.join("dockyard/agent/v1/agent.proto"),
        third_party.join("csi/v1/csi.proto"),
        third_party.join("pluginregistration/v1/api.proto"),
    ];
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    // Default stubs: a CSI method the agent does not implement (and does not
    // announce in its capabilities) answers UNIMPLEMENTED, as the spec asks.
    tonic_prost_build::configure().generate_default_stubs(true).compile_protos(&files, &[root, third_party])?;
    Ok(())
}
