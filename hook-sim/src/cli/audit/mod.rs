//! `hook-sim audit`: would your canary catch it? The stack's own deployment (its hooks,
//! alarms, configuration, traffic) rehearsed once per fault of a catalogue, over several seeds,
//! and the healthy version over the same seeds; for each fault, whether a gate stopped it,
//! which one first, how soon, and what it cost the users first.

mod catalogue;
mod html;
mod output;
mod policy;
mod result;
mod verdict;

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use hook_sim::stack::setup::{CURRENT, TARGET};

use self::policy::Policy;
use self::result::{AuditResult, TrafficModel};
use self::verdict::RunResult;
use crate::cli::simulate::{RehearsalArgs, RunOptions, SimulateError, prepare, rehearse};

pub(crate) const EXAMPLES: &str = "\
Examples:
  hook-sim audit                                      the default catalogue against ./template.yaml's gates
  hook-sim audit --catalogue my-faults.yaml --seeds 3
  hook-sim audit --json audit.json --junit audit.xml --html audit.html
  hook-sim audit --require caught=all --require no-false-rollback --require max-user-errors=50
  hook-sim audit --require caught=error,rate=5% --require 'caught=every cold start fails'
  hook-sim audit --shard 1/2 --json part1.json        one machine of a CI matrix; then:
  hook-sim audit --merge part1.json --merge part2.json --junit audit.xml

A catalogue file (YAML; its JSON Schema: hook-sim audit --print-schema):
  version: 1
  faults:
    - name: errors on 5 %          # optional: the spelling by default
      fault: error,rate=5%
    - fault: delay=1s
    - fault: http-status=500,rate=50%

Exit status: 0 the audit ran and every --require holds, 1 a --require does not hold,
2 bad usage or set-up (the stack, the catalogue, a shard).";

/// Options of `hook-sim audit`.
#[derive(Args, Debug)]
pub(crate) struct AuditArgs {
    #[command(flatten)]
    pub(crate) rehearsal: RehearsalArgs,
    /// The faults to rehearse: a YAML catalogue (default: the built-in one, 12 faults: errors
    /// at 100/20/5/1 %, 100 ms and 1 s of latency, past the timeout, HTTP 500 at 50/5 %, init
    /// failure, a wrong answer, errors from 2 minutes into the canary).
    #[arg(long, value_name = "FILE")]
    catalogue: Option<PathBuf>,
    /// Seeds each fault (and the healthy version) is rehearsed with.
    #[arg(long, value_name = "N", default_value_t = 5)]
    seeds: u32,
    /// The first seed (the seeds are FIRST, FIRST+1, ...): a run replays with
    /// `hook-sim simulate --seed S --fault SPELLING`.
    #[arg(long, value_name = "FIRST", default_value_t = 1)]
    seed: u64,
    /// Rehearsals at once (default: four a core: most of a rehearsal is waiting on its
    /// processes).
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// Run only shard K of N (1-based): the runs are dealt round-robin, so N machines of a CI
    /// matrix share the work; `--merge` joins their `--json` results.
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    shard: Option<(u32, u32)>,
    /// Instead of running: join the `--json` results of the shards of one audit (repeatable),
    /// then report and judge `--require` as if it had run whole.
    #[arg(long, value_name = "FILE")]
    merge: Vec<PathBuf>,
    /// Write the result as JSON (its schema: docs/hook-sim.md, "The audit's JSON").
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write a JUnit report: a test case per fault (a miss fails), and one for the healthy
    /// version (a false rollback fails).
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Write one self-contained HTML page (no network): per fault, a timeline of traffic,
    /// errors, alarms and hook verdicts.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// A policy the exit status holds the audit to (repeatable): `caught=all` (every fault
    /// caught in every seed), `caught=NAME` (this fault, by its catalogue name or spelling),
    /// `no-false-rollback`, `max-user-errors=N` (no run of a fault let more than N users see an
    /// error), `max-share=PERCENT%` (no run gave the bad version more of the traffic).
    #[arg(long, value_name = "POLICY", value_parser = policy::parse)]
    require: Vec<Policy>,
    /// Print the catalogue file's JSON Schema and exit.
    #[arg(long)]
    print_schema: bool,
}

/// `K/N`, 1 ≤ K ≤ N ≤ 1000.
fn parse_shard(text: &str) -> Result<(u32, u32), String> {
    let parsed = text
        .split_once('/')
        .and_then(|(k, n)| Some((k.trim().parse::<u32>().ok()?, n.trim().parse::<u32>().ok()?)));
    match parsed {
        Some((k, n)) if k >= 1 && k <= n && n <= 1000 => Ok((k, n)),
        _ => Err(format!(
            "{text:?}: give K/N, this machine's shard K of N (1-based, e.g. 1/3 on the first of three)"
        )),
    }
}

const SCHEMA: &str = "hook-sim-audit/1";

/// The audit's speed, unless `--speed` says otherwise: simulated seconds per real second.
const AUDIT_SPEED: f64 = 100_000.0;

/// Rehearsals at once per core, unless `--jobs` says otherwise: most of a rehearsal is waiting
/// on its processes (a hook waiting out a timeout waits in real time).
const JOBS_PER_CORE: usize = 4;

/// How long a fault may make a hook wait in real time, in milliseconds: the order the
/// rehearsals start in.
fn waits(fault: &hook_sim::VersionFault) -> u128 {
    match fault.kind {
        hook_sim::FaultKind::Timeout => u128::MAX,
        hook_sim::FaultKind::Delay(d) => d.as_millis(),
        _ => 0,
    }
}

/// Runs `hook-sim audit`.
pub(crate) async fn audit(args: AuditArgs) -> ExitCode {
    if args.print_schema {
        say!("{}", catalogue::SCHEMA);
        return ExitCode::SUCCESS;
    }
    let result = if args.merge.is_empty() {
        run(&args).await
    } else {
        merge(&args)
    };
    let result = match result {
        Ok(result) => result,
        Err(e) => {
            eprintln!("error: {}", crate::cli::error_text(&e));
            return ExitCode::from(2);
        }
    };
    let report = output::Report::new(&result);
    output::print_table(&report);
    let written = [
        (args.json.as_ref(), output::json(&result)),
        (args.junit.as_ref(), output::junit(&report)),
        (
            args.html.as_ref(),
            args.html.as_ref().map(|_| html::page(&report)).unwrap_or_default(),
        ),
    ];
    for (path, text) in written {
        let Some(path) = path else { continue };
        let made = match path.parent().filter(|p| !p.as_os_str().is_empty()) {
            Some(folder) => std::fs::create_dir_all(folder),
            None => Ok(()),
        };
        if let Err(e) = made.and_then(|()| std::fs::write(path, text)) {
            eprintln!(
                "error: cannot write {} ({e}): check that its folder exists and is writable",
                path.display()
            );
            return ExitCode::from(2);
        }
    }
    let broken: Vec<String> = args.require.iter().filter_map(|p| p.broken(&report)).collect();
    if !args.require.is_empty() {
        say!("");
        for p in &args.require {
            match p.broken(&report) {
                None => say!("require    ✔ {p}"),
                Some(why) => say!("require    ✘ {p}: {why}"),
            }
        }
    }
    if broken.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Why an audit could not run.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AuditError {
    #[error(transparent)]
    Simulate(#[from] SimulateError),
    #[error(transparent)]
    Catalogue(#[from] catalogue::CatalogueError),
    #[error("{0}")]
    Usage(String),
}

/// One rehearsal to make: a fault of the catalogue (or the healthy version), with a seed.
#[derive(Debug, Clone, Copy)]
struct Unit {
    fault: Option<usize>,
    seed: u64,
}

/// Every run of the audit, healthy first, then each fault, each over every seed.
fn units(faults: usize, seeds: &[u64]) -> Vec<Unit> {
    std::iter::once(None)
        .chain((0..faults).map(Some))
        .flat_map(|fault| seeds.iter().map(move |&seed| Unit { fault, seed }))
        .collect()
}

async fn run(args: &AuditArgs) -> Result<AuditResult, AuditError> {
    if args.seeds == 0 || args.seeds > 1000 {
        return Err(AuditError::Usage(format!(
            "--seeds {}: give a number of seeds from 1 to 1000",
            args.seeds
        )));
    }
    if args.jobs == Some(0) {
        return Err(AuditError::Usage("--jobs 0: give at least 1".into()));
    }
    let catalogue = match &args.catalogue {
        Some(path) => catalogue::load(path)?,
        None => catalogue::default_entries(),
    };
    // Outcomes do not depend on the speed (hooks and functions run in real time, and the
    // clock with them): between events the audit runs as fast as the clock allows.
    let mut rehearsal_args = args.rehearsal.clone();
    rehearsal_args.speed = Some(rehearsal_args.speed.unwrap_or(AUDIT_SPEED));
    let prepared = Arc::new(prepare(&rehearsal_args)?);
    let seeds: Vec<u64> = (0..u64::from(args.seeds)).map(|i| args.seed.wrapping_add(i)).collect();
    let (k, n) = args.shard.unwrap_or((1, 1));
    let all = units(catalogue.len(), &seeds);
    let mut mine: Vec<(usize, Unit)> = all
        .into_iter()
        .enumerate()
        .filter(|(i, _)| *i as u32 % n == k - 1)
        .collect();
    // The rehearsals that wait on a hook's real time (a timeout, a long delay) first, so that
    // the short ones fill the gaps instead of leaving the long ones for the end.
    mine.sort_by_key(|(i, u)| (std::cmp::Reverse(u.fault.map_or(0, |f| waits(&catalogue[f].fault))), *i));
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let jobs = args.jobs.unwrap_or(cores * JOBS_PER_CORE).max(1);
    let setup = &prepared.setup;
    let assumptions = assumptions(&prepared, &args.rehearsal);
    let progress = Progress::new(mine.len());
    progress.header(&format!(
        "rehearsing {} fault(s) × {} seed(s) and the healthy version, {} at once{}…",
        catalogue.len(),
        seeds.len(),
        jobs,
        if n > 1 {
            format!(", shard {k}/{n}")
        } else {
            String::new()
        }
    ));

    // The rehearsals, `jobs` at a time; the first that cannot run ends the audit.
    let catalogue_arc = Arc::new(catalogue.clone());
    let semaphore = Arc::new(tokio::sync::Semaphore::new(jobs));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, unit) in mine {
        let (prepared, catalogue, semaphore) = (prepared.clone(), catalogue_arc.clone(), semaphore.clone());
        tasks.spawn(async move {
            let _permit = semaphore.acquire_owned().await.expect("never closed");
            let entry = unit.fault.map(|i| &catalogue[i]);
            let faults: Vec<hook_sim::VersionFault> = entry.map(|e| e.fault.clone()).into_iter().collect();
            let options = RunOptions {
                seed: unit.seed,
                faults: &faults,
                live: None,
            };
            let rehearsal = rehearse(&prepared, options).await?;
            let result = verdict::judge(&prepared, entry.map(|e| (e.name.as_str(), &e.fault)), &rehearsal);
            Ok::<_, SimulateError>((index, result))
        });
    }
    let mut runs: Vec<(usize, RunResult)> = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let (index, result) = done.map_err(|e| AuditError::Usage(format!("a rehearsal ended abnormally: {e}")))??;
        progress.done(&result);
        runs.push((index, result));
    }
    progress.finish();
    runs.sort_by_key(|(i, _)| *i);
    Ok(AuditResult {
        schema: SCHEMA.to_string(),
        template: args.rehearsal.template.display().to_string(),
        function: format!("{} ({})", setup.function.logical_id, setup.function.name),
        alias: setup.alias.clone(),
        config: setup.config_name.clone(),
        routing: setup.routing.to_string(),
        hooks: setup
            .hooks
            .iter()
            .map(|(event, h)| format!("{event}: {}", h.name))
            .collect(),
        alarms: setup.alarms.iter().map(|a| format!("{}: {a}", a.name)).collect(),
        traffic: TrafficModel {
            requests_per_minute: prepared.traffic.per_minute,
            paths: prepared.traffic.paths.clone(),
            history_seconds: prepared.history.as_secs(),
        },
        seeds,
        shards: vec![[k, n]],
        catalogue,
        assumptions,
        runs: runs.into_iter().map(|(_, r)| r).collect(),
    })
}

/// What every verdict of this audit assumes.
fn assumptions(prepared: &crate::cli::simulate::Prepared, args: &RehearsalArgs) -> Vec<String> {
    let t = &prepared.traffic;
    vec![
        format!(
            "traffic: {} requests a simulated minute of GET {} through alias {}, routed between versions at random by the seed (--requests-per-minute, --path)",
            t.per_minute,
            t.paths.join(", "),
            prepared.setup.alias
        ),
        format!(
            "versions: {CURRENT} is the healthy code, {TARGET} the same code with the fault applied by hook-sim from outside it (its binary unchanged)"
        ),
        "alarms: evaluated as CloudWatch documents (periods on the wall clock, data a minute late, M of N, TreatMissingData); a verdict of 'missed' means no gate CodeDeploy watches stopped it".to_string(),
        "synthetic traffic under a delay or timeout fault is accounted on the simulated clock (its Duration grows); a hook's own invocations wait it out in real time".to_string(),
        format!(
            "IAM {}: {}",
            if args.iam == crate::cli::simulate::IamMode::Enforce { "enforced" } else { "warned" },
            "the template's roles decide what each hook and CodeDeploy may call, as in AWS"
        ),
        "not modelled: cold starts' own latency, other callers of the function, alarms hook-sim cannot evaluate (listed by `hook-sim check`)".to_string(),
    ]
}

/// Joins the `--json` results of an audit's shards.
fn merge(args: &AuditArgs) -> Result<AuditResult, AuditError> {
    let mut parts: Vec<(PathBuf, AuditResult)> = Vec::new();
    for path in &args.merge {
        let text =
            std::fs::read_to_string(path).map_err(|e| AuditError::Usage(format!("--merge {}: {e}", path.display())))?;
        let part: AuditResult = serde_json::from_str(&text).map_err(|e| {
            AuditError::Usage(format!(
                "--merge {}: not the JSON of `hook-sim audit --json` ({e})",
                path.display()
            ))
        })?;
        if part.schema != SCHEMA {
            return Err(AuditError::Usage(format!(
                "--merge {}: schema {:?}, this hook-sim reads {SCHEMA}",
                path.display(),
                part.schema
            )));
        }
        parts.push((path.clone(), part));
    }
    let (first_path, mut whole) = parts.remove(0);
    let same = |a: &AuditResult, b: &AuditResult| {
        a.template == b.template
            && a.function == b.function
            && a.config == b.config
            && a.traffic == b.traffic
            && a.seeds == b.seeds
            && a.catalogue == b.catalogue
    };
    for (path, part) in parts {
        if !same(&whole, &part) {
            return Err(AuditError::Usage(format!(
                "--merge {}: not a shard of the same audit as {} (template, function, config, traffic, seeds and catalogue must match)",
                path.display(),
                first_path.display()
            )));
        }
        for shard in &part.shards {
            if whole.shards.contains(shard) {
                return Err(AuditError::Usage(format!(
                    "--merge {}: shard {}/{} is given twice",
                    path.display(),
                    shard[0],
                    shard[1]
                )));
            }
        }
        whole.shards.extend(part.shards);
        whole.runs.extend(part.runs);
    }
    let n = whole.shards.first().map_or(1, |s| s[1]);
    if whole.shards.iter().any(|s| s[1] != n) {
        return Err(AuditError::Usage(
            "--merge: the shards split the audit in different numbers".into(),
        ));
    }
    let missing: Vec<String> = (1..=n)
        .filter(|k| !whole.shards.iter().any(|s| s[0] == *k))
        .map(|k| format!("{k}/{n}"))
        .collect();
    if !missing.is_empty() {
        return Err(AuditError::Usage(format!(
            "--merge: shard(s) {} missing: give every shard's --json",
            missing.join(", ")
        )));
    }
    whole.shards.sort();
    // Back in the order of a whole run.
    let order = |r: &RunResult| {
        let fault = r
            .fault
            .as_ref()
            .and_then(|f| whole.catalogue.iter().position(|e| &e.name == f))
            .map_or(0, |i| i + 1);
        (fault, r.seed)
    };
    let mut runs = std::mem::take(&mut whole.runs);
    runs.sort_by_key(|r| order(r));
    whole.runs = runs;
    Ok(whole)
}

/// Progress on the terminal while the audit runs: one line rewritten (nothing when stderr is
/// not a terminal, such as in CI).
struct Progress {
    total: usize,
    done: std::sync::atomic::AtomicUsize,
    terminal: bool,
}

impl Progress {
    fn new(total: usize) -> Self {
        Progress {
            total,
            done: std::sync::atomic::AtomicUsize::new(0),
            terminal: std::io::stderr().is_terminal(),
        }
    }

    fn header(&self, text: &str) {
        eprintln!("{text}");
    }

    fn done(&self, r: &RunResult) {
        let n = self.done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        if self.terminal {
            let what = r.fault.as_deref().unwrap_or("healthy version");
            let how = match &r.gate {
                Some(g) => format!("stopped by {g}"),
                None => "went through".to_string(),
            };
            eprint!("\r\x1b[2K  [{n}/{}] {what}, seed {}: {how}", self.total, r.seed);
        }
    }

    fn finish(&self) {
        if self.terminal {
            eprint!("\r\x1b[2K");
        }
    }
}
