//! What `muse serve` plugs into the server beside the text worker: the image model
//! ([`ServedImages`], `/v1/images/generations`) and the knowledge bases ([`ServedKb`],
//! `/v1/kb/...`). Each runs on a thread of its own (a `muse_server::engine::Lane`).

use crate::commands::kb::{ModelEmbedder, kb_dir, kb_root};
use anyhow::Result;
use muse_diffusion::pipeline::{GenerateRequest, ImagePipeline};
use muse_retrieval::kb::{KbOptions, list_knowledge_bases};
use muse_retrieval::{AddOutcome, KnowledgeBase, RetrievalError, SearchMode, SearchOptions};
use muse_safety::{FilterChain, NsfwImageFilter};
use muse_server::backend::{
    BackendError, GeneratedImage, ImageJob, KbAddJob, KbAdded, KbHit, KbInfo, KbMode, KbSearchJob,
};
use muse_server::engine::{ImageService, KbService};
use std::collections::HashMap;
use std::path::Path;

fn invalid(param: &str, message: impl Into<String>) -> BackendError {
    BackendError::Invalid {
        param: param.into(),
        message: message.into(),
    }
}

/// The image model with the input and output safety filters of `[safety]`.
pub struct ServedImages {
    pipe: ImagePipeline,
    steps: usize,
    guidance: f64,
    guidance_max_timestep: Option<f64>,
    use_clipped_model_output: bool,
    filters: FilterChain,
    nsfw: Option<NsfwImageFilter>,
}

impl ServedImages {
    pub fn load(dir: &Path, safety: &muse_safety::SafetyConfig) -> Result<Self> {
        let pipe = crate::commands::image::load_pipeline(dir, &candle_core::Device::Cpu, true)?;
        let defaults = crate::commands::image::model_defaults(dir);
        Ok(Self {
            pipe,
            steps: defaults.steps,
            guidance: defaults.guidance,
            guidance_max_timestep: defaults.guidance_max_timestep,
            use_clipped_model_output: defaults.use_clipped_model_output,
            filters: FilterChain::from_config(safety)?,
            nsfw: NsfwImageFilter::from_config(&safety.image)?,
        })
    }

    /// One image as the output filter lets it through, resampled to `size`, as PNG.
    fn finish(
        &self,
        img: &muse_diffusion::pipeline::RgbImage,
        size: Option<(u32, u32)>,
    ) -> Result<Vec<u8>, BackendError> {
        let internal = |e: String| BackendError::Internal(e);
        let rgb = crate::commands::image::to_rgb(img).map_err(|e| internal(format!("{e:#}")))?;
        let rgb = match &self.nsfw {
            // Fail closed: a screening error withholds the image.
            Some(filter) => muse_safety::screen_image(filter, rgb)
                .map_err(|e| internal(format!("the image safety filter failed: {e}")))?
                .image
                .ok_or_else(|| {
                    invalid("prompt", "an image was withheld by the image safety filter")
                })?,
            None => rgb,
        };
        let rgb = match size {
            Some((w, h)) if (w, h) != rgb.dimensions() => {
                image::imageops::resize(&rgb, w, h, image::imageops::FilterType::Lanczos3)
            }
            _ => rgb,
        };
        let mut png = Vec::new();
        rgb.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .map_err(|e| internal(format!("encoding the PNG: {e}")))?;
        Ok(png)
    }
}

impl ImageService for ServedImages {
    fn generate(&mut self, job: &ImageJob) -> Result<Vec<GeneratedImage>, BackendError> {
        match crate::commands::image::prompt_refusal(&self.filters, &job.prompt) {
            Ok(None) => {}
            Ok(Some(why)) => return Err(invalid("prompt", why)),
            Err(e) => return Err(invalid("prompt", format!("{e:#}"))),
        }
        let req = GenerateRequest {
            prompt: job.prompt.clone(),
            negative_prompt: job.negative_prompt.clone(),
            steps: job.steps.unwrap_or(self.steps),
            guidance: job.guidance.unwrap_or(self.guidance),
            guidance_max_timestep: self.guidance_max_timestep,
            use_clipped_model_output: self.use_clipped_model_output,
            seed: job.seed,
            n: job.n,
            ..Default::default()
        };
        let out = self
            .pipe
            .generate(&req, &mut |_, _| {})
            .map_err(|e| match e {
                muse_diffusion::DiffusionError::Input(m) => invalid("steps", m),
                other => BackendError::Internal(other.to_string()),
            })?;
        out.images
            .iter()
            .map(|img| {
                Ok(GeneratedImage {
                    png: self.finish(img, job.size)?,
                })
            })
            .collect()
    }
}

/// The knowledge bases of the Muse home (`muse kb`'s), with the sentence-embedding model.
pub struct ServedKb {
    embedder: ModelEmbedder,
    open: HashMap<String, KnowledgeBase>,
}

fn kb_error(e: RetrievalError) -> BackendError {
    match e {
        RetrievalError::MissingKnowledgeBase { .. } => BackendError::NotFound {
            param: "kb".into(),
            message: e.to_string(),
        },
        RetrievalError::ModelMismatch { .. } => invalid("kb", e.to_string()),
        other => BackendError::Internal(other.to_string()),
    }
}

impl ServedKb {
    pub fn load(embedding_model: Option<&str>) -> Result<Self> {
        Ok(Self {
            embedder: ModelEmbedder::load(embedding_model)?,
            open: HashMap::new(),
        })
    }
}

/// The open knowledge base `name` (kept open between requests: the vector graph loads once);
/// `create` makes it when absent.
fn open_kb<'a>(
    open: &'a mut HashMap<String, KnowledgeBase>,
    name: &str,
    create: bool,
) -> Result<&'a mut KnowledgeBase, BackendError> {
    if !open.contains_key(name) {
        let dir = kb_dir(name);
        let kb = if create {
            KnowledgeBase::create_or_open(&dir, KbOptions::default())
        } else {
            KnowledgeBase::open(&dir, name, &kb_root(), KbOptions::default())
        }
        .map_err(kb_error)?;
        open.insert(name.to_string(), kb);
    }
    open.get_mut(name)
        .ok_or_else(|| BackendError::Internal("knowledge base cache".into()))
}

impl KbService for ServedKb {
    fn list(&mut self) -> Result<Vec<KbInfo>, BackendError> {
        let mut out = Vec::new();
        for name in list_knowledge_bases(&kb_root()) {
            let stats = open_kb(&mut self.open, &name, false)?
                .stats()
                .map_err(kb_error)?;
            out.push(KbInfo {
                id: name,
                documents: stats.documents,
                chunks: stats.chunks,
            });
        }
        Ok(out)
    }

    fn search(&mut self, job: &KbSearchJob) -> Result<Vec<KbHit>, BackendError> {
        let opts = SearchOptions {
            k: job.k,
            mode: match job.mode {
                KbMode::Vector => SearchMode::Vector,
                KbMode::Keyword => SearchMode::Keyword,
                KbMode::Hybrid => SearchMode::Hybrid,
            },
            ..SearchOptions::default()
        };
        let kb = open_kb(&mut self.open, &job.kb, false)?;
        let hits = kb
            .search(&job.query, &self.embedder, &opts)
            .map_err(kb_error)?;
        Ok(hits
            .into_iter()
            .map(|h| KbHit {
                source: h.source,
                chunk_id: h.chunk_id,
                start: h.start,
                end: h.end,
                title: h.title,
                text: h.text,
                score: h.score,
            })
            .collect())
    }

    fn add(&mut self, job: &KbAddJob) -> Result<Vec<KbAdded>, BackendError> {
        let embedder = &self.embedder;
        let kb = open_kb(&mut self.open, &job.kb, true)?;
        let mut out = Vec::with_capacity(job.documents.len());
        for d in &job.documents {
            // A name without an extension is plain text.
            let name = if Path::new(&d.name).extension().is_some() {
                d.name.clone()
            } else {
                format!("{}.txt", d.name)
            };
            let outcome = kb
                .add_bytes(
                    &format!("upload:{name}"),
                    Path::new(&name),
                    d.text.as_bytes(),
                    embedder,
                )
                .map_err(kb_error)?;
            let (status, chunks, reason) = match outcome {
                AddOutcome::Added { chunks } => ("added", chunks, None),
                AddOutcome::Replaced { chunks } => ("replaced", chunks, None),
                AddOutcome::Unchanged => ("unchanged", 0, None),
                AddOutcome::Skipped { reason } => ("skipped", 0, Some(reason)),
            };
            out.push(KbAdded {
                name,
                status: status.into(),
                chunks,
                reason,
            });
        }
        kb.store().checkpoint().map_err(kb_error)?;
        Ok(out)
    }
}
