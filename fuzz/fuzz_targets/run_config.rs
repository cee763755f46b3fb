//! Run-config loader (`occlude::train::config::RunConfig`).
//!
//! Input: TOML text, then optionally NUL-separated `key.path=value` overrides
//! (`text\0optimizer.lr=0.05\0epochs=3`). NUL cannot occur in TOML, so seeds that are
//! plain config files are read whole.
//!
//! Properties: no panics; an accepted config validates, holds only finite numbers,
//! saves (`to_toml`) and loads back equal (`from_value`, as `occlude` reloads a
//! resolved config); overrides either fail cleanly or give a config with the same
//! properties, and no overrides is the identity.

#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use occlude::train::config::RunConfig;
use std::path::Path;

/// The key path of the first NaN or infinite number in `v`, if any.
fn non_finite(v: &toml::Value, path: &str) -> Option<String> {
    match v {
        toml::Value::Float(f) if !f.is_finite() => Some(format!("{path} = {f}")),
        toml::Value::Array(items) => items.iter().enumerate().find_map(|(i, x)| non_finite(x, &format!("{path}[{i}]"))),
        toml::Value::Table(t) => t.iter().find_map(|(k, x)| non_finite(x, &format!("{path}.{k}"))),
        _ => None,
    }
}

/// An accepted config must validate, hold no NaN or infinite number (every number the
/// validation checks must be finite; NaN would also break the equality below), and
/// survive a save/load round trip.
fn check_accepted(cfg: &RunConfig, what: &str) {
    cfg.validate().unwrap_or_else(|e| panic!("{what}: accepted but does not validate: {e:#}"));
    let saved = cfg.to_toml().unwrap_or_else(|e| panic!("{what}: accepted but cannot be saved: {e:#}"));
    let tree: toml::Value =
        toml::from_str(&saved).unwrap_or_else(|e| panic!("{what}: saved form is not TOML: {e}\n{saved}"));
    if let Some(bad) = non_finite(&tree, "") {
        panic!("{what}: accepted a non-finite number: {bad}\n{saved}");
    }
    let back = RunConfig::from_value(tree, None)
        .unwrap_or_else(|e| panic!("{what}: saved form does not load back: {e:#}\n{saved}"));
    assert_eq!(&back, cfg, "{what}: saved form loads back different\n{saved}");
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else { return };
    let mut parts = input.split('\0');
    let text = parts.next().unwrap_or_default();
    let overrides: Vec<String> = parts.map(str::to_string).collect();

    let parsed = RunConfig::from_toml_str(text, Some(Path::new("/cfg")));
    common::report("from_toml_str", &parsed);
    let Ok(cfg) = parsed else {
        // Without a base directory the same text is rejected too.
        assert!(RunConfig::from_toml_str(text, None).is_err(), "rejected with a base directory but not without");
        return;
    };
    check_accepted(&cfg, "config");
    let unresolved = RunConfig::from_toml_str(text, None).expect("accepted with a base directory but not without");
    check_accepted(&unresolved, "config without base");

    assert_eq!(cfg.with_overrides(&[]).expect("no overrides"), cfg, "with_overrides(&[]) changed the config");
    let over = cfg.with_overrides(&overrides);
    common::report(&format!("with_overrides({overrides:?})"), &over);
    if let Ok(over) = over {
        check_accepted(&over, "overridden config");
    }
});
