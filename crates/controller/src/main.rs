//! `dockyard-controller`: reconciles Sandboxes into Pods.
//!
//! Not built yet: this binary is filled in by issue #4. It exists so the
//! workspace layout is complete and every crate compiles.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!("dockyard-controller is not implemented yet (issue #4)");
    ExitCode::from(2)
}
