//! Truncation processors: top-k, top-p (nucleus) and min-p.
//!
//! Each processor only removes candidates; none of them renormalises. Call
//! [`Candidates::renormalize`] after the last one.

use crate::candidates::{Candidates, more_likely_first};

/// Slack for the top-p cumulative-sum comparison, so that e.g. `0.4 + 0.3` computed in
/// floating point still counts as reaching `top_p = 0.7`.
const TOP_P_EPSILON: f64 = 1e-6;

/// First chunk size for the incremental partial sort in [`top_p`].
const TOP_P_FIRST_CHUNK: usize = 128;

/// Keeps the `k` candidates with the highest logits (ties: lower id wins). `k == 0` or
/// `k >= len` is a no-op.
///
/// The kept candidates are left unordered. A small `k` against a large list (the usual 40 of a
/// 50k vocabulary) keeps a heap of the best `k` in one pass — almost every candidate costs one
/// comparison with the heap's worst — which is several times faster than `select_nth_unstable_by`
/// (O(n) too, but moving every candidate around); other cases use the latter.
pub fn top_k(c: &mut Candidates, k: usize) {
    let v = c.vec_mut();
    if k == 0 || k >= v.len() {
        return;
    }
    if k.saturating_mul(64) <= v.len() {
        let best: Vec<_> = best_k(v.iter().copied(), k).collect();
        *v = best;
        return;
    }
    v.select_nth_unstable_by(k - 1, more_likely_first);
    v.truncate(k);
}

/// Whether [`top_k`] of `k` over `n` candidates takes the one-pass heap.
pub(crate) fn heap_top_k(k: usize, n: usize) -> bool {
    k > 0 && k.saturating_mul(64) <= n
}

/// The `k` most likely of `items` (unordered), in one pass with a heap of the best so far.
pub(crate) fn best_k(
    items: impl Iterator<Item = crate::candidates::Candidate>,
    k: usize,
) -> impl Iterator<Item = crate::candidates::Candidate> {
    let mut heap = std::collections::BinaryHeap::with_capacity(k);
    // Below the heap's worst logit a candidate cannot enter: one float comparison rejects it.
    let mut floor = f32::NEG_INFINITY;
    for x in items {
        if heap.len() < k {
            heap.push(LeastLikelyOnTop(x));
            if heap.len() == k {
                floor = heap.peek().map_or(floor, |w| w.0.logit);
            }
        } else if x.logit >= floor {
            if let Some(mut worst) = heap.peek_mut()
                && more_likely_first(&x, &worst.0) == std::cmp::Ordering::Less
            {
                *worst = LeastLikelyOnTop(x);
            }
            floor = heap.peek().map_or(floor, |w| w.0.logit);
        }
    }
    heap.into_iter().map(|w| w.0)
}

/// Heap order for [`top_k`]: the greatest element is the least likely candidate.
struct LeastLikelyOnTop(crate::candidates::Candidate);

impl PartialEq for LeastLikelyOnTop {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}
impl Eq for LeastLikelyOnTop {}
impl PartialOrd for LeastLikelyOnTop {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for LeastLikelyOnTop {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        more_likely_first(&self.0, &other.0)
    }
}

/// Nucleus sampling (Holtzman et al. 2019): keeps the smallest set of most likely
/// candidates whose cumulative probability reaches `p` (relative to the total mass of the
/// list, so it also works on an unnormalised list). Always keeps at least one candidate.
/// `p >= 1` is a no-op. Requires probabilities ([`Candidates::softmax`]).
///
/// The kept candidates end up sorted most-likely first. To avoid sorting a whole
/// vocabulary, candidates are selected and sorted in geometrically growing chunks
/// (128, 256, ...) until the mass is reached.
pub fn top_p(c: &mut Candidates, p: f32) {
    if p.is_nan() || p >= 1.0 || c.len() <= 1 {
        return;
    }
    let total: f64 = c.iter().map(|x| f64::from(x.p)).sum();
    let target = f64::from(p) * total - TOP_P_EPSILON * total;
    let v = c.vec_mut();
    let n = v.len();
    let mut cum = 0.0f64;
    let mut done = 0usize; // v[..done] holds the `done` most likely candidates, sorted
    let mut chunk = TOP_P_FIRST_CHUNK;
    while done < n {
        let end = done.saturating_add(chunk).min(n);
        let rest = &mut v[done..];
        if end < n {
            rest.select_nth_unstable_by(end - done - 1, more_likely_first);
        }
        rest[..end - done].sort_unstable_by(more_likely_first);
        for i in done..end {
            cum += f64::from(v[i].p);
            if cum >= target {
                v.truncate(i + 1);
                return;
            }
        }
        done = end;
        chunk = chunk.saturating_mul(2);
    }
}

/// Min-p sampling (Nguyen et al. 2024): drops candidates whose probability is below
/// `m * p_max`. Always keeps the most likely candidate. `m <= 0` is a no-op. Requires
/// probabilities ([`Candidates::softmax`]); order is preserved.
pub fn min_p(c: &mut Candidates, m: f32) {
    if m.is_nan() || m <= 0.0 || c.is_empty() {
        return;
    }
    let p_max = c.iter().map(|x| x.p).fold(0.0f32, f32::max);
    let threshold = m * p_max;
    c.retain(|x| x.p >= threshold);
}
