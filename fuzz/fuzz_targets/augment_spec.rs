//! Augmentation spec parser (`occlude::augment::spec`): `AugmentSpec::parse` and
//! `MethodSpec::parse` on arbitrary text.
//!
//! Round trip: a spec that parses prints (`Display`, the canonical form) to text that
//! parses back to an equal value, and that canonical text is a fixed point of
//! print ∘ parse.

#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use occlude::augment::spec::{AugmentSpec, MethodSpec};

fn augment_spec(text: &str) {
    let parsed = AugmentSpec::parse(text);
    common::report("AugmentSpec::parse", &parsed);
    let Ok(spec) = parsed else { return };
    let printed = spec.to_string();
    let again = AugmentSpec::parse(&printed)
        .unwrap_or_else(|e| panic!("{text:?} parsed to {spec:?}, printed as {printed:?}, which does not parse: {e:#}"));
    assert_eq!(again, spec, "{text:?} printed as {printed:?} parses to something else");
    assert_eq!(again.to_string(), printed, "the canonical form of {text:?} is not a fixed point");
    assert_eq!(printed.parse::<AugmentSpec>().ok().as_ref(), Some(&spec), "FromStr");
    if let Some(image) = &spec.image {
        assert!(image.is_image_level(), "{printed}: image slot holds {}", image.name());
    }
    if let Some(region) = &spec.region {
        assert!(!region.is_image_level(), "{printed}: region slot holds {}", region.name());
    }
    assert_eq!(spec.is_none(), printed == "none");
    let _ = spec.saliency();
    for (h, w) in [(1, 1), (28, 28), (32, 32), (224, 224), (7, 300)] {
        let _ = spec.check_image_size(h, w);
    }
}

fn method_spec(text: &str) {
    let parsed = MethodSpec::parse(text);
    common::report("MethodSpec::parse", &parsed);
    let Ok(method) = parsed else { return };
    method.validate().unwrap_or_else(|e| panic!("{text:?} parsed to {method:?} but does not validate: {e:#}"));
    let printed = method.to_string();
    let again = MethodSpec::parse(&printed).unwrap_or_else(|e| {
        panic!("{text:?} parsed to {method:?}, printed as {printed:?}, which does not parse: {e:#}")
    });
    assert_eq!(again, method, "{text:?} printed as {printed:?} parses to something else");
    assert_eq!(again.to_string(), printed, "the canonical form of {text:?} is not a fixed point");
    assert!(printed.starts_with(method.name()), "{printed:?} does not start with its name {}", method.name());
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    augment_spec(text);
    method_spec(text);
});
