//! Matching of a `LabelSelector` against a set of labels, as the API server
//! does it (`matchLabels` and `matchExpressions` with In, NotIn, Exists,
//! DoesNotExist).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// A selector that cannot be evaluated.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("matchExpressions[{index}]: {problem}")]
pub struct InvalidSelector {
    pub index: usize,
    pub problem: String,
}

/// Whether `labels` match `selector`. An empty selector matches everything.
pub fn matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> Result<bool, InvalidSelector> {
    let match_labels = selector.match_labels.iter().flatten();
    if match_labels.into_iter().any(|(k, v)| labels.get(k) != Some(v)) {
        return Ok(false);
    }
    for (index, req) in selector.match_expressions.iter().flatten().enumerate() {
        let value = labels.get(&req.key);
        let values = req.values.as_deref().unwrap_or_default();
        let ok = match req.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => {
                return Err(InvalidSelector { index, problem: format!("operator {} needs values", req.operator) });
            }
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => !value.is_some_and(|v| values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            other => {
                return Err(InvalidSelector {
                    index,
                    problem: format!("unknown operator {other:?} (allowed: In, NotIn, Exists, DoesNotExist)"),
                });
            }
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn expr(key: &str, op: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: if values.is_empty() { None } else { Some(values.iter().map(|v| v.to_string()).collect()) },
        }
    }

    #[test]
    fn empty_selector_matches_everything() {
        assert_eq!(matches(&LabelSelector::default(), &labels(&[])), Ok(true));
    }

    #[test]
    fn match_labels_and_expressions() {
        let sel = LabelSelector {
            match_labels: Some(labels(&[("team", "ml")])),
            match_expressions: Some(vec![expr("tier", "In", &["dev", "ci"]), expr("locked", "DoesNotExist", &[])]),
        };
        assert_eq!(matches(&sel, &labels(&[("team", "ml"), ("tier", "dev")])), Ok(true));
        assert_eq!(matches(&sel, &labels(&[("team", "ml"), ("tier", "prod")])), Ok(false));
        assert_eq!(matches(&sel, &labels(&[("team", "web"), ("tier", "dev")])), Ok(false));
        assert_eq!(matches(&sel, &labels(&[("team", "ml"), ("tier", "ci"), ("locked", "")])), Ok(false));
        let not_in =
            LabelSelector { match_expressions: Some(vec![expr("tier", "NotIn", &["prod"])]), ..Default::default() };
        assert_eq!(matches(&not_in, &labels(&[])), Ok(true));
        assert_eq!(matches(&not_in, &labels(&[("tier", "prod")])), Ok(false));
        let exists = LabelSelector { match_expressions: Some(vec![expr("tier", "Exists", &[])]), ..Default::default() };
        assert_eq!(matches(&exists, &labels(&[("tier", "x")])), Ok(true));
    }

    #[test]
    fn bad_operators_are_errors() {
        let sel = LabelSelector { match_expressions: Some(vec![expr("a", "Like", &["x"])]), ..Default::default() };
        assert!(matches(&sel, &labels(&[])).unwrap_err().problem.contains("Like"));
        let sel = LabelSelector { match_expressions: Some(vec![expr("a", "In", &[])]), ..Default::default() };
        assert!(matches(&sel, &labels(&[])).is_err());
    }
}
