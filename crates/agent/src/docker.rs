//! The node's Docker daemon: one place builds the connection, 404s are
//! matched here.

use std::path::Path;

use bollard::Docker;

/// Seconds a Docker API call may take.
pub const TIMEOUT_SECONDS: u64 = 60;

/// The node's daemon at `socket`; on a node without one (the socket does not
/// exist: containerd only), a client whose every call fails — the agent still
/// serves DinD sandboxes, and restarts to connect once a daemon appears
/// (`node_label::maintain`).
pub fn connect_node(socket: &Path) -> Result<Docker, bollard::errors::Error> {
    if socket.exists() {
        return connect(socket);
    }
    // Port 1 on the loopback: nothing listens, every call is refused at once.
    Docker::connect_with_http("http://127.0.0.1:1", TIMEOUT_SECONDS, bollard::API_DEFAULT_VERSION)
}

/// A client of the daemon listening on `socket`.
pub fn connect(socket: &Path) -> Result<Docker, bollard::errors::Error> {
    Docker::connect_with_unix(&socket.display().to_string(), TIMEOUT_SECONDS, bollard::API_DEFAULT_VERSION)
}

/// Whether the daemon answered "no such object" (already gone counts as done).
pub fn is_not_found(error: &bollard::errors::Error) -> bool {
    matches!(error, bollard::errors::Error::DockerResponseServerError { status_code: 404, .. })
}

/// Whether the daemon answered "nothing to do" (e.g. stopping a stopped container).
pub fn is_not_modified(error: &bollard::errors::Error) -> bool {
    matches!(error, bollard::errors::Error::DockerResponseServerError { status_code: 304, .. })
}

/// Whether the daemon answered "in use" (an image another image still needs).
pub fn is_conflict(error: &bollard::errors::Error) -> bool {
    matches!(error, bollard::errors::Error::DockerResponseServerError { status_code: 409, .. })
}
