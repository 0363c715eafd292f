//! The evaluator: one text (or a set of candidates) in, four scores and their overall out.

use crate::coherence::{CoherenceDetails, coherence};
use crate::creativity::{CreativityDetails, creativity};
use crate::error::{BackendError, QualityError};
use crate::fluency::{FluencyDetails, clipped_nll, fluency};
use crate::relevance::{RelevanceDetails, relevance};
use crate::text::sentences;
use crate::vector::{cosine, mean};
use crate::weights::Weights;
use serde::Serialize;

/// A language model that scores text: `ln P(token | previous tokens)` for every token of `text`
/// after the first (the first is conditioned on the beginning-of-text token where the model
/// has one). May return an empty vector for a text too short to score.
pub trait TokenScorer {
    fn token_logprobs(&self, text: &str) -> Result<Vec<f64>, BackendError>;
}

/// A sentence-embedding model: one vector per input, in order.
pub trait Embedder {
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, BackendError>;
}

/// Everything behind the four scores.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Details {
    pub fluency: FluencyDetails,
    pub coherence: CoherenceDetails,
    pub relevance: RelevanceDetails,
    pub creativity: CreativityDetails,
}

/// The evaluation of one text; every score is in [0, 1].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scores {
    pub coherence: f64,
    pub fluency: f64,
    pub relevance: f64,
    pub creativity: f64,
    pub overall: f64,
    pub details: Details,
}

impl Scores {
    /// The weakest of the four dimensions, relative to its weight's importance: the dimension
    /// whose shortfall `weight · (1 − score)` costs the overall score most.
    pub fn weakest(&self, w: &Weights) -> Dimension {
        let costs = [
            (Dimension::Coherence, w.coherence * (1.0 - self.coherence)),
            (Dimension::Fluency, w.fluency * (1.0 - self.fluency)),
            (Dimension::Relevance, w.relevance * (1.0 - self.relevance)),
            (
                Dimension::Creativity,
                w.creativity * (1.0 - self.creativity),
            ),
        ];
        costs
            .iter()
            .fold(
                (Dimension::Coherence, f64::NEG_INFINITY),
                |best, &(d, c)| {
                    if c > best.1 { (d, c) } else { best }
                },
            )
            .0
    }
}

/// One of the four quality dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dimension {
    Coherence,
    Fluency,
    Relevance,
    Creativity,
}

/// Sum of the clipped per-token NLL (see [`crate::fluency::NLL_CLIP`]).
fn nll_sum(logprobs: &[f64]) -> f64 {
    logprobs.iter().map(|&lp| clipped_nll(lp)).sum()
}

/// Scores texts with a language model and a sentence-embedding model.
pub struct Evaluator<'a> {
    lm: &'a dyn TokenScorer,
    embedder: &'a dyn Embedder,
    weights: Weights,
}

/// Finite and in [0, 1]; anything else (NaN from a misbehaving backend) becomes 0.
fn unit(x: f64) -> f64 {
    if x.is_finite() {
        x.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

impl<'a> Evaluator<'a> {
    pub fn new(
        lm: &'a dyn TokenScorer,
        embedder: &'a dyn Embedder,
        weights: Weights,
    ) -> Result<Self, QualityError> {
        weights.validate()?;
        Ok(Self {
            lm,
            embedder,
            weights,
        })
    }

    pub fn weights(&self) -> &Weights {
        &self.weights
    }

    /// The language model's context gain over the sentences of a text whose per-token
    /// log-probabilities are `full` (see [`crate::coherence`]); `None` for fewer than two
    /// sentences.
    fn context_gain(&self, sentences: &[&str], full: &[f64]) -> Result<Option<f64>, QualityError> {
        if sentences.len() < 2 || full.is_empty() {
            return Ok(None);
        }
        let mut alone = 0.0;
        for s in sentences {
            let lp = self
                .lm
                .token_logprobs(s)
                .map_err(|source| QualityError::Backend {
                    what: "the language model",
                    source,
                })?;
            alone += nll_sum(&lp);
        }
        Ok(Some((alone - nll_sum(full)) / full.len() as f64))
    }

    /// Evaluate `text` as an answer to `prompt`, with the `passages` it was grounded on (may be
    /// empty).
    pub fn evaluate(
        &self,
        prompt: &str,
        text: &str,
        passages: &[&str],
    ) -> Result<Scores, QualityError> {
        let mut all = self.evaluate_candidates(prompt, &[text], passages)?;
        all.pop()
            .ok_or(QualityError::EmbeddingCount { got: 0, want: 1 })
    }

    /// Evaluate several candidate answers to one prompt. With two or more, creativity also
    /// rewards a candidate for differing from its siblings.
    pub fn evaluate_candidates(
        &self,
        prompt: &str,
        texts: &[&str],
        passages: &[&str],
    ) -> Result<Vec<Scores>, QualityError> {
        let split: Vec<Vec<&str>> = texts.iter().map(|t| sentences(t)).collect();
        // One embedding call for everything: prompt, passages, then each text's sentences.
        let mut inputs: Vec<&str> = vec![prompt];
        inputs.extend_from_slice(passages);
        for s in &split {
            inputs.extend_from_slice(s);
        }
        let vecs = self
            .embedder
            .embed(&inputs)
            .map_err(|source| QualityError::Backend {
                what: "the embedding model",
                source,
            })?;
        if vecs.len() != inputs.len() {
            return Err(QualityError::EmbeddingCount {
                got: vecs.len(),
                want: inputs.len(),
            });
        }
        let prompt_vec = &vecs[0];
        let passage_vecs: Vec<&[f32]> = vecs[1..1 + passages.len()]
            .iter()
            .map(Vec::as_slice)
            .collect();
        let mut offset = 1 + passages.len();
        let mut sentence_vecs: Vec<Vec<&[f32]>> = Vec::with_capacity(texts.len());
        for s in &split {
            sentence_vecs.push(
                vecs[offset..offset + s.len()]
                    .iter()
                    .map(Vec::as_slice)
                    .collect(),
            );
            offset += s.len();
        }
        let text_vecs: Vec<Vec<f32>> = sentence_vecs.iter().map(|v| mean(v)).collect();
        let mut sources: Vec<&str> = vec![prompt];
        sources.extend_from_slice(passages);

        let mut out = Vec::with_capacity(texts.len());
        for (i, text) in texts.iter().enumerate() {
            let logprobs = if text.trim().is_empty() {
                Vec::new()
            } else {
                self.lm
                    .token_logprobs(text)
                    .map_err(|source| QualityError::Backend {
                        what: "the language model",
                        source,
                    })?
            };
            let (flu, flu_d) = fluency(&logprobs);
            let gain = self.context_gain(&split[i], &logprobs)?;
            let (coh, coh_d) = coherence(&split[i], &sentence_vecs[i], gain);
            let (rel, rel_d) = relevance(prompt_vec, &sentence_vecs[i], &passage_vecs);
            let self_sim = (texts.len() > 1 && !text_vecs[i].is_empty()).then(|| {
                let others: Vec<f64> = (0..texts.len())
                    .filter(|&j| j != i && !text_vecs[j].is_empty())
                    .map(|j| cosine(&text_vecs[i], &text_vecs[j]))
                    .collect();
                if others.is_empty() {
                    0.0
                } else {
                    others.iter().sum::<f64>() / others.len() as f64
                }
            });
            let (cre, cre_d) = creativity(text, &sources, self_sim);
            let (coh, flu, rel, cre) = (unit(coh), unit(flu), unit(rel), unit(cre));
            out.push(Scores {
                coherence: coh,
                fluency: flu,
                relevance: rel,
                creativity: cre,
                overall: unit(self.weights.combine(coh, flu, rel, cre)),
                details: Details {
                    fluency: flu_d,
                    coherence: coh_d,
                    relevance: rel_d,
                    creativity: cre_d,
                },
            });
        }
        Ok(out)
    }
}
