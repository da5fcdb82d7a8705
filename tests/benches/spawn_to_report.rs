//! Benchmark: the release `pre-traffic` hook, spawned cold by hook-sim's Runtime API,
//! from spawn to its status accepted by CodeDeploy, and the hook's peak RSS.
//!
//! `cargo bench -p integration-tests --bench spawn_to_report` (ITERATIONS=N to change the count).

use std::time::{Duration, Instant};

use hook_sim::{Behavior, DeploymentSetup, FunctionSetup, ProcessConfig, Sim, lambda_appspec};
use integration_tests::{DEPLOYMENT, HOOK_NAME, release_bin};

struct Sample {
    cold: Duration,
    warm: Duration,
    peak_rss_kb: u64,
}

async fn once(bin: &std::path::Path) -> Sample {
    let sim = Sim::start().await.expect("hook-sim starts");
    let spec = lambda_appspec("hello-fn", "live", "1", "2", &[("BeforeAllowTraffic", HOOK_NAME)]);
    sim.add_deployment(DeploymentSetup::new(DEPLOYMENT, &spec));
    sim.add_function(
        "hello-fn",
        FunctionSetup::new()
            .version("1", Behavior::hello("1"))
            .version("2", Behavior::hello("2")),
    );
    let hook = sim
        .runtime(ProcessConfig::new(HOOK_NAME, bin))
        .await
        .expect("runtime API starts");

    let mut timings = Vec::new();
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
        assert_eq!(status.status, "Succeeded", "{}", hook.logs().join("\n"));
        let out = invoke.await.expect("invoke task");
        assert_eq!(out.function_error, None);
    }
    let peak_rss_kb = hook.peak_rss_kb().await.expect("the hook process runs");
    hook.stop().await;
    Sample {
        cold: timings[0],
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

#[tokio::main]
async fn main() {
    let iterations: usize = std::env::var("ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let bin = release_bin("pre-traffic");
    // One run to warm the page cache.
    once(&bin).await;
    let mut samples = Vec::new();
    for _ in 0..iterations {
        samples.push(once(&bin).await);
    }
    println!(
        "pre-traffic (release) against hook-sim, {iterations} cold starts, {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    summary(
        "spawn -> status accepted (cold)",
        "ms",
        samples.iter().map(|s| s.cold.as_secs_f64() * 1e3).collect(),
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
