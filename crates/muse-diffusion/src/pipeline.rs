//! Text-to-image (and unconditional) sampling over a diffusers model folder.
//!
//! # Folder format
//!
//! A diffusers pipeline folder: `model_index.json` names the components
//! (`{"unet": ["diffusers", "UNet2DConditionModel"], "scheduler": [...], "text_encoder":
//! ["transformers", "CLIPTextModel"], "tokenizer": [...], "vae": ["diffusers", "AutoencoderKL"]}`),
//! each in the sub-folder of that name; a component listed there must exist. Without
//! `model_index.json`, `unet/` (or a model `config.json` at the root) and `scheduler/` (optional)
//! are used. The UNet class comes from its `config.json` `_class_name`: `UNet2DModel` (pixel
//! space, unconditional) or `UNet2DConditionModel`. A conditional UNet needs a
//! [`TextConditioner`]: the built-in CLIP one when `text_encoder` is a `CLIPTextModel`, or any
//! implementation passed to [`ImagePipeline::load_with`] (e.g. a sentence-embedding model giving
//! [B, 1, 384]). With `vae/` (an `AutoencoderKL`) the UNet works on latents and the decoder makes
//! the pixels; without it the UNet's output is the image.

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use serde::Deserialize;

use crate::caption_prior::MappedCaption;
use crate::error::{DiffusionError, Result, read_json};
use crate::schedulers::{
    NoiseSource, Scheduler, SchedulerConfig, SchedulerKind, SeededNoise, ddim::DdimScheduler,
};
use crate::{UNet2DConditionModel, UNet2DModel};

/// Turns prompts into the UNet's `encoder_hidden_states` [B, S, D].
pub trait TextConditioner: Send + Sync {
    /// Encodes one tensor row per text.
    fn encode(&self, texts: &[String]) -> Result<Tensor>;

    /// The training caption a prompt is mapped to, with its class and cosine similarity, for
    /// encoders with a caption prior ([`crate::caption_prior`]); `None` for the others.
    fn mapped_caption(&self, _text: &str) -> Result<Option<MappedCaption>> {
        Ok(None)
    }

    /// Whether prompts pass through a caption prior before they reach the UNet.
    fn has_caption_prior(&self) -> bool {
        false
    }
}

/// Turns latents into images in [-1, 1] (the AutoencoderKL decoder).
pub trait LatentDecoder: Send + Sync {
    /// `latents` [B, C, h, w] as the UNet produces them (unscaled) -> [B, 3, H, W].
    fn decode(&self, latents: &Tensor) -> Result<Tensor>;
    /// Spatial factor H / h.
    fn scale_factor(&self) -> usize;
}

/// The noise predictor of a pipeline.
#[derive(Debug, Clone)]
pub enum Denoiser {
    /// Pixel-space or latent unconditional UNet.
    Unconditional(UNet2DModel),
    /// Text-conditioned UNet.
    Conditional(UNet2DConditionModel),
}

impl Denoiser {
    fn in_channels(&self) -> usize {
        match self {
            Self::Unconditional(u) => u.config().in_channels,
            Self::Conditional(u) => u.config().in_channels,
        }
    }
    fn sample_size(&self) -> Option<usize> {
        match self {
            Self::Unconditional(u) => u.config().sample_size,
            Self::Conditional(u) => Some(u.config().sample_size),
        }
    }
    fn downsample_factor(&self) -> usize {
        match self {
            Self::Unconditional(u) => u.config().downsample_factor(),
            Self::Conditional(u) => u.config().downsample_factor(),
        }
    }
}

/// One generation request. `Default` gives 50 DDIM-grid steps, guidance 7.5, seed 0, one image.
#[derive(Debug, Clone)]
pub struct GenerateRequest {
    /// Prompt (ignored by unconditional models).
    pub prompt: String,
    /// Negative prompt (`""` when absent, as diffusers).
    pub negative_prompt: Option<String>,
    /// Scheduler; `None` uses the folder's scheduler class (DDIM when it is not implemented).
    pub scheduler: Option<SchedulerKind>,
    /// Denoising steps.
    pub steps: usize,
    /// Classifier-free guidance scale (≤ 1 disables the unconditional pass).
    pub guidance: f64,
    /// Guidance only at timesteps ≤ this (training-timestep units, e.g. 500 of 1000); above
    /// it the conditional prediction runs alone. Guidance at the highest noise levels pulls a
    /// weak model's samples off the data (Kynkäänniemi et al. 2024, "Applying Guidance in a
    /// Limited Interval Improves Sample and Distribution Quality in Diffusion Models").
    /// `None`: every step, as diffusers.
    pub guidance_max_timestep: Option<f64>,
    /// Seed of the initial noise and of the stochastic schedulers.
    pub seed: u64,
    /// Images to make.
    pub n: usize,
    /// (height, width) in pixels; `None` uses the model's sample size.
    pub size: Option<(usize, usize)>,
    /// Initial noise x_T [n, c, h, w] instead of drawing it.
    pub latents: Option<Tensor>,
    /// DDIM η.
    pub eta: f64,
    /// DDIM: re-derive ε from the clipped x̂₀ (diffusers' `use_clipped_model_output`; see
    /// [`DdimScheduler::with_clipped_model_output`]). Other schedulers ignore it.
    pub use_clipped_model_output: bool,
}

impl Default for GenerateRequest {
    fn default() -> Self {
        Self {
            prompt: String::new(),
            negative_prompt: None,
            scheduler: None,
            steps: 50,
            guidance: 7.5,
            guidance_max_timestep: None,
            seed: 0,
            n: 1,
            size: None,
            latents: None,
            eta: 0.0,
            use_clipped_model_output: false,
        }
    }
}

/// An 8-bit RGB image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Row-major RGB bytes.
    pub pixels: Vec<u8>,
}

/// The result of [`ImagePipeline::generate`].
#[derive(Debug, Clone)]
pub struct Generated {
    /// One image per requested sample.
    pub images: Vec<RgbImage>,
    /// Scheduler that ran.
    pub scheduler: SchedulerKind,
    /// Mean UNet time per denoising step (all guidance passes together).
    pub unet_ms_per_step: f64,
    /// Wall time of the whole generation.
    pub total_ms: f64,
}

#[derive(Debug, Deserialize)]
struct ClassOnly {
    #[serde(rename = "_class_name", default)]
    class_name: Option<String>,
}

/// A loaded pipeline: UNet, scheduler config, optional text conditioner and latent decoder.
pub struct ImagePipeline {
    /// The noise predictor.
    pub unet: Denoiser,
    /// Prompt encoder (conditional models).
    pub text: Option<Box<dyn TextConditioner>>,
    /// Latent decoder (latent models).
    pub decoder: Option<Box<dyn LatentDecoder>>,
    /// The folder's scheduler settings.
    pub scheduler_config: SchedulerConfig,
    device: Device,
}

fn missing(what: &str, path: PathBuf) -> DiffusionError {
    DiffusionError::Missing {
        what: what.into(),
        path,
    }
}

/// Loads the UNet of `dir` (class from its config's `_class_name`).
pub fn load_denoiser(dir: &Path, device: &Device) -> Result<Denoiser> {
    let cfg_path = dir.join("config.json");
    if !cfg_path.exists() {
        return Err(missing("unet config", cfg_path));
    }
    let class: ClassOnly = read_json(&cfg_path)?;
    match class.class_name.as_deref() {
        Some("UNet2DModel") => Ok(Denoiser::Unconditional(UNet2DModel::load(
            dir,
            DType::F32,
            device,
        )?)),
        Some("UNet2DConditionModel") => Ok(Denoiser::Conditional(UNet2DConditionModel::load(
            dir,
            DType::F32,
            device,
        )?)),
        other => Err(DiffusionError::Unsupported {
            what: "unet class",
            found: other.unwrap_or("(none)").into(),
            supported: vec!["UNet2DModel", "UNet2DConditionModel"],
        }),
    }
}

impl ImagePipeline {
    /// Loads a pipeline folder with the built-in components.
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        Self::load_with(dir, device, None)
    }

    /// Loads a pipeline folder, using `text` as the prompt encoder when given.
    pub fn load_with(
        dir: &Path,
        device: &Device,
        text: Option<Box<dyn TextConditioner>>,
    ) -> Result<Self> {
        if !dir.is_dir() {
            return Err(missing("model folder", dir.to_path_buf()));
        }
        let index_path = dir.join("model_index.json");
        let index: serde_json::Map<String, serde_json::Value> = if index_path.exists() {
            read_json(&index_path)?
        } else {
            serde_json::Map::new()
        };
        let listed = |name: &str| {
            index
                .get(name)
                .and_then(|v| v.as_array())
                .and_then(|a| a.get(1))
                .and_then(|c| c.as_str())
                .map(String::from)
        };
        // Components from Muse's own library (e.g. the sentence-embedding text encoder) are
        // installed models, not sub-folders.
        for (name, _) in index.iter().filter(|(k, v)| {
            !k.starts_with('_') && v.is_array() && v.get(0).and_then(|l| l.as_str()) != Some("muse")
        }) {
            if listed(name).is_some() && !dir.join(name).is_dir() {
                return Err(missing(&format!("{name} component"), dir.join(name)));
            }
        }
        let unet_dir = if dir.join("unet").is_dir() {
            dir.join("unet")
        } else if dir.join("config.json").exists() {
            dir.to_path_buf()
        } else {
            return Err(missing("unet component", dir.join("unet")));
        };
        let unet = load_denoiser(&unet_dir, device)?;
        let scheduler_config = [
            dir.join("scheduler/scheduler_config.json"),
            dir.join("scheduler_config.json"),
        ]
        .iter()
        .find(|p| p.exists())
        .map(|p| SchedulerConfig::load(p))
        .transpose()?
        .unwrap_or_default();

        let text = match (text, &unet) {
            (Some(t), _) => Some(t),
            (None, Denoiser::Unconditional(_)) => None,
            (None, Denoiser::Conditional(_)) => {
                let class = listed("text_encoder");
                match class.as_deref() {
                    Some("CLIPTextModel") | None if dir.join("text_encoder").is_dir() => {
                        Some(Box::new(crate::clip::ClipConditioner::load(dir, device)?)
                            as Box<dyn TextConditioner>)
                    }
                    Some(other) => {
                        return Err(DiffusionError::Unsupported {
                            what: "text_encoder class",
                            found: other.into(),
                            supported: vec!["CLIPTextModel"],
                        });
                    }
                    None => {
                        return Err(missing("text_encoder component", dir.join("text_encoder")));
                    }
                }
            }
        };
        let decoder = if dir.join("vae").is_dir() {
            Some(
                Box::new(crate::vae::AutoencoderKL::load(&dir.join("vae"), device)?)
                    as Box<dyn LatentDecoder>,
            )
        } else {
            None
        };
        Ok(Self {
            unet,
            text,
            decoder,
            scheduler_config,
            device: device.clone(),
        })
    }

    /// The scheduler a request gets.
    pub fn scheduler_kind(&self, req: &GenerateRequest) -> SchedulerKind {
        req.scheduler.unwrap_or_else(|| {
            self.scheduler_config
                .class_name
                .as_deref()
                .and_then(SchedulerKind::from_class_name)
                .unwrap_or(SchedulerKind::Ddim)
        })
    }

    /// Latent shape [n, c, h, w] for a request (validates the size).
    pub fn latent_shape(&self, req: &GenerateRequest) -> Result<[usize; 4]> {
        let vsf = self.decoder.as_ref().map_or(1, |d| d.scale_factor());
        let (h, w) = match req.size {
            Some(s) => s,
            None => {
                let s = self.unet.sample_size().ok_or_else(|| {
                    DiffusionError::input("the model has no sample_size: give a size")
                })? * vsf;
                (s, s)
            }
        };
        let f = self.unet.downsample_factor() * vsf;
        if h == 0 || w == 0 || h % f != 0 || w % f != 0 {
            return Err(DiffusionError::input(format!(
                "size {w}x{h} must be a positive multiple of {f} (the UNet's downsampling factor{}) in both dimensions",
                if vsf > 1 { " times the VAE's" } else { "" }
            )));
        }
        Ok([req.n, self.unet.in_channels(), h / vsf, w / vsf])
    }

    /// Runs the sampling loop; `on_step(done, total)` is called after every step.
    pub fn generate(
        &self,
        req: &GenerateRequest,
        on_step: &mut dyn FnMut(usize, usize),
    ) -> Result<Generated> {
        let start = Instant::now();
        if let Some(m) = req.guidance_max_timestep
            && !(m.is_finite() && m >= 0.0)
        {
            return Err(DiffusionError::input(format!(
                "the guidance interval's upper timestep must be a number ≥ 0, got {m}"
            )));
        }
        if req.n == 0 {
            return Err(DiffusionError::input("n must be at least 1"));
        }
        let kind = self.scheduler_kind(req);
        let mut scheduler: Box<dyn Scheduler> = if kind == SchedulerKind::Ddim {
            Box::new(
                DdimScheduler::new(&self.scheduler_config, req.eta)?
                    .with_clipped_model_output(req.use_clipped_model_output),
            )
        } else {
            kind.build(&self.scheduler_config)?
        };
        scheduler.set_timesteps(req.steps)?;
        let shape = self.latent_shape(req)?;
        let mut noise = SeededNoise::new(req.seed, self.device.clone());
        let x_t = match &req.latents {
            Some(l) => {
                if l.dims() != shape {
                    return Err(DiffusionError::input(format!(
                        "latents have shape {:?}, expected {shape:?}",
                        l.dims()
                    )));
                }
                l.to_dtype(DType::F32)?.to_device(&self.device)?
            }
            None => noise.randn(&shape)?,
        };
        let mut x = (x_t * scheduler.init_noise_sigma())?;

        // Conditioning: [uncond; cond] when guidance is on.
        let ctx = match (&self.unet, &self.text) {
            (Denoiser::Conditional(_), Some(text)) => {
                let cond = text.encode(&vec![req.prompt.clone(); req.n])?;
                if req.guidance > 1.0 {
                    let neg = req.negative_prompt.clone().unwrap_or_default();
                    let uncond = text.encode(&vec![neg; req.n])?;
                    Some(Tensor::cat(&[&uncond, &cond], 0)?)
                } else {
                    Some(cond)
                }
            }
            (Denoiser::Conditional(_), None) => {
                return Err(DiffusionError::input(
                    "a conditional UNet needs a text conditioner",
                ));
            }
            (Denoiser::Unconditional(_), _) => None,
        };
        let cfg = ctx.is_some() && req.guidance > 1.0;
        let timesteps = scheduler.timesteps().to_vec();
        let mut unet_time = 0.0;
        for (i, &t) in timesteps.iter().enumerate() {
            let inp = scheduler.scale_model_input(&x, t)?;
            let t0 = Instant::now();
            let pred = match (&self.unet, &ctx) {
                (Denoiser::Unconditional(u), _) => {
                    u.forward(&inp, &Tensor::new(&[t as f32], &self.device)?)?
                }
                (Denoiser::Conditional(u), Some(ctx)) => {
                    // Outside the guidance interval only the conditional half runs.
                    let guided = cfg && req.guidance_max_timestep.is_none_or(|m| t <= m);
                    let (inp, ctx) = if guided {
                        (Tensor::cat(&[&inp, &inp], 0)?, ctx.clone())
                    } else if cfg {
                        (inp, ctx.narrow(0, req.n, req.n)?)
                    } else {
                        (inp, ctx.clone())
                    };
                    let t = Tensor::new(&[t as f32], &self.device)?;
                    // A projection class embedding takes the pooled one-token context
                    // (Muse's sentence-embedding models, `muse train diffusion`).
                    let class = match u.config().class_embed_input_dim {
                        Some(_) => Some(ctx.squeeze(1)?),
                        None => None,
                    };
                    let p = u.forward_with_class(&inp, &t, &ctx, class.as_ref())?;
                    if guided {
                        let (uncond, cond) = (p.narrow(0, 0, req.n)?, p.narrow(0, req.n, req.n)?);
                        (&uncond + ((cond - &uncond)? * req.guidance)?)?
                    } else {
                        p
                    }
                }
                (Denoiser::Conditional(_), None) => {
                    return Err(DiffusionError::input("missing conditioning"));
                }
            };
            unet_time += t0.elapsed().as_secs_f64();
            x = scheduler.step(&pred, t, &x, &mut noise)?;
            on_step(i + 1, timesteps.len());
        }
        let image = match &self.decoder {
            Some(d) => d.decode(&x)?,
            None => x,
        };
        Ok(Generated {
            images: to_rgb8(&image)?,
            scheduler: kind,
            unet_ms_per_step: 1000.0 * unet_time / timesteps.len().max(1) as f64,
            total_ms: 1000.0 * start.elapsed().as_secs_f64(),
        })
    }
}

/// [B, 3, H, W] in [-1, 1] -> 8-bit RGB, as diffusers: `(x / 2 + 0.5).clamp(0, 1) * 255`, rounded.
pub fn to_rgb8(image: &Tensor) -> Result<Vec<RgbImage>> {
    let (b, c, h, w) = image.dims4()?;
    if c != 3 && c != 1 {
        return Err(DiffusionError::input(format!(
            "an image needs 1 or 3 channels, got {c}"
        )));
    }
    let x = ((image.to_dtype(DType::F32)? / 2.0)? + 0.5)?.clamp(0f32, 1f32)?;
    let x = (x * 255.0)?.round()?.permute((0, 2, 3, 1))?.contiguous()?;
    let mut out = Vec::with_capacity(b);
    for i in 0..b {
        let v: Vec<f32> = x.get(i)?.flatten_all()?.to_vec1()?;
        let pixels = if c == 3 {
            v.iter().map(|&p| p as u8).collect()
        } else {
            v.iter().flat_map(|&p| [p as u8; 3]).collect()
        };
        out.push(RgbImage {
            width: w,
            height: h,
            pixels,
        });
    }
    Ok(out)
}
