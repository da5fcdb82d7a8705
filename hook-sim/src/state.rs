//! The simulator's shared state, and what every service's handler does with it: authorize the
//! caller (IAM); a queued fault answers in [`served`](crate::served). The handlers (`codedeploy`, `lambda_api`, `cloudwatch`,
//! `http_api`) and the deployment engine use it from here; the crate root only builds the
//! router and the public [`Sim`](crate::Sim).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;

use crate::codedeploy::{self, LifecycleEventStatus};
use crate::fault;
use crate::function::{Behavior, FunctionSetup};
use crate::{iam, record};

pub(crate) struct SimState {
    pub(crate) recorder: Arc<record::Recorder>,
    pub(crate) faults: fault::Faults,
    /// Faults applied to function versions from outside them.
    pub(crate) version_faults: fault::VersionFaults,
    pub(crate) deployments: Mutex<HashMap<String, codedeploy::Deployment>>,
    pub(crate) functions: Mutex<HashMap<String, FunctionSetup>>,
    pub(crate) execution_counter: Mutex<u64>,
    /// Weighted aliases route at random from this seed; `None`: exact shares.
    pub(crate) routing_seed: Mutex<Option<u64>>,
    /// `GetMetricData` sees an invocation as soon as it ends, not a minute after its minute.
    pub(crate) metrics_at_once: std::sync::atomic::AtomicBool,
    /// The role each access key acts as: a call signed with one is authorized by its policies
    /// (a key not here, such as a test's, may call anything).
    pub(crate) identities: Mutex<HashMap<String, Arc<iam::Identity>>>,
    /// Refuse what IAM refuses, or only record it.
    pub(crate) enforcement: Mutex<iam::Enforcement>,
    /// The calls IAM refused (the first [`MAX_DENIALS`]).
    pub(crate) denials: Mutex<Vec<iam::Denial>>,
    /// Resource-based policies: the grants on each resource, by its ARN.
    pub(crate) resource_grants: Mutex<HashMap<String, Vec<iam::ResourceGrant>>>,
    /// The simulated times processes wait for on the clock ([`crate::clock_api`]): events the
    /// engine moves the clock to.
    pub(crate) sleepers: Mutex<Vec<std::time::Duration>>,
    /// A process started waiting on the clock.
    pub(crate) sleepers_changed: tokio::sync::Notify,
    /// Outside a deployment, a wait on the clock jumps it forward instead of taking real time.
    pub(crate) skip_clock_waits: std::sync::atomic::AtomicBool,
}

/// Denials hook-sim keeps to report.
const MAX_DENIALS: usize = 1000;

impl SimState {
    /// IAM's answer to the caller whose signature is in `headers`: `Err` when its role may not
    /// make `request` and IAM is enforced. A caller without a role here may call anything.
    pub(crate) fn authorize(&self, headers: &HeaderMap, request: &iam::Request) -> Result<(), iam::Denial> {
        let key = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(iam::signing_key);
        let Some(identity) = key.and_then(|k| self.identities.lock().expect("poisoned").get(k).cloned()) else {
            return Ok(());
        };
        self.authorize_as(&identity, request)
    }

    /// IAM's answer to `identity` making `request` (see [`authorize`](Self::authorize)).
    pub(crate) fn authorize_as(&self, identity: &iam::Identity, request: &iam::Request) -> Result<(), iam::Denial> {
        // The resource's own policy, if it has one: within the account, its grant suffices too.
        let grants = self
            .resource_grants
            .lock()
            .expect("poisoned")
            .get(request.resource)
            .cloned()
            .unwrap_or_default();
        let Err(denial) = identity.authorize_with(request, &grants) else {
            return Ok(());
        };
        let mut denials = self.denials.lock().expect("poisoned");
        if denials.len() < MAX_DENIALS && !denials.contains(&denial) {
            denials.push(denial.clone());
        }
        match *self.enforcement.lock().expect("poisoned") {
            iam::Enforcement::Enforce => Err(denial),
            iam::Enforcement::Warn => Ok(()),
        }
    }

    /// A function's tags, for `aws:ResourceTag/…` conditions.
    pub(crate) fn tags_of(&self, function: &str) -> std::collections::BTreeMap<String, String> {
        self.functions
            .lock()
            .expect("poisoned")
            .get(function)
            .map(|f| f.tags.clone())
            .unwrap_or_default()
    }

    /// The version `qualifier` selects now (an alias routes by its weights), and its behavior.
    pub(crate) fn resolve(
        &self,
        function: &str,
        qualifier: Option<&str>,
        key: Option<u64>,
    ) -> Option<Option<(String, Behavior)>> {
        let seed = *self.routing_seed.lock().expect("poisoned");
        self.functions
            .lock()
            .expect("poisoned")
            .get_mut(function)
            .map(|f| f.resolve(qualifier, seed, key))
    }

    /// The status of a lifecycle event: `InProgress`, `Succeeded` or `Failed`.
    pub(crate) fn execution_status(&self, deployment_id: &str, execution_id: &str) -> Option<LifecycleEventStatus> {
        let deployments = self.deployments.lock().expect("poisoned");
        Some(deployments.get(deployment_id)?.executions.get(execution_id)?.status)
    }
}
