//! Top-k accuracy and running averages.

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
    fn nan_logits_never_count_as_correct() {
        assert_eq!(topk_correct(&[f32::NAN, 0.0], 2, &[0], 1), 0);
        assert_eq!(topk_correct(&[f32::NAN, 0.0], 2, &[1], 1), 0);
    }
}
