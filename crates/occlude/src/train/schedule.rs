//! Learning-rate schedules, evaluated per step.

use super::config::ScheduleConfig;
use std::f64::consts::PI;

/// The learning rate at `step` (0-based) of a run of `epochs × steps_per_epoch` steps.
///
/// * step: `lr · γ^k` where `k` counts the milestones `≤` the current epoch (seed 000
///   §4.1: ×0.1 at epochs 30, 60, 90);
/// * cosine: `lr · ½(1 + cos(π t/T))` over the steps after warm-up (SGDR without
///   restarts, seed 003 §4.1);
/// * all: optional linear warm-up from `lr/steps` over `warmup_epochs`.
pub fn learning_rate(
    schedule: &ScheduleConfig,
    base_lr: f64,
    step: usize,
    steps_per_epoch: usize,
    epochs: usize,
) -> f64 {
    let spe = steps_per_epoch.max(1) as f64;
    let total = spe * epochs as f64;
    let warmup_epochs = match schedule {
        ScheduleConfig::Constant { warmup_epochs }
        | ScheduleConfig::Step { warmup_epochs, .. }
        | ScheduleConfig::Cosine { warmup_epochs } => *warmup_epochs,
    };
    let warmup = (warmup_epochs * spe).round();
    let s = step as f64;
    if s < warmup {
        return base_lr * (s + 1.0) / warmup;
    }
    match schedule {
        ScheduleConfig::Constant { .. } => base_lr,
        ScheduleConfig::Step { milestones, gamma, .. } => {
            let epoch = (s / spe).floor() as usize;
            let k = milestones.iter().filter(|&&m| m <= epoch).count();
            base_lr * gamma.powi(k as i32)
        }
        ScheduleConfig::Cosine { .. } => {
            let t = (s - warmup) / (total - warmup).max(1.0);
            base_lr * 0.5 * (1.0 + (PI * t.min(1.0)).cos())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_schedule_decays_at_milestones() {
        let s = ScheduleConfig::Step { milestones: vec![30, 60, 90], gamma: 0.1, warmup_epochs: 0.0 };
        let lr = |epoch: usize| learning_rate(&s, 0.1, epoch * 10, 10, 100);
        assert!((lr(0) - 0.1).abs() < 1e-12 && (lr(29) - 0.1).abs() < 1e-12);
        assert!((lr(30) - 0.01).abs() < 1e-12);
        assert!((lr(60) - 0.001).abs() < 1e-12);
        assert!((lr(99) - 0.0001).abs() < 1e-12);
    }

    #[test]
    fn cosine_starts_at_lr_halves_midway_and_ends_near_zero() {
        let s = ScheduleConfig::Cosine { warmup_epochs: 0.0 };
        assert!((learning_rate(&s, 0.2, 0, 10, 10) - 0.2).abs() < 1e-12);
        assert!((learning_rate(&s, 0.2, 50, 10, 10) - 0.1).abs() < 1e-12);
        assert!(learning_rate(&s, 0.2, 99, 10, 10) < 0.001);
    }

    #[test]
    fn warmup_is_linear() {
        let s = ScheduleConfig::Constant { warmup_epochs: 1.0 };
        assert!((learning_rate(&s, 1.0, 0, 4, 3) - 0.25).abs() < 1e-12);
        assert!((learning_rate(&s, 1.0, 3, 4, 3) - 1.0).abs() < 1e-12);
        assert!((learning_rate(&s, 1.0, 4, 4, 3) - 1.0).abs() < 1e-12);
    }
}
