//! Escapes through the Docker socket broker, judged by what the node's real
//! dockerd applied, never by what the broker answered.
//!
//! dockerd decodes JSON bodies with Go's `encoding/json`: a key matches a
//! struct field exactly or, failing that, case-insensitively with Unicode
//! simple folding (`ſ` U+017F is an `s`, the Kelvin sign U+212A a `k`); `\u`
//! escapes are decoded first; of repeated keys the last wins, and a second
//! object for a struct field is merged into the first. Its container create
//! also reads the deprecated HostConfig fields at the top level of the body.
//! Queries go through Go's `net/url` and `FormValue` (the first value wins;
//! a form body's values would come before the query's, though dockerd 20.10's
//! `/build` reads its body as the context first). Paths are percent-decoded
//! before routing. A policy that reads a request differently from dockerd
//! lets a re-spelt one through.
//!
//! Each test sends one family of generated variants, raw, to a sandbox's
//! broker socket, then looks through the node's own socket at what dockerd
//! created or changed (labelled for the sandbox or not) and judges that: a
//! refusal, or objects with only the settings a plain container gets, is
//! "held"; anything that reaches the node is an escape. Each test prints
//! `escapes/<family>: N variants, M escaped` and fails listing every escaped
//! variant with what dockerd applied. Everything a test created is removed
//! through the node's socket, labelled or not.
//!
//! Needs the node's dockerd (`e2e/cluster up`) and `dockyard/busybox:1`
//! (`e2e/images base`):
//! `cargo test -p dockyard-agent --test escapes -- --ignored --test-threads=1 --nocapture`

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use dockyard_agent::broker::Brokers;
use dockyard_agent::broker::images::ImageLedger;
use dockyard_agent::broker::policy::{Scope, WorkspaceMapping};
use dockyard_agent::docker::connect;
use dockyard_agent::resources::SANDBOX_LABEL;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

const IMAGE: &str = "dockyard/busybox:1";
/// The API version the attacks speak (the highest dockerd 20.10 serves).
const API: &str = "/v1.41";

/// The sandbox under attack, as the other broker tests scope one (its
/// containers under the cgroup `/dockyard-tests/<uid>`, the test image
/// shared). The judges need nothing else: they compare with a plain container
/// the broker let through, so whatever the broker imposes is the baseline.
///
/// `scope` and `brokers` are the only places that know the broker's API.
/// Against the broker before the policy rewrite (HEAD d9c6699) they were:
/// `Scope { uid: uid.to_string(), workspace: Some(mapping) }` and
/// `Brokers::new(node.to_path_buf(), docker, dir.join("sockets"), 0)`.
fn scope(uid: &str, workspace: &Path) -> Scope {
    let mapping = WorkspaceMapping { sandbox_path: "/workspace".into(), node_path: workspace.to_path_buf() };
    dockyard_testing::broker_scope(uid, Some(mapping))
}

fn brokers(node: &Path, dir: &Path) -> Brokers {
    let docker = connect(node).unwrap();
    Brokers::new(node.to_path_buf(), docker, dir.join("sockets"), 0, ImageLedger::open(&dir.join("images")).unwrap())
}

// ---------------------------------------------------------------------------
// Attacks and the ways of spelling a key

/// One request, sent raw to the broker socket. Placeholders filled when it is
/// sent: `@MARK` (a name unique to this sending, which also lets the judge
/// find what dockerd made of it), `@VICTIM`, `@NET`, `@OWN`, `@FOREIGN`,
/// `@BRIDGE`, `@REMOTE` (given by the family's test).
#[derive(Clone, Debug)]
struct Attack {
    family: &'static str,
    name: String,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    /// For a build with `Content-Type: application/x-tar`: the Dockerfile,
    /// packed as the build context when sent.
    body: Vec<u8>,
}

impl Attack {
    fn post(family: &'static str, name: impl Into<String>, path: impl Into<String>, body: impl Into<Vec<u8>>) -> Self {
        Self {
            family,
            name: name.into(),
            method: "POST".into(),
            path: path.into(),
            headers: Vec::new(),
            body: body.into(),
        }
    }

    fn method(mut self, method: &str) -> Self {
        self.method = method.into();
        self
    }

    fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    fn is_build_context(&self) -> bool {
        self.headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("content-type") && v == "application/x-tar")
    }
}

/// A way to re-spell a JSON object key that Go's `encoding/json` still
/// matches to the field (the `\u` ones are what any JSON decoder decodes to
/// the plain key, so a policy that decodes JSON sees through them).
#[derive(Clone, Copy, Debug)]
enum Style {
    Lower,
    Upper,
    Mixed(u64),
    LongS,
    LongSFirst,
    LongSEscaped,
    Kelvin,
    KelvinEscaped,
    EscapeOne,
    EscapeAll,
    LowerEscapeOne,
}

const STYLES: [Style; 12] = [
    Style::Lower,
    Style::Upper,
    Style::Mixed(1),
    Style::Mixed(2),
    Style::Mixed(3),
    Style::LongS,
    Style::LongSFirst,
    Style::LongSEscaped,
    Style::Kelvin,
    Style::KelvinEscaped,
    Style::EscapeOne,
    Style::EscapeAll,
];

impl Style {
    fn label(self) -> String {
        match self {
            Style::Lower => "lower-case".into(),
            Style::Upper => "upper-case".into(),
            Style::Mixed(seed) => format!("random case #{seed}"),
            Style::LongS => "every s as U+017F ſ".into(),
            Style::LongSFirst => "first s as U+017F ſ".into(),
            Style::LongSEscaped => "every s as \\u017f".into(),
            Style::Kelvin => "every k as U+212A K".into(),
            Style::KelvinEscaped => "every k as \\u212a".into(),
            Style::EscapeOne => "one letter \\u-escaped".into(),
            Style::EscapeAll => "every letter \\u-escaped".into(),
            Style::LowerEscapeOne => "lower-case, one letter \\u-escaped".into(),
        }
    }

    /// `key` in this style, as written between the quotes of a JSON key;
    /// `None` when the style leaves it as it is.
    fn apply(self, key: &str) -> Option<String> {
        let text = match self {
            Style::Lower => key.to_lowercase(),
            Style::Upper => key.to_uppercase(),
            Style::Mixed(seed) => mixed_case(key, seed),
            Style::LongS => key.replace(['s', 'S'], "\u{17f}"),
            Style::LongSFirst if key.matches(['s', 'S']).count() > 1 => key.replacen(['s', 'S'], "\u{17f}", 1),
            Style::LongSFirst => return None,
            Style::LongSEscaped => key.replace(['s', 'S'], "\\u017f"),
            Style::Kelvin => key.replace(['k', 'K'], "\u{212a}"),
            Style::KelvinEscaped => key.replace(['k', 'K'], "\\u212a"),
            Style::EscapeOne => escape_letter(key, key.len() / 2),
            Style::EscapeAll => key.chars().map(|c| format!("\\u{:04x}", u32::from(c))).collect(),
            Style::LowerEscapeOne => escape_letter(&key.to_lowercase(), key.len() / 2),
        };
        (text != key).then_some(text)
    }
}

/// Every re-spelling of `key`: (what it is, the text between the quotes).
fn spellings(key: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for style in STYLES.into_iter().chain([Style::LowerEscapeOne]) {
        if let Some(text) = style.apply(key)
            && !out.iter().any(|(_, t)| *t == text)
        {
            out.push((style.label(), text));
        }
    }
    out
}

/// Random upper/lower case per letter (deterministic per key and seed).
fn mixed_case(key: &str, seed: u64) -> String {
    let mut state =
        key.bytes().fold(0xcbf2_9ce4_8422_2325 ^ seed, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    loop {
        let text: String = key
            .chars()
            .map(|c| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                if state & 1 == 0 { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() }
            })
            .collect();
        if text != key && text != key.to_lowercase() && text != key.to_uppercase() {
            return text;
        }
    }
}

/// `key` with its `index`th character written as a JSON `\u` escape.
fn escape_letter(key: &str, index: usize) -> String {
    key.chars()
        .enumerate()
        .map(|(i, c)| if i == index { format!("\\u{:04x}", u32::from(c)) } else { c.to_string() })
        .collect()
}

/// `"key":value`.
fn member(key: &str, value: &str) -> String {
    format!(r#""{key}":{value}"#)
}

/// `key: danger` spelt every way, then given twice (safe and dangerous) in
/// the orders that matter: Go keeps the last; a policy that re-serialises a
/// sorted map puts `KEY` before `Key` before `key`.
fn key_variants(key: &str, danger: &str, safe: &str) -> Vec<(String, String)> {
    let mut out = vec![(format!("`{key}` (the broker's spelling)"), member(key, danger))];
    for (how, text) in spellings(key) {
        out.push((format!("`{key}` as `{text}` ({how})"), member(&text, danger)));
    }
    out.extend(duplicates(key, danger, safe));
    out
}

/// `key` given twice, once safe and once dangerous.
fn duplicates(key: &str, danger: &str, safe: &str) -> Vec<(String, String)> {
    let (lower, upper) = (key.to_lowercase(), key.to_uppercase());
    let pair = |a: String, b: String| format!("{a},{b}");
    let mut out = vec![
        (format!("safe `{key}`, then dangerous `{lower}`"), pair(member(key, safe), member(&lower, danger))),
        (format!("dangerous `{lower}`, then safe `{key}`"), pair(member(&lower, danger), member(key, safe))),
        (format!("safe `{key}`, then dangerous `{upper}`"), pair(member(key, safe), member(&upper, danger))),
        (format!("`{key}` twice: safe, then dangerous"), pair(member(key, safe), member(key, danger))),
        (format!("`{key}` twice: dangerous, then safe"), pair(member(key, danger), member(key, safe))),
    ];
    if let Some(folded) = Style::LongS.apply(key).or_else(|| Style::Kelvin.apply(key)) {
        out.push((
            format!("safe `{key}`, then dangerous `{folded}`"),
            pair(member(key, safe), member(&folded, danger)),
        ));
    }
    out
}

// ---------------------------------------------------------------------------
// Container create: what is attacked

/// A dangerous setting of a container create. `template` is its JSON member
/// text with the keys left open: `$L` is the member that sets it
/// (`"<leaf>":<value>`), `$1`, `$2` other keys on its way; each key (and
/// `HostConfig` around it) is re-spelt in turn.
struct Field {
    name: &'static str,
    host_config: bool,
    keys: &'static [&'static str],
    template: &'static str,
    leaf: &'static str,
    danger: &'static str,
    safe: &'static str,
}

const fn host(leaf: &'static str, danger: &'static str, safe: &'static str) -> Field {
    Field { name: leaf, host_config: true, keys: &[], template: "$L", leaf, danger, safe }
}

const DEVICES: &str = r#"[{"PathOnHost":"/dev/kmsg","PathInContainer":"/dev/kmsg","CgroupPermissions":"rwm"}]"#;
const BIND_ETC: &str = r#"{"type":"none","o":"bind","device":"/etc"}"#;
const SOMEONE_ELSE: &str = r#"{"dockyard.dev/sandbox":"someone-else"}"#;
/// Kubernetes' safe sysctls (the policy's list): namespaced and harmless to the node, so not an escape.
use dockyard_docker_policy::body::SAFE_SYSCTLS;

const FIELDS: &[Field] = &[
    host("Privileged", "true", "false"),
    host("Binds", r#"["/etc:/host-etc:ro"]"#, "[]"),
    Field {
        name: "Mounts.Source",
        host_config: true,
        keys: &["Mounts"],
        template: r#""$1":[{"Type":"bind",$L,"Target":"/host-etc","ReadOnly":true}]"#,
        leaf: "Source",
        danger: r#""/etc""#,
        safe: r#""/workspace/x""#,
    },
    Field {
        name: "Mounts.Type",
        host_config: true,
        keys: &["Mounts"],
        template: r#""$1":[{$L,"Source":"/etc","Target":"/host-etc","ReadOnly":true}]"#,
        leaf: "Type",
        danger: r#""bind""#,
        safe: r#""tmpfs""#,
    },
    Field {
        name: "Mounts.VolumeOptions",
        host_config: true,
        keys: &["Mounts", "Source"],
        template: r#""$1":[{"Type":"volume","$2":"@MARK-vol","Target":"/v",$L}]"#,
        leaf: "VolumeOptions",
        danger: r#"{"DriverConfig":{"Name":"local","Options":{"type":"none","o":"bind","device":"/etc"}}}"#,
        safe: "{}",
    },
    host("CapAdd", r#"["SYS_ADMIN"]"#, "[]"),
    host("PidMode", r#""host""#, r#""""#),
    host("NetworkMode", r#""host""#, r#""default""#),
    host("IpcMode", r#""host""#, r#""""#),
    host("UTSMode", r#""host""#, r#""""#),
    host("UsernsMode", r#""host""#, r#""""#),
    host("CgroupnsMode", r#""host""#, r#""""#),
    host("SecurityOpt", r#"["seccomp=unconfined"]"#, "[]"),
    host("Devices", DEVICES, "[]"),
    host("CgroupParent", r#""/""#, r#""""#),
    // An empty list unmasks everything in dockerd; null keeps the defaults.
    host("MaskedPaths", "[]", "null"),
    host("ReadonlyPaths", "[]", "null"),
    host("Runtime", r#""io.containerd.runc.v2""#, r#""runc""#),
    // Namespaced, but not one of Kubernetes' safe sysctls (which the judge lets pass).
    host("Sysctls", r#"{"net.ipv4.ip_forward":"1"}"#, "{}"),
    Field {
        name: "Labels",
        host_config: false,
        keys: &[],
        template: "$L",
        leaf: "Labels",
        danger: SOMEONE_ELSE,
        safe: "{}",
    },
];

impl Field {
    /// The member text with `keys` for `$1`, `$2`… and `leaf_members` for `$L`.
    fn render(&self, keys: &[String], leaf_members: &str) -> String {
        let mut text = self.template.replace("$L", leaf_members);
        for (i, key) in keys.iter().enumerate() {
            text = text.replace(&format!("${}", i + 1), key);
        }
        text
    }

    fn exact_keys(&self) -> Vec<String> {
        self.keys.iter().map(ToString::to_string).collect()
    }

    /// The member inside `"<host_key>": {…}`, or alone for a top-level field.
    fn wrap(&self, host_key: &str, inner: &str) -> String {
        if self.host_config { format!(r#""{host_key}":{{{inner}}}"#) } else { inner.to_string() }
    }
}

fn container_body(members: &str) -> String {
    format!(r#"{{"Image":"{IMAGE}","Cmd":["sh","-c","sleep 300","@MARK"],{members}}}"#)
}

fn create(family: &'static str, name: String, members: &str) -> Attack {
    Attack::post(family, name, format!("{API}/containers/create?name=@MARK"), container_body(members))
}

/// Every key on each field's way re-spelt alone, then all of them at once.
fn spelling_attacks() -> Vec<Attack> {
    let mut attacks = Vec::new();
    for field in FIELDS {
        let mut path: Vec<&str> = Vec::new();
        if field.host_config {
            path.push("HostConfig");
        }
        path.extend(field.keys);
        path.push(field.leaf);
        let members = |spelt: &[String]| {
            let (host_key, rest) = if field.host_config { (spelt[0].as_str(), &spelt[1..]) } else { ("", spelt) };
            let (keys, leaf) = rest.split_at(rest.len() - 1);
            field.wrap(host_key, &field.render(keys, &member(&leaf[0], field.danger)))
        };
        let exact: Vec<String> = path.iter().map(ToString::to_string).collect();
        let name = |how: String| format!("{}: {how}", field.name);
        attacks.push(create("spelling", name("exact keys (the broker's spelling)".into()), &members(&exact)));
        for (level, key) in path.iter().enumerate() {
            for (how, text) in spellings(key) {
                let mut spelt = exact.clone();
                spelt[level] = text.clone();
                attacks.push(create("spelling", name(format!("`{key}` as `{text}` ({how})")), &members(&spelt)));
            }
        }
        for style in STYLES {
            let spelt: Vec<String> = path.iter().map(|k| style.apply(k).unwrap_or_else(|| k.to_string())).collect();
            if spelt.iter().zip(&path).filter(|(s, k)| s.as_str() != **k).count() > 1 {
                let how = format!("every key: `{}` ({})", spelt.join("`/`"), style.label());
                attacks.push(create("spelling", name(how), &members(&spelt)));
            }
        }
    }
    attacks
}

/// Each field given twice (once safe), and `HostConfig` given twice.
fn duplicate_attacks() -> Vec<Attack> {
    let mut attacks = Vec::new();
    for field in FIELDS {
        let keys = field.exact_keys();
        let name = |how: &str| format!("{}: {how}", field.name);
        for (how, leaf_members) in duplicates(field.leaf, field.danger, field.safe) {
            let members = field.wrap("HostConfig", &field.render(&keys, &leaf_members));
            attacks.push(create("duplicates", name(&how), &members));
        }
        if !field.host_config {
            continue;
        }
        let danger = field.render(&keys, &member(field.leaf, field.danger));
        let safe = field.render(&keys, &member(field.leaf, field.safe));
        let hc = |key: &str, inner: &str| format!(r#""{key}":{{{inner}}}"#);
        let two = |a: String, b: String| format!("{a},{b}");
        for (how, members) in [
            ("HostConfig {safe}, then hostconfig {dangerous}", two(hc("HostConfig", &safe), hc("hostconfig", &danger))),
            (
                "HostConfig {}, then hostconfig {dangerous} (merged)",
                two(hc("HostConfig", ""), hc("hostconfig", &danger)),
            ),
            (
                "hostconfig {dangerous}, then HostConfig {} (merged)",
                two(hc("hostconfig", &danger), hc("HostConfig", "")),
            ),
            ("HostConfig {safe}, then HOSTCONFIG {dangerous}", two(hc("HostConfig", &safe), hc("HOSTCONFIG", &danger))),
            (
                "HostConfig {safe}, then hoſtConfig {dangerous}",
                two(hc("HostConfig", &safe), hc("ho\u{17f}tConfig", &danger)),
            ),
            (
                "HostConfig null, then hostconfig {dangerous}",
                two(r#""HostConfig":null"#.into(), hc("hostconfig", &danger)),
            ),
            ("HostConfig twice: {dangerous}, then {}", two(hc("HostConfig", &danger), hc("HostConfig", ""))),
            ("HostConfig twice: {}, then {dangerous}", two(hc("HostConfig", ""), hc("HostConfig", &danger))),
        ] {
            attacks.push(create("duplicates", name(how), &members));
        }
    }
    attacks
}

/// dockerd's `ContainerConfigWrapper` embeds `*container.HostConfig`: without
/// a `HostConfig` key (or with `"HostConfig": null`), top-level fields are it.
fn top_level_attacks() -> Vec<Attack> {
    let mut attacks = Vec::new();
    for field in FIELDS.iter().filter(|f| f.host_config) {
        let exact = field.render(&field.exact_keys(), &member(field.leaf, field.danger));
        let lower_keys: Vec<String> = field.keys.iter().map(|k| k.to_lowercase()).collect();
        let lower = field.render(&lower_keys, &member(&field.leaf.to_lowercase(), field.danger));
        for (how, members) in [
            ("at the top level, no HostConfig", exact.clone()),
            ("at the top level, keys lower-case", lower),
            ("at the top level, \"HostConfig\": null", format!(r#""HostConfig":null,{exact}"#)),
            ("at the top level, \"hostconfig\": null", format!(r#""hostconfig":null,{exact}"#)),
            ("at the top level, \"HostConfig\": {}", format!(r#""HostConfig":{{}},{exact}"#)),
        ] {
            attacks.push(create("toplevel", format!("{}: {how}", field.name), &members));
        }
    }
    attacks
}

/// Before API 1.24 `POST /containers/{id}/start` took a HostConfig body,
/// which replaces the container's.
fn old_start_attacks() -> Vec<Attack> {
    let start = |version: &str| format!("/{version}/containers/@VICTIM/start");
    let mut attacks = vec![Attack::post(
        "oldstart",
        "v1.23 start with a harmless HostConfig body (replaces what the broker set)",
        start("v1.23"),
        r#"{"LogConfig":{"Type":"json-file","Config":{}}}"#,
    )];
    for field in FIELDS.iter().filter(|f| f.host_config) {
        let exact = format!("{{{}}}", field.render(&field.exact_keys(), &member(field.leaf, field.danger)));
        let lower_keys: Vec<String> = field.keys.iter().map(|k| k.to_lowercase()).collect();
        let lower = format!("{{{}}}", field.render(&lower_keys, &member(&field.leaf.to_lowercase(), field.danger)));
        for (version, how, body) in [
            ("v1.23", "exact keys", &exact),
            ("v1.23", "keys lower-case", &lower),
            ("v1.12", "exact keys", &exact),
            ("v1.24", "exact keys (dockerd refuses a start body from 1.24 on)", &exact),
        ] {
            let name = format!("{}: {version} start, {how}", field.name);
            attacks.push(Attack::post("oldstart", name, start(version), body.as_str()));
        }
    }
    attacks
}

fn exec_attacks() -> Vec<Attack> {
    key_variants("Privileged", "true", "false")
        .into_iter()
        .map(|(how, members)| {
            let body = format!(r#"{{"Cmd":["true"],{members}}}"#);
            Attack::post("exec", how, format!("{API}/containers/@VICTIM/exec"), body)
        })
        .collect()
}

fn update_attacks() -> Vec<Attack> {
    let mut attacks = Vec::new();
    for (key, danger, safe) in
        [("CgroupParent", r#""/""#, r#""""#), ("PidsLimit", "-1", "100"), ("Devices", DEVICES, "[]")]
    {
        for (how, members) in key_variants(key, danger, safe) {
            let path = format!("{API}/containers/@VICTIM/update");
            attacks.push(Attack::post("update", how, path, format!("{{{members}}}")));
        }
    }
    attacks
}

fn network_attacks() -> Vec<Attack> {
    let create = |what: &str, how: String, members: String| {
        let body = format!(r#"{{"Name":"@MARK",{members}}}"#);
        Attack::post("network", format!("create, {what}: {how}"), format!("{API}/networks/create"), body)
    };
    let bridge = r#"{"com.docker.network.bridge.name":"@BRIDGE"}"#;
    let mut attacks = Vec::new();
    for (how, members) in key_variants("Driver", r#""macvlan""#, r#""bridge""#) {
        attacks.push(create("driver macvlan", how, members));
    }
    attacks.push(create("driver ipvlan", "`driver`".into(), member("driver", r#""ipvlan""#)));
    for (how, members) in key_variants("Options", bridge, "{}") {
        attacks.push(create("a bridge of the node", how, members));
    }
    let recased = r#"{"Com.Docker.Network.Bridge.Name":"@BRIDGE"}"#;
    attacks.push(create(
        "a bridge of the node",
        "option name re-cased (Go map keys are exact)".into(),
        member("Options", recased),
    ));
    for (how, members) in key_variants("Labels", SOMEONE_ELSE, "{}") {
        attacks.push(create("another sandbox's label", how, members));
    }
    for (how, body) in [
        ("own `Container`, then another sandbox's in `container`", r#"{"Container":"@OWN","container":"@FOREIGN"}"#),
        ("another sandbox's in `container`, then own `Container`", r#"{"container":"@FOREIGN","Container":"@OWN"}"#),
        ("own `Container`, then another sandbox's in `CONTAINER`", r#"{"Container":"@OWN","CONTAINER":"@FOREIGN"}"#),
        ("another sandbox's in `container` alone", r#"{"container":"@FOREIGN"}"#),
        ("another sandbox's in `Container` (the broker's spelling)", r#"{"Container":"@FOREIGN"}"#),
        ("another sandbox's in `Contain\\u0065r`", r#"{"Contain\u0065r":"@FOREIGN"}"#),
        ("`Container` twice: own, then another sandbox's", r#"{"Container":"@OWN","Container":"@FOREIGN"}"#),
        ("`Container` twice: another sandbox's, then own", r#"{"Container":"@FOREIGN","Container":"@OWN"}"#),
    ] {
        attacks.push(Attack::post("network", format!("connect: {how}"), format!("{API}/networks/@NET/connect"), body));
    }
    attacks
}

fn volume_attacks() -> Vec<Attack> {
    let create = |what: &str, how: String, members: String| {
        let body = format!(r#"{{"Name":"@MARK",{members}}}"#);
        Attack::post("volume", format!("{what}: {how}"), format!("{API}/volumes/create"), body)
    };
    let mut attacks = Vec::new();
    for (how, members) in key_variants("DriverOpts", BIND_ETC, "{}") {
        attacks.push(create("a bind of the node's /etc", how, members));
    }
    for (how, members) in key_variants("Labels", SOMEONE_ELSE, "{}") {
        attacks.push(create("another sandbox's label", how, members));
    }
    attacks
}

/// What a build's RUN step reports: its network interfaces and its cgroup.
const DOCKERFILE: &str = "FROM dockyard/busybox:1\n\
    RUN echo @MARK; echo IFACES $(ls /sys/class/net); echo CGROUP $(grep -m1 pids /proc/self/cgroup)\n";

/// `POST /build` with a tar context and the parameters in the query, or with
/// the Dockerfile fetched by dockerd (`remote=`, from the test's own HTTP
/// server on 127.0.0.1) and the parameters in a form body.
fn build_attacks() -> Vec<Attack> {
    // rm=0 keeps the RUN step's container, so the judge can inspect it.
    let base = format!("{API}/build?t=@MARK&rm=0&forcerm=0");
    let context = |how: &str, query: &str| {
        Attack::post("build", how, format!("{base}{query}"), DOCKERFILE).header("Content-Type", "application/x-tar")
    };
    let form = |how: &str, query: &str, body: &str, content_type: &str| {
        Attack::post("build", how, format!("{base}{query}"), body).header("Content-Type", content_type)
    };
    let urlencoded = "application/x-www-form-urlencoded";
    let multipart = "--B\r\nContent-Disposition: form-data; name=\"networkmode\"\r\n\r\nhost\r\n--B--\r\n";
    vec![
        context("networkmode=host (the broker's spelling)", "&networkmode=host"),
        context("networkmode twice: default, then host (Go reads the first)", "&networkmode=default&networkmode=host"),
        context("networkmode twice: host, then default", "&networkmode=host&networkmode=default"),
        context("percent-encoded key network%6dode=host", "&network%6dode=host"),
        context("percent-encoded value networkmode=ho%73t", "&networkmode=ho%73t"),
        context("key re-cased NetworkMode=host (Go's form keys are exact)", "&NetworkMode=host"),
        context("semicolon networkmode=default;networkmode=host", "&networkmode=default;networkmode=host"),
        context("networkmode=container:<another sandbox's>", "&networkmode=container:@FOREIGN"),
        context("cgroupparent=/", "&cgroupparent=%2F"),
        context("cgroupparent twice: empty, then /", "&cgroupparent=&cgroupparent=%2F"),
        form("remote Dockerfile, networkmode=host in the query", "&remote=@REMOTE&networkmode=host", "", urlencoded),
        form("form body networkmode=host, remote in the query", "&remote=@REMOTE", "networkmode=host", urlencoded),
        form(
            "form body networkmode=host over query networkmode=default",
            "&remote=@REMOTE&networkmode=default",
            "networkmode=host",
            urlencoded,
        ),
        form("form body with remote and networkmode=host", "", "remote=@REMOTE&networkmode=host", urlencoded),
        form(
            "form body networkmode=host, Content-Type upper-case",
            "&remote=@REMOTE",
            "networkmode=host",
            "APPLICATION/X-WWW-FORM-URLENCODED",
        ),
        form("form body cgroupparent=/", "&remote=@REMOTE", "cgroupparent=%2F", urlencoded),
        form("multipart body networkmode=host", "&remote=@REMOTE", multipart, "multipart/form-data; boundary=B"),
    ]
}

/// Paths the broker may route differently from dockerd's router (Go decodes
/// percent-escapes before routing; gorilla/mux redirects unclean paths).
fn path_attacks() -> Vec<Attack> {
    let privileged = container_body(r#""HostConfig":{"Privileged":true,"Binds":["/etc:/host-etc:ro"]}"#);
    let c = |how: &str, path: &str| Attack::post("paths", how, format!("{path}?name=@MARK"), privileged.as_str());
    let network = r#"{"Name":"@MARK","Options":{"com.docker.network.bridge.name":"@BRIDGE"}}"#;
    let volume = format!(r#"{{"Name":"@MARK","DriverOpts":{BIND_ETC}}}"#);
    vec![
        c("containers/create (the broker's spelling)", "/v1.41/containers/create"),
        c("containers/%63reate (an own container is named `create`)", "/v1.41/containers/%63reate"),
        c("containers/creat%65", "/v1.41/containers/creat%65"),
        c("%63ontainers/create", "/v1.41/%63ontainers/create"),
        c("no version, containers/%63reate", "/containers/%63reate"),
        c("v1.23, containers/%63reate", "/v1.23/containers/%63reate"),
        c("containers/<own>/../../containers/create", "/v1.41/containers/@OWN/../../containers/create"),
        c("containers/<own>/..%2F..%2Fcontainers%2Fcreate", "/v1.41/containers/@OWN/..%2F..%2Fcontainers%2Fcreate"),
        c("containers/<own>%2F..%2Fcreate", "/v1.41/containers/@OWN%2F..%2Fcreate"),
        c("containers/./create", "/v1.41/containers/./create"),
        c("containers//create", "/v1.41/containers//create"),
        c("double slash after the version", "/v1.41//containers/create"),
        c("double slash before the version", "//v1.41/containers/create"),
        c("/v1.41/../containers/create", "/v1.41/../containers/create"),
        c("trailing slash containers/create/", "/v1.41/containers/create/"),
        c("method `post`", "/v1.41/containers/create").method("post"),
        c("method `Post`, containers/%63reate", "/v1.41/containers/%63reate").method("Post"),
        Attack::post("paths", "networks/%63reate, a bridge of the node", "/v1.41/networks/%63reate", network),
        Attack::post("paths", "volumes/%63reate, a bind of the node's /etc", "/v1.41/volumes/%63reate", volume),
    ]
}

// ---------------------------------------------------------------------------
// The lab: a sandbox's broker on the node's dockerd, and the judges

struct Reply {
    status: u16,
    body: String,
    /// The `@MARK` this sending used.
    mark: String,
}

/// Objects of this test that dockerd holds and no judge has seen yet.
#[derive(Default)]
struct Created {
    containers: Vec<Value>,
    networks: Vec<Value>,
    volumes: Vec<Value>,
}

struct Outcome {
    name: String,
    status: u16,
    escaped: Vec<String>,
    answer: String,
}

impl Outcome {
    fn new(attack: &Attack, reply: &Reply, escaped: Vec<String>) -> Self {
        let answer = serde_json::from_str::<Value>(&reply.body)
            .ok()
            .and_then(|v| v["message"].as_str().map(String::from))
            .or_else(|| build_output(&reply.body).lines().rfind(|l| l.contains("rror")).map(String::from))
            .unwrap_or_else(|| reply.body.chars().take(120).collect());
        Self { name: attack.name.clone(), status: reply.status, escaped, answer: answer.trim().to_string() }
    }
}

struct Lab {
    family: &'static str,
    uid: String,
    dir: PathBuf,
    workspace: PathBuf,
    /// The node's dockerd socket (the judges' view).
    node: PathBuf,
    brokers: Brokers,
    /// The sandbox's broker socket (the attacker's view).
    socket: PathBuf,
    /// `HostConfig` of a plain container the broker let through.
    baseline: Value,
    judged: Mutex<HashSet<String>>,
    next: AtomicUsize,
    bridge: Mutex<Option<String>>,
}

impl Lab {
    async fn new(family: &'static str) -> Lab {
        let node = dockyard_testing::node_docker_socket();
        assert!(node.exists(), "no dockerd at {} (start it with: e2e/cluster up)", node.display());
        let uid = format!("esc-{family}-{}", std::process::id());
        let dir = std::env::temp_dir().join(&uid);
        let workspace = dir.join("workspace");
        std::fs::create_dir_all(workspace.join("x")).unwrap();
        let brokers = brokers(&node, &dir);
        let socket = brokers.ensure(scope(&uid, &workspace)).expect("serve the sandbox's broker socket");
        let mut lab = Lab {
            family,
            uid,
            dir,
            workspace,
            node,
            brokers,
            socket,
            baseline: Value::Null,
            judged: Mutex::default(),
            next: AtomicUsize::new(0),
            bridge: Mutex::default(),
        };
        let (status, _) = lab.node("GET", &format!("{API}/images/{IMAGE}/json"), None).await;
        assert_eq!(status, 200, "no {IMAGE} on the node (build it with: e2e/images base)");
        let baseline = lab.own_container(&lab.mark(), "", false).await;
        lab.baseline = lab.inspect("containers", &baseline).await["HostConfig"].clone();
        let host = &lab.baseline;
        println!(
            "escapes/{family}: a plain container through the broker gets CgroupParent {}, PidsLimit {}, Runtime {}, \
             {} masked and {} read-only /proc paths",
            host["CgroupParent"],
            host["PidsLimit"],
            host["Runtime"],
            strings(&host["MaskedPaths"]).count(),
            strings(&host["ReadonlyPaths"]).count(),
        );
        lab
    }

    fn mark(&self) -> String {
        format!("{}-{}", self.uid, self.next.fetch_add(1, Ordering::Relaxed))
    }

    /// Marks an object as seen; false when it already was.
    fn first_sight(&self, key: &str) -> bool {
        self.judged.lock().unwrap().insert(key.to_string())
    }

    async fn node(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        call(&self.node, method, path, body).await
    }

    async fn broker(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        call(&self.socket, method, path, body).await
    }

    /// `GET /containers/{id}/json`, `/exec/{id}/json`, `/networks/{id}`, `/volumes/{name}`.
    async fn inspect(&self, kind: &str, id: &str) -> Value {
        let suffix = if kind == "containers" || kind == "exec" { "/json" } else { "" };
        self.node("GET", &format!("{API}/{kind}/{id}{suffix}"), None).await.1
    }

    /// Sends an attack to the broker socket with its placeholders filled.
    async fn send(&self, attack: &Attack, vars: &[(&str, &str)]) -> Reply {
        let mark = self.mark();
        let mut all = vars.to_vec();
        all.push(("@MARK", &mark));
        let fill = |text: &str| all.iter().fold(text.to_string(), |text, (k, v)| text.replace(k, v));
        let mut body = fill(&String::from_utf8_lossy(&attack.body)).into_bytes();
        if attack.is_build_context() {
            body = tar("Dockerfile", &body);
        }
        let headers: Vec<(String, String)> = attack.headers.iter().map(|(k, v)| (k.clone(), fill(v))).collect();
        let mut reply = exchange(&self.socket, &attack.method, &fill(&attack.path), &headers, &body).await;
        reply.mark = mark;
        reply
    }

    /// A container created (and started) through the broker, as the sandbox would.
    async fn own_container(&self, name: &str, host_config: &str, start: bool) -> String {
        let body = container_body(&format!(r#""HostConfig":{{{host_config}}}"#)).replace("@MARK", &self.mark());
        let (status, answer) = self.broker("POST", &format!("{API}/containers/create?name={name}"), Some(&body)).await;
        assert_eq!(status, 201, "the broker refused a plain container {name}: {answer}");
        let id = answer["Id"].as_str().expect("a container id").to_string();
        self.first_sight(&id);
        if start {
            let (status, answer) = self.broker("POST", &format!("{API}/containers/{id}/start"), None).await;
            assert_eq!(status, 204, "the broker did not start {name}: {answer}");
        }
        id
    }

    /// A container of another sandbox, made on the node directly.
    async fn foreign_container(&self) -> String {
        let mark = self.mark();
        let body =
            json!({"Image": IMAGE, "Cmd": ["sh", "-c", "sleep 300", &mark], "Labels": {SANDBOX_LABEL: "someone-else"}});
        let path = format!("{API}/containers/create?name={mark}");
        let (status, answer) = self.node("POST", &path, Some(&body.to_string())).await;
        assert_eq!(status, 201, "create another sandbox's container: {answer}");
        let id = answer["Id"].as_str().unwrap().to_string();
        self.first_sight(&id);
        id
    }

    /// A network or volume created through the broker; returns its id or name.
    async fn own(&self, kind: &str, name: &str) -> Result<String, String> {
        let body = json!({ "Name": name }).to_string();
        let (status, answer) = self.broker("POST", &format!("{API}/{kind}/create"), Some(&body)).await;
        if status != 201 {
            return Err(format!("{kind} {name}: [{status}] {answer}"));
        }
        let key = if kind == "networks" { answer["Id"].as_str() } else { answer["Name"].as_str() };
        let key = key.unwrap_or(name).to_string();
        self.first_sight(&key);
        Ok(key)
    }

    /// A bridge of the node that is not Docker's (made here, removed by `cleanup`).
    fn node_bridge(&self) -> String {
        let name = format!("dky{}{}", &self.family[..3], std::process::id() % 100_000);
        let made = std::process::Command::new("ip").args(["link", "add", &name, "type", "bridge"]).status();
        assert!(made.is_ok_and(|s| s.success()), "could not create the node bridge {name} (needs root and `ip`)");
        *self.bridge.lock().unwrap() = Some(name.clone());
        name
    }

    fn is_ours(&self, names: &str, labels: &Value, command: &str) -> bool {
        labels[SANDBOX_LABEL].as_str() == Some(self.uid.as_str())
            || names.contains(&self.uid)
            || command.contains(&self.uid)
    }

    /// What dockerd holds of this test that no judge has seen: containers,
    /// networks and volumes with the sandbox's label AND without (found by
    /// the test's names and marks).
    async fn created(&self) -> Created {
        let mut created = Created::default();
        let (_, containers) = self.node("GET", &format!("{API}/containers/json?all=1"), None).await;
        for c in containers.as_array().into_iter().flatten() {
            let id = c["Id"].as_str().unwrap_or_default();
            let names = c["Names"].to_string();
            if self.is_ours(&names, &c["Labels"], c["Command"].as_str().unwrap_or_default()) && self.first_sight(id) {
                created.containers.push(self.inspect("containers", id).await);
            }
        }
        let (_, networks) = self.node("GET", &format!("{API}/networks"), None).await;
        for n in networks.as_array().into_iter().flatten() {
            let id = n["Id"].as_str().unwrap_or_default();
            if self.is_ours(n["Name"].as_str().unwrap_or_default(), &n["Labels"], "") && self.first_sight(id) {
                created.networks.push(self.inspect("networks", id).await);
            }
        }
        let (_, volumes) = self.node("GET", &format!("{API}/volumes"), None).await;
        for v in volumes["Volumes"].as_array().into_iter().flatten() {
            let name = v["Name"].as_str().unwrap_or_default();
            if self.is_ours(name, &v["Labels"], "") && self.first_sight(name) {
                created.volumes.push(v.clone());
            }
        }
        created
    }

    async fn remove(&self, created: &Created) {
        for c in &created.containers {
            let id = c["Id"].as_str().unwrap_or_default();
            self.node("DELETE", &format!("{API}/containers/{id}?force=1&v=1"), None).await;
        }
        for n in &created.networks {
            let id = n["Id"].as_str().unwrap_or_default();
            self.node("DELETE", &format!("{API}/networks/{id}"), None).await;
        }
        for v in &created.volumes {
            let name = v["Name"].as_str().unwrap_or_default();
            self.node("DELETE", &format!("{API}/volumes/{name}?force=1"), None).await;
        }
    }

    /// Judges everything new of this test against the plain container, then removes it.
    async fn judge_created(&self) -> Vec<String> {
        self.judge_created_against(&self.baseline.clone(), true).await
    }

    async fn judge_created_against(&self, baseline: &Value, labelled: bool) -> Vec<String> {
        let created = self.created().await;
        let mut escaped = Vec::new();
        for c in &created.containers {
            let name = c["Name"].as_str().unwrap_or_default().trim_start_matches('/');
            for what in self.judge_container(c, baseline, labelled).await {
                escaped.push(format!("container {name}: {what}"));
            }
        }
        for n in &created.networks {
            for what in self.judge_network(n) {
                escaped.push(format!("network {}: {what}", n["Name"].as_str().unwrap_or_default()));
            }
        }
        for v in &created.volumes {
            for what in self.judge_volume(v) {
                escaped.push(format!("volume {}: {what}", v["Name"].as_str().unwrap_or_default()));
            }
        }
        self.remove(&created).await;
        escaped
    }

    /// What in a container's settings reaches the node: compared with
    /// `baseline`, the HostConfig of a plain container the broker let through.
    async fn judge_container(&self, c: &Value, baseline: &Value, labelled: bool) -> Vec<String> {
        let host = &c["HostConfig"];
        let mut found = Vec::new();
        if labelled && let Some(what) = self.wrong_label(&c["Config"]["Labels"]) {
            found.push(what);
        }
        if host["Privileged"] == json!(true) {
            found.push("Privileged".into());
        }
        for field in ["CapAdd", "Devices", "DeviceCgroupRules", "DeviceRequests"] {
            if is_set(&host[field]) && host[field] != baseline[field] {
                found.push(format!("{field} {}", host[field]));
            }
        }
        let mut sysctls = host["Sysctls"].as_object().into_iter().flatten().map(|(key, _)| key.as_str());
        if sysctls.any(|key| !SAFE_SYSCTLS.contains(&key)) {
            found.push(format!("Sysctls {} (not among Kubernetes' safe sysctls)", host["Sysctls"]));
        }
        // Bind sources outside the workspace, however they were given.
        let mut binds = BTreeSet::new();
        for bind in strings(&host["Binds"]) {
            binds.insert(bind.split(':').next().unwrap_or_default().to_string());
        }
        for mount in host["Mounts"].as_array().into_iter().flatten().chain(c["Mounts"].as_array().into_iter().flatten())
        {
            match mount["Type"].as_str() {
                Some("bind") => {
                    binds.insert(mount["Source"].as_str().unwrap_or_default().to_string());
                }
                Some("volume") => {
                    let name = mount["Name"].as_str().or(mount["Source"].as_str()).unwrap_or_default();
                    if name.is_empty() {
                        continue;
                    }
                    let volume = self.inspect("volumes", name).await;
                    if is_set(&volume["Options"]) {
                        found.push(format!("volume {name} with driver options {}", volume["Options"]));
                    }
                }
                _ => {}
            }
        }
        for source in binds {
            if source.starts_with('/') && !Path::new(&source).starts_with(&self.workspace) {
                found.push(format!("bind of the node's {source}"));
            }
        }
        for field in ["NetworkMode", "PidMode", "IpcMode", "UTSMode", "UsernsMode", "CgroupnsMode"] {
            if host[field] == json!("host") && baseline[field] != json!("host") {
                found.push(format!("{field}=host"));
            }
        }
        let weakened: Vec<&str> = strings(&host["SecurityOpt"])
            .filter(|o| !o.starts_with("no-new-privileges") && !strings(&baseline["SecurityOpt"]).any(|b| b == *o))
            .collect();
        if !weakened.is_empty() {
            found.push(format!("SecurityOpt {weakened:?}"));
        }
        let cgroup = |v: &Value| v["CgroupParent"].as_str().unwrap_or_default().to_string();
        if cgroup(host) != cgroup(baseline) {
            found.push(format!("CgroupParent {:?} (the broker's is {:?})", cgroup(host), cgroup(baseline)));
        }
        for field in ["MaskedPaths", "ReadonlyPaths"] {
            if let Some(paths) = host[field].as_array() {
                let lost: Vec<&str> = strings(&baseline[field]).filter(|p| !paths.iter().any(|q| q == p)).collect();
                if !lost.is_empty() {
                    found.push(format!(
                        "{field} {} (drops {} of a plain container's: {lost:?})",
                        host[field],
                        lost.len()
                    ));
                }
            }
        }
        // Unset (a body without HostConfig) is the daemon's default runtime.
        if is_set(&host["Runtime"]) && host["Runtime"] != baseline["Runtime"] {
            found.push(format!("Runtime {} (a plain container gets {})", host["Runtime"], baseline["Runtime"]));
        }
        if let Some(limit) = pids(baseline)
            && pids(host).is_none_or(|p| p > limit)
        {
            found.push(format!("PidsLimit {} (a plain container gets {limit})", host["PidsLimit"]));
        }
        found
    }

    fn judge_network(&self, n: &Value) -> Vec<String> {
        let mut found: Vec<String> = self.wrong_label(&n["Labels"]).into_iter().collect();
        if n["Driver"] != json!("bridge") {
            found.push(format!("driver {}", n["Driver"]));
        }
        for (option, value) in n["Options"].as_object().into_iter().flatten() {
            let value = value.as_str().unwrap_or_default();
            if option == "com.docker.network.bridge.name" || option == "parent" {
                let addresses = std::process::Command::new("ip")
                    .args(["-o", "-4", "addr", "show", "dev", value])
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).split_whitespace().nth(3).unwrap_or("").to_string())
                    .unwrap_or_default();
                found.push(format!("{option}={value}, an interface of the node (it now has address {addresses:?})"));
            }
        }
        found
    }

    fn judge_volume(&self, v: &Value) -> Vec<String> {
        let mut found: Vec<String> = self.wrong_label(&v["Labels"]).into_iter().collect();
        if is_set(&v["Options"]) {
            found.push(format!("driver options {}", v["Options"]));
        }
        if v["Driver"] != json!("local") {
            found.push(format!("driver {}", v["Driver"]));
        }
        found
    }

    fn wrong_label(&self, labels: &Value) -> Option<String> {
        let label = labels[SANDBOX_LABEL].as_str();
        (label != Some(self.uid.as_str())).then(|| {
            format!("labelled {SANDBOX_LABEL}={label:?}, not this sandbox's: its ownership checks and cleanup miss it")
        })
    }

    /// Removes everything of this test, labelled or not, the bridge and the
    /// broker; then prints the outcomes and fails when anything escaped.
    async fn finish(self, outcomes: Vec<Outcome>) {
        self.judged.lock().unwrap().clear();
        let everything = self.created().await;
        self.remove(&everything).await;
        let (_, images) = self.node("GET", &format!("{API}/images/json"), None).await;
        for image in images.as_array().into_iter().flatten() {
            if self.is_ours(&image["RepoTags"].to_string(), &image["Labels"], "") {
                let id = image["Id"].as_str().unwrap_or_default();
                self.node("DELETE", &format!("{API}/images/{id}?force=1"), None).await;
            }
        }
        // The sandbox's cgroup (see `scope`), once its containers are gone (v1 and v2 layouts).
        let cgroups = std::fs::read_dir("/sys/fs/cgroup").into_iter().flatten().flatten().map(|c| c.path());
        for parent in cgroups.chain([PathBuf::from("/sys/fs/cgroup")]) {
            let _ = std::fs::remove_dir(parent.join("dockyard-tests").join(&self.uid));
        }
        if let Some(bridge) = self.bridge.lock().unwrap().take() {
            let _ = std::process::Command::new("ip").args(["link", "del", &bridge]).status();
        }
        self.brokers.remove(&self.uid).unwrap();
        let _ = std::fs::remove_dir_all(&self.dir);
        report(self.family, &outcomes);
    }
}

fn report(family: &str, outcomes: &[Outcome]) {
    let escaped: Vec<&Outcome> = outcomes.iter().filter(|o| !o.escaped.is_empty()).collect();
    for o in outcomes {
        match o.escaped.as_slice() {
            [] => println!("held    [{}] {} — {}", o.status, o.name, o.answer),
            what if o.status < 300 => {
                println!("ESCAPED [{}] {} — dockerd applied: {}", o.status, o.name, what.join("; "))
            }
            what => println!("ESCAPED [{}] {} ({}) — dockerd applied: {}", o.status, o.name, o.answer, what.join("; ")),
        }
    }
    let summary = format!("escapes/{family}: {} variants, {} escaped", outcomes.len(), escaped.len());
    println!("{summary}");
    let list: Vec<String> =
        escaped.iter().map(|o| format!("  {} [{}]: {}", o.name, o.status, o.escaped.join("; "))).collect();
    assert!(escaped.is_empty(), "{summary}; what dockerd applied:\n{}", list.join("\n"));
}

fn is_set(value: &Value) -> bool {
    match value {
        Value::Null | Value::Bool(false) => false,
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        Value::String(s) => !s.is_empty(),
        Value::Number(n) => n.as_i64() != Some(0),
        Value::Bool(true) => true,
    }
}

fn strings(value: &Value) -> impl Iterator<Item = &str> {
    value.as_array().into_iter().flatten().filter_map(Value::as_str)
}

/// A PIDs limit; `None` for unlimited (absent, 0 or -1).
fn pids(host: &Value) -> Option<i64> {
    host["PidsLimit"].as_i64().filter(|p| *p > 0)
}

// ---------------------------------------------------------------------------
// Raw HTTP on unix sockets, build contexts, and the Dockerfile server

/// One request on a fresh connection (`Connection: close`), the answer read
/// to the end (chunked bodies decoded).
async fn exchange(socket: &Path, method: &str, target: &str, headers: &[(String, String)], body: &[u8]) -> Reply {
    let mut request = format!("{method} {target} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n");
    request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    if !body.is_empty() && !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
        request.push_str("Content-Type: application/json\r\n");
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let mut request = request.into_bytes();
    request.extend_from_slice(body);
    let mut answer = Vec::new();
    match UnixStream::connect(socket).await {
        Ok(mut stream) => {
            let _ = stream.write_all(&request).await;
            let _ = tokio::time::timeout(Duration::from_secs(300), stream.read_to_end(&mut answer)).await;
        }
        Err(e) => answer = format!("HTTP/1.1 000 connect\r\n\r\n{e}").into_bytes(),
    }
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(answer.len());
    let head = String::from_utf8_lossy(&answer[..split]).to_string();
    let rest = answer.get(split + 4..).unwrap_or_default();
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body =
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(rest) } else { rest.to_vec() };
    Reply { status, body: String::from_utf8_lossy(&body).into_owned(), mark: String::new() }
}

async fn call(socket: &Path, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let reply = exchange(socket, method, path, &[], body.unwrap_or_default().as_bytes()).await;
    let value = serde_json::from_str(&reply.body).unwrap_or(Value::String(reply.body));
    (reply.status, value)
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = raw.windows(2).position(|w| w == b"\r\n") {
        let size = String::from_utf8_lossy(&raw[..end]);
        let size = usize::from_str_radix(size.split(';').next().unwrap_or_default().trim(), 16).unwrap_or(0);
        raw = &raw[end + 2..];
        if size == 0 {
            break;
        }
        let take = size.min(raw.len());
        out.extend_from_slice(&raw[..take]);
        raw = raw.get(take + 2..).unwrap_or_default();
    }
    out
}

/// A tar archive with one file.
fn tar(name: &str, content: &[u8]) -> Vec<u8> {
    let mut header = [0u8; 512];
    let mut put = |at: usize, text: &str| header[at..at + text.len()].copy_from_slice(text.as_bytes());
    put(0, name);
    put(100, "0000644\0");
    put(108, "0000000\0");
    put(116, "0000000\0");
    put(124, &format!("{:011o}\0", content.len()));
    put(136, "00000000000\0");
    put(148, "        ");
    put(156, "0");
    put(257, "ustar\0"); // magic
    put(263, "00"); // version
    let sum: u32 = header.iter().map(|b| u32::from(*b)).sum();
    header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut out = header.to_vec();
    out.extend_from_slice(content);
    out.resize(out.len().div_ceil(512) * 512 + 1024, 0);
    out
}

/// The `stream` text of a build's JSON progress messages.
fn build_output(body: &str) -> String {
    serde_json::Deserializer::from_str(body)
        .into_iter::<Value>()
        .map_while(Result::ok)
        .filter_map(|m| m["stream"].as_str().or(m["error"].as_str()).map(String::from))
        .collect()
}

fn probe(output: &str, tag: &str) -> Option<String> {
    output.lines().find_map(|l| l.strip_prefix(tag).map(|s| s.trim().to_string()))
}

/// Serves the build Dockerfile at `/<mark>/Dockerfile` on 127.0.0.1 for
/// `remote=` builds; returns the URL with `@MARK` in it, percent-encoded for a query.
async fn dockerfile_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 8192];
                let n = stream.read(&mut buffer).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buffer[..n]);
                let path = request.split_whitespace().nth(1).unwrap_or("/");
                let mark = path.trim_start_matches('/').split('/').next().unwrap_or_default();
                let dockerfile = DOCKERFILE.replace("@MARK", mark);
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{dockerfile}",
                    dockerfile.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    format!("http%3A%2F%2F{address}%2F@MARK%2FDockerfile")
}

// ---------------------------------------------------------------------------
// The families

/// Sends each attack and judges what dockerd created.
async fn run_creating(lab: &Lab, attacks: Vec<Attack>, vars: &[(&str, &str)]) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    for attack in attacks {
        let reply = lab.send(&attack, vars).await;
        let escaped = lab.judge_created().await;
        outcomes.push(Outcome::new(&attack, &reply, escaped));
    }
    outcomes
}

#[tokio::test]
#[ignore = "needs the node's dockerd (e2e/cluster up)"]
async fn create_with_re_spelt_keys() {
    let lab = Lab::new("spelling").await;
    let outcomes = run_creating(&lab, spelling_attacks(), &[]).await;
    lab.finish(outcomes).await;
}

#[tokio::test]
#[ignore = "needs the node's dockerd (e2e/cluster up)"]
async fn create_with_duplicate_keys() {
    let lab = Lab::new("duplicates").await;
    let outcomes = run_creating(&lab, duplicate_attacks(), &[]).await;
    lab.finish(outcomes).await;
}

#[tokio::test]
#[ignore = "needs the node's dockerd (e2e/cluster up)"]
async fn create_with_deprecated_top_level_host_config() {
    let lab = Lab::new("toplevel").await;
    let outcomes = run_creating(&lab, top_level_attacks(), &[]).await;
    lab.finish(outcomes).await;
}

#[tokio::test]
#[ignore = "needs the node's dockerd (e2e/cluster up)"]
async fn start_with_a_host_config_on_old_api_versions() {
    let lab = Lab::new("oldstart").await;
    let mut outcomes = Vec::new();
    for attack in old_start_attacks() {
        let victim = lab.own_container(&lab.mark(), "", false).await;
        let reply = lab.send(&attack, &[("@VICTIM", victim.as_str())]).await;
        let after = lab.inspect("containers", &victim).await;
        let mut escaped: Vec<String> = lab
            .judge_container(&after, &lab.baseline, true)
            .await
            .into_iter()
            .map(|w| format!("the container: {w}"))
            .collect();
        escaped.extend(lab.judge_created().await);
        lab.node("DELETE", &format!("{API}/containers/{victim}?force=1&v=1"), None).await;
        outcomes.push(Outcome::new(&attack, &reply, escaped));
    }
    lab.finish(outcomes).await;
}

#[tokio::test]
#[ignore = "needs the node's dockerd (e2e/cluster up)"]
async fn exec_with_re_spelt_privileged() {
    let lab = Lab::new("exec").await;
    let victim = lab.own_container(&lab.mark(), "", true).await;
    let mut outcomes = Vec::new();
    for attack in exec_attacks() {
        let reply = lab.send(&attack, &[("@VICTIM", victim.as_str())]).await;
        let mut escaped = Vec::new();
        for exec in strings(&lab.inspect("containers", &victim).await["ExecIDs"]) {
            if lab.first_sight(exec) && lab.inspect("exec", exec).await["ProcessConfig"]["privileged"] == json!(true) {
                escaped.push(format!("exec {}: privileged (every capability and device of the node)", &exec[..12]));
            }
        }
        escaped.extend(lab.judge_created().await);
        outcomes.push(Outcome::new(&attack, &reply, escaped));
    }
    lab.finish(outcomes).await;
}

#[tokio::test]
#[ignore = "needs the node's dockerd (e2e/cluster up)"]
async fn update_with_re_spelt_resources() {
    let lab = Lab::new("update").await;
    let mut outcomes = Vec::new();
    for attack in update_attacks() {
        // The sandbox's own container, with a PIDs limit it chose.
        let victim = lab.own_container(&lab.mark(), r#""PidsLimit":100"#, false).await;
        let before = lab.inspect("containers", &victim).await;
        let reply = lab.send(&attack, &[("@VICTIM", victim.as_str())]).await;
        let after = lab.inspect("containers", &victim).await;
        let mut escaped = lab.judge_container(&after, &lab.baseline, true).await;
        let (was, now) = (pids(&before["HostConfig"]), pids(&after["HostConfig"]));
        if now != was && (now.is_none() || pids(&lab.baseline).is_some_and(|limit| now > Some(limit))) {
            let (was, now) = (&before["HostConfig"]["PidsLimit"], &after["HostConfig"]["PidsLimit"]);
            escaped.push(format!("PidsLimit {was} → {now} (unbounded)"));
        }
        escaped.extend(lab.judge_created().await);
        lab.node("DELETE", &format!("{API}/containers/{victim}?force=1&v=1"), None).await;
        outcomes.push(Outcome::new(&attack, &reply, escaped));
    }
    lab.finish(outcomes).await;
}

#[tokio::test]
#[ignore = "needs the node's dockerd (e2e/cluster up)"]
async fn network_create_and_connect_with_re_spelt_keys() {
    let lab = Lab::new("network").await;
    let bridge = lab.node_bridge();
    let network = lab.mark();
    lab.own("networks", &network).await.expect("the broker creates a plain network");
    let own = lab.own_container(&lab.mark(), "", false).await;
    let foreign = lab.foreign_container().await;
    let vars = [
        ("@NET", network.as_str()),
        ("@OWN", own.as_str()),
        ("@FOREIGN", foreign.as_str()),
        ("@BRIDGE", bridge.as_str()),
    ];
    let mut outcomes = Vec::new();
    for attack in network_attacks() {
        let reply = lab.send(&attack, &vars).await;
        let mut escaped = lab.judge_created().await;
        let joined = &lab.inspect("containers", &foreign).await["NetworkSettings"]["Networks"];
        if joined.get(&network).is_some() {
            escaped.push(format!("another sandbox's container joined this sandbox's network {network}"));
            let body = json!({"Container": foreign, "Force": true}).to_string();
            lab.node("POST", &format!("{API}/networks/{network}/disconnect"), Some(&body)).await;
        }
        outcomes.push(Outcome::new(&attack, &reply, escaped));
    }
    lab.finish(outcomes).await;
}

#[tokio::test]
#[ignore = "needs the node's dockerd (e2e/cluster up)"]
async fn volume_create_with_re_spelt_driver_options() {
    let lab = Lab::new("volume").await;
    let outcomes = run_creating(&lab, volume_attacks(), &[]).await;
    lab.finish(outcomes).await;
}

#[tokio::test]
#[ignore = "needs the node's dockerd (e2e/cluster up)"]
async fn build_with_smuggled_query_parameters() {
    let lab = Lab::new("build").await;
    let remote = dockerfile_server().await;
    let foreign = lab.foreign_container().await;
    let vars = [("@REMOTE", remote.as_str()), ("@FOREIGN", foreign.as_str())];
    // A plain build through the broker: what its RUN step gets and sees.
    let plain = Attack::post("build", "plain", format!("{API}/build?t=@MARK&rm=0&forcerm=0"), DOCKERFILE)
        .header("Content-Type", "application/x-tar");
    let reply = lab.send(&plain, &vars).await;
    let output = build_output(&reply.body);
    let plain_ifaces = probe(&output, "IFACES");
    assert!(reply.status == 200 && plain_ifaces.is_some(), "a plain build failed: [{}] {}", reply.status, reply.body);
    let created = lab.created().await;
    let run_step = created.containers.iter().find(|c| c["Config"]["Cmd"].to_string().contains(&reply.mark));
    let baseline = run_step.expect("the plain build's RUN container (rm=0)")["HostConfig"].clone();
    lab.remove(&created).await;
    lab.node("DELETE", &format!("{API}/images/{}?force=1", reply.mark), None).await;

    let mut outcomes = Vec::new();
    for attack in build_attacks() {
        let reply = lab.send(&attack, &vars).await;
        let output = build_output(&reply.body);
        let mut escaped = Vec::new();
        if let Some(ifaces) = probe(&output, "IFACES")
            && Some(&ifaces) != plain_ifaces.as_ref()
        {
            escaped.push(format!("RUN saw the network interfaces {ifaces:?} (a plain build sees {plain_ifaces:?})"));
        }
        escaped.extend(lab.judge_created_against(&baseline, false).await);
        if !escaped.is_empty()
            && let Some(cgroup) = probe(&output, "CGROUP")
        {
            escaped.push(format!("RUN's cgroup {cgroup}"));
        }
        lab.node("DELETE", &format!("{API}/images/{}?force=1", reply.mark), None).await;
        outcomes.push(Outcome::new(&attack, &reply, escaped));
    }
    lab.finish(outcomes).await;
}

#[tokio::test]
#[ignore = "needs the node's dockerd (e2e/cluster up)"]
async fn paths_the_broker_and_dockerd_route_differently() {
    let lab = Lab::new("paths").await;
    let bridge = lab.node_bridge();
    let own = lab.own_container(&lab.mark(), "", false).await;
    // Objects named `create`, so `/containers/%63reate` names one the sandbox owns.
    let (status, answer) = lab
        .broker(
            "POST",
            &format!("{API}/containers/create?name=create"),
            Some(&container_body(r#""HostConfig":{}"#).replace("@MARK", &lab.mark())),
        )
        .await;
    match answer["Id"].as_str() {
        Some(id) => {
            lab.first_sight(id);
        }
        None => println!("note: no container named `create` ([{status}] {answer}); %63reate variants test less"),
    }
    for kind in ["networks", "volumes"] {
        if let Err(e) = lab.own(kind, "create").await {
            println!("note: no {kind} named `create` ({e}); %63reate variants test less");
        }
    }
    let outcomes = run_creating(&lab, path_attacks(), &[("@OWN", own.as_str()), ("@BRIDGE", bridge.as_str())]).await;
    lab.finish(outcomes).await;
}

#[test]
fn every_attack_is_well_formed() {
    let all: Vec<Attack> = [
        spelling_attacks(),
        duplicate_attacks(),
        top_level_attacks(),
        old_start_attacks(),
        exec_attacks(),
        update_attacks(),
        network_attacks(),
        volume_attacks(),
        build_attacks(),
        path_attacks(),
    ]
    .concat();
    for attack in &all {
        let body = String::from_utf8_lossy(&attack.body).replace("@MARK", "m");
        let json = attack.headers.is_empty() && !body.is_empty();
        assert!(!json || serde_json::from_str::<Value>(&body).is_ok(), "{} / {}: {body}", attack.family, attack.name);
    }
    let names: HashSet<(&str, &str)> = all.iter().map(|a| (a.family, a.name.as_str())).collect();
    assert_eq!(names.len(), all.len(), "variant names are unique within a family");
    assert!(spellings("HostConfig").iter().any(|(_, t)| t == "Ho\u{17f}tConfig"));
    assert!(spellings("MaskedPaths").iter().any(|(_, t)| t == "Mas\u{212a}edPaths"));
    assert_eq!(escape_letter("Privileged", 6), "Privil\\u0065ged");
    let archive = tar("Dockerfile", b"FROM x\n");
    assert_eq!(archive.len(), 512 * 4);
}
