//! Creativity: varied wording, content not copied from the prompt or the sources, and — among
//! several candidates — difference from the others.
//!
//! * **Lexical diversity** — distinct-1 and distinct-2 (Li et al. 2016, "A diversity-promoting
//!   objective function for neural conversation models") fall as a text grows even when it never
//!   repeats itself. The length-normalised form used here is Herdan's C (Herdan 1960),
//!   `ln(distinct n-grams) / ln(n-grams)`, which stays nearly constant over length for natural text
//!   and drops whenever material repeats. Mapped by `ramp(C₁, 0.75, 0.97)` and
//!   `ramp(C₂, 0.90, 1.0)`; diversity is their mean.
//! * **Novelty** — the share of the text's word bigrams that appear in neither the prompt nor the
//!   retrieved passages.
//! * **Self-similarity** — across candidates for one prompt, the mean cosine of this candidate's
//!   embedding to the others' (cf. Self-BLEU, Zhu et al. 2018, "Texygen"); novelty across
//!   candidates is `1 − max(0, that)`.
//!
//! ```text
//! creativity = 0.7·diversity + 0.3·novelty                       (one text)
//!            = 0.6·diversity + 0.2·novelty + 0.2·(1 − self-sim)  (among candidates)
//! ```
//!
//! A text of fewer than two words has no measurable diversity: it scores 0.

use crate::text::{distinct, ngrams, words};
use crate::vector::ramp;
use serde::Serialize;
use std::collections::HashSet;

/// The sub-measures behind the creativity score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CreativityDetails {
    pub words: usize,
    /// Distinct unigrams / unigrams.
    pub distinct_1: f64,
    /// Distinct bigrams / bigrams.
    pub distinct_2: f64,
    /// Herdan's C of unigrams and bigrams.
    pub herdan_1: f64,
    pub herdan_2: f64,
    pub diversity: f64,
    /// Share of bigrams found in neither prompt nor passages.
    pub novelty: f64,
    /// Mean cosine to the other candidates (`null` for a single text).
    pub self_similarity: Option<f64>,
}

/// Herdan's C: ln(types) / ln(tokens); 1 for fewer than two tokens.
fn herdan(types: usize, tokens: usize) -> f64 {
    if tokens < 2 || types == 0 {
        return 1.0;
    }
    (types as f64).ln() / (tokens as f64).ln()
}

/// Creativity of `text` against its `sources` (the prompt and any passages), with the mean
/// cosine to sibling candidates when there are some.
pub fn creativity(
    text: &str,
    sources: &[&str],
    self_similarity: Option<f64>,
) -> (f64, CreativityDetails) {
    let w = words(text);
    let uni = w.len();
    let bi = ngrams(&w, 2);
    let (d1, d2) = (distinct(&w), distinct(&bi));
    let ratio = |d: usize, n: usize| if n == 0 { 0.0 } else { d as f64 / n as f64 };
    let (h1, h2) = (herdan(d1, uni), herdan(d2, bi.len()));
    let diversity = if uni < 2 {
        0.0
    } else {
        0.5 * ramp(h1, 0.75, 0.97) + 0.5 * ramp(h2, 0.90, 1.0)
    };
    let known: HashSet<String> = sources.iter().flat_map(|s| ngrams(&words(s), 2)).collect();
    let novelty = if bi.is_empty() {
        0.0
    } else {
        bi.iter().filter(|g| !known.contains(*g)).count() as f64 / bi.len() as f64
    };
    let score = match self_similarity {
        None => 0.7 * diversity + 0.3 * novelty,
        Some(s) => 0.6 * diversity + 0.2 * novelty + 0.2 * (1.0 - s.clamp(0.0, 1.0)),
    };
    (
        score.clamp(0.0, 1.0),
        CreativityDetails {
            words: uni,
            distinct_1: ratio(d1, uni),
            distinct_2: ratio(d2, bi.len()),
            herdan_1: h1,
            herdan_2: h2,
            diversity,
            novelty,
            self_similarity,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "Kites rise when wind pushes against a tilted sail. The string holds them at an angle. \
        Children learn quickly how to let out line in gusts.";

    #[test]
    fn repeating_a_sentence_lowers_diversity() {
        let rep = format!("{TEXT} The string holds them at an angle.");
        assert!(creativity(&rep, &[], None).0 < creativity(TEXT, &[], None).0);
    }

    #[test]
    fn copying_the_prompt_lowers_novelty() {
        let prompt = "Kites rise when wind pushes against a tilted sail.";
        let (_, d) = creativity(TEXT, &[prompt], None);
        assert!(d.novelty < 1.0 && d.novelty > 0.5, "{}", d.novelty);
        assert_eq!(creativity(TEXT, &[], None).1.novelty, 1.0);
    }

    #[test]
    fn similar_siblings_lower_creativity() {
        assert!(creativity(TEXT, &[], Some(0.9)).0 < creativity(TEXT, &[], Some(0.1)).0);
    }

    #[test]
    fn tiny_texts_are_defined() {
        for t in ["", "word", "雨"] {
            let (s, _) = creativity(t, &["prompt"], None);
            assert!(s.is_finite() && (0.0..=1.0).contains(&s), "{t}: {s}");
        }
    }
}
