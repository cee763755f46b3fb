//! Shared by the fuzz targets (included with `#[path]`).

use std::sync::OnceLock;

/// With `OCCLUDE_FUZZ_VERBOSE=1`, the targets say what they made of each input:
/// `fuzz/target/x86_64-unknown-linux-gnu/release/<target> fuzz/seeds/<target>/*`
/// then shows which seeds are accepted, and why the others are rejected.
pub fn verbose() -> bool {
    static V: OnceLock<bool> = OnceLock::new();
    *V.get_or_init(|| std::env::var_os("OCCLUDE_FUZZ_VERBOSE").is_some_and(|v| v != "0"))
}

/// Prints `what: accepted` or `what: rejected: <error>` when [`verbose`]; always
/// renders the error, so that formatting it is fuzzed too.
pub fn report<T>(what: &str, result: &anyhow::Result<T>) {
    match result {
        Ok(_) if verbose() => eprintln!("{what}: accepted"),
        Ok(_) => {}
        Err(e) => {
            let msg = format!("{e:#}");
            if verbose() {
                eprintln!("{what}: rejected: {msg}");
            }
        }
    }
}
