use super::*;

fn parse(s: &str) -> AugmentSpec {
    AugmentSpec::parse(s).unwrap_or_else(|e| panic!("{s}: {e:#}"))
}

fn err(s: &str) -> String {
    format!("{:#}", AugmentSpec::parse(s).unwrap_err())
}

/// Parses, prints, parses again: equal values, and the canonical text is a fixed point.
fn round_trip(s: &str) -> AugmentSpec {
    let spec = parse(s);
    let printed = spec.to_string();
    let again = parse(&printed);
    assert_eq!(spec, again, "{s} -> {printed}");
    assert_eq!(again.to_string(), printed, "{s}: the canonical form is not a fixed point");
    spec
}

#[test]
fn examples_parse_and_print_back() {
    for s in [
        "cutout:n=6,s=56",
        "cutout",
        "hide-and-seek:g=4,p_keep_patch=0.5",
        "randaugment:n=2,m=9",
        "random-erasing:p=0.5,fill=0.25",
        "cutmix:alpha=1",
        "gridmask:d1=96,d2=224,r=0.6",
        "autoaugment:policy=cifar10,m=24",
        "autoaugment:policy=cifar10+cutout:n=1,s=16",
        "keep-cutout:n=1,s=16",
        "keep-cutout",
        "keep-cutout:s=16,tau=0.4,saliency=low-res",
        "keep-cutout:s=16,saliency_bn=batch",
        "keep-random-erasing:p=0.5",
        "keep-cutmix:alpha=1,saliency=early-loss",
        "keep-randaugment:n=2,m=9,s=16",
        "keep-randaugment:n=2,m=9",
        "keep-autoaugment:policy=cifar10,tau=0.6,saliency=vanilla",
        "keep-autoaugment:policy=cifar10,saliency-bn=batch",
        "randaugment:n=3,m=15+selective-paste:s=8",
        "saliency-occlusion:s=56,jitter=16,saliency=gradxact:layer3.0.conv1",
        "saliency-occlusion",
        "saliency-occlusion:saliency_bn=running",
        // Chains.
        "keep-autoaugment:policy=cifar10+cutout:n=1,s=16",
        "autoaugment:policy=cifar10+cutout:s=16+selective-paste",
        "randaugment+keep-cutout:s=8+selective-paste:s=8",
        "keep-randaugment:n=1,m=6+hide-and-seek:g=4",
    ] {
        round_trip(s);
    }
    assert_eq!(parse("cutout:n=6,s=56").region, Some(MethodSpec::Cutout { n: 6, s: Some(56), fill: FillSpec::Zero }));
    assert!(parse("none").is_none());
    let keep = parse("keep-randaugment:n=2,m=9,s=16");
    assert_eq!(keep, parse("randaugment:n=2,m=9+selective-paste:s=16,tau=0.6"));
    assert_eq!(keep.region, None);
    assert_eq!(keep.saliency(), Some(&SaliencyMethod::Vanilla));
    assert_eq!(keep.saliency_bn(), BnStats::Running);
    let cut = parse("keep-cutout:s=16").region.unwrap();
    assert_eq!(
        cut,
        MethodSpec::SelectiveCut {
            base: Box::new(MethodSpec::Cutout { n: 1, s: Some(16), fill: FillSpec::Zero }),
            tau: 0.6,
            saliency: SaliencyMethod::Vanilla,
            bn: BnStats::Running,
        }
    );
    assert_eq!(cut.name(), "keep-cutout");
    assert_eq!(parse("keep-cutmix:saliency_bn=batch").saliency_bn(), BnStats::Batch);
    let re = parse("random-erasing").region.unwrap();
    assert_eq!(
        re,
        MethodSpec::RandomErasing { p: 0.5, sl: 0.02, sh: 0.4, r1: 0.3, r2: 3.3, attempts: 10, fill: FillSpec::Random }
    );
    // Defaults are printed as left out: specs written before them print as they did.
    assert_eq!(parse("keep-cutout:s=16").to_string(), "keep-cutout:n=1,s=16,fill=zero,tau=0.6,saliency=vanilla");
    assert_eq!(parse("cutout").to_string(), "cutout:n=1,fill=zero");
}

#[test]
fn keep_autoaugment_in_the_cifar_setting_is_policy_then_cutout_then_paste() {
    // seed 003 follows AutoAugment's CIFAR training, which appends Cutout-16 to the
    // policy: KeepAutoAugment there pastes an important region of the original back
    // over policy + Cutout; the baseline is policy + Cutout alone.
    let keep = round_trip("keep-autoaugment:policy=cifar10+cutout:n=1,s=16");
    let spelled = parse("autoaugment:policy=cifar10+cutout:n=1,s=16+selective-paste");
    assert_eq!(keep, spelled);
    assert!(matches!(keep.image, Some(MethodSpec::AutoAugment { .. })));
    assert_eq!(keep.region, Some(MethodSpec::Cutout { n: 1, s: Some(16), fill: FillSpec::Zero }));
    assert!(matches!(keep.paste, Some(MethodSpec::SelectivePaste { s: None, tau, .. }) if tau == 0.6));
    let names: Vec<&str> = keep.methods().map(MethodSpec::name).collect();
    assert_eq!(names, ["autoaugment", "cutout", "selective-paste"], "the order they are applied");
    assert_eq!(
        keep.to_string(),
        "autoaugment:policy=cifar10,fill=0+cutout:n=1,s=16,fill=zero+selective-paste:tau=0.6,saliency=vanilla"
    );
    let baseline = round_trip("autoaugment:policy=cifar10+cutout:n=1,s=16");
    assert_eq!((baseline.image, baseline.region, baseline.paste), (keep.image.clone(), keep.region.clone(), None));
}

#[test]
fn bad_specs_get_errors_naming_the_field() {
    for (spec, want) in [
        ("cutout:n=0,s=8", "n (number of squares) must be at least 1"),
        ("cutout:n=2,s=0", "s (side of the squares) must be at least 1"),
        ("hide-and-seek:p_keep_patch=1.5", "p_keep_patch must be in [0, 1], got 1.5"),
        ("random-erasing:p=-0.1", "p must be in [0, 1]"),
        ("random-erasing:sl=0.5,sh=0.1", "sl <= sh"),
        ("cutmix:alpha=0", "alpha"),
        ("randaugment:m=31", "m must be in [0, 30]"),
        ("randaugment:n=0", "n (ops per image)"),
        ("cutout:n=1,s=8,size=3", "unknown key \"size\""),
        ("cutout:n=x,s=8", "n must be a non-negative integer"),
        ("blur:k=3", "unknown augmentation \"blur\""),
        ("cutout:s=8+hide-and-seek", "at most one region-level method"),
        ("cutout:s=8+randaugment", "must come first"),
        ("gridmask:d1=10", "d2"),
        ("autoaugment:policy=svhn", "policy"),
        ("cutout:n=1,s=8,fill=grey", "fill: expected zero, random or a number"),
        ("selective-paste:s=8", "after an image-level method"),
        ("keep-hide-and-seek", "selective-cut applies to cutout, random-erasing and cutmix"),
        ("keep-cutout:s=8,tau=1.5", "tau must be in [0, 1], got 1.5"),
        ("keep-cutout:s=8,saliency=smoothgrad", "unknown saliency method"),
        ("keep-cutout:saliency_bn=frozen", "saliency_bn"),
        ("saliency-occlusion:t=0", "t (stride of the box filter)"),
        ("keep-randaugment:n=2,m=99", "m must be in [0, 30]"),
        ("keep-randaugment:s=0", "s (side of the pasted-back region) must be at least 1"),
        // Chains.
        ("randaugment+selective-paste+cutout:s=8", "selective-paste comes last"),
        ("keep-randaugment+selective-paste", "selective-paste twice"),
        ("autoaugment+keep-randaugment", "at most one image-level method"),
        ("cutout:s=8+keep-autoaugment", "must come first"),
        ("keep-autoaugment+cutmix", "selective-paste cannot follow cutmix"),
        ("keep-autoaugment+keep-cutmix", "selective-paste cannot follow keep-cutmix"),
        ("keep-autoaugment+keep-cutout:saliency=low-res", "one saliency map per image"),
        ("keep-autoaugment+keep-cutout:saliency_bn=batch", "different saliency_bn"),
    ] {
        let e = err(spec);
        assert!(e.contains(want), "{spec}: {e}");
    }
    // The same saliency on both steps of a chain is fine.
    parse("keep-autoaugment:saliency=low-res+keep-cutout:saliency=low-res");
}

#[test]
fn sizes_given_are_checked_against_the_images_and_defaults_always_fit() {
    let e = |s: &str, h: usize, w: usize| format!("{:#}", parse(s).check_image_size(h, w).unwrap_err());
    assert!(e("cutout:n=1,s=56", 32, 32).contains("cutout: s=56 is larger than the 32×32 images"));
    assert!(e("keep-cutout:s=40", 32, 32).contains("keep-cutout: s=40 is larger"));
    assert!(e("keep-randaugment:s=40", 32, 32).contains("selective-paste: s=40 is larger"));
    assert!(e("keep-randaugment:s=40", 32, 32).contains("leave s out: 16 at this size"));
    assert!(e("autoaugment+cutout:s=8+selective-paste:s=33", 32, 48).contains("selective-paste: s=33"));
    assert!(parse("cutout:n=1,s=56").check_image_size(224, 224).is_ok());
    assert!(parse("hide-and-seek:g=40").check_image_size(28, 28).is_err());
    assert!(parse("gridmask:d1=24,d2=64").check_image_size(32, 32).is_err());
    for s in ["cutout", "keep-cutout", "keep-autoaugment+cutout", "saliency-occlusion", "keep-randaugment"] {
        for (h, w) in [(1, 1), (2, 5), (28, 28), (32, 32), (224, 224), (7, 300)] {
            parse(s).check_image_size(h, w).unwrap_or_else(|e| panic!("{s} at {h}×{w}: {e:#}"));
        }
    }
}

#[test]
fn default_side_is_16_at_32_px_and_40_at_224_px_linear_between() {
    assert_eq!(default_side(32, 32), 16);
    assert_eq!(default_side(224, 224), 40);
    assert_eq!(default_side(224, 300), 40, "the shorter side decides");
    assert_eq!(default_side(28, 28), 14);
    assert_eq!(default_side(64, 64), 20);
    assert_eq!(default_side(128, 128), 28);
    assert_eq!(default_side(299, 299), 53);
    assert_eq!(default_side(1, 1), 1);
    let mut last = 0;
    for l in 1..600 {
        let s = default_side(l, l);
        assert!(s >= last && (1..=l).contains(&s), "{l}: {s} after {last}");
        if (32..=224).contains(&l) {
            let exact = 16.0 + (l as f64 - 32.0) * 24.0 / 192.0;
            assert!((s as f64 - exact).abs() <= 0.5, "{l}: {s} vs {exact}");
        }
        last = s;
    }
}
