//! The IAM roles a template gives its functions and CodeDeploy, read as AWS would apply them:
//! a function's `Role` (an `AWS::IAM::Role` of the template with its inline policies, managed
//! policies and the `AWS::IAM::Policy` / `AWS::IAM::ManagedPolicy` resources attached to it),
//! or the role SAM makes from `Policies` (inline documents, SAM policy templates, AWS managed
//! policies); the deployment group's service role, or the one SAM makes
//! (`AWSCodeDeployRoleForLambda`).
//!
//! What cannot be read here (a role defined outside the template, a managed policy or SAM
//! policy template hook-sim does not know) grants nothing, with a warning naming it.

use super::{StackError, Template, scalar_text};
use crate::iam::{Identity, Policy, ResourceGrant, managed_policy};
use serde_json::{Value, json};

/// A role as read, with what could not be read of it.
#[derive(Debug)]
pub struct RoleReading {
    /// The permissions read.
    pub identity: Identity,
    /// What could not be read of it (a policy hook-sim does not know, a condition it does not model): it grants nothing.
    pub warnings: Vec<String>,
}

/// The `AWS::IAM::Role` of the template whose ARN `arn` is, if any.
fn role_in_template(t: &Template, arn: &str) -> Option<String> {
    t.resources()
        .into_iter()
        .filter(|(_, ty)| ty == "AWS::IAM::Role")
        .map(|(id, _)| id)
        .find(|id| t.role_arn(id).ok().as_deref() == Some(arn))
}

/// The role of function `id` (its process runs as `session`).
pub fn function_role(t: &Template, id: &str, session: &str) -> Result<RoleReading, StackError> {
    let what = format!("function {id}");
    match t.function_property(id, "Role") {
        Some(role) => {
            let arn = scalar_text(&t.eval(&role)?);
            role_by_arn(t, &arn, session, &what)
        }
        None if t.resource_type(id) == Some("AWS::Serverless::Function") => sam_function_role(t, id, session),
        None => Ok(RoleReading {
            identity: Identity {
                role_arn: format!("arn:aws:iam::{}:role/unknown", crate::ACCOUNT_ID),
                session: session.to_string(),
                policies: Vec::new(),
                boundary: None,
            },
            warnings: vec![format!(
                "{what} has no Role: CloudFormation refuses an AWS::Lambda::Function without one; here it may call nothing"
            )],
        }),
    }
}

/// A role by its ARN: one of the template's, or one defined elsewhere (unreadable).
fn role_by_arn(t: &Template, arn: &str, session: &str, what: &str) -> Result<RoleReading, StackError> {
    match role_in_template(t, arn) {
        Some(role_id) => template_role(t, &role_id, session),
        None => Ok(RoleReading {
            identity: Identity {
                role_arn: arn.to_string(),
                session: session.to_string(),
                policies: Vec::new(),
                boundary: None,
            },
            warnings: vec![format!(
                "the role of {what} ({arn}) is not defined in the template: hook-sim cannot read its \
                 policies, so it allows nothing here (run with --iam warn to let its calls through)"
            )],
        }),
    }
}

/// Policies attached to the role `role_id` (a template role, or one SAM adds) by
/// `AWS::IAM::Policy` and `AWS::IAM::ManagedPolicy` resources that name it in `Roles`.
fn attached_policies(t: &Template, role_id: &str) -> Result<Vec<Policy>, StackError> {
    let role_name = scalar_text(&t.eval(&json!({"Ref": role_id}))?);
    let mut out = Vec::new();
    for (pid, ty) in t.resources() {
        if ty != "AWS::IAM::Policy" && ty != "AWS::IAM::ManagedPolicy" {
            continue;
        }
        let props = t
            .resource(&pid)
            .and_then(|r| r.get("Properties"))
            .cloned()
            .unwrap_or_default();
        let roles = t.eval(props.get("Roles").unwrap_or(&Value::Null))?;
        let names_it = roles
            .as_array()
            .into_iter()
            .flatten()
            .any(|r| scalar_text(r) == role_name);
        if names_it {
            let doc = t.eval(props.get("PolicyDocument").unwrap_or(&Value::Null))?;
            out.push(Policy::parse(&pid, &doc));
        }
    }
    Ok(out)
}

/// A managed policy by ARN (or a SAM `Policies` name): an AWS managed one hook-sim knows, or an
/// `AWS::IAM::ManagedPolicy` of the template.
fn managed(t: &Template, arn: &str) -> Result<Option<Policy>, StackError> {
    if let Some(p) = managed_policy(arn) {
        return Ok(Some(p));
    }
    for (pid, ty) in t.resources() {
        if ty == "AWS::IAM::ManagedPolicy" && scalar_text(&t.eval(&json!({"Ref": pid}))?) == arn {
            let doc = t.eval(
                t.resource(&pid)
                    .and_then(|r| r.pointer("/Properties/PolicyDocument"))
                    .unwrap_or(&Value::Null),
            )?;
            return Ok(Some(Policy::parse(&pid, &doc)));
        }
    }
    Ok(None)
}

fn unknown_managed(arn: &str, of: &str) -> String {
    format!(
        "managed policy {arn} of {of} is not known to hook-sim: it grants nothing here (run with --iam warn \
         to let the calls it would allow through)"
    )
}

/// A permissions boundary (`PermissionsBoundary`: a managed policy ARN), if the role has one.
fn boundary(
    t: &Template,
    v: Option<&Value>,
    of: &str,
    warnings: &mut Vec<String>,
) -> Result<Option<Vec<Policy>>, StackError> {
    let Some(v) = v else { return Ok(None) };
    let arn = scalar_text(&t.eval(v)?);
    Ok(Some(match managed(t, &arn)? {
        Some(p) => vec![p],
        None => {
            warnings.push(format!(
                "the permissions boundary {arn} of {of} is not known to hook-sim: it allows nothing here"
            ));
            Vec::new()
        }
    }))
}

/// An `AWS::IAM::Role` of the template.
fn template_role(t: &Template, role_id: &str, session: &str) -> Result<RoleReading, StackError> {
    let props = t
        .resource(role_id)
        .and_then(|r| r.get("Properties"))
        .cloned()
        .unwrap_or_default();
    let of = format!("role {role_id}");
    let mut warnings = Vec::new();
    let mut policies = Vec::new();
    for p in t
        .eval(props.get("Policies").unwrap_or(&Value::Null))?
        .as_array()
        .into_iter()
        .flatten()
    {
        let name = p.get("PolicyName").map(scalar_text).unwrap_or_else(|| "inline".into());
        policies.push(Policy::parse(
            &format!("{role_id} {name}"),
            p.get("PolicyDocument").unwrap_or(&Value::Null),
        ));
    }
    for arn in t
        .eval(props.get("ManagedPolicyArns").unwrap_or(&Value::Null))?
        .as_array()
        .into_iter()
        .flatten()
    {
        let arn = scalar_text(arn);
        match managed(t, &arn)? {
            Some(p) => policies.push(p),
            None => warnings.push(unknown_managed(&arn, &of)),
        }
    }
    policies.extend(attached_policies(t, role_id)?);
    let boundary = boundary(t, props.get("PermissionsBoundary"), &of, &mut warnings)?;
    finish(t.role_arn(role_id)?, session, policies, boundary, warnings)
}

fn finish(
    role_arn: String,
    session: &str,
    policies: Vec<Policy>,
    boundary: Option<Vec<Policy>>,
    mut warnings: Vec<String>,
) -> Result<RoleReading, StackError> {
    for p in policies.iter().chain(boundary.iter().flatten()) {
        warnings.extend(p.unreadable.iter().cloned());
    }
    Ok(RoleReading {
        identity: Identity {
            role_arn,
            session: session.to_string(),
            policies,
            boundary,
        },
        warnings,
    })
}

/// The role SAM makes for a function without `Role`: `AWSLambdaBasicExecutionRole` and its
/// `Policies`.
fn sam_function_role(t: &Template, id: &str, session: &str) -> Result<RoleReading, StackError> {
    let of = format!("function {id}");
    let role_id = format!("{id}Role");
    let mut warnings = Vec::new();
    let mut policies: Vec<Policy> = managed_policy("AWSLambdaBasicExecutionRole").into_iter().collect();
    let entries = match t.function_property(id, "Policies") {
        None => Vec::new(),
        Some(Value::Array(list)) => list,
        Some(one) => vec![one],
    };
    for (i, entry) in entries.iter().enumerate() {
        let label = format!("{of}'s Policies[{i}]");
        match entry {
            Value::Object(o) if o.contains_key("Statement") => {
                policies.push(Policy::parse(&label, &t.eval(entry)?));
            }
            Value::Object(o) if o.len() == 1 && !o.keys().any(|k| k == "Ref" || k.starts_with("Fn::")) => {
                let (name, params) = o.iter().next().expect("one entry");
                match sam_policy_template(name, &t.eval(params)?) {
                    Some(doc) => policies.push(Policy::parse(&format!("{label} ({name})"), &doc)),
                    None => warnings.push(format!(
                        "the SAM policy template {name} of {of} is not known to hook-sim: it grants nothing here \
                         (run with --iam warn to let the calls it would allow through)"
                    )),
                }
            }
            other => {
                let arn = scalar_text(&t.eval(other)?);
                match managed(t, &arn)? {
                    Some(p) => policies.push(p),
                    None => warnings.push(unknown_managed(&arn, &of)),
                }
            }
        }
    }
    policies.extend(attached_policies(t, &role_id)?);
    let boundary = boundary(
        t,
        t.function_property(id, "PermissionsBoundary").as_ref(),
        &of,
        &mut warnings,
    )?;
    finish(t.role_arn(&role_id)?, session, policies, boundary, warnings)
}

/// A SAM policy template hook-sim knows, as SAM expands it (for the services hook-sim serves).
fn sam_policy_template(name: &str, params: &Value) -> Option<Value> {
    let param = |key: &str| params.get(key).map(scalar_text);
    let region = crate::REGION;
    let account = crate::ACCOUNT_ID;
    Some(match name {
        "LambdaInvokePolicy" => json!({"Statement": [{
            "Effect": "Allow", "Action": ["lambda:InvokeFunction"],
            "Resource": format!("arn:aws:lambda:{region}:{account}:function:{}*", param("FunctionName")?)
        }]}),
        "CloudWatchPutMetricPolicy" => json!({"Statement": [{
            "Effect": "Allow", "Action": ["cloudwatch:PutMetricData"], "Resource": "*"
        }]}),
        // Templates of services hook-sim does not serve: nothing to grant here.
        n if [
            "DynamoDB",
            "S3",
            "SQS",
            "SNS",
            "SSM",
            "KMS",
            "SES",
            "StepFunctions",
            "EventBridge",
            "Kinesis",
        ]
        .iter()
        .any(|p| n.starts_with(p)) =>
        {
            json!({"Statement": []})
        }
        _ => return None,
    })
}

/// CodeDeploy's role for a SAM function's DeploymentPreference: its `Role`, or the one SAM
/// makes with `AWSCodeDeployRoleForLambda`.
pub fn sam_codedeploy_role(t: &Template, preference: &Value) -> Result<RoleReading, StackError> {
    match preference.get("Role") {
        Some(role) => {
            let arn = scalar_text(&t.eval(role)?);
            role_by_arn(t, &arn, "CodeDeploy", "the DeploymentPreference")
        }
        None => finish(
            t.role_arn("CodeDeployServiceRole")?,
            "CodeDeploy",
            managed_policy("AWSCodeDeployRoleForLambda").into_iter().collect(),
            None,
            Vec::new(),
        ),
    }
}

/// CodeDeploy's role for a deployment group: its `ServiceRoleArn`.
pub fn group_codedeploy_role(t: &Template, group: &Value, group_id: &str) -> Result<RoleReading, StackError> {
    let arn = scalar_text(&t.eval(group.get("ServiceRoleArn").unwrap_or(&Value::Null))?);
    role_by_arn(t, &arn, "CodeDeploy", &format!("deployment group {group_id}"))
}

/// The grants of the template's `AWS::Lambda::Permission`s: each adds a statement to the policy
/// of the function, version or alias its `FunctionName` names. One that cannot be read grants
/// nothing, with a warning.
pub fn resource_grants(t: &Template, warnings: &mut Vec<String>) -> Vec<ResourceGrant> {
    let mut grants = Vec::new();
    for (id, _) in t
        .resources()
        .into_iter()
        .filter(|(_, ty)| ty == "AWS::Lambda::Permission")
    {
        if !t.condition_holds(&id).unwrap_or(false) {
            continue;
        }
        let read = || -> Result<ResourceGrant, String> {
            let p = t
                .eval(&t.resource(&id).cloned().unwrap_or_default()["Properties"])
                .map_err(|e| e.to_string())?;
            let text = |key: &str| {
                p.get(key)
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .ok_or_else(|| format!("its {key} is not a string"))
            };
            let function = text("FunctionName")?;
            let resource = if function.starts_with("arn:") {
                function
            } else if function.contains(":function:") {
                return Err(format!(
                    "FunctionName {function} is a partial ARN: write the name or the whole ARN"
                ));
            } else {
                format!(
                    "arn:aws:lambda:{}:{}:function:{function}",
                    crate::REGION,
                    crate::ACCOUNT_ID
                )
            };
            Ok(ResourceGrant {
                sid: id.clone(),
                principal: text("Principal")?,
                action: text("Action")?,
                resource,
            })
        };
        match read() {
            Ok(grant) => grants.push(grant),
            Err(why) => warnings.push(format!(
                "AWS::Lambda::Permission {id} is not read ({why}): it grants nothing here"
            )),
        }
    }
    grants
}
