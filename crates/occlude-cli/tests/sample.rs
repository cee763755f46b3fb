//! End-to-end tests of `occlude sample`: the parameters an augmentation draws, one JSON
//! line per draw.

use occlude::saliency::npy::write_f32;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn sample(args: &[&str]) -> Result<Vec<Value>, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_occlude")).arg("sample").args(args).output().expect("spawn occlude");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let text = String::from_utf8(out.stdout).unwrap();
    Ok(text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"))).collect())
}

fn ok(args: &[&str]) -> Vec<Value> {
    sample(args).unwrap_or_else(|e| panic!("occlude sample {args:?} failed: {e}"))
}

fn map(dir: &Path, name: &str, shape: &[usize], values: impl Fn(usize, usize) -> f32) -> PathBuf {
    let path = dir.join(name);
    let w = *shape.last().unwrap();
    let n: usize = shape.iter().product();
    write_f32(&path, shape, &(0..n).map(|p| values(p / w, p % w)).collect::<Vec<_>>()).unwrap();
    path
}

/// `(top, left, height, width)` of every rectangle of a line.
fn rects(line: &Value) -> Vec<(u64, u64, u64, u64)> {
    let list = match line["kind"].as_str().unwrap() {
        "mix" => vec![line["rect"].clone()],
        _ => line["rects"].as_array().unwrap().clone(),
    };
    list.iter()
        .map(|r| {
            let f = |k: &str| r[k].as_u64().unwrap_or_else(|| panic!("{r} has no {k}"));
            (f("top"), f("left"), f("height"), f("width"))
        })
        .collect()
}

#[test]
fn on_a_flat_map_keep_methods_print_exactly_their_base_methods_draws() {
    let dir = tempfile::tempdir().unwrap();
    let flat = map(dir.path(), "flat.npy", &[32, 32], |_, _| 0.25);
    let flat = flat.to_str().unwrap();
    for (keep, base) in
        [("keep-cutout:n=2", "cutout:n=2"), ("keep-random-erasing", "random-erasing"), ("keep-cutmix", "cutmix")]
    {
        let k = ok(&["--augment", keep, "--size", "32x32", "--saliency", flat, "--count", "40", "--seed", "3"]);
        let b = ok(&["--augment", base, "--size", "32x32", "--count", "40", "--seed", "3"]);
        assert_eq!(k.len(), 40);
        assert_eq!(k, b, "{keep} vs {base}");
    }
    // Cutout's default side follows the image: 16 at 32 px, 40 at 224 px.
    let side = |size: &str| {
        let lines = ok(&["--augment", "cutout", "--size", size, "--count", "50"]);
        lines.iter().flat_map(rects).map(|r| r.2.max(r.3)).max().unwrap()
    };
    assert_eq!(side("32x32"), 16);
    assert_eq!(side("224x224"), 40);
    // CutMix: λ is one minus the share of the box.
    for line in ok(&["--augment", "keep-cutmix", "--size", "32x32", "--saliency", flat, "--count", "20"]) {
        let (_, _, h, w) = rects(&line)[0];
        assert_eq!(line["lambda"].as_f64().unwrap(), 1.0 - (h * w) as f64 / 1024.0, "{line}");
        assert!(line["partner"].as_u64().unwrap() < 20);
    }
}

#[test]
fn a_map_high_at_the_border_keeps_the_cuts_inside_and_the_pastes_on_it() {
    let dir = tempfile::tempdir().unwrap();
    let frame =
        map(dir.path(), "frame.npy", &[32, 32], |y, x| if y == 0 || x == 0 || y == 31 || x == 31 { 4.0 } else { 1.0 });
    let frame = frame.to_str().unwrap();
    for line in ok(&["--augment", "keep-cutout:s=16,tau=0.1", "--size", "32x32", "--saliency", frame, "--count", "60"])
    {
        let (top, left, h, w) = rects(&line)[0];
        assert_eq!((h, w), (16, 16), "{line}");
        assert!(top >= 1 && left >= 1 && top + h <= 31 && left + w <= 31, "{line} cuts the frame");
    }
    // KeepAutoAugment in AutoAugment's CIFAR setting: Cutout, then a paste from the
    // frame (the important part of this map); one array per draw.
    let lines = ok(&[
        "--augment",
        "keep-autoaugment:policy=cifar10+cutout:s=16",
        "--size",
        "32x32",
        "--saliency",
        frame,
        "--count",
        "30",
    ]);
    for line in &lines {
        let stages = line.as_array().unwrap_or_else(|| panic!("{line} is not [cutout, paste]"));
        assert_eq!(stages.len(), 2);
        assert_eq!(stages[0]["kind"], "erase");
        assert_eq!(stages[1]["kind"], "paste");
        let (top, left, h, w) = rects(&stages[1])[0];
        assert_eq!((h, w), (16, 16), "the default paste side at 32 px");
        assert!(top == 0 || left == 0 || top + h == 32 || left + w == 32, "{line}: the paste misses the frame");
    }
}

#[test]
fn bad_maps_and_sizes_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let small = map(dir.path(), "small.npy", &[28, 28], |_, _| 1.0);
    let flat1d = map(dir.path(), "flat1d.npy", &[1024], |_, _| 1.0);
    let nan = map(dir.path(), "nan.npy", &[32, 32], |y, x| if (y, x) == (3, 4) { f32::NAN } else { 1.0 });
    let inf = map(dir.path(), "inf.npy", &[32, 32], |y, _| if y == 31 { f32::INFINITY } else { 1.0 });
    let err = |args: &[&str]| sample(args).expect_err("should fail");
    let with_map =
        |path: &Path| err(&["--augment", "keep-cutout", "--size", "32x32", "--saliency", path.to_str().unwrap()]);
    let e = with_map(&small);
    assert!(e.contains("small.npy") && e.contains("[28, 28]") && e.contains("32×32"), "{e}");
    let e = with_map(&flat1d);
    assert!(e.contains("[1024]") && e.contains("2-D"), "{e}");
    let e = with_map(&nan);
    assert!(e.contains("nan.npy") && e.contains("non-finite") && e.contains("row 3, column 4"), "{e}");
    let e = with_map(&inf);
    assert!(e.contains("non-finite") && e.contains("row 31"), "{e}");
    let e = with_map(&dir.path().join("missing.npy"));
    assert!(e.contains("missing.npy"), "{e}");
    let e = err(&["--augment", "keep-cutout", "--size", "32x32"]);
    assert!(e.contains("--saliency"), "{e}");
    let e = err(&["--augment", "cutout", "--size", "32"]);
    assert!(e.contains("--size") && e.contains("HxW"), "{e}");
    let e = err(&["--augment", "keep-cutout:s=40", "--size", "32x32", "--saliency", small.to_str().unwrap()]);
    assert!(e.contains("[28, 28]"), "{e}");
    let e = err(&["--augment", "cutout:s=40", "--size", "32x32"]);
    assert!(e.contains("cutout: s=40 is larger than the 32×32 images"), "{e}");
    let e = err(&["--augment", "autoaugment", "--size", "32x32"]);
    assert!(e.contains("no region-level parameters"), "{e}");
}

#[test]
fn apply_writes_the_printed_draws_applied_and_names_a_wrong_shape() {
    let dir = tempfile::tempdir().unwrap();
    let (n, c, h, w) = (3, 2, 10, 12);
    let input = dir.path().join("x.npy");
    write_f32(&input, &[n, c, h, w], &vec![1.0; n * c * h * w]).unwrap();
    let output = dir.path().join("out.npy");
    let (input_s, output_s) = (input.to_str().unwrap(), output.to_str().unwrap());
    let base =
        ["--augment", "cutout:n=2,s=6", "--size", "10x12", "--seed", "5", "--apply", input_s, "--output", output_s];
    let lines = ok(&[&base[..], &["--count", "3"]].concat());
    let bytes = std::fs::read(&output).unwrap();
    let (shape, values) = occlude::saliency::npy::decode_f32(&bytes).unwrap();
    assert_eq!(shape, [n, c, h, w]);
    for (i, line) in lines.iter().enumerate() {
        let boxes = rects(line);
        for (ch, y, x) in (0..c).flat_map(|ch| (0..h).flat_map(move |y| (0..w).map(move |x| (ch, y, x)))) {
            let cut = boxes
                .iter()
                .any(|&(t, l, bh, bw)| (t..t + bh).contains(&(y as u64)) && (l..l + bw).contains(&(x as u64)));
            assert_eq!(
                values[((i * c + ch) * h + y) * w + x],
                if cut { 0.0 } else { 1.0 },
                "image {i} ({ch}, {y}, {x})"
            );
        }
    }
    assert!(values.contains(&0.0));
    let err = sample(&[&base[..], &["--count", "2"]].concat()).unwrap_err();
    assert!(err.contains("--apply") && err.contains("expected 2×C×10×12"), "{err}");
}
