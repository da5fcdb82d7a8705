//! What a field's parser says when it refuses its text.

/// A value the spec does not take, and why: `Dur::parse("5")` gives "`5` has no unit: write
/// 5ms or 5s". The loader places it at its line and column ([`SpecError`](crate::SpecError)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{why}")]
pub struct Invalid {
    why: String,
}

impl Invalid {
    /// Why the value is refused, and what to write instead.
    pub fn why(&self) -> &str {
        &self.why
    }
}

impl From<String> for Invalid {
    fn from(why: String) -> Self {
        Invalid { why }
    }
}

impl From<&str> for Invalid {
    fn from(why: &str) -> Self {
        Invalid { why: why.to_string() }
    }
}

impl From<Invalid> for String {
    fn from(e: Invalid) -> Self {
        e.why
    }
}

/// `Invalid` from a format string, as `format!` makes a `String`.
macro_rules! invalid {
    ($($arg:tt)*) => {
        $crate::Invalid::from(format!($($arg)*))
    };
}
pub(crate) use invalid;
