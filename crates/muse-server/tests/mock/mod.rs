//! A scripted [`Backend`] for route tests: fixed models, canned text, and switches for a full
//! queue, a refused prompt and a slow stream that records whether it was cancelled; with
//! `images` / `kb` set it also serves an image model (fixed bytes per image) and an in-memory
//! knowledge base (substring search).

use muse_server::backend::{
    Backend, BackendError, CreateJob, Embedded, EvalRequest, EvalScores, FinishReason, GenEvent,
    GenRequest, GeneratedImage, ImageJob, KbAddJob, KbAdded, KbHit, KbInfo, KbSearchJob, Message,
    ModelCard, ModelKind, Moderation, Pending, Prompt, TokenLogprob, TopLogprob,
};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

#[derive(Default)]
pub struct Mock {
    pub full: AtomicBool,
    pub last: Mutex<Option<GenRequest>>,
    /// Set when a slow stream saw its receiver dropped.
    pub cancelled: Arc<AtomicBool>,
    /// Serve the image model `mock-image`.
    pub images: AtomicBool,
    pub last_image: Mutex<Option<ImageJob>>,
    /// Serve knowledge bases: (kb, name, text) of every added document.
    pub kb: AtomicBool,
    pub kb_docs: Mutex<Vec<(String, String, String)>>,
}

/// The bytes the mock returns for image `i` of a request.
pub fn mock_png(i: usize) -> Vec<u8> {
    let mut v = b"\x89PNG-mock-".to_vec();
    v.push(b'0' + i as u8);
    v
}

fn prompt_text(p: &Prompt) -> String {
    match p {
        Prompt::Text(t) => t.clone(),
        Prompt::Chat(m) => m
            .iter()
            .map(|Message { content, .. }| content.as_str())
            .collect(),
    }
}

fn ready<T: Send + 'static>(v: Result<T, BackendError>) -> Pending<T> {
    let (tx, rx) = oneshot::channel();
    let _ = tx.send(v);
    rx
}

impl Backend for Mock {
    fn models(&self) -> Vec<ModelCard> {
        let mut cards = vec![
            ModelCard {
                id: "mock-text".into(),
                kind: ModelKind::Text,
            },
            ModelCard {
                id: "mock-embed".into(),
                kind: ModelKind::Embedding,
            },
        ];
        if self.images.load(Ordering::SeqCst) {
            cards.push(ModelCard {
                id: "mock-image".into(),
                kind: ModelKind::Image,
            });
        }
        cards
    }

    fn generate(&self, req: GenRequest) -> Result<mpsc::UnboundedReceiver<GenEvent>, BackendError> {
        if self.full.load(Ordering::SeqCst) {
            return Err(BackendError::Overloaded { retry_after: 2 });
        }
        let text = prompt_text(&req.prompt);
        let n = req.n;
        let logprobs = req.logprobs;
        *self.last.lock().unwrap() = Some(req);
        let (tx, rx) = mpsc::unbounded_channel();
        if text.contains("TOO LONG") {
            let _ = tx.send(GenEvent::Failed(BackendError::Invalid {
                param: "messages".into(),
                message: "the prompt has 9000 tokens but the model's context is 8192".into(),
            }));
            return Ok(rx);
        }
        let _ = tx.send(GenEvent::Started { prompt_tokens: 5 });
        if text.contains("FAIL LATER") {
            let _ = tx.send(GenEvent::Text {
                index: 0,
                text: "Hel".into(),
            });
            let _ = tx.send(GenEvent::Failed(BackendError::Internal(
                "the model worker failed".into(),
            )));
            return Ok(rx);
        }
        if text.contains("SLOW") {
            let cancelled = self.cancelled.clone();
            std::thread::spawn(move || {
                for _ in 0..2000 {
                    let ev = GenEvent::Text {
                        index: 0,
                        text: "tick ".into(),
                    };
                    if tx.send(ev).is_err() {
                        cancelled.store(true, Ordering::SeqCst);
                        return;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
            });
            return Ok(rx);
        }
        for index in 0..n {
            for piece in ["Hello", " world"] {
                let _ = tx.send(GenEvent::Text {
                    index,
                    text: piece.into(),
                });
            }
            if let Some(k) = logprobs {
                let top = |token: &str, logprob| TopLogprob {
                    token: token.into(),
                    logprob,
                    bytes: token.as_bytes().to_vec(),
                };
                let _ = tx.send(GenEvent::Logprobs {
                    index,
                    entries: vec![TokenLogprob {
                        token: "Hello".into(),
                        logprob: -0.5,
                        bytes: b"Hello".to_vec(),
                        top_logprobs: [top("Hello", -0.5), top("Hi", -1.5)]
                            .into_iter()
                            .take(k)
                            .collect(),
                    }],
                });
            }
            let _ = tx.send(GenEvent::Finished {
                index,
                reason: FinishReason::Stop,
                completion_tokens: 2,
            });
        }
        Ok(rx)
    }

    fn embed(&self, _model: &str, texts: Vec<String>) -> Result<Pending<Embedded>, BackendError> {
        Ok(ready(Ok(Embedded {
            vectors: texts.iter().map(|_| vec![1.0, 2.0]).collect(),
            prompt_tokens: texts.len() * 3,
        })))
    }

    fn moderate(&self, texts: Vec<String>) -> Result<Pending<Vec<Moderation>>, BackendError> {
        Ok(ready(Ok(texts
            .iter()
            .map(|t| {
                let bad = t.contains("bomb");
                Moderation {
                    flagged: bad,
                    category_scores: BTreeMap::from([(
                        "weapons".to_string(),
                        if bad { 0.9 } else { 0.0 },
                    )]),
                    categories: BTreeMap::from([("weapons".to_string(), bad)]),
                    action: if bad { "block" } else { "allow" }.into(),
                }
            })
            .collect())))
    }

    fn evaluate(&self, _req: EvalRequest) -> Result<Pending<EvalScores>, BackendError> {
        Ok(ready(Ok(EvalScores {
            coherence: 0.5,
            fluency: 0.6,
            relevance: 0.7,
            creativity: 0.8,
            overall: 0.6,
            details: serde_json::json!({}),
        })))
    }

    fn create(&self, req: CreateJob) -> Result<Pending<serde_json::Value>, BackendError> {
        // Echo the validated request so route tests can see what the handler passed on.
        Ok(ready(Ok(serde_json::json!({
            "task": "ad",
            "content": format!("made for: {}", req.prompt),
            "best_of": req.best_of,
            "max_rounds": req.max_rounds,
            "seed": req.sampling.seed,
            "plan_only": req.plan_only,
        }))))
    }

    fn images(&self, req: ImageJob) -> Result<Pending<Vec<GeneratedImage>>, BackendError> {
        if !self.images.load(Ordering::SeqCst) {
            return Err(BackendError::Unavailable("Image generation".into()));
        }
        let out = (0..req.n)
            .map(|i| GeneratedImage { png: mock_png(i) })
            .collect();
        *self.last_image.lock().unwrap() = Some(req);
        Ok(ready(Ok(out)))
    }

    fn kb_list(&self) -> Result<Pending<Vec<KbInfo>>, BackendError> {
        if !self.kb.load(Ordering::SeqCst) {
            return Err(BackendError::Unavailable("The knowledge base".into()));
        }
        let docs = self.kb_docs.lock().unwrap();
        let mut names: Vec<&String> = docs.iter().map(|(kb, _, _)| kb).collect();
        names.dedup();
        Ok(ready(Ok(names
            .into_iter()
            .map(|n| KbInfo {
                id: n.clone(),
                documents: docs.iter().filter(|d| &d.0 == n).count() as i64,
                chunks: 1,
            })
            .collect())))
    }

    fn kb_search(&self, req: KbSearchJob) -> Result<Pending<Vec<KbHit>>, BackendError> {
        if !self.kb.load(Ordering::SeqCst) {
            return Err(BackendError::Unavailable("The knowledge base".into()));
        }
        let docs = self.kb_docs.lock().unwrap();
        if !docs.iter().any(|d| d.0 == req.kb) {
            return Err(BackendError::NotFound {
                param: "kb".into(),
                message: format!("no knowledge base named `{}`", req.kb),
            });
        }
        Ok(ready(Ok(docs
            .iter()
            .filter(|(kb, _, text)| *kb == req.kb && text.contains(&req.query))
            .take(req.k)
            .enumerate()
            .map(|(i, (_, name, text))| KbHit {
                source: format!("upload:{name}"),
                chunk_id: i as i64,
                start: 0,
                end: text.chars().count() as i64,
                title: name.clone(),
                text: text.clone(),
                score: 1.0,
            })
            .collect())))
    }

    fn kb_add(&self, req: KbAddJob) -> Result<Pending<Vec<KbAdded>>, BackendError> {
        if !self.kb.load(Ordering::SeqCst) {
            return Err(BackendError::Unavailable("The knowledge base".into()));
        }
        let mut docs = self.kb_docs.lock().unwrap();
        let out = req
            .documents
            .into_iter()
            .map(|d| {
                let added = KbAdded {
                    name: d.name.clone(),
                    status: "added".into(),
                    chunks: 1,
                    reason: None,
                };
                docs.push((req.kb.clone(), d.name, d.text));
                added
            })
            .collect();
        Ok(ready(Ok(out)))
    }

    fn queue_depth(&self) -> usize {
        0
    }
}
