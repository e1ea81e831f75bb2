//! What the API accepts, the Pod accepts: a differential test of the Sandbox's
//! schema and admission checks against the real API server's own validation
//! of the objects a Sandbox becomes.
//!
//! Thousands of Sandbox specs come from a pseudo-random generator with a fixed
//! seed, each touching a few of the fields that reach the Pod (or the
//! workspace claim) with values valid and tricky alike. Each goes the way a
//! user's does: a server-side dry run of the Sandbox (the CRD schema), then
//! `validate_sandbox` (the controller's admission), then the objects
//! `render_pod` and `render_workspace_claim` make of it, applied the way the
//! controller applies them (server-side apply, dry run). A spec the Sandbox
//! path accepts whose Pod or claim the API server refuses, or whose text the
//! API server does not keep as sent, fails the test, printed with the API
//! server's message. The counts of each stage are printed, and so are the
//! schema's refusals of specs whose Pod the API server would have taken
//! (Dockyard's own rules, stricter on purpose).
//!
//! `cargo test -p dockyard-testing --test pod_dry_run -- --ignored --nocapture`
//! against `e2e/cluster up --profile control-plane`. `DOCKYARD_DRY_RUN_SEED`
//! (hexadecimal) and `DOCKYARD_DRY_RUN_CASES` change the seed and the number
//! of specs, to explore beyond the fixed run; `DOCKYARD_DRY_RUN_STRICTER=FILE`
//! writes every stricter refusal to FILE.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use dockyard_api::Sandbox;
use dockyard_api::labels::FIELD_MANAGER;
use dockyard_api::render::{RenderSettings, render_pod, render_workspace_claim};
use dockyard_api::validation::validate_sandbox;
use dockyard_testing::{TestCluster, TestNamespace};
use k8s_openapi::api::core::v1::{Container, PersistentVolumeClaim, Pod, ServiceAccount};
use k8s_openapi::api::node::v1::RuntimeClass;
use kube::api::{ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::ObjectMeta;
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

const DEFAULT_SEED: u64 = 0x15;
const DEFAULT_CASES: usize = 4000;
/// Requests in flight at once.
const CONCURRENCY: usize = 16;

// ---------------------------------------------------------------------------
// A small deterministic generator (SplitMix64): the same seed, the same specs.

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// In `lo..=hi`.
    fn between(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    fn percent(&mut self, p: usize) -> bool {
        self.below(100) < p
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn pick_str(&mut self, items: &[&str]) -> String {
        self.pick(items).to_string()
    }

    fn string_from(&mut self, alphabet: &[char], len: usize) -> String {
        (0..len).map(|_| *self.pick(alphabet)).collect()
    }
}

fn chars(ranges: &[(char, char)], extra: &str) -> Vec<char> {
    ranges.iter().flat_map(|&(a, b)| a..=b).chain(extra.chars()).collect()
}

// ---------------------------------------------------------------------------
// Values, valid and tricky, for each kind of field.

/// Text with characters JSON leaves unescaped but YAML (the body of a
/// server-side apply) refuses or changes, and some it keeps.
const CONTROL_TEXT: [&str; 10] = [
    "del\u{7f}",
    "nel\u{85}x",
    "c1\u{90}",
    "x\u{9f}",
    "nc\u{fffe}",
    "x\u{ffff}",
    "ls\u{2028}",
    "a \u{2029} b",
    "bom \u{feff} x",
    "nbsp\u{a0} ",
];

/// Objects that valid names may refer to, created before the run: a name the
/// schema lets through must exist, or admission refuses the Pod for another
/// reason than validity (ServiceAccount and RuntimeClass admission look them up).
struct Pools {
    service_accounts: Vec<String>,
    runtime_classes: Vec<String>,
}

fn long_subdomain(len: usize, seed: char) -> String {
    // Labels of 50 characters joined by dots, cut to `len`, never ending in a dot.
    let mut s = String::new();
    while s.len() < len {
        if !s.is_empty() {
            s.push('.');
        }
        s.push_str(&seed.to_string().repeat(50));
    }
    s.truncate(len);
    while s.ends_with('.') {
        s.pop();
        s.push(seed);
    }
    s
}

/// A DNS-subdomain-like string, sometimes subtly not one.
fn subdomain(rng: &mut Rng) -> String {
    match rng.below(12) {
        0 => long_subdomain(rng.between(240, 260), 'p'),
        1 => rng.pick_str(&[
            "Example.com",
            "ex_ample.com",
            "-example.com",
            "example.com-",
            "example..com",
            "example.com.",
        ]),
        _ => {
            let alphabet = chars(&[('a', 'z'), ('0', '9')], "-");
            let labels = rng.between(1, 3);
            let mut parts = Vec::new();
            for _ in 0..labels {
                let len = rng.between(1, 12);
                let mut label = rng.string_from(&alphabet, len);
                if label.starts_with('-') || label.ends_with('-') {
                    label = format!("x{label}x");
                }
                parts.push(label);
            }
            parts.join(".")
        }
    }
}

/// A label key (a Kubernetes qualified name), valid or not.
fn qualified_name(rng: &mut Rng) -> String {
    if rng.percent(35) {
        return rng.pick_str(&[
            "app",
            "team.example.com/owner",
            "kubernetes.io/os",
            "node-role.kubernetes.io/worker",
            "Example.com/key",
            "example.com/Key_1.x",
            "example.com/",
            "/name",
            "a/b/c",
            "-lead",
            "trail-",
            "_under",
            "a_b",
            "a..b",
            "a b",
            "",
            "ключ",
            &"x".repeat(63),
            &"x".repeat(64),
            &format!("{}/n", long_subdomain(253, 'p')),
            &format!("{}/n", long_subdomain(254, 'p')),
            &format!("example.com/{}", "n".repeat(63)),
            &format!("example.com/{}", "n".repeat(64)),
        ]);
    }
    let name_alphabet = chars(&[('a', 'z'), ('A', 'Z'), ('0', '9')], "-_.");
    let len = if rng.percent(10) { rng.between(60, 66) } else { rng.between(1, 12) };
    let mut name = rng.string_from(&name_alphabet, len);
    if rng.percent(70) {
        // Mostly well-formed ends, sometimes not.
        name = format!("k{name}0");
    }
    if rng.percent(50) { format!("{}/{name}", subdomain(rng)) } else { name }
}

/// A label value, valid or not.
fn label_value(rng: &mut Rng) -> String {
    if rng.percent(40) {
        return rng.pick_str(&["", "v", "a.b_c-d", "-a", "a-", "a b", "ü", "true", &"v".repeat(63), &"v".repeat(64)]);
    }
    let alphabet = chars(&[('a', 'z'), ('A', 'Z'), ('0', '9')], "-_.");
    let len = rng.between(1, 20);
    let value = rng.string_from(&alphabet, len);
    if rng.percent(70) { format!("v{value}0") } else { value }
}

fn string_map(rng: &mut Rng, key: fn(&mut Rng) -> String, value: fn(&mut Rng) -> String) -> Value {
    let n = rng.between(1, 3);
    let map: serde_json::Map<String, Value> = (0..n).map(|_| (key(rng), Value::String(value(rng)))).collect();
    Value::Object(map)
}

/// A resource quantity: the many spellings Kubernetes accepts and some it does not.
fn quantity(rng: &mut Rng) -> Value {
    match rng.below(10) {
        0 => json!(rng.pick(&[0i64, 1, 2, -1, 5_000_000_000])),
        1..=3 => Value::String(rng.pick_str(&[
            "1",
            "500m",
            "0.5",
            "1.5Gi",
            "1e3",
            "1E3",
            "2Mi",
            "4Mi",
            "3Mi",
            "1Gi",
            "10Gi",
            "-1",
            "0",
            "1Ki",
            ".5",
            "5.",
            "+1",
            "1.2.3",
            "1Xi",
            "",
            " 1",
            "1 ",
            "1e",
            "0.1m",
            "1m",
            "9223372036854775807",
            "1e100",
            "100Ei",
            "1k",
            "1K",
            "1mi",
            "0x10",
            "1_000",
            "Infinity",
            "NaN",
            "100n",
            "5u",
            "+",
            ".",
            "M",
            "e5",
            "1e1.5",
            ".Ki",
        ])),
        _ => {
            let number =
                rng.pick_str(&["0", "1", "2", "3", "10", "1.5", ".5", "5.", "0.001", "0.0001", "-1", "+1", "128"]);
            let suffix = rng.pick_str(&[
                "", "", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Mi", "Gi", "Gi", "Ti", "Pi", "Ei", "e3", "E3",
                "e-3", "K", "mi", "i", " ",
            ]);
            Value::String(format!("{number}{suffix}"))
        }
    }
}

/// A plausible quantity for a resource, mostly well-formed.
fn sane_quantity(rng: &mut Rng, resource: &str) -> Value {
    if rng.percent(25) {
        return quantity(rng);
    }
    let choices: &[&str] = match resource {
        "cpu" => &["100m", "500m", "1", "2", "0.5", "1500m"],
        "memory" | "ephemeral-storage" => &["128Mi", "512Mi", "1Gi", "2G", "1e9", "0.5Gi"],
        r if r.starts_with("hugepages-") => &["2Mi", "4Mi", "3Mi", "1Gi", "0"],
        _ => &["1", "2", "0.5", "0", "1k"],
    };
    Value::String(rng.pick_str(choices))
}

fn resources(rng: &mut Rng) -> Value {
    if rng.percent(35) {
        // Well-formed requirements of every kind, now and then with a claim.
        let mut r = rng
            .pick(&[
                json!({"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"cpu": "2", "memory": "1Gi"}}),
                json!({"requests": {"cpu": 1, "memory": "1e9"}}),
                json!({"limits": {"nvidia.com/gpu": "1"}}),
                json!({"requests": {"example.com/dongle": "2"}, "limits": {"example.com/dongle": "2"}}),
                json!({"requests": {"memory": "1Gi", "hugepages-2Mi": "4Mi"}, "limits": {"hugepages-2Mi": "4Mi"}}),
                json!({"limits": {"memory": "1Gi", "hugepages-1Gi": "2Gi"}}),
                json!({"requests": {"ephemeral-storage": "1Gi"}, "limits": {"ephemeral-storage": "2Gi"}}),
                json!({"limits": {"kubernetes.io/foo": "0.5"}}),
                json!({"requests": {"cpu": "100n"}}),
            ])
            .clone();
        if rng.percent(10) {
            r["claims"] = json!([]);
        }
        return r;
    }
    let names = [
        "cpu",
        "cpu",
        "cpu",
        "memory",
        "memory",
        "memory",
        "ephemeral-storage",
        "hugepages-2Mi",
        "hugepages-1Gi",
        "hugepages-3",
        "hugepages-foo",
        "hugepages-",
        "nvidia.com/gpu",
        "example.com/dongle",
        "kubernetes.io/foo",
        "requests.example.com/foo",
        "storage",
        "pods",
        "Bad Name",
        "a/b/c",
        "CPU",
    ];
    let mut requests = serde_json::Map::new();
    let mut limits = serde_json::Map::new();
    for _ in 0..rng.between(1, 3) {
        let name = rng.pick(&names).to_string();
        match rng.below(5) {
            0 => {
                requests.insert(name.clone(), sane_quantity(rng, &name));
            }
            1 => {
                limits.insert(name.clone(), sane_quantity(rng, &name));
            }
            2 => {
                let q = sane_quantity(rng, &name);
                requests.insert(name.clone(), q.clone());
                limits.insert(name, q);
            }
            _ => {
                requests.insert(name.clone(), sane_quantity(rng, &name));
                limits.insert(name.clone(), sane_quantity(rng, &name));
            }
        }
    }
    let mut out = serde_json::Map::new();
    if !requests.is_empty() {
        out.insert("requests".into(), Value::Object(requests));
    }
    if !limits.is_empty() {
        out.insert("limits".into(), Value::Object(limits));
    }
    if rng.percent(8) {
        out.insert("claims".into(), json!([{"name": "gpu"}]));
    }
    Value::Object(out)
}

fn env_name(rng: &mut Rng) -> String {
    match rng.below(10) {
        0..=3 => rng.pick_str(&[
            "MY_VAR",
            "_x",
            "a1",
            "PATH",
            "my-var",
            "my.var",
            "1VAR",
            "with space",
            " lead",
            "a:b",
            "~!@#$%^&*()",
            "\"quoted\"",
            "back\\slash",
            "DOCKER_HOST",
            "DOCKYARD_X",
            "A=B",
            "=",
            "",
            "é",
            "tab\there",
            "new\nline",
            "del\u{7f}",
            "emoji🙂",
            "nul\u{0}",
            &"V".repeat(300),
            &"V".repeat(5000),
        ]),
        4 => {
            let printable = chars(&[(' ', '~')], "");
            let len = rng.between(1, 20);
            rng.string_from(&printable, len)
        }
        _ => {
            let alphabet = chars(&[('A', 'Z'), ('0', '9')], "_");
            let len = rng.between(1, 12);
            format!("V{}", rng.string_from(&alphabet, len))
        }
    }
}

fn object_name(rng: &mut Rng) -> String {
    if rng.percent(70) {
        rng.pick_str(&["app-config", "regcred", "a.b", "x"])
    } else {
        rng.pick_str(&["Bad", "", "a..b", "-x", "a_b", &"x".repeat(254), &long_subdomain(253, 'n')])
    }
}

fn env_value_from(rng: &mut Rng) -> Value {
    match rng.below(7) {
        0 => {
            let path = rng.pick_str(&[
                "metadata.name",
                "metadata.namespace",
                "metadata.uid",
                "spec.nodeName",
                "spec.serviceAccountName",
                "status.hostIP",
                "status.hostIPs",
                "status.podIP",
                "status.podIPs",
                "metadata.labels['app']",
                "metadata.annotations['Example.com/Key']",
                "metadata.labels['bad key']",
                "metadata.labels['a/b/c']",
                "metadata.labels",
                "metadata.labels[app]",
                "spec.containers[0].image",
                "status.phase",
                "",
            ]);
            let mut r = json!({"fieldPath": path});
            if let Some(v) = rng.pick(&[None, Some("v1"), Some("v2"), Some("")]) {
                r["apiVersion"] = json!(v);
            }
            json!({"fieldRef": r})
        }
        1 => {
            let resource = rng.pick_str(&[
                "limits.cpu",
                "limits.memory",
                "limits.ephemeral-storage",
                "requests.cpu",
                "requests.memory",
                "requests.ephemeral-storage",
                "limits.hugepages-2Mi",
                "requests.hugepages-foo",
                "limits.hugepages-\u{7f}",
                "cpu",
                "limits.nvidia.com/gpu",
                "",
            ]);
            let mut r = json!({"resource": resource});
            if let Some(d) = rng.pick(&[
                None,
                Some(json!("1m")),
                Some(json!("1")),
                Some(json!("2")),
                Some(json!("1Mi")),
                Some(json!("1Ki")),
                Some(json!("1k")),
                Some(json!("1000m")),
                Some(json!(1)),
                Some(json!("0")),
                Some(json!("1.0")),
                Some(json!("1E")),
                Some(json!("bad")),
            ]) {
                r["divisor"] = d.clone();
            }
            if let Some(c) = rng.pick(&[None, Some("workload"), Some("dind"), Some("nope"), Some(""), Some("w\u{7f}")])
            {
                r["containerName"] = json!(c);
            }
            json!({"resourceFieldRef": r})
        }
        2 | 3 => {
            let kind = if rng.percent(50) { "configMapKeyRef" } else { "secretKeyRef" };
            let key = rng.pick_str(&[
                "key",
                "a.b-c_d",
                "KEY",
                ".",
                "..",
                "..a",
                ".a",
                "a/b",
                "",
                "with space",
                &"k".repeat(253),
                &"k".repeat(254),
            ]);
            let mut r = json!({"name": object_name(rng), "key": key});
            if rng.percent(30) {
                r["optional"] = json!(rng.percent(50));
            }
            json!({kind: r})
        }
        4 => json!({"fileKeyRef": {
            "volumeName": rng.pick_str(&["workspace", "dockyard-bin", "docker-socket", "nope", "Bad"]),
            "path": rng.pick_str(&["env", "../x", "a/b", ""]),
            "key": rng.pick_str(&["KEY", "A=B", ""]),
        }}),
        5 => json!({}),
        _ => json!({"fieldRef": {"fieldPath": "metadata.name"}, "secretKeyRef": {"name": "s", "key": "k"}}),
    }
}

fn env_var(rng: &mut Rng) -> Value {
    if rng.percent(30) {
        // Well-formed variables of every kind.
        let n = rng.below(1000);
        return rng
            .pick(&[
                json!({"name": format!("PLAIN_{n}"), "value": "x"}),
                json!({"name": format!("my.dotted-{n}"), "value": ""}),
                json!({"name": format!("POD_{n}"), "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}),
                json!({"name": format!("IP_{n}"), "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIPs"}}}),
                json!({"name": format!("TIER_{n}"), "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['example.com/tier']"}}}),
                json!({"name": format!("MEM_{n}"), "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}}),
                json!({"name": format!("CPU_{n}"), "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu", "divisor": "1m", "containerName": "workload"}}}),
                json!({"name": format!("CFG_{n}"), "valueFrom": {"configMapKeyRef": {"name": "app-config", "key": "config.yaml", "optional": true}}}),
                json!({"name": format!("TOKEN_{n}"), "valueFrom": {"secretKeyRef": {"name": "api.token", "key": "TOKEN"}}}),
            ])
            .clone();
    }
    let mut var = json!({"name": env_name(rng)});
    match rng.below(10) {
        0..=4 => {
            let value = match rng.below(7) {
                0 => String::new(),
                1 => "nul\u{0}byte".into(),
                2 => "x".repeat(rng.between(1000, 40_000)),
                3 => rng.pick_str(&CONTROL_TEXT),
                _ => "some value = with spaces, ünïcode".into(),
            };
            var["value"] = json!(value);
        }
        5..=8 => var["valueFrom"] = env_value_from(rng),
        _ => {
            var["value"] = json!("both");
            var["valueFrom"] = env_value_from(rng);
        }
    }
    var
}

fn toleration(rng: &mut Rng) -> Value {
    if rng.percent(40) {
        return rng
            .pick(&[
                json!({"key": "node.example.com/gpu", "operator": "Exists", "effect": "NoSchedule"}),
                json!({"key": "dedicated", "operator": "Equal", "value": "sandbox", "effect": "NoExecute", "tolerationSeconds": 300}),
                json!({"operator": "Exists"}),
                json!({"key": "k", "value": "v"}),
                json!({"key": "example.com/x", "operator": "Equal", "value": "", "effect": "PreferNoSchedule"}),
                json!({"key": "k", "operator": "", "value": "v", "effect": ""}),
            ])
            .clone();
    }
    let mut t = serde_json::Map::new();
    let mut set = |rng: &mut Rng, field: &str, options: &[Option<Value>]| {
        if let Some(v) = rng.pick(options) {
            t.insert(field.into(), v.clone());
        }
    };
    set(
        rng,
        "key",
        &[
            None,
            Some(json!("")),
            Some(json!("node.example.com/gpu")),
            Some(json!("dedicated")),
            Some(json!("bad key")),
            Some(json!("a/b/c")),
            Some(json!("k".repeat(64))),
            Some(json!(format!("example.com/{}", "k".repeat(63)))),
        ],
    );
    set(
        rng,
        "operator",
        &[
            None,
            Some(json!("")),
            Some(json!("Equal")),
            Some(json!("Equal")),
            Some(json!("Exists")),
            Some(json!("Exists")),
            Some(json!("Lt")),
            Some(json!("Gt")),
            Some(json!("equal")),
        ],
    );
    set(
        rng,
        "value",
        &[
            None,
            None,
            Some(json!("")),
            Some(json!("true")),
            Some(json!("a b")),
            Some(json!("v".repeat(63))),
            Some(json!("v".repeat(64))),
            Some(json!("10")),
            Some(json!("-a")),
        ],
    );
    set(
        rng,
        "effect",
        &[
            None,
            Some(json!("")),
            Some(json!("NoSchedule")),
            Some(json!("PreferNoSchedule")),
            Some(json!("NoExecute")),
            Some(json!("NoExecute")),
            Some(json!("NoScheduleNoAdmit")),
            Some(json!("noschedule")),
        ],
    );
    set(rng, "tolerationSeconds", &[None, None, Some(json!(0)), Some(json!(300)), Some(json!(-5))]);
    Value::Object(t)
}

fn annotations(rng: &mut Rng) -> Value {
    let mut map = serde_json::Map::new();
    match rng.below(6) {
        0 => {
            // Around the API server's 256 KiB limit on all of a Pod's
            // annotations, of which Dockyard takes some for its spec hash.
            let key = "big.example.com/blob";
            let budget = 262_144 - key.len();
            let len = *rng.pick(&[budget - 200, budget - 42, budget - 41, budget, budget + 1, 300_000]);
            map.insert(key.into(), json!("b".repeat(len)));
        }
        1 => {
            let (key, value) = rng.pick(&[
                ("controller.kubernetes.io/pod-deletion-cost", "10"),
                ("controller.kubernetes.io/pod-deletion-cost", "-5"),
                ("controller.kubernetes.io/pod-deletion-cost", "+10"),
                ("controller.kubernetes.io/pod-deletion-cost", "010"),
                ("controller.kubernetes.io/pod-deletion-cost", "2147483648"),
                ("controller.kubernetes.io/pod-deletion-cost", "abc"),
                ("scheduler.alpha.kubernetes.io/tolerations", "[{\"operator\": \"Exists\"}]"),
                ("scheduler.alpha.kubernetes.io/tolerations", "not json"),
                ("seccomp.security.alpha.kubernetes.io/pod", "unconfined"),
                ("container.seccomp.security.alpha.kubernetes.io/workload", "unconfined"),
                ("container.seccomp.security.alpha.kubernetes.io/workload", "runtime/default"),
                ("container.apparmor.security.beta.kubernetes.io/workload", "unconfined"),
                ("container.apparmor.security.beta.kubernetes.io/workload", "runtime/default"),
                ("container.apparmor.security.beta.kubernetes.io/nope", "runtime/default"),
                ("kubernetes.io/config.mirror", "x"),
                ("cluster-autoscaler.kubernetes.io/safe-to-evict", "false"),
                ("dockyard.dev/pod-spec-hash", "0000"),
                ("dockyard.dev/sandbox-spec-hash", "0000"),
            ]);
            map.insert(key.to_string(), json!(value));
        }
        _ => {
            for _ in 0..rng.between(1, 3) {
                let mut key = qualified_name(rng);
                if rng.percent(20) {
                    key = key.to_uppercase();
                }
                let value = match rng.below(10) {
                    0 | 1 => "v".repeat(rng.between(64, 5000)),
                    2 => rng.pick_str(&CONTROL_TEXT),
                    _ => label_value(rng),
                };
                map.insert(key, json!(value));
            }
        }
    }
    Value::Object(map)
}

fn mount_path(rng: &mut Rng) -> String {
    rng.pick_str(&[
        "/workspace",
        "/home/dev/work",
        "/home/dev/work/",
        "/src",
        "/etc/passwd",
        "/etc/group",
        "/etc/sudoers.d",
        "/etc/sudoers.d/",
        "/etc",
        "/dockyard",
        "/dockyard/user",
        "/dockyard/bin",
        "/var/run/dockyard",
        "/var/run",
        "/var/lib/docker",
        "/var/lib/docker/x",
        "/var/run/secrets/kubernetes.io/serviceaccount",
        "/a/../var/lib/docker",
        "/./dockyard/bin",
        "//dockyard/bin",
        "/with space",
        "/x:y",
        "/ü",
        "/ws\u{85}",
        "/ws\u{7f}",
        "relative",
        "/",
        "//",
    ])
}

fn claim_spec(rng: &mut Rng) -> Value {
    if rng.percent(45) {
        return rng
            .pick(&[
                json!({"resources": {"requests": {"storage": "10Gi"}}}),
                json!({"accessModes": ["ReadWriteOnce"], "storageClassName": "fast", "resources": {"requests": {"storage": "1Gi"}, "limits": {"storage": "2Gi"}}}),
                json!({"accessModes": ["ReadWriteOncePod"], "volumeMode": "Filesystem", "resources": {"requests": {"storage": 1_000_000_000}}}),
                json!({"storageClassName": "", "resources": {"requests": {"storage": "5G"}}, "selector": {"matchLabels": {"example.com/tier": "fast"}, "matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a"]}, {"key": "ssd", "operator": "Exists"}]}}),
                json!({"resources": {"requests": {"storage": "10Gi"}}, "dataSource": {"kind": "PersistentVolumeClaim", "name": "src"}}),
                json!({"resources": {"requests": {"storage": "10Gi"}}, "dataSourceRef": {"apiGroup": "snapshot.storage.k8s.io", "kind": "VolumeSnapshot", "name": "snap"}}),
                json!({"resources": {"requests": {"storage": "10Gi"}}, "dataSource": {"kind": "PersistentVolumeClaim", "name": "src"}, "dataSourceRef": {"kind": "PersistentVolumeClaim", "name": "src"}}),
                json!({"resources": {"requests": {"storage": "10Gi"}}, "volumeAttributesClassName": "gold", "volumeName": "pv-1"}),
            ])
            .clone();
    }
    let mut spec = serde_json::Map::new();
    if let Some(modes) = rng.pick(&[
        None,
        Some(json!(["ReadWriteOnce"])),
        Some(json!(["ReadWriteOnce"])),
        Some(json!(["ReadWriteMany", "ReadOnlyMany"])),
        Some(json!(["ReadWriteOncePod"])),
        Some(json!(["ReadWriteOncePod", "ReadWriteOnce"])),
        Some(json!(["Sometimes"])),
        Some(json!([])),
    ]) {
        spec.insert("accessModes".into(), modes.clone());
    }
    match rng.below(6) {
        0 => {}
        1 => {
            spec.insert("resources".into(), json!({"requests": {}}));
        }
        2 => {
            spec.insert("resources".into(), json!({"limits": {"storage": "1Gi"}, "requests": {"storage": "2Gi"}}));
        }
        3 => {
            spec.insert("resources".into(), json!({"requests": {"storage": "1Gi", "stor\u{7f}age": "1"}}));
        }
        _ => {
            spec.insert("resources".into(), json!({"requests": {"storage": quantity(rng)}}));
        }
    }
    if rng.percent(40) {
        spec.insert("storageClassName".into(), json!(rng.pick_str(&["", "fast", "fast.ssd", "Fast_SSD", "-x"])));
    }
    if rng.percent(25) {
        spec.insert("volumeMode".into(), json!(rng.pick_str(&["Filesystem", "Block", "Raw"])));
    }
    if rng.percent(20) {
        let selector = match rng.below(5) {
            0 => json!({"matchLabels": {qualified_name(rng): label_value(rng)}}),
            1 => json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]}),
            2 => json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": []}]}),
            3 => json!({"matchExpressions": [{"key": "tier", "operator": "Exists", "values": ["a"]}]}),
            _ => {
                json!({"matchExpressions": [{"key": qualified_name(rng), "operator": rng.pick_str(&["Exists", "DoesNotExist", "NotIn", "Gt"])}]})
            }
        };
        spec.insert("selector".into(), selector);
    }
    if rng.percent(15) {
        let source = rng
            .pick(&[
                json!({"kind": "PersistentVolumeClaim", "name": "src"}),
                json!({"apiGroup": "snapshot.storage.k8s.io", "kind": "VolumeSnapshot", "name": "snap"}),
                json!({"kind": "", "name": "x"}),
                json!({"kind": "PersistentVolumeClaim", "name": ""}),
                json!({"apiGroup": "", "kind": "PersistentVolumeClaim", "name": "src"}),
                json!({"apiGroup": "Bad_Group", "kind": "Thing", "name": "x"}),
                json!({"kind": "PersistentVolumeClaim", "name": "src\u{85}"}),
                json!({"apiGroup": "example.com", "kind": "Thing\u{7f}", "name": "x"}),
            ])
            .clone();
        let field = if rng.percent(50) { "dataSource" } else { "dataSourceRef" };
        let mut source = source;
        if field == "dataSourceRef" && rng.percent(30) {
            source["namespace"] = json!(rng.pick_str(&["other", "Bad_NS"]));
        }
        spec.insert(field.into(), source);
    }
    if rng.percent(10) {
        spec.insert("volumeAttributesClassName".into(), json!(rng.pick_str(&["gold", "Gold_", ""])));
    }
    if rng.percent(10) {
        spec.insert("volumeName".into(), json!(rng.pick_str(&["pv-1", "Bad_PV", "pv\u{85}"])));
    }
    Value::Object(spec)
}

fn workspace(rng: &mut Rng) -> Value {
    let mut w = serde_json::Map::new();
    if rng.percent(60) {
        w.insert("mountPath".into(), json!(mount_path(rng)));
    }
    let sources = rng.between(0, 3).min(if rng.percent(90) { 1 } else { 2 });
    for _ in 0..sources {
        match rng.below(5) {
            0 => {
                let size = if rng.percent(80) { json!({"sizeLimit": quantity(rng)}) } else { json!({}) };
                w.insert("emptyDir".into(), size);
            }
            1 => {
                let name = if rng.percent(70) {
                    rng.pick_str(&["data", "team.data", &long_subdomain(253, 'c')])
                } else {
                    rng.pick_str(&["Bad_Name", "a..b", "-x", "x/y", &long_subdomain(254, 'c')])
                };
                w.insert("persistentVolumeClaim".into(), json!({"claimName": name}));
            }
            _ => {
                w.insert("volumeClaimTemplate".into(), json!({"spec": claim_spec(rng)}));
            }
        }
    }
    Value::Object(w)
}

fn storage_class(rng: &mut Rng) -> String {
    rng.pick_str(&["fast", "fast.ssd", "Fast_SSD", "-x", &long_subdomain(253, 's'), &"s".repeat(254)])
}

fn docker(rng: &mut Rng) -> Value {
    match rng.below(4) {
        0 => json!({"mode": "none"}),
        1 => {
            let mut d = json!({"mode": "hostSocket"});
            if rng.percent(50) {
                d["hostSocket"] = json!({"access": rng.pick_str(&["brokered", "raw", "direct"])});
            }
            d
        }
        _ => {
            let mut dind = serde_json::Map::new();
            if rng.percent(50) {
                let mut storage = serde_json::Map::new();
                if rng.percent(80) {
                    storage.insert("size".into(), quantity(rng));
                }
                if rng.percent(40) {
                    storage.insert("storageClassName".into(), json!(storage_class(rng)));
                }
                dind.insert("storage".into(), Value::Object(storage));
            }
            if rng.percent(30) {
                dind.insert("readinessTimeoutSeconds".into(), json!(rng.pick(&[0, 1, 30, 600, 601])));
            }
            if rng.percent(50) {
                dind.insert("resources".into(), resources(rng));
            }
            json!({"mode": "dind", "dind": dind})
        }
    }
}

/// The aspects of a spec the generator varies, by the field they touch.
const ASPECTS: &[&str] = &[
    "metadata.name",
    "image",
    "imagePullPolicy",
    "command/args",
    "env",
    "workingDir",
    "resources",
    "user",
    "sudo",
    "docker",
    "workspace",
    "pod.nodeSelector",
    "pod.tolerations",
    "pod.runtimeClassName",
    "pod.serviceAccountName",
    "pod.imagePullSecrets",
    "pod.labels",
    "pod.annotations",
];

struct Case {
    index: usize,
    name: String,
    aspects: Vec<&'static str>,
    spec: Value,
}

fn generate(rng: &mut Rng, index: usize, pools: &Pools) -> Case {
    let mut name = format!("s{index}");
    let mut spec = json!({"image": "dockyard-sandbox:latest"});
    let mut pod = serde_json::Map::new();
    // Mostly a few aspects, so one bad value does not hide the others; now
    // and then many at once.
    let count = if rng.percent(10) { rng.between(5, 10) } else { rng.between(1, 3) };
    let mut aspects: Vec<&'static str> = (0..count).map(|_| *rng.pick(ASPECTS)).collect();
    aspects.sort();
    aspects.dedup();
    for aspect in &aspects {
        match *aspect {
            "metadata.name" => {
                name = match rng.below(6) {
                    0 => format!("a.b{index}"),
                    1 => format!("{index}-{}", "n".repeat(58 - index.to_string().len() - 1)),
                    2 => format!("{index}-{}", "n".repeat(58 - index.to_string().len())),
                    3 => format!("x{index}-"),
                    4 => format!("s_{index}"),
                    _ => format!("{index}s"),
                }
            }
            "image" => {
                spec["image"] = json!(rng.pick_str(&[
                    "busybox",
                    " busybox",
                    "busybox\t",
                    "busybox\n",
                    "\u{a0}busybox",
                    "busybox\u{2003}",
                    "registry.example.com:5000/team/img@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                    "",
                    "with space inside",
                    "img\u{7f}",
                    "img\u{85}x",
                    "\u{85}img",
                    &"i".repeat(1024),
                    &"i".repeat(1025),
                ]))
            }
            "imagePullPolicy" => spec["imagePullPolicy"] = json!(rng.pick_str(&["Always", "IfNotPresent", "Never", "Sometimes"])),
            "command/args" => {
                let control = rng.pick_str(&CONTROL_TEXT);
                let command = rng.pick(&[
                    json!(["sleep", "infinity"]),
                    json!(["sh", "-c", "echo $HOME"]),
                    json!([""]),
                    json!(["nul\u{0}"]),
                    json!(["ünï", "\n"]),
                    json!([control]),
                    json!([]),
                ])
                .clone();
                spec["command"] = command;
                if rng.percent(50) {
                    spec["args"] = json!(["-c", "", rng.pick_str(&["x", "a\u{85}b", "\u{7f}"])]);
                }
            }
            "env" => {
                let n = rng.between(1, 4);
                let mut env: Vec<Value> = (0..n).map(|_| env_var(rng)).collect();
                if rng.percent(10) {
                    env.push(env[0].clone());
                }
                spec["env"] = Value::Array(env);
            }
            "workingDir" => {
                spec["workingDir"] =
                    json!(rng.pick_str(&["/work", "relative", "/", "/with space", "", "/a/../b", "/del\u{7f}", "/nel\u{85}"]));
            }
            "resources" => spec["resources"] = resources(rng),
            "user" => {
                let mut user = serde_json::Map::new();
                if rng.percent(60) {
                    user.insert("name".into(), json!(rng.pick_str(&["dev", "root", "Dev", "_x", &"a".repeat(32), &"a".repeat(33)])));
                }
                if rng.percent(60) {
                    user.insert("uid".into(), json!(rng.pick(&[1000i64, 0, 1, 2_147_483_647, 2_147_483_648, -1])));
                }
                if rng.percent(60) {
                    user.insert("gid".into(), json!(rng.pick(&[1000i64, 0, 1, 2_147_483_647, 2_147_483_648, -1])));
                }
                spec["user"] = Value::Object(user);
            }
            "sudo" => {
                spec["sudo"] = json!({"commands": rng.pick(&[
                    json!(["/usr/bin/apt-get", "/usr/bin/pip3"]),
                    json!(["apt-get"]),
                    json!(["/usr/bin/a b"]),
                    json!(["/usr/bin/x,y"]),
                    json!([]),
                ])});
            }
            "docker" => spec["docker"] = docker(rng),
            "workspace" => spec["workspace"] = workspace(rng),
            "pod.nodeSelector" => {
                pod.insert("nodeSelector".into(), string_map(rng, qualified_name, label_value));
            }
            "pod.tolerations" => {
                let n = rng.between(1, 3);
                pod.insert("tolerations".into(), Value::Array((0..n).map(|_| toleration(rng)).collect()));
            }
            "pod.runtimeClassName" => {
                let name = if rng.percent(60) {
                    rng.pick(&pools.runtime_classes).clone()
                } else {
                    rng.pick_str(&["Bad", "a_b", "gvisor.", "-x", "x/y", &"x".repeat(254)])
                };
                pod.insert("runtimeClassName".into(), json!(name));
            }
            "pod.serviceAccountName" => {
                let name = if rng.percent(60) {
                    rng.pick(&pools.service_accounts).clone()
                } else {
                    rng.pick_str(&["Bad", "a_b", "ci.", "-x", "x/y", "", &"x".repeat(254)])
                };
                pod.insert("serviceAccountName".into(), json!(name));
            }
            "pod.imagePullSecrets" => {
                let secrets = rng.pick(&[
                    json!([{"name": "regcred"}]),
                    json!([{"name": "regcred"}, {"name": "other.cred"}]),
                    json!([{"name": "regcred"}, {"name": "regcred"}]),
                    json!([{"name": ""}]),
                    json!([{"name": "Bad_Name"}]),
                    json!([{}]),
                    json!([{"name": "x".repeat(254)}]),
                ])
                .clone();
                pod.insert("imagePullSecrets".into(), secrets);
            }
            "pod.labels" => {
                pod.insert("labels".into(), string_map(rng, qualified_name, label_value));
            }
            "pod.annotations" => {
                pod.insert("annotations".into(), annotations(rng));
            }
            other => unreachable!("aspect {other}"),
        }
    }
    if !pod.is_empty() {
        spec["pod"] = Value::Object(pod);
    }
    Case { index, name, aspects, spec }
}

// ---------------------------------------------------------------------------
// One spec through the Sandbox path and, where it gets through, its objects.

#[derive(Debug)]
enum Outcome {
    /// The CRD schema refused the Sandbox; `pod_accepts` says whether the API
    /// server would have taken its Pod (where it can be rendered at all):
    /// `Some(true)` is the schema being stricter than Kubernetes.
    SchemaRefused { message: String, pod_accepts: Option<bool> },
    /// The schema accepted it, `validate_sandbox` refused it.
    ValidationRefused(String),
    /// Accepted throughout: the claim (if any) and the Pod were accepted too.
    Accepted { claim: bool },
    /// Accepted by the Sandbox path, refused by the API server: a hole.
    Hole { stage: &'static str, message: String },
}

fn refusal_message(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => format!("{} ({}): {}", status.reason, status.code, status.message),
        other => other.to_string(),
    }
}

async fn run_case(client: Client, namespace: String, case: &Case) -> Outcome {
    let sandboxes: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &namespace, &ApiResource::erase::<Sandbox>(&()));
    let mut object = DynamicObject::new(&case.name, &ApiResource::erase::<Sandbox>(&()));
    object.data = json!({"spec": case.spec});
    let dry_run = PostParams { dry_run: true, ..Default::default() };
    let stored = match sandboxes.create(&dry_run, &object).await {
        Ok(stored) => stored,
        Err(kube::Error::Api(status)) if status.code == 422 || status.code == 400 => {
            let pod_accepts = pod_of_refused(&client, &namespace, case).await;
            return Outcome::SchemaRefused { message: status.message, pod_accepts };
        }
        Err(other) => return Outcome::Hole { stage: "Sandbox dry run", message: refusal_message(&other) },
    };
    // What the controller reads: the stored object, typed.
    let value = serde_json::to_value(&stored).expect("a DynamicObject serializes");
    let mut sandbox: Sandbox = match serde_json::from_value(value) {
        Ok(sandbox) => sandbox,
        Err(err) => {
            return Outcome::Hole { stage: "reading the stored Sandbox", message: err.to_string() };
        }
    };
    if sandbox.metadata.uid.is_none() {
        sandbox.metadata.uid = Some(format!("00000000-0000-4000-8000-{:012}", case.index));
    }
    if let Err(errors) = validate_sandbox(&sandbox.spec) {
        return Outcome::ValidationRefused(errors.to_string());
    }

    let apply = PatchParams::apply(FIELD_MANAGER).force().dry_run();
    let claim = match render_workspace_claim(&sandbox) {
        Ok(claim) => claim,
        Err(err) => return Outcome::Hole { stage: "render_workspace_claim", message: err.to_string() },
    };
    let has_claim = claim.is_some();
    if let Some(claim) = claim {
        let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &namespace);
        if let Err(err) = claims.patch(&claim.name_any(), &apply, &Patch::Apply(&claim)).await {
            return Outcome::Hole { stage: "workspace claim", message: refusal_message(&err) };
        }
    }
    let pod = match render_pod(&sandbox, None, &RenderSettings::default()) {
        Ok(pod) => pod,
        Err(err) => return Outcome::Hole { stage: "render_pod", message: err.to_string() },
    };
    let pods: Api<Pod> = Api::namespaced(client, &namespace);
    match pods.patch(&pod.name_any(), &apply, &Patch::Apply(&pod)).await {
        Ok(applied) => match changed(&pod, &applied) {
            None => Outcome::Accepted { claim: has_claim },
            Some(message) => Outcome::Hole { stage: "Pod (changed)", message },
        },
        Err(err) => Outcome::Hole { stage: "Pod", message: refusal_message(&err) },
    }
}

/// Whether the API server takes the Pod of a Sandbox the schema refused,
/// rendered from the spec as sent (`None`: it does not even deserialize).
async fn pod_of_refused(client: &Client, namespace: &str, case: &Case) -> Option<bool> {
    let mut sandbox: Sandbox = serde_json::from_value(json!({
        "apiVersion": "dockyard.dev/v1alpha1", "kind": "Sandbox",
        "metadata": {"name": case.name, "namespace": namespace, "uid": format!("00000000-0000-4000-8000-{:012}", case.index)},
        "spec": case.spec,
    }))
    .ok()?;
    sandbox.metadata.namespace = Some(namespace.to_string());
    let pod = render_pod(&sandbox, None, &RenderSettings::default()).ok()?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let apply = PatchParams::apply(FIELD_MANAGER).force().dry_run();
    Some(pods.patch(&pod.name_any(), &apply, &Patch::Apply(&pod)).await.is_ok())
}

/// What of the Sandbox's own text the API server did not keep as sent.
fn changed(sent: &Pod, applied: &Pod) -> Option<String> {
    let workload = |pod: &Pod| pod.spec.as_ref().and_then(|s| s.containers.first()).cloned().unwrap_or_default();
    let (sent_workload, applied_workload) = (workload(sent), workload(applied));
    let env = |c: &Container| -> Vec<(String, Option<String>)> {
        // An empty value is the same as none (the API server drops it).
        c.env.iter().flatten().map(|e| (e.name.clone(), e.value.clone().filter(|v| !v.is_empty()))).collect()
    };
    let mut differences = Vec::new();
    if sent_workload.image != applied_workload.image {
        differences.push(format!("image {:?} became {:?}", sent_workload.image, applied_workload.image));
    }
    if sent_workload.command != applied_workload.command || sent_workload.args != applied_workload.args {
        differences.push(format!(
            "command {:?} {:?} became {:?} {:?}",
            sent_workload.command, sent_workload.args, applied_workload.command, applied_workload.args
        ));
    }
    if sent_workload.working_dir != applied_workload.working_dir {
        differences
            .push(format!("workingDir {:?} became {:?}", sent_workload.working_dir, applied_workload.working_dir));
    }
    if env(&sent_workload) != env(&applied_workload) {
        differences.push(format!("env {:?} became {:?}", env(&sent_workload), env(&applied_workload)));
    }
    for (what, sent_map, applied_map) in [
        ("annotations", &sent.metadata.annotations, &applied.metadata.annotations),
        ("labels", &sent.metadata.labels, &applied.metadata.labels),
    ] {
        for (key, value) in sent_map.iter().flatten() {
            let kept = applied_map.as_ref().and_then(|m| m.get(key));
            if kept != Some(value) {
                let short = |v: &str| v.chars().take(80).collect::<String>();
                differences.push(format!("{what}[{key}] {:?} became {:?}", short(value), kept.map(|v| short(v))));
            }
        }
    }
    (!differences.is_empty()).then(|| differences.join("; "))
}

// ---------------------------------------------------------------------------
// Objects the valid names refer to.

async fn create_pools(ns: &TestNamespace, client: &Client) -> Pools {
    let suffix = std::process::id();
    let service_accounts = vec!["sandbox-user".to_string(), "ci.bot".to_string(), long_subdomain(253, 'a')];
    let accounts: Api<ServiceAccount> = ns.api();
    for name in &service_accounts {
        let account = ServiceAccount {
            metadata: ObjectMeta { name: Some(name.clone()), ..Default::default() },
            ..Default::default()
        };
        accounts.create(&PostParams::default(), &account).await.expect("a ServiceAccount for the pool");
    }
    let runtime_classes = vec![
        format!("dry-run-{suffix}"),
        format!("dry-run.gvisor-{suffix}"),
        format!("{}-{suffix}", long_subdomain(252 - suffix.to_string().len(), 'r')),
    ];
    let classes: Api<RuntimeClass> = Api::all(client.clone());
    for name in &runtime_classes {
        let class = RuntimeClass {
            metadata: ObjectMeta { name: Some(name.clone()), ..Default::default() },
            handler: "runc".into(),
            ..Default::default()
        };
        match classes.create(&PostParams::default(), &class).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(err) => panic!("creating RuntimeClass {name}: {err}"),
        }
    }
    Pools { service_accounts, runtime_classes }
}

async fn delete_runtime_classes(client: &Client, pools: &Pools) {
    let classes: Api<RuntimeClass> = Api::all(client.clone());
    for name in &pools.runtime_classes {
        let _ = classes.delete(name, &DeleteParams::default()).await;
    }
}

/// The namespace's `default` ServiceAccount, which admission needs for a Pod
/// without one, comes from the controller manager a moment after the namespace.
async fn wait_for_default_account(ns: &TestNamespace) {
    let accounts: Api<ServiceAccount> = ns.api();
    for _ in 0..100 {
        if accounts.get_opt("default").await.expect("reading ServiceAccounts").is_some() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no default ServiceAccount in {} after 10 s", ns.name());
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.trim_start_matches("0x").parse().ok()).unwrap_or(default)
}

#[derive(Default)]
struct Tally {
    refused: usize,
    accepted: usize,
}

#[tokio::test]
#[ignore = "needs the e2e cluster (scripts/test starts it)"]
async fn what_the_sandbox_accepts_the_pod_accepts() {
    let started = std::time::Instant::now();
    let seed = std::env::var("DOCKYARD_DRY_RUN_SEED")
        .ok()
        .and_then(|v| u64::from_str_radix(v.trim_start_matches("0x"), 16).ok())
        .unwrap_or(DEFAULT_SEED);
    let cases = env_or("DOCKYARD_DRY_RUN_CASES", DEFAULT_CASES);

    let cluster = TestCluster::connect().await.expect("the e2e cluster answers");
    cluster.install_crds().await.unwrap();
    let ns = cluster.namespace("pod-dry-run").await.unwrap();
    wait_for_default_account(&ns).await;
    let pools = create_pools(&ns, &cluster.client).await;

    let mut rng = Rng(seed);
    let generated: Vec<Arc<Case>> = (0..cases).map(|i| Arc::new(generate(&mut rng, i, &pools))).collect();

    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    let mut tasks = JoinSet::new();
    for case in &generated {
        let (client, namespace, case, permits) =
            (cluster.client.clone(), ns.name().to_string(), case.clone(), permits.clone());
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await.expect("the semaphore stays open");
            (case.index, run_case(client, namespace, &case).await)
        });
    }
    let mut outcomes: Vec<(usize, Outcome)> = Vec::with_capacity(cases);
    while let Some(done) = tasks.join_next().await {
        outcomes.push(done.expect("a case ran to the end"));
    }
    outcomes.sort_by_key(|(i, _)| *i);
    delete_runtime_classes(&cluster.client, &pools).await;

    // Counts per stage, and per aspect: both ways, so it is plain the run
    // exercised refusals and acceptances of every field.
    let (mut schema, mut validation, mut claims, mut pods) =
        (Tally::default(), Tally::default(), Tally::default(), Tally::default());
    let mut per_aspect: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut holes = Vec::new();
    let mut samples: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut stricter = Vec::new();
    for (index, outcome) in &outcomes {
        let case = &generated[*index];
        let accepted_all = matches!(outcome, Outcome::Accepted { .. });
        for aspect in &case.aspects {
            let tally = per_aspect.entry(aspect).or_default();
            if accepted_all { tally.accepted += 1 } else { tally.refused += 1 }
        }
        match outcome {
            Outcome::SchemaRefused { message, pod_accepts } => {
                schema.refused += 1;
                samples.entry("schema").or_default().push(message.clone());
                if *pod_accepts == Some(true) {
                    stricter.push(message.clone());
                }
            }
            Outcome::ValidationRefused(message) => {
                schema.accepted += 1;
                validation.refused += 1;
                samples.entry("validation").or_default().push(message.clone());
            }
            Outcome::Accepted { claim } => {
                schema.accepted += 1;
                validation.accepted += 1;
                pods.accepted += 1;
                if *claim {
                    claims.accepted += 1;
                }
            }
            Outcome::Hole { stage, message } => {
                if *stage != "Sandbox dry run" {
                    schema.accepted += 1;
                }
                if matches!(*stage, "workspace claim" | "Pod" | "Pod (changed)") {
                    validation.accepted += 1;
                }
                match *stage {
                    "workspace claim" => claims.refused += 1,
                    "Pod" | "Pod (changed)" => pods.refused += 1,
                    _ => {}
                }
                holes.push((case, *stage, message.clone()));
            }
        }
    }

    let mut report = String::new();
    let _ = writeln!(report, "seed {seed:#x}, {cases} Sandbox specs, {:.1} s", started.elapsed().as_secs_f64());
    let _ =
        writeln!(report, "  Sandbox schema (dry run):  {:5} accepted, {:5} refused", schema.accepted, schema.refused);
    let _ = writeln!(
        report,
        "  validate_sandbox:          {:5} passed,   {:5} refused",
        validation.accepted, validation.refused
    );
    let _ =
        writeln!(report, "  workspace claim (dry run): {:5} accepted, {:5} refused", claims.accepted, claims.refused);
    let _ = writeln!(report, "  Pod (dry run):             {:5} accepted, {:5} refused", pods.accepted, pods.refused);
    let _ = writeln!(report, "  per aspect (specs touching it: accepted end to end / refused somewhere):");
    for (aspect, tally) in &per_aspect {
        let _ = writeln!(report, "    {aspect:24} {:5} / {:5}", tally.accepted, tally.refused);
    }
    for (stage, messages) in &samples {
        let _ = writeln!(report, "  e.g. refused by {stage}:");
        for message in messages.iter().step_by((messages.len() / 4).max(1)).take(4) {
            let short: String = message.chars().take(220).collect();
            let _ = writeln!(report, "    {short}");
        }
    }
    // Where the schema is stricter than the Pod: Dockyard's own rules (a
    // hostname without dots, text the controller can apply, names of objects
    // that can exist, ...), shown so that a new one is a decision.
    if let Some(path) = std::env::var_os("DOCKYARD_DRY_RUN_STRICTER") {
        std::fs::write(path, stricter.join("\n")).expect("writing the stricter refusals");
    }
    let _ = writeln!(report, "  schema refusals whose Pod the API server would accept: {}", stricter.len());
    for message in stricter.iter().step_by((stricter.len() / 12).max(1)).take(12) {
        let short: String = message.chars().take(220).collect();
        let _ = writeln!(report, "    {short}");
    }
    println!("{report}");

    for (case, stage, message) in &holes {
        let spec = serde_json::to_string(&case.spec).unwrap_or_default();
        let spec: String = if spec.len() > 2000 {
            format!("{}… ({} bytes)", spec.chars().take(2000).collect::<String>(), spec.len())
        } else {
            spec
        };
        println!(
            "HOLE #{}: the Sandbox path accepted it, the API server did not ({stage})\n  name: {}\n  spec: {spec}\n  {message}\n",
            case.index, case.name
        );
    }
    ns.delete().await.unwrap();

    assert!(
        holes.is_empty(),
        "{} of {cases} Sandboxes were accepted but their objects refused (see above)",
        holes.len()
    );
    assert!(schema.accepted > 0 && schema.refused > 0, "the schema saw both valid and invalid specs");
    assert!(validation.refused > 0 && pods.accepted > 0, "admission refused some, the Pod accepted others");
    assert!(claims.accepted > 0, "some specs had a workspace claim");
}

/// Refusals name the field and say what is allowed; what Kubernetes allows
/// that a strict reading might not (relaxed env names, hugepages, extended
/// resources, keyless tolerations, ...) gets through to the Pod.
#[tokio::test]
#[ignore = "needs the e2e cluster (scripts/test starts it)"]
async fn refusals_name_the_field_and_what_is_allowed() {
    let cluster = TestCluster::connect().await.expect("the e2e cluster answers");
    cluster.install_crds().await.unwrap();
    let ns = cluster.namespace("pod-dry-run-table").await.unwrap();
    wait_for_default_account(&ns).await;

    let refused: Vec<(Value, &str, &str)> = vec![
        (
            json!({"env": [{"name": "A=B", "value": "x"}]}),
            "spec.env[0].name",
            "printable ASCII characters other than '='",
        ),
        (json!({"env": [{"name": "", "value": "x"}]}), "spec.env[0].name", "printable ASCII"),
        (json!({"env": [{"name": "tab\there"}]}), "spec.env[0].name", "printable ASCII"),
        (json!({"env": [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]}), "spec.env[1]", "Duplicate value"),
        (
            json!({"env": [{"name": "A", "value": "x", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]}),
            "spec.env[0]",
            "either value or valueFrom",
        ),
        (
            json!({"env": [{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "spec.containers[0].image"}}}]}),
            "spec.env[0].valueFrom.fieldRef.fieldPath",
            "fieldPath must be one of metadata.name",
        ),
        (
            json!({"env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "c", "key": ".."}}}]}),
            "spec.env[0].valueFrom.configMapKeyRef.key",
            "letters, digits, '-', '_' and '.'",
        ),
        (
            json!({"env": [{"name": "A", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "2"}}}]}),
            "spec.env[0].valueFrom.resourceFieldRef",
            "divisor must be 1m or 1 for cpu",
        ),
        (json!({"image": " busybox"}), "spec.image", "must not start or end with whitespace"),
        (json!({"command": ["a\u{7f}"]}), "spec.command[0]", "should match"),
        (json!({"env": [{"name": "A", "value": "a \u{2028} b"}]}), "spec.env[0].value", "should match"),
        (json!({"resources": {"requests": {"cpu": "-1"}}}), "spec.resources.requests[cpu]", "quantity of at least 0"),
        (
            json!({"resources": {"requests": {"cpu": "1 core"}}}),
            "spec.resources.requests[cpu]",
            "quantity of at least 0",
        ),
        (json!({"resources": {"requests": {"CPU": "1"}}}), "spec.resources.requests", "resource names are cpu, memory"),
        (
            json!({"resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}}),
            "spec.resources",
            "requests may not exceed limits",
        ),
        (json!({"resources": {"requests": {"example.com/gpu": "1"}}}), "spec.resources", "cannot be overcommitted"),
        (json!({"resources": {"limits": {"example.com/gpu": "0.5"}}}), "spec.resources.limits", "whole units"),
        (
            json!({"resources": {"limits": {"memory": "1Gi", "hugepages-2Mi": "3Mi"}}}),
            "spec.resources.limits",
            "whole number of pages",
        ),
        (json!({"resources": {"limits": {"hugepages-2Mi": "4Mi"}}}), "spec.resources", "hugepages need cpu or memory"),
        (json!({"resources": {"claims": [{"name": "gpu"}]}}), "spec.resources", "claims are not supported"),
        (
            json!({"docker": {"mode": "dind", "dind": {"resources": {"requests": {"Bad Name": "1"}}}}}),
            "spec.docker.dind.resources.requests",
            "resource names are",
        ),
        (json!({"pod": {"tolerations": [{"key": "bad key"}]}}), "spec.pod.tolerations[0].key", "must be a taint key"),
        (
            json!({"pod": {"tolerations": [{"key": "k", "operator": "Lt", "value": "1"}]}}),
            "spec.pod.tolerations[0].operator",
            "supported values: \"\", \"Equal\", \"Exists\"",
        ),
        (
            json!({"pod": {"tolerations": [{"operator": "Equal", "value": "x"}]}}),
            "spec.pod.tolerations[0]",
            "without a key must have operator: Exists",
        ),
        (
            json!({"pod": {"tolerations": [{"key": "k", "operator": "Exists", "tolerationSeconds": 5}]}}),
            "spec.pod.tolerations[0]",
            "tolerationSeconds needs effect: NoExecute",
        ),
        (
            json!({"pod": {"tolerations": [{"key": "k", "operator": "Exists", "value": "x"}]}}),
            "spec.pod.tolerations[0]",
            "value must be empty with operator Exists",
        ),
        (json!({"pod": {"nodeSelector": {"a/b/c": "x"}}}), "spec.pod.nodeSelector", "keys must be label keys"),
        (
            json!({"pod": {"nodeSelector": {"kubernetes.io/os": "-linux"}}}),
            "spec.pod.nodeSelector[kubernetes.io/os]",
            "must be a label value",
        ),
        (json!({"pod": {"labels": {"app": "v".repeat(64)}}}), "spec.pod.labels.app", "63"),
        (json!({"pod": {"annotations": {"a b": "x"}}}), "spec.pod.annotations", "keys must be annotation keys"),
        (
            json!({"pod": {"annotations": {"container.apparmor.security.beta.kubernetes.io/workload": "unconfined"}}}),
            "spec.pod.annotations",
            "AppArmor and seccomp annotations are not allowed",
        ),
        (
            json!({"pod": {"annotations": {"controller.kubernetes.io/pod-deletion-cost": "+10"}}}),
            "spec.pod.annotations",
            "32-bit integer",
        ),
        (
            json!({"pod": {"runtimeClassName": "Bad"}}),
            "spec.pod.runtimeClassName",
            "must be the name of a RuntimeClass",
        ),
        (
            json!({"pod": {"serviceAccountName": "a_b"}}),
            "spec.pod.serviceAccountName",
            "must be the name of a ServiceAccount",
        ),
        (
            json!({"pod": {"imagePullSecrets": [{"name": ""}]}}),
            "spec.pod.imagePullSecrets[0].name",
            "must be the name of a Secret",
        ),
        (
            json!({"workspace": {"persistentVolumeClaim": {"claimName": "Bad_Name"}}}),
            "spec.workspace.persistentVolumeClaim.claimName",
            "must be the name of a PersistentVolumeClaim",
        ),
        (
            json!({"workspace": {"volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"]}}}}),
            "spec.workspace.volumeClaimTemplate.spec",
            "resources.requests.storage is required",
        ),
        (
            json!({"workspace": {"volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOncePod", "ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}}}),
            "spec.workspace.volumeClaimTemplate.spec.accessModes",
            "ReadWriteOncePod may not be combined",
        ),
        (json!({"workspace": {"mountPath": "/a/../var/lib/docker"}}), "spec.workspace.mountPath", "clean path"),
        (
            json!({"workspace": {"emptyDir": {"sizeLimit": "-1Gi"}}}),
            "spec.workspace.emptyDir.sizeLimit",
            "quantity above 0",
        ),
        (
            json!({"docker": {"mode": "dind", "dind": {"storage": {"size": "0"}}}}),
            "spec.docker.dind.storage.size",
            "quantity above 0",
        ),
        (
            json!({"docker": {"mode": "dind", "dind": {"storage": {"storageClassName": "Fast_SSD"}}}}),
            "spec.docker.dind.storage.storageClassName",
            "must be the name of a StorageClass",
        ),
        (json!({"workingDir": "relative"}), "spec.workingDir", "absolute path"),
    ];
    // What only the controller's admission refuses (the schema cannot add up
    // annotations nor compare paths).
    let room = dockyard_api::v1alpha1::MAX_POD_ANNOTATIONS_SIZE.to_string();
    let admission_refused: Vec<(Value, &str, &str)> = vec![
        (json!({"workspace": {"mountPath": "/etc/passwd"}}), "spec.workspace.mountPath", "overlaps /etc/passwd"),
        (
            json!({"pod": {"annotations": {"a.example.com/x": "x".repeat(200_000), "b.example.com/x": "x".repeat(70_000)}}}),
            "spec.pod.annotations",
            &room,
        ),
    ];
    let accepted: Vec<Value> = vec![
        json!({"env": [{"name": "my.var", "value": "1"}, {"name": "1VAR", "value": "2"}, {"name": "with space", "value": "3"},
                       {"name": "a:b~!", "value": "4"}, {"name": "EMPTY", "value": ""}]}),
        json!({"env": [{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "metadata.annotations['Example.com/Key']"}}},
                       {"name": "B", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
                       {"name": "C", "valueFrom": {"secretKeyRef": {"name": "s.t", "key": ".a", "optional": true}}}]}),
        json!({"resources": {"requests": {"cpu": 1, "memory": "1e9", "hugepages-2Mi": "4Mi"}, "limits": {"hugepages-2Mi": "4Mi", "example.com/gpu": "2", "kubernetes.io/foo": "0.5"}}}),
        json!({"resources": {"claims": []}, "command": ["sh", "-c", "echo \u{feff} \u{a0} \u{3000} ünï"]}),
        json!({"pod": {"tolerations": [{"operator": "Exists"}, {"key": "k", "operator": "", "value": "", "effect": "NoExecute", "tolerationSeconds": -5}],
                       "nodeSelector": {"kubernetes.io/os": "linux", "empty": ""},
                       "labels": {"example.com/Tier_1": "a.b-c"},
                       "annotations": {"Example.com/Key": "\u{feff}", "controller.kubernetes.io/pod-deletion-cost": "-0007",
                                       "cluster-autoscaler.kubernetes.io/safe-to-evict": "false"}}}),
        json!({"workspace": {"mountPath": "/home/dev/work/", "volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOncePod"], "storageClassName": "",
               "resources": {"requests": {"storage": "1Gi"}}, "dataSource": {"kind": "PersistentVolumeClaim", "name": "src"}}}}}),
        json!({"docker": {"mode": "dind", "dind": {"storage": {"size": 1_000_000_000, "storageClassName": "fast.ssd"}}}}),
    ];

    let mut failures = Vec::new();
    let all = refused
        .iter()
        .map(|(spec, field, phrase)| (spec, Some((*field, *phrase, "schema"))))
        .chain(admission_refused.iter().map(|(spec, field, phrase)| (spec, Some((*field, *phrase, "admission")))))
        .chain(accepted.iter().map(|spec| (spec, None)));
    for (index, (patch, expected)) in all.enumerate() {
        let mut spec = json!({"image": "dockyard-sandbox:latest"});
        for (k, v) in patch.as_object().expect("a spec patch") {
            spec[k] = v.clone();
        }
        let case = Case { index, name: format!("t{index}"), aspects: Vec::new(), spec };
        let outcome = run_case(cluster.client.clone(), ns.name().to_string(), &case).await;
        let ok = match (&expected, &outcome) {
            (Some((field, phrase, "schema")), Outcome::SchemaRefused { message, .. })
            | (Some((field, phrase, "admission")), Outcome::ValidationRefused(message)) => {
                message.contains(&format!("{field}: ")) && message.contains(phrase)
            }
            (None, Outcome::Accepted { .. }) => true,
            _ => false,
        };
        if !ok {
            let short: String = format!("{outcome:?}").chars().take(600).collect();
            failures.push(format!("{patch}\n  expected {expected:?}\n  got {short}"));
        }
    }
    ns.delete().await.unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
