//! `muse train`: Muse trains its own small models in Rust.
//!
//! * `muse train diffusion` — a text-conditioned UNet on Fashion-MNIST, MNIST or a folder of
//!   class folders; writes a diffusers-style folder `muse image --model DIR` loads.
//! * `muse train classifier` — the CNN that judges generated images (`muse train evaluate`).

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use muse_diffusion::caption_prior::MappedCaption;
use muse_models::SentenceEmbedder;
use muse_train::TrainError;
use muse_train::data::{DataSource, Split};
use muse_train::diffusion::{DiffusionTraining, StepInfo};

use crate::home::{muse_home, resolve_embedding_model};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(clap::Subcommand, Debug)]
enum What {
    /// Train a text-conditioned diffusion UNet (ε-prediction MSE, AdamW, EMA, warm-up + cosine).
    Diffusion(DiffusionArgs),
    /// Train the 28x28 image classifier used to evaluate generated images.
    Classifier(ClassifierArgs),
    /// Measure a trained text-to-image model: conditional accuracy and Fréchet distance of images
    /// generated from held-out prompts, with and without guidance.
    Evaluate(EvaluateArgs),
}

#[derive(clap::Args, Debug)]
struct EvaluateArgs {
    /// The trained model folder.
    #[arg(long)]
    model: PathBuf,
    /// The classifier folder (`muse train classifier --out`).
    #[arg(long)]
    classifier: PathBuf,
    /// Images per class and guidance scale.
    #[arg(long, default_value_t = 50)]
    per_class: usize,
    /// Denoising steps.
    #[arg(long, default_value_t = 25)]
    steps: usize,
    /// Sampler: ddpm, ddim, euler-a, dpmpp-2m (default: the model folder's).
    #[arg(long)]
    scheduler: Option<String>,
    /// DDIM: re-derive ε from the clipped x̂₀, true or false (default: the model's
    /// `muse.default_use_clipped_model_output`, else false).
    #[arg(long)]
    clipped_model_output: Option<bool>,
    /// Guidance scales, e.g. 1,3 (1 = no guidance).
    #[arg(long, value_delimiter = ',', default_value = "1,3")]
    guidance: Vec<f64>,
    /// Guidance only at timesteps ≤ T (default: the model's
    /// `muse.default_guidance_max_timestep`, else every step).
    #[arg(long)]
    guidance_max_timestep: Option<f64>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write a sample grid per guidance scale to PREFIX-g<G>.png.
    #[arg(long)]
    grid: Option<PathBuf>,
    /// Which prompts to generate from: `held-out` (phrasings never seen in training; the
    /// honest measure), `validation` (a second set of unseen phrasings, for choosing sampling
    /// settings without touching the held-out set) or `training` (the training captions
    /// themselves, to separate how well the model draws a class from how well unseen phrasings
    /// reach it).
    #[arg(long, value_enum, default_value_t = PromptSet::HeldOut)]
    prompts: PromptSet,
    /// Condition on the prompts' own embeddings, skipping the model's caption prior
    /// (`text_prior/`), to measure what the prior adds.
    #[arg(long)]
    no_caption_prior: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum PromptSet {
    HeldOut,
    Validation,
    Training,
}

#[derive(clap::Args, Debug)]
struct DiffusionArgs {
    /// `fashion-mnist`, `mnist`, or a folder of class sub-folders of PNG images.
    #[arg(long, default_value = "fashion-mnist")]
    data: String,
    /// Optimiser steps.
    #[arg(long, default_value_t = 3000)]
    steps: usize,
    /// Images per step.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Peak learning rate (after warm-up; cosine decay to a tenth of it).
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Warm-up steps.
    #[arg(long, default_value_t = 200)]
    warmup: usize,
    /// EMA decay of the exported weights.
    #[arg(long, default_value_t = 0.999)]
    ema_decay: f64,
    /// Write a checkpoint every K steps.
    #[arg(long, default_value_t = 250)]
    checkpoint_every: usize,
    /// Share of captions replaced by the empty condition (for classifier-free guidance).
    #[arg(long, default_value_t = 0.1)]
    caption_dropout: f64,
    /// Channels of the UNet's three levels, e.g. 32,64,64.
    #[arg(long, value_delimiter = ',', default_value = "32,64,64")]
    channels: Vec<usize>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output folder (diffusers layout; checkpoints in OUT/training/).
    #[arg(long)]
    out: PathBuf,
    /// Continue from OUT/training/latest.
    #[arg(long)]
    resume: bool,
    /// Sentence-embedding model for the captions (default: all-MiniLM-L6-v2).
    #[arg(long)]
    embedding_model: Option<String>,
    /// Print the final report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
struct ClassifierArgs {
    /// `fashion-mnist`, `mnist`, or a folder of class sub-folders of 28x28 PNG images.
    #[arg(long, default_value = "fashion-mnist")]
    data: String,
    #[arg(long, default_value_t = 3)]
    epochs: usize,
    #[arg(long, default_value_t = 128)]
    batch: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output folder (classifier.safetensors + classifier.json).
    #[arg(long)]
    out: PathBuf,
}

pub fn run(a: Args) -> Result<()> {
    match a.what {
        What::Diffusion(d) => diffusion(d),
        What::Classifier(c) => classifier(c),
        What::Evaluate(e) => evaluate(e),
    }
}

fn bar(total: usize) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(total as u64);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg} (eta {eta})",
    ) {
        pb.set_style(style);
    }
    pb
}

fn datasets_dir() -> PathBuf {
    muse_home().join("datasets")
}

fn diffusion(a: DiffusionArgs) -> Result<()> {
    let channels: [usize; 3] = a
        .channels
        .as_slice()
        .try_into()
        .map_err(|_| anyhow::anyhow!("--channels needs exactly three values, e.g. 32,64,64"))?;
    let opts = DiffusionTraining {
        data: DataSource::parse(&a.data)?,
        steps: a.steps,
        batch: a.batch,
        lr: a.lr,
        warmup: a.warmup,
        ema_decay: a.ema_decay,
        checkpoint_every: a.checkpoint_every,
        caption_dropout: a.caption_dropout,
        max_grad_norm: 1.0,
        seed: a.seed,
        channels,
        out: a.out.clone(),
        resume: a.resume,
    };
    let dir = resolve_embedding_model(a.embedding_model.as_deref())?;
    let embedder =
        SentenceEmbedder::load(&dir).with_context(|| format!("loading {}", dir.display()))?;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let embed = |texts: &[&str]| -> Result<Vec<Vec<f32>>, TrainError> {
        Ok(embedder.embed(texts)?.vectors)
    };
    let pb = bar(opts.steps);
    let log_plain = !std::io::stderr().is_terminal();
    let report =
        muse_train::diffusion::train(&opts, &datasets_dir(), &embed, &name, |s: &StepInfo| {
            pb.set_position(s.step as u64);
            pb.set_message(format!(
                "loss {:.4} · {:.1} img/s · lr {:.1e}",
                s.loss, s.images_per_sec, s.lr
            ));
            if log_plain && (s.step.is_multiple_of(50) || s.step == s.total) {
                eprintln!(
                    "step {}/{} loss {:.4} {:.1} img/s",
                    s.step, s.total, s.loss, s.images_per_sec
                );
            }
        });
    pb.finish_and_clear();
    let report = report?;
    if a.json {
        use std::io::Write;
        writeln!(
            std::io::stdout().lock(),
            "{}",
            serde_json::to_string_pretty(&report)?
        )?;
    } else {
        eprintln!(
            "trained {} steps ({} images, {:.1} img/s, {:.0} s); final loss {:.4}; model in {}",
            report.steps,
            report.images_seen,
            report.images_per_sec,
            report.seconds,
            report.final_loss,
            report.model_dir.display()
        );
    }
    Ok(())
}

fn classifier(a: ClassifierArgs) -> Result<()> {
    let source = DataSource::parse(&a.data)?;
    let train = source.load(&datasets_dir(), Split::Train)?;
    let test = source.load(&datasets_dir(), Split::Test)?;
    let opts = muse_train::classifier::ClassifierTraining {
        epochs: a.epochs,
        batch: a.batch,
        seed: a.seed,
        ..Default::default()
    };
    let pb = bar(train.len().div_ceil(a.batch.max(1)) * a.epochs);
    let t0 = std::time::Instant::now();
    let result =
        muse_train::classifier::train(&train, &test, &opts, &a.out, |step, _total, loss| {
            pb.set_position(step as u64);
            pb.set_message(format!("loss {loss:.4}"));
        });
    pb.finish_and_clear();
    let (_, accuracy) = result?;
    eprintln!(
        "classifier trained in {:.0} s on {} images; test accuracy {:.2}% on {} images; saved to {}",
        t0.elapsed().as_secs_f64(),
        train.len(),
        accuracy * 100.0,
        test.len(),
        a.out.display()
    );
    Ok(())
}

fn evaluate(a: EvaluateArgs) -> Result<()> {
    let scheduler = a
        .scheduler
        .as_deref()
        .map(muse_diffusion::schedulers::SchedulerKind::from_name)
        .transpose()?;
    let device = candle_core::Device::Cpu;
    let pipe = crate::commands::image::load_pipeline(&a.model, &device, !a.no_caption_prior)?;
    let index: serde_json::Value = serde_json::from_slice(
        &std::fs::read(a.model.join("model_index.json"))
            .with_context(|| format!("reading {}/model_index.json", a.model.display()))?,
    )?;
    let dataset = index["muse"]["dataset"]
        .as_str()
        .unwrap_or("fashion-mnist")
        .to_string();
    let source = DataSource::parse(&dataset)?;
    let classifier = muse_train::classifier::Classifier::load(&a.classifier)?;
    let prompts = match a.prompts {
        PromptSet::HeldOut => {
            muse_train::captions::evaluation_prompts(&source).ok_or_else(|| {
                anyhow::anyhow!("no held-out evaluation prompts for dataset {dataset}")
            })?
        }
        PromptSet::Validation => muse_train::captions::validation_prompts(&source)
            .ok_or_else(|| anyhow::anyhow!("no validation prompts for dataset {dataset}"))?,
        PromptSet::Training => {
            muse_train::captions::training_captions(&source, &classifier.classes)
        }
    };
    let test = source.load(&datasets_dir(), Split::Test)?;
    let defaults = crate::commands::image::model_defaults(&a.model);
    let opts = muse_train::evaluate::EvalOptions {
        per_class: a.per_class,
        steps: a.steps,
        guidances: a.guidance.clone(),
        guidance_max_timestep: a.guidance_max_timestep.or(defaults.guidance_max_timestep),
        scheduler,
        use_clipped_model_output: a
            .clipped_model_output
            .unwrap_or(defaults.use_clipped_model_output),
        seed: a.seed,
    };
    let pb = bar(prompts.len() * a.per_class * a.guidance.len());
    let per_guidance = prompts.len() * a.per_class;
    let order: Vec<f64> = a.guidance.clone();
    let grid = a.grid.clone();
    let report = muse_train::evaluate::evaluate(
        &pipe,
        &classifier,
        &test,
        &prompts,
        &opts,
        |g, samples| {
            if let Some(prefix) = &grid {
                let path = PathBuf::from(format!("{}-g{g}.png", prefix.display()));
                muse_train::evaluate::sample_grid(samples, 28, &path)?;
            }
            Ok(())
        },
        |g, done, _| {
            let k = order.iter().position(|&x| x == g).unwrap_or(0);
            pb.set_position((k * per_guidance + done) as u64);
            pb.set_message(format!("guidance {g}"));
        },
    );
    pb.finish_and_clear();
    let report = report?;
    let mapping = prompt_mapping(&pipe, &prompts)?;
    let mut report_json = serde_json::to_value(&report)?;
    if let Some(obj) = report_json.as_object_mut() {
        obj.insert("caption_prior".into(), mapping.is_some().into());
        if let Some(m) = &mapping {
            obj.insert("mapped_captions".into(), serde_json::to_value(m)?);
        }
    }
    if a.json {
        use std::io::Write;
        writeln!(
            std::io::stdout().lock(),
            "{}",
            serde_json::to_string_pretty(&report_json)?
        )?;
    } else {
        eprintln!(
            "classifier test accuracy {:.2}%; Fréchet distance between halves of the real test set {:.2}",
            report.classifier_test_accuracy * 100.0,
            report.frechet_real_halves
        );
        for r in &report.results {
            eprintln!(
                "guidance {}: {} images, conditional accuracy {:.1}%, Fréchet distance {:.2}, {:.2} images/s",
                r.guidance,
                r.images,
                r.accuracy * 100.0,
                r.frechet,
                r.images_per_sec
            );
        }
        for (class, list) in mapping.iter().flatten().enumerate() {
            for (prompt, m) in prompts[class].iter().zip(list) {
                let Some(m) = m else { continue };
                if m.class != Some(class) {
                    eprintln!(
                        "the caption prior maps {prompt:?} (class {class}) to {:?} (class {}), similarity {:.2}",
                        m.caption,
                        m.class.map_or("?".to_string(), |c| c.to_string()),
                        m.similarity
                    );
                }
            }
        }
    }
    Ok(())
}

/// `[class][prompt]` → the training caption each evaluation prompt is drawn from (`None` for a
/// blank prompt), for models with a caption prior; `None` for the others. A prompt mapped to
/// another class's caption cannot score, whatever the UNet does, so the report says which ones
/// are.
fn prompt_mapping(
    pipe: &muse_diffusion::pipeline::ImagePipeline,
    prompts: &[Vec<String>],
) -> Result<Option<Vec<Vec<Option<MappedCaption>>>>> {
    let Some(text) = pipe.text.as_ref().filter(|t| t.has_caption_prior()) else {
        return Ok(None);
    };
    let mapping = prompts
        .iter()
        .map(|list| {
            list.iter()
                .map(|p| text.mapped_caption(p))
                .collect::<muse_diffusion::Result<Vec<_>>>()
        })
        .collect::<muse_diffusion::Result<_>>()?;
    Ok(Some(mapping))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The report's prompt mapping on the shipped model: a training caption maps to itself, an
    /// unseen phrasing to a caption of its class, and every entry names a listed caption.
    #[test]
    fn prompt_mapping_names_the_caption_and_its_class() -> Result<()> {
        let Some(model) = muse_test_utils::packaged("muse-t2i-fashion") else {
            return Ok(());
        };
        if muse_test_utils::packaged(muse_test_utils::MINILM).is_none() {
            return Ok(());
        }
        let pipe = crate::commands::image::load_pipeline(&model, &candle_core::Device::Cpu, true)?;
        let prompts = vec![
            vec!["a pullover".to_string()],
            vec!["a leather purse".to_string(), " ".to_string()],
        ];
        let Some(m) = prompt_mapping(&pipe, &prompts)? else {
            anyhow::bail!("the shipped model has a caption prior");
        };
        let pullover = m[0][0].as_ref().context("no mapping")?;
        assert_eq!(pullover.caption, "a pullover");
        assert_eq!(pullover.class, Some(2));
        assert!(pullover.similarity > 0.999, "{}", pullover.similarity);
        let purse = m[1][0].as_ref().context("no mapping")?;
        assert_eq!(purse.class, Some(8), "{}", purse.caption);
        assert!(m[1][1].is_none(), "a blank prompt maps to nothing");
        // Without the prior there is nothing to report.
        let raw = crate::commands::image::load_pipeline(&model, &candle_core::Device::Cpu, false)?;
        assert!(prompt_mapping(&raw, &prompts)?.is_none());
        Ok(())
    }
}
