//! The one seam between HTTP and the models: the [`Backend`] trait. Handlers translate requests
//! into these plain types and never touch a model; the real implementation
//! ([`crate::engine::MuseBackend`], feature `engine`) owns the models on its worker thread, and
//! route tests use a mock.
//!
//! Work is submitted without blocking: a full queue is refused at once
//! ([`BackendError::Overloaded`]), accepted work answers on a channel. Dropping the receiver is
//! how the HTTP layer cancels (a disconnected client): the backend's next send fails and it stops.

use muse_sample::SamplingParams;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

/// Why the backend refused or failed a piece of work.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BackendError {
    /// The request is invalid for the model (e.g. the prompt is longer than the context).
    #[error("{message}")]
    Invalid { param: String, message: String },
    #[error("unknown model `{0}`")]
    UnknownModel(String),
    /// A named resource (e.g. a knowledge base) does not exist.
    #[error("{message}")]
    NotFound { param: String, message: String },
    /// The queue is full.
    #[error("the request queue is full")]
    Overloaded { retry_after: u64 },
    /// A capability this backend does not have (e.g. no embedding model loaded).
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

/// The answer to accepted work, sent once.
pub type Pending<T> = oneshot::Receiver<Result<T, BackendError>>;

/// What a served model can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    Text,
    Embedding,
    Image,
}

/// A model the backend serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelCard {
    pub id: String,
    pub kind: ModelKind,
}

/// One chat turn, as given by the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub role: String,
    pub content: String,
}

/// What the model continues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prompt {
    /// Rendered with the model's chat template.
    Chat(Vec<Message>),
    /// Completed as is.
    Text(String),
}

/// A validated generation request.
#[derive(Debug, Clone, PartialEq)]
pub struct GenRequest {
    pub model: String,
    pub prompt: Prompt,
    pub max_tokens: usize,
    pub sampling: SamplingParams,
    pub stop: Vec<String>,
    /// Independent choices; choice `i` samples with seed `sampling.seed + i`.
    pub n: usize,
    /// Report each token's log-probability with this many alternatives; `None`: don't.
    pub logprobs: Option<usize>,
}

/// One alternative token at a position.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopLogprob {
    pub token: String,
    pub logprob: f32,
    pub bytes: Vec<u8>,
}

/// A generated token's log-probability under the model, with the likeliest alternatives
/// (OpenAI's `logprobs.content[]` entry).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenLogprob {
    pub token: String,
    pub logprob: f32,
    pub bytes: Vec<u8>,
    pub top_logprobs: Vec<TopLogprob>,
}

/// Why a choice ended (OpenAI's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FinishReason {
    Stop,
    Length,
}

/// Progress of a generation, in order: `Started`, then `Text` / `Finished` per choice, or
/// `Failed` at any point (and nothing after it).
#[derive(Debug, Clone, PartialEq)]
pub enum GenEvent {
    /// The prompt was accepted.
    Started {
        prompt_tokens: usize,
    },
    /// Text of choice `index`, final (never retracted).
    Text {
        index: usize,
        text: String,
    },
    /// Log-probabilities of choice `index`'s latest tokens (only when asked for).
    Logprobs {
        index: usize,
        entries: Vec<TokenLogprob>,
    },
    Finished {
        index: usize,
        reason: FinishReason,
        completion_tokens: usize,
    },
    Failed(BackendError),
}

/// Sentence embeddings.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedded {
    pub vectors: Vec<Vec<f32>>,
    pub prompt_tokens: usize,
}

/// The safety verdict on one text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Moderation {
    pub flagged: bool,
    /// Category → score in [0, 1].
    pub category_scores: std::collections::BTreeMap<String, f32>,
    /// Category → whether it is over its threshold.
    pub categories: std::collections::BTreeMap<String, bool>,
    /// `allow`, `redact` or `block`.
    pub action: String,
}

/// What to evaluate.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalRequest {
    pub prompt: String,
    pub text: String,
    pub passages: Vec<String>,
}

/// Quality scores in [0, 1]; `details` is the evaluator's breakdown.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalScores {
    pub coherence: f64,
    pub fluency: f64,
    pub relevance: f64,
    pub creativity: f64,
    pub overall: f64,
    pub details: serde_json::Value,
}

/// A validated `POST /v1/create` request: the whole pipeline (understand, generate best-of-N,
/// evaluate, refine, screen) on one prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateJob {
    pub prompt: String,
    /// Candidates per round.
    pub best_of: usize,
    /// Refinement rounds at most.
    pub max_rounds: usize,
    /// Another round runs while the best candidate scores below this.
    pub min_score: Option<f64>,
    pub sampling: SamplingParams,
    /// Stop after understanding and planning.
    pub plan_only: bool,
}

/// A validated `POST /v1/images/generations` request.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageJob {
    pub prompt: String,
    pub negative_prompt: Option<String>,
    pub n: usize,
    /// Output (width, height); `None`: the model's own resolution. The model samples at its own
    /// resolution and the result is resampled to this size.
    pub size: Option<(u32, u32)>,
    pub seed: u64,
    /// Denoising steps; `None`: the model's default.
    pub steps: Option<usize>,
    /// Classifier-free guidance; `None`: the model's default.
    pub guidance: Option<f64>,
}

/// One generated image, PNG-encoded, as the output safety filter let it through (possibly
/// blurred). An image the filter withholds fails the whole request instead.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratedImage {
    pub png: Vec<u8>,
}

/// How a knowledge-base search ranks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KbMode {
    Vector,
    Keyword,
    Hybrid,
}

/// A validated `POST /v1/kb/search` request.
#[derive(Debug, Clone, PartialEq)]
pub struct KbSearchJob {
    pub kb: String,
    pub query: String,
    pub k: usize,
    pub mode: KbMode,
}

/// One search result: a chunk of a stored document with its character span.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KbHit {
    pub source: String,
    pub chunk_id: i64,
    pub start: i64,
    pub end: i64,
    pub title: String,
    pub text: String,
    pub score: f32,
}

/// A document uploaded to a knowledge base; `name`'s extension picks the reader (`.txt` when
/// it has none).
#[derive(Debug, Clone, PartialEq)]
pub struct KbDocument {
    pub name: String,
    pub text: String,
}

/// A validated `POST /v1/kb/add` request.
#[derive(Debug, Clone, PartialEq)]
pub struct KbAddJob {
    pub kb: String,
    pub documents: Vec<KbDocument>,
}

/// What happened to one uploaded document: `added`, `replaced`, `unchanged` or `skipped` (with
/// the reason).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KbAdded {
    pub name: String,
    pub status: String,
    pub chunks: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A knowledge base the server can search.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KbInfo {
    pub id: String,
    pub documents: i64,
    pub chunks: i64,
}

/// The models behind the server.
pub trait Backend: Send + Sync + 'static {
    /// The models served.
    fn models(&self) -> Vec<ModelCard>;

    /// Queue a generation; events arrive on the receiver. Dropping it cancels.
    fn generate(&self, req: GenRequest) -> Result<mpsc::UnboundedReceiver<GenEvent>, BackendError>;

    /// Queue embedding `texts` with the embedding model `model`.
    fn embed(&self, model: &str, texts: Vec<String>) -> Result<Pending<Embedded>, BackendError>;

    /// Screen texts with the safety filters.
    fn moderate(&self, texts: Vec<String>) -> Result<Pending<Vec<Moderation>>, BackendError>;

    /// Quality scores of an answer.
    fn evaluate(&self, req: EvalRequest) -> Result<Pending<EvalScores>, BackendError>;

    /// Run the full pipeline; the answer is the JSON of `muse create --json` (or of
    /// `--plan-only`).
    fn create(&self, req: CreateJob) -> Result<Pending<serde_json::Value>, BackendError> {
        let _ = req;
        Err(BackendError::Unavailable(
            "this server does not run the content pipeline".into(),
        ))
    }

    /// Generate images (`/v1/images/generations`).
    fn images(&self, req: ImageJob) -> Result<Pending<Vec<GeneratedImage>>, BackendError> {
        let _ = req;
        Err(images_unavailable())
    }

    /// The knowledge bases there are.
    fn kb_list(&self) -> Result<Pending<Vec<KbInfo>>, BackendError> {
        Err(kb_unavailable())
    }

    /// Search a knowledge base.
    fn kb_search(&self, req: KbSearchJob) -> Result<Pending<Vec<KbHit>>, BackendError> {
        let _ = req;
        Err(kb_unavailable())
    }

    /// Add documents to a knowledge base (created when absent).
    fn kb_add(&self, req: KbAddJob) -> Result<Pending<Vec<KbAdded>>, BackendError> {
        let _ = req;
        Err(kb_unavailable())
    }

    /// Requests waiting in the queue (for `/metrics`).
    fn queue_depth(&self) -> usize;
}

/// The answer of a backend without an image model.
pub fn images_unavailable() -> BackendError {
    BackendError::Unavailable("Image generation (no image model is loaded)".into())
}

/// The answer of a backend without knowledge bases.
pub fn kb_unavailable() -> BackendError {
    BackendError::Unavailable("The knowledge base (no embedding model is loaded)".into())
}

/// Wait for accepted work's answer.
pub async fn wait<T>(p: Pending<T>) -> Result<T, BackendError> {
    p.await
        .map_err(|_| BackendError::Internal("the model worker stopped".into()))?
}
