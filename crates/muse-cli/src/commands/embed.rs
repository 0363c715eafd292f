//! `muse embed`: sentence embeddings from a sentence-transformers folder (default: the packaged
//! all-MiniLM-L6-v2). The hidden `--bench` flag times throughput and single-sentence latency for
//! `scripts/bench/minilm_side_by_side.py`.

use crate::home::{read_utf8, resolve_embedding_model};
use anyhow::{Context, Result, bail};
use muse_models::{Embeddings, SentenceEmbedder};
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Texts to embed (each argument is one input).
    texts: Vec<String>,
    /// UTF-8 file with one text per line (after any TEXT arguments).
    #[arg(long)]
    file: Option<PathBuf>,
    /// Model folder or installed model name (default: all-MiniLM-L6-v2).
    #[arg(long)]
    model: Option<String>,
    /// Print `{"model", "dim", "embeddings"}` instead of one summary line per input.
    #[arg(long)]
    json: bool,
    /// Time the inputs instead of printing them: sentences/s embedding them all (in batches of
    /// `--batch`) and the p50 latency of embedding the first one alone.
    #[arg(long, hide = true)]
    bench: bool,
    /// Sentences per forward pass.
    #[arg(long, default_value_t = muse_models::sentence_embedder::DEFAULT_BATCH_SIZE)]
    batch: usize,
    /// Timed repetitions of the whole input for `--bench` (median reported).
    #[arg(long, default_value_t = 5, hide = true)]
    reps: usize,
    /// Timed single-sentence calls for `--bench`.
    #[arg(long, default_value_t = 50, hide = true)]
    single_reps: usize,
}

pub fn run(a: Args) -> Result<()> {
    let mut texts = a.texts;
    if let Some(f) = &a.file {
        texts.extend(read_utf8(f)?.lines().map(str::to_string));
    }
    if texts.is_empty() && a.file.is_none() {
        bail!("nothing to embed: give TEXT arguments or --file");
    }
    let dir = resolve_embedding_model(a.model.as_deref())?;
    let t0 = Instant::now();
    let model = SentenceEmbedder::load(&dir)
        .with_context(|| format!("loading {}", dir.display()))?
        .with_batch_size(a.batch);
    let load_ms = t0.elapsed().as_secs_f64() * 1e3;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string());
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    if a.bench {
        return bench(&model, &name, &refs, load_ms, a.reps, a.single_reps);
    }
    let e = model.embed(&refs)?;
    warn_truncated(&e, model.max_seq_length());
    let mut out = std::io::stdout().lock();
    if a.json {
        // A struct, not `json!`: the latter widens every f32 to f64 and prints 17 digits.
        #[derive(serde::Serialize)]
        struct Out<'a> {
            model: &'a str,
            dim: usize,
            embeddings: &'a [Vec<f32>],
        }
        let v = Out {
            model: &name,
            dim: e.dim,
            embeddings: &e.vectors,
        };
        writeln!(out, "{}", serde_json::to_string(&v)?)?;
        return Ok(());
    }
    for (i, v) in e.vectors.iter().enumerate() {
        let head: Vec<String> = v.iter().take(4).map(|x| format!("{x:+.4}")).collect();
        writeln!(out, "{i}: [{}, …] dim {}", head.join(", "), e.dim)?;
    }
    Ok(())
}

fn warn_truncated(e: &Embeddings, max: usize) {
    for t in &e.truncated {
        eprintln!(
            "warning: input {} has {} tokens; truncated to {max}",
            t.index, t.tokens
        );
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn bench(
    model: &SentenceEmbedder,
    name: &str,
    texts: &[&str],
    load_ms: f64,
    reps: usize,
    single_reps: usize,
) -> Result<()> {
    let Some(first) = texts.first() else {
        bail!("--bench needs at least one input");
    };
    let tokens: usize = texts
        .iter()
        .map(|t| model.token_ids(t).map(|ids| ids.len()))
        .sum::<Result<usize, _>>()?;
    // Warm-up: first touches of the weights and allocator growth.
    model.embed(texts)?;
    for _ in 0..5 {
        model.embed(&[first])?;
    }
    let mut rates = Vec::new();
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        model.embed(texts)?;
        rates.push(texts.len() as f64 / t.elapsed().as_secs_f64());
    }
    let mut single = Vec::new();
    for _ in 0..single_reps.max(1) {
        let t = Instant::now();
        model.embed(&[first])?;
        single.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let v = serde_json::json!({
        "model": name,
        "sentences": texts.len(),
        "mean_tokens": tokens as f64 / texts.len() as f64,
        "threads": rayon::current_num_threads(),
        "load_ms": load_ms,
        "sentences_per_s_median": median(rates.clone()),
        "sentences_per_s": rates,
        "single_ms_p50": median(single.clone()),
        "single_ms_min": single.iter().copied().fold(f64::INFINITY, f64::min),
    });
    writeln!(std::io::stdout().lock(), "{v}")?;
    Ok(())
}
