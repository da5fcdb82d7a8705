//! hook-sdk's guard against `panic = "abort"`: a hook that aborts on a panic dies before it
//! reports its status, and CodeDeploy waits an hour for it. Building this crate with
//! `panic = "abort"` is a compile error; it has no dependencies, so cargo compiles it among
//! the first crates of a build and the error comes in seconds, before the AWS SDK compiles.
//!
//! `cargo lambda build --release` switches to `panic = "abort"` unless the profile says
//! otherwise: set `panic = "unwind"` under `[profile.release]`.
#![no_std]

#[cfg(panic = "abort")]
compile_error!(
    "hook-sdk needs panic = \"unwind\": a hook built with panic = \"abort\" dies without reporting \
     its status, and the deployment waits an hour. Set `panic = \"unwind\"` under [profile.release] \
     (and any profile you deploy from) in your workspace's Cargo.toml."
);
