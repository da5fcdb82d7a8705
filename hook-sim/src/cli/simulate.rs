//! `hook-sim simulate`: a function's CodeDeploy deployment, from its SAM template, run
//! locally by hook-sim with the real function and hook binaries.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use hook_sim::alarm::{Alarm, AlarmSource, Comparison, Expression, Metric, MetricQuery, Statistic};
use hook_sim::deploy::{
    DeploymentOutcome, DeploymentPlan, Event, FinalStatus, LifecycleEvent, Rollback, TimelineEntry, human,
};
use hook_sim::schedule::{PREDEFINED, TrafficRouting};
use hook_sim::{Behavior, ProcessConfig, RuntimeFunction, Sim};
use serde_json::{Value, json};

use hook_sim::stack::{Template, TemplateError, scalar_text};

pub(crate) const EXAMPLES: &str = "\
Examples:
  hook-sim simulate                                   the HelloFunction canary of ./template.yaml
  hook-sim simulate --build                           build the binaries first (cargo build --release)
  hook-sim simulate --target-env HELLO_FAULT=error    the pre-traffic hook catches it: rolled back
  hook-sim simulate --target-env HELLO_FAULT=flaky    errors under traffic fire the alarm: rolled back
  hook-sim simulate --config Linear10PercentEvery1Minute --speed 600
  hook-sim simulate --parameter PreTrafficHookKind=spec --report json

Exit status: 0 the deployment succeeded, 1 it was rolled back, 2 bad usage or set-up.";

/// Options of `hook-sim simulate`.
#[derive(Args, Debug)]
pub(crate) struct SimulateArgs {
    /// The SAM template.
    #[arg(long, default_value = "template.yaml")]
    template: PathBuf,
    /// The logical id of the function to deploy (default: the one function with an enabled
    /// DeploymentPreference).
    #[arg(long, value_name = "LOGICAL_ID")]
    function: Option<String>,
    /// The deployment configuration, instead of DeploymentPreference.Type: a predefined one
    /// (`Linear10PercentEvery1Minute`, `CodeDeployDefault.LambdaCanary10Percent5Minutes`, ...)
    /// or the logical id of an AWS::CodeDeploy::DeploymentConfig in the template.
    #[arg(long, value_name = "NAME")]
    config: Option<String>,
    /// Simulated seconds per real second (default: 60, or more so that shifting traffic takes
    /// at most 10 s). CodeDeploy's waits and alarm periods are scaled; the binaries run in real time.
    #[arg(long, value_name = "X")]
    speed: Option<f64>,
    /// Environment of the current version's process, KEY=VALUE (repeatable).
    #[arg(long, value_name = "KEY=VALUE", value_parser = env_pair)]
    current_env: Vec<(String, String)>,
    /// Environment of the target version's process, KEY=VALUE (repeatable).
    #[arg(long, value_name = "KEY=VALUE", value_parser = env_pair)]
    target_env: Vec<(String, String)>,
    /// The current version's binary (default: the function's own).
    #[arg(long, value_name = "PATH")]
    current_bin: Option<PathBuf>,
    /// The target version's binary (default: the function's own).
    #[arg(long, value_name = "PATH")]
    target_bin: Option<PathBuf>,
    /// The binary of a function of the template, LOGICAL_ID=PATH (repeatable).
    #[arg(long = "bin", value_name = "LOGICAL_ID=PATH", value_parser = env_pair)]
    bins: Vec<(String, String)>,
    /// A template parameter, NAME=VALUE (repeatable).
    #[arg(long = "parameter", value_name = "NAME=VALUE", value_parser = env_pair)]
    parameters: Vec<(String, String)>,
    /// The stack name the template is simulated as (`AWS::StackName`).
    #[arg(long, default_value = "sam-app")]
    stack_name: String,
    /// Build the workspace binaries the template names first (`cargo build --release --bin ...`).
    #[arg(long)]
    build: bool,
    /// The report: a live timeline, or one JSON document at the end.
    #[arg(long, value_enum, default_value_t = Report::Text)]
    report: Report,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Report {
    Text,
    Json,
}

fn env_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("`{s}` is not KEY=VALUE")),
    }
}

/// How a function of the template runs here.
#[derive(Debug, Clone)]
struct FunctionRun {
    logical_id: String,
    name: String,
    binary: PathBuf,
    /// The workspace binary name, when it is one (for --build).
    cargo_bin: Option<String>,
    env: Vec<(String, String)>,
    /// Environment variables naming an HTTP API of the template: (variable, API logical id).
    /// They point at hook-sim's API in front of the alias.
    api_vars: Vec<(String, String)>,
    timeout: Duration,
    memory_mb: u32,
}

impl FunctionRun {
    /// The function with its API variables set to `api_url`.
    fn with_api(&self, api_url: &str) -> FunctionRun {
        let mut f = self.clone();
        for (var, _) in &self.api_vars {
            f.env.push((var.clone(), api_url.to_string()));
        }
        f
    }
}

#[derive(Debug)]
struct Setup {
    function: FunctionRun,
    alias: String,
    config_name: String,
    routing: TrafficRouting,
    hooks: Vec<(LifecycleEvent, FunctionRun)>,
    alarms: Vec<Alarm>,
    warnings: Vec<String>,
}

const CURRENT: &str = "1";
const TARGET: &str = "2";
const FUNCTION_TYPES: [&str; 2] = ["AWS::Serverless::Function", "AWS::Lambda::Function"];
const API_TYPES: [&str; 4] = [
    "AWS::ApiGatewayV2::Api",
    "AWS::Serverless::HttpApi",
    "AWS::Serverless::Api",
    "AWS::ApiGateway::RestApi",
];

/// Runs `hook-sim simulate`.
pub(crate) async fn simulate(args: SimulateArgs) -> ExitCode {
    match run(args).await {
        Ok(FinalStatus::Succeeded) => ExitCode::SUCCESS,
        Ok(FinalStatus::RolledBack) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: SimulateArgs) -> Result<FinalStatus, TemplateError> {
    if let Some(speed) = args.speed
        && !(speed.is_finite() && speed > 0.0 && speed <= 1e6)
    {
        return Err(TemplateError(format!(
            "--speed {speed}: give a number of simulated seconds per real second, above 0 and at most 1000000"
        )));
    }
    let template = Template::load(&args.template, &args.parameters, &args.stack_name, TARGET)?;
    let base = template_dir(&args.template);
    let setup = read_setup(&template, &args, &base)?;
    if args.build {
        build(&setup, &base)?;
    }
    let mut binaries = vec![
        (&setup.function, args.current_bin.as_ref()),
        (&setup.function, args.target_bin.as_ref()),
    ];
    binaries.extend(setup.hooks.iter().map(|(_, h)| (h, None)));
    for (f, over) in binaries {
        let path = over.unwrap_or(&f.binary);
        if !path.is_file() {
            let how = match (&f.cargo_bin, over) {
                (Some(bin), None) => format!("build it with `cargo build --release --bin {bin}`, or add --build"),
                _ => format!("pass --bin {}=PATH", f.logical_id),
            };
            return Err(TemplateError(format!(
                "{} (the binary of {}) does not exist: {how}",
                path.display(),
                f.logical_id
            )));
        }
    }

    let speed = args.speed.unwrap_or_else(|| default_speed(&setup.routing));
    let sim = Sim::start()
        .await
        .map_err(|e| TemplateError(format!("cannot start hook-sim on 127.0.0.1: {e}")))?;
    let api_url = sim.api_url(&setup.function.name, &setup.alias);
    let function = setup.function.with_api(&api_url);
    let mut processes: Vec<Arc<RuntimeFunction>> = Vec::new();
    let config_for = |f: &FunctionRun, version: &str, binary: Option<&PathBuf>, extra: &[(String, String)]| {
        let mut config = ProcessConfig::new(&f.name, binary.unwrap_or(&f.binary))
            .version(version)
            .timeout(f.timeout);
        config.memory_mb = f.memory_mb;
        config.env = f.env.clone();
        config.env.extend(extra.iter().cloned());
        config
    };
    let current_config = config_for(&function, CURRENT, args.current_bin.as_ref(), &args.current_env);
    let target_config = config_for(&function, TARGET, args.target_bin.as_ref(), &args.target_env);
    let hook_configs: Vec<(LifecycleEvent, ProcessConfig)> = setup
        .hooks
        .iter()
        .map(|(event, h)| (*event, config_for(&h.with_api(&api_url), "$LATEST", None, &[])))
        .collect();
    let spawn_err = |e: std::io::Error| TemplateError(format!("cannot start a Lambda Runtime API: {e}"));
    let current = sim.runtime(current_config).await.map_err(spawn_err)?;
    let target = sim.runtime(target_config).await.map_err(spawn_err)?;
    processes.extend([current.clone(), target.clone()]);
    let mut plan = DeploymentPlan::new(&function.name, Behavior::Process(current), Behavior::Process(target))
        .config(&setup.config_name, setup.routing)
        .speed(speed);
    plan.resource = function.logical_id.clone();
    plan.alias = setup.alias.clone();
    plan.application = format!("{}-ServerlessDeploymentApplication", args.stack_name);
    plan.group = format!("{}-{}DeploymentGroup", args.stack_name, function.logical_id);
    let mut hook_processes = BTreeMap::new();
    for (event, config) in hook_configs {
        let name = config.name.clone();
        let p = sim.runtime(config).await.map_err(spawn_err)?;
        processes.push(p.clone());
        hook_processes.insert(name.clone(), p.clone());
        plan = plan.hook(event, &name, Behavior::Process(p));
    }
    for alarm in &setup.alarms {
        plan = plan.alarm(alarm.clone());
    }

    let text = args.report == Report::Text;
    if text {
        print_header(&args, &setup, &plan, &api_url);
    }
    let outcome = if text {
        let printer = Printer {
            alias: setup.alias.clone(),
            hook_timeout: plan.hook_timeout,
        };
        sim.deploy_with(&plan, move |entry| printer.print(entry)).await
    } else {
        sim.deploy(&plan).await
    };
    for p in &processes {
        p.stop().await;
    }
    let hook_logs: BTreeMap<String, Vec<String>> = hook_processes
        .iter()
        .map(|(name, p)| (name.clone(), p.logs()))
        .collect();
    if text {
        print_summary(&outcome, &hook_logs);
    } else {
        let report = json!({
            "template": args.template,
            "function": {
                "logical_id": function.logical_id,
                "name": function.name,
                "alias": setup.alias,
                "current_version": CURRENT,
                "target_version": TARGET,
            },
            "config": {"name": setup.config_name, "routing": setup.routing.to_string()},
            "speed": speed,
            "hooks": setup.hooks.iter().map(|(event, h)| json!({
                "lifecycle_event": event.as_str(),
                "logical_id": h.logical_id,
                "function": h.name,
                "binary": h.binary,
            })).collect::<Vec<_>>(),
            "alarms": setup.alarms,
            "warnings": setup.warnings,
            "outcome": outcome,
            "hook_logs": hook_logs,
        });
        println!("{}", serde_json::to_string_pretty(&report).expect("reports serialize"));
    }
    Ok(outcome.status)
}

/// The template's directory: `""` for a template in the working directory, so that paths
/// beside it read `target/release/hello`.
fn template_dir(template: &Path) -> PathBuf {
    template.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// 60, or faster so that shifting takes at most 10 s of wall time.
fn default_speed(routing: &TrafficRouting) -> f64 {
    let shifting = routing.steps().last().map_or(0.0, |s| s.at.as_secs_f64());
    (shifting / 10.0).max(60.0)
}

fn build(setup: &Setup, base: &Path) -> Result<(), TemplateError> {
    let mut bins: Vec<&str> = std::iter::once(&setup.function)
        .chain(setup.hooks.iter().map(|(_, h)| h))
        .filter_map(|f| f.cargo_bin.as_deref())
        .collect();
    bins.sort_unstable();
    bins.dedup();
    if bins.is_empty() {
        return Ok(());
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut cmd = std::process::Command::new(&cargo);
    if !base.as_os_str().is_empty() {
        cmd.current_dir(base);
    }
    cmd.args(["build", "--release"]);
    for b in &bins {
        cmd.args(["--bin", b]);
    }
    eprintln!("building: cargo build --release --bin {}", bins.join(" --bin "));
    let status = cmd
        .status()
        .map_err(|e| TemplateError(format!("cannot run {cargo}: {e}")))?;
    if !status.success() {
        return Err(TemplateError(format!(
            "cargo build failed ({status}): see its output above"
        )));
    }
    Ok(())
}

fn read_setup(t: &Template, args: &SimulateArgs, base: &Path) -> Result<Setup, TemplateError> {
    let mut warnings = Vec::new();
    let logical_id = match &args.function {
        Some(id) => {
            if !t.resource_type(id).is_some_and(|ty| FUNCTION_TYPES.contains(&ty)) {
                let functions = functions_with_preference(t);
                return Err(TemplateError(format!(
                    "--function {id}: {} has no function {id} (functions with a DeploymentPreference: {})",
                    t.path.display(),
                    list(&functions)
                )));
            }
            id.clone()
        }
        None => match functions_with_preference(t).as_slice() {
            [one] => one.clone(),
            [] => {
                return Err(TemplateError(format!(
                    "{} has no function with an enabled DeploymentPreference: nothing to deploy gradually",
                    t.path.display()
                )));
            }
            many => {
                return Err(TemplateError(format!(
                    "{} has several functions with a DeploymentPreference ({}): choose one with --function",
                    t.path.display(),
                    many.join(", ")
                )));
            }
        },
    };
    let preference = t
        .function_property(&logical_id, "DeploymentPreference")
        .ok_or_else(|| {
            TemplateError(format!(
                "{logical_id} has no DeploymentPreference: CodeDeploy does not deploy it gradually"
            ))
        })?;
    if let Some(enabled) = preference.get("Enabled")
        && t.eval(enabled)? == json!(false)
    {
        return Err(TemplateError(format!(
            "the DeploymentPreference of {logical_id} is disabled (Enabled: false)"
        )));
    }
    let alias = t
        .function_property(&logical_id, "AutoPublishAlias")
        .map(|a| t.eval(&a).map(|v| scalar_text(&v)))
        .transpose()?
        .filter(|a| !a.is_empty())
        .ok_or_else(|| {
            TemplateError(format!(
                "{logical_id} has a DeploymentPreference but no AutoPublishAlias: SAM needs the alias whose traffic shifts"
            ))
        })?;
    let function = function_run(t, &logical_id, args, base)?;

    let (config_name, routing) = match &args.config {
        Some(name) => config_by_name(t, name)?,
        None => {
            let ty = preference
                .get("Type")
                .ok_or_else(|| TemplateError(format!("the DeploymentPreference of {logical_id} has no Type")))?;
            match t.referenced(ty)? {
                Some(id) => config_resource(t, id)?,
                None => config_by_name(t, &scalar_text(&t.eval(ty)?))?,
            }
        }
    };

    let mut hooks = Vec::new();
    let custom_role = preference.get("Role").is_some();
    if let Some(h) = preference.get("Hooks") {
        for (key, event) in [
            ("PreTraffic", LifecycleEvent::BeforeAllowTraffic),
            ("PostTraffic", LifecycleEvent::AfterAllowTraffic),
        ] {
            let Some(v) = h.get(key) else { continue };
            let id = t.referenced(v)?.ok_or_else(|| {
                TemplateError(format!(
                    "Hooks.{key} of {logical_id} must be !Ref of a function in the template to be simulated, not {v}"
                ))
            })?;
            let hook = function_run(t, id, args, base)?;
            if !custom_role && !hook.name.starts_with("CodeDeployHook_") {
                warnings.push(format!(
                    "hook {id} is named {}: SAM's CodeDeploy role may invoke only functions named CodeDeployHook_*, \
                     so in AWS this deployment would fail to invoke it",
                    hook.name
                ));
            }
            hooks.push((event, hook));
        }
    }

    let mut alarms = Vec::new();
    if let Some(list) = preference.get("Alarms") {
        let list = t.pick(list)?;
        for entry in list.as_array().cloned().unwrap_or_default() {
            match t.referenced(&entry)? {
                Some(id) => match alarm(t, id, &function.name)? {
                    Ok(a) => alarms.push(a),
                    Err(why) => warnings.push(format!("alarm {id} is not simulated: {why}")),
                },
                None => {
                    let v = t.eval(&entry)?;
                    if !v.is_null() {
                        warnings.push(format!(
                            "alarm {} is not defined in the template: it is not simulated",
                            scalar_text(&v)
                        ));
                    }
                }
            }
        }
    }

    Ok(Setup {
        function,
        alias,
        config_name,
        routing,
        hooks,
        alarms,
        warnings,
    })
}

fn functions_with_preference(t: &Template) -> Vec<String> {
    t.resources()
        .into_iter()
        .filter(|(id, ty)| {
            FUNCTION_TYPES.contains(&ty.as_str())
                && t.function_property(id, "DeploymentPreference").is_some_and(|p| {
                    p.get("Enabled")
                        .is_none_or(|e| t.eval(e).map(|v| v != json!(false)).unwrap_or(true))
                })
        })
        .map(|(id, _)| id)
        .collect()
}

/// The API resource a value refers to (`${HelloApi}` in a `!Sub`, or `!Ref HelloApi`).
fn api_named_in(t: &Template, v: &Value) -> Option<String> {
    let text = v.to_string();
    t.resources().into_iter().find_map(|(id, ty)| {
        (API_TYPES.contains(&ty.as_str())
            && (text.contains(&format!("${{{id}}}"))
                || text.contains(&format!("${{{id}."))
                || *v == json!({"Ref": id})))
        .then_some(id)
    })
}

fn function_run(t: &Template, id: &str, args: &SimulateArgs, base: &Path) -> Result<FunctionRun, TemplateError> {
    let name = t.physical_name(id)?;
    let resource = t.resource(id).cloned().unwrap_or_default();
    let metadata = resource.get("Metadata").cloned().unwrap_or_default();
    let mut env = Vec::new();
    let mut api_vars = Vec::new();
    let target_dir = cargo_target_dir(base);
    let by_name = |bin: &str| -> (PathBuf, Option<String>) {
        if bin.contains('/') {
            (base.join(bin), None)
        } else {
            (target_dir.join("release").join(bin), Some(bin.to_string()))
        }
    };
    let (binary, cargo_bin) = if let Some((_, path)) = args.bins.iter().rev().find(|(k, _)| k == id) {
        (PathBuf::from(path), None)
    } else if let Some(sim) = metadata.get("Simulate") {
        let bin = sim.get("Binary").and_then(Value::as_str).ok_or_else(|| {
            TemplateError(format!(
                "Metadata.Simulate of {id} has no Binary: name the binary that runs it"
            ))
        })?;
        if let Some(spec) = sim.get("Spec").and_then(Value::as_str) {
            env.push(("HOOK_SPEC_FILE".to_string(), base.join(spec).display().to_string()));
        }
        by_name(bin)
    } else if let Some(bin) = metadata.pointer("/BuildProperties/Binary").and_then(Value::as_str) {
        by_name(bin)
    } else {
        return Err(TemplateError(format!(
            "cannot tell which binary runs {id}: give it Metadata.BuildProperties.Binary (cargo-lambda), \
             Metadata.Simulate.Binary, or pass --bin {id}=PATH"
        )));
    };
    if let Some(vars) = t
        .function_property(id, "Environment")
        .and_then(|e| e.get("Variables").cloned())
    {
        for (k, v) in vars.as_object().into_iter().flatten() {
            if let Some(api) = api_named_in(t, v) {
                api_vars.push((k.clone(), api));
                continue;
            }
            match t.eval(v) {
                Ok(value) => env.push((k.clone(), scalar_text(&value))),
                Err(e) => {
                    return Err(TemplateError(format!("environment variable {k} of {id}: {e}")));
                }
            }
        }
    }
    let number = |name: &str, default: f64| -> Result<f64, TemplateError> {
        match t.function_property(id, name) {
            None => Ok(default),
            Some(v) => scalar_text(&t.eval(&v)?)
                .parse()
                .map_err(|_| TemplateError(format!("{name} of {id} is not a number"))),
        }
    };
    let timeout = number("Timeout", 3.0)?;
    if !(1.0..=900.0).contains(&timeout) {
        return Err(TemplateError(format!(
            "Timeout of {id} is {timeout}: Lambda allows 1 to 900 seconds"
        )));
    }
    Ok(FunctionRun {
        logical_id: id.to_string(),
        name,
        binary,
        cargo_bin,
        env,
        api_vars,
        timeout: Duration::from_secs_f64(timeout),
        memory_mb: number("MemorySize", 128.0)? as u32,
    })
}

/// Where cargo builds for a template in `base`: `CARGO_TARGET_DIR`, or `target/` of the
/// nearest folder up from `base` with a `Cargo.lock` (the workspace), or `base/target`.
fn cargo_target_dir(base: &Path) -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    let start = if base.as_os_str().is_empty() {
        Path::new(".")
    } else {
        base
    };
    let workspace = start.canonicalize().ok().and_then(|abs| {
        abs.ancestors()
            .find(|d| d.join("Cargo.lock").is_file())
            .map(Path::to_path_buf)
    });
    match workspace {
        Some(root) if root == start.canonicalize().unwrap_or_default() => base.join("target"),
        Some(root) => root.join("target"),
        None => base.join("target"),
    }
}

fn config_by_name(t: &Template, name: &str) -> Result<(String, TrafficRouting), TemplateError> {
    if t.resource_type(name) == Some("AWS::CodeDeploy::DeploymentConfig") {
        return config_resource(t, name);
    }
    // A DeploymentConfig of the template named by its physical name.
    for (id, ty) in t.resources() {
        if ty == "AWS::CodeDeploy::DeploymentConfig" && t.physical_name(&id)? == name {
            return config_resource(t, &id);
        }
    }
    match TrafficRouting::predefined(name) {
        Some(r) => {
            let full = if name.starts_with("CodeDeployDefault.") {
                name.to_string()
            } else {
                format!("CodeDeployDefault.Lambda{name}")
            };
            Ok((full, r))
        }
        None => {
            let mut known: Vec<String> = PREDEFINED
                .iter()
                .map(|p| p.trim_start_matches("CodeDeployDefault.Lambda").to_string())
                .collect();
            known.extend(
                t.resources()
                    .into_iter()
                    .filter(|(_, ty)| ty == "AWS::CodeDeploy::DeploymentConfig")
                    .map(|(id, _)| id),
            );
            Err(TemplateError(format!(
                "deployment config {name:?} is neither a predefined Lambda config nor one of the template's: use one of {}",
                known.join(", ")
            )))
        }
    }
}

fn config_resource(t: &Template, id: &str) -> Result<(String, TrafficRouting), TemplateError> {
    let props = t.eval(&t.resource(id).cloned().unwrap_or_default()["Properties"])?;
    if props
        .get("ComputePlatform")
        .and_then(Value::as_str)
        .is_some_and(|p| p != "Lambda")
    {
        return Err(TemplateError(format!(
            "deployment config {id} is not for Lambda (ComputePlatform)"
        )));
    }
    let routing = &props["TrafficRoutingConfig"];
    let num = |v: &Value, what: &str| -> Result<u32, TemplateError> {
        scalar_text(v)
            .parse::<u32>()
            .map_err(|_| TemplateError(format!("{what} of deployment config {id} is not a whole number")))
    };
    let r = match routing.get("Type").and_then(Value::as_str) {
        Some("AllAtOnce") => TrafficRouting::AllAtOnce,
        Some(kind @ ("TimeBasedCanary" | "TimeBasedLinear")) => {
            let (pct_key, interval_key) = if kind == "TimeBasedCanary" {
                ("CanaryPercentage", "CanaryInterval")
            } else {
                ("LinearPercentage", "LinearInterval")
            };
            let percentage = num(&routing[kind][pct_key], pct_key)?;
            let minutes = num(&routing[kind][interval_key], interval_key)?;
            if !(1..=99).contains(&percentage) || minutes == 0 {
                return Err(TemplateError(format!(
                    "deployment config {id}: {pct_key} must be 1 to 99 and {interval_key} at least 1 minute"
                )));
            }
            let interval = Duration::from_secs(60 * u64::from(minutes));
            if kind == "TimeBasedCanary" {
                TrafficRouting::TimeBasedCanary { percentage, interval }
            } else {
                TrafficRouting::TimeBasedLinear { percentage, interval }
            }
        }
        other => {
            return Err(TemplateError(format!(
                "deployment config {id}: TrafficRoutingConfig.Type {other:?} is not AllAtOnce, TimeBasedCanary or TimeBasedLinear"
            )));
        }
    };
    Ok((id.to_string(), r))
}

/// The alarm `id` as hook-sim evaluates it, or why it cannot be.
fn alarm(t: &Template, id: &str, function: &str) -> Result<Result<Alarm, String>, TemplateError> {
    if t.resource_type(id) != Some("AWS::CloudWatch::Alarm") {
        return Ok(Err(format!("{id} is not an AWS::CloudWatch::Alarm")));
    }
    let p = t.eval(&t.resource(id).cloned().unwrap_or_default()["Properties"])?;
    Ok(alarm_of(id, &p, function))
}

fn alarm_of(id: &str, p: &Value, function: &str) -> Result<Alarm, String> {
    let number = |v: Option<&Value>, key: &str| -> Result<Option<f64>, String> {
        match v {
            None => Ok(None),
            Some(v) => scalar_text(v)
                .parse()
                .map(Some)
                .map_err(|_| format!("{key} is not a number")),
        }
    };
    let (source, period) = match p.get("Metrics").and_then(Value::as_array) {
        None => (
            AlarmSource::Metric(metric_query(p, p.get("Statistic"), function)?),
            number(p.get("Period"), "Period")?,
        ),
        Some(metrics) => {
            let mut queries = BTreeMap::new();
            let mut returned = None;
            let mut period = None;
            for m in metrics {
                let mid = m
                    .get("Id")
                    .and_then(Value::as_str)
                    .ok_or("an entry of Metrics has no Id")?;
                let returns = m.get("ReturnData") != Some(&json!(false));
                if let Some(stat) = m.get("MetricStat") {
                    queries.insert(
                        mid.to_string(),
                        metric_query(&stat["Metric"], stat.get("Stat"), function)?,
                    );
                    period = number(stat.get("Period"), "MetricStat.Period")?.or(period);
                    if returns {
                        returned = Some(Err(mid.to_string()));
                    }
                } else if let Some(expr) = m.get("Expression").and_then(Value::as_str) {
                    if !returns {
                        return Err(format!(
                            "expression {mid} is an input of another expression: not simulated"
                        ));
                    }
                    returned = Some(Ok(expr.to_string()));
                }
            }
            let source = match returned {
                Some(Ok(expr)) => AlarmSource::Expression(Expression::parse(&expr, queries)?),
                Some(Err(mid)) => AlarmSource::Metric(queries.remove(&mid).expect("inserted above")),
                None => return Err("none of its Metrics has ReturnData true".into()),
            };
            (source, period)
        }
    };
    let comparison = match p.get("ComparisonOperator").and_then(Value::as_str) {
        Some("GreaterThanThreshold") => Comparison::GreaterThanThreshold,
        Some("GreaterThanOrEqualToThreshold") => Comparison::GreaterThanOrEqualToThreshold,
        Some("LessThanThreshold") => Comparison::LessThanThreshold,
        Some("LessThanOrEqualToThreshold") => Comparison::LessThanOrEqualToThreshold,
        other => return Err(format!("comparison {} is not simulated", other.unwrap_or("(none)"))),
    };
    let threshold = number(p.get("Threshold"), "Threshold")?.ok_or("it has no Threshold")?;
    let period = period.unwrap_or(60.0);
    if period < 10.0 {
        return Err(format!("Period {period} s is below CloudWatch's 10 s"));
    }
    let evaluation_periods = number(p.get("EvaluationPeriods"), "EvaluationPeriods")?.unwrap_or(1.0) as u32;
    let datapoints = number(p.get("DatapointsToAlarm"), "DatapointsToAlarm")?;
    let mut alarm = Alarm::new(id, source, comparison, threshold);
    alarm.period = Duration::from_secs_f64(period);
    alarm.evaluation_periods = evaluation_periods.max(1);
    alarm.datapoints_to_alarm = datapoints.map_or(alarm.evaluation_periods, |d| d as u32);
    Ok(alarm)
}

/// A metric of the deployed function: `Namespace`, `MetricName` and `Dimensions` of `m`.
fn metric_query(m: &Value, statistic: Option<&Value>, function: &str) -> Result<MetricQuery, String> {
    if m.get("Namespace").and_then(Value::as_str) != Some("AWS/Lambda") {
        return Err("it watches no AWS/Lambda metric".into());
    }
    let metric = match m.get("MetricName").and_then(Value::as_str) {
        Some("Errors") => Metric::Errors,
        Some("Invocations") => Metric::Invocations,
        other => {
            return Err(format!(
                "metric {} is not simulated (Errors and Invocations are)",
                other.unwrap_or("(none)")
            ));
        }
    };
    let statistic = match statistic.and_then(Value::as_str) {
        Some("Sum") => Statistic::Sum,
        Some("Average") => Statistic::Average,
        Some("Maximum") => Statistic::Maximum,
        Some("Minimum") => Statistic::Minimum,
        Some("SampleCount") => Statistic::SampleCount,
        Some(other) => return Err(format!("statistic {other} is not simulated")),
        None if m.get("ExtendedStatistic").is_some() => {
            return Err("percentiles (ExtendedStatistic) are not simulated".into());
        }
        None => return Err("it has no Statistic".into()),
    };
    let mut query = MetricQuery::new(metric, statistic);
    for d in m.get("Dimensions").and_then(Value::as_array).into_iter().flatten() {
        let value = scalar_text(&d["Value"]);
        match d["Name"].as_str() {
            Some("FunctionName") if value != function => {
                return Err(format!("it watches function {value}, not {function}"));
            }
            Some("FunctionName") => {}
            Some("Resource") => {
                let (name, q) = value.split_once(':').unwrap_or((&value, ""));
                if name != function {
                    return Err(format!("it watches resource {value}, not {function}"));
                }
                query.qualifier = (!q.is_empty()).then(|| q.to_string());
            }
            Some("ExecutedVersion") => query.executed_version = Some(value),
            other => return Err(format!("dimension {other:?} is not simulated")),
        }
    }
    Ok(query)
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

fn print_header(args: &SimulateArgs, setup: &Setup, plan: &DeploymentPlan, api_url: &str) {
    let f = &setup.function;
    println!(
        "hook-sim simulate: {} ({}) of {}",
        f.logical_id,
        f.name,
        args.template.display()
    );
    let env =
        |e: &[(String, String)]| -> String { e.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ") };
    let mut versions = format!("alias {}: version {CURRENT} → {TARGET}", setup.alias);
    if !args.current_env.is_empty() {
        versions.push_str(&format!("; {CURRENT} runs with {}", env(&args.current_env)));
    }
    if !args.target_env.is_empty() {
        versions.push_str(&format!("; {TARGET} runs with {}", env(&args.target_env)));
    }
    println!("  function   {}  {versions}", f.binary.display());
    println!("  config     {}: {}", setup.config_name, setup.routing);
    for (i, (event, h)) in setup.hooks.iter().enumerate() {
        println!(
            "  {}{:<18} {} ({}, timeout {})",
            if i == 0 { "hooks      " } else { "           " },
            event.as_str(),
            h.name,
            h.binary.display(),
            human(h.timeout)
        );
    }
    if setup.hooks.is_empty() {
        println!("  hooks      none");
    }
    for (i, a) in setup.alarms.iter().enumerate() {
        println!(
            "  {}{}: {a}",
            if i == 0 { "alarms     " } else { "           " },
            a.name
        );
    }
    if setup.alarms.is_empty() {
        println!("  alarms     none");
    }
    for f in std::iter::once(&setup.function).chain(setup.hooks.iter().map(|(_, h)| h)) {
        for (var, api) in &f.api_vars {
            println!("  api        {api} → {api_url} ({var} of {})", f.logical_id);
        }
    }
    println!(
        "  traffic    GET /hello through alias {}, a request every 10 ms of wall time",
        setup.alias
    );
    println!(
        "  time       ×{}: a simulated minute takes {}; CodeDeploy waits {} ({} here) for a hook's status",
        trim(plan.speed),
        human_real(Duration::from_secs(60).div_f64(plan.speed)),
        human(plan.hook_timeout),
        human_real(plan.hook_timeout.div_f64(plan.speed))
    );
    for w in &setup.warnings {
        println!("  warning    {w}");
    }
    println!();
}

fn trim(x: f64) -> String {
    let s = format!("{x:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn human_real(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        human(Duration::from_millis(d.as_millis() as u64))
    }
}

/// `2:05.3`, or `1:02:05` past an hour.
fn clock(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 3600.0 {
        let s = s as u64;
        format!("{}:{:02}:{:02}", s / 3600, (s % 3600) / 60, s % 60)
    } else {
        format!("{}:{:04.1}", (s / 60.0).floor() as u64, s % 60.0)
    }
}

struct Printer {
    alias: String,
    hook_timeout: Duration,
}

impl Printer {
    fn print(&self, entry: &TimelineEntry) {
        let line = match &entry.event {
            Event::DeploymentStarted { deployment_id, config } => {
                format!(
                    "deployment {deployment_id} ({config}): alias {} serves version {CURRENT}",
                    self.alias
                )
            }
            Event::HookInvoked {
                lifecycle_event,
                function,
                attempt,
            } => {
                let retry = if *attempt > 1 {
                    format!(" (attempt {attempt}: Lambda retries)")
                } else {
                    String::new()
                };
                format!("{:<19} invoke {function}{retry}", lifecycle_event.as_str())
            }
            Event::HookInvocationFailed {
                lifecycle_event,
                error,
                retried,
                ..
            } => format!(
                "{:<19} the hook's invocation failed: {}{}",
                lifecycle_event.as_str(),
                shorten(error, 160),
                if *retried {
                    String::new()
                } else {
                    format!(
                        " (no more retries: CodeDeploy waits for a status, {} at most)",
                        human(self.hook_timeout)
                    )
                }
            ),
            Event::HookReturnedWithoutStatus {
                lifecycle_event,
                function,
            } => format!(
                "{:<19} {function} returned without reporting a status: CodeDeploy waits for one, {} at most",
                lifecycle_event.as_str(),
                human(self.hook_timeout)
            ),
            Event::HookReported {
                lifecycle_event,
                status,
                took,
                ..
            } => format!(
                "{:<19} {} {status} (reported after {})",
                lifecycle_event.as_str(),
                if status == "Succeeded" { "✔" } else { "✘" },
                human_real(*took)
            ),
            Event::HookTimedOut { lifecycle_event, .. } => format!(
                "{:<19} ✘ no status within {}: timed out",
                lifecycle_event.as_str(),
                human(self.hook_timeout)
            ),
            Event::TrafficShifted { weight, step, steps } => {
                let filled = (weight * 20.0).round() as usize;
                format!(
                    "traffic {:>5} % → version {TARGET}  [{}{}]  step {step} of {steps}",
                    trim(weight * 100.0),
                    "█".repeat(filled),
                    "░".repeat(20 - filled.min(20))
                )
            }
            Event::AlarmFired {
                alarm,
                value,
                condition,
            } => {
                format!("alarm {alarm} → ALARM: {condition} (value {})", trim(*value))
            }
            Event::RolledBack { reason } => {
                format!(
                    "✘ rolled back ({reason}): alias {} serves version {CURRENT}",
                    self.alias
                )
            }
            Event::DeploymentSucceeded => format!("✔ Succeeded: alias {} serves version {TARGET}", self.alias),
        };
        println!("  {:>9}  {line}", clock(entry.at));
    }
}

/// A hook's log line for people: hook-sdk's JSON records (Lambda's log format) in short,
/// anything else as it is.
fn readable(line: &str) -> Vec<String> {
    let Ok(Value::Object(record)) = serde_json::from_str::<Value>(line) else {
        return vec![line.to_string()];
    };
    let text = |k: &str| record.get(k).map(scalar_text).unwrap_or_default();
    match record.get("record").and_then(Value::as_str) {
        Some("check") => {
            let mark = match text("outcome").as_str() {
                "Passed" => "✔",
                "Skipped" => "-",
                _ => "✘",
            };
            let mut out = vec![format!(
                "{mark} {} [{}]: {}",
                text("name"),
                text("target"),
                text("outcome")
            )];
            for a in record.get("assertions").and_then(Value::as_array).into_iter().flatten() {
                if a["passed"] == json!(false) {
                    out.push(format!(
                        "    {}: expected {}, actual {}",
                        scalar_text(&a["query"]),
                        scalar_text(&a["expected"]),
                        shorten(&scalar_text(&a["actual"]), 200)
                    ));
                }
            }
            if let Some(e) = record.get("error").filter(|e| !e.is_null()) {
                out.push(format!("    error: {}", shorten(&scalar_text(e), 200)));
            }
            out
        }
        Some("summary") => Vec::new(),
        // The hook's progress; its checks, warnings, errors and the status it sent stay.
        _ if matches!(text("level").as_str(), "INFO" | "DEBUG" | "TRACE") && text("message") != "status reported" => {
            Vec::new()
        }
        _ => {
            let mut l = format!("{:<5} {}", text("level"), text("message"));
            for (k, v) in &record {
                if !matches!(k.as_str(), "level" | "message" | "span" | "timestamp" | "target") {
                    l.push_str(&format!(" {k}={}", shorten(&scalar_text(v), 200)));
                }
            }
            vec![l]
        }
    }
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(max).collect::<String>())
    }
}

fn print_summary(outcome: &DeploymentOutcome, hook_logs: &BTreeMap<String, Vec<String>>) {
    println!();
    let took = format!(
        "in {} ({} simulated)",
        human_real(outcome.real),
        human(Duration::from_secs(outcome.simulated.as_secs()))
    );
    match &outcome.rollback {
        None => println!("result     Succeeded {took}"),
        Some(reason) => println!("result     rolled back {took}: {reason}"),
    }
    let traffic: Vec<String> = [CURRENT, TARGET]
        .iter()
        .map(|v| {
            let t = outcome.traffic.get(*v).cloned().unwrap_or_default();
            format!("version {v} served {} requests, {} errors", t.requests, t.errors)
        })
        .collect();
    println!("traffic    {}", traffic.join("; "));
    let failed_hook = match &outcome.rollback {
        Some(Rollback::HookFailed { function, .. } | Rollback::HookTimedOut { function, .. }) => Some(function),
        _ => None,
    };
    if let Some(function) = failed_hook
        && let Some(lines) = hook_logs.get(function)
    {
        let shown = &lines[lines.len().saturating_sub(30)..];
        println!(
            "\nlog of {function}{}:",
            if shown.len() < lines.len() {
                " (last 30 lines)"
            } else {
                ""
            }
        );
        for line in shown {
            for l in readable(line) {
                println!("  │ {l}");
            }
        }
        if lines.is_empty() {
            println!("  │ (nothing)");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_read_like_timers() {
        assert_eq!(clock(Duration::from_millis(125_340)), "2:05.3");
        assert_eq!(clock(Duration::from_secs(3725)), "1:02:05");
        assert_eq!(clock(Duration::ZERO), "0:00.0");
    }

    fn props(yaml: &str) -> Value {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn reads_single_metric_alarms() {
        let p = props(
            "{Namespace: AWS/Lambda, MetricName: Errors, Statistic: Average, Threshold: 0.05, Period: 120, \
             EvaluationPeriods: 3, DatapointsToAlarm: 2, ComparisonOperator: GreaterThanOrEqualToThreshold, \
             Dimensions: [{Name: FunctionName, Value: f}, {Name: Resource, Value: 'f:live'}, {Name: ExecutedVersion, Value: '2'}]}",
        );
        let a = alarm_of("A", &p, "f").unwrap();
        assert_eq!(
            a.to_string(),
            "Errors Average (through live, version 2) >= 0.05 for 2 of 3 period(s) of 2 min"
        );
    }

    #[test]
    fn reads_metric_math_alarms() {
        let p = props(
            "{ComparisonOperator: GreaterThanThreshold, Threshold: 5, Metrics: [\
               {Id: e, ReturnData: false, MetricStat: {Metric: {Namespace: AWS/Lambda, MetricName: Errors}, Period: 60, Stat: Sum}},\
               {Id: i, ReturnData: false, MetricStat: {Metric: {Namespace: AWS/Lambda, MetricName: Invocations}, Period: 60, Stat: Sum}},\
               {Id: r, Expression: 100 * e / i}]}",
        );
        let a = alarm_of("Rate", &p, "f").unwrap();
        assert!(
            matches!(&a.source, AlarmSource::Expression(e) if e.text == "100 * e / i"),
            "{a:?}"
        );
    }

    #[test]
    fn says_why_an_alarm_is_not_simulated() {
        let why = |yaml: &str| alarm_of("A", &props(yaml), "f").unwrap_err();
        assert!(why("{Namespace: AWS/ApiGateway, MetricName: 5XXError, Statistic: Sum, Threshold: 1, ComparisonOperator: GreaterThanThreshold}").contains("no AWS/Lambda metric"));
        assert!(why("{Namespace: AWS/Lambda, MetricName: Duration, Statistic: Sum, Threshold: 1, ComparisonOperator: GreaterThanThreshold}").contains("metric Duration is not simulated"));
        assert!(why("{Namespace: AWS/Lambda, MetricName: Errors, Statistic: Sum, Threshold: 1, ComparisonOperator: GreaterThanThreshold, Dimensions: [{Name: FunctionName, Value: other}]}").contains("watches function other, not f"));
        assert!(why("{Namespace: AWS/Lambda, MetricName: Errors, ExtendedStatistic: p99, Threshold: 1, ComparisonOperator: GreaterThanThreshold}").contains("percentiles (ExtendedStatistic) are not simulated"));
        assert!(why("{ComparisonOperator: GreaterThanThreshold, Threshold: 1, Metrics: [{Id: e, ReturnData: false, MetricStat: {Metric: {Namespace: AWS/Lambda, MetricName: Errors}, Period: 60, Stat: Sum}}, {Id: r, Expression: 'FILL(e, 0)'}]}").contains("FILL(...) is not simulated"));
    }

    #[test]
    fn default_speed_keeps_shifting_under_ten_seconds() {
        assert_eq!(default_speed(&TrafficRouting::AllAtOnce), 60.0);
        let linear = TrafficRouting::predefined("Linear10PercentEvery10Minutes").unwrap();
        assert_eq!(default_speed(&linear), 540.0);
    }
}
