//! Shows the Pod Dockyard would run for a Sandbox, without a cluster:
//!
//!     dockyard-render SANDBOX.yaml [--class CLASS.yaml] [--namespace NS]
//!
//! The Sandbox is validated and admitted by the class (or the built-in policy)
//! exactly as the controller does; a refusal prints the rule and exits 1.
//! Metadata only the API server sets (uid) gets a placeholder.

use std::collections::BTreeMap;
use std::process::ExitCode;

use dockyard_api::policy::{self, ClassChoice};
use dockyard_api::render::{self, RenderSettings};
use dockyard_api::{Sandbox, SandboxClass};

fn read<T: serde::de::DeserializeOwned>(path: &str) -> Result<T, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    serde_yaml::from_str(&text).map_err(|e| format!("{path} is not a valid object: {e}"))
}

const USAGE: &str = "usage: dockyard-render SANDBOX.yaml [--class CLASS.yaml] [--namespace NS]";

fn run() -> Result<String, String> {
    let mut args = std::env::args().skip(1);
    let (mut sandbox_path, mut class_path, mut namespace) = (None, None, "default".to_string());
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--class" => class_path = Some(args.next().ok_or("--class needs a file")?),
            "--namespace" | "-n" => namespace = args.next().ok_or("--namespace needs a name")?,
            "-h" | "--help" => return Ok(format!("{USAGE}\n")),
            _ if sandbox_path.is_none() => sandbox_path = Some(arg),
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    let sandbox_path = sandbox_path.ok_or(USAGE)?;
    let mut sandbox: Sandbox = read(&sandbox_path)?;
    sandbox.metadata.namespace.get_or_insert(namespace);
    sandbox.metadata.uid.get_or_insert_with(|| "00000000-0000-4000-8000-000000000000".into());
    let class: Option<SandboxClass> = class_path.as_deref().map(read).transpose()?;
    let choice = class.as_ref().map(ClassChoice::Class).unwrap_or(ClassChoice::BuiltIn);
    policy::admit(&sandbox, choice, &BTreeMap::new()).map_err(|refusal| format!("not admitted: {refusal}"))?;
    let settings = RenderSettings::default();
    let pod = render::render_pod(&sandbox, class.as_ref().map(|c| &c.spec), &settings).map_err(|e| e.to_string())?;
    let mut out = serde_yaml::to_string(&pod).map_err(|e| e.to_string())?;
    if let Some(claim) = render::render_workspace_claim(&sandbox).map_err(|e| e.to_string())? {
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(&claim).map_err(|e| e.to_string())?);
    }
    Ok(out)
}

fn main() -> ExitCode {
    match run() {
        Ok(yaml) => {
            print!("{yaml}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
