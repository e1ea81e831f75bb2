//! `dockyard-entrypoint`: starts sandbox workloads with the privilege-separation model.
//!
//! Not built yet: this binary is filled in by issue #6. It exists so the
//! workspace layout is complete and every crate compiles.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!("dockyard-entrypoint is not implemented yet (issue #6)");
    ExitCode::from(2)
}
