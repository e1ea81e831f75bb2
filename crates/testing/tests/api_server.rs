//! Dockyard's CRDs on the real API server of the e2e cluster: what the schema
//! accepts, defaults and refuses, and the status subresource.

use dockyard_api::v1alpha1::{DockerMode, SandboxPhase, SandboxPool};
use dockyard_api::{Sandbox, SandboxClass};
use dockyard_testing::TestCluster;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;

fn sandbox(name: &str, spec: serde_json::Value) -> Sandbox {
    serde_json::from_value(json!({
        "apiVersion": "dockyard.dev/v1alpha1", "kind": "Sandbox",
        "metadata": {"name": name}, "spec": spec,
    }))
    .unwrap()
}

/// The message of an API error, or a panic when the call succeeded.
fn refusal<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> String {
    match result {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422, "{status:?}");
            status.message
        }
        other => panic!("expected the API server to refuse, got {other:?}"),
    }
}

#[tokio::test]
#[ignore = "needs the e2e cluster (scripts/test starts it)"]
async fn sandboxes_are_defaulted_validated_and_have_a_status_subresource() {
    let cluster = TestCluster::connect().await.expect("the e2e cluster answers");
    cluster.install_crds().await.unwrap();
    let ns = cluster.namespace("api-server").await.unwrap();
    let sandboxes: Api<Sandbox> = ns.api();
    let pp = PostParams::default();

    let created = sandboxes.create(&pp, &sandbox("ok", json!({"image": "dockyard-sandbox:latest"}))).await.unwrap();
    assert_eq!(created.spec.docker.mode, DockerMode::Dind, "mode defaults to dind");
    assert_eq!((created.spec.user.name.as_str(), created.spec.user.uid), ("sandbox", 1000));

    let message = refusal(sandboxes.create(&pp, &sandbox("root", json!({"image": "x", "user": {"uid": 0}}))).await);
    assert!(message.contains("spec.user.uid"), "{message}");
    let message = refusal(
        sandboxes.create(&pp, &sandbox("mixed", json!({"image": "x", "docker": {"mode": "none", "dind": {}}}))).await,
    );
    assert!(message.contains("spec.docker.dind") && message.contains("mode: dind"), "{message}");
    let message = refusal(
        sandboxes
            .create(&pp, &sandbox("sudo", json!({"image": "x", "sudo": {"commands": ["/usr/bin/apt-get", "sh"]}})))
            .await,
    );
    assert!(message.contains("spec.sudo.commands") && message.contains("absolute path"), "{message}");
    // Images to preload: references by the daemon's grammar, nothing else.
    let digest = format!("registry.example.com:5000/team/tools@sha256:{}", "0a".repeat(32));
    let good = ["busybox", "postgres:17", "localhost:5000/a/b_c:1.2-x", "registry.internal:5000/tools", &digest];
    let spec = json!({"image": "x", "docker": {"mode": "dind", "dind": {"preloadImages": good}}});
    let preloading = sandboxes.create(&pp, &sandbox("preload", spec)).await.unwrap();
    assert_eq!(preloading.spec.docker.dind.unwrap().preload_images, good);
    for bad in ["Busybox", "busybox:", "a//b", "http://r.example/x", "busybox@sha256:abc", "-x", "r.example/x y"] {
        let spec = json!({"image": "x", "docker": {"mode": "dind", "dind": {"preloadImages": ["busybox", bad]}}});
        let message = refusal(sandboxes.create(&pp, &sandbox("bad-preload", spec)).await);
        assert!(
            message.contains("spec.docker.dind.preloadImages") && message.contains("image reference such as"),
            "{bad}: {message}"
        );
    }
    let long = "a".repeat(59);
    let message = refusal(sandboxes.create(&pp, &sandbox(&long, json!({"image": "x"}))).await);
    assert!(message.contains("at most 58 characters"), "{message}");

    // Status is a subresource: written separately, and not through the main resource.
    let status = json!({"status": {"phase": "Pending", "observedGeneration": created.metadata.generation}});
    let patched = sandboxes.patch_status("ok", &PatchParams::default(), &Patch::Merge(&status)).await.unwrap();
    assert_eq!(patched.status.unwrap().phase, Some(SandboxPhase::Pending));
    let through_main = json!({"status": {"phase": "Ready"}});
    let main = sandboxes.patch("ok", &PatchParams::default(), &Patch::Merge(&through_main)).await.unwrap();
    assert_eq!(main.status.unwrap().phase, Some(SandboxPhase::Pending), "status ignored on the main resource");

    ns.delete().await.unwrap();
}

#[tokio::test]
#[ignore = "needs the e2e cluster (scripts/test starts it)"]
async fn sandbox_classes_are_cluster_scoped_and_validated() {
    let cluster = TestCluster::connect().await.expect("the e2e cluster answers");
    cluster.install_crds().await.unwrap();
    let classes: Api<SandboxClass> = Api::all(cluster.client.clone());
    let name = format!("api-server-test-{}", std::process::id());
    let class: SandboxClass = serde_json::from_value(json!({
        "apiVersion": "dockyard.dev/v1alpha1", "kind": "SandboxClass",
        "metadata": {"name": name},
        "spec": {"dind": {"security": {"profile": "capabilities", "capabilities": ["ALL"], "dropCapabilities": ["SYS_RESOURCE"]},
                          "mtu": 1400, "addressPools": [{"base": "10.201.0.0/16", "size": 24}]}},
    }))
    .unwrap();
    let created = classes.create(&PostParams::default(), &class).await.unwrap();
    assert_eq!(created.spec.allowed_docker_modes.len(), 3, "all modes allowed by default");
    classes.delete(&created.name_any(), &Default::default()).await.unwrap();

    let mut bad = class.clone();
    bad.metadata.name = Some(format!("{name}-bad"));
    bad.spec.dind.address_pools[0].base = "10.201.0.0".into();
    bad.spec.dind.security.capabilities.clear();
    let message = refusal(classes.create(&PostParams::default(), &bad).await);
    assert!(message.contains("spec.dind.addressPools[0].base"), "{message}");
    assert!(message.contains("spec.dind.security.capabilities"), "{message}");

    // The daemon's registries: https mirrors, http only for an insecure
    // registry listed as such, insecure registries as host[:port] or CIDR.
    let daemon = |mirrors: serde_json::Value, insecure: serde_json::Value, suffix: &str| -> SandboxClass {
        serde_json::from_value(json!({
            "apiVersion": "dockyard.dev/v1alpha1", "kind": "SandboxClass",
            "metadata": {"name": format!("{name}-{suffix}")},
            "spec": {"dind": {"registryMirrors": mirrors, "insecureRegistries": insecure, "storageDriver": "vfs"}},
        }))
        .unwrap()
    };
    let good = daemon(
        json!(["https://mirror.example.com", "http://registry.internal:5000"]),
        json!(["registry.internal:5000", "10.0.0.0/8"]),
        "registries",
    );
    let created = classes.create(&PostParams::default(), &good).await.unwrap();
    classes.delete(&created.name_any(), &Default::default()).await.unwrap();
    let message = refusal(
        classes.create(&PostParams::default(), &daemon(json!(["http://plain.example"]), json!([]), "plain")).await,
    );
    assert!(
        message.contains("an http:// registry mirror must have its host (and port) listed in insecureRegistries"),
        "{message}"
    );
    let message = refusal(
        classes.create(&PostParams::default(), &daemon(json!(["https://m.example/v2?x=1"]), json!([]), "path")).await,
    );
    assert!(message.contains("spec.dind.registryMirrors[0]") && message.contains("should match"), "{message}");
    let message = refusal(
        classes
            .create(&PostParams::default(), &daemon(json!([]), json!(["https://registry.internal"]), "scheme"))
            .await,
    );
    assert!(message.contains("spec.dind.insecureRegistries[0]") && message.contains("should match"), "{message}");
}

#[tokio::test]
#[ignore = "needs the e2e cluster (scripts/test starts it)"]
async fn sandbox_pools_are_validated_with_the_field_named() {
    let cluster = TestCluster::connect().await.expect("the e2e cluster answers");
    cluster.install_crds().await.unwrap();
    let ns = cluster.namespace("api-server-pool").await.unwrap();
    let pools: Api<SandboxPool> = ns.api();
    let pp = PostParams::default();
    let pool = |name: &str, spec: serde_json::Value| -> SandboxPool {
        serde_json::from_value(json!({
            "apiVersion": "dockyard.dev/v1alpha1", "kind": "SandboxPool", "metadata": {"name": name}, "spec": spec,
        }))
        .unwrap()
    };
    let template = json!({"image": "x", "docker": {"mode": "dind"}});

    let created = pools
        .create(&pp, &pool("ok", json!({"size": 3, "refillDelaySeconds": 2, "template": template})))
        .await
        .unwrap();
    assert_eq!((created.spec.size, created.spec.refill_delay_seconds), (3, Some(2)));
    let plain = pools.create(&pp, &pool("plain", json!({"size": 0, "template": template}))).await.unwrap();
    assert_eq!(plain.spec.refill_delay_seconds, None, "refills at once unless asked");

    for (spec, field, allowed) in [
        (json!({"size": 1001, "template": template}), "spec.size", "less than or equal to 1000"),
        (json!({"size": -1, "template": template}), "spec.size", "greater than or equal to 0"),
        (
            json!({"size": 1, "refillDelaySeconds": 301, "template": template}),
            "spec.refillDelaySeconds",
            "less than or equal to 300",
        ),
        (
            json!({"size": 1, "refillDelaySeconds": -1, "template": template}),
            "spec.refillDelaySeconds",
            "greater than or equal to 0",
        ),
        (
            json!({"size": 1, "template": {"image": "x", "poolName": "other"}}),
            "spec.template.poolName",
            "names no pool",
        ),
        (
            json!({"size": 1, "template": {"image": "x", "suspended": true}}),
            "spec.template.suspended",
            "a warm Pod runs",
        ),
        (
            json!({"size": 1, "template": {"image": "x", "shutdownTime": "2030-01-01T00:00:00Z"}}),
            "spec.template.shutdownTime",
            "a warm Pod has no expiry",
        ),
    ] {
        let message = refusal(pools.create(&pp, &pool("bad", spec.clone())).await);
        assert!(message.contains(field) && message.contains(allowed), "{spec}: {message}");
    }
    ns.delete().await.unwrap();
}
