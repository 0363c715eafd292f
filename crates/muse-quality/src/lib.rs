//! Quality evaluation and output optimisation — the fourth and fifth stages of Muse's pipeline.
//!
//! Every text is scored on four dimensions, each in [0, 1]:
//!
//! * [`fluency`] — from a language model's per-token log-probabilities;
//! * [`coherence`] — sentence embeddings of neighbours and of the whole, discourse order cues, and
//!   penalties for repeated sentences and n-gram loops;
//! * [`relevance`] — similarity to the prompt, and groundedness in retrieved passages;
//! * [`creativity`] — length-normalised lexical diversity, novelty against prompt and passages,
//!   and difference from sibling candidates.
//!
//! `overall` is their weighted mean ([`Weights`], default 0.4 / 0.3 / 0.2 / 0.1). The models sit
//! behind two small traits, [`TokenScorer`] and [`Embedder`], so the metrics are plain functions
//! on plain data and this crate needs no tensor library.

pub mod coherence;
mod config;
pub mod creativity;
mod discourse;
mod error;
mod evaluator;
pub mod fluency;
mod postprocess;
mod refine;
pub mod relevance;
pub mod text;
pub mod vector;
mod weights;

pub use config::QualityConfig;
pub use error::{BackendError, QualityError};
pub use evaluator::{Details, Dimension, Embedder, Evaluator, Scores, TokenScorer};
pub use postprocess::{PostEdits, postprocess};
pub use refine::{adjust_sampling, best_index};
pub use weights::Weights;
