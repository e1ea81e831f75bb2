//! The Sandbox's status, computed from what the controller observed. Pure:
//! the same observation always gives the same status, and conditions keep
//! their `lastTransitionTime` while their status does not change.

use std::time::Duration;

use dockyard_api::labels::FIELD_MANAGER;
use dockyard_api::policy::Refusal;
use dockyard_api::render::{docker_endpoint, names};
use dockyard_api::v1alpha1::{DockerMode, DockerStatus, PodFailure, SandboxPhase, condition};
use dockyard_api::{Sandbox, SandboxStatus};
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::{Api, Resource};
use serde_json::json;

use crate::pod_refusal::PodRefusal;

/// What the controller found for a Sandbox.
#[derive(Debug)]
pub enum Observation<'a> {
    /// Its class refused it.
    Refused(&'a Refusal),
    /// `spec.suspended`: no Pod.
    Suspended,
    /// `spec.shutdownTime` has passed: no Pod.
    Expired,
    /// The existing claim it names does not exist.
    ClaimMissing(&'a str),
    /// The API server refused to create its Pod.
    PodRefused(&'a PodRefusal),
    /// Its Pod failed and was deleted; a new one comes after a backoff (the message says when).
    PodFailed(&'a PodFailure, &'a str),
    /// Its Pod as last seen (None: being created or replaced), and how the
    /// running Pod differs from what the controller would make now.
    Running(Option<&'a Pod>, Drift<'a>),
}

/// How a running Pod differs from what its Sandbox would get now. Neither
/// replaces it: only the user's change to the Sandbox does.
#[derive(Clone, Copy, Debug, Default)]
pub struct Drift<'a> {
    /// Dockyard's images or defaults, or the class, changed since the Pod was
    /// made: the next Pod gets them.
    pub update_pending: bool,
    /// The Sandbox is no longer admitted (its class was deleted or tightened,
    /// or the user's latest change is refused): the Pod runs on, no new one starts.
    pub refusal: Option<&'a Refusal>,
    /// A claimed warm Pod of a brokered host-socket pool whose socket is not
    /// yet the Sandbox's (the node agent could not bind it): why.
    pub unbound: Option<&'a str>,
}

impl Drift<'_> {
    /// A Pod that is what the Sandbox gets now.
    pub const NONE: Drift<'static> = Drift { update_pending: false, refusal: None, unbound: None };
}

/// How soon a claimed warm Pod's socket is bound again after the agent failed to.
const BIND_RETRY: Duration = Duration::from_secs(5);

/// Whether the sandbox's Docker daemon answers, and why (not).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DockerReadiness {
    pub ready: bool,
    pub reason: &'static str,
    pub message: String,
    /// When to look again if nothing else changes (the readiness deadline).
    pub recheck_after: Option<Duration>,
}

fn container_status<'a>(statuses: Option<&'a Vec<ContainerStatus>>, name: &str) -> Option<&'a ContainerStatus> {
    statuses.into_iter().flatten().find(|s| s.name == name)
}

/// Time since the Pod started, by its status (`startTime`).
pub fn pod_age(pod: &Pod, now: Timestamp) -> Option<Duration> {
    let started = pod.status.as_ref()?.start_time.as_ref()?.0;
    now.duration_since(started).try_into().ok()
}

/// Docker readiness of a Pod in `mode` (None for mode `none`).
pub fn docker_readiness(mode: DockerMode, timeout: Duration, pod: &Pod, now: Timestamp) -> Option<DockerReadiness> {
    let status = pod.status.as_ref();
    let (answering, what) = match mode {
        DockerMode::None => return None,
        // The sidecar's startup probe passes only once dockerd answers.
        DockerMode::Dind => {
            let sidecar = container_status(status.and_then(|s| s.init_container_statuses.as_ref()), names::DIND);
            (sidecar.is_some_and(|s| s.started == Some(true)), "dockerd in the dind sidecar")
        }
        // The workload's readiness probe pings the socket it was given.
        DockerMode::HostSocket => {
            let workload = container_status(status.and_then(|s| s.container_statuses.as_ref()), names::WORKLOAD);
            (workload.is_some_and(|s| s.ready), "the node's Docker socket")
        }
    };
    if answering {
        return Some(DockerReadiness {
            ready: true,
            reason: "DockerAnswering",
            message: format!("{what} answers"),
            recheck_after: None,
        });
    }
    let age = pod_age(pod, now);
    let secs = timeout.as_secs();
    Some(match age {
        Some(age) if age >= timeout => {
            let restarts = container_status(status.and_then(|s| s.init_container_statuses.as_ref()), names::DIND)
                .map(|s| s.restart_count)
                .unwrap_or_default();
            let restarts = if restarts > 0 { format!(" (sidecar restarted {restarts} times)") } else { String::new() };
            DockerReadiness {
                ready: false,
                reason: "DockerNotReady",
                message: format!("{what} did not answer within {secs}s of the Pod starting{restarts}"),
                recheck_after: None,
            }
        }
        _ => DockerReadiness {
            ready: false,
            reason: "DockerStarting",
            message: format!("waiting up to {secs}s for {what} to answer"),
            recheck_after: Some(timeout.saturating_sub(age.unwrap_or_default()) + Duration::from_secs(1)),
        },
    })
}

pub fn pod_condition(pod: &Pod, type_: &str) -> Option<bool> {
    let conditions = pod.status.as_ref()?.conditions.as_ref()?;
    conditions.iter().find(|c| c.type_ == type_).map(|c| c.status == "True")
}

/// A condition builder that keeps `lastTransitionTime` when the status is unchanged.
pub struct Conditions<'a> {
    previous: &'a [Condition],
    generation: Option<i64>,
    now: Timestamp,
    pub out: Vec<Condition>,
}

impl<'a> Conditions<'a> {
    pub fn new(previous: &'a [Condition], generation: Option<i64>, now: Timestamp) -> Self {
        Conditions { previous, generation, now, out: Vec::new() }
    }

    pub fn set(&mut self, type_: &str, status: Option<bool>, reason: &str, message: impl Into<String>) {
        let status = match status {
            Some(true) => "True",
            Some(false) => "False",
            None => "Unknown",
        };
        let last_transition_time = self
            .previous
            .iter()
            .find(|c| c.type_ == type_ && c.status == status)
            .map(|c| c.last_transition_time.clone())
            .unwrap_or(Time(self.now));
        self.out.push(Condition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message: message.into(),
            observed_generation: self.generation,
            last_transition_time,
        });
    }
}

/// The status of `sandbox` given `observation`, and when to look again.
pub fn sandbox_status(
    sandbox: &Sandbox,
    observation: &Observation<'_>,
    now: Timestamp,
) -> (SandboxStatus, Option<Duration>) {
    let previous = sandbox.status.as_ref().map(|s| s.conditions.as_slice()).unwrap_or_default();
    let generation = sandbox.metadata.generation;
    let mut c = Conditions { previous, generation, now, out: Vec::new() };
    let mode = sandbox.spec.docker.mode;
    // Kept whatever is observed: the nodes to clean up, the last failure.
    let before = sandbox.status.as_ref();
    let mut status = SandboxStatus {
        observed_generation: generation,
        nodes: before.map(|s| s.nodes.clone()).unwrap_or_default(),
        last_pod_failure: before.and_then(|s| s.last_pod_failure.clone()),
        network: before.and_then(|s| s.network.clone()),
        warm_start: before.and_then(|s| s.warm_start.clone()),
        ..SandboxStatus::default()
    };
    let mut recheck = None;

    match observation {
        Observation::Refused(refusal) => {
            c.set(condition::ADMITTED, Some(false), refusal.reason.as_str(), &refusal.message);
            if refusal.reason.is_pod_security() {
                c.set(condition::POD_SECURITY, Some(false), refusal.reason.as_str(), &refusal.message);
            }
            c.set(condition::READY, Some(false), "NotAdmitted", "the Sandbox was not admitted; see Admitted");
            status.phase = Some(SandboxPhase::Failed);
        }
        Observation::Suspended | Observation::Expired => {
            // Reached only once every node's agent has cleaned up.
            status.nodes.clear();
            let workspace = sandbox.spec.workspace_without_pod();
            let (phase, reason, message) = match observation {
                Observation::Suspended => {
                    (SandboxPhase::Suspended, "Suspended", format!("spec.suspended is true: no Pod; {workspace}"))
                }
                _ => (SandboxPhase::Expired, "Expired", format!("spec.shutdownTime has passed: no Pod; {workspace}")),
            };
            c.set(condition::ADMITTED, Some(true), "Admitted", "admitted by its class");
            c.set(condition::POD_SCHEDULED, Some(false), reason, &message);
            c.set(condition::READY, Some(false), reason, message);
            status.phase = Some(phase);
        }
        Observation::ClaimMissing(claim) => {
            let message =
                format!("PersistentVolumeClaim {claim:?} (spec.workspace.persistentVolumeClaim) does not exist");
            c.set(condition::ADMITTED, Some(true), "Admitted", "admitted by its class");
            c.set(condition::POD_SCHEDULED, Some(false), "WorkspaceClaimNotFound", &message);
            c.set(condition::READY, Some(false), "WorkspaceClaimNotFound", message);
            status.phase = Some(SandboxPhase::Pending);
        }
        Observation::PodRefused(refusal) => {
            c.set(condition::ADMITTED, Some(true), "Admitted", "admitted by its class");
            if refusal.reason == "PodSecurity" {
                c.set(condition::POD_SECURITY, Some(false), "Violation", &refusal.message);
            }
            c.set(condition::POD_SCHEDULED, Some(false), refusal.reason, &refusal.message);
            c.set(condition::READY, Some(false), refusal.reason, &refusal.message);
            status.phase = Some(SandboxPhase::Pending);
        }
        Observation::PodFailed(failure, message) => {
            status.last_pod_failure = Some((*failure).clone());
            c.set(condition::ADMITTED, Some(true), "Admitted", "admitted by its class");
            c.set(condition::POD_SCHEDULED, Some(false), "PodFailed", *message);
            c.set(condition::READY, Some(false), "PodFailed", *message);
            status.phase = Some(SandboxPhase::Pending);
        }
        Observation::Running(pod, drift) => {
            match drift.refusal {
                None => c.set(condition::ADMITTED, Some(true), "Admitted", "admitted by its class"),
                Some(refusal) if refusal.reason.is_pod_security() => {
                    let message =
                        format!("{}; its running Pod is kept, but no new one would be admitted", refusal.message);
                    c.set(condition::ADMITTED, Some(false), refusal.reason.as_str(), &message);
                    c.set(condition::POD_SECURITY, Some(false), refusal.reason.as_str(), message);
                }
                Some(refusal) => c.set(
                    condition::ADMITTED,
                    Some(false),
                    refusal.reason.as_str(),
                    format!(
                        "{}; its running Pod is kept and no new one starts while this holds (suspend or delete \
                         the Sandbox to stop it)",
                        refusal.message
                    ),
                ),
            }
            let Some(pod) = pod else {
                c.set(condition::POD_SCHEDULED, Some(false), "PodCreating", "creating the Pod");
                c.set(condition::READY, Some(false), "PodCreating", "creating the Pod");
                status.phase = Some(SandboxPhase::Pending);
                return (with_conditions(status, c), None);
            };
            let pod_status = pod.status.as_ref();
            status.pod_name = pod.metadata.name.clone();
            status.node_name = pod.spec.as_ref().and_then(|s| s.node_name.clone());
            // A brokered sandbox leaves containers on its node's daemon.
            if mode == DockerMode::HostSocket
                && let Some(node) = &status.node_name
                && !status.nodes.contains(node)
            {
                status.nodes.push(node.clone());
            }
            status.pod_ip = pod_status.and_then(|s| s.pod_ip.clone());
            status.docker =
                docker_endpoint(mode).map(|endpoint| DockerStatus { mode: Some(mode), endpoint: Some(endpoint) });
            let phase = pod_status.and_then(|s| s.phase.as_deref()).unwrap_or("Pending");

            let scheduled = status.node_name.is_some();
            match &status.node_name {
                Some(node) => c.set(condition::POD_SCHEDULED, Some(true), "Scheduled", format!("on node {node}")),
                None => {
                    let (reason, message) = unscheduled(pod);
                    c.set(condition::POD_SCHEDULED, Some(false), reason, message)
                }
            }
            let timeout = Duration::from_secs(sandbox.spec.docker_readiness_timeout_seconds().max(1) as u64);
            let docker = match drift.unbound {
                Some(why) if scheduled => Some(DockerReadiness {
                    ready: false,
                    reason: "DockerNotBound",
                    message: why.to_string(),
                    recheck_after: Some(BIND_RETRY),
                }),
                _ if scheduled => docker_readiness(mode, timeout, pod, now),
                _ => None,
            };
            if let Some(d) = &docker {
                c.set(condition::DOCKER_READY, Some(d.ready), d.reason, &d.message);
                recheck = d.recheck_after;
            }
            let docker_ok = docker.as_ref().is_none_or(|d| d.ready);
            let pod_ready = pod_condition(pod, "Ready") == Some(true);
            status.phase = Some(match phase {
                "Succeeded" => SandboxPhase::Completed,
                "Failed" => SandboxPhase::Failed,
                _ if pod_ready && docker_ok => SandboxPhase::Ready,
                _ if scheduled => SandboxPhase::Starting,
                _ => SandboxPhase::Pending,
            });
            match status.phase {
                Some(SandboxPhase::Ready) => c.set(condition::READY, Some(true), "Ready", "the workload runs"),
                Some(SandboxPhase::Completed) => {
                    c.set(condition::READY, Some(false), "Completed", "the workload's command finished")
                }
                Some(SandboxPhase::Failed) => c.set(condition::READY, Some(false), "PodFailed", failed_message(pod)),
                // What keeps a container from running, in the kubelet's words.
                _ if let Some((reason, message)) = container_problem(pod) => {
                    c.set(condition::READY, Some(false), &reason, message)
                }
                _ if !scheduled => {
                    let (reason, message) = unscheduled(pod);
                    c.set(condition::READY, Some(false), reason, message)
                }
                _ if !docker_ok => {
                    let d = docker.as_ref().expect("checked");
                    c.set(condition::READY, Some(false), d.reason, &d.message)
                }
                _ => c.set(condition::READY, Some(false), "Starting", "the Pod is starting"),
            }
            if drift.update_pending {
                c.set(
                    condition::UP_TO_DATE,
                    Some(false),
                    "UpdatePending",
                    "Dockyard's images or defaults, or the class, changed since the Pod was made: the running Pod \
                     keeps its spec, and the Sandbox's next Pod (after a suspend and resume, a failure, or a change \
                     to the Sandbox) gets them",
                );
            } else {
                c.set(condition::UP_TO_DATE, Some(true), "UpToDate", "the Pod is what the Sandbox gets now");
            }
        }
    }
    (with_conditions(status, c), recheck)
}

fn with_conditions(mut status: SandboxStatus, c: Conditions<'_>) -> SandboxStatus {
    status.conditions = c.out;
    status
}

/// Waiting reasons that are only a container's normal way to its start.
const STARTING: [&str; 2] = ["ContainerCreating", "PodInitializing"];

/// The first container of `pod` that the kubelet cannot run, as its reason
/// (`ImagePullBackOff`, `ErrImagePull`, `CrashLoopBackOff`,
/// `CreateContainerConfigError`, …) and a message naming the container, with
/// how it last ended when it crashed.
pub fn container_problem(pod: &Pod) -> Option<(String, String)> {
    let status = pod.status.as_ref()?;
    let statuses = status.init_container_statuses.iter().flatten().chain(status.container_statuses.iter().flatten());
    statuses.into_iter().find_map(|container| {
        let waiting = container.state.as_ref()?.waiting.as_ref()?;
        let reason = waiting.reason.as_deref().filter(|r| !STARTING.contains(r))?;
        let mut message = format!("container {}: {}", container.name, waiting.message.as_deref().unwrap_or(reason));
        if let Some(ended) = container.last_state.as_ref().and_then(|s| s.terminated.as_ref()) {
            // Its last words (the termination message, or the end of its log):
            // the last line says why, e.g. a preload's failed pull.
            let last_words = ended.message.as_deref().and_then(last_words);
            message.push_str(&format!(
                " (last run ended: exit code {}{}{}; restarted {} times)",
                ended.exit_code,
                ended.reason.as_deref().map(|r| format!(", {r}")).unwrap_or_default(),
                last_words.map(|l| format!(": {l}")).unwrap_or_default(),
                container.restart_count
            ));
        }
        Some((reason.to_string(), message))
    })
}

/// The last line of a container's termination message (its own, or the end
/// of its log), which says why it stopped; at most 512 characters.
pub fn last_words(message: &str) -> Option<String> {
    let line = message.lines().rev().map(str::trim).find(|l| !l.is_empty())?;
    Some(line.chars().take(512).collect())
}

/// Why a Pod has no node: the scheduler's words when it tried
/// (`Unschedulable`), else `Scheduling` (it has not yet).
fn unscheduled(pod: &Pod) -> (&'static str, String) {
    let tried = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "PodScheduled" && c.status == "False"));
    match tried {
        Some(c) => ("Unschedulable", c.message.clone().unwrap_or_else(|| "the scheduler found no node".into())),
        None => ("Scheduling", "waiting for the scheduler".into()),
    }
}

fn failed_message(pod: &Pod) -> String {
    let failure = pod_failure(pod, Timestamp::UNIX_EPOCH);
    if failure.reason.is_empty() { failure.message } else { format!("{}: {}", failure.reason, failure.message) }
}

/// Why a Pod failed: the kubelet's reason and message for the Pod (`Evicted`,
/// `DeadlineExceeded` …) or, when it gives none because a container ended on
/// its own, that container's: `Error`, `OOMKilled`, `StartError`, with its
/// exit code and the end of its output when the kubelet kept it.
pub fn pod_failure(pod: &Pod, now: Timestamp) -> PodFailure {
    let status = pod.status.as_ref();
    // Who ended the Pod from outside says so in a DisruptionTarget condition
    // (the Pod garbage collector, preemption, an eviction, a taint).
    let disruption = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "DisruptionTarget" && c.status == "True"));
    let pod_reason = status
        .and_then(|s| s.reason.clone())
        .filter(|r| !r.is_empty())
        .or_else(|| disruption.and_then(|c| c.reason.clone()));
    let pod_message = status
        .and_then(|s| s.message.clone())
        .filter(|m| !m.is_empty())
        .or_else(|| disruption.and_then(|c| c.message.clone()));
    let ended = status
        .into_iter()
        .flat_map(|s| s.init_container_statuses.iter().flatten().chain(s.container_statuses.iter().flatten()))
        .find_map(|c| Some((c.name.as_str(), c.state.as_ref()?.terminated.as_ref().filter(|t| t.exit_code != 0)?)));
    let (reason, message) = match (pod_reason, pod_message, ended) {
        (reason, Some(message), _) => (reason.unwrap_or_default(), message),
        (reason, None, Some((name, ended))) => {
            let mut message = format!("container {name} exited with code {}", ended.exit_code);
            if let Some(output) = ended.message.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
                message.push_str(&format!(": {output}"));
            }
            (reason.or_else(|| ended.reason.clone()).unwrap_or_default(), message)
        }
        (reason, None, None) => (reason.unwrap_or_default(), "the Pod failed; the kubelet gave no reason".into()),
    };
    PodFailure { time: Time(now), reason, message }
}

/// Writes `status` as sandbox `name`'s whole status: a server-side apply as
/// the controller's field manager, forced (the controller alone writes it).
/// The benches' floors write it the same way.
pub async fn apply_status(api: &Api<Sandbox>, name: &str, status: &SandboxStatus) -> kube::Result<Sandbox> {
    let patch = json!({"apiVersion": Sandbox::api_version(&()), "kind": Sandbox::kind(&()), "status": status});
    api.patch_status(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch)).await
}

/// Whether two statuses differ in anything but timestamps (to skip no-op writes).
pub fn status_changed(old: Option<&SandboxStatus>, new: &SandboxStatus) -> bool {
    let Some(old) = old else { return true };
    let strip = |s: &SandboxStatus| {
        let mut s = s.clone();
        for c in &mut s.conditions {
            c.last_transition_time = Time(Timestamp::UNIX_EPOCH);
        }
        s
    };
    strip(old) != strip(new)
}

/// How long a new sandbox's progress (its Pod made, scheduled, starting)
/// waits before it is written, by default (`--first-progress-after-seconds`):
/// a Pod Ready within it gets one status write, Ready, with every condition; a
/// slower one shows its progress then. Long enough for a busy cluster's starts
/// (at 1,000 sandboxes on a loaded control plane a Pod took 10–20 s), short
/// enough that a start that takes longer shows where it is.
pub const FIRST_PROGRESS_AFTER: Duration = Duration::from_secs(30);

/// Reasons of `Ready=False` that say only that the sandbox is on its way.
const PROGRESS: [&str; 4] = ["PodCreating", "Scheduling", "Starting", "DockerStarting"];

/// How long to hold back `new`, the first status of a sandbox whose Pod was
/// made `pod_age` ago, when it only says that the sandbox is on its way
/// and the Pod is younger than `after` (`None`: write it now). Anything a user must act on (a refusal, a
/// scheduling or container problem, a failure) and every later status is
/// written at once: only the first write is coalesced with the next.
pub fn hold_first_progress(
    old: Option<&SandboxStatus>,
    new: &SandboxStatus,
    pod_age: Duration,
    after: Duration,
) -> Option<Duration> {
    let ready = new.conditions.iter().find(|c| c.type_ == condition::READY);
    let progress = ready.is_some_and(|c| c.status == "False" && PROGRESS.contains(&c.reason.as_str()))
        && matches!(new.phase, Some(SandboxPhase::Pending | SandboxPhase::Starting));
    (old.is_none() && progress && pod_age < after).then(|| after - pod_age)
}

#[cfg(test)]
mod tests {
    use dockyard_api::policy::RefusalReason;
    use serde_json::json;

    use super::*;

    fn sandbox(spec: serde_json::Value) -> Sandbox {
        serde_json::from_value(json!({
            "apiVersion": "dockyard.dev/v1alpha1", "kind": "Sandbox",
            "metadata": {"name": "dev", "namespace": "ns", "uid": "u", "generation": 3}, "spec": spec,
        }))
        .unwrap()
    }

    fn pod(status: serde_json::Value, node: Option<&str>) -> Pod {
        serde_json::from_value(
            json!({"metadata": {"name": "sbx-dev"}, "spec": {"containers": [], "nodeName": node}, "status": status}),
        )
        .unwrap()
    }

    fn now() -> Timestamp {
        "2026-11-23T12:00:30Z".parse().unwrap()
    }

    fn cond<'a>(s: &'a SandboxStatus, t: &str) -> &'a Condition {
        s.conditions.iter().find(|c| c.type_ == t).unwrap_or_else(|| panic!("no {t} condition"))
    }

    #[test]
    fn a_container_the_kubelet_cannot_run_is_named_and_a_normal_start_is_not() {
        let waiting = |reason: &str| {
            pod(
                json!({"phase": "Pending", "initContainerStatuses": [
                    {"name": "dind", "ready": false, "restartCount": 0, "image": "d", "imageID": "",
                     "state": {"waiting": {"reason": reason, "message": "m"}}}]}),
                Some("n1"),
            )
        };
        assert_eq!(container_problem(&waiting("PodInitializing")), None);
        assert_eq!(container_problem(&waiting("ContainerCreating")), None);
        assert_eq!(
            container_problem(&waiting("CreateContainerError")),
            Some(("CreateContainerError".into(), "container dind: m".into()))
        );
        let sbx = sandbox(json!({"image": "x"}));
        let (status, _) =
            sandbox_status(&sbx, &Observation::Running(Some(&waiting("ErrImagePull")), Drift::NONE), now());
        assert_eq!(
            (cond(&status, "Ready").reason.as_str(), cond(&status, "Ready").message.as_str()),
            ("ErrImagePull", "container dind: m")
        );
    }

    #[test]
    fn a_failed_pod_says_why_in_the_kubelets_words_or_its_containers() {
        let evicted = pod(
            json!({"phase": "Failed", "reason": "Evicted",
                   "message": "Usage of EmptyDir volume \"workspace\" exceeds the limit \"1Mi\"."}),
            Some("n1"),
        );
        let failure = pod_failure(&evicted, now());
        assert_eq!(failure.reason, "Evicted");
        assert_eq!(failure.message, "Usage of EmptyDir volume \"workspace\" exceeds the limit \"1Mi\".");
        // The workload ended on its own: no reason on the Pod, the container's instead.
        let exited = pod(
            json!({"phase": "Failed", "containerStatuses": [
                {"name": "workload", "ready": false, "restartCount": 0, "image": "w", "imageID": "",
                 "state": {"terminated": {"exitCode": 3, "reason": "Error", "message": "about to fail\n"}}}]}),
            Some("n1"),
        );
        let failure = pod_failure(&exited, now());
        assert_eq!(failure.reason, "Error");
        assert_eq!(failure.message, "container workload exited with code 3: about to fail");
        assert_eq!(failed_message(&exited), "Error: container workload exited with code 3: about to fail");
        let collected = pod(
            json!({"phase": "Failed", "conditions": [{"type": "DisruptionTarget", "status": "True",
                   "reason": "DeletionByPodGC", "message": "PodGC: node no longer exists"}]}),
            Some("n1"),
        );
        let failure = pod_failure(&collected, now());
        assert_eq!(
            (failure.reason.as_str(), failure.message.as_str()),
            ("DeletionByPodGC", "PodGC: node no longer exists")
        );
        let silent = pod(json!({"phase": "Failed"}), Some("n1"));
        assert_eq!(pod_failure(&silent, now()).message, "the Pod failed; the kubelet gave no reason");
    }

    #[test]
    fn a_running_pod_that_drifted_keeps_running_and_says_why() {
        let running = pod(json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}), Some("n1"));
        let sbx = sandbox(json!({"image": "x", "docker": {"mode": "none"}}));
        let (s, _) = sandbox_status(&sbx, &Observation::Running(Some(&running), Drift::NONE), now());
        assert_eq!(cond(&s, "UpToDate").status, "True");
        let refusal =
            Refusal { reason: RefusalReason::ClassNotFound, message: "SandboxClass \"gone\" does not exist".into() };
        let drift = Drift { update_pending: true, refusal: Some(&refusal), unbound: None };
        let (s, _) = sandbox_status(&sbx, &Observation::Running(Some(&running), drift), now());
        assert_eq!(s.phase, Some(SandboxPhase::Ready), "it runs on");
        let admitted = cond(&s, "Admitted");
        assert_eq!((admitted.status.as_str(), admitted.reason.as_str()), ("False", "ClassNotFound"));
        assert!(admitted.message.starts_with("SandboxClass \"gone\" does not exist; its running Pod is kept"));
        let up_to_date = cond(&s, "UpToDate");
        assert_eq!((up_to_date.status.as_str(), up_to_date.reason.as_str()), ("False", "UpdatePending"));
    }

    #[test]
    fn a_refusal_names_the_rule() {
        let refusal = Refusal { reason: RefusalReason::DockerModeNotAllowed, message: "no dind here".into() };
        let (s, _) = sandbox_status(&sandbox(json!({"image": "x"})), &Observation::Refused(&refusal), now());
        assert_eq!(s.phase, Some(SandboxPhase::Failed));
        let admitted = cond(&s, "Admitted");
        assert_eq!((admitted.status.as_str(), admitted.reason.as_str()), ("False", "DockerModeNotAllowed"));
        assert_eq!(admitted.message, "no dind here");
        assert_eq!(admitted.observed_generation, Some(3));
        assert_eq!(s.observed_generation, Some(3));
    }

    #[test]
    fn a_ready_dind_pod_makes_a_ready_sandbox() {
        let p = pod(
            json!({
                "phase": "Running", "podIP": "10.0.0.7", "startTime": "2026-11-23T12:00:00Z",
                "conditions": [{"type": "Ready", "status": "True"}, {"type": "PodScheduled", "status": "True"}],
                "initContainerStatuses": [{"name": "dind", "started": true, "ready": true, "restartCount": 0, "image": "d", "imageID": ""}],
            }),
            Some("node-1"),
        );
        let (s, recheck) =
            sandbox_status(&sandbox(json!({"image": "x"})), &Observation::Running(Some(&p), Drift::NONE), now());
        assert_eq!(s.phase, Some(SandboxPhase::Ready));
        for t in ["Admitted", "PodScheduled", "DockerReady", "Ready"] {
            assert_eq!(cond(&s, t).status, "True", "{t}");
        }
        assert_eq!((s.node_name.as_deref(), s.pod_ip.as_deref()), (Some("node-1"), Some("10.0.0.7")));
        assert_eq!(s.docker.unwrap().endpoint.as_deref(), Some("unix:///var/run/dockyard/docker.sock"));
        assert_eq!(recheck, None);
    }

    #[test]
    fn docker_not_answering_within_the_timeout_is_a_reason_not_an_endless_wait() {
        let status = |started: &str| {
            json!({
                "phase": "Pending", "startTime": started,
                "initContainerStatuses": [{"name": "dind", "started": false, "ready": false, "restartCount": 2, "image": "d", "imageID": ""}],
            })
        };
        let sbx = sandbox(json!({"image": "x", "docker": {"dind": {"readinessTimeoutSeconds": 20}}}));
        // 10 s in: still waiting, look again when the 20 s are up.
        let young = pod(status("2026-11-23T12:00:20Z"), Some("n"));
        let (s, recheck) = sandbox_status(&sbx, &Observation::Running(Some(&young), Drift::NONE), now());
        assert_eq!(cond(&s, "DockerReady").reason, "DockerStarting");
        assert_eq!(s.phase, Some(SandboxPhase::Starting));
        assert_eq!(recheck, Some(Duration::from_secs(11)));
        // 30 s in: not ready, with the reason.
        let old = pod(status("2026-11-23T12:00:00Z"), Some("n"));
        let (s, recheck) = sandbox_status(&sbx, &Observation::Running(Some(&old), Drift::NONE), now());
        let docker = cond(&s, "DockerReady");
        assert_eq!((docker.status.as_str(), docker.reason.as_str()), ("False", "DockerNotReady"));
        assert!(
            docker.message.contains("within 20s") && docker.message.contains("restarted 2 times"),
            "{}",
            docker.message
        );
        assert_eq!(cond(&s, "Ready").reason, "DockerNotReady");
        assert_eq!(recheck, None);
    }

    #[test]
    fn unscheduled_suspended_expired_completed_and_claim_missing() {
        let sbx = sandbox(json!({"image": "x", "docker": {"mode": "none"}}));
        let pending = pod(
            json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "message": "0/1 nodes are available"}]}),
            None,
        );
        let (s, _) = sandbox_status(&sbx, &Observation::Running(Some(&pending), Drift::NONE), now());
        assert_eq!(s.phase, Some(SandboxPhase::Pending));
        assert_eq!(cond(&s, "PodScheduled").message, "0/1 nodes are available");
        assert!(!s.conditions.iter().any(|c| c.type_ == "DockerReady"), "no Docker in mode none");

        let (s, _) = sandbox_status(&sbx, &Observation::Suspended, now());
        assert_eq!((s.phase, cond(&s, "Ready").reason.as_str()), (Some(SandboxPhase::Suspended), "Suspended"));
        let (s, _) = sandbox_status(&sbx, &Observation::Expired, now());
        assert_eq!(s.phase, Some(SandboxPhase::Expired));
        let done = pod(json!({"phase": "Succeeded"}), Some("n"));
        assert_eq!(
            sandbox_status(&sbx, &Observation::Running(Some(&done), Drift::NONE), now()).0.phase,
            Some(SandboxPhase::Completed)
        );
        let (s, _) = sandbox_status(&sbx, &Observation::ClaimMissing("home"), now());
        assert!(cond(&s, "Ready").message.contains("\"home\""));
        assert_eq!(cond(&s, "PodScheduled").reason, "WorkspaceClaimNotFound");
    }

    #[test]
    fn transition_times_are_kept_while_a_condition_holds() {
        let mut sbx = sandbox(json!({"image": "x", "docker": {"mode": "none"}}));
        let (first, _) = sandbox_status(&sbx, &Observation::Suspended, now());
        sbx.status = Some(first.clone());
        let later: Timestamp = "2026-11-23T13:00:00Z".parse().unwrap();
        let (second, _) = sandbox_status(&sbx, &Observation::Suspended, later);
        assert_eq!(cond(&second, "Ready").last_transition_time, cond(&first, "Ready").last_transition_time);
        assert!(!status_changed(Some(&first), &second));
        // Ready stays False (another reason): its time is kept; Admitted flips: its time moves.
        let refusal = Refusal { reason: RefusalReason::ClassNotFound, message: "gone".into() };
        let (third, _) = sandbox_status(&sbx, &Observation::Refused(&refusal), later);
        assert_eq!(cond(&third, "Ready").last_transition_time, cond(&first, "Ready").last_transition_time);
        assert_eq!(cond(&third, "Admitted").last_transition_time, Time(later));
        assert!(status_changed(Some(&first), &third));
    }

    #[test]
    fn only_a_new_sandboxs_first_progress_waits() {
        let s = sandbox(json!({"image": "x", "docker": {"mode": "none"}}));
        let now = Timestamp::now();
        let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "sbx-dev"}})).unwrap();
        let (scheduling, _) = sandbox_status(&s, &Observation::Running(Some(&pod), Drift::NONE), now);
        assert_eq!(cond(&scheduling, "Ready").reason, "Scheduling");
        let second = Duration::from_secs(1);
        assert_eq!(
            hold_first_progress(None, &scheduling, second, FIRST_PROGRESS_AFTER),
            Some(FIRST_PROGRESS_AFTER - second)
        );
        assert_eq!(
            hold_first_progress(None, &scheduling, FIRST_PROGRESS_AFTER, FIRST_PROGRESS_AFTER),
            None,
            "shown once the Pod is that old"
        );
        assert_eq!(
            hold_first_progress(Some(&scheduling), &scheduling, second, FIRST_PROGRESS_AFTER),
            None,
            "later statuses at once"
        );
        // The scheduler tried and found no node: a problem, at once.
        let unschedulable: Pod = serde_json::from_value(json!({"metadata": {"name": "sbx-dev"}, "status": {
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                            "message": "0/3 nodes are available"}]}}))
        .unwrap();
        let (problem, _) = sandbox_status(&s, &Observation::Running(Some(&unschedulable), Drift::NONE), now);
        assert_eq!(cond(&problem, "Ready").message, "0/3 nodes are available");
        assert_eq!(hold_first_progress(None, &problem, second, FIRST_PROGRESS_AFTER), None);
    }
}
