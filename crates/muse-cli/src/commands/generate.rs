//! `muse generate`: stream one continuation, sample several (`--n`), or pick the best of several
//! by the quality score (`--best-of`, with refinement rounds under `--min-score`).

use crate::commands::kb::Source;
use crate::home::resolve_text_model;
use crate::quality::QualityArgs;
use anyhow::{Context, Result, bail};
use muse_engine::{GenerateRequest, OptimizeRequest, SentenceEmbedderRef, TextModel};
use muse_quality::Evaluator;
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
    /// Sample N independent continuations in one batch (choice i uses seed + i).
    #[arg(long, default_value_t = 1, value_name = "N")]
    n: usize,
    /// Sample N candidates in one batch, score each (see `muse eval`) and keep the best.
    #[arg(long, value_name = "N", conflicts_with = "n")]
    best_of: Option<usize>,
    /// With --best-of: keep sampling rounds, adjusted to the weakest dimension, while the best
    /// overall score is below S.
    #[arg(long, value_name = "S")]
    min_score: Option<f64>,
    /// With --min-score: at most this many rounds.
    #[arg(long, default_value_t = 3, value_name = "R")]
    max_rounds: usize,
    /// With --best-of: keep the candidates raw — no whitespace normalisation, duplicate-sentence
    /// removal, or trimming of a sentence cut off by --max-tokens.
    #[arg(long)]
    no_clean: bool,
    #[command(flatten)]
    quality: QualityArgs,
    /// Ground the answer in this knowledge base (name or path): its best chunks go into the
    /// prompt, and the sources used are named.
    #[arg(long)]
    kb: Option<String>,
    /// Most prompt tokens the retrieved chunks may take (also capped by the context size).
    #[arg(long, default_value_t = 1024)]
    kb_tokens: usize,
}

fn run_best_of(
    model: &TextModel,
    req: GenerateRequest,
    a: &Args,
    best_of: usize,
    sources: &[Source],
) -> Result<()> {
    let weights = a.quality.weights()?;
    let emb = a.quality.load_embedder()?;
    let embedder = SentenceEmbedderRef::new(&emb);
    let evaluator = Evaluator::new(model, &embedder, weights)?;
    let mut opt = OptimizeRequest::new(req, best_of);
    // Scored against the user's question and grounded in the retrieved passages, not against
    // the prompt built around them.
    opt.eval_prompt = Some(a.prompt.clone());
    opt.passages = sources.iter().map(|s| s.text.clone()).collect();
    opt.min_score = a.min_score;
    opt.max_rounds = if a.min_score.is_some() {
        a.max_rounds
    } else {
        1
    };
    opt.clean = !a.no_clean;
    let total = best_of * opt.max_rounds;
    eprintln!(
        "sampling {best_of} candidates{} and scoring them…",
        if opt.max_rounds > 1 {
            format!(
                " a round (at most {} rounds, {total} candidates)",
                opt.max_rounds
            )
        } else {
            String::new()
        }
    );
    let r = model.optimize(&opt, &evaluator)?;
    let Some(best) = r.best() else {
        bail!("no candidate was generated");
    };
    let mut out = std::io::stdout().lock();
    if a.json {
        let json = serde_json::json!({
            "text": best.text,
            "chosen": r.chosen,
            "scores": {
                "coherence": best.scores.coherence,
                "fluency": best.scores.fluency,
                "relevance": best.scores.relevance,
                "creativity": best.scores.creativity,
                "overall": best.scores.overall,
            },
            "reached_min_score": r.reached_min_score,
            "weights": weights,
            "candidates": r.candidates,
            "rounds": r.rounds,
            "model": r.model,
        });
        let mut json = json;
        if a.kb.is_some() {
            json["sources"] = serde_json::to_value(sources)?;
        }
        writeln!(out, "{json}")?;
    } else {
        writeln!(out, "{}", best.text)?;
        eprintln!(
            "chose candidate {} of {} (overall {:.3}: coherence {:.3}, fluency {:.3}, relevance {:.3}, creativity {:.3}; {} round{})",
            r.chosen,
            r.candidates.len(),
            best.scores.overall,
            best.scores.coherence,
            best.scores.fluency,
            best.scores.relevance,
            best.scores.creativity,
            r.rounds.len(),
            if r.rounds.len() == 1 { "" } else { "s" }
        );
    }
    Ok(())
}

pub fn run(a: Args) -> Result<()> {
    if a.n == 0 || a.n > muse_engine::MAX_BATCH {
        bail!(
            "`--n` must be in 1..={}, got {}",
            muse_engine::MAX_BATCH,
            a.n
        );
    }
    if let Some(b) = a.best_of
        && (b == 0 || b > muse_engine::MAX_BATCH)
    {
        bail!(
            "`--best-of` must be in 1..={}, got {b}",
            muse_engine::MAX_BATCH
        );
    }
    if a.min_score.is_some() && a.best_of.is_none() {
        bail!("`--min-score` needs `--best-of N`: it is the score the best candidate must reach");
    }
    if let Some(s) = a.min_score
        && !(0.0..=1.0).contains(&s)
    {
        bail!("`--min-score` must be in [0, 1], got {s}");
    }
    if a.max_rounds == 0 || a.max_rounds > muse_engine::MAX_ROUNDS {
        bail!(
            "`--max-rounds` must be in 1..={}, got {}",
            muse_engine::MAX_ROUNDS,
            a.max_rounds
        );
    }
    if a.best_of.is_some() {
        // Fail on bad weights before loading any model.
        a.quality.weights()?;
    }
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
        None => (a.prompt.clone(), Vec::new()),
    };
    let req = GenerateRequest {
        prompt,
        system: a.system.clone(),
        raw: a.raw,
        max_tokens: a.max_tokens,
        sampling,
        stop: a.stop.clone(),
    };
    let stdout = std::io::stdout();
    if let Some(best_of) = a.best_of {
        return run_best_of(&model, req, &a, best_of, &sources);
    }
    if a.n > 1 {
        let batch = model.generate_n(&req, a.n)?;
        let choices: Vec<serde_json::Value> = batch
            .choices
            .iter()
            .enumerate()
            .map(|(i, c)| {
                serde_json::json!({
                    "index": i,
                    "text": c.text,
                    "tokens": c.tokens,
                    "finish_reason": c.finish_reason,
                    "seed": c.seed,
                })
            })
            .collect();
        let mut out = stdout.lock();
        if a.json {
            let mut json = serde_json::json!({
                "choices": choices,
                "model": batch.model,
                "timings": batch.timings,
            });
            if a.kb.is_some() {
                json["sources"] = serde_json::to_value(&sources)?;
            }
            writeln!(out, "{json}")?;
        } else {
            for (i, c) in choices.iter().enumerate() {
                writeln!(
                    out,
                    "--- choice {i} ---\n{}",
                    c["text"].as_str().unwrap_or("")
                )?;
            }
        }
        return Ok(());
    }
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
