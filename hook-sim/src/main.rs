//! `hook-sim`: local AWS for CodeDeploy lifecycle hooks. `simulate` rehearses a function's
//! gradual deployment from its template; `audit` rehearses it once per kind of bad version; `hook` runs one hook binary against a simulated
//! deployment; `serve` serves the endpoints.
//!
//! ```text
//! cargo run --release -p hook-sim -- simulate --build
//! cargo run --release -p hook-sim -- simulate --target-env HELLO_FAULT=error
//! cargo run --release -p hook-sim -- hook
//! ```

/// `println!` for a command-line tool: when stdout is closed (`hook-sim simulate | head -2`),
/// the process ends quietly with the status a shell gives a process ended by `SIGPIPE`.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::stdout_line(format_args!($($arg)*))
    };
}

mod cli;

use cli::key_value;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use hook_sim::{Behavior, DeploymentSetup, FunctionSetup, ProcessConfig, Service, Sim, lambda_appspec};

#[derive(Parser)]
#[command(name = "hook-sim", version, about = "Local AWS for CodeDeploy lifecycle hooks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Simulates a function's gradual deployment from a SAM template, locally: hooks and
    /// function versions run as real binaries against hook-sim's CodeDeploy and Lambda, traffic
    /// shifts on the deployment config's schedule (time scaled), alarms watch the errors.
    /// Exit 0 when it succeeds, 1 when it is rolled back, 2 on bad usage.
    #[command(after_help = cli::simulate::EXAMPLES)]
    Simulate(cli::simulate::SimulateArgs),
    /// Would your canary catch it? Rehearses the template's deployment once per kind of bad
    /// version of a catalogue (errors, latency, timeouts, HTTP 500s, init failures, wrong
    /// answers, late faults), each over several seeds, and the healthy version over the same
    /// seeds, against the template's own hooks and alarms; says for each fault whether a gate
    /// stopped it, which one first, how soon, how much traffic and how many users it reached,
    /// and why a miss was missed. Exit 0, or 1 when a --require does not hold, 2 on bad usage.
    #[command(after_help = cli::audit::EXAMPLES)]
    Audit(cli::audit::AuditArgs),
    /// Reads a template as `simulate` does and runs nothing: for each hook, whether CodeDeploy's
    /// role may invoke it and its own role may do what a hook does (read its deployment, report,
    /// invoke the target, read the metrics), and whether each alarm can fire in AWS. For CI.
    /// Exit 0 when nothing stands in the way, 1 on a problem AWS would meet, 2 on bad usage.
    #[command(after_help = cli::simulate::check::EXAMPLES)]
    Check(cli::simulate::check::CheckArgs),
    /// Runs one lifecycle hook, a real Lambda binary, against a simulated deployment of a
    /// real function binary, and shows every call it makes and the status it reports.
    #[command(after_help = "Examples:\n  \
        hook-sim hook\n  \
        hook-sim hook --target-env HELLO_FAULT=error\n  \
        hook-sim hook --hook target/release/my-hook --function target/release/my-fn --phase AfterAllowTraffic")]
    Hook(HookArgs),
    /// Serves a template's functions on the Lambda and CodeDeploy endpoints until stopped —
    /// each with version 1 and 2 running its code (any runtime `simulate` runs), its alias on 1,
    /// and a deployment from 1 to 2 — and prints what to export to run checks against them.
    #[command(after_help = "Examples:\n  \
        hook-sim serve &                      # template.yaml's HelloFunction\n  \
        export AWS_ENDPOINT_URL=http://127.0.0.1:4566\n  \
        hook-runner run hook-examples/smoke.yaml --function sam-app-HelloFunction --qualifier 2\n  \
        hook-sim serve --template hook-examples/python/template.yaml --target-env HELLO_FAULT=error\n  \
        hook-sim serve --hello hello-fn       # scripted hello functions, no template")]
    Serve(ServeArgs),
}

#[derive(Parser)]
struct ServeArgs {
    /// The port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 4566)]
    port: u16,
    /// Instead of a template's functions: a scripted function following the hello contract,
    /// versions 1 and 2, alias `live` on 1 (repeatable).
    #[arg(long)]
    hello: Vec<String>,
    /// The most calls, and the most invocations (the metric store), kept: the newest (a call's
    /// request kept up to 16 KiB, 64 MiB of them at most). Memory stays bounded however long it
    /// serves; GetMetricData answers a window reaching into what was forgotten as PartialData,
    /// never as smaller figures.
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    keep: usize,
    /// CloudWatch shows each invocation as soon as it ends, instead of a minute after its minute
    /// (as Lambda's metrics are published): to try a metrics check (`hook-runner run` with
    /// `--alias` and `--current`) right after sending traffic, without waiting.
    #[arg(long)]
    metrics_at_once: bool,
    /// A fault applied to a version of each function served, from outside it (repeatable):
    /// spelled as `simulate --fault` spells it, e.g. `error,rate=5%` (version 2, the target,
    /// by default).
    #[arg(long = "fault", value_name = "FAULT")]
    faults: Vec<hook_sim::VersionFault>,
    /// The seed of the faults' draws (which invocations a `rate` picks).
    #[arg(long, value_name = "N", default_value_t = 1)]
    seed: u64,
    #[command(flatten)]
    stack: cli::simulate::StackArgs,
}

async fn serve(args: ServeArgs) -> Result<bool, String> {
    if args.hello.is_empty() {
        let faults = (args.faults.as_slice(), args.seed);
        return cli::simulate::serve_stack(&args.stack, args.port, args.keep, args.metrics_at_once, faults)
            .await
            .map(|()| true)
            .map_err(|e| cli::error_text(&e));
    }
    let sim = Sim::bind(std::net::SocketAddr::from(([127, 0, 0, 1], args.port)))
        .await
        .map_err(|e| {
            format!(
                "cannot listen on 127.0.0.1:{} ({e}){}",
                args.port,
                cli::simulate::listen_hint(&e)
            )
        })?;
    sim.keep_records(args.keep);
    sim.publish_metrics_at_once(args.metrics_at_once);
    if args.metrics_at_once {
        eprintln!("{}", cli::simulate::METRICS_AT_ONCE_WARNING);
    }
    for name in &args.hello {
        sim.add_function(
            name,
            FunctionSetup::new()
                .version("1", Behavior::hello("1"))
                .version("2", Behavior::hello("2"))
                .alias("live", "1"),
        );
        for fault in &args.faults {
            sim.inject_version_fault(name, fault.version.resolve("1", "2"), fault.clone(), args.seed);
        }
    }
    say!("endpoint {}", sim.endpoint_url());
    for name in &args.hello {
        say!(
            "function {name}: versions 1, 2; alias live -> 1; HTTP API {}",
            sim.api_url(name, "live")
        );
    }
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    tokio::signal::ctrl_c().await.map_err(|e| e.to_string())?;
    Ok(true)
}

#[derive(Parser)]
struct HookArgs {
    /// The hook's bootstrap binary.
    #[arg(long, default_value = "target/release/pre-traffic")]
    hook: PathBuf,
    /// The deployed function's bootstrap binary (run for both versions).
    #[arg(long, default_value = "target/release/hello")]
    function: PathBuf,
    /// The lifecycle event to run the hook in: BeforeAllowTraffic (or before), AfterAllowTraffic
    /// (or after), as `hook-runner run --phase` takes it.
    #[arg(long, default_value = "BeforeAllowTraffic")]
    phase: hook_spec::Phase,
    /// The hook's function name.
    #[arg(long, default_value = "CodeDeployHook_pre")]
    hook_name: String,
    /// The deployed function's name.
    #[arg(long, default_value = "hello-fn")]
    function_name: String,
    /// Environment of the target version's process, KEY=VALUE (repeatable).
    #[arg(long, value_parser = key_value)]
    target_env: Vec<(String, String)>,
    /// Environment of the hook's process, KEY=VALUE (repeatable).
    #[arg(long, value_parser = key_value)]
    hook_env: Vec<(String, String)>,
    /// The hook's Lambda timeout, in seconds.
    #[arg(long, default_value_t = 3.0)]
    timeout: f64,
}

fn check_binary(path: &std::path::Path, what: &str) -> Result<(), String> {
    if path.is_file() {
        Ok(())
    } else {
        Err(format!(
            "{what} {} does not exist: build the examples first with `cargo build --release -p hook-examples`, \
             or pass --{what} PATH",
            path.display()
        ))
    }
}

async fn run_hook(args: HookArgs) -> Result<bool, String> {
    check_binary(&args.hook, "hook")?;
    check_binary(&args.function, "function")?;
    if !(args.timeout > 0.0 && args.timeout <= 900.0) {
        return Err(format!(
            "--timeout {} is out of range: Lambda allows 1 to 900 seconds",
            args.timeout
        ));
    }
    let sim = Sim::start().await.map_err(|e| format!("cannot start hook-sim: {e}"))?;
    let deployment = "d-HOOKSIM001";
    let spec = lambda_appspec(
        &args.function_name,
        "live",
        "1",
        "2",
        &[(args.phase.as_str(), &args.hook_name)],
    );
    sim.add_deployment(DeploymentSetup::new(deployment, &spec));
    let mut versions = FunctionSetup::new().alias("live", "1");
    for version in ["1", "2"] {
        let mut config = ProcessConfig::new(&args.function_name, &args.function).version(version);
        if version == "2" {
            config.env.extend(args.target_env.iter().cloned());
        }
        let f = sim.runtime(config).await.map_err(|e| e.to_string())?;
        versions = versions.version(version, Behavior::Process(f));
    }
    sim.add_function(&args.function_name, versions);
    let mut hook_config =
        ProcessConfig::new(&args.hook_name, &args.hook).timeout(Duration::from_secs_f64(args.timeout));
    hook_config.env.extend(args.hook_env.iter().cloned());
    let hook = sim.runtime(hook_config).await.map_err(|e| e.to_string())?;

    say!("hook-sim      CodeDeploy + Lambda at {}", sim.endpoint_url());
    say!(
        "deployment    {deployment}: {} alias live 1 -> 2, {} hook {}",
        args.function_name,
        args.phase,
        args.hook_name
    );
    let execution = sim.open_lifecycle_event(deployment, args.phase.as_str());
    let started = Instant::now();
    let out = hook
        .invoke(
            Sim::lifecycle_event_payload(deployment, &execution)
                .to_string()
                .into_bytes(),
        )
        .await;
    let took = started.elapsed();

    say!("\ncalls made by the hook:");
    for call in sim.calls().iter().filter(|c| c.service != Service::Runtime) {
        let what = match call.service {
            Service::Lambda => format!(
                "Lambda Invoke {}:{}",
                call.request["FunctionName"].as_str().unwrap_or("?"),
                call.request["Qualifier"].as_str().unwrap_or("$LATEST")
            ),
            Service::CloudWatch => format!("CloudWatch {}", call.operation),
            _ => format!("CodeDeploy {}", call.operation),
        };
        let status = call.request["status"]
            .as_str()
            .map(|s| format!(" {s}"))
            .unwrap_or_default();
        let error = call.error.as_deref().map(|e| format!(" ({e})")).unwrap_or_default();
        say!(
            "  {:>8.1} ms  {what}{status} -> {}{error}",
            call.at.as_secs_f64() * 1e3,
            call.status
        );
    }
    say!("\nhook log:");
    for line in out.log.lines() {
        say!("  {line}");
    }
    let status = sim.lifecycle_event_status(deployment, &execution);
    let shown = status.map_or("no status", |s| s.as_str());
    let accepted = sim.statuses().len();
    say!(
        "\nresult        {shown} ({accepted} status report accepted, hook invocation took {:.1} ms)",
        took.as_secs_f64() * 1e3
    );
    if let Some(kind) = &out.function_error {
        say!("hook error    {kind}: {}", String::from_utf8_lossy(&out.payload));
    }
    Ok(status == Some(hook_sim::LifecycleEventStatus::Succeeded))
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Simulate(args) => return cli::simulate::simulate(args).await,
        Command::Audit(args) => return cli::audit::audit(args).await,
        Command::Check(args) => return cli::simulate::check::check(args),
        Command::Hook(args) => run_hook(args).await,
        Command::Serve(args) => serve(args).await,
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// Writes a line to stdout; see [`say!`].
fn stdout_line(line: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(line).and_then(|()| out.write_all(b"\n")) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(141);
        }
        eprintln!("error: cannot write to stdout: {e}");
        std::process::exit(2);
    }
}
