//! Relevance: does the text answer the prompt, and — when passages were retrieved for it — is
//! what it says supported by them?
//!
//! * **Prompt similarity** — cosine between the prompt's embedding and the mean of the text's
//!   sentence embeddings (sentence-level, so a text longer than the embedding model's window is
//!   still seen whole), mapped by `ramp(cos, 0.0, 0.6)`.
//! * **Groundedness** — the share of the text's sentences whose best cosine to any retrieved
//!   passage is at least [`SUPPORT_THRESHOLD`]: a sentence-embedding form of the "supported
//!   sentence" checks of attribution metrics (Rashkin et al. 2023, "Measuring attribution in
//!   natural language generation models").
//!
//! `relevance = prompt term` without passages, `0.5·prompt term + 0.5·groundedness` with them.

use crate::vector::{cosine, mean, ramp};
use serde::Serialize;

/// Cosine to a passage above which a sentence counts as supported.
pub const SUPPORT_THRESHOLD: f64 = 0.5;

/// The sub-measures behind the relevance score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RelevanceDetails {
    /// Cosine between prompt and text.
    pub prompt_similarity: f64,
    /// Share of sentences supported by a passage (`null` without passages).
    pub groundedness: Option<f64>,
    pub supported_sentences: Option<usize>,
}

/// Relevance from the prompt's embedding, the text's sentence embeddings and the passages'.
pub fn relevance(
    prompt: &[f32],
    sentences: &[&[f32]],
    passages: &[&[f32]],
) -> (f64, RelevanceDetails) {
    if sentences.is_empty() {
        return (
            0.0,
            RelevanceDetails {
                prompt_similarity: 0.0,
                groundedness: passages.first().map(|_| 0.0),
                supported_sentences: passages.first().map(|_| 0),
            },
        );
    }
    let text = mean(sentences);
    let sim = cosine(prompt, &text);
    let prompt_term = ramp(sim, 0.0, 0.6);
    if passages.is_empty() {
        return (
            prompt_term,
            RelevanceDetails {
                prompt_similarity: sim,
                groundedness: None,
                supported_sentences: None,
            },
        );
    }
    let supported = sentences
        .iter()
        .filter(|s| {
            passages
                .iter()
                .map(|p| cosine(s, p))
                .fold(f64::NEG_INFINITY, f64::max)
                >= SUPPORT_THRESHOLD
        })
        .count();
    let grounded = supported as f64 / sentences.len() as f64;
    (
        0.5 * prompt_term + 0.5 * grounded,
        RelevanceDetails {
            prompt_similarity: sim,
            groundedness: Some(grounded),
            supported_sentences: Some(supported),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closer_to_the_prompt_is_more_relevant() {
        let p = [1.0f32, 0.0];
        let on: [&[f32]; 2] = [&[1.0, 0.1], &[0.9, 0.2]];
        let off: [&[f32]; 2] = [&[0.0, 1.0], &[0.1, 1.0]];
        assert!(relevance(&p, &on, &[]).0 > relevance(&p, &off, &[]).0);
    }

    #[test]
    fn groundedness_counts_supported_sentences() {
        let p = [1.0f32, 0.0];
        let s: [&[f32]; 2] = [&[1.0, 0.0], &[0.0, 1.0]];
        let passage: [&[f32]; 1] = [&[1.0, 0.05]];
        let (_, d) = relevance(&p, &s, &passage);
        assert_eq!(d.supported_sentences, Some(1));
        assert_eq!(d.groundedness, Some(0.5));
    }

    #[test]
    fn empty_text_is_zero() {
        assert_eq!(relevance(&[1.0], &[], &[]).0, 0.0);
    }
}
