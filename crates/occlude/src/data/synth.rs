//! Synthetic datasets in real on-disk formats, for benchmarks and smoke tests on
//! machines without the real data (a GPU host with no network, CI): CIFAR-10 binary
//! files whose images a network can learn (class-dependent coloured squares on
//! noise), so throughput and accuracy plumbing are exercised end to end.

use crate::io::write_atomic;
use anyhow::{Context, Result};
use rand::{Rng, SeedableRng};
use std::path::Path;

/// Bytes of one CIFAR-10 record: a label byte and 3×32×32 pixels (planar RGB).
const RECORD: usize = 1 + 3 * 32 * 32;

/// One synthetic 32×32 image of class `label` (0–9): uniform noise, and an 8×8 square
/// whose colour and position depend on the class, jittered by up to 4 pixels.
fn record(label: u8, rng: &mut rand_chacha::ChaCha8Rng) -> Vec<u8> {
    let mut r = vec![0u8; RECORD];
    r[0] = label;
    for v in &mut r[1..] {
        *v = rng.random_range(0..160);
    }
    let k = label as usize;
    let (top, left) = (4 + (k % 3) * 8 + rng.random_range(0..5), 4 + (k / 3) * 6 + rng.random_range(0..5));
    let colour = [(k * 97 % 256) as u8, (k * 53 % 256) as u8, (255 - k * 25) as u8];
    for (c, &value) in colour.iter().enumerate() {
        for y in top.min(24)..(top + 8).min(32) {
            for x in left.min(24)..(left + 8).min(32) {
                r[1 + c * 1024 + y * 32 + x] = value;
            }
        }
    }
    r
}

/// Writes a CIFAR-10 binary directory (`data_batch_1.bin` … `data_batch_5.bin`,
/// `test_batch.bin`, `batches.meta.txt`) with `train` and `test` synthetic images,
/// labels cycling through the 10 classes, drawn from `seed`.
pub fn write_cifar10(dir: &Path, train: usize, test: usize, seed: u64) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut batches: Vec<Vec<u8>> = vec![Vec::new(); 5];
    for i in 0..train {
        batches[i * 5 / train.max(1)].extend(record((i % 10) as u8, &mut rng));
    }
    for (b, bytes) in batches.iter().enumerate() {
        write_atomic(&dir.join(format!("data_batch_{}.bin", b + 1)), bytes)?;
    }
    let test_bytes: Vec<u8> = (0..test).flat_map(|i| record((i % 10) as u8, &mut rng)).collect();
    write_atomic(&dir.join("test_batch.bin"), &test_bytes)?;
    let names = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n";
    write_atomic(&dir.join("batches.meta.txt"), names.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::cifar::{load_cifar, CifarVariant};
    use crate::data::Dataset;

    #[test]
    fn synthetic_cifar10_reads_back_with_balanced_labels() {
        let dir = tempfile::tempdir().unwrap();
        write_cifar10(dir.path(), 50, 20, 3).unwrap();
        let train = load_cifar(dir.path(), CifarVariant::Cifar10, true).unwrap();
        let test = load_cifar(dir.path(), CifarVariant::Cifar10, false).unwrap();
        assert_eq!((train.len(), test.len()), (50, 20));
        let mut counts = [0usize; 10];
        for &l in &train.labels {
            counts[l as usize] += 1;
        }
        assert_eq!(counts, [5; 10]);
    }
}
