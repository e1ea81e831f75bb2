//! `dockyard-agent`, the per-node agent (issue #5). So far: the one place that
//! connects to the node's Docker daemon, and the inventory and cleanup of the
//! Docker objects a sandbox created (found by their `dockyard.dev/sandbox`
//! label). The gRPC server, the socket broker that puts those labels on, and
//! the orphan sweep are still to come.

pub mod docker;
pub mod resources;
