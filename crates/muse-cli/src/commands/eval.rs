//! `muse eval`: score a text as an answer to a prompt — coherence, fluency, relevance,
//! creativity and their weighted overall, each in [0, 1].

use crate::home::{read_utf8, resolve_text_model};
use crate::quality::QualityArgs;
use anyhow::{Context, Result, bail};
use muse_engine::{SentenceEmbedderRef, TextModel};
use muse_quality::Evaluator;
use std::io::Write;
use std::path::PathBuf;

/// Prompt tokens of knowledge-base passages a grounded text is judged against.
const KB_TOKENS: usize = 1024;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The prompt the text answers.
    #[arg(long)]
    prompt: String,
    /// The text to evaluate.
    #[arg(long, conflicts_with = "file", required_unless_present = "file")]
    text: Option<String>,
    /// UTF-8 file holding the text to evaluate.
    #[arg(long)]
    file: Option<PathBuf>,
    /// A passage the text should be grounded on (repeatable); enables groundedness.
    #[arg(long = "passage", value_name = "TEXT")]
    passages: Vec<String>,
    /// Knowledge base whose best passages for the prompt the text should be grounded on.
    #[arg(long, value_name = "NAME|PATH")]
    kb: Option<String>,
    /// Language model for fluency (default: the packaged SmolLM2-135M-Instruct).
    #[arg(long)]
    model: Option<String>,
    #[command(flatten)]
    quality: QualityArgs,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> Result<()> {
    let text = match (&a.text, &a.file) {
        (Some(t), _) => t.clone(),
        (None, Some(f)) => read_utf8(f)?,
        (None, None) => bail!("give the text with --text or --file"),
    };
    if text.trim().is_empty() {
        bail!("the text to evaluate is empty");
    }
    if a.prompt.trim().is_empty() {
        bail!("the prompt is empty");
    }
    let weights = a.quality.weights()?;
    let path = resolve_text_model(a.model.as_deref())?;
    let lm = TextModel::load(&path).with_context(|| format!("loading {}", path.display()))?;
    let emb = a.quality.load_embedder()?;
    let embedder = SentenceEmbedderRef::new(&emb);
    let evaluator = Evaluator::new(&lm, &embedder, weights)?;
    let mut passages: Vec<String> = a.passages.clone();
    let mut sources = Vec::new();
    if let Some(kb) = &a.kb {
        let tok = lm.tokenizer();
        let count = |t: &str| tok.encode(t).map_or(t.len() / 3, |ids| ids.len());
        sources = crate::commands::kb::retrieve(kb, &a.prompt, KB_TOKENS, &count)?;
        passages.extend(sources.iter().map(|s| s.text.clone()));
    }
    let passages: Vec<&str> = passages.iter().map(String::as_str).collect();
    let s = evaluator.evaluate(&a.prompt, &text, &passages)?;
    if embedder.truncated() > 0 {
        eprintln!(
            "warning: {} input(s) longer than the embedding model's window were truncated",
            embedder.truncated()
        );
    }
    let mut out = std::io::stdout().lock();
    if a.json {
        let json = serde_json::json!({
            "coherence": s.coherence,
            "fluency": s.fluency,
            "relevance": s.relevance,
            "creativity": s.creativity,
            "overall": s.overall,
            "weights": weights,
            "details": s.details,
        });
        let mut json = json;
        if a.kb.is_some() {
            json["sources"] = serde_json::to_value(&sources)?;
        }
        writeln!(out, "{json}")?;
    } else {
        writeln!(out, "coherence   {:.3}", s.coherence)?;
        writeln!(
            out,
            "fluency     {:.3}  (perplexity {:.1})",
            s.fluency, s.details.fluency.perplexity
        )?;
        writeln!(out, "relevance   {:.3}", s.relevance)?;
        writeln!(out, "creativity  {:.3}", s.creativity)?;
        writeln!(
            out,
            "overall     {:.3}  (weights {},{},{},{})",
            s.overall, weights.coherence, weights.fluency, weights.relevance, weights.creativity
        )?;
    }
    Ok(())
}
