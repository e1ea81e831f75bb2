//! The API server's refusals of a sandbox's Pod, sorted into the kinds a user
//! acts on differently. Pure: the API server's status answer in, a reason and
//! its message (verbatim) out.

use kube::core::Status;

/// Why the API server would not create a sandbox's Pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodRefusal {
    /// `PodSecurity`, `PodForbidden`, `QuotaExceeded`, `AdmissionDenied` or `InvalidPod`:
    /// the `reason` of the Sandbox's `Ready=False` condition and of its event.
    pub reason: &'static str,
    /// The API server's message, verbatim.
    pub message: String,
}

/// Sorts an API server error answer to a Pod create; `None` for errors that
/// are not about the Pod (unavailable, timeouts, conflicts), which are retried
/// as failures of the controller's own.
pub fn classify(error: &Status) -> Option<PodRefusal> {
    let message = &error.message;
    let reason = if message.contains("admission webhook") && message.contains("denied the request")
        || message.contains("ValidatingAdmissionPolicy")
    {
        "AdmissionDenied"
    } else if error.code == 403 && (message.contains("exceeded quota") || message.contains("failed quota")) {
        "QuotaExceeded"
    } else if error.code == 403 && message.contains("violates PodSecurity") {
        "PodSecurity"
    } else if error.code == 403 {
        // LimitRanger's maximums, and any other admission plugin that forbids it.
        "PodForbidden"
    } else if error.code == 422 || error.reason == "Invalid" || (error.code == 400 && error.reason == "BadRequest") {
        "InvalidPod"
    } else {
        return None;
    };
    Some(PodRefusal { reason, message: message.clone() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(code: u16, reason: &str, message: &str) -> Status {
        Status::failure(message, reason).with_code(code)
    }

    #[test]
    fn each_refusal_kind_is_named_and_its_message_kept() {
        // The API server's own words (v1.36), as the e2e tests see them.
        for (error, reason) in [
            (
                answer(
                    403,
                    "Forbidden",
                    r#"pods "sbx-a" is forbidden: violates PodSecurity "baseline:latest": non-default capabilities (container "dind" must not include "NET_ADMIN", "SYS_ADMIN" in securityContext.capabilities.add)"#,
                ),
                "PodSecurity",
            ),
            (
                answer(
                    403,
                    "Forbidden",
                    r#"pods "sbx-c" is forbidden: maximum memory usage per Container is 1Gi, but limit is 2Gi"#,
                ),
                "PodForbidden",
            ),
            (
                answer(
                    403,
                    "Forbidden",
                    r#"pods "sbx-b" is forbidden: exceeded quota: pods, requested: pods=1, used: pods=1, limited: pods=1"#,
                ),
                "QuotaExceeded",
            ),
            (
                answer(
                    403,
                    "Forbidden",
                    r#"pods "sbx-b" is forbidden: failed quota: compute: must specify limits.cpu for: workload"#,
                ),
                "QuotaExceeded",
            ),
            (
                answer(
                    400,
                    "BadRequest",
                    r#"admission webhook "deny.example.com" denied the request: sandboxes need a cost-center label"#,
                ),
                "AdmissionDenied",
            ),
            (
                answer(
                    422,
                    "Invalid",
                    r#"pods "sbx-c" is forbidden: ValidatingAdmissionPolicy 'no-dind' with binding 'no-dind' denied request: no DinD here"#,
                ),
                "AdmissionDenied",
            ),
            (
                answer(
                    422,
                    "Invalid",
                    r#"Pod "sbx-d" is invalid: spec.containers[0].env[0].name: Invalid value: "1 bad=name": a valid environment variable name"#,
                ),
                "InvalidPod",
            ),
        ] {
            let refusal = classify(&error).unwrap();
            assert_eq!(refusal.reason, reason, "{}", error.message);
            assert_eq!(refusal.message, error.message, "verbatim");
        }
    }

    #[test]
    fn errors_that_are_not_about_the_pod_are_not_refusals() {
        for (code, reason) in [(409, "Conflict"), (500, "InternalError"), (503, "ServiceUnavailable"), (504, "Timeout")]
        {
            assert_eq!(classify(&answer(code, reason, "try again")), None, "{code}");
        }
    }
}
