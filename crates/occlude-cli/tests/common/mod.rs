//! Helpers shared by the CLI's integration tests: spawn the built `occlude` binary and
//! check how it ended. Each test file includes this with `mod common;` (Cargo's layout
//! for shared test code: a subdirectory is not compiled as a test crate of its own).
#![allow(dead_code)] // Not every test file uses every helper.

use std::process::{Command, Output};

/// The `occlude` binary Cargo built for these tests.
pub fn occlude() -> Command {
    Command::new(env!("CARGO_BIN_EXE_occlude"))
}

/// Runs `cmd`, asserts that it succeeded (printing both streams if not) and returns its output.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("spawn occlude");
    assert!(
        out.status.success(),
        "occlude failed: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `cmd`, asserts that it failed and returns its standard error.
pub fn run_err(cmd: &mut Command) -> String {
    let out = cmd.output().expect("spawn occlude");
    assert!(
        !out.status.success(),
        "occlude should have failed\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Standard output parsed as one JSON value.
pub fn stdout_json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}
