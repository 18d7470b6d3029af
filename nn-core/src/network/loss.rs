//! Softmax cross-entropy, fused: one pass per row computes the loss, whether the argmax is
//! right, and overwrites the logits with the gradient (softmax − one-hot) / batch.

use ndarray::{ArrayView2, ArrayViewMut2};

use crate::linalg::{flat, flat_mut};

/// Returns (sum of losses, number of correct predictions) over the rows of `logits`
/// (rows × classes) and replaces `logits` with dL/dlogits of the mean loss.
pub(crate) fn softmax_cross_entropy(
    logits: ArrayViewMut2<'_, f32>,
    labels: &[u32],
) -> (f64, usize) {
    assert_eq!(logits.nrows(), labels.len(), "loss: one label per row");
    let (rows, classes) = logits.dim();
    let logits = flat_mut(logits);
    let scale = 1.0 / rows as f32;
    let mut loss = 0.0f64;
    let mut correct = 0;
    for (row, &label) in logits.chunks_exact_mut(classes).zip(labels) {
        let label = label as usize;
        let argmax = argmax(row);
        let max = row[argmax];
        let target = row[label] - max;
        // Each exponential serves the loss and the gradient.
        let mut sum = 0.0f32;
        for v in row.iter_mut() {
            *v = (*v - max).exp();
            sum += *v;
        }
        loss += f64::from(sum.ln() - target);
        correct += usize::from(argmax == label);
        let inv = scale / sum;
        for v in row.iter_mut() {
            *v *= inv;
        }
        row[label] -= scale;
    }
    (loss, correct)
}

/// Returns (sum of losses, number correct) without touching the logits (evaluation).
pub(crate) fn evaluate(logits: ArrayView2<'_, f32>, labels: &[u32]) -> (f64, usize) {
    assert_eq!(logits.nrows(), labels.len(), "loss: one label per row");
    let classes = logits.ncols();
    let logits = flat(logits);
    let mut loss = 0.0;
    let mut correct = 0;
    for (row, &label) in logits.chunks_exact(classes).zip(labels) {
        let (l, right) = row_loss(row, label as usize);
        loss += l;
        correct += usize::from(right);
    }
    (loss, correct)
}

/// −log softmax(row)\[label\] and whether the label is the argmax
/// (ties go to the lowest index).
fn row_loss(row: &[f32], label: usize) -> (f64, bool) {
    let argmax = argmax(row);
    let max = row[argmax];
    let sum: f32 = row.iter().map(|v| (v - max).exp()).sum();
    (f64::from(sum.ln() - (row[label] - max)), argmax == label)
}

/// The index of the largest value (ties go to the lowest index).
pub(crate) fn argmax(row: &[f32]) -> usize {
    let mut argmax = 0;
    for (i, v) in row.iter().enumerate() {
        if *v > row[argmax] {
            argmax = i;
        }
    }
    argmax
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_and_gradient_match_hand_computed_values() {
        // logits [1, 2, 3], label 0: p = [0.0900306, 0.2447285, 0.6652409], loss = 2.4076059
        let mut z = ndarray::arr2(&[[1.0f32, 2.0, 3.0]]);
        let (loss, correct) = softmax_cross_entropy(z.view_mut(), &[0]);
        assert!((loss - 2.407_605_9).abs() < 1e-5, "{loss}");
        assert_eq!(correct, 0);
        for (g, e) in z.iter().zip([0.090_030_6 - 1.0, 0.244_728_5, 0.665_240_9]) {
            assert!((g - e).abs() < 1e-6, "{g} vs {e}");
        }
    }

    #[test]
    fn large_logits_stay_finite() {
        let mut z = ndarray::arr2(&[[1000.0f32, -1000.0]]);
        let (loss, correct) = softmax_cross_entropy(z.view_mut(), &[1]);
        assert!((loss - 2000.0).abs() < 1e-3 && correct == 0);
        assert!(z.iter().all(|v| v.is_finite()));
    }
}
