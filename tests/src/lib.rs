//! Support for the end-to-end tests: release binaries, hook-sim set-ups, moto server.
#![allow(missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use hook_sim::{Behavior, DeploymentSetup, FunctionSetup, InvokeOutcome, ProcessConfig, RuntimeFunction, Sim};
use serde_json::Value;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The target directory the workspace builds into.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// A binary of the workspace, built in release (as `cargo lambda build --release` would,
/// with the workspace's `panic = "unwind"`). Cargo runs once per test process, so the
/// binaries are never stale.
pub fn release_bin(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
        let status = Command::new(cargo)
            .current_dir(workspace_root())
            // The whole workspace's features, as `simulate --build` and the examples' `rehearse`
            // scripts build: one set of release artifacts, never rebuilt between them.
            .args(["build", "--release", "--quiet", "--workspace", "--bins"])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "cargo build --release of the example binaries failed");
    });
    let path = target_dir().join("release").join(name);
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// A benchmark's knob: the environment variable `name` parsed, else `default`.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// CPU time of a process (`self` or a pid): the sum of its threads' run time in
/// /proc/PID/task/*/schedstat (nanoseconds; threads that have ended are not counted, and a
/// tokio runtime's threads live as long as it does).
pub fn cpu_time(pid: &str) -> Duration {
    let mut ns: u64 = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).expect("/proc/PID/task") {
        let path = task.expect("task entry").path().join("schedstat");
        if let Ok(stat) = std::fs::read_to_string(path) {
            ns += stat
                .split_whitespace()
                .next()
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    Duration::from_nanos(ns)
}

/// The minor page faults of a process so far, all its threads (`minflt` of /proc/PID/stat).
pub fn minor_faults(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    // The fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')').expect("a command name") + 2..];
    rest.split_whitespace()
        .nth(7)
        .and_then(|n| n.parse().ok())
        .expect("minflt is the 10th field")
}

pub const DEPLOYMENT: &str = "d-HOOKSIM01";

/// A hook's Lambda timeout where its deadline is not what a test is about: Lambda's largest,
/// a budget that cannot bind on a slow or busy machine, so that the outcome is the spec's and
/// the answers', never the machine's speed. (Deadlines are tested where they are the subject.)
pub const NO_BINDING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(900);
pub const HOOK_NAME: &str = "CodeDeployHook_pre";

/// A hook binary running in hook-sim, with a deployment to report to.
#[derive(Debug)]
pub struct HookSetup {
    pub sim: Sim,
    pub hook: Arc<RuntimeFunction>,
}

impl HookSetup {
    /// Starts hook-sim with `deployment` and the hook binary `bin` as function `HOOK_NAME`.
    pub async fn start(bin: &str, deployment: DeploymentSetup, timeout: Duration) -> HookSetup {
        Self::start_with_env(bin, deployment, timeout, &[]).await
    }

    /// Like [`start`](Self::start), with environment variables for the hook.
    pub async fn start_with_env(
        bin: &str,
        deployment: DeploymentSetup,
        timeout: Duration,
        env: &[(&str, &str)],
    ) -> HookSetup {
        let sim = Sim::start().await.expect("hook-sim starts");
        sim.add_deployment(deployment);
        let mut config = ProcessConfig::new(HOOK_NAME, release_bin(bin)).timeout(timeout);
        for (k, v) in env {
            config = config.env(k, v);
        }
        let hook = sim.runtime(config).await.expect("runtime API starts");
        HookSetup { sim, hook }
    }

    /// Adds a function with versions.
    pub fn function(&self, name: &str, setup: FunctionSetup) {
        self.sim.add_function(name, setup);
    }

    /// Opens a lifecycle event and invokes the hook with it, as CodeDeploy does.
    pub async fn run(&self, lifecycle_event: &str) -> (String, InvokeOutcome) {
        let execution = self.sim.open_lifecycle_event(DEPLOYMENT, lifecycle_event);
        let out = self.deliver(&execution).await;
        (execution, out)
    }

    /// Delivers the lifecycle event of `execution` to the hook (again).
    pub async fn deliver(&self, execution: &str) -> InvokeOutcome {
        let payload = Sim::lifecycle_event_payload(DEPLOYMENT, execution);
        self.hook.invoke(payload.to_string().into_bytes()).await
    }

    /// The qualifier of every Invoke call made, in order.
    pub fn invoked_qualifiers(&self) -> Vec<String> {
        self.sim
            .calls()
            .iter()
            .filter(|c| c.service == hook_sim::Service::Lambda)
            .map(|c| c.request["Qualifier"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// The hook's log, for failure messages.
    pub fn logs(&self) -> String {
        self.hook.logs().join("\n")
    }
}

/// `hello` as a real process for version `version`.
pub async fn hello_process(sim: &Sim, name: &str, version: &str) -> Behavior {
    hello_process_with_env(sim, name, version, &[]).await
}

/// `hello` as a real process for version `version`, with environment variables.
pub async fn hello_process_with_env(sim: &Sim, name: &str, version: &str, env: &[(&str, &str)]) -> Behavior {
    let mut config = ProcessConfig::new(name, release_bin("hello")).version(version);
    for (k, v) in env {
        config = config.env(k, v);
    }
    Behavior::Process(sim.runtime(config).await.expect("runtime API starts"))
}

/// Reads a JSON payload.
pub fn json(out: &InvokeOutcome) -> Value {
    out.json()
}

/// `target/node/<example>/node_modules`: the Node packages of `hook-examples/<example>`,
/// installed by `scripts/node-tools` first (quick when up to date; it takes a lock).
pub fn node_modules(example: &str) -> PathBuf {
    static READY: std::sync::Once = std::sync::Once::new();
    READY.call_once(|| {
        run_script(
            "node-tools",
            "it installs the examples' Node packages into target/node (needs Node.js and npm)",
        )
    });
    target_dir().join("node").join(example).join("node_modules")
}

/// The folder of tests/fixtures/`fixture`'s installed Node packages (target/node/`fixture`),
/// with its `file` copied in beside them: an ES module resolves its imports from its own folder.
pub fn node_fixture(fixture: &str, file: &str) -> PathBuf {
    let dir = node_modules(fixture)
        .parent()
        .expect("node_modules has a parent")
        .to_path_buf();
    std::fs::copy(
        workspace_root().join("tests/fixtures").join(fixture).join(file),
        dir.join(file),
    )
    .unwrap_or_else(|e| panic!("copying tests/fixtures/{fixture}/{file}: {e}"));
    dir
}

/// Runs `scripts/<name>`, which must succeed; `what` says what it does, for its failure.
fn run_script(name: &str, what: &str) {
    let status = Command::new(workspace_root().join("scripts").join(name))
        .status()
        .unwrap_or_else(|e| panic!("scripts/{name} runs: {e}"));
    assert!(status.success(), "scripts/{name} failed: {what}");
}

/// A Lambda `bootstrap` (in target/test-tmp/`name`) that runs the Python script
/// tests/fixtures/`fixture` with `target/venv`'s Python, with `env` (`K=V ...`) set: a custom
/// runtime written in Python, run as hook-sim runs any `bootstrap`.
pub fn python_bootstrap(name: &str, fixture: &str, env: &str) -> PathBuf {
    let python = venv_bin("python");
    let dir = target_dir().join("test-tmp").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let bootstrap = dir.join("bootstrap");
    std::fs::write(
        &bootstrap,
        format!(
            "#!/bin/sh\n{env} exec {} {}\n",
            python.display(),
            workspace_root().join("tests/fixtures").join(fixture).display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&bootstrap, std::fs::Permissions::from_mode(0o755)).unwrap();
    bootstrap
}

/// A program of `target/venv` (Python tools the tests use), made by `scripts/python-tools`
/// first: it runs every time (it is quick when the venv is up to date, and takes a lock).
pub fn venv_bin(name: &str) -> PathBuf {
    static READY: std::sync::Once = std::sync::Once::new();
    READY.call_once(|| {
        run_script(
            "python-tools",
            "it installs the Python tools of scripts/requirements.txt into target/venv",
        )
    });
    target_dir().join("venv/bin").join(name)
}

/// A moto server on a free loopback port, stopped on drop.
#[derive(Debug)]
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    /// Starts `moto_server` from `target/venv` (made by `scripts/python-tools`) and waits
    /// until it answers.
    pub fn start() -> Moto {
        let bin = venv_bin("moto_server");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("moto_server starts");
        // Ready when werkzeug says it runs; keep draining stderr afterwards.
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            let mut tx = Some(tx);
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("Running on")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(());
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(60))
            .expect("moto_server did not start within 60 s");
        Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `hook-sim serve` until stopped (a template's functions, or `--hello` ones): what it prints,
/// read line by line up to the point where it serves.
#[derive(Debug)]
pub struct Served {
    child: std::process::Child,
    /// What it printed up to the point where it serves.
    pub lines: Vec<String>,
    /// Kept open: hook-sim exits quietly when what it prints has nowhere to go, and `--hello`
    /// prints its functions after the endpoint.
    _stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl Served {
    pub fn start(args: &[&str]) -> Served {
        use std::io::BufRead as _;
        let mut child = Command::new(release_bin("hook-sim"))
            .current_dir(workspace_root())
            .arg("serve")
            .args(["--port", "0"])
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("hook-sim runs");
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let n = out.read_line(&mut line).unwrap();
            assert!(n > 0, "hook-sim serve ended before it served:\n{}", lines.join(""));
            lines.push(line.clone());
            // A template's last line of set-up, or the `--hello` functions' endpoint (printed
            // once they are served).
            if line.starts_with("(no region") || line.starts_with("endpoint ") {
                break;
            }
        }
        Served {
            child,
            lines,
            _stdout: out,
        }
    }

    /// The process id of hook-sim.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The value of `export AWS_ENDPOINT_URL=...` (or, for `--hello`, of `endpoint ...`).
    pub fn endpoint(&self) -> String {
        self.lines
            .iter()
            .find_map(|l| {
                l.strip_prefix("export AWS_ENDPOINT_URL=")
                    .or_else(|| l.strip_prefix("endpoint "))
            })
            .expect("an endpoint line")
            .trim()
            .to_string()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
