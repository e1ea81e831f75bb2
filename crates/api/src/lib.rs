//! Dockyard's shared API: the `Sandbox` and `SandboxClass` custom resources
//! (group `dockyard.dev`, version `v1alpha1`), the validation the schema cannot
//! express, the admission policy, and pure rendering of a Sandbox into the
//! Kubernetes objects that run it.
//!
//! Nothing in this crate talks to an API server: every function takes values
//! and returns values, so the controller's decisions are unit-testable.

pub mod crd;
pub mod labels;
pub mod network;
pub mod policy;
pub mod pool;
pub mod quantity;
pub mod render;
pub mod seccomp;
pub mod selector;
pub mod v1alpha1;
pub mod validation;

pub use v1alpha1::{Sandbox, SandboxClass, SandboxClassSpec, SandboxPool, SandboxSpec, SandboxStatus};
