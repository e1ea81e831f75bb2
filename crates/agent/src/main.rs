//! `dockyard-agent`: serves readiness, cleanup and the Docker socket broker on each node.
//!
//! Not built yet: this binary is filled in by issue #5. It exists so the
//! workspace layout is complete and every crate compiles.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!("dockyard-agent is not implemented yet (issue #5)");
    ExitCode::from(2)
}
