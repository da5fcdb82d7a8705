//! Benchmark: `hook-sim audit` of template.yaml with the default catalogue (12 faults × 5 seeds
//! and the healthy version × 5: 65 rehearsals), wall time per whole audit, and each fault's
//! share of it (the rehearsals that wait on a hook's real time cost the most).
//!
//! `cargo bench -p integration-tests --bench audit` (RUNS=N audits, JOBS=N rehearsals at once;
//! default: hook-sim's own, twice the cores).

use std::process::Command;
use std::time::Instant;

use integration_tests::{env_or, release_bin, target_dir, workspace_root};

fn main() {
    let runs: usize = env_or("RUNS", 3);
    let jobs: usize = env_or("JOBS", 0);
    let out = target_dir().join("bench-audit.json");
    let mut walls = Vec::new();
    for i in 0..runs {
        let mut audit = Command::new(release_bin("hook-sim"));
        audit
            .current_dir(workspace_root())
            .args(["audit", "--json"])
            .arg(&out)
            .stdout(std::process::Stdio::null());
        if jobs > 0 {
            audit.args(["--jobs", &jobs.to_string()]);
        }
        let started = Instant::now();
        let status = audit.status().expect("hook-sim runs");
        let wall = started.elapsed().as_secs_f64();
        assert!(status.success(), "hook-sim audit failed: {status}");
        let result: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        let rehearsals = result["runs"].as_array().map_or(0, Vec::len);
        println!("audit {}: {rehearsals} rehearsals in {wall:.1} s", i + 1);
        walls.push(wall);
    }
    walls.sort_by(f64::total_cmp);
    println!(
        "wall: min {:.1} s, median {:.1} s, max {:.1} s over {runs} audit(s) ({} cores, jobs {})",
        walls[0],
        walls[walls.len() / 2],
        walls[walls.len() - 1],
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if jobs > 0 { jobs.to_string() } else { "default".into() }
    );
}
