//! Running a generation for a handler: submit it, wait for the backend to accept the prompt, then
//! either collect every choice (a JSON answer) or forward the events as server-sent events
//! ending with `data: [DONE]`.
//!
//! Cancellation is by dropping: when the client goes away axum drops the SSE stream, the
//! forwarding task's next send fails, it drops the backend's receiver, and the backend's next
//! send fails — the engine's callback then answers `ControlFlow::Break`.

use crate::backend::{FinishReason, GenEvent, GenRequest, TokenLogprob};
use crate::dto::common::Usage;
use crate::error::ApiError;
use crate::state::AppState;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use std::convert::Infallible;
use std::time::Instant;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

/// One finished choice.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    pub text: String,
    pub reason: FinishReason,
    pub tokens: usize,
    /// Empty unless log-probabilities were asked for.
    pub logprobs: Vec<TokenLogprob>,
}

/// A generation accepted by the backend, its first event already read.
pub struct Accepted {
    pub prompt_tokens: usize,
    rx: mpsc::UnboundedReceiver<GenEvent>,
    n: usize,
    t0: Instant,
    state: AppState,
}

fn worker_gone() -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "the model worker stopped before answering",
    )
}

/// Submit `req` and wait until the prompt is accepted or refused, so that a refusal still gets
/// its own HTTP status even for a streaming request.
pub async fn submit(state: &AppState, req: GenRequest) -> Result<Accepted, ApiError> {
    let t0 = Instant::now();
    let n = req.n;
    let mut rx = state.backend.generate(req)?;
    match rx.recv().await {
        Some(GenEvent::Started { prompt_tokens }) => Ok(Accepted {
            prompt_tokens,
            rx,
            n,
            t0,
            state: state.clone(),
        }),
        Some(GenEvent::Failed(e)) => Err(e.into()),
        Some(_) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the backend sent text before accepting the prompt",
        )),
        None => Err(worker_gone()),
    }
}

/// Records time to first text and decode speed.
struct Timer {
    t0: Instant,
    first: Option<Instant>,
    tokens: usize,
}

impl Timer {
    fn text(&mut self, state: &AppState) {
        if self.first.is_none() {
            let now = Instant::now();
            state.metrics.record_ttft((now - self.t0).as_secs_f64());
            self.first = Some(now);
        }
    }

    fn done(&self, state: &AppState) {
        let secs = self.first.map_or(0.0, |f| f.elapsed().as_secs_f64());
        state.metrics.record_generation(self.tokens, secs);
    }
}

impl Accepted {
    /// Every choice, in index order.
    pub async fn collect(mut self) -> Result<Vec<Finished>, ApiError> {
        let mut out: Vec<Finished> = (0..self.n)
            .map(|_| Finished {
                text: String::new(),
                reason: FinishReason::Stop,
                tokens: 0,
                logprobs: Vec::new(),
            })
            .collect();
        let mut timer = Timer {
            t0: self.t0,
            first: None,
            tokens: 0,
        };
        let mut open = self.n;
        while open > 0 {
            match self.rx.recv().await {
                Some(GenEvent::Text { index, text }) => {
                    timer.text(&self.state);
                    if let Some(c) = out.get_mut(index) {
                        c.text.push_str(&text);
                    }
                }
                Some(GenEvent::Logprobs { index, entries }) => {
                    if let Some(c) = out.get_mut(index) {
                        c.logprobs.extend(entries);
                    }
                }
                Some(GenEvent::Finished {
                    index,
                    reason,
                    completion_tokens,
                }) => {
                    if let Some(c) = out.get_mut(index) {
                        c.reason = reason;
                        c.tokens = completion_tokens;
                    }
                    timer.tokens += completion_tokens;
                    open -= 1;
                }
                Some(GenEvent::Failed(e)) => return Err(e.into()),
                Some(GenEvent::Started { .. }) => {}
                None => return Err(worker_gone()),
            }
        }
        timer.done(&self.state);
        Ok(out)
    }

    /// Stream the events through `fmt` as SSE; `data: [DONE]` ends the stream.
    pub fn stream(mut self, fmt: impl ChunkFormat) -> Response {
        let (tx, rx) = mpsc::channel::<Event>(32);
        tokio::spawn(async move {
            let mut timer = Timer {
                t0: self.t0,
                first: None,
                tokens: 0,
            };
            let send = |data: String| {
                let tx = tx.clone();
                async move { tx.send(Event::default().data(data)).await.is_ok() }
            };
            for index in 0..self.n {
                if let Some(first) = fmt.opening(index)
                    && !send(first).await
                {
                    return;
                }
            }
            let mut open = self.n;
            while open > 0 {
                let data = match self.rx.recv().await {
                    Some(GenEvent::Text { index, text }) => {
                        timer.text(&self.state);
                        fmt.text(index, text)
                    }
                    Some(GenEvent::Finished {
                        index,
                        reason,
                        completion_tokens,
                    }) => {
                        open -= 1;
                        timer.tokens += completion_tokens;
                        fmt.finish(index, reason)
                    }
                    Some(GenEvent::Logprobs { index, entries }) => {
                        match fmt.logprobs(index, entries) {
                            Some(d) => d,
                            None => continue,
                        }
                    }
                    // After the status line has gone out, an error can only be an event of
                    // its own, in OpenAI's error shape; the stream ends there, without [DONE].
                    Some(GenEvent::Failed(e)) => {
                        let _ = send(ApiError::from(e).body_json()).await;
                        return;
                    }
                    None => {
                        let _ = send(worker_gone().body_json()).await;
                        return;
                    }
                    Some(GenEvent::Started { .. }) => continue,
                };
                if !send(data).await {
                    return;
                }
            }
            timer.done(&self.state);
            if let Some(u) = fmt.usage(Usage::new(self.prompt_tokens, timer.tokens)) {
                let _ = send(u).await;
            }
            let _ = send("[DONE]".to_string()).await;
        });
        let stream = ReceiverStream::new(rx).map(Ok::<_, Infallible>);
        Sse::new(stream)
            .keep_alive(KeepAlive::default())
            .into_response()
    }
}

/// How an endpoint renders its stream chunks (JSON text of each `data:` line).
pub trait ChunkFormat: Send + 'static {
    /// Sent before any text of choice `index` (chat: the `role` delta).
    fn opening(&self, index: usize) -> Option<String>;
    fn text(&self, index: usize, text: String) -> String;
    fn finish(&self, index: usize, reason: FinishReason) -> String;
    /// A chunk carrying log-probabilities of choice `index` (none by default).
    fn logprobs(&self, _index: usize, _entries: Vec<TokenLogprob>) -> Option<String> {
        None
    }
    /// The final usage chunk, when the client asked for one.
    fn usage(&self, usage: Usage) -> Option<String>;
}

/// Seconds since the Unix epoch, for `created`.
pub fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A fresh response id with `prefix` (`chatcmpl`, `cmpl`, `modr`).
pub fn new_id(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{prefix}-{nanos:08x}{n:06x}")
}

/// Wait for a backend answer.
pub async fn wait_reply<T>(p: crate::backend::Pending<T>) -> Result<T, ApiError> {
    Ok(crate::backend::wait(p).await?)
}
