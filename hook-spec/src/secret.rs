//! Which names hold secrets, and their values masked in a spec's own text: one rule for the
//! hook's redaction and for the lines a spec's load error quotes.

/// The mask a secret's value is shown as.
pub const MASK: &str = "***";

/// Whether a variable name looks like it holds a secret: it contains TOKEN, SECRET, KEY,
/// PASSWORD, PASSWD, PASSPHRASE, AUTH, CREDENTIAL, PRIVATE, SIGNATURE, SESSION or COOKIE,
/// in any case (`-` counts as `_`: `X-Api-Key` looks secret).
pub fn looks_secret(name: &str) -> bool {
    const WORDS: &[&str] = &[
        "TOKEN",
        "SECRET",
        "KEY",
        "PASSWORD",
        "PASSWD",
        "PASSPHRASE",
        "AUTH",
        "CREDENTIAL",
        "PRIVATE",
        "SIGNATURE",
        "SESSION",
        "COOKIE",
    ];
    let upper = name.to_ascii_uppercase();
    WORDS.iter().any(|w| upper.contains(w))
}

/// `line` of YAML or JSON with the value of every `key: value` whose key looks secret masked,
/// in block (`API_TOKEN: abc`) and flow (`{ API_TOKEN: abc, x: 1 }`, `"Authorization": "…"`)
/// forms. A value that spans lines (a block scalar `|`) keeps its continuation lines: the key
/// line says `|` and nothing of the value.
#[cfg(any(feature = "spec", test))]
pub(crate) fn mask_secret_values(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(colon) = rest.find(':') {
        let (before, after) = rest.split_at(colon);
        out.push_str(before);
        out.push(':');
        let after = &after[1..];
        let key = before
            .trim_end()
            .rsplit(|c: char| c.is_whitespace() || matches!(c, '{' | ',' | '[' | '-'))
            .next()
            .unwrap_or_default()
            .trim_matches(|c| c == '"' || c == '\'');
        // `key:` followed by a space or the end is a mapping key (not a URL's `https:`).
        let is_key = after.is_empty() || after.starts_with([' ', '\t']);
        if !(is_key && !key.is_empty() && looks_secret(key)) {
            rest = after;
            continue;
        }
        let value_start = after.len() - after.trim_start().len();
        out.push_str(&after[..value_start]);
        let value = &after[value_start..];
        let end = match value.chars().next() {
            Some(q @ ('"' | '\'')) => value[1..].find(q).map_or(value.len(), |i| i + 2),
            Some('|' | '>') | None => 0,
            Some(_) => value.find([',', '}', ']', '#']).unwrap_or(value.len()),
        };
        let masked = value[..end].trim_end();
        if !masked.is_empty() {
            out.push_str(MASK);
            out.push_str(&value[masked.len()..end]);
        }
        rest = &value[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_look_secret() {
        for n in ["API_TOKEN", "x-api-key", "Authorization", "db_password", "SESSION_ID"] {
            assert!(looks_secret(n), "{n}");
        }
        for n in ["NAME", "URL", "region"] {
            assert!(!looks_secret(n), "{n}");
        }
    }

    #[test]
    fn secret_values_are_masked_in_every_form_a_line_has() {
        for (line, shown) in [
            ("  API_TOKEN: s3cr3t-value", "  API_TOKEN: ***"),
            ("  API_TOKEN: \"s3cr3t, value\"  # why", "  API_TOKEN: ***  # why"),
            (
                "vars: { API_TOKEN: s3cr3t, name: x }",
                "vars: { API_TOKEN: ***, name: x }",
            ),
            (
                "headers: {\"Authorization\": 'Bearer abc', accept: json}",
                "headers: {\"Authorization\": ***, accept: json}",
            ),
            ("  - X-Api-Key: k3y", "  - X-Api-Key: ***"),
            ("  private_key: |", "  private_key: |"),
            ("  url: https://example.com/a:b", "  url: https://example.com/a:b"),
            ("  name: token", "  name: token"),
        ] {
            assert_eq!(mask_secret_values(line), shown, "{line}");
        }
    }
}
