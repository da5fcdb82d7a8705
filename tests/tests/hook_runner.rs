//! `hook-runner`, the release binary: as a Lambda hook on the wire through hook-sim, and
//! as a CLI (`validate`, `run`).

use std::process::Command;

use hook_sim::{Behavior, DeploymentSetup, FunctionSetup, Service, Sim, lambda_appspec};
use integration_tests::{DEPLOYMENT, HOOK_NAME, HookSetup, Served, release_bin};
use serde_json::{Value, json};

fn appspec() -> String {
    lambda_appspec("hello-fn", "live", "1", "2", &[("BeforeAllowTraffic", HOOK_NAME)])
}

fn hello(v2: Behavior) -> FunctionSetup {
    FunctionSetup::new()
        .version("1", Behavior::hello("1"))
        .version("2", v2)
        .alias("live", "1")
}

async fn hook(spec: &str, v2: Behavior) -> HookSetup {
    let h = HookSetup::start_with_env(
        "hook-runner",
        DeploymentSetup::new(DEPLOYMENT, &appspec()),
        integration_tests::NO_BINDING_TIMEOUT,
        &[("HOOK_SPEC", spec)],
    )
    .await;
    h.function("hello-fn", hello(v2));
    h
}

const SMOKE: &str = r#"version: 1
checks:
  - name: greets the canary
    invoke: { payload: { name: canary } }
    expect:
      json:
        $.statusCode: 200
        $.body.message: { matches: "^Hello, canary" }
"#;

/// The JSON records the hook logged: one per check and a summary.
fn records(h: &HookSetup) -> Vec<Value> {
    h.hook
        .logs()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("record").is_some())
        .collect()
}

#[tokio::test]
async fn a_passing_spec_reports_succeeded() {
    let h = hook(SMOKE, Behavior::hello("2")).await;
    let (_, out) = h.run("BeforeAllowTraffic").await;
    assert_eq!(out.json()["status"], "Succeeded", "{}\n{}", out.json(), h.logs());
    assert_eq!(h.sim.statuses().len(), 1);
    assert_eq!(h.invoked_qualifiers(), ["2"]);
    let recs = records(&h);
    assert_eq!(recs.len(), 2, "{}", h.logs());
    assert_eq!(recs[0]["record"], "check");
    assert_eq!(recs[0]["outcome"], "Passed");
    assert_eq!(recs[0]["deployment_id"], DEPLOYMENT);
    assert_eq!(recs[1]["record"], "summary");
    assert_eq!(recs[1]["passed"], true);
}

#[tokio::test]
async fn a_failing_assertion_reports_failed_with_expected_and_actual_in_the_log() {
    let h = hook(
        SMOKE,
        Behavior::Respond(json!({"statusCode": 200, "body": "{\"message\":\"Goodbye\"}"})),
    )
    .await;
    let (_, out) = h.run("BeforeAllowTraffic").await;
    assert_eq!(out.json()["status"], "Failed");
    let reason = out.json()["reason"].as_str().unwrap().to_string();
    assert!(
        reason.contains("json $.body.message expected matches /^Hello, canary/, actual \"Goodbye\""),
        "{reason}"
    );
    let recs = records(&h);
    let failed = &recs[0]["assertions"][2];
    assert_eq!(failed["query"], "json $.body.message");
    assert_eq!(failed["expected"], "matches /^Hello, canary/");
    assert_eq!(failed["actual"], "\"Goodbye\"");
    assert_eq!(h.sim.statuses()[0].status, "Failed");
}

#[tokio::test]
async fn thresholds_over_repeated_invokes() {
    let spec = r#"version: 1
checks:
  - name: steady under load
    invoke: { payload: { name: load } }
    expect: { status: 200 }
    repeat: 40
    concurrency: 8
    thresholds: { success_rate: ">= 0.99", p95: "< 2s" }
"#;
    let h = hook(spec, Behavior::hello("2")).await;
    let (_, out) = h.run("BeforeAllowTraffic").await;
    assert_eq!(out.json()["status"], "Succeeded", "{}\n{}", out.json(), h.logs());
    assert_eq!(
        h.sim.calls().iter().filter(|c| c.service == Service::Lambda).count(),
        40
    );
    let recs = records(&h);
    assert_eq!(recs[0]["stats"]["runs"], 40);
    assert_eq!(recs[0]["assertions"][0]["query"], "threshold success_rate");
}

#[tokio::test]
async fn an_invalid_spec_reports_failed_with_the_located_error() {
    let spec =
        "version: 1\nchecks:\n  - name: a\n    invoke: {}\n    expect:\n      json:\n        $.x: { match: 1 }\n";
    let h = hook(spec, Behavior::hello("2")).await;
    let (_, out) = h.run("BeforeAllowTraffic").await;
    assert_eq!(out.function_error, None, "{}", h.logs());
    assert_eq!(out.json()["status"], "Failed");
    let reason = out.json()["reason"].as_str().unwrap().to_string();
    assert!(
        reason.contains("HOOK_SPEC:7:14: checks[0].expect.json.$.x: unknown operator `match`"),
        "{reason}"
    );
    assert_eq!(h.sim.statuses()[0].status, "Failed");
    assert!(
        h.sim.calls().iter().all(|c| c.service != Service::Lambda),
        "no check ran"
    );
}

/// A spec that does not load quotes its lines around the error: a secret written in it (a
/// literal value of a secret-named variable or header) is masked in the report, the Lambda
/// log, the status reason and `hook-runner validate`.
#[tokio::test]
async fn a_spec_that_does_not_load_never_quotes_a_secret_written_in_it() {
    let secret = "sup3r-s3cret/t0ken+value";
    // The error's line is shown with the two before it: each spec has a secret among them.
    let specs = [
        (
            format!(
                "version: 1\nchecks:\n  - name: a\n    http: {{ url: \"http://127.0.0.1:9/\", headers: {{ Authorization: \"Bearer {secret}\" }} }}\n    expect: {{ json: {{ $.x: {{ match: 1 }} }} }}\n"
            ),
            "unknown operator `match`",
        ),
        (
            format!("version: 1\nvars:\n  API_TOKEN: {secret}\n  other: [1, 2]\nchecks: []\n"),
            "vars.other",
        ),
    ];
    for (spec, says) in specs {
        let h = hook(&spec, Behavior::hello("2")).await;
        let (_, out) = h.run("BeforeAllowTraffic").await;
        assert_eq!(out.json()["status"], "Failed");
        let reason = out.json()["reason"].as_str().unwrap().to_string();
        assert!(reason.contains(says) && reason.contains("***"), "{reason}");
        for shown in [reason, h.logs(), format!("{:?}", h.sim.statuses())] {
            assert!(!shown.contains("s3cret"), "{shown}");
        }
        let dir = temp_dir("secret-spec");
        let file = write(&dir, "spec.yaml", &spec);
        let (code, out, err) = cli(&["validate", &file], &[]);
        assert_eq!(code, 1);
        assert!(err.contains(says) || out.contains(says), "{out}{err}");
        assert!(!out.contains("s3cret") && !err.contains("s3cret"), "{out}{err}");
    }
}

fn cli(args: &[&str], env: &[(String, String)]) -> (i32, String, String) {
    let mut cmd = Command::new(release_bin("hook-runner"));
    cmd.args(args)
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    outcome(cmd)
}

/// Runs `cmd` to its end: its exit code, standard output and standard error.
fn outcome(mut cmd: Command) -> (i32, String, String) {
    let out = cmd.output().expect("hook-runner runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// [`cli`] off the async runtime, so hook-sim keeps serving while hook-runner calls it.
async fn cli_async(args: &[&str], env: &[(String, String)]) -> (i32, String, String) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let env = env.to_vec();
    tokio::task::spawn_blocking(move || cli(&args.iter().map(String::as_str).collect::<Vec<_>>(), &env))
        .await
        .unwrap()
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = integration_tests::target_dir().join("test-tmp").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn validate_shows_located_errors_and_exits_1() {
    let dir = temp_dir("validate");
    let good = write(&dir, "good.yaml", SMOKE);
    let bad = write(
        &dir,
        "bad.yaml",
        "version: 1\nchecks:\n  - name: a\n    invoke: {}\n    expct: {}\n",
    );
    let (code, out, _) = cli(&["validate", &good], &[]);
    assert_eq!(code, 0);
    assert!(out.contains("good.yaml: ok (1 checks)"), "{out}");
    let (code, _, err) = cli(&["validate", &good, &bad], &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains("bad.yaml:5:5: checks[0].expct: unknown field `expct`"),
        "{err}"
    );
    assert!(err.contains("= hint: did you mean `expect`?"), "{err}");
    assert!(err.contains("1 of 2 spec files are invalid"), "{err}");
}

#[test]
fn usage_errors_exit_2_and_help_shows_examples() {
    let (code, _, err) = cli(&["run"], &[]);
    assert_eq!(code, 2, "{err}");
    let (code, out, _) = cli(&["--help"], &[]);
    assert_eq!(code, 0);
    assert!(
        out.contains("hook-runner run hook-examples/smoke.yaml --function hello-fn --qualifier 7"),
        "{out}"
    );
    let (code, out, _) = cli(&["schema"], &[]);
    assert_eq!(code, 0);
    let schema: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(schema, hook_sdk::spec::schema());
}

#[tokio::test]
async fn run_against_a_deployed_version() {
    let sim = Sim::start().await.unwrap();
    sim.add_function("hello-fn", hello(Behavior::hello("2")));
    sim.add_function(
        "broken-fn",
        FunctionSetup::new().version("3", Behavior::Respond(json!({"statusCode": 500}))),
    );
    let dir = temp_dir("run");
    let spec = write(&dir, "smoke.yaml", SMOKE);
    let env: Vec<(String, String)> = sim.aws_env();

    let (code, out, err) = cli_async(&["run", &spec, "--function", "hello-fn", "--qualifier", "2"], &env).await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("✔ greets the canary [hello-fn:2]"), "{out}");
    assert!(out.contains("PASSED"), "{out}");

    let junit = dir.join("checks.xml").display().to_string();
    let broken = ["run", &spec, "--function", "broken-fn", "--qualifier", "3"];
    let (code, out, err) = cli_async(&[&broken[..], &["--report", "junit", "--out", &junit]].concat(), &env).await;
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("FAILED: 0 passed, 1 failed"), "{err}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains(
            "<failure message=\"greets the canary [broken-fn:3]: json $.statusCode expected == 200, actual 500\""
        ),
        "{xml}"
    );

    let (code, out, _) = cli_async(&[&broken[..], &["--report", "json"]].concat(), &env).await;
    assert_eq!(code, 1);
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["summary"]["passed"], false);
    assert_eq!(doc["checks"][0]["outcome"], "Failed");
}

/// `cli` with nothing of the caller's AWS configuration: a fresh machine's environment.
async fn cli_fresh(args: &[&str], home: &std::path::Path, env: &[(&str, String)]) -> (i32, String, String) {
    let mut cmd = Command::new(release_bin("hook-runner"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    tokio::task::spawn_blocking(move || outcome(cmd)).await.unwrap()
}

const TWO_KINDS: &str = r#"version: 1
checks:
  - name: greets the canary
    invoke: { payload: { name: canary } }
    expect:
      json:
        $.statusCode: 200
  - name: health through the API
    phase: before
    http: { url: "${env:API_URL}/health" }
"#;

#[tokio::test]
async fn run_tells_set_up_errors_from_failed_checks() {
    let sim = Sim::start().await.unwrap();
    sim.add_function("hello-fn", hello(Behavior::hello("2")));
    sim.add_function(
        "broken-fn",
        FunctionSetup::new()
            .version("3", Behavior::Respond(json!({"statusCode": 500})))
            .version("4", Behavior::Respond(json!({"statusCode": 500}))),
    );
    let dir = temp_dir("run-setup");
    let spec = write(&dir, "smoke.yaml", TWO_KINDS);
    let smoke = write(&dir, "one.yaml", SMOKE);
    let env: Vec<(String, String)> = sim.aws_env();

    // One failed assertion and one set-up error (API_URL is not set): exit 2, and JUnit
    // tells them apart.
    let junit = dir.join("checks.xml");
    let junit_arg = junit.display().to_string();
    let run = ["run", &spec, "--function", "broken-fn", "--qualifier", "3"];
    let (code, out, err) = cli_async(&[&run[..], &["--report", "junit", "--out", &junit_arg]].concat(), &env).await;
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("✘ greets the canary [broken-fn]"), "{err}");
    assert!(err.contains("! health through the API (set-up error)"), "{err}");
    assert!(err.contains("FAILED: 0 passed, 1 failed, 1 set-up error "), "{err}");
    assert!(err.contains("1 of 2 checks could not be made"), "{err}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("tests=\"2\" failures=\"1\" errors=\"1\""), "{xml}");
    assert!(
        xml.contains("<testcase name=\"greets the canary [broken-fn]\""),
        "the name carries no version: {xml}"
    );
    assert!(xml.contains("<property name=\"qualifier\" value=\"3\"/>"), "{xml}");
    assert!(xml.contains("type=\"AssertionFailed\">json $.statusCode"), "{xml}");
    assert!(
        xml.contains("<error message=\"health through the API: environment variable API_URL is not set"),
        "{xml}"
    );
    assert!(xml.contains("type=\"SetupError\""), "{xml}");
    // The same test's name in the next deployment's run.
    let run4 = ["run", &spec, "--function", "broken-fn", "--qualifier", "4"];
    cli_async(&[&run4[..], &["--report", "junit", "--out", &junit_arg]].concat(), &env).await;
    assert!(
        std::fs::read_to_string(&junit)
            .unwrap()
            .contains("<testcase name=\"greets the canary [broken-fn]\"")
    );

    // Only the assertion: exit 1.
    let api = [("API_URL".to_string(), sim.endpoint_url())];
    let env_api = [env.clone(), api.to_vec()].concat();
    let only_failure = ["run", &smoke, "--function", "broken-fn", "--qualifier", "3"];
    let (code, out, err) = cli_async(&only_failure, &env_api).await;
    assert_eq!(code, 1, "{out}\n{err}");

    // Set-up errors, each exit 2 with its cause: an unknown function, an alias not given,
    // an unset variable in a passing spec.
    let (code, out, err) = cli_async(&["run", &smoke, "--function", "no-such-fn", "--qualifier", "1"], &env).await;
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(out.contains("ResourceNotFoundException"), "{out}");
    assert!(
        !err.contains("hint:"),
        "a name that is no logical id gets no hint: {err}"
    );
    // The template's logical id instead of the deployed name: the hint says where the name is.
    let (code, out, err) = cli_async(
        &["run", &smoke, "--function", "HelloFunction", "--qualifier", "1"],
        &env,
    )
    .await;
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(
        err.contains("hint: Lambda has no function HelloFunction: --function takes the deployed function's name")
            && err.contains("--logical-resource-id HelloFunction"),
        "{err}"
    );
    // A spec that does not load, with --out: the report says why (JUnit's error), exit 2.
    let broken = write(
        &dir,
        "broken.yaml",
        "version: 1\nchecks:\n  - name: a\n    invoke: { payload: 1 }\n    expect: { stauts: 200 }\n",
    );
    let broken_xml = dir.join("broken.xml");
    let _ = std::fs::remove_file(&broken_xml);
    let xml_arg = broken_xml.display().to_string();
    let args = [
        "run",
        &broken,
        "--function",
        "hello-fn",
        "--qualifier",
        "2",
        "--report",
        "junit",
        "--out",
        &xml_arg,
    ];
    let (code, _, err) = cli_async(&args, &env).await;
    assert_eq!(code, 2, "{err}");
    let xml = std::fs::read_to_string(&broken_xml).expect("the report is written");
    assert!(
        xml.contains("<testcase name=\"the spec loads\"")
            && xml.contains("type=\"SetupError\"")
            && xml.contains("stauts"),
        "{xml}"
    );
    let alias_spec = write(
        &dir,
        "alias.yaml",
        "version: 1\nchecks:\n  - name: via the alias\n    phase: after\n    invoke: { qualifier: alias }\n",
    );
    let args = [
        "run",
        &alias_spec,
        "--function",
        "hello-fn",
        "--qualifier",
        "2",
        "--phase",
        "after",
    ];
    let (code, out, err) = cli_async(&args, &env).await;
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(out.contains("`qualifier: alias`, but hello-fn has no alias"), "{out}");
    let (code, _, err) = cli_async(&[&args[..], &["--alias", "live"]].concat(), &env).await;
    assert_eq!(code, 0, "{err}");
}

#[tokio::test]
async fn run_against_a_loopback_endpoint_needs_no_aws_configuration() {
    let sim = Sim::start().await.unwrap();
    sim.add_function("hello-fn", hello(Behavior::hello("2")));
    let dir = temp_dir("run-fresh");
    let spec = write(&dir, "smoke.yaml", SMOKE);
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let run = ["run", &spec, "--function", "hello-fn", "--qualifier", "2"];
    let endpoint = [("AWS_ENDPOINT_URL", sim.endpoint_url())];
    let (code, out, err) = cli_fresh(&run, &home, &endpoint).await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        err.contains("is a loopback endpoint and no AWS credentials are configured: using dummy credentials"),
        "{err}"
    );
    assert!(err.contains("no AWS region configured: using us-east-1"), "{err}");
    assert_eq!(sim.calls().len(), 1);
    // Credentials the caller configured are theirs to get right: a profile that does not
    // exist is a set-up error, exit 2.
    let with_profile = [endpoint[0].clone(), ("AWS_PROFILE", "nobody".to_string())];
    let (code, out, err) = cli_fresh(&run, &home, &with_profile).await;
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(!err.contains("dummy credentials"), "{err}");
}

#[tokio::test]
async fn run_colours_only_when_asked_or_on_a_terminal() {
    let sim = Sim::start().await.unwrap();
    sim.add_function("hello-fn", hello(Behavior::hello("2")));
    let dir = temp_dir("run-colour");
    let spec = write(&dir, "smoke.yaml", SMOKE);
    let env = sim.aws_env();
    let run = ["run", &spec, "--function", "hello-fn", "--qualifier", "2"];
    let (_, plain, _) = cli_async(&run, &env).await;
    assert!(!plain.contains('\x1b'), "{plain}");
    let (_, coloured, _) = cli_async(&[&run[..], &["--color", "always"]].concat(), &env).await;
    assert!(coloured.contains("\x1b[32m✔\x1b[0m greets the canary"), "{coloured:?}");
    let with_no_color = [env.clone(), vec![("NO_COLOR".to_string(), "1".to_string())]].concat();
    let (_, forced, _) = cli_async(&[&run[..], &["--color", "always"]].concat(), &with_no_color).await;
    assert!(forced.contains('\x1b'), "--color always wins over NO_COLOR");
}

#[test]
fn validate_shows_every_error_of_a_file() {
    let dir = temp_dir("validate-all");
    let bad = write(
        &dir,
        "bad.yaml",
        r#"version: 1
vars:
  greeting: hello
checks:
  - name: one
    invoke: { payload: { text: "{{gretting}}" } }
  - name: two
    invoke: {}
    repeat: -1
  - name: three
    invoke: {}
    expect:
      json:
        $.body: { matches: "([a-" }
  - name: four
    invok: {}
  - name: five
    invoke: {}
    retry: 3
"#,
    );
    let (code, _, err) = cli(&["validate", &bad], &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("bad.yaml: 5 errors"), "{err}");
    // Variables too, in the same run as the parse errors of other checks.
    assert!(
        err.contains("bad.yaml:6:33: checks[0]: unknown variable {{gretting}}: nothing defines it here"),
        "{err}"
    );
    assert!(err.contains("did you mean {{greeting}}?"), "{err}");
    // In the spec's words: what was expected, what was found.
    assert!(
        err.contains("bad.yaml:9:13: checks[1].repeat: expected a whole number, found `-1`"),
        "{err}"
    );
    assert!(!err.contains("invalid u32") && !err.contains("mapping start"), "{err}");
    assert!(err.contains("= hint: expected a whole number ≥ 1"), "{err}");
    // The regular expression's own message, as lines.
    assert!(
        err.contains("checks[2].expect.json.$.body: bad regular expression:\n        ([a-\n"),
        "{err}"
    );
    assert!(err.contains("\n    error: unclosed character class\n"), "{err}");
    assert!(!err.contains("\\n"), "{err}");
    assert!(err.contains("checks[3].invok: unknown field `invok`"), "{err}");
    assert!(err.contains("did you mean `invoke`?"), "{err}");
    assert!(
        err.contains(
            "checks[4].retry: expected a mapping (`{ key: value }` or indented `key: value` lines), found `3`"
        ),
        "{err}"
    );
    assert!(
        err.contains("= hint: expected a mapping with `attempts` (a whole number ≥ 1, required)"),
        "{err}"
    );
    // A bad JSONPath says where it stops parsing; a check's rules are checked in the same run
    // as another check's parse error and a top-level one.
    let more = write(
        &dir,
        "more.yaml",
        "version: 1\ndefaults: { retry: 3 }\nchecks:\n  - name: a\n    invoke: {}\n    expect: { json: { \"$.body[\": 1 } }\n  - name: b\n    http: { url: \"https://example.com\" }\n    concurrency: 5\n",
    );
    let (code, _, err) = cli(&["validate", &more], &[]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("bad JSONPath `$.body[`: it does not parse from character 7"),
        "{err}"
    );
    assert!(
        err.contains("check `b`: `concurrency` and `thresholds` need `repeat`"),
        "{err}"
    );
    assert!(err.contains("defaults.retry: expected a mapping"), "{err}");
    assert!(err.contains("more.yaml: 3 errors"), "{err}");
    // Variables are looked at once every check parses.
    let fixed = std::fs::read_to_string(&bad)
        .unwrap()
        .replace("repeat: -1", "repeat: 1")
        .replace("([a-", "[a-z]")
        .replace("invok:", "invoke:")
        .replace("retry: 3", "retry: { attempts: 3 }");
    let fixed = write(&dir, "fixed.yaml", &fixed);
    let (code, _, err) = cli(&["validate", &fixed], &[]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("fixed.yaml:6:33: checks[0]: unknown variable {{gretting}}"),
        "{err}"
    );
    assert!(err.contains("did you mean {{greeting}}?"), "{err}");
    assert!(err.contains("fixed.yaml: 1 error\n"), "{err}");
    // A variable the run gives is declared to validate.
    let (code, out, err) = cli(&["validate", &fixed, "--var", "gretting"], &[]);
    assert_eq!(code, 0, "{out}{err}");
}

#[tokio::test]
async fn a_skip_the_spec_allows_reports_succeeded_with_a_loud_record() {
    let spec = SMOKE.replace("version: 1\n", "version: 1\nallow_skip: true\n");
    let h = hook(&spec, Behavior::Respond(json!({"statusCode": 500}))).await;
    h.function(
        "hello-fn",
        hello(Behavior::Respond(json!({"statusCode": 500}))).version_env("2", "HOOK_SKIP_CHECKS", "INC-9 hotfix"),
    );
    let (_, out) = h.run("BeforeAllowTraffic").await;
    assert_eq!(out.json()["status"], "Succeeded", "{}\n{}", out.json(), h.logs());
    assert_eq!(h.sim.statuses().len(), 1);
    assert!(h.sim.calls().iter().all(|c| c.operation != "Invoke"), "no check ran");
    let recs = records(&h);
    assert_eq!(recs[0]["record"], "waiver", "{}", h.logs());
    assert_eq!(recs[0]["granted"], true);
    assert_eq!(recs[0]["reason"], "INC-9 hotfix");
    assert_eq!(recs.last().unwrap()["waivers"][0]["target"], "hello-fn:2");
    assert!(
        h.logs().contains("CHECKS SKIPPED for hello-fn:2: \\\"INC-9 hotfix\\\""),
        "a warning of its own: {}",
        h.logs()
    );
    // The same version under a spec that does not allow it: the checks run and fail.
    let h = hook(SMOKE, Behavior::Respond(json!({"statusCode": 500}))).await;
    h.function(
        "hello-fn",
        hello(Behavior::Respond(json!({"statusCode": 500}))).version_env("2", "HOOK_SKIP_CHECKS", "INC-9 hotfix"),
    );
    let (_, out) = h.run("BeforeAllowTraffic").await;
    assert_eq!(out.json()["status"], "Failed");
    assert!(
        h.sim.calls().iter().all(|c| c.operation != "GetFunction"),
        "nothing to read"
    );
}

/// An SDK configuration pointed at a served stack.
async fn served_config(served: &Served) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(served.endpoint())
        .region(aws_config::Region::new(hook_sim::REGION))
        .credentials_provider(aws_sdk_lambda::config::Credentials::for_tests())
        .load()
        .await
}

/// The README's recipe: `hook-sim serve` the template's functions, export what it prints, and
/// `hook-runner run` a spec against them with no AWS configuration.
#[tokio::test]
async fn run_against_a_served_template() {
    let served = Served::start(&[]);
    let text = served.lines.join("");
    assert!(
        text.contains(
            "function   sam-app-HelloFunction (HelloFunction, provided.al2023): versions 1 and 2, alias live -> 1"
        ),
        "{text}"
    );
    assert!(
        text.contains("hook-runner run SPEC --function sam-app-HelloFunction --qualifier 2 --alias live --current 1"),
        "{text}"
    );
    let home = temp_dir("served-home");
    let env = [("AWS_ENDPOINT_URL", served.endpoint())];
    let spec = integration_tests::workspace_root().join("hook-examples/smoke.yaml");
    let spec = spec.display().to_string();
    let run = ["run", &spec, "--function", "sam-app-HelloFunction", "--qualifier", "2"];
    let (code, out, err) = cli_fresh(&run, &home, &env).await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("✔ greets the canary [sam-app-HelloFunction:2]"), "{out}");
    drop(served);

    // A faulty version 2, served as simulate would run it: the same run fails.
    let served = Served::start(&["--target-env", "HELLO_FAULT=error"]);
    let env = [("AWS_ENDPOINT_URL", served.endpoint())];
    let (code, out, err) = cli_fresh(&run, &home, &env).await;
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.contains("HELLO_FAULT=error: version 2 fails on purpose"), "{out}");
}

#[test]
fn serve_says_what_to_do_with_a_template_it_cannot_serve() {
    let out = Command::new(release_bin("hook-sim"))
        .current_dir(integration_tests::workspace_root())
        .args([
            "serve",
            "--port",
            "0",
            "--template",
            "hook-examples/shared-hook/template.yaml",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("has no function deployed gradually"), "{err}");
    assert!(err.contains("--function"), "{err}");
}

/// A platform team tries the shared spec against a consumer stack served locally: each
/// function gets the checks that select it (tags read with GetFunction from the template).
#[tokio::test]
async fn the_shared_spec_runs_against_a_served_consumer_stack() {
    let served = Served::start(&["--template", "hook-examples/shared-hook/consumer.yaml"]);
    let home = temp_dir("served-shared-home");
    let env = [("AWS_ENDPOINT_URL", served.endpoint())];
    let spec = integration_tests::workspace_root().join("hook-examples/shared-hook/shared.yaml");
    let spec = spec.display().to_string();
    for (function, check) in [
        ("sam-app-orders", "orders greet their customers"),
        ("sam-app-payments", "payments answer from the new version"),
    ] {
        let run = ["run", &spec, "--function", function, "--qualifier", "2"];
        let (code, out, err) = cli_fresh(&run, &home, &env).await;
        assert_eq!(code, 0, "{out}\n{err}");
        assert!(out.contains(&format!("✔ {check} [{function}:2]")), "{out}");
        assert!(out.contains("1 passed, 0 failed, 2 skipped"), "{out}");
    }
}

/// One function as the hook of both phases: it asks the deployment's target which hook event
/// is in progress; when none is, it cannot tell and reports Failed saying what to do.
#[tokio::test]
async fn one_function_for_both_phases_asks_the_deployment_target() {
    let both = lambda_appspec(
        "hello-fn",
        "live",
        "1",
        "2",
        &[("BeforeAllowTraffic", HOOK_NAME), ("AfterAllowTraffic", HOOK_NAME)],
    );
    let h = HookSetup::start_with_env(
        "hook-runner",
        DeploymentSetup::new(DEPLOYMENT, &both),
        integration_tests::NO_BINDING_TIMEOUT,
        &[("HOOK_SPEC", SMOKE)],
    )
    .await;
    h.function("hello-fn", hello(Behavior::hello("2")));
    let (_, out) = h.run("BeforeAllowTraffic").await;
    assert_eq!(out.json()["status"], "Failed", "{}", h.logs());
    let reason = out.json()["reason"].as_str().unwrap().to_string();
    assert!(
        reason.contains("is the hook of both BeforeAllowTraffic and AfterAllowTraffic")
            && reason.contains("no hook lifecycle event of the target is in progress"),
        "{reason}"
    );
    assert!(h.sim.calls().iter().any(|c| c.operation == "GetDeploymentTarget"));

    // With the event in progress, as CodeDeploy has it while the hook runs: the phase is known.
    h.sim.set_target_event(
        DEPLOYMENT,
        "BeforeAllowTraffic",
        hook_sim::LifecycleEventStatus::InProgress,
    );
    let (_, out) = h.run("BeforeAllowTraffic").await;
    assert_eq!(out.json()["status"], "Succeeded", "{}", h.logs());
    assert_eq!(out.json()["phase"], "BeforeAllowTraffic");
}

/// `hook-sim serve` keeps bounded state however long it serves: after the first few thousand
/// invocations its memory stays flat, and a metrics window reaching into what it forgot is
/// answered as incomplete (PartialData), which a metrics check takes as no evidence.
#[tokio::test]
async fn serve_keeps_bounded_state_and_says_what_it_forgot() {
    let served = Served::start(&["--hello", "hello-fn", "--keep", "1000"]);
    let pid = served.pid().to_string();
    let rss_kb = || {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap()
    };
    let config = served_config(&served).await;
    let lambda = aws_sdk_lambda::Client::new(&config);
    let invoke = |n: usize| {
        let lambda = lambda.clone();
        async move {
            for _ in 0..n {
                let out = lambda
                    .invoke()
                    .function_name("hello-fn")
                    .qualifier("live")
                    .payload(aws_sdk_lambda::primitives::Blob::new(r#"{"name":"soak"}"#))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(out.executed_version(), Some("1"));
            }
        }
    };
    invoke(3_000).await;
    let settled = rss_kb();
    invoke(9_000).await;
    let after = rss_kb();
    eprintln!("hook-sim serve RSS: {settled} kB after 3,000 invocations, {after} kB after 12,000");
    // Kept whole, 9,000 more invocations would add their calls and records: tens of MB.
    assert!(
        after < settled + 4 * 1024,
        "memory grew from {settled} kB to {after} kB"
    );

    // Figures over a window reaching before the kept invocations are incomplete, not smaller.
    let cw = aws_sdk_cloudwatch::Client::new(&config);
    let now = std::time::SystemTime::now();
    let q = aws_sdk_cloudwatch::types::MetricDataQuery::builder()
        .id("inv")
        .metric_stat(
            aws_sdk_cloudwatch::types::MetricStat::builder()
                .metric(
                    aws_sdk_cloudwatch::types::Metric::builder()
                        .namespace("AWS/Lambda")
                        .metric_name("Invocations")
                        .dimensions(
                            aws_sdk_cloudwatch::types::Dimension::builder()
                                .name("FunctionName")
                                .value("hello-fn")
                                .build(),
                        )
                        .build(),
                )
                .period(3600)
                .stat("Sum")
                .build(),
        )
        .build();
    let answer = cw
        .get_metric_data()
        .metric_data_queries(q)
        .start_time((now - std::time::Duration::from_secs(1800)).into())
        .end_time((now + std::time::Duration::from_secs(1800)).into())
        .send()
        .await
        .unwrap();
    let r = &answer.metric_data_results()[0];
    assert_eq!(
        r.status_code(),
        Some(&aws_sdk_cloudwatch::types::StatusCode::PartialData)
    );
    assert!(
        r.messages()[0]
            .value()
            .unwrap_or_default()
            .contains("newest invocations only"),
        "{r:?}"
    );
}

/// A metrics check run against `hook-sim serve` gets a verdict, as the README's first hour
/// promises: the served alias is shifted by hand (`UpdateAlias`, as a deployment does), traffic
/// goes through it, and `hook-runner run` reads CloudWatch's figures of both versions
/// (`--metrics-at-once`, so that the test does not wait out CloudWatch's minute).
#[tokio::test]
async fn a_metrics_check_run_against_serve_gets_a_verdict() {
    let served = Served::start(&["--hello", "hello-fn", "--metrics-at-once"]);
    let config = served_config(&served).await;
    let lambda = aws_sdk_lambda::Client::new(&config);
    lambda
        .update_alias()
        .function_name("hello-fn")
        .name("live")
        .function_version("1")
        .routing_config(
            aws_sdk_lambda::types::AliasRoutingConfiguration::builder()
                .additional_version_weights("2", 0.5)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mut ran = std::collections::BTreeMap::<String, u32>::new();
    for _ in 0..80 {
        let out = lambda
            .invoke()
            .function_name("hello-fn")
            .qualifier("live")
            .payload(aws_sdk_lambda::primitives::Blob::new(r#"{"name":"canary"}"#))
            .send()
            .await
            .unwrap();
        *ran.entry(out.executed_version().unwrap().to_string()).or_default() += 1;
    }
    assert!(ran.len() == 2 && ran.values().all(|n| *n >= 10), "{ran:?}");

    let dir = temp_dir("metrics-serve");
    let spec = write(
        &dir,
        "metrics.yaml",
        "version: 1\nchecks:\n  - name: as sound as the current version\n    metrics:\n      window: 10m\n      min_samples: 10\n      expect:\n        error_rate: \"<= current + 1%\"\n        invocations: \">= 10\"\n",
    );
    let env = vec![
        ("AWS_ENDPOINT_URL".to_string(), served.endpoint()),
        ("AWS_REGION".to_string(), hook_sim::REGION.to_string()),
        ("AWS_ACCESS_KEY_ID".to_string(), "AKIDTEST".to_string()),
        ("AWS_SECRET_ACCESS_KEY".to_string(), "test".to_string()),
    ];
    let run = [
        "run",
        &spec,
        "--function",
        "hello-fn",
        "--qualifier",
        "2",
        "--alias",
        "live",
        "--current",
        "1",
        "--phase",
        "after",
        "--report",
        "json",
    ];
    let (code, stdout, stderr) = cli_async(&run, &env).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let check = &report["checks"][0];
    assert_eq!(check["outcome"], "Passed", "{report:#}");
    assert!(
        check["metrics"]["inconclusive"].is_null(),
        "a verdict, not too few samples: {report:#}"
    );
    assert_eq!(check["metrics"]["current_version"], "1", "{report:#}");
}

/// A port another process holds: `serve` says which port, and what to do.
#[test]
fn serve_on_a_busy_port_names_the_port_and_the_way_out() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port().to_string();
    for extra in [&["--hello", "hello-fn"][..], &[][..]] {
        let out = Command::new(release_bin("hook-sim"))
            .current_dir(integration_tests::workspace_root())
            .args(["serve", "--port", &port])
            .args(extra)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(&format!("cannot listen on 127.0.0.1:{port}")), "{err}");
        assert!(err.contains("--port 0 for any free one"), "{err}");
    }
}

/// `hook-sim hook --phase` takes the lifecycle event's name or `before` / `after`, as
/// `hook-runner run --phase` does, and says what it takes otherwise.
#[test]
fn hook_sim_hook_takes_the_phase_as_hook_runner_does() {
    let run = |phase: &str| {
        Command::new(release_bin("hook-sim"))
            .current_dir(integration_tests::workspace_root())
            .args(["hook", "--hook"])
            .arg(release_bin("pre-traffic"))
            .arg("--function")
            .arg(release_bin("hello"))
            .args(["--phase", phase])
            .output()
            .unwrap()
    };
    let out = run("before");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("BeforeAllowTraffic hook CodeDeployHook_pre"), "{text}");
    let out = run("during");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("BeforeAllowTraffic (before) or AfterAllowTraffic (after)"),
        "{err}"
    );
}

/// `run` without credentials says what to do, and runs nothing, instead of an SDK's
/// `dispatch failure` on every check.
#[tokio::test]
async fn run_without_credentials_says_how_to_sign_in() {
    let home = temp_dir("no-credentials-home");
    let spec = integration_tests::workspace_root().join("hook-examples/smoke.yaml");
    let spec = spec.display().to_string();
    let env = [
        ("AWS_REGION", "us-east-1".to_string()),
        // No instance metadata to ask on this machine.
        ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
    ];
    let (code, out, err) = cli_fresh(
        &["run", &spec, "--function", "hello-fn", "--qualifier", "2"],
        &home,
        &env,
    )
    .await;
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("hook-runner: no AWS credentials"), "{err}");
    assert!(
        err.contains("aws sso login") && err.contains("Nothing was run"),
        "{err}"
    );
    assert!(!err.contains("dispatch failure") && out.is_empty(), "{out}\n{err}");
}

/// The commands of the README's "In CI", as written: each line of its `sh` blocks (a trailing
/// `\` joins the next).
fn readme_ci_commands() -> Vec<String> {
    let readme = std::fs::read_to_string(integration_tests::workspace_root().join("README.md")).unwrap();
    let section = readme
        .split("\n## In CI\n")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("the README has an In CI section");
    section
        .split("```sh\n")
        .skip(1)
        .map(|block| block.split("```").next().unwrap().replace("\\\n", " "))
        .flat_map(|block| block.lines().map(str::to_string).collect::<Vec<_>>())
        .filter(|l| !l.trim().is_empty())
        .collect()
}

/// Runs `line` with `sh` from the repository root, the release binaries first on the PATH.
fn shell(line: &str, env: &[(&str, String)]) -> (i32, String) {
    let bin_dir = release_bin("hook-sim").parent().unwrap().to_path_buf();
    let path = std::env::join_paths(
        std::iter::once(bin_dir).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .unwrap();
    let root = integration_tests::workspace_root();
    std::fs::create_dir_all(root.join("target")).unwrap();
    let out = Command::new("sh")
        .args(["-c", line])
        .current_dir(&root)
        .env("PATH", path)
        .env("HOME", temp_dir("readme-ci-home"))
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// The README's CI gate and post-deployment run, as written: the rehearsal deploys the example
/// and leaves its JSON report where the line says; `hook-runner run` (against the template's
/// functions served by hook-sim, standing in for the deployed ones) passes and leaves JUnit.
#[tokio::test]
async fn the_readme_ci_commands_run_as_written() {
    let commands = readme_ci_commands();
    let [rehearse, run] = commands.as_slice() else {
        panic!("two commands in the README's In CI: {commands:?}")
    };
    assert!(
        rehearse.contains("hook-sim simulate ") && run.starts_with("hook-runner run "),
        "{commands:?}"
    );
    let root = integration_tests::workspace_root();

    let (code, out) = tokio::task::spawn_blocking({
        let rehearse = rehearse.clone();
        move || shell(&rehearse, &[])
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{rehearse}\n{out}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("target/rehearsal.json")).unwrap()).unwrap();
    assert_eq!(report["outcome"]["status"], "Succeeded", "{report:#}");

    let served = Served::start(&[]);
    let env = [("AWS_ENDPOINT_URL", served.endpoint())];
    let _ = std::fs::remove_file(root.join("target/smoke.xml"));
    let (code, out) = tokio::task::spawn_blocking({
        let run = run.clone();
        move || shell(&run, &env)
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{run}\n{out}");
    let junit = std::fs::read_to_string(root.join("target/smoke.xml")).unwrap();
    assert!(
        junit.contains("<testsuite") && junit.contains("greets the canary [sam-app-HelloFunction]"),
        "{junit}"
    );
    assert!(!junit.contains("<failure") && !junit.contains("<error"), "{junit}");
}
