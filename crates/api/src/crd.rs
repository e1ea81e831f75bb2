//! The CustomResourceDefinitions generated from the Rust types, as committed
//! under `crds/`.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

use crate::v1alpha1::{Sandbox, SandboxClass, SandboxPool};

/// Every CRD of Dockyard with the file name it is committed under in `crds/`.
pub fn all() -> Vec<(&'static str, CustomResourceDefinition)> {
    vec![
        ("sandboxes.dockyard.dev.yaml", Sandbox::crd()),
        ("sandboxclasses.dockyard.dev.yaml", SandboxClass::crd()),
        ("sandboxpools.dockyard.dev.yaml", SandboxPool::crd()),
    ]
}

/// A CRD rendered as the YAML document committed under `crds/`.
pub fn to_yaml(crd: &CustomResourceDefinition) -> Result<String, serde_yaml::Error> {
    let body = serde_yaml::to_string(crd)?;
    Ok(format!("# Generated from crates/api by `cargo run -p dockyard-api --bin crdgen`. Do not edit.\n{body}"))
}
