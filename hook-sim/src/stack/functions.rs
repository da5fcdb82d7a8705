//! How each function of the template runs here: its binary (a workspace build, a CDK asset, a
//! Python or Node handler), environment, limits and folder.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{StackError, Template, scalar_text};
use serde_json::{Value, json};

use crate::iam::Identity;

use super::roles;
use super::setup::ReadOptions;
use super::setup::{API_TYPES, FunctionRun};

/// The API resource a value refers to (`${HelloApi}` in a `!Sub`, or `!Ref HelloApi`).
pub fn api_named_in(t: &Template, v: &Value) -> Option<String> {
    let text = v.to_string();
    t.resources().into_iter().find_map(|(id, ty)| {
        (API_TYPES.contains(&ty.as_str())
            && (text.contains(&format!("${{{id}}}"))
                || text.contains(&format!("${{{id}."))
                || text.contains(&json!({"Ref": id}).to_string())))
        .then_some(id)
    })
}

/// How function `id` of `t` runs here: its binary (or the runtime that runs its handler),
/// environment, limits, code folder, retries and tags. `base` is the template's folder.
pub fn function_run(t: &Template, id: &str, args: &ReadOptions, base: &Path) -> Result<FunctionRun, StackError> {
    let name = t.physical_name(id)?;
    let text_property = |name: &str, default: &str| -> Result<String, StackError> {
        match t.function_property(id, name) {
            Some(v) => Ok(scalar_text(&t.eval(&v)?)),
            None => Ok(default.to_string()),
        }
    };
    let runtime = text_property("Runtime", "provided.al2023")?;
    let handler = text_property("Handler", "bootstrap")?;
    let metadata = t
        .resource(id)
        .and_then(|r| r.get("Metadata"))
        .cloned()
        .unwrap_or_default();
    let (binary, cargo_bin) = binary_of(t, id, args, base, (&runtime, &metadata))?;
    // An interpreter Lambda would run (not a binary the template or the options name) runs the
    // handler through its runtime interface.
    let interpreted =
        cargo_bin.is_none() && !args.bins.iter().any(|(k, _)| k == id) && metadata.get("Simulate").is_none();
    let process_args = if interpreted && runtime.starts_with("python3") {
        vec!["-m".to_string(), "awslambdaric".to_string(), handler.clone()]
    } else if interpreted && runtime.starts_with("nodejs") {
        vec![node_runtime_path().display().to_string(), handler.clone()]
    } else {
        Vec::new()
    };
    let (env, api_vars) = environment(t, id)?;
    let number = |name: &str, default: f64| -> Result<f64, StackError> {
        match t.function_property(id, name) {
            None => Ok(default),
            Some(v) => scalar_text(&t.eval(&v)?)
                .parse()
                .map_err(|_| StackError::new(format!("{name} of {id} is not a number"))),
        }
    };
    let timeout = number("Timeout", 3.0)?;
    if !(1.0..=900.0).contains(&timeout) {
        return Err(StackError::new(format!(
            "Timeout of {id} is {timeout}: Lambda allows 1 to 900 seconds"
        )));
    }
    Ok(FunctionRun {
        logical_id: id.to_string(),
        tags: tags_of(t, id)?,
        // Lambda runs the code in /var/task, the packaged CodeUri: a local folder stands for it.
        task_root: code_folder(t, id, base),
        max_retries: max_retries(t, id)?,
        name,
        binary,
        args: process_args,
        runtime,
        handler,
        cargo_bin,
        env,
        api_vars,
        timeout: Duration::from_secs_f64(timeout),
        memory_mb: number("MemorySize", 128.0)? as u32,
        reserved_concurrency: reserved_concurrency(t, id)?,
    })
}

/// The executable `name` on the `PATH`, if any.
fn on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// What runs function `id`, and the workspace binary it is when cargo builds it: `--bin`,
/// `Metadata.Simulate.Binary`, cargo-lambda's `BuildProperties.Binary`, a custom runtime's
/// `bootstrap` in its code folder, or the Python or Node.js that runs its handler.
fn binary_of(
    t: &Template,
    id: &str,
    args: &ReadOptions,
    base: &Path,
    (runtime, metadata): (&str, &Value),
) -> Result<(PathBuf, Option<String>), StackError> {
    let target_dir = cargo_target_dir(base);
    let by_name = |bin: &str| -> (PathBuf, Option<String>) {
        if bin.contains('/') {
            return (base.join(bin), None);
        }
        let built = target_dir.join("release").join(bin);
        // Not built here, and not to be (no --build): the one installed on the PATH (`pip
        // install hook-runner`), if any.
        if !args.build
            && !built.exists()
            && let Some(installed) = on_path(bin)
        {
            return (installed, None);
        }
        (built, Some(bin.to_string()))
    };
    if let Some((_, path)) = args.bins.iter().rev().find(|(k, _)| k == id) {
        return Ok((PathBuf::from(path), None));
    }
    if let Some(sim) = metadata.get("Simulate") {
        let bin = sim.get("Binary").and_then(Value::as_str).ok_or_else(|| {
            StackError::new(format!(
                "Metadata.Simulate of {id} has no Binary: name the binary that runs it"
            ))
        })?;
        if sim.get("Spec").is_some() {
            return Err(StackError::new(format!(
                "Metadata.Simulate.Spec of {id} is not read: name the spec once, in the function's \
                 Environment (HOOK_SPEC_FILE, relative to CodeUri), where the deployed hook reads it too"
            )));
        }
        return Ok(by_name(bin));
    }
    if let Some(bin) = metadata.pointer("/BuildProperties/Binary").and_then(Value::as_str) {
        return Ok(by_name(bin));
    }
    if let Some(bootstrap) = code_folder(t, id, base)
        .map(|d| d.join("bootstrap"))
        .filter(|b| runtime.starts_with("provided") && b.is_file())
    {
        // A custom runtime's code folder (a CDK asset) holds its `bootstrap`.
        return Ok((bootstrap, None));
    }
    if runtime.starts_with("python3") {
        // Lambda's Python runtime: the handler module is imported from /var/task (CodeUri).
        return Ok((args.python.clone(), None));
    }
    if runtime.starts_with("nodejs") {
        // Lambda's Node.js runtime: hook-sim's Runtime API loop imports the handler from
        // /var/task (CodeUri).
        return Ok((args.node.clone(), None));
    }
    if args.reading_only {
        // `check` runs nothing: the binary does not matter.
        return Ok((PathBuf::new(), None));
    }
    Err(StackError::new(format!(
        "cannot tell which binary runs {id}: give it Metadata.BuildProperties.Binary (cargo-lambda), \
         Metadata.Simulate.Binary, or pass --bin {id}=PATH"
    )))
}

/// The function's environment: each variable's value, and the variables that name an HTTP API
/// of the template (set to its local URL when it is served).
type Environment = (Vec<(String, String)>, Vec<(String, String)>);

fn environment(t: &Template, id: &str) -> Result<Environment, StackError> {
    let (mut env, mut api_vars) = (Vec::new(), Vec::new());
    let Some(vars) = t
        .function_property(id, "Environment")
        .and_then(|e| e.get("Variables").cloned())
    else {
        return Ok((env, api_vars));
    };
    for (k, v) in vars.as_object().into_iter().flatten() {
        if let Some(api) = api_named_in(t, v) {
            api_vars.push((k.clone(), api));
            continue;
        }
        match t.eval(v) {
            Ok(value) => env.push((k.clone(), scalar_text(&value))),
            Err(e) => return Err(StackError::new(format!("environment variable {k} of {id}: {e}"))),
        }
    }
    Ok((env, api_vars))
}

/// How often Lambda retries a failed asynchronous invocation (EventInvokeConfig; default 2).
fn max_retries(t: &Template, id: &str) -> Result<u32, StackError> {
    let Some(v) = t
        .function_property(id, "EventInvokeConfig")
        .and_then(|c| c.get("MaximumRetryAttempts").cloned())
    else {
        return Ok(2);
    };
    match scalar_text(&t.eval(&v)?).parse::<u32>() {
        Ok(n) if n <= 2 => Ok(n),
        _ => Err(StackError::new(format!(
            "EventInvokeConfig.MaximumRetryAttempts of {id} must be 0, 1 or 2"
        ))),
    }
}

/// The function's reserved concurrency, if it has one.
fn reserved_concurrency(t: &Template, id: &str) -> Result<Option<usize>, StackError> {
    let Some(v) = t.function_property(id, "ReservedConcurrentExecutions") else {
        return Ok(None);
    };
    match scalar_text(&t.eval(&v)?).parse::<usize>() {
        Ok(n) if n <= 1000 => Ok(Some(n)),
        _ => Err(StackError::new(format!(
            "ReservedConcurrentExecutions of {id} must be a whole number from 0 to 1000 (the account's default limit)"
        ))),
    }
}

/// The function's tags (a map, or CloudFormation's list of Key/Value), with the one SAM adds.
fn tags_of(t: &Template, id: &str) -> Result<BTreeMap<String, String>, StackError> {
    let mut tags = BTreeMap::new();
    if let Some(v) = t.function_property(id, "Tags") {
        match t.eval(&v)? {
            Value::Object(m) => tags.extend(m.iter().map(|(k, v)| (k.clone(), scalar_text(v)))),
            Value::Array(list) => tags.extend(
                list.iter()
                    .filter_map(|e| Some((scalar_text(e.get("Key")?), scalar_text(e.get("Value")?)))),
            ),
            _ => {}
        }
    }
    if t.resource_type(id) == Some("AWS::Serverless::Function") {
        tags.insert("lambda:createdBy".to_string(), "SAM".to_string());
    }
    Ok(tags)
}

/// Lambda's Runtime API loop for Node.js handlers (`hook-sim/runtimes/node.js`), which
/// `simulate` writes here before it runs a `nodejs*` function.
pub const NODE_RUNTIME: &str = include_str!("../../runtimes/node.js");

/// Where [`NODE_RUNTIME`] is written: a file of the temporary directory named by this
/// version of hook-sim.
pub fn node_runtime_path() -> PathBuf {
    std::env::temp_dir().join(format!("hook-sim-{}-node-runtime.js", env!("CARGO_PKG_VERSION")))
}

/// The local folder of a function's code: SAM's `CodeUri`, or the asset folder CDK notes in
/// `Metadata.aws:asset:path` (beside the synthesized template).
pub fn code_folder(t: &Template, id: &str, base: &Path) -> Option<PathBuf> {
    let sam = match t.function_property(id, "CodeUri") {
        Some(Value::String(uri)) if !uri.contains("://") => Some(uri),
        _ => None,
    };
    let cdk = t
        .resource(id)
        .and_then(|r| r.pointer("/Metadata/aws:asset:path"))
        .and_then(Value::as_str)
        .map(str::to_string);
    sam.or(cdk).map(|p| base.join(p)).filter(|p| p.is_dir())
}

/// The folder `base` stands for (`.` when empty), and the Cargo workspace holding it (the
/// nearest folder up with a `Cargo.lock`), if any.
pub fn workspace_of(base: &Path) -> (&Path, Option<PathBuf>) {
    let start = if base.as_os_str().is_empty() {
        Path::new(".")
    } else {
        base
    };
    let workspace = start.canonicalize().ok().and_then(|abs| {
        abs.ancestors()
            .find(|d| d.join("Cargo.lock").is_file())
            .map(Path::to_path_buf)
    });
    (start, workspace)
}

/// Where cargo builds for a template in `base`: `CARGO_TARGET_DIR`, or `target/` of the
/// nearest folder up from `base` with a `Cargo.lock` (the workspace), or `base/target`.
pub fn cargo_target_dir(base: &Path) -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    let (start, workspace) = workspace_of(base);
    match workspace {
        Some(root) if root == start.canonicalize().unwrap_or_default() => base.join("target"),
        Some(root) => root.join("target"),
        None => base.join("target"),
    }
}

/// The template and logical id of the hook function `v` names: `!Ref` of one in `t`, or
/// `!ImportValue` of an export of one of `others` (with that template's folder). `Err(None)`:
/// neither form.
pub fn hook_source<'a>(
    t: &'a Template,
    others: &'a [Template],
    v: &Value,
    base: &Path,
) -> Result<((&'a Template, PathBuf), String), Option<StackError>> {
    if let Some(id) = t.referenced(v).map_err(Some)? {
        return Ok(((t, base.to_path_buf()), id.to_string()));
    }
    if let Some((app, output)) = t.nested_output(v).map_err(Some)? {
        return nested_hook(others, &app, &output);
    }
    let Some(name) = t.imported(v).map_err(Some)? else {
        return Err(None);
    };
    let mut known = Vec::new();
    for o in others {
        let (found, names) = o.export(&name).map_err(Some)?;
        if let Some(id) = found {
            let dir = o.path.parent().map(Path::to_path_buf).unwrap_or_default();
            return Ok(((o, dir), id));
        }
        known.extend(names);
    }
    Err(Some(StackError::new(if others.is_empty() {
        format!("the hook is imported (Fn::ImportValue {name}): give the template that exports it with --with TEMPLATE")
    } else {
        format!(
            "Fn::ImportValue {name}: no template given with --with exports it (their exports: {})",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        )
    })))
}

/// The function output `output` of nested application `app` names, with its template's folder.
fn nested_hook<'a>(
    others: &'a [Template],
    app: &str,
    output: &str,
) -> Result<((&'a Template, PathBuf), String), Option<StackError>> {
    let Some(nested) = others.iter().find(|o| o.application.as_deref() == Some(app)) else {
        return Err(Some(StackError::new(format!(
            "Fn::GetAtt {app}.Outputs.{output}: {app} is not a nested application with a local Location"
        ))));
    };
    let (found, names) = nested.output(output).map_err(Some)?;
    let Some(id) = found else {
        return Err(Some(StackError::new(format!(
            "Fn::GetAtt {app}.Outputs.{output}: {} has no output {output} whose value is Ref or Fn::GetAtt of \
             one of its resources (its outputs: {})",
            nested.path.display(),
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        ))));
    };
    let dir = nested.path.parent().map(Path::to_path_buf).unwrap_or_default();
    Ok(((nested, dir), id))
}

/// A hook function of the template, with its role (and what of the role cannot be read).
pub fn read_hook(
    t: &Template,
    id: &str,
    args: &ReadOptions,
    base: &Path,
    roles: &mut BTreeMap<String, Identity>,
    warnings: &mut Vec<String>,
) -> Result<FunctionRun, StackError> {
    let hook = function_run(t, id, args, base)?;
    let role = roles::function_role(t, id, &hook.name)?;
    warnings.extend(role.warnings.into_iter().map(|w| format!("hook {id}: {w}")));
    roles.insert(hook.name.clone(), role.identity);
    Ok(hook)
}
