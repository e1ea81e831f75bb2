//! The `filters` query parameter of lists, prunes and event streams: decoded
//! as dockerd decodes it (`filters.FromJSON`: `{"key": {"value": true}}` or
//! the legacy `{"key": ["value"]}`), with the sandbox's label added, so the
//! daemon itself lists, prunes and streams only the sandbox's objects.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::request::Query;
use crate::{Refusal, gojson};

/// The label on everything a sandbox creates: `dockyard.dev/sandbox=<uid>`.
pub const SANDBOX_LABEL: &str = "dockyard.dev/sandbox";

#[derive(Deserialize)]
#[serde(untagged)]
enum Values {
    Set(BTreeMap<String, bool>),
    List(Vec<String>),
}

/// Adds `label=dockyard.dev/sandbox=<uid>` to the query's `filters`.
pub fn add_label(query: &mut Query, uid: &str) -> Result<(), Refusal> {
    let mut filters: BTreeMap<String, BTreeMap<String, bool>> = BTreeMap::new();
    if let Some(raw) = query.get("filters").filter(|raw| !raw.is_empty()) {
        let parsed: BTreeMap<String, Values> = gojson::from_slice(raw.as_bytes())
            .map_err(|e| Refusal::bad_request(format!("query parameter `filters` is not a filter object: {e}")))?;
        for (key, values) in parsed {
            let set = match values {
                Values::Set(set) => set,
                Values::List(list) => list.into_iter().map(|v| (v, true)).collect(),
            };
            filters.insert(key, set);
        }
    }
    filters.entry("label".into()).or_default().insert(format!("{SANDBOX_LABEL}={uid}"), true);
    query.set("filters", serde_json::to_string(&filters).expect("filters serialise"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filtered(raw: Option<&str>) -> Result<serde_json::Value, Refusal> {
        let mut query = Query::parse(raw)?;
        add_label(&mut query, "u1")?;
        Ok(serde_json::from_str(query.get("filters").unwrap()).unwrap())
    }

    #[test]
    fn the_label_is_added_in_either_form() {
        assert_eq!(filtered(Some("all=1")).unwrap(), serde_json::json!({"label": {"dockyard.dev/sandbox=u1": true}}));
        let legacy = filtered(Some(r#"filters={"label":["a=b"],"status":["running"]}"#)).unwrap();
        assert_eq!(
            legacy,
            serde_json::json!({"label": {"a=b": true, "dockyard.dev/sandbox=u1": true}, "status": {"running": true}})
        );
        let set = filtered(Some(r#"filters={"label":{"a=b":true}}"#)).unwrap();
        assert_eq!(set["label"]["dockyard.dev/sandbox=u1"], true);
        assert_eq!(filtered(Some("filters=notjson")).unwrap_err().status, http::StatusCode::BAD_REQUEST);
        assert_eq!(filtered(Some(r#"filters={"label":"x"}"#)).unwrap_err().status, http::StatusCode::BAD_REQUEST);
    }
}
