//! The model worker and its continuous-batching scheduler. Between two decode steps it admits
//! every request that has arrived (prefilling each new prompt), then advances all running
//! sequences — of every request — by one token in one batched forward pass, and retires those
//! that finished. A sequence whose requester has gone (a send fails) is cancelled: the engine's
//! callback answers `ControlFlow::Break` and the sequence leaves the batch.
use super::Models;
use crate::backend::{
    BackendError, CreateJob, Embedded, EvalRequest, EvalScores, FinishReason, GenEvent, GenRequest,
    Prompt, TokenLogprob, TopLogprob,
};
use muse_engine::{
    ActiveSeq, BatchState, ChatMessage, EngineError, GenerateRequest, SentenceEmbedderRef,
};
use muse_models::SentenceEmbedder;
use muse_quality::Evaluator;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use tokio::sync::{mpsc, oneshot};

/// Work for the model worker.
pub enum Job {
    Generate {
        req: GenRequest,
        tx: mpsc::UnboundedSender<GenEvent>,
    },
    Embed {
        texts: Vec<String>,
        reply: oneshot::Sender<Result<Embedded, BackendError>>,
    },
    Evaluate {
        req: EvalRequest,
        reply: oneshot::Sender<Result<EvalScores, BackendError>>,
    },
    Create {
        req: CreateJob,
        filters: std::sync::Arc<muse_safety::FilterChain>,
        /// The image model, for `image` and `text_image` requests.
        images: Option<std::sync::Arc<super::ImageLane>>,
        reply: oneshot::Sender<Result<serde_json::Value, BackendError>>,
    },
}

/// The id an embedding model is served under: its folder name.
pub fn embedder_id(e: &SentenceEmbedder) -> String {
    e.dir().file_name().map_or_else(
        || "embedding".to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Most sequences decoded together; requests beyond wait in the queue.
const MAX_RUNNING: usize = muse_engine::MAX_BATCH;

/// One running choice of a generation request.
struct Running {
    tx: mpsc::UnboundedSender<GenEvent>,
    index: usize,
    seq: ActiveSeq,
}

/// Serve jobs until every sender is gone and the last sequence has finished.
pub fn run(models: &Models, jobs: &Receiver<Job>, depth: &AtomicUsize, count: &AtomicUsize) {
    let mut running: Vec<Running> = Vec::new();
    let mut batch = models.text.lm().new_batch();
    let mut logits = Vec::new();
    let mut open = true;
    while open || !running.is_empty() {
        if running.is_empty() {
            match jobs.recv() {
                Ok(job) => admit(models, job, depth, &mut running),
                Err(_) => return,
            }
        }
        while open && running.len() < MAX_RUNNING {
            match jobs.try_recv() {
                Ok(job) => admit(models, job, depth, &mut running),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => open = false,
            }
        }
        if step(models, &mut running, &mut batch, &mut logits) {
            send_logprobs(models, &mut running);
            retire(&mut running);
        } else {
            running.clear();
        }
        count.store(running.len(), Ordering::SeqCst);
    }
}

fn admit(models: &Models, job: Job, depth: &AtomicUsize, running: &mut Vec<Running>) {
    depth.fetch_sub(1, Ordering::SeqCst);
    match job {
        Job::Generate { req, tx } => {
            // A client that left while its request waited costs nothing.
            if tx.is_closed() {
                return;
            }
            match start(models, &req, &tx) {
                Ok(seqs) => {
                    running.extend(seqs.into_iter().enumerate().map(|(index, seq)| Running {
                        tx: tx.clone(),
                        index,
                        seq,
                    }))
                }
                Err(e) => {
                    let _ = tx.send(GenEvent::Failed(e));
                }
            }
        }
        Job::Embed { texts, reply } => {
            if !reply.is_closed() {
                let _ = reply.send(embed(models, &texts));
            }
        }
        Job::Evaluate { req, reply } => {
            if !reply.is_closed() {
                let _ = reply.send(evaluate(models, &req));
            }
        }
        Job::Create {
            req,
            filters,
            images,
            reply,
        } => {
            if !reply.is_closed() {
                let maker = images.map(LaneImages);
                let maker = maker.as_ref().map(|m| m as &dyn muse_engine::ImageMaker);
                let _ = reply.send(create(models, &filters, req, maker));
            }
        }
    }
}

/// Send text to a requester; `Break` when it has gone.
fn send_text(tx: &mpsc::UnboundedSender<GenEvent>, index: usize, text: &str) -> ControlFlow<()> {
    let ev = GenEvent::Text {
        index,
        text: text.to_string(),
    };
    if tx.send(ev).is_ok() {
        ControlFlow::Continue(())
    } else {
        ControlFlow::Break(())
    }
}

/// One decode step of every running sequence; `false` when it failed (every requester has
/// been sent the error, and the sequences must be dropped).
fn step(
    models: &Models,
    running: &mut [Running],
    batch: &mut BatchState,
    logits: &mut Vec<f32>,
) -> bool {
    if running.is_empty() {
        return true;
    }
    let senders: Vec<(mpsc::UnboundedSender<GenEvent>, usize)> =
        running.iter().map(|r| (r.tx.clone(), r.index)).collect();
    let mut seqs: Vec<&mut ActiveSeq> = running.iter_mut().map(|r| &mut r.seq).collect();
    let result = models
        .text
        .step_batch(&mut seqs, batch, logits, &mut |i, text| {
            senders
                .get(i)
                .map_or(ControlFlow::Break(()), |(tx, index)| {
                    send_text(tx, *index, text)
                })
        });
    if let Err(e) = result {
        let e = engine_error(e, "messages");
        for (tx, _) in &senders {
            let _ = tx.send(GenEvent::Failed(e.clone()));
        }
        return false;
    }
    true
}

/// Send the log-probabilities recorded since the last step (only requests that asked have any).
fn send_logprobs(models: &Models, running: &mut [Running]) {
    let tok = models.text.tokenizer();
    let entry = |id: u32, logprob: f32| {
        let bytes = tok.piece_bytes(id).to_vec();
        TopLogprob {
            token: String::from_utf8_lossy(&bytes).into_owned(),
            logprob,
            bytes,
        }
    };
    for r in running.iter_mut() {
        let lp = r.seq.take_logprobs();
        if lp.is_empty() {
            continue;
        }
        let entries = lp
            .into_iter()
            .map(|t| {
                let e = entry(t.token, t.logprob);
                TokenLogprob {
                    token: e.token,
                    logprob: e.logprob,
                    bytes: e.bytes,
                    top_logprobs: t.top.into_iter().map(|(id, l)| entry(id, l)).collect(),
                }
            })
            .collect();
        let _ = r.tx.send(GenEvent::Logprobs {
            index: r.index,
            entries,
        });
    }
}

/// Report and drop finished sequences, and those whose requester has gone.
fn retire(running: &mut Vec<Running>) {
    running.retain(|r| {
        if r.tx.is_closed() {
            return false;
        }
        if !r.seq.is_finished() {
            return true;
        }
        if r.seq.finish_reason() != muse_engine::FinishReason::Cancelled {
            let _ = r.tx.send(GenEvent::Finished {
                index: r.index,
                reason: finish(r.seq.finish_reason()),
                completion_tokens: r.seq.tokens(),
            });
        }
        false
    });
}

/// The engine's error as the backend's, naming the request field at fault.
fn engine_error(e: EngineError, prompt_param: &str) -> BackendError {
    let invalid = |param: &str, message: String| BackendError::Invalid {
        param: param.to_string(),
        message,
    };
    match e {
        EngineError::InvalidParameter { name, .. } => invalid(name, e.to_string()),
        EngineError::Sampling(muse_sample::SampleError::InvalidParameter { name, .. }) => {
            invalid(name, e.to_string())
        }
        EngineError::EmptyPrompt | EngineError::PromptTooLong { .. } | EngineError::Template(_) => {
            invalid(prompt_param, e.to_string())
        }
        other => BackendError::Internal(other.to_string()),
    }
}

fn finish(r: muse_engine::FinishReason) -> FinishReason {
    match r {
        muse_engine::FinishReason::Length => FinishReason::Length,
        _ => FinishReason::Stop,
    }
}

/// Check and prefill a request; its sequences join the batch.
fn start(
    models: &Models,
    req: &GenRequest,
    tx: &mpsc::UnboundedSender<GenEvent>,
) -> Result<Vec<ActiveSeq>, BackendError> {
    let lm = &models.text;
    let (text, param) = match &req.prompt {
        Prompt::Text(t) => (t.clone(), "prompt"),
        Prompt::Chat(msgs) => {
            let msgs: Vec<ChatMessage> = msgs
                .iter()
                .map(|m| ChatMessage::new(&m.role, &m.content))
                .collect();
            (
                lm.render_chat(&msgs)
                    .map_err(|e| engine_error(e, "messages"))?,
                "messages",
            )
        }
    };
    let prompt_tokens = lm
        .tokenizer()
        .encode(&text)
        .map_err(|e| engine_error(e.into(), param))?
        .len();
    if prompt_tokens >= lm.context() {
        return Err(engine_error(
            EngineError::PromptTooLong {
                tokens: prompt_tokens,
                context: lm.context(),
            },
            param,
        ));
    }
    let greq = GenerateRequest {
        prompt: text,
        system: None,
        raw: true,
        max_tokens: req.max_tokens,
        sampling: req.sampling.clone(),
        stop: req.stop.clone(),
    };
    // Validate everything the engine would before announcing the start.
    greq.sampling
        .validate()
        .map_err(|e| engine_error(e.into(), param))?;
    let _ = tx.send(GenEvent::Started { prompt_tokens });
    let (seqs, _) = lm
        .start_sequences_with_logprobs(&greq, req.n, req.logprobs, &mut |i, text| {
            send_text(tx, i, text)
        })
        .map_err(|e| engine_error(e, param))?;
    Ok(seqs)
}

fn embed(models: &Models, texts: &[String]) -> Result<Embedded, BackendError> {
    let Some(m) = &models.embedder else {
        return Err(BackendError::Unavailable(
            "no embedding model is loaded".into(),
        ));
    };
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let e = m
        .embed(&refs)
        .map_err(|e| BackendError::Internal(e.to_string()))?;
    let mut prompt_tokens = 0;
    for t in &refs {
        prompt_tokens += m
            .token_ids(t)
            .map_err(|e| BackendError::Internal(e.to_string()))?
            .len();
    }
    Ok(Embedded {
        vectors: e.vectors,
        prompt_tokens,
    })
}

fn evaluate(models: &Models, req: &EvalRequest) -> Result<EvalScores, BackendError> {
    let Some(m) = &models.embedder else {
        return Err(BackendError::Unavailable(
            "quality evaluation needs the sentence-embedding model, which is not loaded".into(),
        ));
    };
    let embedder = SentenceEmbedderRef::new(m);
    let internal = |e: muse_quality::QualityError| BackendError::Internal(e.to_string());
    let ev = Evaluator::new(&models.text, &embedder, models.weights).map_err(internal)?;
    let passages: Vec<&str> = req.passages.iter().map(String::as_str).collect();
    let s = ev
        .evaluate(&req.prompt, &req.text, &passages)
        .map_err(internal)?;
    Ok(EvalScores {
        coherence: s.coherence,
        fluency: s.fluency,
        relevance: s.relevance,
        creativity: s.creativity,
        overall: s.overall,
        details: serde_json::to_value(&s.details).unwrap_or(serde_json::Value::Null),
    })
}

/// The whole content pipeline on one request. It runs on this thread between decode steps, so
/// streams of other requests pause while it works (a create call is several generations).
/// The images of `/v1/create`, made on the image lane while the text worker waits (the
/// pipeline holds the worker for its whole run anyway). Each image comes back as a
/// `data:image/png;base64,…` URL in the answer's `images`.
struct LaneImages(std::sync::Arc<super::ImageLane>);

impl muse_engine::ImageMaker for LaneImages {
    fn make(&self, prompt: &str, seed: u64) -> Result<Option<String>, String> {
        let job = crate::backend::ImageJob {
            prompt: prompt.to_string(),
            negative_prompt: None,
            n: 1,
            size: None,
            seed,
            steps: None,
            guidance: None,
        };
        let rx = self
            .0
            .call(move |s| s.generate(&job))
            .map_err(|e| e.to_string())?;
        match rx.blocking_recv() {
            Ok(Ok(images)) => Ok(images
                .first()
                .map(|i| format!("data:image/png;base64,{}", crate::base64::base64(&i.png)))),
            // The safety filters refused the prompt or withheld the image.
            Ok(Err(BackendError::Invalid { .. })) => Ok(None),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("the image thread stopped".into()),
        }
    }
}

fn create(
    models: &Models,
    filters: &muse_safety::FilterChain,
    job: CreateJob,
    image: Option<&dyn muse_engine::ImageMaker>,
) -> Result<serde_json::Value, BackendError> {
    let Some(m) = &models.embedder else {
        return Err(BackendError::Unavailable(
            "the content pipeline needs the sentence-embedding model, which is not loaded".into(),
        ));
    };
    let embedder = SentenceEmbedderRef::new(m);
    let internal = |e: muse_quality::QualityError| BackendError::Internal(e.to_string());
    let evaluator = Evaluator::new(&models.text, &embedder, models.weights).map_err(internal)?;
    let pipeline = muse_engine::Pipeline {
        lm: &models.text,
        embedder: &embedder,
        evaluator: &evaluator,
        safety: filters,
        audit: None,
        image,
    };
    let mut req = muse_engine::CreateRequest::new(job.prompt);
    req.best_of = job.best_of;
    req.max_rounds = job.max_rounds;
    req.min_score = job.min_score;
    req.sampling = job.sampling;
    req.plan_only = job.plan_only;
    let created = pipeline.create(&req).map_err(|e| match e {
        EngineError::Understand(u) => BackendError::Invalid {
            param: "prompt".into(),
            message: u.to_string(),
        },
        // Image requests when the server loads no image model.
        EngineError::Unsupported(m) => BackendError::Unavailable(m),
        // A refused prompt, or a filter that could not run (fail closed): 400 with the reason.
        e @ (EngineError::Safety(_) | EngineError::Refused { .. }) => BackendError::Invalid {
            param: "prompt".into(),
            message: e.to_string(),
        },
        other => BackendError::Internal(other.to_string()),
    })?;
    Ok(if job.plan_only {
        created.plan_json()
    } else {
        created.to_json()
    })
}
