//! NumPy `.npy` files (format version 1.0) of little-endian `f32`, C order: what
//! `numpy.load` reads without options.
//!
//! Layout: the magic `\x93NUMPY`, version bytes `1 0`, a little-endian `u16` header
//! length, an ASCII Python-dict header padded with spaces and ended by `\n` so that the
//! data starts at a multiple of 64 bytes, then the values.

use crate::io::write_atomic;
use anyhow::{bail, Context, Result};
use std::path::Path;

const MAGIC: &[u8] = b"\x93NUMPY";

/// The bytes of a `.npy` file holding `values` with `shape` (C order).
pub fn encode_f32(shape: &[usize], values: &[f32]) -> Result<Vec<u8>> {
    let count: usize = shape.iter().product();
    if count != values.len() {
        bail!("npy: shape {shape:?} holds {count} values, got {}", values.len());
    }
    let dims = match shape {
        [d] => format!("({d},)"),
        _ => format!("({})", shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {dims}, }}");
    // magic (6) + version (2) + length (2) + header + '\n' ≡ 0 (mod 64), padded with
    // 1 to 64 spaces exactly as numpy.lib.format does.
    let unpadded = MAGIC.len() + 4 + header.len() + 1;
    header.push_str(&" ".repeat(64 - unpadded % 64));
    header.push('\n');
    let len = u16::try_from(header.len()).context("npy: header too long")?;
    let mut out = Vec::with_capacity(MAGIC.len() + 4 + header.len() + 4 * values.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    Ok(out)
}

/// Writes a `.npy` file atomically.
pub fn write_f32(path: &Path, shape: &[usize], values: &[f32]) -> Result<()> {
    write_atomic(path, &encode_f32(shape, values)?)
}

/// Reads a `.npy` file of little-endian `f32` in C order (version 1.0 or 2.0), as
/// written by [`encode_f32`] or by NumPy: shape and values.
pub fn decode_f32(bytes: &[u8]) -> Result<(Vec<usize>, Vec<f32>)> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        bail!("npy: not a .npy file");
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        v => bail!("npy: unsupported version {v}"),
    };
    let header = bytes.get(start..start + header_len).context("npy: truncated header")?;
    let header = std::str::from_utf8(header).context("npy: header is not text")?;
    let field = |key: &str| -> Result<&str> {
        let at = header.find(&format!("'{key}'")).with_context(|| format!("npy: header has no {key}"))?;
        Ok(header[at + key.len() + 2..].trim_start().trim_start_matches(':').trim_start())
    };
    if !field("descr")?.starts_with("'<f4'") {
        bail!("npy: only little-endian float32 ('<f4') is supported: {header}");
    }
    if !field("fortran_order")?.starts_with("False") {
        bail!("npy: Fortran order is not supported");
    }
    let shape_text = field("shape")?;
    let close = shape_text.find(')').context("npy: bad shape")?;
    let shape: Vec<usize> = shape_text[1..close]
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().context("npy: bad shape"))
        .collect::<Result<_>>()?;
    let data = &bytes[start + header_len..];
    let count: usize = shape.iter().product();
    if data.len() != 4 * count {
        bail!("npy: {} data bytes for shape {shape:?}", data.len());
    }
    let values = data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    Ok((shape, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_aligned_and_round_trips() {
        for shape in [vec![3usize], vec![2, 3], vec![1, 28, 28], vec![0, 5]] {
            let n: usize = shape.iter().product();
            let values: Vec<f32> = (0..n).map(|i| i as f32 * 0.5 - 1.0).collect();
            let bytes = encode_f32(&shape, &values).unwrap();
            let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
            assert_eq!((10 + header_len) % 64, 0, "{shape:?}");
            assert_eq!(bytes[10 + header_len - 1], b'\n');
            assert_eq!(decode_f32(&bytes).unwrap(), (shape, values));
        }
    }

    #[test]
    fn exact_bytes_match_numpy() {
        // numpy.save of np.array([[1, 2]], dtype='<f4') (NumPy ≥ 1.x pads to 64 bytes).
        let bytes = encode_f32(&[1, 2], &[1.0, 2.0]).unwrap();
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }";
        let mut want = b"\x93NUMPY\x01\x00\x76\x00".to_vec();
        want.extend_from_slice(header.as_bytes());
        want.extend(std::iter::repeat_n(b' ', 118 - header.len() - 1));
        want.push(b'\n');
        want.extend_from_slice(&1f32.to_le_bytes());
        want.extend_from_slice(&2f32.to_le_bytes());
        assert_eq!(bytes, want);
        assert!(encode_f32(&[3], &[1.0]).is_err());
        assert_eq!(decode_f32(&encode_f32(&[1], &[7.0]).unwrap()).unwrap().0, vec![1]);
    }
}
