//! Reading a SAM / CloudFormation template: YAML with the short-form intrinsics (`!Ref`,
//! `!Sub`, `!If`, ...) or JSON, parameters, conditions, and the intrinsic functions a
//! function's deployment settings use.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value, json};
use serde_saphyr::Tagged;

use crate::account::{ACCOUNT_ID, REGION};

pub mod alarms;
pub mod cloudformation;
pub mod configs;
pub mod functions;
pub mod roles;
pub mod sam;
pub mod setup;
pub mod specs;
pub mod triggers;

/// A stack whose template cannot be used, with what to do about it (hook-spec's
/// `TemplateError` is another thing: a `{{…}}` text of a spec).
#[derive(Debug)]
pub struct StackError {
    message: String,
}

impl StackError {
    /// An error saying `message`: what is wrong with the stack, and what to do.
    pub fn new(message: impl Into<String>) -> Self {
        StackError {
            message: message.into(),
        }
    }

    /// What is wrong, and what to do.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for StackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StackError {}

fn err<T>(message: impl Into<String>) -> Result<T, StackError> {
    Err(StackError::new(message))
}

/// A YAML node with its short-form intrinsic turned into the long form (`!Ref X` → `{"Ref": "X"}`).
struct Node(Value);

struct Plain(Value);

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Tagged(Plain(value), tag) = Tagged::<Plain>::deserialize(d)?;
        match tag.as_deref().and_then(|t| t.strip_prefix('!')) {
            None => Ok(Node(value)),
            Some(name) => long_form(name, value).map(Node).map_err(de::Error::custom),
        }
    }
}

fn long_form(tag: &str, value: Value) -> Result<Value, String> {
    Ok(match tag {
        "Ref" => json!({ "Ref": value }),
        "Condition" => json!({ "Condition": value }),
        "GetAtt" => match value {
            Value::String(s) => {
                let (resource, attribute) = s
                    .split_once('.')
                    .ok_or_else(|| format!("!GetAtt {s}: expected RESOURCE.ATTRIBUTE"))?;
                json!({ "Fn::GetAtt": [resource, attribute] })
            }
            other => json!({ "Fn::GetAtt": other }),
        },
        "Sub" | "If" | "Equals" | "Not" | "And" | "Or" | "Join" | "Select" | "Split" | "FindInMap" | "Base64"
        | "Cidr" | "GetAZs" | "ImportValue" | "Transform" | "Length" | "ToJsonString" => {
            json!({ format!("Fn::{tag}"): value })
        }
        other => {
            return Err(format!(
                "unknown tag !{other}: CloudFormation's short forms are !Ref, !Sub, !If, !GetAtt, ..."
            ));
        }
    })
}

impl<'de> Deserialize<'de> for Plain {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Plain;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a YAML value")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Plain, E> {
                Ok(Plain(Value::Bool(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Plain, E> {
                Ok(Plain(json!(v)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Plain, E> {
                Ok(Plain(json!(v)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Plain, E> {
                Ok(Plain(json!(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Plain, E> {
                Ok(Plain(Value::String(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Plain, E> {
                Ok(Plain(Value::String(v)))
            }
            fn visit_unit<E>(self) -> Result<Plain, E> {
                Ok(Plain(Value::Null))
            }
            fn visit_none<E>(self) -> Result<Plain, E> {
                Ok(Plain(Value::Null))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Plain, D::Error> {
                Node::deserialize(d).map(|n| Plain(n.0))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Plain, A::Error> {
                let mut items = Vec::new();
                while let Some(Node(v)) = seq.next_element()? {
                    items.push(v);
                }
                Ok(Plain(Value::Array(items)))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Plain, A::Error> {
                let mut out = Map::new();
                while let Some((k, Node(v))) = map.next_entry::<String, Node>()? {
                    out.insert(k, v);
                }
                Ok(Plain(Value::Object(out)))
            }
        }
        d.deserialize_any(V)
    }
}

/// A loaded template with its parameters and conditions decided.
#[derive(Debug)]
pub struct Template {
    /// Where it was read from.
    pub path: PathBuf,
    root: Value,
    /// The stack name it is simulated as (`AWS::StackName`).
    pub stack_name: String,
    parameters: BTreeMap<String, Value>,
    conditions: BTreeMap<String, bool>,
    /// The target version `!GetAtt F.Version.Version` stands for.
    pub target_version: String,
    /// The resources whose names are being worked out, outermost first: a name that refers
    /// back to one of them is a cycle, refused instead of recursing without end.
    resolving: std::sync::Mutex<Vec<String>>,
    /// How deep `eval` is in nested intrinsic functions.
    depth: std::sync::atomic::AtomicUsize,
    /// For a nested application's template: its logical id in the parent template.
    pub application: Option<String>,
    /// The nested applications' templates read so far, by logical id: each is read once.
    nested: std::sync::Mutex<BTreeMap<String, std::sync::Arc<Template>>>,
}

/// The deepest nesting of intrinsic functions `eval` follows.
const MAX_DEPTH: usize = 64;

/// The largest template file read. CloudFormation takes a template of 1 MB at most (from S3;
/// 51,200 bytes inline); a SAM template before its transform may be larger, not this much.
pub(crate) const MAX_TEMPLATE_BYTES: u64 = 8 * 1024 * 1024;

/// The longest string an intrinsic function makes (`Fn::Join`, `Fn::Sub`, `Fn::Split`'s
/// source): no value of a template CloudFormation takes is longer than the template.
pub(crate) const MAX_VALUE_BYTES: usize = 1024 * 1024;

/// The most items `Fn::Split` makes.
const MAX_SPLIT_ITEMS: usize = 10_000;

/// Reads the template file at `path`: a regular file (not a device, a FIFO or a folder) of
/// at most [`MAX_TEMPLATE_BYTES`].
pub(crate) fn read_template_file(path: &Path) -> Result<String, StackError> {
    use std::io::Read as _;
    let fail = |why: String| StackError::new(format!("cannot read template {}: {why}", path.display()));
    let meta = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?;
    if !meta.is_file() {
        return Err(fail(
            "it is not a regular file (a folder, a device or a pipe): give the template's file".into(),
        ));
    }
    if meta.len() > MAX_TEMPLATE_BYTES {
        return Err(fail(format!(
            "{} bytes, over the {MAX_TEMPLATE_BYTES} hook-sim reads (CloudFormation takes 1 MB at most)",
            meta.len()
        )));
    }
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_TEMPLATE_BYTES + 1).read_to_string(&mut text))
        .map_err(|e| fail(e.to_string()))?;
    if text.len() as u64 > MAX_TEMPLATE_BYTES {
        return Err(fail(format!("over the {MAX_TEMPLATE_BYTES} bytes hook-sim reads")));
    }
    Ok(text)
}

/// `Err` when a value an intrinsic function makes would be longer than [`MAX_VALUE_BYTES`].
fn bounded(function: &str, len: usize) -> Result<(), StackError> {
    if len > MAX_VALUE_BYTES {
        return err(format!(
            "{function} makes a value of more than {MAX_VALUE_BYTES} bytes: longer than any template CloudFormation \
             takes, so hook-sim does not build it"
        ));
    }
    Ok(())
}

impl Template {
    /// Reads `path` with parameter `overrides` (`NAME=VALUE`).
    pub fn load(
        path: &Path,
        overrides: &[(String, String)],
        stack_name: &str,
        target_version: &str,
    ) -> Result<Template, StackError> {
        let text = read_template_file(path).map_err(|e| {
            StackError::new(format!(
                "{} (run from the repository root, or pass --template PATH)",
                e.message
            ))
        })?;
        Self::parse_as(&text, path, (overrides, None), stack_name, target_version)
    }

    /// Parses template text.
    pub fn parse(
        text: &str,
        path: &Path,
        overrides: &[(String, String)],
        stack_name: &str,
        target_version: &str,
    ) -> Result<Template, StackError> {
        Self::parse_as(text, path, (overrides, None), stack_name, target_version)
    }

    /// Parses template text whose parameters are `overrides`: given with `--parameter`, or,
    /// for a nested application, by the parent's `Resources.APP.Properties.Parameters`.
    fn parse_as(
        text: &str,
        path: &Path,
        (overrides, application): (&[(String, String)], Option<&str>),
        stack_name: &str,
        target_version: &str,
    ) -> Result<Template, StackError> {
        let Node(root) = serde_saphyr::from_str::<Node>(text)
            .map_err(|e| StackError::new(format!("{} is not a valid template: {e}", path.display())))?;
        if !root.get("Resources").is_some_and(Value::is_object) {
            return err(format!("{} has no Resources: is it a SAM template?", path.display()));
        }
        let mut t = Template {
            path: path.to_path_buf(),
            root,
            stack_name: stack_name.to_string(),
            parameters: BTreeMap::new(),
            conditions: BTreeMap::new(),
            target_version: target_version.to_string(),
            resolving: std::sync::Mutex::new(Vec::new()),
            depth: std::sync::atomic::AtomicUsize::new(0),
            application: application.map(str::to_string),
            nested: std::sync::Mutex::new(BTreeMap::new()),
        };
        t.decide_parameters(overrides)?;
        t.decide_conditions()?;
        Ok(t)
    }

    fn decide_parameters(&mut self, overrides: &[(String, String)]) -> Result<(), StackError> {
        let declared = self
            .root
            .get("Parameters")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for (name, _) in overrides {
            if !declared.contains_key(name) {
                let known: Vec<&String> = declared.keys().collect();
                let given = match &self.application {
                    Some(app) => format!("Resources.{app}.Properties.Parameters.{name} (of its parent)"),
                    None => format!("--parameter {name}"),
                };
                return err(format!(
                    "{given}: the template declares no such parameter (it has: {})",
                    join(&known)
                ));
            }
        }
        for (name, decl) in &declared {
            let value = match overrides.iter().rev().find(|(k, _)| k == name) {
                Some((_, v)) => Value::String(v.clone()),
                None => match decl.get("Default") {
                    Some(Value::String(s)) => Value::String(s.clone()),
                    Some(Value::Number(n)) => Value::String(n.to_string()),
                    Some(other) => other.clone(),
                    None => {
                        return err(match &self.application {
                            Some(app) => format!(
                                "parameter {name} has no default: give it under Resources.{app}.Properties.Parameters \
                                 of the parent template"
                            ),
                            None => format!("parameter {name} has no default: pass --parameter {name}=VALUE"),
                        });
                    }
                },
            };
            check_parameter(name, decl, &scalar_text(&value)).map_err(|e| match &self.application {
                Some(app) => StackError::new(format!(
                    "{} (given by Resources.{app}.Properties.Parameters of its parent)",
                    e.message
                )),
                None => e,
            })?;
            self.parameters.insert(name.clone(), value);
        }
        Ok(())
    }

    /// Decides every condition once, after the conditions it names: in an order found without
    /// recursion (a chain of conditions can be long), linear in the template's size. A cycle
    /// between conditions, or a name not declared, is refused.
    fn decide_conditions(&mut self) -> Result<(), StackError> {
        let declared = self
            .root
            .get("Conditions")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let deps: BTreeMap<&str, Vec<&str>> = declared
            .iter()
            .map(|(name, expr)| {
                let mut names = Vec::new();
                named_conditions(expr, &mut names);
                (name.as_str(), names)
            })
            .collect();
        // Depth-first with an explicit stack: 1 = on the stack, 2 = ordered.
        let mut state: BTreeMap<&str, u8> = BTreeMap::new();
        let mut order: Vec<&str> = Vec::with_capacity(declared.len());
        for root in deps.keys() {
            if state.contains_key(root) {
                continue;
            }
            state.insert(root, 1);
            let mut stack: Vec<(&str, usize)> = vec![(root, 0)];
            while let Some((name, next)) = stack.last_mut() {
                let name: &str = name;
                let Some(&dep) = deps[name].get(*next) else {
                    state.insert(name, 2);
                    order.push(name);
                    stack.pop();
                    continue;
                };
                *next += 1;
                if !deps.contains_key(dep) {
                    return err(format!(
                        "Conditions.{name}: condition {dep} is not declared (under Conditions)"
                    ));
                }
                match state.get(dep) {
                    Some(2) => {}
                    Some(_) => {
                        let at = stack.iter().position(|(n, _)| *n == dep).unwrap_or(0);
                        let mut cycle: Vec<&str> = stack[at..].iter().map(|(n, _)| *n).collect();
                        cycle.push(dep);
                        return err(format!(
                            "Conditions.{dep}: the conditions refer to each other in a cycle ({}): one of them \
                             must not depend on the others",
                            cycle.join(" → ")
                        ));
                    }
                    None => {
                        state.insert(dep, 1);
                        stack.push((dep, 0));
                    }
                }
            }
        }
        let mut decided = BTreeMap::new();
        for name in order {
            let v = self
                .condition_in(&declared[name], &mut |n| {
                    decided
                        .get(n)
                        .copied()
                        .ok_or_else(|| StackError::new(format!("condition {n} is not declared (under Conditions)")))
                })
                .map_err(|e| StackError::new(format!("condition {name}: {e}")))?;
            decided.insert(name.to_string(), v);
        }
        self.conditions = decided;
        Ok(())
    }

    fn condition(&self, expr: &Value) -> Result<bool, StackError> {
        self.condition_in(expr, &mut |name| {
            self.conditions
                .get(name)
                .copied()
                .ok_or_else(|| StackError::new(format!("condition {name} is not decided (or not declared)")))
        })
    }

    /// Evaluates a condition expression, reading named conditions with `named`.
    fn condition_in(
        &self,
        expr: &Value,
        named: &mut dyn FnMut(&str) -> Result<bool, StackError>,
    ) -> Result<bool, StackError> {
        if let Some(name) = expr.get("Condition").and_then(Value::as_str) {
            return named(name);
        }
        if let Some(args) = expr.get("Fn::Equals").and_then(Value::as_array)
            && args.len() == 2
        {
            return Ok(scalar_text(&self.eval(&args[0])?) == scalar_text(&self.eval(&args[1])?));
        }
        if let Some(args) = expr.get("Fn::Not").and_then(Value::as_array)
            && args.len() == 1
        {
            return Ok(!self.condition_in(&args[0], named)?);
        }
        if let Some(args) = expr.get("Fn::And").and_then(Value::as_array) {
            let mut all = true;
            for a in args {
                all &= self.condition_in(a, named)?;
            }
            return Ok(all);
        }
        if let Some(args) = expr.get("Fn::Or").and_then(Value::as_array) {
            let mut any = false;
            for a in args {
                any |= self.condition_in(a, named)?;
            }
            return Ok(any);
        }
        err(format!("not a condition: {expr}"))
    }

    /// The resource `id`.
    pub fn resource(&self, id: &str) -> Option<&Value> {
        self.root
            .pointer(&format!("/Resources/{}", id.replace('~', "~0").replace('/', "~1")))
    }

    /// Every resource id with its type, in template order.
    pub fn resources(&self) -> Vec<(String, String)> {
        self.root["Resources"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.get("Type").and_then(Value::as_str).unwrap_or("").to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether the resource is made: it names no `Condition`, or one that holds.
    pub fn condition_holds(&self, id: &str) -> Result<bool, StackError> {
        match self
            .resource(id)
            .and_then(|r| r.get("Condition"))
            .and_then(Value::as_str)
        {
            None => Ok(true),
            Some(name) => self.conditions.get(name).copied().ok_or_else(|| {
                StackError::new(format!(
                    "Resources.{id}: Condition {name} is not declared (under Conditions)"
                ))
            }),
        }
    }

    /// The resource's type.
    pub fn resource_type(&self, id: &str) -> Option<&str> {
        self.resource(id)?.get("Type")?.as_str()
    }

    /// A function's property, with SAM's `Globals.Function` as the default.
    pub fn function_property(&self, id: &str, name: &str) -> Option<Value> {
        let own = self.resource(id)?.pointer(&format!("/Properties/{name}")).cloned();
        let global = self.root.pointer(&format!("/Globals/Function/{name}")).cloned();
        match (own, global) {
            (Some(own), Some(global)) => Some(merge_global(own, global)),
            (Some(own), None) => Some(own),
            (None, global) => global,
        }
    }

    /// Chooses the branch of `Fn::If`s (keeping intrinsics elsewhere as they are).
    pub fn pick<'v>(&self, v: &'v Value) -> Result<&'v Value, StackError> {
        if let Some(args) = v.get("Fn::If").and_then(Value::as_array)
            && args.len() == 3
        {
            let name = args[0].as_str().unwrap_or_default();
            let holds = self
                .conditions
                .get(name)
                .ok_or_else(|| StackError::new(format!("Fn::If names condition {name:?}, which is not declared")))?;
            return self.pick(&args[if *holds { 1 } else { 2 }]);
        }
        Ok(v)
    }

    /// The resource a value names with `Ref` (after choosing `Fn::If` branches).
    pub fn referenced<'v>(&self, v: &'v Value) -> Result<Option<&'v str>, StackError> {
        let v = self.pick(v)?;
        Ok(v.get("Ref")
            .and_then(Value::as_str)
            .filter(|id| self.resource(id).is_some()))
    }

    /// The name a value imports with `Fn::ImportValue`, when it does.
    pub fn imported(&self, v: &Value) -> Result<Option<String>, StackError> {
        let v = self.pick(v)?;
        match v.get("Fn::ImportValue") {
            Some(name) => Ok(Some(scalar_text(&self.eval(name)?))),
            None => Ok(None),
        }
    }

    /// The resource an export of this stack names (`Outputs.X.Export.Name`, with a value that is
    /// `Ref` or `Fn::GetAtt` of a resource), and every export name, for errors.
    pub fn export(&self, name: &str) -> Result<(Option<String>, Vec<String>), StackError> {
        let mut names = Vec::new();
        let mut found = None;
        for (_, output) in self.root["Outputs"].as_object().into_iter().flatten() {
            let Some(export) = output.pointer("/Export/Name") else {
                continue;
            };
            let export = scalar_text(&self.eval(export)?);
            if export == name {
                found = self.output_resource(output)?;
            }
            names.push(export);
        }
        Ok((found, names))
    }

    /// The resource output `name` of this stack names (its value `Ref` or `Fn::GetAtt` of a
    /// resource), and every output name, for errors.
    pub fn output(&self, name: &str) -> Result<(Option<String>, Vec<String>), StackError> {
        let outputs = self.root["Outputs"].as_object();
        let names = outputs.into_iter().flatten().map(|(k, _)| k.clone()).collect();
        let found = match outputs.and_then(|o| o.get(name)) {
            Some(output) => self.output_resource(output)?,
            None => None,
        };
        Ok((found, names))
    }

    fn output_resource(&self, output: &Value) -> Result<Option<String>, StackError> {
        let value = output.get("Value").cloned().unwrap_or_default();
        let value = self.pick(&value)?;
        Ok(value
            .get("Ref")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| get_att_literal(value).map(|(id, _)| id))
            .filter(|id| self.resource(id).is_some()))
    }

    /// The output a value reads with `Fn::GetAtt` of a nested stack (`App.Outputs.Name`):
    /// the application's logical id and the output's name.
    ///
    /// The value may also be an expression whose value is exactly that output, as CDK writes a
    /// function it knows by name (`Fn::Select` 6 of `Fn::Split ":"` of the ARN it builds
    /// around the name): the one nested output the expression reads is replaced by a marker,
    /// and the expression is the output when it evaluates to the marker.
    pub fn nested_output(&self, v: &Value) -> Result<Option<(String, String)>, StackError> {
        let v = self.pick(v)?;
        if let Some(found) = get_att_literal(v).and_then(|(id, attribute)| self.output_of_nested(id, &attribute)) {
            return Ok(Some(found));
        }
        let mut read = Vec::new();
        self.nested_outputs_in(v, &mut read);
        read.sort();
        read.dedup();
        let [(app, output)] = read.as_slice() else {
            return Ok(None);
        };
        const MARKER: &str = "\u{1}nested-output\u{1}";
        let mut marked = v.clone();
        self.mark_nested_output(&mut marked, app, output, MARKER);
        Ok((self.eval(&marked)? == Value::String(MARKER.to_string())).then(|| (app.clone(), output.clone())))
    }

    /// `(application, output)` when `Fn::GetAtt id.attribute` reads an output of a nested stack.
    fn output_of_nested(&self, id: String, attribute: &str) -> Option<(String, String)> {
        let nested = matches!(
            self.resource_type(&id),
            Some("AWS::Serverless::Application" | "AWS::CloudFormation::Stack")
        );
        let output = attribute.strip_prefix("Outputs.").filter(|_| nested)?;
        Some((id, output.to_string()))
    }

    /// Every nested stack's output `v` reads, in order.
    fn nested_outputs_in(&self, v: &Value, out: &mut Vec<(String, String)>) {
        if let Some(found) = get_att_literal(v).and_then(|(id, attribute)| self.output_of_nested(id, &attribute)) {
            out.push(found);
            return;
        }
        match v {
            Value::Object(m) => m.values().for_each(|v| self.nested_outputs_in(v, out)),
            Value::Array(items) => items.iter().for_each(|v| self.nested_outputs_in(v, out)),
            _ => {}
        }
    }

    /// `v` with every `Fn::GetAtt app.Outputs.output` in it replaced by `marker`.
    fn mark_nested_output(&self, v: &mut Value, app: &str, output: &str, marker: &str) {
        let here = get_att_literal(v)
            .and_then(|(id, attribute)| self.output_of_nested(id, &attribute))
            .is_some_and(|(a, o)| a == app && o == output);
        if here {
            *v = Value::String(marker.to_string());
            return;
        }
        match v {
            Value::Object(m) => m
                .values_mut()
                .for_each(|v| self.mark_nested_output(v, app, output, marker)),
            Value::Array(items) => items
                .iter_mut()
                .for_each(|v| self.mark_nested_output(v, app, output, marker)),
            _ => {}
        }
    }

    /// The nested applications of the template (`AWS::Serverless::Application` with a local
    /// `Location`), each loaded with the parameters the template gives it, as stack
    /// `STACK-LogicalId`. An application from the Serverless Application Repository, or at a
    /// URL, is refused: only its template can be simulated, so the error says to point at it.
    pub fn nested_applications(&self) -> Result<Vec<Template>, StackError> {
        let mut out = Vec::new();
        for (id, kind) in self.resources() {
            if kind == "AWS::Serverless::Application" && self.condition_holds(&id)? {
                out.push(self.nested_application(&id)?);
            }
        }
        Ok(out)
    }

    /// Nested application `id`'s template, loaded with the parameters this template gives it.
    fn nested_application(&self, id: &str) -> Result<Template, StackError> {
        if self.application.is_some() {
            return err(format!(
                "Resources.{id}: {} is itself nested; simulate reads one level of nested applications",
                self.path.display()
            ));
        }
        let props = self
            .resource(id)
            .and_then(|r| r.get("Properties"))
            .cloned()
            .unwrap_or_default();
        let location = self.eval(props.get("Location").unwrap_or(&Value::Null))?;
        let Some(location) = location.as_str().filter(|l| !l.contains("://")) else {
            return err(format!(
                "Resources.{id}: simulate reads a nested application from a local template \
                 (Location: path/to/template.yaml), not {location}: point Location at the \
                 application's template to rehearse it"
            ));
        };
        let path = self.path.parent().unwrap_or(Path::new("")).join(location);
        let mut parameters = Vec::new();
        for (name, value) in props.get("Parameters").and_then(Value::as_object).into_iter().flatten() {
            parameters.push((name.clone(), scalar_text(&self.eval(value)?)));
        }
        let stack = format!("{}-{id}", self.stack_name);
        read_template_file(&path)
            .and_then(|text| Template::parse_as(&text, &path, (&parameters, Some(id)), &stack, &self.target_version))
            .map_err(|e| StackError::new(format!("Resources.{id} (Location {location}): {}", e.message)))
    }

    /// Nested application `id`'s template, read once however many times it is asked for.
    fn nested_once(&self, id: &str) -> Result<std::sync::Arc<Template>, StackError> {
        if let Some(t) = self.nested.lock().expect("poisoned").get(id) {
            return Ok(t.clone());
        }
        let t = std::sync::Arc::new(self.nested_application(id)?);
        self.nested.lock().expect("poisoned").insert(id.to_string(), t.clone());
        Ok(t)
    }

    /// The value of output `name` of nested application `id`, as its template computes it.
    fn nested_output_value(&self, id: &str, name: &str) -> Result<Value, StackError> {
        let nested = self.nested_once(id)?;
        let Some(output) = nested.root["Outputs"].get(name) else {
            let names: Vec<_> = nested.root["Outputs"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, _)| k.as_str())
                .collect();
            return err(format!(
                "Fn::GetAtt {id}.Outputs.{name}: {} has no output {name} (its outputs: {})",
                nested.path.display(),
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            ));
        };
        nested.eval(output.get("Value").unwrap_or(&Value::Null))
    }

    /// The physical name of a resource, as `Ref` gives it.
    pub fn physical_name(&self, id: &str) -> Result<String, StackError> {
        {
            let mut resolving = self.resolving.lock().expect("resolving poisoned");
            if let Some(at) = resolving.iter().position(|r| r == id) {
                let mut cycle = resolving[at..].to_vec();
                cycle.push(id.to_string());
                resolving.clear();
                return err(format!(
                    "Resources.{}: its name refers back to itself through {} (Ref, Fn::GetAtt or Fn::Sub): \
                     CloudFormation refuses such a circular dependency; name one of them without the others",
                    cycle[0],
                    cycle.join(" → ")
                ));
            }
            resolving.push(id.to_string());
        }
        let name = self.physical_name_of(id);
        let mut resolving = self.resolving.lock().expect("resolving poisoned");
        if let Some(at) = resolving.iter().rposition(|r| r == id) {
            resolving.truncate(at);
        }
        name
    }

    fn physical_name_of(&self, id: &str) -> Result<String, StackError> {
        let property = match self.resource_type(id) {
            Some("AWS::Serverless::Function" | "AWS::Lambda::Function") => "FunctionName",
            Some("AWS::CloudWatch::Alarm") => "AlarmName",
            Some("AWS::CodeDeploy::DeploymentConfig") => "DeploymentConfigName",
            Some("AWS::CodeDeploy::Application") => "ApplicationName",
            Some("AWS::CodeDeploy::DeploymentGroup") => "DeploymentGroupName",
            Some("AWS::IAM::Role") => "RoleName",
            Some("AWS::IAM::ManagedPolicy") => "ManagedPolicyName",
            Some("AWS::SNS::Topic") => "TopicName",
            _ => return Ok(id.to_string()),
        };
        match self
            .resource(id)
            .and_then(|r| r.pointer(&format!("/Properties/{property}")))
        {
            Some(v) => Ok(scalar_text(&self.eval(v)?)),
            None => Ok(format!("{}-{id}", self.stack_name)),
        }
    }

    fn pseudo(&self, name: &str) -> Option<Value> {
        Some(Value::String(match name {
            "AWS::StackName" => self.stack_name.clone(),
            "AWS::Region" => REGION.to_string(),
            "AWS::AccountId" => ACCOUNT_ID.to_string(),
            "AWS::Partition" => "aws".to_string(),
            "AWS::URLSuffix" => "amazonaws.com".to_string(),
            "AWS::StackId" => format!(
                "arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:stack/{}/00000000-0000-0000-0000-000000000000",
                self.stack_name
            ),
            "AWS::NoValue" => return Some(Value::Null),
            _ => return None,
        }))
    }

    fn reference(&self, name: &str) -> Result<Value, StackError> {
        if let Some(v) = self.pseudo(name).or_else(|| self.parameters.get(name).cloned()) {
            return Ok(v);
        }
        if self.resource(name).is_some() {
            let physical = self.physical_name(name)?;
            // A managed policy's Ref is its ARN.
            match self.resource_type(name) {
                Some("AWS::IAM::ManagedPolicy") => {
                    return Ok(Value::String(format!("arn:aws:iam::{ACCOUNT_ID}:policy/{physical}")));
                }
                // A topic's Ref is its ARN.
                Some("AWS::SNS::Topic") => {
                    return Ok(Value::String(format!("arn:aws:sns:{REGION}:{ACCOUNT_ID}:{physical}")));
                }
                _ => {}
            }
            return Ok(Value::String(physical));
        }
        // What SAM adds for a function deployed gradually: the CodeDeploy application and
        // role of the stack, and each function's role.
        if let Some(implicit) = self.sam_implicit(name) {
            return Ok(Value::String(implicit));
        }
        // SAM's generated resources: `F.Alias` and `F.Version`.
        if let Some((function, kind)) = name.split_once('.')
            && self.resource(function).is_some()
        {
            let fname = self.physical_name(function)?;
            let arn = function_arn(&fname);
            match kind {
                "Alias" => {
                    if let Some(alias) = self.function_property(function, "AutoPublishAlias") {
                        return Ok(Value::String(format!("{arn}:{}", scalar_text(&self.eval(&alias)?))));
                    }
                }
                "Version" => return Ok(Value::String(format!("{arn}:{}", self.target_version))),
                _ => {}
            }
        }
        err(format!("Ref {name}: no such parameter or resource"))
    }

    /// The physical name of a resource SAM adds to the template: `ServerlessDeploymentApplication`
    /// and `CodeDeployServiceRole` (a function has a DeploymentPreference), `{Function}Role` (a
    /// SAM function without a `Role`). CloudFormation names them after the stack.
    fn sam_implicit(&self, name: &str) -> Option<String> {
        let sam_functions = || {
            self.resources()
                .into_iter()
                .filter(|(_, ty)| ty == "AWS::Serverless::Function")
                .map(|(id, _)| id)
        };
        let deployed = || sam_functions().any(|id| self.function_property(&id, "DeploymentPreference").is_some());
        match name {
            "ServerlessDeploymentApplication" | "CodeDeployServiceRole" if deployed() => {
                Some(format!("{}-{name}", self.stack_name))
            }
            _ => {
                let function = name.strip_suffix("Role")?;
                (self.resource_type(function) == Some("AWS::Serverless::Function")
                    && self.function_property(function, "Role").is_none())
                .then(|| format!("{}-{name}", self.stack_name))
            }
        }
    }

    /// The ARN of the role `id` (an `AWS::IAM::Role` of the template, or one SAM adds).
    pub fn role_arn(&self, id: &str) -> Result<String, StackError> {
        let name = match self.resource_type(id) {
            Some(_) => self.physical_name(id)?,
            None => self
                .sam_implicit(id)
                .ok_or_else(|| StackError::new(format!("no role {id} in the template")))?,
        };
        Ok(format!("arn:aws:iam::{ACCOUNT_ID}:role/{name}"))
    }

    fn get_att(&self, resource: &str, attribute: &str) -> Result<Value, StackError> {
        let typ = self.resource_type(resource);
        if attribute == "Arn"
            && (typ == Some("AWS::IAM::Role") || (typ.is_none() && resource.ends_with("Role")))
            && (typ.is_some() || self.sam_implicit(resource).is_some())
        {
            return self.role_arn(resource).map(Value::String);
        }
        match (typ, attribute) {
            (Some("AWS::Serverless::Function" | "AWS::Lambda::Function"), "Arn") => {
                Ok(Value::String(function_arn(&self.physical_name(resource)?)))
            }
            // The version being deployed: SAM's published version, or plain CloudFormation's
            // AWS::Lambda::Version (what `sls package` and `cdk synth` emit).
            (Some("AWS::Serverless::Function"), "Version.Version") | (Some("AWS::Lambda::Version"), "Version") => {
                Ok(Value::String(self.target_version.clone()))
            }
            (Some("AWS::CloudWatch::Alarm"), "Arn") => Ok(Value::String(format!(
                "arn:aws:cloudwatch:{REGION}:{ACCOUNT_ID}:alarm:{}",
                self.physical_name(resource)?
            ))),
            (Some("AWS::Serverless::Application"), _) if attribute.starts_with("Outputs.") => {
                self.nested_output_value(resource, &attribute["Outputs.".len()..])
            }
            (None, _) => err(format!("Fn::GetAtt {resource}.{attribute}: no resource {resource}")),
            (Some(t), _) => err(format!(
                "Fn::GetAtt {resource}.{attribute} ({t}) has no value outside AWS: simulate cannot use it here"
            )),
        }
    }

    /// Evaluates intrinsic functions in `v`.
    pub fn eval(&self, v: &Value) -> Result<Value, StackError> {
        use std::sync::atomic::Ordering;
        if self.depth.fetch_add(1, Ordering::Relaxed) >= MAX_DEPTH {
            self.depth.fetch_sub(1, Ordering::Relaxed);
            let what = v
                .as_object()
                .and_then(|o| o.keys().next())
                .map_or("a list", String::as_str);
            return err(format!(
                "intrinsic functions nest more than {MAX_DEPTH} deep (at {what}): simulate does not follow them further"
            ));
        }
        let out = self.eval_at(v);
        self.depth.fetch_sub(1, Ordering::Relaxed);
        out
    }

    fn eval_at(&self, v: &Value) -> Result<Value, StackError> {
        let Some(obj) = v.as_object() else {
            return match v {
                Value::Array(items) => items
                    .iter()
                    .map(|i| self.eval(i))
                    .collect::<Result<_, _>>()
                    .map(Value::Array),
                other => Ok(other.clone()),
            };
        };
        if obj.len() == 1 {
            let (key, arg) = obj.iter().next().expect("one entry");
            match key.as_str() {
                "Ref" => return self.reference(arg.as_str().unwrap_or_default()),
                "Fn::GetAtt" => {
                    let parts: Vec<String> = match arg {
                        Value::Array(a) => a
                            .iter()
                            .map(|p| self.eval(p).map(|v| scalar_text(&v)))
                            .collect::<Result<_, _>>()?,
                        Value::String(s) => s.splitn(2, '.').map(str::to_string).collect(),
                        _ => Vec::new(),
                    };
                    let [resource, attribute] = parts.as_slice() else {
                        return err(format!("Fn::GetAtt {arg}: expected [RESOURCE, ATTRIBUTE]"));
                    };
                    return self.get_att(resource, attribute);
                }
                "Fn::Sub" => return self.sub(arg),
                "Fn::If" => {
                    let picked = self.pick(v)?;
                    return self.eval(picked);
                }
                "Fn::Join" => {
                    if let Some([sep, Value::Array(items)]) = arg.as_array().map(Vec::as_slice) {
                        let sep = sep.as_str().unwrap_or_default();
                        let mut out = String::new();
                        for (i, item) in items.iter().enumerate() {
                            let text = scalar_text(&self.eval(item)?);
                            bounded("Fn::Join", out.len() + sep.len() + text.len())?;
                            if i > 0 {
                                out.push_str(sep);
                            }
                            out.push_str(&text);
                        }
                        return Ok(Value::String(out));
                    }
                    return err(format!("Fn::Join {arg}: expected [SEPARATOR, [VALUES]]"));
                }
                "Fn::Select" => {
                    if let Some([index, list]) = arg.as_array().map(Vec::as_slice) {
                        let index: usize = scalar_text(&self.eval(index)?).parse().unwrap_or(usize::MAX);
                        let list = self.eval(list)?;
                        if let Some(item) = list.as_array().and_then(|l| l.get(index)) {
                            return Ok(item.clone());
                        }
                    }
                    return err(format!("Fn::Select {arg}: index out of range or not [INDEX, LIST]"));
                }
                "Fn::Split" => {
                    if let Some([Value::String(sep), source]) = arg.as_array().map(Vec::as_slice)
                        && !sep.is_empty()
                    {
                        let source = scalar_text(&self.eval(source)?);
                        bounded("Fn::Split's source", source.len())?;
                        if source.matches(sep.as_str()).count() >= MAX_SPLIT_ITEMS {
                            return err(format!(
                                "Fn::Split makes more than {MAX_SPLIT_ITEMS} items: hook-sim does not build them"
                            ));
                        }
                        return Ok(Value::Array(source.split(sep.as_str()).map(|p| json!(p)).collect()));
                    }
                    return err(format!("Fn::Split {arg}: expected [DELIMITER, SOURCE]"));
                }
                "Fn::Equals" | "Fn::Not" | "Fn::And" | "Fn::Or" | "Condition" => {
                    return self.condition(v).map(Value::Bool);
                }
                k if k.starts_with("Fn::") => {
                    return err(format!("{k} is not supported by simulate (used in {v})"));
                }
                _ => {}
            }
        }
        obj.iter()
            .map(|(k, v)| Ok((k.clone(), self.eval(v)?)))
            .collect::<Result<Map<_, _>, _>>()
            .map(Value::Object)
    }

    fn sub(&self, arg: &Value) -> Result<Value, StackError> {
        let (text, vars) = match arg {
            Value::String(s) => (s.as_str(), Map::new()),
            Value::Array(a) if a.len() == 2 => (
                a[0].as_str().unwrap_or_default(),
                a[1].as_object().cloned().unwrap_or_default(),
            ),
            _ => return err(format!("Fn::Sub {arg}: expected a string or [STRING, {{VARIABLES}}]")),
        };
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| StackError::new(format!("Fn::Sub {text:?}: unclosed ${{")))?;
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(v) = vars.get(name) {
                out.push_str(&scalar_text(&self.eval(v)?));
            } else if let Some((resource, attribute)) = name.split_once('.')
                && self.resource(resource).is_some()
            {
                out.push_str(&scalar_text(&self.get_att(resource, attribute)?));
            } else {
                out.push_str(&scalar_text(&self.reference(name)?));
            }
            bounded("Fn::Sub", out.len())?;
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        bounded("Fn::Sub", out.len())?;
        Ok(Value::String(out))
    }
}

/// The resource and attribute of a literal `Fn::GetAtt` (`[R, A]` or `"R.A"`), as outputs and
/// hooks name them; [`Template::eval`] reads the forms with intrinsics inside.
fn get_att_literal(v: &Value) -> Option<(String, String)> {
    match v.get("Fn::GetAtt")? {
        Value::Array(a) if a.len() == 2 => Some((scalar_text(&a[0]), scalar_text(&a[1]))),
        Value::String(s) => s.split_once('.').map(|(r, a)| (r.to_string(), a.to_string())),
        _ => None,
    }
}

/// `value` obeys parameter `name`'s constraints, as CloudFormation checks them before it
/// creates anything: `AllowedValues`, `AllowedPattern` (the whole value), `MinLength` /
/// `MaxLength` of a `String`, `MinValue` / `MaxValue` of a `Number`.
fn check_parameter(name: &str, decl: &Value, value: &str) -> Result<(), StackError> {
    if let Some(allowed) = decl.get("AllowedValues").and_then(Value::as_array) {
        let allowed: Vec<String> = allowed.iter().map(scalar_text).collect();
        if !allowed.iter().any(|a| a == value) {
            return err(format!(
                "parameter {name}={value}: not one of its AllowedValues ({})",
                allowed.join(", ")
            ));
        }
    }
    let string = matches!(decl.get("Type").map(scalar_text).as_deref(), None | Some("String"));
    if let Some(pattern) = decl.get("AllowedPattern").map(scalar_text).filter(|_| string) {
        let whole = regex_automata::meta::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| {
            StackError::new(format!(
                "parameter {name}: simulate cannot read its AllowedPattern {pattern:?} ({e}), so it cannot tell \
                 whether CloudFormation would take {value:?}; write the pattern without Java-only syntax"
            ))
        })?;
        if !whole.is_match(value) {
            return err(format!(
                "parameter {name}={value}: does not match its AllowedPattern {pattern}"
            ));
        }
    }
    let number = |key: &str| decl.get(key).and_then(|v| scalar_text(v).parse::<f64>().ok());
    let length = value.chars().count() as f64;
    for (key, below) in [("MinLength", true), ("MaxLength", false)] {
        if let Some(bound) = number(key).filter(|_| string)
            && (if below { length < bound } else { length > bound })
        {
            return err(format!("parameter {name}: {length} characters, its {key} is {bound}"));
        }
    }
    if decl.get("Type").map(scalar_text).as_deref() == Some("Number") {
        // CloudFormation takes an integer or a float, never NaN or infinity.
        let n: f64 = value
            .trim()
            .parse()
            .ok()
            .filter(|n: &f64| n.is_finite())
            .ok_or_else(|| {
                StackError::new(format!(
                    "parameter {name}={value}: not a number, and its Type is Number"
                ))
            })?;
        for (key, below) in [("MinValue", true), ("MaxValue", false)] {
            if let Some(bound) = number(key)
                && (if below { n < bound } else { n > bound })
            {
                return err(format!("parameter {name}={value}: its {key} is {bound}"));
            }
        }
    }
    Ok(())
}

/// The conditions an expression names with `Condition`.
fn named_conditions<'v>(expr: &'v Value, out: &mut Vec<&'v str>) {
    match expr {
        Value::Object(m) => {
            if let (1, Some(Value::String(name))) = (m.len(), m.get("Condition")) {
                out.push(name);
                return;
            }
            m.values().for_each(|v| named_conditions(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| named_conditions(v, out)),
        _ => {}
    }
}

/// SAM's rule for `Globals`: maps merge, key by key and all the way down (a function's
/// `Environment.Variables` adds to the global ones); anything else of the function's own
/// replaces the global value. An intrinsic function is a value, not a map to merge.
fn merge_global(own: Value, global: Value) -> Value {
    let intrinsic = |m: &serde_json::Map<String, Value>| m.keys().any(|k| k == "Ref" || k.starts_with("Fn::"));
    match (own, global) {
        (Value::Object(mut own), Value::Object(global)) if !intrinsic(&own) && !intrinsic(&global) => {
            for (k, g) in global {
                let merged = match own.remove(&k) {
                    Some(o) => merge_global(o, g),
                    None => g,
                };
                own.insert(k, merged);
            }
            Value::Object(own)
        }
        (own, _) => own,
    }
}

/// A Lambda function's ARN in the simulated account.
pub fn function_arn(name: &str) -> String {
    format!("arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}")
}

/// A scalar as text (`"x"` → `x`, `2` → `2`).
pub fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn join(items: &[&String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, overrides: &[(&str, &str)]) -> Result<Template, StackError> {
        let overrides: Vec<(String, String)> = overrides.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Template::parse(text, Path::new("t.yaml"), &overrides, "stack", "2")
    }

    #[test]
    fn globals_merge_maps_all_the_way_down() {
        let t = parse(
            "Globals:\n  Function:\n    Timeout: 5\n    Environment: { Variables: { A: global, B: global } }\n    Tags: !If [C, {x: 1}, {y: 2}]\nConditions:\n  C: !Equals [a, a]\nResources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      Timeout: 9\n      Environment: { Variables: { B: own, C: own } }\n      Tags: { z: 3 }\n",
            &[],
        )
        .unwrap();
        assert_eq!(
            t.function_property("F", "Environment").unwrap(),
            json!({"Variables": {"A": "global", "B": "own", "C": "own"}})
        );
        assert_eq!(t.function_property("F", "Timeout").unwrap(), json!(9));
        // An intrinsic is a value: the function's own replaces it.
        assert_eq!(t.function_property("F", "Tags").unwrap(), json!({"z": 3}));
    }

    const TEMPLATE: &str = r#"
Parameters:
  Kind: { Type: String, Default: a, AllowedValues: [a, b] }
  Size: { Type: Number, Default: 3 }
Conditions:
  IsB: !Equals [!Ref Kind, b]
  NotB: !Not [!Condition IsB]
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      AutoPublishAlias: live
      Environment:
        Variables:
          WHERE: !Sub "${AWS::Region}/${Fn.Arn}/${!Literal}"
          PICK: !If [IsB, bee, !Ref Size]
          JOINED: !Join ["-", [x, !Ref Kind]]
          VERSION: !GetAtt Fn.Version.Version
  Named:
    Type: AWS::Lambda::Function
    Properties: { FunctionName: !Sub "CodeDeployHook_${AWS::StackName}-x" }
"#;

    #[test]
    fn evaluates_short_form_intrinsics() {
        let t = parse(TEMPLATE, &[]).unwrap();
        let env = t
            .eval(&t.resource("Fn").unwrap()["Properties"]["Environment"]["Variables"])
            .unwrap();
        assert_eq!(
            env,
            json!({
                "WHERE": "us-east-1/arn:aws:lambda:us-east-1:123456789012:function:stack-Fn/${Literal}",
                "PICK": "3",
                "JOINED": "x-a",
                "VERSION": "2",
            })
        );
        assert_eq!(t.physical_name("Named").unwrap(), "CodeDeployHook_stack-x");
        assert_eq!(
            t.eval(&json!({"Ref": "Fn.Alias"})).unwrap(),
            json!(format!("{}:live", function_arn("stack-Fn")))
        );
    }

    #[test]
    fn parameters_decide_conditions() {
        let t = parse(TEMPLATE, &[("Kind", "b")]).unwrap();
        assert_eq!(t.eval(&json!({"Fn::If": ["IsB", 1, 2]})).unwrap(), json!(1));
        assert_eq!(t.eval(&json!({"Condition": "NotB"})).unwrap(), json!(false));
    }

    #[test]
    fn bad_parameters_say_what_is_allowed() {
        let e = parse(TEMPLATE, &[("Kind", "c")]).unwrap_err().message().to_string();
        assert!(
            e.contains("parameter Kind=c: not one of its AllowedValues (a, b)"),
            "{e}"
        );
        let e = parse(TEMPLATE, &[("Knd", "a")]).unwrap_err().message().to_string();
        assert!(e.contains("declares no such parameter (it has: Kind, Size)"), "{e}");
    }

    #[test]
    fn reads_json_templates_and_rejects_unknown_tags() {
        let t = parse(
            r#"{"Resources": {"F": {"Type": "AWS::Lambda::Function", "Properties": {"FunctionName": "f"}}}}"#,
            &[],
        )
        .unwrap();
        assert_eq!(t.physical_name("F").unwrap(), "f");
        let e = parse("Resources:\n  F: !Bogus x\n", &[])
            .unwrap_err()
            .message()
            .to_string();
        assert!(e.contains("unknown tag !Bogus"), "{e}");
        let e = parse("Foo: 1\n", &[]).unwrap_err().message().to_string();
        assert!(e.contains("has no Resources"), "{e}");
    }

    #[test]
    fn reference_cycles_are_refused_with_where_they_are() {
        let text = "Resources:\n  A:\n    Type: AWS::Serverless::Function\n    Properties:\n      FunctionName: !Sub '${B}-a'\n  B:\n    Type: AWS::Serverless::Function\n    Properties:\n      FunctionName: !Join ['-', [!GetAtt A.Arn, b]]\n  C:\n    Type: AWS::Serverless::Function\n    Properties:\n      FunctionName: !Ref C\n";
        let t = parse(text, &[]).unwrap();
        let e = t.physical_name("A").unwrap_err().message().to_string();
        assert!(
            e.starts_with("Resources.A: its name refers back to itself through A → B → A"),
            "{e}"
        );
        let e = t.physical_name("C").unwrap_err().message().to_string();
        assert!(e.contains("C → C"), "{e}");
        // The template stays usable after a refused cycle.
        assert!(t.physical_name("C").is_err() && t.physical_name("A").is_err());
    }

    #[test]
    fn conditions_are_decided_once_each_and_cycles_refused() {
        // A chain of 2,000 conditions, each naming the next: decided in linear time.
        let mut text = "Conditions:\n".to_string();
        for i in 0..2000 {
            text.push_str(&format!("  C{i}: !Not [!Condition C{}]\n", i + 1));
        }
        text.push_str("  C2000: !Equals [a, a]\nResources:\n  F:\n    Type: AWS::Serverless::Function\n");
        let t = parse(&text, &[]).unwrap();
        assert_eq!(t.eval(&json!({"Condition": "C0"})).unwrap(), json!(true));
        let cyclic = "Conditions:\n  A: !Not [!Condition B]\n  B: !And [!Condition A, !Equals [x, x]]\nResources:\n  F:\n    Type: AWS::Serverless::Function\n";
        let e = parse(cyclic, &[]).unwrap_err().message().to_string();
        assert!(e.contains("cycle (A → B → A)"), "{e}");
        let e = parse(
            "Conditions:\n  A: !Condition Nope\nResources:\n  F:\n    Type: AWS::Serverless::Function\n",
            &[],
        )
        .unwrap_err()
        .message()
        .to_string();
        assert!(e.contains("Conditions.A: condition Nope is not declared"), "{e}");
    }

    #[test]
    fn nesting_is_bounded() {
        let mut v = json!("x");
        for _ in 0..100 {
            let mut join = Map::new();
            join.insert("Fn::Join".into(), Value::Array(vec![json!(""), Value::Array(vec![v])]));
            v = Value::Object(join);
        }
        let t = parse("Resources:\n  F:\n    Type: AWS::Serverless::Function\n", &[]).unwrap();
        assert!(
            t.eval(&v)
                .unwrap_err()
                .message()
                .to_string()
                .contains("nest more than 64 deep (at Fn::Join)")
        );
    }

    /// A stack built to hurt: a device or a pipe as a template, values that grow without
    /// bound, a nested output asked thousands of times, NaN for a Number.
    #[test]
    fn a_hostile_stack_meets_bounds_with_a_clear_error() {
        let dir = std::env::temp_dir().join(format!("hook-sim-hostile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // Not regular files: never read (a device reads without end, a pipe waits forever).
        let fifo = dir.join("pipe.yaml");
        let _ = std::fs::remove_file(&fifo);
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        for path in [Path::new("/dev/zero"), fifo.as_path(), dir.as_path()] {
            let e = read_template_file(path).unwrap_err().message().to_string();
            assert!(e.contains("not a regular file"), "{e}");
        }
        let big = dir.join("big.yaml");
        std::fs::write(&big, vec![b'#'; MAX_TEMPLATE_BYTES as usize + 1]).unwrap();
        assert!(
            read_template_file(&big)
                .unwrap_err()
                .message()
                .to_string()
                .contains("over the")
        );
        // A nested application at a device.
        let parent = dir.join("parent.yaml");
        std::fs::write(
            &parent,
            "Resources:\n  App:\n    Type: AWS::Serverless::Application\n    Properties: { Location: /dev/zero }\n  F: { Type: AWS::Serverless::Function }\n",
        )
        .unwrap();
        let t = Template::load(&parent, &[], "s", "2").unwrap();
        let e = t
            .eval(&json!({"Fn::GetAtt": ["App", "Outputs.X"]}))
            .unwrap_err()
            .message()
            .to_string();
        assert!(e.contains("not a regular file"), "{e}");
        // A nested output asked for many times: its template is read once.
        std::fs::write(
            dir.join("child.yaml"),
            "Resources:\n  Hook: { Type: AWS::Serverless::Function }\nOutputs:\n  HookName: { Value: !Ref Hook }\n",
        )
        .unwrap();
        std::fs::write(
            &parent,
            "Resources:\n  App:\n    Type: AWS::Serverless::Application\n    Properties: { Location: child.yaml }\n  F: { Type: AWS::Serverless::Function }\n",
        )
        .unwrap();
        let t = Template::load(&parent, &[], "s", "2").unwrap();
        let ask = json!({"Fn::GetAtt": ["App", "Outputs.HookName"]});
        let first = t.eval(&ask).unwrap();
        let read = t.nested.lock().unwrap().get("App").cloned().unwrap();
        for _ in 0..100 {
            assert_eq!(t.eval(&ask).unwrap(), first);
        }
        let again = t.nested.lock().unwrap().get("App").cloned().unwrap();
        assert!(std::sync::Arc::ptr_eq(&read, &again), "read once");
        // Values that grow past any template's size, by Join, Sub or Split.
        let kb = "x".repeat(1024);
        let t = parse(
            &format!("Parameters:\n  P: {{ Type: String, Default: {kb} }}\nResources:\n  F:\n    Type: AWS::Serverless::Function\n"),
            &[],
        )
        .unwrap();
        let copies = Value::Array(vec![json!({"Ref": "P"}); 2000]);
        let e = t
            .eval(&json!({"Fn::Join": ["", copies]}))
            .unwrap_err()
            .message()
            .to_string();
        assert!(e.contains("Fn::Join makes a value of more than"), "{e}");
        let e = t
            .eval(&json!({"Fn::Sub": "${P}".repeat(2000)}))
            .unwrap_err()
            .message()
            .to_string();
        assert!(e.contains("Fn::Sub makes a value of more than"), "{e}");
        let e = t
            .eval(&json!({"Fn::Split": [",", ",".repeat(20_000)]}))
            .unwrap_err()
            .message()
            .to_string();
        assert!(e.contains("more than 10000 items"), "{e}");
        // NaN and infinity are no numbers, whatever the bounds.
        let decl = "Parameters:\n  Size: { Type: Number, Default: 5, MinValue: 1, MaxValue: 10 }\nResources:\n  F:\n    Type: AWS::Serverless::Function\n";
        for bad in ["NaN", "inf", "-infinity"] {
            let e = parse(decl, &[("Size", bad)]).unwrap_err().message().to_string();
            assert!(e.contains("not a number"), "{bad}: {e}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_nested_application_is_told_where_its_parameters_come_from() {
        let dir = std::env::temp_dir().join(format!("hook-sim-nested-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("app.yaml"),
            "Parameters:\n  Spec: { Type: String }\n  Size: { Type: Number, Default: 1, MinValue: 1 }\nResources:\n  Hook: { Type: AWS::Serverless::Function }\nOutputs:\n  HookName: { Value: !Ref Hook }\n",
        )
        .unwrap();
        let parent = |params: &str| {
            let text = format!(
                "Resources:\n  App:\n    Type: AWS::Serverless::Application\n    Properties:\n      Location: app.yaml\n      Parameters: {params}\n"
            );
            Template::parse(&text, &dir.join("parent.yaml"), &[], "s", "2").unwrap()
        };
        let missing = parent("{}").nested_applications().unwrap_err().message().to_string();
        assert!(
            missing.contains("parameter Spec has no default: give it under Resources.App.Properties.Parameters"),
            "{missing}"
        );
        let unknown = parent("{ Spec: x, Spek: y }")
            .nested_applications()
            .unwrap_err()
            .message()
            .to_string();
        assert!(
            unknown.contains("Resources.App.Properties.Parameters.Spek (of its parent)"),
            "{unknown}"
        );
        let bad = parent("{ Spec: x, Size: 0 }")
            .nested_applications()
            .unwrap_err()
            .message()
            .to_string();
        assert!(
            bad.contains(
                "parameter Size=0: its MinValue is 1 (given by Resources.App.Properties.Parameters of its parent)"
            ),
            "{bad}"
        );
        let nested = parent("{ Spec: x }").nested_applications().unwrap();
        assert_eq!(nested[0].application.as_deref(), Some("App"));
        assert_eq!(nested[0].output("HookName").unwrap().0.as_deref(), Some("Hook"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A parameter is held to its constraints as CloudFormation holds it, from `--parameter` or
    /// a parent's `Parameters` alike.
    #[test]
    fn parameters_are_held_to_their_constraints() {
        let decl = "Parameters:\n  Name: { Type: String, Default: ok-name, AllowedPattern: '[a-z-]{1,10}', MinLength: 2 }\n  Size: { Type: Number, Default: 120, MinValue: 10, MaxValue: 900 }\nResources:\n  F:\n    Type: AWS::Serverless::Function\n";
        assert!(parse(decl, &[]).is_ok());
        let refused = |name: &str, value: &str| parse(decl, &[(name, value)]).unwrap_err().message().to_string();
        // The pattern holds for the whole value, not a part of it.
        let e = refused("Name", "ok-name!");
        assert!(
            e.contains("parameter Name=ok-name!: does not match its AllowedPattern [a-z-]{1,10}"),
            "{e}"
        );
        assert!(refused("Name", "waytoolongname").contains("AllowedPattern"));
        assert!(refused("Name", "a").contains("parameter Name: 1 characters, its MinLength is 2"));
        assert!(refused("Size", "9").contains("parameter Size=9: its MinValue is 10"));
        assert!(refused("Size", "901").contains("its MaxValue is 900"));
        assert!(refused("Size", "many").contains("not a number, and its Type is Number"));
        assert!(parse(decl, &[("Size", "10"), ("Name", "ab")]).is_ok());
        // A pattern Rust's regex cannot read is said, not passed over.
        let java = "Parameters:\n  P: { Type: String, Default: x, AllowedPattern: '(?<=a)x' }\nResources:\n  F:\n    Type: AWS::Serverless::Function\n";
        assert!(
            parse(java, &[])
                .unwrap_err()
                .message()
                .to_string()
                .contains("cannot read its AllowedPattern")
        );
    }

    /// CDK names a function it knows by name through the ARN it builds around the name; the
    /// expression is the nested output when it evaluates to exactly that output, and its value
    /// is the one the nested template computes.
    #[test]
    fn an_expression_that_is_a_nested_output_is_read_as_it() {
        let dir = std::env::temp_dir().join(format!("hook-sim-nested-cdk-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("app.yaml"),
            "Parameters:\n  Name: { Type: String }\nResources:\n  Hook:\n    Type: AWS::Serverless::Function\n    Properties: { FunctionName: !Sub 'CodeDeployHook_${Name}' }\nOutputs:\n  HookName: { Value: !Ref Hook }\n",
        )
        .unwrap();
        let text = "Resources:\n  App:\n    Type: AWS::Serverless::Application\n    Properties:\n      Location: app.yaml\n      Parameters: { Name: smoke }\n  Other: { Type: AWS::Serverless::Application, Properties: { Location: app.yaml, Parameters: { Name: other } } }\n";
        let t = Template::parse(text, &dir.join("parent.yaml"), &[], "s", "2").unwrap();
        let arn = json!({ "Fn::Join": ["", ["arn:", { "Ref": "AWS::Partition" }, ":lambda:", { "Ref": "AWS::Region" },
            ":", { "Ref": "AWS::AccountId" }, ":function:", { "Fn::GetAtt": ["App", "Outputs.HookName"] }]] });
        let name = json!({ "Fn::Select": [6, { "Fn::Split": [":", arn] }] });
        let found = Some(("App".to_string(), "HookName".to_string()));
        assert_eq!(t.nested_output(&name).unwrap(), found);
        assert_eq!(t.eval(&name).unwrap(), json!("CodeDeployHook_smoke"));
        // The literal form; and not the output: the ARN itself, a part of the name, two outputs.
        assert_eq!(
            t.nested_output(&json!({ "Fn::GetAtt": "App.Outputs.HookName" }))
                .unwrap(),
            found
        );
        assert_eq!(t.nested_output(&arn).unwrap(), None);
        let region = json!({ "Fn::Select": [3, { "Fn::Split": [":", arn] }] });
        assert_eq!(t.nested_output(&region).unwrap(), None);
        let two = json!({ "Fn::Join": ["", [{ "Fn::GetAtt": ["App", "Outputs.HookName"] }, { "Fn::GetAtt": ["Other", "Outputs.HookName"] }]] });
        assert_eq!(t.nested_output(&two).unwrap(), None);
        let missing = t
            .eval(&json!({ "Fn::GetAtt": ["App", "Outputs.Nope"] }))
            .unwrap_err()
            .message()
            .to_string();
        assert!(
            missing.contains("has no output Nope (its outputs: HookName)"),
            "{missing}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn split_divides_a_string_and_refuses_an_empty_delimiter() {
        let t = parse("Resources:\n  F:\n    Type: AWS::Serverless::Function\n", &[]).unwrap();
        assert_eq!(
            t.eval(&json!({ "Fn::Split": ["|", "a|b||c"] })).unwrap(),
            json!(["a", "b", "", "c"])
        );
        assert!(
            t.eval(&json!({ "Fn::Split": ["", "abc"] }))
                .unwrap_err()
                .message()
                .to_string()
                .contains("expected [DELIMITER, SOURCE]")
        );
    }
}
