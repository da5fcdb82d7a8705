//! Keeping secrets out of logs and reports: secret values replaced by `***`, and the
//! userinfo, query values and fragments of URLs.
//!
//! What counts as secret: the values of `${env:NAME}`, `vars` and captures whose name looks
//! secret ([`looks_secret`]) or that a spec lists under `secrets:`, and the values of
//! credential-like request headers ([`is_credential_header`]). Pure: no I/O.

// What a secret is replaced by: one mask everywhere.
pub(crate) use hook_spec::MASK;

/// Secrets shorter than this are not searched for: replacing every `1` or `ab` in a report
/// would hide everything and protect little.
pub(crate) const MIN_SECRET_LEN: usize = 4;

/// Levels of JSON escaping a secret is searched for in: a JSON answer (1) whose `body` holds
/// JSON (2), shown inside a quoted string of a report (3).
const MAX_ESCAPES: usize = 3;

pub(crate) use hook_spec::looks_secret;

/// Whether an HTTP header carries credentials: `Authorization`, `Proxy-Authorization`,
/// `Cookie`, `Set-Cookie`, and any name that looks secret (`X-Api-Key`, `X-Auth-Token`, ...).
pub(crate) fn is_credential_header(name: &str) -> bool {
    looks_secret(&name.replace('-', "_"))
}

/// Secret values to hide from text.
#[derive(Debug, Clone, Default)]
pub(crate) struct Redactor {
    // Longest first, so that a secret containing another is replaced whole.
    secrets: Vec<String>,
}

impl Redactor {
    /// A redactor that knows no secret yet (it still redacts URLs).
    pub(crate) fn new() -> Self {
        Redactor::default()
    }

    /// Hides `value` from now on, in every form a report may show it in: as is, escaped once
    /// and twice as JSON (or Rust's debug) escapes it (a JSON answer shown inside a JSON
    /// string), percent-encoded, and each of its lines on its own (a PEM key shown line by
    /// line, or re-indented).
    pub(crate) fn add(&mut self, value: &str) {
        if value.len() < MIN_SECRET_LEN {
            return;
        }
        let mut pieces = vec![value.to_string()];
        if value.contains(['\n', '\r']) {
            pieces.extend(
                value
                    .lines()
                    .map(|l| l.trim())
                    .filter(|l| l.len() >= MIN_SECRET_LEN)
                    .map(str::to_string),
            );
        }
        for piece in pieces {
            let debug = format!("{piece:?}");
            let debug = debug[1..debug.len() - 1].to_string();
            let encoded = percent_encode(&piece);
            // Escaped once, then again for each level of JSON inside a JSON string (an API
            // Gateway `body`, shown in a report that quotes it): up to MAX_ESCAPES levels.
            let json = json_escaped(&piece);
            let mut escaped = vec![
                json.clone(),
                ascii_json_escaped(&piece),
                debug,
                // Escapes JSON allows and encoders use: `\/` (PHP, some Java), `\u003c` `\u003e`
                // `\u0026` (Go's HTML-safe encoding), `\u002f`.
                json.replace('/', "\\/"),
                json.replace('/', "\\u002f"),
                json.replace('/', "\\u002F"),
                json.replace('<', "\\u003c")
                    .replace('>', "\\u003e")
                    .replace('&', "\\u0026"),
                ascii_json_escaped(&piece).replace('/', "\\/"),
            ];
            escaped.dedup();
            let mut level = escaped.clone();
            for _ in 1..MAX_ESCAPES {
                level = level.iter().map(|f| json_escaped(f)).collect();
                escaped.extend(level.iter().cloned());
            }
            for form in std::iter::once(piece).chain(escaped).chain([encoded]) {
                if form.len() >= MIN_SECRET_LEN && !self.secrets.contains(&form) {
                    self.secrets.push(form);
                }
            }
        }
        self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    /// `text` redacted, then cut to at most `max` characters (saying how long it was): a cut
    /// never leaves a piece of a secret behind, since the secret is gone before the cut.
    pub(crate) fn clip(&self, text: &str, max: usize) -> String {
        let redacted = self.redact(text);
        if redacted.chars().count() <= max {
            redacted
        } else {
            let kept: String = redacted.chars().take(max).collect();
            format!("{kept}… ({} bytes)", text.len())
        }
    }

    /// `text` with every known secret and every URL's credentials and query values masked.
    pub(crate) fn redact(&self, text: &str) -> String {
        // Secrets first: masking a URL's query could break a secret's form and leave a piece.
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), MASK);
            }
        }
        redact_urls(&out)
    }

    /// Redacts `text` in place.
    pub(crate) fn redact_in_place(&self, text: &mut String) {
        let redacted = self.redact(text);
        if redacted != *text {
            *text = redacted;
        }
    }
}

/// `value` as it appears inside a JSON string, without the quotes.
fn json_escaped(value: &str) -> String {
    let quoted = serde_json::to_string(value).unwrap_or_default();
    quoted
        .get(1..quoted.len().saturating_sub(1))
        .unwrap_or_default()
        .to_string()
}

/// `value` inside a JSON string as ASCII-only encoders write it (Python's `json.dumps`):
/// `\u00e9`, surrogate pairs beyond the first plane.
fn ascii_json_escaped(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in json_escaped(value).chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    out
}

fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Masks the userinfo, the query values and the fragment of every `scheme://` URL in `text`:
/// `https://user:pw@host/p?token=abc&v=1#x` becomes `https://***@host/p?token=***&v=***#***`.
/// Paths and hosts stay readable.
pub(crate) fn redact_urls(text: &str) -> String {
    if !text.contains("://") {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        // The scheme: letters, digits, + - . right before `://`.
        let scheme_start = rest[..at]
            .char_indices()
            .rev()
            .take_while(|(_, c)| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
            .last()
            .map_or(at, |(i, _)| i);
        out.push_str(&rest[..scheme_start]);
        let after = &rest[at + 3..];
        let end = after
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '`' | '<' | '>' | ')' | '(' | '\\'))
            .unwrap_or(after.len());
        out.push_str(&rest[scheme_start..at + 3]);
        out.push_str(&redact_url_tail(&after[..end]));
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// Redacts what follows `scheme://`.
fn redact_url_tail(tail: &str) -> String {
    let authority_end = tail.find(['/', '?', '#']).unwrap_or(tail.len());
    let (authority, mut rest) = tail.split_at(authority_end);
    let mut out = String::new();
    match authority.rfind('@') {
        Some(i) => {
            out.push_str(MASK);
            out.push_str(&authority[i..]);
        }
        None => out.push_str(authority),
    }
    let (before_fragment, fragment) = match rest.find('#') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    rest = before_fragment;
    match rest.split_once('?') {
        Some((path, query)) => {
            out.push_str(path);
            out.push('?');
            let pairs: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, _)) => format!("{k}={MASK}"),
                    None if pair.is_empty() => String::new(),
                    None => MASK.to_string(),
                })
                .collect();
            out.push_str(&pairs.join("&"));
        }
        None => out.push_str(rest),
    }
    if let Some(f) = fragment {
        out.push('#');
        if !f.is_empty() {
            out.push_str(MASK);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_look_secret() {
        for n in [
            "TOKEN",
            "api_token",
            "DB_PASSWORD",
            "AuthHeader",
            "STRIPE_SECRET_KEY",
            "session_id",
        ] {
            assert!(looks_secret(n), "{n}");
        }
        for n in ["API_URL", "REGION", "name", "TARGET_VERSION"] {
            assert!(!looks_secret(n), "{n}");
        }
        for h in [
            "Authorization",
            "cookie",
            "Set-Cookie",
            "X-Api-Key",
            "x-auth-token",
            "Proxy-Authorization",
        ] {
            assert!(is_credential_header(h), "{h}");
        }
        for h in ["content-type", "accept", "x-request-id"] {
            assert!(!is_credential_header(h), "{h}");
        }
    }

    #[test]
    fn urls_lose_credentials_query_values_and_fragments() {
        assert_eq!(
            redact_urls("error sending request for url (http://u:pw@127.0.0.1:9/api?token=TOPSECRET&v=2#frag)"),
            "error sending request for url (http://***@127.0.0.1:9/api?token=***&v=***#***)"
        );
        assert_eq!(
            redact_urls("GET https://api.example/health and http://x/?a"),
            "GET https://api.example/health and http://x/?***"
        );
        assert_eq!(redact_urls("no url here"), "no url here");
        assert_eq!(redact_urls("\"https://h/p?q=1\""), "\"https://h/p?q=***\"");
    }

    #[test]
    fn secrets_in_every_form() {
        let mut r = Redactor::new();
        r.add("TOPSECRET");
        r.add("a b\"c");
        r.add("ab");
        assert_eq!(r.redact("token TOPSECRET in /p/TOPSECRET"), "token *** in /p/***");
        assert_eq!(r.redact(r#"{"x":"a b\"c"}"#), r#"{"x":"***"}"#);
        assert_eq!(r.redact("path a%20b%22c"), "path ***");
        assert_eq!(r.redact("ab stays"), "ab stays", "too short to search for");
    }

    #[test]
    fn escaped_twice_line_by_line_and_ascii_forms_are_hidden() {
        let secret = "-----BEGIN KEY-----\nMIIEpAIBAAKCAQEA\"q\\z\nsécret-line\n-----END KEY-----";
        let mut r = Redactor::new();
        r.add(secret);
        let once = serde_json::to_string(secret).unwrap();
        let twice = serde_json::to_string(&once).unwrap();
        for shown in [secret.to_string(), once, twice, format!("{secret:?}")] {
            let out = r.redact(&format!("body: {shown} end"));
            for piece in ["MIIEpAIBAAKCAQEA", "sécret", "q\\z"] {
                assert!(!out.contains(piece), "{piece} in {out}");
            }
        }
        // Re-indented, each line alone.
        let indented = secret
            .lines()
            .map(|l| format!("    {l}"))
            .collect::<Vec<_>>()
            .join("\r\n");
        assert!(!r.redact(&indented).contains("MIIEpAIBAAKCAQEA"));
        // As an ASCII-only JSON encoder writes it.
        assert_eq!(r.redact(r#"{"k":"s\u00e9cret-line"}"#), r#"{"k":"***"}"#);
    }

    #[test]
    fn escapes_json_allows_for_slashes_and_html_are_hidden() {
        let mut r = Redactor::new();
        r.add("tok/en+abc/def<&>");
        for shown in [
            r#"{"t":"tok\/en+abc\/def<&>"}"#,
            r#"{"t":"tok\u002fen+abc\u002fdef<&>"}"#,
            r#"{"t":"tok/en+abc/def\u003c\u0026\u003e"}"#,
            r#"{"b":"{\"t\":\"tok\\/en+abc\\/def<&>\"}"}"#,
        ] {
            let out = r.redact(shown);
            assert!(!out.contains("abc"), "{shown} → {out}");
        }
    }

    #[test]
    fn a_clip_never_leaves_a_piece_of_a_secret() {
        let mut r = Redactor::new();
        r.add("TOPSECRET-ABCDEFGH");
        for at in 0..40 {
            let text = format!("{}TOPSECRET-ABCDEFGH and more text after it", "x".repeat(at));
            let shown = r.clip(&text, 20);
            assert!(!shown.contains("TOPS"), "{shown}");
            assert!(shown.ends_with(&format!("… ({} bytes)", text.len())), "{shown}");
        }
        assert_eq!(r.clip("short", 20), "short");
    }
}
