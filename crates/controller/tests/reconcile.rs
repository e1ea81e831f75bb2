//! The controller against the real API server of the e2e cluster
//! (`e2e/cluster up --profile control-plane`). There is no kubelet: the tests
//! bind Pods and write their status the way the scheduler and a kubelet would.
//! One controller runs at a time (they watch the whole cluster), so the tests
//! take a lock.

use std::future::Future;
use std::time::{Duration, Instant};

use dockyard_api::labels::{FIELD_MANAGER, POD_SPEC_HASH, SANDBOX_SPEC_HASH};
use dockyard_api::render::RenderSettings;
use dockyard_api::v1alpha1::{SandboxPhase, SandboxPool, SandboxPoolStatus};
use dockyard_api::{Sandbox, SandboxClass};
use dockyard_controller::agent::AgentSettings;
use dockyard_controller::context::Settings;
use dockyard_testing::{TestCluster, TestNamespace, free_port, node_docker_socket};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use tokio::sync::{Mutex, MutexGuard, oneshot};
use tokio::task::JoinHandle;

static ONE_CONTROLLER_AT_A_TIME: Mutex<()> = Mutex::const_new(());

struct RunningController {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

fn agent_settings(namespace: &str, port: u16, token_file: &str) -> AgentSettings {
    AgentSettings {
        namespace: namespace.into(),
        label_selector: "app.kubernetes.io/name=dockyard-agent".into(),
        port,
        timeout: Duration::from_secs(2),
        token_file: token_file.into(),
        tls: None,
    }
}

impl RunningController {
    fn start(client: &Client) -> Self {
        Self::start_with_agents(client, agent_settings("dockyard-system", 9443, "/nonexistent/token"))
    }

    fn start_with_agents(client: &Client, agent: AgentSettings) -> Self {
        Self::start_with(client, RenderSettings::default(), agent)
    }

    fn start_with(client: &Client, render: RenderSettings, agent: AgentSettings) -> Self {
        // A short first-progress hold: the tests wait for progress phases too.
        let settings = Settings {
            render,
            agent,
            network: Default::default(),
            concurrency: 8,
            first_progress_after: Duration::from_secs(5),
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(dockyard_controller::run(
            client.clone(),
            settings,
            "integration-test".into(),
            async move {
                let _ = stopped.await;
            },
            |_| {},
        ));
        Self { stop: Some(stop), task }
    }

    /// Stops it the hard way: the task is aborted wherever it is.
    fn kill(self) {
        self.task.abort();
    }

    async fn stop(mut self) {
        let _ = self.stop.take().map(|s| s.send(()));
        let _ = tokio::time::timeout(Duration::from_secs(10), self.task).await;
    }
}

struct Setup {
    cluster: TestCluster,
    ns: TestNamespace,
    _lock: MutexGuard<'static, ()>,
}

/// The node the tests bind Pods to. It must exist as a Node object: the
/// Pod garbage collector fails and deletes Pods bound to a node that does not
/// (within ~20 s, which made tests that ran long enough flaky).
const NODE: &str = "node-a";

async fn setup(prefix: &str) -> Setup {
    let lock = ONE_CONTROLLER_AT_A_TIME.lock().await;
    let cluster = TestCluster::connect().await.expect("the e2e cluster answers");
    cluster.install_crds().await.unwrap();
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(cluster.client.clone());
    if nodes.get_opt(NODE).await.unwrap().is_none() {
        let node = serde_json::from_value(json!({"metadata": {"name": NODE}})).unwrap();
        nodes.create(&PostParams::default(), &node).await.unwrap();
    }
    let ns = cluster.namespace(prefix).await.unwrap();
    Setup { cluster, ns, _lock: lock }
}

async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const WAIT: Duration = Duration::from_secs(30);

fn sandbox(name: &str, spec: serde_json::Value) -> Sandbox {
    serde_json::from_value(
        json!({"apiVersion": "dockyard.dev/v1alpha1", "kind": "Sandbox", "metadata": {"name": name}, "spec": spec}),
    )
    .unwrap()
}

async fn phase_of(api: &Api<Sandbox>, name: &str) -> Option<SandboxPhase> {
    api.get_opt(name).await.ok().flatten().and_then(|s| s.status?.phase)
}

async fn wait_phase(api: &Api<Sandbox>, name: &str, phase: SandboxPhase) -> Sandbox {
    eventually(&format!("{name} to be {phase:?}"), WAIT, || async {
        let s = api.get_opt(name).await.ok().flatten()?;
        (s.status.as_ref()?.phase == Some(phase)).then_some(s)
    })
    .await
}

fn condition<'a>(s: &'a Sandbox, type_: &str) -> (&'a str, &'a str, &'a str) {
    let c = s.status.as_ref().unwrap().conditions.iter().find(|c| c.type_ == type_).expect(type_);
    (c.status.as_str(), c.reason.as_str(), c.message.as_str())
}

async fn wait_pod(pods: &Api<Pod>, name: &str) -> Pod {
    eventually(&format!("pod {name}"), WAIT, || async {
        pods.get_opt(name).await.ok().flatten().filter(|p| p.metadata.deletion_timestamp.is_none())
    })
    .await
}

async fn wait_no_pod(pods: &Api<Pod>, name: &str) {
    // Some Pods go by the garbage collector (their owner was deleted), which
    // learns a kind whose CRD was just installed only at its next discovery
    // sync (every 30 s): on a fresh cluster, that is on top of WAIT.
    eventually(&format!("pod {name} to be gone"), WAIT * 2, || async {
        let pod = pods.get_opt(name).await.ok()?;
        match pod {
            None => Some(()),
            // No kubelet: finish a graceful deletion the way it would.
            Some(p) if p.metadata.deletion_timestamp.is_some() => {
                let _ = pods.delete(name, &DeleteParams { grace_period_seconds: Some(0), ..Default::default() }).await;
                None
            }
            Some(_) => None,
        }
    })
    .await
}

/// What the scheduler and a kubelet would do: bind the Pod to `node`, then
/// report it running, with the DinD sidecar started when `docker_started`.
async fn run_pod(pods: &Api<Pod>, name: &str, node: &str, docker_started: bool, started: Timestamp) {
    let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name}, "target": {"kind": "Node", "name": node}});
    let pod = pods.get(name).await.unwrap();
    if pod.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_none() {
        pods.create_subresource::<serde_json::Value, serde_json::Value>(
            "binding",
            name,
            &PostParams::default(),
            &binding,
        )
        .await
        .unwrap();
    }
    let ready = if docker_started { "True" } else { "False" };
    let status = json!({"status": {
        "phase": "Running", "podIP": "10.213.64.200", "startTime": started.to_string(),
        "conditions": [
            {"type": "PodScheduled", "status": "True"}, {"type": "Initialized", "status": "True"},
            {"type": "ContainersReady", "status": ready}, {"type": "Ready", "status": ready},
        ],
        "initContainerStatuses": [
            {"name": "install-entrypoint", "ready": false, "restartCount": 0, "image": "e", "imageID": "",
             "state": {"terminated": {"exitCode": 0}}},
            {"name": "dind", "ready": docker_started, "started": docker_started, "restartCount": 0, "image": "d", "imageID": "",
             "state": {"running": {}}},
        ],
        "containerStatuses": [{"name": "workload", "ready": docker_started, "started": true, "restartCount": 0, "image": "w", "imageID": "",
            "state": {"running": {}}}],
    }});
    pods.patch_status(name, &PatchParams::default(), &Patch::Merge(&status)).await.unwrap();
}

/// Waits for a Pod `name` other than `old`, finishing the old one's deletion
/// the way a kubelet would (there is none).
async fn wait_new_pod(pods: &Api<Pod>, name: &str, old: &Pod) -> Pod {
    eventually(&format!("a new pod {name}"), WAIT, || async {
        let pod = pods.get_opt(name).await.ok().flatten()?;
        if pod.metadata.deletion_timestamp.is_some() {
            let _ = pods.delete(name, &DeleteParams { grace_period_seconds: Some(0), ..Default::default() }).await;
            return None;
        }
        (pod.uid() != old.uid()).then_some(pod)
    })
    .await
}

async fn events_for(ns: &TestNamespace, name: &str) -> Vec<(String, String)> {
    let events: Api<Event> = ns.api();
    let list = events.list(&ListParams::default()).await.unwrap();
    list.items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .map(|e| (e.reason.unwrap_or_default(), e.note.unwrap_or_default()))
        .collect()
}

#[tokio::test]
#[ignore = "needs the e2e cluster (scripts/test starts it)"]
async fn a_sandbox_becomes_a_pod_and_then_ready() {
    let Setup { cluster, ns, _lock } = setup("ctl-ready").await;
    let controller = RunningController::start(&cluster.client);
    let sandboxes: Api<Sandbox> = ns.api();
    let pods: Api<Pod> = ns.api();
    sandboxes
        .create(
            &PostParams::default(),
            &sandbox("dev", json!({"image": "dockyard-sandbox:latest", "sudo": {"commands": ["/usr/bin/apt-get"]}})),
        )
        .await
        .unwrap();

    let pod = wait_pod(&pods, "sbx-dev").await;
    let spec = pod.spec.as_ref().unwrap();
    let init: Vec<&str> = spec.init_containers.iter().flatten().map(|c| c.name.as_str()).collect();
    assert_eq!(init, ["install-entrypoint", "prepare-user", "dind"]);
    let workload = spec.containers[0].security_context.as_ref().unwrap();
    assert_eq!((workload.run_as_user, workload.allow_privilege_escalation), (Some(1000), Some(true)));
    assert_eq!(pod.owner_references()[0].name, "dev");
    assert_eq!(pod.labels()["dockyard.dev/sandbox"], "dev");

    let pending = wait_phase(&sandboxes, "dev", SandboxPhase::Pending).await;
    assert_eq!(condition(&pending, "Admitted").0, "True");
    assert_eq!(condition(&pending, "PodScheduled").0, "False");
    assert!(pending.finalizers().is_empty(), "a dind sandbox leaves nothing on the node: no finalizer");
    // Its class's NetworkPolicy exists and selects the Pod; the status names it.
    let network = pending.status.as_ref().and_then(|s| s.network.clone()).expect("status.network");
    assert!(network.summary.starts_with("egress: ") && network.summary.contains("; ingress: "), "{network:?}");
    let policies: Api<NetworkPolicy> = ns.api();
    let policy = policies.get(&network.policy).await.unwrap();
    let selector = policy.spec.and_then(|s| s.pod_selector).and_then(|s| s.match_labels).unwrap_or_default();
    let label = pod.labels().get("dockyard.dev/network-class").cloned();
    assert!(label.is_some() && selector.get("dockyard.dev/network-class") == label.as_ref(), "{selector:?}");

    run_pod(&pods, "sbx-dev", NODE, false, Timestamp::now()).await;
    let starting = wait_phase(&sandboxes, "dev", SandboxPhase::Starting).await;
    assert_eq!(condition(&starting, "DockerReady").1, "DockerStarting");

    run_pod(&pods, "sbx-dev", NODE, true, Timestamp::now()).await;
    let ready = wait_phase(&sandboxes, "dev", SandboxPhase::Ready).await;
    for t in ["Admitted", "PodScheduled", "DockerReady", "Ready"] {
        assert_eq!(condition(&ready, t).0, "True", "{t}");
    }
    let status = ready.status.as_ref().unwrap();
    assert_eq!((status.node_name.as_deref(), status.pod_ip.as_deref()), (Some("node-a"), Some("10.213.64.200")));
    assert_eq!(status.pod_name.as_deref(), Some("sbx-dev"));
    assert_eq!(status.observed_generation, ready.metadata.generation);
    // The event follows the status write (a user waiting for Ready does not wait for it).
    eventually("the Ready event", WAIT, || async {
        events_for(&ns, "dev").await.iter().any(|(reason, _)| reason == "Ready").then_some(())
    })
    .await;

    // A running Pod without its network label (an earlier Dockyard's) is
    // labelled in place, and a deleted policy is put back.
    let unlabel = json!({"metadata": {"labels": {"dockyard.dev/network-class": null}}});
    pods.patch("sbx-dev", &PatchParams::default(), &Patch::Merge(&unlabel)).await.unwrap();
    let uid = pod.uid();
    eventually("the Pod to be labelled again", WAIT, || async {
        let now = pods.get("sbx-dev").await.unwrap();
        (now.labels().get("dockyard.dev/network-class") == label.as_ref() && now.uid() == uid).then_some(())
    })
    .await;
    policies.delete(&network.policy, &DeleteParams::default()).await.unwrap();
    eventually("the policy to be put back", WAIT, || async { policies.get_opt(&network.policy).await.unwrap() }).await;

    // A dind sandbox leaves nothing on the node: deletion completes without an agent.
    sandboxes.delete("dev", &DeleteParams::default()).await.unwrap();
    eventually("the sandbox to be deleted", WAIT, || async {
        sandboxes.get_opt("dev").await.unwrap().is_none().then_some(())
    })
    .await;
    controller.stop().await;
    ns.delete().await.unwrap();
}

#[tokio::test]
#[ignore = "needs the e2e cluster (scripts/test starts it)"]
async fn docker_that_never_answers_gives_docker_ready_false_with_the_reason() {
    let Setup { cluster, ns, _lock } = setup("ctl-docker").await;
    let controller = RunningController::start(&cluster.client);
    let sandboxes: Api<Sandbox> = ns.api();
    let pods: Api<Pod> = ns.api();
    let spec = json!({"image": "x", "docker": {"dind": {"readinessTimeoutSeconds": 3}}});
    sandboxes.create(&PostParams::default(), &sandbox("slow", spec)).await.unwrap();
    wait_pod(&pods, "sbx-slow").await;
    run_pod(&pods, "sbx-slow", NODE, false, Timestamp::now()).await;
    let s = eventually("DockerReady=False/DockerNotReady", WAIT, || async {
        let s = sandboxes.get("slow").await.ok()?;
        let docker = s.status.as_ref()?.conditions.iter().find(|c| c.type_ == "DockerReady")?;
        (docker.reason == "DockerNotReady").then_some(s)
    })
    .await;
    let (status, _, message) = condition(&s, "DockerReady");
    assert_eq!(status, "False");
    assert!(message.contains("within 3s"), "{message}");
    assert_eq!(condition(&s, "Ready").1, "DockerNotReady");
    controller.stop().await;
    ns.delete().await.unwrap();
}

#[tokio::test]
#[ignore = "needs the e2e cluster (scripts/test starts it)"]
async fn suspend_resume_and_expiry_keep_the_workspace() {
    let Setup { cluster, ns, _lock } = setup("ctl-life").await;
    let controller = RunningController::start(&cluster.client);
    let sandboxes: Api<Sandbox> = ns.api();
    let pods: Api<Pod> = ns.api();
    let claims: Api<PersistentVolumeClaim> = ns.api();
    let spec = json!({"image": "x", "docker": {"mode": "none"},
        "workspace": {"volumeClaimTemplate": {"spec": {"resources": {"requests": {"storage": "1Gi"}}}}}});
    sandboxes.create(&PostParams::default(), &sandbox("work", spec)).await.unwrap();
    wait_pod(&pods, "sbx-work").await;
    let claim = claims.get("work-workspace").await.unwrap();
    assert_eq!(claim.owner_references()[0].name, "work");

    let suspend = |on: bool| json!({"spec": {"suspended": on}});
    sandboxes.patch("work", &PatchParams::default(), &Patch::Merge(&suspend(true))).await.unwrap();
    wait_no_pod(&pods, "sbx-work").await;
    let suspended = wait_phase(&sandboxes, "work", SandboxPhase::Suspended).await;
    assert_eq!(condition(&suspended, "Ready").1, "Suspended");
    assert_eq!(claims.get("work-workspace").await.unwrap().uid(), claim.uid(), "the workspace is kept");

    sandboxes.patch("work", &PatchParams::default(), &Patch::Merge(&suspend(false))).await.unwrap();
    let pod = wait_pod(&pods, "sbx-work").await;
    let volume = pod.spec.unwrap().volumes.unwrap().into_iter().find(|v| v.name == "workspace").unwrap();
    assert_eq!(volume.persistent_volume_claim.unwrap().claim_name, "work-workspace");

    // Expiry: a shutdownTime in 3 s removes the Pod then.
    let soon = Timestamp::now() + std::time::Duration::from_secs(3);
    let expire = json!({"spec": {"shutdownTime": soon.to_string()}});
    sandboxes.patch("work", &PatchParams::default(), &Patch::Merge(&expire)).await.unwrap();
    let expired = wait_phase(&sandboxes, "work", SandboxPhase::Expired).await;
    assert_eq!(condition(&expired, "Ready").1, "Expired");
    wait_no_pod(&pods, "sbx-work").await;
    assert!(claims.get_opt("work-workspace").await.unwrap().is_some());
    assert!(events_for(&ns, "work").await.iter().any(|(reason, _)| reason == "Expired"));
    controller.stop().await;
    ns.delete().await.unwrap();
}

#[tokio::test]
#[ignore = "needs the e2e cluster (scripts/test starts it)"]
async fn a_class_refusal_names_the_rule_and_a_class_change_admits() {
    let Setup { cluster, ns, _lock } = setup("ctl-class").await;
    let controller = RunningController::start(&cluster.client);
    let classes: Api<SandboxClass> = Api::all(cluster.client.clone());
    let class_name = format!("{}-only-none", ns.name());
    let class: SandboxClass = serde_json::from_value(json!({
        "apiVersion": "dockyard.dev/v1alpha1", "kind": "SandboxClass",
        "metadata": {"name": class_name}, "spec": {"allowedDockerModes": ["none"]},
    }))
    .unwrap();
    classes.create(&PostParams::default(), &class).await.unwrap();
    let sandboxes: Api<Sandbox> = ns.api();
    let pods: Api<Pod> = ns.api();
    sandboxes
        .create(&PostParams::default(), &sandbox("refused", json!({"image": "x", "className": class_name})))
        .await
        .unwrap();
    sandboxes
        .create(&PostParams::default(), &sandbox("no-class", json!({"image": "x", "className": "missing"})))
        .await
        .unwrap();
    // A bad object never delays the others.
    sandboxes.create(&PostParams::default(), &sandbox("fine", json!({"image": "x"}))).await.unwrap();
    wait_pod(&pods, "sbx-fine").await;

    // The class may reach the controller's cache after the Sandbox does (then it is
    // ClassNotFound for a moment, and the class's arrival re-admits it): wait for the rule.
    let refused = eventually("refused to name the class's rule", WAIT, || async {
        let s = sandboxes.get_opt("refused").await.ok().flatten()?;
        let refused_by_rule = s.status.as_ref()?.conditions.iter().any(|c| c.reason == "DockerModeNotAllowed");
        refused_by_rule.then_some(s)
    })
    .await;
    assert_eq!(refused.status.as_ref().unwrap().phase, Some(SandboxPhase::Failed));
    let (status, reason, message) = condition(&refused, "Admitted");
    assert_eq!((status, reason), ("False", "DockerModeNotAllowed"));
    assert!(message.contains("allowedDockerModes: none"), "{message}");
    let missing = wait_phase(&sandboxes, "no-class", SandboxPhase::Failed).await;
    assert_eq!(condition(&missing, "Admitted").1, "ClassNotFound");
    assert!(pods.get_opt("sbx-refused").await.unwrap().is_none(), "no pod for a refused sandbox");
    assert!(events_for(&ns, "refused").await.iter().any(|(r, n)| r == "DockerModeNotAllowed" && n.contains("dind")));

    // The platform team allows dind: the watch on classes re-admits the sandbox.
    let allow = json!({"spec": {"allowedDockerModes": ["dind", "none"]}});
    classes.patch(&class_name, &PatchParams::default(), &Patch::Merge(&allow)).await.unwrap();
    wait_pod(&pods, "sbx-refused").await;
    let admitted = wait_phase(&sandboxes, "refused", SandboxPhase::Pending).await;
    assert_eq!(condition(&admitted, "Admitted").0, "True");

    classes.delete(&class_name, &DeleteParams::default()).await.unwrap();
    controller.stop().await;
    ns.delete().await.unwrap();
}

#[tokio::test]
#[ignore = "needs the e2e cluster (scripts/test starts it)"]
async fn deleting_a_host_socket_sandbox_waits_for_the_node_agent_then_it_cleans_up() {
    let Setup { cluster, ns, _lock } = setup("ctl-final").await;
    let port = free_port();
    let token_file = std::env::temp_dir().join(format!("dockyard-ctl-token-{}", std::process::id()));
    std::fs::write(&token_file, ns.service_account_token("controller").await.unwrap()).unwrap();
    let controller = RunningController::start_with_agents(
        &cluster.client,
        agent_settings(ns.name(), port, token_file.to_str().unwrap()),
    );
    let sandboxes: Api<Sandbox> = ns.api();
    let pods: Api<Pod> = ns.api();
    // The node exists (a Node object: the controller asks whether a node is gone).
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(cluster.client.clone());
    let node_b = format!("node-b-{}", ns.name());
    let node: k8s_openapi::api::core::v1::Node = serde_json::from_value(json!({"metadata": {"name": node_b}})).unwrap();
    nodes.create(&PostParams::default(), &node).await.unwrap();
    sandboxes
        .create(&PostParams::default(), &sandbox("hs", json!({"image": "x", "docker": {"mode": "hostSocket"}})))
        .await
        .unwrap();
    wait_pod(&pods, "sbx-hs").await;
    run_pod(&pods, "sbx-hs", &node_b, true, Timestamp::now()).await;
    let ready = wait_phase(&sandboxes, "hs", SandboxPhase::Ready).await;
    assert_eq!(ready.status.as_ref().unwrap().node_name.as_deref(), Some(node_b.as_str()));
    assert_eq!(ready.status.as_ref().unwrap().nodes, std::slice::from_ref(&node_b));
    assert!(ready.finalizers().contains(&"dockyard.dev/node-cleanup".to_string()));
    // Something the sandbox made on node-b's daemon, with the broker's label.
    let docker = dockyard_agent::docker::connect(&node_docker_socket()).unwrap();
    let made = labelled_container(&docker, &ready.uid().unwrap()).await;

    // The Pod goes first (as when its namespace is deleted): the status forgets
    // the Pod's node, not the nodes to clean up.
    pods.delete("sbx-hs", &DeleteParams { grace_period_seconds: Some(0), ..Default::default() }).await.unwrap();
    let forgot = eventually("the status without the deleted Pod's node", WAIT, || async {
        let s = sandboxes.get_opt("hs").await.ok().flatten()?;
        (s.status.as_ref()?.node_name.as_deref() != Some(node_b.as_str())).then_some(s)
    })
    .await;
    assert_eq!(forgot.status.as_ref().unwrap().nodes, std::slice::from_ref(&node_b), "still to be cleaned");
    let _ = pods.delete("sbx-hs", &DeleteParams { grace_period_seconds: Some(0), ..Default::default() }).await;
    sandboxes.delete("hs", &DeleteParams::default()).await.unwrap();
    // No agent runs on node-b yet: the finalizer holds the Sandbox and says why.
    let notes = eventually("a CleanupPending event", WAIT, || async {
        let events = events_for(&ns, "hs").await;
        events.into_iter().find(|(reason, _)| reason == "CleanupPending").map(|(_, note)| note)
    })
    .await;
    assert!(notes.contains(&node_b), "{notes}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let held = sandboxes.get("hs").await.unwrap();
    assert!(
        held.metadata.deletion_timestamp.is_some() && held.finalizers().contains(&"dockyard.dev/node-cleanup".into())
    );

    // The agent comes up on node-b (a real agent server; its Pod as a kubelet would report it):
    // the controller's retry reaches it, with a token the agent reviews, and the cleanup happens.
    let agent = start_agent(ns.name(), port).await;
    agent_pod_on(&pods, &node_b).await;
    eventually("the Sandbox to be gone after the agent's cleanup", Duration::from_secs(90), || async {
        sandboxes.get_opt("hs").await.unwrap().is_none().then_some(())
    })
    .await;
    assert!(docker.inspect_container(&made, None).await.is_err(), "the agent removed the sandbox's container");
    agent.abort();
    nodes.delete(&node_b, &DeleteParams::default()).await.unwrap();
    controller.stop().await;
    std::fs::remove_file(token_file).unwrap();
    ns.delete().await.unwrap();
}

/// The node agent's gRPC server (the same code the `dockyard-agent` binary
/// serves) on 127.0.0.1:`port`, allowing `namespace`'s `controller` account.
/// The agent's Pod on `node`, as the kubelet would report it (the agent itself
/// serves on 127.0.0.1: `start_agent`).
async fn agent_pod_on(pods: &Api<Pod>, node: &str) {
    let agent_pod: Pod = serde_json::from_value(json!({"metadata": {"name": "agent",
        "labels": {"app.kubernetes.io/name": "dockyard-agent"}},
        "spec": {"containers": [{"name": "agent", "image": "dockyard-agent:latest"}]}}))
    .unwrap();
    pods.create(&PostParams::default(), &agent_pod).await.unwrap();
    let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "agent"}, "target": {"kind": "Node", "name": node}});
    pods.create_subresource::<serde_json::Value, serde_json::Value>(
        "binding",
        "agent",
        &PostParams::default(),
        &binding,
    )
    .await
    .unwrap();
    let running = json!({"status": {"phase": "Running", "podIP": "127.0.0.1"}});
    pods.patch_status("agent", &PatchParams::default(), &Patch::Merge(&running)).await.unwrap();
}

/// A container on the node's dockerd labelled as `uid`'s broker labels them.
async fn labelled_container(docker: &bollard::Docker, uid: &str) -> String {
    docker
        .create_container(
            None,
            bollard::models::ContainerCreateBody {
                image: Some("dockyard/busybox:1".into()),
                cmd: Some(vec!["sleep".into(), "300".into()]),
                labels: Some([(dockyard_agent::resources::SANDBOX_LABEL.to_string(), uid.to_string())].into()),
                ..Default::default()
            },
        )
        .await
        .expect("a container on the node's dockerd (image dockyard/busybox:1)")
        .id
}

#[tokio::test]
#[ignore = "needs the e2e cluster (scripts/test starts it)"]
async fn suspending_a_brokered_sandbox_removes_what_it_started_on_its_node() {
    let Setup { cluster, ns, _lock } = setup("ctl-suspend").await;
    let port = free_port();
    let token_file = std::env::temp_dir().join(format!("dockyard-ctl-token-s-{}", std::process::id()));
    std::fs::write(&token_file, ns.service_account_token("controller").await.unwrap()).unwrap();
    let controller = RunningController::start_with_agents(
        &cluster.client,
        agent_settings(ns.name(), port, token_file.to_str().unwrap()),
    );
    let agent = start_agent(ns.name(), port).await;
    let sandboxes: Api<Sandbox> = ns.api();
    let pods: Api<Pod> = ns.api();
    let node = format!("node-s-{}", ns.name());
    agent_pod_on(&pods, &node).await;
    sandboxes
        .create(&PostParams::default(), &sandbox("nap", json!({"image": "x", "docker": {"mode": "hostSocket"}})))
        .await
        .unwrap();
    wait_pod(&pods, "sbx-nap").await;
    run_pod(&pods, "sbx-nap", &node, true, Timestamp::now()).await;
    let ready = wait_phase(&sandboxes, "nap", SandboxPhase::Ready).await;
    let docker = dockyard_agent::docker::connect(&node_docker_socket()).unwrap();
    let made = labelled_container(&docker, &ready.uid().unwrap()).await;

    sandboxes
        .patch("nap", &PatchParams::default(), &Patch::Merge(&json!({"spec": {"suspended": true}})))
        .await
        .unwrap();
    let suspended = wait_phase(&sandboxes, "nap", SandboxPhase::Suspended).await;
    assert!(suspended.status.as_ref().unwrap().nodes.is_empty(), "cleaned up, so no node left to clean");
    assert!(docker.inspect_container(&made, None).await.is_err(), "suspend removed the sandbox's container");
    assert!(events_for(&ns, "nap").await.iter().any(|(r, n)| r == "NodeCleanedUp" && n.contains(&node)));
    wait_no_pod(&pods, "sbx-nap").await;
    // Resumed: a new Pod.
    sandboxes
        .patch("nap", &PatchParams::default(), &Patch::Merge(&json!({"spec": {"suspended": false}})))
        .await
        .unwrap();
    wait_pod(&pods, "sbx-nap").await;
    agent.abort();
    controller.stop().await;
    std::fs::remove_file(token_file).unwrap();
    ns.delete().await.unwrap();
}

async fn start_agent(namespace: &str, port: u16) -> JoinHandle<()> {
    start_agent_on(namespace, port, "node-b").await.0
}

/// `start_agent` for node `node`, with the agent it serves.
async fn start_agent_on(
    namespace: &str,
    port: u16,
    node: &str,
) -> (JoinHandle<()>, std::sync::Arc<dockyard_agent::node::Agent>) {
    use std::sync::Arc;
    let dir = std::env::temp_dir().join(format!("dockyard-ctl-agent-{node}-{}", std::process::id()));
    let agent = Arc::new(
        dockyard_agent::node::Agent::new(dockyard_agent::node::Settings::under(&dir, node, node_docker_socket()))
            .unwrap(),
    );
    let client = TestCluster::connect().await.unwrap().client;
    let allowed = vec![format!("system:serviceaccount:{namespace}:controller")];
    let auth = Arc::new(dockyard_agent::auth::Authenticator::new(client.clone(), allowed, Vec::new()));
    let service = dockyard_agent::grpc::NodeAgentService { agent: agent.clone(), auth, client };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let server = tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(dockyard_proto::agent::v1::node_agent_server::NodeAgentServer::new(service))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await
            .unwrap();
    });
    (server, agent)
}

#[tokio::test]
#[ignore = "needs the e2e cluster (scripts/test starts it)"]
async fn a_controller_killed_mid_way_and_restarted_creates_no_duplicate_and_loses_nothing() {
    let Setup { cluster, ns, _lock } = setup("ctl-restart").await;
    let sandboxes: Api<Sandbox> = ns.api();
    let pods: Api<Pod> = ns.api();
    for i in 0..5 {
        sandboxes.create(&PostParams::default(), &sandbox(&format!("s{i}"), json!({"image": "x"}))).await.unwrap();
    }
    let controller = RunningController::start(&cluster.client);
    wait_pod(&pods, "sbx-s0").await;
    controller.kill();

    let controller = RunningController::start(&cluster.client);
    for i in 0..5 {
        wait_pod(&pods, &format!("sbx-s{i}")).await;
        wait_phase(&sandboxes, &format!("s{i}"), SandboxPhase::Pending).await;
    }
    run_pod(&pods, "sbx-s3", NODE, true, Timestamp::now()).await;
    wait_phase(&sandboxes, "s3", SandboxPhase::Ready).await;
    controller.kill();

    // A third run changes nothing that is already right.
    let before: Vec<String> =
        pods.list(&ListParams::default()).await.unwrap().items.iter().map(|p| p.uid().unwrap()).collect();
    let controller = RunningController::start(&cluster.client);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = pods.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(after.len(), 5, "one pod per sandbox");
    let mut after_uids: Vec<String> = after.iter().map(|p| p.uid().unwrap()).collect();
    let mut before = before;
    before.sort();
    after_uids.sort();
    assert_eq!(before, after_uids, "no pod was replaced");
    assert_eq!(phase_of(&sandboxes, "s3").await, Some(SandboxPhase::Ready));
    controller.stop().await;
    ns.delete().await.unwrap();
}

#[tokio::test]
#[ignore = "needs the e2e cluster (scripts/test starts it)"]
async fn a_pod_that_dies_is_recreated() {
    let Setup { cluster, ns, _lock } = setup("ctl-died").await;
    let controller = RunningController::start(&cluster.client);
    let sandboxes: Api<Sandbox> = ns.api();
    let pods: Api<Pod> = ns.api();
    sandboxes
        .create(&PostParams::default(), &sandbox("phoenix", json!({"image": "x", "docker": {"mode": "none"}})))
        .await
        .unwrap();
    let first = wait_pod(&pods, "sbx-phoenix").await;
    // What a kubelet reports when the Pod is evicted.
    let failed = json!({"status": {"phase": "Failed", "reason": "Evicted", "message": "the node was low on memory"}});
    pods.patch_status("sbx-phoenix", &PatchParams::default(), &Patch::Merge(&failed)).await.unwrap();
    // Not recreated at once: the Sandbox says why and when.
    let waiting = wait_ready_reason(&sandboxes, "phoenix", "PodFailed").await;
    let message = condition(&waiting, "Ready").2;
    assert!(message.contains("Evicted") && message.contains("a new one in 10s"), "{message}");
    let second = wait_new_pod(&pods, "sbx-phoenix", &first).await;
    assert_ne!(second.uid(), first.uid());
    // The failure stays on the Sandbox after the new Pod exists.
    let kept = eventually("the new Pod in the status", WAIT, || async {
        let s = sandboxes.get_opt("phoenix").await.ok().flatten()?;
        let status = s.status.clone()?;
        (status.conditions.iter().any(|c| c.type_ == "Ready" && c.reason != "PodFailed")).then_some(status)
    })
    .await;
    let failure = kept.last_pod_failure.expect("lastPodFailure");
    assert_eq!((failure.reason.as_str(), failure.message.as_str()), ("Evicted", "the node was low on memory"));
    let events = events_for(&ns, "phoenix").await;
    assert!(events.iter().any(|(r, n)| r == "PodFailed" && n.contains("Evicted")), "{events:?}");
    controller.stop().await;
    ns.delete().await.unwrap();
}

#[tokio::test]
#[ignore = "needs the e2e cluster (scripts/test starts it)"]
async fn only_one_replica_holds_the_lease() {
    use dockyard_controller::leader::LeaderElection;
    let Setup { cluster, ns, _lock } = setup("ctl-lease").await;
    let lease = Duration::from_secs(2);
    let first = LeaderElection::new(cluster.client.clone(), ns.name(), "dockyard-controller", "replica-a", lease);
    let second = LeaderElection::new(cluster.client.clone(), ns.name(), "dockyard-controller", "replica-b", lease);
    assert!(first.try_acquire_or_renew().await.unwrap(), "the first replica takes the free lease");
    assert!(!second.try_acquire_or_renew().await.unwrap(), "the second waits while it is held");
    assert!(first.try_acquire_or_renew().await.unwrap(), "the holder renews");
    // The holder stops renewing: after the lease duration the other takes over.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(second.try_acquire_or_renew().await.unwrap(), "an expired lease is taken over");
    assert!(!first.try_acquire_or_renew().await.unwrap(), "the old holder has lost it");
    let held = Api::<k8s_openapi::api::coordination::v1::Lease>::namespaced(cluster.client.clone(), ns.name())
        .get("dockyard-controller")
        .await
        .unwrap();
    let spec = held.spec.unwrap();
    assert_eq!((spec.holder_identity.as_deref(), spec.lease_transitions), (Some("replica-b"), Some(1)));
    ns.delete().await.unwrap();
}

/// The Warning events about `name` with `reason`.
async fn warnings(ns: &TestNamespace, name: &str, reason: &str) -> Vec<String> {
    events_for(ns, name).await.into_iter().filter(|(r, _)| r == reason).map(|(_, note)| note).collect()
}

async fn wait_ready_reason(api: &Api<Sandbox>, name: &str, reason: &str) -> Sandbox {
    eventually(&format!("{name} to say Ready=False {reason}"), WAIT, || async {
        let s = api.get_opt(name).await.ok().flatten()?;
        let ready = s.status.as_ref()?.conditions.iter().find(|c| c.type_ == "Ready")?;
        (ready.reason == reason).then_some(s)
    })
    .await
}

#[tokio::test]
#[ignore = "needs the e2e cluster (scripts/test starts it)"]
async fn a_pod_security_refusal_is_on_the_sandbox_once_and_lifts_with_the_label() {
    use k8s_openapi::api::core::v1::Namespace;
    let Setup { cluster, ns, _lock } = setup("ctl-psa").await;
    let namespaces: Api<Namespace> = Api::all(cluster.client.clone());
    let label = |level: Option<&str>| json!({"metadata": {"labels": {"pod-security.kubernetes.io/enforce": level}}});
    namespaces.patch(ns.name(), &PatchParams::default(), &Patch::Merge(&label(Some("baseline")))).await.unwrap();
    let controller = RunningController::start(&cluster.client);
    let sandboxes: Api<Sandbox> = ns.api();
    let pods: Api<Pod> = ns.api();
    // DinD's sidecar keeps nine capabilities: more than baseline allows.
    sandboxes.create(&PostParams::default(), &sandbox("psa", json!({"image": "x"}))).await.unwrap();
    let refused = wait_ready_reason(&sandboxes, "psa", "PodSecurity").await;
    let (status, _, message) = condition(&refused, "Ready");
    assert_eq!(status, "False");
    assert!(message.contains("violates PodSecurity \"baseline:latest\"") && message.contains("dind"), "{message}");
    assert_eq!(condition(&refused, "PodScheduled").1, "PodSecurity");
    // The level and the field, in the API server's words.
    assert_eq!(condition(&refused, "PodSecurity"), ("False", "Violation", message));
    // Retries (2 s, 4 s, …) add no events: one per distinct refusal.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let events = warnings(&ns, "psa", "PodSecurity").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0], message, "the event carries the API server's message");
    assert!(pods.get_opt("sbx-psa").await.unwrap().is_none());
    // The namespace's label goes: the Sandbox runs by itself (the namespace watch looks again).
    namespaces.patch(ns.name(), &PatchParams::default(), &Patch::Merge(&label(None))).await.unwrap();
    wait_pod(&pods, "sbx-psa").await;
    // The condition goes with its cause.
    eventually("no PodSecurity condition", WAIT, || async {
        let s = sandboxes.get("psa").await.ok()?;
        s.status?.conditions.iter().all(|c| c.type_ != "PodSecurity").then_some(())
    })
    .await;
    controller.stop().await;
    ns.delete().await.unwrap();
}

#[tokio::test]
#[ignore = "needs the e2e cluster (scripts/test starts it)"]
async fn a_quota_refusal_is_on_the_sandbox_and_lifts_when_the_quota_is_raised() {
    use k8s_openapi::api::core::v1::ResourceQuota;
    let Setup { cluster, ns, _lock } = setup("ctl-quota").await;
    let quotas: Api<ResourceQuota> = ns.api();
    let quota = |pods: &str| -> ResourceQuota {
        serde_json::from_value(json!({"metadata": {"name": "pods"}, "spec": {"hard": {"pods": pods}}})).unwrap()
    };
    quotas.create(&PostParams::default(), &quota("1")).await.unwrap();
    // The quota controller fills in what is used before admission counts against it.
    eventually("the quota's usage", WAIT, || async {
        quotas.get("pods").await.ok()?.status?.used.filter(|u| u.contains_key("pods"))
    })
    .await;
    let controller = RunningController::start(&cluster.client);
    let sandboxes: Api<Sandbox> = ns.api();
    let pods: Api<Pod> = ns.api();
    let none = json!({"image": "x", "docker": {"mode": "none"}});
    sandboxes.create(&PostParams::default(), &sandbox("first", none.clone())).await.unwrap();
    wait_pod(&pods, "sbx-first").await;
    sandboxes.create(&PostParams::default(), &sandbox("second", none)).await.unwrap();
    let refused = wait_ready_reason(&sandboxes, "second", "QuotaExceeded").await;
    let message = condition(&refused, "Ready").2;
    assert!(message.contains("exceeded quota: pods") && message.contains("limited: pods=1"), "{message}");
    assert_eq!(refused.status.as_ref().unwrap().phase, Some(SandboxPhase::Pending));
    assert_eq!(warnings(&ns, "second", "QuotaExceeded").await.len(), 1);
    quotas
        .replace("pods", &PostParams::default(), &{
            let mut q = quota("2");
            q.metadata.resource_version = quotas.get("pods").await.unwrap().metadata.resource_version;
            q
        })
        .await
        .unwrap();
    // Retried with backoff (capped at a minute; the first retries come within seconds).
    wait_pod(&pods, "sbx-second").await;
    controller.stop().await;
    ns.delete().await.unwrap();
}

#[tokio::test]
#[ignore = "needs the e2e cluster (scripts/test starts it)"]
async fn an_admission_policy_denial_is_on_the_sandbox() {
    use k8s_openapi::api::admissionregistration::v1::{ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding};
    let Setup { cluster, ns, _lock } = setup("ctl-vap").await;
    let name = format!("deny-{}", ns.name());
    let policies: Api<ValidatingAdmissionPolicy> = Api::all(cluster.client.clone());
    let bindings: Api<ValidatingAdmissionPolicyBinding> = Api::all(cluster.client.clone());
    let policy = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]}]},
            "validations": [{"expression": "false", "message": "this namespace runs no sandboxes (policy of the platform team)"}],
        },
    }))
    .unwrap();
    policies.create(&PostParams::default(), &policy).await.unwrap();
    let binding = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "policyName": name, "validationActions": ["Deny"],
            "matchResources": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns.name()}}},
        },
    }))
    .unwrap();
    bindings.create(&PostParams::default(), &binding).await.unwrap();
    // The API server takes a moment to enforce a new policy: probe with a dry run.
    let pods: Api<Pod> = ns.api();
    let probe: Pod = serde_json::from_value(
        json!({"metadata": {"name": "probe"}, "spec": {"containers": [{"name": "c", "image": "x"}]}}),
    )
    .unwrap();
    eventually("the policy to be enforced", WAIT, || async {
        pods.create(&PostParams { dry_run: true, ..Default::default() }, &probe).await.err()
    })
    .await;
    let controller = RunningController::start(&cluster.client);
    let sandboxes: Api<Sandbox> = ns.api();
    sandboxes
        .create(&PostParams::default(), &sandbox("denied", json!({"image": "x", "docker": {"mode": "none"}})))
        .await
        .unwrap();
    let refused = wait_ready_reason(&sandboxes, "denied", "AdmissionDenied").await;
    let message = condition(&refused, "Ready").2;
    assert!(message.contains("this namespace runs no sandboxes (policy of the platform team)"), "{message}");
    controller.stop().await;
    let _ = bindings.delete(&name, &DeleteParams::default()).await;
    let _ = policies.delete(&name, &DeleteParams::default()).await;
    ns.delete().await.unwrap();
}

#[tokio::test]
#[ignore = "needs the e2e cluster (scripts/test starts it)"]
async fn what_keeps_a_container_from_running_is_on_the_sandbox() {
    let Setup { cluster, ns, _lock } = setup("ctl-waiting").await;
    let controller = RunningController::start(&cluster.client);
    let sandboxes: Api<Sandbox> = ns.api();
    let pods: Api<Pod> = ns.api();
    sandboxes
        .create(
            &PostParams::default(),
            &sandbox("typo", json!({"image": "dockyard-sandbx:latest", "docker": {"mode": "none"}})),
        )
        .await
        .unwrap();
    wait_pod(&pods, "sbx-typo").await;
    run_pod(&pods, "sbx-typo", "dockyard-node", false, Timestamp::now()).await;
    // What a kubelet reports for an image that cannot be pulled.
    let waiting = json!({"status": {"containerStatuses": [{
        "name": "workload", "ready": false, "restartCount": 0, "image": "dockyard-sandbx:latest", "imageID": "",
        "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"dockyard-sandbx:latest\""}},
    }]}});
    pods.patch_status("sbx-typo", &PatchParams::default(), &Patch::Merge(&waiting)).await.unwrap();
    let stuck = wait_ready_reason(&sandboxes, "typo", "ImagePullBackOff").await;
    assert_eq!(condition(&stuck, "Ready").2, "container workload: Back-off pulling image \"dockyard-sandbx:latest\"");
    // A crash loop names how the last run ended.
    let crashing = json!({"status": {"containerStatuses": [{
        "name": "workload", "ready": false, "restartCount": 4, "image": "dockyard-sandbx:latest", "imageID": "",
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 1m20s restarting failed container=workload"}},
        "lastState": {"terminated": {"exitCode": 127, "reason": "Error", "message": "starting\nsh: typo: not found\n\n"}},
    }]}});
    pods.patch_status("sbx-typo", &PatchParams::default(), &Patch::Merge(&crashing)).await.unwrap();
    let crashing = wait_ready_reason(&sandboxes, "typo", "CrashLoopBackOff").await;
    let message = condition(&crashing, "Ready").2;
    assert!(message.contains("exit code 127, Error: sh: typo: not found; restarted 4 times"), "{message}");
    controller.stop().await;
    ns.delete().await.unwrap();
}

#[tokio::test]
#[ignore = "needs the e2e cluster (scripts/test starts it)"]
async fn a_sandbox_whose_node_is_gone_is_released_and_says_so() {
    let Setup { cluster, ns, _lock } = setup("ctl-gone").await;
    let controller = RunningController::start_with_agents(
        &cluster.client,
        agent_settings(ns.name(), free_port(), "/nonexistent/token"),
    );
    let sandboxes: Api<Sandbox> = ns.api();
    let pods: Api<Pod> = ns.api();
    sandboxes
        .create(&PostParams::default(), &sandbox("orphan", json!({"image": "x", "docker": {"mode": "hostSocket"}})))
        .await
        .unwrap();
    wait_pod(&pods, "sbx-orphan").await;
    // Bound to a node that has no Node object (deleted with its machine).
    let gone = format!("gone-{}", ns.name());
    run_pod(&pods, "sbx-orphan", &gone, true, Timestamp::now()).await;
    wait_phase(&sandboxes, "orphan", SandboxPhase::Ready).await;
    sandboxes.delete("orphan", &DeleteParams::default()).await.unwrap();
    eventually("the Sandbox to be released", WAIT, || async {
        sandboxes.get_opt("orphan").await.unwrap().is_none().then_some(())
    })
    .await;
    let events = events_for(&ns, "orphan").await;
    assert!(events.iter().any(|(r, n)| r == "NodeGone" && n.contains(&gone)), "{events:?}");
    controller.stop().await;
    ns.delete().await.unwrap();
}

async fn wait_condition(api: &Api<Sandbox>, name: &str, type_: &str, status: &str, reason: &str) -> Sandbox {
    eventually(&format!("{name}: {type_}={status} ({reason})"), WAIT, || async {
        let s = api.get_opt(name).await.ok().flatten()?;
        let c = s.status.as_ref()?.conditions.iter().find(|c| c.type_ == type_)?;
        (c.status == status && c.reason == reason).then_some(s.clone())
    })
    .await
}

/// A SandboxClass of the test's own, without rules (deleted with the test).
async fn own_class(cluster: &TestCluster, ns: &TestNamespace) -> (Api<SandboxClass>, SandboxClass) {
    let classes: Api<SandboxClass> = Api::all(cluster.client.clone());
    let class: SandboxClass = serde_json::from_value(json!({
        "apiVersion": "dockyard.dev/v1alpha1", "kind": "SandboxClass",
        "metadata": {"name": format!("{}-class", ns.name())}, "spec": {},
    }))
    .unwrap();
    classes.create(&PostParams::default(), &class).await.unwrap();
    (classes, class)
}

/// A DinD Sandbox of `class_name` whose Pod runs and is Ready (a controller
/// must be running); its Pod as first made.
async fn running_dind_sandbox(ns: &TestNamespace, name: &str, class_name: &str) -> Pod {
    let sandboxes: Api<Sandbox> = ns.api();
    let pods: Api<Pod> = ns.api();
    let spec = json!({"image": "x", "className": class_name, "docker": {"mode": "dind"}});
    sandboxes.create(&PostParams::default(), &sandbox(name, spec)).await.unwrap();
    let pod_name = format!("sbx-{name}");
    let first = wait_pod(&pods, &pod_name).await;
    run_pod(&pods, &pod_name, NODE, true, Timestamp::now()).await;
    wait_condition(&sandboxes, name, "Ready", "True", "Ready").await;
    first
}

/// Running work is sacred: an upgrade of Dockyard (new images), a Pod made by
/// an earlier Dockyard, a class deleted under a running sandbox — none of
/// these replaces its Pod; the Sandbox says what is pending or wrong. Only the
/// user's change to the Sandbox does.
#[tokio::test]
#[ignore = "needs the e2e cluster (scripts/test starts it)"]
async fn only_the_users_change_replaces_a_running_pod() {
    let Setup { cluster, ns, _lock } = setup("ctl-sacred").await;
    let sandboxes: Api<Sandbox> = ns.api();
    let pods: Api<Pod> = ns.api();
    let (classes, class) = own_class(&cluster, &ns).await;
    let class_name = class.name_any();
    let before = RunningController::start(&cluster.client);
    let first = running_dind_sandbox(&ns, "keeper", &class_name).await;
    wait_condition(&sandboxes, "keeper", "UpToDate", "True", "UpToDate").await;
    before.stop().await;

    // A Pod made before Pods carried their Sandbox's hash: adopted, not replaced.
    let unmark = json!([{"op": "remove", "path": "/metadata/annotations/dockyard.dev~1sandbox-spec-hash"}]);
    pods.patch("sbx-keeper", &PatchParams::default(), &Patch::<()>::Json(serde_json::from_value(unmark).unwrap()))
        .await
        .unwrap();
    // The upgrade: new entrypoint and DinD images.
    let upgraded = RenderSettings {
        entrypoint_image: "dockyard-entrypoint:next".into(),
        dind_image: "dockyard-dind:next".into(),
        ..RenderSettings::default()
    };
    let after = RunningController::start_with(
        &cluster.client,
        upgraded,
        agent_settings("dockyard-system", 9443, "/nonexistent/token"),
    );
    let pending = wait_condition(&sandboxes, "keeper", "UpToDate", "False", "UpdatePending").await;
    assert_eq!(condition(&pending, "Ready").0, "True", "still Ready");
    // Not a field of the running Pod changed: images are mutable, and a new
    // image would restart its containers (the sidecar's inner containers lost).
    let kept = pods.get("sbx-keeper").await.unwrap();
    let images = |pod: &Pod| -> Vec<String> {
        let spec = pod.spec.as_ref().unwrap();
        spec.init_containers.iter().flatten().chain(&spec.containers).filter_map(|c| c.image.clone()).collect()
    };
    assert_eq!(images(&kept), images(&first), "the running Pod's images were changed");
    assert_eq!(kept.annotations().get(POD_SPEC_HASH), first.annotations().get(POD_SPEC_HASH));
    eventually("the earlier Pod adopted", WAIT, || async {
        let pod = pods.get("sbx-keeper").await.ok()?;
        pod.annotations().contains_key(SANDBOX_SPEC_HASH).then_some(())
    })
    .await;

    // Its class deleted (an administrator's mistake, an upgrade's window).
    classes.delete(&class_name, &DeleteParams::default()).await.unwrap();
    let refused = wait_condition(&sandboxes, "keeper", "Admitted", "False", "ClassNotFound").await;
    assert!(
        condition(&refused, "Admitted").2.contains("its running Pod is kept"),
        "{:?}",
        condition(&refused, "Admitted")
    );
    assert_eq!(condition(&refused, "Ready").0, "True", "still Ready");
    eventually("the ClassNotFound event", WAIT, || async {
        (!warnings(&ns, "keeper", "ClassNotFound").await.is_empty()).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let warnings = warnings(&ns, "keeper", "ClassNotFound").await;
    assert_eq!(warnings.len(), 1, "one event, not one per reconcile: {warnings:?}");
    classes.create(&PostParams::default(), &class).await.unwrap();
    wait_condition(&sandboxes, "keeper", "Admitted", "True", "Admitted").await;

    // Throughout, the same Pod.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(pods.get("sbx-keeper").await.unwrap().uid(), first.uid(), "the running Pod was never replaced");

    // The user's change: a new Pod, with the new images.
    let change = json!({"spec": {"image": "y"}});
    sandboxes.patch("keeper", &PatchParams::default(), &Patch::Merge(&change)).await.unwrap();
    let replaced = wait_new_pod(&pods, "sbx-keeper", &first).await;
    let images = images(&replaced);
    assert!(images.contains(&"dockyard-dind:next".to_string()), "{images:?}");
    run_pod(&pods, "sbx-keeper", NODE, true, Timestamp::now()).await;
    wait_condition(&sandboxes, "keeper", "UpToDate", "True", "UpToDate").await;
    after.stop().await;
    classes.delete(&class_name, &DeleteParams::default()).await.unwrap();
    ns.delete().await.unwrap();
}

#[tokio::test]
#[ignore = "needs the e2e cluster (scripts/test starts it)"]
async fn a_pod_of_the_sandboxs_pod_name_that_it_does_not_own_is_never_taken_over() {
    let Setup { cluster, ns, _lock } = setup("ctl-squat").await;
    let sandboxes: Api<Sandbox> = ns.api();
    let pods: Api<Pod> = ns.api();
    let squatter: Pod = serde_json::from_value(json!({
        "metadata": {"name": "sbx-squatted"},
        "spec": {"containers": [{"name": "mine", "image": "someone-elses"}]},
    }))
    .unwrap();
    let squatter = pods.create(&PostParams::default(), &squatter).await.unwrap();
    let controller = RunningController::start(&cluster.client);
    sandboxes.create(&PostParams::default(), &sandbox("squatted", json!({"image": "x"}))).await.unwrap();
    let refused = wait_ready_reason(&sandboxes, "squatted", "PodNameTaken").await;
    assert!(condition(&refused, "Ready").2.contains("does not own"), "{:?}", condition(&refused, "Ready"));
    let pod = pods.get("sbx-squatted").await.unwrap();
    assert_eq!(pod.uid(), squatter.uid());
    // (The scheduler may bind it; Dockyard never writes to it.)
    let writers: Vec<_> = pod.managed_fields().iter().filter_map(|m| m.manager.as_deref()).collect();
    assert!(!writers.contains(&FIELD_MANAGER), "the other Pod was written to: {writers:?}");
    assert_eq!((pod.labels(), pod.annotations()), (squatter.labels(), squatter.annotations()));
    controller.stop().await;
    ns.delete().await.unwrap();
}

#[tokio::test]
#[ignore = "needs the e2e cluster (scripts/test starts it)"]
async fn a_tightened_class_keeps_running_pods_unless_it_says_stop() {
    let Setup { cluster, ns, _lock } = setup("ctl-tighten").await;
    let sandboxes: Api<Sandbox> = ns.api();
    let pods: Api<Pod> = ns.api();
    let (classes, class) = own_class(&cluster, &ns).await;
    let class_name = class.name_any();
    let controller = RunningController::start(&cluster.client);
    let first = running_dind_sandbox(&ns, "revoked", &class_name).await;

    // Tightened (DinD no longer allowed): the default keeps the running Pod.
    let tighten = json!({"spec": {"allowedDockerModes": ["none"]}});
    classes.patch(&class_name, &PatchParams::default(), &Patch::Merge(&tighten)).await.unwrap();
    let refused = wait_condition(&sandboxes, "revoked", "Admitted", "False", "DockerModeNotAllowed").await;
    assert_eq!(condition(&refused, "Ready").0, "True", "still Ready");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(pods.get("sbx-revoked").await.unwrap().uid(), first.uid(), "kept");

    // The class says Stop: the Pod goes at once, and the user is told why.
    let stop = json!({"spec": {"nonConformingPods": "Stop"}});
    classes.patch(&class_name, &PatchParams::default(), &Patch::Merge(&stop)).await.unwrap();
    wait_no_pod(&pods, "sbx-revoked").await;
    let stopped = eventually("the stop event", WAIT, || async {
        warnings(&ns, "revoked", "PodStopped").await.into_iter().find(|m| m.contains("is stopped"))
    })
    .await;
    assert!(stopped.contains(&format!("class {class_name}: nonConformingPods: Stop")), "{stopped}");
    wait_condition(&sandboxes, "revoked", "Ready", "False", "NotAdmitted").await;
    controller.stop().await;
    classes.delete(&class_name, &DeleteParams::default()).await.unwrap();
    ns.delete().await.unwrap();
}

fn pool(name: &str, size: i32, template: serde_json::Value) -> SandboxPool {
    serde_json::from_value(json!({
        "apiVersion": "dockyard.dev/v1alpha1", "kind": "SandboxPool",
        "metadata": {"name": name}, "spec": {"size": size, "template": template},
    }))
    .unwrap()
}

/// The live warm (unclaimed) Pods of `pool`.
async fn warm_pods(pods: &Api<Pod>, pool: &str) -> Vec<Pod> {
    let list = pods.list(&ListParams::default().labels(&format!("dockyard.dev/pool={pool}"))).await.unwrap();
    list.items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| p.owner_references().iter().any(|o| o.kind == "SandboxPool"))
        .collect()
}

/// Waits for `n` warm Pods of `pool` and runs them (Docker answering).
async fn run_warm_pods(pods: &Api<Pod>, pool: &str, n: usize) -> Vec<Pod> {
    let warm = eventually(&format!("{n} warm pods of {pool}"), WAIT, || async {
        let warm = warm_pods(pods, pool).await;
        (warm.len() == n).then_some(warm)
    })
    .await;
    for pod in &warm {
        run_pod(pods, &pod.name_any(), NODE, true, Timestamp::now()).await;
    }
    warm
}

async fn wait_pool(
    api: &Api<SandboxPool>,
    name: &str,
    what: &str,
    check: impl Fn(&SandboxPoolStatus) -> bool,
) -> SandboxPool {
    eventually(what, WAIT, || async {
        let pool = api.get_opt(name).await.ok().flatten()?;
        check(pool.status.as_ref()?).then_some(pool)
    })
    .await
}

fn pool_reason(status: &SandboxPoolStatus) -> (&str, &str) {
    let ready = status.conditions.iter().find(|c| c.type_ == "Ready").expect("Ready");
    (ready.reason.as_str(), ready.message.as_str())
}

#[tokio::test]
#[ignore = "needs the e2e cluster (scripts/test starts it)"]
async fn a_pool_keeps_warm_pods_and_a_matching_sandbox_claims_one_at_once() {
    let Setup { cluster, ns, _lock } = setup("ctl-pool").await;
    let controller = RunningController::start(&cluster.client);
    let pools: Api<SandboxPool> = ns.api();
    let sandboxes: Api<Sandbox> = ns.api();
    let pods: Api<Pod> = ns.api();
    let template = json!({"image": "x", "docker": {"mode": "dind"}});
    pools.create(&PostParams::default(), &pool("py", 2, template.clone())).await.unwrap();
    let warm = run_warm_pods(&pods, "py", 2).await;
    for pod in &warm {
        assert!(pod.name_any().starts_with("pool-py-"), "{}", pod.name_any());
        assert_eq!(pod.spec.as_ref().unwrap().hostname.as_deref(), Some("py"));
        assert!(!pod.labels().contains_key("dockyard.dev/sandbox-uid"));
    }
    let full = wait_pool(&pools, "py", "the pool full", |s| s.ready == 2).await;
    assert_eq!(pool_reason(full.status.as_ref().unwrap()).0, "Full");

    // A Sandbox asking for exactly the template: Ready on its first status
    // write, its Pod a warm one, now its own.
    let mut asked = template.clone();
    asked["poolName"] = json!("py");
    let alice = sandboxes.create(&PostParams::default(), &sandbox("alice", asked.clone())).await.unwrap();
    let ready = wait_phase(&sandboxes, "alice", SandboxPhase::Ready).await;
    let status = ready.status.as_ref().unwrap();
    let warm_start = status.warm_start.as_ref().expect("status.warmStart");
    assert!(warm_start.claimed && warm_start.reason == "Claimed", "{warm_start:?}");
    let pod_name = status.pod_name.clone().unwrap();
    assert!(warm.iter().any(|p| p.name_any() == pod_name), "{pod_name} is one of the warm pods");
    assert_eq!(condition(&ready, "UpToDate").0, "True", "the claimed Pod is what the Sandbox gets");
    let claimed = pods.get(&pod_name).await.unwrap();
    let owner = &claimed.owner_references()[0];
    assert_eq!((owner.kind.as_str(), Some(&owner.uid)), ("Sandbox", alice.uid().as_ref()));
    assert_eq!(claimed.owner_references().len(), 1);
    assert_eq!(claimed.labels().get("dockyard.dev/sandbox-uid"), alice.uid().as_ref());
    assert_eq!(claimed.labels().get("dockyard.dev/sandbox").map(String::as_str), Some("alice"));
    assert!(pods.get_opt("sbx-alice").await.unwrap().is_none(), "no cold Pod");
    // The pool starts another and counts the claimed one.
    let refill = run_warm_pods(&pods, "py", 2).await;
    assert!(refill.iter().all(|p| p.name_any() != pod_name), "the claimed Pod never returns to the pool");
    let refilled = wait_pool(&pools, "py", "the pool refilled", |s| s.ready == 2 && s.claimed == 1).await;
    assert_eq!(refilled.status.unwrap().starting, 0);

    // A different spec naming the pool starts cold and says why.
    let mut other = asked.clone();
    other["image"] = json!("y");
    sandboxes.create(&PostParams::default(), &sandbox("bob", other)).await.unwrap();
    wait_pod(&pods, "sbx-bob").await;
    let bob = eventually("bob's warm start", WAIT, || async {
        sandboxes.get("bob").await.ok()?.status?.warm_start.filter(|w| !w.claimed)
    })
    .await;
    assert_eq!(bob.reason, "TemplateMismatch");
    assert!(bob.message.contains("spec.{image}"), "{}", bob.message);
    assert!(events_for(&ns, "bob").await.iter().any(|(reason, _)| reason == "WarmStartMissed"));
    // A pool that does not exist: cold, PoolNotFound.
    let mut lost = template.clone();
    lost["poolName"] = json!("nope");
    sandboxes.create(&PostParams::default(), &sandbox("carol", lost)).await.unwrap();
    wait_pod(&pods, "sbx-carol").await;
    let carol =
        eventually("carol's warm start", WAIT, || async { sandboxes.get("carol").await.ok()?.status?.warm_start })
            .await;
    assert_eq!(carol.reason, "PoolNotFound");

    // A warm Pod whose sidecar cannot start (here: a preload's pull fails)
    // says why on the pool, with its last words, and one event.
    let stuck = &refill[0];
    let crashing = json!({"status": {
        "conditions": [{"type": "Ready", "status": "False"}, {"type": "ContainersReady", "status": "False"}],
        "initContainerStatuses": [{"name": "dind", "ready": false, "started": false, "restartCount": 3, "image": "d", "imageID": "",
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s restarting failed container=dind"}},
        "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
            "message": "dockyard-entrypoint: error: cannot preload image nope:1 (spec.docker.dind.preloadImages): manifest unknown\n"}},
    }]}});
    pods.patch_status(&stuck.name_any(), &PatchParams::default(), &Patch::Merge(&crashing)).await.unwrap();
    let shown = wait_pool(&pools, "py", "the stuck warm Pod shown", |s| pool_reason(s).0 == "CrashLoopBackOff").await;
    let (_, message) = pool_reason(shown.status.as_ref().unwrap());
    assert!(message.starts_with(&format!("warm Pod {}: container dind:", stuck.name_any())), "{message}");
    assert!(
        message.contains("cannot preload image nope:1 (spec.docker.dind.preloadImages): manifest unknown"),
        "{message}"
    );
    let events = events_for(&ns, "py").await;
    assert_eq!(events.iter().filter(|(reason, _)| reason == "CrashLoopBackOff").count(), 1, "{events:?}");
    run_pod(&pods, &stuck.name_any(), NODE, true, Timestamp::now()).await;
    wait_pool(&pools, "py", "the pool full again", |s| pool_reason(s).0 == "Full").await;

    // A claimed sandbox is deleted like a cold one: its Pod goes with it; the
    // pool's warm Pods stay.
    sandboxes.delete("alice", &DeleteParams::default()).await.unwrap();
    wait_no_pod(&pods, &pod_name).await;
    assert_eq!(warm_pods(&pods, "py").await.len(), 2);
    // Suspending and resuming a claimed sandbox: the Pod goes, and comes back
    // (a new warm one when the pool has one).
    sandboxes.create(&PostParams::default(), &sandbox("dave", asked.clone())).await.unwrap();
    let dave = wait_phase(&sandboxes, "dave", SandboxPhase::Ready).await;
    let dave_pod = dave.status.unwrap().pod_name.unwrap();
    sandboxes
        .patch("dave", &PatchParams::default(), &Patch::Merge(json!({"spec": {"suspended": true}})))
        .await
        .unwrap();
    wait_phase(&sandboxes, "dave", SandboxPhase::Suspended).await;
    wait_no_pod(&pods, &dave_pod).await;
    controller.stop().await;
    ns.delete().await.unwrap();
}

#[tokio::test]
#[ignore = "needs the e2e cluster (scripts/test starts it)"]
async fn a_pool_with_a_refill_delay_refills_once_claims_pause_or_at_a_quarter() {
    let Setup { cluster, ns, _lock } = setup("ctl-pool-refill").await;
    let controller = RunningController::start(&cluster.client);
    let pools: Api<SandboxPool> = ns.api();
    let sandboxes: Api<Sandbox> = ns.api();
    let pods: Api<Pod> = ns.api();
    let template = json!({"image": "x", "docker": {"mode": "none"}});
    let mut burst = pool("burst", 4, template.clone());
    burst.spec.refill_delay_seconds = Some(12);
    pools.create(&PostParams::default(), &burst).await.unwrap();
    run_warm_pods(&pods, "burst", 4).await;
    wait_pool(&pools, "burst", "the pool full", |s| s.ready == 4).await;
    let mut asked = template.clone();
    asked["poolName"] = json!("burst");

    // One claim: the refill waits for claims to pause, and says so.
    sandboxes.create(&PostParams::default(), &sandbox("one", asked.clone())).await.unwrap();
    wait_phase(&sandboxes, "one", SandboxPhase::Ready).await;
    let claimed_at = Instant::now();
    let waiting = wait_pool(&pools, "burst", "the refill waiting", |s| s.ready == 3 && s.claimed == 1).await;
    let (reason, message) = pool_reason(waiting.status.as_ref().unwrap());
    assert_eq!(reason, "Starting");
    assert!(message.contains("1 to start once claims pause for 12 s"), "{message}");
    assert_eq!(warm_pods(&pods, "burst").await.len(), 3, "nothing started yet");
    // Then, claims paused, the pool refills by itself (never before the delay).
    run_warm_pods(&pods, "burst", 4).await;
    assert!(claimed_at.elapsed() >= Duration::from_secs(8), "refilled after {:?}", claimed_at.elapsed());
    wait_pool(&pools, "burst", "the pool full again", |s| s.ready == 4).await;

    // A burst down to a quarter of the pool: the refill starts at once.
    for name in ["two", "three", "four"] {
        sandboxes.create(&PostParams::default(), &sandbox(name, asked.clone())).await.unwrap();
        wait_phase(&sandboxes, name, SandboxPhase::Ready).await;
    }
    let down_to_a_quarter = Instant::now();
    eventually("the refill", WAIT, || async { (warm_pods(&pods, "burst").await.len() == 4).then_some(()) }).await;
    assert!(
        down_to_a_quarter.elapsed() < Duration::from_secs(8),
        "refilled at once, not after the delay: {:?}",
        down_to_a_quarter.elapsed()
    );
    run_warm_pods(&pods, "burst", 4).await;
    wait_pool(&pools, "burst", "the pool full at last", |s| s.ready == 4 && s.claimed == 4).await;
    controller.stop().await;
    ns.delete().await.unwrap();
}

#[tokio::test]
#[ignore = "needs the e2e cluster (scripts/test starts it)"]
async fn a_class_default_pool_serves_sandboxes_that_name_no_pool() {
    let Setup { cluster, ns, _lock } = setup("ctl-pool-default").await;
    let classes: Api<SandboxClass> = Api::all(cluster.client.clone());
    let class_name = format!("pooled-{}", ns.name());
    let class: SandboxClass = serde_json::from_value(json!({
        "apiVersion": "dockyard.dev/v1alpha1", "kind": "SandboxClass",
        "metadata": {"name": class_name}, "spec": {"defaultPool": "warm"},
    }))
    .unwrap();
    classes.create(&PostParams::default(), &class).await.unwrap();
    let controller = RunningController::start(&cluster.client);
    let pools: Api<SandboxPool> = ns.api();
    let sandboxes: Api<Sandbox> = ns.api();
    let pods: Api<Pod> = ns.api();
    let template = json!({"image": "x", "className": class_name, "docker": {"mode": "none"}});
    // Before the pool exists: cold, the status says why, and no event (a
    // default pool missing from a namespace is routine).
    sandboxes.create(&PostParams::default(), &sandbox("early", template.clone())).await.unwrap();
    wait_pod(&pods, "sbx-early").await;
    let early =
        eventually("early's warm start", WAIT, || async { sandboxes.get("early").await.ok()?.status?.warm_start })
            .await;
    assert_eq!((early.reason.as_str(), early.pool.as_str(), early.claimed), ("PoolNotFound", "warm", false));
    assert!(early.message.starts_with(&format!("class {class_name}'s defaultPool: no SandboxPool warm")), "{early:?}");
    assert!(!events_for(&ns, "early").await.iter().any(|(reason, _)| reason == "WarmStartMissed"));

    pools.create(&PostParams::default(), &pool("warm", 1, template.clone())).await.unwrap();
    let warm = run_warm_pods(&pods, "warm", 1).await;
    wait_pool(&pools, "warm", "the pool full", |s| s.ready == 1).await;
    // Naming no pool, asking for the template: the class's pool serves it.
    sandboxes.create(&PostParams::default(), &sandbox("served", template.clone())).await.unwrap();
    let served = wait_phase(&sandboxes, "served", SandboxPhase::Ready).await;
    let status = served.status.unwrap();
    assert!(status.warm_start.as_ref().is_some_and(|w| w.claimed && w.pool == "warm"), "{:?}", status.warm_start);
    assert_eq!(status.pod_name.as_deref(), Some(warm[0].name_any().as_str()));
    assert!(pods.get_opt("sbx-served").await.unwrap().is_none(), "no cold Pod");
    // Another spec of the class: cold, TemplateMismatch, no event.
    let mut other = template.clone();
    other["image"] = json!("y");
    sandboxes.create(&PostParams::default(), &sandbox("other", other)).await.unwrap();
    wait_pod(&pods, "sbx-other").await;
    let miss =
        eventually("other's warm start", WAIT, || async { sandboxes.get("other").await.ok()?.status?.warm_start })
            .await;
    assert_eq!(miss.reason, "TemplateMismatch");
    assert!(!events_for(&ns, "other").await.iter().any(|(reason, _)| reason == "WarmStartMissed"));
    controller.stop().await;
    ns.delete().await.unwrap();
    classes.delete(&class_name, &DeleteParams::default()).await.unwrap();
}

#[tokio::test]
#[ignore = "needs the e2e cluster (scripts/test starts it)"]
async fn concurrent_claims_never_share_a_pod_even_with_the_controller_killed_mid_claim() {
    let Setup { cluster, ns, _lock } = setup("ctl-pool-race").await;
    let pools: Api<SandboxPool> = ns.api();
    let sandboxes: Api<Sandbox> = ns.api();
    let pods: Api<Pod> = ns.api();
    let template = json!({"image": "x", "docker": {"mode": "none"}});
    let controller = RunningController::start(&cluster.client);
    pools.create(&PostParams::default(), &pool("race", 4, template.clone())).await.unwrap();
    run_warm_pods(&pods, "race", 4).await;
    wait_pool(&pools, "race", "the pool full", |s| s.ready == 4).await;
    // Eight Sandboxes at once for four warm Pods; the controller is killed
    // while it claims and started again.
    let mut asked = template.clone();
    asked["poolName"] = json!("race");
    let creates = (0..8).map(|i| {
        let (sandboxes, spec) = (sandboxes.clone(), asked.clone());
        async move { sandboxes.create(&PostParams::default(), &sandbox(&format!("s{i}"), spec)).await.unwrap() }
    });
    futures::future::join_all(creates).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    controller.kill();
    let controller = RunningController::start(&cluster.client);
    // Every sandbox has exactly one Pod: warm or cold.
    let owners = eventually("a Pod for each of the eight sandboxes", WAIT, || async {
        let all = pods.list(&ListParams::default()).await.ok()?.items;
        let owned: Vec<(String, String)> = all
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .filter_map(|p| {
                let owner = p.owner_references().iter().find(|o| o.kind == "Sandbox")?;
                Some((owner.name.clone(), p.name_any()))
            })
            .collect();
        (owned.len() >= 8).then_some(owned)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let all = pods.list(&ListParams::default()).await.unwrap().items;
    for pod in &all {
        let sandbox_owners =
            pod.owner_references().iter().filter(|o| matches!(o.kind.as_str(), "Sandbox" | "SandboxPool"));
        assert_eq!(sandbox_owners.count(), 1, "{} has one owner", pod.name_any());
    }
    let mut names: Vec<&String> = owners.iter().map(|(sandbox, _)| sandbox).collect();
    names.sort();
    names.dedup();
    assert_eq!((names.len(), owners.len()), (8, 8), "one Pod per sandbox: {owners:?}");
    let claimed: Vec<_> = owners.iter().filter(|(_, pod)| pod.starts_with("pool-race-")).collect();
    assert_eq!(claimed.len(), 4, "the four warm Pods went to four sandboxes: {owners:?}");
    // Each sandbox's status says how it started, as its Pod does.
    for (name, pod) in &owners {
        let warm_start = eventually(&format!("{name}'s warm start"), WAIT, || async {
            sandboxes.get(name).await.ok()?.status?.warm_start
        })
        .await;
        assert_eq!(warm_start.claimed, pod.starts_with("pool-race-"), "{name}: {warm_start:?} for {pod}");
        if !warm_start.claimed {
            assert_eq!(warm_start.reason, "PoolEmpty", "{name}");
        }
    }
    controller.stop().await;
    ns.delete().await.unwrap();
}

#[tokio::test]
#[ignore = "needs the e2e cluster (scripts/test starts it)"]
async fn a_pool_shows_its_class_refusal_and_its_quota_and_starts_what_fits() {
    use k8s_openapi::api::core::v1::ResourceQuota;
    let Setup { cluster, ns, _lock } = setup("ctl-pool-bad").await;
    let quotas: Api<ResourceQuota> = ns.api();
    let quota: ResourceQuota =
        serde_json::from_value(json!({"metadata": {"name": "pods"}, "spec": {"hard": {"pods": "2"}}})).unwrap();
    quotas.create(&PostParams::default(), &quota).await.unwrap();
    eventually("the quota's usage", WAIT, || async {
        quotas.get("pods").await.ok()?.status?.used.filter(|u| u.contains_key("pods"))
    })
    .await;
    let classes: Api<SandboxClass> = Api::all(cluster.client.clone());
    let class_name = format!("no-dind-{}", ns.name());
    let class: SandboxClass = serde_json::from_value(json!({
        "apiVersion": "dockyard.dev/v1alpha1", "kind": "SandboxClass",
        "metadata": {"name": class_name}, "spec": {"allowedDockerModes": ["none"]},
    }))
    .unwrap();
    classes.create(&PostParams::default(), &class).await.unwrap();
    let controller = RunningController::start(&cluster.client);
    let pools: Api<SandboxPool> = ns.api();
    let pods: Api<Pod> = ns.api();
    // The class refuses the template: the pool says why and starts nothing.
    let refused = json!({"image": "x", "className": class_name, "docker": {"mode": "dind"}});
    pools.create(&PostParams::default(), &pool("refused", 2, refused)).await.unwrap();
    let pool_refused = wait_pool(&pools, "refused", "the pool refused", |s| {
        s.conditions.iter().any(|c| c.reason == "TemplateRefused")
    })
    .await;
    let (_, message) = pool_reason(pool_refused.status.as_ref().unwrap());
    assert!(message.contains("dind"), "{message}");
    // Over the namespace's quota: what fits starts, the rest is refused in the API server's words.
    let fits = json!({"image": "x", "docker": {"mode": "none"}});
    pools.create(&PostParams::default(), &pool("big", 3, fits)).await.unwrap();
    let over =
        wait_pool(&pools, "big", "the quota refusal", |s| s.conditions.iter().any(|c| c.reason == "QuotaExceeded"))
            .await;
    let (_, message) = pool_reason(over.status.as_ref().unwrap());
    assert!(message.contains("exceeded quota: pods") && message.contains("limited: pods=2"), "{message}");
    assert_eq!(warm_pods(&pods, "big").await.len(), 2, "what fits started");
    assert!(warm_pods(&pods, "refused").await.is_empty());
    let events: Vec<_> = events_for(&ns, "big").await;
    assert!(events.iter().any(|(reason, _)| reason == "QuotaExceeded"), "{events:?}");
    controller.stop().await;
    classes.delete(&class_name, &DeleteParams::default()).await.unwrap();
    ns.delete().await.unwrap();
}

#[tokio::test]
#[ignore = "needs the e2e cluster and the node's dockerd (scripts/test starts them)"]
async fn a_claimed_host_socket_pod_is_ready_only_once_the_agent_bound_its_socket() {
    let Setup { cluster, ns, _lock } = setup("ctl-pool-bind").await;
    let port = free_port();
    let token_file = std::env::temp_dir().join(format!("dockyard-ctl-token-b-{}", std::process::id()));
    std::fs::write(&token_file, ns.service_account_token("controller").await.unwrap()).unwrap();
    let controller = RunningController::start_with_agents(
        &cluster.client,
        agent_settings(ns.name(), port, token_file.to_str().unwrap()),
    );
    let pools: Api<SandboxPool> = ns.api();
    let sandboxes: Api<Sandbox> = ns.api();
    let pods: Api<Pod> = ns.api();
    let template = json!({"image": "x", "docker": {"mode": "hostSocket"}});
    pools.create(&PostParams::default(), &pool("hs", 1, template.clone())).await.unwrap();
    let warm = run_warm_pods(&pods, "hs", 1).await.remove(0);
    wait_pool(&pools, "hs", "the pool full", |s| s.ready == 1).await;

    // Claimed, but no agent answers on the node: the Pod is the Sandbox's, its
    // socket not yet, and the Sandbox says so rather than Ready.
    let mut asked = template.clone();
    asked["poolName"] = json!("hs");
    let claimer = sandboxes.create(&PostParams::default(), &sandbox("claimer", asked)).await.unwrap();
    let unbound = wait_condition(&sandboxes, "claimer", "DockerReady", "False", "DockerNotBound").await;
    let (_, _, message) = condition(&unbound, "DockerReady");
    assert!(message.contains(&warm.name_any()) && message.contains("no running node agent on node"), "{message}");
    assert_eq!(condition(&unbound, "Ready").0, "False");
    assert_eq!(unbound.status.as_ref().unwrap().warm_start.as_ref().map(|w| w.claimed), Some(true));

    // The agent comes up; once its Pod watch serves the Sandbox's broker (here
    // by hand), the controller's retry binds the Pod's socket and only then
    // is the Sandbox Ready.
    let (server, agent) = start_agent_on(ns.name(), port, NODE).await;
    agent_pod_on(&pods, NODE).await;
    let uid = claimer.uid().unwrap();
    agent.brokers.ensure(dockyard_testing::broker_scope(&uid, None)).unwrap();
    let ready = wait_phase(&sandboxes, "claimer", SandboxPhase::Ready).await;
    assert_eq!(condition(&ready, "DockerReady").1, "DockerAnswering");
    let target = dockyard_agent::csi::publish::target_path(&agent.settings.kubelet_root, &warm.uid().unwrap());
    let holder = agent.brokers.holder(&target);
    assert_eq!(holder, Some(dockyard_agent::broker::Holder::Sandbox(uid.clone())), "the Pod's socket is the Sandbox's");

    agent.brokers.remove(&uid).unwrap();
    server.abort();
    controller.stop().await;
    std::fs::remove_file(token_file).unwrap();
    ns.delete().await.unwrap();
}
