//! Generates the agent's gRPC code from `proto/` with protoc (Debian's
//! `protobuf-compiler`; `.ci/run` and the e2e scripts install it).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Read when it runs, not when it is compiled: cargo reuses a compiled build
    // script for another checkout of the workspace sharing the target directory.
    let root = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let file = root.join("dockyard/agent/v1/agent.proto");
    println!("cargo:rerun-if-changed={}", file.display());
    tonic_prost_build::configure().compile_protos(&[file], &[root])?;
    Ok(())
}
