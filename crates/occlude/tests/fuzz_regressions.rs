//! Inputs found by the cargo-fuzz targets (fuzz/, run by `.ci/fuzz`), kept as tests.
//! Each one asserts the behaviour the fuzz target checks: a clean `Err` (or the
//! documented result) rather than a panic or an invalid value. Every bug found so far
//! is fixed; a new one is added here as a failing test together with its fix.

use occlude::augment::spec::AugmentSpec;
use occlude::train::config::RunConfig;

/// A minimal valid run configuration followed by `extra` (a `[data.train_preprocess]`
/// section).
fn config_with(extra: &str) -> String {
    format!("epochs = 2\noutput_dir = \"out\"\n[data]\nkind = \"embedded\"\n{extra}\n[model]\narch = \"resnet8\"\n")
}

#[test]
fn a_finite_train_preprocess_is_accepted() {
    let text = config_with(
        "[data.train_preprocess]\nflip = true\ncrop = { kind = \"pad-crop\", pad = 4 }\n\
         normalization = { mean = [0.286], std = [0.353] }",
    );
    RunConfig::from_toml_str(&text, None).expect("a valid train_preprocess");
}

/// Found by the `run_config` target (property: an accepted config holds only finite
/// numbers). `RunConfig::validate` checks every float it knows to be finite, but not
/// `data.train_preprocess`, so NaN and infinities there are accepted. The loader's
/// `Preprocess::validate` later rejects a non-finite `std`, but never looks at
/// `mean` (a NaN mean makes every normalised pixel NaN) nor at an infinite
/// `ratio[1]` of `random-resized-crop`.
#[test]
fn non_finite_train_preprocess_values_are_rejected() {
    for section in [
        // Minimal input found: mean = [nan].
        "[data.train_preprocess]\nflip = true\ncrop = { kind = \"none\" }\nnormalization = { mean = [nan], std = [1.0] }",
        "[data.train_preprocess]\nflip = true\ncrop = { kind = \"none\" }\nnormalization = { mean = [inf], std = [1.0] }",
        "[data.train_preprocess]\nflip = true\ncrop = { kind = \"none\" }\nnormalization = { mean = [0.5], std = [inf] }",
        "[data.train_preprocess]\nflip = false\n\
         crop = { kind = \"random-resized-crop\", size = 32, scale = [0.08, 1.0], ratio = [0.75, inf] }\n\
         normalization = { mean = [0.5], std = [0.5] }",
    ] {
        let text = config_with(section);
        let result = RunConfig::from_toml_str(&text, None);
        assert!(result.is_err(), "accepted:\n{text}\n{result:?}");
    }
    // The same through a command-line override.
    let base = RunConfig::from_toml_str(&config_with(""), None).unwrap();
    let o = "data.train_preprocess={flip=true, crop={kind=\"none\"}, normalization={mean=[nan], std=[1.0]}}";
    assert!(base.with_overrides(&[o.to_string()]).is_err(), "override {o} accepted");
}

/// Found while writing the `augment_spec` target's seeds: `keep-randaugment` adds the
/// default `s=16` for selective-paste unless a pair starts with `s=` or `s =`, but
/// the key itself is compared after trimming, so `s  =16` (two spaces, or a tab) gets
/// the default added as well and is rejected with "selective-paste: s is given twice".
#[test]
fn keep_randaugment_accepts_spaces_before_the_equals_sign() {
    let expected = AugmentSpec::parse("keep-randaugment:s=16").unwrap();
    for text in ["keep-randaugment:s =16", "keep-randaugment:s  =16", "keep-randaugment:s\t=16"] {
        let parsed = AugmentSpec::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e:#}"));
        assert_eq!(parsed, expected, "{text:?}");
    }
}
