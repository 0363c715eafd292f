//! [`MuseBackend`]: the [`Backend`] over Muse's real models (feature `engine`).
//!
//! The models are loaded on, and owned by, one dedicated worker thread; handlers reach it through
//! a bounded queue (`std::sync::mpsc::sync_channel`), so a burst beyond its capacity is refused
//! at once with [`BackendError::Overloaded`] (HTTP 429) instead of piling up. Moderation uses
//! only rules, so it runs on the caller's thread.

mod worker;

use crate::backend::{
    Backend, BackendError, CreateJob, Embedded, EvalRequest, EvalScores, GenEvent, GenRequest,
    ModelCard, ModelKind, Moderation, Pending,
};
use muse_engine::TextModel;
use muse_models::SentenceEmbedder;
use muse_quality::Weights;
use muse_safety::{Action, ContentFilter, FilterChain, Stage};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use tokio::sync::{mpsc, oneshot};
use worker::Job;

/// The models the worker owns.
pub struct Models {
    pub text: TextModel,
    pub embedder: Option<SentenceEmbedder>,
    /// Weights of the quality evaluator (`/v1/evaluate`).
    pub weights: Weights,
}

/// Builds [`Models`] on the worker thread.
pub type Loader = Box<dyn FnOnce() -> Result<Models, String> + Send>;

/// The real backend.
pub struct MuseBackend {
    queue: SyncSender<Job>,
    depth: Arc<AtomicUsize>,
    /// Sequences the worker is decoding.
    running: Arc<AtomicUsize>,
    cards: Vec<ModelCard>,
    filters: Arc<FilterChain>,
}

impl MuseBackend {
    /// Start the worker thread, load the models on it with `load`, and wait until they are
    /// ready. `capacity` is how many requests may wait.
    pub fn start(load: Loader, filters: FilterChain, capacity: usize) -> Result<Self, String> {
        let (queue, jobs) = sync_channel::<Job>(capacity.max(1));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<Vec<ModelCard>, String>>();
        let depth = Arc::new(AtomicUsize::new(0));
        let worker_depth = depth.clone();
        let running = Arc::new(AtomicUsize::new(0));
        let worker_running = running.clone();
        std::thread::Builder::new()
            .name("muse-engine".into())
            .spawn(move || {
                let models = match load() {
                    Ok(m) => m,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let mut cards = vec![ModelCard {
                    id: models.text.name().to_string(),
                    kind: ModelKind::Text,
                }];
                if let Some(e) = &models.embedder {
                    cards.push(ModelCard {
                        id: worker::embedder_id(e),
                        kind: ModelKind::Embedding,
                    });
                }
                if ready_tx.send(Ok(cards)).is_err() {
                    return;
                }
                worker::run(&models, &jobs, &worker_depth, &worker_running);
            })
            .map_err(|e| format!("cannot start the model worker: {e}"))?;
        let cards = ready_rx
            .recv()
            .map_err(|_| "the model worker stopped while loading".to_string())??;
        Ok(Self {
            queue,
            depth,
            running,
            cards,
            filters: Arc::new(filters),
        })
    }

    /// Sequences being decoded now (all requests together).
    pub fn running_sequences(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }

    fn submit(&self, job: Job) -> Result<(), BackendError> {
        self.depth.fetch_add(1, Ordering::SeqCst);
        match self.queue.try_send(job) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.depth.fetch_sub(1, Ordering::SeqCst);
                Err(match e {
                    TrySendError::Full(_) => BackendError::Overloaded { retry_after: 1 },
                    TrySendError::Disconnected(_) => {
                        BackendError::Internal("the model worker stopped".into())
                    }
                })
            }
        }
    }
}

impl Backend for MuseBackend {
    fn models(&self) -> Vec<ModelCard> {
        self.cards.clone()
    }

    fn generate(&self, req: GenRequest) -> Result<mpsc::UnboundedReceiver<GenEvent>, BackendError> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.submit(Job::Generate { req, tx })?;
        Ok(rx)
    }

    fn embed(&self, model: &str, texts: Vec<String>) -> Result<Pending<Embedded>, BackendError> {
        if !self
            .cards
            .iter()
            .any(|c| c.kind == ModelKind::Embedding && c.id == model)
        {
            return Err(BackendError::UnknownModel(model.to_string()));
        }
        let (reply, rx) = oneshot::channel();
        self.submit(Job::Embed { texts, reply })?;
        Ok(rx)
    }

    fn moderate(&self, texts: Vec<String>) -> Result<Pending<Vec<Moderation>>, BackendError> {
        let result = texts
            .iter()
            .map(|t| {
                let v = self.filters.check_text(t, Stage::Input).map_err(|e| {
                    BackendError::Invalid {
                        param: "input".into(),
                        message: e.to_string(),
                    }
                })?;
                let categories = v
                    .categories
                    .iter()
                    .map(|(k, &s)| (k.clone(), v.flagged && s > 0.0 && v.action != Action::Allow))
                    .collect();
                Ok(Moderation {
                    flagged: v.flagged,
                    categories,
                    category_scores: v.categories.clone(),
                    action: v.action.as_str().to_string(),
                })
            })
            .collect::<Result<Vec<_>, BackendError>>();
        let (tx, rx) = oneshot::channel();
        let _ = tx.send(result);
        Ok(rx)
    }

    fn evaluate(&self, req: EvalRequest) -> Result<Pending<EvalScores>, BackendError> {
        let (reply, rx) = oneshot::channel();
        self.submit(Job::Evaluate { req, reply })?;
        Ok(rx)
    }

    fn create(&self, req: CreateJob) -> Result<Pending<serde_json::Value>, BackendError> {
        let (reply, rx) = oneshot::channel();
        self.submit(Job::Create {
            req,
            filters: self.filters.clone(),
            reply,
        })?;
        Ok(rx)
    }

    fn queue_depth(&self) -> usize {
        self.depth.load(Ordering::SeqCst)
    }
}
