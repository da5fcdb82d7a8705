//! A Lambda Runtime API that runs a real `bootstrap` binary as a function version.
//!
//! A [`RuntimeFunction`] is a function version; it runs in execution environments, each with
//! its own Runtime API on a loopback port and a process started on its first invoke (a cold
//! start, whose `Init Duration` is the time to the first `/next`) and started again after it
//! exits or times out. An environment runs one invocation at a time, as in Lambda; concurrent
//! invokes get environments of their own, up to the function's [`Concurrency`].

mod api;
mod concurrency;
mod logs;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{Notify, oneshot, watch};
use tokio::time::Instant;

use crate::account::REGION;
use crate::invocation::{InvokeOutcome, lambda_log};
use crate::record::Recorder;

use api::{Pending, RuntimeResult, Shared};
pub use concurrency::Concurrency;
use logs::LogLines;

/// How to run a function version as a process.
#[derive(Debug, Clone)]
pub struct ProcessConfig {
    /// The function name (`AWS_LAMBDA_FUNCTION_NAME`).
    pub name: String,
    /// The version (`AWS_LAMBDA_FUNCTION_VERSION`).
    pub version: String,
    /// The `bootstrap` binary, or the interpreter of a runtime interface client.
    pub binary: PathBuf,
    /// Its arguments (`-m awslambdaric app.handler` for Python).
    pub args: Vec<String>,
    /// Lambda's runtime identifier, as `AWS_EXECUTION_ENV` names it (`provided.al2023`,
    /// `python3.12`).
    pub runtime: String,
    /// The handler (`_HANDLER`): `bootstrap`, `app.handler`.
    pub handler: String,
    /// Extra environment: the function's own variables.
    pub env: Vec<(String, String)>,
    /// The function timeout.
    pub timeout: Duration,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, MB.
    pub memory_mb: u32,
    /// The function's code folder, as Lambda's `/var/task`: the process's working directory
    /// and `LAMBDA_TASK_ROOT`. `None`: the binary's folder is `LAMBDA_TASK_ROOT`, and the
    /// working directory is hook-sim's.
    pub task_root: Option<PathBuf>,
    /// How many environments may run invocations at once, shared with the function's other
    /// versions (clone the same [`Concurrency`] into each).
    pub concurrency: Concurrency,
}

impl ProcessConfig {
    /// Version `1`, a 3 s timeout (SAM's default) and 128 MB.
    pub fn new(name: &str, binary: impl Into<PathBuf>) -> Self {
        ProcessConfig {
            name: name.to_string(),
            version: "1".to_string(),
            binary: binary.into(),
            args: Vec::new(),
            runtime: "provided.al2023".to_string(),
            handler: "bootstrap".to_string(),
            env: Vec::new(),
            timeout: Duration::from_secs(3),
            memory_mb: 128,
            task_root: None,
            concurrency: Concurrency::unreserved(),
        }
    }

    /// Sets the version.
    pub fn version(mut self, version: &str) -> Self {
        self.version = version.to_string();
        self
    }

    /// Adds an environment variable.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Sets the timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

struct ProcessHandle {
    pid: Option<u32>,
    spawned: Instant,
    exited: watch::Receiver<Option<String>>,
    kill: Option<oneshot::Sender<()>>,
    /// The tasks reading its stdout and stderr: once the process is gone, they end when they
    /// have read every line it wrote.
    readers: Vec<tokio::task::JoinHandle<()>>,
}

/// One execution environment: its own Runtime API and process.
struct Environment {
    addr: SocketAddr,
    shared: Arc<Shared>,
    process: tokio::sync::Mutex<Option<ProcessHandle>>,
    server: tokio::task::JoinHandle<()>,
    /// When its last invocation ended (or it started): how long it has been idle.
    idle_since: Mutex<std::time::Instant>,
}

impl Drop for Environment {
    fn drop(&mut self) {
        if let Ok(mut p) = self.process.try_lock()
            && let Some(handle) = p.as_mut()
            && let Some(kill) = handle.kill.take()
        {
            let _ = kill.send(());
        }
        self.server.abort();
    }
}

impl Environment {
    fn start(name: &str, recorder: Arc<Recorder>) -> std::io::Result<Environment> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            name: name.to_string(),
            recorder,
            pending: Mutex::new(VecDeque::new()),
            in_flight: Mutex::new(HashMap::new()),
            arrived: Notify::new(),
            first_next: Mutex::new(None),
            logs: Arc::new(Mutex::new(LogLines::default())),
        });
        let app = api::router(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Environment {
            addr,
            shared,
            process: tokio::sync::Mutex::new(None),
            server,
            idle_since: Mutex::new(std::time::Instant::now()),
        })
    }

    async fn pid(&self) -> Option<u32> {
        let p = self.process.lock().await;
        p.as_ref().filter(|h| h.exited.borrow().is_none()).and_then(|h| h.pid)
    }
}

/// A function version backed by a real binary, run as Lambda runs it: in execution
/// environments started on demand. An invoke goes to the first idle environment; when every
/// one is busy a new one starts (a cold start), up to the function's [`Concurrency`]; beyond
/// it the invoke is throttled. Each environment runs one invocation at a time.
pub struct RuntimeFunction {
    config: ProcessConfig,
    aws_env: Vec<(String, String)>,
    recorder: Arc<Recorder>,
    /// The environments, and whether each is running an invocation.
    environments: Mutex<Vec<(Arc<Environment>, bool)>>,
    request_counter: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for RuntimeFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeFunction")
            .field("name", &self.config.name)
            .field("version", &self.config.version)
            .field("runtime_api", &self.runtime_api())
            .finish_non_exhaustive()
    }
}

/// An environment taken for one invocation; idle again when dropped.
struct Lease<'a> {
    function: &'a RuntimeFunction,
    index: usize,
    environment: Arc<Environment>,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(e) = self.function.lock_environments().get_mut(self.index) {
            e.1 = false;
            *e.0.idle_since.lock().expect("poisoned") = std::time::Instant::now();
        }
        self.function.config.concurrency.give_back();
    }
}

impl RuntimeFunction {
    pub(crate) async fn start(
        config: ProcessConfig,
        aws_env: Vec<(String, String)>,
        recorder: Arc<Recorder>,
    ) -> std::io::Result<Arc<RuntimeFunction>> {
        let first = Environment::start(&config.name, recorder.clone())?;
        Ok(Arc::new(RuntimeFunction {
            config,
            aws_env,
            recorder,
            environments: Mutex::new(vec![(Arc::new(first), false)]),
            request_counter: std::sync::atomic::AtomicU64::new(0),
        }))
    }

    fn lock_environments(&self) -> std::sync::MutexGuard<'_, Vec<(Arc<Environment>, bool)>> {
        self.environments.lock().expect("environments poisoned")
    }

    fn all_environments(&self) -> Vec<Arc<Environment>> {
        self.lock_environments().iter().map(|(e, _)| e.clone()).collect()
    }

    /// The function name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The version this function runs.
    pub fn version(&self) -> &str {
        &self.config.version
    }

    /// The function's timeout: Lambda ends an invocation that runs longer.
    pub(crate) fn timeout(&self) -> Duration {
        self.config.timeout
    }

    /// `host:port` of the first environment's Runtime API (`AWS_LAMBDA_RUNTIME_API`).
    pub fn runtime_api(&self) -> String {
        self.lock_environments()[0].0.addr.to_string()
    }

    /// How many execution environments were started so far.
    pub fn environments(&self) -> usize {
        self.lock_environments().len()
    }

    /// Everything the processes wrote to stdout and stderr so far, a line an entry: the first
    /// environment's lines, then the second's, ...
    pub fn logs(&self) -> Vec<String> {
        self.all_environments()
            .iter()
            .flat_map(|e| {
                e.shared
                    .logs
                    .lock()
                    .expect("logs poisoned")
                    .kept()
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// The pid of the first environment's process, if one runs.
    pub async fn pid(&self) -> Option<u32> {
        let first = self.lock_environments()[0].0.clone();
        first.pid().await
    }

    /// The largest peak resident memory of the running processes, in kB (Linux `VmHWM`).
    pub async fn peak_rss_kb(&self) -> Option<u64> {
        let mut peak = None;
        for e in self.all_environments() {
            if let Some(kb) = e.pid().await.and_then(peak_rss_kb) {
                peak = Some(peak.map_or(kb, |p: u64| p.max(kb)));
            }
        }
        peak
    }

    /// Stops the process of every environment idle for `idle_for` or longer, as Lambda
    /// reclaims execution environments nobody invokes: the next invocation there is a cold
    /// start. An environment in use, or taken while this runs, is left alone. Returns how many
    /// processes it stopped.
    pub async fn reclaim_idle(&self, idle_for: Duration) -> usize {
        let idle: Vec<Arc<Environment>> = self
            .lock_environments()
            .iter()
            .filter(|(e, busy)| !busy && e.idle_since.lock().expect("poisoned").elapsed() >= idle_for)
            .map(|(e, _)| e.clone())
            .collect();
        let mut stopped = 0;
        for e in idle {
            // Taken for an invocation meanwhile: that invocation holds it.
            let Ok(mut process) = e.process.try_lock() else {
                continue;
            };
            if process.as_ref().is_some_and(|h| h.exited.borrow().is_none()) {
                kill_locked(&mut process).await;
                stopped += 1;
            }
        }
        stopped
    }

    /// Stops every environment's process.
    pub async fn stop(&self) {
        for e in self.all_environments() {
            kill_locked(&mut *e.process.lock().await).await;
        }
    }

    /// Invokes the function synchronously, as Lambda's `Invoke` would, starting the
    /// process first when none runs.
    pub async fn invoke(&self, payload: Vec<u8>) -> InvokeOutcome {
        self.invoke_with_timeout(payload, self.config.timeout).await
    }

    /// Invokes as a caller naming `qualifier` (an alias, a version, or none): the function
    /// sees the ARN the caller used (`Lambda-Runtime-Invoked-Function-Arn`), as in Lambda.
    pub async fn invoke_as(&self, payload: Vec<u8>, qualifier: Option<&str>) -> InvokeOutcome {
        self.invoke_inner(payload, self.config.timeout, qualifier).await
    }

    /// Invokes with a timeout other than the configured one.
    pub async fn invoke_with_timeout(&self, payload: Vec<u8>, timeout: Duration) -> InvokeOutcome {
        let version = self.config.version.clone();
        self.invoke_inner(payload, timeout, Some(&version)).await
    }

    /// Takes the first idle environment, or starts one; `None` when the concurrency limit is
    /// reached.
    fn lease(&self) -> Option<std::io::Result<Lease<'_>>> {
        if !self.config.concurrency.try_take() {
            return None;
        }
        let mut environments = self.lock_environments();
        let index = match environments.iter().position(|(_, busy)| !busy) {
            Some(i) => i,
            None => match Environment::start(&self.config.name, self.recorder.clone()) {
                Ok(e) => {
                    environments.push((Arc::new(e), false));
                    environments.len() - 1
                }
                Err(e) => {
                    drop(environments);
                    self.config.concurrency.give_back();
                    return Some(Err(e));
                }
            },
        };
        environments[index].1 = true;
        Some(Ok(Lease {
            function: self,
            index,
            environment: environments[index].0.clone(),
        }))
    }

    async fn invoke_inner(&self, payload: Vec<u8>, timeout: Duration, qualifier: Option<&str>) -> InvokeOutcome {
        let lease = match self.lease() {
            None => return self.throttled(),
            Some(Err(e)) => {
                return self.failure(
                    "",
                    "Runtime.InvalidEntrypoint",
                    &format!("cannot start an execution environment: {e}"),
                    Duration::ZERO,
                    None,
                );
            }
            Some(Ok(lease)) => lease,
        };
        let env = &*lease.environment;
        let mut process = env.process.lock().await;
        let running = process.as_ref().is_some_and(|h| h.exited.borrow().is_none());
        let mut cold_start = None;
        if !running {
            *env.shared.first_next.lock().expect("poisoned") = None;
            match self.spawn(env) {
                Ok(handle) => {
                    cold_start = Some(handle.spawned);
                    *process = Some(handle);
                }
                Err(e) => {
                    return self.failure(
                        "",
                        "Runtime.InvalidEntrypoint",
                        &format!("cannot start {}: {e}", self.config.binary.display()),
                        Duration::ZERO,
                        None,
                    );
                }
            }
        }
        let handle = process.as_mut().expect("a process runs");
        let request_id = self.next_request_id(env);
        let deadline_ms = (SystemTime::now() + timeout)
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        let (tx, rx) = oneshot::channel();
        let log_start = env.shared.logs.lock().expect("poisoned").mark();
        env.shared.pending.lock().expect("poisoned").push_back(Pending {
            request_id: request_id.clone(),
            deadline_ms,
            qualifier: qualifier.map(str::to_string),
            payload,
            tx,
        });
        env.shared.arrived.notify_one();
        let started = Instant::now();
        let mut exited = handle.exited.clone();
        let result = tokio::select! {
            r = rx => r.ok(),
            _ = tokio::time::sleep(timeout) => None,
            _ = exited.wait_for(Option::is_some) => None,
        };
        let init = cold_start.and_then(|spawned| {
            env.shared
                .first_next
                .lock()
                .expect("poisoned")
                .map(|first| first - spawned)
        });
        let max_used_mb = handle.pid.and_then(peak_rss_kb).map_or(0, |kb| kb.div_ceil(1024));
        let body_log = || env.shared.logs.lock().expect("poisoned").since(log_start);
        let failed = matches!(result, Some(RuntimeResult::Error { .. }));
        match result {
            Some(RuntimeResult::Response { body, duration }) | Some(RuntimeResult::Error { body, duration }) => {
                InvokeOutcome {
                    log: lambda_log(
                        &request_id,
                        &self.config.version,
                        &body_log(),
                        duration,
                        self.config.memory_mb,
                        max_used_mb,
                        init,
                    ),
                    payload: body,
                    function_error: failed.then(|| "Unhandled".to_string()),
                    executed_version: self.config.version.clone(),
                    throttled: false,
                    duration,
                }
            }
            Some(RuntimeResult::InitError { body }) => {
                kill_locked(&mut process).await;
                let duration = started.elapsed();
                InvokeOutcome {
                    payload: body,
                    function_error: Some("Unhandled".to_string()),
                    duration,
                    log: lambda_log(
                        &request_id,
                        &self.config.version,
                        &body_log(),
                        duration,
                        self.config.memory_mb,
                        max_used_mb,
                        init,
                    ),
                    executed_version: self.config.version.clone(),
                    throttled: false,
                }
            }
            None => {
                env.shared
                    .pending
                    .lock()
                    .expect("poisoned")
                    .retain(|p| p.request_id != request_id);
                env.shared.in_flight.lock().expect("poisoned").remove(&request_id);
                let exit = handle.exited.borrow().clone();
                let (error_type, message) = match exit {
                    Some(status) => (
                        "Runtime.ExitError",
                        format!("RequestId: {request_id} Error: Runtime exited with error: {status}"),
                    ),
                    None => (
                        "Sandbox.Timedout",
                        format!(
                            "RequestId: {request_id} Error: Task timed out after {:.2} seconds",
                            timeout.as_secs_f64()
                        ),
                    ),
                };
                kill_locked(&mut process).await;
                let log = body_log();
                self.failure(&request_id, error_type, &message, started.elapsed(), Some(log))
            }
        }
    }

    /// Lambda's answer when the concurrency limit is reached: HTTP 429
    /// `TooManyRequestsException`; the function does not run.
    fn throttled(&self) -> InvokeOutcome {
        InvokeOutcome {
            payload: json!({
                "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded",
                "Type": "User",
                "message": "Rate Exceeded.",
            })
            .to_string()
            .into_bytes(),
            function_error: None,
            log: String::new(),
            executed_version: self.config.version.clone(),
            throttled: true,
            duration: Duration::ZERO,
        }
    }

    fn failure(
        &self,
        request_id: &str,
        error_type: &str,
        message: &str,
        duration: Duration,
        log: Option<String>,
    ) -> InvokeOutcome {
        let body = json!({"errorType": error_type, "errorMessage": message});
        let mut text = log.unwrap_or_default();
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(message);
        InvokeOutcome {
            payload: body.to_string().into_bytes(),
            function_error: Some("Unhandled".to_string()),
            log: lambda_log(
                request_id,
                &self.config.version,
                &text,
                duration,
                self.config.memory_mb,
                0,
                None,
            ),
            executed_version: self.config.version.clone(),
            throttled: false,
            duration,
        }
    }

    fn next_request_id(&self, env: &Environment) -> String {
        let n = self.request_counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos();
        format!("{:08x}-{:04x}-4000-8000-{:012x}", nanos, env.addr.port(), n)
    }

    fn spawn(&self, env: &Environment) -> std::io::Result<ProcessHandle> {
        let c = &self.config;
        // A relative path is relative to hook-sim's directory, not the function's; a bare
        // name is looked up in PATH.
        let binary = if c.binary.parent().is_some_and(|d| !d.as_os_str().is_empty()) {
            std::path::absolute(&c.binary)?
        } else {
            c.binary.clone()
        };
        let mut cmd = tokio::process::Command::new(&binary);
        cmd.args(&c.args)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("LANG", "en_US.UTF-8")
            .env("TZ", ":UTC")
            .env("_HANDLER", &c.handler)
            .env("AWS_EXECUTION_ENV", format!("AWS_Lambda_{}", c.runtime))
            .env("AWS_LAMBDA_RUNTIME_API", env.addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", &c.name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", &c.version)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", c.memory_mb.to_string())
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{}", c.name))
            .env(
                "AWS_LAMBDA_LOG_STREAM_NAME",
                format!("2026/01/01/[{}]hook-sim", c.version),
            )
            .env("AWS_REGION", REGION)
            .env("AWS_DEFAULT_REGION", REGION)
            .envs(self.aws_env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .envs(c.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(root) = &c.task_root {
            // Absolute, as Lambda's /var/task: a runtime resolves it from its own directory.
            let root = std::path::absolute(root)?;
            cmd.current_dir(&root).env("LAMBDA_TASK_ROOT", &root);
        } else if let Some(dir) = c.binary.parent().filter(|d| !d.as_os_str().is_empty()) {
            cmd.env("LAMBDA_TASK_ROOT", dir);
        }
        let mut child = cmd.spawn()?;
        let spawned = Instant::now();
        let pid = child.id();
        let mut readers = Vec::new();
        for pipe in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        ]
        .into_iter()
        .flatten()
        {
            let logs = env.shared.logs.clone();
            let recorder = env.shared.recorder.clone();
            readers.push(tokio::spawn(async move {
                let mut lines = BufReader::new(pipe).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    recorder.log_line(&line);
                    logs.lock().expect("poisoned").push(line);
                }
            }));
        }
        let (exit_tx, exit_rx) = watch::channel(None);
        let (kill_tx, kill_rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let status = tokio::select! {
                status = child.wait() => status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string()),
                _ = kill_rx => {
                    let _ = child.kill().await;
                    "killed".to_string()
                }
            };
            let _ = exit_tx.send(Some(status));
        });
        Ok(ProcessHandle {
            pid,
            spawned,
            exited: exit_rx,
            kill: Some(kill_tx),
            readers,
        })
    }
}

async fn kill_locked(process: &mut Option<ProcessHandle>) {
    if let Some(mut handle) = process.take()
        && let Some(kill) = handle.kill.take()
    {
        let _ = kill.send(());
        let _ = handle.exited.wait_for(Option::is_some).await;
        // Every line it wrote is read (a process that left children holding its pipes is not
        // waited for long).
        for reader in handle.readers.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(5), reader).await;
        }
    }
}

/// Peak resident memory of a process in kB, from `/proc/PID/status`.
pub fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
