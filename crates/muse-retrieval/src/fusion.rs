//! Reciprocal rank fusion (Cormack, Clarke & Büttcher 2009, "Reciprocal Rank Fusion outperforms
//! Condorcet and individual rank learning methods", SIGIR): a document's fused score is
//! `Σ_m w_m / (k + rank_m)` over the rankings `m` that contain it, ranks counted from 1. Only
//! ranks matter, so cosine similarities and BM25 scores need no common scale. The paper's
//! `k = 60` is the default.

use std::collections::HashMap;

/// The paper's constant.
pub const DEFAULT_K: f32 = 60.0;

/// Fuse ranked id lists (best first) with one weight each; returns `(id, score)` best first,
/// ties broken by id so the order is deterministic.
pub fn rrf(rankings: &[(&[i64], f32)], k: f32) -> Vec<(i64, f32)> {
    let mut scores: HashMap<i64, f32> = HashMap::new();
    for (ranking, weight) in rankings {
        for (r, id) in ranking.iter().enumerate() {
            *scores.entry(*id).or_default() += weight / (k + r as f32 + 1.0);
        }
    }
    let mut out: Vec<(i64, f32)> = scores.into_iter().collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreement_beats_a_single_first_place() {
        let vector = [1, 2, 3];
        let keyword = [4, 2, 5];
        let fused = rrf(&[(&vector, 1.0), (&keyword, 1.0)], 60.0);
        let ids: Vec<i64> = fused.iter().map(|f| f.0).collect();
        // 2: 2/62 beats the single first places of 1 and 4 (1/61, tied: lower id first).
        assert_eq!(ids, vec![2, 1, 4, 3, 5]);
        assert!((fused[0].1 - 2.0 / 62.0).abs() < 1e-6);
    }

    #[test]
    fn weights_shift_the_order() {
        let vector = [1, 2];
        let keyword = [2, 1];
        let ids = |w: f32| -> Vec<i64> {
            rrf(&[(&vector, w), (&keyword, 1.0)], 60.0)
                .iter()
                .map(|f| f.0)
                .collect()
        };
        assert_eq!(ids(2.0), vec![1, 2]);
        assert_eq!(ids(0.5), vec![2, 1]);
        assert_eq!(ids(0.0)[0], 2);
    }
}
