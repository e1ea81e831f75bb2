//! Leader election through a `coordination.k8s.io` Lease, so that with more
//! than one replica only one writes. Optimistic concurrency (resourceVersion)
//! makes taking over an expired lease safe.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};

pub struct LeaderElection {
    api: Api<Lease>,
    name: String,
    identity: String,
    pub lease_duration: Duration,
}

impl LeaderElection {
    pub fn new(client: Client, namespace: &str, name: &str, identity: &str, lease_duration: Duration) -> Self {
        Self { api: Api::namespaced(client, namespace), name: name.into(), identity: identity.into(), lease_duration }
    }

    /// Takes or renews the lease; true while this instance holds it.
    pub async fn try_acquire_or_renew(&self) -> Result<bool, kube::Error> {
        let now = Timestamp::now();
        let spec = |transitions: i32, acquired: Option<MicroTime>| LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(self.lease_duration.as_secs() as i32),
            acquire_time: acquired.or(Some(MicroTime(now))),
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        };
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta { name: Some(self.name.clone()), ..ObjectMeta::default() },
                spec: Some(spec(0, None)),
            };
            return conflict_is_false(self.api.create(&PostParams::default(), &lease).await);
        };
        let current = lease.spec.clone().unwrap_or_default();
        let holder = current.holder_identity.as_deref();
        let transitions = current.lease_transitions.unwrap_or(0);
        let new_spec = if holder == Some(self.identity.as_str()) {
            spec(transitions, current.acquire_time.clone())
        } else {
            let duration = Duration::from_secs(current.lease_duration_seconds.unwrap_or(15).max(1) as u64);
            let expired = current
                .renew_time
                .as_ref()
                .is_none_or(|t| Duration::try_from(now.duration_since(t.0)).is_ok_and(|elapsed| elapsed > duration));
            if holder.is_some() && !expired {
                return Ok(false);
            }
            spec(transitions + 1, None)
        };
        lease.spec = Some(new_spec);
        conflict_is_false(self.api.replace(&self.name, &PostParams::default(), &lease).await)
    }
}

/// A write that lost a race (409) means someone else holds the lease.
fn conflict_is_false(result: Result<Lease, kube::Error>) -> Result<bool, kube::Error> {
    match result {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}
