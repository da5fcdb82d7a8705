//! template.yaml, verified offline: cfn-lint on the SAM template, aws-sam-translator's
//! CloudFormation output linted again, and the wiring that costs people days asserted on it.

use std::process::Command;
use std::sync::OnceLock;

use integration_tests::{target_dir, venv_bin, workspace_root};
use serde_json::{Value, json};

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .expect("the tool runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// `template` (under the workspace) translated to CloudFormation by aws-sam-translator, kept
/// as `target/test-tmp/<name>`.
fn sam_translate(template: &str, name: &str) -> Value {
    let out = target_dir().join("test-tmp").join(name);
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let (ok, text) = run(Command::new(venv_bin("python"))
        .arg(workspace_root().join("scripts/sam-translate"))
        .arg(workspace_root().join(template))
        .arg(&out));
    assert!(ok, "aws-sam-translator failed on {template}:\n{text}");
    serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap()
}

/// The template translated to CloudFormation by aws-sam-translator.
fn translated() -> &'static Value {
    static T: OnceLock<Value> = OnceLock::new();
    T.get_or_init(|| sam_translate("template.yaml", "template.translated.json"))
}

/// Each statement of a translated role's inline policies with its actions, after checking
/// what no hook's role may have: a wildcard action, or a statement on every resource (but
/// `cloudwatch:GetMetricData` alone, which has no resource-level permissions).
fn statements<'a>(role: &'a Value, hook: &str) -> Vec<(&'a Value, Vec<String>)> {
    role["Properties"]["Policies"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["PolicyDocument"]["Statement"].as_array().unwrap())
        .map(|s| {
            let actions: Vec<String> = match &s["Action"] {
                Value::String(a) => vec![a.clone()],
                Value::Array(a) => a.iter().map(|a| a.as_str().unwrap().to_string()).collect(),
                other => panic!("{hook}: action {other}"),
            };
            for a in &actions {
                assert!(!a.contains('*'), "{hook}: wildcard action {a}");
            }
            if actions != ["cloudwatch:GetMetricData"] {
                assert_ne!(s["Resource"], "*", "{hook}: a statement on every resource: {s}");
            }
            (s, actions)
        })
        .collect()
}

/// Runs the Makefile's recipe `target` (all but the cargo build and the bootstrap copy) into an
/// empty artifacts folder, and gives the folder.
fn package(target: &str) -> std::path::PathBuf {
    let artifacts = target_dir().join("test-tmp").join(format!("{target}-artifacts"));
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).unwrap();
    let (ok, recipe) = run(Command::new("make")
        .current_dir(workspace_root())
        .args(["--no-print-directory", "-n", target])
        .arg(format!("ARTIFACTS_DIR={}", artifacts.display())));
    assert!(ok, "make -n {target} failed:\n{recipe}");
    let mut ran = 0;
    for line in recipe.lines().filter(|l| !l.trim().is_empty()) {
        if line.starts_with("cargo ") || line.contains("bootstrap") {
            continue;
        }
        let (ok, text) = run(Command::new("sh").current_dir(workspace_root()).args(["-c", line]));
        assert!(ok, "`{line}` failed:\n{text}");
        ran += 1;
    }
    assert!(ran > 0, "the recipe packages no spec:\n{recipe}");
    artifacts
}

fn resource(name: &str) -> &'static Value {
    let r = &translated()["Resources"][name];
    assert!(r.is_object(), "no resource {name} in the translated template");
    r
}

#[test]
fn cfn_lint_passes_on_the_sam_template() {
    let (ok, text) = run(Command::new(venv_bin("cfn-lint")).arg(workspace_root().join("template.yaml")));
    assert!(ok, "cfn-lint template.yaml:\n{text}");
}

/// The plain CloudFormation stacks the simulator reads in its tests, shaped as
/// `sls package` (with serverless-plugin-canary-deployments) and `cdk synth` (with
/// `LambdaDeploymentGroup`) emit them, are valid CloudFormation.
#[test]
fn cfn_lint_passes_on_the_plain_cloudformation_fixtures() {
    for fixture in ["tests/fixtures/sls-stack.json", "tests/fixtures/cdk-stack.json"] {
        let (ok, text) = run(Command::new(venv_bin("cfn-lint")).arg(workspace_root().join(fixture)));
        assert!(ok, "cfn-lint {fixture}:\n{text}");
    }
}

/// The README's recipe for your own app, applied (tests/fixtures/your-app): valid SAM.
#[test]
fn cfn_lint_passes_on_the_your_app_recipe() {
    let template = workspace_root().join("tests/fixtures/your-app/template.yaml");
    let (ok, text) = run(Command::new(venv_bin("cfn-lint")).arg(&template));
    assert!(ok, "cfn-lint {}:\n{text}", template.display());
}

#[test]
fn cfn_lint_passes_on_the_python_example_template() {
    let template = workspace_root().join("hook-examples/python/template.yaml");
    let (ok, text) = run(Command::new(venv_bin("cfn-lint")).arg(&template));
    assert!(ok, "cfn-lint {}:\n{text}", template.display());
}

#[test]
fn cfn_lint_passes_on_the_translated_template() {
    translated();
    // W1020: the translator resolves `CodeDeployDefault.Lambda${DeploymentType}` with the
    // parameter's default, which leaves an Fn::Sub without variables. CloudFormation sees the
    // unresolved one.
    let (ok, text) = run(Command::new(venv_bin("cfn-lint"))
        .args(["--ignore-checks", "W1020", "--"])
        .arg(target_dir().join("test-tmp/template.translated.json")));
    assert!(ok, "cfn-lint on the translated template:\n{text}");
}

#[test]
fn the_alias_runs_both_hooks() {
    let update = &resource("HelloFunctionAliaslive")["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"];
    assert_eq!(
        update["ApplicationName"],
        json!({"Ref": "ServerlessDeploymentApplication"})
    );
    assert_eq!(
        update["BeforeAllowTrafficHook"],
        json!({"Fn::If": ["UseSpecHook", {"Ref": "SpecHook"}, {"Ref": "PreTrafficHook"}]})
    );
    assert_eq!(update["AfterAllowTrafficHook"], json!({"Ref": "PostTrafficHook"}));
}

/// SAM passes the triggers on to the deployment group: every deployment event goes to the
/// stack's own topic, which no policy opens beyond the account.
#[test]
fn the_deployment_group_notifies_the_stacks_topic() {
    let group = &resource("HelloFunctionDeploymentGroup")["Properties"];
    assert_eq!(
        group["TriggerConfigurations"],
        json!([{
            "TriggerName": "hello-deployments",
            "TriggerEvents": ["DeploymentStart", "DeploymentSuccess", "DeploymentFailure", "DeploymentStop", "DeploymentRollback"],
            "TriggerTargetArn": {"Ref": "DeploymentEventsTopic"},
        }])
    );
    assert_eq!(resource("DeploymentEventsTopic")["Type"], "AWS::SNS::Topic");
    let resources = translated()["Resources"].as_object().unwrap();
    assert!(
        !resources.values().any(|r| r["Type"] == "AWS::SNS::TopicPolicy"),
        "no topic policy: only the account's principals may publish"
    );
}

#[test]
fn the_deployment_group_uses_the_config_alarm_and_rollback() {
    let group = &resource("HelloFunctionDeploymentGroup")["Properties"];
    let config = &group["DeploymentConfigName"]["Fn::If"];
    assert_eq!(config[0], "UseCustomDeploymentConfig");
    assert_eq!(config[1], json!({"Ref": "Canary30Percent3Minutes"}));
    assert_eq!(
        group["AlarmConfiguration"],
        json!({"Enabled": true, "Alarms": [{"Name": {"Ref": "HelloErrorsAlarm"}}]})
    );
    let events = group["AutoRollbackConfiguration"]["Events"].as_array().unwrap();
    for e in ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"] {
        assert!(events.contains(&json!(e)), "rollback on {e}: {events:?}");
    }
    assert_eq!(group["DeploymentStyle"]["DeploymentOption"], "WITH_TRAFFIC_CONTROL");

    let custom = &resource("Canary30Percent3Minutes")["Properties"];
    assert_eq!(custom["ComputePlatform"], "Lambda");
    assert_eq!(
        custom["TrafficRoutingConfig"],
        json!({"Type": "TimeBasedCanary", "TimeBasedCanary": {"CanaryPercentage": 30, "CanaryInterval": 3}})
    );
    let types = translated()["Parameters"]["DeploymentType"]["AllowedValues"]
        .as_array()
        .unwrap();
    // All at once too: the post-traffic metrics check watches the new version after the shift
    // (tests/tests/simulate.rs rehearses it).
    for t in [
        "Canary30Percent3Minutes",
        "Canary10Percent5Minutes",
        "Linear10PercentEvery1Minute",
        "AllAtOnce",
    ] {
        assert!(types.contains(&json!(t)), "{t} is selectable");
    }
    let alarm = &resource("HelloErrorsAlarm")["Properties"];
    assert_eq!(alarm["MetricName"], "Errors");
    assert_eq!(alarm["Threshold"], 0);
}

#[test]
fn the_deployed_function_is_an_arm64_rust_custom_runtime_by_default() {
    let f = &resource("HelloFunction")["Properties"];
    assert_eq!(f["Runtime"], "provided.al2023");
    assert_eq!(f["Handler"], "bootstrap");
    assert_eq!(f["Architectures"], json!([{"Ref": "Architecture"}]));
    assert_eq!(translated()["Parameters"]["Architecture"]["Default"], "arm64");
    let integration = &resource("HelloIntegration")["Properties"];
    assert_eq!(
        integration["IntegrationUri"],
        json!({"Fn::Sub": "${HelloFunction.Arn}:live"})
    );
    assert_eq!(resource("HelloApiPermission")["DependsOn"], "HelloFunctionAliaslive");
}

const HOOKS: [&str; 3] = ["PreTrafficHook", "PostTrafficHook", "SpecHook"];

#[test]
fn hooks_are_named_for_the_codedeploy_role() {
    for hook in HOOKS {
        let name = resource(hook)["Properties"]["FunctionName"]["Fn::Sub"]
            .as_str()
            .unwrap_or_default();
        assert!(name.starts_with("CodeDeployHook_"), "{hook} is named {name}");
    }
    // The role SAM gives CodeDeploy may invoke only CodeDeployHook_* functions.
    let role = &resource("CodeDeployServiceRole")["Properties"];
    assert!(
        role["ManagedPolicyArns"]
            .to_string()
            .contains("AWSCodeDeployRoleForLambda"),
        "{role}"
    );
}

#[test]
fn hook_policies_are_least_privilege() {
    for hook in HOOKS {
        let role = resource(&format!("{hook}Role"));
        let mut actions = Vec::new();
        for (s, acts) in statements(role, hook) {
            if acts.iter().any(|a| a == "lambda:InvokeFunction") {
                assert_eq!(
                    s["Resource"],
                    json!({"Fn::Sub": "${HelloFunction.Arn}:*"}),
                    "{hook}: invoke scope"
                );
            }
            actions.extend(acts);
        }
        actions.sort();
        let mut expected = vec![
            "codedeploy:GetApplicationRevision",
            "codedeploy:GetDeployment",
            "codedeploy:PutLifecycleEventHookExecutionStatus",
            "lambda:InvokeFunction",
        ];
        if hook == "PostTrafficHook" {
            // Its metrics check: the traffic shifting's times, and CloudWatch's figures.
            expected.extend([
                "cloudwatch:GetMetricData",
                "codedeploy:GetDeploymentTarget",
                "codedeploy:ListDeploymentTargets",
            ]);
            expected.sort();
        }
        assert_eq!(actions, expected, "{hook}");
    }
}

/// The spec SpecHook reads in Lambda (`HOOK_SPEC_FILE`, relative to /var/task) is one the
/// Makefile packages, and it is a valid spec: run the Makefile's recipe (all but the cargo
/// build and the bootstrap copy) into an empty artifacts folder and load the file from there.
#[test]
fn spec_hook_packages_its_spec() {
    let spec_file = resource("SpecHook")["Properties"]["Environment"]["Variables"]["HOOK_SPEC_FILE"]
        .as_str()
        .expect("SpecHook names its spec in HOOK_SPEC_FILE")
        .to_string();
    let packaged = package("build-SpecHook").join(&spec_file);
    assert!(
        packaged.is_file(),
        "SpecHook's HOOK_SPEC_FILE {spec_file} is not in what the Makefile packages"
    );
    let spec = hook_sdk::spec::load_file(&packaged).unwrap_or_else(|e| panic!("{e}"));
    assert!(!spec.checks.is_empty());
}

/// What a hook shared by many stacks may do: read any deployment and report, read the
/// revisions, invoke and read the functions that opt in.
const SHARED_HOOK_ACTIONS: [&str; 8] = [
    "codedeploy:GetApplicationRevision",
    "codedeploy:GetDeployment",
    "codedeploy:GetDeploymentTarget",
    "codedeploy:ListDeploymentTargets",
    "codedeploy:PutLifecycleEventHookExecutionStatus",
    "lambda:GetFunction",
    "lambda:InvokeFunction",
    "lambda:ListTags",
];

/// The actions of a hook's translated role, sorted, after checking that its lambda actions
/// hold only under `opt_in` (and what [`statements`] checks of every hook).
fn opt_in_actions(role: &Value, hook: &str, opt_in: &Value) -> Vec<String> {
    let mut actions = Vec::new();
    for (s, acts) in statements(role, hook) {
        if acts.iter().any(|a| a.starts_with("lambda:")) {
            assert_eq!(
                &s["Condition"], opt_in,
                "{hook}: the lambda actions reach only functions that opt in: {s}"
            );
        }
        actions.extend(acts);
    }
    actions.sort();
    actions
}

/// The shared hook's stack (hook-examples/shared-hook/template.yaml): valid, exporting its
/// hooks, and least privilege for a hook that serves every stack: no wildcard action, and it
/// may invoke or read only functions tagged `smoke-hook: shared`.
#[test]
fn the_shared_hook_may_test_only_functions_that_opt_in() {
    let dir = workspace_root().join("hook-examples/shared-hook");
    for t in ["template.yaml", "consumer.yaml"] {
        let (ok, text) = run(Command::new(venv_bin("cfn-lint")).arg(dir.join(t)));
        assert!(ok, "cfn-lint {t}:\n{text}");
    }
    let t = sam_translate("hook-examples/shared-hook/template.yaml", "shared-hook.translated.json");
    let hook = "SharedHook";
    let opt_in = json!({"StringEquals": {"aws:ResourceTag/smoke-hook": "shared"}});
    assert_eq!(
        opt_in_actions(&t["Resources"]["SharedHookRole"], hook, &opt_in),
        SHARED_HOOK_ACTIONS,
        "{hook}"
    );
    let name = t["Resources"][hook]["Properties"]["FunctionName"].to_string();
    assert!(
        name.contains("CodeDeployHook_"),
        "{hook}: SAM's CodeDeploy role invokes CodeDeployHook_* only: {name}"
    );
    let exports: Vec<Value> = t["Outputs"]
        .as_object()
        .unwrap()
        .values()
        .map(|o| o["Export"]["Name"].clone())
        .collect();
    assert!(
        exports.contains(&json!({"Fn::Sub": "${ExportPrefix}-Hook"})),
        "{exports:?}"
    );
    // The consumer's functions opt in with the tag the policy names.
    let consumer = std::fs::read_to_string(dir.join("consumer.yaml")).unwrap();
    assert_eq!(consumer.matches("smoke-hook: shared").count(), 2);
}

/// The shared hooks' spec is one the Makefile packages where HOOK_SPEC_FILE points.
#[test]
fn the_shared_hook_packages_its_spec() {
    let artifacts = package("build-SharedHook");
    let spec = artifacts.join("hook-examples/shared-hook/shared.yaml");
    hook_sdk::spec::load_file(&spec).unwrap_or_else(|e| panic!("{e}"));
    let template = std::fs::read_to_string(workspace_root().join("hook-examples/shared-hook/template.yaml")).unwrap();
    assert!(template.contains("HOOK_SPEC_FILE: hook-examples/shared-hook/shared.yaml"));
}

/// The packaged hook (packaging/shared-hook) and a stack that nests it
/// (hook-examples/nested-hook): both valid; the application carries what the Serverless
/// Application Repository reads, its role has no wildcard action and reaches only functions
/// that opt in, and the consumer's hooks are the nested stack's output.
#[test]
fn the_packaged_hook_publishes_as_is_and_nests_in_a_few_lines() {
    for t in [
        "packaging/shared-hook/template.yaml",
        "hook-examples/nested-hook/template.yaml",
    ] {
        let (ok, text) = run(Command::new(venv_bin("cfn-lint")).arg(workspace_root().join(t)));
        assert!(ok, "cfn-lint {t}:\n{text}");
    }
    let raw: Value = yaml_as_json(&workspace_root().join("packaging/shared-hook/template.yaml"));
    let app = &raw["Metadata"]["AWS::ServerlessRepo::Application"];
    for key in [
        "Name",
        "Description",
        "Author",
        "SpdxLicenseId",
        "LicenseUrl",
        "ReadmeUrl",
        "SemanticVersion",
    ] {
        assert!(
            app[key].is_string(),
            "Metadata.AWS::ServerlessRepo::Application.{key}: {app}"
        );
    }
    assert_eq!(app["SpdxLicenseId"], "Apache-2.0");
    let dir = workspace_root().join("packaging/shared-hook");
    for key in ["LicenseUrl", "ReadmeUrl"] {
        let file = dir.join(app[key].as_str().unwrap());
        assert!(
            file.is_file(),
            "{key} names a file beside the template: {}",
            file.display()
        );
    }
    assert_eq!(
        app["SemanticVersion"],
        env!("CARGO_PKG_VERSION"),
        "the application's version is the crates'"
    );

    let t = sam_translate("packaging/shared-hook/template.yaml", "packaged-hook.translated.json");
    let opt_in = json!({"StringEquals": {"aws:ResourceTag/smoke-hook": {"Ref": "OptInTag"}}});
    // The shared hook's actions, and GetMetricData for metrics checks.
    let mut expected = vec!["cloudwatch:GetMetricData"];
    expected.extend(SHARED_HOOK_ACTIONS);
    assert_eq!(opt_in_actions(&t["Resources"]["HookRole"], "Hook", &opt_in), expected);
    assert_eq!(
        t["Resources"]["Hook"]["Properties"]["FunctionName"],
        json!({"Fn::Sub": "CodeDeployHook_${HookName}"}),
        "SAM's CodeDeploy role invokes only CodeDeployHook_*"
    );

    let c = sam_translate("hook-examples/nested-hook/template.yaml", "nested-hook.translated.json");
    let nested = &c["Resources"]["SmokeHook"];
    assert_eq!(nested["Type"], "AWS::CloudFormation::Stack", "{nested}");
    assert!(nested["Properties"]["Parameters"]["Spec"].is_string(), "{nested}");
    let hook = json!({"Fn::GetAtt": ["SmokeHook", "Outputs.HookName"]});
    let policy = &c["Resources"]["HelloFunctionAliaslive"]["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"];
    assert_eq!(policy["BeforeAllowTrafficHook"], hook, "{policy}");
    assert_eq!(policy["AfterAllowTrafficHook"], hook, "{policy}");
}

/// A template as plain JSON, as aws-sam-translator reads it (`!Ref` as `{"Ref": ...}`).
fn yaml_as_json(path: &std::path::Path) -> Value {
    let out = Command::new(venv_bin("python"))
        .args([
            "-c",
            "import json, sys; from samtranslator.yaml_helper import yaml_parse; print(json.dumps(yaml_parse(open(sys.argv[1]).read())))",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}
