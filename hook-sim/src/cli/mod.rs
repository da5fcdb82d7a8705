//! The `hook-sim` commands that need more than a screen of code.

pub(crate) mod audit;
pub(crate) mod simulate;

/// Reads a `KEY=VALUE` argument (an environment variable, a template parameter, a binary).
pub(crate) fn key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("`{s}` is not KEY=VALUE")),
    }
}

/// An error's message, then each cause it carries: `a: b: c`.
pub(crate) fn error_text(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}
