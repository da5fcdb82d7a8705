//! A spec's located errors: the file, line and column, the key path, a snippet of the source
//! with a caret, and a hint.

use std::fmt;

use serde::Serialize;

/// A spec that could not be read: where, what, and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpecError {
    /// The file (or `<inline>`).
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<u64>,
    /// 1-based column, when known.
    pub column: Option<u64>,
    /// The key path, like `checks[0].expect.json.$.statusCode`.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// What to do, when there is a likely fix.
    pub hint: Option<String>,
    /// The source lines around the error, with a caret.
    pub snippet: Option<String>,
}

impl std::error::Error for SpecError {}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        write!(f, ": ")?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        // A message of several lines (a regular expression's error) keeps its lines, indented.
        let mut lines = self.message.lines();
        write!(f, "{}", lines.next().unwrap_or_default())?;
        for line in lines {
            write!(f, "\n    {line}")?;
        }
        if let Some(snippet) = &self.snippet {
            write!(f, "\n{snippet}")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  = hint: {hint}")?;
        }
        Ok(())
    }
}

impl SpecError {
    pub(crate) fn whole(source: &str, message: String, hint: Option<&str>) -> SpecError {
        SpecError {
            file: source.to_string(),
            line: None,
            column: None,
            path: String::new(),
            message,
            hint: hint.map(str::to_string),
            snippet: None,
        }
    }
}

/// The source lines up to `line` (secret values masked), with a caret under `column`.
pub(crate) fn snippet(text: &str, line: u64, column: u64) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let idx = (line as usize).saturating_sub(1);
    let width = (line + 1).to_string().len();
    let mut out = String::new();
    let first = idx.saturating_sub(2);
    for (i, l) in lines.iter().enumerate().take(idx + 1).skip(first) {
        // A secret's value written in the spec is not shown (the hook's log, its answer).
        out.push_str(&format!("{:>width$} | {}\n", i + 1, crate::mask_secret_values(l)));
    }
    out.push_str(&format!(
        "{:>width$} | {}^",
        "",
        " ".repeat((column as usize).saturating_sub(1))
    ));
    out
}

/// The 1-based line where the check named `name` starts (`- name: x`, `- { name: x, ...`).
pub(crate) fn check_line(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .position(|l| {
            let l = l
                .trim_start()
                .trim_start_matches("- ")
                .trim_start_matches('{')
                .trim_start();
            let Some(value) = l.strip_prefix("name:").or_else(|| l.strip_prefix("\"name\":")) else {
                return false;
            };
            let value = value.trim_start().trim_start_matches(['"', '\'']);
            // The whole name: `c1` is not the line of `c10`.
            value.strip_prefix(name).is_some_and(|rest| {
                rest.chars()
                    .next()
                    .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '-'))
            })
        })
        .map(|i| i as u64 + 1)
}
