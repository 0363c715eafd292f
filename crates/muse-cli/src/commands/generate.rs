use crate::home::resolve_text_model;
use anyhow::{Context, Result};
use muse_engine::{GenerateRequest, TextModel};
use muse_sample::SamplingParams;
use std::io::Write;
use std::ops::ControlFlow;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The prompt.
    prompt: String,
    /// Model file or installed model name (default: the packaged SmolLM2-135M-Instruct).
    #[arg(long)]
    model: Option<String>,
    /// Maximum number of new tokens.
    #[arg(long, default_value_t = 256)]
    max_tokens: usize,
    /// Sampling temperature; 0 = greedy.
    #[arg(long, default_value_t = 0.7)]
    temperature: f32,
    /// Keep the K most likely tokens (0 = off).
    #[arg(long, default_value_t = 40)]
    top_k: usize,
    /// Nucleus sampling: keep the smallest set with this much probability, in (0, 1].
    #[arg(long, default_value_t = 0.95)]
    top_p: f32,
    /// Drop tokens below this fraction of the best one's probability, in [0, 1).
    #[arg(long, default_value_t = 0.05)]
    min_p: f32,
    /// Repetition penalty (1 = off).
    #[arg(long, default_value_t = 1.1)]
    repeat_penalty: f32,
    /// Presence penalty (OpenAI's rule).
    #[arg(long, default_value_t = 0.0)]
    presence_penalty: f32,
    /// Frequency penalty (OpenAI's rule).
    #[arg(long, default_value_t = 0.0)]
    frequency_penalty: f32,
    /// Random seed; the same seed and parameters give the same text.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Stop when this string is produced (repeatable); it is not printed.
    #[arg(long)]
    stop: Vec<String>,
    /// System prompt (instruct models).
    #[arg(long)]
    system: Option<String>,
    /// Plain completion: no chat template.
    #[arg(long)]
    raw: bool,
    /// Print one JSON object instead of streaming text.
    #[arg(long)]
    json: bool,
    /// Ground the answer in this knowledge base (name or path): its best chunks go into the
    /// prompt, and the sources used are named.
    #[arg(long)]
    kb: Option<String>,
    /// Most prompt tokens the retrieved chunks may take (also capped by the context size).
    #[arg(long, default_value_t = 1024)]
    kb_tokens: usize,
}

pub fn run(a: Args) -> Result<()> {
    let sampling = SamplingParams {
        temperature: a.temperature,
        top_k: a.top_k,
        top_p: a.top_p,
        min_p: a.min_p,
        repeat_penalty: a.repeat_penalty,
        presence_penalty: a.presence_penalty,
        frequency_penalty: a.frequency_penalty,
        seed: a.seed,
        ..SamplingParams::default()
    };
    // Validate before the (slower) model load so a typo fails fast.
    sampling.validate()?;
    let path = resolve_text_model(a.model.as_deref())?;
    let model = TextModel::load(&path).with_context(|| format!("loading {}", path.display()))?;
    let (prompt, sources) = match &a.kb {
        Some(kb) => {
            let budget = (model.context().saturating_sub(a.max_tokens + 64)).min(a.kb_tokens);
            let tok = model.tokenizer();
            let count = |t: &str| tok.encode(t).map_or(t.len() / 3, |ids| ids.len());
            crate::commands::kb::ground(kb, &a.prompt, budget, &count)?
        }
        None => (a.prompt, Vec::new()),
    };
    let req = GenerateRequest {
        prompt,
        system: a.system,
        raw: a.raw,
        max_tokens: a.max_tokens,
        sampling,
        stop: a.stop,
    };
    let stdout = std::io::stdout();
    if a.json {
        let g = model.generate(&req, |_| ControlFlow::Continue(()))?;
        let mut json = serde_json::json!({
            "text": g.text,
            "tokens": g.tokens,
            "finish_reason": g.finish_reason,
            "model": g.model,
            "timings": g.timings,
        });
        if a.kb.is_some() {
            json["sources"] = serde_json::to_value(&sources)?;
        }
        writeln!(stdout.lock(), "{json}")?;
    } else {
        let mut io_err = None;
        model.generate(&req, |piece| {
            let mut out = stdout.lock();
            match out.write_all(piece.as_bytes()).and_then(|_| out.flush()) {
                Ok(()) => ControlFlow::Continue(()),
                // A closed pipe (`muse generate … | head -c 10`) stops generation at once.
                Err(e) => {
                    io_err = Some(e);
                    ControlFlow::Break(())
                }
            }
        })?;
        if let Some(e) = io_err {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return Ok(());
            }
            return Err(e.into());
        }
        writeln!(stdout.lock())?;
        if a.kb.is_some() {
            let mut out = stdout.lock();
            writeln!(out, "\nSources:")?;
            for s in &sources {
                writeln!(
                    out,
                    "[{}] {} (characters {}..{})",
                    s.n, s.source, s.start, s.end
                )?;
            }
        }
    }
    Ok(())
}
