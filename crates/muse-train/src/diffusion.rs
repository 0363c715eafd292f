//! Training a text-conditioned diffusion UNet in Rust: the ε-prediction objective of DDPM
//! (Ho, Jain & Abbeel, "Denoising Diffusion Probabilistic Models", 2020, Algorithm 1 —
//! `‖ε − ε_θ(√ᾱ_t x₀ + √(1−ᾱ_t) ε, t, c)‖²`), with the caption dropped 10% of the time so one
//! network learns both the conditional and the unconditional prediction that classifier-free
//! guidance mixes (Ho & Salimans, "Classifier-Free Diffusion Guidance", 2022, Algorithm 1).
//!
//! The conditioning `c` is the sentence embedding of the image's caption (all-MiniLM-L6-v2,
//! 384-d, unit length), given to a diffusers `UNet2DConditionModel` as a one-token
//! `encoder_hidden_states`; the dropped caption is the zero vector. At inference any prompt is
//! embedded the same way, so paraphrases land near the concept they name; the exported
//! [`CaptionPrior`] then maps that embedding onto the nearest training caption, the points the
//! UNet was actually trained on.
//!
//! The output is a diffusers-style folder ([`export`]): `model_index.json`, `unet/`
//! (`config.json` + EMA weights), `scheduler/` and `text_prior/`, loadable by
//! `muse image --model DIR`.
//! Checkpoints go to `DIR/training/step-N/` and `DIR/training/latest` names the newest complete
//! one (written last, by rename), so an interrupted run loses at most the steps since it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use muse_diffusion::caption_prior::{CaptionPrior, CaptionPriorConfig, PRIOR_FOLDER};
use muse_diffusion::{UNet2DConditionModel, UNet2DConditionModelConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use crate::captions::training_captions;
use crate::data::{DataSource, ImageSet, Split};
use crate::optim::{AdamW, AdamWConfig, Ema, learning_rate, named_vars};
use crate::{Result, TrainError};

/// Number of diffusion steps of the training schedule (DDPM's T).
pub const TRAIN_TIMESTEPS: usize = 1000;
const BETA_START: f64 = 1e-4;
const BETA_END: f64 = 0.02;

/// Everything `muse train diffusion` can set.
#[derive(Debug, Clone)]
pub struct DiffusionTraining {
    pub data: DataSource,
    pub steps: usize,
    pub batch: usize,
    pub lr: f64,
    pub warmup: usize,
    pub ema_decay: f64,
    pub checkpoint_every: usize,
    pub caption_dropout: f64,
    pub max_grad_norm: f64,
    pub seed: u64,
    /// Channels of the UNet's three resolution levels.
    pub channels: [usize; 3],
    pub out: PathBuf,
    pub resume: bool,
}

impl Default for DiffusionTraining {
    fn default() -> Self {
        Self {
            data: DataSource::FashionMnist,
            steps: 3000,
            batch: 64,
            lr: 1e-3,
            warmup: 200,
            ema_decay: 0.999,
            checkpoint_every: 250,
            caption_dropout: 0.1,
            max_grad_norm: 1.0,
            seed: 0,
            channels: [32, 64, 64],
            out: PathBuf::from("muse-fashion"),
            resume: false,
        }
    }
}

impl DiffusionTraining {
    fn validate(&self) -> Result<()> {
        let bad = |name, reason: &str| {
            Err(TrainError::InvalidParameter {
                name,
                reason: reason.into(),
            })
        };
        if self.batch == 0 {
            return bad("--batch", "must be at least 1");
        }
        if self.steps == 0 {
            return bad("--steps", "must be at least 1");
        }
        if self.checkpoint_every == 0 {
            return bad("--checkpoint-every", "must be at least 1");
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return bad("--lr", "must be a positive number");
        }
        if !(0.0..1.0).contains(&self.caption_dropout) {
            return bad("--caption-dropout", "must be in [0, 1)");
        }
        if !(0.0..1.0).contains(&self.ema_decay) {
            return bad("--ema-decay", "must be in [0, 1)");
        }
        if self
            .channels
            .iter()
            .any(|&c| c == 0 || !c.is_multiple_of(8))
        {
            return bad(
                "--channels",
                "each must be a positive multiple of 8 (GroupNorm groups)",
            );
        }
        Ok(())
    }
}

/// One optimiser step, for progress reporting.
#[derive(Debug, Clone, Copy)]
pub struct StepInfo {
    pub step: usize,
    pub total: usize,
    pub loss: f32,
    pub lr: f64,
    pub images_per_sec: f64,
}

/// What a finished run reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TrainReport {
    pub steps: usize,
    pub resumed_from: Option<usize>,
    pub images_seen: usize,
    pub seconds: f64,
    pub images_per_sec: f64,
    /// Mean loss of the last 100 steps.
    pub final_loss: f32,
    pub model_dir: PathBuf,
}

/// `ᾱ_t` for the linear β schedule (DDPM: β from 1e-4 to 0.02 over 1000 steps).
pub fn alphas_cumprod() -> Vec<f64> {
    let mut acc = 1.0;
    (0..TRAIN_TIMESTEPS)
        .map(|i| {
            let beta =
                BETA_START + (BETA_END - BETA_START) * i as f64 / (TRAIN_TIMESTEPS - 1) as f64;
            acc *= 1.0 - beta;
            acc
        })
        .collect()
}

/// The diffusers `config.json` of the UNet Muse trains: three levels (28², 14², 7² for
/// Fashion-MNIST), one ResNet per level, and the text vector (width `context_dim`) entering
/// twice: added to the time embedding of every ResNet (`class_embed_type: "projection"`) and
/// as the one-token context of cross-attention at the lowest level and in the middle.
/// Self-attention at 14² would cost a quarter of the compute for little gain on 28² images.
pub fn unet_config(
    channels: [usize; 3],
    sample_size: usize,
    context_dim: usize,
) -> serde_json::Value {
    json!({
        "_class_name": "UNet2DConditionModel",
        "_diffusers_version": "0.42.1",
        "sample_size": sample_size,
        "in_channels": 1,
        "out_channels": 1,
        "block_out_channels": channels,
        "down_block_types": ["DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D"],
        "up_block_types": ["CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D"],
        "class_embed_type": "projection",
        "projection_class_embeddings_input_dim": context_dim,
        "mid_block_type": "UNetMidBlock2DCrossAttn",
        "layers_per_block": 1,
        "attention_head_dim": 4,
        "cross_attention_dim": context_dim,
        "norm_num_groups": 8,
        "norm_eps": 1e-5,
        "act_fn": "silu",
        "flip_sin_to_cos": true,
        "freq_shift": 0,
        "downsample_padding": 1,
        "use_linear_projection": false
    })
}

/// The scheduler the model was trained with, as diffusers' `scheduler_config.json`; sampling uses
/// DDIM on it.
pub fn scheduler_config() -> serde_json::Value {
    json!({
        "_class_name": "DDIMScheduler",
        "_diffusers_version": "0.42.1",
        "num_train_timesteps": TRAIN_TIMESTEPS,
        "beta_start": BETA_START,
        "beta_end": BETA_END,
        "beta_schedule": "linear",
        "prediction_type": "epsilon",
        "clip_sample": true,
        "clip_sample_range": 1.0,
        "set_alpha_to_one": false,
        "steps_offset": 1,
        "timestep_spacing": "leading"
    })
}

/// Turns captions into sentence-embedding vectors (the text encoder, or a stand-in in tests).
pub type EmbedFn<'a> = dyn Fn(&[&str]) -> Result<Vec<Vec<f32>>> + 'a;

/// Caption embeddings per class, computed once: `[class][caption] -> vector`.
pub struct CaptionBank {
    pub captions: Vec<Vec<String>>,
    pub vectors: Vec<Vec<Vec<f32>>>,
    pub dim: usize,
}

impl CaptionBank {
    pub fn new(source: &DataSource, classes: &[String], embed: &EmbedFn) -> Result<Self> {
        let captions = training_captions(source, classes);
        let mut vectors = Vec::with_capacity(captions.len());
        let mut dim = 0;
        for list in &captions {
            let refs: Vec<&str> = list.iter().map(String::as_str).collect();
            let v = embed(&refs)?;
            dim = v.first().map_or(dim, Vec::len);
            vectors.push(v);
        }
        if dim == 0 {
            return Err(TrainError::InvalidParameter {
                name: "captions",
                reason: "the embedding model returned no vectors".into(),
            });
        }
        Ok(Self {
            captions,
            vectors,
            dim,
        })
    }

    /// The nearest-caption prior over these captions (top 1: a prompt becomes the embedding of
    /// the training caption nearest to it).
    pub fn prior(&self) -> Result<CaptionPrior> {
        let mut captions = Vec::new();
        let mut caption_class = Vec::new();
        let mut rows = Vec::new();
        for (class, (names, vectors)) in self.captions.iter().zip(&self.vectors).enumerate() {
            for (name, v) in names.iter().zip(vectors) {
                captions.push(name.clone());
                caption_class.push(class);
                rows.extend_from_slice(v);
            }
        }
        let config = CaptionPriorConfig {
            top_k: 1,
            temperature: 0.05,
            captions,
            caption_class,
        };
        Ok(CaptionPrior::new(config, rows, self.dim)?)
    }
}

/// Standard normal samples (Box–Muller on a seeded ChaCha stream, so a step's noise depends only
/// on the seed and the step).
fn normal(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(n + 1);
    while out.len() < n {
        let u1: f64 = rng.random::<f64>().max(1e-300);
        let u2: f64 = rng.random();
        let r = (-2.0 * u1.ln()).sqrt();
        let a = std::f64::consts::TAU * u2;
        out.push((r * a.cos()) as f32);
        out.push((r * a.sin()) as f32);
    }
    out.truncate(n);
    out
}

fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| TrainError::malformed(path, e.to_string()))?;
    std::fs::write(path, text + "\n").map_err(|e| TrainError::io(path, e))
}

fn read_json(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read(path).map_err(|e| TrainError::io(path, e))?;
    serde_json::from_slice(&text).map_err(|e| TrainError::malformed(path, e.to_string()))
}

/// The persistent part of a run, beside the checkpoint weights.
#[derive(serde::Serialize, serde::Deserialize)]
struct RunState {
    step: usize,
    dataset: String,
    unet_config: serde_json::Value,
    losses: Vec<f32>,
    seed: u64,
    batch: usize,
}

fn training_dir(out: &Path) -> PathBuf {
    out.join("training")
}

/// Path of the newest complete checkpoint, if any.
pub fn latest_checkpoint(out: &Path) -> Option<PathBuf> {
    let name = std::fs::read_to_string(training_dir(out).join("latest")).ok()?;
    let dir = training_dir(out).join(name.trim());
    dir.join("state.json").is_file().then_some(dir)
}

fn save_checkpoint(
    out: &Path,
    state: &RunState,
    varmap: &VarMap,
    ema: &Ema,
    opt: &AdamW,
) -> Result<()> {
    let train_dir = training_dir(out);
    let name = format!("step-{}", state.step);
    let dir = train_dir.join(&name);
    std::fs::create_dir_all(&dir).map_err(|e| TrainError::io(&dir, e))?;
    varmap.save(dir.join("weights.safetensors"))?;
    candle_core::safetensors::save(&ema.tensors(), dir.join("ema.safetensors"))?;
    opt.save(&dir.join("optimizer.safetensors"))?;
    let state_json =
        serde_json::to_value(state).map_err(|e| TrainError::malformed(&dir, e.to_string()))?;
    write_json(&dir.join("state.json"), &state_json)?;
    // Publish: the pointer is replaced atomically, and only after the checkpoint is complete.
    let tmp = train_dir.join("latest.tmp");
    std::fs::write(&tmp, &name).map_err(|e| TrainError::io(&tmp, e))?;
    std::fs::rename(&tmp, train_dir.join("latest")).map_err(|e| TrainError::io(&tmp, e))?;
    // Keep the newest two checkpoints.
    if let Ok(entries) = std::fs::read_dir(&train_dir) {
        let mut steps: Vec<(usize, PathBuf)> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let n = e
                    .file_name()
                    .to_string_lossy()
                    .strip_prefix("step-")?
                    .parse()
                    .ok()?;
                Some((n, e.path()))
            })
            .collect();
        steps.sort();
        let keep_from = steps.len().saturating_sub(2);
        for (_, p) in &steps[..keep_from] {
            let _ = std::fs::remove_dir_all(p);
        }
    }
    Ok(())
}

/// Writes the inference folder: `unet/` with the EMA weights (as `dtype`), `scheduler/`,
/// `text_prior/` when a prior is given, and `model_index.json` naming the text encoder.
pub fn export(
    out: &Path,
    unet_config: &serde_json::Value,
    ema: &HashMap<String, Tensor>,
    dtype: DType,
    prior: Option<&CaptionPrior>,
    meta: serde_json::Value,
) -> Result<()> {
    let unet = out.join("unet");
    let sched = out.join("scheduler");
    for d in [&unet, &sched] {
        std::fs::create_dir_all(d).map_err(|e| TrainError::io(d, e))?;
    }
    write_json(&unet.join("config.json"), unet_config)?;
    let cast = ema
        .iter()
        .map(|(k, v)| Ok((k.clone(), v.to_dtype(dtype)?)))
        .collect::<Result<HashMap<_, _>>>()?;
    let tmp = unet.join("diffusion_pytorch_model.safetensors.tmp");
    candle_core::safetensors::save(&cast, &tmp)?;
    std::fs::rename(&tmp, unet.join("diffusion_pytorch_model.safetensors"))
        .map_err(|e| TrainError::io(&tmp, e))?;
    write_json(&sched.join("scheduler_config.json"), &scheduler_config())?;
    let mut index = json!({
        "_class_name": "MuseTextToImagePipeline",
        "_diffusers_version": "0.42.1",
        "unet": ["diffusers", "UNet2DConditionModel"],
        "scheduler": ["diffusers", "DDIMScheduler"],
        "text_encoder": ["muse", "SentenceEmbedding"],
    });
    if let Some(prior) = prior {
        prior.save(&out.join(PRIOR_FOLDER), dtype)?;
        if let Some(obj) = index.as_object_mut() {
            obj.insert(PRIOR_FOLDER.into(), json!(["muse", "CaptionPrior"]));
        }
    }
    if let (Some(obj), serde_json::Value::Object(m)) = (index.as_object_mut(), meta) {
        obj.insert("muse".into(), serde_json::Value::Object(m));
    }
    write_json(&out.join("model_index.json"), &index)
}

/// Trains (or resumes) a model as `opts` says. `embed` turns captions into vectors (the
/// sentence-embedding model); `progress` is called after every step.
pub fn train(
    opts: &DiffusionTraining,
    datasets_dir: &Path,
    embed: &EmbedFn,
    text_encoder_name: &str,
    mut progress: impl FnMut(&StepInfo),
) -> Result<TrainReport> {
    opts.validate()?;
    let set: ImageSet = opts.data.load(datasets_dir, Split::Train)?;
    if set.is_empty() {
        return Err(TrainError::InvalidParameter {
            name: "--data",
            reason: "the dataset has no images".into(),
        });
    }
    if !set.width.is_multiple_of(4) || !set.height.is_multiple_of(4) {
        return Err(TrainError::InvalidParameter {
            name: "--data",
            reason: format!(
                "images are {}x{}; the UNet needs sides divisible by 4",
                set.width, set.height
            ),
        });
    }
    let bank = CaptionBank::new(&opts.data, &set.classes, embed)?;
    let config_json = unet_config(opts.channels, set.width, bank.dim);
    let raw: UNet2DConditionModelConfig = serde_json::from_value(config_json.clone())
        .map_err(|e| TrainError::malformed(&opts.out, format!("UNet config: {e}")))?;
    let cfg = raw
        .into_config()
        .map_err(|e| TrainError::malformed(&opts.out, e.to_string()))?;
    let dev = Device::Cpu;
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
    let model = UNet2DConditionModel::new(&cfg, vb)?;
    let params = named_vars(&varmap)?;
    let mut opt = AdamW::new(
        params,
        AdamWConfig {
            weight_decay: 0.0,
            ..Default::default()
        },
    )?;
    let mut ema = Ema::new(opt.params(), opts.ema_decay)?;
    let mut state = RunState {
        step: 0,
        dataset: opts.data.name(),
        unet_config: config_json.clone(),
        losses: Vec::new(),
        seed: opts.seed,
        batch: opts.batch,
    };
    let mut resumed_from = None;
    if opts.resume {
        let Some(dir) = latest_checkpoint(&opts.out) else {
            return Err(TrainError::IncompatibleCheckpoint {
                path: training_dir(&opts.out),
                reason: "no complete checkpoint to resume from (training/latest is missing)".into(),
            });
        };
        let saved: RunState =
            serde_json::from_value(read_json(&dir.join("state.json"))?).map_err(|e| {
                TrainError::IncompatibleCheckpoint {
                    path: dir.clone(),
                    reason: e.to_string(),
                }
            })?;
        if saved.unet_config != config_json {
            return Err(TrainError::IncompatibleCheckpoint {
                path: dir,
                reason: "its UNet configuration differs from this run's (--channels or the dataset's image size)".into(),
            });
        }
        if saved.dataset != state.dataset {
            return Err(TrainError::IncompatibleCheckpoint {
                path: dir,
                reason: format!(
                    "it was trained on {}, this run uses {}",
                    saved.dataset, state.dataset
                ),
            });
        }
        let mut vm = varmap.clone();
        vm.load(dir.join("weights.safetensors")).map_err(|e| {
            TrainError::IncompatibleCheckpoint {
                path: dir.clone(),
                reason: e.to_string(),
            }
        })?;
        let ema_saved =
            candle_core::safetensors::load(dir.join("ema.safetensors"), &dev).map_err(|e| {
                TrainError::IncompatibleCheckpoint {
                    path: dir.clone(),
                    reason: e.to_string(),
                }
            })?;
        ema.restore(&ema_saved, &dir)?;
        opt.load(&dir.join("optimizer.safetensors"))?;
        resumed_from = Some(saved.step);
        state.step = saved.step;
        state.losses = saved.losses;
    }
    let abar = alphas_cumprod();
    let (h, w) = (set.height, set.width);
    let started = Instant::now();
    let first_step = state.step;
    let mut last_checkpoint = state.step;
    let zero = vec![0f32; bank.dim];
    while state.step < opts.steps {
        let step = state.step;
        // Everything random in a step comes from (seed, step): a resumed run draws what the
        // uninterrupted one would have.
        let mut rng =
            ChaCha8Rng::seed_from_u64(opts.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ step as u64);
        let idx: Vec<usize> = (0..opts.batch)
            .map(|_| rng.random_range(0..set.len()))
            .collect();
        let x0 = Tensor::from_vec(set.batch_signed(&idx), (opts.batch, 1, h, w), &dev)?;
        let mut ctx = Vec::with_capacity(opts.batch * bank.dim);
        for &i in &idx {
            let class = set.labels[i];
            if rng.random::<f64>() < opts.caption_dropout {
                ctx.extend_from_slice(&zero);
            } else {
                let options = &bank.vectors[class];
                ctx.extend_from_slice(&options[rng.random_range(0..options.len())]);
            }
        }
        let ctx = Tensor::from_vec(ctx, (opts.batch, 1, bank.dim), &dev)?;
        let t: Vec<usize> = (0..opts.batch)
            .map(|_| rng.random_range(0..TRAIN_TIMESTEPS))
            .collect();
        let a: Vec<f32> = t.iter().map(|&t| abar[t].sqrt() as f32).collect();
        let s: Vec<f32> = t.iter().map(|&t| (1.0 - abar[t]).sqrt() as f32).collect();
        let noise = Tensor::from_vec(
            normal(&mut rng, opts.batch * h * w),
            (opts.batch, 1, h, w),
            &dev,
        )?;
        let a = Tensor::from_vec(a, (opts.batch, 1, 1, 1), &dev)?;
        let s = Tensor::from_vec(s, (opts.batch, 1, 1, 1), &dev)?;
        let xt = (x0.broadcast_mul(&a)? + noise.broadcast_mul(&s)?)?;
        let tt = Tensor::from_vec(
            t.iter().map(|&t| t as f32).collect::<Vec<_>>(),
            opts.batch,
            &dev,
        )?;
        let pred = model.forward_with_class(&xt, &tt, &ctx, Some(&ctx.squeeze(1)?))?;
        let loss = (pred - &noise)?.sqr()?.mean_all()?;
        let loss_value = loss.to_scalar::<f32>()?;
        if !loss_value.is_finite() {
            return Err(TrainError::Diverged {
                step: step + 1,
                loss: loss_value,
                last_checkpoint,
            });
        }
        let grads = loss.backward()?;
        let lr = learning_rate(step, opts.lr, opts.warmup, opts.steps, 0.1);
        opt.step(&grads, lr, Some(opts.max_grad_norm))?;
        ema.update(opt.params(), step + 1)?;
        state.step += 1;
        state.losses.push(loss_value);
        let elapsed = started.elapsed().as_secs_f64().max(1e-9);
        progress(&StepInfo {
            step: state.step,
            total: opts.steps,
            loss: loss_value,
            lr,
            images_per_sec: ((state.step - first_step) * opts.batch) as f64 / elapsed,
        });
        if state.step.is_multiple_of(opts.checkpoint_every) || state.step == opts.steps {
            save_checkpoint(&opts.out, &state, &varmap, &ema, &opt)?;
            last_checkpoint = state.step;
            crate::plot::loss_curve(&state.losses, &opts.out.join("loss_curve.png"))?;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let images_seen = (state.step - first_step) * opts.batch;
    let tail = &state.losses[state.losses.len().saturating_sub(100)..];
    let final_loss = tail.iter().sum::<f32>() / tail.len().max(1) as f32;
    let meta = json!({
        "text_encoder_model": text_encoder_name,
        "conditioning": "sentence embedding as a one-token encoder_hidden_states; zeros = unconditional",
        "dataset": state.dataset,
        "classes": set.classes,
        "default_steps": 25,
        // Chosen on the Fashion-MNIST validation prompts for muse-t2i-fashion (docs/models.md;
        // not re-tuned for MNIST or folder datasets): DDIM
        // re-derives ε from the clipped x̂₀ (without it, guided samples of this pixel-space
        // model saturate), and guidance 4 at timesteps ≤ 500 is the most accurate setting whose
        // Fréchet distance stays below that of the previous default.
        "default_guidance": 4.0,
        "default_guidance_max_timestep": 500.0,
        "default_use_clipped_model_output": true,
        "trained_steps": state.step,
        "batch": opts.batch,
        "final_loss": final_loss,
    });
    // F16 halves the shipped size; the checkpoints in training/ keep F32.
    export(
        &opts.out,
        &config_json,
        &ema.tensors(),
        DType::F16,
        Some(&bank.prior()?),
        meta,
    )?;
    crate::plot::loss_curve(&state.losses, &opts.out.join("loss_curve.png"))?;
    Ok(TrainReport {
        steps: state.step,
        resumed_from,
        images_seen,
        seconds,
        images_per_sec: images_seen as f64 / seconds.max(1e-9),
        final_loss,
        model_dir: opts.out.clone(),
    })
}
