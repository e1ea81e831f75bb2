//! Support for Rust tests that run against the real e2e cluster started by
//! `e2e/cluster up`: a [`TestCluster`] hands out a `kube::Client`, installs
//! Dockyard's CRDs, and creates a fresh [`TestNamespace`] per test that is
//! deleted afterwards.
//!
//! Tests that need the cluster are marked `#[ignore = "needs the e2e cluster"]`
//! and run by `scripts/test` (which starts the cluster) with `--ignored`; they
//! fail, never skip, when no cluster answers.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, Client, Config, ResourceExt};

/// Why the cluster could not be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no kubeconfig at {path}: start the cluster with `e2e/cluster up` (or set KUBECONFIG): {source}")]
    Kubeconfig { path: PathBuf, source: kube::config::KubeconfigError },
    #[error("cannot reach the API server from {path}: {source} (is `e2e/cluster up` running?)")]
    Connect { path: PathBuf, source: kube::Error },
    #[error("API request failed: {0}")]
    Api(#[from] kube::Error),
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(Duration, String),
}

/// The running e2e cluster.
#[derive(Clone)]
pub struct TestCluster {
    pub client: Client,
}

/// Where `e2e/cluster` keeps its state (and the admin kubeconfig).
pub fn state_dir() -> PathBuf {
    std::env::var_os("DOCKYARD_STATE_DIR").map(PathBuf::from).unwrap_or_else(|| "/var/tmp/dockyard-cluster".into())
}

/// `$KUBECONFIG`, or the admin kubeconfig `e2e/cluster` wrote.
pub fn kubeconfig() -> PathBuf {
    std::env::var_os("KUBECONFIG").map(PathBuf::from).unwrap_or_else(|| state_dir().join("admin.kubeconfig"))
}

/// The node's dockerd socket (`e2e/cluster up --profile docker`, or the node profile).
pub fn node_docker_socket() -> PathBuf {
    state_dir().join("docker/docker.sock")
}

/// The image `e2e/images base` loads into the node's dockerd.
pub const TEST_IMAGE: &str = "dockyard/busybox:1";

/// The scope of a brokered test sandbox on the node's dockerd: its containers
/// go under the cgroup `/dockyard-tests/<uid>` (a Pod's in a cluster), and the
/// test image is shared with it as a class would share it.
pub fn broker_scope(
    uid: &str,
    workspace: Option<dockyard_docker_policy::WorkspaceMapping>,
) -> dockyard_docker_policy::Scope {
    dockyard_docker_policy::Scope {
        uid: uid.to_string(),
        workspace,
        cgroup_parent: Some(format!("/dockyard-tests/{uid}")),
        own_network: Some(dockyard_docker_policy::scope::own_network_name(uid)),
        rules: dockyard_docker_policy::Rules { shared_images: vec![TEST_IMAGE.into()], ..Default::default() },
        unclaimed: false,
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free local port")
}

impl TestCluster {
    /// Connects with `$KUBECONFIG`, or the admin kubeconfig `e2e/cluster` wrote.
    pub async fn connect() -> Result<Self, Error> {
        let path = kubeconfig();
        let kubeconfig =
            Kubeconfig::read_from(&path).map_err(|source| Error::Kubeconfig { path: path.clone(), source })?;
        let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .map_err(|source| Error::Kubeconfig { path: path.clone(), source })?;
        let client = Client::try_from(config).map_err(|source| Error::Connect { path: path.clone(), source })?;
        client.apiserver_version().await.map_err(|source| Error::Connect { path, source })?;
        Ok(Self { client })
    }

    /// Installs (server-side applies) Dockyard's CRDs and waits until they are served.
    pub async fn install_crds(&self) -> Result<(), Error> {
        let crds: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        let params = PatchParams::apply("dockyard-testing").force();
        for (_, crd) in dockyard_api::crd::all() {
            let name = crd.name_any();
            crds.patch(&name, &params, &Patch::Apply(&crd)).await?;
            let timeout = Duration::from_secs(30);
            tokio::time::timeout(timeout, await_condition(crds.clone(), &name, conditions::is_crd_established()))
                .await
                .map_err(|_| Error::Timeout(timeout, format!("CRD {name} to be established")))?
                .map_err(|e| Error::Timeout(timeout, format!("CRD {name}: {e}")))?;
        }
        Ok(())
    }

    /// A new namespace named `<prefix>-<pid>-<n>`, labelled as a test namespace.
    pub async fn namespace(&self, prefix: &str) -> Result<TestNamespace, Error> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let name = format!("{prefix}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let namespace: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": {"dockyard.dev/test": "true"}},
        }))
        .expect("a valid Namespace");
        Api::<Namespace>::all(self.client.clone()).create(&PostParams::default(), &namespace).await?;
        Ok(TestNamespace { client: self.client.clone(), name, deleted: false })
    }
}

/// A namespace for one test. Call [`TestNamespace::delete`] at the end; one
/// dropped without it (a failed test) is deleted in the background.
pub struct TestNamespace {
    client: Client,
    name: String,
    deleted: bool,
}

impl TestNamespace {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// An `Api` for namespaced resources in this namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.name)
    }

    /// Creates ServiceAccount `name` here and returns a token the API server
    /// issued for it (valid one hour), as a Pod would get.
    pub async fn service_account_token(&self, name: &str) -> Result<String, Error> {
        use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
        use k8s_openapi::api::core::v1::ServiceAccount;
        let accounts: Api<ServiceAccount> = self.api();
        let account: ServiceAccount =
            serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).expect("a valid ServiceAccount");
        accounts.create(&PostParams::default(), &account).await?;
        let request = TokenRequest {
            spec: Some(TokenRequestSpec { expiration_seconds: Some(3600), ..Default::default() }),
            ..Default::default()
        };
        let issued = accounts.create_token_request(name, &PostParams::default(), &request).await?;
        Ok(issued.status.and_then(|s| s.token).unwrap_or_default())
    }

    /// A token of the existing ServiceAccount `name` bound to `audience`.
    pub async fn audience_token(&self, name: &str, audience: &str) -> Result<String, Error> {
        use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
        use k8s_openapi::api::core::v1::ServiceAccount;
        let request = TokenRequest {
            spec: Some(TokenRequestSpec {
                audiences: Some(vec![audience.into()]),
                expiration_seconds: Some(3600),
                ..Default::default()
            }),
            ..Default::default()
        };
        let issued = self.api::<ServiceAccount>().create_token_request(name, &PostParams::default(), &request).await?;
        Ok(issued.status.and_then(|s| s.token).unwrap_or_default())
    }

    /// Deletes the namespace (and with it everything the test created).
    pub async fn delete(mut self) -> Result<(), Error> {
        self.deleted = true;
        delete_namespace(&self.client, &self.name).await
    }
}

async fn delete_namespace(client: &Client, name: &str) -> Result<(), Error> {
    match Api::<Namespace>::all(client.clone()).delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.is_not_found() => Ok(()),
        Err(e) => Err(e.into()),
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        if self.deleted {
            return;
        }
        eprintln!("test namespace {} left by a failed test: deleting it", self.name);
        let name = self.name.clone();
        // A thread with a runtime and a client of its own: the test's client is
        // served by a task on the test's runtime, which this Drop is blocking.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
            if let Ok(runtime) = runtime {
                runtime.block_on(async {
                    let deletion = async {
                        let cluster = TestCluster::connect().await.ok()?;
                        delete_namespace(&cluster.client, &name).await.ok()
                    };
                    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), deletion).await;
                });
            }
        })
        .join();
    }
}
