//! Top-k accuracy and running averages.

use std::collections::BTreeMap;

/// Counts, per row of `logits` (`n × k`, row-major), whether `label` is among the
/// `top` highest logits. Ties are broken towards lower class indices, so a constant
/// prediction is not counted as correct for every class.
pub fn topk_correct(logits: &[f32], num_classes: usize, labels: &[usize], top: usize) -> usize {
    labels
        .iter()
        .enumerate()
        .filter(|&(i, &label)| {
            let row = &logits[i * num_classes..(i + 1) * num_classes];
            let target = row[label];
            if !target.is_finite() {
                return false;
            }
            // Rank of the label: classes strictly better, or equal with a lower index.
            let better = row
                .iter()
                .enumerate()
                .filter(|&(j, &v)| v > target || (v == target && j < label) || v.is_nan())
                .count();
            better < top
        })
        .count()
}

/// Sums for one pass over a split.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Tally {
    pub loss_sum: f64,
    pub top1: usize,
    pub top5: usize,
    pub count: usize,
}

impl Tally {
    pub fn loss(&self) -> f64 {
        self.loss_sum / self.count.max(1) as f64
    }
    pub fn top1(&self) -> f64 {
        self.top1 as f64 / self.count.max(1) as f64
    }
    pub fn top5(&self) -> f64 {
        self.top5 as f64 / self.count.max(1) as f64
    }
}

/// The training sums of an epoch, so far: what a run resumed mid-epoch needs to
/// report the epoch's means exactly as the uninterrupted run. Its JSON form is a
/// superset of [`Tally`]'s, which earlier checkpoints stored here.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochSums {
    /// Σ step loss · predictions scored in the step.
    pub loss_sum: f64,
    /// Σ correct top-1 predictions.
    pub top1: usize,
    /// Σ predictions scored.
    pub count: usize,
    /// Σ images processed (throughput).
    #[serde(default)]
    pub images: usize,
    /// Σ metric · predictions scored, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metrics: BTreeMap<String, f64>,
}

impl EpochSums {
    /// Adds one step.
    pub fn add(&mut self, loss: f64, correct: usize, scored: usize, images: usize, metrics: &[(String, f64)]) {
        self.loss_sum += loss * scored as f64;
        self.top1 += correct;
        self.count += scored;
        self.images += images;
        for (name, v) in metrics {
            *self.metrics.entry(name.clone()).or_insert(0.0) += v * scored as f64;
        }
    }

    /// Sums read from a checkpoint written before `images` was recorded, when every
    /// image was a scored prediction.
    pub fn upgraded(mut self) -> Self {
        if self.images == 0 {
            self.images = self.count;
        }
        self
    }

    pub fn loss(&self) -> f64 {
        self.loss_sum / self.count.max(1) as f64
    }
    pub fn top1(&self) -> f64 {
        self.top1 as f64 / self.count.max(1) as f64
    }
    /// The epoch means of the metrics.
    pub fn metric_means(&self) -> BTreeMap<String, f64> {
        self.metrics.iter().map(|(k, v)| (k.clone(), v / self.count.max(1) as f64)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top1_and_top5_on_a_hand_made_example() {
        let logits = [
            0.1, 0.9, 0.0, 0.0, 0.0, 0.0, // argmax 1
            5.0, 4.0, 3.0, 2.0, 1.0, 0.0, // label 5 ranks 6th
            0.0, 0.0, 0.0, 0.0, 0.0, 0.0, // all tied
        ];
        let labels = [1, 5, 4];
        assert_eq!(topk_correct(&logits, 6, &labels, 1), 1);
        assert_eq!(topk_correct(&logits, 6, &[1, 4, 0], 5), 3);
        assert_eq!(topk_correct(&logits, 6, &labels, 5), 2);
        // A tie does not make a later class correct at top-1.
        assert_eq!(topk_correct(&logits[12..], 6, &[4], 1), 0);
        assert_eq!(topk_correct(&logits[12..], 6, &[0], 1), 1);
    }

    #[test]
    fn epoch_sums_weight_steps_by_scored_predictions_and_read_old_tallies() {
        let mut s = EpochSums::default();
        s.add(2.0, 3, 4, 12, &[("mask_rate".into(), 0.5)]);
        s.add(1.0, 1, 2, 6, &[("mask_rate".into(), 1.0)]);
        assert!((s.loss() - 10.0 / 6.0).abs() < 1e-12);
        assert!((s.top1() - 4.0 / 6.0).abs() < 1e-12);
        assert!((s.metric_means()["mask_rate"] - 4.0 / 6.0).abs() < 1e-12);
        assert_eq!(s.images, 18);
        let old: EpochSums = serde_json::from_str(r#"{"loss_sum": 3.0, "top1": 2, "top5": 0, "count": 5}"#).unwrap();
        assert_eq!(old.clone().upgraded().images, 5);
        assert_eq!((old.loss(), old.top1), (0.6, 2));
    }

    #[test]
    fn nan_logits_never_count_as_correct() {
        assert_eq!(topk_correct(&[f32::NAN, 0.0], 2, &[0], 1), 0);
        assert_eq!(topk_correct(&[f32::NAN, 0.0], 2, &[1], 1), 0);
    }
}
