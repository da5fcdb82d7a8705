//! Variables in spec strings: `${env:NAME}`, `{{name}}`, `{{deployment.id}}`,
//! `{{target.function}}`, `{{target.version}}`, `{{target.alias}}`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use crate::limits::{MAX_RENDERED_BYTES, MAX_VARS_BYTES};

/// A variable that could not be read or filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateError {
    /// `${` or `{{` without its end.
    Unclosed(String),
    /// `${...}` other than `${env:NAME}`.
    BadEnv(String),
    /// The environment variable is not set.
    EnvNotSet(String),
    /// No variable of that name (yet).
    Unknown {
        /// The name.
        name: String,
        /// The names known at that point.
        known: Vec<String>,
    },
    /// The rendered text would be larger than [`MAX_RENDERED_BYTES`].
    TooLarge,
    /// The spec's variables and captures together would hold more than [`MAX_VARS_BYTES`].
    TooManyValues,
}

impl std::error::Error for TemplateError {}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateError::Unclosed(s) => write!(f, "unclosed variable in `{s}`"),
            TemplateError::BadEnv(s) => write!(f, "`${{{s}}}` is no variable: write ${{env:NAME}}"),
            TemplateError::EnvNotSet(n) => write!(f, "environment variable {n} is not set (used as ${{env:{n}}})"),
            TemplateError::TooLarge => write!(
                f,
                "the variables fill in to more than {} KiB (variables that repeat other variables?)",
                MAX_RENDERED_BYTES / 1024
            ),
            TemplateError::TooManyValues => write!(
                f,
                "the spec's vars and captures hold more than {} KiB together",
                MAX_VARS_BYTES / 1024
            ),
            TemplateError::Unknown { name, known } => {
                write!(f, "unknown variable {{{{{name}}}}}")?;
                let options: Vec<&str> = known.iter().map(String::as_str).collect();
                if let Some(close) = crate::words::suggest(name, &options) {
                    write!(f, " (did you mean {{{{{close}}}}}?)")?;
                }
                if known.is_empty() {
                    write!(f, ": none is defined here")
                } else {
                    write!(f, ": known here are {}", known.join(", "))
                }
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Lit(String),
    Env(String),
    Var(String),
}

/// A parsed string with variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateText {
    parts: Vec<Part>,
}

impl TemplateText {
    /// Parses `text`.
    pub fn parse(text: &str) -> Result<TemplateText, TemplateError> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut rest = text;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix("${") {
                let end = after
                    .find('}')
                    .ok_or_else(|| TemplateError::Unclosed(text.to_string()))?;
                let inner = after[..end].trim();
                let name = inner
                    .strip_prefix("env:")
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .ok_or_else(|| TemplateError::BadEnv(inner.to_string()))?;
                parts.push(Part::Lit(std::mem::take(&mut lit)));
                parts.push(Part::Env(name.to_string()));
                rest = &after[end + 1..];
            } else if let Some(after) = rest.strip_prefix("{{") {
                let end = after
                    .find("}}")
                    .ok_or_else(|| TemplateError::Unclosed(text.to_string()))?;
                parts.push(Part::Lit(std::mem::take(&mut lit)));
                parts.push(Part::Var(after[..end].trim().to_string()));
                rest = &after[end + 2..];
            } else {
                let c = rest.chars().next().expect("not empty");
                lit.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
        parts.push(Part::Lit(lit));
        parts.retain(|p| !matches!(p, Part::Lit(s) if s.is_empty()));
        Ok(TemplateText { parts })
    }

    /// Whether the text has no variables.
    pub fn is_plain(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Lit(_)))
    }

    /// The environment variables it reads (`${env:NAME}`).
    pub fn env_names(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Env(n) => Some(n.as_str()),
            _ => None,
        })
    }

    /// The named variables it reads (`{{name}}`).
    pub fn var_names(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(n) => Some(n.as_str()),
            _ => None,
        })
    }

    /// Fills in the variables.
    pub fn render(&self, vars: &Vars) -> Result<String, TemplateError> {
        let mut budget = MAX_RENDERED_BYTES;
        self.render_within(vars, &mut budget)
    }

    /// Fills in the variables, taking the output's bytes from `budget`.
    fn render_within(&self, vars: &Vars, budget: &mut usize) -> Result<String, TemplateError> {
        let mut out = String::new();
        for p in &self.parts {
            let env;
            let piece = match p {
                Part::Lit(s) => s.as_str(),
                Part::Env(n) => {
                    env = (vars.env)(n).ok_or_else(|| TemplateError::EnvNotSet(n.clone()))?;
                    env.as_str()
                }
                Part::Var(n) => vars.values.get(n).ok_or_else(|| TemplateError::Unknown {
                    name: n.clone(),
                    known: vars.values.keys().cloned().collect(),
                })?,
            };
            *budget = budget.checked_sub(piece.len()).ok_or(TemplateError::TooLarge)?;
            out.push_str(piece);
        }
        Ok(out)
    }
}

type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// The values variables take: named values, and the environment.
#[derive(Clone)]
pub struct Vars {
    values: BTreeMap<String, String>,
    env: EnvLookup,
    /// Bytes of the values set with [`set_within`](Self::set_within).
    bounded_bytes: usize,
}

impl fmt::Debug for Vars {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vars")
            .field("values", &self.values)
            .finish_non_exhaustive()
    }
}

impl Default for Vars {
    fn default() -> Self {
        Vars::with_env(Arc::new(|name| std::env::var(name).ok()))
    }
}

impl Vars {
    /// Variables reading the environment through `env`.
    pub fn with_env(env: EnvLookup) -> Self {
        Vars {
            values: BTreeMap::new(),
            env,
            bounded_bytes: 0,
        }
    }

    /// Sets a named value.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.values.insert(name.into(), value.into());
    }

    /// Sets a value that a spec or an answer chose (`vars`, captures): all of them together
    /// hold at most [`MAX_VARS_BYTES`], or it is refused.
    pub fn set_within(&mut self, name: &str, value: String) -> Result<(), TemplateError> {
        let total = self.bounded_bytes + value.len();
        if total > MAX_VARS_BYTES {
            return Err(TemplateError::TooManyValues);
        }
        self.bounded_bytes = total;
        self.values.insert(name.to_string(), value);
        Ok(())
    }

    /// A named value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Fills in a string: at most [`MAX_RENDERED_BYTES`] of it.
    pub fn render(&self, text: &str) -> Result<String, TemplateError> {
        TemplateText::parse(text)?.render(self)
    }

    /// Fills in every string (and key) of a JSON value: at most [`MAX_RENDERED_BYTES`] of
    /// strings in all.
    pub fn render_json(&self, v: &Value) -> Result<Value, TemplateError> {
        let mut budget = MAX_RENDERED_BYTES;
        self.render_json_within(v, &mut budget)
    }

    fn render_json_within(&self, v: &Value, budget: &mut usize) -> Result<Value, TemplateError> {
        Ok(match v {
            Value::String(s) => Value::String(TemplateText::parse(s)?.render_within(self, budget)?),
            Value::Array(a) => Value::Array(
                a.iter()
                    .map(|v| self.render_json_within(v, budget))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| {
                        Ok((
                            TemplateText::parse(k)?.render_within(self, budget)?,
                            self.render_json_within(v, budget)?,
                        ))
                    })
                    .collect::<Result<_, TemplateError>>()?,
            ),
            other => other.clone(),
        })
    }

    /// Every named value, for redaction.
    pub fn values(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// An environment variable, as `${env:NAME}` reads it.
    pub fn env(&self, name: &str) -> Option<String> {
        (self.env)(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars() -> Vars {
        let mut v = Vars::with_env(Arc::new(|n| {
            (n == "API_URL").then(|| "https://api.example".to_string())
        }));
        v.set("target.version", "7");
        v.set("token", "abc");
        v
    }

    #[test]
    fn fills_env_and_named_values() {
        let v = vars();
        assert_eq!(
            v.render("${env:API_URL}/health?v={{target.version}}").unwrap(),
            "https://api.example/health?v=7"
        );
        assert_eq!(v.render("{{ token }}").unwrap(), "abc");
        assert_eq!(
            v.render_json(&json!({"t": ["{{token}}", 1]})).unwrap(),
            json!({"t": ["abc", 1]})
        );
        assert!(TemplateText::parse("plain").unwrap().is_plain());
    }

    #[test]
    fn explains_what_is_missing() {
        let v = vars();
        assert_eq!(
            v.render("${env:NOPE}").unwrap_err().to_string(),
            "environment variable NOPE is not set (used as ${env:NOPE})"
        );
        assert_eq!(
            v.render("{{missing}}").unwrap_err().to_string(),
            "unknown variable {{missing}}: known here are target.version, token"
        );
        assert!(
            TemplateText::parse("${env:X")
                .unwrap_err()
                .to_string()
                .contains("unclosed")
        );
        assert!(TemplateText::parse("{{x").unwrap_err().to_string().contains("unclosed"));
        assert!(
            TemplateText::parse("${HOME}")
                .unwrap_err()
                .to_string()
                .contains("write ${env:NAME}")
        );
    }
}
