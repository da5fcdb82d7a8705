//! The faults an audit rehearses: the default catalogue, or a YAML file of the user's, read
//! with errors that point at the line.

use std::path::Path;

use hook_sim::{FaultKind, VersionFault};
use serde::{Deserialize, Serialize};

/// One fault of a catalogue, with the name its verdict goes by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Entry {
    /// Unique within the catalogue: a JUnit test case and `--require caught=NAME` use it.
    pub(crate) name: String,
    /// The fault, spelled as `--fault` spells it.
    #[serde(with = "spelled")]
    pub(crate) fault: VersionFault,
}

mod spelled {
    use hook_sim::VersionFault;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(f: &VersionFault, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(f)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<VersionFault, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The default catalogue: what goes wrong with a new version, from loud to quiet.
pub(crate) const DEFAULT: &[(&str, &str)] = &[
    ("every invocation fails", "error"),
    ("errors on 20 %", "error,rate=20%"),
    ("errors on 5 %", "error,rate=5%"),
    ("errors on 1 %", "error,rate=1%"),
    ("100 ms slower", "delay=100ms"),
    ("1 s slower", "delay=1s"),
    ("runs past its timeout", "timeout"),
    ("HTTP 500 on half the answers", "http-status=500,rate=50%"),
    ("HTTP 500 on 5 %", "http-status=500,rate=5%"),
    ("every cold start fails", "init-error"),
    ("a wrong answer", "body=$.body.message=\"Goodbye\""),
    ("errors from 2 minutes into the canary", "error,after=2m"),
];

/// The default catalogue's entries.
pub(crate) fn default_entries() -> Vec<Entry> {
    DEFAULT
        .iter()
        .map(|(name, fault)| Entry {
            name: (*name).to_string(),
            fault: fault.parse().expect("the default catalogue is spelled right"),
        })
        .collect()
}

/// The most faults a catalogue may hold.
const MAX_ENTRIES: usize = 200;
/// The largest catalogue file read.
const MAX_BYTES: u64 = 1 << 20;

/// A catalogue file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    version: u32,
    faults: Vec<FileEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEntry {
    name: Option<String>,
    fault: String,
}

/// A catalogue file that cannot be used: where, and what to write instead.
#[derive(Debug, thiserror::Error)]
#[error("{file}{}: {message}{}", line.map(|l| format!(":{l}")).unwrap_or_default(), snippet.as_deref().map(|s| format!("\n{s}")).unwrap_or_default())]
pub(crate) struct CatalogueError {
    file: String,
    line: Option<usize>,
    message: String,
    snippet: Option<String>,
}

/// The source line `line` (1-based) with a caret under `column` (1-based).
fn snippet(text: &str, line: usize, column: usize) -> Option<String> {
    let source = text.lines().nth(line.checked_sub(1)?)?;
    Some(format!(
        "{line:>4} | {source}\n     | {}^",
        " ".repeat(column.saturating_sub(1))
    ))
}

/// Reads a catalogue file.
pub(crate) fn load(path: &Path) -> Result<Vec<Entry>, CatalogueError> {
    use std::io::Read as _;
    let file = path.display().to_string();
    let whole = |message: String| CatalogueError {
        file: file.clone(),
        line: None,
        message,
        snippet: None,
    };
    let meta = std::fs::metadata(path).map_err(|e| whole(format!("cannot read the catalogue: {e}")))?;
    if !meta.is_file() {
        return Err(whole("not a file: give the YAML file of your faults".into()));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| whole(format!("cannot read the catalogue: {e}")))?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(whole(format!(
            "larger than {MAX_BYTES} bytes: a catalogue lists faults, not data"
        )));
    }
    let text = String::from_utf8(bytes).map_err(|_| whole("not UTF-8 text".into()))?;
    parse(&text, &file)
}

/// Reads a catalogue from its text; `file` names it in errors.
pub(crate) fn parse(text: &str, file: &str) -> Result<Vec<Entry>, CatalogueError> {
    let read: File = serde_saphyr::from_str(text).map_err(|e| {
        let message = e.to_string();
        // The parser's message names the line and column: point at them.
        let (line, column) = location(&message).unzip();
        CatalogueError {
            file: file.to_string(),
            line,
            message: format!(
                "{message}\n  = hint: a catalogue is `version: 1` and `faults:`, a list of `- fault: SPELLING` \
                 with an optional `name:` (see `hook-sim audit --help`)"
            ),
            snippet: line.and_then(|l| snippet(text, l, column.unwrap_or(1))),
        }
    })?;
    let at = |needle: &str, from: usize, message: String| {
        let found = text
            .lines()
            .enumerate()
            .skip(from)
            .find_map(|(i, l)| l.find(needle).map(|c| (i + 1, c + 1)));
        CatalogueError {
            file: file.to_string(),
            line: found.map(|(l, _)| l),
            message,
            snippet: found.and_then(|(l, c)| snippet(text, l, c)),
        }
    };
    if read.version != 1 {
        return Err(at(
            "version",
            0,
            format!("version {}: this hook-sim reads catalogue version 1", read.version),
        ));
    }
    if read.faults.is_empty() {
        return Err(at(
            "faults",
            0,
            "faults: the list is empty: give at least one fault".into(),
        ));
    }
    if read.faults.len() > MAX_ENTRIES {
        return Err(at(
            "faults",
            0,
            format!(
                "faults: {} of them, more than {MAX_ENTRIES}: split the catalogue (each fault is rehearsed over every seed)",
                read.faults.len()
            ),
        ));
    }
    let mut entries: Vec<Entry> = Vec::new();
    let mut cursor = 0;
    for (i, e) in read.faults.into_iter().enumerate() {
        // The entry's line: the first mention of its spelling after the previous entry's.
        let line = text
            .lines()
            .enumerate()
            .skip(cursor)
            .find(|(_, l)| l.contains(e.fault.trim()))
            .map_or(cursor, |(n, _)| n);
        cursor = line + 1;
        let fault: VersionFault = e
            .fault
            .parse()
            .map_err(|err: hook_sim::FaultParseError| at(e.fault.trim(), line, format!("faults[{i}]: {err}")))?;
        let name = e
            .name
            .map(|n| n.trim().to_string())
            .unwrap_or_else(|| fault.to_string());
        if name.is_empty() || name.len() > 200 || name.chars().any(char::is_control) {
            return Err(at(
                e.fault.trim(),
                line,
                format!("faults[{i}]: give a name of 1 to 200 characters, on one line"),
            ));
        }
        if let Some(first) = entries.iter().position(|x| x.name == name) {
            return Err(at(
                e.fault.trim(),
                line,
                format!("faults[{i}]: the name {name:?} is taken by faults[{first}]: give each fault its own name"),
            ));
        }
        entries.push(Entry { name, fault });
    }
    Ok(entries)
}

/// `line L column C` in a parser's message.
fn location(message: &str) -> Option<(usize, usize)> {
    let number_after = |key: &str| -> Option<usize> {
        let i = message.find(key)? + key.len();
        let digits: String = message[i..]
            .trim_start()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    };
    Some((number_after("line")?, number_after("column").unwrap_or(1)))
}

/// What a fault does to a function, in a sentence.
pub(crate) fn describe(fault: &VersionFault) -> String {
    let every = fault.share >= 1.0;
    let (who, s) = if every {
        ("every invocation".to_string(), "s")
    } else {
        (
            format!("{} % of its invocations", (fault.share * 1000.0).round() / 10.0),
            "",
        )
    };
    let what = match &fault.kind {
        FaultKind::Error => format!("{who} fail{s} as a function error"),
        FaultKind::Delay(d) => format!("{who} take{s} {} ms longer", d.as_millis()),
        FaultKind::HttpStatus(c) => format!("{who} answer{s} HTTP {c} (no function error)"),
        FaultKind::InitError => "every cold start fails, and with it every invocation".to_string(),
        FaultKind::Timeout => format!("{who} run{s} past the timeout"),
        FaultKind::Body { path, value } => format!("{who} answer{s} {value} at {path}"),
    };
    match fault.after {
        Some(after) => format!(
            "{what}, from {} after the version first serves traffic through the alias",
            hook_sim::duration::human(after)
        ),
        None => what,
    }
}

/// The JSON Schema of a catalogue file.
pub(crate) const SCHEMA: &str = include_str!("../../../audit-catalogue.schema.json");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_catalogue_reads_and_names_twelve_faults() {
        let entries = default_entries();
        assert_eq!(entries.len(), 12);
        let kinds: std::collections::BTreeSet<&str> = entries.iter().map(|e| e.fault.kind.name()).collect();
        assert_eq!(kinds.len(), 6, "every kind: {kinds:?}");
        assert!(entries.iter().any(|e| e.fault.after.is_some()), "a late fault");
    }

    #[test]
    fn a_fault_reads_as_a_sentence() {
        let d = |s: &str| describe(&s.parse().unwrap());
        assert_eq!(d("error"), "every invocation fails as a function error");
        assert_eq!(d("delay=1s,rate=50%"), "50 % of its invocations take 1000 ms longer");
        assert_eq!(
            d("error,after=2m"),
            "every invocation fails as a function error, from 2 min after the version first serves traffic through the alias"
        );
    }

    #[test]
    fn a_file_reads_with_names_given_or_spelled() {
        let text = "version: 1\nfaults:\n  - fault: error,rate=5%\n  - name: slow\n    fault: delay=1s\n";
        let entries = parse(text, "c.yaml").unwrap();
        assert_eq!(entries[0].name, "error,rate=5%");
        assert_eq!(entries[1].name, "slow");
        assert_eq!(entries[1].fault.to_string(), "delay=1s");
    }

    #[test]
    fn errors_point_at_the_line_and_say_what_to_write() {
        let text = "version: 1\nfaults:\n  - fault: error\n  - name: bad\n    fault: erorr,rate=5%\n";
        let e = parse(text, "c.yaml").unwrap_err().to_string();
        assert!(
            e.starts_with("c.yaml:5: faults[1]: fault \"erorr,rate=5%\": unknown fault"),
            "{e}"
        );
        assert!(
            e.contains("   5 |     fault: erorr,rate=5%\n     |            ^"),
            "{e}"
        );

        let e = parse("version: 1\nfaults:\n  - fault: error\n    rate: 5%\n", "c.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("rate"), "{e}");
        assert!(e.contains("c.yaml:"), "{e}");
        assert!(e.contains("= hint: a catalogue is `version: 1`"), "{e}");

        let e = parse("version: 2\nfaults: [{fault: error}]\n", "c.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("c.yaml:1: version 2"), "{e}");
        let e = parse("version: 1\nfaults: []\n", "c.yaml").unwrap_err().to_string();
        assert!(e.contains("the list is empty"), "{e}");
        let e = parse(
            "version: 1\nfaults:\n  - {name: a, fault: error}\n  - {name: a, fault: timeout}\n",
            "c.yaml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("c.yaml:4: faults[1]: the name \"a\" is taken"), "{e}");
    }

    #[test]
    fn the_schema_is_json_and_knows_every_member() {
        let schema: serde_json::Value = serde_json::from_str(SCHEMA).unwrap();
        assert_eq!(schema["required"], serde_json::json!(["version", "faults"]));
        let entry = &schema["properties"]["faults"]["items"]["properties"];
        assert!(entry["fault"].is_object() && entry["name"].is_object());
    }
}
