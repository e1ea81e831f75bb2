//! The lookups a plan asks for before a request is passed on: does the
//! sandbox own this container, may it use this image, is this reference
//! free, do the links of a bind source stay in the workspace. Each answers
//! with the refusal the client sees.

use std::collections::HashMap;
use std::sync::Arc;

use bollard::Docker;
use bollard::models::{NetworkCreateRequest, VolumeCreateRequest};
use dockyard_docker_policy::{After, Check, Kind, Refusal, SANDBOX_LABEL, Scope, reference};
use dockyard_docker_proxy::{ProxyBody, check_bind_links};
use http::Response;
use http::StatusCode;
use hyper::body::Incoming;

use super::images::ImageLedger;
use crate::docker::is_not_found;
use crate::firewall::Firewall;

/// The lookups of the node's shared daemon, for the proxy.
pub struct NodeLookups {
    pub docker: Docker,
    pub ledger: Arc<ImageLedger>,
    pub firewall: Option<Arc<Firewall>>,
}

impl NodeLookups {
    fn view<'a>(&'a self, scope: &'a Scope) -> View<'a> {
        View { scope, docker: &self.docker, ledger: &self.ledger, firewall: self.firewall.as_deref() }
    }
}

impl dockyard_docker_proxy::Lookups for NodeLookups {
    async fn run(&self, scope: &Scope, checks: &[Check]) -> Result<(), Refusal> {
        self.view(scope).run(checks).await
    }

    async fn answer(
        &self,
        scope: &Scope,
        after: &After,
        response: Response<Incoming>,
    ) -> Result<Response<ProxyBody>, Refusal> {
        super::answers::answer(after, response, self.view(scope)).await
    }

    async fn record_export(&self, scope: &Scope, image: String) {
        super::answers::record(&self.view(scope), vec![image]).await
    }
}

/// One sandbox's view of the daemon's objects.
pub struct View<'a> {
    pub scope: &'a Scope,
    pub docker: &'a Docker,
    pub ledger: &'a Arc<ImageLedger>,
    pub firewall: Option<&'a Firewall>,
}

/// An image as the lookups see it.
pub struct ImageFacts {
    pub id: String,
    pub repo_tags: Vec<String>,
    pub labels: HashMap<String, String>,
}

impl View<'_> {
    pub fn ledger_handle(&self) -> Arc<ImageLedger> {
        self.ledger.clone()
    }

    pub async fn run(&self, checks: &[Check]) -> Result<(), Refusal> {
        for check in checks {
            match check {
                Check::Owns(kind, id) => self.require(*kind, id).await?,
                Check::Joins(kind, id) => self.joins(*kind, id).await?,
                Check::VolumeOwnedOrNew(name) => self.volume_owned_or_new(name).await?,
                Check::ImageUsable(name) => self.image_usable(name).await.map(|_| ())?,
                Check::ImageOwned(name) => self.image_owned(name).await?,
                Check::ReferenceFree(reference) => self.reference_free(reference).await?,
                Check::BindLinks(path) => {
                    if let Some(workspace) = &self.scope.workspace {
                        check_bind_links(path, &workspace.node_path)?;
                    }
                }
                Check::OwnNetwork(name) => self.own_network(name).await?,
            }
        }
        Ok(())
    }

    /// Whether the sandbox owns an object: `None` when it does not exist.
    pub async fn owns(&self, kind: Kind, id: &str) -> Result<Option<bool>, Refusal> {
        let labels = match kind {
            Kind::Container => self.docker.inspect_container(id, None).await.map(|c| c.config.and_then(|c| c.labels)),
            Kind::Network => self.docker.inspect_network(id, None).await.map(|n| n.labels),
            Kind::Volume => self.docker.inspect_volume(id).await.map(|v| Some(v.labels)),
            Kind::Exec => {
                let container = match self.docker.inspect_exec(id).await {
                    Ok(exec) => exec.container_id.unwrap_or_default(),
                    Err(e) if is_not_found(&e) => return Ok(None),
                    Err(e) => return Err(daemon_error(e)),
                };
                return Box::pin(self.owns(Kind::Container, &container)).await;
            }
            Kind::Image => return Ok(self.image(id).await?.map(|image| self.owns_image(&image))),
        };
        match labels {
            Ok(labels) => Ok(Some(labels.unwrap_or_default().get(SANDBOX_LABEL) == Some(&self.scope.uid))),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(daemon_error(e)),
        }
    }

    /// Passes only when the sandbox owns the object; anything else looks missing.
    async fn require(&self, kind: Kind, id: &str) -> Result<(), Refusal> {
        match self.owns(kind, id).await? {
            Some(true) => Ok(()),
            _ => Err(Refusal::not_found(kind, id)),
        }
    }

    /// A create joining another object: a 403, never a 404 (the CLI answers a
    /// 404 from a container create by pulling the image).
    async fn joins(&self, kind: Kind, id: &str) -> Result<(), Refusal> {
        if self.owns(kind, id).await? == Some(true) {
            return Ok(());
        }
        Err(Refusal::forbidden(match kind {
            Kind::Network => format!("network `{id}` is not one of this sandbox's networks"),
            _ => format!(
                "container `{id}` is not one of this sandbox's containers; a container may join only the namespaces, \
                 links and volumes of its own sandbox's containers"
            ),
        }))
    }

    /// The sandbox's own bridge network, made (labelled as its) when it does
    /// not exist; refused when a network of that name is someone else's.
    async fn own_network(&self, name: &str) -> Result<(), Refusal> {
        match self.owns(Kind::Network, name).await? {
            // Fenced already, unless the last write of the node's rules failed.
            Some(true) if self.firewall.is_none_or(|f| !f.failed()) => return Ok(()),
            Some(true) => return self.fence_networks().await,
            Some(false) => {
                return Err(Refusal::forbidden(format!(
                    "network `{name}` (this sandbox's own network) exists and is not this sandbox's"
                )));
            }
            None => {}
        }
        let labels = HashMap::from([(SANDBOX_LABEL.to_string(), self.scope.uid.clone())]);
        let request = NetworkCreateRequest {
            name: name.to_string(),
            driver: Some("bridge".into()),
            labels: Some(labels),
            ..Default::default()
        };
        match self.docker.create_network(request).await {
            Ok(_) => self.fence_networks().await,
            // Made meanwhile by a concurrent create of the same sandbox: looked
            // at again, and joined only once its fence is written (the write
            // waits for the other create's).
            Err(e @ bollard::errors::Error::DockerResponseServerError { status_code: 409, .. }) => {
                match self.owns(Kind::Network, name).await? {
                    Some(true) => self.fence_networks().await,
                    _ => Err(daemon_error(e)),
                }
            }
            Err(e) => Err(daemon_error(e)),
        }
    }

    /// Writes the node's rules for the sandbox's networks as they are now:
    /// no container joins a network of the sandbox before its fence exists.
    pub async fn fence_networks(&self) -> Result<(), Refusal> {
        let Some(firewall) = self.firewall else { return Ok(()) };
        firewall.sync().await.map_err(|error| Refusal {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: format!("dockyard: the node's rules for the sandbox's new network could not be written: {error}"),
        })
    }

    async fn volume_owned_or_new(&self, name: &str) -> Result<(), Refusal> {
        match self.owns(Kind::Volume, name).await? {
            Some(true) => Ok(()),
            Some(false) => Err(Refusal::forbidden(format!("volume `{name}` exists and is not this sandbox's"))),
            None => {
                let labels = HashMap::from([(SANDBOX_LABEL.to_string(), self.scope.uid.clone())]);
                let request =
                    VolumeCreateRequest { name: Some(name.into()), labels: Some(labels), ..Default::default() };
                self.docker.create_volume(request).await.map(|_| ()).map_err(daemon_error)
            }
        }
    }

    pub async fn image(&self, name: &str) -> Result<Option<ImageFacts>, Refusal> {
        match self.docker.inspect_image(name).await {
            Ok(image) => Ok(Some(ImageFacts {
                id: image.id.unwrap_or_default(),
                repo_tags: image.repo_tags.unwrap_or_default(),
                labels: image.config.and_then(|c| c.labels).unwrap_or_default(),
            })),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(daemon_error(e)),
        }
    }

    /// Pulled, loaded, imported, committed or tagged by the sandbox (the
    /// ledger), or built by it (its label).
    pub fn owns_image(&self, image: &ImageFacts) -> bool {
        self.ledger.owns(&self.scope.uid, &image.id) || image.labels.get(SANDBOX_LABEL) == Some(&self.scope.uid)
    }

    /// One of the class's shared images.
    pub fn is_shared(&self, image: &ImageFacts) -> bool {
        let shared: Vec<String> = self.scope.rules.shared_images.iter().map(|r| reference::normalize(r)).collect();
        image.repo_tags.iter().any(|tag| shared.contains(&reference::normalize(tag)))
    }

    /// An image the request reads: the sandbox's or shared; others look missing.
    async fn image_usable(&self, name: &str) -> Result<ImageFacts, Refusal> {
        match self.image(name).await? {
            Some(image) if self.owns_image(&image) || self.is_shared(&image) => Ok(image),
            _ => Err(Refusal::not_found(Kind::Image, name)),
        }
    }

    /// An image the request removes: the sandbox's own, not merely shared.
    async fn image_owned(&self, name: &str) -> Result<(), Refusal> {
        match self.image(name).await? {
            Some(image) if self.is_shared(&image) => Err(Refusal::forbidden(format!(
                "image `{name}` is shared by the node's sandboxes; a sandbox may remove only images it pulled, built \
                 or loaded"
            ))),
            Some(image) if self.owns_image(&image) => Ok(()),
            _ => Err(Refusal::not_found(Kind::Image, name)),
        }
    }

    /// A reference the request points at an image: unused, or the sandbox's already.
    async fn reference_free(&self, name: &str) -> Result<(), Refusal> {
        match self.image(name).await? {
            Some(image) if !self.owns_image(&image) => Err(Refusal::forbidden(format!(
                "`{name}` names an image this sandbox did not pull, build or load; choose another name"
            ))),
            _ => Ok(()),
        }
    }
}

pub fn daemon_error(error: bollard::errors::Error) -> Refusal {
    match error {
        bollard::errors::Error::DockerResponseServerError { status_code, message } => {
            Refusal { status: StatusCode::from_u16(status_code).unwrap_or(StatusCode::BAD_GATEWAY), message }
        }
        other => Refusal {
            status: StatusCode::BAD_GATEWAY,
            message: format!("dockyard: the node's Docker daemon did not answer: {other}"),
        },
    }
}
