//! Output optimisation by the evaluator's score: pick the best of N candidates, and between
//! rounds of refinement, nudge the sampling parameters against the weakest dimension.

use crate::evaluator::Dimension;
use muse_sample::SamplingParams;

/// Index of the highest of `overall` scores (the first on ties); `None` if empty.
pub fn best_index(overall: impl IntoIterator<Item = f64>) -> Option<usize> {
    overall
        .into_iter()
        .enumerate()
        .fold(None, |best: Option<(usize, f64)>, (i, s)| match best {
            Some((_, b)) if b >= s => best,
            _ => Some((i, s)),
        })
        .map(|(i, _)| i)
}

/// Sampling parameters for the next round, given the weakest dimension of the best candidate
/// so far, and the seed offset so the round draws new samples:
///
/// * coherence — a stronger repetition penalty (×1.1, at most 1.5) and a slightly cooler
///   temperature (×0.9): loops and drift are what break coherence in sampled text;
/// * fluency — a cooler temperature (×0.8) and a higher min-p floor (+0.05, at most 0.3): fewer
///   unlikely tokens;
/// * relevance — cooler (×0.85): stay near the most likely, on-topic continuation;
/// * creativity — warmer (+0.15, at most 1.5) and a repetition penalty of at least 1.1.
///
/// Temperatures stay within [0.1, 1.5]; a greedy request (temperature 0) becomes 0.3 so that
/// another round can differ at all.
pub fn adjust_sampling(
    p: &SamplingParams,
    weakest: Dimension,
    round: usize,
    n: usize,
) -> SamplingParams {
    let mut q = p.clone();
    let t = if q.temperature == 0.0 {
        0.3
    } else {
        q.temperature
    };
    match weakest {
        Dimension::Coherence => {
            q.repeat_penalty = (q.repeat_penalty.max(1.0) * 1.1).min(1.5);
            q.temperature = t * 0.9;
        }
        Dimension::Fluency => {
            q.temperature = t * 0.8;
            q.min_p = (q.min_p + 0.05).min(0.3);
        }
        Dimension::Relevance => q.temperature = t * 0.85,
        Dimension::Creativity => {
            q.temperature = t + 0.15;
            q.repeat_penalty = q.repeat_penalty.max(1.1);
        }
    }
    q.temperature = q.temperature.clamp(0.1, 1.5);
    q.seed = p.seed.wrapping_add((round * n) as u64);
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_is_the_first_highest() {
        assert_eq!(best_index([0.2, 0.9, 0.9, 0.1]), Some(1));
        assert_eq!(best_index(Vec::<f64>::new()), None);
    }

    #[test]
    fn each_weakness_moves_the_parameters_its_way() {
        let p = SamplingParams {
            temperature: 0.7,
            repeat_penalty: 1.0,
            ..SamplingParams::default()
        };
        let c = adjust_sampling(&p, Dimension::Coherence, 1, 4);
        assert!(c.repeat_penalty > p.repeat_penalty && c.temperature < p.temperature);
        let f = adjust_sampling(&p, Dimension::Fluency, 1, 4);
        assert!(f.temperature < p.temperature && f.min_p > p.min_p);
        let k = adjust_sampling(&p, Dimension::Creativity, 1, 4);
        assert!(k.temperature > p.temperature);
        assert_eq!(k.seed, p.seed + 4);
        assert!(
            adjust_sampling(&SamplingParams::greedy(), Dimension::Relevance, 2, 1).temperature
                > 0.0
        );
        for d in [
            Dimension::Coherence,
            Dimension::Fluency,
            Dimension::Relevance,
            Dimension::Creativity,
        ] {
            let mut q = p.clone();
            for r in 0..50 {
                q = adjust_sampling(&q, d, r, 1);
                assert!((0.1..=1.5).contains(&q.temperature) && q.repeat_penalty <= 1.5);
                q.validate().unwrap();
            }
        }
    }
}
