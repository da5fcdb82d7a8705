//! Reading a spec strictly, with errors that point at the source.
#![allow(clippy::result_large_err)] // spec errors are rare, and carry their location and snippet

use std::path::Path;

use indexmap::IndexMap;

use crate::error::{SpecError, check_line, snippet};
use crate::limits::{MAX_ATTEMPTS, MAX_CONCURRENCY, MAX_REPARSE_BYTES, MAX_REPEAT, MAX_SPEC_BYTES};
use crate::model::{Action, Check, Spec, SpecFile};
use crate::pick::{COUNT, PICK, Pick};
use crate::predicate::with_pattern_budget;
use crate::template::TemplateText;
use crate::words::suggest;

/// Panics with the located error unless `text` is a valid spec: one line in a hook's own
/// tests (`#[test] fn the_built_in_spec_loads()`) keeps a built-in spec loadable.
///
/// ```
/// const SPEC: &str = "version: 1\nchecks:\n  - name: greets\n    invoke: {}\n";
/// hook_spec::assert_valid(SPEC, "smoke.yaml");
/// ```
#[track_caller]
pub fn assert_valid(text: &str, source: &str) {
    if let Err(e) = load(text, source) {
        panic!("the spec does not load:\n{e}");
    }
}

/// Reads a spec file.
pub fn load_file(path: &Path) -> Result<Spec, SpecError> {
    let text = read_file(path)?;
    load(&text, &path.display().to_string())
}

fn read_file(path: &Path) -> Result<String, SpecError> {
    use std::io::Read as _;
    let name = path.display().to_string();
    let unreadable = |e: std::io::Error| SpecError::whole(&name, format!("cannot read the spec: {e}"), None);
    let file = std::fs::File::open(path).map_err(unreadable)?;
    // Never read more than the bound (and one byte to tell it was passed).
    let mut bytes = Vec::new();
    file.take(MAX_SPEC_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    String::from_utf8(bytes).map_err(|e| {
        SpecError::whole(
            &name,
            format!("the spec is not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
            None,
        )
    })
}

/// Reads a spec from text (YAML, or JSON, which is YAML too). `source` names it in errors.
/// On error, the first of them: [`load_all`] finds every one.
pub fn load(text: &str, source: &str) -> Result<Spec, SpecError> {
    // One parse: a hook reports the first error, and must not spend its start-up finding more.
    read(text, source, None, 0).map_err(|mut errors| errors.swap_remove(0))
}

/// Reads a spec file, finding every error it can. See [`load_all`].
pub fn load_file_all(path: &Path, run_vars: Option<&[&str]>) -> Result<Spec, Vec<SpecError>> {
    let text = read_file(path).map_err(|e| vec![e])?;
    load_all(&text, &path.display().to_string(), run_vars)
}

/// Reads a spec, finding every error it can: each check that does not parse, each rule a
/// check breaks, and — with `run_vars`, the names a run gives besides the spec's own
/// (`--var NAME`) — every `{{variable}}` nothing defines where it is used, with a
/// did-you-mean. (A hook gives none: its variables are the spec's `vars`, the captures of
/// earlier checks, `deployment.id` and `target.*`.) The errors are in file order; there is at
/// least one.
pub fn load_all(text: &str, source: &str, run_vars: Option<&[&str]>) -> Result<Spec, Vec<SpecError>> {
    read(text, source, run_vars, MAX_REPARSE_BYTES)
}

/// [`load_all`], reading a spec that does not parse again for at most `reparse` bytes (none:
/// its first error only).
fn read(text: &str, source: &str, run_vars: Option<&[&str]>, reparse: usize) -> Result<Spec, Vec<SpecError>> {
    if text.len() > MAX_SPEC_BYTES {
        return Err(vec![SpecError::whole(
            source,
            format!("the spec is over {} KiB", MAX_SPEC_BYTES / 1024),
            Some("a spec holds checks, not data: split it, or keep large payloads out of it"),
        )]);
    }
    if text.trim().is_empty() {
        return Err(vec![SpecError::whole(
            source,
            "the spec is empty".to_string(),
            Some("start with `version: 1` and a list of `checks:`"),
        )]);
    }
    let spec = match parse::<SpecFile>(text, source, Pick::All) {
        Ok((spec, _)) => spec,
        Err(first) if reparse > 0 => return Err(every_parse_error(text, source, first, reparse, run_vars)),
        Err(first) => return Err(vec![first]),
    };
    let indexed: Vec<(usize, &Check)> = spec.checks.iter().enumerate().collect();
    let mut errors = validate(&spec, &indexed, text, source);
    if let Some(extra) = run_vars {
        errors.extend(crate::variables::unknown(&spec, extra, text, source));
    }
    if errors.is_empty() {
        Ok(Spec::checked(spec, source))
    } else {
        sort(&mut errors);
        Err(errors)
    }
}

fn sort(errors: &mut Vec<SpecError>) {
    errors.sort_by_key(|e| (e.line.unwrap_or(0), e.column.unwrap_or(0)));
    errors.dedup_by(|a, b| a.line == b.line && a.column == b.column && a.message == b.message);
}

/// The spec did not parse: parse again, once for the top-level keys and once per check, so
/// that each part's first error is found; then the rules of the checks that did parse, and
/// (with `run_vars`) the variables they use.
fn every_parse_error(
    text: &str,
    source: &str,
    first: SpecError,
    budget: usize,
    run_vars: Option<&[&str]>,
) -> Vec<SpecError> {
    let mut errors = vec![first];
    let top = parse::<SpecFile>(text, source, Pick::None);
    let count = match &top {
        Ok((_, n)) => *n,
        Err(e) => {
            errors.push(e.clone());
            parse::<ChecksOnly>(text, source, Pick::None).map_or(0, |(_, n)| n)
        }
    };
    let mut parsed = Vec::new();
    // Each pass reads the whole text: bound the work, not just the spec's size.
    let passes = (budget / text.len().max(1)).max(1);
    if count > passes {
        errors.push(SpecError {
            path: "checks".to_string(),
            ..SpecError::whole(
                source,
                format!("only the first {passes} of {count} checks were read again for their errors"),
                Some("fix the errors shown and validate again"),
            )
        });
    }
    for i in 0..count.min(passes) {
        match parse::<ChecksOnly>(text, source, Pick::Only(i)) {
            Ok((mut one, _)) => parsed.extend(one.checks.pop().map(|c| (i, c))),
            Err(e) => errors.push(e),
        }
    }
    // The rules of each check that parsed, in the same run: with the spec's top level as written,
    // or, when that does not parse either, with its defaults left out.
    let spec = top
        .map(|(spec, _)| spec)
        .or_else(|_| parse::<SpecFile>("version: 1\nchecks: []\n", source, Pick::None).map(|(spec, _)| spec));
    let indexed: Vec<(usize, &Check)> = parsed.iter().map(|(i, c)| (*i, c)).collect();
    if let Ok(mut spec) = spec {
        // Rules over all checks (none at all, none invoking the target) need them all.
        spec.checks = Vec::new();
        errors.extend(validate_checks(&spec, &indexed, text, source));
    }
    if let Some(extra) = run_vars {
        errors.extend(unknown_variables_of_parsed(text, source, &indexed, extra));
    }
    sort(&mut errors);
    errors
}

/// The unknown variables of the checks that parsed, when the others did not: what those
/// others would capture is read loosely and counted as known in every phase, so that no
/// variable is called unknown because its check has a mistake elsewhere. When even the loose
/// read fails (the `vars` or a `capture` is not a mapping of names), nothing is said.
fn unknown_variables_of_parsed(text: &str, source: &str, parsed: &[(usize, &Check)], extra: &[&str]) -> Vec<SpecError> {
    #[derive(serde::Deserialize)]
    struct Loose {
        #[serde(default)]
        vars: IndexMap<String, String>,
        #[serde(default)]
        checks: Vec<LooseCheck>,
    }
    #[derive(serde::Deserialize)]
    struct LooseCheck {
        #[serde(default)]
        capture: IndexMap<String, serde::de::IgnoredAny>,
    }
    let Ok((loose, _)) = parse::<Loose>(text, source, Pick::All) else {
        return Vec::new();
    };
    let mut known: Vec<&str> = extra.to_vec();
    for (i, check) in loose.checks.iter().enumerate() {
        if !parsed.iter().any(|(p, _)| *p == i) {
            known.extend(check.capture.keys().map(String::as_str));
        }
    }
    crate::variables::unknown_in(&loose.vars, parsed, &known, text, source)
}

/// Only the checks, other keys ignored: for finding each check's errors.
#[derive(serde::Deserialize)]
struct ChecksOnly {
    #[serde(default, deserialize_with = "crate::pick::picked_checks")]
    checks: Vec<Check>,
}

/// Parses with `pick`, giving the value and how many checks the file has.
fn parse<T: serde::de::DeserializeOwned>(text: &str, source: &str, pick: Pick) -> Result<(T, usize), SpecError> {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            PICK.set(Pick::All);
        }
    }
    let _reset = Reset;
    PICK.set(pick);
    COUNT.set(0);
    let mut path = String::new();
    let parsed: Result<T, serde_saphyr::Error> = with_pattern_budget(|| {
        serde_saphyr::with_deserializer_from_str(text, |de| {
            serde_path_to_error::deserialize(de).map_err(|e| {
                path = e.path().to_string();
                e.into_inner()
            })
        })
    });
    let value = parsed.map_err(|e| {
        let location = e.location();
        let line = location.map(|l| l.line()).filter(|l| *l > 0);
        let column = location.map(|l| l.column()).filter(|c| *c > 0);
        let raw = plain_message(&e);
        let found = line.map(|l| found_at(text, l as usize, column.unwrap_or(1) as usize));
        let path = if path == "." { String::new() } else { path.clone() };
        SpecError {
            file: source.to_string(),
            line,
            column,
            hint: hint_for(&raw, &path),
            path,
            message: in_words(&raw, found),
            snippet: line.map(|l| snippet(text, l, column.unwrap_or(1))),
        }
    })?;
    Ok((value, COUNT.get()))
}

/// The value written at `line`:`column` (1-based), up to the YAML punctuation that ends it.
fn found_at(text: &str, line: usize, column: usize) -> String {
    let Some(l) = text.lines().nth(line - 1) else {
        return String::new();
    };
    let rest: String = l.chars().skip(column - 1).collect();
    let end = rest.find([',', '}', ']', '#']).unwrap_or(rest.len());
    let found: String = rest[..end].trim().chars().take(60).collect();
    // A secret's value is never quoted back.
    if crate::mask_secret_values(l) != l && !found.is_empty() && !crate::mask_secret_values(l).contains(&found) {
        return crate::MASK.to_string();
    }
    found
}

/// The YAML reader's messages in the words of the spec: what was expected, what was found.
fn in_words(message: &str, found: Option<String>) -> String {
    let found = found.filter(|f| !f.is_empty());
    let with_found = |expected: &str| match &found {
        Some(f) => format!("expected {expected}, found `{f}`"),
        None => format!("expected {expected}"),
    };
    match message {
        m if m.starts_with("invalid u") || m.starts_with("invalid i") => with_found("a whole number"),
        m if m.starts_with("invalid f") => with_found("a number"),
        "expected mapping start" => with_found("a mapping (`{ key: value }` or indented `key: value` lines)"),
        "expected sequence start" => with_found("a list (`[a, b]` or `- ` lines)"),
        m => m.to_string(),
    }
}

fn plain_message(e: &serde_saphyr::Error) -> String {
    let opts = serde_saphyr::render_options! { snippets: serde_saphyr::SnippetMode::Off };
    let mut m = e.render_with_options(opts);
    // Drop the location the renderer adds: we show it in our own form.
    if let Some(rest) = m.strip_prefix("error: ") {
        m = rest.to_string();
    }
    if m.starts_with("line ")
        && let Some(i) = m.find(": ")
    {
        m = m[i + 2..].to_string();
    }
    if let Some(i) = m.rfind(" at line ") {
        m.truncate(i);
    }
    // Our own messages of several lines (a regular expression's error) mark their breaks with
    // LINE_BREAK, which the YAML reader's escaping of control characters leaves alone.
    m.trim().replace(crate::words::LINE_BREAK, "\n")
}

/// "did you mean" for serde's unknown field / variant messages; for a value of the wrong
/// type, the shape expected there.
fn hint_for(message: &str, path: &str) -> Option<String> {
    did_you_mean(message).or_else(|| {
        const TYPE_ERRORS: &[&str] = &[
            "invalid u",
            "invalid i",
            "invalid f",
            "invalid type",
            "invalid bool",
            "invalid value",
            "invalid length",
            "expected mapping",
            "expected sequence",
            "expected scalar",
            "expected a ",
            "expected struct",
            "expected map",
            "missing field",
            "did not match any variant",
        ];
        if TYPE_ERRORS.iter().any(|t| message.contains(t)) {
            crate::shape::expected_at(path)
        } else {
            None
        }
    })
}

fn did_you_mean(message: &str) -> Option<String> {
    let unknown = ["unknown field `", "unknown variant `"]
        .iter()
        .find_map(|p| message.split_once(p).map(|(_, rest)| rest))?;
    let word = unknown.split('`').next()?;
    let expected = message
        .split_once("expected one of ")
        .map(|(_, r)| r)
        .or_else(|| message.split_once("expected ").map(|(_, r)| r))?;
    let options: Vec<String> = expected
        .split([',', ' '])
        .map(|o| o.trim().trim_matches('`').to_string())
        .filter(|o| !o.is_empty() && o != "or")
        .collect();
    let refs: Vec<&str> = options.iter().map(String::as_str).collect();
    suggest(word, &refs).map(|s| format!("did you mean `{s}`?"))
}

/// Every rule a parsed spec breaks.
fn validate(spec: &SpecFile, checks: &[(usize, &Check)], text: &str, source: &str) -> Vec<SpecError> {
    let mut errors = Vec::new();
    if spec.checks.is_empty() {
        errors.push(SpecError {
            file: source.to_string(),
            line: None,
            column: None,
            path: "checks".to_string(),
            message: "the spec has no checks".to_string(),
            hint: Some("a hook that checks nothing would report Succeeded for nothing: add a check".to_string()),
            snippet: None,
        });
        return errors;
    }
    errors.extend(validate_checks(spec, checks, text, source));
    errors.extend(untested_target(spec, text, source).err());
    errors
}

/// The rules of each check, and of the top-level keys: one error per check at most.
fn validate_checks(spec: &SpecFile, checks: &[(usize, &Check)], text: &str, source: &str) -> Vec<SpecError> {
    let mut errors = Vec::new();
    let mut names = std::collections::HashSet::new();
    for (i, check) in checks.iter().copied() {
        if let Err(e) = check_rules(spec, i, check, &mut names, text, source) {
            errors.push(e);
        }
    }
    for name in &spec.secrets {
        if name.trim().is_empty() || name.contains(['{', '}', '$']) {
            errors.push(SpecError {
                path: "secrets".to_string(),
                ..SpecError::whole(
                    source,
                    format!("`{name}` is not a name"),
                    Some("list names as they appear in ${env:NAME}, `vars` or `capture`, without ${} or {{}}"),
                )
            });
        }
    }
    errors
}

/// The rules that span keys of a check.
fn check_rules<'a>(
    spec: &SpecFile,
    i: usize,
    check: &'a Check,
    names: &mut std::collections::HashSet<&'a str>,
    text: &str,
    source: &str,
) -> Result<(), SpecError> {
    let err = |message: String, hint: Option<&str>| {
        let line = check_line(text, &check.name);
        SpecError {
            file: source.to_string(),
            line,
            column: None,
            path: format!("checks[{i}]"),
            message: format!("check `{}`: {message}", check.name),
            hint: hint.map(str::to_string),
            snippet: line.map(|l| snippet(text, l, 1)),
        }
    };
    if check.name.trim().is_empty() {
        return Err(err(
            "the name is empty".into(),
            Some("name each check: reports and logs refer to it"),
        ));
    }
    if !names.insert(check.name.as_str()) {
        return Err(err(
            "another check has the same name".into(),
            Some("give each check its own name"),
        ));
    }
    if matches!(check.action, Action::Http(_)) {
        for (key, present) in [
            ("function_error", check.expect.function_error.is_some()),
            ("reported_duration", check.expect.reported_duration.is_some()),
            ("init_duration", check.expect.init_duration.is_some()),
            ("max_memory", check.expect.max_memory.is_some()),
            ("log", check.expect.log.is_some()),
        ] {
            if present {
                return Err(err(
                    format!("`expect.{key}` applies to invoke checks only"),
                    Some("remove it, or make the check an `invoke:`"),
                ));
            }
        }
        if check.targets.is_some() || check.select.is_some() {
            return Err(err("`targets` and `select` apply to invoke checks only".into(), None));
        }
    }

    #[cfg(not(feature = "metrics"))]
    if matches!(check.action, Action::Metrics(_)) {
        return Err(err(
            "this hook was built without hook-sdk's `metrics` feature, so it cannot read CloudWatch".into(),
            Some("build the hook with hook-sdk's default features (or `features = [\"metrics\"]`), or use hook-runner"),
        ));
    }
    if matches!(check.action, Action::Metrics(_)) {
        let extra: Vec<&str> = [
            ("expect", !check.expect.is_empty()),
            ("capture", !check.capture.is_empty()),
            ("retry", check.retry.is_some()),
            ("repeat", check.repeat.is_some()),
            ("concurrency", check.concurrency.is_some()),
            ("thresholds", check.thresholds.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, present)| present.then_some(k))
        .collect();
        if let Some(first) = extra.first() {
            return Err(err(
                format!("`{first}` does not apply to a metrics check"),
                Some("a metrics check's thresholds go in `metrics.expect`, like `p99: \"< 1.2 × current\"`"),
            ));
        }
    }

    if let Some(select) = &check.select {
        if check.targets.is_some() {
            return Err(err(
                "`targets` and `select` don't combine".into(),
                Some("name the functions in `select.functions` instead"),
            ));
        }
        if select.fallback && (!select.functions.is_empty() || !select.tags.is_empty()) {
            return Err(err(
                "`select.fallback` tests the targets no other check selects: it takes no `functions` or `tags`".into(),
                None,
            ));
        }
        if !select.fallback && select.functions.is_empty() && select.tags.is_empty() {
            return Err(err(
                "`select` selects nothing".into(),
                Some("give `functions: [\"orders-*\"]`, `tags: { team: orders }`, or `fallback: true`"),
            ));
        }
    }
    if check.repeat == Some(0) || check.concurrency == Some(0) {
        return Err(err("`repeat` and `concurrency` are at least 1".into(), None));
    }
    if let Some(n) = check.repeat.filter(|n| *n > MAX_REPEAT) {
        return Err(err(
            format!("`repeat: {n}` is over the limit of {MAX_REPEAT} runs"),
            Some("a hook must report within its Lambda timeout: a few hundred runs show a p99"),
        ));
    }
    if let Some(n) = check.concurrency.filter(|n| *n > MAX_CONCURRENCY) {
        return Err(err(
            format!("`concurrency: {n}` is over the limit of {MAX_CONCURRENCY}"),
            Some("every run in flight holds its answer in the hook's memory (128 MB in Lambda)"),
        ));
    }
    if check.repeat.is_none() && (check.concurrency.is_some() || check.thresholds.is_some()) {
        return Err(err(
            "`concurrency` and `thresholds` need `repeat`".into(),
            Some("add `repeat: N` to run the check N times"),
        ));
    }
    if check.repeat.is_some() && check.retry.is_some() {
        return Err(err(
            "`retry` and `repeat` don't combine: a repeated check is judged over all its runs".into(),
            Some("use `thresholds: { success_rate: \">= 0.99\" }` to tolerate a few failures"),
        ));
    }
    if check.repeat.is_some() && !check.capture.is_empty() {
        return Err(err(
            "`capture` needs a single run: remove `repeat`, or capture in another check".into(),
            None,
        ));
    }
    for retry in [check.retry, spec.defaults.retry].into_iter().flatten() {
        if retry.attempts == 0 {
            return Err(err(
                "`retry.attempts` is at least 1 (the first try counts)".into(),
                None,
            ));
        }
        if retry.attempts > MAX_ATTEMPTS {
            return Err(err(
                format!(
                    "`retry.attempts: {}` is over the limit of {MAX_ATTEMPTS}",
                    retry.attempts
                ),
                Some("retries stop at the hook's deadline anyway: a few attempts with a backoff are enough"),
            ));
        }
    }
    for name in check.capture.keys() {
        if name.is_empty()
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            || name.contains('.')
        {
            return Err(err(
                format!("capture name `{name}` is not a plain name"),
                Some("use letters, digits, `_` or `-`: it is used as {{name}}"),
            ));
        }
    }
    // Every template in the check must parse.
    for s in check.templates() {
        TemplateText::parse(s).map_err(|e| err(e.to_string(), Some("variables are ${env:NAME}, {{name}}, {{deployment.id}}, {{target.function}}, {{target.version}}, {{target.alias}}")))?;
    }
    Ok(())
}

/// BeforeAllowTraffic runs while the alias and every API still route to the old version: only
/// an invoke of the target version tests the new one. A spec whose BeforeAllowTraffic checks
/// never make one would report `Succeeded` without proof.
fn untested_target(spec: &SpecFile, text: &str, source: &str) -> Result<(), SpecError> {
    if spec.allow_untested_target {
        return Ok(());
    }
    let before: Vec<(usize, &Check)> = spec
        .checks
        .iter()
        .enumerate()
        .filter(|(_, c)| c.runs_in(crate::Phase::BeforeAllowTraffic))
        .collect();
    let Some((first, check)) = before.first() else {
        return Ok(());
    };
    if before.iter().any(|(_, c)| c.invokes_target_version()) {
        return Ok(());
    }
    let kinds: Vec<String> = before
        .iter()
        .map(|(_, c)| match &c.action {
            Action::Http(_) => format!("`{}` sends HTTP", c.name),
            Action::Metrics(_) => format!("`{}` reads metrics", c.name),
            Action::Invoke(i) => format!("`{}` invokes qualifier `{}`", c.name, i.qualifier),
        })
        .collect();
    let line = check_line(text, &check.name);
    Err(SpecError {
        file: source.to_string(),
        line,
        column: None,
        path: format!("checks[{first}]"),
        message: format!(
            "no BeforeAllowTraffic check invokes the version under test ({}): before traffic shifts, \
             the alias and the API still reach the old version, so these checks would pass without testing the new one",
            kinds.join("; ")
        ),
        hint: Some(
            "add a check with `invoke:` (its qualifier defaults to the target version), mark checks \
             meant for the shifted alias `phase: after`, or set `allow_untested_target: true` at the \
             top of the spec to accept a BeforeAllowTraffic that does not test the new version"
                .to_string(),
        ),
        snippet: line.map(|l| snippet(text, l, 1)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the spec format in the design notes and the README.
    const GOOD: &str = include_str!("../tests/specs/design.yaml");

    fn error(text: &str) -> SpecError {
        load(text, "smoke.yaml").unwrap_err()
    }

    #[test]
    fn reads_the_design_example() {
        let spec = load(GOOD, "smoke.yaml").unwrap();
        assert_eq!(spec.checks.len(), 3);
        assert_eq!(spec.checks[0].expect.json.len(), 2);
        assert_eq!(spec.checks[2].repeat, Some(200));
        assert_eq!(spec.defaults.retry.unwrap().attempts, 3);
    }

    #[test]
    fn reads_json_specs() {
        let spec = load(
            r#"{"version": 1, "checks": [{"name": "a", "invoke": {"payload": {"name": "x"}}, "expect": {"json": {"$.statusCode": 200}}}]}"#,
            "smoke.json",
        )
        .unwrap();
        assert_eq!(spec.checks[0].name, "a");
    }

    #[test]
    fn unknown_key_is_located_with_a_hint() {
        let e = error("version: 1\nchecks:\n  - name: a\n    invoke: {}\n    expct: {}\n");
        assert_eq!((e.line, e.column), (Some(5), Some(5)));
        assert_eq!(e.path, "checks[0].expct");
        assert!(e.message.starts_with("unknown field `expct`"), "{}", e.message);
        assert_eq!(e.hint.as_deref(), Some("did you mean `expect`?"));
        let text = e.to_string();
        assert!(
            text.starts_with("smoke.yaml:5:5: checks[0].expct: unknown field `expct`"),
            "{text}"
        );
        assert!(text.contains("5 |     expct: {}\n  |     ^"), "{text}");
    }

    #[test]
    fn bad_operator_regex_path_and_duration_are_located() {
        let e = error(
            "version: 1\nchecks:\n  - name: a\n    invoke: {}\n    expect:\n      json:\n        $.x: { match: \"^a\" }\n",
        );
        assert_eq!(e.line, Some(7));
        assert_eq!(e.path, "checks[0].expect.json.$.x");
        assert!(e.message.contains("did you mean `matches`?"), "{}", e.message);

        let e = error(
            "version: 1\nchecks:\n  - name: a\n    invoke: {}\n    expect:\n      json:\n        $.x: { matches: \"(\" }\n",
        );
        assert!(e.message.starts_with("bad regular expression"), "{}", e.message);

        let e =
            error("version: 1\nchecks:\n  - name: a\n    invoke: {}\n    expect:\n      json:\n        body.x: 1\n");
        assert!(
            e.message.contains("bad JSONPath `body.x`") && e.message.contains("starts with `$`"),
            "{}",
            e.message
        );

        let e = error(
            "version: 1\nchecks:\n  - name: a\n    invoke: {}\n    expect:\n      json:\n        $.headers.content-type: x\n",
        );
        assert!(
            e.message.contains("a name with `-` needs brackets: ['content-type']"),
            "{}",
            e.message
        );

        let e = error("version: 1\ndefaults: { timeout: 5 }\nchecks:\n  - name: a\n    invoke: {}\n");
        assert_eq!(e.path, "defaults.timeout");
        assert!(e.message.contains("`5` has no unit: write 5ms or 5s"), "{}", e.message);
    }

    #[test]
    fn wrong_types_and_phases() {
        let e = error("version: 1\nchecks:\n  - name: a\n    invoke: {}\n    repeat: many\n");
        assert_eq!(e.path, "checks[0].repeat");
        let e = error("version: 1\nchecks:\n  - name: a\n    phase: bfore\n    invoke: {}\n");
        assert_eq!(e.hint.as_deref(), Some("did you mean `before`?"), "{e}");
        let e = error("version: 2\nchecks: []\n");
        assert!(e.message.contains("spec version 2 is not supported"), "{e}");
    }

    #[test]
    fn cross_key_rules() {
        let e = error("version: 1\nchecks:\n  - name: a\n    expect: {}\n");
        assert!(
            e.message.contains("does nothing: add `invoke:`, `http:` or `metrics:`"),
            "{e}"
        );
        assert_eq!(e.line, Some(3));
        let e = error("version: 1\nchecks:\n  - name: a\n    invoke: {}\n    http: { url: \"http://x\" }\n");
        assert!(
            e.message
                .contains("check `a` has `invoke` and `http`: a check does one thing, split it"),
            "{e}"
        );
        assert_eq!(e.path, "checks[0]");
        let e = error("version: 1\nchecks:\n  - name: a\n    invoke: {}\n    thresholds: { p95: \"< 1s\" }\n");
        assert!(e.message.contains("need `repeat`"), "{e}");
        let e = error(
            "version: 1\nchecks:\n  - name: a\n    http: { url: \"http://x\" }\n    expect: { function_error: none }\n",
        );
        assert!(e.message.contains("invoke checks only"), "{e}");
        let e = error("version: 1\nchecks:\n  - name: a\n    invoke: {}\n  - name: a\n    invoke: {}\n");
        assert!(e.message.contains("same name"), "{e}");
        let e = error("version: 1\nchecks: []\n");
        assert!(e.message.contains("no checks"), "{e}");
        let e = error("version: 1\nchecks:\n  - name: a\n    http: { url: \"${env:API_URL/health\" }\n");
        assert!(e.message.contains("unclosed"), "{e}");
    }

    #[test]
    fn repeat_concurrency_and_attempts_are_bounded() {
        let e =
            error("version: 1\nchecks:\n  - name: a\n    invoke: {}\n    repeat: 1000000\n    concurrency: 1000000\n");
        assert!(
            e.message.contains("`repeat: 1000000` is over the limit of 10000 runs"),
            "{e}"
        );
        assert_eq!((e.path.as_str(), e.line), ("checks[0]", Some(3)));
        let e = error("version: 1\nchecks:\n  - name: a\n    invoke: {}\n    repeat: 100\n    concurrency: 1000\n");
        assert!(e.message.contains("`concurrency: 1000` is over the limit of 32"), "{e}");
        let e = error("version: 1\nchecks:\n  - name: a\n    invoke: {}\n    retry: { attempts: 1000 }\n");
        assert!(e.message.contains("over the limit of 100"), "{e}");
        load(
            "version: 1\nchecks:\n  - name: a\n    invoke: {}\n    repeat: 10000\n    concurrency: 32\n",
            "s.yaml",
        )
        .unwrap();
    }

    #[test]
    fn regular_expressions_have_a_budget_per_pattern_and_per_spec() {
        let many = |pattern: &str, n: usize| {
            let mut text = "version: 1\nchecks:\n  - name: a\n    invoke: {}\n    expect:\n      json:\n".to_string();
            for i in 0..n {
                text.push_str(&format!("        $.f{i}: {{ matches: \"{pattern}\" }}\n"));
            }
            text
        };
        // One pattern over the bound.
        let e = error(&many("\\\\w{200}", 1));
        assert!(e.message.contains("compiles to more than 1024 KiB"), "{e}");
        assert_eq!(e.line, Some(7));
        // A hundred small ones that add up: stopped at the budget, not after compiling them all.
        let started = std::time::Instant::now();
        let e = error(&many("\\\\w{10}", 100));
        assert!(e.message.contains("take more than 4 MiB compiled together"), "{e}");
        assert!(e.line.is_some_and(|l| l < 40), "stopped early: {e}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        // A long source is refused before it is parsed.
        let e = error(&many(&"a".repeat(5000), 1));
        assert!(e.message.contains("5000 bytes long, over the limit of 4096"), "{e}");
        // The budget is per spec: the next spec starts afresh.
        load(&many("\\\\w{10}", 10), "s.yaml").unwrap();
        load(&many("\\\\w{10}", 10), "s.yaml").unwrap();
    }

    #[test]
    fn a_spec_over_the_size_bound_is_refused_unread() {
        let text = format!("version: 1\n# {}\nchecks: []\n", "x".repeat(MAX_SPEC_BYTES));
        let e = error(&text);
        assert!(e.message.contains("the spec is over 1024 KiB"), "{e}");
    }

    #[test]
    fn before_allow_traffic_must_invoke_the_target_version() {
        let e = error(
            "version: 1\nchecks:\n  - name: health\n    http: { url: \"${env:API_URL}/health\" }\n  - name: old\n    invoke: { qualifier: current }\n  - name: alias\n    invoke: { qualifier: alias }\n",
        );
        assert!(
            e.message
                .contains("no BeforeAllowTraffic check invokes the version under test"),
            "{e}"
        );
        assert!(
            e.message
                .contains("`health` sends HTTP; `old` invokes qualifier `current`; `alias` invokes qualifier `alias`"),
            "{e}"
        );
        assert_eq!((e.path.as_str(), e.line), ("checks[0]", Some(3)));
        assert!(
            e.hint.as_deref().unwrap().contains("allow_untested_target: true"),
            "{e}"
        );
        // Fine: an HTTP check for AfterAllowTraffic only; an invoke of the target; the opt-out.
        load(
            "version: 1\nchecks:\n  - name: health\n    phase: after\n    http: { url: \"http://x\" }\n",
            "s.yaml",
        )
        .unwrap();
        load(
            "version: 1\nchecks:\n  - name: health\n    http: { url: \"http://x\" }\n  - name: t\n    phase: before\n    invoke: { qualifier: \"{{ target.version }}\" }\n",
            "s.yaml",
        )
        .unwrap();
        load(
            "version: 1\nallow_untested_target: true\nchecks:\n  - name: health\n    http: { url: \"http://x\" }\n",
            "s.yaml",
        )
        .unwrap();
    }

    #[test]
    fn secrets_are_names() {
        let e = error("version: 1\nsecrets: [\"${env:TOKEN}\"]\nchecks:\n  - name: a\n    invoke: {}\n");
        assert_eq!(e.path, "secrets");
        assert!(e.hint.unwrap().contains("without ${} or {{}}"));
        load(
            "version: 1\nsecrets: [API_PASS]\nchecks:\n  - name: a\n    invoke: {}\n",
            "s.yaml",
        )
        .unwrap();
    }

    #[test]
    fn variables_are_checked_in_the_run_that_finds_parse_errors() {
        // `one` misspells a var; `two` does not parse but captures `token`, which `three` uses.
        let text = "version: 1\nvars: { greeting: hi }\nchecks:\n  - name: one\n    invoke: { payload: { t: \"{{gretting}}\" } }\n  - name: two\n    invoke: {}\n    repeat: -1\n    capture: { token: { json: $.body } }\n  - name: three\n    invoke: { payload: { t: \"{{token}} {{nope}}\" } }\n";
        let errors = load_all(text, "s.yaml", Some(&[])).unwrap_err();
        let messages: Vec<String> = errors.iter().map(|e| format!("{}: {}", e.path, e.message)).collect();
        assert_eq!(messages.len(), 3, "{messages:#?}");
        assert!(messages[0].contains("gretting"), "{messages:#?}");
        assert!(
            errors[0].hint.as_deref().unwrap_or_default().contains("greeting"),
            "{errors:#?}"
        );
        assert!(messages[1].starts_with("checks[1].repeat"), "{messages:#?}");
        assert!(
            messages[2].contains("nope") && !messages[2].contains("token"),
            "{messages:#?}"
        );
        // When even the loose read fails (a `capture` that is not a mapping), nothing is said
        // of variables rather than something wrong.
        let broken = text.replace("capture: { token: { json: $.body } }", "capture: [token]");
        let errors = load_all(&broken, "s.yaml", Some(&[])).unwrap_err();
        assert!(errors.iter().all(|e| !e.message.contains("variable")), "{errors:#?}");
    }

    #[test]
    fn finding_every_error_reads_a_bounded_amount_again() {
        // Enough checks that re-reading each would pass the budget.
        const BUDGET: usize = 64 * 1024;
        let mut text = String::from("version: 1\nchecks:\n");
        let mut n = 0;
        while text.len() * n <= BUDGET {
            text.push_str(&format!("  - {{ name: c{n}, invoke: {{}} }}\n"));
            n += 1;
        }
        text.push_str("  - { name: bad, invoke: {}, repeat: -1 }\n");
        let errors = read(&text, "big.yaml", None, BUDGET).unwrap_err();
        let passes = BUDGET / text.len();
        assert!(
            errors.iter().any(|e| e.message
                == format!(
                    "only the first {passes} of {} checks were read again for their errors",
                    n + 1
                )),
            "{errors:#?}"
        );
        // A hook's load reads once and gives the first error.
        assert!(
            load(&text, "big.yaml")
                .unwrap_err()
                .path
                .starts_with(&format!("checks[{n}]"))
        );
    }
}
