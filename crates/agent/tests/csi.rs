//! The agent's CSI Node service against the real API server and the node's
//! dockerd, driven as the kubelet drives it (`NodePublishVolume` with the
//! kubelet's volume id, target path and Pod info), and as a tenant would try
//! to cross it: a Pod of its own mounting the driver, another sandbox's
//! volume id, a Pod on another node, a replaced (stale) Pod, a suspended
//! sandbox. Needs `e2e/cluster up --profile control-plane` and the node's
//! dockerd (scripts/test starts both).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use dockyard_agent::csi::publish::{self, volume_handle};
use dockyard_agent::csi::{self, PluginSockets};
use dockyard_agent::node::{Agent, Settings};
use dockyard_api::{Sandbox, SandboxClass};
use dockyard_proto::csi::v1::node_client::NodeClient;
use dockyard_proto::csi::v1::{NodePublishVolumeRequest, NodeUnpublishVolumeRequest};
use dockyard_testing::TestCluster;
use futures::FutureExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Resource, ResourceExt};
use serde_json::json;
use tonic::Code;
use tonic::transport::Channel;

const NODE: &str = "node-csi";

fn request(kubelet_root: &Path, pod: &Pod) -> NodePublishVolumeRequest {
    let uid = pod.uid().unwrap();
    let target = kubelet_root.join(format!("pods/{uid}/volumes/kubernetes.io~csi/docker-socket/mount"));
    NodePublishVolumeRequest {
        volume_id: volume_handle(&uid, "docker-socket"),
        target_path: target.display().to_string(),
        volume_context: HashMap::from([
            (publish::POD_NAME.into(), pod.name_any()),
            (publish::POD_NAMESPACE.into(), pod.namespace().unwrap()),
            (publish::POD_UID.into(), uid),
            (publish::SERVICE_ACCOUNT.into(), "default".into()),
            (publish::EPHEMERAL.into(), "true".into()),
        ]),
        ..Default::default()
    }
}

/// A Pod `name` bound to `node`, controlled by `owner` when given.
async fn pod(pods: &Api<Pod>, name: &str, node: &str, owner: Option<&Sandbox>) -> Pod {
    let owners: Vec<_> = owner.map(|s| s.controller_owner_ref(&()).unwrap()).into_iter().collect();
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": name, "ownerReferences": owners},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "x"}]},
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap()
}

async fn sandbox(sandboxes: &Api<Sandbox>, name: &str, class: &str, mode: &str) -> Sandbox {
    let sandbox: Sandbox = serde_json::from_value(json!({
        "apiVersion": "dockyard.dev/v1alpha1", "kind": "Sandbox", "metadata": {"name": name},
        "spec": {"image": "x", "className": class, "docker": {"mode": mode}},
    }))
    .unwrap();
    sandboxes.create(&PostParams::default(), &sandbox).await.unwrap()
}

async fn refused(node: &mut NodeClient<Channel>, request: NodePublishVolumeRequest, reason: &str) {
    let status = node.node_publish_volume(request).await.expect_err("refused");
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(status.message().contains(reason), "{:?} does not say {reason:?}", status.message());
}

/// A namespace and a class of its own on the real API server, and the
/// agent's CSI Node service (for node `NODE`) serving on a Unix socket, as
/// the kubelet reaches it.
struct Csi {
    cluster: TestCluster,
    ns: dockyard_testing::TestNamespace,
    classes: Api<SandboxClass>,
    class_name: String,
    dir: PathBuf,
    kubelet_root: PathBuf,
    agent: Arc<Agent>,
    node: NodeClient<Channel>,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Csi {
    async fn start(prefix: &str) -> Csi {
        let cluster = TestCluster::connect().await.expect("start the cluster: e2e/cluster up --profile control-plane");
        cluster.install_crds().await.unwrap();
        let ns = cluster.namespace(prefix).await.unwrap();
        let classes: Api<SandboxClass> = Api::all(cluster.client.clone());
        let class_name = format!("{}-class", ns.name());
        let class: SandboxClass = serde_json::from_value(json!({
            "apiVersion": "dockyard.dev/v1alpha1", "kind": "SandboxClass", "metadata": {"name": class_name}, "spec": {},
        }))
        .unwrap();
        classes.create(&PostParams::default(), &class).await.unwrap();

        let dir = std::env::temp_dir().join(format!("dockyard-{prefix}-{}", std::process::id()));
        let settings = Settings::under(&dir, NODE, dockyard_testing::node_docker_socket());
        let kubelet_root: PathBuf = settings.kubelet_root.clone();
        let agent = Arc::new(Agent::new(settings).unwrap());
        let sockets = PluginSockets::under(&dir.join("plugins"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = csi::serve(agent.clone(), cluster.client.clone(), sockets.clone(), stopped.map(|_| ()).boxed());
        let server = tokio::spawn(served);
        for _ in 0..100 {
            if sockets.endpoint.exists() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let channel = tonic::transport::Endpoint::try_from(format!("unix://{}", sockets.endpoint.display()))
            .unwrap()
            .connect()
            .await
            .expect("connect to the CSI endpoint");
        let node = NodeClient::new(channel);
        Csi { cluster, ns, classes, class_name, dir, kubelet_root, agent, node, stop, server }
    }
}

#[tokio::test]
#[ignore = "needs the e2e control plane and the node's dockerd (scripts/test starts them)"]
async fn only_the_current_pod_of_an_admitted_brokered_sandbox_gets_its_socket() {
    let Csi { ns, classes, class_name, dir, kubelet_root, agent, mut node, stop, server, .. } = Csi::start("csi").await;

    let sandboxes: Api<Sandbox> = ns.api();
    let pods: Api<Pod> = ns.api();
    let brokered = sandbox(&sandboxes, "brokered", &class_name, "hostSocket").await;
    let dind = sandbox(&sandboxes, "dind", &class_name, "dind").await;
    let current = pod(&pods, "sbx-brokered", NODE, Some(&brokered)).await;
    agent.brokers.ensure(dockyard_testing::broker_scope(&brokered.uid().unwrap(), None)).unwrap();

    // A tenant's own Pod (no Sandbox controls it), one named like another's
    // with that Sandbox's controller reference copied, a DinD sandbox's Pod,
    // a Pod on another node.
    let own = pod(&pods, "mine", NODE, None).await;
    refused(&mut node, request(&kubelet_root, &own), "is not a sandbox's Pod").await;
    let copied = pod(&pods, "copied", NODE, Some(&brokered)).await;
    refused(&mut node, request(&kubelet_root, &copied), "is not named sbx-brokered").await;
    let dind_pod = pod(&pods, "sbx-dind", NODE, Some(&dind)).await;
    refused(&mut node, request(&kubelet_root, &dind_pod), "is not a brokered host-socket sandbox").await;
    // Another sandbox's volume id with this Pod's target: refused before the API is asked.
    let mut replayed = request(&kubelet_root, &current);
    replayed.volume_id = volume_handle(&own.uid().unwrap(), "docker-socket");
    refused(&mut node, replayed, "volume id").await;
    // Attributes of the Pod's own choosing are refused.
    let mut attributes = request(&kubelet_root, &current);
    attributes.volume_context.insert("sandbox".into(), "someone-elses".into());
    refused(&mut node, attributes, "is not accepted").await;

    // The current Pod of the admitted brokered sandbox: its broker answers in the volume.
    let admitted = request(&kubelet_root, &current);
    let target = PathBuf::from(&admitted.target_path);
    node.node_publish_volume(admitted.clone()).await.expect("publish for the sandbox's Pod");
    node.node_publish_volume(admitted.clone()).await.expect("publishing again is idempotent");
    // A published target stays its sandbox's: never handed to another one's broker.
    agent.brokers.ensure(dockyard_testing::broker_scope(&dind.uid().unwrap(), None)).unwrap();
    let other = agent.brokers.publish(&dind.uid().unwrap(), &target).expect_err("another sandbox's target");
    assert_eq!(other.kind(), std::io::ErrorKind::AlreadyExists, "{other}");
    let socket = target.join("docker.sock");
    assert!(socket.as_os_str().len() > 107, "the kubelet's target paths are longer than a socket address");
    // Relative to the target directory: the whole path is too long for the CLI's socket address too.
    let out = tokio::process::Command::new("docker")
        .current_dir(&target)
        .args(["-H", "unix://docker.sock", "version", "--format", "{{.Server.Version}}"])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "docker version through the published socket: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Suspended: no socket for a new publish.
    sandboxes
        .patch("brokered", &PatchParams::default(), &Patch::Merge(json!({"spec": {"suspended": true}})))
        .await
        .unwrap();
    refused(&mut node, request(&kubelet_root, &current), "is suspended").await;

    // Unpublish removes the socket, and only under the kubelet's Pod directories.
    let unpublish =
        NodeUnpublishVolumeRequest { volume_id: admitted.volume_id.clone(), target_path: admitted.target_path };
    node.node_unpublish_volume(unpublish.clone()).await.unwrap();
    assert!(!socket.exists());
    node.node_unpublish_volume(unpublish).await.expect("unpublishing again is idempotent");
    let outside = NodeUnpublishVolumeRequest { volume_id: "x".into(), target_path: "/etc".into() };
    assert_eq!(node.node_unpublish_volume(outside).await.unwrap_err().code(), Code::InvalidArgument);

    // A replaced Pod (the same name, a new UID): the old one's request is stale.
    // No kubelet on this node to finish a graceful delete: at once.
    pods.delete("sbx-brokered", &DeleteParams { grace_period_seconds: Some(0), ..Default::default() }).await.unwrap();
    for _ in 0..100 {
        if pods.get_opt("sbx-brokered").await.unwrap().is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let replaced = pod(&pods, "sbx-brokered", NODE, Some(&brokered)).await;
    assert_ne!(replaced.uid(), current.uid());
    sandboxes
        .patch("brokered", &PatchParams::default(), &Patch::Merge(json!({"spec": {"suspended": false}})))
        .await
        .unwrap();
    refused(&mut node, request(&kubelet_root, &current), "a Pod of that name that is gone").await;
    let elsewhere = pod(&pods, "sbx-elsewhere", "another-node", None).await;
    refused(&mut node, request(&kubelet_root, &elsewhere), "not this one").await;

    agent.brokers.remove(&brokered.uid().unwrap()).unwrap();
    agent.brokers.remove(&dind.uid().unwrap()).unwrap();
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    classes.delete(&class_name, &Default::default()).await.unwrap();
    ns.delete().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// `docker ARGS` through the socket published in `target` (relative: the
/// kubelet's target paths are longer than a socket address): its output, or
/// its error output when it failed.
async fn docker_in(target: &Path, args: &[&str]) -> Result<String, String> {
    let out = tokio::process::Command::new("docker")
        .current_dir(target)
        .args(["-H", "unix://docker.sock"])
        .args(args)
        .output()
        .await
        .unwrap();
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    if out.status.success() { Ok(text(&out.stdout)) } else { Err(text(&out.stderr)) }
}

#[tokio::test]
#[ignore = "needs the e2e control plane and the node's dockerd (scripts/test starts them)"]
async fn a_warm_pool_pod_only_pings_until_its_claim_is_bound() {
    use dockyard_agent::csi::node::{Grant, authorize, publish_sandbox};
    use dockyard_api::SandboxPool;

    let Csi { cluster, ns, classes, class_name, dir, kubelet_root, agent, mut node, stop, server } =
        Csi::start("csi-warm").await;

    let pools: Api<SandboxPool> = ns.api();
    let pods: Api<Pod> = ns.api();
    let sandboxes: Api<Sandbox> = ns.api();
    let new_pool = |name: &str, mode: &str| -> SandboxPool {
        serde_json::from_value(json!({
            "apiVersion": "dockyard.dev/v1alpha1", "kind": "SandboxPool", "metadata": {"name": name},
            "spec": {"size": 1, "template": {"image": "x", "className": class_name, "docker": {"mode": mode}}},
        }))
        .unwrap()
    };
    let host = pools.create(&PostParams::default(), &new_pool("host", "hostSocket")).await.unwrap();
    let dind = pools.create(&PostParams::default(), &new_pool("dind", "dind")).await.unwrap();
    let pool_pod = |name: &str, pool: &SandboxPool| -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "ownerReferences": [pool.controller_owner_ref(&()).unwrap()]},
            "spec": {"nodeName": NODE, "containers": [{"name": "c", "image": "x"}]},
        }))
        .unwrap()
    };
    let warm = pods.create(&PostParams::default(), &pool_pod("pool-host-a1b2c", &host)).await.unwrap();
    // A DinD pool's Pod, and a Pod the pool controls under another name: no socket.
    let dind_pod = pods.create(&PostParams::default(), &pool_pod("pool-dind-a1b2c", &dind)).await.unwrap();
    refused(&mut node, request(&kubelet_root, &dind_pod), "is not a brokered host-socket one").await;
    let misnamed = pods.create(&PostParams::default(), &pool_pod("sbx-host", &host)).await.unwrap();
    refused(&mut node, request(&kubelet_root, &misnamed), "is not named as SandboxPool host's warm Pods are").await;

    // The warm Pod's socket answers version, and refuses anything that would
    // make or show something on the node's daemon.
    let published = request(&kubelet_root, &warm);
    let target = PathBuf::from(&published.target_path);
    node.node_publish_volume(published.clone()).await.expect("publish for the warm Pod");
    node.node_publish_volume(published.clone()).await.expect("publishing again is idempotent");
    let version = docker_in(&target, &["version", "--format", "{{.Server.Version}}"]).await;
    assert!(version.as_ref().is_ok_and(|v| !v.trim().is_empty()), "version through the warm socket: {version:?}");
    for args in [&["ps"][..], &["run", "--rm", "x", "true"], &["network", "create", "warm-net"], &["volume", "ls"]] {
        let refused = docker_in(&target, args).await.expect_err("refused before a claim");
        assert!(refused.contains("no Sandbox has claimed yet"), "docker {args:?}: {refused}");
    }

    // Claimed: the Pod is now the Sandbox's. Its name alone does not say so,
    // so only the controller's word (the bind) or the status makes it so.
    let claimer: Sandbox = serde_json::from_value(json!({
        "apiVersion": "dockyard.dev/v1alpha1", "kind": "Sandbox", "metadata": {"name": "claimer"},
        "spec": {"image": "x", "className": class_name, "poolName": "host", "docker": {"mode": "hostSocket"}},
    }))
    .unwrap();
    let claimer = sandboxes.create(&PostParams::default(), &claimer).await.unwrap();
    let owner = json!({"metadata": {"ownerReferences": [claimer.controller_owner_ref(&()).unwrap()]}});
    pods.patch("pool-host-a1b2c", &PatchParams::default(), &Patch::Merge(owner)).await.unwrap();
    let pod_ref = publish::PodRef { namespace: ns.name().into(), name: warm.name_any(), uid: warm.uid().unwrap() };
    let unbound = authorize(&cluster.client, NODE, &pod_ref, false).await.expect_err("not the Sandbox's Pod by name");
    assert!(unbound.message().contains("nor a warm Pod it claimed"), "{unbound:?}");
    let uid = claimer.uid().unwrap();
    assert_eq!(authorize(&cluster.client, NODE, &pod_ref, true).await.unwrap(), Grant::Sandbox(uid.clone()));
    // Until the agent's Pod watch prepared the Sandbox's broker, and bound it, the socket stays warm.
    let still_warm = docker_in(&target, &["ps"]).await.expect_err("still warm");
    assert!(still_warm.contains("no Sandbox has claimed yet"), "{still_warm}");
    agent.brokers.ensure(dockyard_testing::broker_scope(&uid, None)).unwrap();
    publish_sandbox(&agent, &uid, &target).await.expect("bind the claimed Pod");
    let listed = docker_in(&target, &["ps", "--format", "{{.Names}}"]).await;
    assert_eq!(listed.as_deref(), Ok(""), "docker ps through the bound socket: the sandbox's containers, none");
    // A warm publish never takes a bound socket back.
    let back = agent.brokers.publish_warm(&warm.uid().unwrap(), &target).expect_err("bound stays bound");
    assert_eq!(back.kind(), std::io::ErrorKind::AlreadyExists, "{back}");
    // After a restart, the status (the controller's) names the Pod.
    let status = json!({"status": {"podName": "pool-host-a1b2c"}});
    sandboxes.patch_status("claimer", &PatchParams::default(), &Patch::Merge(status)).await.unwrap();
    assert_eq!(authorize(&cluster.client, NODE, &pod_ref, false).await.unwrap(), Grant::Sandbox(uid.clone()));

    agent.brokers.remove(&uid).unwrap();
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    classes.delete(&class_name, &Default::default()).await.unwrap();
    ns.delete().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
