//! The crate's errors for handlers: [`CheckError`], what a handler returns when a check
//! fails, [`ensure!`](crate::ensure), and [`error_chain`]. Every module uses them from here,
//! so that nothing imports the check engine for its error type.

use std::fmt;

/// A failed check: a message for the deployment's log, with the chain of causes.
///
/// Any error converts into it with `?`, so a handler can use `?` on invokes, JSON
/// parsing and its own errors alike. Build one directly with [`CheckError::new`] or
/// [`ensure!`](crate::ensure).
pub struct CheckError {
    message: String,
}

impl CheckError {
    /// A failed check with this message.
    pub fn new(message: impl Into<String>) -> Self {
        CheckError {
            message: message.into(),
        }
    }

    /// The message, causes included.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CheckError({:?})", self.message)
    }
}

/// A [`CheckError`] as a `std::error::Error`, for `?` into `Box<dyn Error>` (CheckError itself
/// takes any error with `?`, so it cannot be one, as with `anyhow::Error`).
#[derive(Debug)]
struct BoxedCheckError(String);

impl fmt::Display for BoxedCheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BoxedCheckError {}

impl From<CheckError> for Box<dyn std::error::Error + Send + Sync + 'static> {
    fn from(e: CheckError) -> Self {
        Box::new(BoxedCheckError(e.message))
    }
}

impl From<CheckError> for Box<dyn std::error::Error + Send + 'static> {
    fn from(e: CheckError) -> Self {
        Box::new(BoxedCheckError(e.message))
    }
}

impl From<CheckError> for Box<dyn std::error::Error + 'static> {
    fn from(e: CheckError) -> Self {
        Box::new(BoxedCheckError(e.message))
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for CheckError {
    fn from(e: E) -> Self {
        CheckError::new(error_chain(&e))
    }
}

/// An error and all its sources, joined by `: `.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// Fails the check with a formatted message unless the condition holds.
///
/// ```
/// fn check(status: u16) -> Result<(), hook_sdk::CheckError> {
///     hook_sdk::ensure!(status == 200, "statusCode was {status}");
///     Ok(())
/// }
/// assert_eq!(check(500).unwrap_err().to_string(), "statusCode was 500");
/// ```
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return ::core::result::Result::Err($crate::CheckError::new(::std::format!($($arg)+)).into());
        }
    };
    ($cond:expr $(,)?) => {
        if !$cond {
            return ::core::result::Result::Err(
                $crate::CheckError::new(::std::concat!("condition failed: ", ::std::stringify!($cond))).into(),
            );
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_error_goes_into_a_boxed_std_error_with_its_message() {
        fn handler() -> Result<(), Box<dyn std::error::Error>> {
            Err(CheckError::new("statusCode was 500, expected 200"))?;
            Ok(())
        }
        fn sendable() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
            Err(CheckError::new("no"))?;
            Ok(())
        }
        assert_eq!(handler().unwrap_err().to_string(), "statusCode was 500, expected 200");
        assert_eq!(sendable().unwrap_err().to_string(), "no");
    }

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn keeps_the_cause_chain() {
        let e: CheckError = Outer(std::io::Error::other("inner")).into();
        assert_eq!(e.to_string(), "outer: inner");
    }

    #[test]
    fn ensure_without_message_names_the_condition() {
        fn f(x: i32) -> Result<(), CheckError> {
            crate::ensure!(x > 1);
            Ok(())
        }
        assert_eq!(f(0).unwrap_err().to_string(), "condition failed: x > 1");
        assert!(f(2).is_ok());
    }
}
