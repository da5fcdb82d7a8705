//! `{{variables}}` nothing defines where they are used: found before a deployment does.

use indexmap::{IndexMap, IndexSet};

use crate::Phase;
use crate::error::{SpecError, check_line, snippet};
use crate::limits::MAX_VARIABLE_ERRORS;
use crate::model::{Check, SpecFile};
use crate::template::TemplateText;
use crate::words::suggest;

/// What a hook defines for every check: the deployment and the target under test.
pub(crate) const BUILT_IN: &[&str] = &[
    "deployment.id",
    "target.function",
    "target.version",
    "target.logical_id",
    "target.alias",
    "target.current_version",
];

/// Every use of a variable that neither the spec (`vars`, the captures of earlier checks in
/// the same phase), the hook (`deployment.id`, `target.*`) nor the run (`extra`) defines.
pub(crate) fn unknown(spec: &SpecFile, extra: &[&str], text: &str, source: &str) -> Vec<SpecError> {
    let checks: Vec<(usize, &Check)> = spec.checks.iter().enumerate().collect();
    unknown_in(&spec.vars, &checks, extra, text, source)
}

/// [`unknown`] over some of a spec's checks (each with its index in the file): those that
/// parsed, when others did not. `extra` then also holds what the others capture.
pub(crate) fn unknown_in(
    vars: &IndexMap<String, String>,
    checks: &[(usize, &Check)],
    extra: &[&str],
    text: &str,
    source: &str,
) -> Vec<SpecError> {
    let mut errors = Vec::new();
    // Each error searches the text and suggests among every name: a bounded number of them.
    let mut more = 0usize;
    let mut known: IndexSet<String> = BUILT_IN.iter().chain(extra).map(|s| s.to_string()).collect();
    // `vars` may use the variables before them.
    for (name, value) in vars {
        if let Ok(t) = TemplateText::parse(value) {
            for used in t.var_names() {
                if !known.contains(used) {
                    if errors.len() < MAX_VARIABLE_ERRORS {
                        errors.push(error(text, source, format!("vars.{name}"), used, &known, None));
                    } else {
                        more += 1;
                    }
                }
            }
        }
        known.insert(name.clone());
    }
    let mut reported = std::collections::HashSet::new();
    for phase in [Phase::BeforeAllowTraffic, Phase::AfterAllowTraffic] {
        let mut known = known.clone();
        for &(i, check) in checks {
            if !check.runs_in(phase) {
                continue;
            }
            let texts = check.templates().into_iter().chain(check.expect.templates());
            for t in texts.filter_map(|t| TemplateText::parse(t).ok()) {
                for used in t.var_names() {
                    if !known.contains(used) && reported.insert((i, used.to_string())) {
                        if errors.len() < MAX_VARIABLE_ERRORS {
                            let line = check_line(text, &check.name).map(|l| l as usize - 1);
                            errors.push(error(text, source, format!("checks[{i}]"), used, &known, line));
                        } else {
                            more += 1;
                        }
                    }
                }
            }
            known.extend(check.capture.keys().cloned());
        }
    }
    if more > 0 {
        errors.push(SpecError {
            path: "checks".to_string(),
            ..SpecError::whole(
                source,
                format!("{more} more uses of unknown variables are not shown"),
                None,
            )
        });
    }
    errors
}

/// The error for `{{used}}`, located at its first use at or after `from` (a 0-based line).
fn error(
    text: &str,
    source: &str,
    path: String,
    used: &str,
    known: &IndexSet<String>,
    from: Option<usize>,
) -> SpecError {
    let at = text
        .lines()
        .enumerate()
        .skip(from.unwrap_or(0))
        .find_map(|(n, l)| find_use(l, used).map(|c| (n as u64 + 1, c as u64 + 1)));
    let options: Vec<&str> = known.iter().map(String::as_str).collect();
    let mut hint = match suggest(used, &options) {
        Some(close) => format!("did you mean {{{{{close}}}}}?"),
        None => {
            let shown: Vec<&str> = options.iter().copied().take(20).collect();
            let more = if known.len() > shown.len() { ", ..." } else { "" };
            format!("known here: {}{more}", shown.join(", "))
        }
    };
    hint.push_str(
        "; a check sees the spec's `vars`, the captures of earlier checks in its phase, \
         {{deployment.id}} and {{target.*}} (a value given with `run --var NAME=VALUE` is declared \
         to `validate` with `--var NAME`)",
    );
    SpecError {
        file: source.to_string(),
        line: at.map(|a| a.0),
        column: at.map(|a| a.1),
        path,
        message: format!("unknown variable {{{{{used}}}}}: nothing defines it here"),
        hint: Some(hint),
        snippet: at.map(|(l, c)| snippet(text, l, c)),
    }
}

/// The byte column of `{{ used }}` in `line`.
fn find_use(line: &str, used: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = line[from..].find("{{") {
        let start = from + i;
        let rest = &line[start + 2..];
        if let Some(end) = rest.find("}}")
            && rest[..end].trim() == used
        {
            return Some(start);
        }
        from = start + 2;
    }
    None
}

#[cfg(test)]
mod tests {
    use crate::load_all;

    const SPEC: &str = "version: 1
vars:
  greeting: hello
  full: \"{{greeting}}, {{nme}}\"
checks:
  - name: login
    invoke: { payload: { user: \"{{target.function}}\" } }
    capture: { token: $.token }
  - name: greets
    invoke: { payload: { text: \"{{gretting}}\", auth: \"{{token}}\", who: \"{{who}}\" } }
  - name: later only
    phase: after
    invoke: { payload: { t: \"{{token}}\" } }
    expect: { json: { $.echo: \"{{greeting}}\" } }
";

    #[test]
    fn every_unknown_variable_with_its_place_and_a_suggestion() {
        let errors = load_all(SPEC, "s.yaml", Some(&[])).unwrap_err();
        let lines: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(errors.len(), 3, "{lines:#?}");
        assert_eq!((errors[0].path.as_str(), errors[0].line), ("vars.full", Some(4)));
        assert!(lines[0].contains("unknown variable {{nme}}"), "{}", lines[0]);
        assert_eq!((errors[1].line, errors[1].column), (Some(10), Some(33)));
        assert!(
            lines[1].contains("{{gretting}}") && lines[1].contains("did you mean {{greeting}}?"),
            "{}",
            lines[1]
        );
        assert!(lines[2].contains("{{who}}"), "{}", lines[2]);
        // A capture of a check that runs in both phases reaches the later check in AfterAllowTraffic.
        assert!(!errors.iter().any(|e| e.message.contains("{{token}}")), "{lines:#?}");
    }

    #[test]
    fn a_capture_from_another_phase_is_unknown() {
        let spec = SPEC.replace("  - name: login\n", "  - name: login\n    phase: before\n");
        let errors = load_all(&spec, "s.yaml", Some(&["nme", "gretting", "who"])).unwrap_err();
        // `greets` runs in both phases: in AfterAllowTraffic, `login` has not run.
        assert_eq!(errors.len(), 2, "{errors:#?}");
        for (e, path) in errors.iter().zip(["checks[1]", "checks[2]"]) {
            assert!(e.to_string().contains("unknown variable {{token}}"), "{e}");
            assert_eq!(e.path, path);
        }
    }

    #[test]
    fn run_variables_are_declared() {
        load_all(SPEC, "s.yaml", Some(&["nme", "gretting", "who"])).unwrap();
        // A hook's load does not look (a run gives its own), the check fails at run time instead.
        crate::load(SPEC, "s.yaml").unwrap();
    }

    #[test]
    fn a_bounded_number_of_unknown_variables_is_shown() {
        let mut spec = String::from("version: 1\nchecks:\n");
        for i in 0..60 {
            spec.push_str(&format!(
                "  - {{ name: c{i}, invoke: {{ payload: {{ x: \"{{{{nope}}}}\" }} }} }}\n"
            ));
        }
        let errors = load_all(&spec, "s.yaml", Some(&[])).unwrap_err();
        assert_eq!(errors.len(), crate::limits::MAX_VARIABLE_ERRORS + 1);
        assert!(
            errors
                .iter()
                .any(|e| e.message == "10 more uses of unknown variables are not shown")
        );
        // Each located on its own check's line.
        assert_eq!(errors.iter().filter_map(|e| e.line).max(), Some(52));
    }
}
