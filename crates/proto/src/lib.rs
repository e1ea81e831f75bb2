//! Generated gRPC types and stubs: the node agent's own API
//! (`dockyard.agent.v1`), the CSI spec's Identity and Node services (`csi.v1`)
//! and the kubelet's plugin registration (`pluginregistration`), both served
//! by the agent. The domain crates never see these types; the agent and the
//! controller translate at their edges.

#[allow(clippy::all, missing_docs)]
pub mod agent {
    pub mod v1 {
        tonic::include_proto!("dockyard.agent.v1");
    }
}

/// The Container Storage Interface, v1.13.0 (`proto/third_party/csi/v1/csi.proto`).
#[allow(clippy::all, missing_docs)]
pub mod csi {
    pub mod v1 {
        tonic::include_proto!("csi.v1");
    }
}

/// The kubelet's plugin registration API (`proto/third_party/pluginregistration/v1/api.proto`).
#[allow(clippy::all, missing_docs)]
pub mod pluginregistration {
    tonic::include_proto!("pluginregistration");
}
