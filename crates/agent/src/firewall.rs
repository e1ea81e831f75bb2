//! The node's rules for the containers brokered sandboxes start on the node's
//! daemon, which no NetworkPolicy sees (they are not Pods): an nftables table
//! of Dockyard's own, `inet dockyard`, replaced as a whole whenever what it
//! says changes.
//!
//! For each brokered sandbox, over the bridges of its Docker networks (its own
//! network and those it created, all labelled as its): containers on one
//! bridge reach each other; the sandbox's Pod reaches its containers and they
//! answer it; they connect to what their class lists, and — with
//! `network.egress: Internet` — to public addresses, never to private,
//! link-local (cloud metadata) or loopback ones, which holds the cluster's
//! Pods and Services, other sandboxes' containers and the node. Into any of
//! those bridges, and into the daemon's default bridge, nothing else starts a
//! connection but a published port; from them, nothing reaches the node's own
//! addresses (the kubelet, the API server on a control-plane node, anything
//! listening there).
//!
//! The table's base chains run before Docker's and kube-proxy's (priority
//! `filter - 5`); an `accept` here ends only this table's say, a `drop` is
//! final. Docker restarts leave the table alone; the agent writes it again at
//! its start, on every sandbox it prepares or cleans up, after every network
//! a sandbox creates (before the client learns the network exists), and every
//! few seconds.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Mutex;

use bollard::Docker;
use bollard::query_parameters::ListNetworksOptionsBuilder;
use dockyard_api::network::{PRIVATE_IPV4, PRIVATE_IPV6};
use dockyard_docker_policy::SANDBOX_LABEL;
use dockyard_docker_policy::scope::{ContainerEgress, EgressDestination};
use tokio::io::AsyncWriteExt;
use tracing::{info, warn};

/// The nftables table Dockyard owns on the node.
pub const TABLE: &str = "dockyard";

/// What fences one brokered sandbox's containers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fence {
    pub uid: String,
    /// The Linux bridges of its Docker networks.
    pub bridges: Vec<String>,
    /// Its current Pod's address, when known.
    pub pod_ip: Option<IpAddr>,
    pub egress: ContainerEgress,
}

/// The script that replaces the table (`nft -f -`, atomic): `fences` and the
/// daemon's `default_bridge`.
pub fn render(fences: &[Fence], default_bridge: &str) -> String {
    let quoted = |names: &[String]| names.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ");
    let mut out = String::new();
    // Made if missing, so that the delete always finds it; both in one transaction.
    let _ = writeln!(out, "table inet {TABLE}\ndelete table inet {TABLE}\ntable inet {TABLE} {{");
    let _ = writeln!(out, "  chain forward {{\n    type filter hook forward priority filter - 5; policy accept;");
    let _ = writeln!(out, "    ct state established,related accept");
    let mut all: Vec<String> = Vec::new();
    for fence in fences.iter().filter(|f| !f.bridges.is_empty()) {
        let bridges = format!("{{ {} }}", quoted(&fence.bridges));
        let _ = writeln!(out, "    # sandbox {}", fence.uid);
        for bridge in &fence.bridges {
            let _ = writeln!(out, "    iifname \"{bridge}\" oifname \"{bridge}\" accept");
        }
        if let Some(pod) = fence.pod_ip {
            let family = if pod.is_ipv4() { "ip" } else { "ip6" };
            let _ = writeln!(out, "    {family} saddr {pod} oifname {bridges} accept");
            let _ = writeln!(out, "    iifname {bridges} {family} daddr {pod} accept");
        }
        for destination in &fence.egress.to {
            for rule in destination_rules(destination) {
                let _ = writeln!(out, "    iifname {bridges} {rule} accept");
            }
        }
        if fence.egress.internet {
            let _ = writeln!(out, "    iifname {bridges} ip daddr {{ {} }} drop", PRIVATE_IPV4.join(", "));
            let _ = writeln!(out, "    iifname {bridges} ip6 daddr {{ {} }} drop", PRIVATE_IPV6.join(", "));
        } else {
            let _ = writeln!(out, "    iifname {bridges} drop");
        }
        all.extend(fence.bridges.iter().cloned());
    }
    let mut inbound = all.clone();
    inbound.push(default_bridge.to_string());
    let inbound = format!("{{ {} }}", quoted(&inbound));
    let _ = writeln!(out, "    oifname {inbound} ct status dnat accept");
    let _ = writeln!(out, "    oifname {inbound} drop");
    let _ = writeln!(out, "  }}");
    let _ = writeln!(out, "  chain input {{\n    type filter hook input priority filter - 5; policy accept;");
    let _ = writeln!(out, "    ct state established,related accept");
    if !all.is_empty() {
        let _ = writeln!(out, "    iifname {{ {} }} drop", quoted(&all));
    }
    let _ = writeln!(out, "  }}\n}}");
    out
}

/// The nft match of each port (range) of `destination`, or of the whole CIDR.
fn destination_rules(destination: &EgressDestination) -> Vec<String> {
    let family = if destination.cidr.contains(':') { "ip6" } else { "ip" };
    let to = format!("{family} daddr {}", destination.cidr);
    if destination.ports.is_empty() {
        return vec![to];
    }
    destination
        .ports
        .iter()
        .filter(|p| matches!(p.protocol.as_str(), "tcp" | "udp" | "sctp"))
        .map(|p| match p.end_port {
            Some(end) if end > p.port => format!("{to} {} dport {}-{end}", p.protocol, p.port),
            _ => format!("{to} {} dport {}", p.protocol, p.port),
        })
        .collect()
}

/// The bridge of a Docker network: its `com.docker.network.bridge.name`, or
/// Docker's `br-` and the first 12 characters of its ID.
pub fn bridge_name(id: &str, options: Option<&std::collections::HashMap<String, String>>) -> String {
    options
        .and_then(|o| o.get("com.docker.network.bridge.name"))
        .cloned()
        .unwrap_or_else(|| format!("br-{}", &id[..id.len().min(12)]))
}

/// The sandboxes' fences on this node, kept in the kernel.
pub struct Firewall {
    docker: Docker,
    nft: PathBuf,
    default_bridge: String,
    /// Each brokered sandbox's Pod address and class egress, by UID.
    sandboxes: Mutex<BTreeMap<String, (Option<IpAddr>, ContainerEgress)>>,
    /// The script last applied (nothing is written when it would not change).
    applied: tokio::sync::Mutex<Option<String>>,
    /// Whether the last write failed: the next container of a sandbox waits
    /// for a write that succeeds.
    failed: std::sync::atomic::AtomicBool,
}

impl Firewall {
    pub fn new(docker: Docker, nft: PathBuf, default_bridge: String) -> Self {
        Self {
            docker,
            nft,
            default_bridge,
            sandboxes: Mutex::default(),
            applied: tokio::sync::Mutex::default(),
            failed: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Records (or updates) a brokered sandbox; [`Self::sync`] writes it.
    /// Whether that changed what the agent knew.
    pub fn set(&self, uid: &str, pod_ip: Option<IpAddr>, egress: ContainerEgress) -> bool {
        let entry = (pod_ip, egress);
        let mut sandboxes = self.sandboxes.lock().expect("firewall lock");
        sandboxes.insert(uid.to_string(), entry.clone()).as_ref() != Some(&entry)
    }

    /// Forgets a sandbox (after its cleanup); [`Self::sync`] writes it.
    pub fn forget(&self, uid: &str) {
        self.sandboxes.lock().expect("firewall lock").remove(uid);
    }

    /// Writes the table for the sandboxes known now and the bridges of their
    /// networks on the daemon now; nothing when that would not change it.
    /// Networks labelled for a sandbox the agent does not know (yet) get the
    /// strictest fence.
    pub async fn sync(&self) -> Result<(), String> {
        let written = self.write().await;
        self.failed.store(written.is_err(), std::sync::atomic::Ordering::Relaxed);
        written
    }

    /// Whether the last write failed.
    pub fn failed(&self) -> bool {
        self.failed.load(std::sync::atomic::Ordering::Relaxed)
    }

    async fn write(&self) -> Result<(), String> {
        let mut applied = self.applied.lock().await;
        let options = ListNetworksOptionsBuilder::default()
            .filters(&std::collections::HashMap::from([("label", vec![SANDBOX_LABEL])]))
            .build();
        let networks = self.docker.list_networks(Some(options)).await.map_err(|e| e.to_string())?;
        let mut bridges: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for network in networks {
            let (Some(id), Some(uid)) = (network.id, network.labels.and_then(|l| l.get(SANDBOX_LABEL).cloned())) else {
                continue;
            };
            if network.driver.as_deref().is_some_and(|d| d != "bridge") {
                continue;
            }
            bridges.entry(uid).or_default().push(bridge_name(&id, network.options.as_ref()));
        }
        let fences: Vec<Fence> = {
            let known = self.sandboxes.lock().expect("firewall lock");
            bridges
                .into_iter()
                .map(|(uid, mut bridges)| {
                    bridges.sort();
                    let (pod_ip, egress) = known.get(&uid).cloned().unwrap_or_default();
                    Fence { uid, bridges, pod_ip, egress }
                })
                .collect()
        };
        let script = render(&fences, &self.default_bridge);
        if applied.as_deref() == Some(script.as_str()) {
            return Ok(());
        }
        self.apply(&script).await?;
        info!(sandboxes = fences.len(), "the node's rules for brokered containers are written");
        *applied = Some(script);
        Ok(())
    }

    /// Writes the table anew after a failure or a change (logged, never fatal).
    pub async fn sync_logged(&self, why: &str) {
        if let Err(error) = self.sync().await {
            warn!(%error, why, "cannot write the node's rules for brokered containers");
        }
    }

    async fn apply(&self, script: &str) -> Result<(), String> {
        let mut child = tokio::process::Command::new(&self.nft)
            .args(["-f", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.nft.display()))?;
        let mut stdin = child.stdin.take().expect("piped");
        stdin.write_all(script.as_bytes()).await.map_err(|e| e.to_string())?;
        drop(stdin);
        let output = child.wait_with_output().await.map_err(|e| e.to_string())?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!("{} -f: {}", self.nft.display(), String::from_utf8_lossy(&output.stderr).trim()))
        }
    }
}

#[cfg(test)]
mod tests {
    use dockyard_docker_policy::scope::EgressPort;

    use super::*;

    fn fence(uid: &str, bridges: &[&str], internet: bool) -> Fence {
        Fence {
            uid: uid.into(),
            bridges: bridges.iter().map(|b| b.to_string()).collect(),
            pod_ip: Some("10.213.64.7".parse().unwrap()),
            egress: ContainerEgress { internet, to: Vec::new() },
        }
    }

    #[test]
    fn each_sandbox_reaches_its_own_and_what_its_class_allows() {
        let mut listed = fence("b", &["br-bbbbbbbbbbbb"], false);
        listed.pod_ip = None;
        listed.egress.to = vec![
            EgressDestination { cidr: "10.20.0.0/16".into(), ports: Vec::new() },
            EgressDestination {
                cidr: "2001:db8::/32".into(),
                ports: vec![
                    EgressPort { protocol: "tcp".into(), port: 443, end_port: None },
                    EgressPort { protocol: "udp".into(), port: 8000, end_port: Some(8100) },
                ],
            },
        ];
        let script = render(&[fence("a", &["br-aaaaaaaaaaaa", "br-cccccccccccc"], true), listed], "docker0");
        let a = r#"{ "br-aaaaaaaaaaaa", "br-cccccccccccc" }"#;
        for line in [
            "table inet dockyard\ndelete table inet dockyard\ntable inet dockyard {".to_string(),
            "type filter hook forward priority filter - 5; policy accept;".into(),
            "ct state established,related accept".into(),
            r#"iifname "br-aaaaaaaaaaaa" oifname "br-aaaaaaaaaaaa" accept"#.into(),
            format!("ip saddr 10.213.64.7 oifname {a} accept"),
            format!("iifname {a} ip daddr 10.213.64.7 accept"),
            format!("iifname {a} ip daddr {{ {} }} drop", PRIVATE_IPV4.join(", ")),
            format!("iifname {a} ip6 daddr {{ {} }} drop", PRIVATE_IPV6.join(", ")),
            r#"iifname { "br-bbbbbbbbbbbb" } ip daddr 10.20.0.0/16 accept"#.into(),
            r#"iifname { "br-bbbbbbbbbbbb" } ip6 daddr 2001:db8::/32 tcp dport 443 accept"#.into(),
            r#"iifname { "br-bbbbbbbbbbbb" } ip6 daddr 2001:db8::/32 udp dport 8000-8100 accept"#.into(),
            r#"iifname { "br-bbbbbbbbbbbb" } drop"#.into(),
            r#"oifname { "br-aaaaaaaaaaaa", "br-cccccccccccc", "br-bbbbbbbbbbbb", "docker0" } ct status dnat accept"#
                .into(),
            r#"oifname { "br-aaaaaaaaaaaa", "br-cccccccccccc", "br-bbbbbbbbbbbb", "docker0" } drop"#.into(),
            "type filter hook input priority filter - 5; policy accept;".into(),
            r#"iifname { "br-aaaaaaaaaaaa", "br-cccccccccccc", "br-bbbbbbbbbbbb" } drop"#.into(),
        ] {
            assert!(script.contains(&line), "no `{line}` in:\n{script}");
        }
        // The sandbox's own accepts come before its drops.
        let own = script.find("ip saddr 10.213.64.7").unwrap();
        let drop = script.find(&format!("iifname {a} ip daddr {{")).unwrap();
        assert!(own < drop);
    }

    /// The rules as the real `nft` parses them (`-c`: checked, not applied).
    #[tokio::test]
    #[ignore = "needs nft (scripts/test installs it) and CAP_NET_ADMIN"]
    async fn nft_accepts_the_rules() {
        let mut listed = fence("b", &["br-bbbbbbbbbbbb"], false);
        listed.pod_ip = Some("fd00::7".parse().unwrap());
        listed.egress.to = vec![EgressDestination {
            cidr: "10.20.0.0/16".into(),
            ports: vec![
                EgressPort { protocol: "tcp".into(), port: 443, end_port: None },
                EgressPort { protocol: "sctp".into(), port: 9000, end_port: Some(9010) },
            ],
        }];
        for script in [
            render(&[fence("a", &["br-aaaaaaaaaaaa", "br-cccccccccccc"], true), listed], "docker0"),
            render(&[], "docker0"),
        ] {
            let mut child = tokio::process::Command::new("nft")
                .args(["-c", "-f", "-"])
                .stdin(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("run nft");
            child.stdin.take().unwrap().write_all(script.as_bytes()).await.unwrap();
            let output = child.wait_with_output().await.unwrap();
            assert!(output.status.success(), "nft refused:\n{script}\n{}", String::from_utf8_lossy(&output.stderr));
        }
    }

    #[test]
    fn without_brokered_networks_only_the_default_bridge_is_closed() {
        let script = render(&[], "docker0");
        assert!(script.contains(r#"oifname { "docker0" } drop"#), "{script}");
        assert!(!script.contains("chain input {\n    type filter hook input priority filter - 5; policy accept;\n    ct state established,related accept\n    iifname"));
        assert_eq!(bridge_name("0123456789abcdef", None), "br-0123456789ab");
    }
}
