//! Faults applied by hook-sim from outside a function (any runtime), on the wire, and
//! `hook-sim audit`: the catalogue, its outputs (table, JSON, JUnit, HTML in a real browser),
//! `--require`, `--shard` and `--merge`.

use std::path::{Path, PathBuf};
use std::process::Command;

use aws_sdk_lambda::primitives::Blob;
use integration_tests::{Served, release_bin, target_dir, venv_bin, workspace_root};
use serde_json::Value;

async fn lambda(served: &Served) -> aws_sdk_lambda::Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(served.endpoint())
        .region(aws_config::Region::new(hook_sim::REGION))
        .credentials_provider(aws_sdk_lambda::config::Credentials::for_tests())
        .load()
        .await;
    aws_sdk_lambda::Client::new(&config)
}

/// What one invoke of `function:qualifier` answered, through the real SDK.
struct Answer {
    function_error: Option<String>,
    payload: Value,
    took: std::time::Duration,
}

async fn invoke(client: &aws_sdk_lambda::Client, function: &str, qualifier: &str) -> Answer {
    let started = std::time::Instant::now();
    let out = client
        .invoke()
        .function_name(function)
        .qualifier(qualifier)
        .payload(Blob::new(r#"{"name":"wire"}"#))
        .send()
        .await
        .expect("the invoke is answered");
    Answer {
        function_error: out.function_error().map(str::to_string),
        payload: serde_json::from_slice(out.payload().map(|p| p.as_ref()).unwrap_or(b"null")).unwrap_or(Value::Null),
        took: started.elapsed(),
    }
}

/// The name of the (first) function `hook-sim serve` serves.
fn served_function(served: &Served) -> String {
    served
        .lines
        .iter()
        .find_map(|l| l.strip_prefix("function   ")?.split_whitespace().next())
        .expect("a served function")
        .to_string()
}

/// The `body` member of an API-proxy answer, decoded.
fn body(answer: &Answer) -> Value {
    serde_json::from_str(answer.payload["body"].as_str().unwrap_or("null")).unwrap_or(Value::Null)
}

/// A Rust function (template.yaml's hello): `error` on version 1 fails it before its handler
/// runs; `http-status=503` on version 2 answers 503 without a function error, through Lambda's
/// Invoke and through the HTTP API alike.
#[tokio::test]
async fn a_rust_function_goes_bad_from_outside() {
    let served = Served::start(&["--fault", "error,version=current", "--fault", "http-status=503"]);
    let text = served.lines.join("");
    assert!(text.contains("fault error,version=current on version 1"), "{text}");
    assert!(text.contains("fault http-status=503 on version 2"), "{text}");
    let client = lambda(&served).await;
    let one = invoke(&client, "sam-app-HelloFunction", "1").await;
    assert_eq!(one.function_error.as_deref(), Some("Unhandled"));
    assert_eq!(one.payload["errorType"], "HookSimFault", "{}", one.payload);
    let two = invoke(&client, "sam-app-HelloFunction", "2").await;
    assert_eq!(two.function_error, None);
    assert_eq!(two.payload["statusCode"], 503, "{}", two.payload);
    let api = format!("{}/api/sam-app-HelloFunction/2/hello?name=api", served.endpoint());
    let response = reqwest::get(&api).await.unwrap();
    assert_eq!(response.status().as_u16(), 503);
}

/// A Python function: `init-error` fails every invocation of version 1 as a failed cold start
/// does; `body=...` on version 2 changes the answer the real handler gave.
#[tokio::test]
async fn a_python_function_goes_bad_from_outside() {
    let python = venv_bin("python").display().to_string();
    let served = Served::start(&[
        "--template",
        "hook-examples/python/template.yaml",
        "--python",
        &python,
        "--fault",
        "init-error,version=1",
        "--fault",
        "body=$.body.message=\"Goodbye\"",
    ]);
    let client = lambda(&served).await;
    let name = &served_function(&served);
    for _ in 0..2 {
        let one = invoke(&client, name, "1").await;
        assert_eq!(one.function_error.as_deref(), Some("Unhandled"));
        assert_eq!(one.payload["errorType"], "Runtime.ExitError", "{}", one.payload);
    }
    let two = invoke(&client, name, "2").await;
    assert_eq!(two.function_error, None, "{}", two.payload);
    assert_eq!(two.payload["statusCode"], 200, "{}", two.payload);
    let answer = body(&two);
    assert_eq!(answer["message"], "Goodbye", "{answer}");
    assert!(
        answer.get("version").is_some(),
        "the rest of the handler's answer stays: {answer}"
    );
}

/// A Node.js function: `delay=300ms` on version 1 answers late but answers; `timeout` on
/// version 2 runs past the function's timeout and ends as Lambda ends it. (The fixture's
/// function with a 1 s timeout: what a caller waits for is the function's own timeout.)
#[tokio::test]
async fn a_node_function_goes_bad_from_outside() {
    let fixture = std::fs::read_to_string(workspace_root().join("tests/fixtures/node-hello.yaml")).unwrap();
    let code = workspace_root().join("tests/fixtures/node");
    let short = fixture
        .replacen("CodeUri: node/", &format!("CodeUri: {}/", code.display()), 1)
        .replacen("Timeout: 10", "Timeout: 1", 1);
    assert_ne!(short, fixture);
    let template = write(&temp("node-short-timeout"), "template.yaml", &short);
    let served = Served::start(&[
        "--template",
        &template,
        "--fault",
        "delay=300ms,version=1",
        "--fault",
        "timeout",
    ]);
    let name = served_function(&served);
    let client = lambda(&served).await;
    let one = invoke(&client, &name, "1").await;
    assert_eq!(one.function_error, None, "{}", one.payload);
    assert_eq!(one.payload["statusCode"], 200, "{}", one.payload);
    assert!(one.took >= std::time::Duration::from_millis(300), "{:?}", one.took);
    let two = invoke(&client, &name, "2").await;
    assert_eq!(two.function_error.as_deref(), Some("Unhandled"));
    assert_eq!(two.payload["errorType"], "Sandbox.Timedout", "{}", two.payload);
    assert!(
        two.payload["errorMessage"]
            .as_str()
            .unwrap()
            .contains("Task timed out after 1.00 seconds"),
        "{}",
        two.payload
    );
    assert!(two.took >= std::time::Duration::from_secs(1), "{:?}", two.took);
}

fn hook_sim(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(release_bin("hook-sim"))
        .current_dir(workspace_root())
        .args(args)
        .output()
        .expect("hook-sim runs");
    (
        out.status.code().expect("exited"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A fault that starts late: the BeforeAllowTraffic hook passes (it runs before the fault), and
/// a gate that watches the canary stops it; the report names the fault.
#[test]
fn simulate_rehearses_a_fault_that_starts_late() {
    let (code, out, err) = hook_sim(&[
        "simulate",
        "--speed",
        "100000",
        "--seed",
        "3",
        "--fault",
        "error,after=1m",
        "--report",
        "json",
    ]);
    assert_eq!(code, 1, "{out}\n{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["faults"], serde_json::json!(["error,after=1m"]));
    let reported: Vec<&Value> = r["outcome"]["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "hook_reported")
        .collect();
    assert_eq!(reported[0]["lifecycle_event"], "BeforeAllowTraffic");
    assert_eq!(reported[0]["status"], "Succeeded", "{r:#}");
    assert!(r["outcome"]["traffic"]["2"]["errors"].as_u64().unwrap() > 0, "{r:#}");
    assert_eq!(r["outcome"]["status"], "RolledBack");

    // A fault spelled wrong is a usage error that says what to write.
    let (code, _, err) = hook_sim(&["simulate", "--fault", "erorr,rate=5%"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unknown fault \"erorr\""), "{err}");
    assert!(err.contains("error, delay=DURATION"), "{err}");
}

fn temp(name: &str) -> PathBuf {
    let dir = target_dir()
        .join("tmp")
        .join(format!("audit-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A small catalogue: a loud fault, a quiet one no alarm counts, a wrong answer.
const CATALOGUE: &str = "\
version: 1
faults:
  - name: errors on 20 %
    fault: error,rate=20%
  - name: quiet 500s
    fault: http-status=500,rate=5%
  - fault: body=$.body.message=\"Goodbye\"
";

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// The audit of template.yaml with a catalogue file: the table, JSON, JUnit and `--require`
/// agree with each other; the HTML page renders in Chromium with no console error.
#[test]
fn an_audit_reports_every_fault_in_every_form() {
    let dir = temp("forms");
    let catalogue = write(&dir, "faults.yaml", CATALOGUE);
    let json = dir.join("audit.json");
    let junit = dir.join("audit.xml");
    let html = dir.join("audit.html");
    let (code, out, err) = hook_sim(&[
        "audit",
        "--catalogue",
        &catalogue,
        "--seeds",
        "2",
        "--json",
        json.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
        "--require",
        "no-false-rollback",
        "--require",
        "caught=errors on 20 %",
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("hook-sim audit: HelloFunction (sam-app-HelloFunction) of template.yaml"),
        "{out}"
    );
    assert!(out.contains("alarms     HelloErrorsAlarm: Errors Sum"), "{out}");
    assert!(
        out.contains("traffic    100 requests a simulated minute of GET /hello; seeds 1, 2"),
        "{out}"
    );
    assert!(out.contains("✔ errors on 20 %"), "{out}");
    assert!(out.contains("require    ✔ no-false-rollback"), "{out}");
    assert!(out.contains("require    ✔ caught=errors on 20 %"), "{out}");

    let r: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(r["schema"], "hook-sim-audit/1");
    assert_eq!(
        r["runs"].as_array().unwrap().len(),
        (3 + 1) * 2,
        "every fault and the healthy version, twice"
    );
    assert_eq!(r["traffic"]["requests_per_minute"], 100);
    assert_eq!(r["healthy"]["false_rollbacks"], 0);
    let faults = r["faults"].as_array().unwrap();
    assert_eq!(faults.len(), 3);
    let loud = &faults[0];
    assert_eq!(loud["verdict"], "caught", "{loud:#}");
    assert_eq!(loud["caught"], 2);
    // Every caught run says when and at what cost; no run says "caught" without a rollback.
    for run in r["runs"].as_array().unwrap() {
        assert_eq!(
            run["rolled_back"].as_bool().unwrap(),
            run["gate"].is_string(),
            "{run:#}"
        );
        assert_eq!(
            run["rolled_back"].as_bool().unwrap(),
            run["detected_s"].is_number(),
            "{run:#}"
        );
        assert!(run["minutes"].as_array().is_some_and(|m| !m.is_empty()), "{run:#}");
    }
    // The quiet 500s: whatever the verdict, the facts say why the error alarm cannot count them.
    let quiet = &faults[1];
    let facts = quiet["facts"].to_string();
    assert!(
        facts.contains("is no function error: Lambda's Errors metric does not count it"),
        "{facts}"
    );
    assert!(
        facts.contains("30 % of 100 requests a minute = 30 a minute to version 2"),
        "{facts}"
    );

    // JUnit: a test case per fault and one for the healthy version, failures where the JSON says.
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<testcase ").count(), 4, "{xml}");
    let not_caught = faults.iter().filter(|f| f["verdict"] != "caught").count();
    assert_eq!(xml.matches("<failure ").count(), not_caught, "{xml}");
    assert!(xml.contains(&format!("tests=\"4\" failures=\"{not_caught}\"")), "{xml}");

    // `--require caught=all` fails exactly when a fault was not caught in every seed, from the
    // JSON alone (--merge of one whole result).
    let (code, out, err) = hook_sim(&[
        "audit",
        "--merge",
        json.to_str().unwrap(),
        "--require",
        "caught=all",
        "--require",
        "caught=nonesuch",
    ]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        out.contains("require    ✘ caught=nonesuch: \"nonesuch\" is not in the catalogue"),
        "{out}"
    );
    if not_caught == 0 {
        assert!(out.contains("require    ✔ caught=all"), "{out}");
    } else {
        assert!(out.contains("require    ✘ caught=all"), "{out}");
    }

    // The page, in a real browser: it renders, with a chart per fault and no console error.
    let page = std::fs::read_to_string(&html).unwrap();
    for fetch in ["<script", "<link", "src=", "url(", "@import", "href=\"http"] {
        assert!(!page.contains(fetch), "self-contained, no {fetch}");
    }
    let (dom, console) = chromium_dom(&html);
    assert_eq!(
        dom.matches("<svg").count(),
        4,
        "a chart per fault and the healthy version"
    );
    assert!(dom.contains("Would your canary catch it?"));
    assert!(dom.contains("errors on 20 %"));
    assert!(
        !console.contains("Uncaught") && !console.contains(":ERROR:CONSOLE"),
        "{console}"
    );
}

/// The page as headless Chromium (Debian's) lays it out: the DOM, and what it logged.
fn chromium_dom(page: &Path) -> (String, String) {
    let profile = temp("chromium-profile");
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs (.ci/run installs Debian's chromium)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let console: String = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught"))
        .collect::<Vec<_>>()
        .join("\n");
    (String::from_utf8_lossy(&out.stdout).into_owned(), console)
}

/// Two shards of one audit, merged, hold exactly the runs of the whole audit with the same
/// verdicts; a missing or foreign shard is a usage error.
#[test]
fn shards_merge_into_the_whole_audit() {
    let dir = temp("shards");
    let catalogue = write(
        &dir,
        "faults.yaml",
        "version: 1\nfaults:\n  - fault: error,rate=20%\n  - fault: init-error\n",
    );
    let run = |extra: &[&str], json: &Path| {
        let mut args = vec![
            "audit",
            "--catalogue",
            &catalogue,
            "--seeds",
            "2",
            "--json",
            json.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let (code, out, err) = hook_sim(&args);
        assert_eq!(code, 0, "{out}\n{err}");
        serde_json::from_str::<Value>(&std::fs::read_to_string(json).unwrap()).unwrap()
    };
    let whole = run(&[], &dir.join("whole.json"));
    let one = run(&["--shard", "1/2"], &dir.join("one.json"));
    let two = run(&["--shard", "2/2"], &dir.join("two.json"));
    let n = |r: &Value| r["runs"].as_array().unwrap().len();
    assert_eq!(n(&one) + n(&two), n(&whole));
    assert!(n(&one) > 0 && n(&two) > 0);

    let merged_path = dir.join("merged.json");
    let (code, out, err) = hook_sim(&[
        "audit",
        "--merge",
        dir.join("two.json").to_str().unwrap(),
        "--merge",
        dir.join("one.json").to_str().unwrap(),
        "--json",
        merged_path.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    let merged: Value = serde_json::from_str(&std::fs::read_to_string(&merged_path).unwrap()).unwrap();
    let units = |r: &Value| -> Vec<(Value, Value, Value)> {
        r["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| (x["fault"].clone(), x["seed"].clone(), x["rolled_back"].clone()))
            .collect()
    };
    assert_eq!(
        units(&merged),
        units(&whole),
        "the same runs, in the same order, with the same outcome"
    );
    assert_eq!(merged["shards"], serde_json::json!([[1, 2], [2, 2]]));

    let (code, _, err) = hook_sim(&["audit", "--merge", dir.join("one.json").to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("shard(s) 2/2 missing"), "{err}");
    let (code, _, err) = hook_sim(&[
        "audit",
        "--merge",
        dir.join("one.json").to_str().unwrap(),
        "--merge",
        dir.join("whole.json").to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("split the audit in different numbers"), "{err}");
}

/// Mistakes in the user's own input are set-up errors (exit 2) that say what to write.
#[test]
fn a_broken_catalogue_or_flag_is_a_set_up_error() {
    let dir = temp("mistakes");
    let bad = write(
        &dir,
        "bad.yaml",
        "version: 1\nfaults:\n  - fault: error\n  - fault: delay=fast\n",
    );
    let (code, out, err) = hook_sim(&["audit", "--catalogue", &bad]);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("bad.yaml:4: faults[1]: fault \"delay=fast\""), "{err}");
    assert!(err.contains("   4 |   - fault: delay=fast"), "{err}");
    let unknown = write(
        &dir,
        "unknown.yaml",
        "version: 1\nfaults:\n  - fault: error\n    percent: 5\n",
    );
    let (code, _, err) = hook_sim(&["audit", "--catalogue", &unknown]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("percent"), "{err}");
    let (code, _, err) = hook_sim(&["audit", "--catalogue", "no-such.yaml"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no-such.yaml: cannot read the catalogue"), "{err}");
    let (code, _, err) = hook_sim(&["audit", "--shard", "3/2"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("give K/N"), "{err}");
    let (code, _, err) = hook_sim(&["audit", "--require", "everything"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("caught=all"), "{err}");
    // A typo in --bin names the function it meant, before anything runs.
    let (code, _, err) = hook_sim(&["audit", "--bin", "PreTraficHook=target/release/pre-traffic"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("the stack has no function PreTraficHook (did you mean PreTrafficHook?)"),
        "{err}"
    );
    let (code, schema, _) = hook_sim(&["audit", "--print-schema"]);
    assert_eq!(code, 0);
    let schema: Value = serde_json::from_str(&schema).unwrap();
    assert_eq!(schema["title"], "hook-sim audit catalogue");
}

/// The commands of the README's "Would your canary catch it?", as written, from the repository
/// root with the release binaries first on the PATH: the default catalogue's table, and a run
/// that leaves its JSON, JUnit and HTML where the line says.
#[test]
fn the_readme_audit_commands_run_as_written() {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let section = readme
        .split("\n## Would your canary catch it?\n")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("the README has the audit's section");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .unwrap();
    let commands: Vec<&str> = block.lines().filter(|l| !l.trim().is_empty()).collect();
    let [table, files] = commands.as_slice() else {
        panic!("two commands: {commands:?}")
    };
    let bin_dir = release_bin("hook-sim").parent().unwrap().to_path_buf();
    let path = std::env::join_paths(
        std::iter::once(bin_dir).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .unwrap();
    let root = workspace_root();
    let shell = |line: &str| {
        let out = Command::new("sh")
            .args(["-c", line])
            .current_dir(&root)
            .env("PATH", &path)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = shell(table);
    assert_eq!(code, 0, "{table}\n{out}\n{err}");
    // The README shows this table: its lines, whatever the machine's own figures.
    for line in [
        "hook-sim audit: HelloFunction (sam-app-HelloFunction) of template.yaml",
        "  traffic    100 requests a simulated minute of GET /hello; seeds 1–5",
        "  fault                                  caught  first gate",
        "✔ every invocation fails                 5/5     BeforeAllowTraffic hook",
        "✔ errors on 20 %                         5/5     alarm HelloErrorsAlarm",
        "✔ every cold start fails                 5/5     BeforeAllowTraffic hook",
        "✔ healthy version                        0 false rollback(s) in 5 run(s)",
    ] {
        assert!(out.contains(line), "{line:?} in:\n{out}");
        assert!(section.contains(line), "the README shows {line:?}");
    }

    // The files' folder is made if it is missing, as on a fresh clone before any build.
    let _ = std::fs::remove_dir_all(root.join("target/audit-readme"));
    let files = files.replace("target/audit.", "target/audit-readme/audit.");
    let (code, out, err) = shell(&files);
    assert_eq!(code, 0, "{files}\n{out}\n{err}");
    assert!(out.contains("require    ✔ no-false-rollback"), "{out}");
    let r: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("target/audit-readme/audit.json")).unwrap()).unwrap();
    assert_eq!(r["seeds"], serde_json::json!([1, 2]));
    assert_eq!(r["faults"].as_array().unwrap().len(), 12);
    assert!(
        std::fs::read_to_string(root.join("target/audit-readme/audit.xml"))
            .unwrap()
            .contains("<testsuites")
    );
    assert!(
        std::fs::read_to_string(root.join("target/audit-readme/audit.html"))
            .unwrap()
            .contains("<svg")
    );
}
