//! The bounds that keep a hook inside a 128 MB Lambda, whatever its spec or its target's
//! answers contain.
//!
//! Each bound is checked where it can be: when the spec is read (`validate` shows the
//! break with its location) or, for what only an answer reveals, when a check runs (the
//! check fails and says which bound it met). Nothing a spec or an answer holds makes a hook
//! allocate without limit, so it always lives to report its status.

/// The largest spec file, in bytes.
pub const MAX_SPEC_BYTES: usize = 1024 * 1024;

/// The most runs of one repeated check (`repeat`).
pub const MAX_REPEAT: u32 = 10_000;

/// The most runs of a repeated check in flight at once (`concurrency`).
pub const MAX_CONCURRENCY: u32 = 32;

/// The most attempts of a retried check (`retry.attempts`).
pub const MAX_ATTEMPTS: u32 = 100;

/// The longest regular expression, in bytes of source.
pub const MAX_PATTERN_BYTES: usize = 4 * 1024;

/// The most heap one compiled regular expression may take.
pub const MAX_PATTERN_HEAP: usize = 1024 * 1024;

/// The most heap all compiled regular expressions of one spec may take together.
pub const MAX_SPEC_PATTERN_HEAP: usize = 4 * 1024 * 1024;

/// The largest answer a check reads: an invoke's payload or an HTTP body, in bytes.
/// A larger answer fails the check (the body is not read past the bound).
pub const MAX_BODY: usize = 1024 * 1024;

/// The most JSON values one query may yield, all matches and everything inside them
/// counted (`$..*` over a large answer yields many).
pub const MAX_QUERY_NODES: usize = 10_000;

/// The largest captured value (`capture:`), in bytes.
pub const MAX_CAPTURE_BYTES: usize = 64 * 1024;

/// The most bytes a spec's `vars` and captured values may hold together.
pub const MAX_VARS_BYTES: usize = 4 * 1024 * 1024;

/// The largest string, payload or body a spec's variables may render to, in bytes.
pub const MAX_RENDERED_BYTES: usize = 1024 * 1024;

/// The most bytes `validate` reads again to find every error of a spec that does not parse
/// (once per check): a large spec with many checks is re-read for its first checks only.
/// A hook reads its spec once, and reports its first error.
pub const MAX_REPARSE_BYTES: usize = 8 * 1024 * 1024;

/// The most unknown `{{variables}}` `validate` reports in one spec.
pub const MAX_VARIABLE_ERRORS: usize = 50;

/// The most redirects an HTTP check that opts in (`follow_redirects: true`) follows.
pub const MAX_REDIRECTS: usize = 5;

/// The most queries one metrics check asks of CloudWatch: what one `GetMetricData` call takes.
pub const MAX_METRIC_QUERIES: usize = 500;
