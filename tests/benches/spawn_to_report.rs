//! Benchmark: a release hook spawned cold by hook-sim's Runtime API, from spawn to its
//! status accepted by CodeDeploy, then a second (warm) event, and the hook's peak RSS. Two
//! hooks: `hook-runner` with a one-check spec (GetDeployment, GetApplicationRevision, one
//! invoke, the report), and the `pre-traffic` example (its built-in spec's two checks and
//! its Rust check: three invokes); then, to compare, the canonical Node hook
//! (tests/fixtures/sdk-v3-hook/canonical.mjs: the same calls as hook-runner's case, with the AWS
//! SDK for JavaScript v3) under hook-sim's Node runtime loop.
//!
//! `cargo bench -p integration-tests --bench spawn_to_report` (ITERATIONS=N to change the count,
//! HOOK_ENV="K=V K2=V2" to add to the hooks' environment).

use std::time::{Duration, Instant};

use hook_sim::{Behavior, DeploymentSetup, FunctionSetup, ProcessConfig, Sim, lambda_appspec};
use integration_tests::{DEPLOYMENT, HOOK_NAME, cpu_time, env_or, minor_faults, release_bin};

struct Sample {
    cold: Duration,
    /// CPU time of the hook's threads up to its first status report.
    cold_cpu: Duration,
    /// Minor page faults up to its first status report.
    cold_faults: u64,
    warm: Duration,
    peak_rss_kb: u64,
}

/// The one-check spec of `hook-runner`'s case.
const ONE_CHECK: &str = r#"
version: 1
checks:
  - name: greets the canary
    phase: before
    invoke: { payload: { name: canary } }
    expect: { json: { $.statusCode: 200 } }
"#;

async fn once(process: &ProcessConfig) -> Sample {
    let sim = Sim::start().await.expect("hook-sim starts");
    let spec = lambda_appspec("hello-fn", "live", "1", "2", &[("BeforeAllowTraffic", HOOK_NAME)]);
    sim.add_deployment(DeploymentSetup::new(DEPLOYMENT, &spec));
    sim.add_function(
        "hello-fn",
        FunctionSetup::new()
            .version("1", Behavior::hello("1"))
            .version("2", Behavior::hello("2")),
    );
    let hook = sim.runtime(process.clone()).await.expect("runtime API starts");

    let mut timings = Vec::new();
    let mut cold_use = None;
    for _ in 0..2 {
        let execution = sim.open_lifecycle_event(DEPLOYMENT, "BeforeAllowTraffic");
        let payload = Sim::lifecycle_event_payload(DEPLOYMENT, &execution)
            .to_string()
            .into_bytes();
        let started = Instant::now();
        let invoke = {
            let hook = hook.clone();
            tokio::spawn(async move { hook.invoke(payload).await })
        };
        let status = sim.wait_for_status(&execution).await;
        timings.push(started.elapsed());
        if cold_use.is_none() {
            let pid = hook.pid().await.expect("the hook process runs").to_string();
            cold_use = Some((cpu_time(&pid), minor_faults(&pid)));
        }
        assert_eq!(status.status, "Succeeded", "{}", hook.logs().join("\n"));
        let out = invoke.await.expect("invoke task");
        assert_eq!(out.function_error, None);
    }
    let peak_rss_kb = hook.peak_rss_kb().await.expect("the hook process runs");
    hook.stop().await;
    let (cold_cpu, cold_faults) = cold_use.expect("a first event");
    Sample {
        cold: timings[0],
        cold_cpu,
        cold_faults,
        warm: timings[1],
        peak_rss_kb,
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn summary(name: &str, unit: &str, mut v: Vec<f64>) {
    v.sort_by(f64::total_cmp);
    println!(
        "{name:<32} median {:>7.2} {unit}   p90 {:>7.2} {unit}   max {:>7.2} {unit}",
        percentile(&v, 0.5),
        percentile(&v, 0.9),
        v[v.len() - 1]
    );
}

async fn bench(name: &str, process: ProcessConfig, iterations: usize) {
    // One run to warm the page cache.
    once(&process).await;
    let mut samples = Vec::new();
    for _ in 0..iterations {
        samples.push(once(&process).await);
    }
    println!(
        "{name} against hook-sim, {iterations} cold starts, {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    summary(
        "spawn -> status accepted (cold)",
        "ms",
        samples.iter().map(|s| s.cold.as_secs_f64() * 1e3).collect(),
    );
    summary(
        "  CPU of the hook until then",
        "ms",
        samples.iter().map(|s| s.cold_cpu.as_secs_f64() * 1e3).collect(),
    );
    summary(
        "  its minor page faults",
        "",
        samples.iter().map(|s| s.cold_faults as f64).collect(),
    );
    summary(
        "event -> status accepted (warm)",
        "ms",
        samples.iter().map(|s| s.warm.as_secs_f64() * 1e3).collect(),
    );
    summary(
        "peak RSS of the hook",
        "MB",
        samples.iter().map(|s| s.peak_rss_kb as f64 / 1024.0).collect(),
    );
}

#[tokio::main]
async fn main() {
    let iterations: usize = env_or("ITERATIONS", 30);
    let extra = std::env::var("HOOK_ENV").unwrap_or_default();
    let with_extra = |mut process: ProcessConfig| {
        for kv in extra.split_whitespace() {
            let (k, v) = kv.split_once('=').expect("HOOK_ENV holds KEY=VALUE pairs");
            process = process.env(k, v);
        }
        process
    };
    let runner = ProcessConfig::new(HOOK_NAME, release_bin("hook-runner")).env("HOOK_SPEC", ONE_CHECK);
    bench(
        "hook-runner (release), a one-check spec",
        with_extra(runner),
        iterations,
    )
    .await;
    println!();
    let pre_traffic = ProcessConfig::new(HOOK_NAME, release_bin("pre-traffic"));
    bench(
        "pre-traffic (release), three invokes",
        with_extra(pre_traffic),
        iterations,
    )
    .await;
    println!();
    bench(
        "the canonical Node hook (AWS SDK for JavaScript v3), one invoke",
        node_hook(),
        iterations,
    )
    .await;
}

/// tests/fixtures/sdk-v3-hook/canonical.mjs under hook-sim's Node Runtime API loop, as
/// `simulate` runs a `nodejs20.x` function: the same calls as `hook-runner`'s one-check case.
fn node_hook() -> ProcessConfig {
    let dir = integration_tests::node_fixture("sdk-v3-hook", "canonical.mjs");
    let root = integration_tests::workspace_root();
    let mut process = ProcessConfig::new(HOOK_NAME, "node");
    process.args = vec![
        root.join("hook-sim/runtimes/node.js").display().to_string(),
        "canonical.handler".into(),
    ];
    process.runtime = "nodejs20.x".into();
    process.handler = "canonical.handler".into();
    process.task_root = Some(dir);
    process
}
