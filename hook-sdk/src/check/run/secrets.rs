//! The secrets of a run: what its report must never show.

use crate::assert::Observation;
use crate::redact::{Redactor, is_credential_header, looks_secret};
use crate::spec::{Capture, Check, Spec, TemplateText, Vars};

/// The secrets of a run: what its report must never show.
pub(super) struct Secrets {
    listed: Vec<String>,
    pub(super) redactor: Redactor,
}

impl Secrets {
    /// The values of the secret environment variables the spec reads.
    pub(super) fn new(spec: &Spec, vars: &Vars) -> Secrets {
        let mut s = Secrets {
            listed: spec.secrets.clone(),
            redactor: Redactor::new(),
        };
        // Every string that may read the environment: what is sent, and what is expected.
        let mut texts: Vec<&str> = spec.checks.iter().flat_map(Check::templates).collect();
        texts.extend(spec.checks.iter().flat_map(|c| c.expect.templates()));
        texts.extend(spec.vars.values().map(String::as_str));
        // Values given to the run (`--var NAME=VALUE`, a hook's own).
        for (name, value) in vars.values() {
            if looks_secret(name) || s.listed.iter().any(|l| l == name) {
                s.redactor.add(value);
            }
        }
        for text in texts {
            if let Ok(t) = TemplateText::parse(text) {
                for name in t.env_names() {
                    if (looks_secret(name) || s.listed.iter().any(|l| l == name))
                        && let Some(v) = vars.env(name)
                    {
                        s.redactor.add(&v);
                    }
                }
            }
        }
        s
    }

    /// The redactor for what `check` shows of `obs`: the secrets known, and those its captures
    /// will take from `obs`, so that no piece of one is shown before it is captured.
    pub(super) fn with_captures(&self, check: &Check, obs: &Observation) -> std::borrow::Cow<'_, Redactor> {
        let secret = |name: &str, capture: &Capture| {
            looks_secret(name)
                || self.listed.iter().any(|l| l == name)
                || matches!(capture, Capture::Header(h) if is_credential_header(h))
        };
        let mut out = std::borrow::Cow::Borrowed(&self.redactor);
        for (name, capture) in &check.capture {
            if secret(name, capture)
                && let Ok(v) = obs.captured(capture)
            {
                out.to_mut().add(&v);
            }
        }
        out
    }

    /// A `vars` entry or a capture was set: hide it when its name says it is secret.
    pub(super) fn named(&mut self, name: &str, value: &str) {
        if looks_secret(name) || self.listed.iter().any(|l| l == name) {
            self.redactor.add(value);
        }
    }
}
