//! What a sandbox may ask of a Docker daemon, decided without I/O.
//!
//! A request (method, path, query, headers, JSON body) is decoded into typed
//! data the way dockerd decodes it (Go's `encoding/json` and `net/url`
//! rules, see [`gojson`] and [`query`]), checked against an allowlist per
//! endpoint ([`endpoint`], [`decide`]) and, when allowed, re-serialised: the
//! daemon receives the request that was checked, never the client's bytes.
//! The broker of host-socket mode (in the node agent) and the DinD socket
//! proxy use this crate alike; the lookups a verdict asks for (does this
//! sandbox own that container?) are theirs to make.

pub mod body;
pub mod build;
pub mod buildkit;
pub mod endpoint;
pub mod filters;
pub mod gojson;
pub mod model;
pub mod reference;
pub mod refusal;
pub mod registry;
pub mod request;
pub mod scope;

pub use endpoint::{After, Body, Check, Endpoint, JsonBody, Plan, plan};
pub use filters::SANDBOX_LABEL;
pub use refusal::{Kind, Refusal};
pub use scope::{Rules, Scope, WorkspaceMapping};
