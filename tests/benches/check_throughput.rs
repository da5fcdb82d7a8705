//! Benchmark: 2,000 invoke checks at concurrency 32 (a spec's limit), run by hook-sdk's CheckRunner with
//! the real Lambda client against `hook-sim serve` in another process, so that the CPU
//! time measured here is the runner's alone.
//!
//! The same invokes with the AWS SDK for JavaScript v3 (tests/fixtures/sdk-v3-hook/invoke-bench.mjs,
//! in a Node process) give the ratio the project aims at.
//!
//! `cargo bench -p integration-tests --bench check_throughput` (CHECKS=N, CONCURRENCY=C to change).

use std::io::BufRead as _;

use futures_util::StreamExt as _;
use std::process::{Command, Stdio};
use std::time::Instant;

use hook_sdk::check::{CheckRunner, RunContext};
use hook_sdk::spec::{Vars, load};
use hook_sdk::{Phase, Target};
use integration_tests::{cpu_time, env_or, release_bin};

#[tokio::main]
async fn main() {
    let checks: u32 = env_or("CHECKS", 2000);
    // A spec's concurrency is capped at MAX_CONCURRENCY (32): every run in flight holds its
    // answer in the hook's memory.
    let concurrency: u32 = env_or("CONCURRENCY", hook_sdk::spec::limits::MAX_CONCURRENCY);
    let mut sim = Command::new(release_bin("hook-sim"))
        .args(["serve", "--port", "0", "--hello", "hello-fn"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("hook-sim serve starts");
    let mut lines = std::io::BufReader::new(sim.stdout.take().unwrap()).lines();
    let endpoint = lines
        .next()
        .unwrap()
        .unwrap()
        .strip_prefix("endpoint ")
        .unwrap()
        .to_string();

    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_lambda::config::Credentials::for_tests())
        .load()
        .await;
    let runner = CheckRunner::new(aws_sdk_lambda::Client::new(&config));
    let spec = load(
        &format!(
            "version: 1\nchecks:\n  - name: load\n    invoke: {{ payload: {{ name: bench }} }}\n    expect:\n      json:\n        $.statusCode: 200\n        $.body.message: {{ matches: \"^Hello, bench\" }}\n    repeat: {checks}\n    concurrency: {concurrency}\n    thresholds: {{ success_rate: \">= 1\" }}\n"
        ),
        "bench.yaml",
    )
    .unwrap();
    let ctx = RunContext {
        phase: Phase::BeforeAllowTraffic,
        targets: vec![Target {
            logical_id: "HelloFunction".into(),
            function: "hello-fn".into(),
            alias: Some("live".into()),
            current_version: Some("1".into()),
            target_version: "2".into(),
        }],
        deployment_id: None,
        vars: Vars::default(),
        deadline: None,
        source: None,
        traffic: None,
    };
    // Warm up connections and code paths.
    let warm = load(
        &format!(
            "version: 1\nchecks:\n  - name: warm\n    invoke: {{}}\n    repeat: 200\n    concurrency: {concurrency}\n"
        ),
        "w.yaml",
    )
    .unwrap();
    assert!(runner.run(&warm, &ctx).await.passed());

    // Baseline: the same invokes with the bare SDK client, no checks around them.
    let lambda = aws_sdk_lambda::Client::new(&config);
    let base0 = (cpu_time("self"), Instant::now());
    let results: Vec<bool> = futures_util::stream::iter(0..checks)
        .map(|_| {
            let lambda = lambda.clone();
            async move {
                lambda
                    .invoke()
                    .function_name("hello-fn")
                    .qualifier("2")
                    .log_type(aws_sdk_lambda::types::LogType::Tail)
                    .payload(aws_sdk_lambda::primitives::Blob::new(r#"{"name":"bench"}"#))
                    .send()
                    .await
                    .is_ok()
            }
        })
        .buffer_unordered(concurrency as usize)
        .collect()
        .await;
    let (base_cpu, base_wall) = (cpu_time("self") - base0.0, base0.1.elapsed());
    assert!(results.iter().all(|ok| *ok));

    let sim_pid = sim.id().to_string();
    let (cpu0, sim0, wall0) = (cpu_time("self"), cpu_time(&sim_pid), Instant::now());
    let report = runner.run(&spec, &ctx).await;
    let (cpu, sim_cpu, wall) = (cpu_time("self") - cpu0, cpu_time(&sim_pid) - sim0, wall0.elapsed());
    let node = node_invokes(&endpoint, checks, concurrency);
    let _ = sim.kill();
    let _ = sim.wait();
    assert!(report.passed(), "{}", hook_sdk::report::render_text(&report, false));
    let stats = report.checks[0].stats.clone().unwrap();
    println!(
        "{checks} invoke checks at concurrency {concurrency} against hook-sim serve (another process), {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "  wall            {:>9.1} ms   {:>8.0} checks/s",
        wall.as_secs_f64() * 1e3,
        f64::from(checks) / wall.as_secs_f64()
    );
    println!(
        "  bare SDK Invoke {:>9.1} ms   {:>8.1} us CPU per invoke ({:.0} invokes/s)",
        base_wall.as_secs_f64() * 1e3,
        base_cpu.as_secs_f64() * 1e6 / f64::from(checks),
        f64::from(checks) / base_wall.as_secs_f64()
    );
    println!(
        "  runner CPU      {:>9.1} ms   {:>8.1} us per check",
        cpu.as_secs_f64() * 1e3,
        cpu.as_secs_f64() * 1e6 / f64::from(checks)
    );
    println!(
        "  hook-sim CPU    {:>9.1} ms   {:>8.1} us per check",
        sim_cpu.as_secs_f64() * 1e3,
        sim_cpu.as_secs_f64() * 1e6 / f64::from(checks)
    );
    println!(
        "  latency         p50 {:?}  p95 {:?}  p99 {:?}  max {:?}",
        stats.p50, stats.p95, stats.p99, stats.max
    );
    let node_per_invoke = node.cpu_ms * 1e3 / f64::from(checks);
    println!(
        "  Node SDK v3     {:>9.1} ms   {:>8.1} us CPU per invoke (the same invokes, same concurrency)",
        node.wall_ms, node_per_invoke
    );
    println!(
        "  runner vs Node  {:>9.1}x less CPU per check than Node's bare invoke",
        node_per_invoke / (cpu.as_secs_f64() * 1e6 / f64::from(checks))
    );
}

/// What tests/fixtures/sdk-v3-hook/invoke-bench.mjs measured.
struct NodeInvokes {
    cpu_ms: f64,
    wall_ms: f64,
}

/// The same invokes with the AWS SDK for JavaScript v3's Lambda client, in a Node process.
fn node_invokes(endpoint: &str, checks: u32, concurrency: u32) -> NodeInvokes {
    let script = integration_tests::node_fixture("sdk-v3-hook", "invoke-bench.mjs").join("invoke-bench.mjs");
    let out = Command::new("node")
        .arg(&script)
        .args([endpoint, &checks.to_string(), &concurrency.to_string()])
        .output()
        .expect("node runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
    assert_eq!(line["ok"], checks, "{line}");
    NodeInvokes {
        cpu_ms: line["cpu_ms"].as_f64().unwrap(),
        wall_ms: line["wall_ms"].as_f64().unwrap(),
    }
}
