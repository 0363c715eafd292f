//! Muse's text-generation engine: a loaded model with its tokenizer and chat template, the decode
//! loop (prefill, sample, stream, stop), and teacher-forced scoring.
//!
//! The loop is library code so the CLI, the server and tests share it; the CLI only formats.

mod batch;
mod bench;
mod causal;
mod chat;
mod continuous;
mod create;
mod error;
mod generate;
mod optimize;
mod quality;
mod score;
mod sequence;
mod text_model;
mod utf8;

pub use batch::{BatchGeneration, BatchTimings, Choice, MAX_BATCH};
pub use bench::BenchResult;
pub use causal::{BatchState, CausalLm, SeqCache};
pub use chat::{ChatMessage, ChatTemplate};
pub use continuous::{ActiveSeq, MAX_TOP_LOGPROBS, TokenLogprob};
pub use create::{
    CreateRequest, Created, ImageMaker, Passage, Pipeline, TraceEntry, prototype_similarity,
};
pub use error::EngineError;
pub use generate::{FinishReason, GenerateRequest, Generation, Timings};
pub use optimize::{Candidate, MAX_ROUNDS, OptimizeRequest, Optimized, Round};
pub use quality::SentenceEmbedderRef;
pub use score::{ScoreInput, Scored};
pub use text_model::TextModel;
