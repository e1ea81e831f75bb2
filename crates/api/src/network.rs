//! The NetworkPolicy of a class's sandboxes in one namespace, rendered from
//! the class's `network` (pure; the controller applies it before the first Pod
//! of the class starts in that namespace).
//!
//! One policy per class and namespace, selecting Pods by the
//! [`labels::NETWORK_CLASS`] label, not one per Sandbox: a class's change
//! reaches its running sandboxes as one write, and a new sandbox costs none.

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
    NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::labels;
use crate::v1alpha1::{ClassNetwork, Egress, NetworkDestination, NetworkPort, NetworkStatus};

/// IPv4 ranges `Egress::Internet` never reaches: this network, private
/// (RFC 1918), shared (RFC 6598, carrier NAT and some clusters' Pods),
/// loopback, link-local (cloud metadata at 169.254.169.254), multicast and
/// reserved.
pub const PRIVATE_IPV4: [&str; 9] = [
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "224.0.0.0/4",
    "240.0.0.0/4",
];
/// IPv6 ranges `Egress::Internet` never reaches: loopback and unspecified,
/// unique local (ULA), link-local, multicast and local-use NAT64. (The API
/// server refuses IPv4-mapped ranges in a policy; a Pod's IPv4 traffic is
/// IPv4 on the wire, matched by the IPv4 block.)
pub const PRIVATE_IPV6: [&str; 5] = ["::/127", "fc00::/7", "fe80::/10", "ff00::/8", "64:ff9b:1::/48"];

/// Label value of the built-in policy's Pods (uppercase: no class can be named so).
const BUILT_IN: &str = "BuiltIn";

/// What the controller adds to every class's policy (its flags).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetworkSettings {
    /// Public addresses `Egress::Internet` must not reach either: the nodes'
    /// and the API server's where they are not in a private range.
    pub egress_deny_cidrs: Vec<String>,
    /// The address pools of the nodes' Docker daemons, where brokered
    /// sandboxes' containers live: every class's sandboxes may connect there,
    /// and the node agent's rules let only a container's own sandbox's Pod in.
    pub node_container_cidrs: Vec<String>,
}

impl NetworkSettings {
    /// Checks `--egress-deny-cidr` and `--node-container-cidr` values: each
    /// must be an IPv4 or IPv6 CIDR.
    pub fn new(egress_deny_cidrs: Vec<String>, node_container_cidrs: Vec<String>) -> Result<Self, String> {
        for (flag, cidrs) in
            [("--egress-deny-cidr", &egress_deny_cidrs), ("--node-container-cidr", &node_container_cidrs)]
        {
            for cidr in cidrs {
                parse_cidr(cidr).ok_or_else(|| {
                    format!("{flag} {cidr:?} is not a CIDR (allowed: IPv4 or IPv6, e.g. 203.0.113.0/24)")
                })?;
            }
        }
        Ok(Self { egress_deny_cidrs, node_container_cidrs })
    }
}

fn parse_cidr(cidr: &str) -> Option<(IpAddr, u8)> {
    let (ip, bits) = cidr.split_once('/')?;
    let ip: IpAddr = ip.parse().ok()?;
    if bits.len() > 1 && bits.starts_with('0') {
        return None;
    }
    let bits: u8 = bits.parse().ok()?;
    (bits <= if ip.is_ipv4() { 32 } else { 128 }).then_some((ip, bits))
}

/// The [`labels::NETWORK_CLASS`] value of the Pods of `class` (`None`: the
/// built-in policy): the class name where it fits a label value (63
/// characters), else its first 40 characters and a hash — with an uppercase
/// letter, so it cannot be another class's name.
pub fn class_label(class: Option<&str>) -> String {
    match class {
        None => BUILT_IN.to_string(),
        Some(name) if name.len() <= 63 => name.to_string(),
        Some(name) => {
            format!("{}-H{}", name[..40].trim_end_matches(['.', '-']), crate::render::fnv_hex(name.as_bytes()))
        }
    }
}

/// Name of the NetworkPolicy of `class`'s sandboxes (`None`: the built-in policy).
pub fn policy_name(class: Option<&str>) -> String {
    match class {
        None => "dockyard-builtin".to_string(),
        Some(name) if name.len() <= 200 => format!("dockyard-class-{name}"),
        Some(name) => format!(
            "dockyard-class-{}-{}",
            name[..180].trim_end_matches(['.', '-']),
            crate::render::fnv_hex(name.as_bytes())
        ),
    }
}

/// The NetworkPolicy of `class`'s sandbox Pods in `namespace`.
pub fn render_policy(
    namespace: &str,
    class: Option<&str>,
    network: &ClassNetwork,
    settings: &NetworkSettings,
) -> NetworkPolicy {
    let mut labels = BTreeMap::from([
        ("app.kubernetes.io/name".to_string(), "dockyard-sandbox".to_string()),
        ("app.kubernetes.io/component".to_string(), "network".to_string()),
        ("app.kubernetes.io/managed-by".to_string(), labels::FIELD_MANAGER.to_string()),
    ]);
    labels.insert(labels::NETWORK_CLASS.to_string(), class_label(class));
    let mut egress = Vec::new();
    if network.egress != Egress::None {
        egress.push(dns_rule());
    }
    if network.egress == Egress::Internet {
        let (deny_v4, deny_v6): (Vec<&String>, Vec<&String>) =
            settings.egress_deny_cidrs.iter().partition(|c| !c.contains(':'));
        let block = |cidr: &str, private: &[&str], deny: Vec<&String>| NetworkPolicyPeer {
            ip_block: Some(IPBlock {
                cidr: cidr.to_string(),
                except: Some(private.iter().map(|c| c.to_string()).chain(deny.into_iter().cloned()).collect()),
            }),
            ..Default::default()
        };
        egress.push(NetworkPolicyEgressRule {
            to: Some(vec![block("0.0.0.0/0", &PRIVATE_IPV4, deny_v4), block("::/0", &PRIVATE_IPV6, deny_v6)]),
            ports: None,
        });
    }
    egress.extend(network.egress_to.iter().map(destination_rule));
    // A brokered sandbox's own containers, on its node's daemon (which lets no
    // other Pod in).
    if !settings.node_container_cidrs.is_empty() {
        egress.push(NetworkPolicyEgressRule {
            to: Some(
                settings
                    .node_container_cidrs
                    .iter()
                    .map(|cidr| NetworkPolicyPeer {
                        ip_block: Some(IPBlock { cidr: cidr.clone(), except: None }),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ports: None,
        });
    }
    // No rules: nothing is allowed (policyTypes names both directions); an
    // empty list is left out, as the API server returns it.
    let ingress = (!network.ingress_from_namespaces.is_empty()).then(|| {
        vec![NetworkPolicyIngressRule {
            from: Some(
                network
                    .ingress_from_namespaces
                    .iter()
                    .map(|name| NetworkPolicyPeer {
                        namespace_selector: Some(namespace_named(name)),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ports: None,
        }]
    });
    NetworkPolicy {
        metadata: ObjectMeta {
            name: Some(policy_name(class)),
            namespace: Some(namespace.to_string()),
            labels: Some(labels),
            ..Default::default()
        },
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector {
                match_labels: Some(BTreeMap::from([
                    (labels::NETWORK_CLASS.to_string(), class_label(class)),
                    ("app.kubernetes.io/managed-by".to_string(), labels::FIELD_MANAGER.to_string()),
                ])),
                ..Default::default()
            }),
            policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
            egress: (!egress.is_empty()).then_some(egress),
            ingress,
        }),
    }
}

fn namespace_named(name: &str) -> LabelSelector {
    LabelSelector {
        match_labels: Some(BTreeMap::from([("kubernetes.io/metadata.name".to_string(), name.to_string())])),
        ..Default::default()
    }
}

/// The cluster's DNS: Pods labelled `k8s-app: kube-dns` in `kube-system`
/// (CoreDNS's and kube-dns's label), port 53 over UDP and TCP.
fn dns_rule() -> NetworkPolicyEgressRule {
    let port = |protocol: &str| NetworkPolicyPort {
        protocol: Some(protocol.to_string()),
        port: Some(IntOrString::Int(53)),
        end_port: None,
    };
    NetworkPolicyEgressRule {
        to: Some(vec![NetworkPolicyPeer {
            namespace_selector: Some(namespace_named("kube-system")),
            pod_selector: Some(LabelSelector {
                match_labels: Some(BTreeMap::from([("k8s-app".to_string(), "kube-dns".to_string())])),
                ..Default::default()
            }),
            ip_block: None,
        }]),
        ports: Some(vec![port("UDP"), port("TCP")]),
    }
}

fn destination_rule(destination: &NetworkDestination) -> NetworkPolicyEgressRule {
    NetworkPolicyEgressRule {
        to: Some(vec![NetworkPolicyPeer {
            ip_block: Some(IPBlock { cidr: destination.cidr.clone(), except: None }),
            ..Default::default()
        }]),
        ports: (!destination.ports.is_empty()).then(|| destination.ports.iter().map(policy_port).collect()),
    }
}

fn policy_port(port: &NetworkPort) -> NetworkPolicyPort {
    NetworkPolicyPort {
        protocol: Some(port.protocol.as_str().to_string()),
        port: Some(IntOrString::Int(port.port)),
        end_port: port.end_port,
    }
}

/// A sandbox's `status.network` under `class` (`None`: built in) and its `network`.
pub fn status(class: Option<&str>, network: &ClassNetwork) -> NetworkStatus {
    NetworkStatus { policy: policy_name(class), summary: summary(network) }
}

/// `network` in words, for `status.network.summary`.
pub fn summary(network: &ClassNetwork) -> String {
    let mut egress: Vec<String> = match network.egress {
        Egress::None => Vec::new(),
        Egress::ClusterDns => vec!["cluster DNS".into()],
        Egress::Internet => {
            vec!["cluster DNS".into(), "the internet except private, link-local and loopback addresses".into()]
        }
    };
    egress.extend(network.egress_to.iter().map(|d| {
        let ports: Vec<String> = d
            .ports
            .iter()
            .map(|p| match p.end_port {
                Some(end) => format!("{}-{end}/{}", p.port, p.protocol.as_str()),
                None => format!("{}/{}", p.port, p.protocol.as_str()),
            })
            .collect();
        if ports.is_empty() { d.cidr.clone() } else { format!("{} ports {}", d.cidr, ports.join(",")) }
    }));
    let egress = if egress.is_empty() { "none".to_string() } else { egress.join(", ") };
    let ingress = if network.ingress_from_namespaces.is_empty() {
        "none".to_string()
    } else {
        format!("from namespaces {}", network.ingress_from_namespaces.join(", "))
    };
    format!("egress: {egress}; ingress: {ingress}")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn network(value: serde_json::Value) -> ClassNetwork {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn the_default_reaches_dns_and_the_internet_but_no_private_address() {
        let settings =
            NetworkSettings::new(vec!["203.0.113.7/32".into(), "2001:db8::1/128".into()], Vec::new()).unwrap();
        let policy = render_policy("team-a", Some("standard"), &ClassNetwork::default(), &settings);
        assert_eq!(policy.metadata.name.as_deref(), Some("dockyard-class-standard"));
        let value = serde_json::to_value(&policy.spec).unwrap();
        assert_eq!(
            value["podSelector"]["matchLabels"],
            json!({"dockyard.dev/network-class": "standard", "app.kubernetes.io/managed-by": "dockyard-controller"})
        );
        assert_eq!(value["policyTypes"], json!(["Ingress", "Egress"]));
        assert_eq!(value.get("ingress"), None);
        let egress = value["egress"].as_array().unwrap();
        assert_eq!(egress.len(), 2);
        assert_eq!(egress[0]["ports"], json!([{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]));
        let v4 = &egress[1]["to"][0]["ipBlock"];
        assert_eq!(v4["cidr"], "0.0.0.0/0");
        for private in
            ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "127.0.0.0/8", "203.0.113.7/32"]
        {
            assert!(v4["except"].as_array().unwrap().contains(&json!(private)), "{private}");
        }
        let v6 = &egress[1]["to"][1]["ipBlock"];
        assert_eq!(v6["cidr"], "::/0");
        assert!(v6["except"].as_array().unwrap().contains(&json!("2001:db8::1/128")));
        assert!(!v6["except"].as_array().unwrap().contains(&json!("203.0.113.7/32")));
        assert_eq!(
            summary(&ClassNetwork::default()),
            "egress: cluster DNS, the internet except private, link-local and loopback addresses; ingress: none"
        );
    }

    #[test]
    fn none_allows_only_what_the_class_lists() {
        let class = network(json!({
            "egress": "None",
            "egressTo": [{"cidr": "10.20.0.0/16", "ports": [{"port": 443}, {"protocol": "UDP", "port": 8000, "endPort": 8100}]}],
            "ingressFromNamespaces": ["monitoring"],
        }));
        let policy = render_policy("team-a", None, &class, &NetworkSettings::default());
        assert_eq!(policy.metadata.name.as_deref(), Some("dockyard-builtin"));
        let value = serde_json::to_value(&policy.spec).unwrap();
        assert_eq!(value["podSelector"]["matchLabels"]["dockyard.dev/network-class"], "BuiltIn");
        assert_eq!(
            value["egress"],
            json!([{"to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}],
                    "ports": [{"protocol": "TCP", "port": 443}, {"protocol": "UDP", "port": 8000, "endPort": 8100}]}])
        );
        assert_eq!(
            value["ingress"],
            json!([{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]}])
        );
        assert_eq!(
            summary(&class),
            "egress: 10.20.0.0/16 ports 443/TCP,8000-8100/UDP; ingress: from namespaces monitoring"
        );
        let dns_only = network(json!({"egress": "ClusterDNS"}));
        let value =
            serde_json::to_value(render_policy("n", None, &dns_only, &NetworkSettings::default()).spec).unwrap();
        assert_eq!(value["egress"].as_array().unwrap().len(), 1);
        assert_eq!(summary(&dns_only), "egress: cluster DNS; ingress: none");
        let nothing = network(json!({"egress": "None"}));
        assert_eq!(summary(&nothing), "egress: none; ingress: none");
        let value = serde_json::to_value(render_policy("n", None, &nothing, &NetworkSettings::default()).spec).unwrap();
        assert_eq!((value.get("egress"), value.get("ingress")), (None, None));
        assert_eq!(value["policyTypes"], json!(["Ingress", "Egress"]));
    }

    #[test]
    fn every_class_reaches_the_node_daemons_container_pools() {
        let settings = NetworkSettings::new(Vec::new(), vec!["10.214.0.0/16".into()]).unwrap();
        let none = network(json!({"egress": "None"}));
        let value = serde_json::to_value(render_policy("n", None, &none, &settings).spec).unwrap();
        assert_eq!(value["egress"], json!([{"to": [{"ipBlock": {"cidr": "10.214.0.0/16"}}]}]));
    }

    #[test]
    fn long_class_names_make_valid_labels_and_names() {
        let long = format!("{}.example.com", "a".repeat(240));
        let label = class_label(Some(&long));
        assert!(label.len() <= 63 && label.contains("-H"), "{label}");
        assert!(label.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)));
        assert_eq!(class_label(Some("standard")), "standard");
        assert_eq!(class_label(None), "BuiltIn");
        let name = policy_name(Some(&long));
        assert!(name.len() <= 253 && name.starts_with("dockyard-class-"), "{name}");
        assert_ne!(policy_name(Some(&long)), policy_name(Some(&format!("{long}x"))));
    }

    #[test]
    fn deny_cidrs_must_be_cidrs() {
        assert!(
            NetworkSettings::new(
                vec!["10.0.0.0/8".into(), "fd00::/8".into(), "0.0.0.0/0".into()],
                vec!["172.17.0.0/16".into()]
            )
            .is_ok()
        );
        for bad in ["10.0.0.0", "10.0.0.0/33", "fd00::/129", "example.com/8", "10.0.0.0/08"] {
            let error = NetworkSettings::new(vec![bad.into()], Vec::new()).unwrap_err();
            assert!(error.contains("--egress-deny-cidr") && error.contains(bad), "{error}");
            let error = NetworkSettings::new(Vec::new(), vec![bad.into()]).unwrap_err();
            assert!(error.contains("--node-container-cidr") && error.contains(bad), "{error}");
        }
    }
}
