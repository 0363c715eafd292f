//! `muse create`: the whole pipeline in one call — understand, retrieve, generate, evaluate,
//! optimize, with the safety filters at the entrance and the exit.

use crate::home::resolve_text_model;
use crate::quality::QualityArgs;
use anyhow::{Context, Result, bail};
use muse_engine::{CreateRequest, Passage, Pipeline, SentenceEmbedderRef, TextModel};
use muse_quality::Evaluator;
use muse_safety::{AuditLog, FilterChain};
use muse_sample::SamplingParams;
use std::io::Write;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// What to create, in plain words (English or Chinese).
    prompt: String,
    /// Candidates per round.
    #[arg(long, default_value_t = 4, value_name = "N")]
    best_of: usize,
    /// Rounds at most: another runs while the best candidate misses a constraint (length ±20%,
    /// required keywords) or scores below --min-score.
    #[arg(long, default_value_t = 3, value_name = "R")]
    max_rounds: usize,
    /// Keep refining while the best overall score is below S.
    #[arg(long, value_name = "S")]
    min_score: Option<f64>,
    /// Sampling temperature of the first round.
    #[arg(long, default_value_t = 0.8)]
    temperature: f32,
    /// Random seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Text model (default: the packaged SmolLM2-135M-Instruct).
    #[arg(long)]
    model: Option<String>,
    /// Knowledge base to ground the content in (name or path).
    #[arg(long, value_name = "NAME|PATH")]
    kb: Option<String>,
    /// Most prompt tokens the retrieved passages may take.
    #[arg(long, default_value_t = 1024)]
    kb_tokens: usize,
    /// Stop after understanding and planning; print {"task", "constraints", "plan"}.
    #[arg(long)]
    plan_only: bool,
    #[command(flatten)]
    quality: QualityArgs,
    /// Print {"task", "constraints", "content", "scores", "sources", "trace", …}.
    #[arg(long)]
    json: bool,
    /// Image model for `image` and `text_image` requests (default: muse-t2i-fashion).
    #[arg(long, value_name = "NAME|PATH")]
    image_model: Option<String>,
    /// Where the image of an `image` / `text_image` request is written.
    #[arg(long, default_value = "create-image.png", value_name = "PNG")]
    image_out: std::path::PathBuf,
}

/// The image side of `create`: the image model is loaded only when a request asks for an image;
/// the result passes the NSFW filter before it is written.
struct CliImageMaker {
    model: Option<String>,
    out: std::path::PathBuf,
    safety: muse_safety::SafetyConfig,
}

impl muse_engine::ImageMaker for CliImageMaker {
    fn make(&self, prompt: &str, seed: u64) -> Result<Option<String>, String> {
        let run = || -> Result<Option<String>> {
            let dir = crate::home::resolve_image_model(self.model.as_deref())?;
            let device = candle_core::Device::Cpu;
            let pipe = crate::commands::image::load_pipeline(&dir, &device, true)?;
            let defaults = crate::commands::image::model_defaults(&dir);
            let req = muse_diffusion::pipeline::GenerateRequest {
                prompt: prompt.to_string(),
                steps: defaults.steps,
                guidance: defaults.guidance,
                guidance_max_timestep: defaults.guidance_max_timestep,
                use_clipped_model_output: defaults.use_clipped_model_output,
                seed,
                ..Default::default()
            };
            let generated = pipe.generate(&req, &mut |_, _| {})?;
            let Some(img) = generated.images.first() else {
                bail!("the image model returned no image");
            };
            let filter = muse_safety::NsfwImageFilter::from_config(&self.safety.image)?;
            let (_, written) =
                crate::commands::image::screen_and_write(filter.as_ref(), img, &self.out)?;
            if !written {
                return Ok(None);
            }
            Ok(Some(self.out.display().to_string()))
        };
        run().map_err(|e| format!("{e:#}"))
    }
}

/// The safety chain and audit log of `[safety]` in the config file (defaults without one).
fn safety(q: &QualityArgs) -> Result<(FilterChain, Option<AuditLog>)> {
    let cfg = crate::safety::load(q.config.as_deref())?;
    let audit = match &cfg.audit_log {
        Some(path) => Some(AuditLog::open(path, cfg.audit_full_text)?),
        None => None,
    };
    Ok((FilterChain::from_config(&cfg)?, audit))
}

pub fn run(a: Args) -> Result<()> {
    if a.prompt.trim().is_empty() {
        bail!("the prompt is empty: say what to create");
    }
    if a.best_of == 0 || a.best_of > muse_engine::MAX_BATCH {
        bail!(
            "`--best-of` must be in 1..={}, got {}",
            muse_engine::MAX_BATCH,
            a.best_of
        );
    }
    if a.max_rounds == 0 || a.max_rounds > muse_engine::MAX_ROUNDS {
        bail!(
            "`--max-rounds` must be in 1..={}, got {}",
            muse_engine::MAX_ROUNDS,
            a.max_rounds
        );
    }
    let sampling = SamplingParams {
        temperature: a.temperature,
        repeat_penalty: 1.1,
        seed: a.seed,
        ..SamplingParams::default()
    };
    sampling.validate()?;
    let weights = a.quality.weights()?;
    let (safety, audit) = safety(&a.quality)?;
    let emb = a.quality.load_embedder()?;
    let embedder = SentenceEmbedderRef::new(&emb);
    let image_maker = CliImageMaker {
        model: a.image_model.clone(),
        out: a.image_out.clone(),
        safety: crate::safety::load(a.quality.config.as_deref())?,
    };
    let path = resolve_text_model(a.model.as_deref())?;
    let lm = TextModel::load(&path).with_context(|| format!("loading {}", path.display()))?;
    let evaluator = Evaluator::new(&lm, &embedder, weights)?;
    let pipeline = Pipeline {
        lm: &lm,
        embedder: &embedder,
        evaluator: &evaluator,
        safety: &safety,
        audit: audit.as_ref(),
        image: Some(&image_maker),
    };
    let mut req = CreateRequest::new(a.prompt.clone());
    req.best_of = a.best_of;
    req.max_rounds = a.max_rounds;
    req.min_score = a.min_score;
    req.sampling = sampling;
    req.plan_only = a.plan_only;
    if let Some(kb) = &a.kb {
        let t = std::time::Instant::now();
        let tok = lm.tokenizer();
        let count = |t: &str| tok.encode(t).map_or(t.len() / 3, |ids| ids.len());
        let budget = a.kb_tokens.min(lm.context().saturating_sub(512));
        let sources = crate::commands::kb::retrieve(kb, &a.prompt, budget, &count)?;
        let passages = sources
            .into_iter()
            .map(|s| Passage {
                source: s.source,
                text: s.text,
            })
            .collect();
        req.retrieved = Some((passages, t.elapsed().as_secs_f64() * 1e3));
    }
    let c = pipeline.create(&req)?;
    let mut out = std::io::stdout().lock();
    if a.plan_only {
        writeln!(out, "{}", c.plan_json())?;
        return Ok(());
    }
    if a.json {
        writeln!(out, "{}", c.to_json())?;
    } else {
        writeln!(out, "{}", c.content.unwrap_or_default())?;
        for w in &c.warnings {
            eprintln!("warning: {w}");
        }
        if let Some(s) = &c.scores {
            eprintln!(
                "task {} · overall {:.3} (coherence {:.3}, fluency {:.3}, relevance {:.3}, creativity {:.3})",
                c.task.name(),
                s.overall,
                s.coherence,
                s.fluency,
                s.relevance,
                s.creativity
            );
        }
    }
    Ok(())
}
