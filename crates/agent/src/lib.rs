//! `dockyard-agent`, the per-node agent: the `NodeAgent` gRPC service
//! (readiness, cleanup, inventory, authenticated with TokenReview), the Docker
//! socket broker of host-socket mode, the watch that prepares the node's
//! sandbox Pods, the orphan sweep, and the seccomp profiles its Pods name.

pub mod auth;
pub mod broker;
pub mod cgroup;
pub mod csi;
pub mod docker;
pub mod firewall;
pub mod grpc;
pub mod node;
pub mod node_label;
pub mod pods;
pub mod resources;
pub mod seccomp;
pub mod state;
pub mod sweep;
