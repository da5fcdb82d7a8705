//! Finding out what a hook has to test: the deployment, its phase and its targets.
//!
//! CodeDeploy tells a hook only the deployment id. Discovery reads the rest:
//! `GetDeployment` → `deploymentInfo.revision`, whose `appSpecContent.content` or
//! `string.content` is the AppSpec; when the deployment carries no content (CodeDeploy
//! often returns only its sha256), `GetApplicationRevision` with the same revision
//! location. The hook's phase is where its own function name stands in the AppSpec
//! `Hooks`; each `AWS::Lambda::Function` resource is a [`Target`].

use aws_sdk_codedeploy::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_codedeploy::operation::get_application_revision::GetApplicationRevisionError;
use aws_sdk_codedeploy::operation::get_deployment::GetDeploymentError;
use aws_sdk_codedeploy::types::{RevisionLocation, RevisionLocationType};
use aws_smithy_runtime_api::http::Response as HttpResponse;
use serde::Serialize;

use crate::appspec::{AppSpec, AppSpecError, FunctionId};
use crate::event::Phase;
use crate::target::{BadTargetOverride, Target};

/// What discovery found: everything a hook needs to know about its deployment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Deployment {
    /// The deployment id, `d-...`.
    pub id: String,
    /// The CodeDeploy application.
    pub application: Option<String>,
    /// The deployment group.
    pub deployment_group: Option<String>,
    /// The deployment configuration, e.g. `CodeDeployDefault.LambdaCanary10Percent5Minutes`.
    pub config_name: Option<String>,
    /// The lifecycle event this hook runs in.
    pub phase: Phase,
    /// The function versions to test.
    pub targets: Vec<Target>,
}

/// How discovery decides phase and targets, beyond what the deployment says.
#[derive(Debug, Clone, Default)]
pub struct DiscoverySettings {
    /// The hook's own function name (`AWS_LAMBDA_FUNCTION_NAME`), matched against the AppSpec hooks.
    pub function_name: String,
    /// A phase that replaces matching by name (`HOOK_PHASE`).
    pub phase: Option<Phase>,
    /// Targets that replace the AppSpec's (`HOOK_TARGET`).
    pub targets: Option<Vec<Target>>,
    /// The hook's own ARN, as Lambda invoked it: the partition, region and account a function
    /// the AppSpec names by name lives in, which a `HOOK_TARGET` ARN must name too. The hook
    /// sets it from the invocation's context.
    pub home: Option<String>,
}

impl DiscoverySettings {
    /// Reads `AWS_LAMBDA_FUNCTION_NAME`, `HOOK_PHASE` and `HOOK_TARGET`.
    pub fn from_env() -> Result<Self, DiscoveryError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Like [`from_env`](Self::from_env), with the variables from `get`.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, DiscoveryError> {
        let phase = match get("HOOK_PHASE").filter(|v| !v.trim().is_empty()) {
            Some(v) => Some(
                v.parse()
                    .map_err(|e: crate::event::UnknownPhase| DiscoveryError::BadPhaseOverride {
                        message: e.to_string(),
                    })?,
            ),
            None => None,
        };
        let targets = match get("HOOK_TARGET").filter(|v| !v.trim().is_empty()) {
            Some(v) => Some(Target::parse_override(&v).map_err(DiscoveryError::BadTargetOverride)?),
            None => None,
        };
        Ok(DiscoverySettings {
            function_name: get("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_default(),
            phase,
            targets,
            home: None,
        })
    }
}

/// Why a hook could not find out what to test.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// `GetDeployment` failed.
    #[error("GetDeployment({deployment_id}) failed: {}", DisplayErrorContext(&**source))]
    GetDeployment {
        /// The deployment asked for.
        deployment_id: String,
        /// The SDK's error.
        source: Box<SdkError<GetDeploymentError, HttpResponse>>,
    },
    /// `GetApplicationRevision` failed.
    #[error(
        "GetApplicationRevision({application}) failed: {}. The hook's role needs \
         codedeploy:GetApplicationRevision on the application",
        DisplayErrorContext(&**source)
    )]
    GetApplicationRevision {
        /// The application asked for.
        application: String,
        /// The SDK's error.
        source: Box<SdkError<GetApplicationRevisionError, HttpResponse>>,
    },
    /// The deployment has no revision at all.
    #[error("deployment {deployment_id} has no revision: is it a Lambda deployment?")]
    NoRevision {
        /// The deployment.
        deployment_id: String,
    },
    /// The revision lives somewhere the SDK does not read (S3, GitHub).
    #[error(
        "the revision of deployment {deployment_id} is stored as {kind}, not as AppSpec content: \
         set HOOK_TARGET=NAME:VERSION and HOOK_PHASE on the hook to name the version to test and the \
         lifecycle event it runs in"
    )]
    ContentNotInline {
        /// The deployment.
        deployment_id: String,
        /// The revision type.
        kind: String,
    },
    /// The AppSpec could not be parsed.
    #[error("deployment {deployment_id}: {source}")]
    AppSpec {
        /// The deployment.
        deployment_id: String,
        /// The parse error.
        source: AppSpecError,
    },
    /// The AppSpec has no Lambda function to test.
    #[error(
        "the AppSpec of deployment {deployment_id} has no AWS::Lambda::Function resource: \
         hook-sdk tests Lambda deployments only"
    )]
    NoLambdaFunctions {
        /// The deployment.
        deployment_id: String,
    },
    /// A Lambda resource lacks `Name` or `TargetVersion`.
    #[error("AppSpec resource `{logical_id}` has no `{missing}` property")]
    ResourceIncomplete {
        /// The resource key.
        logical_id: String,
        /// The missing property.
        missing: &'static str,
    },
    /// The hook's own name is not among the AppSpec hooks.
    #[error(
        "cannot tell this hook's phase: function `{function}` is not named in the AppSpec ({hooks}). \
         Name the hook in the DeploymentPreference Hooks, or set HOOK_PHASE=before|after"
    )]
    PhaseUnknown {
        /// The hook's function name.
        function: String,
        /// The AppSpec hooks.
        hooks: String,
    },
    /// The hook is named for both phases, and the deployment's target did not say which one
    /// runs.
    #[error(
        "function `{function}` is the hook of both BeforeAllowTraffic and AfterAllowTraffic, and the \
         event does not say which one runs; asking the deployment's target failed ({why}): allow the \
         hook codedeploy:ListDeploymentTargets and codedeploy:GetDeploymentTarget, use one function per \
         phase, or set HOOK_PHASE"
    )]
    PhaseAmbiguous {
        /// The hook's function name.
        function: String,
        /// Why the deployment target did not tell.
        why: String,
    },
    /// `HOOK_TARGET` names a function or version the deployment does not deploy.
    #[error(
        "HOOK_TARGET names {wanted}, which this deployment does not deploy (it deploys {deployed}): \
         an override may only narrow the targets of the deployment's AppSpec; fix or unset HOOK_TARGET"
    )]
    TargetOverrideNotDeployed {
        /// The override's target.
        wanted: String,
        /// The deployment's targets.
        deployed: String,
    },
    /// `HOOK_PHASE` says one phase and the deployment runs the hook in the other.
    #[error(
        "HOOK_PHASE says {phase}, but the deployment runs this hook in {deployment}: an override may not \
         change the phase CodeDeploy asks for; fix or unset HOOK_PHASE"
    )]
    PhaseOverrideDisagrees {
        /// The override.
        phase: Phase,
        /// The phase the deployment says.
        deployment: Phase,
    },
    /// `HOOK_TARGET` is malformed.
    #[error(transparent)]
    BadTargetOverride(BadTargetOverride),
    /// `HOOK_PHASE` is malformed.
    #[error("HOOK_PHASE: {message}")]
    BadPhaseOverride {
        /// What is wrong.
        message: String,
    },
}

impl DiscoveryError {
    /// Whether trying again later may succeed: throttling, a time-out, a network failure or a
    /// 5xx answer from CodeDeploy (rather than missing permissions or a bad deployment).
    pub fn is_transient(&self) -> bool {
        fn transient<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> bool {
            // A dispatch failure of kind "other" is a refusal, not the network: an answer over
            // the bound a hook reads from AWS (crate::aws::MAX_AWS_ANSWER) stays over it.
            matches!(e, SdkError::TimeoutError(_) | SdkError::ResponseError(_))
                || matches!(e, SdkError::DispatchFailure(d) if !d.is_other())
                || e.raw_response().is_some_and(|r| r.status().as_u16() >= 500)
                || e.as_service_error()
                    .and_then(ProvideErrorMetadata::code)
                    .is_some_and(|c| {
                        matches!(
                            c,
                            "ThrottlingException" | "Throttling" | "ThrottledException" | "TooManyRequestsException"
                        )
                    })
        }
        match self {
            DiscoveryError::GetDeployment { source, .. } => transient(source),
            DiscoveryError::GetApplicationRevision { source, .. } => transient(source),
            _ => false,
        }
    }
}

/// Reads the deployment and works out phase and targets.
pub async fn discover(
    codedeploy: &aws_sdk_codedeploy::Client,
    deployment_id: &str,
    settings: &DiscoverySettings,
) -> Result<Deployment, DiscoveryError> {
    let out = codedeploy
        .get_deployment()
        .deployment_id(deployment_id)
        .send()
        .await
        .map_err(|e| DiscoveryError::GetDeployment {
            deployment_id: deployment_id.to_string(),
            source: Box::new(e),
        })?;
    let info = out.deployment_info();
    let application = info.and_then(|i| i.application_name()).map(str::to_string);
    let mut deployment = Deployment {
        id: deployment_id.to_string(),
        application: application.clone(),
        deployment_group: info.and_then(|i| i.deployment_group_name()).map(str::to_string),
        config_name: info.and_then(|i| i.deployment_config_name()).map(str::to_string),
        phase: Phase::BeforeAllowTraffic,
        targets: Vec::new(),
    };

    // The AppSpec is read even when both overrides are set: an override may narrow what the
    // deployment asks to test, never replace it.
    let appspec = match read_appspec(codedeploy, deployment_id, info, application).await {
        Ok(spec) => Some(spec),
        // A revision whose content the hook cannot read (S3, GitHub) is what HOOK_TARGET and
        // HOOK_PHASE are for: with both, nothing of the AppSpec is needed.
        Err(DiscoveryError::ContentNotInline { .. }) if settings.targets.is_some() && settings.phase.is_some() => {
            tracing::warn!(
                "the deployment's AppSpec is not inline: HOOK_TARGET and HOOK_PHASE are taken as they are, unchecked against it"
            );
            None
        }
        Err(e) => return Err(e),
    };

    deployment.phase = match (settings.phase, &appspec) {
        (Some(phase), Some(spec)) => {
            // The phase the deployment runs the hook in, where that can be read.
            let declared = match phase_of(spec, &settings.function_name) {
                Ok(p) => Some(p),
                Err(DiscoveryError::PhaseAmbiguous { .. } | DiscoveryError::PhaseUnknown { .. }) => {
                    phase_in_progress(codedeploy, deployment_id).await.ok()
                }
                Err(e) => return Err(e),
            };
            match declared {
                Some(d) if d != phase => {
                    return Err(DiscoveryError::PhaseOverrideDisagrees { phase, deployment: d });
                }
                _ => phase,
            }
        }
        (Some(phase), None) => phase,
        (None, Some(spec)) => match phase_of(spec, &settings.function_name) {
            // One function for both phases: the phase whose lifecycle event is in progress.
            Err(DiscoveryError::PhaseAmbiguous { function, .. }) => phase_in_progress(codedeploy, deployment_id)
                .await
                .map_err(|why| DiscoveryError::PhaseAmbiguous { function, why })?,
            other => other?,
        },
        // Never without both overrides (see above); were it so, the AppSpec was not readable.
        (None, None) => return Err(not_inline(deployment_id)),
    };
    deployment.targets = match (&settings.targets, &appspec) {
        (Some(wanted), Some(spec)) => narrow(wanted, targets_of(spec, deployment_id)?, settings.home.as_deref())?,
        (Some(targets), None) => targets.clone(),
        (None, Some(spec)) => targets_of(spec, deployment_id)?,
        (None, None) => return Err(not_inline(deployment_id)),
    };
    Ok(deployment)
}

/// The revision could not be read for what discovery needs of it.
fn not_inline(deployment_id: &str) -> DiscoveryError {
    DiscoveryError::ContentNotInline {
        deployment_id: deployment_id.to_string(),
        kind: "content the hook does not read".to_string(),
    }
}

/// The AppSpec of the deployment's revision: inline, or from `GetApplicationRevision`.
async fn read_appspec(
    codedeploy: &aws_sdk_codedeploy::Client,
    deployment_id: &str,
    info: Option<&aws_sdk_codedeploy::types::DeploymentInfo>,
    application: Option<String>,
) -> Result<AppSpec, DiscoveryError> {
    let revision = info
        .and_then(|i| i.revision())
        .ok_or_else(|| DiscoveryError::NoRevision {
            deployment_id: deployment_id.to_string(),
        })?;
    let text = match inline_content(revision) {
        Some(text) => text,
        None => {
            let application = application.unwrap_or_default();
            let out = codedeploy
                .get_application_revision()
                .application_name(&application)
                .revision(revision.clone())
                .send()
                .await
                .map_err(|e| DiscoveryError::GetApplicationRevision {
                    application: application.clone(),
                    source: Box::new(e),
                })?;
            out.revision()
                .and_then(inline_content)
                .ok_or_else(|| DiscoveryError::ContentNotInline {
                    deployment_id: deployment_id.to_string(),
                    kind: revision
                        .revision_type()
                        .map(|t| t.as_str().to_string())
                        .unwrap_or_else(|| "an unknown type".to_string()),
                })?
        }
    };
    AppSpec::parse(&text).map_err(|source| DiscoveryError::AppSpec {
        deployment_id: deployment_id.to_string(),
        source,
    })
}

/// The deployment's targets that `HOOK_TARGET` names (as the AppSpec gives them, alias and
/// current version included). Naming a function or a version the deployment does not test is
/// an error: an override narrows, never loosens. A name resolves in `home` (the hook's own
/// ARN: its partition, region and account), as Lambda resolves it; without a home, an ARN's
/// partition, region or account the AppSpec does not name cannot be told the same, and is not.
fn narrow(wanted: &[Target], deployment: Vec<Target>, home: Option<&str>) -> Result<Vec<Target>, DiscoveryError> {
    let home = home.map(FunctionId::parse);
    let same = |a: &str, b: &str| {
        let (a, b) = (FunctionId::parse(a), FunctionId::parse(b));
        match &home {
            Some(h) => a.within(h) == b.within(h),
            None => {
                let covered = |x: &Option<String>, y: &Option<String>| x.is_none() || x == y;
                a.name == b.name
                    && covered(&a.partition, &b.partition)
                    && covered(&a.region, &b.region)
                    && covered(&a.account, &b.account)
            }
        }
    };
    let mut out: Vec<Target> = Vec::new();
    for w in wanted {
        match deployment
            .iter()
            .find(|t| t.target_version == w.target_version && same(&w.function, &t.function))
        {
            Some(t) if !out.contains(t) => out.push(t.clone()),
            Some(_) => {}
            None => {
                return Err(DiscoveryError::TargetOverrideNotDeployed {
                    wanted: w.qualified(),
                    deployed: deployment.iter().map(Target::qualified).collect::<Vec<_>>().join(", "),
                });
            }
        }
    }
    Ok(out)
}

fn inline_content(revision: &RevisionLocation) -> Option<String> {
    let from_appspec = revision.app_spec_content().and_then(|c| c.content());
    let from_string = revision.string().and_then(|s| s.content());
    let text = match revision.revision_type() {
        Some(RevisionLocationType::String) => from_string.or(from_appspec),
        _ => from_appspec.or(from_string),
    }?;
    (!text.trim().is_empty()).then(|| text.to_string())
}

/// The lifecycle events of every target of the deployment (`ListDeploymentTargets`, then
/// `GetDeploymentTarget` for each). An error names the call that failed.
pub(crate) async fn target_lifecycle_events(
    codedeploy: &aws_sdk_codedeploy::Client,
    deployment_id: &str,
) -> Result<Vec<aws_sdk_codedeploy::types::LifecycleEvent>, String> {
    let ids = codedeploy
        .list_deployment_targets()
        .deployment_id(deployment_id)
        .send()
        .await
        .map_err(|e| format!("ListDeploymentTargets: {}", crate::error::error_chain(&e)))?;
    let mut events = Vec::new();
    for id in ids.target_ids() {
        let out = codedeploy
            .get_deployment_target()
            .deployment_id(deployment_id)
            .target_id(id)
            .send()
            .await
            .map_err(|e| format!("GetDeploymentTarget: {}", crate::error::error_chain(&e)))?;
        if let Some(t) = out.deployment_target().and_then(|t| t.lambda_target()) {
            events.extend_from_slice(t.lifecycle_events());
        }
    }
    Ok(events)
}

/// The hook phase whose lifecycle event is in progress on the deployment's target, as
/// `GetDeploymentTarget` tells it: how one function serving both phases knows which one runs.
async fn phase_in_progress(codedeploy: &aws_sdk_codedeploy::Client, deployment_id: &str) -> Result<Phase, String> {
    use aws_sdk_codedeploy::types::LifecycleEventStatus;
    let mut running = Vec::new();
    for e in target_lifecycle_events(codedeploy, deployment_id).await? {
        let phase = match e.lifecycle_event_name() {
            Some("BeforeAllowTraffic") => Phase::BeforeAllowTraffic,
            Some("AfterAllowTraffic") => Phase::AfterAllowTraffic,
            _ => continue,
        };
        if e.status() == Some(&LifecycleEventStatus::InProgress) && !running.contains(&phase) {
            running.push(phase);
        }
    }
    match running.as_slice() {
        [phase] => Ok(*phase),
        [] => Err("no hook lifecycle event of the target is in progress".to_string()),
        _ => Err("both hook lifecycle events are in progress".to_string()),
    }
}

fn phase_of(spec: &AppSpec, function: &str) -> Result<Phase, DiscoveryError> {
    match spec.phases_of(function).as_slice() {
        [phase] => Ok(*phase),
        [] => Err(DiscoveryError::PhaseUnknown {
            function: if function.is_empty() {
                "(AWS_LAMBDA_FUNCTION_NAME is not set)".to_string()
            } else {
                function.to_string()
            },
            hooks: spec.to_string(),
        }),
        _ => Err(DiscoveryError::PhaseAmbiguous {
            function: function.to_string(),
            why: String::new(),
        }),
    }
}

fn targets_of(spec: &AppSpec, deployment_id: &str) -> Result<Vec<Target>, DiscoveryError> {
    let mut targets = Vec::new();
    for r in spec.lambda_functions() {
        let missing = |missing| DiscoveryError::ResourceIncomplete {
            logical_id: r.logical_id.clone(),
            missing,
        };
        targets.push(Target {
            logical_id: r.logical_id.clone(),
            function: r.name.clone().ok_or_else(|| missing("Name"))?,
            alias: r.alias.clone(),
            current_version: r.current_version.clone(),
            target_version: r.target_version.clone().ok_or_else(|| missing("TargetVersion"))?,
        });
    }
    if targets.is_empty() {
        return Err(DiscoveryError::NoLambdaFunctions {
            deployment_id: deployment_id.to_string(),
        });
    }
    Ok(targets)
}

#[cfg(test)]
#[allow(deprecated)] // the String revision type is deprecated, yet deployments still carry it
mod tests {
    use super::*;
    use aws_sdk_codedeploy::operation::get_application_revision::GetApplicationRevisionOutput;
    use aws_sdk_codedeploy::operation::get_deployment::GetDeploymentOutput;
    use aws_sdk_codedeploy::types::{AppSpecContent, DeploymentInfo, RawString, S3Location};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    const SPEC: &str = r#"{"version":0.0,"Resources":[{"HelloFunction":{"Type":"AWS::Lambda::Function","Properties":{"Name":"hello-fn","Alias":"live","CurrentVersion":"1","TargetVersion":"2"}}}],"Hooks":[{"BeforeAllowTraffic":"CodeDeployHook_pre"},{"AfterAllowTraffic":"CodeDeployHook_post"}]}"#;

    fn settings(name: &str) -> DiscoverySettings {
        DiscoverySettings {
            function_name: name.to_string(),
            ..Default::default()
        }
    }

    fn info(revision: RevisionLocation) -> GetDeploymentOutput {
        GetDeploymentOutput::builder()
            .deployment_info(
                DeploymentInfo::builder()
                    .application_name("app")
                    .deployment_group_name("group")
                    .deployment_config_name("CodeDeployDefault.LambdaAllAtOnce")
                    .revision(revision)
                    .build(),
            )
            .build()
    }

    #[tokio::test]
    async fn reads_appspec_content() {
        let rev = RevisionLocation::builder()
            .revision_type(RevisionLocationType::AppSpecContent)
            .app_spec_content(AppSpecContent::builder().content(SPEC).build())
            .build();
        let get = mock!(aws_sdk_codedeploy::Client::get_deployment)
            .match_requests(|r| r.deployment_id() == Some("d-1"))
            .then_output(move || info(rev.clone()));
        let client = mock_client!(aws_sdk_codedeploy, [&get]);
        let d = discover(&client, "d-1", &settings("CodeDeployHook_post"))
            .await
            .unwrap();
        assert_eq!(d.phase, Phase::AfterAllowTraffic);
        assert_eq!(d.application.as_deref(), Some("app"));
        assert_eq!(d.deployment_group.as_deref(), Some("group"));
        assert_eq!(d.targets[0].function, "hello-fn");
        assert_eq!(d.targets[0].target_version, "2");
        assert_eq!(d.targets[0].current_version.as_deref(), Some("1"));
    }

    #[tokio::test]
    async fn reads_string_revision() {
        let rev = RevisionLocation::builder()
            .revision_type(RevisionLocationType::String)
            .string(RawString::builder().content(SPEC).build())
            .build();
        let get = mock!(aws_sdk_codedeploy::Client::get_deployment).then_output(move || info(rev.clone()));
        let client = mock_client!(aws_sdk_codedeploy, [&get]);
        let d = discover(&client, "d-1", &settings("CodeDeployHook_pre")).await.unwrap();
        assert_eq!(d.phase, Phase::BeforeAllowTraffic);
    }

    #[tokio::test]
    async fn falls_back_to_get_application_revision() {
        let bare = RevisionLocation::builder()
            .revision_type(RevisionLocationType::AppSpecContent)
            .app_spec_content(AppSpecContent::builder().sha256("abc").build())
            .build();
        let get = mock!(aws_sdk_codedeploy::Client::get_deployment).then_output(move || info(bare.clone()));
        let rev = mock!(aws_sdk_codedeploy::Client::get_application_revision)
            .match_requests(|r| {
                r.application_name() == Some("app")
                    && r.revision().and_then(|r| r.app_spec_content()).and_then(|c| c.sha256()) == Some("abc")
            })
            .then_output(|| {
                GetApplicationRevisionOutput::builder()
                    .revision(
                        RevisionLocation::builder()
                            .revision_type(RevisionLocationType::AppSpecContent)
                            .app_spec_content(AppSpecContent::builder().content(SPEC).sha256("abc").build())
                            .build(),
                    )
                    .build()
            });
        let client = mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, [&get, &rev]);
        let d = discover(&client, "d-1", &settings("CodeDeployHook_pre")).await.unwrap();
        assert_eq!(d.targets.len(), 1);
        assert_eq!(rev.num_calls(), 1);
    }

    #[tokio::test]
    async fn sdk_errors_keep_their_source_and_say_whether_they_are_transient() {
        use aws_sdk_codedeploy::operation::get_deployment::GetDeploymentError;
        use aws_sdk_codedeploy::types::error::DeploymentDoesNotExistException;
        use aws_smithy_types::error::ErrorMetadata;

        let missing = mock!(aws_sdk_codedeploy::Client::get_deployment).then_error(|| {
            GetDeploymentError::DeploymentDoesNotExistException(
                DeploymentDoesNotExistException::builder().message("no d-1").build(),
            )
        });
        let client = mock_client!(aws_sdk_codedeploy, [&missing]);
        let e = discover(&client, "d-1", &settings("CodeDeployHook_pre"))
            .await
            .unwrap_err();
        assert!(e.to_string().starts_with("GetDeployment(d-1) failed: "), "{e}");
        assert!(e.to_string().contains("no d-1"), "{e}");
        let source = std::error::Error::source(&e).expect("the SDK error is the source");
        assert!(
            source
                .downcast_ref::<Box<SdkError<GetDeploymentError, HttpResponse>>>()
                .is_some()
        );
        assert!(!e.is_transient());

        let throttled = mock!(aws_sdk_codedeploy::Client::get_deployment).then_error(|| {
            GetDeploymentError::generic(
                ErrorMetadata::builder()
                    .code("ThrottlingException")
                    .message("slow down")
                    .build(),
            )
        });
        let client = mock_client!(aws_sdk_codedeploy, [&throttled]);
        let e = discover(&client, "d-1", &settings("CodeDeployHook_pre"))
            .await
            .unwrap_err();
        assert!(e.is_transient(), "{e}");
    }

    /// CodeDeploy answering a deployment whose revision is in S3: no AppSpec to read.
    fn s3_revision() -> aws_sdk_codedeploy::Client {
        let s3 = RevisionLocation::builder()
            .revision_type(RevisionLocationType::S3)
            .s3_location(S3Location::builder().bucket("b").key("k").build())
            .build();
        let get = mock!(aws_sdk_codedeploy::Client::get_deployment).then_output(move || info(s3.clone()));
        let rev = mock!(aws_sdk_codedeploy::Client::get_application_revision)
            .then_output(|| GetApplicationRevisionOutput::builder().build());
        mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, [&get, &rev])
    }

    #[tokio::test]
    async fn s3_revision_says_to_set_hook_target() {
        let client = s3_revision();
        let e = discover(&client, "d-1", &settings("CodeDeployHook_pre"))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("stored as S3"), "{e}");
        assert!(e.to_string().contains("HOOK_TARGET"), "{e}");
    }

    /// HOOK_TARGET without HOOK_PHASE, and an AppSpec the hook cannot read: the phase is not
    /// known, and discovery says what to set — an error, not a panic.
    #[tokio::test]
    async fn s3_revision_with_a_target_but_no_phase_says_to_set_the_phase() {
        let client = s3_revision();
        let settings = DiscoverySettings::from_lookup(|k| match k {
            "HOOK_TARGET" => Some("hello-fn:2".into()),
            "AWS_LAMBDA_FUNCTION_NAME" => Some("CodeDeployHook_pre".into()),
            _ => None,
        })
        .unwrap();
        let e = discover(&client, "d-1", &settings).await.unwrap_err();
        assert!(e.to_string().contains("HOOK_PHASE"), "{e}");
        let with_phase = DiscoverySettings::from_lookup(|k| match k {
            "HOOK_TARGET" => Some("hello-fn:2".into()),
            "HOOK_PHASE" => Some("BeforeAllowTraffic".into()),
            "AWS_LAMBDA_FUNCTION_NAME" => Some("CodeDeployHook_pre".into()),
            _ => None,
        })
        .unwrap();
        let d = discover(&client, "d-1", &with_phase).await.unwrap();
        assert_eq!(d.phase, Phase::BeforeAllowTraffic);
    }

    #[tokio::test]
    async fn unknown_phase_is_an_error_not_a_guess() {
        let rev = RevisionLocation::builder()
            .app_spec_content(AppSpecContent::builder().content(SPEC).build())
            .build();
        let get = mock!(aws_sdk_codedeploy::Client::get_deployment).then_output(move || info(rev.clone()));
        let client = mock_client!(aws_sdk_codedeploy, [&get]);
        let e = discover(&client, "d-1", &settings("my-hook")).await.unwrap_err();
        let text = e.to_string();
        assert!(text.contains("`my-hook` is not named"), "{text}");
        assert!(text.contains("BeforeAllowTraffic: CodeDeployHook_pre"), "{text}");
        assert!(text.contains("HOOK_PHASE"), "{text}");
    }

    /// Discovery of the deployment of SPEC (hello-fn:2, CodeDeployHook_pre before traffic)
    /// with these overrides.
    async fn with_overrides(phase: Option<&str>, target: Option<&str>) -> Result<Deployment, DiscoveryError> {
        let rev = RevisionLocation::builder()
            .app_spec_content(AppSpecContent::builder().content(SPEC).build())
            .build();
        let get = mock!(aws_sdk_codedeploy::Client::get_deployment).then_output(move || info(rev.clone()));
        let client = mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, [&get]);
        let mut settings = DiscoverySettings::from_lookup(|k| match k {
            "HOOK_PHASE" => phase.map(str::to_string),
            "HOOK_TARGET" => target.map(str::to_string),
            "AWS_LAMBDA_FUNCTION_NAME" => Some("CodeDeployHook_pre".into()),
            _ => None,
        })?;
        settings.home = Some(HOOK_ARN.into());
        discover(&client, "d-1", &settings).await
    }

    /// The hook's own ARN, as Lambda invoked it.
    const HOOK_ARN: &str = "arn:aws:lambda:us-east-1:111122223333:function:CodeDeployHook_pre";

    /// HOOK_TARGET in every form the probes tried: only the deployment's own target passes.
    #[tokio::test]
    async fn a_target_override_in_another_partition_account_region_or_form_is_refused() {
        for same in [
            "hello-fn:2",
            "111122223333:function:hello-fn:2",
            "arn:aws:lambda:us-east-1:111122223333:function:hello-fn:2",
        ] {
            let d = with_overrides(None, Some(same)).await.unwrap();
            assert_eq!(d.targets.len(), 1, "{same}");
        }
        for elsewhere in [
            "arn:aws-cn:lambda:us-east-1:111122223333:function:hello-fn:2",
            "arn:aws-us-gov:lambda:us-gov-west-1:111122223333:function:hello-fn:2",
            "arn:aws:lambda:eu-west-1:111122223333:function:hello-fn:2",
            "arn:aws:lambda:us-east-1:999999999999:function:hello-fn:2",
            "999999999999:function:hello-fn:2",
        ] {
            let e = with_overrides(None, Some(elsewhere)).await.unwrap_err();
            assert!(
                matches!(e, DiscoveryError::TargetOverrideNotDeployed { .. }),
                "{elsewhere}: {e}"
            );
        }
        for (malformed, why) in [
            ("hello-fn:2:2", "a part too many"),
            ("hello-fn:2\nother-fn:2", "control character"),
            ("hello-fn :2", "a space"),
            ("hello-fn:", "names no version"),
            ("arn:aws:lambda:us-east-1:1111:function:hello-fn:2", "12-digit account"),
            ("hello/fn:2", "names no function"),
        ] {
            let e = with_overrides(None, Some(malformed)).await.unwrap_err();
            assert!(
                matches!(e, DiscoveryError::BadTargetOverride(_)) && e.to_string().contains(why),
                "{malformed:?}: {e}"
            );
        }
        // Without the hook's own ARN, an ARN cannot be told to be the AppSpec's function.
        let rev = RevisionLocation::builder()
            .app_spec_content(AppSpecContent::builder().content(SPEC).build())
            .build();
        let get = mock!(aws_sdk_codedeploy::Client::get_deployment).then_output(move || info(rev.clone()));
        let client = mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, [&get]);
        let settings = DiscoverySettings::from_lookup(|k| match k {
            "HOOK_TARGET" => Some("arn:aws:lambda:us-east-1:111122223333:function:hello-fn:2".into()),
            "AWS_LAMBDA_FUNCTION_NAME" => Some("CodeDeployHook_pre".into()),
            _ => None,
        })
        .unwrap();
        let e = discover(&client, "d-1", &settings).await.unwrap_err();
        assert!(matches!(e, DiscoveryError::TargetOverrideNotDeployed { .. }), "{e}");
    }

    #[tokio::test]
    async fn overrides_narrow_what_the_deployment_asks_never_loosen_it() {
        // Naming the deployment's own target: its AppSpec entry, alias and current version kept.
        let d = with_overrides(Some("before"), Some("hello-fn:2")).await.unwrap();
        assert_eq!(d.phase, Phase::BeforeAllowTraffic);
        assert_eq!(
            (d.targets[0].function.as_str(), d.targets[0].alias.as_deref()),
            ("hello-fn", Some("live"))
        );
        let d = with_overrides(None, Some("arn:aws:lambda:us-east-1:111122223333:function:hello-fn:2"))
            .await
            .unwrap();
        assert_eq!(
            d.targets[0].function, "hello-fn",
            "the deployment's target, not the override's"
        );
        // Another version or another function: Failed, saying which.
        for other in ["hello-fn:3", "other-fn:2", "hello-fn:1"] {
            let e = with_overrides(None, Some(other)).await.unwrap_err();
            let text = e.to_string();
            assert!(
                text.contains(&format!("HOOK_TARGET names {other}")) && text.contains("it deploys hello-fn:2"),
                "{text}"
            );
        }
        // The other phase than the one CodeDeploy runs the hook in.
        let e = with_overrides(Some("after"), None).await.unwrap_err();
        assert!(
            e.to_string().starts_with(
                "HOOK_PHASE says AfterAllowTraffic, but the deployment runs this hook in BeforeAllowTraffic"
            ),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_target_override_stands_where_the_appspec_cannot_be_read() {
        let client = s3_revision();
        let settings = DiscoverySettings::from_lookup(|k| match k {
            "HOOK_PHASE" => Some("after".into()),
            "HOOK_TARGET" => Some("fn-a:4".into()),
            _ => None,
        })
        .unwrap();
        let d = discover(&client, "d-1", &settings).await.unwrap();
        assert_eq!(d.phase, Phase::AfterAllowTraffic);
        assert_eq!(
            (d.targets[0].function.as_str(), d.targets[0].target_version.as_str()),
            ("fn-a", "4")
        );
    }

    #[test]
    fn bad_overrides_are_reported() {
        let e = DiscoverySettings::from_lookup(|k| (k == "HOOK_PHASE").then(|| "during".into())).unwrap_err();
        assert!(e.to_string().starts_with("HOOK_PHASE: unknown phase `during`"), "{e}");
        let e = DiscoverySettings::from_lookup(|k| (k == "HOOK_TARGET").then(|| "fn".into())).unwrap_err();
        assert!(e.to_string().contains("NAME:VERSION"), "{e}");
    }

    #[test]
    fn incomplete_resource_is_named() {
        let spec =
            AppSpec::parse(r#"{"Resources":[{"F":{"Type":"AWS::Lambda::Function","Properties":{"Name":"x"}}}]}"#)
                .unwrap();
        let e = targets_of(&spec, "d-1").unwrap_err();
        assert_eq!(e.to_string(), "AppSpec resource `F` has no `TargetVersion` property");
    }
}
