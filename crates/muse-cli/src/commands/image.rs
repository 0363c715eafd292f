//! `muse image`: text-to-image (or unconditional) generation with a diffusers model folder.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use candle_core::{Device, Tensor};
use muse_diffusion::pipeline::{GenerateRequest, ImagePipeline, RgbImage};
use muse_diffusion::schedulers::SchedulerKind;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The prompt (ignored by unconditional models).
    pub prompt: Option<String>,
    /// A diffusers folder: model_index.json + unet/ (+ scheduler/, text_encoder/, tokenizer/, vae/),
    /// or a UNet at the root; or the name of an installed image model (default: Muse's own
    /// muse-t2i-fashion).
    #[arg(long)]
    pub model: Option<String>,
    /// Scheduler: ddpm, ddim, euler-a, dpmpp-2m (default: the folder's, else ddim).
    #[arg(long)]
    pub scheduler: Option<String>,
    /// Denoising steps (default: the model's `muse.default_steps`, else 50).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Classifier-free guidance scale, ≤ 1 turns it off (default: the model's
    /// `muse.default_guidance`, else 7.5).
    #[arg(long)]
    pub guidance: Option<f64>,
    /// Apply guidance only at timesteps ≤ T (of the model's training timesteps, e.g. 500 of
    /// 1000); noisier steps run the conditional prediction alone (default: the model's
    /// `muse.default_guidance_max_timestep`, else every step).
    #[arg(long)]
    pub guidance_max_timestep: Option<f64>,
    /// DDIM: re-derive ε from the clipped x̂₀ (diffusers' `use_clipped_model_output`), true or
    /// false; keeps guided pixel-space samples from saturating (default: the model's
    /// `muse.default_use_clipped_model_output`, else false).
    #[arg(long)]
    pub clipped_model_output: Option<bool>,
    /// What the image should not show (classifier-free guidance's unconditional prompt).
    #[arg(long)]
    pub negative_prompt: Option<String>,
    /// Seed of the initial noise and the stochastic schedulers.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Number of images.
    #[arg(long, default_value_t = 1)]
    pub n: usize,
    /// Image size WxH (default: the model's).
    #[arg(long)]
    pub size: Option<String>,
    /// Initial noise x_T (float32 .npy [n, c, h, w]) instead of drawing it.
    #[arg(long)]
    pub latents: Option<PathBuf>,
    /// Output PNG; with --n > 1, OUT-0.png, OUT-1.png, ...
    #[arg(short = 'o', long = "output", default_value = "image.png")]
    pub output: PathBuf,
    /// Give a sentence-embedding model the prompt's own embedding, skipping its caption prior
    /// (`text_prior/`: the projection onto the training captions).
    #[arg(long)]
    pub no_caption_prior: bool,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
}

fn parse_size(s: &str) -> Result<(usize, usize)> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .with_context(|| format!("--size must be WxH (e.g. 512x512), got {s:?}"))?;
    let w: usize = w
        .trim()
        .parse()
        .with_context(|| format!("--size: bad width {w:?}"))?;
    let h: usize = h
        .trim()
        .parse()
        .with_context(|| format!("--size: bad height {h:?}"))?;
    Ok((h, w))
}

/// `a.png` with n = 3 -> `a-0.png`, `a-1.png`, `a-2.png`.
fn output_paths(out: &Path, n: usize) -> Vec<PathBuf> {
    if n == 1 {
        return vec![out.to_path_buf()];
    }
    let stem = out
        .file_stem()
        .map_or_else(|| "image".into(), |s| s.to_string_lossy().into_owned());
    let ext = out
        .extension()
        .map_or_else(|| "png".into(), |s| s.to_string_lossy().into_owned());
    (0..n)
        .map(|i| out.with_file_name(format!("{stem}-{i}.{ext}")))
        .collect()
}

/// The pipeline's image as an `image` crate buffer.
pub(crate) fn to_rgb(img: &RgbImage) -> Result<image::RgbImage> {
    image::RgbImage::from_raw(img.width as u32, img.height as u32, img.pixels.clone())
        .context("image buffer has the wrong size")
}

fn write_png(img: &RgbImage, path: &Path) -> Result<()> {
    let buf = to_rgb(img)?;
    buf.save_with_format(path, image::ImageFormat::Png)
        .with_context(|| format!("writing {}", path.display()))
}

/// Steps and guidance the model's `model_index.json` recommends (`"muse"` section), else
/// diffusers' defaults.
/// Screens `img` with the NSFW filter when one is installed and writes what may be shown to
/// `path`: returns the verdict (`None` without a filter) and whether the file was written
/// (a withheld image is not). A screening failure is an error: the caller must withhold.
pub(crate) fn screen_and_write(
    nsfw: Option<&muse_safety::NsfwImageFilter>,
    img: &RgbImage,
    path: &Path,
) -> Result<(Option<muse_safety::ImageVerdict>, bool)> {
    let Some(filter) = nsfw else {
        write_png(img, path)?;
        return Ok((None, true));
    };
    let rgb = to_rgb(img)?;
    let screened =
        muse_safety::screen_image(filter, rgb).context("the image safety filter failed")?;
    let Some(kept) = screened.image else {
        return Ok((Some(screened.verdict), false));
    };
    kept.save_with_format(path, image::ImageFormat::Png)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok((Some(screened.verdict), true))
}

/// Loads an image pipeline folder; Muse's own models get their sentence-embedding text encoder,
/// with the folder's caption prior unless `caption_prior` is false.
pub(crate) fn load_pipeline(
    dir: &std::path::Path,
    device: &candle_core::Device,
    caption_prior: bool,
) -> Result<muse_diffusion::pipeline::ImagePipeline> {
    use muse_diffusion::caption_prior::CaptionPrior;
    use muse_diffusion::pipeline::{ImagePipeline, TextConditioner};
    use muse_diffusion::sentence_conditioner::{SentenceConditioner, sentence_encoder_name};
    let text: Option<Box<dyn TextConditioner>> = match sentence_encoder_name(dir) {
        Some(name) => {
            let emb_dir = crate::home::resolve_embedding_model(Some(&name))?;
            let embedder = muse_models::SentenceEmbedder::load(&emb_dir)
                .with_context(|| format!("loading the text encoder {}", emb_dir.display()))?;
            let prior = if caption_prior {
                CaptionPrior::load_if_present(dir)
                    .with_context(|| format!("loading the caption prior of {}", dir.display()))?
            } else {
                None
            };
            Some(Box::new(
                SentenceConditioner::new(embedder, device).with_prior(prior)?,
            ))
        }
        None => None,
    };
    ImagePipeline::load_with(dir, device, text)
        .with_context(|| format!("loading the image model {}", dir.display()))
}

/// Why the input filter refuses `prompt` (naming the categories that decided it: those at 0.5
/// or more, else the strongest), or `None` when it may be drawn.
pub(crate) fn prompt_refusal(
    chain: &muse_safety::FilterChain,
    prompt: &str,
) -> Result<Option<String>> {
    let v = muse_safety::ContentFilter::check_text(chain, prompt, muse_safety::Stage::Input)?;
    if v.action != muse_safety::Action::Block {
        return Ok(None);
    }
    let mut ranked: Vec<(&String, &f32)> = v.categories.iter().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(a.1));
    let cats: Vec<String> = ranked
        .iter()
        .enumerate()
        .filter(|(i, (_, s))| *i == 0 || **s >= 0.5)
        .map(|(_, (c, s))| format!("{c} {s:.2}"))
        .collect();
    Ok(Some(format!(
        "the prompt was refused by the safety filter ({})",
        cats.join(", ")
    )))
}

/// A model folder's generation defaults (`model_index.json` → `muse.default_*`), else those of
/// diffusers' Stable Diffusion pipeline.
pub(crate) struct ModelDefaults {
    pub steps: usize,
    pub guidance: f64,
    pub guidance_max_timestep: Option<f64>,
    pub use_clipped_model_output: bool,
}

pub(crate) fn model_defaults(dir: &Path) -> ModelDefaults {
    let index: Option<serde_json::Value> = std::fs::read(dir.join("model_index.json"))
        .ok()
        .and_then(|t| serde_json::from_slice(&t).ok());
    let muse = index.as_ref().and_then(|i| i.get("muse"));
    let number = |key: &str| muse.and_then(|m| m[key].as_f64());
    ModelDefaults {
        steps: muse
            .and_then(|m| m["default_steps"].as_u64())
            .map_or(50, |s| s as usize),
        guidance: number("default_guidance").unwrap_or(7.5),
        guidance_max_timestep: number("default_guidance_max_timestep"),
        use_clipped_model_output: muse
            .and_then(|m| m["default_use_clipped_model_output"].as_bool())
            .unwrap_or(false),
    }
}

pub fn run(a: Args) -> Result<()> {
    let scheduler = a
        .scheduler
        .as_deref()
        .map(SchedulerKind::from_name)
        .transpose()?;
    let size = a.size.as_deref().map(parse_size).transpose()?;
    if a.n == 0 {
        bail!("--n must be at least 1");
    }
    let device = Device::Cpu;
    let latents = match &a.latents {
        Some(p) => Some(
            Tensor::read_npy(p)
                .with_context(|| format!("--latents {}: not a readable .npy file", p.display()))?,
        ),
        None => None,
    };
    // Input filter first: a refused prompt costs no model load.
    let safety_cfg = crate::safety::load(None)?;
    if let Some(prompt) = a.prompt.as_deref().filter(|p| !p.trim().is_empty()) {
        let chain = muse_safety::FilterChain::from_config(&safety_cfg)?;
        if let Some(why) = prompt_refusal(&chain, prompt)? {
            bail!("{why}");
        }
    }
    let nsfw = muse_safety::NsfwImageFilter::from_config(&safety_cfg.image)?;
    let dir = crate::home::resolve_image_model(a.model.as_deref())?;
    let pipe: ImagePipeline = load_pipeline(&dir, &device, !a.no_caption_prior)?;
    let defaults = model_defaults(&dir);
    let steps = a.steps.unwrap_or(defaults.steps);
    let req = GenerateRequest {
        prompt: a.prompt.clone().unwrap_or_default(),
        negative_prompt: a.negative_prompt.clone(),
        scheduler,
        steps,
        guidance: a.guidance.unwrap_or(defaults.guidance),
        guidance_max_timestep: a.guidance_max_timestep.or(defaults.guidance_max_timestep),
        seed: a.seed,
        n: a.n,
        size,
        latents,
        eta: 0.0,
        use_clipped_model_output: a
            .clipped_model_output
            .unwrap_or(defaults.use_clipped_model_output),
    };
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new(steps as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{spinner} denoising [{bar:30}] {pos}/{len} steps {elapsed_precise} (eta {eta})",
        ) {
            b.set_style(style.progress_chars("=> "));
        }
        b
    });
    // Models with a caption prior draw the training caption nearest to the prompt: say which.
    let mapped = match &pipe.text {
        Some(t) => t.mapped_caption(&req.prompt)?,
        None => None,
    };
    if let (Some(m), false) = (&mapped, a.json) {
        eprintln!(
            "conditioned on the training caption {:?} (cosine {:.2})",
            m.caption, m.similarity
        );
    }
    let out = pipe.generate(&req, &mut |done, _| {
        if let Some(b) = &bar {
            b.set_position(done as u64);
        }
    })?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let paths = output_paths(&a.output, out.images.len());
    // Output filter: every image is screened when the NSFW model is installed; one over the
    // threshold is withheld or blurred as `[safety.image]` says, and a screening error withholds
    // it (fail closed).
    let mut written = Vec::new();
    let mut screening = Vec::new();
    for (img, p) in out.images.iter().zip(&paths) {
        match screen_and_write(nsfw.as_ref(), img, p) {
            Ok((None, true)) => written.push(p.clone()),
            Ok((verdict, kept)) => {
                let score = verdict
                    .as_ref()
                    .and_then(|v| v.categories.get("nsfw").copied())
                    .unwrap_or(0.0);
                screening.push(serde_json::json!({
                    "image": p.display().to_string(),
                    "nsfw": score,
                    "action": verdict.map(|v| v.action),
                }));
                if kept {
                    written.push(p.clone());
                } else {
                    eprintln!("withheld {}: nsfw score {score:.3}", p.display());
                }
            }
            Err(e) => {
                eprintln!("withheld {}: {e:#}", p.display());
                screening.push(serde_json::json!({
                    "image": p.display().to_string(), "action": "withhold", "error": format!("{e:#}"),
                }));
            }
        }
    }
    let paths = written;
    let mut stdout = std::io::stdout().lock();
    if a.json {
        let j = serde_json::json!({
            "images": paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "seed": a.seed,
            "steps": steps,
            "scheduler": out.scheduler.name(),
            "guidance": req.guidance,
            "guidance_max_timestep": req.guidance_max_timestep,
            // A DDIM option: other schedulers ignore it, so it is reported for DDIM only.
            "use_clipped_model_output": (out.scheduler == SchedulerKind::Ddim).then_some(req.use_clipped_model_output),
            "mapped_caption": mapped.map(|m| serde_json::json!({"caption": m.caption, "similarity": m.similarity})),
            "timings": {"unet_ms_per_step": out.unet_ms_per_step, "total_ms": out.total_ms},
            "safety": if nsfw.is_some() { serde_json::json!(screening) } else { serde_json::json!("nsfw model not installed: images not screened") },
        });
        writeln!(stdout, "{j}")?;
    } else {
        for p in &paths {
            writeln!(stdout, "{}", p.display())?;
        }
    }
    Ok(())
}
