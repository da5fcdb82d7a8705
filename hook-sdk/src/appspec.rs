//! The AppSpec of a Lambda deployment: which functions shift traffic, and which hooks run.
//!
//! CodeDeploy stores the AppSpec of a Lambda deployment as JSON or YAML text:
//!
//! ```json
//! {"version":0.0,"Resources":[{"HelloFunction":{"Type":"AWS::Lambda::Function",
//!  "Properties":{"Name":"hello-fn","Alias":"live","CurrentVersion":"1","TargetVersion":"2"}}}],
//!  "Hooks":[{"BeforeAllowTraffic":"CodeDeployHook_pre"},{"AfterAllowTraffic":"CodeDeployHook_post"}]}
//! ```
//!
//! [`AppSpec::parse`] reads both forms. Versions may be written as strings or numbers.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer};

use crate::event::Phase;

/// The resource type of a Lambda function in an AppSpec.
pub const LAMBDA_FUNCTION_TYPE: &str = "AWS::Lambda::Function";

/// A parsed AppSpec: resources in order, and the hooks of each lifecycle event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppSpec {
    /// Every resource, in the order the AppSpec lists them.
    pub resources: Vec<Resource>,
    /// Every hook entry, in the order the AppSpec lists them: (lifecycle event, function).
    pub hooks: Vec<(String, String)>,
}

/// One resource of an AppSpec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// The key of the resource, usually the logical id from the SAM template.
    pub logical_id: String,
    /// `Type`, e.g. `AWS::Lambda::Function`.
    pub kind: String,
    /// `Properties.Name`: the function name (or ARN).
    pub name: Option<String>,
    /// `Properties.Alias`.
    pub alias: Option<String>,
    /// `Properties.CurrentVersion`.
    pub current_version: Option<String>,
    /// `Properties.TargetVersion`.
    pub target_version: Option<String>,
}

/// Why an AppSpec could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppSpecError {
    /// The text is neither valid JSON nor valid YAML of the AppSpec shape.
    #[error("the AppSpec is not valid {format}: {message}")]
    Syntax {
        /// `JSON` or `YAML`.
        format: &'static str,
        /// The parser's message, with its location.
        message: String,
    },
    /// The AppSpec is empty.
    #[error("the AppSpec is empty")]
    Empty,
}

#[derive(Deserialize)]
struct RawAppSpec {
    #[serde(rename = "Resources", default)]
    resources: Vec<BTreeMap<String, RawResource>>,
    #[serde(rename = "Hooks", default)]
    hooks: Vec<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
struct RawResource {
    #[serde(rename = "Type")]
    kind: String,
    #[serde(rename = "Properties", default)]
    properties: RawProperties,
}

#[derive(Deserialize, Default)]
struct RawProperties {
    #[serde(rename = "Name", default, deserialize_with = "scalar")]
    name: Option<String>,
    #[serde(rename = "Alias", default, deserialize_with = "scalar")]
    alias: Option<String>,
    #[serde(rename = "CurrentVersion", default, deserialize_with = "scalar")]
    current_version: Option<String>,
    #[serde(rename = "TargetVersion", default, deserialize_with = "scalar")]
    target_version: Option<String>,
}

/// Accepts a string or a number (`TargetVersion: 2` is common in YAML) as a string.
fn scalar<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        S(String),
        U(u64),
        I(i64),
        F(f64),
    }
    Ok(Option::<Scalar>::deserialize(d)?.map(|s| match s {
        Scalar::S(s) => s,
        Scalar::U(n) => n.to_string(),
        Scalar::I(n) => n.to_string(),
        Scalar::F(n) => n.to_string(),
    }))
}

impl AppSpec {
    /// Parses AppSpec text, JSON when it starts with `{`, YAML otherwise.
    pub fn parse(text: &str) -> Result<Self, AppSpecError> {
        let trimmed = text.trim_start_matches('\u{feff}').trim();
        if trimmed.is_empty() {
            return Err(AppSpecError::Empty);
        }
        let raw: RawAppSpec = if trimmed.starts_with('{') {
            serde_json::from_str(trimmed).map_err(|e| AppSpecError::Syntax {
                format: "JSON",
                message: e.to_string(),
            })?
        } else {
            serde_saphyr::from_str(trimmed).map_err(|e| AppSpecError::Syntax {
                format: "YAML",
                message: e.to_string(),
            })?
        };
        let resources = raw
            .resources
            .into_iter()
            .flatten()
            .map(|(logical_id, r)| Resource {
                logical_id,
                kind: r.kind,
                name: r.properties.name,
                alias: r.properties.alias,
                current_version: r.properties.current_version,
                target_version: r.properties.target_version,
            })
            .collect();
        let hooks = raw.hooks.into_iter().flatten().collect();
        Ok(AppSpec { resources, hooks })
    }

    /// The Lambda function resources.
    pub fn lambda_functions(&self) -> impl Iterator<Item = &Resource> {
        self.resources.iter().filter(|r| r.kind == LAMBDA_FUNCTION_TYPE)
    }

    /// The phases whose hook is `function` (a name, or an ARN with or without qualifier).
    pub fn phases_of(&self, function: &str) -> Vec<Phase> {
        let me = function_name_of(function);
        let mut phases: Vec<Phase> = self
            .hooks
            .iter()
            .filter(|(_, f)| function_name_of(f) == me)
            .filter_map(|(event, _)| event.parse().ok())
            .collect();
        phases.dedup();
        phases
    }
}

impl fmt::Display for AppSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hooks: Vec<String> = self.hooks.iter().map(|(e, f)| format!("{e}: {f}")).collect();
        write!(f, "hooks [{}]", hooks.join(", "))
    }
}

/// The bare function name of a name, a partial ARN or a full ARN, qualified or not.
///
/// `arn:aws:lambda:eu-west-1:123456789012:function:my-fn:live` → `my-fn`,
/// `123456789012:function:my-fn` → `my-fn`, `my-fn:3` → `my-fn`.
pub fn function_name_of(function: &str) -> &str {
    let parts: Vec<&str> = function.split(':').collect();
    match parts.iter().position(|p| *p == "function") {
        Some(i) if i + 1 < parts.len() => parts[i + 1],
        _ => parts[0],
    }
}

/// A Lambda function as a `FunctionName` names it (a name, a partial ARN
/// `ACCOUNT:function:NAME` or an ARN, any with a qualifier): the parts it gives.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct FunctionId {
    /// `aws`, `aws-cn`, `aws-us-gov`...
    pub(crate) partition: Option<String>,
    /// The region.
    pub(crate) region: Option<String>,
    /// The account.
    pub(crate) account: Option<String>,
    /// The function's name.
    pub(crate) name: String,
}

impl FunctionId {
    /// The parts `function` gives.
    pub(crate) fn parse(function: &str) -> FunctionId {
        let parts: Vec<&str> = function.split(':').collect();
        let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
        match parts.as_slice() {
            ["arn", partition, _lambda, region, account, "function", name, ..] => FunctionId {
                partition: some(partition),
                region: some(region),
                account: some(account),
                name: name.to_string(),
            },
            [account, "function", name, ..] => FunctionId {
                account: some(account),
                name: name.to_string(),
                ..FunctionId::default()
            },
            _ => FunctionId {
                name: parts[0].to_string(),
                ..FunctionId::default()
            },
        }
    }

    /// The parts it lacks taken from `home`, where Lambda resolves a name: the caller's own
    /// partition, region and account.
    pub(crate) fn within(mut self, home: &FunctionId) -> FunctionId {
        self.partition = self.partition.or_else(|| home.partition.clone());
        self.region = self.region.or_else(|| home.region.clone());
        self.account = self.account.or_else(|| home.account.clone());
        self
    }
}

impl std::fmt::Display for FunctionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let part = |p: &Option<String>| p.clone().unwrap_or_else(|| "?".into());
        write!(
            f,
            "arn:{}:lambda:{}:{}:function:{}",
            part(&self.partition),
            part(&self.region),
            part(&self.account),
            self.name
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: &str = r#"{"version":0.0,"Resources":[{"HelloFunction":{"Type":"AWS::Lambda::Function",
 "Properties":{"Name":"hello-fn","Alias":"live","CurrentVersion":"1","TargetVersion":"2"}}}],
 "Hooks":[{"BeforeAllowTraffic":"CodeDeployHook_pre"},{"AfterAllowTraffic":"CodeDeployHook_post"}]}"#;

    #[test]
    fn parses_json() {
        let spec = AppSpec::parse(JSON).unwrap();
        let f: Vec<_> = spec.lambda_functions().collect();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].logical_id, "HelloFunction");
        assert_eq!(f[0].name.as_deref(), Some("hello-fn"));
        assert_eq!(f[0].alias.as_deref(), Some("live"));
        assert_eq!(f[0].current_version.as_deref(), Some("1"));
        assert_eq!(f[0].target_version.as_deref(), Some("2"));
        assert_eq!(spec.phases_of("CodeDeployHook_pre"), vec![Phase::BeforeAllowTraffic]);
        assert_eq!(spec.phases_of("CodeDeployHook_post"), vec![Phase::AfterAllowTraffic]);
        assert!(spec.phases_of("other").is_empty());
    }

    #[test]
    fn accepts_the_appspec_version_as_cloudformation_writes_it_and_as_a_number() {
        for version in [r#""0.0""#, "0.0", "0"] {
            let text = JSON.replacen("0.0", version, 1);
            assert!(text.contains(&format!(r#""version":{version}"#)), "{text}");
            let spec = AppSpec::parse(&text).unwrap();
            assert_eq!(spec.lambda_functions().count(), 1, "version {version}");
        }
    }

    #[test]
    fn parses_yaml_with_numeric_versions() {
        let yaml = "version: 0.0\nResources:\n  - HelloFunction:\n      Type: AWS::Lambda::Function\n      Properties:\n        Name: hello-fn\n        Alias: live\n        CurrentVersion: 1\n        TargetVersion: 2\nHooks:\n  - BeforeAllowTraffic: arn:aws:lambda:us-east-1:123456789012:function:CodeDeployHook_pre\n";
        let spec = AppSpec::parse(yaml).unwrap();
        let f: Vec<_> = spec.lambda_functions().collect();
        assert_eq!(f[0].current_version.as_deref(), Some("1"));
        assert_eq!(f[0].target_version.as_deref(), Some("2"));
        assert_eq!(spec.phases_of("CodeDeployHook_pre"), vec![Phase::BeforeAllowTraffic]);
    }

    #[test]
    fn hook_named_by_arn_matches_name() {
        assert_eq!(
            function_name_of("arn:aws:lambda:eu-west-1:123456789012:function:my-fn:live"),
            "my-fn"
        );
        assert_eq!(function_name_of("123456789012:function:my-fn"), "my-fn");
        assert_eq!(function_name_of("my-fn:3"), "my-fn");
        assert_eq!(function_name_of("my-fn"), "my-fn");
    }

    #[test]
    fn errors_say_which_format() {
        let e = AppSpec::parse("{\"Resources\": [").unwrap_err();
        assert!(e.to_string().starts_with("the AppSpec is not valid JSON"), "{e}");
        let e = AppSpec::parse("Resources: [a: : b").unwrap_err();
        assert!(e.to_string().starts_with("the AppSpec is not valid YAML"), "{e}");
        assert!(matches!(AppSpec::parse("  \n"), Err(AppSpecError::Empty)));
    }

    #[test]
    fn skips_other_resource_types() {
        let spec = AppSpec::parse(r#"{"Resources":[{"Svc":{"Type":"AWS::ECS::Service","Properties":{}}}]}"#).unwrap();
        assert_eq!(spec.resources.len(), 1);
        assert_eq!(spec.lambda_functions().count(), 0);
    }

    #[test]
    fn function_ids_resolve_as_lambda_does() {
        let arn = FunctionId::parse("arn:aws:lambda:eu-west-1:111122223333:function:hello-fn:2");
        assert_eq!(
            (
                arn.partition.as_deref(),
                arn.region.as_deref(),
                arn.account.as_deref(),
                arn.name.as_str()
            ),
            (Some("aws"), Some("eu-west-1"), Some("111122223333"), "hello-fn")
        );
        let partial = FunctionId::parse("111122223333:function:hello-fn");
        assert_eq!(
            (partial.account.as_deref(), partial.partition),
            (Some("111122223333"), None)
        );
        let name = FunctionId::parse("hello-fn:live");
        assert_eq!(name.name, "hello-fn");
        let home = FunctionId::parse("arn:aws:lambda:eu-west-1:111122223333:function:CodeDeployHook_pre");
        assert_eq!(name.clone().within(&home), arn.clone().within(&home));
        let elsewhere = FunctionId::parse("arn:aws:lambda:us-east-1:111122223333:function:hello-fn");
        assert_ne!(elsewhere.clone().within(&home), name.clone().within(&home));
        assert_ne!(
            FunctionId::parse("999988887777:function:hello-fn").within(&home),
            arn.within(&home)
        );
    }
}
