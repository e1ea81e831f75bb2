//! The query of `POST /build` (the classic builder): every parameter is
//! listed; those that reach the node are refused or set by Dockyard.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::endpoint::{After, Check, Plan};
use crate::filters::SANDBOX_LABEL;
use crate::request::Query;
use crate::scope::Scope;
use crate::{Kind, Refusal, gojson};

const SINGLE: &[&str] = &[
    "dockerfile",
    "remote",
    "q",
    "nocache",
    "rm",
    "forcerm",
    "memory",
    "memswap",
    "cpushares",
    "cpusetcpus",
    "cpusetmems",
    "cpuperiod",
    "cpuquota",
    "shmsize",
    "squash",
    "networkmode",
    "buildargs",
    "labels",
    "cachefrom",
    "ulimits",
    "isolation",
    "platform",
    "target",
    "outputs",
    "pull",
    "cgroupparent",
    "version",
    "buildid",
    "session",
];
const REPEATED: &[&str] = &["t", "extrahosts"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Ulimit {
    #[serde(rename = "Name", default)]
    _name: String,
    #[serde(rename = "Hard", default)]
    _hard: i64,
    #[serde(rename = "Soft", default)]
    _soft: i64,
}

/// Checks and rewrites a build's query: labels the image, runs its steps
/// under the sandbox Pod's cgroup, and records what it tags.
pub fn check_query(query: &mut Query, scope: &Scope, plan: &mut Plan) -> Result<(), Refusal> {
    query.allow("POST /build", SINGLE, REPEATED)?;
    if !matches!(query.get("version").unwrap_or_default(), "" | "1") {
        return Err(Refusal::forbidden(
            "BuildKit builds (`version=2`) are not available through the broker yet; use the classic builder \
             (DOCKER_BUILDKIT=0)",
        ));
    }
    match query.get("networkmode").unwrap_or_default() {
        "" | "default" | "bridge" | "none" => {}
        mode @ ("host" | "container") => return Err(network_refusal(mode)),
        mode if mode.starts_with("container:") => return Err(network_refusal(mode)),
        network => plan.checks.push(Check::Joins(Kind::Network, network.to_string())),
    }
    if query.get("cgroupparent").is_some_and(|c| !c.is_empty()) {
        return Err(Refusal::forbidden(
            "build option `cgroupparent` is set by Dockyard: a build's steps run under the sandbox Pod's cgroup",
        ));
    }
    let Some(cgroup_parent) = &scope.cgroup_parent else {
        return Err(crate::body::no_cgroup_parent());
    };
    query.set("cgroupparent", cgroup_parent.clone());
    if let Some(remote) = query.get("remote").filter(|r| !r.is_empty())
        && !scope.rules.allow_remote_fetch
    {
        return Err(Refusal::forbidden(format!(
            "building from `{remote}` would make the node fetch a URL; the sandbox's class does not allow that \
             (spec.broker.allowRemoteFetch)"
        )));
    }
    if let Some(outputs) = json_param(query, "outputs")
        && outputs != "[]"
    {
        return Err(Refusal::forbidden("build `outputs` are not available through the broker"));
    }
    if !matches!(query.get("isolation").unwrap_or_default(), "" | "default") {
        return Err(Refusal::forbidden("build `isolation` other than the default is not available"));
    }
    let decode = |query: &Query, name: &str| -> Result<Option<gojson::Node>, Refusal> {
        json_param(query, name)
            .map(|raw| {
                gojson::parse(raw.as_bytes())
                    .map_err(|e| Refusal::bad_request(format!("query parameter `{name}` is not JSON: {e}")))
            })
            .transpose()
    };
    let bad = |name: &str, e: gojson::Error| Refusal::bad_request(format!("query parameter `{name}`: {e}"));
    if let Some(node) = decode(query, "buildargs")? {
        gojson::from_node::<BTreeMap<String, Option<String>>>(&node).map_err(|e| bad("buildargs", e))?;
    }
    if let Some(node) = decode(query, "ulimits")? {
        gojson::from_node::<Vec<Ulimit>>(&node).map_err(|e| bad("ulimits", e))?;
    }
    if let Some(node) = decode(query, "cachefrom")? {
        let images: Vec<String> = gojson::from_node(&node).map_err(|e| bad("cachefrom", e))?;
        plan.checks.extend(images.into_iter().map(Check::ImageUsable));
    }
    let mut labels: BTreeMap<String, String> = match decode(query, "labels")? {
        Some(node) => gojson::from_node(&node).map_err(|e| bad("labels", e))?,
        None => BTreeMap::new(),
    };
    labels.insert(SANDBOX_LABEL.into(), scope.uid.clone());
    query.set("labels", serde_json::to_string(&labels).expect("labels serialise"));
    let tags: Vec<String> = query.all("t").map(str::to_string).collect();
    plan.checks.extend(tags.iter().cloned().map(Check::ReferenceFree));
    plan.after = After::RecordBuild(tags);
    Ok(())
}

/// A JSON-valued parameter, unless empty or `null`.
fn json_param<'q>(query: &'q Query, name: &str) -> Option<&'q str> {
    query.get(name).filter(|v| !v.is_empty() && *v != "null")
}

fn network_refusal(mode: &str) -> Refusal {
    Refusal::forbidden(format!(
        "build network mode `{mode}` would reach the node's or another container's network namespace; use the default"
    ))
}

#[cfg(test)]
mod tests {
    use http::Method;

    use super::*;
    use crate::endpoint::plan;

    fn scope() -> Scope {
        Scope { uid: "u1".into(), cgroup_parent: Some("/kubepods/pod1".into()), ..Default::default() }
    }

    fn build(query: &str) -> Result<Plan, Refusal> {
        plan(&Method::POST, "/v1.41/build", Some(query), &scope())
    }

    #[test]
    fn builds_are_labelled_and_contained() {
        let planned = build(r#"t=app:1&labels={"a":"b"}&networkmode=default"#).unwrap();
        let query = Query::parse(planned.path_and_query.split_once('?').map(|(_, q)| q)).unwrap();
        let labels: serde_json::Value = serde_json::from_str(query.get("labels").unwrap()).unwrap();
        assert_eq!(labels, serde_json::json!({"a": "b", "dockyard.dev/sandbox": "u1"}));
        assert_eq!(query.get("cgroupparent"), Some("/kubepods/pod1"));
        assert_eq!(planned.checks, [Check::ReferenceFree("app:1".into())]);
        assert_eq!(planned.after, After::RecordBuild(vec!["app:1".into()]));
    }

    #[test]
    fn node_facing_build_options_are_refused() {
        for (query, reason) in [
            ("networkmode=host", "host"),
            ("networkmode=container:abc", "container:abc"),
            ("networkmode=default&networkmode=host", "more than once"),
            ("network%6dode=host", "host"),
            ("cgroupparent=/", "cgroupparent"),
            ("remote=http://10.0.0.1/ctx.tar", "allowRemoteFetch"),
            ("version=2", "BuildKit"),
            ("outputs=[{\"Type\":\"local\"}]", "outputs"),
            ("isolation=hyperv", "isolation"),
            ("labels=[1]", "labels"),
            ("unknown=1", "`unknown`"),
        ] {
            let refusal = build(query).expect_err(query);
            assert!(refusal.message.contains(reason), "{query}: {}", refusal.message);
        }
        let network = build("networkmode=mynet").unwrap();
        assert!(network.checks.contains(&Check::Joins(Kind::Network, "mynet".into())));
        let without_cgroup =
            plan(&Method::POST, "/build", Some("t=x"), &Scope { uid: "u".into(), ..Default::default() });
        assert!(without_cgroup.unwrap_err().message.contains("cgroup"));
    }
}
