//! Request validation: every check names the field at fault and the accepted range, before any
//! work is queued. The result is the backend's native [`GenRequest`] pieces.

use crate::backend::{Message, ModelKind};
use crate::config::ServerConfig;
use crate::dto::chat::{ChatMessageIn, Content};
use crate::dto::common::SamplingFields;
use crate::error::ApiError;
use crate::state::AppState;
use muse_sample::SamplingParams;

/// Most stop sequences (OpenAI's limit).
pub const MAX_STOP: usize = 4;

/// Roles a chat message may have.
const ROLES: [&str; 5] = ["system", "developer", "user", "assistant", "tool"];

/// The validated generation settings of a request.
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    pub n: usize,
    pub max_tokens: usize,
    pub sampling: SamplingParams,
    pub stop: Vec<String>,
}

fn in_range(name: &str, v: Option<f64>, lo: f64, hi: f64, open_lo: bool) -> Result<(), ApiError> {
    let Some(v) = v else { return Ok(()) };
    let ok = v.is_finite() && v <= hi && if open_lo { v > lo } else { v >= lo };
    if ok {
        return Ok(());
    }
    let range = if open_lo {
        format!("> {lo} and <= {hi}")
    } else {
        format!("between {lo} and {hi}")
    };
    Err(ApiError::invalid(
        name,
        format!("`{name}` must be {range}, got {v}"),
    ))
}

/// Check the sampling fields against the limits and map them to [`SamplingParams`]; fields
/// the client leaves out keep Muse's defaults. `max_completion_tokens` wins over `max_tokens`.
pub fn generation(
    f: &SamplingFields,
    max_completion_tokens: Option<u64>,
    default_max_tokens: usize,
    cfg: &ServerConfig,
) -> Result<Generation, ApiError> {
    let n = f.n.unwrap_or(1);
    if n == 0 || n > cfg.max_n as u64 {
        return Err(ApiError::invalid(
            "n",
            format!("`n` must be between 1 and {}, got {n}", cfg.max_n),
        ));
    }
    // Both limits are checked when given; `max_completion_tokens` is the one used.
    let mut max = None;
    for (name, given) in [
        ("max_tokens", f.max_tokens),
        ("max_completion_tokens", max_completion_tokens),
    ] {
        if let Some(m) = given {
            if m == 0 || m > cfg.max_tokens as u64 {
                return Err(ApiError::invalid(
                    name,
                    format!("`{name}` must be between 1 and {}, got {m}", cfg.max_tokens),
                ));
            }
            max = Some(m);
        }
    }
    let max = max.unwrap_or(default_max_tokens.min(cfg.max_tokens) as u64);
    in_range("temperature", f.temperature, 0.0, 2.0, false)?;
    in_range("top_p", f.top_p, 0.0, 1.0, true)?;
    in_range("presence_penalty", f.presence_penalty, -2.0, 2.0, false)?;
    in_range("frequency_penalty", f.frequency_penalty, -2.0, 2.0, false)?;
    let stop = f.stop.clone().map(|s| s.into_vec()).unwrap_or_default();
    if stop.len() > MAX_STOP {
        return Err(ApiError::invalid(
            "stop",
            format!(
                "`stop` may hold at most {MAX_STOP} sequences, got {}",
                stop.len()
            ),
        ));
    }
    if stop.iter().any(String::is_empty) {
        return Err(ApiError::invalid(
            "stop",
            "`stop` sequences must not be empty",
        ));
    }
    let defaults = SamplingParams::default();
    let sampling = SamplingParams {
        temperature: f.temperature.map_or(defaults.temperature, |t| t as f32),
        // A positive top_p below f32's range still means "the most likely token only".
        top_p: f
            .top_p
            .map_or(defaults.top_p, |p| (p as f32).max(f32::MIN_POSITIVE)),
        presence_penalty: f.presence_penalty.unwrap_or(0.0) as f32,
        frequency_penalty: f.frequency_penalty.unwrap_or(0.0) as f32,
        // OpenAI's seeds are signed; the bits are the seed.
        seed: f.seed.map_or_else(fresh_seed, |s| s as u64),
        ..defaults
    };
    // The engine's own checks, in case its ranges are stricter than OpenAI's.
    if let Err(muse_sample::SampleError::InvalidParameter { name, .. }) = sampling.validate() {
        return Err(ApiError::invalid(name, format!("`{name}` is out of range")));
    }
    Ok(Generation {
        n: n as usize,
        max_tokens: max as usize,
        sampling,
        stop,
    })
}

/// A seed for a request that gives none: different per request.
fn fresh_seed() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ COUNTER.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
}

/// Chat messages as plain role/text pairs: at least one, known roles, text content only.
pub fn messages(msgs: &[ChatMessageIn]) -> Result<Vec<Message>, ApiError> {
    if msgs.is_empty() {
        return Err(ApiError::invalid(
            "messages",
            "`messages` must contain at least one message",
        ));
    }
    let mut out = Vec::with_capacity(msgs.len());
    for (i, m) in msgs.iter().enumerate() {
        if !ROLES.contains(&m.role.as_str()) {
            return Err(ApiError::invalid(
                &format!("messages[{i}].role"),
                format!(
                    "`messages[{i}].role` must be one of {}, got `{}`",
                    ROLES.join(", "),
                    m.role
                ),
            ));
        }
        let content = match &m.content {
            None => String::new(),
            Some(Content::Text(t)) => t.clone(),
            Some(Content::Parts(parts)) => {
                let mut text = String::new();
                for (j, p) in parts.iter().enumerate() {
                    match (&*p.kind, &p.text) {
                        ("text", Some(t)) => text.push_str(t),
                        _ => {
                            return Err(ApiError::invalid(
                                &format!("messages[{i}].content[{j}]"),
                                format!(
                                    "`messages[{i}].content[{j}]`: only `text` parts are supported, got `{}`",
                                    p.kind
                                ),
                            ));
                        }
                    }
                }
                text
            }
        };
        out.push(Message {
            role: m.role.clone(),
            content,
        });
    }
    Ok(out)
}

/// 404 unless `model` is a served model of `kind`.
pub fn model(state: &AppState, model: &str, kind: ModelKind) -> Result<(), ApiError> {
    if state
        .backend
        .models()
        .iter()
        .any(|m| m.id == model && m.kind == kind)
    {
        Ok(())
    } else {
        Err(ApiError::unknown_model(model))
    }
}

/// Chat's `logprobs` / `top_logprobs`: the number of alternatives to report, or `None`. A positive
/// `top_logprobs` implies `logprobs` (OpenAI refuses it alone; there is no reason to).
pub fn logprobs(logprobs: bool, top_logprobs: Option<u64>) -> Result<Option<usize>, ApiError> {
    const MAX: u64 = 20;
    match (logprobs, top_logprobs) {
        (_, Some(k)) if k > MAX => Err(ApiError::invalid(
            "top_logprobs",
            format!("`top_logprobs` must be between 0 and {MAX}, got {k}"),
        )),
        (false, Some(k)) if k > 0 => Ok(Some(k as usize)),
        (false, _) => Ok(None),
        (true, k) => Ok(Some(k.unwrap_or(0) as usize)),
    }
}
