//! Generated gRPC types and stubs of the node agent (`dockyard.agent.v1`).
//! The domain crates never see these types; the agent and the controller
//! translate at their edges.

#[allow(clippy::all, missing_docs)]
pub mod agent {
    pub mod v1 {
        tonic::include_proto!("dockyard.agent.v1");
    }
}
