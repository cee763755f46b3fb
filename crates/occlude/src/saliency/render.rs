//! Heat-map pictures of saliency maps for people: the network's input, the map in a
//! colour scale, and the map laid over the (grey) input, side by side under a title
//! line.
//!
//! Colours run from black-purple (0) to pale yellow through an approximation of
//! matplotlib's *inferno* scale; the scale's top is the map's 99th percentile (a few
//! very large vanilla-gradient values would otherwise leave the rest dark), and
//! larger values saturate. The raw values are what `--raw` writes.

use crate::data::Normalization;
use crate::report::plot::{encode_png, register_font};
use anyhow::{anyhow, bail, Result};
use plotters::prelude::*;

/// Inferno control points, evenly spaced on [0, 1].
const INFERNO: [[f32; 3]; 9] = [
    [0.0, 0.0, 4.0],
    [31.0, 12.0, 72.0],
    [85.0, 15.0, 109.0],
    [136.0, 34.0, 106.0],
    [186.0, 54.0, 85.0],
    [227.0, 89.0, 51.0],
    [249.0, 140.0, 10.0],
    [249.0, 201.0, 50.0],
    [252.0, 255.0, 164.0],
];

/// The colour of `v` in [0, 1] (clamped; NaN is drawn as 0).
pub fn colormap(v: f32) -> [u8; 3] {
    let v = if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) };
    let t = v * (INFERNO.len() - 1) as f32;
    let i = (t.floor() as usize).min(INFERNO.len() - 2);
    let f = t - i as f32;
    let (a, b) = (INFERNO[i], INFERNO[i + 1]);
    std::array::from_fn(|c| (a[c] + f * (b[c] - a[c])).round() as u8)
}

/// The value mapped to the top of the colour scale: the 99th percentile of the
/// finite values (their maximum for maps of fewer than 100 pixels), or 0.
pub fn display_scale(map: &[f32]) -> f32 {
    let mut v: Vec<f32> = map.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f32::total_cmp);
    let k = if v.len() < 100 { v.len() - 1 } else { ((v.len() - 1) as f64 * 0.99).round() as usize };
    v[k].max(0.0)
}

/// What to draw.
pub struct Heatmap<'a> {
    /// The preprocessed image the network saw, `C×H×W` (normalised values).
    pub image: &'a [f32],
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    /// The normalisation of `image`, inverted to recover pixel values.
    pub normalization: &'a Normalization,
    /// The saliency map, `H×W`.
    pub map: &'a [f32],
    pub title: String,
}

const GAP: usize = 8;
const TITLE: usize = 28;

/// Renders the three panels as PNG bytes. Small images are enlarged by an integer
/// factor (nearest neighbour) so that each panel is at least 192 pixels wide.
pub fn heatmap_png(h: &Heatmap<'_>) -> Result<Vec<u8>> {
    let (buf, w, ht) = heatmap_rgb(h)?;
    encode_png(&buf, w as u32, ht as u32)
}

/// Several heat maps, one row each (as [`heatmap_png`] draws one), stacked top to
/// bottom in one PNG; rows of different widths are left-aligned on white.
pub fn heatmaps_png(rows: &[Heatmap<'_>]) -> Result<Vec<u8>> {
    if rows.is_empty() {
        bail!("heat maps: nothing to draw");
    }
    let rendered = rows.iter().map(heatmap_rgb).collect::<Result<Vec<_>>>()?;
    let width = rendered.iter().map(|r| r.1).max().unwrap_or(0);
    let height: usize = rendered.iter().map(|r| r.2).sum();
    let mut out = vec![255u8; width * height * 3];
    let mut top = 0;
    for (buf, w, h) in &rendered {
        for y in 0..*h {
            let o = ((top + y) * width) * 3;
            out[o..o + w * 3].copy_from_slice(&buf[y * w * 3..(y + 1) * w * 3]);
        }
        top += h;
    }
    encode_png(&out, width as u32, height as u32)
}

/// The RGB buffer of [`heatmap_png`], with its width and height.
fn heatmap_rgb(h: &Heatmap<'_>) -> Result<(Vec<u8>, usize, usize)> {
    let (c, ih, iw) = (h.channels, h.height, h.width);
    if c == 0 || ih == 0 || iw == 0 || h.image.len() != c * ih * iw || h.map.len() != ih * iw {
        bail!("heat map: image {c}×{ih}×{iw} with {} values and a map of {} values", h.image.len(), h.map.len());
    }
    if h.normalization.mean.len() < c || h.normalization.std.len() < c {
        bail!("heat map: normalisation for fewer than {c} channels");
    }
    let scale = 192usize.div_ceil(iw.max(ih)).max(1);
    let (ph, pw) = (ih * scale, iw * scale);
    let (w, ht) = (3 * pw + 4 * GAP, TITLE + ph + GAP);
    let mut buf = vec![255u8; w * ht * 3];

    let top = display_scale(h.map);
    let level = |i: usize| if top > 0.0 { h.map[i] / top } else { 0.0 };
    let rgb_at = |y: usize, x: usize| -> [u8; 3] {
        let px = |ch: usize| h.normalization.invert(ch, h.image[(ch * ih + y) * iw + x]);
        if c >= 3 {
            [px(0), px(1), px(2)]
        } else {
            [px(0); 3]
        }
    };
    for y in 0..ph {
        for x in 0..pw {
            let (sy, sx) = (y / scale, x / scale);
            let rgb = rgb_at(sy, sx);
            let v = level(sy * iw + sx);
            let heat = colormap(v);
            let grey = (0.299 * rgb[0] as f32 + 0.587 * rgb[1] as f32 + 0.114 * rgb[2] as f32) * 0.8;
            let alpha = 0.2 + 0.6 * v.clamp(0.0, 1.0);
            let over: [u8; 3] = std::array::from_fn(|k| {
                ((1.0 - alpha) * grey + alpha * heat[k] as f32).round().clamp(0.0, 255.0) as u8
            });
            for (panel, px) in [rgb, heat, over].into_iter().enumerate() {
                let (oy, ox) = (TITLE + y, GAP + panel * (pw + GAP) + x);
                let o = (oy * w + ox) * 3;
                buf[o..o + 3].copy_from_slice(&px);
            }
        }
    }
    register_font();
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w as u32, ht as u32)).into_drawing_area();
        let style = ("sans-serif", 15).into_font().color(&BLACK);
        root.draw_text(&h.title, &style, (GAP as i32, 6)).map_err(|e| anyhow!("{e}"))?;
        root.present().map_err(|e| anyhow!("{e}"))?;
    }
    Ok((buf, w, ht))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colormap_is_monotone_in_brightness_and_clamped() {
        let lum = |c: [u8; 3]| c[0] as u32 * 299 + c[1] as u32 * 587 + c[2] as u32 * 114;
        let mut prev = 0;
        for i in 0..=100 {
            let l = lum(colormap(i as f32 / 100.0));
            assert!(l >= prev, "{i}");
            prev = l;
        }
        assert_eq!(colormap(-1.0), colormap(0.0));
        assert_eq!(colormap(2.0), [252, 255, 164]);
        assert_eq!(colormap(f32::NAN), colormap(0.0));
    }

    #[test]
    fn renders_a_png_of_the_expected_size() {
        let norm = Normalization::fashion_mnist();
        let image = vec![0.5f32; 28 * 28];
        let map: Vec<f32> = (0..28 * 28).map(|i| (i % 28) as f32).collect();
        let png = heatmap_png(&Heatmap {
            image: &image,
            channels: 1,
            height: 28,
            width: 28,
            normalization: &norm,
            map: &map,
            title: "vanilla".into(),
        })
        .unwrap();
        let img = image::load_from_memory(&png).unwrap();
        // 28 × 7 = 196 per panel.
        assert_eq!((img.width() as usize, img.height() as usize), (3 * 196 + 4 * GAP, TITLE + 196 + GAP));
        assert!(display_scale(&map) > 26.0 && display_scale(&map) <= 27.0);
        assert_eq!(display_scale(&[]), 0.0);

        let row = |title: &str| Heatmap {
            image: &image,
            channels: 1,
            height: 28,
            width: 28,
            normalization: &norm,
            map: &map,
            title: title.into(),
        };
        let png = heatmaps_png(&[row("a"), row("b"), row("c")]).unwrap();
        let img = image::load_from_memory(&png).unwrap();
        assert_eq!((img.width() as usize, img.height() as usize), (3 * 196 + 4 * GAP, 3 * (TITLE + 196 + GAP)));
        assert!(heatmaps_png(&[]).is_err());
    }
}
