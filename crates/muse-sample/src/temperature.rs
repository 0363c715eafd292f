//! Temperature scaling.

use crate::candidates::{Candidates, more_likely_first};

/// Divides every logit by `t`, so the following softmax computes `softmax(logit / t)`.
///
/// `t == 1` is a no-op. `t <= 0` (or NaN) is treated as the greedy limit: only the most
/// likely candidate (lowest id among ties) is kept.
pub fn temperature(c: &mut Candidates, t: f32) {
    if t == 1.0 {
        return;
    }
    if t.is_nan() || t <= 0.0 {
        let best = c.iter().copied().min_by(more_likely_first);
        c.clear();
        if let Some(best) = best {
            c.vec_mut().push(best);
        }
        return;
    }
    let inv = 1.0 / t;
    if inv.is_finite() {
        for x in c.as_mut_slice() {
            x.logit *= inv;
        }
    } else {
        for x in c.as_mut_slice() {
            x.logit /= t;
        }
    }
}
