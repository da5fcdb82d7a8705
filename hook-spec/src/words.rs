//! How the spec's messages speak: the likely word for a misspelt one, and line breaks kept
//! through the YAML reader.

/// Marks a line break in a spec error's message on its way through the YAML reader, which
/// escapes control characters (a private-use character: no spec text means it).
pub(crate) const LINE_BREAK: char = '\u{E000}';

/// The closest of `options` to `word`, when it is close enough to be a likely typo.
pub fn suggest<'a>(word: &str, options: &[&'a str]) -> Option<&'a str> {
    options
        .iter()
        .map(|o| (levenshtein(&word.to_ascii_lowercase(), &o.to_ascii_lowercase()), *o))
        .filter(|(d, o)| *d <= 2.max(o.len() / 3) && *d < o.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, o)| o)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_words_only() {
        assert_eq!(suggest("matchs", crate::predicate::OPERATORS), Some("matches"));
        assert_eq!(suggest("expct", &["name", "expect"]), Some("expect"));
        assert_eq!(suggest("zzzzzz", crate::predicate::OPERATORS), None);
    }
}
