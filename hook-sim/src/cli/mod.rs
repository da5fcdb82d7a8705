//! The `hook-sim` commands that need more than a screen of code.

pub(crate) mod simulate;
