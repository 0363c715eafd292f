//! Fluency: how probable the language model finds the text, token by token.
//!
//! The measure is the mean negative log-likelihood per token (the log of perplexity, Jelinek et al.
//! 1977), which is already normalised for length. It is mapped to [0, 1] by a decreasing logistic
//! function,
//!
//! ```text
//! fluency = 1 / (1 + exp((nll - NLL_MID) / NLL_SCALE))
//! ```
//!
//! so perplexity e^NLL_MID scores 0.5, lower perplexity approaches 1 and higher approaches 0. The
//! midpoint sits between the perplexity the packaged SmolLM2-135M gives well-formed English
//! paragraphs and the one it gives the same words shuffled (calibration: the validity corpus,
//! `crates/muse-engine/tests/quality_validity.rs`). Per-token values are clipped at `NLL_CLIP`
//! before averaging, so one freak token (a name, a number) cannot sink a long text.

use serde::Serialize;

/// Mean NLL (nats per token) that scores 0.5.
pub const NLL_MID: f64 = 4.5;
/// Width of the logistic, in nats.
pub const NLL_SCALE: f64 = 0.7;
/// Largest NLL one token contributes.
pub const NLL_CLIP: f64 = 12.0;

/// The sub-measures behind the fluency score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FluencyDetails {
    /// Tokens scored.
    pub tokens: usize,
    /// Mean negative log-likelihood per token (clipped), in nats.
    pub mean_nll: f64,
    /// exp(mean_nll).
    pub perplexity: f64,
}

/// One token's negative log-likelihood, clipped to [0, NLL_CLIP]; a non-finite value counts as
/// the clip.
pub fn clipped_nll(logprob: f64) -> f64 {
    if logprob.is_finite() {
        (-logprob).clamp(0.0, NLL_CLIP)
    } else {
        NLL_CLIP
    }
}

/// Fluency from the per-token log-probabilities of a text (ln P(token | previous tokens)).
/// Returns 0 for no tokens.
pub fn fluency(logprobs: &[f64]) -> (f64, FluencyDetails) {
    let finite: Vec<f64> = logprobs.iter().map(|&lp| clipped_nll(lp)).collect();
    if finite.is_empty() {
        return (
            0.0,
            FluencyDetails {
                tokens: 0,
                mean_nll: NLL_CLIP,
                perplexity: NLL_CLIP.exp(),
            },
        );
    }
    let mean_nll = finite.iter().sum::<f64>() / finite.len() as f64;
    let score = 1.0 / (1.0 + ((mean_nll - NLL_MID) / NLL_SCALE).exp());
    (
        score,
        FluencyDetails {
            tokens: finite.len(),
            mean_nll,
            perplexity: mean_nll.exp(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotone_in_perplexity_and_half_at_the_midpoint() {
        let at = |nll: f64| fluency(&[-nll; 10]).0;
        assert!((at(NLL_MID) - 0.5).abs() < 1e-12);
        let mut last = 1.0;
        for i in 0..40 {
            let f = at(i as f64 * 0.25);
            assert!(f <= last && (0.0..=1.0).contains(&f));
            last = f;
        }
        assert!(at(1.0) > 0.99 && at(9.0) < 0.01);
    }

    #[test]
    fn length_does_not_move_the_score() {
        let short = fluency(&[-3.0, -2.0]).0;
        let long = fluency(&[-3.0, -2.0].repeat(50)).0;
        assert!((short - long).abs() < 1e-12);
    }

    #[test]
    fn no_tokens_and_non_finite_values_are_defined() {
        assert_eq!(fluency(&[]).0, 0.0);
        let (f, d) = fluency(&[f64::NEG_INFINITY, f64::NAN]);
        assert!(f.is_finite() && d.mean_nll == NLL_CLIP);
    }
}
