//! Classification metrics over output nodes: accuracy and macro-F1.

/// Fraction of predictions equal to their label (labels `< 0` are skipped); `NaN` when none.
pub fn accuracy(pred: &[u32], labels: &[i32]) -> f64 {
    let (mut right, mut total) = (0u64, 0u64);
    for (&p, &l) in pred.iter().zip(labels) {
        if l >= 0 {
            total += 1;
            right += u64::from(p as i32 == l);
        }
    }
    if total == 0 {
        f64::NAN
    } else {
        right as f64 / total as f64
    }
}

/// Unweighted mean over classes of the F1 score, over the classes that occur in the labels or the
/// predictions (scikit-learn's `f1_score(average="macro")`; a class with no true positive scores 0).
pub fn macro_f1(pred: &[u32], labels: &[i32], n_classes: usize) -> f64 {
    let k = n_classes.max(pred.iter().map(|&p| p as usize + 1).max().unwrap_or(0));
    let (mut tp, mut fp, mut fneg) = (vec![0u64; k], vec![0u64; k], vec![0u64; k]);
    for (&p, &l) in pred.iter().zip(labels) {
        if l < 0 {
            continue;
        }
        let (p, l) = (p as usize, l as usize);
        if p == l {
            tp[p] += 1;
        } else {
            fp[p] += 1;
            fneg[l] += 1;
        }
    }
    let mut sum = 0.0;
    let mut classes = 0;
    for c in 0..k {
        if tp[c] + fp[c] + fneg[c] == 0 {
            continue;
        }
        classes += 1;
        sum += 2.0 * tp[c] as f64 / (2 * tp[c] + fp[c] + fneg[c]) as f64;
    }
    if classes == 0 {
        f64::NAN
    } else {
        sum / classes as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accuracy_and_macro_f1_by_hand() {
        let labels = [0, 0, 1, 1, 2, -1];
        let pred = [0, 1, 1, 1, 0, 2];
        assert!((accuracy(&pred, &labels) - 0.6).abs() < 1e-12);
        // class 0: tp1 fp1 fn1 -> 0.5; class 1: tp2 fp1 fn0 -> 0.8; class 2: tp0 fn1 -> 0
        let f1 = macro_f1(&pred, &labels, 3);
        assert!((f1 - (0.5 + 0.8 + 0.0) / 3.0).abs() < 1e-12, "{f1}");
        assert!(accuracy(&[], &[]).is_nan());
    }
}
