//! `hook-sim check TEMPLATE`: what `simulate` reads from a template, judged without running
//! anything, for CI. For each hook of each function deployed gradually: may CodeDeploy's role
//! invoke it; may its role read its deployment and revision, report its status, invoke the
//! target version (and, after traffic, the alias), and read what a metrics check reads; and is
//! every alarm of the deployment one CloudWatch can evaluate.
//!
//! A permission a hook always needs and lacks, or an alarm AWS publishes no data for (it never
//! fires, or, treating missing data as breaching, stops every deployment), is a
//! problem (exit 1). A permission only some hooks need (the metrics check's, when the hook's
//! checks cannot be read here) is a warning unless the hook's spec says it runs one.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use hook_sim::deploy::Phase;
use hook_sim::iam::{Identity, Request, ResourceGrant, function_request};
use hook_sim::stack::cloudformation::code_deploy_aliases;
use hook_sim::stack::sam::{functions_with_preference, read_setup};
use hook_sim::stack::setup::{FunctionRun, Setup, TARGET};
use hook_sim::stack::{StackError, Template};
use serde::Serialize;
use serde_json::{Value, json};

use super::args::{ReportFormat, StackArgs};
use super::binaries::{other_stacks, template_dir};
use crate::cli::key_value;

pub(crate) const EXAMPLES: &str = "\
Examples:
  hook-sim check                                  template.yaml: every function deployed gradually
  hook-sim check hook-examples/python/template.yaml --report json
  hook-sim check tests/fixtures/cdk-stack.json      a stack `cdk synth` wrote

Exit status: 0 nothing stands in the way, 1 a problem AWS would meet (listed), 2 bad usage or an
unreadable template.";

/// Options of `hook-sim check`.
#[derive(Args, Debug)]
pub(crate) struct CheckArgs {
    /// The template: SAM, or the CloudFormation `sls package` and `cdk synth` write.
    #[arg(default_value = "template.yaml")]
    template: PathBuf,
    /// Only this function (logical id); default: every function deployed gradually.
    #[arg(long, value_name = "LOGICAL_ID")]
    function: Option<String>,
    /// A template parameter, NAME=VALUE (repeatable).
    #[arg(long = "parameter", value_name = "NAME=VALUE", value_parser = key_value)]
    parameters: Vec<(String, String)>,
    /// Another stack's template whose exports this one imports (repeatable).
    #[arg(long = "with", value_name = "TEMPLATE")]
    with: Vec<PathBuf>,
    /// The stack name the template is read as (`AWS::StackName`).
    #[arg(long, default_value = "sam-app")]
    stack_name: String,
    /// The report: text, or one JSON document.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    report: ReportFormat,
}

/// One thing checked.
#[derive(Debug, Serialize)]
struct Finding {
    /// What is checked, in words.
    what: String,
    /// `ok`, `problem` (AWS would fail here) or `warning`.
    verdict: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource: Option<String>,
    /// Why, when it is not ok.
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

fn lambda_arn(function: &str, qualifier: Option<&str>) -> String {
    format!(
        "arn:aws:lambda:{}:{}:function:{function}{}",
        hook_sim::REGION,
        hook_sim::ACCOUNT_ID,
        qualifier.map(|q| format!(":{q}")).unwrap_or_default()
    )
}

/// `what`: may `identity` make `request` (its role's policies, or the resource's own policy:
/// `grants`); a denial is a problem when `always`, else a warning.
fn permission(
    identity: Option<&Identity>,
    grants: &[ResourceGrant],
    what: String,
    request: &Request,
    always: bool,
) -> Finding {
    let denial = match identity {
        Some(identity) => identity.authorize_with(request, grants).err().map(|d| d.to_string()),
        None => Some("no role was read for it".to_string()),
    };
    Finding {
        what,
        verdict: match (&denial, always) {
            (None, _) => "ok",
            (Some(_), true) => "problem",
            (Some(_), false) => "warning",
        },
        action: Some(request.action.to_string()),
        resource: Some(request.resource.to_string()),
        detail: denial,
    }
}

/// The findings of one deployment.
fn check_setup(setup: &Setup) -> Value {
    let arns = Arns {
        group: format!(
            "arn:aws:codedeploy:{}:{}:deploymentgroup:{}/{}",
            hook_sim::REGION,
            hook_sim::ACCOUNT_ID,
            setup.application,
            setup.group
        ),
        application: format!(
            "arn:aws:codedeploy:{}:{}:application:{}",
            hook_sim::REGION,
            hook_sim::ACCOUNT_ID,
            setup.application
        ),
    };
    let target = &setup.function;
    let hooks: Vec<Value> = setup
        .hooks
        .iter()
        .map(|(event, hook)| {
            json!({
                "lifecycle_event": event.as_str(),
                "logical_id": hook.logical_id,
                "function": hook.name,
                "timeout_s": hook.timeout.as_secs(),
                "findings": hook_findings(setup, &arns, *event, hook),
            })
        })
        .collect();
    json!({
        "function": {"logical_id": target.logical_id, "name": target.name, "alias": setup.alias},
        "codedeploy_role": setup.codedeploy_role.role_arn,
        "hooks": hooks,
        "alarms": alarm_findings(setup),
        "warnings": setup.warnings,
    })
}

/// The deployment group's and the application's ARNs, which a hook's calls name.
struct Arns {
    group: String,
    application: String,
}

/// What a hook needs and may do: CodeDeploy may invoke it, it may read and report, its spec
/// loads and its timeout holds it, it may invoke what its checks invoke and read the metrics
/// they read.
fn hook_findings(setup: &Setup, arns: &Arns, event: Phase, hook: &FunctionRun) -> Vec<Finding> {
    let (group_arn, application_arn) = (&arns.group, &arns.application);
    let target = &setup.function;
    let role = setup.roles.get(&hook.name);
    let mut findings = Vec::new();
    let hook_arn = lambda_arn(&hook.name, None);
    findings.push(permission(
        Some(&setup.codedeploy_role),
        &setup.grants,
        "CodeDeploy's role may invoke it".into(),
        &function_request("lambda:InvokeFunction", &hook_arn, &hook.tags),
        true,
    ));
    for (action, what) in [
        ("codedeploy:GetDeployment", "it may read its deployment"),
        (
            "codedeploy:PutLifecycleEventHookExecutionStatus",
            "it may report its status",
        ),
    ] {
        findings.push(permission(
            role,
            &setup.grants,
            what.into(),
            &Request::new(action, group_arn),
            true,
        ));
    }
    findings.push(permission(
        role,
        &setup.grants,
        "it may read the revision (the AppSpec)".into(),
        &Request::new("codedeploy:GetApplicationRevision", application_arn),
        true,
    ));
    let spec = hook_sim::stack::specs::read(hook, event, &[]);
    for (what, problem) in [
        ("its spec loads", spec.problem),
        ("its timeout holds its spec's watch", spec.watch_problem),
    ] {
        if let Some(problem) = problem {
            findings.push(Finding {
                what: what.into(),
                verdict: "problem",
                action: None,
                resource: None,
                detail: Some(problem),
            });
        }
    }
    // Only the calls the hook makes are judged: a spec whose checks in this phase never
    // invoke (a metrics-only AfterAllowTraffic hook) needs no invoke permission.
    let invokes = spec.invokes != Some(false);
    let version_arn = lambda_arn(&target.name, Some(TARGET));
    if invokes {
        findings.push(permission(
            role,
            &setup.grants,
            "it may invoke the target version".into(),
            &function_request("lambda:InvokeFunction", &version_arn, &target.tags),
            true,
        ));
    }
    if invokes && event == Phase::AfterAllowTraffic {
        let alias_arn = lambda_arn(&target.name, Some(&setup.alias));
        findings.push(permission(
            role,
            &setup.grants,
            format!("it may invoke the alias {}", setup.alias),
            &function_request("lambda:InvokeFunction", &alias_arn, &target.tags),
            true,
        ));
    }
    findings.extend(metrics_findings(setup, arns, role, event, spec.runs_metrics));
    findings
}

/// A metrics check judges the canary's traffic: after traffic, unless the spec says.
fn metrics_findings(
    setup: &Setup,
    arns: &Arns,
    role: Option<&Identity>,
    event: Phase,
    metrics: Option<bool>,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    // A metrics check judges the canary's traffic: after traffic, unless the spec says.
    let maybe_metrics = metrics.unwrap_or(event == Phase::AfterAllowTraffic);
    if maybe_metrics {
        let when = match metrics {
            Some(true) => "its spec runs a metrics check: ",
            _ => "if it runs a metrics check, ",
        };
        for (action, resource, what) in [
            (
                "codedeploy:ListDeploymentTargets",
                arns.group.as_str(),
                "it may list the deployment's targets",
            ),
            (
                "codedeploy:GetDeploymentTarget",
                arns.group.as_str(),
                "it may read the traffic shifting's times",
            ),
            ("cloudwatch:GetMetricData", "*", "it may read Lambda's metrics"),
        ] {
            findings.push(permission(
                role,
                &setup.grants,
                format!("{when}{what}"),
                &Request::new(action, resource),
                metrics == Some(true),
            ));
        }
    }
    findings
}

/// Each alarm: evaluated, never able to leave ALARM, or not simulated.
fn alarm_findings(setup: &Setup) -> Vec<Finding> {
    let mut alarms: Vec<Finding> = setup
        .alarms
        .iter()
        .map(|a| match &a.source {
            // No data in AWS, and missing data breaches: in ALARM before any deployment starts.
            hook_sim::alarm::AlarmSource::NoData(why) => Finding {
                what: format!("alarm {}", a.name),
                verdict: "problem",
                action: None,
                resource: None,
                detail: Some(format!(
                    "{why}; TreatMissingData breaching makes every period breach, so in AWS it is in ALARM before \
                 the deployment starts and stops every deployment"
                )),
            },
            _ => Finding {
                what: format!("alarm {}: {a}", a.name),
                verdict: "ok",
                action: None,
                resource: None,
                detail: None,
            },
        })
        .collect();
    for (id, why) in &setup.unsimulated_alarms {
        alarms.push(Finding {
            what: format!("alarm {id}"),
            // An alarm CloudWatch can never evaluate is a problem; one hook-sim does not
            // evaluate only leaves the rehearsal short of it.
            verdict: if why.contains(hook_sim::stack::alarms::NO_DATA) {
                "problem"
            } else {
                "warning"
            },
            action: None,
            resource: None,
            detail: Some(why.clone()),
        });
    }
    alarms
}

/// Runs `hook-sim check`.
pub(crate) fn check(args: CheckArgs) -> ExitCode {
    match run(&args) {
        Ok(report) => {
            let problems = count(&report, "problem");
            if args.report == ReportFormat::Json {
                say!("{}", serde_json::to_string_pretty(&report).expect("reports serialize"));
            } else {
                print(&report);
            }
            if problems > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn count(report: &Value, verdict: &str) -> usize {
    let mut n = 0;
    for d in report["deployments"].as_array().into_iter().flatten() {
        for h in d["hooks"].as_array().into_iter().flatten() {
            n += h["findings"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|f| f["verdict"] == verdict)
                .count();
        }
        n += d["alarms"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| f["verdict"] == verdict)
            .count();
    }
    n
}

fn run(args: &CheckArgs) -> Result<Value, StackError> {
    let stack = StackArgs {
        template: args.template.clone(),
        function: None,
        current_env: Vec::new(),
        target_env: Vec::new(),
        current_bin: None,
        target_bin: None,
        bins: Vec::new(),
        with: args.with.clone(),
        parameters: args.parameters.clone(),
        stack_name: args.stack_name.clone(),
        build: false,
        python: "python3".into(),
        node: "node".into(),
        reading_only: true,
    };
    let template = Template::load(&args.template, &args.parameters, &args.stack_name, TARGET)?;
    let base = template_dir(&args.template);
    let others = other_stacks(&stack, &template)?;
    let functions: Vec<String> = match &args.function {
        Some(f) => vec![f.clone()],
        None => {
            let mut all = functions_with_preference(&template);
            all.extend(code_deploy_aliases(&template).into_iter().map(|(_, f)| f));
            all
        }
    };
    if functions.is_empty() {
        return Err(StackError::new(format!(
            "{} has no function deployed gradually (a SAM DeploymentPreference, or an alias whose \
             UpdatePolicy is CodeDeployLambdaAliasUpdate): nothing to check",
            args.template.display()
        )));
    }
    let mut deployments = Vec::new();
    for function in functions {
        let one = StackArgs {
            function: Some(function),
            ..stack.clone()
        };
        let setup = read_setup(&template, &others, &one.read_options(), None, true, &base)?;
        deployments.push(check_setup(&setup));
    }
    let mut report = json!({"template": args.template, "deployments": deployments});
    report["problems"] = json!(count(&report, "problem"));
    report["warnings"] = json!(count(&report, "warning"));
    Ok(report)
}

fn print(report: &Value) {
    say!("hook-sim check: {}", report["template"].as_str().unwrap_or_default());
    let mark = |v: &Value| match v.as_str() {
        Some("ok") => "✔",
        Some("problem") => "✘",
        _ => "!",
    };
    for d in report["deployments"].as_array().into_iter().flatten() {
        say!(
            "\n{} ({}), alias {}; CodeDeploy's role {}",
            d["function"]["logical_id"].as_str().unwrap_or_default(),
            d["function"]["name"].as_str().unwrap_or_default(),
            d["function"]["alias"].as_str().unwrap_or_default(),
            d["codedeploy_role"].as_str().unwrap_or_default()
        );
        for h in d["hooks"].as_array().into_iter().flatten() {
            say!(
                "  {} hook {} ({})",
                h["lifecycle_event"].as_str().unwrap_or_default(),
                h["function"].as_str().unwrap_or_default(),
                h["logical_id"].as_str().unwrap_or_default()
            );
            for f in h["findings"].as_array().into_iter().flatten() {
                say!("    {} {}", mark(&f["verdict"]), f["what"].as_str().unwrap_or_default());
                // A denial names the action and the resource.
                if let Some(detail) = f["detail"].as_str() {
                    say!("        {detail}");
                }
            }
        }
        for f in d["alarms"].as_array().into_iter().flatten() {
            say!("  {} {}", mark(&f["verdict"]), f["what"].as_str().unwrap_or_default());
            if let Some(detail) = f["detail"].as_str() {
                say!("        {detail}");
            }
        }
        for w in d["warnings"].as_array().into_iter().flatten() {
            say!("  ! {}", w.as_str().unwrap_or_default());
        }
    }
    say!("\n{} problem(s), {} warning(s)", report["problems"], report["warnings"]);
}
