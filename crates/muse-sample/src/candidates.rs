//! The candidate list every processor in the chain operates on.

use std::cmp::Ordering;

/// One token under consideration: its id, its (possibly transformed) logit, and its
/// probability once [`Candidates::softmax`] has run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// Token id (index into the original logits).
    pub id: u32,
    /// Logit after whatever processors have run so far.
    pub logit: f32,
    /// Probability; only meaningful after [`Candidates::softmax`] (or
    /// [`Candidates::renormalize`]).
    pub p: f32,
}

/// Total order "more likely first": logit descending, ties broken by lower id first.
/// Logits in a candidate list are never NaN, so `total_cmp` is the numeric order.
#[inline]
pub(crate) fn more_likely_first(a: &Candidate, b: &Candidate) -> Ordering {
    b.logit.total_cmp(&a.logit).then(a.id.cmp(&b.id))
}

/// Every token whose logit is finite or +inf, in id order (`x > -inf` is false for NaN and
/// for -inf).
fn finite(logits: &[f32]) -> impl Iterator<Item = Candidate> + '_ {
    logits
        .iter()
        .enumerate()
        .filter(|&(_, &x)| x > f32::NEG_INFINITY)
        .map(|(i, &logit)| Candidate {
            id: i as u32,
            logit,
            p: 0.0,
        })
}

/// A reusable list of candidate tokens (llama.cpp's `llama_token_data_array`).
///
/// The order of the entries is unspecified between processors; processors that need an
/// order establish it themselves.
#[derive(Debug, Clone, Default)]
pub struct Candidates {
    data: Vec<Candidate>,
}

impl Candidates {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty list with room for `n` candidates.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            data: Vec::with_capacity(n),
        }
    }

    /// Builds a list from raw logits (see [`Candidates::fill_from_logits`]).
    pub fn from_logits(logits: &[f32]) -> Self {
        let mut c = Self::with_capacity(logits.len());
        c.fill_from_logits(logits);
        c
    }

    /// Builds a list from probabilities: logit = ln(p), then [`softmax`](Self::softmax),
    /// so `p` is the normalised input. Handy for writing processor tests and examples.
    pub fn from_probs(probs: &[f32]) -> Self {
        let mut c = Self::with_capacity(probs.len());
        for (i, &p) in probs.iter().enumerate() {
            let logit = p.ln();
            if logit.is_nan() || logit == f32::NEG_INFINITY {
                continue;
            }
            c.data.push(Candidate {
                id: i as u32,
                logit,
                p: 0.0,
            });
        }
        c.softmax();
        c
    }

    /// Replaces the contents with one candidate per logit, in id order, reusing the buffer.
    ///
    /// NaN logits are treated as `-inf`, and `-inf` candidates are dropped altogether (they
    /// can never be drawn), so the list may be shorter than `logits` or empty.
    pub fn fill_from_logits(&mut self, logits: &[f32]) {
        self.data.clear();
        self.data.reserve(logits.len());
        self.data.extend(finite(logits));
    }

    /// The same as [`fill_from_logits`](Self::fill_from_logits) followed by
    /// [`top_k`](crate::top_k)`(k)`, without building the whole vocabulary's list first when `k`
    /// is small against it.
    pub fn fill_top_k_from_logits(&mut self, logits: &[f32], k: usize) {
        if !crate::truncation::heap_top_k(k, logits.len()) {
            self.fill_from_logits(logits);
            crate::truncation::top_k(self, k);
            return;
        }
        let best = crate::truncation::best_k(finite(logits), k);
        self.data.clear();
        self.data.extend(best);
    }

    /// Number of candidates.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether no candidate is left.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The candidates, in their current order.
    pub fn as_slice(&self) -> &[Candidate] {
        &self.data
    }

    /// Mutable access for custom processors.
    pub fn as_mut_slice(&mut self) -> &mut [Candidate] {
        &mut self.data
    }

    /// Iterates over the candidates in their current order.
    pub fn iter(&self) -> std::slice::Iter<'_, Candidate> {
        self.data.iter()
    }

    /// Keeps only the first `n` candidates in the current order.
    pub fn truncate(&mut self, n: usize) {
        self.data.truncate(n);
    }

    /// Keeps only the candidates for which `f` returns true (order preserved).
    pub fn retain(&mut self, f: impl FnMut(&Candidate) -> bool) {
        self.data.retain(f);
    }

    /// Removes every candidate.
    pub fn clear(&mut self) {
        self.data.clear();
    }

    /// Sorts by logit descending, ties by id ascending.
    pub fn sort_by_logit_desc(&mut self) {
        self.data.sort_unstable_by(more_likely_first);
    }

    /// Sorts by id ascending (the canonical order used for drawing).
    pub fn sort_by_id(&mut self) {
        if !self.data.is_sorted_by_key(|c| c.id) {
            self.data.sort_unstable_by_key(|c| c.id);
        }
    }

    /// The largest logit, or `None` if the list is empty.
    pub fn max_logit(&self) -> Option<f32> {
        self.data.iter().map(|c| c.logit).reduce(f32::max)
    }

    /// Sets `p = softmax(logit)` over the current candidates (numerically stable: the
    /// maximum logit is subtracted first, sums are accumulated in f64).
    ///
    /// If some logits are `+inf`, those candidates share all the probability mass equally.
    pub fn softmax(&mut self) {
        let Some(max) = self.max_logit() else {
            return;
        };
        if max == f32::INFINITY {
            let n_inf = self
                .data
                .iter()
                .filter(|c| c.logit == f32::INFINITY)
                .count();
            let share = 1.0 / n_inf as f32;
            for c in &mut self.data {
                c.p = if c.logit == f32::INFINITY { share } else { 0.0 };
            }
            return;
        }
        let mut sum = 0.0f64;
        for c in &mut self.data {
            c.p = (c.logit - max).exp();
            sum += f64::from(c.p);
        }
        // sum >= 1 because the max element contributes exp(0) = 1.
        let inv = (1.0 / sum) as f32;
        for c in &mut self.data {
            c.p *= inv;
        }
    }

    /// Rescales the probabilities so they sum to 1 (after truncation). Leaves the list
    /// untouched if the total mass is zero.
    pub fn renormalize(&mut self) {
        let sum: f64 = self.data.iter().map(|c| f64::from(c.p)).sum();
        if sum > 0.0 && sum.is_finite() {
            let inv = 1.0 / sum;
            for c in &mut self.data {
                c.p = (f64::from(c.p) * inv) as f32;
            }
        }
    }

    /// Mutable access to the underlying vector for processors in this crate.
    pub(crate) fn vec_mut(&mut self) -> &mut Vec<Candidate> {
        &mut self.data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_drops_nan_and_neg_inf() {
        let c = Candidates::from_logits(&[1.0, f32::NAN, f32::NEG_INFINITY, -3.0, f32::INFINITY]);
        let ids: Vec<u32> = c.iter().map(|c| c.id).collect();
        assert_eq!(ids, vec![0, 3, 4]);
    }

    #[test]
    fn softmax_matches_reference() {
        let logits = [1.0f32, 2.0, 3.0, -1.0];
        let mut c = Candidates::from_logits(&logits);
        c.softmax();
        let z: f64 = logits.iter().map(|&l| f64::from(l).exp()).sum();
        for (cand, &l) in c.iter().zip(&logits) {
            let want = f64::from(l).exp() / z;
            assert!(
                (f64::from(cand.p) - want).abs() < 1e-6,
                "{cand:?} vs {want}"
            );
        }
    }

    #[test]
    fn softmax_is_stable_for_huge_logits() {
        let mut c = Candidates::from_logits(&[1e30, 1e30 - 1e24, -1e30]);
        c.softmax();
        let total: f32 = c.iter().map(|c| c.p).sum();
        assert!((total - 1.0).abs() < 1e-6);
        assert!(c.iter().all(|c| c.p.is_finite()));
    }

    #[test]
    fn softmax_with_pos_inf_splits_mass_among_inf() {
        let mut c = Candidates::from_logits(&[f32::INFINITY, 5.0, f32::INFINITY]);
        c.softmax();
        let ps: Vec<f32> = c.iter().map(|c| c.p).collect();
        assert_eq!(ps, vec![0.5, 0.0, 0.5]);
    }

    #[test]
    fn from_probs_round_trips() {
        let c = Candidates::from_probs(&[0.1, 0.2, 0.3, 0.4]);
        for (cand, want) in c.iter().zip([0.1f32, 0.2, 0.3, 0.4]) {
            assert!((cand.p - want).abs() < 1e-6);
        }
    }

    #[test]
    fn sort_orders_ties_by_id() {
        let mut c = Candidates::from_logits(&[1.0, 2.0, 2.0, 0.0]);
        c.sort_by_logit_desc();
        let ids: Vec<u32> = c.iter().map(|c| c.id).collect();
        assert_eq!(ids, vec![1, 2, 0, 3]);
        c.sort_by_id();
        let ids: Vec<u32> = c.iter().map(|c| c.id).collect();
        assert_eq!(ids, vec![0, 1, 2, 3]);
    }
}
