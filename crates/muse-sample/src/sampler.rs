//! The sampler: penalties, then the processor chain, then a seeded draw.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::candidates::{Candidates, more_likely_first};
use crate::penalties::{Penalties, TokenHistory, apply_penalties};
use crate::temperature::temperature;
use crate::truncation::{min_p, top_p};
use crate::{SampleError, SamplingParams};

/// Exact argmax over `logits`: the highest value, ties going to the lowest id. NaN counts
/// as `-inf`; returns `None` if every logit is NaN or `-inf` (or the slice is empty).
pub fn greedy(logits: &[f32]) -> Option<u32> {
    let mut best: Option<(usize, f32)> = None;
    for (i, &x) in logits.iter().enumerate() {
        if x.is_nan() || x == f32::NEG_INFINITY {
            continue;
        }
        match best {
            Some((_, b)) if x <= b => {}
            _ => best = Some((i, x)),
        }
    }
    best.map(|(i, _)| i as u32)
}

/// A uniform `f64` in `[0, 1)` from the top 53 bits of one `next_u64`. Written out here
/// (rather than using `rand`'s distributions) so the stream is pinned to the ChaCha8
/// output alone and cannot change with a `rand` release.
fn unit_f64<R: RngCore + ?Sized>(rng: &mut R) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Expands a `u64` seed into a 32-byte ChaCha key with SplitMix64 (Steele et al. 2014),
/// defined here so that seeding does not depend on `rand_core`'s `seed_from_u64`.
pub(crate) fn rng_from_seed(seed: u64) -> ChaCha8Rng {
    let mut state = seed;
    let mut key = [0u8; 32];
    for chunk in key.chunks_exact_mut(8) {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        chunk.copy_from_slice(&z.to_le_bytes());
    }
    ChaCha8Rng::from_seed(key)
}

/// Draws one token from the candidates' probabilities (they need not sum to 1).
///
/// Candidates are first put in id order, so the token drawn for a given random number
/// does not depend on the order earlier processors left them in. Consumes exactly one
/// `u64` from `rng`. Returns `None` only for an empty list.
pub fn draw<R: RngCore + ?Sized>(c: &mut Candidates, rng: &mut R) -> Option<u32> {
    let u = unit_f64(rng);
    c.sort_by_id();
    let total: f64 = c.iter().map(|x| f64::from(x.p)).sum();
    if !(total > 0.0 && total.is_finite()) {
        // Probabilities were never computed or are degenerate: fall back to the argmax.
        return c
            .iter()
            .min_by(|a, b| more_likely_first(a, b))
            .map(|x| x.id);
    }
    let r = u * total;
    let mut cum = 0.0f64;
    let mut last = None;
    for x in c.iter() {
        if x.p > 0.0 {
            cum += f64::from(x.p);
            last = Some(x.id);
            if r < cum {
                return last;
            }
        }
    }
    // Only reachable through rounding (r within an ulp of total).
    last
}

/// A stateful sampler for one sequence: holds the parameters, the seeded ChaCha8
/// generator, the penalty window and a reusable candidate buffer.
///
/// Per token: call [`sample`](Self::sample), then [`accept`](Self::accept) the token that
/// was actually appended (also accept every prompt token beforehand so the penalties see
/// them).
pub struct Sampler {
    params: SamplingParams,
    penalties: Penalties,
    rng: ChaCha8Rng,
    history: TokenHistory,
    candidates: Candidates,
}

impl std::fmt::Debug for Sampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sampler")
            .field("params", &self.params)
            .field("history_len", &self.history.len())
            .finish_non_exhaustive()
    }
}

impl Sampler {
    /// Validates `params` and builds a sampler seeded with `params.seed`.
    pub fn new(params: SamplingParams) -> Result<Self, SampleError> {
        params.validate()?;
        Ok(Self {
            penalties: Penalties {
                repeat: params.repeat_penalty,
                presence: params.presence_penalty,
                frequency: params.frequency_penalty,
            },
            rng: rng_from_seed(params.seed),
            history: TokenHistory::new(params.repeat_last_n),
            candidates: Candidates::new(),
            params,
        })
    }

    /// Applies the penalties (from the accepted history) to `logits` in place, then the
    /// chain top-k → temperature → softmax → top-p → min-p → renormalise, and draws one
    /// token id. With `temperature == 0` this is the exact argmax of the penalised logits
    /// (ties → lowest id) and the random generator is not touched.
    ///
    /// NaN logits are treated as `-inf`. Errors if `logits` is empty or no logit is left
    /// that could be drawn. The returned token is *not* recorded: call
    /// [`accept`](Self::accept).
    pub fn sample(&mut self, logits: &mut [f32]) -> Result<u32, SampleError> {
        if logits.is_empty() {
            return Err(SampleError::EmptyLogits);
        }
        let no_token = SampleError::NoFiniteLogits { len: logits.len() };
        apply_penalties(logits, self.history.counts(), &self.penalties);

        let p = &self.params;
        if p.temperature == 0.0 {
            return greedy(logits).ok_or(no_token);
        }
        let c = &mut self.candidates;
        c.fill_top_k_from_logits(logits, p.top_k);
        if c.is_empty() {
            return Err(no_token);
        }
        temperature(c, p.temperature);
        c.softmax();
        top_p(c, p.top_p);
        min_p(c, p.min_p);
        c.renormalize();
        draw(c, &mut self.rng).ok_or(no_token)
    }

    /// Records a token accepted into the sequence (prompt tokens included) for the
    /// penalties' window.
    pub fn accept(&mut self, token: u32) {
        self.history.push(token);
    }

    /// The parameters this sampler was built with.
    pub fn params(&self) -> &SamplingParams {
        &self.params
    }

    /// The penalty window.
    pub fn history(&self) -> &TokenHistory {
        &self.history
    }

    /// The candidates (with their final probabilities, in id order) that the last
    /// non-greedy [`sample`](Self::sample) drew from. Empty after greedy sampling.
    pub fn last_candidates(&self) -> &Candidates {
        &self.candidates
    }

    /// Forgets the history and reseeds the generator, as if freshly constructed.
    pub fn reset(&mut self) {
        self.history.clear();
        self.candidates.clear();
        self.rng = rng_from_seed(self.params.seed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_expansion_is_splitmix64() {
        // Reference SplitMix64 outputs for state 0 (Vigna's splitmix64.c).
        let want: [u64; 4] = [
            0xE220_A839_7B1D_CDAF,
            0x6E78_9E6A_A1B9_65F4,
            0x06C4_5D18_8009_454F,
            0xF88B_B8A8_724C_81EC,
        ];
        let key = rng_from_seed(0).get_seed();
        for (chunk, w) in key.chunks_exact(8).zip(want) {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            assert_eq!(u64::from_le_bytes(b), w);
        }
    }

    #[test]
    fn unit_f64_is_in_range() {
        let mut rng = rng_from_seed(7);
        for _ in 0..10_000 {
            let u = unit_f64(&mut rng);
            assert!((0.0..1.0).contains(&u));
        }
    }

    #[test]
    fn draw_falls_back_to_argmax_without_probabilities() {
        let mut c = Candidates::from_logits(&[0.0, 2.0, 1.0]);
        // p fields are all zero: no softmax was run.
        let mut rng = rng_from_seed(1);
        assert_eq!(draw(&mut c, &mut rng), Some(1));
        let mut empty = Candidates::new();
        assert_eq!(draw(&mut empty, &mut rng), None);
    }
}
