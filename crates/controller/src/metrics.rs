//! Prometheus metrics of the controller, served on `/metrics`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use dockyard_api::v1alpha1::SandboxPhase;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabels {
    pub phase: String,
}

pub struct Metrics {
    pub registry: Registry,
    reconciles: Counter,
    errors: Family<ErrorLabels, Counter>,
    duration: Histogram,
    sandboxes: Family<PhaseLabels, Gauge>,
    /// Last phase of every Sandbox, keyed by namespace/name, for the gauge.
    phases: Mutex<HashMap<String, SandboxPhase>>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("dockyard");
        let reconciles = Counter::default();
        let errors = Family::<ErrorLabels, Counter>::default();
        let duration = Histogram::new(exponential_buckets(0.001, 2.0, 14));
        let sandboxes = Family::<PhaseLabels, Gauge>::default();
        registry.register("reconciles", "Sandbox reconciliations", reconciles.clone());
        registry.register("reconcile_errors", "Failed reconciliations by reason", errors.clone());
        registry.register("reconcile_duration_seconds", "Duration of one reconciliation", duration.clone());
        registry.register("sandboxes", "Sandboxes by phase", sandboxes.clone());
        Self { registry, reconciles, errors, duration, sandboxes, phases: Mutex::default() }
    }
}

impl Metrics {
    pub fn reconciled(&self, took: Duration) {
        self.reconciles.inc();
        self.duration.observe(took.as_secs_f64());
    }

    pub fn failed(&self, reason: &str) {
        self.errors.get_or_create(&ErrorLabels { reason: reason.into() }).inc();
    }

    /// Records a Sandbox's phase (None: the Sandbox is gone).
    pub fn set_phase(&self, key: String, phase: Option<SandboxPhase>) {
        let mut phases = self.phases.lock().expect("metrics lock");
        let old = match phase {
            Some(p) => phases.insert(key, p),
            None => phases.remove(&key),
        };
        if old == phase {
            return;
        }
        if let Some(old) = old {
            self.sandboxes.get_or_create(&PhaseLabels { phase: old.as_str().into() }).dec();
        }
        if let Some(new) = phase {
            self.sandboxes.get_or_create(&PhaseLabels { phase: new.as_str().into() }).inc();
        }
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("encoding to a String never fails");
        out
    }
}
