//! Measuring a trained text-to-image model honestly: generate images from prompts that were
//! never training captions, then ask a separately trained classifier
//! ([`crate::classifier`]) which class each shows. Reported per guidance scale:
//!
//! * **conditional accuracy** — the share of images classified as the class the prompt asked
//!   for (Muse's target: ≥ 85% at the default guidance on Fashion-MNIST);
//! * **Fréchet distance** between the classifier's penultimate features of the generated images
//!   and of the real test images ([`crate::frechet`]) — an FID computed in a small
//!   domain-specific feature space, so its values are comparable only with each other and with
//!   the real-vs-real baseline reported beside them, not with published Inception FIDs.

use std::time::Instant;

use muse_diffusion::pipeline::{GenerateRequest, ImagePipeline};
use muse_diffusion::schedulers::SchedulerKind;

use crate::classifier::{Classifier, FEATURE_DIM};
use crate::data::ImageSet;
use crate::frechet::frechet_distance_of;
use crate::{Result, TrainError};

/// What to generate.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Images per class (spread over the class's prompts).
    pub per_class: usize,
    /// Denoising steps.
    pub steps: usize,
    /// Guidance scales to compare (1.0 = conditional prediction alone, no guidance).
    pub guidances: Vec<f64>,
    /// Guidance only at timesteps ≤ this (`None`: every step).
    pub guidance_max_timestep: Option<f64>,
    /// Sampler (`None`: the model folder's scheduler).
    pub scheduler: Option<SchedulerKind>,
    /// DDIM: re-derive ε from the clipped x̂₀.
    pub use_clipped_model_output: bool,
    pub seed: u64,
}

/// The figures for one guidance scale.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GuidanceResult {
    pub guidance: f64,
    pub images: usize,
    /// Share classified as the class asked for.
    pub accuracy: f64,
    pub per_class_accuracy: Vec<f64>,
    /// `[class][prompt]`: the share for each prompt of the class.
    pub per_prompt_accuracy: Vec<Vec<f64>>,
    /// Fréchet distance to the real test images in classifier-feature space.
    pub frechet: f64,
    pub seconds: f64,
    pub images_per_sec: f64,
}

/// The whole evaluation.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EvalReport {
    pub classes: Vec<String>,
    pub prompts: Vec<Vec<String>>,
    pub steps: usize,
    /// The sampler's CLI name (`None`: the model folder's scheduler).
    pub scheduler: Option<String>,
    pub use_clipped_model_output: bool,
    pub guidance_max_timestep: Option<f64>,
    pub classifier_test_accuracy: f64,
    /// Fréchet distance between two halves of the real test set: the floor of the measure.
    pub frechet_real_halves: f64,
    pub results: Vec<GuidanceResult>,
}

/// Generated images as classifier input, plus the first `keep` of each class as grayscale bytes
/// (for a sample grid).
pub struct Generations {
    pub signed: Vec<f32>,
    pub labels: Vec<usize>,
    /// The index of each image's prompt within its class's list.
    pub prompt_index: Vec<usize>,
    pub samples: Vec<Vec<Vec<u8>>>,
}

/// Generates `per_class` images per class from `prompts[class]` at one guidance scale.
pub fn generate(
    pipe: &ImagePipeline,
    prompts: &[Vec<String>],
    opts: &EvalOptions,
    guidance: f64,
    keep: usize,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Generations> {
    let total = prompts.len() * opts.per_class;
    let mut out = Generations {
        signed: Vec::new(),
        labels: Vec::new(),
        prompt_index: Vec::new(),
        samples: vec![Vec::new(); prompts.len()],
    };
    for (class, list) in prompts.iter().enumerate() {
        if list.is_empty() {
            return Err(TrainError::InvalidParameter {
                name: "prompts",
                reason: format!("class {class} has no evaluation prompt"),
            });
        }
        for (k, prompt) in list.iter().enumerate() {
            // Spread per_class over the prompts: the first ones take the remainder.
            let n = opts.per_class / list.len() + usize::from(k < opts.per_class % list.len());
            if n == 0 {
                continue;
            }
            let req = GenerateRequest {
                prompt: prompt.clone(),
                steps: opts.steps,
                guidance,
                guidance_max_timestep: opts.guidance_max_timestep,
                scheduler: opts.scheduler,
                use_clipped_model_output: opts.use_clipped_model_output,
                seed: opts.seed.wrapping_add((class * 1000 + k) as u64),
                n,
                ..Default::default()
            };
            let generated =
                pipe.generate(&req, &mut |_, _| {})
                    .map_err(|e| TrainError::InvalidParameter {
                        name: "model",
                        reason: e.to_string(),
                    })?;
            for img in generated.images {
                // Grayscale models come back as RGB with equal channels: take one.
                let gray: Vec<u8> = img.pixels.chunks_exact(3).map(|p| p[0]).collect();
                out.signed
                    .extend(gray.iter().map(|&p| p as f32 / 127.5 - 1.0));
                out.labels.push(class);
                out.prompt_index.push(k);
                if out.samples[class].len() < keep {
                    out.samples[class].push(gray);
                }
            }
            progress(out.labels.len(), total);
        }
    }
    Ok(out)
}

/// `right[i] / count[i]` (0 where nothing was counted).
fn shares(right: &[usize], count: &[usize]) -> Vec<f64> {
    right
        .iter()
        .zip(count)
        .map(|(&r, &c)| r as f64 / c.max(1) as f64)
        .collect()
}

/// Runs the evaluation at every guidance scale of `opts`; `progress(guidance, done, total)`.
pub fn evaluate(
    pipe: &ImagePipeline,
    classifier: &Classifier,
    test: &ImageSet,
    prompts: &[Vec<String>],
    opts: &EvalOptions,
    mut on_samples: impl FnMut(f64, &[Vec<Vec<u8>>]) -> Result<()>,
    mut progress: impl FnMut(f64, usize, usize),
) -> Result<EvalReport> {
    if opts.per_class == 0 {
        return Err(TrainError::InvalidParameter {
            name: "--per-class",
            reason: "must be at least 1".into(),
        });
    }
    if prompts.len() != classifier.classes.len() {
        return Err(TrainError::InvalidParameter {
            name: "prompts",
            reason: format!(
                "{} prompt lists for {} classes",
                prompts.len(),
                classifier.classes.len()
            ),
        });
    }
    let (test_accuracy, test_features) = classifier.evaluate(test)?;
    let half = test.len() / 2 * FEATURE_DIM;
    let frechet_real_halves = frechet_distance_of(
        &test_features[..half],
        &test_features[half..2 * half],
        FEATURE_DIM,
    )?;
    let mut results = Vec::new();
    for &guidance in &opts.guidances {
        let started = Instant::now();
        let generated = generate(pipe, prompts, opts, guidance, 10, &mut |d, t| {
            progress(guidance, d, t)
        })?;
        let seconds = started.elapsed().as_secs_f64();
        on_samples(guidance, &generated.samples)?;
        let n = generated.labels.len();
        let (pred, features) = classifier.predict(&generated.signed, n)?;
        let mut right = vec![0usize; prompts.len()];
        let mut count = vec![0usize; prompts.len()];
        let mut prompt_right: Vec<Vec<usize>> = prompts.iter().map(|l| vec![0; l.len()]).collect();
        let mut prompt_count = prompt_right.clone();
        for ((p, &l), &k) in pred
            .iter()
            .zip(&generated.labels)
            .zip(&generated.prompt_index)
        {
            count[l] += 1;
            right[l] += usize::from(*p == l);
            prompt_count[l][k] += 1;
            prompt_right[l][k] += usize::from(*p == l);
        }
        results.push(GuidanceResult {
            guidance,
            images: n,
            accuracy: right.iter().sum::<usize>() as f64 / n.max(1) as f64,
            per_class_accuracy: shares(&right, &count),
            per_prompt_accuracy: prompt_right
                .iter()
                .zip(&prompt_count)
                .map(|(r, c)| shares(r, c))
                .collect(),
            frechet: frechet_distance_of(&features, &test_features, FEATURE_DIM)?,
            seconds,
            images_per_sec: n as f64 / seconds.max(1e-9),
        });
    }
    Ok(EvalReport {
        classes: classifier.classes.clone(),
        prompts: prompts.to_vec(),
        steps: opts.steps,
        scheduler: opts.scheduler.map(|k| k.name().to_string()),
        use_clipped_model_output: opts.use_clipped_model_output,
        guidance_max_timestep: opts.guidance_max_timestep,
        classifier_test_accuracy: test_accuracy,
        frechet_real_halves,
        results,
    })
}

/// A grid PNG of grayscale samples: one row per class, `side`-pixel tiles with a 2-pixel gap.
pub fn sample_grid(rows: &[Vec<Vec<u8>>], side: usize, path: &std::path::Path) -> Result<()> {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0).max(1);
    let gap = 2;
    let (w, h) = (
        cols * (side + gap) + gap,
        rows.len().max(1) * (side + gap) + gap,
    );
    let mut img = image::GrayImage::from_pixel(w as u32, h as u32, image::Luma([128]));
    for (r, row) in rows.iter().enumerate() {
        for (c, tile) in row.iter().enumerate() {
            for (i, &p) in tile.iter().enumerate().take(side * side) {
                let (x, y) = (
                    gap + c * (side + gap) + i % side,
                    gap + r * (side + gap) + i / side,
                );
                img.put_pixel(x as u32, y as u32, image::Luma([p]));
            }
        }
    }
    img.save(path)
        .map_err(|e| TrainError::Image(format!("{}: {e}", path.display())))
}
