//! The model worker: takes one job at a time from the queue and runs it on the models it owns.
//! A generation streams each piece of text to its requester; when the requester has gone (the
//! send fails) the engine's callback answers `ControlFlow::Break` and decoding stops.

use super::Models;
use crate::backend::{
    BackendError, EvalRequest, EvalScores, Embedded, FinishReason, GenEvent, GenRequest, Prompt,
};
use muse_engine::{ChatMessage, EngineError, GenerateRequest, SentenceEmbedderRef};
use muse_models::SentenceEmbedder;
use muse_quality::Evaluator;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::Receiver;
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
}

/// The id an embedding model is served under: its folder name.
pub fn embedder_id(e: &SentenceEmbedder) -> String {
    e.dir()
        .file_name()
        .map_or_else(|| "embedding".to_string(), |n| n.to_string_lossy().into_owned())
}

/// Serve jobs until every sender is gone.
pub fn run(models: &Models, jobs: &Receiver<Job>, depth: &AtomicUsize) {
    while let Ok(job) = jobs.recv() {
        depth.fetch_sub(1, Ordering::SeqCst);
        match job {
            Job::Generate { req, tx } => {
                // A client that left while its request waited costs nothing.
                if tx.is_closed() {
                    continue;
                }
                if let Err(e) = generate(models, &req, &tx) {
                    let _ = tx.send(GenEvent::Failed(e));
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
        }
    }
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

fn generate(
    models: &Models,
    req: &GenRequest,
    tx: &mpsc::UnboundedSender<GenEvent>,
) -> Result<(), BackendError> {
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
    if tx.send(GenEvent::Started { prompt_tokens }).is_err() {
        return Ok(());
    }
    if req.n == 1 {
        let g = lm
            .generate(&greq, |piece| {
                let ev = GenEvent::Text {
                    index: 0,
                    text: piece.to_string(),
                };
                if tx.send(ev).is_ok() {
                    ControlFlow::Continue(())
                } else {
                    ControlFlow::Break(())
                }
            })
            .map_err(|e| engine_error(e, param))?;
        if g.finish_reason != muse_engine::FinishReason::Cancelled {
            let _ = tx.send(GenEvent::Finished {
                index: 0,
                reason: finish(g.finish_reason),
                completion_tokens: g.tokens,
            });
        }
        return Ok(());
    }
    // Several choices decode together in one batch (shared prefill); they arrive whole.
    let b = lm
        .generate_n(&greq, req.n)
        .map_err(|e| engine_error(e, param))?;
    for (index, c) in b.choices.into_iter().enumerate() {
        let _ = tx.send(GenEvent::Text { index, text: c.text });
        let _ = tx.send(GenEvent::Finished {
            index,
            reason: finish(c.finish_reason),
            completion_tokens: c.tokens,
        });
    }
    Ok(())
}

fn embed(models: &Models, texts: &[String]) -> Result<Embedded, BackendError> {
    let Some(m) = &models.embedder else {
        return Err(BackendError::Unavailable("no embedding model is loaded".into()));
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
