//! A request that is not passed on, with the status and message the client sees.

use http::StatusCode;

/// A request the proxy will not pass on, with the HTTP status and the reason
/// the Docker CLI shows the user.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    pub status: StatusCode,
    pub message: String,
}

impl Refusal {
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self { status: StatusCode::FORBIDDEN, message: format!("dockyard: {}", message.into()) }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, message: format!("dockyard: {}", message.into()) }
    }
    /// What Docker says for an object that does not exist: the sandbox cannot
    /// tell another sandbox's object from a missing one.
    pub fn not_found(kind: Kind, id: &str) -> Self {
        Self { status: StatusCode::NOT_FOUND, message: format!("No such {}: {id}", kind.noun()) }
    }
}

/// The kinds of Docker objects a sandbox owns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Container,
    Exec,
    Network,
    Volume,
    Image,
}

impl Kind {
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Container => "container",
            Kind::Exec => "exec instance",
            Kind::Network => "network",
            Kind::Volume => "volume",
            Kind::Image => "image",
        }
    }
}
