//! Output optimisation: best-of-N by the quality score, with rounds of refinement.
//!
//! Each round samples N candidates in one batch ([`TextModel::generate_n`]), cleans them
//! ([`muse_quality::postprocess`]) and scores them together (so creativity sees how alike they
//! are). While the best overall score is below `min_score` and rounds remain, the next round
//! samples with parameters adjusted against the best candidate's weakest dimension
//! ([`muse_quality::adjust_sampling`]) and fresh seeds. The best candidate of all rounds wins.

use crate::error::EngineError;
use crate::generate::{FinishReason, GenerateRequest};
use crate::text_model::TextModel;
use muse_quality::{
    Dimension, Evaluator, PostEdits, Scores, adjust_sampling, best_index, postprocess,
};
use muse_sample::SamplingParams;
use serde::Serialize;
use std::time::Instant;

/// Most refinement rounds one request may ask for.
pub const MAX_ROUNDS: usize = 10;

/// What to optimise.
#[derive(Debug, Clone)]
pub struct OptimizeRequest {
    pub generate: GenerateRequest,
    /// Candidates per round.
    pub best_of: usize,
    /// Keep refining while the best overall score is below this.
    pub min_score: Option<f64>,
    /// Rounds at most (the first included).
    pub max_rounds: usize,
    /// Retrieved passages the answer should be grounded on (relevance's groundedness).
    pub passages: Vec<String>,
    /// Apply [`postprocess`] to every candidate before scoring.
    pub clean: bool,
    /// The request the candidates answer, for relevance (default: `generate.prompt`). Set it when
    /// the model's prompt is an instruction built around the user's request.
    pub eval_prompt: Option<String>,
}

impl OptimizeRequest {
    pub fn new(generate: GenerateRequest, best_of: usize) -> Self {
        Self {
            generate,
            best_of,
            min_score: None,
            max_rounds: 1,
            passages: Vec::new(),
            clean: true,
            eval_prompt: None,
        }
    }
}

/// One scored candidate.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    pub text: String,
    pub tokens: usize,
    pub finish_reason: FinishReason,
    pub seed: u64,
    pub round: usize,
    pub scores: Scores,
    pub postprocess: PostEdits,
    /// Whether the candidate passed the caller's checks (always true without any).
    pub passed_checks: bool,
    pub chosen: bool,
}

/// One round of sampling.
#[derive(Debug, Clone, Serialize)]
pub struct Round {
    pub round: usize,
    pub sampling: SamplingParams,
    /// Best overall score of this round.
    pub best_overall: f64,
    /// The weakest dimension of the best candidate so far, which the next round (if any) works on.
    pub weakest: Dimension,
    pub generate_ms: f64,
    pub evaluate_ms: f64,
}

/// The result of [`TextModel::optimize`].
#[derive(Debug, Clone, Serialize)]
pub struct Optimized {
    /// Index of the chosen candidate in `candidates`.
    pub chosen: usize,
    pub candidates: Vec<Candidate>,
    pub rounds: Vec<Round>,
    /// Whether `min_score` was reached (always true without one).
    pub reached_min_score: bool,
    /// Whether the chosen candidate passed the caller's checks.
    pub passed_checks: bool,
    pub model: String,
}

impl Optimized {
    /// The chosen candidate.
    pub fn best(&self) -> Option<&Candidate> {
        self.candidates.get(self.chosen)
    }
}

impl TextModel {
    /// Generate `best_of` candidates per round, score them with `evaluator`, refine while below
    /// `min_score`, and return every candidate with the best one marked.
    pub fn optimize(
        &self,
        req: &OptimizeRequest,
        evaluator: &Evaluator<'_>,
    ) -> Result<Optimized, EngineError> {
        self.optimize_checked(req, evaluator, &|t| t.to_string(), &|_| true)
    }

    /// [`TextModel::optimize`] with a reshaping step and a check: every cleaned candidate passes
    /// through `shape` (e.g. cut to the asked length) before it is scored, and a candidate that
    /// passes `check` (e.g. the request's length and keywords) beats any that fails, whatever
    /// their scores; rounds continue while the best candidate fails it.
    pub fn optimize_checked(
        &self,
        req: &OptimizeRequest,
        evaluator: &Evaluator<'_>,
        shape: &dyn Fn(&str) -> String,
        check: &dyn Fn(&str) -> bool,
    ) -> Result<Optimized, EngineError> {
        if req.max_rounds == 0 || req.max_rounds > MAX_ROUNDS {
            return Err(EngineError::InvalidParameter {
                name: "max_rounds",
                problem: format!("must be in 1..={MAX_ROUNDS}, got {}", req.max_rounds),
            });
        }
        if let Some(s) = req.min_score
            && !(0.0..=1.0).contains(&s)
        {
            return Err(EngineError::InvalidParameter {
                name: "min_score",
                problem: format!("must be in [0, 1], got {s}"),
            });
        }
        let passages: Vec<&str> = req.passages.iter().map(String::as_str).collect();
        let mut gen_req = req.generate.clone();
        let mut candidates: Vec<Candidate> = Vec::new();
        let mut rounds = Vec::new();
        let mut best: Option<usize> = None;
        for round in 0..req.max_rounds {
            let t0 = Instant::now();
            let batch = self.generate_n(&gen_req, req.best_of)?;
            let generate_ms = t0.elapsed().as_secs_f64() * 1e3;
            let t1 = Instant::now();
            let cleaned: Vec<(String, PostEdits)> = batch
                .choices
                .iter()
                .map(|c| {
                    let (text, edits) = if req.clean {
                        postprocess(&c.text, c.finish_reason == FinishReason::Length)
                    } else {
                        (c.text.clone(), PostEdits::default())
                    };
                    (shape(&text), edits)
                })
                .collect();
            let texts: Vec<&str> = cleaned.iter().map(|(t, _)| t.as_str()).collect();
            let eval_prompt = req.eval_prompt.as_deref().unwrap_or(&req.generate.prompt);
            let scores = evaluator
                .evaluate_candidates(eval_prompt, &texts, &passages)
                .map_err(EngineError::Quality)?;
            let evaluate_ms = t1.elapsed().as_secs_f64() * 1e3;
            let round_best =
                best_index(scores.iter().map(|s| s.overall)).map_or(0.0, |i| scores[i].overall);
            for ((c, (text, edits)), s) in batch.choices.into_iter().zip(cleaned).zip(scores) {
                candidates.push(Candidate {
                    passed_checks: check(&text),
                    text,
                    tokens: c.tokens,
                    finish_reason: c.finish_reason,
                    seed: c.seed,
                    round,
                    scores: s,
                    postprocess: edits,
                    chosen: false,
                });
            }
            // Passing the checks counts before the score: +1 puts every passing candidate above
            // every failing one (scores are in [0, 1]).
            best = best_index(
                candidates
                    .iter()
                    .map(|c| c.scores.overall + if c.passed_checks { 1.0 } else { 0.0 }),
            );
            let best_scores = best.map(|i| &candidates[i].scores);
            let weakest =
                best_scores.map_or(Dimension::Coherence, |s| s.weakest(evaluator.weights()));
            rounds.push(Round {
                round,
                sampling: gen_req.sampling.clone(),
                best_overall: round_best,
                weakest,
                generate_ms,
                evaluate_ms,
            });
            let passed = best.is_some_and(|i| candidates[i].passed_checks);
            let good_enough = passed
                && match (req.min_score, best_scores) {
                    (None, _) => true,
                    (Some(min), Some(s)) => s.overall >= min,
                    (Some(_), None) => false,
                };
            if good_enough {
                break;
            }
            gen_req.sampling = adjust_sampling(&gen_req.sampling, weakest, round + 1, req.best_of);
        }
        let chosen = best.unwrap_or(0);
        if let Some(c) = candidates.get_mut(chosen) {
            c.chosen = true;
        }
        let passed_checks = candidates.get(chosen).is_some_and(|c| c.passed_checks);
        let reached_min_score = match req.min_score {
            None => true,
            Some(min) => candidates
                .get(chosen)
                .is_some_and(|c| c.scores.overall >= min),
        };
        Ok(Optimized {
            chosen,
            candidates,
            rounds,
            reached_min_score,
            passed_checks,
            model: self.name().to_string(),
        })
    }
}
