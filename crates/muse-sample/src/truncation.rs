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
/// Runs in O(n) via `select_nth_unstable_by`; the kept candidates are left unordered.
pub fn top_k(c: &mut Candidates, k: usize) {
    let v = c.vec_mut();
    if k == 0 || k >= v.len() {
        return;
    }
    v.select_nth_unstable_by(k - 1, more_likely_first);
    v.truncate(k);
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
