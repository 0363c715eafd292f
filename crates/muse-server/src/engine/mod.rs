//! [`MuseBackend`]: the [`Backend`] over Muse's real models (feature `engine`).
//!
//! The models are loaded on, and owned by, one dedicated worker thread; handlers reach it through
//! a bounded queue (`std::sync::mpsc::sync_channel`), so a burst beyond its capacity is refused
//! at once with [`BackendError::Overloaded`] (HTTP 429) instead of piling up. Moderation uses
//! only rules, so it runs on the caller's thread.

mod lane;
mod worker;

pub use lane::Lane;

use crate::backend::{
    Backend, BackendError, CreateJob, Embedded, EvalRequest, EvalScores, GenEvent, GenRequest,
    GeneratedImage, ImageJob, KbAddJob, KbAdded, KbHit, KbInfo, KbSearchJob, ModelCard, ModelKind,
    Moderation, Pending,
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

/// The image model behind `/v1/images/generations` (the binary implements it over
/// muse-diffusion, with the output safety filter). It runs on a lane of its own.
pub trait ImageService {
    fn generate(&mut self, job: &ImageJob) -> Result<Vec<GeneratedImage>, BackendError>;
}

/// The knowledge bases behind `/v1/kb/...` (the binary implements it over muse-retrieval).
pub trait KbService {
    fn list(&mut self) -> Result<Vec<KbInfo>, BackendError>;
    fn search(&mut self, job: &KbSearchJob) -> Result<Vec<KbHit>, BackendError>;
    fn add(&mut self, job: &KbAddJob) -> Result<Vec<KbAdded>, BackendError>;
}

/// Requests that may wait for the image or knowledge-base lane (429 beyond).
const LANE_CAPACITY: usize = 16;

/// The real backend.
pub struct MuseBackend {
    queue: SyncSender<Job>,
    depth: Arc<AtomicUsize>,
    /// Sequences the worker is decoding.
    running: Arc<AtomicUsize>,
    cards: Vec<ModelCard>,
    filters: Arc<FilterChain>,
    images: Option<Arc<ImageLane>>,
    kb: Option<Lane<Box<dyn KbService>>>,
}

/// The image model's lane; the text worker borrows it for the images of `/v1/create`.
pub type ImageLane = Lane<Box<dyn ImageService>>;

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
            images: None,
            kb: None,
        })
    }

    /// Serve images: the model `id`, built by `load` on a thread of its own.
    pub fn with_images(
        mut self,
        id: String,
        load: impl FnOnce() -> Result<Box<dyn ImageService>, String> + Send + 'static,
    ) -> Result<Self, String> {
        self.images = Some(Arc::new(Lane::start("muse-images", load, LANE_CAPACITY)?));
        self.cards.push(ModelCard {
            id,
            kind: ModelKind::Image,
        });
        Ok(self)
    }

    /// Serve the knowledge bases, built by `load` on a thread of their own.
    pub fn with_kb(
        mut self,
        load: impl FnOnce() -> Result<Box<dyn KbService>, String> + Send + 'static,
    ) -> Result<Self, String> {
        self.kb = Some(Lane::start("muse-kb", load, LANE_CAPACITY)?);
        Ok(self)
    }

    fn kb_lane(&self) -> Result<&Lane<Box<dyn KbService>>, BackendError> {
        self.kb.as_ref().ok_or_else(crate::backend::kb_unavailable)
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
            images: self.images.clone(),
            reply,
        })?;
        Ok(rx)
    }

    fn images(&self, req: ImageJob) -> Result<Pending<Vec<GeneratedImage>>, BackendError> {
        let lane = self
            .images
            .as_ref()
            .ok_or_else(crate::backend::images_unavailable)?;
        lane.call(move |s| s.generate(&req))
    }

    fn kb_list(&self) -> Result<Pending<Vec<KbInfo>>, BackendError> {
        self.kb_lane()?.call(|s| s.list())
    }

    fn kb_search(&self, req: KbSearchJob) -> Result<Pending<Vec<KbHit>>, BackendError> {
        self.kb_lane()?.call(move |s| s.search(&req))
    }

    fn kb_add(&self, req: KbAddJob) -> Result<Pending<Vec<KbAdded>>, BackendError> {
        self.kb_lane()?.call(move |s| s.add(&req))
    }

    fn queue_depth(&self) -> usize {
        self.depth.load(Ordering::SeqCst)
            + self.images.as_ref().map_or(0, |l| l.depth())
            + self.kb.as_ref().map_or(0, Lane::depth)
    }
}
