//! IAM as AWS evaluates a role's identity-based policies for a call to one of hook-sim's
//! endpoints: every statement of every policy, an explicit `Deny` over any `Allow`, no
//! `Allow` an implicit deny.
//!
//! A statement matches when its `Action` (or `NotAction`) and `Resource` (or `NotResource`)
//! match the request, with IAM's wildcards (`*` any run of characters, `?` one; actions
//! case-insensitively), and every condition holds. Conditions read the keys hooks use:
//! `aws:ResourceTag/…` (the function's tags), `aws:RequestedRegion`, `aws:PrincipalAccount`,
//! `aws:SecureTransport` (true: the SDKs speak HTTPS to AWS), `cloudwatch:namespace`; each
//! action carries only the keys AWS's Service Authorization Reference lists for it
//! ([`ACTION_CONDITION_KEYS`], [`function_request`]), so a condition on a key AWS never sets
//! (`lambda:FunctionArn` on an invoke) fails here as it fails there; with the operators `String*`, `Arn*`, `Bool`, `Null`, `Numeric*`,
//! their `…IfExists` forms and the `ForAnyValue:` / `ForAllValues:` prefixes. A key absent from
//! the request fails a condition, except under a negated operator, `…IfExists` or `Null`.
//!
//! What hook-sim cannot read (an operator or key it does not model, a policy variable) never
//! grants: such an `Allow` statement is left out, and such a `Deny` statement is taken to deny
//! (a simulation never allows what AWS might refuse). [`Policy::unreadable`] says what was
//! left out, for the warnings.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

/// A policy document: its statements, with what of it hook-sim could not read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Policy {
    /// Where it comes from (`inline policy hooks`, `AWSCodeDeployRoleForLambda`, ...).
    pub name: String,
    /// Its statements.
    pub statements: Vec<Statement>,
    /// Why statements were read as granting nothing (or as denying everything they name).
    pub unreadable: Vec<String>,
}

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Grants.
    Allow,
    /// Refuses, over any grant.
    Deny,
}

/// A list of patterns, or every value but those (`NotAction`, `NotResource`).
#[derive(Debug, Clone, PartialEq)]
pub enum Patterns {
    /// `Action` / `Resource`.
    Any(Vec<String>),
    /// `NotAction` / `NotResource`.
    AnyBut(Vec<String>),
}

impl Patterns {
    fn matches(&self, value: &str, case_insensitive: bool) -> bool {
        let hit = |list: &[String]| list.iter().any(|p| wildcard(p, value, case_insensitive));
        match self {
            Patterns::Any(list) => hit(list),
            Patterns::AnyBut(list) => !hit(list),
        }
    }
}

/// One condition: an operator over a key and its values.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// The operator as written (`StringEquals`, `ForAnyValue:StringLike`, `ArnLikeIfExists`).
    pub operator: String,
    /// The key, as written.
    pub key: String,
    /// Its values.
    pub values: Vec<String>,
}

/// A statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// `Sid`, if any.
    pub sid: Option<String>,
    /// Allow or Deny.
    pub effect: Effect,
    /// The actions it names.
    pub actions: Patterns,
    /// The resources it names.
    pub resources: Patterns,
    /// Every one must hold.
    pub conditions: Vec<Condition>,
    /// A `Deny` that names something hook-sim cannot read: it applies to every request its
    /// actions and resources match.
    pub denies_unread: bool,
}

/// One call, as IAM sees it.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// `service:Action`.
    pub action: &'a str,
    /// The ARN of the resource the API authorizes it on (`*` when it has none).
    pub resource: &'a str,
    /// Condition keys (lower case) and their values.
    pub context: BTreeMap<String, Vec<String>>,
}

impl<'a> Request<'a> {
    /// A request without condition keys beyond the ones every request has.
    pub fn new(action: &'a str, resource: &'a str) -> Self {
        let mut context = BTreeMap::new();
        context.insert("aws:requestedregion".into(), vec![crate::account::REGION.to_string()]);
        context.insert(
            "aws:principalaccount".into(),
            vec![crate::account::ACCOUNT_ID.to_string()],
        );
        context.insert("aws:securetransport".into(), vec!["true".to_string()]);
        Request {
            action,
            resource,
            context,
        }
    }

    /// With the condition key `key` (any case) set to `values`.
    pub fn with(mut self, key: &str, values: Vec<String>) -> Self {
        self.context.insert(key.to_ascii_lowercase(), values);
        self
    }
}

/// The condition keys AWS's Service Authorization Reference lists for each action on a function
/// hook-sim authorizes, besides the global keys every request carries (`aws:RequestedRegion`,
/// `aws:PrincipalAccount`, `aws:SecureTransport`). `lambda:FunctionArn` is listed for the
/// event-source-mapping actions only: an invoke never carries it. `simulate`'s calls and
/// `check`'s findings are both built by [`function_request`] from this one table.
pub const ACTION_CONDITION_KEYS: &[(&str, &[&str])] = &[
    (
        "lambda:InvokeFunction",
        &[
            "aws:ResourceTag/${TagKey}",
            "lambda:EventSourceToken",
            "lambda:InvokedViaFunctionUrl",
        ],
    ),
    ("lambda:GetFunction", &["aws:ResourceTag/${TagKey}"]),
    ("lambda:GetAlias", &["aws:ResourceTag/${TagKey}"]),
    ("lambda:UpdateAlias", &["aws:ResourceTag/${TagKey}"]),
];

/// A request for `action` on the function (or version, or alias) `arn` whose tags are `tags`,
/// with the condition keys AWS sets for it: `aws:ResourceTag/KEY` for each tag, where the
/// action lists resource tags, and nothing the action does not list.
pub fn function_request<'a>(
    action: &'a str,
    arn: &'a str,
    tags: &std::collections::BTreeMap<String, String>,
) -> Request<'a> {
    let listed = ACTION_CONDITION_KEYS
        .iter()
        .find(|(a, _)| a.eq_ignore_ascii_case(action))
        .map_or(&[][..], |(_, keys)| *keys);
    let mut request = Request::new(action, arn);
    if listed.contains(&"aws:ResourceTag/${TagKey}") {
        for (k, v) in tags {
            request = request.with(&format!("aws:ResourceTag/{k}"), vec![v.clone()]);
        }
    }
    request
}

/// What IAM decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// A statement allows it and none denies it.
    Allowed,
    /// A statement denies it (its `Sid`, and the policy).
    ExplicitDeny {
        /// The policy.
        policy: String,
    },
    /// No statement allows it.
    ImplicitDeny,
    /// The policies allow it, the role's permissions boundary does not.
    BoundaryDeny,
}

impl Decision {
    /// Whether the call goes through.
    pub fn allowed(&self) -> bool {
        *self == Decision::Allowed
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::Allowed => write!(f, "allowed"),
            Decision::ExplicitDeny { .. } => write!(f, "with an explicit deny in an identity-based policy"),
            Decision::ImplicitDeny => write!(f, "because no identity-based policy allows the action"),
            Decision::BoundaryDeny => write!(f, "because no permissions boundary allows the action"),
        }
    }
}

/// Evaluates `request` against every statement of `policies`.
pub fn evaluate(policies: &[Policy], request: &Request) -> Decision {
    let mut allowed = false;
    for policy in policies {
        for st in &policy.statements {
            if !st.actions.matches(request.action, true) || !st.resources.matches(request.resource, false) {
                continue;
            }
            let holds = st.denies_unread || st.conditions.iter().all(|c| condition_holds(c, &request.context));
            if !holds {
                continue;
            }
            match st.effect {
                Effect::Deny => {
                    return Decision::ExplicitDeny {
                        policy: policy.name.clone(),
                    };
                }
                Effect::Allow => allowed = true,
            }
        }
    }
    if allowed {
        Decision::Allowed
    } else {
        Decision::ImplicitDeny
    }
}

/// Condition keys hook-sim puts in a request's context (by prefix for tags).
fn modelled_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key.starts_with("aws:resourcetag/")
        || matches!(
            key.as_str(),
            "aws:requestedregion"
                | "aws:principalaccount"
                | "aws:securetransport"
                | "lambda:functionarn"
                | "cloudwatch:namespace"
        )
}

/// The operators hook-sim evaluates (before `IfExists`, after a set prefix).
const OPERATORS: [&str; 20] = [
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
    "ArnEquals",
    "ArnNotEquals",
    "ArnLike",
    "ArnNotLike",
    "Bool",
    "Null",
    "NumericEquals",
    "NumericNotEquals",
    "NumericLessThan",
    "NumericLessThanEquals",
    "NumericGreaterThan",
    "NumericGreaterThanEquals",
    "BinaryEquals",
    "IpAddress",
];

/// The base operator of `op`, its set prefix and whether it is `…IfExists`; `None` when
/// hook-sim does not evaluate it.
fn parse_operator(op: &str) -> Option<(&str, Option<&str>, bool)> {
    let (set, rest) = match op.split_once(':') {
        Some((p @ ("ForAnyValue" | "ForAllValues"), rest)) => (Some(p), rest),
        Some(_) => return None,
        None => (None, op),
    };
    let (base, if_exists) = match rest.strip_suffix("IfExists") {
        Some(b) => (b, true),
        None => (rest, false),
    };
    // Binary and IP conditions have nothing to compare in hook-sim's requests.
    (OPERATORS.contains(&base) && !matches!(base, "BinaryEquals" | "IpAddress")).then_some((base, set, if_exists))
}

fn negated(base: &str) -> bool {
    base.contains("Not")
}

fn condition_holds(c: &Condition, context: &BTreeMap<String, Vec<String>>) -> bool {
    let Some((base, set, if_exists)) = parse_operator(&c.operator) else {
        return false;
    };
    let present = context.get(&c.key.to_ascii_lowercase());
    if base == "Null" {
        // `Null: true` holds when the key is absent.
        let want_absent = c.values.iter().any(|v| v.eq_ignore_ascii_case("true"));
        return want_absent == present.is_none();
    }
    let Some(values) = present else {
        // Absent: ForAllValues holds vacuously, negated operators and IfExists hold.
        return set == Some("ForAllValues") || if_exists || negated(base);
    };
    let one = |v: &str| value_matches(base, v, &c.values);
    match set {
        Some("ForAllValues") => values.iter().all(|v| one(v)),
        Some(_) => values.iter().any(|v| one(v)),
        None if negated(base) => values.iter().all(|v| one(v)),
        None => values.iter().any(|v| one(v)),
    }
}

/// Whether the request's `value` satisfies `base` against the policy's `wanted` values (for a
/// negated operator: matches none of them).
fn value_matches(base: &str, value: &str, wanted: &[String]) -> bool {
    let positive = base.replace("Not", "");
    let hit = wanted.iter().any(|w| match positive.as_str() {
        "StringEquals" | "ArnEquals" => w == value,
        "StringEqualsIgnoreCase" => w.eq_ignore_ascii_case(value),
        "StringLike" | "ArnLike" => wildcard(w, value, false),
        "Bool" => w.eq_ignore_ascii_case(value),
        numeric => match (w.parse::<f64>(), value.parse::<f64>()) {
            (Ok(w), Ok(v)) => match numeric {
                "NumericEquals" => v == w,
                "NumericLessThan" => v < w,
                "NumericLessThanEquals" => v <= w,
                "NumericGreaterThan" => v > w,
                "NumericGreaterThanEquals" => v >= w,
                _ => false,
            },
            _ => false,
        },
    });
    if negated(base) { !hit } else { hit }
}

/// IAM's wildcard match: `*` any run of characters, `?` one.
pub fn wildcard(pattern: &str, text: &str, case_insensitive: bool) -> bool {
    let lower = |s: &str| {
        if case_insensitive {
            s.to_ascii_lowercase()
        } else {
            s.to_string()
        }
    };
    let (p, t): (Vec<char>, Vec<char>) = (lower(pattern).chars().collect(), lower(text).chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Array(list) => list.iter().flat_map(strings).collect(),
        Value::String(s) => vec![s.clone()],
        Value::Bool(b) => vec![b.to_string()],
        Value::Number(n) => vec![n.to_string()],
        _ => Vec::new(),
    }
}

impl Policy {
    /// Reads a policy document (`{"Statement": [...]}`, intrinsics already evaluated), named
    /// `name` in what it says.
    pub fn parse(name: &str, doc: &Value) -> Policy {
        let mut policy = Policy {
            name: name.to_string(),
            ..Policy::default()
        };
        let statements = match doc.get("Statement") {
            Some(Value::Array(list)) => list.clone(),
            Some(one @ Value::Object(_)) => vec![one.clone()],
            _ => {
                policy.unreadable.push(format!("{name}: no Statement"));
                return policy;
            }
        };
        for (i, st) in statements.iter().enumerate() {
            let sid = st.get("Sid").and_then(Value::as_str).map(str::to_string);
            let label = format!(
                "{name}, statement {}",
                sid.clone().unwrap_or_else(|| (i + 1).to_string())
            );
            let effect = match st.get("Effect").and_then(Value::as_str) {
                Some("Allow") => Effect::Allow,
                Some("Deny") => Effect::Deny,
                other => {
                    policy
                        .unreadable
                        .push(format!("{label}: Effect {other:?} is neither Allow nor Deny"));
                    continue;
                }
            };
            let patterns = |yes: &str, no: &str| match (st.get(yes), st.get(no)) {
                (Some(v), None) => Some(Patterns::Any(strings(v))),
                (None, Some(v)) => Some(Patterns::AnyBut(strings(v))),
                _ => None,
            };
            let (Some(actions), Some(resources)) =
                (patterns("Action", "NotAction"), patterns("Resource", "NotResource"))
            else {
                policy.unreadable.push(format!(
                    "{label}: it needs one of Action/NotAction and one of Resource/NotResource"
                ));
                continue;
            };
            let mut conditions = Vec::new();
            let mut unread = Vec::new();
            if st.get("Principal").is_some() || st.get("NotPrincipal").is_some() {
                unread.push("a Principal (identity-based policies have none)".to_string());
            }
            if let Some(Value::Object(ops)) = st.get("Condition") {
                for (op, keys) in ops {
                    for (key, values) in keys.as_object().into_iter().flatten() {
                        if parse_operator(op).is_none() {
                            unread.push(format!("the condition operator {op}"));
                        } else if !modelled_key(key) {
                            unread.push(format!("the condition key {key}"));
                        }
                        conditions.push(Condition {
                            operator: op.clone(),
                            key: key.clone(),
                            values: strings(values),
                        });
                    }
                }
            }
            let all_patterns = match (&actions, &resources) {
                (Patterns::Any(a) | Patterns::AnyBut(a), Patterns::Any(r) | Patterns::AnyBut(r)) => {
                    a.iter().chain(r).cloned().collect::<Vec<_>>()
                }
            };
            if all_patterns.iter().any(|p| p.contains("${")) {
                unread.push("a policy variable (${...})".to_string());
            }
            if !unread.is_empty() {
                let what = unread.join(", ");
                match effect {
                    Effect::Allow => {
                        policy.unreadable.push(format!(
                            "{label} grants nothing here: hook-sim does not evaluate {what}"
                        ));
                        continue;
                    }
                    Effect::Deny => policy.unreadable.push(format!(
                        "{label} is taken to deny all it names: hook-sim does not evaluate {what}"
                    )),
                }
            }
            policy.statements.push(Statement {
                sid,
                effect,
                actions,
                resources,
                conditions,
                denies_unread: effect == Effect::Deny && !unread.is_empty(),
            });
        }
        policy
    }
}

/// The AWS managed policies hook-sim knows, by name: their statements as AWS publishes them,
/// for the services hook-sim serves (CodeDeploy, Lambda, CloudWatch, SNS). A managed policy
/// not listed grants nothing here, with a warning.
pub fn managed_policy(arn_or_name: &str) -> Option<Policy> {
    let name = arn_or_name.rsplit('/').next().unwrap_or(arn_or_name);
    let doc = match name {
        // Logs, X-Ray and network interfaces only: nothing hook-sim serves.
        "AWSLambdaBasicExecutionRole"
        | "AWSLambdaVPCAccessExecutionRole"
        | "AWSXRayDaemonWriteAccess"
        | "AWSXrayWriteOnlyAccess"
        | "CloudWatchLambdaInsightsExecutionRolePolicy" => serde_json::json!({"Statement": []}),
        "AWSLambdaRole" => serde_json::json!({"Statement": [
            {"Effect": "Allow", "Action": ["lambda:InvokeFunction"], "Resource": ["*"]}
        ]}),
        "AWSCodeDeployRoleForLambda" => serde_json::json!({"Statement": [
            {"Effect": "Allow", "Action": ["cloudwatch:DescribeAlarms", "lambda:UpdateAlias", "lambda:GetAlias",
                "lambda:GetProvisionedConcurrencyConfig", "sns:Publish"], "Resource": "*"},
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectVersion"], "Resource": "arn:aws:s3:::*/CodeDeploy/*"},
            {"Effect": "Allow", "Action": ["lambda:InvokeFunction"], "Resource": "arn:aws:lambda:*:*:function:CodeDeployHook_*"}
        ]}),
        "AWSCodeDeployRoleForLambdaLimited" | "AWSCodeDeployRoleForCloudFormation" => {
            let mut statements = vec![serde_json::json!(
                {"Effect": "Allow", "Action": ["lambda:InvokeFunction"], "Resource": "arn:aws:lambda:*:*:function:CodeDeployHook_*"}
            )];
            if name == "AWSCodeDeployRoleForLambdaLimited" {
                statements.push(serde_json::json!(
                    {"Effect": "Allow", "Action": ["cloudwatch:DescribeAlarms", "lambda:UpdateAlias", "lambda:GetAlias",
                        "lambda:GetProvisionedConcurrencyConfig"], "Resource": "*"}
                ));
            }
            serde_json::json!({ "Statement": statements })
        }
        // Of AWSLambda_FullAccess, what concerns the services hook-sim serves: Lambda all
        // through, CloudWatch reads.
        "AWSLambda_FullAccess" => serde_json::json!({"Statement": [
            {"Effect": "Allow", "Action": ["lambda:*"], "Resource": "*"},
            {"Effect": "Allow", "Action": ["cloudwatch:ListMetrics", "cloudwatch:GetMetricData"], "Resource": "*"}
        ]}),
        "CloudWatchReadOnlyAccess" => serde_json::json!({"Statement": [
            {"Effect": "Allow", "Action": ["cloudwatch:Describe*", "cloudwatch:Get*", "cloudwatch:List*"], "Resource": "*"}
        ]}),
        "CloudWatchFullAccess" | "CloudWatchFullAccessV2" => serde_json::json!({"Statement": [
            {"Effect": "Allow", "Action": ["cloudwatch:*"], "Resource": "*"}
        ]}),
        "AmazonSNSFullAccess" => serde_json::json!({"Statement": [
            {"Effect": "Allow", "Action": ["sns:*"], "Resource": "*"}
        ]}),
        "AWSCodeDeployFullAccess" => serde_json::json!({"Statement": [
            {"Effect": "Allow", "Action": ["codedeploy:*"], "Resource": "*"}
        ]}),
        "AWSCodeDeployReadOnlyAccess" => serde_json::json!({"Statement": [
            {"Effect": "Allow", "Action": ["codedeploy:Batch*", "codedeploy:Get*", "codedeploy:List*"], "Resource": "*"}
        ]}),
        "AdministratorAccess" | "PowerUserAccess" => serde_json::json!({"Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "*"}
        ]}),
        _ => return None,
    };
    Some(Policy::parse(name, &doc))
}

/// The role a caller acts as: the role, the session (a function's name) and its policies.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// `arn:aws:iam::ACCOUNT:role/NAME`.
    pub role_arn: String,
    /// The session: the function whose process signs with it (Lambda names the session after
    /// the function), or `CodeDeploy` for CodeDeploy's role.
    pub session: String,
    /// Every policy of the role.
    pub policies: Vec<Policy>,
    /// Its permissions boundary, if it has one: a call must be allowed by it too.
    pub boundary: Option<Vec<Policy>>,
}

impl Identity {
    /// The caller as AWS names it in a denial: `arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION`.
    pub fn principal(&self) -> String {
        let name = self.role_arn.rsplit('/').next().unwrap_or(&self.role_arn);
        let account = self.role_arn.split(':').nth(4).unwrap_or(crate::account::ACCOUNT_ID);
        format!("arn:aws:sts::{account}:assumed-role/{name}/{}", self.session)
    }

    /// `Err` when the role's policies do not allow `request`.
    pub fn authorize(&self, request: &Request) -> Result<(), Denial> {
        self.authorize_with(request, &[])
    }

    /// `Err` when neither the role's policies nor the resource's own policy (`grants`: a
    /// function's `AWS::Lambda::Permission`s) allow `request`, as AWS evaluates a call within
    /// one account: an allow in either suffices, an explicit deny in the role's policies wins,
    /// and the role's permissions boundary still bounds what a grant to the role gives.
    pub fn authorize_with(&self, request: &Request, grants: &[ResourceGrant]) -> Result<(), Denial> {
        let identity = match evaluate(&self.policies, request) {
            Decision::ImplicitDeny if grants.iter().any(|g| g.grants(self, request)) => Decision::Allowed,
            other => other,
        };
        let decision = match (identity, &self.boundary) {
            (Decision::Allowed, Some(boundary)) => match evaluate(boundary, request) {
                Decision::ImplicitDeny => Decision::BoundaryDeny,
                other => other,
            },
            (decision, _) => decision,
        };
        match decision {
            Decision::Allowed => Ok(()),
            decision => Err(Denial {
                principal: self.principal(),
                action: request.action.to_string(),
                resource: request.resource.to_string(),
                decision,
            }),
        }
    }
}

/// A statement of a resource's own policy that grants a principal an action on it: what an
/// `AWS::Lambda::Permission` (Lambda's `AddPermission`) adds to a function's, a version's or an
/// alias's policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceGrant {
    /// The statement's id (the permission's logical id).
    pub sid: String,
    /// `Principal`: a role ARN, an account id, a service principal (`apigateway.amazonaws.com`).
    pub principal: String,
    /// `Action`, with IAM's wildcards (`lambda:InvokeFunction`, `lambda:*`).
    pub action: String,
    /// The ARN the policy belongs to: the function's, or a version's or alias's (a grant on one
    /// qualifier covers calls that name that qualifier only, as Lambda documents).
    pub resource: String,
}

impl ResourceGrant {
    /// Whether it grants `identity` `request` by itself. Naming the role (or its session) does;
    /// naming the account (`123456789012`, `arn:aws:iam::123456789012:root`) hands the decision
    /// to the account's own policies, and a service principal is not a role: neither grants.
    pub fn grants(&self, identity: &Identity, request: &Request) -> bool {
        let principal = self.principal == identity.role_arn || self.principal == identity.principal();
        principal && wildcard(&self.action, request.action, true) && self.resource == request.resource
    }
}

/// A call IAM refused.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Denial {
    /// The caller (`arn:aws:sts::…:assumed-role/ROLE/SESSION`).
    pub principal: String,
    /// The action.
    pub action: String,
    /// The resource.
    pub resource: String,
    /// Why.
    #[serde(skip)]
    pub decision: Decision,
}

impl fmt::Display for Denial {
    /// AWS's message: `User: … is not authorized to perform: ACTION on resource: RESOURCE because …`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = match &self.decision {
            Decision::ExplicitDeny { policy } => {
                format!("with an explicit deny in an identity-based policy ({policy})")
            }
            Decision::BoundaryDeny => format!("because no permissions boundary allows the {} action", self.action),
            _ => format!("because no identity-based policy allows the {} action", self.action),
        };
        write!(
            f,
            "User: {} is not authorized to perform: {} on resource: {} {why}",
            self.principal, self.action, self.resource
        )
    }
}

/// What hook-sim does with a call IAM refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Enforcement {
    /// Refuses it, as AWS does (`AccessDeniedException`).
    #[default]
    Enforce,
    /// Lets it through, and records the denial to warn of it.
    Warn,
}

/// The access key id hook-sim gives the process of `function`: the key a request is signed
/// with says which role it acts as (`ASIA` and 16 hexadecimal digits of the name's hash).
pub fn access_key_for(function: &str) -> String {
    // FNV-1a, 64 bits: stable across runs and platforms.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in function.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("ASIA{h:016X}")
}

/// The access key id a SigV4 `Authorization` header names (`Credential=KEY/date/...`).
pub fn signing_key(authorization: &str) -> Option<&str> {
    let credential = authorization.split("Credential=").nth(1)?;
    credential.split('/').next().filter(|k| !k.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(doc: Value) -> Policy {
        Policy::parse("p", &doc)
    }

    const FN: &str = "arn:aws:lambda:us-east-1:123456789012:function:hello";

    #[test]
    fn allow_deny_and_nothing() {
        let p = policy(json!({"Statement": [
            {"Effect": "Allow", "Action": "lambda:Invoke*", "Resource": format!("{FN}:*")},
            {"Effect": "Deny", "Action": "lambda:InvokeFunction", "Resource": format!("{FN}:1")},
        ]}));
        let ask = |action: &str, resource: &str| evaluate(std::slice::from_ref(&p), &Request::new(action, resource));
        assert_eq!(ask("lambda:InvokeFunction", &format!("{FN}:2")), Decision::Allowed);
        assert_eq!(
            ask("LAMBDA:invokefunction", &format!("{FN}:2")),
            Decision::Allowed,
            "actions ignore case"
        );
        assert!(matches!(
            ask("lambda:InvokeFunction", &format!("{FN}:1")),
            Decision::ExplicitDeny { .. }
        ));
        // The unqualified ARN is not `hello:*`: Lambda authorizes a qualified call on the qualified ARN.
        assert_eq!(ask("lambda:InvokeFunction", FN), Decision::ImplicitDeny);
        assert_eq!(ask("lambda:GetFunction", &format!("{FN}:2")), Decision::ImplicitDeny);
        assert_eq!(
            ask("lambda:InvokeFunction", &format!("{FN}X:2")),
            Decision::ImplicitDeny
        );
    }

    /// An invoke carries the keys the Service Authorization Reference lists for it and no
    /// other: a condition on `lambda:FunctionArn` (listed for event source mappings only)
    /// never grants an invoke, and a negated one always denies it, as in AWS.
    #[test]
    fn an_invoke_carries_only_the_keys_aws_lists_for_it() {
        let tags = BTreeMap::from([("team".to_string(), "shop".to_string())]);
        let version = format!("{FN}:2");
        let request = function_request("lambda:InvokeFunction", &version, &tags);
        let listed: Vec<String> = ACTION_CONDITION_KEYS
            .iter()
            .find(|(a, _)| *a == "lambda:InvokeFunction")
            .unwrap()
            .1
            .iter()
            .map(|k| k.to_ascii_lowercase())
            .collect();
        for key in request.context.keys() {
            let global = ["aws:requestedregion", "aws:principalaccount", "aws:securetransport"].contains(&key.as_str());
            let documented = listed
                .iter()
                .any(|l| l == key || l.strip_suffix("${tagkey}").is_some_and(|p| key.starts_with(p)));
            assert!(global || documented, "{key} is not a key AWS sets on an invoke");
        }
        assert_eq!(request.context["aws:resourcetag/team"], ["shop"]);
        assert!(!request.context.contains_key("lambda:functionarn"));

        let allow_on_arn = policy(
            json!({"Statement": [{"Effect": "Allow", "Action": "lambda:InvokeFunction",
            "Resource": "*", "Condition": {"ArnLike": {"lambda:FunctionArn": format!("{FN}*")}}}]}),
        );
        assert_eq!(
            evaluate(std::slice::from_ref(&allow_on_arn), &request),
            Decision::ImplicitDeny
        );
        let deny_unless_arn = policy(json!({"Statement": [
            {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*"},
            {"Effect": "Deny", "Action": "lambda:InvokeFunction", "Resource": "*",
             "Condition": {"ArnNotLike": {"lambda:FunctionArn": format!("{FN}*")}}}]}));
        assert!(matches!(
            evaluate(std::slice::from_ref(&deny_unless_arn), &request),
            Decision::ExplicitDeny { .. }
        ));
        let on_tag = policy(
            json!({"Statement": [{"Effect": "Allow", "Action": "lambda:InvokeFunction",
            "Resource": "*", "Condition": {"StringEquals": {"aws:ResourceTag/team": "shop"}}}]}),
        );
        assert_eq!(evaluate(std::slice::from_ref(&on_tag), &request), Decision::Allowed);
        // An action that lists no resource tags carries none.
        let other = function_request("codedeploy:GetDeployment", "*", &tags);
        assert!(!other.context.contains_key("aws:resourcetag/team"));
    }

    #[test]
    fn not_action_and_not_resource() {
        let p = policy(json!({"Statement": [
            {"Effect": "Allow", "NotAction": ["iam:*"], "Resource": "*"},
            {"Effect": "Deny", "Action": "lambda:*", "NotResource": format!("{FN}*")},
        ]}));
        let ask = |action: &str, resource: &str| {
            evaluate(std::slice::from_ref(&p), &Request::new(action, resource)).allowed()
        };
        assert!(ask(
            "codedeploy:GetDeployment",
            "arn:aws:codedeploy:us-east-1:123456789012:deploymentgroup:a/b"
        ));
        assert!(!ask("iam:PassRole", "*"));
        assert!(ask("lambda:InvokeFunction", &format!("{FN}:2")));
        assert!(!ask(
            "lambda:InvokeFunction",
            "arn:aws:lambda:us-east-1:123456789012:function:other"
        ));
    }

    #[test]
    fn conditions_on_tags_with_iam_semantics_for_absent_keys() {
        let p = policy(json!({"Statement": [{
            "Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*",
            "Condition": {"StringEquals": {"aws:ResourceTag/smoke-hook": "shared"}}
        }]}));
        assert!(p.unreadable.is_empty(), "{:?}", p.unreadable);
        let tagged =
            Request::new("lambda:InvokeFunction", FN).with("aws:ResourceTag/smoke-hook", vec!["shared".into()]);
        let other = Request::new("lambda:InvokeFunction", FN).with("aws:ResourceTag/smoke-hook", vec!["no".into()]);
        let untagged = Request::new("lambda:InvokeFunction", FN);
        let ps = std::slice::from_ref(&p);
        assert!(evaluate(ps, &tagged).allowed());
        assert!(!evaluate(ps, &other).allowed());
        assert!(!evaluate(ps, &untagged).allowed(), "an absent key fails a condition");

        let not = policy(json!({"Statement": [{
            "Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*",
            "Condition": {"StringNotEquals": {"aws:ResourceTag/env": "prod"}}
        }]}));
        assert!(
            evaluate(std::slice::from_ref(&not), &untagged).allowed(),
            "absent: a negated operator holds"
        );
        let if_exists = policy(json!({"Statement": [{
            "Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*",
            "Condition": {"StringLikeIfExists": {"aws:ResourceTag/team": "pay*"}}
        }]}));
        assert!(evaluate(std::slice::from_ref(&if_exists), &untagged).allowed());
        let payments = Request::new("lambda:InvokeFunction", FN).with("aws:ResourceTag/team", vec!["payments".into()]);
        assert!(evaluate(std::slice::from_ref(&if_exists), &payments).allowed());
        let null = policy(json!({"Statement": [{
            "Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*",
            "Condition": {"Null": {"aws:ResourceTag/team": "false"}}
        }]}));
        assert!(evaluate(std::slice::from_ref(&null), &payments).allowed());
        assert!(!evaluate(std::slice::from_ref(&null), &untagged).allowed());
        let region = policy(json!({"Statement": [{
            "Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*",
            "Condition": {"StringEquals": {"cloudwatch:namespace": "Shop", "aws:RequestedRegion": "us-east-1"}}
        }]}));
        let put =
            |ns: &str| Request::new("cloudwatch:PutMetricData", "*").with("cloudwatch:namespace", vec![ns.into()]);
        assert!(evaluate(std::slice::from_ref(&region), &put("Shop")).allowed());
        assert!(!evaluate(std::slice::from_ref(&region), &put("Other")).allowed());
    }

    #[test]
    fn what_cannot_be_read_never_grants_and_always_denies() {
        let p = policy(json!({"Statement": [
            {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*",
             "Condition": {"StringEquals": {"aws:PrincipalTag/team": "x"}}},
            {"Effect": "Allow", "Action": "codedeploy:*", "Resource": "*",
             "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}},
            {"Effect": "Allow", "Action": "cloudwatch:GetMetricData", "Resource": "*"},
            {"Effect": "Deny", "Action": "cloudwatch:GetMetricData", "Resource": "*",
             "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1"}}},
        ]}));
        let ask = |action: &str, resource: &str| evaluate(std::slice::from_ref(&p), &Request::new(action, resource));
        assert_eq!(ask("lambda:InvokeFunction", FN), Decision::ImplicitDeny);
        assert_eq!(ask("codedeploy:GetDeployment", "*"), Decision::ImplicitDeny);
        assert!(matches!(
            ask("cloudwatch:GetMetricData", "*"),
            Decision::ExplicitDeny { .. }
        ));
        assert_eq!(p.unreadable.len(), 3, "{:?}", p.unreadable);
        assert!(p.unreadable[0].contains("aws:PrincipalTag/team"), "{:?}", p.unreadable);
        assert!(p.unreadable[1].contains("DateGreaterThan"), "{:?}", p.unreadable);
        assert!(p.unreadable[2].contains("taken to deny"), "{:?}", p.unreadable);
        let variable = policy(json!({"Statement": [
            {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "arn:aws:lambda:*:*:function:${aws:username}"}
        ]}));
        assert!(variable.statements.is_empty() && variable.unreadable[0].contains("policy variable"));
    }

    #[test]
    fn codedeploys_managed_roles_invoke_only_codedeployhook_functions() {
        let full = managed_policy("arn:aws:iam::aws:policy/service-role/AWSCodeDeployRoleForLambda").unwrap();
        let limited = managed_policy("service-role/AWSCodeDeployRoleForLambdaLimited").unwrap();
        let hook = "arn:aws:lambda:us-east-1:123456789012:function:CodeDeployHook_pre";
        let other = "arn:aws:lambda:us-east-1:123456789012:function:pre-traffic";
        let topic = "arn:aws:sns:us-east-1:123456789012:deployments";
        for p in [&full, &limited] {
            let ps = std::slice::from_ref(p);
            assert!(evaluate(ps, &Request::new("lambda:InvokeFunction", hook)).allowed());
            assert!(!evaluate(ps, &Request::new("lambda:InvokeFunction", other)).allowed());
        }
        assert!(evaluate(std::slice::from_ref(&full), &Request::new("sns:Publish", topic)).allowed());
        assert!(!evaluate(std::slice::from_ref(&limited), &Request::new("sns:Publish", topic)).allowed());
        assert!(managed_policy("arn:aws:iam::123456789012:policy/MyOwn").is_none());
    }

    #[test]
    fn denials_read_as_aws_writes_them() {
        let identity = Identity {
            role_arn: "arn:aws:iam::123456789012:role/sam-app-PreTrafficHookRole".into(),
            session: "CodeDeployHook_pre".into(),
            policies: vec![policy(json!({"Statement": [
                {"Effect": "Allow", "Action": ["codedeploy:GetDeployment", "lambda:InvokeFunction"], "Resource": "*"}
            ]}))],
            boundary: None,
        };
        let put = Request::new(
            "codedeploy:PutLifecycleEventHookExecutionStatus",
            "arn:aws:codedeploy:us-east-1:123456789012:deploymentgroup:app/group",
        );
        let denial = identity.authorize(&put).unwrap_err();
        assert_eq!(
            denial.to_string(),
            "User: arn:aws:sts::123456789012:assumed-role/sam-app-PreTrafficHookRole/CodeDeployHook_pre is not \
             authorized to perform: codedeploy:PutLifecycleEventHookExecutionStatus on resource: \
             arn:aws:codedeploy:us-east-1:123456789012:deploymentgroup:app/group because no identity-based policy \
             allows the codedeploy:PutLifecycleEventHookExecutionStatus action"
        );
        assert!(
            identity
                .authorize(&Request::new("codedeploy:GetDeployment", "x"))
                .is_ok()
        );
        // A permissions boundary narrows what the policies allow.
        let bounded = Identity {
            boundary: Some(vec![policy(json!({"Statement": [
                {"Effect": "Allow", "Action": "codedeploy:*", "Resource": "*"}
            ]}))]),
            ..identity.clone()
        };
        assert!(
            bounded
                .authorize(&Request::new("codedeploy:GetDeployment", "x"))
                .is_ok()
        );
        let denial = bounded
            .authorize(&Request::new("lambda:InvokeFunction", FN))
            .unwrap_err();
        assert!(
            denial
                .to_string()
                .ends_with("because no permissions boundary allows the lambda:InvokeFunction action"),
            "{denial}"
        );
        assert_eq!(access_key_for("a"), access_key_for("a"));
        assert_ne!(access_key_for("a"), access_key_for("b"));
        assert_eq!(access_key_for("a").len(), 20);
        assert_eq!(
            signing_key(
                "AWS4-HMAC-SHA256 Credential=ASIA0123/20240101/us-east-1/lambda/aws4_request, SignedHeaders=host"
            ),
            Some("ASIA0123")
        );
        assert_eq!(signing_key("Bearer x"), None);
    }

    #[test]
    fn wildcards() {
        assert!(wildcard(
            "arn:*:function:CodeDeployHook_*",
            "arn:aws:function:CodeDeployHook_x",
            false
        ));
        assert!(!wildcard(
            "arn:*:function:CodeDeployHook_*",
            "arn:aws:function:codedeployhook_x",
            false
        ));
        assert!(wildcard("a?c", "abc", false) && !wildcard("a?c", "ac", false));
        assert!(wildcard("*", "", false));
    }
}
