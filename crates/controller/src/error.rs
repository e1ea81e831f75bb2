//! The controller's one error type. Each variant maps to a metric label and an
//! event reason.

use dockyard_api::render::RenderError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API request failed: {0}")]
    Kube(#[from] kube::Error),

    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),

    #[error("cannot render the Pod: {0}")]
    Render(#[from] RenderError),

    #[error("node cleanup is pending: {0}")]
    CleanupPending(String),
}

impl Error {
    /// Label of the `dockyard_reconcile_errors_total` metric.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube(_) => "kube_api",
            Error::Finalizer(inner) => match inner.as_ref() {
                kube::runtime::finalizer::Error::ApplyFailed(e) | kube::runtime::finalizer::Error::CleanupFailed(e) => {
                    e.metric_label()
                }
                _ => "finalizer",
            },
            Error::Render(_) => "render",
            Error::CleanupPending(_) => "cleanup_pending",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
